//! `rw-loadgen`: Prometheus remote-write load generator (node-exporter-like
//! series, pre-encoded before timing) and PromQL range-query latency probe.
//! See `bench/README.md`.

mod encode;
mod fleet;
mod http;
mod query;
mod send;

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "rw-loadgen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate and encode requests into a file (or, with --dry-run, only measure).
    Gen(GenArgs),
    /// Send the requests of a file to a remote-write endpoint.
    Send(SendArgs),
    /// Time a PromQL range query.
    Query(QueryArgs),
}

#[derive(Args)]
pub struct GenArgs {
    /// Output file of pre-encoded requests.
    #[arg(long, required_unless_present = "dry_run")]
    out: Option<PathBuf>,
    /// Hosts; each exports 8 × cpus + 71 series (103 with --cpus 4).
    #[arg(long, default_value_t = 100)]
    hosts: u32,
    /// CPUs per host (8 node_cpu_seconds_total series each).
    #[arg(long, default_value_t = 4)]
    cpus: u32,
    /// Scrape interval in ms.
    #[arg(long, default_value_t = 15_000)]
    interval_ms: i64,
    /// Timestamp of sample 0, ms since the epoch (default: now − samples × interval).
    #[arg(long)]
    start_ms: Option<i64>,
    /// First sample index to generate (values continue from sample 0).
    #[arg(long, default_value_t = 0)]
    from_sample: u64,
    /// Samples per series to generate.
    #[arg(long, default_value_t = 240)]
    samples: u64,
    /// Samples of each series in one request.
    #[arg(long, default_value_t = 1)]
    samples_per_series: u64,
    /// Series in one request.
    #[arg(long, default_value_t = 2000)]
    series_per_request: usize,
    /// ± jitter of scrape timestamps, ms.
    #[arg(long, default_value_t = 2)]
    jitter_ms: i64,
    /// Seed of the values; the fleet's labels do not depend on it.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Encode only, report speed and sizes.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
pub struct SendArgs {
    /// File written by `gen`.
    #[arg(long)]
    file: PathBuf,
    /// Remote-write URL.
    #[arg(long, default_value = "http://127.0.0.1:9090/api/v1/write")]
    url: String,
    /// Requests in flight (one connection and thread each).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Most rounds a sender may be ahead of the slowest one.
    #[arg(long, default_value_t = 4)]
    max_lead: u32,
    /// Retries of a request answered 5xx/429 or failing in transport.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Stop sending after this many seconds.
    #[arg(long, default_value_t = 900.0)]
    max_seconds: f64,
    /// Only the first N requests of the file.
    #[arg(long)]
    limit_requests: Option<usize>,
    /// X-Scope-OrgID header.
    #[arg(long)]
    tenant: Option<String>,
    /// Exit 0 even if requests failed.
    #[arg(long)]
    allow_errors: bool,
}

#[derive(Args)]
pub struct QueryArgs {
    /// Base URL of the Prometheus API (http://host:port).
    #[arg(long)]
    url: String,
    #[arg(long)]
    query: String,
    /// Unix seconds.
    #[arg(long)]
    start: f64,
    /// Unix seconds.
    #[arg(long)]
    end: f64,
    /// Seconds.
    #[arg(long, default_value_t = 15.0)]
    step: f64,
    /// Timed runs.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Extra query parameter `k=v` (repeatable), e.g. nocache=1.
    #[arg(long)]
    param: Vec<String>,
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Gen(a) => gen(a),
        Command::Send(a) => send::run(a),
        Command::Query(a) => query::run(a),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rw-loadgen: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn gen(a: &GenArgs) -> Result<bool> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let start_ms = a
        .start_ms
        .unwrap_or(now_ms - (a.from_sample + a.samples) as i64 * a.interval_ms);
    let fleet = fleet::Fleet::new(
        a.hosts,
        a.cpus,
        a.seed,
        a.interval_ms,
        start_ms,
        a.jitter_ms,
    );
    let p = encode::GenParams {
        from_sample: a.from_sample,
        samples: a.samples,
        samples_per_series: a.samples_per_series,
        series_per_request: a.series_per_request,
    };
    let t = Instant::now();
    let st = if a.dry_run {
        encode::generate(&fleet, &p, |_, _, _, _| Ok(()))?
    } else {
        let path = a.out.as_ref().expect("clap requires --out");
        let mut w = BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        w.write_all(encode::MAGIC)?;
        let st = encode::generate(&fleet, &p, |r, c, n, b| {
            encode::write_record(&mut w, r, c, n, b)
        })?;
        w.flush()?;
        st
    };
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "rw-loadgen gen: {} series ({} hosts × {} series), {} samples each from #{} \
         ({} per series per request, {} series per request): {} requests in {} rounds, {} samples, \
         {:.1} raw / {:.2} snappy bytes per sample, {:.0} samples/s encoding",
        fleet.series.len(),
        a.hosts,
        fleet.series.len() / a.hosts.max(1) as usize,
        a.samples,
        a.from_sample,
        a.samples_per_series,
        a.series_per_request,
        st.requests,
        st.rounds,
        st.samples,
        st.raw_bytes as f64 / st.samples.max(1) as f64,
        st.wire_bytes as f64 / st.samples.max(1) as f64,
        st.samples as f64 / secs.max(1e-9)
    );
    println!(
        "RESULT series={} samples={} requests={} rounds={} chunks={} raw_bytes={} wire_bytes={} first_ts_ms={} last_ts_ms={} start_ms={start_ms}",
        fleet.series.len(),
        st.samples,
        st.requests,
        st.rounds,
        st.chunks,
        st.raw_bytes,
        st.wire_bytes,
        st.first_ts,
        st.last_ts
    );
    Ok(true)
}
