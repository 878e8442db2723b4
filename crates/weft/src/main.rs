//! `weft`: one binary that receives, stores and serves traces (metrics and logs to follow).
//!
//! Wiring: [`config`] loads the typed configuration; `serve` opens the trace store, replays the
//! WAL into it, starts the OTLP receivers (gRPC and HTTP) and the query API, runs background
//! maintenance, and on SIGTERM/SIGINT shuts down in order: stop accepting, drain, cut heads
//! into blocks, close the WAL, exit 0.

/// jemalloc: ingest allocates and frees many large short-lived buffers per request; glibc's
/// allocator returned that memory to the kernel and faulted it back in (8% of ingest CPU in
/// profiles).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start (the `_rjem_` prefix is tikv-jemalloc-sys' symbol
/// prefix). Background threads purge freed pages while the server is idle; by default
/// jemalloc purges only during later allocations, so after a head cut an idle server kept
/// the memory of the samples it had just written (≈ 5 KB per series) until traffic resumed.
/// Dirty pages are returned after about a second and not kept as "muzzy" pages.
#[export_name = "_rjem_malloc_conf"]
pub static JEMALLOC_CONF: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

mod config;
mod reference;
mod scraping;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "All-in-one observability backend: OTLP in, Tempo-compatible queries out"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve(ServeArgs),
    /// Validate a configuration file and print the effective configuration.
    CheckConfig {
        /// The YAML file to check.
        file: PathBuf,
    },
    /// Print the configuration reference (docs/configuration.md) generated from the types.
    ConfigReference,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// YAML configuration file; without it the embedded defaults are used.
    #[arg(long, short = 'c', env = "WEFT_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Query API address (overrides `server.http_addr`).
    #[arg(long)]
    http_addr: Option<std::net::SocketAddr>,
    /// OTLP/gRPC address (overrides `receivers.otlp_grpc_addr`).
    #[arg(long)]
    otlp_grpc_addr: Option<std::net::SocketAddr>,
    /// OTLP/HTTP address (overrides `receivers.otlp_http_addr`).
    #[arg(long)]
    otlp_http_addr: Option<std::net::SocketAddr>,
    /// Log filter (overrides `log_level`).
    #[arg(long)]
    log_level: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => run_serve(args),
        Command::CheckConfig { file } => check_config(&file),
        Command::ConfigReference => {
            print!("{}", reference::render());
            ExitCode::SUCCESS
        }
    }
}

fn run_serve(args: ServeArgs) -> ExitCode {
    let flags = config::FlagOverrides {
        data_dir: args.data_dir,
        log_level: args.log_level,
        http_addr: args.http_addr,
        otlp_grpc_addr: args.otlp_grpc_addr,
        otlp_http_addr: args.otlp_http_addr,
    };
    let cfg = match config::load(args.config.as_deref(), &flags) {
        Ok(cfg) => cfg,
        Err(err) => {
            eprintln!("weft: {err}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cfg.log_level);
    match serve::run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("weft: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match config::load(Some(file), &config::FlagOverrides::default()) {
        Ok(cfg) => {
            println!("{}: OK", file.display());
            match serde_yaml::to_string(&cfg) {
                Ok(yaml) => print!("{yaml}"),
                Err(err) => eprintln!("(could not print the effective configuration: {err})"),
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{}: {err}", file.display());
            ExitCode::from(2)
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
