//! Immutable on-disk trace blocks.
//!
//! A block holds the traces of **one tenant** for a time range, sorted by
//! trace ID, in a directory `<root>/<tenant>/<block_id>/` with four files:
//! `data` (zstd pages of records), `index` (one entry per page), `bloom`
//! (bloom filter over trace IDs) and `meta.json` ([`BlockMeta`]). The exact
//! byte layout is specified in `docs/format/trace-block.md`.
//!
//! # Data flow
//!
//! **Write** (head flush, compaction): [`BlockWriter::create`] makes
//! `<root>/<tenant>/.tmp-<block_id>/`; [`BlockWriter::append`] takes traces in
//! strictly increasing ID order and buffers them into a page; when the page
//! reaches [`BlockOptions::page_bytes`] it is zstd-compressed, checksummed and
//! appended to `data`, and its summary (ID range, offset, time range) is kept
//! for the index. [`BlockWriter::finish`] writes `index`, `bloom` and
//! `meta.json`, fsyncs everything and renames the directory into place: that
//! rename is the commit point, so readers never see a partial block.
//!
//! **Read**: [`list_blocks`] enumerates finished blocks (and removes tmp
//! leftovers of crashed writers); [`BlockReader::open`] loads `meta.json`,
//! `index` and `bloom` into memory after validating them.
//! [`BlockReader::find`] goes bloom → binary search of the index → one
//! `pread` + decompress of a single page, so a trace-by-ID lookup costs at most
//! one page read per block. [`BlockReader::iter`] and
//! [`BlockReader::iter_overlapping`] stream records page by page in ID order
//! for search and compaction; compaction merges the same trace found in
//! several blocks with [`merge_records`].
//!
//! # Integrity
//!
//! Every binary file carries a magic, a format version and a CRC-32; every
//! length read from disk is bounds-checked before use. Corruption surfaces as
//! a [`BlockError`] naming the file and offset, never as a panic or garbage.

mod bloom;
mod error;
mod format;
mod index;
mod meta;
mod page;
mod reader;
mod record;
pub mod tags;
mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use bloom::BLOOM_FP_RATE;
pub use error::BlockError;
pub use format::{
    BLOOM_FILE, DATA_FILE, FORMAT_VERSION, INDEX_FILE, MAX_PAGE_SIZE, MAX_TRACE_BYTES, META_FILE,
};
pub use index::PageEntry;
pub use meta::{new_block_id, BlockMeta, BlockMetaExtra, BlockOptions};
pub use reader::{BlockIter, BlockReader};
pub use record::{merge_records, OwnedTraceRecord, TraceRecord};
pub use tags::{TagSummary, TagValues};
pub use writer::BlockWriter;

/// Finished block directories of `tenant` under `root`, sorted by block ID
/// (i.e. creation time). Returns an empty list if the tenant has no directory.
///
/// Leftover `.tmp-*` directories (from writers that crashed or were killed
/// mid-write) are deleted, except those owned by a live [`BlockWriter`] of
/// this process. Other hidden entries and directories without `meta.json`
/// are ignored.
pub fn list_blocks(root: &Path, tenant: &str) -> Result<Vec<PathBuf>, BlockError> {
    meta::validate_tenant(tenant)?;
    let tenant_dir = root.join(tenant);
    let entries = match std::fs::read_dir(&tenant_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BlockError::io(&tenant_dir, "read_dir", e)),
    };
    let mut blocks = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BlockError::io(&tenant_dir, "read_dir", e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with(writer::TMP_PREFIX) {
            remove_stale_tmp(&path, &name);
        } else if !name.starts_with('.') && path.join(META_FILE).is_file() {
            blocks.push(path);
        }
    }
    blocks.sort();
    Ok(blocks)
}

/// Deletes an abandoned tmp block dir unless a live writer owns it. Failure
/// is only logged: a leftover costs disk space, not correctness.
fn remove_stale_tmp(path: &Path, name: &str) {
    // Hold the registry while deleting so a writer can't claim the name
    // between the check and the removal.
    writer::with_tmp_registry(|active| {
        if active.contains(name) {
            return;
        }
        tracing::info!(path = %path.display(), "removing leftover tmp block dir");
        if let Err(e) = std::fs::remove_dir_all(path) {
            tracing::warn!(path = %path.display(), error = %e, "failed to remove leftover tmp block dir");
        }
    });
}
