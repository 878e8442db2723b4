//! [`BlockReader`]: opens a finished block and serves lookups and scans.

use std::fs::File;
use std::iter::FusedIterator;
use std::path::{Path, PathBuf};

use super::bloom::Bloom;
use super::format::{
    check_data_header, BLOOM_FILE, DATA_FILE, DATA_HEADER_LEN, INDEX_FILE, META_FILE,
};
use super::index::{decode_index, PageEntry};
use super::meta::{decode_meta, BlockMeta};
use super::page::decode_page;
use super::{BlockError, OwnedTraceRecord};

/// A finished block, opened for reading.
///
/// Holds `meta.json`, the sparse index and the bloom filter in memory (about
/// 64 bytes per page plus ~1.2 bytes per trace) and **no file handle**: each
/// lookup opens `data` and `pread`s exactly one page, so thousands of blocks
/// can be open without exhausting file descriptors. `Send + Sync`; all
/// methods take `&self`.
pub struct BlockReader {
    dir: PathBuf,
    data_path: PathBuf,
    meta: BlockMeta,
    pages: Vec<PageEntry>,
    bloom: Bloom,
}

// Summary only: the page table can have thousands of entries.
impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockReader")
            .field("dir", &self.dir)
            .field("block_id", &self.meta.block_id)
            .field("trace_count", &self.meta.trace_count)
            .field("pages", &self.pages.len())
            .field("bloom", &self.bloom)
            .finish_non_exhaustive()
    }
}

impl BlockReader {
    /// Opens and validates the block in `dir`: `meta.json` (format version
    /// first), `index` and `bloom` are checked completely (magic, version,
    /// checksum, structure), and `data`'s header and exact size are verified.
    /// Page checksums are verified lazily, when a page is read.
    pub fn open(dir: &Path) -> Result<Self, BlockError> {
        let meta_path = dir.join(META_FILE);
        let meta = decode_meta(&meta_path, &read_file(&meta_path)?)?;
        check_dir_name(dir, &meta_path, &meta)?;
        let index_path = dir.join(INDEX_FILE);
        let index = decode_index(&index_path, &read_file(&index_path)?)?;
        if index.trace_count != meta.trace_count {
            return Err(BlockError::corrupt(
                &index_path,
                0,
                format!(
                    "index has {} traces, meta.json says {}",
                    index.trace_count, meta.trace_count
                ),
            ));
        }
        let bloom_path = dir.join(BLOOM_FILE);
        let bloom = Bloom::decode(&bloom_path, &read_file(&bloom_path)?)?;
        let data_path = dir.join(DATA_FILE);
        check_data_file(&data_path, index.data_len)?;
        Ok(BlockReader {
            dir: dir.to_path_buf(),
            data_path,
            meta,
            pages: index.pages,
            bloom,
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

    /// The sparse index: one entry per page, in trace ID order.
    pub fn pages(&self) -> &[PageEntry] {
        &self.pages
    }

    /// False if the block definitely does not hold `id` (bloom filter and
    /// page ID ranges); true means a [`find`](Self::find) is worth doing.
    pub fn may_contain(&self, id: &[u8; 16]) -> bool {
        self.bloom.may_contain(id) && self.page_for(id).is_some()
    }

    /// Index of the only page whose ID range could contain `id`.
    fn page_for(&self, id: &[u8; 16]) -> Option<usize> {
        // Pages are sorted and disjoint: the first page not entirely below
        // `id` is the only candidate.
        let idx = self.pages.partition_point(|p| p.last_id < *id);
        let page = self.pages.get(idx)?;
        (page.first_id <= *id).then_some(idx)
    }

    /// Looks up one trace: bloom → binary search of the index → read and
    /// decompress exactly one page → binary search of its records.
    /// Returns `Ok(None)` if absent (including bloom false positives) and an
    /// error if the page is damaged (never garbage).
    pub fn find(&self, id: &[u8; 16]) -> Result<Option<OwnedTraceRecord>, BlockError> {
        if !self.bloom.may_contain(id) {
            return Ok(None);
        }
        let Some(idx) = self.page_for(id) else {
            return Ok(None);
        };
        let file = self.open_data()?;
        let mut records = self.read_page_with(&file, idx)?;
        Ok(records
            .binary_search_by(|r| r.trace_id.cmp(id))
            .ok()
            .map(|i| records.swap_remove(i)))
    }

    /// Reads, verifies and decodes page `idx` (see [`pages`](Self::pages)),
    /// e.g. to scan pages in parallel. Errors if `idx` is out of range.
    pub fn read_page(&self, idx: usize) -> Result<Vec<OwnedTraceRecord>, BlockError> {
        if idx >= self.pages.len() {
            return Err(BlockError::InvalidArgument(format!(
                "page {idx} out of range ({} pages)",
                self.pages.len()
            )));
        }
        self.read_page_with(&self.open_data()?, idx)
    }

    fn read_page_with(&self, file: &File, idx: usize) -> Result<Vec<OwnedTraceRecord>, BlockError> {
        let entry = &self.pages[idx];
        let mut raw = vec![0u8; entry.len as usize];
        read_exact_at(file, &self.data_path, &mut raw, entry.offset)?;
        decode_page(&self.data_path, entry, &raw)
    }

    fn open_data(&self) -> Result<File, BlockError> {
        File::open(&self.data_path).map_err(|e| BlockError::io(&self.data_path, "open", e))
    }

    /// All traces in ID order, page by page (one page decompressed at a time).
    pub fn iter(&self) -> BlockIter<'_> {
        BlockIter::new(self, None)
    }

    /// Traces whose `[start_ns, end_ns]` intersects the inclusive range
    /// `[start_ns, end_ns]`, in ID order. Pages whose time range cannot
    /// overlap are skipped without being read.
    pub fn iter_overlapping(&self, start_ns: u64, end_ns: u64) -> BlockIter<'_> {
        BlockIter::new(self, Some((start_ns, end_ns)))
    }
}

/// Iterator over a block's traces; see [`BlockReader::iter`].
///
/// Keeps one `data` file handle for its lifetime. A damaged page yields one
/// `Err` and iteration resumes with the next page, so search can skip it
/// while compaction stops at the first error (`collect::<Result<_, _>>()` or
/// `?`). Failing to open `data` yields one `Err` and ends the iteration.
pub struct BlockIter<'a> {
    reader: &'a BlockReader,
    file: Option<File>,
    next_page: usize,
    current: std::vec::IntoIter<OwnedTraceRecord>,
    range: Option<(u64, u64)>,
    done: bool,
}

impl<'a> BlockIter<'a> {
    fn new(reader: &'a BlockReader, range: Option<(u64, u64)>) -> Self {
        BlockIter {
            reader,
            file: None,
            next_page: 0,
            current: Vec::new().into_iter(),
            range,
            done: false,
        }
    }

    fn wanted_page(&self, p: &PageEntry) -> bool {
        self.range.is_none_or(|(s, e)| p.overlaps(s, e))
    }

    /// Loads the next wanted page into `current`. `None` when exhausted.
    fn load_next_page(&mut self) -> Option<Result<(), BlockError>> {
        let pages = &self.reader.pages;
        while self.next_page < pages.len() && !self.wanted_page(&pages[self.next_page]) {
            self.next_page += 1;
        }
        if self.next_page >= pages.len() {
            return None;
        }
        let idx = self.next_page;
        self.next_page += 1;
        if self.file.is_none() {
            match self.reader.open_data() {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let file = self.file.as_ref()?;
        Some(self.reader.read_page_with(file, idx).map(|records| {
            self.current = records.into_iter();
        }))
    }
}

impl Iterator for BlockIter<'_> {
    type Item = Result<OwnedTraceRecord, BlockError>;

    fn next(&mut self) -> Option<Self::Item> {
        let range = self.range;
        loop {
            // Pages are skipped by time range; records still need filtering.
            let wanted = |r: &OwnedTraceRecord| range.is_none_or(|(s, e)| r.overlaps(s, e));
            if let Some(rec) = self.current.by_ref().find(wanted) {
                return Some(Ok(rec));
            }
            if self.done {
                return None;
            }
            match self.load_next_page() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Ok(())) => {}
                Some(Err(e)) => return Some(Err(e)),
            }
        }
    }
}

impl FusedIterator for BlockIter<'_> {}

/// Reads a whole small file (`meta.json`, `index`, `bloom`).
fn read_file(path: &Path) -> Result<Vec<u8>, BlockError> {
    std::fs::read(path).map_err(|e| BlockError::io(path, "read", e))
}

/// The directory name is the block ID; a mismatch means a copied or
/// half-renamed directory that should not be served.
fn check_dir_name(dir: &Path, meta_path: &Path, meta: &BlockMeta) -> Result<(), BlockError> {
    let name = dir.file_name().and_then(|n| n.to_str());
    if name != Some(meta.block_id.as_str()) {
        return Err(BlockError::corrupt(
            meta_path,
            0,
            format!(
                "block_id {:?} does not match directory name {name:?}",
                meta.block_id
            ),
        ));
    }
    Ok(())
}

/// Verifies `data`'s exact size (catches truncation at open time rather than
/// on some later lookup) and its header.
fn check_data_file(path: &Path, expected_len: u64) -> Result<(), BlockError> {
    let file = File::open(path).map_err(|e| BlockError::io(path, "open", e))?;
    let len = file
        .metadata()
        .map_err(|e| BlockError::io(path, "stat", e))?
        .len();
    if len < expected_len {
        return Err(BlockError::Truncated {
            path: path.to_path_buf(),
            offset: 0,
            needed: expected_len,
            available: len,
        });
    }
    if len > expected_len {
        return Err(BlockError::corrupt(
            path,
            expected_len,
            format!("{} unexpected trailing bytes", len - expected_len),
        ));
    }
    let mut header = [0u8; DATA_HEADER_LEN];
    read_exact_at(&file, path, &mut header, 0)?;
    check_data_header(path, &header)
}

/// Positional read (`pread` on Unix), so concurrent lookups on one block
/// never share a file cursor.
fn read_exact_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<(), BlockError> {
    #[cfg(unix)]
    let res = std::os::unix::fs::FileExt::read_exact_at(file, buf, offset);
    #[cfg(not(unix))]
    let res = {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(buf))
    };
    res.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => BlockError::Truncated {
            path: path.to_path_buf(),
            offset,
            needed: buf.len() as u64,
            available: file
                .metadata()
                .map_or(0, |m| m.len().saturating_sub(offset)),
        },
        _ => BlockError::io(path, "read", e),
    })
}
