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
