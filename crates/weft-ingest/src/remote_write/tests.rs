use prost::Message as _;

use super::proto;
use super::*;

const MAX: usize = 1 << 20;

fn snappy(b: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(b).unwrap()
}

fn label(n: &str, v: &str) -> proto::Label {
    proto::Label {
        name: n.as_bytes().to_vec(),
        value: v.as_bytes().to_vec(),
    }
}

fn ts(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
    proto::TimeSeries {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| proto::Sample { value, timestamp })
            .collect(),
        exemplars: vec![],
        histograms: vec![],
    }
}

fn v1(series: Vec<proto::TimeSeries>) -> Vec<u8> {
    snappy(
        &proto::WriteRequest {
            timeseries: series,
            metadata: vec![],
        }
        .encode_to_vec(),
    )
}

fn decode_v1(series: Vec<proto::TimeSeries>) -> WriteBatch {
    decode(&v1(series), Version::V1, MAX).unwrap()
}

fn int_histogram(t: i64) -> proto::Histogram {
    proto::Histogram {
        count: Some(proto::HistogramCount::CountInt(5)),
        sum: 12.5,
        schema: 3,
        zero_threshold: 1e-128,
        zero_count: Some(proto::HistogramZeroCount::ZeroCountInt(1)),
        negative_spans: vec![],
        negative_deltas: vec![],
        negative_counts: vec![],
        positive_spans: vec![proto::BucketSpan {
            offset: -2,
            length: 2,
        }],
        positive_deltas: vec![3, -2],
        positive_counts: vec![],
        reset_hint: 2,
        timestamp: t,
        custom_values: vec![],
        start_timestamp: 0,
    }
}

/// Builds 2.0 requests with an interned symbol table (`symbols[0]` = "").
struct V2 {
    symbols: Vec<String>,
}

impl V2 {
    fn new() -> Self {
        Self {
            symbols: vec![String::new()],
        }
    }
    fn sym(&mut self, s: &str) -> u32 {
        match self.symbols.iter().position(|x| x == s) {
            Some(i) => i as u32,
            None => {
                self.symbols.push(s.to_string());
                (self.symbols.len() - 1) as u32
            }
        }
    }
    fn refs(&mut self, pairs: &[(&str, &str)]) -> Vec<u32> {
        pairs
            .iter()
            .flat_map(|(n, v)| [self.sym(n), self.sym(v)])
            .collect()
    }
    fn series(&mut self, pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeriesV2 {
        proto::TimeSeriesV2 {
            labels_refs: self.refs(pairs),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| proto::SampleV2 {
                    value,
                    timestamp,
                    start_timestamp: 0,
                })
                .collect(),
            histograms: vec![],
            exemplars: vec![],
            metadata: None,
        }
    }
    fn body(self, timeseries: Vec<proto::TimeSeriesV2>) -> Vec<u8> {
        snappy(
            &proto::RequestV2 {
                symbols: self.symbols.into_iter().map(String::into_bytes).collect(),
                timeseries,
            }
            .encode_to_vec(),
        )
    }
}

fn only_rejection(b: &WriteBatch) -> &Rejected {
    assert_eq!(b.rejected.len(), 1, "{:?}", b.rejected);
    &b.rejected[0]
}

fn bad_request(e: IngestError) -> String {
    assert_eq!(e.http_status(), http::StatusCode::BAD_REQUEST, "{e}");
    e.to_string()
}

// ---- negotiation ----

#[test]
fn negotiate_content_types() {
    let ok = |ct: Option<&str>| negotiate(ct, Some("snappy"), None).unwrap();
    assert_eq!(ok(None), Version::V1);
    assert_eq!(ok(Some("")), Version::V1);
    assert_eq!(ok(Some("application/x-protobuf")), Version::V1);
    assert_eq!(
        ok(Some("application/x-protobuf;proto=prometheus.WriteRequest")),
        Version::V1
    );
    assert_eq!(
        ok(Some(
            "application/x-protobuf;proto=io.prometheus.write.v2.Request"
        )),
        Version::V2
    );
    assert_eq!(
        ok(Some(
            "Application/X-Protobuf ; charset=utf-8; Proto=\"io.prometheus.write.v2.Request\""
        )),
        Version::V2
    );
    // The version header does not choose the schema: Content-Type does.
    assert_eq!(
        negotiate(
            Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"),
            Some("snappy"),
            Some("0.1.0")
        )
        .unwrap(),
        Version::V2
    );
    assert_eq!(
        negotiate(
            Some("application/x-protobuf"),
            Some("snappy"),
            Some("2.0.0")
        )
        .unwrap(),
        Version::V1
    );
}

#[test]
fn negotiate_unsupported_is_415() {
    for (ct, enc, needle) in [
        (Some("application/json"), Some("snappy"), "wrong media type"),
        (Some("text/plain"), None, "wrong media type"),
        (
            Some("application/x-protobuf;proto=io.prometheus.write.v3.Request"),
            Some("snappy"),
            "unknown proto message",
        ),
        (
            Some("application/x-protobuf;proto"),
            Some("snappy"),
            "malformed parameter",
        ),
        (Some("application/x-protobuf"), Some("gzip"), "gzip"),
        (Some("application/x-protobuf"), Some("zstd"), "zstd"),
        (
            Some("application/x-protobuf"),
            Some("snappy, gzip"),
            "snappy, gzip",
        ),
        (
            Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"),
            Some("identity"),
            "must be snappy",
        ),
    ] {
        let e = negotiate(ct, enc, Some("2.0.0")).unwrap_err();
        assert_eq!(
            e.http_status(),
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{ct:?} {enc:?}"
        );
        assert!(e.to_string().contains(needle), "{e}");
    }
    // Encoding is case-insensitive; absent means snappy (as in Prometheus).
    assert!(negotiate(None, Some(" SNAPPY "), None).is_ok());
    assert!(negotiate(None, None, None).is_ok());
}

// ---- snappy ----

#[test]
fn framed_snappy_is_rejected_clearly() {
    let raw = proto::WriteRequest {
        timeseries: vec![ts(&[("__name__", "up")], &[(1, 1.0)])],
        metadata: vec![],
    }
    .encode_to_vec();
    let mut framed = Vec::new();
    {
        use std::io::Write as _;
        let mut w = snap::write::FrameEncoder::new(&mut framed);
        w.write_all(&raw).unwrap();
    }
    for max in [MAX, 16] {
        let msg = bad_request(decode(&framed, Version::V1, max).unwrap_err());
        assert!(msg.contains("framed (stream) format"), "{msg}");
        assert!(msg.contains("block format"), "{msg}");
    }
    // The same payload in block format decodes.
    assert_eq!(
        decode(&snappy(&raw), Version::V1, MAX)
            .unwrap()
            .series
            .len(),
        1
    );
}

#[test]
fn corrupt_or_empty_snappy_is_400() {
    let msg = bad_request(decode(b"", Version::V1, MAX).unwrap_err());
    assert!(msg.contains("empty body"), "{msg}");
    let msg = bad_request(decode(b"\x05\xff\xff", Version::V2, MAX).unwrap_err());
    assert!(msg.contains("snappy block decompression"), "{msg}");
    // Uncompressed protobuf sent as if it were snappy.
    let raw = proto::WriteRequest {
        timeseries: vec![ts(&[("__name__", "up")], &[(1, 1.0)])],
        metadata: vec![],
    }
    .encode_to_vec();
    assert!(decode(&raw, Version::V1, MAX).is_err());
}

#[test]
fn decompression_bomb_is_limited() {
    // Real data: 4 MiB of zeros compresses to ~200 KiB.
    let zeros = vec![0u8; 4 << 20];
    let body = snappy(&zeros);
    assert!(body.len() < 300_000);
    let e = decode(&body, Version::V1, 1 << 20).unwrap_err();
    assert!(
        matches!(e, IngestError::TooLarge { limit } if limit == 1 << 20),
        "{e}"
    );
    assert_eq!(e.http_status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    // A header claiming ~4 GiB is refused before anything is allocated.
    let e = decode(b"\xff\xff\xff\xff\x0f\x00", Version::V2, MAX).unwrap_err();
    assert!(matches!(e, IngestError::TooLarge { .. }), "{e}");
    // Exactly at the limit is fine.
    let body = snappy(&proto::WriteRequest::default().encode_to_vec());
    assert!(decode(&body, Version::V1, 0).is_ok());
}

#[test]
fn undecodable_protobuf_names_the_message() {
    let body = snappy(b"\x0a\xff\xff\xff\xff\x0f garbage");
    let msg = bad_request(decode(&body, Version::V1, MAX).unwrap_err());
    assert!(msg.contains("prometheus.WriteRequest"), "{msg}");
    let msg = bad_request(decode(&body, Version::V2, MAX).unwrap_err());
    assert!(msg.contains("io.prometheus.write.v2.Request"), "{msg}");
}

// ---- 1.0 ----

#[test]
fn v1_round_trip() {
    let stale = f64::from_bits(STALE_NAN_BITS);
    let mut s1 = ts(
        // Unsorted on purpose: Prometheus sorts and accepts.
        &[
            ("job", "api"),
            ("__name__", "http_requests_total"),
            ("empty", ""),
        ],
        &[(1000, 1.5), (2000, stale), (3000, f64::INFINITY)],
    );
    s1.exemplars.push(proto::Exemplar {
        labels: vec![label("trace_id", "abc")],
        value: 1.5,
        timestamp: 1000,
    });
    s1.histograms.push(int_histogram(4000));
    let s2 = ts(
        &[("__name__", "up"), ("service.name", "ünïcode")],
        &[(5, 0.0)],
    );
    let body = snappy(
        &proto::WriteRequest {
            timeseries: vec![s1, s2],
            metadata: vec![proto::MetricMetadata {
                r#type: 1,
                metric_family_name: b"http_requests_total".to_vec(),
                help: b"Requests.".to_vec(),
                unit: b"".to_vec(),
            }],
        }
        .encode_to_vec(),
    );
    let b = decode(&body, Version::V1, MAX).unwrap();
    assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    assert_eq!(b.series.len(), 2);
    let s = &b.series[0];
    assert_eq!(
        s.labels,
        Labels::from_pairs([("__name__", "http_requests_total"), ("job", "api")]).unwrap()
    );
    let bits: Vec<(i64, u64)> = s.samples.iter().map(|(t, v)| (*t, v.to_bits())).collect();
    assert_eq!(
        bits,
        vec![
            (1000, 1.5f64.to_bits()),
            (2000, STALE_NAN_BITS),
            (3000, f64::INFINITY.to_bits())
        ]
    );
    assert_eq!(s.exemplars.len(), 1);
    assert_eq!(s.exemplars[0].labels.get("trace_id"), Some("abc"));
    assert_eq!(s.exemplars[0].timestamp_ms, 1000);
    let h = &s.histograms[0];
    assert_eq!(h.timestamp_ms, 4000);
    assert_eq!(h.schema, 3);
    assert_eq!(h.reset_hint, ResetHint::No);
    assert_eq!(h.positive_spans, vec![(-2, 2)]);
    assert_eq!(
        h.counts,
        HistogramCounts::Int {
            count: 5,
            zero_count: 1,
            negative_deltas: vec![],
            positive_deltas: vec![3, -2]
        }
    );
    assert_eq!(b.series[1].labels.get("service.name"), Some("ünïcode"));
    assert_eq!(
        b.metadata,
        vec![Metadata {
            metric_family: "http_requests_total".into(),
            kind: MetricKind::Counter,
            help: "Requests.".into(),
            unit: String::new(),
        }]
    );
    assert_eq!(
        b.counts(),
        Counts {
            samples: 4,
            histograms: 1,
            exemplars: 1
        }
    );
    assert!(b.rejection_error().is_none());
}

#[test]
fn v1_missing_metric_name() {
    let b = decode_v1(vec![
        ts(&[("job", "a")], &[(1, 1.0), (2, 2.0)]),
        ts(&[("__name__", "ok")], &[(1, 1.0)]),
    ]);
    assert_eq!(b.series.len(), 1, "the valid series is kept");
    let r = only_rejection(&b);
    assert_eq!(r.reason, "missing_metric_name");
    assert_eq!(r.count, 2);
    assert!(r.message.contains(r#"series {job="a"}"#), "{}", r.message);
    assert!(r.message.contains("no __name__ label"), "{}", r.message);
    // An empty __name__ is the same as none.
    let b = decode_v1(vec![ts(&[("__name__", ""), ("job", "a")], &[(1, 1.0)])]);
    assert_eq!(only_rejection(&b).reason, "missing_metric_name");
}

#[test]
fn v1_duplicate_label_name() {
    let b = decode_v1(vec![ts(
        &[("__name__", "up"), ("job", "a"), ("job", "b")],
        &[(1, 1.0)],
    )]);
    let r = only_rejection(&b);
    assert_eq!(r.reason, "duplicate_label_name");
    assert!(
        r.message
            .contains(r#"label name "job" appears more than once"#),
        "{}",
        r.message
    );
    assert!(r.message.contains(r#"__name__="up""#), "{}", r.message);
    // A duplicate with an empty value is still a duplicate.
    let b = decode_v1(vec![ts(
        &[("__name__", "up"), ("job", ""), ("job", "b")],
        &[(1, 1.0)],
    )]);
    assert_eq!(only_rejection(&b).reason, "duplicate_label_name");
}

#[test]
fn v1_empty_label_name() {
    let b = decode_v1(vec![ts(&[("__name__", "up"), ("", "x")], &[(1, 1.0)])]);
    let r = only_rejection(&b);
    assert_eq!(r.reason, "invalid_label_name");
    assert!(
        r.message
            .contains(r#"a label has an empty name (value "x")"#),
        "{}",
        r.message
    );
    assert!(r.message.contains(r#"__name__="up""#), "{}", r.message);
}

#[test]
fn v1_utf8_label_names_are_accepted() {
    let b = decode_v1(vec![ts(
        &[("__name__", "my.metric/total"), ("1st label", "v")],
        &[(1, 1.0)],
    )]);
    assert!(b.rejected.is_empty());
    assert_eq!(b.series[0].labels.metric_name(), Some("my.metric/total"));
}

#[test]
fn v1_invalid_utf8_names_the_label() {
    let mut bad_value = ts(&[("__name__", "up")], &[(1, 1.0)]);
    bad_value.labels.push(proto::Label {
        name: b"job".to_vec(),
        value: b"a\xffb".to_vec(),
    });
    let mut bad_name = ts(&[("__name__", "up")], &[(1, 1.0)]);
    bad_name.labels.push(proto::Label {
        name: b"j\xc3".to_vec(),
        value: b"x".to_vec(),
    });
    let b = decode_v1(vec![bad_value, bad_name]);
    assert!(b.series.is_empty());
    assert_eq!(b.rejected.len(), 2);
    assert!(b.rejected.iter().all(|r| r.reason == "invalid_utf8"));
    let m = &b.rejected[0].message;
    assert!(
        m.contains("the value of label \"job\" (\"a\u{fffd}b\") is not valid UTF-8"),
        "{m}"
    );
    assert!(m.contains(r#"__name__="up""#), "{m}");
    let m = &b.rejected[1].message;
    assert!(
        m.contains("label name #1 (\"j\u{fffd}\") is not valid UTF-8"),
        "{m}"
    );
}

#[test]
fn v1_invalid_exemplar_is_dropped_alone() {
    let mut s = ts(&[("__name__", "up")], &[(1, 1.0)]);
    s.exemplars.push(proto::Exemplar {
        labels: vec![label("trace_id", "a"), label("trace_id", "b")],
        value: 1.0,
        timestamp: 1,
    });
    let b = decode_v1(vec![s]);
    assert_eq!(b.series[0].samples.len(), 1);
    assert!(b.series[0].exemplars.is_empty());
    let r = only_rejection(&b);
    assert_eq!(r.reason, "invalid_exemplar");
    assert!(
        r.message.contains(r#"series {__name__="up"}: exemplar #0"#),
        "{}",
        r.message
    );
    assert!(
        r.message.contains(r#""trace_id" appears more than once"#),
        "{}",
        r.message
    );
}

#[test]
fn v1_invalid_metadata() {
    let body = snappy(
        &proto::WriteRequest {
            timeseries: vec![],
            metadata: vec![
                proto::MetricMetadata {
                    r#type: 2,
                    metric_family_name: b"".to_vec(),
                    help: vec![],
                    unit: vec![],
                },
                proto::MetricMetadata {
                    r#type: 99,
                    metric_family_name: b"fam\xff".to_vec(),
                    help: vec![],
                    unit: vec![],
                },
                proto::MetricMetadata {
                    r#type: 2,
                    metric_family_name: b"temp".to_vec(),
                    help: vec![],
                    unit: b"\xfe".to_vec(),
                },
                proto::MetricMetadata {
                    r#type: 99,
                    metric_family_name: b"odd".to_vec(),
                    help: vec![],
                    unit: vec![],
                },
            ],
        }
        .encode_to_vec(),
    );
    let b = decode(&body, Version::V1, MAX).unwrap();
    let msgs: Vec<(&str, &str)> = b
        .rejected
        .iter()
        .map(|r| (r.reason, r.message.as_str()))
        .collect();
    assert_eq!(
        msgs,
        vec![
            (
                "invalid_metadata",
                "metadata #0 has an empty metric_family_name"
            ),
            (
                "invalid_utf8",
                "metadata #1: metric_family_name (\"fam\u{fffd}\") is not valid UTF-8"
            ),
            (
                "invalid_utf8",
                "metadata for \"temp\": unit is not valid UTF-8"
            ),
        ]
    );
    assert_eq!(b.metadata.len(), 1);
    assert_eq!(b.metadata[0].kind, MetricKind::Unknown);
}

#[test]
fn invalid_histograms_are_rejected_individually() {
    let mut cases: Vec<(proto::Histogram, &str)> = Vec::new();
    let mut h = int_histogram(1);
    h.positive_deltas = vec![3];
    cases.push((h, "positive spans need 2 buckets, have 1 buckets"));
    let mut h = int_histogram(1);
    h.schema = 9;
    cases.push((h, "histogram schema 9 is not supported"));
    let mut h = int_histogram(1);
    h.positive_deltas = vec![3, -4];
    cases.push((h, "positive bucket 1 has negative count -1"));
    let mut h = int_histogram(1);
    h.zero_count = Some(proto::HistogramZeroCount::ZeroCountFloat(1.0));
    cases.push((h, "integer histogram has a float zero_count"));
    let mut h = int_histogram(1);
    h.count = Some(proto::HistogramCount::CountFloat(5.0));
    cases.push((h, "float histogram has integer bucket deltas"));
    let mut h = int_histogram(1);
    h.schema = CUSTOM_BUCKETS_SCHEMA;
    h.custom_values = vec![1.0, 1.0];
    cases.push((h, "bounds must be strictly increasing"));
    let mut h = int_histogram(1);
    h.custom_values = vec![1.0, 2.0];
    cases.push((h, "has custom_values (only allowed with schema -53)"));
    for (h, needle) in cases {
        let mut s = ts(&[("__name__", "latency")], &[]);
        s.histograms = vec![int_histogram(0), h];
        let b = decode_v1(vec![s]);
        assert_eq!(b.series[0].histograms.len(), 1, "{needle}");
        let r = only_rejection(&b);
        assert_eq!(r.reason, "invalid_histogram");
        assert!(
            r.message
                .starts_with(r#"series {__name__="latency"}: histogram #1 (timestamp 1 ms): "#),
            "{}",
            r.message
        );
        assert!(r.message.contains(needle), "{needle}: {}", r.message);
    }
    // A valid float, custom-bucket histogram.
    let mut s = ts(&[("__name__", "latency")], &[]);
    s.histograms = vec![proto::Histogram {
        count: Some(proto::HistogramCount::CountFloat(3.0)),
        schema: CUSTOM_BUCKETS_SCHEMA,
        positive_spans: vec![proto::BucketSpan {
            offset: 0,
            length: 3,
        }],
        positive_counts: vec![1.0, 0.5, 1.5],
        custom_values: vec![0.1, 1.0],
        ..int_histogram(7)
    }];
    s.histograms[0].zero_count = None;
    s.histograms[0].positive_deltas = vec![];
    let b = decode_v1(vec![s]);
    assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    assert!(matches!(
        b.series[0].histograms[0].counts,
        HistogramCounts::Float { count, .. } if count == 3.0
    ));
}

// ---- 2.0 ----

#[test]
fn v2_round_trip_and_written_headers() {
    let mut r = V2::new();
    let mut s1 = r.series(
        &[("__name__", "http_requests_total"), ("job", "api")],
        &[(1000, 1.0), (2000, f64::from_bits(STALE_NAN_BITS))],
    );
    s1.samples[0].start_timestamp = 500;
    s1.metadata = Some(proto::MetadataV2 {
        r#type: 1,
        help_ref: r.sym("Total requests."),
        unit_ref: 0,
    });
    s1.exemplars.push(proto::ExemplarV2 {
        labels_refs: r.refs(&[("trace_id", "0af7651916cd43dd8448eb211c80319c")]),
        value: 1.0,
        timestamp: 1000,
    });
    // Same family again with different metadata: first wins.
    let mut s2 = r.series(
        &[("job", "web"), ("__name__", "http_requests_total")],
        &[(1000, 3.0)],
    );
    s2.metadata = Some(proto::MetadataV2 {
        r#type: 2,
        help_ref: 0,
        unit_ref: 0,
    });
    let mut s3 = r.series(&[("__name__", "latency_seconds")], &[]);
    let mut h = int_histogram(1000);
    h.start_timestamp = 10;
    s3.histograms.push(h);
    s3.metadata = Some(proto::MetadataV2 {
        r#type: 3,
        help_ref: 0,
        unit_ref: r.sym("seconds"),
    });
    let s4 = r.series(&[("__name__", "no_meta")], &[(1, 1.0)]);
    let b = decode(&r.body(vec![s1, s2, s3, s4]), Version::V2, MAX).unwrap();
    assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    assert_eq!(b.series.len(), 4);
    assert_eq!(
        b.series[1].labels,
        Labels::from_pairs([("__name__", "http_requests_total"), ("job", "web")]).unwrap()
    );
    assert_eq!(b.series[0].samples[1].1.to_bits(), STALE_NAN_BITS);
    assert_eq!(
        b.series[0].exemplars[0].labels.get("trace_id"),
        Some("0af7651916cd43dd8448eb211c80319c")
    );
    assert_eq!(b.series[2].histograms[0].start_timestamp_ms, 10);
    assert_eq!(
        b.metadata,
        vec![
            Metadata {
                metric_family: "http_requests_total".into(),
                kind: MetricKind::Counter,
                help: "Total requests.".into(),
                unit: String::new(),
            },
            Metadata {
                metric_family: "latency_seconds".into(),
                kind: MetricKind::Histogram,
                help: String::new(),
                unit: "seconds".into(),
            },
        ]
    );
    let headers = written_headers(b.counts());
    let as_str: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect();
    assert_eq!(
        as_str,
        vec![
            ("x-prometheus-remote-write-samples-written", "4"),
            ("x-prometheus-remote-write-histograms-written", "1"),
            ("x-prometheus-remote-write-exemplars-written", "1"),
        ]
    );
    assert!(SAMPLES_WRITTEN_HEADER.eq_ignore_ascii_case(headers[0].0.as_str()));
    assert!(HISTOGRAMS_WRITTEN_HEADER.eq_ignore_ascii_case(headers[1].0.as_str()));
    assert!(EXEMPLARS_WRITTEN_HEADER.eq_ignore_ascii_case(headers[2].0.as_str()));
}

#[test]
fn v2_symbols_zero_must_be_empty() {
    let body = snappy(
        &proto::RequestV2 {
            symbols: vec![b"__name__".to_vec(), b"up".to_vec()],
            timeseries: vec![proto::TimeSeriesV2 {
                labels_refs: vec![0, 1],
                samples: vec![proto::SampleV2 {
                    value: 1.0,
                    timestamp: 1,
                    start_timestamp: 0,
                }],
                histograms: vec![],
                exemplars: vec![],
                metadata: None,
            }],
        }
        .encode_to_vec(),
    );
    let msg = bad_request(decode(&body, Version::V2, MAX).unwrap_err());
    assert_eq!(
        msg,
        r#"symbols[0] must be the empty string (Remote-Write 2.0), got "__name__""#
    );
    // An empty request without symbols is fine.
    let body = snappy(&proto::RequestV2::default().encode_to_vec());
    assert_eq!(
        decode(&body, Version::V2, MAX).unwrap(),
        WriteBatch::default()
    );
}

#[test]
fn v2_out_of_range_and_odd_refs() {
    let mut r = V2::new();
    let good = r.series(&[("__name__", "up")], &[(1, 1.0)]);
    let mut out_of_range = r.series(&[("__name__", "up"), ("job", "a")], &[(1, 1.0), (2, 1.0)]);
    out_of_range.labels_refs[3] = 99;
    let mut odd = r.series(&[("__name__", "up")], &[(1, 1.0)]);
    odd.labels_refs.push(1);
    let size = r.symbols.len();
    let b = decode(&r.body(vec![good, out_of_range, odd]), Version::V2, MAX).unwrap();
    assert_eq!(b.series.len(), 1);
    assert_eq!(b.rejected.len(), 2);
    assert_eq!(b.rejected[0].reason, "invalid_symbol_ref");
    assert_eq!(b.rejected[0].count, 2);
    assert_eq!(
        b.rejected[0].message,
        format!("timeseries[1]: labels_refs[3] = 99 is outside the symbols table (size {size})")
    );
    assert_eq!(b.rejected[1].reason, "invalid_symbol_ref");
    assert_eq!(
        b.rejected[1].message,
        "timeseries[2]: labels_refs has odd length 3; it must hold (name, value) reference pairs"
    );
}

#[test]
fn v2_invalid_utf8_symbol() {
    let body = snappy(
        &proto::RequestV2 {
            symbols: vec![b"".to_vec(), b"__name__".to_vec(), b"u\xffp".to_vec()],
            timeseries: vec![proto::TimeSeriesV2 {
                labels_refs: vec![1, 2],
                samples: vec![proto::SampleV2::default()],
                histograms: vec![],
                exemplars: vec![],
                metadata: None,
            }],
        }
        .encode_to_vec(),
    );
    let b = decode(&body, Version::V2, MAX).unwrap();
    let r = only_rejection(&b);
    assert_eq!(r.reason, "invalid_utf8");
    assert_eq!(
        r.message,
        "timeseries[0]: labels_refs[1] = 2 refers to symbols[2] (\"u\u{fffd}p\"), which is not \
         valid UTF-8"
    );
}

#[test]
fn v2_label_rules_name_the_series() {
    let mut r = V2::new();
    let missing = r.series(&[("job", "a")], &[(1, 1.0)]);
    let dup = r.series(
        &[("__name__", "up"), ("job", "a"), ("job", "a")],
        &[(1, 1.0)],
    );
    let empty = r.series(&[("__name__", "up"), ("", "a")], &[(1, 1.0)]);
    let b = decode(&r.body(vec![missing, dup, empty]), Version::V2, MAX).unwrap();
    let got: Vec<(&str, &str)> = b
        .rejected
        .iter()
        .map(|r| (r.reason, r.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "missing_metric_name",
                r#"timeseries[0] series {job="a"}: no __name__ label (metric name), or it is empty"#
            ),
            (
                "duplicate_label_name",
                r#"timeseries[1] series {__name__="up", job="a", job="a"}: label name "job" appears more than once"#
            ),
            (
                "invalid_label_name",
                r#"timeseries[2] series {__name__="up", ="a"}: a label has an empty name (value "a")"#
            ),
        ]
    );
}

#[test]
fn v2_series_without_samples_or_histograms() {
    let mut r = V2::new();
    let mut s = r.series(&[("__name__", "up")], &[]);
    s.exemplars.push(proto::ExemplarV2 {
        labels_refs: vec![],
        value: 1.0,
        timestamp: 1,
    });
    let b = decode(&r.body(vec![s]), Version::V2, MAX).unwrap();
    let r = only_rejection(&b);
    assert_eq!(r.reason, "no_samples");
    assert_eq!(r.count, 1);
    assert!(
        r.message.contains(
            r#"timeseries[0] series {__name__="up"}: has neither samples nor histograms"#
        ),
        "{}",
        r.message
    );
}

#[test]
fn v2_metadata_and_exemplar_refs() {
    let mut r = V2::new();
    let mut bad_meta = r.series(&[("__name__", "up")], &[(1, 1.0)]);
    bad_meta.metadata = Some(proto::MetadataV2 {
        r#type: 2,
        help_ref: 1000,
        unit_ref: 0,
    });
    let mut bad_ex = r.series(&[("__name__", "up")], &[(1, 1.0)]);
    bad_ex.exemplars.push(proto::ExemplarV2 {
        labels_refs: vec![1, 500],
        value: 1.0,
        timestamp: 1,
    });
    let size = r.symbols.len();
    let b = decode(&r.body(vec![bad_meta, bad_ex]), Version::V2, MAX).unwrap();
    assert_eq!(b.rejected.len(), 2);
    assert_eq!(b.rejected[0].reason, "invalid_symbol_ref");
    assert_eq!(
        b.rejected[0].message,
        format!(
            r#"timeseries[0] series {{__name__="up"}}: metadata.help_ref = 1000 is outside the symbols table (size {size})"#
        )
    );
    assert_eq!(b.rejected[1].reason, "invalid_exemplar");
    assert_eq!(
        b.rejected[1].message,
        format!(
            r#"timeseries[1] series {{__name__="up"}}: exemplars[0].labels_refs[1] = 500 is outside the symbols table (size {size})"#
        )
    );
    // The series with the bad exemplar keeps its sample.
    assert_eq!(b.series.len(), 1);
    assert_eq!(b.series[0].samples.len(), 1);
}

#[test]
fn v1_body_read_as_v2_is_empty() {
    // The reserved fields 1..3 of the 2.0 message make a 1.0 body decode as an empty request.
    let body = v1(vec![ts(&[("__name__", "up")], &[(1, 1.0)])]);
    let b = decode(&body, Version::V2, MAX).unwrap();
    assert_eq!(b, WriteBatch::default());
    assert_eq!(b.counts(), Counts::default());
}

// ---- validate / errors ----

#[test]
fn validate_timestamps() {
    let now = 1_700_000_000_000;
    let mut s = ts(
        &[("__name__", "up")],
        &[
            (now - 10, 1.0),
            (now, 2.0),
            (now, 2.0),                    // exact repeat: kept
            (now, 3.0),                    // duplicate timestamp, other value
            (now - 5, 1.0),                // out of order
            (now + MAX_AHEAD_MS, 1.0),     // at the limit: kept
            (now + MAX_AHEAD_MS + 1, 1.0), // too far ahead
        ],
    );
    s.exemplars.push(proto::Exemplar {
        labels: vec![],
        value: 1.0,
        timestamp: now + 3_600_000,
    });
    s.histograms = vec![int_histogram(now), int_histogram(now - 1)];
    let mut b = decode_v1(vec![s]);
    validate(&mut b, now);
    let kept: Vec<i64> = b.series[0].samples.iter().map(|s| s.0).collect();
    assert_eq!(kept, vec![now - 10, now, now, now + MAX_AHEAD_MS]);
    assert!(b.series[0].exemplars.is_empty());
    assert_eq!(b.series[0].histograms.len(), 1);
    let reasons: Vec<&str> = b.rejected.iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        vec![
            "duplicate_timestamp",
            "out_of_order",
            "out_of_bounds",
            "out_of_order",
            "out_of_bounds"
        ]
    );
    assert_eq!(
        b.rejected[2].message,
        format!(
            r#"series {{__name__="up"}}: timestamp is too far in the future (timestamp {} ms)"#,
            now + MAX_AHEAD_MS + 1
        )
    );
    let e = b.rejection_error().unwrap();
    let msg = bad_request(e);
    assert!(
        msg.starts_with("remote write: 5 item(s) rejected (5 accepted); duplicate_timestamp: "),
        "{msg}"
    );
}

#[test]
fn rejections_are_capped() {
    let series: Vec<proto::TimeSeries> = (0..MAX_REJECTION_DETAILS + 50)
        .map(|i| ts(&[("job", &i.to_string())], &[(1, 1.0)]))
        .collect();
    let b = decode_v1(series);
    assert_eq!(b.rejected.len(), MAX_REJECTION_DETAILS + 1);
    let last = b.rejected.last().unwrap();
    assert_eq!(last.message, MORE_REJECTIONS);
    assert_eq!(last.count, 50);
    assert_eq!(b.rejected_count(), (MAX_REJECTION_DETAILS + 50) as u64);
    let msg = bad_request(b.rejection_error().unwrap());
    assert!(msg.contains("; and 91 more rejection(s)"), "{msg}");
}

#[test]
fn empty_series_are_not_kept() {
    // An empty 1.0 series, and one whose only histogram is invalid.
    let mut s = ts(&[("__name__", "latency")], &[]);
    let mut h = int_histogram(1);
    h.schema = 100;
    s.histograms.push(h);
    let b = decode_v1(vec![ts(&[("__name__", "up")], &[]), s]);
    assert!(b.series.is_empty());
    assert_eq!(only_rejection(&b).reason, "invalid_histogram");
    // Everything rejected by validate: the series goes too.
    let mut b = decode_v1(vec![ts(&[("__name__", "up")], &[(i64::MAX, 1.0)])]);
    validate(&mut b, 0);
    assert!(b.series.is_empty());
    assert_eq!(only_rejection(&b).reason, "out_of_bounds");
}

#[test]
fn v2_unpacked_label_refs_are_read() {
    // proto3 writers pack repeated uint32, but parsers must also accept the unpacked form.
    let mut r = V2::new();
    let mut s = r.series(&[("__name__", "up")], &[(7, 1.0)]);
    let refs = std::mem::take(&mut s.labels_refs);
    let mut series = Vec::new();
    for x in refs {
        series.extend_from_slice(&[0x08, x as u8]);
    }
    series.extend_from_slice(&s.encode_to_vec());
    let mut raw = proto::RequestV2 {
        symbols: r.symbols.iter().map(|s| s.as_bytes().to_vec()).collect(),
        timeseries: vec![],
    }
    .encode_to_vec();
    raw.push(0x2a);
    raw.push(series.len() as u8);
    raw.extend_from_slice(&series);
    let b = decode(&snappy(&raw), Version::V2, MAX).unwrap();
    assert!(b.rejected.is_empty(), "{:?}", b.rejected);
    assert_eq!(b.series[0].labels.metric_name(), Some("up"));
    assert_eq!(b.series[0].samples, vec![(7, 1.0)]);
}

#[test]
fn histograms_convert_to_float_histograms_for_the_store() {
    use weft_metrics::promql::histogram::CounterResetHint;
    let mut s = ts(&[("__name__", "latency")], &[(500, 1.0)]);
    let mut h = int_histogram(1000);
    // Two positive spans (offset -2 length 2, gap 3, length 1) and one negative span.
    h.positive_spans.push(proto::BucketSpan {
        offset: 3,
        length: 1,
    });
    h.positive_deltas.push(4);
    h.negative_spans = vec![proto::BucketSpan {
        offset: 0,
        length: 2,
    }];
    h.negative_deltas = vec![2, 1];
    let mut float = int_histogram(2000);
    float.count = Some(proto::HistogramCount::CountFloat(7.5));
    float.zero_count = Some(proto::HistogramZeroCount::ZeroCountFloat(0.5));
    float.positive_deltas = vec![];
    float.positive_counts = vec![2.5, 4.5];
    float.reset_hint = 1;
    // A later span with a negative offset cannot be placed.
    let mut bad = int_histogram(3000);
    bad.positive_spans = vec![
        proto::BucketSpan {
            offset: 0,
            length: 1,
        },
        proto::BucketSpan {
            offset: -3,
            length: 1,
        },
    ];
    s.histograms = vec![h, float, bad];
    let (write, rejected) = decode_v1(vec![s]).into_metric_write();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].reason, "invalid_histogram");
    assert!(
        rejected[0].message.contains("negative offset -3"),
        "{}",
        rejected[0].message
    );
    let got = &write.series[0].histograms;
    assert_eq!(got.len(), 2);
    let (t, f) = &got[0];
    assert_eq!(*t, 1000);
    assert_eq!(
        (f.schema, f.count, f.zero_count, f.sum),
        (3, 5.0, 1.0, 12.5)
    );
    // Deltas 3, -2, 4 → counts 3, 1, 5 at indexes -2, -1, 3.
    assert_eq!(f.positive, vec![(-2, 3.0), (-1, 1.0), (3, 5.0)]);
    assert_eq!(f.negative, vec![(0, 2.0), (1, 3.0)]);
    assert_eq!(f.hint, CounterResetHint::NotCounterReset);
    let (_, f) = &got[1];
    assert_eq!((f.count, f.zero_count), (7.5, 0.5));
    assert_eq!(f.positive, vec![(-2, 2.5), (-1, 4.5)]);
    assert_eq!(f.hint, CounterResetHint::CounterReset);
    assert_eq!(write.series[0].samples, vec![(500, 1.0)]);
}

#[test]
fn histogram_stale_markers_become_float_stale_markers() {
    let mut s = ts(&[("__name__", "latency")], &[(500, 1.0), (3000, 2.0)]);
    let mut stale = int_histogram(2000);
    stale.sum = f64::from_bits(STALE_NAN_BITS);
    s.histograms = vec![int_histogram(1000), stale];
    let (write, rejected) = decode_v1(vec![s]).into_metric_write();
    assert!(rejected.is_empty(), "{rejected:?}");
    let series = &write.series[0];
    assert_eq!(series.histograms.len(), 1);
    let bits: Vec<(i64, u64)> = series
        .samples
        .iter()
        .map(|&(t, v)| (t, v.to_bits()))
        .collect();
    assert_eq!(
        bits,
        vec![
            (500, 1f64.to_bits()),
            (2000, STALE_NAN_BITS),
            (3000, 2f64.to_bits())
        ]
    );
}

/// A request stored as received (WAL record kind 4) replays to exactly the write the
/// receiver made of it.
#[test]
fn received_body_records_replay_to_the_received_write() {
    let tenant = weft_core::TenantId::parse("t-1").unwrap();
    let body = v1(vec![
        ts(
            &[("__name__", "up"), ("job", "a")],
            &[(1000, 1.0), (2000, 0.0)],
        ),
        ts(&[("__name__", "temp"), ("zone", "b")], &[(1500, -3.25)]),
    ]);
    let mut batch = decode(&body, Version::V1, 1 << 20).unwrap();
    validate(&mut batch, 10_000);
    let (want, rejected) = batch.into_metric_write();
    assert!(rejected.is_empty());
    let record = crate::record::encode_remote_write(&tenant, Version::V1, &body);
    assert_eq!(record[0], crate::record::KIND_REMOTE_WRITE);
    match crate::record::decode(&record).unwrap() {
        crate::record::WalRecord::Metrics { tenant: t, write } => {
            assert_eq!(t, tenant);
            assert_eq!(write, want);
        }
        other => panic!("unexpected record {other:?}"),
    }
    // A damaged body or version is an error that says so, not a panic.
    let mut bad = record.clone();
    let version_at = record.len() - body.len() - 1;
    bad[version_at] = 9;
    assert!(crate::record::decode(&bad)
        .unwrap_err()
        .contains("unknown version 9"));
    let truncated = &record[..record.len() - 3];
    assert!(crate::record::decode(truncated)
        .unwrap_err()
        .contains("remote-write record"));
}
