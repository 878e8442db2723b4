//! The single error type of the block layer.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Everything that can go wrong while writing or reading a trace block.
///
/// Every variant that concerns a file names it, and corruption variants also
/// carry the byte offset where the problem was detected so an operator can
/// inspect the file. Corrupt input never panics: it ends up here.
#[derive(Debug, Error)]
pub enum BlockError {
    /// An I/O operation failed.
    #[error("{path}: {op} failed: {source}")]
    Io {
        /// File or directory the operation was applied to.
        path: PathBuf,
        /// What we were doing (`"open"`, `"read"`, `"fsync"`, ...).
        op: &'static str,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A magic number did not match: wrong file type or garbage.
    #[error("{path} @ {offset}: bad magic {found:?}, expected {expected:?}")]
    BadMagic {
        /// File.
        path: PathBuf,
        /// Offset of the magic bytes.
        offset: u64,
        /// Expected bytes.
        expected: [u8; 4],
        /// Bytes found.
        found: [u8; 4],
    },

    /// A CRC-32 did not match the data it covers.
    #[error(
        "{path} @ {offset}: checksum mismatch (stored {expected:#010x}, computed {actual:#010x})"
    )]
    ChecksumMismatch {
        /// File.
        path: PathBuf,
        /// Offset of the checksummed region (page header, or file start).
        offset: u64,
        /// Checksum stored in the file.
        expected: u32,
        /// Checksum computed over the bytes read.
        actual: u32,
    },

    /// A file is shorter than its structure requires.
    #[error("{path} @ {offset}: truncated: need {needed} bytes, only {available} available")]
    Truncated {
        /// File.
        path: PathBuf,
        /// Offset where the missing bytes should start.
        offset: u64,
        /// Bytes required from `offset`.
        needed: u64,
        /// Bytes actually available from `offset`.
        available: u64,
    },

    /// A file or `meta.json` declares a format version this build cannot read.
    #[error("{path}: unsupported format version {found} (this build supports {supported})")]
    UnsupportedVersion {
        /// File.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Version this build reads and writes.
        supported: u32,
    },

    /// Structurally invalid content that passed (or is not covered by) a checksum.
    #[error("{path} @ {offset}: corrupt: {reason}")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// Offset of the offending structure.
        offset: u64,
        /// Human readable description.
        reason: String,
    },

    /// `meta.json` could not be parsed or serialized.
    #[error("{path}: invalid meta.json: {source}")]
    Meta {
        /// Path of `meta.json`.
        path: PathBuf,
        /// Underlying serde error.
        #[source]
        source: serde_json::Error,
    },

    /// `BlockWriter::append` was called with a trace ID not strictly greater
    /// than the previous one.
    #[error("trace ids must be strictly increasing: {next} appended after {prev}")]
    OutOfOrder {
        /// Hex of the previously appended ID.
        prev: String,
        /// Hex of the rejected ID.
        next: String,
    },

    /// A trace payload exceeds [`MAX_TRACE_BYTES`](super::MAX_TRACE_BYTES).
    #[error("trace {trace_id} is {len} bytes, limit is {limit}")]
    TraceTooLarge {
        /// Hex trace ID.
        trace_id: String,
        /// Payload length.
        len: usize,
        /// Limit.
        limit: usize,
    },

    /// `BlockWriter::finish` was called without any appended trace.
    #[error("refusing to write an empty block")]
    EmptyBlock,

    /// Invalid argument (tenant name, options).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl BlockError {
    /// Wraps an I/O error with the path and operation that produced it.
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        BlockError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    /// Shorthand for [`BlockError::Corrupt`].
    pub(crate) fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> Self {
        BlockError::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    /// True for errors that mean the block's bytes are damaged (as opposed to
    /// I/O failures or caller mistakes). Useful to decide on quarantining.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            BlockError::BadMagic { .. }
                | BlockError::ChecksumMismatch { .. }
                | BlockError::Truncated { .. }
                | BlockError::Corrupt { .. }
                | BlockError::Meta { .. }
        )
    }
}
