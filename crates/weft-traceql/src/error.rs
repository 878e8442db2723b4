//! The crate's error type.

/// Why a query was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not TraceQL. `line` and `column` are 1-based (column counts characters),
    /// `offset` is the byte offset of the offending token.
    #[error("parse error at line {line}, col {column}: {message}")]
    Parse {
        line: usize,
        column: usize,
        offset: usize,
        message: String,
    },
    /// The query parses but is meaningless, e.g. `{ 1 = "a" }` or `{ .a =~ "[" }`.
    #[error("invalid query: {0}")]
    Validate(String),
    /// Valid TraceQL that is not implemented: either by Tempo itself (reported by [`crate::parse`])
    /// or by this crate's evaluator (reported by [`crate::Query::check_supported`]).
    #[error("unsupported: {0}")]
    Unsupported(String),
}
