//! Opening and querying a block; listing and cleaning a block directory.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use promql_parser::label::Matchers;
use weft_core::labels::Labels;

use crate::chunk::{self, Sample, SampleLists};
use crate::promql::SeriesData;

use super::format::{
    check_file_header, CHUNKS_FILE, CHUNKS_MAGIC, CHUNK_CRC_LEN, INDEX_FILE, META_FILE,
};
pub use super::index::ChunkMeta;
use super::index::{self, BlockIndex};
use super::meta::{parse_meta, BlockMeta};
use super::postings::{select_any, select_postings};
use super::BlockError;

/// An open, validated block. The index is in memory; chunk bytes are read on demand with
/// positional reads on one shared file handle, so `&Block` can be queried from many threads.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: BlockIndex,
    chunks: File,
}

impl Block {
    /// Opens the block in `dir`, validating `meta.json`, the whole index and the size and
    /// header of `chunks` (see `docs/format/metric-block.md`, "Validation on open").
    pub fn open(dir: &Path) -> Result<Self, BlockError> {
        let meta_path = dir.join(META_FILE);
        let meta_bytes =
            std::fs::read(&meta_path).map_err(|e| BlockError::io(&meta_path, "read", e))?;
        let meta = parse_meta(&meta_bytes)?;
        let index_path = dir.join(INDEX_FILE);
        let index_bytes =
            std::fs::read(&index_path).map_err(|e| BlockError::io(&index_path, "read", e))?;
        let index = index::decode(&index_bytes)?;
        let chunks_path = dir.join(CHUNKS_FILE);
        let chunks =
            File::open(&chunks_path).map_err(|e| BlockError::io(&chunks_path, "open", e))?;
        let chunks_len = check_chunks_file(&chunks, &chunks_path, &index)?;
        check_meta(dir, &meta, &index, index_bytes.len() as u64, chunks_len)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
        })
    }

    /// The block's `meta.json`.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// The block directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes on disk of `index` and `chunks`.
    pub fn size_bytes(&self) -> u64 {
        self.meta.data_bytes()
    }

    /// Approximate heap bytes of the in-memory index.
    pub fn index_heap_bytes(&self) -> usize {
        self.index.heap_bytes()
    }

    /// Number of series.
    pub fn num_series(&self) -> u32 {
        self.index.num_series()
    }

    /// Labels of series `id` (`0..num_series()`, in label order).
    pub fn labels(&self, id: u32) -> Labels {
        self.index.labels(id)
    }

    /// Chunk references of series `id`, in time order.
    pub fn chunk_refs(&self, id: u32) -> &[ChunkMeta] {
        self.index.chunks(id)
    }

    /// Reads one chunk's bytes, checking its CRC (no decoding).
    pub fn read_chunk(&self, c: &ChunkMeta) -> Result<Vec<u8>, BlockError> {
        let mut buf = vec![0u8; c.len as usize + CHUNK_CRC_LEN as usize];
        self.chunks
            .read_exact_at(&mut buf, c.offset)
            .map_err(|e| BlockError::io(&self.dir.join(CHUNKS_FILE), "read", e))?;
        let (bytes, crc) = buf.split_at(c.len as usize);
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = crc32fast::hash(bytes);
        if stored != computed {
            return Err(BlockError::Checksum {
                file: CHUNKS_FILE,
                section: "chunk",
                offset: c.offset,
                stored,
                computed,
            });
        }
        buf.truncate(c.len as usize);
        Ok(buf)
    }

    /// Reads and decodes one chunk, checking that its samples span exactly the index's time
    /// range for it.
    pub fn decode_chunk(&self, c: &ChunkMeta) -> Result<Vec<Sample>, BlockError> {
        let bytes = self.read_chunk(c)?;
        let samples = chunk::decode_samples(&bytes).map_err(|e| chunk_error(c, e))?;
        check_span(c, samples.first().map(|s| s.0), samples.last().map(|s| s.0))?;
        Ok(samples)
    }

    /// Adds the samples of one chunk within `[start, end]` to `out`; float chunks decode
    /// straight into the float list (the common case stays as cheap as before histograms).
    fn collect_chunk(
        &self,
        c: &ChunkMeta,
        start: i64,
        end: i64,
        out: &mut SampleLists,
    ) -> Result<(), BlockError> {
        let bytes = self.read_chunk(c)?;
        if bytes.first() != Some(&chunk::ENCODING_XOR) {
            let samples = chunk::decode_samples(&bytes).map_err(|e| chunk_error(c, e))?;
            check_span(c, samples.first().map(|s| s.0), samples.last().map(|s| s.0))?;
            for (t, v) in samples {
                if t >= start && t <= end {
                    out.push(t, v);
                }
            }
            return Ok(());
        }
        let samples = chunk::decode(&bytes).map_err(|e| chunk_error(c, e))?;
        check_span(c, samples.first().map(|s| s.0), samples.last().map(|s| s.0))?;
        out.floats
            .extend(samples.into_iter().filter(|&(t, _)| t >= start && t <= end));
        Ok(())
    }

    /// Series matching `matchers` (same semantics as the head's `Queryable::select`) with
    /// their samples in `[start_ms, end_ms]`, in label order. Only chunks overlapping the
    /// range are read; series without samples in it are omitted.
    pub fn select(
        &self,
        matchers: &Matchers,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SeriesData>, BlockError> {
        let ids = select_postings(&self.index, self.index.num_series(), matchers);
        let mut out = Vec::new();
        for id in ids {
            let found = self.samples_in(id, start_ms, end_ms)?;
            if !found.is_empty() {
                out.push(SeriesData {
                    labels: self.index.labels(id),
                    samples: found.floats,
                    histograms: found.histograms,
                });
            }
        }
        Ok(out)
    }

    fn samples_in(&self, id: u32, start: i64, end: i64) -> Result<SampleLists, BlockError> {
        let mut out = SampleLists::default();
        for c in self
            .index
            .chunks(id)
            .iter()
            .filter(|c| c.overlaps(start, end))
        {
            self.collect_chunk(c, start, end, &mut out)?;
        }
        Ok(out)
    }

    /// Whether series `id` has a sample in `[start, end]`, decoding only chunks that straddle
    /// the whole range (a chunk's first and last timestamps are samples).
    fn has_samples_in(&self, id: u32, start: i64, end: i64) -> Result<bool, BlockError> {
        for c in self
            .index
            .chunks(id)
            .iter()
            .filter(|c| c.overlaps(start, end))
        {
            if c.min_time >= start || c.max_time <= end {
                return Ok(true);
            }
            if self
                .decode_chunk(c)?
                .iter()
                .any(|(t, _)| *t >= start && *t <= end)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Label sets of the series selected by any of `matchers` (every series when empty) with
    /// at least one sample in `[start_ms, end_ms]`, sorted (as `Head::series`).
    pub fn series(
        &self,
        matchers: &[Matchers],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Labels>, BlockError> {
        let ms: Vec<&Matchers> = matchers.iter().collect();
        let mut out = Vec::new();
        for id in select_any(&self.index, self.index.num_series(), &ms) {
            if self.has_samples_in(id, start_ms, end_ms)? {
                out.push(self.index.labels(id));
            }
        }
        // Ids are in label order already.
        debug_assert!(out.windows(2).all(|w| w[0] < w[1]));
        Ok(out)
    }
}

/// A chunk that does not decode, as a block error at the chunk's offset.
fn chunk_error(c: &ChunkMeta, e: chunk::ChunkError) -> BlockError {
    let at = match &e {
        chunk::ChunkError::Corrupt { offset, .. } => *offset as u64,
        _ => 0,
    };
    BlockError::corrupt(CHUNKS_FILE, "chunk", c.offset + at, e.to_string())
}

/// A decoded chunk must start and end exactly where the index says.
fn check_span(c: &ChunkMeta, first: Option<i64>, last: Option<i64>) -> Result<(), BlockError> {
    if first != Some(c.min_time) || last != Some(c.max_time) {
        return Err(BlockError::corrupt(
            CHUNKS_FILE,
            "chunk",
            c.offset,
            format!(
                "chunk spans {first:?}..{last:?}, the index says {}..{}",
                c.min_time, c.max_time
            ),
        ));
    }
    Ok(())
}

/// Checks the `chunks` header and that its size is what the index implies; returns it.
fn check_chunks_file(f: &File, path: &Path, index: &BlockIndex) -> Result<u64, BlockError> {
    let len = f
        .metadata()
        .map_err(|e| BlockError::io(path, "stat", e))?
        .len();
    let mut header = [0u8; 8];
    let n = read_up_to(f, &mut header).map_err(|e| BlockError::io(path, "read", e))?;
    check_file_header(CHUNKS_FILE, &header[..n], CHUNKS_MAGIC)?;
    if len != index.chunks_file_len {
        return Err(BlockError::corrupt(
            CHUNKS_FILE,
            "records",
            len.min(index.chunks_file_len),
            format!(
                "file is {len} bytes, the index implies {}",
                index.chunks_file_len
            ),
        ));
    }
    Ok(len)
}

/// Reads as much of the start of `f` as fits `buf` (less if the file is shorter).
fn read_up_to(f: &File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Cross-checks `meta.json` with the directory name, the index and the file sizes.
fn check_meta(
    dir: &Path,
    meta: &BlockMeta,
    ix: &BlockIndex,
    index_len: u64,
    chunks_len: u64,
) -> Result<(), BlockError> {
    let bad = |why: String| Err(BlockError::corrupt(META_FILE, "fields", 0, why));
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if meta.block_id != name {
        return bad(format!(
            "block_id {:?} differs from the directory name {name:?}",
            meta.block_id
        ));
    }
    // (field, value in meta.json, actual value, where the actual value comes from)
    let fields: [(&str, i128, i128, &str); 6] = [
        (
            "min_time",
            meta.min_time.into(),
            ix.min_time.into(),
            "index",
        ),
        (
            "max_time",
            meta.max_time.into(),
            ix.max_time.into(),
            "index",
        ),
        (
            "num_series",
            meta.num_series.into(),
            ix.num_series().into(),
            "index",
        ),
        (
            "num_chunks",
            meta.num_chunks.into(),
            ix.num_chunks() as i128,
            "index",
        ),
        (
            "index_bytes",
            meta.index_bytes.into(),
            index_len.into(),
            "file size",
        ),
        (
            "chunk_bytes",
            meta.chunk_bytes.into(),
            chunks_len.into(),
            "file size",
        ),
    ];
    match fields.iter().find(|f| f.1 != f.2) {
        Some((field, stored, actual, source)) => bad(format!(
            "{field} {stored} differs from the {source}: {actual}"
        )),
        None => Ok(()),
    }
}

/// Block directories in `parent`, sorted by name (hence by min time). Entries starting
/// with `.` (temporary directories of unfinished writes) are not blocks.
pub fn list_blocks(parent: &Path) -> Result<Vec<PathBuf>, BlockError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(parent).map_err(|e| BlockError::io(parent, "read dir", e))? {
        let e = e.map_err(|e| BlockError::io(parent, "read dir", e))?;
        let name = e.file_name();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !name.to_string_lossy().starts_with('.') {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Deletes leftover `.tmp-*` directories (writes interrupted by a crash); returns how many.
/// Call it before any writer of this parent runs.
pub fn cleanup_tmp(parent: &Path) -> Result<usize, BlockError> {
    let mut n = 0;
    for e in std::fs::read_dir(parent).map_err(|e| BlockError::io(parent, "read dir", e))? {
        let e = e.map_err(|e| BlockError::io(parent, "read dir", e))?;
        if e.file_name().to_string_lossy().starts_with(".tmp-") {
            let p = e.path();
            std::fs::remove_dir_all(&p).map_err(|err| BlockError::io(&p, "remove", err))?;
            n += 1;
        }
    }
    Ok(n)
}
