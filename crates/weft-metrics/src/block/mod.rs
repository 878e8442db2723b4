//! Immutable on-disk metric blocks: chunks (XOR floats and float histograms) plus an
//! inverted label index, and their compaction.
//!
//! The byte layout is specified in `docs/format/metric-block.md`. In short, a block is a
//! directory `<parent>/<block_id>/` with three files: `chunks` (chunk bytes, each followed by
//! a CRC), `index` (symbol table, series with symbol-referenced labels and time-annotated
//! chunk references, postings; each section CRC-framed) and `meta.json`.
//!
//! * [`BlockWriter`] streams series (sorted by labels) into a temporary directory and
//!   publishes it with an atomic rename; [`write_block`] does that for a [`BlockInput`] built
//!   in memory (from samples or ready chunks).
//! * [`Block::open`] validates everything except the chunk bytes, keeps the index in memory,
//!   and reads chunks on demand with positional reads. Its queries ([`Block::select`],
//!   [`Block::series`]) have the semantics of
//!   the head's methods of the same names; postings selection is shared with the head
//!   (`block::postings`).
//! * [`compact`] merges blocks series by series (streaming), copying chunks that overlap
//!   nothing and re-chunking the rest (newer block wins on equal timestamps, whatever kind of
//!   sample either is);
//!   [`plan_compaction`] picks what to merge.
//! * Nothing here panics on bad input: every error is a [`BlockError`] naming the file, the
//!   section and the byte offset.

mod compact;
mod error;
mod format;
mod index;
mod meta;
pub(crate) mod postings;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use compact::{compact, plan_compaction};
pub use error::BlockError;
pub use format::{
    CHUNKS_FILE, CHUNKS_MAGIC, FORMAT_VERSION, INDEX_FILE, INDEX_MAGIC, MAX_CHUNK_BYTES,
    MAX_SYMBOL_BYTES, META_FILE,
};
pub use meta::BlockMeta;
pub use reader::{cleanup_tmp, list_blocks, Block, ChunkMeta};
pub use writer::{write_block, BlockInput, BlockWriter, RawChunk};
