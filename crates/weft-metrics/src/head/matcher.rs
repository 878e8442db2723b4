//! Label matcher evaluation against the head's postings (inverted index).
//!
//! The evaluation itself (Prometheus semantics: a missing label matches as the empty string,
//! anchored regexes, `or_matchers` alternatives) is shared with on-disk blocks and lives in
//! [`crate::block::postings`]; this module adapts the head's in-memory map to it.

use std::collections::BTreeMap;

use crate::block::postings::LabelIndex;
pub(crate) use crate::block::postings::{select_postings, union_all, Postings};

/// label name → label value → series ids (ascending).
pub(crate) type Index = BTreeMap<String, BTreeMap<String, Postings>>;

impl LabelIndex for Index {
    fn postings(&self, name: &str, value: &str) -> &[u32] {
        self.get(name)
            .and_then(|vals| vals.get(value))
            .map_or(&[], Vec::as_slice)
    }

    fn values<'a>(&'a self, name: &str) -> Box<dyn Iterator<Item = (&'a str, &'a [u32])> + 'a> {
        Box::new(
            self.get(name)
                .into_iter()
                .flatten()
                .map(|(v, p)| (v.as_str(), p.as_slice())),
        )
    }
}
