//! Entry point shared by the cargo-fuzz target `fuzz/fuzz_targets/wal_segment.rs`
//! and this crate's tests. Not a stable API.
//!
//! Replay must never panic on any bytes; every other failure is an
//! invariant violation and panics on purpose so the fuzzer reports it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::format::{encode_segment_header, segment_path};
use crate::{FsyncPolicy, Position, Wal, WalError, WalOptions};

/// Mode bits taken from the first input byte.
const PREPEND_HEADER: u8 = 1;
const SKIP_CORRUPT: u8 = 2;
const NOT_LAST: u8 = 4;
const REOPEN_AND_APPEND: u8 = 8;

/// Writes `data[1..]` as segment 1 of a fresh directory and replays it.
/// `data[0]` picks the scenario: bit 0 prepends a valid header (so the
/// fuzzer reaches the frame parser), bit 1 sets `skip_corrupt`, bit 2 adds
/// a valid empty segment 2 (so segment 1 is not the last: corruption rules
/// instead of torn-tail rules), bit 3 reopens the repaired WAL, appends
/// and checks the record comes back last.
pub fn replay_segment_bytes(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let dir = ScratchDir::new();
    let mut contents = Vec::with_capacity(body.len() + 24);
    if mode & PREPEND_HEADER != 0 {
        contents.extend_from_slice(&encode_segment_header(1));
    }
    contents.extend_from_slice(body);
    fs::write(segment_path(&dir.0, 1), &contents).expect("write fuzz segment");
    if mode & NOT_LAST != 0 {
        fs::write(segment_path(&dir.0, 2), encode_segment_header(2)).expect("write segment 2");
    }
    let opts = WalOptions {
        skip_corrupt: mode & SKIP_CORRUPT != 0,
        fsync: FsyncPolicy::Never,
        ..WalOptions::default()
    };

    let Ok(first) = collect(&dir.0, &opts) else {
        return; // a clean error is a fine answer to garbage
    };
    // Repair is idempotent: the second pass sees the same records and no
    // torn tail.
    let second = collect(&dir.0, &opts).expect("replay after repair must succeed");
    assert_eq!(first.records, second.records, "replay is not repeatable");
    assert_eq!(second.torn, 0, "repair left a torn tail behind");

    if mode & REOPEN_AND_APPEND != 0 {
        reopen_and_append(&dir.0, &opts, &second.records);
    }
}

struct Collected {
    records: Vec<(Position, Vec<u8>)>,
    torn: u64,
}

fn collect(dir: &Path, opts: &WalOptions) -> Result<Collected, WalError> {
    let mut records: Vec<(Position, Vec<u8>)> = Vec::new();
    let stats = Wal::replay(dir, Position::START, opts, |pos, payload| {
        assert!(
            records.last().is_none_or(|(p, _)| *p < pos),
            "positions must strictly increase"
        );
        records.push((pos, payload.to_vec()));
        Ok::<(), WalError>(())
    })?;
    assert_eq!(stats.records, records.len() as u64);
    Ok(Collected {
        records,
        torn: stats.torn_tails_repaired,
    })
}

fn reopen_and_append(dir: &Path, opts: &WalOptions, before: &[(Position, Vec<u8>)]) {
    let Ok(wal) = Wal::open(dir, opts.clone()) else {
        return;
    };
    let pos = wal
        .append_blocking(Bytes::from_static(b"fuzz-tail"))
        .expect("append after repair");
    wal.shutdown().expect("shutdown");
    drop(wal);
    let after = collect(dir, opts).expect("replay after append");
    let (last_pos, last) = after.records.last().expect("appended record replays");
    assert_eq!((*last_pos, last.as_slice()), (pos, &b"fuzz-tail"[..]));
    // Everything replayed before is still there, in front of it.
    assert!(after.records.starts_with(before));
}

/// A per-call directory under the system temp dir, removed on drop (no
/// dependency on `tempfile` for the fuzz crate).
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> ScratchDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("weft-wal-fuzz-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create fuzz scratch dir");
        ScratchDir(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
