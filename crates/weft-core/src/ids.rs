//! Trace and span identifiers: validation and hex forms.

/// A trace ID is exactly 16 bytes and not all zero (OTLP spec).
pub fn valid_trace_id(id: &[u8]) -> bool {
    id.len() == 16 && id.iter().any(|b| *b != 0)
}

/// A span ID is exactly 8 bytes and not all zero (OTLP spec).
pub fn valid_span_id(id: &[u8]) -> bool {
    id.len() == 8 && id.iter().any(|b| *b != 0)
}

/// Parses a trace ID from hex as Tempo accepts it in URLs: up to 32 hex digits, left-padded
/// with zeros (64-bit Jaeger/Zipkin IDs are stored that way).
pub fn parse_trace_id_hex(s: &str) -> Option<[u8; 16]> {
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{s:0>32}");
    let mut out = [0u8; 16];
    hex::decode_to_slice(padded, &mut out).ok()?;
    Some(out)
}

/// Copies a validated 16-byte slice into an array.
pub fn trace_id_array(id: &[u8]) -> Option<[u8; 16]> {
    id.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_validation() {
        assert!(valid_trace_id(&[1; 16]));
        assert!(!valid_trace_id(&[0; 16]));
        assert!(!valid_trace_id(&[1; 8]));
        assert!(valid_span_id(&[1; 8]));
        assert!(!valid_span_id(&[]));
    }

    #[test]
    fn hex_ids_are_left_padded() {
        let id = parse_trace_id_hex("abc").unwrap();
        assert_eq!(hex::encode(id), format!("{:0>32}", "abc"));
        assert!(parse_trace_id_hex("xyz").is_none());
        assert!(parse_trace_id_hex(&"a".repeat(33)).is_none());
    }
}
