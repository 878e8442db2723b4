//! Protocol edges in: OTLP over gRPC and HTTP (protobuf and JSON).
//!
//! Data flow: a receiver ([`otlp_grpc`], [`otlp_http`]) resolves the tenant from
//! `X-Scope-OrgID`, decompresses and decodes the body ([`decode`]) within the size limit, and
//! hands the batch to the [`Pipeline`], which validates it ([`validate`]), appends it to the
//! WAL as one record ([`record`]), waits for the WAL's group commit, applies it to the stores
//! and only then lets the receiver acknowledge. Errors map to HTTP/gRPC status codes in one
//! place ([`IngestError`]).

pub mod decode;
pub mod error;
pub mod exposition;
pub mod metrics_pipeline;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod otlp_metrics;
pub mod pipeline;
pub mod record;
pub mod remote_write;
pub mod validate;

pub use error::IngestError;
pub use metrics_pipeline::{open_metric_wal_and_replay, MetricOutcome, MetricPipeline};
pub use pipeline::{open_wal_and_replay, Pipeline, WriteOutcome};
