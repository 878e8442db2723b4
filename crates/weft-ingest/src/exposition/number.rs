//! Number syntax shared by both text formats, matching what Prometheus accepts.
//!
//! Prometheus parses sample values with Go's `strconv.ParseFloat` but first rejects any text
//! containing `p`, `P` or `_`. Since Go only accepts hexadecimal floats with a `p` exponent
//! and only accepts `_` in prefixed literals, what is left is plain decimal notation plus the
//! special words. Rust's `f64::from_str` accepts slightly more (for example `+NaN`), so the
//! grammar is checked here before the conversion.

/// Parses a float the way Prometheus' text parsers do.
///
/// Accepted: `[+-]` decimal digits with an optional fraction and exponent (`1`, `-0`, `.5`,
/// `5.`, `1e3`, `1.5E-7`), `Inf`/`Infinity` with an optional sign and `NaN` without a sign, all
/// case-insensitive. Rejected: hexadecimal, digit separators, empty text, and finite literals
/// that overflow to infinity (Go reports those as out of range).
pub(crate) fn parse_float(s: &[u8]) -> Result<f64, &'static str> {
    let (negative, rest) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let signed = rest.len() != s.len();
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Ok(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if rest.eq_ignore_ascii_case(b"nan") {
        return if signed {
            Err("NaN must not have a sign")
        } else {
            Ok(f64::NAN)
        };
    }
    let mut i = 0;
    let mut digits = 0;
    while i < rest.len() && rest[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < rest.len() && rest[i] == b'.' {
        i += 1;
        while i < rest.len() && rest[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return Err("not a number");
    }
    if i < rest.len() && (rest[i] == b'e' || rest[i] == b'E') {
        i += 1;
        if i < rest.len() && (rest[i] == b'+' || rest[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < rest.len() && rest[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return Err("exponent has no digits");
        }
    }
    if i != rest.len() {
        return Err("not a number");
    }
    // Only ASCII bytes got this far.
    let text = std::str::from_utf8(s).map_err(|_| "not a number")?;
    let value: f64 = text.parse().map_err(|_| "not a number")?;
    if value.is_infinite() {
        return Err("out of range for a 64-bit float");
    }
    Ok(value)
}

/// Formats a float as Prometheus' `labels.FormatOpenMetricsFloat` does: Go's shortest `'g'`
/// formatting, with `.0` appended when the result has neither `.` nor `e`. Prometheus uses
/// it to normalise `le` and `quantile` label values (`"1"` becomes `"1.0"`).
pub(crate) fn format_openmetrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if f == 0.0 {
        return "0.0".to_owned();
    }
    let s = go_format_g_shortest(f);
    if s.contains(['.', 'e']) {
        s
    } else {
        s + ".0"
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for finite, non-zero `f`.
fn go_format_g_shortest(f: f64) -> String {
    // Rust's `{:e}` prints the shortest digits that round-trip, as Go does.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let nd = digits.len() as i32;
    let mut out = String::with_capacity(digits.len() + 8);
    if f < 0.0 {
        out.push('-');
    }
    // With the shortest precision Go switches to exponent form when exp < -4 || exp >= 6.
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_accepted_like_prometheus() {
        let ok: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-0", -0.0),
            ("+1.5", 1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("1.458255915e9", 1_458_255_915.0),
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("Inf", f64::INFINITY),
            ("inf", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
            ("1e-400", 0.0),
        ];
        for (text, want) in ok {
            let got = parse_float(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got.to_bits(), want.to_bits(), "{text}");
        }
        assert!(parse_float(b"NaN").unwrap().is_nan());
        assert!(parse_float(b"nan").unwrap().is_nan());
        for bad in [
            "", "+", "-", ".", "e3", "1e", "1e+", "0x10", "0x1p-3", "1_000", "+NaN", "-nan",
            "true", "1.2.3", "1 ", "1e400", "-1e400", "infinit", "١",
        ] {
            assert!(
                parse_float(bad.as_bytes()).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn openmetrics_float_formatting_matches_go() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "0.0"),
            (-1.0, "-1.0"),
            (0.05, "0.05"),
            (2.5, "2.5"),
            (10.0, "10.0"),
            (1000.0, "1000.0"),
            (123456.0, "123456.0"),
            (1_000_000.0, "1e+06"),
            (1_234_567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000012, "1.2e-05"),
            (1e100, "1e+100"),
            (-2.5e-7, "-2.5e-07"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (f, want) in cases {
            assert_eq!(format_openmetrics_float(*f), *want, "{f}");
        }
    }
}
