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
            histograms: Vec::new(),
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
    store.freeze_heads();
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
            histograms: Vec::new(),
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

fn series_at(store: &MetricStore, name: &str) -> Vec<(i64, f64)> {
    let got = store
        .reader(&tenant())
        .select(&name_eq(name), i64::MIN, i64::MAX);
    assert!(got.len() <= 1);
    got.into_iter()
        .next()
        .map(|s| s.samples)
        .unwrap_or_default()
}

/// `n` samples per series at 15 s, starting at `t0`.
fn fill(store: &MetricStore, names: &[&str], t0: i64, n: i64) {
    for name in names {
        let samples: Vec<(i64, f64)> = (0..n).map(|i| (t0 + i * 15_000, i as f64)).collect();
        let out = store.apply(
            &tenant(),
            &write(&l(&[("__name__", name)]), &samples),
            false,
        );
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    }
}

#[test]
fn cut_writes_blocks_that_reopen_with_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetricStore::open(dir.path(), MetricStoreConfig::default()).unwrap();
    fill(&store, &["a", "b"], 0, 300);
    store.freeze_heads();
    assert_eq!(store.write_frozen(7).unwrap(), 1);
    assert_eq!(store.wal_checkpoint(), 7);
    // New samples go to the head; queries merge block and head.
    fill(&store, &["a"], 300 * 15_000, 10);
    assert_eq!(series_at(&store, "a").len(), 310);
    // Order is still enforced across the cut.
    let out = store.apply(
        &tenant(),
        &write(&l(&[("__name__", "a")]), &[(0, 5.0)]),
        false,
    );
    assert_eq!(out.rejected[0].reason, "out_of_order");
    let r = store.reader(&tenant());
    assert_eq!(
        r.label_values("__name__", &[], i64::MIN, i64::MAX),
        vec!["a", "b"]
    );
    drop(store);

    let store = MetricStore::open(dir.path(), MetricStoreConfig::default()).unwrap();
    assert_eq!(store.wal_checkpoint(), 7);
    let b = series_at(&store, "b");
    assert_eq!(b.len(), 300);
    assert_eq!(b[299], (299 * 15_000, 299.0));
}

#[test]
fn compaction_merges_blocks_without_changing_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetricStore::open(dir.path(), MetricStoreConfig::default()).unwrap();
    // Three cuts within one 2h range, a fourth in the next range (so the first is over).
    for (i, t0) in [0, 1_800_000, 3_600_000, 7_300_000].into_iter().enumerate() {
        fill(&store, &["a", "b"], t0, 100);
        store.freeze_heads();
        store.write_frozen(i as u64 + 1).unwrap();
    }
    let before = (series_at(&store, "a"), series_at(&store, "b"));
    let blocks_before = store.tenant(&tenant()).parts.read().blocks.len();
    let merged = store.compact().unwrap();
    let blocks_after = store.tenant(&tenant()).parts.read().blocks.len();
    assert!(merged >= 2, "merged {merged}");
    assert!(blocks_after < blocks_before);
    assert_eq!((series_at(&store, "a"), series_at(&store, "b")), before);
    // The inputs' directories are gone; the store reopens to the same answers.
    drop(store);
    let store = MetricStore::open(dir.path(), MetricStoreConfig::default()).unwrap();
    assert_eq!(
        store.tenant(&tenant()).parts.read().blocks.len(),
        blocks_after
    );
    assert_eq!((series_at(&store, "a"), series_at(&store, "b")), before);
}

#[test]
fn retention_by_age_and_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = MetricStoreConfig {
        retention: Duration::from_secs(3600),
        ..MetricStoreConfig::default()
    };
    let store = MetricStore::open(dir.path(), cfg).unwrap();
    fill(&store, &["old"], 0, 10);
    store.freeze_heads();
    store.write_frozen(1).unwrap();
    fill(&store, &["new"], 10_000_000, 10);
    store.freeze_heads();
    store.write_frozen(2).unwrap();
    // "now" is 1h after the old block's end but not the new one's.
    assert_eq!(store.enforce_retention(135_000 + 3_600_001, 0), 1);
    assert!(series_at(&store, "old").is_empty());
    assert_eq!(series_at(&store, "new").len(), 10);

    let cfg = MetricStoreConfig {
        max_bytes: bytesize::ByteSize::b(1),
        ..MetricStoreConfig::default()
    };
    let store = MetricStore::open(dir.path(), cfg).unwrap();
    assert!(store.block_bytes() > 0);
    assert_eq!(store.enforce_retention(0, 0), 1);
    assert_eq!(store.block_bytes(), 0);
    let text: Vec<_> = store
        .block_samples()
        .into_iter()
        .map(|s| (s.name, s.value))
        .collect();
    assert!(
        text.contains(&("metric_retention_dropped_samples", 10.0)),
        "{text:?}"
    );
}

#[test]
fn corrupt_blocks_are_moved_aside_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetricStore::open(dir.path(), MetricStoreConfig::default()).unwrap();
    fill(&store, &["a"], 0, 10);
    store.freeze_heads();
    store.write_frozen(1).unwrap();
    let block_dir = store.tenant(&tenant()).parts.read().blocks[0]
        .dir()
        .to_path_buf();
    drop(store);
    let index = block_dir.join("index");
    let mut bytes = std::fs::read(&index).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&index, bytes).unwrap();
    let store = MetricStore::open(dir.path(), MetricStoreConfig::default()).unwrap();
    assert!(series_at(&store, "a").is_empty());
    let names: Vec<String> = std::fs::read_dir(block_dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with(".corrupt-")),
        "{names:?}"
    );
}

// ---- native histograms ----

use crate::chunk::histogram_testing::counter_histogram;
use crate::promql::FloatHistogram;

fn hist_write(labels: &Labels, hs: &[(i64, FloatHistogram)], floats: &[(i64, f64)]) -> MetricWrite {
    MetricWrite {
        series: vec![SeriesWrite {
            labels: labels.clone(),
            samples: floats.to_vec(),
            histograms: hs.to_vec(),
            exemplars: Vec::new(),
        }],
        metadata: Vec::new(),
    }
}

fn histograms_at(
    store: &MetricStore,
    name: &str,
    start: i64,
    end: i64,
) -> Vec<(i64, FloatHistogram)> {
    let got = store.reader(&tenant()).select(&name_eq(name), start, end);
    got.into_iter().flat_map(|s| s.histograms).collect()
}

#[test]
fn histograms_are_stored_and_merge_across_head_frozen_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetricStore::open(dir.path(), MetricStoreConfig::default()).unwrap();
    let a = l(&[("__name__", "lat")]);
    let hs = |from: u32, to: u32| -> Vec<(i64, FloatHistogram)> {
        (from..to)
            .map(|i| (i64::from(i) * 15_000, counter_histogram(i, i % 10 == 9)))
            .collect()
    };
    // Floats and histograms interleaved in one write, in time order after joining.
    let out = store.apply(
        &tenant(),
        &hist_write(&a, &hs(0, 100), &[(100 * 15_000 + 1, 2.0)]),
        false,
    );
    assert_eq!((out.samples, out.histograms), (1, 100));
    assert!(out.rejected.is_empty());
    assert_eq!(out.stored.series[0].histograms.len(), 100);
    // To a block...
    store.freeze_heads();
    store.write_frozen(1).unwrap();
    // ...to a frozen part...
    store.apply(&tenant(), &hist_write(&a, &hs(101, 150), &[]), false);
    store.freeze_heads();
    // ...and in the head.
    let out = store.apply(&tenant(), &hist_write(&a, &hs(150, 170), &[]), false);
    assert_eq!(out.histograms, 20);
    // A repeat of the newest is accepted as a duplicate; a different histogram there is
    // refused, and so is an older one (no out-of-order window).
    let mut changed = counter_histogram(169, true);
    changed.count += 1.0;
    let last = (169 * 15_000, counter_histogram(169, true));
    let out = store.apply(&tenant(), &hist_write(&a, &[last], &[]), false);
    assert_eq!((out.histograms, out.rejected_count()), (1, 0));
    let out = store.apply(
        &tenant(),
        &hist_write(&a, &[(169 * 15_000, changed)], &[]),
        false,
    );
    assert_eq!(out.rejected[0].reason, "duplicate_timestamp");
    let old = (160 * 15_000, counter_histogram(160, false));
    let out = store.apply(&tenant(), &hist_write(&a, &[old], &[]), false);
    assert_eq!(out.rejected[0].reason, "out_of_order");
    let got = histograms_at(&store, "lat", i64::MIN, i64::MAX);
    let mut want = hs(0, 100);
    want.extend(hs(101, 170));
    assert_eq!(got, want);
    assert_eq!(histograms_at(&store, "lat", 1_500_000, 1_515_000).len(), 1);
    let floats = store.reader(&tenant()).select(&name_eq("lat"), 0, i64::MAX);
    assert_eq!(floats[0].samples, vec![(1_500_001, 2.0)]);
    // Through the window cache as the range-query path uses it.
    let r = store.reader(&tenant());
    let cache = WindowCache::new(&r, 600_000);
    let got = cache.select(&name_eq("lat"), 0, 300_000);
    assert_eq!(got[0].histograms.len(), 21);
    drop(store);
    // The block reopens with its histograms.
    let store = MetricStore::open(dir.path(), MetricStoreConfig::default()).unwrap();
    assert_eq!(histograms_at(&store, "lat", i64::MIN, i64::MAX), hs(0, 100));
}
