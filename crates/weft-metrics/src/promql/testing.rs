//! Adapter from the engine to the `promqltest` conformance runner
//! ([`crate::promqltest::compare::Engine`]).

use crate::promqltest::compare::{Engine, QueryOutcome, QueryValue, Sample, SampleValue, Series};
use crate::promqltest::histogram::{self as lit, BucketRun, HistogramLiteral};
use crate::promqltest::{Load, PointValue};

use std::collections::BTreeMap;

use weft_core::labels::{Labels, METRIC_NAME};

use super::eval::{EvSeries, Evaluator, Value};
use super::histogram::{CounterResetHint, FloatHistogram};
use super::{MemStorage, DEFAULT_LOOKBACK_MS, STALE_NAN_BITS};

/// A [`MemStorage`]-backed engine for conformance tests.
#[derive(Debug)]
pub struct TestEngine {
    pub storage: MemStorage,
    pub lookback_ms: i64,
}

impl Default for TestEngine {
    fn default() -> Self {
        Self {
            storage: MemStorage::new(),
            lookback_ms: DEFAULT_LOOKBACK_MS,
        }
    }
}

impl TestEngine {
    pub fn new() -> Self {
        Self::default()
    }

    fn evaluator(&self) -> Evaluator<'_> {
        let mut ev = Evaluator::new(&self.storage);
        ev.lookback_ms = self.lookback_ms;
        ev
    }
}

/// Sparse `(index, count)` buckets of a literal's contiguous run (zeros kept, as written).
fn sparse(run: &BucketRun) -> Vec<(i32, f64)> {
    run.counts
        .iter()
        .enumerate()
        .map(|(k, c)| (run.offset.saturating_add(k as i32), *c))
        .collect()
}

/// A contiguous run covering sparse buckets (gaps filled with zeros).
fn run_of(b: &[(i32, f64)]) -> BucketRun {
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return BucketRun::default();
    };
    let len = (i64::from(last.0) - i64::from(first.0) + 1).clamp(0, 1 << 20) as usize;
    let mut counts = vec![0.0; len];
    for &(i, c) in b {
        if let Some(slot) = counts.get_mut((i64::from(i) - i64::from(first.0)) as usize) {
            *slot = c;
        }
    }
    BucketRun {
        offset: first.0,
        counts,
    }
}

/// The engine's histogram for a test-file literal.
pub fn from_literal(h: &HistogramLiteral) -> FloatHistogram {
    FloatHistogram {
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: h.zero_count,
        count: h.count,
        sum: h.sum,
        positive: sparse(&h.positive),
        negative: sparse(&h.negative),
        custom_values: h.custom_values.clone(),
        hint: match h.counter_reset_hint {
            lit::CounterResetHint::Unknown => CounterResetHint::Unknown,
            lit::CounterResetHint::CounterReset => CounterResetHint::CounterReset,
            lit::CounterResetHint::NotCounterReset => CounterResetHint::NotCounterReset,
            lit::CounterResetHint::Gauge => CounterResetHint::Gauge,
        },
    }
}

/// The test-file literal form of an engine histogram (for comparison).
pub fn to_literal(h: &FloatHistogram) -> HistogramLiteral {
    HistogramLiteral {
        schema: h.schema,
        sum: h.sum,
        count: h.count,
        zero_count: h.zero_count,
        zero_threshold: h.zero_threshold,
        positive: run_of(&h.positive),
        negative: run_of(&h.negative),
        custom_values: h.custom_values.clone(),
        counter_reset_hint: match h.hint {
            CounterResetHint::Unknown => lit::CounterResetHint::Unknown,
            CounterResetHint::CounterReset => lit::CounterResetHint::CounterReset,
            CounterResetHint::NotCounterReset => lit::CounterResetHint::NotCounterReset,
            CounterResetHint::Gauge => lit::CounterResetHint::Gauge,
        },
        counter_reset_hint_set: true,
    }
}

/// Classic histogram data of one series and timestamp, collected for `load_with_nhcb`
/// (Prometheus `convertnhcb.TempHistogram`).
#[derive(Default)]
struct TempHistogram {
    /// `(le, cumulative count)`.
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
}

impl TempHistogram {
    /// The custom-bucket histogram these classic series describe (Prometheus `Convert`).
    fn convert(mut self) -> Result<FloatHistogram, String> {
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.buckets.dedup_by(|b, a| a.0 == b.0);
        if let Some(w) = self.buckets.windows(2).find(|w| w[1].1 < w[0].1) {
            return Err(format!("count is not cumulative: {} < {}", w[1].1, w[0].1));
        }
        let count = self
            .count
            .or_else(|| self.buckets.last().map(|b| b.1))
            .unwrap_or(0.0);
        if self.buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
            self.buckets.push((f64::INFINITY, count));
        }
        let last = self.buckets.last().map_or(0.0, |b| b.1);
        if count != last {
            return Err(format!(
                "count mismatch: count={count} != +Inf count={last}"
            ));
        }
        let mut prev = 0.0;
        let mut positive = Vec::with_capacity(self.buckets.len());
        for (i, &(_, c)) in self.buckets.iter().enumerate() {
            positive.push((i as i32, c - prev));
            prev = c;
        }
        let mut h = FloatHistogram {
            schema: super::histogram::CUSTOM_BUCKETS_SCHEMA,
            count,
            sum: self.sum,
            positive,
            custom_values: self.buckets[..self.buckets.len() - 1]
                .iter()
                .map(|b| b.0)
                .collect(),
            ..FloatHistogram::default()
        };
        h.compact();
        Ok(h)
    }
}

/// A series of histogram samples.
type HistogramSeries = (Labels, Vec<(i64, FloatHistogram)>);

/// Converts the classic histogram series (`_bucket`/`_count`/`_sum`) of a `load_with_nhcb`
/// block into native histograms with custom buckets (Prometheus `appendCustomHistogram`).
fn nhcb_series(load: &Load) -> Result<Vec<HistogramSeries>, String> {
    let mut temp: BTreeMap<Labels, BTreeMap<i64, TempHistogram>> = BTreeMap::new();
    for s in &load.series {
        let name = s.labels.metric_name().unwrap_or("");
        let (base, kind) = if let Some(b) = name.strip_suffix("_bucket") {
            (b, 'b')
        } else if let Some(b) = name.strip_suffix("_sum") {
            (b, 's')
        } else if let Some(b) = name.strip_suffix("_count") {
            (b, 'c')
        } else {
            continue;
        };
        let le = match kind {
            'b' => match s.labels.get("le").and_then(lit::parse_float) {
                Some(le) if !le.is_nan() => le,
                _ => continue,
            },
            _ => 0.0,
        };
        let mut pairs: Vec<(String, String)> = s
            .labels
            .iter()
            .filter(|l| l.name != "le" && l.name != METRIC_NAME)
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        pairs.push((METRIC_NAME.to_string(), base.to_string()));
        let key = Labels::from_pairs(pairs).map_err(|e| e.to_string())?;
        let by_ts = temp.entry(key).or_default();
        for (i, p) in s.points.iter().enumerate() {
            let Some(PointValue::Float(v)) = p else {
                continue;
            };
            let th = by_ts.entry(i as i64 * load.interval_ms).or_default();
            match kind {
                'b' => th.buckets.push((le, *v)),
                's' => th.sum = *v,
                _ => th.count = Some(*v),
            }
        }
    }
    temp.into_iter()
        .map(|(labels, by_ts)| {
            let points = by_ts
                .into_iter()
                .map(|(t, th)| th.convert().map(|h| (t, h)))
                .collect::<Result<Vec<_>, String>>()?;
            Ok((labels, points))
        })
        .collect()
}

/// The counter reset hint a histogram reads back with from Prometheus' TSDB, which the
/// corpus expects: gauges stay gauges; a histogram continuing the previous histogram's chunk
/// reads as `NotCounterReset`; the first of a chunk (new series, after a float, a reset, or
/// a schema/zero-threshold change) reads as `Unknown`.
fn chunk_hint(prev: Option<&FloatHistogram>, h: &FloatHistogram) -> CounterResetHint {
    if h.hint == CounterResetHint::Gauge {
        return CounterResetHint::Gauge;
    }
    let Some(p) = prev.filter(|p| p.hint != CounterResetHint::Gauge) else {
        return CounterResetHint::Unknown;
    };
    let mut probe = h.clone();
    if probe.hint == CounterResetHint::NotCounterReset {
        // The appender does not trust a "not reset" hint; it checks.
        probe.hint = CounterResetHint::Unknown;
    }
    if probe.detect_reset(p) || h.schema != p.schema || h.zero_threshold != p.zero_threshold {
        CounterResetHint::Unknown
    } else {
        CounterResetHint::NotCounterReset
    }
}

impl TestEngine {
    /// Appends a histogram with the hint TSDB would report for it.
    fn append_histogram(&mut self, labels: &Labels, t: i64, mut h: FloatHistogram) {
        h.hint = chunk_hint(self.storage.histogram_before(labels, t), &h);
        self.storage.append_histogram(labels.clone(), t, h);
    }
}

fn series_of(s: EvSeries) -> Series {
    Series {
        labels: s.labels,
        floats: s.points,
        histograms: s.hists.iter().map(|(t, h)| (*t, to_literal(h))).collect(),
    }
}

fn outcome(value: QueryValue, ev: Evaluator<'_>) -> QueryOutcome {
    QueryOutcome {
        value,
        warnings: ev.warnings,
        infos: ev.infos,
    }
}

impl Engine for TestEngine {
    fn load(&mut self, load: &Load) -> Result<(), String> {
        for s in &load.series {
            for (i, p) in s.points.iter().enumerate() {
                let t = i as i64 * load.interval_ms;
                match p {
                    Some(PointValue::Float(v)) => self.storage.append(s.labels.clone(), t, *v),
                    Some(PointValue::Histogram(h)) => {
                        self.append_histogram(&s.labels, t, from_literal(h))
                    }
                    Some(PointValue::Stale) => {
                        self.storage
                            .append(s.labels.clone(), t, f64::from_bits(STALE_NAN_BITS))
                    }
                    None => {}
                }
            }
        }
        if load.with_nhcb {
            for (labels, points) in nhcb_series(load)? {
                for (t, h) in points {
                    self.append_histogram(&labels, t, h);
                }
            }
        }
        Ok(())
    }

    fn clear(&mut self) {
        self.storage.clear();
    }

    fn instant(&mut self, expr: &str, at_ms: i64) -> Result<QueryOutcome, String> {
        let q = super::parse_query(expr, 0, 0)?;
        let mut ev = self.evaluator();
        ev.prepare(&q)?;
        let value = match ev.instant(&q.expr, at_ms)? {
            Value::Scalar(v) => QueryValue::Scalar(v),
            Value::String(s) => QueryValue::String(s),
            Value::Vector(v) => QueryValue::Vector(
                v.into_iter()
                    .map(|s| Sample {
                        labels: s.labels,
                        value: match s.h {
                            Some(h) => SampleValue::Histogram(to_literal(&h)),
                            None => SampleValue::Float(s.f),
                        },
                    })
                    .collect(),
            ),
            Value::Matrix(m) => QueryValue::Matrix(m.into_iter().map(series_of).collect()),
        };
        Ok(outcome(value, ev))
    }

    fn range(
        &mut self,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryOutcome, String> {
        let q = super::parse_query(expr, step_ms, end_ms - start_ms)?;
        let mut ev = self.evaluator();
        ev.prepare(&q)?;
        let m = ev.range(&q.expr, start_ms, end_ms, step_ms)?;
        let value = QueryValue::Matrix(m.into_iter().map(series_of).collect());
        Ok(outcome(value, ev))
    }
}
