//! OTLP/HTTP receiver: `POST /v1/traces`, `/v1/metrics`, `/v1/logs` (plus the aliases other
//! backends serve), protobuf or JSON, optionally gzip/deflate compressed.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use weft_core::otlp::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use weft_core::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use weft_core::tenant::TenantPolicy;
use weft_core::{TenantId, TENANT_HEADER};

use crate::decode::{decode_message, decompress, encode_message, Encoding};
use crate::otlp_metrics::TranslateOptions;
use crate::{IngestError, MetricPipeline, Pipeline};

/// Shared state of the HTTP receiver.
pub struct HttpReceiver {
    pub pipeline: Arc<Pipeline>,
    pub metrics: Arc<MetricPipeline>,
    /// How OTLP metrics become Prometheus series.
    pub translate: TranslateOptions,
    pub tenants: TenantPolicy,
    pub max_message_bytes: usize,
}

/// The receiver's routes. Compressed bodies may be at most `max_message_bytes` as well.
pub fn router(receiver: Arc<HttpReceiver>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .route("/api/v1/otlp/v1/metrics", post(metrics))
        .route("/v1/logs", post(not_yet_logs))
        .route("/otlp/v1/logs", post(not_yet_logs))
        // Bodies are read with the configured limit in the handler, which answers with an
        // OTLP status naming the setting instead of axum's plain-text refusal.
        .layer(DefaultBodyLimit::disable())
        .with_state(receiver)
}

/// The OTLP signals this receiver stores.
#[derive(Clone, Copy)]
enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        }
    }
}

async fn traces(
    State(receiver): State<Arc<HttpReceiver>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(&receiver, &headers, body, Signal::Traces).await
}

async fn metrics(
    State(receiver): State<Arc<HttpReceiver>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    export(&receiver, &headers, body, Signal::Metrics).await
}

/// Content type, body limit, tenant, decompression — then the signal's export; every error
/// becomes an OTLP status in the request's encoding.
async fn export(
    receiver: &HttpReceiver,
    headers: &HeaderMap,
    body: Body,
    signal: Signal,
) -> Response {
    let encoding = match Encoding::from_content_type(header_str(headers, header::CONTENT_TYPE)) {
        Ok(encoding) => encoding,
        Err(err) => return error_response(receiver, signal.name(), &err, Encoding::Protobuf),
    };
    let result = async {
        let body = read_body(body, receiver.max_message_bytes).await?;
        let tenant = receiver
            .tenants
            .resolve(header_str(headers, TENANT_HEADER))?;
        let raw = decompress(
            &body,
            header_str(headers, header::CONTENT_ENCODING),
            receiver.max_message_bytes,
        )?;
        match signal {
            Signal::Traces => export_traces(receiver, &tenant, raw, encoding)
                .await
                .map(|r| ok_response(&r, encoding)),
            Signal::Metrics => export_metrics(receiver, &tenant, &raw, encoding)
                .await
                .map(|r| ok_response(&r, encoding)),
        }
    };
    match result.await {
        Ok(response) => response,
        Err(err) => error_response(receiver, signal.name(), &err, encoding),
    }
}

async fn export_traces(
    receiver: &HttpReceiver,
    tenant: &TenantId,
    raw: Vec<u8>,
    encoding: Encoding,
) -> Result<ExportTraceServiceResponse, IngestError> {
    let body = match encoding {
        Encoding::Protobuf => Bytes::from(raw),
        Encoding::Json => {
            let request: ExportTraceServiceRequest =
                decode_message(&raw, encoding, "ExportTraceServiceRequest")?;
            if request.resource_spans.is_empty() {
                reject_snake_case_json(&raw, "resource_spans", "resourceSpans")?;
            }
            Bytes::from(prost::Message::encode_to_vec(&request))
        }
    };
    let outcome = receiver.pipeline.write_traces(tenant, body, "http").await?;
    Ok(trace_response(outcome.rejected, outcome.message))
}

async fn export_metrics(
    receiver: &HttpReceiver,
    tenant: &TenantId,
    raw: &[u8],
    encoding: Encoding,
) -> Result<ExportMetricsServiceResponse, IngestError> {
    let request: ExportMetricsServiceRequest =
        decode_message(raw, encoding, "ExportMetricsServiceRequest")?;
    if encoding == Encoding::Json && request.resource_metrics.is_empty() {
        reject_snake_case_json(raw, "resource_metrics", "resourceMetrics")?;
    }
    crate::otlp_metrics::export(
        &receiver.metrics,
        tenant,
        &request,
        &receiver.translate,
        "http",
    )
    .await
}

/// Reads the whole body, refusing more than `limit` bytes.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, IngestError> {
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let too_large = std::error::Error::source(&err)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            IngestError::TooLarge { limit }
        } else {
            IngestError::BadRequest(format!("could not read the request body: {err}"))
        }
    })
}

/// OTLP/JSON requires lowerCamelCase keys and tells receivers to ignore unknown ones, so a
/// body written with protobuf field names would be accepted as an empty request and its data
/// silently lost. The usual mistake (the top-level key) is refused with a clear message.
fn reject_snake_case_json(raw: &[u8], snake: &str, camel: &str) -> Result<(), IngestError> {
    let Ok(serde_json::Value::Object(top)) = serde_json::from_slice::<serde_json::Value>(raw)
    else {
        return Ok(());
    };
    if top.contains_key(snake) {
        return Err(IngestError::BadRequest(format!(
            "OTLP/JSON keys must be lowerCamelCase: found {snake:?}, expected {camel:?}"
        )));
    }
    Ok(())
}

/// The OTLP response: `partial_success` only when something was rejected.
pub fn trace_response(rejected: u64, message: Option<String>) -> ExportTraceServiceResponse {
    if rejected == 0 {
        return ExportTraceServiceResponse::default();
    }
    ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: rejected as i64,
            error_message: message.unwrap_or_default(),
        }),
    }
}

async fn not_yet_logs(State(receiver): State<Arc<HttpReceiver>>, headers: HeaderMap) -> Response {
    not_yet(&receiver, &headers, "logs")
}

/// Logs have no store yet: refuse them loudly instead of dropping them.
fn not_yet(receiver: &HttpReceiver, headers: &HeaderMap, signal: &'static str) -> Response {
    let encoding = Encoding::from_content_type(header_str(headers, header::CONTENT_TYPE))
        .unwrap_or(Encoding::Protobuf);
    error_response(
        receiver,
        signal,
        &IngestError::NotYetSupported("OTLP logs"),
        encoding,
    )
}

pub(crate) fn header_str<K: header::AsHeaderName>(headers: &HeaderMap, key: K) -> Option<&str> {
    headers.get(key).and_then(|v| v.to_str().ok())
}

fn ok_response<M: prost::Message + serde::Serialize>(message: &M, encoding: Encoding) -> Response {
    let body = encode_message(message, encoding);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

fn error_response(
    receiver: &HttpReceiver,
    signal: &'static str,
    err: &IngestError,
    encoding: Encoding,
) -> Response {
    receiver
        .pipeline
        .metrics()
        .refuse_request(signal, err.reason());
    let status = RpcStatus {
        code: err.grpc_code() as i32,
        message: err.to_string(),
    };
    let mut response = (
        err.http_status(),
        [(header::CONTENT_TYPE, encoding.content_type())],
        encode_message(&status, encoding),
    )
        .into_response();
    if let Some(after) = err.retry_after() {
        if let Ok(value) = HeaderValue::from_str(&after.as_secs().max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}
