//! API errors and their HTTP form — the one place query-side errors become status codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What a query endpoint can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad parameter, unparsable query).
    #[error("{0}")]
    BadRequest(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The tenant header is invalid or not allowed.
    #[error(transparent)]
    Tenant(#[from] weft_core::CoreError),
    /// A storage or internal failure.
    #[error("internal error: {0}")]
    Internal(String),
    /// A request the server cannot serve right now.
    #[error("{0}")]
    Unavailable(String),
}

impl From<weft_traces::TraceStoreError> for ApiError {
    fn from(err: weft_traces::TraceStoreError) -> Self {
        if err.is_bad_request() {
            return Self::BadRequest(err.to_string());
        }
        Self::Internal(err.to_string())
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Tenant(weft_core::CoreError::UnknownTenant(_)) => StatusCode::FORBIDDEN,
            Self::Tenant(_) => StatusCode::BAD_REQUEST,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Tempo answers errors as plain text with the status code; Grafana shows the text.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), format!("{self}\n")).into_response()
    }
}
