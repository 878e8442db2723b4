//! `meta.json`, writer options, block IDs and tenant names.

use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::format::{check_version, MAX_PAGE_SIZE};
use super::tags::TagSummary;
use super::BlockError;

/// Contents of `meta.json`: everything about a block that is needed without
/// reading its data (planning compaction, retention, search pruning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// On-disk format version; readers reject versions they don't know.
    pub format_version: u32,
    /// 26-char ULID, equal to the block directory name.
    pub block_id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Minimum `start_ns` over all traces.
    pub min_start_ns: u64,
    /// Maximum `end_ns` over all traces.
    pub max_end_ns: u64,
    /// Number of traces (records).
    pub trace_count: u64,
    /// Sum of the traces' span counts.
    pub span_count: u64,
    /// Size of the `data` file.
    pub data_bytes: u64,
    /// Size of all files of the block, `meta.json` included.
    pub total_bytes: u64,
    /// Wall-clock time the block was finished.
    pub created_unix_ms: u64,
    /// Compaction level: 0 for head flushes.
    pub level: u32,
    /// WAL position covered by this block, for head flushes.
    pub wal_checkpoint: Option<u64>,
    /// IDs of the blocks this one replaces (compaction output).
    pub compacted_from: Vec<String>,
    /// Attribute keys/values for autocomplete.
    pub tags: TagSummary,
}

/// The caller-supplied part of [`BlockMeta`], passed to
/// [`BlockWriter::finish`](super::BlockWriter::finish).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockMetaExtra {
    /// Compaction level: 0 for head flushes.
    pub level: u32,
    /// WAL position covered by this block.
    pub wal_checkpoint: Option<u64>,
    /// IDs of the blocks this one replaces.
    pub compacted_from: Vec<String>,
    /// Tag summary of the block's spans.
    pub tags: TagSummary,
}

/// Tunables of [`BlockWriter`](super::BlockWriter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOptions {
    /// Target uncompressed page size in bytes (default 256 KiB, at most
    /// [`MAX_PAGE_SIZE`]). Smaller pages make `find` cheaper and compress
    /// worse; a single trace larger than this gets a page of its own.
    pub page_bytes: usize,
    /// zstd compression level (default 3).
    pub zstd_level: i32,
}

impl Default for BlockOptions {
    fn default() -> Self {
        BlockOptions {
            page_bytes: 256 << 10,
            zstd_level: 3,
        }
    }
}

impl BlockOptions {
    /// Rejects out-of-range options.
    pub fn validate(&self) -> Result<(), BlockError> {
        if self.page_bytes == 0 || self.page_bytes > MAX_PAGE_SIZE {
            return Err(BlockError::InvalidArgument(format!(
                "page_bytes {} not in 1..={MAX_PAGE_SIZE}",
                self.page_bytes
            )));
        }
        let levels = zstd::compression_level_range();
        if !levels.contains(&self.zstd_level) {
            return Err(BlockError::InvalidArgument(format!(
                "zstd_level {} not in {levels:?}",
                self.zstd_level
            )));
        }
        Ok(())
    }
}

/// Serializes meta.json. `total_bytes` must include the JSON's own size, which
/// depends on the digits of `total_bytes`; iterate to the fixed point (it
/// converges in at most a couple of rounds since the length only grows).
pub(crate) fn encode_meta(meta: &mut BlockMeta, other_files_bytes: u64) -> Vec<u8> {
    meta.total_bytes = other_files_bytes;
    loop {
        // Serializing plain structs/maps with string keys cannot fail.
        let json = serde_json::to_vec_pretty(meta).unwrap_or_default();
        let total = other_files_bytes + json.len() as u64;
        if total == meta.total_bytes {
            return json;
        }
        meta.total_bytes = total;
    }
}

/// Parses meta.json, checking `format_version` before the rest so a future
/// format is reported as such rather than as a confusing field error.
pub(crate) fn decode_meta(path: &Path, buf: &[u8]) -> Result<BlockMeta, BlockError> {
    #[derive(Deserialize)]
    struct VersionOnly {
        format_version: u32,
    }
    let meta_err = |source| BlockError::Meta {
        path: path.to_path_buf(),
        source,
    };
    let v: VersionOnly = serde_json::from_slice(buf).map_err(meta_err)?;
    check_version(path, v.format_version)?;
    serde_json::from_slice(buf).map_err(meta_err)
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new 26-character ULID: 48-bit Unix milliseconds then 80 random bits,
/// Crockford base32. Sorts by creation time.
///
/// Randomness comes from std's per-process randomly keyed SipHash over the
/// clock, pid and a counter: unpredictable enough for uniqueness, and the
/// writer creates the tmp dir with `create_dir` (not `_all`), so a collision
/// would be an error rather than two writers sharing a directory.
pub fn new_block_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let ms = (nanos / 1_000_000) as u64 & ((1 << 48) - 1);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let r1 = h.finish();
    h.write_u8(1);
    let r2 = h.finish();
    let rand80 = (u128::from(r1) << 16) | u128::from(r2 & 0xffff);
    let value = (u128::from(ms) << 80) | rand80;
    // 26 chars * 5 bits = 130 bits: the top char only carries 3 bits.
    (0..26)
        .rev()
        .map(|i| CROCKFORD[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// Tenant names become directory names: forbid anything that could escape
/// the root. (`weft_core::TenantId` is stricter; this is the block layer's
/// own line of defence. Tmp dirs live inside the tenant dir, so a tenant
/// named `.tmp-x` cannot collide with them.)
pub(crate) fn validate_tenant(tenant: &str) -> Result<(), BlockError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 255
        && tenant != "."
        && tenant != ".."
        && !tenant.contains(['/', '\\', '\0']);
    if !ok {
        return Err(BlockError::InvalidArgument(format!(
            "invalid tenant name {tenant:?}"
        )));
    }
    Ok(())
}
