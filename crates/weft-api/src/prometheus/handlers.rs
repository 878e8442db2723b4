//! The Prometheus HTTP API handlers: parse the request ([`super::params`]), run the query on
//! a blocking thread against the tenant's [`TenantReader`], encode as Prometheus does
//! ([`super::encode`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use promql_parser::label::Matchers;
use serde::Serialize;
use weft_core::labels::Labels;
use weft_core::time::now_unix_nanos;
use weft_core::TenantId;
use weft_metrics::promql::{self, EvSeries, Evaluator, Query, Queryable, Value};
use weft_metrics::store::{TenantReader, WindowCache};

use super::encode::{encode_matrix, encode_scalar, encode_string, encode_vector};
use super::params::{invalid_param, parse_range_params, parse_time_param, FormValues};
use super::params::{MAX_TIME_MS, MIN_TIME_MS};
use super::response::{ErrorType, PromError, PromSuccess};
use super::{MatrixSeries, VectorSample};
use crate::AppState;

type PromResult = Result<PromSuccess, PromError>;

fn respond(result: PromResult) -> Response {
    match result {
        Ok(ok) => ok.into_response(),
        Err(err) => err.into_response(),
    }
}

fn form(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> FormValues {
    let body = if method == Method::GET { &[][..] } else { body };
    FormValues::from_request(uri, headers, body)
}

fn tenant(state: &AppState, headers: &HeaderMap) -> Result<TenantId, PromError> {
    crate::tenant(state, headers).map_err(|e| PromError::new(ErrorType::BadData, e.to_string()))
}

fn now_ms() -> i64 {
    (now_unix_nanos() / 1_000_000) as i64
}

/// Runs `f` on a blocking thread (queries are CPU-bound).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PromError> + Send + 'static,
) -> Result<T, PromError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PromError::new(ErrorType::Internal, format!("query task failed: {e}")))?
}

/// The optional per-query `lookback_delta` (Prometheus 3).
fn lookback(form: &FormValues) -> Result<i64, PromError> {
    match form.get("lookback_delta").filter(|s| !s.is_empty()) {
        None => Ok(promql::DEFAULT_LOOKBACK_MS),
        Some(s) => super::params::parse_duration_or_seconds(s)
            .map(|ns| ns / 1_000_000)
            .map_err(|e| invalid_param(&e, "lookback_delta")),
    }
}

/// `GET|POST /api/v1/query`.
pub async fn query(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(query_inner(&state, &form(&method, &uri, &headers, &body), &headers).await)
}

async fn query_inner(state: &AppState, form: &FormValues, headers: &HeaderMap) -> PromResult {
    let tenant = tenant(state, headers)?;
    let t = parse_time_param(form.get("time"), "time", now_ms())
        .map_err(|e| invalid_param(&e, "time"))?;
    let text = form.get("query").unwrap_or("").to_string();
    let lookback_ms = lookback(form)?;
    let q = promql::parse_query(&text, 0, 0).map_err(|e| invalid_param(&e, "query"))?;
    let reader = state.metric_store.reader(&tenant);
    blocking(move || {
        let mut ev = prepared(&reader, &q, lookback_ms)?;
        let value = ev.instant(&q.expr, t).map_err(execution)?;
        let data = match value {
            Value::Scalar(v) => encode_scalar(t, v),
            Value::String(s) => encode_string(t, &s),
            Value::Vector(v) => {
                let samples: Vec<VectorSample<'_>> = v
                    .iter()
                    .map(|s| VectorSample {
                        metric: &s.labels,
                        t_ms: t,
                        value: s.f,
                        histogram: s.h.as_deref(),
                    })
                    .collect();
                encode_vector(&samples)
            }
            Value::Matrix(m) => encode_series(&m),
        };
        Ok(success(data, ev))
    })
    .await
}

/// An evaluator over `storage` with the request's lookback, prepared for `q`.
fn prepared<'a>(
    storage: &'a dyn Queryable,
    q: &Query,
    lookback_ms: i64,
) -> Result<Evaluator<'a>, PromError> {
    let mut ev = Evaluator::new(storage);
    ev.lookback_ms = lookback_ms;
    ev.prepare(q).map_err(|e| invalid_param(&e, "query"))?;
    Ok(ev)
}

/// A range result as Prometheus' matrix.
fn encode_series(series: &[EvSeries]) -> String {
    let out: Vec<MatrixSeries<'_>> = series
        .iter()
        .map(|s| MatrixSeries {
            metric: &s.labels,
            points: &s.points,
            histograms: &s.hists,
        })
        .collect();
    encode_matrix(&out)
}

/// The success envelope with the evaluator's annotations.
fn success(data: String, ev: Evaluator<'_>) -> PromSuccess {
    PromSuccess {
        data,
        warnings: ev.warnings,
        infos: ev.infos,
    }
}

/// `GET /api/v1/service-graph?start=&end=` (default: the last hour): nodes and edges with
/// rates and latency quantiles, computed from the stored service-graph series
/// ([`super::service_graph`]).
pub async fn service_graph(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let form = form(&method, &uri, &headers, &[]);
    respond(service_graph_inner(&state, &form, &headers).await)
}

async fn service_graph_inner(
    state: &AppState,
    form: &FormValues,
    headers: &HeaderMap,
) -> PromResult {
    let tenant = tenant(state, headers)?;
    let end =
        parse_time_param(form.get("end"), "end", now_ms()).map_err(|e| invalid_param(&e, "end"))?;
    let start = parse_time_param(form.get("start"), "start", end - 3_600_000)
        .map_err(|e| invalid_param(&e, "start"))?;
    if end <= start {
        return Err(PromError::new(
            ErrorType::BadData,
            "invalid parameter \"end\": end timestamp must be after start time",
        ));
    }
    let reader = state.metric_store.reader(&tenant);
    blocking(move || {
        let graph = super::service_graph::compute(&reader, start, end).map_err(execution)?;
        PromSuccess::from_serialize(&graph)
    })
    .await
}

/// `GET|POST /api/v1/query_range`.
pub async fn query_range(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(query_range_inner(&state, &form(&method, &uri, &headers, &body), &headers).await)
}

async fn query_range_inner(state: &AppState, form: &FormValues, headers: &HeaderMap) -> PromResult {
    let tenant = tenant(state, headers)?;
    let range = parse_range_params(form.get("start"), form.get("end"), form.get("step"))?;
    let text = form.get("query").unwrap_or("").to_string();
    let lookback_ms = lookback(form)?;
    let step_ms = range.step_ms();
    let q = promql::parse_query(&text, step_ms, range.end_ms - range.start_ms)
        .map_err(|e| invalid_param(&e, "query"))?;
    let reader = state.metric_store.reader(&tenant);
    blocking(move || {
        // Steps re-select overlapping windows: select once, slice per step.
        let cache = WindowCache::new(&reader, range.end_ms - range.start_ms);
        let mut ev = prepared(&cache, &q, lookback_ms)?;
        let result = ev.range(&q.expr, range.start_ms, range.end_ms, step_ms);
        let series = result.map_err(|e| {
            if e.starts_with("invalid expression type") {
                invalid_param(&e, "query")
            } else {
                execution(e)
            }
        })?;
        Ok(success(encode_series(&series), ev))
    })
    .await
}

fn execution(e: String) -> PromError {
    PromError::new(ErrorType::Execution, e)
}

/// Parses the `match[]` selectors; `required` as for `/api/v1/series`.
fn selectors(form: &FormValues, required: bool) -> Result<Vec<Matchers>, PromError> {
    let raw = form.matchers();
    if raw.is_empty() && required {
        return Err(PromError::new(
            ErrorType::BadData,
            "no match[] parameter provided",
        ));
    }
    raw.into_iter()
        .map(|s| promql::parse_selector(s).map_err(|e| invalid_param(&e, "match[]")))
        .collect()
}

/// `start`/`end` of the metadata endpoints, which default to all time.
fn time_bounds(form: &FormValues) -> Result<(i64, i64), PromError> {
    let start = parse_time_param(form.get("start"), "start", MIN_TIME_MS)
        .map_err(|e| invalid_param(&e, "start"))?;
    let end = parse_time_param(form.get("end"), "end", MAX_TIME_MS)
        .map_err(|e| invalid_param(&e, "end"))?;
    Ok((start, end))
}

/// The `limit` parameter (`0` or absent: unlimited).
fn limit(form: &FormValues) -> Result<usize, PromError> {
    match form.get("limit").filter(|s| !s.is_empty()) {
        None => Ok(0),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|&n| n >= 0)
            .map(|n| n as usize)
            .ok_or_else(|| invalid_param("cannot parse \"limit\" argument", "limit")),
    }
}

/// Applies `limit` with Prometheus' warning when results were cut.
fn limited<T>(mut items: Vec<T>, limit: usize) -> (Vec<T>, Vec<String>) {
    if limit == 0 || items.len() <= limit {
        return (items, Vec::new());
    }
    items.truncate(limit);
    (items, vec!["results truncated due to limit".to_string()])
}

/// A reader and the parsed common parameters of the metadata endpoints.
struct MetaQuery {
    reader: TenantReader,
    selectors: Vec<Matchers>,
    start: i64,
    end: i64,
    limit: usize,
}

fn meta_query(
    state: &AppState,
    form: &FormValues,
    headers: &HeaderMap,
    require_match: bool,
) -> Result<MetaQuery, PromError> {
    let tenant = tenant(state, headers)?;
    let selectors = selectors(form, require_match)?;
    let (start, end) = time_bounds(form)?;
    Ok(MetaQuery {
        reader: state.metric_store.reader(&tenant),
        selectors,
        start,
        end,
        limit: limit(form)?,
    })
}

/// `GET|POST /api/v1/series`.
pub async fn series(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form(&method, &uri, &headers, &body);
    let result = async {
        let q = meta_query(&state, &form, &headers, true)?;
        blocking(move || {
            let all = q.reader.series(&q.selectors, q.start, q.end, 0);
            let (items, warnings) = limited(all, q.limit);
            let data: Vec<BTreeMap<&str, &str>> = items.iter().map(label_map).collect();
            let mut ok = PromSuccess::from_serialize(&data)?;
            ok.warnings = warnings;
            Ok(ok)
        })
        .await
    };
    respond(result.await)
}

fn label_map(l: &Labels) -> BTreeMap<&str, &str> {
    l.iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect()
}

/// `GET|POST /api/v1/labels`.
pub async fn labels(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form(&method, &uri, &headers, &body);
    let result = async {
        let q = meta_query(&state, &form, &headers, false)?;
        blocking(move || {
            let names = q.reader.label_names(&q.selectors, q.start, q.end);
            string_list(names, q.limit)
        })
        .await
    };
    respond(result.await)
}

fn string_list(items: Vec<String>, limit: usize) -> PromResult {
    let (items, warnings) = limited(items, limit);
    let mut ok = PromSuccess::from_serialize(&items)?;
    ok.warnings = warnings;
    Ok(ok)
}

/// `GET /api/v1/label/<name>/values`; `<name>` may be `U__`-escaped (Grafana escapes
/// names outside the legacy character set).
pub async fn label_values(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form(&method, &uri, &headers, &body);
    let result = async {
        let name = unescape_label_name(&name).ok_or_else(|| {
            PromError::new(ErrorType::BadData, format!("invalid label name: {name:?}"))
        })?;
        let q = meta_query(&state, &form, &headers, false)?;
        blocking(move || {
            let values = q.reader.label_values(&name, &q.selectors, q.start, q.end);
            string_list(values, q.limit)
        })
        .await
    };
    respond(result.await)
}

/// Undoes Prometheus' `U__` "values" escaping of label names: after the prefix, `__` is
/// `_` and `_<hex>_` is the code point `<hex>`. Names without the prefix, and malformed
/// escapes, are returned unchanged (as Prometheus' `UnescapeName`); `None` for an empty name.
pub fn unescape_label_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let Some(rest) = name.strip_prefix("U__") else {
        return Some(name.to_string());
    };
    Some(unescape_values(rest).unwrap_or_else(|| name.to_string()))
}

fn unescape_values(rest: &str) -> Option<String> {
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        let hex: String = chars.by_ref().take_while(|&c| c != '_').collect();
        if hex.is_empty() {
            out.push('_');
            continue;
        }
        let cp = u32::from_str_radix(&hex, 16).ok()?;
        out.push(char::from_u32(cp)?);
    }
    Some(out)
}

#[derive(Serialize)]
struct MetadataEntry<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    help: &'a str,
    unit: &'a str,
}

/// `GET /api/v1/metadata`.
pub async fn metadata(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let form = FormValues::parse(uri.query(), None);
    let result = (|| {
        let tenant = tenant(&state, &headers)?;
        let count = |name: &str| -> Result<usize, PromError> {
            match form.get(name).filter(|s| !s.is_empty()) {
                None => Ok(0),
                Some(s) => s
                    .parse::<i64>()
                    .map(|n| if n < 0 { 0 } else { n as usize })
                    .map_err(|_| invalid_param(&format!("cannot parse {name:?} argument"), name)),
            }
        };
        let md = state.metric_store.metadata(
            &tenant,
            form.get("metric").filter(|s| !s.is_empty()),
            count("limit")?,
            count("limit_per_metric")?,
        );
        let data: BTreeMap<&str, Vec<MetadataEntry<'_>>> = md
            .iter()
            .map(|(name, entries)| {
                let list = entries
                    .iter()
                    .map(|m| MetadataEntry {
                        kind: m.kind.as_str(),
                        help: &m.help,
                        unit: &m.unit,
                    })
                    .collect();
                (name.as_str(), list)
            })
            .collect();
        PromSuccess::from_serialize(&data)
    })();
    respond(result)
}

#[derive(Serialize)]
struct ExemplarGroup<'a> {
    #[serde(rename = "seriesLabels")]
    series_labels: BTreeMap<&'a str, &'a str>,
    exemplars: Vec<ExemplarJson<'a>>,
}

#[derive(Serialize)]
struct ExemplarJson<'a> {
    labels: BTreeMap<&'a str, &'a str>,
    value: String,
    timestamp: f64,
}

/// `GET|POST /api/v1/query_exemplars`: exemplars of the series the query's selectors pick.
pub async fn query_exemplars(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form(&method, &uri, &headers, &body);
    let result = (|| {
        let tenant = tenant(&state, &headers)?;
        let (start, end) = time_bounds(&form)?;
        let text = form.get("query").unwrap_or("");
        let q = promql::parse_query(text, 0, 0).map_err(|e| invalid_param(&e, "query"))?;
        let selectors = promql::selectors_of(&q.expr);
        let groups = state
            .metric_store
            .exemplars(&tenant, &selectors, start, end);
        let data: Vec<ExemplarGroup<'_>> = groups
            .iter()
            .map(|(series, exemplars)| ExemplarGroup {
                series_labels: label_map(series),
                exemplars: exemplars
                    .iter()
                    .map(|e| ExemplarJson {
                        labels: label_map(&e.labels),
                        value: super::encode::format_float_f(e.value),
                        timestamp: e.t_ms as f64 / 1000.0,
                    })
                    .collect(),
            })
            .collect();
        PromSuccess::from_serialize(&data)
    })();
    respond(result)
}

/// `GET /api/v1/rules`: no recording or alerting rules are evaluated (yet); Grafana reads
/// `data.groups` at start-up.
pub async fn rules() -> Response {
    PromSuccess::new(r#"{"groups":[]}"#.to_string()).into_response()
}

/// `GET /api/v1/targets`: the scrape targets (`state=active|dropped|any`).
pub async fn targets(State(state): State<Arc<AppState>>, uri: Uri) -> Response {
    let form = FormValues::parse(uri.query(), None);
    let json = state.targets.as_ref().map(|f| f()).unwrap_or_default();
    let mut data: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    if !data.is_object() {
        data = serde_json::json!({});
    }
    for key in ["activeTargets", "droppedTargets"] {
        if data.get(key).is_none() {
            data[key] = serde_json::json!([]);
        }
    }
    match form.get("state").unwrap_or("any") {
        "active" => data["droppedTargets"] = serde_json::json!([]),
        "dropped" => data["activeTargets"] = serde_json::json!([]),
        _ => {}
    }
    respond(PromSuccess::from_serialize(&data))
}

/// `GET /api/v1/alerts`: none.
pub async fn alerts() -> Response {
    PromSuccess::new(r#"{"alerts":[]}"#.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_grafana_label_names() {
        assert_eq!(unescape_label_name("job").as_deref(), Some("job"));
        assert_eq!(
            unescape_label_name("U__http_2e_status__code").as_deref(),
            Some("http.status_code")
        );
        assert_eq!(unescape_label_name("U__a__b").as_deref(), Some("a_b"));
        assert_eq!(unescape_label_name("U___1f600_").as_deref(), Some("😀"));
        assert_eq!(unescape_label_name("U___zz_").as_deref(), Some("U___zz_"));
        assert_eq!(unescape_label_name(""), None);
    }
}
