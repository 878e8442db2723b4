//! Series descriptions: `metric{label="value"} <values>`, as used by `load` blocks and by
//! expected results of `eval`.
//!
//! Value items, separated by whitespace (Prometheus' expanding notation):
//!
//! | item           | values                                                   |
//! |----------------|----------------------------------------------------------|
//! | `_`            | one missing point                                        |
//! | `_xN`          | N missing points                                         |
//! | `v`            | one float (`1`, `-2.5`, `1e3`, `Inf`, `NaN`) or `stale`  |
//! | `vxN`          | N+1 copies of `v`                                        |
//! | `a+bxN`        | N+1 floats a, a+b, …, a+N·b (accumulated by repeated addition, as Prometheus does) |
//! | `a-bxN`        | N+1 floats a, a-b, …                                     |
//! | `{{h}}`        | one native histogram                                     |
//! | `{{h}}xN`      | N+1 copies                                               |
//! | `{{a}}+{{b}}xN`| N+1 histograms a, a+b, a+2b, … (`-` subtracts)           |
//!
//! Hexadecimal numbers are not allowed (Prometheus disallows them in series descriptions, as
//! `0x3` would be ambiguous).

use weft_core::labels::{Labels, METRIC_NAME};

use super::histogram::{parse_float, HistogramLiteral};
use super::PointValue;

/// Splits a series line into its selector text (`name{…}`, `name` or `{…}`) and the rest.
pub fn split_metric(line: &str) -> Result<(&str, &str), String> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
    {
        i += 1;
    }
    if i < bytes.len() && bytes[i] == b'{' {
        if line[i..].starts_with("{{") {
            return Err("expected a series selector before the histogram value".into());
        }
        i = brace_end(line, i)?;
    }
    if i == 0 {
        return Err(format!("expected a series selector at {line:?}"));
    }
    let rest = &line[i..];
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!("unexpected {rest:?} after series selector"));
    }
    Ok((&line[..i], rest.trim_start()))
}

/// Index just past the `}` matching the `{` at `open`, skipping quoted strings.
fn brace_end(s: &str, open: usize) -> Result<usize, String> {
    let bytes = s.as_bytes();
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'}' => return Ok(i + 1),
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    if bytes[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= bytes.len() {
                    return Err("unterminated quoted string in label set".into());
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err("unclosed `{` in series selector".into())
}

/// Parses a series selector text (`name`, `name{a="b"}`, `{__name__="x", a="b"}`,
/// `{"utf8.name", "quoted.label"="v"}`) into a label set.
///
/// Only equality matchers are allowed; a trailing comma is accepted; strings may be
/// double-, single- or back-quoted with Go/PromQL escapes. Empty values are dropped, as in
/// Prometheus.
pub fn parse_labels(text: &str) -> Result<Labels, String> {
    let text = text.trim();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let brace = text.find('{').unwrap_or(text.len());
    let name = &text[..brace];
    if !name.is_empty() {
        if !weft_core::labels::is_legacy_metric_name(name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        pairs.push((METRIC_NAME.to_string(), name.to_string()));
    }
    if brace < text.len() {
        let inner = text[brace + 1..]
            .strip_suffix('}')
            .ok_or_else(|| format!("label set {text:?} must end with `}}`"))?;
        let mut cur = Cursor { s: inner, pos: 0 };
        loop {
            cur.skip_ws();
            if cur.at_end() {
                break;
            }
            let lname = if cur.peek_quote() {
                cur.string()?
            } else {
                let id = cur.ident();
                if id.is_empty() {
                    return Err(format!("expected label name in {text:?}"));
                }
                id.to_string()
            };
            cur.skip_ws();
            if cur.eat('=') {
                if cur.peek() == Some('~') || cur.peek() == Some('=') {
                    return Err(format!(
                        "only `=` matchers are allowed in series descriptions: {text:?}"
                    ));
                }
                cur.skip_ws();
                if !cur.peek_quote() {
                    return Err(format!(
                        "expected quoted label value for {lname:?} in {text:?}"
                    ));
                }
                let v = cur.string()?;
                pairs.push((lname, v));
            } else {
                // A lone quoted string is the metric name (UTF-8 syntax).
                if pairs.iter().any(|(n, _)| n == METRIC_NAME) {
                    return Err(format!("metric name given twice in {text:?}"));
                }
                pairs.push((METRIC_NAME.to_string(), lname));
            }
            cur.skip_ws();
            if cur.at_end() {
                break;
            }
            if !cur.eat(',') {
                return Err(format!("expected `,` or `}}` in label set {text:?}"));
            }
        }
    }
    Labels::from_pairs(pairs).map_err(|e| e.to_string())
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }
    fn peek_quote(&self) -> bool {
        matches!(self.peek(), Some('"' | '\'' | '`'))
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }
    fn ident(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            self.pos += c.len_utf8();
        }
        &self.s[start..self.pos]
    }
    fn string(&mut self) -> Result<String, String> {
        let (v, used) = unquote_prefix(&self.s[self.pos..])?;
        self.pos += used;
        Ok(v)
    }
}

/// Unquotes a whole string literal (`"…"`, `'…'` or `` `…` ``), Go escapes allowed.
pub fn unquote(s: &str) -> Result<String, String> {
    let (v, used) = unquote_prefix(s)?;
    if used != s.len() {
        return Err(format!("trailing text after string literal {s:?}"));
    }
    Ok(v)
}

/// Unquotes the string literal at the start of `s`; returns it and the bytes consumed.
fn unquote_prefix(s: &str) -> Result<(String, usize), String> {
    let mut chars = s.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('"' | '\'' | '`'))) => q,
        _ => return Err(format!("expected a quoted string at {s:?}")),
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, i + 1));
        }
        if c != '\\' || quote == '`' {
            if c == '\n' && quote != '`' {
                break;
            }
            out.push(c);
            continue;
        }
        let (_, e) = chars.next().ok_or("unterminated escape")?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' | '\'' => out.push(e),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut code = 0u32;
                for _ in 0..n {
                    let (_, d) = chars.next().ok_or("short escape")?;
                    code = code * 16
                        + d.to_digit(16)
                            .ok_or_else(|| format!("bad hex digit {d:?} in escape"))?;
                }
                if e == 'x' {
                    // A byte escape; only ASCII keeps the string valid UTF-8.
                    if code > 0x7f {
                        return Err("non-ASCII \\x escapes are not supported".into());
                    }
                }
                out.push(char::from_u32(code).ok_or("invalid code point in escape")?);
            }
            '0'..='7' => {
                let mut code = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let (_, d) = chars.next().ok_or("short octal escape")?;
                    code = code * 8 + d.to_digit(8).ok_or("bad octal escape")?;
                }
                if code > 0x7f {
                    return Err("non-ASCII octal escapes are not supported".into());
                }
                out.push(char::from_u32(code).ok_or("invalid octal escape")?);
            }
            other => return Err(format!("unknown escape sequence \\{other}")),
        }
    }
    Err(format!("unterminated string literal {s:?}"))
}

/// Parses the value part of a series description into points (`None` = missing).
pub fn parse_values(text: &str) -> Result<Vec<Option<PointValue>>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if rest.starts_with("{{") {
            let (base, after) = histogram_prefix(rest)?;
            rest = after;
            if let Some(n) = times_prefix(&mut rest)? {
                out.extend((0..=n).map(|_| Some(PointValue::Histogram(base.clone()))));
            } else if rest.starts_with("+{{") || rest.starts_with("-{{") {
                let sign = if rest.starts_with('+') { 1.0 } else { -1.0 };
                let (inc, after) = histogram_prefix(&rest[1..])?;
                rest = after;
                let n = times_prefix(&mut rest)?
                    .ok_or("histogram series `{{a}}+{{b}}` must be followed by `xN`")?;
                let mut cur = base;
                cur.counter_reset_hint_set = inc.counter_reset_hint_set;
                out.push(Some(PointValue::Histogram(cur.clone())));
                for _ in 0..n {
                    cur = cur.combine(&inc, sign)?;
                    out.push(Some(PointValue::Histogram(cur.clone())));
                }
            } else {
                out.push(Some(PointValue::Histogram(base)));
            }
            if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
                return Err(format!("unexpected {rest:?} after histogram value"));
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            expand_float_item(&rest[..end], &mut out)?;
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    Ok(out)
}

/// Parses `{{…}}` at the start of `s`.
fn histogram_prefix(s: &str) -> Result<(HistogramLiteral, &str), String> {
    let body_end = s.find("}}").ok_or("unclosed histogram literal `{{`")?;
    let h = HistogramLiteral::parse_body(&s[2..body_end])?;
    Ok((h, &s[body_end + 2..]))
}

/// Consumes `xN` at the start of `s`, if present.
fn times_prefix(s: &mut &str) -> Result<Option<u64>, String> {
    let Some(after) = s.strip_prefix('x') else {
        return Ok(None);
    };
    let end = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    let n = after[..end]
        .parse::<u64>()
        .map_err(|_| format!("expected a repeat count after `x` at {s:?}"))?;
    *s = &after[end..];
    Ok(Some(n))
}

/// Splits off the longest float literal at the start of `s` (sign allowed).
fn float_prefix(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    for word in ["inf", "nan"] {
        if s.len() >= i + 3 && s[i..i + 3].eq_ignore_ascii_case(word) {
            return parse_float(&s[..i + 3]).map(|v| (v, &s[i + 3..]));
        }
    }
    let digits_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    parse_float(&s[..i]).map(|v| (v, &s[i..]))
}

fn expand_float_item(item: &str, out: &mut Vec<Option<PointValue>>) -> Result<(), String> {
    let bad = || format!("invalid series value {item:?}");
    if item == "_" {
        out.push(None);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: u64 = n.parse().map_err(|_| bad())?;
        out.extend((0..n).map(|_| None));
        return Ok(());
    }
    let (base, mut rest) = if let Some(r) = item.strip_prefix("stale") {
        (None, r)
    } else {
        let (v, r) = float_prefix(item).ok_or_else(bad)?;
        (Some(v), r)
    };
    let point = |v: Option<f64>| Some(v.map_or(PointValue::Stale, PointValue::Float));
    if rest.is_empty() {
        out.push(point(base));
        return Ok(());
    }
    if let Some(n) = times_prefix(&mut rest)? {
        if !rest.is_empty() {
            return Err(bad());
        }
        out.extend((0..=n).map(|_| point(base)));
        return Ok(());
    }
    if !(rest.starts_with('+') || rest.starts_with('-')) {
        return Err(bad());
    }
    let (step, mut rest) = float_prefix(rest).ok_or_else(bad)?;
    let n = times_prefix(&mut rest)?.ok_or_else(bad)?;
    if !rest.is_empty() {
        return Err(bad());
    }
    let Some(mut v) = base else {
        return Err(format!("`stale` cannot be a start value of {item:?}"));
    };
    for _ in 0..=n {
        out.push(Some(PointValue::Float(v)));
        v += step;
    }
    Ok(())
}
