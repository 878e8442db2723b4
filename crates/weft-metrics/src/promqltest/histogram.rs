//! Native histogram literals of the `promqltest` format: `{{schema:0 sum:5 count:4 buckets:[1 2 1]}}`.
//!
//! Keys (all optional, each at most once): `schema`, `sum`, `count`, `z_bucket` (zero-bucket
//! count), `z_bucket_w` (zero threshold), `buckets` + `offset` (positive buckets, one
//! contiguous run starting at bucket index `offset`), `n_buckets` + `n_offset` (negative
//! buckets), `custom_values` (bucket bounds of a custom-bucket histogram, schema -53) and
//! `counter_reset_hint` (`unknown`, `reset`, `not_reset`, `gauge`).
//!
//! Series notation `{{a}}+{{b}}xN` / `{{a}}-{{b}}xN` is expanded here with the same arithmetic
//! as Prometheus' float-histogram `Add`/`Sub` (including lowering the increment's resolution to
//! the base's schema), for the cases the corpus needs; unsupported combinations are errors.

/// Schema number of histograms with custom bucket bounds (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;

/// Prometheus' counter reset hint of a histogram sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CounterResetHint {
    #[default]
    Unknown,
    CounterReset,
    NotCounterReset,
    Gauge,
}

/// A contiguous run of bucket counts: `counts[k]` is the bucket with index `offset + k`.
/// Zero counts inside the run are allowed (they compare equal to absent buckets).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BucketRun {
    pub offset: i32,
    pub counts: Vec<f64>,
}

impl BucketRun {
    /// `(bucket index, count)` for every non-zero bucket, ascending by index.
    pub fn non_zero(&self) -> Vec<(i32, f64)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != 0.0)
            .map(|(k, c)| (self.offset + k as i32, *c))
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.counts.iter().all(|c| *c == 0.0)
    }

    fn get(&self, idx: i32) -> f64 {
        let k = i64::from(idx) - i64::from(self.offset);
        if k < 0 {
            return 0.0;
        }
        self.counts.get(k as usize).copied().unwrap_or(0.0)
    }

    /// Element-wise `self + sign * other` over the union of both index ranges.
    fn combine(&self, other: &BucketRun, sign: f64) -> BucketRun {
        if other.counts.is_empty() {
            return self.clone();
        }
        if self.counts.is_empty() {
            return BucketRun {
                offset: other.offset,
                counts: other.counts.iter().map(|c| sign * c).collect(),
            };
        }
        let lo = self.offset.min(other.offset);
        let hi =
            (self.offset + self.counts.len() as i32).max(other.offset + other.counts.len() as i32);
        let counts = (lo..hi)
            .map(|i| self.get(i) + sign * other.get(i))
            .collect();
        BucketRun { offset: lo, counts }
    }

    /// Lowers an exponential-schema run by `delta` schema steps (merging 2^delta buckets).
    fn reduce(&self, delta: u32) -> BucketRun {
        if self.counts.is_empty() || delta == 0 {
            return self.clone();
        }
        let target = |idx: i32| ((idx - 1) >> delta) + 1;
        let lo = target(self.offset);
        let hi = target(self.offset + self.counts.len() as i32 - 1);
        let mut counts = vec![0.0; (hi - lo + 1) as usize];
        for (k, c) in self.counts.iter().enumerate() {
            counts[(target(self.offset + k as i32) - lo) as usize] += c;
        }
        BucketRun { offset: lo, counts }
    }
}

/// One native histogram value written in a test file (or computed by series expansion).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramLiteral {
    pub schema: i32,
    pub sum: f64,
    pub count: f64,
    /// `z_bucket`
    pub zero_count: f64,
    /// `z_bucket_w`
    pub zero_threshold: f64,
    /// `buckets` / `offset`
    pub positive: BucketRun,
    /// `n_buckets` / `n_offset`
    pub negative: BucketRun,
    pub custom_values: Vec<f64>,
    pub counter_reset_hint: CounterResetHint,
    /// True when the literal (for expansions: the increment literal, as in Prometheus) wrote
    /// `counter_reset_hint:` explicitly; the hint is only compared when it was written.
    pub counter_reset_hint_set: bool,
}

impl HistogramLiteral {
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Parses the text between `{{` and `}}`.
    pub fn parse_body(body: &str) -> Result<Self, String> {
        let mut h = HistogramLiteral::default();
        let mut seen: Vec<String> = Vec::new();
        let mut rest = body.trim_start();
        while !rest.is_empty() {
            let colon = rest
                .find(':')
                .ok_or_else(|| format!("histogram literal: expected `key:value` at {rest:?}"))?;
            let key = rest[..colon].trim();
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(format!("histogram literal: invalid key {key:?}"));
            }
            if seen.iter().any(|k| k == key) {
                return Err(format!("duplicate key {key:?} in histogram"));
            }
            seen.push(key.to_string());
            rest = rest[colon + 1..].trim_start();
            let (value, after) = if let Some(list) = rest.strip_prefix('[') {
                let end = list
                    .find(']')
                    .ok_or_else(|| format!("histogram literal: unclosed `[` after {key}"))?;
                (&list[..end], &list[end + 1..])
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            };
            rest = after.trim_start();
            let list = || -> Result<Vec<f64>, String> {
                value
                    .split_whitespace()
                    .map(|t| {
                        parse_float(t)
                            .ok_or_else(|| format!("histogram literal: bad number {t:?} in {key}"))
                    })
                    .collect()
            };
            let num = || {
                parse_float(value)
                    .ok_or_else(|| format!("histogram literal: bad number {value:?} for {key}"))
            };
            let int = || {
                value
                    .parse::<i32>()
                    .map_err(|_| format!("histogram literal: bad integer {value:?} for {key}"))
            };
            match key {
                "schema" => h.schema = int()?,
                "sum" => h.sum = num()?,
                "count" => h.count = num()?,
                "z_bucket" => h.zero_count = num()?,
                "z_bucket_w" => h.zero_threshold = num()?,
                "buckets" => h.positive.counts = list()?,
                "offset" => h.positive.offset = int()?,
                "n_buckets" => h.negative.counts = list()?,
                "n_offset" => h.negative.offset = int()?,
                "custom_values" => h.custom_values = list()?,
                "counter_reset_hint" => {
                    h.counter_reset_hint = match value {
                        "unknown" => CounterResetHint::Unknown,
                        "reset" => CounterResetHint::CounterReset,
                        "not_reset" => CounterResetHint::NotCounterReset,
                        "gauge" => CounterResetHint::Gauge,
                        other => {
                            return Err(format!(
                                "histogram literal: invalid counter_reset_hint {other:?}"
                            ))
                        }
                    };
                    h.counter_reset_hint_set = true;
                }
                other => return Err(format!("histogram literal: unknown key {other:?}")),
            }
        }
        Ok(h)
    }

    /// `self + other` (`sign` = 1) or `self - other` (`sign` = -1), as Prometheus'
    /// `FloatHistogram.Add`/`Sub` computes it for the cases series notation uses.
    pub fn combine(&self, other: &HistogramLiteral, sign: f64) -> Result<HistogramLiteral, String> {
        let mut other = other.clone();
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err("cannot combine a custom-bucket histogram with an exponential one".into());
        }
        if self.uses_custom_buckets() {
            if self.custom_values != other.custom_values {
                return Err(
                    "combining custom-bucket histograms with different bounds is not supported"
                        .into(),
                );
            }
        } else if other.schema > self.schema {
            let delta = (other.schema - self.schema) as u32;
            other.positive = other.positive.reduce(delta);
            other.negative = other.negative.reduce(delta);
            other.schema = self.schema;
        } else if other.schema < self.schema {
            return Err(format!(
                "error combining histograms: cannot merge from schema {} to {}",
                other.schema, self.schema
            ));
        }
        let mut out = self.clone();
        if self.zero_threshold != other.zero_threshold {
            // Widening a zero bucket needs bucket bounds; support the trivial cases only.
            if other.zero_threshold < self.zero_threshold
                && other.positive.is_empty()
                && other.negative.is_empty()
            {
                // `other` has no buckets to fold into the wider zero bucket.
            } else if self.zero_threshold < other.zero_threshold
                && self.positive.is_empty()
                && self.negative.is_empty()
            {
                out.zero_threshold = other.zero_threshold;
            } else {
                return Err(
                    "combining histograms with different zero thresholds is not supported".into(),
                );
            }
        }
        out.sum += sign * other.sum;
        out.count += sign * other.count;
        out.zero_count += sign * other.zero_count;
        out.positive = self.positive.combine(&other.positive, sign);
        out.negative = self.negative.combine(&other.negative, sign);
        use CounterResetHint::*;
        out.counter_reset_hint = match (self.counter_reset_hint, other.counter_reset_hint) {
            (a, b) if a == b => a,
            (Gauge, _) | (_, Gauge) => Gauge,
            _ => Unknown,
        };
        out.counter_reset_hint_set = other.counter_reset_hint_set;
        Ok(out)
    }
}

/// Parses a float the way PromQL number literals are written in series descriptions:
/// decimal or scientific notation with an optional sign, `Inf`/`NaN` in any case.
pub fn parse_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = if body.eq_ignore_ascii_case("inf") {
        f64::INFINITY
    } else if body.eq_ignore_ascii_case("nan") {
        f64::NAN
    } else {
        let ok = !body.is_empty()
            && body.bytes().any(|b| b.is_ascii_digit())
            && body
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
        if !ok {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}
