//! `info()`: enriches series with data labels of info metrics (`target_info` by default)
//! joined on the identifying labels `instance` and `job` (Prometheus `promql/info.go`).

use std::collections::{BTreeMap, HashMap};

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::{AtModifier, Expr};
use weft_core::labels::{Labels, METRIC_NAME};

use super::eval::{labels_from, pairs, EvSample, Evaluator, Value};

const TARGET_INFO: &str = "target_info";
const IDENTIFYING: [&str; 2] = ["instance", "job"];

fn re_matcher(name: &str, re: &str) -> Matcher {
    let r = regex::Regex::new(&format!("^(?s:{re})$")).expect("valid regex");
    Matcher::new(MatchOp::Re(r), name, re)
}

/// Prometheus `effectiveInfoNameMatchers`.
fn effective_name_matchers(ms: &[Matcher]) -> Vec<Matcher> {
    if ms
        .iter()
        .any(|m| matches!(m.op, MatchOp::Equal | MatchOp::Re(_)))
    {
        return ms.to_vec();
    }
    if !ms.is_empty() {
        let mut v = vec![re_matcher(METRIC_NAME, ".+_info")];
        v.extend(ms.iter().cloned());
        return v;
    }
    vec![Matcher::new(MatchOp::Equal, METRIC_NAME, TARGET_INFO)]
}

/// The `@` and `offset` of the first vector selector in `e` (Prometheus
/// `infoSelectTimestampAndOffset`, including enclosing subqueries).
fn first_selector_time(e: &Expr) -> Option<(Option<AtModifier>, i64)> {
    use super::eval::offset_ms;
    match e {
        Expr::VectorSelector(vs) => Some((vs.at.clone(), offset_ms(&vs.offset))),
        Expr::MatrixSelector(ms) => Some((ms.vs.at.clone(), offset_ms(&ms.vs.offset))),
        Expr::Paren(p) => first_selector_time(&p.expr),
        Expr::Unary(u) => first_selector_time(&u.expr),
        Expr::Aggregate(a) => a
            .param
            .as_deref()
            .and_then(first_selector_time)
            .or_else(|| first_selector_time(&a.expr)),
        Expr::Binary(b) => first_selector_time(&b.lhs).or_else(|| first_selector_time(&b.rhs)),
        Expr::Call(c) => c.args.args.iter().find_map(|a| first_selector_time(a)),
        Expr::Subquery(sq) => first_selector_time(&sq.expr).map(|(at, off)| {
            if at.is_some() {
                (at, off)
            } else {
                (sq.at.clone(), off + offset_ms(&sq.offset))
            }
        }),
        _ => None,
    }
}

fn regex_quote(s: &str) -> String {
    regex::escape(s)
}

pub(super) fn eval_info(ev: &mut Evaluator, args: &[&Expr], t: i64) -> Result<Value, String> {
    let (at, offset) = first_selector_time(args[0]).unwrap_or((None, 0));
    let base = ev.eval_vector(args[0], t)?;

    // Data label matchers by label name, from the optional selector argument.
    let mut data: BTreeMap<String, Vec<Matcher>> = BTreeMap::new();
    let mut info_name_matchers: Vec<Matcher> = Vec::new();
    if let Some(sel) = args.get(1) {
        let Expr::VectorSelector(vs) = sel else {
            return Err("expected label selector as second argument of info()".into());
        };
        let mut ms: Vec<Matcher> = vs.matchers.matchers.clone();
        ms.retain(|m| m.name != super::durexpr::INFO_MARKER);
        if let Some(n) = &vs.name {
            ms.push(Matcher::new(MatchOp::Equal, METRIC_NAME, n));
        }
        for m in ms {
            if m.name == METRIC_NAME {
                info_name_matchers.push(m.clone());
            }
            data.entry(m.name.clone()).or_default().push(m);
        }
    } else {
        info_name_matchers.push(Matcher::new(MatchOp::Equal, METRIC_NAME, TARGET_INFO));
    }
    let effective = effective_name_matchers(&info_name_matchers);
    let ignored = |l: &Labels| {
        let name = l.metric_name().unwrap_or("");
        effective.iter().all(|m| m.is_match(name))
    };

    // Identifying label values of the series to enrich.
    let mut id_values: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in base.iter().filter(|s| !ignored(&s.labels)) {
        for l in IDENTIFYING {
            if let Some(v) = s.labels.get(l) {
                let e = id_values.entry(l).or_default();
                if !e.iter().any(|x| x == v) {
                    e.push(v.to_string());
                }
            }
        }
    }
    let name_matchers: Vec<Matcher> = data
        .values()
        .flatten()
        .filter(|m| m.name == METRIC_NAME)
        .cloned()
        .collect();
    let other_matchers: Vec<Matcher> = data
        .values()
        .flatten()
        .filter(|m| m.name != METRIC_NAME)
        .cloned()
        .collect();
    data.remove(METRIC_NAME);

    let mut info_series: Vec<(Labels, i64)> = Vec::new();
    if !id_values.is_empty() {
        let mut ms: Vec<Matcher> = id_values
            .iter()
            .map(|(n, vals)| {
                let re = vals
                    .iter()
                    .map(|v| regex_quote(v))
                    .collect::<Vec<_>>()
                    .join("|");
                re_matcher(n, &re)
            })
            .collect();
        ms.extend(other_matchers);
        ms.extend(effective_name_matchers(&name_matchers));
        let r = ev.at_time(&at).unwrap_or(t) - offset;
        info_series = ev.select_latest_timestamps(&Matchers::new(ms), r)?;
    }

    let sig = |name: &str, l: &Labels| -> Labels {
        let mut p = vec![(METRIC_NAME.to_string(), name.to_string())];
        for n in IDENTIFYING {
            if let Some(v) = l.get(n) {
                p.push((n.to_string(), v.to_string()));
            }
        }
        labels_from(p)
    };
    let mut info_names: Vec<String> = info_series
        .iter()
        .filter_map(|(l, _)| l.metric_name().map(str::to_string))
        .collect();
    info_names.sort();
    info_names.dedup();
    // Newest info series per signature.
    let mut right: HashMap<Labels, (Labels, i64)> = HashMap::new();
    for (l, ts) in info_series {
        let s = sig(l.metric_name().unwrap_or(""), &l);
        match right.get(&s) {
            Some((el, ets)) if *ets == ts => {
                return Err(format!(
                    "found duplicate series for info metric: existing {el} @ {ets}, new {l} @ {ts}"
                ))
            }
            Some((_, ets)) if *ets > ts => {}
            _ => {
                right.insert(s, (l, ts));
            }
        }
    }

    let mut out = Vec::new();
    for bs in base {
        if ignored(&bs.labels) {
            out.push(bs);
            continue;
        }
        let mut add: BTreeMap<String, String> = BTreeMap::new();
        let mut seen = 0;
        for name in &info_names {
            let Some((il, _)) = right.get(&sig(name, &bs.labels)) else {
                continue;
            };
            for l in il.iter() {
                if l.name == METRIC_NAME {
                    continue;
                }
                if !data.is_empty() && !data.contains_key(&l.name) {
                    continue;
                }
                if add.get(&l.name).is_some_and(|v| v != &l.value) {
                    return Err(format!("conflicting label: {}", l.name));
                }
                if bs.labels.get(&l.name).is_some() {
                    continue;
                }
                add.insert(l.name.clone(), l.value.clone());
            }
            seen += 1;
        }
        if seen == 0 && !data.values().flatten().all(|m| m.is_match("")) {
            continue;
        }
        let mut p = pairs(&bs.labels);
        p.extend(add);
        out.push(EvSample {
            labels: labels_from(p),
            ..bs
        });
    }
    Ok(Value::Vector(out))
}
