//! OTLP/gRPC receiver: the trace, metrics and logs `Export` services on one server.
//!
//! The trace service keeps the request as protobuf bytes (a codec that does not decode), so
//! the pipeline can check it with the allocation-free reader and write the very bytes it
//! received to the WAL. Metrics and logs use the generated services and refuse the data as
//! not yet supported.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::{Buf, Bytes};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder};
use tonic::server::UnaryService;
use tonic::Status;
use weft_core::otlp::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use weft_core::otlp::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use weft_core::otlp::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use weft_core::otlp::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use weft_core::otlp::collector::trace::v1::ExportTraceServiceResponse;
use weft_core::telemetry::SelfMetrics;
use weft_core::tenant::TenantPolicy;

use crate::otlp_http::trace_response;
use crate::otlp_metrics::TranslateOptions;
use crate::{IngestError, MetricPipeline, Pipeline};

/// The method path of the OTLP trace export.
pub const TRACE_EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Shared state of the gRPC services.
pub struct GrpcReceiver {
    pub pipeline: Arc<Pipeline>,
    pub metrics: Arc<MetricPipeline>,
    /// How OTLP metrics become Prometheus series.
    pub translate: TranslateOptions,
    pub tenants: TenantPolicy,
    pub max_message_bytes: usize,
}

#[derive(Clone)]
struct Svc(Arc<GrpcReceiver>);

impl Svc {
    /// The tenant named by the `x-scope-orgid` metadata (gRPC keys are lowercase).
    fn tenant<T>(
        &self,
        request: &tonic::Request<T>,
        signal: &'static str,
    ) -> Result<weft_core::TenantId, Status> {
        let header = request
            .metadata()
            .get("x-scope-orgid")
            .and_then(|v| v.to_str().ok());
        self.0
            .tenants
            .resolve(header)
            .map_err(|e| self.refuse(signal, &e.into()))
    }

    fn refuse(&self, signal: &'static str, err: &IngestError) -> Status {
        self.0
            .pipeline
            .metrics()
            .refuse_request(signal, err.reason());
        err.to_grpc_status()
    }

    fn observe(&self, started: Instant, code: tonic::Code) {
        self.0.pipeline.metrics().observe_request(
            "grpc:TraceService/Export",
            &format!("{code:?}"),
            started.elapsed().as_secs_f64(),
        );
    }
}

/// Builds the router with the three services, gzip/zstd accepted and the configured
/// maximum message size (tonic's own default of 4 MiB drops typical collector batches).
pub fn routes(receiver: Arc<GrpcReceiver>) -> tonic::service::Routes {
    let limit = receiver.max_message_bytes;
    let self_metrics = receiver.pipeline.metrics().clone();
    let svc = Svc(receiver);
    let metrics = MetricsServiceServer::new(svc.clone())
        .max_decoding_message_size(limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd);
    let logs = LogsServiceServer::new(svc.clone())
        .max_decoding_message_size(limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd);
    let traces = axum::Router::new()
        .route(TRACE_EXPORT_PATH, axum::routing::post(export_traces))
        .with_state(svc);
    let router = tonic::service::Routes::new(metrics)
        .add_service(logs)
        .into_axum_router()
        .merge(traces)
        .layer(axum::middleware::from_fn_with_state(
            self_metrics,
            oversize_is_resource_exhausted,
        ));
    tonic::service::Routes::from(router)
}

/// Serves one trace `Export` call with the raw codec.
async fn export_traces(State(svc): State<Svc>, request: Request) -> Response {
    let limit = svc.0.max_message_bytes;
    let mut grpc = tonic::server::Grpc::new(RawTraceCodec)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    grpc.unary(svc, request).await.into_response()
}

impl UnaryService<Bytes> for Svc {
    type Response = ExportTraceServiceResponse;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<tonic::Response<Self::Response>, Status>>
                + Send,
        >,
    >;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let svc = self.clone();
        Box::pin(async move {
            let started = Instant::now();
            let result = svc.export(request).await;
            let code = result
                .as_ref()
                .map(|_| tonic::Code::Ok)
                .unwrap_or_else(|s| s.code());
            svc.observe(started, code);
            result
        })
    }
}

impl Svc {
    async fn export(
        &self,
        request: tonic::Request<Bytes>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
        let tenant = self.tenant(&request, "traces")?;
        let outcome = self
            .0
            .pipeline
            .write_traces(&tenant, request.into_inner(), "grpc")
            .await
            .map_err(|e| self.refuse("traces", &e))?;
        Ok(tonic::Response::new(trace_response(
            outcome.rejected,
            outcome.message,
        )))
    }
}

/// Decodes nothing: the request message stays protobuf bytes.
#[derive(Clone, Copy, Default)]
struct RawTraceCodec;

impl Codec for RawTraceCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = tonic_prost::ProstEncoder<ExportTraceServiceResponse>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = buf.remaining();
        Ok(Some(buf.copy_to_bytes(len)))
    }
}

/// tonic refuses a message above the size limit with OUT_OF_RANGE when it arrives
/// uncompressed (and RESOURCE_EXHAUSTED when compressed). OTLP exporters retry OUT_OF_RANGE,
/// so an oversized batch would be re-sent forever; the OTLP spec asks for RESOURCE_EXHAUSTED
/// (without RetryInfo: permanent). The status travels in the headers of a trailers-only
/// response, so rewriting the header is enough.
/// Size refusals happen inside tonic, before any handler, so they are counted here too.
async fn oversize_is_resource_exhausted(
    State(metrics): State<Arc<SelfMetrics>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    const OUT_OF_RANGE: &str = "11";
    const RESOURCE_EXHAUSTED: &str = "8";
    let signal = signal_of_path(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let out_of_range = headers
        .get("grpc-status")
        .is_some_and(|v| v == OUT_OF_RANGE);
    let too_large = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| {
            // grpc-message is percent-encoded on the wire.
            let m = m.replace("%20", " ");
            m.contains("too large") || m.contains("size limit")
        });
    if !too_large {
        return response;
    }
    if out_of_range {
        headers.insert(
            "grpc-status",
            axum::http::HeaderValue::from_static(RESOURCE_EXHAUSTED),
        );
    }
    metrics.refuse_request(signal, "too_large");
    response
}

fn signal_of_path(path: &str) -> &'static str {
    if path.contains(".trace.") {
        "traces"
    } else if path.contains(".metrics.") {
        "metrics"
    } else {
        "logs"
    }
}

#[tonic::async_trait]
impl MetricsService for Svc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, Status> {
        let started = Instant::now();
        let receiver = &self.0;
        let tenant = self.tenant(&request, "metrics")?;
        let result = crate::otlp_metrics::export(
            &receiver.metrics,
            &tenant,
            request.get_ref(),
            &receiver.translate,
            "grpc",
        )
        .await;
        let code = result
            .as_ref()
            .map_or_else(|e| e.grpc_code(), |_| tonic::Code::Ok);
        self.0.pipeline.metrics().observe_request(
            "grpc:MetricsService/Export",
            &format!("{code:?}"),
            started.elapsed().as_secs_f64(),
        );
        result
            .map(tonic::Response::new)
            .map_err(|e| self.refuse("metrics", &e))
    }
}

#[tonic::async_trait]
impl LogsService for Svc {
    async fn export(
        &self,
        _request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, Status> {
        Err(self.refuse("logs", &IngestError::NotYetSupported("OTLP logs")))
    }
}
