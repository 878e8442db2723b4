//! TraceQL search over the head and the blocks of one tenant.
//!
//! Traces are visited newest source first (live head, heads being flushed, then blocks by
//! descending end time), skipping blocks and pages outside the time range. Each candidate is
//! decoded and evaluated with `weft-traceql`; the first `limit` matches are returned with up
//! to `spans_per_spanset` matched spans each.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use prost::Message;
use weft_core::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use weft_core::otlp::resource::v1::Resource;
use weft_core::otlp::trace::v1::{Span, TracesData};
use weft_core::TenantId;
use weft_traceql::{Intrinsic, Query, Scope, SpanView, TraceView, Value};

use crate::block::BlockReader;
use crate::head::Head;
use crate::{TraceStore, TraceStoreError};

/// Tempo's placeholder when a trace's root span has not arrived (yet).
pub const ROOT_SPAN_NOT_YET_RECEIVED: &str = "<root span not yet received>";

/// A parsed search request.
#[derive(Debug)]
pub struct SearchRequest {
    pub query: Query,
    /// Bounds on the trace's duration.
    pub min_duration_ns: Option<u64>,
    pub max_duration_ns: Option<u64>,
    pub limit: usize,
    pub spans_per_spanset: usize,
    /// Only traces overlapping [start, end].
    pub start_ns: Option<u64>,
    pub end_ns: Option<u64>,
}

/// Per-service counts within one trace.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ServiceStats {
    pub span_count: u32,
    pub error_count: u32,
}

/// A matched span as search results show it.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedSpan {
    pub span_id: [u8; 8],
    pub name: String,
    pub start_ns: u64,
    pub duration_ns: u64,
    /// Attributes the query referred to, in OTLP JSON form.
    pub attributes: Vec<(String, serde_json::Value)>,
}

/// One matching trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    pub trace_id: [u8; 16],
    pub root_service_name: String,
    pub root_trace_name: String,
    pub start_ns: u64,
    pub duration_ms: u64,
    pub spans: Vec<MatchedSpan>,
    pub matched: usize,
    pub service_stats: BTreeMap<String, ServiceStats>,
}

/// Search results and what was inspected to find them.
#[derive(Debug, Default)]
pub struct SearchResult {
    pub traces: Vec<TraceSummary>,
    pub inspected_traces: u64,
    pub inspected_spans: u64,
    pub inspected_bytes: u64,
    pub total_blocks: u64,
    pub total_block_bytes: u64,
}

/// One span with the resource and scope it was sent under.
pub struct SpanRef<'a> {
    pub span: &'a Span,
    pub resource: Option<&'a Resource>,
    pub scope: Option<&'a InstrumentationScope>,
}

impl TraceStore {
    /// Runs a search for `tenant`. Errors only on storage failures.
    pub fn search(
        &self,
        tenant: &TenantId,
        request: &SearchRequest,
    ) -> Result<SearchResult, TraceStoreError> {
        let mut result = SearchResult::default();
        let Some(state) = self.tenant(tenant) else {
            return Ok(result);
        };
        let (live, live_ids) = {
            let head = state.head.lock();
            let ids: HashSet<[u8; 16]> = head.traces.keys().copied().collect();
            let overlapping: Vec<([u8; 16], Vec<u8>)> = head
                .traces
                .iter()
                .filter(|(_, f)| request.overlaps(f.start_ns, f.end_ns))
                .map(|(id, f)| (*id, f.data.clone()))
                .collect();
            (overlapping, ids)
        };
        let flushing: Vec<Arc<Head>> = state.flushing.read().clone();
        let blocks: Vec<Arc<BlockReader>> = state.blocks.read().clone();
        result.total_blocks = blocks.len() as u64;
        result.total_block_bytes = blocks.iter().map(|b| b.meta().total_bytes).sum();
        let mut search = Search {
            store: self,
            tenant,
            request,
            result: &mut result,
            visited: HashSet::new(),
            live_ids,
            flushing: &flushing,
            blocks: &blocks,
        };
        for (id, data) in &live {
            if search.done() {
                break;
            }
            search.visit(Source::Live, *id, data)?;
        }
        for (i, head) in flushing.iter().enumerate().rev() {
            for (id, fragment) in &head.traces {
                if search.done() {
                    break;
                }
                if request.overlaps(fragment.start_ns, fragment.end_ns) {
                    search.visit(Source::Flushing(i), *id, &fragment.data)?;
                }
            }
        }
        for (i, block) in blocks.iter().enumerate().rev() {
            if search.done() {
                break;
            }
            let meta = block.meta();
            if !request.overlaps(meta.min_start_ns, meta.max_end_ns) {
                continue;
            }
            let (start, end) = request.range();
            for record in block.iter_overlapping(start, end) {
                let record = record?;
                search.visit(Source::Block(i), record.trace_id, &record.data)?;
                if search.done() {
                    break;
                }
            }
        }
        // Grafana sorts by start time too, but a stable newest-first order helps every client.
        result.traces.sort_by_key(|t| std::cmp::Reverse(t.start_ns));
        Ok(result)
    }
}

impl SearchRequest {
    fn range(&self) -> (u64, u64) {
        (self.start_ns.unwrap_or(0), self.end_ns.unwrap_or(u64::MAX))
    }

    fn overlaps(&self, start_ns: u64, end_ns: u64) -> bool {
        let (start, end) = self.range();
        start_ns <= end && end_ns >= start
    }
}

/// Where a candidate trace was found.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Live,
    Flushing(usize),
    Block(usize),
}

struct Search<'a> {
    store: &'a TraceStore,
    tenant: &'a TenantId,
    request: &'a SearchRequest,
    result: &'a mut SearchResult,
    /// Traces already evaluated (a trace may sit in several sources).
    visited: HashSet<[u8; 16]>,
    live_ids: HashSet<[u8; 16]>,
    flushing: &'a [Arc<Head>],
    blocks: &'a [Arc<BlockReader>],
}

impl Search<'_> {
    fn done(&self) -> bool {
        self.result.traces.len() >= self.request.limit
    }

    /// Evaluates one trace once. When parts of it may sit in other sources (spans sent at
    /// different times land in different heads and blocks), the whole trace is assembled
    /// first, as trace-by-ID does, so conditions and root facts see every span.
    fn visit(
        &mut self,
        source: Source,
        trace_id: [u8; 16],
        data: &[u8],
    ) -> Result<(), TraceStoreError> {
        if !self.visited.insert(trace_id) {
            return Ok(());
        }
        let assembled;
        let data = if self.stored_elsewhere(source, &trace_id) {
            assembled = self
                .store
                .find_trace(self.tenant, &trace_id)?
                .unwrap_or_else(|| data.to_vec());
            assembled.as_slice()
        } else {
            data
        };
        self.result.inspected_traces += 1;
        self.result.inspected_bytes += data.len() as u64;
        let trace = TracesData::decode(data)?;
        let spans = span_refs(&trace);
        self.result.inspected_spans += spans.len() as u64;
        if let Some(summary) = evaluate(trace_id, &spans, self.request) {
            self.result.traces.push(summary);
        }
        Ok(())
    }

    fn stored_elsewhere(&self, source: Source, id: &[u8; 16]) -> bool {
        (source != Source::Live && self.live_ids.contains(id))
            || self
                .flushing
                .iter()
                .enumerate()
                .any(|(i, h)| source != Source::Flushing(i) && h.traces.contains_key(id))
            || self
                .blocks
                .iter()
                .enumerate()
                .any(|(i, b)| source != Source::Block(i) && b.may_contain(id))
    }
}

/// Flattens a trace into spans with their resource and scope.
pub fn span_refs(trace: &TracesData) -> Vec<SpanRef<'_>> {
    let mut out = Vec::new();
    for rs in &trace.resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                out.push(SpanRef {
                    span,
                    resource: rs.resource.as_ref(),
                    scope: ss.scope.as_ref(),
                });
            }
        }
    }
    out
}

/// Trace-level facts computed once per trace.
struct TraceFacts<'a> {
    start_ns: u64,
    end_ns: u64,
    root: Option<&'a SpanRef<'a>>,
}

fn trace_facts<'a>(spans: &'a [SpanRef<'a>]) -> TraceFacts<'a> {
    let start_ns = spans
        .iter()
        .map(|s| s.span.start_time_unix_nano)
        .min()
        .unwrap_or(0);
    let end_ns = spans
        .iter()
        .map(|s| s.span.end_time_unix_nano)
        .max()
        .unwrap_or(0);
    let root = spans.iter().find(|s| s.span.parent_span_id.is_empty());
    TraceFacts {
        start_ns,
        end_ns,
        root,
    }
}

fn evaluate(
    trace_id: [u8; 16],
    spans: &[SpanRef<'_>],
    request: &SearchRequest,
) -> Option<TraceSummary> {
    if spans.is_empty() {
        return None;
    }
    let facts = trace_facts(spans);
    let duration_ns = facts.end_ns.saturating_sub(facts.start_ns);
    if request.min_duration_ns.is_some_and(|min| duration_ns < min)
        || request.max_duration_ns.is_some_and(|max| duration_ns > max)
    {
        return None;
    }
    let root_name = facts.root.map(|r| r.span.name.as_str());
    let root_service = facts.root.and_then(|r| service_name(r.resource));
    let trace_id_hex = hex::encode(trace_id);
    let view = TraceView {
        spans,
        trace_duration_ns: duration_ns as i64,
        root_name,
        root_service_name: root_service,
        trace_id_hex: &trace_id_hex,
    };
    let matched = request.query.eval_trace(&view)?;
    let referenced = request.query.referenced_attributes();
    let shown: Vec<MatchedSpan> = matched
        .iter()
        .take(request.spans_per_spanset)
        .map(|&i| matched_span(&spans[i], &referenced))
        .collect();
    Some(TraceSummary {
        trace_id,
        root_service_name: root_service
            .unwrap_or(ROOT_SPAN_NOT_YET_RECEIVED)
            .to_string(),
        root_trace_name: root_name.unwrap_or_default().to_string(),
        start_ns: facts.start_ns,
        duration_ms: duration_ns / 1_000_000,
        spans: shown,
        matched: matched.len(),
        service_stats: service_stats(spans),
    })
}

fn matched_span(span: &SpanRef<'_>, referenced: &[(Scope, String)]) -> MatchedSpan {
    let mut attributes = Vec::new();
    for (scope, key) in referenced {
        if let Some(value) = span.raw_attribute(*scope, key) {
            if let Ok(json) = serde_json::to_value(value) {
                attributes.push((key.clone(), json));
            }
        }
    }
    MatchedSpan {
        span_id: span.span.span_id.as_slice().try_into().unwrap_or([0; 8]),
        name: span.span.name.clone(),
        start_ns: span.span.start_time_unix_nano,
        duration_ns: span
            .span
            .end_time_unix_nano
            .saturating_sub(span.span.start_time_unix_nano),
        attributes,
    }
}

fn service_stats(spans: &[SpanRef<'_>]) -> BTreeMap<String, ServiceStats> {
    let mut stats: BTreeMap<String, ServiceStats> = BTreeMap::new();
    for span in spans {
        let service = service_name(span.resource).unwrap_or("unknown_service");
        let entry = stats.entry(service.to_string()).or_default();
        entry.span_count += 1;
        if span
            .span
            .status
            .as_ref()
            .is_some_and(|s| s.code == STATUS_ERROR)
        {
            entry.error_count += 1;
        }
    }
    stats
}

const STATUS_ERROR: i32 = 2;

/// `service.name` of a resource, if set to a string.
pub fn service_name(resource: Option<&Resource>) -> Option<&str> {
    find_attribute(&resource?.attributes, "service.name").and_then(|v| match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.as_str()),
        _ => None,
    })
}

fn find_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

impl SpanRef<'_> {
    fn raw_attribute(&self, scope: Scope, key: &str) -> Option<&AnyValue> {
        let span_attr = || find_attribute(&self.span.attributes, key);
        let resource_attr = || {
            self.resource
                .and_then(|r| find_attribute(&r.attributes, key))
        };
        match scope {
            Scope::Span => span_attr(),
            Scope::Resource => resource_attr(),
            Scope::Unscoped => span_attr().or_else(resource_attr),
            Scope::Instrumentation => self.scope.and_then(|s| find_attribute(&s.attributes, key)),
            Scope::Event => self
                .span
                .events
                .iter()
                .find_map(|e| find_attribute(&e.attributes, key)),
            Scope::Link => self
                .span
                .links
                .iter()
                .find_map(|l| find_attribute(&l.attributes, key)),
        }
    }
}

fn to_value(value: Option<&AnyValue>) -> Value<'_> {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Value::String(s.as_str().into()),
        Some(any_value::Value::IntValue(i)) => Value::Int(*i),
        Some(any_value::Value::DoubleValue(d)) => Value::Float(*d),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        _ => Value::Nil,
    }
}

impl SpanView for SpanRef<'_> {
    fn intrinsic(&self, intrinsic: Intrinsic) -> Value<'_> {
        let span = self.span;
        match intrinsic {
            Intrinsic::Name => Value::String(span.name.as_str().into()),
            Intrinsic::Status => Value::Status(status_of(span)),
            Intrinsic::StatusMessage => Value::String(
                span.status
                    .as_ref()
                    .map(|s| s.message.as_str())
                    .unwrap_or_default()
                    .into(),
            ),
            Intrinsic::Kind => Value::Kind(kind_of(span.kind)),
            Intrinsic::Duration => Value::Duration(
                span.end_time_unix_nano
                    .saturating_sub(span.start_time_unix_nano) as i64,
            ),
            Intrinsic::SpanId => Value::String(hex::encode(&span.span_id).into()),
            Intrinsic::ParentId => Value::String(hex::encode(&span.parent_span_id).into()),
            Intrinsic::InstrumentationName => Value::String(
                self.scope
                    .map(|s| s.name.as_str())
                    .unwrap_or_default()
                    .into(),
            ),
            Intrinsic::InstrumentationVersion => Value::String(
                self.scope
                    .map(|s| s.version.as_str())
                    .unwrap_or_default()
                    .into(),
            ),
            Intrinsic::EventName => span
                .events
                .first()
                .map(|e| Value::String(e.name.as_str().into()))
                .unwrap_or(Value::Nil),
            _ => Value::Nil,
        }
    }

    fn attribute(&self, scope: Scope, key: &str) -> Value<'_> {
        to_value(self.raw_attribute(scope, key))
    }
}

fn status_of(span: &Span) -> weft_traceql::Status {
    match span.status.as_ref().map(|s| s.code).unwrap_or(0) {
        1 => weft_traceql::Status::Ok,
        2 => weft_traceql::Status::Error,
        _ => weft_traceql::Status::Unset,
    }
}

fn kind_of(kind: i32) -> weft_traceql::Kind {
    use weft_traceql::Kind;
    match kind {
        1 => Kind::Internal,
        2 => Kind::Server,
        3 => Kind::Client,
        4 => Kind::Producer,
        5 => Kind::Consumer,
        _ => Kind::Unspecified,
    }
}
