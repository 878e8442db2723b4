//! Parser for Prometheus' `promqltest` script format — the engine-conformance test files
//! (`promql/promqltest/testdata/*.test` upstream, vendored under
//! `shared/conformance/promqltest/`). This is the front half of a test runner; [`compare`]
//! holds the result-comparison rules and a [`compare::Engine`] trait for the back half.
//!
//! # Format
//!
//! Lines are trimmed; a line starting with `#` is a comment and, like an empty line, ends the
//! block it is in (this mirrors upstream exactly). Commands:
//!
//! * `load <interval>` / `load_with_nhcb <interval>` followed by series lines
//!   `<selector> <values>` (see [`series`] for the expanding value notation). A series line
//!   may be preceded by `<selector>@st <offsets>` giving start-timestamp offsets per point; a
//!   standalone `@st <offsets>` line sets default offsets (cycled) for the following lines.
//! * `clear` — drop all loaded data.
//! * `eval instant at <time> <expr>` and `eval range from <t> to <t> step <d> <expr>`; the
//!   deprecated forms `eval_fail`, `eval_warn`, `eval_info` and `eval_ordered` (instant only)
//!   set the corresponding expectation. Following lines, until an empty line:
//!   * `expect fail|warn|info [msg: <text>|regex: <re>]`, `expect ordered`, `expect no_warn`,
//!     `expect no_info`;
//!   * `expect range vector from <t> to <t> step <d>` (an instant query returning a matrix);
//!   * `expect string <quoted>` (a string result);
//!   * `expected_fail_message <text>` / `expected_fail_regexp <re>` (after `eval_fail`; they end
//!     the block);
//!   * a bare number: the expected scalar (ends the block);
//!   * `<selector> <values>`: an expected series (one value for instant queries).
//!
//! Times are Prometheus durations since the Unix epoch; all are kept in milliseconds.

pub mod compare;
pub mod duration;
pub mod histogram;
pub mod series;

use std::fmt;

use weft_core::labels::Labels;

pub use compare::{
    check_outcome, compare_result, run_file, CaseFailure, Engine, QueryOutcome, QueryValue,
};
pub use histogram::{BucketRun, CounterResetHint, HistogramLiteral};
pub use series::parse_labels;

/// A parsed test file.
#[derive(Clone, Debug, PartialEq)]
pub struct TestFile {
    pub name: String,
    pub commands: Vec<Command>,
}

impl TestFile {
    pub fn loads(&self) -> usize {
        self.commands
            .iter()
            .filter(|c| matches!(c, Command::Load(_)))
            .count()
    }
    pub fn clears(&self) -> usize {
        self.commands
            .iter()
            .filter(|c| matches!(c, Command::Clear))
            .count()
    }
    pub fn evals(&self) -> impl Iterator<Item = &EvalCase> {
        self.commands.iter().filter_map(|c| match c {
            Command::Eval(e) => Some(e),
            _ => None,
        })
    }
}

/// One command of a test file, executed in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Load(Load),
    Clear,
    Eval(EvalCase),
}

/// A `load` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    /// 1-based line of the `load` command.
    pub line: usize,
    /// Step between consecutive points.
    pub interval_ms: i64,
    /// `load_with_nhcb`: also convert classic histogram series (`_bucket`/`_count`/`_sum`) of
    /// this block into native histograms with custom buckets, loading both.
    pub with_nhcb: bool,
    /// In file order; a series repeated within one block keeps only its last line (upstream
    /// semantics; the corpus relies on it).
    pub series: Vec<LoadSeries>,
}

/// One series of a `load` block.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSeries {
    pub line: usize,
    /// The raw selector text, e.g. `http_requests{job="api"}`.
    pub metric: String,
    pub labels: Labels,
    /// Point `i` is at `i * interval_ms`; `None` is a missing point.
    pub points: Vec<Option<PointValue>>,
    /// Start-timestamp offsets from `@st` lines, aligned with `points` (the start timestamp of
    /// point `i` is its timestamp plus the offset); `None` when no `@st` applies.
    pub start_offsets_ms: Option<Vec<Option<i64>>>,
}

/// One point value of a series description.
#[derive(Clone, Debug, PartialEq)]
pub enum PointValue {
    Float(f64),
    /// A staleness marker (`stale`).
    Stale,
    Histogram(HistogramLiteral),
}

/// Query kind and time(s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalKind {
    Instant {
        at_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// How an expected error or annotation message is matched.
#[derive(Clone, Debug, PartialEq)]
pub enum MessageMatch {
    /// `expect <type>` without `msg:`/`regex:` — anything matches.
    Any,
    /// `msg:` — the whole message, exactly (surrounding whitespace of the expectation trimmed).
    Exact(String),
    /// `regex:` — an (unanchored) regular expression search.
    Regex(String),
}

/// Expectations about one annotation level (warnings or infos).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnnotationExpectation {
    /// Deprecated `eval_warn`/`eval_info`: at least one annotation of this level.
    pub required: bool,
    /// `expect warn|info …` lines: each must match some annotation, and (when any are given)
    /// every annotation of this level must match one of them.
    pub matchers: Vec<MessageMatch>,
    /// `expect no_warn|no_info`: no annotation of this level.
    pub forbidden: bool,
}

/// The expected result of a successful query.
#[derive(Clone, Debug, PartialEq)]
pub enum ExpectedResult {
    /// Vector or matrix (possibly empty): the listed series, nothing else.
    Series(Vec<ExpectedSeries>),
    Scalar(f64),
    /// `expect string "…"`.
    String(String),
}

/// One expected series.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedSeries {
    pub line: usize,
    /// Raw selector text, e.g. `{job="a"}` or `x{job="a"}`.
    pub metric: String,
    pub labels: Labels,
    /// Instant queries: one value. Range queries (and `expect range vector`): value `i` is at
    /// `start + i*step`; `None` = no point.
    pub points: Vec<Option<PointValue>>,
}

/// One `eval` command.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalCase {
    /// 1-based line of the `eval` command.
    pub line: usize,
    pub expr: String,
    pub kind: EvalKind,
    /// `Some` when the query must fail; every matcher must match the error message.
    pub fail: Option<Vec<MessageMatch>>,
    pub warn: AnnotationExpectation,
    pub info: AnnotationExpectation,
    /// Results must come in the listed order (`expect ordered` / `eval_ordered`).
    pub ordered: bool,
    /// `expect range vector from … to … step …`: an instant query (evaluated at `end`) whose
    /// result is a range vector; the expected points are laid out over this range.
    pub range_vector: Option<(i64, i64, i64)>,
    pub result: ExpectedResult,
}

/// A parse failure, naming file and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole test file. `name` is used in errors only.
pub fn parse_file(name: &str, text: &str) -> Result<TestFile, ParseError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect();
    let mut p = Parser { lines, i: 0 };
    let mut commands = Vec::new();
    while p.i < p.lines.len() {
        let line = p.lines[p.i];
        if line.is_empty() {
            p.i += 1;
            continue;
        }
        let word = line
            .split([' ', '\t'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let res = if word == "clear" {
            p.i += 1;
            Ok(Command::Clear)
        } else if word.starts_with("load") {
            p.load().map(Command::Load)
        } else if word.starts_with("eval") {
            p.eval().map(Command::Eval)
        } else {
            Err((p.i, format!("invalid command {line:?}")))
        };
        match res {
            Ok(c) => commands.push(c),
            Err((idx, message)) => {
                return Err(ParseError {
                    file: name.to_string(),
                    line: idx + 1,
                    message,
                })
            }
        }
    }
    Ok(TestFile {
        name: name.to_string(),
        commands,
    })
}

type PResult<T> = Result<T, (usize, String)>;

struct Parser<'a> {
    lines: Vec<&'a str>,
    /// Index of the next line to read.
    i: usize,
}

impl<'a> Parser<'a> {
    /// Lines of the block after the command line, up to the next empty line.
    fn next_block_line(&mut self) -> Option<(usize, &'a str)> {
        let l = *self.lines.get(self.i)?;
        if l.is_empty() {
            return None;
        }
        self.i += 1;
        Some((self.i - 1, l))
    }

    fn load(&mut self) -> PResult<Load> {
        let idx = self.i;
        let line = self.lines[idx];
        self.i += 1;
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let with_nhcb = match cmd {
            "load" => false,
            "load_with_nhcb" => true,
            _ => {
                return Err((
                    idx,
                    "invalid load command. (load[_with_nhcb] <step:duration>)".into(),
                ))
            }
        };
        let step = words.collect::<Vec<_>>().join(" ");
        let interval_ms = duration::parse_duration_ms(&step)
            .map_err(|e| (idx, format!("invalid step definition {step:?}: {e}")))?;
        let mut load = Load {
            line: idx + 1,
            interval_ms,
            with_nhcb,
            series: Vec::new(),
        };
        let mut default_st: Option<Vec<Option<i64>>> = None;
        let mut pending_st: Option<(usize, Labels, Vec<Option<i64>>)> = None;
        while let Some((li, l)) = self.next_block_line() {
            let first = l.split([' ', '\t']).next().unwrap_or("");
            if let Some(metric) = first.strip_suffix("@st") {
                if l.len() == first.len() {
                    return Err((li, "invalid @st line: missing value sequence".into()));
                }
                if let Some((pl, ..)) = pending_st {
                    return Err((pl, "@st line has no following sample line".into()));
                }
                let offsets = duration::parse_st_sequence(&l[first.len()..])
                    .map_err(|e| (li, format!("invalid @st sequence: {e}")))?;
                if metric.is_empty() {
                    default_st = Some(offsets);
                } else {
                    let labels = series::parse_labels(metric)
                        .map_err(|e| (li, format!("invalid @st line metric {metric:?}: {e}")))?;
                    pending_st = Some((li, labels, offsets));
                }
                continue;
            }
            let (metric, values) = series::split_metric(l).map_err(|e| (li, e))?;
            let labels = series::parse_labels(metric).map_err(|e| (li, e))?;
            let points = series::parse_values(values).map_err(|e| (li, e))?;
            let start_offsets_ms = match pending_st.take() {
                Some((pl, st_labels, offsets)) => {
                    if st_labels != labels {
                        return Err((
                            pl,
                            "@st metric does not match the following sample line metric".into(),
                        ));
                    }
                    if offsets.len() != points.len() {
                        return Err((
                            pl,
                            format!(
                                "@st line has {} values but sample line has {}",
                                offsets.len(),
                                points.len()
                            ),
                        ));
                    }
                    Some(offsets)
                }
                None => default_st
                    .as_ref()
                    .filter(|d| !d.is_empty())
                    .map(|d| (0..points.len()).map(|k| d[k % d.len()]).collect()),
            };
            // As upstream (a map keyed by label set): a repeated series replaces the earlier one.
            load.series.retain(|s| s.labels != labels);
            load.series.push(LoadSeries {
                line: li + 1,
                metric: metric.to_string(),
                labels,
                points,
                start_offsets_ms,
            });
        }
        if let Some((pl, ..)) = pending_st {
            return Err((pl, "@st line has no following sample line".into()));
        }
        Ok(load)
    }

    fn eval(&mut self) -> PResult<EvalCase> {
        let idx = self.i;
        let line = self.lines[idx];
        self.i += 1;
        let header = parse_eval_header(line).map_err(|e| (idx, e))?;
        let EvalHeader {
            modifier,
            kind,
            expr,
        } = header;
        let err_at =
            |li: usize, e: String| (li, format!("error in eval {expr} (line {}): {e}", idx + 1));
        let mut case = EvalCase {
            line: idx + 1,
            expr: expr.to_string(),
            kind,
            fail: None,
            warn: AnnotationExpectation::default(),
            info: AnnotationExpectation::default(),
            ordered: false,
            range_vector: None,
            result: ExpectedResult::Series(Vec::new()),
        };
        let legacy_fail = modifier == Some("fail");
        match modifier {
            Some("fail") => case.fail = Some(Vec::new()),
            Some("warn") => case.warn.required = true,
            Some("info") => case.info.required = true,
            Some("ordered") => case.ordered = true,
            _ => {}
        }
        let mut series: Vec<ExpectedSeries> = Vec::new();
        let mut scalar: Option<f64> = None;
        let mut string: Option<String> = None;
        while let Some((li, l)) = self.next_block_line() {
            if legacy_fail {
                if let Some(m) = l.strip_prefix("expected_fail_message") {
                    push_fail(&mut case, MessageMatch::Exact(m.trim().to_string()));
                    break;
                }
                if let Some(m) = l.strip_prefix("expected_fail_regexp") {
                    let re = m.trim();
                    regex::Regex::new(re).map_err(|e| {
                        err_at(
                            li,
                            format!("invalid regexp '{re}' for expected_fail_regexp: {e}"),
                        )
                    })?;
                    push_fail(&mut case, MessageMatch::Regex(re.to_string()));
                    break;
                }
            }
            if l.starts_with("expect range vector") {
                case.range_vector = Some(parse_range_vector(l).map_err(|e| err_at(li, e))?);
                continue;
            }
            if let Some(s) = l.strip_prefix("expect string") {
                let s = s.strip_prefix(' ').filter(|s| !s.is_empty()).ok_or_else(|| {
                    err_at(li, "expected string literal not valid - a quoted string literal is required".into())
                })?;
                string = Some(series::unquote(s).map_err(|_| {
                    err_at(li, "expected string literal not valid - check that the string is correctly quoted".into())
                })?);
                continue;
            }
            if l.split(' ').next() == Some("expect") {
                parse_expect(&mut case, l).map_err(|e| err_at(li, e))?;
                continue;
            }
            if let Some(v) = parse_number(l) {
                scalar = Some(v);
                break;
            }
            let (metric, values) = series::split_metric(l).map_err(|e| (li, e))?;
            let labels = series::parse_labels(metric).map_err(|e| (li, e))?;
            let points = series::parse_values(values).map_err(|e| (li, e))?;
            if points.len() > 1
                && matches!(case.kind, EvalKind::Instant { .. })
                && case.range_vector.is_none()
            {
                return Err(err_at(
                    li,
                    "expecting multiple values in instant evaluation not allowed. consider using 'expect range vector' directive to enable a range vector result for an instant query".into(),
                ));
            }
            series.push(ExpectedSeries {
                line: li + 1,
                metric: metric.to_string(),
                labels,
                points,
            });
        }
        let kinds = usize::from(!series.is_empty())
            + usize::from(scalar.is_some())
            + usize::from(string.is_some());
        if kinds > 1 {
            return Err((
                idx,
                "eval mixes expected series, scalar and string results".into(),
            ));
        }
        case.result = match (scalar, string) {
            (Some(v), _) => ExpectedResult::Scalar(v),
            (_, Some(s)) => ExpectedResult::String(s),
            _ => ExpectedResult::Series(series),
        };
        Ok(case)
    }
}

fn push_fail(case: &mut EvalCase, m: MessageMatch) {
    case.fail.get_or_insert_with(Vec::new).push(m);
}

struct EvalHeader<'a> {
    modifier: Option<&'a str>,
    kind: EvalKind,
    expr: &'a str,
}

/// Splits `s` into its first whitespace-separated word and the rest (leading space trimmed).
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (&s[..end], s[end..].trim_start())
}

fn parse_eval_header(line: &str) -> Result<EvalHeader<'_>, String> {
    const USAGE: &str = "invalid evaluation command. Must be either 'eval[_fail|_warn|_ordered] instant [at <offset:duration>] <query>' or 'eval[_fail|_warn] range from <from> to <to> step <step> <query>'";
    let (cmd, rest) = word(line);
    let modifier = match cmd {
        "eval" => None,
        "eval_fail" => Some("fail"),
        "eval_warn" => Some("warn"),
        "eval_info" => Some("info"),
        "eval_ordered" => Some("ordered"),
        _ => return Err(USAGE.into()),
    };
    let (kind_word, rest) = word(rest);
    let expr_of = |e: &str| -> Result<(), String> {
        if e.is_empty() {
            Err(USAGE.into())
        } else {
            Ok(())
        }
    };
    let dur = |what: &str, s: &str| {
        duration::parse_duration_ms(s).map_err(|e| format!("invalid {what} definition {s:?}: {e}"))
    };
    match kind_word {
        "instant" => {
            let (at, rest) = word(rest);
            if at != "at" {
                return Err(USAGE.into());
            }
            let (t, expr) = word(rest);
            expr_of(expr)?;
            Ok(EvalHeader {
                modifier,
                kind: EvalKind::Instant {
                    at_ms: dur("timestamp", t)?,
                },
                expr,
            })
        }
        "range" if modifier != Some("ordered") => {
            let (from_kw, rest) = word(rest);
            let (from, rest) = word(rest);
            let (to_kw, rest) = word(rest);
            let (to, rest) = word(rest);
            let (step_kw, rest) = word(rest);
            let (step, expr) = word(rest);
            if from_kw != "from" || to_kw != "to" || step_kw != "step" {
                return Err(USAGE.into());
            }
            expr_of(expr)?;
            let (start_ms, end_ms, step_ms) = parse_range(from, to, step)?;
            Ok(EvalHeader {
                modifier,
                kind: EvalKind::Range {
                    start_ms,
                    end_ms,
                    step_ms,
                },
                expr,
            })
        }
        _ => Err(USAGE.into()),
    }
}

fn parse_range(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let start = duration::parse_duration_ms(from)
        .map_err(|e| format!("invalid start timestamp definition {from:?}: {e}"))?;
    let end = duration::parse_duration_ms(to)
        .map_err(|e| format!("invalid end timestamp definition {to:?}: {e}"))?;
    if end < start {
        return Err(format!(
            "invalid test definition, end timestamp ({to}) is before start timestamp ({from})"
        ));
    }
    let step = duration::parse_duration_ms(step)
        .map_err(|e| format!("invalid step definition {step:?}: {e}"))?;
    Ok((start, end, step))
}

/// `expect range vector from <t> to <t> step <d>`
fn parse_range_vector(line: &str) -> Result<(i64, i64, i64), String> {
    let w: Vec<&str> = line.split_whitespace().collect();
    match w.as_slice() {
        ["expect", "range", "vector", "from", from, "to", to, "step", step] => {
            parse_range(from, to, step)
        }
        _ => Err(format!("invalid range vector definition {line:?}")),
    }
}

/// `expect <type> [msg:|regex: <text>]`
fn parse_expect(case: &mut EvalCase, line: &str) -> Result<(), String> {
    const USAGE: &str =
        "invalid expect statement, must match `expect <type> <match_type>: <string>` format";
    let (_, rest) = word(line.trim());
    let (ty, rest) = word(rest);
    let matcher = if rest.is_empty() {
        MessageMatch::Any
    } else {
        // The regex is `(?:\s+(regex|msg):(.+))?$`: the match type follows right after spaces.
        let (kind, text) = rest.split_once(':').ok_or(USAGE)?;
        let text = text.trim();
        if text.is_empty() {
            return Err(USAGE.into());
        }
        match kind {
            "msg" => MessageMatch::Exact(text.to_string()),
            "regex" => {
                regex::Regex::new(text).map_err(|_| format!("invalid regex {text} for {ty}"))?;
                MessageMatch::Regex(text.to_string())
            }
            _ => return Err(USAGE.into()),
        }
    };
    match ty {
        "fail" => push_fail(case, matcher),
        "warn" => case.warn.matchers.push(matcher),
        "info" => case.info.matchers.push(matcher),
        // Upstream's pattern allows a message here and then ignores it; so do we.
        "ordered" => case.ordered = true,
        "no_warn" => case.warn.forbidden = true,
        "no_info" => case.info.forbidden = true,
        _ => return Err(USAGE.into()),
    }
    if !case.info.matchers.is_empty() && case.info.forbidden {
        return Err("invalid expect lines, info and no_info cannot be used together".into());
    }
    if !case.warn.matchers.is_empty() && case.warn.forbidden {
        return Err("invalid expect lines, warn and no_warn cannot be used together".into());
    }
    if case.fail.as_ref().is_some_and(|f| f.len() > 1) {
        return Err("invalid expect lines, multiple expect fail lines are not allowed".into());
    }
    Ok(())
}

/// A bare number line of an eval block (Go's `strconv.ParseInt(s, 0, 64)` then `ParseFloat`):
/// decimal, `0x`/`0o`/`0b`/leading-`0` octal integers, floats, `Inf`/`NaN`/`Infinity`.
pub fn parse_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let sign = if neg { -1.0 } else { 1.0 };
    let radix = |p: &str, r: u32| {
        body.get(..2)
            .filter(|h| h.eq_ignore_ascii_case(p))
            .and_then(|_| i64::from_str_radix(&body[2..].replace('_', ""), r).ok())
    };
    if let Some(v) = radix("0x", 16)
        .or_else(|| radix("0o", 8))
        .or_else(|| radix("0b", 2))
    {
        return Some(sign * v as f64);
    }
    if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        return i64::from_str_radix(&body[1..], 8)
            .ok()
            .map(|v| sign * v as f64);
    }
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ if body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
            && body.bytes().any(|b| b.is_ascii_digit()) =>
        {
            body.parse::<f64>().ok()?
        }
        _ => return None,
    };
    Some(sign * v)
}

#[cfg(test)]
mod tests;
