//! Splitting an export batch into per-trace fragments.
//!
//! A fragment is the protobuf encoding of one or more `Trace.resource_spans` entries (field 1 of
//! `tempopb.Trace`, which is wire-identical to OTLP `TracesData`). Because protobuf repeated
//! fields concatenate, appending fragments of the same trace yields a valid `Trace` message:
//! the head, the blocks and compaction merge traces by concatenating bytes, and trace-by-ID
//! answers without decoding anything.

use std::collections::HashMap;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message;
use weft_core::otlp::trace::v1::{ResourceSpans, Span};

/// One trace's share of an export batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fragment {
    /// Encoded `Trace.resource_spans` entries (tag + length + ResourceSpans, repeated).
    pub data: Vec<u8>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub span_count: u32,
}

/// Field numbers of the messages framed by hand below.
const TRACE_RESOURCE_SPANS: u32 = 1;
const RS_RESOURCE: u32 = 1;
const RS_SCOPE_SPANS: u32 = 2;
const RS_SCHEMA_URL: u32 = 3;
const SS_SCOPE: u32 = 1;
const SS_SPANS: u32 = 2;
const SS_SCHEMA_URL: u32 = 3;

/// Groups the spans of `batch` by trace ID. Spans must already be validated (16-byte trace
/// IDs); spans with any other ID length are skipped. Resources and scopes are re-encoded once
/// per trace they contribute to; spans are encoded exactly once.
pub fn split_by_trace(batch: &[ResourceSpans]) -> HashMap<[u8; 16], Fragment> {
    let mut out: HashMap<[u8; 16], Fragment> = HashMap::new();
    for rs in batch {
        for (trace_id, scopes) in group_resource(rs) {
            let fragment = out.entry(trace_id).or_default();
            encode_resource_spans(&mut fragment.data, rs, &scopes);
            for (_, spans) in &scopes {
                for span in spans {
                    fragment.note_span(span);
                }
            }
        }
    }
    out
}

impl Fragment {
    fn note_span(&mut self, span: &Span) {
        if self.span_count == 0 || span.start_time_unix_nano < self.start_ns {
            self.start_ns = span.start_time_unix_nano;
        }
        self.end_ns = self.end_ns.max(span.end_time_unix_nano);
        self.span_count += 1;
    }
}

/// For one ResourceSpans: trace ID → [(scope index, spans of that trace in that scope)].
type ScopeGroups<'a> = Vec<(usize, Vec<&'a Span>)>;

fn group_resource(rs: &ResourceSpans) -> HashMap<[u8; 16], ScopeGroups<'_>> {
    let mut by_trace: HashMap<[u8; 16], ScopeGroups<'_>> = HashMap::new();
    for (scope_idx, ss) in rs.scope_spans.iter().enumerate() {
        for span in &ss.spans {
            let Ok(trace_id) = <[u8; 16]>::try_from(span.trace_id.as_slice()) else {
                continue;
            };
            let groups = by_trace.entry(trace_id).or_default();
            match groups.last_mut() {
                Some((idx, spans)) if *idx == scope_idx => spans.push(span),
                _ => groups.push((scope_idx, vec![span])),
            }
        }
    }
    by_trace
}

fn encode_resource_spans(out: &mut Vec<u8>, rs: &ResourceSpans, scopes: &ScopeGroups<'_>) {
    let scope_lens: Vec<usize> = scopes
        .iter()
        .map(|(idx, spans)| scope_spans_len(&rs.scope_spans[*idx], spans))
        .collect();
    let mut body_len = 0;
    if let Some(resource) = &rs.resource {
        body_len += message_field_len(RS_RESOURCE, resource.encoded_len());
    }
    body_len += scope_lens
        .iter()
        .map(|len| message_field_len(RS_SCOPE_SPANS, *len))
        .sum::<usize>();
    if !rs.schema_url.is_empty() {
        body_len += message_field_len(RS_SCHEMA_URL, rs.schema_url.len());
    }

    let before = out.len();
    write_len_prefix(out, TRACE_RESOURCE_SPANS, body_len);
    let body_start = out.len();
    if let Some(resource) = &rs.resource {
        resource.encode_length_delimited_field(RS_RESOURCE, out);
    }
    for ((idx, spans), len) in scopes.iter().zip(&scope_lens) {
        write_len_prefix(out, RS_SCOPE_SPANS, *len);
        encode_scope_spans(out, &rs.scope_spans[*idx], spans);
    }
    if !rs.schema_url.is_empty() {
        prost::encoding::string::encode(RS_SCHEMA_URL, &rs.schema_url, out);
    }
    debug_assert_eq!(out.len() - body_start, body_len, "framing length mismatch");
    debug_assert!(out.len() > before);
}

fn scope_spans_len(ss: &weft_core::otlp::trace::v1::ScopeSpans, spans: &[&Span]) -> usize {
    let mut len = 0;
    if let Some(scope) = &ss.scope {
        len += message_field_len(SS_SCOPE, scope.encoded_len());
    }
    len += spans
        .iter()
        .map(|s| message_field_len(SS_SPANS, s.encoded_len()))
        .sum::<usize>();
    if !ss.schema_url.is_empty() {
        len += message_field_len(SS_SCHEMA_URL, ss.schema_url.len());
    }
    len
}

fn encode_scope_spans(
    out: &mut Vec<u8>,
    ss: &weft_core::otlp::trace::v1::ScopeSpans,
    spans: &[&Span],
) {
    if let Some(scope) = &ss.scope {
        scope.encode_length_delimited_field(SS_SCOPE, out);
    }
    for span in spans {
        span.encode_length_delimited_field(SS_SPANS, out);
    }
    if !ss.schema_url.is_empty() {
        prost::encoding::string::encode(SS_SCHEMA_URL, &ss.schema_url, out);
    }
}

/// Bytes taken by a length-delimited field with a body of `len` bytes.
fn message_field_len(tag: u32, len: usize) -> usize {
    prost::encoding::key_len(tag) + encoded_len_varint(len as u64) + len
}

fn write_len_prefix(out: &mut Vec<u8>, tag: u32, len: usize) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

/// Encodes a message as a length-delimited field (tag, length, body).
trait EncodeField {
    fn encode_length_delimited_field(&self, tag: u32, out: &mut Vec<u8>);
}

impl<M: Message> EncodeField for M {
    fn encode_length_delimited_field(&self, tag: u32, out: &mut Vec<u8>) {
        write_len_prefix(out, tag, self.encoded_len());
        self.encode_raw(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_core::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
    use weft_core::otlp::resource::v1::Resource;
    use weft_core::otlp::trace::v1::{ScopeSpans, TracesData};

    fn span(trace: u8, id: u8, start: u64) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            name: format!("s{id}"),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 10,
            ..Default::default()
        }
    }

    fn resource(service: &str) -> Resource {
        Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(service.into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn fragments_decode_to_the_spans_of_their_trace_only() {
        let batch = vec![ResourceSpans {
            resource: Some(resource("a")),
            scope_spans: vec![
                ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib1".into(),
                        ..Default::default()
                    }),
                    spans: vec![span(1, 1, 100), span(2, 2, 50), span(1, 3, 90)],
                    schema_url: "x".into(),
                },
                ScopeSpans {
                    scope: None,
                    spans: vec![span(2, 4, 70)],
                    ..Default::default()
                },
            ],
            schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
        }];
        let frags = split_by_trace(&batch);
        assert_eq!(frags.len(), 2);
        let one = &frags[&[1; 16]];
        assert_eq!((one.span_count, one.start_ns, one.end_ns), (2, 90, 110));
        let decoded = TracesData::decode(one.data.as_slice()).unwrap();
        assert_eq!(decoded.resource_spans.len(), 1);
        let rs = &decoded.resource_spans[0];
        assert_eq!(rs.resource, Some(resource("a")));
        assert_eq!(rs.schema_url, batch[0].schema_url);
        assert_eq!(rs.scope_spans.len(), 1);
        assert_eq!(rs.scope_spans[0].schema_url, "x");
        let names: Vec<_> = rs.scope_spans[0].spans.iter().map(|s| &s.name).collect();
        assert_eq!(names, ["s1", "s3"]);

        let two = TracesData::decode(frags[&[2; 16]].data.as_slice()).unwrap();
        let scopes = &two.resource_spans[0].scope_spans;
        assert_eq!(scopes.len(), 2);
        assert_eq!(scopes[1].spans[0].name, "s4");
    }

    #[test]
    fn concatenated_fragments_merge_into_one_trace() {
        let a = split_by_trace(&[ResourceSpans {
            resource: Some(resource("a")),
            scope_spans: vec![ScopeSpans {
                spans: vec![span(7, 1, 10)],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        let b = split_by_trace(&[ResourceSpans {
            resource: Some(resource("b")),
            scope_spans: vec![ScopeSpans {
                spans: vec![span(7, 2, 20)],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        let mut bytes = a[&[7; 16]].data.clone();
        bytes.extend_from_slice(&b[&[7; 16]].data);
        let merged = TracesData::decode(bytes.as_slice()).unwrap();
        assert_eq!(merged.resource_spans.len(), 2);
    }
}
