//! Binary operators: arithmetic, comparisons (filtering and `bool`), set operators, and
//! vector matching (`on`/`ignoring`, `group_left`/`group_right`).

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use weft_core::labels::{Labels, METRIC_NAME};

use super::eval::{labels_from, EvSample, Evaluator, Value};
use super::histogram::{CounterResetHint, FloatHistogram};
use super::trim::{trim_buckets, Trim};

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// Whether the operator removes the metric name (arithmetic does; filters don't).
fn drops_name(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "%" | "^" | "atan2")
}

/// Prometheus `vectorElemBinop` for floats: the value and whether to keep it.
pub(super) fn elem_op(op: &str, l: f64, r: f64) -> Result<(f64, bool), String> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        _ => return Err(format!("operator {op:?} not allowed for float operations")),
    })
}

/// An annotation raised by an element-wise operation.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Annot {
    Info(String),
    Warn(String),
}

/// Outcome of one element-wise operation (Prometheus `vectorElemBinop`).
#[derive(Clone, Debug)]
pub(super) enum Elem {
    /// A value (float, or histogram when `h` is set), whether to keep it, and an info to
    /// report even when kept.
    Value {
        f: f64,
        h: Option<FloatHistogram>,
        keep: bool,
        note: Option<Annot>,
    },
    /// No result for this pair; report the annotation.
    Drop(Annot),
}

fn incompatible_types(op: &str, l: &str, r: &str) -> Elem {
    Elem::Drop(Annot::Info(format!(
        "PromQL info: incompatible sample types encountered for binary operator {op:?}: {l} {op} {r}"
    )))
}

fn is_trim(op: &str) -> bool {
    matches!(op, "</" | ">/")
}

/// A histogram result of a trim operator.
fn trimmed(h: FloatHistogram) -> Elem {
    Elem::Value {
        f: 0.0,
        h: Some(h),
        keep: true,
        note: None,
    }
}

/// A float result without annotation.
fn plain(f: f64, keep: bool) -> Elem {
    Elem::Value {
        f,
        h: None,
        keep,
        note: None,
    }
}

/// `lhs op rhs` where either side may be a histogram (Prometheus `vectorElemBinop`).
pub(super) fn elem_binop(
    op: &str,
    lf: f64,
    lh: Option<&FloatHistogram>,
    rf: f64,
    rh: Option<&FloatHistogram>,
) -> Result<Elem, String> {
    let hist = |mut h: FloatHistogram| {
        h.compact();
        Elem::Value {
            f: 0.0,
            h: Some(h),
            keep: true,
            note: None,
        }
    };
    Ok(match (lh, rh) {
        (None, None) if is_trim(op) => incompatible_types(op, "float", "float"),
        (None, None) => {
            let (v, keep) = elem_op(op, lf, rf)?;
            plain(v, keep)
        }
        (None, Some(r)) => match op {
            "*" => {
                let mut h = r.clone();
                h.mul(lf);
                hist(h)
            }
            _ => incompatible_types(op, "float", "histogram"),
        },
        (Some(l), None) => match op {
            "*" => {
                let mut h = l.clone();
                h.mul(rf);
                hist(h)
            }
            "/" => {
                let mut h = l.clone();
                h.div(rf);
                hist(h)
            }
            // Already compacted when anything was trimmed (Prometheus does not compact an
            // untouched histogram either).
            "</" => trimmed(trim_buckets(l, rf, Trim::Upper)),
            ">/" => trimmed(trim_buckets(l, rf, Trim::Lower)),
            _ => incompatible_types(op, "histogram", "float"),
        },
        (Some(l), Some(r)) => match op {
            "+" | "-" => histogram_add_sub(op, l, r),
            "==" | "!=" => Elem::Value {
                f: 0.0,
                h: Some(l.clone()),
                keep: l.equals(r) == (op == "=="),
                note: None,
            },
            _ => incompatible_types(op, "histogram", "histogram"),
        },
    })
}

/// Histogram `+`/`-` with Prometheus' annotations; a difference is a gauge.
fn histogram_add_sub(op: &str, l: &FloatHistogram, r: &FloatHistogram) -> Elem {
    let mut h = l.clone();
    let add = op == "+";
    let res = if add { h.add(r) } else { h.sub(r) };
    let what = if add { "addition" } else { "subtraction" };
    match res {
        Err(_) => Elem::Drop(Annot::Warn(format!(
            "PromQL warning: incompatible bucket layout encountered for binary operator {op}"
        ))),
        Ok(n) if n.counter_reset_collision => Elem::Drop(Annot::Warn(format!(
            "PromQL warning: conflicting counter resets during histogram {what}"
        ))),
        Ok(n) => {
            if !add {
                h.hint = CounterResetHint::Gauge;
            }
            h.compact();
            Elem::Value {
                f: 0.0,
                h: Some(h),
                keep: true,
                note: n.bounds_reconciled.then(|| {
                    Annot::Info(format!(
                        "PromQL info: mismatched custom buckets were reconciled during {what}"
                    ))
                }),
            }
        }
    }
}

/// Reports annotations of element-wise operations.
fn report(ev: &mut Evaluator, annots: Vec<Annot>) {
    for a in annots {
        match a {
            Annot::Info(m) => ev.info(m),
            Annot::Warn(m) => ev.warn(m),
        }
    }
}

struct Matching {
    card: VectorMatchCardinality,
    on: bool,
    names: Vec<String>,
}

fn matching_of(b: &BinaryExpr) -> Matching {
    let (card, lm) = match &b.modifier {
        Some(m) => (m.card.clone(), m.matching.clone()),
        None => (VectorMatchCardinality::OneToOne, None),
    };
    let card = if matches!(b.op.to_string().as_str(), "and" | "or" | "unless") {
        VectorMatchCardinality::ManyToMany
    } else {
        card
    };
    let (on, names) = match lm {
        Some(LabelModifier::Include(l)) => (true, l.labels),
        Some(LabelModifier::Exclude(l)) => (false, l.labels),
        None => (false, Vec::new()),
    };
    Matching { card, on, names }
}

/// The matching signature: the `on` labels, or all labels but the `ignoring` ones and the name.
fn signature(l: &Labels, m: &Matching) -> Labels {
    if m.on {
        labels_from(
            l.iter()
                .filter(|x| m.names.contains(&x.name))
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect(),
        )
    } else {
        labels_from(
            l.iter()
                .filter(|x| x.name != METRIC_NAME && !m.names.contains(&x.name))
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect(),
        )
    }
}

pub(super) fn eval_binary(ev: &mut Evaluator, b: &BinaryExpr, t: i64) -> Result<Value, String> {
    let op = match ev.trim_of(b) {
        Some(trim) => trim.symbol().to_string(),
        None => b.op.to_string(),
    };
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = elem_op(&op, l, r)?;
            if is_comparison(&op) {
                Ok(Value::Scalar(if keep { 1.0 } else { 0.0 }))
            } else {
                Ok(Value::Scalar(v))
            }
        }
        (Value::Vector(v), Value::Scalar(s)) => {
            let (out, annots) = vector_scalar(&op, v, s, false, return_bool, t)?;
            report(ev, annots);
            Ok(Value::Vector(out))
        }
        (Value::Scalar(s), Value::Vector(v)) => {
            let (out, annots) = vector_scalar(&op, v, s, true, return_bool, t)?;
            report(ev, annots);
            Ok(Value::Vector(out))
        }
        (Value::Vector(l), Value::Vector(r)) => {
            let m = matching_of(b);
            match op.as_str() {
                "and" => Ok(Value::Vector(and_unless(l, r, &m, true))),
                "unless" => Ok(Value::Vector(and_unless(l, r, &m, false))),
                "or" => Ok(Value::Vector(or(l, r, &m))),
                _ => {
                    let fill = b
                        .modifier
                        .as_ref()
                        .map(|md| (md.fill_values.lhs, md.fill_values.rhs))
                        .unwrap_or((None, None));
                    let (out, annots) = vector_vector(&op, l, r, &m, fill, return_bool, t)?;
                    report(ev, annots);
                    Ok(Value::Vector(out))
                }
            }
        }
        (l, r) => Err(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.type_name(),
            r.type_name()
        )),
    }
}

/// Samples and annotations of a vector operation.
type Outcome = (Vec<EvSample>, Vec<Annot>);

fn vector_scalar(
    op: &str,
    v: Vec<EvSample>,
    s: f64,
    swap: bool,
    return_bool: bool,
    t: i64,
) -> Result<Outcome, String> {
    let cmp = is_comparison(op);
    let mut out = Vec::with_capacity(v.len());
    let mut annots = Vec::new();
    for x in v {
        let xh = x.h.as_deref();
        let res = if swap {
            elem_binop(op, s, None, x.f, xh)?
        } else {
            elem_binop(op, x.f, xh, s, None)?
        };
        let (mut val, mut h, mut keep) = match res {
            Elem::Drop(a) => {
                annots.push(a);
                continue;
            }
            Elem::Value { f, h, keep, note } => {
                annots.extend(note);
                (f, h, keep)
            }
        };
        if cmp && swap {
            // The vector element's value is the result, even on the right-hand side.
            val = x.f;
            h = x.h.map(|b| *b);
        }
        if return_bool {
            val = if keep { 1.0 } else { 0.0 };
            h = None;
            keep = true;
        }
        if keep {
            out.push(EvSample {
                h: h.map(Box::new),
                drop_name: x.drop_name || drops_name(op) || return_bool,
                labels: x.labels,
                f: val,
                t,
            });
        }
    }
    Ok((out, annots))
}

fn and_unless(l: Vec<EvSample>, r: Vec<EvSample>, m: &Matching, and: bool) -> Vec<EvSample> {
    let sigs: HashSet<Labels> = r.iter().map(|x| signature(&x.labels, m)).collect();
    l.into_iter()
        .filter(|x| sigs.contains(&signature(&x.labels, m)) == and)
        .collect()
}

fn or(l: Vec<EvSample>, r: Vec<EvSample>, m: &Matching) -> Vec<EvSample> {
    let sigs: HashSet<Labels> = l.iter().map(|x| signature(&x.labels, m)).collect();
    let mut out = l;
    out.extend(
        r.into_iter()
            .filter(|x| !sigs.contains(&signature(&x.labels, m))),
    );
    out
}

/// Prometheus `resultMetric`: labels of a vector/vector result, from the "many" side.
fn result_metric(op: &str, ls: &Labels, rs: &Labels, m: &Matching, include: &[String]) -> Labels {
    let mut p: Vec<(String, String)> = ls
        .iter()
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect();
    if drops_name(op) {
        // Arithmetic changes the metric's meaning: name and type/unit metadata go at once.
        p.retain(|(n, _)| n != METRIC_NAME && n != "__type__" && n != "__unit__");
    }
    if matches!(m.card, VectorMatchCardinality::OneToOne) {
        if m.on {
            p.retain(|(n, _)| m.names.contains(n));
        } else {
            p.retain(|(n, _)| !m.names.contains(n));
        }
    }
    for name in include {
        p.retain(|(n, _)| n != name);
        if let Some(v) = rs.get(name) {
            p.push((name.clone(), v.to_string()));
        }
    }
    labels_from(p)
}

/// Prometheus `MatchLabels`: the `on` labels, or all but the `ignoring` ones and the name.
fn match_labels(l: &Labels, m: &Matching) -> Labels {
    signature(l, m)
}

fn vector_vector(
    op: &str,
    l: Vec<EvSample>,
    r: Vec<EvSample>,
    m: &Matching,
    fill: (Option<f64>, Option<f64>),
    return_bool: bool,
    t: i64,
) -> Result<Outcome, String> {
    let (fill_lhs, fill_rhs) = fill;
    if (l.is_empty() && r.is_empty())
        || ((l.is_empty() || r.is_empty()) && fill_lhs.is_none() && fill_rhs.is_none())
    {
        return Ok((Vec::new(), Vec::new()));
    }
    let (swapped, include) = match &m.card {
        VectorMatchCardinality::OneToMany(ls) => (true, ls.labels.clone()),
        VectorMatchCardinality::ManyToOne(ls) => (false, ls.labels.clone()),
        _ => (false, Vec::new()),
    };
    let one_to_one = matches!(m.card, VectorMatchCardinality::OneToOne);
    let (lhs, rhs) = if swapped { (r, l) } else { (l, r) };
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (i, x) in rhs.iter().enumerate() {
        let sig = signature(&x.labels, m);
        if let Some(&j) = index.get(&sig) {
            let (mut d1, mut d2) = (x.labels.to_string(), rhs[j].labels.to_string());
            if d1 > d2 {
                std::mem::swap(&mut d1, &mut d2);
            }
            return Err(format!(
                "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                match_labels(&x.labels, m),
                if swapped { "left" } else { "right" },
                d1,
                d2
            ));
        }
        index.insert(sig, i);
    }
    #[derive(Default)]
    struct State {
        matched_one: HashSet<Labels>,
        matched_many: HashMap<Labels, HashSet<Labels>>,
        out: Vec<EvSample>,
        annots: Vec<Annot>,
    }
    let mut st = State::default();
    let do_op = |st: &mut State, ls: &EvSample, rs: &EvSample, sig: Labels| -> Result<(), String> {
        let (a, b) = if swapped { (rs, ls) } else { (ls, rs) };
        let (mut val, mut h, keep) = match elem_binop(op, a.f, a.h.as_deref(), b.f, b.h.as_deref())?
        {
            Elem::Drop(an) => {
                st.annots.push(an);
                return Ok(());
            }
            Elem::Value { f, h, keep, note } => {
                st.annots.extend(note);
                (f, h, keep)
            }
        };
        if return_bool {
            val = if keep { 1.0 } else { 0.0 };
            h = None;
        }
        let metric = result_metric(op, &ls.labels, &rs.labels, m, &include);
        if one_to_one {
            if !st.matched_one.insert(sig) {
                return Err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into());
            }
        } else if !st
            .matched_many
            .entry(sig)
            .or_default()
            .insert(metric.clone())
        {
            return Err(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            );
        }
        if keep || return_bool {
            st.out.push(EvSample {
                h: h.map(Box::new),
                labels: metric,
                f: val,
                t,
                drop_name: return_bool,
            });
        }
        Ok(())
    };
    for ls in &lhs {
        let sig = signature(&ls.labels, m);
        match index.get(&sig) {
            Some(&j) => do_op(&mut st, ls, &rhs[j], sig)?,
            None => {
                let Some(f) = fill_rhs else { continue };
                let fake = EvSample {
                    h: None,
                    labels: match_labels(&ls.labels, m),
                    f,
                    t,
                    drop_name: false,
                };
                do_op(&mut st, ls, &fake, sig)?;
            }
        }
    }
    if let Some(f) = fill_lhs {
        for rs in &rhs {
            let sig = signature(&rs.labels, m);
            let done = if one_to_one {
                st.matched_one.contains(&sig)
            } else {
                st.matched_many.get(&sig).is_some_and(|s| !s.is_empty())
            };
            if done {
                continue;
            }
            let fake = EvSample {
                h: None,
                labels: match_labels(&rs.labels, m),
                f,
                t,
                drop_name: false,
            };
            do_op(&mut st, &fake, rs, sig)?;
        }
    }
    Ok((st.out, st.annots))
}
