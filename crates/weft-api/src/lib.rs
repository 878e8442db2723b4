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
use weft_traces::TraceStore;

pub use error::ApiError;

/// Asks the write path to cut its in-memory heads into blocks now (`/flush`).
pub type FlushFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// What the query handlers share.
pub struct AppState {
    pub traces: Arc<TraceStore>,
    pub tenants: TenantPolicy,
    pub metrics: Arc<SelfMetrics>,
    pub flush: FlushFn,
    /// Flipped to true once start-up (WAL replay) is done.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
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
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            observe::observe_latency,
        ))
        .route("/", get(status::index))
        .route("/api/v1/ping", post(status::echo))
}
