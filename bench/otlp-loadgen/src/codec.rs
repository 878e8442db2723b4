//! gRPC codecs that move pre-encoded protobuf bytes.
//!
//! The generated OTLP client wants an `ExportTraceServiceRequest` struct and
//! re-encodes it with prost; our generator already produced the exact bytes,
//! so the client codec copies them into tonic's buffer as they are. The sink
//! codec likewise skips decoding, so the sink costs almost nothing.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::bytes::{Buf, BufMut, Bytes};
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
pub const TRACE_SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";

/// Client side: sends raw request bytes, decodes the typed response.
#[derive(Clone, Copy, Default)]
pub struct ExportCodec;

pub struct RawEncoder;

pub struct ResponseDecoder;

impl Codec for ExportCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for ResponseDecoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("bad ExportTraceServiceResponse: {e}")))
    }
}

/// Server side of the sink: counts request bytes, answers an empty
/// `ExportTraceServiceResponse` (which encodes to zero bytes).
#[derive(Clone, Copy, Default)]
pub struct SinkCodec;

pub struct EmptyEncoder;

pub struct SkipDecoder;

impl Codec for SinkCodec {
    type Encode = ();
    type Decode = u64;
    type Encoder = EmptyEncoder;
    type Decoder = SkipDecoder;

    fn encoder(&mut self) -> EmptyEncoder {
        EmptyEncoder
    }

    fn decoder(&mut self) -> SkipDecoder {
        SkipDecoder
    }
}

impl Encoder for EmptyEncoder {
    type Item = ();
    type Error = Status;

    fn encode(&mut self, _: (), _: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

impl Decoder for SkipDecoder {
    type Item = u64;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<u64>, Status> {
        let n = src.remaining();
        src.advance(n);
        Ok(Some(n as u64))
    }
}
