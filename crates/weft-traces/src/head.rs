//! The in-memory head: traces received since the last cut, per tenant.
//!
//! Everything in a head is already durable in the WAL; the head only makes it queryable until
//! it is written into a block.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::block::tags::{MAX_TAG_LEN, MAX_VALUES_PER_KEY, SCOPE_RESOURCE, SCOPE_SPAN};
use crate::block::TagSummary;
use crate::fragment::{split_by_trace, Fragment};
use crate::raw::{for_each_attribute, RawBatch, ScalarValue};

/// One tenant's live traces.
#[derive(Debug)]
pub struct Head {
    pub traces: HashMap<[u8; 16], Fragment>,
    /// Bytes of encoded span data held.
    pub bytes: usize,
    pub spans: u64,
    pub tags: TagRecorder,
    pub created: Instant,
}

impl Default for Head {
    fn default() -> Self {
        Self {
            traces: HashMap::new(),
            bytes: 0,
            spans: 0,
            tags: TagRecorder::default(),
            created: Instant::now(),
        }
    }
}

impl Head {
    /// Adds a validated batch.
    pub fn append(&mut self, batch: &RawBatch<'_>) {
        for (trace_id, fragment) in split_by_trace(batch) {
            self.bytes += fragment.data.len();
            self.spans += u64::from(fragment.span_count);
            match self.traces.get_mut(&trace_id) {
                Some(live) => merge_fragment(live, fragment),
                None => {
                    self.traces.insert(trace_id, fragment);
                }
            }
        }
        self.tags.record_batch(batch);
    }

    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }
}

/// Appends `more` to `live`: concatenated fragments are one valid trace message.
pub fn merge_fragment(live: &mut Fragment, more: Fragment) {
    live.data.extend_from_slice(&more.data);
    live.start_ns = if live.span_count == 0 {
        more.start_ns
    } else {
        live.start_ns.min(more.start_ns)
    };
    live.end_ns = live.end_ns.max(more.end_ns);
    live.span_count += more.span_count;
}

/// Records attribute keys and (short, scalar) values for `/api/v2/search/tags` and tag values
/// without paying for a map insertion per attribute: every (scope, key, value) is first
/// checked against a set of 64-bit hashes, so the steady state costs one hash and one probe,
/// and keys that reached their value cap are skipped by key hash alone.
#[derive(Debug, Default)]
pub struct TagRecorder {
    pub summary: TagSummary,
    seen: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
    capped_keys: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
    spans_seen: u64,
}

/// Distinguishes "key seen without a value" from value hashes in the seen-set.
const KEY_ONLY: u64 = 0x6b65_795f_6f6e_6c79;

/// The keys of these sets are already xxh3 hashes.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64(bytes);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Every span's attributes are recorded until a head has seen this many spans...
const TAG_FULL_SAMPLE_SPANS: u64 = 20_000;
/// ...then one span in this many: walking every attribute of every span again costs a tenth
/// of ingest, while autocomplete only needs the keys and a capped set of values, which a
/// sample of a busy head still finds.
const TAG_SAMPLE_EVERY: u64 = 16;

impl TagRecorder {
    fn samples_span(&self) -> bool {
        self.spans_seen <= TAG_FULL_SAMPLE_SPANS || self.spans_seen.is_multiple_of(TAG_SAMPLE_EVERY)
    }

    fn record_batch(&mut self, batch: &RawBatch<'_>) {
        /// `Resource.attributes` and `Span.attributes` field numbers.
        const RESOURCE_ATTRIBUTES: u32 = 1;
        const SPAN_ATTRIBUTES: u32 = 9;
        for resource in &batch.resources {
            if let Some(bytes) = resource.resource {
                for_each_attribute(bytes, RESOURCE_ATTRIBUTES, |key, value| {
                    self.record(SCOPE_RESOURCE, key, value)
                });
            }
            for scope in &resource.scopes {
                for span in &scope.spans {
                    self.spans_seen += 1;
                    if !self.samples_span() {
                        continue;
                    }
                    for_each_attribute(span.bytes, SPAN_ATTRIBUTES, |key, value| {
                        self.record(SCOPE_SPAN, key, value)
                    });
                    self.record("intrinsic", "name", Some(ScalarValue::Str(span.name)));
                }
            }
        }
    }

    fn record(&mut self, scope: &str, key: &str, value: Option<ScalarValue<'_>>) {
        let key_hash = xxh3_64_with_seed(key.as_bytes(), scope.len() as u64);
        if self.capped_keys.contains(&key_hash) {
            return;
        }
        let value = match value {
            Some(ScalarValue::Str(s)) if s.len() > MAX_TAG_LEN => None,
            other => other,
        };
        let Some(value) = value else {
            // Keys whose values cannot be offered are still listed, once.
            if self.seen.insert(key_hash ^ KEY_ONLY) {
                self.summary.add_key(scope, key);
            }
            return;
        };
        let value_hash = value_hash(value, key_hash);
        if !self.seen.insert(value_hash) {
            return;
        }
        let (text, kind) = render(value);
        self.summary.add(scope, key, &text, kind);
        let capped = self
            .summary
            .values(scope, key)
            .is_none_or(|values| values.values.len() >= MAX_VALUES_PER_KEY);
        if capped {
            self.capped_keys.insert(key_hash);
        }
    }
}

fn value_hash(value: ScalarValue<'_>, seed: u64) -> u64 {
    match value {
        ScalarValue::Str(s) => xxh3_64_with_seed(s.as_bytes(), seed),
        ScalarValue::Int(i) => xxh3_64_with_seed(&i.to_le_bytes(), seed ^ 1),
        ScalarValue::Float(f) => xxh3_64_with_seed(&f.to_bits().to_le_bytes(), seed ^ 2),
        ScalarValue::Bool(b) => xxh3_64_with_seed(&[b as u8], seed ^ 3),
    }
}

fn render(value: ScalarValue<'_>) -> (String, &'static str) {
    match value {
        ScalarValue::Str(s) => (s.to_string(), "string"),
        ScalarValue::Int(i) => (i.to_string(), "int"),
        ScalarValue::Float(f) => (f.to_string(), "float"),
        ScalarValue::Bool(b) => (b.to_string(), "bool"),
    }
}
