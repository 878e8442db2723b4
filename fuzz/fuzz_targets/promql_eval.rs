//! Any text as a PromQL query, evaluated as an instant query and as a small range query over
//! a fixed set of series (counters, gauges with NaN/±Inf, a stale marker, a classic
//! histogram): parsing and evaluation must return a value or an error, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_core::labels::Labels;
use weft_metrics::promql::{parse_query, Evaluator, MemStorage, STALE_NAN_BITS};

fn storage() -> MemStorage {
    let mut s = MemStorage::new();
    let l = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied()).expect("valid labels");
    for i in 0..20i64 {
        let t = i * 15_000;
        s.append(l(&[("__name__", "up"), ("job", "a"), ("instance", "x")]), t, 1.0);
        s.append(l(&[("__name__", "req_total"), ("job", "a"), ("code", "200")]), t, (i * 10) as f64);
        s.append(l(&[("__name__", "req_total"), ("job", "b"), ("code", "500")]), t, ((i % 7) * 3) as f64);
        let g = match i % 9 {
            3 => f64::NAN,
            5 => f64::INFINITY,
            7 => -0.0,
            _ => (i as f64 - 8.5) * 1.25,
        };
        s.append(l(&[("__name__", "temp"), ("room", "k")]), t, g);
        for (le, frac) in [("0.1", 0.2), ("1", 0.7), ("+Inf", 1.0)] {
            s.append(l(&[("__name__", "lat_bucket"), ("le", le)]), t, (i as f64 * 4.0 * frac).floor());
        }
    }
    s.append(l(&[("__name__", "up"), ("job", "a"), ("instance", "x")]), 300_000, f64::from_bits(STALE_NAN_BITS));
    s
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 512 {
        return;
    }
    let storage = storage();
    if let Ok(q) = parse_query(text, 0, 0) {
        let mut ev = Evaluator::new(&storage);
        if ev.prepare(&q).is_ok() {
            let _ = ev.instant(&q.expr, 150_000);
        }
    }
    if let Ok(q) = parse_query(text, 30_000, 240_000) {
        let mut ev = Evaluator::new(&storage);
        if ev.prepare(&q).is_ok() {
            let _ = ev.range(&q.expr, 60_000, 300_000, 30_000);
        }
    }
});
