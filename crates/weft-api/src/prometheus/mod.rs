//! The request-parsing and response-encoding layer of the Prometheus HTTP API (no query
//! execution), matching Prometheus' `web/api/v1/api.go` byte for byte where Grafana looks.
//!
//! - [`params`]: `parseTime`, `parseDuration`, the `query_range` checks with Prometheus' error
//!   texts, and form values (body + query string, repeated `match[]`).
//! - [`response`]: the `{"status":..}` envelope, errors with their HTTP codes, buildinfo.
//! - [`encode`]: vector/matrix/scalar/string results, timestamps and sample values.

pub mod encode;
pub mod handlers;
pub mod params;
pub mod response;
pub mod service_graph;

pub use encode::{
    encode_matrix, encode_scalar, encode_string, encode_vector, MatrixSeries, VectorSample,
};
pub use params::{
    parse_duration_or_seconds, parse_range_params, parse_time, parse_time_param, FormValues,
    RangeParams,
};
pub use response::{buildinfo, BuildInfo, ErrorType, PromError, PromSuccess};
