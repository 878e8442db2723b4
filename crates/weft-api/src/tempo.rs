//! Tempo-compatible trace API: trace by ID, search, tags and tag values, with the exact
//! shapes Grafana's Tempo data source decodes (it decodes search responses strictly, so no
//! field unknown to Tempo's `tempopb` may appear).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use prost::Message;
use serde::Serialize;
use serde_json::{json, Value};
use weft_core::ids::parse_trace_id_hex;
use weft_core::otlp::trace::v1::TracesData;
use weft_core::TenantId;
use weft_traces::search::{SearchRequest, SearchResult, TraceSummary};

use crate::params::{parse_go_duration, parse_unix_seconds};
use crate::{tenant, ApiError, AppState};

fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|m| {
                matches!(
                    m.split(';').next().unwrap_or("").trim(),
                    "application/protobuf" | "application/x-protobuf"
                )
            })
        })
}

fn parse_id(raw: &str) -> Result<[u8; 16], ApiError> {
    parse_trace_id_hex(raw).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "invalid trace ID {raw:?}: expected 1 to 32 hexadecimal digits"
        ))
    })
}

async fn load_trace(
    state: &AppState,
    headers: &HeaderMap,
    raw_id: &str,
) -> Result<Vec<u8>, ApiError> {
    let tenant = tenant(state, headers)?;
    let id = parse_id(raw_id)?;
    let store = state.traces.clone();
    let found = tokio::task::spawn_blocking(move || store.find_trace(&tenant, &id))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    found.ok_or_else(|| ApiError::NotFound(format!("trace not found: {raw_id}")))
}

/// `GET /api/traces/<id>`: `tempopb.Trace` as protobuf, or `{"batches":[...]}` OTLP JSON.
pub async fn trace_v1(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let bytes = load_trace(&state, &headers, &id).await?;
    if wants_protobuf(&headers) {
        return Ok(protobuf_response(bytes));
    }
    let trace = decode_trace(&bytes)?;
    Ok(Json(json!({ "batches": trace.resource_spans })).into_response())
}

/// `GET /api/v2/traces/<id>`: `tempopb.TraceByIDResponse` as protobuf, or OTLP JSON.
pub async fn trace_v2(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let bytes = load_trace(&state, &headers, &id).await?;
    if wants_protobuf(&headers) {
        // TraceByIDResponse { Trace trace = 1; ... }: the stored bytes already are a Trace.
        let mut out = Vec::with_capacity(bytes.len() + 10);
        prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(&bytes);
        return Ok(protobuf_response(out));
    }
    let trace = decode_trace(&bytes)?;
    Ok(Json(json!({ "trace": { "resourceSpans": trace.resource_spans } })).into_response())
}

fn decode_trace(bytes: &[u8]) -> Result<TracesData, ApiError> {
    TracesData::decode(bytes)
        .map_err(|e| ApiError::Internal(format!("stored trace does not decode: {e}")))
}

fn protobuf_response(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/protobuf")],
        body,
    )
        .into_response()
}

/// Default and maximum result counts, as in Tempo.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 10_000;
const DEFAULT_SPSS: usize = 3;

/// `GET /api/search`.
pub async fn search(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let request = search_request(&params)?;
    let store = state.traces.clone();
    let result = tokio::task::spawn_blocking(move || store.search(&tenant, &request))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(search_response(&result)))
}

fn search_request(params: &HashMap<String, String>) -> Result<SearchRequest, ApiError> {
    let query_text = match (
        params.get("q").filter(|q| !q.trim().is_empty()),
        params.get("tags"),
    ) {
        (Some(q), _) => q.clone(),
        (None, Some(tags)) if !tags.trim().is_empty() => tags_to_traceql(tags)?,
        _ => "{}".to_string(),
    };
    let query = weft_traceql::parse(&query_text)
        .map_err(|e| ApiError::BadRequest(format!("invalid TraceQL query: {e}")))?;
    query
        .check_supported()
        .map_err(|e| ApiError::BadRequest(format!("invalid TraceQL query: {e}")))?;
    let limit = optional_usize(params, "limit")?.unwrap_or(DEFAULT_LIMIT);
    let spss = optional_usize(params, "spss")?.unwrap_or(DEFAULT_SPSS);
    let start_ns = optional(params, "start", parse_unix_seconds)?;
    let end_ns = optional(params, "end", parse_unix_seconds)?;
    if let (Some(s), Some(e)) = (start_ns, end_ns) {
        if e < s {
            return Err(ApiError::BadRequest(format!(
                "invalid time range: end {e} is before start {s}"
            )));
        }
    }
    Ok(SearchRequest {
        query,
        min_duration_ns: optional(params, "minDuration", parse_go_duration)?,
        max_duration_ns: optional(params, "maxDuration", parse_go_duration)?,
        limit: limit.clamp(1, MAX_LIMIT),
        spans_per_spanset: spss.clamp(1, 1000),
        start_ns,
        end_ns,
    })
}

fn optional<T>(
    params: &HashMap<String, String>,
    key: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ApiError> {
    match params.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(raw) => parse(raw)
            .map(Some)
            .map_err(|why| ApiError::BadRequest(format!("invalid {key} {raw:?}: {why}"))),
    }
}

fn optional_usize(params: &HashMap<String, String>, key: &str) -> Result<Option<usize>, ApiError> {
    optional(params, key, |raw| {
        raw.parse::<usize>()
            .map_err(|_| "expected a non-negative integer".to_string())
    })
}

/// Converts Tempo's legacy `tags=` search (logfmt `key=value` pairs) to TraceQL: every pair
/// must be matched by some span or its resource.
fn tags_to_traceql(tags: &str) -> Result<String, ApiError> {
    let mut filters = Vec::new();
    for pair in split_logfmt(tags) {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            ApiError::BadRequest(format!("invalid tags {tags:?}: expected key=value pairs"))
        })?;
        let value = value.trim_matches('"');
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        let field = match key {
            "name" => "name".to_string(),
            "status.code" => {
                filters.push(format!(
                    "{{ status = {} }}",
                    value
                        .trim_start_matches("STATUS_CODE_")
                        .to_ascii_lowercase()
                ));
                continue;
            }
            "root.service.name" => "rootServiceName".to_string(),
            "root.name" => "rootName".to_string(),
            _ if key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)) =>
            {
                format!(".{key}")
            }
            _ => format!(".\"{}\"", key.replace('"', "\\\"")),
        };
        filters.push(format!("{{ {field} = \"{escaped}\" }}"));
    }
    if filters.is_empty() {
        return Ok("{}".to_string());
    }
    Ok(filters.join(" && "))
}

/// Splits logfmt on spaces outside double quotes.
fn split_logfmt(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ' ' if !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `tempopb.SearchResponse` as proto3 JSON, with only the fields Tempo's pinned protobuf has.
fn search_response(result: &SearchResult) -> Value {
    let traces: Vec<Value> = result.traces.iter().map(trace_json).collect();
    json!({
        "traces": traces,
        "metrics": {
            "inspectedTraces": result.inspected_traces,
            "inspectedBytes": result.inspected_bytes.to_string(),
            "totalBlocks": result.total_blocks,
            "completedJobs": result.total_blocks,
            "totalJobs": result.total_blocks,
            "totalBlockBytes": result.total_block_bytes.to_string(),
            "inspectedSpans": result.inspected_spans.to_string(),
        }
    })
}

fn trace_json(trace: &TraceSummary) -> Value {
    let spans: Vec<Value> = trace
        .spans
        .iter()
        .map(|span| {
            let attributes: Vec<Value> = span
                .attributes
                .iter()
                .map(|(key, value)| json!({ "key": key, "value": value }))
                .collect();
            let mut obj = json!({
                "spanID": hex::encode(span.span_id),
                "name": span.name,
                "startTimeUnixNano": span.start_ns.to_string(),
                "durationNanos": span.duration_ns.to_string(),
            });
            if !attributes.is_empty() {
                obj["attributes"] = Value::Array(attributes);
            }
            obj
        })
        .collect();
    let span_set = json!({ "spans": spans, "matched": trace.matched });
    let stats: serde_json::Map<String, Value> = trace
        .service_stats
        .iter()
        .map(|(service, s)| {
            let mut v = json!({ "spanCount": s.span_count });
            if s.error_count > 0 {
                v["errorCount"] = json!(s.error_count);
            }
            (service.clone(), v)
        })
        .collect();
    json!({
        "traceID": hex::encode(trace.trace_id),
        "rootServiceName": trace.root_service_name,
        "rootTraceName": trace.root_trace_name,
        "startTimeUnixNano": trace.start_ns.to_string(),
        "durationMs": trace.duration_ms,
        "spanSet": span_set,
        "spanSets": [span_set],
        "serviceStats": stats,
    })
}

/// Intrinsic tags offered for autocomplete, as Tempo lists them.
const INTRINSIC_TAGS: &[&str] = &[
    "duration",
    "event:name",
    "event:timeSinceStart",
    "instrumentation:name",
    "instrumentation:version",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "span:duration",
    "span:id",
    "span:kind",
    "span:name",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:id",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
];

#[derive(Serialize)]
struct TagScope {
    name: &'static str,
    tags: Vec<String>,
}

/// `GET /api/v2/search/tags`: attribute names by scope plus intrinsics.
pub async fn tags_v2(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let wanted = params.get("scope").map(|s| s.as_str()).unwrap_or("all");
    let summary = state.traces.tag_summary(&tenant);
    let mut scopes = Vec::new();
    for name in ["resource", "span"] {
        if wanted == "all" || wanted == name {
            let tags = summary
                .scopes
                .get(name)
                .map(|keys| keys.keys().cloned().collect())
                .unwrap_or_default();
            scopes.push(TagScope { name, tags });
        }
    }
    if wanted == "all" || wanted == "intrinsic" {
        scopes.push(TagScope {
            name: "intrinsic",
            tags: INTRINSIC_TAGS.iter().map(|s| s.to_string()).collect(),
        });
    }
    Ok(Json(
        json!({ "scopes": scopes, "metrics": { "inspectedBytes": "0" } }),
    ))
}

/// `GET /api/search/tags`: the v1 flat list of attribute names.
pub async fn tags_v1(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let summary = state.traces.tag_summary(&tenant);
    let names: BTreeSet<String> = ["resource", "span"]
        .iter()
        .filter_map(|scope| summary.scopes.get(*scope))
        .flat_map(|keys| keys.keys().cloned())
        .collect();
    Ok(Json(
        json!({ "tagNames": names, "metrics": { "inspectedBytes": "0" } }),
    ))
}

/// `GET /api/v2/search/tag/<tag>/values`: typed values for one scoped or intrinsic tag.
pub async fn tag_values_v2(
    State(state): State<Arc<AppState>>,
    Path(tag): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let values = tag_values(&state, &tenant, &tag)?;
    let values: Vec<Value> = values
        .into_iter()
        .map(|(value, kind)| json!({ "type": kind, "value": value }))
        .collect();
    Ok(Json(
        json!({ "tagValues": values, "metrics": { "inspectedBytes": "0" } }),
    ))
}

/// `GET /api/search/tag/<tag>/values`: v1, plain strings.
pub async fn tag_values_v1(
    State(state): State<Arc<AppState>>,
    Path(tag): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let tenant = tenant(&state, &headers)?;
    let values: Vec<String> = tag_values(&state, &tenant, &tag)?
        .into_iter()
        .map(|(value, _)| value)
        .collect();
    Ok(Json(
        json!({ "tagValues": values, "metrics": { "inspectedBytes": "0" } }),
    ))
}

/// Values of `tag` with their TraceQL type names, sorted and de-duplicated.
fn tag_values(
    state: &AppState,
    tenant: &TenantId,
    tag: &str,
) -> Result<Vec<(String, String)>, ApiError> {
    let keyword = |values: &[&str]| {
        values
            .iter()
            .map(|v| (v.to_string(), "keyword".to_string()))
            .collect()
    };
    match tag {
        "status" | "span:status" => return Ok(keyword(&["error", "ok", "unset"])),
        "kind" | "span:kind" => {
            return Ok(keyword(&[
                "client",
                "consumer",
                "internal",
                "producer",
                "server",
                "unspecified",
            ]))
        }
        _ => {}
    }
    let summary = state.traces.tag_summary(tenant);
    let lookups: Vec<(&str, &str)> = match tag {
        "name" | "span:name" | "rootName" | "trace:rootName" => vec![("intrinsic", "name")],
        "rootServiceName" | "trace:rootService" => vec![("resource", "service.name")],
        _ => match tag.split_once('.') {
            Some(("resource", key)) => vec![("resource", key)],
            Some(("span", key)) => vec![("span", key)],
            Some(("", key)) => vec![("span", key), ("resource", key)],
            _ => vec![("span", tag), ("resource", tag)],
        },
    };
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (scope, key) in lookups {
        let key = key.trim_matches('"');
        if let Some(values) = summary.scopes.get(scope).and_then(|keys| keys.get(key)) {
            for (value, kind) in &values.values {
                out.entry(value.clone()).or_insert_with(|| kind.clone());
            }
        }
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_tags_become_traceql() {
        let q = tags_to_traceql(r#"service.name="my svc" http.status_code=500"#).unwrap();
        assert_eq!(
            q,
            r#"{ .service.name = "my svc" } && { .http.status_code = "500" }"#
        );
        assert!(tags_to_traceql("novalue").is_err());
    }
}
