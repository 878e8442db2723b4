//! Label matcher evaluation against postings (an inverted index), shared by the head
//! (`head::matcher` implements [`LabelIndex`] for its in-memory map) and blocks.
//!
//! Semantics follow Prometheus: a matcher on a label a series lacks sees the empty string;
//! regexes match the whole value (anchored here even if the caller built an unanchored
//! [`Regex`]); `or_matchers` groups are alternatives, each also required to satisfy the
//! common `matchers` (as [`crate::promql::matches`] does).

use promql_parser::label::{MatchOp, Matcher, Matchers};
use regex::Regex;

/// Series ids, ascending and unique.
pub(crate) type Postings = Vec<u32>;

/// What matcher evaluation needs from an inverted index. Series ids are `0..n`.
pub(crate) trait LabelIndex {
    /// Ascending ids of the series with label `name` = `value` (empty if none).
    fn postings(&self, name: &str, value: &str) -> &[u32];

    /// Every value of label `name` with its postings (nothing if the label is unknown).
    fn values<'a>(&'a self, name: &str) -> Box<dyn Iterator<Item = (&'a str, &'a [u32])> + 'a>;
}

/// A matcher with its regex fully anchored.
#[derive(Debug)]
pub(crate) enum Compiled {
    Eq(String),
    Ne(String),
    Re(Regex),
    NotRe(Regex),
}

/// Anchors a regex as `^(?:...)$` unless it already is (as `promql-parser` produces).
fn anchored(r: &Regex) -> Regex {
    let s = r.as_str();
    if s.starts_with("^(?:") && s.ends_with(")$") {
        return r.clone();
    }
    // The source compiled once already, so the anchored form compiles too.
    Regex::new(&format!("^(?:{s})$")).unwrap_or_else(|_| r.clone())
}

impl Compiled {
    pub(crate) fn new(m: &Matcher) -> Self {
        match &m.op {
            MatchOp::Equal => Compiled::Eq(m.value.clone()),
            MatchOp::NotEqual => Compiled::Ne(m.value.clone()),
            MatchOp::Re(r) => Compiled::Re(anchored(r)),
            MatchOp::NotRe(r) => Compiled::NotRe(anchored(r)),
        }
    }

    pub(crate) fn is_match(&self, v: &str) -> bool {
        match self {
            Compiled::Eq(s) => s == v,
            Compiled::Ne(s) => s != v,
            Compiled::Re(r) => r.is_match(v),
            Compiled::NotRe(r) => !r.is_match(v),
        }
    }
}

/// Sorted-set intersection.
pub(crate) fn intersect(a: &[u32], b: &[u32]) -> Postings {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Sorted-set difference `a - b`.
pub(crate) fn subtract(a: &[u32], b: &[u32]) -> Postings {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Sorted-set union of many lists.
pub(crate) fn union_all(lists: Vec<&[u32]>) -> Postings {
    match lists.len() {
        0 => Vec::new(),
        1 => lists[0].to_vec(),
        _ => {
            let mut out: Postings = lists.into_iter().flatten().copied().collect();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

/// Union of the postings of `name`'s values selected by `pred`.
fn values_where<I: LabelIndex + ?Sized>(
    index: &I,
    name: &str,
    pred: impl Fn(&str) -> bool,
) -> Postings {
    union_all(
        index
            .values(name)
            .filter(|(v, _)| pred(v))
            .map(|(_, p)| p)
            .collect(),
    )
}

/// Series ids (ascending) satisfying every matcher of `group`; `n` is the number of series
/// (ids are `0..n`).
fn group_postings<I: LabelIndex + ?Sized>(index: &I, n: u32, group: &[&Matcher]) -> Postings {
    let mut positive: Option<Postings> = None;
    let mut negative: Vec<Postings> = Vec::new();
    for m in group {
        let c = Compiled::new(m);
        if c.is_match("") {
            // Series without the label match too: take everything except the series whose
            // value fails the matcher.
            let failing = match &c {
                Compiled::Ne(v) => index.postings(&m.name, v).to_vec(),
                _ => values_where(index, &m.name, |v| !c.is_match(v)),
            };
            negative.push(failing);
        } else {
            let hits = match &c {
                Compiled::Eq(v) => index.postings(&m.name, v).to_vec(),
                _ => values_where(index, &m.name, |v| c.is_match(v)),
            };
            positive = Some(match positive {
                None => hits,
                Some(p) => intersect(&p, &hits),
            });
        }
        if positive.as_ref().is_some_and(|p| p.is_empty()) {
            return Vec::new();
        }
    }
    let mut ids = positive.unwrap_or_else(|| (0..n).collect());
    for neg in negative {
        if !neg.is_empty() {
            ids = subtract(&ids, &neg);
        }
    }
    ids
}

/// Series ids (ascending) selected by `matchers`.
pub(crate) fn select_postings<I: LabelIndex + ?Sized>(
    index: &I,
    n: u32,
    matchers: &Matchers,
) -> Postings {
    if matchers.or_matchers.is_empty() {
        let group: Vec<&Matcher> = matchers.matchers.iter().collect();
        return group_postings(index, n, &group);
    }
    let parts: Vec<Postings> = matchers
        .or_matchers
        .iter()
        .map(|g| {
            let group: Vec<&Matcher> = g.iter().chain(matchers.matchers.iter()).collect();
            group_postings(index, n, &group)
        })
        .collect();
    union_all(parts.iter().map(Vec::as_slice).collect())
}

/// Series ids (ascending) selected by any of `matchers`, all `0..n` when there are none.
pub(crate) fn select_any<I: LabelIndex + ?Sized>(
    index: &I,
    n: u32,
    matchers: &[&Matchers],
) -> Postings {
    if matchers.is_empty() {
        return (0..n).collect();
    }
    let parts: Vec<Postings> = matchers
        .iter()
        .map(|m| select_postings(index, n, m))
        .collect();
    union_all(parts.iter().map(Vec::as_slice).collect())
}
