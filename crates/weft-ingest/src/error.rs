//! Ingest errors, and the one place that maps them to HTTP and gRPC status codes.

use std::time::Duration;

/// Why a write was not (fully) accepted.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The data is malformed or invalid; retrying the same request cannot succeed.
    #[error("{0}")]
    BadRequest(String),
    /// The request body's media type is not one this endpoint reads.
    #[error("unsupported content type or encoding: {0}")]
    UnsupportedMediaType(String),
    /// The (decompressed) message is larger than the configured maximum.
    #[error("message is larger than the maximum of {limit} bytes (receivers.max_message_bytes)")]
    TooLarge { limit: usize },
    /// The tenant header is invalid.
    #[error(transparent)]
    Tenant(#[from] weft_core::CoreError),
    /// The signal is received but has no store yet; refused rather than silently dropped.
    #[error("{0} are not yet supported by this weft version; nothing was stored")]
    NotYetSupported(&'static str),
    /// Temporary pressure (WAL queue full, disk budget reached, shutting down): retry later.
    #[error("temporarily unable to accept data: {reason}; retry after {}s", retry_after.as_secs())]
    Unavailable {
        reason: String,
        retry_after: Duration,
    },
    /// A storage failure; the data was not acknowledged.
    #[error("storage error, data not accepted: {0}")]
    Storage(String),
}

impl IngestError {
    /// HTTP status per the OTLP/HTTP spec: 400 permanent, 413 too large, 415 media type,
    /// 429/503 retryable.
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::BadRequest(_) => S::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => S::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge { .. } => S::PAYLOAD_TOO_LARGE,
            Self::Tenant(weft_core::CoreError::UnknownTenant(_)) => S::FORBIDDEN,
            Self::Tenant(_) => S::BAD_REQUEST,
            Self::NotYetSupported(_) => S::NOT_IMPLEMENTED,
            Self::Unavailable { .. } => S::SERVICE_UNAVAILABLE,
            Self::Storage(_) => S::SERVICE_UNAVAILABLE,
        }
    }

    /// gRPC code per the OTLP/gRPC spec: INVALID_ARGUMENT permanent, UNAVAILABLE retryable,
    /// RESOURCE_EXHAUSTED (without RetryInfo, so permanent) for oversized messages.
    pub fn grpc_code(&self) -> tonic::Code {
        use tonic::Code as C;
        match self {
            Self::BadRequest(_) | Self::UnsupportedMediaType(_) => C::InvalidArgument,
            Self::TooLarge { .. } => C::ResourceExhausted,
            Self::Tenant(weft_core::CoreError::UnknownTenant(_)) => C::PermissionDenied,
            Self::Tenant(_) => C::InvalidArgument,
            Self::NotYetSupported(_) => C::Unimplemented,
            Self::Unavailable { .. } | Self::Storage(_) => C::Unavailable,
        }
    }

    /// Seconds a client should wait before retrying, for retryable errors.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable { retry_after, .. } => Some(*retry_after),
            Self::Storage(_) => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// Short label for the `reason` of refused-item counters.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::TooLarge { .. } => "too_large",
            Self::Tenant(_) => "tenant",
            Self::NotYetSupported(_) => "not_yet_supported",
            Self::Unavailable { .. } => "unavailable",
            Self::Storage(_) => "storage",
        }
    }

    /// The error as a tonic status, with a RetryInfo-free message (UNAVAILABLE is always
    /// retryable for OTLP exporters).
    pub fn to_grpc_status(&self) -> tonic::Status {
        tonic::Status::new(self.grpc_code(), self.to_string())
    }
}
