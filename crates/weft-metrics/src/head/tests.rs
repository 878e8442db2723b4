use std::sync::Arc;

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::Expr;
use regex::Regex;
use weft_core::labels::Labels;

use super::*;
use crate::promql::{parse_query, Evaluator, Value};
use weft_core::labels::{names_of, values_of};

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

/// Matchers of a vector selector in PromQL syntax.
fn sel(q: &str) -> Matchers {
    match promql_parser::parser::parse(q).unwrap() {
        Expr::VectorSelector(vs) => {
            let mut m = vs.matchers;
            if let Some(name) = vs.name {
                let has_name = m
                    .matchers
                    .iter()
                    .chain(m.or_matchers.iter().flatten())
                    .any(|x| x.name == "__name__");
                if !has_name {
                    m.matchers
                        .push(Matcher::new(MatchOp::Equal, "__name__", &name));
                }
            }
            m
        }
        e => panic!("not a selector: {e:?}"),
    }
}

#[test]
fn append_select_round_trip() {
    let h = Head::new();
    let a = l(&[("__name__", "up"), ("job", "a")]);
    let b = l(&[("__name__", "up"), ("job", "b")]);
    let ra = h.append(&a, 1000, 1.0).unwrap();
    let rb = h.append(&b, 1000, 0.0).unwrap();
    assert_ne!(ra, rb);
    assert_eq!(h.append(&a, 2000, 2.5).unwrap(), ra);
    h.append(&a, 3000, f64::from_bits(crate::promql::STALE_NAN_BITS))
        .unwrap();
    let got = h.select(&sel(r#"up{job="a"}"#), 0, 10_000);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, a);
    let s = &got[0].samples;
    assert_eq!(&s[..2], &[(1000, 1.0), (2000, 2.5)]);
    assert!(crate::promql::is_stale_nan(s[2].1));
    // Range is inclusive at both ends.
    let got = h.select(&sel(r#"up{job="a"}"#), 2000, 2000);
    assert_eq!(got[0].samples, vec![(2000, 2.5)]);
    // Series without samples in range are omitted.
    assert!(h.select(&sel("up"), 5000, 6000).is_empty());
    assert_eq!(h.select(&sel("up"), 0, 1000).len(), 2);
    let st = h.stats();
    assert_eq!((st.series, st.samples, st.chunks), (2, 4, 2));
    assert!(st.chunk_bytes > 0);
}

const MATCHER_SERIES: [&[(&str, &str)]; 5] = [
    &[("__name__", "m"), ("a", "1"), ("b", "x")],
    &[("__name__", "m"), ("a", "2"), ("b", "y")],
    &[("__name__", "m"), ("a", "10")],
    &[("__name__", "m"), ("b", "x")],
    &[("__name__", "n"), ("a", "1")],
];

fn matcher_head() -> Head {
    let h = Head::new();
    for (i, ls) in MATCHER_SERIES.iter().enumerate() {
        h.append(&l(ls), 0, i as f64).unwrap();
    }
    h
}

#[test]
fn matcher_semantics() {
    let h = matcher_head();
    // Indexes into MATCHER_SERIES.
    let table: &[(&str, &[usize])] = &[
        (r#"m"#, &[0, 1, 2, 3]),
        (r#"{a="1"}"#, &[0, 4]),
        (r#"m{a="1"}"#, &[0]),
        (r#"m{a="3"}"#, &[]),
        (r#"{zzz="q"}"#, &[]),
        // != keeps series lacking the label.
        (r#"m{a!="1"}"#, &[1, 2, 3]),
        (r#"m{zzz!="q"}"#, &[0, 1, 2, 3]),
        // Anchored: "1" does not match "10".
        (r#"m{a=~"1"}"#, &[0]),
        (r#"m{a=~"1.*"}"#, &[0, 2]),
        (r#"m{a=~"1|2"}"#, &[0, 1]),
        (r#"m{a!~"1.*"}"#, &[1, 3]),
        // Empty-value semantics: an absent label is "".
        (r#"m{a=""}"#, &[3]),
        (r#"m{a!=""}"#, &[0, 1, 2]),
        (r#"m{a=~"1|"}"#, &[0, 3]),
        (r#"m{a=~".*"}"#, &[0, 1, 2, 3]),
        (r#"m{a=~".+"}"#, &[0, 1, 2]),
        (r#"m{a!~".+"}"#, &[3]),
        (r#"m{zzz=""}"#, &[0, 1, 2, 3]),
        (r#"{__name__=~"m|n", b=""}"#, &[2, 4]),
        // Several matchers intersect.
        (r#"m{a=~"1|2|10", b=~"x|y"}"#, &[0, 1]),
        (r#"{a!="1", b!="y", __name__!=""}"#, &[2, 3]),
        // or groups are alternatives.
        (r#"{a="2" or b="x"}"#, &[0, 1, 3]),
        (r#"{__name__="n" or a="10"}"#, &[2, 4]),
        (r#"{a="nope" or b="nope"}"#, &[]),
    ];
    for (q, want) in table {
        let ms = sel(q);
        let mut got: Vec<Labels> = h
            .select(&ms, i64::MIN, i64::MAX)
            .into_iter()
            .map(|s| s.labels)
            .collect();
        got.sort();
        let mut want: Vec<Labels> = want.iter().map(|&i| l(MATCHER_SERIES[i])).collect();
        want.sort();
        assert_eq!(got, want, "query {q}");
        // Cross-check with the engine's reference matcher.
        let mut reference: Vec<Labels> = MATCHER_SERIES
            .iter()
            .map(|ls| l(ls))
            .filter(|ls| crate::promql::matches(&ms, ls))
            .collect();
        reference.sort();
        assert_eq!(got, reference, "query {q} vs promql::matches");
    }
}

#[test]
fn unanchored_regex_matcher_is_anchored() {
    let h = matcher_head();
    let ms = Matchers::new(vec![
        Matcher::new(MatchOp::Equal, "__name__", "m"),
        Matcher::new(MatchOp::Re(Regex::new("1").unwrap()), "a", "1"),
    ]);
    let got = h.select(&ms, i64::MIN, i64::MAX);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels.get("a"), Some("1"));
    let ms = Matchers::new(vec![
        Matcher::new(MatchOp::Equal, "__name__", "m"),
        Matcher::new(MatchOp::NotRe(Regex::new("0").unwrap()), "a", "0"),
    ]);
    assert_eq!(h.select(&ms, i64::MIN, i64::MAX).len(), 4);
}

#[test]
fn chunk_cutting_keeps_all_samples() {
    let h = Head::new();
    let s = l(&[("__name__", "c")]);
    let n = 3 * MAX_SAMPLES as i64 + 7;
    for i in 0..n {
        h.append(&s, i * 15_000, i as f64 * 0.5).unwrap();
    }
    let st = h.stats();
    assert_eq!(st.chunks, 4);
    assert_eq!(st.samples, n as u64);
    let got = h.select(&sel("c"), i64::MIN, i64::MAX);
    let want: Vec<(i64, f64)> = (0..n).map(|i| (i * 15_000, i as f64 * 0.5)).collect();
    assert_eq!(got[0].samples, want);
    // A window spanning a chunk boundary.
    let lo = (MAX_SAMPLES as i64 - 2) * 15_000;
    let hi = (MAX_SAMPLES as i64 + 2) * 15_000;
    let got = h.select(&sel("c"), lo, hi);
    assert_eq!(got[0].samples, want[MAX_SAMPLES - 2..=MAX_SAMPLES + 2]);
}

#[test]
fn out_of_order_and_duplicates() {
    let h = Head::new();
    let s = l(&[("__name__", "x"), ("i", "1")]);
    h.append(&s, 1000, 1.0).unwrap();
    h.append(&s, 2000, 2.0).unwrap();
    let e = h.append(&s, 1500, 3.0).unwrap_err();
    assert!(matches!(
        e,
        HeadError::OutOfOrder {
            t: 1500,
            last: 2000,
            ..
        }
    ));
    let msg = e.to_string();
    assert!(
        msg.contains(r#"{__name__="x", i="1"}"#) && msg.contains("1500") && msg.contains("2000")
    );
    // Same timestamp, same value: ignored.
    h.append(&s, 2000, 2.0).unwrap();
    let e = h.append(&s, 2000, 2.1).unwrap_err();
    assert!(matches!(e, HeadError::DuplicateSample { t: 2000, .. }));
    assert!(e.to_string().contains(r#"{__name__="x", i="1"}"#));
    let got = h.select(&sel("x"), i64::MIN, i64::MAX);
    assert_eq!(got[0].samples, vec![(1000, 1.0), (2000, 2.0)]);
    assert_eq!(h.stats().samples, 2);
    // Other series are independent.
    h.append(&l(&[("__name__", "x"), ("i", "2")]), 0, 0.0)
        .unwrap();
}

#[test]
fn limits() {
    let h = Head::with_limits(HeadLimits {
        max_series: 2,
        max_labels_per_series: 3,
        max_label_value_len: 5,
        ..HeadLimits::default()
    });
    h.append(&l(&[("__name__", "a")]), 0, 0.0).unwrap();
    h.append(&l(&[("__name__", "b")]), 0, 0.0).unwrap();
    let e = h.append(&l(&[("__name__", "c")]), 0, 0.0).unwrap_err();
    assert_eq!(e, HeadError::TooManySeries { limit: 2 });
    assert_eq!(e.to_string(), "too many series: the limit is 2");
    // Existing series still accept samples.
    h.append(&l(&[("__name__", "a")]), 1, 0.0).unwrap();

    let h = Head::with_limits(HeadLimits {
        max_series: 10,
        max_labels_per_series: 2,
        max_label_value_len: 5,
        ..HeadLimits::default()
    });
    let e = h
        .append(&l(&[("__name__", "a"), ("b", "1"), ("c", "2")]), 0, 0.0)
        .unwrap_err();
    assert!(matches!(
        e,
        HeadError::TooManyLabels {
            count: 3,
            limit: 2,
            ..
        }
    ));
    let e = h
        .append(&l(&[("__name__", "a"), ("b", "toolong")]), 0, 0.0)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"value of label "b" is 7 bytes long; the limit is 5"#
    );
    assert_eq!(
        h.append(&Labels::default(), 0, 0.0).unwrap_err(),
        HeadError::EmptyLabels
    );
    assert_eq!(h.num_series(), 0);
}

#[test]
fn concurrent_appends() {
    let h = Arc::new(Head::new());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let h = Arc::clone(&h);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let ls = l(&[
                        ("__name__", "c"),
                        ("t", &t.to_string()),
                        ("i", &i.to_string()),
                    ]);
                    for k in 0..130 {
                        h.append(&ls, k * 1000, k as f64).unwrap();
                    }
                }
                // Shared series too: all threads append the same samples (duplicates ok).
                let shared = l(&[("__name__", "shared")]);
                for k in 0..10 {
                    let _ = h.append(&shared, k * 1000, k as f64);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let st = h.stats();
    assert_eq!(st.series, 201);
    assert_eq!(h.num_series(), 201);
    assert_eq!(h.select(&sel(r#"c{t="2"}"#), 0, i64::MAX).len(), 50);
    let all = h.select(&sel("c"), 0, i64::MAX);
    assert_eq!(all.len(), 200);
    assert!(all.iter().all(|s| s.samples.len() == 130));
    // Each sample of the shared series stored once.
    assert_eq!(h.select(&sel("shared"), 0, i64::MAX)[0].samples.len(), 10);
    assert_eq!(st.samples, 200 * 130 + 10);
}

#[test]
fn metadata_queries() {
    let h = Head::new();
    h.append(&l(&[("__name__", "up"), ("job", "a")]), 1000, 1.0)
        .unwrap();
    h.append(
        &l(&[("__name__", "up"), ("job", "b"), ("zone", "z1")]),
        5000,
        1.0,
    )
    .unwrap();
    h.append(&l(&[("__name__", "other"), ("env", "prod")]), 9000, 1.0)
        .unwrap();
    assert_eq!(
        names_of(&h.series(&[], i64::MIN, i64::MAX)),
        vec!["__name__", "env", "job", "zone"]
    );
    assert_eq!(
        names_of(&h.series(&[sel("up")], i64::MIN, i64::MAX)),
        vec!["__name__", "job", "zone"]
    );
    assert_eq!(
        names_of(&h.series(&[sel("up")], 0, 2000)),
        vec!["__name__", "job"]
    );
    assert_eq!(
        values_of("job", &h.series(&[], i64::MIN, i64::MAX)),
        vec!["a", "b"]
    );
    assert_eq!(
        values_of(
            "__name__",
            &h.series(&[sel("up"), sel("other")], 4000, 10_000)
        ),
        vec!["other", "up"]
    );
    assert!(values_of("nope", &h.series(&[], i64::MIN, i64::MAX)).is_empty());
    let s = h.series(&[sel(r#"{job=~".+"}"#)], 0, 3000);
    assert_eq!(s, vec![l(&[("__name__", "up"), ("job", "a")])]);
    assert_eq!(h.series(&[], 2000, 4000), Vec::<Labels>::new());
}

fn instant(h: &Head, q: &str, t: i64) -> Value {
    let q = parse_query(q, 0, 0).unwrap();
    let mut ev = Evaluator::new(h);
    ev.prepare(&q).unwrap();
    ev.instant(&q.expr, t).unwrap()
}

#[test]
fn promql_end_to_end() {
    let h = Head::new();
    // Two counters increasing 60 per minute (1/s), scraped every 15 s for 10 minutes, and a
    // gauge.
    for k in 0..=40i64 {
        let t = k * 15_000;
        for inst in ["a", "b"] {
            let ls = l(&[("__name__", "x"), ("instance", inst)]);
            h.append(&ls, t, (k * 15) as f64).unwrap();
        }
        h.append(&l(&[("__name__", "g"), ("job", "j")]), t, 2.0 * k as f64)
            .unwrap();
    }
    let v = |val: Value| match val {
        Value::Vector(v) => v,
        other => panic!("not a vector: {other:?}"),
    };
    let r = v(instant(&h, "rate(x[1m])", 600_000));
    assert_eq!(r.len(), 2);
    for s in &r {
        assert!((s.f - 1.0).abs() < 1e-9, "{}", s.f);
    }
    let r = v(instant(&h, "sum(rate(x[1m]))", 600_000));
    assert_eq!(r.len(), 1);
    assert!((r[0].f - 2.0).abs() < 1e-9, "{}", r[0].f);
    let r = v(instant(&h, r#"sum(rate(x{instance="a"}[1m]))"#, 300_000));
    assert!((r[0].f - 1.0).abs() < 1e-9, "{}", r[0].f);
    // increase over 5m of 1/s is 300.
    let r = v(instant(&h, "sum by (instance) (increase(x[5m]))", 600_000));
    assert_eq!(r.len(), 2);
    assert!(r.iter().all(|s| (s.f - 300.0).abs() < 1e-9));
    // Instant selector picks the latest sample within lookback.
    let r = v(instant(&h, "g", 601_000));
    assert_eq!(r[0].f, 80.0);
    let r = v(instant(
        &h,
        "max_over_time(g[1m]) - min_over_time(g[1m])",
        600_000,
    ));
    // (t-60s, t]: samples at 555..600 s → k 37..40 → 80 - 74.
    assert_eq!(r[0].f, 6.0);
}

#[test]
fn or_groups_with_common_matchers() {
    let h = matcher_head();
    // (a="1" or a="10") and __name__="m".
    let ms =
        Matchers::new(vec![Matcher::new(MatchOp::Equal, "__name__", "m")]).with_or_matchers(vec![
            vec![Matcher::new(MatchOp::Equal, "a", "1")],
            vec![Matcher::new(MatchOp::Equal, "a", "10")],
        ]);
    let mut got: Vec<Labels> = h
        .select(&ms, i64::MIN, i64::MAX)
        .into_iter()
        .map(|s| s.labels)
        .collect();
    got.sort();
    let mut want = vec![l(MATCHER_SERIES[0]), l(MATCHER_SERIES[2])];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn chunk_errors_are_reported_and_leave_series_intact() {
    let h = Head::new();
    let s = l(&[("__name__", "e")]);
    h.append(&s, i64::MIN, 1.0).unwrap();
    let e = h.append(&s, i64::MAX, 2.0).unwrap_err();
    assert!(matches!(
        e,
        HeadError::Chunk {
            source: ChunkError::DeltaOverflow { .. },
            ..
        }
    ));
    h.append(&s, -1, 3.0).unwrap();
    let got = h.select(&sel("e"), i64::MIN, i64::MAX);
    assert_eq!(got[0].samples, vec![(i64::MIN, 1.0), (-1, 3.0)]);
}

#[test]
fn promql_range_query() {
    let h = Head::new();
    let ls = l(&[("__name__", "x")]);
    for k in 0..=40i64 {
        h.append(&ls, k * 15_000, (k * 15) as f64).unwrap();
    }
    let q = parse_query("rate(x[1m])", 60_000, 300_000).unwrap();
    let mut ev = Evaluator::new(&h);
    ev.prepare(&q).unwrap();
    let m = ev.range(&q.expr, 300_000, 600_000, 60_000).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].points.len(), 6);
    assert!(m[0].points.iter().all(|&(_, v)| (v - 1.0).abs() < 1e-9));
}

#[test]
fn byte_count_is_kept_incrementally() {
    let h = Head::new();
    for i in 0..500i64 {
        for s in 0..7 {
            let labels = l(&[("__name__", "m"), ("s", &s.to_string())]);
            h.append(&labels, i * 15_000, (i * s) as f64 * 0.37)
                .unwrap();
        }
    }
    assert!(h.bytes() > 0);
    assert_eq!(
        h.bytes(),
        h.stats().chunk_bytes,
        "running count equals a full walk"
    );
    h.freeze();
    assert_eq!(h.bytes(), 0);
    assert_eq!(h.stats().chunk_bytes, 0);
}

// ---- native histograms ----

use crate::chunk::histogram_testing::counter_histogram;
use crate::chunk::{Chunk, SampleValue};
use crate::promql::{is_stale_nan, STALE_NAN_BITS};

#[test]
fn histograms_append_select_and_switch_chunks() {
    let h = Head::new();
    let a = l(&[("__name__", "lat")]);
    let live = AppendMode::Live { ooo_window_ms: 0 };
    for i in 0..5u32 {
        h.append_histogram(&a, i64::from(i) * 1000, &counter_histogram(i, false), live)
            .unwrap();
    }
    // A stale marker stays in the histogram chunk; floats and histograms then alternate.
    h.append(&a, 5000, f64::from_bits(STALE_NAN_BITS)).unwrap();
    h.append(&a, 6000, 1.5).unwrap();
    h.append_histogram(&a, 7000, &counter_histogram(9, true), live)
        .unwrap();
    let got = h.select(&sel("lat"), 0, 10_000);
    assert_eq!(got.len(), 1);
    let s = &got[0];
    assert_eq!(s.histograms.len(), 6);
    assert_eq!(s.histograms[2], (2000, counter_histogram(2, false)));
    assert_eq!(s.histograms[5], (7000, counter_histogram(9, true)));
    assert_eq!(s.samples.len(), 2);
    assert!(is_stale_nan(s.samples[0].1) && s.samples[0].0 == 5000);
    assert_eq!(s.samples[1], (6000, 1.5));
    // hist(0..5 + stale), xor(6000), hist(7000): three chunks.
    assert_eq!(h.stats().chunks, 3);
    assert_eq!(h.stats().samples, 8);
    // Range selection slices histograms too.
    let got = h.select(&sel("lat"), 1000, 2000);
    assert_eq!(got[0].histograms.len(), 2);
    assert!(got[0].samples.is_empty());
    let frozen = h.freeze();
    let kinds: Vec<bool> = frozen[0]
        .chunks
        .iter()
        .map(|c| matches!(c, Chunk::Histogram(_)))
        .collect();
    assert_eq!(kinds, vec![true, false, true]);
}

#[test]
fn histogram_duplicates_and_out_of_order() {
    let h = Head::new();
    let a = l(&[("__name__", "lat")]);
    let win = AppendMode::Live {
        ooo_window_ms: 5000,
    };
    let h3 = counter_histogram(3, false);
    h.append_histogram(&a, 10_000, &h3, win).unwrap();
    // Identical repeat: accepted, stored once.
    h.append_histogram(&a, 10_000, &h3, win).unwrap();
    assert_eq!(h.stats().samples, 1);
    // A different histogram, or a float, at the same timestamp: duplicate error.
    let mut other = h3.clone();
    other.sum += 1.0;
    let err = h.append_histogram(&a, 10_000, &other, win).unwrap_err();
    assert_eq!(err.reason(), "duplicate_timestamp");
    assert_eq!(
        h.append_with(&a, 10_000, 1.0, win).unwrap_err().reason(),
        "duplicate_timestamp"
    );
    // Within the window: out-of-order histograms are kept, identical repeats too.
    h.append_histogram(&a, 7000, &counter_histogram(1, false), win)
        .unwrap();
    h.append_histogram(&a, 7000, &counter_histogram(1, false), win)
        .unwrap();
    assert_eq!(
        h.append_histogram(&a, 7000, &h3, win).unwrap_err().reason(),
        "duplicate_timestamp"
    );
    h.append_with(&a, 8000, 2.0, win).unwrap();
    // Beyond it: refused.
    let err = h.append_histogram(&a, 1000, &h3, win).unwrap_err();
    assert_eq!(err.reason(), "out_of_order");
    // Invalid histograms are refused with their own reason, before creating anything.
    let mut bad = h3.clone();
    bad.positive.reverse();
    let b = l(&[("__name__", "bad")]);
    let err = h.append_histogram(&b, 1, &bad, win).unwrap_err();
    assert_eq!(err.reason(), "invalid_histogram");
    assert!(!h.contains(&b));
    let got = h.select(&sel("lat"), 0, 20_000);
    let hs: Vec<i64> = got[0].histograms.iter().map(|p| p.0).collect();
    assert_eq!(hs, vec![7000, 10_000]);
    assert_eq!(got[0].samples, vec![(8000, 2.0)]);
    let bytes_before = h.bytes();
    assert!(bytes_before > 0);
    // Freezing folds the out-of-order samples into chunks of the right kinds.
    let frozen = h.freeze();
    let all: Vec<(i64, bool)> = frozen[0]
        .chunks
        .iter()
        .flat_map(|c| c.samples())
        .map(|(t, v)| (t, matches!(v, SampleValue::Histogram(_))))
        .collect();
    assert_eq!(all, vec![(7000, true), (8000, false), (10_000, true)]);
    assert_eq!(frozen[0].chunks.len(), 3);
}

/// Appends the `i`-th sample of a growing counter histogram, 15 s apart.
fn append_counter_histogram(h: &Head, labels: &Labels, i: u32) {
    let live = AppendMode::Live { ooo_window_ms: 0 };
    h.append_histogram(
        labels,
        i64::from(i) * 15_000,
        &counter_histogram(i, false),
        live,
    )
    .unwrap();
}

#[test]
fn histogram_bytes_are_counted() {
    let h = Head::new();
    let a = l(&[("__name__", "lat")]);
    for i in 0..300u32 {
        append_counter_histogram(&h, &a, i);
        assert_eq!(h.bytes(), h.stats().chunk_bytes, "after sample {i}");
    }
    assert!(h.stats().chunks >= 3);
}

#[test]
fn promql_over_head_histograms() {
    let h = Head::new();
    let a = l(&[("__name__", "lat"), ("job", "x")]);
    for i in 0..40u32 {
        append_counter_histogram(&h, &a, i);
    }
    match instant(&h, "histogram_count(lat)", 300_000) {
        Value::Vector(v) => {
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].f, counter_histogram(20, false).count);
        }
        other => panic!("{other:?}"),
    }
}
