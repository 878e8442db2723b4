//! The trace store.
//!
//! Data flow: the ingest pipeline appends a validated export batch to the shared WAL, and once
//! the WAL has made it durable it calls [`TraceStore::apply`]. The batch is split into per-trace
//! fragments ([`fragment`]) that are appended to the tenant's in-memory head ([`head`]).
//! Periodically the head is cut ([`TraceStore::cut_heads`], under the pipeline's gate so the
//! cut lines up with a WAL segment boundary), written as one immutable block per tenant
//! ([`block`]), and the WAL checkpoint advances so the segments it covered can be deleted.
//! Compaction merges small blocks; retention deletes blocks by age and by total bytes.
//!
//! Reads: trace-by-ID looks in the head and in every block whose bloom filter may hold the ID
//! (one page read per hit) and concatenates the fragments; search ([`search`]) decodes traces
//! in the head and in blocks overlapping the time range, newest first, and evaluates TraceQL.

pub mod block;
pub mod config;
pub mod error;
pub mod fragment;
pub mod head;
pub mod raw;
pub mod search;
pub mod store;

pub use config::TraceStoreConfig;
pub use error::TraceStoreError;
pub use store::{CutHeads, TraceStore};
