//! Aggregation operators.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};
use weft_core::labels::{Labels, METRIC_NAME};

use super::eval::{labels_from, EvSample, Evaluator, Value};
use super::histogram::FloatHistogram;
use super::native;

/// Grouping key of a sample: `by` keeps the listed labels, `without` drops them and the name.
fn group_key(l: &Labels, m: &Option<LabelModifier>) -> Labels {
    match m {
        None => Labels::default(),
        Some(LabelModifier::Include(names)) => labels_from(
            l.iter()
                .filter(|x| names.labels.contains(&x.name))
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect(),
        ),
        Some(LabelModifier::Exclude(names)) => labels_from(
            l.iter()
                .filter(|x| x.name != METRIC_NAME && !names.labels.contains(&x.name))
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect(),
        ),
    }
}

/// Samples grouped by their grouping key, groups in order of first appearance. Keys come
/// from the evaluator's memo ([`Evaluator::group_keys`]), so that a series seen at an earlier
/// step of a range query costs no key construction and its group is found by a pointer
/// comparison.
fn group_samples(ev: &mut Evaluator, a: &AggregateExpr, input: Vec<EvSample>) -> Vec<Group> {
    let keys = ev
        .group_keys
        .entry(a as *const AggregateExpr as usize)
        .or_default();
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in input {
        let key = match keys.get(&s.labels) {
            Some(k) => k.clone(),
            None => {
                let k = group_key(&s.labels, &a.modifier);
                keys.insert(s.labels.clone(), k.clone());
                k
            }
        };
        let i = *index.entry(key).or_insert_with_key(|key| {
            groups.push(Group {
                labels: key.clone(),
                values: Vec::new(),
                samples: Vec::new(),
            });
            groups.len() - 1
        });
        let g = &mut groups[i];
        if s.h.is_none() {
            g.values.push(s.f);
        }
        g.samples.push(s);
    }
    groups
}

/// Prometheus `quantile`: linear interpolation between closest ranks.
pub(super) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go's sort.Float64s places NaNs first.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len();
    let rank = q * (n - 1) as f64;
    let lower = rank.floor().max(0.0) as usize;
    let upper = (lower + 1).min(n - 1);
    let w = rank - rank.floor();
    values[lower] * (1.0 - w) + values[upper] * w
}

/// Kahan-compensated summation step (Prometheus `kahanSumInc`).
pub(super) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Formats a float as Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub(super) fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

struct Group {
    labels: Labels,
    values: Vec<f64>,
    samples: Vec<EvSample>,
}

pub(super) fn eval_aggregate(
    ev: &mut Evaluator,
    a: &AggregateExpr,
    t: i64,
) -> Result<Value, String> {
    let op = a.op.to_string();
    let param = match &a.param {
        Some(p) => Some(ev.eval(p, t)?),
        None => None,
    };
    let input = ev.eval_vector(&a.expr, t)?;
    let scalar_param = |p: &Option<Value>| -> Result<f64, String> {
        match p {
            Some(Value::Scalar(v)) => Ok(*v),
            _ => Err(format!("expected scalar parameter for {op}")),
        }
    };

    if op == "count_values" {
        let label = match &param {
            Some(Value::String(s)) => s.clone(),
            _ => return Err("expected string parameter for count_values".into()),
        };
        if label.is_empty() {
            return Err(format!("invalid label name {label:?}"));
        }
        let mut order: Vec<Labels> = Vec::new();
        let mut counts: HashMap<Labels, f64> = HashMap::new();
        for s in &input {
            let mut p: Vec<(String, String)> = group_key(&s.labels, &a.modifier)
                .iter()
                .filter(|x| x.name != label)
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect();
            let value = match &s.h {
                Some(h) => h.go_string(),
                None => format_float(s.f),
            };
            p.push((label.clone(), value));
            let key = labels_from(p);
            let c = counts.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                0.0
            });
            *c += 1.0;
        }
        return Ok(Value::Vector(
            order
                .into_iter()
                .map(|l| EvSample {
                    h: None,
                    f: counts[&l],
                    labels: l,
                    t,
                    drop_name: false,
                })
                .collect(),
        ));
    }

    let groups = group_samples(ev, a, input);

    let mut out = Vec::new();
    match op.as_str() {
        "topk" | "bottomk" | "limitk" => {
            let k = scalar_param(&param)?;
            if k.is_nan() {
                return Err("Parameter value is NaN".into());
            }
            let k = if k >= 9.2e18 { i64::MAX } else { k as i64 };
            if k < 1 {
                return Ok(Value::Vector(Vec::new()));
            }
            let k = k as usize;
            for g in groups {
                let mut samples = g.samples;
                if op != "limitk" {
                    if samples.iter().any(|s| s.h.is_some()) {
                        ev.info(format!(
                            "PromQL info: ignored histogram in {op} aggregation"
                        ));
                        samples.retain(|s| s.h.is_none());
                    }
                    let top = op == "topk";
                    // NaN sorts last for both topk and bottomk.
                    samples.sort_by(|x, y| {
                        let (a, b) = (x.f, y.f);
                        match (a.is_nan(), b.is_nan()) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            _ => {
                                let o = a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal);
                                if top {
                                    o.reverse()
                                } else {
                                    o
                                }
                            }
                        }
                    });
                }
                samples.truncate(k);
                for s in samples {
                    out.push(EvSample { t, ..s });
                }
            }
            return Ok(Value::Vector(out));
        }
        "limit_ratio" => {
            let r = scalar_param(&param)?;
            if r.is_nan() {
                return Err("Ratio value is NaN".into());
            }
            if !(-1.0..=1.0).contains(&r) {
                let capped = r.clamp(-1.0, 1.0);
                ev.warn(format!(
                    "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}",
                    format_float(r),
                    format_float(capped)
                ));
            }
            let r = r.clamp(-1.0, 1.0);
            for g in groups {
                for s in g.samples {
                    let h = ratiosample_offset(&s.labels);
                    let keep = if r >= 0.0 { h < r } else { h >= 1.0 + r };
                    if keep {
                        out.push(EvSample { t, ..s });
                    }
                }
            }
            return Ok(Value::Vector(out));
        }
        _ => {}
    }

    let q = if op == "quantile" {
        let q = scalar_param(&param)?;
        if !(0.0..=1.0).contains(&q) {
            ev.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {}",
                format_float(q)
            ));
        }
        Some(q)
    } else {
        None
    };
    for mut g in groups {
        // Delayed name removal: a group keyed by a to-be-dropped `__name__` keeps the mark.
        let drop_name = g.samples.iter().any(|s| s.drop_name);
        if g.samples.iter().any(|s| s.h.is_some()) {
            match histogram_group(ev, &op, &g) {
                GroupResult::Hist(h) => {
                    out.push(EvSample::hist(g.labels, h, t, drop_name));
                    continue;
                }
                GroupResult::Skip => continue,
                GroupResult::Floats => {}
            }
        }
        let n = g.values.len() as f64;
        let v = match op.as_str() {
            "sum" => {
                let (mut s, mut c) = (0.0, 0.0);
                for &x in &g.values {
                    (s, c) = kahan_inc(x, s, c);
                }
                s + c
            }
            "avg" => avg(&g.values),
            "count" => g.samples.len() as f64,
            "group" => 1.0,
            "min" => g.values.iter().fold(
                f64::NAN,
                |acc, &x| {
                    if acc > x || acc.is_nan() {
                        x
                    } else {
                        acc
                    }
                },
            ),
            "max" => g.values.iter().fold(
                f64::NAN,
                |acc, &x| {
                    if acc < x || acc.is_nan() {
                        x
                    } else {
                        acc
                    }
                },
            ),
            "stddev" | "stdvar" => {
                let (mut mean, mut m2) = (0.0, 0.0);
                for (i, &x) in g.values.iter().enumerate() {
                    let d = x - mean;
                    mean += d / (i + 1) as f64;
                    m2 += d * (x - mean);
                }
                let var = m2 / n;
                if op == "stddev" {
                    var.sqrt()
                } else {
                    var
                }
            }
            "quantile" => quantile(q.unwrap_or(f64::NAN), &mut g.values),
            other => return Err(format!("unknown aggregation {other}")),
        };
        out.push(EvSample {
            h: None,
            labels: g.labels,
            f: v,
            t,
            drop_name,
        });
    }
    Ok(Value::Vector(out))
}

/// What an aggregation does with a group holding histogram samples.
enum GroupResult {
    /// A histogram result (`sum`, `avg`).
    Hist(FloatHistogram),
    /// No result for the group.
    Skip,
    /// Aggregate the group's float samples (histograms ignored or counted).
    Floats,
}

/// Prometheus' aggregation rules for groups with histograms: `sum`/`avg` add them up (and
/// give nothing for a float/histogram mix), `count`/`group` count them, the others ignore them
/// with an info.
fn histogram_group(ev: &mut Evaluator, op: &str, g: &Group) -> GroupResult {
    match op {
        "sum" | "avg" => {
            if !g.values.is_empty() {
                ev.warn(
                    "PromQL warning: encountered a mix of histograms and floats for aggregation"
                        .into(),
                );
                return GroupResult::Skip;
            }
            let hs = g
                .samples
                .iter()
                .filter_map(|s| s.h.as_deref().map(|h| (h, &s.labels)));
            match native::sum_histograms(ev, hs, op == "avg") {
                Some(h) => GroupResult::Hist(h),
                None => GroupResult::Skip,
            }
        }
        "count" | "group" => GroupResult::Floats,
        _ => {
            ev.info(format!(
                "PromQL info: ignored histogram in {op} aggregation"
            ));
            if g.values.is_empty() {
                GroupResult::Skip
            } else {
                GroupResult::Floats
            }
        }
    }
}

/// Mean like Prometheus 3: Kahan sum divided by count, falling back to an incremental mean
/// when the sum overflows.
pub(super) fn avg(values: &[f64]) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for &x in values {
        (s, c) = kahan_inc(x, s, c);
    }
    let n = values.len() as f64;
    if (s + c).is_finite() || values.iter().any(|x| !x.is_finite()) {
        return (s + c) / n;
    }
    let (mut mean, mut cm) = (0.0, 0.0);
    for (i, &x) in values.iter().enumerate() {
        let cnt = (i + 1) as f64;
        let q = (mean + cm) * ((cnt - 1.0) / cnt) + x / cnt;
        mean = q;
        cm = 0.0;
    }
    mean + cm
}

/// Prometheus `HashRatioSampler.SampleOffset`: the label set's hash (`labels.Hash`, XXH64
/// over `name 0xff value 0xff …`) as a fraction of `u64::MAX`, for `limit_ratio`.
fn ratiosample_offset(l: &Labels) -> f64 {
    let mut b = Vec::with_capacity(256);
    for x in l.iter() {
        b.extend_from_slice(x.name.as_bytes());
        b.push(0xff);
        b.extend_from_slice(x.value.as_bytes());
        b.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&b, 0) as f64 / u64::MAX as f64
}
