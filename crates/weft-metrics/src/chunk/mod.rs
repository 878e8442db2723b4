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
//!
//! Native histograms go into [`HistogramChunk`]s (encoding 2: same header and timestamps,
//! bucket layout written when it changes, counts XORed per field); [`Chunk`] is either kind,
//! and [`decode_samples`] decodes any chunk into [`Sample`]s.

mod bits;
mod histogram;
mod packed;
mod xor;

pub use packed::{encode as encode_packed, ENCODING_PACKED, PACKED_MAX_SAMPLES};

#[cfg(test)]
mod tests;

use thiserror::Error;

use bits::BitWriter;
use xor::{StreamDecoder, StreamState};

pub(crate) use histogram::check_histogram;
#[cfg(test)]
pub(crate) use histogram::testing as histogram_testing;
pub use histogram::{HistogramChunk, HISTOGRAM_CHUNK_BYTES, MAX_HISTOGRAM_BUCKETS};

use crate::promql::{is_stale_nan, FloatHistogram};

/// Encoding byte of an XOR float chunk (the first byte of every chunk).
pub const ENCODING_XOR: u8 = 1;

/// Encoding byte of a float-histogram chunk.
pub const ENCODING_HISTOGRAM: u8 = 2;

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
    /// A histogram the histogram chunk cannot store (too many buckets, unsorted indexes).
    #[error("invalid histogram: {reason}")]
    InvalidHistogram {
        /// What is wrong.
        reason: String,
    },
    /// A float sample for a histogram chunk or a histogram for an XOR chunk; the caller
    /// starts a chunk of the other kind.
    #[error("sample kind does not match the chunk encoding")]
    WrongKind,
    /// The bytes are not a valid chunk.
    #[error("corrupt chunk at byte {offset}: {reason}")]
    Corrupt {
        /// Byte offset from the start of the chunk where the problem was found.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
}

/// A bit writer holding a chunk header with `encoding` and a sample count of 0.
fn header_writer(encoding: u8) -> BitWriter {
    let mut w = BitWriter::new();
    w.write_bits(u64::from(encoding), 8);
    w.write_bits(0, 16);
    w
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
        let w = header_writer(ENCODING_XOR);
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
    read_header_as(bytes, ENCODING_XOR)
}

/// The sample count of a chunk whose encoding byte must be `expected`.
fn read_header_as(bytes: &[u8], expected: u8) -> Result<u16, ChunkError> {
    let [encoding, hi, lo, ..] = *bytes else {
        return Err(ChunkError::Corrupt {
            offset: bytes.len(),
            reason: format!(
                "chunk of {} bytes is shorter than its 3-byte header",
                bytes.len()
            ),
        });
    };
    if encoding != expected {
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

/// The value of a stored sample: a float (stale markers included) or a native histogram.
#[derive(Clone, Debug, PartialEq)]
pub enum SampleValue {
    Float(f64),
    Histogram(Box<FloatHistogram>),
}

impl SampleValue {
    /// A value for equality checks that compares floats bit-exactly: `(is_histogram, bits)`,
    /// the bits of a histogram being a 64-bit hash of all its fields' bits.
    pub fn fingerprint(&self) -> (bool, u64) {
        match self {
            SampleValue::Float(v) => (false, v.to_bits()),
            SampleValue::Histogram(h) => (true, histogram_fingerprint(h)),
        }
    }
}

/// A 64-bit hash of every field of `h`, floats by their bits.
pub fn histogram_fingerprint(h: &FloatHistogram) -> u64 {
    let mut x = xxhash_rust::xxh3::Xxh3::new();
    x.update(&h.schema.to_le_bytes());
    x.update(&[histogram_hint_code(h)]);
    for v in [h.zero_threshold, h.zero_count, h.count, h.sum] {
        x.update(&v.to_bits().to_le_bytes());
    }
    for side in [&h.positive, &h.negative] {
        x.update(&(side.len() as u64).to_le_bytes());
        for (i, c) in side.iter() {
            x.update(&i.to_le_bytes());
            x.update(&c.to_bits().to_le_bytes());
        }
    }
    for c in &h.custom_values {
        x.update(&c.to_bits().to_le_bytes());
    }
    x.digest()
}

fn histogram_hint_code(h: &FloatHistogram) -> u8 {
    use crate::promql::histogram::CounterResetHint as H;
    match h.hint {
        H::Unknown => 0,
        H::CounterReset => 1,
        H::NotCounterReset => 2,
        H::Gauge => 3,
    }
}

/// A timestamped sample of any kind.
pub type Sample = (i64, SampleValue);

/// Samples split by kind, as queries return them (`SeriesData`'s two lists).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleLists {
    pub floats: Vec<(i64, f64)>,
    pub histograms: Vec<(i64, FloatHistogram)>,
}

impl SampleLists {
    /// Whether both lists are empty.
    pub fn is_empty(&self) -> bool {
        self.floats.is_empty() && self.histograms.is_empty()
    }

    /// Adds a sample to the list of its kind (samples must come in time order).
    pub fn push(&mut self, t: i64, v: SampleValue) {
        match v {
            SampleValue::Float(f) => self.floats.push((t, f)),
            SampleValue::Histogram(h) => self.histograms.push((t, *h)),
        }
    }

    /// Both lists merged into one, in time order.
    pub fn joined(self) -> Vec<Sample> {
        let mut out = Vec::with_capacity(self.floats.len() + self.histograms.len());
        let mut hs = self.histograms.into_iter().peekable();
        for (t, f) in self.floats {
            while let Some((ht, h)) = hs.next_if(|(ht, _)| *ht < t) {
                out.push((ht, SampleValue::Histogram(Box::new(h))));
            }
            out.push((t, SampleValue::Float(f)));
        }
        out.extend(hs.map(|(t, h)| (t, SampleValue::Histogram(Box::new(h)))));
        out
    }

    /// Splits time-ordered samples by kind.
    pub fn split(samples: Vec<Sample>) -> Self {
        let mut out = Self::default();
        for (t, v) in samples {
            out.push(t, v);
        }
        out
    }
}

/// A chunk of either encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    Xor(XorChunk),
    Histogram(HistogramChunk),
}

impl From<XorChunk> for Chunk {
    fn from(c: XorChunk) -> Self {
        Chunk::Xor(c)
    }
}

impl From<HistogramChunk> for Chunk {
    fn from(c: HistogramChunk) -> Self {
        Chunk::Histogram(c)
    }
}

impl Default for Chunk {
    fn default() -> Self {
        Chunk::Xor(XorChunk::new())
    }
}

impl Chunk {
    /// An empty chunk of the kind that stores `v`.
    pub fn for_value(v: &SampleValue) -> Self {
        match v {
            SampleValue::Float(_) => Chunk::Xor(XorChunk::new()),
            SampleValue::Histogram(_) => Chunk::Histogram(HistogramChunk::new()),
        }
    }

    /// Whether `v` goes into this chunk: floats into XOR chunks; histograms, and stale
    /// markers following histograms, into histogram chunks (as Prometheus keeps a histogram
    /// series' stale marker in its histogram chunk).
    pub fn accepts(&self, v: &SampleValue) -> bool {
        match (self, v) {
            (Chunk::Xor(_), SampleValue::Float(_)) => true,
            (Chunk::Histogram(_), SampleValue::Histogram(_)) => true,
            (Chunk::Histogram(c), SampleValue::Float(f)) => is_stale_nan(*f) && !c.is_empty(),
            _ => false,
        }
    }

    /// Appends a sample; [`ChunkError::WrongKind`] if the chunk does not accept it.
    pub fn append(&mut self, t_ms: i64, v: &SampleValue) -> Result<(), ChunkError> {
        if !self.accepts(v) {
            return Err(ChunkError::WrongKind);
        }
        match (self, v) {
            (Chunk::Xor(c), SampleValue::Float(f)) => c.append(t_ms, *f),
            (Chunk::Histogram(c), SampleValue::Histogram(h)) => c.append(t_ms, Some(h)),
            (Chunk::Histogram(c), SampleValue::Float(_)) => c.append(t_ms, None),
            _ => Err(ChunkError::WrongKind),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Chunk::Xor(c) => c.len(),
            Chunk::Histogram(c) => c.len(),
        }
    }

    /// Whether the chunk has no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether an in-order append would return [`ChunkError::Full`].
    pub fn is_full(&self) -> bool {
        match self {
            Chunk::Xor(c) => c.is_full(),
            Chunk::Histogram(c) => c.is_full(),
        }
    }

    /// The encoded chunk.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Xor(c) => c.bytes(),
            Chunk::Histogram(c) => c.bytes(),
        }
    }

    /// Releases the unused capacity of a chunk that is closed: a growing buffer holds up to
    /// twice its bytes, and the head keeps hours of closed chunks per series.
    pub fn shrink_to_fit(&mut self) {
        match self {
            Chunk::Xor(c) => c.w.shrink_to_fit(),
            Chunk::Histogram(c) => c.shrink_to_fit(),
        }
    }

    /// First timestamp, `None` while empty.
    pub fn min_time(&self) -> Option<i64> {
        match self {
            Chunk::Xor(c) => c.min_time(),
            Chunk::Histogram(c) => c.min_time(),
        }
    }

    /// Last timestamp, `None` while empty.
    pub fn max_time(&self) -> Option<i64> {
        match self {
            Chunk::Xor(c) => c.max_time(),
            Chunk::Histogram(c) => c.max_time(),
        }
    }

    /// Whether the chunk's time range overlaps `[start, end]`.
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        match (self.min_time(), self.max_time()) {
            (Some(lo), Some(hi)) => lo <= end && hi >= start,
            _ => false,
        }
    }

    /// Adds the samples within `[start, end]` to `out`.
    pub fn collect_into(&self, start: i64, end: i64, out: &mut SampleLists) {
        match self {
            Chunk::Xor(c) => out
                .floats
                .extend(c.iter().filter(|&(t, _)| t >= start && t <= end)),
            Chunk::Histogram(c) => {
                for (t, v) in c.samples() {
                    if t >= start && t <= end {
                        out.push(t, v);
                    }
                }
            }
        }
    }

    /// Every sample, in time order.
    pub fn samples(&self) -> Vec<Sample> {
        match self {
            Chunk::Xor(c) => c.iter().map(|(t, v)| (t, SampleValue::Float(v))).collect(),
            Chunk::Histogram(c) => c.samples(),
        }
    }

    /// Whether a sample lies in `[start, end]` (decoding only when the range is inside the
    /// chunk's span).
    pub fn has_sample_in(&self, start: i64, end: i64) -> bool {
        let (Some(lo), Some(hi)) = (self.min_time(), self.max_time()) else {
            return false;
        };
        if lo > end || hi < start {
            return false;
        }
        // The first and last timestamps are samples.
        if lo >= start || hi <= end {
            return true;
        }
        match self {
            Chunk::Xor(c) => c.iter().any(|(t, _)| t >= start && t <= end),
            Chunk::Histogram(c) => c.samples().iter().any(|(t, _)| *t >= start && *t <= end),
        }
    }

    /// Loads a stored chunk of either encoding, validating all of it.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ChunkError> {
        match bytes.first() {
            Some(&ENCODING_HISTOGRAM) => HistogramChunk::from_bytes(bytes).map(Chunk::Histogram),
            _ => XorChunk::from_bytes(bytes).map(Chunk::Xor),
        }
    }
}

/// Decodes and validates a whole chunk of either encoding. Never panics.
pub fn decode_samples(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    match bytes.first() {
        Some(&ENCODING_HISTOGRAM) => histogram::decode(bytes),
        _ => Ok(decode(bytes)?
            .into_iter()
            .map(|(t, v)| (t, SampleValue::Float(v)))
            .collect()),
    }
}

/// Cuts time-ordered samples into chunks: a new chunk when one is full or the sample kind
/// changes. A sample no chunk accepts (a histogram the encoding refuses, a timestamp gap
/// beyond `i64`) is returned as the error.
pub fn chunks_from_samples(samples: &[Sample]) -> Result<Vec<Chunk>, (i64, ChunkError)> {
    let mut out: Vec<Chunk> = Vec::new();
    for (t, v) in samples {
        let res = match out.last_mut() {
            Some(c) if c.accepts(v) => c.append(*t, v),
            _ => Err(ChunkError::WrongKind),
        };
        match res {
            Ok(()) => {}
            Err(ChunkError::Full) | Err(ChunkError::WrongKind) => {
                let mut c = Chunk::for_value(v);
                c.append(*t, v).map_err(|e| (*t, e))?;
                out.push(c);
            }
            Err(e) => return Err((*t, e)),
        }
    }
    Ok(out)
}
