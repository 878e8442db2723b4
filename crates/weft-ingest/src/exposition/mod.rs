//! Parser for scraped metrics: the Prometheus text exposition format 0.0.4 and OpenMetrics
//! 1.0 text.
//!
//! [`parse`] turns a whole scrape body into a [`Scrape`]: the metric families announced by
//! `# HELP`/`# TYPE`/`# UNIT` lines and every sample with its full label set (the metric name
//! is the `__name__` label). The grammar follows Prometheus' own parsers
//! (`model/textparse/promparse.go` and `openmetricsparse.go`) rather than the letter of the
//! specs where the two differ, so that a target Prometheus can scrape parses the same here;
//! the differences that remain are listed below. Pick the format from the response's
//! `Content-Type` with [`format_from_content_type`].
//!
//! Prometheus text (0.0.4):
//! - Lines end with `\n`; blank lines and lines starting with `#` are comments, except
//!   `# HELP <name> <text>` and `# TYPE <name> <type>` (`counter`, `gauge`, `histogram`,
//!   `summary`, `untyped`). HELP text unescapes `\\` and `\n`.
//! - Spaces and tabs may surround every token; label pairs may be separated by `,`, and a
//!   trailing `,` is allowed.
//! - Timestamps are optional integer milliseconds (digits only, as in Prometheus, so the
//!   negative timestamp in the format's documentation is rejected).
//!
//! OpenMetrics 1.0:
//! - Exactly one space separates tokens, no blank lines or free comments; the body must end
//!   with `# EOF` (optionally followed by one `\n`) and nothing after it.
//! - `# UNIT` must be a suffix of the family name; HELP text unescapes `\\`, `\"` and `\n`.
//! - Timestamps are float seconds, converted to milliseconds (truncated, as Prometheus does).
//! - Exemplars (`value # {trace_id="abc"} 1.0 1520879607.789`) are attached to their sample.
//! - Counter samples must carry the `_total` (or `_created`) suffix; a `_created` sample of a
//!   counter, summary or histogram sets [`Sample::created_ms`] on the family's samples with
//!   the same labels (ignoring `le`/`quantile`). The `_created` sample itself is kept, as
//!   Prometheus does unless created-timestamp ingestion is enabled.
//!
//! Both formats:
//! - Metric and label names are legacy identifiers or, as in Prometheus 3, double-quoted
//!   UTF-8 strings: `{"my.metric", "label.name"="v"} 1`.
//! - Label values unescape `\\`, `\"` and `\n`; other escapes are kept verbatim. Invalid
//!   UTF-8 in names, label values or HELP text is an error; in 0.0.4 comments it is ignored.
//! - Values are decimal floats, `NaN` and `[+-]Inf`/`Infinity` (case-insensitive), as
//!   accepted by Go's `ParseFloat` minus the hexadecimal/underscore forms Prometheus rejects.
//! - `le` values of histogram samples and `quantile` values of summary samples are
//!   normalised like Prometheus 3 does (`"1"` → `"1.0"`, `"1e3"` → `"1000.0"`).
//! - Duplicate label names are an error; labels with empty values are dropped.
//!
//! Errors carry a 1-based line and column (in characters) and say what was expected. The
//! parser never panics and runs in time linear in the input.
//!
//! Known differences from Prometheus: `\r` is rejected in sample lines (as Prometheus does)
//! but gets a dedicated message; a NUL byte is an ordinary byte here (Prometheus stops
//! reading at a NUL at the start of a line); the OpenMetrics `_total` rule is enforced
//! (Prometheus accepts counters without it); `le`/`quantile` normalisation only applies to
//! samples that belong to the histogram/summary family declared last (Prometheus applies it
//! to any sample after a histogram/summary `# TYPE`); a 0.0.4 `# HELP name` without text is
//! accepted with empty help text; the HELP/TYPE metric name must be followed by whitespace.

mod number;
mod parser;
#[cfg(test)]
mod tests;

use weft_core::labels::Labels;

/// Which text format a scrape body is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `text/plain; version=0.0.4`, the classic Prometheus text format.
    PrometheusText,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

/// Picks the format from a response's `Content-Type` header value: the media type
/// `application/openmetrics-text` (any parameters, any case) is OpenMetrics; `text/plain`,
/// anything else and a missing header are the Prometheus text format.
pub fn format_from_content_type(ct: Option<&str>) -> Format {
    let Some(ct) = ct else {
        return Format::PrometheusText;
    };
    let media_type = ct.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

/// The type a `# TYPE` line declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    /// `untyped` in the Prometheus text format (the default there).
    Untyped,
    /// OpenMetrics `info`.
    Info,
    /// OpenMetrics `stateset`.
    StateSet,
    /// OpenMetrics `gaugehistogram`.
    GaugeHistogram,
    /// OpenMetrics `unknown` (the default there).
    Unknown,
}

impl MetricType {
    /// The word used on `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Unknown => "unknown",
        }
    }
}

/// Metadata for one metric family, from its `# HELP`, `# TYPE` and `# UNIT` lines. Families
/// appear in the order their first metadata line does; a later line for the same name updates
/// the same entry. Samples without metadata produce no family.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricFamily {
    /// The family name as written on the metadata lines (without sample suffixes such as
    /// `_bucket`; for OpenMetrics counters without `_total`).
    pub name: String,
    /// Declared type; [`MetricType::Untyped`] (0.0.4) or [`MetricType::Unknown`]
    /// (OpenMetrics) when only HELP/UNIT was given.
    pub kind: MetricType,
    pub help: Option<String>,
    /// OpenMetrics `# UNIT`; `None` when absent or empty.
    pub unit: Option<String>,
}

/// An exemplar attached to an OpenMetrics sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    /// Milliseconds since the Unix epoch (the exposition gives float seconds).
    pub timestamp_ms: Option<i64>,
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// All labels, including `__name__` (always present and non-empty).
    pub labels: Labels,
    /// The value; `NaN` is `f64::NAN`.
    pub value: f64,
    /// Milliseconds since the Unix epoch, if the line had a timestamp.
    pub timestamp_ms: Option<i64>,
    /// OpenMetrics only.
    pub exemplar: Option<Exemplar>,
    /// OpenMetrics only: creation time in milliseconds from the matching `_created` sample.
    pub created_ms: Option<i64>,
}

/// Everything parsed from one scrape body.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scrape {
    pub families: Vec<MetricFamily>,
    /// Samples in input order.
    pub samples: Vec<Sample>,
}

/// Why a body could not be parsed. Parsing stops at the first error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, col {column}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    pub message: String,
}

/// Parses a whole scrape body in the given format. See the module documentation for the
/// accepted grammar.
pub fn parse(body: &[u8], format: Format) -> Result<Scrape, ParseError> {
    parser::Parser::new(body, format == Format::OpenMetrics).run()
}
