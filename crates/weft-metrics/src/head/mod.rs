//! The in-memory head of the metric store: recent samples of every series in compressed
//! chunks ([`crate::chunk::XorChunk`] for floats, [`crate::chunk::HistogramChunk`] for native
//! histograms), plus an inverted label index (postings) for matcher lookups.
//!
//! One [`Head`] holds one tenant; tenants are separated by the caller
//! ([`crate::store::MetricStore`]), which also writes the WAL and freezes the head into blocks.
//!
//! # Design
//!
//! * Every unique [`Labels`] gets a dense series id ([`SeriesRef`]) in arrival order, so each
//!   postings list (label name → value → ids) stays sorted by simply pushing new ids.
//! * The index (label-set map, labels by id, postings) sits behind one `RwLock`; each series'
//!   chunks behind their own `Mutex`. Appending to an existing series takes the index lock for
//!   reading only, so appends to different series run in parallel; creating a series takes it
//!   for writing.
//! * Per series: closed chunks plus one open chunk, cut at [`MAX_SAMPLES`] (histogram chunks
//!   also at a byte size) and whenever the series switches between float and histogram
//!   samples; a stale marker after a histogram goes into the histogram chunk. Queries decode
//!   only chunks whose `[min_time, max_time]` overlaps the requested range.
//! * Matchers: `=` looks up one postings list and intersects; regexes scan the label's
//!   values; matchers that match the empty string (`!=`, `!~`, `=""`, `=~"a|"`) subtract the
//!   series whose value fails them, so series lacking the label match (Prometheus semantics).
//! * Out-of-order samples: a sample older than its series' newest one is accepted when it is
//!   within [`AppendMode::Live`]'s window (and always during WAL replay, whose record order
//!   may differ from the order appends reached the head). Such samples wait in a small
//!   sorted per-series buffer that queries merge in and [`Head::freeze`] folds into chunks.
//! * [`Head::freeze`] takes every series' samples out (for a block) and keeps the series with
//!   their newest timestamp, so out-of-order checks continue across the cut; series that got
//!   no sample since the previous freeze are dropped from the index then.

mod matcher;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use xxhash_rust::xxh3::Xxh3Builder;

use parking_lot::{Mutex, RwLock};
use promql_parser::label::Matchers;
use thiserror::Error;
use weft_core::labels::Labels;

use crate::chunk::{
    chunks_from_samples, Chunk, ChunkError, Sample, SampleLists, SampleValue, MAX_SAMPLES,
};
use crate::promql::FloatHistogram;
use crate::promql::{Queryable, SeriesData};

use matcher::{select_postings, union_all, Index, Postings};

/// Identifier of a series within one [`Head`] (dense, assigned in creation order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u32);

/// Why an append was rejected. Nothing is stored when an error is returned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeadError {
    /// The timestamp is before the series' last sample.
    #[error(
        "out-of-order sample for series {series}: {t} ms is before the last sample at {last} ms"
    )]
    OutOfOrder {
        /// The series, in `{a="b"}` form.
        series: String,
        /// The rejected timestamp.
        t: i64,
        /// The series' last timestamp.
        last: i64,
    },
    /// Same timestamp as the series' last sample but a different value.
    #[error("duplicate sample for series {series} at {t} ms with a different value")]
    DuplicateSample {
        /// The series, in `{a="b"}` form.
        series: String,
        /// The timestamp.
        t: i64,
    },
    /// Creating the series would exceed [`HeadLimits::max_series`].
    #[error("too many series: the limit is {limit}")]
    TooManySeries {
        /// The limit.
        limit: usize,
    },
    /// The label set has more labels than [`HeadLimits::max_labels_per_series`].
    #[error("series {series} has {count} labels; the limit is {limit}")]
    TooManyLabels {
        /// The series.
        series: String,
        /// Its number of labels.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A label value is longer than [`HeadLimits::max_label_value_len`] bytes.
    #[error("value of label {name:?} is {len} bytes long; the limit is {limit}")]
    LabelValueTooLong {
        /// The label name.
        name: String,
        /// The value's length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A label name is longer than [`HeadLimits::max_label_name_len`] bytes.
    #[error("label name {name:?} is {len} bytes long; the limit is {limit}")]
    LabelNameTooLong {
        /// The label name (truncated to 64 bytes).
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A series needs at least one label.
    #[error("series has no labels")]
    EmptyLabels,
    /// The chunk rejected the sample (timestamp gaps beyond `i64` range, histograms the
    /// chunk encoding cannot store).
    #[error("series {series}: {source}")]
    Chunk {
        /// The series.
        series: String,
        /// The chunk error.
        source: ChunkError,
    },
}

impl HeadError {
    /// Why a sample was refused, as a short stable name for counters (`reason` label).
    pub fn reason(&self) -> &'static str {
        match self {
            HeadError::OutOfOrder { .. } => "out_of_order",
            HeadError::DuplicateSample { .. } => "duplicate_timestamp",
            HeadError::TooManySeries { .. } => "series_limit",
            HeadError::TooManyLabels { .. } => "labels_per_series_limit",
            HeadError::LabelValueTooLong { .. } => "label_value_length_limit",
            HeadError::LabelNameTooLong { .. } => "label_name_length_limit",
            HeadError::EmptyLabels => "empty_labels",
            HeadError::Chunk {
                source: ChunkError::InvalidHistogram { .. },
                ..
            } => "invalid_histogram",
            HeadError::Chunk { .. } => "invalid_timestamp",
        }
    }
}

/// Limits of one head; `usize::MAX` means unlimited (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Most series.
    pub max_series: usize,
    /// Most labels per series (`__name__` included).
    pub max_labels_per_series: usize,
    /// Longest label value, in bytes.
    pub max_label_value_len: usize,
    /// Longest label name, in bytes.
    pub max_label_name_len: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        Self {
            max_series: usize::MAX,
            max_labels_per_series: usize::MAX,
            max_label_value_len: usize::MAX,
            max_label_name_len: usize::MAX,
        }
    }
}

/// Head statistics for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadStats {
    /// Number of series.
    pub series: u64,
    /// Samples stored (duplicates ignored are not counted).
    pub samples: u64,
    /// Chunks (closed and open).
    pub chunks: u64,
    /// Bytes of chunk data.
    pub chunk_bytes: u64,
}

/// Chunks of one series.
#[derive(Debug, Default)]
struct MemSeries {
    closed: Vec<Chunk>,
    open: Chunk,
    /// Out-of-order samples, ascending by time, unique timestamps.
    ooo: Vec<Sample>,
    /// Newest in-order timestamp and value fingerprint (kept across [`Head::freeze`]).
    last: Option<(i64, (bool, u64))>,
}

impl MemSeries {
    fn chunks(&self) -> impl Iterator<Item = &Chunk> {
        self.closed
            .iter()
            .chain(std::iter::once(&self.open).filter(|c| !c.is_empty()))
    }

    /// Chunks overlapping `[start, end]`.
    fn overlapping(&self, start: i64, end: i64) -> impl Iterator<Item = &Chunk> {
        self.chunks().filter(move |c| c.overlaps(start, end))
    }

    fn samples_in(&self, start: i64, end: i64) -> SampleLists {
        let mut out = SampleLists::default();
        for c in self.overlapping(start, end) {
            c.collect_into(start, end, &mut out);
        }
        let ooo: Vec<Sample> = self
            .ooo
            .iter()
            .filter(|(t, _)| *t >= start && *t <= end)
            .cloned()
            .collect();
        if ooo.is_empty() {
            return out;
        }
        SampleLists::split(merge_samples(out.joined(), ooo))
    }

    fn has_samples_in(&self, start: i64, end: i64) -> bool {
        self.ooo.iter().any(|(t, _)| *t >= start && *t <= end)
            || self.chunks().any(|c| c.has_sample_in(start, end))
    }

    fn is_empty(&self) -> bool {
        self.closed.is_empty() && self.open.is_empty() && self.ooo.is_empty()
    }

    /// Fingerprint of the in-order sample at `t`, if there is one.
    fn in_order_at(&self, t: i64) -> Option<(bool, u64)> {
        self.overlapping(t, t)
            .flat_map(|c| c.samples())
            .find(|(st, _)| *st == t)
            .map(|(_, v)| v.fingerprint())
    }

    /// Inserts an out-of-order sample; `false` when another value is already stored at `t`.
    fn insert_ooo(&mut self, t: i64, v: &SampleValue) -> bool {
        let fp = v.fingerprint();
        match self.ooo.binary_search_by_key(&t, |p| p.0) {
            Ok(i) => self.ooo[i].1.fingerprint() == fp,
            Err(i) => match self.in_order_at(t) {
                Some(b) => b == fp,
                None => {
                    self.ooo.insert(i, (t, v.clone()));
                    true
                }
            },
        }
    }

    /// Appends an in-order sample to the open chunk, closing it first when it is full or
    /// holds the other kind of sample. Returns how many bytes the head grew by.
    fn append_in_order(&mut self, t: i64, v: &SampleValue) -> Result<usize, ChunkError> {
        let open_before = self.open.bytes().len();
        let res = if self.open.is_empty() && !self.open.accepts(v) {
            // An empty open chunk of the other kind is simply replaced.
            self.open = Chunk::for_value(v);
            self.open.append(t, v)
        } else {
            match self.open.append(t, v) {
                Err(ChunkError::Full) | Err(ChunkError::WrongKind) => {
                    let mut fresh = Chunk::for_value(v);
                    fresh.append(t, v)?;
                    let mut full = std::mem::replace(&mut self.open, fresh);
                    full.shrink_to_fit();
                    self.closed.push(full);
                    return Ok(self.open.bytes().len());
                }
                r => r,
            }
        };
        res?;
        debug_assert!(self.open.len() <= MAX_SAMPLES);
        // A new chunk's header counts too.
        let open_after = self.open.bytes().len();
        Ok(if self.open.len() > 1 {
            open_after.saturating_sub(open_before)
        } else {
            open_after
        })
    }

    /// Takes the samples out as chunks, folding out-of-order samples in; `last` stays.
    fn take_chunks(&mut self) -> Vec<Chunk> {
        let mut chunks = std::mem::take(&mut self.closed);
        let open = std::mem::take(&mut self.open);
        if !open.is_empty() {
            chunks.push(open);
        }
        let ooo = std::mem::take(&mut self.ooo);
        if ooo.is_empty() {
            return chunks;
        }
        let in_order: Vec<Sample> = chunks.iter().flat_map(|c| c.samples()).collect();
        match chunks_from_samples(&merge_samples(in_order, ooo)) {
            Ok(c) => c,
            Err((t, e)) => {
                // Every sample was accepted by a chunk once, so this is a bug.
                debug_assert!(false, "re-chunking at {t} ms failed: {e}");
                Vec::new()
            }
        }
    }
}

/// Merges two ascending sample lists; on equal timestamps the sample from `b` wins.
pub(crate) fn merge_samples<T: Clone>(a: Vec<(i64, T)>, b: Vec<(i64, T)>) -> Vec<(i64, T)> {
    if b.is_empty() {
        return a;
    }
    if a.is_empty() {
        return b;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut a = a.into_iter().peekable();
    let mut b = b.into_iter().peekable();
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        match x.0.cmp(&y.0) {
            std::cmp::Ordering::Less => out.extend(a.next()),
            std::cmp::Ordering::Greater => out.extend(b.next()),
            std::cmp::Ordering::Equal => {
                a.next();
                out.extend(b.next());
            }
        }
    }
    out.extend(a);
    out.extend(b);
    out
}

/// What one buffered out-of-order float sample costs (timestamp and value).
const OOO_SAMPLE_BYTES: u64 = 16;

/// What one buffered out-of-order sample costs; a histogram its fields and buckets.
fn ooo_sample_bytes(v: &SampleValue) -> u64 {
    match v {
        SampleValue::Float(_) => OOO_SAMPLE_BYTES,
        SampleValue::Histogram(h) => {
            let buckets = h.positive.len() + h.negative.len();
            OOO_SAMPLE_BYTES + (48 + 12 * buckets + 8 * h.custom_values.len()) as u64
        }
    }
}

/// How [`Head::append_with`] treats a sample older than its series' newest one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendMode {
    /// Accepted when at most `ooo_window_ms` older than the series' newest sample
    /// (0: never, as Prometheus without `out_of_order_time_window`).
    Live { ooo_window_ms: i64 },
    /// WAL replay: every sample is accepted, in whatever order.
    Replay,
}

/// One series taken out of the head by [`Head::freeze`].
#[derive(Debug)]
pub struct FrozenSeries {
    pub labels: Labels,
    /// Ascending, non-overlapping chunks (XOR and histogram chunks).
    pub chunks: Vec<Chunk>,
}

/// The index: series by label set, labels by id, postings.
#[derive(Debug, Default)]
struct Inner {
    ids: HashMap<Labels, u32, Xxh3Builder>,
    labels: Vec<Labels>,
    series: Vec<Arc<Mutex<MemSeries>>>,
    postings: Index,
}

impl Inner {
    /// Adds a series under the next id; ids grow, so postings stay sorted by pushing.
    fn insert(&mut self, labels: Labels, series: Arc<Mutex<MemSeries>>) {
        debug_assert!(!self.ids.contains_key(&labels));
        let id = self.labels.len() as u32;
        for l in labels.iter() {
            self.postings
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default()
                .push(id);
        }
        self.ids.insert(labels.clone(), id);
        self.labels.push(labels);
        self.series.push(series);
    }
}

/// The in-memory head of one tenant. Shareable across threads (`&Head` appends).
#[derive(Debug, Default)]
pub struct Head {
    limits: HeadLimits,
    inner: RwLock<Inner>,
    samples: AtomicU64,
    /// Bytes of chunk data (plus out-of-order buffers), kept as appends happen so that
    /// pressure checks need not walk every series.
    bytes: AtomicU64,
}

impl Head {
    /// An empty head without limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty head with `limits`.
    pub fn with_limits(limits: HeadLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// The head's limits.
    pub fn limits(&self) -> HeadLimits {
        self.limits
    }

    /// Appends one sample, refusing out-of-order ones (see [`Head::append_with`]).
    pub fn append(&self, labels: &Labels, t_ms: i64, v: f64) -> Result<SeriesRef, HeadError> {
        self.append_with(labels, t_ms, v, AppendMode::Live { ooo_window_ms: 0 })
    }

    /// Appends one float sample. A repeat of a stored timestamp is ignored if the value is
    /// bit-identical and rejected otherwise ([`HeadError::DuplicateSample`]); a timestamp
    /// older than the series' newest is accepted as `mode` says, else
    /// [`HeadError::OutOfOrder`]. Creates the series on first sight, subject to the limits.
    pub fn append_with(
        &self,
        labels: &Labels,
        t_ms: i64,
        v: f64,
        mode: AppendMode,
    ) -> Result<SeriesRef, HeadError> {
        self.append_value(labels, t_ms, &SampleValue::Float(v), mode)
    }

    /// Appends one native histogram sample, with the rules of [`Head::append_with`]
    /// (identical = every field bit-identical). A series switching between floats and
    /// histograms starts a new chunk.
    pub fn append_histogram(
        &self,
        labels: &Labels,
        t_ms: i64,
        h: &FloatHistogram,
        mode: AppendMode,
    ) -> Result<SeriesRef, HeadError> {
        self.append_value(
            labels,
            t_ms,
            &SampleValue::Histogram(Box::new(h.clone())),
            mode,
        )
    }

    /// Appends a sample of either kind (see [`Head::append_with`]).
    pub fn append_value(
        &self,
        labels: &Labels,
        t_ms: i64,
        v: &SampleValue,
        mode: AppendMode,
    ) -> Result<SeriesRef, HeadError> {
        if let SampleValue::Histogram(h) = v {
            // Checked before the series is looked up, so that a refused histogram does not
            // even create it. (`append_series` checks each sample again, after the lookup.)
            crate::chunk::check_histogram(h).map_err(|source| HeadError::Chunk {
                series: labels.to_string(),
                source,
            })?;
        }
        let mut result = Ok(SeriesRef(0));
        self.append_series(
            labels,
            std::iter::once((t_ms, v.clone())),
            mode,
            |_, _, r| {
                result = r;
            },
        )
        .and(result)
    }

    /// Appends samples of one series in the given order, looking the series up (and
    /// creating it, subject to the limits) once and locking it once: per-sample lookups
    /// compared the whole label set again for every sample of a write. `each` hears the
    /// timestamp, value and outcome of every sample, in order; a series-level refusal (limits) is the `Err` of
    /// the call itself and stores nothing.
    pub fn append_series(
        &self,
        labels: &Labels,
        values: impl IntoIterator<Item = (i64, SampleValue)>,
        mode: AppendMode,
        mut each: impl FnMut(i64, SampleValue, Result<SeriesRef, HeadError>),
    ) -> Result<(), HeadError> {
        // The index stays read-locked during the appends so that a concurrent `freeze`
        // cannot drop the series (as empty) between the lookup and the append.
        let (inner, id) = loop {
            let inner = self.inner.read();
            if let Some(&id) = inner.ids.get(labels) {
                break (inner, id);
            }
            drop(inner);
            self.create(labels)?;
        };
        let mut s = inner.series[id as usize].lock();
        for (t_ms, v) in values {
            let r = self.append_locked(&mut s, labels, t_ms, &v, mode);
            each(t_ms, v, r.map(|()| SeriesRef(id)));
        }
        Ok(())
    }

    /// One sample into a locked series (the rules of [`Head::append_with`]).
    fn append_locked(
        &self,
        s: &mut MemSeries,
        labels: &Labels,
        t_ms: i64,
        v: &SampleValue,
        mode: AppendMode,
    ) -> Result<(), HeadError> {
        if let SampleValue::Histogram(h) = v {
            // Checked before anything is stored, so that a refused histogram leaves no trace.
            crate::chunk::check_histogram(h).map_err(|source| HeadError::Chunk {
                series: labels.to_string(),
                source,
            })?;
        }
        let fp = v.fingerprint();
        let duplicate = || HeadError::DuplicateSample {
            series: labels.to_string(),
            t: t_ms,
        };
        if let Some((last, last_fp)) = s.last {
            if t_ms == last {
                return if fp == last_fp {
                    Ok(())
                } else {
                    Err(duplicate())
                };
            }
            if t_ms < last {
                let accept = match mode {
                    AppendMode::Replay => true,
                    AppendMode::Live { ooo_window_ms } => {
                        t_ms >= last.saturating_sub(ooo_window_ms)
                    }
                };
                if !accept {
                    return Err(HeadError::OutOfOrder {
                        series: labels.to_string(),
                        t: t_ms,
                        last,
                    });
                }
                let before = s.ooo.len();
                if !s.insert_ooo(t_ms, v) {
                    return Err(duplicate());
                }
                if s.ooo.len() > before {
                    self.samples.fetch_add(1, Ordering::Relaxed);
                    self.bytes.fetch_add(ooo_sample_bytes(v), Ordering::Relaxed);
                }
                return Ok(());
            }
        }
        let grown = s
            .append_in_order(t_ms, v)
            .map_err(|source| HeadError::Chunk {
                series: labels.to_string(),
                source,
            })?;
        s.last = Some((t_ms, fp));
        self.samples.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(grown as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Takes every series' samples out of the head, sorted by labels (for a block), and
    /// drops series that received nothing since the previous freeze. Series that stay keep
    /// their newest timestamp, so out-of-order checks continue across the freeze. The
    /// caller makes the result visible to queries under its own lock, so that no query
    /// sees the samples in neither place.
    pub fn freeze(&self) -> Vec<FrozenSeries> {
        let mut inner = self.inner.write();
        let old = std::mem::take(&mut *inner);
        let mut out = Vec::new();
        for (labels, series) in old.labels.into_iter().zip(old.series) {
            let chunks = {
                let mut s = series.lock();
                if s.is_empty() {
                    continue; // nothing since the last freeze: the series leaves the head
                }
                s.take_chunks()
            };
            inner.insert(labels.clone(), series);
            out.push(FrozenSeries { labels, chunks });
        }
        self.samples.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    fn check_limits(&self, labels: &Labels) -> Result<(), HeadError> {
        if labels.is_empty() {
            return Err(HeadError::EmptyLabels);
        }
        let limit = self.limits.max_labels_per_series;
        if labels.len() > limit {
            return Err(HeadError::TooManyLabels {
                series: labels.to_string(),
                count: labels.len(),
                limit,
            });
        }
        let limit = self.limits.max_label_name_len;
        if let Some(l) = labels.iter().find(|l| l.name.len() > limit) {
            return Err(HeadError::LabelNameTooLong {
                name: l.name.chars().take(64).collect(),
                len: l.name.len(),
                limit,
            });
        }
        let limit = self.limits.max_label_value_len;
        if let Some(l) = labels.iter().find(|l| l.value.len() > limit) {
            return Err(HeadError::LabelValueTooLong {
                name: l.name.clone(),
                len: l.value.len(),
                limit,
            });
        }
        Ok(())
    }

    /// Creates the series unless another thread just did.
    fn create(&self, labels: &Labels) -> Result<(), HeadError> {
        self.check_limits(labels)?;
        let mut inner = self.inner.write();
        if inner.ids.contains_key(labels) {
            return Ok(());
        }
        let limit = self.limits.max_series;
        if inner.labels.len() >= limit || inner.labels.len() >= u32::MAX as usize {
            return Err(HeadError::TooManySeries { limit });
        }
        inner.insert(labels.clone(), Arc::default());
        Ok(())
    }

    /// True if the head has a series with exactly these labels.
    pub fn contains(&self, labels: &Labels) -> bool {
        self.inner.read().ids.contains_key(labels)
    }

    /// Bytes held in chunks and out-of-order buffers (maintained incrementally; O(1)).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Number of series.
    pub fn num_series(&self) -> usize {
        self.inner.read().labels.len()
    }

    /// Statistics (walks every series to sum chunk sizes).
    pub fn stats(&self) -> HeadStats {
        let series: Vec<Arc<Mutex<MemSeries>>> = self.inner.read().series.clone();
        let mut st = HeadStats {
            series: series.len() as u64,
            samples: self.samples.load(Ordering::Relaxed),
            ..HeadStats::default()
        };
        for s in &series {
            let s = s.lock();
            for c in s.chunks() {
                st.chunks += 1;
                st.chunk_bytes += c.bytes().len() as u64;
            }
        }
        st
    }

    /// Series (labels and chunks) selected by any of `matchers` (all series when empty), in
    /// id order.
    fn selected(&self, matchers: &[&Matchers]) -> Vec<(Labels, Arc<Mutex<MemSeries>>)> {
        let inner = self.inner.read();
        let n = inner.labels.len() as u32;
        let ids: Postings = if matchers.is_empty() {
            (0..n).collect()
        } else {
            let parts: Vec<Postings> = matchers
                .iter()
                .map(|m| select_postings(&inner.postings, n, m))
                .collect();
            union_all(parts.iter().map(Vec::as_slice).collect())
        };
        ids.into_iter()
            .map(|id| {
                (
                    inner.labels[id as usize].clone(),
                    Arc::clone(&inner.series[id as usize]),
                )
            })
            .collect()
    }

    /// Label sets of the series selected by any of `matchers` (every series when empty)
    /// with at least one sample in `[start_ms, end_ms]`, sorted (`/api/v1/series`).
    pub fn series(&self, matchers: &[Matchers], start_ms: i64, end_ms: i64) -> Vec<Labels> {
        let ms: Vec<&Matchers> = matchers.iter().collect();
        let mut out: Vec<Labels> = self
            .selected(&ms)
            .into_iter()
            .filter(|(_, s)| s.lock().has_samples_in(start_ms, end_ms))
            .map(|(l, _)| l)
            .collect();
        out.sort();
        out
    }
}

impl Queryable for Head {
    fn select(&self, matchers: &Matchers, start_ms: i64, end_ms: i64) -> Vec<SeriesData> {
        self.selected(&[matchers])
            .into_iter()
            .filter_map(|(labels, s)| {
                let found = s.lock().samples_in(start_ms, end_ms);
                (!found.is_empty()).then_some(SeriesData {
                    labels,
                    samples: found.floats,
                    histograms: found.histograms,
                })
            })
            .collect()
    }
}
