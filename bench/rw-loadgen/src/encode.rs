//! Remote write 1.0 bodies (`prometheus.WriteRequest`, snappy block format),
//! hand-encoded, and the file of pre-encoded requests that `send` replays.
//!
//! ```text
//! WriteRequest { repeated TimeSeries timeseries = 1; }
//! TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! Label        { string name = 1; string value = 2; }
//! Sample       { double value = 1; int64 timestamp = 2; }
//! ```
//!
//! File: `RWLG1\n`, then per request `round u32 | chunk u32 | samples u32 | len u32 | body`
//! (little endian). Requests are in round-major order; within a round, chunk `c`
//! holds the same series every round.

use std::io::{Read, Write};

use anyhow::{ensure, Context, Result};

use crate::fleet::Fleet;

pub const MAGIC: &[u8] = b"RWLG1\n";

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn bytes_field(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    out.push(tag);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// The `labels` fields of a TimeSeries, encoded once per series.
pub fn encode_labels(labels: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut label = Vec::new();
    for (k, v) in labels {
        label.clear();
        bytes_field(&mut label, 0x0a, k.as_bytes());
        bytes_field(&mut label, 0x12, v.as_bytes());
        bytes_field(&mut out, 0x0a, &label);
    }
    out
}

fn sample_len(ts: i64) -> usize {
    1 + 8 + 1 + varint_len(ts as u64)
}

/// Appends one TimeSeries (field 1 of WriteRequest).
fn push_series(out: &mut Vec<u8>, labels: &[u8], samples: &[(i64, f64)]) {
    let mut len = labels.len();
    for &(ts, _) in samples {
        let s = sample_len(ts);
        len += 1 + varint_len(s as u64) + s;
    }
    out.push(0x0a);
    varint(out, len as u64);
    out.extend_from_slice(labels);
    for &(ts, v) in samples {
        out.push(0x12);
        varint(out, sample_len(ts) as u64);
        out.push(0x09);
        out.extend_from_slice(&v.to_le_bytes());
        out.push(0x10);
        varint(out, ts as u64);
    }
}

pub struct GenParams {
    pub from_sample: u64,
    pub samples: u64,
    pub samples_per_series: u64,
    pub series_per_request: usize,
}

pub struct GenStats {
    pub requests: u64,
    pub samples: u64,
    pub raw_bytes: u64,
    pub wire_bytes: u64,
    pub rounds: u64,
    pub chunks: u64,
    pub first_ts: i64,
    pub last_ts: i64,
}

/// Generates every request and hands it to `sink(round, chunk, samples, body)`.
pub fn generate(
    fleet: &Fleet,
    p: &GenParams,
    mut sink: impl FnMut(u32, u32, u32, &[u8]) -> Result<()>,
) -> Result<GenStats> {
    ensure!(
        p.samples_per_series >= 1,
        "--samples-per-series must be at least 1"
    );
    ensure!(
        p.series_per_request >= 1,
        "--series-per-request must be at least 1"
    );
    let n = fleet.series.len();
    let labels: Vec<Vec<u8>> = fleet
        .series
        .iter()
        .map(|s| encode_labels(&s.labels))
        .collect();
    let mut cursors: Vec<_> = (0..n).map(|i| fleet.cursor(i)).collect();
    for c in &mut cursors {
        for _ in 0..p.from_sample {
            c.advance();
        }
    }
    let mut st = GenStats {
        requests: 0,
        samples: 0,
        raw_bytes: 0,
        wire_bytes: 0,
        rounds: p.samples.div_ceil(p.samples_per_series),
        chunks: n.div_ceil(p.series_per_request) as u64,
        first_ts: i64::MAX,
        last_ts: i64::MIN,
    };
    let mut enc = snap::raw::Encoder::new();
    let mut body = Vec::new();
    let mut compressed = Vec::new();
    let mut samples: Vec<(i64, f64)> = Vec::new();
    for round in 0..st.rounds {
        let k0 = p.from_sample + round * p.samples_per_series;
        let k1 = (k0 + p.samples_per_series).min(p.from_sample + p.samples);
        for (chunk, range) in (0..n).step_by(p.series_per_request).enumerate() {
            body.clear();
            let mut count = 0u32;
            for i in range..(range + p.series_per_request).min(n) {
                samples.clear();
                let host = fleet.series[i].host;
                for k in k0..k1 {
                    let ts = fleet.timestamp(host, k);
                    samples.push((ts, cursors[i].next(ts)));
                    st.first_ts = st.first_ts.min(ts);
                    st.last_ts = st.last_ts.max(ts);
                }
                count += samples.len() as u32;
                push_series(&mut body, &labels[i], &samples);
            }
            compressed.resize(snap::raw::max_compress_len(body.len()), 0);
            let m = enc.compress(&body, &mut compressed).context("snappy")?;
            sink(round as u32, chunk as u32, count, &compressed[..m])?;
            st.requests += 1;
            st.samples += count as u64;
            st.raw_bytes += body.len() as u64;
            st.wire_bytes += m as u64;
        }
    }
    Ok(st)
}

pub fn write_record(
    w: &mut impl Write,
    round: u32,
    chunk: u32,
    samples: u32,
    body: &[u8],
) -> Result<()> {
    for v in [round, chunk, samples, body.len() as u32] {
        w.write_all(&v.to_le_bytes())?;
    }
    w.write_all(body)?;
    Ok(())
}

pub struct Request {
    pub round: u32,
    pub chunk: u32,
    pub samples: u32,
    pub body: Vec<u8>,
}

pub fn read_file(path: &std::path::Path) -> Result<Vec<Request>> {
    let mut data = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .read_to_end(&mut data)?;
    ensure!(
        data.starts_with(MAGIC),
        "{} is not an rw-loadgen file",
        path.display()
    );
    let mut at = MAGIC.len();
    let mut out = Vec::new();
    let u32_at = |d: &[u8], i: usize| u32::from_le_bytes(d[i..i + 4].try_into().unwrap());
    while at < data.len() {
        ensure!(
            at + 16 <= data.len(),
            "truncated record header in {}",
            path.display()
        );
        let (round, chunk, samples, len) = (
            u32_at(&data, at),
            u32_at(&data, at + 4),
            u32_at(&data, at + 8),
            u32_at(&data, at + 12) as usize,
        );
        at += 16;
        ensure!(
            at + len <= data.len(),
            "truncated record body in {}",
            path.display()
        );
        out.push(Request {
            round,
            chunk,
            samples,
            body: data[at..at + len].to_vec(),
        });
        at += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal protobuf reader to check the hand-written encoding.
    fn read_varint(b: &[u8], at: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let x = b[*at];
            *at += 1;
            v |= ((x & 0x7f) as u64) << shift;
            if x < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    #[test]
    fn round_trip_structure() {
        let fleet = Fleet::new(2, 1, 3, 15_000, 1_700_000_000_000, 2);
        let p = GenParams {
            from_sample: 5,
            samples: 7,
            samples_per_series: 3,
            series_per_request: 50,
        };
        let mut bodies = Vec::new();
        let st = generate(&fleet, &p, |r, c, n, b| {
            bodies.push((
                r,
                c,
                n,
                snap::raw::Decoder::new().decompress_vec(b).unwrap(),
            ));
            Ok(())
        })
        .unwrap();
        assert_eq!(st.rounds, 3);
        assert_eq!(st.samples, 7 * fleet.series.len() as u64);
        // Walk the first body: every TimeSeries has labels then samples.
        let (_, _, n, body) = &bodies[0];
        let mut at = 0;
        let mut series = 0;
        let mut samples = 0;
        while at < body.len() {
            assert_eq!(body[at], 0x0a);
            at += 1;
            let len = read_varint(body, &mut at) as usize;
            let end = at + len;
            while at < end {
                let tag = body[at];
                at += 1;
                let l = read_varint(body, &mut at) as usize;
                if tag == 0x12 {
                    samples += 1;
                    assert_eq!(body[at], 0x09);
                    assert_eq!(body[at + 9], 0x10);
                } else {
                    assert_eq!(tag, 0x0a);
                }
                at += l;
            }
            series += 1;
        }
        assert_eq!(series, 50);
        assert_eq!(samples, *n as usize);
        assert_eq!(samples, 150);
    }
}
