//! Prometheus-style label sets: the identity of a metric series.
//!
//! A [`Labels`] value is sorted by name and has no duplicate names, so equal sets compare and
//! hash equal. `__name__` holds the metric name. Names follow Prometheus' rules; values are any
//! UTF-8 (Rust strings always are).

use std::fmt;

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
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<Label>);

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
        Ok(Self(labels))
    }

    /// Checks every name with the legacy Prometheus character rules.
    pub fn validate_legacy_names(&self) -> Result<(), LabelError> {
        match self.0.iter().find(|l| !is_legacy_label_name(&l.name)) {
            Some(l) => Err(LabelError::InvalidName(l.name.clone())),
            None => Ok(()),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name (`__name__`), if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
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
        for (i, l) in self.0.iter().enumerate() {
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
