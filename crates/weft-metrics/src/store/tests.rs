use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher, Matchers};

use super::*;

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

fn name_eq(name: &str) -> Matchers {
    Matchers::new(vec![Matcher::new(MatchOp::Equal, "__name__", name)])
}

fn write(labels: &Labels, samples: &[(i64, f64)]) -> MetricWrite {
    MetricWrite {
        series: vec![SeriesWrite {
            labels: labels.clone(),
            samples: samples.to_vec(),
            exemplars: Vec::new(),
        }],
        metadata: Vec::new(),
    }
}

fn tenant() -> TenantId {
    TenantId::parse("t1").unwrap()
}

#[test]
fn apply_reports_what_was_stored_and_refused() {
    let store = MetricStore::new(MetricStoreConfig::default());
    let a = l(&[("__name__", "up"), ("job", "a")]);
    let out = store.apply(&tenant(), &write(&a, &[(1000, 1.0), (2000, 2.0)]), false);
    assert_eq!(out.samples, 2);
    assert!(out.rejected.is_empty());
    // An older sample is refused without a window; the newer one in the same write is kept.
    let out = store.apply(&tenant(), &write(&a, &[(1500, 9.0), (3000, 3.0)]), false);
    assert_eq!(out.samples, 1);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].reason, "out_of_order");
    assert_eq!(out.stored.series[0].samples, vec![(3000, 3.0)]);
    let got = store.reader(&tenant()).select(&name_eq("up"), 0, 10_000);
    assert_eq!(got[0].samples, vec![(1000, 1.0), (2000, 2.0), (3000, 3.0)]);
    // Other tenants see nothing.
    let other = TenantId::parse("t2").unwrap();
    assert!(store
        .reader(&other)
        .select(&name_eq("up"), 0, 10_000)
        .is_empty());
}

#[test]
fn out_of_order_window_and_replay() {
    let cfg = MetricStoreConfig {
        out_of_order_window: Duration::from_secs(10),
        ..MetricStoreConfig::default()
    };
    let store = MetricStore::new(cfg);
    let a = l(&[("__name__", "m")]);
    store.apply(&tenant(), &write(&a, &[(20_000, 2.0)]), false);
    // Within the window: accepted and merged in order.
    let out = store.apply(&tenant(), &write(&a, &[(15_000, 1.5)]), false);
    assert_eq!(out.samples, 1, "{:?}", out.rejected);
    // Beyond the window: refused.
    let out = store.apply(&tenant(), &write(&a, &[(5_000, 0.5)]), false);
    assert_eq!(out.rejected[0].reason, "out_of_order");
    // A different value at a stored out-of-order timestamp is a duplicate.
    let out = store.apply(&tenant(), &write(&a, &[(15_000, 7.0)]), false);
    assert_eq!(out.rejected[0].reason, "duplicate_timestamp");
    // Replay accepts any order.
    let out = store.apply(&tenant(), &write(&a, &[(1_000, 0.1)]), true);
    assert_eq!(out.samples, 1);
    let got = store.reader(&tenant()).select(&name_eq("m"), 0, 30_000);
    assert_eq!(
        got[0].samples,
        vec![(1_000, 0.1), (15_000, 1.5), (20_000, 2.0)]
    );
}

#[test]
fn series_limit_refuses_new_series_with_a_reason() {
    let cfg = MetricStoreConfig {
        max_series_per_tenant: 1,
        max_label_value_length: 4,
        ..MetricStoreConfig::default()
    };
    let store = MetricStore::new(cfg);
    store.apply(
        &tenant(),
        &write(&l(&[("__name__", "a")]), &[(1, 1.0)]),
        false,
    );
    let out = store.apply(
        &tenant(),
        &write(&l(&[("__name__", "b")]), &[(1, 1.0), (2, 2.0)]),
        false,
    );
    assert_eq!(out.rejected[0].reason, "series_limit");
    assert_eq!(out.rejected[0].count, 2);
    assert!(
        out.rejected[0].message.contains("limit is 1"),
        "{:?}",
        out.rejected
    );
    assert!(out.stored.series.is_empty());
    let out = store.apply(
        &tenant(),
        &write(&l(&[("__name__", "toolong")]), &[(1, 1.0)]),
        false,
    );
    assert_eq!(out.rejected[0].reason, "label_value_length_limit");
}

#[test]
fn frozen_parts_stay_visible_and_merge_with_the_head() {
    let store = MetricStore::new(MetricStoreConfig::default());
    let a = l(&[("__name__", "m"), ("i", "1")]);
    store.apply(&tenant(), &write(&a, &[(1000, 1.0), (2000, 2.0)]), false);
    let t = store.tenant(&tenant());
    {
        let mut frozen = t.frozen.write();
        frozen.push(Arc::new(t.head.freeze()));
    }
    store.apply(&tenant(), &write(&a, &[(3000, 3.0)]), false);
    // Still ordered after the freeze: an older sample is refused.
    let out = store.apply(&tenant(), &write(&a, &[(1500, 1.5)]), false);
    assert_eq!(out.rejected[0].reason, "out_of_order");
    let r = store.reader(&tenant());
    let got = r.select(&name_eq("m"), 0, 10_000);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, vec![(1000, 1.0), (2000, 2.0), (3000, 3.0)]);
    assert_eq!(r.series(&[], 0, 1500, 0), vec![a.clone()]);
    assert_eq!(r.label_values("i", &[], 0, 10_000), vec!["1".to_string()]);
    assert_eq!(r.label_names(&[], 0, 10_000), vec!["__name__", "i"]);
}

#[test]
fn metadata_and_exemplars() {
    let store = MetricStore::new(MetricStoreConfig::default());
    let a = l(&[("__name__", "req_total")]);
    let ex = Exemplar {
        labels: l(&[("trace_id", "abc")]),
        value: 1.0,
        t_ms: 1000,
    };
    let w = MetricWrite {
        series: vec![SeriesWrite {
            labels: a.clone(),
            samples: vec![(1000, 1.0)],
            exemplars: vec![ex.clone(), ex.clone()],
        }],
        metadata: vec![Metadata {
            metric: "req".into(),
            kind: MetricType::Counter,
            help: "Requests.".into(),
            unit: String::new(),
        }],
    };
    store.apply(&tenant(), &w, false);
    let md = store.metadata(&tenant(), None, 0, 0);
    assert_eq!(md["req"][0].kind, MetricType::Counter);
    assert!(store.metadata(&tenant(), Some("nope"), 0, 0).is_empty());
    let got = store.exemplars(&tenant(), &[name_eq("req_total")], 0, 2000);
    assert_eq!(got, vec![(a, vec![ex])], "the repeat is stored once");
    assert!(store
        .exemplars(&tenant(), &[name_eq("req_total")], 2000, 3000)
        .is_empty());
}
