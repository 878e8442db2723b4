//! Configuration.

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Result, WalError};
use crate::format::{FRAME_HEADER_LEN, MAX_RECORD_BYTES_LIMIT, SEGMENT_HEADER_LEN};

const MIB: u64 = 1024 * 1024;

/// When the writer calls `fdatasync`, and therefore what an acknowledged
/// append survives. Config spelling: `always`, `{interval: {millis: 100}}`,
/// `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// `fdatasync` each commit group before acknowledging it. An acked
    /// record survives process crash and power loss. Concurrent appends
    /// share one fsync (group commit).
    #[default]
    Always,
    /// Acknowledge after `write(2)`; the writer `fdatasync`s at most every
    /// `millis` ms while there is unsynced data. Survives `kill -9` (the
    /// page cache outlives the process), loses up to ~`millis` ms of acked
    /// records on power loss.
    Interval {
        /// Period of the background sync, > 0.
        millis: u64,
    },
    /// Acknowledge after `write(2)`; sync only when a segment is closed
    /// (rotation, shutdown) or on `Wal::sync()`. Survives `kill -9` only.
    Never,
}

/// WAL configuration. Deserializable for config files; missing fields take
/// their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WalOptions {
    /// See [`FsyncPolicy`]. Default `always`.
    pub fsync: FsyncPolicy,
    /// Rotate to a new segment once the active one would exceed this size.
    /// Default 128 MiB.
    pub segment_size_bytes: u64,
    /// Bound on bytes (payload + 8 per record) accepted by `append` but not
    /// yet acknowledged; beyond it `append` fails with
    /// [`WalError::Backpressure`]. Default 256 MiB.
    pub max_pending_bytes: u64,
    /// Largest payload `append` accepts (else
    /// [`WalError::RecordTooLarge`]). Default 128 MiB, at most 1 GiB.
    pub max_record_bytes: u64,
    /// Replay: on corruption in a non-last segment (or a missing segment),
    /// log and skip instead of failing. Default false: corruption stops
    /// startup so an operator looks at it.
    pub skip_corrupt: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            fsync: FsyncPolicy::Always,
            segment_size_bytes: 128 * MIB,
            max_pending_bytes: 256 * MIB,
            max_record_bytes: 128 * MIB,
            skip_corrupt: false,
        }
    }
}

impl WalOptions {
    /// Rejects settings the writer cannot honour.
    pub fn validate(&self) -> Result<()> {
        let min_segment = SEGMENT_HEADER_LEN + FRAME_HEADER_LEN;
        if self.segment_size_bytes < min_segment {
            return Err(WalError::InvalidOptions(format!(
                "segment_size_bytes = {} is below the minimum {min_segment}",
                self.segment_size_bytes
            )));
        }
        if self.max_record_bytes > MAX_RECORD_BYTES_LIMIT {
            return Err(WalError::InvalidOptions(format!(
                "max_record_bytes = {} exceeds the format limit {MAX_RECORD_BYTES_LIMIT}",
                self.max_record_bytes
            )));
        }
        if self.max_pending_bytes == 0 {
            return Err(WalError::InvalidOptions(
                "max_pending_bytes must be > 0".into(),
            ));
        }
        if self.fsync == (FsyncPolicy::Interval { millis: 0 }) {
            return Err(WalError::InvalidOptions(
                "fsync interval millis must be > 0 (use `always`)".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn sync_interval(&self) -> Option<Duration> {
        match self.fsync {
            FsyncPolicy::Interval { millis } => Some(Duration::from_millis(millis)),
            FsyncPolicy::Always | FsyncPolicy::Never => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializes_policies_snake_case() {
        let p: FsyncPolicy = serde_json::from_str(r#""always""#).unwrap();
        assert_eq!(p, FsyncPolicy::Always);
        let p: FsyncPolicy = serde_json::from_str(r#""never""#).unwrap();
        assert_eq!(p, FsyncPolicy::Never);
        let p: FsyncPolicy = serde_json::from_str(r#"{"interval":{"millis":50}}"#).unwrap();
        assert_eq!(p, FsyncPolicy::Interval { millis: 50 });
    }

    #[test]
    fn options_defaults_and_partial_config() {
        let o: WalOptions = serde_json::from_str(r#"{"segment_size_bytes": 4096}"#).unwrap();
        assert_eq!(o.segment_size_bytes, 4096);
        assert_eq!(o.fsync, FsyncPolicy::Always);
        assert_eq!(o.max_pending_bytes, 256 * MIB);
        assert_eq!(o.max_record_bytes, 128 * MIB);
        o.validate().unwrap();
    }

    #[test]
    fn validation() {
        let bad = [
            WalOptions {
                segment_size_bytes: 10,
                ..WalOptions::default()
            },
            WalOptions {
                max_record_bytes: MAX_RECORD_BYTES_LIMIT + 1,
                ..WalOptions::default()
            },
            WalOptions {
                max_pending_bytes: 0,
                ..WalOptions::default()
            },
            WalOptions {
                fsync: FsyncPolicy::Interval { millis: 0 },
                ..WalOptions::default()
            },
        ];
        for o in bad {
            let e = o.validate().unwrap_err();
            assert!(matches!(e, WalError::InvalidOptions(_)), "{e}");
            assert!(!e.is_retryable());
        }
    }
}
