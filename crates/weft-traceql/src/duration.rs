//! Duration literals. Tempo accepts Prometheus-style durations (`1d`, `2w`, `1h30m`) and, when
//! those fail, Go's `time.ParseDuration` forms (`1.5s`, `300us`, `1µs`). Both are implemented
//! here so that exactly the same literals are durations.

const NANOS_PER_UNIT_PROMETHEUS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000_000_000),
    ("w", 7 * 24 * 3_600_000_000_000),
    ("d", 24 * 3_600_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

const NANOS_PER_UNIT_GO: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

const MAX_NANOS: u64 = i64::MAX as u64;

/// Parses a duration the way Tempo's lexer does; `None` if it is not a duration.
pub(crate) fn parse_duration(text: &str) -> Option<i64> {
    let nanos = parse_prometheus(text).or_else(|| parse_go(text))?;
    i64::try_from(nanos).ok()
}

fn leading_digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

/// Prometheus `model.ParseDuration`: integer amounts, units from largest to smallest, each once.
fn parse_prometheus(text: &str) -> Option<u64> {
    if text == "0" {
        return Some(0);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: u64 = 0;
    let mut last_rank: Option<usize> = None;
    while !rest.is_empty() {
        let digits = leading_digits(rest);
        if digits == 0 {
            return None;
        }
        let amount: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let rank = NANOS_PER_UNIT_PROMETHEUS
            .iter()
            .position(|(name, _)| *name == unit)?;
        // Units must go from largest to smallest, each at most once: "1h30m", not "30m1h".
        if last_rank.is_some_and(|last| rank <= last) {
            return None;
        }
        last_rank = Some(rank);
        let unit_nanos = NANOS_PER_UNIT_PROMETHEUS[rank].1;
        total = total.checked_add(amount.checked_mul(unit_nanos)?)?;
        if total > MAX_NANOS {
            return None;
        }
    }
    Some(total)
}

/// Go `time.ParseDuration` without a sign: `([0-9]*(\.[0-9]*)?unit)+`.
fn parse_go(text: &str) -> Option<u64> {
    if text == "0" {
        return Some(0);
    }
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (value, after) = parse_go_component(rest)?;
        total = total.checked_add(value)?;
        if total > MAX_NANOS {
            return None;
        }
        rest = after;
    }
    Some(total)
}

/// One `1.5ms`-like component of a Go duration: its nanoseconds and the remaining text.
fn parse_go_component(s: &str) -> Option<(u64, &str)> {
    let first = s.bytes().next()?;
    if first != b'.' && !first.is_ascii_digit() {
        return None;
    }
    let int_len = leading_digits(s);
    let whole: u64 = if int_len == 0 {
        0
    } else {
        s[..int_len].parse().ok()?
    };
    let mut rest = &s[int_len..];
    let mut fraction_digits = "";
    if let Some(after_dot) = rest.strip_prefix('.') {
        let len = leading_digits(after_dot);
        fraction_digits = &after_dot[..len];
        rest = &after_dot[len..];
        if int_len == 0 && len == 0 {
            return None;
        }
    }
    let unit_len = rest
        .char_indices()
        .find(|(_, c)| *c == '.' || c.is_ascii_digit())
        .map_or(rest.len(), |(i, _)| i);
    if unit_len == 0 {
        return None;
    }
    let unit = &rest[..unit_len];
    let unit_nanos = NANOS_PER_UNIT_GO
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, n)| *n)?;
    if whole > (1u64 << 63) / unit_nanos {
        return None;
    }
    let mut value = whole * unit_nanos;
    value = value.checked_add(fraction_nanos(fraction_digits, unit_nanos))?;
    if value > 1u64 << 63 {
        return None;
    }
    Some((value, &rest[unit_len..]))
}

/// Nanoseconds contributed by the digits after the decimal point (truncated, like Go).
fn fraction_nanos(digits: &str, unit_nanos: u64) -> u64 {
    let mut numerator: u64 = 0;
    let mut scale: f64 = 1.0;
    for d in digits.bytes() {
        // Go stops accumulating once more digits would overflow, but still consumes them.
        if numerator > (u64::MAX - 9) / 10 {
            break;
        }
        numerator = numerator * 10 + u64::from(d - b'0');
        scale *= 10.0;
    }
    (numerator as f64 * (unit_nanos as f64 / scale)) as u64
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn accepts_prometheus_and_go_forms() {
        assert_eq!(parse_duration("1s"), Some(1_000_000_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("1d"), Some(86_400_000_000_000));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("300us"), Some(300_000));
        assert_eq!(parse_duration("3µs"), Some(3_000));
        assert_eq!(parse_duration("100ns"), Some(100));
        assert_eq!(parse_duration("1m1h"), Some(3_660_000_000_000));
        assert_eq!(parse_duration("0"), Some(0));
    }

    #[test]
    fn rejects_non_durations() {
        for text in [
            "1",
            "1x",
            "s",
            "1.5d",
            "1e3s",
            "",
            ".s",
            "1..5s",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_duration(text), None, "{text}");
        }
    }
}
