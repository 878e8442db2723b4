//! Evaluator behaviour against a small in-memory trace.

use weft_traceql::{parse, Error, Intrinsic, Kind, Scope, SpanView, Status, TraceView, Value};

#[derive(Default, Clone)]
struct FakeSpan {
    name: &'static str,
    status: Option<Status>,
    status_message: &'static str,
    kind: Option<Kind>,
    duration_ns: i64,
    span_id: &'static str,
    span_attrs: Vec<(&'static str, Value<'static>)>,
    resource_attrs: Vec<(&'static str, Value<'static>)>,
}

fn lookup<'a>(
    attrs: &'a [(&'static str, Value<'static>)],
    key: &str,
) -> Option<&'a Value<'static>> {
    attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

impl SpanView for FakeSpan {
    fn intrinsic(&self, intrinsic: Intrinsic) -> Value<'_> {
        match intrinsic {
            Intrinsic::Name => Value::String(self.name.into()),
            Intrinsic::Status => Value::Status(self.status.unwrap_or(Status::Unset)),
            Intrinsic::StatusMessage => Value::String(self.status_message.into()),
            Intrinsic::Kind => Value::Kind(self.kind.unwrap_or(Kind::Unspecified)),
            Intrinsic::Duration => Value::Duration(self.duration_ns),
            Intrinsic::SpanId => Value::String(self.span_id.into()),
            _ => Value::Nil,
        }
    }

    fn attribute(&self, scope: Scope, key: &str) -> Value<'_> {
        let found = match scope {
            Scope::Span => lookup(&self.span_attrs, key),
            Scope::Resource => lookup(&self.resource_attrs, key),
            Scope::Unscoped => {
                lookup(&self.span_attrs, key).or_else(|| lookup(&self.resource_attrs, key))
            }
            _ => None,
        };
        found.cloned().unwrap_or(Value::Nil)
    }
}

const MS: i64 = 1_000_000;

fn s(v: &'static str) -> Value<'static> {
    Value::String(v.into())
}

/// frontend GET /cart (server, 250ms) → cart GetCart (client, 120ms, error 500) → db query (50ms)
fn shop_trace() -> Vec<FakeSpan> {
    vec![
        FakeSpan {
            name: "GET /cart",
            kind: Some(Kind::Server),
            status: Some(Status::Ok),
            duration_ns: 250 * MS,
            span_id: "00000000000000a1",
            span_attrs: vec![("http.status_code", Value::Int(200)), ("attr", s("a"))],
            resource_attrs: vec![("service.name", s("frontend")), ("region", s("eu"))],
            ..FakeSpan::default()
        },
        FakeSpan {
            name: "GET /cart",
            kind: Some(Kind::Client),
            status: Some(Status::Error),
            status_message: "upstream failed",
            duration_ns: 120 * MS,
            span_attrs: vec![
                ("http.status_code", Value::Int(500)),
                ("attr", s("b")),
                ("ratio", Value::Float(2.5)),
                ("region", s("us")),
            ],
            resource_attrs: vec![("service.name", s("frontend")), ("region", s("eu"))],
            ..FakeSpan::default()
        },
        FakeSpan {
            name: "SELECT carts",
            kind: Some(Kind::Client),
            duration_ns: 50 * MS,
            span_attrs: vec![
                ("attr", s("c")),
                ("ratio", Value::Int(3)),
                ("code", s("500")),
            ],
            resource_attrs: vec![("service.name", s("cart-db"))],
            ..FakeSpan::default()
        },
    ]
}

fn run(query: &str, spans: &[FakeSpan]) -> Option<Vec<usize>> {
    run_with(query, spans, "0000000000000000000000000000abcd")
}

fn run_with(query: &str, spans: &[FakeSpan], trace_id: &str) -> Option<Vec<usize>> {
    let query = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    query
        .check_supported()
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    let trace = TraceView {
        spans,
        trace_duration_ns: 1_500 * MS,
        root_name: Some("GET /cart"),
        root_service_name: Some("frontend"),
        trace_id_hex: trace_id,
    };
    query.eval_trace(&trace)
}

fn matches(query: &str) -> Option<Vec<usize>> {
    run(query, &shop_trace())
}

#[test]
fn grafana_builder_query() {
    let q = r#"{resource.service.name="frontend" && name="GET /cart" && status=error && duration>100ms && span.http.status_code=500}"#;
    assert_eq!(matches(q), Some(vec![1]));
    let spaced = r#"{ resource.service.name = "frontend" && name = "GET /cart" && status = error && duration > 100ms && span.http.status_code = 500 }"#;
    assert_eq!(matches(spaced), Some(vec![1]));
}

#[test]
fn empty_and_true_filters_match_every_span() {
    assert_eq!(matches("{}"), Some(vec![0, 1, 2]));
    assert_eq!(matches("{ true }"), Some(vec![0, 1, 2]));
    assert_eq!(matches("{ false }"), None);
    assert_eq!(matches("{ 1 = 2 }"), None);
}

#[test]
fn or_of_equalities_and_regex_alternation() {
    assert_eq!(
        matches(r#"{ .attr = "a" || .attr = "b" }"#),
        Some(vec![0, 1])
    );
    assert_eq!(matches(r#"{.attr="a"||.attr="b"}"#), Some(vec![0, 1]));
    assert_eq!(matches(r#"{ .attr =~ "a|b" }"#), Some(vec![0, 1]));
    assert_eq!(matches(r#"{ .attr !~ "a|b" }"#), Some(vec![2]));
}

#[test]
fn regex_must_match_the_whole_value() {
    assert_eq!(matches(r#"{ name =~ "GET" }"#), None);
    assert_eq!(matches(r#"{ name =~ "GET.*" }"#), Some(vec![0, 1]));
    assert_eq!(matches(r#"{ name =~ ".*cart.*" }"#), Some(vec![0, 1, 2]));
    assert_eq!(matches(r#"{ name =~ ".*cart" }"#), Some(vec![0, 1]));
    assert_eq!(matches(r#"{ name =~ "(?i)select.*" }"#), Some(vec![2]));
    assert_eq!(
        matches(r#"{ statusMessage =~ "upstream.*" }"#),
        Some(vec![1])
    );
}

#[test]
fn intrinsics_kind_status_duration() {
    assert_eq!(matches("{ kind = server }"), Some(vec![0]));
    assert_eq!(matches("{kind=client}"), Some(vec![1, 2]));
    assert_eq!(matches("{ span:kind != client }"), Some(vec![0]));
    assert_eq!(matches("{ status = error }"), Some(vec![1]));
    assert_eq!(matches("{ status = unset }"), Some(vec![2]));
    assert_eq!(matches("{ status != ok }"), Some(vec![1, 2]));
    assert_eq!(matches("{ duration > 100ms }"), Some(vec![0, 1]));
    assert_eq!(matches("{ span:duration <= 50ms }"), Some(vec![2]));
    assert_eq!(matches("{ duration >= 0.25s }"), Some(vec![0]));
    assert_eq!(matches(r#"{ span:name = "SELECT carts" }"#), Some(vec![2]));
    assert_eq!(
        matches(r#"{ span:id = "00000000000000a1" }"#),
        Some(vec![0])
    );
}

#[test]
fn trace_level_intrinsics() {
    assert_eq!(
        matches(r#"{ rootServiceName = "frontend" }"#),
        Some(vec![0, 1, 2])
    );
    assert_eq!(matches(r#"{ trace:rootService = "backend" }"#), None);
    assert_eq!(
        matches(r#"{ rootName = "GET /cart" }"#),
        Some(vec![0, 1, 2])
    );
    assert_eq!(matches("{ traceDuration > 1s }"), Some(vec![0, 1, 2]));
    assert_eq!(matches("{ trace:duration > 2s }"), None);
    assert_eq!(
        matches(r#"{ traceDuration > 1s && name = "SELECT carts" }"#),
        Some(vec![2])
    );
}

#[test]
fn trace_id_ignores_leading_zeros() {
    let spans = shop_trace();
    let id = "0000000000000000000000000000abcd";
    assert_eq!(
        run_with(r#"{ trace:id = "abcd" }"#, &spans, id),
        Some(vec![0, 1, 2])
    );
    assert_eq!(
        run_with(&format!(r#"{{ trace:id = "{id}" }}"#), &spans, id),
        Some(vec![0, 1, 2])
    );
    assert_eq!(run_with(r#"{ trace:id = "abce" }"#, &spans, id), None);
}

#[test]
fn unscoped_attributes_prefer_the_span() {
    // span 1 has span-level region "us"; spans 0 and 1 have resource region "eu".
    assert_eq!(matches(r#"{ .region = "us" }"#), Some(vec![1]));
    assert_eq!(matches(r#"{ .region = "eu" }"#), Some(vec![0]));
    assert_eq!(matches(r#"{ resource.region = "eu" }"#), Some(vec![0, 1]));
    assert_eq!(matches(r#"{ span.region = "eu" }"#), None);
    assert_eq!(matches(r#"{ .service.name = "cart-db" }"#), Some(vec![2]));
}

#[test]
fn quoted_attribute_names() {
    let spans = vec![FakeSpan {
        span_attrs: vec![("foo bar", s("v")), ("a\"b", s("w"))],
        ..FakeSpan::default()
    }];
    assert_eq!(run(r#"{ ."foo bar" = "v" }"#, &spans), Some(vec![0]));
    assert_eq!(run(r#"{ span."foo bar" = "v" }"#, &spans), Some(vec![0]));
    assert_eq!(run(r#"{ ."a\"b" = "w" }"#, &spans), Some(vec![0]));
}

#[test]
fn numbers_compare_across_int_and_float() {
    assert_eq!(matches("{ .ratio > 2 }"), Some(vec![1, 2]));
    assert_eq!(matches("{ .ratio = 3.0 }"), Some(vec![2]));
    assert_eq!(matches("{ .ratio = 3 }"), Some(vec![2]));
    assert_eq!(matches("{ .ratio < 2.6 }"), Some(vec![1]));
    assert_eq!(matches("{ .http.status_code >= 500.0 }"), Some(vec![1]));
    assert_eq!(matches("{ span.http.status_code != 200 }"), Some(vec![1]));
}

#[test]
fn arithmetic_inside_filters() {
    assert_eq!(matches("{ .http.status_code + 100 = 600 }"), Some(vec![1]));
    assert_eq!(matches("{ .http.status_code / 100 = 5 }"), Some(vec![1]));
    assert_eq!(matches("{ .http.status_code % 7 = 4 }"), Some(vec![0]));
    assert_eq!(matches("{ duration * 2 > 400ms }"), Some(vec![0]));
    assert_eq!(matches("{ -.ratio < -2.6 }"), Some(vec![2]));
    assert_eq!(matches("{ .ratio * 2 = 5 }"), Some(vec![1]));
    assert_eq!(matches("{ 2 ^ 3 = 8 && .ratio = 3 }"), Some(vec![2]));
    // Division by zero has no value: the span does not match.
    assert_eq!(matches("{ .http.status_code / 0 = 1 }"), None);
}

#[test]
fn missing_attributes_and_nil() {
    assert_eq!(matches(r#"{ .missing = "x" }"#), None);
    assert_eq!(matches(r#"{ .missing != "x" }"#), None);
    assert_eq!(matches("{ .missing > 1 }"), None);
    assert_eq!(matches("{ .missing = nil }"), Some(vec![0, 1, 2]));
    assert_eq!(matches("{ .ratio != nil }"), Some(vec![1, 2]));
    assert_eq!(matches("{ .ratio = nil }"), Some(vec![0]));
    assert_eq!(matches("{ nil != .ratio }"), Some(vec![1, 2]));
    assert_eq!(matches("{ !(.missing = 1) }"), Some(vec![0, 1, 2]));
}

#[test]
fn mismatched_types_are_false() {
    // `code` is the string "500": comparing with a number is false either way.
    assert_eq!(matches("{ .code = 500 }"), None);
    assert_eq!(matches("{ .code != 500 }"), None);
    assert_eq!(matches(r#"{ .code = "500" }"#), Some(vec![2]));
    assert_eq!(matches(r#"{ .http.status_code = "500" }"#), None);
}

#[test]
fn and_or_share_precedence_like_tempo() {
    // Parsed as ((attr = a || attr = b) && status = error): only span 1.
    assert_eq!(
        matches(r#"{ .attr = "a" || .attr = "b" && status = error }"#),
        Some(vec![1])
    );
    assert_eq!(
        matches(r#"{ .attr = "a" || (.attr = "b" && status = error) }"#),
        Some(vec![0, 1])
    );
}

#[test]
fn string_ordering() {
    assert_eq!(matches(r#"{ .attr > "a" }"#), Some(vec![1, 2]));
    assert_eq!(matches(r#"{ name <= "GET /cart" }"#), Some(vec![0, 1]));
}

#[test]
fn not_and_parentheses() {
    assert_eq!(matches(r#"{ !(name = "GET /cart") }"#), Some(vec![2]));
    assert_eq!(
        matches(r#"{ (status = error || kind = server) && duration > 100ms }"#),
        Some(vec![0, 1])
    );
}

#[test]
fn spanset_and_or() {
    assert_eq!(
        matches(r#"{ kind = server } && { status = error }"#),
        Some(vec![0, 1])
    );
    assert_eq!(matches(r#"{ kind = server } && { .missing = 1 }"#), None);
    assert_eq!(
        matches(r#"{ kind = server } || { .missing = 1 }"#),
        Some(vec![0])
    );
    assert_eq!(matches(r#"{ .x = 1 } || { .missing = 1 }"#), None);
    assert_eq!(
        matches(r#"({ kind = server } && { status = error }) || { .attr = "c" }"#),
        Some(vec![0, 1, 2])
    );
}

#[test]
fn pipelines_of_filters() {
    assert_eq!(
        matches(r#"{ kind = client } | { status = error }"#),
        Some(vec![1])
    );
    assert_eq!(matches(r#"{ kind = server } | { status = error }"#), None);
    assert_eq!(
        matches(r#"{ } | select(.attr, span.http.status_code) | coalesce()"#),
        Some(vec![0, 1, 2])
    );
}

#[test]
fn scalar_filters() {
    assert_eq!(matches("{ } | count() > 2"), Some(vec![0, 1, 2]));
    assert_eq!(matches("{ kind = client } | count() = 2"), Some(vec![1, 2]));
    assert_eq!(matches("{ kind = client } | count() > 2"), None);
    assert_eq!(matches("{ } | avg(duration) > 100ms"), Some(vec![0, 1, 2]));
    assert_eq!(matches("{ } | avg(duration) > 200ms"), None);
    assert_eq!(matches("{ } | max(duration) >= 250ms"), Some(vec![0, 1, 2]));
    assert_eq!(matches("{ } | min(duration) < 60ms"), Some(vec![0, 1, 2]));
    assert_eq!(matches("{ } | sum(.ratio) = 5.5"), Some(vec![0, 1, 2]));
    assert_eq!(
        matches("{ } | sum(.http.status_code) = 700"),
        Some(vec![0, 1, 2])
    );
    assert_eq!(matches("{ } | avg(.missing) > 0"), None);
    assert_eq!(
        matches("max(duration) > 200ms | { status = error }"),
        Some(vec![1])
    );
    assert_eq!(
        matches("({ kind = client } | count() > 1) && ({ kind = server })"),
        Some(vec![0, 1, 2])
    );
}

#[test]
fn hints_are_ignored_by_search() {
    assert_eq!(
        matches("{ status = error } with(most_recent=true)"),
        Some(vec![1])
    );
}

#[test]
fn unsupported_constructs_are_named() {
    let unsupported = |q: &str| match parse(q).unwrap().check_supported() {
        Err(Error::Unsupported(msg)) => msg,
        other => panic!("{q}: expected unsupported, got {other:?}"),
    };
    assert!(unsupported("{ true } >> { true }").contains("'>>'"));
    assert!(unsupported("{ true } &>> { true }").contains("'&>>'"));
    assert!(unsupported("{ true } !~ { true }").contains("'!~'"));
    assert!(unsupported("{ true } | by(.a) | count() > 1").contains("by()"));
    assert!(unsupported("{ } | rate()").contains("rate"));
    assert!(unsupported("{ } | compare({status=error})").contains("compare"));
    assert!(unsupported(r#"{ event.foo = "bar" }"#).contains("event"));
    assert!(unsupported(r#"{ event:name = "exception" }"#).contains("event:name"));
    assert!(unsupported(r#"{ link:traceID = "a" }"#).contains("link:traceID"));
}

#[test]
fn unsupported_queries_never_match() {
    let query = parse("{ true } >> { true }").unwrap();
    let spans = shop_trace();
    let trace = TraceView {
        spans: &spans,
        trace_duration_ns: 0,
        root_name: None,
        root_service_name: None,
        trace_id_hex: "",
    };
    assert_eq!(query.eval_trace(&trace), None);
    let event_query = parse("{ event.foo = nil }").unwrap();
    assert_eq!(event_query.eval_trace(&trace), None);
}

#[test]
fn referenced_attributes_are_listed_once() {
    let query = parse(
        r#"{ span.http.status_code = 500 && .attr = "a" } | avg(resource.x) > 1 | select(.attr, name)"#,
    )
    .unwrap();
    assert_eq!(
        query.referenced_attributes(),
        vec![
            (Scope::Span, "http.status_code".to_string()),
            (Scope::Unscoped, "attr".to_string()),
            (Scope::Resource, "x".to_string()),
        ]
    );
}

#[test]
fn long_or_chains_evaluate_without_overflowing() {
    let chain: Vec<String> = (0..900).map(|i| format!(".attr = \"v{i}\"")).collect();
    let query = format!("{{ {} || .attr = \"c\" }}", chain.join(" || "));
    assert_eq!(matches(&query), Some(vec![2]));
}
