"""Service graph and span metrics derived from traces sent through the real OpenTelemetry SDK
(the seeds' topologies), read back through the Prometheus API with Tempo's metric names."""

from __future__ import annotations

import time

from sdk_world import MS, Service, api_request, hello_iteration

CONFIG = """
service_graph:
  collection_interval: 1s
  service_graphs:
    wait: 1s
"""


def query(server, q: str) -> dict[tuple, float]:
    r = server.session.get(server.url + "/api/v1/query", params={"query": q}, timeout=10)
    body = r.json()
    assert body["status"] == "success", body
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in body["data"]["result"]}


def wait_for(server, q: str, expected: dict[tuple, float], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    got: dict = {}
    while time.monotonic() < deadline:
        got = query(server, q)
        if got == expected:
            return
        time.sleep(0.3)
    raise AssertionError(f"{q}\n  want {expected}\n  got  {got}")


def test_seed_topologies_give_tempo_service_graph_series(weft_factory):
    server = weft_factory(CONFIG)
    client, hello = Service("client-service", server, "grpc"), Service("hello-service", server, "http")
    api, app = Service("test-api-service", server, "grpc"), Service("test-app", server, "http")
    t0 = time.time_ns()
    for i in range(3):
        hello_iteration(client, hello, t0 + i * 10 * MS)
    api_request(api, app, "/fast", t0, total_ns=15 * MS, upstream_ns=5 * MS)
    api_request(api, app, "/fast", t0 + 20 * MS, total_ns=22 * MS, upstream_ns=8 * MS)
    api_request(api, app, "/slow", t0 + 50 * MS, total_ns=240 * MS, upstream_ns=70 * MS, error=True)
    for s in (client, hello, api, app):
        s.flush()

    edge = lambda c, s: (("client", c), ("server", s))  # noqa: E731
    # The two instrumented edges, plus the uninstrumented caller of test-api-service's root
    # spans ("user", after the 1 s wait).
    wait_for(server, "sum by (client, server) (traces_service_graph_request_total)", {
        edge("client-service", "hello-service"): 3.0,
        edge("test-api-service", "test-app"): 3.0,
        edge("user", "test-api-service"): 3.0,
    })
    wait_for(server, "sum by (client, server) (traces_service_graph_request_failed_total)", {
        edge("test-api-service", "test-app"): 1.0,
        edge("user", "test-api-service"): 1.0,
    })
    counts = query(server, 'sum by (client, server) (traces_service_graph_request_server_seconds_count)')
    assert counts[edge("client-service", "hello-service")] == 3.0
    assert counts[edge("test-api-service", "test-app")] == 3.0
    # Latency buckets: the three hello calls took 1 ms on the server side.
    le = query(server, 'sum by (le) (traces_service_graph_request_server_seconds_bucket{server="hello-service"})')
    assert le[(("le", "0.1"),)] == 3.0
    # Span metrics: every span of test-app is a SERVER span.
    calls = query(server, 'sum by (service, span_kind, status_code) (traces_spanmetrics_calls_total{service="test-app"})')
    assert calls == {
        (("service", "test-app"), ("span_kind", "SPAN_KIND_SERVER"), ("status_code", "STATUS_CODE_ERROR")): 1.0,
        (("service", "test-app"), ("span_kind", "SPAN_KIND_SERVER"), ("status_code", "STATUS_CODE_UNSET")): 2.0,
    }
    # Grafana's RED table rate query runs (values depend on timing; it must answer).
    assert query(server, 'sum by (client, server) (rate(traces_service_graph_request_total[1m]))')
    for s in (client, hello, api, app):
        s.shutdown()
