//! Unit tests that need the writer's fault-injection hooks. Behaviour seen
//! only through the public API is tested in `tests/`.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::writer::TestHook;
use crate::{FsyncPolicy, Position, Wal, WalError, WalOptions};

fn replay_all(dir: &std::path::Path) -> Vec<(Position, Vec<u8>)> {
    let mut out = Vec::new();
    Wal::replay(dir, Position::START, &WalOptions::default(), |p, b| {
        out.push((p, b.to_vec()));
        Ok::<(), WalError>(())
    })
    .unwrap();
    out
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn backpressure_rejects_beyond_bound_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        max_pending_bytes: 100,
        ..WalOptions::default()
    };
    let wal = Arc::new(Wal::open(dir.path(), opts).unwrap());
    let (release, paused) = mpsc::channel();
    wal.test_hook(TestHook::Pause(paused));

    // Two records of 40 bytes charge 2 * 48 = 96 <= 100 and queue up
    // behind the paused writer.
    let blocked: Vec<_> = (0..2u8)
        .map(|i| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || wal.append_blocking(Bytes::from(vec![i; 40])))
        })
        .collect();
    wait_until("two records pending", || wal.stats().pending_bytes == 96);

    let err = wal.append_blocking(Bytes::from(vec![9; 40])).unwrap_err();
    assert!(
        matches!(
            err,
            WalError::Backpressure {
                pending_bytes: 96,
                limit_bytes: 100
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
    assert_eq!(wal.stats().backpressure_rejections, 1);
    // A tiny record still fits under the bound.
    assert_eq!(wal.stats().pending_bytes, 96);

    release.send(()).unwrap();
    for t in blocked {
        t.join().unwrap().unwrap();
    }
    assert_eq!(wal.stats().pending_bytes, 0);
    wal.append_blocking(Bytes::from(vec![7; 40])).unwrap();
    assert_eq!(wal.stats().pending_bytes, 0);
    wal.shutdown().unwrap();
    assert_eq!(replay_all(dir.path()).len(), 3);
}

#[test]
fn record_larger_than_pending_bound_is_admitted_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        max_pending_bytes: 16,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir.path(), opts).unwrap();
    wal.append_blocking(Bytes::from(vec![1; 1000])).unwrap();
    assert_eq!(wal.stats().backpressure_rejections, 0);
}

#[test]
fn failed_write_fails_whole_group_truncates_and_writer_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(Wal::open(dir.path(), WalOptions::default()).unwrap());
    let good = wal.append_blocking(Bytes::from_static(b"before")).unwrap();

    // Pause, arm the fault, queue three records: they form one group whose
    // write half-succeeds and then fails.
    let (release, paused) = mpsc::channel();
    wal.test_hook(TestHook::Pause(paused));
    wal.test_hook(TestHook::FailNextWrite);
    let group: Vec<_> = (0..3u8)
        .map(|i| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || wal.append_blocking(Bytes::from(vec![i; 100])))
        })
        .collect();
    wait_until("group queued", || wal.stats().pending_bytes == 3 * 108);
    release.send(()).unwrap();
    for t in group {
        let err = t.join().unwrap().unwrap_err();
        assert!(matches!(err, WalError::Io { .. }), "{err}");
        assert!(err.is_retryable());
        let msg = err.to_string();
        assert!(
            msg.contains("writing records to") && msg.contains(".wal"),
            "{msg}"
        );
    }
    assert_eq!(wal.stats().io_errors, 1);
    assert_eq!(wal.stats().pending_bytes, 0);

    // The writer is still alive and the half-written garbage is gone: the
    // next record lands right after the last good one.
    let after = wal.append_blocking(Bytes::from_static(b"after")).unwrap();
    assert_eq!(after.segment, good.segment);
    assert_eq!(after.offset, good.offset + 8 + 6);
    wal.shutdown().unwrap();

    let records = replay_all(dir.path());
    let payloads: Vec<&[u8]> = records.iter().map(|(_, b)| b.as_slice()).collect();
    assert_eq!(payloads, [&b"before"[..], &b"after"[..]]);
}

#[test]
fn failed_fsync_is_not_acknowledged_and_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    wal.append_blocking(Bytes::from_static(b"one")).unwrap();
    wal.test_hook(TestHook::FailNextSync);
    let err = wal.append_blocking(Bytes::from_static(b"two")).unwrap_err();
    assert!(err.to_string().contains("syncing segment"), "{err}");
    wal.append_blocking(Bytes::from_static(b"three")).unwrap();
    wal.shutdown().unwrap();
    let records = replay_all(dir.path());
    let payloads: Vec<&[u8]> = records.iter().map(|(_, b)| b.as_slice()).collect();
    assert_eq!(payloads, [&b"one"[..], &b"three"[..]]);
}

#[test]
fn failed_rotation_sync_keeps_the_segment_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    wal.append_blocking(Bytes::from_static(b"one")).unwrap();
    wal.test_hook(TestHook::FailNextSync);
    assert!(matches!(wal.rotate(), Err(WalError::Io { .. })));
    // Still appending to segment 1, and a retry of the rotation works.
    assert_eq!(
        wal.append_blocking(Bytes::from_static(b"two"))
            .unwrap()
            .segment,
        1
    );
    assert_eq!(wal.rotate().unwrap(), 2);
}

#[test]
fn interval_policy_syncs_in_background() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        fsync: FsyncPolicy::Interval { millis: 20 },
        ..WalOptions::default()
    };
    let wal = Wal::open(dir.path(), opts).unwrap();
    let before = wal.stats().fsyncs;
    wal.append_blocking(Bytes::from_static(b"x")).unwrap();
    // Acked without an fsync...
    assert_eq!(wal.stats().fsyncs, before);
    // ...which follows within the interval.
    wait_until("background fsync", || wal.stats().fsyncs > before);
}

#[test]
fn never_policy_does_not_sync_on_append() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        fsync: FsyncPolicy::Never,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir.path(), opts).unwrap();
    let before = wal.stats().fsyncs;
    for _ in 0..10 {
        wal.append_blocking(Bytes::from_static(b"x")).unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(wal.stats().fsyncs, before);
    wal.sync().unwrap();
    assert_eq!(wal.stats().fsyncs, before + 1);
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A valid segment-1 body (without header) holding `n` records.
fn valid_frames(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    for _ in 0..n {
        let len = rng.below(64) as usize;
        let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        crate::format::encode_frame_into(&mut buf, &payload);
    }
    buf
}

/// The fuzz target's entry point over random and mutated-valid inputs
/// (the real fuzzer explores far more; this keeps the harness honest).
#[test]
fn fuzz_entry_point_survives_random_and_mutated_inputs() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..400u64 {
        let mode = (i % 16) as u8;
        let n = rng.below(8) as usize;
        let mut body = valid_frames(&mut rng, n);
        match i % 4 {
            0 => {
                let len = body.len() as u64;
                body.truncate(rng.below(len + 1) as usize);
            }
            1 if !body.is_empty() => {
                let at = rng.below(body.len() as u64) as usize;
                body[at] ^= 1 << rng.below(8);
            }
            2 => body = (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
            _ => {}
        }
        let mut input = vec![mode];
        input.extend_from_slice(&body);
        crate::fuzzing::replay_segment_bytes(&input);
    }
    crate::fuzzing::replay_segment_bytes(&[]);
    crate::fuzzing::replay_segment_bytes(&[0xFF]);
}

#[test]
fn wal_is_send_sync_and_creates_nested_dirs() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a/b/wal");
    let wal = Wal::open(&dir, WalOptions::default()).unwrap();
    wal.append_blocking(Bytes::from_static(b"x")).unwrap();
    assert!(dir.join("00000000000000000001.wal").is_file());
}
