//! Tokens → syntax tree, accepting exactly the language of Tempo's LALR grammar (`expr.y`).
//!
//! Tempo's grammar has five pipeline-level forms that can all start with `(`:
//! spanset expressions (`({a}) && {b}`), wrapped pipelines (`({a} | count() > 1) && (...)`),
//! scalar expressions (`(count()) > 1`), wrapped scalar pipelines (`({a} | count()) > 2`) and
//! arithmetic over those. Instead of guessing up front, a parenthesised group is parsed as
//! whatever its contents are and then classified ([`Group`]); each context accepts only the
//! classes the grammar allows there. Where the grammar is ambiguous (`( {a} )` is both a
//! spanset expression and a one-element pipeline) the class chosen is the one yacc's
//! shift preference picks: a spanset expression, usable as a wrapped pipeline only where a
//! spanset expression cannot stand.
//!
//! Field expressions (inside `{}`) use precedence climbing with Tempo's operator table, where
//! `&&` and `||` share one level and `!` binds tighter than `+` but looser than `*`.

use crate::ast::*;
use crate::error::Error;
use crate::lexer::{tokenize, Tok, Token};
use crate::value::{Intrinsic, Kind, Scope, Status, Value};

/// Deepest recursion the parser allows (parentheses, prefix operators, `^` chains).
const MAX_NESTING: usize = 256;
/// A pipeline-level `(` costs this many nesting levels: each one recurses through several
/// large stack frames (64 of them still fit a 2 MiB thread stack in a debug build).
const PIPELINE_PAREN_COST: usize = 4;
/// Deepest syntax tree allowed; bounds recursion in validation and evaluation.
const MAX_TREE_DEPTH: usize = 1024;

/// A parsed node and the depth of its tree.
type Deep<T> = (T, usize);
type PResult<T> = Result<T, Error>;

/// Where a pipeline-level sequence is parsed: the whole query, or inside parentheses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Root,
    Paren,
}

/// What a sequence of pipeline-level tokens turned out to be.
enum Content {
    /// Spanset expression: `{a} && ({b} >> {c})`.
    Spanset(SpansetExpr),
    /// A pipeline that is not just one spanset expression.
    Pipeline(Pipeline),
    /// Operators over wrapped pipelines: `({a} | by(.x)) && ({b})`.
    SpansetPipelineExpr(SpansetExpr),
    /// Arithmetic over aggregates and numbers, not compared: `count() + 1`.
    Scalar(ScalarExpr),
    /// Arithmetic over wrapped scalar pipelines: `({a} | count()) + ({b} | count())`.
    ScalarPipelineExpr(ScalarExpr),
    /// `pipeline | aggregate` directly before `)`.
    ScalarPipeline(Pipeline, Aggregate),
    /// Root only: `pipeline | metrics second-stage...`.
    Metrics(Pipeline, MetricsStage, Vec<SecondStage>),
}

/// A parenthesised group, classified by what it may continue as.
enum Group {
    Spanset(SpansetExpr),
    SpansetPipelineExpr(SpansetExpr),
    Scalar(ScalarExpr),
    ScalarPipelineExpr(ScalarExpr),
}

/// The first operand of a sequence.
enum Head {
    Spanset(SpansetExpr),
    SpansetPipelineExpr(SpansetExpr),
    Scalar(ScalarExpr),
    ScalarPipelineExpr(ScalarExpr),
    Element(PipelineElement),
}

/// Operands allowed in a chain of spanset operators.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SpansetLevel {
    /// `{...}` or parenthesised spanset expressions.
    Plain,
    /// Parenthesised pipelines (and spanset expressions).
    Pipeline,
}

/// Operands allowed in a chain of scalar arithmetic.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScalarLevel {
    /// Aggregates, numbers, `(scalar)`.
    Plain,
    /// `(pipeline | aggregate)` and parenthesised arithmetic over them.
    Pipeline,
}

/// Parses (but does not validate) a query.
pub(crate) fn parse_query(src: &str) -> PResult<Query> {
    let mut parser = Parser {
        src,
        tokens: tokenize(src),
        pos: 0,
        nesting: 0,
    };
    parser.query()
}

struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    pos: usize,
    nesting: usize,
}

// Token access and errors.
impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        // The stream always ends with Eof or Error, and we never advance past it.
        let last = self.tokens.len().saturating_sub(1);
        self.tokens
            .get((self.pos + ahead).min(last))
            .map_or(&Tok::Eof, |t| &t.tok)
    }

    fn advance(&mut self) -> Tok {
        let tok = self.peek().clone();
        if !matches!(tok, Tok::Eof | Tok::Error(_)) {
            self.pos += 1;
        }
        tok
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == tok {
            self.advance();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok, expected: &str) -> PResult<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn offset(&self) -> usize {
        let last = self.tokens.len().saturating_sub(1);
        self.tokens.get(self.pos.min(last)).map_or(0, |t| t.offset)
    }

    /// An error at the current token: "unexpected X, expecting Y" (or the lexer's message).
    fn unexpected(&self, expected: &str) -> Error {
        let message = match self.peek() {
            Tok::Error(msg) => msg.clone(),
            tok => format!("unexpected {}, expecting {expected}", tok.describe()),
        };
        self.error_at(self.offset(), message)
    }

    fn error_at(&self, offset: usize, message: String) -> Error {
        let before = self.src.get(..offset).unwrap_or(self.src);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Error::Parse {
            line,
            column,
            offset,
            message,
        }
    }

    /// Runs `f` one nesting level deeper, failing cleanly instead of overflowing the stack.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        self.nested_by(1, f)
    }

    fn nested_by<T>(&mut self, cost: usize, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.nesting + cost > MAX_NESTING {
            return Err(self.error_at(self.offset(), "query is nested too deeply".to_string()));
        }
        self.nesting += cost;
        let result = f(self);
        self.nesting -= cost;
        result
    }

    fn check_depth(&self, depth: usize) -> PResult<usize> {
        if depth > MAX_TREE_DEPTH {
            return Err(self.error_at(
                self.offset(),
                format!("query is too deeply nested (expression depth over {MAX_TREE_DEPTH})"),
            ));
        }
        Ok(depth)
    }
}

// Pipeline level.
impl Parser<'_> {
    fn query(&mut self) -> PResult<Query> {
        let start = self.offset();
        let (content, _) = self.sequence(Ctx::Root)?;
        let mut query = self.root_query(content, start)?;
        while *self.peek() == Tok::With {
            query.hints = self.hints()?;
        }
        if *self.peek() != Tok::Eof {
            return Err(self.unexpected("'|', 'with' or end of query"));
        }
        Ok(query)
    }

    fn root_query(&mut self, content: Content, start: usize) -> PResult<Query> {
        let pipeline = match content {
            Content::Spanset(se) => single(PipelineElement::Spanset(se)),
            Content::Pipeline(p) => p,
            Content::SpansetPipelineExpr(SpansetExpr::Pipeline(p)) => p,
            Content::SpansetPipelineExpr(se) => single(PipelineElement::Spanset(se)),
            Content::Scalar(_) => return Err(self.unexpected("a comparison operator")),
            Content::ScalarPipelineExpr(lhs) => {
                single(PipelineElement::ScalarFilter(self.root_scalar_filter(lhs)?))
            }
            Content::ScalarPipeline(..) => {
                return Err(self.error_at(start, "unexpected scalar pipeline".to_string()))
            }
            Content::Metrics(pipeline, metrics, second_stage) => {
                return Ok(Query {
                    pipeline,
                    metrics: Some(metrics),
                    second_stage,
                    hints: Vec::new(),
                })
            }
        };
        Ok(Query {
            pipeline,
            metrics: None,
            second_stage: Vec::new(),
            hints: Vec::new(),
        })
    }

    /// `(pipeline | agg) op (pipeline | agg)` or `(pipeline | agg) op static` at the root.
    fn root_scalar_filter(&mut self, lhs: ScalarExpr) -> PResult<ScalarFilter> {
        let Some(op) = comparison_op(self.peek()) else {
            return Err(self.unexpected("a comparison operator"));
        };
        self.advance();
        let rhs = if *self.peek() == Tok::OpenParen {
            let (operand, depth) = self.scalar_operand(ScalarLevel::Pipeline)?;
            self.scalar_ops(operand, depth, 0, ScalarLevel::Pipeline)?.0
        } else {
            ScalarExpr::Static(self.static_value("a value or '('")?)
        };
        Ok(ScalarFilter { op, lhs, rhs })
    }

    /// A pipeline-level sequence: its first operand decides what may follow.
    fn sequence(&mut self, ctx: Ctx) -> PResult<Deep<Content>> {
        let (head, depth) = self.head()?;
        match head {
            Head::Spanset(se) => {
                let (se, depth) = self.spanset_ops(se, depth, 0, SpansetLevel::Plain)?;
                if *self.peek() == Tok::Pipe {
                    self.pipeline_rest(vec![PipelineElement::Spanset(se)], depth, ctx)
                } else {
                    Ok((Content::Spanset(se), depth))
                }
            }
            Head::SpansetPipelineExpr(se) => {
                let (se, depth) = self.spanset_ops(se, depth, 0, SpansetLevel::Pipeline)?;
                Ok((Content::SpansetPipelineExpr(se), depth))
            }
            Head::Scalar(lhs) => {
                let (lhs, depth) = self.scalar_ops(lhs, depth, 0, ScalarLevel::Plain)?;
                if comparison_op(self.peek()).is_none() {
                    return Ok((Content::Scalar(lhs), depth));
                }
                let (filter, depth) = self.scalar_filter_rest(lhs, depth)?;
                self.pipeline_rest(vec![PipelineElement::ScalarFilter(filter)], depth, ctx)
            }
            Head::ScalarPipelineExpr(lhs) => {
                let (lhs, depth) = self.scalar_ops(lhs, depth, 0, ScalarLevel::Pipeline)?;
                Ok((Content::ScalarPipelineExpr(lhs), depth))
            }
            Head::Element(element) => self.pipeline_rest(vec![element], depth, ctx),
        }
    }

    fn head(&mut self) -> PResult<Deep<Head>> {
        match self.peek() {
            Tok::OpenBrace => {
                let (filter, depth) = self.spanset_filter()?;
                Ok((Head::Spanset(filter), depth))
            }
            Tok::OpenParen => {
                let (group, depth) = self.paren_group()?;
                let head = match group {
                    Group::Spanset(se) => Head::Spanset(se),
                    Group::SpansetPipelineExpr(se) => Head::SpansetPipelineExpr(se),
                    Group::Scalar(s) => Head::Scalar(s),
                    Group::ScalarPipelineExpr(s) => Head::ScalarPipelineExpr(s),
                };
                Ok((head, depth))
            }
            Tok::By => {
                let (expr, depth) = self.group_by()?;
                Ok((Head::Element(PipelineElement::GroupBy(expr)), depth))
            }
            Tok::Select => {
                let attrs = self.select()?;
                Ok((Head::Element(PipelineElement::Select(attrs)), 1))
            }
            tok if is_scalar_start(tok) => {
                let (scalar, depth) = self.scalar_operand(ScalarLevel::Plain)?;
                Ok((Head::Scalar(scalar), depth))
            }
            _ => Err(self.unexpected("'{', '(', an aggregate, a number, by() or select()")),
        }
    }

    /// `( ... )` at pipeline level, classified by its contents.
    fn paren_group(&mut self) -> PResult<Deep<Group>> {
        self.expect(&Tok::OpenParen, "'('")?;
        let (content, depth) = self.nested_by(PIPELINE_PAREN_COST, |p| p.sequence(Ctx::Paren))?;
        self.expect(&Tok::CloseParen, "')'")?;
        let depth = self.check_depth(depth + 1)?;
        let group = match content {
            Content::Spanset(se) => Group::Spanset(se),
            Content::Pipeline(p) => Group::SpansetPipelineExpr(SpansetExpr::Pipeline(p)),
            Content::SpansetPipelineExpr(se) => Group::SpansetPipelineExpr(se),
            Content::Scalar(s) => Group::Scalar(s),
            Content::ScalarPipelineExpr(s) => Group::ScalarPipelineExpr(s),
            Content::ScalarPipeline(pipeline, aggregate) => {
                Group::ScalarPipelineExpr(ScalarExpr::Pipeline {
                    pipeline,
                    aggregate,
                })
            }
            Content::Metrics(..) => {
                return Err(self.error_at(
                    self.offset(),
                    "metrics functions cannot be parenthesised".to_string(),
                ))
            }
        };
        Ok((group, depth))
    }

    /// After the first element: `| element` repeated; at the root a metrics function may end it.
    fn pipeline_rest(
        &mut self,
        mut elements: Vec<PipelineElement>,
        mut depth: usize,
        ctx: Ctx,
    ) -> PResult<Deep<Content>> {
        while self.eat(&Tok::Pipe) {
            if ctx == Ctx::Root && is_metrics_function(self.peek()) {
                let metrics = self.metrics_stage()?;
                let second_stage = self.second_stage()?;
                return Ok((
                    Content::Metrics(Pipeline { elements }, metrics, second_stage),
                    depth,
                ));
            }
            if ctx == Ctx::Paren && is_aggregate(self.peek()) {
                let (aggregate, agg_depth) = self.aggregate()?;
                if *self.peek() == Tok::CloseParen {
                    return Ok((
                        Content::ScalarPipeline(Pipeline { elements }, aggregate),
                        depth.max(agg_depth),
                    ));
                }
                let (filter, filter_depth) =
                    self.scalar_filter_from(ScalarExpr::Aggregate(aggregate), agg_depth)?;
                elements.push(PipelineElement::ScalarFilter(filter));
                depth = depth.max(filter_depth);
                continue;
            }
            let (element, element_depth) = self.pipeline_element()?;
            elements.push(element);
            depth = depth.max(element_depth);
        }
        Ok((Content::Pipeline(Pipeline { elements }), depth))
    }

    /// An element after `|`: spanset expression, scalar filter, by(), coalesce() or select().
    fn pipeline_element(&mut self) -> PResult<Deep<PipelineElement>> {
        match self.peek() {
            Tok::OpenBrace => {
                let (filter, depth) = self.spanset_filter()?;
                let (se, depth) = self.spanset_ops(filter, depth, 0, SpansetLevel::Plain)?;
                Ok((PipelineElement::Spanset(se), depth))
            }
            Tok::OpenParen => {
                let start = self.offset();
                match self.paren_group()? {
                    (Group::Spanset(se), depth) => {
                        let (se, depth) = self.spanset_ops(se, depth, 0, SpansetLevel::Plain)?;
                        Ok((PipelineElement::Spanset(se), depth))
                    }
                    (Group::Scalar(s), depth) => {
                        let (filter, depth) = self.scalar_filter_from(s, depth)?;
                        Ok((PipelineElement::ScalarFilter(filter), depth))
                    }
                    _ => Err(self.error_at(
                        start,
                        "a parenthesised pipeline cannot be a pipeline element; expecting a spanset expression or scalar filter".to_string(),
                    )),
                }
            }
            Tok::By => {
                let (expr, depth) = self.group_by()?;
                Ok((PipelineElement::GroupBy(expr), depth))
            }
            Tok::Coalesce => {
                self.advance();
                self.expect(&Tok::OpenParen, "'('")?;
                self.expect(&Tok::CloseParen, "')'")?;
                Ok((PipelineElement::Coalesce, 1))
            }
            Tok::Select => Ok((PipelineElement::Select(self.select()?), 1)),
            tok if is_scalar_start(tok) => {
                let (lhs, depth) = self.scalar_operand(ScalarLevel::Plain)?;
                let (filter, depth) = self.scalar_filter_from(lhs, depth)?;
                Ok((PipelineElement::ScalarFilter(filter), depth))
            }
            _ => Err(self.unexpected(
                "'{', '(', an aggregate, a number, by(), coalesce(), select() or a metrics function",
            )),
        }
    }

    /// Continues a scalar operand into a complete `lhs op rhs` scalar filter.
    fn scalar_filter_from(&mut self, lhs: ScalarExpr, depth: usize) -> PResult<Deep<ScalarFilter>> {
        let (lhs, depth) = self.scalar_ops(lhs, depth, 0, ScalarLevel::Plain)?;
        if comparison_op(self.peek()).is_none() {
            return Err(self.unexpected("a comparison operator"));
        }
        self.scalar_filter_rest(lhs, depth)
    }

    /// `op rhs` of a scalar filter; the right side takes all arithmetic that follows.
    fn scalar_filter_rest(&mut self, lhs: ScalarExpr, depth: usize) -> PResult<Deep<ScalarFilter>> {
        let Some(op) = comparison_op(self.peek()) else {
            return Err(self.unexpected("a comparison operator"));
        };
        self.advance();
        let (rhs, rhs_depth) = self.scalar_operand(ScalarLevel::Plain)?;
        let (rhs, rhs_depth) = self.scalar_ops(rhs, rhs_depth, 0, ScalarLevel::Plain)?;
        let depth = self.check_depth(depth.max(rhs_depth) + 1)?;
        Ok((ScalarFilter { op, lhs, rhs }, depth))
    }

    /// Precedence climbing over spanset operators (`&&`/`||` bind looser than structural ones).
    fn spanset_ops(
        &mut self,
        mut lhs: SpansetExpr,
        mut depth: usize,
        min_prec: u8,
        level: SpansetLevel,
    ) -> PResult<Deep<SpansetExpr>> {
        while let Some((op, prec)) = spanset_op(self.peek()) {
            if prec < min_prec {
                break;
            }
            self.advance();
            let (rhs, rhs_depth) = self.spanset_operand(level)?;
            let (rhs, rhs_depth) =
                self.nested(|p| p.spanset_ops(rhs, rhs_depth, prec + 1, level))?;
            depth = self.check_depth(depth.max(rhs_depth) + 1)?;
            lhs = SpansetExpr::Op {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok((lhs, depth))
    }

    fn spanset_operand(&mut self, level: SpansetLevel) -> PResult<Deep<SpansetExpr>> {
        let start = self.offset();
        match (self.peek(), level) {
            (Tok::OpenBrace, SpansetLevel::Plain) => self.spanset_filter(),
            (Tok::OpenParen, _) => match (self.paren_group()?, level) {
                ((Group::Spanset(se), depth), _) => Ok((se, depth)),
                ((Group::SpansetPipelineExpr(se), depth), SpansetLevel::Pipeline) => {
                    Ok((se, depth))
                }
                ((Group::SpansetPipelineExpr(_), _), SpansetLevel::Plain) => {
                    Err(self.error_at(
                        start,
                        "a parenthesised pipeline can only be combined with another parenthesised pipeline (a parenthesised spanset filter is not one here)".to_string(),
                    ))
                }
                _ => Err(self.error_at(
                    start,
                    "expecting a spanset expression, found a scalar expression".to_string(),
                )),
            },
            (_, SpansetLevel::Plain) => Err(self.unexpected("'{' or '('")),
            (_, SpansetLevel::Pipeline) => Err(self.unexpected("'(' (a parenthesised pipeline)")),
        }
    }

    /// `{}` or `{ expr }`.
    fn spanset_filter(&mut self) -> PResult<Deep<SpansetExpr>> {
        self.expect(&Tok::OpenBrace, "'{'")?;
        if self.eat(&Tok::CloseBrace) {
            return Ok((SpansetExpr::Filter(FieldExpr::Static(Value::Bool(true))), 1));
        }
        let (expr, depth) = self.field_expr(0)?;
        self.expect(&Tok::CloseBrace, "'}' or an operator")?;
        let depth = self.check_depth(depth + 1)?;
        Ok((SpansetExpr::Filter(expr), depth))
    }

    /// Precedence climbing over scalar arithmetic.
    fn scalar_ops(
        &mut self,
        mut lhs: ScalarExpr,
        mut depth: usize,
        min_prec: u8,
        level: ScalarLevel,
    ) -> PResult<Deep<ScalarExpr>> {
        while let Some((op, prec)) = arithmetic_op(self.peek()) {
            if prec < min_prec {
                break;
            }
            self.advance();
            let (rhs, rhs_depth) = self.scalar_operand(level)?;
            let next_min = if op == ArithmeticOp::Pow {
                prec
            } else {
                prec + 1
            };
            let (rhs, rhs_depth) =
                self.nested(|p| p.scalar_ops(rhs, rhs_depth, next_min, level))?;
            depth = self.check_depth(depth.max(rhs_depth) + 1)?;
            lhs = ScalarExpr::Op {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok((lhs, depth))
    }

    fn scalar_operand(&mut self, level: ScalarLevel) -> PResult<Deep<ScalarExpr>> {
        let start = self.offset();
        if *self.peek() == Tok::OpenParen {
            return match (self.paren_group()?, level) {
                ((Group::Scalar(s), depth), ScalarLevel::Plain) => Ok((s, depth)),
                ((Group::ScalarPipelineExpr(s), depth), ScalarLevel::Pipeline) => Ok((s, depth)),
                (_, ScalarLevel::Plain) => Err(self.error_at(
                    start,
                    "expecting a scalar expression (aggregate or number)".to_string(),
                )),
                (_, ScalarLevel::Pipeline) => Err(self.error_at(
                    start,
                    "expecting a parenthesised scalar pipeline such as ({ ... } | count())"
                        .to_string(),
                )),
            };
        }
        if level == ScalarLevel::Pipeline {
            return Err(self.unexpected("'('"));
        }
        if is_aggregate(self.peek()) {
            let (aggregate, depth) = self.aggregate()?;
            return Ok((ScalarExpr::Aggregate(aggregate), depth));
        }
        Ok((ScalarExpr::Static(self.number_literal()?), 1))
    }

    /// `1`, `1.5`, `1s`, or one of them negated (the only scalar literals Tempo accepts).
    fn number_literal(&mut self) -> PResult<Value<'static>> {
        let negative = self.eat(&Tok::Sub);
        let value = match self.peek() {
            Tok::Int(i) => Value::Int(if negative { i.wrapping_neg() } else { *i }),
            Tok::Float(f) => Value::Float(if negative { -f } else { *f }),
            Tok::Duration(d) => Value::Duration(if negative { d.wrapping_neg() } else { *d }),
            _ => return Err(self.unexpected("a number, duration or aggregate")),
        };
        self.advance();
        Ok(value)
    }

    /// `count()`, `avg(expr)`, `min(expr)`, `max(expr)`, `sum(expr)`.
    fn aggregate(&mut self) -> PResult<Deep<Aggregate>> {
        let op = match self.advance() {
            Tok::Count => AggregateOp::Count,
            Tok::Avg => AggregateOp::Avg,
            Tok::Min => AggregateOp::Min,
            Tok::Max => AggregateOp::Max,
            Tok::Sum => AggregateOp::Sum,
            _ => return Err(self.unexpected("an aggregate")),
        };
        self.expect(&Tok::OpenParen, "'('")?;
        if op == AggregateOp::Count {
            self.expect(&Tok::CloseParen, "')'")?;
            return Ok((Aggregate { op, expr: None }, 1));
        }
        let (expr, depth) = self.nested(|p| p.field_expr(0))?;
        self.expect(&Tok::CloseParen, "')' or an operator")?;
        let depth = self.check_depth(depth + 1)?;
        Ok((
            Aggregate {
                op,
                expr: Some(expr),
            },
            depth,
        ))
    }

    fn group_by(&mut self) -> PResult<Deep<FieldExpr>> {
        self.expect(&Tok::By, "'by'")?;
        self.expect(&Tok::OpenParen, "'('")?;
        let (expr, depth) = self.nested(|p| p.field_expr(0))?;
        self.expect(&Tok::CloseParen, "')' or an operator")?;
        Ok((expr, self.check_depth(depth + 1)?))
    }

    fn select(&mut self) -> PResult<Vec<Attribute>> {
        self.expect(&Tok::Select, "'select'")?;
        self.expect(&Tok::OpenParen, "'('")?;
        let attrs = self.attribute_list()?;
        self.expect(&Tok::CloseParen, "',' or ')'")?;
        Ok(attrs)
    }

    fn attribute_list(&mut self) -> PResult<Vec<Attribute>> {
        let mut attrs = vec![self.attribute()?];
        while self.eat(&Tok::Comma) {
            attrs.push(self.attribute()?);
        }
        Ok(attrs)
    }

    fn attribute(&mut self) -> PResult<Attribute> {
        match self.try_attribute()? {
            Some(attr) => Ok(attr),
            None => Err(self.unexpected("an attribute or intrinsic")),
        }
    }

    fn hints(&mut self) -> PResult<Vec<Hint>> {
        self.expect(&Tok::With, "'with'")?;
        self.expect(&Tok::OpenParen, "'('")?;
        let mut hints = Vec::new();
        loop {
            let name = match self.peek() {
                Tok::Ident(name) => name.clone(),
                _ => return Err(self.unexpected("a hint name")),
            };
            self.advance();
            self.expect(&Tok::Eq, "'='")?;
            let value = self.static_value("a value")?;
            hints.push(Hint { name, value });
            if !self.eat(&Tok::Comma) {
                break;
            }
        }
        self.expect(&Tok::CloseParen, "',' or ')'")?;
        Ok(hints)
    }
}

// Metrics.
impl Parser<'_> {
    fn metrics_stage(&mut self) -> PResult<MetricsStage> {
        let function = match self.advance() {
            Tok::Rate => MetricsFunction::Rate,
            Tok::CountOverTime => MetricsFunction::CountOverTime,
            Tok::MinOverTime => MetricsFunction::MinOverTime,
            Tok::MaxOverTime => MetricsFunction::MaxOverTime,
            Tok::AvgOverTime => MetricsFunction::AvgOverTime,
            Tok::SumOverTime => MetricsFunction::SumOverTime,
            Tok::QuantileOverTime => MetricsFunction::QuantileOverTime,
            Tok::HistogramOverTime => MetricsFunction::HistogramOverTime,
            Tok::Compare => return self.compare(),
            _ => return Err(self.unexpected("a metrics function")),
        };
        self.expect(&Tok::OpenParen, "'('")?;
        let mut attribute = None;
        let mut quantiles = Vec::new();
        if !matches!(
            function,
            MetricsFunction::Rate | MetricsFunction::CountOverTime
        ) {
            attribute = Some(self.attribute()?);
        }
        if function == MetricsFunction::QuantileOverTime {
            self.expect(&Tok::Comma, "','")?;
            quantiles = self.numeric_list()?;
        }
        self.expect(&Tok::CloseParen, "')'")?;
        let mut by = Vec::new();
        if self.eat(&Tok::By) {
            self.expect(&Tok::OpenParen, "'('")?;
            by = self.attribute_list()?;
            self.expect(&Tok::CloseParen, "',' or ')'")?;
        }
        Ok(MetricsStage::Aggregate {
            function,
            attribute,
            quantiles,
            by,
        })
    }

    /// `compare({filter})`, `compare({filter}, n)` or `compare({filter}, n, start, end)`.
    fn compare(&mut self) -> PResult<MetricsStage> {
        self.expect(&Tok::OpenParen, "'('")?;
        let filter = match self.spanset_filter()?.0 {
            SpansetExpr::Filter(expr) => expr,
            _ => return Err(self.unexpected("a spanset filter")),
        };
        let mut numbers = Vec::new();
        while self.eat(&Tok::Comma) {
            match self.peek() {
                Tok::Int(i) => numbers.push(*i),
                _ => return Err(self.unexpected("an integer")),
            }
            self.advance();
        }
        if numbers.len() > 3 || numbers.len() == 2 {
            return Err(self.unexpected("',' (compare takes 1, 2 or 4 arguments)"));
        }
        self.expect(&Tok::CloseParen, "',' or ')'")?;
        Ok(MetricsStage::Compare {
            filter,
            top_n: numbers.first().copied().unwrap_or(10),
            start: numbers.get(1).copied().unwrap_or(0),
            end: numbers.get(2).copied().unwrap_or(0),
        })
    }

    fn numeric_list(&mut self) -> PResult<Vec<f64>> {
        let mut values = Vec::new();
        loop {
            match self.peek() {
                Tok::Int(i) => values.push(*i as f64),
                Tok::Float(f) => values.push(*f),
                _ => return Err(self.unexpected("a number")),
            }
            self.advance();
            if !(*self.peek() == Tok::Comma
                && matches!(self.peek_at(1), Tok::Int(_) | Tok::Float(_)))
            {
                return Ok(values);
            }
            self.advance();
        }
    }

    /// `| topk(n)`, `| bottomk(n)` and `op number` filters after a metrics function.
    fn second_stage(&mut self) -> PResult<Vec<SecondStage>> {
        let mut stages = Vec::new();
        loop {
            if self.eat(&Tok::Pipe) {
                let top = match self.advance() {
                    Tok::Topk => true,
                    Tok::Bottomk => false,
                    _ => return Err(self.unexpected("topk or bottomk")),
                };
                self.expect(&Tok::OpenParen, "'('")?;
                let limit = match self.peek() {
                    Tok::Int(i) => *i,
                    _ => return Err(self.unexpected("an integer")),
                };
                self.advance();
                self.expect(&Tok::CloseParen, "')'")?;
                stages.push(if top {
                    SecondStage::TopK(limit)
                } else {
                    SecondStage::BottomK(limit)
                });
            } else if let Some(op) = comparison_op(self.peek()) {
                self.advance();
                let value = match self.number_literal()? {
                    Value::Int(i) => i as f64,
                    Value::Float(f) => f,
                    // Durations compare against metric values in seconds.
                    Value::Duration(ns) => ns as f64 / 1e9,
                    _ => 0.0,
                };
                stages.push(SecondStage::Filter { op, value });
            } else {
                return Ok(stages);
            }
        }
    }
}

// Field expressions.
impl Parser<'_> {
    /// Precedence climbing over field operators; `min_prec` is the loosest operator accepted.
    fn field_expr(&mut self, min_prec: u8) -> PResult<Deep<FieldExpr>> {
        let (mut lhs, mut depth) = self.field_operand()?;
        while let Some((op, prec)) = field_binary_op(self.peek()) {
            if prec < min_prec {
                break;
            }
            self.advance();
            // `x = nil` / `x != nil` test existence; nil binds to the comparison before it.
            if matches!(op, BinaryOp::Eq | BinaryOp::Neq) && self.eat(&Tok::Nil) {
                let unary = if op == BinaryOp::Eq {
                    UnaryOp::NotExists
                } else {
                    UnaryOp::Exists
                };
                lhs = FieldExpr::Unary(unary, Box::new(lhs));
                depth = self.check_depth(depth + 1)?;
                continue;
            }
            let next_min = if op == BinaryOp::Pow { prec } else { prec + 1 };
            let (rhs, rhs_depth) = self.nested(|p| p.field_expr(next_min))?;
            depth = self.check_depth(depth.max(rhs_depth) + 1)?;
            lhs = binary(op, lhs, rhs);
        }
        Ok((lhs, depth))
    }

    fn field_operand(&mut self) -> PResult<Deep<FieldExpr>> {
        match self.peek() {
            Tok::OpenParen => {
                self.advance();
                let (expr, depth) = self.nested(|p| p.field_expr(0))?;
                self.expect(&Tok::CloseParen, "')' or an operator")?;
                Ok((expr, depth))
            }
            Tok::Nil => self.nil_comparison(),
            Tok::Sub => {
                self.advance();
                let (expr, depth) = self.nested(|p| p.field_expr(PREC_NOT))?;
                Ok((negate(expr), self.check_depth(depth + 1)?))
            }
            Tok::Not => {
                self.advance();
                let (expr, depth) = self.nested(|p| p.field_expr(PREC_MUL))?;
                Ok((
                    FieldExpr::Unary(UnaryOp::Not, Box::new(expr)),
                    self.check_depth(depth + 1)?,
                ))
            }
            tok if is_static_start(tok) => {
                Ok((FieldExpr::Static(self.static_value("a value")?), 1))
            }
            _ => match self.try_attribute()? {
                Some(attr) => Ok((FieldExpr::Attribute(attr), 1)),
                None => Err(self.unexpected("a value")),
            },
        }
    }

    /// `nil = x`, `nil != x`, `nil = nil` (always false, as in Tempo).
    fn nil_comparison(&mut self) -> PResult<Deep<FieldExpr>> {
        self.expect(&Tok::Nil, "nil")?;
        let exists = match self.peek() {
            Tok::Eq => false,
            Tok::Neq => true,
            _ => return Err(self.unexpected("'=' or '!=' after nil")),
        };
        self.advance();
        if self.eat(&Tok::Nil) {
            return Ok((FieldExpr::Static(Value::Bool(false)), 1));
        }
        let (expr, depth) = self.nested(|p| p.field_expr(PREC_COMPARISON + 1))?;
        let unary = if exists {
            UnaryOp::Exists
        } else {
            UnaryOp::NotExists
        };
        Ok((
            FieldExpr::Unary(unary, Box::new(expr)),
            self.check_depth(depth + 1)?,
        ))
    }

    /// Literal values: strings, numbers, durations, booleans, status and kind keywords,
    /// and the identifiers `minInt` / `maxInt`.
    fn static_value(&mut self, expected: &str) -> PResult<Value<'static>> {
        let value = match self.peek() {
            Tok::Str(s) => Value::String(s.clone().into()),
            Tok::Int(i) => Value::Int(*i),
            Tok::Float(f) => Value::Float(*f),
            Tok::Duration(d) => Value::Duration(*d),
            Tok::True => Value::Bool(true),
            Tok::False => Value::Bool(false),
            Tok::StatusOk => Value::Status(Status::Ok),
            Tok::StatusError => Value::Status(Status::Error),
            Tok::StatusUnset => Value::Status(Status::Unset),
            Tok::KindUnspecified => Value::Kind(Kind::Unspecified),
            Tok::KindInternal => Value::Kind(Kind::Internal),
            Tok::KindServer => Value::Kind(Kind::Server),
            Tok::KindClient => Value::Kind(Kind::Client),
            Tok::KindProducer => Value::Kind(Kind::Producer),
            Tok::KindConsumer => Value::Kind(Kind::Consumer),
            Tok::Ident(name) if name == "minInt" => Value::Int(i64::MIN),
            Tok::Ident(name) if name == "maxInt" => Value::Int(i64::MAX),
            Tok::Ident(name) => {
                let message = format!(
                    "unknown identifier {name:?} (attribute names start with '.', 'span.' or 'resource.')"
                );
                return Err(self.error_at(self.offset(), message));
            }
            _ => return Err(self.unexpected(expected)),
        };
        self.advance();
        Ok(value)
    }

    /// Intrinsics (`name`, `span:id`, ...) and attributes (`.a`, `resource."x y"`, ...).
    fn try_attribute(&mut self) -> PResult<Option<Attribute>> {
        if let Some(intrinsic) = plain_intrinsic(self.peek()) {
            self.advance();
            return Ok(Some(Attribute::Intrinsic(intrinsic)));
        }
        let tok = self.peek().clone();
        if let Some(scope_name) = colon_scope(&tok) {
            self.advance();
            let intrinsic = scoped_intrinsic(&tok, self.peek()).ok_or_else(|| {
                self.unexpected(&format!("an intrinsic name after '{scope_name}:'"))
            })?;
            self.advance();
            return Ok(Some(Attribute::Intrinsic(intrinsic)));
        }
        let (scope, parent) = match tok {
            Tok::Dot => (Scope::Unscoped, false),
            Tok::ResourceDot => (Scope::Resource, false),
            Tok::SpanDot => (Scope::Span, false),
            Tok::EventDot => (Scope::Event, false),
            Tok::LinkDot => (Scope::Link, false),
            Tok::InstrumentationDot => (Scope::Instrumentation, false),
            Tok::ParentDot => {
                self.advance();
                let scope = match self.peek() {
                    Tok::ResourceDot => Scope::Resource,
                    Tok::SpanDot => Scope::Span,
                    _ => Scope::Unscoped,
                };
                if scope != Scope::Unscoped {
                    self.advance();
                }
                return self.attribute_name(scope, true).map(Some);
            }
            _ => return Ok(None),
        };
        self.advance();
        self.attribute_name(scope, parent).map(Some)
    }

    fn attribute_name(&mut self, scope: Scope, parent: bool) -> PResult<Attribute> {
        let name = match self.peek() {
            Tok::Ident(name) => name.clone(),
            _ => return Err(self.unexpected("an attribute name")),
        };
        self.advance();
        self.expect(&Tok::EndAttribute, "end of attribute name")?;
        Ok(Attribute::Named {
            scope,
            parent,
            name,
        })
    }
}

const PREC_OR_AND: u8 = 2;
const PREC_COMPARISON: u8 = 3;
const PREC_ADD: u8 = 4;
const PREC_NOT: u8 = 5;
const PREC_MUL: u8 = 6;
const PREC_POW: u8 = 7;

fn single(element: PipelineElement) -> Pipeline {
    Pipeline {
        elements: vec![element],
    }
}

/// `-x`, folded into the literal when `x` is a number (Tempo folds constant expressions too).
fn negate(expr: FieldExpr) -> FieldExpr {
    match expr {
        FieldExpr::Static(Value::Int(i)) => FieldExpr::Static(Value::Int(i.wrapping_neg())),
        FieldExpr::Static(Value::Float(f)) => FieldExpr::Static(Value::Float(-f)),
        FieldExpr::Static(Value::Duration(d)) => {
            FieldExpr::Static(Value::Duration(d.wrapping_neg()))
        }
        other => FieldExpr::Unary(UnaryOp::Neg, Box::new(other)),
    }
}

/// Builds `lhs op rhs`. Like Tempo, a string compared with `trace:id` loses its leading
/// zeros, because trace IDs are rendered as hex without them.
fn binary(op: BinaryOp, mut lhs: FieldExpr, mut rhs: FieldExpr) -> FieldExpr {
    let is_trace_id = |e: &FieldExpr| {
        matches!(
            e,
            FieldExpr::Attribute(Attribute::Intrinsic(Intrinsic::TraceId))
        )
    };
    if is_trace_id(&lhs) {
        trim_leading_zeros(&mut rhs);
    }
    if is_trace_id(&rhs) {
        trim_leading_zeros(&mut lhs);
    }
    FieldExpr::Binary(Box::new(BinaryExpr::new(op, lhs, rhs)))
}

fn trim_leading_zeros(expr: &mut FieldExpr) {
    if let FieldExpr::Static(Value::String(s)) = expr {
        let trimmed = s.trim_start_matches('0');
        if trimmed.len() != s.len() {
            *s = trimmed.to_string().into();
        }
    }
}

fn field_binary_op(tok: &Tok) -> Option<(BinaryOp, u8)> {
    let op = match tok {
        Tok::Or => (BinaryOp::Or, PREC_OR_AND),
        Tok::And => (BinaryOp::And, PREC_OR_AND),
        Tok::Eq => (BinaryOp::Eq, PREC_COMPARISON),
        Tok::Neq => (BinaryOp::Neq, PREC_COMPARISON),
        Tok::Lt => (BinaryOp::Lt, PREC_COMPARISON),
        Tok::Lte => (BinaryOp::Lte, PREC_COMPARISON),
        Tok::Gt => (BinaryOp::Gt, PREC_COMPARISON),
        Tok::Gte => (BinaryOp::Gte, PREC_COMPARISON),
        Tok::Re => (BinaryOp::Regex, PREC_COMPARISON),
        Tok::Nre => (BinaryOp::NotRegex, PREC_COMPARISON),
        Tok::Add => (BinaryOp::Add, PREC_ADD),
        Tok::Sub => (BinaryOp::Sub, PREC_ADD),
        Tok::Mul => (BinaryOp::Mul, PREC_MUL),
        Tok::Div => (BinaryOp::Div, PREC_MUL),
        Tok::Mod => (BinaryOp::Mod, PREC_MUL),
        Tok::Pow => (BinaryOp::Pow, PREC_POW),
        _ => return None,
    };
    Some(op)
}

fn arithmetic_op(tok: &Tok) -> Option<(ArithmeticOp, u8)> {
    let op = match tok {
        Tok::Add => (ArithmeticOp::Add, PREC_ADD),
        Tok::Sub => (ArithmeticOp::Sub, PREC_ADD),
        Tok::Mul => (ArithmeticOp::Mul, PREC_MUL),
        Tok::Div => (ArithmeticOp::Div, PREC_MUL),
        Tok::Mod => (ArithmeticOp::Mod, PREC_MUL),
        Tok::Pow => (ArithmeticOp::Pow, PREC_POW),
        _ => return None,
    };
    Some(op)
}

fn spanset_op(tok: &Tok) -> Option<(SpansetOp, u8)> {
    let op = match tok {
        Tok::And => SpansetOp::And,
        Tok::Or => SpansetOp::Union,
        Tok::Gt => SpansetOp::Child,
        Tok::Lt => SpansetOp::Parent,
        Tok::Desc => SpansetOp::Descendant,
        Tok::Ance => SpansetOp::Ancestor,
        Tok::Sibl => SpansetOp::Sibling,
        Tok::NotChild => SpansetOp::NotChild,
        Tok::NotParent => SpansetOp::NotParent,
        Tok::NotDesc => SpansetOp::NotDescendant,
        Tok::NotAnce => SpansetOp::NotAncestor,
        Tok::Nre => SpansetOp::NotSibling,
        Tok::UnionChild => SpansetOp::UnionChild,
        Tok::UnionParent => SpansetOp::UnionParent,
        Tok::UnionDesc => SpansetOp::UnionDescendant,
        Tok::UnionAnce => SpansetOp::UnionAncestor,
        Tok::UnionSibl => SpansetOp::UnionSibling,
        _ => return None,
    };
    let prec = if matches!(op, SpansetOp::And | SpansetOp::Union) {
        PREC_OR_AND
    } else {
        PREC_COMPARISON
    };
    Some((op, prec))
}

fn comparison_op(tok: &Tok) -> Option<ComparisonOp> {
    match tok {
        Tok::Eq => Some(ComparisonOp::Eq),
        Tok::Neq => Some(ComparisonOp::Neq),
        Tok::Lt => Some(ComparisonOp::Lt),
        Tok::Lte => Some(ComparisonOp::Lte),
        Tok::Gt => Some(ComparisonOp::Gt),
        Tok::Gte => Some(ComparisonOp::Gte),
        _ => None,
    }
}

fn is_aggregate(tok: &Tok) -> bool {
    matches!(tok, Tok::Count | Tok::Avg | Tok::Min | Tok::Max | Tok::Sum)
}

fn is_scalar_start(tok: &Tok) -> bool {
    is_aggregate(tok)
        || matches!(
            tok,
            Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) | Tok::Sub
        )
}

fn is_metrics_function(tok: &Tok) -> bool {
    matches!(
        tok,
        Tok::Rate
            | Tok::CountOverTime
            | Tok::MinOverTime
            | Tok::MaxOverTime
            | Tok::AvgOverTime
            | Tok::SumOverTime
            | Tok::QuantileOverTime
            | Tok::HistogramOverTime
            | Tok::Compare
    )
}

fn is_static_start(tok: &Tok) -> bool {
    matches!(
        tok,
        Tok::Str(_)
            | Tok::Int(_)
            | Tok::Float(_)
            | Tok::Duration(_)
            | Tok::True
            | Tok::False
            | Tok::StatusOk
            | Tok::StatusError
            | Tok::StatusUnset
            | Tok::KindUnspecified
            | Tok::KindInternal
            | Tok::KindServer
            | Tok::KindClient
            | Tok::KindProducer
            | Tok::KindConsumer
            | Tok::Ident(_)
    )
}

/// Intrinsics written without a scope (`duration`, `rootServiceName`, ...).
fn plain_intrinsic(tok: &Tok) -> Option<Intrinsic> {
    let intrinsic = match tok {
        Tok::IDuration => Intrinsic::Duration,
        Tok::Name => Intrinsic::Name,
        Tok::Status => Intrinsic::Status,
        Tok::StatusMessage => Intrinsic::StatusMessage,
        Tok::Kind => Intrinsic::Kind,
        Tok::Parent => Intrinsic::Parent,
        Tok::RootName => Intrinsic::TraceRootSpan,
        Tok::RootServiceName => Intrinsic::TraceRootService,
        Tok::TraceDuration => Intrinsic::TraceDuration,
        Tok::NestedSetLeft => Intrinsic::NestedSetLeft,
        Tok::NestedSetRight => Intrinsic::NestedSetRight,
        Tok::NestedSetParent => Intrinsic::NestedSetParent,
        _ => return None,
    };
    Some(intrinsic)
}

fn colon_scope(tok: &Tok) -> Option<&'static str> {
    match tok {
        Tok::TraceColon => Some("trace"),
        Tok::SpanColon => Some("span"),
        Tok::EventColon => Some("event"),
        Tok::LinkColon => Some("link"),
        Tok::InstrumentationColon => Some("instrumentation"),
        _ => None,
    }
}

/// `scope:name` intrinsics; only the combinations Tempo defines.
fn scoped_intrinsic(scope: &Tok, name: &Tok) -> Option<Intrinsic> {
    let intrinsic = match (scope, name) {
        (Tok::TraceColon, Tok::IDuration) => Intrinsic::TraceDuration,
        (Tok::TraceColon, Tok::RootName) => Intrinsic::TraceRootSpan,
        (Tok::TraceColon, Tok::RootService) => Intrinsic::TraceRootService,
        (Tok::TraceColon, Tok::Id) => Intrinsic::TraceId,
        (Tok::SpanColon, Tok::IDuration) => Intrinsic::Duration,
        (Tok::SpanColon, Tok::Name) => Intrinsic::Name,
        (Tok::SpanColon, Tok::Kind) => Intrinsic::Kind,
        (Tok::SpanColon, Tok::Status) => Intrinsic::Status,
        (Tok::SpanColon, Tok::StatusMessage) => Intrinsic::StatusMessage,
        (Tok::SpanColon, Tok::Id) => Intrinsic::SpanId,
        (Tok::SpanColon, Tok::ParentId) => Intrinsic::ParentId,
        (Tok::SpanColon, Tok::ChildCount) => Intrinsic::ChildCount,
        (Tok::EventColon, Tok::Name) => Intrinsic::EventName,
        (Tok::EventColon, Tok::TimeSinceStart) => Intrinsic::EventTimeSinceStart,
        (Tok::LinkColon, Tok::TraceId) => Intrinsic::LinkTraceId,
        (Tok::LinkColon, Tok::SpanId) => Intrinsic::LinkSpanId,
        (Tok::InstrumentationColon, Tok::Name) => Intrinsic::InstrumentationName,
        (Tok::InstrumentationColon, Tok::Version) => Intrinsic::InstrumentationVersion,
        _ => return None,
    };
    Some(intrinsic)
}
