//! The shared model every Weft crate speaks.
//!
//! Data flow: receivers (weft-ingest) decode wire formats into the OTLP/prost types re-exported
//! here, tag each batch with a [`TenantId`], validate it with the helpers in [`ids`] and
//! [`time`], and hand it to the stores. Queries come back the other way through the stores'
//! read traits. Nothing in this crate does I/O; it only defines names, limits and counters
//! ([`telemetry`]) so that every layer reports in the same vocabulary.

pub mod checkpoint;
pub mod error;
pub mod fsutil;
pub mod ids;
pub mod labels;
pub mod protowire;
pub mod telemetry;
pub mod tenant;
pub mod time;

pub use error::CoreError;
pub use tenant::{TenantId, DEFAULT_TENANT, TENANT_HEADER};

/// The OTLP protobuf types, re-exported so every crate uses one version.
pub use opentelemetry_proto::tonic as otlp;
