//! `meta.json` and block ids.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::format::{FORMAT_VERSION, META_FILE};
use super::BlockError;

/// A block's `meta.json` (`docs/format/metric-block.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Format version, [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The block id, equal to the directory name.
    pub block_id: String,
    /// First sample time (ms).
    pub min_time: i64,
    /// Last sample time (ms, inclusive).
    pub max_time: i64,
    /// Number of series.
    pub num_series: u64,
    /// Number of chunks.
    pub num_chunks: u64,
    /// Number of samples.
    pub num_samples: u64,
    /// Size of the `index` file.
    pub index_bytes: u64,
    /// Size of the `chunks` file.
    pub chunk_bytes: u64,
    /// Compaction level: 0 for head flushes.
    pub level: u32,
    /// Ids of the blocks this one was compacted from.
    #[serde(default)]
    pub sources: Vec<String>,
}

impl BlockMeta {
    /// Bytes of the two data files (what the block costs, `meta.json` aside).
    pub fn data_bytes(&self) -> u64 {
        self.index_bytes + self.chunk_bytes
    }

    /// Whether `[min_time, max_time]` intersects the other block's range.
    pub fn overlaps(&self, other: &BlockMeta) -> bool {
        self.min_time <= other.max_time && other.min_time <= self.max_time
    }
}

/// Parses `meta.json`, checking the version before anything else so that a future format
/// is reported as such rather than as a parse error.
pub(crate) fn parse_meta(bytes: &[u8]) -> Result<BlockMeta, BlockError> {
    #[derive(Deserialize)]
    struct VersionOnly {
        format_version: u32,
    }
    let bad = |e: serde_json::Error| {
        BlockError::corrupt(META_FILE, "json", e.column() as u64, e.to_string())
    };
    let v: VersionOnly = serde_json::from_slice(bytes).map_err(bad)?;
    if v.format_version != FORMAT_VERSION {
        return Err(BlockError::UnsupportedVersion {
            file: META_FILE,
            version: v.format_version,
        });
    }
    serde_json::from_slice(bytes).map_err(bad)
}

/// A new block id: `min_time` with the sign bit flipped as 16 hex digits (so ids sort by
/// time), `-`, 16 random hex digits.
pub(crate) fn new_block_id(min_time: i64) -> String {
    format!(
        "{:016x}-{:016x}",
        (min_time as u64) ^ (1 << 63),
        random_u64()
    )
}

/// 64 random bits without a random-number crate: `RandomState` is seeded from the OS once
/// per process; the counter and clock make successive calls differ.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    h.write_u64(nanos);
    h.write_u32(std::process::id());
    h.finish()
}
