//! Validation of decoded OTLP trace batches before they reach the WAL.
//!
//! Invalid spans are removed and counted by reason; the rest is accepted (OTLP partial
//! success). A batch in which every span is invalid is refused as a whole with the first
//! reason, so a misconfigured sender sees a 400 rather than a silent partial success.

use std::collections::BTreeMap;

use weft_core::ids::{valid_span_id, valid_trace_id};
use weft_core::otlp::trace::v1::ResourceSpans;
use weft_core::time::AcceptWindow;
use weft_traces::raw::{RawBatch, RawSpan};

/// What validation removed.
#[derive(Debug, Default, PartialEq)]
pub struct Rejections {
    /// Count per reason label.
    pub by_reason: BTreeMap<&'static str, u64>,
    /// A human-readable description of the first rejected span.
    pub first_message: Option<String>,
}

impl Rejections {
    pub fn total(&self) -> u64 {
        self.by_reason.values().sum()
    }

    fn reject(&mut self, reason: &'static str, message: impl FnOnce() -> String) {
        *self.by_reason.entry(reason).or_default() += 1;
        if self.first_message.is_none() {
            self.first_message = Some(message());
        }
    }
}

/// Checks every span of a raw batch without changing it.
pub fn check_raw(batch: &RawBatch<'_>, window: &AcceptWindow, now_ns: u64) -> (u64, Rejections) {
    let mut rejections = Rejections::default();
    let mut kept = 0u64;
    for (_, _, span) in batch.spans() {
        match check_span(span, window, now_ns) {
            Ok(()) => kept += 1,
            Err((reason, message)) => rejections.reject(reason, || message),
        }
    }
    (kept, rejections)
}

/// Removes invalid spans from `batch` in place; drops scopes and resources left empty.
/// Returns the number of spans kept and what was rejected.
pub fn validate_traces(
    batch: &mut Vec<ResourceSpans>,
    window: &AcceptWindow,
    now_ns: u64,
) -> (u64, Rejections) {
    let mut rejections = Rejections::default();
    let mut kept = 0u64;
    for rs in batch.iter_mut() {
        for ss in rs.scope_spans.iter_mut() {
            ss.spans
                .retain(|span| match check_span(&facts(span), window, now_ns) {
                    Ok(()) => {
                        kept += 1;
                        true
                    }
                    Err((reason, message)) => {
                        rejections.reject(reason, || message);
                        false
                    }
                });
        }
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
    }
    batch.retain(|rs| !rs.scope_spans.is_empty());
    (kept, rejections)
}

fn facts(span: &weft_core::otlp::trace::v1::Span) -> RawSpan<'_> {
    RawSpan {
        bytes: &[],
        trace_id: &span.trace_id,
        span_id: &span.span_id,
        parent_span_id: &span.parent_span_id,
        name: &span.name,
        start_ns: span.start_time_unix_nano,
        end_ns: span.end_time_unix_nano,
    }
}

fn check_span(
    span: &RawSpan<'_>,
    window: &AcceptWindow,
    now_ns: u64,
) -> Result<(), (&'static str, String)> {
    if !valid_trace_id(span.trace_id) {
        return Err((
            "invalid_trace_id",
            format!(
                "span {:?}: trace ID must be 16 bytes and not all zero, got {} bytes ({})",
                span.name,
                span.trace_id.len(),
                hex::encode(span.trace_id)
            ),
        ));
    }
    if !valid_span_id(span.span_id) {
        return Err((
            "invalid_span_id",
            format!(
                "span {:?} in trace {}: span ID must be 8 bytes and not all zero, got {} bytes",
                span.name,
                hex::encode(span.trace_id),
                span.span_id.len()
            ),
        ));
    }
    if !span.parent_span_id.is_empty() && span.parent_span_id.len() != 8 {
        return Err((
            "invalid_parent_span_id",
            format!(
                "span {:?} in trace {}: parent span ID must be empty or 8 bytes, got {} bytes",
                span.name,
                hex::encode(span.trace_id),
                span.parent_span_id.len()
            ),
        ));
    }
    for (field, ts) in [
        ("start_time_unix_nano", span.start_ns),
        ("end_time_unix_nano", span.end_ns),
    ] {
        if let Err(why) = window.check(ts, now_ns) {
            return Err((
                "timestamp_out_of_range",
                format!(
                    "span {:?} in trace {}: {field}: {why}",
                    span.name,
                    hex::encode(span.trace_id)
                ),
            ));
        }
    }
    if span.end_ns < span.start_ns {
        return Err((
            "end_before_start",
            format!(
                "span {:?} in trace {}: end_time_unix_nano {} is before start_time_unix_nano {}",
                span.name,
                hex::encode(span.trace_id),
                span.end_ns,
                span.start_ns
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_core::otlp::trace::v1::{ScopeSpans, Span};

    const NOW: u64 = 1_800_000_000_000_000_000;
    const WINDOW: AcceptWindow = AcceptWindow {
        max_past_nanos: 7 * 24 * 3600 * 1_000_000_000,
        max_future_nanos: 3600 * 1_000_000_000,
    };

    fn span(trace_id: Vec<u8>, span_id: Vec<u8>, start: u64) -> Span {
        Span {
            trace_id,
            span_id,
            name: "op".into(),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1000,
            ..Default::default()
        }
    }

    fn batch(spans: Vec<Span>) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }]
    }

    #[test]
    fn keeps_valid_and_names_each_invalid_reason() {
        let mut b = batch(vec![
            span(vec![1; 16], vec![1; 8], NOW),
            span(vec![0; 16], vec![1; 8], NOW),
            span(vec![1; 8], vec![1; 8], NOW),
            span(vec![1; 16], vec![], NOW),
            span(vec![1; 16], vec![1; 8], 0),
            span(vec![1; 16], vec![1; 8], 7_258_118_400_000_000_000), // year 2200
        ]);
        let (kept, rej) = validate_traces(&mut b, &WINDOW, NOW);
        assert_eq!(kept, 1);
        assert_eq!(rej.total(), 5);
        assert_eq!(rej.by_reason["invalid_trace_id"], 2);
        assert_eq!(rej.by_reason["invalid_span_id"], 1);
        assert_eq!(rej.by_reason["timestamp_out_of_range"], 2);
        assert!(rej
            .first_message
            .unwrap()
            .contains("trace ID must be 16 bytes"));
        assert_eq!(b[0].scope_spans[0].spans.len(), 1);
    }

    #[test]
    fn empty_containers_are_dropped() {
        let mut b = batch(vec![span(vec![0; 16], vec![1; 8], NOW)]);
        let (kept, _) = validate_traces(&mut b, &WINDOW, NOW);
        assert_eq!(kept, 0);
        assert!(b.is_empty());
    }
}
