//! Service-graph and span-metrics series derived from spans, with the semantics of Grafana
//! Tempo's metrics-generator, so Grafana's service graph and RED table work against weft
//! unchanged.
//!
//! Data flow: once a trace export batch is durable, the server parses it with
//! [`weft_traces::raw::RawBatch::parse`] and hands it to the tenant's [`Generator::push`]
//! (or [`Generators::push`]). For every span the generator reads kind, status, links and the
//! few attributes it needs straight from the protobuf bytes ([`span`]), then
//!
//! * **span metrics**: updates `traces_spanmetrics_calls_total`, `traces_spanmetrics_latency`
//!   and `traces_spanmetrics_size_total` for `{service, span_name, span_kind, status_code, …}`;
//! * **service graph**: a CLIENT/PRODUCER span opens or completes the edge keyed by
//!   `(trace ID, its span ID)`, a SERVER/CONSUMER span the edge keyed by `(trace ID, its parent
//!   span ID)` (a consumer with span links: each linked producer's key). Edges wait in a
//!   bounded store ([`store`], `max_items`, drops counted). A complete edge (both sides, or a
//!   client span recognised as a database call) is counted at once in
//!   `traces_service_graph_request_total`, `…_failed_total`, `…_server_seconds`,
//!   `…_client_seconds` (and `…_messaging_system_seconds` when enabled). Edges still alone
//!   after `wait` expire into virtual nodes (`user` or a peer attribute) or are counted as
//!   expired.
//!
//! [`Generator::collect`] renders every series' cumulative value at the collection time as a
//! [`weft_metrics::model::MetricWrite`] (classic histograms as `_bucket{le}`, `_sum`,
//! `_count`; the newest exemplar per bucket with a `traceID` label; a zero sample at the end of
//! the previous minute for new series, as Tempo writes; a stale marker, then nothing, for series
//! idle past `stale_after`). The server appends that write to the tenant's metric store and,
//! when configured, remote-writes it.
//!
//! Beyond Tempo (all configurable): `traces_service_graph_service_span_total{service}` lists
//! every service that sent spans, so services without edges are still nodes; database edges
//! carry `db_system`; consumers pair with producers through span links; an optional broker
//! node; rules that turn INTERNAL spans of clients such as interLink's Virtual Kubelet into
//! client calls.

pub mod config;
pub mod generator;
pub mod series;
pub mod span;
pub mod store;

pub use config::{GeneratorConfig, InferredClientSpan, ServiceGraphsConfig, SpanMetricsConfig};
pub use generator::{Generator, Generators, Stats};

/// Why a generator cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "invalid regular expression {pattern:?} in service_graphs.inferred_client_spans: {source}"
    )]
    Regex {
        pattern: String,
        source: regex::Error,
    },
    #[error("label {0:?} would appear twice (two dimensions sanitize to the same label name)")]
    DuplicateLabel(String),
    #[error("histogram buckets must be finite and strictly increasing, got {0:?}")]
    Buckets(Vec<f64>),
}
