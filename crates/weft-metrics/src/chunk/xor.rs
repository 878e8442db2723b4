//! The XOR sample stream: delta-of-delta timestamps and XORed float bits
//! (`docs/format/metric-chunks.md`). Shared by the appender and the decoder so that both sides
//! of every field live next to each other.

use super::bits::{BitReader, BitWriter, EndOfData};
use super::ChunkError;

/// What encoding and decoding the next sample depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamState {
    /// Last timestamp.
    pub t: i64,
    /// Last timestamp delta; 0 until the second sample (all real deltas are ≥ 1).
    pub delta: i64,
    /// Raw bits of the last value.
    pub v: u64,
    /// (leading, trailing) zero counts of the last value written with a new window.
    pub window: Option<(u32, u32)>,
}

/// Delta-of-delta buckets after the `1`-prefix: (payload bits, prefix value, prefix bits).
/// Prefixes are `10`, `110`, `1110`; anything larger takes `1111` + 64 bits.
const DOD_BUCKETS: [(u32, u64, u32); 3] = [(7, 0b10, 2), (14, 0b110, 3), (20, 0b1110, 4)];

/// Leading zeros are stored in 5 bits.
const MAX_LEADING: u32 = 31;

/// Writes the first sample: zigzag varint timestamp and raw value bits.
pub(crate) fn write_first(w: &mut BitWriter, t: i64, v: u64) -> StreamState {
    write_uvarint(w, zigzag(t));
    w.write_bits(v, 64);
    StreamState {
        t,
        delta: 0,
        v,
        window: None,
    }
}

/// Writes a sample `delta` ms after the previous one. The chunk has checked that `delta` is
/// positive and that the new timestamp does not overflow.
pub(crate) fn write_next(w: &mut BitWriter, state: &mut StreamState, delta: i64, v: u64) {
    debug_assert!(delta > 0);
    debug_assert!(state.t.checked_add(delta).is_some());
    if state.delta == 0 {
        // Second sample: the plain delta, byte-aligned after the first sample.
        debug_assert_eq!(w.bit_len() % 8, 0);
        write_uvarint(w, delta as u64);
    } else {
        // Both deltas are positive, so the difference cannot overflow.
        write_dod(w, delta - state.delta);
    }
    write_xor(w, state, v);
    state.t += delta;
    state.delta = delta;
}

pub(crate) fn write_dod(w: &mut BitWriter, dod: i64) {
    if dod == 0 {
        w.write_bit(false);
        return;
    }
    for (bits, prefix, prefix_bits) in DOD_BUCKETS {
        let min = -(1i64 << (bits - 1));
        let max = (1i64 << (bits - 1)) - 1;
        if (min..=max).contains(&dod) {
            w.write_bits(prefix, prefix_bits);
            // Two's complement truncated to `bits`; the reader sign-extends.
            w.write_bits((dod as u64) & ((1u64 << bits) - 1), bits);
            return;
        }
    }
    w.write_bits(0b1111, 4);
    w.write_bits(dod as u64, 64);
}

fn write_xor(w: &mut BitWriter, state: &mut StreamState, v: u64) {
    write_xor_value(w, &mut state.v, &mut state.window, v);
}

/// Writes `v` XORed with `*prev` with window reuse (`<xor>` in the format doc), updating the
/// previous bits and the window. Histogram chunks keep one such state per field.
pub(crate) fn write_xor_value(
    w: &mut BitWriter,
    prev: &mut u64,
    window: &mut Option<(u32, u32)>,
    v: u64,
) {
    let x = v ^ *prev;
    *prev = v;
    if x == 0 {
        w.write_bit(false);
        return;
    }
    let leading = x.leading_zeros().min(MAX_LEADING);
    let trailing = x.trailing_zeros();
    if let Some((wl, wt)) = *window {
        if leading >= wl && trailing >= wt {
            // The meaningful bits fit the previous window: skip the 11-bit window header.
            w.write_bits(0b10, 2);
            w.write_bits(x >> wt, 64 - wl - wt);
            return;
        }
    }
    let sig = 64 - leading - trailing;
    debug_assert!((1..=64).contains(&sig));
    w.write_bits(0b11, 2);
    w.write_bits(u64::from(leading), 5);
    // 64 does not fit in 6 bits; 0 is never a valid width, so it stands for 64.
    w.write_bits(u64::from(sig % 64), 6);
    w.write_bits(x >> trailing, sig);
    *window = Some((leading, trailing));
}

pub(crate) fn zigzag(t: i64) -> u64 {
    ((t << 1) ^ (t >> 63)) as u64
}

pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

pub(crate) fn write_uvarint(w: &mut BitWriter, mut u: u64) {
    while u >= 0x80 {
        w.write_bits((u & 0x7f) | 0x80, 8);
        u >>= 7;
    }
    w.write_bits(u, 8);
}

/// Decodes a sample stream one sample at a time.
pub(crate) struct StreamDecoder<'a> {
    r: BitReader<'a>,
    state: Option<StreamState>,
}

impl<'a> StreamDecoder<'a> {
    /// Decodes from bit `bit_pos` of `bytes` (the byte after the header).
    pub fn new(bytes: &'a [u8], bit_pos: usize) -> Self {
        Self {
            r: BitReader::new(bytes, bit_pos),
            state: None,
        }
    }

    /// State after the last decoded sample, `None` before the first.
    pub fn state(&self) -> Option<StreamState> {
        self.state
    }

    /// Position of the first bit after the last decoded sample.
    pub fn bit_pos(&self) -> usize {
        self.r.bit_pos()
    }

    /// Decodes the next sample; the caller knows how many there are.
    pub fn next_sample(&mut self) -> Result<(i64, u64), ChunkError> {
        let state = match self.state {
            None => self.read_first()?,
            Some(mut state) => {
                self.read_timestamp(&mut state)?;
                self.read_xor(&mut state)?;
                state
            }
        };
        self.state = Some(state);
        Ok((state.t, state.v))
    }

    fn read_first(&mut self) -> Result<StreamState, ChunkError> {
        let t = unzigzag(self.read_uvarint()?);
        let v = self.bits(64)?;
        Ok(StreamState {
            t,
            delta: 0,
            v,
            window: None,
        })
    }

    /// Reads the timestamp of a sample after the first (a plain delta for the second).
    pub(crate) fn read_timestamp(&mut self, state: &mut StreamState) -> Result<(), ChunkError> {
        let start = self.r.bit_pos();
        let delta = if state.delta == 0 {
            let d = self.read_uvarint()?;
            if d == 0 || d > i64::MAX as u64 {
                return Err(corrupt(
                    start,
                    format!("first timestamp delta {d} out of range"),
                ));
            }
            d as i64
        } else {
            let dod = self.read_dod()?;
            match state.delta.checked_add(dod) {
                Some(d) if d > 0 => d,
                _ => {
                    let reason = format!(
                        "delta-of-delta {dod} after delta {} is not increasing",
                        state.delta
                    );
                    return Err(corrupt(start, reason));
                }
            }
        };
        let Some(t) = state.t.checked_add(delta) else {
            return Err(corrupt(
                start,
                format!("timestamp {} + {delta} overflows", state.t),
            ));
        };
        state.t = t;
        state.delta = delta;
        Ok(())
    }

    pub(crate) fn read_dod(&mut self) -> Result<i64, ChunkError> {
        if !self.bit()? {
            return Ok(0);
        }
        for (bits, _, _) in DOD_BUCKETS {
            if !self.bit()? {
                let raw = self.bits(bits)?;
                // Sign-extend from `bits` to 64.
                let shift = 64 - bits;
                return Ok(((raw << shift) as i64) >> shift);
            }
        }
        Ok(self.bits(64)? as i64)
    }

    fn read_xor(&mut self, state: &mut StreamState) -> Result<(), ChunkError> {
        self.read_xor_value(&mut state.v, &mut state.window)
    }

    /// Reads one `<xor>` value against `*prev` and the field's `window`, updating both.
    pub(crate) fn read_xor_value(
        &mut self,
        prev: &mut u64,
        window: &mut Option<(u32, u32)>,
    ) -> Result<(), ChunkError> {
        let start = self.r.bit_pos();
        if !self.bit()? {
            return Ok(());
        }
        let (leading, trailing) = if self.bit()? {
            let leading = self.bits(5)? as u32;
            let sig = match self.bits(6)? as u32 {
                0 => 64,
                s => s,
            };
            if leading + sig > 64 {
                let reason =
                    format!("value window of {leading} leading zeros and {sig} bits exceeds 64");
                return Err(corrupt(start, reason));
            }
            let new = (leading, 64 - leading - sig);
            *window = Some(new);
            new
        } else {
            match *window {
                Some(window) => window,
                None => {
                    return Err(corrupt(
                        start,
                        "value reuses a window before one was set".into(),
                    ))
                }
            }
        };
        let sig = 64 - leading - trailing;
        // sig ≥ 1, so the shift amount is at most 63.
        *prev ^= self.bits(sig)? << trailing;
        Ok(())
    }

    pub(crate) fn read_uvarint(&mut self) -> Result<u64, ChunkError> {
        let start = self.r.bit_pos();
        let mut out = 0u64;
        for i in 0..10u32 {
            let byte = self.bits(8)?;
            let group = byte & 0x7f;
            // The 10th byte may only carry the single remaining bit of a u64.
            if i == 9 && group > 1 {
                return Err(corrupt(start, "varint overflows 64 bits".into()));
            }
            out |= group << (7 * i);
            if byte & 0x80 == 0 {
                if i > 0 && group == 0 {
                    return Err(corrupt(start, "varint is not minimal".into()));
                }
                return Ok(out);
            }
        }
        Err(corrupt(start, "varint longer than 10 bytes".into()))
    }

    pub(crate) fn bit(&mut self) -> Result<bool, ChunkError> {
        self.r.read_bit().map_err(truncated)
    }

    pub(crate) fn bits(&mut self, n: u32) -> Result<u64, ChunkError> {
        self.r.read_bits(n).map_err(truncated)
    }
}

pub(crate) fn corrupt(bit_pos: usize, reason: String) -> ChunkError {
    ChunkError::Corrupt {
        offset: bit_pos / 8,
        reason,
    }
}

fn truncated(e: EndOfData) -> ChunkError {
    corrupt(
        e.bit_pos,
        format!(
            "chunk ends in a sample ({} more bits needed at bit {} of the byte)",
            e.needed,
            e.bit_pos % 8
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dod_round_trip(dod: i64) -> usize {
        let mut w = BitWriter::new();
        write_dod(&mut w, dod);
        let bits = w.bit_len();
        let bytes = w.into_bytes();
        let mut d = StreamDecoder::new(&bytes, 0);
        assert_eq!(d.read_dod().unwrap(), dod);
        assert_eq!(d.bit_pos(), bits);
        bits
    }

    #[test]
    fn dod_buckets_have_documented_sizes() {
        assert_eq!(dod_round_trip(0), 1);
        for (dod, bits) in [
            (1, 9),
            (-64, 9),
            (63, 9),
            (64, 17),
            (-65, 17),
            (8191, 17),
            (-8192, 17),
        ] {
            assert_eq!(dod_round_trip(dod), bits, "dod {dod}");
        }
        for (dod, bits) in [
            (8192, 24),
            (-524_288, 24),
            (524_287, 24),
            (524_288, 68),
            (i64::MIN, 68),
            (i64::MAX, 68),
        ] {
            assert_eq!(dod_round_trip(dod), bits, "dod {dod}");
        }
    }

    #[test]
    fn full_width_xor_writes_sig_64_as_zero() {
        let mut state = StreamState {
            t: 0,
            delta: 1,
            v: 0,
            window: None,
        };
        let mut w = BitWriter::new();
        write_xor(&mut w, &mut state, u64::MAX);
        // `11`, leading 0, sig 64 written as 0, then 64 bits: the documented 77-bit maximum.
        assert_eq!(w.bit_len(), 77);
        assert_eq!(&w.as_bytes()[..2], &[0b1100_0000, 0b0000_0111]);
        assert_eq!(state.window, Some((0, 0)));
        let bytes = w.into_bytes();
        let mut d = StreamDecoder::new(&bytes, 0);
        let mut read = StreamState {
            v: 0,
            window: None,
            ..state
        };
        d.read_xor(&mut read).unwrap();
        assert_eq!(read, state);
    }

    #[test]
    fn zigzag_round_trips() {
        for t in [0, 1, -1, 63, -64, i64::MIN, i64::MAX, 1_700_000_000_000] {
            assert_eq!(unzigzag(zigzag(t)), t);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn varints_must_be_minimal_and_bounded() {
        for u in [0u64, 1, 127, 128, 300, u64::MAX] {
            let mut w = BitWriter::new();
            write_uvarint(&mut w, u);
            let bytes = w.into_bytes();
            assert_eq!(StreamDecoder::new(&bytes, 0).read_uvarint().unwrap(), u);
        }
        let bad: [&[u8]; 3] = [
            &[0x80, 0x00],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            &[0xff; 11],
        ];
        for bytes in bad {
            let err = StreamDecoder::new(bytes, 0).read_uvarint().unwrap_err();
            assert!(
                matches!(err, ChunkError::Corrupt { offset: 0, .. }),
                "{err}"
            );
        }
    }
}
