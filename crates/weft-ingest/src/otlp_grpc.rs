//! OTLP/gRPC receiver: the trace, metrics and logs `Export` services on one tonic server.

use std::sync::Arc;
use std::time::Instant;

use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};
use weft_core::otlp::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use weft_core::otlp::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use weft_core::otlp::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use weft_core::otlp::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use weft_core::otlp::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use weft_core::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use weft_core::tenant::TenantPolicy;

use crate::otlp_http::trace_response;
use crate::{IngestError, Pipeline};

/// Shared state of the gRPC services.
pub struct GrpcReceiver {
    pub pipeline: Arc<Pipeline>,
    pub tenants: TenantPolicy,
    pub max_message_bytes: usize,
}

#[derive(Clone)]
struct Svc(Arc<GrpcReceiver>);

impl Svc {
    fn refuse(&self, signal: &'static str, err: &IngestError) -> Status {
        self.0
            .pipeline
            .metrics()
            .refuse_request(signal, err.reason());
        err.to_grpc_status()
    }

    fn observe(&self, method: &str, started: Instant, status: &str) {
        self.0
            .pipeline
            .metrics()
            .observe_request(method, status, started.elapsed().as_secs_f64());
    }
}

/// Builds the tonic router with the three services, gzip/zstd accepted and the configured
/// maximum message size (tonic's own default of 4 MiB drops typical collector batches).
pub fn routes(receiver: Arc<GrpcReceiver>) -> tonic::service::Routes {
    let limit = receiver.max_message_bytes;
    let svc = Svc(receiver);
    let traces = TraceServiceServer::new(svc.clone())
        .max_decoding_message_size(limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .send_compressed(CompressionEncoding::Gzip);
    let metrics = MetricsServiceServer::new(svc.clone())
        .max_decoding_message_size(limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd);
    let logs = LogsServiceServer::new(svc)
        .max_decoding_message_size(limit)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd);
    let router = tonic::service::Routes::new(traces)
        .add_service(metrics)
        .add_service(logs)
        .into_axum_router()
        .layer(axum::middleware::map_response(oversize_is_resource_exhausted));
    tonic::service::Routes::from(router)
}

/// tonic refuses a message above the size limit with OUT_OF_RANGE when it arrives
/// uncompressed (and RESOURCE_EXHAUSTED when compressed). OTLP exporters retry OUT_OF_RANGE,
/// so an oversized batch would be re-sent forever; the OTLP spec asks for RESOURCE_EXHAUSTED
/// (without RetryInfo: permanent). The status travels in the headers of a trailers-only
/// response, so rewriting the header is enough.
async fn oversize_is_resource_exhausted(
    mut response: axum::response::Response,
) -> axum::response::Response {
    const OUT_OF_RANGE: &str = "11";
    const RESOURCE_EXHAUSTED: &str = "8";
    let headers = response.headers_mut();
    let oversized = headers.get("grpc-status").is_some_and(|v| v == OUT_OF_RANGE)
        && headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|m| m.contains("too large"));
    if oversized {
        headers.insert(
            "grpc-status",
            axum::http::HeaderValue::from_static(RESOURCE_EXHAUSTED),
        );
    }
    response
}

fn tenant_header<T>(request: &Request<T>) -> Option<&str> {
    request
        .metadata()
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
}

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        const METHOD: &str = "grpc:TraceService/Export";
        let started = Instant::now();
        let tenant = match self.0.tenants.resolve(tenant_header(&request)) {
            Ok(tenant) => tenant,
            Err(err) => {
                let status = self.refuse("traces", &err.into());
                self.observe(METHOD, started, &format!("{:?}", status.code()));
                return Err(status);
            }
        };
        let result = self
            .0
            .pipeline
            .write_traces(&tenant, request.into_inner(), "grpc")
            .await;
        match result {
            Ok(outcome) => {
                self.observe(METHOD, started, "Ok");
                Ok(Response::new(trace_response(
                    outcome.rejected,
                    outcome.message,
                )))
            }
            Err(err) => {
                let status = self.refuse("traces", &err);
                self.observe(METHOD, started, &format!("{:?}", status.code()));
                Err(status)
            }
        }
    }
}

#[tonic::async_trait]
impl MetricsService for Svc {
    async fn export(
        &self,
        _request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        Err(self.refuse("metrics", &IngestError::NotYetSupported("OTLP metrics")))
    }
}

#[tonic::async_trait]
impl LogsService for Svc {
    async fn export(
        &self,
        _request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        Err(self.refuse("logs", &IngestError::NotYetSupported("OTLP logs")))
    }
}
