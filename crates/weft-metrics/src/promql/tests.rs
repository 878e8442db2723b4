//! Unit tests for tricky semantics. Expected values are computed by hand from Prometheus'
//! documented rules (cited per test), not taken from this engine's output.

use weft_core::labels::Labels;

use super::eval::{EvSample, Evaluator, Value};
use super::{MemStorage, STALE_NAN_BITS};

const MIN: i64 = 60_000;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

fn instant(st: &MemStorage, q: &str, t: i64) -> Result<Value, String> {
    let e = promql_parser::parser::parse(q)?;
    Evaluator::new(st).instant(&e, t)
}

fn vector(st: &MemStorage, q: &str, t: i64) -> Vec<EvSample> {
    match instant(st, q, t).unwrap() {
        Value::Vector(mut v) => {
            v.sort_by(|a, b| a.labels.cmp(&b.labels));
            v
        }
        other => panic!("expected vector, got {other:?}"),
    }
}

fn single(st: &MemStorage, q: &str, t: i64) -> f64 {
    let v = vector(st, q, t);
    assert_eq!(v.len(), 1, "{q} at {t}: {v:?}");
    v[0].f
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Prometheus 3: the lookback window is left-open, `(t - 5m, t]`.
#[test]
fn lookback_window_is_left_open() {
    let mut st = MemStorage::new();
    st.append(l(&[("__name__", "m")]), 0, 1.0);
    assert_eq!(single(&st, "m", 5 * MIN - 1), 1.0);
    assert!(vector(&st, "m", 5 * MIN).is_empty());
    // Configurable lookback.
    let e = promql_parser::parser::parse("m").unwrap();
    let mut ev = Evaluator::new(&st);
    ev.lookback_ms = MIN;
    assert_eq!(ev.instant(&e, MIN), Ok(Value::Vector(Vec::new())));
}

/// A staleness marker ends the series at once; later samples revive it.
#[test]
fn staleness_marker_ends_series() {
    let mut st = MemStorage::new();
    let name = l(&[("__name__", "m")]);
    st.append(name.clone(), 0, 1.0);
    st.append(name.clone(), MIN, f64::from_bits(STALE_NAN_BITS));
    st.append(name, 3 * MIN, 3.0);
    assert_eq!(single(&st, "m", 30_000), 1.0);
    assert!(vector(&st, "m", MIN).is_empty());
    assert!(vector(&st, "m", 2 * MIN).is_empty());
    assert_eq!(single(&st, "m", 3 * MIN), 3.0);
    // Range selectors drop the marker: (0, 3m] holds only the sample at 3m.
    assert_eq!(single(&st, "count_over_time(m[3m])", 3 * MIN), 1.0);
}

/// `offset` shifts back; `@` pins the time; matrix ranges are left-open `(t - r, t]`.
#[test]
fn offset_at_and_range_bounds() {
    let mut st = MemStorage::new();
    for i in 0..=10 {
        st.append(l(&[("__name__", "m")]), i * MIN, i as f64);
    }
    assert_eq!(single(&st, "m offset 3m", 10 * MIN), 7.0);
    assert_eq!(single(&st, "m @ 120", 10 * MIN), 2.0);
    assert_eq!(single(&st, "m @ 300 offset 1m", 0), 4.0);
    // (5m, 10m] holds samples 6..=10: five of them.
    assert_eq!(single(&st, "count_over_time(m[5m])", 10 * MIN), 5.0);
}

/// Rate extrapolation (Prometheus `extrapolatedRate`), counter 0,10,20,… every minute.
/// `increase(c[5m])` at 5m sees samples 1m..5m (10..50): raw increase 40 over 240s. The gap
/// to the range start is 60s (< 1.1 × 60s average interval, so extrapolate fully), the
/// zero-point cap is 240 × 10/40 = 60s (not smaller), the gap to the end is 0: factor
/// (240 + 60) / 240 = 1.25, increase = 50, rate = 50 / 300s.
#[test]
fn rate_extrapolation() {
    let mut st = MemStorage::new();
    for i in 0..=10 {
        st.append(l(&[("__name__", "c_total")]), i * MIN, 10.0 * i as f64);
    }
    assert!(close(single(&st, "increase(c_total[5m])", 5 * MIN), 50.0));
    assert!(close(
        single(&st, "rate(c_total[5m])", 5 * MIN),
        50.0 / 300.0
    ));
    // A counter reset adds the pre-reset value: 0,10,20,5 → 20 + 5 = 25 raw increase.
    let mut st = MemStorage::new();
    for (i, v) in [0.0, 10.0, 20.0, 5.0].into_iter().enumerate() {
        st.append(l(&[("__name__", "r_total")]), i as i64 * MIN, v);
    }
    // The window (−1ms, 3m] holds all four samples. The first value is 0, so the zero-point
    // cap (180s × 0/25 = 0) removes start extrapolation; the end gap is 0: factor 1.
    let got = single(&st, "increase(r_total[180001ms])", 3 * MIN);
    assert!(close(got, 25.0), "{got}");
    // irate: last two samples 20 → 5 is a reset, so the increase is 5 over 60s.
    assert!(close(
        single(&st, "irate(r_total[5m])", 3 * MIN),
        5.0 / 60.0
    ));
}

/// Vector matching: one-to-one ignores the name; `group_left` copies labels from the one
/// side; duplicate "one" side series and unmatched cardinality are errors.
#[test]
fn vector_matching() {
    let mut st = MemStorage::new();
    st.append(l(&[("__name__", "a"), ("job", "x"), ("i", "1")]), 0, 10.0);
    st.append(l(&[("__name__", "a"), ("job", "x"), ("i", "2")]), 0, 20.0);
    st.append(l(&[("__name__", "b"), ("job", "x"), ("i", "1")]), 0, 2.0);
    st.append(l(&[("__name__", "info"), ("job", "x"), ("v", "9")]), 0, 1.0);

    // One-to-one: only i="1" matches; the name is dropped by arithmetic.
    let v = vector(&st, "a / b", 0);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].labels, l(&[("job", "x"), ("i", "1")]));
    assert_eq!(v[0].f, 5.0);

    // Comparison filters keep the left value and name.
    let v = vector(&st, "a > 15", 0);
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].labels,
        l(&[("__name__", "a"), ("job", "x"), ("i", "2")])
    );
    let v = vector(&st, "a > bool 15", 0);
    assert_eq!(v.iter().map(|s| s.f).collect::<Vec<_>>(), vec![0.0, 1.0]);

    // Many-to-one with group_left(v).
    let v = vector(&st, "a * on(job) group_left(v) info", 0);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].labels, l(&[("job", "x"), ("i", "1"), ("v", "9")]));
    assert_eq!(v[1].f, 20.0);

    // Without group_left the same match is many-to-one: error.
    let e = instant(&st, "a * on(job) info", 0).unwrap_err();
    assert!(e.contains("many-to-one matching must be explicit"), "{e}");
    // Duplicate series on the "one" side.
    let e = instant(&st, "info * on(job) a", 0).unwrap_err();
    assert!(
        e.contains("found duplicate series for the match group"),
        "{e}"
    );

    // Set operators match on all labels but the name.
    assert_eq!(vector(&st, "a and b", 0).len(), 1);
    assert_eq!(vector(&st, "a unless b", 0).len(), 1);
    assert_eq!(vector(&st, "b or a", 0).len(), 2);
}

/// Range queries evaluate each step independently and merge series by label set.
#[test]
fn range_query_steps() {
    let mut st = MemStorage::new();
    st.append(l(&[("__name__", "m")]), 0, 1.0);
    st.append(l(&[("__name__", "m")]), 2 * MIN, 2.0);
    let e = promql_parser::parser::parse("m * 2").unwrap();
    let m = Evaluator::new(&st).range(&e, 0, 3 * MIN, MIN).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].labels, Labels::default());
    assert_eq!(
        m[0].points,
        vec![(0, 2.0), (MIN, 2.0), (2 * MIN, 4.0), (3 * MIN, 4.0)]
    );
    let e = promql_parser::parser::parse("m[1m]").unwrap();
    assert!(Evaluator::new(&st).range(&e, 0, MIN, MIN).is_err());
}

/// `anchored` range selectors (Prometheus 3 extended range selectors). Data and expected
/// values are from the corpus (`extended_vectors.test`): samples every 15s valued
/// 1,2,3,4,5 then 9,10,11,12,13. Anchored `increase` takes the last sample at or before the
/// range start as the left boundary and does not extrapolate: at 80s the window (20s, 80s]
/// is anchored on 2 (at 15s) and ends at 9 (at 75s) → 7.
#[test]
fn anchored_increase_matches_corpus() {
    let mut st = MemStorage::new();
    for (i, v) in [1.0, 2.0, 3.0, 4.0, 5.0, 9.0, 10.0, 11.0, 12.0, 13.0]
        .into_iter()
        .enumerate()
    {
        st.append(l(&[("__name__", "metric")]), i as i64 * 15_000, v);
    }
    let eval = |q: &str, t: i64| {
        let q = super::parse_query(q, 0, 0).unwrap();
        let mut ev = Evaluator::new(&st);
        ev.prepare(&q).unwrap();
        match ev.instant(&q.expr, t).unwrap() {
            Value::Vector(v) => v.iter().map(|s| s.f).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(eval("increase(metric[1m] anchored)", 20_000), vec![1.0]);
    assert_eq!(eval("increase(metric[1m] anchored)", 80_000), vec![7.0]);
    // Plain increase extrapolates instead (corpus: 1.833333333 at 20s).
    let got = eval("increase(metric[1m])", 20_000);
    assert!(close(got[0], 1.833333333), "{got:?}");
    // Only some functions accept the modifier.
    let q = super::parse_query("max_over_time(metric[1m] anchored)", 0, 0).unwrap();
    let mut ev = Evaluator::new(&st);
    ev.prepare(&q).unwrap();
    assert_eq!(
        ev.instant(&q.expr, 0).unwrap_err(),
        "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with max_over_time"
    );
}
