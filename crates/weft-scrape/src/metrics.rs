//! The scrape subsystem's own counters, exposed as a snapshot the server renders on /metrics.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// Counters updated by the scrape loops and discovery.
#[derive(Debug, Default)]
pub struct SelfMetrics {
    scrapes: AtomicU64,
    samples_appended: AtomicU64,
    stale_markers: AtomicU64,
    sink_errors: AtomicU64,
    sink_retries: AtomicU64,
    target_sync_failures: AtomicU64,
    file_sd_read_errors: AtomicU64,
    failures: Mutex<BTreeMap<&'static str, u64>>,
}

/// A point-in-time copy of [`SelfMetrics`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelfMetricsSnapshot {
    pub scrapes_total: u64,
    /// Failed scrapes by reason (`http`, `timeout`, `body_size_limit`, `parse`,
    /// `sample_limit`, `label_limit`, `invalid_sample`, `file`).
    pub scrape_failures_total: BTreeMap<&'static str, u64>,
    /// Samples handed to the sink successfully (including report series and stale markers).
    pub samples_appended_total: u64,
    pub stale_markers_total: u64,
    pub sink_errors_total: u64,
    pub sink_retries_total: u64,
    pub target_sync_failures_total: u64,
    pub file_sd_read_errors_total: u64,
    pub active_targets: u64,
    pub dropped_targets: u64,
}

impl SelfMetrics {
    pub(crate) fn scrape(&self) {
        self.scrapes.fetch_add(1, Relaxed);
    }
    pub(crate) fn failure(&self, reason: &'static str) {
        *self.failures.lock().entry(reason).or_default() += 1;
    }
    pub(crate) fn appended(&self, samples: u64, stale: u64) {
        self.samples_appended.fetch_add(samples, Relaxed);
        self.stale_markers.fetch_add(stale, Relaxed);
    }
    pub(crate) fn sink_error(&self) {
        self.sink_errors.fetch_add(1, Relaxed);
    }
    pub(crate) fn sink_retry(&self) {
        self.sink_retries.fetch_add(1, Relaxed);
    }
    pub(crate) fn sync_failures(&self, n: u64) {
        self.target_sync_failures.fetch_add(n, Relaxed);
    }
    pub(crate) fn file_sd_errors(&self, n: u64) {
        self.file_sd_read_errors.fetch_add(n, Relaxed);
    }

    /// Copies the counters; target counts come from the manager.
    pub(crate) fn snapshot(&self, active: u64, dropped: u64) -> SelfMetricsSnapshot {
        SelfMetricsSnapshot {
            scrapes_total: self.scrapes.load(Relaxed),
            scrape_failures_total: self.failures.lock().clone(),
            samples_appended_total: self.samples_appended.load(Relaxed),
            stale_markers_total: self.stale_markers.load(Relaxed),
            sink_errors_total: self.sink_errors.load(Relaxed),
            sink_retries_total: self.sink_retries.load(Relaxed),
            target_sync_failures_total: self.target_sync_failures.load(Relaxed),
            file_sd_read_errors_total: self.file_sd_read_errors.load(Relaxed),
            active_targets: active,
            dropped_targets: dropped,
        }
    }
}

impl SelfMetricsSnapshot {
    /// Renders the snapshot in the Prometheus text format (`weft_scrape_*` names).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            "weft_scrape_scrapes_total",
            "Scrapes attempted.",
            self.scrapes_total,
        );
        counter(
            "weft_scrape_samples_appended_total",
            "Samples handed to storage, including report series and stale markers.",
            self.samples_appended_total,
        );
        counter(
            "weft_scrape_stale_markers_total",
            "Stale markers written.",
            self.stale_markers_total,
        );
        counter(
            "weft_scrape_sink_errors_total",
            "Scrape batches storage refused.",
            self.sink_errors_total,
        );
        counter(
            "weft_scrape_sink_retries_total",
            "Retries of refused batches.",
            self.sink_retries_total,
        );
        counter(
            "weft_scrape_target_sync_failures_total",
            "Discovered targets that could not be turned into scrape targets.",
            self.target_sync_failures_total,
        );
        counter(
            "weft_scrape_file_sd_read_errors_total",
            "File SD files that could not be read.",
            self.file_sd_read_errors_total,
        );
        let name = "weft_scrape_failures_total";
        let _ = writeln!(
            out,
            "# HELP {name} Failed scrapes by reason.\n# TYPE {name} counter"
        );
        for (reason, v) in &self.scrape_failures_total {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {v}");
        }
        for (name, v) in [
            ("weft_scrape_active_targets", self.active_targets),
            ("weft_scrape_dropped_targets", self.dropped_targets),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} Targets now known.\n# TYPE {name} gauge\n{name} {v}"
            );
        }
        out
    }
}
