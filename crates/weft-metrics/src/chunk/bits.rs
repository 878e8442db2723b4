//! Bit-level writer and reader for the chunk bit stream.
//!
//! Bits are written most-significant first: the first bit of a byte is `0x80`. The writer only
//! ever appends, and keeps the unused low bits of its last byte at zero, so its bytes are a
//! valid padded stream after every write (the chunk relies on this to need no finalisation).

use thiserror::Error;

/// The reader ran out of bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("unexpected end of data at bit {bit_pos} (needed {needed} more bits)")]
pub struct EndOfData {
    /// Bit position (from the start of the buffer) where the read started.
    pub bit_pos: usize,
    /// How many bits the read wanted.
    pub needed: u32,
}

/// Appends bits to a byte vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Number of bits written, including any whole bytes the buffer started with.
    bit_len: usize,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Continues writing after the first `bit_len` bits of `bytes`.
    ///
    /// `bytes` must be exactly `bit_len` bits rounded up to whole bytes, with zero padding bits;
    /// callers validate this (it is what makes appending after a reload possible).
    pub fn from_parts(bytes: Vec<u8>, bit_len: usize) -> Self {
        debug_assert_eq!(bytes.len(), bit_len.div_ceil(8));
        debug_assert!(
            bit_len.is_multiple_of(8) || bytes[bit_len / 8] & (0xff >> (bit_len % 8)) == 0
        );
        Self { bytes, bit_len }
    }

    /// The bytes written so far; unused bits of the last byte are zero.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Mutable access to whole bytes already written (used to patch a header in place).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// The writer's buffer.
    /// Gives back the buffer's unused capacity (for a chunk that will not grow again).
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Number of bits written.
    pub fn bit_len(&self) -> usize {
        self.bit_len
    }

    /// Appends one bit.
    pub fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Appends the low `n` bits of `value` (n ≤ 64), most significant first.
    pub fn write_bits(&mut self, value: u64, n: u32) {
        debug_assert!(n <= 64);
        debug_assert!(n == 64 || value >> n == 0, "value has bits above n");
        let mut remaining = n;
        while remaining > 0 {
            let used = (self.bit_len % 8) as u32;
            if used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - used;
            let take = free.min(remaining);
            // The next `take` bits of `value`, counting from its top written bit.
            let part = (value >> (remaining - take)) & ((1u64 << take) - 1);
            let idx = self.bit_len / 8;
            self.bytes[idx] |= (part as u8) << (free - take);
            self.bit_len += take as usize;
            remaining -= take;
        }
    }
}

/// Reads bits from a byte slice, most significant first.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Next bit to read, from the start of `bytes`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader starting at bit `bit_pos` of `bytes`.
    pub fn new(bytes: &'a [u8], bit_pos: usize) -> Self {
        Self {
            bytes,
            pos: bit_pos,
        }
    }

    /// Position of the next bit to read.
    pub fn bit_pos(&self) -> usize {
        self.pos
    }

    /// Bits left to read.
    pub fn remaining(&self) -> usize {
        (self.bytes.len() * 8).saturating_sub(self.pos)
    }

    /// Reads one bit.
    pub fn read_bit(&mut self) -> Result<bool, EndOfData> {
        Ok(self.read_bits(1)? == 1)
    }

    /// Reads `n` bits (n ≤ 64) into the low bits of the result. On error nothing is consumed.
    pub fn read_bits(&mut self, n: u32) -> Result<u64, EndOfData> {
        debug_assert!(n <= 64);
        if n as usize > self.remaining() {
            return Err(EndOfData {
                bit_pos: self.pos,
                needed: n,
            });
        }
        let mut out = 0u64;
        let mut remaining = n;
        while remaining > 0 {
            let byte = self.bytes[self.pos / 8];
            let avail = 8 - (self.pos % 8) as u32;
            let take = avail.min(remaining);
            let part = (byte >> (avail - take)) & (0xff >> (8 - take));
            // `take` ≤ 8, so this shift never reaches the width of u64.
            out = (out << take) | u64::from(part);
            self.pos += take as usize;
            remaining -= take;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_msb_first() {
        let mut w = BitWriter::new();
        w.write_bit(true);
        w.write_bits(0b01, 2);
        assert_eq!(w.as_bytes(), &[0b1010_0000]);
        assert_eq!(w.bit_len(), 3);
        w.write_bits(0xabc, 12);
        assert_eq!(w.as_bytes(), &[0b1011_0101, 0b0111_1000]);
        assert_eq!(w.bit_len(), 15);
    }

    #[test]
    fn round_trip_mixed_widths() {
        // Widths 0..=64 at every alignment, with values that use all n bits.
        let mut w = BitWriter::new();
        let mut expected = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..4u32 {
            for n in 0..=64u32 {
                x = x.rotate_left(7).wrapping_mul(0xff51_afd7_ed55_8ccd) ^ u64::from(round);
                let v = if n == 64 { x } else { x & ((1u64 << n) - 1) };
                w.write_bits(v, n);
                expected.push((v, n));
            }
        }
        let total = w.bit_len();
        assert_eq!(w.as_bytes().len(), total.div_ceil(8));
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes, 0);
        for (v, n) in expected {
            assert_eq!(r.read_bits(n).unwrap(), v, "width {n}");
        }
        assert_eq!(r.bit_pos(), total);
        assert!(r.remaining() < 8);
    }

    #[test]
    fn padding_stays_zero_and_writing_resumes() {
        let mut w = BitWriter::new();
        w.write_bits(0b111, 3);
        let bytes = w.into_bytes();
        assert_eq!(bytes, vec![0b1110_0000]);
        let mut w = BitWriter::from_parts(bytes, 3);
        w.write_bits(0b00001, 5);
        w.write_bit(true);
        assert_eq!(w.as_bytes(), &[0b1110_0001, 0b1000_0000]);
    }

    #[test]
    fn reading_past_the_end_fails_without_consuming() {
        let bytes = [0xff, 0x00];
        let mut r = BitReader::new(&bytes, 4);
        assert_eq!(r.read_bits(4).unwrap(), 0xf);
        assert_eq!(
            r.read_bits(9),
            Err(EndOfData {
                bit_pos: 8,
                needed: 9
            })
        );
        assert_eq!(r.bit_pos(), 8);
        assert_eq!(r.read_bits(8).unwrap(), 0);
        assert!(r.read_bit().is_err());
        // A start past the end is just "no bits left".
        let mut r = BitReader::new(&bytes, 100);
        assert_eq!(r.remaining(), 0);
        assert!(r.read_bit().is_err());
    }
}
