//! Append → replay round trips, positions, concurrency, locking, reopen.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use common::{id_of, payload, replay_all, replay_from, small_segments};
use weft_wal::{FsyncPolicy, Position, Wal, WalError, WalOptions};

#[test]
fn round_trip_many_records_with_increasing_positions() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        fsync: FsyncPolicy::Never,
        ..small_segments(16 * 1024)
    };
    let wal = Wal::open(dir.path(), opts).unwrap();
    let mut acked = Vec::new();
    for id in 0..3000 {
        acked.push((wal.append_blocking(payload(id)).unwrap(), id));
    }
    assert!(
        acked.windows(2).all(|w| w[0].0 < w[1].0),
        "positions increase"
    );
    assert!(
        acked.last().unwrap().0.segment > 5,
        "small segments rotated"
    );
    let stats = wal.stats();
    assert_eq!(stats.records_written, 3000);
    assert_eq!(stats.segments, acked.last().unwrap().0.segment);
    wal.shutdown().unwrap();

    let replayed = replay_all(dir.path());
    let replayed: Vec<(Position, u64)> = replayed.iter().map(|(p, b)| (*p, id_of(b))).collect();
    assert_eq!(replayed, acked);
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".wal"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(stats.disk_bytes, on_disk);
}

#[test]
fn replay_from_segment_or_position_skips_earlier_records() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small_segments(4096)).unwrap();
    let acked: Vec<(Position, u64)> = (0..200)
        .map(|id| (wal.append_blocking(payload(id)).unwrap(), id))
        .collect();
    wal.shutdown().unwrap();

    let from_segment = 3;
    let (got, stats) = replay_from(
        dir.path(),
        Position::segment_start(from_segment),
        &WalOptions::default(),
    )
    .unwrap();
    let want: Vec<_> = acked
        .iter()
        .filter(|(p, _)| p.segment >= from_segment)
        .collect();
    assert_eq!(got.len(), want.len());
    assert!(got
        .iter()
        .zip(&want)
        .all(|((p, b), (wp, wid))| p == wp && id_of(b) == *wid));
    assert_eq!(stats.records, want.len() as u64);
    assert_eq!(stats.last_position, Some(acked.last().unwrap().0));

    // From an exact record position: that record and everything after.
    let (mid, _) = acked[77];
    let (got, _) = replay_from(dir.path(), mid, &WalOptions::default()).unwrap();
    assert_eq!(id_of(&got[0].1), 77);
    assert_eq!(got.len(), 200 - 77);
    // "After" a record: offset + 1.
    let after = Position {
        offset: mid.offset + 1,
        ..mid
    };
    let (got, _) = replay_from(dir.path(), after, &WalOptions::default()).unwrap();
    assert_eq!(id_of(&got[0].1), 78);
    // Past the end: nothing, not an error.
    let (got, _) = replay_from(
        dir.path(),
        Position::segment_start(1000),
        &WalOptions::default(),
    )
    .unwrap();
    assert!(got.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_32_tasks_x_500_replay_exactly_the_acked_set() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), small_segments(1 << 20)).unwrap());
    let tasks: Vec<_> = (0..32u64)
        .map(|task| {
            let wal = Arc::clone(&wal);
            tokio::spawn(async move {
                let mut acked = Vec::with_capacity(500);
                for i in 0..500u64 {
                    let id = task * 1_000_000 + i;
                    acked.push((wal.append(payload(id)).await.unwrap(), id));
                }
                acked
            })
        })
        .collect();
    let mut acked: HashMap<u64, Position> = HashMap::new();
    for t in tasks {
        for (pos, id) in t.await.unwrap() {
            assert!(acked.insert(id, pos).is_none());
        }
    }
    assert_eq!(acked.len(), 16_000);
    let stats = wal.stats();
    assert_eq!(stats.records_written, 16_000);
    assert!(
        stats.groups_committed < stats.records_written,
        "group commit batched nothing: {stats:?}"
    );
    assert!(stats.fsyncs >= 1 && stats.fsync_time > std::time::Duration::ZERO);
    wal.close().await.unwrap();

    let replayed = replay_all(dir.path());
    assert_eq!(replayed.len(), acked.len(), "no loss, no duplicates");
    assert!(replayed.windows(2).all(|w| w[0].0 < w[1].0));
    for (pos, bytes) in &replayed {
        let id = id_of(bytes);
        assert_eq!(
            acked.get(&id),
            Some(pos),
            "record {id} at the acked position"
        );
    }
}

#[test]
fn reopen_continues_in_last_segment_after_previous_positions() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        let p = wal.append_blocking(payload(1)).unwrap();
        wal.shutdown().unwrap();
        p
    };
    let (wal, stats) = Wal::open_and_replay(
        dir.path(),
        WalOptions::default(),
        Position::START,
        |_, b| {
            assert_eq!(id_of(b), 1);
            Ok::<(), WalError>(())
        },
    )
    .unwrap();
    assert_eq!(stats.records, 1);
    let second = wal.append_blocking(payload(2)).unwrap();
    assert_eq!(second.segment, first.segment);
    assert!(second > first);
    assert_eq!(wal.stats().segments, 1);
    drop(wal); // Drop shuts down too.
    let ids: Vec<u64> = replay_all(dir.path())
        .iter()
        .map(|(_, b)| id_of(b))
        .collect();
    assert_eq!(ids, [1, 2]);
}

#[test]
fn reopen_of_full_last_segment_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_segments(64);
    {
        let wal = Wal::open(dir.path(), opts.clone()).unwrap();
        assert_eq!(
            wal.append_blocking(Bytes::from(vec![0; 100]))
                .unwrap()
                .segment,
            1
        );
    }
    let wal = Wal::open(dir.path(), opts).unwrap();
    assert_eq!(wal.stats().active_segment, 2);
    assert_eq!(
        wal.append_blocking(Bytes::from_static(b"x"))
            .unwrap()
            .segment,
        2
    );
}

#[test]
fn directory_is_locked_while_open_and_released_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    let err = Wal::open(dir.path(), WalOptions::default()).unwrap_err();
    assert!(matches!(err, WalError::Locked { .. }), "{err}");
    assert!(!err.is_retryable());
    let err = replay_from(dir.path(), Position::START, &WalOptions::default()).unwrap_err();
    assert!(matches!(err, WalError::Locked { .. }), "{err}");
    wal.shutdown().unwrap();
    Wal::open(dir.path(), WalOptions::default()).unwrap();
}

#[tokio::test]
async fn close_is_ordered_idempotent_and_later_appends_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        dir.path(),
        WalOptions {
            fsync: FsyncPolicy::Never,
            ..WalOptions::default()
        },
    )
    .unwrap();
    let p = wal.append(payload(5)).await.unwrap();
    wal.close().await.unwrap();
    wal.close().await.unwrap();
    wal.shutdown().unwrap();
    let err = wal.append(payload(6)).await.unwrap_err();
    assert!(matches!(err, WalError::Closed));
    assert!(matches!(wal.rotate(), Err(WalError::Closed)));
    // The lock is released by the time close() returns.
    let again = Wal::open(dir.path(), WalOptions::default()).unwrap();
    drop(again);
    assert_eq!(replay_all(dir.path()), vec![(p, payload(5).to_vec())]);
}

#[test]
fn callback_error_stops_replay_and_is_returned() {
    #[derive(Debug)]
    enum StoreError {
        Wal(WalError),
        Decode(u64),
    }
    impl From<WalError> for StoreError {
        fn from(e: WalError) -> Self {
            StoreError::Wal(e)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        for id in 0..10 {
            wal.append_blocking(payload(id)).unwrap();
        }
    }
    let mut seen = 0;
    let err = Wal::replay(
        dir.path(),
        Position::START,
        &WalOptions::default(),
        |_, b| {
            seen += 1;
            match id_of(b) {
                4 => Err(StoreError::Decode(4)),
                _ => Ok(()),
            }
        },
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Decode(4)));
    assert_eq!(seen, 5);
    // A missing directory replays nothing.
    let none = dir.path().join("nope");
    let (got, _) = replay_from(&none, Position::START, &WalOptions::default()).unwrap();
    assert!(got.is_empty());
    // WAL errors arrive through the caller's error type.
    let _open = Wal::open(dir.path(), WalOptions::default()).unwrap();
    let err = Wal::replay(
        dir.path(),
        Position::START,
        &WalOptions::default(),
        |_, _| Ok::<(), StoreError>(()),
    )
    .unwrap_err();
    match err {
        StoreError::Wal(e) => assert!(matches!(e, WalError::Locked { .. }), "{e}"),
        StoreError::Decode(_) => panic!("wrong error"),
    }
}

#[test]
fn empty_records_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    let a = wal.append_blocking(Bytes::new()).unwrap();
    let b = wal.append_blocking(Bytes::new()).unwrap();
    assert_eq!(b.offset, a.offset + 8);
    wal.shutdown().unwrap();
    assert_eq!(replay_all(dir.path()), vec![(a, vec![]), (b, vec![])]);
}
