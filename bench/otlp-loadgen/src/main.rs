//! `otlp-loadgen`: pushes realistic OTLP traces to a Weft (or any OTLP/gRPC)
//! endpoint and measures trace-by-ID lookups. See `bench/README.md`.

mod cli;
mod codec;
mod dryrun;
mod gen;
mod lookup;
mod pb;
mod send;
mod sink;
mod stats;
mod world;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command, SendArgs};
use rand::Rng;
use std::process::ExitCode;
use std::sync::Arc;

/// The simulated fleet does not depend on `--seed`: runs with different
/// seeds send different traffic from the same services, pods and routes.
const WORLD_SEED: u64 = 0x0077_eef7;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Lookup(args)) => lookup::run(args),
        Some(Command::Sink(args)) => runtime(1).and_then(|rt| rt.block_on(sink::run(args))),
        None => send(&cli.send),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("otlp-loadgen: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn send(args: &SendArgs) -> Result<bool> {
    args.validate()?;
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    let world = Arc::new(world::World::new(args.services, WORLD_SEED));
    if args.dry_run {
        return dryrun::run(args, world, seed);
    }
    eprintln!(
        "otlp-loadgen: seed {seed}; sending to {} for at most {:.0} s",
        args.endpoint,
        args.time_limit().as_secs_f64()
    );
    runtime(args.threads)?.block_on(send::run(args, world, seed))
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}
