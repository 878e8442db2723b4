//! The in-memory head: traces received since the last cut, per tenant.
//!
//! Everything in a head is already durable in the WAL; the head only makes it queryable until
//! it is written into a block.

use std::collections::HashMap;
use std::time::Instant;

use weft_core::otlp::common::v1::{any_value, AnyValue, KeyValue};
use weft_core::otlp::trace::v1::ResourceSpans;

use crate::block::TagSummary;
use crate::fragment::{split_by_trace, Fragment};

/// Longest attribute value kept for tag-value autocomplete; longer values are not useful
/// suggestions and would bloat the summary.
const MAX_TAG_VALUE_LEN: usize = 256;

/// One tenant's live traces.
#[derive(Debug)]
pub struct Head {
    pub traces: HashMap<[u8; 16], Fragment>,
    /// Bytes of encoded span data held.
    pub bytes: usize,
    pub spans: u64,
    pub tags: TagSummary,
    pub created: Instant,
}

impl Default for Head {
    fn default() -> Self {
        Self {
            traces: HashMap::new(),
            bytes: 0,
            spans: 0,
            tags: TagSummary::default(),
            created: Instant::now(),
        }
    }
}

impl Head {
    /// Adds a validated batch.
    pub fn append(&mut self, batch: &[ResourceSpans]) {
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
        record_tags(&mut self.tags, batch);
    }

    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    /// The traces sorted by ID, as blocks store them.
    pub fn into_sorted(self) -> Vec<([u8; 16], Fragment)> {
        let mut traces: Vec<_> = self.traces.into_iter().collect();
        traces.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        traces
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

/// Notes attribute keys and (short, scalar) values for `/api/v2/search/tags` and tag values.
fn record_tags(tags: &mut TagSummary, batch: &[ResourceSpans]) {
    for rs in batch {
        if let Some(resource) = &rs.resource {
            record_attributes(tags, "resource", &resource.attributes);
        }
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                record_attributes(tags, "span", &span.attributes);
                if span.name.len() <= MAX_TAG_VALUE_LEN {
                    tags.add("intrinsic", "name", &span.name, "string");
                }
            }
        }
    }
}

fn record_attributes(tags: &mut TagSummary, scope: &str, attributes: &[KeyValue]) {
    for kv in attributes {
        if let Some((value, kind)) = tag_value(kv.value.as_ref()) {
            tags.add(scope, &kv.key, &value, kind);
        }
    }
}

/// The autocomplete form of an attribute value and its TraceQL type name, for scalar values.
pub fn tag_value(value: Option<&AnyValue>) -> Option<(String, &'static str)> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(s) if s.len() <= MAX_TAG_VALUE_LEN => {
            Some((s.clone(), "string"))
        }
        any_value::Value::IntValue(i) => Some((i.to_string(), "int")),
        any_value::Value::DoubleValue(d) => Some((d.to_string(), "float")),
        any_value::Value::BoolValue(b) => Some((b.to_string(), "bool")),
        _ => None,
    }
}
