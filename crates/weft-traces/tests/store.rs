//! Trace store behaviour on real files: heads, cuts, reopen, crash leftovers, compaction and
//! retention.

use std::sync::Arc;
use std::time::Duration;

use bytesize::ByteSize;
use prost::Message;
use weft_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weft_core::otlp::common::v1::{any_value, AnyValue, KeyValue};
use weft_core::otlp::resource::v1::Resource;
use weft_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};
use weft_core::telemetry::SelfMetrics;
use weft_core::TenantId;
use weft_traces::raw::RawBatch;
use weft_traces::{TraceStore, TraceStoreConfig};

const NOW: u64 = 1_800_000_000_000_000_000;

fn span(trace: [u8; 16], id: u64, start: u64) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: id.to_be_bytes().to_vec(),
        name: format!("op-{id}"),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000_000,
        ..Default::default()
    }
}

fn batch(service: &str, spans: Vec<Span>) -> Vec<ResourceSpans> {
    vec![ResourceSpans {
        resource: Some(Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(service.into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }]
}

/// Applies a batch the way the pipeline does: as protobuf bytes read by the raw parser.
fn apply(store: &TraceStore, tenant: &TenantId, batch: Vec<ResourceSpans>) {
    let bytes = ExportTraceServiceRequest {
        resource_spans: batch,
    }
    .encode_to_vec();
    store.apply(tenant, &RawBatch::parse(&bytes).unwrap());
}

fn trace_id(n: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    id[0] = 0xab;
    id
}

fn open(dir: &std::path::Path, cfg: TraceStoreConfig) -> Arc<TraceStore> {
    TraceStore::open(dir, cfg, SelfMetrics::new()).unwrap()
}

fn span_ids(bytes: &[u8]) -> Vec<Vec<u8>> {
    let trace = TracesData::decode(bytes).unwrap();
    let mut ids: Vec<Vec<u8>> = trace
        .resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter().map(|s| s.span_id.clone()))
        .collect();
    ids.sort();
    ids
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

#[test]
fn spans_are_found_in_head_then_in_blocks_then_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("team-a");
    let store = open(dir.path(), TraceStoreConfig::default());
    apply(
        &store,
        &t,
        batch(
            "a",
            vec![span(trace_id(1), 1, NOW), span(trace_id(2), 2, NOW)],
        ),
    );
    apply(&store, &t, batch("b", vec![span(trace_id(1), 3, NOW + 10)]));
    assert_eq!(
        span_ids(&store.find_trace(&t, &trace_id(1)).unwrap().unwrap()).len(),
        2
    );

    let cut = store.cut_heads();
    store.write_cut(&cut, 7).unwrap();
    assert_eq!(store.wal_checkpoint(), 7);
    // A late span of the same trace lands in the new head; reads merge block and head.
    apply(&store, &t, batch("c", vec![span(trace_id(1), 4, NOW + 20)]));
    let ids = span_ids(&store.find_trace(&t, &trace_id(1)).unwrap().unwrap());
    assert_eq!(ids.len(), 3);
    assert!(store.find_trace(&t, &trace_id(99)).unwrap().is_none());
    assert!(store
        .find_trace(&tenant("other"), &trace_id(1))
        .unwrap()
        .is_none());
    drop(store);

    let store = open(dir.path(), TraceStoreConfig::default());
    assert_eq!(store.wal_checkpoint(), 7);
    // The head was not persisted by the store itself (the WAL replays it); the block was.
    assert_eq!(
        span_ids(&store.find_trace(&t, &trace_id(1)).unwrap().unwrap()).len(),
        2
    );
    assert_eq!(
        span_ids(&store.find_trace(&t, &trace_id(2)).unwrap().unwrap()).len(),
        1
    );
}

#[test]
fn blocks_of_an_unfinished_cut_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("t");
    let store = open(dir.path(), TraceStoreConfig::default());
    apply(&store, &t, batch("a", vec![span(trace_id(1), 1, NOW)]));
    let cut = store.cut_heads();
    store.write_cut(&cut, 3).unwrap();
    apply(&store, &t, batch("a", vec![span(trace_id(1), 2, NOW)]));
    let cut = store.cut_heads();
    store.write_cut(&cut, 5).unwrap();
    drop(store);
    // Simulate a crash after the second cut's block was written but before its checkpoint
    // was recorded: put the old checkpoint back.
    std::fs::write(dir.path().join("checkpoint.json"), br#"{"wal_segment":3}"#).unwrap();
    let store = open(dir.path(), TraceStoreConfig::default());
    assert_eq!(store.wal_checkpoint(), 3);
    // Only the first block survives; the second's data would come back from the WAL.
    let ids = span_ids(&store.find_trace(&t, &trace_id(1)).unwrap().unwrap());
    assert_eq!(ids, vec![1u64.to_be_bytes().to_vec()]);
}

#[test]
fn compaction_merges_a_trace_split_across_blocks_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("t");
    let cfg = TraceStoreConfig {
        compaction_min_blocks: 3,
        ..Default::default()
    };
    let store = open(dir.path(), cfg.clone());
    for i in 0..4u64 {
        apply(
            &store,
            &t,
            batch(
                "a",
                vec![
                    span(trace_id(1), 10 + i, NOW),
                    span(trace_id(100 + i), i, NOW),
                ],
            ),
        );
        let cut = store.cut_heads();
        store.write_cut(&cut, i + 1).unwrap();
    }
    assert_eq!(store.compact(0).unwrap(), 1);
    assert_eq!(store.compact(0).unwrap(), 0, "one merged block is left");
    let ids = span_ids(&store.find_trace(&t, &trace_id(1)).unwrap().unwrap());
    assert_eq!(ids.len(), 4);
    for i in 0..4u64 {
        assert!(store.find_trace(&t, &trace_id(100 + i)).unwrap().is_some());
    }
    drop(store);
    let blocks = std::fs::read_dir(dir.path().join("blocks").join("t"))
        .unwrap()
        .count();
    assert_eq!(
        blocks, 1,
        "inputs are deleted after the merged block is published"
    );
    let store = open(dir.path(), cfg);
    assert_eq!(
        span_ids(&store.find_trace(&t, &trace_id(1)).unwrap().unwrap()).len(),
        4
    );
}

#[test]
fn retention_by_age_and_by_bytes_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let t = tenant("t");
    let cfg = TraceStoreConfig {
        retention: Duration::from_secs(3600),
        ..Default::default()
    };
    let store = open(dir.path(), cfg);
    let hour = 3_600_000_000_000u64;
    for (i, start) in [NOW - 3 * hour, NOW - 2 * hour, NOW - 10]
        .into_iter()
        .enumerate()
    {
        apply(
            &store,
            &t,
            batch("a", vec![span(trace_id(i as u64), 1, start)]),
        );
        let cut = store.cut_heads();
        store.write_cut(&cut, i as u64 + 1).unwrap();
    }
    assert_eq!(store.enforce_retention(NOW, 0).unwrap(), 2);
    assert!(store.find_trace(&t, &trace_id(0)).unwrap().is_none());
    assert!(store.find_trace(&t, &trace_id(2)).unwrap().is_some());

    // By bytes: a budget smaller than two blocks keeps only the newest.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), TraceStoreConfig::default());
    for i in 0..5u64 {
        let spans = (0..50).map(|s| span(trace_id(i), s + 1, NOW + i)).collect();
        apply(&store, &t, batch("a", spans));
        let cut = store.cut_heads();
        store.write_cut(&cut, i + 1).unwrap();
    }
    let per_block = store.block_bytes() / 5;
    let cfg = TraceStoreConfig {
        max_bytes: ByteSize::b(per_block * 2 - 1),
        ..Default::default()
    };
    drop(store);
    let store = open(dir.path(), cfg);
    store.enforce_retention(NOW, 0).unwrap();
    assert!(store.block_bytes() <= per_block * 2);
    assert!(
        store.find_trace(&t, &trace_id(4)).unwrap().is_some(),
        "newest block kept"
    );
    assert!(
        store.find_trace(&t, &trace_id(0)).unwrap().is_none(),
        "oldest block deleted"
    );
    assert!(!store.over_budget());
    // WAL bytes count against the budget too: with a WAL bigger than the budget nothing can
    // fit, every block goes and the store reports the pressure.
    store.enforce_retention(NOW, per_block * 10).unwrap();
    assert_eq!(store.block_bytes(), 0);
    assert!(store.over_budget());
}
