//! The one error type of the block module.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why writing, opening, querying or compacting a block failed. Corruption errors name the
/// file, the section (or chunk) and the byte offset within the file.
#[derive(Debug, Error)]
pub enum BlockError {
    /// An I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`"open"`, `"read"`, `"fsync"`, ...).
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file is structurally invalid.
    #[error("{file}: section {section:?} at byte {offset}: {reason}")]
    Corrupt {
        /// `index`, `chunks` or `meta.json`.
        file: &'static str,
        /// The section (`header`, `symbols`, `series`, `postings`, `chunk`, ...).
        section: &'static str,
        /// Byte offset in the file where the problem was found.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A stored CRC does not match the data.
    #[error("{file}: section {section:?} at byte {offset}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// `index` or `chunks`.
        file: &'static str,
        /// The section, or `chunk`.
        section: &'static str,
        /// Byte offset of the section or chunk in the file.
        offset: u64,
        /// The CRC in the file.
        stored: u32,
        /// The CRC of the bytes read.
        computed: u32,
    },
    /// A file has a format version this code does not read.
    #[error("{file}: unsupported format version {version}")]
    UnsupportedVersion {
        /// The file.
        file: &'static str,
        /// The version found.
        version: u32,
    },
    /// The writer was given something it cannot store (unsorted series, overlapping chunks,
    /// an empty block, ...). Nothing is published.
    #[error("invalid block input: {0}")]
    InvalidInput(String),
}

impl BlockError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        BlockError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    /// A corruption error.
    pub(crate) fn corrupt(
        file: &'static str,
        section: &'static str,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        BlockError::Corrupt {
            file,
            section,
            offset,
            reason: reason.into(),
        }
    }
}
