//! The in-memory head of the metric store: recent samples of every series in compressed
//! [`XorChunk`]s, plus an inverted label index (postings) for matcher lookups.
//!
//! One [`Head`] holds one tenant; tenants are separated by the caller. There is no WAL and
//! no block cutting yet.
//!
//! # Design
//!
//! * Every unique [`Labels`] gets a dense series id ([`SeriesRef`]) in arrival order, so each
//!   postings list (label name → value → ids) stays sorted by simply pushing new ids.
//! * The index (label-set map, labels by id, postings) sits behind one `RwLock`; each series'
//!   chunks behind their own `Mutex`. Appending to an existing series takes the index lock for
//!   reading only, so appends to different series run in parallel; creating a series takes it
//!   for writing.
//! * Per series: closed chunks plus one open chunk, cut at [`MAX_SAMPLES`]. Queries decode only
//!   chunks whose `[min_time, max_time]` overlaps the requested range.
//! * Matchers: `=` looks up one postings list and intersects; regexes scan the label's
//!   values; matchers that match the empty string (`!=`, `!~`, `=""`, `=~"a|"`) subtract the
//!   series whose value fails them, so series lacking the label match (Prometheus semantics).

mod matcher;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use promql_parser::label::Matchers;
use thiserror::Error;
use weft_core::labels::Labels;

use crate::chunk::{ChunkError, XorChunk, MAX_SAMPLES};
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
    /// A series needs at least one label.
    #[error("series has no labels")]
    EmptyLabels,
    /// The chunk rejected the sample (only timestamp gaps beyond `i64` range).
    #[error("series {series}: {source}")]
    Chunk {
        /// The series.
        series: String,
        /// The chunk error.
        source: ChunkError,
    },
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
}

impl Default for HeadLimits {
    fn default() -> Self {
        Self {
            max_series: usize::MAX,
            max_labels_per_series: usize::MAX,
            max_label_value_len: usize::MAX,
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
    closed: Vec<XorChunk>,
    open: XorChunk,
    /// Last timestamp and value bits.
    last: Option<(i64, u64)>,
}

impl MemSeries {
    fn chunks(&self) -> impl Iterator<Item = &XorChunk> {
        self.closed
            .iter()
            .chain(std::iter::once(&self.open).filter(|c| !c.is_empty()))
    }

    /// Chunks overlapping `[start, end]`.
    fn overlapping(&self, start: i64, end: i64) -> impl Iterator<Item = &XorChunk> {
        self.chunks()
            .filter(move |c| match (c.min_time(), c.max_time()) {
                (Some(lo), Some(hi)) => lo <= end && hi >= start,
                _ => false,
            })
    }

    fn samples_in(&self, start: i64, end: i64) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        for c in self.overlapping(start, end) {
            out.extend(c.iter().filter(|&(t, _)| t >= start && t <= end));
        }
        out
    }

    fn has_samples_in(&self, start: i64, end: i64) -> bool {
        self.overlapping(start, end).any(|c| {
            let inside = c.min_time().is_some_and(|lo| lo >= start)
                || c.max_time().is_some_and(|hi| hi <= end);
            inside || c.iter().any(|(t, _)| t >= start && t <= end)
        })
    }
}

/// The index: series by label set, labels by id, postings.
#[derive(Debug, Default)]
struct Inner {
    ids: HashMap<Labels, u32>,
    labels: Vec<Labels>,
    series: Vec<Arc<Mutex<MemSeries>>>,
    postings: Index,
}

/// The in-memory head of one tenant. Shareable across threads (`&Head` appends).
#[derive(Debug, Default)]
pub struct Head {
    limits: HeadLimits,
    inner: RwLock<Inner>,
    samples: AtomicU64,
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

    /// Appends one sample. Timestamps must not go back within a series
    /// ([`HeadError::OutOfOrder`]); a repeat of the last timestamp is ignored if the value is
    /// bit-identical and rejected otherwise ([`HeadError::DuplicateSample`]). Creates the
    /// series on first sight, subject to the limits.
    pub fn append(&self, labels: &Labels, t_ms: i64, v: f64) -> Result<SeriesRef, HeadError> {
        let existing = {
            let inner = self.inner.read();
            inner
                .ids
                .get(labels)
                .map(|&id| (id, Arc::clone(&inner.series[id as usize])))
        };
        let (id, series) = match existing {
            Some(x) => x,
            None => self.create(labels)?,
        };
        let mut s = series.lock();
        let bits = v.to_bits();
        if let Some((last, last_bits)) = s.last {
            if t_ms == last {
                return if bits == last_bits {
                    Ok(SeriesRef(id))
                } else {
                    Err(HeadError::DuplicateSample {
                        series: labels.to_string(),
                        t: t_ms,
                    })
                };
            }
            if t_ms < last {
                return Err(HeadError::OutOfOrder {
                    series: labels.to_string(),
                    t: t_ms,
                    last,
                });
            }
        }
        let res = match s.open.append(t_ms, v) {
            Err(ChunkError::Full) => {
                let full = std::mem::take(&mut s.open);
                s.closed.push(full);
                s.open.append(t_ms, v)
            }
            r => r,
        };
        res.map_err(|source| HeadError::Chunk {
            series: labels.to_string(),
            source,
        })?;
        debug_assert!(s.open.len() <= MAX_SAMPLES);
        s.last = Some((t_ms, bits));
        self.samples.fetch_add(1, Ordering::Relaxed);
        Ok(SeriesRef(id))
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

    /// Creates the series (or finds it, if another thread just did).
    fn create(&self, labels: &Labels) -> Result<(u32, Arc<Mutex<MemSeries>>), HeadError> {
        self.check_limits(labels)?;
        let mut inner = self.inner.write();
        if let Some(&id) = inner.ids.get(labels) {
            return Ok((id, Arc::clone(&inner.series[id as usize])));
        }
        let limit = self.limits.max_series;
        if inner.labels.len() >= limit || inner.labels.len() >= u32::MAX as usize {
            return Err(HeadError::TooManySeries { limit });
        }
        let id = inner.labels.len() as u32;
        for l in labels.iter() {
            inner
                .postings
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default()
                .push(id);
        }
        let series = Arc::new(Mutex::new(MemSeries::default()));
        inner.ids.insert(labels.clone(), id);
        inner.labels.push(labels.clone());
        inner.series.push(Arc::clone(&series));
        Ok((id, series))
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

    /// Sorted label names of the series selected as for [`Head::series`]
    /// (`/api/v1/labels`).
    pub fn label_names(&self, matchers: &[Matchers], start_ms: i64, end_ms: i64) -> Vec<String> {
        let names: BTreeSet<String> = self
            .series(matchers, start_ms, end_ms)
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        names.into_iter().collect()
    }

    /// Sorted values of label `name` in the series selected as for [`Head::series`]
    /// (`/api/v1/label/<name>/values`). Series without the label contribute nothing.
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matchers],
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<String> {
        let values: BTreeSet<String> = self
            .series(matchers, start_ms, end_ms)
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        values.into_iter().collect()
    }
}

impl Queryable for Head {
    fn select(&self, matchers: &Matchers, start_ms: i64, end_ms: i64) -> Vec<SeriesData> {
        self.selected(&[matchers])
            .into_iter()
            .filter_map(|(labels, s)| {
                let samples = s.lock().samples_in(start_ms, end_ms);
                (!samples.is_empty()).then_some(SeriesData { labels, samples })
            })
            .collect()
    }
}
