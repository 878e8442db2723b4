//! Runtime values, span status and kind, attribute scopes and intrinsics.

use std::borrow::Cow;
use std::fmt;

/// A value produced by a span lookup or written as a literal in a query.
///
/// Strings borrow from the span where they can, so a [`crate::SpanView`] can hand out
/// attribute values without copying them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Missing attribute (or `nil` in a query).
    Nil,
    String(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Nanoseconds.
    Duration(i64),
    Status(Status),
    Kind(Kind),
}

impl Value<'_> {
    /// Copies any borrowed string so the value can outlive the span it came from.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Nil => Value::Nil,
            Value::String(s) => Value::String(Cow::Owned(s.into_owned())),
            Value::Int(i) => Value::Int(i),
            Value::Float(f) => Value::Float(f),
            Value::Bool(b) => Value::Bool(b),
            Value::Duration(d) => Value::Duration(d),
            Value::Status(s) => Value::Status(s),
            Value::Kind(k) => Value::Kind(k),
        }
    }

    /// The static type of this value, as used by the type checker.
    pub(crate) fn value_type(&self) -> ValueType {
        match self {
            Value::Nil => ValueType::Nil,
            Value::String(_) => ValueType::String,
            Value::Int(_) => ValueType::Int,
            Value::Float(_) => ValueType::Float,
            Value::Bool(_) => ValueType::Bool,
            Value::Duration(_) => ValueType::Duration,
            Value::Status(_) => ValueType::Status,
            Value::Kind(_) => ValueType::Kind,
        }
    }

    /// Numeric view used by comparisons and arithmetic: ints and durations (ns) widen to f64.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) | Value::Duration(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Duration(ns) => f.write_str(&format_duration(*ns)),
            Value::Status(s) => write!(f, "{s}"),
            Value::Kind(k) => write!(f, "{k}"),
        }
    }
}

/// Renders nanoseconds with the largest unit that divides them exactly (`1500ms`, `2s`).
fn format_duration(ns: i64) -> String {
    const UNITS: [(i64, &str); 6] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ];
    for (unit_ns, suffix) in UNITS {
        if ns % unit_ns == 0 && ns != 0 {
            return format!("{}{suffix}", ns / unit_ns);
        }
    }
    "0s".to_string()
}

/// Type of a value or of an expression, as inferred before evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueType {
    Nil,
    /// An attribute: its type is only known when a span is evaluated.
    Attribute,
    Int,
    Float,
    String,
    Bool,
    Duration,
    Status,
    Kind,
}

impl ValueType {
    pub(crate) fn is_numeric(self) -> bool {
        matches!(
            self,
            ValueType::Int | ValueType::Float | ValueType::Duration
        )
    }

    /// Whether two operand types may meet in a binary operation (the operator is checked separately).
    pub(crate) fn is_matching_operand(self, other: ValueType) -> bool {
        self == ValueType::Attribute
            || other == ValueType::Attribute
            || self == other
            || (self.is_numeric() && other.is_numeric())
            || self == ValueType::Nil
            || other == ValueType::Nil
    }
}

/// Span status (`status = error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Error,
    Ok,
    Unset,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Error => "error",
            Status::Ok => "ok",
            Status::Unset => "unset",
        })
    }
}

/// Span kind (`kind = server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Unspecified => "unspecified",
            Kind::Internal => "internal",
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Producer => "producer",
            Kind::Consumer => "consumer",
        })
    }
}

/// Where an attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `resource.x`
    Resource,
    /// `span.x`
    Span,
    /// `.x`: the span's attribute if present, else the resource's.
    Unscoped,
    /// `event.x`
    Event,
    /// `link.x`
    Link,
    /// `instrumentation.x`
    Instrumentation,
}

impl Scope {
    /// The prefix written before the attribute name in a query (`span.`, `.` for unscoped).
    pub fn prefix(self) -> &'static str {
        match self {
            Scope::Resource => "resource.",
            Scope::Span => "span.",
            Scope::Unscoped => ".",
            Scope::Event => "event.",
            Scope::Link => "link.",
            Scope::Instrumentation => "instrumentation.",
        }
    }
}

/// Built-in span and trace fields (`name`, `duration`, `trace:id`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intrinsic {
    /// `duration`, `span:duration`
    Duration,
    /// `name`, `span:name`
    Name,
    /// `status`, `span:status`
    Status,
    /// `statusMessage`, `span:statusMessage`
    StatusMessage,
    /// `kind`, `span:kind`
    Kind,
    /// `span:childCount`
    ChildCount,
    /// `parent` (parsed; Tempo does not support it yet)
    Parent,
    /// `rootServiceName`, `trace:rootService`
    TraceRootService,
    /// `rootName`, `trace:rootName`
    TraceRootSpan,
    /// `traceDuration`, `trace:duration`
    TraceDuration,
    /// `trace:id`
    TraceId,
    /// `span:id`
    SpanId,
    /// `span:parentID`
    ParentId,
    /// `nestedSetLeft`
    NestedSetLeft,
    /// `nestedSetRight`
    NestedSetRight,
    /// `nestedSetParent`
    NestedSetParent,
    /// `event:name`
    EventName,
    /// `event:timeSinceStart`
    EventTimeSinceStart,
    /// `link:traceID`
    LinkTraceId,
    /// `link:spanID`
    LinkSpanId,
    /// `instrumentation:name`
    InstrumentationName,
    /// `instrumentation:version`
    InstrumentationVersion,
}

impl Intrinsic {
    /// The canonical spelling in a query.
    pub fn name(self) -> &'static str {
        match self {
            Intrinsic::Duration => "duration",
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Kind => "kind",
            Intrinsic::ChildCount => "span:childCount",
            Intrinsic::Parent => "parent",
            Intrinsic::TraceRootService => "rootServiceName",
            Intrinsic::TraceRootSpan => "rootName",
            Intrinsic::TraceDuration => "traceDuration",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::SpanId => "span:id",
            Intrinsic::ParentId => "span:parentID",
            Intrinsic::NestedSetLeft => "nestedSetLeft",
            Intrinsic::NestedSetRight => "nestedSetRight",
            Intrinsic::NestedSetParent => "nestedSetParent",
            Intrinsic::EventName => "event:name",
            Intrinsic::EventTimeSinceStart => "event:timeSinceStart",
            Intrinsic::LinkTraceId => "link:traceID",
            Intrinsic::LinkSpanId => "link:spanID",
            Intrinsic::InstrumentationName => "instrumentation:name",
            Intrinsic::InstrumentationVersion => "instrumentation:version",
        }
    }

    /// Type known before evaluation. Instrumentation fields stay `Attribute`-typed, as in Tempo.
    pub(crate) fn value_type(self) -> ValueType {
        match self {
            Intrinsic::Duration | Intrinsic::EventTimeSinceStart | Intrinsic::TraceDuration => {
                ValueType::Duration
            }
            Intrinsic::ChildCount
            | Intrinsic::NestedSetLeft
            | Intrinsic::NestedSetRight
            | Intrinsic::NestedSetParent => ValueType::Int,
            Intrinsic::Name
            | Intrinsic::StatusMessage
            | Intrinsic::EventName
            | Intrinsic::LinkTraceId
            | Intrinsic::LinkSpanId
            | Intrinsic::TraceRootService
            | Intrinsic::TraceRootSpan
            | Intrinsic::TraceId
            | Intrinsic::SpanId
            | Intrinsic::ParentId => ValueType::String,
            Intrinsic::Status => ValueType::Status,
            Intrinsic::Kind => ValueType::Kind,
            Intrinsic::Parent => ValueType::Nil,
            Intrinsic::InstrumentationName | Intrinsic::InstrumentationVersion => {
                ValueType::Attribute
            }
        }
    }
}

impl fmt::Display for Intrinsic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
