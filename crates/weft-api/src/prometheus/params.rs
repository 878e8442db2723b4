//! Request parameters of the Prometheus HTTP API, parsed as Prometheus' `web/api/v1/api.go`
//! does (`parseTime`, `parseDuration`, the `query_range` checks, `r.Form`).
//!
//! Parse functions return the bare Go error text; [`invalid_param`] wraps it as Prometheus'
//! `invalidParamError` does (`invalid parameter "<name>": <text>`).

use super::response::{ErrorType, PromError};

/// Milliseconds of Prometheus' `minTime` (`-292273086-05-16T16:47:06Z`).
pub const MIN_TIME_MS: i64 = -9_223_309_901_257_974_000;
/// Milliseconds of Prometheus' `maxTime` (`292277025-08-18T07:12:54.999999999Z`).
pub const MAX_TIME_MS: i64 = 9_223_309_901_257_974_999;
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// The most points per series a range query may ask for.
pub const MAX_POINTS_PER_SERIES: i128 = 11_000;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Prometheus' `parseTime`: Unix seconds (fractions rounded to milliseconds) or RFC3339 with
/// optional fraction and offset, or the special min/max time strings. Returns Unix ms.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("cannot parse {} to a valid timestamp", go_quote(s));
    if let Some(t) = parse_go_float(s) {
        if !t.is_finite() {
            return Err(bad());
        }
        // Go: s, ns := math.Modf(t); ns = math.Round(ns*1000)/1000;
        // time.Unix(int64(s), int64(ns*1e9)); timestamp.FromTime truncates to ms.
        let secs = t.trunc();
        let frac = t - secs;
        let ns = ((frac * 1000.0).round() / 1000.0 * NANOS_PER_SEC as f64) as i64;
        let mut sec = secs as i64; // saturating, as Go's conversion is undefined there anyway
        let mut nsec = ns;
        if !(0..NANOS_PER_SEC).contains(&nsec) {
            sec = sec.saturating_add(nsec.div_euclid(NANOS_PER_SEC));
            nsec = nsec.rem_euclid(NANOS_PER_SEC);
        }
        return sec
            .checked_mul(1000)
            .and_then(|ms| ms.checked_add(nsec / 1_000_000))
            .ok_or_else(bad);
    }
    if let Some(ms) = parse_rfc3339_ms(s) {
        return Ok(ms);
    }
    match s {
        MIN_TIME_FORMATTED => Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => Ok(MAX_TIME_MS),
        _ => Err(bad()),
    }
}

/// Prometheus' `parseTimeParam`: the default when the value is absent or empty, otherwise
/// [`parse_time`] with the error wrapped as `Invalid time value for '<name>': ...`.
pub fn parse_time_param(value: Option<&str>, name: &str, default_ms: i64) -> Result<i64, String> {
    match value {
        None | Some("") => Ok(default_ms),
        Some(v) => parse_time(v).map_err(|e| format!("Invalid time value for '{name}': {e}")),
    }
}

/// Prometheus' `parseDuration` for `step` and `timeout`: float seconds (`15`, `0.5`) or a
/// Prometheus duration (`5m`, `1h30m`, `1d`, `1w`, `1y`, `100ms`). Returns nanoseconds, as a
/// Go `time.Duration`, so sub-millisecond float steps behave as in Prometheus.
pub fn parse_duration_or_seconds(s: &str) -> Result<i64, String> {
    if let Some(d) = parse_go_float(s) {
        let ts = d * NANOS_PER_SEC as f64;
        if ts.is_nan() || ts > i64::MAX as f64 || ts < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {} to a valid duration. It overflows int64",
                go_quote(s)
            ));
        }
        return Ok(ts as i64);
    }
    parse_prometheus_duration_ms(s)
        .and_then(|ms| ms.checked_mul(1_000_000))
        .ok_or_else(|| format!("cannot parse {} to a valid duration", go_quote(s)))
}

/// `prometheus/common/model.ParseDuration` in milliseconds; `None` when invalid.
pub fn parse_prometheus_duration_ms(s: &str) -> Option<i64> {
    weft_core::time::parse_prometheus_duration_ms(s).ok()
}

/// The validated parameters of `/api/v1/query_range` (times in ms, step in ns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeParams {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ns: i64,
}

impl RangeParams {
    /// The step rounded down to whole milliseconds (at least 1).
    pub fn step_ms(&self) -> i64 {
        (self.step_ns / 1_000_000).max(1)
    }
}

/// The checks `queryRange` makes, in its order and with its exact error texts.
pub fn parse_range_params(
    start: Option<&str>,
    end: Option<&str>,
    step: Option<&str>,
) -> Result<RangeParams, PromError> {
    let start_ms = parse_time(start.unwrap_or("")).map_err(|e| invalid_param(&e, "start"))?;
    let end_ms = parse_time(end.unwrap_or("")).map_err(|e| invalid_param(&e, "end"))?;
    if end_ms < start_ms {
        return Err(invalid_param(
            "end timestamp must not be before start time",
            "end",
        ));
    }
    let step_ns =
        parse_duration_or_seconds(step.unwrap_or("")).map_err(|e| invalid_param(&e, "step"))?;
    if step_ns <= 0 {
        return Err(invalid_param(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
            "step",
        ));
    }
    // Go: end.Sub(start)/step > 11000, in nanoseconds.
    let span_ns = (end_ms as i128 - start_ms as i128) * 1_000_000;
    if span_ns / step_ns as i128 > MAX_POINTS_PER_SERIES {
        return Err(PromError::new(
            ErrorType::BadData,
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    Ok(RangeParams {
        start_ms,
        end_ms,
        step_ns,
    })
}

/// Prometheus' `invalidParamError`: a `bad_data` error `invalid parameter "<name>": <err>`.
pub fn invalid_param(err: &str, name: &str) -> PromError {
    PromError::new(
        ErrorType::BadData,
        format!("invalid parameter {}: {err}", go_quote(name)),
    )
}

/// The request's form values as Go's `r.Form`: pairs of an
/// `application/x-www-form-urlencoded` body first, then those of the query string, each in
/// order. [`FormValues::get`] is `r.FormValue` (so the body wins), [`FormValues::get_all`] is
/// `r.Form[name]` (e.g. repeated `match[]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FormValues {
    pairs: Vec<(String, String)>,
}

impl FormValues {
    /// Merges the raw query string (without `?`) and an optional form body. Malformed pairs
    /// (bad `%` escapes, or a `;` in the key, as Go rejects) are skipped as Go does.
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Self {
        let mut pairs = Vec::new();
        if let Some(body) = form_body {
            parse_urlencoded_into(&String::from_utf8_lossy(body), &mut pairs);
        }
        if let Some(q) = query {
            parse_urlencoded_into(q, &mut pairs);
        }
        Self { pairs }
    }

    /// From a request's parts: the URI's query string, plus the body when the
    /// `Content-Type` is `application/x-www-form-urlencoded` (as Go's `ParseForm` for
    /// POST/PUT/PATCH; callers pass an empty body for GET).
    pub fn from_request(uri: &http::Uri, headers: &http::HeaderMap, body: &[u8]) -> Self {
        let is_form = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_form_content_type);
        Self::parse(uri.query(), is_form.then_some(body))
    }

    /// The first value of `name`, like Go's `FormValue` (absent → `None`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` in order (body values before query-string values).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The repeated `match[]` selectors.
    pub fn matchers(&self) -> Vec<&str> {
        self.get_all("match[]").collect()
    }

    /// All pairs in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// Whether a `Content-Type` is a form body Go's `ParseForm` would read.
pub fn is_form_content_type(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|t| {
        t.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

fn parse_urlencoded_into(s: &str, out: &mut Vec<(String, String)>) {
    for part in s.split('&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        if k.contains(';') {
            continue;
        }
        if let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) {
            out.push((k, v));
        }
    }
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte; a bad escape is an error.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex_val(*b.get(i + 1)?)?;
                let lo = hex_val(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms (and `Inf`/`NaN` spellings).
/// Hexadecimal floats and `_` separators are not accepted.
fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return s.to_ascii_lowercase().parse().ok();
    }
    // Rust also accepts "inf"/"nan" variants; everything else must look decimal.
    if body.is_empty()
        || !body
            .bytes()
            .all(|c| c.is_ascii_digit() || b".eE+-".contains(&c))
    {
        return None;
    }
    s.parse().ok()
}

/// Go's RFC3339Nano parse: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, to Unix ms (floored).
fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &b[r];
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' || b[i] == b',' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &b[start..i];
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        for k in 0..3 {
            millis = millis * 10 + digits.get(k).map_or(0, |d| i64::from(d - b'0'));
        }
    }
    let offset_secs = match &b[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let oh = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let om = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some(secs * 1000 + millis)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Go's `%q` for the strings seen here: double quotes, `\"`, `\\` and escapes for control
/// characters (Rust's `{:?}` agrees on these).
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let ok: &[(&str, i64)] = &[
            ("4", 4_000),
            ("1", 1_000),
            ("0", 0),
            ("1735689600.123", 1_735_689_600_123),
            ("1435781451.781", 1_435_781_451_781),
            ("1435781451.7815", 1_435_781_451_782),
            ("1435781451.0004", 1_435_781_451_000),
            ("1e3", 1_000_000),
            ("+5", 5_000),
            (".5", 500),
            ("-1.5", -1_500),
            ("-0.25", -250),
            ("2015-07-01T20:10:51.781Z", 1_435_781_451_781),
            ("2015-07-01T20:10:51Z", 1_435_781_451_000),
            ("2015-07-01T20:10:51.7819999Z", 1_435_781_451_781),
            ("2015-07-01T22:10:51.781+02:00", 1_435_781_451_781),
            ("2015-07-01T15:40:51.781-04:30", 1_435_781_451_781),
            ("1970-01-01T00:00:04Z", 4_000),
            ("1969-12-31T23:59:59.5Z", -500),
            ("2024-02-29T00:00:00Z", 1_709_164_800_000),
            ("-292273086-05-16T16:47:06Z", MIN_TIME_MS),
            ("292277025-08-18T07:12:54.999999999Z", MAX_TIME_MS),
        ];
        for (s, want) in ok {
            assert_eq!(parse_time(s), Ok(*want), "{s}");
        }
        for s in [
            "",
            "abc",
            "NaN",
            "Inf",
            "2015-07-01",
            "2015-07-01T20:10:51",
            "2015-02-29T00:00:00Z",
            "2015-07-01T24:00:00Z",
            "2015-07-01 20:10:51Z",
            "0x10",
            "1_000",
        ] {
            assert!(parse_time(s).is_err(), "{s}");
        }
        assert_eq!(
            parse_time("abc").unwrap_err(),
            r#"cannot parse "abc" to a valid timestamp"#
        );
    }

    #[test]
    fn time_param_default_and_wrapping() {
        assert_eq!(parse_time_param(None, "time", 7), Ok(7));
        assert_eq!(parse_time_param(Some(""), "time", 7), Ok(7));
        assert_eq!(parse_time_param(Some("4"), "time", 7), Ok(4000));
        assert_eq!(
            parse_time_param(Some("x"), "time", 7).unwrap_err(),
            r#"Invalid time value for 'time': cannot parse "x" to a valid timestamp"#
        );
    }

    #[test]
    fn durations() {
        const S: i64 = 1_000_000_000;
        let ok: &[(&str, i64)] = &[
            ("15", 15 * S),
            ("0.5", S / 2),
            ("0.0005", 500_000),
            ("1e2", 100 * S),
            ("0", 0),
            ("-5", -5 * S),
            ("5m", 300 * S),
            ("1h30m", 5400 * S),
            ("1d", 86_400 * S),
            ("1w", 7 * 86_400 * S),
            ("1y", 365 * 86_400 * S),
            ("100ms", 100_000_000),
            ("1m30s500ms", 90_500_000_000),
            ("2h5s", 7205 * S),
        ];
        for (s, want) in ok {
            assert_eq!(parse_duration_or_seconds(s), Ok(*want), "{s}");
        }
        // model.ParseDuration edge cases (bounded by int64 nanoseconds).
        for s in [
            "292y",
            "9223372036854ms",
            "00000000000000000000024h",
            "1d0ms",
            "0s",
        ] {
            assert!(parse_prometheus_duration_ms(s).is_some(), "{s}");
        }
        for s in [
            "293y",
            "9223372036855ms",
            "99999999999999999999y",
            "1d1d",
            "1h1d",
            "24H",
        ] {
            assert!(parse_duration_or_seconds(s).is_err(), "{s}");
        }
        for s in ["", "m", "1.5m", "30m1h", "5mm", "5x", "1ms5s", "-5m"] {
            assert!(parse_duration_or_seconds(s).is_err(), "{s}");
        }
        assert_eq!(
            parse_duration_or_seconds("5x").unwrap_err(),
            r#"cannot parse "5x" to a valid duration"#
        );
        assert_eq!(
            parse_duration_or_seconds("1e300").unwrap_err(),
            r#"cannot parse "1e300" to a valid duration. It overflows int64"#
        );
    }

    #[test]
    fn range_validation() {
        let p = parse_range_params(Some("1"), Some("4"), Some("1")).unwrap();
        assert_eq!(
            p,
            RangeParams {
                start_ms: 1000,
                end_ms: 4000,
                step_ns: 1_000_000_000
            }
        );
        assert_eq!(p.step_ms(), 1000);
        let err = |s: &str, e: &str, st: &str| {
            let e = parse_range_params(Some(s), Some(e), Some(st)).unwrap_err();
            assert_eq!(e.kind, ErrorType::BadData);
            e.message
        };
        assert_eq!(
            err("x", "4", "1"),
            r#"invalid parameter "start": cannot parse "x" to a valid timestamp"#
        );
        assert_eq!(
            err("1", "", "1"),
            r#"invalid parameter "end": cannot parse "" to a valid timestamp"#
        );
        assert_eq!(
            err("5", "4", "1"),
            r#"invalid parameter "end": end timestamp must not be before start time"#
        );
        assert_eq!(
            err("1", "4", "abc"),
            r#"invalid parameter "step": cannot parse "abc" to a valid duration"#
        );
        for step in ["0", "-1", "0s"] {
            assert_eq!(
                err("1", "4", step),
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"
            );
        }
        // Exactly 11,000 steps pass; one more fails.
        assert!(parse_range_params(Some("0"), Some("11000"), Some("1")).is_ok());
        assert_eq!(
            err("0", "11001", "1"),
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
        );
        // Equal start and end is fine.
        assert!(parse_range_params(Some("4"), Some("4"), Some("15")).is_ok());
        // Extreme span does not overflow.
        assert!(parse_range_params(
            Some("-292273086-05-16T16:47:06Z"),
            Some("292277025-08-18T07:12:54.999999999Z"),
            Some("1"),
        )
        .is_err());
    }

    #[test]
    fn form_values() {
        let f = FormValues::parse(
            Some("query=up&match[]=a&match%5B%5D=%7Bjob%3D%22x%22%7D&time=1&bad=%zz&k;x=1"),
            Some(b"query=sum(rate(x%5B5m%5D))+by+(job)&match[]=body"),
        );
        assert_eq!(f.get("query"), Some("sum(rate(x[5m])) by (job)"));
        assert_eq!(f.matchers(), vec!["body", "a", "{job=\"x\"}"]);
        assert_eq!(f.get("time"), Some("1"));
        assert_eq!(f.get("bad"), None);
        assert_eq!(f.get("k;x"), None);
        assert_eq!(f.get("missing"), None);
        let empty = FormValues::parse(Some("a=&b"), None);
        assert_eq!(empty.get("a"), Some(""));
        assert_eq!(empty.get("b"), Some(""));
        assert!(is_form_content_type(
            "application/x-www-form-urlencoded; charset=utf-8"
        ));
        assert!(!is_form_content_type("application/json"));
        let uri: http::Uri = "/api/v1/query_range?start=1&query=q".parse().unwrap();
        let mut headers = http::HeaderMap::new();
        let body = b"query=up&step=15";
        let plain = FormValues::from_request(&uri, &headers, body);
        assert_eq!(plain.get("query"), Some("q"));
        assert_eq!(plain.get("step"), None);
        headers.insert(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let form = FormValues::from_request(&uri, &headers, body);
        assert_eq!(form.get("query"), Some("up"));
        assert_eq!(form.get("step"), Some("15"));
        assert_eq!(form.get("start"), Some("1"));
        let all: Vec<&str> = form.get_all("query").collect();
        assert_eq!(all, vec!["up", "q"]);
    }
}
