//! Fuzzes the trace block reader with damaged block files.
//!
//! A tiny valid block (several pages) is written once per process. Each input
//! then replaces or patches ONE of its files and the block is opened, looked
//! up and iterated. Anything may fail; nothing may panic, hang or allocate
//! without bound.
//!
//! Input: `selector` byte, then bytes.
//! * `selector & 3` picks the file: `data`, `index`, `bloom`, `meta.json`.
//! * `selector & 4 == 0`: the bytes replace the file wholesale.
//! * `selector & 4 != 0`: the bytes are `(offset_lo, offset_hi, value)`
//!   triples XORed into the valid file; with `selector & 8` the file's CRCs
//!   are then recomputed so mutations reach the structural checks and the
//!   zstd/record decoders behind them instead of stopping at the checksum.
//!
//! Run: `cargo fuzz run trace_block`.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use weft_traces::block::{
    BlockMetaExtra, BlockOptions, BlockReader, BlockWriter, PageEntry, TraceRecord, BLOOM_FILE,
    DATA_FILE, INDEX_FILE, META_FILE,
};

const FILES: [&str; 4] = [DATA_FILE, INDEX_FILE, BLOOM_FILE, META_FILE];

/// The pristine block, kept in memory and rewritten into `dir` per input.
struct Template {
    dir: PathBuf,
    files: Vec<Vec<u8>>,
    pages: Vec<PageEntry>,
    ids: Vec<[u8; 16]>,
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(build_template)
}

fn build_template() -> Template {
    let root = std::env::temp_dir().join(format!("weft-fuzz-trace-block-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let opts = BlockOptions {
        page_bytes: 300,
        zstd_level: 1,
    };
    let mut writer = BlockWriter::create(&root, "fuzz", &opts).expect("create template block");
    let mut ids: Vec<[u8; 16]> = (0u64..24)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
            id[8..].copy_from_slice(&i.to_le_bytes());
            id
        })
        .collect();
    ids.sort();
    for (i, id) in ids.iter().enumerate() {
        let data: Vec<u8> = (0..i * 9).map(|b| (b % 13) as u8).collect();
        let rec = TraceRecord {
            trace_id: *id,
            start_ns: 1_000 * i as u64,
            end_ns: 1_000 * i as u64 + 500,
            span_count: i as u32 + 1,
            data: &data,
        };
        writer.append(&rec).expect("append");
    }
    let meta = writer
        .finish(BlockMetaExtra::default())
        .expect("finish template block");
    let src = root.join("fuzz").join(&meta.block_id);
    let pages = BlockReader::open(&src)
        .expect("open template")
        .pages()
        .to_vec();
    let files = FILES
        .iter()
        .map(|f| std::fs::read(src.join(f)).expect("read"))
        .collect();
    // Same directory name as the block id, which the reader checks.
    let dir = root.join("scratch").join(&meta.block_id);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    Template {
        dir,
        files,
        pages,
        ids,
    }
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

fn crc(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// Recomputes the checksums of a patched file (lengths are unchanged, so the
/// template's page layout still applies).
fn fix_crcs(which: usize, file: &mut [u8], pages: &[PageEntry]) {
    match FILES[which] {
        // index and bloom: crc32 of everything before an 8-byte footer.
        INDEX_FILE | BLOOM_FILE if file.len() >= 8 => {
            let at = file.len() - 8;
            let sum = crc(&[&file[..at]]);
            file[at..at + 4].copy_from_slice(&sum.to_le_bytes());
        }
        // data pages: crc32 of header[0..20] ++ payload, stored at 20.
        DATA_FILE => {
            for p in pages {
                let (start, end) = (p.offset as usize, p.offset as usize + p.len as usize);
                if end > file.len() {
                    continue;
                }
                let page = &mut file[start..end];
                let sum = crc(&[&page[..20], &page[24..]]);
                page[20..24].copy_from_slice(&sum.to_le_bytes());
            }
        }
        _ => {}
    }
}

fn run(input: &[u8]) {
    let Some((&selector, bytes)) = input.split_first() else {
        return;
    };
    let t = template();
    let which = usize::from(selector & 3);
    for (i, name) in FILES.iter().enumerate() {
        let content = if i != which {
            t.files[i].clone()
        } else if selector & 4 == 0 {
            bytes.to_vec()
        } else {
            let mut f = t.files[i].clone();
            patch(&mut f, bytes);
            if selector & 8 != 0 {
                fix_crcs(i, &mut f, &t.pages);
            }
            f
        };
        std::fs::write(t.dir.join(name), content).expect("write scratch file");
    }
    let Ok(reader) = BlockReader::open(&t.dir) else {
        return;
    };
    for id in t.ids.iter().chain([[0u8; 16], [0xff; 16]].iter()) {
        let _ = reader.may_contain(id);
        let _ = reader.find(id);
    }
    let _ = reader.iter().count();
    let _ = reader.iter_overlapping(5_000, 9_000).count();
    for i in 0..=reader.pages().len() {
        let _ = reader.read_page(i);
    }
}

fuzz_target!(|input: &[u8]| run(input));
