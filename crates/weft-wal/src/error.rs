//! The single error type of the crate.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Everything that can go wrong in the WAL.
///
/// `Clone` because one disk error fails every waiter of a commit group; the
/// underlying `io::Error` is shared through an `Arc`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// A system call failed (ENOSPC, EIO, permission, ...). Retryable: the
    /// writer keeps running and later appends may succeed.
    #[error("wal i/o error while {op} {}: {source}", path.display())]
    Io {
        /// What the WAL was doing, e.g. "writing records to".
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: Arc<io::Error>,
    },

    /// Too many bytes are accepted but not yet acknowledged. Retryable
    /// (HTTP 503 / gRPC UNAVAILABLE); nothing was written.
    #[error(
        "wal backpressure: {pending_bytes} bytes are waiting to be made durable \
         (limit max_pending_bytes = {limit_bytes}); retry later"
    )]
    Backpressure {
        /// Bytes pending when the append was refused.
        pending_bytes: u64,
        /// `WalOptions::max_pending_bytes`.
        limit_bytes: u64,
    },

    /// The record can never be appended. Permanent; nothing was written.
    #[error("wal record of {size} bytes exceeds max_record_bytes = {limit}")]
    RecordTooLarge {
        /// Payload size of the refused record.
        size: u64,
        /// `WalOptions::max_record_bytes`.
        limit: u64,
    },

    /// Bytes on disk that are not a valid WAL where valid WAL is required
    /// (anywhere except the torn tail of the last segment).
    #[error(
        "corrupt wal segment {} at byte offset {offset}: {reason} \
         (set skip_corrupt to skip the rest of this segment)",
        path.display()
    )]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the bad header or frame.
        offset: u64,
        /// What was wrong.
        reason: String,
    },

    /// A segment that replay needs is not in the directory.
    #[error(
        "wal directory {} is missing segment {segment}: {reason} \
         (set skip_corrupt to replay what is there)",
        dir.display()
    )]
    MissingSegment {
        /// The WAL directory.
        dir: PathBuf,
        /// The first missing segment number.
        segment: u64,
        /// Why it was expected.
        reason: String,
    },

    /// Another `Wal` or replay holds the directory lock.
    #[error(
        "wal directory {} is in use by another open Wal or replay \
         (in this or another process)",
        dir.display()
    )]
    Locked {
        /// The WAL directory.
        dir: PathBuf,
    },

    /// `WalOptions` failed validation at open.
    #[error("invalid wal options: {0}")]
    InvalidOptions(String),

    /// The WAL was shut down (or its writer thread died) before the
    /// operation completed. Retryable in the sense that the client should
    /// try again later (against a restarted process).
    #[error("wal is closed")]
    Closed,
}

impl WalError {
    /// True when the same request may succeed if retried later: map to
    /// HTTP 503 / gRPC UNAVAILABLE. False for permanent errors (bad input,
    /// corrupt data, misconfiguration).
    pub fn is_retryable(&self) -> bool {
        match self {
            WalError::Io { .. } | WalError::Backpressure { .. } | WalError::Closed => true,
            WalError::RecordTooLarge { .. }
            | WalError::Corrupt { .. }
            | WalError::MissingSegment { .. }
            | WalError::Locked { .. }
            | WalError::InvalidOptions(_) => false,
        }
    }

    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        WalError::Io {
            op,
            path: path.to_path_buf(),
            source: Arc::new(source),
        }
    }

    pub(crate) fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> Self {
        WalError::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }
}

/// Crate-wide result alias.
pub type Result<T, E = WalError> = std::result::Result<T, E>;
