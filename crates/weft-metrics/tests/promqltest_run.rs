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
/// The parser turns `\xNN` escapes into valid UTF-8.
const UTF8: &str = "invalid UTF-8 label name: promql-parser decodes \\xNN escapes (e.g. \\xc5 as Å) into valid UTF-8";

/// Known failing eval cases: file, line of the `eval`, reason.
const SKIP: &[(&str, usize, &str)] = &[
    ("aggregators.test", 481, UTF8),
    ("functions.test", 523, UTF8),
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
