//! Pages of the `data` file: building (writer side) and decoding (reader side).

use std::path::Path;

use bytes::Bytes;

use super::format::{
    check_crc, check_magic, crc32, ByteReader, CODEC_ZSTD, MAX_PAGE_UNCOMPRESSED,
    PAGE_HEADER_CRC_OFFSET, PAGE_HEADER_LEN, PAGE_MAGIC, RECORD_HEADER_LEN,
};
use super::index::PageEntry;
use super::{BlockError, OwnedTraceRecord, TraceRecord};

/// Accumulates the uncompressed records of the page being written.
pub(crate) struct PageBuilder {
    buf: Vec<u8>,
    /// Target uncompressed page size, used to size the buffer.
    target: usize,
    first_id: [u8; 16],
    last_id: [u8; 16],
    min_start_ns: u64,
    max_end_ns: u64,
    record_count: u32,
}

impl PageBuilder {
    pub(crate) fn new(target: usize) -> Self {
        PageBuilder {
            buf: Vec::with_capacity(target),
            target,
            first_id: [0; 16],
            last_id: [0; 16],
            min_start_ns: u64::MAX,
            max_end_ns: 0,
            record_count: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// Uncompressed bytes buffered so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Size a record occupies inside a page.
    pub(crate) fn encoded_len(rec: &TraceRecord<'_>) -> usize {
        RECORD_HEADER_LEN + rec.data.len()
    }

    /// Appends one record. The caller guarantees ordering and size limits.
    pub(crate) fn push(&mut self, rec: &TraceRecord<'_>) {
        debug_assert!(self.is_empty() || rec.trace_id > self.last_id);
        debug_assert!(self.len() + Self::encoded_len(rec) <= MAX_PAGE_UNCOMPRESSED);
        if self.is_empty() {
            self.first_id = rec.trace_id;
        }
        self.last_id = rec.trace_id;
        self.min_start_ns = self.min_start_ns.min(rec.start_ns);
        self.max_end_ns = self.max_end_ns.max(rec.end_ns);
        self.record_count += 1;
        self.buf.extend_from_slice(&rec.trace_id);
        self.buf.extend_from_slice(&rec.start_ns.to_le_bytes());
        self.buf.extend_from_slice(&rec.end_ns.to_le_bytes());
        self.buf.extend_from_slice(&rec.span_count.to_le_bytes());
        // Fits: the writer rejects payloads above MAX_TRACE_BYTES (< 4 GiB).
        self.buf
            .extend_from_slice(&(rec.data.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(rec.data);
    }

    /// Compresses the buffered records into `out` (header + payload, replacing
    /// its contents) and returns the index entry for a page at `offset`.
    /// The builder is reset for the next page.
    pub(crate) fn finish(
        &mut self,
        compressor: &mut zstd::bulk::Compressor<'static>,
        offset: u64,
        out: &mut Vec<u8>,
    ) -> std::io::Result<PageEntry> {
        debug_assert!(!self.is_empty(), "flushing an empty page");
        let payload = compressor.compress(&self.buf)?;
        let compressed_len = u32::try_from(payload.len())
            .map_err(|_| std::io::Error::other("compressed page exceeds 4 GiB"))?;
        out.clear();
        out.extend_from_slice(&PAGE_MAGIC);
        out.extend_from_slice(&[CODEC_ZSTD, 0, 0, 0]);
        out.extend_from_slice(&compressed_len.to_le_bytes());
        out.extend_from_slice(&(self.buf.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.record_count.to_le_bytes());
        debug_assert_eq!(out.len(), PAGE_HEADER_CRC_OFFSET);
        let crc = crc32(&[out, &payload]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&payload);
        let entry = PageEntry {
            first_id: self.first_id,
            last_id: self.last_id,
            offset,
            len: (PAGE_HEADER_LEN + payload.len()) as u32,
            record_count: self.record_count,
            min_start_ns: self.min_start_ns,
            max_end_ns: self.max_end_ns,
        };
        self.reset();
        Ok(entry)
    }

    fn reset(&mut self) {
        // An oversized trace may have grown the buffer far beyond the target;
        // don't hold on to that memory for the rest of the block.
        if self.buf.capacity() > 2 * self.target.max(1 << 20) {
            self.buf = Vec::with_capacity(self.target);
        }
        self.buf.clear();
        self.record_count = 0;
        self.min_start_ns = u64::MAX;
        self.max_end_ns = 0;
    }
}

/// The 24-byte page header as stored.
struct PageHeader {
    magic: [u8; 4],
    codec: u8,
    reserved: [u8; 3],
    compressed_len: u32,
    uncompressed_len: u32,
    record_count: u32,
    crc: u32,
}

impl PageHeader {
    fn decode(raw: &[u8]) -> Option<Self> {
        let mut r = ByteReader::new(raw);
        Some(PageHeader {
            magic: r.array()?,
            codec: r.u8()?,
            reserved: r.array()?,
            compressed_len: r.u32()?,
            uncompressed_len: r.u32()?,
            record_count: r.u32()?,
            crc: r.u32()?,
        })
    }
}

/// Validates a page header against the bytes read for `entry` (the whole
/// page), including the CRC that covers header and payload.
fn parse_header(path: &Path, entry: &PageEntry, raw: &[u8]) -> Result<PageHeader, BlockError> {
    let at = entry.offset;
    let Some(h) = PageHeader::decode(raw) else {
        return Err(BlockError::corrupt(
            path,
            at,
            "page shorter than its header",
        ));
    };
    check_magic(path, at, PAGE_MAGIC, h.magic)?;
    let actual = crc32(&[&raw[..PAGE_HEADER_CRC_OFFSET], &raw[PAGE_HEADER_LEN..]]);
    check_crc(path, at, h.crc, actual)?;
    // Past the CRC the header is what the writer wrote; the checks below
    // catch writer bugs and disagreement with the index.
    let bad = |reason: String| Err(BlockError::corrupt(path, at, reason));
    if h.codec != CODEC_ZSTD || h.reserved != [0; 3] {
        return bad(format!(
            "unknown codec {} / reserved {:?}",
            h.codec, h.reserved
        ));
    }
    if h.compressed_len as usize != raw.len() - PAGE_HEADER_LEN {
        return bad(format!(
            "header says {} payload bytes, index says {}",
            h.compressed_len,
            raw.len() - PAGE_HEADER_LEN
        ));
    }
    if h.uncompressed_len as usize > MAX_PAGE_UNCOMPRESSED {
        return bad(format!(
            "uncompressed length {} exceeds limit",
            h.uncompressed_len
        ));
    }
    if h.record_count != entry.record_count {
        return bad(format!(
            "header says {} records, index says {}",
            h.record_count, entry.record_count
        ));
    }
    Ok(h)
}

/// Decompresses and parses one page read from disk (`raw` is exactly
/// `entry.len` bytes at `entry.offset`). Every record is bounds-checked, IDs
/// must be strictly increasing and match the index entry's first/last ID.
pub(crate) fn decode_page(
    path: &Path,
    entry: &PageEntry,
    raw: &[u8],
) -> Result<Vec<OwnedTraceRecord>, BlockError> {
    let header = parse_header(path, entry, raw)?;
    let at = entry.offset;
    let expected_len = header.uncompressed_len as usize;
    let plain = zstd::bulk::decompress(&raw[PAGE_HEADER_LEN..], expected_len)
        .map_err(|e| BlockError::corrupt(path, at, format!("zstd: {e}")))?;
    if plain.len() != expected_len {
        return Err(BlockError::corrupt(
            path,
            at,
            format!(
                "decompressed {} bytes, header says {}",
                plain.len(),
                expected_len
            ),
        ));
    }
    let records =
        parse_records(&Bytes::from(plain), header.record_count).map_err(|(pos, reason)| {
            BlockError::corrupt(path, at, format!("record at page byte {pos}: {reason}"))
        })?;
    let (first, last) = (records.first(), records.last());
    if first.map(|r| r.trace_id) != Some(entry.first_id)
        || last.map(|r| r.trace_id) != Some(entry.last_id)
    {
        return Err(BlockError::corrupt(
            path,
            at,
            "page trace id range disagrees with index",
        ));
    }
    Ok(records)
}

/// Splits an uncompressed page into records that share its buffer.
/// Errors carry the in-page position and a reason.
fn parse_records(
    plain: &Bytes,
    count: u32,
) -> Result<Vec<OwnedTraceRecord>, (usize, &'static str)> {
    let mut r = ByteReader::new(plain);
    // `count` is trusted only as far as the bytes can back it.
    let mut out: Vec<OwnedTraceRecord> =
        Vec::with_capacity((count as usize).min(plain.len() / RECORD_HEADER_LEN));
    for _ in 0..count {
        let pos = r.pos();
        let rec = next_record(&mut r, plain).ok_or((pos, "record runs past end of page"))?;
        if out.last().is_some_and(|p| p.trace_id >= rec.trace_id) {
            return Err((pos, "trace ids not strictly increasing"));
        }
        out.push(rec);
    }
    if r.remaining() != 0 {
        return Err((r.pos(), "trailing bytes after last record"));
    }
    Ok(out)
}

/// Decodes the record at the cursor; `None` if the page ends first.
fn next_record(r: &mut ByteReader<'_>, plain: &Bytes) -> Option<OwnedTraceRecord> {
    let trace_id = r.array()?;
    let start_ns = r.u64()?;
    let end_ns = r.u64()?;
    let span_count = r.u32()?;
    let len = r.u32()? as usize;
    let data_at = r.pos();
    r.bytes(len)?;
    Some(OwnedTraceRecord {
        trace_id,
        start_ns,
        end_ns,
        span_count,
        data: plain.slice(data_at..data_at + len),
    })
}
