//! Errors of the trace store.

use std::path::PathBuf;

use crate::block::BlockError;

/// What can go wrong in the trace store.
#[derive(Debug, thiserror::Error)]
pub enum TraceStoreError {
    #[error("trace block: {0}")]
    Block(#[from] BlockError),
    #[error("trace store I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("trace store checkpoint {path} is unreadable: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("invalid search: {0}")]
    BadSearch(String),
    #[error("TraceQL: {0}")]
    TraceQl(#[from] weft_traceql::Error),
    #[error("stored trace could not be decoded: {0}")]
    Decode(#[from] prost::DecodeError),
}

impl TraceStoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the caller's request was at fault (maps to HTTP 400).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::BadSearch(_) | Self::TraceQl(_))
    }
}
