//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use bytes::Bytes;
use weft_wal::{segment_file_name, Position, ReplayStats, Wal, WalError, WalOptions};

/// Deterministic payload for record `id`: the id, then filler whose length
/// varies with the id so frames have different sizes.
pub fn payload(id: u64) -> Bytes {
    let filler = (id.wrapping_mul(2_654_435_761) % 300) as usize;
    let mut v = Vec::with_capacity(8 + filler);
    v.extend_from_slice(&id.to_le_bytes());
    v.extend((0..filler).map(|i| (id as usize + i) as u8));
    Bytes::from(v)
}

/// Inverse of [`payload`]; panics if the bytes are not a payload.
pub fn id_of(bytes: &[u8]) -> u64 {
    let id = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert_eq!(bytes, &payload(id)[..], "payload of record {id} is damaged");
    id
}

/// Every replayed record with its position.
pub type Records = Vec<(Position, Vec<u8>)>;

pub fn replay_from(
    dir: &Path,
    from: Position,
    opts: &WalOptions,
) -> Result<(Records, ReplayStats), WalError> {
    let mut out = Vec::new();
    let stats = Wal::replay(dir, from, opts, |p, b| {
        out.push((p, b.to_vec()));
        Ok::<(), WalError>(())
    })?;
    Ok((out, stats))
}

pub fn replay_all(dir: &Path) -> Records {
    replay_from(dir, Position::START, &WalOptions::default())
        .unwrap()
        .0
}

pub fn segment(dir: &Path, n: u64) -> PathBuf {
    dir.join(segment_file_name(n))
}

pub fn small_segments(size: u64) -> WalOptions {
    WalOptions {
        segment_size_bytes: size,
        ..WalOptions::default()
    }
}
