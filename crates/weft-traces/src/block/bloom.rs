//! A small bloom filter over trace IDs (the `bloom` file).
//!
//! Hand-rolled rather than a crate because the on-disk layout and hash
//! function are part of our format and must never change under us with a
//! dependency upgrade; the whole thing is ~100 lines.

use std::path::Path;

use xxhash_rust::xxh3::xxh3_128;

use super::format::{
    check_crc, check_magic, check_version, crc32, ensure_len, ByteReader, BLOOM_MAGIC,
    FORMAT_VERSION,
};
use super::BlockError;

const HEADER_LEN: usize = 24;
const FOOTER_LEN: usize = 8;
/// Target false-positive rate of every block's bloom filter.
pub const BLOOM_FP_RATE: f64 = 0.01;
/// More probes than this never pays off and would only slow lookups.
const MAX_HASHES: u32 = 30;

/// Bloom filter with `num_bits` bits and `num_hashes` probes per key.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Bloom {
    words: Vec<u64>,
    num_bits: u64,
    num_hashes: u32,
}

/// The two base hashes for double hashing: probe `i` is `h1 + i*h2 mod m`.
/// `h2` is forced odd so successive probes don't collapse when `m` is even.
#[inline]
pub(crate) fn bloom_hashes(id: &[u8; 16]) -> (u64, u64) {
    let h = xxh3_128(id);
    (h as u64, ((h >> 64) as u64) | 1)
}

// Summary only: the bit array can be megabytes.
impl std::fmt::Debug for Bloom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bloom")
            .field("num_bits", &self.num_bits)
            .field("num_hashes", &self.num_hashes)
            .finish_non_exhaustive()
    }
}

/// Bit index of probe `i` (Kirsch–Mitzenmacher double hashing).
#[inline]
fn probe((h1, h2): (u64, u64), i: u32, num_bits: u64) -> u64 {
    h1.wrapping_add(u64::from(i).wrapping_mul(h2)) % num_bits
}

impl Bloom {
    /// An empty filter sized for `n` keys at false-positive rate `fp_rate`.
    pub(crate) fn with_capacity(n: usize, fp_rate: f64) -> Self {
        debug_assert!(fp_rate > 0.0 && fp_rate < 1.0);
        let n = n.max(1) as f64;
        let ln2 = std::f64::consts::LN_2;
        let bits = (n * -fp_rate.ln() / (ln2 * ln2)).ceil().max(64.0);
        let num_bits = (bits as u64).div_ceil(64) * 64;
        let k = ((num_bits as f64 / n) * ln2).round() as u32;
        Bloom {
            words: vec![0; (num_bits / 64) as usize],
            num_bits,
            num_hashes: k.clamp(1, MAX_HASHES),
        }
    }

    /// Adds a key given its [`bloom_hashes`].
    pub(crate) fn insert_hashes(&mut self, hashes: (u64, u64)) {
        for i in 0..self.num_hashes {
            let b = probe(hashes, i, self.num_bits);
            self.words[(b / 64) as usize] |= 1 << (b % 64);
        }
    }

    /// False means definitely absent; true means probably present.
    pub(crate) fn may_contain(&self, id: &[u8; 16]) -> bool {
        let hashes = bloom_hashes(id);
        (0..self.num_hashes).all(|i| {
            let b = probe(hashes, i, self.num_bits);
            self.words[(b / 64) as usize] & (1 << (b % 64)) != 0
        })
    }

    /// Serializes the `bloom` file.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.words.len() * 8 + FOOTER_LEN);
        out.extend_from_slice(&BLOOM_MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.num_bits.to_le_bytes());
        out.extend_from_slice(&self.num_hashes.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let crc = crc32(&[&out]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&BLOOM_MAGIC);
        out
    }

    /// Parses and validates a `bloom` file.
    pub(crate) fn decode(path: &Path, buf: &[u8]) -> Result<Self, BlockError> {
        let len = buf.len() as u64;
        ensure_len(path, 0, (HEADER_LEN + FOOTER_LEN) as u64, len)?;
        let mut r = ByteReader::new(buf);
        check_magic(path, 0, BLOOM_MAGIC, r.array().unwrap_or_default())?;
        check_version(path, r.u32().unwrap_or_default())?;
        let num_bits = r.u64().unwrap_or_default();
        let num_hashes = r.u32().unwrap_or_default();
        let reserved = r.u32().unwrap_or_default();
        if num_bits == 0 || num_bits & 63 != 0 {
            return Err(BlockError::corrupt(
                path,
                8,
                format!("invalid bit count {num_bits}"),
            ));
        }
        let expected_len = (num_bits / 8).saturating_add((HEADER_LEN + FOOTER_LEN) as u64);
        ensure_len(path, 0, expected_len, len)?;
        if len != expected_len {
            return Err(BlockError::corrupt(
                path,
                expected_len,
                format!("{num_bits} bits need {expected_len} bytes, file has {len}"),
            ));
        }
        let tail_at = buf.len() - 4;
        check_magic(
            path,
            tail_at as u64,
            BLOOM_MAGIC,
            buf[tail_at..].try_into().unwrap_or_default(),
        )?;
        let crc_at = buf.len() - FOOTER_LEN;
        let stored = u32::from_le_bytes(buf[crc_at..tail_at].try_into().unwrap_or_default());
        check_crc(path, 0, stored, crc32(&[&buf[..crc_at]]))?;
        if num_hashes == 0 || num_hashes > MAX_HASHES || reserved != 0 {
            return Err(BlockError::corrupt(
                path,
                16,
                format!("invalid hash count {num_hashes} / reserved {reserved}"),
            ));
        }
        let words = buf[HEADER_LEN..crc_at]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        Ok(Bloom {
            words,
            num_bits,
            num_hashes,
        })
    }
}
