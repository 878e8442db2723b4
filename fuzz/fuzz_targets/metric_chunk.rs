//! Fuzzes metric sample chunks (`docs/format/metric-chunks.md`).
//!
//! 1. The input as a chunk: `decode` and `XorChunk::from_bytes` may fail but never panic, and
//!    must agree; an accepted chunk iterates to what `decode` returned. The same for either
//!    encoding (XOR or float histogram) through `decode_samples` and `Chunk::from_bytes`.
//! 2. The input as samples: an 8-byte little-endian start timestamp, then 13-byte records
//!    `(shift u8, delta i32 LE, value bits u64 LE)`; each timestamp is the previous one plus
//!    `delta << (shift & 63)` (so all delta-of-delta buckets and the i64 extremes are reached).
//!    Non-increasing or overflowing timestamps are skipped. Samples are appended, cutting a
//!    new chunk when one is full, and every chunk must decode, iterate and reload to exactly
//!    the appended timestamps and value bits.
//!
//! 3. The same samples (all of them) as one packed chunk (encoding 4, the block encoding):
//!    it must decode to exactly the samples' timestamps and value bits. Inputs starting with
//!    byte 4 exercise the packed decoder in step 1.
//!
//! Run: `cargo fuzz run metric_chunk`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_metrics::chunk::{
    decode, decode_samples, encode_packed, Chunk, ChunkError, XorChunk, ENCODING_PACKED,
};

fuzz_target!(|data: &[u8]| {
    check_decode(data);
    check_append(data);
});

fn check_decode(data: &[u8]) {
    let decoded = decode(data);
    if data.first() == Some(&ENCODING_PACKED) {
        // Packed chunks are read-only: nothing to reload; decoding must just not panic.
        return;
    }
    let loaded = XorChunk::from_bytes(data.to_vec());
    assert_eq!(decoded.is_ok(), loaded.is_ok());
    if let (Ok(decoded), Ok(loaded)) = (decoded, loaded) {
        assert_eq!(bits(loaded.iter()), bits(decoded.into_iter()));
    }
    let any = decode_samples(data);
    let chunk = Chunk::from_bytes(data.to_vec());
    assert_eq!(any.is_ok(), chunk.is_ok());
    if let (Ok(any), Ok(chunk)) = (any, chunk) {
        let fingerprints = |s: Vec<weft_metrics::chunk::Sample>| {
            s.into_iter().map(|(t, v)| (t, v.fingerprint())).collect::<Vec<_>>()
        };
        assert_eq!(fingerprints(chunk.samples()), fingerprints(any));
        assert_eq!(chunk.bytes(), data);
    }
}

fn check_append(data: &[u8]) {
    let Some((start, records)) = data.split_first_chunk::<8>() else {
        return;
    };
    let mut t = i64::from_le_bytes(*start);
    let mut chunk = XorChunk::new();
    let mut expected = Vec::new();
    let mut all = Vec::new();
    let mut first = true;
    for rec in records.chunks_exact(13) {
        let shift = u32::from(rec[0] & 63);
        let delta = i64::from(i32::from_le_bytes([rec[1], rec[2], rec[3], rec[4]]));
        let v = u64::from_le_bytes(rec[5..13].try_into().unwrap());
        let next = if first {
            first = false;
            Some(t)
        } else {
            delta
                .checked_shl(shift)
                .filter(|d| d >> shift == delta && *d > 0)
                .and_then(|d| t.checked_add(d))
        };
        let Some(next) = next else { continue };
        t = next;
        match chunk.append(t, f64::from_bits(v)) {
            Ok(()) => {}
            Err(ChunkError::Full) => {
                verify(&chunk, &expected);
                chunk = XorChunk::new();
                expected.clear();
                chunk.append(t, f64::from_bits(v)).unwrap();
            }
            Err(e) => panic!("append of an increasing timestamp failed: {e}"),
        }
        expected.push((t, v));
        all.push((t, f64::from_bits(v)));
    }
    verify(&chunk, &expected);
    verify_packed(&all);
}

fn verify_packed(samples: &[(i64, f64)]) {
    if samples.is_empty() || samples.len() > usize::from(u16::MAX) {
        return;
    }
    let bytes = encode_packed(samples).unwrap();
    let back = decode(&bytes).unwrap();
    assert_eq!(bits(back.into_iter()), bits(samples.iter().copied()));
}

fn verify(chunk: &XorChunk, expected: &[(i64, u64)]) {
    assert_eq!(bits(decode(chunk.bytes()).unwrap().into_iter()), expected);
    assert_eq!(bits(chunk.iter()), expected);
    let reloaded = XorChunk::from_bytes(chunk.bytes().to_vec()).unwrap();
    assert_eq!(&reloaded, chunk);
}

fn bits(samples: impl Iterator<Item = (i64, f64)>) -> Vec<(i64, u64)> {
    samples.map(|(t, v)| (t, v.to_bits())).collect()
}
