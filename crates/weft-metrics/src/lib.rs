//! The metric store and PromQL (issue #3; being built).
//!
//! Data flow (target): the ingest pipeline appends samples to the shared WAL, then to the
//! in-memory head, where each series keeps its recent samples in compressed chunks
//! ([`chunk`]: delta-of-delta timestamps, XOR floats; native histograms as float histograms
//! with the bucket layout written when it changes). Full chunks are cut into immutable
//! blocks with an inverted label index; compaction and retention work on blocks. Queries go
//! from the PromQL engine ([`promql`], parsed by `promql-parser`) through its storage-agnostic
//! read trait [`promql::Queryable`] to head and blocks.
//!
//! Built so far: [`chunk`] (the sample encoding), [`head`] (series, postings and chunks in
//! memory, read through [`promql::Queryable`]), [`promql`] (the evaluator, checked against
//! Prometheus' own engine tests through [`promqltest`], the runner for their file format).
//! The WAL-backed head, blocks and the HTTP API come next.

pub mod block;
pub mod chunk;
pub mod head;
pub mod model;
pub mod promql;
pub mod promqltest;
pub mod store;
