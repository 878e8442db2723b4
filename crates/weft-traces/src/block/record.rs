//! Trace records: the unit stored in a block.

use bytes::Bytes;

/// A trace to append to a block, borrowing its payload.
///
/// `data` is opaque to the block layer: by convention the concatenation of
/// protobuf-encoded `Trace.resource_spans` entries (a valid `tempopb.Trace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceRecord<'a> {
    /// 16-byte trace ID; blocks are sorted by it.
    pub trace_id: [u8; 16],
    /// Earliest span start, Unix nanoseconds.
    pub start_ns: u64,
    /// Latest span end, Unix nanoseconds.
    pub end_ns: u64,
    /// Number of spans in `data`.
    pub span_count: u32,
    /// Encoded trace payload.
    pub data: &'a [u8],
}

impl TraceRecord<'_> {
    /// Copies the payload into an [`OwnedTraceRecord`].
    pub fn to_owned_record(&self) -> OwnedTraceRecord {
        OwnedTraceRecord {
            trace_id: self.trace_id,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            span_count: self.span_count,
            data: Bytes::copy_from_slice(self.data),
        }
    }
}

/// A trace read from a block.
///
/// `data` is a cheap [`Bytes`] slice of the decompressed page it came from,
/// so records from the same page share one allocation; holding a record keeps
/// that page's buffer alive (copy it out if you keep a few records for long).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedTraceRecord {
    /// 16-byte trace ID.
    pub trace_id: [u8; 16],
    /// Earliest span start, Unix nanoseconds.
    pub start_ns: u64,
    /// Latest span end, Unix nanoseconds.
    pub end_ns: u64,
    /// Number of spans in `data`.
    pub span_count: u32,
    /// Encoded trace payload.
    pub data: Bytes,
}

impl OwnedTraceRecord {
    /// Borrows this record in the form [`BlockWriter::append`](super::BlockWriter::append) takes.
    pub fn as_record(&self) -> TraceRecord<'_> {
        TraceRecord {
            trace_id: self.trace_id,
            start_ns: self.start_ns,
            end_ns: self.end_ns,
            span_count: self.span_count,
            data: &self.data,
        }
    }

    /// True if `[start_ns, end_ns]` intersects the inclusive range `[start, end]`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start_ns <= end && self.end_ns >= start
    }
}

/// Merges two records of the same trace found in different blocks.
///
/// Payloads are concatenated (`a` first): two encoded `Trace` messages
/// concatenated are a valid `Trace` whose `resource_spans` is the union.
/// Span counts are summed (saturating) and the time range is the union.
/// The trace IDs must be equal (debug-asserted; `a`'s ID wins otherwise).
pub fn merge_records(a: OwnedTraceRecord, b: OwnedTraceRecord) -> OwnedTraceRecord {
    debug_assert_eq!(
        a.trace_id, b.trace_id,
        "merging records of different traces"
    );
    let data = if b.data.is_empty() {
        a.data
    } else if a.data.is_empty() {
        b.data
    } else {
        let mut buf = Vec::with_capacity(a.data.len() + b.data.len());
        buf.extend_from_slice(&a.data);
        buf.extend_from_slice(&b.data);
        Bytes::from(buf)
    };
    OwnedTraceRecord {
        trace_id: a.trace_id,
        start_ns: a.start_ns.min(b.start_ns),
        end_ns: a.end_ns.max(b.end_ns),
        span_count: a.span_count.saturating_add(b.span_count),
        data,
    }
}
