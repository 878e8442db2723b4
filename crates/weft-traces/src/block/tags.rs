//! Per-block summary of attribute keys and values, for search autocomplete.
//!
//! Built by whoever produces the block (head flush or compaction, which sees
//! the decoded spans) and stored in `meta.json`, so the tag APIs can answer
//! without opening any `data` file. Bounded so that a high-cardinality
//! attribute (request IDs, SQL text) cannot bloat `meta.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Scope name for resource attributes.
pub const SCOPE_RESOURCE: &str = "resource";
/// Scope name for span attributes.
pub const SCOPE_SPAN: &str = "span";

/// Maximum distinct values kept per key; more set [`TagValues::truncated`].
pub const MAX_VALUES_PER_KEY: usize = 500;
/// Maximum distinct keys kept per scope; further keys are dropped.
pub const MAX_KEYS_PER_SCOPE: usize = 2000;
/// Keys or values longer than this (bytes) are not recorded: they are
/// useless for autocomplete and expensive to keep.
pub const MAX_TAG_LEN: usize = 256;

/// Type names stored in [`TagValues::values`] (TraceQL's scalar types).
pub const TAG_TYPES: [&str; 4] = ["string", "int", "float", "bool"];

/// The values seen for one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagValues {
    /// value → type name (`"string" | "int" | "float" | "bool"`). If a value
    /// is seen with several types, the first one wins.
    pub values: BTreeMap<String, String>,
    /// True if some values were not recorded (cap reached or value too long).
    pub truncated: bool,
}

impl TagValues {
    /// Inserts a value unless the cap is reached; returns false if dropped.
    fn add(&mut self, value: &str, ty: &str) -> bool {
        if self.values.contains_key(value) {
            return true;
        }
        if value.len() > MAX_TAG_LEN || self.values.len() >= MAX_VALUES_PER_KEY {
            self.truncated = true;
            return false;
        }
        self.values.insert(value.to_owned(), ty.to_owned());
        true
    }
}

/// Attribute keys per scope (`"resource"`, `"span"`) with a capped set of
/// values per key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSummary {
    /// scope → key → values. Scopes are free-form strings (e.g. `"resource"`,
    /// `"span"`, `"intrinsic"`).
    pub scopes: BTreeMap<String, BTreeMap<String, TagValues>>,
}

impl TagSummary {
    /// An empty summary.
    pub fn new() -> Self {
        Self::default()
    }

    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.scopes.values().all(BTreeMap::is_empty)
    }

    /// Records `value` of type `ty` (one of [`TAG_TYPES`]) for `key` in
    /// `scope` (e.g. [`SCOPE_RESOURCE`], [`SCOPE_SPAN`]), honouring the caps.
    pub fn add(&mut self, scope: &str, key: &str, value: &str, ty: &str) {
        debug_assert!(TAG_TYPES.contains(&ty), "unknown tag type {ty:?}");
        if let Some(values) = self.key_entry(scope, key) {
            values.add(value, ty);
        }
    }

    /// Records that `key` exists in `scope` without offering a value (arrays, maps, bytes
    /// and over-long strings): the key is still searchable and should be suggested.
    pub fn add_key(&mut self, scope: &str, key: &str) {
        if let Some(values) = self.key_entry(scope, key) {
            values.truncated = true;
        }
    }

    /// Merges `other` into `self` (e.g. when compacting blocks), honouring
    /// the caps. A truncated key stays truncated.
    pub fn merge(&mut self, other: &TagSummary) {
        for (scope, keys) in &other.scopes {
            for (key, theirs) in keys {
                let Some(ours) = self.key_entry(scope, key) else {
                    continue;
                };
                ours.truncated |= theirs.truncated;
                for (value, ty) in &theirs.values {
                    ours.add(value, ty);
                }
            }
        }
    }

    /// Keys of `scope`, sorted.
    pub fn keys(&self, scope: &str) -> impl Iterator<Item = &str> + '_ {
        self.scopes
            .get(scope)
            .into_iter()
            .flat_map(|k| k.keys().map(String::as_str))
    }

    /// Values recorded for `key` in `scope`.
    pub fn values(&self, scope: &str, key: &str) -> Option<&TagValues> {
        self.scopes.get(scope)?.get(key)
    }

    /// The entry for `key` in `scope`, created if the key caps allow;
    /// `None` if the key is dropped.
    fn key_entry(&mut self, scope: &str, key: &str) -> Option<&mut TagValues> {
        if key.len() > MAX_TAG_LEN {
            return None;
        }
        // Lookups first: this runs once per attribute of every span, and the
        // common case (key already present) must not allocate.
        if !self.scopes.contains_key(scope) {
            self.scopes.insert(scope.to_owned(), BTreeMap::new());
        }
        let keys = self.scopes.get_mut(scope)?;
        if !keys.contains_key(key) {
            if keys.len() >= MAX_KEYS_PER_SCOPE {
                return None;
            }
            keys.insert(key.to_owned(), TagValues::default());
        }
        keys.get_mut(key)
    }
}
