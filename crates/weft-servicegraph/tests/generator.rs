//! Generator behaviour, driven by OTLP protobuf bytes built here.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use weft_metrics::model::MetricWrite;
use weft_servicegraph::{Generator, GeneratorConfig, InferredClientSpan};
use weft_traces::raw::RawBatch;

const SEC: u64 = 1_000_000_000;
/// A fixed "now" (2026-01-01T00:00:30Z) in ns.
const T0: u64 = 1_767_225_630 * SEC;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn kvi(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

struct S {
    trace: u8,
    id: u8,
    parent: u8,
    kind: span::SpanKind,
    name: &'static str,
    start: u64,
    end: u64,
    error: bool,
    attrs: Vec<KeyValue>,
    links: Vec<(u8, u8)>,
}

fn s(trace: u8, id: u8, parent: u8, kind: span::SpanKind) -> S {
    S {
        trace,
        id,
        parent,
        kind,
        name: "op",
        start: T0 - SEC,
        end: T0 - SEC / 2,
        error: false,
        attrs: Vec::new(),
        links: Vec::new(),
    }
}

impl S {
    fn dur(mut self, secs: f64) -> Self {
        self.end = self.start + (secs * 1e9) as u64;
        self
    }
    fn err(mut self) -> Self {
        self.error = true;
        self
    }
    fn attr(mut self, k: &str, v: &str) -> Self {
        self.attrs.push(kv(k, v));
        self
    }
    fn named(mut self, n: &'static str) -> Self {
        self.name = n;
        self
    }
    fn link(mut self, trace: u8, id: u8) -> Self {
        self.links.push((trace, id));
        self
    }
}

fn tid(t: u8) -> Vec<u8> {
    let mut v = vec![0u8; 16];
    v[0] = 0x0a;
    v[15] = t;
    v
}

fn sid(i: u8) -> Vec<u8> {
    if i == 0 {
        Vec::new()
    } else {
        vec![0, 0, 0, 0, 0, 0, 0, i]
    }
}

fn encode_with(resources: Vec<(Vec<KeyValue>, Vec<S>)>) -> Vec<u8> {
    let req = ExportTraceServiceRequest {
        resource_spans: resources
            .into_iter()
            .map(|(rattrs, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: rattrs,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: spans
                        .into_iter()
                        .map(|x| Span {
                            trace_id: tid(x.trace),
                            span_id: sid(x.id),
                            parent_span_id: sid(x.parent),
                            name: x.name.into(),
                            kind: x.kind as i32,
                            start_time_unix_nano: x.start,
                            end_time_unix_nano: x.end,
                            attributes: x.attrs,
                            links: x
                                .links
                                .iter()
                                .map(|&(t, i)| span::Link {
                                    trace_id: tid(t),
                                    span_id: sid(i),
                                    ..Default::default()
                                })
                                .collect(),
                            status: x.error.then(|| Status {
                                code: 2,
                                message: "boom".into(),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    };
    req.encode_to_vec()
}

fn encode(svc: &str, spans: Vec<S>) -> Vec<u8> {
    encode_with(vec![(vec![kv("service.name", svc)], spans)])
}

fn push(g: &mut Generator, bytes: &[u8], now: u64) {
    let batch = RawBatch::parse(bytes).expect("valid batch");
    g.push(&batch, now);
}

/// Latest value of the series named `name` whose labels include all of `want`.
fn value(w: &MetricWrite, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    w.series
        .iter()
        .find(|s| {
            s.labels.metric_name() == Some(name)
                && want.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .and_then(|s| s.samples.last().map(|x| x.1))
}

fn count_series(w: &MetricWrite, name: &str) -> usize {
    w.series
        .iter()
        .filter(|s| s.labels.metric_name() == Some(name))
        .count()
}

use span::SpanKind::{Client, Consumer, Internal, Producer, Server};

fn gen() -> Generator {
    Generator::new(&GeneratorConfig::default()).unwrap()
}

const NOW_MS: i64 = (T0 / 1_000_000) as i64;

#[test]
fn client_then_server_in_one_batch_and_server_first_across_batches() {
    let mut g = gen();
    push(
        &mut g,
        &encode("front", vec![s(1, 1, 0, Client).dur(0.3)]),
        T0,
    );
    push(
        &mut g,
        &encode("back", vec![s(1, 2, 1, Server).dur(0.25)]),
        T0,
    );
    // Server first, client in a later batch.
    push(
        &mut g,
        &encode("back", vec![s(2, 2, 1, Server).dur(0.05)]),
        T0,
    );
    push(
        &mut g,
        &encode("front", vec![s(2, 1, 0, Client).dur(0.06)]),
        T0 + SEC,
    );
    let w = g.collect(NOW_MS + 1000);
    let l = [("client", "front"), ("server", "back")];
    assert_eq!(
        value(&w, "traces_service_graph_request_total", &l),
        Some(2.0)
    );
    assert_eq!(
        value(&w, "traces_service_graph_request_failed_total", &l),
        None
    );
    let series = w
        .series
        .iter()
        .find(|s| s.labels.metric_name() == Some("traces_service_graph_request_total"))
        .unwrap();
    assert_eq!(
        series.labels.get("connection_type"),
        None,
        "direct calls have no connection_type"
    );
    // New series start with a zero at the end of the previous minute.
    assert_eq!(series.samples.len(), 2);
    assert_eq!(series.samples[0].1, 0.0);
    assert_eq!(series.samples[0].0 % 60_000, 59_999);
    // server latencies 0.25 and 0.05: both ≤ 0.4, one ≤ 0.1.
    let h = "traces_service_graph_request_server_seconds_bucket";
    assert_eq!(value(&w, h, &[("le", "0.1")]), Some(1.0));
    assert_eq!(value(&w, h, &[("le", "0.2")]), Some(1.0));
    assert_eq!(value(&w, h, &[("le", "0.4")]), Some(2.0));
    assert_eq!(value(&w, h, &[("le", "+Inf")]), Some(2.0));
    assert_eq!(count_series(&w, h), 9);
    let sum = value(&w, "traces_service_graph_request_server_seconds_sum", &l).unwrap();
    assert!((sum - 0.30).abs() < 1e-9);
    assert_eq!(
        value(&w, "traces_service_graph_request_client_seconds_count", &l),
        Some(2.0)
    );
    assert_eq!(g.stats().pending_edges, 0);
    assert_eq!(g.stats().edges_total, 2);
    // Exemplars: traceID without leading zeros? (trace IDs start with 0x0a → "a…").
    let ex: Vec<_> = w
        .series
        .iter()
        .filter(|s| s.labels.metric_name() == Some(h))
        .flat_map(|s| s.exemplars.iter())
        .collect();
    assert_eq!(ex.len(), 2);
    assert!(ex.iter().all(|e| e
        .labels
        .get("traceID")
        .is_some_and(|t| t.starts_with("a0000"))));
    // Exemplars are written once; the next collection has none and no zero sample.
    let w2 = g.collect(NOW_MS + 16_000);
    assert_eq!(w2.exemplar_count(), 0);
    let again = w2
        .series
        .iter()
        .find(|s| s.labels.metric_name() == Some("traces_service_graph_request_total"))
        .unwrap();
    assert_eq!(again.samples, vec![(NOW_MS + 16_000, 2.0)]);
}

#[test]
fn pairing_at_the_edge_of_the_wait_window() {
    let mut g = gen();
    push(&mut g, &encode("a", vec![s(1, 1, 0, Client)]), T0);
    push(
        &mut g,
        &encode("b", vec![s(1, 2, 1, Server)]),
        T0 + 10 * SEC - 1,
    );
    push(&mut g, &encode("a", vec![s(2, 1, 0, Client)]), T0);
    // Exactly `wait` later the client edge has expired (no peer attribute: counted).
    push(
        &mut g,
        &encode("b", vec![s(2, 2, 1, Server)]),
        T0 + 20 * SEC,
    );
    let w = g.collect(NOW_MS + 20_000);
    assert_eq!(
        value(
            &w,
            "traces_service_graph_request_total",
            &[("client", "a"), ("server", "b")]
        ),
        Some(1.0)
    );
    let st = g.stats();
    assert_eq!(st.expired_edges[3], 1, "the lone client span");
    assert_eq!(st.pending_edges, 1, "the late server span waits");
    assert_eq!(
        value(
            &w,
            "tempo_metrics_generator_processor_service_graphs_expired_edges",
            &[("unmatched_span_kind", "SPAN_KIND_CLIENT")]
        ),
        Some(1.0)
    );
}

#[test]
fn expiry_into_virtual_nodes() {
    let mut cfg = GeneratorConfig::default();
    cfg.service_graphs.enable_virtual_node_label = true;
    let mut g = Generator::new(&cfg).unwrap();
    push(
        &mut g,
        &encode(
            "shop",
            vec![
                // Root server span, no peer attribute: caller is "user".
                s(1, 1, 0, Server),
                // Root server span with peer.service: caller is that peer.
                s(2, 1, 0, Server).attr("peer.service", "mobile-app"),
                // Client to an uninstrumented service named by peer.service.
                s(3, 1, 0, Client).attr("peer.service", "payments-api"),
                // Client whose only hint is db.name … is a database call (completes at once).
                s(4, 1, 0, Client).attr("db.name", "orders"),
                // Non-root server span whose client never comes: expired, nothing emitted.
                s(5, 2, 9, Server),
            ],
        ),
        T0,
    );
    assert_eq!(g.stats().pending_edges, 4);
    let w = g.collect(NOW_MS + 10_000);
    let v = |c: &str, sv: &str| {
        value(
            &w,
            "traces_service_graph_request_total",
            &[
                ("client", c),
                ("server", sv),
                ("connection_type", "virtual_node"),
            ],
        )
    };
    assert_eq!(v("user", "shop"), Some(1.0));
    assert_eq!(v("mobile-app", "shop"), Some(1.0));
    assert_eq!(v("shop", "payments-api"), Some(1.0));
    assert_eq!(
        value(
            &w,
            "traces_service_graph_request_total",
            &[("client", "user"), ("virtual_node", "client")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &w,
            "traces_service_graph_request_total",
            &[("server", "payments-api"), ("virtual_node", "server")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &w,
            "traces_service_graph_request_total",
            &[("server", "orders"), ("connection_type", "database")]
        ),
        Some(1.0)
    );
    assert_eq!(g.stats().expired_edges[2], 1);
    assert_eq!(g.stats().pending_edges, 0);
}

#[test]
fn database_edges_named_as_tempo_names_them_with_db_system() {
    let mut g = gen();
    push(
        &mut g,
        &encode(
            "api",
            vec![
                s(1, 1, 0, Client)
                    .attr("db.system", "postgresql")
                    .attr("db.name", "shop")
                    .attr("server.address", "pg.internal")
                    .dur(0.15),
                s(2, 1, 0, Client)
                    .attr("db.system", "redis")
                    .attr("db.namespace", "0"),
                s(3, 1, 0, Client)
                    .attr("db.system.name", "mysql")
                    .attr("network.peer.address", "10.0.0.7")
                    .attr("network.peer.port", "3306"),
                s(4, 1, 0, Client)
                    .attr("db.name", "x")
                    .attr("peer.service", "billing-db"),
            ],
        ),
        T0,
    );
    let w = g.collect(NOW_MS);
    let db = |server: &str, system: Option<&str>| {
        let mut want = vec![
            ("client", "api"),
            ("server", server),
            ("connection_type", "database"),
        ];
        if let Some(sys) = system {
            want.push(("db_system", sys));
        }
        value(&w, "traces_service_graph_request_total", &want)
    };
    assert_eq!(db("pg.internal", Some("postgresql")), Some(1.0));
    assert_eq!(db("0", Some("redis")), Some(1.0));
    assert_eq!(db("10.0.0.7:3306", Some("mysql")), Some(1.0));
    assert_eq!(db("billing-db", None), Some(1.0));
    // Server latency of a database edge is the client span's duration.
    let sum = value(
        &w,
        "traces_service_graph_request_server_seconds_sum",
        &[("server", "pg.internal")],
    )
    .unwrap();
    assert!((sum - 0.15).abs() < 1e-9);
    assert_eq!(g.stats().pending_edges, 0);
}

#[test]
fn messaging_edges_links_and_broker_node() {
    let mut cfg = GeneratorConfig::default();
    cfg.service_graphs.enable_messaging_system_latency_histogram = true;
    let mut g = Generator::new(&cfg).unwrap();
    let mut producer = s(1, 1, 0, Producer).dur(0.01);
    producer.end = T0 - 2 * SEC;
    producer.start = producer.end - SEC / 100;
    let mut consumer = s(1, 2, 1, Consumer).dur(0.02);
    consumer.start = T0 - SEC; // 1 s in the queue
    consumer.end = consumer.start + SEC / 50;
    push(&mut g, &encode("orders", vec![producer]), T0);
    push(&mut g, &encode("mailer", vec![consumer]), T0);
    // A batch consumer in its own trace, linked to producer spans of two traces.
    push(
        &mut g,
        &encode("orders", vec![s(7, 1, 0, Producer), s(8, 1, 0, Producer)]),
        T0,
    );
    let mut batch_consumer = s(9, 5, 4, Consumer).link(7, 1).link(8, 1);
    batch_consumer.start = T0; // producers ended at T0 - 0.5 s
    batch_consumer.end = T0 + SEC / 10;
    push(&mut g, &encode("mailer", vec![batch_consumer]), T0);
    let w = g.collect(NOW_MS);
    let l = [
        ("client", "orders"),
        ("server", "mailer"),
        ("connection_type", "messaging_system"),
    ];
    assert_eq!(
        value(&w, "traces_service_graph_request_total", &l),
        Some(3.0)
    );
    assert_eq!(
        value(
            &w,
            "traces_service_graph_request_messaging_system_seconds_count",
            &l
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &w,
            "traces_service_graph_request_messaging_system_seconds_bucket",
            &[("le", "0.8")]
        ),
        Some(2.0),
        "the two linked pairs were 0.5 s apart, the first 1 s"
    );
    assert_eq!(g.stats().pending_edges, 0);

    // Broker node.
    let mut cfg = GeneratorConfig::default();
    cfg.service_graphs.messaging_broker_node = true;
    let mut g = Generator::new(&cfg).unwrap();
    push(
        &mut g,
        &encode(
            "orders",
            vec![s(1, 1, 0, Producer).attr("messaging.system", "kafka")],
        ),
        T0,
    );
    push(
        &mut g,
        &encode(
            "mailer",
            vec![s(1, 2, 1, Consumer).attr("messaging.system", "kafka").err()],
        ),
        T0,
    );
    let w = g.collect(NOW_MS);
    let t = "traces_service_graph_request_total";
    assert_eq!(
        value(&w, t, &[("client", "orders"), ("server", "kafka")]),
        Some(1.0)
    );
    assert_eq!(
        value(&w, t, &[("client", "kafka"), ("server", "mailer")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &w,
            "traces_service_graph_request_failed_total",
            &[("client", "kafka")]
        ),
        Some(1.0)
    );
    assert_eq!(g.stats().pending_edges, 0);
}

#[test]
fn failed_when_either_side_errors() {
    let mut g = gen();
    push(
        &mut g,
        &encode(
            "a",
            vec![
                s(1, 1, 0, Client).err(),
                s(2, 1, 0, Client),
                s(3, 1, 0, Client),
            ],
        ),
        T0,
    );
    push(
        &mut g,
        &encode(
            "b",
            vec![
                s(1, 2, 1, Server),
                s(2, 2, 1, Server).err(),
                s(3, 2, 1, Server),
            ],
        ),
        T0,
    );
    let w = g.collect(NOW_MS);
    let l = [("client", "a"), ("server", "b")];
    assert_eq!(
        value(&w, "traces_service_graph_request_total", &l),
        Some(3.0)
    );
    assert_eq!(
        value(&w, "traces_service_graph_request_failed_total", &l),
        Some(2.0)
    );
}

#[test]
fn dimensions_with_and_without_prefix() {
    let spans = |g: &mut Generator| {
        push(
            g,
            &encode_with(vec![(
                vec![kv("service.name", "a"), kv("k8s.namespace.name", "ns-a")],
                vec![s(1, 1, 0, Client)],
            )]),
            T0,
        );
        push(
            g,
            &encode_with(vec![(
                vec![kv("service.name", "b"), kv("k8s.namespace.name", "ns-b")],
                vec![s(1, 2, 1, Server)],
            )]),
            T0,
        );
    };
    let mut cfg = GeneratorConfig::default();
    cfg.service_graphs.dimensions = vec!["k8s.namespace.name".into()];
    let mut g = Generator::new(&cfg).unwrap();
    spans(&mut g);
    let w = g.collect(NOW_MS);
    // Without prefix, the side upserted last (the server) wins.
    assert_eq!(
        value(
            &w,
            "traces_service_graph_request_total",
            &[("k8s_namespace_name", "ns-b")]
        ),
        Some(1.0)
    );
    cfg.service_graphs.enable_client_server_prefix = true;
    let mut g = Generator::new(&cfg).unwrap();
    spans(&mut g);
    let w = g.collect(NOW_MS);
    assert_eq!(
        value(
            &w,
            "traces_service_graph_request_total",
            &[
                ("client_k8s_namespace_name", "ns-a"),
                ("server_k8s_namespace_name", "ns-b")
            ]
        ),
        Some(1.0)
    );
    // Clashing dimension labels are refused.
    cfg.service_graphs.dimensions = vec!["a.b".into(), "a_b".into()];
    assert!(Generator::new(&cfg).is_err());
}

#[test]
fn span_metrics_values_and_buckets() {
    let mut cfg = GeneratorConfig::default();
    cfg.span_metrics.dimensions = vec!["http.method".into(), "service".into()];
    let mut g = Generator::new(&cfg).unwrap();
    let bytes = encode(
        "api",
        vec![
            s(1, 1, 0, Server)
                .named("GET /")
                .dur(0.003)
                .attr("http.method", "GET"),
            s(1, 2, 1, Internal).named("GET /").dur(0.003),
            s(2, 1, 0, Server)
                .named("GET /")
                .dur(1.0)
                .attr("http.method", "GET")
                .err(),
            s(3, 1, 0, Server)
                .named("GET /")
                .dur(20.0)
                .attr("http.method", "GET"),
        ],
    );
    push(&mut g, &bytes, T0);
    let w = g.collect(NOW_MS);
    let server_ok = [
        ("service", "api"),
        ("span_name", "GET /"),
        ("span_kind", "SPAN_KIND_SERVER"),
        ("status_code", "STATUS_CODE_UNSET"),
        ("http_method", "GET"),
    ];
    assert_eq!(
        value(&w, "traces_spanmetrics_calls_total", &server_ok),
        Some(2.0)
    );
    assert_eq!(
        value(
            &w,
            "traces_spanmetrics_calls_total",
            &[("status_code", "STATUS_CODE_ERROR")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &w,
            "traces_spanmetrics_calls_total",
            &[("span_kind", "SPAN_KIND_INTERNAL")]
        ),
        Some(1.0)
    );
    let b = "traces_spanmetrics_latency_bucket";
    let with = |le: &'static str| {
        let mut l = server_ok.to_vec();
        l.push(("le", le));
        value(&w, b, &l)
    };
    assert_eq!(with("0.002"), Some(0.0));
    assert_eq!(with("0.004"), Some(1.0));
    assert_eq!(with("16.384"), Some(1.0));
    assert_eq!(with("+Inf"), Some(2.0));
    assert_eq!(
        value(&w, "traces_spanmetrics_latency_count", &server_ok),
        Some(2.0)
    );
    let size = value(&w, "traces_spanmetrics_size_total", &server_ok).unwrap();
    assert!(size > 20.0, "size is the encoded span bytes: {size}");
    // The 'service' dimension collides with the intrinsic label and is prefixed.
    assert!(w.series.iter().all(|s| s.labels.get("__service").is_none()));
    assert!(w
        .metadata
        .iter()
        .any(|m| m.metric == "traces_spanmetrics_latency" && m.kind.as_str() == "histogram"));
    // Services without edges are still nodes.
    assert_eq!(
        value(
            &w,
            "traces_service_graph_service_span_total",
            &[("service", "api")]
        ),
        Some(4.0)
    );
}

#[test]
fn stale_markers_then_forgotten() {
    let cfg = GeneratorConfig {
        stale_after: std::time::Duration::from_secs(60),
        ..Default::default()
    };
    let mut g = Generator::new(&cfg).unwrap();
    push(&mut g, &encode("a", vec![s(1, 1, 0, Client)]), T0);
    push(&mut g, &encode("b", vec![s(1, 2, 1, Server)]), T0);
    let w = g.collect(NOW_MS + 30_000);
    assert!(value(&w, "traces_service_graph_request_total", &[]).is_some());
    let before = g.series_count();
    assert!(before > 0);
    let w = g.collect(NOW_MS + 61_000);
    let total = w
        .series
        .iter()
        .find(|s| s.labels.metric_name() == Some("traces_service_graph_request_total"))
        .unwrap();
    assert_eq!(total.samples.len(), 1);
    assert_eq!(total.samples[0].1.to_bits(), 0x7ff0_0000_0000_0002);
    let bucket_markers = w
        .series
        .iter()
        .filter(|s| {
            s.labels.metric_name() == Some("traces_spanmetrics_latency_bucket")
                && s.samples[0].1.to_bits() == 0x7ff0_0000_0000_0002
        })
        .count();
    assert_eq!(bucket_markers, 2 * 15);
    assert_eq!(g.series_count(), 0);
    let w = g.collect(NOW_MS + 90_000);
    assert_eq!(count_series(&w, "traces_service_graph_request_total"), 0);
}

#[test]
fn max_items_bounds_the_store_and_counts_drops() {
    let mut cfg = GeneratorConfig::default();
    cfg.service_graphs.max_items = 3;
    let mut g = Generator::new(&cfg).unwrap();
    let spans = (1..=5).map(|t| s(t, 1, 0, Client)).collect();
    push(&mut g, &encode("a", spans), T0);
    let st = g.stats();
    assert_eq!(st.pending_edges, 3);
    assert_eq!(st.dropped_spans, 2);
    // The server side of a stored edge still pairs while full.
    push(&mut g, &encode("b", vec![s(1, 2, 1, Server)]), T0);
    assert_eq!(g.stats().pending_edges, 2);
    let w = g.collect(NOW_MS);
    assert_eq!(
        value(
            &w,
            "tempo_metrics_generator_processor_service_graphs_dropped_spans",
            &[]
        ),
        Some(2.0)
    );
}

#[test]
fn spans_outside_the_ingestion_slack_are_ignored() {
    let mut g = gen();
    let mut old = s(1, 1, 0, Client);
    old.start = T0 - 120 * SEC;
    old.end = T0 - 119 * SEC;
    push(&mut g, &encode("a", vec![old]), T0);
    assert_eq!(g.stats().spans_discarded_slack, 1);
    assert_eq!(g.stats().pending_edges, 0);
}

/// interLink's Virtual Kubelet (seed 003) records its calls to the interLink API as INTERNAL
/// spans named `*HttpCall` (tracer "interlink-service", plain `http.Client`, no context
/// propagation) with `pod.name`, `pod.namespace`, `start.timestamp`, `exit.code`… An inferred
/// client rule turns them into the VK → interLink API edge.
#[test]
fn virtual_kubelet_to_interlink_api_edge() {
    let mut cfg = GeneratorConfig::default();
    cfg.service_graphs.inferred_client_spans = vec![InferredClientSpan {
        service: "(?i).*virtual.?kubelet.*|VK-.*".into(),
        span_name: "(Create|Delete|Status|Log|Ping|UpdateCache)HttpCall".into(),
        peer: "interlink-api".into(),
    }];
    let mut g = Generator::new(&cfg).unwrap();
    let vk = |t: u8, name: &'static str| {
        let mut x = s(t, 2, 1, Internal).named(name).dur(0.2);
        x.attrs = vec![
            kv("pod.name", "job-1"),
            kv("pod.namespace", "default"),
            kvi("start.timestamp", 1_767_225_629_000_000),
            kvi("exit.code", 200),
        ];
        x
    };
    push(
        &mut g,
        &encode(
            "VK-interlink-node",
            vec![
                s(1, 1, 0, Internal).named("CreatePodVK"),
                vk(1, "CreateHttpCall"),
                s(2, 1, 0, Internal).named("GetPodStatusVK"),
                vk(2, "StatusHttpCall"),
                vk(3, "PingHttpCall"),
            ],
        ),
        T0,
    );
    // The API spans (if any) live in other traces; after `wait` the calls end in the peer.
    let w = g.collect(NOW_MS + 10_000);
    let l = [
        ("client", "VK-interlink-node"),
        ("server", "interlink-api"),
        ("connection_type", "virtual_node"),
    ];
    assert_eq!(
        value(&w, "traces_service_graph_request_total", &l),
        Some(3.0)
    );
    assert_eq!(
        value(
            &w,
            "traces_spanmetrics_calls_total",
            &[("span_name", "CreatePodVK")]
        ),
        Some(1.0)
    );
    // Without the rule Tempo's semantics give no edge at all.
    let mut g = gen();
    push(
        &mut g,
        &encode("VK-interlink-node", vec![vk(1, "CreateHttpCall")]),
        T0,
    );
    let w = g.collect(NOW_MS + 10_000);
    assert_eq!(count_series(&w, "traces_service_graph_request_total"), 0);
    // An instrumented API that does receive the context pairs as a normal edge.
    let mut cfg2 = cfg.clone();
    cfg2.service_graphs.wait = std::time::Duration::from_secs(10);
    let mut g = Generator::new(&cfg2).unwrap();
    push(
        &mut g,
        &encode("VK-interlink-node", vec![vk(4, "CreateHttpCall")]),
        T0,
    );
    push(
        &mut g,
        &encode("interlink-api-server", vec![s(4, 3, 2, Server)]),
        T0,
    );
    let w = g.collect(NOW_MS);
    assert_eq!(
        value(
            &w,
            "traces_service_graph_request_total",
            &[
                ("client", "VK-interlink-node"),
                ("server", "interlink-api-server")
            ]
        ),
        Some(1.0)
    );
}

#[test]
fn resources_without_service_name_give_span_metrics_only() {
    let mut g = gen();
    let bytes = encode_with(vec![(vec![], vec![s(1, 1, 0, Client)])]);
    push(&mut g, &bytes, T0);
    assert_eq!(g.stats().pending_edges, 0);
    let w = g.collect(NOW_MS);
    assert_eq!(
        value(
            &w,
            "traces_spanmetrics_calls_total",
            &[("span_kind", "SPAN_KIND_CLIENT")]
        ),
        Some(1.0)
    );
}

#[test]
fn push_never_panics_on_odd_spans() {
    // Odd ID lengths, zero parent, huge kind/status numbers: raw bytes through RawBatch.
    let mut g = gen();
    let mut x = s(1, 1, 0, Server);
    x.start = T0;
    x.end = T0 - SEC; // negative duration → 0
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "z")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1, 2, 3],
                    span_id: vec![9; 3],
                    parent_span_id: vec![0; 8],
                    kind: 77,
                    status: Some(Status {
                        code: 99,
                        message: String::new(),
                    }),
                    start_time_unix_nano: x.start,
                    end_time_unix_nano: x.end,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    push(&mut g, &req.encode_to_vec(), T0);
    push(&mut g, &encode("z", vec![x]), T0);
    let w = g.collect(NOW_MS + 20_000);
    assert_eq!(
        value(
            &w,
            "traces_service_graph_request_total",
            &[("client", "user"), ("server", "z")]
        ),
        Some(1.0)
    );
}

#[test]
fn tenants_never_pair_with_each_other() {
    use weft_core::tenant::TenantId;
    let mut gens = weft_servicegraph::Generators::new(GeneratorConfig::default()).unwrap();
    let a = TenantId::parse("team-a").unwrap();
    let b = TenantId::parse("team-b").unwrap();
    let client = encode("front", vec![s(1, 1, 0, Client)]);
    let server = encode("back", vec![s(1, 2, 1, Server)]);
    gens.push(&a, &RawBatch::parse(&client).unwrap(), T0);
    gens.push(&b, &RawBatch::parse(&server).unwrap(), T0);
    let out = gens.collect(NOW_MS);
    assert_eq!(out.len(), 2);
    for (_, w) in &out {
        assert_eq!(count_series(w, "traces_service_graph_request_total"), 0);
    }
    assert_eq!(gens.get(&a).unwrap().stats().pending_edges, 1);
}
