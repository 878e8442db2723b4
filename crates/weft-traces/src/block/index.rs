//! The sparse `index` file: one fixed-size entry per page.

use std::path::Path;

use super::format::{
    check_crc, check_magic, check_version, crc32, ensure_len, ByteReader, DATA_HEADER_LEN,
    FORMAT_VERSION, INDEX_MAGIC, MAX_PAGE_UNCOMPRESSED, PAGE_HEADER_LEN,
};
use super::BlockError;

const HEADER_LEN: usize = 16;
const ENTRY_LEN: usize = 64;
const FOOTER_LEN: usize = 24;

/// In-memory description of one page of the `data` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageEntry {
    /// Smallest trace ID in the page.
    pub first_id: [u8; 16],
    /// Largest trace ID in the page.
    pub last_id: [u8; 16],
    /// Offset of the page header in `data`.
    pub offset: u64,
    /// Total page length: header plus compressed payload.
    pub len: u32,
    /// Number of records in the page.
    pub record_count: u32,
    /// Minimum `start_ns` of the page's records.
    pub min_start_ns: u64,
    /// Maximum `end_ns` of the page's records.
    pub max_end_ns: u64,
}

impl PageEntry {
    /// True if the page's time range intersects the inclusive `[start, end]`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.min_start_ns <= end && self.max_end_ns >= start
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.first_id);
        out.extend_from_slice(&self.last_id);
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.record_count.to_le_bytes());
        out.extend_from_slice(&self.min_start_ns.to_le_bytes());
        out.extend_from_slice(&self.max_end_ns.to_le_bytes());
    }

    fn decode(r: &mut ByteReader<'_>) -> Option<Self> {
        Some(PageEntry {
            first_id: r.array()?,
            last_id: r.array()?,
            offset: r.u64()?,
            len: r.u32()?,
            record_count: r.u32()?,
            min_start_ns: r.u64()?,
            max_end_ns: r.u64()?,
        })
    }
}

/// Decoded `index` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Index {
    pub(crate) pages: Vec<PageEntry>,
    /// Exact size of the `data` file.
    pub(crate) data_len: u64,
    pub(crate) trace_count: u64,
}

/// Serializes the index file.
pub(crate) fn encode_index(pages: &[PageEntry], data_len: u64, trace_count: u64) -> Vec<u8> {
    debug_assert!(u32::try_from(pages.len()).is_ok());
    let mut out = Vec::with_capacity(HEADER_LEN + pages.len() * ENTRY_LEN + FOOTER_LEN);
    out.extend_from_slice(&INDEX_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(pages.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for p in pages {
        p.encode(&mut out);
    }
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&trace_count.to_le_bytes());
    let crc = crc32(&[&out]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&INDEX_MAGIC);
    out
}

/// Parses and fully validates an index file (see the format doc for the
/// invariants). `path` is only used in error messages.
pub(crate) fn decode_index(path: &Path, buf: &[u8]) -> Result<Index, BlockError> {
    let len = buf.len() as u64;
    ensure_len(path, 0, (HEADER_LEN + FOOTER_LEN) as u64, len)?;
    let mut r = ByteReader::new(buf);
    let magic = r.array().unwrap_or_default();
    check_magic(path, 0, INDEX_MAGIC, magic)?;
    check_version(path, r.u32().unwrap_or_default())?;
    let page_count = r.u32().unwrap_or_default() as usize;
    let reserved = r.u32().unwrap_or_default();
    // The length implied by the header is checked before anything else so a
    // cut-off file is reported as truncated, not as a checksum mismatch.
    let expected_len = (HEADER_LEN + FOOTER_LEN) as u64 + page_count as u64 * ENTRY_LEN as u64;
    ensure_len(path, 0, expected_len, len)?;
    if len != expected_len {
        return Err(BlockError::corrupt(
            path,
            expected_len,
            format!("{page_count} pages need {expected_len} bytes, file has {len}"),
        ));
    }
    let tail_magic: [u8; 4] = buf[buf.len() - 4..].try_into().unwrap_or_default();
    check_magic(path, len - 4, INDEX_MAGIC, tail_magic)?;
    let crc_at = buf.len() - 8;
    let stored = u32::from_le_bytes(buf[crc_at..crc_at + 4].try_into().unwrap_or_default());
    check_crc(path, 0, stored, crc32(&[&buf[..crc_at]]))?;
    if reserved != 0 {
        return Err(BlockError::corrupt(
            path,
            12,
            "reserved header field is not zero",
        ));
    }
    let pages = (0..page_count)
        .map(|_| PageEntry::decode(&mut r))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| BlockError::corrupt(path, HEADER_LEN as u64, "short page table"))?;
    let data_len = r.u64().unwrap_or_default();
    let trace_count = r.u64().unwrap_or_default();
    let index = Index {
        pages,
        data_len,
        trace_count,
    };
    validate(path, &index)?;
    Ok(index)
}

/// Checks the structural invariants that make binary search and page reads
/// safe: contiguous, in-bounds, sorted, non-overlapping pages.
fn validate(path: &Path, index: &Index) -> Result<(), BlockError> {
    if index.pages.is_empty() {
        return Err(BlockError::corrupt(path, 8, "index has no pages"));
    }
    let max_page = zstd::zstd_safe::compress_bound(MAX_PAGE_UNCOMPRESSED) + PAGE_HEADER_LEN;
    let mut expected_offset = DATA_HEADER_LEN as u64;
    let mut records = 0u64;
    let mut prev_last: Option<[u8; 16]> = None;
    for (i, p) in index.pages.iter().enumerate() {
        let at = (HEADER_LEN + i * ENTRY_LEN) as u64;
        let bad =
            |reason: String| Err(BlockError::corrupt(path, at, format!("page {i}: {reason}")));
        if p.offset != expected_offset {
            return bad(format!(
                "offset {} but previous page ends at {expected_offset}",
                p.offset
            ));
        }
        if (p.len as usize) <= PAGE_HEADER_LEN || p.len as usize > max_page {
            return bad(format!("invalid length {}", p.len));
        }
        if p.record_count == 0 {
            return bad("no records".into());
        }
        if p.first_id > p.last_id {
            return bad("first trace id is greater than last".into());
        }
        if prev_last.is_some_and(|prev| prev >= p.first_id) {
            return bad("trace ids overlap the previous page".into());
        }
        prev_last = Some(p.last_id);
        expected_offset += u64::from(p.len);
        records += u64::from(p.record_count);
    }
    if expected_offset != index.data_len {
        return Err(BlockError::corrupt(
            path,
            0,
            format!(
                "pages end at {expected_offset}, data_len is {}",
                index.data_len
            ),
        ));
    }
    if records != index.trace_count {
        return Err(BlockError::corrupt(
            path,
            0,
            format!(
                "pages hold {records} records, trace_count is {}",
                index.trace_count
            ),
        ));
    }
    Ok(())
}
