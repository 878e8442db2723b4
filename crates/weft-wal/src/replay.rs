//! Reading segments back: validation, torn-tail repair, corruption rules
//! (docs/format/wal.md §7).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::WalError;
use crate::format::{
    check_segment_header, encode_segment_header, frame_crc, list_segments, segment_path,
    FrameHeader, FRAME_HEADER_LEN, MAX_RECORD_BYTES_LIMIT, SEGMENT_HEADER_LEN,
};
use crate::position::Position;

/// Read buffer size: large enough that sequential replay is a few big
/// reads, small enough not to matter for memory.
const READ_BUFFER_BYTES: u64 = 1 << 20;

/// What a replay saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Segment files opened and scanned.
    pub segments_read: u64,
    /// Records handed to the callback.
    pub records: u64,
    /// Payload bytes handed to the callback.
    pub bytes: u64,
    /// Torn tails of the last segment that were truncated (0 or 1).
    pub torn_tails_repaired: u64,
    /// Segments whose rest was skipped because of corruption
    /// (only with `skip_corrupt`).
    pub corrupt_segments_skipped: u64,
    /// Missing segments stepped over (only with `skip_corrupt`).
    pub missing_segments_skipped: u64,
    /// Position of the last record handed to the callback.
    pub last_position: Option<Position>,
}

/// State of the highest-numbered segment after replay scanned (and maybe
/// repaired) it, so `open` need not scan it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LastSegment {
    /// Valid; the writer may continue at byte `len`.
    Usable { number: u64, len: u64 },
    /// Corrupt header, skipped with `skip_corrupt`: the writer must start a
    /// new segment after it.
    Unusable { number: u64 },
}

pub(crate) struct ReplayOutcome {
    pub stats: ReplayStats,
    /// `None` when the last segment was not scanned (it is before `from`,
    /// or the directory is empty).
    pub last: Option<LastSegment>,
}

/// How one segment scan ended.
enum SegmentEnd {
    Valid { len: u64 },
    Skipped,
}

/// Replays `dir` (already locked by the caller) from `from`.
pub(crate) fn replay_dir<E, F>(
    dir: &Path,
    from: Position,
    skip_corrupt: bool,
    mut f: F,
) -> Result<ReplayOutcome, E>
where
    E: From<WalError>,
    F: FnMut(Position, &[u8]) -> Result<(), E>,
{
    let segments = list_segments(dir).map_err(|e| WalError::io("listing segments in", dir, e))?;
    let mut out = ReplayOutcome {
        stats: ReplayStats::default(),
        last: None,
    };
    let Some(&last) = segments.last() else {
        return Ok(out);
    };
    let wanted: Vec<u64> = segments
        .iter()
        .copied()
        .filter(|&n| n >= from.segment)
        .collect();
    check_contiguous(dir, from, &wanted, skip_corrupt, &mut out.stats)?;

    for &n in &wanted {
        let is_last = n == last;
        let end = replay_segment(dir, n, is_last, from, skip_corrupt, &mut out.stats, &mut f)?;
        if is_last {
            out.last = Some(match end {
                SegmentEnd::Valid { len } => LastSegment::Usable { number: n, len },
                SegmentEnd::Skipped => LastSegment::Unusable { number: n },
            });
        }
    }
    Ok(out)
}

/// A hole in the numbering means a segment was lost: refuse unless told to
/// skip, because silently replaying around it loses acknowledged data.
fn check_contiguous(
    dir: &Path,
    from: Position,
    wanted: &[u64],
    skip_corrupt: bool,
    stats: &mut ReplayStats,
) -> Result<(), WalError> {
    let mut missing = Vec::new();
    if let Some(&first) = wanted.first() {
        if from.segment > 0 && first > from.segment {
            missing.push((
                from.segment,
                format!(
                    "replay starts at segment {} but the oldest one present is {first}",
                    from.segment
                ),
            ));
        }
    }
    for pair in wanted.windows(2) {
        if pair[1] != pair[0] + 1 {
            missing.push((
                pair[0] + 1,
                format!("segments jump from {} to {}", pair[0], pair[1]),
            ));
        }
    }
    for (segment, reason) in missing {
        if !skip_corrupt {
            return Err(WalError::MissingSegment {
                dir: dir.to_path_buf(),
                segment,
                reason,
            });
        }
        tracing::error!(dir = %dir.display(), segment, %reason, "wal segment missing; skipping (skip_corrupt)");
        stats.missing_segments_skipped += 1;
    }
    Ok(())
}

/// Scans one segment, delivering records at positions `>= from`, and
/// applies the torn-tail / corruption rules.
fn replay_segment<E, F>(
    dir: &Path,
    number: u64,
    is_last: bool,
    from: Position,
    skip_corrupt: bool,
    stats: &mut ReplayStats,
    f: &mut F,
) -> Result<SegmentEnd, E>
where
    E: From<WalError>,
    F: FnMut(Position, &[u8]) -> Result<(), E>,
{
    let path = segment_path(dir, number);
    let file = File::open(&path).map_err(|e| WalError::io("opening segment", &path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| WalError::io("reading metadata of", &path, e))?
        .len();
    stats.segments_read += 1;

    if file_len < SEGMENT_HEADER_LEN && is_last {
        // Crash while the segment was being created: nothing in it was ever
        // acknowledged, so give it a fresh header.
        rewrite_header(dir, &path, number)?;
        stats.torn_tails_repaired += 1;
        tracing::warn!(path = %path.display(), file_len, "wal: repaired torn segment header");
        return Ok(SegmentEnd::Valid {
            len: SEGMENT_HEADER_LEN,
        });
    }

    let mut reader = BufReader::with_capacity(
        file_len.clamp(SEGMENT_HEADER_LEN, READ_BUFFER_BYTES) as usize,
        file,
    );
    if let Err(reason) = read_header(&mut reader, file_len, number, &path)? {
        // A full-length bad header is not a torn write (headers are synced
        // before any record), so it is corruption even in the last segment.
        return corrupt(&path, 0, reason, skip_corrupt, stats);
    }

    let scan = scan_frames(&mut reader, file_len, number, &path, from, stats, f)?;
    match scan {
        None => Ok(SegmentEnd::Valid { len: file_len }),
        Some(Bad { offset, reason }) if is_last => {
            truncate(&path, offset)?;
            stats.torn_tails_repaired += 1;
            tracing::warn!(
                path = %path.display(),
                offset,
                dropped_bytes = file_len - offset,
                %reason,
                "wal: truncated torn tail of last segment"
            );
            Ok(SegmentEnd::Valid { len: offset })
        }
        Some(Bad { offset, reason }) => corrupt(&path, offset, reason, skip_corrupt, stats),
    }
}

fn corrupt<E: From<WalError>>(
    path: &Path,
    offset: u64,
    reason: String,
    skip_corrupt: bool,
    stats: &mut ReplayStats,
) -> Result<SegmentEnd, E> {
    if !skip_corrupt {
        return Err(WalError::corrupt(path, offset, reason).into());
    }
    tracing::error!(
        path = %path.display(),
        offset,
        %reason,
        "wal: corrupt segment; skipping its remaining bytes (skip_corrupt)"
    );
    stats.corrupt_segments_skipped += 1;
    Ok(SegmentEnd::Skipped)
}

/// Outer `Err` is an I/O failure; inner `Err` says what is wrong with the
/// header bytes.
fn read_header(
    reader: &mut impl Read,
    file_len: u64,
    number: u64,
    path: &Path,
) -> Result<Result<(), String>, WalError> {
    if file_len < SEGMENT_HEADER_LEN {
        return Ok(Err(format!(
            "file is {file_len} bytes, shorter than the {SEGMENT_HEADER_LEN}-byte segment header"
        )));
    }
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    reader
        .read_exact(&mut header)
        .map_err(|e| WalError::io("reading header of", path, e))?;
    Ok(check_segment_header(&header, number))
}

/// Where and why a frame failed to validate.
struct Bad {
    offset: u64,
    reason: String,
}

/// Walks the frames after the header. Returns the first bad frame, or
/// `None` if the file ends exactly at a frame boundary.
fn scan_frames<E, F>(
    reader: &mut impl Read,
    file_len: u64,
    number: u64,
    path: &Path,
    from: Position,
    stats: &mut ReplayStats,
    f: &mut F,
) -> Result<Option<Bad>, E>
where
    E: From<WalError>,
    F: FnMut(Position, &[u8]) -> Result<(), E>,
{
    let mut offset = SEGMENT_HEADER_LEN;
    let mut payload = Vec::new();
    loop {
        debug_assert!(offset <= file_len);
        let remaining = file_len - offset;
        if remaining == 0 {
            return Ok(None);
        }
        let bad = |reason: String| Ok(Some(Bad { offset, reason }));
        if remaining < FRAME_HEADER_LEN {
            return bad(format!(
                "truncated frame header: {remaining} of {FRAME_HEADER_LEN} bytes"
            ));
        }
        let mut hb = [0u8; FRAME_HEADER_LEN as usize];
        reader
            .read_exact(&mut hb)
            .map_err(|e| WalError::io("reading", path, e))?;
        let header = FrameHeader::decode(hb);
        let len = u64::from(header.len);
        if len > MAX_RECORD_BYTES_LIMIT {
            return bad(format!(
                "record length {len} exceeds the format limit {MAX_RECORD_BYTES_LIMIT}"
            ));
        }
        // Checked before allocating, so a corrupt length cannot make us
        // allocate more than the file holds.
        if len > remaining - FRAME_HEADER_LEN {
            return bad(format!(
                "truncated payload: record needs {len} bytes, {} left in file",
                remaining - FRAME_HEADER_LEN
            ));
        }
        payload.resize(len as usize, 0);
        reader
            .read_exact(&mut payload)
            .map_err(|e| WalError::io("reading", path, e))?;
        let crc = frame_crc(header.len.to_le_bytes(), &payload);
        if crc != header.crc {
            return bad(format!(
                "record crc mismatch (stored {:#010x}, computed {crc:#010x}, length {len})",
                header.crc
            ));
        }
        let pos = Position {
            segment: number,
            offset,
        };
        if pos >= from {
            f(pos, &payload)?;
            stats.records += 1;
            stats.bytes += len;
            stats.last_position = Some(pos);
        }
        offset += header.frame_len();
    }
}

/// Cuts a torn tail off and makes the cut durable before anything is
/// appended after it.
fn truncate(path: &Path, len: u64) -> Result<(), WalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| WalError::io("opening for repair", path, e))?;
    file.set_len(len)
        .map_err(|e| WalError::io("truncating torn tail of", path, e))?;
    file.sync_data()
        .map_err(|e| WalError::io("syncing repaired", path, e))
}

fn rewrite_header(dir: &Path, path: &Path, number: u64) -> Result<(), WalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| WalError::io("opening for repair", path, e))?;
    file.set_len(0)
        .map_err(|e| WalError::io("truncating torn header of", path, e))?;
    file.write_all_at(&encode_segment_header(number), 0)
        .map_err(|e| WalError::io("rewriting header of", path, e))?;
    file.sync_data()
        .map_err(|e| WalError::io("syncing repaired", path, e))?;
    // The crash may have happened before the directory entry was synced.
    sync_dir(dir)
}

/// fsync a directory so that creations/removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WalError::io("syncing directory", dir, e))
}
