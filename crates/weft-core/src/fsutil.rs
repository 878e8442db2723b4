//! Small filesystem helpers shared by the stores.

use std::path::{Path, PathBuf};

/// Moves a corrupt block directory aside as `.corrupt-<name>` (dot-directories are skipped
/// when blocks are listed), so the rest of the store opens; the data stays for inspection.
/// Returns where it went, or `None` if even the rename failed (both cases are logged).
pub fn quarantine(dir: &Path, what: &str, err: &dyn std::fmt::Display) -> Option<PathBuf> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = dir.with_file_name(format!(".corrupt-{name}"));
    tracing::error!(dir = %dir.display(), %err, quarantined = %target.display(), "corrupt {what} moved aside");
    match std::fs::rename(dir, &target) {
        Ok(()) => Some(target),
        Err(e) => {
            tracing::error!(dir = %dir.display(), %e, "could not move the corrupt {what} aside");
            None
        }
    }
}
