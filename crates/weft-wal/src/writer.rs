//! The single writer thread: group commit, rotation, fsync policy, write
//! error recovery (docs/format/wal.md §4–§6).
//!
//! Everything that touches the active segment happens on this thread, so
//! none of it needs locks; callers talk to it only through [`Command`]s.

use std::fs::{self, File, OpenOptions};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::error::{Result, WalError};
use crate::format::{
    encode_frame_into, encode_segment_header, segment_path, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::lock::DirLock;
use crate::options::{FsyncPolicy, WalOptions};
use crate::position::Position;
use crate::replay::{sync_dir, LastSegment};
use crate::stats::Counters;

/// Frames are buffered up to this size before a `pwrite`, so a huge group
/// is a few large syscalls without holding a huge copy in memory.
const WRITE_CHUNK_BYTES: usize = 4 << 20;
/// Stop draining the queue into one group beyond this many bytes, so the
/// first waiters of a very busy stream are not delayed indefinitely.
const GROUP_MAX_BYTES: u64 = 64 << 20;

/// A request to the writer thread.
pub(crate) enum Command {
    Append {
        rec: Bytes,
        done: Completion<Position>,
    },
    Rotate {
        done: Completion<u64>,
    },
    Sync {
        done: Completion<()>,
    },
    Shutdown {
        done: Completion<()>,
    },
    #[cfg(test)]
    Test(TestHook),
}

/// Fault injection for unit tests; processed in queue order.
#[cfg(test)]
pub(crate) enum TestHook {
    /// Block the writer until the paired sender sends or is dropped.
    Pause(std::sync::mpsc::Receiver<()>),
    /// The next `pwrite` writes half its bytes, then fails with ENOSPC.
    FailNextWrite,
    /// The next segment `fdatasync` fails with EIO.
    FailNextSync,
}

/// How a waiter is woken: async callers hold a tokio oneshot, blocking
/// callers a std channel (tokio's `blocking_recv` would panic inside a
/// runtime).
pub(crate) enum Completion<T> {
    Async(oneshot::Sender<Result<T>>),
    Blocking(SyncSender<Result<T>>),
}

impl<T> Completion<T> {
    fn complete(self, result: Result<T>) {
        // A waiter that went away (dropped future) does not care.
        match self {
            Completion::Async(tx) => drop(tx.send(result)),
            Completion::Blocking(tx) => drop(tx.send(result)),
        }
    }
}

/// The segment being appended to.
struct Active {
    number: u64,
    file: File,
    path: PathBuf,
    /// End of the last acknowledged (fully written) record.
    len: u64,
}

/// Records drained from the queue and not yet acknowledged.
#[derive(Default)]
struct Group {
    /// Encoded frames not yet handed to `pwrite`.
    buf: Vec<u8>,
    /// Bytes of this group already written at `active.len..`.
    written: u64,
    waiters: Vec<(Completion<Position>, Position)>,
    /// Backpressure charge to release when the group completes.
    pending: u64,
}

impl Group {
    fn len(&self) -> u64 {
        self.written + self.buf.len() as u64
    }
}

pub(crate) struct Writer {
    dir: PathBuf,
    opts: WalOptions,
    counters: Arc<Counters>,
    /// Dropped (unlocking the directory) before shutdown is acknowledged.
    lock: Option<DirLock>,
    /// `None` only after a failed segment creation (retried on next append).
    active: Option<Active>,
    next_number: u64,
    /// Bytes past `active.len` may be garbage from a failed write and must
    /// be truncated before anything else is written.
    tail_dirty: bool,
    group: Group,
    /// The active segment has written-but-not-fsynced bytes.
    unsynced: bool,
    last_sync: Instant,
    #[cfg(test)]
    fail_next_write: bool,
    #[cfg(test)]
    fail_next_sync: bool,
}

impl Writer {
    /// Takes over the directory after recovery. `last` describes the
    /// highest segment (`None`: empty directory).
    pub(crate) fn new(
        dir: &Path,
        opts: WalOptions,
        counters: Arc<Counters>,
        lock: DirLock,
        last: Option<LastSegment>,
    ) -> Result<Writer> {
        let mut w = Writer {
            dir: dir.to_path_buf(),
            opts,
            counters,
            lock: Some(lock),
            active: None,
            next_number: 1,
            tail_dirty: false,
            group: Group::default(),
            unsynced: false,
            last_sync: Instant::now(),
            #[cfg(test)]
            fail_next_write: false,
            #[cfg(test)]
            fail_next_sync: false,
        };
        match last {
            None => w.open_next_segment()?,
            Some(LastSegment::Unusable { number }) => {
                w.next_number = number + 1;
                w.open_next_segment()?;
            }
            Some(LastSegment::Usable { number, len }) => {
                w.next_number = number + 1;
                w.reopen(number, len)?;
                if len >= w.opts.segment_size_bytes {
                    w.rotate()?;
                }
            }
        }
        Ok(w)
    }

    /// Continues appending to an existing, already-validated segment.
    fn reopen(&mut self, number: u64, len: u64) -> Result<()> {
        let path = segment_path(&self.dir, number);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| WalError::io("reopening segment", &path, e))?;
        debug_assert_eq!(file.metadata().map(|m| m.len()).ok(), Some(len));
        self.counters
            .active_segment
            .store(number, std::sync::atomic::Ordering::Relaxed);
        self.active = Some(Active {
            number,
            file,
            path,
            len,
        });
        // Unknown whether the previous process synced it.
        self.unsynced = true;
        Ok(())
    }

    /// The thread body: one group per loop iteration.
    pub(crate) fn run(mut self, rx: Receiver<Command>) {
        loop {
            let first = match self.next_command(&rx) {
                Ok(Some(cmd)) => cmd,
                Ok(None) => {
                    self.sync_if_due();
                    continue;
                }
                // Every `Wal` handle is gone without a shutdown (Drop sends
                // one, so this is a leak or panic path): still leave data
                // synced.
                Err(()) => {
                    if let Err(e) = self.finish() {
                        tracing::error!(error = %e, "wal: final sync failed");
                    }
                    return;
                }
            };
            if self.handle(first).is_break() {
                return;
            }
            // Group commit: take whatever else is already queued.
            while self.group.len() < GROUP_MAX_BYTES {
                match rx.try_recv() {
                    Ok(cmd) => {
                        if self.handle(cmd).is_break() {
                            return;
                        }
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.commit();
            self.sync_if_due();
        }
    }

    /// `Ok(None)`: the interval-sync deadline passed. `Err`: disconnected.
    fn next_command(&self, rx: &Receiver<Command>) -> std::result::Result<Option<Command>, ()> {
        match self.sync_deadline() {
            Some(deadline) => {
                let timeout = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(timeout) {
                    Ok(cmd) => Ok(Some(cmd)),
                    Err(RecvTimeoutError::Timeout) => Ok(None),
                    Err(RecvTimeoutError::Disconnected) => Err(()),
                }
            }
            None => rx.recv().map(Some).map_err(|_| ()),
        }
    }

    fn handle(&mut self, cmd: Command) -> ControlFlow<()> {
        match cmd {
            Command::Append { rec, done } => self.add(rec, done),
            Command::Rotate { done } => {
                self.commit();
                done.complete(self.rotate());
            }
            Command::Sync { done } => {
                self.commit();
                done.complete(
                    self.repair_tail_if_dirty()
                        .and_then(|()| self.fsync_active()),
                );
            }
            Command::Shutdown { done } => {
                self.commit();
                let result = self.finish();
                done.complete(result);
                return ControlFlow::Break(());
            }
            #[cfg(test)]
            Command::Test(hook) => self.test_hook(hook),
        }
        ControlFlow::Continue(())
    }

    #[cfg(test)]
    fn test_hook(&mut self, hook: TestHook) {
        match hook {
            TestHook::Pause(rx) => {
                self.commit();
                let _ = rx.recv();
            }
            TestHook::FailNextWrite => self.fail_next_write = true,
            TestHook::FailNextSync => self.fail_next_sync = true,
        }
    }

    /// Places one record into the current group.
    fn add(&mut self, rec: Bytes, done: Completion<Position>) {
        let frame_len = FRAME_HEADER_LEN + rec.len() as u64;
        if let Err(e) = self.make_room(frame_len) {
            self.release_pending(frame_len);
            done.complete(Err(e));
            return;
        }
        let Some(active) = self.active.as_ref() else {
            unreachable!("make_room leaves an active segment");
        };
        let pos = Position {
            segment: active.number,
            offset: active.len + self.group.len(),
        };
        debug_assert!(self.group.waiters.last().is_none_or(|(_, p)| *p < pos));
        encode_frame_into(&mut self.group.buf, &rec);
        self.group.waiters.push((done, pos));
        self.group.pending += frame_len;
        if self.group.buf.len() >= WRITE_CHUNK_BYTES {
            if let Err(e) = self.write_chunk() {
                self.fail_group(e);
            }
        }
    }

    /// Ensures there is an active segment that the record may go into,
    /// rotating (after committing what is already grouped) when it would
    /// overflow. A record in an empty segment always fits.
    fn make_room(&mut self, frame_len: u64) -> Result<()> {
        let used = match &self.active {
            None => return self.open_next_segment(),
            Some(a) => a.len + self.group.len(),
        };
        if used > SEGMENT_HEADER_LEN && used + frame_len > self.opts.segment_size_bytes {
            self.commit();
            self.rotate()?;
        }
        Ok(())
    }

    /// Writes, syncs per policy and completes the current group.
    fn commit(&mut self) {
        if self.group.waiters.is_empty() {
            debug_assert!(self.group.buf.is_empty() && self.group.written == 0);
            return;
        }
        match self.write_chunk().and_then(|()| self.sync_for_policy()) {
            Ok(()) => self.ack_group(),
            Err(e) => self.fail_group(e),
        }
        // Do not keep a 128 MiB buffer around because of one big record.
        if self.group.buf.capacity() > 2 * WRITE_CHUNK_BYTES {
            self.group.buf.shrink_to(WRITE_CHUNK_BYTES);
        }
    }

    fn write_chunk(&mut self) -> Result<()> {
        if self.group.buf.is_empty() {
            return Ok(());
        }
        self.repair_tail_if_dirty()?;
        let Some(a) = self.active.as_ref() else {
            unreachable!("a non-empty group always has an active segment");
        };
        let at = a.len + self.group.written;
        #[cfg(test)]
        if std::mem::take(&mut self.fail_next_write) {
            let half = &self.group.buf[..self.group.buf.len() / 2];
            let _ = a.file.write_all_at(half, at);
            let e = std::io::Error::from_raw_os_error(libc::ENOSPC);
            return Err(WalError::io("writing records to", &a.path, e));
        }
        a.file
            .write_all_at(&self.group.buf, at)
            .map_err(|e| WalError::io("writing records to", &a.path, e))?;
        let n = self.group.buf.len() as u64;
        self.group.written += n;
        self.group.buf.clear();
        Counters::add(&self.counters.bytes_written, n);
        Ok(())
    }

    fn sync_for_policy(&mut self) -> Result<()> {
        self.unsynced = true;
        match self.opts.fsync {
            FsyncPolicy::Always => self.fsync_active(),
            // Acked after write(2); `sync_if_due` or closing syncs later.
            FsyncPolicy::Interval { .. } | FsyncPolicy::Never => Ok(()),
        }
    }

    fn ack_group(&mut self) {
        debug_assert!(self.group.buf.is_empty());
        let Some(a) = self.active.as_mut() else {
            unreachable!("a non-empty group always has an active segment");
        };
        let written = self.group.written;
        a.len += written;
        let end = a.len;
        let group = std::mem::take(&mut self.group);
        self.group.buf = group.buf; // keep the allocation
        let c = &self.counters;
        Counters::add(&c.records_written, group.waiters.len() as u64);
        Counters::add(&c.groups_committed, 1);
        Counters::add(&c.disk_bytes, written);
        self.release_pending(group.pending);
        for (done, pos) in group.waiters {
            debug_assert!(pos.offset + FRAME_HEADER_LEN <= end);
            done.complete(Ok(pos));
        }
    }

    /// Fails every waiter of the group and cuts whatever part of it reached
    /// the file, so no garbage sits before later records.
    fn fail_group(&mut self, e: WalError) {
        tracing::error!(error = %e, records = self.group.waiters.len(), "wal: commit group failed");
        Counters::add(&self.counters.io_errors, 1);
        self.tail_dirty = true;
        if let Err(te) = self.repair_tail_if_dirty() {
            tracing::error!(error = %te, "wal: cannot truncate failed write yet; will retry");
        }
        let mut group = std::mem::take(&mut self.group);
        group.buf.clear();
        self.group.buf = group.buf;
        self.release_pending(group.pending);
        for (done, _) in group.waiters {
            done.complete(Err(e.clone()));
        }
    }

    fn repair_tail_if_dirty(&mut self) -> Result<()> {
        if !self.tail_dirty {
            return Ok(());
        }
        if let Some(a) = &self.active {
            a.file
                .set_len(a.len)
                .map_err(|e| WalError::io("truncating a failed write from", &a.path, e))?;
        }
        self.tail_dirty = false;
        Ok(())
    }

    fn release_pending(&self, bytes: u64) {
        Counters::sub(&self.counters.pending_bytes, bytes);
    }

    /// Closes the active segment (synced: closed segments are complete and
    /// durable under every policy) and starts the next. Returns its number.
    fn rotate(&mut self) -> Result<u64> {
        debug_assert!(self.group.waiters.is_empty(), "commit before rotating");
        if self.active.is_some() {
            self.repair_tail_if_dirty()?;
            self.fsync_active()?;
            self.active = None;
        }
        self.open_next_segment()?;
        Ok(self.next_number - 1)
    }

    /// Creates segment `next_number`: header, fdatasync, directory fsync —
    /// all before any record can be acknowledged in it.
    fn open_next_segment(&mut self) -> Result<()> {
        debug_assert!(self.active.is_none());
        let number = self.next_number;
        let path = segment_path(&self.dir, number);
        let file = match self.create_segment(&path, number) {
            Ok(file) => file,
            Err(e) => {
                // Best effort: a leftover is truncated by the retry anyway.
                let _ = fs::remove_file(&path);
                return Err(e);
            }
        };
        self.next_number = number + 1;
        self.active = Some(Active {
            number,
            file,
            path,
            len: SEGMENT_HEADER_LEN,
        });
        self.unsynced = false;
        let c = &self.counters;
        Counters::add(&c.segments, 1);
        Counters::add(&c.disk_bytes, SEGMENT_HEADER_LEN);
        Counters::add(&c.bytes_written, SEGMENT_HEADER_LEN);
        c.active_segment
            .store(number, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(segment = number, "wal: started segment");
        Ok(())
    }

    fn create_segment(&self, path: &Path, number: u64) -> Result<File> {
        // truncate(true): the writer owns the directory and numbers above
        // the last segment can only be leftovers of a failed creation.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| WalError::io("creating segment", path, e))?;
        file.write_all_at(&encode_segment_header(number), 0)
            .map_err(|e| WalError::io("writing header of", path, e))?;
        let t = Instant::now();
        let synced = file.sync_data();
        self.counters.record_fsync(t.elapsed());
        synced.map_err(|e| WalError::io("syncing new segment", path, e))?;
        sync_dir(&self.dir)?;
        Ok(file)
    }

    fn fsync_active(&mut self) -> Result<()> {
        let Some(a) = &self.active else {
            return Ok(());
        };
        #[cfg(test)]
        if std::mem::take(&mut self.fail_next_sync) {
            let e = std::io::Error::from_raw_os_error(libc::EIO);
            return Err(WalError::io("syncing segment", &a.path, e));
        }
        let t = Instant::now();
        let synced = a.file.sync_data();
        self.counters.record_fsync(t.elapsed());
        synced.map_err(|e| WalError::io("syncing segment", &a.path, e))?;
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn sync_deadline(&self) -> Option<Instant> {
        let interval = self.opts.sync_interval()?;
        self.unsynced.then(|| self.last_sync + interval)
    }

    /// The `interval` policy's background sync. Acked data cannot be
    /// un-acked, so a failure is logged, counted and retried next period.
    fn sync_if_due(&mut self) {
        let Some(deadline) = self.sync_deadline() else {
            return;
        };
        if Instant::now() < deadline {
            return;
        }
        if let Err(e) = self.fsync_active() {
            Counters::add(&self.counters.io_errors, 1);
            tracing::error!(error = %e, "wal: periodic fsync failed; acknowledged records may not survive power loss");
            self.last_sync = Instant::now();
        }
    }

    /// Ordered shutdown: sync and close the active segment, then unlock the
    /// directory (before the caller is told, so it can reopen at once).
    fn finish(&mut self) -> Result<()> {
        let result = self
            .repair_tail_if_dirty()
            .and_then(|()| self.fsync_active());
        self.active = None;
        self.lock = None;
        result
    }
}
