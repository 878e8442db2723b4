//! Self-monitoring counters: relaxed atomics bumped on the hot path,
//! snapshotted into a plain struct for exporters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Point-in-time copy of the WAL's counters. Counters are monotonic since
/// `open`; gauges (`disk_bytes`, `segments`, `active_segment`,
/// `pending_bytes`) are current values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Bytes handed to `write(2)` successfully (frames and segment headers).
    pub bytes_written: u64,
    /// Records acknowledged as durable (per policy).
    pub records_written: u64,
    /// Commit groups written; `records_written / groups_committed` is the
    /// average group-commit batch size.
    pub groups_committed: u64,
    /// `fdatasync` calls on segments (not counting directory syncs).
    pub fsyncs: u64,
    /// Total time spent in those `fdatasync` calls.
    pub fsync_time: Duration,
    /// Current size of all segment files (approximate after write errors).
    pub disk_bytes: u64,
    /// Current number of segment files.
    pub segments: u64,
    /// Number of the segment being written.
    pub active_segment: u64,
    /// Bytes accepted but not yet acknowledged (the backpressure gauge).
    pub pending_bytes: u64,
    /// Appends refused with `WalError::Backpressure`.
    pub backpressure_rejections: u64,
    /// Torn tails truncated during replay/open.
    pub torn_tails_repaired: u64,
    /// Failed writes or syncs (each fails a whole group or is a failed
    /// background sync).
    pub io_errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub bytes_written: AtomicU64,
    pub records_written: AtomicU64,
    pub groups_committed: AtomicU64,
    pub fsyncs: AtomicU64,
    pub fsync_nanos: AtomicU64,
    pub disk_bytes: AtomicU64,
    pub segments: AtomicU64,
    pub active_segment: AtomicU64,
    pub pending_bytes: AtomicU64,
    pub backpressure_rejections: AtomicU64,
    pub torn_tails_repaired: AtomicU64,
    pub io_errors: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Saturating so an accounting slip can never wrap a gauge to 2^64.
    pub fn sub(counter: &AtomicU64, n: u64) {
        let _ = counter.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(n)));
    }

    pub fn record_fsync(&self, took: Duration) {
        Self::add(&self.fsyncs, 1);
        Self::add(
            &self.fsync_nanos,
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
        );
    }

    pub fn snapshot(&self) -> WalStats {
        WalStats {
            bytes_written: self.bytes_written.load(Relaxed),
            records_written: self.records_written.load(Relaxed),
            groups_committed: self.groups_committed.load(Relaxed),
            fsyncs: self.fsyncs.load(Relaxed),
            fsync_time: Duration::from_nanos(self.fsync_nanos.load(Relaxed)),
            disk_bytes: self.disk_bytes.load(Relaxed),
            segments: self.segments.load(Relaxed),
            active_segment: self.active_segment.load(Relaxed),
            pending_bytes: self.pending_bytes.load(Relaxed),
            backpressure_rejections: self.backpressure_rejections.load(Relaxed),
            torn_tails_repaired: self.torn_tails_repaired.load(Relaxed),
            io_errors: self.io_errors.load(Relaxed),
        }
    }
}
