//! Record positions.

use std::fmt;

/// Where a record lives: its segment number and the byte offset of its
/// frame inside that segment file. Ordered `(segment, offset)`; strictly
/// increasing in append order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Segment number (the file `{segment:020}.wal`); the first is 1.
    pub segment: u64,
    /// Byte offset of the record's frame header within the segment file.
    pub offset: u64,
}

impl Position {
    /// Before every record: replay from here yields everything.
    pub const START: Position = Position {
        segment: 0,
        offset: 0,
    };

    /// Before the first record of `segment` (what a checkpoint taken with
    /// `Wal::rotate` replays from).
    pub const fn segment_start(segment: u64) -> Position {
        Position { segment, offset: 0 }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.segment, self.offset)
    }
}
