//! Emulation of Prometheus' `HistogramStatsIterator`.
//!
//! Under `histogram_count`, `histogram_sum` and `histogram_avg` Prometheus reads native
//! histograms through an iterator that skips the buckets and, while reading a series in
//! order, replaces each `Unknown` counter reset hint with the outcome of an explicit reset
//! detection against the histogram read before it. Those synthesized hints are visible
//! downstream, e.g. as a "conflicting counter resets" warning of `sum` under
//! `histogram_count`. Selectors below a subquery, a bucket-needing function or a trim
//! operator are read normally (Prometheus `detectHistogramStatsDecoding`).
//!
//! Only the hints are emulated (buckets are kept; the functions involved ignore them), and the
//! read order is the selection window, so the first histogram of a window keeps its hint.

use promql_parser::parser::{Expr, VectorSelector};

use super::histogram::{CounterResetHint, FloatHistogram};
use super::trim::Trim;

/// Functions whose argument's selectors are read through the stats iterator.
const STATS_FUNCS: &[&str] = &["histogram_count", "histogram_sum", "histogram_avg"];
/// Functions that need the buckets, so their argument's selectors are read normally.
const BUCKET_FUNCS: &[&str] = &[
    "histogram_quantile",
    "histogram_quantiles",
    "histogram_fraction",
];

/// The vector selectors of `e` (including those of range selectors) that Prometheus reads
/// through the stats iterator. `trim_of` tells which binary nodes are trim operators.
pub(super) fn stats_selectors<'e>(
    e: &'e Expr,
    trim_of: &dyn Fn(&promql_parser::parser::BinaryExpr) -> Option<Trim>,
) -> Vec<&'e VectorSelector> {
    let mut out = Vec::new();
    walk(e, false, trim_of, &mut out);
    out
}

/// `under_stats`: a stats function is above with no blocker in between or above it. A
/// blocker anywhere on the path wins, so blocked subtrees are simply not descended into.
fn walk<'e>(
    e: &'e Expr,
    under_stats: bool,
    trim_of: &dyn Fn(&promql_parser::parser::BinaryExpr) -> Option<Trim>,
    out: &mut Vec<&'e VectorSelector>,
) {
    match e {
        Expr::VectorSelector(vs) if under_stats => out.push(vs),
        Expr::MatrixSelector(ms) if under_stats => out.push(&ms.vs),
        Expr::Paren(p) => walk(&p.expr, under_stats, trim_of, out),
        Expr::Unary(u) => walk(&u.expr, under_stats, trim_of, out),
        Expr::Binary(b) if trim_of(b).is_none() => {
            walk(&b.lhs, under_stats, trim_of, out);
            walk(&b.rhs, under_stats, trim_of, out);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, under_stats, trim_of, out);
            }
            walk(&a.expr, under_stats, trim_of, out);
        }
        Expr::Call(c) => {
            let name = c.func.name;
            if BUCKET_FUNCS.contains(&name) {
                return;
            }
            let under = under_stats || STATS_FUNCS.contains(&name);
            c.args
                .args
                .iter()
                .for_each(|a| walk(a, under, trim_of, out));
        }
        // Subqueries, trims, literals and selectors outside stats functions.
        _ => {}
    }
}

/// Replaces `Unknown` hints of histograms after the first (read in this order) with the
/// result of reset detection against their predecessor, as the stats iterator does.
pub(super) fn synthesize_hints(hs: &mut [(i64, FloatHistogram)]) {
    for i in 1..hs.len() {
        if hs[i].1.hint != CounterResetHint::Unknown {
            continue;
        }
        let reset = hs[i].1.detect_reset(&hs[i - 1].1);
        hs[i].1.hint = if reset {
            CounterResetHint::CounterReset
        } else {
            CounterResetHint::NotCounterReset
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(c: f64, hint: CounterResetHint) -> FloatHistogram {
        FloatHistogram {
            count: c,
            hint,
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn unknown_hints_become_detected_resets() {
        use CounterResetHint::*;
        let mut hs = vec![
            (0, count(5.0, Unknown)),
            (1, count(7.0, Unknown)),
            (2, count(3.0, Unknown)),
            (3, count(1.0, Gauge)),
        ];
        synthesize_hints(&mut hs);
        let hints: Vec<_> = hs.iter().map(|h| h.1.hint).collect();
        assert_eq!(hints, vec![Unknown, NotCounterReset, CounterReset, Gauge]);
    }

    #[test]
    fn selectors_below_blockers_are_not_marked() {
        let q = crate::promql::parse_query(
            "histogram_count(a + rate(b[1m])) + histogram_count(histogram_quantile(0.5, c)) + histogram_sum(sum_over_time(d[5m:1m]))",
            0,
            0,
        )
        .unwrap();
        let names: Vec<_> = stats_selectors(&q.expr, &|_| None)
            .into_iter()
            .filter_map(|vs| vs.name.clone())
            .collect();
        assert_eq!(names, vec!["a", "b"]);
    }
}
