//! Command-line interface.

use anyhow::{ensure, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Without `--duration` or `--total-spans` a run lasts this long.
const DEFAULT_DURATION_SECS: f64 = 10.0;
/// With only `--total-spans`, a slow or stuck server still cannot make the
/// run last longer than this: the tool must always stop by itself.
const TOTAL_SPANS_TIME_CAP_SECS: f64 = 600.0;

#[derive(Parser)]
#[command(
    name = "otlp-loadgen",
    version,
    about = "OTLP/gRPC trace load generator (default) and trace-by-ID lookup benchmark",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub send: SendArgs,
}

#[derive(Subcommand)]
pub enum Command {
    /// Time `GET /api/traces/<id>` for a random sample of IDs written by `--ids-out`.
    Lookup(LookupArgs),
    /// A no-op OTLP/gRPC receiver, to measure the load generator itself.
    Sink(SinkArgs),
}

#[derive(Args)]
pub struct SendArgs {
    /// OTLP/gRPC endpoint (plain-text HTTP/2).
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    pub endpoint: String,
    /// Target spans per second; 0 sends as fast as the server acknowledges.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Stop after this many seconds [default: 10, or a 600 s safety cap with --total-spans].
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after sending exactly this many spans.
    #[arg(long)]
    pub total_spans: Option<u64>,
    /// Export calls in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Spans per Export request, made of whole traces.
    #[arg(long, default_value_t = 500)]
    pub batch_spans: usize,
    /// Tenant, sent as `X-Scope-OrgID` metadata.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Number of distinct services (service.name values).
    #[arg(long, default_value_t = 10)]
    pub services: usize,
    /// RNG seed for the traffic [default: random, printed at start].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Send gzip-compressed requests.
    #[arg(long)]
    pub gzip: bool,
    /// Append the hex trace IDs of acknowledged traces to FILE, one per line.
    #[arg(long, value_name = "FILE")]
    pub ids_out: Option<PathBuf>,
    /// With --ids-out, write only every k-th trace ID.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub ids_sample: u64,
    /// Exit 0 even if requests failed or spans were rejected.
    #[arg(long)]
    pub allow_errors: bool,
    /// Generate and encode without sending; reports generation speed.
    #[arg(long)]
    pub dry_run: bool,
    /// Tokio worker threads (1 leaves the other cores to the server).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Seconds between progress lines on stderr.
    #[arg(long, default_value_t = 5.0)]
    pub report_every: f64,
}

impl SendArgs {
    pub fn validate(&self) -> Result<()> {
        ensure!(self.concurrency >= 1, "--concurrency must be at least 1");
        ensure!(self.batch_spans >= 1, "--batch-spans must be at least 1");
        // Services are stored as u16 in the per-span plan.
        ensure!(
            (2..=10_000).contains(&self.services),
            "--services must be between 2 and 10000"
        );
        ensure!(self.ids_sample >= 1, "--ids-sample must be at least 1");
        ensure!(self.threads >= 1, "--threads must be at least 1");
        ensure!(self.timeout > 0.0, "--timeout must be positive");
        ensure!(self.report_every > 0.0, "--report-every must be positive");
        if let Some(d) = self.duration {
            ensure!(
                d > 0.0 && d.is_finite(),
                "--duration must be a positive number of seconds"
            );
        }
        ensure!(
            self.dry_run || self.endpoint.starts_with("http://"),
            "--endpoint must be a plain-text http:// URL"
        );
        Ok(())
    }

    /// How long the run may last at most.
    pub fn time_limit(&self) -> Duration {
        let secs = match (self.duration, self.total_spans) {
            (Some(d), _) => d,
            (None, Some(_)) => TOTAL_SPANS_TIME_CAP_SECS,
            (None, None) => DEFAULT_DURATION_SECS,
        };
        Duration::from_secs_f64(secs)
    }
}

#[derive(Args)]
pub struct LookupArgs {
    /// Base URL of the query API (http://host:port).
    #[arg(long, default_value = "http://127.0.0.1:3200")]
    pub url: String,
    /// File of hex trace IDs, one per line (from `--ids-out`).
    #[arg(long, value_name = "FILE")]
    pub ids: PathBuf,
    /// Number of distinct IDs to look up (sampled at random).
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Parallel connections, each doing sequential keep-alive requests.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Tenant, sent as `X-Scope-OrgID`.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Value of the Accept header.
    #[arg(long, default_value = "application/protobuf")]
    pub accept: String,
    /// RNG seed for the sample [default: random].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Exit 0 even if some lookups failed or were not found.
    #[arg(long)]
    pub allow_errors: bool,
}

#[derive(Args)]
pub struct SinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4317")]
    pub listen: std::net::SocketAddr,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn runs_are_always_bounded() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            cli.send.time_limit()
        };
        assert_eq!(parse(&["x"]), Duration::from_secs(10));
        assert_eq!(
            parse(&["x", "--total-spans", "5"]),
            Duration::from_secs(600)
        );
        assert_eq!(
            parse(&["x", "--duration", "2.5"]),
            Duration::from_millis(2500)
        );
    }

    #[test]
    fn subcommands_parse() {
        let cli = Cli::try_parse_from(["x", "lookup", "--ids", "f", "--count", "5"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Lookup(ref a)) if a.count == 5));
        assert!(Cli::try_parse_from(["x", "--rate", "5", "lookup", "--ids", "f"]).is_err());
    }
}
