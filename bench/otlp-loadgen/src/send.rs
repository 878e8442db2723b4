//! The load generator proper: `--concurrency` workers, each generating a
//! batch, exporting it and recording the outcome, until the span budget or
//! the time limit runs out.

use crate::cli::SendArgs;
use crate::codec::{ExportCodec, EXPORT_PATH};
use crate::gen::Generator;
use crate::stats::{thousands, Histogram, Snapshot};
use crate::world::World;
use anyhow::{Context, Result};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::bytes::Bytes;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tonic::codec::CompressionEncoding;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

const FAILURE_BACKOFF: Duration = Duration::from_millis(100);

/// Spans left to send; shared by all workers so `--total-spans` is exact.
struct Budget(AtomicU64);

impl Budget {
    fn new(total: Option<u64>) -> Budget {
        Budget(AtomicU64::new(total.unwrap_or(u64::MAX)))
    }

    /// Takes up to `want` spans; 0 once the budget is spent.
    fn claim(&self, want: u64) -> u64 {
        self.0
            .fetch_update(Relaxed, Relaxed, |left| {
                (left > 0).then(|| left - left.min(want))
            })
            .map_or(0, |left| left.min(want))
    }
}

/// Open-loop pacing for `--rate`: batch k may start once the spans before it
/// are due, whatever the latency of earlier requests.
struct Pacer {
    start: Instant,
    spans_per_sec: f64,
    scheduled: AtomicU64,
}

impl Pacer {
    fn slot(&self, spans: u64) -> Instant {
        let before = self.scheduled.fetch_add(spans, Relaxed);
        self.start + Duration::from_secs_f64(before as f64 / self.spans_per_sec)
    }
}

#[derive(Default)]
struct Counters {
    spans_sent: AtomicU64,
    spans_acked: AtomicU64,
    spans_rejected: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
    latency: Histogram,
    /// Failed requests by gRPC code name, and the first error seen.
    failures: Mutex<(BTreeMap<String, u64>, Option<String>)>,
}

impl Counters {
    fn failed_requests(&self) -> u64 {
        self.failures.lock().unwrap().0.values().sum()
    }
}

struct Shared {
    budget: Budget,
    deadline: Instant,
    pacer: Option<Pacer>,
    batch_spans: u64,
    tenant: Option<AsciiMetadataValue>,
    gzip: bool,
    ids_out: Option<Mutex<BufWriter<File>>>,
    ids_sample: u64,
    stats: Counters,
}

pub async fn run(args: &SendArgs, world: Arc<World>, seed: u64) -> Result<bool> {
    let channel = connect(args).await?;
    let start = Instant::now();
    let shared = Arc::new(shared_state(args, start)?);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|i| {
            let gen = Generator::new(world.clone(), worker_seed(seed, i));
            tokio::spawn(worker(shared.clone(), channel.clone(), gen))
        })
        .collect();
    let reporter = tokio::spawn(report_progress(
        shared.clone(),
        start,
        Duration::from_secs_f64(args.report_every),
    ));
    for w in workers {
        w.await.context("worker panicked")??;
    }
    let elapsed = start.elapsed();
    reporter.abort();
    if let Some(ids) = &shared.ids_out {
        ids.lock().unwrap().flush().context("flushing --ids-out")?;
    }
    print_summary(args, seed, &shared.stats, elapsed);
    let s = &shared.stats;
    let clean = s.failed_requests() == 0 && s.spans_rejected.load(Relaxed) == 0;
    Ok(clean || args.allow_errors)
}

/// Distinct, reproducible streams per worker.
pub fn worker_seed(seed: u64, worker: usize) -> u64 {
    seed ^ (worker as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

async fn connect(args: &SendArgs) -> Result<Channel> {
    Endpoint::from_shared(args.endpoint.clone())
        .context("invalid --endpoint")?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs_f64(args.timeout))
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to {}", args.endpoint))
}

fn shared_state(args: &SendArgs, start: Instant) -> Result<Shared> {
    let tenant = match &args.tenant {
        Some(t) => Some(t.parse().context("--tenant is not a valid header value")?),
        None => None,
    };
    let ids_out = match &args.ids_out {
        Some(path) => {
            let f = File::options()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            Some(Mutex::new(BufWriter::new(f)))
        }
        None => None,
    };
    Ok(Shared {
        budget: Budget::new(args.total_spans),
        deadline: start + args.time_limit(),
        pacer: (args.rate > 0).then(|| Pacer {
            start,
            spans_per_sec: args.rate as f64,
            scheduled: AtomicU64::new(0),
        }),
        batch_spans: args.batch_spans as u64,
        tenant,
        gzip: args.gzip,
        ids_out,
        ids_sample: args.ids_sample,
        stats: Counters::default(),
    })
}

async fn worker(shared: Arc<Shared>, channel: Channel, mut gen: Generator) -> Result<()> {
    let mut grpc = tonic::client::Grpc::new(channel);
    if shared.gzip {
        grpc = grpc.send_compressed(CompressionEncoding::Gzip);
    }
    let mut traces_seen = 0u64;
    let mut line = Vec::new();
    while Instant::now() < shared.deadline {
        let n = shared.budget.claim(shared.batch_spans);
        if n == 0 {
            break;
        }
        if let Some(pacer) = &shared.pacer {
            let at = pacer.slot(n);
            if at >= shared.deadline {
                break;
            }
            tokio::time::sleep_until(at).await;
        }
        // tonic copies the message into its own buffer anyway; copying here
        // lets the generator keep and reuse its buffer.
        let body = Bytes::copy_from_slice(gen.next_batch(n as usize));
        let started = Instant::now();
        let outcome = export(&mut grpc, body.clone(), shared.tenant.as_ref()).await;
        record(&shared.stats, n, body.len(), started.elapsed(), &outcome);
        if outcome.is_err() {
            // Don't spin generating batches for a server that is down.
            tokio::time::sleep(FAILURE_BACKOFF).await;
        }
        if let (Ok(_), Some(out)) = (&outcome, &shared.ids_out) {
            line.clear();
            for id in gen.trace_ids() {
                if traces_seen % shared.ids_sample == 0 {
                    let mut hex = [0u8; 32];
                    hex::encode_to_slice(id, &mut hex).expect("32 bytes fit 16 hex-encoded");
                    line.extend_from_slice(&hex);
                    line.push(b'\n');
                }
                traces_seen += 1;
            }
            out.lock()
                .unwrap()
                .write_all(&line)
                .context("writing --ids-out")?;
        }
    }
    Ok(())
}

async fn export(
    grpc: &mut tonic::client::Grpc<Channel>,
    body: Bytes,
    tenant: Option<&AsciiMetadataValue>,
) -> Result<ExportTraceServiceResponse, Status> {
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("channel not ready: {e}")))?;
    let mut req = Request::new(body);
    if let Some(t) = tenant {
        req.metadata_mut().insert("x-scope-orgid", t.clone());
    }
    let path = PathAndQuery::from_static(EXPORT_PATH);
    grpc.unary(req, path, ExportCodec)
        .await
        .map(tonic::Response::into_inner)
}

fn record(
    s: &Counters,
    spans: u64,
    bytes: usize,
    latency: Duration,
    outcome: &Result<ExportTraceServiceResponse, Status>,
) {
    s.spans_sent.fetch_add(spans, Relaxed);
    s.requests.fetch_add(1, Relaxed);
    s.bytes.fetch_add(bytes as u64, Relaxed);
    s.latency.record(latency);
    match outcome {
        Ok(resp) => {
            let rejected = resp
                .partial_success
                .as_ref()
                .map_or(0, |p| p.rejected_spans.clamp(0, spans as i64) as u64);
            s.spans_acked.fetch_add(spans - rejected, Relaxed);
            s.spans_rejected.fetch_add(rejected, Relaxed);
        }
        Err(status) => {
            let mut f = s.failures.lock().unwrap();
            *f.0.entry(format!("{:?}", status.code())).or_default() += 1;
            f.1.get_or_insert_with(|| format!("{:?}: {}", status.code(), status.message()));
        }
    }
}

/// Prints a progress line every `every` until aborted.
async fn report_progress(shared: Arc<Shared>, start: Instant, every: Duration) {
    let s = &shared.stats;
    let mut last_snap = s.latency.snapshot();
    let mut last_acked = 0;
    let mut last_t = start;
    let mut tick = tokio::time::interval_at(start + every, every);
    loop {
        let now = tick.tick().await;
        let snap = s.latency.snapshot();
        let acked = s.spans_acked.load(Relaxed);
        let window = snap.since(&last_snap);
        let rate = (acked - last_acked) as f64 / (now - last_t).as_secs_f64();
        eprintln!(
            "[{:6.1}s] sent {} acked {} failed-req {} | {} spans/s | export p50 {:.1} ms p99 {:.1} ms",
            (now - start).as_secs_f64(),
            thousands(s.spans_sent.load(Relaxed)),
            thousands(acked),
            s.failed_requests(),
            thousands(rate as u64),
            window.percentile_ms(0.5),
            window.percentile_ms(0.99),
        );
        (last_snap, last_acked, last_t) = (snap, acked, now);
    }
}

fn print_summary(args: &SendArgs, seed: u64, s: &Counters, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let sent = s.spans_sent.load(Relaxed);
    let acked = s.spans_acked.load(Relaxed);
    let rejected = s.spans_rejected.load(Relaxed);
    let requests = s.requests.load(Relaxed);
    let bytes = s.bytes.load(Relaxed);
    let lat: Snapshot = s.latency.snapshot();
    let (by_code, first_error) = &*s.failures.lock().unwrap();
    let failed: u64 = by_code.values().sum();
    let rate = acked as f64 / secs;
    let target = match args.rate {
        0 => "unlimited".to_string(),
        r => format!("{} spans/s", thousands(r)),
    };
    println!(
        "otlp-loadgen: {} (seed {seed}, concurrency {}, batch {} spans, gzip {})",
        args.endpoint,
        args.concurrency,
        args.batch_spans,
        if args.gzip { "on" } else { "off" },
    );
    println!("  elapsed          {secs:.2} s");
    println!(
        "  spans sent       {} in {} requests ({:.1} MB, {:.0} B/span before compression)",
        thousands(sent),
        thousands(requests),
        bytes as f64 / 1e6,
        bytes as f64 / sent.max(1) as f64,
    );
    println!("  spans acked      {}", thousands(acked));
    println!(
        "  spans rejected   {} (partial_success)",
        thousands(rejected)
    );
    println!("  requests failed  {failed}{}", codes(by_code));
    if let Some(e) = first_error {
        println!("  first error      {e}");
    }
    println!(
        "  achieved rate    {} spans/s acked (target {target})",
        thousands(rate as u64)
    );
    println!(
        "  export latency   p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        lat.percentile_ms(0.5),
        lat.percentile_ms(0.99),
        lat.max_ms()
    );
    println!(
        "RESULT spans_sent={sent} spans_acked={acked} spans_rejected={rejected} requests={requests} \
         requests_failed={failed} bytes={bytes} elapsed_s={secs:.3} rate={rate:.0} p50_ms={:.3} p99_ms={:.3}",
        lat.percentile_ms(0.5),
        lat.percentile_ms(0.99),
    );
}

fn codes(by_code: &BTreeMap<String, u64>) -> String {
    if by_code.is_empty() {
        return String::new();
    }
    let parts: Vec<_> = by_code.iter().map(|(c, n)| format!("{c}: {n}")).collect();
    format!(" ({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_exact() {
        let b = Budget::new(Some(1234));
        let mut total = 0;
        loop {
            let n = b.claim(500);
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, 1234);
        assert_eq!(Budget::new(None).claim(500), 500);
    }

    #[test]
    fn pacer_spaces_batches() {
        let start = Instant::now();
        let p = Pacer {
            start,
            spans_per_sec: 1000.0,
            scheduled: AtomicU64::new(0),
        };
        assert_eq!(p.slot(500), start);
        assert_eq!(p.slot(500), start + Duration::from_millis(500));
        assert_eq!(p.slot(500), start + Duration::from_secs(1));
    }
}
