//! The write path shared by every receiver: validate → WAL (durable) → stores → acknowledge.
//!
//! The pipeline also owns the moments that must line up with WAL segment boundaries: cutting
//! the trace heads into blocks and deleting WAL segments the blocks now cover. A read/write
//! gate makes "append to the WAL and apply to the head" atomic with respect to a cut, so a
//! cut's heads hold exactly the records of the segments before the rotation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use prost::Message;
use weft_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weft_core::telemetry::SelfMetrics;
use weft_core::time::{now_unix_nanos, AcceptWindow};
use weft_core::TenantId;
use weft_servicegraph::Generators;
use weft_traces::raw::RawBatch;
use weft_traces::{CutHeads, TraceStore};
use weft_wal::{Position, Wal, WalError, WalOptions};

use crate::record::{self, WalRecord};
use crate::validate::{check_raw, validate_traces};
use crate::IngestError;

/// Result of an accepted trace write; a non-zero `rejected` becomes an OTLP partial success.
#[derive(Debug, Default, PartialEq)]
pub struct WriteOutcome {
    pub accepted: u64,
    pub rejected: u64,
    pub message: Option<String>,
}

/// A cut whose blocks could not be written yet; retried before any newer cut so the
/// checkpoint never moves past data that is only in memory.
struct PendingCut {
    heads: CutHeads,
    wal_segment: u64,
}

/// The ingest pipeline. Cheap to share behind an `Arc`.
pub struct Pipeline {
    wal: Arc<Wal>,
    traces: Arc<TraceStore>,
    metrics: Arc<SelfMetrics>,
    window: AcceptWindow,
    /// Shared by writers (append + apply), exclusive for a cut.
    gate: tokio::sync::RwLock<()>,
    pending_cut: Mutex<Option<PendingCut>>,
    cut_lock: tokio::sync::Mutex<()>,
    /// Wakes the maintenance loop when a write found memory or disk full.
    cut_now: tokio::sync::Notify,
    closing: AtomicBool,
    /// The service-graph / span-metrics generators, fed every durable trace batch.
    graph: std::sync::OnceLock<Arc<Mutex<Generators>>>,
}

impl Pipeline {
    pub fn new(
        wal: Arc<Wal>,
        traces: Arc<TraceStore>,
        metrics: Arc<SelfMetrics>,
        window: AcceptWindow,
    ) -> Arc<Self> {
        Arc::new(Self {
            wal,
            traces,
            metrics,
            window,
            gate: tokio::sync::RwLock::new(()),
            pending_cut: Mutex::new(None),
            cut_lock: tokio::sync::Mutex::new(()),
            cut_now: tokio::sync::Notify::new(),
            closing: AtomicBool::new(false),
            graph: std::sync::OnceLock::new(),
        })
    }

    /// Feeds every trace batch stored from now on to `generators` (after it is durable, so
    /// derived metrics count only acknowledged spans).
    pub fn set_service_graph(&self, generators: Arc<Mutex<Generators>>) {
        let _ = self.graph.set(generators);
    }

    pub fn metrics(&self) -> &Arc<SelfMetrics> {
        &self.metrics
    }

    /// Validates, makes durable and stores a trace export given as protobuf
    /// `ExportTraceServiceRequest` bytes. Returns only after the accepted spans are in the WAL
    /// under its fsync policy, so an `Ok` may be acknowledged.
    pub async fn write_traces(
        &self,
        tenant: &TenantId,
        body: Bytes,
        transport: &'static str,
    ) -> Result<WriteOutcome, IngestError> {
        self.check_pressure()?;
        self.check_disk_budget(body.len() as u64).await?;
        let now = now_unix_nanos();
        let batch = parse_request(&body)?;
        let (accepted, rejections) = check_raw(&batch, &self.window, now);
        for (reason, n) in &rejections.by_reason {
            self.metrics.refuse("traces", reason, *n);
        }
        let outcome = WriteOutcome {
            accepted,
            rejected: rejections.total(),
            message: rejections.first_message,
        };
        if accepted == 0 {
            return match outcome.message {
                Some(message) => Err(IngestError::BadRequest(message)),
                None => Ok(outcome), // an empty request succeeds (OTLP spec)
            };
        }
        if outcome.rejected == 0 {
            self.commit_traces(tenant, &body, &batch).await?;
        } else {
            // Rare path: rebuild the request without the invalid spans, so the WAL and the
            // store only ever see valid ones.
            drop(batch);
            let filtered = drop_invalid_spans(&body, &self.window, now)?;
            self.commit_traces(tenant, &filtered, &parse_request(&filtered)?)
                .await?;
        }
        self.metrics
            .accept("traces", transport, tenant.as_str(), accepted);
        Ok(outcome)
    }

    /// WAL first (group commit), then the store, under the shared side of the gate.
    async fn commit_traces(
        &self,
        tenant: &TenantId,
        body: &[u8],
        batch: &RawBatch<'_>,
    ) -> Result<(), IngestError> {
        let record = Bytes::from(record::encode_traces(tenant, body));
        let _shared = self.gate.read().await;
        self.wal.append(record).await.map_err(|e| {
            self.metrics
                .refuse("traces", wal_reason(&e), batch.span_count() as u64);
            wal_error(e)
        })?;
        self.traces.apply(tenant, batch);
        if let Some(graph) = self.graph.get() {
            graph.lock().push(tenant, batch, now_unix_nanos());
        }
        Ok(())
    }

    fn check_pressure(&self) -> Result<(), IngestError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(unavailable("the server is shutting down", 5));
        }
        // The head is cut at head_max_bytes; twice that means cuts are not keeping up, and
        // accepting more would only grow memory.
        let head_limit = 2 * self.traces.config().head_max_bytes.as_u64() as usize;
        if self.traces.head_bytes() > head_limit {
            self.cut_now.notify_one();
            return Err(unavailable(
                "the in-memory trace head is full while blocks are being written",
                2,
            ));
        }
        Ok(())
    }

    /// Bytes the disk budget must keep free besides the blocks: the WAL (with `incoming`),
    /// and as much again for the block the next cut writes before it deletes WAL segments.
    fn reserved_bytes(&self, incoming: u64) -> u64 {
        2 * (self.wal.stats().disk_bytes + incoming)
    }

    /// Keeps blocks + reserved space within `traces.max_bytes`: deletes the oldest blocks to
    /// make room for `incoming` bytes, and refuses (retryable) when even that cannot, so
    /// the data directory never outgrows its budget.
    async fn check_disk_budget(&self, incoming: u64) -> Result<(), IngestError> {
        let budget = self.traces.config().max_bytes.as_u64();
        if budget == 0 || self.traces.block_bytes() + self.reserved_bytes(incoming) <= budget {
            return Ok(());
        }
        self.enforce_retention_with(self.reserved_bytes(incoming))
            .await;
        if self.traces.block_bytes() + self.reserved_bytes(incoming) <= budget {
            return Ok(());
        }
        // Only the WAL is left to shrink: a cut turns it into (smaller) blocks.
        self.cut_now.notify_one();
        Err(unavailable(
            "the trace store reached its disk budget (traces.max_bytes) and is writing blocks to make room",
            1,
        ))
    }

    /// Cuts the trace heads into blocks now (if they hold anything), then deletes WAL
    /// segments that are fully in blocks.
    pub async fn cut(&self) -> Result<(), IngestError> {
        let _one_cut_at_a_time = self.cut_lock.lock().await;
        self.retry_pending_cut().await?;
        let pending = {
            let _exclusive = self.gate.write().await;
            let wal = self.wal.clone();
            let wal_segment = tokio::task::spawn_blocking(move || wal.rotate())
                .await
                .map_err(|e| IngestError::Storage(format!("WAL rotation task failed: {e}")))?
                .map_err(wal_error)?;
            PendingCut {
                heads: self.traces.cut_heads(),
                wal_segment,
            }
        };
        *self.pending_cut.lock() = Some(pending);
        self.retry_pending_cut().await
    }

    async fn retry_pending_cut(&self) -> Result<(), IngestError> {
        let Some(pending) = self.pending_cut.lock().take() else {
            return Ok(());
        };
        let traces = self.traces.clone();
        let result = tokio::task::spawn_blocking(move || {
            let outcome = traces.write_cut(&pending.heads, pending.wal_segment);
            (pending, outcome)
        })
        .await
        .map_err(|e| IngestError::Storage(format!("block writer task failed: {e}")))?;
        let (pending, outcome) = result;
        if let Err(err) = outcome {
            tracing::error!(%err, "writing trace blocks failed; data stays in the WAL and will be retried");
            *self.pending_cut.lock() = Some(pending);
            return Err(IngestError::Storage(err.to_string()));
        }
        self.remove_covered_segments();
        // A cut adds blocks: apply the byte budget right away rather than at the next
        // maintenance round, so the data directory does not overshoot in between.
        self.enforce_retention().await;
        Ok(())
    }

    async fn enforce_retention(&self) {
        self.enforce_retention_with(self.reserved_bytes(0)).await
    }

    async fn enforce_retention_with(&self, reserved_bytes: u64) {
        let traces = self.traces.clone();
        let result = tokio::task::spawn_blocking(move || {
            traces.enforce_retention(now_unix_nanos(), reserved_bytes)
        })
        .await;
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!(%err, "trace retention failed"),
            Err(err) => tracing::warn!(%err, "trace retention task failed"),
        }
    }

    fn remove_covered_segments(&self) {
        let checkpoint = self.traces.wal_checkpoint();
        if let Err(err) = self.wal.remove_segments_before(checkpoint) {
            tracing::warn!(%err, checkpoint, "could not delete old WAL segments");
        }
    }

    /// One round of background work: cut when due, compact, enforce retention.
    pub async fn maintain(&self, compact_and_retain: bool) {
        if self.traces.cut_due() || self.wal_over_share() || self.pending_cut.lock().is_some() {
            if let Err(err) = self.cut().await {
                tracing::warn!(%err, "trace head cut failed");
            }
        }
        if !compact_and_retain {
            return;
        }
        let traces = self.traces.clone();
        let reserved = self.reserved_bytes(0);
        match tokio::task::spawn_blocking(move || traces.compact(reserved)).await {
            Ok(Ok(compacted)) if compacted > 0 => tracing::debug!(compacted, "trace compaction"),
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!(%err, "trace compaction failed"),
            Err(err) => tracing::warn!(%err, "trace compaction task failed"),
        }
        self.enforce_retention().await;
    }

    /// With a disk budget, the WAL (which a cut turns into blocks) is kept to a quarter of it.
    fn wal_over_share(&self) -> bool {
        let budget = self.traces.config().max_bytes.as_u64();
        budget > 0 && self.wal.stats().disk_bytes > budget / 4
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
    /// blocks so the next start replays little, and close the WAL.
    pub async fn shutdown(&self) -> Result<(), IngestError> {
        self.closing.store(true, Ordering::Release);
        drop(self.gate.write().await);
        let cut_result = self.cut().await;
        self.wal.close().await.map_err(wal_error)?;
        cut_result
    }
}

/// Calls `round` every second (and when `wake` is notified) until `shutdown` flips to true;
/// `round(true)` at most once per `interval` for the heavier work (compaction, retention).
pub(crate) async fn maintenance_loop<F, Fut>(
    interval: Duration,
    wake: &tokio::sync::Notify,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut round: F,
) where
    F: FnMut(bool) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_full = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        let full = last_full.elapsed() >= interval;
        if full {
            last_full = tokio::time::Instant::now();
        }
        round(full).await;
    }
}

/// Opens the WAL, replaying into the stores every record at or after their checkpoint, and
/// returns it ready for appends together with the number of records replayed.
pub fn open_wal_and_replay(
    wal_dir: &std::path::Path,
    options: WalOptions,
    traces: &TraceStore,
) -> Result<(Wal, u64), IngestError> {
    let from = Position {
        segment: traces.wal_checkpoint(),
        offset: 0,
    };
    let mut records = 0u64;
    let (wal, _stats) = Wal::open_and_replay(wal_dir, options, from, |_position, payload| {
        match record::decode(payload) {
            Ok(WalRecord::Traces { tenant, body }) => match RawBatch::parse(body) {
                Ok(batch) => {
                    traces.apply(&tenant, &batch);
                    records += 1;
                }
                Err(err) => {
                    tracing::error!(%err, "skipping WAL record whose trace batch does not parse")
                }
            },
            Ok(WalRecord::Metrics { .. }) => {
                tracing::warn!("skipping a metric record found in the trace WAL")
            }
            Ok(WalRecord::Unknown(kind)) => {
                tracing::warn!(kind, "skipping WAL record of an unknown kind")
            }
            Err(err) => tracing::error!(%err, "skipping undecodable WAL record"),
        }
        Ok::<(), WalError>(())
    })
    .map_err(|e: WalError| IngestError::Storage(format!("WAL replay failed: {e}")))?;
    Ok((wal, records))
}

fn parse_request(body: &[u8]) -> Result<RawBatch<'_>, IngestError> {
    RawBatch::parse(body).map_err(|e| {
        IngestError::BadRequest(format!(
            "invalid OTLP protobuf ExportTraceServiceRequest: {e}"
        ))
    })
}

fn drop_invalid_spans(
    body: &[u8],
    window: &AcceptWindow,
    now: u64,
) -> Result<Vec<u8>, IngestError> {
    let mut request = ExportTraceServiceRequest::decode(body).map_err(|e| {
        IngestError::BadRequest(format!(
            "invalid OTLP protobuf ExportTraceServiceRequest: {e}"
        ))
    })?;
    validate_traces(&mut request.resource_spans, window, now);
    Ok(request.encode_to_vec())
}

pub(crate) fn unavailable(reason: &str, retry_secs: u64) -> IngestError {
    IngestError::Unavailable {
        reason: reason.to_string(),
        retry_after: Duration::from_secs(retry_secs),
    }
}

pub(crate) fn wal_reason(err: &WalError) -> &'static str {
    if err.is_retryable() {
        "wal_pressure"
    } else {
        "wal_error"
    }
}

pub(crate) fn wal_error(err: WalError) -> IngestError {
    if matches!(err, WalError::Backpressure { .. }) {
        return unavailable(&err.to_string(), 1);
    }
    IngestError::Storage(err.to_string())
}
