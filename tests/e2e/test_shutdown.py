"""Ordered shutdown under load, and weft's self-metrics on /metrics."""

from __future__ import annotations

import os
import time

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from ingest_load import Ledger, Sender, verify_ledger
from weft_client import Counter, make_request, make_span


def test_sigterm_with_inflight_ingest_exits_0_and_keeps_every_acknowledged_span(weft_factory):
    server = weft_factory(name="shutdown")
    ledger = Ledger()
    sender = Sender(server, ledger, Counter(1), prefix=0x5D, threads=4, grpc_threads=1, max_traces=3000).start()
    try:
        time.sleep(2.0)
        acked_before = ledger.requests_acked
        assert acked_before > 0, "no request was acknowledged before SIGTERM"
        t0 = time.monotonic()
        server.stop_ok()  # SIGTERM; exit code 0 within 30 s
        print(f"shutdown under load took {time.monotonic() - t0:.2f}s")
    finally:
        sender.stop()
    assert not ledger.unexpected, (
        "during shutdown valid requests must get a retryable refusal (HTTP 503 + Retry-After / gRPC UNAVAILABLE) "
        "or be served:\n" + "\n".join(ledger.unexpected[:20])
    )
    server.start()
    stats = verify_ledger(server, ledger)
    print(f"shutdown test: {ledger.requests_sent} sent, {ledger.requests_acked} acknowledged, refusals "
          f"{dict(ledger.refusals)}, {stats}")
    # The ordered shutdown cut the head into blocks: nothing should need a WAL replay now, and
    # the restarted server has the data in blocks.
    assert server.metrics().get("weft_trace_blocks") >= 1


def test_sigterm_on_idle_server_is_fast(weft_factory):
    server = weft_factory(name="idle")
    t0 = time.monotonic()
    server.stop_ok()
    assert time.monotonic() - t0 < 10, "an idle server should stop within seconds"
    server.start()
    server.assert_alive()


def test_metrics_expose_the_counters(weft_factory):
    server = weft_factory(name="metrics")
    now = time.time_ns() - 10**9
    http_spans = [make_span(bytes.fromhex("a1") + os.urandom(15), os.urandom(7) + b"\x01", start=now) for _ in range(5)]
    r = server.post_otlp(make_request(http_spans).SerializeToString())
    assert r.status_code == 200
    r = server.post_otlp(make_request(http_spans[:2]).SerializeToString(), tenant="team-x")
    assert r.status_code == 200
    grpc_spans = [make_span(bytes.fromhex("b2") + os.urandom(15), os.urandom(7) + b"\x01", start=now) for _ in range(3)]
    ch = grpc.insecure_channel(server.grpc_target, options=[("grpc.enable_http_proxy", 0)])
    try:
        trace_service_pb2_grpc.TraceServiceStub(ch).Export(make_request(grpc_spans), timeout=10)
    finally:
        ch.close()
    mixed = make_request([make_span(b"\x00" * 16, os.urandom(7) + b"\x01", start=now),
                          make_span(bytes.fromhex("c3") + os.urandom(15), os.urandom(7) + b"\x01", start=now)])
    assert server.post_otlp(mixed.SerializeToString()).status_code == 200
    assert server.post_otlp(b"\x0a\xff\xff").status_code == 400
    server.search("{}")
    server.flush()

    m = server.metrics()
    text = server.metrics_text()
    accepted = m.labelsets("weft_accepted_items_total")
    assert m.get("weft_accepted_items_total", signal="traces", transport="http", tenant="single-tenant") == 6, accepted
    assert m.get("weft_accepted_items_total", signal="traces", transport="http", tenant="team-x") == 2, accepted
    assert m.get("weft_accepted_items_total", signal="traces", transport="grpc", tenant="single-tenant") == 3, accepted
    assert m.get("weft_refused_items_total", signal="traces", reason="invalid_trace_id") == 1, m.labelsets("weft_refused_items_total")
    assert m.get("weft_refused_requests_total", signal="traces", reason="bad_request") == 1, m.labelsets("weft_refused_requests_total")
    assert m.get("weft_wal_fsyncs_total") > 0, "fsync: always must fsync (weft_wal_fsyncs_total)"
    assert m.get("weft_trace_blocks", tenant="single-tenant") >= 1
    assert m.get("weft_trace_blocks", tenant="team-x") >= 1
    buckets = m.labelsets("weft_request_duration_seconds_bucket")
    assert buckets, "weft_request_duration_seconds_bucket missing"
    endpoints = {(l.get("endpoint"), l.get("status")) for l in buckets}
    assert any("search" in (e or "") and s == "200" for e, s in endpoints), endpoints
    assert any("traces" in (e or "") or "Export" in (e or "") for e, _ in endpoints), endpoints
    assert all("le" in l for l in buckets)
    for name in ("weft_accepted_items", "weft_refused_items", "weft_refused_requests"):
        assert f"# TYPE {name} counter" in text or f"# TYPE {name}_total counter" in text, f"no TYPE line for {name}"


@pytest.mark.parametrize("path,expected", [("/api/echo", "echo"), ("/ready", None), ("/api/status/buildinfo", None)])
def test_status_endpoints(weft, path, expected):
    r = weft.get(path)
    assert r.status_code == 200, r.text
    if expected is not None:
        assert r.text.strip() == expected
    if path.endswith("buildinfo"):
        body = r.json()
        assert {"version", "revision", "branch", "buildDate", "buildUser", "goVersion"} <= set(body), body
