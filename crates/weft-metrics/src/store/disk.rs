//! The metric store on disk: opening blocks, cutting frozen heads into blocks, compaction and
//! retention. Every change to a tenant's block list happens under its parts lock after the
//! new files are durable; deleted blocks stay readable by queries that already hold them
//! (their files are open).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use thiserror::Error;
use weft_core::telemetry::{Sample, SampleKind};
use weft_core::TenantId;

use super::{FrozenPart, MetricStore, MetricStoreConfig, Tenant};
use crate::block::{self, Block, BlockError, BlockWriter, RawChunk};

/// Compaction ranges (ms): head blocks are merged into aligned 2h, 6h, 24h and 7d blocks.
const COMPACTION_RANGES: [i64; 5] = [
    0,
    2 * 3_600_000,
    6 * 3_600_000,
    24 * 3_600_000,
    7 * 24 * 3_600_000,
];

/// Why the metric store could not open, cut, compact or delete.
#[derive(Debug, Error)]
pub enum MetricStoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error(transparent)]
    Checkpoint(#[from] weft_core::checkpoint::CheckpointError),
    #[error("the metric store has no data directory (memory-only)")]
    NoDirectory,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> MetricStoreError {
    let path = path.to_path_buf();
    move |source| MetricStoreError::Io { op, path, source }
}

impl BlockError {
    /// True when the block's bytes are wrong (as opposed to the disk failing to read them).
    fn is_corruption(&self) -> bool {
        !matches!(self, BlockError::Io { .. })
    }
}

impl MetricStore {
    /// Opens (or creates) the store under `root`: removes unfinished block directories,
    /// opens every block and moves corrupt ones aside (`.corrupt-<id>`).
    pub fn open(root: &Path, config: MetricStoreConfig) -> Result<Arc<Self>, MetricStoreError> {
        std::fs::create_dir_all(root).map_err(io("creating", root))?;
        let store = Self::empty(config, Some(root.to_path_buf()));
        store
            .checkpoint
            .store(weft_core::checkpoint::read(root)?, Ordering::Release);
        for entry in std::fs::read_dir(root).map_err(io("listing", root))? {
            let entry = entry.map_err(io("listing", root))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !entry.path().is_dir() || name.starts_with('.') {
                continue;
            }
            let Ok(tenant) = TenantId::parse(&name) else {
                tracing::warn!(dir = %entry.path().display(), "ignoring a directory that is not a tenant ID");
                continue;
            };
            let blocks = open_tenant_blocks(&entry.path())?;
            let t = store.new_tenant();
            t.parts.write().blocks = blocks;
            store.tenants.write().insert(tenant, Arc::new(t));
        }
        Ok(Arc::new(store))
    }

    /// Every tenant, copied out of the map so no lock is held while working on them.
    fn tenant_list(&self) -> Vec<(TenantId, Arc<Tenant>)> {
        let tenants = self.tenants.read();
        tenants
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The first WAL segment whose records are not all in blocks (replay starts there).
    pub fn wal_checkpoint(&self) -> u64 {
        self.checkpoint.load(Ordering::Acquire)
    }

    /// True when the heads should be cut: they are older than `head_max_age` or larger
    /// than `head_max_bytes`, and hold something.
    pub fn cut_due(&self) -> bool {
        let bytes = self.head_bytes();
        if bytes == 0 {
            return false;
        }
        bytes > self.config.head_max_bytes.as_u64()
            || self.last_cut.lock().elapsed() >= self.config.head_max_age
    }

    /// Freezes every head. Call with writers excluded, right after rotating the WAL, so the
    /// frozen data is exactly what the closed segments hold.
    pub fn freeze_heads(&self) {
        *self.last_cut.lock() = Instant::now();
        let tenants: Vec<Arc<Tenant>> = self.tenant_list().into_iter().map(|(_, t)| t).collect();
        for t in tenants {
            let mut parts = t.parts.write();
            let frozen = t.head.freeze();
            let has_samples = frozen.iter().any(|s| !s.chunks.is_empty());
            if has_samples {
                parts.frozen.push(Arc::new(frozen));
            }
        }
    }

    /// Writes every frozen part as a block, then records `wal_segment` as the checkpoint.
    /// On failure the frozen parts stay (readable) and the next call retries them.
    pub fn write_frozen(&self, wal_segment: u64) -> Result<usize, MetricStoreError> {
        let root = self.root.clone().ok_or(MetricStoreError::NoDirectory)?;
        let _one = self.maintenance.lock();
        let tenants = self.tenant_list();
        let mut written = 0;
        for (tenant, t) in tenants {
            let parts: Vec<Arc<FrozenPart>> = t.parts.read().frozen.clone();
            for part in parts {
                let dir = root.join(tenant.as_str());
                let block = write_part(&dir, &part)?;
                let mut p = t.parts.write();
                p.frozen.retain(|f| !Arc::ptr_eq(f, &part));
                if let Some(b) = block {
                    insert_sorted(&mut p.blocks, Arc::new(b));
                    written += 1;
                }
            }
        }
        weft_core::checkpoint::write(&root, wal_segment)
            .map_err(io("writing the checkpoint in", &root))?;
        self.checkpoint.store(wal_segment, Ordering::Release);
        Ok(written)
    }

    /// One round of compaction per tenant; returns the number of blocks merged away.
    pub fn compact(&self) -> Result<usize, MetricStoreError> {
        let Some(root) = self.root.clone() else {
            return Ok(0);
        };
        let _one = self.maintenance.lock();
        let mut merged = 0;
        let tenants = self.tenant_list();
        for (tenant, t) in tenants {
            merged += compact_tenant(&root.join(tenant.as_str()), &t)?;
        }
        Ok(merged)
    }

    /// Deletes blocks older than the retention period, then the oldest blocks while blocks
    /// plus `reserved_bytes` exceed `max_bytes`. Returns the number of blocks deleted.
    pub fn enforce_retention(&self, now_ms: i64, reserved_bytes: u64) -> usize {
        let _one = self.maintenance.lock();
        let mut deleted = 0;
        let retention_ms = i64::try_from(self.config.retention.as_millis()).unwrap_or(i64::MAX);
        if retention_ms > 0 {
            let cutoff = now_ms.saturating_sub(retention_ms);
            deleted += self.delete_blocks_where("retention_age", |b| b.meta().max_time < cutoff);
        }
        let budget = self.config.max_bytes.as_u64();
        while budget > 0 && self.block_bytes() + reserved_bytes > budget {
            let Some(oldest) = self.oldest_block() else {
                break;
            };
            deleted += self.delete_blocks_where("retention_bytes", |b| Arc::ptr_eq(b, &oldest));
        }
        deleted
    }

    fn oldest_block(&self) -> Option<Arc<Block>> {
        let tenants: Vec<Arc<Tenant>> = self.tenant_list().into_iter().map(|(_, t)| t).collect();
        tenants
            .iter()
            .flat_map(|t| t.parts.read().blocks.clone())
            .min_by_key(|b| b.meta().max_time)
    }

    /// Removes matching blocks from every tenant's list, then deletes their directories.
    fn delete_blocks_where(
        &self,
        reason: &'static str,
        doomed: impl Fn(&Arc<Block>) -> bool,
    ) -> usize {
        let tenants: Vec<Arc<Tenant>> = self.tenant_list().into_iter().map(|(_, t)| t).collect();
        let mut removed = Vec::new();
        for t in tenants {
            let mut parts = t.parts.write();
            let (gone, keep): (Vec<_>, Vec<_>) = parts.blocks.drain(..).partition(|b| doomed(b));
            parts.blocks = keep;
            removed.extend(gone);
        }
        for b in &removed {
            *self.dropped.lock().entry(reason).or_default() += b.meta().num_samples;
            remove_block_dir(b.dir());
        }
        removed.len()
    }

    /// Bytes of all blocks of all tenants.
    pub fn block_bytes(&self) -> u64 {
        let tenants: Vec<Arc<Tenant>> = self.tenant_list().into_iter().map(|(_, t)| t).collect();
        tenants
            .iter()
            .flat_map(|t| t.parts.read().blocks.clone())
            .map(|b| b.size_bytes())
            .sum()
    }

    /// `/metrics` samples about blocks and retention.
    pub(super) fn block_samples(&self) -> Vec<Sample> {
        let mut out = Vec::new();
        for (tenant, t) in self.tenants.read().iter() {
            let parts = t.parts.read();
            let labels = vec![("tenant".to_string(), tenant.to_string())];
            out.push(Sample {
                name: "metric_blocks",
                help: "Metric blocks on disk.",
                kind: SampleKind::Gauge,
                labels: labels.clone(),
                value: parts.blocks.len() as f64,
            });
            out.push(Sample {
                name: "metric_block_bytes",
                help: "Bytes of metric blocks on disk.",
                kind: SampleKind::Gauge,
                labels,
                value: parts.blocks.iter().map(|b| b.size_bytes()).sum::<u64>() as f64,
            });
        }
        for (reason, n) in self.dropped.lock().iter() {
            out.push(Sample {
                name: "metric_retention_dropped_samples",
                help: "Samples deleted by retention (age or disk budget).",
                kind: SampleKind::Counter,
                labels: vec![("reason".to_string(), reason.to_string())],
                value: *n as f64,
            });
        }
        out
    }
}

/// Opens a tenant's blocks, oldest first; corrupt ones are moved aside.
fn open_tenant_blocks(dir: &Path) -> Result<Vec<Arc<Block>>, MetricStoreError> {
    block::cleanup_tmp(dir)?;
    let mut blocks = Vec::new();
    for path in block::list_blocks(dir)? {
        match Block::open(&path) {
            Ok(b) => blocks.push(Arc::new(b)),
            Err(err) if err.is_corruption() => {
                weft_core::fsutil::quarantine(&path, "metric block", &err);
            }
            Err(err) => return Err(err.into()),
        }
    }
    blocks.sort_by_key(|b| (b.meta().min_time, b.meta().block_id.clone()));
    Ok(blocks)
}

/// Writes one frozen part as a level-0 block (`None` if it holds no samples).
fn write_part(dir: &Path, part: &FrozenPart) -> Result<Option<Block>, MetricStoreError> {
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut writer = BlockWriter::new(dir, 0, Vec::new())?;
    for s in part {
        let chunks: Vec<RawChunk> = s.chunks.iter().filter_map(RawChunk::from_chunk).collect();
        if !chunks.is_empty() {
            writer.append_series(&s.labels, chunks)?;
        }
    }
    if writer.num_series() == 0 {
        return Ok(None);
    }
    let meta = writer.finish()?;
    Ok(Some(Block::open(&dir.join(&meta.block_id))?))
}

/// Keeps blocks ordered by min time (ties by id, which sorts by creation within a time).
fn insert_sorted(blocks: &mut Vec<Arc<Block>>, b: Arc<Block>) {
    let key = |b: &Arc<Block>| (b.meta().min_time, b.meta().block_id.clone());
    let at = blocks.partition_point(|x| key(x) <= key(&b));
    blocks.insert(at, b);
}

fn compact_tenant(dir: &Path, t: &Tenant) -> Result<usize, MetricStoreError> {
    let mut merged = 0;
    loop {
        let blocks = t.parts.read().blocks.clone();
        let metas: Vec<block::BlockMeta> = blocks.iter().map(|b| b.meta().clone()).collect();
        let ids = block::plan_compaction(&metas, &COMPACTION_RANGES);
        if ids.len() < 2 {
            return Ok(merged);
        }
        let inputs: Vec<&Arc<Block>> = ids
            .iter()
            .filter_map(|id| blocks.iter().find(|b| &b.meta().block_id == id))
            .collect();
        let level = inputs.iter().map(|b| b.meta().level).max().unwrap_or(0) + 1;
        let refs: Vec<&Block> = inputs.iter().map(|b| b.as_ref()).collect();
        let meta = block::compact(dir, &refs, level)?;
        let out = Arc::new(Block::open(&dir.join(&meta.block_id))?);
        {
            let mut parts = t.parts.write();
            parts.blocks.retain(|b| !ids.contains(&b.meta().block_id));
            insert_sorted(&mut parts.blocks, out);
        }
        for b in &inputs {
            remove_block_dir(b.dir());
        }
        merged += inputs.len();
    }
}

fn remove_block_dir(dir: &Path) {
    if let Err(err) = std::fs::remove_dir_all(dir) {
        tracing::warn!(dir = %dir.display(), %err, "could not delete metric block");
    }
}
