//! The PromQL evaluation engine (float samples and native histograms).
//!
//! # Using it
//!
//! ```text
//! let q = parse_query(text, step_ms, end_ms - start_ms)?;   // 0, 0 for instant queries
//! let mut ev = Evaluator::new(&storage);                     // any `Queryable`
//! ev.prepare(&q)?;                                           // registers range modifiers
//! let v = ev.instant(&q.expr, t_ms)?;                        // or ev.range(&q.expr, s, e, step)
//! // ev.warnings / ev.infos hold Prometheus-worded annotations.
//! ```
//!
//! # Where storage plugs in
//!
//! [`Queryable::select`] is the only read path: label matchers (regexes are already anchored
//! by `promql-parser`; `or_matchers` groups are alternatives) and an inclusive millisecond
//! range; it returns each matching series' samples ascending, staleness markers included as
//! NaN with bits [`STALE_NAN_BITS`] (the engine ends series on them). The engine asks for
//! exactly the window it needs (`(t - lookback, t]` for instant selectors, `(t - range, t]`
//! for range selectors, wider for `anchored`/`smoothed`), so a head/block store should prune
//! chunks by time and postings by matchers. [`MemStorage`] is the test implementation.
//!
//! # Design
//!
//! * A range query is evaluated as one instant evaluation per step (steps are independent
//!   in PromQL), then merged into series by label set (`eval.rs`). Subqueries evaluate their
//!   inner expression at their own aligned steps. This is simple and exact but re-selects
//!   data per step; a later optimisation can select once per query and slide windows.
//! * Delayed `__name__` removal (Prometheus 3, as promqltest enables): samples carry a
//!   `drop_name` flag; the name is removed when the result is returned (`finish_vector`),
//!   and duplicate label sets are rejected then.
//! * `promql-parser` 0.11 lacks Prometheus 3's duration expressions and the `anchored` /
//!   `smoothed` modifiers; [`durexpr`] rewrites the query text before parsing (evaluating
//!   duration arithmetic, lifting range modifiers out into [`Query::range_mods`], marking
//!   smoothed instant selectors with a no-op matcher).
//! * The trim operators `</` and `>/` are rewritten into `<`/`>` (same precedence) and told
//!   apart again by source order ([`trim`]); [`Evaluator::prepare`] maps them to their nodes.
//! * Native histograms ([`histogram::FloatHistogram`]) travel beside floats: a sample carries
//!   `h: Some(..)`, a range series has separate float and histogram point lists (Prometheus'
//!   `Floats`/`Histograms`), so float-only paths stay as they were. Histogram semantics of
//!   functions live in `native.rs`, of operators in `binary.rs`/`aggregate.rs`.
//! * Errors and annotations use Prometheus' wording where the conformance corpus checks them.
//!
//! [`testing::TestEngine`] adapts the engine to the `promqltest` conformance runner.

mod aggregate;
mod binary;
pub mod durexpr;
mod eval;
mod extended;
mod functions;
pub mod histogram;
mod info;
mod native;
mod stats;
pub mod testing;
pub mod trim;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use promql_parser::label::Matchers;
use weft_core::labels::Labels;

pub use eval::{parse_selector, selectors_of, EvSample, EvSeries, Evaluator, Value};
pub use histogram::FloatHistogram;

/// The staleness marker's bit pattern (Prometheus `value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// True if `v` is a staleness marker.
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Default lookback delta (5 minutes).
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Default subquery step when none is given (promqltest uses 1 minute).
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60 * 1000;

/// One selected series: labels, float samples and native histogram samples, each ascending
/// by time (a timestamp appears in at most one of the two lists).
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesData {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
    pub histograms: Vec<(i64, FloatHistogram)>,
}

/// Storage as the engine reads it.
pub trait Queryable {
    /// Series matching all `matchers` (and any of `or_matchers` groups when present), with
    /// their samples in `[start_ms, end_ms]` (inclusive), ascending. Series without samples
    /// in the range may be omitted.
    fn select(&self, matchers: &Matchers, start_ms: i64, end_ms: i64) -> Vec<SeriesData>;
}

/// A parsed query: the AST plus the `anchored`/`smoothed` modifiers of its range selectors
/// (in source order), which `promql-parser` cannot represent.
#[derive(Clone, Debug)]
pub struct Query {
    pub expr: promql_parser::parser::Expr,
    pub range_mods: Vec<Option<durexpr::RangeMod>>,
    /// For each `<`/`>` operator in source order, whether it was written as a trim operator
    /// (`</`, `>/`), which `promql-parser` cannot parse (see [`trim`]).
    pub trims: Vec<Option<trim::Trim>>,
}

/// Parses a query, first rewriting duration expressions ([`durexpr`]) with the query's step
/// and range (`end - start`; both 0 for instant queries) and lifting out range modifiers.
/// Pass the result to [`Evaluator::prepare`] before evaluating its `expr`.
pub fn parse_query(q: &str, step_ms: i64, range_ms: i64) -> Result<Query, String> {
    let q = durexpr::rewrite(q, step_ms, range_ms)?;
    let q = durexpr::mark_smoothed_selectors(&q);
    let q = durexpr::mark_info_selectors(&q);
    let (q, range_mods) = durexpr::strip_range_modifiers(&q);
    let (q, trims) = trim::rewrite(&q);
    let expr = promql_parser::parser::parse(&q)?;
    Ok(Query {
        expr,
        range_mods,
        trims,
    })
}

/// True if `labels` satisfy `matchers` (a missing label matches as the empty string).
pub fn matches(matchers: &Matchers, labels: &Labels) -> bool {
    let one = |ms: &[promql_parser::label::Matcher]| {
        ms.iter()
            .all(|m| m.is_match(labels.get(&m.name).unwrap_or("")))
    };
    if matchers.or_matchers.is_empty() {
        one(&matchers.matchers)
    } else {
        matchers.or_matchers.iter().any(|g| one(g)) && one(&matchers.matchers)
    }
}

/// The samples of one [`MemStorage`] series.
#[derive(Clone, Debug, Default)]
struct MemSeries {
    floats: Vec<(i64, f64)>,
    histograms: Vec<(i64, FloatHistogram)>,
}

/// Inserts or replaces the point at `t` in a time-ordered list.
fn upsert<T>(list: &mut Vec<(i64, T)>, t: i64, v: T) {
    match list.binary_search_by_key(&t, |p| p.0) {
        Ok(i) => list[i].1 = v,
        Err(i) => list.insert(i, (t, v)),
    }
}

/// Removes the point at `t`, if any.
fn remove_at<T>(list: &mut Vec<(i64, T)>, t: i64) {
    if let Ok(i) = list.binary_search_by_key(&t, |p| p.0) {
        list.remove(i);
    }
}

/// The part of a time-ordered list within `[start, end]`.
fn window<T: Clone>(list: &[(i64, T)], start: i64, end: i64) -> Vec<(i64, T)> {
    let lo = list.partition_point(|p| p.0 < start);
    let hi = list.partition_point(|p| p.0 <= end);
    list[lo..hi.max(lo)].to_vec()
}

/// In-memory storage: series by label set, float and histogram samples ascending.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    series: BTreeMap<Labels, MemSeries>,
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a float sample; samples may arrive out of order (a later duplicate timestamp
    /// wins, replacing a histogram sample too).
    pub fn append(&mut self, labels: Labels, t: i64, v: f64) {
        let s = self.series.entry(labels).or_default();
        remove_at(&mut s.histograms, t);
        upsert(&mut s.floats, t, v);
    }

    /// Adds a native histogram sample (a later duplicate timestamp wins).
    pub fn append_histogram(&mut self, labels: Labels, t: i64, h: FloatHistogram) {
        let s = self.series.entry(labels).or_default();
        remove_at(&mut s.floats, t);
        upsert(&mut s.histograms, t, h);
    }

    /// The histogram sample directly preceding `t` in series `labels`, if the preceding
    /// sample is a histogram (for emulating TSDB chunk counter-reset hints in tests).
    pub fn histogram_before(&self, labels: &Labels, t: i64) -> Option<&FloatHistogram> {
        let s = self.series.get(labels)?;
        let h = s.histograms[..s.histograms.partition_point(|p| p.0 < t)].last()?;
        let f = s.floats[..s.floats.partition_point(|p| p.0 < t)].last();
        match f {
            Some(f) if f.0 > h.0 => None,
            _ => Some(&h.1),
        }
    }

    pub fn clear(&mut self) {
        self.series.clear();
    }
}

impl Queryable for MemStorage {
    fn select(&self, matchers: &Matchers, start_ms: i64, end_ms: i64) -> Vec<SeriesData> {
        self.series
            .iter()
            .filter(|(l, _)| matches(matchers, l))
            .filter_map(|(l, s)| {
                let samples = window(&s.floats, start_ms, end_ms);
                let histograms = window(&s.histograms, start_ms, end_ms);
                (!samples.is_empty() || !histograms.is_empty()).then(|| SeriesData {
                    labels: l.clone(),
                    samples,
                    histograms,
                })
            })
            .collect()
    }
}
