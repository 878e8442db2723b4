//! Fuzz the WAL reader: the input becomes a segment file in a scratch
//! directory and is replayed (see `weft_wal::fuzzing::replay_segment_bytes`
//! for the scenarios selected by the first byte). Replay must never panic;
//! repair must be idempotent; a repaired WAL must accept appends.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    weft_wal::fuzzing::replay_segment_bytes(data);
});
