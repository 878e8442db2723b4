//! `send`: replays a file of pre-encoded remote-write requests.
//!
//! Chunk `c` (a fixed slice of the series) always goes to worker `c mod
//! concurrency`, and each worker sends its requests in round order, so every
//! series' samples arrive in time order, as from Prometheus' sharded queue.
//! No worker may run more than `--max-lead` rounds ahead of the slowest, which
//! keeps all series within a few rounds of each other (Prometheus refuses
//! samples more than 1 h older than its newest one).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};

use crate::encode::{read_file, Request};
use crate::http::{parse_url, percentile_ms, Conn};
use crate::SendArgs;

#[derive(Default)]
struct Outcome {
    requests: u64,
    ok_requests: u64,
    samples_sent: u64,
    samples_acked: u64,
    failed_requests: u64,
    retries: u64,
    bytes: u64,
    codes: BTreeMap<String, u64>,
    latencies_us: Vec<u64>,
    first_error: Option<String>,
}

impl Outcome {
    fn merge(&mut self, o: Outcome) {
        self.requests += o.requests;
        self.ok_requests += o.ok_requests;
        self.samples_sent += o.samples_sent;
        self.samples_acked += o.samples_acked;
        self.failed_requests += o.failed_requests;
        self.retries += o.retries;
        self.bytes += o.bytes;
        for (k, v) in o.codes {
            *self.codes.entry(k).or_default() += v;
        }
        self.latencies_us.extend(o.latencies_us);
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
}

pub fn run(args: &SendArgs) -> Result<bool> {
    ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    let (addr, host, path) = parse_url(&args.url)?;
    let loaded = Instant::now();
    let requests = read_file(&args.file)?;
    ensure!(
        !requests.is_empty(),
        "{} holds no requests",
        args.file.display()
    );
    let limit = args.limit_requests.unwrap_or(usize::MAX);
    let requests = &requests[..requests.len().min(limit)];
    let c = args.concurrency;
    let mut per_worker: Vec<Vec<&Request>> = vec![Vec::new(); c];
    for r in requests {
        per_worker[r.chunk as usize % c].push(r);
    }
    let head_prefix = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rw-loadgen\r\nContent-Type: application/x-protobuf\r\n\
         Content-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n{}",
        args.tenant
            .as_ref()
            .map(|t| format!("X-Scope-OrgID: {t}\r\n"))
            .unwrap_or_default()
    );
    eprintln!(
        "rw-loadgen send: {} requests ({} samples) loaded in {:.2} s; sending to {} with concurrency {c}",
        requests.len(),
        requests.iter().map(|r| r.samples as u64).sum::<u64>(),
        loaded.elapsed().as_secs_f64(),
        args.url
    );
    let progress: Vec<AtomicU32> = (0..c).map(|_| AtomicU32::new(0)).collect();
    let stop = AtomicBool::new(false);
    let timeout = Duration::from_secs_f64(args.timeout);
    let deadline = Instant::now() + Duration::from_secs_f64(args.max_seconds);
    let start = Instant::now();
    let mut total = Outcome::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = per_worker
            .iter()
            .enumerate()
            .map(|(w, reqs)| {
                let (progress, stop, head_prefix) = (&progress, &stop, head_prefix.as_str());
                scope.spawn(move || {
                    let out = worker(
                        w,
                        reqs,
                        progress,
                        stop,
                        head_prefix,
                        addr,
                        timeout,
                        deadline,
                        args,
                    );
                    progress[w].store(u32::MAX, Ordering::Release);
                    out
                })
            })
            .collect();
        for h in handles {
            total.merge(h.join().expect("sender thread panicked"));
        }
    });
    let elapsed = start.elapsed();
    print_summary(args, &mut total, elapsed);
    Ok(args.allow_errors || total.failed_requests == 0)
}

#[allow(clippy::too_many_arguments)]
fn worker(
    w: usize,
    reqs: &[&Request],
    progress: &[AtomicU32],
    stop: &AtomicBool,
    head_prefix: &str,
    addr: std::net::SocketAddr,
    timeout: Duration,
    deadline: Instant,
    args: &SendArgs,
) -> Outcome {
    let mut conn = Conn::new(addr, timeout);
    let mut out = Outcome::default();
    for r in reqs {
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            stop.store(true, Ordering::Relaxed);
            break;
        }
        progress[w].store(r.round, Ordering::Release);
        // Wait for the slowest worker to be within max_lead rounds.
        while progress
            .iter()
            .map(|p| p.load(Ordering::Acquire))
            .min()
            .unwrap_or(u32::MAX)
            .saturating_add(args.max_lead)
            < r.round
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        let head = format!("{head_prefix}Content-Length: {}\r\n\r\n", r.body.len());
        out.requests += 1;
        out.samples_sent += r.samples as u64;
        out.bytes += r.body.len() as u64;
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = conn.request(head.as_bytes(), &r.body);
            let us = started.elapsed().as_micros() as u64;
            match result {
                Ok(resp) => {
                    *out.codes.entry(resp.status.to_string()).or_default() += 1;
                    if (200..300).contains(&resp.status) {
                        out.latencies_us.push(us);
                        out.ok_requests += 1;
                        out.samples_acked += r.samples as u64;
                        break;
                    }
                    let retryable = resp.status >= 500 || resp.status == 429;
                    if retryable && attempt < args.retries {
                        attempt += 1;
                        out.retries += 1;
                        std::thread::sleep(Duration::from_millis(100 << attempt.min(5)));
                        continue;
                    }
                    out.failed_requests += 1;
                    if out.first_error.is_none() {
                        let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(300)]);
                        out.first_error = Some(format!("HTTP {}: {}", resp.status, text.trim()));
                    }
                    break;
                }
                Err(e) => {
                    *out.codes.entry("io".into()).or_default() += 1;
                    if attempt < args.retries {
                        attempt += 1;
                        out.retries += 1;
                        std::thread::sleep(Duration::from_millis(100 << attempt.min(5)));
                        continue;
                    }
                    out.failed_requests += 1;
                    out.first_error.get_or_insert(format!("transport: {e}"));
                    break;
                }
            }
        }
    }
    out
}

fn print_summary(args: &SendArgs, o: &mut Outcome, elapsed: Duration) {
    o.latencies_us.sort_unstable();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = o.samples_acked as f64 / secs;
    let (p50, p99) = (
        percentile_ms(&o.latencies_us, 0.5),
        percentile_ms(&o.latencies_us, 0.99),
    );
    let max = o.latencies_us.last().map_or(0.0, |&v| v as f64 / 1000.0);
    let codes: Vec<String> = o.codes.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    let codes = if codes.is_empty() {
        "none".to_string()
    } else {
        codes.join(",")
    };
    eprintln!(
        "rw-loadgen send: {} (concurrency {})",
        args.url, args.concurrency
    );
    eprintln!("  elapsed          {secs:.2} s");
    eprintln!(
        "  requests         {} ({} ok, {} failed, {} retries)",
        o.requests, o.ok_requests, o.failed_requests, o.retries
    );
    eprintln!(
        "  samples          {} sent, {} acknowledged",
        o.samples_sent, o.samples_acked
    );
    eprintln!("  status codes     {codes}");
    eprintln!(
        "  rate             {rate:.0} samples/s, {:.1} MB/s on the wire",
        o.bytes as f64 / secs / 1e6
    );
    eprintln!("  latency          p50 {p50:.2} ms  p99 {p99:.2} ms  max {max:.2} ms (2xx)");
    if let Some(e) = &o.first_error {
        eprintln!("  first error      {e}");
    }
    println!(
        "RESULT requests={} ok={} failed={} retries={} samples_sent={} samples_acked={} codes={codes} \
         wire_bytes={} elapsed_s={secs:.3} rate={rate:.0} p50_ms={p50:.3} p99_ms={p99:.3} max_ms={max:.3}",
        o.requests, o.ok_requests, o.failed_requests, o.retries, o.samples_sent, o.samples_acked, o.bytes
    );
}
