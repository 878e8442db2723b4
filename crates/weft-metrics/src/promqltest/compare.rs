//! The back half of a `promqltest` runner: the [`Engine`] a runner drives, query results, and
//! the comparison rules of upstream's `test.go` (`compareResult`, `checkAnnotations`,
//! `checkExpectedFailure`).
//!
//! Rules implemented:
//! * floats (values, histogram count/sum/zero count/buckets) compare with [`almost_equal`] at
//!   relative tolerance [`DEFAULT_EPSILON`] (1e-6); two NaNs are equal;
//! * series are matched by exact label set; a vector's order matters only when the case is
//!   `ordered`; a matrix must be sorted by labels and may not be `ordered`;
//! * range points are laid out at `start + i*step`; missing (`_`) expected points must be
//!   absent;
//! * histograms compare as upstream's `compareNativeHistogram` after compaction: schema, zero
//!   threshold and custom bounds exactly; empty buckets ignored; the counter reset hint only
//!   when the expected literal wrote one.
//!
//! Not done here: upstream additionally re-runs each instant query with `@` modifiers and in
//! range mode; that needs a PromQL rewriter and is left to the runner.

use weft_core::labels::Labels;

use super::{
    AnnotationExpectation, EvalCase, EvalKind, ExpectedResult, ExpectedSeries, HistogramLiteral,
    Load, MessageMatch, PointValue,
};

/// Relative error allowed for sample values (upstream `defaultEpsilon`).
pub const DEFAULT_EPSILON: f64 = 0.000001;

/// The staleness marker's bit pattern (Prometheus `value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A PromQL engine under test, as a `promqltest` runner drives it.
pub trait Engine {
    /// Appends a `load` block's samples (additive across loads).
    fn load(&mut self, load: &Load) -> Result<(), String>;
    /// Drops all data.
    fn clear(&mut self);
    /// Evaluates `expr` at `at_ms`.
    fn instant(&mut self, expr: &str, at_ms: i64) -> Result<QueryOutcome, String>;
    /// Evaluates `expr` over `[start_ms, end_ms]` every `step_ms`.
    fn range(
        &mut self,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryOutcome, String>;
}

/// A successful query: its value and annotations.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryOutcome {
    pub value: QueryValue,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// A PromQL result value.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryValue {
    Scalar(f64),
    String(String),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: SampleValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SampleValue {
    Float(f64),
    Histogram(HistogramLiteral),
}

/// One series of a matrix: float and histogram points, each ascending by time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub floats: Vec<(i64, f64)>,
    pub histograms: Vec<(i64, HistogramLiteral)>,
}

/// Upstream `almost.Equal`: true if both are NaN, equal, or within relative error `epsilon`
/// (absolute `epsilon * MIN_POSITIVE` near zero).
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let min_normal = f64::MIN_POSITIVE;
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < epsilon * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

fn message_matches(m: &MessageMatch, msg: &str) -> bool {
    match m {
        MessageMatch::Any => true,
        MessageMatch::Exact(s) => s == msg,
        // Patterns were validated at parse time.
        MessageMatch::Regex(re) => regex::Regex::new(re).is_ok_and(|r| r.is_match(msg)),
    }
}

/// Checks a query's outcome (error or value with annotations) against the case.
pub fn check_outcome(
    case: &EvalCase,
    outcome: &Result<QueryOutcome, String>,
) -> Result<(), String> {
    let loc = format!("{:?} (line {})", case.expr, case.line);
    match (outcome, &case.fail) {
        (Err(e), Some(matchers)) => match matchers.iter().find(|m| !message_matches(m, e)) {
            Some(m) => Err(format!(
                "expected error matching {m:?} evaluating query {loc}, but got: {e}"
            )),
            None => Ok(()),
        },
        (Err(e), None) => Err(format!("error evaluating query {loc}: {e}")),
        (Ok(_), Some(_)) => Err(format!(
            "expected error evaluating query {loc} but got none"
        )),
        (Ok(o), None) => {
            check_annotations(&case.warn, &o.warnings, "warn")
                .map_err(|e| format!("{e} for query {loc}"))?;
            check_annotations(&case.info, &o.infos, "info")
                .map_err(|e| format!("{e} for query {loc}"))?;
            compare_result(case, &o.value).map_err(|e| format!("error in eval {loc}: {e}"))
        }
    }
}

fn check_annotations(
    exp: &AnnotationExpectation,
    actual: &[String],
    level: &str,
) -> Result<(), String> {
    if exp.required && actual.is_empty() {
        return Err(format!("expected {level} annotations but got none"));
    }
    if !exp.matchers.is_empty() {
        if actual.is_empty() {
            return Err(format!("expected {level} annotations but none were found"));
        }
        if let Some(m) = exp
            .matchers
            .iter()
            .find(|m| !actual.iter().any(|a| message_matches(m, a)))
        {
            return Err(format!(
                "expected {level} annotation matching {m:?} but no matching annotation was found, found: {actual:?}"
            ));
        }
        if let Some(a) = actual
            .iter()
            .find(|a| !exp.matchers.iter().any(|m| message_matches(m, a)))
        {
            return Err(format!("unexpected {level} annotation {a:?}"));
        }
    }
    if exp.forbidden && !actual.is_empty() {
        return Err(format!("unexpected {level} annotations: {actual:?}"));
    }
    Ok(())
}

/// Compares a query value with the case's expected result (upstream `compareResult`).
pub fn compare_result(case: &EvalCase, value: &QueryValue) -> Result<(), String> {
    let expected_series = match &case.result {
        ExpectedResult::Series(s) => Some(s.as_slice()),
        _ => None,
    };
    match value {
        QueryValue::Matrix(series) => {
            if case.ordered {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            let exp = expected_series
                .ok_or_else(|| "expected scalar or string result, but got matrix".to_string())?;
            if let Some(w) = series.windows(2).find(|w| w[0].labels > w[1].labels) {
                return Err(format!(
                    "matrix results should always be sorted by labels, but {} sorts before {}",
                    w[1].labels, w[0].labels
                ));
            }
            let (start, end, step) = match (case.kind, case.range_vector) {
                (_, Some(rv)) => rv,
                (
                    EvalKind::Range {
                        start_ms,
                        end_ms,
                        step_ms,
                    },
                    None,
                ) => (start_ms, end_ms, step_ms),
                (EvalKind::Instant { at_ms }, None) => (at_ms, at_ms, 0),
            };
            for s in series {
                let e = find_expected(exp, &s.labels)
                    .ok_or_else(|| format!("unexpected metric {} in result", s.labels))?;
                compare_series(e, s, start, end, step)?;
            }
            for e in exp {
                if !series.iter().any(|s| s.labels == e.labels) {
                    return Err(format!("expected metric {} not found", e.labels));
                }
            }
            Ok(())
        }
        QueryValue::Vector(samples) => {
            let exp = expected_series
                .ok_or_else(|| "expected scalar or string result, but got vector".to_string())?;
            for (pos, s) in samples.iter().enumerate() {
                let idx = exp
                    .iter()
                    .rposition(|e| e.labels == s.labels)
                    .ok_or_else(|| {
                        format!(
                            "unexpected metric {} in result, has value {:?}",
                            s.labels, s.value
                        )
                    })?;
                if case.ordered && idx != pos {
                    return Err(format!(
                        "expected metric {} at position {} but was at {}",
                        s.labels,
                        idx + 1,
                        pos + 1
                    ));
                }
                let want = exp[idx].points.first().cloned().flatten();
                match (&want, &s.value) {
                    (Some(PointValue::Histogram(w)), SampleValue::Histogram(g)) => {
                        if !histograms_match(w, g) {
                            return Err(format!("expected {w:?} for {} but got {g:?}", s.labels));
                        }
                    }
                    (Some(PointValue::Histogram(w)), SampleValue::Float(f)) => {
                        return Err(format!(
                            "expected histogram {w:?} for {} but got float value {f}",
                            s.labels
                        ));
                    }
                    (_, SampleValue::Histogram(g)) => {
                        return Err(format!(
                            "expected float value {want:?} for {} but got histogram {g:?}",
                            s.labels
                        ));
                    }
                    (_, SampleValue::Float(f)) => {
                        let w = float_of(&want);
                        if !almost_equal(w, *f, DEFAULT_EPSILON) {
                            return Err(format!("expected {w} for {} but got {f}", s.labels));
                        }
                    }
                }
            }
            for e in exp {
                if !samples.iter().any(|s| s.labels == e.labels) {
                    return Err(format!(
                        "expected metric {} with {:?} not found",
                        e.labels, e.points
                    ));
                }
            }
            Ok(())
        }
        QueryValue::Scalar(v) => match &case.result {
            ExpectedResult::Scalar(w) => {
                if almost_equal(*w, *v, DEFAULT_EPSILON) {
                    Ok(())
                } else {
                    Err(format!("expected scalar {w} but got {v}"))
                }
            }
            _ => Err(format!(
                "expected vector, matrix or string result, but got scalar {v}"
            )),
        },
        QueryValue::String(v) => {
            // Upstream compares with the expected string, which defaults to "".
            let w = match &case.result {
                ExpectedResult::String(w) => w.as_str(),
                _ => "",
            };
            if w == v {
                Ok(())
            } else {
                Err(format!("expected string {w:?} but got {v:?}"))
            }
        }
    }
}

fn find_expected<'a>(exp: &'a [ExpectedSeries], labels: &Labels) -> Option<&'a ExpectedSeries> {
    exp.iter().rev().find(|e| &e.labels == labels)
}

fn float_of(p: &Option<PointValue>) -> f64 {
    match p {
        Some(PointValue::Float(f)) => *f,
        Some(PointValue::Stale) => f64::from_bits(STALE_NAN_BITS),
        _ => 0.0,
    }
}

fn compare_series(
    e: &ExpectedSeries,
    s: &Series,
    start: i64,
    end: i64,
    step: i64,
) -> Result<(), String> {
    let mut floats = Vec::new();
    let mut hists = Vec::new();
    for (i, p) in e.points.iter().enumerate() {
        let t = start + i as i64 * step;
        if t > end {
            return Err(format!(
                "expected {} points for {}, but query time range cannot return this many points",
                e.points.len(),
                e.labels
            ));
        }
        match p {
            Some(PointValue::Histogram(h)) => hists.push((t, h)),
            Some(_) => floats.push((t, float_of(p))),
            None => {}
        }
    }
    if floats.len() != s.floats.len() || hists.len() != s.histograms.len() {
        return Err(format!(
            "expected {} float points and {} histogram points for {}, but got {:?} and {:?}",
            floats.len(),
            hists.len(),
            e.labels,
            s.floats,
            s.histograms
        ));
    }
    for (i, ((wt, wv), (gt, gv))) in floats.iter().zip(&s.floats).enumerate() {
        if wt != gt {
            return Err(format!(
                "expected float value at index {i} for {} to have timestamp {wt}, but it had timestamp {gt}",
                e.labels
            ));
        }
        if !almost_equal(*wv, *gv, DEFAULT_EPSILON) {
            return Err(format!(
                "expected float value at index {i} (t={gt}) for {} to be {wv}, but got {gv}",
                e.labels
            ));
        }
    }
    for (i, ((wt, wh), (gt, gh))) in hists.iter().zip(&s.histograms).enumerate() {
        if wt != gt {
            return Err(format!(
                "expected histogram value at index {i} for {} to have timestamp {wt}, but it had timestamp {gt}",
                e.labels
            ));
        }
        if !histograms_match(wh, gh) {
            return Err(format!(
                "expected histogram value at index {i} (t={gt}) for {} to be {wh:?}, but got {gh:?}",
                e.labels
            ));
        }
    }
    Ok(())
}

/// Upstream `compareNativeHistogram(exp.Compact(0), got.Compact(0), hintSet)`.
pub fn histograms_match(exp: &HistogramLiteral, got: &HistogramLiteral) -> bool {
    let eq = |a: f64, b: f64| almost_equal(a, b, DEFAULT_EPSILON);
    let buckets_eq = |a: Vec<(i32, f64)>, b: Vec<(i32, f64)>| {
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|((ia, va), (ib, vb))| ia == ib && eq(*va, *vb))
    };
    exp.schema == got.schema
        && eq(exp.count, got.count)
        && eq(exp.sum, got.sum)
        && (!exp.uses_custom_buckets() || exp.custom_values == got.custom_values)
        && exp.zero_threshold == got.zero_threshold
        && eq(exp.zero_count, got.zero_count)
        && buckets_eq(exp.negative.non_zero(), got.negative.non_zero())
        && buckets_eq(exp.positive.non_zero(), got.positive.non_zero())
        && (!exp.counter_reset_hint_set || exp.counter_reset_hint == got.counter_reset_hint)
}

/// One failed `eval` of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseFailure {
    /// 1-based line of the `eval`.
    pub line: usize,
    pub expr: String,
    pub message: String,
}

/// Runs a parsed file against `engine`: `load`/`clear` in order, each `eval` checked with
/// [`check_outcome`] (instant cases with `expect range vector` are evaluated at the range's
/// end, as upstream does). Returns the failed cases; a failing `load` aborts the run and is
/// reported at its line.
///
/// Upstream's extra instant-query variants (`@`-pinned re-runs, range-mode cross-check) are
/// not performed.
pub fn run_file<E: Engine + ?Sized>(engine: &mut E, file: &super::TestFile) -> Vec<CaseFailure> {
    let mut failures = Vec::new();
    engine.clear();
    for cmd in &file.commands {
        match cmd {
            super::Command::Clear => engine.clear(),
            super::Command::Load(load) => {
                if let Err(message) = engine.load(load) {
                    failures.push(CaseFailure {
                        line: load.line,
                        expr: String::new(),
                        message: format!("load failed: {message}"),
                    });
                    return failures;
                }
            }
            super::Command::Eval(case) => {
                let outcome = match (case.kind, case.range_vector) {
                    (EvalKind::Instant { .. }, Some((_, end, _))) => {
                        engine.instant(&case.expr, end)
                    }
                    (EvalKind::Instant { at_ms }, None) => engine.instant(&case.expr, at_ms),
                    (
                        EvalKind::Range {
                            start_ms,
                            end_ms,
                            step_ms,
                        },
                        _,
                    ) => engine.range(&case.expr, start_ms, end_ms, step_ms),
                };
                if let Err(message) = check_outcome(case, &outcome) {
                    failures.push(CaseFailure {
                        line: case.line,
                        expr: case.expr.clone(),
                        message,
                    });
                }
            }
        }
    }
    failures
}
