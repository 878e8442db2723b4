//! Tempo's own parser corpus (`test_examples.yaml` from grafana/tempo v3.0.3), read at run time
//! from the shared conformance directory beside the repository.

use std::path::PathBuf;

use serde::Deserialize;
use weft_traceql::{parse, Error};

#[derive(Deserialize)]
struct Corpus {
    valid: Vec<String>,
    parse_fails: Vec<String>,
    validate_fails: Vec<String>,
    unsupported: Vec<String>,
}

/// Queries where Weft knowingly disagrees with Tempo, with the reason. Each must still
/// disagree: the test fails if one starts agreeing, so the list cannot go stale.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

fn corpus_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/traceql/test_examples.yaml")
}

fn load_corpus() -> Corpus {
    let path = corpus_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "TraceQL conformance corpus missing at {}: {e}. It lives in shared/conformance/traceql/ \
             next to the repository checkout; this test must not pass without it.",
            path.display()
        )
    });
    serde_yaml::from_str(&text).expect("corpus is valid YAML with the expected keys")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Category {
    Valid,
    ParseFails,
    ValidateFails,
    Unsupported,
}

/// Whether the outcome of `parse` is the one Tempo has for this category.
fn agrees(category: Category, outcome: &Result<weft_traceql::Query, Error>) -> bool {
    match (category, outcome) {
        (Category::Valid, Ok(_)) => true,
        (Category::ParseFails, Err(Error::Parse { .. })) => true,
        // Tempo: these parse, then validation fails with an error that is not "unsupported".
        (Category::ValidateFails, Err(Error::Validate(_))) => true,
        (Category::Unsupported, Err(Error::Unsupported(_))) => true,
        _ => false,
    }
}

#[test]
fn tempo_corpus() {
    let corpus = load_corpus();
    let categories = [
        (Category::Valid, &corpus.valid),
        (Category::ParseFails, &corpus.parse_fails),
        (Category::ValidateFails, &corpus.validate_fails),
        (Category::Unsupported, &corpus.unsupported),
    ];
    let mut failures = Vec::new();
    let mut stale_exceptions = Vec::new();
    for (category, queries) in categories {
        assert!(!queries.is_empty(), "corpus category {category:?} is empty");
        let mut passed = 0;
        for query in queries.iter() {
            let outcome = parse(query);
            let known = KNOWN_DIFFERENCES.iter().find(|(q, _)| q == query);
            match (agrees(category, &outcome), known) {
                (true, None) => passed += 1,
                (false, Some(_)) => {}
                (true, Some((q, _))) => stale_exceptions.push(q.to_string()),
                (false, None) => failures.push(format!("{category:?}: {query:?} -> {outcome:?}")),
            }
        }
        println!("{category:?}: {passed}/{} agree with Tempo", queries.len());
    }
    assert!(
        stale_exceptions.is_empty(),
        "KNOWN_DIFFERENCES entries now agree with Tempo; remove them: {stale_exceptions:#?}"
    );
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn parse_errors_name_position_and_cause() {
    let corpus = load_corpus();
    for query in &corpus.parse_fails {
        let err = parse(query).expect_err(query);
        let text = err.to_string();
        assert!(
            text.starts_with("parse error at line "),
            "{query:?}: {text}"
        );
        assert!(text.contains(", col "), "{query:?}: {text}");
    }
}
