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
    /// Where the previous window began and ended in each series (float and histogram
    /// samples), so that the next step, whose window has moved by a step, finds its bounds
    /// by walking a few samples instead of binary-searching every series again — the
    /// searches' cache misses were most of a range query's time.
    cursors: Vec<Cursor>,
}

#[derive(Clone, Copy, Default)]
struct Cursor {
    samples: (usize, usize),
    histograms: (usize, usize),
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
            let cursors = vec![Cursor::default(); series.len()];
            cache.insert(
                key.clone(),
                Entry {
                    start: start_ms,
                    end,
                    series,
                    cursors,
                },
            );
        }
        let entry = cache.get_mut(&key).expect("inserted above");
        entry.slice(start_ms, end_ms)
    }
}

impl Entry {
    /// The samples within `[start, end]`; series left empty are omitted.
    fn slice(&mut self, start: i64, end: i64) -> Vec<SeriesData> {
        let mut out = Vec::new();
        for (s, c) in self.series.iter().zip(self.cursors.iter_mut()) {
            c.samples = bounds(&s.samples, c.samples, start, end);
            c.histograms = bounds(&s.histograms, c.histograms, start, end);
            let (samples, histograms) = (c.samples, c.histograms);
            if samples.0 == samples.1 && histograms.0 == histograms.1 {
                continue;
            }
            out.push(SeriesData {
                labels: s.labels.clone(),
                samples: s.samples[samples.0..samples.1].to_vec(),
                histograms: s.histograms[histograms.0..histograms.1].to_vec(),
            });
        }
        out
    }
}

/// The index range of `points` within `[start, end]`, searched from the previous range
/// `from` as a hint.
fn bounds<T>(points: &[(i64, T)], from: (usize, usize), start: i64, end: i64) -> (usize, usize) {
    let lo = seek(points, from.0, |t| t < start);
    let hi = lo + seek(&points[lo..], from.1.saturating_sub(lo), |t| t <= end);
    debug_assert!(points[lo..hi].iter().all(|p| p.0 >= start && p.0 <= end));
    (lo, hi)
}

/// The first index whose timestamp fails `before` (true on a prefix of `points`), looked for
/// near `hint`: consecutive steps of a range query move a window by a sample or two, so a
/// short walk from the previous answer touches memory that is already cached; anything
/// farther falls back to a binary search.
fn seek<T>(points: &[(i64, T)], hint: usize, before: impl Fn(i64) -> bool) -> usize {
    const WALK: usize = 8;
    let hint = hint.min(points.len());
    if hint > 0 && !before(points[hint - 1].0) {
        return points[..hint].partition_point(|p| before(p.0));
    }
    let mut i = hint;
    while i < points.len() && i - hint < WALK {
        if !before(points[i].0) {
            return i;
        }
        i += 1;
    }
    i + points[i..].partition_point(|p| before(p.0))
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

    /// The hinted search answers exactly what a fresh binary search does, whatever the hint
    /// and however the window moves (forward by a step, backward, shrinking, far away).
    #[test]
    fn bounds_from_any_hint_equal_a_fresh_search() {
        let points: Vec<(i64, ())> = (0..300).map(|i| (i * 15 + (i % 7), ())).collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: i64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as i64
        };
        let mut hint = (0, 0);
        for _ in 0..5000 {
            let start = next(5000) - 200;
            let end = start + next(600) - 20;
            let want = (
                points.partition_point(|p| p.0 < start),
                points
                    .partition_point(|p| p.0 <= end)
                    .max(points.partition_point(|p| p.0 < start)),
            );
            let got = bounds(&points, hint, start, end);
            assert_eq!(got, want, "window [{start}, {end}] from hint {hint:?}");
            hint = if next(4) == 0 {
                (next(400) as usize, next(400) as usize)
            } else {
                got
            };
        }
    }
}
