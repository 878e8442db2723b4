//! Float native histograms as the engine computes with them (Prometheus `FloatHistogram`).
//!
//! Buckets are kept sparse: `(bucket index, count)` pairs ascending by index, instead of
//! Prometheus' spans + bucket slices. That makes merging, schema reduction and custom-bucket
//! reconciliation simple loops; [`FloatHistogram::compact`] drops empty buckets as
//! Prometheus' `Compact(0)` does. Every operation is total: invalid input (odd schemas, NaN
//! thresholds, out-of-range bucket indexes) yields odd numbers, never a panic.

use super::aggregate::kahan_inc;

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

/// A float native histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FloatHistogram {
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    /// Positive buckets `(index, count)`, ascending by index, indexes unique.
    pub positive: Vec<(i32, f64)>,
    /// Negative buckets `(index, count)`, ascending by index (i.e. away from zero).
    pub negative: Vec<(i32, f64)>,
    /// Upper bounds of the custom buckets (schema [`CUSTOM_BUCKETS_SCHEMA`] only).
    pub custom_values: Vec<f64>,
    pub hint: CounterResetHint,
}

/// Adding or subtracting an exponential and a custom-bucket histogram
/// (Prometheus `ErrHistogramsIncompatibleSchema`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncompatibleSchema;

/// Side facts of an addition/subtraction that callers turn into annotations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CombineNotes {
    /// One operand had a `CounterReset` hint, the other `NotCounterReset`.
    pub counter_reset_collision: bool,
    /// Custom bucket bounds differed and were reduced to their intersection.
    pub bounds_reconciled: bool,
}

/// One bucket with its bounds, as the bucket iterators yield it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub count: f64,
}

/// `x * 2^e` without intermediate overflow of the power of two.
fn ldexp(x: f64, e: i64) -> f64 {
    let mut e = e.clamp(-2200, 2200);
    let mut r = x;
    while e > 1000 {
        r *= 2f64.powi(1000);
        e -= 1000;
    }
    while e < -1000 {
        r *= 2f64.powi(-1000);
        e += 1000;
    }
    r * 2f64.powi(e as i32)
}

/// Upper bound of exponential bucket `idx` in `schema` (Prometheus `getBoundExponential`),
/// with the last finite bucket ending at `f64::MAX`.
fn exponential_bound(idx: i32, schema: i32) -> f64 {
    let idx = i64::from(idx);
    if schema < 0 {
        let shift = (-schema).min(62) as u32;
        let exp = idx.checked_shl(shift).unwrap_or(i64::MAX);
        if exp == 1024 {
            return f64::MAX;
        }
        return ldexp(1.0, exp);
    }
    let schema = schema.min(30) as u32;
    let frac_idx = idx & ((1i64 << schema) - 1);
    let frac = 0.5 * (frac_idx as f64 / (1i64 << schema) as f64).exp2();
    let exp = (idx >> schema) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(frac, exp)
}

/// Upper bound of bucket `idx` (Prometheus `getBound`); out-of-range custom indexes clamp to
/// ±Inf instead of panicking.
pub fn bucket_bound(idx: i32, schema: i32, custom: &[f64]) -> f64 {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        let n = custom.len() as i64;
        let i = i64::from(idx);
        return if i >= n {
            f64::INFINITY
        } else if i < 0 {
            f64::NEG_INFINITY
        } else {
            custom[i as usize]
        };
    }
    exponential_bound(idx, schema)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn format_go_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

/// Bucket index in `target` schema of bucket `idx` in `origin` (Prometheus `targetIdx`).
fn target_idx(idx: i32, origin: i32, target: i32) -> i32 {
    let shift = (origin - target).clamp(0, 31) as u32;
    (idx.saturating_sub(1) >> shift).saturating_add(1)
}

/// Merges sparse buckets into ascending, unique-index order, summing equal indexes.
fn normalize(mut b: Vec<(i32, f64)>) -> Vec<(i32, f64)> {
    b.sort_by_key(|x| x.0);
    let mut out: Vec<(i32, f64)> = Vec::with_capacity(b.len());
    for (i, c) in b {
        match out.last_mut() {
            Some(last) if last.0 == i => last.1 += c,
            _ => out.push((i, c)),
        }
    }
    out
}

/// `a + sign * b` over sparse buckets.
fn merge(a: &[(i32, f64)], b: &[(i32, f64)], sign: f64) -> Vec<(i32, f64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j >= b.len() || (i < a.len() && a[i].0 < b[j].0) {
            out.push(a[i]);
            i += 1;
        } else if i >= a.len() || b[j].0 < a[i].0 {
            out.push((b[j].0, sign * b[j].1));
            j += 1;
        } else {
            out.push((a[i].0, a[i].1 + sign * b[j].1));
            i += 1;
            j += 1;
        }
    }
    out
}

/// Count of sparse bucket `idx` (0 when absent).
fn count_at(b: &[(i32, f64)], idx: i32) -> Option<f64> {
    b.binary_search_by_key(&idx, |x| x.0).ok().map(|k| b[k].1)
}

/// Sparse buckets `(index, count)`, ascending by index.
type Buckets = Vec<(i32, f64)>;

/// Kahan-adds sparse buckets `other` into `h`, with compensation terms in `c` (same indexes).
fn kahan_merge(h: &mut Vec<(i32, f64)>, c: &mut Vec<(i32, f64)>, other: &[(i32, f64)]) {
    for &(idx, v) in other {
        let (sum, comp) = kahan_inc(
            v,
            count_at(h, idx).unwrap_or(0.0),
            count_at(c, idx).unwrap_or(0.0),
        );
        set_at(h, idx, sum);
        set_at(c, idx, comp);
    }
}

/// Sets sparse bucket `idx` to `v`, inserting it in index order when absent.
fn set_at(b: &mut Vec<(i32, f64)>, idx: i32, v: f64) {
    match b.binary_search_by_key(&idx, |x| x.0) {
        Ok(k) => b[k].1 = v,
        Err(k) => b.insert(k, (idx, v)),
    }
}

/// Intersection of two ascending bound lists (Prometheus `intersectCustomBucketBounds`).
fn intersect_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(a[i]);
            i += 1;
            j += 1;
        } else if a[i] < b[j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Re-buckets custom buckets with `bounds` onto the coarser `target` bounds (a subset).
fn map_custom(b: &[(i32, f64)], bounds: &[f64], target: &[f64]) -> Vec<(i32, f64)> {
    normalize(
        b.iter()
            .map(|&(i, c)| {
                let upper = bucket_bound(i, CUSTOM_BUCKETS_SCHEMA, bounds);
                (target.partition_point(|x| *x < upper) as i32, c)
            })
            .collect(),
    )
}

/// Reduces sparse exponential buckets from `origin` to the lower-resolution `target` schema.
fn reduce(b: &[(i32, f64)], origin: i32, target: i32) -> Vec<(i32, f64)> {
    if target >= origin {
        return b.to_vec();
    }
    normalize(
        b.iter()
            .map(|&(i, c)| (target_idx(i, origin, target), c))
            .collect(),
    )
}

impl FloatHistogram {
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Multiplies every count and the sum by `f`; a negative factor makes it a gauge.
    pub fn mul(&mut self, f: f64) -> &mut Self {
        self.zero_count *= f;
        self.count *= f;
        self.sum *= f;
        self.positive.iter_mut().for_each(|b| b.1 *= f);
        self.negative.iter_mut().for_each(|b| b.1 *= f);
        if f < 0.0 {
            self.hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Divides every count and the sum by `d`; dividing by zero removes all buckets.
    pub fn div(&mut self, d: f64) -> &mut Self {
        self.zero_count /= d;
        self.count /= d;
        self.sum /= d;
        if d == 0.0 {
            self.positive.clear();
            self.negative.clear();
            return self;
        }
        self.positive.iter_mut().for_each(|b| b.1 /= d);
        self.negative.iter_mut().for_each(|b| b.1 /= d);
        if d < 0.0 {
            self.hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Drops empty buckets (Prometheus `Compact(0)`).
    pub fn compact(&mut self) -> &mut Self {
        self.positive.retain(|b| b.1 != 0.0);
        self.negative.retain(|b| b.1 != 0.0);
        self
    }

    /// Lowers the resolution to `target` (no-op for custom buckets or a finer target).
    pub fn reduce_resolution(&mut self, target: i32) {
        if self.uses_custom_buckets() || target >= self.schema {
            return;
        }
        self.positive = reduce(&self.positive, self.schema, target);
        self.negative = reduce(&self.negative, self.schema, target);
        self.schema = target;
    }

    /// `self += other` (Prometheus `Add`).
    pub fn add(&mut self, other: &FloatHistogram) -> Result<CombineNotes, IncompatibleSchema> {
        self.combine(other, 1.0)
    }

    /// `self -= other` (Prometheus `Sub`).
    pub fn sub(&mut self, other: &FloatHistogram) -> Result<CombineNotes, IncompatibleSchema> {
        self.combine(other, -1.0)
    }

    fn combine(
        &mut self,
        other: &FloatHistogram,
        sign: f64,
    ) -> Result<CombineNotes, IncompatibleSchema> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(IncompatibleSchema);
        }
        let mut notes = CombineNotes {
            counter_reset_collision: self.adjust_counter_reset(other),
            bounds_reconciled: false,
        };
        self.count += sign * other.count;
        self.sum += sign * other.sum;
        if self.uses_custom_buckets() {
            if self.custom_values == other.custom_values {
                self.positive = merge(&self.positive, &other.positive, sign);
            } else {
                notes.bounds_reconciled = true;
                let target = intersect_bounds(&self.custom_values, &other.custom_values);
                let mine = map_custom(&self.positive, &self.custom_values, &target);
                let theirs = map_custom(&other.positive, &other.custom_values, &target);
                self.positive = merge(&mine, &theirs, sign);
                self.custom_values = target;
            }
            return Ok(notes);
        }
        let other_zero = self.reconcile_zero_buckets(other);
        self.zero_count += sign * other_zero;
        if other.schema < self.schema {
            self.reduce_resolution(other.schema);
        }
        // Buckets of `other` inside the (reconciled) zero bucket are part of `other_zero`.
        let zt = self.zero_threshold;
        let (schema, cv) = (other.schema, &other.custom_values);
        let pos: Vec<(i32, f64)> = other
            .positive
            .iter()
            .copied()
            .filter(|b| bucket_bound(b.0, schema, cv) > zt)
            .collect();
        let neg: Vec<(i32, f64)> = other
            .negative
            .iter()
            .copied()
            .filter(|b| bucket_bound(b.0, schema, cv) > zt)
            .collect();
        let pos = reduce(&pos, other.schema, self.schema);
        let neg = reduce(&neg, other.schema, self.schema);
        self.positive = merge(&self.positive, &pos, sign);
        self.negative = merge(&self.negative, &neg, sign);
        Ok(notes)
    }

    /// Prometheus `KahanAdd`: `self += other` with every count and the sum Kahan-compensated.
    /// `c` holds the compensation terms in this histogram's layout (a fresh one is made when
    /// `None`) and is returned updated; the caller adds it back at the end. Rounding inside
    /// resolution reductions and bucket reconciliation is not compensated.
    pub fn kahan_add(
        &mut self,
        other: &FloatHistogram,
        c: Option<FloatHistogram>,
    ) -> Result<(FloatHistogram, CombineNotes), IncompatibleSchema> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(IncompatibleSchema);
        }
        let mut notes = CombineNotes {
            counter_reset_collision: self.adjust_counter_reset(other),
            bounds_reconciled: false,
        };
        let mut c = c.unwrap_or_else(|| self.compensation());
        if !self.uses_custom_buckets() {
            let other_zero = self.reconcile_zero_buckets(other);
            c.widen_zero_bucket_to(self.zero_threshold);
            (self.zero_count, c.zero_count) = kahan_inc(other_zero, self.zero_count, c.zero_count);
        }
        (self.count, c.count) = kahan_inc(other.count, self.count, c.count);
        (self.sum, c.sum) = kahan_inc(other.sum, self.sum, c.sum);
        if self.uses_custom_buckets() {
            let theirs = if self.custom_values == other.custom_values {
                other.positive.clone()
            } else {
                notes.bounds_reconciled = true;
                let target = intersect_bounds(&self.custom_values, &other.custom_values);
                self.positive = map_custom(&self.positive, &self.custom_values, &target);
                c.positive = map_custom(&c.positive, &self.custom_values, &target);
                self.custom_values = target.clone();
                c.custom_values = target.clone();
                map_custom(&other.positive, &other.custom_values, &target)
            };
            kahan_merge(&mut self.positive, &mut c.positive, &theirs);
            return Ok((c, notes));
        }
        if other.schema < self.schema {
            self.reduce_resolution(other.schema);
            c.reduce_resolution(other.schema);
        }
        let (pos, neg) = self.outside_zero_bucket(other);
        kahan_merge(&mut self.positive, &mut c.positive, &pos);
        kahan_merge(&mut self.negative, &mut c.negative, &neg);
        Ok((c, notes))
    }

    /// Prometheus `newCompensationHistogram`: all zeros, in this histogram's layout.
    fn compensation(&self) -> FloatHistogram {
        FloatHistogram {
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            custom_values: self.custom_values.clone(),
            hint: self.hint,
            ..FloatHistogram::default()
        }
    }

    /// Raises the zero threshold to `zt` (folding the buckets it now covers into the zero
    /// bucket), so a compensation histogram keeps following its sum's layout.
    fn widen_zero_bucket_to(&mut self, zt: f64) {
        if self.zero_threshold < zt {
            let probe = FloatHistogram {
                schema: self.schema,
                zero_threshold: zt,
                ..FloatHistogram::default()
            };
            self.reconcile_zero_buckets(&probe);
        }
    }

    /// `other`'s positive and negative buckets outside this histogram's zero bucket, in this
    /// histogram's schema (those inside are part of the reconciled zero count).
    fn outside_zero_bucket(&self, other: &FloatHistogram) -> (Buckets, Buckets) {
        let zt = self.zero_threshold;
        let (schema, cv) = (other.schema, &other.custom_values);
        let keep = |b: &[(i32, f64)]| -> Buckets {
            let v: Vec<(i32, f64)> = b
                .iter()
                .copied()
                .filter(|x| bucket_bound(x.0, schema, cv) > zt)
                .collect();
            reduce(&v, schema, self.schema)
        };
        (keep(&other.positive), keep(&other.negative))
    }

    /// Prometheus `HasOverflow`: whether any count, the sum or a bound is infinite.
    pub fn has_overflow(&self) -> bool {
        [self.zero_count, self.count, self.sum]
            .into_iter()
            .chain(self.positive.iter().map(|b| b.1))
            .chain(self.negative.iter().map(|b| b.1))
            .chain(self.custom_values.iter().copied())
            .any(f64::is_infinite)
    }

    /// Prometheus `adjustCounterReset`: the hint of a sum/difference; true on a collision of
    /// `CounterReset` with `NotCounterReset`.
    fn adjust_counter_reset(&mut self, other: &FloatHistogram) -> bool {
        use CounterResetHint::*;
        match (self.hint, other.hint) {
            (a, b) if a == b => false,
            (Gauge, _) => false,
            (_, Gauge) => {
                self.hint = Gauge;
                false
            }
            (Unknown, _) => false,
            (_, Unknown) => {
                self.hint = Unknown;
                false
            }
            _ => {
                self.hint = Unknown;
                true
            }
        }
    }

    /// Prometheus `zeroCountForLargerThreshold`: the zero count this histogram would have with
    /// the zero threshold raised to `larger`, and the threshold actually needed (raised to a
    /// bucket boundary when `larger` falls inside a populated bucket).
    fn zero_count_for_larger_threshold(&self, mut larger: f64) -> (f64, f64) {
        if larger <= self.zero_threshold {
            return (self.zero_count, self.zero_threshold.max(larger));
        }
        // Each restart raises `larger` to a bucket boundary; bounded for NaN-safety.
        for _ in 0..64 {
            let mut zc = self.zero_count;
            for &(i, c) in &self.positive {
                let (lower, upper) = self.bounds(i);
                if lower >= larger {
                    break;
                }
                zc += c;
                if upper > larger {
                    if c != 0.0 {
                        larger = upper;
                    }
                    break;
                }
            }
            let mut restart = false;
            for &(i, c) in &self.negative {
                let (lower, upper) = self.bounds(i);
                // Negative bucket `i` spans [-upper, -lower].
                if lower >= larger {
                    break;
                }
                zc += c;
                if upper > larger {
                    if c != 0.0 {
                        larger = upper;
                        restart = true;
                    }
                    break;
                }
            }
            if !restart {
                return (zc, larger);
            }
        }
        (self.zero_count, larger)
    }

    /// Absolute `(lower, upper)` bounds of bucket `idx`.
    fn bounds(&self, idx: i32) -> (f64, f64) {
        (
            bucket_bound(idx.saturating_sub(1), self.schema, &self.custom_values),
            bucket_bound(idx, self.schema, &self.custom_values),
        )
    }

    /// Prometheus `reconcileZeroBuckets`: widens this histogram's zero bucket to cover both
    /// zero buckets; returns the zero count `other` has for that threshold.
    fn reconcile_zero_buckets(&mut self, other: &FloatHistogram) -> f64 {
        let mut other_zero = other.zero_count;
        let mut other_threshold = other.zero_threshold;
        for _ in 0..64 {
            if other_threshold == self.zero_threshold
                || other_threshold.is_nan()
                || self.zero_threshold.is_nan()
            {
                break;
            }
            if self.zero_threshold > other_threshold {
                (other_zero, other_threshold) =
                    other.zero_count_for_larger_threshold(self.zero_threshold);
            }
            if other_threshold > self.zero_threshold {
                let (zc, zt) = self.zero_count_for_larger_threshold(other_threshold);
                self.zero_count = zc;
                self.zero_threshold = zt;
                self.trim_buckets_in_zero_bucket();
            }
        }
        other_zero
    }

    /// Removes buckets now inside the zero bucket (their counts are already in it).
    fn trim_buckets_in_zero_bucket(&mut self) {
        let (schema, zt) = (self.schema, self.zero_threshold);
        let cv = std::mem::take(&mut self.custom_values);
        self.positive
            .retain(|b| bucket_bound(b.0.saturating_sub(1), schema, &cv) >= zt);
        self.negative
            .retain(|b| bucket_bound(b.0.saturating_sub(1), schema, &cv) >= zt);
        self.custom_values = cv;
    }

    /// Every bucket with bounds, lowest first: negative buckets, the zero bucket (when
    /// populated), positive buckets (Prometheus `AllBucketIterator`). Reverse it for
    /// `AllReverseBucketIterator`.
    pub fn all_buckets(&self) -> Vec<Bucket> {
        let zt = self.zero_threshold;
        let clamp = |mut b: Bucket| {
            if b.upper < 0.0 && b.upper > -zt {
                b.upper = -zt;
            } else if b.lower > 0.0 && b.lower < zt {
                b.lower = zt;
            }
            b
        };
        let mut out = Vec::with_capacity(self.positive.len() + self.negative.len() + 1);
        for &(i, c) in self.negative.iter().rev() {
            let (lower, upper) = self.bounds(i);
            out.push(clamp(Bucket {
                lower: -upper,
                upper: -lower,
                count: c,
            }));
        }
        if !self.uses_custom_buckets() && self.zero_count > 0.0 {
            out.push(Bucket {
                lower: -zt,
                upper: zt,
                count: self.zero_count,
            });
        }
        for &(i, c) in &self.positive {
            let (lower, upper) = self.bounds(i);
            out.push(clamp(Bucket {
                lower,
                upper,
                count: c,
            }));
        }
        out
    }

    /// Prometheus' `String()` form (`count_values` uses it as a label value), e.g.
    /// `{count:20, sum:10, [-2,-1):2, [-0.001,0.001]:2, (0.5,1]:1}`.
    pub fn go_string(&self) -> String {
        let g = format_go_g;
        let mut out = format!("{{count:{}, sum:{}", g(self.count), g(self.sum));
        let custom = self.uses_custom_buckets();
        for &(i, c) in self.negative.iter().rev().filter(|b| b.1 != 0.0) {
            let (lower, upper) = self.bounds(i);
            // Negative bucket `i` is [-upper, -lower): inclusive below zero.
            out.push_str(&format!(", [{},{}):{}", g(-upper), g(-lower), g(c)));
        }
        if self.zero_count != 0.0 {
            let zt = self.zero_threshold;
            out.push_str(&format!(", [{},{}]:{}", g(-zt), g(zt), g(self.zero_count)));
        }
        for &(i, c) in self.positive.iter().filter(|b| b.1 != 0.0) {
            let (lower, upper) = self.bounds(i);
            let open = if custom && i != 0 || !custom && lower >= 0.0 {
                '('
            } else {
                '['
            };
            let close = if custom || upper > 0.0 { ']' } else { ')' };
            out.push_str(&format!(
                ", {open}{},{}{close}:{}",
                g(lower),
                g(upper),
                g(c)
            ));
        }
        out.push('}');
        out
    }

    /// Prometheus `DetectReset`: whether `self`, following `prev`, starts a new counter.
    pub fn detect_reset(&self, prev: &FloatHistogram) -> bool {
        match self.hint {
            CounterResetHint::CounterReset => return true,
            CounterResetHint::NotCounterReset => return false,
            _ => {}
        }
        if self.count < prev.count {
            return true;
        }
        if self.uses_custom_buckets() != prev.uses_custom_buckets() {
            return true;
        }
        if self.uses_custom_buckets() {
            let target = intersect_bounds(&self.custom_values, &prev.custom_values);
            let cur = map_custom(&self.positive, &self.custom_values, &target);
            let old = map_custom(&prev.positive, &prev.custom_values, &target);
            return buckets_reset(&cur, &old);
        }
        if self.schema > prev.schema || self.zero_threshold < prev.zero_threshold {
            return true;
        }
        let (prev_zero, threshold) = prev.zero_count_for_larger_threshold(self.zero_threshold);
        if threshold != self.zero_threshold || self.zero_count < prev_zero {
            return true;
        }
        let outside = |h: &FloatHistogram, b: &[(i32, f64)]| -> Vec<(i32, f64)> {
            let v: Vec<(i32, f64)> = b
                .iter()
                .copied()
                .filter(|x| bucket_bound(x.0, h.schema, &h.custom_values) > self.zero_threshold)
                .collect();
            reduce(&v, h.schema, self.schema)
        };
        buckets_reset(
            &outside(self, &self.positive),
            &outside(prev, &prev.positive),
        ) || buckets_reset(
            &outside(self, &self.negative),
            &outside(prev, &prev.negative),
        )
    }

    /// Bit-exact equality of the data (Prometheus `Equals`), empty buckets ignored.
    pub fn equals(&self, o: &FloatHistogram) -> bool {
        let bits = |a: f64, b: f64| a.to_bits() == b.to_bits();
        let buckets = |a: &[(i32, f64)], b: &[(i32, f64)]| {
            let a = a.iter().filter(|x| x.1 != 0.0);
            let b: Vec<&(i32, f64)> = b.iter().filter(|x| x.1 != 0.0).collect();
            a.clone().count() == b.len() && a.zip(b).all(|(x, y)| x.0 == y.0 && bits(x.1, y.1))
        };
        self.schema == o.schema
            && bits(self.count, o.count)
            && bits(self.sum, o.sum)
            && (!self.uses_custom_buckets() || self.custom_values == o.custom_values)
            && (self.uses_custom_buckets()
                || (bits(self.zero_threshold, o.zero_threshold)
                    && bits(self.zero_count, o.zero_count)
                    && buckets(&self.negative, &o.negative)))
            && buckets(&self.positive, &o.positive)
    }
}

/// True if a populated bucket of `prev` is missing in or larger than `cur` (`detectReset`).
fn buckets_reset(cur: &[(i32, f64)], prev: &[(i32, f64)]) -> bool {
    prev.iter().any(|&(i, c)| match count_at(cur, i) {
        Some(n) => n < c,
        None => c != 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(schema: i32, pos: &[(i32, f64)]) -> FloatHistogram {
        let count = pos.iter().map(|b| b.1).sum();
        FloatHistogram {
            schema,
            count,
            sum: count,
            positive: pos.to_vec(),
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn kahan_add_keeps_small_terms_next_to_huge_ones() {
        let with_sum = |sum: f64| FloatHistogram {
            sum,
            positive: vec![(1, sum.abs().min(1.0))],
            ..FloatHistogram::default()
        };
        let mut acc = with_sum(1.0);
        let mut c = None;
        for s in [1e100, 1.0, -1e100] {
            c = Some(acc.kahan_add(&with_sum(s), c).unwrap().0);
        }
        acc.add(&c.unwrap()).unwrap();
        assert_eq!(acc.sum, 2.0);
        assert_eq!(acc.positive, vec![(1, 4.0)]);
        assert!(!acc.has_overflow());
    }

    #[test]
    fn add_reduces_to_the_lower_schema() {
        let mut a = exp(0, &[(1, 1.0), (2, 1.0)]);
        let b = exp(1, &[(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)]);
        a.add(&b).unwrap();
        // Schema 1 buckets 1,2 merge into schema 0 bucket 1; 3,4 into bucket 2.
        assert_eq!(a.schema, 0);
        assert_eq!(a.positive, vec![(1, 3.0), (2, 3.0)]);
        assert_eq!(a.count, 6.0);
    }

    #[test]
    fn custom_bounds_are_reconciled_to_their_intersection() {
        let mut a = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            custom_values: vec![1.0, 2.0, 5.0],
            positive: vec![(0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0)],
            ..FloatHistogram::default()
        };
        let b = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            custom_values: vec![2.0, 10.0],
            positive: vec![(0, 1.0), (1, 1.0), (2, 1.0)],
            ..FloatHistogram::default()
        };
        let notes = a.add(&b).unwrap();
        assert!(notes.bounds_reconciled);
        assert_eq!(a.custom_values, vec![2.0]);
        assert_eq!(a.positive, vec![(0, 3.0), (1, 4.0)]);
        let mut e = exp(0, &[]);
        assert_eq!(e.add(&b), Err(IncompatibleSchema));
    }

    #[test]
    fn detects_bucket_resets_and_honours_hints() {
        let prev = exp(0, &[(1, 2.0)]);
        let mut cur = exp(0, &[(1, 1.0), (2, 5.0)]);
        assert!(cur.detect_reset(&prev));
        cur.hint = CounterResetHint::NotCounterReset;
        assert!(!cur.detect_reset(&prev));
        assert!(!exp(0, &[(1, 2.0), (2, 1.0)]).detect_reset(&prev));
    }

    #[test]
    fn exponential_bounds() {
        assert_eq!(bucket_bound(0, 0, &[]), 1.0);
        assert_eq!(bucket_bound(1, 0, &[]), 2.0);
        assert_eq!(bucket_bound(-1, 0, &[]), 0.5);
        assert!((bucket_bound(1, 1, &[]) - std::f64::consts::SQRT_2).abs() < 1e-15);
        assert_eq!(bucket_bound(1024, 0, &[]), f64::MAX);
    }

    #[test]
    fn odd_input_does_not_panic() {
        let mut h = exp(8, &[(i32::MIN, 1.0), (i32::MAX, f64::NAN)]);
        h.zero_threshold = f64::NAN;
        let o = exp(-4, &[(i32::MIN, 1.0)]);
        let _ = h.clone().add(&o);
        let _ = h.detect_reset(&o);
        let _ = h.all_buckets();
        let _ = h.go_string();
        h.reduce_resolution(-53);
    }

    #[test]
    fn go_formatting() {
        assert_eq!(format_go_g(1e6), "1e+06");
        assert_eq!(format_go_g(123456.0), "123456");
        assert_eq!(format_go_g(0.001), "0.001");
        assert_eq!(format_go_g(0.00001), "1e-05");
        let h = FloatHistogram {
            count: 20.0,
            sum: 10.0,
            zero_threshold: 0.001,
            zero_count: 2.0,
            positive: vec![(0, 1.0), (1, 2.0)],
            negative: vec![(0, 1.0), (1, 2.0)],
            ..FloatHistogram::default()
        };
        assert_eq!(
            h.go_string(),
            "{count:20, sum:10, [-2,-1):2, [-1,-0.5):1, [-0.001,0.001]:2, (0.5,1]:1, (1,2]:2}"
        );
    }
}
