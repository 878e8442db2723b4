//! Block tests on real files in temp directories.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::tags::{MAX_KEYS_PER_SCOPE, MAX_TAG_LEN, MAX_VALUES_PER_KEY};
use super::*;

/// splitmix64: deterministic test randomness without a dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn id(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        id
    }
}

/// Somewhat compressible payload so pages look like real data.
fn payload(rng: &mut Rng, len: usize) -> Bytes {
    let word = rng.next_u64().to_le_bytes();
    (0..len)
        .map(|i| {
            if i % 7 == 0 {
                rng.next_u64() as u8
            } else {
                word[i % 8]
            }
        })
        .collect::<Vec<u8>>()
        .into()
}

/// `n` records with distinct random IDs, sorted, payloads up to `max_len`.
fn records(seed: u64, n: usize, max_len: usize) -> Vec<OwnedTraceRecord> {
    let mut rng = Rng(seed);
    let mut out: Vec<OwnedTraceRecord> = (0..n)
        .map(|_| {
            let start_ns = 1_700_000_000_000_000_000 + rng.below(3_600_000_000_000);
            let len = rng.below(max_len as u64 + 1) as usize;
            OwnedTraceRecord {
                trace_id: rng.id(),
                start_ns,
                end_ns: start_ns + rng.below(10_000_000_000),
                span_count: 1 + rng.below(50) as u32,
                data: payload(&mut rng, len),
            }
        })
        .collect();
    out.sort_by_key(|r| r.trace_id);
    out.dedup_by_key(|r| r.trace_id);
    out
}

fn small_pages() -> BlockOptions {
    BlockOptions {
        page_bytes: 4 << 10,
        ..BlockOptions::default()
    }
}

fn write_block(
    root: &Path,
    opts: &BlockOptions,
    recs: &[OwnedTraceRecord],
) -> (BlockMeta, PathBuf) {
    let mut w = BlockWriter::create(root, "tenant-a", opts).unwrap();
    for r in recs {
        w.append(&r.as_record()).unwrap();
    }
    let meta = w.finish(BlockMetaExtra::default()).unwrap();
    let dir = root.join("tenant-a").join(&meta.block_id);
    (meta, dir)
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// Copies a block into a fresh parent (same dir name, so it still opens) so
/// each corruption case starts from pristine files.
fn copy_block(src: &Path, scratch: &Path) -> PathBuf {
    let dst = scratch.join(src.file_name().unwrap());
    let _ = std::fs::remove_dir_all(&dst);
    std::fs::create_dir_all(&dst).unwrap();
    for f in [DATA_FILE, INDEX_FILE, BLOOM_FILE, META_FILE] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    dst
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn roundtrip_find_every_id_and_iterate() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(1, 3000, 2000);
    let (meta, dir) = write_block(tmp.path(), &small_pages(), &recs);
    let reader = BlockReader::open(&dir).unwrap();
    assert!(
        reader.pages().len() > 100,
        "expected many pages, got {}",
        reader.pages().len()
    );
    assert_eq!(reader.meta(), &meta);
    for r in &recs {
        assert!(reader.may_contain(&r.trace_id));
        assert_eq!(reader.find(&r.trace_id).unwrap().as_ref(), Some(r));
    }
    let all: Vec<_> = reader.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(all, recs);
}

#[test]
fn meta_describes_the_block() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(2, 500, 3000);
    let mut w = BlockWriter::create(tmp.path(), "tenant-a", &small_pages()).unwrap();
    let block_id = w.block_id().to_owned();
    for r in &recs {
        w.append(&r.as_record()).unwrap();
    }
    assert_eq!(w.trace_count(), recs.len() as u64);
    let mut tags = TagSummary::default();
    tags.add("resource", "service.name", "checkout", "string");
    let extra = BlockMetaExtra {
        level: 2,
        wal_checkpoint: Some(42),
        compacted_from: vec!["A".into(), "B".into()],
        tags: tags.clone(),
    };
    let meta = w.finish(extra).unwrap();
    let dir = tmp.path().join("tenant-a").join(&block_id);
    assert_eq!(meta.block_id, block_id);
    assert_eq!(meta.format_version, FORMAT_VERSION);
    assert_eq!(meta.tenant, "tenant-a");
    assert_eq!(meta.trace_count, recs.len() as u64);
    assert_eq!(
        meta.span_count,
        recs.iter().map(|r| u64::from(r.span_count)).sum::<u64>()
    );
    assert_eq!(
        meta.min_start_ns,
        recs.iter().map(|r| r.start_ns).min().unwrap()
    );
    assert_eq!(
        meta.max_end_ns,
        recs.iter().map(|r| r.end_ns).max().unwrap()
    );
    assert_eq!(meta.data_bytes, file_len(&dir.join(DATA_FILE)));
    let total: u64 = [DATA_FILE, INDEX_FILE, BLOOM_FILE, META_FILE]
        .iter()
        .map(|f| file_len(&dir.join(f)))
        .sum();
    assert_eq!(meta.total_bytes, total);
    assert_eq!((meta.level, meta.wal_checkpoint), (2, Some(42)));
    assert_eq!(meta.compacted_from, vec!["A".to_string(), "B".to_string()]);
    assert_eq!(meta.tags, tags);
    assert_eq!(BlockReader::open(&dir).unwrap().meta(), &meta);
}

#[test]
fn absent_ids_and_bloom_false_positives_return_none() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(3, 5000, 64);
    let (_, dir) = write_block(tmp.path(), &small_pages(), &recs);
    let reader = BlockReader::open(&dir).unwrap();
    let mut rng = Rng(999);
    let mut false_positives = 0;
    let probes = 20_000;
    for _ in 0..probes {
        let id = rng.id();
        if recs.binary_search_by_key(&id, |r| r.trace_id).is_ok() {
            continue;
        }
        if reader.may_contain(&id) {
            false_positives += 1;
        }
        assert_eq!(reader.find(&id).unwrap(), None);
    }
    // Expect ~1%; allow generous slack for randomness.
    assert!(false_positives > 0, "no false positive exercised");
    assert!(
        false_positives < probes * 3 / 100,
        "fp rate too high: {false_positives}/{probes}"
    );
    // Below the first and above the last ID: rejected by the page ranges.
    assert!(!reader.may_contain(&[0; 16]) || recs[0].trace_id == [0; 16]);
    assert_eq!(reader.find(&[0xff; 16]).unwrap(), None);
}

#[test]
fn iter_overlapping_filters_and_skips_pages() {
    let tmp = tempfile::tempdir().unwrap();
    // Times increase with the ID, so pages have disjoint time ranges.
    let mut recs = records(4, 2000, 500);
    for (i, r) in recs.iter_mut().enumerate() {
        r.start_ns = i as u64 * 1000;
        r.end_ns = r.start_ns + 1500;
    }
    let (_, dir) = write_block(tmp.path(), &small_pages(), &recs);
    let reader = BlockReader::open(&dir).unwrap();
    let (qs, qe) = (500_000, 700_000);
    let expected: Vec<_> = recs
        .iter()
        .filter(|r| r.overlaps(qs, qe))
        .cloned()
        .collect();
    let got: Vec<_> = reader
        .iter_overlapping(qs, qe)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, expected);
    assert_eq!(reader.iter_overlapping(u64::MAX - 1, u64::MAX).count(), 0);

    // Destroy the first page: a query that doesn't overlap it must not read it.
    let first = reader.pages()[0];
    assert!(first.max_end_ns < qs);
    flip_byte(&dir.join(DATA_FILE), (first.offset + 30) as usize);
    let got: Vec<_> = reader
        .iter_overlapping(qs, qe)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, expected);
}

#[test]
fn corrupt_data_byte_yields_checksum_error() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(5, 1000, 1000);
    let (_, dir) = write_block(tmp.path(), &small_pages(), &recs);
    let reader = BlockReader::open(&dir).unwrap();
    let victim = reader.pages()[3];
    flip_byte(
        &dir.join(DATA_FILE),
        (victim.offset + u64::from(victim.len) / 2) as usize,
    );
    let mut checked = 0;
    for r in &recs {
        let in_victim = r.trace_id >= victim.first_id && r.trace_id <= victim.last_id;
        match reader.find(&r.trace_id) {
            Err(BlockError::ChecksumMismatch { path, offset, .. }) if in_victim => {
                assert_eq!(offset, victim.offset);
                assert!(path.ends_with(DATA_FILE));
                checked += 1;
            }
            Ok(Some(found)) if !in_victim => assert_eq!(&found, r),
            other => panic!("unexpected result for page member={in_victim}: {other:?}"),
        }
    }
    assert_eq!(checked, victim.record_count);
    // Iteration reports the bad page once and carries on with the rest.
    let results: Vec<_> = reader.iter().collect();
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        recs.len() - victim.record_count as usize
    );
    assert!(results
        .iter()
        .find_map(|r| r.as_ref().err())
        .unwrap()
        .is_corruption());
}

#[test]
fn corrupt_page_header_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(6, 200, 1000);
    let (_, dir) = write_block(tmp.path(), &small_pages(), &recs);
    let scratch = tmp.path().join("scratch");
    let page = BlockReader::open(&dir).unwrap().pages()[1];
    // Every header byte: magic, codec, lengths, count, crc.
    for i in 0..24 {
        let copy = copy_block(&dir, &scratch);
        flip_byte(&copy.join(DATA_FILE), page.offset as usize + i);
        let reader = BlockReader::open(&copy).unwrap();
        let err = reader.find(&page.first_id).unwrap_err();
        assert!(err.is_corruption(), "byte {i}: {err}");
    }
}

#[test]
fn any_flipped_byte_in_index_bloom_or_data_header_fails_open() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(7, 300, 300);
    let (_, dir) = write_block(tmp.path(), &small_pages(), &recs);
    let scratch = tmp.path().join("scratch");
    for (file, len) in [
        (INDEX_FILE, file_len(&dir.join(INDEX_FILE)) as usize),
        (BLOOM_FILE, file_len(&dir.join(BLOOM_FILE)) as usize),
        (DATA_FILE, 8),
    ] {
        for at in 0..len {
            let copy = copy_block(&dir, &scratch);
            flip_byte(&copy.join(file), at);
            let err = BlockReader::open(&copy).expect_err(file);
            assert!(err.is_corruption() || matches!(err, BlockError::UnsupportedVersion { .. }));
        }
    }
}

#[test]
fn truncated_files_fail_open_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(8, 300, 300);
    let (_, dir) = write_block(tmp.path(), &small_pages(), &recs);
    let scratch = tmp.path().join("scratch");
    for file in [DATA_FILE, INDEX_FILE, BLOOM_FILE, META_FILE] {
        let len = file_len(&dir.join(file));
        for cut in [0, 1, 7, 8, 20, len / 2, len - 5, len - 1] {
            let copy = copy_block(&dir, &scratch);
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(copy.join(file))
                .unwrap();
            f.set_len(cut).unwrap();
            let err = BlockReader::open(&copy).expect_err(file);
            assert!(err.is_corruption(), "{file} cut at {cut}: {err}");
        }
    }
    // A missing file is an I/O error naming it.
    let copy = copy_block(&dir, &scratch);
    std::fs::remove_file(copy.join(BLOOM_FILE)).unwrap();
    match BlockReader::open(&copy) {
        Err(BlockError::Io { path, .. }) => assert!(path.ends_with(BLOOM_FILE)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_format_version_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, dir) = write_block(tmp.path(), &small_pages(), &records(9, 10, 10));
    let meta_path = dir.join(META_FILE);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    json["format_version"] = 2.into();
    // A future version may change anything else too.
    json["trace_count"] = "lots".into();
    std::fs::write(&meta_path, serde_json::to_vec(&json).unwrap()).unwrap();
    match BlockReader::open(&dir) {
        Err(
            e @ BlockError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            },
        ) => {
            assert!(
                e.to_string().contains("unsupported format version 2"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn traces_larger_than_a_page() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = BlockOptions {
        page_bytes: 1024,
        ..BlockOptions::default()
    };
    let mut rng = Rng(10);
    let sizes = [100, 10_000, 50, 60, 3 << 20, 0, 1024, 1024 - 40, 2000];
    let mut recs: Vec<OwnedTraceRecord> = sizes
        .iter()
        .map(|&len| OwnedTraceRecord {
            trace_id: rng.id(),
            start_ns: 1,
            end_ns: 2,
            span_count: 3,
            data: payload(&mut rng, len),
        })
        .collect();
    recs.sort_by_key(|r| r.trace_id);
    let (_, dir) = write_block(tmp.path(), &opts, &recs);
    let reader = BlockReader::open(&dir).unwrap();
    for r in &recs {
        assert_eq!(reader.find(&r.trace_id).unwrap().as_ref(), Some(r));
    }
    let all: Vec<_> = reader.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(all, recs);
    // Any page holding more than one record stays within the target.
    for (i, p) in reader.pages().iter().enumerate() {
        let page = reader.read_page(i).unwrap();
        let plain: usize = page.iter().map(|r| 40 + r.data.len()).sum();
        assert!(
            p.record_count == 1 || plain <= opts.page_bytes,
            "page {i}: {plain} bytes"
        );
    }
    assert!(reader.read_page(reader.pages().len()).is_err());
}

#[test]
fn list_blocks_returns_finished_blocks_and_removes_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    assert!(list_blocks(root, "tenant-a").unwrap().is_empty());
    let (_, b1) = write_block(root, &small_pages(), &records(11, 10, 10));
    let (_, b2) = write_block(root, &small_pages(), &records(12, 10, 10));
    let stale = root.join("tenant-a").join(".tmp-01STALE");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join(DATA_FILE), b"half").unwrap();
    // A live writer's tmp dir must survive a concurrent listing.
    let mut live = BlockWriter::create(root, "tenant-a", &small_pages()).unwrap();
    live.append(&records(13, 1, 10)[0].as_record()).unwrap();
    let live_tmp = root
        .join("tenant-a")
        .join(format!(".tmp-{}", live.block_id()));
    assert!(live_tmp.is_dir());

    let mut expected = vec![b1, b2];
    expected.sort();
    assert_eq!(list_blocks(root, "tenant-a").unwrap(), expected);
    assert!(!stale.exists());
    assert!(live_tmp.is_dir());
    let meta = live.finish(BlockMetaExtra::default()).unwrap();
    assert!(!live_tmp.exists());
    assert_eq!(list_blocks(root, "tenant-a").unwrap().len(), 3);
    assert!(root
        .join("tenant-a")
        .join(meta.block_id)
        .join(META_FILE)
        .is_file());
    assert!(list_blocks(root, "other").unwrap().is_empty());
    assert!(list_blocks(root, "../x").is_err());
}

#[test]
fn abort_drop_and_failed_finish_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let recs = records(14, 50, 100);
    let mut w = BlockWriter::create(root, "tenant-a", &small_pages()).unwrap();
    for r in &recs {
        w.append(&r.as_record()).unwrap();
    }
    w.abort();
    drop(BlockWriter::create(root, "tenant-a", &small_pages()).unwrap());
    let empty = BlockWriter::create(root, "tenant-a", &small_pages()).unwrap();
    assert!(matches!(
        empty.finish(BlockMetaExtra::default()),
        Err(BlockError::EmptyBlock)
    ));
    let left: Vec<_> = std::fs::read_dir(root.join("tenant-a")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "strictly increasing"))]
fn out_of_order_append_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(15, 2, 10);
    let mut w = BlockWriter::create(tmp.path(), "tenant-a", &small_pages()).unwrap();
    w.append(&recs[1].as_record()).unwrap();
    // Release builds: an error, and the writer stays usable.
    assert!(matches!(
        w.append(&recs[0].as_record()),
        Err(BlockError::OutOfOrder { .. })
    ));
    assert!(matches!(
        w.append(&recs[1].as_record()),
        Err(BlockError::OutOfOrder { .. })
    ));
    assert_eq!(w.finish(BlockMetaExtra::default()).unwrap().trace_count, 1);
}

#[test]
fn invalid_arguments_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    for tenant in ["", ".", "..", "a/b", "a\\b", "a\0b"] {
        assert!(matches!(
            BlockWriter::create(tmp.path(), tenant, &BlockOptions::default()),
            Err(BlockError::InvalidArgument(_))
        ));
    }
    for opts in [
        BlockOptions {
            page_bytes: 0,
            ..Default::default()
        },
        BlockOptions {
            page_bytes: MAX_PAGE_SIZE + 1,
            ..Default::default()
        },
        BlockOptions {
            zstd_level: 1000,
            ..Default::default()
        },
    ] {
        assert!(BlockWriter::create(tmp.path(), "t", &opts).is_err());
    }
    let mut w = BlockWriter::create(tmp.path(), "t", &BlockOptions::default()).unwrap();
    let huge = vec![0u8; MAX_TRACE_BYTES + 1];
    let rec = TraceRecord {
        trace_id: [1; 16],
        start_ns: 0,
        end_ns: 0,
        span_count: 1,
        data: &huge,
    };
    assert!(matches!(
        w.append(&rec),
        Err(BlockError::TraceTooLarge { .. })
    ));
}

#[test]
fn merge_records_concatenates() {
    let a = OwnedTraceRecord {
        trace_id: [7; 16],
        start_ns: 10,
        end_ns: 20,
        span_count: 2,
        data: Bytes::from_static(b"aa"),
    };
    let b = OwnedTraceRecord {
        trace_id: [7; 16],
        start_ns: 5,
        end_ns: 15,
        span_count: 3,
        data: Bytes::from_static(b"bbb"),
    };
    let m = merge_records(a.clone(), b);
    assert_eq!((m.start_ns, m.end_ns, m.span_count), (5, 20, 5));
    assert_eq!(&m.data[..], b"aabbb");
    let empty = OwnedTraceRecord {
        data: Bytes::new(),
        ..a.clone()
    };
    assert_eq!(merge_records(empty, a.clone()).data, a.data);
}

#[test]
fn block_ids_are_ulids_sorted_by_time() {
    let mut ids: Vec<String> = (0..10_000).map(|_| new_block_id()).collect();
    for id in &ids {
        assert_eq!(id.len(), 26);
        assert!(id
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    }
    let first = ids[0].clone();
    std::thread::sleep(std::time::Duration::from_millis(3));
    let later = new_block_id();
    assert!(later > first);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10_000);
}

#[test]
fn reader_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<BlockReader>();
    assert_send::<BlockWriter>();
    assert_send::<BlockIter<'static>>();

    let tmp = tempfile::tempdir().unwrap();
    let recs = Arc::new(records(16, 1000, 500));
    let (_, dir) = write_block(tmp.path(), &small_pages(), &recs);
    let reader = Arc::new(BlockReader::open(&dir).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (reader, recs) = (reader.clone(), recs.clone());
            std::thread::spawn(move || {
                for r in recs.iter().skip(t).step_by(4) {
                    assert_eq!(reader.find(&r.trace_id).unwrap().as_ref(), Some(r));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn tag_summary_caps_and_merge() {
    let mut t = TagSummary::default();
    for i in 0..MAX_VALUES_PER_KEY + 10 {
        t.add("span", "http.url", &format!("/v{i}"), "string");
    }
    let url = t.values("span", "http.url").unwrap();
    assert_eq!(url.values.len(), MAX_VALUES_PER_KEY);
    assert!(url.truncated);
    // Re-adding a kept value is fine and doesn't change anything.
    t.add("span", "http.url", "/v0", "string");
    assert_eq!(
        t.values("span", "http.url").unwrap().values.len(),
        MAX_VALUES_PER_KEY
    );

    for i in 0..MAX_KEYS_PER_SCOPE + 5 {
        t.add("resource", &format!("k{i}"), "1", "int");
    }
    assert_eq!(t.keys("resource").count(), MAX_KEYS_PER_SCOPE);
    t.add("resource", "k0", "true", "bool");
    assert_eq!(t.values("resource", "k0").unwrap().values.len(), 2);

    let long = "x".repeat(MAX_TAG_LEN + 1);
    t.add("span", "short", &long, "string");
    assert!(t.values("span", "short").unwrap().truncated);
    t.add("span", &long, "v", "string");
    assert!(t.values("span", &long).is_none());

    let mut other = TagSummary::default();
    other.add("span", "http.method", "GET", "string");
    other.add("span", "http.url", "/new", "string");
    let partial = TagValues {
        truncated: true,
        ..TagValues::default()
    };
    other
        .scopes
        .get_mut("span")
        .unwrap()
        .insert("db.statement".into(), partial);
    t.merge(&other);
    assert_eq!(
        t.values("span", "http.method").unwrap().values["GET"],
        "string"
    );
    assert!(!t
        .values("span", "http.url")
        .unwrap()
        .values
        .contains_key("/new"));
    assert!(t.values("span", "db.statement").unwrap().truncated);
    assert!(!t.values("span", "http.method").unwrap().truncated);

    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(serde_json::from_str::<TagSummary>(&json).unwrap(), t);
    assert!(TagSummary::new().is_empty());
}

/// `cargo test -p weft-traces --release block::tests::find_latency -- --ignored --nocapture`
#[test]
#[ignore = "benchmark"]
fn find_latency() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = records(17, 100_000, 4000);
    let t0 = std::time::Instant::now();
    let (meta, dir) = write_block(tmp.path(), &BlockOptions::default(), &recs);
    let write = t0.elapsed();
    let reader = BlockReader::open(&dir).unwrap();
    let mut rng = Rng(18);
    let mut lat: Vec<_> = (0..20_000)
        .map(|_| {
            let r = &recs[rng.below(recs.len() as u64) as usize];
            let t = std::time::Instant::now();
            let found = reader.find(&r.trace_id).unwrap();
            let dt = t.elapsed();
            assert!(found.is_some());
            dt
        })
        .collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let t = std::time::Instant::now();
    let n = reader.iter().count();
    println!(
        "{} traces, {} pages, data {} MiB (raw ~{} MiB), write {write:?}, iter {:?}; find p50 {:?} p99 {:?} max {:?}",
        meta.trace_count,
        reader.pages().len(),
        meta.data_bytes >> 20,
        recs.iter().map(|r| r.data.len() + 40).sum::<usize>() >> 20,
        t.elapsed(),
        pct(0.5),
        pct(0.99),
        lat[lat.len() - 1],
    );
    assert_eq!(n, recs.len());
}
