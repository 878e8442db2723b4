use super::compare::{almost_equal, check_outcome, Sample, SampleValue, Series};
use super::series::{parse_labels, parse_values};
use super::*;

fn floats(text: &str) -> Vec<Option<f64>> {
    parse_values(text)
        .unwrap()
        .into_iter()
        .map(|p| match p {
            None => None,
            Some(PointValue::Float(f)) => Some(f),
            Some(PointValue::Stale) => Some(-12345.0),
            Some(PointValue::Histogram(_)) => panic!("histogram"),
        })
        .collect()
}

#[test]
fn expanding_notation() {
    assert_eq!(
        floats("0+10x5"),
        [0.0, 10.0, 20.0, 30.0, 40.0, 50.0].map(Some).to_vec()
    );
    assert_eq!(
        floats("1 _x3 stale 5-1x2"),
        vec![
            Some(1.0),
            None,
            None,
            None,
            Some(-12345.0),
            Some(5.0),
            Some(4.0),
            Some(3.0)
        ]
    );
    assert_eq!(
        floats("7x2 _ -2 1e3 +Inf"),
        vec![
            Some(7.0),
            Some(7.0),
            Some(7.0),
            None,
            Some(-2.0),
            Some(1000.0),
            Some(f64::INFINITY)
        ]
    );
    assert_eq!(
        floats("-1-1x2 0.5+0.25x1"),
        vec![Some(-1.0), Some(-2.0), Some(-3.0), Some(0.5), Some(0.75)]
    );
    assert_eq!(
        floats("stalex1 1x0"),
        vec![Some(-12345.0), Some(-12345.0), Some(1.0)]
    );
    assert_eq!(floats("_x0"), vec![]);
    let nan = floats("NaN nan");
    assert!(nan.iter().all(|v| v.unwrap().is_nan()));
    // Accumulates by repeated addition, like Prometheus.
    let acc = floats("0+0.1x3");
    assert_eq!(acc[3], Some(0.1 + 0.1 + 0.1));
    for bad in ["1+1", "x3", "1x", "0x1f", "1+", "abc", "1y2"] {
        assert!(parse_values(bad).is_err(), "{bad} should fail");
    }
}

#[test]
fn histogram_literals_and_series() {
    let pts = parse_values("{{schema:1 sum:-3 count:22 z_bucket:1 z_bucket_w:0.001 buckets:[5 10 7] offset:-1 n_buckets:[1] n_offset:2 counter_reset_hint:gauge}}").unwrap();
    let Some(PointValue::Histogram(h)) = &pts[0] else {
        panic!()
    };
    assert_eq!(h.schema, 1);
    assert_eq!(
        (h.sum, h.count, h.zero_count, h.zero_threshold),
        (-3.0, 22.0, 1.0, 0.001)
    );
    assert_eq!(
        h.positive,
        BucketRun {
            offset: -1,
            counts: vec![5.0, 10.0, 7.0]
        }
    );
    assert_eq!(
        h.negative,
        BucketRun {
            offset: 2,
            counts: vec![1.0]
        }
    );
    assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
    assert!(h.counter_reset_hint_set);

    let pts = parse_values("{{sum:1 count:1}}x2 _ {{schema:0 sum:4 count:4 buckets:[1 2 1]}}+{{sum:2 count:1 buckets:[1] offset:1}}x2").unwrap();
    assert_eq!(pts.len(), 7);
    assert!(pts[..3]
        .iter()
        .all(|p| matches!(p, Some(PointValue::Histogram(h)) if h.sum == 1.0)));
    assert!(pts[3].is_none());
    let hs: Vec<&HistogramLiteral> = pts[4..]
        .iter()
        .map(|p| match p {
            Some(PointValue::Histogram(h)) => h,
            _ => panic!(),
        })
        .collect();
    assert_eq!(hs[2].sum, 8.0);
    assert_eq!(hs[2].count, 6.0);
    assert_eq!(
        hs[2].positive,
        BucketRun {
            offset: 0,
            counts: vec![1.0, 4.0, 1.0]
        }
    );

    // The increment is lowered to the base's schema: schema 0 buckets 1,2 → schema -1 bucket 1.
    let pts = parse_values("{{schema:-1 sum:4 count:1 buckets:[1] offset:1}}+{{schema:0 sum:4 count:4 buckets:[2 2] offset:1}}x1").unwrap();
    let Some(PointValue::Histogram(h)) = &pts[1] else {
        panic!()
    };
    assert_eq!(h.schema, -1);
    assert_eq!(h.positive.non_zero(), vec![(1, 5.0)]);

    // Hints: gauge + gauge stays gauge; counter + counter stays unknown.
    let pts = parse_values(
        "{{sum:1 count:1 counter_reset_hint:gauge}}+{{sum:1 count:1 counter_reset_hint:gauge}}x1",
    )
    .unwrap();
    let Some(PointValue::Histogram(h)) = &pts[1] else {
        panic!()
    };
    assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
    assert!(parse_values("{{schema:1}}+{{schema:0}}x1").is_err());
    assert!(parse_values("{{sum:1 sum:2}}").is_err());
    assert!(parse_values("{{bogus:1}}").is_err());
}

#[test]
fn label_sets() {
    let l = parse_labels(r#"http_requests{job="api", "some.label"='x\ty', path=`/a\b`,}"#).unwrap();
    assert_eq!(l.metric_name(), Some("http_requests"));
    assert_eq!(l.get("some.label"), Some("x\ty"));
    assert_eq!(l.get("path"), Some("/a\\b"));
    let l = parse_labels(r#"{"utf8.metric 😀", job="a\"b\u00e9"}"#).unwrap();
    assert_eq!(l.metric_name(), Some("utf8.metric 😀"));
    assert_eq!(l.get("job"), Some("a\"bé"));
    assert!(parse_labels("{}").unwrap().is_empty());
    assert!(parse_labels(r#"{a=~"b"}"#).is_err());
    assert!(parse_labels(r#"{a="b" c="d"}"#).is_err());
}

#[test]
fn durations() {
    use duration::parse_duration_ms;
    assert_eq!(parse_duration_ms("0"), Ok(0));
    assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
    assert_eq!(parse_duration_ms("10s53ms"), Ok(10_053));
    assert_eq!(parse_duration_ms("1w2d"), Ok(9 * 86_400_000));
    assert!(parse_duration_ms("30m1h").is_err());
    assert!(parse_duration_ms("5").is_err());
    assert!(parse_duration_ms("-1m").is_err());
    assert_eq!(
        duration::parse_st_sequence("_ _x2 -30s-1mx2 * 0 1msx1").unwrap(),
        vec![
            None,
            None,
            None,
            Some(-30_000),
            Some(-90_000),
            Some(-150_000),
            Some(-150_000),
            Some(0),
            Some(1),
            Some(1)
        ]
    );
}

const SAMPLE: &str = r#"
# A comment.
load 5m
    http_requests{job="api"} 0+10x3
    metric@st _ -1mx1
    metric 1 2 3
    @st 0
    other _ 4

clear

load_with_nhcb 1m
	h_bucket{le="1"} 1 2

eval instant at 10m sum(http_requests)
    expect no_warn
    expect info msg: PromQL info: something
    {} 20

eval range from 0 to 10m step 5m http_requests
    expect warn regex: some.*thing
    http_requests{job="api"} 0 _ 20

eval_fail instant at 0 foo(
    expected_fail_message parse error

eval instant at 1m 1 + 2
  3

eval instant at 1m "a"
  expect string "a b"

eval_ordered instant at 1m topk(1, x)
  x{a="1"} 1

eval instant at 50m rate(x[5m])
  expect range vector from 10s to 1m step 10s
  expect fail
  x 1 2 3
"#;

#[test]
fn whole_file() {
    let f = parse_file("sample.test", SAMPLE).unwrap();
    assert_eq!(f.loads(), 2);
    assert_eq!(f.clears(), 1);
    assert_eq!(f.evals().count(), 7);
    let Command::Load(l) = &f.commands[0] else {
        panic!()
    };
    assert_eq!(l.interval_ms, 300_000);
    assert_eq!(l.series.len(), 3);
    assert_eq!(l.series[0].metric, r#"http_requests{job="api"}"#);
    assert_eq!(l.series[0].line, 4);
    assert_eq!(
        l.series[1].start_offsets_ms,
        Some(vec![None, Some(-60_000), Some(-60_000)])
    );
    assert_eq!(l.series[2].start_offsets_ms, Some(vec![Some(0), Some(0)]));
    assert!(matches!(&f.commands[2], Command::Load(l) if l.with_nhcb && l.interval_ms == 60_000));
    let evals: Vec<&EvalCase> = f.evals().collect();
    let e = evals[0];
    assert_eq!((e.line, e.expr.as_str()), (15, "sum(http_requests)"));
    assert_eq!(e.kind, EvalKind::Instant { at_ms: 600_000 });
    assert!(e.warn.forbidden);
    assert_eq!(
        e.info.matchers,
        vec![MessageMatch::Exact("PromQL info: something".into())]
    );
    let ExpectedResult::Series(s) = &e.result else {
        panic!()
    };
    assert_eq!(s[0].metric, "{}");
    assert_eq!(s[0].points, vec![Some(PointValue::Float(20.0))]);
    assert_eq!(
        evals[1].kind,
        EvalKind::Range {
            start_ms: 0,
            end_ms: 600_000,
            step_ms: 300_000
        }
    );
    assert_eq!(
        evals[1].warn.matchers,
        vec![MessageMatch::Regex("some.*thing".into())]
    );
    assert_eq!(
        evals[2].fail,
        Some(vec![MessageMatch::Exact("parse error".into())])
    );
    assert_eq!(evals[3].result, ExpectedResult::Scalar(3.0));
    assert_eq!(evals[4].result, ExpectedResult::String("a b".into()));
    assert!(evals[5].ordered);
    assert_eq!(evals[5].expr, "topk(1, x)");

    let f = parse_file("x", "load 1m\n  a{b=\"c\"} 1\n  d 2\n  a{b='c'} 3\n").unwrap();
    let Command::Load(l) = &f.commands[0] else {
        panic!()
    };
    let metrics: Vec<&str> = l.series.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(
        metrics,
        ["d", "a{b='c'}"],
        "a repeated series replaces the earlier one"
    );

    let f = parse_file("x", "eval instant at 50m rate(x[5m])\n  expect range vector from 10s to 1m step 10s\n  x 1 2 3\n").unwrap();
    let e = f.evals().next().unwrap();
    assert_eq!(e.range_vector, Some((10_000, 60_000, 10_000)));
}

#[test]
fn parse_errors_name_file_and_line() {
    let cases = [
        ("load 5m\n  x 1\n\nbogus\n", 4),
        ("load 5\n", 1),
        ("\neval instant at 1m x\n  x 1 2\n", 3),
        ("eval instant at 1m x\n  expect warn\n  expect no_warn\n", 3),
        ("eval instant at 1m x\n  expect fail\n  expect fail\n", 3),
        ("eval range from 5m to 1m step 1m x\n", 1),
        ("eval_ordered range from 0 to 1m step 1m x\n", 1),
        ("eval instant at 1m x\n  expect fail regex: (\n", 2),
        ("load 1m\n  a@st 1m\n  b 1\n", 2),
        ("eval instant at 1m x\n  1\n  x 1\n", 3),
    ];
    for (text, line) in cases {
        let err = parse_file("f.test", text).unwrap_err();
        assert_eq!(
            (err.file.as_str(), err.line),
            ("f.test", line),
            "{text:?}: {err}"
        );
        assert!(err.to_string().starts_with(&format!("f.test:{line}: ")));
    }
}

#[test]
fn number_lines() {
    assert_eq!(parse_number("3"), Some(3.0));
    assert_eq!(parse_number("-0x10"), Some(-16.0));
    assert_eq!(parse_number("010"), Some(8.0));
    assert_eq!(parse_number("1e-3"), Some(0.001));
    assert_eq!(parse_number("+Inf"), Some(f64::INFINITY));
    assert!(parse_number("NaN").unwrap().is_nan());
    assert_eq!(parse_number("{} 3"), None);
    assert_eq!(parse_number("x"), None);
}

fn case(text: &str) -> EvalCase {
    parse_file("t", text)
        .unwrap()
        .evals()
        .next()
        .unwrap()
        .clone()
}

fn labels(s: &str) -> Labels {
    parse_labels(s).unwrap()
}

fn ok(value: QueryValue) -> Result<QueryOutcome, String> {
    Ok(QueryOutcome {
        value,
        warnings: vec![],
        infos: vec![],
    })
}

#[test]
fn compare_floats_and_vectors() {
    assert!(almost_equal(1.0, 1.0 + 1e-7, 1e-6));
    assert!(!almost_equal(1.0, 1.0 + 1e-5, 1e-6));
    assert!(almost_equal(f64::NAN, f64::NAN, 1e-6));
    assert!(!almost_equal(0.0, 1e-300, 1e-6));
    assert!(almost_equal(f64::INFINITY, f64::INFINITY, 1e-6));

    let c = case("eval instant at 1m x\n  x{a=\"1\"} 1\n  x{a=\"2\"} NaN\n");
    let v = |a: f64, b: f64| {
        QueryValue::Vector(vec![
            Sample {
                labels: labels(r#"x{a="2"}"#),
                value: SampleValue::Float(b),
            },
            Sample {
                labels: labels(r#"x{a="1"}"#),
                value: SampleValue::Float(a),
            },
        ])
    };
    assert_eq!(check_outcome(&c, &ok(v(1.0000001, f64::NAN))), Ok(()));
    assert!(check_outcome(&c, &ok(v(1.1, f64::NAN))).is_err());
    assert!(check_outcome(&c, &ok(QueryValue::Vector(vec![]))).is_err());
    assert!(check_outcome(&c, &ok(QueryValue::Scalar(1.0))).is_err());
    // Order matters only when ordered.
    let mut co = c.clone();
    co.ordered = true;
    assert!(check_outcome(&co, &ok(v(1.0, f64::NAN))).is_err());
    // Extra label → unexpected metric.
    let extra = QueryValue::Vector(vec![Sample {
        labels: labels(r#"x{a="1",b="2"}"#),
        value: SampleValue::Float(1.0),
    }]);
    assert!(check_outcome(&c, &ok(extra)).is_err());
    // Failure expectations.
    let f = case("eval instant at 1m x\n  expect fail msg: boom\n");
    assert_eq!(check_outcome(&f, &Err("boom".into())), Ok(()));
    assert!(check_outcome(&f, &Err("boom!".into())).is_err());
    assert!(check_outcome(&f, &ok(QueryValue::Scalar(1.0))).is_err());
    assert!(check_outcome(&c, &Err("x".into())).is_err());
    // Scalar and string.
    let s = case("eval instant at 1m 1\n  1.0000001\n");
    assert_eq!(check_outcome(&s, &ok(QueryValue::Scalar(1.0))), Ok(()));
    let st = case("eval instant at 1m \"a\"\n  expect string \"a\"\n");
    assert_eq!(
        check_outcome(&st, &ok(QueryValue::String("a".into()))),
        Ok(())
    );
    assert!(check_outcome(&st, &ok(QueryValue::String("b".into()))).is_err());
}

#[test]
fn compare_annotations() {
    let c = case("eval instant at 1m x\n  expect warn msg: w1\n  expect no_info\n");
    let out = |w: &[&str], i: &[&str]| {
        Ok(QueryOutcome {
            value: QueryValue::Vector(vec![]),
            warnings: w.iter().map(|s| s.to_string()).collect(),
            infos: i.iter().map(|s| s.to_string()).collect(),
        })
    };
    assert_eq!(check_outcome(&c, &out(&["w1"], &[])), Ok(()));
    assert!(check_outcome(&c, &out(&[], &[])).is_err());
    assert!(check_outcome(&c, &out(&["w1", "w2"], &[])).is_err());
    assert!(check_outcome(&c, &out(&["w1"], &["i"])).is_err());
    // No expectation: anything goes.
    let free = case("eval instant at 1m x\n");
    assert_eq!(check_outcome(&free, &out(&["w"], &["i"])), Ok(()));
    let legacy = case("eval_warn instant at 1m x\n");
    assert!(check_outcome(&legacy, &out(&[], &[])).is_err());
    assert_eq!(check_outcome(&legacy, &out(&["any"], &[])), Ok(()));
}

#[test]
fn compare_matrices_and_histograms() {
    let c = case("eval range from 0 to 2m step 1m x\n  x{a=\"1\"} 1 _ 3\n  x{a=\"2\"} {{sum:1 count:1 buckets:[1 0]}}x2\n");
    let h = |sum: f64| HistogramLiteral {
        sum,
        count: 1.0,
        positive: BucketRun {
            offset: 0,
            counts: vec![1.0],
        },
        counter_reset_hint: CounterResetHint::CounterReset,
        ..Default::default()
    };
    let m = |t3: i64, sum: f64| {
        QueryValue::Matrix(vec![
            Series {
                labels: labels(r#"x{a="1"}"#),
                floats: vec![(0, 1.0), (t3, 3.0)],
                histograms: vec![],
            },
            Series {
                labels: labels(r#"x{a="2"}"#),
                floats: vec![],
                histograms: vec![(0, h(1.0)), (60_000, h(1.0)), (120_000, h(sum))],
            },
        ])
    };
    assert_eq!(check_outcome(&c, &ok(m(120_000, 1.0))), Ok(()));
    assert!(check_outcome(&c, &ok(m(60_000, 1.0))).is_err());
    assert!(check_outcome(&c, &ok(m(120_000, 2.0))).is_err());
    // Unsorted matrix.
    let QueryValue::Matrix(mut ser) = m(120_000, 1.0) else {
        panic!()
    };
    ser.reverse();
    assert!(check_outcome(&c, &ok(QueryValue::Matrix(ser))).is_err());
    // An explicit hint must match.
    let hc =
        case("eval instant at 1m x\n  x {{sum:1 count:1 buckets:[1] counter_reset_hint:gauge}}\n");
    let v = QueryValue::Vector(vec![Sample {
        labels: labels("x"),
        value: SampleValue::Histogram(h(1.0)),
    }]);
    assert!(check_outcome(&hc, &ok(v)).is_err());
    let hc = case("eval instant at 1m x\n  x {{sum:1 count:1 buckets:[0 1 0] offset:-1}}\n");
    let v = QueryValue::Vector(vec![Sample {
        labels: labels("x"),
        value: SampleValue::Histogram(h(1.0)),
    }]);
    assert_eq!(check_outcome(&hc, &ok(v)), Ok(()));
}

/// A toy engine that answers `x` with its loaded first-series value and fails otherwise.
#[derive(Default)]
struct Toy {
    loaded: Vec<LoadSeries>,
    interval: i64,
    calls: Vec<String>,
}

impl Engine for Toy {
    fn load(&mut self, load: &Load) -> Result<(), String> {
        self.interval = load.interval_ms;
        self.loaded.extend(load.series.iter().cloned());
        Ok(())
    }
    fn clear(&mut self) {
        self.calls.push("clear".into());
        self.loaded.clear();
    }
    fn instant(&mut self, expr: &str, at_ms: i64) -> Result<QueryOutcome, String> {
        self.calls.push(format!("instant {expr} @{at_ms}"));
        if expr != "x" {
            return Err(format!("unknown {expr}"));
        }
        let value = self
            .loaded
            .iter()
            .map(|s| Sample {
                labels: s.labels.clone(),
                value: match &s.points[(at_ms / self.interval) as usize] {
                    Some(PointValue::Float(f)) => SampleValue::Float(*f),
                    _ => SampleValue::Float(f64::NAN),
                },
            })
            .collect();
        ok(QueryValue::Vector(value))
    }
    fn range(
        &mut self,
        expr: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryOutcome, String> {
        self.calls
            .push(format!("range {expr} {start}..{end}/{step}"));
        Err("no range queries".into())
    }
}

#[test]
fn runner_drives_engine() {
    let text = "load 1m\n  x{a=\"b\"} 0+1x5\n\neval instant at 2m x\n  x{a=\"b\"} 2\n\neval instant at 3m x\n  x{a=\"b\"} 2\n\neval instant at 0 y\n  expect fail regex: unknown\n\neval range from 0 to 1m step 30s x\n\nclear\n";
    let file = parse_file("toy", text).unwrap();
    let mut toy = Toy::default();
    let failures = compare::run_file(&mut toy, &file);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!((failures[0].line, failures[0].expr.as_str()), (7, "x"));
    assert_eq!(failures[1].line, 13);
    assert_eq!(
        toy.calls,
        vec![
            "clear",
            "instant x @120000",
            "instant x @180000",
            "instant y @0",
            "range x 0..60000/30000",
            "clear"
        ]
    );
}
