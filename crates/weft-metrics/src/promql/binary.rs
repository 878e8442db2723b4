//! Binary operators: arithmetic, comparisons (filtering and `bool`), set operators, and
//! vector matching (`on`/`ignoring`, `group_left`/`group_right`).

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use weft_core::labels::{Labels, METRIC_NAME};

use super::eval::{labels_from, EvSample, Evaluator, Value};

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
    let op = b.op.to_string();
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
            vector_scalar(&op, v, s, false, return_bool, t).map(Value::Vector)
        }
        (Value::Scalar(s), Value::Vector(v)) => {
            vector_scalar(&op, v, s, true, return_bool, t).map(Value::Vector)
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
                    vector_vector(&op, l, r, &m, fill, return_bool, t).map(Value::Vector)
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

fn vector_scalar(
    op: &str,
    v: Vec<EvSample>,
    s: f64,
    swap: bool,
    return_bool: bool,
    t: i64,
) -> Result<Vec<EvSample>, String> {
    let cmp = is_comparison(op);
    let mut out = Vec::with_capacity(v.len());
    for x in v {
        let (l, r) = if swap { (s, x.f) } else { (x.f, s) };
        let (mut val, mut keep) = elem_op(op, l, r)?;
        if cmp && swap {
            val = r;
        }
        if return_bool {
            val = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if keep {
            out.push(EvSample {
                drop_name: x.drop_name || drops_name(op) || return_bool,
                labels: x.labels,
                f: val,
                t,
            });
        }
    }
    Ok(out)
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
) -> Result<Vec<EvSample>, String> {
    let (fill_lhs, fill_rhs) = fill;
    if (l.is_empty() && r.is_empty())
        || ((l.is_empty() || r.is_empty()) && fill_lhs.is_none() && fill_rhs.is_none())
    {
        return Ok(Vec::new());
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
    }
    let mut st = State::default();
    let do_op = |st: &mut State, ls: &EvSample, rs: &EvSample, sig: Labels| -> Result<(), String> {
        let (fl, fr) = if swapped { (rs.f, ls.f) } else { (ls.f, rs.f) };
        let (mut val, keep) = elem_op(op, fl, fr)?;
        if return_bool {
            val = if keep { 1.0 } else { 0.0 };
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
                labels: match_labels(&rs.labels, m),
                f,
                t,
                drop_name: false,
            };
            do_op(&mut st, &fake, rs, sig)?;
        }
    }
    Ok(st.out)
}
