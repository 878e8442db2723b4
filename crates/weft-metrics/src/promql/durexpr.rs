//! Duration expressions (Prometheus 3 `promql-duration-expr`): arithmetic in range brackets
//! and after `offset`, e.g. `rate(x[5m+30s])`, `x[step()*2:1m]`, `x offset min_of(step(), 1s)`.
//!
//! `promql-parser` 0.11 accepts only literal durations there, so queries are rewritten before
//! parsing: each non-literal duration expression is evaluated (numbers are seconds; `step()`
//! and `range()` are the query's step and `end - start`) and replaced by a millisecond literal.
//! Strings are skipped. Inside an expression, precedence follows PromQL: `^`
//! (right-associative) binds tighter than unary sign, then `* / %`, then `+ -`. After
//! `offset` only one atom (signs plus a literal, parenthesized expression or function call)
//! is the duration; any operator after it applies to the selector.

/// Rewrites duration expressions in `q` into literals. Queries without any are returned
/// unchanged.
pub fn rewrite(q: &str, step_ms: i64, range_ms: i64) -> Result<String, String> {
    let b = q.as_bytes();
    let mut out = String::with_capacity(q.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i = skip_string_literal(b, i),
            b'[' => {
                let Some(end) = matching(b, i, b'[', b']') else {
                    return Ok(q.to_string());
                };
                let inner = &q[i + 1..end];
                let (range, step) = match split_top_colon(inner) {
                    Some(c) => (&inner[..c], Some(&inner[c + 1..])),
                    None => (inner, None),
                };
                let mut rep = convert(range, step_ms, range_ms)?;
                if let Some(s) = step {
                    rep.push(':');
                    rep.push_str(&convert(s, step_ms, range_ms)?);
                }
                out.push_str(&q[last..=i]);
                out.push_str(&rep);
                last = end;
                i = end + 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &q[start..i];
                if word.eq_ignore_ascii_case("offset") && (start == 0 || !is_ident(b[start - 1])) {
                    let atom_end = atom_end(b, i);
                    let atom = &q[i..atom_end];
                    if !atom.trim().is_empty() && !is_literal(atom.trim()) {
                        let rep = convert(atom, step_ms, range_ms)?;
                        if rep == "0ms" {
                            // A zero offset is no offset (a `0ms` literal would not parse).
                            out.push_str(&q[last..start]);
                        } else {
                            out.push_str(&q[last..i]);
                            out.push(' ');
                            out.push_str(&rep);
                        }
                        last = atom_end;
                        i = atom_end;
                    }
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&q[last..]);
    Ok(out)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn matching(b: &[u8], open_at: usize, open: u8, close: u8) -> Option<usize> {
    let mut depth = 0;
    let mut i = open_at;
    while i < b.len() {
        if b[i] == open {
            depth += 1;
        } else if b[i] == close {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

fn split_top_colon(s: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b':' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// End of the duration atom after `offset`: signs, then a literal, a parenthesized
/// expression or a function call. Operators after it (even `^`) apply to the selector.
fn atom_end(b: &[u8], mut i: usize) -> usize {
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    i = skip_ws(i);
    while i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i = skip_ws(i + 1);
    }
    if i >= b.len() {
        return i;
    }
    if b[i] == b'(' {
        return matching(b, i, b'(', b')').map_or(b.len(), |e| e + 1);
    }
    let start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
        i += 1;
    }
    let j = skip_ws(i);
    if j < b.len() && b[j] == b'(' && b[start].is_ascii_alphabetic() {
        return matching(b, j, b'(', b')').map_or(b.len(), |e| e + 1);
    }
    i
}

/// A literal duration (`5m`, `1h30m`, `500ms`) or plain number stays; anything else is
/// evaluated and rendered in milliseconds.
fn convert(s: &str, step_ms: i64, range_ms: i64) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() || is_literal(t) {
        return Ok(s.to_string());
    }
    let mut p = P {
        s: t.as_bytes(),
        i: 0,
        step_ms,
        range_ms,
    };
    let v = p.expr()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!(
            "unexpected character in duration expression: {t:?}"
        ));
    }
    let ms = (v * 1000.0).round();
    if !ms.is_finite() {
        return Err(format!("duration expression {t:?} is not finite"));
    }
    Ok(format!("{}ms", ms as i64))
}

fn is_literal(t: &str) -> bool {
    let body = t.strip_prefix('-').unwrap_or(t).trim_start();
    !body.is_empty()
        && body.bytes().next().is_some_and(|c| c.is_ascii_digit())
        && body.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.')
        && parse_duration(body).is_some()
}

/// Seconds of a duration literal or plain number.
fn parse_duration(s: &str) -> Option<f64> {
    if let Ok(v) = s.parse::<f64>() {
        return Some(v);
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total = 0.0;
    while i < b.len() {
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if st == i {
            return None;
        }
        let n: f64 = s[st..i].parse().ok()?;
        let us = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let mult = match &s[us..i] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            "y" => 31_536_000.0,
            _ => return None,
        };
        total += n * mult;
    }
    Some(total)
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
    step_ms: i64,
    range_ms: i64,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expr(&mut self) -> Result<f64, String> {
        let mut v = self.term()?;
        while let Some(c @ (b'+' | b'-')) = self.peek() {
            self.i += 1;
            let r = self.term()?;
            v = if c == b'+' { v + r } else { v - r };
        }
        Ok(v)
    }

    fn term(&mut self) -> Result<f64, String> {
        let mut v = self.unary()?;
        while let Some(c @ (b'*' | b'/' | b'%')) = self.peek() {
            self.i += 1;
            let r = self.unary()?;
            v = match c {
                b'*' => v * r,
                b'/' => v / r,
                _ => v % r,
            };
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some(b'-') => {
                self.i += 1;
                Ok(-self.unary()?)
            }
            Some(b'+') => {
                self.i += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<f64, String> {
        let base = self.atom()?;
        if self.peek() == Some(b'^') {
            self.i += 1;
            let exp = self.unary()?;
            return Ok(base.powf(exp));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<f64, String> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let v = self.expr()?;
                if self.peek() != Some(b')') {
                    return Err("unbalanced parentheses in duration expression".into());
                }
                self.i += 1;
                Ok(v)
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => {
                let st = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'.')
                {
                    self.i += 1;
                }
                let lit = std::str::from_utf8(&self.s[st..self.i]).unwrap_or("");
                parse_duration(lit).ok_or_else(|| format!("invalid duration {lit:?}"))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let st = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
                {
                    self.i += 1;
                }
                let name = std::str::from_utf8(&self.s[st..self.i])
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if self.peek() != Some(b'(') {
                    return Err(format!("unexpected {name:?} in duration expression"));
                }
                self.i += 1;
                let mut args = Vec::new();
                if self.peek() == Some(b')') {
                    self.i += 1;
                } else {
                    loop {
                        args.push(self.expr()?);
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b')') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err("malformed function call in duration".into()),
                        }
                    }
                }
                let go_nan = |a: f64, b: f64| a.is_nan() || b.is_nan();
                match (name.as_str(), args.as_slice()) {
                    ("step", []) => Ok(self.step_ms as f64 / 1000.0),
                    ("range", []) => Ok(self.range_ms as f64 / 1000.0),
                    ("min_of", [a, b]) => Ok(if go_nan(*a, *b) { f64::NAN } else { a.min(*b) }),
                    ("max_of", [a, b]) => Ok(if go_nan(*a, *b) { f64::NAN } else { a.max(*b) }),
                    _ => Err(format!(
                        "function {name:?} not allowed in duration expression"
                    )),
                }
            }
            _ => Err("malformed duration expression".into()),
        }
    }
}

/// The experimental range-selector modifiers (`x[5m] anchored`, `x[5m] smoothed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeMod {
    Anchored,
    Smoothed,
}

/// Removes `anchored`/`smoothed` after range-selector brackets (which `promql-parser` does not
/// know). Returns the query and, for each range-selector bracket in source order (subquery
/// brackets excluded), its modifier.
pub fn strip_range_modifiers(q: &str) -> (String, Vec<Option<RangeMod>>) {
    let b = q.as_bytes();
    let mut out = String::with_capacity(q.len());
    let mut mods = Vec::new();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i = skip_string_literal(b, i),
            b'[' => {
                let Some(end) = matching(b, i, b'[', b']') else {
                    break;
                };
                let inner = &q[i + 1..end];
                i = end + 1;
                if split_top_colon(inner).is_some() {
                    continue;
                }
                let mut j = i;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let w = j;
                while j < b.len() && is_ident(b[j]) {
                    j += 1;
                }
                let m = match &q[w..j] {
                    "anchored" => Some(RangeMod::Anchored),
                    "smoothed" => Some(RangeMod::Smoothed),
                    _ => None,
                };
                if m.is_some() {
                    out.push_str(&q[last..i]);
                    last = j;
                    i = j;
                }
                mods.push(m);
            }
            _ => i += 1,
        }
    }
    out.push_str(&q[last..]);
    (out, mods)
}

/// Label name of the matcher that marks a `smoothed` instant vector selector after
/// [`mark_smoothed_selectors`]; `name=""` matches every series, so selection is unchanged.
pub const SMOOTHED_MARKER: &str = "__weft_smoothed__";

/// Rewrites `sel smoothed` (an instant vector selector, possibly followed by `@`/`offset`)
/// into `sel{…,__weft_smoothed__=""}` so the modifier survives parsing.
pub fn mark_smoothed_selectors(q: &str) -> String {
    if !q.contains("smoothed") {
        return q.to_string();
    }
    let tail =
        regex::Regex::new(r"(?:\s*(?:@\s*[-+]?[\w.]+(?:\(\s*\))?|offset\s*[-+]?[\w.]+))*\s*$")
            .expect("valid regex");
    let word = regex::Regex::new(r"\bsmoothed\b").expect("valid regex");
    let mut out = q.to_string();
    loop {
        // Find an occurrence outside strings that does not follow a range bracket.
        let Some(m) = word.find_iter(&out).find(|m| {
            let before = &out[..m.start()];
            outside_strings(before) && !before.trim_end().ends_with(']')
        }) else {
            return out;
        };
        let before = &out[..m.start()];
        let cut = tail.find(before).map_or(before.len(), |t| t.start());
        let sel_end = &before[..cut];
        let marker = format!("{SMOOTHED_MARKER}=\"\"");
        let rebuilt = if let Some(prefix) = sel_end.strip_suffix('}') {
            let sep = if prefix.trim_end().ends_with('{') {
                ""
            } else {
                ","
            };
            format!("{prefix}{sep}{marker}}}{}", &before[cut..])
        } else {
            format!("{sel_end}{{{marker}}}{}", &before[cut..])
        };
        out = format!("{rebuilt}{}", &out[m.end()..]);
    }
}

fn outside_strings(s: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut esc = false;
    for c in s.chars() {
        match quote {
            Some(q) => {
                if esc {
                    esc = false;
                } else if c == '\\' && q != '`' {
                    esc = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None => {}
        }
    }
    quote.is_none()
}

/// Label name of the matcher added to `info()`'s label-selector argument by
/// [`mark_info_selectors`]; `info()` ignores it.
pub const INFO_MARKER: &str = "__weft_info__";

/// `info(v, {data=~".*"})` is valid PromQL (the data-label selector may match empty), but
/// `promql-parser` rejects selectors without a non-empty matcher; this adds a marker matcher
/// to the second argument of each `info(` call so that it parses.
pub fn mark_info_selectors(q: &str) -> String {
    if !q.contains("info") {
        return q.to_string();
    }
    let re = regex::Regex::new(r"\binfo\s*\(").expect("valid regex");
    let b = q.as_bytes();
    let mut inserts = Vec::new();
    for m in re.find_iter(q) {
        if !outside_strings(&q[..m.start()]) {
            continue;
        }
        let open = m.end() - 1;
        let Some(close) = matching(b, open, b'(', b')') else {
            continue;
        };
        // Top-level comma of the call.
        let (mut depth, mut comma) = (0, None);
        let mut i = open + 1;
        while i < close {
            match b[i] {
                b'(' | b'{' | b'[' => depth += 1,
                b')' | b'}' | b']' => depth -= 1,
                b'"' | b'\'' | b'`' => {
                    let quote = b[i];
                    i += 1;
                    while i < close && b[i] != quote {
                        if b[i] == b'\\' && quote != b'`' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                b',' if depth == 0 => {
                    comma = Some(i);
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let Some(c) = comma else { continue };
        let arg = &q[c + 1..close];
        if let Some(off) = arg.find('{') {
            if arg[..off].trim().is_empty() {
                inserts.push(c + 1 + off + 1);
            }
        }
    }
    let mut out = q.to_string();
    for pos in inserts.into_iter().rev() {
        let sep = if q[pos..].trim_start().starts_with('}') {
            ""
        } else {
            ","
        };
        out.insert_str(pos, &format!("{INFO_MARKER}=\"1\"{sep}"));
    }
    out
}

/// The index just past the string literal that starts at `b[start]` (a quote character);
/// backslash escapes count except in backtick strings, as in PromQL.
pub(super) fn skip_string_literal(b: &[u8], start: usize) -> usize {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() && b[i] != quote {
        if b[i] == b'\\' && quote != b'`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn rewrites_only_expressions() {
        assert_eq!(rewrite("rate(x[5m])", 0, 0).unwrap(), "rate(x[5m])");
        assert_eq!(
            rewrite("changes(x[26m+4m])", 0, 0).unwrap(),
            "changes(x[1800000ms])"
        );
        assert_eq!(
            rewrite("x[29s+1s:20*500ms]", 0, 0).unwrap(),
            "x[30000ms:10000ms]"
        );
        assert_eq!(rewrite("x offset 5m", 0, 0).unwrap(), "x offset 5m");
        // Operators after the atom belong to the outer expression.
        assert_eq!(
            rewrite("x offset (2 * 2) + 1", 0, 0).unwrap(),
            "x offset 4000ms + 1"
        );
        assert_eq!(
            rewrite("x offset min_of(step(), 1s)+8000", 5000, 0).unwrap(),
            "x offset 1000ms+8000"
        );
        assert_eq!(
            rewrite("x offset -step()*2", 5000, 0).unwrap(),
            "x offset -5000ms*2"
        );
        assert_eq!(rewrite(r#"x{a="[1+1]"}"#, 0, 0).unwrap(), r#"x{a="[1+1]"}"#);
        assert_eq!(rewrite("x offset range()", 0, 0).unwrap(), "x ");
    }

    #[test]
    fn marks_smoothed_vector_selectors() {
        use super::mark_smoothed_selectors as m;
        assert_eq!(m("metric smoothed"), r#"metric{__weft_smoothed__=""} "#);
        assert_eq!(
            m("metric @ 100 smoothed + 0"),
            r#"metric{__weft_smoothed__=""} @ 100  + 0"#
        );
        assert_eq!(
            m(r#"m{a="b"} offset -100 smoothed"#),
            r#"m{a="b",__weft_smoothed__=""} offset -100 "#
        );
        assert_eq!(m("rate(m[1m] smoothed)"), "rate(m[1m] smoothed)");
        assert_eq!(
            super::mark_info_selectors(r#"info(m, {data=~".*"})"#),
            r#"info(m, {__weft_info__="1",data=~".*"})"#
        );
        assert_eq!(super::mark_info_selectors("info(m)"), "info(m)");
    }
}
