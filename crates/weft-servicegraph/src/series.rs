//! Cumulative counters and classic histograms keyed by label values, and their rendering
//! into [`MetricWrite`] samples.
//!
//! A [`SeriesTable`] holds one metric family group (service graphs, span metrics, nodes):
//! the label names are fixed per table, each series is identified by its label values, and
//! each series carries one optional metric per family of the group (a family appears on a
//! series when first updated and goes away when stale, as in Tempo's registry).

use hashbrown::HashTable;
use weft_core::labels::{Labels, METRIC_NAME};
use weft_metrics::model::{Exemplar, Metadata, MetricType, SeriesWrite};

/// Prometheus' stale marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// One metric family of a table.
#[derive(Debug, Clone)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    /// `None` for counters, the bucket bounds for histograms.
    pub buckets: Option<Vec<f64>>,
    /// Pre-formatted `le` values (bounds then `+Inf`).
    pub le: Vec<String>,
}

impl Family {
    pub fn counter(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            buckets: None,
            le: Vec::new(),
        }
    }

    pub fn histogram(name: &'static str, help: &'static str, buckets: &[f64]) -> Self {
        let mut le: Vec<String> = buckets
            .iter()
            .map(|b| crate::span::format_go_float(*b))
            .collect();
        le.push("+Inf".into());
        Self {
            name,
            help,
            buckets: Some(buckets.to_vec()),
            le,
        }
    }

    pub fn metadata(&self) -> Metadata {
        Metadata {
            metric: self.name.to_string(),
            kind: if self.buckets.is_some() {
                MetricType::Histogram
            } else {
                MetricType::Counter
            },
            help: self.help.to_string(),
            unit: String::new(),
        }
    }
}

/// Latest exemplar of a histogram bucket.
#[derive(Debug, Clone, Copy)]
pub struct Ex {
    trace: [u8; 16],
    trace_len: u8,
    value: f64,
    t_ms: i64,
}

impl Ex {
    pub fn new(trace_id: &[u8], value: f64, t_ms: i64) -> Option<Self> {
        if trace_id.is_empty() || trace_id.len() > 16 {
            return None;
        }
        let mut trace = [0u8; 16];
        trace[..trace_id.len()].copy_from_slice(trace_id);
        Some(Self {
            trace,
            trace_len: trace_id.len() as u8,
            value,
            t_ms,
        })
    }

    /// Tempo's `TraceIDToHexString`: lower-case hex without leading zeros.
    fn trace_hex(&self) -> String {
        let hex = hex::encode(&self.trace[..usize::from(self.trace_len)]);
        let trimmed = hex.trim_start_matches('0');
        if trimmed.is_empty() {
            "0".into()
        } else {
            trimmed.to_string()
        }
    }
}

/// One metric of one series.
#[derive(Debug, Clone)]
pub enum Metric {
    Counter {
        value: f64,
        last_ns: u64,
        emitted: bool,
    },
    Histogram(Box<Hist>),
}

#[derive(Debug, Clone)]
pub struct Hist {
    /// Per-bucket (not cumulative) counts; the last one is `+Inf`.
    counts: Box<[f64]>,
    sum: f64,
    count: f64,
    exemplars: Box<[Option<Ex>]>,
    last_ns: u64,
    emitted: bool,
}

impl Metric {
    fn new(family: &Family, now_ns: u64) -> Self {
        match &family.buckets {
            None => Metric::Counter {
                value: 0.0,
                last_ns: now_ns,
                emitted: false,
            },
            Some(b) => Metric::Histogram(Box::new(Hist {
                counts: vec![0.0; b.len() + 1].into(),
                sum: 0.0,
                count: 0.0,
                exemplars: vec![None; b.len() + 1].into(),
                last_ns: now_ns,
                emitted: false,
            })),
        }
    }

    fn last_ns(&self) -> u64 {
        match self {
            Metric::Counter { last_ns, .. } => *last_ns,
            Metric::Histogram(h) => h.last_ns,
        }
    }
}

struct Slot {
    hash: u64,
    values: Box<[Box<str>]>,
    metrics: Box<[Option<Metric>]>,
}

/// Series of one group of families sharing label names.
pub struct SeriesTable {
    pub families: Vec<Family>,
    /// Label names, in the order of each series' values.
    pub label_names: Vec<String>,
    index: HashTable<usize>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    live: usize,
}

/// Hash of label values (length-separated, so `("ab","c")` and `("a","bc")` differ).
pub fn hash_values<S: AsRef<str>>(values: &[S]) -> u64 {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for v in values {
        let v = v.as_ref();
        h = xxhash_rust::xxh3::xxh3_64_with_seed(v.as_bytes(), h ^ v.len() as u64);
    }
    h
}

impl SeriesTable {
    pub fn new(families: Vec<Family>, label_names: Vec<String>) -> Self {
        Self {
            families,
            label_names,
            index: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Number of series (label value sets) held.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The series with these label values (one per `label_names`), created if new.
    pub fn get<S: AsRef<str>>(&mut self, values: &[S]) -> usize {
        let hash = hash_values(values);
        let slots = &self.slots;
        if let Some(&i) = self.index.find(hash, |&i| {
            slots[i].as_ref().is_some_and(|s| {
                s.values.len() == values.len()
                    && s.values.iter().zip(values).all(|(a, b)| **a == *b.as_ref())
            })
        }) {
            return i;
        }
        let slot = Slot {
            hash,
            values: values
                .iter()
                .map(|v| Box::<str>::from(v.as_ref()))
                .collect(),
            metrics: (0..self.families.len()).map(|_| None).collect(),
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        let slots = &self.slots;
        self.index
            .insert_unique(hash, i, |&j| slots[j].as_ref().map_or(0, |s| s.hash));
        self.live += 1;
        i
    }

    fn metric(&mut self, series: usize, family: usize, now_ns: u64) -> Option<&mut Metric> {
        let fam = self.families.get(family)?;
        let slot = self.slots.get_mut(series)?.as_mut()?;
        let m = slot.metrics.get_mut(family)?;
        Some(m.get_or_insert_with(|| Metric::new(fam, now_ns)))
    }

    /// Adds `v` to a counter.
    pub fn inc(&mut self, series: usize, family: usize, v: f64, now_ns: u64) {
        if let Some(Metric::Counter { value, last_ns, .. }) = self.metric(series, family, now_ns) {
            *value += v;
            *last_ns = now_ns;
        }
    }

    /// Observes `v` in a histogram, keeping the trace as the bucket's exemplar.
    pub fn observe(&mut self, series: usize, family: usize, v: f64, trace_id: &[u8], now_ns: u64) {
        let bucket = match self.families.get(family).and_then(|f| f.buckets.as_ref()) {
            Some(b) => b.partition_point(|bound| *bound < v),
            None => return,
        };
        if let Some(Metric::Histogram(h)) = self.metric(series, family, now_ns) {
            if let Some(c) = h.counts.get_mut(bucket) {
                *c += 1.0;
            }
            h.sum += v;
            h.count += 1.0;
            h.last_ns = now_ns;
            if let Some(e) = h.exemplars.get_mut(bucket) {
                if let Some(ex) = Ex::new(trace_id, v, (now_ns / 1_000_000) as i64) {
                    *e = Some(ex);
                }
            }
        }
    }

    /// Appends every series' current value at `now_ms` to `out`; series idle for
    /// `stale_ns` or longer get a stale marker instead and are forgotten.
    pub fn collect(&mut self, now_ms: i64, stale_ns: u64, out: &mut Vec<SeriesWrite>) {
        let now_ns = (now_ms.max(0) as u64).saturating_mul(1_000_000);
        let zero_ms = end_of_last_minute_ms(now_ms);
        let stale = f64::from_bits(STALE_NAN_BITS);
        for i in 0..self.slots.len() {
            let Some(slot) = self.slots[i].as_mut() else {
                continue;
            };
            let base: Vec<(&str, &str)> = self
                .label_names
                .iter()
                .zip(slot.values.iter())
                .map(|(n, v)| (n.as_str(), v.as_ref()))
                .collect();
            for (fi, m) in slot.metrics.iter_mut().enumerate() {
                let Some(metric) = m else { continue };
                let fam = &self.families[fi];
                let is_stale = stale_ns > 0 && now_ns >= metric.last_ns().saturating_add(stale_ns);
                match metric {
                    Metric::Counter { value, emitted, .. } => {
                        let samples = if is_stale {
                            if !*emitted {
                                *m = None;
                                continue;
                            }
                            vec![(now_ms, stale)]
                        } else if *emitted {
                            vec![(now_ms, *value)]
                        } else {
                            vec![(zero_ms, 0.0), (now_ms, *value)]
                        };
                        *emitted = true;
                        push(out, &base, fam.name, None, samples, Vec::new());
                    }
                    Metric::Histogram(h) => {
                        if is_stale && !h.emitted {
                            *m = None;
                            continue;
                        }
                        let first = !h.emitted;
                        h.emitted = true;
                        let sample = |v: f64| {
                            if is_stale {
                                vec![(now_ms, stale)]
                            } else if first {
                                vec![(zero_ms, 0.0), (now_ms, v)]
                            } else {
                                vec![(now_ms, v)]
                            }
                        };
                        let bucket_name = format!("{}_bucket", fam.name);
                        let mut cumulative = 0.0;
                        for (bi, le) in fam.le.iter().enumerate() {
                            cumulative += h.counts[bi];
                            let mut exemplars = Vec::new();
                            if !is_stale {
                                if let Some(ex) = h.exemplars[bi].take() {
                                    exemplars.push(Exemplar {
                                        labels: Labels::from_pairs([("traceID", ex.trace_hex())])
                                            .unwrap_or_default(),
                                        value: ex.value,
                                        t_ms: ex.t_ms,
                                    });
                                }
                            }
                            push(
                                out,
                                &base,
                                &bucket_name,
                                Some(le),
                                sample(cumulative),
                                exemplars,
                            );
                        }
                        push(
                            out,
                            &base,
                            &format!("{}_sum", fam.name),
                            None,
                            sample(h.sum),
                            Vec::new(),
                        );
                        push(
                            out,
                            &base,
                            &format!("{}_count", fam.name),
                            None,
                            sample(h.count),
                            Vec::new(),
                        );
                    }
                }
                if is_stale {
                    *m = None;
                }
            }
            if slot.metrics.iter().all(Option::is_none) {
                let hash = slot.hash;
                if let Ok(entry) = self.index.find_entry(hash, |&j| j == i) {
                    entry.remove();
                }
                self.slots[i] = None;
                self.free.push(i);
                self.live -= 1;
            }
        }
    }
}

fn push(
    out: &mut Vec<SeriesWrite>,
    base: &[(&str, &str)],
    name: &str,
    le: Option<&str>,
    samples: Vec<(i64, f64)>,
    exemplars: Vec<Exemplar>,
) {
    let pairs = base
        .iter()
        .copied()
        .chain(std::iter::once((METRIC_NAME, name)))
        .chain(le.map(|le| ("le", le)));
    if let Ok(labels) = Labels::from_pairs(pairs) {
        out.push(SeriesWrite {
            labels,
            samples,
            histograms: Vec::new(),
            exemplars,
        });
    }
}

/// Where Tempo writes a new counter's initial zero: the last millisecond of the previous
/// minute, so the first increment is not lost to `rate()`.
pub fn end_of_last_minute_ms(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(60_000) - 1
}
