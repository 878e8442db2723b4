//! PromQL functions (float samples).

use std::cmp::Ordering;
use std::collections::HashMap;

use promql_parser::label::MatchOp;
use promql_parser::parser::{Call, Expr};
use weft_core::labels::{Labels, METRIC_NAME};

use super::aggregate::{avg, format_float, kahan_inc, quantile};
use super::durexpr::RangeMod;
use super::eval::{
    labels_from, pairs, pick_left, pick_right, EvSample, EvSeries, Evaluator, Value,
};
use super::histogram::FloatHistogram;
use super::native::{self, Out, RateWindow};

/// Go's `math.Max` (NaN wins).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min` (NaN wins).
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn unwrap_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        _ => e,
    }
}

/// Kahan-compensated variance (population), as Prometheus' `stdvar_over_time`.
pub(super) fn variance(values: &[f64]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &f in values {
        count += 1.0;
        let delta = f - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (f - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

fn kahan_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for x in values {
        (s, c) = kahan_inc(x, s, c);
    }
    s + c
}

/// Prometheus `linearRegression`: slope and intercept at `intercept_t`.
fn linear_regression(points: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let init_y = points[0].1;
    let const_y = points.iter().all(|p| p.1 == init_y);
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let n = points.len() as f64;
    let (mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &(t, v) in points {
        let x = (t - intercept_t) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(v, sy, cy);
        (sxy, cxy) = kahan_inc(x * v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

/// Labels for `absent()`: equality matchers of the selector, except the name and labels
/// matched more than once.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match unwrap_parens(e) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        Expr::Subquery(_) => return Labels::default(),
        _ => return Labels::default(),
    };
    let mut out: Vec<(String, String)> = Vec::new();
    let mut dup: Vec<String> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if out.iter().any(|(n, _)| n == &m.name) {
            dup.push(m.name.clone());
            continue;
        }
        if m.op == MatchOp::Equal {
            out.push((m.name.clone(), m.value.clone()));
        } else {
            dup.push(m.name.clone());
        }
    }
    // Prometheus: a label with several matchers of which any is non-equality is dropped.
    let has_eq_once = |n: &str| vs.matchers.matchers.iter().filter(|m| m.name == n).count() == 1;
    out.retain(|(n, _)| has_eq_once(n) && !dup.contains(n));
    labels_from(out)
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn time_part(name: &str, v: f64) -> f64 {
    let secs = v.floor() as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let mdays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    match name {
        "year" => y as f64,
        "month" => m as f64,
        "day_of_month" => d as f64,
        "day_of_week" => ((days + 4).rem_euclid(7)) as f64,
        "day_of_year" => {
            let before: u32 = mdays[..(m - 1) as usize].iter().sum();
            (before + d + u32::from(m > 2 && is_leap(y))) as f64
        }
        "days_in_month" => {
            if m == 2 && is_leap(y) {
                29.0
            } else {
                mdays[(m - 1) as usize] as f64
            }
        }
        "hour" => (sod / 3600) as f64,
        "minute" => ((sod % 3600) / 60) as f64,
        _ => f64::NAN,
    }
}

fn math_fn(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sqrt" => f64::sqrt,
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v| v * 180.0 / std::f64::consts::PI,
        "rad" => |v| v * std::f64::consts::PI / 180.0,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

/// Natural ordering of strings (digit runs compare numerically), for `sort_by_label`.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (&a[..na], &b[..nb]);
                let ta: &[u8] = {
                    let z = da.iter().take_while(|c| **c == b'0').count();
                    &da[z..]
                };
                let tb: &[u8] = {
                    let z = db.iter().take_while(|c| **c == b'0').count();
                    &db[z..]
                };
                let o = ta.len().cmp(&tb.len()).then(ta.cmp(tb));
                if o != Ordering::Equal {
                    return o;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

/// Prometheus `extrapolatedRate` for `rate`, `increase` and `delta`.
fn extrapolated_rate(
    points: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let mut result = last_v - first_v;
    if counter {
        let mut prev = first_v;
        for &(_, v) in &points[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled / (points.len() - 1) as f64;
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last_t) as f64 / 1000.0;
    let threshold = avg_between * 1.1;
    if to_start >= threshold {
        to_start = avg_between / 2.0;
    }
    if counter && result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_between / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Prometheus `extendedRate`: `rate`/`increase`/`delta` over an anchored or smoothed
/// range — boundary values picked (anchored) or interpolated (smoothed), no extrapolation.
fn extended_rate(
    f: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    counter: bool,
    is_rate: bool,
    smoothed: bool,
) -> Option<f64> {
    if f.is_empty() {
        return None;
    }
    let mut last = f.len() - 1;
    let mut first = f[..last]
        .partition_point(|p| p.0 <= range_start)
        .saturating_sub(1);
    if smoothed {
        last = f[..last].partition_point(|p| p.0 < range_end);
    }
    if f[last].0 <= range_start || (smoothed && f[first].0 > range_end) {
        return None;
    }
    let left = pick_left(f, first, range_start, smoothed, counter);
    let right = pick_right(f, last, range_end, smoothed, counter);
    let mut result = right - left;
    if counter {
        if f[first].0 <= range_start {
            first += 1;
        }
        let hi = if f[last].0 >= range_end {
            last as isize - 1
        } else {
            last as isize
        };
        let inner: &[(i64, f64)] = if hi >= first as isize {
            &f[first..=hi as usize]
        } else {
            &[]
        };
        let mut prev = left;
        for &(_, v) in inner {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
        if right < prev {
            result += prev;
        }
    }
    if is_rate {
        result /= range_ms as f64 / 1000.0;
    }
    Some(result)
}

fn instant_delta(points: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (lt, lv) = points[points.len() - 1];
    let (pt, pv) = points[points.len() - 2];
    let mut r = if is_rate && lv < pv { lv } else { lv - pv };
    let interval = lt - pt;
    if interval == 0 {
        return None;
    }
    if is_rate {
        r /= interval as f64 / 1000.0;
    }
    Some(r)
}

fn holt(points: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    // Prometheus funcDoubleExponentialSmoothing.
    let mut s0 = 0.0;
    let mut s1 = points[0].1;
    let mut b = points[1].1 - points[0].1;
    for (i, &(_, x)) in points.iter().enumerate().skip(1) {
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        s0 = s1;
        s1 = sf * x + (1.0 - sf) * (s0 + b);
    }
    Some(s1)
}

/// Classic-bucket quantile (Prometheus `BucketQuantile`). `buckets`: (upper bound, count).
pub(super) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return (f64::NAN, false);
    }
    // Coalesce equal upper bounds.
    let mut c: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, n) in buckets.iter() {
        match c.last_mut() {
            Some(last) if last.0 == ub => last.1 += n,
            _ => c.push((ub, n)),
        }
    }
    // Force monotonicity, ignoring tiny float deltas (`ensureMonotonicAndIgnoreSmallDeltas`).
    let mut forced = false;
    let mut prev = c[0].1;
    for b in c.iter_mut().skip(1) {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if super::super::promqltest::compare::almost_equal(prev, curr, 1e-12) {
            b.1 = prev;
            continue;
        }
        if curr < prev {
            b.1 = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    if c.len() < 2 {
        return (f64::NAN, forced);
    }
    let obs = c[c.len() - 1].1;
    if obs == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * obs;
    let b = c.partition_point(|x| x.1 < rank);
    if b == c.len() - 1 {
        return (c[c.len() - 2].0, forced);
    }
    if b == 0 && c[0].0 <= 0.0 {
        return (c[0].0, forced);
    }
    let (mut start, end, mut count) = (0.0, c[b].0, c[b].1);
    if b > 0 {
        start = c[b - 1].0;
        count -= c[b - 1].1;
        rank -= c[b - 1].1;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Classic-bucket fraction of observations in `[lower, upper]` (Prometheus `BucketFraction`).
pub(super) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if buckets.is_empty() {
        return f64::NAN;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal));
    if buckets[buckets.len() - 1].0 != f64::INFINITY {
        return f64::NAN;
    }
    let mut c: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, n) in buckets.iter() {
        match c.last_mut() {
            Some(last) if last.0 == ub => last.1 += n,
            _ => c.push((ub, n)),
        }
    }
    let count = c[c.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if c[0].0 <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, &(upper_bound, bc)) in c.iter().enumerate() {
        if i > 0 {
            lower_bound = c[i - 1].0;
        }
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                bc
            } else {
                rank + (bc - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = bc;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

fn parse_go_float(s: &str) -> Option<f64> {
    let l = s.to_ascii_lowercase();
    match l.trim_start_matches('+') {
        "inf" | "infinity" => return Some(f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    match l.as_str() {
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

/// How a range-vector function treats a series holding histogram samples.
enum HistPath {
    /// Fully handled: the result (if any).
    Done(Option<Out>),
    /// Continue with the float computation over the series' float samples (histograms
    /// ignored, any annotation already emitted).
    Floats,
}

/// Range-vector functions over a series with histogram samples (Prometheus' rules for
/// histograms and for ranges mixing floats and histograms).
fn hist_over_time(
    ev: &mut Evaluator,
    name: &str,
    s: &EvSeries,
    rmod: Option<RangeMod>,
    w: RateWindow,
) -> HistPath {
    let (p, hs) = (&s.points, &s.hists);
    let metric = native::metric_name(&s.labels);
    let done = HistPath::Done;
    match name {
        "rate" | "increase" | "delta" => {
            if !p.is_empty() {
                native::warn_mixed_floats_histograms(ev, &metric);
                return done(None);
            }
            let (counter, rate) = (name != "delta", name == "rate");
            if let Some(m) = rmod {
                let flags = super::extended::RateFlags {
                    is_counter: counter,
                    is_rate: rate,
                    smoothed: m == RangeMod::Smoothed,
                };
                let h = super::extended::extended_histogram_rate(ev, hs, w, flags, &metric);
                return done(h.map(Out::H));
            }
            done(native::extrapolated_histogram_rate(ev, hs, w, counter, rate, &metric).map(Out::H))
        }
        "irate" | "idelta" => done(native::instant_value(ev, p, hs, name == "irate", &metric)),
        "changes" | "resets" => {
            let all = native::merged(p, hs);
            let window = match rmod {
                // Anchored: start from the last sample at or before the range start.
                Some(_) => {
                    let le = all.partition_point(|x| x.0 <= w.start);
                    if le >= all.len() {
                        return done(None);
                    }
                    &all[le.saturating_sub(1)..]
                }
                None => &all[..],
            };
            done(Some(Out::F(if name == "changes" {
                native::changes(window)
            } else {
                native::resets(window)
            })))
        }
        "deriv" | "predict_linear" | "double_exponential_smoothing" | "holt_winters" => {
            if !p.is_empty() {
                native::info_ignored_in_mixed_range(ev, &metric);
            }
            if p.len() < 2 {
                return done(None);
            }
            HistPath::Floats
        }
        "sum_over_time" | "avg_over_time" => {
            if !p.is_empty() {
                native::warn_mixed_floats_histograms(ev, &metric);
                return done(None);
            }
            let hs = hs.iter().map(|x| (&x.1, &s.labels));
            let sum = native::sum_histograms(ev, hs, name == "avg_over_time");
            done(sum.map(Out::H))
        }
        "count_over_time" => done(Some(Out::F((p.len() + hs.len()) as f64))),
        "present_over_time" => done(Some(Out::F(1.0))),
        "last_over_time" | "first_over_time" => {
            let last = name == "last_over_time";
            let h = if last { hs.last() } else { hs.first() };
            let f = if last { p.last() } else { p.first() };
            match (f, h) {
                (Some(f), Some(h)) if (last && f.0 > h.0) || (!last && f.0 < h.0) => {
                    HistPath::Floats
                }
                (_, Some(h)) => done(Some(Out::H(h.1.clone()))),
                _ => HistPath::Floats,
            }
        }
        "ts_of_last_over_time" | "ts_of_first_over_time" => {
            let ts = p.iter().map(|x| x.0).chain(hs.iter().map(|x| x.0));
            let v = if name == "ts_of_last_over_time" {
                ts.max()
            } else {
                ts.min()
            };
            done(v.map(|v| Out::F(v as f64 / 1000.0)))
        }
        _ => {
            // Float-only functions ignore histograms, noting it when floats remain.
            if p.is_empty() {
                return done(None);
            }
            native::info_ignored_in_mixed_range(ev, &metric);
            HistPath::Floats
        }
    }
}

const RATE_FUNCS: &[&str] = &["rate", "increase", "delta", "irate", "idelta"];

pub(super) fn eval_call(ev: &mut Evaluator, c: &Call, t: i64) -> Result<Value, String> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();

    // Functions over a range vector.
    let over_time = matches!(
        name,
        "rate"
            | "increase"
            | "delta"
            | "irate"
            | "idelta"
            | "changes"
            | "resets"
            | "deriv"
            | "predict_linear"
            | "avg_over_time"
            | "min_over_time"
            | "max_over_time"
            | "sum_over_time"
            | "count_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "last_over_time"
            | "first_over_time"
            | "present_over_time"
            | "mad_over_time"
            | "ts_of_max_over_time"
            | "ts_of_min_over_time"
            | "ts_of_last_over_time"
            | "ts_of_first_over_time"
            | "double_exponential_smoothing"
            | "holt_winters"
    );
    if over_time || name == "quantile_over_time" {
        let (marg, extra): (&Expr, Vec<f64>) = if name == "quantile_over_time" {
            (args[1], vec![ev.eval_scalar(args[0], t)?])
        } else if name == "predict_linear" {
            (args[0], vec![ev.eval_scalar(args[1], t)?])
        } else if name == "double_exponential_smoothing" || name == "holt_winters" {
            let sf = ev.eval_scalar(args[1], t)?;
            let tf = ev.eval_scalar(args[2], t)?;
            if !(sf > 0.0 && sf < 1.0) {
                return Err(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                    format_float(sf)
                ));
            }
            if !(tf > 0.0 && tf < 1.0) {
                return Err(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                    format_float(tf)
                ));
            }
            (args[0], vec![sf, tf])
        } else {
            (args[0], vec![])
        };
        // Range boundaries for extrapolation.
        let (range_start, range_end, range_ms) = match unwrap_parens(marg) {
            Expr::MatrixSelector(ms) => {
                let r = ev.ref_time(&ms.vs.at, &ms.vs.offset, t);
                let rm = super::eval::duration_ms(&ms.range);
                (r - rm, r, rm)
            }
            Expr::Subquery(sq) => {
                let r = ev.ref_time(&sq.at, &sq.offset, t);
                let rm = super::eval::duration_ms(&sq.range);
                (r - rm, r, rm)
            }
            _ => (t, t, 0),
        };
        let rmod = match unwrap_parens(marg) {
            Expr::MatrixSelector(ms) => ev.range_mod(ms).map(|md| (ms, md)),
            _ => None,
        };
        let m = match rmod {
            Some((ms, md)) => {
                let (allowed, what): (&[&str], &str) = match md {
                    RangeMod::Anchored => (
                        &["changes", "delta", "increase", "rate", "resets"],
                        "anchored",
                    ),
                    RangeMod::Smoothed => (&["delta", "increase", "rate"], "smoothed"),
                };
                if !allowed.contains(&name) {
                    return Err(format!(
                        "{what} modifier can only be used with: {} - not with {name}",
                        allowed.join(", ")
                    ));
                }
                ev.select_matrix_extended(&ms.vs, range_ms, md, t)
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            None => ev.eval_matrix(marg, t)?,
        };
        if RATE_FUNCS.contains(&name) {
            // Prometheus only hints at non-counters for ranges holding floats.
            for s in m.iter().filter(|s| !s.points.is_empty()) {
                if let Some(n) = s.labels.metric_name() {
                    let counterish = ["_total", "_sum", "_count", "_bucket"]
                        .iter()
                        .any(|suf| n.ends_with(suf));
                    if matches!(name, "rate" | "increase") && !counterish {
                        ev.info(format!("PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {n:?}"));
                    }
                }
            }
        }
        if name == "quantile_over_time" && !(0.0..=1.0).contains(&extra[0]) {
            ev.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {}",
                format_float(extra[0])
            ));
        }
        let keep_name = matches!(name, "last_over_time" | "first_over_time");
        let mut out = Vec::new();
        let w = RateWindow {
            start: range_start,
            end: range_end,
            range_ms,
        };
        for s in m {
            if !s.hists.is_empty() {
                let drop_name = s.drop_name || !keep_name;
                match hist_over_time(ev, name, &s, rmod.map(|r| r.1), w) {
                    HistPath::Done(None) => continue,
                    HistPath::Done(Some(Out::F(f))) => {
                        out.push(EvSample::float(s.labels, f, t, drop_name));
                        continue;
                    }
                    HistPath::Done(Some(Out::H(h))) => {
                        out.push(EvSample::hist(s.labels, h, t, drop_name));
                        continue;
                    }
                    HistPath::Floats => {}
                }
            }
            let p = &s.points;
            if p.is_empty() {
                continue;
            }
            let vals = || p.iter().map(|x| x.1);
            let v = match (rmod.map(|r| r.1), name) {
                (Some(md), "rate" | "increase" | "delta") => extended_rate(
                    p,
                    range_start,
                    range_end,
                    range_ms,
                    name != "delta",
                    name == "rate",
                    md == RangeMod::Smoothed,
                ),
                (Some(_), "changes" | "resets") => {
                    // Anchored: start from the last sample at or before the range start.
                    let le = p.partition_point(|x| x.0 <= range_start);
                    if le >= p.len() {
                        None
                    } else {
                        let w = &p[le.saturating_sub(1)..];
                        Some(if name == "changes" {
                            w.windows(2)
                                .filter(|w| {
                                    !(w[0].1 == w[1].1 || (w[0].1.is_nan() && w[1].1.is_nan()))
                                })
                                .count() as f64
                        } else {
                            w.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64
                        })
                    }
                }
                _ => match name {
                    "rate" => extrapolated_rate(p, range_start, range_end, range_ms, true, true),
                    "increase" => {
                        extrapolated_rate(p, range_start, range_end, range_ms, true, false)
                    }
                    "delta" => extrapolated_rate(p, range_start, range_end, range_ms, false, false),
                    "irate" => instant_delta(p, true),
                    "idelta" => instant_delta(p, false),
                    "changes" => Some(
                        p.windows(2)
                            .filter(|w| !(w[0].1 == w[1].1 || (w[0].1.is_nan() && w[1].1.is_nan())))
                            .count() as f64,
                    ),
                    "resets" => Some(p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64),
                    "deriv" => (p.len() >= 2).then(|| linear_regression(p, p[0].0).0),
                    "predict_linear" => (p.len() >= 2).then(|| {
                        let (slope, icpt) = linear_regression(p, t);
                        slope * extra[0] + icpt
                    }),
                    "avg_over_time" => Some(avg(&vals().collect::<Vec<_>>())),
                    "sum_over_time" => Some(kahan_sum(vals())),
                    "count_over_time" => Some(p.len() as f64),
                    "min_over_time" => {
                        Some(vals().fold(f64::NAN, |a, x| if a > x || a.is_nan() { x } else { a }))
                    }
                    "max_over_time" => {
                        Some(vals().fold(f64::NAN, |a, x| if a < x || a.is_nan() { x } else { a }))
                    }
                    "stddev_over_time" => Some(variance(&vals().collect::<Vec<_>>()).sqrt()),
                    "stdvar_over_time" => Some(variance(&vals().collect::<Vec<_>>())),
                    "last_over_time" => Some(p[p.len() - 1].1),
                    "first_over_time" => Some(p[0].1),
                    "present_over_time" => Some(1.0),
                    "quantile_over_time" => {
                        Some(quantile(extra[0], &mut vals().collect::<Vec<_>>()))
                    }
                    "mad_over_time" if vals().any(f64::is_nan) => Some(f64::NAN),
                    "mad_over_time" => {
                        let mut v: Vec<f64> = vals().collect();
                        let med = quantile(0.5, &mut v);
                        let mut d: Vec<f64> = vals().map(|x| (x - med).abs()).collect();
                        Some(quantile(0.5, &mut d))
                    }
                    "ts_of_last_over_time" => Some(p[p.len() - 1].0 as f64 / 1000.0),
                    "ts_of_first_over_time" => Some(p[0].0 as f64 / 1000.0),
                    "ts_of_max_over_time" | "ts_of_min_over_time" => {
                        let max = name == "ts_of_max_over_time";
                        let mut best = p[0];
                        for &x in &p[1..] {
                            let better = if max { x.1 >= best.1 } else { x.1 <= best.1 };
                            if better || best.1.is_nan() {
                                best = x;
                            }
                        }
                        Some(best.0 as f64 / 1000.0)
                    }
                    "double_exponential_smoothing" | "holt_winters" => holt(p, extra[0], extra[1]),
                    _ => None,
                },
            };
            if let Some(v) = v {
                out.push(EvSample {
                    h: None,
                    labels: s.labels,
                    f: v,
                    t,
                    drop_name: s.drop_name || !keep_name,
                });
            }
        }
        return Ok(Value::Vector(out));
    }

    match name {
        "time" => return Ok(Value::Scalar(t as f64 / 1000.0)),
        "step" => return Ok(Value::Scalar(ev.query_step as f64 / 1000.0)),
        "range" => {
            return Ok(Value::Scalar(
                (ev.query_end - ev.query_start) as f64 / 1000.0,
            ))
        }
        "start" => return Ok(Value::Scalar(ev.query_start as f64 / 1000.0)),
        "end" => return Ok(Value::Scalar(ev.query_end as f64 / 1000.0)),
        "min_of" | "max_of" => {
            let a = ev.eval_scalar(args[0], t)?;
            let b = ev.eval_scalar(args[1], t)?;
            return Ok(Value::Scalar(if name == "min_of" {
                go_min(a, b)
            } else {
                go_max(a, b)
            }));
        }
        "pi" => return Ok(Value::Scalar(std::f64::consts::PI)),
        "vector" => {
            let v = ev.eval_scalar(args[0], t)?;
            return Ok(Value::Vector(vec![EvSample {
                h: None,
                labels: Labels::default(),
                f: v,
                t,
                drop_name: false,
            }]));
        }
        "scalar" => {
            let v = floats_only(ev.eval_vector(args[0], t)?);
            return Ok(Value::Scalar(if v.len() == 1 { v[0].f } else { f64::NAN }));
        }
        "absent" => {
            let v = ev.eval_vector(args[0], t)?;
            return Ok(Value::Vector(if v.is_empty() {
                vec![EvSample {
                    h: None,
                    labels: absent_labels(args[0]),
                    f: 1.0,
                    t,
                    drop_name: false,
                }]
            } else {
                Vec::new()
            }));
        }
        "absent_over_time" => {
            let m = ev.eval_matrix(args[0], t)?;
            return Ok(Value::Vector(if m.iter().all(|s| s.is_empty()) {
                vec![EvSample {
                    h: None,
                    labels: absent_labels(args[0]),
                    f: 1.0,
                    t,
                    drop_name: false,
                }]
            } else {
                Vec::new()
            }));
        }
        "timestamp" => {
            let direct = matches!(unwrap_parens(args[0]), Expr::VectorSelector(_));
            let v = ev.eval_vector(args[0], t)?;
            return Ok(Value::Vector(
                v.into_iter()
                    .map(|s| EvSample {
                        h: None,
                        f: if direct { s.t } else { t } as f64 / 1000.0,
                        t,
                        drop_name: true,
                        labels: s.labels,
                    })
                    .collect(),
            ));
        }
        "year" | "month" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month"
        | "hour" | "minute" => {
            let v = if args.is_empty() {
                vec![EvSample {
                    h: None,
                    labels: Labels::default(),
                    f: t as f64 / 1000.0,
                    t,
                    drop_name: false,
                }]
            } else {
                floats_only(ev.eval_vector(args[0], t)?)
            };
            return Ok(Value::Vector(
                v.into_iter()
                    .map(|s| EvSample {
                        h: None,
                        f: if s.f.is_nan() || s.f.is_infinite() {
                            s.f
                        } else {
                            time_part(name, s.f)
                        },
                        t,
                        drop_name: true,
                        labels: s.labels,
                    })
                    .collect(),
            ));
        }
        _ => {}
    }

    if let Some(f) = math_fn(name) {
        let v = floats_only(ev.eval_vector(args[0], t)?);
        return Ok(Value::Vector(
            v.into_iter()
                .map(|s| EvSample {
                    h: None,
                    f: f(s.f),
                    t,
                    drop_name: true,
                    labels: s.labels,
                })
                .collect(),
        ));
    }

    match name {
        "round" => {
            let v = floats_only(ev.eval_vector(args[0], t)?);
            let to = if args.len() > 1 {
                ev.eval_scalar(args[1], t)?
            } else {
                1.0
            };
            let inv = 1.0 / to;
            Ok(Value::Vector(
                v.into_iter()
                    .map(|s| EvSample {
                        h: None,
                        f: (s.f * inv + 0.5).floor() / inv,
                        t,
                        drop_name: true,
                        labels: s.labels,
                    })
                    .collect(),
            ))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let v = floats_only(ev.eval_vector(args[0], t)?);
            let (lo, hi) = match name {
                "clamp" => (ev.eval_scalar(args[1], t)?, ev.eval_scalar(args[2], t)?),
                "clamp_min" => (ev.eval_scalar(args[1], t)?, f64::INFINITY),
                _ => (f64::NEG_INFINITY, ev.eval_scalar(args[1], t)?),
            };
            if name == "clamp" && hi < lo {
                return Ok(Value::Vector(Vec::new()));
            }
            Ok(Value::Vector(
                v.into_iter()
                    .map(|s| EvSample {
                        h: None,
                        f: match name {
                            "clamp" => go_max(lo, go_min(hi, s.f)),
                            "clamp_min" => go_max(lo, s.f),
                            _ => go_min(hi, s.f),
                        },
                        t,
                        drop_name: true,
                        labels: s.labels,
                    })
                    .collect(),
            ))
        }
        "sort" | "sort_desc" => {
            sort_warning(ev);
            let mut v = floats_only(ev.eval_vector(args[0], t)?);
            let desc = name == "sort_desc";
            v.sort_by(|a, b| match (a.f.is_nan(), b.f.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => {
                    let o = a.f.partial_cmp(&b.f).unwrap_or(Ordering::Equal);
                    if desc {
                        o.reverse()
                    } else {
                        o
                    }
                }
            });
            Ok(Value::Vector(v))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            sort_warning(ev);
            let mut v = ev.eval_vector(args[0], t)?;
            let mut names = Vec::new();
            for a in &args[1..] {
                match ev.eval(a, t)? {
                    Value::String(s) => names.push(s),
                    _ => return Err("expected string label name".into()),
                }
            }
            let desc = name == "sort_by_label_desc";
            v.sort_by(|a, b| {
                for n in &names {
                    let (x, y) = (a.labels.get(n).unwrap_or(""), b.labels.get(n).unwrap_or(""));
                    if x != y {
                        let o = natural_cmp(x, y);
                        return if desc { o.reverse() } else { o };
                    }
                }
                let o = a.labels.cmp(&b.labels);
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
            Ok(Value::Vector(v))
        }
        "label_replace" => {
            let v = ev.eval_vector(args[0], t)?;
            let mut s = Vec::new();
            for a in &args[1..] {
                match ev.eval(a, t)? {
                    Value::String(x) => s.push(x),
                    _ => return Err("expected string argument".into()),
                }
            }
            let (dst, repl, src, re) = (&s[0], &s[1], &s[2], &s[3]);
            let regex = regex::Regex::new(&format!("^(?s:{re})$"))
                .map_err(|e| format!("invalid regular expression in label_replace(): {e}"))?;
            if dst.is_empty() || !valid_label_name(dst) {
                return Err(format!(
                    "invalid destination label name in label_replace(): {dst}"
                ));
            }
            let mut out = Vec::new();
            for mut x in v {
                let sv = x.labels.get(src).unwrap_or("").to_string();
                if let Some(caps) = regex.captures(&sv) {
                    let mut res = String::new();
                    caps.expand(repl, &mut res);
                    let mut p: Vec<(String, String)> = pairs(&x.labels)
                        .into_iter()
                        .filter(|(n, _)| n != dst)
                        .collect();
                    if !res.is_empty() {
                        p.push((dst.clone(), res));
                    }
                    x.labels = labels_from(p);
                    if dst == METRIC_NAME {
                        x.drop_name = false;
                    }
                }
                out.push(x);
            }
            Ok(Value::Vector(out))
        }
        "label_join" => {
            let v = ev.eval_vector(args[0], t)?;
            let mut s = Vec::new();
            for a in &args[1..] {
                match ev.eval(a, t)? {
                    Value::String(x) => s.push(x),
                    _ => return Err("expected string argument".into()),
                }
            }
            let (dst, sep, srcs) = (&s[0], &s[1], &s[2..]);
            if !valid_label_name(dst) {
                return Err(format!(
                    "invalid destination label name in label_join(): {dst}"
                ));
            }
            let mut out = Vec::new();
            for mut x in v {
                let joined = srcs
                    .iter()
                    .map(|n| x.labels.get(n).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(sep);
                let mut p: Vec<(String, String)> = pairs(&x.labels)
                    .into_iter()
                    .filter(|(n, _)| n != dst)
                    .collect();
                if !joined.is_empty() {
                    p.push((dst.clone(), joined));
                }
                x.labels = labels_from(p);
                if dst == METRIC_NAME {
                    x.drop_name = false;
                }
                out.push(x);
            }
            Ok(Value::Vector(out))
        }
        "histogram_quantile" | "histogram_fraction" | "histogram_quantiles" => {
            eval_histogram_quantiles(ev, name, &args, t)
        }
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
        | "histogram_stdvar" => {
            let v = ev.eval_vector(args[0], t)?;
            Ok(Value::Vector(histogram_stat(name, v, t)))
        }
        "info" => super::info::eval_info(ev, &args, t),
        other => Err(format!("function {other:?} is not supported yet")),
    }
}

/// Native and classic histograms of a vector (Prometheus `resetHistograms`): classic buckets
/// grouped by all labels but `le` (in order of appearance), and native histograms not
/// conflicting with classic buckets of the same series.
struct HistogramInputs {
    natives: Vec<(Labels, Box<FloatHistogram>)>,
    order: Vec<Labels>,
    classic: HashMap<Labels, Vec<(f64, f64)>>,
}

fn histogram_inputs(ev: &mut Evaluator, v: Vec<EvSample>) -> HistogramInputs {
    let mut order: Vec<Labels> = Vec::new();
    let mut classic: HashMap<Labels, Vec<(f64, f64)>> = HashMap::new();
    let mut natives: Vec<(Labels, Box<FloatHistogram>)> = Vec::new();
    for s in v {
        if let Some(h) = s.h {
            natives.push((s.labels, h));
            continue;
        }
        let le = s.labels.get("le").unwrap_or("");
        let Some(ub) = parse_go_float(le) else {
            let msg = format!(
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of {le:?}"
            );
            ev.warn(match s.labels.metric_name() {
                Some(n) => format!("{msg} for metric name {n:?}"),
                None => msg,
            });
            continue;
        };
        let key = labels_from(
            pairs(&s.labels)
                .into_iter()
                .filter(|(n, _)| n != "le")
                .collect(),
        );
        classic
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push((ub, s.f));
    }
    // A native histogram and classic buckets of the same series: neither is used.
    natives.retain(|(labels, _)| {
        if classic.get(labels).is_none_or(|b| b.is_empty()) {
            return true;
        }
        let n = native::metric_name(labels);
        ev.warn(if n.is_empty() {
            "PromQL warning: vector contains a mix of classic and native histograms".to_string()
        } else {
            format!("PromQL warning: vector contains a mix of classic and native histograms for metric name {n:?}")
        });
        classic.remove(labels);
        false
    });
    HistogramInputs {
        natives,
        order,
        classic,
    }
}

/// Prometheus `FormatOpenMetricsFloat` (the `histogram_quantiles` label value).
fn openmetrics_float(f: f64) -> String {
    let s = super::histogram::format_go_g(f);
    if f.is_finite() && f == f.floor() && !s.contains(['e', '.']) {
        format!("{s}.0")
    } else {
        s
    }
}

/// `histogram_quantile`, `histogram_quantiles` and `histogram_fraction` over native and
/// classic histograms.
fn eval_histogram_quantiles(
    ev: &mut Evaluator,
    name: &str,
    args: &[&Expr],
    t: i64,
) -> Result<Value, String> {
    let (vec_arg, label, params): (&Expr, Option<String>, Vec<f64>) = match name {
        "histogram_quantile" => (args[1], None, vec![ev.eval_scalar(args[0], t)?]),
        "histogram_fraction" => (
            args[2],
            None,
            vec![ev.eval_scalar(args[0], t)?, ev.eval_scalar(args[1], t)?],
        ),
        _ => {
            let label = match ev.eval(args[1], t)? {
                Value::String(s) => s,
                _ => return Err("expected string label name".into()),
            };
            let mut qs = Vec::new();
            for a in &args[2..] {
                qs.push(ev.eval_scalar(a, t)?);
            }
            (args[0], Some(label), qs)
        }
    };
    let v = ev.eval_vector(vec_arg, t)?;
    if name != "histogram_fraction" {
        for q in &params {
            if !(0.0..=1.0).contains(q) {
                ev.warn(format!(
                    "PromQL warning: quantile value should be between 0 and 1, got {}",
                    format_float(*q)
                ));
            }
        }
    }
    let mut inputs = histogram_inputs(ev, v);
    let qs: Vec<f64> = if name == "histogram_fraction" {
        vec![0.0]
    } else {
        params.clone()
    };
    let with_q = |l: &Labels, q: f64| match &label {
        None => l.clone(),
        Some(name) => {
            let mut p: Vec<(String, String)> =
                pairs(l).into_iter().filter(|(n, _)| n != name).collect();
            p.push((name.clone(), openmetrics_float(q)));
            labels_from(p)
        }
    };
    let mut out = Vec::new();
    for &q in &qs {
        for (labels, h) in &inputs.natives {
            let n = native::metric_name(labels);
            let f = if name == "histogram_fraction" {
                native::histogram_fraction(ev, params[0], params[1], h, &n)
            } else {
                native::histogram_quantile(ev, q, h, &n)
            };
            out.push(EvSample::float(with_q(labels, q), f, t, true));
        }
        for key in &inputs.order {
            let Some(b) = inputs.classic.get_mut(key) else {
                continue;
            };
            let f = if name == "histogram_fraction" {
                bucket_fraction(params[0], params[1], b)
            } else {
                let (v, forced) = bucket_quantile(q, b);
                if forced {
                    let msg = "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)";
                    ev.info(match key.metric_name() {
                        Some(n) => format!("{msg} for metric name {n:?}"),
                        None => msg.to_string(),
                    });
                }
                v
            };
            out.push(EvSample::float(with_q(key, q), f, t, true));
        }
    }
    Ok(Value::Vector(out))
}

/// The float samples of a vector (functions that ignore histogram samples).
fn floats_only(v: Vec<EvSample>) -> Vec<EvSample> {
    v.into_iter().filter(|s| s.h.is_none()).collect()
}

/// `histogram_count`, `histogram_sum`, `histogram_avg`, `histogram_stddev` and
/// `histogram_stdvar`: a float per histogram sample; float samples are ignored.
fn histogram_stat(name: &str, v: Vec<EvSample>, t: i64) -> Vec<EvSample> {
    v.into_iter()
        .filter_map(|s| {
            let h = s.h?;
            let f = match name {
                "histogram_count" => h.count,
                "histogram_sum" => h.sum,
                "histogram_avg" => h.sum / h.count,
                "histogram_stddev" => native::histogram_variance(&h).sqrt(),
                _ => native::histogram_variance(&h),
            };
            Some(EvSample::float(s.labels, f, t, true))
        })
        .collect()
}

fn sort_warning(ev: &mut Evaluator) {
    if ev.query_start != ev.query_end {
        ev.warn("PromQL warning: sort is ineffective for range queries since results are always ordered by labels".into());
    }
}

fn valid_label_name(n: &str) -> bool {
    !n.is_empty() && std::str::from_utf8(n.as_bytes()).is_ok()
}
