//! Tables follow the examples of the OpenTelemetry "Prometheus and OpenMetrics Compatibility"
//! specification; expected series are computed by hand.

use weft_core::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use weft_core::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use weft_core::otlp::metrics::v1::{
    metric, number_data_point, summary_data_point::ValueAtQuantile, AggregationTemporality,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use weft_core::otlp::resource::v1::Resource;

use super::*;

const T_NS: u64 = 1_700_000_000_123_456_789;
const T_MS: i64 = 1_700_000_000_123;
const START_NS: u64 = 1_699_999_000_500_000_000;

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn kv_int(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    version: "1.2".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn number(attrs: Vec<KeyValue>, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: START_NS,
        time_unix_nano: T_NS,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("help for {name}"),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn gauge(name: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    metric(
        name,
        unit,
        metric::Data::Gauge(Gauge {
            data_points: points,
        }),
    )
}

fn sum(name: &str, unit: &str, monotonic: bool, temp: AggregationTemporality) -> Metric {
    metric(
        name,
        unit,
        metric::Data::Sum(Sum {
            data_points: vec![number(vec![], 5.0)],
            aggregation_temporality: temp as i32,
            is_monotonic: monotonic,
        }),
    )
}

fn svc() -> Vec<KeyValue> {
    vec![
        kv("service.name", "api"),
        kv("service.namespace", "shop"),
        kv("service.instance.id", "pod-1"),
    ]
}

/// Renders a label set as `name{a="b",...}` without `__name__`, for compact comparisons.
fn render(s: &PromSeries) -> String {
    let name = s.labels.metric_name().unwrap_or("").to_string();
    let rest: Vec<String> = s
        .labels
        .iter()
        .filter(|l| l.name != METRIC_NAME)
        .map(|l| format!("{}=\"{}\"", l.name, l.value))
        .collect();
    format!("{name}{{{}}}", rest.join(","))
}

fn rendered(t: &Translation) -> Vec<(String, f64)> {
    t.series
        .iter()
        .map(|s| {
            assert_eq!(s.samples.len(), 1);
            assert_eq!(s.samples[0].0, T_MS);
            (render(s), s.samples[0].1)
        })
        .collect()
}

const SCOPE: &str = "otel_scope_name=\"lib\",otel_scope_version=\"1.2\"";

#[test]
fn metric_names_follow_the_spec_table() {
    // (otlp name, unit, suffix, expected)
    let table: &[(&str, &str, TypeSuffix, &str)] = &[
        (
            "system.filesystem.usage",
            "By",
            TypeSuffix::None,
            "system_filesystem_usage_bytes",
        ),
        (
            "http.server.duration",
            "ms",
            TypeSuffix::None,
            "http_server_duration_milliseconds",
        ),
        (
            "http.server.duration",
            "s",
            TypeSuffix::None,
            "http_server_duration_seconds",
        ),
        (
            "process.cpu.time",
            "s",
            TypeSuffix::Total,
            "process_cpu_time_seconds_total",
        ),
        ("requests", "{request}", TypeSuffix::Total, "requests_total"),
        ("requests.total", "", TypeSuffix::Total, "requests_total"),
        (
            "packets",
            "{packets}/s",
            TypeSuffix::None,
            "packets_per_second",
        ),
        ("speed", "m/s", TypeSuffix::None, "speed_meters_per_second"),
        (
            "cpu.utilization",
            "1",
            TypeSuffix::Ratio,
            "cpu_utilization_ratio",
        ),
        (
            "cpu.utilization.ratio",
            "1",
            TypeSuffix::Ratio,
            "cpu_utilization_ratio",
        ),
        ("db.bytes", "By", TypeSuffix::None, "db_bytes"),
        (
            "db.bytes.read",
            "By",
            TypeSuffix::Total,
            "db_bytes_read_total",
        ),
        ("rate", "/s", TypeSuffix::None, "rate_per_second"),
        ("temp", "Cel", TypeSuffix::None, "temp_celsius"),
        ("2xx.count", "", TypeSuffix::None, "_2xx_count"),
        ("foo--bar__baz", "", TypeSuffix::None, "foo_bar_baz"),
        ("ns:metric.x", "", TypeSuffix::None, "ns:metric_x"),
        ("odd", "widget$", TypeSuffix::None, "odd_widget"),
    ];
    for (name, unit, suffix, want) in table {
        assert_eq!(
            metric_family_name(name, unit, *suffix, false),
            *want,
            "{name} [{unit}]"
        );
        assert!(weft_core::labels::is_legacy_metric_name(want));
    }
    // UTF-8 mode keeps the name and only appends suffixes.
    assert_eq!(
        metric_family_name("http.server.duration", "s", TypeSuffix::None, true),
        "http.server.duration_seconds"
    );
    assert_eq!(
        metric_family_name("requests", "", TypeSuffix::Total, true),
        "requests_total"
    );
}

#[test]
fn label_names_are_sanitised() {
    let table = [
        ("http.method", "http_method"),
        ("net/peer", "net_peer"),
        ("2fa", "key_2fa"),
        ("ok_name", "ok_name"),
        ("a..b", "a_b"),
        ("", "_"),
    ];
    for (name, want) in table {
        assert_eq!(label_name(name, false), want);
    }
    assert_eq!(label_name("http.method", true), "http.method");
}

#[test]
fn gauge_with_job_instance_scope_and_target_info() {
    let mut res = svc();
    res.push(kv("host.name", "h1"));
    res.push(kv_int("k8s.pod.count", 3));
    let req = request(
        res,
        vec![gauge(
            "system.memory.usage",
            "By",
            vec![number(vec![kv("state", "used")], 42.0)],
        )],
    );
    let t = translate(&req, &TranslateOptions::default());
    assert!(t.rejected.is_empty());
    assert_eq!(
        rendered(&t),
        vec![
            (
                format!("system_memory_usage_bytes{{instance=\"pod-1\",job=\"shop/api\",{SCOPE},state=\"used\"}}"),
                42.0
            ),
            (
                "target_info{host_name=\"h1\",instance=\"pod-1\",job=\"shop/api\",k8s_pod_count=\"3\"}".to_string(),
                1.0
            ),
        ]
    );
    assert_eq!(
        t.metadata,
        vec![(
            "system_memory_usage_bytes".to_string(),
            MetricKind::Gauge,
            "help for system.memory.usage".to_string(),
            "By".to_string()
        )]
    );
}

#[test]
fn job_without_namespace_and_no_target_info_when_only_identifying_attributes() {
    let req = request(
        vec![kv("service.name", "api")],
        vec![gauge("g", "", vec![number(vec![], 1.0)])],
    );
    let t = translate(&req, &TranslateOptions::default());
    assert_eq!(
        rendered(&t),
        vec![(format!("g{{job=\"api\",{SCOPE}}}"), 1.0)]
    );
}

#[test]
fn sums_by_monotonicity_and_temporality() {
    let req = request(
        vec![],
        vec![
            sum(
                "http.requests",
                "{request}",
                true,
                AggregationTemporality::Cumulative,
            ),
            sum(
                "queue.size",
                "{item}",
                false,
                AggregationTemporality::Cumulative,
            ),
            sum("cpu.busy", "1", false, AggregationTemporality::Cumulative),
            sum("delta.requests", "", true, AggregationTemporality::Delta),
            sum("weird", "", true, AggregationTemporality::Unspecified),
        ],
    );
    let t = translate(&req, &TranslateOptions::default());
    assert_eq!(
        rendered(&t),
        vec![
            (format!("http_requests_total{{{SCOPE}}}"), 5.0),
            (format!("queue_size{{{SCOPE}}}"), 5.0),
            (format!("cpu_busy_ratio{{{SCOPE}}}"), 5.0),
        ]
    );
    let kinds: Vec<_> = t.metadata.iter().map(|m| (m.0.as_str(), m.1)).collect();
    assert_eq!(
        kinds,
        vec![
            ("http_requests_total", MetricKind::Counter),
            ("queue_size", MetricKind::Gauge),
            ("cpu_busy_ratio", MetricKind::Gauge),
        ]
    );
    let reasons: Vec<_> = t.rejected.iter().map(|r| r.0).collect();
    assert_eq!(
        reasons,
        vec![reason::DELTA, reason::UNSPECIFIED_TEMPORALITY]
    );
    assert!(t.rejected[0].1.contains("delta.requests"));
}

#[test]
fn histogram_buckets_are_cumulative_with_inf() {
    // Bounds [0.1, 0.5, 1] and per-bucket counts [2, 3, 1, 4] (count 10, sum 7.5):
    // le=0.1 → 2, le=0.5 → 5, le=1 → 6, le=+Inf → 10.
    let h = metric(
        "http.server.request.duration",
        "s",
        metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![kv("http.route", "/a")],
                start_time_unix_nano: START_NS,
                time_unix_nano: T_NS,
                count: 10,
                sum: Some(7.5),
                bucket_counts: vec![2, 3, 1, 4],
                explicit_bounds: vec![0.1, 0.5, 1.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    );
    let t = translate(&request(vec![], vec![h]), &TranslateOptions::default());
    let n = "http_server_request_duration_seconds";
    let l = format!("http_route=\"/a\",{SCOPE}");
    let b = |le: &str| format!("{n}_bucket{{http_route=\"/a\",le=\"{le}\",{SCOPE}}}");
    assert_eq!(
        rendered(&t),
        vec![
            (format!("{n}_sum{{{l}}}"), 7.5),
            (format!("{n}_count{{{l}}}"), 10.0),
            (b("0.1"), 2.0),
            (b("0.5"), 5.0),
            (b("1"), 6.0),
            (b("+Inf"), 10.0),
        ]
    );
    assert_eq!(t.metadata[0].1, MetricKind::Histogram);
}

#[test]
fn exemplars_go_to_the_covering_bucket_with_trace_ids() {
    let ex = |v: f64, trace: u8| weft_core::otlp::metrics::v1::Exemplar {
        filtered_attributes: vec![kv("user", "u1")],
        time_unix_nano: T_NS,
        span_id: vec![0xab; 8],
        trace_id: vec![trace; 16],
        value: Some(weft_core::otlp::metrics::v1::exemplar::Value::AsDouble(v)),
    };
    let h = metric(
        "lat",
        "s",
        metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: T_NS,
                count: 3,
                bucket_counts: vec![1, 1, 1],
                explicit_bounds: vec![0.1, 1.0],
                exemplars: vec![ex(0.05, 1), ex(0.5, 2), ex(7.0, 3)],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    );
    let t = translate(&request(vec![], vec![h]), &TranslateOptions::default());
    let by_le = |le: &str| {
        t.series
            .iter()
            .find(|s| s.labels.get("le") == Some(le))
            .map(|s| s.exemplars.clone())
            .unwrap()
    };
    let one = &by_le("0.1");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].value, 0.05);
    assert_eq!(
        one[0].labels.get("trace_id"),
        Some("01".repeat(16).as_str())
    );
    assert_eq!(one[0].labels.get("span_id"), Some("ab".repeat(8).as_str()));
    assert_eq!(one[0].labels.get("user"), Some("u1"));
    assert_eq!(one[0].t_ms, (T_NS / 1_000_000) as i64);
    assert_eq!(by_le("1")[0].value, 0.5);
    assert_eq!(by_le("+Inf")[0].value, 7.0);
    assert!(t
        .series
        .iter()
        .filter(|s| s.labels.get("le").is_none())
        .all(|s| s.exemplars.is_empty()));
}

#[test]
fn histogram_without_sum_or_buckets_and_invalid_bucket_count() {
    let h = metric(
        "h",
        "",
        metric::Data::Histogram(Histogram {
            data_points: vec![
                HistogramDataPoint {
                    time_unix_nano: T_NS,
                    count: 3,
                    ..Default::default()
                },
                HistogramDataPoint {
                    time_unix_nano: T_NS,
                    count: 3,
                    bucket_counts: vec![1, 2],
                    explicit_bounds: vec![1.0, 2.0],
                    ..Default::default()
                },
            ],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    );
    let t = translate(&request(vec![], vec![h]), &TranslateOptions::default());
    assert_eq!(
        rendered(&t),
        vec![
            (format!("h_count{{{SCOPE}}}"), 3.0),
            (format!("h_bucket{{le=\"+Inf\",{SCOPE}}}"), 3.0),
        ]
    );
    assert_eq!(t.rejected.len(), 1);
    assert_eq!(t.rejected[0].0, reason::INVALID_HISTOGRAM);
}

#[test]
fn summary_quantiles_sum_and_count() {
    let s = metric(
        "rpc.latency",
        "ms",
        metric::Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                time_unix_nano: T_NS,
                count: 4,
                sum: 20.0,
                quantile_values: vec![
                    ValueAtQuantile {
                        quantile: 0.5,
                        value: 4.0,
                    },
                    ValueAtQuantile {
                        quantile: 0.99,
                        value: 9.0,
                    },
                ],
                ..Default::default()
            }],
        }),
    );
    let t = translate(&request(vec![], vec![s]), &TranslateOptions::default());
    let n = "rpc_latency_milliseconds";
    assert_eq!(
        rendered(&t),
        vec![
            (format!("{n}_sum{{{SCOPE}}}"), 20.0),
            (format!("{n}_count{{{SCOPE}}}"), 4.0),
            (format!("{n}{{{SCOPE},quantile=\"0.5\"}}"), 4.0),
            (format!("{n}{{{SCOPE},quantile=\"0.99\"}}"), 9.0),
        ]
    );
    assert_eq!(t.metadata[0].1, MetricKind::Summary);
}

fn exp_point(
    scale: i32,
    positive: (i32, Vec<u64>),
    negative: (i32, Vec<u64>),
) -> ExponentialHistogramDataPoint {
    use weft_core::otlp::metrics::v1::exponential_histogram_data_point::Buckets;
    let total: u64 = positive.1.iter().chain(&negative.1).sum();
    ExponentialHistogramDataPoint {
        attributes: vec![kv("k", "v")],
        time_unix_nano: T_NS,
        count: total + 5,
        sum: Some(10.5),
        scale,
        zero_count: 5,
        positive: Some(Buckets {
            offset: positive.0,
            bucket_counts: positive.1,
        }),
        negative: Some(Buckets {
            offset: negative.0,
            bucket_counts: negative.1,
        }),
        ..Default::default()
    }
}

fn exp_metric(
    points: Vec<ExponentialHistogramDataPoint>,
    temporality: AggregationTemporality,
) -> Metric {
    metric(
        "latency",
        "s",
        metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: points,
            aggregation_temporality: temporality as i32,
        }),
    )
}

#[test]
fn exponential_histograms_become_native_histograms() {
    let mut unset_sum = exp_point(0, (0, vec![1]), (0, vec![]));
    unset_sum.sum = None;
    unset_sum.zero_threshold = 0.25;
    unset_sum.attributes = vec![kv("k", "w")];
    let e = exp_metric(
        vec![exp_point(3, (-2, vec![1, 0, 2]), (0, vec![4])), unset_sum],
        AggregationTemporality::Cumulative,
    );
    let t = translate(&request(vec![], vec![e]), &TranslateOptions::default());
    assert!(t.rejected.is_empty(), "{:?}", t.rejected);
    assert_eq!(t.series.len(), 2);
    let s = &t.series[0];
    assert_eq!(s.labels.get("__name__"), Some("latency_seconds"));
    assert!(s.samples.is_empty());
    let (ts, h) = &s.histograms[0];
    assert_eq!(*ts, T_MS);
    assert_eq!(h.schema, 3);
    assert_eq!(h.zero_threshold, 1e-128);
    assert_eq!((h.zero_count, h.count, h.sum), (5.0, 12.0, 10.5));
    // OTLP bucket i covers (base^i, base^(i+1)]; Prometheus index i+1 does; empties dropped.
    assert_eq!(h.positive, vec![(-1, 1.0), (1, 2.0)]);
    assert_eq!(h.negative, vec![(1, 4.0)]);
    assert_eq!(h.hint, CounterResetHint::Unknown);
    let (_, h) = &t.series[1].histograms[0];
    assert_eq!((h.sum, h.zero_threshold), (0.0, 0.25));
    assert_eq!(
        t.metadata,
        vec![(
            "latency_seconds".to_string(),
            MetricKind::Histogram,
            "help for latency".to_string(),
            "s".to_string()
        )]
    );
    let w = t.into_metric_write();
    assert_eq!(w.series[0].histograms.len(), 1);
}

#[test]
fn exponential_scales_above_8_are_downscaled_and_below_minus_4_refused() {
    let e = exp_metric(
        vec![
            exp_point(10, (-3, vec![1, 1, 1, 1, 1]), (5, vec![2, 3])),
            exp_point(-5, (0, vec![1]), (0, vec![])),
        ],
        AggregationTemporality::Cumulative,
    );
    let t = translate(&request(vec![], vec![e]), &TranslateOptions::default());
    assert_eq!(t.series.len(), 1);
    let (_, h) = &t.series[0].histograms[0];
    assert_eq!(h.schema, 8);
    // Indexes -3..=1 shifted right by 2: -1,-1,-1,0,0, plus one.
    assert_eq!(h.positive, vec![(0, 3.0), (1, 2.0)]);
    // 5 >> 2 = 1 and 6 >> 2 = 1: merged.
    assert_eq!(h.negative, vec![(2, 5.0)]);
    assert_eq!(t.rejected.len(), 1);
    assert_eq!(t.rejected[0].0, reason::HISTOGRAM_SCALE);
    assert!(t.rejected[0].1.contains("scale -5"), "{}", t.rejected[0].1);
}

#[test]
fn exponential_histogram_flags_and_temporality() {
    let mut stale = exp_point(0, (0, vec![1]), (0, vec![]));
    stale.flags = 1;
    let t = translate(
        &request(
            vec![],
            vec![exp_metric(vec![stale], AggregationTemporality::Cumulative)],
        ),
        &TranslateOptions::default(),
    );
    assert!(t.series[0].histograms.is_empty());
    assert_eq!(t.series[0].samples[0].1.to_bits(), 0x7ff0_0000_0000_0002);
    let t = translate(
        &request(
            vec![],
            vec![exp_metric(
                vec![exp_point(0, (0, vec![1]), (0, vec![]))],
                AggregationTemporality::Delta,
            )],
        ),
        &TranslateOptions::default(),
    );
    assert!(t.series.is_empty());
    assert_eq!(t.rejected[0].0, reason::DELTA);
}

#[test]
fn no_recorded_value_becomes_stale_marker() {
    let mut p = number(vec![], 1.0);
    p.flags = 1;
    let t = translate(
        &request(vec![], vec![gauge("g", "", vec![p])]),
        &TranslateOptions::default(),
    );
    assert_eq!(t.series[0].samples[0].1.to_bits(), 0x7ff0_0000_0000_0002);
}

#[test]
fn colliding_label_names_are_joined_in_key_order() {
    let p = number(vec![kv("a.b", "2"), kv("a/b", "3"), kv("a_b", "1")], 1.0);
    let t = translate(
        &request(vec![], vec![gauge("g", "", vec![p])]),
        &TranslateOptions::default(),
    );
    // Original keys sorted: "a.b" < "a/b" < "a_b".
    assert_eq!(t.series[0].labels.get("a_b"), Some("2;3;1"));
}

#[test]
fn utf8_names_keep_dots() {
    let p = number(vec![kv("http.method", "GET")], 1.0);
    let opts = TranslateOptions {
        utf8_names: true,
        ..Default::default()
    };
    let t = translate(&request(vec![], vec![gauge("a.b", "s", vec![p])]), &opts);
    assert_eq!(t.series[0].labels.metric_name(), Some("a.b_seconds"));
    assert_eq!(t.series[0].labels.get("http.method"), Some("GET"));
}

#[test]
fn promoted_resource_attributes_and_created() {
    let mut res = svc();
    res.push(kv("deployment.environment", "prod"));
    let opts = TranslateOptions {
        promote_resource_attributes: vec!["deployment.environment".into()],
        emit_created: true,
        emit_target_info: false,
        ..Default::default()
    };
    let req = request(
        res,
        vec![sum("jobs", "", true, AggregationTemporality::Cumulative)],
    );
    let t = translate(&req, &opts);
    let l = format!("deployment_environment=\"prod\",instance=\"pod-1\",job=\"shop/api\",{SCOPE}");
    assert_eq!(
        rendered(&t),
        vec![
            (format!("jobs_total{{{l}}}"), 5.0),
            (format!("jobs_created{{{l}}}"), 1_699_999_000.5),
        ]
    );
}

#[test]
fn data_point_attribute_cannot_override_job() {
    let p = number(vec![kv("job", "fake"), kv("instance", "x")], 1.0);
    let t = translate(
        &request(svc(), vec![gauge("g", "", vec![p])]),
        &TranslateOptions::default(),
    );
    assert_eq!(t.series[0].labels.get("job"), Some("shop/api"));
    assert_eq!(t.series[0].labels.get("instance"), Some("pod-1"));
}

#[test]
fn int_values_and_float_formatting() {
    let mut p = number(vec![], 0.0);
    p.value = Some(number_data_point::Value::AsInt(-7));
    let t = translate(
        &request(vec![], vec![gauge("g", "", vec![p])]),
        &TranslateOptions::default(),
    );
    assert_eq!(t.series[0].samples[0].1, -7.0);
    assert_eq!(format_float(1e21), "1000000000000000000000");
    assert_eq!(format_float(0.25), "0.25");
    assert_eq!(format_float(f64::INFINITY), "+Inf");
}

#[test]
fn scope_attributes_and_unknown_gauge() {
    let mut req = request(vec![], vec![gauge("g", "", vec![number(vec![], 1.0)])]);
    let sm = &mut req.resource_metrics[0].scope_metrics[0];
    sm.scope.as_mut().unwrap().attributes = vec![kv("lib.mode", "fast")];
    sm.metrics[0].metadata = vec![kv("prometheus.type", "unknown")];
    let t = translate(&req, &TranslateOptions::default());
    assert_eq!(t.series[0].labels.get("otel_scope_lib_mode"), Some("fast"));
    assert_eq!(t.metadata[0].1, MetricKind::Unknown);
}

#[test]
fn empty_name_and_missing_data_are_rejected() {
    let mut no_data = gauge("nodata", "", vec![]);
    no_data.data = None;
    let req = request(
        vec![],
        vec![gauge("", "", vec![number(vec![], 1.0)]), no_data],
    );
    let t = translate(&req, &TranslateOptions::default());
    assert!(t.series.is_empty());
    let reasons: Vec<_> = t.rejected.iter().map(|r| r.0).collect();
    assert_eq!(reasons, vec![reason::EMPTY_NAME, reason::NO_DATA]);
}

#[test]
fn stale_histogram_and_summary_points() {
    let h = metric(
        "h",
        "",
        metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: T_NS,
                flags: 1,
                count: 3,
                sum: Some(1.0),
                bucket_counts: vec![1, 2],
                explicit_bounds: vec![1.0],
                ..Default::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    );
    let s = metric(
        "s",
        "",
        metric::Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                time_unix_nano: T_NS,
                flags: 1,
                quantile_values: vec![ValueAtQuantile {
                    quantile: 0.5,
                    value: 1.0,
                }],
                ..Default::default()
            }],
        }),
    );
    let t = translate(&request(vec![], vec![h, s]), &TranslateOptions::default());
    // h: _sum, _count, le=1, le=+Inf; s: _sum, _count, quantile=0.5.
    assert_eq!(t.series.len(), 7);
    for series in &t.series {
        assert_eq!(
            series.samples[0].1.to_bits(),
            STALE_NAN_BITS,
            "{}",
            render(series)
        );
    }
}

#[test]
fn scope_name_wins_over_scope_attribute_called_name() {
    let mut req = request(vec![], vec![gauge("g", "", vec![number(vec![], 1.0)])]);
    let scope = req.resource_metrics[0].scope_metrics[0]
        .scope
        .as_mut()
        .unwrap();
    scope.attributes = vec![kv("name", "other")];
    let t = translate(&req, &TranslateOptions::default());
    assert_eq!(t.series[0].labels.get("otel_scope_name"), Some("lib"));
}
