//! Any UTF-8 text: parsing must never panic, and neither may anything done with a query
//! that parses (support check, rendering, evaluation against a tiny trace).

#![no_main]

use libfuzzer_sys::fuzz_target;
use weft_traceql::{parse, Intrinsic, Kind, Scope, SpanView, Status, TraceView, Value};

struct FakeSpan {
    name: &'static str,
    duration_ns: i64,
    status: Status,
    kind: Kind,
    attrs: &'static [(&'static str, Value<'static>)],
}

impl SpanView for FakeSpan {
    fn intrinsic(&self, intrinsic: Intrinsic) -> Value<'_> {
        match intrinsic {
            Intrinsic::Name => Value::String(self.name.into()),
            Intrinsic::Duration => Value::Duration(self.duration_ns),
            Intrinsic::Status => Value::Status(self.status),
            Intrinsic::Kind => Value::Kind(self.kind),
            Intrinsic::ChildCount => Value::Int(1),
            _ => Value::Nil,
        }
    }

    fn attribute(&self, _scope: Scope, key: &str) -> Value<'_> {
        self.attrs
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(Value::Nil, |(_, v)| v.clone())
    }
}

const SPANS: [FakeSpan; 2] = [
    FakeSpan {
        name: "GET /",
        duration_ns: 1_500_000_000,
        status: Status::Ok,
        kind: Kind::Server,
        attrs: &[("a", Value::Int(1)), ("b", Value::Float(-0.5)), ("c", Value::Bool(true))],
    },
    FakeSpan {
        name: "db",
        duration_ns: 0,
        status: Status::Error,
        kind: Kind::Client,
        attrs: &[("a", Value::Int(i64::MIN)), ("s", Value::Duration(-1))],
    },
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = parse(text) else {
        return;
    };
    let _ = query.check_supported();
    let _ = query.to_string();
    let _ = query.referenced_attributes();
    let trace = TraceView {
        spans: &SPANS,
        trace_duration_ns: 2_000_000_000,
        root_name: Some("GET /"),
        root_service_name: None,
        trace_id_hex: "00ab",
    };
    let _ = query.eval_trace(&trace);
});
