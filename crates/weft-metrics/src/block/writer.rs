//! Writing a block: chunks are streamed to `chunks` in a temporary directory, the index is
//! built in memory (labels and chunk references only), and the directory is published by an
//! atomic rename.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use weft_core::labels::Labels;

use crate::chunk::{
    self, Chunk, ChunkError, Sample, SampleValue, XorChunk, ENCODING_HISTOGRAM, ENCODING_PACKED,
    ENCODING_XOR, HEADER_LEN, PACKED_MAX_SAMPLES,
};

use super::format::{
    file_header, CHUNKS_FILE, CHUNKS_MAGIC, FILE_HEADER_LEN, FORMAT_VERSION, INDEX_FILE,
    MAX_CHUNK_BYTES, META_FILE,
};
use super::index::{self, ChunkMeta};
use super::meta::{new_block_id, BlockMeta};
use super::BlockError;

/// An encoded chunk with its time range, as the writer takes it (from a [`Chunk`] or copied
/// from another block without decoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawChunk {
    /// First sample time.
    pub min_time: i64,
    /// Last sample time.
    pub max_time: i64,
    /// The chunk bytes (`docs/format/metric-chunks.md`).
    pub bytes: Vec<u8>,
}

impl RawChunk {
    /// The bytes and time range of a non-empty chunk; `None` for an empty one.
    pub fn from_xor(c: &XorChunk) -> Option<Self> {
        Some(Self {
            min_time: c.min_time()?,
            max_time: c.max_time()?,
            bytes: c.bytes().to_vec(),
        })
    }

    /// The bytes and time range of a non-empty chunk of either encoding.
    pub fn from_chunk(c: &Chunk) -> Option<Self> {
        Some(Self {
            min_time: c.min_time()?,
            max_time: c.max_time()?,
            bytes: c.bytes().to_vec(),
        })
    }

    /// The sample count from the chunk header (0 if the header is missing).
    fn num_samples(&self) -> u64 {
        match self.bytes[..] {
            [_, hi, lo, ..] => u64::from(u16::from_be_bytes([hi, lo])),
            _ => 0,
        }
    }
}

/// Series for [`write_block`], collected in memory (a head flush). Series are kept sorted
/// by labels; samples or chunks may be added in any series order but in time order within
/// a series.
#[derive(Debug, Default)]
pub struct BlockInput {
    series: BTreeMap<Labels, Vec<Chunk>>,
    /// Compaction level recorded in `meta.json` (0 for head flushes).
    pub level: u32,
    /// Source block ids recorded in `meta.json`.
    pub sources: Vec<String>,
}

impl BlockInput {
    /// An empty level-0 input.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends float samples (ascending timestamps, after any already added for the series),
    /// cutting chunks at [`crate::chunk::MAX_SAMPLES`].
    pub fn add_samples(
        &mut self,
        labels: Labels,
        samples: &[(i64, f64)],
    ) -> Result<(), BlockError> {
        let values: Vec<Sample> = samples
            .iter()
            .map(|&(t, v)| (t, SampleValue::Float(v)))
            .collect();
        self.add_sample_values(labels, &values)
    }

    /// Appends samples of either kind (ascending, after any already added for the series);
    /// chunks are cut when full and when the kind changes.
    pub fn add_sample_values(
        &mut self,
        labels: Labels,
        samples: &[Sample],
    ) -> Result<(), BlockError> {
        let chunks = self.series.entry(labels).or_default();
        for (t, v) in samples {
            let res = match chunks.last_mut() {
                Some(c) if c.accepts(v) && !c.is_full() => c.append(*t, v),
                _ => Err(ChunkError::Full),
            };
            let res = match res {
                Err(ChunkError::Full) => {
                    let mut c = Chunk::for_value(v);
                    let r = c.append(*t, v);
                    chunks.push(c);
                    r
                }
                r => r,
            };
            res.map_err(|e| BlockError::InvalidInput(format!("sample at {t} ms: {e}")))?;
        }
        Ok(())
    }

    /// Appends a ready chunk to a series (it must start after the series' last chunk ends;
    /// checked when written). Empty chunks are ignored.
    pub fn add_chunk(&mut self, labels: Labels, chunk: impl Into<Chunk>) {
        let chunk = chunk.into();
        if !chunk.is_empty() {
            self.series.entry(labels).or_default().push(chunk);
        }
    }

    /// Whether no series has been added.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// Writes `input` as a new block under `parent` (see [`BlockWriter`]).
pub fn write_block(parent: &Path, input: BlockInput) -> Result<BlockMeta, BlockError> {
    let mut w = BlockWriter::new(parent, input.level, input.sources)?;
    for (labels, chunks) in &input.series {
        let raw: Vec<RawChunk> = chunks.iter().filter_map(RawChunk::from_chunk).collect();
        w.append_series(labels, raw)?;
    }
    w.finish()
}

/// Streams series into a new block. Chunk bytes go straight to disk; only labels and chunk
/// references stay in memory. [`BlockWriter::finish`] publishes the block; dropping the
/// writer unfinished deletes its temporary directory.
#[derive(Debug)]
pub struct BlockWriter {
    parent: PathBuf,
    tmp: PathBuf,
    chunks: BufWriter<File>,
    /// Bytes written to `chunks` so far (the offset of the next chunk).
    chunks_len: u64,
    series: Vec<(Labels, Vec<ChunkMeta>)>,
    num_samples: u64,
    level: u32,
    sources: Vec<String>,
    /// Set once the temporary directory must no longer be deleted on drop.
    done: bool,
}

impl BlockWriter {
    /// Starts a block in `<parent>/.tmp-<random>/` (creating `parent` if needed).
    pub fn new(parent: &Path, level: u32, sources: Vec<String>) -> Result<Self, BlockError> {
        std::fs::create_dir_all(parent).map_err(|e| BlockError::io(parent, "create dir", e))?;
        let tmp = parent.join(format!(".tmp-{}", new_block_id(0).split_at(17).1));
        std::fs::create_dir(&tmp).map_err(|e| BlockError::io(&tmp, "create dir", e))?;
        let path = tmp.join(CHUNKS_FILE);
        let file = File::create(&path).map_err(|e| BlockError::io(&path, "create", e))?;
        let mut chunks = BufWriter::with_capacity(1 << 16, file);
        chunks
            .write_all(&file_header(CHUNKS_MAGIC))
            .map_err(|e| BlockError::io(&path, "write", e))?;
        Ok(Self {
            parent: parent.to_path_buf(),
            tmp,
            chunks,
            chunks_len: FILE_HEADER_LEN,
            series: Vec::new(),
            num_samples: 0,
            level,
            sources,
            done: false,
        })
    }

    /// Adds one series. Series must come in strictly ascending label order; `chunks` must be
    /// non-empty, in time order and non-overlapping. The series' float samples are stored as
    /// packed chunks (re-encoded from whatever chunks are given). On error nothing of the
    /// series is written and the writer stays usable.
    pub fn append_series(
        &mut self,
        labels: &Labels,
        chunks: Vec<RawChunk>,
    ) -> Result<(), BlockError> {
        self.check_series(labels, &chunks)?;
        let chunks =
            pack(chunks).map_err(|e| BlockError::InvalidInput(format!("series {labels}: {e}")))?;
        let mut metas = Vec::with_capacity(chunks.len());
        for c in &chunks {
            metas.push(self.write_chunk(c)?);
            self.num_samples += c.num_samples();
        }
        self.series.push((labels.clone(), metas));
        Ok(())
    }

    fn check_series(&self, labels: &Labels, chunks: &[RawChunk]) -> Result<(), BlockError> {
        let bad = |why: String| Err(BlockError::InvalidInput(format!("series {labels}: {why}")));
        if labels.is_empty() {
            return bad("no labels".into());
        }
        if self.series.last().is_some_and(|(prev, _)| prev >= labels) {
            return bad("not after the previous series in label order".into());
        }
        if chunks.is_empty() {
            return bad("no chunks".into());
        }
        let mut prev_max: Option<i64> = None;
        for c in chunks {
            check_chunk(c).or_else(bad)?;
            if prev_max.is_some_and(|p| c.min_time <= p) {
                return bad(format!(
                    "chunk at {} ms overlaps the previous chunk",
                    c.min_time
                ));
            }
            prev_max = Some(c.max_time);
        }
        Ok(())
    }

    fn write_chunk(&mut self, c: &RawChunk) -> Result<ChunkMeta, BlockError> {
        let path = self.tmp.join(CHUNKS_FILE);
        let crc = crc32fast::hash(&c.bytes);
        self.chunks
            .write_all(&c.bytes)
            .and_then(|()| self.chunks.write_all(&crc.to_le_bytes()))
            .map_err(|e| BlockError::io(&path, "write", e))?;
        let meta = ChunkMeta {
            min_time: c.min_time,
            max_time: c.max_time,
            offset: self.chunks_len,
            len: c.bytes.len() as u32,
        };
        self.chunks_len += c.bytes.len() as u64 + 4;
        Ok(meta)
    }

    /// Number of series added so far.
    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Writes the index and `meta.json`, fsyncs, and renames the block into place. Refuses
    /// an empty block.
    pub fn finish(mut self) -> Result<BlockMeta, BlockError> {
        let meta = self.write_files()?;
        self.publish(&meta)?;
        Ok(meta)
    }

    /// Everything but the rename: the temporary directory then holds a complete block.
    fn write_files(&mut self) -> Result<BlockMeta, BlockError> {
        if self.series.is_empty() {
            return Err(BlockError::InvalidInput(
                "a block needs at least one series".into(),
            ));
        }
        let path = self.tmp.join(CHUNKS_FILE);
        self.chunks
            .flush()
            .and_then(|()| self.chunks.get_ref().sync_all())
            .map_err(|e| BlockError::io(&path, "fsync", e))?;
        let index = index::encode(&self.series)?;
        write_synced(&self.tmp.join(INDEX_FILE), &index)?;
        let meta = self.meta(index.len() as u64);
        let json = serde_json::to_vec_pretty(&meta)
            .map_err(|e| BlockError::InvalidInput(format!("meta.json: {e}")))?;
        write_synced(&self.tmp.join(META_FILE), &json)?;
        sync_dir(&self.tmp)?;
        Ok(meta)
    }

    fn meta(&self, index_bytes: u64) -> BlockMeta {
        let all = self.series.iter().flat_map(|(_, c)| c.iter());
        let min_time = all.clone().map(|c| c.min_time).min().unwrap_or(0);
        let max_time = all.clone().map(|c| c.max_time).max().unwrap_or(0);
        BlockMeta {
            format_version: FORMAT_VERSION,
            block_id: new_block_id(min_time),
            min_time,
            max_time,
            num_series: self.series.len() as u64,
            num_chunks: all.count() as u64,
            num_samples: self.num_samples,
            index_bytes,
            chunk_bytes: self.chunks_len,
            level: self.level,
            sources: self.sources.clone(),
        }
    }

    /// The commit point: rename, then fsync the parent so the rename survives a crash.
    fn publish(&mut self, meta: &BlockMeta) -> Result<(), BlockError> {
        let dest = self.parent.join(&meta.block_id);
        std::fs::rename(&self.tmp, &dest).map_err(|e| BlockError::io(&dest, "rename", e))?;
        self.done = true;
        sync_dir(&self.parent)
    }

    /// Test hook: writes a complete block into the temporary directory and stops as a crash
    /// before the rename would (the directory is left behind).
    #[cfg(test)]
    pub(crate) fn crash_before_rename(mut self) -> Result<PathBuf, BlockError> {
        self.write_files()?;
        self.done = true;
        Ok(self.tmp.clone())
    }
}

impl Drop for BlockWriter {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: a leftover is also removed by `cleanup_tmp`.
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Whether `c` holds float samples in one of the encodings [`chunk::decode`] reads.
fn is_float_chunk(c: &RawChunk) -> bool {
    matches!(c.bytes.first(), Some(&(ENCODING_XOR | ENCODING_PACKED)))
}

/// Re-encodes a series' float chunks (checked: in time order, not overlapping) as packed
/// chunks of up to [`PACKED_MAX_SAMPLES`]: the head's XOR chunks are built for appending,
/// a block is written once and read many times, so it stores the smaller encoding. Chunks
/// that already are full packed chunks are kept as they are.
fn pack(chunks: Vec<RawChunk>) -> Result<Vec<RawChunk>, ChunkError> {
    let already_packed = |c: &RawChunk| {
        c.bytes[0] == ENCODING_PACKED && c.num_samples() as usize == PACKED_MAX_SAMPLES
    };
    let mut out = Vec::with_capacity(chunks.len());
    let mut pending: Vec<(i64, f64)> = Vec::new();
    for c in chunks {
        if !is_float_chunk(&c) {
            // Histogram chunks stay as they are; floats before them are packed first, so the
            // series' chunks stay in time order.
            flush_packed(&mut pending, &mut out)?;
            out.push(c);
            continue;
        }
        if already_packed(&c) && pending.is_empty() {
            out.push(c);
            continue;
        }
        pending.extend(chunk::decode(&c.bytes)?);
        while pending.len() >= PACKED_MAX_SAMPLES {
            let rest = pending.split_off(PACKED_MAX_SAMPLES);
            out.push(packed_chunk(&pending)?);
            pending = rest;
        }
    }
    flush_packed(&mut pending, &mut out)?;
    Ok(out)
}

fn flush_packed(pending: &mut Vec<(i64, f64)>, out: &mut Vec<RawChunk>) -> Result<(), ChunkError> {
    if !pending.is_empty() {
        out.push(packed_chunk(pending)?);
        pending.clear();
    }
    Ok(())
}

/// One packed chunk of 1..=[`PACKED_MAX_SAMPLES`] ascending samples.
fn packed_chunk(samples: &[(i64, f64)]) -> Result<RawChunk, ChunkError> {
    debug_assert!(!samples.is_empty() && samples.len() <= PACKED_MAX_SAMPLES);
    Ok(RawChunk {
        min_time: samples[0].0,
        max_time: samples[samples.len() - 1].0,
        bytes: chunk::encode_packed(samples)?,
    })
}

/// Checks what the reader will check of one chunk, so that a bad input fails here rather
/// than producing an unreadable block.
fn check_chunk(c: &RawChunk) -> Result<(), String> {
    let len = c.bytes.len();
    if len < HEADER_LEN || len > MAX_CHUNK_BYTES as usize {
        return Err(format!("chunk of {len} bytes"));
    }
    let known = is_float_chunk(c) || c.bytes[0] == ENCODING_HISTOGRAM;
    if !known || c.num_samples() == 0 {
        return Err("chunk is not a non-empty float or histogram chunk".into());
    }
    if c.min_time > c.max_time {
        return Err(format!(
            "chunk min time {} after max time {}",
            c.min_time, c.max_time
        ));
    }
    // Decoding every chunk costs more than writing it; debug builds check the time range.
    #[cfg(debug_assertions)]
    {
        let s = crate::chunk::decode_samples(&c.bytes).map_err(|e| e.to_string())?;
        debug_assert_eq!(s.first().map(|p| p.0), Some(c.min_time));
        debug_assert_eq!(s.last().map(|p| p.0), Some(c.max_time));
    }
    Ok(())
}

/// Writes a whole file and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BlockError> {
    let mut f = File::create(path).map_err(|e| BlockError::io(path, "create", e))?;
    f.write_all(bytes)
        .map_err(|e| BlockError::io(path, "write", e))?;
    f.sync_all().map_err(|e| BlockError::io(path, "fsync", e))
}

/// Fsyncs a directory so that entries created or renamed in it are durable.
fn sync_dir(dir: &Path) -> Result<(), BlockError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BlockError::io(dir, "fsync dir", e))
}
