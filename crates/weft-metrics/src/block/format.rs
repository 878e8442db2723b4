//! Constants and low-level encodings of `docs/format/metric-block.md`: varints, the section
//! frame, and a bounds-checked reader whose errors carry file offsets.

use super::BlockError;

/// The format version written into `chunks`, `index` and `meta.json`.
pub const FORMAT_VERSION: u32 = 1;
/// Name of the chunk data file in a block directory.
pub const CHUNKS_FILE: &str = "chunks";
/// Name of the index file in a block directory.
pub const INDEX_FILE: &str = "index";
/// Name of the metadata file in a block directory.
pub const META_FILE: &str = "meta.json";
/// Magic at the start of `chunks`.
pub const CHUNKS_MAGIC: [u8; 4] = *b"WMCK";
/// Magic at the start of `index`.
pub const INDEX_MAGIC: [u8; 4] = *b"WMIX";
/// Largest chunk a reader accepts (the appender's chunks are at most 2,179 bytes; the slack
/// lets the sample limit grow without a format change).
pub const MAX_CHUNK_BYTES: u32 = 1 << 20;
/// Longest symbol (label name or value) a reader accepts.
pub const MAX_SYMBOL_BYTES: u32 = 1 << 20;
/// Length of the `chunks` and `index` file headers (magic + version).
pub(crate) const FILE_HEADER_LEN: u64 = 8;
/// Bytes of a section frame besides the body: `len` before, CRC after.
pub(crate) const SECTION_OVERHEAD: usize = 8;
/// Bytes of CRC after each chunk in `chunks`.
pub(crate) const CHUNK_CRC_LEN: u64 = 4;

/// Appends `v` as unsigned LEB128.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded as LEB128.
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// The 8-byte header of `chunks` and `index`.
pub(crate) fn file_header(magic: [u8; 4]) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[..4].copy_from_slice(&magic);
    h[4..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

/// Checks a file header, naming `file` in errors.
pub(crate) fn check_file_header(
    file: &'static str,
    bytes: &[u8],
    magic: [u8; 4],
) -> Result<(), BlockError> {
    let Some(h) = bytes.get(..8) else {
        return Err(BlockError::corrupt(
            file,
            "header",
            bytes.len() as u64,
            format!(
                "file of {} bytes is shorter than its 8-byte header",
                bytes.len()
            ),
        ));
    };
    if h[..4] != magic {
        return Err(BlockError::corrupt(
            file,
            "header",
            0,
            format!("bad magic {:?}", &h[..4]),
        ));
    }
    let version = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if version != FORMAT_VERSION {
        return Err(BlockError::UnsupportedVersion { file, version });
    }
    Ok(())
}

/// Frames `body` as a section: `len u32 | body | crc32(len | body)`.
pub(crate) fn put_section(out: &mut Vec<u8>, body: &[u8]) -> Result<(), BlockError> {
    let len = u32::try_from(body.len())
        .map_err(|_| BlockError::InvalidInput(format!("index section of {} bytes", body.len())))?;
    let start = out.len();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Splits the section starting at `at` in `file_bytes` off, checking its frame and CRC.
/// Returns a cursor over the body and the offset just past the section.
pub(crate) fn take_section<'a>(
    file: &'static str,
    section: &'static str,
    file_bytes: &'a [u8],
    at: usize,
) -> Result<(Cursor<'a>, usize), BlockError> {
    let rest = file_bytes.get(at..).unwrap_or(&[]);
    let Some(len_bytes) = rest.get(..4) else {
        return Err(BlockError::corrupt(
            file,
            section,
            at as u64,
            "file ends before the section's length field",
        ));
    };
    let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    let total = (len as usize).saturating_add(SECTION_OVERHEAD);
    if rest.len() < total {
        return Err(BlockError::corrupt(
            file,
            section,
            at as u64,
            format!(
                "section of {len} bytes needs {total} bytes with its frame, {} left in the file",
                rest.len()
            ),
        ));
    }
    let framed = &rest[..4 + len as usize];
    let crc_bytes = &rest[4 + len as usize..total];
    let stored = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    let computed = crc32fast::hash(framed);
    if stored != computed {
        return Err(BlockError::Checksum {
            file,
            section,
            offset: at as u64,
            stored,
            computed,
        });
    }
    let cursor = Cursor {
        file,
        section,
        bytes: &framed[4..],
        pos: 0,
        base: at as u64 + 4,
    };
    Ok((cursor, at + total))
}

/// A bounds-checked reader over one section body; errors carry the file offset.
pub(crate) struct Cursor<'a> {
    file: &'static str,
    section: &'static str,
    bytes: &'a [u8],
    pos: usize,
    /// File offset of `bytes[0]`.
    base: u64,
}

impl<'a> Cursor<'a> {
    /// A corruption error at the current position.
    pub(crate) fn err(&self, reason: impl Into<String>) -> BlockError {
        BlockError::corrupt(self.file, self.section, self.offset(), reason)
    }

    /// File offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Reads an unsigned LEB128 varint, strictly (≤ 10 bytes, minimal, no overflow).
    pub(crate) fn uvarint(&mut self) -> Result<u64, BlockError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.bytes.get(self.pos + i) else {
                return Err(self.err("section ends inside a varint"));
            };
            let group = u64::from(b & 0x7f);
            if i == 9 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            v |= group << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(self.err("varint is not minimal"));
                }
                self.pos += i + 1;
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    /// Reads a uvarint that must fit a `u32`; `what` names the field in errors.
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, BlockError> {
        let at = self.pos;
        let v = self.uvarint()?;
        u32::try_from(v).map_err(|_| {
            self.pos = at;
            self.err(format!("{what} {v} does not fit 32 bits"))
        })
    }

    /// Reads a count of elements that each take at least one byte, so a lying count cannot
    /// make the caller allocate more than the section holds.
    pub(crate) fn count(&mut self, what: &str) -> Result<usize, BlockError> {
        let n = self.u32(what)? as usize;
        if n > self.remaining() {
            return Err(self.err(format!(
                "{what} {n} exceeds the {} bytes left in the section",
                self.remaining()
            )));
        }
        Ok(n)
    }

    /// Reads a zigzag varint.
    pub(crate) fn varint(&mut self) -> Result<i64, BlockError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Reads `n` raw bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], BlockError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.err(format!(
                "{n} bytes needed, {} left in the section",
                self.remaining()
            )));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// Fails unless the whole body was consumed.
    pub(crate) fn finish(&self) -> Result<(), BlockError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.err(format!("{n} unexpected bytes at the end of the section"))),
        }
    }
}
