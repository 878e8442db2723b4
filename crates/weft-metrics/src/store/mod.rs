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

mod config;
mod exemplars;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use promql_parser::label::Matchers;
use weft_core::labels::Labels;
use weft_core::telemetry::{Sample, SampleKind, SnapshotSource};
use weft_core::TenantId;

use crate::head::{merge_samples, AppendMode, FrozenSeries, Head, HeadError};
use crate::model::{Exemplar, Metadata, MetricType, MetricWrite, SeriesWrite};
use crate::promql::{matches, Queryable, SeriesData};

pub use config::MetricStoreConfig;
use exemplars::ExemplarRing;

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
    /// Samples stored (repeats of an identical sample count as stored).
    pub samples: u64,
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

/// One tenant's data.
struct Tenant {
    head: Head,
    /// Parts taken out of the head that are not yet blocks. Swapped under this lock
    /// together with the head freeze, so a query never sees samples in neither place.
    frozen: RwLock<Vec<Arc<Vec<FrozenSeries>>>>,
    metadata: Mutex<MetadataMap>,
    exemplars: Mutex<ExemplarRing>,
}

/// The metric store of all tenants.
pub struct MetricStore {
    config: MetricStoreConfig,
    tenants: RwLock<HashMap<TenantId, Arc<Tenant>>>,
}

impl MetricStore {
    /// An empty store.
    pub fn new(config: MetricStoreConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            tenants: RwLock::new(HashMap::new()),
        })
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
        let t = tenants.entry(tenant.clone()).or_insert_with(|| {
            Arc::new(Tenant {
                head: Head::with_limits(self.config.head_limits()),
                frozen: RwLock::new(Vec::new()),
                metadata: Mutex::new(BTreeMap::new()),
                exemplars: Mutex::new(ExemplarRing::new(self.config.max_exemplars_per_tenant)),
            })
        });
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
            for (i, &(ts, v)) in s.samples.iter().enumerate() {
                match t.head.append_with(&s.labels, ts, v, mode) {
                    Ok(_) => stored.samples.push((ts, v)),
                    Err(err @ HeadError::DuplicateSample { .. })
                    | Err(err @ HeadError::OutOfOrder { .. }) => out.reject(&err, 1),
                    Err(err) => {
                        // A series-level refusal (limits): the rest of the series fails too.
                        out.reject(&err, (s.samples.len() - i) as u64);
                        break;
                    }
                }
            }
            out.samples += stored.samples.len() as u64;
            if !s.exemplars.is_empty() && t.head.contains(&s.labels) {
                t.exemplars.lock().push_all(&s.labels, &s.exemplars);
                stored.exemplars = s.exemplars.clone();
            }
            if !stored.samples.is_empty() || !stored.exemplars.is_empty() {
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
        self.tenants
            .read()
            .values()
            .map(|t| t.head.stats().chunk_bytes)
            .sum()
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
        let mut set: BTreeSet<Labels> = BTreeSet::new();
        {
            let frozen = t.frozen.read();
            set.extend(t.head.series(matchers, start_ms, end_ms));
            for part in frozen.iter() {
                for s in part.iter() {
                    let selected =
                        matchers.is_empty() || matchers.iter().any(|m| matches(m, &s.labels));
                    if selected && chunks_have_samples(&s.chunks, start_ms, end_ms) {
                        set.insert(s.labels.clone());
                    }
                }
            }
        }
        let take = if limit == 0 { usize::MAX } else { limit };
        set.into_iter().take(take).collect()
    }

    /// Sorted label names of the series [`TenantReader::series`] selects.
    pub fn label_names(&self, matchers: &[Matchers], start_ms: i64, end_ms: i64) -> Vec<String> {
        let names: BTreeSet<String> = self
            .series(matchers, start_ms, end_ms, 0)
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        names.into_iter().collect()
    }

    /// Sorted values of label `name` in the series [`TenantReader::series`] selects.
    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matchers],
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<String> {
        let values: BTreeSet<String> = self
            .series(matchers, start_ms, end_ms, 0)
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        values.into_iter().collect()
    }
}

/// True if any sample of `chunks` lies in `[start, end]`.
fn chunks_have_samples(chunks: &[crate::chunk::XorChunk], start: i64, end: i64) -> bool {
    chunks.iter().any(|c| match (c.min_time(), c.max_time()) {
        (Some(lo), Some(hi)) if lo <= end && hi >= start => {
            lo >= start || hi <= end || c.iter().any(|(t, _)| t >= start && t <= end)
        }
        _ => false,
    })
}

impl Queryable for TenantReader {
    fn select(&self, matchers: &Matchers, start_ms: i64, end_ms: i64) -> Vec<SeriesData> {
        let Some(t) = &self.tenant else {
            return Vec::new();
        };
        // Older sources first: on equal timestamps the later (newer) one wins.
        let mut merged: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        let mut add = |labels: Labels, samples: Vec<(i64, f64)>| {
            if samples.is_empty() {
                return;
            }
            match merged.remove(&labels) {
                Some(prev) => merged.insert(labels, merge_samples(prev, samples)),
                None => merged.insert(labels, samples),
            };
        };
        let frozen = t.frozen.read();
        for part in frozen.iter() {
            for s in part.iter().filter(|s| matches(matchers, &s.labels)) {
                let samples: Vec<(i64, f64)> = s
                    .chunks
                    .iter()
                    .filter(|c| c.min_time().is_some_and(|lo| lo <= end_ms))
                    .filter(|c| c.max_time().is_some_and(|hi| hi >= start_ms))
                    .flat_map(|c| c.iter())
                    .filter(|&(ts, _)| ts >= start_ms && ts <= end_ms)
                    .collect();
                add(s.labels.clone(), samples);
            }
        }
        for s in t.head.select(matchers, start_ms, end_ms) {
            add(s.labels, s.samples);
        }
        drop(frozen);
        merged
            .into_iter()
            .map(|(labels, samples)| SeriesData { labels, samples })
            .collect()
    }
}

struct StoreSnapshot(std::sync::Weak<MetricStore>);

impl SnapshotSource for StoreSnapshot {
    fn samples(&self) -> Vec<Sample> {
        let Some(store) = self.0.upgrade() else {
            return Vec::new();
        };
        let mut out = Vec::new();
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
