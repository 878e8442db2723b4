//! Edges waiting for their other side: a map from pairing key to a slot, plus an intrusive
//! doubly linked list in insertion order so expiry pops from the front and completed edges
//! leave in O(1). Memory is bounded by `max_items` slots.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// `(trace ID, span ID)`: the client's own span ID or the server's parent span ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct EdgeKey {
    pub trace: u128,
    pub span: u64,
}

impl EdgeKey {
    pub fn new(trace_id: &[u8], span_id: &[u8]) -> Self {
        let trace = match <[u8; 16]>::try_from(trace_id) {
            Ok(t) => u128::from_be_bytes(t),
            Err(_) => xxhash_rust::xxh3::xxh3_128(trace_id),
        };
        let span = if span_id.iter().all(|b| *b == 0) {
            0
        } else {
            match <[u8; 8]>::try_from(span_id) {
                Ok(s) => u64::from_be_bytes(s),
                Err(_) => xxhash_rust::xxh3::xxh3_64(span_id) | 1,
            }
        };
        Self { trace, span }
    }
}

/// Keys are random IDs already: mixing a few bits is enough.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }
}

/// Kinds of connection (Tempo's `connection_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConnType {
    #[default]
    Direct,
    Messaging,
    Database,
    Virtual,
}

impl ConnType {
    pub fn label(self) -> &'static str {
        match self {
            ConnType::Direct => "",
            ConnType::Messaging => "messaging_system",
            ConnType::Database => "database",
            ConnType::Virtual => "virtual_node",
        }
    }
}

/// What is known about one call so far.
#[derive(Debug, Default, Clone)]
pub struct Edge {
    pub trace_id: [u8; 16],
    pub trace_len: u8,
    pub client: Option<Arc<str>>,
    pub server: Option<Arc<str>>,
    /// Kind of the client-side / server-side span seen (0 = none).
    pub client_kind: u8,
    pub server_kind: u8,
    pub client_latency: f64,
    pub server_latency: f64,
    pub client_end_ns: u64,
    pub server_start_ns: u64,
    pub conn: ConnType,
    pub failed: bool,
    pub peer: Option<Box<str>>,
    pub db_system: Option<Box<str>>,
    /// Dimension label values, by dimension label position.
    pub dims: Vec<Option<Box<str>>>,
    /// Keyed by a root server span (empty parent).
    pub root: bool,
}

impl Edge {
    pub fn set_trace(&mut self, trace_id: &[u8]) {
        let n = trace_id.len().min(16);
        self.trace_id[..n].copy_from_slice(&trace_id[..n]);
        self.trace_len = n as u8;
    }

    pub fn trace(&self) -> &[u8] {
        &self.trace_id[..usize::from(self.trace_len)]
    }

    pub fn complete(&self) -> bool {
        self.client.is_some() && self.server.is_some()
    }

    fn reset(&mut self, dims: usize) {
        self.trace_len = 0;
        self.client = None;
        self.server = None;
        self.client_kind = 0;
        self.server_kind = 0;
        self.client_latency = 0.0;
        self.server_latency = 0.0;
        self.client_end_ns = 0;
        self.server_start_ns = 0;
        self.conn = ConnType::Direct;
        self.failed = false;
        self.peer = None;
        self.db_system = None;
        self.dims.clear();
        self.dims.resize(dims, None);
        self.root = false;
    }
}

const NIL: u32 = u32::MAX;

struct Slot {
    key: EdgeKey,
    edge: Edge,
    expire_ns: u64,
    prev: u32,
    next: u32,
}

/// Why an edge could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

pub struct EdgeStore {
    map: HashMap<EdgeKey, u32, BuildHasherDefault<IdHasher>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    max: usize,
    dims: usize,
}

impl EdgeStore {
    pub fn new(max: usize, dims: usize) -> Self {
        Self {
            map: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            max: max.min(NIL as usize - 1),
            dims,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The edge under `key`, opened (expiring at `expire_ns`) if new. `Err(Full)` when a new
    /// edge would exceed the bound.
    pub fn upsert(&mut self, key: EdgeKey, expire_ns: u64) -> Result<(u32, bool), Full> {
        if let Some(&i) = self.map.get(&key) {
            return Ok((i, false));
        }
        if self.map.len() >= self.max {
            return Err(Full);
        }
        let i = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                s.key = key;
                s.expire_ns = expire_ns;
                s.edge.reset(self.dims);
                i
            }
            None => {
                let mut edge = Edge::default();
                edge.reset(self.dims);
                self.slots.push(Slot {
                    key,
                    edge,
                    expire_ns,
                    prev: NIL,
                    next: NIL,
                });
                (self.slots.len() - 1) as u32
            }
        };
        // Append at the tail.
        self.slots[i as usize].prev = self.tail;
        self.slots[i as usize].next = NIL;
        if self.tail != NIL {
            self.slots[self.tail as usize].next = i;
        } else {
            self.head = i;
        }
        self.tail = i;
        self.map.insert(key, i);
        Ok((i, true))
    }

    pub fn edge_mut(&mut self, i: u32) -> &mut Edge {
        &mut self.slots[i as usize].edge
    }

    /// Removes slot `i`, handing its edge to `f` before the slot is reused.
    pub fn remove<R>(&mut self, i: u32, f: impl FnOnce(&mut Edge) -> R) -> R {
        let (prev, next, key) = {
            let s = &self.slots[i as usize];
            (s.prev, s.next, s.key)
        };
        if prev != NIL {
            self.slots[prev as usize].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        } else {
            self.tail = prev;
        }
        self.map.remove(&key);
        self.free.push(i);
        let s = &mut self.slots[i as usize];
        s.prev = NIL;
        s.next = NIL;
        f(&mut s.edge)
    }

    /// The oldest edge if it has expired by `now_ns`.
    pub fn expired_head(&self, now_ns: u64) -> Option<u32> {
        (self.head != NIL && self.slots[self.head as usize].expire_ns <= now_ns)
            .then_some(self.head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_bound_and_reuse() {
        let mut s = EdgeStore::new(2, 0);
        let k = |n: u64| EdgeKey { trace: 1, span: n };
        assert_eq!(s.upsert(k(1), 10), Ok((0, true)));
        assert_eq!(s.upsert(k(2), 20), Ok((1, true)));
        assert_eq!(s.upsert(k(1), 99), Ok((0, false)));
        assert_eq!(s.upsert(k(3), 30), Err(Full));
        assert_eq!(s.expired_head(9), None);
        assert_eq!(s.expired_head(10), Some(0));
        s.remove(1, |_| ());
        assert_eq!(s.upsert(k(3), 30), Ok((1, true)));
        s.remove(0, |_| ());
        assert_eq!(s.expired_head(25), None);
        assert_eq!(s.expired_head(30), Some(1));
        assert_eq!(s.len(), 1);
        assert_eq!(EdgeKey::new(&[1; 16], &[0; 8]).span, 0);
        assert_eq!(EdgeKey::new(&[1; 16], &[]).span, 0);
    }
}
