//! Table-driven tests for both formats. Bodies are written for these tests after the examples
//! in the Prometheus exposition-format documentation and the OpenMetrics 1.0 specification.

use super::*;

fn prom(body: &str) -> Scrape {
    parse(body.as_bytes(), Format::PrometheusText)
        .unwrap_or_else(|e| panic!("unexpected error {e} for body:\n{body}"))
}

fn om(body: &str) -> Scrape {
    parse(body.as_bytes(), Format::OpenMetrics)
        .unwrap_or_else(|e| panic!("unexpected error {e} for body:\n{body}"))
}

fn err(body: &[u8], format: Format) -> ParseError {
    match parse(body, format) {
        Ok(s) => panic!(
            "expected an error, parsed {s:?} from {:?}",
            String::from_utf8_lossy(body)
        ),
        Err(e) => e,
    }
}

fn lbl(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

/// Compact view of a sample for table comparisons: (labels, value, timestamp).
fn view(s: &Scrape) -> Vec<(Labels, f64, Option<i64>)> {
    s.samples
        .iter()
        .map(|s| (s.labels.clone(), s.value, s.timestamp_ms))
        .collect()
}

const DOC_EXAMPLE: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch (positive timestamp here: see the negative case):
something_weird{problem="division by zero"} +Inf 3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"#;

#[test]
fn exposition_doc_example() {
    let s = prom(DOC_EXAMPLE);
    assert_eq!(
        s.families,
        vec![
            MetricFamily {
                name: "http_requests_total".into(),
                kind: MetricType::Counter,
                help: Some("The total number of HTTP requests.".into()),
                unit: None,
            },
            MetricFamily {
                name: "http_request_duration_seconds".into(),
                kind: MetricType::Histogram,
                help: Some("A histogram of the request duration.".into()),
                unit: None,
            },
            MetricFamily {
                name: "rpc_duration_seconds".into(),
                kind: MetricType::Summary,
                help: Some("A summary of the RPC duration in seconds.".into()),
                unit: None,
            },
        ]
    );
    let v = view(&s);
    assert_eq!(v.len(), 5 + 8 + 7);
    assert_eq!(
        v[0],
        (
            lbl(&[
                ("__name__", "http_requests_total"),
                ("method", "post"),
                ("code", "200")
            ]),
            1027.0,
            Some(1_395_066_363_000)
        )
    );
    assert_eq!(
        v[2],
        (
            lbl(&[
                ("__name__", "msdos_file_access_time_seconds"),
                ("path", r"C:\DIR\FILE.TXT"),
                ("error", "Cannot find file:\n\"FILE.TXT\""),
            ]),
            1_458_255_915.0,
            None
        )
    );
    assert_eq!(v[3].1, 12.47);
    assert_eq!(v[4].1, f64::INFINITY);
    assert_eq!(v[4].2, Some(3_982_045));
    // `le` values are normalised as in Prometheus 3.
    let les: Vec<&str> = s.samples[5..11]
        .iter()
        .map(|s| s.labels.get("le").unwrap())
        .collect();
    assert_eq!(les, ["0.05", "0.1", "0.2", "0.5", "1.0", "+Inf"]);
    assert_eq!(s.samples[13].labels.get("quantile"), Some("0.01"));
    assert_eq!(s.samples[18].value, 17_560_473.0);
    assert!(s
        .samples
        .iter()
        .all(|s| s.exemplar.is_none() && s.created_ms.is_none()));
}

#[test]
fn negative_timestamp_is_rejected_like_prometheus() {
    let e = err(
        b"something_weird{problem=\"division by zero\"} +Inf -3982045\n",
        Format::PrometheusText,
    );
    assert_eq!(e.line, 1);
    assert_eq!(e.column, 50);
    assert!(e.message.contains("timestamp"), "{e}");
}

#[test]
fn prometheus_text_values() {
    let cases: &[(&str, f64)] = &[
        ("m 1", 1.0),
        ("m -0", -0.0),
        ("m 1e3", 1000.0),
        ("m +1.5E-3", 0.0015),
        ("m .5", 0.5),
        ("m Inf", f64::INFINITY),
        ("m +Inf", f64::INFINITY),
        ("m -Inf", f64::NEG_INFINITY),
        ("m -inf", f64::NEG_INFINITY),
        ("m 9007199254740993", 9_007_199_254_740_992.0),
    ];
    for (line, want) in cases {
        let s = prom(line);
        assert_eq!(s.samples[0].value.to_bits(), want.to_bits(), "{line}");
    }
    assert!(prom("m NaN").samples[0].value.is_nan());
    assert!(prom("m nan\n").samples[0].value.is_nan());
    for bad in [
        "m 0x1p-3", "m 0x10", "m 1_000", "m true", "m +NaN", "m 1e999", "m",
    ] {
        let e = err(bad.as_bytes(), Format::PrometheusText);
        assert!(
            e.message.starts_with("expected a sample value"),
            "{bad}: {e}"
        );
        assert_eq!(
            (e.line, e.column),
            (1, if bad == "m" { 2 } else { 3 }),
            "{bad}: {e}"
        );
    }
}

#[test]
fn prometheus_text_whitespace_and_layout() {
    let want = vec![(
        lbl(&[("__name__", "m"), ("a", "1"), ("b", "2")]),
        3.0,
        Some(4),
    )];
    for body in [
        "m{a=\"1\",b=\"2\"} 3 4",
        "m{a=\"1\",b=\"2\"} 3 4\n",
        "  m { a = \"1\" , b = \"2\" , }\t3\t4\t \n",
        "m{a=\"1\" b=\"2\"} 3 4\n",
        "m{a=\"1\",b=\"2\",} 3 4\n",
        "\n\n   \n# just a comment\n#no space comment\n# HELP\n# TYPEX foo\nm{b=\"2\",a=\"1\"}3 4\n",
        "m{a=\"1\",b=\"2\"} 3 4 \n\n",
    ] {
        assert_eq!(view(&prom(body)), want, "{body:?}");
    }
    // Empty label set and empty label values.
    assert_eq!(
        view(&prom("m{} 1\nn{x=\"\"} 2\n")),
        vec![
            (lbl(&[("__name__", "m")]), 1.0, None),
            (lbl(&[("__name__", "n")]), 2.0, None)
        ]
    );
    // An empty body is an empty scrape.
    assert_eq!(prom(""), Scrape::default());
    assert_eq!(prom("\n \n"), Scrape::default());
}

#[test]
fn prometheus_text_help_and_type() {
    let s = prom(
        "# HELP m Some \\\\ help\\nwith \\\"quotes\\\" and  spaces \n# TYPE m gauge\nm 1\n# HELP\tn\t  tabbed\n# HELP e\n",
    );
    assert_eq!(
        s.families[0].help.as_deref(),
        Some("Some \\ help\nwith \\\"quotes\\\" and  spaces ")
    );
    assert_eq!(s.families[0].kind, MetricType::Gauge);
    assert_eq!(s.families[1].help.as_deref(), Some("  tabbed"));
    assert_eq!(s.families[1].kind, MetricType::Untyped);
    assert_eq!(s.families[2].help.as_deref(), Some(""));
    // Quoted UTF-8 family name; TYPE after samples of another family updates the same entry.
    let s = prom("# TYPE \"my.metric\" counter\n{\"my.metric\"} 1\n# HELP \"my.metric\" h\n");
    assert_eq!(s.families.len(), 1);
    assert_eq!(s.families[0].name, "my.metric");
    assert_eq!(s.families[0].help.as_deref(), Some("h"));
    for (body, want) in [
        ("# TYPE m counters\n", "expected a metric type"),
        ("# TYPE m counter \n", "expected a metric type"),
        ("# TYPE m\n", "expected a metric type"),
        ("# TYPE m info\n", "expected a metric type"),
        ("# HELP #\n", "expected a metric name after HELP"),
        ("# TYPE 1m gauge\n", "expected a metric name after TYPE"),
        (
            "# HELP m-x y\n",
            "expected whitespace after the metric name",
        ),
    ] {
        let e = err(body.as_bytes(), Format::PrometheusText);
        assert!(e.message.starts_with(want), "{body:?}: {e}");
    }
    let e = err(b"# HELP m bad \xff utf8\n", Format::PrometheusText);
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (1, 14, "invalid UTF-8 in HELP text")
    );
    // Invalid UTF-8 in a plain comment is ignored.
    assert_eq!(prom("# caf\u{e9} \u{1F600}\n").samples.len(), 0);
    assert_eq!(
        parse(b"# \xff\xfe\nm 1\n", Format::PrometheusText)
            .unwrap()
            .samples
            .len(),
        1
    );
}

#[test]
fn label_value_escapes() {
    let s = prom(r#"m{a="x\\y",b="say \"hi\"",c="l1\nl2",d="keep \t and \u",e="\\n"} 1"#);
    let l = &s.samples[0].labels;
    assert_eq!(l.get("a"), Some(r"x\y"));
    assert_eq!(l.get("b"), Some("say \"hi\""));
    assert_eq!(l.get("c"), Some("l1\nl2"));
    assert_eq!(l.get("d"), Some(r"keep \t and \u"));
    assert_eq!(l.get("e"), Some(r"\n"));
    // A raw newline inside a value is accepted by the Prometheus text lexer.
    let s = prom("m{a=\"x\ny\"} 1\nn 2\n");
    assert_eq!(s.samples[0].labels.get("a"), Some("x\ny"));
    assert_eq!(s.samples.len(), 2);
    // ... but not in OpenMetrics.
    let e = err(b"m{a=\"x\ny\"} 1\n# EOF\n", Format::OpenMetrics);
    assert!(e.message.starts_with("unterminated label value"), "{e}");
}

#[test]
fn utf8_quoted_names() {
    let s = prom(
        "# TYPE \"my.metric\" gauge\n{\"my.metric\", \"label.name\"=\"v\", plain=\"p\"} 1\n{\"label.name\"=\"v\",\"my.other\"} 2\nm{\"caf\u{e9}\"=\"x\"} 3\n",
    );
    assert_eq!(
        view(&s),
        vec![
            (
                lbl(&[
                    ("__name__", "my.metric"),
                    ("label.name", "v"),
                    ("plain", "p")
                ]),
                1.0,
                None
            ),
            (
                lbl(&[("__name__", "my.other"), ("label.name", "v")]),
                2.0,
                None
            ),
            (lbl(&[("__name__", "m"), ("caf\u{e9}", "x")]), 3.0, None),
        ]
    );
    let s = prom("{\"Heiz\u{f6}l \\\"x\\\" {a}\\nb\",\"strange\u{a9}\\n'q'\"=\"6\"} 10\n");
    assert_eq!(
        s.samples[0].labels,
        lbl(&[
            ("__name__", "Heiz\u{f6}l \"x\" {a}\nb"),
            ("strange\u{a9}\n'q'", "6")
        ])
    );
    let om_body = "# TYPE \"my.metric\" gauge\n{\"my.metric\",\"label.name\"=\"v\"} 1\n# EOF\n";
    assert_eq!(
        om(om_body).samples[0].labels.metric_name(),
        Some("my.metric")
    );
    for (body, want) in [
        ("{\"a\",\"b\"} 1\n", "metric name already set"),
        ("m{\"b\"} 1\n", "metric name already set"),
        ("{a=\"ok\"} 1\n", "metric name not set"),
        ("{} 1\n", "metric name not set"),
        ("{\"\"} 1\n", "metric name must not be empty"),
        ("m{\"\"=\"v\"} 1\n", "label name must not be empty"),
        (
            "{\"a\", \"b = \"c\"} 1\n",
            "expected '=' after the label name",
        ),
        ("m{=\"\"} 0\n", "expected a label name or '}'"),
    ] {
        let e = err(body.as_bytes(), Format::PrometheusText);
        assert!(e.message.starts_with(want), "{body:?}: {e}");
    }
}

#[test]
fn duplicate_labels_and_invalid_utf8() {
    let e = err(b"m{a=\"1\",a=\"2\"} 1\n", Format::PrometheusText);
    assert_eq!((e.line, e.column), (1, 2));
    assert_eq!(e.message, "duplicate label name \"a\" in label set");
    let e = err(b"m{__name__=\"x\"} 1\n", Format::PrometheusText);
    assert!(e.message.contains("__name__"), "{e}");
    let e = err(b"ok 1\nm{a=\"\xff\"} 1\n", Format::PrometheusText);
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, 6, "invalid UTF-8 in label value")
    );
    let e = err(b"m{\xff=\"foo\"} 1\n", Format::PrometheusText);
    assert!(e.message.starts_with("expected a label name or '}'"), "{e}");
    let e = err(b"{\"a\xc3\"} 1\n", Format::PrometheusText);
    assert!(e.message.contains("invalid UTF-8"), "{e}");
    let e = err(b"m{a=\"1\",a=\"2\"} 1\n# EOF\n", Format::OpenMetrics);
    assert!(e.message.starts_with("duplicate label name"), "{e}");
}

#[test]
fn prometheus_text_errors_name_position_and_expectation() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("a{b='c'} 1\n", 1, 5, "expected a label value (a double-quoted string), found \"'c'}\""),
        ("a{b=\n", 1, 5, "expected a label value (a double-quoted string), found end of line"),
        ("ok 1\nsomething_weird{problem=\"", 2, 25, "unterminated label value"),
        ("{A}0\n", 1, 3, "expected '=' after the label name, found \"}0\""),
        ("a 0 1_2\n", 1, 5, "expected end of line or a timestamp (integer milliseconds), found \"1_2\""),
        ("a 0 1 2\n", 1, 7, "expected end of line after the timestamp, found \"2\""),
        ("a 0 99999999999999999999\n", 1, 5, "timestamp out of range"),
        ("1a 0\n", 1, 1, "expected a metric name, '{' or '#', found \"1a\""),
        ("a 1\r\n", 1, 3, "expected a sample value, found \"1\\r\" (carriage return: lines must end with \\n alone)"),
        ("# TYPE a counter\r\n", 1, 10, "expected a metric type"),
        ("a{b=\"c\"\r} 1\n", 1, 8, "expected a label name or '}', found a carriage return"),
        ("a{b=\"\\\n\"} 1\n", 1, 6, "invalid escape in label value"),
        ("m 1 # {a=\"b\"} 1\n", 1, 5, "expected end of line or a timestamp"),
        ("m\u{e9}t 1\n", 1, 2, "expected a sample value, found \"\u{e9}t\""),
    ];
    for (body, line, col, want) in cases {
        let e = err(body.as_bytes(), Format::PrometheusText);
        assert!(e.message.starts_with(want), "{body:?}: {e}");
        assert_eq!((e.line, e.column), (*line, *col), "{body:?}: {e}");
    }
    let e = err(b"a{b=\"c\"} x", Format::PrometheusText);
    assert_eq!(
        e.to_string(),
        "line 1, col 10: expected a sample value, found \"x\" (not a number)"
    );
}

#[test]
fn nul_bytes_are_ordinary() {
    let s = parse(
        b"a{b=\"x\x00y\"} 1\n# comment \x00\n",
        Format::PrometheusText,
    )
    .unwrap();
    assert_eq!(s.samples[0].labels.get("b"), Some("x\u{0}y"));
    assert!(parse(b"a\x00 1\n", Format::PrometheusText).is_err());
    assert!(parse(b"a 0 1\x00", Format::PrometheusText).is_err());
}

#[test]
fn histogram_and_summary_label_normalisation() {
    let s = prom(
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1e3\"} 2\nh_bucket{le=\"1000000\"} 2\nh_bucket{le=\"0.0\"} 0\nh_bucket{le=\"+inf\"} 3\nh_bucket{le=\"junk\"} 3\nh_sum{le=\"1\"} 3\n\
         # TYPE s summary\ns{quantile=\"0.50\"} 1\ns{quantile=\"1\",le=\"1\"} 2\n\
         # TYPE g gauge\ng{le=\"1\",quantile=\"1\"} 1\nother_bucket{le=\"1\"} 1\n",
    );
    let got: Vec<String> = s.samples.iter().map(|s| s.labels.to_string()).collect();
    assert_eq!(
        got,
        [
            r#"{__name__="h_bucket", le="1.0"}"#,
            r#"{__name__="h_bucket", le="1000.0"}"#,
            r#"{__name__="h_bucket", le="1e+06"}"#,
            r#"{__name__="h_bucket", le="0.0"}"#,
            r#"{__name__="h_bucket", le="+Inf"}"#,
            r#"{__name__="h_bucket", le="junk"}"#,
            r#"{__name__="h_sum", le="1.0"}"#,
            r#"{__name__="s", quantile="0.5"}"#,
            r#"{__name__="s", le="1", quantile="1.0"}"#,
            r#"{__name__="g", le="1", quantile="1"}"#,
            r#"{__name__="other_bucket", le="1"}"#,
        ]
    );
}

const NODE_EXPORTER: &str = r##"# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.4338e-05
go_gc_duration_seconds{quantile="0.25"} 3.0752e-05
go_gc_duration_seconds{quantile="0.5"} 3.4963e-05
go_gc_duration_seconds{quantile="0.75"} 4.5498e-05
go_gc_duration_seconds{quantile="1"} 0.000346726
go_gc_duration_seconds_sum 0.038520469
go_gc_duration_seconds_count 889
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 8
# HELP go_info Information about the Go environment.
# TYPE go_info gauge
go_info{version="go1.22.4"} 1
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 2.37414589e+06
node_cpu_seconds_total{cpu="0",mode="iowait"} 1147.29
node_cpu_seconds_total{cpu="0",mode="system"} 5837.55
node_cpu_seconds_total{cpu="1",mode="idle"} 2.37545823e+06
# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 4.2049687552e+10
node_filesystem_avail_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run"} 8.28833792e+08
# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 0.21
# HELP node_network_receive_bytes_total Network device statistic receive_bytes.
# TYPE node_network_receive_bytes_total counter
node_network_receive_bytes_total{device="eth0"} 1.23456789e+09
node_network_receive_bytes_total{device="lo"} 0
# HELP node_scrape_collector_success node_exporter: Whether a collector succeeded.
# TYPE node_scrape_collector_success gauge
node_scrape_collector_success{collector="cpu"} 1
node_scrape_collector_success{collector="textfile"} 0
# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 otherwise
# TYPE node_textfile_scrape_error gauge
node_textfile_scrape_error 0
# HELP node_uname_info Labeled system information as provided by the uname system call.
# TYPE node_uname_info gauge
node_uname_info{domainname="(none)",machine="x86_64",nodename="host-1",release="6.1.0-18-amd64",sysname="Linux",version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"} 1
# HELP promhttp_metric_handler_requests_total Total number of scrapes by HTTP status code.
# TYPE promhttp_metric_handler_requests_total counter
promhttp_metric_handler_requests_total{code="200"} 5711
promhttp_metric_handler_requests_total{code="500"} 0
promhttp_metric_handler_requests_total{code="503"} 0
"##;

#[test]
fn node_exporter_like_output() {
    let s = prom(NODE_EXPORTER);
    assert_eq!(s.families.len(), 11);
    assert_eq!(s.samples.len(), 25);
    assert_eq!(s.samples[0].labels.get("quantile"), Some("0.0"));
    assert_eq!(s.samples[4].labels.get("quantile"), Some("1.0"));
    let uname = s
        .samples
        .iter()
        .find(|s| s.labels.metric_name() == Some("node_uname_info"))
        .unwrap();
    assert_eq!(
        uname.labels.get("version"),
        Some("#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)")
    );
    assert_eq!(s.families[3].kind, MetricType::Counter);
    assert_eq!(s.families[3].name, "node_cpu_seconds_total");
    assert!(s.samples.iter().all(|s| s.timestamp_ms.is_none()));
}

const PROMETHEUS_SELF: &str = r#"# HELP prometheus_build_info A metric with a constant '1' value labeled by version, revision, branch, goversion from which prometheus was built, and the goos and goarch for the build.
# TYPE prometheus_build_info gauge
prometheus_build_info{branch="HEAD",goarch="amd64",goos="linux",goversion="go1.23.4",revision="7086161a93b262aa0949dbf2aba15a5a7b13e0a3",tags="netgo,builtinassets,stringlabels",version="3.1.0"} 1
# HELP prometheus_http_request_duration_seconds Histogram of latencies for HTTP requests.
# TYPE prometheus_http_request_duration_seconds histogram
prometheus_http_request_duration_seconds_bucket{handler="/metrics",le="0.1"} 1042
prometheus_http_request_duration_seconds_bucket{handler="/metrics",le="0.2"} 1042
prometheus_http_request_duration_seconds_bucket{handler="/metrics",le="0.4"} 1042
prometheus_http_request_duration_seconds_bucket{handler="/metrics",le="1"} 1042
prometheus_http_request_duration_seconds_bucket{handler="/metrics",le="3"} 1042
prometheus_http_request_duration_seconds_bucket{handler="/metrics",le="8"} 1042
prometheus_http_request_duration_seconds_bucket{handler="/metrics",le="20"} 1042
prometheus_http_request_duration_seconds_bucket{handler="/metrics",le="60"} 1042
prometheus_http_request_duration_seconds_bucket{handler="/metrics",le="120"} 1042
prometheus_http_request_duration_seconds_bucket{handler="/metrics",le="+Inf"} 1042
prometheus_http_request_duration_seconds_sum{handler="/metrics"} 3.0867254119999994
prometheus_http_request_duration_seconds_count{handler="/metrics"} 1042
# HELP prometheus_tsdb_head_series Total number of series in the head block.
# TYPE prometheus_tsdb_head_series gauge
prometheus_tsdb_head_series 1532
# HELP prometheus_engine_query_duration_seconds Query timings
# TYPE prometheus_engine_query_duration_seconds summary
prometheus_engine_query_duration_seconds{slice="inner_eval",quantile="0.5"} NaN
prometheus_engine_query_duration_seconds{slice="inner_eval",quantile="0.9"} NaN
prometheus_engine_query_duration_seconds{slice="inner_eval",quantile="0.99"} NaN
prometheus_engine_query_duration_seconds_sum{slice="inner_eval"} 0
prometheus_engine_query_duration_seconds_count{slice="inner_eval"} 0
# HELP prometheus_target_interval_length_seconds Actual intervals between scrapes.
# TYPE prometheus_target_interval_length_seconds summary
prometheus_target_interval_length_seconds{interval="15s",quantile="0.01"} 14.99956
prometheus_target_interval_length_seconds_count{interval="15s"} 1040
"#;

#[test]
fn prometheus_self_metrics() {
    let s = prom(PROMETHEUS_SELF);
    assert_eq!(s.families.len(), 5);
    assert_eq!(s.samples.len(), 1 + 12 + 1 + 5 + 2);
    let les: Vec<&str> = s.samples[1..11]
        .iter()
        .map(|s| s.labels.get("le").unwrap())
        .collect();
    assert_eq!(
        les,
        ["0.1", "0.2", "0.4", "1.0", "3.0", "8.0", "20.0", "60.0", "120.0", "+Inf"]
    );
    assert!(s.samples[14].value.is_nan());
    assert_eq!(s.samples[14].labels.get("quantile"), Some("0.5"));
    assert_eq!(s.samples[12].value, 1042.0);
}

/// What the seed's Node.js service exposes through prom-client: labelled counters and a
/// histogram with prom-client's default buckets, plus default process metrics.
const PROM_CLIENT: &str = r#"# HELP process_cpu_user_seconds_total Total user CPU time spent in seconds.
# TYPE process_cpu_user_seconds_total counter
process_cpu_user_seconds_total 1.234567

# HELP nodejs_eventloop_lag_seconds Lag of event loop in seconds.
# TYPE nodejs_eventloop_lag_seconds gauge
nodejs_eventloop_lag_seconds 0.003208875

# HELP nodejs_version_info Node.js version info.
# TYPE nodejs_version_info gauge
nodejs_version_info{version="v20.11.0",major="20",minor="11",patch="0"} 1

# HELP http_requests_total Total number of HTTP requests
# TYPE http_requests_total counter
http_requests_total{route="/api/items",method="GET",status="200"} 1520
http_requests_total{route="/api/items",method="POST",status="201"} 37
http_requests_total{route="/api/items/:id",method="GET",status="404"} 4

# HELP http_request_duration_seconds Duration of HTTP requests in seconds
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.005",route="/api/items",method="GET",status="200"} 210
http_request_duration_seconds_bucket{le="0.01",route="/api/items",method="GET",status="200"} 640
http_request_duration_seconds_bucket{le="0.025",route="/api/items",method="GET",status="200"} 1300
http_request_duration_seconds_bucket{le="0.05",route="/api/items",method="GET",status="200"} 1480
http_request_duration_seconds_bucket{le="0.1",route="/api/items",method="GET",status="200"} 1510
http_request_duration_seconds_bucket{le="0.25",route="/api/items",method="GET",status="200"} 1518
http_request_duration_seconds_bucket{le="0.5",route="/api/items",method="GET",status="200"} 1519
http_request_duration_seconds_bucket{le="1",route="/api/items",method="GET",status="200"} 1520
http_request_duration_seconds_bucket{le="2.5",route="/api/items",method="GET",status="200"} 1520
http_request_duration_seconds_bucket{le="5",route="/api/items",method="GET",status="200"} 1520
http_request_duration_seconds_bucket{le="10",route="/api/items",method="GET",status="200"} 1520
http_request_duration_seconds_bucket{le="+Inf",route="/api/items",method="GET",status="200"} 1520
http_request_duration_seconds_sum{route="/api/items",method="GET",status="200"} 14.871
http_request_duration_seconds_count{route="/api/items",method="GET",status="200"} 1520
"#;

#[test]
fn prom_client_output() {
    let s = prom(PROM_CLIENT);
    assert_eq!(s.families.len(), 5);
    assert_eq!(s.samples.len(), 3 + 3 + 14);
    assert_eq!(
        s.samples[4].labels,
        lbl(&[
            ("__name__", "http_requests_total"),
            ("route", "/api/items"),
            ("method", "POST"),
            ("status", "201")
        ])
    );
    let les: Vec<&str> = s.samples[6..18]
        .iter()
        .map(|s| s.labels.get("le").unwrap())
        .collect();
    assert_eq!(
        les,
        [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0",
            "+Inf"
        ]
    );
    assert_eq!(s.samples[18].value, 14.871);
    assert_eq!(s.samples[6].labels.get("route"), Some("/api/items"));
}

#[test]
fn openmetrics_spec_example() {
    let body = r#"# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
acme_http_router_request_seconds_sum{path="/api/v2",method="POST"} 479.3
acme_http_router_request_seconds_count{path="/api/v2",method="POST"} 34.0
acme_http_router_request_seconds_created{path="/api/v2",method="POST"} 1605281325.5
# TYPE go_goroutines gauge
# HELP go_goroutines Number of goroutines that currently exist.
go_goroutines 69
# TYPE process_cpu_seconds counter
# UNIT process_cpu_seconds seconds
# HELP process_cpu_seconds Total user and system CPU time spent in seconds.
process_cpu_seconds_total 4.20072246e+06
# EOF
"#;
    let s = om(body);
    assert_eq!(
        s.families[0],
        MetricFamily {
            name: "acme_http_router_request_seconds".into(),
            kind: MetricType::Summary,
            help: Some("Latency though all of ACME's HTTP request router.".into()),
            unit: Some("seconds".into()),
        }
    );
    assert_eq!(s.families[1].kind, MetricType::Gauge);
    assert_eq!(s.families[2].kind, MetricType::Counter);
    assert_eq!(s.families[2].name, "process_cpu_seconds");
    assert_eq!(s.samples.len(), 8);
    let created: Vec<Option<i64>> = s.samples.iter().map(|s| s.created_ms).collect();
    assert_eq!(
        created,
        [
            Some(1_605_281_325_000),
            Some(1_605_281_325_000),
            None,
            Some(1_605_281_325_500),
            Some(1_605_281_325_500),
            None,
            None,
            None
        ]
    );
    assert_eq!(
        s.samples[7].labels.metric_name(),
        Some("process_cpu_seconds_total")
    );
    assert_eq!(s.samples[7].value, 4_200_722.46);
}

#[test]
fn openmetrics_exemplars_and_timestamps() {
    let body = r#"# TYPE foo histogram
foo_bucket{le="0.01"} 0
foo_bucket{le="0.1"} 8 # {} 0.054
foo_bucket{le="1"} 11 # {trace_id="KOO5S4vxi0o"} 0.67
foo_bucket{le="10"} 17 # {trace_id="oHg5SJYRHA0"} 9.8 1520879607.789
foo_bucket{le="+Inf"} 17 1520879607.5 # {"span.id"="a",b="\"x\""} 1e1 -1.5
foo_count 17
foo_sum 324789.3
foo_created 1520430000.123
# TYPE bar counter
bar_total 17.0 1520879607 # {trace_id="oHg5SJYRHA0",id="x"} 9.8
bar_created 1520430000
# EOF"#;
    let s = om(body);
    assert_eq!(s.samples.len(), 10);
    let les: Vec<&str> = s.samples[..5]
        .iter()
        .map(|s| s.labels.get("le").unwrap())
        .collect();
    assert_eq!(les, ["0.01", "0.1", "1.0", "10.0", "+Inf"]);
    assert_eq!(s.samples[0].exemplar, None);
    assert_eq!(
        s.samples[1].exemplar,
        Some(Exemplar {
            labels: Labels::default(),
            value: 0.054,
            timestamp_ms: None
        })
    );
    assert_eq!(
        s.samples[3].exemplar,
        Some(Exemplar {
            labels: lbl(&[("trace_id", "oHg5SJYRHA0")]),
            value: 9.8,
            timestamp_ms: Some(1_520_879_607_789),
        })
    );
    let ex = s.samples[4].exemplar.as_ref().unwrap();
    assert_eq!(ex.labels, lbl(&[("span.id", "a"), ("b", "\"x\"")]));
    assert_eq!((ex.value, ex.timestamp_ms), (10.0, Some(-1500)));
    assert_eq!(s.samples[4].timestamp_ms, Some(1_520_879_607_500));
    for i in [0, 1, 2, 3, 4, 5, 6] {
        assert_eq!(
            s.samples[i].created_ms,
            Some(1_520_430_000_123),
            "sample {i}"
        );
    }
    assert_eq!(s.samples[7].labels.metric_name(), Some("foo_created"));
    assert_eq!(s.samples[7].created_ms, None);
    assert_eq!(s.samples[8].timestamp_ms, Some(1_520_879_607_000));
    assert_eq!(s.samples[8].exemplar.as_ref().unwrap().labels.len(), 2);
    assert_eq!(s.samples[8].created_ms, Some(1_520_430_000_000));
    assert_eq!(s.samples[9].created_ms, None);
}

#[test]
fn openmetrics_types_and_metadata() {
    let body = "# TYPE a stateset\na{a=\"x\"} 1.0\na{a=\"y\"} 0.0\n# TYPE b info\n# HELP b Some \\\"quoted\\\" \\\\ help\\n\nb_info{version=\"1.2\"} 1\n# TYPE c gaugehistogram\nc_bucket{le=\"1\"} 2\nc_gsum 3\nc_gcount 2\n# TYPE d unknown\nd 1\n# UNIT e_bytes bytes\n# UNIT f \ne 2\n# EOF\n";
    let s = om(body);
    let kinds: Vec<(&str, MetricType)> = s
        .families
        .iter()
        .map(|f| (f.name.as_str(), f.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("a", MetricType::StateSet),
            ("b", MetricType::Info),
            ("c", MetricType::GaugeHistogram),
            ("d", MetricType::Unknown),
            ("e_bytes", MetricType::Unknown),
            ("f", MetricType::Unknown),
        ]
    );
    assert_eq!(
        s.families[1].help.as_deref(),
        Some("Some \"quoted\" \\ help\n")
    );
    assert_eq!(s.families[4].unit.as_deref(), Some("bytes"));
    assert_eq!(s.families[5].unit, None);
    // gaugehistogram `le` values are not normalised (Prometheus only does histograms).
    assert_eq!(s.samples[3].labels.get("le"), Some("1"));
    assert_eq!(s.samples.len(), 8);
}

#[test]
fn openmetrics_errors() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("m 1\n", 2, 1, "expected \"# EOF\", found end of input"),
        ("", 1, 1, "expected \"# EOF\""),
        ("m 1", 1, 4, "expected end of line, found end of input"),
        ("m 1\n# EOF\nm 2\n", 3, 1, "unexpected data after # EOF"),
        ("# EOF\n\n", 2, 1, "unexpected data after # EOF"),
        ("# EOF \n", 1, 6, "unexpected data after # EOF"),
        ("\n# EOF\n", 1, 1, "expected a metric name, '{' or \"# \""),
        (" m 1\n# EOF\n", 1, 1, "expected a metric name"),
        (
            "# a comment\n# EOF\n",
            1,
            3,
            "expected HELP, TYPE, UNIT or EOF",
        ),
        ("#EOF\n", 1, 1, "expected \"# HELP\""),
        (
            "m  1\n# EOF\n",
            1,
            3,
            "expected a sample value, found a space",
        ),
        (
            "m\t1\n# EOF\n",
            1,
            2,
            "expected a single space and the sample value",
        ),
        (
            "m 1 \n# EOF\n",
            1,
            5,
            "expected a timestamp in seconds, found end of line",
        ),
        (
            "m{a=\"1\", b=\"2\"} 1\n# EOF\n",
            1,
            9,
            "expected a label name or '}', found a space",
        ),
        (
            "m{a=\"1\"b=\"2\"} 1\n# EOF\n",
            1,
            8,
            "expected ',' or '}' after the label value",
        ),
        (
            "m {a=\"1\"} 1\n# EOF\n",
            1,
            3,
            "expected a sample value, found \"{a=\\\"1\\\"}\"",
        ),
        ("m 1 NaN\n# EOF\n", 1, 5, "timestamp must be finite"),
        (
            "m 1 1 2\n# EOF\n",
            1,
            6,
            "expected end of line or an exemplar",
        ),
        (
            "# HELP m\n# EOF\n",
            1,
            9,
            "expected a single space and the HELP text",
        ),
        (
            "# HELP  m x\n# EOF\n",
            1,
            8,
            "expected a metric name after HELP",
        ),
        ("# TYPE m untyped\n# EOF\n", 1, 10, "expected a metric type"),
        (
            "# UNIT m_seconds bytes\n# EOF\n",
            1,
            8,
            "unit \"bytes\" is not a suffix",
        ),
        (
            "# UNIT seconds seconds\n# EOF\n",
            1,
            8,
            "unit \"seconds\" is not a suffix",
        ),
        (
            "# TYPE c counter\nc 1\n# EOF\n",
            2,
            1,
            "OpenMetrics counter samples must be named with the _total suffix",
        ),
        (
            "m 1 # {\"a\"} 1\n# EOF\n",
            1,
            11,
            "expected '=' after the label name",
        ),
        (
            "m 1 # {a=\"b\"}\n# EOF\n",
            1,
            14,
            "expected a single space and the exemplar value",
        ),
        (
            "m 1 # {a=\"b\"} 1 2 3\n# EOF\n",
            1,
            18,
            "expected end of line after the exemplar",
        ),
        (
            "m 1 # {a=\"b\",a=\"c\"} 1\n# EOF\n",
            1,
            7,
            "duplicate label name \"a\"",
        ),
        (
            "m 1 # {a=\"b\"} 1 Inf\n# EOF\n",
            1,
            17,
            "exemplar timestamp must be finite",
        ),
        (
            "m 1 #{a=\"b\"} 1\n# EOF\n",
            1,
            5,
            "expected a timestamp in seconds, found \"#{a=\\\"b\\\"}\"",
        ),
        (
            "m 1\r\n# EOF\n",
            1,
            3,
            "expected a sample value, found \"1\\r\"",
        ),
    ];
    for (body, line, col, want) in cases {
        let e = err(body.as_bytes(), Format::OpenMetrics);
        assert!(e.message.starts_with(want), "{body:?}: {e}");
        assert_eq!((e.line, e.column), (*line, *col), "{body:?}: {e}");
    }
}

#[test]
fn openmetrics_accepts_prometheus_leniencies() {
    // Trailing comma in a label set, `# EOF` without a final newline, a bare family name.
    let s = om("m{a=\"1\",} 1\n{\"x.y\",} 2\n# EOF");
    assert_eq!(s.samples[0].labels, lbl(&[("__name__", "m"), ("a", "1")]));
    assert_eq!(s.samples[1].labels.metric_name(), Some("x.y"));
    assert_eq!(om("# EOF\n"), Scrape::default());
}

#[test]
fn format_detection() {
    let cases: &[(Option<&str>, Format)] = &[
        (None, Format::PrometheusText),
        (
            Some("text/plain; version=0.0.4; charset=utf-8"),
            Format::PrometheusText,
        ),
        (Some("text/plain"), Format::PrometheusText),
        (
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            Format::OpenMetrics,
        ),
        (Some("Application/OpenMetrics-Text"), Format::OpenMetrics),
        (
            Some(" application/openmetrics-text ;version=0.0.1"),
            Format::OpenMetrics,
        ),
        (Some("application/json"), Format::PrometheusText),
        (Some(""), Format::PrometheusText),
    ];
    for (ct, want) in cases {
        assert_eq!(format_from_content_type(*ct), *want, "{ct:?}");
    }
}

#[test]
fn large_inputs_are_linear() {
    // One very long line, a very long label value and many samples.
    let long_value = "v".repeat(1 << 20);
    let s = prom(&format!("m{{a=\"{long_value}\"}} 1\n"));
    assert_eq!(s.samples[0].labels.get("a").map(str::len), Some(1 << 20));
    let mut body = String::from("# TYPE h histogram\n");
    for i in 0..50_000 {
        body.push_str(&format!("h_bucket{{le=\"{i}\",x=\"y\"}} {i}\n"));
    }
    assert_eq!(prom(&body).samples.len(), 50_000);
    let mut body = String::from("# TYPE c counter\n");
    for i in 0..20_000 {
        body.push_str(&format!(
            "c_total{{i=\"{i}\"}} 1\nc_created{{i=\"{i}\"}} 2\n"
        ));
    }
    body.push_str("# EOF\n");
    let s = om(&body);
    assert_eq!(s.samples.len(), 40_000);
    assert!(s
        .samples
        .iter()
        .step_by(2)
        .all(|s| s.created_ms == Some(2000)));
    // An error deep in a long body still reports the right line.
    let e = err(
        format!("{}bad line\n", "m 1\n".repeat(10_000)).as_bytes(),
        Format::PrometheusText,
    );
    assert_eq!((e.line, e.column), (10_001, 5));
}

#[test]
fn never_panics_on_prefixes_and_mutations() {
    let bodies = [DOC_EXAMPLE, NODE_EXPORTER, PROMETHEUS_SELF, PROM_CLIENT];
    for body in bodies {
        let b = body.as_bytes();
        for cut in 0..b.len().min(600) {
            for format in [Format::PrometheusText, Format::OpenMetrics] {
                if let Ok(s) = parse(&b[..cut], format) {
                    assert!(s
                        .samples
                        .iter()
                        .all(|s| s.labels.metric_name().is_some_and(|n| !n.is_empty())));
                }
            }
        }
        let mut m = b[..b.len().min(400)].to_vec();
        for i in 0..m.len() {
            let saved = m[i];
            for replacement in [b'"', b'\\', b'{', b'}', b'\n', b' ', b'#', 0xff, b'=', b','] {
                m[i] = replacement;
                let _ = parse(&m, Format::PrometheusText);
                let _ = parse(&m, Format::OpenMetrics);
            }
            m[i] = saved;
        }
    }
}

#[test]
fn random_fragment_soup_never_panics() {
    // A deterministic stand-in for the fuzz target: glue grammar fragments together.
    const FRAGMENTS: &[&[u8]] = &[
        b"m",
        b"_total",
        b"_created",
        b"_bucket",
        b"{",
        b"}",
        b"\"",
        b"\\",
        b"=",
        b",",
        b" ",
        b"\t",
        b"\n",
        b"\r",
        b"#",
        b"# ",
        b"HELP ",
        b"TYPE ",
        b"UNIT ",
        b"EOF",
        b"counter",
        b"histogram",
        b"summary",
        b"le",
        b"quantile",
        b"1",
        b"-1.5e3",
        b"NaN",
        b"+Inf",
        b"# {",
        b"\xff",
        b"\xc3",
        b"\x00",
        b"a=\"b\"",
        b"\"x.y\"",
        b"123456789012345678901234567890",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut body = Vec::new();
    for _ in 0..20_000 {
        body.clear();
        let n = (next() % 24) as usize;
        for _ in 0..n {
            body.extend_from_slice(FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]);
        }
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            if let Ok(s) = parse(&body, format) {
                assert!(
                    s.samples
                        .iter()
                        .all(|s| s.labels.metric_name().is_some_and(|n| !n.is_empty())),
                    "{:?}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
    }
}
