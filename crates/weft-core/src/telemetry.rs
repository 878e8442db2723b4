//! Self-monitoring: every accept, refusal, drop and latency is counted here and served on
//! `/metrics` in the Prometheus text format.
//!
//! Two kinds of metric live here: event counters and histograms that the hot paths update
//! directly (typed families below), and state read at scrape time from the components that own
//! it (WAL sizes, blocks per tenant) through [`SnapshotSource`]s, so no component has to
//! mirror its state into gauges on every change.

use std::fmt::Write as _;
use std::sync::Arc;

use parking_lot::RwLock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of item counters at the receivers.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceivedLabels {
    pub signal: &'static str,
    pub transport: &'static str,
    pub tenant: String,
}

/// Labels of refused/dropped item counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub signal: &'static str,
    pub reason: &'static str,
}

/// Labels of request latency histograms.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: String,
    pub status: String,
}

/// Kind of a value sampled at scrape time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleKind {
    Counter,
    Gauge,
}

/// One value read from a component at scrape time.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Metric name without the `weft_` prefix; counters without `_total` (added on output).
    pub name: &'static str,
    pub help: &'static str,
    pub kind: SampleKind,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A component that reports its state when `/metrics` is scraped.
pub trait SnapshotSource: Send + Sync {
    fn samples(&self) -> Vec<Sample>;
}

/// All of Weft's own metrics.
pub struct SelfMetrics {
    registry: Registry,
    /// Items (spans, samples, log records) accepted and made durable.
    pub accepted: Family<ReceivedLabels, Counter>,
    /// Items refused before they were stored (bad data, limits, pressure).
    pub refused: Family<ReasonLabels, Counter>,
    /// Whole requests refused, by signal and reason (malformed bodies, limits, pressure).
    pub refused_requests: Family<ReasonLabels, Counter>,
    /// Items lost after acceptance (for example removed by retention).
    pub dropped: Family<ReasonLabels, Counter>,
    /// HTTP/gRPC request latency by endpoint and status.
    pub request_duration: Family<EndpointLabels, Histogram>,
    sources_handle: Arc<Sources>,
}

impl std::fmt::Debug for SelfMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelfMetrics")
    }
}

#[derive(Default)]
struct Sources(RwLock<Vec<Arc<dyn SnapshotSource>>>);

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sources")
    }
}

impl Collector for Sources {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut samples: Vec<Sample> = self.0.read().iter().flat_map(|s| s.samples()).collect();
        samples.sort_by(|a, b| a.name.cmp(b.name));
        for group in samples.chunk_by(|a, b| a.name == b.name) {
            encode_group(&mut encoder, group)?;
        }
        Ok(())
    }
}

fn encode_group(encoder: &mut DescriptorEncoder, group: &[Sample]) -> Result<(), std::fmt::Error> {
    let first = &group[0];
    let metric_type = match first.kind {
        SampleKind::Counter => ConstCounter::new(0u64).metric_type(),
        SampleKind::Gauge => ConstGauge::new(0i64).metric_type(),
    };
    let mut family = encoder.encode_descriptor(first.name, first.help, None, metric_type)?;
    for sample in group {
        let labels = sample.labels.clone();
        let encoder = family.encode_family(&labels)?;
        match sample.kind {
            SampleKind::Counter => ConstCounter::new(sample.value).encode(encoder)?,
            SampleKind::Gauge => ConstGauge::new(sample.value).encode(encoder)?,
        }
    }
    Ok(())
}

/// Latency buckets in seconds, from 100 µs to ~30 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.5, 14)
}

impl SelfMetrics {
    /// Builds the registry; `register_source` adds scrape-time sources afterwards.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("weft");
        let accepted = Family::<ReceivedLabels, Counter>::default();
        let refused = Family::<ReasonLabels, Counter>::default();
        let dropped = Family::<ReasonLabels, Counter>::default();
        let refused_requests = Family::<ReasonLabels, Counter>::default();
        let request_duration =
            Family::<EndpointLabels, Histogram>::new_with_constructor(new_latency_histogram as _);
        registry.register(
            "accepted_items",
            "Items (spans, samples, log records) accepted durably, by signal, transport and tenant",
            accepted.clone(),
        );
        registry.register(
            "refused_items",
            "Items refused before storage, by signal and reason",
            refused.clone(),
        );
        registry.register(
            "refused_requests",
            "Requests refused as a whole, by signal and reason",
            refused_requests.clone(),
        );
        registry.register(
            "dropped_items",
            "Items removed after acceptance, by signal and reason",
            dropped.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Request latency by endpoint and status",
            request_duration.clone(),
        );
        let sources = Arc::new(Sources::default());
        registry.register_collector(Box::new(sources.clone()));
        Arc::new(Self {
            registry,
            accepted,
            refused,
            refused_requests,
            dropped,
            request_duration,
            sources_handle: sources,
        })
    }

    /// Adds a component whose state is sampled on every scrape.
    pub fn register_source(&self, source: Arc<dyn SnapshotSource>) {
        self.sources_handle.0.write().push(source);
    }

    /// Counts `n` refused items of `signal` for `reason`.
    pub fn refuse(&self, signal: &'static str, reason: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        self.refused
            .get_or_create(&ReasonLabels { signal, reason })
            .inc_by(n);
    }

    /// Counts one request refused as a whole.
    pub fn refuse_request(&self, signal: &'static str, reason: &'static str) {
        self.refused_requests
            .get_or_create(&ReasonLabels { signal, reason })
            .inc();
    }

    /// Counts `n` items accepted durably.
    pub fn accept(&self, signal: &'static str, transport: &'static str, tenant: &str, n: u64) {
        self.accepted
            .get_or_create(&ReceivedLabels {
                signal,
                transport,
                tenant: tenant.to_string(),
            })
            .inc_by(n);
    }

    /// Records one request's latency.
    pub fn observe_request(&self, endpoint: &str, status: &str, seconds: f64) {
        self.request_duration
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_string(),
                status: status.to_string(),
            })
            .observe(seconds);
    }

    /// Renders everything in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
            let _ = writeln!(out, "# error encoding metrics");
        }
        out
    }
}

fn new_latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}
