//! Trace store settings.

use std::time::Duration;

use bytesize::ByteSize;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Settings of the trace store (`traces:` in the config file).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TraceStoreConfig {
    /// Cut the in-memory head into a block at least this often.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub head_max_age: Duration,
    /// Cut the head early once it holds this many bytes of span data (all tenants).
    #[schemars(with = "String")]
    pub head_max_bytes: ByteSize,
    /// Delete blocks whose newest span is older than this. `0s` keeps data forever.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub retention: Duration,
    /// Upper bound for trace blocks plus the WAL, all tenants together; the oldest blocks are
    /// deleted to stay below it. `0` means no bound.
    #[schemars(with = "String")]
    pub max_bytes: ByteSize,
    /// Merge blocks of one compaction level once at least this many exist.
    pub compaction_min_blocks: usize,
    /// At most this many blocks are merged in one compaction.
    pub compaction_max_blocks: usize,
    /// Blocks at or above this size are not compacted further.
    #[schemars(with = "String")]
    pub compaction_max_block_bytes: ByteSize,
    /// How often compaction and retention run.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub maintenance_interval: Duration,
    /// Uncompressed size of a block data page; smaller pages make trace-by-ID reads cheaper,
    /// larger ones compress better.
    #[schemars(with = "String")]
    pub block_page_bytes: ByteSize,
    /// zstd level for block pages (1 = fastest, 19 = smallest).
    pub block_zstd_level: i32,
}

impl Default for TraceStoreConfig {
    fn default() -> Self {
        Self {
            head_max_age: Duration::from_secs(60),
            head_max_bytes: ByteSize::mib(64),
            retention: Duration::from_secs(14 * 24 * 3600),
            max_bytes: ByteSize::gib(0),
            compaction_min_blocks: 4,
            compaction_max_blocks: 8,
            compaction_max_block_bytes: ByteSize::gib(1),
            maintenance_interval: Duration::from_secs(30),
            block_page_bytes: ByteSize::kib(256),
            block_zstd_level: 1,
        }
    }
}
