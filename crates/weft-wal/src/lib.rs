//! weft-wal: the write-ahead log shared by Weft's signal stores.
//!
//! # Data flow
//!
//! * **In:** opaque records (`Bytes`) from any number of tasks via
//!   [`Wal::append`] (async) or [`Wal::append_blocking`]. The caller encodes
//!   signal type, tenant and data; the WAL never looks inside.
//! * **Through:** size check ([`WalError::RecordTooLarge`]) and the
//!   backpressure bound ([`WalError::Backpressure`]) on the caller's thread,
//!   then a channel to ONE writer OS thread. The writer drains everything
//!   queued into a commit group, frames it (`[len][crc][payload]`), writes it
//!   with as few `pwrite`s as possible, syncs per [`FsyncPolicy`], and then
//!   wakes all the group's waiters with their [`Position`]s.
//! * **Durable when:** the append returns `Ok`. With [`FsyncPolicy::Always`]
//!   (default) the record has been `fdatasync`ed: it survives power loss.
//!   With `Interval`/`Never` it has been written to the page cache: it
//!   survives `kill -9` but not power loss until the next sync.
//!   Segments are rotated at `segment_size_bytes`; a closed segment is always
//!   synced. An `Err` means the record was not acknowledged (it may still
//!   surface on replay after a failed fsync: replay is at-least-once).
//! * **Out:** [`Wal::replay`] / [`Wal::open_and_replay`] hand every valid
//!   record, in position order, to a callback, repairing a torn tail of the
//!   last segment (crash mid-write) and refusing (or, with `skip_corrupt`,
//!   skipping) corruption anywhere else.
//!
//! # Lifecycle (the clean open order)
//!
//! Startup is *replay, then write*; both need exclusive use of the
//! directory, which is enforced with a `flock`ed `LOCK` file:
//!
//! ```no_run
//! # async fn f() -> Result<(), weft_wal::WalError> {
//! use weft_wal::{Position, Wal, WalOptions};
//! let checkpoint = Position::segment_start(1); // from the store's checkpoint
//! let (wal, _replayed) = Wal::open_and_replay("/data/wal", WalOptions::default(), checkpoint,
//!     |pos, payload| { /* apply to the store */ Ok::<(), weft_wal::WalError>(()) })?;
//! let pos = wal.append(bytes::Bytes::from_static(b"record")).await?;
//! // checkpoint: n = wal.rotate()?; persist store; wal.remove_segments_before(n)?;
//! wal.close().await?;
//! # Ok(()) }
//! ```
//!
//! [`Wal::open`] alone also recovers the last segment (it is what
//! `open_and_replay` does after replaying), so `Wal::replay(..)` followed by
//! `Wal::open(..)` is equivalent, with a window in between where another
//! process could take the lock. The on-disk format is specified in
//! `docs/format/wal.md`.

#![deny(missing_docs)]

mod error;
mod format;
mod lock;
mod options;
mod position;
mod replay;
mod stats;
mod writer;

#[doc(hidden)]
pub mod fuzzing;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;

pub use error::{Result, WalError};
pub use format::{segment_file_name, FRAME_HEADER_LEN, MAX_RECORD_BYTES_LIMIT, SEGMENT_HEADER_LEN};
pub use options::{FsyncPolicy, WalOptions};
pub use position::Position;
pub use replay::ReplayStats;
pub use stats::WalStats;

use format::{list_segments, segment_path};
use lock::DirLock;
use replay::{replay_dir, sync_dir, LastSegment};
use stats::Counters;
use writer::{Command, Completion, Writer};

/// An open write-ahead log. `Send + Sync`; share it with `Arc<Wal>`.
///
/// Dropping it performs the same ordered shutdown as [`Wal::shutdown`]
/// (blocking); prefer calling [`Wal::close`] / [`Wal::shutdown`] to see
/// the result.
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    tx: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    writer: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    /// Serialises `remove_segments_before` so the gauges stay exact.
    removal: Mutex<()>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("opts", &self.opts)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir` for appending: locks the
    /// directory, repairs a torn tail of the last segment, and starts the
    /// writer thread, which continues in the last segment (or creates
    /// segment 1 in an empty directory).
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<Wal> {
        let dir = dir.as_ref();
        let lock = prepare_dir(dir, &opts)?;
        let (last, stats) = recover_last_segment(dir, &opts)?;
        Wal::start(dir, opts, lock, last, stats.torn_tails_repaired)
    }

    /// Replays `dir` from `from` into `f` (see [`Wal::replay`]), then opens it
    /// for appending without releasing the directory lock in between.
    /// The callback's error type absorbs WAL errors (`E: From<WalError>`).
    pub fn open_and_replay<E, F>(
        dir: impl AsRef<Path>,
        opts: WalOptions,
        from: Position,
        f: F,
    ) -> Result<(Wal, ReplayStats), E>
    where
        E: From<WalError>,
        F: FnMut(Position, &[u8]) -> Result<(), E>,
    {
        let dir = dir.as_ref();
        let lock = prepare_dir(dir, &opts)?;
        let out = replay_dir(dir, from, opts.skip_corrupt, f)?;
        let mut stats = out.stats;
        let last = match out.last {
            Some(last) => Some(last),
            // `from` was past the last segment: it still needs recovery.
            None => {
                let (last, extra) = recover_last_segment(dir, &opts)?;
                stats.torn_tails_repaired += extra.torn_tails_repaired;
                last
            }
        };
        let wal = Wal::start(dir, opts, lock, last, stats.torn_tails_repaired)?;
        Ok((wal, stats))
    }

    /// Calls `f(position, payload)` for every valid record at a position
    /// `>= from`, in order, without opening the WAL for writing.
    ///
    /// * A torn tail of the **last** segment (short frame, short payload,
    ///   CRC mismatch, short header) ends replay there; the file is
    ///   truncated to the last good record and the repair is counted.
    /// * Corruption in any **other** segment, or a missing segment, fails
    ///   with [`WalError::Corrupt`] / [`WalError::MissingSegment`] naming
    ///   file and offset, unless `opts.skip_corrupt` (log, skip the rest
    ///   of that segment, continue).
    /// * An `Err` from `f` stops replay and is returned as is.
    /// * A missing `dir` replays nothing. Fails with [`WalError::Locked`] if
    ///   a `Wal` has the directory open. Never panics on any file content.
    pub fn replay<E, F>(
        dir: impl AsRef<Path>,
        from: Position,
        opts: &WalOptions,
        f: F,
    ) -> Result<ReplayStats, E>
    where
        E: From<WalError>,
        F: FnMut(Position, &[u8]) -> Result<(), E>,
    {
        let dir = dir.as_ref();
        match dir.try_exists() {
            Ok(true) => {}
            Ok(false) => return Ok(ReplayStats::default()),
            Err(e) => return Err(WalError::io("checking", dir, e).into()),
        }
        let _lock = DirLock::acquire(dir)?;
        Ok(replay_dir(dir, from, opts.skip_corrupt, f)?.stats)
    }

    fn start(
        dir: &Path,
        opts: WalOptions,
        lock: DirLock,
        last: Option<LastSegment>,
        torn_tails_repaired: u64,
    ) -> Result<Wal> {
        let counters = Arc::new(Counters::default());
        Counters::add(&counters.torn_tails_repaired, torn_tails_repaired);
        count_existing_segments(dir, &counters)?;
        let writer = Writer::new(dir, opts.clone(), Arc::clone(&counters), lock, last)?;
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("weft-wal-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| WalError::io("spawning the writer thread for", dir, e))?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            opts,
            tx,
            counters,
            writer: Mutex::new(Some(handle)),
            closed: AtomicBool::new(false),
            removal: Mutex::new(()),
        })
    }

    /// Appends one record and resolves once it is durable per the fsync
    /// policy, with its position. Fails immediately (nothing queued) with
    /// `RecordTooLarge`, `Backpressure` or `Closed`; fails with `Io` if the
    /// group's write or sync failed. If the future is dropped after it was
    /// first polled, the record may still be written.
    pub async fn append(&self, rec: Bytes) -> Result<Position> {
        let (tx, rx) = oneshot::channel();
        self.submit(rec, Completion::Async(tx))?;
        rx.await.unwrap_or(Err(WalError::Closed))
    }

    /// [`Wal::append`] for synchronous callers: blocks the calling thread
    /// until the record is durable per the policy.
    pub fn append_blocking(&self, rec: Bytes) -> Result<Position> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(rec, Completion::Blocking(tx))?;
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    fn submit(&self, rec: Bytes, done: Completion<Position>) -> Result<()> {
        let size = rec.len() as u64;
        if size > self.opts.max_record_bytes {
            return Err(WalError::RecordTooLarge {
                size,
                limit: self.opts.max_record_bytes,
            });
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(WalError::Closed);
        }
        let charge = FRAME_HEADER_LEN + size;
        self.reserve_pending(charge)?;
        if self.tx.send(Command::Append { rec, done }).is_err() {
            Counters::sub(&self.counters.pending_bytes, charge);
            return Err(WalError::Closed);
        }
        Ok(())
    }

    /// Charges `bytes` against `max_pending_bytes`. A record is always
    /// admitted when nothing is pending, so even a record larger than the
    /// bound can make progress.
    fn reserve_pending(&self, bytes: u64) -> Result<()> {
        let limit = self.opts.max_pending_bytes;
        let pending = &self.counters.pending_bytes;
        let mut current = pending.load(Ordering::Relaxed);
        loop {
            if current != 0 && current.saturating_add(bytes) > limit {
                Counters::add(&self.counters.backpressure_rejections, 1);
                return Err(WalError::Backpressure {
                    pending_bytes: current,
                    limit_bytes: limit,
                });
            }
            match pending.compare_exchange_weak(
                current,
                current + bytes,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// Closes the active segment (after committing everything queued before
    /// this call, and syncing it) and starts a new one; returns the new
    /// segment's number `n`. Records acknowledged before `rotate` was called
    /// are in segments `< n`; records appended after it returns are in
    /// segments `>= n`; concurrent appends may land on either side.
    /// Blocks the calling thread (a few fsyncs).
    pub fn rotate(&self) -> Result<u64> {
        self.request(|done| Command::Rotate { done })
    }

    /// `fdatasync`s the active segment under any policy. When it returns
    /// `Ok`, every record acknowledged before the call is durable. Blocks.
    pub fn sync(&self) -> Result<()> {
        self.request(|done| Command::Sync { done })
    }

    /// Deletes every segment numbered strictly below `segment`, never the
    /// active one, oldest first (so the remaining set stays contiguous),
    /// then fsyncs the directory. Returns how many were deleted. Call only
    /// after a checkpoint covering those segments is durable.
    pub fn remove_segments_before(&self, segment: u64) -> Result<u64> {
        let _serial = self.removal.lock();
        // The writer only ever increases this, and only after the new
        // segment exists, so everything below it is closed.
        let active = self.counters.active_segment.load(Ordering::Relaxed);
        let bound = segment.min(active);
        let segments = list_segments(&self.dir)
            .map_err(|e| WalError::io("listing segments in", &self.dir, e))?;
        let mut removed = 0;
        for n in segments.into_iter().take_while(|&n| n < bound) {
            let path = segment_path(&self.dir, n);
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(WalError::io("removing segment", &path, e)),
            }
            Counters::sub(&self.counters.disk_bytes, size);
            Counters::sub(&self.counters.segments, 1);
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Snapshot of the self-monitoring counters.
    pub fn stats(&self) -> WalStats {
        self.counters.snapshot()
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the WAL was opened with.
    pub fn options(&self) -> &WalOptions {
        &self.opts
    }

    /// Ordered shutdown from async code: commits and fsyncs everything
    /// queued before the call, closes the segment, stops the writer and
    /// releases the directory lock. Later appends fail with `Closed`.
    /// Idempotent.
    pub async fn close(&self) -> Result<()> {
        let Some(handle) = self.begin_close() else {
            return Ok(());
        };
        let (tx, rx) = oneshot::channel();
        let result = match self.tx.send(Command::Shutdown {
            done: Completion::Async(tx),
        }) {
            Ok(()) => rx.await.unwrap_or(Err(WalError::Closed)),
            Err(_) => Err(WalError::Closed),
        };
        // The writer has released the lock before answering and exits right
        // after; joining would block this async task for no gain.
        drop(handle);
        result
    }

    /// [`Wal::close`] for synchronous callers; also joins the writer thread.
    pub fn shutdown(&self) -> Result<()> {
        let Some(handle) = self.begin_close() else {
            return Ok(());
        };
        let result = self.request(|done| Command::Shutdown { done });
        if handle.join().is_err() {
            return Err(WalError::Closed);
        }
        result
    }

    fn begin_close(&self) -> Option<JoinHandle<()>> {
        self.closed.store(true, Ordering::Release);
        self.writer.lock().take()
    }

    /// Sends a control command and blocks for its answer.
    fn request<T>(&self, make: impl FnOnce(Completion<T>) -> Command) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.tx
            .send(make(Completion::Blocking(tx)))
            .map_err(|_| WalError::Closed)?;
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    #[cfg(test)]
    pub(crate) fn test_hook(&self, hook: writer::TestHook) {
        self.tx.send(Command::Test(hook)).expect("writer alive");
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(dir = %self.dir.display(), error = %e, "wal: shutdown on drop failed");
        }
    }
}

/// Validates options, creates and locks the directory.
fn prepare_dir(dir: &Path, opts: &WalOptions) -> Result<DirLock> {
    opts.validate()?;
    create_dir_durably(dir)?;
    DirLock::acquire(dir)
}

/// `create_dir_all`, plus an fsync of the parent of every directory it
/// created: otherwise a power loss could take the whole fresh WAL
/// directory, acknowledged records included, with it.
fn create_dir_durably(dir: &Path) -> Result<()> {
    let mut created = Vec::new();
    let mut probe = Some(dir);
    while let Some(d) = probe {
        if d.as_os_str().is_empty() || d.is_dir() {
            break;
        }
        created.push(d);
        probe = d.parent();
    }
    std::fs::create_dir_all(dir).map_err(|e| WalError::io("creating directory", dir, e))?;
    for d in created.iter().rev() {
        match d.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent)?,
            _ => sync_dir(Path::new("."))?,
        }
    }
    Ok(())
}

/// Scans (and repairs) only the last segment, to find where to append.
fn recover_last_segment(
    dir: &Path,
    opts: &WalOptions,
) -> Result<(Option<LastSegment>, ReplayStats)> {
    let segments = list_segments(dir).map_err(|e| WalError::io("listing segments in", dir, e))?;
    let Some(&last) = segments.last() else {
        return Ok((None, ReplayStats::default()));
    };
    let from = Position::segment_start(last);
    let out = replay_dir::<WalError, _>(dir, from, opts.skip_corrupt, |_, _| Ok(()))?;
    Ok((out.last, out.stats))
}

/// Initialises the on-disk gauges from what is in the directory.
fn count_existing_segments(dir: &Path, counters: &Counters) -> Result<()> {
    let segments = list_segments(dir).map_err(|e| WalError::io("listing segments in", dir, e))?;
    for n in segments {
        let path = segment_path(dir, n);
        let len = std::fs::metadata(&path)
            .map_err(|e| WalError::io("reading metadata of", &path, e))?
            .len();
        Counters::add(&counters.disk_bytes, len);
        Counters::add(&counters.segments, 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
