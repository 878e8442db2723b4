//! Fuzzes the metric block reader (`docs/format/metric-block.md`) with damaged block files.
//!
//! A small valid block (several series, several chunks each, stale markers) is written once
//! per process. Each input then replaces or patches ONE of its files, and the block is
//! opened and queried (select over several ranges and matchers, series, label names and
//! values). Anything may fail; nothing may panic, hang or allocate without bound.
//!
//! Input: `selector` byte, then bytes.
//! * `selector & 3` picks the file: 0 and 3 `index` (the richest format), 1 `chunks`,
//!   2 `meta.json`.
//! * `selector & 4 == 0`: the bytes replace the file wholesale.
//! * `selector & 4 != 0`: the bytes are `(offset_lo, offset_hi, value)` triples XORed into
//!   the valid file; with `selector & 8` the file's CRCs (index sections, chunk records) are
//!   then recomputed so mutations reach the structural checks and the chunk decoder behind
//!   them instead of stopping at the checksum.
//!
//! Run: `cargo fuzz run metric_block fuzz/seeds/metric_block`.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use promql_parser::label::{MatchOp, Matcher, Matchers};
use weft_core::labels::Labels;
use weft_metrics::block::{write_block, Block, BlockInput, CHUNKS_FILE, INDEX_FILE, META_FILE};

const FILES: [&str; 3] = [INDEX_FILE, CHUNKS_FILE, META_FILE];

/// The pristine block, kept in memory and rewritten into `dir` per input.
struct Template {
    dir: PathBuf,
    files: Vec<Vec<u8>>,
    /// (start, end) of each index section including its frame.
    sections: Vec<(usize, usize)>,
    /// (offset, len) of each chunk's bytes in `chunks`.
    chunks: Vec<(usize, usize)>,
    matchers: Vec<Matchers>,
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(build_template)
}

fn build_template() -> Template {
    let root = std::env::temp_dir().join(format!("weft-fuzz-metric-block-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut input = BlockInput::new();
    for i in 0..12u32 {
        let labels = Labels::from_pairs([
            ("__name__", if i % 3 == 0 { "up" } else { "requests_total" }),
            ("job", ["api", "db", "web"][i as usize % 3]),
            ("instance", &format!("host-{i}")),
            ("zone", if i % 2 == 0 { "a" } else { "" }),
        ])
        .expect("labels");
        let samples: Vec<(i64, f64)> = (0..150 + i64::from(i) * 10)
            .map(|k| {
                let v = if k % 97 == 96 {
                    f64::from_bits(0x7ff0_0000_0000_0002)
                } else {
                    (k * i64::from(i)) as f64
                };
                (k * 15_000 + i64::from(i), v)
            })
            .collect();
        input.add_samples(labels, &samples).expect("samples");
    }
    let meta = write_block(&root, input).expect("write template block");
    let src = root.join(&meta.block_id);
    let block = Block::open(&src).expect("open template");
    let chunks = (0..block.num_series())
        .flat_map(|id| block.chunk_refs(id).to_vec())
        .map(|c| (c.offset as usize, c.len as usize))
        .collect();
    let files: Vec<Vec<u8>> = FILES
        .iter()
        .map(|f| std::fs::read(src.join(f)).expect("read"))
        .collect();
    let sections = index_sections(&files[0]);
    // Same directory name as the block id, which the reader checks.
    let dir = root.join("scratch").join(&meta.block_id);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let m = |n: &str, op: MatchOp, v: &str| Matcher::new(op, n, v);
    let re = |s: &str| MatchOp::Re(regex::Regex::new(&format!("^(?:{s})$")).expect("regex"));
    let matchers = vec![
        Matchers::new(vec![m("__name__", MatchOp::Equal, "up")]),
        Matchers::new(vec![
            m("job", re("a.*|db"), ""),
            m("zone", MatchOp::Equal, ""),
        ]),
        Matchers::new(vec![
            m("instance", re(".+"), ""),
            m("zone", MatchOp::NotEqual, "a"),
        ]),
    ];
    Template {
        dir,
        files,
        sections,
        chunks,
        matchers,
    }
}

/// Frames of the three index sections of a valid index.
fn index_sections(index: &[u8]) -> Vec<(usize, usize)> {
    let mut at = 8;
    let mut out = Vec::new();
    for _ in 0..3 {
        let len = u32::from_le_bytes(index[at..at + 4].try_into().expect("len")) as usize;
        out.push((at, at + len + 8));
        at += len + 8;
    }
    out
}

/// XORs `(offset_lo, offset_hi, value)` triples into `file`.
fn patch(file: &mut [u8], triples: &[u8]) {
    if file.is_empty() {
        return;
    }
    for t in triples.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([t[0], t[1]])) % file.len();
        file[at] ^= t[2];
    }
}

/// Recomputes the CRCs of a patched file (lengths are unchanged, so the template's layout
/// still applies).
fn fix_crcs(which: &str, file: &mut [u8], t: &Template) {
    let ranges: Vec<(usize, usize)> = match which {
        // Section CRC: over the len field and body, stored in the last 4 bytes.
        INDEX_FILE => t.sections.iter().map(|&(s, e)| (s, e - 4)).collect(),
        // Chunk CRC: over the chunk bytes, stored right after them.
        CHUNKS_FILE => t.chunks.iter().map(|&(o, l)| (o, o + l)).collect(),
        _ => Vec::new(),
    };
    for (s, e) in ranges {
        if e + 4 <= file.len() {
            let crc = crc32fast::hash(&file[s..e]);
            file[e..e + 4].copy_from_slice(&crc.to_le_bytes());
        }
    }
}

fn run(input: &[u8]) {
    let Some((&selector, bytes)) = input.split_first() else {
        return;
    };
    let t = template();
    let which = [0, 1, 2, 0][usize::from(selector & 3)];
    for (i, name) in FILES.iter().enumerate() {
        let content = if i != which {
            t.files[i].clone()
        } else if selector & 4 == 0 {
            bytes.to_vec()
        } else {
            let mut f = t.files[i].clone();
            patch(&mut f, bytes);
            if selector & 8 != 0 {
                fix_crcs(name, &mut f, t);
            }
            f
        };
        std::fs::write(t.dir.join(name), content).expect("write scratch file");
    }
    let Ok(block) = Block::open(&t.dir) else {
        return;
    };
    for m in &t.matchers {
        for (start, end) in [(i64::MIN, i64::MAX), (0, 0), (1_000_000, 1_500_000)] {
            let _ = block.select(m, start, end);
        }
    }
    let all = std::slice::from_ref(&t.matchers[2]);
    let _ = block.series(all, 0, 600_000);
    let _ = block.series(&[], i64::MIN, i64::MAX);
    let _ = block.series(all, 100_000, 2_000_000);
}

fuzz_target!(|input: &[u8]| run(input));
