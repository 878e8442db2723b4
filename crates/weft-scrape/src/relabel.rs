//! Prometheus relabeling (`relabel_configs`, `metric_relabel_configs`).
//!
//! [`RelabelConfig`] is the YAML form; [`RelabelRule::compile`] validates it the way
//! Prometheus' `relabel.Config.Validate` does (legacy label-name rules for targets, with `$var`
//! templates allowed where Prometheus allows them) and [`process`] applies a list of rules to a
//! [`LabelBuilder`]. Regexes are fully anchored (`^(?s:…)$`); replacement templates use Go's
//! `Regexp.Expand` rules (see [`expand`]).

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};
use weft_core::labels::{is_legacy_label_name, Labels};

use crate::ScrapeError;

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// One relabel rule as written in YAML. Absent fields take Prometheus' defaults; an explicit
/// empty `separator` or `replacement` is kept (it means "empty", not "default").
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// `None` is the default `(.*)`; YAML `regex: null` is treated as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modulus: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// What a rule does; the names are Prometheus' (matched case-insensitively in YAML).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

/// A validated, compiled relabel rule.
#[derive(Clone, Debug)]
pub struct RelabelRule {
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    /// Whether the regex is the default `(.*)`, which enables the replace fast path.
    default_regex: bool,
    modulus: u64,
    target_label: String,
    replacement: String,
    action: Action,
}

/// Compiles `s` fully anchored, as Prometheus' `relabel.NewRegexp` does.
pub fn anchored_regex(s: &str) -> Result<Regex, ScrapeError> {
    Regex::new(&format!("^(?s:{s})$"))
        .map_err(|e| ScrapeError::Relabel(format!("invalid regex {s:?}: {e}")))
}

/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`: a legacy label name in which `$var` and
/// `${var}` may appear, as Prometheus accepts for templated target labels.
fn is_templated_label_name(s: &str) -> bool {
    let re = Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$");
    re.map(|re| re.is_match(s)).unwrap_or(false)
}

impl RelabelRule {
    /// Validates and compiles one rule with Prometheus' defaults and checks.
    pub fn compile(cfg: &RelabelConfig) -> Result<Self, ScrapeError> {
        let err = |m: String| Err(ScrapeError::Relabel(m));
        let action_str = cfg.action.as_deref().unwrap_or("replace");
        let Some(action) = Action::parse(action_str) else {
            return err(format!("unknown relabel action {action_str:?}"));
        };
        let target = cfg.target_label.clone().unwrap_or_default();
        let replacement = cfg
            .replacement
            .clone()
            .unwrap_or_else(|| DEFAULT_REPLACEMENT.to_string());
        let separator = cfg
            .separator
            .clone()
            .unwrap_or_else(|| DEFAULT_SEPARATOR.to_string());
        let regex_src = cfg.regex.as_deref().unwrap_or(DEFAULT_REGEX);
        let modulus = cfg.modulus.unwrap_or(0);
        let name = action.name();

        if action == Action::HashMod && modulus == 0 {
            return err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && target.is_empty() {
            return err(format!(
                "relabel configuration for {name} action requires 'target_label' value"
            ));
        }
        let templated = target.contains('$');
        let bad_target = match action {
            Action::Replace if templated => !is_templated_label_name(&target),
            Action::Replace
            | Action::HashMod
            | Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual => !is_legacy_label_name(&target),
            _ => false,
        };
        if bad_target {
            return err(format!(
                "{target:?} is invalid 'target_label' for {name} action"
            ));
        }
        let equal_or_case = matches!(
            action,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if equal_or_case && replacement != DEFAULT_REPLACEMENT {
            return err(format!("'replacement' can not be set for {name} action"));
        }
        if action == Action::LabelMap && !is_templated_label_name(&replacement) {
            return err(format!(
                "{replacement:?} is invalid 'replacement' for {name} action"
            ));
        }
        let default_regex = regex_src == DEFAULT_REGEX;
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (!default_regex || modulus != 0 || separator != DEFAULT_SEPARATOR)
        {
            return err(format!(
                "{name} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (!cfg.source_labels.is_empty()
                || !target.is_empty()
                || modulus != 0
                || separator != DEFAULT_SEPARATOR
                || replacement != DEFAULT_REPLACEMENT)
        {
            return err(format!(
                "{name} action requires only 'regex', and no other fields"
            ));
        }
        Ok(RelabelRule {
            source_labels: cfg.source_labels.clone(),
            separator,
            regex: anchored_regex(regex_src)?,
            default_regex,
            modulus,
            target_label: target,
            replacement,
            action,
        })
    }

    /// Compiles a list; the error names the rule's index.
    pub fn compile_all(cfgs: &[RelabelConfig]) -> Result<Vec<Self>, (usize, ScrapeError)> {
        cfgs.iter()
            .enumerate()
            .map(|(i, c)| RelabelRule::compile(c).map_err(|e| (i, e)))
            .collect()
    }

    /// Applies this rule; returns false when the label set is to be dropped.
    fn apply(&self, lb: &mut LabelBuilder) -> bool {
        let val = self
            .source_labels
            .iter()
            .map(|n| lb.get(n))
            .collect::<Vec<_>>()
            .join(&self.separator);
        match self.action {
            Action::Drop => return !self.regex.is_match(&val),
            Action::Keep => return self.regex.is_match(&val),
            Action::DropEqual => return lb.get(&self.target_label) != val,
            Action::KeepEqual => return lb.get(&self.target_label) == val,
            Action::Replace => self.replace(lb, &val),
            Action::Lowercase => lb.set(&self.target_label, &val.to_lowercase()),
            Action::Uppercase => lb.set(&self.target_label, &val.to_uppercase()),
            Action::HashMod => {
                let digest = crate::md5::digest(val.as_bytes());
                // Prometheus uses the last 8 bytes, big-endian, so hashmod shards agree.
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&digest[8..]);
                let m = u64::from_be_bytes(tail) % self.modulus;
                lb.set(&self.target_label, &m.to_string());
            }
            Action::LabelMap => {
                for (name, value) in lb.snapshot() {
                    if let Some(caps) = self.regex.captures(&name) {
                        let new_name = expand(&self.replacement, &self.regex, &caps);
                        lb.set(&new_name, &value);
                    }
                }
            }
            Action::LabelDrop => {
                for (name, _) in lb.snapshot() {
                    if self.regex.is_match(&name) {
                        lb.del(&name);
                    }
                }
            }
            Action::LabelKeep => {
                for (name, _) in lb.snapshot() {
                    if !self.regex.is_match(&name) {
                        lb.del(&name);
                    }
                }
            }
        }
        true
    }

    fn replace(&self, lb: &mut LabelBuilder, val: &str) {
        // Prometheus' fast path: with the default regex, an empty input and no templates the
        // replacement is written verbatim (so `replacement: foo` works on absent labels).
        if val.is_empty()
            && self.default_regex
            && !self.target_label.contains('$')
            && !self.replacement.contains('$')
        {
            let (t, r) = (self.target_label.clone(), self.replacement.clone());
            lb.set(&t, &r);
            return;
        }
        let Some(caps) = self.regex.captures(val) else {
            return;
        };
        let target = expand(&self.target_label, &self.regex, &caps);
        // A template may expand to an invalid name; Prometheus skips the rule then.
        if !is_legacy_label_name(&target) {
            return;
        }
        let res = expand(&self.replacement, &self.regex, &caps);
        lb.set(&target, &res);
    }
}

/// Applies `rules` in order; false means "drop".
pub fn process(lb: &mut LabelBuilder, rules: &[RelabelRule]) -> bool {
    rules.iter().all(|r| r.apply(lb))
}

/// Expands `template` like Go's `Regexp.Expand`: `$$` is `$`; `$name`/`${name}` take the
/// longest run of letters, digits and `_` (so `$1x` is the group named `1x`); an all-digit
/// name without a leading zero is a group number; unknown or unmatched groups expand to
/// nothing; a malformed reference leaves the `$` as text.
pub fn expand(template: &str, re: &Regex, caps: &regex::Captures<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract_name(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        if let Some(m) = group(re, caps, name) {
            out.push_str(m);
        }
    }
    out.push_str(rest);
    out
}

/// Splits a `name` or `{name}` off the front of `s`.
fn extract_name(s: &str) -> Option<(&str, &str)> {
    let is_name_char = |c: char| c == '_' || c.is_alphanumeric();
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body.find(|c: char| !is_name_char(c)).unwrap_or(body.len());
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    if braced {
        let after = body[end..].strip_prefix('}')?;
        Some((name, after))
    } else {
        Some((name, &body[end..]))
    }
}

/// The text of group `name` (a number or a group name), if it exists and participated.
fn group<'h>(re: &Regex, caps: &regex::Captures<'h>, name: &str) -> Option<&'h str> {
    let numeric = name.bytes().all(|b| b.is_ascii_digit())
        && !(name.starts_with('0') && name.len() > 1)
        && name.len() <= 8;
    if numeric {
        let n: usize = name.parse().ok()?;
        return caps.get(n).map(|m| m.as_str());
    }
    // Go picks the first group with the name.
    let idx = re.capture_names().position(|n| n == Some(name))?;
    caps.get(idx).map(|m| m.as_str())
}

/// A mutable label set for relabeling and label merging. Setting an empty value deletes the
/// label, as in Prometheus' `labels.Builder`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelBuilder {
    map: BTreeMap<String, String>,
}

impl LabelBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_labels(labels: &Labels) -> Self {
        let map = labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        Self { map }
    }

    /// The value of `name`, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.map.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.map.remove(name);
        } else {
            self.map.insert(name.to_string(), value.to_string());
        }
    }

    pub fn del(&mut self, name: &str) {
        self.map.remove(name);
    }

    /// A copy of the current labels, so rules can iterate while mutating.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        self.map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Removes every label whose name starts with `prefix`.
    pub fn retain_not_prefixed(&mut self, prefix: &str) {
        self.map.retain(|k, _| !k.starts_with(prefix));
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The final, sorted label set.
    pub fn labels(&self) -> Labels {
        // The map has unique names and no empty values, so this cannot fail.
        Labels::from_pairs(self.map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
