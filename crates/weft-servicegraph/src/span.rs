//! Reading the few facts the generator needs straight from a span's protobuf bytes.
//!
//! [`weft_traces::raw::RawBatch::parse`] has already checked the bytes, but nothing here relies
//! on that: malformed input ends the scan early and yields defaults, never a panic.

use std::borrow::Cow;

use weft_core::protowire::{FieldReader, FieldValue};

pub const KIND_UNSPECIFIED: u8 = 0;
pub const KIND_INTERNAL: u8 = 1;
pub const KIND_SERVER: u8 = 2;
pub const KIND_CLIENT: u8 = 3;
pub const KIND_PRODUCER: u8 = 4;
pub const KIND_CONSUMER: u8 = 5;

pub const STATUS_ERROR: u8 = 2;

/// Tempo's label value for a span kind.
pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        KIND_INTERNAL => "SPAN_KIND_INTERNAL",
        KIND_SERVER => "SPAN_KIND_SERVER",
        KIND_CLIENT => "SPAN_KIND_CLIENT",
        KIND_PRODUCER => "SPAN_KIND_PRODUCER",
        KIND_CONSUMER => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

/// Tempo's label value for a status code.
pub fn status_name(code: u8) -> &'static str {
    match code {
        1 => "STATUS_CODE_OK",
        STATUS_ERROR => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

/// The attribute keys the generator looks up; each lookup role refers to a key by index.
#[derive(Debug, Default)]
pub struct KeyTable {
    keys: Vec<Box<[u8]>>,
    /// Bit `n` is set when some key is `n` bytes long (bit 127: 127 or more): most attribute
    /// keys of a span are not looked up, and their length alone rules them out.
    lengths: u128,
}

impl KeyTable {
    /// Index of `key`, adding it if new.
    pub fn intern(&mut self, key: &str) -> usize {
        if let Some(i) = self.keys.iter().position(|k| **k == *key.as_bytes()) {
            return i;
        }
        self.keys.push(key.as_bytes().into());
        self.lengths |= length_bit(key.len());
        self.keys.len() - 1
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn find(&self, key: &[u8]) -> Option<usize> {
        if self.lengths & length_bit(key.len()) == 0 {
            return None;
        }
        self.keys.iter().position(|k| **k == *key)
    }
}

#[inline]
fn length_bit(len: usize) -> u128 {
    1u128 << len.min(127)
}

/// Encoded `AnyValue`s of the looked-up keys, by [`KeyTable`] index.
pub type Found<'a> = [Option<&'a [u8]>];

/// What one span says about itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpanFacts<'a> {
    pub kind: u8,
    pub status_code: u8,
    pub status_message: &'a str,
    /// Number of links seen (their keys went to the links vector when asked for).
    pub links: usize,
}

/// Scans a span's fields once: kind, status, wanted attributes into `found` (first
/// occurrence wins; `found` must be cleared by the caller) and, if `links` is given, the
/// `(trace_id, span_id)` of each link.
pub fn scan_span<'a>(
    bytes: &'a [u8],
    keys: &KeyTable,
    found: &mut Found<'a>,
    mut links: Option<&mut Vec<(&'a [u8], &'a [u8])>>,
) -> SpanFacts<'a> {
    let mut facts = SpanFacts::default();
    let want_attrs = !keys.is_empty();
    let mut fields = FieldReader::new(bytes);
    while let Ok(Some(field)) = fields.next_field() {
        match (field.number, field.value) {
            (6, FieldValue::Varint(k)) => facts.kind = if k <= 5 { k as u8 } else { 0 },
            (9, FieldValue::Len(kv)) if want_attrs => match_attribute(kv, keys, found),
            (13, FieldValue::Len(link)) => {
                facts.links += 1;
                if let Some(out) = links.as_deref_mut() {
                    if let Some(ids) = link_ids(link) {
                        out.push(ids);
                    }
                }
            }
            (15, FieldValue::Len(status)) => {
                let mut sf = FieldReader::new(status);
                while let Ok(Some(f)) = sf.next_field() {
                    match (f.number, f.value) {
                        (2, FieldValue::Len(m)) => {
                            facts.status_message = std::str::from_utf8(m).unwrap_or("")
                        }
                        (3, FieldValue::Varint(c)) => {
                            facts.status_code = if c <= 2 { c as u8 } else { 0 }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    facts
}

/// Scans a `Resource` (attributes are field 1) into `found`; returns `service.name`.
pub fn scan_resource<'a>(
    resource: &'a [u8],
    keys: &KeyTable,
    found: &mut Found<'a>,
    service_key: usize,
) -> Option<&'a str> {
    let mut fields = FieldReader::new(resource);
    while let Ok(Some(field)) = fields.next_field() {
        if let (1, FieldValue::Len(kv)) = (field.number, field.value) {
            match_attribute(kv, keys, found);
        }
    }
    found
        .get(service_key)
        .copied()
        .flatten()
        .and_then(any_value_str)
        .and_then(|v| match v {
            Cow::Borrowed(s) => Some(s),
            Cow::Owned(_) => None,
        })
}

#[inline]
fn match_attribute<'a>(kv: &'a [u8], keys: &KeyTable, found: &mut Found<'a>) {
    // Fast path: a `KeyValue` written key first (tag 0x0a, one-byte length) whose key is
    // not looked up is skipped without reading its value.
    if let [0x0a, len, rest @ ..] = kv {
        let len = usize::from(*len);
        if len < 0x80 && rest.len() >= len && keys.find(&rest[..len]).is_none() {
            return;
        }
    }
    let mut key: Option<&[u8]> = None;
    let mut value: Option<&'a [u8]> = None;
    let mut f = FieldReader::new(kv);
    while let Ok(Some(field)) = f.next_field() {
        match (field.number, field.value) {
            (1, FieldValue::Len(k)) => key = Some(k),
            (2, FieldValue::Len(v)) => value = Some(v),
            _ => {}
        }
    }
    if let (Some(k), Some(v)) = (key, value) {
        if let Some(i) = keys.find(k) {
            if let Some(slot) = found.get_mut(i) {
                if slot.is_none() {
                    *slot = Some(v);
                }
            }
        }
    }
}

fn link_ids(link: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut trace = None;
    let mut span = None;
    let mut f = FieldReader::new(link);
    while let Ok(Some(field)) = f.next_field() {
        match (field.number, field.value) {
            (1, FieldValue::Len(t)) => trace = Some(t),
            (2, FieldValue::Len(s)) => span = Some(s),
            _ => {}
        }
    }
    match (trace, span) {
        (Some(t), Some(s)) if !t.is_empty() && !s.is_empty() => Some((t, s)),
        _ => None,
    }
}

/// An `AnyValue` as a string, as Tempo stringifies scalars. Empty strings, arrays, maps and
/// bytes read as absent.
pub fn any_value_str(any: &[u8]) -> Option<Cow<'_, str>> {
    let mut out = None;
    let mut f = FieldReader::new(any);
    while let Ok(Some(field)) = f.next_field() {
        out = match (field.number, field.value) {
            (1, FieldValue::Len(s)) => std::str::from_utf8(s).ok().map(Cow::Borrowed),
            (2, FieldValue::Varint(b)) => {
                Some(Cow::Borrowed(if b != 0 { "true" } else { "false" }))
            }
            (3, FieldValue::Varint(i)) => Some(Cow::Owned((i as i64).to_string())),
            (4, FieldValue::Fixed64(d)) => Some(Cow::Owned(format_go_float(f64::from_bits(d)))),
            (5..=7, _) => None,
            _ => out,
        };
    }
    out.filter(|s| !s.is_empty())
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`, which Prometheus uses for `le` values.
pub fn format_go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..21).contains(&exp) {
        return format!("{v}");
    }
    // Shortest digits in exponent form, exponent with at least two digits.
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((mant, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            let digits = if digits.len() < 2 {
                format!("0{digits}")
            } else {
                digits.to_string()
            };
            format!("{mant}e{sign}{digits}")
        }
        None => s,
    }
}

/// Nanoseconds between two timestamps in seconds, 0 when `end < start` (Tempo's
/// `unixNanosDiffSec`).
pub fn diff_sec(start: u64, end: u64) -> f64 {
    if start > end {
        0.0
    } else {
        (end - start) as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_format() {
        assert_eq!(format_go_float(0.1), "0.1");
        assert_eq!(format_go_float(12.8), "12.8");
        assert_eq!(format_go_float(16.384), "16.384");
        assert_eq!(format_go_float(1.0), "1");
        assert_eq!(format_go_float(0.00001), "1e-05");
        assert_eq!(format_go_float(1e21), "1e+21");
        assert_eq!(format_go_float(f64::INFINITY), "+Inf");
    }

    #[test]
    fn garbage_never_panics() {
        let keys = {
            let mut k = KeyTable::default();
            k.intern("a");
            k
        };
        let mut found = [None];
        let mut links = Vec::new();
        for bytes in [
            &[0xff, 0xff, 0xff][..],
            &[0x4a, 0x05, 0x0a][..],
            &[0x32, 0x80][..],
            &[0x7a, 0x02, 0x08, 0x02][..],
            &[0x6a, 0x04, 0x0a, 0x00, 0x12, 0x00][..],
        ] {
            let _ = scan_span(bytes, &keys, &mut found, Some(&mut links));
            let _ = scan_resource(bytes, &keys, &mut found, 0);
            let _ = any_value_str(bytes);
        }
    }
}
