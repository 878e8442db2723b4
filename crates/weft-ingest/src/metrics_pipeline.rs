//! The metric write path: head first (it decides what is accepted), then the metric WAL
//! (what was accepted, durable), then acknowledge.
//!
//! Metrics have their own WAL directory (same segment format as the trace WAL): the metric
//! head is written to blocks every couple of hours, the trace heads every minute, and one
//! shared WAL would keep hours of trace payloads on disk just because metric samples are
//! interleaved with them.
//!
//! Order of operations: the head is appended to before the WAL, because only the head knows
//! which samples are in order; the WAL then receives exactly the stored samples. A failed WAL
//! append answers with a retryable error — the client resends, and the head ignores the
//! repeats (identical samples are no-ops). Replay applies records in [`AppendMode::Replay`]
//! (any order), since concurrent writers may reach the WAL in another order than the head.
//!
//! [`AppendMode::Replay`]: weft_metrics::head::AppendMode::Replay

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use weft_core::telemetry::SelfMetrics;
use weft_core::TenantId;
use weft_metrics::model::MetricWrite;
use weft_metrics::store::{MetricStore, Rejection};
use weft_wal::{Position, Wal, WalError, WalOptions};

use crate::pipeline::{maintenance_loop, unavailable, wal_error, wal_reason};
use crate::record::{self, WalRecord};
use crate::IngestError;

/// What a metric write stored and refused.
#[derive(Debug, Default)]
pub struct MetricOutcome {
    pub samples: u64,
    /// Native histogram samples stored.
    pub histograms: u64,
    pub exemplars: u64,
    pub rejected: Vec<Rejection>,
}

impl MetricOutcome {
    /// Samples refused.
    pub fn rejected_count(&self) -> u64 {
        self.rejected.iter().map(|r| r.count).sum()
    }

    /// A one-line summary of the refusals, naming each reason with an example.
    pub fn rejection_message(&self) -> Option<String> {
        if self.rejected.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .rejected
            .iter()
            .map(|r| format!("{} sample(s) {}: e.g. {}", r.count, r.reason, r.message))
            .collect();
        Some(format!(
            "{} sample(s) stored, {} refused: {}",
            self.samples,
            self.rejected_count(),
            parts.join("; ")
        ))
    }
}

/// The metric ingest pipeline. Cheap to share behind an `Arc`.
pub struct MetricPipeline {
    wal: Arc<Wal>,
    store: Arc<MetricStore>,
    metrics: Arc<SelfMetrics>,
    /// Shared by writers (head + WAL), exclusive for a head freeze.
    gate: tokio::sync::RwLock<()>,
    /// One cut at a time.
    cut_lock: tokio::sync::Mutex<()>,
    /// Wakes the maintenance loop when a write found the head or disk full.
    cut_now: tokio::sync::Notify,
    closing: AtomicBool,
}

impl MetricPipeline {
    pub fn new(wal: Arc<Wal>, store: Arc<MetricStore>, metrics: Arc<SelfMetrics>) -> Arc<Self> {
        Arc::new(Self {
            wal,
            store,
            metrics,
            gate: tokio::sync::RwLock::new(()),
            cut_lock: tokio::sync::Mutex::new(()),
            cut_now: tokio::sync::Notify::new(),
            closing: AtomicBool::new(false),
        })
    }

    /// The store (for readers).
    pub fn store(&self) -> &Arc<MetricStore> {
        &self.store
    }

    /// Self-metrics.
    pub fn metrics(&self) -> &Arc<SelfMetrics> {
        &self.metrics
    }

    /// Stores a write and makes it durable; `Ok` may be acknowledged. Refused samples are
    /// reported in the outcome (and counted); the rest is stored.
    pub async fn write(
        &self,
        tenant: &TenantId,
        write: &MetricWrite,
        transport: &'static str,
    ) -> Result<MetricOutcome, IngestError> {
        self.write_request(tenant, write, transport, None).await
    }

    /// [`MetricPipeline::write`] of a decoded remote-write request. When the store took all
    /// of it and the decoder refused nothing (`received` is then given), the WAL keeps the
    /// request body as received instead of re-encoding the write.
    pub async fn write_request(
        &self,
        tenant: &TenantId,
        write: &MetricWrite,
        transport: &'static str,
        received: Option<(crate::remote_write::Version, &[u8])>,
    ) -> Result<MetricOutcome, IngestError> {
        self.check_pressure()?;
        self.check_disk_budget().await?;
        let _shared = self.gate.read().await;
        let applied = self.store.apply(tenant, write, false);
        for r in &applied.rejected {
            self.metrics.refuse("metrics", r.reason, r.count);
        }
        let outcome = MetricOutcome {
            samples: applied.samples,
            histograms: applied.histograms,
            exemplars: applied.stored.exemplar_count(),
            rejected: applied.rejected,
        };
        if applied.stored.is_empty() {
            return Ok(outcome);
        }
        let record = match received {
            Some((version, body)) if outcome.rejected.is_empty() => {
                Bytes::from(record::encode_remote_write(tenant, version, body))
            }
            _ => Bytes::from(record::encode_metrics(tenant, &applied.stored)),
        };
        self.wal.append(record).await.map_err(|e| {
            self.metrics.refuse(
                "metrics",
                wal_reason(&e),
                outcome.samples + outcome.histograms,
            );
            wal_error(e)
        })?;
        self.metrics.accept(
            "metrics",
            transport,
            tenant.as_str(),
            outcome.samples + outcome.histograms,
        );
        Ok(outcome)
    }

    fn check_pressure(&self) -> Result<(), IngestError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(unavailable("the server is shutting down", 5));
        }
        let limit = 2 * self.store.config().head_max_bytes.as_u64();
        if self.store.head_bytes() > limit {
            self.cut_now.notify_one();
            return Err(unavailable(
                "the in-memory metric head is full while blocks are being written",
                2,
            ));
        }
        Ok(())
    }

    /// Bytes the disk budget keeps free besides the blocks: the WAL, and as much again for
    /// the block the next cut writes before it deletes WAL segments.
    fn reserved_bytes(&self) -> u64 {
        2 * self.wal.stats().disk_bytes
    }

    /// Keeps blocks + reserved space within `metrics.max_bytes`: deletes the oldest blocks
    /// to make room and refuses (retryable) when even that cannot, asking for a cut (which
    /// turns the WAL into smaller blocks).
    async fn check_disk_budget(&self) -> Result<(), IngestError> {
        let budget = self.store.config().max_bytes.as_u64();
        if budget == 0 || self.store.block_bytes() + self.reserved_bytes() <= budget {
            return Ok(());
        }
        self.enforce_retention().await;
        if self.store.block_bytes() + self.reserved_bytes() <= budget {
            return Ok(());
        }
        self.cut_now.notify_one();
        Err(unavailable(
            "the metric store reached its disk budget (metrics.max_bytes) and is writing blocks to make room",
            1,
        ))
    }

    /// Freezes the heads into blocks now (if they hold anything) and deletes the WAL
    /// segments the blocks cover.
    pub async fn cut(&self) -> Result<(), IngestError> {
        let _one_cut_at_a_time = self.cut_lock.lock().await;
        let segment = {
            let _exclusive = self.gate.write().await;
            let wal = self.wal.clone();
            let segment = tokio::task::spawn_blocking(move || wal.rotate())
                .await
                .map_err(|e| IngestError::Storage(format!("WAL rotation task failed: {e}")))?
                .map_err(wal_error)?;
            self.store.freeze_heads();
            segment
        };
        let store = self.store.clone();
        let written = tokio::task::spawn_blocking(move || store.write_frozen(segment))
            .await
            .map_err(|e| IngestError::Storage(format!("block writer task failed: {e}")))?;
        if let Err(err) = written {
            tracing::error!(%err, "writing metric blocks failed; the data stays in memory and in the WAL and is retried at the next cut");
            return Err(IngestError::Storage(err.to_string()));
        }
        if let Err(err) = self.wal.remove_segments_before(self.store.wal_checkpoint()) {
            tracing::warn!(%err, "could not delete old metric WAL segments");
        }
        self.enforce_retention().await;
        Ok(())
    }

    async fn enforce_retention(&self) {
        let store = self.store.clone();
        let reserved = self.reserved_bytes();
        let now_ms = (weft_core::time::now_unix_nanos() / 1_000_000) as i64;
        let result =
            tokio::task::spawn_blocking(move || store.enforce_retention(now_ms, reserved)).await;
        if let Err(err) = result {
            tracing::warn!(%err, "metric retention task failed");
        }
    }

    /// One round of background work: cut when due; compact and apply retention when
    /// `full`.
    pub async fn maintain(&self, full: bool) {
        if self.store.cut_due() {
            if let Err(err) = self.cut().await {
                tracing::warn!(%err, "metric head cut failed");
            }
        }
        if !full {
            return;
        }
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.compact()).await {
            Ok(Ok(n)) if n > 0 => tracing::debug!(merged = n, "metric compaction"),
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!(%err, "metric compaction failed"),
            Err(err) => tracing::warn!(%err, "metric compaction task failed"),
        }
        self.enforce_retention().await;
    }

    /// Runs [`Self::maintain`] until `shutdown` flips to true.
    pub async fn run_maintenance(
        self: Arc<Self>,
        interval: Duration,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        maintenance_loop(interval, &self.cut_now, shutdown, |full| {
            self.maintain(full)
        })
        .await
    }

    /// Ordered shutdown: refuse new writes, wait for in-flight ones, cut the heads into
    /// blocks (so the next start replays little), close the WAL.
    pub async fn shutdown(&self) -> Result<(), IngestError> {
        self.closing.store(true, Ordering::Release);
        drop(self.gate.write().await);
        let cut_result = self.cut().await;
        self.wal.close().await.map_err(wal_error)?;
        cut_result
    }
}

/// Opens the metric WAL and replays every record from the store's checkpoint on; returns the WAL ready for
/// appends and the number of records replayed.
pub fn open_metric_wal_and_replay(
    wal_dir: &std::path::Path,
    options: WalOptions,
    store: &MetricStore,
) -> Result<(Wal, u64), IngestError> {
    let from = Position {
        segment: store.wal_checkpoint(),
        offset: 0,
    };
    let mut records = 0u64;
    let (wal, _stats) = Wal::open_and_replay(wal_dir, options, from, |_position, payload| {
        match record::decode(payload) {
            Ok(WalRecord::Metrics { tenant, write }) => {
                store.apply(&tenant, &write, true);
                records += 1;
            }
            Ok(WalRecord::Traces { .. }) => {
                tracing::warn!("skipping a trace record found in the metric WAL")
            }
            Ok(WalRecord::Unknown(kind)) => {
                tracing::warn!(kind, "skipping WAL record of an unknown kind")
            }
            Err(err) => tracing::error!(%err, "skipping undecodable metric WAL record"),
        }
        Ok::<(), WalError>(())
    })
    .map_err(|e: WalError| IngestError::Storage(format!("metric WAL replay failed: {e}")))?;
    Ok((wal, records))
}
