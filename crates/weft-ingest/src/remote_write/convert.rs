//! Wire messages → validated [`WriteBatch`]. Per-item problems become [`Rejected`] entries.

use std::collections::HashSet;
use std::fmt::Write as _;

use weft_core::labels::{Labels, METRIC_NAME};

use super::proto;
use super::{
    Exemplar, HistogramCounts, Metadata, MetricKind, NativeHistogram, Rejected, ResetHint, Series,
    WriteBatch, CUSTOM_BUCKETS_SCHEMA, MAX_REJECTION_DETAILS, MORE_REJECTIONS,
};
use crate::IngestError;

/// Records a rejection; past [`MAX_REJECTION_DETAILS`] entries only counts are kept, per reason.
pub(super) fn push_rejection(
    rejected: &mut Vec<Rejected>,
    reason: &'static str,
    count: u64,
    message: impl FnOnce() -> String,
) {
    if rejected.len() < MAX_REJECTION_DETAILS {
        rejected.push(Rejected {
            reason,
            message: message(),
            count,
        });
        return;
    }
    match rejected
        .iter_mut()
        .find(|r| r.reason == reason && r.message == MORE_REJECTIONS)
    {
        Some(r) => r.count += count,
        None => rejected.push(Rejected {
            reason,
            message: MORE_REJECTIONS.to_string(),
            count,
        }),
    }
}

/// A label problem: `(reason, message without the series prefix)`.
type Problem = (&'static str, String);

/// Renders raw label pairs for messages, lossily, in the order received.
fn render_raw(pairs: &[(Vec<u8>, Vec<u8>)]) -> String {
    let mut out = String::from("{");
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(
            out,
            "{}={:?}",
            String::from_utf8_lossy(n),
            String::from_utf8_lossy(v)
        );
    }
    out.push('}');
    out
}

/// UTF-8 check of raw pairs (1.0 and exemplars), naming the label.
fn utf8_pairs(pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<(), Problem> {
    for (i, (n, v)) in pairs.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(n) else {
            return Err((
                "invalid_utf8",
                format!(
                    "label name #{i} ({:?}) is not valid UTF-8",
                    String::from_utf8_lossy(n)
                ),
            ));
        };
        if std::str::from_utf8(v).is_err() {
            return Err((
                "invalid_utf8",
                format!(
                    "the value of label {name:?} ({:?}) is not valid UTF-8",
                    String::from_utf8_lossy(v)
                ),
            ));
        }
    }
    Ok(())
}

/// Pairs already checked by [`utf8_pairs`] as strings, without copying.
fn into_strings(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(n, v)| {
            // Checked above, so these conversions only take ownership.
            let s = |b: Vec<u8>| {
                String::from_utf8(b)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            };
            (s(n), s(v))
        })
        .collect()
}

/// Checks names (non-empty, unique, `__name__` present and non-empty if `series`) and builds
/// the sorted set. Empty values are dropped, as in Prometheus.
fn check_labels(pairs: Vec<(String, String)>, series: bool) -> Result<Labels, Problem> {
    check_names(pairs, series).map_err(|(r, m, pairs)| (r, format!("{}: {m}", render_ok(&pairs))))
}

/// A [`Problem`] with the pairs handed back, to name the series in the message.
type NameProblem = (&'static str, String, Vec<(String, String)>);

/// [`check_labels`] without the series in the message; errors hand the pairs back for it.
fn check_names(mut pairs: Vec<(String, String)>, series: bool) -> Result<Labels, NameProblem> {
    if let Some((_, v)) = pairs.iter().find(|(n, _)| n.is_empty()) {
        let m = format!("a label has an empty name (value {v:?})");
        return Err(("invalid_label_name", m, pairs));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        let m = format!("label name {:?} appears more than once", w[0].0);
        return Err(("duplicate_label_name", m, pairs));
    }
    if series && !pairs.iter().any(|(n, v)| n == METRIC_NAME && !v.is_empty()) {
        let m = format!("no {METRIC_NAME} label (metric name), or it is empty");
        return Err(("missing_metric_name", m, pairs));
    }
    // Names are non-empty and unique here, so this cannot fail; map it all the same.
    Labels::from_pairs(pairs).map_err(|e| ("invalid_labels", e.to_string(), Vec::new()))
}

fn render_ok(pairs: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{n}={v:?}");
    }
    out.push('}');
    out
}

/// Builds validated labels from raw 1.0 pairs; the error message names the series.
fn labels_v1(pairs: Vec<(Vec<u8>, Vec<u8>)>, series: bool) -> Result<Labels, Problem> {
    // The label set is rendered for a message only when there is an error: rendering every
    // series up front was a twentieth of the ingest CPU.
    utf8_pairs(&pairs).map_err(|(r, m)| (r, format!("{}: {m}", render_raw(&pairs))))?;
    check_labels(into_strings(pairs), series)
}

fn reset_hint(v: i32) -> ResetHint {
    match v {
        1 => ResetHint::Yes,
        2 => ResetHint::No,
        3 => ResetHint::Gauge,
        _ => ResetHint::Unknown,
    }
}

fn span_buckets(spans: &[proto::BucketSpan]) -> u64 {
    spans.iter().map(|s| u64::from(s.length)).sum()
}

/// Structural validation of a native histogram (Prometheus' `histogram.Error` cases that are
/// cheap to check), then conversion.
fn histogram(h: proto::Histogram) -> Result<NativeHistogram, String> {
    let custom = h.schema == CUSTOM_BUCKETS_SCHEMA;
    if !custom && !(-4..=8).contains(&h.schema) {
        return Err(format!(
            "histogram schema {} is not supported (valid: -4..=8, or -53 for custom buckets)",
            h.schema
        ));
    }
    if custom {
        if !h.negative_spans.is_empty()
            || !h.negative_deltas.is_empty()
            || !h.negative_counts.is_empty()
        {
            return Err(
                "custom-bucket histogram (schema -53) must not have negative buckets".into(),
            );
        }
        if let Some(w) = h
            .custom_values
            .windows(2)
            .find(|w| w[0] >= w[1] || w[1].is_nan())
        {
            return Err(format!(
                "custom-bucket histogram bounds must be strictly increasing, got {} then {}",
                w[0], w[1]
            ));
        }
    } else if !h.custom_values.is_empty() {
        return Err(format!(
            "histogram with schema {} has custom_values (only allowed with schema -53)",
            h.schema
        ));
    }
    let is_float = matches!(h.count, Some(proto::HistogramCount::CountFloat(_)));
    let counts = if is_float {
        if !h.negative_deltas.is_empty() || !h.positive_deltas.is_empty() {
            return Err("float histogram has integer bucket deltas (use *_counts)".into());
        }
        let zero_count = match h.zero_count {
            None => 0.0,
            Some(proto::HistogramZeroCount::ZeroCountFloat(z)) => z,
            Some(proto::HistogramZeroCount::ZeroCountInt(_)) => {
                return Err("float histogram has an integer zero_count".into())
            }
        };
        if let Some(c) = h
            .negative_counts
            .iter()
            .chain(&h.positive_counts)
            .find(|c| **c < 0.0)
        {
            return Err(format!("histogram has a bucket with negative count {c}"));
        }
        HistogramCounts::Float {
            count: match h.count {
                Some(proto::HistogramCount::CountFloat(c)) => c,
                _ => 0.0,
            },
            zero_count,
            negative_counts: h.negative_counts,
            positive_counts: h.positive_counts,
        }
    } else {
        if !h.negative_counts.is_empty() || !h.positive_counts.is_empty() {
            return Err("integer histogram has float bucket counts (use *_deltas)".into());
        }
        let zero_count = match h.zero_count {
            None => 0,
            Some(proto::HistogramZeroCount::ZeroCountInt(z)) => z,
            Some(proto::HistogramZeroCount::ZeroCountFloat(_)) => {
                return Err("integer histogram has a float zero_count".into())
            }
        };
        for (side, deltas) in [
            ("negative", &h.negative_deltas),
            ("positive", &h.positive_deltas),
        ] {
            let mut running: i64 = 0;
            for (i, d) in deltas.iter().enumerate() {
                running = running
                    .checked_add(*d)
                    .ok_or_else(|| format!("histogram {side} bucket {i}: count overflows"))?;
                if running < 0 {
                    return Err(format!(
                        "histogram {side} bucket {i} has negative count {running}"
                    ));
                }
            }
        }
        HistogramCounts::Int {
            count: match h.count {
                Some(proto::HistogramCount::CountInt(c)) => c,
                _ => 0,
            },
            zero_count,
            negative_deltas: h.negative_deltas,
            positive_deltas: h.positive_deltas,
        }
    };
    let (neg_buckets, pos_buckets) = match &counts {
        HistogramCounts::Int {
            negative_deltas,
            positive_deltas,
            ..
        } => (negative_deltas.len(), positive_deltas.len()),
        HistogramCounts::Float {
            negative_counts,
            positive_counts,
            ..
        } => (negative_counts.len(), positive_counts.len()),
    };
    for (side, spans, have) in [
        ("negative", &h.negative_spans, neg_buckets),
        ("positive", &h.positive_spans, pos_buckets),
    ] {
        let need = span_buckets(spans);
        if need != have as u64 {
            return Err(format!(
                "histogram {side} spans need {need} buckets, have {have} buckets"
            ));
        }
    }
    let spans = |s: Vec<proto::BucketSpan>| s.into_iter().map(|s| (s.offset, s.length)).collect();
    Ok(NativeHistogram {
        timestamp_ms: h.timestamp,
        start_timestamp_ms: h.start_timestamp,
        schema: h.schema,
        sum: h.sum,
        zero_threshold: h.zero_threshold,
        reset_hint: reset_hint(h.reset_hint),
        negative_spans: spans(h.negative_spans),
        positive_spans: spans(h.positive_spans),
        custom_values: h.custom_values,
        counts,
    })
}

/// Converts histograms, rejecting invalid ones individually.
fn histograms(
    hs: Vec<proto::Histogram>,
    labels: &Labels,
    rejected: &mut Vec<Rejected>,
) -> Vec<NativeHistogram> {
    let mut out = Vec::with_capacity(hs.len());
    for (i, h) in hs.into_iter().enumerate() {
        let t = h.timestamp;
        match histogram(h) {
            Ok(h) => out.push(h),
            Err(m) => push_rejection(rejected, "invalid_histogram", 1, || {
                format!("series {labels}: histogram #{i} (timestamp {t} ms): {m}")
            }),
        }
    }
    out
}

/// Adds a series unless nothing is left in it (all items rejected, or an empty 1.0 series).
fn push_series(batch: &mut WriteBatch, s: Series) {
    if !(s.samples.is_empty() && s.histograms.is_empty() && s.exemplars.is_empty()) {
        batch.series.push(s);
    }
}

fn utf8_string(b: Vec<u8>) -> Result<String, Vec<u8>> {
    String::from_utf8(b).map_err(|e| e.into_bytes())
}

/// 1.0: `prometheus.WriteRequest` → batch. Never fails as a whole.
pub(super) fn from_v1(req: proto::WriteRequest) -> WriteBatch {
    let mut batch = WriteBatch::default();
    for ts in req.timeseries {
        let points = (ts.samples.len() + ts.histograms.len() + ts.exemplars.len()) as u64;
        let pairs = ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
        let labels = match labels_v1(pairs, true) {
            Ok(l) => l,
            Err((reason, m)) => {
                batch.reject(reason, points, || format!("series {m}"));
                continue;
            }
        };
        let samples = ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
        let histograms = histograms(ts.histograms, &labels, &mut batch.rejected);
        let mut exemplars = Vec::with_capacity(ts.exemplars.len());
        for (i, e) in ts.exemplars.into_iter().enumerate() {
            let pairs = e.labels.into_iter().map(|l| (l.name, l.value)).collect();
            match labels_v1(pairs, false) {
                Ok(el) => exemplars.push(Exemplar {
                    labels: el,
                    value: e.value,
                    timestamp_ms: e.timestamp,
                }),
                Err((_, m)) => batch.reject("invalid_exemplar", 1, || {
                    format!("series {labels}: exemplar #{i} has invalid labels {m}")
                }),
            }
        }
        push_series(
            &mut batch,
            Series {
                labels,
                samples,
                histograms,
                exemplars,
            },
        );
    }
    for (i, m) in req.metadata.into_iter().enumerate() {
        let fam = match utf8_string(m.metric_family_name) {
            Ok(f) if !f.is_empty() => f,
            Ok(_) => {
                batch.reject("invalid_metadata", 1, || {
                    format!("metadata #{i} has an empty metric_family_name")
                });
                continue;
            }
            Err(b) => {
                batch.reject("invalid_utf8", 1, || {
                    format!(
                        "metadata #{i}: metric_family_name ({:?}) is not valid UTF-8",
                        String::from_utf8_lossy(&b)
                    )
                });
                continue;
            }
        };
        let (help, unit) = match (utf8_string(m.help), utf8_string(m.unit)) {
            (Ok(h), Ok(u)) => (h, u),
            (h, _) => {
                let field = if h.is_err() { "help" } else { "unit" };
                batch.reject("invalid_utf8", 1, || {
                    format!("metadata for {fam:?}: {field} is not valid UTF-8")
                });
                continue;
            }
        };
        batch.metadata.push(Metadata {
            metric_family: fam,
            kind: MetricKind::from_wire(m.r#type),
            help,
            unit,
        });
    }
    batch
}

/// 2.0 symbol table, UTF-8 checked lazily per reference.
struct Symbols<'a>(&'a [Vec<u8>]);

impl Symbols<'_> {
    fn get(&self, what: &str, r: u32) -> Result<&str, Problem> {
        match self.0.get(r as usize) {
            None => Err((
                "invalid_symbol_ref",
                format!(
                    "{what} = {r} is outside the symbols table (size {})",
                    self.0.len()
                ),
            )),
            Some(b) => std::str::from_utf8(b).map_err(|_| {
                (
                    "invalid_utf8",
                    format!(
                        "{what} = {r} refers to symbols[{r}] ({:?}), which is not valid UTF-8",
                        String::from_utf8_lossy(b)
                    ),
                )
            }),
        }
    }

    /// Resolves a `labels_refs` list (`field` names it in messages) into pairs.
    fn pairs(&self, field: &str, refs: &[u32]) -> Result<Vec<(String, String)>, Problem> {
        if !refs.chunks_exact(2).remainder().is_empty() {
            return Err((
                "invalid_symbol_ref",
                format!(
                    "{field} has odd length {}; it must hold (name, value) reference pairs",
                    refs.len()
                ),
            ));
        }
        refs.chunks_exact(2)
            .enumerate()
            .map(|(k, p)| {
                let n = self.get(&format!("{field}[{}]", 2 * k), p[0])?;
                let v = self.get(&format!("{field}[{}]", 2 * k + 1), p[1])?;
                Ok((n.to_string(), v.to_string()))
            })
            .collect()
    }
}

/// 2.0: `io.prometheus.write.v2.Request` → batch. Fails as a whole only when `symbols[0]` is
/// not the empty string.
pub(super) fn from_v2(req: proto::RequestV2) -> Result<WriteBatch, IngestError> {
    if let Some(first) = req.symbols.first().filter(|s| !s.is_empty()) {
        return Err(IngestError::BadRequest(format!(
            "symbols[0] must be the empty string (Remote-Write 2.0), got {:?}",
            String::from_utf8_lossy(first)
        )));
    }
    let symbols = Symbols(&req.symbols);
    let mut batch = WriteBatch::default();
    let mut families: HashSet<String> = HashSet::new();
    for (i, ts) in req.timeseries.into_iter().enumerate() {
        let points = (ts.samples.len() + ts.histograms.len() + ts.exemplars.len()) as u64;
        let pairs = match symbols.pairs("labels_refs", &ts.labels_refs) {
            Ok(p) => p,
            Err((reason, m)) => {
                batch.reject(reason, points, || format!("timeseries[{i}]: {m}"));
                continue;
            }
        };
        let labels = match check_labels(pairs, true) {
            Ok(l) => l,
            Err((reason, m)) => {
                batch.reject(reason, points, || format!("timeseries[{i}] series {m}"));
                continue;
            }
        };
        let meta = ts.metadata.unwrap_or_default();
        let (help, unit) = match (
            symbols.get("metadata.help_ref", meta.help_ref),
            symbols.get("metadata.unit_ref", meta.unit_ref),
        ) {
            (Ok(h), Ok(u)) => (h, u),
            (Err((reason, m)), _) | (_, Err((reason, m))) => {
                batch.reject(reason, points, || {
                    format!("timeseries[{i}] series {labels}: {m}")
                });
                continue;
            }
        };
        if ts.samples.is_empty() && ts.histograms.is_empty() {
            batch.reject("no_samples", points, || {
                format!(
                    "timeseries[{i}] series {labels}: has neither samples nor histograms \
                     (Remote-Write 2.0 requires at least one)"
                )
            });
            continue;
        }
        let kind = MetricKind::from_wire(meta.r#type);
        if kind != MetricKind::Unknown || !help.is_empty() || !unit.is_empty() {
            let name = labels.metric_name().unwrap_or_default();
            if !families.contains(name) {
                families.insert(name.to_string());
                batch.metadata.push(Metadata {
                    metric_family: name.to_string(),
                    kind,
                    help: help.to_string(),
                    unit: unit.to_string(),
                });
            }
        }
        let samples = ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
        let histograms = histograms(ts.histograms, &labels, &mut batch.rejected);
        let mut exemplars = Vec::with_capacity(ts.exemplars.len());
        for (k, e) in ts.exemplars.into_iter().enumerate() {
            let res = symbols
                .pairs(&format!("exemplars[{k}].labels_refs"), &e.labels_refs)
                .and_then(|p| check_labels(p, false));
            match res {
                Ok(el) => exemplars.push(Exemplar {
                    labels: el,
                    value: e.value,
                    timestamp_ms: e.timestamp,
                }),
                Err((_, m)) => batch.reject("invalid_exemplar", 1, || {
                    format!("timeseries[{i}] series {labels}: {m}")
                }),
            }
        }
        push_series(
            &mut batch,
            Series {
                labels,
                samples,
                histograms,
                exemplars,
            },
        );
    }
    Ok(batch)
}
