//! Settings of the metrics generator (`service_graph:` in the config file).
//!
//! Names and defaults follow Grafana Tempo's metrics-generator (`service-graphs` and
//! `span-metrics` processors). Settings marked *beyond Tempo* add behaviour Tempo lacks; their
//! defaults never rename or relabel a Tempo-named series except where noted.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Settings of the per-tenant metrics generator.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorConfig {
    /// Derive metrics from traces at all.
    pub enabled: bool,
    /// Spans whose end time is further than this from the push time (either way) are
    /// ignored, as Tempo's `metrics_ingestion_time_range_slack` does. `0s` accepts every span.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub ingestion_time_range_slack: Duration,
    /// A series not updated for this long gets a stale marker at the next collection and is
    /// forgotten (Tempo's registry `stale_duration`).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub stale_after: Duration,
    /// How often the counters are written into the metric store (Tempo's
    /// `collection_interval`); also the resolution of the derived series.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub collection_interval: Duration,
    /// Also write the generator's own counters (edges created, expired edges, dropped and
    /// discarded spans) into the tenant's metrics, under Tempo's names.
    pub self_metrics: bool,
    /// Service-graph processor.
    pub service_graphs: ServiceGraphsConfig,
    /// Span-metrics processor.
    pub span_metrics: SpanMetricsConfig,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ingestion_time_range_slack: Duration::from_secs(30),
            stale_after: Duration::from_secs(15 * 60),
            collection_interval: Duration::from_secs(15),
            self_metrics: true,
            service_graphs: ServiceGraphsConfig::default(),
            span_metrics: SpanMetricsConfig::default(),
        }
    }
}

/// Service-graph settings (Tempo's `processor.service_graphs`).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceGraphsConfig {
    /// Build service-graph series.
    pub enabled: bool,
    /// How long an edge waits for its other side before it expires (into a virtual node,
    /// or counted as expired).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub wait: Duration,
    /// At most this many edges wait for their other side; spans that would open a new edge
    /// beyond it are dropped and counted.
    pub max_items: usize,
    /// Span attributes naming the peer of an unpaired span (first found wins): the virtual
    /// server of a client span, or the virtual client of a root server span.
    pub peer_attributes: Vec<String>,
    /// Attributes (resource first, then span) added as labels to every edge series.
    pub dimensions: Vec<String>,
    /// Write dimensions as `client_<attr>` and `server_<attr>` instead of one label that
    /// whichever side came last sets.
    pub enable_client_server_prefix: bool,
    /// Also observe `traces_service_graph_request_messaging_system_seconds` (consumer start
    /// minus producer end) for messaging edges.
    pub enable_messaging_system_latency_histogram: bool,
    /// Add `virtual_node="client"|"server"` to edges that end in a virtual node.
    pub enable_virtual_node_label: bool,
    /// A client span carrying any of these attributes (resource or span) is a database call:
    /// its edge completes at once with `connection_type="database"`.
    pub database_name_attributes: Vec<String>,
    /// Upper bounds (seconds) of the latency histograms' buckets.
    pub histogram_buckets: Vec<f64>,
    /// *Beyond Tempo*: write `traces_service_graph_service_span_total{service}` so services
    /// without edges still appear as nodes.
    pub enable_service_node_series: bool,
    /// *Beyond Tempo*: add `db_system` (from `db_system_attributes`) to database edges so two
    /// databases with the same name are told apart.
    pub enable_db_system_label: bool,
    /// Attributes (span, then resource) holding the database system, first found wins.
    pub db_system_attributes: Vec<String>,
    /// *Beyond Tempo*: a consumer span with span links pairs with the producer spans it links
    /// to (instead of its parent), so batch consumers in their own traces still give edges.
    pub pair_consumer_links: bool,
    /// *Beyond Tempo*: draw the message broker as a node. Producer and consumer spans that carry
    /// one of `broker_name_attributes` then give `producer → broker` and `broker → consumer`
    /// edges at once instead of one `producer → consumer` edge.
    pub messaging_broker_node: bool,
    /// Span attributes naming the broker node, first found wins.
    pub broker_name_attributes: Vec<String>,
    /// *Beyond Tempo*: treat matching INTERNAL (or unspecified) spans as client calls to a named
    /// peer, for clients that record outgoing calls without the CLIENT kind (interLink's
    /// Virtual Kubelet `*HttpCall` spans, for example).
    pub inferred_client_spans: Vec<InferredClientSpan>,
}

/// A rule turning INTERNAL spans into client calls.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InferredClientSpan {
    /// Regular expression the resource's `service.name` must match (whole name).
    pub service: String,
    /// Regular expression the span name must match (whole name).
    pub span_name: String,
    /// Peer node the call goes to when no server span pairs with it within `wait`.
    pub peer: String,
}

impl Default for ServiceGraphsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            wait: Duration::from_secs(10),
            max_items: 10_000,
            peer_attributes: strings(&["peer.service", "db.name", "db.system", "db.system.name"]),
            dimensions: Vec::new(),
            enable_client_server_prefix: false,
            enable_messaging_system_latency_histogram: false,
            enable_virtual_node_label: false,
            database_name_attributes: strings(&[
                "db.namespace",
                "db.name",
                "db.system",
                "db.system.name",
            ]),
            histogram_buckets: exponential_buckets(0.1, 2.0, 8),
            enable_service_node_series: true,
            enable_db_system_label: true,
            db_system_attributes: strings(&["db.system.name", "db.system"]),
            pair_consumer_links: true,
            messaging_broker_node: false,
            broker_name_attributes: strings(&["messaging.system"]),
            inferred_client_spans: Vec::new(),
        }
    }
}

/// Span-metrics settings (Tempo's `processor.span_metrics`).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SpanMetricsConfig {
    /// Build span-metrics series.
    pub enabled: bool,
    /// Write `traces_spanmetrics_calls_total`.
    pub enable_calls: bool,
    /// Write `traces_spanmetrics_latency` (seconds).
    pub enable_latency: bool,
    /// Write `traces_spanmetrics_size_total` (encoded span bytes).
    pub enable_size: bool,
    /// Attributes (resource first, then span) added as labels; `.` becomes `_`, and a name
    /// that collides with an intrinsic label gets a `__` prefix.
    pub dimensions: Vec<String>,
    /// Which intrinsic labels to write.
    pub intrinsic_dimensions: IntrinsicDimensions,
    /// Upper bounds (seconds) of the latency histogram's buckets.
    pub histogram_buckets: Vec<f64>,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            enable_calls: true,
            enable_latency: true,
            enable_size: true,
            dimensions: Vec::new(),
            intrinsic_dimensions: IntrinsicDimensions::default(),
            histogram_buckets: exponential_buckets(0.002, 2.0, 14),
        }
    }
}

/// The span-metrics intrinsic labels (Tempo's `intrinsic_dimensions`).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct IntrinsicDimensions {
    pub service: bool,
    pub span_name: bool,
    pub span_kind: bool,
    pub status_code: bool,
    pub status_message: bool,
}

impl Default for IntrinsicDimensions {
    fn default() -> Self {
        Self {
            service: true,
            span_name: true,
            span_kind: true,
            status_code: true,
            status_message: false,
        }
    }
}

/// `count` bounds starting at `start`, each `factor` times the previous (Prometheus'
/// `ExponentialBuckets`).
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(count);
    let mut b = start;
    for _ in 0..count {
        out.push(b);
        b *= factor;
    }
    out
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tempo_defaults() {
        let c = GeneratorConfig::default();
        assert_eq!(
            c.service_graphs.histogram_buckets,
            [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8]
        );
        assert_eq!(c.span_metrics.histogram_buckets.len(), 14);
        assert!((c.span_metrics.histogram_buckets[13] - 16.384).abs() < 1e-12);
        assert_eq!(c.service_graphs.wait, Duration::from_secs(10));
        assert_eq!(c.service_graphs.max_items, 10_000);
        let json = serde_json::to_string(&c).unwrap();
        let back: GeneratorConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert!(serde_json::from_str::<GeneratorConfig>(r#"{"nope":1}"#).is_err());
        let partial: GeneratorConfig =
            serde_json::from_str(r#"{"service_graphs":{"wait":"2s"}}"#).unwrap();
        assert_eq!(partial.service_graphs.wait, Duration::from_secs(2));
        assert_eq!(partial.service_graphs.max_items, 10_000);
    }
}
