//! The WAL record format of ingested batches (see docs/format/wal-records.md).

use weft_core::labels::Labels;
use weft_core::protowire::{put_varint, read_varint, unzigzag, zigzag};
use weft_core::TenantId;
use weft_metrics::model::{Exemplar, Metadata, MetricType, MetricWrite, SeriesWrite};
use weft_metrics::promql::histogram::CounterResetHint;
use weft_metrics::promql::FloatHistogram;

/// Record kinds. New signals get new kinds; replay skips kinds it does not know with a
/// warning, so a downgrade never fails to start.
pub const KIND_OTLP_TRACES: u8 = 1;
/// Metric samples, exemplars and metadata (snappy-compressed, see wal-records.md).
pub const KIND_METRICS: u8 = 2;
/// A metric write with native histograms: the kind 2 body plus each series' histograms.
/// Writes without histograms stay kind 2, so that older binaries can replay them.
pub const KIND_METRICS_HISTOGRAMS: u8 = 3;
/// A remote-write request body exactly as received (snappy-compressed protobuf), written
/// when the whole request was stored: re-encoding and re-compressing what the sender already
/// encoded cost a sixth of the ingest CPU. Replay decodes it with the receiver's own decoder.
pub const KIND_REMOTE_WRITE: u8 = 4;

/// Largest decompressed metric record accepted at replay (a record is one request, and
/// requests are limited far below this).
const MAX_METRIC_RECORD_BYTES: usize = 1 << 30;

/// A decoded WAL record; the body borrows from the payload.
#[derive(Debug, PartialEq)]
pub enum WalRecord<'a> {
    /// `body` is a protobuf `ExportTraceServiceRequest`.
    Traces { tenant: TenantId, body: &'a [u8] },
    /// Metric samples of one request.
    Metrics {
        tenant: TenantId,
        write: MetricWrite,
    },
    /// A kind this version does not know.
    Unknown(u8),
}

/// Encodes a trace batch: kind, tenant length (u16 LE), tenant, protobuf request.
pub fn encode_traces(tenant: &TenantId, body: &[u8]) -> Vec<u8> {
    let mut out = header(KIND_OTLP_TRACES, tenant, body.len());
    out.extend_from_slice(body);
    out
}

/// Kind, tenant length and tenant, with room for `body_len` more bytes.
fn header(kind: u8, tenant: &TenantId, body_len: usize) -> Vec<u8> {
    let tenant = tenant.as_str().as_bytes();
    debug_assert!(
        tenant.len() <= u16::MAX as usize,
        "tenant IDs are at most 150 bytes"
    );
    let mut out = Vec::with_capacity(3 + tenant.len() + body_len);
    out.push(kind);
    out.extend_from_slice(&(tenant.len() as u16).to_le_bytes());
    out.extend_from_slice(tenant);
    out
}

/// Encodes a metric write: kind 2 (kind 3 when it holds native histograms), tenant, then the
/// snappy block-compressed body.
pub fn encode_metrics(tenant: &TenantId, write: &MetricWrite) -> Vec<u8> {
    let with_histograms = write.series.iter().any(|s| !s.histograms.is_empty());
    let mut body = Vec::with_capacity(64 * write.series.len());
    put_varint(&mut body, write.series.len() as u64);
    for s in &write.series {
        put_labels(&mut body, &s.labels);
        put_varint(&mut body, s.samples.len() as u64);
        let mut prev = 0i64;
        for &(t, _) in &s.samples {
            put_varint(&mut body, zigzag(t.wrapping_sub(prev)));
            prev = t;
        }
        for &(_, v) in &s.samples {
            body.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        put_varint(&mut body, s.exemplars.len() as u64);
        for e in &s.exemplars {
            put_labels(&mut body, &e.labels);
            put_varint(&mut body, zigzag(e.t_ms));
            body.extend_from_slice(&e.value.to_bits().to_le_bytes());
        }
        if with_histograms {
            put_histograms(&mut body, &s.histograms);
        }
    }
    put_varint(&mut body, write.metadata.len() as u64);
    for m in &write.metadata {
        put_str(&mut body, &m.metric);
        body.push(m.kind.code());
        put_str(&mut body, &m.help);
        put_str(&mut body, &m.unit);
    }
    let compressed = snap::raw::Encoder::new()
        .compress_vec(&body)
        .unwrap_or_else(|_| unreachable!("snappy compresses any input below 4 GiB"));
    let kind = if with_histograms {
        KIND_METRICS_HISTOGRAMS
    } else {
        KIND_METRICS
    };
    let mut out = header(kind, tenant, compressed.len());
    out.extend_from_slice(&compressed);
    out
}

fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// A series' histograms (kind 3): count, time deltas, then each histogram.
fn put_histograms(out: &mut Vec<u8>, hs: &[(i64, FloatHistogram)]) {
    put_varint(out, hs.len() as u64);
    let mut prev = 0i64;
    for &(t, _) in hs {
        put_varint(out, zigzag(t.wrapping_sub(prev)));
        prev = t;
    }
    for (_, h) in hs {
        put_varint(out, zigzag(i64::from(h.schema)));
        for v in [h.zero_threshold, h.zero_count, h.count, h.sum] {
            put_f64(out, v);
        }
        out.push(hint_code(h.hint));
        put_buckets(out, &h.positive);
        put_buckets(out, &h.negative);
        put_varint(out, h.custom_values.len() as u64);
        for &c in &h.custom_values {
            put_f64(out, c);
        }
    }
}

fn put_buckets(out: &mut Vec<u8>, buckets: &[(i32, f64)]) {
    put_varint(out, buckets.len() as u64);
    let mut prev = 0i64;
    for &(i, c) in buckets {
        put_varint(out, zigzag(i64::from(i) - prev));
        prev = i64::from(i);
        put_f64(out, c);
    }
}

fn hint_code(h: CounterResetHint) -> u8 {
    match h {
        CounterResetHint::Unknown => 0,
        CounterResetHint::CounterReset => 1,
        CounterResetHint::NotCounterReset => 2,
        CounterResetHint::Gauge => 3,
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_labels(out: &mut Vec<u8>, labels: &Labels) {
    put_varint(out, labels.len() as u64);
    for l in labels.iter() {
        put_str(out, &l.name);
        put_str(out, &l.value);
    }
}

/// Reads the body of a metric record; every error names the offset.
struct BodyReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BodyReader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        read_varint(self.buf, &mut self.pos)
    }

    /// A count of items that each take at least `min_item_bytes`, bounded by what is left.
    fn count(&mut self, what: &str, min_item_bytes: usize) -> Result<usize, String> {
        let at = self.pos;
        let n = self.varint()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(min_item_bytes as u64) > left {
            return Err(format!(
                "{what} count {n} at offset {at} exceeds the {left} bytes left"
            ));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end =
            end.ok_or_else(|| format!("truncated field of {n} bytes at offset {}", self.pos))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn str(&mut self) -> Result<String, String> {
        let at = self.pos;
        let n = self.varint()? as usize;
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec())
            .map_err(|e| format!("string at offset {at} is not UTF-8: {e}"))
    }

    fn f64(&mut self) -> Result<f64, String> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_bits(u64::from_le_bytes(a)))
    }

    fn labels(&mut self) -> Result<Labels, String> {
        let at = self.pos;
        let n = self.count("label", 2)?;
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            pairs.push((self.str()?, self.str()?));
        }
        Labels::from_pairs(pairs).map_err(|e| format!("labels at offset {at}: {e}"))
    }

    /// A series' histograms (kind 3 bodies only).
    fn histograms(&mut self) -> Result<Vec<(i64, FloatHistogram)>, String> {
        let at = self.pos;
        // Each histogram takes at least 1 (Δt) + 1 + 32 + 1 + 3 bytes.
        let n = self.count("histogram", 38)?;
        let mut times = Vec::with_capacity(n);
        let mut prev: Option<i64> = None;
        for _ in 0..n {
            let t = prev.unwrap_or(0).wrapping_add(unzigzag(self.varint()?));
            if prev.is_some_and(|p| t <= p) {
                return Err(format!(
                    "histogram timestamps of the series at offset {at} are not increasing"
                ));
            }
            prev = Some(t);
            times.push(t);
        }
        let mut out = Vec::with_capacity(n);
        for t in times {
            out.push((t, self.histogram()?));
        }
        Ok(out)
    }

    fn histogram(&mut self) -> Result<FloatHistogram, String> {
        let at = self.pos;
        let schema = unzigzag(self.varint()?);
        let schema = i32::try_from(schema)
            .map_err(|_| format!("histogram schema {schema} at offset {at} out of range"))?;
        let zero_threshold = self.f64()?;
        let zero_count = self.f64()?;
        let count = self.f64()?;
        let sum = self.f64()?;
        let hint = match self.bytes(1)?[0] {
            0 => CounterResetHint::Unknown,
            1 => CounterResetHint::CounterReset,
            2 => CounterResetHint::NotCounterReset,
            3 => CounterResetHint::Gauge,
            h => {
                return Err(format!(
                    "histogram hint {h} at offset {} unknown",
                    self.pos - 1
                ))
            }
        };
        let positive = self.buckets()?;
        let negative = self.buckets()?;
        let n = self.count("custom value", 8)?;
        let mut custom_values = Vec::with_capacity(n);
        for _ in 0..n {
            custom_values.push(self.f64()?);
        }
        Ok(FloatHistogram {
            schema,
            zero_threshold,
            zero_count,
            count,
            sum,
            positive,
            negative,
            custom_values,
            hint,
        })
    }

    fn buckets(&mut self) -> Result<Vec<(i32, f64)>, String> {
        let n = self.count("bucket", 9)?;
        let mut out = Vec::with_capacity(n);
        let mut prev: Option<i64> = None;
        for _ in 0..n {
            let at = self.pos;
            let idx = prev.unwrap_or(0).saturating_add(unzigzag(self.varint()?));
            let ok = prev.is_none_or(|p| idx > p) && i32::try_from(idx).is_ok();
            if !ok {
                return Err(format!(
                    "bucket index {idx} at offset {at} is not ascending or exceeds i32"
                ));
            }
            prev = Some(idx);
            out.push((idx as i32, self.f64()?));
        }
        Ok(out)
    }

    fn series(&mut self, with_histograms: bool) -> Result<SeriesWrite, String> {
        let labels = self.labels()?;
        let n = self.count("sample", 9)?;
        let mut times = Vec::with_capacity(n);
        let mut prev = 0i64;
        for _ in 0..n {
            prev = prev.wrapping_add(unzigzag(self.varint()?));
            times.push(prev);
        }
        let mut samples = Vec::with_capacity(n);
        for t in times {
            samples.push((t, self.f64()?));
        }
        let n = self.count("exemplar", 10)?;
        let mut exemplars = Vec::with_capacity(n);
        for _ in 0..n {
            let labels = self.labels()?;
            let t_ms = unzigzag(self.varint()?);
            exemplars.push(Exemplar {
                labels,
                value: self.f64()?,
                t_ms,
            });
        }
        let histograms = if with_histograms {
            self.histograms()?
        } else {
            Vec::new()
        };
        Ok(SeriesWrite {
            labels,
            samples,
            histograms,
            exemplars,
        })
    }

    fn metadata(&mut self) -> Result<Metadata, String> {
        let metric = self.str()?;
        let kind = MetricType::from_code(self.bytes(1)?[0]);
        Ok(Metadata {
            metric,
            kind,
            help: self.str()?,
            unit: self.str()?,
        })
    }
}

fn decode_metric_body(compressed: &[u8], with_histograms: bool) -> Result<MetricWrite, String> {
    let len = snap::raw::decompress_len(compressed)
        .map_err(|e| format!("metric record is not snappy-compressed: {e}"))?;
    if len > MAX_METRIC_RECORD_BYTES {
        return Err(format!("metric record claims {len} bytes uncompressed"));
    }
    let body = snap::raw::Decoder::new()
        .decompress_vec(compressed)
        .map_err(|e| format!("metric record does not decompress: {e}"))?;
    let mut r = BodyReader { buf: &body, pos: 0 };
    let n = r.count("series", 3)?;
    let mut write = MetricWrite::default();
    for _ in 0..n {
        write.series.push(r.series(with_histograms)?);
    }
    let n = r.count("metadata", 4)?;
    for _ in 0..n {
        write.metadata.push(r.metadata()?);
    }
    if r.pos != body.len() {
        return Err(format!(
            "metric record has {} trailing bytes",
            body.len() - r.pos
        ));
    }
    Ok(write)
}

/// Encodes a stored remote-write request: kind 4, tenant, the protocol version (1 or 2),
/// then the body as received.
pub fn encode_remote_write(
    tenant: &TenantId,
    version: crate::remote_write::Version,
    body: &[u8],
) -> Vec<u8> {
    let mut out = header(KIND_REMOTE_WRITE, tenant, 1 + body.len());
    out.push(match version {
        crate::remote_write::Version::V1 => 1,
        crate::remote_write::Version::V2 => 2,
    });
    out.extend_from_slice(body);
    out
}

/// A kind 4 body back into the write it stored: the same decoding and validation as when
/// it was received (which refused nothing then, and refuses nothing later: the only
/// time-dependent check, "too far in the future", only gets more lenient), without the
/// request size limit (a lowered limit must not make a stored record unreadable).
fn decode_remote_write_body(body: &[u8]) -> Result<MetricWrite, String> {
    use crate::remote_write::{self, Version};
    let (&v, body) = body
        .split_first()
        .ok_or("remote-write record has no version byte")?;
    let version = match v {
        1 => Version::V1,
        2 => Version::V2,
        other => return Err(format!("remote-write record has unknown version {other}")),
    };
    let mut batch = remote_write::decode(body, version, MAX_METRIC_RECORD_BYTES)
        .map_err(|e| format!("remote-write record: {e}"))?;
    remote_write::validate(&mut batch, i64::MAX);
    let (write, _) = batch.into_metric_write();
    Ok(write)
}

/// Decodes a record written by [`encode_traces`]; the error names what was wrong. The body
/// itself is checked by the store's parser when it is applied.
pub fn decode(payload: &[u8]) -> Result<WalRecord<'_>, String> {
    let (&kind, rest) = payload.split_first().ok_or("empty WAL record")?;
    let known = [
        KIND_OTLP_TRACES,
        KIND_METRICS,
        KIND_METRICS_HISTOGRAMS,
        KIND_REMOTE_WRITE,
    ];
    if !known.contains(&kind) {
        return Ok(WalRecord::Unknown(kind));
    }
    if rest.len() < 2 {
        return Err("WAL record too short for the tenant length".into());
    }
    let tenant_len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
    let rest = &rest[2..];
    if rest.len() < tenant_len {
        return Err(format!(
            "WAL record tenant length {tenant_len} exceeds the {} bytes left",
            rest.len()
        ));
    }
    let (tenant, body) = rest.split_at(tenant_len);
    let tenant =
        std::str::from_utf8(tenant).map_err(|e| format!("WAL record tenant is not UTF-8: {e}"))?;
    let tenant = TenantId::parse(tenant).map_err(|e| e.to_string())?;
    if kind == KIND_METRICS || kind == KIND_METRICS_HISTOGRAMS {
        let write = decode_metric_body(body, kind == KIND_METRICS_HISTOGRAMS)?;
        return Ok(WalRecord::Metrics { tenant, write });
    }
    if kind == KIND_REMOTE_WRITE {
        let write = decode_remote_write_body(body)?;
        return Ok(WalRecord::Metrics { tenant, write });
    }
    Ok(WalRecord::Traces { tenant, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_clear_errors() {
        let tenant = TenantId::parse("t-1").unwrap();
        let bytes = encode_traces(&tenant, b"\x0a\x00");
        assert_eq!(
            decode(&bytes).unwrap(),
            WalRecord::Traces {
                tenant,
                body: b"\x0a\x00"
            }
        );
        assert_eq!(decode(&[9, 1, 2]).unwrap(), WalRecord::Unknown(9));
        assert!(decode(&[]).unwrap_err().contains("empty"));
        assert!(decode(&[1, 50, 0, b'a']).unwrap_err().contains("exceeds"));
    }

    #[test]
    fn metric_records_round_trip_bit_exact() {
        let tenant = TenantId::parse("t-1").unwrap();
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "a")]).unwrap();
        let write = MetricWrite {
            series: vec![SeriesWrite {
                labels: labels.clone(),
                samples: vec![
                    (-5, 1.5),
                    (1_700_000_000_000, f64::from_bits(0x7ff0_0000_0000_0002)),
                    (1_700_000_015_000, f64::NEG_INFINITY),
                ],
                histograms: Vec::new(),
                exemplars: vec![Exemplar {
                    labels: Labels::from_pairs([("trace_id", "ab")]).unwrap(),
                    value: 0.25,
                    t_ms: 1_700_000_000_001,
                }],
            }],
            metadata: vec![Metadata {
                metric: "up".into(),
                kind: MetricType::Gauge,
                help: "Up.".into(),
                unit: String::new(),
            }],
        };
        let bytes = encode_metrics(&tenant, &write);
        let WalRecord::Metrics {
            tenant: t,
            write: got,
        } = decode(&bytes).unwrap()
        else {
            panic!("not a metric record");
        };
        assert_eq!(t, tenant);
        assert_eq!(got.metadata, write.metadata);
        assert_eq!(got.series[0].exemplars, write.series[0].exemplars);
        let bits = |s: &SeriesWrite| {
            s.samples
                .iter()
                .map(|&(t, v)| (t, v.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&got.series[0]), bits(&write.series[0]));
        // Every truncation is an error, never a panic.
        for cut in 0..bytes.len() {
            let _ = decode(&bytes[..cut]);
        }
        let mut bad = header(KIND_METRICS, &tenant, 0);
        bad.extend_from_slice(
            &snap::raw::Encoder::new()
                .compress_vec(&[0xff, 0xff, 0x03])
                .unwrap(),
        );
        assert!(decode(&bad).unwrap_err().contains("series count"));
    }

    fn histogram(i: u32) -> FloatHistogram {
        let f = f64::from(i);
        FloatHistogram {
            schema: if i == 2 { -53 } else { 3 },
            zero_threshold: 1e-3,
            zero_count: f,
            count: f * 10.0,
            sum: if i == 1 {
                f64::from_bits(0x7ff8_0000_0000_0bad)
            } else {
                -0.0
            },
            positive: vec![(-5, f), (-4, 2.0), (7, 0.0), (i32::MAX, 1.0)],
            negative: if i == 2 {
                Vec::new()
            } else {
                vec![(i32::MIN, 3.0), (0, f)]
            },
            custom_values: if i == 2 {
                vec![0.5, 1.0, f64::INFINITY]
            } else {
                Vec::new()
            },
            hint: match i {
                0 => CounterResetHint::CounterReset,
                1 => CounterResetHint::Gauge,
                _ => CounterResetHint::NotCounterReset,
            },
        }
    }

    fn hist_fp(h: &FloatHistogram) -> String {
        // Debug output of the bits of every float, so NaN payloads and -0.0 compare.
        let b = |v: f64| v.to_bits();
        format!(
            "{} {} {} {} {} {:?} {:?} {:?} {:?} {:?}",
            h.schema,
            b(h.zero_threshold),
            b(h.zero_count),
            b(h.count),
            b(h.sum),
            h.positive
                .iter()
                .map(|&(i, c)| (i, b(c)))
                .collect::<Vec<_>>(),
            h.negative
                .iter()
                .map(|&(i, c)| (i, b(c)))
                .collect::<Vec<_>>(),
            h.custom_values.iter().map(|&c| b(c)).collect::<Vec<_>>(),
            h.hint,
            (),
        )
    }

    #[test]
    fn histogram_records_round_trip_as_kind_3() {
        let tenant = TenantId::parse("t-1").unwrap();
        let labels = Labels::from_pairs([("__name__", "lat")]).unwrap();
        let float_only = Labels::from_pairs([("__name__", "up")]).unwrap();
        let write = MetricWrite {
            series: vec![
                SeriesWrite {
                    labels: labels.clone(),
                    samples: vec![(4000, f64::from_bits(0x7ff0_0000_0000_0002))],
                    histograms: (0..3)
                        .map(|i| (i64::from(i) * 1000 - 5, histogram(i)))
                        .collect(),
                    exemplars: Vec::new(),
                },
                SeriesWrite {
                    labels: float_only,
                    samples: vec![(1, 1.0)],
                    ..SeriesWrite::default()
                },
            ],
            metadata: Vec::new(),
        };
        let bytes = encode_metrics(&tenant, &write);
        assert_eq!(bytes[0], KIND_METRICS_HISTOGRAMS);
        let WalRecord::Metrics { write: got, .. } = decode(&bytes).unwrap() else {
            panic!("not a metric record");
        };
        assert_eq!(got.series.len(), 2);
        let fps = |s: &SeriesWrite| {
            s.histograms
                .iter()
                .map(|(t, h)| (*t, hist_fp(h)))
                .collect::<Vec<_>>()
        };
        assert_eq!(fps(&got.series[0]), fps(&write.series[0]));
        assert_eq!(got.series[0].samples[0].1.to_bits(), 0x7ff0_0000_0000_0002);
        assert_eq!(got.series[1].samples, vec![(1, 1.0)]);
        assert!(got.series[1].histograms.is_empty());
        for cut in 0..bytes.len() {
            let _ = decode(&bytes[..cut]);
        }
        // Float-only writes stay kind 2, readable by binaries without histogram support.
        let floats = MetricWrite {
            series: vec![write.series[1].clone()],
            metadata: Vec::new(),
        };
        assert_eq!(encode_metrics(&tenant, &floats)[0], KIND_METRICS);
    }

    #[test]
    fn bad_histogram_bodies_are_named() {
        let tenant = TenantId::parse("t").unwrap();
        let record = |body: &[u8]| {
            let mut out = header(KIND_METRICS_HISTOGRAMS, &tenant, 0);
            out.extend_from_slice(&snap::raw::Encoder::new().compress_vec(body).unwrap());
            out
        };
        // One series `{a="b"}`, no samples, no exemplars, then the histogram part.
        let mut prefix = vec![1, 1, 1, b'a', 1, b'b', 0, 0];
        let mut h = Vec::new();
        put_histograms(&mut h, &[(5, histogram(0))]);
        let mut ok = prefix.clone();
        ok.extend_from_slice(&h);
        ok.push(0);
        assert!(decode(&record(&ok)).is_ok());
        // Hint byte: after count (1), Δt (1), schema (1) and four f64.
        let mut bad_hint = ok.clone();
        bad_hint[prefix.len() + 3 + 32] = 9;
        let err = decode(&record(&bad_hint)).unwrap_err();
        assert!(err.contains("hint 9"), "{err}");
        // Two histograms at the same time.
        prefix.extend_from_slice(&[2, 2, 0]);
        let err = decode(&record(&prefix)).unwrap_err();
        assert!(
            err.contains("not increasing") || err.contains("exceeds"),
            "{err}"
        );
    }
}
