//! Native histogram semantics of PromQL functions: `histogram_*` functions, `rate`-family
//! functions and `*_over_time` functions over ranges holding histogram samples, with the
//! annotations Prometheus emits (worded as in its `util/annotations`).

use weft_core::labels::Labels;

use super::eval::Evaluator;
use super::histogram::{CombineNotes, CounterResetHint, FloatHistogram, IncompatibleSchema};

/// The metric name as Prometheus' `getMetricName` returns it (empty when absent).
pub(super) fn metric_name(l: &Labels) -> String {
    l.metric_name().unwrap_or("").to_string()
}

/// Prometheus' "metric name" suffix of some annotations (`maybeAddMetricName`).
fn with_metric_name(msg: &str, name: &str) -> String {
    if name.is_empty() {
        msg.to_string()
    } else {
        format!("{msg} for metric name {name:?}")
    }
}

pub(super) fn warn_mixed_floats_histograms(ev: &mut Evaluator, name: &str) {
    ev.warn(format!(
        "PromQL warning: encountered a mix of histograms and floats for metric name {name:?}"
    ));
}

pub(super) fn warn_mixed_exponential_custom(ev: &mut Evaluator, name: &str) {
    ev.warn(format!("PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name {name:?}"));
}

pub(super) fn warn_not_counter(ev: &mut Evaluator, name: &str) {
    ev.warn(format!(
        "PromQL warning: this native histogram metric is not a counter: {name:?}"
    ));
}

pub(super) fn warn_not_gauge(ev: &mut Evaluator, name: &str) {
    ev.warn(format!(
        "PromQL warning: this native histogram metric is not a gauge: {name:?}"
    ));
}

pub(super) fn info_ignored_in_mixed_range(ev: &mut Evaluator, name: &str) {
    ev.info(format!("PromQL info: ignored histograms in a range containing both floats and histograms for metric name {name:?}"));
}

/// `operation` is `addition`, `subtraction` or `aggregation`.
pub(super) fn info_reconciled(ev: &mut Evaluator, operation: &str) {
    ev.info(format!(
        "PromQL info: mismatched custom buckets were reconciled during {operation}"
    ));
}

/// `operation` is `addition`, `subtraction` or `aggregation`.
pub(super) fn warn_counter_reset_collision(ev: &mut Evaluator, operation: &str) {
    ev.warn(format!(
        "PromQL warning: conflicting counter resets during histogram {operation}"
    ));
}

/// Adds or subtracts `other` into `acc`, reporting reconciled bounds as an info; on an
/// exponential/custom mix warns and returns false.
pub(super) fn combine_annotated(
    ev: &mut Evaluator,
    acc: &mut FloatHistogram,
    other: &FloatHistogram,
    subtract: bool,
    name: &str,
) -> bool {
    let r: Result<CombineNotes, IncompatibleSchema> = if subtract {
        acc.sub(other)
    } else {
        acc.add(other)
    };
    match r {
        Ok(n) => {
            if n.bounds_reconciled {
                info_reconciled(ev, if subtract { "subtraction" } else { "addition" });
            }
            true
        }
        Err(IncompatibleSchema) => {
            warn_mixed_exponential_custom(ev, name);
            false
        }
    }
}

/// Prometheus `histogramRate`: last minus first histogram, corrected for counter resets when
/// `is_counter`. `points` has at least two histograms.
pub(super) fn histogram_rate(
    ev: &mut Evaluator,
    points: &[(i64, FloatHistogram)],
    is_counter: bool,
    name: &str,
) -> Option<FloatHistogram> {
    let (first, last) = (&points.first()?.1, &points.last()?.1);
    let second = &points.get(1)?.1;
    if is_counter && (first.hint == CounterResetHint::Gauge || last.hint == CounterResetHint::Gauge)
    {
        warn_not_counter(ev, name);
    }
    // A reset between the first two samples makes the first irrelevant (and its layout too).
    let empty;
    let mut prev = first;
    if is_counter && second.detect_reset(first) {
        empty = FloatHistogram {
            schema: second.schema,
            custom_values: second.custom_values.clone(),
            ..FloatHistogram::default()
        };
        prev = &empty;
    }
    let custom = prev.uses_custom_buckets();
    if last.uses_custom_buckets() != custom {
        warn_mixed_exponential_custom(ev, name);
        return None;
    }
    let mut min_schema = last.schema.min(prev.schema);
    if is_counter {
        for (_, cur) in &points[1..points.len() - 1] {
            if cur.hint == CounterResetHint::Gauge {
                warn_not_counter(ev, name);
            }
            min_schema = min_schema.min(cur.schema);
            if cur.uses_custom_buckets() != custom {
                warn_mixed_exponential_custom(ev, name);
                return None;
            }
        }
    }
    let mut h = last.clone();
    h.reduce_resolution(min_schema);
    if !combine_annotated(ev, &mut h, prev, true, name) {
        return None;
    }
    if is_counter {
        for (_, cur) in &points[1..] {
            if cur.detect_reset(prev) && !combine_annotated(ev, &mut h, prev, false, name) {
                return None;
            }
            prev = cur;
        }
    } else if first.hint != CounterResetHint::Gauge || last.hint != CounterResetHint::Gauge {
        warn_not_gauge(ev, name);
    }
    h.hint = CounterResetHint::Gauge;
    h.compact();
    Some(h)
}

/// The window of a `rate`-family evaluation.
#[derive(Clone, Copy, Debug)]
pub(super) struct RateWindow {
    pub start: i64,
    pub end: i64,
    pub range_ms: i64,
}

/// Prometheus `extrapolatedRate` for a range of histogram samples only.
pub(super) fn extrapolated_histogram_rate(
    ev: &mut Evaluator,
    hs: &[(i64, FloatHistogram)],
    w: RateWindow,
    is_counter: bool,
    is_rate: bool,
    name: &str,
) -> Option<FloatHistogram> {
    if hs.len() < 2 {
        return None;
    }
    let mut result = histogram_rate(ev, hs, is_counter, name)?;
    let (first_t, last_t) = (hs[0].0, hs[hs.len() - 1].0);
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled / (hs.len() - 1) as f64;
    let threshold = avg_between * 1.1;
    let mut to_start = (first_t - w.start) as f64 / 1000.0;
    let mut to_end = (w.end - last_t) as f64 / 1000.0;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if is_counter && result.count > 0.0 && hs[0].1.count >= 0.0 {
        // Do not extrapolate below zero observations.
        let to_zero = sampled * (hs[0].1.count / result.count);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = if sampled != 0.0 {
        (sampled + to_start + to_end) / sampled
    } else {
        1.0
    };
    if is_rate {
        factor /= w.range_ms as f64 / 1000.0;
    }
    result.mul(factor);
    Some(result)
}

/// One sample of a range, float or histogram.
#[derive(Clone, Copy, Debug)]
pub(super) enum Point<'a> {
    F(f64),
    H(&'a FloatHistogram),
}

/// Float and histogram points of a range merged into one timeline.
pub(super) fn merged<'a>(
    floats: &[(i64, f64)],
    hists: &'a [(i64, FloatHistogram)],
) -> Vec<(i64, Point<'a>)> {
    let mut out: Vec<(i64, Point<'a>)> = floats
        .iter()
        .map(|&(t, f)| (t, Point::F(f)))
        .chain(hists.iter().map(|(t, h)| (*t, Point::H(h))))
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

/// `irate`/`idelta` (Prometheus `instantValue`) over a range holding histograms.
pub(super) fn instant_value(
    ev: &mut Evaluator,
    floats: &[(i64, f64)],
    hists: &[(i64, FloatHistogram)],
    is_rate: bool,
    name: &str,
) -> Option<super::native::Out> {
    let all = merged(floats, hists);
    if all.len() < 2 {
        return None;
    }
    let (t0, p0) = all[all.len() - 2];
    let (t1, p1) = all[all.len() - 1];
    let interval = t1 - t0;
    if interval == 0 {
        return None;
    }
    let secs = interval as f64 / 1000.0;
    match (p0, p1) {
        (Point::F(a), Point::F(b)) => {
            let mut r = if is_rate && b < a { b } else { b - a };
            if is_rate {
                r /= secs;
            }
            Some(Out::F(r))
        }
        (Point::H(a), Point::H(b)) => {
            let gauge = |h: &FloatHistogram| h.hint == CounterResetHint::Gauge;
            if is_rate && (gauge(a) || gauge(b)) {
                warn_not_counter(ev, name);
            }
            if !is_rate && (!gauge(a) || !gauge(b)) {
                warn_not_gauge(ev, name);
            }
            let mut r = b.clone();
            if (!is_rate || !b.detect_reset(a)) && !combine_annotated(ev, &mut r, a, true, name) {
                return None;
            }
            r.hint = CounterResetHint::Gauge;
            r.compact();
            if is_rate {
                r.div(secs);
            }
            Some(Out::H(r))
        }
        _ => {
            warn_mixed_floats_histograms(ev, name);
            None
        }
    }
}

/// A function result: a float or a histogram.
#[derive(Clone, Debug)]
pub(super) enum Out {
    F(f64),
    H(FloatHistogram),
}

/// `resets` over a merged timeline: float decreases, histogram resets, and every switch
/// between floats and histograms.
pub(super) fn resets(points: &[(i64, Point)]) -> f64 {
    points
        .windows(2)
        .filter(|w| match (w[0].1, w[1].1) {
            (Point::F(a), Point::F(b)) => b < a,
            (Point::H(a), Point::H(b)) => b.detect_reset(a),
            _ => true,
        })
        .count() as f64
}

/// `changes` over a merged timeline.
pub(super) fn changes(points: &[(i64, Point)]) -> f64 {
    points
        .windows(2)
        .filter(|w| match (w[0].1, w[1].1) {
            (Point::F(a), Point::F(b)) => !(a == b || (a.is_nan() && b.is_nan())),
            (Point::H(a), Point::H(b)) => !b.equals(a),
            _ => true,
        })
        .count() as f64
}

/// The sum (or, with `mean`, the average) of histograms, for `sum`/`avg` and their
/// `_over_time` forms, each paired with its series' labels. Warns about counter reset
/// collisions and exponential/custom mixes (naming the series that could not be added).
pub(super) fn sum_histograms<'a>(
    ev: &mut Evaluator,
    hs: impl Iterator<Item = (&'a FloatHistogram, &'a Labels)>,
    mean: bool,
) -> Option<FloatHistogram> {
    let mut acc = HistogramSum::default();
    let (mut reset_seen, mut not_reset_seen, mut reconciled) = (false, false, false);
    let mut failed = None;
    for (h, labels) in hs {
        reset_seen |= h.hint == CounterResetHint::CounterReset;
        not_reset_seen |= h.hint == CounterResetHint::NotCounterReset;
        match acc.push(h, mean) {
            Ok(r) => reconciled |= r,
            Err(IncompatibleSchema) => {
                failed = Some(metric_name(labels));
                break;
            }
        }
    }
    if reset_seen && not_reset_seen {
        warn_counter_reset_collision(ev, "aggregation");
    }
    if reconciled {
        info_reconciled(ev, "aggregation");
    }
    if let Some(name) = failed {
        warn_mixed_exponential_custom(ev, &name);
        return None;
    }
    acc.finish(mean)
}

/// Prometheus' histogram summation: Kahan-compensated, and for means a direct sum divided at
/// the end until the sum overflows, then an incremental mean (which cannot overflow).
#[derive(Default)]
struct HistogramSum {
    /// The running sum (direct mode).
    sum: Option<FloatHistogram>,
    /// Kahan compensation of `sum` (or of `mean` once incremental).
    c: Option<FloatHistogram>,
    /// The running mean, once the sum overflowed.
    mean: Option<FloatHistogram>,
    n: f64,
}

impl HistogramSum {
    /// Adds `h`; true when custom bucket bounds were reconciled.
    fn push(&mut self, h: &FloatHistogram, mean: bool) -> Result<bool, IncompatibleSchema> {
        self.n += 1.0;
        let Some(sum) = self.sum.as_mut() else {
            self.sum = Some(h.clone());
            return Ok(false);
        };
        if !mean {
            let (c, notes) = sum.kahan_add(h, self.c.take())?;
            self.c = Some(c);
            return Ok(notes.bounds_reconciled);
        }
        if self.mean.is_none() {
            let mut next = sum.clone();
            let (c, notes) = next.kahan_add(h, self.c.clone())?;
            if !next.has_overflow() {
                *sum = next;
                self.c = Some(c);
                return Ok(notes.bounds_reconciled);
            }
            // Switch to the incremental mean: the mean so far, compensation scaled alike.
            let mut m = sum.clone();
            m.div(self.n - 1.0);
            self.mean = Some(m);
            if let Some(c) = self.c.as_mut() {
                c.div(self.n - 1.0);
            }
        }
        let q = (self.n - 1.0) / self.n;
        if let Some(c) = self.c.as_mut() {
            c.mul(q);
        }
        let mut to_add = h.clone();
        to_add.div(self.n);
        let Some(m) = self.mean.as_mut() else {
            return Ok(false);
        };
        m.mul(q);
        let (c, notes) = m.kahan_add(&to_add, self.c.take())?;
        self.c = Some(c);
        Ok(notes.bounds_reconciled)
    }

    /// The sum or mean with the compensation applied, compacted.
    fn finish(self, mean: bool) -> Option<FloatHistogram> {
        let incremental = self.mean.is_some();
        let mut out = match self.mean {
            Some(m) => m,
            None => self.sum?,
        };
        let mut c = self.c;
        if mean && !incremental {
            // Direct mean: sum and compensation are both divided by the count.
            out.div(self.n);
            if let Some(c) = c.as_mut() {
                c.div(self.n);
            }
        }
        if let Some(c) = c {
            // Cannot fail: `c` always shares `out`'s bucket kind.
            let _ = out.add(&c);
        }
        out.compact();
        Some(out)
    }
}

/// Prometheus `HistogramQuantile`.
pub(super) fn histogram_quantile(
    ev: &mut Evaluator,
    q: f64,
    h: &FloatHistogram,
    name: &str,
) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if h.count == 0.0 || q.is_nan() {
        return f64::NAN;
    }
    let forward = h.sum.is_nan() || q < 0.5;
    let mut buckets = h.all_buckets();
    if !forward {
        buckets.reverse();
    }
    let mut rank = if forward {
        q * h.count
    } else {
        (1.0 - q) * h.count
    };
    let mut count = 0.0;
    let mut pos = 0;
    let mut bucket = super::histogram::Bucket {
        lower: 0.0,
        upper: 0.0,
        count: 0.0,
    };
    while pos < buckets.len() {
        bucket = buckets[pos];
        pos += 1;
        if bucket.count == 0.0 {
            continue;
        }
        count += bucket.count;
        if count >= rank {
            break;
        }
    }
    if !h.uses_custom_buckets() && bucket.lower < 0.0 && bucket.upper > 0.0 {
        if h.negative.is_empty() && !h.positive.is_empty() {
            bucket.lower = 0.0;
        } else if h.positive.is_empty() && !h.negative.is_empty() {
            bucket.upper = 0.0;
        }
    } else if h.uses_custom_buckets() {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                return bucket.upper;
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            return bucket.lower;
        }
    }
    if count > h.count {
        count = h.count;
    }
    if count < rank {
        if h.sum.is_nan() {
            ev.info(with_metric_name(
                "PromQL info: input to histogram_quantile has NaN observations, result is NaN",
                name,
            ));
            return f64::NAN;
        }
        return bucket.upper;
    }
    if forward {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    if h.sum.is_nan() {
        let total: f64 = count + buckets[pos..].iter().map(|b| b.count).sum::<f64>();
        if total < h.count {
            ev.info(with_metric_name(
                "PromQL info: input to histogram_quantile has NaN observations, result is skewed higher",
                name,
            ));
        }
    }
    let fraction = rank / bucket.count;
    if h.uses_custom_buckets() || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
        return bucket.lower + (bucket.upper - bucket.lower) * fraction;
    }
    let log_lower = bucket.lower.abs().log2();
    let log_upper = bucket.upper.abs().log2();
    if bucket.lower > 0.0 {
        return (log_lower + (log_upper - log_lower) * fraction).exp2();
    }
    -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2()
}

/// Fraction of a bucket's observations at or below `v` (Prometheus `Bucket.FractionBelow`).
fn fraction_below(b: &super::histogram::Bucket, v: f64, linear: bool) -> f64 {
    if linear {
        return (v - b.lower) / (b.upper - b.lower);
    }
    let (ll, lu, lv) = (b.lower.abs().log2(), b.upper.abs().log2(), v.abs().log2());
    if v > 0.0 {
        (lv - ll) / (lu - ll)
    } else {
        1.0 - (lv - lu) / (ll - lu)
    }
}

/// Prometheus `HistogramFraction`: the estimated fraction of observations in
/// `[lower, upper]`.
pub(super) fn histogram_fraction(
    ev: &mut Evaluator,
    lower: f64,
    upper: f64,
    h: &FloatHistogram,
    name: &str,
) -> f64 {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut count, mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let buckets = h.all_buckets();
    let mut pos = 0;
    while pos < buckets.len() {
        let mut b = buckets[pos];
        pos += 1;
        count += b.count;
        let mut zero_bucket = false;
        if b.lower <= 0.0 && b.upper >= 0.0 {
            zero_bucket = true;
            if h.negative.is_empty() && !h.positive.is_empty() {
                b.lower = 0.0;
            } else if h.positive.is_empty() && !h.negative.is_empty() {
                b.upper = 0.0;
            }
        }
        let linear = h.uses_custom_buckets() || zero_bucket;
        let interpolate = |v: f64| {
            if linear && b.lower == f64::NEG_INFINITY {
                b.count
            } else {
                rank + b.count * fraction_below(&b, v, linear)
            }
        };
        if !lower_set && b.lower >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && b.lower >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && b.lower < lower && b.upper > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && b.lower < upper && b.upper > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank += b.count;
    }
    if h.sum.is_nan() {
        count += buckets[pos..].iter().map(|b| b.count).sum::<f64>();
        if count < h.count {
            ev.info(with_metric_name(
                "PromQL info: input to histogram_fraction has NaN observations, which are excluded from all fractions",
                name,
            ));
        }
    } else {
        count = h.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / h.count
}

/// Estimated variance of a histogram's observations (Prometheus `histogramVariance`):
/// bucket midpoints (geometric for exponential buckets, 0 in the zero bucket).
pub(super) fn histogram_variance(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let (mut var, mut c) = (0.0, 0.0);
    for b in h.all_buckets() {
        if b.count == 0.0 {
            continue;
        }
        let val = if h.uses_custom_buckets() {
            (b.upper + b.lower) / 2.0
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let v = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 {
                -v
            } else {
                v
            }
        };
        let d = val - mean;
        (var, c) = super::aggregate::kahan_inc(b.count * d * d, var, c);
    }
    (var + c) / h.count
}
