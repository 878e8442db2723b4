//! Runs every `promqltest` corpus file (Prometheus' engine tests, vendored under
//! `shared/conformance/promqltest/`) through the engine and enforces a pass-count ratchet.
//!
//! `cargo test -p weft-metrics --test promqltest_run -- --nocapture` prints per-file counts;
//! set `PROMQLTEST_VERBOSE=1` to also print every failure.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use weft_metrics::promql::testing::TestEngine;
use weft_metrics::promqltest::{parse_file, run_file};

/// Cases passing as of the last measurement. Raise it when the engine improves; never lower it
/// without a reason written here.
const BASELINE: usize = 1330;
/// Total eval cases in the corpus (Prometheus v3.14).
const TOTAL_CASES: usize = 2195;
/// Generous bound on the whole run (debug build) — catches runaway evaluation.
const MAX_RUN_TIME: Duration = Duration::from_secs(300);

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promqltest")
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
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).expect("read corpus file");
        let file = parse_file(&name, &text).unwrap_or_else(|e| panic!("parse {name}: {e}"));
        let cases = file.evals().count();
        let mut engine = TestEngine::new();
        let failures = run_file(&mut engine, &file);
        let failed = failures.iter().filter(|f| !f.expr.is_empty()).count();
        let load_failed = failures.iter().any(|f| f.expr.is_empty());
        // A failed load aborts the file: every case after it counts as failed.
        let ok = if load_failed {
            let first = failures.iter().map(|f| f.line).min().unwrap_or(0);
            file.evals()
                .filter(|c| c.line < first)
                .count()
                .saturating_sub(failed)
        } else {
            cases - failed
        };
        println!("{name:32} {ok:5} / {cases:5}");
        if verbose {
            for f in &failures {
                println!("    line {}: {}\n        {}", f.line, f.expr, f.message);
            }
        }
        total += cases;
        passed += ok;
    }
    let elapsed = started.elapsed();
    println!("TOTAL {passed} / {total} passed in {elapsed:?}");
    assert_eq!(total, TOTAL_CASES, "corpus changed size");
    assert!(
        elapsed < MAX_RUN_TIME,
        "corpus run took {elapsed:?} (limit {MAX_RUN_TIME:?})"
    );
    assert!(
        passed >= BASELINE,
        "conformance regressed: {passed} passed, baseline {BASELINE}"
    );
}
