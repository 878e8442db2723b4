//! Parsing of query parameters shared by the API families.

/// Unix time in seconds (integer or decimal) to nanoseconds.
pub fn parse_unix_seconds(raw: &str) -> Result<u64, String> {
    let secs: f64 = raw
        .parse()
        .map_err(|_| "expected Unix seconds, such as 1700000000".to_string())?;
    if !secs.is_finite() || secs < 0.0 {
        return Err("expected a non-negative number of seconds".into());
    }
    Ok((secs * 1e9).round() as u64)
}

/// A Go-style duration (`300ms`, `1.5s`, `2h45m`, `100us`, `1µs`) in nanoseconds.
pub fn parse_go_duration(raw: &str) -> Result<u64, String> {
    const UNITS: &[(&str, f64)] = &[
        ("ns", 1.0),
        ("us", 1e3),
        ("µs", 1e3),
        ("μs", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
        ("m", 60e9),
        ("h", 3600e9),
    ];
    let bad = || format!("expected a duration such as 100ms or 1.5s, got {raw:?}");
    if raw == "0" {
        return Ok(0);
    }
    if raw.is_empty() {
        return Err(bad());
    }
    let mut rest = raw;
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if number_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        // Longest unit first so "ms" is not read as "m" followed by "s".
        let (unit, scale) = UNITS
            .iter()
            .filter(|(u, _)| rest.starts_with(u))
            .max_by_key(|(u, _)| u.len())
            .ok_or_else(bad)?;
        total += number * scale;
        rest = &rest[unit.len()..];
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(total.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("100ms").unwrap(), 100_000_000);
        assert_eq!(parse_go_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(
            parse_go_duration("2h45m").unwrap(),
            (2 * 3600 + 45 * 60) * 1_000_000_000
        );
        assert_eq!(parse_go_duration("10us").unwrap(), 10_000);
        assert_eq!(parse_go_duration("10µs").unwrap(), 10_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        for bad in ["", "ms", "10", "10x", "1..2s", "-1s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unix_seconds() {
        assert_eq!(parse_unix_seconds("4").unwrap(), 4_000_000_000);
        assert_eq!(parse_unix_seconds("1.5").unwrap(), 1_500_000_000);
        assert!(parse_unix_seconds("x").is_err());
        assert!(parse_unix_seconds("-1").is_err());
    }
}
