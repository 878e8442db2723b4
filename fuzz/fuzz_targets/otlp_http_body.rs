//! OTLP/HTTP trace bodies: the first byte picks the encoding (protobuf or JSON) and whether
//! the rest is gzip-compressed; then decompress → decode → validate → split by trace, exactly
//! as the receiver does. Every step must return an error, never panic, and the
//! allocation-free reader must never accept bytes that prost (used at query time) refuses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
use weft_core::time::AcceptWindow;
use weft_ingest::decode::{decode_message, decompress, Encoding};
use weft_ingest::validate::validate_traces;
use weft_traces::raw::RawBatch;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let encoding = if mode & 1 == 0 { Encoding::Protobuf } else { Encoding::Json };
    let content_encoding = if mode & 2 == 0 { None } else { Some("gzip") };
    let Ok(raw) = decompress(body, content_encoding, 1 << 20) else {
        return;
    };
    if encoding == Encoding::Protobuf {
        if let Ok(batch) = RawBatch::parse(&raw) {
            assert!(
                <ExportTraceServiceRequest as prost::Message>::decode(raw.as_slice()).is_ok(),
                "raw reader accepted bytes prost refuses"
            );
            let _ = weft_traces::fragment::split_by_trace(&batch);
        }
    }
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
});
