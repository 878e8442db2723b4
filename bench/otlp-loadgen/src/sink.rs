//! `sink`: an OTLP/gRPC trace receiver that acknowledges without decoding.
//! It exists to measure the load generator alone (e.g. pinned to one core),
//! so the figure is not limited by a real backend.

use crate::cli::SinkArgs;
use crate::codec::{SinkCodec, EXPORT_PATH, TRACE_SERVICE};
use crate::stats::thousands;
use anyhow::{Context, Result};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tonic::body::Body;
use tonic::codec::{CompressionEncoding, EnabledCompressionEncodings};
use tonic::codegen::http;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

/// Generous, so large `--batch-spans` experiments are not refused.
const MAX_MESSAGE_BYTES: usize = 64 << 20;

#[derive(Default)]
struct Received {
    requests: AtomicU64,
    bytes: AtomicU64,
}

#[derive(Clone)]
struct SinkService(Arc<Received>);

struct Ack(Arc<Received>);

impl UnaryService<u64> for Ack {
    type Response = ();
    type Future = std::future::Ready<Result<Response<()>, Status>>;

    fn call(&mut self, request: Request<u64>) -> Self::Future {
        self.0.requests.fetch_add(1, Relaxed);
        self.0.bytes.fetch_add(*request.get_ref(), Relaxed);
        std::future::ready(Ok(Response::new(())))
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send>>;

impl tonic::codegen::Service<http::Request<Body>> for SinkService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let received = self.0.clone();
        Box::pin(async move {
            if req.uri().path() != EXPORT_PATH {
                return Ok(Status::unimplemented("only trace Export").into_http());
            }
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            let mut grpc = Grpc::new(SinkCodec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(MAX_MESSAGE_BYTES), None);
            Ok(grpc.unary(Ack(received), req).await)
        })
    }
}

impl NamedService for SinkService {
    const NAME: &'static str = TRACE_SERVICE;
}

pub async fn run(args: &SinkArgs) -> Result<bool> {
    let received = Arc::new(Received::default());
    let start = Instant::now();
    eprintln!(
        "otlp-loadgen sink: listening on {} for {} s",
        args.listen, args.duration
    );
    tonic::transport::Server::builder()
        .add_service(SinkService(received.clone()))
        .serve_with_shutdown(
            args.listen,
            tokio::time::sleep(Duration::from_secs_f64(args.duration)),
        )
        .await
        .with_context(|| format!("serving on {}", args.listen))?;
    println!(
        "otlp-loadgen sink: {} requests, {:.1} MB in {:.1} s",
        thousands(received.requests.load(Relaxed)),
        received.bytes.load(Relaxed) as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    Ok(true)
}
