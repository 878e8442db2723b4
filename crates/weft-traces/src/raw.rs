//! OTLP trace export requests read straight from their protobuf bytes.
//!
//! [`RawBatch::parse`] walks an `ExportTraceServiceRequest` (or `TracesData`, which has the
//! same layout) once: it checks every nested message against the OTLP schema (wire types,
//! UTF-8 of strings, nesting depth) so that anything stored decodes again later, and it
//! records for each span the byte range it occupies plus the facts the pipeline needs (IDs,
//! name, times). No string or attribute is allocated; fragments are built by copying byte
//! ranges ([`crate::fragment`]).

use weft_core::protowire::{FieldReader, FieldValue, WireError, WireType};

/// One span as it sits in the request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawSpan<'a> {
    /// The encoded `Span` message (without its tag and length).
    pub bytes: &'a [u8],
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
    pub parent_span_id: &'a [u8],
    pub name: &'a str,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// A `ScopeSpans` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RawScope<'a> {
    /// The encoded `InstrumentationScope`, if present.
    pub scope: Option<&'a [u8]>,
    pub schema_url: &'a str,
    pub spans: Vec<RawSpan<'a>>,
}

/// A `ResourceSpans` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RawResource<'a> {
    /// The encoded `Resource`, if present.
    pub resource: Option<&'a [u8]>,
    pub schema_url: &'a str,
    pub scopes: Vec<RawScope<'a>>,
}

/// A parsed export request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawBatch<'a> {
    pub resources: Vec<RawResource<'a>>,
}

impl<'a> RawBatch<'a> {
    /// Parses and checks `bytes` as an `ExportTraceServiceRequest`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WireError> {
        let mut batch = RawBatch::default();
        let path = "ExportTraceServiceRequest";
        let mut fields = FieldReader::new(bytes);
        while let Some(field) = next(&mut fields, path)? {
            if field.number == 1 {
                let body = expect_len(field, path, "resource_spans")?;
                batch.resources.push(parse_resource_spans(body)?);
            }
        }
        Ok(batch)
    }

    /// Every span, with its resource and scope indexes.
    pub fn spans(&self) -> impl Iterator<Item = (usize, usize, &RawSpan<'a>)> + '_ {
        self.resources.iter().enumerate().flat_map(|(ri, r)| {
            r.scopes
                .iter()
                .enumerate()
                .flat_map(move |(si, s)| s.spans.iter().map(move |span| (ri, si, span)))
        })
    }

    pub fn span_count(&self) -> usize {
        self.resources
            .iter()
            .flat_map(|r| r.scopes.iter())
            .map(|s| s.spans.len())
            .sum()
    }
}

fn next<'a>(
    fields: &mut FieldReader<'a>,
    path: &str,
) -> Result<Option<weft_core::protowire::Field<'a>>, WireError> {
    fields.next_field().map_err(|(offset, reason)| WireError {
        path: path.to_string(),
        offset,
        reason,
    })
}

fn wrong_type(field: &weft_core::protowire::Field<'_>, path: &str, name: &str) -> WireError {
    WireError {
        path: path.to_string(),
        offset: field.offset,
        reason: format!(
            "field {} ({name}) has wire type {:?}, which its type does not allow",
            field.number,
            field.value.wire_type()
        ),
    }
}

fn expect_len<'a>(
    field: weft_core::protowire::Field<'a>,
    path: &str,
    name: &str,
) -> Result<&'a [u8], WireError> {
    match field.value {
        FieldValue::Len(body) => Ok(body),
        _ => Err(wrong_type(&field, path, name)),
    }
}

fn expect_str<'a>(
    field: weft_core::protowire::Field<'a>,
    path: &str,
    name: &str,
) -> Result<&'a str, WireError> {
    let body = expect_len(field, path, name)?;
    utf8(body).ok_or_else(|| WireError {
        path: path.to_string(),
        offset: field.offset,
        reason: format!(
            "field {} ({name}) is not valid UTF-8: {}",
            field.number,
            std::str::from_utf8(body)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        ),
    })
}

/// UTF-8 validation is a large share of checking a batch (every attribute key and string
/// value, mostly short ASCII). An ASCII scan eight bytes at a time settles most strings;
/// the rest go to simdutf8.
fn utf8(bytes: &[u8]) -> Option<&str> {
    if is_ascii(bytes) {
        // SAFETY: every byte is below 0x80, and ASCII is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    simdutf8::basic::from_utf8(bytes).ok()
}

fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut acc = 0u64;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        acc |= u64::from_le_bytes(word);
    }
    let tail = chunks.remainder().iter().fold(0u8, |a, b| a | b);
    acc & HIGH_BITS == 0 && tail < 0x80
}

fn parse_resource_spans(bytes: &[u8]) -> Result<RawResource<'_>, WireError> {
    let path = "ResourceSpans";
    let mut out = RawResource {
        resource: None,
        schema_url: "",
        scopes: Vec::new(),
    };
    let mut fields = FieldReader::new(bytes);
    while let Some(field) = next(&mut fields, path)? {
        match field.number {
            1 => {
                let body = expect_len(field, path, "resource")?;
                check_message(body, &RESOURCE, 0)?;
                out.resource = Some(body);
            }
            2 => {
                let body = expect_len(field, path, "scope_spans")?;
                out.scopes.push(parse_scope_spans(body)?);
            }
            3 => out.schema_url = expect_str(field, path, "schema_url")?,
            _ => {}
        }
    }
    Ok(out)
}

fn parse_scope_spans(bytes: &[u8]) -> Result<RawScope<'_>, WireError> {
    let path = "ScopeSpans";
    let mut out = RawScope {
        scope: None,
        schema_url: "",
        spans: Vec::new(),
    };
    let mut fields = FieldReader::new(bytes);
    while let Some(field) = next(&mut fields, path)? {
        match field.number {
            1 => {
                let body = expect_len(field, path, "scope")?;
                check_message(body, &SCOPE, 0)?;
                out.scope = Some(body);
            }
            2 => {
                let body = expect_len(field, path, "spans")?;
                out.spans.push(parse_span(body)?);
            }
            3 => out.schema_url = expect_str(field, path, "schema_url")?,
            _ => {}
        }
    }
    Ok(out)
}

fn parse_span(bytes: &[u8]) -> Result<RawSpan<'_>, WireError> {
    let path = "Span";
    let mut span = RawSpan {
        bytes,
        trace_id: &[],
        span_id: &[],
        parent_span_id: &[],
        name: "",
        start_ns: 0,
        end_ns: 0,
    };
    let mut fields = FieldReader::new(bytes);
    while let Some(field) = next(&mut fields, path)? {
        match field.number {
            1 => span.trace_id = expect_len(field, path, "trace_id")?,
            2 => span.span_id = expect_len(field, path, "span_id")?,
            4 => span.parent_span_id = expect_len(field, path, "parent_span_id")?,
            5 => span.name = expect_str(field, path, "name")?,
            7 => span.start_ns = expect_fixed64(field, path, "start_time_unix_nano")?,
            8 => span.end_ns = expect_fixed64(field, path, "end_time_unix_nano")?,
            _ => check_field(field, &SPAN, 0)?,
        }
    }
    Ok(span)
}

fn expect_fixed64(
    field: weft_core::protowire::Field<'_>,
    path: &str,
    name: &str,
) -> Result<u64, WireError> {
    match field.value {
        FieldValue::Fixed64(v) => Ok(v),
        _ => Err(wrong_type(&field, path, name)),
    }
}

/// How a known field is encoded.
enum Kind {
    Varint,
    Fixed64,
    Fixed32,
    Str,
    Bytes,
    Msg(&'static Schema),
}

/// A message type: its name and known fields. Unknown fields are skipped, as protobuf
/// decoders do.
struct Schema {
    name: &'static str,
    fields: &'static [(u32, &'static str, Kind)],
}

/// Deep enough for any real attribute value; bounds recursion on hostile input.
const MAX_DEPTH: usize = 32;

static KEY_VALUE: Schema = Schema {
    name: "KeyValue",
    fields: &[
        (1, "key", Kind::Str),
        (2, "value", Kind::Msg(&ANY_VALUE)),
        (3, "key_strindex", Kind::Varint),
    ],
};
static ANY_VALUE: Schema = Schema {
    name: "AnyValue",
    fields: &[
        (1, "string_value", Kind::Str),
        (2, "bool_value", Kind::Varint),
        (3, "int_value", Kind::Varint),
        (4, "double_value", Kind::Fixed64),
        (5, "array_value", Kind::Msg(&ARRAY_VALUE)),
        (6, "kvlist_value", Kind::Msg(&KEY_VALUE_LIST)),
        (7, "bytes_value", Kind::Bytes),
        (8, "string_value_strindex", Kind::Varint),
    ],
};
static ARRAY_VALUE: Schema = Schema {
    name: "ArrayValue",
    fields: &[(1, "values", Kind::Msg(&ANY_VALUE))],
};
static KEY_VALUE_LIST: Schema = Schema {
    name: "KeyValueList",
    fields: &[(1, "values", Kind::Msg(&KEY_VALUE))],
};
static ENTITY_REF: Schema = Schema {
    name: "EntityRef",
    fields: &[
        (1, "schema_url", Kind::Str),
        (2, "type", Kind::Str),
        (3, "id_keys", Kind::Str),
        (4, "description_keys", Kind::Str),
    ],
};
static RESOURCE: Schema = Schema {
    name: "Resource",
    fields: &[
        (1, "attributes", Kind::Msg(&KEY_VALUE)),
        (2, "dropped_attributes_count", Kind::Varint),
        (3, "entity_refs", Kind::Msg(&ENTITY_REF)),
    ],
};
static SCOPE: Schema = Schema {
    name: "InstrumentationScope",
    fields: &[
        (1, "name", Kind::Str),
        (2, "version", Kind::Str),
        (3, "attributes", Kind::Msg(&KEY_VALUE)),
        (4, "dropped_attributes_count", Kind::Varint),
    ],
};
static EVENT: Schema = Schema {
    name: "Span.Event",
    fields: &[
        (1, "time_unix_nano", Kind::Fixed64),
        (2, "name", Kind::Str),
        (3, "attributes", Kind::Msg(&KEY_VALUE)),
        (4, "dropped_attributes_count", Kind::Varint),
    ],
};
static LINK: Schema = Schema {
    name: "Span.Link",
    fields: &[
        (1, "trace_id", Kind::Bytes),
        (2, "span_id", Kind::Bytes),
        (3, "trace_state", Kind::Str),
        (4, "attributes", Kind::Msg(&KEY_VALUE)),
        (5, "dropped_attributes_count", Kind::Varint),
        (6, "flags", Kind::Fixed32),
    ],
};
static STATUS: Schema = Schema {
    name: "Status",
    fields: &[(2, "message", Kind::Str), (3, "code", Kind::Varint)],
};
static SPAN: Schema = Schema {
    name: "Span",
    fields: &[
        (1, "trace_id", Kind::Bytes),
        (2, "span_id", Kind::Bytes),
        (3, "trace_state", Kind::Str),
        (4, "parent_span_id", Kind::Bytes),
        (5, "name", Kind::Str),
        (6, "kind", Kind::Varint),
        (7, "start_time_unix_nano", Kind::Fixed64),
        (8, "end_time_unix_nano", Kind::Fixed64),
        (9, "attributes", Kind::Msg(&KEY_VALUE)),
        (10, "dropped_attributes_count", Kind::Varint),
        (11, "events", Kind::Msg(&EVENT)),
        (12, "dropped_events_count", Kind::Varint),
        (13, "links", Kind::Msg(&LINK)),
        (14, "dropped_links_count", Kind::Varint),
        (15, "status", Kind::Msg(&STATUS)),
        (16, "flags", Kind::Fixed32),
    ],
};

/// Checks a whole message against its schema.
fn check_message(bytes: &[u8], schema: &'static Schema, depth: usize) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError {
            path: schema.name.to_string(),
            offset: 0,
            reason: format!("nested deeper than {MAX_DEPTH} levels"),
        });
    }
    let mut fields = FieldReader::new(bytes);
    while let Some(field) = next(&mut fields, schema.name)? {
        check_field(field, schema, depth)?;
    }
    Ok(())
}

/// Checks one field of a message of type `schema`.
fn check_field(
    field: weft_core::protowire::Field<'_>,
    schema: &'static Schema,
    depth: usize,
) -> Result<(), WireError> {
    let Some((_, name, kind)) = schema.fields.iter().find(|(n, _, _)| *n == field.number) else {
        return Ok(());
    };
    let expected = match kind {
        Kind::Varint => WireType::Varint,
        Kind::Fixed64 => WireType::Fixed64,
        Kind::Fixed32 => WireType::Fixed32,
        Kind::Str | Kind::Bytes | Kind::Msg(_) => WireType::Len,
    };
    if field.value.wire_type() != expected {
        return Err(wrong_type(&field, schema.name, name));
    }
    match (kind, field.value) {
        (Kind::Str, _) => expect_str(field, schema.name, name).map(|_| ()),
        (Kind::Msg(inner), FieldValue::Len(body)) if std::ptr::eq(*inner, &KEY_VALUE) => {
            check_key_value(body, depth + 1)
        }
        (Kind::Msg(inner), FieldValue::Len(body)) => check_message(body, inner, depth + 1),
        _ => Ok(()),
    }
}

/// [`check_message`] specialised for `KeyValue` with a scalar `AnyValue`, by far the most
/// common nested message; other values take the generic path.
fn check_key_value(bytes: &[u8], depth: usize) -> Result<(), WireError> {
    if quick_key_value(bytes) {
        return Ok(());
    }
    check_key_value_in_full(bytes, depth)
}

fn check_key_value_in_full(bytes: &[u8], depth: usize) -> Result<(), WireError> {
    let mut fields = FieldReader::new(bytes);
    while let Some(field) = next(&mut fields, KEY_VALUE.name)? {
        match (field.number, field.value) {
            (1, FieldValue::Len(_)) => {
                expect_str(field, KEY_VALUE.name, "key")?;
            }
            (2, FieldValue::Len(value)) => check_any_value(value, depth + 1)?,
            (3, FieldValue::Varint(_)) => {}
            (1..=3, _) => return Err(wrong_type(&field, KEY_VALUE.name, "key/value")),
            _ => {}
        }
    }
    Ok(())
}

/// Recognises the usual encoding of a scalar attribute — `key` (field 1) then `value`
/// (field 2) holding one string, bool, int or double, every length below 128 — and checks
/// it without the general reader. Returns false when the bytes have any other shape; the
/// general path then decides (so this never accepts anything that path would refuse).
fn quick_key_value(bytes: &[u8]) -> bool {
    let [0x0a, key_len, rest @ ..] = bytes else {
        return false;
    };
    let key_len = usize::from(*key_len);
    if key_len >= 0x80 || rest.len() < key_len {
        return false;
    }
    let (key, rest) = rest.split_at(key_len);
    let [0x12, value_len, value @ ..] = rest else {
        return false;
    };
    if *value_len >= 0x80 || usize::from(*value_len) != value.len() || utf8(key).is_none() {
        return false;
    }
    match value {
        [0x0a, len, text @ ..] => {
            *len < 0x80 && usize::from(*len) == text.len() && utf8(text).is_some()
        }
        [0x10 | 0x18, varint @ ..] => is_single_varint(varint),
        [0x21, double @ ..] => double.len() == 8,
        _ => false,
    }
}

/// True when `bytes` is exactly one well-formed varint.
fn is_single_varint(bytes: &[u8]) -> bool {
    match bytes.split_last() {
        Some((last, init)) => {
            *last < 0x80
                && init.len() < 10
                && init.iter().all(|b| *b >= 0x80)
                && (init.len() < 9 || *last <= 1)
        }
        None => false,
    }
}

fn check_any_value(bytes: &[u8], depth: usize) -> Result<(), WireError> {
    let mut fields = FieldReader::new(bytes);
    while let Some(field) = next(&mut fields, ANY_VALUE.name)? {
        match (field.number, field.value) {
            (1, FieldValue::Len(_)) => {
                expect_str(field, ANY_VALUE.name, "string_value")?;
            }
            (2 | 3 | 8, FieldValue::Varint(_))
            | (4, FieldValue::Fixed64(_))
            | (7, FieldValue::Len(_)) => {}
            _ => check_field(field, &ANY_VALUE, depth)?,
        }
    }
    Ok(())
}

/// Calls `f(key, value)` for each attribute (field `attributes_field` holding `KeyValue`s)
/// of an already checked message; `value` is `None` for arrays, maps, bytes and empty values.
pub fn for_each_attribute<'a>(
    message: &'a [u8],
    attributes_field: u32,
    mut f: impl FnMut(&'a str, Option<ScalarValue<'a>>),
) {
    let mut fields = FieldReader::new(message);
    while let Ok(Some(field)) = fields.next_field() {
        if field.number != attributes_field {
            continue;
        }
        let FieldValue::Len(kv) = field.value else {
            continue;
        };
        if let Some((key, value)) = key_value(kv) {
            f(key, value);
        }
    }
}

/// A scalar attribute value, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScalarValue<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
}

fn key_value(kv: &[u8]) -> Option<(&str, Option<ScalarValue<'_>>)> {
    let mut key = None;
    let mut value = None;
    let mut fields = FieldReader::new(kv);
    while let Ok(Some(field)) = fields.next_field() {
        match (field.number, field.value) {
            (1, FieldValue::Len(k)) => key = utf8(k),
            (2, FieldValue::Len(v)) => value = scalar_any_value(v),
            _ => {}
        }
    }
    Some((key?, value))
}

fn scalar_any_value(any: &[u8]) -> Option<ScalarValue<'_>> {
    let mut out = None;
    let mut fields = FieldReader::new(any);
    while let Ok(Some(field)) = fields.next_field() {
        out = match (field.number, field.value) {
            (1, FieldValue::Len(s)) => utf8(s).map(ScalarValue::Str),
            (2, FieldValue::Varint(b)) => Some(ScalarValue::Bool(b != 0)),
            (3, FieldValue::Varint(i)) => Some(ScalarValue::Int(i as i64)),
            (4, FieldValue::Fixed64(d)) => Some(ScalarValue::Float(f64::from_bits(d))),
            (5..=7, _) => None,
            _ => out,
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use weft_core::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use weft_core::otlp::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
    use weft_core::otlp::resource::v1::Resource;
    use weft_core::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn request() -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv(
                        "service.name",
                        any_value::Value::StringValue("svc".into()),
                    )],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name: "GET /".into(),
                        start_time_unix_nano: 10,
                        end_time_unix_nano: 20,
                        attributes: vec![
                            kv("n", any_value::Value::IntValue(-5)),
                            kv("f", any_value::Value::DoubleValue(1.5)),
                            kv("b", any_value::Value::BoolValue(true)),
                            kv(
                                "arr",
                                any_value::Value::ArrayValue(ArrayValue {
                                    values: vec![AnyValue {
                                        value: Some(any_value::Value::StringValue("x".into())),
                                    }],
                                }),
                            ),
                        ],
                        ..Default::default()
                    }],
                    schema_url: "s".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn parses_spans_and_attributes_without_decoding() {
        let bytes = request().encode_to_vec();
        let batch = RawBatch::parse(&bytes).unwrap();
        assert_eq!(batch.span_count(), 1);
        let (_, _, span) = batch.spans().next().unwrap();
        assert_eq!(
            (span.trace_id, span.span_id, span.name),
            (&[1u8; 16][..], &[2u8; 8][..], "GET /")
        );
        assert_eq!((span.start_ns, span.end_ns), (10, 20));
        assert_eq!(batch.resources[0].scopes[0].schema_url, "s");
        let mut attrs = Vec::new();
        for_each_attribute(span.bytes, 9, |k, v| attrs.push((k, v)));
        assert_eq!(
            attrs,
            vec![
                ("n", Some(ScalarValue::Int(-5))),
                ("f", Some(ScalarValue::Float(1.5))),
                ("b", Some(ScalarValue::Bool(true))),
                ("arr", None)
            ]
        );
        let mut res = Vec::new();
        for_each_attribute(batch.resources[0].resource.unwrap(), 1, |k, v| {
            res.push((k, v))
        });
        assert_eq!(res, vec![("service.name", Some(ScalarValue::Str("svc")))]);
    }

    #[test]
    fn rejects_what_prost_would_reject() {
        let good = request().encode_to_vec();
        // Truncations and single-byte corruptions: whenever prost refuses the bytes, so do
        // we (so everything stored decodes again), and we never panic.
        for cut in 0..good.len() {
            let bytes = &good[..cut];
            if ExportTraceServiceRequest::decode(bytes).is_err() {
                assert!(
                    RawBatch::parse(bytes).is_err(),
                    "accepted a truncation at {cut}"
                );
            }
        }
        for i in 0..good.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bytes = good.clone();
                bytes[i] ^= flip;
                if ExportTraceServiceRequest::decode(bytes.as_slice()).is_err() {
                    assert!(
                        RawBatch::parse(&bytes).is_err(),
                        "accepted a corruption at byte {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_quick_key_value_path_accepts_only_what_the_full_check_accepts() {
        let samples: Vec<Vec<u8>> = [
            kv("k", any_value::Value::StringValue("value".into())),
            kv("n", any_value::Value::IntValue(-1)),
            kv("b", any_value::Value::BoolValue(true)),
            kv("d", any_value::Value::DoubleValue(2.5)),
            kv(
                &"x".repeat(127),
                any_value::Value::StringValue("y".repeat(120)),
            ),
        ]
        .iter()
        .map(|k| k.encode_to_vec())
        .collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut quick_accepts = 0;
        for sample in &samples {
            assert!(
                quick_key_value(sample),
                "usual encodings take the quick path"
            );
            for _ in 0..20_000 {
                let mut bytes = sample.clone();
                for _ in 0..1 + random() % 3 {
                    let i = (random() as usize) % bytes.len();
                    bytes[i] = random() as u8;
                }
                if random() % 4 == 0 {
                    bytes.truncate((random() as usize) % bytes.len());
                }
                if quick_key_value(&bytes) {
                    quick_accepts += 1;
                    assert!(
                        check_key_value_in_full(&bytes, 0).is_ok(),
                        "quick path accepted bytes the full check refuses: {bytes:02x?}"
                    );
                }
            }
        }
        assert!(
            quick_accepts > 1000,
            "the mutations exercise the quick path"
        );
    }

    #[test]
    fn errors_name_message_and_offset() {
        let mut bytes = request().encode_to_vec();
        let len = bytes.len();
        bytes.truncate(len - 3);
        let err = RawBatch::parse(&bytes).unwrap_err().to_string();
        assert!(
            err.contains("ExportTraceServiceRequest") || err.contains("ResourceSpans"),
            "{err}"
        );
        assert!(err.contains("at byte"), "{err}");
    }

    #[test]
    fn invalid_utf8_in_a_name_is_refused() {
        let mut req = request();
        req.resource_spans[0].scope_spans[0].spans[0].name = "ZZZZ".into();
        let mut bytes = req.encode_to_vec();
        let pos = bytes.windows(4).position(|w| w == b"ZZZZ").unwrap();
        bytes[pos] = 0xff;
        let err = RawBatch::parse(&bytes).unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }
}
