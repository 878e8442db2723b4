//! HTTP query APIs (Tempo-compatible today; Prometheus and Loki follow) and status endpoints.
//!
//! Data flow: a request is routed here, its tenant is resolved from `X-Scope-OrgID`, its
//! parameters are parsed ([`params`]), and the query runs against a store's read methods on a
//! blocking thread; the result is encoded in the exact shape the peer API uses ([`tempo`]).
//! Errors become status codes in one place ([`ApiError`]). Nothing here writes data.

pub mod error;
pub mod observe;
pub mod params;
pub mod prometheus;
pub mod status;
pub mod tempo;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use weft_core::telemetry::SelfMetrics;
use weft_core::tenant::TenantPolicy;
use weft_metrics::store::MetricStore;
use weft_traces::TraceStore;

pub use error::ApiError;

/// Asks the write path to cut its in-memory heads into blocks now (`/flush`).
pub type FlushFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The scrape manager's `/api/v1/targets` data, as JSON (`activeTargets`, `droppedTargets`).
pub type TargetsFn = Arc<dyn Fn() -> String + Send + Sync>;

/// What the query handlers share.
pub struct AppState {
    pub traces: Arc<TraceStore>,
    pub metric_store: Arc<MetricStore>,
    /// Scrape target status; `None` when nothing is scraped.
    pub targets: Option<TargetsFn>,
    pub tenants: TenantPolicy,
    pub metrics: Arc<SelfMetrics>,
    pub flush: FlushFn,
    /// Flipped to true once start-up (WAL replay) is done.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
}

/// Resolves the tenant of a query request (`X-Scope-OrgID`).
pub(crate) fn tenant(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<weft_core::TenantId, ApiError> {
    let raw = headers
        .get(weft_core::TENANT_HEADER)
        .and_then(|v| v.to_str().ok());
    Ok(state.tenants.resolve(raw)?)
}

/// The Prometheus HTTP API.
fn prometheus_routes() -> Router<Arc<AppState>> {
    use prometheus::handlers as h;
    Router::new()
        .route("/api/v1/query", get(h::query).post(h::query))
        .route(
            "/api/v1/query_range",
            get(h::query_range).post(h::query_range),
        )
        .route("/api/v1/series", get(h::series).post(h::series))
        .route("/api/v1/labels", get(h::labels).post(h::labels))
        .route("/api/v1/label/{name}/values", get(h::label_values))
        .route("/api/v1/metadata", get(h::metadata))
        .route(
            "/api/v1/query_exemplars",
            get(h::query_exemplars).post(h::query_exemplars),
        )
        .route("/api/v1/rules", get(h::rules))
        .route("/api/v1/alerts", get(h::alerts))
        .route("/api/v1/targets", get(h::targets))
        .route("/api/v1/service-graph", get(h::service_graph))
        .route("/api/v1/status/buildinfo", get(prometheus::buildinfo))
}

/// All query and status routes.
pub fn router(state: Arc<AppState>) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .route("/ready", get(status::ready))
        .route("/metrics", get(status::metrics))
        .route("/flush", get(status::flush).post(status::flush))
        .route("/api/echo", get(status::echo))
        .route("/api/status/buildinfo", get(status::buildinfo))
        .route("/api/traces/{id}", get(tempo::trace_v1))
        .route("/api/v2/traces/{id}", get(tempo::trace_v2))
        .route("/api/search", get(tempo::search).post(tempo::search))
        .route("/api/search/tags", get(tempo::tags_v1))
        .route("/api/v2/search/tags", get(tempo::tags_v2))
        .route("/api/search/tag/{tag}/values", get(tempo::tag_values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(tempo::tag_values_v2))
        .merge(prometheus_routes())
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            observe::observe_latency,
        ))
        .route("/", get(status::index))
        .route("/api/v1/ping", post(status::echo))
}
