//! Time helpers. All stored timestamps are Unix nanoseconds.

use std::time::{SystemTime, UNIX_EPOCH};

pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Now as Unix nanoseconds.
pub fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Parses a Prometheus duration (`model.ParseDuration`) into milliseconds: units in the order
/// `y w d h m s ms`, each at most once, non-negative integers; a bare `0` is allowed.
pub fn parse_prometheus_duration_ms(s: &str) -> Result<i64, String> {
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let bad = || format!("not a valid duration string: {s:?}");
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let pos = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(bad)?;
        next_unit += pos + 1;
        total = n
            .checked_mul(UNITS[next_unit - 1].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
    }
    Ok(total)
}

/// The window of timestamps accepted at ingest, relative to now. Data far outside it is
/// almost always a unit bug in the sender (seconds sent as nanoseconds, a zero clock), and
/// would also defeat retention, so it is refused with a clear reason.
#[derive(Clone, Copy, Debug)]
pub struct AcceptWindow {
    pub max_past_nanos: u64,
    pub max_future_nanos: u64,
}

impl AcceptWindow {
    /// Checks `ts`; returns a human-readable reason when it is outside the window.
    pub fn check(&self, ts: u64, now: u64) -> Result<(), String> {
        if ts < now.saturating_sub(self.max_past_nanos) {
            return Err(format!(
                "timestamp {ts} ns is more than {}s in the past",
                self.max_past_nanos / NANOS_PER_SEC
            ));
        }
        if ts > now.saturating_add(self.max_future_nanos) {
            return Err(format!(
                "timestamp {ts} ns is more than {}s in the future",
                self.max_future_nanos / NANOS_PER_SEC
            ));
        }
        Ok(())
    }
}
