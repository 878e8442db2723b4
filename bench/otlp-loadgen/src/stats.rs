//! Lock-free latency histogram and number formatting shared by the tools.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Sub-buckets per power of two: values are kept with < 1.6% relative error.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Enough octaves for any `u64`.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// A log-linear histogram of microseconds (HDR-style) that many tasks can
/// record into without locks; readers take snapshots, and the difference of
/// two snapshots gives per-interval percentiles.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS
    let mantissa = v >> (exp - SUB_BITS); // in SUB..2*SUB
    ((exp - SUB_BITS + 1) as usize) * SUB as usize + (mantissa - SUB) as usize
}

/// Midpoint of a bucket, the value reported for a percentile falling in it.
fn bucket_value(i: usize) -> u64 {
    let sub = SUB as usize;
    if i < sub {
        return i as u64;
    }
    let shift = (i / sub - 1) as u32;
    let lower = ((SUB + (i % sub) as u64) as u128) << shift;
    let width = 1u128 << shift;
    (lower + width / 2).min(u64::MAX as u128) as u64
}

impl Histogram {
    pub fn record(&self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        self.buckets[bucket_of(us)].fetch_add(1, Relaxed);
        self.max.fetch_max(us, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            counts: self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            max_us: self.max.load(Relaxed),
        }
    }
}

pub struct Snapshot {
    counts: Vec<u64>,
    max_us: u64,
}

impl Snapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The recordings made after `earlier` was taken.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(a, b)| a - b)
                .collect(),
            max_us: self.max_us,
        }
    }

    /// Nearest-rank percentile in milliseconds (`q` in 0..=1); 0 when empty.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_value(i) as f64 / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.max_us as f64 / 1000.0
    }
}

/// Nearest-rank percentile of exact samples (sorted ascending), in ms.
pub fn exact_percentile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

/// `1234567` → `1,234,567`, for human-readable summaries.
pub fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_precise() {
        let mut last = 0;
        for v in (0..2_000_000u64)
            .step_by(997)
            .chain([u64::MAX / 2, u64::MAX])
        {
            let b = bucket_of(v);
            assert!(b >= last && b < BUCKETS);
            last = b;
            let mid = bucket_value(b) as f64;
            assert!(
                (mid - v as f64).abs() <= (v as f64 / 60.0).max(0.5),
                "{v} -> {mid}"
            );
        }
    }

    #[test]
    fn percentiles() {
        let h = Histogram::default();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.snapshot();
        assert!((s.percentile_ms(0.5) - 50.0).abs() < 1.0);
        assert!((s.percentile_ms(0.99) - 99.0).abs() < 1.6);
        assert_eq!(s.max_ms(), 100.0);
        let later = h.snapshot();
        assert_eq!(later.since(&s).count(), 0);
    }

    #[test]
    fn exact() {
        let v: Vec<u64> = (1..=1000).map(|ms| ms * 1000).collect();
        assert_eq!(exact_percentile_ms(&v, 0.5), 500.0);
        assert_eq!(exact_percentile_ms(&v, 0.99), 990.0);
        assert_eq!(exact_percentile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
