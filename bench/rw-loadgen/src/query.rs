//! `query`: PromQL range-query latency, `GET /api/v1/query_range` over one
//! keep-alive connection, `--runs` times after `--warmup` untimed runs.
//! Time is from writing the request to having read the whole (uncompressed
//! JSON) body. The last body is parsed outside the timed section to check
//! `status: success` and count the series and points returned, so that
//! servers can be checked to have answered the same thing.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::http::{parse_url, percentile_ms, urlencode, Conn};
use crate::QueryArgs;

pub fn run(args: &QueryArgs) -> Result<bool> {
    let (addr, host, base) = parse_url(&args.url)?;
    let base = base.trim_end_matches('/');
    let mut path = format!(
        "{base}/api/v1/query_range?query={}&start={}&end={}&step={}",
        urlencode(&args.query),
        args.start,
        args.end,
        args.step
    );
    for p in &args.param {
        path.push('&');
        path.push_str(p);
    }
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rw-loadgen\r\nAccept: application/json\r\n\r\n");
    let mut conn = Conn::new(addr, Duration::from_secs_f64(args.timeout));
    let mut lat = Vec::new();
    let mut last = Vec::new();
    for i in 0..args.warmup + args.runs {
        let started = Instant::now();
        let resp = conn
            .request(head.as_bytes(), &[])
            .with_context(|| format!("GET {path}"))?;
        let us = started.elapsed().as_micros() as u64;
        if resp.status != 200 {
            let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(500)]).into_owned();
            bail!("HTTP {} for {}: {}", resp.status, args.query, text.trim());
        }
        if i >= args.warmup {
            lat.push(us);
        }
        last = resp.body;
    }
    let (series, points) = count(&last)?;
    lat.sort_unstable();
    let (p50, p90) = (percentile_ms(&lat, 0.5), percentile_ms(&lat, 0.9));
    let (min, max) = (
        percentile_ms(&lat, 0.0),
        lat.last().map_or(0.0, |&v| v as f64 / 1000.0),
    );
    eprintln!(
        "rw-loadgen query: {} runs of {:?} (step {}s): p50 {p50:.1} ms p90 {p90:.1} ms min {min:.1} max {max:.1}; \
         {series} series, {points} points, {} bytes",
        args.runs,
        args.query,
        args.step,
        last.len()
    );
    println!(
        "RESULT runs={} p50_ms={p50:.3} p90_ms={p90:.3} min_ms={min:.3} max_ms={max:.3} series={series} points={points} bytes={}",
        args.runs,
        last.len()
    );
    Ok(true)
}

/// (series, points) of a `matrix` answer.
fn count(body: &[u8]) -> Result<(u64, u64)> {
    let v: serde_json::Value = serde_json::from_slice(body).context("query answer is not JSON")?;
    if v["status"] != "success" {
        bail!(
            "query failed: {}",
            String::from_utf8_lossy(&body[..body.len().min(500)])
        );
    }
    let result = v["data"]["result"]
        .as_array()
        .context("no data.result array")?;
    let points = result
        .iter()
        .map(|s| s["values"].as_array().map_or(0, |a| a.len()) as u64)
        .sum();
    Ok((result.len() as u64, points))
}
