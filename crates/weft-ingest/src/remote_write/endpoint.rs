//! `POST /api/v1/write` (and Mimir's `/api/v1/push`): the remote-write endpoint.
//!
//! Answers as Prometheus' receiver does: `204` when everything was stored; `400` with a
//! plain-text reason when some samples were refused (the valid rest is stored first, and the
//! sender must not retry); `413`/`415` for oversize bodies and unknown content types; `503`
//! with `Retry-After` under pressure (senders retry 5xx). The `*-Written` headers are set on
//! 2xx and 4xx answers, as the 2.0 spec asks.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use weft_core::time::now_unix_nanos;
use weft_core::TENANT_HEADER;

use super::{decode, negotiate, validate, written_headers, Counts, Version, VERSION_HEADER};
use crate::otlp_http::{header_str, read_body, HttpReceiver};
use crate::IngestError;

/// The remote-write routes.
pub fn router(receiver: Arc<HttpReceiver>) -> Router {
    Router::new()
        .route("/api/v1/write", post(write))
        .route("/api/v1/push", post(write))
        .layer(DefaultBodyLimit::disable())
        .with_state(receiver)
}

async fn write(
    State(receiver): State<Arc<HttpReceiver>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut written = Counts::default();
    let result = handle(&receiver, &headers, body, &mut written).await;
    let response = match result {
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Ok(Some(partial)) => error_response(&partial),
        Err(err) => {
            receiver
                .metrics
                .metrics()
                .refuse_request("metrics", err.reason());
            error_response(&err)
        }
    };
    with_written_headers(response, written)
}

/// Stores what is valid; `Ok(Some(err))` when some items were refused (a 400 after the
/// rest was stored).
async fn handle(
    receiver: &HttpReceiver,
    headers: &HeaderMap,
    body: Body,
    written: &mut Counts,
) -> Result<Option<IngestError>, IngestError> {
    let version = negotiate(
        header_str(headers, header::CONTENT_TYPE),
        header_str(headers, header::CONTENT_ENCODING),
        header_str(headers, VERSION_HEADER),
    )?;
    let tenant = receiver
        .tenants
        .resolve(header_str(headers, TENANT_HEADER))?;
    let body = read_body(body, receiver.max_message_bytes).await?;
    let mut batch = decode(&body, version, receiver.max_message_bytes)?;
    validate(&mut batch, (now_unix_nanos() / 1_000_000) as i64);
    let (write, mut rejected) = batch.into_metric_write();
    for r in &rejected {
        receiver
            .metrics
            .metrics()
            .refuse("metrics", r.reason, r.count);
    }
    let transport = match version {
        Version::V1 => "remote_write_v1",
        Version::V2 => "remote_write_v2",
    };
    // Nothing refused while decoding: the WAL may keep the body itself.
    let received = rejected.is_empty().then_some((version, &body[..]));
    let outcome = receiver
        .metrics
        .write_request(&tenant, &write, transport, received)
        .await?;
    written.samples = outcome.samples;
    written.histograms = outcome.histograms;
    written.exemplars = outcome.exemplars;
    for r in outcome.rejected {
        rejected.push(super::Rejected {
            reason: r.reason,
            message: r.message,
            count: r.count,
        });
    }
    let partial = super::WriteBatch {
        rejected,
        ..super::WriteBatch::default()
    };
    Ok(partial.rejection_error())
}

fn error_response(err: &IngestError) -> Response {
    let mut response = (
        err.http_status(),
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{err}\n"),
    )
        .into_response();
    if let Some(after) = err.retry_after() {
        if let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

fn with_written_headers(mut response: Response, written: Counts) -> Response {
    response.headers_mut().extend(written_headers(written));
    response
}
