//! Packed float chunks (encoding 4): the block-side encoding of float samples.
//!
//! The head appends one sample at a time into XOR chunks ([`super::XorChunk`]); a block is
//! written once and read many times, so its writer re-encodes each series' samples into larger
//! chunks that trade append-ability for size. Timestamps and values become integer columns
//! (values as `m / 10^e`, bit-exact); each column is stored as deltas or delta-of-deltas,
//! divided by their common factor, minus their minimum, split into byte planes (all low
//! bytes, then all next bytes, …) so that the general-purpose compressor that follows (zstd)
//! sees long runs of similar bytes. Values that no common decimal exponent describes exactly
//! (NaN payloads such as the stale marker, ±Inf, `-0.0`) are kept as raw bits, as exceptions
//! or, when too many, as the whole value column. Layout: `docs/format/metric-chunks.md`,
//! "Packed float chunks".

use weft_core::protowire::{put_varint, read_varint, unzigzag, zigzag};

use super::{ChunkError, HEADER_LEN};

/// Encoding byte of a packed float chunk.
pub const ENCODING_PACKED: u8 = 4;

/// Most samples the block writer puts in one packed chunk: four hours of 15 s scrapes, enough
/// for zstd to find the repetition in a series, few enough that a query over a short range of
/// a compacted block decodes little it does not need.
pub const PACKED_MAX_SAMPLES: usize = 1024;

/// Flag bit: the payload is one zstd frame (otherwise it is stored as is).
const FLAG_ZSTD: u8 = 1;
/// Bytes before the payload: the common header plus the flags byte.
const PACKED_HEADER_LEN: usize = HEADER_LEN + 1;
/// zstd level: the payload is small and written once; higher levels gain little here.
const ZSTD_LEVEL: i32 = 3;
/// Largest decimal exponent: `10^22` is the largest power of ten an `f64` holds exactly, so
/// `m / 10^e` is one correctly rounded division.
const MAX_EXPONENT: u8 = 22;
/// Integers up to `2^53` convert to `f64` exactly.
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0;
/// Value column modes.
const MODE_DECIMAL: u8 = 0;
const MODE_RAW: u8 = 2;

fn corrupt(offset: usize, reason: impl Into<String>) -> ChunkError {
    ChunkError::Corrupt {
        offset,
        reason: reason.into(),
    }
}

/// Encodes 1..=`u16::MAX` samples with strictly increasing timestamps.
pub fn encode(samples: &[(i64, f64)]) -> Result<Vec<u8>, ChunkError> {
    let n = u16::try_from(samples.len())
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| corrupt(0, format!("{} samples do not fit a chunk", samples.len())))?;
    check_order(samples)?;
    let mut payload = Vec::with_capacity(samples.len() * 4 + 32);
    let times: Vec<i64> = samples.iter().map(|s| s.0).collect();
    put_int_column(&mut payload, &times);
    put_values(&mut payload, samples);
    let mut out = Vec::with_capacity(PACKED_HEADER_LEN + payload.len());
    out.push(ENCODING_PACKED);
    out.extend_from_slice(&n.to_be_bytes());
    match zstd::bulk::compress(&payload, ZSTD_LEVEL) {
        Ok(z) if z.len() < payload.len() => {
            out.push(FLAG_ZSTD);
            out.extend_from_slice(&z);
        }
        // Incompressible (or zstd failed): the raw payload is just as valid.
        _ => {
            out.push(0);
            out.extend_from_slice(&payload);
        }
    }
    Ok(out)
}

/// Timestamps must increase, by steps that fit an `i64` (as in XOR chunks).
fn check_order(samples: &[(i64, f64)]) -> Result<(), ChunkError> {
    for w in samples.windows(2) {
        let (prev, t) = (w[0].0, w[1].0);
        match t.checked_sub(prev) {
            Some(d) if d > 0 => {}
            Some(_) => return Err(ChunkError::OutOfOrder { prev, t }),
            None if t > prev => return Err(ChunkError::DeltaOverflow { prev, t }),
            None => return Err(ChunkError::OutOfOrder { prev, t }),
        }
    }
    Ok(())
}

/// Differences of consecutive integers (callers guarantee they fit in an `i64`).
fn differences(x: &[i64]) -> Vec<i64> {
    x.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect()
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A column's steps reduced for storage: `step = factor × (base + offset)`.
struct Steps {
    factor: u64,
    base: i64,
    offsets: Vec<u64>,
}

fn reduce(steps: &[i64]) -> Steps {
    // Timestamp deltas are positive and their differences lie strictly inside the `i64`
    // range; mantissa steps are below 2^55: no step is `i64::MIN`, whose magnitude the
    // factor's `i64` cast below could not hold.
    debug_assert!(steps.iter().all(|&x| x != i64::MIN));
    let factor = steps
        .iter()
        .fold(0, |g, &x| gcd(g, x.unsigned_abs()))
        .max(1);
    // Division by a common factor is exact, and |x / factor| ≤ |x| keeps it in range.
    let q: Vec<i64> = steps.iter().map(|&x| x / factor as i64).collect();
    let base = q.iter().copied().min().unwrap_or(0);
    let offsets = q.iter().map(|&x| x.wrapping_sub(base) as u64).collect();
    Steps {
        factor,
        base,
        offsets,
    }
}

/// Bits the offsets need, a proxy for their size after compression.
fn cost(s: &Steps) -> u64 {
    s.offsets
        .iter()
        .map(|&u| u64::from(64 - u.leading_zeros()))
        .sum()
}

/// An integer column: `order` (1 = deltas, 2 = delta-of-deltas, whichever is smaller), the
/// first value (and first delta for order 2) as zigzag varints, then the reduced steps as
/// `factor`, `base`, byte `width` and `width` byte planes. Steps must fit an `i64`: they do for
/// timestamps (checked increasing with `i64` deltas, so their differences too) and for
/// mantissas (below 2^53).
fn put_int_column(out: &mut Vec<u8>, x: &[i64]) {
    let deltas = differences(x);
    let dods = differences(&deltas);
    let by_delta = reduce(&deltas);
    let by_dod = reduce(&dods);
    let (order, steps) = if deltas.len() >= 2 && cost(&by_dod) < cost(&by_delta) {
        (2u8, by_dod)
    } else {
        (1u8, by_delta)
    };
    out.push(order);
    put_varint(out, zigzag(x[0]));
    if order == 2 {
        put_varint(out, zigzag(deltas[0]));
    }
    if steps.offsets.is_empty() {
        return;
    }
    put_varint(out, steps.factor);
    put_varint(out, zigzag(steps.base));
    let max = steps.offsets.iter().copied().max().unwrap_or(0);
    let width = (64 - max.leading_zeros()).div_ceil(8) as usize;
    out.push(width as u8);
    for plane in 0..width {
        out.extend(steps.offsets.iter().map(|&u| (u >> (8 * plane)) as u8));
    }
}

/// `m` with `m / 10^e == v` bit-exactly, if there is one.
fn mantissa(v: f64, e: u8) -> Option<i64> {
    if !v.is_finite() || v.to_bits() == (-0.0f64).to_bits() {
        return None;
    }
    let scale = 10f64.powi(i32::from(e));
    let m = (v * scale).round();
    // `m` is finite here (`v` is, and `scale` ≤ 10^22), so this is a plain range check.
    if m.abs() >= MAX_MANTISSA {
        return None;
    }
    ((m / scale).to_bits() == v.to_bits()).then_some(m as i64)
}

/// The smallest exponent that describes `v` exactly.
fn min_exponent(v: f64) -> Option<u8> {
    (0..=MAX_EXPONENT).find(|&e| mantissa(v, e).is_some())
}

/// The decimal view of a value column: a common exponent, one integer per sample and the
/// samples it cannot describe.
struct Decimal {
    exponent: u8,
    mantissas: Vec<i64>,
    exceptions: Vec<(usize, u64)>,
}

fn decimal(samples: &[(i64, f64)]) -> Option<Decimal> {
    let exponent = samples.iter().filter_map(|s| min_exponent(s.1)).max()?;
    let mut mantissas = Vec::with_capacity(samples.len());
    let mut exceptions = Vec::new();
    for (i, &(_, v)) in samples.iter().enumerate() {
        match mantissa(v, exponent) {
            Some(m) => mantissas.push(m),
            None => {
                exceptions.push((i, v.to_bits()));
                // Repeat the previous integer: a zero step costs least.
                mantissas.push(mantissas.last().copied().unwrap_or(0));
            }
        }
    }
    // Many exceptions mean the column is not decimal: raw bits are smaller then.
    (exceptions.len() * 4 <= samples.len()).then_some(Decimal {
        exponent,
        mantissas,
        exceptions,
    })
}

fn put_values(out: &mut Vec<u8>, samples: &[(i64, f64)]) {
    let Some(dec) = decimal(samples) else {
        put_raw_values(out, samples);
        return;
    };
    out.push(MODE_DECIMAL);
    out.push(dec.exponent);
    put_int_column(out, &dec.mantissas);
    put_varint(out, dec.exceptions.len() as u64);
    let mut prev = 0usize;
    for &(i, bits) in &dec.exceptions {
        put_varint(out, (i - prev) as u64);
        out.extend_from_slice(&bits.to_be_bytes());
        prev = i;
    }
}

/// Raw value column: each value's bits XORed with the previous value's, big-endian, so that
/// the bytes repeated values and shared exponents zero out line up for zstd.
fn put_raw_values(out: &mut Vec<u8>, samples: &[(i64, f64)]) {
    out.push(MODE_RAW);
    let mut prev = 0u64;
    for &(_, v) in samples {
        let bits = v.to_bits();
        out.extend_from_slice(&(bits ^ prev).to_be_bytes());
        prev = bits;
    }
}

/// Decodes and validates a packed chunk. Never panics; errors name the byte offset (in the
/// chunk for the header, in the decompressed payload beyond it).
pub fn decode(bytes: &[u8]) -> Result<Vec<(i64, f64)>, ChunkError> {
    if bytes.len() < PACKED_HEADER_LEN {
        return Err(corrupt(bytes.len(), "packed chunk header is truncated"));
    }
    debug_assert_eq!(bytes[0], ENCODING_PACKED);
    let n = usize::from(u16::from_be_bytes([bytes[1], bytes[2]]));
    if n == 0 {
        return Err(corrupt(1, "packed chunk holds no samples"));
    }
    let body = &bytes[PACKED_HEADER_LEN..];
    let payload = match bytes[HEADER_LEN] {
        0 => std::borrow::Cow::Borrowed(body),
        FLAG_ZSTD => {
            // No valid payload is larger than two full 8-byte columns plus their headers and
            // 17 bytes per exception, which bounds what a forged frame can allocate.
            let limit = n * 34 + 128;
            let raw = decompress(body, limit).map_err(|e| {
                corrupt(
                    PACKED_HEADER_LEN,
                    format!("zstd payload does not decompress: {e}"),
                )
            })?;
            std::borrow::Cow::Owned(raw)
        }
        f => {
            return Err(corrupt(
                HEADER_LEN,
                format!("unknown packed chunk flags {f:#04x}"),
            ))
        }
    };
    let mut pos = 0;
    let times = read_int_column(&payload, &mut pos, n)?;
    if let Some(w) = times.windows(2).find(|w| w[1] <= w[0]) {
        return Err(corrupt(
            0,
            format!("timestamp {} is not after {}", w[1], w[0]),
        ));
    }
    let values = read_values(&payload, &mut pos, n)?;
    if pos != payload.len() {
        return Err(corrupt(
            pos,
            format!("{} bytes after the last value", payload.len() - pos),
        ));
    }
    Ok(times.into_iter().zip(values).collect())
}

/// One zstd frame into at most `limit` bytes. The decompression context is kept per thread:
/// creating one per chunk cost as much as decompressing it when a query reads thousands.
fn decompress(frame: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = match slot.as_mut() {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        d.decompress(frame, limit)
    })
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ChunkError> {
    let at = *pos;
    read_varint(buf, pos).map_err(|e| corrupt(at, e))
}

fn byte(buf: &[u8], pos: &mut usize, what: &str) -> Result<u8, ChunkError> {
    let b = *buf
        .get(*pos)
        .ok_or_else(|| corrupt(*pos, format!("{what} is missing")))?;
    *pos += 1;
    Ok(b)
}

/// Reads an integer column of `n` values (see [`put_int_column`]); arithmetic is checked so
/// that forged columns are errors, not overflows.
fn read_int_column(buf: &[u8], pos: &mut usize, n: usize) -> Result<Vec<i64>, ChunkError> {
    let at = *pos;
    let order = byte(buf, pos, "column order")?;
    if order != 1 && order != 2 {
        return Err(corrupt(at, format!("unknown column order {order}")));
    }
    let mut x = unzigzag(varint(buf, pos)?);
    let mut delta = if order == 2 && n >= 2 {
        Some(unzigzag(varint(buf, pos)?))
    } else {
        None
    };
    let steps = read_steps(buf, pos, n.saturating_sub(usize::from(order)))?;
    let overflow = || corrupt(at, "column value overflows");
    let mut out = Vec::with_capacity(n);
    out.push(x);
    if let Some(d) = delta.as_mut() {
        x = x.checked_add(*d).ok_or_else(overflow)?;
        out.push(x);
    }
    for s in steps {
        let step = match delta.as_mut() {
            Some(d) => {
                *d = d.checked_add(s).ok_or_else(overflow)?;
                *d
            }
            None => s,
        };
        x = x.checked_add(step).ok_or_else(overflow)?;
        out.push(x);
    }
    debug_assert_eq!(out.len(), n);
    Ok(out)
}

fn read_steps(buf: &[u8], pos: &mut usize, count: usize) -> Result<Vec<i64>, ChunkError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let at = *pos;
    let factor = i128::from(varint(buf, pos)?);
    if factor == 0 {
        return Err(corrupt(at, "common factor is zero"));
    }
    let base = i128::from(unzigzag(varint(buf, pos)?));
    let at = *pos;
    let width = usize::from(byte(buf, pos, "byte width")?);
    if width > 8 {
        return Err(corrupt(at, format!("byte width {width} is above 8")));
    }
    let planes = buf.get(*pos..*pos + width * count).ok_or_else(|| {
        corrupt(
            *pos,
            format!("{width} byte planes of {count} steps are truncated"),
        )
    })?;
    *pos += width * count;
    let mut offsets = vec![0u64; count];
    for (p, plane) in planes.chunks_exact(count).enumerate() {
        for (u, &b) in offsets.iter_mut().zip(plane) {
            *u |= u64::from(b) << (8 * p);
        }
    }
    offsets
        .into_iter()
        .map(|offset| {
            (base + i128::from(offset))
                .checked_mul(factor)
                .and_then(|step| i64::try_from(step).ok())
                .ok_or_else(|| corrupt(at, "step overflows"))
        })
        .collect()
}

fn read_values(buf: &[u8], pos: &mut usize, n: usize) -> Result<Vec<f64>, ChunkError> {
    let at = *pos;
    match byte(buf, pos, "value column")? {
        MODE_RAW => read_raw_values(buf, pos, n),
        MODE_DECIMAL => {
            let at = *pos;
            let exponent = byte(buf, pos, "exponent")?;
            if exponent > MAX_EXPONENT {
                return Err(corrupt(
                    at,
                    format!("decimal exponent {exponent} is above {MAX_EXPONENT}"),
                ));
            }
            let scale = 10f64.powi(i32::from(exponent));
            let mut values: Vec<f64> = read_int_column(buf, pos, n)?
                .into_iter()
                .map(|m| m as f64 / scale)
                .collect();
            read_exceptions(buf, pos, &mut values)?;
            Ok(values)
        }
        m => Err(corrupt(at, format!("unknown value mode {m}"))),
    }
}

fn read_raw_values(buf: &[u8], pos: &mut usize, n: usize) -> Result<Vec<f64>, ChunkError> {
    let end = n
        .checked_mul(8)
        .and_then(|len| pos.checked_add(len))
        .filter(|&end| end <= buf.len())
        .ok_or_else(|| corrupt(*pos, format!("raw value column shorter than {n} values")))?;
    let mut prev = 0u64;
    let out = buf[*pos..end]
        .chunks_exact(8)
        .map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            prev ^= u64::from_be_bytes(a);
            f64::from_bits(prev)
        })
        .collect();
    *pos = end;
    Ok(out)
}

fn read_exceptions(buf: &[u8], pos: &mut usize, values: &mut [f64]) -> Result<(), ChunkError> {
    let at = *pos;
    let count = varint(buf, pos)?;
    if count > values.len() as u64 {
        return Err(corrupt(
            at,
            format!("{count} exceptions for {} values", values.len()),
        ));
    }
    let mut index = 0usize;
    for k in 0..count {
        let at = *pos;
        let gap = varint(buf, pos)?;
        index = usize::try_from(gap)
            .ok()
            .and_then(|g| index.checked_add(g))
            .filter(|&i| i < values.len() && (k == 0 || gap > 0))
            .ok_or_else(|| corrupt(at, "exception index out of order or out of range"))?;
        let bits = buf
            .get(*pos..*pos + 8)
            .ok_or_else(|| corrupt(*pos, "exception value is truncated"))?;
        let mut a = [0u8; 8];
        a.copy_from_slice(bits);
        values[index] = f64::from_bits(u64::from_be_bytes(a));
        *pos += 8;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::XorChunk;

    /// xorshift: deterministic test data without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn times(rng: &mut Rng, n: usize) -> Vec<i64> {
        let mut t = 1_795_331_497_459i64;
        (0..n)
            .map(|_| {
                t += 15_000 + (rng.next() % 5) as i64 - 2;
                t
            })
            .collect()
    }

    fn shapes(n: usize) -> Vec<(&'static str, Vec<(i64, f64)>)> {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut out = Vec::new();
        let mut add = |name, f: &mut dyn FnMut(&mut Rng, usize) -> f64, rng: &mut Rng| {
            let ts = times(rng, n);
            let s: Vec<(i64, f64)> = ts
                .iter()
                .enumerate()
                .map(|(i, &t)| (t, f(rng, i)))
                .collect();
            out.push((name, s));
        };
        let mut c = 12_345.67;
        add(
            "cpu counter, 0.01 steps",
            &mut |r, _| {
                c += ((12.0 + r.unit()) * 100.0).round() / 100.0;
                (c * 100.0f64).round() / 100.0
            },
            &mut rng,
        );
        let mut g = 8.0 * 1024.0 * 1024.0 * 1024.0;
        add(
            "page-aligned gauge",
            &mut |r, _| {
                g += ((r.unit() - 0.5) * 4096.0 * 200.0 / 4096.0).round() * 4096.0;
                g
            },
            &mut rng,
        );
        add("constant", &mut |_, _| 42.0, &mut rng);
        add("full precision", &mut |r, _| r.unit() * 0.03, &mut rng);
        add(
            "specials",
            &mut |r, i| match i % 9 {
                0 => f64::from_bits(0x7ff0_0000_0000_0002),
                1 => -0.0,
                2 => f64::INFINITY,
                3 => f64::NEG_INFINITY,
                4 => f64::NAN,
                _ => (r.next() % 1000) as f64,
            },
            &mut rng,
        );
        let mut k = 0.0;
        add(
            "counter with a stale marker at the end",
            &mut |_, i| {
                k += 3.0;
                if i + 1 == n {
                    f64::from_bits(0x7ff0_0000_0000_0002)
                } else {
                    k
                }
            },
            &mut rng,
        );
        add(
            "huge and tiny",
            &mut |_, i| if i % 2 == 0 { 1e300 } else { 1e-300 },
            &mut rng,
        );
        add(
            "negative decimals",
            &mut |r, _| -((r.next() % 100_000) as f64) / 1000.0,
            &mut rng,
        );
        out
    }

    fn same(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
    }

    #[test]
    fn every_shape_round_trips_bit_exactly() {
        for n in [1, 2, 3, 10, 120, 480, PACKED_MAX_SAMPLES] {
            for (name, s) in shapes(n) {
                let bytes = encode(&s).unwrap();
                assert_eq!(bytes[0], ENCODING_PACKED);
                let back = crate::chunk::decode(&bytes).unwrap();
                assert!(same(&s, &back), "{name}, {n} samples");
            }
        }
    }

    #[test]
    fn out_of_order_and_empty_input_are_refused() {
        assert!(encode(&[]).is_err());
        assert!(matches!(
            encode(&[(5, 1.0), (5, 2.0)]),
            Err(ChunkError::OutOfOrder { prev: 5, t: 5 })
        ));
    }

    /// Packed chunks are what makes blocks small: compare with the head's XOR chunks on the
    /// shapes a scrape produces.
    #[test]
    fn packed_is_smaller_than_xor_on_scrape_shaped_series() {
        for (name, s) in shapes(480) {
            let packed = encode(&s).unwrap().len();
            let xor: usize = s
                .chunks(120)
                .map(|c| {
                    let mut x = XorChunk::new();
                    for &(t, v) in c {
                        x.append(t, v).unwrap();
                    }
                    x.bytes().len()
                })
                .sum();
            eprintln!("{name}: packed {packed} B, xor {xor} B for 480 samples");
            if name != "full precision" && name != "specials" {
                assert!(packed < xor, "{name}: packed {packed} B, xor {xor} B");
            }
        }
    }

    /// Any truncation or flipped byte is an error or a (different) valid chunk, never a panic.
    #[test]
    fn damaged_chunks_never_panic() {
        for (_, s) in shapes(50) {
            let bytes = encode(&s).unwrap();
            for cut in 0..bytes.len() {
                let _ = crate::chunk::decode(&bytes[..cut]);
            }
            let mut rng = Rng(7);
            for _ in 0..300 {
                let mut b = bytes.clone();
                let i = (rng.next() as usize) % b.len();
                b[i] ^= 1 << (rng.next() % 8);
                let _ = crate::chunk::decode(&b);
            }
        }
        // Uncompressed payloads damaged inside the columns.
        let raw: Vec<u8> = [ENCODING_PACKED, 0, 3, 0, 2, 1, 1, 0, 0].to_vec();
        assert!(crate::chunk::decode(&raw).is_err());
    }
}
