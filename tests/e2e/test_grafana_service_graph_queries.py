"""Grafana's own service-graph and RED-table queries, exactly as its Tempo data source builds
them (../shared/specs/service-graph.md §3.2 and §3.3), run against weft's Prometheus API after
the seeds' topologies were sent through the real OpenTelemetry SDK; the numbers are checked
against what was sent.

Rates are exact here, not approximate: every query is evaluated at the time of the newest
collection (all derived series are sampled together), and every counter starts with a zero
sample (as Tempo writes it), so `rate(m[300s])` at that time is exactly `count / 300` — no
extrapolation on either side of the window.
"""

from __future__ import annotations

import math
import time

from sdk_world import MS, Service, api_request, hello_iteration
from test_service_graph import CONFIG, wait_for

RANGE = "300s"  # Grafana's $__range (and $__rate_interval in the context-menu links)
SECONDS = 300.0

# Grafana's graphTransform.ts constants.
SECONDS_METRIC = "traces_service_graph_request_server_seconds_sum"
TOTALS_METRIC = "traces_service_graph_request_total"
FAILED_METRIC = "traces_service_graph_request_failed_total"
HISTOGRAM_METRIC = "traces_service_graph_request_server_seconds_bucket"
SERVICE_MAP_METRICS = [SECONDS_METRIC, TOTALS_METRIC, FAILED_METRIC, HISTOGRAM_METRIC]
DEFAULT_TABLE_FILTER = 'span_kind="SPAN_KIND_SERVER"'

HELLO = ("client-service", "hello-service")
API = ("test-api-service", "test-app")
USER = ("user", "test-api-service")


def at(server, q: str, t: float) -> dict[tuple, float]:
    """An instant query at `t`, as Grafana sends it (table format reads labels and value)."""
    r = server.session.get(server.url + "/api/v1/query", params={"query": q, "time": f"{t:.3f}"}, timeout=10)
    body = r.json()
    assert body["status"] == "success", (q, body)
    assert body["data"]["resultType"] == "vector", (q, body)
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in body["data"]["result"]}


def by_edge(result: dict[tuple, float]) -> dict[tuple[str, str], float]:
    out = {}
    for labels, v in result.items():
        d = dict(labels)
        out[(d["client"], d["server"])] = v
    return out


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def assert_rates(got: dict, want: dict, what: str) -> None:
    assert set(got) == set(want), f"{what}: got {got}, want {want}"
    for k, v in want.items():
        assert close(got[k], v), f"{what} {k}: got {got[k]!r}, want {v!r}"


def send_seed_topologies(server) -> list[Service]:
    client, hello = Service("client-service", server, "grpc"), Service("hello-service", server, "http")
    api, app = Service("test-api-service", server, "grpc"), Service("test-app", server, "http")
    t0 = time.time_ns()
    for i in range(3):
        hello_iteration(client, hello, t0 + i * 10 * MS)  # server span 1 ms each
    api_request(api, app, "/fast", t0, total_ns=15 * MS, upstream_ns=5 * MS)
    api_request(api, app, "/fast", t0 + 20 * MS, total_ns=22 * MS, upstream_ns=8 * MS)
    api_request(api, app, "/slow", t0 + 50 * MS, total_ns=240 * MS, upstream_ns=70 * MS, error=True)
    services = [client, hello, api, app]
    for s in services:
        s.flush()
    return services


def settled_time(server, extra_edges: dict | None = None) -> float:
    """Waits until every span is counted, then returns the newest collection's timestamp."""
    edges = {(("client", c), ("server", s)): 3.0 for c, s in (HELLO, API, USER)}
    for (c, s), n in (extra_edges or {}).items():
        edges[(("client", c), ("server", s))] = n
    wait_for(server, f"sum by (client, server) ({TOTALS_METRIC})", edges)
    wait_for(server, 'sum(traces_spanmetrics_calls_total{span_kind="SPAN_KIND_SERVER"})', {(): 9.0})
    r = server.session.get(server.url + "/api/v1/query",
                           params={"query": f"max(timestamp({TOTALS_METRIC}))"}, timeout=10).json()
    return float(r["data"]["result"][0]["value"][1])


def test_node_graph_queries(weft_factory):
    server = weft_factory(CONFIG)
    services = send_seed_topologies(server)
    t = settled_time(server)

    # §3.2: for each serviceMapMetric, `sum by (client, server) (rate(m[$__range]))` ...
    rates = {m: by_edge(at(server, f"sum by (client, server) (rate({m}[{RANGE}]))", t))
             for m in SERVICE_MAP_METRICS}
    assert_rates(rates[TOTALS_METRIC], {e: 3 / SECONDS for e in (HELLO, API, USER)}, "request rate")
    assert_rates(rates[FAILED_METRIC], {API: 1 / SECONDS, USER: 1 / SECONDS}, "failed rate")
    # Server-side durations: hello-service 1 ms ×3; test-app 5, 8, 70 ms; test-api-service 15, 22, 240 ms.
    assert_rates(rates[SECONDS_METRIC], {HELLO: 0.003 / SECONDS, API: 0.083 / SECONDS, USER: 0.277 / SECONDS},
                 "seconds rate")
    # The bucket series summed over `le` (9 bounds incl. +Inf, Tempo's 0.1 s … 12.8 s): a call
    # below 0.1 s is in all 9 cumulative buckets; test-api-service's 240 ms call is in 7 (not in
    # le="0.1" and le="0.2").
    assert_rates(rates[HISTOGRAM_METRIC], {HELLO: 27 / SECONDS, API: 27 / SECONDS, USER: 25 / SECONDS},
                 "bucket rate")
    # ... what Grafana derives for the node graph: mean server time (ms) and the failure arc.
    mean_ms = {e: rates[SECONDS_METRIC][e] / rates[TOTALS_METRIC][e] * 1000 for e in (HELLO, API, USER)}
    assert_rates(mean_ms, {HELLO: 1.0, API: 83 / 3, USER: 277 / 3}, "mean response time (ms)")
    failed_share = {e: min(rates[FAILED_METRIC].get(e, 0.0), rates[TOTALS_METRIC][e]) / rates[TOTALS_METRIC][e]
                    for e in (HELLO, API, USER)}
    assert_rates(failed_share, {HELLO: 0.0, API: 1 / 3, USER: 1 / 3}, "failed arc")

    # ... and `group by (client, connection_type, server) (m)`: which edges exist, and their type.
    for m in SERVICE_MAP_METRICS:
        groups = at(server, f"group by (client, connection_type, server) ({m})", t)
        want_edges = [HELLO, API, USER] if m != FAILED_METRIC else [API, USER]
        want = {}
        for c, s in want_edges:
            labels = [("client", c), ("server", s)]
            if (c, s) == USER:  # an uninstrumented caller: Tempo's virtual node
                labels.append(("connection_type", "virtual_node"))
            want[tuple(sorted(labels))] = 1.0
        assert groups == want, (m, groups)

    # The UI's filter ({server="test-app"}) applied to the same queries.
    filtered = by_edge(at(server, f'sum by (client, server) (rate({TOTALS_METRIC}{{server="test-app"}}[{RANGE}]))', t))
    assert_rates(filtered, {API: 3 / SECONDS}, "filtered request rate")

    # Context-menu links of an edge.
    sel = 'client="test-api-service",server="test-app"'
    link_rate = by_edge(at(server, f"sum by (client, server)(rate({TOTALS_METRIC}{{{sel}}}[{RANGE}]))", t))
    assert_rates(link_rate, {API: 3 / SECONDS}, "link: request rate")
    link_failed = by_edge(at(server, f"sum by (client, server)(rate({FAILED_METRIC}{{{sel}}}[{RANGE}]))", t))
    assert_rates(link_failed, {API: 1 / SECONDS}, "link: failed rate")
    p90 = by_edge(at(server, f"histogram_quantile(0.9, sum(rate({HISTOGRAM_METRIC}{{{sel}}}[{RANGE}])) by (le, client, server))", t))
    # 5, 8, 70 ms: all three in the first bucket (0, 0.1]; rank 2.7 of 3 → 0.1 × 2.7 / 3.
    assert_rates(p90, {API: 0.09}, "link: p90 latency")
    for s in services:
        s.shutdown()


def test_red_table_queries(weft_factory):
    server = weft_factory(CONFIG)
    services = send_seed_topologies(server)
    t = settled_time(server)

    # §3.3 query 1: top span names by rate among SERVER spans.
    rate_q = f"topk(5, sum(rate(traces_spanmetrics_calls_total{{{DEFAULT_TABLE_FILTER}}}[{RANGE}])) by (span_name))"
    rates = {dict(k)["span_name"]: v for k, v in at(server, rate_q, t).items()}
    assert_rates(rates, {"GET /": 3 / SECONDS, "GET /fast": 4 / SECONDS, "GET /slow": 2 / SECONDS}, "RED rate")

    # Query 2: error rate of those names.
    names = "|".join(sorted(rates))
    err_q = (f'topk(5, sum(rate(traces_spanmetrics_calls_total{{status_code="STATUS_CODE_ERROR",'
             f'{DEFAULT_TABLE_FILTER},span_name=~"{names}"}}[{RANGE}])) by (span_name))')
    errors = {dict(k)["span_name"]: v for k, v in at(server, err_q, t).items()}
    assert_rates(errors, {"GET /slow": 2 / SECONDS}, "RED error rate")

    # Query 3: p90 duration per name, from Tempo's span-metrics buckets (2 ms … 16.384 s).
    def p90(name: str) -> float:
        q = (f'histogram_quantile(.9, sum(rate(traces_spanmetrics_latency_bucket{{{DEFAULT_TABLE_FILTER},'
             f'span_name=~"{name}"}}[{RANGE}])) by (le))')
        (v,) = at(server, q, t).values()
        return v

    # GET /slow: 70 ms and 240 ms; rank 1.8 falls in (0.128, 0.256] between counts 1 and 2.
    assert close(p90("GET /slow"), 0.128 + 0.128 * 0.8), p90("GET /slow")
    # GET /: three 1 ms calls, all in (0, 0.002]; rank 2.7 of 3.
    assert close(p90("GET /"), 0.002 * 2.7 / 3), p90("GET /")
    for s in services:
        s.shutdown()


def test_service_graph_api(weft_factory):
    """`GET /api/v1/service-graph`: the same numbers as Grafana's queries, plus node kinds; a SQL
    client span (the seeds' FastAPI service querying PostgreSQL) gives a database node at once."""
    from opentelemetry.trace import SpanKind

    server = weft_factory(CONFIG)
    services = send_seed_topologies(server)
    api = services[2]
    t0 = time.time_ns()
    for i in range(2):
        q = api.tracer.start_span(
            "SELECT shop.orders", kind=SpanKind.CLIENT, start_time=t0 + i * 10 * MS,
            attributes={"db.system": "postgresql", "db.name": "shop", "db.statement": "SELECT * FROM orders",
                        "server.address": "orders-db.shop.svc"},
        )
        q.end(end_time=t0 + i * 10 * MS + 4 * MS)
    api.flush()
    wait_for(server, 'sum by (client, server, connection_type) (traces_service_graph_request_total{connection_type="database"})', {
        (("client", "test-api-service"), ("connection_type", "database"), ("server", "orders-db.shop.svc")): 2.0,
    })
    t = settled_time(server, {("test-api-service", "orders-db.shop.svc"): 2.0})
    r = server.session.get(server.url + "/api/v1/service-graph",
                           params={"start": f"{t - SECONDS:.3f}", "end": f"{t:.3f}"}, timeout=10)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", body
    graph = body["data"]
    edges = {(e["source"], e["target"]): e for e in graph["edges"]}
    assert set(edges) == {HELLO, API, USER, ("test-api-service", "orders-db.shop.svc")}, edges
    for e in (HELLO, API, USER):
        assert close(edges[e]["requestRate"], 3 / SECONDS), edges[e]
    assert close(edges[API]["errorRate"], 1 / SECONDS) and edges[HELLO]["errorRate"] == 0.0
    assert edges[USER]["connectionType"] == "virtual_node"
    assert edges[("test-api-service", "orders-db.shop.svc")]["connectionType"] == "database"
    # test-app served 5, 8 and 70 ms, all in Tempo's first bucket (0, 0.1 s].
    assert close(edges[API]["p50"], 0.1 * 1.5 / 3) and close(edges[API]["p99"], 0.1 * 2.97 / 3), edges[API]
    nodes = {n["id"]: n for n in graph["nodes"]}
    kinds = {n: v["kind"] for n, v in nodes.items()}
    assert kinds == {
        "client-service": "service", "hello-service": "service", "test-api-service": "service",
        "test-app": "service", "user": "user", "orders-db.shop.svc": "database",
    }, kinds
    # A node's stats are its incoming edges'.
    assert close(nodes["test-api-service"]["requestRate"], 3 / SECONDS)
    assert close(nodes["orders-db.shop.svc"]["requestRate"], 2 / SECONDS)
    assert nodes["client-service"]["requestRate"] == 0.0 and nodes["client-service"]["p50"] is None
    # Bad windows are refused as the Prometheus API refuses them.
    bad = server.session.get(server.url + "/api/v1/service-graph", params={"start": "20", "end": "10"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["errorType"] == "bad_data", bad.text
    for s in services:
        s.shutdown()
