//! Compaction: merging blocks series by series, and planning which blocks to merge.

use std::path::Path;

use weft_core::labels::Labels;

use crate::chunk::{chunks_from_samples, Sample};

use super::index::ChunkMeta;
use super::meta::BlockMeta;
use super::writer::{BlockWriter, RawChunk};
use super::{Block, BlockError};

/// Merges `inputs` into one new block under `parent` with compaction `level`.
///
/// Series are merged by label set, one at a time (only one series' chunks are in memory).
/// Overlapping chunks (out-of-order data in a block of its own) are decoded and merged by
/// timestamp; on equal timestamps the sample of the block listed last wins. The writer
/// then packs each series' samples into chunks of up to `PACKED_MAX_SAMPLES`, so that
/// compacted blocks hold fewer, better-compressed chunks; full packed chunks pass through
/// without decoding. The inputs are left alone: the caller deletes them after success.
pub fn compact(parent: &Path, inputs: &[&Block], level: u32) -> Result<BlockMeta, BlockError> {
    if inputs.is_empty() {
        return Err(BlockError::InvalidInput("nothing to compact".into()));
    }
    let sources = inputs.iter().map(|b| b.meta().block_id.clone()).collect();
    let mut w = BlockWriter::new(parent, level, sources)?;
    let mut cursors: Vec<u32> = vec![0; inputs.len()];
    let mut heads: Vec<Option<Labels>> = inputs.iter().map(|b| head_labels(b, 0)).collect();
    while let Some(labels) = heads.iter().flatten().min().cloned() {
        // Every block whose current series has these labels contributes, in input order.
        let mut members = Vec::new();
        for (i, b) in inputs.iter().enumerate() {
            if heads[i].as_ref() == Some(&labels) {
                members.push((i, cursors[i]));
                cursors[i] += 1;
                heads[i] = head_labels(b, cursors[i]);
            }
        }
        let chunks = merge_series(inputs, &members)?;
        w.append_series(&labels, chunks)?;
    }
    w.finish()
}

/// Labels of series `id` of `b`, `None` past the end.
fn head_labels(b: &Block, id: u32) -> Option<Labels> {
    (id < b.num_series()).then(|| b.labels(id))
}

/// The chunks of one merged series: `members` are (input index, series id) pairs.
fn merge_series(inputs: &[&Block], members: &[(usize, u32)]) -> Result<Vec<RawChunk>, BlockError> {
    let mut refs: Vec<(usize, ChunkMeta)> = members
        .iter()
        .flat_map(|&(i, id)| inputs[i].chunk_refs(id).iter().map(move |c| (i, *c)))
        .collect();
    refs.sort_by_key(|(i, c)| (c.min_time, *i));
    let mut out = Vec::new();
    for cluster in overlap_clusters(&refs) {
        if let [(i, c)] = cluster {
            out.push(RawChunk {
                min_time: c.min_time,
                max_time: c.max_time,
                bytes: inputs[*i].read_chunk(c)?,
            });
        } else {
            out.extend(rechunk(&merge_samples(inputs, cluster)?)?);
        }
    }
    Ok(out)
}

/// Splits chunk references sorted by min time into maximal runs whose time ranges overlap
/// transitively; runs are disjoint in time and in order.
fn overlap_clusters(refs: &[(usize, ChunkMeta)]) -> Vec<&[(usize, ChunkMeta)]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut max = i64::MIN;
    for (k, (_, c)) in refs.iter().enumerate() {
        if k > start && c.min_time > max {
            out.push(&refs[start..k]);
            start = k;
        }
        max = if k == start {
            c.max_time
        } else {
            max.max(c.max_time)
        };
    }
    if start < refs.len() {
        out.push(&refs[start..]);
    }
    out
}

/// Decodes overlapping chunks and merges their samples by timestamp; on equal timestamps the
/// later input wins.
fn merge_samples(
    inputs: &[&Block],
    cluster: &[(usize, ChunkMeta)],
) -> Result<Vec<Sample>, BlockError> {
    let mut all: Vec<(i64, usize, crate::chunk::SampleValue)> = Vec::new();
    for (i, c) in cluster {
        all.extend(
            inputs[*i]
                .decode_chunk(c)?
                .into_iter()
                .map(|(t, v)| (t, *i, v)),
        );
    }
    all.sort_by_key(|&(t, i, _)| (t, i));
    let mut out: Vec<Sample> = Vec::with_capacity(all.len());
    for (t, _, v) in all {
        match out.last_mut() {
            // Sorted by input index within a timestamp, so the last one seen wins.
            Some(last) if last.0 == t => last.1 = v,
            _ => out.push((t, v)),
        }
    }
    Ok(out)
}

/// Cuts ascending samples into chunks (a new chunk also where the kind changes); the writer
/// then packs the float ones.
fn rechunk(samples: &[Sample]) -> Result<Vec<RawChunk>, BlockError> {
    let chunks = chunks_from_samples(samples)
        .map_err(|(t, e)| BlockError::InvalidInput(format!("re-chunking at {t} ms: {e}")))?;
    Ok(chunks.iter().filter_map(RawChunk::from_chunk).collect())
}

/// Picks the next blocks to compact, or nothing. A pure function of the metas.
///
/// 1. Blocks overlapping in time (out-of-order blocks) are merged first: the first group of
///    transitively overlapping blocks, by min time.
/// 2. Otherwise, for each range after the first in `ranges` (ascending, e.g. 2h, 6h, 24h in
///    ms), blocks are bucketed by the aligned range `[k·r, (k+1)·r)` that wholly contains
///    them; the oldest bucket with at least two blocks is chosen, provided the range is over
///    (some block starts at or after its end), so a range still being filled is not
///    compacted again and again.
///
/// Returned ids keep the order of `metas`, which is the order to pass the blocks to
/// [`compact`] (list them oldest-written first so that newer data wins).
pub fn plan_compaction(metas: &[BlockMeta], ranges: &[i64]) -> Vec<String> {
    let mut by_time: Vec<&BlockMeta> = metas.iter().collect();
    by_time.sort_by(|a, b| (a.min_time, &a.block_id).cmp(&(b.min_time, &b.block_id)));
    let pick = overlapping_group(&by_time).or_else(|| {
        ranges
            .iter()
            .skip(1)
            .filter(|&&r| r > 0)
            .find_map(|&r| range_group(&by_time, r))
    });
    let Some(pick) = pick else {
        return Vec::new();
    };
    metas
        .iter()
        .filter(|m| pick.iter().any(|p| p.block_id == m.block_id))
        .map(|m| m.block_id.clone())
        .collect()
}

/// The first run (by min time) of at least two transitively overlapping blocks.
fn overlapping_group<'a>(by_time: &[&'a BlockMeta]) -> Option<Vec<&'a BlockMeta>> {
    let mut group: Vec<&BlockMeta> = Vec::new();
    let mut max = i64::MIN;
    for &m in by_time {
        if !group.is_empty() && m.min_time > max {
            if group.len() >= 2 {
                return Some(group);
            }
            group.clear();
        }
        max = if group.is_empty() {
            m.max_time
        } else {
            max.max(m.max_time)
        };
        group.push(m);
    }
    (group.len() >= 2).then_some(group)
}

/// The oldest aligned range of width `r` holding at least two blocks that fit in it, if the
/// range is over.
fn range_group<'a>(by_time: &[&'a BlockMeta], r: i64) -> Option<Vec<&'a BlockMeta>> {
    let newest_start = by_time.iter().map(|m| m.min_time).max()?;
    let mut k = 0;
    while k < by_time.len() {
        let bucket = by_time[k].min_time.div_euclid(r);
        let end = by_time[k..]
            .iter()
            .position(|m| m.min_time.div_euclid(r) != bucket)
            .map_or(by_time.len(), |n| k + n);
        let group: Vec<&BlockMeta> = by_time[k..end]
            .iter()
            .copied()
            .filter(|m| m.max_time.div_euclid(r) == bucket)
            .collect();
        let over = bucket
            .checked_add(1)
            .and_then(|b| b.checked_mul(r))
            .is_some_and(|range_end| newest_start >= range_end);
        if group.len() >= 2 && over {
            return Some(group);
        }
        k = end;
    }
    None
}
