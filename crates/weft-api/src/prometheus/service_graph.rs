//! The service graph for the UI (`GET /api/v1/service-graph`), computed from the stored
//! Tempo-style series (`traces_service_graph_*`, `traces_spanmetrics_calls_total`) with the
//! PromQL engine, so it answers what Grafana's node graph would over the same window.
//!
//! Over `[start, end]` (queries evaluated at `end` with a range of `end - start`):
//! - edges `(client, server, connection_type)` with request and error rates (per second) and
//!   p50/p95/p99 of the server-side latency (seconds) from the latency histogram;
//! - nodes: every client and server of an edge, plus every service that emitted span metrics
//!   (so services without edges in the window still appear); a node's stats are those of the
//!   edges into it, as Grafana attributes them to the server.
//! - kinds: `user` (the uninstrumented caller Tempo names `user`), `database` / `messaging`
//!   (reached by `connection_type="database"` / `"messaging_system"`), `virtual` (named only
//!   by peer attributes: it emitted no spans of its own), else `service`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use weft_metrics::promql::{self, Evaluator, Queryable, Value};

const TOTAL: &str = "traces_service_graph_request_total";
const FAILED: &str = "traces_service_graph_request_failed_total";
const BUCKETS: &str = "traces_service_graph_request_server_seconds_bucket";
const CALLS: &str = "traces_spanmetrics_calls_total";

/// The graph as the UI reads it.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// Request rate (per second), error rate (failed requests per second) and latency quantiles
/// (seconds; `null` without latency data).
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub request_rate: f64,
    pub error_rate: f64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Node {
    pub id: String,
    pub kind: &'static str,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    pub source: String,
    pub target: String,
    pub connection_type: String,
    #[serde(flatten)]
    pub stats: Stats,
}

/// Instant-vector results as `(labels by name, value)`.
type Rows = Vec<(BTreeMap<String, String>, f64)>;

fn instant(storage: &dyn Queryable, q: &str, t: i64) -> Result<Rows, String> {
    let query = promql::parse_query(q, 0, 0)?;
    let mut ev = Evaluator::new(storage);
    ev.prepare(&query)?;
    match ev.instant(&query.expr, t)? {
        Value::Vector(v) => Ok(v
            .into_iter()
            .map(|s| {
                let labels = s
                    .labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                (labels, s.f)
            })
            .collect()),
        other => Err(format!("{q}: expected a vector, got {}", other.type_name())),
    }
}

fn label<'a>(row: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    row.get(name).map_or("", String::as_str)
}

/// The graph over `[start_ms, end_ms]` (`end_ms > start_ms`).
pub fn compute(storage: &dyn Queryable, start_ms: i64, end_ms: i64) -> Result<Graph, String> {
    let range = format!("{}ms", (end_ms - start_ms).max(1));
    let q = |expr: String| instant(storage, &expr, end_ms);
    let edge_key = |r: &BTreeMap<String, String>| {
        (
            label(r, "client").to_string(),
            label(r, "server").to_string(),
        )
    };

    let mut edges: BTreeMap<(String, String), (String, Stats)> = BTreeMap::new();
    for (r, v) in q(format!(
        "sum by (client, server, connection_type) (rate({TOTAL}[{range}]))"
    ))? {
        let e = edges.entry(edge_key(&r)).or_default();
        e.0 = label(&r, "connection_type").to_string();
        e.1.request_rate += v;
    }
    for (r, v) in q(format!("sum by (client, server) (rate({FAILED}[{range}]))"))? {
        if let Some(e) = edges.get_mut(&edge_key(&r)) {
            e.1.error_rate += v;
        }
    }
    for (quantile, set) in quantile_setters() {
        let expr = format!("histogram_quantile({quantile}, sum by (le, client, server) (rate({BUCKETS}[{range}])))");
        for (r, v) in q(expr)? {
            if let Some(e) = edges.get_mut(&edge_key(&r)) {
                set(&mut e.1, v);
            }
        }
    }

    // Node stats: the edges into each node (latency quantiles over all its incoming calls).
    let mut node_stats: BTreeMap<String, Stats> = BTreeMap::new();
    for ((_, server), (_, s)) in &edges {
        let n = node_stats.entry(server.clone()).or_default();
        n.request_rate += s.request_rate;
        n.error_rate += s.error_rate;
    }
    for (quantile, set) in quantile_setters() {
        let expr = format!(
            "histogram_quantile({quantile}, sum by (le, server) (rate({BUCKETS}[{range}])))"
        );
        for (r, v) in q(expr)? {
            if let Some(n) = node_stats.get_mut(label(&r, "server")) {
                set(n, v);
            }
        }
    }
    let instrumented: BTreeSet<String> = q(format!(
        "group by (service) (last_over_time({CALLS}[{range}]))"
    ))?
    .into_iter()
    .map(|(r, _)| label(&r, "service").to_string())
    .filter(|s| !s.is_empty())
    .collect();

    let mut names: BTreeSet<String> = instrumented.clone();
    for (c, s) in edges.keys() {
        names.insert(c.clone());
        names.insert(s.clone());
    }
    let nodes = names
        .into_iter()
        .map(|id| Node {
            kind: kind_of(&id, &edges, &instrumented),
            stats: node_stats.get(&id).copied().unwrap_or_default(),
            id,
        })
        .collect();
    let edges = edges
        .into_iter()
        .map(|((source, target), (connection_type, stats))| Edge {
            source,
            target,
            connection_type,
            stats,
        })
        .collect();
    Ok(Graph { nodes, edges })
}

type SetQuantile = fn(&mut Stats, f64);

fn quantile_setters() -> [(&'static str, SetQuantile); 3] {
    [
        ("0.5", |s, v| s.p50 = finite(v)),
        ("0.95", |s, v| s.p95 = finite(v)),
        ("0.99", |s, v| s.p99 = finite(v)),
    ]
}

/// NaN (no observations in the window) is reported as absent.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn kind_of(
    id: &str,
    edges: &BTreeMap<(String, String), (String, Stats)>,
    instrumented: &BTreeSet<String>,
) -> &'static str {
    let incoming = || {
        edges
            .iter()
            .filter(move |((_, s), _)| s == id)
            .map(|(_, (ct, _))| ct.as_str())
    };
    if incoming().any(|ct| ct == "database") {
        return "database";
    }
    if incoming().any(|ct| ct == "messaging_system") {
        return "messaging";
    }
    if id == "user" && !instrumented.contains(id) {
        return "user";
    }
    if !instrumented.contains(id) {
        return "virtual";
    }
    "service"
}

#[cfg(test)]
mod tests {
    use weft_core::labels::Labels;
    use weft_metrics::promql::MemStorage;

    use super::*;

    fn counter(s: &mut MemStorage, name: &str, labels: &[(&str, &str)], values: &[(i64, f64)]) {
        let pairs = labels.iter().copied().chain([("__name__", name)]);
        let l = Labels::from_pairs(pairs).unwrap();
        for &(t, v) in values {
            s.append(l.clone(), t, v);
        }
    }

    /// Counters that start with Tempo's zero give exact rates over a window ending at their
    /// last sample; kinds follow the edges' connection types and the span-metrics services.
    #[test]
    fn nodes_edges_rates_and_kinds() {
        let mut s = MemStorage::new();
        let edge = |c, sv, ct| vec![("client", c), ("server", sv), ("connection_type", ct)];
        counter(
            &mut s,
            TOTAL,
            &edge("web", "api", ""),
            &[(1, 0.0), (60_000, 30.0)],
        );
        counter(
            &mut s,
            TOTAL,
            &edge("api", "pg", "database"),
            &[(1, 0.0), (60_000, 6.0)],
        );
        counter(
            &mut s,
            TOTAL,
            &edge("user", "web", "virtual_node"),
            &[(1, 0.0), (60_000, 12.0)],
        );
        counter(
            &mut s,
            FAILED,
            &edge("web", "api", ""),
            &[(1, 0.0), (60_000, 3.0)],
        );
        for svc in ["web", "api", "batch"] {
            counter(
                &mut s,
                CALLS,
                &[("service", svc)],
                &[(1, 0.0), (60_000, 1.0)],
            );
        }
        let g = compute(&s, 0, 60_000).unwrap();
        let kinds: Vec<(&str, &str)> = g.nodes.iter().map(|n| (n.id.as_str(), n.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("api", "service"),
                ("batch", "service"),
                ("pg", "database"),
                ("user", "user"),
                ("web", "service")
            ]
        );
        let web_api = g
            .edges
            .iter()
            .find(|e| e.source == "web" && e.target == "api")
            .unwrap();
        assert_eq!(
            (web_api.stats.request_rate, web_api.stats.error_rate),
            (0.5, 0.05)
        );
        assert_eq!(web_api.stats.p50, None, "no latency histogram stored");
        let api = g.nodes.iter().find(|n| n.id == "api").unwrap();
        assert_eq!(api.stats.request_rate, 0.5);
        let batch = g.nodes.iter().find(|n| n.id == "batch").unwrap();
        assert_eq!(
            batch.stats,
            Stats::default(),
            "a service without edges still appears"
        );
    }
}
