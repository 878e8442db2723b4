//! Body decoding for OTLP/HTTP: content type, compression, size limit, protobuf or JSON.

use std::io::Read;

use serde::de::DeserializeOwned;

use crate::IngestError;

/// Wire encoding of an OTLP/HTTP body; responses use the request's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// Reads the `Content-Type` header. A missing header means protobuf (what the OTLP
    /// exporters send by default).
    pub fn from_content_type(value: Option<&str>) -> Result<Self, IngestError> {
        let Some(value) = value else {
            return Ok(Self::Protobuf);
        };
        let media = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/x-protobuf" | "application/protobuf" | "application/octet-stream" => {
                Ok(Self::Protobuf)
            }
            "application/json" => Ok(Self::Json),
            _ => Err(IngestError::UnsupportedMediaType(format!(
                "{value:?}; send application/x-protobuf or application/json"
            ))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// Undoes `Content-Encoding` and enforces `limit` on the decompressed size (the OTLP spec
/// checks the limit after decompression).
pub fn decompress(
    body: &[u8],
    content_encoding: Option<&str>,
    limit: usize,
) -> Result<Vec<u8>, IngestError> {
    let encoding = content_encoding
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" | "none" => {
            check_size(body.len(), limit)?;
            Ok(body.to_vec())
        }
        "gzip" | "x-gzip" => read_limited(flate2::read::MultiGzDecoder::new(body), limit, "gzip"),
        "deflate" => read_limited(flate2::read::ZlibDecoder::new(body), limit, "deflate"),
        other => Err(IngestError::BadRequest(format!(
            "unsupported Content-Encoding {other:?}: send gzip, deflate or no encoding"
        ))),
    }
}

fn check_size(actual: usize, limit: usize) -> Result<(), IngestError> {
    if actual > limit {
        return Err(IngestError::TooLarge { limit });
    }
    Ok(())
}

fn read_limited(reader: impl Read, limit: usize, what: &str) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            IngestError::BadRequest(format!("{what} body is truncated or corrupt: {e}"))
        })?;
    check_size(out.len(), limit)?;
    Ok(out)
}

/// Decodes an OTLP request message from protobuf or OTLP/JSON.
pub fn decode_message<M>(bytes: &[u8], encoding: Encoding, what: &str) -> Result<M, IngestError>
where
    M: prost::Message + Default + DeserializeOwned,
{
    match encoding {
        Encoding::Protobuf => M::decode(bytes)
            .map_err(|e| IngestError::BadRequest(format!("invalid OTLP protobuf {what}: {e}"))),
        Encoding::Json => serde_json::from_slice(bytes)
            .map_err(|e| IngestError::BadRequest(format!("invalid OTLP/JSON {what}: {e}"))),
    }
}

/// Encodes a response message in the request's encoding.
pub fn encode_message<M>(message: &M, encoding: Encoding) -> Vec<u8>
where
    M: prost::Message + serde::Serialize,
{
    match encoding {
        Encoding::Protobuf => message.encode_to_vec(),
        Encoding::Json => json_without_nulls(message),
    }
}

/// proto3 JSON omits unset fields; serde writes them as `null` (an unset `partialSuccess`
/// must be absent on full success, per the OTLP spec).
fn json_without_nulls<M: serde::Serialize>(message: &M) -> Vec<u8> {
    let Ok(mut value) = serde_json::to_value(message) else {
        return b"{}".to_vec();
    };
    strip_nulls(&mut value);
    serde_json::to_vec(&value).unwrap_or_else(|_| b"{}".to_vec())
}

fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use weft_core::otlp::collector::trace::v1::ExportTraceServiceRequest;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Encoding::from_content_type(None).unwrap(),
            Encoding::Protobuf
        );
        assert_eq!(
            Encoding::from_content_type(Some("application/json; charset=utf-8")).unwrap(),
            Encoding::Json
        );
        let err = Encoding::from_content_type(Some("text/plain")).unwrap_err();
        assert_eq!(err.http_status(), 415);
    }

    #[test]
    fn gzip_limits_apply_after_decompression() {
        let data = vec![b'a'; 10_000];
        let packed = gzip(&data);
        assert!(packed.len() < 1000);
        assert_eq!(decompress(&packed, Some("gzip"), 10_000).unwrap(), data);
        let err = decompress(&packed, Some("gzip"), 9_999).unwrap_err();
        assert_eq!(err.http_status(), 413);
    }

    #[test]
    fn truncated_gzip_is_a_clear_400() {
        let packed = gzip(&vec![b'a'; 10_000]);
        let err = decompress(&packed[..packed.len() / 2], Some("gzip"), 1 << 20).unwrap_err();
        assert_eq!(err.http_status(), 400);
        assert!(err.to_string().contains("gzip body is truncated"), "{err}");
    }

    #[test]
    fn json_with_hex_ids_and_string_integers() {
        let json = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
          "scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
          "name":"op","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
          "attributes":[{"key":"n","value":{"intValue":"42"}}],"unknownField":true}]}]}]}"#;
        let req: ExportTraceServiceRequest =
            decode_message(json.as_bytes(), Encoding::Json, "traces").unwrap();
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            hex::encode(&span.trace_id),
            "5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(span.kind, 2);
        assert_eq!(span.end_time_unix_nano, 1544712661000000000);
    }

    #[test]
    fn malformed_bodies_name_the_problem() {
        let err = decode_message::<ExportTraceServiceRequest>(
            b"{\"resourceSpans\":[",
            Encoding::Json,
            "ExportTraceServiceRequest",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid OTLP/JSON ExportTraceServiceRequest"),
            "{err}"
        );
        let err = decode_message::<ExportTraceServiceRequest>(
            &[0x0a, 0xff, 0xff],
            Encoding::Protobuf,
            "ExportTraceServiceRequest",
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("invalid OTLP protobuf"),
            "{err}"
        );
    }
}
