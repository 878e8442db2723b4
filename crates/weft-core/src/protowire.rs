//! A minimal, allocation-free protobuf wire-format reader.
//!
//! The ingest hot path does not need OTLP batches as Rust structs: it needs to check them,
//! find each span's trace ID and times, and copy byte ranges into per-trace fragments. Walking
//! the wire format directly avoids allocating every string and attribute (which dominated the
//! cost of a full decode). Every malformed input yields a [`WireError`] naming the offset and
//! the problem; nothing here panics.

use std::fmt;

/// Protobuf wire types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

/// A field's payload, borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

impl FieldValue<'_> {
    pub fn wire_type(&self) -> WireType {
        match self {
            Self::Varint(_) => WireType::Varint,
            Self::Fixed64(_) => WireType::Fixed64,
            Self::Len(_) => WireType::Len,
            Self::Fixed32(_) => WireType::Fixed32,
        }
    }
}

/// One field: its number, value and the byte range it occupied (tag included).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Field<'a> {
    pub number: u32,
    pub value: FieldValue<'a>,
    /// Offset of the field's tag within the message being read.
    pub offset: usize,
}

/// Why bytes are not a valid protobuf message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError {
    /// The message path being read, e.g. `ExportTraceServiceRequest.resource_spans.scope_spans`.
    pub path: String,
    /// Byte offset within that message.
    pub offset: usize,
    pub reason: String,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {} of {}",
            self.reason, self.offset, self.path
        )
    }
}

impl std::error::Error for WireError {}

/// Iterates over the fields of one message.
pub struct FieldReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> FieldReader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// The next field, `Ok(None)` at the end, or the reason the bytes are malformed (the
    /// caller adds the message path).
    pub fn next_field(&mut self) -> Result<Option<Field<'a>>, (usize, String)> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let offset = self.pos;
        let key = self.varint().map_err(|r| (offset, r))?;
        let number = (key >> 3) as u32;
        if number == 0 || key >> 3 > u64::from(u32::MAX >> 3) {
            return Err((offset, format!("invalid field number {}", key >> 3)));
        }
        let value = match key & 7 {
            0 => FieldValue::Varint(self.varint().map_err(|r| (offset, r))?),
            1 => FieldValue::Fixed64(u64::from_le_bytes(self.take_array::<8>(offset)?)),
            2 => {
                let len = self.varint().map_err(|r| (offset, r))?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > self.buf.len() - self.pos {
                    return Err((
                        offset,
                        format!(
                            "field {number} claims {len} bytes but only {} remain",
                            self.buf.len() - self.pos
                        ),
                    ));
                }
                let slice = &self.buf[self.pos..self.pos + len];
                self.pos += len;
                FieldValue::Len(slice)
            }
            5 => FieldValue::Fixed32(u32::from_le_bytes(self.take_array::<4>(offset)?)),
            3 | 4 => return Err((offset, format!("field {number} uses deprecated groups"))),
            other => {
                return Err((
                    offset,
                    format!("field {number} has invalid wire type {other}"),
                ))
            }
        };
        Ok(Some(Field {
            number,
            value,
            offset,
        }))
    }

    fn varint(&mut self) -> Result<u64, String> {
        // Fast path: tags and lengths below 128 (most of them) are one byte.
        if let Some(&byte) = self.buf.get(self.pos) {
            if byte < 0x80 {
                self.pos += 1;
                return Ok(u64::from(byte));
            }
        }
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err("truncated varint".into());
            };
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err("varint longer than 64 bits".into());
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take_array<const N: usize>(&mut self, offset: usize) -> Result<[u8; N], (usize, String)> {
        let end = self.pos + N;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| (offset, format!("truncated {}-byte fixed field", N)))?;
        self.pos = end;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
}

/// Appends a varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a varint at `*pos`, advancing it; the error says what was wrong.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for i in 0..10 {
        let Some(&b) = buf.get(*pos) else {
            return Err(format!("truncated varint at offset {}", *pos));
        };
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(value);
        }
    }
    Err(format!(
        "varint longer than 10 bytes before offset {}",
        *pos
    ))
}

/// Zig-zag encoding of a signed integer (small magnitudes → small varints).
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Bytes a varint takes.
pub fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends the tag and length of a length-delimited field.
pub fn put_len_prefix(out: &mut Vec<u8>, number: u32, len: usize) {
    put_varint(out, (u64::from(number) << 3) | 2);
    put_varint(out, len as u64);
}

/// Bytes taken by a length-delimited field whose body is `len` bytes.
pub fn len_field_size(number: u32, len: usize) -> usize {
    varint_len((u64::from(number) << 3) | 2) + varint_len(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_wire_type() {
        let mut buf = Vec::new();
        put_varint(&mut buf, 1 << 3); // field 1 varint
        put_varint(&mut buf, 300);
        buf.push((2 << 3) | 1); // field 2 fixed64
        buf.extend_from_slice(&7u64.to_le_bytes());
        put_len_prefix(&mut buf, 3, 2);
        buf.extend_from_slice(b"hi");
        buf.push((4 << 3) | 5); // field 4 fixed32
        buf.extend_from_slice(&9u32.to_le_bytes());
        let mut r = FieldReader::new(&buf);
        let values: Vec<_> = std::iter::from_fn(|| r.next_field().unwrap())
            .map(|f| (f.number, f.value))
            .collect();
        assert_eq!(
            values,
            vec![
                (1, FieldValue::Varint(300)),
                (2, FieldValue::Fixed64(7)),
                (3, FieldValue::Len(b"hi")),
                (4, FieldValue::Fixed32(9)),
            ]
        );
    }

    #[test]
    fn malformed_input_is_an_error_with_offset() {
        for bad in [
            &[0x0a, 0x05, b'a'][..],
            &[0x08, 0x80],
            &[0x0b],
            &[0x00, 0x01],
            &[0x09, 1, 2],
        ] {
            let mut r = FieldReader::new(bad);
            let err = r.next_field().unwrap_err();
            assert_eq!(err.0, 0, "{err:?}");
        }
    }

    #[test]
    fn varints_and_zigzag_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            let mut pos = 0;
            assert_eq!(read_varint(&buf, &mut pos), Ok(v));
            assert_eq!(pos, buf.len());
            assert!(read_varint(&buf[..buf.len() - 1], &mut 0).is_err());
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -15_000] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert!(zigzag(-1) < 4 && zigzag(1) < 4);
    }

    #[test]
    fn varint_sizes_match_encoding() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
            let mut r = FieldReader::new(&[]);
            let _ = r.next_field();
        }
    }
}
