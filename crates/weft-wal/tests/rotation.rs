//! Rotation, checkpoint-style segment removal, size limits.

mod common;

use bytes::Bytes;
use common::{id_of, payload, replay_all, replay_from, segment, small_segments};
use weft_wal::{Position, Wal, WalError, WalOptions, SEGMENT_HEADER_LEN};

#[test]
fn size_based_rotation_keeps_segments_within_bound() {
    let dir = tempfile::tempdir().unwrap();
    let size = 2048;
    let wal = Wal::open(dir.path(), small_segments(size)).unwrap();
    let positions: Vec<Position> = (0..300)
        .map(|id| wal.append_blocking(payload(id)).unwrap())
        .collect();
    let last = positions.last().unwrap().segment;
    assert!(last > 10);
    assert_eq!(wal.stats().segments, last);
    wal.shutdown().unwrap();
    for n in 1..=last {
        let len = std::fs::metadata(segment(dir.path(), n)).unwrap().len();
        assert!(len <= size, "segment {n} is {len} bytes");
        assert!(len > SEGMENT_HEADER_LEN, "segment {n} holds records");
    }
    // Every segment's first record sits right after the header.
    for w in positions.windows(2) {
        if w[1].segment != w[0].segment {
            assert_eq!(w[1].segment, w[0].segment + 1);
            assert_eq!(w[1].offset, SEGMENT_HEADER_LEN);
        }
    }
    assert_eq!(replay_all(dir.path()).len(), 300);
}

#[test]
fn record_larger_than_segment_gets_its_own_segment() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_segments(1024)).unwrap();
    let a = wal.append_blocking(Bytes::from(vec![1; 10])).unwrap();
    let big = wal.append_blocking(Bytes::from(vec![2; 5000])).unwrap();
    let c = wal.append_blocking(Bytes::from(vec![3; 10])).unwrap();
    assert_eq!((a.segment, big.segment, c.segment), (1, 2, 3));
    assert_eq!(big.offset, SEGMENT_HEADER_LEN);
    wal.shutdown().unwrap();
    let got = replay_all(dir.path());
    assert_eq!(got[1].1.len(), 5000);
}

#[test]
fn rotate_splits_before_and_after_and_remove_deletes_older_segments() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    let before: Vec<Position> = (0..10)
        .map(|id| wal.append_blocking(payload(id)).unwrap())
        .collect();
    let n = wal.rotate().unwrap();
    assert_eq!(n, 2);
    assert!(before.iter().all(|p| p.segment < n));
    let after: Vec<Position> = (10..20)
        .map(|id| wal.append_blocking(payload(id)).unwrap())
        .collect();
    assert!(after.iter().all(|p| p.segment >= n));
    assert_eq!(wal.rotate().unwrap(), 3);
    assert_eq!(wal.rotate().unwrap(), 4); // rotating an empty segment is fine
    assert_eq!(wal.stats().segments, 4);

    // Checkpoint at n: drop everything below it.
    let disk_before = wal.stats().disk_bytes;
    let seg1_len = std::fs::metadata(segment(dir.path(), 1)).unwrap().len();
    assert_eq!(wal.remove_segments_before(n).unwrap(), 1);
    assert!(!segment(dir.path(), 1).exists());
    assert_eq!(wal.stats().segments, 3);
    assert_eq!(wal.stats().disk_bytes, disk_before - seg1_len);
    assert_eq!(wal.remove_segments_before(n).unwrap(), 0, "idempotent");

    // Never the active segment, whatever the argument.
    assert_eq!(wal.remove_segments_before(u64::MAX).unwrap(), 2);
    assert!(segment(dir.path(), 4).exists());
    assert_eq!(wal.stats().segments, 1);
    let p = wal.append_blocking(payload(99)).unwrap();
    assert_eq!(p.segment, 4);
    wal.shutdown().unwrap();

    let got = replay_all(dir.path());
    assert_eq!(got.iter().map(|(_, b)| id_of(b)).collect::<Vec<_>>(), [99]);
    replay_from(
        dir.path(),
        Position::segment_start(4),
        &WalOptions::default(),
    )
    .unwrap();
}

#[test]
fn checkpoint_then_restart_replays_only_after_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = {
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        for id in 0..5 {
            wal.append_blocking(payload(id)).unwrap();
        }
        let n = wal.rotate().unwrap();
        wal.remove_segments_before(n).unwrap();
        for id in 5..8 {
            wal.append_blocking(payload(id)).unwrap();
        }
        n
    };
    let mut ids = Vec::new();
    let (wal, stats) = Wal::open_and_replay(
        dir.path(),
        WalOptions::default(),
        Position::segment_start(checkpoint),
        |_, b| {
            ids.push(id_of(b));
            Ok::<(), WalError>(())
        },
    )
    .unwrap();
    assert_eq!(ids, [5, 6, 7]);
    assert_eq!(stats.segments_read, 1);
    assert_eq!(wal.stats().segments, 1);
}

#[test]
fn record_too_large_is_permanent_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        max_record_bytes: 100,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir.path(), opts).unwrap();
    let err = wal.append_blocking(Bytes::from(vec![0; 101])).unwrap_err();
    assert!(
        matches!(
            err,
            WalError::RecordTooLarge {
                size: 101,
                limit: 100
            }
        ),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("101"), "{err}");
    wal.append_blocking(Bytes::from(vec![0; 100])).unwrap();
    let stats = wal.stats();
    assert_eq!(stats.records_written, 1);
    assert_eq!(stats.pending_bytes, 0);
    wal.shutdown().unwrap();
    assert_eq!(replay_all(dir.path()).len(), 1);
}

#[test]
fn invalid_options_are_rejected_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let err = Wal::open(dir.path(), small_segments(3)).unwrap_err();
    assert!(matches!(err, WalError::InvalidOptions(_)), "{err}");
}
