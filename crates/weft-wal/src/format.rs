//! Byte layout of segment files. The normative description is
//! `docs/format/wal.md`; keep the two in sync.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Bytes of the segment header at the start of every segment file.
pub const SEGMENT_HEADER_LEN: u64 = 24;
/// Bytes of the `[len u32][crc u32]` frame header before each payload.
pub const FRAME_HEADER_LEN: u64 = 8;
/// Format hard limit on a payload; readers treat larger lengths as corrupt.
pub const MAX_RECORD_BYTES_LIMIT: u64 = 1 << 30;
/// Current (and only) format version.
pub const FORMAT_VERSION: u16 = 1;

const MAGIC: [u8; 8] = *b"WEFTWAL\0";
const SEGMENT_SUFFIX: &str = ".wal";
const SEGMENT_DIGITS: usize = 20;

/// `00000000000000000042.wal` for segment 42.
pub fn segment_file_name(segment: u64) -> String {
    format!("{segment:0width$}{SEGMENT_SUFFIX}", width = SEGMENT_DIGITS)
}

/// Path of a segment inside `dir`.
pub fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(segment_file_name(segment))
}

/// Inverse of [`segment_file_name`]; `None` for anything else (so stray
/// files such as `LOCK` or editor backups are ignored).
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != SEGMENT_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segment numbers present in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(n) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            segments.push(n);
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

/// The 24-byte header of segment `segment`.
pub fn encode_segment_header(segment: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    // h[10..12]: flags, zero.
    h[12..20].copy_from_slice(&segment.to_le_bytes());
    let crc = crc32fast::hash(&h[0..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a segment header; the error says what is wrong with it.
pub fn check_segment_header(h: &[u8], expected_segment: u64) -> Result<(), String> {
    if h.len() < SEGMENT_HEADER_LEN as usize {
        return Err(format!(
            "segment header is {} bytes, expected {SEGMENT_HEADER_LEN}",
            h.len()
        ));
    }
    if h[0..8] != MAGIC {
        return Err("bad segment magic (not a weft wal segment)".into());
    }
    let stored_crc = u32::from_le_bytes(h[20..24].try_into().expect("4 bytes"));
    let crc = crc32fast::hash(&h[0..20]);
    if stored_crc != crc {
        return Err(format!(
            "segment header crc mismatch (stored {stored_crc:#010x}, computed {crc:#010x})"
        ));
    }
    let version = u16::from_le_bytes([h[8], h[9]]);
    if version != FORMAT_VERSION {
        return Err(format!("unsupported segment format version {version}"));
    }
    let flags = u16::from_le_bytes([h[10], h[11]]);
    if flags != 0 {
        return Err(format!("unsupported segment flags {flags:#06x}"));
    }
    let segment = u64::from_le_bytes(h[12..20].try_into().expect("8 bytes"));
    if segment != expected_segment {
        return Err(format!(
            "header says segment {segment} but the file name says {expected_segment} \
             (renamed or copied file?)"
        ));
    }
    Ok(())
}

/// CRC of a frame: covers the 4 length bytes and the payload, so that a
/// zero-filled region never checks out (crc32 of four zero bytes != 0).
pub fn frame_crc(len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len_bytes);
    hasher.update(payload);
    hasher.finalize()
}

/// Appends the frame for `payload` to `buf`.
pub fn encode_frame_into(buf: &mut Vec<u8>, payload: &[u8]) {
    debug_assert!(payload.len() as u64 <= MAX_RECORD_BYTES_LIMIT);
    let len_bytes = (payload.len() as u32).to_le_bytes();
    buf.extend_from_slice(&len_bytes);
    buf.extend_from_slice(&frame_crc(len_bytes, payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Decoded frame header.
#[derive(Debug, Clone, Copy)]
pub struct FrameHeader {
    pub len: u32,
    pub crc: u32,
}

impl FrameHeader {
    pub fn decode(b: [u8; FRAME_HEADER_LEN as usize]) -> Self {
        FrameHeader {
            len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            crc: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Bytes the whole frame occupies on disk.
    pub fn frame_len(self) -> u64 {
        FRAME_HEADER_LEN + u64::from(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(segment_file_name(1), "00000000000000000001.wal");
        assert_eq!(segment_file_name(u64::MAX).len(), 24);
        for n in [0, 1, 42, u64::MAX] {
            assert_eq!(parse_segment_file_name(&segment_file_name(n)), Some(n));
        }
        assert!(segment_file_name(9) < segment_file_name(10));
        for bad in [
            "LOCK",
            "1.wal",
            "0000000000000000000a.wal",
            "00000000000000000001.wal.tmp",
            "+0000000000000000001.wal",
            "99999999999999999999.wal", // > u64::MAX
        ] {
            assert_eq!(parse_segment_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_round_trip_and_rejections() {
        let h = encode_segment_header(7);
        assert_eq!(check_segment_header(&h, 7), Ok(()));
        assert!(check_segment_header(&h, 8)
            .unwrap_err()
            .contains("file name"));
        assert!(check_segment_header(&h[..23], 7).is_err());
        for i in 0..h.len() {
            let mut bad = h;
            bad[i] ^= 0x40;
            assert!(check_segment_header(&bad, 7).is_err(), "flip at {i}");
        }
    }

    /// The vectors printed in docs/format/wal.md §2.4.
    #[test]
    fn documented_test_vectors() {
        let hex = |b: &[u8]| {
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            hex(&encode_segment_header(1)),
            "57 45 46 54 57 41 4c 00 01 00 00 00 01 00 00 00 00 00 00 00 b5 fa 20 bf"
        );
        let mut frame = Vec::new();
        encode_frame_into(&mut frame, b"abc");
        assert_eq!(hex(&frame), "03 00 00 00 33 5d e1 66 61 62 63");
        assert_eq!(frame_crc([0; 4], &[]), 0x2144_DF1C);
    }

    #[test]
    fn zero_frame_does_not_check_out() {
        let hdr = FrameHeader::decode([0; 8]);
        assert_ne!(frame_crc(hdr.len.to_le_bytes(), &[]), hdr.crc);
    }

    #[test]
    fn frame_layout() {
        let mut buf = Vec::new();
        encode_frame_into(&mut buf, b"abc");
        assert_eq!(buf.len(), 11);
        let hdr = FrameHeader::decode(buf[0..8].try_into().unwrap());
        assert_eq!(hdr.len, 3);
        assert_eq!(hdr.frame_len(), 11);
        assert_eq!(hdr.crc, frame_crc(3u32.to_le_bytes(), b"abc"));
        assert_eq!(&buf[8..], b"abc");
    }
}
