//! Where scraped data goes. The server implements [`ScrapeSink`] on top of its WAL.

use std::future::Future;

use weft_core::labels::Labels;

/// The bit pattern Prometheus uses for a staleness marker (a NaN no arithmetic produces).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is a staleness marker (compared by bits: every NaN is unequal to itself).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One sample to store.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapedSample {
    /// Final labels: scraped + target labels, after metric relabeling.
    pub labels: Labels,
    /// Milliseconds since the Unix epoch.
    pub t_ms: i64,
    /// The value; [`stale_nan`] marks a series as ended.
    pub value: f64,
}

/// Metadata of one metric family, sent when a target's families first appear or change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricMetadata {
    pub metric: String,
    /// `counter`, `gauge`, `histogram`, `summary`, `info`, `stateset`, `gaugehistogram` or
    /// `unknown` (the text format's `untyped` is reported as `unknown`, as Prometheus does).
    pub kind: &'static str,
    pub help: String,
    pub unit: String,
}

/// Why the sink refused a batch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    pub message: String,
    /// A retryable error (e.g. WAL back-pressure) is retried a few times within the scrape;
    /// others drop the batch.
    pub retryable: bool,
}

/// Receives every scrape's output: one call per scrape (samples, report series, stale markers),
/// so a WAL can write it as one record.
pub trait ScrapeSink: Send + Sync + 'static {
    fn append(
        &self,
        tenant: &str,
        samples: Vec<ScrapedSample>,
        metadata: Vec<MetricMetadata>,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}
