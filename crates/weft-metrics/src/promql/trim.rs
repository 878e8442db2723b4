//! Native-histogram trim operators (Prometheus 3): `h </ x` keeps the observations below `x`,
//! `h >/ x` those above it, interpolating inside the bucket that straddles `x`.
//!
//! `promql-parser` 0.11 cannot lex `</` and `>/`. Prometheus' grammar gives them the
//! precedence and left associativity of the comparison operators (`%left EQLC GTE GTR LSS LTE
//! NEQ TRIM_UPPER TRIM_LOWER`), so [`rewrite`] replaces `</` by `<` and `>/` by `>`: the parser
//! then builds exactly the tree Prometheus builds, vector matching (`on`, `group_left`, …)
//! included. Which of the resulting `<`/`>` nodes were trims is recorded in source order; a
//! binary tree's in-order traversal visits its operators in source order, so
//! `trim_nodes` pairs the flags with the parsed nodes.

use promql_parser::parser::{BinaryExpr, Expr};

use super::histogram::{Bucket, FloatHistogram};

/// A trim operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// `</` (Prometheus `TRIM_UPPER`): drop observations above the operand.
    Upper,
    /// `>/` (Prometheus `TRIM_LOWER`): drop observations below the operand.
    Lower,
}

impl Trim {
    /// The operator as written in PromQL.
    pub fn symbol(self) -> &'static str {
        match self {
            Trim::Upper => "</",
            Trim::Lower => ">/",
        }
    }
}

/// Rewrites `</` and `>/` into `<` and `>` (plus a space, keeping offsets). Returns the query
/// and, for each `<` or `>` operator token (not `<=`/`>=`) in source order, whether it was a
/// trim. Strings and `#` comments are left alone.
pub fn rewrite(q: &str) -> (String, Vec<Option<Trim>>) {
    let b = q.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut flags = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        match c {
            b'"' | b'\'' | b'`' => {
                let end = super::durexpr::skip_string_literal(b, i).min(b.len());
                out.extend_from_slice(&b[i..end]);
                i = end;
                continue;
            }
            b'#' => {
                let end = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p);
                out.extend_from_slice(&b[i..end]);
                i = end;
                continue;
            }
            b'<' | b'>' if next == Some(b'=') => {
                // `<=`/`>=` are distinct operators, never trims.
                out.extend_from_slice(&b[i..i + 2]);
                i += 2;
                continue;
            }
            b'<' | b'>' if next == Some(b'/') => {
                // Like Prometheus' lexer: `<` directly followed by `/` is always a trim.
                flags.push(Some(if c == b'<' { Trim::Upper } else { Trim::Lower }));
                out.extend_from_slice(&[c, b' ']);
                i += 2;
                continue;
            }
            b'<' | b'>' => flags.push(None),
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    // Only ASCII bytes were replaced by ASCII bytes, so the text stays valid UTF-8.
    let text = String::from_utf8(out).unwrap_or_else(|_| q.to_string());
    (text, flags)
}

/// The `<` and `>` binary nodes of `e`, in source order (in-order traversal).
pub(super) fn comparison_nodes<'e>(e: &'e Expr, out: &mut Vec<&'e BinaryExpr>) {
    match e {
        Expr::Paren(p) => comparison_nodes(&p.expr, out),
        Expr::Unary(u) => comparison_nodes(&u.expr, out),
        Expr::Subquery(sq) => comparison_nodes(&sq.expr, out),
        Expr::Binary(b) => {
            comparison_nodes(&b.lhs, out);
            if matches!(b.op.to_string().as_str(), "<" | ">") {
                out.push(b);
            }
            comparison_nodes(&b.rhs, out);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                comparison_nodes(p, out);
            }
            comparison_nodes(&a.expr, out);
        }
        Expr::Call(c) => c.args.args.iter().for_each(|a| comparison_nodes(a, out)),
        _ => {}
    }
}

/// Pairs the trim flags from [`rewrite`] with the parsed `<`/`>` nodes of `e`; checks what
/// Prometheus' parser checks for trims (no `bool` modifier).
pub(super) fn trim_nodes<'e>(
    e: &'e Expr,
    flags: &[Option<Trim>],
) -> Result<Vec<(&'e BinaryExpr, Trim)>, String> {
    if flags.iter().all(Option::is_none) {
        return Ok(Vec::new());
    }
    let mut nodes = Vec::new();
    comparison_nodes(e, &mut nodes);
    if nodes.len() != flags.len() {
        return Err("could not place trim operators `</` / `>/` in the query".into());
    }
    let mut out = Vec::new();
    for (b, f) in nodes.into_iter().zip(flags) {
        let Some(t) = f else { continue };
        if b.modifier.as_ref().is_some_and(|m| m.return_bool) {
            return Err(
                "parse error: bool modifier can only be used on comparison operators".into(),
            );
        }
        out.push((b, *t));
    }
    Ok(out)
}

/// Prometheus `TrimBuckets`: `h` with the observations above (`Upper`) or below (`Lower`)
/// `x` removed. Count and sum are recomputed from bucket midpoints only when something was
/// trimmed, so a no-op trim keeps the exact original sum.
pub(super) fn trim_buckets(h: &FloatHistogram, x: f64, op: Trim) -> FloatHistogram {
    let mut h = h.clone();
    let custom = h.uses_custom_buckets();
    let mut acc = Acc::default();
    let positive = std::mem::take(&mut h.positive);
    let negative = std::mem::take(&mut h.negative);
    h.positive = trim_side(&h, positive, true, x, op, custom, &mut acc);
    h.negative = trim_side(&h, negative, false, x, op, custom, &mut acc);
    let (has_positive, has_negative) = (acc.had_positive, acc.had_negative);
    if h.zero_count > 0.0 {
        let zero = Bucket {
            lower: -h.zero_threshold,
            upper: h.zero_threshold,
            count: h.zero_count,
        };
        let (keep, mid) = zero_bucket_trim(zero, x, has_negative, has_positive, op);
        if h.zero_count != keep {
            h.zero_count = keep;
            acc.trimmed = true;
        }
        acc.sum += mid * keep;
        acc.count += keep;
    }
    if acc.trimmed {
        h.count = acc.count;
        h.sum = acc.sum;
        h.compact();
    }
    h
}

/// Running totals of a trim.
#[derive(Default)]
struct Acc {
    count: f64,
    sum: f64,
    trimmed: bool,
    /// Whether a populated positive/negative bucket existed before trimming (decides the
    /// zero bucket's bias).
    had_positive: bool,
    had_negative: bool,
}

/// Trims one side's buckets (positive ones ascending, negative ones away from zero, as
/// Prometheus iterates them).
fn trim_side(
    h: &FloatHistogram,
    buckets: Vec<(i32, f64)>,
    positive: bool,
    x: f64,
    op: Trim,
    custom: bool,
    acc: &mut Acc,
) -> Vec<(i32, f64)> {
    let mut out = Vec::with_capacity(buckets.len());
    for (idx, count) in buckets {
        if count == 0.0 {
            out.push((idx, count));
            continue;
        }
        if positive {
            acc.had_positive = true;
        } else {
            acc.had_negative = true;
        }
        let b = signed_bucket(h, idx, count, positive);
        let (keep_all, straddles) = match op {
            Trim::Upper => (b.upper <= x, b.lower < x),
            Trim::Lower => (b.lower >= x, b.upper > x),
        };
        let kept = if keep_all {
            acc.count += count;
            acc.sum += midpoint(b.lower, b.upper, positive, custom) * count;
            count
        } else if straddles {
            let (keep, mid) = bucket_trim(b, x, op, positive, custom);
            acc.count += keep;
            acc.sum += mid * keep;
            if keep != count {
                acc.trimmed = true;
            }
            keep
        } else {
            acc.trimmed = true;
            0.0
        };
        out.push((idx, kept));
    }
    out
}

/// Bucket `idx` with its real (signed) bounds.
fn signed_bucket(h: &FloatHistogram, idx: i32, count: f64, positive: bool) -> Bucket {
    let below = super::histogram::bucket_bound(idx.saturating_sub(1), h.schema, &h.custom_values);
    let at = super::histogram::bucket_bound(idx, h.schema, &h.custom_values);
    if positive {
        Bucket {
            lower: below,
            upper: at,
            count,
        }
    } else {
        Bucket {
            lower: -at,
            upper: -below,
            count,
        }
    }
}

/// Prometheus `computeBucketTrim`: the count kept of a bucket containing `x`, and the
/// midpoint of the surviving part.
fn bucket_trim(b: Bucket, x: f64, op: Trim, positive: bool, custom: bool) -> (f64, f64) {
    if b.lower == f64::NEG_INFINITY || b.upper == f64::INFINITY {
        return infinite_bucket_trim(b, x, op);
    }
    let below = if x <= b.lower {
        0.0
    } else if x >= b.upper {
        b.count
    } else {
        b.count * fraction_below(&b, x, custom)
    };
    match op {
        Trim::Upper => (below, midpoint(b.lower, x, positive, custom)),
        Trim::Lower => (b.count - below, midpoint(x, b.upper, positive, custom)),
    }
}

/// Prometheus `Bucket.FractionBelow`: linear for custom buckets, logarithmic otherwise
/// (negative buckets mirrored).
fn fraction_below(b: &Bucket, v: f64, linear: bool) -> f64 {
    if linear {
        return (v - b.lower) / (b.upper - b.lower);
    }
    let (lo, up, lv) = (b.lower.abs().log2(), b.upper.abs().log2(), v.abs().log2());
    if v > 0.0 {
        (lv - lo) / (up - lo)
    } else {
        1.0 - (lv - up) / (lo - up)
    }
}

/// Prometheus `handleInfinityBuckets`: custom buckets reaching to ±Inf. Nothing is known
/// about the distribution inside them, so they are kept or dropped whole, except that a
/// first bucket with a positive upper bound is treated as starting at 0.
fn infinite_bucket_trim(b: Bucket, x: f64, op: Trim) -> (f64, f64) {
    let finite_or_zero = |v: f64| if v.is_infinite() { 0.0 } else { v };
    if b.lower == f64::NEG_INFINITY {
        return match op {
            Trim::Upper if x >= b.upper => (b.count, 0.0),
            Trim::Upper if x > 0.0 && b.upper > 0.0 && b.upper.is_finite() => {
                (b.count * x / b.upper, x / 2.0)
            }
            Trim::Upper if b.upper <= 0.0 => (b.count, x),
            Trim::Upper => (0.0, finite_or_zero(b.upper)),
            Trim::Lower if x <= b.lower => (b.count, 0.0),
            Trim::Lower if x >= 0.0 && b.upper > x && b.upper.is_finite() => {
                (b.count * (1.0 - x / b.upper), (x + b.upper) / 2.0)
            }
            Trim::Lower => (0.0, finite_or_zero(b.upper)),
        };
    }
    // Upper bound +Inf.
    match op {
        Trim::Upper => (0.0, finite_or_zero(b.lower)),
        Trim::Lower if x >= b.lower => (b.count, x),
        Trim::Lower => (0.0, finite_or_zero(b.lower)),
    }
}

/// Prometheus `computeZeroBucketTrim`: the zero bucket is taken to span only the side(s)
/// where populated buckets exist, and is trimmed linearly.
fn zero_bucket_trim(z: Bucket, x: f64, has_neg: bool, has_pos: bool, op: Trim) -> (f64, f64) {
    let mut lower = z.lower;
    let mut upper = z.upper;
    if has_neg && !has_pos {
        upper = 0.0;
    }
    if has_pos && !has_neg {
        lower = 0.0;
    }
    let whole = (z.count, (lower + upper) / 2.0);
    match op {
        Trim::Upper if x <= lower => (0.0, 0.0),
        Trim::Upper if x >= upper => whole,
        Trim::Upper => (z.count * (x - lower) / (upper - lower), (lower + x) / 2.0),
        Trim::Lower if x <= lower => whole,
        Trim::Lower if x >= upper => (0.0, 0.0),
        Trim::Lower => (z.count * (upper - x) / (upper - lower), (x + upper) / 2.0),
    }
}

/// Prometheus `computeMidpoint`: the representative value of the surviving interval —
/// arithmetic mean for custom buckets, geometric mean (signed) for exponential ones, and the
/// finite end (halved when positive) for intervals reaching to infinity.
fn midpoint(lower: f64, upper: f64, positive: bool, linear: bool) -> f64 {
    if lower.is_infinite() {
        if upper.is_infinite() {
            return 0.0;
        }
        return if upper > 0.0 { upper / 2.0 } else { upper };
    }
    if upper.is_infinite() {
        return lower;
    }
    if linear {
        return (lower + upper) / 2.0;
    }
    let g = (lower * upper).abs().sqrt();
    if positive {
        g
    } else {
        -g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_keeps_strings_and_flags_order() {
        let (q, f) = rewrite(r#"a </ b > c >/ on(x) d{l="</"} <= e # >/"#);
        assert_eq!(q, r#"a <  b > c >  on(x) d{l="</"} <= e # >/"#);
        assert_eq!(f, vec![Some(Trim::Upper), None, Some(Trim::Lower)]);
    }

    #[test]
    fn trims_keep_comparison_precedence() {
        // `+` binds tighter, comparisons and trims associate left: ((a </ (b + 1)) > c).
        let q = crate::promql::parse_query("a </ b + 1 > c", 0, 0).unwrap();
        let nodes = trim_nodes(&q.expr, &q.trims).unwrap();
        assert_eq!(nodes.len(), 1);
        let (node, t) = nodes[0];
        assert_eq!(t, Trim::Upper);
        assert_eq!(node.rhs.to_string(), "b + 1");
        assert!(matches!(&*node.lhs, Expr::VectorSelector(_)));
    }

    #[test]
    fn trim_rejects_bool() {
        let q = crate::promql::parse_query("a >/ bool 1", 0, 0).unwrap();
        let err = trim_nodes(&q.expr, &q.trims).unwrap_err();
        assert!(err.contains("bool modifier can only be used on comparison operators"));
    }

    #[test]
    fn trim_interpolates_custom_buckets_linearly() {
        let h = FloatHistogram {
            schema: crate::promql::histogram::CUSTOM_BUCKETS_SCHEMA,
            count: 15.0,
            sum: 172.5,
            custom_values: vec![5.0, 10.0, 15.0, 20.0],
            positive: vec![(0, 1.0), (1, 6.0), (2, 4.0), (3, 3.0), (4, 1.0)],
            ..FloatHistogram::default()
        };
        let below = trim_buckets(&h, 13.0, Trim::Upper);
        assert!((below.count - 9.4).abs() < 1e-9);
        assert!((below.sum - 75.1).abs() < 1e-9);
        let above = trim_buckets(&h, 13.0, Trim::Lower);
        assert!((above.count - 5.6).abs() < 1e-9);
        // A no-op trim keeps the exact original histogram.
        assert_eq!(trim_buckets(&h, f64::INFINITY, Trim::Upper), h);
    }

    #[test]
    fn rewrite_never_panics_on_fragments() {
        for q in ["<", ">/", "\"</", "'", "#", "a </", "`x</`>/"] {
            let _ = rewrite(q);
        }
    }
}
