//! Prometheus durations (`1m`, `1h30m`, `10s53ms`, `0`) and start-timestamp (`@st`) offset
//! sequences.

pub use weft_core::time::parse_prometheus_duration_ms as parse_duration_ms;

/// One signed duration with a single unit at the start of `s` (`-30s`, `1ms`, `0`), as the
/// `@st` grammar reads it; `x` ends the unit. Returns milliseconds and the rest.
fn duration_prefix(s: &str) -> Result<(i64, &str), String> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    if digits == 0 {
        return Err(format!("expected digits in duration {s:?}"));
    }
    let unit = body[digits..]
        .find(|c: char| !c.is_ascii_alphabetic() || c == 'x')
        .map_or(body.len(), |u| digits + u);
    let ms = parse_duration_ms(&body[..unit])?;
    Ok((if neg { -ms } else { ms }, &body[unit..]))
}

/// Parses an `@st` offset sequence: `_`, `_xN`, `*`, `*xN`, `<dur>`, `<dur>xN`,
/// `<dur>+<dur>xN`, `<dur>-<dur>xN`. `*` repeats the last non-missing offset (0 if none).
pub fn parse_st_sequence(text: &str) -> Result<Vec<Option<i64>>, String> {
    let mut out: Vec<Option<i64>> = Vec::new();
    for item in text.split_whitespace() {
        let err = |e: String| format!("invalid ST item {item:?}: {e}");
        let count = |n: &str| {
            n.parse::<u64>()
                .map_err(|_| err("invalid repeat count".into()))
        };
        if item == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = item.strip_prefix("_x") {
            let n = count(n)?;
            if n == 0 {
                return Err(err("invalid repeat count".into()));
            }
            out.extend((0..n).map(|_| None));
            continue;
        }
        let prev = out.iter().rev().flatten().next().copied().unwrap_or(0);
        if item == "*" {
            out.push(Some(prev));
            continue;
        }
        if let Some(n) = item.strip_prefix("*x") {
            out.extend((0..=count(n)?).map(|_| Some(prev)));
            continue;
        }
        let (base, rest) = duration_prefix(item).map_err(err)?;
        if rest.is_empty() {
            out.push(Some(base));
        } else if let Some(n) = rest.strip_prefix('x') {
            out.extend((0..=count(n)?).map(|_| Some(base)));
        } else if rest.starts_with('+') || rest.starts_with('-') {
            let negative = rest.starts_with('-');
            let (delta, rest2) = duration_prefix(&rest[1..]).map_err(err)?;
            let delta = if negative { -delta } else { delta };
            let n = rest2
                .strip_prefix('x')
                .ok_or_else(|| err("expected 'x<count>' after step duration".into()))?;
            let mut v = base;
            for _ in 0..=count(n)? {
                out.push(Some(v));
                v += delta;
            }
        } else {
            return Err(err(format!("unexpected {rest:?} after duration")));
        }
    }
    Ok(out)
}
