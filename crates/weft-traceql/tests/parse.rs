//! Parser behaviour beyond the Tempo corpus: precedence, error messages, limits.

use weft_traceql::{parse, Error, FieldExpr, PipelineElement, Query, SpansetExpr};

fn filter_expr(query: &Query) -> &FieldExpr {
    match query.pipeline.elements.as_slice() {
        [PipelineElement::Spanset(SpansetExpr::Filter(expr))] => expr,
        other => panic!("expected one filter, got {other:?}"),
    }
}

/// Renders the filter expression with explicit parentheses.
fn shape(query: &str) -> String {
    let parsed = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    filter_expr(&parsed).to_string()
}

#[test]
fn and_and_or_share_one_precedence_level() {
    assert_eq!(
        shape("{ .a = 1 || .b = 2 && .c = 3 }"),
        "(((.a = 1) || (.b = 2)) && (.c = 3))"
    );
    assert_eq!(
        shape("{ .a = 1 && .b = 2 || .c = 3 }"),
        "(((.a = 1) && (.b = 2)) || (.c = 3))"
    );
}

#[test]
fn arithmetic_precedence() {
    assert_eq!(shape("{ .a + 2 * 3 = 7 }"), "((.a + (2 * 3)) = 7)");
    assert_eq!(shape("{ .a - 1 - 1 = 0 }"), "(((.a - 1) - 1) = 0)");
    assert_eq!(shape("{ 2 ^ 3 ^ .a = 1 }"), "((2 ^ (3 ^ .a)) = 1)");
    assert_eq!(shape("{ -.a * 2 = 1 }"), "(-(.a * 2) = 1)");
    assert_eq!(shape("{ -.a + 2 = 1 }"), "((-.a + 2) = 1)");
}

#[test]
fn not_binds_looser_than_multiplication() {
    assert_eq!(shape("{ !.a = true }"), "(!.a = true)");
    assert_eq!(shape("{ !.a && .b }"), "(!.a && .b)");
}

#[test]
fn nil_comparisons_become_existence_tests() {
    assert_eq!(shape("{ .a = nil }"), ".a = nil");
    assert_eq!(shape("{ .a != nil && .b = 1 }"), "(.a != nil && (.b = 1))");
    assert_eq!(shape("{ nil != .a }"), ".a != nil");
    assert_eq!(shape("{ nil = nil }"), "false");
}

#[test]
fn literals() {
    assert_eq!(shape("{ duration > 1h30m }"), "(duration > 90m)");
    assert_eq!(shape("{ duration > 1.5s }"), "(duration > 1500ms)");
    assert_eq!(shape("{ duration > 3µs }"), "(duration > 3us)");
    assert_eq!(shape("{ .a = -3 }"), "(.a = -3)");
    assert_eq!(shape(r#"{ .a = "tab\there" }"#), r#"(.a = "tab\there")"#);
    assert_eq!(shape("{ .a = `raw\\n` }"), r#"(.a = "raw\\n")"#);
    assert_eq!(shape("{ .a < maxInt }"), "(.a < 9223372036854775807)");
    assert_eq!(
        shape("{ kind = server && status = error }"),
        "((kind = server) && (status = error))"
    );
}

#[test]
fn attributes() {
    assert_eq!(shape(r#"{ ."foo bar" = 1 }"#), r#"(."foo bar" = 1)"#);
    assert_eq!(shape("{ span.http.url = 1 }"), "(span.http.url = 1)");
    assert_eq!(
        shape("{ resource.service.name = 1 }"),
        "(resource.service.name = 1)"
    );
    assert_eq!(
        shape(r#"{ span:parentID = "a" }"#),
        r#"(span:parentID = "a")"#
    );
    assert_eq!(
        shape("{ instrumentation:name = 1 }"),
        "(instrumentation:name = 1)"
    );
    assert_eq!(
        shape(r#"{ trace:rootService = "a" }"#),
        r#"(rootServiceName = "a")"#
    );
}

#[test]
fn comments_are_skipped() {
    assert_eq!(shape("{ .a = 1 /* one */ } // trailing"), "(.a = 1)");
}

fn parse_error(query: &str) -> (usize, usize, String) {
    match parse(query) {
        Err(Error::Parse {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("{query}: expected a parse error, got {other:?}"),
    }
}

#[test]
fn parse_errors_point_at_the_problem() {
    let (line, column, message) = parse_error("{ .a = }");
    assert_eq!((line, column), (1, 8));
    assert!(message.contains("unexpected '}'"), "{message}");
    assert!(message.contains("expecting a value"), "{message}");

    let (line, column, message) = parse_error("{ .a = 1 }\n| max(\n)");
    assert_eq!((line, column), (3, 1));
    assert!(message.contains("unexpected ')'"), "{message}");

    let (line, column, message) = parse_error("{ .a = 1 }\n| count()");
    assert_eq!((line, column), (2, 10));
    assert!(
        message.contains("unexpected end of query, expecting a comparison"),
        "{message}"
    );

    let (_, _, message) = parse_error("{ attribute = 4 }");
    assert!(
        message.contains("unknown identifier \"attribute\""),
        "{message}"
    );

    let (_, column, message) = parse_error(r#"{ .a = "unterminated }"#);
    assert_eq!(column, 23);
    assert!(message.contains("not terminated"), "{message}");

    let text = parse("{ .a == 4 }").unwrap_err().to_string();
    assert!(
        text.starts_with("parse error at line 1, col 7: unexpected '='"),
        "{text}"
    );
}

#[test]
fn validation_and_unsupported_errors() {
    assert!(matches!(parse(r#"{ 1 = "a" }"#), Err(Error::Validate(_))));
    assert!(matches!(parse(r#"{ .a =~ "(" }"#), Err(Error::Validate(_))));
    assert!(matches!(
        parse("{ parent.a = 1 }"),
        Err(Error::Unsupported(_))
    ));
    let text = parse("{ 1 + 1 }").unwrap_err().to_string();
    assert!(text.contains("must resolve to a boolean"), "{text}");
}

#[test]
fn metrics_and_hints_parse() {
    let query = parse(
        "{ status = error } | quantile_over_time(duration, 0.5, 0.99) by (resource.service.name) | topk(3) > 1s with(sample=0.1)",
    )
    .unwrap();
    assert!(query.metrics.is_some());
    assert_eq!(query.second_stage.len(), 2);
    assert_eq!(query.hints.len(), 1);
    assert!(matches!(
        parse("{} | quantile_over_time(duration, 1.5)"),
        Err(Error::Validate(_))
    ));
}

#[test]
fn nesting_is_limited_without_crashing() {
    let ok = format!("{}{{ .a = 1 }}{}", "(".repeat(60), ")".repeat(60));
    assert!(parse(&ok).is_ok());
    let ok = format!("{{ {}.a = 1{} }}", "(".repeat(200), ")".repeat(200));
    assert!(parse(&ok).is_ok());
    for deep in [
        format!("{}{{ .a = 1 }}{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{{ {}.a{} }}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{{ {}.a }}", "!".repeat(100_000)),
        format!("{{ {}1 = 1 }}", "-".repeat(100_000)),
        format!("{{ 1{} = 1 }}", " ^ 1".repeat(100_000)),
        format!("{{ .a = 1{} }}", " || .a = 1".repeat(100_000)),
        format!("{{}}{}", " && {}".repeat(100_000)),
        format!("count(){} > 1", " + 1".repeat(100_000)),
    ] {
        match parse(&deep) {
            Err(Error::Parse { message, .. }) => assert!(message.contains("nested"), "{message}"),
            other => panic!("expected a nesting error, got {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn arbitrary_text_never_panics() {
    let samples = [
        "",
        " ",
        "{",
        "}",
        "(((",
        "{ .",
        "{ span.",
        "{ .\"",
        "{ .\"\\",
        "\u{feff}{}",
        "{ \u{0} }",
        "{ 1e }",
        "{ 0x }",
        "{ 1_ }",
        "{ 'ab' }",
        "{ `",
        "/*",
        "{ .a = 1 } | ",
        "{} | rate() by (",
        "{} | compare({}, 1, 2)",
        "{} with(",
        "{ nil }",
        "{ é = 1 }",
        "{ .a =~ \"\\\\\" }",
        "{ 99999999999999999999 }",
        "{ 1e999 }",
        "{ 9999999999999999h }",
    ];
    for sample in samples {
        let _ = parse(sample);
    }
}
