//! Status endpoints: readiness, build info, self-metrics, flush.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::AppState;

/// `GET /ready`: 200 once the WAL has been replayed and the server accepts traffic.
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "replaying the WAL\n").into_response()
    }
}

/// `GET /api/echo`: Grafana's Tempo health check.
pub async fn echo() -> &'static str {
    "echo"
}

/// `GET /`: a pointer for people who open the port in a browser.
pub async fn index() -> &'static str {
    "weft: see /ready, /metrics, /api/search, /api/traces/<id>\n"
}

/// `GET /api/status/buildinfo`: a bare object, as Tempo returns it.
pub async fn buildinfo() -> Json<serde_json::Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("WEFT_GIT_REVISION").unwrap_or("unknown"),
        "branch": "main",
        "buildDate": "",
        "buildUser": "",
        "goVersion": "",
    }))
}

/// `GET /metrics`: self-monitoring in the Prometheus text format.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// `POST /flush`: cut the in-memory heads into blocks now (as Tempo's `/flush`).
pub async fn flush(State(state): State<Arc<AppState>>) -> Response {
    match (state.flush)().await {
        Ok(()) => (StatusCode::NO_CONTENT, "").into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("flush failed: {err}\n"),
        )
            .into_response(),
    }
}
