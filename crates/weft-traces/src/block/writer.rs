//! [`BlockWriter`]: streams sorted traces into a new block directory.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use super::bloom::{bloom_hashes, Bloom, BLOOM_FP_RATE};
use super::format::{
    data_header, BLOOM_FILE, DATA_FILE, DATA_HEADER_LEN, FORMAT_VERSION, INDEX_FILE,
    MAX_TRACE_BYTES, META_FILE,
};
use super::index::{encode_index, PageEntry};
use super::meta::{
    encode_meta, new_block_id, now_unix_ms, validate_tenant, BlockMeta, BlockMetaExtra,
    BlockOptions,
};
use super::page::PageBuilder;
use super::{BlockError, TraceRecord};

/// Prefix of in-progress block directories.
pub(crate) const TMP_PREFIX: &str = ".tmp-";

/// Names of tmp directories owned by live writers of this process, so that
/// [`list_blocks`](super::list_blocks) running concurrently does not delete a
/// block that is being written. Keyed by directory name: block IDs are
/// unique, and this avoids comparing differently spelled root paths.
static ACTIVE_TMP_DIRS: Mutex<BTreeSet<String>> = parking_lot::const_mutex(BTreeSet::new());

/// Runs `f` while holding the active-writer registry, so no writer can
/// register in between a check and a deletion.
pub(crate) fn with_tmp_registry<T>(f: impl FnOnce(&BTreeSet<String>) -> T) -> T {
    f(&ACTIVE_TMP_DIRS.lock())
}

/// An owned tmp directory: removed on drop unless [`TmpDir::disarm`]ed after
/// the rename. This is what makes `abort`, early errors and panics clean up.
struct TmpDir {
    path: PathBuf,
    name: String,
    armed: bool,
}

impl TmpDir {
    fn create(tenant_dir: &Path, block_id: &str) -> Result<Self, BlockError> {
        let name = format!("{TMP_PREFIX}{block_id}");
        let path = tenant_dir.join(&name);
        // Register before the directory exists so list_blocks never sees it
        // unregistered.
        ACTIVE_TMP_DIRS.lock().insert(name.clone());
        // Unarmed until created: if create_dir fails, dropping `dir` only
        // unregisters (the directory may belong to someone else).
        let mut dir = TmpDir {
            path,
            name,
            armed: false,
        };
        std::fs::create_dir(&dir.path).map_err(|e| BlockError::io(&dir.path, "create_dir", e))?;
        dir.armed = true;
        Ok(dir)
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = std::fs::remove_dir_all(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "failed to remove tmp block dir");
            }
        }
        ACTIVE_TMP_DIRS.lock().remove(&self.name);
    }
}

/// Writes one block. Traces must be appended in strictly increasing trace ID
/// order; nothing is visible to readers until [`finish`](Self::finish)
/// renames the directory into place. Dropping the writer (or
/// [`abort`](Self::abort)) removes the partial block.
pub struct BlockWriter {
    tenant: String,
    block_id: String,
    tenant_dir: PathBuf,
    data: File,
    data_path: PathBuf,
    /// Bytes written to `data` so far; also the offset of the next page.
    offset: u64,
    page: PageBuilder,
    page_bytes: usize,
    /// Reused buffer for the encoded page.
    scratch: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
    pages: Vec<PageEntry>,
    /// Bloom hashes of every ID; the filter is sized at `finish`, once the
    /// trace count is known (16 bytes per trace meanwhile).
    id_hashes: Vec<(u64, u64)>,
    last_id: Option<[u8; 16]>,
    min_start_ns: u64,
    max_end_ns: u64,
    trace_count: u64,
    span_count: u64,
    /// Last field: dropped after `data` is closed, so removal also works on
    /// platforms that refuse to delete open files.
    tmp: TmpDir,
}

impl BlockWriter {
    /// Starts a new block for `tenant` under `root` (creating
    /// `<root>/<tenant>/` if needed) in `<root>/<tenant>/.tmp-<block_id>/`.
    pub fn create(root: &Path, tenant: &str, opts: &BlockOptions) -> Result<Self, BlockError> {
        opts.validate()?;
        validate_tenant(tenant)?;
        let tenant_dir = root.join(tenant);
        ensure_tenant_dir(root, &tenant_dir)?;
        let block_id = new_block_id();
        let tmp = TmpDir::create(&tenant_dir, &block_id)?;
        let data_path = tmp.path.join(DATA_FILE);
        let mut data =
            File::create_new(&data_path).map_err(|e| BlockError::io(&data_path, "create", e))?;
        data.write_all(&data_header())
            .map_err(|e| BlockError::io(&data_path, "write", e))?;
        let compressor = zstd::bulk::Compressor::new(opts.zstd_level)
            .map_err(|e| BlockError::io(&data_path, "zstd init", e))?;
        Ok(BlockWriter {
            tenant: tenant.to_owned(),
            block_id,
            tenant_dir,
            data,
            data_path,
            offset: DATA_HEADER_LEN as u64,
            page: PageBuilder::new(opts.page_bytes),
            page_bytes: opts.page_bytes,
            scratch: Vec::new(),
            compressor,
            pages: Vec::new(),
            id_hashes: Vec::new(),
            last_id: None,
            min_start_ns: u64::MAX,
            max_end_ns: 0,
            trace_count: 0,
            span_count: 0,
            tmp,
        })
    }

    /// The ID the block will have once finished.
    pub fn block_id(&self) -> &str {
        &self.block_id
    }

    /// Traces appended so far.
    pub fn trace_count(&self) -> u64 {
        self.trace_count
    }

    /// Approximate size of the block so far: compressed pages written plus
    /// the uncompressed bytes of the page being built. Lets compaction cut
    /// output blocks at a target size.
    pub fn estimated_size(&self) -> u64 {
        self.offset + self.page.len() as u64
    }

    /// Appends one trace. IDs must be strictly increasing (an error, and a
    /// debug assertion since it is always a caller bug); payloads are limited
    /// to [`MAX_TRACE_BYTES`]. A rejected record leaves the writer usable.
    pub fn append(&mut self, rec: &TraceRecord<'_>) -> Result<(), BlockError> {
        self.check_record(rec)?;
        // Cut before a record that would overflow the target, so pages only
        // exceed it when a single trace is bigger than the target.
        if !self.page.is_empty()
            && self.page.len() + PageBuilder::encoded_len(rec) > self.page_bytes
        {
            self.flush_page()?;
        }
        self.page.push(rec);
        self.last_id = Some(rec.trace_id);
        self.id_hashes.push(bloom_hashes(&rec.trace_id));
        self.min_start_ns = self.min_start_ns.min(rec.start_ns);
        self.max_end_ns = self.max_end_ns.max(rec.end_ns);
        self.trace_count += 1;
        self.span_count += u64::from(rec.span_count);
        if self.page.len() >= self.page_bytes {
            self.flush_page()?;
        }
        Ok(())
    }

    fn check_record(&self, rec: &TraceRecord<'_>) -> Result<(), BlockError> {
        if rec.data.len() > MAX_TRACE_BYTES {
            return Err(BlockError::TraceTooLarge {
                trace_id: hex::encode(rec.trace_id),
                len: rec.data.len(),
                limit: MAX_TRACE_BYTES,
            });
        }
        if let Some(prev) = self.last_id.filter(|prev| *prev >= rec.trace_id) {
            debug_assert!(false, "trace ids must be strictly increasing");
            return Err(BlockError::OutOfOrder {
                prev: hex::encode(prev),
                next: hex::encode(rec.trace_id),
            });
        }
        Ok(())
    }

    /// Compresses the current page and appends it to `data`.
    fn flush_page(&mut self) -> Result<(), BlockError> {
        let entry = self
            .page
            .finish(&mut self.compressor, self.offset, &mut self.scratch)
            .map_err(|e| BlockError::io(&self.data_path, "compress", e))?;
        debug_assert_eq!(entry.len as usize, self.scratch.len());
        self.data
            .write_all(&self.scratch)
            .map_err(|e| BlockError::io(&self.data_path, "write", e))?;
        self.offset += u64::from(entry.len);
        self.pages.push(entry);
        Ok(())
    }

    /// Writes index, bloom and meta.json, fsyncs everything and atomically
    /// renames the block into `<root>/<tenant>/<block_id>/`. On error the
    /// partial block is removed; the one exception is a failed fsync of the
    /// tenant directory after the rename, where the block is already in place
    /// (but its durability is unknown). An empty block is refused
    /// ([`BlockError::EmptyBlock`]).
    pub fn finish(mut self, extra: BlockMetaExtra) -> Result<BlockMeta, BlockError> {
        if self.trace_count == 0 {
            return Err(BlockError::EmptyBlock);
        }
        if !self.page.is_empty() {
            self.flush_page()?;
        }
        debug_assert_eq!(
            self.pages
                .iter()
                .map(|p| u64::from(p.record_count))
                .sum::<u64>(),
            self.trace_count
        );
        self.data
            .sync_all()
            .map_err(|e| BlockError::io(&self.data_path, "fsync", e))?;
        let index = encode_index(&self.pages, self.offset, self.trace_count);
        write_synced(&self.tmp.path.join(INDEX_FILE), &index)?;
        let bloom = self.build_bloom().encode();
        write_synced(&self.tmp.path.join(BLOOM_FILE), &bloom)?;
        let mut meta = self.meta(extra);
        let json = encode_meta(
            &mut meta,
            self.offset + index.len() as u64 + bloom.len() as u64,
        );
        write_synced(&self.tmp.path.join(META_FILE), &json)?;
        self.publish()?;
        Ok(meta)
    }

    fn build_bloom(&self) -> Bloom {
        let mut bloom = Bloom::with_capacity(self.id_hashes.len(), BLOOM_FP_RATE);
        for h in &self.id_hashes {
            bloom.insert_hashes(*h);
        }
        bloom
    }

    fn meta(&self, extra: BlockMetaExtra) -> BlockMeta {
        BlockMeta {
            format_version: FORMAT_VERSION,
            block_id: self.block_id.clone(),
            tenant: self.tenant.clone(),
            min_start_ns: self.min_start_ns,
            max_end_ns: self.max_end_ns,
            trace_count: self.trace_count,
            span_count: self.span_count,
            data_bytes: self.offset,
            total_bytes: 0, // set by encode_meta
            created_unix_ms: now_unix_ms(),
            level: extra.level,
            wal_checkpoint: extra.wal_checkpoint,
            compacted_from: extra.compacted_from,
            tags: extra.tags,
        }
    }

    /// The commit point: fsync the tmp dir (so its entries are durable),
    /// rename it, fsync the tenant dir (so the rename is durable).
    fn publish(&mut self) -> Result<(), BlockError> {
        sync_dir(&self.tmp.path)?;
        let final_dir = self.tenant_dir.join(&self.block_id);
        std::fs::rename(&self.tmp.path, &final_dir)
            .map_err(|e| BlockError::io(&final_dir, "rename", e))?;
        self.tmp.disarm();
        sync_dir(&self.tenant_dir)
    }

    /// Discards the block: removes the tmp directory. Same as dropping.
    pub fn abort(self) {
        drop(self);
    }
}

/// Creates the tenant directory if missing, fsyncing the root so the new
/// entry survives a crash together with the block that will be put in it.
fn ensure_tenant_dir(root: &Path, tenant_dir: &Path) -> Result<(), BlockError> {
    if tenant_dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(tenant_dir).map_err(|e| BlockError::io(tenant_dir, "create_dir", e))?;
    sync_dir(root)
}

/// Creates `path` (must not exist), writes `bytes` and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BlockError> {
    let mut f = File::create_new(path).map_err(|e| BlockError::io(path, "create", e))?;
    f.write_all(bytes)
        .map_err(|e| BlockError::io(path, "write", e))?;
    f.sync_all().map_err(|e| BlockError::io(path, "fsync", e))
}

/// fsyncs a directory (its entries). A no-op where directories can't be
/// opened as files (Windows).
fn sync_dir(dir: &Path) -> Result<(), BlockError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| BlockError::io(dir, "fsync dir", e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
