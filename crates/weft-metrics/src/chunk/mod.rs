//! Compressed sample chunks for the in-memory head: Gorilla-style delta-of-delta timestamps
//! and XORed float values, appended in place.
//!
//! The byte layout is specified in `docs/format/metric-chunks.md`. In short: an encoding byte
//! (1 = XOR), a big-endian `u16` sample count, then a bit stream holding the first timestamp
//! (zigzag varint) and raw value bits, the second timestamp as a varint delta, and every later
//! timestamp as a bucketed delta-of-delta; each value after the first is XORed with its
//! predecessor and stored with leading/trailing-zero window reuse.
//!
//! * Timestamps are milliseconds (`i64`) and strictly increasing within a chunk.
//! * Values round-trip bit-exactly, including every NaN payload (the Prometheus stale marker
//!   `0x7ff0000000000002` among them), `-0.0` and `±Inf`: only `to_bits()` is ever compared.
//! * [`XorChunk::bytes`] is a valid, self-describing chunk after every append; there is no
//!   finalisation step. [`XorChunk::from_bytes`] validates a stored chunk and restores the
//!   appender state so that appending continues.
//! * [`decode`] never panics, whatever the input, and its errors name the byte offset.

mod bits;
mod packed;
mod xor;

pub use packed::{encode as encode_packed, ENCODING_PACKED, PACKED_MAX_SAMPLES};

#[cfg(test)]
mod tests;

use thiserror::Error;

use bits::BitWriter;
use xor::{StreamDecoder, StreamState};

/// Encoding byte of an XOR float chunk (the first byte of every chunk).
pub const ENCODING_XOR: u8 = 1;

/// Header bytes before the sample bit stream: encoding, then the `u16` sample count.
pub const HEADER_LEN: usize = 3;

/// Most samples an appender puts in one chunk; [`XorChunk::append`] returns
/// [`ChunkError::Full`] beyond it. Same choice as Prometheus: 30 minutes of 15 s scrapes, after
/// which compression hardly improves and queries would decode more than they need. The format
/// itself allows up to `u16::MAX` samples and the decoder accepts them.
pub const MAX_SAMPLES: usize = 120;

/// Errors of appending to or decoding a chunk.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChunkError {
    /// The timestamp is not after the chunk's last one.
    #[error("sample at {t} ms is not after the previous sample at {prev} ms")]
    OutOfOrder {
        /// Last timestamp in the chunk.
        prev: i64,
        /// Rejected timestamp.
        t: i64,
    },
    /// The gap to the previous timestamp does not fit in an `i64` (only at the `i64` extremes).
    #[error("gap from {prev} ms to {t} ms does not fit in a 64-bit delta")]
    DeltaOverflow {
        /// Last timestamp in the chunk.
        prev: i64,
        /// Rejected timestamp.
        t: i64,
    },
    /// The chunk holds [`MAX_SAMPLES`]; the caller starts a new chunk.
    #[error("chunk is full")]
    Full,
    /// The first byte names an encoding this version does not know.
    #[error("unsupported chunk encoding {encoding}")]
    UnsupportedEncoding {
        /// The encoding byte found.
        encoding: u8,
    },
    /// The bytes are not a valid chunk.
    #[error("corrupt chunk at byte {offset}: {reason}")]
    Corrupt {
        /// Byte offset from the start of the chunk where the problem was found.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

/// A chunk of float samples of one series, appendable in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorChunk {
    /// Header and bit stream; the count in the header is kept up to date on every append.
    w: BitWriter,
    num_samples: u16,
    first_t: Option<i64>,
    /// Appender state after the last sample; `None` while empty.
    state: Option<StreamState>,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk (3 header bytes).
    pub fn new() -> Self {
        let mut w = BitWriter::new();
        w.write_bits(u64::from(ENCODING_XOR), 8);
        w.write_bits(0, 16);
        Self {
            w,
            num_samples: 0,
            first_t: None,
            state: None,
        }
    }

    /// Appends a sample. `t_ms` must be strictly after the last timestamp
    /// ([`ChunkError::OutOfOrder`]); ordering is checked before fullness so that a caller that
    /// cuts a new chunk on [`ChunkError::Full`] never accepts an out-of-order sample that way.
    /// On error the chunk is unchanged.
    pub fn append(&mut self, t_ms: i64, v: f64) -> Result<(), ChunkError> {
        let bits = v.to_bits();
        let Some(mut state) = self.state else {
            self.state = Some(xor::write_first(&mut self.w, t_ms, bits));
            self.first_t = Some(t_ms);
            self.set_count(1);
            return Ok(());
        };
        let prev = state.t;
        if t_ms <= prev {
            return Err(ChunkError::OutOfOrder { prev, t: t_ms });
        }
        if usize::from(self.num_samples) >= MAX_SAMPLES {
            return Err(ChunkError::Full);
        }
        let Some(delta) = t_ms.checked_sub(prev) else {
            return Err(ChunkError::DeltaOverflow { prev, t: t_ms });
        };
        xor::write_next(&mut self.w, &mut state, delta, bits);
        debug_assert_eq!(state.t, t_ms);
        self.state = Some(state);
        self.set_count(self.num_samples + 1);
        Ok(())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        usize::from(self.num_samples)
    }

    /// Whether the chunk has no samples.
    pub fn is_empty(&self) -> bool {
        self.num_samples == 0
    }

    /// Whether [`XorChunk::append`] would return [`ChunkError::Full`] for an in-order sample.
    pub fn is_full(&self) -> bool {
        self.len() >= MAX_SAMPLES
    }

    /// The encoded chunk, valid as is (see `docs/format/metric-chunks.md`).
    pub fn bytes(&self) -> &[u8] {
        self.w.as_bytes()
    }

    /// The encoded chunk, consuming it.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// First timestamp, `None` while empty.
    pub fn min_time(&self) -> Option<i64> {
        self.first_t
    }

    /// Last timestamp, `None` while empty.
    pub fn max_time(&self) -> Option<i64> {
        self.state.map(|s| s.t)
    }

    /// The samples in timestamp order.
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter {
            dec: StreamDecoder::new(self.bytes(), HEADER_LEN * 8),
            remaining: self.num_samples,
        }
    }

    /// Loads a stored chunk, validating all of it, so that it can be read and appended to.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ChunkError> {
        let summary = walk(&bytes, |_, _| {})?;
        let first_t = summary.first_t;
        Ok(Self {
            w: BitWriter::from_parts(bytes, summary.bit_len),
            num_samples: summary.count,
            first_t,
            state: summary.state,
        })
    }

    fn set_count(&mut self, n: u16) {
        self.num_samples = n;
        self.w.bytes_mut()[1..HEADER_LEN].copy_from_slice(&n.to_be_bytes());
    }
}

impl<'a> IntoIterator for &'a XorChunk {
    type Item = (i64, f64);
    type IntoIter = ChunkIter<'a>;

    fn into_iter(self) -> ChunkIter<'a> {
        self.iter()
    }
}

/// Iterator over the samples of an [`XorChunk`], decoding lazily.
pub struct ChunkIter<'a> {
    dec: StreamDecoder<'a>,
    remaining: u16,
}

impl Iterator for ChunkIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.remaining == 0 {
            return None;
        }
        match self.dec.next_sample() {
            Ok((t, v)) => {
                self.remaining -= 1;
                Some((t, f64::from_bits(v)))
            }
            Err(e) => {
                // An XorChunk is validated when built, so this is a bug; stop rather than panic
                // in release builds.
                debug_assert!(false, "validated chunk failed to decode: {e}");
                self.remaining = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.remaining);
        (n, Some(n))
    }
}

impl ExactSizeIterator for ChunkIter<'_> {}

/// Decodes and validates a whole chunk of either encoding (XOR from the head, packed from
/// blocks). Never panics; errors name the byte offset.
pub fn decode(bytes: &[u8]) -> Result<Vec<(i64, f64)>, ChunkError> {
    if bytes.first() == Some(&ENCODING_PACKED) {
        return packed::decode(bytes);
    }
    // Every sample takes at least 2 bits, which bounds what a lying count can allocate.
    let bound = bytes.len().saturating_sub(HEADER_LEN) * 4;
    let mut out = Vec::with_capacity(count_hint(bytes).min(bound));
    walk(bytes, |t, v| out.push((t, f64::from_bits(v))))?;
    Ok(out)
}

fn count_hint(bytes: &[u8]) -> usize {
    match bytes {
        [_, hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => 0,
    }
}

/// What decoding a whole chunk yields besides the samples.
struct Summary {
    count: u16,
    first_t: Option<i64>,
    state: Option<StreamState>,
    /// Bits used, header included; the rest of the last byte is zero padding.
    bit_len: usize,
}

/// Decodes all samples, passing each to `visit`, and checks header, length and padding.
fn walk(bytes: &[u8], mut visit: impl FnMut(i64, u64)) -> Result<Summary, ChunkError> {
    let count = read_header(bytes)?;
    let mut dec = StreamDecoder::new(bytes, HEADER_LEN * 8);
    let mut first_t = None;
    for _ in 0..count {
        let (t, v) = dec.next_sample()?;
        first_t.get_or_insert(t);
        visit(t, v);
    }
    let bit_len = dec.bit_pos();
    check_tail(bytes, bit_len)?;
    Ok(Summary {
        count,
        first_t,
        state: dec.state(),
        bit_len,
    })
}

fn read_header(bytes: &[u8]) -> Result<u16, ChunkError> {
    let [encoding, hi, lo, ..] = *bytes else {
        return Err(ChunkError::Corrupt {
            offset: bytes.len(),
            reason: format!(
                "chunk of {} bytes is shorter than its 3-byte header",
                bytes.len()
            ),
        });
    };
    if encoding != ENCODING_XOR {
        return Err(ChunkError::UnsupportedEncoding { encoding });
    }
    Ok(u16::from_be_bytes([hi, lo]))
}

/// The chunk must end in the byte holding its last bit, with zero padding bits, so that every
/// accepted chunk can be appended to exactly where it ends.
fn check_tail(bytes: &[u8], bit_len: usize) -> Result<(), ChunkError> {
    let used = bit_len.div_ceil(8);
    debug_assert!(used <= bytes.len());
    if bytes.len() > used {
        return Err(ChunkError::Corrupt {
            offset: used,
            reason: format!("{} bytes after the last sample", bytes.len() - used),
        });
    }
    let pad = bit_len % 8;
    if pad != 0 && bytes[used - 1] & (0xff >> pad) != 0 {
        return Err(ChunkError::Corrupt {
            offset: used - 1,
            reason: "non-zero padding bits after the last sample".into(),
        });
    }
    Ok(())
}
