//! Errors raised by the shared model (tenant parsing and validation).

/// What can go wrong when interpreting shared-model values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoreError {
    /// The tenant header carried a value that is not a valid tenant ID.
    #[error("invalid tenant ID {value:?} in X-Scope-OrgID: {reason}")]
    InvalidTenant { value: String, reason: &'static str },
    /// The tenant is well formed but not in the configured allow-list.
    #[error("unknown tenant {0:?}: not in the configured list of tenants")]
    UnknownTenant(String),
}
