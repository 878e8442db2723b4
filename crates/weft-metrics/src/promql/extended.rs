//! `anchored` and `smoothed` over native histogram samples (Prometheus
//! `extendedHistogramRate`, `interpolateHistograms` and the histogram branch of
//! `smoothSeries`): boundary histograms are picked (anchored) or linearly interpolated
//! (smoothed) instead of extrapolated.

use super::eval::Evaluator;
use super::histogram::{CounterResetHint, FloatHistogram, IncompatibleSchema};
use super::native::{
    combine_annotated, info_reconciled, warn_mixed_exponential_custom, warn_not_counter,
    warn_not_gauge, RateWindow,
};

/// A histogram sample.
type HPoint = (i64, FloatHistogram);

/// Prometheus `interpolateHistograms`: the histogram at `t` on the line between `a` and `b`.
/// For a counter with a reset between them, the counter is modelled as restarting from
/// zero, i.e. `b` scaled by the elapsed fraction.
pub(super) fn interpolate_histograms(
    ev: &mut Evaluator,
    a: (i64, &FloatHistogram),
    b: (i64, &FloatHistogram),
    t: i64,
    is_counter: bool,
) -> Result<FloatHistogram, IncompatibleSchema> {
    if t == a.0 {
        return Ok(a.1.clone());
    }
    if t == b.0 {
        return Ok(b.1.clone());
    }
    let fraction = (t - a.0) as f64 / (b.0 - a.0) as f64;
    let mut r = b.1.clone();
    if is_counter && b.1.detect_reset(a.1) {
        r.mul(fraction);
        return Ok(r);
    }
    // a + (b - a) * fraction, in Prometheus' order of operations.
    if r.sub(a.1)?.bounds_reconciled {
        info_reconciled(ev, "subtraction");
    }
    r.mul(fraction);
    if r.add(a.1)?.bounds_reconciled {
        info_reconciled(ev, "addition");
    }
    Ok(r)
}

/// Prometheus `extendedHistogramRate`: `rate`/`increase`/`delta` of an anchored or smoothed
/// range holding only histogram samples (the window already extended by the lookback delta).
pub(super) fn extended_histogram_rate(
    ev: &mut Evaluator,
    h: &[HPoint],
    w: RateWindow,
    flags: RateFlags,
    name: &str,
) -> Option<FloatHistogram> {
    let (first, last) = boundary_indexes(h, w, flags.smoothed)?;
    if !validate_range(ev, &h[first..=last], flags.is_counter, name) {
        return None;
    }
    let (left, right) = match boundaries(ev, h, first, last, w, flags) {
        Ok(lr) => lr,
        Err(IncompatibleSchema) => {
            warn_mixed_exponential_custom(ev, name);
            return None;
        }
    };
    if !flags.is_counter
        && (left.hint != CounterResetHint::Gauge || right.hint != CounterResetHint::Gauge)
    {
        warn_not_gauge(ev, name);
    }
    let mut result = right.clone();
    if !combine_annotated(ev, &mut result, &left, true, name) {
        return None;
    }
    if flags.is_counter {
        let bounds = Boundaries {
            first,
            last,
            left: &left,
            right: &right,
        };
        let correction = reset_correction(ev, h, bounds, w.start, flags.smoothed, name).ok()?;
        if let Some(c) = correction {
            if !combine_annotated(ev, &mut result, &c, false, name) {
                return None;
            }
        }
    }
    if flags.is_rate {
        result.div(w.range_ms as f64 / 1000.0);
    }
    result.hint = CounterResetHint::Gauge;
    result.compact();
    Some(result)
}

/// How a `rate`-family function treats its range.
#[derive(Clone, Copy, Debug)]
pub(super) struct RateFlags {
    /// `rate`/`increase` (counter resets corrected) rather than `delta`.
    pub is_counter: bool,
    /// Per second (`rate`).
    pub is_rate: bool,
    /// `smoothed` (interpolated boundaries) rather than `anchored`.
    pub smoothed: bool,
}

/// Indexes of the samples standing for the range's start and end, or `None` when the range
/// yields no result (Prometheus' early returns).
fn boundary_indexes(h: &[HPoint], w: RateWindow, smoothed: bool) -> Option<(usize, usize)> {
    let mut last = h.len().checked_sub(1)?;
    let first = h[..last]
        .partition_point(|p| p.0 <= w.start)
        .saturating_sub(1);
    if smoothed {
        last = h[..last].partition_point(|p| p.0 < w.end);
    }
    if h[last].0 <= w.start || (smoothed && h[first].0 > w.end) || first > last {
        return None;
    }
    Some((first, last))
}

/// Prometheus `validateHistogramRange`: no exponential/custom mix (warns and fails), and a
/// "not a counter" warning for gauge-hinted samples of a counter range.
fn validate_range(ev: &mut Evaluator, h: &[HPoint], is_counter: bool, name: &str) -> bool {
    let Some(custom) = h.first().map(|p| p.1.uses_custom_buckets()) else {
        return true;
    };
    for (_, x) in h {
        if x.uses_custom_buckets() != custom {
            warn_mixed_exponential_custom(ev, name);
            return false;
        }
        if is_counter && x.hint == CounterResetHint::Gauge {
            warn_not_counter(ev, name);
        }
    }
    true
}

/// The left and right boundary histograms: the boundary samples themselves, or (smoothed)
/// interpolations at the range's start and end when the samples lie outside it.
fn boundaries(
    ev: &mut Evaluator,
    h: &[HPoint],
    first: usize,
    last: usize,
    w: RateWindow,
    flags: RateFlags,
) -> Result<(FloatHistogram, FloatHistogram), IncompatibleSchema> {
    let at = |i: usize| (h[i].0, &h[i].1);
    let left = match h.get(first + 1) {
        Some(_) if flags.smoothed && h[first].0 < w.start => {
            interpolate_histograms(ev, at(first), at(first + 1), w.start, flags.is_counter)?
        }
        _ => h[first].1.clone(),
    };
    let right = if flags.smoothed && last > 0 && h[last].0 > w.end {
        interpolate_histograms(ev, at(last - 1), at(last), w.end, flags.is_counter)?
    } else {
        h[last].1.clone()
    };
    Ok((left, right))
}

/// The boundary samples' indexes and the boundary histograms standing for them.
#[derive(Clone, Copy)]
struct Boundaries<'a> {
    first: usize,
    last: usize,
    left: &'a FloatHistogram,
    right: &'a FloatHistogram,
}

/// Prometheus `correctForCounterResetsHistogram`: the sum of the histograms before each
/// counter reset strictly inside the range (the boundary samples are represented by
/// `left`/`right`). `Err` when adding the corrections mixed incompatible schemas.
fn reset_correction(
    ev: &mut Evaluator,
    h: &[HPoint],
    b: Boundaries,
    start: i64,
    smoothed: bool,
    name: &str,
) -> Result<Option<FloatHistogram>, ()> {
    let mut first = b.first + 1;
    let mut prev = b.left;
    if let Some(next) = h.get(b.first + 1) {
        if smoothed && h[b.first].0 < start && next.1.detect_reset(&h[b.first].1) {
            // The left interpolation already spanned this reset: the sample after it is the
            // anchor for any reset that follows.
            prev = &next.1;
            first += 1;
        }
    }
    // The last sample is represented by `right` (which carries its hint), so it is left out
    // of the loop lest `right` detect a reset against itself.
    if first > b.last {
        return Ok(None);
    }
    let mut correction: Option<FloatHistogram> = None;
    let mut add = |ev: &mut Evaluator, x: &FloatHistogram| match correction.as_mut() {
        None => {
            correction = Some(x.clone());
            Ok(())
        }
        Some(c) => {
            if combine_annotated(ev, c, x, false, name) {
                Ok(())
            } else {
                Err(())
            }
        }
    };
    for (_, cur) in &h[first..b.last] {
        if cur.detect_reset(prev) {
            add(ev, prev)?;
        }
        prev = cur;
    }
    if b.right.detect_reset(prev) {
        add(ev, prev)?;
    }
    Ok(correction)
}

/// The histogram branch of Prometheus `smoothSeries`: the value of a `smoothed` instant
/// selector at `r` from the histogram samples `h` around it (within the lookback delta on
/// both sides). `None` when there is no earlier sample or interpolation is impossible.
pub(super) fn smoothed_histogram(
    ev: &mut Evaluator,
    h: &[HPoint],
    r: i64,
    name: &str,
) -> Option<FloatHistogram> {
    let i = h.partition_point(|p| p.0 < r);
    if let Some(x) = h.get(i).filter(|x| x.0 == r) {
        return Some(x.1.clone());
    }
    if i == 0 {
        return None;
    }
    let prev = &h[i - 1];
    let Some(next) = h.get(i) else {
        // No later sample yet: carry the last one forward; its hint described its relation
        // to its predecessor, not the value, so it is dropped.
        let mut x = prev.1.clone();
        x.hint = CounterResetHint::Unknown;
        return Some(x);
    };
    if prev.1.uses_custom_buckets() != next.1.uses_custom_buckets() {
        warn_mixed_exponential_custom(ev, name);
        return None;
    }
    // A counter unless both samples are explicitly gauges.
    let is_counter =
        prev.1.hint != CounterResetHint::Gauge || next.1.hint != CounterResetHint::Gauge;
    match interpolate_histograms(ev, (prev.0, &prev.1), (next.0, &next.1), r, is_counter) {
        Ok(x) => Some(x),
        Err(IncompatibleSchema) => {
            warn_mixed_exponential_custom(ev, name);
            None
        }
    }
}
