//! The metric store: one [`Head`] per tenant plus the parts being written to blocks, with
//! metadata and exemplars, read through one view per tenant.
//!
//! Write path: a receiver builds a [`MetricWrite`]; [`MetricStore::apply`] appends it to the
//! tenant's head (checking limits and order) and returns exactly what was stored, which the
//! ingest pipeline then writes to the WAL before acknowledging. Replay applies WAL records
//! with [`AppendMode::Replay`], which accepts any order, so the head ends up holding what
//! was acknowledged whatever order concurrent writers reached the WAL in.
//!
//! Read path: [`MetricStore::reader`] returns a [`TenantReader`] that implements
//! [`Queryable`] and the label/series lookups of the Prometheus API by merging the head,
//! frozen parts and blocks; series with the same labels in several sources are merged by
//! timestamp, the newest source winning on equal timestamps.
//!
//! On disk (`disk.rs`): `<root>/<tenant>/<block>/` (docs/format/metric-block.md) and
//! `<root>/checkpoint.json`. A cut freezes every head (under the pipeline's gate, right after
//! the WAL rotated), writes each frozen part as a block, then records the checkpoint; the
//! frozen part stays readable until its block is. A crash between a block and the checkpoint
//! replays that data again — harmless, since equal samples merge into one at query time and
//! compaction merges the overlapping blocks.

mod config;
mod disk;
mod exemplars;
mod window_cache;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use promql_parser::label::Matchers;
use weft_core::labels::{names_of, values_of, Labels};
use weft_core::telemetry::{Sample, SampleKind, SnapshotSource};
use weft_core::TenantId;

use crate::block::Block;
use crate::chunk::{Chunk, SampleLists, SampleValue};
use crate::head::{merge_samples, AppendMode, FrozenSeries, Head, HeadError};
use crate::model::{Exemplar, Metadata, MetricType, MetricWrite, SeriesWrite};
use crate::promql::{matches, Queryable, SeriesData};

pub use config::MetricStoreConfig;
pub use disk::MetricStoreError;
use exemplars::ExemplarRing;
pub use window_cache::WindowCache;

/// Samples refused for one reason (the first message kept as an example).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: &'static str,
    pub message: String,
    pub count: u64,
}

/// What [`MetricStore::apply`] did.
#[derive(Debug, Default)]
pub struct ApplyOutcome {
    /// The part of the write that was stored (and must go to the WAL).
    pub stored: MetricWrite,
    /// Float samples stored (repeats of an identical sample count as stored).
    pub samples: u64,
    /// Native histogram samples stored (likewise).
    pub histograms: u64,
    /// Refused samples by reason.
    pub rejected: Vec<Rejection>,
}

impl ApplyOutcome {
    /// Samples refused.
    pub fn rejected_count(&self) -> u64 {
        self.rejected.iter().map(|r| r.count).sum()
    }

    fn reject(&mut self, err: &HeadError, count: u64) {
        let reason = err.reason();
        match self.rejected.iter_mut().find(|r| r.reason == reason) {
            Some(r) => r.count += count,
            None => self.rejected.push(Rejection {
                reason,
                message: err.to_string(),
                count,
            }),
        }
    }
}

/// Metadata of one tenant: metric family → distinct (type, help, unit).
type MetadataMap = BTreeMap<String, BTreeSet<(MetricType, String, String)>>;

/// Head data taken out by a freeze, readable until it is a block.
type FrozenPart = Vec<FrozenSeries>;

/// What a tenant has besides its head. Changed under one lock (together with a head freeze),
/// so a query never sees samples in neither place or in a deleted block only.
#[derive(Default, Clone)]
struct Parts {
    /// Oldest first (by min time), so later blocks win on equal timestamps.
    blocks: Vec<Arc<Block>>,
    frozen: Vec<Arc<FrozenPart>>,
}

/// One tenant's data.
struct Tenant {
    head: Head,
    parts: RwLock<Parts>,
    metadata: Mutex<MetadataMap>,
    exemplars: Mutex<ExemplarRing>,
}

/// The metric store of all tenants.
pub struct MetricStore {
    config: MetricStoreConfig,
    /// Where blocks live; `None` for a memory-only store (tests).
    root: Option<std::path::PathBuf>,
    tenants: RwLock<HashMap<TenantId, Arc<Tenant>>>,
    /// The first WAL segment not yet all in blocks.
    checkpoint: std::sync::atomic::AtomicU64,
    /// When the heads were last frozen.
    last_cut: Mutex<std::time::Instant>,
    /// Serialises cuts, compaction and retention.
    maintenance: Mutex<()>,
    /// Samples dropped by retention, by reason.
    dropped: Mutex<BTreeMap<&'static str, u64>>,
}

impl MetricStore {
    /// An empty store kept in memory only (no blocks).
    pub fn new(config: MetricStoreConfig) -> Arc<Self> {
        Arc::new(Self::empty(config, None))
    }

    fn empty(config: MetricStoreConfig, root: Option<std::path::PathBuf>) -> Self {
        Self {
            config,
            root,
            tenants: RwLock::new(HashMap::new()),
            checkpoint: std::sync::atomic::AtomicU64::new(0),
            last_cut: Mutex::new(std::time::Instant::now()),
            maintenance: Mutex::new(()),
            dropped: Mutex::new(BTreeMap::new()),
        }
    }

    fn new_tenant(&self) -> Tenant {
        Tenant {
            head: Head::with_limits(self.config.head_limits()),
            parts: RwLock::new(Parts::default()),
            metadata: Mutex::new(BTreeMap::new()),
            exemplars: Mutex::new(ExemplarRing::new(self.config.max_exemplars_per_tenant)),
        }
    }

    /// The settings.
    pub fn config(&self) -> &MetricStoreConfig {
        &self.config
    }

    fn tenant(&self, tenant: &TenantId) -> Arc<Tenant> {
        if let Some(t) = self.tenants.read().get(tenant) {
            return Arc::clone(t);
        }
        let mut tenants = self.tenants.write();
        let t = tenants
            .entry(tenant.clone())
            .or_insert_with(|| Arc::new(self.new_tenant()));
        Arc::clone(t)
    }

    /// Appends a write to the tenant's head; returns what was stored and what was refused.
    pub fn apply(&self, tenant: &TenantId, write: &MetricWrite, replay: bool) -> ApplyOutcome {
        let t = self.tenant(tenant);
        let mode = if replay {
            AppendMode::Replay
        } else {
            AppendMode::Live {
                ooo_window_ms: self.config.ooo_window_ms(),
            }
        };
        let mut out = ApplyOutcome::default();
        for s in &write.series {
            let mut stored = SeriesWrite {
                labels: s.labels.clone(),
                ..SeriesWrite::default()
            };
            let total = s.samples.len() + s.histograms.len();
            let mut on_result = |ts, v, res: Result<_, HeadError>| match (res, v) {
                (Ok(_), SampleValue::Float(f)) => stored.samples.push((ts, f)),
                (Ok(_), SampleValue::Histogram(h)) => stored.histograms.push((ts, *h)),
                (Err(err), _) => out.reject(&err, 1),
            };
            let appended = if s.histograms.is_empty() {
                let floats = s.samples.iter().map(|&(ts, f)| (ts, SampleValue::Float(f)));
                t.head
                    .append_series(&s.labels, floats, mode, &mut on_result)
            } else {
                // Floats and histograms in time order, so that in-order appends stay in order.
                let values = SampleLists {
                    floats: s.samples.clone(),
                    histograms: s.histograms.clone(),
                }
                .joined();
                t.head
                    .append_series(&s.labels, values, mode, &mut on_result)
            };
            if let Err(err) = appended {
                // A series-level refusal (limits): nothing of the series is stored.
                out.reject(&err, total as u64);
            }
            out.samples += stored.samples.len() as u64;
            out.histograms += stored.histograms.len() as u64;
            if !s.exemplars.is_empty() && t.head.contains(&s.labels) {
                t.exemplars.lock().push_all(&s.labels, &s.exemplars);
                stored.exemplars = s.exemplars.clone();
            }
            let has_data = !stored.samples.is_empty() || !stored.histograms.is_empty();
            if has_data || !stored.exemplars.is_empty() {
                out.stored.series.push(stored);
            }
        }
        if !write.metadata.is_empty() {
            let mut md = t.metadata.lock();
            for m in &write.metadata {
                md.entry(m.metric.clone()).or_default().insert((
                    m.kind,
                    m.help.clone(),
                    m.unit.clone(),
                ));
            }
            out.stored.metadata = write.metadata.clone();
        }
        out
    }

    /// A read view of one tenant (empty if it never wrote anything).
    pub fn reader(&self, tenant: &TenantId) -> TenantReader {
        TenantReader {
            tenant: self.tenants.read().get(tenant).cloned(),
        }
    }

    /// Metadata by metric family, at most `limit` families (`0`: all) and
    /// `limit_per_metric` entries per family, optionally of one family only.
    pub fn metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
        limit: usize,
        limit_per_metric: usize,
    ) -> BTreeMap<String, Vec<Metadata>> {
        let Some(t) = self.tenants.read().get(tenant).cloned() else {
            return BTreeMap::new();
        };
        let md = t.metadata.lock();
        let per = |n: usize| if n == 0 { usize::MAX } else { n };
        md.iter()
            .filter(|(name, _)| metric.is_none_or(|m| m == name.as_str()))
            .take(per(limit))
            .map(|(name, set)| {
                let entries = set
                    .iter()
                    .take(per(limit_per_metric))
                    .map(|(kind, help, unit)| Metadata {
                        metric: name.clone(),
                        kind: *kind,
                        help: help.clone(),
                        unit: unit.clone(),
                    })
                    .collect();
                (name.clone(), entries)
            })
            .collect()
    }

    /// Exemplars of series matching any of `selectors` within `[start_ms, end_ms]`, grouped
    /// by series.
    pub fn exemplars(
        &self,
        tenant: &TenantId,
        selectors: &[Matchers],
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<(Labels, Vec<Exemplar>)> {
        let Some(t) = self.tenants.read().get(tenant).cloned() else {
            return Vec::new();
        };
        let ring = t.exemplars.lock();
        ring.select(selectors, start_ms, end_ms)
    }

    /// Total bytes of head chunk data over all tenants.
    pub fn head_bytes(&self) -> u64 {
        self.tenants.read().values().map(|t| t.head.bytes()).sum()
    }

    /// A `/metrics` source reporting head sizes per tenant.
    pub fn snapshot_source(self: &Arc<Self>) -> Arc<dyn SnapshotSource> {
        Arc::new(StoreSnapshot(Arc::downgrade(self)))
    }
}

/// A read view of one tenant: head, frozen parts (and blocks), merged.
pub struct TenantReader {
    tenant: Option<Arc<Tenant>>,
}

impl TenantReader {
    /// Label sets of series matching any of `matchers` (all when empty) with samples in
    /// `[start_ms, end_ms]`, sorted, at most `limit` (`0`: all).
    pub fn series(
        &self,
        matchers: &[Matchers],
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> Vec<Labels> {
        let Some(t) = &self.tenant else {
            return Vec::new();
        };
        let (head, parts) = t.snapshot(|head| head.series(matchers, start_ms, end_ms));
        let mut set: BTreeSet<Labels> = head.into_iter().collect();
        for part in &parts.frozen {
            for s in part.iter() {
                let selected =
                    matchers.is_empty() || matchers.iter().any(|m| matches(m, &s.labels));
                if selected && chunks_have_samples(&s.chunks, start_ms, end_ms) {
                    set.insert(s.labels.clone());
                }
            }
        }
        for b in overlapping(&parts.blocks, start_ms, end_ms) {
            match b.series(matchers, start_ms, end_ms) {
                Ok(found) => set.extend(found),
                Err(err) => report_block_error(b, &err),
            }
        }
        let take = if limit == 0 { usize::MAX } else { limit };
        set.into_iter().take(take).collect()
    }

    /// Sorted label names of the series [`TenantReader::series`] selects.
    pub fn label_names(&self, matchers: &[Matchers], start_ms: i64, end_ms: i64) -> Vec<String> {
        names_of(&self.series(matchers, start_ms, end_ms, 0))
    }

    /// Sorted values of label `name` in the series [`TenantReader::series`] selects.
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matchers],
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<String> {
        values_of(name, &self.series(matchers, start_ms, end_ms, 0))
    }
}

/// True if any sample of `chunks` lies in `[start, end]`.
fn chunks_have_samples(chunks: &[Chunk], start: i64, end: i64) -> bool {
    chunks.iter().any(|c| c.has_sample_in(start, end))
}

/// Merges the samples of one series from two sources; on equal timestamps `newer` wins,
/// whatever kind either sample is.
fn merge_lists(older: SampleLists, newer: SampleLists) -> SampleLists {
    if older.histograms.is_empty() && newer.histograms.is_empty() {
        // Float-only series (the common case) merge without re-boxing.
        return SampleLists {
            floats: merge_samples(older.floats, newer.floats),
            histograms: Vec::new(),
        };
    }
    SampleLists::split(merge_samples(older.joined(), newer.joined()))
}

impl Queryable for TenantReader {
    fn select(&self, matchers: &Matchers, start_ms: i64, end_ms: i64) -> Vec<SeriesData> {
        let Some(t) = &self.tenant else {
            return Vec::new();
        };
        let (head, parts) = t.snapshot(|head| head.select(matchers, start_ms, end_ms));
        // Older sources first: on equal timestamps the later (newer) one wins.
        let mut merged: BTreeMap<Labels, SampleLists> = BTreeMap::new();
        let mut add = |labels: Labels, found: SampleLists| {
            if found.is_empty() {
                return;
            }
            match merged.remove(&labels) {
                Some(prev) => merged.insert(labels, merge_lists(prev, found)),
                None => merged.insert(labels, found),
            };
        };
        let lists = |s: SeriesData| {
            (
                s.labels,
                SampleLists {
                    floats: s.samples,
                    histograms: s.histograms,
                },
            )
        };
        for b in overlapping(&parts.blocks, start_ms, end_ms) {
            match b.select(matchers, start_ms, end_ms) {
                Ok(found) => found.into_iter().map(lists).for_each(|(l, f)| add(l, f)),
                Err(err) => report_block_error(b, &err),
            }
        }
        for part in &parts.frozen {
            for s in part.iter().filter(|s| matches(matchers, &s.labels)) {
                let mut found = SampleLists::default();
                for c in s.chunks.iter().filter(|c| c.overlaps(start_ms, end_ms)) {
                    c.collect_into(start_ms, end_ms, &mut found);
                }
                add(s.labels.clone(), found);
            }
        }
        for s in head {
            let (l, f) = lists(s);
            add(l, f);
        }
        merged
            .into_iter()
            .map(|(labels, found)| SeriesData {
                labels,
                samples: found.floats,
                histograms: found.histograms,
            })
            .collect()
    }
}

impl Tenant {
    /// Reads the head with `read` and copies the list of frozen parts and blocks, under the
    /// parts lock: a freeze or block swap cannot happen in between.
    fn snapshot<T>(&self, read: impl FnOnce(&Head) -> T) -> (T, Parts) {
        let parts = self.parts.read();
        (read(&self.head), parts.clone())
    }
}

/// Blocks whose time range overlaps `[start, end]`.
fn overlapping(blocks: &[Arc<Block>], start: i64, end: i64) -> impl Iterator<Item = &Arc<Block>> {
    blocks
        .iter()
        .filter(move |b| b.meta().min_time <= end && b.meta().max_time >= start)
}

/// A block that fails to read answers without its data; the failure is logged.
fn report_block_error(block: &Block, err: &crate::block::BlockError) {
    tracing::error!(block = %block.dir().display(), %err, "reading a metric block failed; its data is missing from this answer");
}

struct StoreSnapshot(std::sync::Weak<MetricStore>);

impl SnapshotSource for StoreSnapshot {
    fn samples(&self) -> Vec<Sample> {
        let Some(store) = self.0.upgrade() else {
            return Vec::new();
        };
        let mut out = store.block_samples();
        for (tenant, t) in store.tenants.read().iter() {
            let labels = vec![("tenant".to_string(), tenant.to_string())];
            let st = t.head.stats();
            let gauge = |name, help, value: u64| Sample {
                name,
                help,
                kind: SampleKind::Gauge,
                labels: labels.clone(),
                value: value as f64,
            };
            out.push(gauge(
                "metric_head_series",
                "Series in the metric head.",
                st.series,
            ));
            out.push(gauge(
                "metric_head_samples",
                "Samples in the metric head.",
                st.samples,
            ));
            out.push(gauge(
                "metric_head_chunk_bytes",
                "Bytes of compressed chunk data in the metric head.",
                st.chunk_bytes,
            ));
        }
        out
    }
}
