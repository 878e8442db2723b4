//! Request latency middleware: one histogram series per matched route and status.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use weft_core::telemetry::SelfMetrics;

/// Use with `axum::middleware::from_fn_with_state(metrics, observe_latency)`.
pub async fn observe_latency(
    State(metrics): State<Arc<SelfMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe_request(
        &endpoint,
        response.status().as_str(),
        started.elapsed().as_secs_f64(),
    );
    response
}
