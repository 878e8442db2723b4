//! OTLP/HTTP trace bodies: the first byte picks the encoding (protobuf or JSON) and whether
//! the rest is gzip-compressed; then decompress → decode → validate → split by trace, exactly
//! as the receiver does. Every step must return an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weft_core::time::AcceptWindow;
use weft_ingest::decode::{decode_message, decompress, Encoding};
use weft_ingest::validate::validate_traces;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let encoding = if mode & 1 == 0 { Encoding::Protobuf } else { Encoding::Json };
    let content_encoding = if mode & 2 == 0 { None } else { Some("gzip") };
    let Ok(raw) = decompress(body, content_encoding, 1 << 20) else {
        return;
    };
    let Ok(mut request) =
        decode_message::<ExportTraceServiceRequest>(&raw, encoding, "ExportTraceServiceRequest")
    else {
        return;
    };
    let window = AcceptWindow {
        max_past_nanos: u64::MAX,
        max_future_nanos: u64::MAX,
    };
    let _ = validate_traces(&mut request.resource_spans, &window, 1 << 62);
    let _ = weft_traces::fragment::split_by_trace(&request.resource_spans);
});
