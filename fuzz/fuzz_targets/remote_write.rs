//! Prometheus remote write bodies: the first byte picks the schema (1.0 or 2.0) and whether
//! the rest is used as is (mostly rejected by snappy) or first wrapped into a valid snappy
//! block, so that protobuf decoding and validation are reached. Then decode → validate →
//! response helpers, exactly as the receiver does. Every step must return an error, never
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_ingest::remote_write::{decode, decompress, negotiate, validate, written_headers, Version};

const MAX: usize = 1 << 20;

/// Minimal snappy block encoder: the varint length, then the input as literal elements
/// (valid snappy, no compression). Keeps the fuzz crate free of a snappy dependency.
fn snappy_literal(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 60_000 * 3 + 8);
    let mut n = input.len() as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    for chunk in input.chunks(65_536) {
        let m = chunk.len() - 1;
        if m < 60 {
            out.push((m as u8) << 2);
        } else if m < 256 {
            out.push(60 << 2);
            out.push(m as u8);
        } else {
            out.push(61 << 2);
            out.extend_from_slice(&(m as u16).to_le_bytes());
        }
        out.extend_from_slice(chunk);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let version = if mode & 1 == 0 { Version::V1 } else { Version::V2 };
    let content_type = match version {
        Version::V1 => "application/x-protobuf",
        Version::V2 => "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    };
    assert_eq!(
        negotiate(Some(content_type), Some("snappy"), None).ok(),
        Some(version)
    );
    let compressed;
    let body = if mode & 2 == 0 {
        rest
    } else {
        compressed = snappy_literal(rest);
        if rest.len() <= MAX {
            assert_eq!(
                decompress(&compressed, MAX).ok().as_deref(),
                Some(rest),
                "literal snappy block must round-trip"
            );
        }
        &compressed
    };
    let Ok(mut batch) = decode(body, version, MAX) else {
        return;
    };
    validate(&mut batch, 1_700_000_000_000);
    let _ = written_headers(batch.counts());
    let _ = batch.rejection_error();
    for s in &batch.series {
        // Decoded label sets are sorted, unique and named.
        assert!(s.labels.metric_name().is_some_and(|n| !n.is_empty()));
        assert!(s.labels.as_slice().windows(2).all(|w| w[0].name < w[1].name));
    }
});
