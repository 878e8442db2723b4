//! The trace store: heads per tenant, immutable blocks, cuts, compaction and retention.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use weft_core::telemetry::{Sample, SampleKind, SelfMetrics, SnapshotSource};
use weft_core::TenantId;

use crate::block::{
    list_blocks, merge_records, BlockMetaExtra, BlockOptions, BlockReader, BlockWriter,
    OwnedTraceRecord, TagSummary, TraceRecord,
};
use crate::head::Head;
use crate::raw::RawBatch;
use crate::{TraceStoreConfig, TraceStoreError};

use weft_core::checkpoint::CHECKPOINT_FILE;

/// One tenant's data: the live head, heads being written out, and finished blocks.
#[derive(Default)]
pub(crate) struct TenantTraces {
    pub(crate) head: Mutex<Head>,
    /// Heads cut from `head` whose blocks are being written; still queried.
    pub(crate) flushing: RwLock<Vec<Arc<Head>>>,
    /// Finished blocks, oldest first (by newest span).
    pub(crate) blocks: RwLock<Vec<Arc<BlockReader>>>,
}

/// Heads cut at one WAL segment boundary, waiting to be written as blocks.
pub struct CutHeads {
    heads: Vec<(TenantId, Arc<Head>)>,
}

impl CutHeads {
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }
}

/// The trace store. All methods are safe to call concurrently.
pub struct TraceStore {
    pub(crate) cfg: TraceStoreConfig,
    root: PathBuf,
    blocks_root: PathBuf,
    pub(crate) tenants: RwLock<BTreeMap<TenantId, Arc<TenantTraces>>>,
    checkpoint: AtomicU64,
    metrics: Arc<SelfMetrics>,
    /// Serialises cuts, compaction and retention so they never race on the same blocks.
    maintenance: Mutex<()>,
    /// Set when retention could not bring disk use under `max_bytes`.
    over_budget: AtomicBool,
}

impl TraceStore {
    /// Opens (or creates) the store under `root`, cleaning up what a crash may have left:
    /// unfinished block directories, blocks from a cut whose checkpoint was never recorded
    /// (their data is still in the WAL and will be replayed), and the inputs of a compaction
    /// whose output was already written.
    pub fn open(
        root: &Path,
        cfg: TraceStoreConfig,
        metrics: Arc<SelfMetrics>,
    ) -> Result<Arc<Self>, TraceStoreError> {
        let blocks_root = root.join("blocks");
        fs::create_dir_all(&blocks_root).map_err(|e| TraceStoreError::io(&blocks_root, e))?;
        let checkpoint = read_checkpoint(root)?;
        let mut tenants = BTreeMap::new();
        for tenant in list_tenant_dirs(&blocks_root)? {
            let blocks = open_tenant_blocks(&blocks_root, &tenant, checkpoint)?;
            let state = TenantTraces::default();
            *state.blocks.write() = blocks;
            tenants.insert(tenant, Arc::new(state));
        }
        let store = Arc::new(Self {
            cfg,
            root: root.to_path_buf(),
            blocks_root,
            tenants: RwLock::new(tenants),
            checkpoint: AtomicU64::new(checkpoint),
            metrics: metrics.clone(),
            maintenance: Mutex::new(()),
            over_budget: AtomicBool::new(false),
        });
        metrics.register_source(Arc::new(StoreSnapshot(Arc::downgrade(&store))));
        Ok(store)
    }

    pub fn config(&self) -> &TraceStoreConfig {
        &self.cfg
    }

    /// The first WAL segment that must be replayed into this store on start-up.
    pub fn wal_checkpoint(&self) -> u64 {
        self.checkpoint.load(Ordering::Acquire)
    }

    /// Adds a batch that is already durable in the WAL (or being replayed from it).
    pub fn apply(&self, tenant: &TenantId, batch: &RawBatch<'_>) {
        let state = self.tenant_or_create(tenant);
        state.head.lock().append(batch);
    }

    /// Bytes of span data in all live heads.
    pub fn head_bytes(&self) -> usize {
        self.tenants
            .read()
            .values()
            .map(|t| t.head.lock().bytes)
            .sum()
    }

    /// Age of the oldest non-empty head.
    pub fn oldest_head_age(&self) -> Option<std::time::Duration> {
        self.tenants
            .read()
            .values()
            .filter_map(|t| {
                let head = t.head.lock();
                (!head.is_empty()).then(|| head.created.elapsed())
            })
            .max()
    }

    /// True when a cut is due by size or age.
    pub fn cut_due(&self) -> bool {
        self.head_bytes() as u64 >= self.cfg.head_max_bytes.as_u64()
            || self
                .oldest_head_age()
                .is_some_and(|age| age >= self.cfg.head_max_age)
    }

    /// Takes every tenant's head. The caller must hold its ingest gate exclusively and have
    /// just rotated the WAL, so that the heads hold exactly the records of earlier segments.
    pub fn cut_heads(&self) -> CutHeads {
        let mut heads = Vec::new();
        for (tenant, state) in self.tenants.read().iter() {
            let head = std::mem::take(&mut *state.head.lock());
            if head.is_empty() {
                continue;
            }
            let head = Arc::new(head);
            state.flushing.write().push(head.clone());
            heads.push((tenant.clone(), head));
        }
        CutHeads { heads }
    }

    /// Writes cut heads as blocks, then records `wal_segment` as the new replay start. Data
    /// in segments before it is then in blocks and those segments may be deleted.
    pub fn write_cut(&self, cut: &CutHeads, wal_segment: u64) -> Result<(), TraceStoreError> {
        let _guard = self.maintenance.lock();
        for (tenant, head) in &cut.heads {
            let state = self.tenant_or_create(tenant);
            if !state.flushing.read().iter().any(|h| Arc::ptr_eq(h, head)) {
                continue; // written by an earlier attempt of this cut
            }
            let reader = self.write_head_block(tenant, head, wal_segment)?;
            state.blocks.write().push(Arc::new(reader));
            state.flushing.write().retain(|h| !Arc::ptr_eq(h, head));
        }
        self.store_checkpoint(wal_segment)
    }

    fn write_head_block(
        &self,
        tenant: &TenantId,
        head: &Head,
        wal_segment: u64,
    ) -> Result<BlockReader, TraceStoreError> {
        let mut ids: Vec<&[u8; 16]> = head.traces.keys().collect();
        ids.sort_unstable();
        let mut writer =
            BlockWriter::create(&self.blocks_root, tenant.as_str(), &self.block_options())?;
        for id in ids {
            let fragment = &head.traces[id];
            let record = TraceRecord {
                trace_id: *id,
                start_ns: fragment.start_ns,
                end_ns: fragment.end_ns,
                span_count: fragment.span_count,
                data: &fragment.data,
            };
            if let Err(err) = writer.append(&record) {
                writer.abort();
                return Err(err.into());
            }
        }
        let meta = writer.finish(BlockMetaExtra {
            level: 0,
            wal_checkpoint: Some(wal_segment),
            compacted_from: Vec::new(),
            tags: head.tags.summary.clone(),
        })?;
        let dir = self.blocks_root.join(tenant.as_str()).join(&meta.block_id);
        Ok(BlockReader::open(&dir)?)
    }

    fn block_options(&self) -> BlockOptions {
        BlockOptions {
            page_bytes: self.cfg.block_page_bytes.as_u64() as usize,
            zstd_level: self.cfg.block_zstd_level,
        }
    }

    fn store_checkpoint(&self, wal_segment: u64) -> Result<(), TraceStoreError> {
        weft_core::checkpoint::write(&self.root, wal_segment)
            .map_err(|e| TraceStoreError::io(self.root.join(CHECKPOINT_FILE), e))?;
        self.checkpoint.store(wal_segment, Ordering::Release);
        Ok(())
    }

    pub(crate) fn tenant_or_create(&self, tenant: &TenantId) -> Arc<TenantTraces> {
        if let Some(state) = self.tenants.read().get(tenant) {
            return state.clone();
        }
        self.tenants
            .write()
            .entry(tenant.clone())
            .or_default()
            .clone()
    }

    pub(crate) fn tenant(&self, tenant: &TenantId) -> Option<Arc<TenantTraces>> {
        self.tenants.read().get(tenant).cloned()
    }

    /// The stored trace as `tempopb.Trace` protobuf bytes, or `None` when no span of it is
    /// stored for this tenant. Reads one page per block whose bloom filter may hold the ID.
    pub fn find_trace(
        &self,
        tenant: &TenantId,
        trace_id: &[u8; 16],
    ) -> Result<Option<Vec<u8>>, TraceStoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        let blocks = state.blocks.read().clone();
        for block in blocks.iter().filter(|b| b.may_contain(trace_id)) {
            if let Some(record) = block.find(trace_id)? {
                out.extend_from_slice(&record.data);
            }
        }
        for head in state.flushing.read().iter() {
            if let Some(fragment) = head.traces.get(trace_id) {
                out.extend_from_slice(&fragment.data);
            }
        }
        if let Some(fragment) = state.head.lock().traces.get(trace_id) {
            out.extend_from_slice(&fragment.data);
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// Attribute keys and values seen for this tenant (for tag autocomplete).
    pub fn tag_summary(&self, tenant: &TenantId) -> TagSummary {
        let mut summary = TagSummary::default();
        let Some(state) = self.tenant(tenant) else {
            return summary;
        };
        for block in state.blocks.read().iter() {
            summary.merge(&block.meta().tags);
        }
        for head in state.flushing.read().iter() {
            summary.merge(&head.tags.summary);
        }
        summary.merge(&state.head.lock().tags.summary);
        summary
    }

    /// Merges small blocks of the same level, one batch per tenant per call. Returns how many
    /// compactions ran. The merged block exists next to its inputs until they are deleted, so
    /// a compaction that would take blocks plus `reserved_bytes` past `max_bytes` waits.
    pub fn compact(&self, reserved_bytes: u64) -> Result<usize, TraceStoreError> {
        let _guard = self.maintenance.lock();
        let mut ran = 0;
        let tenants: Vec<_> = self
            .tenants
            .read()
            .iter()
            .map(|(t, s)| (t.clone(), s.clone()))
            .collect();
        for (tenant, state) in tenants {
            let Some(inputs) = self.pick_compaction(&state) else {
                continue;
            };
            let input_bytes: u64 = inputs.iter().map(|b| b.meta().total_bytes).sum();
            let budget = self.cfg.max_bytes.as_u64();
            if budget > 0 && self.block_bytes() + input_bytes + reserved_bytes > budget {
                continue;
            }
            let output = self.merge_blocks(&tenant, &inputs)?;
            replace_blocks(&state, &inputs, output);
            for input in &inputs {
                remove_block_dir(input.dir());
            }
            ran += 1;
        }
        Ok(ran)
    }

    fn pick_compaction(&self, state: &TenantTraces) -> Option<Vec<Arc<BlockReader>>> {
        let max_bytes = self.cfg.compaction_max_block_bytes.as_u64();
        let blocks = state.blocks.read();
        let mut by_level: BTreeMap<u32, Vec<Arc<BlockReader>>> = BTreeMap::new();
        for block in blocks.iter() {
            if block.meta().total_bytes < max_bytes {
                by_level
                    .entry(block.meta().level)
                    .or_default()
                    .push(block.clone());
            }
        }
        by_level.into_values().find_map(|mut candidates| {
            if candidates.len() < self.cfg.compaction_min_blocks.max(2) {
                return None;
            }
            candidates.sort_by_key(|b| b.meta().min_start_ns);
            candidates.truncate(self.cfg.compaction_max_blocks.max(2));
            Some(candidates)
        })
    }

    fn merge_blocks(
        &self,
        tenant: &TenantId,
        inputs: &[Arc<BlockReader>],
    ) -> Result<Arc<BlockReader>, TraceStoreError> {
        let mut writer =
            BlockWriter::create(&self.blocks_root, tenant.as_str(), &self.block_options())?;
        let result = write_merged(&mut writer, inputs);
        if let Err(err) = result {
            writer.abort();
            return Err(err);
        }
        let mut tags = TagSummary::default();
        for input in inputs {
            tags.merge(&input.meta().tags);
        }
        let level = inputs.iter().map(|b| b.meta().level).max().unwrap_or(0) + 1;
        let meta = writer.finish(BlockMetaExtra {
            level,
            wal_checkpoint: None,
            compacted_from: inputs.iter().map(|b| b.meta().block_id.clone()).collect(),
            tags,
        })?;
        let dir = self.blocks_root.join(tenant.as_str()).join(&meta.block_id);
        Ok(Arc::new(BlockReader::open(&dir)?))
    }

    /// Deletes blocks past the retention age, then the oldest blocks while blocks plus
    /// `reserved_bytes` (space the caller needs for the WAL and the next cut) exceed
    /// `max_bytes`. Returns the number of blocks deleted.
    pub fn enforce_retention(
        &self,
        now_ns: u64,
        reserved_bytes: u64,
    ) -> Result<usize, TraceStoreError> {
        let _guard = self.maintenance.lock();
        let mut deleted = 0;
        if !self.cfg.retention.is_zero() {
            let cutoff = now_ns.saturating_sub(self.cfg.retention.as_nanos() as u64);
            deleted += self.delete_blocks_where("retention_age", |b| b.meta().max_end_ns < cutoff);
        }
        let budget = self.cfg.max_bytes.as_u64();
        if budget == 0 {
            self.over_budget.store(false, Ordering::Release);
            return Ok(deleted);
        }
        loop {
            let used = self.block_bytes() + reserved_bytes;
            if used <= budget {
                self.over_budget.store(false, Ordering::Release);
                break;
            }
            let Some(oldest) = self.oldest_block() else {
                self.over_budget.store(true, Ordering::Release);
                break;
            };
            deleted += self.delete_blocks_where("retention_bytes", |b| Arc::ptr_eq(b, &oldest));
        }
        Ok(deleted)
    }

    /// True when the last retention pass could not get under `max_bytes` (every block is
    /// gone and the WAL alone is too big): ingest should push back until a cut shrinks it.
    pub fn over_budget(&self) -> bool {
        self.over_budget.load(Ordering::Acquire)
    }

    /// Bytes of all finished blocks.
    pub fn block_bytes(&self) -> u64 {
        self.tenants
            .read()
            .values()
            .flat_map(|t| {
                t.blocks
                    .read()
                    .iter()
                    .map(|b| b.meta().total_bytes)
                    .collect::<Vec<_>>()
            })
            .sum()
    }

    fn oldest_block(&self) -> Option<Arc<BlockReader>> {
        self.tenants
            .read()
            .values()
            .flat_map(|t| t.blocks.read().clone())
            .min_by_key(|b| b.meta().max_end_ns)
    }

    fn delete_blocks_where(
        &self,
        reason: &'static str,
        doomed: impl Fn(&Arc<BlockReader>) -> bool,
    ) -> usize {
        let mut deleted = 0;
        for state in self.tenants.read().values() {
            let mut blocks = state.blocks.write();
            let (gone, kept): (Vec<_>, Vec<_>) = blocks.drain(..).partition(|b| doomed(b));
            *blocks = kept;
            drop(blocks);
            for block in gone {
                self.metrics
                    .dropped
                    .get_or_create(&weft_core::telemetry::ReasonLabels {
                        signal: "traces",
                        reason,
                    })
                    .inc_by(block.meta().span_count);
                remove_block_dir(block.dir());
                deleted += 1;
            }
        }
        deleted
    }
}

fn write_merged(
    writer: &mut BlockWriter,
    inputs: &[Arc<BlockReader>],
) -> Result<(), TraceStoreError> {
    let mut iters: Vec<_> = inputs.iter().map(|b| b.iter().peekable()).collect();
    loop {
        // Pick the smallest next trace ID across inputs, then merge every input's record
        // for that ID (a trace cut across several heads lives in several blocks).
        let mut smallest: Option<[u8; 16]> = None;
        for it in iters.iter_mut() {
            match it.peek() {
                Some(Ok(rec)) if smallest.is_none_or(|s| rec.trace_id < s) => {
                    smallest = Some(rec.trace_id);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) => {
                    if let Some(Err(err)) = it.next() {
                        return Err(err.into());
                    }
                }
                None => {}
            }
        }
        let Some(id) = smallest else {
            return Ok(());
        };
        let mut merged: Option<OwnedTraceRecord> = None;
        for it in iters.iter_mut() {
            if matches!(it.peek(), Some(Ok(rec)) if rec.trace_id == id) {
                let Some(Ok(rec)) = it.next() else { continue };
                merged = Some(match merged {
                    None => rec,
                    Some(acc) => merge_records(acc, rec),
                });
            }
        }
        if let Some(rec) = merged {
            writer.append(&TraceRecord {
                trace_id: rec.trace_id,
                start_ns: rec.start_ns,
                end_ns: rec.end_ns,
                span_count: rec.span_count,
                data: &rec.data,
            })?;
        }
    }
}

fn replace_blocks(state: &TenantTraces, inputs: &[Arc<BlockReader>], output: Arc<BlockReader>) {
    let mut blocks = state.blocks.write();
    blocks.retain(|b| !inputs.iter().any(|i| Arc::ptr_eq(i, b)));
    blocks.push(output);
    blocks.sort_by_key(|b| b.meta().max_end_ns);
}

fn remove_block_dir(dir: &Path) {
    if let Err(err) = fs::remove_dir_all(dir) {
        tracing::warn!(dir = %dir.display(), %err, "could not delete trace block");
    }
}

fn read_checkpoint(root: &Path) -> Result<u64, TraceStoreError> {
    weft_core::checkpoint::read(root).map_err(|e| TraceStoreError::Checkpoint {
        path: root.join(CHECKPOINT_FILE),
        reason: e.to_string(),
    })
}

fn list_tenant_dirs(blocks_root: &Path) -> Result<Vec<TenantId>, TraceStoreError> {
    let entries = fs::read_dir(blocks_root).map_err(|e| TraceStoreError::io(blocks_root, e))?;
    let mut tenants = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| TraceStoreError::io(blocks_root, e))?;
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name();
        match TenantId::parse(&name.to_string_lossy()) {
            Ok(tenant) => tenants.push(tenant),
            Err(err) => {
                tracing::warn!(dir = ?name, %err, "ignoring directory that is not a tenant")
            }
        }
    }
    Ok(tenants)
}

/// Opens a tenant's blocks, deleting those a crash made redundant (see [`TraceStore::open`]).
fn open_tenant_blocks(
    blocks_root: &Path,
    tenant: &TenantId,
    checkpoint: u64,
) -> Result<Vec<Arc<BlockReader>>, TraceStoreError> {
    let mut readers = Vec::new();
    for dir in list_blocks(blocks_root, tenant.as_str())? {
        let reader = match BlockReader::open(&dir) {
            Ok(reader) => reader,
            Err(err) if err.is_corruption() => {
                weft_core::fsutil::quarantine(&dir, "trace block", &err);
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        if reader.meta().wal_checkpoint.is_some_and(|c| c > checkpoint) {
            tracing::info!(dir = %dir.display(), "removing block of an unfinished cut; the WAL replays it");
            remove_block_dir(&dir);
            continue;
        }
        readers.push(Arc::new(reader));
    }
    let superseded: Vec<String> = readers
        .iter()
        .flat_map(|r| r.meta().compacted_from.clone())
        .collect();
    readers.retain(|r| {
        let keep = !superseded.contains(&r.meta().block_id);
        if !keep {
            tracing::info!(dir = %r.dir().display(), "removing block already merged by compaction");
            remove_block_dir(r.dir());
        }
        keep
    });
    readers.sort_by_key(|b| b.meta().max_end_ns);
    Ok(readers)
}

/// Reports per-tenant state on `/metrics`.
struct StoreSnapshot(std::sync::Weak<TraceStore>);

impl SnapshotSource for StoreSnapshot {
    fn samples(&self) -> Vec<Sample> {
        let Some(store) = self.0.upgrade() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (tenant, state) in store.tenants.read().iter() {
            let labels = vec![("tenant".to_string(), tenant.to_string())];
            let blocks = state.blocks.read();
            let gauge = |name, help, value: f64| Sample {
                name,
                help,
                kind: SampleKind::Gauge,
                labels: labels.clone(),
                value,
            };
            out.push(gauge(
                "trace_blocks",
                "Trace blocks on disk",
                blocks.len() as f64,
            ));
            out.push(gauge(
                "trace_block_bytes",
                "Bytes of trace blocks on disk",
                blocks.iter().map(|b| b.meta().total_bytes).sum::<u64>() as f64,
            ));
            out.push(gauge(
                "trace_block_spans",
                "Spans in trace blocks on disk",
                blocks.iter().map(|b| b.meta().span_count).sum::<u64>() as f64,
            ));
            let head = state.head.lock();
            out.push(gauge(
                "trace_head_traces",
                "Traces in the in-memory head",
                head.traces.len() as f64,
            ));
            out.push(gauge(
                "trace_head_spans",
                "Spans in the in-memory head",
                head.spans as f64,
            ));
            out.push(gauge(
                "trace_head_bytes",
                "Bytes of span data in the in-memory head",
                head.bytes as f64,
            ));
        }
        out
    }
}
