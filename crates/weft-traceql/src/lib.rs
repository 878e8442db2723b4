//! TraceQL for Weft: a parser for the full Grafana Tempo grammar and an evaluator for the
//! subset Grafana's trace search uses.
//!
//! Data flow:
//!
//! ```text
//! query text ──lexer──▶ tokens ──parser──▶ AST (Query) ──validate──▶ Query
//!                                                                      │
//!                        check_supported() ◀───────────────────────────┤
//!                        eval_trace(TraceView over SpanView) ◀─────────┘
//! ```
//!
//! * [`parse`] lexes (`lexer.rs`), parses (`parser.rs`) and validates (`validate.rs`) a query. It
//!   accepts and rejects exactly what Tempo (v3.0.3) does: parse errors name the position and
//!   the unexpected token, type errors are [`Error::Validate`], and features Tempo itself has
//!   not implemented (e.g. `parent.` attributes) are [`Error::Unsupported`].
//! * [`Query::check_supported`] tells whether the evaluator can run the query.
//! * [`Query::eval_trace`] runs it against one trace, reading spans through the [`SpanView`]
//!   trait that the storage layer implements, and returns the matching spans.
//!
//! ```
//! use weft_traceql::{parse, Intrinsic, Scope, SpanView, TraceView, Value};
//!
//! struct Span { name: &'static str }
//! impl SpanView for Span {
//!     fn intrinsic(&self, i: Intrinsic) -> Value<'_> {
//!         match i {
//!             Intrinsic::Name => Value::String(self.name.into()),
//!             _ => Value::Nil,
//!         }
//!     }
//!     fn attribute(&self, _scope: Scope, _key: &str) -> Value<'_> { Value::Nil }
//! }
//!
//! let query = parse(r#"{ name =~ "GET .*" }"#).unwrap();
//! query.check_supported().unwrap();
//! let spans = [Span { name: "GET /cart" }, Span { name: "POST /cart" }];
//! let trace = TraceView {
//!     spans: &spans,
//!     trace_duration_ns: 1_000,
//!     root_name: Some("GET /cart"),
//!     root_service_name: Some("frontend"),
//!     trace_id_hex: "0af7651916cd43dd8448eb211c80319c",
//! };
//! assert_eq!(query.eval_trace(&trace), Some(vec![0]));
//! ```

mod ast;
mod duration;
mod error;
mod eval;
mod lexer;
mod parser;
mod validate;
mod value;

pub use ast::{
    Aggregate, AggregateOp, ArithmeticOp, Attribute, BinaryExpr, BinaryOp, ComparisonOp, FieldExpr,
    Hint, MetricsFunction, MetricsStage, Pipeline, PipelineElement, Query, ScalarExpr,
    ScalarFilter, SecondStage, SpansetExpr, SpansetOp, UnaryOp,
};
pub use error::Error;
pub use eval::{SpanView, TraceView};
pub use value::{Intrinsic, Kind, Scope, Status, Value};

/// Parses and validates a TraceQL query.
///
/// Errors: [`Error::Parse`] for text that is not TraceQL, [`Error::Validate`] for queries
/// Tempo rejects on validation (type errors, invalid regexes, ...), [`Error::Unsupported`]
/// for valid TraceQL that Tempo has not implemented either.
pub fn parse(query: &str) -> Result<Query, Error> {
    let mut query = parser::parse_query(query)?;
    validate::validate_query(&mut query)?;
    Ok(query)
}

impl std::str::FromStr for Query {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}
