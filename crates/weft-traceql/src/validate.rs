//! Type checking and semantic rules, following Tempo's `validate()` in the same order, so the
//! same queries fail and the same ones are reported as unsupported.
//!
//! Validation also compiles `=~` / `!~` patterns, anchored like Tempo's matcher
//! (`^(?s:pattern)$`: the whole value must match and `.` matches newlines).

use crate::ast::*;
use crate::error::Error;
use crate::value::{Intrinsic, Scope, ValueType};

/// Tempo's limit on `by(...)` attributes of a metrics function.
const MAX_GROUP_BYS: usize = 5;

pub(crate) fn validate_query(query: &mut Query) -> Result<(), Error> {
    validate_pipeline(&mut query.pipeline)?;
    if let Some(metrics) = &mut query.metrics {
        validate_metrics(metrics)?;
    }
    for stage in &query.second_stage {
        validate_second_stage(stage)?;
    }
    if matches!(query.metrics, Some(MetricsStage::Compare { .. })) && !query.second_stage.is_empty()
    {
        return invalid("`compare()` cannot be used with second stage functions".to_string());
    }
    Ok(())
}

fn invalid<T>(message: String) -> Result<T, Error> {
    Err(Error::Validate(message))
}

fn unsupported<T>(feature: &str) -> Result<T, Error> {
    Err(Error::Unsupported(format!("{feature} not yet supported")))
}

fn validate_pipeline(pipeline: &mut Pipeline) -> Result<(), Error> {
    for element in &mut pipeline.elements {
        validate_element(element)?;
    }
    Ok(())
}

fn validate_element(element: &mut PipelineElement) -> Result<(), Error> {
    match element {
        PipelineElement::Spanset(se) => validate_spanset(se),
        PipelineElement::ScalarFilter(filter) => validate_scalar_filter(filter),
        PipelineElement::GroupBy(expr) => {
            // Tempo checks this before validating the expression itself.
            if !references_span(expr) {
                return invalid(format!(
                    "grouping field expressions must reference the span: by({expr})"
                ));
            }
            validate_field(expr)
        }
        PipelineElement::Coalesce => Ok(()),
        PipelineElement::Select(attrs) => attrs.iter().try_for_each(validate_attribute),
    }
}

fn validate_spanset(se: &mut SpansetExpr) -> Result<(), Error> {
    match se {
        SpansetExpr::Filter(expr) => validate_filter_expr(expr),
        SpansetExpr::Op { lhs, rhs, .. } => {
            validate_spanset(lhs)?;
            validate_spanset(rhs)
        }
        SpansetExpr::Pipeline(p) => validate_pipeline(p),
    }
}

/// The expression of `{ ... }` must be boolean (or an attribute, known only per span).
fn validate_filter_expr(expr: &mut FieldExpr) -> Result<(), Error> {
    validate_field(expr)?;
    match field_type(expr) {
        ValueType::Attribute | ValueType::Bool => Ok(()),
        _ => invalid(format!(
            "span filter field expressions must resolve to a boolean: {{ {expr} }}"
        )),
    }
}

fn validate_scalar_filter(filter: &mut ScalarFilter) -> Result<(), Error> {
    validate_scalar(&mut filter.lhs)?;
    validate_scalar(&mut filter.rhs)?;
    let lhs_type = scalar_type(&filter.lhs);
    let rhs_type = scalar_type(&filter.rhs);
    if !lhs_type.is_matching_operand(rhs_type) {
        return invalid(format!(
            "binary operations must operate on the same type: {filter}"
        ));
    }
    if !binary_types_valid(comparison_as_binary(filter.op), lhs_type, rhs_type) {
        return invalid(format!("illegal operation for the given types: {filter}"));
    }
    if !matches!(filter.lhs, ScalarExpr::Aggregate(_)) {
        return unsupported(&format!(
            "scalar filter with left-hand side `{}` (only `aggregate op value` is)",
            filter.lhs
        ));
    }
    if !matches!(filter.rhs, ScalarExpr::Static(_)) {
        return unsupported(&format!(
            "scalar filter with right-hand side `{}` (only `aggregate op value` is)",
            filter.rhs
        ));
    }
    Ok(())
}

pub(crate) fn comparison_as_binary(op: ComparisonOp) -> BinaryOp {
    match op {
        ComparisonOp::Eq => BinaryOp::Eq,
        ComparisonOp::Neq => BinaryOp::Neq,
        ComparisonOp::Lt => BinaryOp::Lt,
        ComparisonOp::Lte => BinaryOp::Lte,
        ComparisonOp::Gt => BinaryOp::Gt,
        ComparisonOp::Gte => BinaryOp::Gte,
    }
}

fn validate_scalar(scalar: &mut ScalarExpr) -> Result<(), Error> {
    match scalar {
        ScalarExpr::Static(_) => Ok(()),
        ScalarExpr::Aggregate(aggregate) => validate_aggregate(aggregate),
        ScalarExpr::Op { op, lhs, rhs } => {
            validate_scalar(lhs)?;
            validate_scalar(rhs)?;
            let (lhs_type, rhs_type) = (scalar_type(lhs), scalar_type(rhs));
            if !lhs_type.is_matching_operand(rhs_type) {
                return invalid(format!(
                    "binary operations must operate on the same type: {lhs} {} {rhs}",
                    op.symbol()
                ));
            }
            if !binary_types_valid(op.as_binary(), lhs_type, rhs_type) {
                return invalid(format!(
                    "illegal operation for the given types: {lhs} {} {rhs}",
                    op.symbol()
                ));
            }
            Ok(())
        }
        ScalarExpr::Pipeline {
            pipeline,
            aggregate,
        } => {
            validate_pipeline(pipeline)?;
            validate_aggregate(aggregate)
        }
    }
}

fn validate_aggregate(aggregate: &mut Aggregate) -> Result<(), Error> {
    let Some(expr) = &mut aggregate.expr else {
        return Ok(());
    };
    validate_field(expr)?;
    let t = field_type(expr);
    if t != ValueType::Attribute && !t.is_numeric() {
        return invalid(format!(
            "aggregate field expressions must resolve to a number type: {aggregate}"
        ));
    }
    if !references_span(expr) {
        return invalid(format!(
            "aggregate field expressions must reference the span: {aggregate}"
        ));
    }
    Ok(())
}

fn validate_attribute(attr: &Attribute) -> Result<(), Error> {
    match attr {
        Attribute::Named { parent: true, .. } => unsupported("parent"),
        Attribute::Intrinsic(Intrinsic::Parent) => unsupported("intrinsic (parent)"),
        _ => Ok(()),
    }
}

fn validate_field(expr: &mut FieldExpr) -> Result<(), Error> {
    match expr {
        FieldExpr::Static(_) => Ok(()),
        FieldExpr::Attribute(attr) => validate_attribute(attr),
        FieldExpr::Unary(op, inner) => validate_unary(*op, inner),
        FieldExpr::Binary(binary) => validate_binary(binary),
    }
}

fn validate_unary(op: UnaryOp, inner: &mut FieldExpr) -> Result<(), Error> {
    validate_field(inner)?;
    if op == UnaryOp::NotExists {
        if let FieldExpr::Attribute(attr) = &*inner {
            if matches!(attr, Attribute::Intrinsic(_)) {
                return invalid(format!(
                    "{attr} = nil is not valid because intrinsics cannot be nil"
                ));
            }
            if is_resource_service_name(attr) {
                return invalid(format!(
                    "{attr} = nil is not valid because resource.service.name cannot be nil"
                ));
            }
        }
    }
    let t = field_type(inner);
    if t == ValueType::Attribute {
        return Ok(());
    }
    let valid = match op {
        UnaryOp::Neg => t.is_numeric(),
        UnaryOp::Not => t == ValueType::Bool,
        UnaryOp::Exists | UnaryOp::NotExists => true,
    };
    if !valid {
        let shown = FieldExpr::Unary(op, Box::new(inner.clone()));
        return invalid(format!("illegal operation for the given type: {shown}"));
    }
    Ok(())
}

fn is_resource_service_name(attr: &Attribute) -> bool {
    matches!(attr, Attribute::Named { scope: Scope::Resource, parent: false, name } if name == "service.name")
}

fn validate_binary(binary: &mut BinaryExpr) -> Result<(), Error> {
    validate_field(&mut binary.lhs)?;
    validate_field(&mut binary.rhs)?;
    let lhs_type = field_type(&binary.lhs);
    let rhs_type = field_type(&binary.rhs);
    let shown = || format!("{} {} {}", binary.lhs, binary.op.symbol(), binary.rhs);
    if !lhs_type.is_matching_operand(rhs_type) {
        return invalid(format!(
            "binary operations must operate on the same type: {}",
            shown()
        ));
    }
    if !binary_types_valid(binary.op, lhs_type, rhs_type) {
        return invalid(format!(
            "illegal operation for the given types: {}",
            shown()
        ));
    }
    if matches!(binary.op, BinaryOp::Regex | BinaryOp::NotRegex) {
        binary.matcher = Some(compile_matcher(&binary.rhs)?);
    }
    Ok(())
}

/// The right side of `=~` must be a literal string holding a valid regular expression.
fn compile_matcher(rhs: &FieldExpr) -> Result<Matcher, Error> {
    let FieldExpr::Static(crate::value::Value::String(pattern)) = rhs else {
        return invalid(format!("invalid type for =~ or !~: {rhs}"));
    };
    if regex::Regex::new(pattern).is_err() {
        return invalid(format!("invalid regex: {rhs}"));
    }
    match regex::Regex::new(&format!("^(?s:{pattern})$")) {
        Ok(re) => Ok(Matcher(re)),
        Err(_) => invalid(format!("invalid regex: {rhs}")),
    }
}

fn validate_metrics(metrics: &mut MetricsStage) -> Result<(), Error> {
    match metrics {
        MetricsStage::Aggregate {
            function,
            quantiles,
            by,
            ..
        } => {
            // Histograms and quantiles reserve one group-by slot for the bucket.
            let reserves_slot = matches!(
                function,
                MetricsFunction::HistogramOverTime
                    | MetricsFunction::QuantileOverTime
                    | MetricsFunction::AvgOverTime
            );
            if (reserves_slot && by.len() >= MAX_GROUP_BYS) || by.len() > MAX_GROUP_BYS {
                return unsupported(&format!("metrics group by {} values", by.len()));
            }
            if let Some(q) = quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                return invalid(format!("quantile must be between 0 and 1: {q}"));
            }
            Ok(())
        }
        MetricsStage::Compare {
            filter,
            top_n,
            start,
            end,
        } => {
            validate_filter_expr(filter)?;
            if *top_n <= 0 {
                return invalid(
                    "compare() top number of values must be integer greater than 0".to_string(),
                );
            }
            if *start == 0 && *end == 0 {
                return Ok(());
            }
            if *start <= 0 || *end <= 0 {
                return invalid(
                    "compare() timestamps must be positive integer unix nanoseconds".to_string(),
                );
            }
            if end <= start {
                return invalid(
                    "compare() end timestamp must be greater than start timestamp".to_string(),
                );
            }
            Ok(())
        }
    }
}

fn validate_second_stage(stage: &SecondStage) -> Result<(), Error> {
    match stage {
        SecondStage::TopK(limit) | SecondStage::BottomK(limit) if *limit <= 0 => {
            invalid("limit must be greater than 0".to_string())
        }
        _ => Ok(()),
    }
}

/// Whether an operator may take an operand of type `t`.
fn operator_accepts(op: BinaryOp, t: ValueType) -> bool {
    use BinaryOp::*;
    match t {
        ValueType::Attribute => true,
        ValueType::Bool => matches!(op, And | Or | Eq | Neq),
        ValueType::Int | ValueType::Float | ValueType::Duration => {
            matches!(
                op,
                Add | Sub | Mul | Div | Mod | Pow | Eq | Neq | Gt | Gte | Lt | Lte
            )
        }
        ValueType::String => matches!(op, Eq | Neq | Regex | NotRegex | Gt | Gte | Lt | Lte),
        ValueType::Nil | ValueType::Status | ValueType::Kind => matches!(op, Eq | Neq),
    }
}

pub(crate) fn binary_types_valid(op: BinaryOp, lhs: ValueType, rhs: ValueType) -> bool {
    operator_accepts(op, lhs) && operator_accepts(op, rhs)
}

/// Type of a field expression before evaluation (Tempo's `impliedType`).
pub(crate) fn field_type(expr: &FieldExpr) -> ValueType {
    match expr {
        FieldExpr::Static(v) => v.value_type(),
        FieldExpr::Attribute(Attribute::Intrinsic(i)) => i.value_type(),
        FieldExpr::Attribute(Attribute::Named { .. }) => ValueType::Attribute,
        FieldExpr::Binary(b) if b.op.is_boolean() => ValueType::Bool,
        FieldExpr::Binary(b) => match field_type(&b.lhs) {
            ValueType::Attribute => field_type(&b.rhs),
            t => t,
        },
        FieldExpr::Unary(UnaryOp::Exists | UnaryOp::NotExists, _) => ValueType::Bool,
        FieldExpr::Unary(_, inner) => field_type(inner),
    }
}

fn scalar_type(scalar: &ScalarExpr) -> ValueType {
    match scalar {
        ScalarExpr::Static(v) => v.value_type(),
        ScalarExpr::Aggregate(a) | ScalarExpr::Pipeline { aggregate: a, .. } => aggregate_type(a),
        ScalarExpr::Op { lhs, rhs, .. } => match scalar_type(lhs) {
            ValueType::Attribute => scalar_type(rhs),
            t => t,
        },
    }
}

fn aggregate_type(aggregate: &Aggregate) -> ValueType {
    match (&aggregate.op, &aggregate.expr) {
        (AggregateOp::Count, _) | (_, None) => ValueType::Int,
        (_, Some(expr)) => field_type(expr),
    }
}

/// Whether the expression reads anything from the span (Tempo's `referencesSpan`).
pub(crate) fn references_span(expr: &FieldExpr) -> bool {
    match expr {
        FieldExpr::Static(_) => false,
        FieldExpr::Attribute(_) => true,
        FieldExpr::Binary(b) => references_span(&b.lhs) || references_span(&b.rhs),
        FieldExpr::Unary(_, inner) => references_span(inner),
    }
}
