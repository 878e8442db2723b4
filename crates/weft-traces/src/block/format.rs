//! Shared on-disk constants and little-endian parsing helpers.
//!
//! The byte layout is specified in `docs/format/trace-block.md`; every
//! constant here is named after a field of that document.

use std::path::Path;

use super::BlockError;

/// Version written into every binary file header and `meta.json`.
pub const FORMAT_VERSION: u32 = 1;

/// Name of the page file inside a block directory.
pub const DATA_FILE: &str = "data";
/// Name of the sparse index file inside a block directory.
pub const INDEX_FILE: &str = "index";
/// Name of the bloom filter file inside a block directory.
pub const BLOOM_FILE: &str = "bloom";
/// Name of the metadata file inside a block directory.
pub const META_FILE: &str = "meta.json";

pub(crate) const DATA_MAGIC: [u8; 4] = *b"WTBD";
pub(crate) const PAGE_MAGIC: [u8; 4] = *b"WTPG";
pub(crate) const INDEX_MAGIC: [u8; 4] = *b"WTBI";
pub(crate) const BLOOM_MAGIC: [u8; 4] = *b"WTBB";

/// `data` file header: magic + version.
pub(crate) const DATA_HEADER_LEN: usize = 8;
/// Page header: magic, codec, reserved, compressed_len, uncompressed_len,
/// record_count, crc.
pub(crate) const PAGE_HEADER_LEN: usize = 24;
/// Bytes of the page header covered by the crc together with the payload.
pub(crate) const PAGE_HEADER_CRC_OFFSET: usize = 20;
/// Record header: id, start, end, span_count, len.
pub(crate) const RECORD_HEADER_LEN: usize = 40;
pub(crate) const CODEC_ZSTD: u8 = 1;

/// Largest accepted trace payload. Bounds what a reader will ever allocate for
/// one page, so a corrupt length cannot make us reserve gigabytes.
pub const MAX_TRACE_BYTES: usize = 256 << 20;
/// Largest accepted target page size (`BlockOptions::page_bytes`).
pub const MAX_PAGE_SIZE: usize = 64 << 20;
/// Largest uncompressed page: a page either stays under the target size or
/// holds a single (possibly oversized) record.
pub(crate) const MAX_PAGE_UNCOMPRESSED: usize = MAX_TRACE_BYTES + RECORD_HEADER_LEN;

/// Computes CRC-32 over several slices as if they were contiguous.
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// Bounds-checked little-endian cursor over a byte slice.
///
/// Every accessor returns `None` instead of panicking when the slice is too
/// short, which is what lets the decoders survive arbitrary input.
pub(crate) struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        ByteReader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N).and_then(|b| b.try_into().ok())
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|b| b[0])
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}

/// Fails with [`BlockError::Truncated`] unless `len >= needed`.
pub(crate) fn ensure_len(
    path: &Path,
    offset: u64,
    needed: u64,
    len: u64,
) -> Result<(), BlockError> {
    if len < needed {
        return Err(BlockError::Truncated {
            path: path.to_path_buf(),
            offset,
            needed,
            available: len,
        });
    }
    Ok(())
}

/// Fails with [`BlockError::BadMagic`] unless `found == expected`.
pub(crate) fn check_magic(
    path: &Path,
    offset: u64,
    expected: [u8; 4],
    found: [u8; 4],
) -> Result<(), BlockError> {
    if found != expected {
        return Err(BlockError::BadMagic {
            path: path.to_path_buf(),
            offset,
            expected,
            found,
        });
    }
    Ok(())
}

/// Fails with [`BlockError::UnsupportedVersion`] unless `found` is ours.
pub(crate) fn check_version(path: &Path, found: u32) -> Result<(), BlockError> {
    if found != FORMAT_VERSION {
        return Err(BlockError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}

/// Fails with [`BlockError::ChecksumMismatch`] unless the checksums agree.
pub(crate) fn check_crc(
    path: &Path,
    offset: u64,
    expected: u32,
    actual: u32,
) -> Result<(), BlockError> {
    if expected != actual {
        return Err(BlockError::ChecksumMismatch {
            path: path.to_path_buf(),
            offset,
            expected,
            actual,
        });
    }
    Ok(())
}

/// Encodes the 8-byte `data` file header.
pub(crate) fn data_header() -> [u8; DATA_HEADER_LEN] {
    let mut h = [0u8; DATA_HEADER_LEN];
    h[..4].copy_from_slice(&DATA_MAGIC);
    h[4..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

/// Validates the 8-byte `data` file header.
pub(crate) fn check_data_header(
    path: &Path,
    header: &[u8; DATA_HEADER_LEN],
) -> Result<(), BlockError> {
    let mut r = ByteReader::new(header);
    // Lengths are fixed by the array type, so these cannot fail.
    let magic = r.array::<4>().unwrap_or_default();
    let version = r.u32().unwrap_or_default();
    check_magic(path, 0, DATA_MAGIC, magic)?;
    check_version(path, version)
}
