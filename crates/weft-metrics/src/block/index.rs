//! The `index` file: encoding from the writer's series list, strict decoding into the compact
//! in-memory form readers query.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use weft_core::labels::Labels;

use super::format::{
    check_file_header, file_header, put_section, put_uvarint, put_varint, take_section, Cursor,
    CHUNK_CRC_LEN, FILE_HEADER_LEN, INDEX_FILE, INDEX_MAGIC, MAX_CHUNK_BYTES, MAX_SYMBOL_BYTES,
};
use super::postings::LabelIndex;
use super::BlockError;

/// Where one chunk lives and which time it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    /// First sample time.
    pub min_time: i64,
    /// Last sample time (inclusive).
    pub max_time: i64,
    /// Offset of the chunk bytes in `chunks`.
    pub offset: u64,
    /// Length of the chunk bytes (the 4-byte CRC follows).
    pub len: u32,
}

impl ChunkMeta {
    /// Whether the chunk's time range intersects `[start, end]`.
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        self.min_time <= end && self.max_time >= start
    }
}

/// postings of one label name: (value symbol, start, end) into [`BlockIndex::flat`].
type ValuePostings = Vec<(u32, u32, u32)>;
/// Name → value → ids, as decoded or as derived from the series' labels.
type PostingsMap = BTreeMap<u32, BTreeMap<u32, Vec<u32>>>;

/// The decoded index, kept in memory: labels as symbol references, chunk references and
/// postings in flat vectors (a few allocations regardless of the series count).
#[derive(Debug, Default)]
pub(crate) struct BlockIndex {
    symbols: Vec<Box<str>>,
    /// (name, value) symbol pairs of all series back to back.
    label_refs: Vec<(u32, u32)>,
    /// Series `i`'s labels are `label_refs[label_start[i]..label_start[i + 1]]`.
    label_start: Vec<u32>,
    chunks: Vec<ChunkMeta>,
    /// Series `i`'s chunks are `chunks[chunk_start[i]..chunk_start[i + 1]]`.
    chunk_start: Vec<u32>,
    postings: BTreeMap<u32, ValuePostings>,
    flat: Vec<u32>,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    /// Size the `chunks` file must have.
    pub(crate) chunks_file_len: u64,
}

impl BlockIndex {
    /// Number of series.
    pub(crate) fn num_series(&self) -> u32 {
        self.label_start.len().saturating_sub(1) as u32
    }

    /// Number of chunks.
    pub(crate) fn num_chunks(&self) -> usize {
        self.chunks.len()
    }

    /// The chunk references of series `id`, in time order.
    pub(crate) fn chunks(&self, id: u32) -> &[ChunkMeta] {
        let i = id as usize;
        &self.chunks[self.chunk_start[i] as usize..self.chunk_start[i + 1] as usize]
    }

    /// The labels of series `id`.
    pub(crate) fn labels(&self, id: u32) -> Labels {
        let i = id as usize;
        let refs = &self.label_refs[self.label_start[i] as usize..self.label_start[i + 1] as usize];
        let pairs = refs.iter().map(|&(n, v)| (self.symbol(n), self.symbol(v)));
        // Validated at open: names ascending and unique, values non-empty.
        let labels = Labels::from_pairs(pairs).unwrap_or_default();
        debug_assert_eq!(labels.len(), refs.len());
        labels
    }

    fn symbol(&self, r: u32) -> &str {
        &self.symbols[r as usize]
    }

    fn symbol_ref(&self, s: &str) -> Option<u32> {
        self.symbols
            .binary_search_by(|x| x.as_ref().cmp(s))
            .ok()
            .map(|i| i as u32)
    }

    /// Approximate heap bytes held (for `size_bytes` style reporting and tests).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.symbols.iter().map(|s| s.len() + 16).sum::<usize>()
            + self.label_refs.len() * 8
            + self.label_start.len() * 4
            + self.chunks.len() * std::mem::size_of::<ChunkMeta>()
            + self.chunk_start.len() * 4
            + self
                .postings
                .values()
                .map(|v| v.len() * 12 + 32)
                .sum::<usize>()
            + self.flat.len() * 4
    }
}

impl LabelIndex for BlockIndex {
    fn postings(&self, name: &str, value: &str) -> &[u32] {
        let (Some(n), Some(v)) = (self.symbol_ref(name), self.symbol_ref(value)) else {
            return &[];
        };
        let Some(values) = self.postings.get(&n) else {
            return &[];
        };
        match values.binary_search_by_key(&v, |e| e.0) {
            Ok(i) => &self.flat[values[i].1 as usize..values[i].2 as usize],
            Err(_) => &[],
        }
    }

    fn values<'a>(&'a self, name: &str) -> Box<dyn Iterator<Item = (&'a str, &'a [u32])> + 'a> {
        let values = self.symbol_ref(name).and_then(|n| self.postings.get(&n));
        Box::new(
            values
                .into_iter()
                .flatten()
                .map(move |&(v, s, e)| (self.symbol(v), &self.flat[s as usize..e as usize])),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Encoding

/// Encodes the whole `index` file for `series` (sorted by labels, each with its chunks in
/// time order and the offsets they got in `chunks`).
pub(crate) fn encode(series: &[(Labels, Vec<ChunkMeta>)]) -> Result<Vec<u8>, BlockError> {
    let symbols: Vec<&str> = series
        .iter()
        .flat_map(|(l, _)| l.iter().flat_map(|l| [l.name.as_str(), l.value.as_str()]))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let refs: HashMap<&str, u32> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i as u32))
        .collect();
    let sym = |s: &str| refs.get(s).copied().unwrap_or(0);
    let mut out = file_header(INDEX_MAGIC).to_vec();
    put_section(&mut out, &encode_symbols(&symbols))?;
    put_section(&mut out, &encode_series(series, &sym))?;
    put_section(&mut out, &encode_postings(series, &sym))?;
    Ok(out)
}

fn encode_symbols(symbols: &[&str]) -> Vec<u8> {
    let mut b = Vec::new();
    put_uvarint(&mut b, symbols.len() as u64);
    for s in symbols {
        put_uvarint(&mut b, s.len() as u64);
        b.extend_from_slice(s.as_bytes());
    }
    b
}

fn encode_series(series: &[(Labels, Vec<ChunkMeta>)], sym: &dyn Fn(&str) -> u32) -> Vec<u8> {
    let base = series
        .iter()
        .filter_map(|(_, c)| c.first().map(|c| c.min_time))
        .min()
        .unwrap_or(0);
    let mut b = Vec::new();
    put_varint(&mut b, base);
    put_uvarint(&mut b, series.len() as u64);
    for (labels, chunks) in series {
        put_uvarint(&mut b, labels.len() as u64);
        for l in labels.iter() {
            put_uvarint(&mut b, u64::from(sym(&l.name)));
            put_uvarint(&mut b, u64::from(sym(&l.value)));
        }
        put_uvarint(&mut b, chunks.len() as u64);
        let mut prev = base;
        for c in chunks {
            // The writer validated the order, so the gaps are non-negative.
            debug_assert!(c.min_time >= prev && c.max_time >= c.min_time);
            put_uvarint(&mut b, c.min_time.wrapping_sub(prev) as u64);
            put_uvarint(&mut b, c.max_time.wrapping_sub(c.min_time) as u64);
            put_uvarint(&mut b, u64::from(c.len));
            prev = c.max_time;
        }
    }
    b
}

/// Postings derived from labels given as symbol references.
fn postings_of<'a>(series: impl Iterator<Item = &'a [(u32, u32)]>) -> PostingsMap {
    let mut map = PostingsMap::new();
    for (id, refs) in series.enumerate() {
        for &(n, v) in refs {
            map.entry(n)
                .or_default()
                .entry(v)
                .or_default()
                .push(id as u32);
        }
    }
    map
}

fn encode_postings(series: &[(Labels, Vec<ChunkMeta>)], sym: &dyn Fn(&str) -> u32) -> Vec<u8> {
    let refs: Vec<Vec<(u32, u32)>> = series
        .iter()
        .map(|(l, _)| l.iter().map(|l| (sym(&l.name), sym(&l.value))).collect())
        .collect();
    let map = postings_of(refs.iter().map(Vec::as_slice));
    let mut b = Vec::new();
    put_uvarint(&mut b, map.len() as u64);
    for (name, values) in &map {
        put_uvarint(&mut b, u64::from(*name));
        put_uvarint(&mut b, values.len() as u64);
        for (value, ids) in values {
            put_uvarint(&mut b, u64::from(*value));
            put_uvarint(&mut b, ids.len() as u64);
            let mut prev: Option<u32> = None;
            for &id in ids {
                let delta = match prev {
                    None => id,
                    Some(p) => id - p - 1,
                };
                put_uvarint(&mut b, u64::from(delta));
                prev = Some(id);
            }
        }
    }
    b
}

// ---------------------------------------------------------------------------------------
// Decoding

/// Decodes and validates a whole `index` file.
pub(crate) fn decode(bytes: &[u8]) -> Result<BlockIndex, BlockError> {
    check_file_header(INDEX_FILE, bytes, INDEX_MAGIC)?;
    let mut ix = BlockIndex::default();
    let (mut c, next) = take_section(INDEX_FILE, "symbols", bytes, FILE_HEADER_LEN as usize)?;
    ix.symbols = decode_symbols(&mut c)?;
    let (mut c, next) = take_section(INDEX_FILE, "series", bytes, next)?;
    decode_series(&mut c, &mut ix)?;
    let postings_at = next;
    let (mut c, end) = take_section(INDEX_FILE, "postings", bytes, next)?;
    let decoded = decode_postings(&mut c, &ix)?;
    if end != bytes.len() {
        return Err(BlockError::corrupt(
            INDEX_FILE,
            "postings",
            end as u64,
            format!("{} bytes after the last section", bytes.len() - end),
        ));
    }
    let starts = &ix.label_start;
    let derived = postings_of(
        starts
            .windows(2)
            .map(|w| &ix.label_refs[w[0] as usize..w[1] as usize]),
    );
    if decoded != derived {
        return Err(BlockError::corrupt(
            INDEX_FILE,
            "postings",
            postings_at as u64,
            "postings disagree with the labels of the series section",
        ));
    }
    flatten_postings(&mut ix, decoded);
    Ok(ix)
}

fn decode_symbols(c: &mut Cursor<'_>) -> Result<Vec<Box<str>>, BlockError> {
    let n = c.count("symbol count")?;
    let mut out: Vec<Box<str>> = Vec::with_capacity(n);
    for _ in 0..n {
        let len = c.u32("symbol length")?;
        if len > MAX_SYMBOL_BYTES {
            return Err(c.err(format!("symbol of {len} bytes exceeds the limit")));
        }
        let at = c.offset();
        let s = std::str::from_utf8(c.bytes(len as usize)?)
            .map_err(|e| BlockError::corrupt(INDEX_FILE, "symbols", at, format!("symbol: {e}")))?;
        if out.last().is_some_and(|p| p.as_ref() >= s) {
            return Err(BlockError::corrupt(
                INDEX_FILE,
                "symbols",
                at,
                "symbols not strictly ascending",
            ));
        }
        out.push(s.into());
    }
    c.finish()?;
    Ok(out)
}

fn decode_series(c: &mut Cursor<'_>, ix: &mut BlockIndex) -> Result<(), BlockError> {
    let base = c.varint()?;
    let n = c.count("series count")?;
    if n == 0 || n >= u32::MAX as usize {
        return Err(c.err(format!("series count {n} out of range")));
    }
    ix.min_time = base;
    ix.max_time = i64::MIN;
    ix.chunks_file_len = FILE_HEADER_LEN;
    let mut min_seen = i64::MAX;
    ix.label_start.push(0);
    ix.chunk_start.push(0);
    for _ in 0..n {
        decode_labels(c, ix)?;
        decode_chunks(c, ix, base, &mut min_seen)?;
    }
    c.finish()?;
    if min_seen != base {
        return Err(c.err(format!(
            "base time {base} differs from the earliest chunk start {min_seen}"
        )));
    }
    Ok(())
}

/// Decodes one series' labels, checking order within the series and against the previous
/// series (comparing symbol references compares strings, as symbols are sorted).
fn decode_labels(c: &mut Cursor<'_>, ix: &mut BlockIndex) -> Result<(), BlockError> {
    let at = c.offset();
    let n = c.count("label count")?;
    if n == 0 {
        return Err(c.err("series without labels"));
    }
    let start = ix.label_refs.len();
    let nsym = ix.symbols.len() as u32;
    for _ in 0..n {
        let name = c.u32("name ref")?;
        let value = c.u32("value ref")?;
        if name >= nsym || value >= nsym {
            return Err(c.err(format!("symbol ref out of range ({nsym} symbols)")));
        }
        if ix.symbols[value as usize].is_empty() {
            return Err(c.err("empty label value"));
        }
        if ix.label_refs[start..]
            .last()
            .is_some_and(|&(p, _)| p >= name)
        {
            return Err(c.err("label names not strictly ascending"));
        }
        ix.label_refs.push((name, value));
    }
    // `label_start` ends with the previous series' end (= `start`); the entry before that,
    // if any, is where the previous series begins.
    let prev = match ix.label_start.as_slice() {
        [.., p, _] => Some(*p as usize),
        _ => None,
    };
    if prev.is_some_and(|p| ix.label_refs[p..start] >= ix.label_refs[start..]) {
        return Err(BlockError::corrupt(
            INDEX_FILE,
            "series",
            at,
            "series not strictly ascending by labels",
        ));
    }
    ix.label_start.push(ix.label_refs.len() as u32);
    Ok(())
}

/// Decodes one series' chunk references, deriving each chunk's offset in `chunks`.
fn decode_chunks(
    c: &mut Cursor<'_>,
    ix: &mut BlockIndex,
    base: i64,
    min_seen: &mut i64,
) -> Result<(), BlockError> {
    let n = c.count("chunk count")?;
    if n == 0 {
        return Err(c.err("series without chunks"));
    }
    let mut prev = base;
    for i in 0..n {
        let gap = c.uvarint()?;
        let span = c.uvarint()?;
        let len = c.u32("chunk length")?;
        if i > 0 && gap == 0 {
            return Err(c.err("chunk starts at or before the previous chunk's end"));
        }
        let min_time = add_gap(prev, gap).ok_or_else(|| c.err("chunk min time overflows"))?;
        let max_time = add_gap(min_time, span).ok_or_else(|| c.err("chunk max time overflows"))?;
        if !(3..=MAX_CHUNK_BYTES).contains(&len) {
            return Err(c.err(format!("chunk length {len} out of range")));
        }
        ix.chunks.push(ChunkMeta {
            min_time,
            max_time,
            offset: ix.chunks_file_len,
            len,
        });
        // Bounded: at most u32::MAX chunks of at most 1 MiB + 4 each.
        ix.chunks_file_len += u64::from(len) + CHUNK_CRC_LEN;
        *min_seen = (*min_seen).min(min_time);
        ix.max_time = ix.max_time.max(max_time);
        prev = max_time;
    }
    ix.chunk_start.push(ix.chunks.len() as u32);
    Ok(())
}

fn add_gap(t: i64, gap: u64) -> Option<i64> {
    i64::try_from(gap).ok().and_then(|g| t.checked_add(g))
}

fn decode_postings(c: &mut Cursor<'_>, ix: &BlockIndex) -> Result<PostingsMap, BlockError> {
    let n_series = ix.num_series();
    let nsym = ix.symbols.len() as u32;
    let mut map = PostingsMap::new();
    let names = c.count("name count")?;
    let mut prev_name = None;
    for _ in 0..names {
        let name = c.u32("name ref")?;
        if name >= nsym || prev_name.is_some_and(|p| p >= name) {
            return Err(c.err("name ref out of range or not ascending"));
        }
        prev_name = Some(name);
        let values = c.count("value count")?;
        if values == 0 {
            return Err(c.err("label name without values"));
        }
        let entry = map.entry(name).or_default();
        let mut prev_value = None;
        for _ in 0..values {
            let value = c.u32("value ref")?;
            if value >= nsym || prev_value.is_some_and(|p| p >= value) {
                return Err(c.err("value ref out of range or not ascending"));
            }
            prev_value = Some(value);
            entry.insert(value, decode_ids(c, n_series)?);
        }
    }
    c.finish()?;
    Ok(map)
}

/// One delta-encoded postings list; ids must be `< n_series`.
fn decode_ids(c: &mut Cursor<'_>, n_series: u32) -> Result<Vec<u32>, BlockError> {
    let n = c.count("postings length")?;
    if n == 0 || n > n_series as usize {
        return Err(c.err(format!("postings length {n} out of range")));
    }
    let mut ids = Vec::with_capacity(n);
    let mut next_min: u64 = 0;
    for _ in 0..n {
        let id = next_min.saturating_add(c.uvarint()?);
        if id >= u64::from(n_series) {
            return Err(c.err(format!("series id {id} out of range")));
        }
        ids.push(id as u32);
        next_min = id + 1;
    }
    Ok(ids)
}

/// Moves the validated postings into the flat in-memory form.
fn flatten_postings(ix: &mut BlockIndex, map: PostingsMap) {
    for (name, values) in map {
        let mut list = ValuePostings::with_capacity(values.len());
        for (value, ids) in values {
            let start = ix.flat.len() as u32;
            ix.flat.extend_from_slice(&ids);
            list.push((value, start, ix.flat.len() as u32));
        }
        ix.postings.insert(name, list);
    }
}
