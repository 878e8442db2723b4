//! Runs every `promqltest` corpus file (Prometheus' engine tests, vendored under
//! `shared/conformance/promqltest/`) through the engine against an explicit skip list.
//!
//! Every eval case that fails must be listed in [`SKIP`] with its reason; the test fails on a
//! failing case that is not listed, and on a listed case that passes (remove it from the list,
//! so the list only shrinks).
//!
//! `cargo test -p weft-metrics --test promqltest_run -- --nocapture` prints per-file counts;
//! set `PROMQLTEST_VERBOSE=1` to also print every failure.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use weft_metrics::promql::testing::TestEngine;
use weft_metrics::promqltest::{parse_file, run_file, TestFile};

/// Total eval cases in the corpus (Prometheus v3.14).
const TOTAL_CASES: usize = 2195;
/// Generous bound on the whole run (debug build) — catches runaway evaluation.
const MAX_RUN_TIME: Duration = Duration::from_secs(300);

/// Start timestamps are not part of the engine's storage model.
const START_TS: &str = "start timestamps (@st) not stored";
/// Prometheus 3.x histogram trim operators.
const TRIM: &str = "native histograms: trim operators `</` and `>/` not parsed by promql-parser 0.11 (and TrimBuckets not implemented)";
/// `anchored`/`smoothed` over histogram samples.
const EXTENDED: &str = "native histograms: anchored/smoothed range and instant selectors over histogram samples (extendedHistogramRate, histogram interpolation) not implemented";
/// Prometheus sums histograms with Kahan compensation and an overflow-safe incremental mean.
const KAHAN: &str = "native histograms: Kahan-compensated / incremental-mean histogram summation (sum, avg, sum_over_time, avg_over_time) not implemented";
/// Hints only Prometheus' storage-level HistogramStatsIterator produces.
const STATS_ITER: &str = "native histograms: counter reset hints synthesized by Prometheus' HistogramStatsIterator (under histogram_count/histogram_sum) not emulated";
/// The parser turns `\xNN` escapes into valid UTF-8.
const UTF8: &str = "invalid UTF-8 label name: promql-parser decodes \\xNN escapes (e.g. \\xc5 as Å) into valid UTF-8";

/// Known failing eval cases: file, line of the `eval`, reason.
const SKIP: &[(&str, usize, &str)] = &[
    ("aggregators.test", 481, UTF8),
    ("extended_vectors.test", 475, EXTENDED),
    ("extended_vectors.test", 478, EXTENDED),
    ("extended_vectors.test", 484, EXTENDED),
    ("extended_vectors.test", 487, EXTENDED),
    ("extended_vectors.test", 493, EXTENDED),
    ("extended_vectors.test", 497, EXTENDED),
    ("extended_vectors.test", 501, EXTENDED),
    ("extended_vectors.test", 504, EXTENDED),
    ("extended_vectors.test", 510, EXTENDED),
    ("extended_vectors.test", 515, EXTENDED),
    ("extended_vectors.test", 520, EXTENDED),
    ("extended_vectors.test", 526, EXTENDED),
    ("extended_vectors.test", 530, EXTENDED),
    ("extended_vectors.test", 534, EXTENDED),
    ("extended_vectors.test", 545, EXTENDED),
    ("extended_vectors.test", 555, EXTENDED),
    ("extended_vectors.test", 561, EXTENDED),
    ("extended_vectors.test", 576, EXTENDED),
    ("extended_vectors.test", 579, EXTENDED),
    ("extended_vectors.test", 588, EXTENDED),
    ("extended_vectors.test", 592, EXTENDED),
    ("extended_vectors.test", 598, EXTENDED),
    ("extended_vectors.test", 607, EXTENDED),
    ("extended_vectors.test", 610, EXTENDED),
    ("extended_vectors.test", 622, EXTENDED),
    ("extended_vectors.test", 631, EXTENDED),
    ("extended_vectors.test", 642, EXTENDED),
    ("extended_vectors.test", 653, EXTENDED),
    ("extended_vectors.test", 664, EXTENDED),
    ("extended_vectors.test", 676, EXTENDED),
    ("extended_vectors.test", 686, EXTENDED),
    ("extended_vectors.test", 695, EXTENDED),
    ("extended_vectors.test", 698, EXTENDED),
    ("extended_vectors.test", 715, EXTENDED),
    ("functions.test", 523, UTF8),
    ("native_histograms.test", 1415, KAHAN),
    ("native_histograms.test", 1436, KAHAN),
    ("native_histograms.test", 1468, KAHAN),
    ("native_histograms.test", 1508, KAHAN),
    ("native_histograms.test", 1511, KAHAN),
    ("native_histograms.test", 1514, KAHAN),
    ("native_histograms.test", 1517, KAHAN),
    ("native_histograms.test", 1530, KAHAN),
    ("native_histograms.test", 1533, KAHAN),
    ("native_histograms.test", 1536, KAHAN),
    ("native_histograms.test", 1539, KAHAN),
    ("native_histograms.test", 1542, KAHAN),
    ("native_histograms.test", 1545, KAHAN),
    ("native_histograms.test", 1548, KAHAN),
    ("native_histograms.test", 1558, KAHAN),
    ("native_histograms.test", 1561, KAHAN),
    ("native_histograms.test", 1857, STATS_ITER),
    ("native_histograms.test", 1862, STATS_ITER),
    ("native_histograms.test", 1867, STATS_ITER),
    ("native_histograms.test", 1872, STATS_ITER),
    ("native_histograms.test", 1880, STATS_ITER),
    ("native_histograms.test", 1885, STATS_ITER),
    ("native_histograms.test", 1947, STATS_ITER),
    ("native_histograms.test", 1951, STATS_ITER),
    ("native_histograms.test", 1955, STATS_ITER),
    ("native_histograms.test", 2043, TRIM),
    ("native_histograms.test", 2046, TRIM),
    ("native_histograms.test", 2049, TRIM),
    ("native_histograms.test", 2052, TRIM),
    ("native_histograms.test", 2055, TRIM),
    ("native_histograms.test", 2058, TRIM),
    ("native_histograms.test", 2063, TRIM),
    ("native_histograms.test", 2066, TRIM),
    ("native_histograms.test", 2073, TRIM),
    ("native_histograms.test", 2076, TRIM),
    ("native_histograms.test", 2079, TRIM),
    ("native_histograms.test", 2082, TRIM),
    ("native_histograms.test", 2086, TRIM),
    ("native_histograms.test", 2089, TRIM),
    ("native_histograms.test", 2092, TRIM),
    ("native_histograms.test", 2095, TRIM),
    ("native_histograms.test", 2103, TRIM),
    ("native_histograms.test", 2106, TRIM),
    ("native_histograms.test", 2109, TRIM),
    ("native_histograms.test", 2112, TRIM),
    ("native_histograms.test", 2115, TRIM),
    ("native_histograms.test", 2118, TRIM),
    ("native_histograms.test", 2126, TRIM),
    ("native_histograms.test", 2129, TRIM),
    ("native_histograms.test", 2132, TRIM),
    ("native_histograms.test", 2135, TRIM),
    ("native_histograms.test", 2138, TRIM),
    ("native_histograms.test", 2141, TRIM),
    ("native_histograms.test", 2149, TRIM),
    ("native_histograms.test", 2152, TRIM),
    ("native_histograms.test", 2155, TRIM),
    ("native_histograms.test", 2158, TRIM),
    ("native_histograms.test", 2161, TRIM),
    ("native_histograms.test", 2164, TRIM),
    ("native_histograms.test", 2167, TRIM),
    ("native_histograms.test", 2170, TRIM),
    ("native_histograms.test", 2173, TRIM),
    ("native_histograms.test", 2176, TRIM),
    ("native_histograms.test", 2184, TRIM),
    ("native_histograms.test", 2187, TRIM),
    ("native_histograms.test", 2191, TRIM),
    ("native_histograms.test", 2194, TRIM),
    ("native_histograms.test", 2197, TRIM),
    ("native_histograms.test", 2201, TRIM),
    ("native_histograms.test", 2204, TRIM),
    ("native_histograms.test", 2207, TRIM),
    ("native_histograms.test", 2210, TRIM),
    ("native_histograms.test", 2213, TRIM),
    ("native_histograms.test", 2217, TRIM),
    ("native_histograms.test", 2220, TRIM),
    ("native_histograms.test", 2228, TRIM),
    ("native_histograms.test", 2231, TRIM),
    ("native_histograms.test", 2234, TRIM),
    ("native_histograms.test", 2242, TRIM),
    ("native_histograms.test", 2245, TRIM),
    ("native_histograms.test", 2253, TRIM),
    ("native_histograms.test", 2257, TRIM),
    ("native_histograms.test", 2261, TRIM),
    ("native_histograms.test", 2265, TRIM),
    ("native_histograms.test", 2269, TRIM),
    ("native_histograms.test", 2273, TRIM),
    ("native_histograms.test", 2281, TRIM),
    ("native_histograms.test", 2285, TRIM),
    ("native_histograms.test", 2289, TRIM),
    ("native_histograms.test", 2293, TRIM),
    ("native_histograms.test", 2297, TRIM),
    ("native_histograms.test", 2301, TRIM),
    ("native_histograms.test", 2309, TRIM),
    ("native_histograms.test", 2313, TRIM),
    ("native_histograms.test", 2317, TRIM),
    ("native_histograms.test", 2321, TRIM),
    ("native_histograms.test", 2325, TRIM),
    ("native_histograms.test", 2329, TRIM),
    ("native_histograms.test", 2333, TRIM),
    ("native_histograms.test", 2337, TRIM),
    ("native_histograms.test", 2345, TRIM),
    ("native_histograms.test", 2349, TRIM),
    ("native_histograms.test", 2353, TRIM),
    ("native_histograms.test", 2357, TRIM),
    ("native_histograms.test", 2361, TRIM),
    ("native_histograms.test", 2365, TRIM),
    ("native_histograms.test", 2369, TRIM),
    ("native_histograms.test", 2373, TRIM),
    ("native_histograms.test", 2377, TRIM),
    ("native_histograms.test", 2380, TRIM),
    ("native_histograms.test", 2390, TRIM),
    ("native_histograms.test", 2399, TRIM),
    ("native_histograms.test", 2403, TRIM),
    ("native_histograms.test", 2407, TRIM),
    ("native_histograms.test", 2411, TRIM),
    ("native_histograms.test", 2415, TRIM),
    ("native_histograms.test", 2419, TRIM),
    ("native_histograms.test", 2423, TRIM),
    ("native_histograms.test", 2427, TRIM),
    ("native_histograms.test", 2431, TRIM),
    ("native_histograms.test", 2435, TRIM),
    ("native_histograms.test", 2446, TRIM),
    ("native_histograms.test", 2452, TRIM),
    ("native_histograms.test", 2459, TRIM),
    ("native_histograms.test", 2465, TRIM),
    ("native_histograms.test", 2472, TRIM),
    ("native_histograms.test", 2478, TRIM),
    ("native_histograms.test", 2485, TRIM),
    ("native_histograms.test", 2491, TRIM),
    ("native_histograms.test", 2498, TRIM),
    ("native_histograms.test", 2504, TRIM),
    ("native_histograms.test", 2511, TRIM),
    ("native_histograms.test", 2517, TRIM),
    ("native_histograms.test", 2524, TRIM),
    ("native_histograms.test", 2530, TRIM),
    ("start_timestamps.test", 8, START_TS),
    ("start_timestamps.test", 13, START_TS),
    ("start_timestamps.test", 18, START_TS),
    ("start_timestamps.test", 24, START_TS),
    ("start_timestamps.test", 42, START_TS),
    ("start_timestamps.test", 66, START_TS),
    ("start_timestamps.test", 74, START_TS),
    ("start_timestamps.test", 82, START_TS),
    ("start_timestamps.test", 144, START_TS),
    ("start_timestamps.test", 169, START_TS),
    ("start_timestamps.test", 189, START_TS),
    ("start_timestamps.test", 207, START_TS),
    ("start_timestamps.test", 210, START_TS),
    ("start_timestamps.test", 213, START_TS),
    ("start_timestamps.test", 217, START_TS),
    ("start_timestamps.test", 234, START_TS),
    ("start_timestamps.test", 240, START_TS),
    ("start_timestamps.test", 246, START_TS),
    ("start_timestamps.test", 259, START_TS),
    ("start_timestamps.test", 276, START_TS),
    ("start_timestamps.test", 284, START_TS),
    ("start_timestamps.test", 289, START_TS),
    ("start_timestamps.test", 305, START_TS),
    ("start_timestamps.test", 310, START_TS),
];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promqltest")
}

/// Lines of the eval cases of `file` that fail (a failed load fails every later case).
fn failing_lines(file: &TestFile) -> BTreeSet<usize> {
    let mut engine = TestEngine::new();
    let failures = run_file(&mut engine, file);
    let mut lines: BTreeSet<usize> = failures
        .iter()
        .filter(|f| !f.expr.is_empty())
        .map(|f| f.line)
        .collect();
    if let Some(load) = failures.iter().find(|f| f.expr.is_empty()) {
        lines.extend(file.evals().map(|c| c.line).filter(|l| *l > load.line));
    }
    lines
}

#[test]
fn promqltest_corpus() {
    let dir = corpus_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "promqltest corpus not found at {}: {e} (expected the shared conformance checkout)",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read corpus dir").path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .test files in {}", dir.display());
    let verbose = std::env::var_os("PROMQLTEST_VERBOSE").is_some();
    let started = Instant::now();
    let (mut total, mut passed) = (0, 0);
    let mut unexpected_failures = Vec::new();
    let mut unexpected_passes = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).expect("read corpus file");
        let file = parse_file(&name, &text).unwrap_or_else(|e| panic!("parse {name}: {e}"));
        let cases = file.evals().count();
        let failing = failing_lines(&file);
        if verbose {
            let mut engine = TestEngine::new();
            for f in run_file(&mut engine, &file) {
                println!("    line {}: {}\n        {}", f.line, f.expr, f.message);
            }
        }
        let skipped: BTreeSet<usize> = SKIP.iter().filter(|s| s.0 == name).map(|s| s.1).collect();
        for line in failing.difference(&skipped) {
            unexpected_failures.push(format!("{name}:{line}"));
        }
        for line in skipped.difference(&failing) {
            unexpected_passes.push(format!("{name}:{line}"));
        }
        let ok = cases - failing.len();
        println!("{name:32} {ok:5} / {cases:5}");
        total += cases;
        passed += ok;
    }
    let elapsed = started.elapsed();
    println!(
        "TOTAL {passed} / {total} passed ({} skipped) in {elapsed:?}",
        SKIP.len()
    );
    assert_eq!(total, TOTAL_CASES, "corpus changed size");
    assert!(
        elapsed < MAX_RUN_TIME,
        "corpus run took {elapsed:?} (limit {MAX_RUN_TIME:?})"
    );
    assert!(
        unexpected_failures.is_empty(),
        "eval cases failing but not in SKIP (fix them or list them with a reason): {unexpected_failures:?}"
    );
    assert!(
        unexpected_passes.is_empty(),
        "eval cases in SKIP now pass; remove them from the list: {unexpected_passes:?}"
    );
}
