//! Prometheus remote write receiver, protocol side: content negotiation, snappy
//! decompression, protobuf decoding and validation for Remote-Write 1.0
//! (`prometheus.WriteRequest`) and 2.0 (`io.prometheus.write.v2.Request`).
//!
//! Flow for one `POST`:
//!
//! 1. [`negotiate`] picks the schema from `Content-Type` (the 2.0 spec makes it authoritative)
//!    and checks `Content-Encoding`; failures are [`IngestError::UnsupportedMediaType`] (415).
//! 2. [`decode`] snappy-decompresses (block format only, bounded by `max_bytes` →
//!    [`IngestError::TooLarge`], 413), decodes the protobuf and converts it into a
//!    [`WriteBatch`] of validated [`Series`]. Request-level problems (corrupt snappy, framed
//!    snappy, undecodable protobuf, 2.0 `symbols[0]` not empty) fail the whole request with
//!    [`IngestError::BadRequest`] (400). Series-level problems (invalid UTF-8, empty or
//!    duplicate label names, missing `__name__`, out-of-range 2.0 symbol references, invalid
//!    native histograms, …) drop only the items concerned and are recorded in
//!    [`WriteBatch::rejected`], each naming the series and the label.
//! 3. [`validate`] applies the time-dependent checks Prometheus' write handler makes
//!    (timestamps more than 10 minutes in the future are out of bounds; within one series a
//!    sample older than its predecessor is out of order, one at the same timestamp with a
//!    different value is a duplicate), again moving offenders into `rejected`.
//! 4. The caller stores `series`/`metadata`, then answers: `204` when `rejected` is empty,
//!    otherwise `400` with [`WriteBatch::rejection_error`] as the body — *after* storing the
//!    valid rest, like Prometheus' 2.0 handler (partial write; the spec forbids 2xx for it).
//!    For 2.0 (and harmlessly for 1.0) it sets the [`written_headers`] on 2xx and 4xx.
//!
//! Choices, following Prometheus' own receiver (`storage/remote/write_handler.go`):
//! * Label names may be any non-empty UTF-8 (Prometheus 3 validates with UTF-8 rules); label
//!   and metric names are *not* held to the legacy `[a-zA-Z_:]…` character set.
//! * Unsorted labels are sorted and accepted (Prometheus sorts them too).
//! * Labels with an empty value are dropped (an empty value means "absent").
//! * Invalid series in 1.0 requests are rejected with 400 rather than silently dropped
//!   (Prometheus drops them and counts them; the 1.0 spec asks for 400 on invalid samples).
//! * Values, NaNs and the stale marker ([`STALE_NAN_BITS`]) pass through bit-exact.
//! * A missing `Content-Encoding` is read as snappy, as Prometheus does.
//! * Native histograms (integer or float, exponential or custom buckets) are stored as float
//!   histograms ([`NativeHistogram::to_float`], as Prometheus' `ToFloat`); the counter-reset
//!   hint is kept as sent.

mod convert;
pub mod endpoint;
pub mod proto;
#[cfg(test)]
mod tests;

use prost::Message as _;
use weft_core::labels::Labels;
use weft_metrics::model::{
    Exemplar as StoreExemplar, Metadata as StoreMetadata, MetricWrite, SeriesWrite,
};
use weft_metrics::promql::histogram::CounterResetHint;
use weft_metrics::promql::FloatHistogram;

use crate::IngestError;

/// The request (and optional response) header carrying the protocol version.
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
/// Highest remote write version this receiver speaks; a receiver MAY send it back in
/// [`VERSION_HEADER`].
pub const SUPPORTED_VERSION: &str = "2.0.0";
/// Response header: samples written.
pub const SAMPLES_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Samples-Written";
/// Response header: native histogram samples written.
pub const HISTOGRAMS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Histograms-Written";
/// Response header: exemplars written.
pub const EXEMPLARS_WRITTEN_HEADER: &str = "X-Prometheus-Remote-Write-Exemplars-Written";
/// Bit pattern of Prometheus' staleness marker (a NaN); passed through unchanged.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// How far in the future a timestamp may be before [`validate`] rejects it as out of bounds
/// (Prometheus' `maxAheadTime`).
pub const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

const PROTO_V1: &str = "prometheus.WriteRequest";
const PROTO_V2: &str = "io.prometheus.write.v2.Request";
const MEDIA_TYPE: &str = "application/x-protobuf";
/// Start of snappy's framed (stream) format: the stream identifier chunk.
const SNAPPY_FRAMED_MAGIC: &[u8] = b"\xff\x06\x00\x00sNaPpY";

/// The protobuf schema of a remote write request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// Remote-Write 1.0, `prometheus.WriteRequest`.
    V1,
    /// Remote-Write 2.0, `io.prometheus.write.v2.Request`.
    V2,
}

impl Version {
    /// Fully qualified protobuf message name, as in `Content-Type: …;proto=<name>`.
    pub fn proto_name(self) -> &'static str {
        match self {
            Self::V1 => PROTO_V1,
            Self::V2 => PROTO_V2,
        }
    }
}

/// Chooses the schema from the request headers, as the Remote-Write 2.0 spec says.
///
/// * `Content-Type` decides: absent, `application/x-protobuf` or
///   `application/x-protobuf;proto=prometheus.WriteRequest` → [`Version::V1`];
///   `application/x-protobuf;proto=io.prometheus.write.v2.Request` → [`Version::V2`]. Media
///   type and parameter names are case-insensitive, whitespace and quoted parameter values are
///   allowed (RFC 9110), other parameters are ignored. Any other media type, an unknown `proto`
///   or a malformed parameter → [`IngestError::UnsupportedMediaType`] (415).
/// * `Content-Encoding` must be `snappy` (case-insensitive) for both versions; absent is read
///   as snappy (senders must send it, and Prometheus' receiver assumes snappy). Anything else
///   (`gzip`, `zstd`, `snappy, gzip`, …) → 415. Whether the body really is snappy's *block*
///   format is checked by [`decode`] (400 otherwise).
/// * `X-Prometheus-Remote-Write-Version` is not used to choose the schema: the spec makes the
///   content type authoritative and Prometheus' receiver ignores the header too. It is
///   accepted in any form, so that 1.x senders (`0.1.0`) and 2.x senders (`2.0.0`) both work.
///
/// Note: [`IngestError::UnsupportedMediaType`]'s `Display` is worded for OTLP; the string it
/// carries here explains the remote-write problem in full.
pub fn negotiate(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    version_header: Option<&str>,
) -> Result<Version, IngestError> {
    let _ = version_header; // Informational only, see above.
    if let Some(enc) = content_encoding.map(str::trim).filter(|e| !e.is_empty()) {
        if !enc.eq_ignore_ascii_case("snappy") {
            return Err(IngestError::UnsupportedMediaType(format!(
                "Content-Encoding: {enc} (remote write bodies must be snappy block-compressed: \
                 Content-Encoding: snappy)"
            )));
        }
    }
    let Some(ct) = content_type.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(Version::V1);
    };
    let unsupported = |why: &str| {
        IngestError::UnsupportedMediaType(format!(
            "{ct} ({why}; remote write accepts {MEDIA_TYPE}, \
             {MEDIA_TYPE};proto={PROTO_V1} or {MEDIA_TYPE};proto={PROTO_V2})"
        ))
    };
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case(MEDIA_TYPE) {
        return Err(unsupported("wrong media type"));
    }
    let mut version = Version::V1;
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let Some((name, value)) = param.split_once('=') else {
            return Err(unsupported("malformed parameter, expected name=value"));
        };
        if !name.trim().eq_ignore_ascii_case("proto") {
            continue;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        version = match value {
            PROTO_V1 => Version::V1,
            PROTO_V2 => Version::V2,
            _ => return Err(unsupported("unknown proto message")),
        };
    }
    Ok(version)
}

/// One series of a request, with its labels validated (sorted, unique, non-empty UTF-8 names,
/// `__name__` present). Never entirely empty: a series with no sample, histogram or exemplar
/// left is not part of the batch. The same label set may occur in several `Series`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub labels: Labels,
    /// `(timestamp in ms, value)`, in request order; values bit-exact (stale markers kept).
    pub samples: Vec<(i64, f64)>,
    pub histograms: Vec<NativeHistogram>,
    pub exemplars: Vec<Exemplar>,
}

/// An exemplar attached to a series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exemplar {
    /// Validated like series labels, except that `__name__` is not required.
    pub labels: Labels,
    pub value: f64,
    /// Milliseconds; 0 means "not set" in the protocol.
    pub timestamp_ms: i64,
}

/// A native histogram sample, kept close to the wire form (structurally validated).
#[derive(Clone, Debug, PartialEq)]
pub struct NativeHistogram {
    pub timestamp_ms: i64,
    /// 2.0 only; 0 means "not set".
    pub start_timestamp_ms: i64,
    /// -4..=8 for exponential buckets, -53 ([`CUSTOM_BUCKETS_SCHEMA`]) for custom buckets.
    pub schema: i32,
    pub sum: f64,
    pub zero_threshold: f64,
    pub reset_hint: ResetHint,
    /// `(offset, length)` pairs, as in the wire format.
    pub negative_spans: Vec<(i32, u32)>,
    pub positive_spans: Vec<(i32, u32)>,
    /// Upper bounds for custom-bucket histograms (schema -53), strictly increasing.
    pub custom_values: Vec<f64>,
    pub counts: HistogramCounts,
}

/// Schema number of custom-bucket (NHCB) histograms.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

impl NativeHistogram {
    /// The histogram as the store keeps it: absolute float counts in sparse buckets
    /// (integer histograms' deltas summed, counts converted to `f64` as Prometheus'
    /// `ToFloat` does).
    pub fn to_float(&self) -> Result<FloatHistogram, String> {
        let (count, zero_count, negative, positive) = match &self.counts {
            HistogramCounts::Int {
                count,
                zero_count,
                negative_deltas,
                positive_deltas,
            } => (
                *count as f64,
                *zero_count as f64,
                running_sums(negative_deltas),
                running_sums(positive_deltas),
            ),
            HistogramCounts::Float {
                count,
                zero_count,
                negative_counts,
                positive_counts,
            } => (
                *count,
                *zero_count,
                negative_counts.clone(),
                positive_counts.clone(),
            ),
        };
        Ok(FloatHistogram {
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count,
            count,
            sum: self.sum,
            positive: sparse_buckets("positive", &self.positive_spans, &positive)?,
            negative: sparse_buckets("negative", &self.negative_spans, &negative)?,
            custom_values: self.custom_values.clone(),
            hint: match self.reset_hint {
                ResetHint::Unknown => CounterResetHint::Unknown,
                ResetHint::Yes => CounterResetHint::CounterReset,
                ResetHint::No => CounterResetHint::NotCounterReset,
                ResetHint::Gauge => CounterResetHint::Gauge,
            },
        })
    }
}

/// Absolute counts from integer deltas (validated non-negative and non-overflowing).
fn running_sums(deltas: &[i64]) -> Vec<f64> {
    let mut running = 0i64;
    deltas
        .iter()
        .map(|d| {
            running = running.saturating_add(*d);
            running as f64
        })
        .collect()
}

/// `(index, count)` pairs from wire spans: the first span's offset is the first index, every
/// later offset the gap after the previous span (Prometheus requires it non-negative).
fn sparse_buckets(
    side: &str,
    spans: &[(i32, u32)],
    counts: &[f64],
) -> Result<Vec<(i32, f64)>, String> {
    let mut out = Vec::with_capacity(counts.len());
    let mut next: i64 = 0;
    let mut counts = counts.iter();
    for (k, &(offset, len)) in spans.iter().enumerate() {
        if k > 0 && offset < 0 {
            return Err(format!(
                "{side} span {k} has negative offset {offset} (only the first may)"
            ));
        }
        next += i64::from(offset);
        for _ in 0..len {
            let idx = i32::try_from(next)
                .map_err(|_| format!("{side} bucket index {next} exceeds the 32-bit range"))?;
            // The spans were checked to need exactly as many buckets as there are counts.
            let c = counts.next().copied().unwrap_or(0.0);
            out.push((idx, c));
            next += 1;
        }
    }
    Ok(out)
}

/// Counts of a native histogram: integer (bucket counts delta-encoded) or float (absolute).
#[derive(Clone, Debug, PartialEq)]
pub enum HistogramCounts {
    Int {
        count: u64,
        zero_count: u64,
        negative_deltas: Vec<i64>,
        positive_deltas: Vec<i64>,
    },
    Float {
        count: f64,
        zero_count: f64,
        negative_counts: Vec<f64>,
        positive_counts: Vec<f64>,
    },
}

/// Counter-reset hint of a native histogram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResetHint {
    /// Unknown (also for unknown wire values): check for a reset explicitly.
    #[default]
    Unknown,
    Yes,
    No,
    Gauge,
}

/// Metric metadata: 1.0's `metadata` field, or 2.0's per-series metadata (keyed by the
/// series' `__name__`, first occurrence per name kept, omitted when entirely unspecified).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub metric_family: String,
    pub kind: MetricKind,
    pub help: String,
    pub unit: String,
}

/// The metric type of remote-write metadata (one enum for every receiver and the store).
pub use weft_metrics::model::MetricType as MetricKind;

/// Items of a request that were not accepted, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// Short machine-readable reason (for counters): `invalid_utf8`, `invalid_label_name`
    /// (empty name), `duplicate_label_name`, `missing_metric_name`, `invalid_symbol_ref`
    /// (2.0: odd or out-of-range `labels_refs`, `help_ref`, `unit_ref`), `no_samples` (2.0
    /// series with neither samples nor histograms), `invalid_histogram`, `invalid_exemplar`,
    /// `invalid_metadata` (1.0: empty family name), `invalid_labels` (should not happen), and
    /// from [`validate`]: `out_of_bounds`, `out_of_order`, `duplicate_timestamp`.
    pub reason: &'static str,
    /// Human-readable; names the series (and label) concerned.
    pub message: String,
    /// Number of items dropped: samples + histograms + exemplars (or metadata entries). May be
    /// 0 for a rejected empty series.
    pub count: u64,
}

/// Message of the catch-all entry once [`MAX_REJECTION_DETAILS`] entries are recorded.
pub const MORE_REJECTIONS: &str = "further rejections of this kind (details omitted)";
/// At most this many individually described rejections are kept per batch; the rest are
/// summed up per reason in an entry with message [`MORE_REJECTIONS`].
pub const MAX_REJECTION_DETAILS: usize = 100;

/// A decoded request: what may be stored, and what was refused.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteBatch {
    pub series: Vec<Series>,
    pub metadata: Vec<Metadata>,
    /// Non-empty means the response must be 400 (after storing the rest).
    pub rejected: Vec<Rejected>,
}

/// Numbers of items in a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub samples: u64,
    pub histograms: u64,
    pub exemplars: u64,
}

impl WriteBatch {
    /// Accepted samples, histograms and exemplars.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.series {
            c.samples += s.samples.len() as u64;
            c.histograms += s.histograms.len() as u64;
            c.exemplars += s.exemplars.len() as u64;
        }
        c
    }

    /// Total items rejected.
    pub fn rejected_count(&self) -> u64 {
        self.rejected.iter().map(|r| r.count).sum()
    }

    /// The 400 to answer with when anything was rejected: counts plus the first few messages.
    pub fn rejection_error(&self) -> Option<IngestError> {
        if self.rejected.is_empty() {
            return None;
        }
        const SHOWN: usize = 10;
        let mut msg = format!(
            "remote write: {} item(s) rejected ({} accepted); ",
            self.rejected_count(),
            {
                let c = self.counts();
                c.samples + c.histograms + c.exemplars
            }
        );
        let details: Vec<String> = self
            .rejected
            .iter()
            .take(SHOWN)
            .map(|r| format!("{}: {}", r.reason, r.message))
            .collect();
        msg.push_str(&details.join("; "));
        if self.rejected.len() > SHOWN {
            msg.push_str(&format!(
                "; and {} more rejection(s)",
                self.rejected.len() - SHOWN
            ));
        }
        Some(IngestError::BadRequest(msg))
    }

    /// The samples, native histograms (as float histograms), exemplars and metadata as the
    /// store's write model. A histogram whose buckets cannot be placed (a span with a
    /// negative offset after the first, indexes beyond `i32`) is moved to `rejected`. A
    /// histogram whose sum is the stale marker is Prometheus' histogram stale marker (what a
    /// Prometheus sender sends when a histogram series goes stale): it becomes the float
    /// stale marker, which is how the store keeps stale markers of every series.
    pub fn into_metric_write(mut self) -> (MetricWrite, Vec<Rejected>) {
        let mut write = MetricWrite::default();
        for mut s in std::mem::take(&mut self.series) {
            let mut histograms = Vec::with_capacity(s.histograms.len());
            let mut stale = false;
            for (i, h) in s.histograms.iter().enumerate() {
                if h.sum.to_bits() == STALE_NAN_BITS {
                    s.samples
                        .push((h.timestamp_ms, f64::from_bits(STALE_NAN_BITS)));
                    stale = true;
                    continue;
                }
                match h.to_float() {
                    Ok(f) => histograms.push((h.timestamp_ms, f)),
                    Err(m) => {
                        let labels = &s.labels;
                        self.reject("invalid_histogram", 1, || {
                            format!("series {labels}: histogram #{i}: {m}")
                        })
                    }
                }
            }
            if stale {
                // Validation left the floats in time order; keep them so (stable: a float
                // at the same time as a stale marker stays first).
                s.samples.sort_by_key(|p| p.0);
            }
            let exemplars = s
                .exemplars
                .into_iter()
                .map(|e| StoreExemplar {
                    labels: e.labels,
                    value: e.value,
                    t_ms: e.timestamp_ms,
                })
                .collect();
            write.series.push(SeriesWrite {
                labels: s.labels,
                samples: s.samples,
                histograms,
                exemplars,
            });
        }
        write.metadata = std::mem::take(&mut self.metadata)
            .into_iter()
            .map(|m| StoreMetadata {
                metric: m.metric_family,
                kind: m.kind,
                help: m.help,
                unit: m.unit,
            })
            .collect();
        (write, self.rejected)
    }

    fn reject(&mut self, reason: &'static str, count: u64, message: impl FnOnce() -> String) {
        convert::push_rejection(&mut self.rejected, reason, count, message);
    }
}

/// The three `X-Prometheus-Remote-Write-*-Written` response headers for what was stored.
/// Send them on 2xx and 4xx answers (required for 2.0); all zero when nothing was stored.
pub fn written_headers(c: Counts) -> [(http::HeaderName, http::HeaderValue); 3] {
    let h = |name: &'static str, v: u64| {
        (
            http::HeaderName::from_static(name),
            http::HeaderValue::from(v),
        )
    };
    [
        h("x-prometheus-remote-write-samples-written", c.samples),
        h("x-prometheus-remote-write-histograms-written", c.histograms),
        h("x-prometheus-remote-write-exemplars-written", c.exemplars),
    ]
}

/// Snappy-decompresses `body` (block format), refusing to produce more than `max_bytes`.
///
/// Errors: [`IngestError::TooLarge`] when the announced decompressed size exceeds `max_bytes`
/// (checked before allocating, so decompression bombs cost nothing);
/// [`IngestError::BadRequest`] for an empty body, snappy's framed format, or corrupt input.
pub fn decompress(body: &[u8], max_bytes: usize) -> Result<Vec<u8>, IngestError> {
    let fail = |e: snap::Error| {
        if body.starts_with(SNAPPY_FRAMED_MAGIC) {
            IngestError::BadRequest(
                "the body is in snappy's framed (stream) format; remote write requires snappy's \
                 block format (Go: snappy.Encode, Rust: snap::raw::Encoder)"
                    .into(),
            )
        } else if body.is_empty() {
            IngestError::BadRequest(
                "empty body: expected a snappy block-compressed protobuf message".into(),
            )
        } else {
            IngestError::BadRequest(format!(
                "snappy block decompression of the remote write body failed: {e}"
            ))
        }
    };
    let len = snap::raw::decompress_len(body).map_err(fail)?;
    if len > max_bytes {
        if body.starts_with(SNAPPY_FRAMED_MAGIC) {
            return Err(fail(snap::Error::Header));
        }
        return Err(IngestError::TooLarge { limit: max_bytes });
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(fail)
}

/// Snappy-decompresses (block format, at most `max_bytes` decompressed), decodes `body` with
/// the schema of `version`, and validates it (everything except the time-dependent checks of
/// [`validate`]). See the module docs for what fails the request and what only rejects items.
pub fn decode(body: &[u8], version: Version, max_bytes: usize) -> Result<WriteBatch, IngestError> {
    let raw = decompress(body, max_bytes)?;
    let proto_err = |e: prost::DecodeError| {
        IngestError::BadRequest(format!(
            "the decompressed body is not a valid {} protobuf message (as the Content-Type \
             says): {e}",
            version.proto_name()
        ))
    };
    match version {
        Version::V1 => {
            let req = proto::WriteRequest::decode(raw.as_slice()).map_err(proto_err)?;
            Ok(convert::from_v1(req))
        }
        Version::V2 => {
            let req = proto::RequestV2::decode(raw.as_slice()).map_err(proto_err)?;
            convert::from_v2(req)
        }
    }
}

/// Time-dependent checks, as Prometheus' write handler and TSDB make them, moving offending
/// samples, histograms and exemplars into `batch.rejected`:
///
/// * timestamp more than [`MAX_AHEAD_MS`] after `now_ms` → `out_of_bounds`;
/// * within one series, a sample (or histogram) older than the previous one → `out_of_order`;
///   one at the same timestamp as the previous one with a different value (bitwise) →
///   `duplicate_timestamp` (an exact repeat is kept, as TSDB accepts it).
///
/// Out-of-order against already *stored* data is the store's business, not checked here.
/// Series left with nothing are removed.
pub fn validate(batch: &mut WriteBatch, now_ms: i64) {
    let max_t = now_ms.saturating_add(MAX_AHEAD_MS);
    let mut rejected = std::mem::take(&mut batch.rejected);
    for s in &mut batch.series {
        let labels = &s.labels;
        let mut prev: Option<(i64, u64)> = None;
        s.samples.retain(|&(t, v)| {
            let why = if t > max_t {
                Some(("out_of_bounds", "timestamp is too far in the future"))
            } else {
                match prev {
                    Some((pt, _)) if t < pt => Some(("out_of_order", "out of order sample")),
                    Some((pt, pv)) if t == pt && pv != v.to_bits() => Some((
                        "duplicate_timestamp",
                        "duplicate sample for timestamp with a different value",
                    )),
                    _ => None,
                }
            };
            match why {
                Some((reason, text)) => {
                    convert::push_rejection(&mut rejected, reason, 1, || {
                        format!("series {labels}: {text} (timestamp {t} ms)")
                    });
                    false
                }
                None => {
                    prev = Some((t, v.to_bits()));
                    true
                }
            }
        });
        let mut prev_h: Option<i64> = None;
        s.histograms.retain(|h| {
            let t = h.timestamp_ms;
            let why = if t > max_t {
                Some((
                    "out_of_bounds",
                    "histogram timestamp is too far in the future",
                ))
            } else if prev_h.is_some_and(|p| t < p) {
                Some(("out_of_order", "out of order histogram"))
            } else {
                None
            };
            match why {
                Some((reason, text)) => {
                    convert::push_rejection(&mut rejected, reason, 1, || {
                        format!("series {labels}: {text} (timestamp {t} ms)")
                    });
                    false
                }
                None => {
                    prev_h = Some(t);
                    true
                }
            }
        });
        s.exemplars.retain(|e| {
            let t = e.timestamp_ms;
            if t > max_t {
                convert::push_rejection(&mut rejected, "out_of_bounds", 1, || {
                    format!(
                        "series {labels}: exemplar timestamp is too far in the future \
                         (timestamp {t} ms)"
                    )
                });
                false
            } else {
                true
            }
        });
    }
    batch.rejected = rejected;
    batch
        .series
        .retain(|s| !(s.samples.is_empty() && s.histograms.is_empty() && s.exemplars.is_empty()));
}
