//! Splitting an export batch into per-trace fragments.
//!
//! A fragment is the protobuf encoding of one or more `Trace.resource_spans` entries (field 1 of
//! `tempopb.Trace`, which is wire-identical to OTLP `TracesData`). Because protobuf repeated
//! fields concatenate, appending fragments of the same trace yields a valid `Trace` message:
//! the head, the blocks and compaction merge traces by concatenating bytes, and trace-by-ID
//! answers without decoding anything.

use std::collections::HashMap;

use weft_core::protowire::{len_field_size, put_len_prefix};

use crate::raw::{RawBatch, RawResource, RawScope, RawSpan};

/// One trace's share of an export batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fragment {
    /// Encoded `Trace.resource_spans` entries (tag + length + ResourceSpans, repeated).
    pub data: Vec<u8>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub span_count: u32,
}

/// Field numbers of the messages framed here.
const TRACE_RESOURCE_SPANS: u32 = 1;
const RS_RESOURCE: u32 = 1;
const RS_SCOPE_SPANS: u32 = 2;
const RS_SCHEMA_URL: u32 = 3;
const SS_SCOPE: u32 = 1;
const SS_SPANS: u32 = 2;
const SS_SCHEMA_URL: u32 = 3;

/// Groups the spans of `batch` by trace ID, copying each span's bytes once and its resource
/// and scope bytes once per trace they contribute to. Spans whose trace ID is not 16 bytes
/// are skipped (the pipeline validates IDs before this point).
pub fn split_by_trace(batch: &RawBatch<'_>) -> HashMap<[u8; 16], Fragment> {
    let mut out: HashMap<[u8; 16], Fragment> = HashMap::new();
    for resource in &batch.resources {
        for (trace_id, scopes) in group_resource(resource) {
            let fragment = out.entry(trace_id).or_default();
            encode_resource_spans(&mut fragment.data, resource, &scopes);
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
    fn note_span(&mut self, span: &RawSpan<'_>) {
        if self.span_count == 0 || span.start_ns < self.start_ns {
            self.start_ns = span.start_ns;
        }
        self.end_ns = self.end_ns.max(span.end_ns);
        self.span_count += 1;
    }
}

/// For one resource: trace ID → [(scope index, spans of that trace in that scope)].
type ScopeGroups<'b, 'a> = Vec<(usize, Vec<&'b RawSpan<'a>>)>;

fn group_resource<'b, 'a>(resource: &'b RawResource<'a>) -> HashMap<[u8; 16], ScopeGroups<'b, 'a>> {
    let mut by_trace: HashMap<[u8; 16], ScopeGroups<'b, 'a>> = HashMap::new();
    for (scope_idx, scope) in resource.scopes.iter().enumerate() {
        for span in &scope.spans {
            let Ok(trace_id) = <[u8; 16]>::try_from(span.trace_id) else {
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

fn encode_resource_spans(
    out: &mut Vec<u8>,
    resource: &RawResource<'_>,
    scopes: &ScopeGroups<'_, '_>,
) {
    let scope_lens: Vec<usize> = scopes
        .iter()
        .map(|(idx, spans)| scope_spans_len(&resource.scopes[*idx], spans))
        .collect();
    let mut body_len = 0;
    if let Some(bytes) = resource.resource {
        body_len += len_field_size(RS_RESOURCE, bytes.len());
    }
    body_len += scope_lens
        .iter()
        .map(|len| len_field_size(RS_SCOPE_SPANS, *len))
        .sum::<usize>();
    if !resource.schema_url.is_empty() {
        body_len += len_field_size(RS_SCHEMA_URL, resource.schema_url.len());
    }

    out.reserve(len_field_size(TRACE_RESOURCE_SPANS, body_len));
    put_len_prefix(out, TRACE_RESOURCE_SPANS, body_len);
    let body_start = out.len();
    if let Some(bytes) = resource.resource {
        put_bytes_field(out, RS_RESOURCE, bytes);
    }
    for ((idx, spans), len) in scopes.iter().zip(&scope_lens) {
        put_len_prefix(out, RS_SCOPE_SPANS, *len);
        encode_scope_spans(out, &resource.scopes[*idx], spans);
    }
    if !resource.schema_url.is_empty() {
        put_bytes_field(out, RS_SCHEMA_URL, resource.schema_url.as_bytes());
    }
    debug_assert_eq!(out.len() - body_start, body_len, "framing length mismatch");
}

fn scope_spans_len(scope: &RawScope<'_>, spans: &[&RawSpan<'_>]) -> usize {
    let mut len = 0;
    if let Some(bytes) = scope.scope {
        len += len_field_size(SS_SCOPE, bytes.len());
    }
    len += spans
        .iter()
        .map(|s| len_field_size(SS_SPANS, s.bytes.len()))
        .sum::<usize>();
    if !scope.schema_url.is_empty() {
        len += len_field_size(SS_SCHEMA_URL, scope.schema_url.len());
    }
    len
}

fn encode_scope_spans(out: &mut Vec<u8>, scope: &RawScope<'_>, spans: &[&RawSpan<'_>]) {
    if let Some(bytes) = scope.scope {
        put_bytes_field(out, SS_SCOPE, bytes);
    }
    for span in spans {
        put_bytes_field(out, SS_SPANS, span.bytes);
    }
    if !scope.schema_url.is_empty() {
        put_bytes_field(out, SS_SCHEMA_URL, scope.schema_url.as_bytes());
    }
}

fn put_bytes_field(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    put_len_prefix(out, number, bytes.len());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use weft_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use weft_core::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
    use weft_core::otlp::resource::v1::Resource;
    use weft_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};

    fn split(batch: &[ResourceSpans]) -> HashMap<[u8; 16], Fragment> {
        let bytes = ExportTraceServiceRequest {
            resource_spans: batch.to_vec(),
        }
        .encode_to_vec();
        split_by_trace(&RawBatch::parse(&bytes).unwrap())
    }

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
        let frags = split(&batch);
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
        let a = split(&[ResourceSpans {
            resource: Some(resource("a")),
            scope_spans: vec![ScopeSpans {
                spans: vec![span(7, 1, 10)],
                ..Default::default()
            }],
            ..Default::default()
        }]);
        let b = split(&[ResourceSpans {
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
