//! The syntax tree of a TraceQL query, shaped like Tempo's.
//!
//! A query is a [`Pipeline`] of elements separated by `|`, optionally followed by a metrics
//! function (`| rate() by (...)`) and second-stage functions (`| topk(5)`, `> 10`), and
//! `with(...)` hints.

use std::fmt;

use crate::value::{Intrinsic, Scope, Value};

/// A parsed, validated query. Build one with [`crate::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The spanset pipeline (the whole query for a search).
    pub pipeline: Pipeline,
    /// `| rate()`, `| quantile_over_time(...)`, ...: makes this a metrics query.
    pub metrics: Option<MetricsStage>,
    /// `| topk(n)`, `| bottomk(n)` and comparisons applied to metrics results, in order.
    pub second_stage: Vec<SecondStage>,
    /// The last `with(...)` clause.
    pub hints: Vec<Hint>,
}

/// Elements applied left to right to each trace's spansets.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub elements: Vec<PipelineElement>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PipelineElement {
    /// `{ ... }` and combinations of them.
    Spanset(SpansetExpr),
    /// `count() > 2`, `avg(duration) > 1s`, ...
    ScalarFilter(ScalarFilter),
    /// `by(expr)`
    GroupBy(FieldExpr),
    /// `coalesce()`
    Coalesce,
    /// `select(attr, ...)`
    Select(Vec<Attribute>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum SpansetExpr {
    /// `{ expr }`; `{}` is `{ true }`.
    Filter(FieldExpr),
    /// `lhs op rhs`, e.g. `{a} && {b}`, `{a} >> {b}`.
    Op {
        op: SpansetOp,
        lhs: Box<SpansetExpr>,
        rhs: Box<SpansetExpr>,
    },
    /// A parenthesised pipeline used as an operand: `({a} | count() > 1) && ({b})`.
    Pipeline(Pipeline),
}

/// Operators between spansets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpansetOp {
    /// `&&`: both sides match; result is the union of their spans.
    And,
    /// `||`
    Union,
    /// `>`
    Child,
    /// `<`
    Parent,
    /// `>>`
    Descendant,
    /// `<<`
    Ancestor,
    /// `~`
    Sibling,
    /// `!>`
    NotChild,
    /// `!<`
    NotParent,
    /// `!>>`
    NotDescendant,
    /// `!<<`
    NotAncestor,
    /// `!~`
    NotSibling,
    /// `&>`
    UnionChild,
    /// `&<`
    UnionParent,
    /// `&>>`
    UnionDescendant,
    /// `&<<`
    UnionAncestor,
    /// `&~`
    UnionSibling,
}

impl SpansetOp {
    pub fn symbol(self) -> &'static str {
        match self {
            SpansetOp::And => "&&",
            SpansetOp::Union => "||",
            SpansetOp::Child => ">",
            SpansetOp::Parent => "<",
            SpansetOp::Descendant => ">>",
            SpansetOp::Ancestor => "<<",
            SpansetOp::Sibling => "~",
            SpansetOp::NotChild => "!>",
            SpansetOp::NotParent => "!<",
            SpansetOp::NotDescendant => "!>>",
            SpansetOp::NotAncestor => "!<<",
            SpansetOp::NotSibling => "!~",
            SpansetOp::UnionChild => "&>",
            SpansetOp::UnionParent => "&<",
            SpansetOp::UnionDescendant => "&>>",
            SpansetOp::UnionAncestor => "&<<",
            SpansetOp::UnionSibling => "&~",
        }
    }
}

/// `lhs op rhs` between scalars, e.g. `count() > 2`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarFilter {
    pub op: ComparisonOp,
    pub lhs: ScalarExpr,
    pub rhs: ScalarExpr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComparisonOp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl ComparisonOp {
    pub fn symbol(self) -> &'static str {
        match self {
            ComparisonOp::Eq => "=",
            ComparisonOp::Neq => "!=",
            ComparisonOp::Lt => "<",
            ComparisonOp::Lte => "<=",
            ComparisonOp::Gt => ">",
            ComparisonOp::Gte => ">=",
        }
    }

    /// Applies the comparison to an ordering of `lhs` relative to `rhs`.
    pub(crate) fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            ComparisonOp::Eq => ordering == Equal,
            ComparisonOp::Neq => ordering != Equal,
            ComparisonOp::Lt => ordering == Less,
            ComparisonOp::Lte => ordering != Greater,
            ComparisonOp::Gt => ordering == Greater,
            ComparisonOp::Gte => ordering != Less,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScalarExpr {
    Static(Value<'static>),
    Aggregate(Aggregate),
    Op {
        op: ArithmeticOp,
        lhs: Box<ScalarExpr>,
        rhs: Box<ScalarExpr>,
    },
    /// `({ ... } | count())`: a pipeline ending in an aggregate.
    Pipeline {
        pipeline: Pipeline,
        aggregate: Aggregate,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithmeticOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl ArithmeticOp {
    pub fn symbol(self) -> &'static str {
        match self {
            ArithmeticOp::Add => "+",
            ArithmeticOp::Sub => "-",
            ArithmeticOp::Mul => "*",
            ArithmeticOp::Div => "/",
            ArithmeticOp::Mod => "%",
            ArithmeticOp::Pow => "^",
        }
    }

    pub(crate) fn as_binary(self) -> BinaryOp {
        match self {
            ArithmeticOp::Add => BinaryOp::Add,
            ArithmeticOp::Sub => BinaryOp::Sub,
            ArithmeticOp::Mul => BinaryOp::Mul,
            ArithmeticOp::Div => BinaryOp::Div,
            ArithmeticOp::Mod => BinaryOp::Mod,
            ArithmeticOp::Pow => BinaryOp::Pow,
        }
    }
}

/// `count()`, `avg(expr)`, `min(expr)`, `max(expr)`, `sum(expr)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub op: AggregateOp,
    /// `None` only for `count()`.
    pub expr: Option<FieldExpr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateOp {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

impl AggregateOp {
    pub fn name(self) -> &'static str {
        match self {
            AggregateOp::Count => "count",
            AggregateOp::Avg => "avg",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Sum => "sum",
        }
    }
}

/// An expression evaluated per span.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldExpr {
    Static(Value<'static>),
    Attribute(Attribute),
    Binary(Box<BinaryExpr>),
    Unary(UnaryOp, Box<FieldExpr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    pub op: BinaryOp,
    pub lhs: FieldExpr,
    pub rhs: FieldExpr,
    /// For `=~` / `!~` with a literal pattern: the pattern, anchored and compiled once.
    pub(crate) matcher: Option<Matcher>,
}

impl BinaryExpr {
    pub(crate) fn new(op: BinaryOp, lhs: FieldExpr, rhs: FieldExpr) -> Self {
        BinaryExpr {
            op,
            lhs,
            rhs,
            matcher: None,
        }
    }
}

/// A compiled `=~` pattern. Compares equal when the patterns are equal.
#[derive(Debug, Clone)]
pub(crate) struct Matcher(pub(crate) regex::Regex);

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Regex,
    NotRegex,
    Gt,
    Gte,
    Lt,
    Lte,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Eq => "=",
            BinaryOp::Neq => "!=",
            BinaryOp::Regex => "=~",
            BinaryOp::NotRegex => "!~",
            BinaryOp::Gt => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::Lt => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }

    /// Operators whose result is a boolean.
    pub(crate) fn is_boolean(self) -> bool {
        !matches!(
            self,
            BinaryOp::Add
                | BinaryOp::Sub
                | BinaryOp::Mul
                | BinaryOp::Div
                | BinaryOp::Mod
                | BinaryOp::Pow
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
    /// `x != nil`
    Exists,
    /// `x = nil`
    NotExists,
}

/// An attribute or intrinsic reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attribute {
    Intrinsic(Intrinsic),
    /// `.name`, `span.name`, `resource.name`, ...; `parent` marks `parent.`-prefixed forms.
    Named {
        scope: Scope,
        parent: bool,
        name: String,
    },
}

/// First stage of a metrics query.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsStage {
    Aggregate {
        function: MetricsFunction,
        /// The measured attribute (`min_over_time(duration)`); `None` for `rate`/`count_over_time`.
        attribute: Option<Attribute>,
        /// `quantile_over_time` quantiles.
        quantiles: Vec<f64>,
        by: Vec<Attribute>,
    },
    /// `compare({filter}, topN, start, end)`
    Compare {
        filter: FieldExpr,
        top_n: i64,
        start: i64,
        end: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsFunction {
    Rate,
    CountOverTime,
    MinOverTime,
    MaxOverTime,
    AvgOverTime,
    SumOverTime,
    QuantileOverTime,
    HistogramOverTime,
}

impl MetricsFunction {
    pub fn name(self) -> &'static str {
        match self {
            MetricsFunction::Rate => "rate",
            MetricsFunction::CountOverTime => "count_over_time",
            MetricsFunction::MinOverTime => "min_over_time",
            MetricsFunction::MaxOverTime => "max_over_time",
            MetricsFunction::AvgOverTime => "avg_over_time",
            MetricsFunction::SumOverTime => "sum_over_time",
            MetricsFunction::QuantileOverTime => "quantile_over_time",
            MetricsFunction::HistogramOverTime => "histogram_over_time",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SecondStage {
    TopK(i64),
    BottomK(i64),
    /// Keeps data points satisfying `op value`.
    Filter {
        op: ComparisonOp,
        value: f64,
    },
}

/// `with(name = value)`
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    pub name: String,
    pub value: Value<'static>,
}

// Display: used in error messages; close to Tempo's rendering.

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Intrinsic(i) => write!(f, "{i}"),
            Attribute::Named {
                scope,
                parent,
                name,
            } => {
                if *parent {
                    f.write_str("parent.")?;
                }
                let prefix = match (parent, scope) {
                    (true, Scope::Unscoped) => "",
                    _ => scope.prefix(),
                };
                f.write_str(prefix)?;
                write_attribute_name(f, name)
            }
        }
    }
}

/// Quotes names that would not lex back as a plain attribute name.
fn write_attribute_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !"{}()=~!<>&|^,\"\\".contains(c));
    if plain {
        return f.write_str(name);
    }
    f.write_str("\"")?;
    for c in name.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

impl fmt::Display for FieldExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldExpr::Static(v) => write!(f, "{v}"),
            FieldExpr::Attribute(a) => write!(f, "{a}"),
            FieldExpr::Binary(b) => write!(f, "({} {} {})", b.lhs, b.op.symbol(), b.rhs),
            FieldExpr::Unary(UnaryOp::Neg, e) => write!(f, "-{e}"),
            FieldExpr::Unary(UnaryOp::Not, e) => write!(f, "!{e}"),
            FieldExpr::Unary(UnaryOp::Exists, e) => write!(f, "{e} != nil"),
            FieldExpr::Unary(UnaryOp::NotExists, e) => write!(f, "{e} = nil"),
        }
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expr {
            Some(e) => write!(f, "{}({e})", self.op.name()),
            None => write!(f, "{}()", self.op.name()),
        }
    }
}

impl fmt::Display for ScalarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Static(v) => write!(f, "{v}"),
            ScalarExpr::Aggregate(a) => write!(f, "{a}"),
            ScalarExpr::Op { op, lhs, rhs } => write!(f, "({lhs} {} {rhs})", op.symbol()),
            ScalarExpr::Pipeline {
                pipeline,
                aggregate,
            } => write!(f, "({pipeline} | {aggregate})"),
        }
    }
}

impl fmt::Display for ScalarFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lhs, self.op.symbol(), self.rhs)
    }
}

impl fmt::Display for SpansetExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpansetExpr::Filter(e) => write!(f, "{{ {e} }}"),
            SpansetExpr::Op { op, lhs, rhs } => write!(f, "({lhs}) {} ({rhs})", op.symbol()),
            SpansetExpr::Pipeline(p) => write!(f, "({p})"),
        }
    }
}

impl fmt::Display for PipelineElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineElement::Spanset(s) => write!(f, "{s}"),
            PipelineElement::ScalarFilter(s) => write!(f, "{s}"),
            PipelineElement::GroupBy(e) => write!(f, "by({e})"),
            PipelineElement::Coalesce => f.write_str("coalesce()"),
            PipelineElement::Select(attrs) => {
                f.write_str("select(")?;
                write_list(f, attrs)?;
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, element) in self.elements.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{element}")?;
        }
        Ok(())
    }
}

fn write_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for MetricsStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsStage::Aggregate {
                function,
                attribute,
                quantiles,
                by,
            } => {
                write!(f, "{}(", function.name())?;
                if let Some(attribute) = attribute {
                    write!(f, "{attribute}")?;
                }
                for q in quantiles {
                    write!(f, ", {q}")?;
                }
                f.write_str(")")?;
                if !by.is_empty() {
                    f.write_str(" by (")?;
                    write_list(f, by)?;
                    f.write_str(")")?;
                }
                Ok(())
            }
            MetricsStage::Compare {
                filter,
                top_n,
                start,
                end,
            } => write!(f, "compare({{ {filter} }}, {top_n}, {start}, {end})"),
        }
    }
}

impl fmt::Display for SecondStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecondStage::TopK(n) => write!(f, "| topk({n})"),
            SecondStage::BottomK(n) => write!(f, "| bottomk({n})"),
            SecondStage::Filter { op, value } => write!(f, "{} {value}", op.symbol()),
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.pipeline)?;
        if let Some(metrics) = &self.metrics {
            write!(f, " | {metrics}")?;
        }
        for stage in &self.second_stage {
            write!(f, " {stage}")?;
        }
        if !self.hints.is_empty() {
            f.write_str(" with(")?;
            for (i, hint) in self.hints.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}={}", hint.name, hint.value)?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}
