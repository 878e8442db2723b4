"""Metrics end to end: remote write in, the Prometheus API out, against the real binary.

Covers the status codes of /api/v1/write (204, 400 with the reason, 415, 413), limits with
their counters, durability across kill -9, blocks after /flush and restart, the Grafana
health check, the metadata endpoints, OTLP metrics from the OpenTelemetry Python SDK, and
Prometheus 2.42 itself as a remote-write sender.
"""

from __future__ import annotations

import math
import time

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from promql_diff.harness import PrometheusProcess
from promql_diff.remote_write import HEADERS, encode_write_request, snappy_block

STALE_NAN = 0x7FF0000000000002


def now_ms() -> int:
    return int(time.time() * 1000)


def rw_body(series: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> bytes:
    return snappy_block(encode_write_request((sorted(l.items()), s) for l, s in series))


def remote_write(server, series, path="/api/v1/write", headers=None, tenant=None, base=None) -> requests.Response:
    h = dict(HEADERS)
    h.update(headers or {})
    if tenant:
        h["X-Scope-OrgID"] = tenant
    return server.session.post((base or server.url) + path, data=rw_body(series), headers=h, timeout=30)


def query(server, q: str, t: float | None = None, tenant: str | None = None, **params) -> dict:
    params = {"query": q, **params}
    if t is not None:
        params["time"] = str(t)
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    r = server.session.get(server.url + "/api/v1/query", params=params, headers=headers, timeout=30)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", (r.status_code, body)
    return body["data"]


def vector_values(data: dict) -> dict[tuple, str]:
    assert data["resultType"] == "vector", data
    return {tuple(sorted(s["metric"].items())): s["value"][1] for s in data["result"]}


# ---------------------------------------------------------------------------------------------
# Grafana's view
# ---------------------------------------------------------------------------------------------

def test_grafana_health_check_and_buildinfo(weft):
    r = weft.session.post(weft.url + "/api/v1/query", data={"query": "1+1", "time": "4"}, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"status": "success", "data": {"resultType": "scalar", "result": [4, "2"]}}
    info = weft.session.get(weft.url + "/api/v1/status/buildinfo", timeout=10).json()
    assert info["status"] == "success" and "version" in info["data"]
    assert "features" not in info["data"], "a features key makes Grafana treat us as Mimir"
    rules = weft.session.get(weft.url + "/api/v1/rules", timeout=10).json()
    assert rules == {"status": "success", "data": {"groups": []}}
    # Exemplar probe: Grafana sends millisecond times and needs `success`.
    t = now_ms()
    r = weft.session.get(weft.url + "/api/v1/query_exemplars",
                         params={"query": "test", "start": str(t - 3_600_000), "end": str(t)}, timeout=10)
    assert r.json() == {"status": "success", "data": []}, r.text


def test_query_errors_have_prometheus_types(weft):
    r = weft.session.get(weft.url + "/api/v1/query", params={"query": "sum(", "time": "4"}, timeout=10)
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert body["error"].startswith('invalid parameter "query"'), body
    r = weft.session.get(weft.url + "/api/v1/query_range",
                         params={"query": "1", "start": "10", "end": "0", "step": "1"}, timeout=10)
    assert r.status_code == 400 and "end timestamp must not be before start time" in r.json()["error"]
    r = weft.session.get(weft.url + "/api/v1/series", timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "no match[] parameter provided"


# ---------------------------------------------------------------------------------------------
# Remote write
# ---------------------------------------------------------------------------------------------

def test_remote_write_round_trip_and_metadata_endpoints(weft):
    t0 = now_ms() - 60_000
    series = [
        ({"__name__": "http_requests_total", "job": "api", "instance": "a:1", "code": "200"},
         [(t0 + i * 15_000, float(10 * i)) for i in range(5)]),
        ({"__name__": "http_requests_total", "job": "api", "instance": "b:1", "code": "500"},
         [(t0 + i * 15_000, float(i)) for i in range(5)]),
        ({"__name__": "temperature", "job": "sensors", "http.route": "/x", "room": "Küche 2"},
         [(t0, -3.5), (t0 + 15_000, float("inf")), (t0 + 30_000, float("nan"))]),
    ]
    r = remote_write(weft, series)
    assert r.status_code == 204, r.text
    assert r.headers["X-Prometheus-Remote-Write-Samples-Written"] == "13"
    t = (t0 + 60_000) / 1000
    got = vector_values(query(weft, "sum by (code) (http_requests_total)", t))
    assert got == {(("code", "200"),): "40", (("code", "500"),): "4"}
    got = vector_values(query(weft, "rate(http_requests_total[1m])", t))
    assert len(got) == 2
    # NaN and ±Inf exactly as Prometheus formats them; UTF-8 label names quoted in PromQL.
    got = query(weft, '{"temperature", "http.route"="/x"}', (t0 + 30_000) / 1000)
    assert got["result"][0]["value"][1] == "NaN"
    assert query(weft, "temperature", (t0 + 15_000) / 1000)["result"][0]["value"][1] == "+Inf"
    # query_range by form POST (Grafana's default).
    r = weft.session.post(weft.url + "/api/v1/query_range", timeout=10, data={
        "query": 'http_requests_total{code="200"}', "start": str(t0 / 1000), "end": str((t0 + 60_000) / 1000),
        "step": "15"})
    values = r.json()["data"]["result"][0]["values"]
    assert [v[1] for v in values] == ["0", "10", "20", "30", "40"]
    # series / labels / label values, including Grafana's U__ escaping.
    r = weft.session.get(weft.url + "/api/v1/series", params={"match[]": "http_requests_total"}, timeout=10)
    assert sorted(s["instance"] for s in r.json()["data"]) == ["a:1", "b:1"]
    labels = weft.session.get(weft.url + "/api/v1/labels", timeout=10).json()["data"]
    assert labels == sorted(["__name__", "code", "http.route", "instance", "job", "room"])
    names = weft.session.get(weft.url + "/api/v1/label/__name__/values", timeout=10).json()["data"]
    assert names == ["http_requests_total", "temperature"]
    routes = weft.session.get(weft.url + "/api/v1/label/U__http_2e_route/values", timeout=10).json()["data"]
    assert routes == ["/x"]
    limited = weft.session.get(weft.url + "/api/v1/label/__name__/values", params={"limit": "1"}, timeout=10).json()
    assert limited["data"] == ["http_requests_total"] and limited["warnings"]
    # Another tenant sees nothing.
    assert query(weft, "http_requests_total", t, tenant="other")["result"] == []


def test_remote_write_bad_input_gets_clear_errors_and_keeps_stored_data(weft):
    t0 = now_ms() - 30_000
    ok = [({"__name__": "kept", "job": "x"}, [(t0, 1.0), (t0 + 1000, 2.0)])]
    assert remote_write(weft, ok).status_code == 204
    cases = {
        "duplicate label": [({"__name__": "m", "a": "1"}, [(t0, 1.0)])],
        "out of order": [({"__name__": "kept", "job": "x"}, [(t0 - 60_000, 1.0)])],
        "far future": [({"__name__": "m2"}, [(now_ms() + 3_600_000, 1.0)])],
    }
    # A duplicate label name needs hand-built labels (dicts cannot hold one).
    dup = snappy_block(encode_write_request([([("__name__", "m"), ("a", "1"), ("a", "2")], [(t0, 1.0)])]))
    r = weft.session.post(weft.url + "/api/v1/write", data=dup, headers=HEADERS, timeout=10)
    assert r.status_code == 400 and "duplicate" in r.text.lower(), r.text
    for name in ("out of order", "far future"):
        r = remote_write(weft, cases[name])
        assert r.status_code == 400, (name, r.status_code, r.text)
        assert r.text.strip(), name
    r = remote_write(weft, ok, headers={"Content-Type": "application/json"})
    assert r.status_code == 415, r.text
    r = weft.session.post(weft.url + "/api/v1/write", data=b"not snappy at all", headers=HEADERS, timeout=10)
    assert r.status_code == 400 and "snappy" in r.text
    r = weft.session.post(weft.url + "/api/v1/write", data=b"", headers=HEADERS, timeout=10)
    assert r.status_code == 400
    weft.assert_alive()
    got = query(weft, "kept", (t0 + 1000) / 1000)["result"]
    assert got[0]["value"][1] == "2"
    m = weft.metrics()
    assert m.get("weft_refused_items_total", signal="metrics", reason="out_of_order") >= 1
    assert m.get("weft_refused_items_total", signal="metrics", reason="out_of_bounds") >= 1


def test_series_limit_refuses_with_reason_and_counter(weft_factory):
    server = weft_factory("metrics:\n  max_series_per_tenant: 3\n  max_label_value_length: 20\n")
    t = now_ms()
    series = [({"__name__": f"s{i}"}, [(t, 1.0)]) for i in range(5)]
    r = remote_write(server, series)
    assert r.status_code == 400, r.text
    assert "series_limit" in r.text and "limit is 3" in r.text
    assert r.headers["X-Prometheus-Remote-Write-Samples-Written"] == "3"
    r = remote_write(server, [({"__name__": "x", "v": "y" * 50}, [(t, 1.0)])])
    assert r.status_code == 400 and "label_value_length_limit" in r.text
    m = server.metrics()
    assert m.get("weft_refused_items_total", signal="metrics", reason="series_limit") == 2
    assert len(query(server, '{__name__=~"s.*"}', t / 1000)["result"]) == 3


def test_out_of_order_window_is_configurable(weft_factory):
    server = weft_factory("metrics:\n  out_of_order_window: 10m\n")
    t = now_ms()
    assert remote_write(server, [({"__name__": "m"}, [(t, 2.0)])]).status_code == 204
    assert remote_write(server, [({"__name__": "m"}, [(t - 300_000, 1.0)])]).status_code == 204
    r = remote_write(server, [({"__name__": "m"}, [(t - 1_200_000, 0.5)])])
    assert r.status_code == 400 and "out_of_order" in r.text
    data = query(server, "m[20m]", t / 1000)
    assert [v[1] for v in data["result"][0]["values"]] == ["1", "2"]


def test_acknowledged_samples_survive_kill_and_flush(weft_factory):
    server = weft_factory()
    t0 = now_ms() - 600_000
    acked = 0
    for batch in range(20):
        series = [({"__name__": "durable", "i": str(i)}, [(t0 + batch * 1000, float(batch))]) for i in range(50)]
        assert remote_write(server, series).status_code == 204
        acked += 50
        if batch == 9:
            assert server.session.post(server.url + "/flush", timeout=30).status_code in (200, 204)
    server.restart(kill=True)
    count = query(server, "sum(count_over_time(durable[1h]))", (t0 + 60_000) / 1000)["result"]
    assert count[0]["value"][1] == str(acked)
    # A clean restart cuts the head into blocks; the answer stays the same.
    server.restart()
    assert (server.data_dir / "metrics" / "single-tenant").is_dir()
    count = query(server, "sum(count_over_time(durable[1h]))", (t0 + 60_000) / 1000)["result"]
    assert count[0]["value"][1] == str(acked)
    last = query(server, 'durable{i="7"}', (t0 + 19_000) / 1000)["result"]
    assert last[0]["value"][1] == "19"


# ---------------------------------------------------------------------------------------------
# OTLP metrics from the OpenTelemetry SDK
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_otel_sdk_metrics_are_named_by_the_compatibility_rules(weft, transport):
    if transport == "grpc":
        exporter = GrpcMetricExporter(endpoint=weft.grpc_target, insecure=True)
    else:
        exporter = HttpMetricExporter(endpoint=weft.otlp_http_url + "/v1/metrics")
    resource = Resource.create({"service.name": "checkout", "service.namespace": "shop",
                                "service.instance.id": "pod-1", "deployment.environment": "test"})
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("checkout.meter", "1.2.3")
    orders = meter.create_counter("orders.placed", unit="1", description="Orders placed")
    latency = meter.create_histogram("http.server.duration", unit="ms")
    orders.add(3, {"payment": "card"})
    orders.add(2, {"payment": "cash"})
    tracer = TracerProvider().get_tracer("e2e")
    with tracer.start_as_current_span("pay") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        for v in (5, 20, 120):
            latency.record(v, {"http.route": "/pay"})
    assert reader.force_flush(timeout_millis=10_000)
    provider.shutdown()
    t = time.time()
    got = vector_values(query(weft, "orders_placed_total", t))
    assert {dict(k)["payment"]: v for k, v in got.items()} == {"card": "3", "cash": "2"}
    one = dict(next(iter(got)))
    assert one["job"] == "shop/checkout" and one["instance"] == "pod-1"
    assert one["otel_scope_name"] == "checkout.meter"
    info = query(weft, "target_info", t)["result"][0]["metric"]
    assert info["deployment_environment"] == "test"
    count = query(weft, "http_server_duration_milliseconds_count", t)["result"]
    assert count[0]["value"][1] == "3"
    buckets = query(weft, 'http_server_duration_milliseconds_bucket{le="+Inf"}', t)["result"]
    assert buckets[0]["value"][1] == "3"
    md = weft.session.get(weft.url + "/api/v1/metadata", params={"metric": "orders_placed_total"}, timeout=10).json()
    assert md["data"]["orders_placed_total"][0]["type"] == "counter"
    # Exemplars recorded inside a sampled span carry its trace ID (Grafana links them).
    r = weft.session.get(weft.url + "/api/v1/query_exemplars", timeout=10, params={
        "query": "http_server_duration_milliseconds_bucket", "start": str(t - 600), "end": str(t + 60)})
    groups = r.json()["data"]
    found = [e for g in groups for e in g["exemplars"]]
    assert found and all(e["labels"]["trace_id"] == trace_id for e in found), groups


# ---------------------------------------------------------------------------------------------
# Prometheus 2.42 as the sender
# ---------------------------------------------------------------------------------------------

def test_prometheus_remote_writes_its_own_metrics_to_weft(weft, tmp_path):
    config = f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ['PROM_ADDR']}}]
remote_write:
  - url: {weft.url}/api/v1/write
    queue_config: {{batch_send_deadline: 1s}}
    metadata_config: {{send_interval: 2s}}
"""
    prom = PrometheusProcess(tmp_path / "prom", name="sender", config_yaml="")
    prom.config_yaml = config.replace("PROM_ADDR", f"127.0.0.1:{prom.port}")
    with prom:
        deadline = time.monotonic() + 60
        ours = theirs = None
        while time.monotonic() < deadline:
            ours = query(weft, 'up{job="self"}')["result"]
            md = weft.session.get(weft.url + "/api/v1/metadata", params={"metric": "prometheus_build_info"},
                                  timeout=10).json()["data"]
            if ours and md:
                break
            time.sleep(0.5)
        assert ours and ours[0]["value"][1] == "1", ours
        assert md["prometheus_build_info"][0]["type"] == "gauge"
        # The same series names exist on both sides.
        theirs = requests.get(prom.url + "/api/v1/label/__name__/values", timeout=10).json()["data"]
        mine = weft.session.get(weft.url + "/api/v1/label/__name__/values", timeout=10).json()["data"]
        common = set(theirs) & set(mine)
        assert len(common) > 100 and "prometheus_http_requests_total" in common
    m = weft.metrics()
    assert m.get("weft_accepted_items_total", signal="metrics", transport="remote_write_v1") > 0
    assert not math.isnan(m.get("weft_metric_head_series"))
