//! Query text → tokens.
//!
//! Tempo's lexer is Go's `text/scanner` plus TraceQL rules; its quirks decide which queries
//! parse, so they are reproduced here:
//! * multi-character operators and scope prefixes (`!>>`, `span.`, `trace:`) are formed
//!   greedily, one character at a time, while the text so far is a known token;
//! * after a `.`-scope (`.`, `span.`, `resource.`, `parent.`, ...) an attribute name is read:
//!   every character up to whitespace or one of `{}()=~!<>&|^,`, with `"..."` parts quoted
//!   (`\"` and `\\` escapes), and then an `EndAttribute` token closes it;
//! * a number directly followed by duration characters is a duration when the whole run
//!   parses as one (`1h30m`, `1.5s`), otherwise a plain number;
//! * `//` and `/* */` comments are skipped; `'x'` character literals are identifiers.
//!
//! Errors do not stop the caller from seeing earlier tokens: the token stream ends with
//! [`Tok::Error`] so that a parse error before it still wins, as in Tempo.

use crate::duration::parse_duration;

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) offset: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Duration(i64),
    // punctuation
    Dot,
    OpenBrace,
    CloseBrace,
    OpenParen,
    CloseParen,
    Comma,
    EndAttribute,
    // operators
    Eq,
    Neq,
    Re,
    Nre,
    Gt,
    Gte,
    Lt,
    Lte,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    And,
    Or,
    Not,
    Pipe,
    Desc,
    Ance,
    Sibl,
    NotChild,
    NotParent,
    NotDesc,
    NotAnce,
    UnionChild,
    UnionParent,
    UnionDesc,
    UnionAnce,
    UnionSibl,
    // static keywords
    Nil,
    True,
    False,
    StatusOk,
    StatusError,
    StatusUnset,
    KindUnspecified,
    KindInternal,
    KindServer,
    KindClient,
    KindProducer,
    KindConsumer,
    // intrinsic keywords
    IDuration,
    ChildCount,
    Name,
    Status,
    StatusMessage,
    Kind,
    RootName,
    RootServiceName,
    RootService,
    TraceDuration,
    NestedSetLeft,
    NestedSetRight,
    NestedSetParent,
    Id,
    TraceId,
    SpanId,
    ParentId,
    TimeSinceStart,
    Version,
    Parent,
    // scopes
    ParentDot,
    ResourceDot,
    SpanDot,
    EventDot,
    LinkDot,
    InstrumentationDot,
    TraceColon,
    SpanColon,
    EventColon,
    LinkColon,
    InstrumentationColon,
    // functions
    Count,
    Avg,
    Max,
    Min,
    Sum,
    By,
    Coalesce,
    Select,
    Rate,
    CountOverTime,
    MinOverTime,
    MaxOverTime,
    AvgOverTime,
    SumOverTime,
    QuantileOverTime,
    HistogramOverTime,
    Compare,
    Topk,
    Bottomk,
    With,
    Eof,
    /// A lexical error; always the last token.
    Error(String),
}

/// Tempo's token table: exact spellings of punctuation, operators and keywords.
fn keyword(text: &str) -> Option<Tok> {
    let tok = match text {
        "," => Tok::Comma,
        "." => Tok::Dot,
        "{" => Tok::OpenBrace,
        "}" => Tok::CloseBrace,
        "(" => Tok::OpenParen,
        ")" => Tok::CloseParen,
        "=" => Tok::Eq,
        "!=" => Tok::Neq,
        "=~" => Tok::Re,
        "!~" => Tok::Nre,
        ">" => Tok::Gt,
        ">=" => Tok::Gte,
        "<" => Tok::Lt,
        "<=" => Tok::Lte,
        "+" => Tok::Add,
        "-" => Tok::Sub,
        "/" => Tok::Div,
        "%" => Tok::Mod,
        "*" => Tok::Mul,
        "^" => Tok::Pow,
        "&&" => Tok::And,
        "||" => Tok::Or,
        "!" => Tok::Not,
        "|" => Tok::Pipe,
        ">>" => Tok::Desc,
        "<<" => Tok::Ance,
        "~" => Tok::Sibl,
        "!>" => Tok::NotChild,
        "!<" => Tok::NotParent,
        "!>>" => Tok::NotDesc,
        "!<<" => Tok::NotAnce,
        "&~" => Tok::UnionSibl,
        "&>" => Tok::UnionChild,
        "&<" => Tok::UnionParent,
        "&>>" => Tok::UnionDesc,
        "&<<" => Tok::UnionAnce,
        "true" => Tok::True,
        "false" => Tok::False,
        "nil" => Tok::Nil,
        "ok" => Tok::StatusOk,
        "error" => Tok::StatusError,
        "unset" => Tok::StatusUnset,
        "unspecified" => Tok::KindUnspecified,
        "internal" => Tok::KindInternal,
        "server" => Tok::KindServer,
        "client" => Tok::KindClient,
        "producer" => Tok::KindProducer,
        "consumer" => Tok::KindConsumer,
        "duration" => Tok::IDuration,
        "childCount" => Tok::ChildCount,
        "name" => Tok::Name,
        "status" => Tok::Status,
        "statusMessage" => Tok::StatusMessage,
        "kind" => Tok::Kind,
        "rootName" => Tok::RootName,
        "rootServiceName" => Tok::RootServiceName,
        "rootService" => Tok::RootService,
        "traceDuration" => Tok::TraceDuration,
        "nestedSetLeft" => Tok::NestedSetLeft,
        "nestedSetRight" => Tok::NestedSetRight,
        "nestedSetParent" => Tok::NestedSetParent,
        "id" => Tok::Id,
        "traceID" => Tok::TraceId,
        "spanID" => Tok::SpanId,
        "parentID" => Tok::ParentId,
        "timeSinceStart" => Tok::TimeSinceStart,
        "version" => Tok::Version,
        "parent" => Tok::Parent,
        "parent." => Tok::ParentDot,
        "resource." => Tok::ResourceDot,
        "span." => Tok::SpanDot,
        "event." => Tok::EventDot,
        "link." => Tok::LinkDot,
        "instrumentation." => Tok::InstrumentationDot,
        "trace:" => Tok::TraceColon,
        "span:" => Tok::SpanColon,
        "event:" => Tok::EventColon,
        "link:" => Tok::LinkColon,
        "instrumentation:" => Tok::InstrumentationColon,
        "count" => Tok::Count,
        "avg" => Tok::Avg,
        "max" => Tok::Max,
        "min" => Tok::Min,
        "sum" => Tok::Sum,
        "by" => Tok::By,
        "coalesce" => Tok::Coalesce,
        "select" => Tok::Select,
        "rate" => Tok::Rate,
        "count_over_time" => Tok::CountOverTime,
        "min_over_time" => Tok::MinOverTime,
        "max_over_time" => Tok::MaxOverTime,
        "avg_over_time" => Tok::AvgOverTime,
        "sum_over_time" => Tok::SumOverTime,
        "quantile_over_time" => Tok::QuantileOverTime,
        "histogram_over_time" => Tok::HistogramOverTime,
        "compare" => Tok::Compare,
        "topk" => Tok::Topk,
        "bottomk" => Tok::Bottomk,
        "with" => Tok::With,
        _ => return None,
    };
    Some(tok)
}

impl Tok {
    /// Tokens after which an attribute name is read.
    fn starts_attribute(&self) -> bool {
        matches!(
            self,
            Tok::Dot
                | Tok::ResourceDot
                | Tok::SpanDot
                | Tok::ParentDot
                | Tok::EventDot
                | Tok::LinkDot
                | Tok::InstrumentationDot
        )
    }

    /// Scope tokens, remembered so `parent.` can be followed by `span.` or `resource.`.
    fn is_scope(&self) -> bool {
        matches!(
            self,
            Tok::ParentDot
                | Tok::ResourceDot
                | Tok::SpanDot
                | Tok::EventDot
                | Tok::LinkDot
                | Tok::InstrumentationDot
                | Tok::TraceColon
                | Tok::SpanColon
                | Tok::EventColon
                | Tok::LinkColon
                | Tok::InstrumentationColon
        )
    }

    /// How the token is named in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier {s:?}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Int(i) => format!("integer {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Duration(_) => "duration".to_string(),
            Tok::EndAttribute => "end of attribute name".to_string(),
            Tok::Eof => "end of query".to_string(),
            Tok::Error(msg) => msg.clone(),
            other => format!("'{}'", other.spelling()),
        }
    }

    /// The text of fixed tokens (inverse of the keyword table).
    fn spelling(&self) -> &'static str {
        const FIXED: &[&str] = &[
            ",",
            ".",
            "{",
            "}",
            "(",
            ")",
            "=",
            "!=",
            "=~",
            "!~",
            ">",
            ">=",
            "<",
            "<=",
            "+",
            "-",
            "/",
            "%",
            "*",
            "^",
            "&&",
            "||",
            "!",
            "|",
            ">>",
            "<<",
            "~",
            "!>",
            "!<",
            "!>>",
            "!<<",
            "&~",
            "&>",
            "&<",
            "&>>",
            "&<<",
            "true",
            "false",
            "nil",
            "ok",
            "error",
            "unset",
            "unspecified",
            "internal",
            "server",
            "client",
            "producer",
            "consumer",
            "duration",
            "childCount",
            "name",
            "status",
            "statusMessage",
            "kind",
            "rootName",
            "rootServiceName",
            "rootService",
            "traceDuration",
            "nestedSetLeft",
            "nestedSetRight",
            "nestedSetParent",
            "id",
            "traceID",
            "spanID",
            "parentID",
            "timeSinceStart",
            "version",
            "parent",
            "parent.",
            "resource.",
            "span.",
            "event.",
            "link.",
            "instrumentation.",
            "trace:",
            "span:",
            "event:",
            "link:",
            "instrumentation:",
            "count",
            "avg",
            "max",
            "min",
            "sum",
            "by",
            "coalesce",
            "select",
            "rate",
            "count_over_time",
            "min_over_time",
            "max_over_time",
            "avg_over_time",
            "sum_over_time",
            "quantile_over_time",
            "histogram_over_time",
            "compare",
            "topk",
            "bottomk",
            "with",
        ];
        FIXED
            .iter()
            .find(|text| keyword(text).as_ref() == Some(self))
            .copied()
            .unwrap_or("?")
    }
}

/// Splits `src` into tokens. The result always ends with `Eof` or `Error`.
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let mut lexer = Lexer::new(src);
    let mut tokens = Vec::new();
    loop {
        let start = lexer.pos;
        match lexer.next_token() {
            Ok(token) => {
                let done = token.tok == Tok::Eof;
                tokens.push(token);
                if done {
                    return tokens;
                }
            }
            Err(message) => {
                let offset = lexer.error_offset.unwrap_or(start);
                tokens.push(Token {
                    tok: Tok::Error(message),
                    offset,
                });
                return tokens;
            }
        }
    }
}

/// Characters that may appear in an unquoted attribute name.
fn is_attribute_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ','
        )
}

fn is_duration_char(c: char) -> bool {
    matches!(c, 'n' | 's' | 'u' | 'm' | 'h' | '\u{b5}' | 'd' | 'w' | 'y')
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    is_ident_start(c) || c.is_numeric()
}

/// What Go's scanner returns before TraceQL interprets it.
enum Raw {
    Eof,
    /// Identifier, character literal or a single other character: looked up as a keyword.
    Word(String),
    Int(String),
    Float(String),
    Str(String),
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    parsing_attribute: bool,
    after_parent_scope: bool,
    /// Byte offset where the token being scanned starts.
    token_start: usize,
    /// Where the current error happened, when it is not the token start.
    error_offset: Option<usize>,
}

type LexResult<T> = Result<T, String>;

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        // Go's scanner skips a byte-order mark at the very start.
        let pos = if src.starts_with('\u{feff}') { 3 } else { 0 };
        Lexer {
            src,
            pos,
            parsing_attribute: false,
            after_parent_scope: false,
            token_start: pos,
            error_offset: None,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        let mut chars = self.src[self.pos..].chars();
        chars.next();
        chars.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn fail<T>(&mut self, message: impl Into<String>) -> LexResult<T> {
        if self.error_offset.is_none() {
            self.error_offset = Some(self.pos);
        }
        Err(message.into())
    }

    fn next_token(&mut self) -> LexResult<Token> {
        if self.parsing_attribute {
            return self.attribute_token();
        }
        let raw = self.scan()?;
        let offset = self.token_start;
        let tok = match raw {
            Raw::Eof => Tok::Eof,
            Raw::Str(s) => Tok::Str(s),
            Raw::Int(text) => self.integer_or_duration(&text)?,
            Raw::Float(text) => self.float_or_duration(&text)?,
            Raw::Word(text) => self.word(text),
        };
        Ok(Token { tok, offset })
    }

    /// Inside an attribute: the optional `span.`/`resource.` after `parent.`, the name, the end.
    fn attribute_token(&mut self) -> LexResult<Token> {
        let offset = self.pos;
        if !self.peek().is_some_and(is_attribute_char) {
            self.parsing_attribute = false;
            return Ok(Token {
                tok: Tok::EndAttribute,
                offset,
            });
        }
        if self.after_parent_scope {
            for (prefix, tok) in [("span.", Tok::SpanDot), ("resource.", Tok::ResourceDot)] {
                if self.src[self.pos..].starts_with(prefix) {
                    self.pos += prefix.len();
                    self.after_parent_scope = false;
                    return Ok(Token { tok, offset });
                }
            }
        }
        let name = self.attribute_name()?;
        Ok(Token {
            tok: Tok::Ident(name),
            offset,
        })
    }

    fn attribute_name(&mut self) -> LexResult<String> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '"' {
                self.bump();
                self.quoted_attribute_part(&mut name)?;
            } else if is_attribute_char(c) {
                name.push(c);
                self.bump();
            } else {
                break;
            }
        }
        Ok(name)
    }

    fn quoted_attribute_part(&mut self, name: &mut String) -> LexResult<()> {
        loop {
            match self.bump() {
                None => {
                    return self
                        .fail("unexpected end of query in quoted attribute name, expecting '\"'")
                }
                Some('"') => return Ok(()),
                Some('\\') => match self.bump() {
                    Some(c @ ('"' | '\\')) => name.push(c),
                    _ => return self.fail("invalid escape sequence in quoted attribute name"),
                },
                Some(c) => name.push(c),
            }
        }
    }

    /// Identifier-like text: the longest known multi-character token, a keyword, or an identifier.
    fn word(&mut self, text: String) -> Tok {
        let mut longest: Option<Tok> = None;
        let mut candidate = text.clone();
        while let Some(c) = self.peek() {
            candidate.push(c);
            match keyword(&candidate) {
                Some(tok) => {
                    longest = Some(tok);
                    self.bump();
                }
                None => break,
            }
        }
        if let Some(tok) = longest {
            if tok.is_scope() {
                self.after_parent_scope = tok == Tok::ParentDot;
            }
            self.parsing_attribute = tok.starts_attribute();
            return tok;
        }
        match keyword(&text) {
            Some(tok) => {
                self.parsing_attribute = tok.starts_attribute();
                tok
            }
            None => Tok::Ident(text),
        }
    }

    fn integer_or_duration(&mut self, text: &str) -> LexResult<Tok> {
        if let Some(ns) = self.try_duration(text) {
            return Ok(Tok::Duration(ns));
        }
        // Go's strconv.Atoi: plain decimal digits only.
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return self.fail(format!("invalid integer {text:?}"));
        }
        match text.parse::<i64>() {
            Ok(i) => Ok(Tok::Int(i)),
            Err(_) => self.fail(format!("integer {text} out of range")),
        }
    }

    fn float_or_duration(&mut self, text: &str) -> LexResult<Tok> {
        if let Some(ns) = self.try_duration(text) {
            return Ok(Tok::Duration(ns));
        }
        match parse_go_float(text) {
            Some(f) if f.is_finite() => Ok(Tok::Float(f)),
            Some(_) => self.fail(format!("number {text} out of range")),
            None => self.fail(format!("invalid number {text:?}")),
        }
    }

    /// A number directly followed by digits, `.` and unit letters is a duration if the
    /// whole run parses as one; otherwise nothing is consumed.
    fn try_duration(&mut self, number: &str) -> Option<i64> {
        let rest = &self.src[self.pos..];
        let run_len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_numeric() || is_duration_char(*c) || *c == '.'))
            .map_or(rest.len(), |(i, _)| i);
        if run_len == 0 {
            return None;
        }
        let ns = parse_duration(&format!("{number}{}", &rest[..run_len]))?;
        self.pos += run_len;
        Some(ns)
    }
}

// Go text/scanner emulation.
impl Lexer<'_> {
    fn scan(&mut self) -> LexResult<Raw> {
        loop {
            while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
                self.bump();
            }
            self.token_start = self.pos;
            let Some(c) = self.peek() else {
                return Ok(Raw::Eof);
            };
            if c == '/' && matches!(self.peek_second(), Some('/' | '*')) {
                self.skip_comment()?;
                continue;
            }
            return self.scan_token(c);
        }
    }

    fn scan_token(&mut self, c: char) -> LexResult<Raw> {
        let start = self.pos;
        match c {
            '\0' => self.fail("invalid character NUL"),
            '"' => {
                self.bump();
                self.scan_string().map(Raw::Str)
            }
            '`' => {
                self.bump();
                self.scan_raw_string().map(Raw::Str)
            }
            '\'' => {
                self.bump();
                self.scan_char_literal()?;
                Ok(Raw::Word(self.src[start..self.pos].to_string()))
            }
            '0'..='9' => self.scan_number(false),
            '.' if self.peek_second().is_some_and(|d| d.is_ascii_digit()) => {
                self.bump();
                self.scan_number(true)
            }
            c if is_ident_start(c) => {
                while self.peek().is_some_and(is_ident_continue) {
                    self.bump();
                }
                Ok(Raw::Word(self.src[start..self.pos].to_string()))
            }
            _ => {
                self.bump();
                Ok(Raw::Word(c.to_string()))
            }
        }
    }

    fn skip_comment(&mut self) -> LexResult<()> {
        self.bump();
        if self.bump() == Some('/') {
            while self.peek().is_some_and(|c| c != '\n') {
                self.bump();
            }
            return Ok(());
        }
        loop {
            match self.bump() {
                None => return self.fail("comment not terminated"),
                Some('*') if self.peek() == Some('/') => {
                    self.bump();
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }

    /// Decodes a `"..."` string (opening quote consumed) with Go's escapes.
    fn scan_string(&mut self) -> LexResult<String> {
        let mut bytes = Vec::new();
        loop {
            match self.bump() {
                None | Some('\n') => return self.fail("string literal not terminated"),
                Some('"') => break,
                Some('\\') => self.scan_escape('"', &mut bytes)?,
                Some(c) => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        // Octal and \x escapes may produce invalid UTF-8, which Go strings allow.
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn scan_escape(&mut self, quote: char, out: &mut Vec<u8>) -> LexResult<()> {
        let simple = |b: u8| Some(vec![b]);
        let decoded = match self.bump() {
            Some('a') => simple(0x07),
            Some('b') => simple(0x08),
            Some('f') => simple(0x0c),
            Some('n') => simple(b'\n'),
            Some('r') => simple(b'\r'),
            Some('t') => simple(b'\t'),
            Some('v') => simple(0x0b),
            Some('\\') => simple(b'\\'),
            Some(c) if c == quote => simple(c as u8),
            Some(c @ '0'..='7') => self.octal_escape(c),
            Some('x') => self
                .hex_escape(2)
                .and_then(|v| u8::try_from(v).ok())
                .map(|b| vec![b]),
            Some('u') => self.hex_escape(4).and_then(char_bytes),
            Some('U') => self.hex_escape(8).and_then(char_bytes),
            _ => None,
        };
        match decoded {
            Some(bytes) => {
                out.extend_from_slice(&bytes);
                Ok(())
            }
            None => self.fail("invalid escape sequence in string"),
        }
    }

    fn octal_escape(&mut self, first: char) -> Option<Vec<u8>> {
        let mut value = first.to_digit(8)?;
        for _ in 0..2 {
            value = value * 8 + self.bump()?.to_digit(8)?;
        }
        u8::try_from(value).ok().map(|b| vec![b])
    }

    fn hex_escape(&mut self, digits: usize) -> Option<u32> {
        let mut value: u32 = 0;
        for _ in 0..digits {
            value = value.checked_mul(16)? + self.bump()?.to_digit(16)?;
        }
        Some(value)
    }

    fn scan_raw_string(&mut self) -> LexResult<String> {
        let start = self.pos;
        loop {
            match self.bump() {
                None => return self.fail("raw string literal not terminated"),
                Some('`') => break,
                Some(_) => {}
            }
        }
        // Go's strconv.Unquote drops carriage returns from raw strings.
        Ok(self.src[start..self.pos - 1].replace('\r', ""))
    }

    /// `'x'`: exactly one (possibly escaped) character.
    fn scan_char_literal(&mut self) -> LexResult<()> {
        let mut count = 0;
        let mut scratch = Vec::new();
        loop {
            match self.bump() {
                None | Some('\n') => return self.fail("character literal not terminated"),
                Some('\'') => break,
                Some('\\') => self.scan_escape('\'', &mut scratch)?,
                Some(_) => {}
            }
            count += 1;
        }
        if count != 1 {
            return self.fail("invalid character literal");
        }
        Ok(())
    }

    /// Go's scanNumber: decimal, `0x`/`0o`/`0b`/legacy-octal integers, floats with exponents.
    fn scan_number(&mut self, seen_dot: bool) -> LexResult<Raw> {
        let start = if seen_dot { self.pos - 1 } else { self.pos };
        let mut is_float = seen_dot;
        let mut prefix = None;
        let mut base = 10;
        let mut has_digits = false;
        let mut invalid_digit = false;
        if !seen_dot {
            if self.peek() == Some('0') {
                self.bump();
                match self.peek().map(|c| c.to_ascii_lowercase()) {
                    Some(p @ ('x' | 'o' | 'b')) => {
                        self.bump();
                        prefix = Some(p);
                        base = match p {
                            'x' => 16,
                            'o' => 8,
                            _ => 2,
                        };
                    }
                    _ => {
                        prefix = Some('0');
                        base = 8;
                        has_digits = true;
                    }
                }
            }
            let (digits, invalid) = self.scan_digits(base);
            has_digits |= digits;
            invalid_digit |= invalid;
            if self.peek() == Some('.') {
                self.bump();
                is_float = true;
            }
        }
        if is_float {
            if matches!(prefix, Some('o' | 'b')) {
                return self.fail("invalid radix point in number");
            }
            has_digits |= self.scan_digits(base).0;
        }
        if !has_digits {
            return self.fail("number has no digits");
        }
        self.scan_exponent(prefix, &mut is_float)?;
        if !is_float && invalid_digit {
            return self.fail("invalid digit in octal literal");
        }
        let text = &self.src[start..self.pos];
        if text.contains('_') && !underscores_separate_digits(text) {
            return self.fail("'_' must separate successive digits");
        }
        let text = text.to_string();
        Ok(if is_float {
            Raw::Float(text)
        } else {
            Raw::Int(text)
        })
    }

    fn scan_exponent(&mut self, prefix: Option<char>, is_float: &mut bool) -> LexResult<()> {
        let marker = self.peek().map(|c| c.to_ascii_lowercase());
        if !matches!(marker, Some('e' | 'p')) {
            if prefix == Some('x') && *is_float {
                return self.fail("hexadecimal mantissa requires a 'p' exponent");
            }
            return Ok(());
        }
        if marker == Some('e') && matches!(prefix, Some('x' | 'o' | 'b')) {
            return self.fail("'e' exponent requires decimal mantissa");
        }
        if marker == Some('p') && prefix != Some('x') {
            return self.fail("'p' exponent requires hexadecimal mantissa");
        }
        self.bump();
        *is_float = true;
        if matches!(self.peek(), Some('+' | '-')) {
            self.bump();
        }
        if !self.scan_digits(10).0 {
            return self.fail("exponent has no digits");
        }
        Ok(())
    }

    /// Consumes digits (and `_`) of `base`; returns (saw a digit, saw a digit too large for base).
    fn scan_digits(&mut self, base: u32) -> (bool, bool) {
        let mut saw_digit = false;
        let mut invalid = false;
        while let Some(c) = self.peek() {
            let accepted = if base <= 10 {
                c.is_ascii_digit()
            } else {
                c.is_ascii_hexdigit()
            };
            if c == '_' {
                self.bump();
                continue;
            }
            if !accepted {
                break;
            }
            saw_digit = true;
            if c.to_digit(10).is_some_and(|d| d >= base) {
                invalid = true;
            }
            self.bump();
        }
        (saw_digit, invalid)
    }
}

fn char_bytes(code: u32) -> Option<Vec<u8>> {
    let c = char::from_u32(code)?;
    let mut buf = [0u8; 4];
    Some(c.encode_utf8(&mut buf).as_bytes().to_vec())
}

/// Go's rule: `_` may only sit between digits (or right after a base prefix).
fn underscores_separate_digits(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut hex = false;
    // previous character class: b'0' digit/prefix, b'_' underscore, b'.' anything else
    let mut prev = b'.';
    if bytes.len() >= 2 && bytes[0] == b'0' && matches!(bytes[1] | 0x20, b'x' | b'o' | b'b') {
        hex = bytes[1] | 0x20 == b'x';
        prev = b'0';
        i = 2;
    }
    for &b in &bytes[i..] {
        if b == b'_' {
            if prev != b'0' {
                return false;
            }
            prev = b'_';
        } else if b.is_ascii_digit() || (hex && b.is_ascii_hexdigit()) {
            prev = b'0';
        } else {
            if prev == b'_' {
                return false;
            }
            prev = b'.';
        }
    }
    prev != b'_'
}

/// Go's `strconv.ParseFloat` for the literals the scanner produces (decimal or hex, `_` allowed).
fn parse_go_float(text: &str) -> Option<f64> {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let lower = cleaned.to_ascii_lowercase();
    match lower.strip_prefix("0x") {
        Some(hex) => parse_hex_float(hex),
        None => lower.parse::<f64>().ok(),
    }
}

/// `1.8p3`-style hexadecimal floats (prefix already removed).
fn parse_hex_float(text: &str) -> Option<f64> {
    let (mantissa, exponent) = text.split_once('p')?;
    let exponent: i32 = exponent.parse().ok()?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut value = 0f64;
    for c in int_part.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(value * 2f64.powi(exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        tokenize(src).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn attributes_and_scopes() {
        assert_eq!(
            kinds("{ span.http.status_code=200 }"),
            vec![
                Tok::OpenBrace,
                Tok::SpanDot,
                Tok::Ident("http.status_code".into()),
                Tok::EndAttribute,
                Tok::Eq,
                Tok::Int(200),
                Tok::CloseBrace,
                Tok::Eof
            ]
        );
        assert_eq!(
            kinds(r#"."foo \"bar\""x"#),
            vec![
                Tok::Dot,
                Tok::Ident("foo \"bar\"x".into()),
                Tok::EndAttribute,
                Tok::Eof
            ]
        );
        assert_eq!(
            kinds("parent.resource.a"),
            vec![
                Tok::ParentDot,
                Tok::ResourceDot,
                Tok::Ident("a".into()),
                Tok::EndAttribute,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn greedy_operators() {
        assert_eq!(
            kinds("&>> !<< != =~ == ~"),
            vec![
                Tok::UnionDesc,
                Tok::NotAnce,
                Tok::Neq,
                Tok::Re,
                Tok::Eq,
                Tok::Eq,
                Tok::Sibl,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(
            kinds("1 1.5 1h30m 2.5ms 010 .5 1e3 minInt"),
            vec![
                Tok::Int(1),
                Tok::Float(1.5),
                Tok::Duration(5_400_000_000_000),
                Tok::Duration(2_500_000),
                Tok::Int(10),
                Tok::Float(0.5),
                Tok::Float(1000.0),
                Tok::Ident("minInt".into()),
                Tok::Eof
            ]
        );
        assert!(matches!(kinds("08").last(), Some(Tok::Error(_))));
        assert!(matches!(kinds("0x10").last(), Some(Tok::Error(_))));
    }

    #[test]
    fn strings_and_comments() {
        assert_eq!(
            kinds("\"a\\tb\\u00e9\" `raw\\n` // trailing"),
            vec![
                Tok::Str("a\tbé".into()),
                Tok::Str("raw\\n".into()),
                Tok::Eof
            ]
        );
        assert!(matches!(kinds("\"abc").last(), Some(Tok::Error(_))));
        assert!(matches!(kinds("/* open").last(), Some(Tok::Error(_))));
    }
}
