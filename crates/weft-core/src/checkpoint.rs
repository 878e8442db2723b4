//! A store's WAL checkpoint file: `{"wal_segment": N}`, the first WAL segment whose records
//! are not yet all in the store's blocks. Written atomically (temp file, fsync, rename,
//! fsync of the directory), so a crash leaves the old or the new checkpoint, never a torn one.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file name inside a store's root directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.json";

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    wal_segment: u64,
}

/// Why the checkpoint could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid checkpoint: {reason}")]
    Invalid { path: String, reason: String },
}

/// Reads the checkpoint under `root`; a missing file means segment 0 (a new store).
pub fn read(root: &Path) -> Result<u64, CheckpointError> {
    let path = root.join(CHECKPOINT_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(CheckpointError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let checkpoint: Checkpoint =
        serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Invalid {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok(checkpoint.wal_segment)
}

/// Durably replaces the checkpoint under `root`.
pub fn write(root: &Path, wal_segment: u64) -> std::io::Result<()> {
    let path = root.join(CHECKPOINT_FILE);
    let tmp = root.join(format!("{CHECKPOINT_FILE}.tmp"));
    let body = serde_json::to_vec(&Checkpoint { wal_segment }).map_err(std::io::Error::other)?;
    let mut file = fs::File::create(&tmp)?;
    file.write_all(&body)?;
    file.sync_all()?;
    fs::rename(&tmp, &path)?;
    fs::File::open(root)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_missing_and_invalid() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), 0);
        write(dir.path(), 42).unwrap();
        assert_eq!(read(dir.path()).unwrap(), 42);
        fs::write(dir.path().join(CHECKPOINT_FILE), b"{").unwrap();
        let err = read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a valid checkpoint"), "{err}");
    }
}
