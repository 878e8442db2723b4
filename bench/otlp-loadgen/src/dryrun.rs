//! `--dry-run`: generate and encode on the calling thread without sending,
//! to measure what one core can produce independently of any server.

use crate::cli::SendArgs;
use crate::gen::Generator;
use crate::send::worker_seed;
use crate::stats::thousands;
use crate::world::World;
use anyhow::Result;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn run(args: &SendArgs, world: Arc<World>, seed: u64) -> Result<bool> {
    let mut gen = Generator::new(world, worker_seed(seed, 0));
    let limit = args.time_limit();
    let total = args.total_spans.unwrap_or(u64::MAX);
    // tonic's gzip uses level 6, so the compressed size and cost match `--gzip`.
    let (mut spans, mut bytes, mut gz_bytes) = (0u64, 0u64, 0u64);
    let mut gz_time = Duration::ZERO;
    let start = Instant::now();
    while spans < total && start.elapsed() < limit {
        let n = (total - spans).min(args.batch_spans as u64);
        let batch = black_box(gen.next_batch(n as usize));
        bytes += batch.len() as u64;
        if args.gzip {
            let t = Instant::now();
            let mut enc = GzEncoder::new(Vec::with_capacity(batch.len() / 4), Compression::new(6));
            enc.write_all(batch)?;
            gz_bytes += enc.finish()?.len() as u64;
            gz_time += t.elapsed();
        }
        spans += n;
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let gen_secs = (secs - gz_time.as_secs_f64()).max(1e-9);
    print_report(
        args,
        spans,
        bytes,
        gen_secs,
        args.gzip.then_some((gz_bytes, secs)),
    );
    Ok(true)
}

fn print_report(args: &SendArgs, spans: u64, bytes: u64, gen_secs: f64, gz: Option<(u64, f64)>) {
    let per_span = bytes as f64 / spans.max(1) as f64;
    let rate = spans as f64 / gen_secs;
    println!(
        "otlp-loadgen dry run: {} spans in batches of {}, {} services, 1 thread",
        thousands(spans),
        args.batch_spans,
        args.services
    );
    println!(
        "  generate+encode  {} spans/s ({:.0} MB/s, {per_span:.0} B/span)",
        thousands(rate as u64),
        rate * per_span / 1e6
    );
    let mut result =
        format!("RESULT spans={spans} gen_rate={rate:.0} bytes_per_span={per_span:.1}");
    if let Some((gz_bytes, total_secs)) = gz {
        let gz_per_span = gz_bytes as f64 / spans.max(1) as f64;
        let gz_rate = spans as f64 / total_secs;
        println!(
            "  + gzip level 6   {} spans/s ({gz_per_span:.0} B/span, ratio {:.1}x)",
            thousands(gz_rate as u64),
            per_span / gz_per_span.max(1e-9)
        );
        result += &format!(" gzip_rate={gz_rate:.0} gzip_bytes_per_span={gz_per_span:.1}");
    }
    println!("{result}");
}
