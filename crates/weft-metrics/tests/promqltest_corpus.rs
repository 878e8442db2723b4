//! Parses every file of the vendored Prometheus engine-test corpus
//! (`shared/conformance/promqltest/*.test`, read in place) and checks nothing fails to parse.
//! Run with `--nocapture` to see per-file counts.

use std::path::PathBuf;

use weft_metrics::promqltest::{parse_file, Command, ExpectedResult, PointValue};

/// Eval commands in the corpus (Prometheus v3.14.0 testdata); update when the corpus changes.
const EXPECTED_EVAL_CASES: usize = 2195;

#[test]
fn promqltest_corpus_parses() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promqltest");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "promqltest corpus directory {} is missing or unreadable ({e}); it holds Prometheus' \
             promql/promqltest/testdata/*.test files",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read corpus dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test files in {}", dir.display());

    let (mut loads, mut evals, mut fails, mut series) = (0, 0, 0, 0);
    let (mut scalars, mut strings, mut range_vectors, mut st_series, mut hist_points) =
        (0, 0, 0, 0, 0);
    let mut errors = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        match parse_file(&name, &text) {
            Ok(f) => {
                let l = f.loads();
                let e = f.evals().count();
                let fl = f.evals().filter(|e| e.fail.is_some()).count();
                let s: usize = f
                    .evals()
                    .map(|e| match &e.result {
                        ExpectedResult::Series(s) => s.len(),
                        _ => 1,
                    })
                    .sum();
                println!(
                    "{name:32} load {l:4}  clear {:4}  eval {e:5}  expect-fail {fl:4}",
                    f.clears()
                );
                for c in &f.commands {
                    match c {
                        Command::Load(l) => {
                            st_series += l
                                .series
                                .iter()
                                .filter(|s| s.start_offsets_ms.is_some())
                                .count();
                            hist_points += l
                                .series
                                .iter()
                                .flat_map(|s| &s.points)
                                .filter(|p| matches!(p, Some(PointValue::Histogram(_))))
                                .count();
                        }
                        Command::Eval(e) => {
                            scalars += usize::from(matches!(e.result, ExpectedResult::Scalar(_)));
                            strings += usize::from(matches!(e.result, ExpectedResult::String(_)));
                            range_vectors += usize::from(e.range_vector.is_some());
                        }
                        Command::Clear => {}
                    }
                }
                loads += l;
                evals += e;
                fails += fl;
                series += s;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    println!(
        "TOTAL {} files: {loads} load, {evals} eval ({fails} expecting failure), {series} expected results",
        files.len()
    );
    println!(
        "{scalars} scalar and {strings} string expectations, {range_vectors} `expect range vector`, \
         {st_series} series with start timestamps, {hist_points} loaded histogram points"
    );
    assert!(errors.is_empty(), "parse errors:\n{}", errors.join("\n"));
    assert_eq!(evals, EXPECTED_EVAL_CASES, "eval case count changed");
    // Cross-checked with grep over the corpus: bare-number lines, `expect string`,
    // `expect range vector`, `@st` lines, `expect fail` + `eval_fail`.
    assert_eq!(
        (scalars, strings, range_vectors, st_series, fails),
        (54, 5, 5, 37, 34)
    );
    assert_eq!(loads, 306);
}
