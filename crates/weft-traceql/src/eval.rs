//! Evaluating a query against one trace: Grafana's search subset of TraceQL.
//!
//! Semantics follow Tempo's engine. A trace enters the pipeline as one spanset holding all
//! its spans; a `{ filter }` keeps the spans for which the expression is `true` and drops the
//! spanset when none are left; `A && B` needs both sides to keep spans and returns the union,
//! `A || B` needs either; a scalar filter (`count() > 2`) keeps or drops the whole spanset.
//!
//! Inside a filter, values compare like Tempo's: operands of mismatched types (or a missing
//! attribute with anything but `=`/`!=`) make the comparison false, `=` and `!=` against a
//! missing attribute are both false, ints/floats/durations compare numerically, and regular
//! expressions must match the whole value.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::ast::*;
use crate::error::Error;
use crate::validate::binary_types_valid;
use crate::value::{Intrinsic, Scope, Status, Value, ValueType};

/// Read access to one span, implemented by the storage layer.
pub trait SpanView {
    /// A built-in field: `name`, `status`, `statusMessage`, `kind`, `duration` (ns), `span:id`,
    /// `span:parentID`, `span:childCount`, `instrumentation:name`, ... [`Value::Nil`] when unknown.
    /// Trace-level intrinsics (`traceDuration`, `rootName`, `rootServiceName`, `trace:id`) are
    /// answered from the [`TraceView`] and never asked here.
    fn intrinsic(&self, intrinsic: Intrinsic) -> Value<'_>;

    /// An attribute in `scope`; [`Value::Nil`] when absent. For [`Scope::Unscoped`] return the
    /// span attribute if present, else the resource attribute.
    fn attribute(&self, scope: Scope, key: &str) -> Value<'_>;
}

/// One trace: its spans plus trace-level facts.
#[derive(Debug, Clone, Copy)]
pub struct TraceView<'a, S> {
    pub spans: &'a [S],
    pub trace_duration_ns: i64,
    pub root_name: Option<&'a str>,
    pub root_service_name: Option<&'a str>,
    /// The trace ID in hex (leading zeros and case do not matter).
    pub trace_id_hex: &'a str,
}

/// Span indices of one spanset, ascending (input order).
type Spanset = Vec<usize>;

impl Query {
    /// Returns [`Error::Unsupported`] naming the construct when the query uses something
    /// [`Query::eval_trace`] cannot run (structural operators, `by()`, metrics, event/link data).
    pub fn check_supported(&self) -> Result<(), Error> {
        if let Some(metrics) = &self.metrics {
            let name = match metrics {
                MetricsStage::Aggregate { function, .. } => function.name(),
                MetricsStage::Compare { .. } => "compare",
            };
            return Err(Error::Unsupported(format!(
                "metrics function '{name}()' is not supported by search; use the metrics API"
            )));
        }
        check_pipeline(&self.pipeline)
    }

    /// Evaluates the query against one trace. `None`: the trace does not match.
    /// `Some(indices)`: indices into `trace.spans` of the matched spans, ascending.
    ///
    /// Constructs rejected by [`Query::check_supported`] never match.
    pub fn eval_trace<S: SpanView>(&self, trace: &TraceView<'_, S>) -> Option<Vec<usize>> {
        // A walk over the (small) query; keeps unsupported constructs from half-working.
        if self.check_supported().is_err() {
            return None;
        }
        let evaluator = Evaluator {
            trace,
            trace_id: normalize_trace_id(trace.trace_id_hex),
        };
        let all: Spanset = (0..trace.spans.len()).collect();
        evaluator.pipeline(&self.pipeline, all)
    }

    /// Attributes (not intrinsics) the query reads, in order of first use, without duplicates.
    pub fn referenced_attributes(&self) -> Vec<(Scope, String)> {
        let mut found = Vec::new();
        collect_pipeline(&self.pipeline, &mut found);
        found
    }
}

fn normalize_trace_id(hex: &str) -> String {
    hex.trim_start_matches('0').to_ascii_lowercase()
}

// check_supported

fn check_pipeline(pipeline: &Pipeline) -> Result<(), Error> {
    pipeline.elements.iter().try_for_each(check_element)
}

fn check_element(element: &PipelineElement) -> Result<(), Error> {
    match element {
        PipelineElement::Spanset(se) => check_spanset(se),
        PipelineElement::ScalarFilter(filter) => match (&filter.lhs, &filter.rhs) {
            (ScalarExpr::Aggregate(aggregate), ScalarExpr::Static(_)) => {
                aggregate.expr.as_ref().map_or(Ok(()), check_field)
            }
            _ => Err(Error::Unsupported(format!(
                "scalar filter '{filter}' is not supported yet"
            ))),
        },
        PipelineElement::GroupBy(_) => Err(Error::Unsupported(
            "by() grouping is not supported yet".to_string(),
        )),
        // Without by() there is one spanset per trace, so coalesce() changes nothing, and
        // select() only decorates results.
        PipelineElement::Coalesce | PipelineElement::Select(_) => Ok(()),
    }
}

fn check_spanset(se: &SpansetExpr) -> Result<(), Error> {
    match se {
        SpansetExpr::Filter(expr) => check_field(expr),
        SpansetExpr::Op { op, lhs, rhs } => {
            if !matches!(op, SpansetOp::And | SpansetOp::Union) {
                return Err(Error::Unsupported(format!(
                    "structural operator '{}' is not supported yet",
                    op.symbol()
                )));
            }
            check_spanset(lhs)?;
            check_spanset(rhs)
        }
        SpansetExpr::Pipeline(p) => check_pipeline(p),
    }
}

fn check_field(expr: &FieldExpr) -> Result<(), Error> {
    match expr {
        FieldExpr::Static(_) => Ok(()),
        FieldExpr::Attribute(attr) => check_attribute(attr),
        FieldExpr::Binary(b) => {
            check_field(&b.lhs)?;
            check_field(&b.rhs)
        }
        FieldExpr::Unary(_, inner) => check_field(inner),
    }
}

/// Events and links are many per span; a single-valued [`SpanView`] lookup cannot give
/// Tempo's "any event matches" semantics, so they are refused rather than answered wrongly.
fn check_attribute(attr: &Attribute) -> Result<(), Error> {
    let unsupported =
        |what: String| Err(Error::Unsupported(format!("{what} is not supported yet")));
    match attr {
        Attribute::Named {
            scope: scope @ (Scope::Event | Scope::Link),
            ..
        } => unsupported(format!("{}-scoped attribute '{attr}'", scope_word(*scope))),
        Attribute::Named { parent: true, .. } => unsupported(format!("parent attribute '{attr}'")),
        Attribute::Intrinsic(
            i @ (Intrinsic::EventName
            | Intrinsic::EventTimeSinceStart
            | Intrinsic::LinkTraceId
            | Intrinsic::LinkSpanId
            | Intrinsic::Parent),
        ) => unsupported(format!("intrinsic '{i}'")),
        _ => Ok(()),
    }
}

fn scope_word(scope: Scope) -> &'static str {
    match scope {
        Scope::Event => "event",
        Scope::Link => "link",
        _ => "attribute",
    }
}

// referenced_attributes

fn collect_pipeline(pipeline: &Pipeline, found: &mut Vec<(Scope, String)>) {
    for element in &pipeline.elements {
        match element {
            PipelineElement::Spanset(se) => collect_spanset(se, found),
            PipelineElement::ScalarFilter(filter) => {
                collect_scalar(&filter.lhs, found);
                collect_scalar(&filter.rhs, found);
            }
            PipelineElement::GroupBy(expr) => collect_field(expr, found),
            PipelineElement::Coalesce => {}
            PipelineElement::Select(attrs) => {
                attrs.iter().for_each(|a| collect_attribute(a, found))
            }
        }
    }
}

fn collect_spanset(se: &SpansetExpr, found: &mut Vec<(Scope, String)>) {
    match se {
        SpansetExpr::Filter(expr) => collect_field(expr, found),
        SpansetExpr::Op { lhs, rhs, .. } => {
            collect_spanset(lhs, found);
            collect_spanset(rhs, found);
        }
        SpansetExpr::Pipeline(p) => collect_pipeline(p, found),
    }
}

fn collect_scalar(scalar: &ScalarExpr, found: &mut Vec<(Scope, String)>) {
    match scalar {
        ScalarExpr::Static(_) => {}
        ScalarExpr::Aggregate(a) => a.expr.iter().for_each(|e| collect_field(e, found)),
        ScalarExpr::Op { lhs, rhs, .. } => {
            collect_scalar(lhs, found);
            collect_scalar(rhs, found);
        }
        ScalarExpr::Pipeline {
            pipeline,
            aggregate,
        } => {
            collect_pipeline(pipeline, found);
            aggregate.expr.iter().for_each(|e| collect_field(e, found));
        }
    }
}

fn collect_field(expr: &FieldExpr, found: &mut Vec<(Scope, String)>) {
    match expr {
        FieldExpr::Static(_) => {}
        FieldExpr::Attribute(attr) => collect_attribute(attr, found),
        FieldExpr::Binary(b) => {
            collect_field(&b.lhs, found);
            collect_field(&b.rhs, found);
        }
        FieldExpr::Unary(_, inner) => collect_field(inner, found),
    }
}

fn collect_attribute(attr: &Attribute, found: &mut Vec<(Scope, String)>) {
    if let Attribute::Named {
        scope,
        parent: false,
        name,
    } = attr
    {
        if !found.iter().any(|(s, n)| s == scope && n == name) {
            found.push((*scope, name.clone()));
        }
    }
}

// Evaluation

struct Evaluator<'t, 'a, S> {
    trace: &'t TraceView<'a, S>,
    trace_id: String,
}

impl<S: SpanView> Evaluator<'_, '_, S> {
    fn pipeline(&self, pipeline: &Pipeline, mut spans: Spanset) -> Option<Spanset> {
        for element in &pipeline.elements {
            spans = self.element(element, spans)?;
        }
        Some(spans)
    }

    fn element(&self, element: &PipelineElement, spans: Spanset) -> Option<Spanset> {
        match element {
            PipelineElement::Spanset(se) => self.spanset(se, &spans),
            PipelineElement::ScalarFilter(filter) => {
                self.scalar_filter_holds(filter, &spans).then_some(spans)
            }
            PipelineElement::Coalesce | PipelineElement::Select(_) => Some(spans),
            PipelineElement::GroupBy(_) => None,
        }
    }

    fn spanset(&self, se: &SpansetExpr, input: &[usize]) -> Option<Spanset> {
        match se {
            SpansetExpr::Filter(expr) => {
                let kept: Spanset = input
                    .iter()
                    .copied()
                    .filter(|&i| self.span_matches(expr, i))
                    .collect();
                (!kept.is_empty()).then_some(kept)
            }
            SpansetExpr::Op {
                op: SpansetOp::And,
                lhs,
                rhs,
            } => {
                let lhs = self.spanset(lhs, input)?;
                let rhs = self.spanset(rhs, input)?;
                Some(union(lhs, rhs))
            }
            SpansetExpr::Op {
                op: SpansetOp::Union,
                lhs,
                rhs,
            } => match (self.spanset(lhs, input), self.spanset(rhs, input)) {
                (Some(l), Some(r)) => Some(union(l, r)),
                (Some(one), None) | (None, Some(one)) => Some(one),
                (None, None) => None,
            },
            SpansetExpr::Op { .. } => None,
            SpansetExpr::Pipeline(p) => self.pipeline(p, input.to_vec()),
        }
    }

    fn span_matches(&self, expr: &FieldExpr, index: usize) -> bool {
        let Some(span) = self.trace.spans.get(index) else {
            return false;
        };
        matches!(self.field(expr, span), Value::Bool(true))
    }

    fn scalar_filter_holds(&self, filter: &ScalarFilter, spans: &[usize]) -> bool {
        let (ScalarExpr::Aggregate(aggregate), ScalarExpr::Static(expected)) =
            (&filter.lhs, &filter.rhs)
        else {
            return false;
        };
        match self.aggregate(aggregate, spans) {
            Some(actual) => compare_scalar(filter.op, &actual, expected),
            // Aggregating nothing (every value missing) drops the spanset, as in Tempo.
            None => false,
        }
    }

    fn aggregate(&self, aggregate: &Aggregate, spans: &[usize]) -> Option<Value<'static>> {
        let Some(expr) = &aggregate.expr else {
            return Some(Value::Int(i64::try_from(spans.len()).unwrap_or(i64::MAX)));
        };
        let values: Vec<Value<'_>> = spans
            .iter()
            .filter_map(|&i| self.trace.spans.get(i))
            .map(|span| self.field(expr, span))
            .filter(|v| v.as_f64().is_some())
            .collect();
        let mut totals = NumericTotals::default();
        values.iter().for_each(|v| totals.add(v));
        match aggregate.op {
            AggregateOp::Count => Some(Value::Int(values.len() as i64)),
            AggregateOp::Sum => totals.sum(),
            AggregateOp::Avg => totals.average(),
            AggregateOp::Min => extreme(&values, Ordering::Less),
            AggregateOp::Max => extreme(&values, Ordering::Greater),
        }
    }
}

/// Sorted union of two ascending index lists.
fn union(a: Spanset, b: Spanset) -> Spanset {
    let mut merged = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => {
                merged.push(a[i]);
                i += 1;
            }
            Ordering::Greater => {
                merged.push(b[j]);
                j += 1;
            }
            Ordering::Equal => {
                merged.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    merged.extend_from_slice(&a[i..]);
    merged.extend_from_slice(&b[j..]);
    merged
}

/// Running sum for `sum()`/`avg()`: exact for ints and durations, float once types mix.
#[derive(Default)]
struct NumericTotals {
    count: usize,
    int_sum: i64,
    float_sum: f64,
    kind: Option<ValueType>,
}

impl NumericTotals {
    fn add(&mut self, value: &Value<'_>) {
        let t = value.value_type();
        self.kind = match self.kind {
            None => Some(t),
            Some(k) if k == t => Some(k),
            Some(_) => Some(ValueType::Float),
        };
        if let Value::Int(i) | Value::Duration(i) = value {
            self.int_sum = self.int_sum.wrapping_add(*i);
        }
        self.float_sum += value.as_f64().unwrap_or(0.0);
        self.count += 1;
    }

    fn sum(&self) -> Option<Value<'static>> {
        match self.kind? {
            ValueType::Int => Some(Value::Int(self.int_sum)),
            ValueType::Duration => Some(Value::Duration(self.int_sum)),
            _ => Some(Value::Float(self.float_sum)),
        }
    }

    fn average(&self) -> Option<Value<'static>> {
        let n = i64::try_from(self.count).ok().filter(|&n| n > 0)?;
        match self.kind? {
            ValueType::Duration => Some(Value::Duration(self.int_sum / n)),
            _ => Some(Value::Float(self.float_sum / n as f64)),
        }
    }
}

/// The smallest (`Less`) or largest (`Greater`) numeric value, keeping its type.
fn extreme(values: &[Value<'_>], wanted: Ordering) -> Option<Value<'static>> {
    let mut best: Option<&Value<'_>> = None;
    for value in values {
        let better = match best {
            None => true,
            Some(current) => numeric_cmp(value, current) == Some(wanted),
        };
        if better {
            best = Some(value);
        }
    }
    best.map(|v| v.clone().into_owned())
}

fn numeric_cmp(a: &Value<'_>, b: &Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x) | Value::Duration(x), Value::Int(y) | Value::Duration(y)) => Some(x.cmp(y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// `aggregate op literal` (Tempo's scalar `binOp`): numbers compare numerically.
fn compare_scalar(op: ComparisonOp, actual: &Value<'_>, expected: &Value<'_>) -> bool {
    let (lt, rt) = (actual.value_type(), expected.value_type());
    if !lt.is_matching_operand(rt)
        || !binary_types_valid(crate::validate::comparison_as_binary(op), lt, rt)
    {
        return false;
    }
    match op {
        ComparisonOp::Eq => values_equal(actual, expected),
        ComparisonOp::Neq => values_not_equal(actual, expected),
        _ => numeric_cmp(actual, expected).is_some_and(|ordering| op.holds(ordering)),
    }
}

// Field expressions.
impl<S: SpanView> Evaluator<'_, '_, S> {
    fn field<'v>(&'v self, expr: &'v FieldExpr, span: &'v S) -> Value<'v> {
        match expr {
            FieldExpr::Static(v) => borrow(v),
            FieldExpr::Attribute(attr) => self.attribute(attr, span),
            FieldExpr::Unary(op, inner) => unary(*op, self.field(inner, span)),
            FieldExpr::Binary(b) => self.binary(b, span),
        }
    }

    fn attribute<'v>(&'v self, attr: &'v Attribute, span: &'v S) -> Value<'v> {
        match attr {
            Attribute::Intrinsic(intrinsic) => self.intrinsic(*intrinsic, span),
            Attribute::Named {
                scope,
                parent: false,
                name,
            } => span.attribute(*scope, name),
            Attribute::Named { parent: true, .. } => Value::Nil,
        }
    }

    fn intrinsic<'v>(&'v self, intrinsic: Intrinsic, span: &'v S) -> Value<'v> {
        let text = |s: Option<&'v str>| s.map_or(Value::Nil, |s| Value::String(Cow::Borrowed(s)));
        match intrinsic {
            Intrinsic::TraceDuration => Value::Duration(self.trace.trace_duration_ns),
            Intrinsic::TraceRootSpan => text(self.trace.root_name),
            Intrinsic::TraceRootService => text(self.trace.root_service_name),
            Intrinsic::TraceId => Value::String(Cow::Borrowed(&self.trace_id)),
            Intrinsic::Parent => Value::Nil,
            other => span.intrinsic(other),
        }
    }

    fn binary<'v>(&'v self, b: &'v BinaryExpr, span: &'v S) -> Value<'v> {
        let lhs = self.field(&b.lhs, span);
        // Short-circuit like Tempo: a false left side of && (true of ||) decides alone.
        match (b.op, &lhs) {
            (BinaryOp::And, Value::Bool(false)) => return Value::Bool(false),
            (BinaryOp::Or, Value::Bool(true)) => return Value::Bool(true),
            _ => {}
        }
        let rhs = self.field(&b.rhs, span);
        binary(b, &lhs, &rhs)
    }
}

fn borrow<'v>(value: &'v Value<'static>) -> Value<'v> {
    match value {
        Value::String(s) => Value::String(Cow::Borrowed(s.as_ref())),
        other => other.clone(),
    }
}

fn unary(op: UnaryOp, value: Value<'_>) -> Value<'_> {
    match (op, value) {
        (UnaryOp::Exists, v) => Value::Bool(v != Value::Nil),
        (UnaryOp::NotExists, v) => Value::Bool(v == Value::Nil),
        (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
        (UnaryOp::Neg, Value::Int(i)) => Value::Int(i.wrapping_neg()),
        (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
        (UnaryOp::Neg, Value::Duration(d)) => Value::Duration(d.wrapping_neg()),
        // Tempo fails the whole query here; for search, the span simply does not match.
        _ => Value::Nil,
    }
}

/// `lhs op rhs` once both sides are known (Tempo's `BinaryOperation.execute`).
fn binary<'v>(b: &'v BinaryExpr, lhs: &Value<'v>, rhs: &Value<'v>) -> Value<'v> {
    let (lt, rt) = (lhs.value_type(), rhs.value_type());
    // Types that do not fit the operator (a string attribute compared with a number, a
    // missing attribute with `>`) make the expression false rather than an error.
    if !lt.is_matching_operand(rt) || !binary_types_valid(b.op, lt, rt) {
        return Value::Bool(false);
    }
    match (lhs, rhs) {
        (Value::String(l), Value::String(r)) => {
            if let Some(result) = string_op(b, l, r) {
                return Value::Bool(result);
            }
        }
        (Value::Int(l), Value::Int(r)) => {
            if let Some(result) = int_op(b.op, *l, *r) {
                return result;
            }
        }
        (Value::Bool(l), Value::Bool(r)) => match b.op {
            BinaryOp::And => return Value::Bool(*l && *r),
            BinaryOp::Or => return Value::Bool(*l || *r),
            _ => {}
        },
        _ => {}
    }
    float_op(b.op, lhs, rhs)
}

fn string_op(b: &BinaryExpr, l: &str, r: &str) -> Option<bool> {
    match b.op {
        BinaryOp::Gt => Some(l > r),
        BinaryOp::Gte => Some(l >= r),
        BinaryOp::Lt => Some(l < r),
        BinaryOp::Lte => Some(l <= r),
        BinaryOp::Regex | BinaryOp::NotRegex => {
            let matched = match &b.matcher {
                Some(Matcher(re)) => re.is_match(l),
                None => false,
            };
            Some(matched == (b.op == BinaryOp::Regex))
        }
        _ => None,
    }
}

fn int_op(op: BinaryOp, l: i64, r: i64) -> Option<Value<'static>> {
    let value = match op {
        BinaryOp::Add => Value::Int(l.wrapping_add(r)),
        BinaryOp::Sub => Value::Int(l.wrapping_sub(r)),
        BinaryOp::Mul => Value::Int(l.wrapping_mul(r)),
        // Tempo errors on division by zero; here the expression has no value.
        BinaryOp::Div if r == 0 => Value::Nil,
        BinaryOp::Mod if r == 0 => Value::Nil,
        BinaryOp::Div => Value::Int(l.wrapping_div(r)),
        BinaryOp::Mod => Value::Int(l.wrapping_rem(r)),
        // Tempo v3.0.3 computes `r ^ l` here (its intPow gets the operands swapped); this is
        // the mathematical `l ^ r`, which also matches Tempo's float and duration results.
        BinaryOp::Pow => Value::Int((l as f64).powf(r as f64) as i64),
        BinaryOp::Gt => Value::Bool(l > r),
        BinaryOp::Gte => Value::Bool(l >= r),
        BinaryOp::Lt => Value::Bool(l < r),
        BinaryOp::Lte => Value::Bool(l <= r),
        _ => return None,
    };
    Some(value)
}

/// Everything else: numbers widen to f64 (durations in ns); `=`/`!=` use [`values_equal`].
fn float_op<'v>(op: BinaryOp, lhs: &Value<'v>, rhs: &Value<'v>) -> Value<'v> {
    let l = lhs.as_f64().unwrap_or(f64::NAN);
    let r = rhs.as_f64().unwrap_or(f64::NAN);
    match op {
        BinaryOp::Add => Value::Float(l + r),
        BinaryOp::Sub => Value::Float(l - r),
        BinaryOp::Mul => Value::Float(l * r),
        BinaryOp::Div => Value::Float(l / r),
        BinaryOp::Mod => Value::Float(l % r),
        BinaryOp::Pow => Value::Float(l.powf(r)),
        BinaryOp::Gt => Value::Bool(l > r),
        BinaryOp::Gte => Value::Bool(l >= r),
        BinaryOp::Lt => Value::Bool(l < r),
        BinaryOp::Lte => Value::Bool(l <= r),
        BinaryOp::Eq => Value::Bool(values_equal(lhs, rhs)),
        BinaryOp::Neq => Value::Bool(values_not_equal(lhs, rhs)),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Regex | BinaryOp::NotRegex => Value::Nil,
    }
}

/// Tempo's `Static.Equals`: nil equals nothing; ints and durations compare exactly, floats
/// numerically; everything else needs the same type and value.
fn values_equal(lhs: &Value<'_>, rhs: &Value<'_>) -> bool {
    match (lhs, rhs) {
        (Value::Nil, _) | (_, Value::Nil) => false,
        (Value::Int(l) | Value::Duration(l), Value::Int(r) | Value::Duration(r)) => l == r,
        (Value::Int(i), Value::Status(s)) | (Value::Status(s), Value::Int(i)) => {
            status_code(*s) == *i
        }
        (Value::Float(_), _) | (_, Value::Float(_)) => match (lhs.as_f64(), rhs.as_f64()) {
            (Some(l), Some(r)) => l == r,
            _ => false,
        },
        (Value::Status(l), Value::Status(r)) => l == r,
        (Value::Kind(l), Value::Kind(r)) => l == r,
        (Value::Bool(l), Value::Bool(r)) => l == r,
        (Value::String(l), Value::String(r)) => l == r,
        _ => false,
    }
}

fn values_not_equal(lhs: &Value<'_>, rhs: &Value<'_>) -> bool {
    *lhs != Value::Nil && *rhs != Value::Nil && !values_equal(lhs, rhs)
}

/// Tempo's numeric status codes (used only when a status meets an int).
fn status_code(status: Status) -> i64 {
    match status {
        Status::Error => 0,
        Status::Ok => 1,
        Status::Unset => 2,
    }
}
