//! Metric and label names, by the OpenTelemetry → Prometheus naming rules.
//!
//! Legacy mode (the default) produces names matching `[a-zA-Z_:][a-zA-Z0-9_:]*` and label names
//! matching `[a-zA-Z_][a-zA-Z0-9_]*`. UTF-8 mode keeps the OTLP names and only appends suffixes.

/// Which type suffix a metric family gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeSuffix {
    /// No type suffix (gauges without unit `1`, histograms, summaries).
    None,
    /// Monotonic cumulative sum: `_total`.
    Total,
    /// Gauge with unit `1`: `_ratio`.
    Ratio,
}

/// Full words for the UCUM units OpenTelemetry uses most.
fn main_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

/// Full words for the denominator of a `a/b` unit.
fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Removes `{...}` annotations and surrounding whitespace.
fn strip_annotations(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

/// One unit part as name text: the mapped word, or the unit with invalid characters replaced
/// and underscores trimmed.
fn unit_part(part: &str, per: bool, utf8: bool) -> String {
    let part = part.trim();
    let mapped = if per {
        per_unit_word(part)
    } else {
        main_unit_word(part)
    };
    if let Some(w) = mapped {
        return w.to_string();
    }
    if utf8 {
        return part.to_string();
    }
    collapse_underscores(&replace_invalid(part, false))
        .trim_matches('_')
        .to_string()
}

/// The unit suffix words for `unit` (empty when none), e.g. `m/s` → `["meters", "per",
/// "second"]`. Unit `1` yields nothing (it becomes `_ratio` on gauges).
pub fn unit_suffix(unit: &str, utf8: bool) -> Vec<String> {
    let unit = strip_annotations(unit);
    if unit.is_empty() || unit == "1" {
        return Vec::new();
    }
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (unit.as_str(), None),
    };
    let mut out = Vec::new();
    let main = unit_part(main, false, utf8);
    if !main.is_empty() {
        out.push(main);
    }
    if let Some(per) = per {
        let per = unit_part(per, true, utf8);
        if !per.is_empty() {
            out.push("per".to_string());
            out.push(per);
        }
    }
    out
}

fn replace_invalid(s: &str, allow_colon: bool) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn collapse_underscores(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out
}

/// The Prometheus metric family name for an OTLP metric.
pub fn metric_family_name(name: &str, unit: &str, suffix: TypeSuffix, utf8: bool) -> String {
    let unit_words = unit_suffix(unit, utf8);
    if utf8 {
        let mut out = name.to_string();
        let unit_text = unit_words.join("_");
        if !unit_text.is_empty() && !out.ends_with(&unit_text) {
            out.push('_');
            out.push_str(&unit_text);
        }
        let tail = match suffix {
            TypeSuffix::None => None,
            TypeSuffix::Total => Some("total"),
            TypeSuffix::Ratio => Some("ratio"),
        };
        if let Some(t) = tail {
            if !out.ends_with(t) {
                out.push('_');
                out.push_str(t);
            }
        }
        return out;
    }
    // Legacy: split on everything but ASCII letters, digits and ':'.
    let mut tokens: Vec<String> = name
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    match suffix {
        TypeSuffix::Total => tokens.retain(|t| t != "total"),
        TypeSuffix::Ratio => tokens.retain(|t| t != "ratio"),
        TypeSuffix::None => {}
    }
    // Append the main unit unless the name already contains it as a token; the `per_…` part
    // is always appended (as Prometheus does).
    let mut words = unit_words.into_iter();
    if let Some(main) = words.next() {
        if main == "per" || !tokens.contains(&main) {
            tokens.push(main);
        }
    }
    tokens.extend(words);
    match suffix {
        TypeSuffix::Total => tokens.push("total".to_string()),
        TypeSuffix::Ratio => tokens.push("ratio".to_string()),
        TypeSuffix::None => {}
    }
    let mut out = tokens.join("_");
    if out.is_empty() {
        return "_".to_string();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A label name sanitised for Prometheus: invalid characters become `_`, runs of `_` collapse
/// to one, a leading digit gets
/// the prefix `key_`, and an empty name becomes `_`. UTF-8 mode keeps the name.
pub fn label_name(name: &str, utf8: bool) -> String {
    if utf8 {
        return name.to_string();
    }
    if name.is_empty() {
        return "_".to_string();
    }
    let mut out = collapse_underscores(&replace_invalid(name, false));
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    out
}
