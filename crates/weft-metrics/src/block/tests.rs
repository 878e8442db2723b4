//! Block tests: round trips against `MemStorage` and `Head`, pruning, corruption, crash
//! safety, compaction, planning and size.

use std::path::{Path, PathBuf};

use promql_parser::label::{MatchOp, Matcher, Matchers};
use promql_parser::parser::Expr;
use weft_core::labels::Labels;

use super::*;
use crate::head::Head;
use crate::promql::{MemStorage, Queryable, SeriesData, STALE_NAN_BITS};
use weft_core::labels::{names_of, values_of};

/// A series and its samples, as test data.
type Series = (Labels, Vec<(i64, f64)>);

/// Deterministic pseudo-random numbers (splitmix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

/// Matchers of a vector selector in PromQL syntax (the metric name becomes a matcher).
fn sel(q: &str) -> Matchers {
    match promql_parser::parser::parse(q).unwrap() {
        Expr::VectorSelector(vs) => {
            let mut m = vs.matchers;
            if let Some(name) = vs.name {
                m.matchers
                    .push(Matcher::new(MatchOp::Equal, "__name__", &name));
            }
            m
        }
        e => panic!("not a selector: {e:?}"),
    }
}

/// Series data with values as bits, so NaNs (stale markers) compare exactly.
fn bits(v: Vec<SeriesData>) -> Vec<(Labels, Vec<(i64, u64)>)> {
    v.into_iter()
        .map(|s| {
            let samples = s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            (s.labels, samples)
        })
        .collect()
}

/// A random data set: label sets with partly missing labels, irregular timestamps and
/// occasional stale markers.
fn random_series(rng: &mut Rng, n: usize, t0: i64) -> Vec<Series> {
    let mut out = std::collections::BTreeMap::new();
    for i in 0..n {
        let name = ["up", "http_requests_total", "mem_bytes", "a:b"][rng.below(4) as usize];
        let job = format!("job{}", rng.below(4));
        let inst = format!("10.0.0.{i}:9100");
        let env = ["", "prod", "dev", "staging-1"][rng.below(4) as usize];
        let labels = l(&[
            ("__name__", name),
            ("job", &job),
            ("instance", &inst),
            ("env", env),
        ]);
        let mut t = t0 + rng.below(60_000) as i64;
        let count = 1 + rng.below(400);
        let mut samples = Vec::new();
        for _ in 0..count {
            let v = if rng.chance(0.02) {
                f64::from_bits(STALE_NAN_BITS)
            } else {
                rng.below(1000) as f64 / 4.0
            };
            samples.push((t, v));
            t += 1 + rng.below(30_000) as i64;
        }
        out.insert(labels, samples);
    }
    out.into_iter().collect()
}

fn write(dir: &Path, series: &[Series]) -> Block {
    let mut input = BlockInput::new();
    for (labels, samples) in series {
        input.add_samples(labels.clone(), samples).unwrap();
    }
    let meta = write_block(dir, input).unwrap();
    Block::open(&dir.join(&meta.block_id)).unwrap()
}

fn mem_of(sets: &[&[Series]]) -> MemStorage {
    let mut m = MemStorage::new();
    for set in sets {
        for (labels, samples) in *set {
            for &(t, v) in samples {
                m.append(labels.clone(), t, v);
            }
        }
    }
    m
}

const SELECTORS: &[&str] = &[
    r#"{__name__=~".+"}"#,
    "up",
    r#"up{job="job1"}"#,
    r#"{job=~"job[12]"}"#,
    r#"{job!="job0", __name__=~"[um].*"}"#,
    r#"up{env=""}"#,
    r#"{env!=""}"#,
    r#"{__name__=~"up|mem_bytes", env=~"prod|"}"#,
    r#"{env!~"dev|staging.*", job=~".*1"}"#,
    r#"mem_bytes{env="nope"}"#,
    r#"a:b{nolabel=""}"#,
    r#"{instance=~"10.0.0.1.*", env!="prod"}"#,
    r#"{job="job3" or env="dev"}"#,
    r#"{__name__="a:b" or __name__="up", job!~"job1"}"#,
    r#"{instance="10.0.0.7:9100"}"#,
];

#[test]
fn round_trip_matches_mem_storage() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    let series = random_series(&mut rng, 300, 1_700_000_000_000);
    let block = write(dir.path(), &series);
    let mem = mem_of(&[&series]);
    assert_eq!(block.meta().num_series, 300);
    let samples: usize = series.iter().map(|s| s.1.len()).sum();
    assert_eq!(block.meta().num_samples, samples as u64);
    let (lo, hi) = (block.meta().min_time, block.meta().max_time);
    for q in SELECTORS {
        let m = sel(q);
        for _ in 0..6 {
            let a = lo - 10_000 + rng.below((hi - lo + 20_000) as u64) as i64;
            let b = a + rng.below(4 * 3_600_000) as i64;
            let got = bits(block.select(&m, a, b).unwrap());
            assert_eq!(got, bits(mem.select(&m, a, b)), "{q} in [{a}, {b}]");
        }
        let all = bits(block.select(&m, i64::MIN, i64::MAX).unwrap());
        assert_eq!(all, bits(mem.select(&m, i64::MIN, i64::MAX)), "{q}");
    }
}

#[test]
fn series_and_label_queries_match_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(11);
    let series = random_series(&mut rng, 120, 0);
    let block = write(dir.path(), &series);
    let head = Head::new();
    for (labels, samples) in &series {
        for &(t, v) in samples {
            head.append(labels, t, v).unwrap();
        }
    }
    let (lo, hi) = (block.meta().min_time, block.meta().max_time);
    for q in SELECTORS
        .iter()
        .map(|q| vec![sel(q)])
        .chain([vec![], vec![sel("up"), sel(r#"{env="dev"}"#)]])
    {
        for _ in 0..5 {
            let a = lo + rng.below((hi - lo) as u64) as i64;
            let b = a + rng.below(3_600_000) as i64;
            assert_eq!(
                block.series(&q, a, b).unwrap(),
                head.series(&q, a, b),
                "{q:?}"
            );
            let (from_block, from_head) = (block.series(&q, a, b).unwrap(), head.series(&q, a, b));
            assert_eq!(names_of(&from_block), names_of(&from_head));
            for name in ["job", "env", "__name__", "missing"] {
                assert_eq!(values_of(name, &from_block), values_of(name, &from_head));
            }
        }
    }
}

#[test]
fn select_prunes_chunks_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let labels = l(&[("__name__", "x")]);
    // Blocks store packed chunks of up to PACKED_MAX_SAMPLES (1024): 4 chunks.
    let samples: Vec<(i64, f64)> = (0..3500).map(|i| (i * 15_000, i as f64)).collect();
    let block = write(dir.path(), &[(labels.clone(), samples)]);
    let refs = block.chunk_refs(0).to_vec();
    assert_eq!(refs.len(), 4);
    // Damage the first chunk: queries not touching its time range must not read it.
    let path = block.dir().join(CHUNKS_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[refs[0].offset as usize + 5] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let block = Block::open(block.dir()).unwrap();
    let m = sel("x");
    let got = block
        .select(&m, refs[1].min_time, refs[2].max_time)
        .unwrap();
    assert_eq!(got[0].samples.len(), 2048);
    assert_eq!(got[0].samples[0], (refs[1].min_time, 1024.0));
    let err = block.select(&m, 0, 1).unwrap_err();
    assert!(
        matches!(err, BlockError::Checksum { file: "chunks", section: "chunk", offset, .. } if offset == refs[0].offset),
        "{err}"
    );
    // series() needs no decoding when a chunk end lies in the range.
    assert_eq!(block.series(&[m], 0, 0).unwrap(), vec![labels]);
}

/// Byte ranges `(name, start, end)` of the index sections (frame included).
fn sections(index: &[u8]) -> Vec<(&'static str, usize, usize)> {
    let mut at = 8;
    let mut out = Vec::new();
    for name in ["symbols", "series", "postings"] {
        let len = u32::from_le_bytes(index[at..at + 4].try_into().unwrap()) as usize;
        out.push((name, at, at + len + 8));
        at += len + 8;
    }
    assert_eq!(at, index.len());
    out
}

/// Copies a block directory so every corruption starts from a pristine block.
fn copy_block(src: &Path, parent: &Path) -> PathBuf {
    let dst = parent.join(src.file_name().unwrap());
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::create_dir_all(&dst).unwrap();
    for f in [CHUNKS_FILE, INDEX_FILE, META_FILE] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    dst
}

fn open_damaged(
    src: &Path,
    scratch: &Path,
    file: &str,
    damage: impl FnOnce(&mut Vec<u8>),
) -> BlockError {
    let dir = copy_block(src, scratch);
    let mut bytes = std::fs::read(dir.join(file)).unwrap();
    damage(&mut bytes);
    std::fs::write(dir.join(file), bytes).unwrap();
    match Block::open(&dir) {
        Ok(b) => {
            // Chunk damage shows when the chunks are read.
            let all = b.select(&sel(r#"{__name__=~".+"}"#), i64::MIN, i64::MAX);
            all.expect_err("damage not detected")
        }
        Err(e) => e,
    }
}

#[test]
fn corruption_of_every_section_is_detected_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let series = random_series(&mut Rng(3), 40, 1_000_000);
    let block = write(dir.path(), &series);
    let src = block.dir().to_path_buf();
    let index = std::fs::read(src.join(INDEX_FILE)).unwrap();
    for (name, start, end) in sections(&index) {
        for at in [start, start + 4, (start + end) / 2, end - 1] {
            let err = open_damaged(&src, scratch.path(), INDEX_FILE, |b| b[at] ^= 0x10);
            match &err {
                BlockError::Checksum {
                    file,
                    section,
                    offset,
                    ..
                } => {
                    assert_eq!((*file, *section, *offset), (INDEX_FILE, name, start as u64));
                }
                // A damaged length field may instead run past the file.
                BlockError::Corrupt { file, section, .. } => {
                    assert_eq!((*file, *section), (INDEX_FILE, name), "{err}");
                }
                e => panic!("{name} at {at}: {e}"),
            }
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = open_damaged(&src, scratch.path(), INDEX_FILE, |b| b.truncate(end - 3));
        assert!(
            matches!(err, BlockError::Corrupt { file: INDEX_FILE, section, .. } if section == name),
            "{err}"
        );
    }
    let err = open_damaged(&src, scratch.path(), INDEX_FILE, |b| b[1] = b'X');
    assert!(err.to_string().contains("bad magic"), "{err}");
    let err = open_damaged(&src, scratch.path(), INDEX_FILE, |b| b[4] = 9);
    assert!(matches!(
        err,
        BlockError::UnsupportedVersion {
            file: INDEX_FILE,
            version: 9
        }
    ));
    let err = open_damaged(&src, scratch.path(), INDEX_FILE, |b| b.push(0));
    assert!(err.to_string().contains("after the last section"), "{err}");
    let err = open_damaged(&src, scratch.path(), CHUNKS_FILE, |b| b[0] = 0);
    assert!(
        matches!(
            err,
            BlockError::Corrupt {
                file: CHUNKS_FILE,
                section: "header",
                ..
            }
        ),
        "{err}"
    );
    let err = open_damaged(&src, scratch.path(), CHUNKS_FILE, |b| {
        b.truncate(b.len() - 1)
    });
    assert!(
        matches!(
            err,
            BlockError::Corrupt {
                file: CHUNKS_FILE,
                ..
            }
        ),
        "{err}"
    );
    let chunk = block.chunk_refs(5)[0];
    let err = open_damaged(&src, scratch.path(), CHUNKS_FILE, |b| {
        b[chunk.offset as usize + 3] ^= 1
    });
    assert!(
        matches!(err, BlockError::Checksum { file: CHUNKS_FILE, offset, .. } if offset == chunk.offset),
        "{err}"
    );
    // A chunk whose CRC matches but whose content disagrees with the index.
    let err = open_damaged(&src, scratch.path(), CHUNKS_FILE, |b| {
        let (s, e) = (
            chunk.offset as usize,
            (chunk.offset + u64::from(chunk.len)) as usize,
        );
        b[s + 3] ^= 0x01; // lowest bit of the first timestamp's first varint byte
        let crc = crc32fast::hash(&b[s..e]);
        b[e..e + 4].copy_from_slice(&crc.to_le_bytes());
    });
    assert!(
        matches!(
            err,
            BlockError::Corrupt {
                file: CHUNKS_FILE,
                section: "chunk",
                ..
            }
        ),
        "{err}"
    );
    let err = open_damaged(&src, scratch.path(), META_FILE, |b| b.truncate(10));
    assert!(
        matches!(
            err,
            BlockError::Corrupt {
                file: META_FILE,
                ..
            }
        ),
        "{err}"
    );
    let err = open_damaged(&src, scratch.path(), META_FILE, |b| {
        let s = String::from_utf8(b.clone()).unwrap();
        *b = s
            .replacen("\"num_series\": 40", "\"num_series\": 41", 1)
            .into_bytes();
    });
    assert!(err.to_string().contains("num_series"), "{err}");
    let err = open_damaged(&src, scratch.path(), META_FILE, |b| {
        let s = String::from_utf8(b.clone()).unwrap();
        *b = s
            .replacen("\"format_version\": 1", "\"format_version\": 2", 1)
            .into_bytes();
    });
    assert!(
        matches!(
            err,
            BlockError::UnsupportedVersion {
                file: META_FILE,
                version: 2
            }
        ),
        "{err}"
    );
}

#[test]
fn arbitrary_index_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let block = write(dir.path(), &random_series(&mut Rng(5), 10, 0));
    let src = block.dir().to_path_buf();
    let index = std::fs::read(src.join(INDEX_FILE)).unwrap();
    let mut rng = Rng(99);
    for _ in 0..300 {
        let mut b = index.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(b.len() as u64) as usize;
            b[at] ^= 1 << rng.below(8);
        }
        // Fix the CRCs so the structural checks behind them are exercised too.
        for (_, s, e) in sections(&index) {
            let crc = crc32fast::hash(&b[s..e - 4]);
            b[e - 4..e].copy_from_slice(&crc.to_le_bytes());
        }
        let dir = copy_block(&src, scratch.path());
        std::fs::write(dir.join(INDEX_FILE), &b).unwrap();
        if let Ok(block) = Block::open(&dir) {
            let _ = block.select(&sel(r#"{job=~".+"}"#), i64::MIN, i64::MAX);
        }
    }
}

#[test]
fn crash_before_rename_leaves_no_visible_block() {
    let parent = tempfile::tempdir().unwrap();
    let mut w = BlockWriter::new(parent.path(), 0, vec![]).unwrap();
    let mut c = crate::chunk::XorChunk::new();
    c.append(1000, 1.0).unwrap();
    w.append_series(&l(&[("a", "b")]), vec![RawChunk::from_xor(&c).unwrap()])
        .unwrap();
    let tmp = w.crash_before_rename().unwrap();
    assert!(tmp.join(META_FILE).exists());
    assert!(list_blocks(parent.path()).unwrap().is_empty());
    assert_eq!(cleanup_tmp(parent.path()).unwrap(), 1);
    assert!(!tmp.exists());
    // A writer dropped unfinished cleans up after itself; an empty block is refused.
    let w = BlockWriter::new(parent.path(), 0, vec![]).unwrap();
    drop(w);
    let w = BlockWriter::new(parent.path(), 0, vec![]).unwrap();
    assert!(matches!(w.finish(), Err(BlockError::InvalidInput(_))));
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}

#[test]
fn writer_rejects_bad_input() {
    let parent = tempfile::tempdir().unwrap();
    let mut w = BlockWriter::new(parent.path(), 0, vec![]).unwrap();
    let chunk = |ts: &[i64]| {
        let mut c = crate::chunk::XorChunk::new();
        for &t in ts {
            c.append(t, 0.0).unwrap();
        }
        RawChunk::from_xor(&c).unwrap()
    };
    w.append_series(&l(&[("a", "2")]), vec![chunk(&[1, 2])])
        .unwrap();
    let unsorted = w.append_series(&l(&[("a", "1")]), vec![chunk(&[1])]);
    assert!(matches!(unsorted, Err(BlockError::InvalidInput(_))));
    let overlapping = w.append_series(&l(&[("a", "3")]), vec![chunk(&[1, 5]), chunk(&[5, 6])]);
    assert!(matches!(overlapping, Err(BlockError::InvalidInput(_))));
    assert!(w.append_series(&l(&[("a", "3")]), vec![]).is_err());
    // The writer is still usable after rejected series.
    w.append_series(&l(&[("a", "3")]), vec![chunk(&[1, 5]), chunk(&[6])])
        .unwrap();
    let meta = w.finish().unwrap();
    // The second series' two chunks are stored as one packed chunk.
    assert_eq!(
        (meta.num_series, meta.num_chunks, meta.num_samples),
        (2, 2, 5)
    );
    let mut input = BlockInput::new();
    assert!(input
        .add_samples(l(&[("a", "1")]), &[(5, 1.0), (4, 1.0)])
        .is_err());
}

/// Writes `series` as a block with ids listed by `list_blocks` order-independent.
fn block_of(parent: &Path, series: &[Series]) -> Block {
    write(parent, series)
}

/// Splits series samples at `t` into (before, at-or-after) data sets.
fn split_at(series: &[Series], t: i64) -> [Vec<Series>; 2] {
    let part = |keep: &dyn Fn(i64) -> bool| {
        series
            .iter()
            .map(|(l, s)| {
                (
                    l.clone(),
                    s.iter().copied().filter(|p| keep(p.0)).collect::<Vec<_>>(),
                )
            })
            .filter(|(_, s)| !s.is_empty())
            .collect()
    };
    [part(&|x| x < t), part(&|x| x >= t)]
}

fn assert_same_data(block: &Block, mem: &MemStorage) {
    for q in SELECTORS {
        let m = sel(q);
        assert_eq!(
            bits(block.select(&m, i64::MIN, i64::MAX).unwrap()),
            bits(mem.select(&m, i64::MIN, i64::MAX)),
            "{q}"
        );
    }
}

#[test]
fn compaction_of_adjacent_blocks_joins_their_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let series = random_series(&mut Rng(21), 150, 0);
    let mid = 3_600_000;
    let [early, late] = split_at(&series, mid);
    let a = block_of(dir.path(), &early);
    let b = block_of(dir.path(), &late);
    let meta = compact(dir.path(), &[&a, &b], 1).unwrap();
    assert_eq!(meta.level, 1);
    assert_eq!(
        meta.sources,
        vec![a.meta().block_id.clone(), b.meta().block_id.clone()]
    );
    // Each series' samples of both blocks are packed together into fewer, larger chunks.
    assert!(meta.num_chunks <= a.meta().num_chunks + b.meta().num_chunks);
    assert_eq!(
        meta.num_samples,
        a.meta().num_samples + b.meta().num_samples
    );
    let c = Block::open(&dir.path().join(&meta.block_id)).unwrap();
    assert_same_data(&c, &mem_of(&[&series]));
    assert_eq!(list_blocks(dir.path()).unwrap().len(), 3);
}

#[test]
fn compaction_of_overlapping_blocks_merges_and_newer_wins() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(33);
    let base = random_series(&mut rng, 80, 0);
    // Out-of-order data: some series get extra samples between and on existing timestamps
    // (with different values), some get new series entirely.
    let mut ooo: Vec<Series> = Vec::new();
    for (labels, samples) in base.iter().step_by(3) {
        let mut extra: Vec<(i64, f64)> = samples
            .iter()
            .step_by(4)
            .flat_map(|&(t, _)| [(t, -1.0), (t + 1, -2.0)])
            .collect();
        extra.sort_by_key(|p| p.0);
        extra.dedup_by_key(|p| p.0);
        ooo.push((labels.clone(), extra));
    }
    ooo.extend(random_series(&mut rng, 5, 10).into_iter().map(|(l, s)| {
        let l = Labels::from_pairs(
            l.iter()
                .map(|x| (x.name.clone(), x.value.clone()))
                .chain([("ooo".to_string(), "1".to_string())]),
        )
        .unwrap();
        (l, s)
    }));
    ooo.sort_by(|a, b| a.0.cmp(&b.0));
    let a = block_of(dir.path(), &base);
    let b = block_of(dir.path(), &ooo);
    let meta = compact(dir.path(), &[&a, &b], 1).unwrap();
    let c = Block::open(&dir.path().join(&meta.block_id)).unwrap();
    // MemStorage lets the later append win on equal timestamps, like the block listed last.
    assert_same_data(&c, &mem_of(&[&base, &ooo]));
    // Listed the other way round, the older block's values win.
    let meta = compact(dir.path(), &[&b, &a], 1).unwrap();
    let d = Block::open(&dir.path().join(&meta.block_id)).unwrap();
    assert_same_data(&d, &mem_of(&[&ooo, &base]));
    // Chunks stay within the packed limit after re-chunking.
    for id in 0..d.num_series() {
        for r in d.chunk_refs(id) {
            assert!(d.decode_chunk(r).unwrap().len() <= crate::chunk::PACKED_MAX_SAMPLES);
        }
    }
}

fn meta_at(id: &str, min: i64, max: i64) -> BlockMeta {
    BlockMeta {
        format_version: FORMAT_VERSION,
        block_id: id.into(),
        min_time: min,
        max_time: max,
        num_series: 1,
        num_chunks: 1,
        num_samples: 1,
        index_bytes: 1,
        chunk_bytes: 1,
        level: 0,
        sources: vec![],
    }
}

#[test]
fn planner_prefers_overlaps_then_closed_ranges() {
    const H: i64 = 3_600_000;
    let ranges = [2 * H, 6 * H, 24 * H];
    let b = |id: &str, from: i64| meta_at(id, from * H, (from + 2) * H - 1);
    // Three 2h blocks fill [0, 6h); a later block closes that range.
    let metas = vec![b("a", 0), b("b", 2), b("c", 4), b("d", 6)];
    assert_eq!(plan_compaction(&metas, &ranges), vec!["a", "b", "c"]);
    // Still open: nothing after the range.
    assert!(plan_compaction(&metas[..3], &ranges).is_empty());
    // An overlapping (out-of-order) block is merged first, in the given order.
    let mut with_ooo = metas.clone();
    with_ooo.insert(0, meta_at("ooo", 3 * H, 3 * H + 10));
    assert_eq!(plan_compaction(&with_ooo, &ranges), vec!["ooo", "b"]);
    // A compacted 6h block and two 2h ones: the next 6h range is merged once closed.
    let metas = vec![meta_at("x", 0, 6 * H - 1), b("d", 6), b("e", 8), b("f", 12)];
    assert_eq!(plan_compaction(&metas, &ranges), vec!["d", "e"]);
    // Blocks crossing a range boundary are not grouped into it.
    let metas = vec![meta_at("y", 5 * H, 7 * H - 1), b("z", 7), b("w", 13)];
    assert_eq!(plan_compaction(&metas, &ranges), Vec::<String>::new());
    assert!(plan_compaction(&[], &ranges).is_empty());
}

/// Realistic scrape data: 1000 series, 2 h at 15 s (aligned scrapes), a mix typical of a
/// node/app exporter: constant gauges (`up`, `*_info`, limits), rarely changing counters
/// (errors, restarts), busy integer counters (requests, bytes) and slowly moving integer
/// gauges (goroutines, open fds, memory in pages).
fn realistic(rng: &mut Rng) -> Vec<Series> {
    let t0 = 1_700_000_000_000 - 1_700_000_000_000 % 7_200_000;
    let mut out = Vec::new();
    for i in 0..1000u64 {
        let kind = i % 10;
        let name = [
            "up",
            "build_info",
            "limit_bytes",
            "errors_total",
            "restarts_total",
            "errors_total",
            "requests_total",
            "sent_bytes_total",
            "goroutines",
            "open_fds",
        ][kind as usize];
        let labels = l(&[
            ("__name__", name),
            ("job", &format!("job-{}", i % 7)),
            ("instance", &format!("10.1.{}.{}:8080", i / 100, i % 100)),
        ]);
        let mut v = rng.below(1000) as f64;
        let samples = (0..480)
            .map(|k| {
                match kind {
                    0..=2 => {}
                    3..=5 => v += if rng.chance(0.02) { 1.0 } else { 0.0 },
                    6 => v += rng.below(8) as f64,
                    7 => v += (rng.below(4) * 512) as f64,
                    _ => {
                        v += if rng.chance(0.1) {
                            rng.below(3) as f64 - 1.0
                        } else {
                            0.0
                        }
                    }
                }
                (t0 + k * 15_000, v)
            })
            .collect();
        out.push((labels, samples));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn bytes_per_sample_of_realistic_series() {
    let dir = tempfile::tempdir().unwrap();
    let series = realistic(&mut Rng(1));
    let block = write(dir.path(), &series);
    let m = block.meta();
    assert_eq!((m.num_series, m.num_samples), (1000, 480_000));
    let per = |b: u64| b as f64 / m.num_samples as f64;
    println!(
        "block of 1000 series x 2h @15s: {} samples, chunks {} B ({:.3} B/sample), index {} B ({:.3} B/sample), total {:.3} B/sample, index in memory ~{} B",
        m.num_samples,
        m.chunk_bytes,
        per(m.chunk_bytes),
        m.index_bytes,
        per(m.index_bytes),
        per(block.size_bytes()),
        block.index_heap_bytes()
    );
    assert!(
        per(block.size_bytes()) <= 0.9,
        "{:.3} B/sample",
        per(block.size_bytes())
    );
    assert_same_data(&block, &mem_of(&[&series]));
}

// ---- native histograms ----

use crate::chunk::histogram_testing::counter_histogram;
use crate::chunk::{Sample, SampleValue};

/// A series alternating runs of histograms, floats and stale markers.
fn mixed_samples(t0: i64, n: u32, step: i64) -> Vec<Sample> {
    (0..n)
        .map(|i| {
            let t = t0 + i64::from(i) * step;
            let v = match i % 50 {
                0..=29 => SampleValue::Histogram(Box::new(counter_histogram(i, i % 200 > 150))),
                30 => SampleValue::Float(f64::from_bits(STALE_NAN_BITS)),
                _ => SampleValue::Float(f64::from(i)),
            };
            (t, v)
        })
        .collect()
}

fn mem_of_values(sets: &[&[(Labels, Vec<Sample>)]]) -> MemStorage {
    let mut m = MemStorage::new();
    for set in sets {
        for (labels, samples) in *set {
            for (t, v) in samples {
                match v {
                    SampleValue::Float(f) => m.append(labels.clone(), *t, *f),
                    SampleValue::Histogram(h) => {
                        m.append_histogram(labels.clone(), *t, (**h).clone())
                    }
                }
            }
        }
    }
    m
}

fn histogram_block(parent: &Path, series: &[(Labels, Vec<Sample>)]) -> Block {
    let mut input = BlockInput::new();
    for (labels, samples) in series {
        input.add_sample_values(labels.clone(), samples).unwrap();
    }
    let meta = write_block(parent, input).unwrap();
    Block::open(&parent.join(&meta.block_id)).unwrap()
}

/// A series' floats and histograms as `(t, bits or fingerprint)`.
type SeriesFps = (Labels, Vec<(i64, u64)>, Vec<(i64, u64)>);

/// Bit-exact comparison of everything a selection returns, histograms included.
fn fps(v: Vec<SeriesData>) -> Vec<SeriesFps> {
    v.into_iter()
        .map(|s| {
            let hs = s
                .histograms
                .iter()
                .map(|(t, h)| (*t, crate::chunk::histogram_fingerprint(h)))
                .collect();
            let fs = s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
            (s.labels, fs, hs)
        })
        .collect()
}

#[test]
fn histogram_chunks_write_read_and_compact() {
    let dir = tempfile::tempdir().unwrap();
    let a = l(&[("__name__", "lat"), ("job", "a")]);
    let b = l(&[("__name__", "lat"), ("job", "b")]);
    let base = vec![
        (a.clone(), mixed_samples(0, 400, 15_000)),
        (b.clone(), mixed_samples(7, 130, 15_000)),
    ];
    let block = histogram_block(dir.path(), &base);
    let mem = mem_of_values(&[&base]);
    let all = sel(r#"{__name__="lat"}"#);
    for (start, end) in [
        (i64::MIN, i64::MAX),
        (100_000, 1_000_000),
        (450_000, 450_000),
    ] {
        assert_eq!(
            fps(block.select(&all, start, end).unwrap()),
            fps(mem.select(&all, start, end)),
            "{start}..{end}"
        );
    }
    assert_eq!(block.meta().num_samples, 530);
    assert!(block.num_series() == 2);
    // Out-of-order data on top: new timestamps and equal ones of either kind.
    let ooo: Vec<(Labels, Vec<Sample>)> = vec![(
        a.clone(),
        (0..40)
            .map(|i| {
                let t = i64::from(i) * 150_000 + if i % 2 == 0 { 0 } else { 1 };
                let v = if i % 3 == 0 {
                    SampleValue::Float(-1.0)
                } else {
                    SampleValue::Histogram(Box::new(counter_histogram(1000 + i, false)))
                };
                (t, v)
            })
            .collect(),
    )];
    let over = histogram_block(dir.path(), &ooo);
    let meta = compact(dir.path(), &[&block, &over], 1).unwrap();
    let c = Block::open(&dir.path().join(&meta.block_id)).unwrap();
    assert_eq!(
        fps(c.select(&all, i64::MIN, i64::MAX).unwrap()),
        fps(mem_of_values(&[&base, &ooo]).select(&all, i64::MIN, i64::MAX))
    );
    // The series listing sees histogram series too.
    assert_eq!(
        c.series(std::slice::from_ref(&all), 0, 10).unwrap(),
        vec![a, b]
    );
}
