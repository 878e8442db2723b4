//! Metric store settings (`metrics:` in the config file).

use std::time::Duration;

use bytesize::ByteSize;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::head::HeadLimits;

/// Settings of the metric store.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricStoreConfig {
    /// Write the in-memory head into a block at least this often (Prometheus: 2h). Longer
    /// keeps more in memory and in the WAL; shorter makes more, smaller blocks.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub head_max_age: Duration,
    /// Write the head into a block early once its chunks hold this many bytes (all tenants).
    #[schemars(with = "String")]
    pub head_max_bytes: ByteSize,
    /// Delete blocks whose newest sample is older than this. `0s` keeps data forever.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub retention: Duration,
    /// Upper bound for metric blocks plus the metric WAL, all tenants together; the oldest
    /// blocks are deleted to stay below it. `0` means no bound.
    #[schemars(with = "String")]
    pub max_bytes: ByteSize,
    /// Accept samples up to this much older than their series' newest sample (Prometheus'
    /// `out_of_order_time_window`). `0s` refuses every out-of-order sample.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub out_of_order_window: Duration,
    /// Most series per tenant in the head; a write creating more is refused (400).
    pub max_series_per_tenant: usize,
    /// Most labels per series, `__name__` included.
    pub max_labels_per_series: usize,
    /// Longest label name, in bytes.
    pub max_label_name_length: usize,
    /// Longest label value, in bytes.
    pub max_label_value_length: usize,
    /// Exemplars kept per tenant (newest win), as Prometheus' `max_exemplars`.
    pub max_exemplars_per_tenant: usize,
    /// How often compaction and retention run.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub maintenance_interval: Duration,
}

impl Default for MetricStoreConfig {
    fn default() -> Self {
        Self {
            head_max_age: Duration::from_secs(2 * 3600),
            head_max_bytes: ByteSize::mib(512),
            retention: Duration::from_secs(15 * 24 * 3600),
            max_bytes: ByteSize::b(0),
            out_of_order_window: Duration::ZERO,
            max_series_per_tenant: 5_000_000,
            max_labels_per_series: 64,
            max_label_name_length: 1024,
            max_label_value_length: 4096,
            max_exemplars_per_tenant: 100_000,
            maintenance_interval: Duration::from_secs(60),
        }
    }
}

impl MetricStoreConfig {
    /// The head limits these settings imply.
    pub fn head_limits(&self) -> HeadLimits {
        HeadLimits {
            max_series: self.max_series_per_tenant,
            max_labels_per_series: self.max_labels_per_series,
            max_label_value_len: self.max_label_value_length,
            max_label_name_len: self.max_label_name_length,
        }
    }

    /// The out-of-order window in milliseconds.
    pub fn ooo_window_ms(&self) -> i64 {
        i64::try_from(self.out_of_order_window.as_millis()).unwrap_or(i64::MAX)
    }
}
