//! Translation of OTLP metrics into Prometheus series, by the OpenTelemetry "Prometheus and
//! OpenMetrics Compatibility" rules (the same rules Prometheus' own OTLP receiver applies).
//!
//! [`translate`] is pure: it takes one export request and returns the series, the metric
//! family metadata and the metrics it could not translate, each with a reason.
//!
//! Mapping:
//! - gauge → gauge; monotonic cumulative sum → counter named `…_total`; non-monotonic
//!   cumulative sum → gauge. Delta sums and delta histograms are rejected.
//! - histogram → `_bucket{le}` (cumulative, ending with `le="+Inf"` = count), `_sum` (when
//!   present) and `_count`.
//! - summary → one series per quantile (`quantile` label), `_sum` and `_count`.
//! - exponential histogram (cumulative) → native histogram (float counts) of the same name:
//!   scale → schema, scales above 8 downscaled to 8 by merging buckets, scales below -4
//!   rejected; OTLP bucket `offset + i` → index `((offset + i) >> (scale - 8 if > 8)) + 1`
//!   (OTLP bucket 0 is `(1, base]`, Prometheus' is `(base^-1, 1]`); empty buckets dropped;
//!   zero threshold from the point (Prometheus' default 1e-128 when unset); sum only when
//!   present; exemplars attached to the series. As Prometheus' OTLP receiver does.
//! - unit → name suffix (`By` → `bytes`, `s` → `seconds`, `m/s` → `meters_per_second`,
//!   `{…}` annotations dropped, `1` on gauges → `_ratio`).
//! - resource `service.namespace`/`service.name` → `job`, `service.instance.id` → `instance`;
//!   every other resource attribute goes to one `target_info` series (value 1) per resource.
//! - scope name/version → `otel_scope_name`/`otel_scope_version`; scope attributes →
//!   `otel_scope_<attribute>` labels (as Prometheus' receiver does).
//! - a gauge whose metadata has `prometheus.type` = `unknown` gets kind Unknown.
//! - `NO_RECORDED_VALUE` → the Prometheus stale marker.
//! - Timestamps: nanoseconds → milliseconds. Start time: ignored, or `_created` series (value
//!   in seconds, as in OpenMetrics) when [`TranslateOptions::emit_created`] is set.
//! - Exemplars are ignored.

mod naming;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use weft_core::labels::{Labels, METRIC_NAME};
use weft_core::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use weft_core::otlp::common::v1::{any_value, AnyValue, KeyValue};
use weft_core::otlp::metrics::v1::{
    exponential_histogram_data_point, metric, number_data_point, AggregationTemporality,
    ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint, SummaryDataPoint,
};
use weft_metrics::promql::histogram::CounterResetHint;
use weft_metrics::promql::FloatHistogram;

pub use crate::remote_write::MetricKind;
pub use naming::{label_name, metric_family_name, unit_suffix, TypeSuffix};

/// The Prometheus stale marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Rejection reasons (stable snake_case strings, used as `reason` label values).
pub mod reason {
    pub const DELTA: &str = "delta_temporality";
    pub const EXPONENTIAL_HISTOGRAM: &str = "exponential_histogram";
    pub const UNSPECIFIED_TEMPORALITY: &str = "unspecified_temporality";
    pub const NO_DATA: &str = "no_data";
    pub const EMPTY_NAME: &str = "empty_name";
    pub const INVALID_HISTOGRAM: &str = "invalid_histogram";
    pub const HISTOGRAM_SCALE: &str = "exponential_histogram_scale";

    /// What a reason means, for the message sent back to the client.
    pub fn explain(reason: &str) -> &'static str {
        match reason {
            DELTA => {
                "delta temporality is not supported (use cumulative temporality, or the \
                      collector's deltatocumulative processor)"
            }
            EXPONENTIAL_HISTOGRAM => "exponential histograms are not supported",
            HISTOGRAM_SCALE => {
                "exponential histogram scale below -4 (the lowest native histogram schema)"
            }
            UNSPECIFIED_TEMPORALITY => "the aggregation temporality is unspecified",
            NO_DATA => "the metric has no data",
            EMPTY_NAME => "the metric name is empty",
            INVALID_HISTOGRAM => "invalid histogram",
            _ => "not translated",
        }
    }
}

/// Resource attribute names that become `job` and `instance`.
const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// How to translate.
#[derive(Clone, Debug)]
pub struct TranslateOptions {
    /// Keep OTLP metric and label names as UTF-8 instead of sanitising them to the legacy
    /// character set. Suffixes are appended either way.
    pub utf8_names: bool,
    /// Resource attributes copied as labels onto every series of that resource (they also
    /// stay in `target_info`).
    pub promote_resource_attributes: Vec<String>,
    /// Emit one `target_info` series per resource with its non-identifying attributes.
    pub emit_target_info: bool,
    /// Emit `_created` series (start time in seconds) for counters, histograms and summaries
    /// whose data points carry a start time.
    pub emit_created: bool,
}

impl Default for TranslateOptions {
    fn default() -> Self {
        Self {
            utf8_names: false,
            promote_resource_attributes: Vec::new(),
            emit_target_info: true,
            emit_created: false,
        }
    }
}

/// One Prometheus series.
#[derive(Clone, Debug, PartialEq)]
pub struct PromSeries {
    /// All labels, including `__name__`.
    pub labels: Labels,
    /// `(timestamp in ms, value)`.
    pub samples: Vec<(i64, f64)>,
    /// Native histogram samples (from exponential histograms).
    pub histograms: Vec<(i64, FloatHistogram)>,
    /// Exemplars (trace and span IDs as `trace_id`/`span_id` labels) attached to the series:
    /// for sums, the series itself; for histograms, the bucket whose bound first covers the
    /// exemplar's value, as Prometheus' OTLP receiver does.
    pub exemplars: Vec<weft_metrics::model::Exemplar>,
}

/// The result of [`translate`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Translation {
    pub series: Vec<PromSeries>,
    /// `(family name, kind, help, unit)`, one per translated metric.
    pub metadata: Vec<(String, MetricKind, String, String)>,
    /// `(reason, message)`, one per metric (or data point) not translated.
    pub rejected: Vec<(&'static str, String)>,
}

/// Translates an OTLP export and stores it: the OTLP answer carries a `partial_success`
/// naming what was refused (by translation or by the store), as OTLP asks.
pub async fn export(
    pipeline: &crate::MetricPipeline,
    tenant: &weft_core::TenantId,
    request: &ExportMetricsServiceRequest,
    opts: &TranslateOptions,
    transport: &'static str,
) -> Result<weft_core::otlp::collector::metrics::v1::ExportMetricsServiceResponse, crate::IngestError>
{
    use weft_core::otlp::collector::metrics::v1::{
        ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
    };
    let translation = translate(request, opts);
    let mut messages: Vec<String> = Vec::new();
    let mut rejected = 0u64;
    for (reason, message) in &translation.rejected {
        pipeline.metrics().refuse("metrics", reason, 1);
        rejected += 1;
        if messages.len() < 10 {
            messages.push(message.clone());
        }
    }
    let outcome = pipeline
        .write(tenant, &translation.into_metric_write(), transport)
        .await?;
    rejected += outcome.rejected_count();
    if let Some(m) = outcome.rejection_message() {
        messages.push(m);
    }
    if rejected == 0 {
        return Ok(ExportMetricsServiceResponse::default());
    }
    Ok(ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: rejected as i64,
            error_message: messages.join("; "),
        }),
    })
}

/// An OTLP exemplar as a Prometheus one: its filtered attributes plus `trace_id`/`span_id`
/// (lowercase hex) as labels.
fn exemplar(
    e: &weft_core::otlp::metrics::v1::Exemplar,
    utf8: bool,
) -> weft_metrics::model::Exemplar {
    use weft_core::otlp::metrics::v1::exemplar;
    let mut l = LabelSet::default();
    l.add_attributes(&e.filtered_attributes, utf8);
    if !e.trace_id.is_empty() {
        l.set("trace_id", hex::encode(&e.trace_id));
    }
    if !e.span_id.is_empty() {
        l.set("span_id", hex::encode(&e.span_id));
    }
    let value = match e.value {
        Some(exemplar::Value::AsDouble(d)) => d,
        Some(exemplar::Value::AsInt(i)) => i as f64,
        None => 0.0,
    };
    let pairs: Vec<(String, String)> = l.map.into_iter().collect();
    weft_metrics::model::Exemplar {
        labels: Labels::from_pairs(pairs).unwrap_or_default(),
        value,
        t_ms: ns_to_ms(e.time_unix_nano),
    }
}

impl Translation {
    /// The series and metadata as the store's write model.
    pub fn into_metric_write(self) -> weft_metrics::model::MetricWrite {
        use weft_metrics::model::{Metadata, MetricWrite, SeriesWrite};
        MetricWrite {
            series: self
                .series
                .into_iter()
                .map(|s| SeriesWrite {
                    labels: s.labels,
                    samples: s.samples,
                    histograms: s.histograms,
                    exemplars: s.exemplars,
                })
                .collect(),
            metadata: self
                .metadata
                .into_iter()
                .map(|(metric, kind, help, unit)| Metadata {
                    metric,
                    kind,
                    help,
                    unit,
                })
                .collect(),
        }
    }
}

/// Nanoseconds since the epoch → milliseconds.
fn ns_to_ms(ns: u64) -> i64 {
    (ns / 1_000_000) as i64
}

/// Whether the data point carries the NO_RECORDED_VALUE flag.
fn no_recorded_value(flags: u32) -> bool {
    flags & 1 != 0
}

fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// An attribute value as a label value: strings as-is, scalars in their usual text form,
/// arrays and maps as JSON.
pub fn any_value_string(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => format_float(*d),
        Some(other) => any_value_json(other).to_string(),
    }
}

fn any_value_json(v: &any_value::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        any_value::Value::StringValue(s) => J::String(s.clone()),
        any_value::Value::BoolValue(b) => J::Bool(*b),
        any_value::Value::IntValue(i) => J::from(*i),
        any_value::Value::DoubleValue(d) => {
            serde_json::Number::from_f64(*d).map_or(J::String(format_float(*d)), J::Number)
        }
        any_value::Value::ArrayValue(a) => J::Array(
            a.values
                .iter()
                .map(|x| x.value.as_ref().map_or(J::Null, any_value_json))
                .collect(),
        ),
        any_value::Value::KvlistValue(kv) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    let val = kv
                        .value
                        .as_ref()
                        .and_then(|v| v.value.as_ref())
                        .map_or(J::Null, any_value_json);
                    (kv.key.clone(), val)
                })
                .collect(),
        ),
        any_value::Value::BytesValue(b) => J::String(hex::encode(b)),
        _ => J::Null,
    }
}

/// A float as Prometheus prints label values such as `le` and `quantile`: shortest
/// round-trip decimal without exponent, `+Inf`, `-Inf`, `NaN`.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

/// Label builder: sanitised names; when sanitising makes two names equal, the values are
/// joined with `;` in the order of the original names (as Prometheus does). Later layers
/// (`set`) override earlier ones.
#[derive(Clone, Debug, Default)]
struct LabelSet {
    map: BTreeMap<String, String>,
}

impl LabelSet {
    /// Adds OTLP attributes as one layer (collisions inside the layer are joined).
    fn add_attributes<'a>(&mut self, attrs: impl IntoIterator<Item = &'a KeyValue>, utf8: bool) {
        let mut originals: Vec<(&str, String)> = attrs
            .into_iter()
            .map(|kv| (kv.key.as_str(), any_value_string(kv.value.as_ref())))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        originals.sort_by(|a, b| a.0.cmp(b.0));
        let mut layer: BTreeMap<String, String> = BTreeMap::new();
        for (key, value) in originals {
            let name = label_name(key, utf8);
            layer
                .entry(name)
                .and_modify(|v| {
                    v.push(';');
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        self.map.extend(layer);
    }

    fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() {
            self.map.insert(name.to_string(), value);
        }
    }

    fn build(&self, name: &str, extra: Option<(&str, &str)>) -> Labels {
        let mut map = self.map.clone();
        if let Some((k, v)) = extra {
            map.insert(k.to_string(), v.to_string());
        }
        map.insert(METRIC_NAME.to_string(), name.to_string());
        // A map has unique keys, so this cannot fail.
        Labels::from_pairs(map).unwrap_or_default()
    }
}

/// Per-resource context.
struct ResourceCtx {
    /// `job`, `instance` and promoted resource attributes.
    base: LabelSet,
    /// `target_info` labels (without `__name__`); `None` when there is nothing to report.
    target_info: Option<LabelSet>,
}

fn resource_ctx(attrs: &[KeyValue], opts: &TranslateOptions) -> ResourceCtx {
    let get = |k: &str| {
        attrs
            .iter()
            .find(|kv| kv.key == k)
            .map(|kv| any_value_string(kv.value.as_ref()))
            .filter(|v| !v.is_empty())
    };
    let job = match (get(SERVICE_NAMESPACE), get(SERVICE_NAME)) {
        (Some(ns), Some(name)) => Some(format!("{ns}/{name}")),
        (None, Some(name)) => Some(name),
        _ => None,
    };
    let instance = get(SERVICE_INSTANCE_ID);

    let mut base = LabelSet::default();
    base.add_attributes(
        attrs
            .iter()
            .filter(|kv| opts.promote_resource_attributes.contains(&kv.key)),
        opts.utf8_names,
    );
    if let Some(job) = &job {
        base.set("job", job.clone());
    }
    if let Some(instance) = &instance {
        base.set("instance", instance.clone());
    }

    let others: Vec<&KeyValue> = attrs
        .iter()
        .filter(|kv| {
            kv.key != SERVICE_NAME && kv.key != SERVICE_NAMESPACE && kv.key != SERVICE_INSTANCE_ID
        })
        .collect();
    let target_info = if opts.emit_target_info && !others.is_empty() {
        let mut t = LabelSet::default();
        t.add_attributes(others, opts.utf8_names);
        if let Some(job) = job {
            t.set("job", job);
        }
        if let Some(instance) = instance {
            t.set("instance", instance);
        }
        Some(t)
    } else {
        None
    };
    ResourceCtx { base, target_info }
}

/// Translates one OTLP export request.
pub fn translate(request: &ExportMetricsServiceRequest, opts: &TranslateOptions) -> Translation {
    let mut out = Translation::default();
    for rm in &request.resource_metrics {
        let attrs = rm
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        let ctx = resource_ctx(attrs, opts);
        let mut latest_ms: Option<i64> = None;
        for sm in &rm.scope_metrics {
            let mut scope_labels = ctx.base.clone();
            if let Some(scope) = &sm.scope {
                let mut attrs = LabelSet::default();
                attrs.add_attributes(&scope.attributes, opts.utf8_names);
                for (k, v) in attrs.map {
                    let name = label_name(&format!("otel_scope_{k}"), opts.utf8_names);
                    scope_labels.set(&name, v);
                }
                // Name and version win over scope attributes called `name` / `version`.
                scope_labels.set("otel_scope_name", scope.name.clone());
                scope_labels.set("otel_scope_version", scope.version.clone());
            }
            for m in &sm.metrics {
                let mut t = MetricTranslator {
                    opts,
                    scope: &scope_labels,
                    out: &mut out,
                    latest_ms: &mut latest_ms,
                };
                t.metric(m);
            }
        }
        if let (Some(info), Some(ts)) = (&ctx.target_info, latest_ms) {
            out.series.push(PromSeries {
                labels: info.build("target_info", None),
                samples: vec![(ts, 1.0)],
                histograms: Vec::new(),
                exemplars: Vec::new(),
            });
        }
    }
    out
}

struct MetricTranslator<'a> {
    opts: &'a TranslateOptions,
    scope: &'a LabelSet,
    out: &'a mut Translation,
    latest_ms: &'a mut Option<i64>,
}

impl MetricTranslator<'_> {
    /// Whether a histogram's temporality is cumulative (the only one stored); otherwise the
    /// metric is refused with the reason.
    fn cumulative(&mut self, aggregation_temporality: i32, name: &str) -> bool {
        match temporality(aggregation_temporality) {
            Temporality::Cumulative => true,
            Temporality::Delta => {
                self.reject(reason::DELTA, name);
                false
            }
            Temporality::Unspecified => {
                self.reject(reason::UNSPECIFIED_TEMPORALITY, name);
                false
            }
        }
    }

    fn reject(&mut self, reason: &'static str, name: &str) {
        self.out.rejected.push((
            reason,
            format!("metric {name:?}: {}", reason::explain(reason)),
        ));
    }

    fn push(&mut self, labels: Labels, ts: i64, value: f64) {
        *self.latest_ms = Some(self.latest_ms.map_or(ts, |l| l.max(ts)));
        self.out.series.push(PromSeries {
            labels,
            samples: vec![(ts, value)],
            histograms: Vec::new(),
            exemplars: Vec::new(),
        });
    }

    fn push_histogram(&mut self, labels: Labels, ts: i64, h: FloatHistogram) {
        *self.latest_ms = Some(self.latest_ms.map_or(ts, |l| l.max(ts)));
        self.out.series.push(PromSeries {
            labels,
            samples: Vec::new(),
            histograms: vec![(ts, h)],
            exemplars: Vec::new(),
        });
    }

    /// Attaches exemplars to the series pushed last.
    fn attach_exemplars(&mut self, exemplars: Vec<weft_metrics::model::Exemplar>) {
        if let Some(last) = self.out.series.last_mut() {
            last.exemplars.extend(exemplars);
        }
    }

    fn point_labels(&self, attrs: &[KeyValue]) -> LabelSet {
        // Data point attributes first, then scope/job/instance/promoted on top (identifying
        // labels win over data point attributes of the same name).
        let mut l = LabelSet::default();
        l.add_attributes(attrs, self.opts.utf8_names);
        l.map
            .extend(self.scope.map.iter().map(|(k, v)| (k.clone(), v.clone())));
        l
    }

    fn metadata(
        &mut self,
        family: &str,
        kind: MetricKind,
        m: &weft_core::otlp::metrics::v1::Metric,
    ) {
        self.out.metadata.push((
            family.to_string(),
            kind,
            m.description.clone(),
            m.unit.clone(),
        ));
    }

    fn created(&mut self, labels: &LabelSet, family: &str, start_ns: u64, ts: i64) {
        if self.opts.emit_created && start_ns != 0 {
            let name = format!("{family}_created");
            self.push(labels.build(&name, None), ts, start_ns as f64 / 1e9);
        }
    }

    fn metric(&mut self, m: &weft_core::otlp::metrics::v1::Metric) {
        let utf8 = self.opts.utf8_names;
        if m.name.is_empty() {
            return self.reject(reason::EMPTY_NAME, &m.name);
        }
        match &m.data {
            None => self.reject(reason::NO_DATA, &m.name),
            Some(metric::Data::Gauge(g)) => {
                let suffix = if naming_is_ratio(&m.unit) {
                    TypeSuffix::Ratio
                } else {
                    TypeSuffix::None
                };
                let family = metric_family_name(&m.name, &m.unit, suffix, utf8);
                let kind = if prometheus_type(m) == Some("unknown") {
                    MetricKind::Unknown
                } else {
                    MetricKind::Gauge
                };
                self.metadata(&family, kind, m);
                for p in &g.data_points {
                    self.number_point(&family, p, false);
                }
            }
            Some(metric::Data::Sum(s)) => {
                match temporality(s.aggregation_temporality) {
                    Temporality::Cumulative => {}
                    Temporality::Delta => return self.reject(reason::DELTA, &m.name),
                    Temporality::Unspecified => {
                        return self.reject(reason::UNSPECIFIED_TEMPORALITY, &m.name)
                    }
                }
                let (suffix, kind) = if s.is_monotonic {
                    (TypeSuffix::Total, MetricKind::Counter)
                } else if naming_is_ratio(&m.unit) {
                    (TypeSuffix::Ratio, MetricKind::Gauge)
                } else {
                    (TypeSuffix::None, MetricKind::Gauge)
                };
                let family = metric_family_name(&m.name, &m.unit, suffix, utf8);
                self.metadata(&family, kind, m);
                for p in &s.data_points {
                    self.number_point(&family, p, s.is_monotonic);
                }
            }
            Some(metric::Data::Histogram(h)) => {
                if !self.cumulative(h.aggregation_temporality, &m.name) {
                    return;
                }
                let family = metric_family_name(&m.name, &m.unit, TypeSuffix::None, utf8);
                self.metadata(&family, MetricKind::Histogram, m);
                for p in &h.data_points {
                    self.histogram_point(&family, p, &m.name);
                }
            }
            Some(metric::Data::ExponentialHistogram(h)) => {
                if !self.cumulative(h.aggregation_temporality, &m.name) {
                    return;
                }
                let family = metric_family_name(&m.name, &m.unit, TypeSuffix::None, utf8);
                self.metadata(&family, MetricKind::Histogram, m);
                for p in &h.data_points {
                    self.exponential_point(&family, p, &m.name);
                }
            }
            Some(metric::Data::Summary(s)) => {
                let family = metric_family_name(&m.name, &m.unit, TypeSuffix::None, utf8);
                self.metadata(&family, MetricKind::Summary, m);
                for p in &s.data_points {
                    self.summary_point(&family, p);
                }
            }
        }
    }

    fn number_point(&mut self, family: &str, p: &NumberDataPoint, counter: bool) {
        let labels = self.point_labels(&p.attributes);
        let ts = ns_to_ms(p.time_unix_nano);
        let value = if no_recorded_value(p.flags) {
            stale_nan()
        } else {
            match p.value {
                Some(number_data_point::Value::AsDouble(d)) => d,
                Some(number_data_point::Value::AsInt(i)) => i as f64,
                None => return,
            }
        };
        self.push(labels.build(family, None), ts, value);
        self.attach_exemplars(
            p.exemplars
                .iter()
                .map(|e| exemplar(e, self.opts.utf8_names))
                .collect(),
        );
        if counter {
            let base = family.strip_suffix("_total").unwrap_or(family);
            self.created(&labels, base, p.start_time_unix_nano, ts);
        }
    }

    fn histogram_point(&mut self, family: &str, p: &HistogramDataPoint, otlp_name: &str) {
        if !p.bucket_counts.is_empty() && p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
            self.out.rejected.push((
                reason::INVALID_HISTOGRAM,
                format!(
                    "metric {otlp_name:?}: {} bucket counts for {} explicit bounds (want bounds + 1)",
                    p.bucket_counts.len(),
                    p.explicit_bounds.len()
                ),
            ));
            return;
        }
        let labels = self.point_labels(&p.attributes);
        let ts = ns_to_ms(p.time_unix_nano);
        let stale = no_recorded_value(p.flags);
        let val = |v: f64| if stale { stale_nan() } else { v };

        if let Some(sum) = p.sum {
            self.push(labels.build(&format!("{family}_sum"), None), ts, val(sum));
        }
        self.push(
            labels.build(&format!("{family}_count"), None),
            ts,
            val(p.count as f64),
        );
        let bucket = format!("{family}_bucket");
        let mut exemplars: Vec<(f64, weft_metrics::model::Exemplar)> = p
            .exemplars
            .iter()
            .map(|e| {
                let ex = exemplar(e, self.opts.utf8_names);
                (ex.value, ex)
            })
            .collect();
        let mut cumulative: u64 = 0;
        for (bound, count) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
            cumulative = cumulative.saturating_add(*count);
            let le = format_float(*bound);
            self.push(
                labels.build(&bucket, Some(("le", &le))),
                ts,
                val(cumulative as f64),
            );
            let (mine, rest): (Vec<_>, Vec<_>) =
                exemplars.into_iter().partition(|(v, _)| v <= bound);
            exemplars = rest;
            self.attach_exemplars(mine.into_iter().map(|(_, e)| e).collect());
        }
        self.push(
            labels.build(&bucket, Some(("le", "+Inf"))),
            ts,
            val(p.count as f64),
        );
        self.attach_exemplars(exemplars.into_iter().map(|(_, e)| e).collect());
        self.created(&labels, family, p.start_time_unix_nano, ts);
    }

    fn exponential_point(
        &mut self,
        family: &str,
        p: &ExponentialHistogramDataPoint,
        otlp_name: &str,
    ) {
        let labels = self.point_labels(&p.attributes).build(family, None);
        let ts = ns_to_ms(p.time_unix_nano);
        if no_recorded_value(p.flags) {
            // A float stale marker ends a histogram series, as Prometheus stores it.
            self.push(labels, ts, stale_nan());
        } else {
            match exponential_to_native(p) {
                Ok(h) => self.push_histogram(labels, ts, h),
                Err(reason) => {
                    return self.out.rejected.push((
                        reason,
                        format!(
                            "metric {otlp_name:?}: scale {}: {}",
                            p.scale,
                            reason::explain(reason)
                        ),
                    ))
                }
            }
        }
        self.attach_exemplars(
            p.exemplars
                .iter()
                .map(|e| exemplar(e, self.opts.utf8_names))
                .collect(),
        );
    }

    fn summary_point(&mut self, family: &str, p: &SummaryDataPoint) {
        let labels = self.point_labels(&p.attributes);
        let ts = ns_to_ms(p.time_unix_nano);
        let stale = no_recorded_value(p.flags);
        let val = |v: f64| if stale { stale_nan() } else { v };
        self.push(labels.build(&format!("{family}_sum"), None), ts, val(p.sum));
        self.push(
            labels.build(&format!("{family}_count"), None),
            ts,
            val(p.count as f64),
        );
        for q in &p.quantile_values {
            let quantile = format_float(q.quantile);
            self.push(
                labels.build(family, Some(("quantile", &quantile))),
                ts,
                val(q.value),
            );
        }
        self.created(&labels, family, p.start_time_unix_nano, ts);
    }
}

/// Zero threshold of exponential histograms that do not set one (Prometheus' OTLP default).
const DEFAULT_ZERO_THRESHOLD: f64 = 1e-128;

/// Highest and lowest native histogram schemas of exponential buckets.
const MAX_SCHEMA: i32 = 8;
const MIN_SCHEMA: i32 = -4;

/// An OTLP exponential histogram data point as a native histogram (see the module doc).
fn exponential_to_native(
    p: &ExponentialHistogramDataPoint,
) -> Result<FloatHistogram, &'static str> {
    if p.scale < MIN_SCHEMA {
        return Err(reason::HISTOGRAM_SCALE);
    }
    // Above schema 8, 2^(scale - 8) adjacent buckets merge into one.
    let scale_down = (p.scale - MAX_SCHEMA).max(0) as u32;
    let side = |b: &Option<exponential_histogram_data_point::Buckets>| {
        b.as_ref().map_or(Ok(Vec::new()), |b| {
            native_buckets(b.offset, &b.bucket_counts, scale_down)
        })
    };
    let positive = side(&p.positive)?;
    let negative = side(&p.negative)?;
    let zero_threshold = if p.zero_threshold > 0.0 {
        p.zero_threshold
    } else {
        DEFAULT_ZERO_THRESHOLD
    };
    Ok(FloatHistogram {
        schema: p.scale.min(MAX_SCHEMA),
        zero_threshold,
        zero_count: p.zero_count as f64,
        count: p.count as f64,
        sum: p.sum.unwrap_or(0.0),
        positive,
        negative,
        custom_values: Vec::new(),
        // The reset hint is left to the store and queries to detect, as Prometheus does.
        hint: CounterResetHint::Unknown,
    })
}

/// Dense OTLP buckets (`offset`, counts) as sparse native buckets: index
/// `((offset + i) >> scale_down) + 1`, counts of merged buckets summed, empty buckets left out.
fn native_buckets(
    offset: i32,
    counts: &[u64],
    scale_down: u32,
) -> Result<Vec<(i32, f64)>, &'static str> {
    let mut out: Vec<(i32, f64)> = Vec::new();
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let otlp = i64::from(offset) + i as i64;
        let idx = (otlp >> scale_down.min(63)) + 1;
        let idx = i32::try_from(idx).map_err(|_| reason::INVALID_HISTOGRAM)?;
        match out.last_mut() {
            Some(last) if last.0 == idx => last.1 += c as f64,
            _ => out.push((idx, c as f64)),
        }
    }
    Ok(out)
}

/// The `prometheus.type` entry of the metric's metadata, if any.
fn prometheus_type(m: &weft_core::otlp::metrics::v1::Metric) -> Option<&str> {
    m.metadata
        .iter()
        .find(|kv| kv.key == "prometheus.type")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
}

fn naming_is_ratio(unit: &str) -> bool {
    unit.trim() == "1"
}

enum Temporality {
    Cumulative,
    Delta,
    Unspecified,
}

fn temporality(v: i32) -> Temporality {
    if v == AggregationTemporality::Cumulative as i32 {
        Temporality::Cumulative
    } else if v == AggregationTemporality::Delta as i32 {
        Temporality::Delta
    } else {
        Temporality::Unspecified
    }
}
