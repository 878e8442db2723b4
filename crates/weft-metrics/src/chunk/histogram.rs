//! Float-histogram chunks (encoding 2, `docs/format/metric-chunks.md`): native histogram
//! samples with XOR-style timestamps, the bucket layout written only when it changes, and
//! every count XORed against the same field of the previous sample.

use crate::promql::histogram::{CounterResetHint, FloatHistogram, CUSTOM_BUCKETS_SCHEMA};
use crate::promql::STALE_NAN_BITS;

use super::bits::BitWriter;
use super::xor::{
    corrupt, unzigzag, write_dod, write_uvarint, write_xor_value, zigzag, StreamDecoder,
    StreamState,
};
use super::{check_tail, MAX_SAMPLES};
use super::{read_header_as, ChunkError, Sample, SampleValue, ENCODING_HISTOGRAM, HEADER_LEN};

/// A histogram chunk is full once it holds this many bytes (or [`MAX_SAMPLES`] samples), so
/// that queries of histograms with many buckets do not decode very large chunks.
pub const HISTOGRAM_CHUNK_BYTES: usize = 4096;

/// Most buckets plus custom values in one histogram sample; bounds the size of a sample (and
/// so of a chunk, below the block format's 1 MiB) and what a decoder allocates.
pub const MAX_HISTOGRAM_BUCKETS: usize = 16_384;

/// XOR state of one field: the previous value's bits and its window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Field {
    v: u64,
    window: Option<(u32, u32)>,
}

/// What is written only when it changes: schema, zero threshold, bucket indexes, custom bounds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Layout {
    schema: i32,
    zero_threshold: u64,
    positive: Vec<i32>,
    negative: Vec<i32>,
    custom: Vec<u64>,
}

impl Layout {
    fn of(h: &FloatHistogram) -> Self {
        Self {
            schema: h.schema,
            zero_threshold: h.zero_threshold.to_bits(),
            positive: h.positive.iter().map(|b| b.0).collect(),
            negative: h.negative.iter().map(|b| b.0).collect(),
            custom: if h.schema == CUSTOM_BUCKETS_SCHEMA {
                h.custom_values.iter().map(|v| v.to_bits()).collect()
            } else {
                Vec::new()
            },
        }
    }
}

/// Appender/decoder state after a sample.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HistState {
    /// Timestamp state (its value fields are unused).
    ts: StreamState,
    /// Layout of the last histogram sample; `None` until the first (stale markers have none).
    layout: Option<Layout>,
    zero_count: Field,
    count: Field,
    sum: Field,
    /// One state per bucket of `layout`, in the same order.
    positive: Vec<Field>,
    negative: Vec<Field>,
}

impl HistState {
    fn new(t: i64) -> Self {
        Self {
            ts: StreamState {
                t,
                delta: 0,
                v: 0,
                window: None,
            },
            layout: None,
            zero_count: Field::default(),
            count: Field::default(),
            sum: Field::default(),
            positive: Vec::new(),
            negative: Vec::new(),
        }
    }

    /// Switches to `layout`: buckets whose index existed keep their state, new ones start
    /// from 0.0 without a window (see the format doc).
    fn set_layout(&mut self, layout: Layout) {
        let old = self.layout.take().unwrap_or_default();
        self.positive = remap(&old.positive, &self.positive, &layout.positive);
        self.negative = remap(&old.negative, &self.negative, &layout.negative);
        self.layout = Some(layout);
    }
}

/// Field states for `new` indexes, taken from (`old` indexes, `states`) where they match.
fn remap(old: &[i32], states: &[Field], new: &[i32]) -> Vec<Field> {
    debug_assert_eq!(old.len(), states.len());
    let mut j = 0;
    new.iter()
        .map(|&idx| {
            while j < old.len() && old[j] < idx {
                j += 1;
            }
            if j < old.len() && old[j] == idx {
                states[j]
            } else {
                Field::default()
            }
        })
        .collect()
}

fn hint_code(h: CounterResetHint) -> u64 {
    match h {
        CounterResetHint::Unknown => 0,
        CounterResetHint::CounterReset => 1,
        CounterResetHint::NotCounterReset => 2,
        CounterResetHint::Gauge => 3,
    }
}

fn hint_of(code: u64) -> CounterResetHint {
    match code {
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

/// Checks what the encoding relies on: ascending unique bucket indexes and the size bound.
pub(crate) fn check_histogram(h: &FloatHistogram) -> Result<(), ChunkError> {
    let n = h.positive.len() + h.negative.len() + h.custom_values.len();
    if n > MAX_HISTOGRAM_BUCKETS {
        return Err(ChunkError::InvalidHistogram {
            reason: format!("{n} buckets and bounds; the limit is {MAX_HISTOGRAM_BUCKETS}"),
        });
    }
    for (side, b) in [("positive", &h.positive), ("negative", &h.negative)] {
        if b.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(ChunkError::InvalidHistogram {
                reason: format!("{side} bucket indexes are not strictly ascending"),
            });
        }
    }
    Ok(())
}

/// A chunk of native histogram samples of one series, appendable in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramChunk {
    w: BitWriter,
    num_samples: u16,
    first_t: Option<i64>,
    /// Boxed: it holds per-bucket state, and `Chunk` should stay as small as an XOR chunk.
    state: Option<Box<HistState>>,
}

impl Default for HistogramChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl HistogramChunk {
    /// An empty chunk (3 header bytes).
    pub fn new() -> Self {
        let w = super::header_writer(ENCODING_HISTOGRAM);
        Self {
            w,
            num_samples: 0,
            first_t: None,
            state: None,
        }
    }

    /// Appends a histogram sample, or a stale marker when `h` is `None`. Same ordering and
    /// fullness rules as [`super::XorChunk::append`]; on error the chunk is unchanged.
    pub fn append(&mut self, t_ms: i64, h: Option<&FloatHistogram>) -> Result<(), ChunkError> {
        if let Some(h) = h {
            check_histogram(h)?;
        }
        let mut state = match self.state.take() {
            None => {
                write_uvarint(&mut self.w, zigzag(t_ms));
                self.first_t = Some(t_ms);
                Box::new(HistState::new(t_ms))
            }
            Some(state) => match self.write_timestamp(&state, t_ms) {
                Ok(()) => {
                    let mut state = state;
                    let delta = t_ms - state.ts.t;
                    state.ts.t = t_ms;
                    state.ts.delta = delta;
                    state
                }
                Err(e) => {
                    self.state = Some(state);
                    return Err(e);
                }
            },
        };
        match h {
            None => self.w.write_bit(true),
            Some(h) => write_histogram(&mut self.w, &mut state, h),
        }
        self.state = Some(state);
        self.set_count(self.num_samples + 1);
        Ok(())
    }

    /// Checks order and fullness, then writes the timestamp of a sample after the first.
    fn write_timestamp(&mut self, state: &HistState, t_ms: i64) -> Result<(), ChunkError> {
        let prev = state.ts.t;
        if t_ms <= prev {
            return Err(ChunkError::OutOfOrder { prev, t: t_ms });
        }
        if self.is_full() {
            return Err(ChunkError::Full);
        }
        let Some(delta) = t_ms.checked_sub(prev) else {
            return Err(ChunkError::DeltaOverflow { prev, t: t_ms });
        };
        if state.ts.delta == 0 {
            write_uvarint(&mut self.w, delta as u64);
        } else {
            // Both deltas are positive, so the difference cannot overflow.
            write_dod(&mut self.w, delta - state.ts.delta);
        }
        Ok(())
    }

    /// Number of samples (stale markers included).
    pub fn len(&self) -> usize {
        usize::from(self.num_samples)
    }

    /// Whether the chunk has no samples.
    pub fn is_empty(&self) -> bool {
        self.num_samples == 0
    }

    /// Whether an in-order append would return [`ChunkError::Full`].
    pub fn is_full(&self) -> bool {
        self.len() >= MAX_SAMPLES || self.w.as_bytes().len() >= HISTOGRAM_CHUNK_BYTES
    }

    /// The encoded chunk.
    pub fn bytes(&self) -> &[u8] {
        self.w.as_bytes()
    }

    /// Releases unused buffer capacity (see [`super::Chunk::shrink_to_fit`]).
    pub(super) fn shrink_to_fit(&mut self) {
        self.w.shrink_to_fit();
    }

    /// First timestamp, `None` while empty.
    pub fn min_time(&self) -> Option<i64> {
        self.first_t
    }

    /// Last timestamp, `None` while empty.
    pub fn max_time(&self) -> Option<i64> {
        self.state.as_ref().map(|s| s.ts.t)
    }

    /// Decodes every sample (histograms, and stale markers as float samples).
    pub fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::with_capacity(self.len());
        if let Err(e) = walk(self.bytes(), |t, v| out.push((t, v))) {
            // Built by the appender or validated on load, so this is a bug.
            debug_assert!(false, "validated histogram chunk failed to decode: {e}");
        }
        out
    }

    /// Loads a stored chunk, validating all of it, so that it can be read and appended to.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ChunkError> {
        let (count, first_t, state, bit_len) = walk(&bytes, |_, _| {})?;
        Ok(Self {
            w: BitWriter::from_parts(bytes, bit_len),
            num_samples: count,
            first_t,
            state: state.map(Box::new),
        })
    }

    fn set_count(&mut self, n: u16) {
        self.num_samples = n;
        self.w.bytes_mut()[1..HEADER_LEN].copy_from_slice(&n.to_be_bytes());
    }
}

/// Writes everything of a histogram sample after its timestamp.
fn write_histogram(w: &mut BitWriter, state: &mut HistState, h: &FloatHistogram) {
    w.write_bit(false);
    w.write_bits(hint_code(h.hint), 2);
    let layout = Layout::of(h);
    if state.layout.as_ref() == Some(&layout) {
        w.write_bit(false);
    } else {
        w.write_bit(true);
        write_layout(w, &layout);
        state.set_layout(layout);
    }
    let mut put = |f: &mut Field, v: f64| write_xor_value(w, &mut f.v, &mut f.window, v.to_bits());
    put(&mut state.zero_count, h.zero_count);
    put(&mut state.count, h.count);
    put(&mut state.sum, h.sum);
    for (f, b) in state.positive.iter_mut().zip(&h.positive) {
        put(f, b.1);
    }
    for (f, b) in state.negative.iter_mut().zip(&h.negative) {
        put(f, b.1);
    }
}

fn write_layout(w: &mut BitWriter, l: &Layout) {
    write_uvarint(w, zigzag(i64::from(l.schema)));
    w.write_bits(l.zero_threshold, 64);
    write_spans(w, &l.positive);
    write_spans(w, &l.negative);
    if l.schema == CUSTOM_BUCKETS_SCHEMA {
        write_uvarint(w, l.custom.len() as u64);
        for &c in &l.custom {
            w.write_bits(c, 64);
        }
    }
}

/// Maximal runs of consecutive indexes as (start, length).
fn spans_of(indexes: &[i32]) -> Vec<(i32, u32)> {
    let mut out: Vec<(i32, u32)> = Vec::new();
    for &i in indexes {
        match out.last_mut() {
            Some((start, len)) if i64::from(*start) + i64::from(*len) == i64::from(i) => *len += 1,
            _ => out.push((i, 1)),
        }
    }
    out
}

fn write_spans(w: &mut BitWriter, indexes: &[i32]) {
    let spans = spans_of(indexes);
    write_uvarint(w, spans.len() as u64);
    let mut prev_end: Option<i64> = None;
    for (start, len) in spans {
        match prev_end {
            None => write_uvarint(w, zigzag(i64::from(start))),
            // Maximal runs are at least one index apart.
            Some(end) => write_uvarint(w, (i64::from(start) - end - 1) as u64),
        }
        write_uvarint(w, u64::from(len - 1));
        prev_end = Some(i64::from(start) + i64::from(len));
    }
}

/// Decodes a histogram stream one sample at a time.
struct HistDecoder<'a> {
    d: StreamDecoder<'a>,
    state: Option<HistState>,
}

impl HistDecoder<'_> {
    fn next_sample(&mut self) -> Result<(i64, SampleValue), ChunkError> {
        let mut state = match self.state.take() {
            None => HistState::new(unzigzag(self.d.read_uvarint()?)),
            Some(mut s) => {
                self.d.read_timestamp(&mut s.ts)?;
                s
            }
        };
        let t = state.ts.t;
        let v = if self.d.bit()? {
            SampleValue::Float(f64::from_bits(STALE_NAN_BITS))
        } else {
            SampleValue::Histogram(Box::new(self.read_histogram(&mut state)?))
        };
        self.state = Some(state);
        Ok((t, v))
    }

    fn read_histogram(&mut self, state: &mut HistState) -> Result<FloatHistogram, ChunkError> {
        let hint = hint_of(self.d.bits(2)?);
        let at = self.d.bit_pos();
        if self.d.bit()? {
            let layout = self.read_layout()?;
            state.set_layout(layout);
        } else if state.layout.is_none() {
            return Err(corrupt(
                at,
                "histogram reuses a layout before one was set".into(),
            ));
        }
        let d = &mut self.d;
        let mut get = |f: &mut Field| -> Result<f64, ChunkError> {
            d.read_xor_value(&mut f.v, &mut f.window)?;
            Ok(f64::from_bits(f.v))
        };
        let zero_count = get(&mut state.zero_count)?;
        let count = get(&mut state.count)?;
        let sum = get(&mut state.sum)?;
        let mut positive = Vec::with_capacity(state.positive.len());
        for f in state.positive.iter_mut() {
            positive.push(get(f)?);
        }
        let mut negative = Vec::with_capacity(state.negative.len());
        for f in state.negative.iter_mut() {
            negative.push(get(f)?);
        }
        let layout = state
            .layout
            .as_ref()
            .ok_or_else(|| corrupt(at, "no layout".into()))?;
        Ok(FloatHistogram {
            schema: layout.schema,
            zero_threshold: f64::from_bits(layout.zero_threshold),
            zero_count,
            count,
            sum,
            positive: layout.positive.iter().copied().zip(positive).collect(),
            negative: layout.negative.iter().copied().zip(negative).collect(),
            custom_values: layout.custom.iter().map(|&b| f64::from_bits(b)).collect(),
            hint,
        })
    }

    fn read_layout(&mut self) -> Result<Layout, ChunkError> {
        let at = self.d.bit_pos();
        let schema = unzigzag(self.d.read_uvarint()?);
        let schema = i32::try_from(schema)
            .map_err(|_| corrupt(at, format!("schema {schema} out of range")))?;
        let zero_threshold = self.d.bits(64)?;
        let mut budget = MAX_HISTOGRAM_BUCKETS;
        let positive = self.read_spans(&mut budget)?;
        let negative = self.read_spans(&mut budget)?;
        let mut custom = Vec::new();
        if schema == CUSTOM_BUCKETS_SCHEMA {
            let at = self.d.bit_pos();
            let n = self.d.read_uvarint()?;
            if n > budget as u64 {
                return Err(corrupt(
                    at,
                    format!("{n} custom bounds exceed the bucket limit"),
                ));
            }
            for _ in 0..n {
                custom.push(self.d.bits(64)?);
            }
        }
        Ok(Layout {
            schema,
            zero_threshold,
            positive,
            negative,
            custom,
        })
    }

    /// Bucket indexes of `<spans>`; `budget` is what is left of [`MAX_HISTOGRAM_BUCKETS`].
    fn read_spans(&mut self, budget: &mut usize) -> Result<Vec<i32>, ChunkError> {
        let at = self.d.bit_pos();
        let n = self.d.read_uvarint()?;
        if n > *budget as u64 {
            return Err(corrupt(at, format!("{n} spans exceed the bucket limit")));
        }
        let mut out = Vec::new();
        let mut prev_end: Option<i64> = None;
        for _ in 0..n {
            let at = self.d.bit_pos();
            let raw = self.d.read_uvarint()?;
            let start = match prev_end {
                None => Some(unzigzag(raw)),
                Some(end) => i64::try_from(raw)
                    .ok()
                    .and_then(|gap| end.checked_add(gap)?.checked_add(1)),
            };
            let len = self.d.read_uvarint()?.saturating_add(1);
            if len > *budget as u64 {
                return Err(corrupt(
                    at,
                    format!("span of {len} buckets exceeds the limit"),
                ));
            }
            let end = start.and_then(|s| s.checked_add(len as i64));
            let (Some(start), Some(end)) = (start, end) else {
                return Err(corrupt(at, "span index overflows".into()));
            };
            if start < i64::from(i32::MIN) || end - 1 > i64::from(i32::MAX) {
                return Err(corrupt(
                    at,
                    format!("bucket indexes {start}..{end} exceed i32"),
                ));
            }
            *budget -= len as usize;
            out.extend((start..end).map(|i| i as i32));
            prev_end = Some(end);
        }
        Ok(out)
    }
}

/// Decodes a whole histogram chunk, passing each sample to `visit`; returns the count, the
/// first timestamp, the appender state and the bit length.
#[allow(clippy::type_complexity)]
fn walk(
    bytes: &[u8],
    mut visit: impl FnMut(i64, SampleValue),
) -> Result<(u16, Option<i64>, Option<HistState>, usize), ChunkError> {
    let count = read_header_as(bytes, ENCODING_HISTOGRAM)?;
    let mut dec = HistDecoder {
        d: StreamDecoder::new(bytes, HEADER_LEN * 8),
        state: None,
    };
    let mut first_t = None;
    for _ in 0..count {
        let (t, v) = dec.next_sample()?;
        first_t.get_or_insert(t);
        visit(t, v);
    }
    let bit_len = dec.d.bit_pos();
    check_tail(bytes, bit_len)?;
    Ok((count, first_t, dec.state, bit_len))
}

/// Decodes and validates a whole histogram chunk.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let mut out = Vec::new();
    walk(bytes, |t, v| out.push((t, v)))?;
    Ok(out)
}

/// Histograms for tests of this and other modules.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// The `i`-th sample of a counter histogram whose layout grows now and then: exponential
    /// schema 1 with negative buckets and a zero bucket; custom buckets when `custom`.
    pub(crate) fn counter_histogram(i: u32, custom: bool) -> FloatHistogram {
        let f = f64::from(i);
        let grow = (i / 7) as i32;
        let positive: Vec<(i32, f64)> = (0..3 + grow.min(4))
            .map(|k| (k - 1 + if k > 1 { 2 } else { 0 }, f * f64::from(k + 1)))
            .collect();
        let negative: Vec<(i32, f64)> = if custom {
            Vec::new()
        } else {
            vec![(-2, f * 0.5), (0, f)]
        };
        let zero_count = if custom { 0.0 } else { f / 4.0 };
        let count = positive.iter().chain(&negative).map(|b| b.1).sum::<f64>() + zero_count;
        FloatHistogram {
            schema: if custom { CUSTOM_BUCKETS_SCHEMA } else { 1 },
            zero_threshold: if custom { 0.0 } else { 0.001 },
            zero_count,
            count,
            sum: f * 3.25,
            positive: if custom {
                positive.iter().map(|&(k, c)| (k + 1, c)).collect()
            } else {
                positive
            },
            negative,
            custom_values: if custom {
                vec![0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0]
            } else {
                Vec::new()
            },
            hint: if i == 0 {
                CounterResetHint::CounterReset
            } else {
                CounterResetHint::Unknown
            },
        }
    }
}
