//! Process-level crash test: a child process appends numbered records with
//! `FsyncPolicy::Always` and prints each acknowledged number; the parent
//! SIGKILLs it at (seeded) random moments, restarts it, and finally checks
//! that every acknowledged number is in the WAL exactly once.
//!
//! The child is this same test binary re-executed with `CHILD_DIR_ENV` set,
//! running only the `crash_child` test.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{id_of, payload, replay_all};
use weft_wal::{FsyncPolicy, Position, Wal, WalError, WalOptions};

const CHILD_DIR_ENV: &str = "WEFT_WAL_CRASH_CHILD_DIR";
/// The child stops by itself after this long, so a lost parent cannot leave
/// it running forever.
const CHILD_MAX_RUNTIME: Duration = Duration::from_secs(20);
const ROUNDS: u64 = 8;
const ROUND_TIMEOUT: Duration = Duration::from_secs(2);

fn child_options() -> WalOptions {
    WalOptions {
        fsync: FsyncPolicy::Always,
        // Small segments so kills also land around rotations.
        segment_size_bytes: 32 * 1024,
        ..WalOptions::default()
    }
}

/// Child entry point; a no-op in a normal test run.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    run_child(Path::new(&dir));
}

fn run_child(dir: &Path) {
    // Continue after the highest number already in the WAL, acknowledged or
    // not, so no number is ever written twice.
    let mut next_id = 0;
    let (wal, replayed) = Wal::open_and_replay(dir, child_options(), Position::START, |_, b| {
        next_id = next_id.max(id_of(b) + 1);
        Ok::<(), WalError>(())
    })
    .expect("child: open_and_replay");
    println!("REPAIRED {}", replayed.torn_tails_repaired);
    let wal = Arc::new(wal);
    let next = Arc::new(AtomicU64::new(next_id));
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (wal, next) = (Arc::clone(&wal), Arc::clone(&next));
                tokio::spawn(async move {
                    while started.elapsed() < CHILD_MAX_RUNTIME {
                        let id = next.fetch_add(1, Ordering::Relaxed);
                        wal.append(payload(id)).await.expect("child: append");
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {id}").unwrap();
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// What the child reports on stdout.
enum Report {
    Ack(u64),
    Repaired(u64),
}

fn spawn_child(dir: &Path) -> (Child, mpsc::Receiver<Report>) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Reads until EOF, i.e. also the acks still in the pipe after the kill.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let report = if let Some(id) = line.strip_prefix("ACK ") {
                Report::Ack(id.parse().unwrap())
            } else if let Some(n) = line.strip_prefix("REPAIRED ") {
                Report::Repaired(n.parse().unwrap())
            } else {
                continue; // libtest chatter
            };
            if tx.send(report).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

#[test]
fn kill_9_never_loses_or_duplicates_acked_records() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED_CAFE_F00D_D00D);
    let mut acked: HashSet<u64> = HashSet::new();
    let mut repairs = 0;
    let mut on_report = |report: Report| match report {
        Report::Ack(id) => assert!(acked.insert(id), "id {id} acknowledged twice"),
        Report::Repaired(n) => repairs += n,
    };

    for round in 0..ROUNDS {
        let (mut child, reports) = spawn_child(dir.path());
        let round_start = Instant::now();
        if round % 3 == 0 {
            // Kill early: during exec, replay, repair or the first appends.
            std::thread::sleep(Duration::from_millis(rng.below(40)));
        } else {
            let target = 20 + rng.below(1500);
            let mut seen = 0;
            while seen < target && round_start.elapsed() < ROUND_TIMEOUT {
                match reports.recv_timeout(Duration::from_millis(50)) {
                    Ok(report) => {
                        seen += u64::from(matches!(report, Report::Ack(_)));
                        on_report(report);
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child exited on its own in round {round}: {status}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reports.iter().for_each(&mut on_report);
    }
    assert!(
        acked.len() >= 50,
        "test too weak: only {} acks",
        acked.len()
    );

    let mut present = HashSet::new();
    for (_, bytes) in replay_all(dir.path()) {
        let id = id_of(bytes.as_slice());
        assert!(present.insert(id), "record {id} replayed twice");
    }
    eprintln!(
        "kill -9 test: {ROUNDS} kills, {repairs} torn tails repaired, {} acked, {} present \
         (unacked but durable: {})",
        acked.len(),
        present.len(),
        present.difference(&acked).count()
    );
    let mut lost: Vec<u64> = acked.difference(&present).copied().collect();
    lost.sort_unstable();
    assert!(lost.is_empty(), "acknowledged records lost: {lost:?}");
    // The WAL is healthy: it opens and takes appends after all the kills.
    let wal = Wal::open(dir.path(), child_options()).unwrap();
    wal.append_blocking(payload(u64::MAX / 2)).unwrap();
}
