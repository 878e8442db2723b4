//! The byte-level parser behind [`super::parse`]. One cursor walks the whole body once; no
//! step looks backwards except to compute an error's position.

use std::collections::HashMap;

use weft_core::labels::{LabelError, Labels, METRIC_NAME};

use super::number::{format_openmetrics_float, parse_float};
use super::{Exemplar, MetricFamily, MetricType, ParseError, Sample, Scrape};

type Result<T> = std::result::Result<T, ParseError>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Meta {
    Help,
    Type,
    Unit,
}

impl Meta {
    fn word(self) -> &'static str {
        match self {
            Meta::Help => "HELP",
            Meta::Type => "TYPE",
            Meta::Unit => "UNIT",
        }
    }
}

/// Per-sample bookkeeping for `_created` resolution (OpenMetrics only).
struct SampleInfo {
    family: Option<usize>,
    is_created: bool,
}

pub(super) struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
    om: bool,
    families: Vec<MetricFamily>,
    family_index: HashMap<String, usize>,
    /// The family of the most recent metadata line.
    current: Option<usize>,
    samples: Vec<Sample>,
    info: Vec<SampleInfo>,
}

fn is_metric_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_metric_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn is_label_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_label_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Undoes escaping: `\\` and `\n` always, `\"` when `quote` is set; any other backslash
/// sequence is kept as written (Prometheus does the same).
fn unescape(s: &str, quote: bool) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Whether a sample named `name` belongs to `family`, by the suffixes its type allows.
fn belongs_to(name: &str, family: &MetricFamily) -> bool {
    let Some(suffix) = name.strip_prefix(family.name.as_str()) else {
        return false;
    };
    if suffix.is_empty() {
        return true;
    }
    let allowed: &[&str] = match family.kind {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
        MetricType::Summary => &["_sum", "_count", "_created"],
        MetricType::Info => &["_info"],
        _ => &[],
    };
    allowed.contains(&suffix)
}

fn has_created(kind: MetricType) -> bool {
    matches!(
        kind,
        MetricType::Counter | MetricType::Histogram | MetricType::Summary
    )
}

/// OpenMetrics float seconds to integer milliseconds, truncating like Prometheus.
fn seconds_to_ms(s: f64) -> i64 {
    (s * 1000.0) as i64
}

impl<'a> Parser<'a> {
    pub(super) fn new(b: &'a [u8], om: bool) -> Self {
        Self {
            b,
            pos: 0,
            om,
            families: Vec::new(),
            family_index: HashMap::new(),
            current: None,
            samples: Vec::new(),
            info: Vec::new(),
        }
    }

    pub(super) fn run(mut self) -> Result<Scrape> {
        if self.om {
            loop {
                match self.peek() {
                    None => return Err(self.err_at(
                        self.pos,
                        "expected \"# EOF\", found end of input (OpenMetrics must end with # EOF)",
                    )),
                    Some(b'#') => {
                        if self.om_hash_line()? {
                            break;
                        }
                    }
                    Some(_) => self.sample_line()?,
                }
            }
            self.resolve_created();
        } else {
            loop {
                self.skip_blanks();
                match self.peek() {
                    None => break,
                    Some(b'\n') => self.pos += 1,
                    Some(b'#') => self.prom_hash_line()?,
                    Some(_) => self.sample_line()?,
                }
            }
        }
        Ok(Scrape {
            families: self.families,
            samples: self.samples,
        })
    }

    // ---- cursor helpers -------------------------------------------------------------

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn peek_at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.b.get(self.pos..).is_some_and(|r| r.starts_with(s))
    }

    /// Skips spaces and tabs (Prometheus text only; OpenMetrics has no free whitespace).
    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Index of the next `\n` at or after `from`, or the end of input.
    fn line_end(&self, from: usize) -> usize {
        self.b
            .get(from..)
            .and_then(|r| r.iter().position(|&c| c == b'\n'))
            .map_or(self.b.len(), |i| from + i)
    }

    /// Advances over a token that ends at one of `stops` (or the end of input).
    fn token(&mut self, stops: &[u8]) -> (usize, usize) {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if stops.contains(&c) {
                break;
            }
            self.pos += 1;
        }
        (start, self.pos)
    }

    // ---- errors ---------------------------------------------------------------------

    fn err_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        let pos = pos.min(self.b.len());
        let before = &self.b[..pos];
        let line_start = before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&c| c == b'\n').count();
        let column = 1 + String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count();
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }

    /// Describes what is at `pos`, for "expected X, found Y" messages.
    fn describe(&self, pos: usize) -> String {
        match self.peek_at(pos) {
            None => "end of input".to_owned(),
            Some(b'\n') => "end of line".to_owned(),
            Some(b'\r') => "a carriage return (lines must end with \\n alone)".to_owned(),
            Some(b' ') => "a space".to_owned(),
            Some(b'\t') => "a tab".to_owned(),
            Some(_) => {
                let rest = &self.b[pos..];
                let mut end = rest
                    .iter()
                    .position(|&c| matches!(c, b' ' | b'\t' | b'\n'))
                    .unwrap_or(rest.len());
                let mut suffix = "";
                if end > 24 {
                    end = 24;
                    suffix = "...";
                }
                format!("{:?}{suffix}", String::from_utf8_lossy(&rest[..end]))
            }
        }
    }

    fn expected(&self, pos: usize, what: &str) -> ParseError {
        self.err_at(
            pos,
            format!("expected {what}, found {}", self.describe(pos)),
        )
    }

    // ---- names and strings ----------------------------------------------------------

    /// A double-quoted string starting at the cursor, unescaped with label-value rules.
    /// Raw newlines are allowed in the Prometheus text format (its lexer allows them) but not
    /// in OpenMetrics.
    fn quoted(&mut self, what: &str) -> Result<String> {
        let open = self.pos;
        let start = open + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            match self.peek_at(i) {
                None => {
                    return Err(self.err_at(
                        open,
                        format!("unterminated {what}: no closing '\"' before the end of input"),
                    ))
                }
                Some(b'"') => break,
                Some(b'\\') => match self.peek_at(i + 1) {
                    None | Some(b'\n') => {
                        return Err(self.err_at(
                            i,
                            format!("invalid escape in {what}: backslash at the end of a line"),
                        ))
                    }
                    Some(_) => {
                        escaped = true;
                        i += 2;
                    }
                },
                Some(b'\n') if self.om => {
                    return Err(self.err_at(
                        open,
                        format!("unterminated {what}: newline before the closing '\"' (write \\n)"),
                    ))
                }
                Some(_) => i += 1,
            }
        }
        let raw = &self.b[start..i];
        let text = std::str::from_utf8(raw).map_err(|e| {
            self.err_at(start + e.valid_up_to(), format!("invalid UTF-8 in {what}"))
        })?;
        self.pos = i + 1;
        Ok(if escaped {
            unescape(text, true)
        } else {
            text.to_owned()
        })
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` at the cursor (the caller checked the first byte).
    fn legacy_metric_name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_metric_name_char) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.b[start..self.pos]).into_owned()
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*` at the cursor (the caller checked the first byte).
    fn legacy_label_name(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_label_name_char) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.b[start..self.pos]).into_owned()
    }

    /// A metric name on a metadata line: legacy or quoted, non-empty.
    fn meta_name(&mut self, meta: Meta) -> Result<String> {
        let start = self.pos;
        let name = match self.peek() {
            Some(b'"') => self.quoted("quoted metric name")?,
            Some(c) if is_metric_name_start(c) => self.legacy_metric_name(),
            _ => return Err(self.expected(start, &format!("a metric name after {}", meta.word()))),
        };
        if name.is_empty() {
            return Err(self.err_at(start, "metric name must not be empty"));
        }
        Ok(name)
    }

    // ---- metadata -------------------------------------------------------------------

    /// A Prometheus-text line starting with `#`: HELP, TYPE or a comment.
    fn prom_hash_line(&mut self) -> Result<()> {
        self.pos += 1; // '#'
        let after_hash = self.pos;
        self.skip_blanks();
        let meta = if self.pos == after_hash {
            None
        } else if self.starts_with(b"HELP") {
            Some(Meta::Help)
        } else if self.starts_with(b"TYPE") {
            Some(Meta::Type)
        } else {
            None
        };
        let Some(meta) = meta.filter(|_| matches!(self.peek_at(self.pos + 4), Some(b' ' | b'\t')))
        else {
            // A plain comment: anything up to the end of the line.
            self.pos = (self.line_end(self.pos) + 1).min(self.b.len());
            return Ok(());
        };
        self.pos += 4;
        self.skip_blanks();
        let name = self.meta_name(meta)?;
        let text_start = match self.peek() {
            None | Some(b'\n') => self.pos,
            // Like Prometheus, exactly one separator is dropped; further blanks are text.
            Some(b' ' | b'\t') => self.pos + 1,
            Some(_) => {
                return Err(self.expected(self.pos, "whitespace after the metric name"));
            }
        };
        let end = self.line_end(self.pos);
        let text = &self.b[text_start.min(end)..end];
        self.pos = (end + 1).min(self.b.len());
        match meta {
            Meta::Help => {
                let text = std::str::from_utf8(text).map_err(|e| {
                    self.err_at(text_start + e.valid_up_to(), "invalid UTF-8 in HELP text")
                })?;
                let help = unescape(text, false);
                let i = self.family(name);
                self.families[i].help = Some(help);
            }
            Meta::Type => {
                let kind = match text {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"summary" => MetricType::Summary,
                    b"untyped" => MetricType::Untyped,
                    _ => {
                        return Err(self.err_at(
                            text_start,
                            format!(
                                "expected a metric type (counter, gauge, histogram, summary or untyped), found {:?}",
                                String::from_utf8_lossy(text)
                            ),
                        ))
                    }
                };
                let i = self.family(name);
                self.families[i].kind = kind;
            }
            Meta::Unit => {}
        }
        Ok(())
    }

    /// An OpenMetrics line starting with `#`. Returns true at `# EOF`.
    fn om_hash_line(&mut self) -> Result<bool> {
        let line_start = self.pos;
        if !self.starts_with(b"# ") {
            return Err(self.expected(
                line_start,
                "\"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\" (OpenMetrics has no other comments)",
            ));
        }
        self.pos += 2;
        if self.starts_with(b"EOF") {
            let after = self.pos + 3;
            let rest = &self.b[after..];
            if rest.is_empty() || rest == b"\n" {
                self.pos = self.b.len();
                return Ok(true);
            }
            let at = if rest[0] == b'\n' { after + 1 } else { after };
            return Err(self.err_at(
                at,
                format!("unexpected data after # EOF: {}", self.describe(at)),
            ));
        }
        let meta = if self.starts_with(b"HELP ") {
            Meta::Help
        } else if self.starts_with(b"TYPE ") {
            Meta::Type
        } else if self.starts_with(b"UNIT ") {
            Meta::Unit
        } else {
            return Err(self.expected(
                self.pos,
                "HELP, TYPE, UNIT or EOF after \"# \" followed by a single space",
            ));
        };
        self.pos += 5;
        let name_start = self.pos;
        let name = self.meta_name(meta)?;
        if self.peek() != Some(b' ') {
            return Err(self.expected(
                self.pos,
                &format!(
                    "a single space and the {} text after the metric name",
                    meta.word()
                ),
            ));
        }
        let text_start = self.pos + 1;
        let end = self.line_end(text_start);
        if end == self.b.len() {
            return Err(self.err_at(
                end,
                "expected end of line, found end of input (OpenMetrics must end with # EOF)",
            ));
        }
        let text = &self.b[text_start..end];
        self.pos = end + 1;
        match meta {
            Meta::Help => {
                let text = std::str::from_utf8(text).map_err(|e| {
                    self.err_at(text_start + e.valid_up_to(), "invalid UTF-8 in HELP text")
                })?;
                let help = unescape(text, true);
                let i = self.family(name);
                self.families[i].help = Some(help);
            }
            Meta::Type => {
                let kind = match text {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"gaugehistogram" => MetricType::GaugeHistogram,
                    b"summary" => MetricType::Summary,
                    b"info" => MetricType::Info,
                    b"stateset" => MetricType::StateSet,
                    b"unknown" => MetricType::Unknown,
                    _ => {
                        return Err(self.err_at(
                            text_start,
                            format!(
                                "expected a metric type (counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown), found {:?}",
                                String::from_utf8_lossy(text)
                            ),
                        ))
                    }
                };
                let i = self.family(name);
                self.families[i].kind = kind;
            }
            Meta::Unit => {
                let unit = std::str::from_utf8(text)
                    .map_err(|e| {
                        self.err_at(text_start + e.valid_up_to(), "invalid UTF-8 in UNIT")
                    })?
                    .to_owned();
                let is_suffix = name
                    .strip_suffix(unit.as_str())
                    .and_then(|rest| rest.strip_suffix('_'))
                    .is_some();
                if !unit.is_empty() && !is_suffix {
                    return Err(self.err_at(
                        name_start,
                        format!("unit {unit:?} is not a suffix of metric name {name:?} (expected the name to end with \"_{unit}\")"),
                    ));
                }
                let i = self.family(name);
                self.families[i].unit = (!unit.is_empty()).then_some(unit);
            }
        }
        Ok(false)
    }

    /// The index of the family called `name`, created if new; it becomes the current family.
    fn family(&mut self, name: String) -> usize {
        let i = match self.family_index.get(&name) {
            Some(&i) => i,
            None => {
                let i = self.families.len();
                self.family_index.insert(name.clone(), i);
                self.families.push(MetricFamily {
                    name,
                    kind: if self.om {
                        MetricType::Unknown
                    } else {
                        MetricType::Untyped
                    },
                    help: None,
                    unit: None,
                });
                i
            }
        };
        self.current = Some(i);
        i
    }

    // ---- samples --------------------------------------------------------------------

    /// Parses the labels after `{` (the cursor is past it) into `pairs`. A quoted string not
    /// followed by `=` is the metric name (not allowed in exemplars).
    fn label_set(
        &mut self,
        name: &mut Option<String>,
        pairs: &mut Vec<(String, String)>,
        exemplar: bool,
    ) -> Result<()> {
        loop {
            if !self.om {
                self.skip_blanks();
            }
            let tok_start = self.pos;
            let (label, quoted) = match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'"') => (self.quoted("quoted name")?, true),
                Some(c) if is_label_name_start(c) => (self.legacy_label_name(), false),
                _ => return Err(self.expected(tok_start, "a label name or '}'")),
            };
            if !self.om {
                self.skip_blanks();
            }
            if quoted && !exemplar && matches!(self.peek(), Some(b',' | b'}')) {
                if name.is_some() {
                    return Err(self.err_at(
                        tok_start,
                        "metric name already set: a series has one name, given before '{' or as one bare quoted string inside it",
                    ));
                }
                if label.is_empty() {
                    return Err(self.err_at(tok_start, "metric name must not be empty"));
                }
                *name = Some(label);
                if self.peek() == Some(b',') {
                    self.pos += 1;
                }
                continue;
            }
            if label.is_empty() {
                return Err(self.err_at(tok_start, "label name must not be empty"));
            }
            if self.peek() != Some(b'=') {
                return Err(self.expected(self.pos, "'=' after the label name"));
            }
            self.pos += 1;
            if !self.om {
                self.skip_blanks();
            }
            if self.peek() != Some(b'"') {
                return Err(self.expected(self.pos, "a label value (a double-quoted string)"));
            }
            let value = self.quoted("label value")?;
            pairs.push((label, value));
            if self.om {
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {}
                    _ => return Err(self.expected(self.pos, "',' or '}' after the label value")),
                }
            } else {
                // Prometheus also accepts pairs separated only by whitespace.
                self.skip_blanks();
                if self.peek() == Some(b',') {
                    self.pos += 1;
                }
            }
        }
    }

    /// A float token (value or OpenMetrics timestamp) between `start` and `end`.
    fn float_token(&self, start: usize, end: usize, what: &str) -> Result<f64> {
        if start == end {
            return Err(self.expected(start, what));
        }
        let token = &self.b[start..end];
        parse_float(token).map_err(|reason| {
            let reason = if token.contains(&b'\r') {
                "carriage return: lines must end with \\n alone"
            } else {
                reason
            };
            self.err_at(
                start,
                format!("expected {what}, found {} ({reason})", self.describe(start)),
            )
        })
    }

    fn sample_line(&mut self) -> Result<()> {
        let line_start = self.pos;
        let mut name: Option<String> = None;
        let mut pairs: Vec<(String, String)> = Vec::new();
        match self.peek() {
            Some(b'{') => {}
            Some(c) if is_metric_name_start(c) => name = Some(self.legacy_metric_name()),
            _ => {
                return Err(self.expected(
                    line_start,
                    if self.om {
                        "a metric name, '{' or \"# \""
                    } else {
                        "a metric name, '{' or '#'"
                    },
                ))
            }
        }
        if !self.om {
            self.skip_blanks();
        }
        let labels_start = self.pos;
        if self.peek() == Some(b'{') {
            self.pos += 1;
            self.label_set(&mut name, &mut pairs, false)?;
        }
        let Some(name) = name else {
            return Err(self.err_at(
                line_start,
                "metric name not set: give it before '{' or as a bare quoted string inside the braces",
            ));
        };

        // Value and timestamp.
        let value;
        let mut timestamp_ms = None;
        let mut exemplar = None;
        if self.om {
            if self.peek() != Some(b' ') {
                return Err(self.expected(self.pos, "a single space and the sample value"));
            }
            self.pos += 1;
            let (vs, ve) = self.token(b" \n");
            value = self.float_token(vs, ve, "a sample value")?;
            let mut ts_allowed = true;
            loop {
                match self.peek() {
                    Some(b'\n') => {
                        self.pos += 1;
                        break;
                    }
                    None => {
                        return Err(self.err_at(
                            self.pos,
                            "expected end of line, found end of input (OpenMetrics must end with # EOF)",
                        ))
                    }
                    Some(b' ') if self.b[self.pos + 1..].starts_with(b"# {") => {
                        self.pos += 4;
                        exemplar = Some(self.exemplar()?);
                        break;
                    }
                    Some(b' ') if ts_allowed => {
                        self.pos += 1;
                        let (ts, te) = self.token(b" \n");
                        let secs = self.float_token(ts, te, "a timestamp in seconds")?;
                        if !secs.is_finite() {
                            return Err(self.err_at(ts, "timestamp must be finite"));
                        }
                        timestamp_ms = Some(seconds_to_ms(secs));
                        ts_allowed = false;
                    }
                    _ => {
                        return Err(self.expected(
                            self.pos,
                            if ts_allowed {
                                "end of line, a timestamp or an exemplar (\" # {\")"
                            } else {
                                "end of line or an exemplar (\" # {\")"
                            },
                        ))
                    }
                }
            }
        } else {
            self.skip_blanks();
            let (vs, ve) = self.token(b" \t\n{");
            value = self.float_token(vs, ve, "a sample value")?;
            self.skip_blanks();
            if !matches!(self.peek(), None | Some(b'\n')) {
                let (ts, te) = self.token(b" \t\n");
                let digits = &self.b[ts..te];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(
                        self.expected(ts, "end of line or a timestamp (integer milliseconds)")
                    );
                }
                let ms = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .ok_or_else(|| {
                        self.err_at(ts, "timestamp out of range for 64-bit milliseconds")
                    })?;
                timestamp_ms = Some(ms);
                self.skip_blanks();
                if !matches!(self.peek(), None | Some(b'\n')) {
                    return Err(self.expected(self.pos, "end of line after the timestamp"));
                }
            }
            if self.peek() == Some(b'\n') {
                self.pos += 1;
            }
        }

        // Family membership drives the type-specific rules.
        let family = self
            .current
            .filter(|&i| belongs_to(&name, &self.families[i]));
        let kind = family.map(|i| self.families[i].kind);
        if self.om
            && kind == Some(MetricType::Counter)
            && !(name.ends_with("_total") || name.ends_with("_created"))
        {
            return Err(self.err_at(
                line_start,
                format!("OpenMetrics counter samples must be named with the _total suffix, found {name:?}"),
            ));
        }
        let normalise = match kind {
            Some(MetricType::Histogram) => Some("le"),
            Some(MetricType::Summary) => Some("quantile"),
            _ => None,
        };
        if let Some(special) = normalise {
            for (label, value) in pairs.iter_mut() {
                if label == special {
                    if let Ok(f) = parse_float(value.as_bytes()) {
                        *value = format_openmetrics_float(f);
                    }
                }
            }
        }
        let is_created = self.om && kind.is_some_and(has_created) && name.ends_with("_created");
        pairs.push((METRIC_NAME.to_owned(), name));
        let labels = Labels::from_pairs(pairs).map_err(|e| self.label_error(labels_start, e))?;
        self.samples.push(Sample {
            labels,
            value,
            timestamp_ms,
            exemplar,
            created_ms: None,
        });
        self.info.push(SampleInfo { family, is_created });
        Ok(())
    }

    /// An OpenMetrics exemplar; the cursor is just past `# {`. Consumes the line end.
    fn exemplar(&mut self) -> Result<Exemplar> {
        let labels_start = self.pos - 1;
        let mut no_name = None;
        let mut pairs = Vec::new();
        self.label_set(&mut no_name, &mut pairs, true)?;
        let labels = Labels::from_pairs(pairs).map_err(|e| self.label_error(labels_start, e))?;
        if self.peek() != Some(b' ') {
            return Err(self.expected(self.pos, "a single space and the exemplar value"));
        }
        self.pos += 1;
        let (vs, ve) = self.token(b" \n");
        let value = self.float_token(vs, ve, "an exemplar value")?;
        let mut timestamp_ms = None;
        if self.peek() == Some(b' ') {
            self.pos += 1;
            let (ts, te) = self.token(b" \n");
            let secs = self.float_token(ts, te, "an exemplar timestamp in seconds")?;
            if !secs.is_finite() {
                return Err(self.err_at(ts, "exemplar timestamp must be finite"));
            }
            timestamp_ms = Some(seconds_to_ms(secs));
        }
        match self.peek() {
            Some(b'\n') => {
                self.pos += 1;
                Ok(Exemplar {
                    labels,
                    value,
                    timestamp_ms,
                })
            }
            None => Err(self.err_at(
                self.pos,
                "expected end of line, found end of input (OpenMetrics must end with # EOF)",
            )),
            Some(_) => Err(self.expected(self.pos, "end of line after the exemplar")),
        }
    }

    fn label_error(&self, pos: usize, e: LabelError) -> ParseError {
        match e {
            LabelError::Duplicate(n) if n == METRIC_NAME => self.err_at(
                pos,
                "duplicate label name \"__name__\": the metric name is already given",
            ),
            LabelError::Duplicate(n) => {
                self.err_at(pos, format!("duplicate label name {n:?} in label set"))
            }
            other => self.err_at(pos, other.to_string()),
        }
    }

    /// Copies each `_created` sample's value (seconds) into `created_ms` of the samples of
    /// the same family and labels, ignoring `le` for histograms and `quantile` for summaries.
    fn resolve_created(&mut self) {
        if !self.info.iter().any(|i| i.is_created) {
            return;
        }
        let key = |families: &[MetricFamily], fam: usize, labels: &Labels| {
            let skip = match families[fam].kind {
                MetricType::Histogram => "le",
                MetricType::Summary => "quantile",
                _ => METRIC_NAME,
            };
            let rest: Vec<(String, String)> = labels
                .iter()
                .filter(|l| l.name != METRIC_NAME && l.name != skip)
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            (fam, rest)
        };
        let mut created: HashMap<(usize, Vec<(String, String)>), i64> = HashMap::new();
        for (s, info) in self.samples.iter().zip(&self.info) {
            if let (true, Some(fam)) = (info.is_created, info.family) {
                if s.value.is_finite() {
                    created.insert(key(&self.families, fam, &s.labels), seconds_to_ms(s.value));
                }
            }
        }
        for (s, info) in self.samples.iter_mut().zip(&self.info) {
            if let (false, Some(fam)) = (info.is_created, info.family) {
                if has_created(self.families[fam].kind) {
                    s.created_ms = created.get(&key(&self.families, fam, &s.labels)).copied();
                }
            }
        }
    }
}
