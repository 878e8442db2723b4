//! A minimal protobuf wire-format writer for the fixed OTLP trace schema.
//!
//! Why not build `opentelemetry_proto` structs and call `prost::Message::encode`?
//! Every span would then own ~30 heap `String`s (keys, values, names) that are
//! allocated, encoded and freed again, and prost recomputes nested lengths once
//! per nesting level. Writing the wire format straight into one reused `Vec<u8>`
//! makes generation allocation-free in the steady state, which is what lets a
//! single core push several hundred thousand spans per second. The output is
//! canonical protobuf; the unit tests decode it with prost to prove it.

/// Wire type of varint fields (ints, bools, enums).
const WT_VARINT: u32 = 0;
/// Wire type of 8-byte little-endian fields (fixed64, double).
const WT_I64: u32 = 1;
/// Wire type of length-delimited fields (strings, bytes, messages).
const WT_LEN: u32 = 2;

/// Field numbers of `opentelemetry.proto.common.v1.AnyValue`.
const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;
const ANY_DOUBLE: u32 = 4;

/// Position of an open length-delimited field; see [`PbWriter::begin`].
#[must_use = "an opened message must be closed with PbWriter::end"]
pub struct Mark(usize);

/// Appends protobuf fields to a reusable buffer.
#[derive(Default)]
pub struct PbWriter {
    pub buf: Vec<u8>,
}

pub use weft_core::protowire::varint_len;

impl PbWriter {
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    pub fn varint(&mut self, v: u64) {
        weft_core::protowire::put_varint(&mut self.buf, v);
    }

    fn key(&mut self, field: u32, wire_type: u32) {
        self.varint(u64::from((field << 3) | wire_type));
    }

    pub fn uint(&mut self, field: u32, v: u64) {
        self.key(field, WT_VARINT);
        self.varint(v);
    }

    pub fn fixed64(&mut self, field: u32, v: u64) {
        self.key(field, WT_I64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, WT_LEN);
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    /// Writes a string field whose `len` bytes are produced by `fill`, so
    /// generated values (ids, random text) go straight into the buffer.
    pub fn string_with(&mut self, field: u32, len: usize, fill: impl FnOnce(&mut Vec<u8>)) {
        self.key(field, WT_LEN);
        self.varint(len as u64);
        let before = self.buf.len();
        fill(&mut self.buf);
        debug_assert_eq!(self.buf.len() - before, len, "fill wrote the wrong length");
    }

    /// Opens a nested message whose length is not known yet. One placeholder
    /// byte is reserved: most nested messages (attributes, events) are shorter
    /// than 128 bytes, and [`PbWriter::end`] shifts the body in the rare case
    /// the length needs more bytes, which keeps the encoding canonical.
    pub fn begin(&mut self, field: u32) -> Mark {
        self.key(field, WT_LEN);
        self.buf.push(0);
        Mark(self.buf.len())
    }

    /// Closes a message opened by [`PbWriter::begin`] and backfills its length.
    pub fn end(&mut self, mark: Mark) {
        let body_start = mark.0;
        let len = self.buf.len() - body_start;
        let n = varint_len(len as u64);
        if n > 1 {
            let old_end = self.buf.len();
            self.buf.resize(old_end + n - 1, 0);
            self.buf
                .copy_within(body_start..old_end, body_start + n - 1);
        }
        let mut v = len as u64;
        let mut pos = body_start - 1;
        for _ in 1..n {
            self.buf[pos] = (v as u8) | 0x80;
            v >>= 7;
            pos += 1;
        }
        self.buf[pos] = v as u8;
    }

    /// Header of a `KeyValue` (as repeated `field`) up to the start of the
    /// `AnyValue` payload, given the encoded size of that payload. Lengths are
    /// computed up front so attributes never need the shift in `end`.
    fn kv_head(&mut self, field: u32, key: &str, any_len: usize) {
        let kv_len = 1 + varint_len(key.len() as u64) + key.len() // key
            + 1 + varint_len(any_len as u64) + any_len; // value
        self.key(field, WT_LEN);
        self.varint(kv_len as u64);
        self.string(1, key);
        self.key(2, WT_LEN);
        self.varint(any_len as u64);
    }

    pub fn kv_str(&mut self, field: u32, key: &str, val: &str) {
        self.kv_str_with(field, key, val.len(), |b| {
            b.extend_from_slice(val.as_bytes())
        });
    }

    /// String attribute whose value is produced in place by `fill`.
    pub fn kv_str_with(
        &mut self,
        field: u32,
        key: &str,
        len: usize,
        fill: impl FnOnce(&mut Vec<u8>),
    ) {
        let any_len = 1 + varint_len(len as u64) + len;
        self.kv_head(field, key, any_len);
        self.string_with(ANY_STRING, len, fill);
    }

    pub fn kv_int(&mut self, field: u32, key: &str, v: i64) {
        // int64 is encoded as the two's-complement u64 varint.
        let any_len = 1 + varint_len(v as u64);
        self.kv_head(field, key, any_len);
        self.uint(ANY_INT, v as u64);
    }

    pub fn kv_bool(&mut self, field: u32, key: &str, v: bool) {
        self.kv_head(field, key, 2);
        self.uint(ANY_BOOL, u64::from(v));
    }

    pub fn kv_f64(&mut self, field: u32, key: &str, v: f64) {
        self.kv_head(field, key, 9);
        self.fixed64(ANY_DOUBLE, v.to_bits());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};
    use prost::Message;

    #[test]
    fn varint_len_matches_prost() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            assert_eq!(varint_len(v), prost::encoding::encoded_len_varint(v), "{v}");
        }
    }

    #[test]
    fn nested_message_lengths_are_backfilled() {
        // A message longer than 127 bytes forces the shift path.
        for len in [0usize, 5, 127, 128, 300, 20_000] {
            let mut w = PbWriter::default();
            let m = w.begin(1);
            w.string(1, "k");
            let m2 = w.begin(2);
            w.string(1, &"x".repeat(len));
            w.end(m2);
            w.end(m);
            // Strip the outer key+length to get the KeyValue bytes.
            let mut slice = &w.buf[1..];
            let inner_len = prost::encoding::decode_varint(&mut slice).unwrap() as usize;
            assert_eq!(inner_len, slice.len());
            let kv = KeyValue::decode(slice).unwrap();
            assert_eq!(kv.key, "k");
            match kv.value.unwrap().value.unwrap() {
                Value::StringValue(s) => assert_eq!(s.len(), len),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn typed_attributes_roundtrip() {
        let mut w = PbWriter::default();
        w.kv_str(1, "s", "hello");
        w.kv_int(1, "i", -42);
        w.kv_bool(1, "b", true);
        w.kv_f64(1, "d", 1.5);
        let res = opentelemetry_proto::tonic::resource::v1::Resource::decode(&w.buf[..]).unwrap();
        let vals: Vec<_> = res
            .attributes
            .iter()
            .map(|kv| (kv.key.as_str(), kv.value.clone().unwrap().value.unwrap()))
            .collect();
        assert_eq!(vals[0], ("s", Value::StringValue("hello".into())));
        assert_eq!(vals[1], ("i", Value::IntValue(-42)));
        assert_eq!(vals[2], ("b", Value::BoolValue(true)));
        assert_eq!(vals[3], ("d", Value::DoubleValue(1.5)));
    }
}
