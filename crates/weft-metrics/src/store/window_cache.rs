//! A per-query cache in front of a [`Queryable`] for range queries.
//!
//! The engine evaluates a range query one step at a time and selects `[t - window, t]` at
//! every step, so without a cache every step repeats the postings lookup, the block reads and
//! the chunk decoding for the same series. The cache selects each distinct matcher set once,
//! over the first window stretched by the query's span (which covers every later step's
//! window, since steps only shift it), and answers each step by slicing that data in memory.
//! A window outside what is cached (subqueries, `@`) is selected again and cached the same way.

use std::cell::RefCell;
use std::collections::HashMap;

use promql_parser::label::Matchers;

use crate::promql::{Queryable, SeriesData};

/// What is cached for one matcher set.
struct Entry {
    start: i64,
    end: i64,
    series: Vec<SeriesData>,
}

/// Caches selections of one range query (not shared between queries or threads).
pub struct WindowCache<'a> {
    inner: &'a dyn Queryable,
    span_ms: i64,
    cache: RefCell<HashMap<String, Entry>>,
}

impl<'a> WindowCache<'a> {
    /// A cache for a query spanning `span_ms` (`end - start`) over `inner`.
    pub fn new(inner: &'a dyn Queryable, span_ms: i64) -> Self {
        Self {
            inner,
            span_ms: span_ms.max(0),
            cache: RefCell::new(HashMap::new()),
        }
    }
}

impl Queryable for WindowCache<'_> {
    fn select(&self, matchers: &Matchers, start_ms: i64, end_ms: i64) -> Vec<SeriesData> {
        let key = format!("{matchers:?}");
        let mut cache = self.cache.borrow_mut();
        let covered = cache
            .get(&key)
            .is_some_and(|e| e.start <= start_ms && end_ms <= e.end);
        if !covered {
            let end = end_ms.saturating_add(self.span_ms);
            let series = self.inner.select(matchers, start_ms, end);
            cache.insert(
                key.clone(),
                Entry {
                    start: start_ms,
                    end,
                    series,
                },
            );
        }
        let entry = &cache[&key];
        slice(&entry.series, start_ms, end_ms)
    }
}

/// The samples of `series` within `[start, end]`; series left empty are omitted.
fn slice(series: &[SeriesData], start: i64, end: i64) -> Vec<SeriesData> {
    series
        .iter()
        .filter_map(|s| {
            let samples = window(&s.samples, start, end);
            let histograms = window(&s.histograms, start, end);
            (!samples.is_empty() || !histograms.is_empty()).then(|| SeriesData {
                labels: s.labels.clone(),
                samples,
                histograms,
            })
        })
        .collect()
}

fn window<T: Clone>(points: &[(i64, T)], start: i64, end: i64) -> Vec<(i64, T)> {
    let lo = points.partition_point(|p| p.0 < start);
    let hi = points.partition_point(|p| p.0 <= end);
    points[lo..hi.max(lo)].to_vec()
}

#[cfg(test)]
mod tests {
    use weft_core::labels::Labels;

    use super::*;
    use crate::promql::{parse_query, Evaluator, MemStorage};

    fn storage() -> MemStorage {
        let mut s = MemStorage::new();
        for i in 0..400i64 {
            for (job, k) in [("a", 1.0), ("b", 3.5)] {
                let l = Labels::from_pairs([("__name__", "req_total"), ("job", job)]).unwrap();
                s.append(l, i * 15_000 + 7, (i as f64) * k);
                let g = Labels::from_pairs([("__name__", "temp"), ("job", job)]).unwrap();
                if i % 50 < 40 {
                    s.append(g, i * 15_000 + 3, ((i * 7) % 23) as f64 - 11.0 * k);
                }
            }
        }
        s
    }

    #[test]
    fn range_queries_answer_the_same_through_the_cache() {
        let s = storage();
        let (start, end, step) = (600_000, 5_400_000, 60_000);
        for q in [
            "sum by (job) (rate(req_total[5m]))",
            "temp",
            "max_over_time(temp[10m:1m])",
            "rate(req_total[2m] offset 5m) / on(job) group_left temp",
            "temp @ 3000",
            "increase(req_total[1h]) - ignoring(job) group_right sum(temp)",
            "absent_over_time(temp[3m])",
        ] {
            let query = parse_query(q, step, end - start).unwrap();
            let mut plain = Evaluator::new(&s);
            plain.prepare(&query).unwrap();
            let want = plain.range(&query.expr, start, end, step);
            let cache = WindowCache::new(&s, end - start);
            let mut cached = Evaluator::new(&cache);
            cached.prepare(&query).unwrap();
            let got = cached.range(&query.expr, start, end, step);
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{q}");
        }
    }
}
