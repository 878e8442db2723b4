//! Query results encoded byte-for-byte as Prometheus does (`marshalTimestamp`,
//! `marshalValue` in `web/api/v1/api.go`, label sets via Go's `encoding/json`).
//!
//! The `encode_*` functions return the `data` object (`{"resultType":..,"result":..}`) as a
//! JSON string for [`super::PromSuccess`]; the `write_*` functions append to a buffer.

use std::fmt::Write as _;

use weft_core::labels::Labels;
use weft_metrics::promql::FloatHistogram;

/// One sample of an instant vector.
#[derive(Clone, Copy, Debug)]
pub struct VectorSample<'a> {
    pub metric: &'a Labels,
    pub t_ms: i64,
    pub value: f64,
    /// A native histogram sample (then `value` is unused).
    pub histogram: Option<&'a FloatHistogram>,
}

/// One series of a range result: `(t_ms, value)` float points and `(t_ms, histogram)`
/// points, each in time order.
#[derive(Clone, Copy, Debug)]
pub struct MatrixSeries<'a> {
    pub metric: &'a Labels,
    pub points: &'a [(i64, f64)],
    pub histograms: &'a [(i64, FloatHistogram)],
}

/// `{"resultType":"vector","result":[{"metric":{..},"value":[t,"v"]},..]}`.
pub fn encode_vector(samples: &[VectorSample<'_>]) -> String {
    let mut out = String::with_capacity(48 + samples.len() * 64);
    out.push_str(r#"{"resultType":"vector","result":["#);
    for (i, s) in samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"metric":"#);
        write_labels(&mut out, s.metric);
        match s.histogram {
            Some(h) => {
                out.push_str(r#","histogram":"#);
                write_histogram_point(&mut out, s.t_ms, h);
            }
            None => {
                out.push_str(r#","value":"#);
                write_point(&mut out, s.t_ms, s.value);
            }
        }
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// `{"resultType":"matrix","result":[{"metric":{..},"values":[[t,"v"],..]},..]}`, with
/// `"histograms":[[t,{..}],..]` after the values for histogram points; as Prometheus, either
/// key is left out when the series has no points of its kind (`values` is kept for a series
/// with no points at all).
pub fn encode_matrix(series: &[MatrixSeries<'_>]) -> String {
    let points: usize = series.iter().map(|s| s.points.len()).sum();
    let mut out = String::with_capacity(48 + series.len() * 64 + points * 24);
    out.push_str(r#"{"resultType":"matrix","result":["#);
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"metric":"#);
        write_labels(&mut out, s.metric);
        if !s.points.is_empty() || s.histograms.is_empty() {
            out.push_str(r#","values":["#);
            for (j, &(t, v)) in s.points.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_point(&mut out, t, v);
            }
            out.push(']');
        }
        if !s.histograms.is_empty() {
            out.push_str(r#","histograms":["#);
            for (j, (t, h)) in s.histograms.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_histogram_point(&mut out, *t, h);
            }
            out.push(']');
        }
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// `[t,{"count":"..","sum":"..","buckets":[..]}]`.
pub fn write_histogram_point(out: &mut String, t_ms: i64, h: &FloatHistogram) {
    out.push('[');
    write_timestamp(out, t_ms);
    out.push(',');
    write_histogram(out, h);
    out.push(']');
}

/// Prometheus' `MarshalHistogram`: count, sum, then the non-empty buckets lowest first as
/// `[boundary_rule, "lower", "upper", "count"]`; `buckets` is left out when all are empty.
/// Boundary rules: 0 = (lower, upper], 1 = [lower, upper), 2 = (lower, upper),
/// 3 = [lower, upper]. A bound is inclusive on the side away from zero (a bucket containing
/// negative numbers includes its lower bound, one containing positive numbers its upper),
/// and the zero bucket is closed, as Prometheus' bucket iterators set them.
pub fn write_histogram(out: &mut String, h: &FloatHistogram) {
    out.push_str(r#"{"count":"#);
    write_value(out, h.count);
    out.push_str(r#","sum":"#);
    write_value(out, h.sum);
    let zero = (-h.zero_threshold, h.zero_threshold);
    let mut first = true;
    for b in h.all_buckets().into_iter().filter(|b| b.count != 0.0) {
        out.push_str(if first { r#","buckets":["# } else { "," });
        first = false;
        let rule = if !h.uses_custom_buckets() && (b.lower, b.upper) == zero {
            3
        } else {
            match (b.lower < 0.0, b.upper > 0.0) {
                (false, true) => 0,
                (true, false) => 1,
                (false, false) => 2,
                (true, true) => 3,
            }
        };
        let _ = write!(out, "[{rule},");
        write_value(out, b.lower);
        out.push(',');
        write_value(out, b.upper);
        out.push(',');
        write_value(out, b.count);
        out.push(']');
    }
    if !first {
        out.push(']');
    }
    out.push('}');
}

/// `{"resultType":"scalar","result":[t,"v"]}`.
pub fn encode_scalar(t_ms: i64, value: f64) -> String {
    let mut out = String::with_capacity(64);
    out.push_str(r#"{"resultType":"scalar","result":"#);
    write_point(&mut out, t_ms, value);
    out.push('}');
    out
}

/// `{"resultType":"string","result":[t,"s"]}`.
pub fn encode_string(t_ms: i64, value: &str) -> String {
    let mut out = String::with_capacity(64 + value.len());
    out.push_str(r#"{"resultType":"string","result":["#);
    write_timestamp(&mut out, t_ms);
    out.push(',');
    write_json_str(&mut out, value);
    out.push_str("]}");
    out
}

/// `[t,"v"]`.
pub fn write_point(out: &mut String, t_ms: i64, value: f64) {
    out.push('[');
    write_timestamp(out, t_ms);
    out.push(',');
    write_value(out, value);
    out.push(']');
}

/// Prometheus' `marshalTimestamp`: seconds, then `.` and exactly three millisecond digits
/// when the fraction is not zero (`1435781451.781`, `1435781451.780`, `4`, `-0.500`).
pub fn write_timestamp(out: &mut String, t_ms: i64) {
    let mut t = i128::from(t_ms);
    if t < 0 {
        out.push('-');
        t = -t;
    }
    let _ = write!(out, "{}", t / 1000);
    let frac = t % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

/// Prometheus' `marshalValue`: the sample value as a JSON string.
pub fn write_value(out: &mut String, v: f64) {
    out.push('"');
    write_float(out, v);
    out.push('"');
}

/// `strconv.AppendFloat(v, f, -1, 64)` where `f` is `'e'` for `|v| < 1e-6` or `|v| >= 1e21`
/// (non-zero) and `'f'` otherwise, as Prometheus' `marshalValue` chooses; `NaN`, `+Inf`,
/// `-Inf` as Go spells them. Shortest digits that round-trip.
pub fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` gives shortest digits and `e-7`; Go writes `e-07` / `e+21`.
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        out.push_str(mantissa);
        out.push('e');
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        out.push(sign);
        if digits.len() < 2 {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        // Rust's `Display` is shortest round-trip with no exponent, `-0` for negative zero,
        // matching Go's `'f', -1`.
        let _ = write!(out, "{v}");
    }
}

/// Go's `FormatFloat(v, 'f', -1, 64)` (no exponent ever): `1e21` → `1000000000000000000000`.
pub fn format_float_f(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    format!("{v}")
}

/// A label set as Go marshals `map[string]string`: keys sorted, Go's string escaping.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    // `Labels` is sorted by name, as Go's map encoding orders keys.
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, &l.name);
        out.push(':');
        write_json_str(out, &l.value);
    }
    out.push('}');
}

/// A JSON string as Go's `encoding/json` writes it (HTML-safe: `<`, `>`, `&` and U+2028/9
/// escaped; `\n`, `\r`, `\t` short; other control characters as `\u00XX`).
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '<' => Some("\\u003c"),
            '>' => Some("\\u003e"),
            '&' => Some("\\u0026"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, v);
        s
    }

    #[test]
    fn floats_as_prometheus() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (100.0, "100"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (1e-6, "0.000001"),
            (1e-7, "1e-07"),
            (-1.25e-7, "-1.25e-07"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN, "-1.7976931348623157e+308"),
            (123456789.125, "123456789.125"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(float(*v), *want, "{v:?}");
        }
    }

    #[test]
    fn format_f_without_exponent() {
        assert_eq!(format_float_f(1e21), "1000000000000000000000");
        assert_eq!(format_float_f(1e-7), "0.0000001");
        assert_eq!(format_float_f(-0.0), "-0");
        assert_eq!(format_float_f(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float_f(1735689600.123), "1735689600.123");
        assert_eq!(format_float_f(f64::NAN), "NaN");
        assert_eq!(format_float_f(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn timestamps() {
        let cases: &[(i64, &str)] = &[
            (0, "0"),
            (4000, "4"),
            (1_435_781_451_781, "1435781451.781"),
            (1_435_781_451_780, "1435781451.780"),
            (1_435_781_451_001, "1435781451.001"),
            (1_435_781_451_010, "1435781451.010"),
            (-500, "-0.500"),
            (-1_500, "-1.500"),
            (i64::MIN, "-9223372036854775.808"),
        ];
        for (t, want) in cases {
            let mut s = String::new();
            write_timestamp(&mut s, *t);
            assert_eq!(s, *want, "{t}");
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn vector_matrix_scalar_string() {
        let up = labels(&[("job", "api"), ("__name__", "up")]);
        let other = labels(&[("a", "<b>&\"\n\u{1}")]);
        assert_eq!(
            encode_vector(&[
                VectorSample {
                    metric: &up,
                    t_ms: 1_435_781_451_781,
                    value: 1.0,
                    histogram: None,
                },
                VectorSample {
                    metric: &other,
                    t_ms: 4000,
                    value: f64::NAN,
                    histogram: None,
                },
            ]),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"api"},"value":[1435781451.781,"1"]},{"metric":{"a":"\u003cb\u003e\u0026\"\n\u0001"},"value":[4,"NaN"]}]}"#
        );
        assert_eq!(encode_vector(&[]), r#"{"resultType":"vector","result":[]}"#);
        let empty = Labels::default();
        assert_eq!(
            encode_matrix(&[MatrixSeries {
                metric: &up,
                points: &[(1000, 0.5), (16_000, f64::INFINITY), (31_000, -0.0)],
                histograms: &[],
            }]),
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"api"},"values":[[1,"0.5"],[16,"+Inf"],[31,"-0"]]}]}"#
        );
        assert_eq!(
            encode_matrix(&[MatrixSeries {
                metric: &empty,
                points: &[],
                histograms: &[],
            }]),
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[]}]}"#
        );
        assert_eq!(
            encode_scalar(4000, 2.0),
            r#"{"resultType":"scalar","result":[4,"2"]}"#
        );
        assert_eq!(
            encode_string(1500, "a\"b"),
            r#"{"resultType":"string","result":[1.500,"a\"b"]}"#
        );
        // Everything we write parses as JSON.
        let v: serde_json::Value =
            serde_json::from_str(&encode_scalar(1_435_781_451_781, 1e-7)).unwrap();
        assert_eq!(v["result"][1], "1e-07");
    }

    #[test]
    fn json_strings() {
        let mut s = String::new();
        write_json_str(&mut s, "plain ü \u{2028} \t\\");
        assert_eq!(s, r#""plain ü \u2028 \t\\""#);
    }

    fn native() -> FloatHistogram {
        FloatHistogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 2.0,
            count: 10.0,
            sum: 12.5,
            positive: vec![(1, 3.0), (2, 0.0), (3, 4.0)],
            negative: vec![(0, 1.0)],
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn histograms_as_prometheus() {
        let labels = Labels::from_pairs([("__name__", "lat")]).unwrap();
        let h = native();
        let v = encode_vector(&[VectorSample {
            metric: &labels,
            t_ms: 1_700_000_000_500,
            value: 0.0,
            histogram: Some(&h),
        }]);
        assert_eq!(
            v,
            concat!(
                r#"{"resultType":"vector","result":[{"metric":{"__name__":"lat"},"histogram":"#,
                r#"[1700000000.500,{"count":"10","sum":"12.5","buckets":["#,
                r#"[1,"-1","-0.5","1"],[3,"-0.001","0.001","2"],[0,"1","2","3"],[0,"4","8","4"]]}]}]}"#
            )
        );
        // A histogram without populated buckets has no `buckets` key; a matrix series with
        // only histograms has no `values` key, one with both has both.
        let empty = FloatHistogram {
            count: 0.0,
            sum: 0.0,
            ..FloatHistogram::default()
        };
        let hs = [(1000, empty), (2000, h.clone())];
        let m = encode_matrix(&[
            MatrixSeries {
                metric: &labels,
                points: &[],
                histograms: &hs[..1],
            },
            MatrixSeries {
                metric: &labels,
                points: &[(500, 1.0)],
                histograms: &hs[1..],
            },
        ]);
        assert_eq!(
            m,
            concat!(
                r#"{"resultType":"matrix","result":["#,
                r#"{"metric":{"__name__":"lat"},"histograms":[[1,{"count":"0","sum":"0"}]]},"#,
                r#"{"metric":{"__name__":"lat"},"values":[[0.500,"1"]],"histograms":[[2,"#,
                r#"{"count":"10","sum":"12.5","buckets":[[1,"-1","-0.5","1"],[3,"-0.001","0.001","2"],"#,
                r#"[0,"1","2","3"],[0,"4","8","4"]]}]]}]}"#
            )
        );
        // Custom buckets: the first is [-Inf, b0]; a bound below zero is open above.
        let custom = FloatHistogram {
            schema: -53,
            count: 6.0,
            sum: 3.0,
            positive: vec![(0, 1.0), (1, 2.0), (2, 3.0)],
            custom_values: vec![-1.0, 5.0],
            ..FloatHistogram::default()
        };
        let mut out = String::new();
        write_histogram(&mut out, &custom);
        assert_eq!(
            out,
            concat!(
                r#"{"count":"6","sum":"3","buckets":[[1,"-Inf","-1","1"],[3,"-1","5","2"],"#,
                r#"[0,"5","+Inf","3"]]}"#
            )
        );
    }
}
