//! Exclusive lock on a WAL directory (`<dir>/LOCK`, `flock(2)`).
//!
//! flock locks belong to the open file description, so two `Wal`s in the
//! same process conflict just like two processes do, and the kernel drops
//! the lock when the process dies (no stale lock after `kill -9`).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use crate::error::{Result, WalError};

const LOCK_FILE: &str = "LOCK";

/// Held for as long as the directory is in use; dropping it unlocks.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Locks `dir` (which must exist) without blocking.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| WalError::io("opening lock file", &path, e))?;
        match try_lock_exclusive(&file) {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(WalError::Locked {
                dir: dir.to_path_buf(),
            }),
            Err(e) => Err(WalError::io("locking", &path, e)),
        }
    }
}

#[cfg(unix)]
fn try_lock_exclusive(file: &File) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock only reads the descriptor number, which `file` keeps
    // open for the duration of the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn try_lock_exclusive(_file: &File) -> io::Result<()> {
    // Weft runs on Linux; elsewhere the directory is simply not locked.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_in_same_process_is_refused_until_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, WalError::Locked { .. }), "{err}");
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
