//! The per-tenant generator: spans in, cumulative series out.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;
use weft_core::tenant::TenantId;
use weft_metrics::model::{Metadata, MetricType, MetricWrite, SeriesWrite};
use weft_traces::raw::{RawBatch, RawSpan};

use crate::config::GeneratorConfig;
use crate::series::{Family, SeriesTable};
use crate::span::{
    any_value_str, diff_sec, kind_name, scan_resource, scan_span, status_name, Found, KeyTable,
    SpanFacts, KIND_CLIENT, KIND_CONSUMER, KIND_INTERNAL, KIND_PRODUCER, KIND_SERVER,
    KIND_UNSPECIFIED, STATUS_ERROR,
};
use crate::store::{ConnType, Edge, EdgeKey, EdgeStore};
use crate::Error;

pub const REQUEST_TOTAL: &str = "traces_service_graph_request_total";
pub const REQUEST_FAILED_TOTAL: &str = "traces_service_graph_request_failed_total";
pub const REQUEST_SERVER_SECONDS: &str = "traces_service_graph_request_server_seconds";
pub const REQUEST_CLIENT_SECONDS: &str = "traces_service_graph_request_client_seconds";
pub const REQUEST_MESSAGING_SYSTEM_SECONDS: &str =
    "traces_service_graph_request_messaging_system_seconds";
pub const SERVICE_SPAN_TOTAL: &str = "traces_service_graph_service_span_total";
pub const SPANMETRICS_CALLS_TOTAL: &str = "traces_spanmetrics_calls_total";
pub const SPANMETRICS_LATENCY: &str = "traces_spanmetrics_latency";
pub const SPANMETRICS_SIZE_TOTAL: &str = "traces_spanmetrics_size_total";
pub const SELF_EDGES: &str = "tempo_metrics_generator_processor_service_graphs_edges";
pub const SELF_EXPIRED_EDGES: &str =
    "tempo_metrics_generator_processor_service_graphs_expired_edges";
pub const SELF_DROPPED_SPANS: &str =
    "tempo_metrics_generator_processor_service_graphs_dropped_spans";
pub const SELF_SPANS_DISCARDED: &str = "tempo_metrics_generator_spans_discarded_total";

// Family positions in the service-graph table.
const F_TOTAL: usize = 0;
const F_FAILED: usize = 1;
const F_SERVER: usize = 2;
const F_CLIENT: usize = 3;
const F_MESSAGING: usize = 4;
// ... in the span-metrics table.
const F_CALLS: usize = 0;
const F_LATENCY: usize = 1;
const F_SIZE: usize = 2;

/// The generator's own counters (cumulative since creation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Spans handed to [`Generator::push`].
    pub spans_received: u64,
    /// Spans ignored because their end time was outside the ingestion slack.
    pub spans_discarded_slack: u64,
    /// Edges opened in the store (Tempo's `…_service_graphs_edges`).
    pub edges_total: u64,
    /// Edges that completed with both sides (or a database call).
    pub edges_paired: u64,
    /// Edges that expired into a virtual node.
    pub edges_virtual: u64,
    /// Edges that expired with nothing to emit, by the kind of the one span seen
    /// (index = OTLP span kind number).
    pub expired_edges: [u64; 6],
    /// Spans dropped because the store held `max_items` edges.
    pub dropped_spans: u64,
    /// Edges waiting now.
    pub pending_edges: u64,
}

/// Label layout of the service-graph table: `client, server, connection_type,
/// [virtual_node], [db_system], dimensions…`.
struct SgLayout {
    virtual_label: bool,
    db_label: bool,
    msg_hist: bool,
}

struct Sg {
    store: EdgeStore,
    table: SeriesTable,
    layout: SgLayout,
    wait_ns: u64,
    prefix: bool,
    dim_keys: Vec<usize>,
    peer_keys: Vec<usize>,
    db_keys: Vec<usize>,
    db_system_keys: Vec<usize>,
    broker_keys: Vec<usize>,
    k_peer_service: usize,
    k_server_address: usize,
    k_net_peer_address: usize,
    k_net_peer_port: usize,
    pair_links: bool,
    broker: bool,
    rules: Vec<Rule>,
}

struct Rule {
    service: Regex,
    span_name: Regex,
    peer: Arc<str>,
}

struct Sm {
    table: SeriesTable,
    dim_keys: Vec<usize>,
    service: bool,
    span_name: bool,
    span_kind: bool,
    status_code: bool,
    status_message: bool,
    calls: bool,
    latency: bool,
    size: bool,
}

/// Derives service-graph and span-metrics series from one tenant's spans.
pub struct Generator {
    enabled: bool,
    self_metrics: bool,
    slack_ns: u64,
    stale_ns: u64,
    keys: KeyTable,
    k_service: usize,
    sg: Option<Sg>,
    sm: Option<Sm>,
    nodes: Option<SeriesTable>,
    interner: HashMap<Box<str>, Arc<str>>,
    stats: Stats,
    now_ns: u64,
}

fn duration_ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Tempo's label sanitising: every character outside `[a-zA-Z0-9_]` becomes `_` (and a
/// leading digit gets a `_` in front so the name stays valid).
pub fn sanitize_label_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn check_buckets(b: &[f64]) -> Result<(), Error> {
    if b.iter().any(|v| !v.is_finite()) || b.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::Buckets(b.to_vec()));
    }
    Ok(())
}

fn check_unique(names: &[String]) -> Result<(), Error> {
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(Error::DuplicateLabel(n.clone()));
        }
    }
    Ok(())
}

fn whole(pattern: &str) -> Result<Regex, Error> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|source| Error::Regex {
        pattern: pattern.to_string(),
        source,
    })
}

/// Resource first, then span (Tempo's `FindAttributeValue(key, resource, span)`).
#[inline]
fn lookup<'a>(res: &Found<'a>, span: &Found<'a>, k: usize) -> Option<Cow<'a, str>> {
    res.get(k)
        .copied()
        .flatten()
        .and_then(any_value_str)
        .or_else(|| span.get(k).copied().flatten().and_then(any_value_str))
}

#[inline]
fn lookup_one<'a>(found: &Found<'a>, k: usize) -> Option<Cow<'a, str>> {
    found.get(k).copied().flatten().and_then(any_value_str)
}

impl Generator {
    /// A generator with `cfg`; fails on an invalid regular expression, bucket list or
    /// clashing dimension labels.
    pub fn new(cfg: &GeneratorConfig) -> Result<Self, Error> {
        let mut keys = KeyTable::default();
        let k_service = keys.intern("service.name");
        let sgc = &cfg.service_graphs;
        let sg = if sgc.enabled {
            check_buckets(&sgc.histogram_buckets)?;
            let mut label_names: Vec<String> =
                vec!["client".into(), "server".into(), "connection_type".into()];
            if sgc.enable_virtual_node_label {
                label_names.push("virtual_node".into());
            }
            if sgc.enable_db_system_label {
                label_names.push("db_system".into());
            }
            let reserved = label_names.clone();
            let fix = |n: String| {
                if reserved.contains(&n) {
                    format!("__{n}")
                } else {
                    n
                }
            };
            for d in &sgc.dimensions {
                if sgc.enable_client_server_prefix {
                    label_names.push(fix(sanitize_label_name(&format!("client_{d}"))));
                    label_names.push(fix(sanitize_label_name(&format!("server_{d}"))));
                } else {
                    label_names.push(fix(sanitize_label_name(d)));
                }
            }
            check_unique(&label_names)?;
            let b = &sgc.histogram_buckets;
            let families = vec![
                Family::counter(REQUEST_TOTAL, "Total count of requests between two nodes"),
                Family::counter(
                    REQUEST_FAILED_TOTAL,
                    "Total count of failed requests between two nodes",
                ),
                Family::histogram(
                    REQUEST_SERVER_SECONDS,
                    "Time for a request between two nodes as seen from the server",
                    b,
                ),
                Family::histogram(
                    REQUEST_CLIENT_SECONDS,
                    "Time for a request between two nodes as seen from the client",
                    b,
                ),
                Family::histogram(
                    REQUEST_MESSAGING_SYSTEM_SECONDS,
                    "Time between publisher and consumer for services communicating through a messaging system",
                    b,
                ),
            ];
            let dims = label_names.len() - reserved.len();
            let rules = sgc
                .inferred_client_spans
                .iter()
                .map(|r| {
                    Ok(Rule {
                        service: whole(&r.service)?,
                        span_name: whole(&r.span_name)?,
                        peer: Arc::from(r.peer.as_str()),
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            Some(Sg {
                store: EdgeStore::new(sgc.max_items, dims),
                table: SeriesTable::new(families, label_names),
                layout: SgLayout {
                    virtual_label: sgc.enable_virtual_node_label,
                    db_label: sgc.enable_db_system_label,
                    msg_hist: sgc.enable_messaging_system_latency_histogram,
                },
                wait_ns: duration_ns(sgc.wait),
                prefix: sgc.enable_client_server_prefix,
                dim_keys: sgc.dimensions.iter().map(|d| keys.intern(d)).collect(),
                peer_keys: sgc.peer_attributes.iter().map(|d| keys.intern(d)).collect(),
                db_keys: sgc
                    .database_name_attributes
                    .iter()
                    .map(|d| keys.intern(d))
                    .collect(),
                db_system_keys: if sgc.enable_db_system_label {
                    sgc.db_system_attributes
                        .iter()
                        .map(|d| keys.intern(d))
                        .collect()
                } else {
                    Vec::new()
                },
                broker_keys: if sgc.messaging_broker_node {
                    sgc.broker_name_attributes
                        .iter()
                        .map(|d| keys.intern(d))
                        .collect()
                } else {
                    Vec::new()
                },
                k_peer_service: keys.intern("peer.service"),
                k_server_address: keys.intern("server.address"),
                k_net_peer_address: keys.intern("network.peer.address"),
                k_net_peer_port: keys.intern("network.peer.port"),
                pair_links: sgc.pair_consumer_links,
                broker: sgc.messaging_broker_node,
                rules,
            })
        } else {
            None
        };
        let smc = &cfg.span_metrics;
        let sm = if smc.enabled {
            check_buckets(&smc.histogram_buckets)?;
            let i = &smc.intrinsic_dimensions;
            let mut label_names: Vec<String> = Vec::new();
            for (on, name) in [
                (i.service, "service"),
                (i.span_name, "span_name"),
                (i.span_kind, "span_kind"),
                (i.status_code, "status_code"),
                (i.status_message, "status_message"),
            ] {
                if on {
                    label_names.push(name.into());
                }
            }
            let intrinsic = [
                "service",
                "span_name",
                "span_kind",
                "status_code",
                "status_message",
            ];
            for d in &smc.dimensions {
                let n = sanitize_label_name(d);
                label_names.push(if intrinsic.contains(&n.as_str()) {
                    format!("__{n}")
                } else {
                    n
                });
            }
            check_unique(&label_names)?;
            let families = vec![
                Family::counter(SPANMETRICS_CALLS_TOTAL, "Total count of the spans"),
                Family::histogram(
                    SPANMETRICS_LATENCY,
                    "Latency of the spans in seconds",
                    &smc.histogram_buckets,
                ),
                Family::counter(SPANMETRICS_SIZE_TOTAL, "Total size of the spans in bytes"),
            ];
            Some(Sm {
                table: SeriesTable::new(families, label_names),
                dim_keys: smc.dimensions.iter().map(|d| keys.intern(d)).collect(),
                service: i.service,
                span_name: i.span_name,
                span_kind: i.span_kind,
                status_code: i.status_code,
                status_message: i.status_message,
                calls: smc.enable_calls,
                latency: smc.enable_latency,
                size: smc.enable_size,
            })
        } else {
            None
        };
        let nodes = (sgc.enabled && sgc.enable_service_node_series).then(|| {
            SeriesTable::new(
                vec![Family::counter(
                    SERVICE_SPAN_TOTAL,
                    "Spans received per service: every service that sent spans is a node, with or without edges",
                )],
                vec!["service".into()],
            )
        });
        Ok(Self {
            enabled: cfg.enabled,
            self_metrics: cfg.self_metrics,
            slack_ns: duration_ns(cfg.ingestion_time_range_slack),
            stale_ns: duration_ns(cfg.stale_after),
            keys,
            k_service,
            sg,
            sm,
            nodes,
            interner: HashMap::new(),
            stats: Stats::default(),
            now_ns: 0,
        })
    }

    /// Counters about the generator itself.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.pending_edges = self.sg.as_ref().map_or(0, |sg| sg.store.len() as u64);
        s
    }

    /// Number of series held (all tables).
    pub fn series_count(&self) -> usize {
        self.sg.as_ref().map_or(0, |s| s.table.len())
            + self.sm.as_ref().map_or(0, |s| s.table.len())
            + self.nodes.as_ref().map_or(0, SeriesTable::len)
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.interner.get(s) {
            return a.clone();
        }
        if self.interner.len() >= 100_000 {
            self.interner.clear();
        }
        let a: Arc<str> = Arc::from(s);
        self.interner.insert(s.into(), a.clone());
        a
    }

    /// Consumes a checked export request received at `now_ns` (Unix nanoseconds): updates
    /// span metrics, pairs edges, and first expires edges whose wait has passed.
    pub fn push(&mut self, batch: &RawBatch<'_>, now_ns: u64) {
        if !self.enabled {
            return;
        }
        self.now_ns = self.now_ns.max(now_ns);
        self.expire(self.now_ns);
        let (lo, hi) = if self.slack_ns > 0 {
            (
                now_ns.saturating_sub(self.slack_ns),
                now_ns.saturating_add(self.slack_ns),
            )
        } else {
            (0, u64::MAX)
        };
        let now = self.now_ns;
        let nkeys = self.keys.len();
        let mut res_found: Vec<Option<&[u8]>> = vec![None; nkeys];
        let mut span_found: Vec<Option<&[u8]>> = vec![None; nkeys];
        let mut links: Vec<(&[u8], &[u8])> = Vec::new();
        let mut values: Vec<Cow<'_, str>> = Vec::new();
        let want_links = self.sg.as_ref().is_some_and(|s| s.pair_links);
        for resource in &batch.resources {
            res_found.fill(None);
            let svc = resource
                .resource
                .and_then(|r| scan_resource(r, &self.keys, &mut res_found, self.k_service));
            let svc_arc = match (svc, self.sg.is_some()) {
                (Some(s), true) => Some(self.intern(s)),
                _ => None,
            };
            let mut accepted = 0u64;
            for scope in &resource.scopes {
                for span in &scope.spans {
                    self.stats.spans_received += 1;
                    if span.end_ns < lo || span.end_ns > hi {
                        self.stats.spans_discarded_slack += 1;
                        continue;
                    }
                    accepted += 1;
                    span_found.fill(None);
                    links.clear();
                    let facts = scan_span(
                        span.bytes,
                        &self.keys,
                        &mut span_found,
                        want_links.then_some(&mut links),
                    );
                    if self.sm.is_some() {
                        self.span_metrics(
                            svc,
                            span,
                            &facts,
                            &res_found,
                            &span_found,
                            &mut values,
                            now,
                        );
                    }
                    if let Some(svc) = &svc_arc {
                        self.service_graph(svc, span, &facts, &res_found, &span_found, &links, now);
                    }
                }
            }
            if let (Some(nodes), Some(s), true) = (self.nodes.as_mut(), svc, accepted > 0) {
                let id = nodes.get(&[s]);
                nodes.inc(id, 0, accepted as f64, now);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn span_metrics<'a>(
        &mut self,
        svc: Option<&'a str>,
        span: &RawSpan<'a>,
        facts: &SpanFacts<'a>,
        res: &Found<'a>,
        sf: &Found<'a>,
        values: &mut Vec<Cow<'a, str>>,
        now: u64,
    ) {
        let Some(sm) = self.sm.as_mut() else { return };
        values.clear();
        if sm.service {
            values.push(Cow::Borrowed(svc.unwrap_or("")));
        }
        if sm.span_name {
            values.push(Cow::Borrowed(span.name));
        }
        if sm.span_kind {
            values.push(Cow::Borrowed(kind_name(facts.kind)));
        }
        if sm.status_code {
            values.push(Cow::Borrowed(status_name(facts.status_code)));
        }
        if sm.status_message {
            values.push(Cow::Borrowed(facts.status_message));
        }
        for &k in &sm.dim_keys {
            values.push(lookup(res, sf, k).unwrap_or(Cow::Borrowed("")));
        }
        let id = sm.table.get(values);
        if sm.calls {
            sm.table.inc(id, F_CALLS, 1.0, now);
        }
        if sm.latency {
            let d = diff_sec(span.start_ns, span.end_ns);
            sm.table.observe(id, F_LATENCY, d, span.trace_id, now);
        }
        if sm.size {
            sm.table.inc(id, F_SIZE, span.bytes.len() as f64, now);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn service_graph<'a>(
        &mut self,
        svc: &Arc<str>,
        span: &RawSpan<'a>,
        facts: &SpanFacts<'a>,
        res: &Found<'a>,
        sf: &Found<'a>,
        links: &[(&'a [u8], &'a [u8])],
        now: u64,
    ) {
        let mut kind = facts.kind;
        let mut inferred_peer: Option<Arc<str>> = None;
        let Some(sg) = self.sg.as_mut() else { return };
        if kind == KIND_INTERNAL || kind == KIND_UNSPECIFIED {
            match sg
                .rules
                .iter()
                .find(|r| r.service.is_match(svc) && r.span_name.is_match(span.name))
            {
                Some(r) => {
                    kind = KIND_CLIENT;
                    inferred_peer = Some(r.peer.clone());
                }
                None => return,
            }
        }
        let failed = facts.status_code == STATUS_ERROR;
        let dur = diff_sec(span.start_ns, span.end_ns);

        if sg.broker && (kind == KIND_PRODUCER || kind == KIND_CONSUMER) {
            if let Some(broker) = sg.broker_keys.iter().find_map(|&k| lookup_one(sf, k)) {
                let broker: Arc<str> = Arc::from(broker.as_ref());
                let mut e = Edge {
                    conn: ConnType::Messaging,
                    failed,
                    client_latency: dur,
                    server_latency: dur,
                    dims: vec![None; sg.table.label_names.len() - sg.fixed_labels()],
                    ..Edge::default()
                };
                e.set_trace(span.trace_id);
                let side = if kind == KIND_PRODUCER {
                    e.client = Some(svc.clone());
                    e.server = Some(broker);
                    0
                } else {
                    e.client = Some(broker);
                    e.server = Some(svc.clone());
                    1
                };
                sg.fill_dims(&mut e, res, sf, side);
                emit(&mut sg.table, &sg.layout, &e, "", now);
                self.stats.edges_paired += 1;
                return;
            }
        }

        match kind {
            KIND_CLIENT | KIND_PRODUCER => {
                let key = EdgeKey::new(span.trace_id, span.span_id);
                let Some(i) = open(sg, &mut self.stats, key, now) else {
                    return;
                };
                // Database detection (Tempo's upsertDatabaseRequest), computed before borrowing
                // the edge.
                let db = sg.db_keys.iter().find_map(|&k| lookup(res, sf, k));
                let db_server: Option<Arc<str>> = db.map(|db_name| {
                    let name = lookup(res, sf, sg.k_peer_service)
                        .or_else(|| lookup(res, sf, sg.k_server_address))
                        .or_else(|| {
                            lookup(res, sf, sg.k_net_peer_address).map(|host| {
                                match lookup(res, sf, sg.k_net_peer_port) {
                                    Some(port) => Cow::Owned(format!("{host}:{port}")),
                                    None => host,
                                }
                            })
                        })
                        .unwrap_or(db_name);
                    Arc::from(name.as_ref())
                });
                let db_system = if db_server.is_some() {
                    sg.db_system_keys
                        .iter()
                        .find_map(|&k| lookup_one(sf, k).or_else(|| lookup_one(res, k)))
                } else {
                    None
                };
                let peer = match inferred_peer {
                    Some(p) => Some(Box::<str>::from(p.as_ref())),
                    None => sg
                        .peer_keys
                        .iter()
                        .find_map(|&k| lookup_one(sf, k))
                        .map(|v| Box::<str>::from(v.as_ref())),
                };
                let mut dims = std::mem::take(&mut sg.store.edge_mut(i).dims);
                sg.fill_dims_into(&mut dims, res, sf, 0);
                let e = sg.store.edge_mut(i);
                e.dims = dims;
                e.set_trace(span.trace_id);
                e.conn = if kind == KIND_PRODUCER {
                    ConnType::Messaging
                } else {
                    ConnType::Direct
                };
                e.client = Some(svc.clone());
                e.client_kind = kind;
                e.client_latency = dur;
                e.client_end_ns = span.end_ns;
                e.failed |= failed;
                if peer.is_some() {
                    e.peer = peer;
                }
                if let Some(server) = db_server {
                    e.conn = ConnType::Database;
                    e.server_latency = dur;
                    e.server = Some(server);
                    e.db_system = db_system.map(|s| Box::from(s.as_ref()));
                }
                if e.complete() {
                    complete(sg, &mut self.stats, i, now);
                }
            }
            KIND_SERVER | KIND_CONSUMER => {
                let use_links = kind == KIND_CONSUMER && sg.pair_links && !links.is_empty();
                let root = !use_links && span.parent_span_id.iter().all(|b| *b == 0);
                let peer = if root {
                    sg.peer_keys
                        .iter()
                        .find_map(|&k| lookup_one(sf, k))
                        .map(|v| Box::<str>::from(v.as_ref()))
                } else {
                    None
                };
                let one = [(span.trace_id, span.parent_span_id)];
                let targets: &[(&[u8], &[u8])] = if use_links { links } else { &one };
                for (n, &(trace, parent)) in targets.iter().enumerate() {
                    let key = EdgeKey::new(trace, parent);
                    if use_links && targets[..n].iter().any(|&(t, p)| EdgeKey::new(t, p) == key) {
                        continue;
                    }
                    let Some(i) = open(sg, &mut self.stats, key, now) else {
                        continue;
                    };
                    let mut dims = std::mem::take(&mut sg.store.edge_mut(i).dims);
                    sg.fill_dims_into(&mut dims, res, sf, 1);
                    let e = sg.store.edge_mut(i);
                    e.dims = dims;
                    if e.trace_len == 0 {
                        e.set_trace(trace);
                    }
                    e.conn = if kind == KIND_CONSUMER {
                        ConnType::Messaging
                    } else {
                        ConnType::Direct
                    };
                    e.server = Some(svc.clone());
                    e.server_kind = kind;
                    e.server_latency = dur;
                    e.server_start_ns = span.start_ns;
                    e.failed |= failed;
                    e.root = root;
                    if peer.is_some() {
                        e.peer = peer.clone();
                    }
                    if e.complete() {
                        complete(sg, &mut self.stats, i, now);
                    }
                }
            }
            _ => {}
        }
    }

    /// Expires edges whose wait ended by `now_ns` (Tempo's `onExpire`): a lone root server
    /// span gets a virtual client (its peer attribute or `user`), a lone client span with a
    /// peer attribute gets a virtual server; anything else counts as expired.
    pub fn expire(&mut self, now_ns: u64) {
        let Some(sg) = self.sg.as_mut() else { return };
        let stats = &mut self.stats;
        while let Some(i) = sg.store.expired_head(now_ns) {
            let Sg {
                store,
                table,
                layout,
                ..
            } = sg;
            store.remove(i, |e| {
                e.conn = ConnType::Virtual;
                if e.client.is_none() {
                    if e.root {
                        e.client = Some(Arc::from(e.peer.as_deref().unwrap_or("user")));
                        emit(table, layout, e, "client", now_ns);
                        stats.edges_virtual += 1;
                    } else {
                        stats.expired_edges[usize::from(e.server_kind.min(5))] += 1;
                    }
                } else if e.server.is_none() && e.peer.is_some() {
                    e.server = e.peer.as_deref().map(Arc::from);
                    emit(table, layout, e, "server", now_ns);
                    stats.edges_virtual += 1;
                } else {
                    stats.expired_edges[usize::from(e.client_kind.min(5))] += 1;
                }
            });
        }
    }

    /// Current cumulative values of every series as samples at `now_ms`, with exemplars
    /// (each written once) and stale markers for series idle past `stale_after` (which are
    /// then forgotten). Also expires edges due by then.
    pub fn collect(&mut self, now_ms: i64) -> MetricWrite {
        let mut out = MetricWrite::default();
        if !self.enabled {
            return out;
        }
        let now_ns = (now_ms.max(0) as u64).saturating_mul(1_000_000);
        self.now_ns = self.now_ns.max(now_ns);
        self.expire(self.now_ns);
        let stale = self.stale_ns;
        if let Some(sg) = self.sg.as_mut() {
            sg.table.collect(now_ms, stale, &mut out.series);
            let n = if sg.layout.msg_hist { 5 } else { 4 };
            out.metadata
                .extend(sg.table.families[..n].iter().map(Family::metadata));
        }
        if let Some(nodes) = self.nodes.as_mut() {
            nodes.collect(now_ms, stale, &mut out.series);
            out.metadata
                .extend(nodes.families.iter().map(Family::metadata));
        }
        if let Some(sm) = self.sm.as_mut() {
            sm.table.collect(now_ms, stale, &mut out.series);
            for (on, f) in [
                (sm.calls, F_CALLS),
                (sm.latency, F_LATENCY),
                (sm.size, F_SIZE),
            ] {
                if on {
                    out.metadata.push(sm.table.families[f].metadata());
                }
            }
        }
        if self.self_metrics {
            self.self_series(now_ms, &mut out);
        }
        out
    }

    fn self_series(&self, now_ms: i64, out: &mut MetricWrite) {
        let mut put = |name: &str, extra: Option<(&str, &str)>, v: u64| {
            let pairs = [(weft_core::labels::METRIC_NAME, name)]
                .into_iter()
                .chain(extra);
            if let Ok(labels) = weft_core::labels::Labels::from_pairs(pairs) {
                out.series.push(SeriesWrite {
                    labels,
                    samples: vec![(now_ms, v as f64)],
                    histograms: Vec::new(),
                    exemplars: Vec::new(),
                });
            }
        };
        if self.sg.is_some() {
            put(SELF_EDGES, None, self.stats.edges_total);
            put(SELF_DROPPED_SPANS, None, self.stats.dropped_spans);
            for (k, &n) in self.stats.expired_edges.iter().enumerate() {
                if n > 0 {
                    put(
                        SELF_EXPIRED_EDGES,
                        Some(("unmatched_span_kind", kind_name(k as u8))),
                        n,
                    );
                }
            }
        }
        put(
            SELF_SPANS_DISCARDED,
            Some(("reason", "outside_metrics_ingestion_slack")),
            self.stats.spans_discarded_slack,
        );
        for (name, help) in [
            (SELF_EDGES, "Total number of unique edges"),
            (
                SELF_EXPIRED_EDGES,
                "Number of edges that expired before finding their matching span",
            ),
            (
                SELF_DROPPED_SPANS,
                "Number of spans dropped when trying to add edges",
            ),
            (
                SELF_SPANS_DISCARDED,
                "The total number of discarded spans received per tenant",
            ),
        ] {
            out.metadata.push(Metadata {
                metric: name.into(),
                kind: MetricType::Counter,
                help: help.into(),
                unit: String::new(),
            });
        }
    }
}

impl Sg {
    fn fixed_labels(&self) -> usize {
        3 + usize::from(self.layout.virtual_label) + usize::from(self.layout.db_label)
    }

    /// Writes side `side` (0 client, 1 server) dimension values.
    fn fill_dims_into(
        &self,
        dims: &mut [Option<Box<str>>],
        res: &Found<'_>,
        sf: &Found<'_>,
        side: usize,
    ) {
        for (j, &k) in self.dim_keys.iter().enumerate() {
            if let Some(v) = lookup(res, sf, k) {
                let pos = if self.prefix { 2 * j + side } else { j };
                if let Some(slot) = dims.get_mut(pos) {
                    *slot = Some(Box::from(v.as_ref()));
                }
            }
        }
    }

    fn fill_dims(&self, e: &mut Edge, res: &Found<'_>, sf: &Found<'_>, side: usize) {
        let mut dims = std::mem::take(&mut e.dims);
        self.fill_dims_into(&mut dims, res, sf, side);
        e.dims = dims;
    }
}

/// The edge under `key`, opened if new; `None` (span dropped) when the store is full.
fn open(sg: &mut Sg, stats: &mut Stats, key: EdgeKey, now: u64) -> Option<u32> {
    match sg.store.upsert(key, now.saturating_add(sg.wait_ns)) {
        Ok((i, new)) => {
            if new {
                stats.edges_total += 1;
            }
            Some(i)
        }
        Err(_) => {
            stats.dropped_spans += 1;
            None
        }
    }
}

fn complete(sg: &mut Sg, stats: &mut Stats, i: u32, now: u64) {
    let Sg {
        store,
        table,
        layout,
        ..
    } = sg;
    store.remove(i, |e| emit(table, layout, e, "", now));
    stats.edges_paired += 1;
}

/// Tempo's `onComplete`: one request, failed if either side failed, both latencies (and the
/// messaging-system latency when enabled).
fn emit(table: &mut SeriesTable, layout: &SgLayout, e: &Edge, virtual_node: &str, now: u64) {
    let mut v: Vec<&str> = Vec::with_capacity(table.label_names.len());
    v.push(e.client.as_deref().unwrap_or(""));
    v.push(e.server.as_deref().unwrap_or(""));
    v.push(e.conn.label());
    if layout.virtual_label {
        v.push(virtual_node);
    }
    if layout.db_label {
        v.push(if e.conn == ConnType::Database {
            e.db_system.as_deref().unwrap_or("")
        } else {
            ""
        });
    }
    for d in &e.dims {
        v.push(d.as_deref().unwrap_or(""));
    }
    let id = table.get(&v);
    table.inc(id, F_TOTAL, 1.0, now);
    if e.failed {
        table.inc(id, F_FAILED, 1.0, now);
    }
    table.observe(id, F_SERVER, e.server_latency, e.trace(), now);
    table.observe(id, F_CLIENT, e.client_latency, e.trace(), now);
    if layout.msg_hist && e.conn == ConnType::Messaging {
        let l = diff_sec(e.client_end_ns, e.server_start_ns);
        if l > 0.0 {
            table.observe(id, F_MESSAGING, l, e.trace(), now);
        }
    }
}

/// One generator per tenant, created on first use.
pub struct Generators {
    cfg: GeneratorConfig,
    tenants: HashMap<TenantId, Generator>,
}

impl Generators {
    /// Checks `cfg` once (so later tenants cannot fail).
    pub fn new(cfg: GeneratorConfig) -> Result<Self, Error> {
        Generator::new(&cfg)?;
        Ok(Self {
            cfg,
            tenants: HashMap::new(),
        })
    }

    /// [`Generator::push`] for `tenant`.
    pub fn push(&mut self, tenant: &TenantId, batch: &RawBatch<'_>, now_ns: u64) {
        if !self.cfg.enabled {
            return;
        }
        if !self.tenants.contains_key(tenant) {
            match Generator::new(&self.cfg) {
                Ok(g) => {
                    self.tenants.insert(tenant.clone(), g);
                }
                Err(_) => return,
            }
        }
        if let Some(g) = self.tenants.get_mut(tenant) {
            g.push(batch, now_ns);
        }
    }

    /// [`Generator::collect`] for every tenant with something to write.
    pub fn collect(&mut self, now_ms: i64) -> Vec<(TenantId, MetricWrite)> {
        let mut out: Vec<(TenantId, MetricWrite)> = self
            .tenants
            .iter_mut()
            .map(|(t, g)| (t.clone(), g.collect(now_ms)))
            .filter(|(_, w)| !w.series.is_empty())
            .collect();
        out.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        out
    }

    pub fn get(&self, tenant: &TenantId) -> Option<&Generator> {
        self.tenants.get(tenant)
    }
}
