//! Torn tails, corruption, missing segments: the replay rules of
//! docs/format/wal.md §7, on real files.

mod common;

use std::fs::{self, OpenOptions};
use std::path::Path;

use common::{id_of, payload, replay_all, replay_from, segment, small_segments};
use weft_wal::{Position, Wal, WalError, WalOptions, SEGMENT_HEADER_LEN};

/// Writes records `0..n` into a fresh WAL and returns their positions.
fn write_records(dir: &Path, opts: &WalOptions, n: u64) -> Vec<Position> {
    let wal = Wal::open(dir, opts.clone()).unwrap();
    let positions = (0..n)
        .map(|id| wal.append_blocking(payload(id)).unwrap())
        .collect();
    wal.shutdown().unwrap();
    positions
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

fn set_len(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

fn ids(records: &[(Position, Vec<u8>)]) -> Vec<u64> {
    records.iter().map(|(_, b)| id_of(b)).collect()
}

#[test]
fn truncation_at_every_offset_of_last_record_is_repaired() {
    let pristine = tempfile::tempdir().unwrap();
    let positions = write_records(pristine.path(), &WalOptions::default(), 6);
    let seg = segment(pristine.path(), 1);
    let end = file_len(&seg);
    let last = positions[5].offset;
    let original = fs::read(&seg).unwrap();

    for cut in last..end {
        let dir = tempfile::tempdir().unwrap();
        let path = segment(dir.path(), 1);
        fs::write(&path, &original[..cut as usize]).unwrap();

        let (got, stats) =
            replay_from(dir.path(), Position::START, &WalOptions::default()).unwrap();
        assert_eq!(ids(&got), [0, 1, 2, 3, 4], "cut at {cut}");
        let torn = u64::from(cut != last);
        assert_eq!(stats.torn_tails_repaired, torn, "cut at {cut}");
        assert_eq!(
            file_len(&path),
            last,
            "file repaired to the last good record"
        );

        // The repaired WAL accepts appends right after the good data.
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!(wal.stats().torn_tails_repaired, 0, "already repaired");
        let p = wal.append_blocking(payload(99)).unwrap();
        assert_eq!(p, positions[5]);
        wal.shutdown().unwrap();
        assert_eq!(ids(&replay_all(dir.path())), [0, 1, 2, 3, 4, 99]);
    }
}

#[test]
fn open_alone_repairs_the_torn_tail_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let positions = write_records(dir.path(), &WalOptions::default(), 3);
    let seg = segment(dir.path(), 1);
    set_len(&seg, file_len(&seg) - 1);
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(wal.stats().torn_tails_repaired, 1);
    assert_eq!(wal.append_blocking(payload(7)).unwrap(), positions[2]);
    drop(wal);
    assert_eq!(ids(&replay_all(dir.path())), [0, 1, 7]);
}

#[test]
fn flipped_byte_in_last_record_stops_replay_there() {
    let pristine = tempfile::tempdir().unwrap();
    let positions = write_records(pristine.path(), &WalOptions::default(), 4);
    let original = fs::read(segment(pristine.path(), 1)).unwrap();
    let last = positions[3].offset;

    // Every byte of the last frame: length, crc and payload.
    for at in last..original.len() as u64 {
        let dir = tempfile::tempdir().unwrap();
        let path = segment(dir.path(), 1);
        fs::write(&path, &original).unwrap();
        flip_byte(&path, at);
        let (got, stats) =
            replay_from(dir.path(), Position::START, &WalOptions::default()).unwrap();
        assert_eq!(ids(&got), [0, 1, 2], "flip at {at}");
        assert_eq!(stats.torn_tails_repaired, 1);
        assert_eq!(file_len(&path), last);
    }
}

#[test]
fn flipped_byte_mid_last_segment_truncates_from_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let positions = write_records(dir.path(), &WalOptions::default(), 10);
    let path = segment(dir.path(), 1);
    flip_byte(&path, positions[4].offset + 8 + 3); // inside record 4's payload
    let (got, stats) = replay_from(dir.path(), Position::START, &WalOptions::default()).unwrap();
    assert_eq!(ids(&got), [0, 1, 2, 3]);
    assert_eq!(stats.torn_tails_repaired, 1);
    assert_eq!(file_len(&path), positions[4].offset);
}

#[test]
fn zero_filled_tail_is_a_torn_tail_not_records() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), &WalOptions::default(), 2);
    let path = segment(dir.path(), 1);
    let good = file_len(&path);
    set_len(&path, good + 4096); // what a filesystem can leave after power loss
    let (got, stats) = replay_from(dir.path(), Position::START, &WalOptions::default()).unwrap();
    assert_eq!(ids(&got), [0, 1]);
    assert_eq!(stats.torn_tails_repaired, 1);
    assert_eq!(file_len(&path), good);
}

#[test]
fn torn_segment_header_of_last_segment_is_rewritten() {
    for len in [0u64, 1, 10, SEGMENT_HEADER_LEN - 1] {
        let dir = tempfile::tempdir().unwrap();
        write_records(dir.path(), &WalOptions::default(), 3);
        // A crash while segment 2 was being created.
        let header = fs::read(segment(dir.path(), 1)).unwrap()[..len as usize].to_vec();
        fs::write(segment(dir.path(), 2), header).unwrap();
        let (got, stats) =
            replay_from(dir.path(), Position::START, &WalOptions::default()).unwrap();
        assert_eq!(ids(&got), [0, 1, 2], "header len {len}");
        assert_eq!(stats.torn_tails_repaired, 1);
        assert_eq!(file_len(&segment(dir.path(), 2)), SEGMENT_HEADER_LEN);
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        assert_eq!(
            wal.append_blocking(payload(3)).unwrap(),
            Position {
                segment: 2,
                offset: SEGMENT_HEADER_LEN
            }
        );
    }
}

#[test]
fn corruption_in_non_last_segment_is_an_error_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_segments(2048);
    let positions = write_records(dir.path(), &opts, 40);
    assert!(positions.last().unwrap().segment >= 3);
    let victim = positions.iter().find(|p| p.segment == 1).copied().unwrap();
    let second_in_seg1 = positions
        .iter()
        .filter(|p| p.segment == 1)
        .nth(1)
        .copied()
        .unwrap();
    let path = segment(dir.path(), 1);
    flip_byte(&path, second_in_seg1.offset + 8);
    let before = fs::read(&path).unwrap();

    let err = replay_from(dir.path(), Position::START, &WalOptions::default()).unwrap_err();
    match &err {
        WalError::Corrupt {
            path: p,
            offset,
            reason,
        } => {
            assert_eq!(p, &path);
            assert_eq!(*offset, second_in_seg1.offset);
            assert!(reason.contains("crc"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("00000000000000000001.wal")
            && msg.contains(&second_in_seg1.offset.to_string()),
        "{msg}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "non-last segments are never modified"
    );
    // Opening for writing only looks at the last segment, so it works;
    // startup code is expected to replay first (open_and_replay).
    let opened = Wal::open_and_replay(dir.path(), opts.clone(), Position::START, |_, _| {
        Ok::<(), WalError>(())
    });
    assert!(matches!(opened, Err(WalError::Corrupt { .. })));

    // skip_corrupt: the rest of segment 1 is skipped, later segments replay.
    let skip = WalOptions {
        skip_corrupt: true,
        ..opts
    };
    let (got, stats) = replay_from(dir.path(), Position::START, &skip).unwrap();
    assert_eq!(stats.corrupt_segments_skipped, 1);
    let want: Vec<u64> = (0..40u64)
        .filter(|&id| {
            let p = positions[id as usize];
            p == victim || p.segment > 1
        })
        .collect();
    assert_eq!(ids(&got), want);
}

#[test]
fn bad_header_is_corruption_even_in_last_segment() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), &WalOptions::default(), 2);
    let path = segment(dir.path(), 1);
    flip_byte(&path, 0);
    let err = replay_from(dir.path(), Position::START, &WalOptions::default()).unwrap_err();
    assert!(matches!(err, WalError::Corrupt { offset: 0, .. }), "{err}");
    let err = Wal::open(dir.path(), WalOptions::default()).unwrap_err();
    assert!(matches!(err, WalError::Corrupt { .. }), "{err}");

    // With skip_corrupt the writer leaves it alone and starts segment 2.
    let skip = WalOptions {
        skip_corrupt: true,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir.path(), skip.clone()).unwrap();
    let p = wal.append_blocking(payload(5)).unwrap();
    assert_eq!(p.segment, 2);
    drop(wal);
    let (got, _) = replay_from(dir.path(), Position::START, &skip).unwrap();
    assert_eq!(ids(&got), [5]);
}

#[test]
fn renamed_segment_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), &WalOptions::default(), 1);
    fs::rename(segment(dir.path(), 1), segment(dir.path(), 2)).unwrap();
    let err = replay_from(dir.path(), Position::START, &WalOptions::default()).unwrap_err();
    assert!(err.to_string().contains("file name"), "{err}");
}

#[test]
fn missing_segments_are_errors_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_segments(1024);
    let positions = write_records(dir.path(), &opts, 30);
    let last = positions.last().unwrap().segment;
    assert!(last >= 4);
    fs::remove_file(segment(dir.path(), 2)).unwrap();

    let err = replay_from(dir.path(), Position::START, &opts).unwrap_err();
    assert!(
        matches!(err, WalError::MissingSegment { segment: 2, .. }),
        "{err}"
    );
    let skip = WalOptions {
        skip_corrupt: true,
        ..opts.clone()
    };
    let (got, stats) = replay_from(dir.path(), Position::START, &skip).unwrap();
    assert_eq!(stats.missing_segments_skipped, 1);
    assert_eq!(
        got.len(),
        positions.iter().filter(|p| p.segment != 2).count()
    );

    // Asking for a segment older than the oldest present (after segment 1
    // is gone too) is also a hole, but START means "whatever is there".
    fs::remove_file(segment(dir.path(), 1)).unwrap();
    let err = replay_from(dir.path(), Position::segment_start(2), &opts).unwrap_err();
    assert!(
        matches!(err, WalError::MissingSegment { segment: 2, .. }),
        "{err}"
    );
    replay_from(dir.path(), Position::START, &opts).unwrap();
    replay_from(dir.path(), Position::segment_start(3), &opts).unwrap();
}

#[test]
fn stray_files_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), &WalOptions::default(), 2);
    fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    fs::write(dir.path().join("1.wal"), b"junk").unwrap();
    fs::write(dir.path().join("00000000000000000009.wal.tmp"), b"junk").unwrap();
    assert_eq!(ids(&replay_all(dir.path())), [0, 1]);
}

#[test]
fn corrupt_length_never_allocates_beyond_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let positions = write_records(dir.path(), &small_segments(4096), 40);
    assert!(positions.last().unwrap().segment > 1);
    // Claim a 1 GiB record in the first segment: must be a clean error.
    let path = segment(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    let at = positions[1].offset as usize;
    bytes[at..at + 4].copy_from_slice(&(1u32 << 30).to_le_bytes());
    fs::write(&path, bytes).unwrap();
    let err = replay_from(dir.path(), Position::START, &WalOptions::default()).unwrap_err();
    assert!(err.to_string().contains("truncated payload"), "{err}");
}
