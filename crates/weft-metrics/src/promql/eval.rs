//! The evaluator: selectors, `offset`/`@`, subqueries, and dispatch to operators, aggregations
//! and functions.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::{AtModifier, BinaryExpr, Expr, MatrixSelector, Offset, VectorSelector};
use weft_core::labels::{Labels, METRIC_NAME};

use super::durexpr::{RangeMod, SMOOTHED_MARKER};
use super::histogram::{CounterResetHint, FloatHistogram};
use super::{
    is_stale_nan, Query, Queryable, SeriesData, DEFAULT_LOOKBACK_MS, DEFAULT_SUBQUERY_STEP_MS,
};

/// One element of an instant vector during evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct EvSample {
    pub labels: Labels,
    /// The float value (unused when `h` is set).
    pub f: f64,
    /// A native histogram value; `None` for float samples.
    pub h: Option<Box<FloatHistogram>>,
    /// The sample's own timestamp for raw selector output; the evaluation time otherwise.
    pub t: i64,
    /// Delayed `__name__` removal (Prometheus 3): drop the name when the result is returned.
    pub drop_name: bool,
}

/// One series of a range vector.
#[derive(Clone, Debug, PartialEq)]
pub struct EvSeries {
    pub labels: Labels,
    /// Float points, ascending by time.
    pub points: Vec<(i64, f64)>,
    /// Histogram points, ascending by time.
    pub hists: Vec<(i64, FloatHistogram)>,
    pub drop_name: bool,
}

impl EvSeries {
    /// A series without points.
    pub fn empty(labels: Labels) -> Self {
        Self {
            labels,
            points: Vec::new(),
            hists: Vec::new(),
            drop_name: false,
        }
    }

    /// True if the series has neither float nor histogram points.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty() && self.hists.is_empty()
    }

    /// Appends one evaluated sample at `t`.
    pub(super) fn push(&mut self, t: i64, s: EvSample) {
        match s.h {
            Some(h) => self.hists.push((t, *h)),
            None => self.points.push((t, s.f)),
        }
    }
}

impl EvSample {
    /// A float sample.
    pub fn float(labels: Labels, f: f64, t: i64, drop_name: bool) -> Self {
        Self {
            labels,
            f,
            h: None,
            t,
            drop_name,
        }
    }

    /// A histogram sample.
    pub fn hist(labels: Labels, h: FloatHistogram, t: i64, drop_name: bool) -> Self {
        Self {
            labels,
            f: 0.0,
            h: Some(Box::new(h)),
            t,
            drop_name,
        }
    }
}

/// An evaluation result.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<EvSample>),
    Matrix(Vec<EvSeries>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Maximum points per series of a range query (Prometheus' limit).
const MAX_POINTS: i64 = 11_000;
/// Total step budget per query (range steps plus subquery steps), a guard against runaway
/// evaluation.
const STEP_BUDGET: u64 = 50_000_000;

/// Evaluates parsed expressions against a [`Queryable`].
pub struct Evaluator<'a> {
    storage: &'a dyn Queryable,
    pub lookback_ms: i64,
    pub subquery_step_ms: i64,
    pub(super) query_start: i64,
    pub(super) query_end: i64,
    /// The range query's step (0 for instant queries), for `step()`.
    pub(super) query_step: i64,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    budget: u64,
    /// Range modifiers by the address of their `MatrixSelector` node (see [`Self::prepare`]).
    range_mods: HashMap<usize, RangeMod>,
    /// Trim operators by the address of their (`<`/`>`) `BinaryExpr` node.
    trims: HashMap<usize, super::trim::Trim>,
    /// Vector selectors read like Prometheus' `HistogramStatsIterator` reads them (by node
    /// address; see [`super::stats`]).
    stats_selectors: std::collections::HashSet<usize>,
    /// Grouping keys of input series by the address of their aggregation node: the steps of
    /// a range query group the same series again and again, and a remembered key is a shared
    /// label set that hashes and compares at the cost of a pointer.
    pub(super) group_keys: HashMap<usize, HashMap<Labels, Labels>>,
}

/// Range selectors of `e` in source order.
fn matrix_selectors<'e>(e: &'e Expr, out: &mut Vec<&'e MatrixSelector>) {
    visit(e, &mut |node| {
        if let Expr::MatrixSelector(ms) = node {
            out.push(ms);
        }
    });
}

/// Calls `f` on `e` and every expression inside it, depth first, in source order.
pub(super) fn visit<'e>(e: &'e Expr, f: &mut dyn FnMut(&'e Expr)) {
    f(e);
    match e {
        Expr::Paren(p) => visit(&p.expr, f),
        Expr::Unary(u) => visit(&u.expr, f),
        Expr::Subquery(sq) => visit(&sq.expr, f),
        Expr::Binary(b) => {
            visit(&b.lhs, f);
            visit(&b.rhs, f);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                visit(p, f);
            }
            visit(&a.expr, f);
        }
        Expr::Call(c) => c.args.args.iter().for_each(|a| visit(a, f)),
        _ => {}
    }
}

/// The matchers of every vector and range selector in `e` (for `/api/v1/query_exemplars`).
pub fn selectors_of(e: &Expr) -> Vec<Matchers> {
    let mut out = Vec::new();
    visit(e, &mut |node| match node {
        Expr::VectorSelector(vs) => out.push(selector_matchers(vs)),
        Expr::MatrixSelector(ms) => out.push(selector_matchers(&ms.vs)),
        _ => {}
    });
    out
}

/// Parses a series selector (`match[]` of the metadata endpoints) into matchers.
pub fn parse_selector(s: &str) -> Result<Matchers, String> {
    match promql_parser::parser::parse(s)? {
        Expr::VectorSelector(vs) => Ok(selector_matchers(&vs)),
        other => Err(format!(
            "1:1: parse error: expected a series selector, got {}",
            match other.value_type() {
                promql_parser::parser::value::ValueType::Matrix => "a range vector",
                _ => "an expression",
            }
        )),
    }
}

pub(super) fn duration_ms(d: &Duration) -> i64 {
    d.as_millis() as i64
}

pub(super) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Builds a label set from pairs already free of duplicates.
pub(super) fn labels_from(pairs: Vec<(String, String)>) -> Labels {
    Labels::from_pairs(pairs).unwrap_or_default()
}

pub(super) fn pairs(l: &Labels) -> Vec<(String, String)> {
    l.iter()
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect()
}

/// Drops the metric name and, with it, the type-and-unit metadata labels (`__type__`,
/// `__unit__`), as Prometheus' `DropReserved` does.
pub(super) fn without_name(l: &Labels) -> Labels {
    if !l
        .iter()
        .any(|x| x.name == METRIC_NAME || x.name == "__type__" || x.name == "__unit__")
    {
        return l.clone();
    }
    labels_from(
        l.iter()
            .filter(|x| x.name != METRIC_NAME && x.name != "__type__" && x.name != "__unit__")
            .map(|x| (x.name.clone(), x.value.clone()))
            .collect(),
    )
}

/// Matchers of a selector, with the metric name as an equality matcher when given by name.
fn selector_matchers(vs: &VectorSelector) -> Matchers {
    let mut m = vs.matchers.clone();
    if let Some(name) = &vs.name {
        let has = m
            .matchers
            .iter()
            .any(|x| x.name == METRIC_NAME && x.op == MatchOp::Equal && &x.value == name);
        if !has {
            m.matchers
                .push(Matcher::new(MatchOp::Equal, METRIC_NAME, name));
        }
    }
    m
}

impl<'a> Evaluator<'a> {
    pub fn new(storage: &'a dyn Queryable) -> Self {
        Self {
            storage,
            lookback_ms: DEFAULT_LOOKBACK_MS,
            subquery_step_ms: DEFAULT_SUBQUERY_STEP_MS,
            query_start: 0,
            query_end: 0,
            query_step: 0,
            warnings: Vec::new(),
            infos: Vec::new(),
            budget: STEP_BUDGET,
            range_mods: HashMap::new(),
            trims: HashMap::new(),
            stats_selectors: Default::default(),
            group_keys: HashMap::new(),
        }
    }

    /// Registers the range modifiers of `q`; evaluate `q.expr` (this very value) afterwards.
    pub fn prepare(&mut self, q: &Query) -> Result<(), String> {
        self.trims = super::trim::trim_nodes(&q.expr, &q.trims)?
            .into_iter()
            .map(|(b, t)| (b as *const BinaryExpr as usize, t))
            .collect();
        let trim_of = |b: &BinaryExpr| self.trim_of(b);
        let stats: std::collections::HashSet<usize> =
            super::stats::stats_selectors(&q.expr, &trim_of)
                .into_iter()
                .map(|vs| vs as *const VectorSelector as usize)
                .collect();
        self.stats_selectors = stats;
        self.range_mods.clear();
        if q.range_mods.iter().all(Option::is_none) {
            return Ok(());
        }
        let mut sels = Vec::new();
        matrix_selectors(&q.expr, &mut sels);
        if sels.len() != q.range_mods.len() {
            return Err("could not place anchored/smoothed modifiers on range selectors".into());
        }
        for (ms, m) in sels.into_iter().zip(&q.range_mods) {
            if let Some(m) = m {
                self.range_mods
                    .insert(ms as *const MatrixSelector as usize, *m);
            }
        }
        Ok(())
    }

    /// Whether `vs` is read like Prometheus' `HistogramStatsIterator` reads it.
    fn reads_stats(&self, vs: &VectorSelector) -> bool {
        self.stats_selectors
            .contains(&(vs as *const VectorSelector as usize))
    }

    /// The trim operator a parsed `<`/`>` node stands for, if any.
    pub(super) fn trim_of(&self, b: &BinaryExpr) -> Option<super::trim::Trim> {
        self.trims.get(&(b as *const BinaryExpr as usize)).copied()
    }

    /// The `anchored`/`smoothed` modifier of a range selector.
    pub(super) fn range_mod(&self, ms: &MatrixSelector) -> Option<RangeMod> {
        self.range_mods
            .get(&(ms as *const MatrixSelector as usize))
            .copied()
    }

    fn spend(&mut self, n: u64) -> Result<(), String> {
        if n > self.budget {
            return Err("query processing would exceed the evaluation step budget".into());
        }
        self.budget -= n;
        Ok(())
    }

    pub(super) fn info(&mut self, msg: String) {
        if !self.infos.contains(&msg) {
            self.infos.push(msg);
        }
    }

    pub(super) fn warn(&mut self, msg: String) {
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    /// Evaluates an instant query at `t`; `__name__` removal is applied to the result.
    pub fn instant(&mut self, expr: &Expr, t: i64) -> Result<Value, String> {
        self.query_start = t;
        self.query_end = t;
        self.query_step = 0;
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(Value::Vector(finish_vector(v, &mut HashMap::new())?)),
            Value::Matrix(m) => Ok(Value::Matrix(finish_matrix(m)?)),
            other => Ok(other),
        }
    }

    /// Evaluates a range query; scalars become one series without labels. Series are sorted
    /// by labels.
    pub fn range(
        &mut self,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<EvSeries>, String> {
        match expr.value_type() {
            promql_parser::parser::value::ValueType::Matrix => {
                return Err("invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into())
            }
            promql_parser::parser::value::ValueType::String => {
                return Err("invalid expression type \"string\" for range query, must be Scalar or instant Vector".into())
            }
            _ => {}
        }
        if step <= 0 {
            return Err("zero or negative query resolution step widths are not accepted. Try a positive integer".into());
        }
        if (end - start) / step > MAX_POINTS {
            return Err("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into());
        }
        self.query_start = start;
        self.query_end = end;
        self.query_step = step;
        let mut out: HashMap<Labels, EvSeries> = HashMap::new();
        // Every step drops `__name__` from the same series again: remember the results, so
        // that each step's labels are the same shared sets (cheap to hash and compare).
        let mut unnamed = HashMap::new();
        let mut t = start;
        while t <= end {
            self.spend(1)?;
            match self.eval(expr, t)? {
                Value::Scalar(v) => out
                    .entry(Labels::default())
                    .or_insert_with(|| EvSeries::empty(Labels::default()))
                    .points
                    .push((t, v)),
                Value::Vector(v) => {
                    for s in finish_vector(v, &mut unnamed)? {
                        out.entry(s.labels.clone())
                            .or_insert_with(|| EvSeries::empty(s.labels.clone()))
                            .push(t, s);
                    }
                }
                other => {
                    return Err(format!(
                        "unexpected {} result in range query",
                        other.type_name()
                    ))
                }
            }
            t += step;
        }
        let mut series: Vec<EvSeries> = out.into_values().collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(series)
    }

    pub(super) fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(st)) => Some(system_time_ms(st)),
        }
    }

    /// Evaluates `expr` at time `t`.
    pub fn eval(&mut self, expr: &Expr, t: i64) -> Result<Value, String> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(v) => Ok(Value::Vector(
                    v.into_iter()
                        .map(|s| EvSample {
                            f: -s.f,
                            h: s.h.map(|mut h| {
                                h.mul(-1.0);
                                h
                            }),
                            drop_name: true,
                            t,
                            ..s
                        })
                        .collect(),
                )),
                other => Err(format!(
                    "unary expression only allowed on expressions of type scalar or vector, got: {}",
                    other.type_name()
                )),
            },
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.select_vector(vs, t))),
            Expr::MatrixSelector(ms) => {
                let range = duration_ms(&ms.range);
                let m = match self.range_mod(ms) {
                    None => self.select_matrix(&ms.vs, range, t),
                    Some(md) => {
                        let r = self.ref_time(&ms.vs.at, &ms.vs.offset, t);
                        let smoothed = md == RangeMod::Smoothed;
                        self.select_matrix_extended(&ms.vs, range, md, t)
                            .into_iter()
                            .map(|mut s| {
                                s.points = extend_floats(&s.points, r - range, r, smoothed);
                                s
                            })
                            .collect()
                    }
                };
                Ok(Value::Matrix(
                    m.into_iter().filter(|s| !s.is_empty()).collect(),
                ))
            }
            Expr::Subquery(sq) => {
                let step = sq
                    .step
                    .as_ref()
                    .map(duration_ms)
                    .filter(|s| *s > 0)
                    .unwrap_or(self.subquery_step_ms);
                let m = self.subquery(
                    &sq.expr,
                    duration_ms(&sq.range),
                    step,
                    &sq.at,
                    &sq.offset,
                    t,
                )?;
                Ok(Value::Matrix(m))
            }
            Expr::Binary(b) => super::binary::eval_binary(self, b, t),
            Expr::Aggregate(a) => super::aggregate::eval_aggregate(self, a, t),
            Expr::Call(c) => super::functions::eval_call(self, c, t),
            Expr::Extension(_) => Err("extension expressions are not supported".into()),
        }
    }

    /// Evaluates `expr` expecting an instant vector.
    pub(super) fn eval_vector(&mut self, expr: &Expr, t: i64) -> Result<Vec<EvSample>, String> {
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(format!(
                "expected instant vector, got {}",
                other.type_name()
            )),
        }
    }

    /// Evaluates `expr` expecting a scalar.
    pub(super) fn eval_scalar(&mut self, expr: &Expr, t: i64) -> Result<f64, String> {
        match self.eval(expr, t)? {
            Value::Scalar(v) => Ok(v),
            other => Err(format!("expected scalar, got {}", other.type_name())),
        }
    }

    /// Evaluates `expr` expecting a range vector (matrix selector or subquery); keeps empty
    /// series out.
    pub(super) fn eval_matrix(&mut self, expr: &Expr, t: i64) -> Result<Vec<EvSeries>, String> {
        match expr {
            Expr::Paren(p) => self.eval_matrix(&p.expr, t),
            Expr::MatrixSelector(ms) => Ok(self
                .select_matrix(&ms.vs, duration_ms(&ms.range), t)
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect()),
            _ => match self.eval(expr, t)? {
                Value::Matrix(m) => Ok(m),
                other => Err(format!("expected range vector, got {}", other.type_name())),
            },
        }
    }

    /// The reference time of a selector evaluated at `t`.
    pub(super) fn ref_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        self.at_time(at).unwrap_or(t) - offset_ms(offset)
    }

    /// Instant vector selector: the newest sample in `(ref - lookback, ref]`, unless stale.
    pub(super) fn select_vector(&mut self, vs: &VectorSelector, t: i64) -> Vec<EvSample> {
        let r = self.ref_time(&vs.at, &vs.offset, t);
        let mut matchers = selector_matchers(vs);
        let before = matchers.matchers.len();
        matchers.matchers.retain(|m| m.name != SMOOTHED_MARKER);
        if matchers.matchers.len() != before {
            return self.select_smoothed(&matchers, r, t);
        }
        let mut out = Vec::new();
        let stats = self.reads_stats(vs);
        for mut s in self.storage.select(&matchers, r - self.lookback_ms + 1, r) {
            if stats {
                super::stats::synthesize_hints(&mut s.histograms);
            }
            if let Some(x) = latest_sample(s, r, self.lookback_ms) {
                out.push(x);
            }
        }
        out
    }

    /// `smoothed` instant selector: the value at `r` interpolated between the neighbouring
    /// samples within the lookback delta on either side (Prometheus `smoothSeries`).
    fn select_smoothed(&mut self, matchers: &Matchers, r: i64, t: i64) -> Vec<EvSample> {
        let lb = self.lookback_ms;
        let mut out = Vec::new();
        for s in self.storage.select(matchers, r - lb + 1, r + lb) {
            let f: Vec<(i64, f64)> = s
                .samples
                .into_iter()
                .filter(|p| p.0 > r - lb && p.0 <= r + lb && !is_stale_nan(p.1))
                .collect();
            let hs: Vec<(i64, FloatHistogram)> = s
                .histograms
                .into_iter()
                .filter(|p| p.0 > r - lb && p.0 <= r + lb)
                .collect();
            if !hs.is_empty() {
                let name = super::native::metric_name(&s.labels);
                if !f.is_empty() {
                    super::native::warn_mixed_floats_histograms(self, &name);
                } else if let Some(h) = super::extended::smoothed_histogram(self, &hs, r, &name) {
                    out.push(EvSample::hist(s.labels, h, t, false));
                }
                continue;
            }
            let i = f.partition_point(|p| p.0 < r);
            let v = if i < f.len() && f[i].0 == r {
                f[i].1
            } else if i > 0 && i < f.len() {
                interpolate(f[i - 1], f[i], r, false)
            } else if i > 0 {
                f[i - 1].1
            } else {
                continue;
            };
            out.push(EvSample {
                h: None,
                labels: s.labels,
                f: v,
                t,
                drop_name: false,
            });
        }
        out
    }

    /// For `info()`: each series matching `matchers` with a live sample in
    /// `(ref - lookback, ref]`, paired with that sample's timestamp. Histogram info samples
    /// are an error, as in Prometheus.
    pub(super) fn select_latest_timestamps(
        &mut self,
        matchers: &Matchers,
        r: i64,
    ) -> Result<Vec<(Labels, i64)>, String> {
        let mut out = Vec::new();
        for s in self.storage.select(matchers, r - self.lookback_ms + 1, r) {
            if let Some(x) = latest_sample(s, r, self.lookback_ms) {
                if x.h.is_some() {
                    return Err("info sample should be float".into());
                }
                out.push((x.labels, x.t));
            }
        }
        Ok(out)
    }

    /// Range vector selector: samples in `(ref - range, ref]`, staleness markers removed.
    /// Series without samples are kept (callers filter).
    pub(super) fn select_matrix(
        &mut self,
        vs: &VectorSelector,
        range_ms: i64,
        t: i64,
    ) -> Vec<EvSeries> {
        let r = self.ref_time(&vs.at, &vs.offset, t);
        let matchers = selector_matchers(vs);
        let stats = self.reads_stats(vs);
        self.storage
            .select(&matchers, r - range_ms + 1, r)
            .into_iter()
            .map(|mut s| {
                if stats {
                    super::stats::synthesize_hints(&mut s.histograms);
                }
                window_series(s, r - range_ms, r)
            })
            .collect()
    }

    /// Range selector data for `anchored` (window extended back by the lookback delta) and
    /// `smoothed` (also forward by it) modifiers.
    pub(super) fn select_matrix_extended(
        &mut self,
        vs: &VectorSelector,
        range_ms: i64,
        m: RangeMod,
        t: i64,
    ) -> Vec<EvSeries> {
        let r = self.ref_time(&vs.at, &vs.offset, t);
        let lo = r - range_ms - self.lookback_ms;
        let hi = match m {
            RangeMod::Anchored => r,
            RangeMod::Smoothed => r + self.lookback_ms,
        };
        let matchers = selector_matchers(vs);
        self.storage
            .select(&matchers, lo + 1, hi)
            .into_iter()
            .map(|s| window_series(s, lo, hi))
            .collect()
    }

    fn subquery(
        &mut self,
        inner: &Expr,
        range_ms: i64,
        step_ms: i64,
        at: &Option<AtModifier>,
        offset: &Option<Offset>,
        t: i64,
    ) -> Result<Vec<EvSeries>, String> {
        let r = self.ref_time(at, offset, t);
        let lo = r - range_ms;
        let mut start = step_ms * (lo / step_ms);
        if start <= lo {
            start += step_ms;
        }
        let mut order: Vec<Labels> = Vec::new();
        let mut out: HashMap<Labels, EvSeries> = HashMap::new();
        let mut ts = start;
        while ts <= r {
            self.spend(1)?;
            match self.eval(inner, ts)? {
                Value::Scalar(v) => {
                    let e = out.entry(Labels::default()).or_insert_with(|| {
                        order.push(Labels::default());
                        EvSeries::empty(Labels::default())
                    });
                    e.points.push((ts, v));
                }
                Value::Vector(v) => {
                    for s in v {
                        let e = out.entry(s.labels.clone()).or_insert_with(|| {
                            order.push(s.labels.clone());
                            EvSeries::empty(s.labels.clone())
                        });
                        e.drop_name |= s.drop_name;
                        e.push(ts, s);
                    }
                }
                other => {
                    return Err(format!(
                        "subquery is only allowed on instant vector, got {} instead",
                        other.type_name()
                    ))
                }
            }
            ts += step_ms;
        }
        let mut series: Vec<EvSeries> = order.into_iter().filter_map(|l| out.remove(&l)).collect();
        // Like Prometheus: explicit reset hints are meaningless between subquery steps (which
        // may skip or repeat samples), so resets are detected from the values again.
        for h in series.iter_mut().flat_map(|s| s.hists.iter_mut()) {
            if matches!(
                h.1.hint,
                CounterResetHint::NotCounterReset | CounterResetHint::CounterReset
            ) {
                h.1.hint = CounterResetHint::Unknown;
            }
        }
        Ok(series)
    }
}

/// The newest sample of `s` at or before `r` within the lookback delta, unless it is a
/// staleness marker. Float and histogram samples never share a timestamp.
fn latest_sample(s: SeriesData, r: i64, lookback: i64) -> Option<EvSample> {
    let f = s.samples.iter().rev().find(|p| p.0 <= r);
    let h = s.histograms.into_iter().rev().find(|p| p.0 <= r);
    let sample = match (f, h) {
        (Some(&(ft, fv)), Some((ht, _))) if ft >= ht => EvSample::float(s.labels, fv, ft, false),
        (_, Some((ht, hv))) => EvSample::hist(s.labels, hv, ht, false),
        (Some(&(ft, fv)), None) => EvSample::float(s.labels, fv, ft, false),
        (None, None) => return None,
    };
    let live = sample.t > r - lookback && (sample.h.is_some() || !is_stale_nan(sample.f));
    live.then_some(sample)
}

/// The samples of `s` in `(lo, hi]`, staleness markers removed.
fn window_series(s: SeriesData, lo: i64, hi: i64) -> EvSeries {
    EvSeries {
        labels: s.labels,
        points: s
            .samples
            .into_iter()
            .filter(|p| p.0 > lo && p.0 <= hi && !is_stale_nan(p.1))
            .collect(),
        hists: s
            .histograms
            .into_iter()
            .filter(|p| p.0 > lo && p.0 <= hi)
            .collect(),
        drop_name: false,
    }
}

/// Linear interpolation at `t` between two points (Prometheus `interpolate`); a counter
/// reset models the counter as restarting from 0.
pub(super) fn interpolate(p1: (i64, f64), p2: (i64, f64), t: i64, counter: bool) -> f64 {
    let y1 = if counter && p2.1 < p1.1 { 0.0 } else { p1.1 };
    y1 + (p2.1 - y1) * (t - p1.0) as f64 / (p2.0 - p1.0) as f64
}

pub(super) fn pick_left(
    f: &[(i64, f64)],
    first: usize,
    start: i64,
    smoothed: bool,
    counter: bool,
) -> f64 {
    if smoothed && f[first].0 < start && first + 1 < f.len() {
        return interpolate(f[first], f[first + 1], start, counter);
    }
    f[first].1
}

pub(super) fn pick_right(
    f: &[(i64, f64)],
    last: usize,
    end: i64,
    smoothed: bool,
    counter: bool,
) -> f64 {
    if smoothed && last > 0 && f[last].0 > end {
        return interpolate(f[last - 1], f[last], end, counter);
    }
    f[last].1
}

/// Prometheus `extendFloats`: the window's points with synthetic boundary points at `mint`
/// and `maxt` (picked, or interpolated when smoothed).
fn extend_floats(f: &[(i64, f64)], mint: i64, maxt: i64, smoothed: bool) -> Vec<(i64, f64)> {
    if f.is_empty() {
        return Vec::new();
    }
    let mut last = f.len() - 1;
    let first = f[..last].partition_point(|p| p.0 <= mint).saturating_sub(1);
    if smoothed {
        last = f[..last].partition_point(|p| p.0 < maxt);
    }
    if f[last].0 <= mint {
        return Vec::new();
    }
    let left = pick_left(f, first, mint, smoothed, false);
    let right = pick_right(f, last, maxt, smoothed, false);
    let lo = if f[first].0 <= mint { first + 1 } else { first };
    let hi = if f[last].0 >= maxt {
        last as isize - 1
    } else {
        last as isize
    };
    let mut out = vec![(mint, left)];
    if hi >= lo as isize {
        out.extend_from_slice(&f[lo..=hi as usize]);
    }
    out.push((maxt, right));
    out
}

/// Applies delayed name removal and rejects duplicate label sets.
/// Applies delayed `__name__` removal to a result vector and checks its label sets are
/// distinct. `unnamed` memoizes the removal across the steps of a range query.
pub(super) fn finish_vector(
    v: Vec<EvSample>,
    unnamed: &mut HashMap<Labels, Labels>,
) -> Result<Vec<EvSample>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(v.len());
    for mut s in v {
        if s.drop_name {
            s.labels = match unnamed.get(&s.labels) {
                Some(l) => l.clone(),
                None => {
                    let l = without_name(&s.labels);
                    unnamed.insert(s.labels.clone(), l.clone());
                    l
                }
            };
            s.drop_name = false;
        }
        if !seen.insert(s.labels.clone()) {
            return Err("vector cannot contain metrics with the same labelset".into());
        }
        out.push(s);
    }
    Ok(out)
}

fn finish_matrix(m: Vec<EvSeries>) -> Result<Vec<EvSeries>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(m.len());
    for mut s in m {
        if s.drop_name {
            s.labels = without_name(&s.labels);
            s.drop_name = false;
        }
        if !seen.insert(s.labels.clone()) {
            return Err("vector cannot contain metrics with the same labelset".into());
        }
        out.push(s);
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}
