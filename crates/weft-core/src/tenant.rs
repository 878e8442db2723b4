//! Tenant identity. Every stored item belongs to exactly one tenant and no query crosses
//! tenants. The rules follow Cortex/Tempo's `X-Scope-OrgID` so existing agents work unchanged.

use std::fmt;
use std::sync::Arc;

use crate::CoreError;

/// HTTP header (and gRPC metadata key, lower-cased) that selects the tenant.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";
/// Tenant used when a request carries no tenant header (Tempo's single-tenant name).
pub const DEFAULT_TENANT: &str = "single-tenant";
/// Longest tenant ID accepted, as in Cortex/Tempo.
pub const MAX_TENANT_LEN: usize = 150;

/// A validated tenant ID; cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Validates `value` with the same character rules as Cortex/Tempo tenant IDs: ASCII
    /// letters, digits and `!-_.*'()`, at most 150 bytes, and not `.` or `..` (the ID names a
    /// directory on disk).
    pub fn parse(value: &str) -> Result<Self, CoreError> {
        let invalid = |reason| CoreError::InvalidTenant {
            value: value.chars().take(200).collect(),
            reason,
        };
        if value.is_empty() {
            return Err(invalid("it is empty"));
        }
        if value.len() > MAX_TENANT_LEN {
            return Err(invalid("it is longer than 150 characters"));
        }
        if value == "." || value == ".." {
            return Err(invalid("'.' and '..' are not allowed"));
        }
        if !value.bytes().all(is_tenant_byte) {
            return Err(invalid(
                "only ASCII letters, digits and the characters !-_.*'() are allowed",
            ));
        }
        Ok(Self(Arc::from(value)))
    }

    /// The default tenant, used when a request names none.
    pub fn default_tenant() -> Self {
        Self(Arc::from(DEFAULT_TENANT))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_tenant_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!-_.*'()".contains(&b)
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Resolves the tenant of a request from its header value and the tenancy policy.
#[derive(Clone, Debug, Default)]
pub struct TenantPolicy {
    /// When non-empty, only these tenants are accepted (the default tenant always is).
    pub allowed: Vec<String>,
}

impl TenantPolicy {
    /// `header` is the raw `X-Scope-OrgID` value, if any.
    pub fn resolve(&self, header: Option<&str>) -> Result<TenantId, CoreError> {
        let Some(raw) = header else {
            return Ok(TenantId::default_tenant());
        };
        let tenant = TenantId::parse(raw.trim())?;
        let allowed = self.allowed.is_empty()
            || tenant.as_str() == DEFAULT_TENANT
            || self.allowed.iter().any(|t| t == tenant.as_str());
        if !allowed {
            return Err(CoreError::UnknownTenant(tenant.to_string()));
        }
        Ok(tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_cortex_style_ids() {
        for ok in ["team-a", "a.b_c", "x!*'()", "0"] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_bad_ids_with_reason() {
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(151)] {
            let err = TenantId::parse(bad).unwrap_err();
            assert!(err.to_string().contains("invalid tenant ID"), "{err}");
        }
    }

    #[test]
    fn policy_defaults_and_allow_list() {
        let open = TenantPolicy::default();
        assert_eq!(open.resolve(None).unwrap().as_str(), DEFAULT_TENANT);
        assert_eq!(open.resolve(Some("t1")).unwrap().as_str(), "t1");
        let closed = TenantPolicy {
            allowed: vec!["t1".into()],
        };
        assert!(closed.resolve(Some("t1")).is_ok());
        assert_eq!(
            closed.resolve(Some("t2")).unwrap_err(),
            CoreError::UnknownTenant("t2".into())
        );
    }
}
