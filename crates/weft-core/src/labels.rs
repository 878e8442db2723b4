//! Prometheus-style label sets: the identity of a metric series.
//!
//! A [`Labels`] value is sorted by name and has no duplicate names, so equal sets compare and
//! hash equal. `__name__` holds the metric name. Names follow Prometheus' rules; values are any
//! UTF-8 (Rust strings always are).

use std::fmt;
use std::sync::Arc;

/// Name of the label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// Why a label set is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("label name {0:?} is invalid: it must match [a-zA-Z_][a-zA-Z0-9_]* (or be non-empty UTF-8 when UTF-8 names are allowed)")]
    InvalidName(String),
    #[error("label name {0:?} appears more than once")]
    Duplicate(String),
    #[error("label {0:?} has an empty value (an empty value means the label is absent; omit it)")]
    EmptyValue(String),
}

/// A sorted, duplicate-free set of labels.
///
/// Immutable and shared: query evaluation hands the same series' labels to every step of a
/// range query and every intermediate vector, so a clone is a reference-count increment
/// rather than a copy of every name and value. The set's hash is computed once when it is
/// built, because the engine groups and joins by label sets at every step; [`Hash`] feeds
/// only that number to the hasher.
#[derive(Clone)]
pub struct Labels {
    labels: Arc<[Label]>,
    hash: u64,
}

impl Default for Labels {
    fn default() -> Self {
        Self::from_sorted(Vec::new())
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        // Shared sets (clones of one another) are equal without looking at a single label.
        Arc::ptr_eq(&self.labels, &other.labels)
            || (self.hash == other.hash && self.labels[..] == other.labels[..])
    }
}

impl Eq for Labels {}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.labels.cmp(&other.labels)
    }
}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Labels").field(&&*self.labels).finish()
    }
}

/// The hash of a label set, from its names and values (a separator byte that cannot occur
/// in UTF-8 keeps `a="bc"` and `ab="c"` apart).
fn hash_of(labels: &[Label]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    for l in labels {
        h.update(l.name.as_bytes());
        h.update(&[0xff]);
        h.update(l.value.as_bytes());
        h.update(&[0xff]);
    }
    h.digest()
}

impl Labels {
    /// Builds a set from pairs in any order. Labels with empty values are dropped (in
    /// Prometheus an empty value is the same as no label); duplicate names are an error.
    pub fn from_pairs<I, N, V>(pairs: I) -> Result<Self, LabelError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let mut labels: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .filter(|l| !l.value.is_empty())
            .collect();
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = labels.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(LabelError::Duplicate(pair[0].name.clone()));
        }
        Ok(Self::from_sorted(labels))
    }

    /// Wraps labels already sorted by name, without duplicates or empty values.
    fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Self {
            hash: hash_of(&labels),
            labels: labels.into(),
        }
    }

    /// Checks every name with the legacy Prometheus character rules.
    pub fn validate_legacy_names(&self) -> Result<(), LabelError> {
        match self.labels.iter().find(|l| !is_legacy_label_name(&l.name)) {
            Some(l) => Err(LabelError::InvalidName(l.name.clone())),
            None => Ok(()),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.labels[i].value.as_str())
    }

    /// The metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        // `__name__` sorts before every lowercase name, so it is almost always first: a
        // short scan beats the binary search of `get` on this hot path of the engine.
        self.labels
            .iter()
            .take_while(|l| l.name.as_str() <= METRIC_NAME)
            .find(|l| l.name == METRIC_NAME)
            .map(|l| l.value.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.labels.iter()
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.labels
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_legacy_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Sorted, distinct label names of `series` (`/api/v1/labels`).
pub fn names_of<'a>(series: impl IntoIterator<Item = &'a Labels>) -> Vec<String> {
    let names: std::collections::BTreeSet<&str> = series
        .into_iter()
        .flat_map(|l| l.iter().map(|l| l.name.as_str()))
        .collect();
    names.into_iter().map(str::to_string).collect()
}

/// Sorted, distinct values of label `name` in `series`; series without it add nothing
/// (`/api/v1/label/<name>/values`).
pub fn values_of<'a>(name: &str, series: impl IntoIterator<Item = &'a Labels>) -> Vec<String> {
    let values: std::collections::BTreeSet<&str> =
        series.into_iter().filter_map(|l| l.get(name)).collect();
    values.into_iter().map(str::to_string).collect()
}

impl fmt::Display for Labels {
    /// Prometheus' text form: `name{a="b", c="d"}` style without the name pulled out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_deduplicated_and_validated() {
        let l = Labels::from_pairs([("job", "a"), ("__name__", "up"), ("empty", "")]).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l.metric_name(), Some("up"));
        assert_eq!(l.get("job"), Some("a"));
        assert_eq!(l.get("empty"), None);
        assert_eq!(
            Labels::from_pairs([("a", "1"), ("a", "2")]).unwrap_err(),
            LabelError::Duplicate("a".into())
        );
        assert!(Labels::from_pairs([("1a", "x")])
            .unwrap()
            .validate_legacy_names()
            .is_err());
        assert!(is_legacy_metric_name("a:b_c1"));
        assert!(!is_legacy_label_name("a:b"));
    }
}
