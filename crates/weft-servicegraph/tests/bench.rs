//! Throughput of `Generator::push` on one core. Run with
//! `cargo test --release -p weft-servicegraph --test bench -- --ignored --nocapture`.

use std::time::Instant;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, ResourceSpans, ScopeSpans, Span};
use prost::Message;
use weft_servicegraph::{Generator, GeneratorConfig};
use weft_traces::raw::RawBatch;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

/// 1,000 spans: 20 services, each trace a client span and its server span (plus an
/// internal span), typical HTTP attributes.
fn batch(now_ns: u64) -> Vec<u8> {
    let mut resources = Vec::new();
    for svc in 0..20u32 {
        let mut spans = Vec::new();
        for t in 0..17u32 {
            let mut trace_id = vec![0u8; 16];
            trace_id[..4].copy_from_slice(&svc.to_be_bytes());
            trace_id[4..8].copy_from_slice(&t.to_be_bytes());
            trace_id[15] = 1;
            let attrs = vec![
                kv("http.request.method", "GET"),
                kv("url.path", "/api/v1/items"),
                kv("http.route", "/api/v1/items"),
                kv("server.address", "items"),
            ];
            let mk = |id: u8, parent: u8, kind: SpanKind, name: &str| Span {
                trace_id: trace_id.clone(),
                span_id: vec![0, 0, 0, 0, 0, 0, 1, id],
                parent_span_id: if parent == 0 {
                    vec![]
                } else {
                    vec![0, 0, 0, 0, 0, 0, 1, parent]
                },
                name: name.into(),
                kind: kind as i32,
                start_time_unix_nano: now_ns - 2_000_000,
                end_time_unix_nano: now_ns - 1_000_000,
                attributes: attrs.clone(),
                ..Default::default()
            };
            spans.push(mk(1, 0, SpanKind::Client, "GET"));
            spans.push(mk(2, 1, SpanKind::Server, "GET /api/v1/items"));
            spans.push(mk(3, 2, SpanKind::Internal, "load items"));
        }
        resources.push(ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", &format!("svc-{svc}")),
                    kv("k8s.namespace.name", "prod"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    ExportTraceServiceRequest {
        resource_spans: resources,
    }
    .encode_to_vec()
}

#[test]
#[ignore]
fn push_throughput() {
    let now = 1_767_225_630_000_000_000u64;
    let bytes = batch(now);
    let parsed = RawBatch::parse(&bytes).unwrap();
    let spans = parsed.span_count() as u64;
    let mut g = Generator::new(&GeneratorConfig::default()).unwrap();
    for _ in 0..200 {
        g.push(&parsed, now);
    }
    let rounds = 3_000u64;
    let t = Instant::now();
    for _ in 0..rounds {
        g.push(&parsed, now);
    }
    let push_rate = (rounds * spans) as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..rounds / 3 {
        let b = RawBatch::parse(&bytes).unwrap();
        g.push(&b, now);
    }
    let both_rate = (rounds / 3 * spans) as f64 / t.elapsed().as_secs_f64();
    let w = g.collect((now / 1_000_000) as i64);
    println!(
        "push: {:.2} M spans/s; parse+push: {:.2} M spans/s ({} spans/batch, {} series written, stats {:?})",
        push_rate / 1e6,
        both_rate / 1e6,
        spans,
        w.series.len(),
        g.stats()
    );
    assert_eq!(g.stats().pending_edges, 0);
}
