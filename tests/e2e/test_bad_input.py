"""Bad input over OTLP/HTTP and OTLP/gRPC: each case checks the status code, that the message
names the problem, and that the server still answers /ready afterwards."""

from __future__ import annotations

import json
import os
import time

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from weft_client import (
    Counter, WeftServer, gzip_bytes, make_request, make_span, parse_export_response, parse_rpc_status,
    request_to_json, spans_from_traces_data,
)

SMALL_LIMIT_CONFIG = """\
receivers:
  max_message_bytes: 1MiB
"""

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
GRPC_TIMEOUT_S = 10
_ids = Counter(1)


def new_trace_id() -> bytes:
    return bytes.fromhex("e2eba0") + os.urandom(10) + _ids.next().to_bytes(3, "big")


def new_span_id() -> bytes:
    return os.urandom(7) + b"\x01"


def valid_span(name: str = "valid", **kw) -> trace_pb2.Span:
    return make_span(new_trace_id(), new_span_id(), name=name, **kw)


@pytest.fixture(scope="module")
def server(weft_module_factory) -> WeftServer:
    return weft_module_factory(name="badinput")


@pytest.fixture(scope="module")
def small_server(weft_module_factory) -> WeftServer:
    return weft_module_factory(config=SMALL_LIMIT_CONFIG, name="smalllimit")


def channel_for(server: WeftServer) -> grpc.Channel:
    return grpc.insecure_channel(server.grpc_target, options=[("grpc.enable_http_proxy", 0)])


@pytest.fixture(scope="module")
def grpc_channel(server):
    ch = channel_for(server)
    yield ch
    ch.close()


def assert_http_error(r, status: int, *needles: str) -> str:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.headers.get('Content-Type')} {r.content[:500]!r}"
    message = parse_rpc_status(r).message
    for needle in needles:
        assert needle.lower() in message.lower(), f"error message {message!r} does not mention {needle!r}"
    return message


def assert_grpc_error(call, code: grpc.StatusCode, *needles: str) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call()
    err = info.value
    assert err.code() == code, f"expected {code}, got {err.code()}: {err.details()}"
    details = err.details() or ""
    for needle in needles:
        assert needle.lower() in details.lower(), f"gRPC status message {details!r} does not mention {needle!r}"
    return details


def export_grpc(channel, request, tenant: str | None = None, compression=None):
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    md = (("x-scope-orgid", tenant),) if tenant is not None else None
    return stub.Export(request, timeout=GRPC_TIMEOUT_S, metadata=md, compression=compression)


def export_grpc_raw(channel, body: bytes):
    call = channel.unary_unary(EXPORT_METHOD, request_serializer=lambda b: b,
                               response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString)
    return call(body, timeout=GRPC_TIMEOUT_S)


# ---------------------------------------------------------------------------------------------
# Positive controls: the encodings the spec allows are accepted
# ---------------------------------------------------------------------------------------------

def test_valid_json_with_uppercase_hex_string_ints_and_unknown_fields_is_accepted(server):
    span = valid_span("json-ok", attrs={"n": 42})
    body = request_to_json(make_request([span]))
    s = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    s["traceId"] = s["traceId"].upper()
    s["startTimeUnixNano"] = int(s["startTimeUnixNano"])  # numbers and strings both allowed
    s["someFutureField"] = {"x": 1}
    r = server.post_otlp(json.dumps(body).encode(), content_type="application/json")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert not parse_export_response(r).HasField("partial_success")
    td = server.get_trace(span.trace_id.hex(), proto=True)
    assert td is not None and [x.span_id for x in spans_from_traces_data(td)] == [span.span_id.hex()]


def test_gzip_protobuf_and_empty_request_are_accepted(server):
    span = valid_span("gzip-ok")
    r = server.post_otlp(gzip_bytes(make_request([span]).SerializeToString()), encoding="gzip")
    assert r.status_code == 200, r.content
    assert server.get_trace(span.trace_id.hex()) is not None
    r = server.post_otlp(b"")
    assert r.status_code == 200, f"an empty request should succeed (OTLP spec): {r.status_code} {r.content!r}"


def test_grpc_gzip_is_accepted(server, grpc_channel):
    span = valid_span("grpc-gzip-ok")
    resp = export_grpc(grpc_channel, make_request([span]), compression=grpc.Compression.Gzip)
    assert not resp.HasField("partial_success")
    assert server.get_trace(span.trace_id.hex()) is not None


# ---------------------------------------------------------------------------------------------
# Malformed bodies
# ---------------------------------------------------------------------------------------------

def test_http_malformed_protobuf(server):
    r = server.post_otlp(b"\x0a\xff\xff\xff\xff\x0f garbage")
    assert_http_error(r, 400, "protobuf")
    server.assert_alive()


def test_http_malformed_json(server):
    r = server.post_otlp(b'{"resourceSpans":[{"scopeSpans":', content_type="application/json")
    assert_http_error(r, 400, "json")
    assert r.headers["Content-Type"].startswith("application/json"), "JSON request, JSON error body"
    server.assert_alive()


def test_http_json_with_base64_ids_is_refused(server):
    """OTLP/JSON IDs are hex; a base64 ID (proto3 JSON default) must not be silently misread."""
    body = request_to_json(make_request([valid_span()]))
    s = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    s["traceId"] = "W47/95gDgQPSabYzgT/GDA=="
    r = server.post_otlp(json.dumps(body).encode(), content_type="application/json")
    assert_http_error(r, 400, "trace")
    server.assert_alive()


def test_http_json_with_snake_case_keys_is_refused(server):
    """Protobuf field names instead of lowerCamelCase would otherwise be ignored as unknown
    fields and the data silently dropped."""
    body = request_to_json(make_request([valid_span()]))
    snake = {"resource_spans": body["resourceSpans"]}
    r = server.post_otlp(json.dumps(snake).encode(), content_type="application/json")
    assert_http_error(r, 400, "lowerCamelCase", "resourceSpans")
    server.assert_alive()


def test_http_wrong_content_type(server):
    r = server.post_otlp(make_request([valid_span()]).SerializeToString(), content_type="text/plain")
    assert_http_error(r, 415, "content type", "text/plain")
    server.assert_alive()


def test_http_truncated_gzip(server):
    packed = gzip_bytes(make_request([valid_span(attrs={"pad": "x" * 5000})]).SerializeToString())
    r = server.post_otlp(packed[: len(packed) // 2], encoding="gzip")
    assert_http_error(r, 400, "gzip")
    server.assert_alive()


def test_http_unknown_content_encoding(server):
    r = server.post_otlp(make_request([valid_span()]).SerializeToString(), encoding="br")
    assert r.status_code in (400, 415), r.status_code
    assert "br" in parse_rpc_status(r).message
    server.assert_alive()


def test_grpc_malformed_protobuf(server, grpc_channel):
    assert_grpc_error(lambda: export_grpc_raw(grpc_channel, b"\x0a\xff\xff\xff\xff\x0f garbage"),
                      grpc.StatusCode.INVALID_ARGUMENT, "protobuf")
    server.assert_alive()


# ---------------------------------------------------------------------------------------------
# Size limit (receivers.max_message_bytes: 1MiB)
# ---------------------------------------------------------------------------------------------

def _big_request(approx_bytes: int) -> trace_service_pb2.ExportTraceServiceRequest:
    spans = [valid_span(f"big-{i}", attrs={"blob": "x" * 60_000}) for i in range(approx_bytes // 60_000 + 1)]
    return make_request(spans)


def test_http_oversized_body_is_413(small_server):
    body = _big_request(2 << 20).SerializeToString()
    assert len(body) > 2 << 20
    r = small_server.post_otlp(body)
    assert_http_error(r, 413, "max")
    small_server.assert_alive()


def test_http_oversized_after_decompression_is_413(small_server):
    body = _big_request(3 << 20).SerializeToString()
    packed = gzip_bytes(body)
    assert len(packed) < 1 << 20, "compressed body must be under the limit to test the decompressed check"
    r = small_server.post_otlp(packed, encoding="gzip")
    assert_http_error(r, 413, "max")
    small_server.assert_alive()


def test_http_body_just_under_the_limit_is_accepted(small_server):
    req = _big_request(700_000)
    assert len(req.SerializeToString()) < 1 << 20
    r = small_server.post_otlp(req.SerializeToString())
    assert r.status_code == 200, r.content[:300]


def test_grpc_oversized_is_resource_exhausted(small_server):
    ch = channel_for(small_server)
    try:
        assert_grpc_error(lambda: export_grpc(ch, _big_request(2 << 20)), grpc.StatusCode.RESOURCE_EXHAUSTED)
    finally:
        ch.close()
    small_server.assert_alive()


def test_small_server_counts_too_large(small_server):
    m = small_server.metrics()
    assert m.get("weft_refused_requests_total", signal="traces", reason="too_large") >= 2, m.labelsets("weft_refused_requests_total")


# ---------------------------------------------------------------------------------------------
# Invalid spans
# ---------------------------------------------------------------------------------------------

def _now() -> int:
    return time.time_ns()


INVALID_SPANS = {
    "zero-trace-id": (lambda: make_span(b"\x00" * 16, new_span_id()), ["trace ID", "16 bytes"], "invalid_trace_id"),
    "8-byte-trace-id": (lambda: make_span(os.urandom(7) + b"\x01", new_span_id()), ["trace ID", "16 bytes", "8 bytes"], "invalid_trace_id"),
    "4-byte-span-id": (lambda: make_span(new_trace_id(), b"\x01\x02\x03\x04"), ["span ID", "8 bytes", "4 bytes"], "invalid_span_id"),
    "empty-span-id": (lambda: make_span(new_trace_id(), b""), ["span ID"], "invalid_span_id"),
    "12-byte-parent-id": (lambda: make_span(new_trace_id(), new_span_id(), parent=b"\x01" * 12), ["parent span ID"], "invalid_parent_span_id"),
    "timestamps-1970": (lambda: make_span(new_trace_id(), new_span_id(), start=1_000, duration_ns=1_000), ["in the past"], "timestamp_out_of_range"),
    "timestamps-2200": (lambda: make_span(new_trace_id(), new_span_id(), start=7_258_118_400 * 10**9), ["in the future"], "timestamp_out_of_range"),
    "end-before-start": (lambda: make_span(new_trace_id(), new_span_id(), start=_now() - 10**9, duration_ns=-(10**8)), ["before"], "end_before_start"),
}


@pytest.mark.parametrize("case", sorted(INVALID_SPANS))
def test_http_invalid_span_is_400(server, case):
    build, needles, reason = INVALID_SPANS[case]
    before = server.metrics().get("weft_refused_items_total", signal="traces", reason=reason)
    r = server.post_otlp(make_request([build()]).SerializeToString())
    assert_http_error(r, 400, *needles)
    server.assert_alive()
    after = server.metrics().get("weft_refused_items_total", signal="traces", reason=reason)
    assert after == before + 1, f"weft_refused_items_total{{reason={reason!r}}} went from {before} to {after}"


@pytest.mark.parametrize("case", ["zero-trace-id", "8-byte-trace-id", "4-byte-span-id", "timestamps-1970", "timestamps-2200"])
def test_http_json_invalid_span_is_400(server, case):
    build, needles, _ = INVALID_SPANS[case]
    body = json.dumps(request_to_json(make_request([build()]))).encode()
    r = server.post_otlp(body, content_type="application/json")
    assert_http_error(r, 400, *needles)
    server.assert_alive()


@pytest.mark.parametrize("case", ["zero-trace-id", "8-byte-trace-id", "4-byte-span-id", "timestamps-1970", "timestamps-2200"])
def test_grpc_invalid_span_is_invalid_argument(server, grpc_channel, case):
    build, needles, _ = INVALID_SPANS[case]
    assert_grpc_error(lambda: export_grpc(grpc_channel, make_request([build()])), grpc.StatusCode.INVALID_ARGUMENT, *needles)
    server.assert_alive()


def _mixed_request():
    good = [valid_span(f"good-{i}") for i in range(3)]
    bad = [make_span(b"\x00" * 16, new_span_id(), name="bad-zero"),
           make_span(new_trace_id(), b"\x01\x02", name="bad-short-span-id"),
           make_span(new_trace_id(), new_span_id(), start=1_000, name="bad-1970")]
    return good, make_request(good[:2] + bad[:2] + good[2:] + bad[2:])


def test_http_mixed_valid_and_invalid_is_partial_success(server):
    good, req = _mixed_request()
    r = server.post_otlp(req.SerializeToString())
    assert r.status_code == 200, r.content[:300]
    resp = parse_export_response(r)
    assert resp.HasField("partial_success"), "partialSuccess must be set when spans were rejected"
    assert resp.partial_success.rejected_spans == 3
    assert "trace ID" in resp.partial_success.error_message, resp.partial_success.error_message
    for span in good:
        td = server.get_trace(span.trace_id.hex(), proto=True)
        assert td is not None, f"valid span {span.name} of a partially accepted request is not queryable"
        assert [s.span_id for s in spans_from_traces_data(td)] == [span.span_id.hex()]
    res = server.search('{name="good-1"}', limit=10)
    assert [int(t["traceID"], 16) for t in res["traces"]] == [int(good[1].trace_id.hex(), 16)]


def test_http_json_mixed_is_partial_success_in_json(server):
    good, req = _mixed_request()
    r = server.post_otlp(json.dumps(request_to_json(req)).encode(), content_type="application/json")
    assert r.status_code == 200, r.content[:300]
    body = r.json()
    assert "partialSuccess" in body, body
    assert int(body["partialSuccess"]["rejectedSpans"]) == 3, body
    assert body["partialSuccess"].get("errorMessage"), body
    for span in good:
        assert server.get_trace(span.trace_id.hex()) is not None


def test_grpc_mixed_is_partial_success(server, grpc_channel):
    good, req = _mixed_request()
    resp = export_grpc(grpc_channel, req)
    assert resp.partial_success.rejected_spans == 3
    assert resp.partial_success.error_message
    for span in good:
        assert server.get_trace(span.trace_id.hex()) is not None


# ---------------------------------------------------------------------------------------------
# Tenant header
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tenant", ["a/b", "..", "x" * 151, "a b"])
def test_http_invalid_tenant_is_400(server, tenant):
    r = server.post_otlp(make_request([valid_span()]).SerializeToString(), tenant=tenant)
    assert_http_error(r, 400, "tenant")
    server.assert_alive()


def test_grpc_invalid_tenant_is_invalid_argument(server, grpc_channel):
    assert_grpc_error(lambda: export_grpc(grpc_channel, make_request([valid_span()]), tenant="a/b"),
                      grpc.StatusCode.INVALID_ARGUMENT, "tenant")
    server.assert_alive()


def test_query_with_invalid_tenant_is_400(server):
    for path in ("/api/search", "/api/v2/search/tags", "/api/traces/0123456789abcdef0123456789abcdef"):
        r = server.get(path, tenant="a/b")
        assert r.status_code == 400, f"{path}: {r.status_code} {r.text[:200]}"
        assert "tenant" in r.text.lower(), r.text
    server.assert_alive()


# ---------------------------------------------------------------------------------------------
# Signals without a store yet
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ctype", ["application/x-protobuf", "application/json"])
def test_http_logs_are_501(server, ctype):
    body = b"{}" if ctype == "application/json" else b""
    r = server.post_otlp(body, path="/v1/logs", content_type=ctype)
    assert_http_error(r, 501, "not yet supported")
    server.assert_alive()


def test_grpc_logs_are_unimplemented(server, grpc_channel):
    logs = logs_service_pb2_grpc.LogsServiceStub(grpc_channel)
    assert_grpc_error(lambda: logs.Export(logs_service_pb2.ExportLogsServiceRequest(), timeout=GRPC_TIMEOUT_S),
                      grpc.StatusCode.UNIMPLEMENTED, "not yet supported")
    server.assert_alive()


@pytest.mark.parametrize("path", ["/v1/metrics", "/api/v1/otlp/v1/metrics"])
def test_http_metrics_bad_input(server, path):
    # An empty export succeeds (OTLP spec); garbage and snake_case JSON are refused with a reason.
    r = server.post_otlp(b"", path=path)
    assert r.status_code == 200, r.text
    r = server.post_otlp(b"\x0a\xff\xff", path=path)
    assert_http_error(r, 400, "ExportMetricsServiceRequest")
    r = server.post_otlp(b'{"resource_metrics": []}', path=path, content_type="application/json")
    assert_http_error(r, 400, "lowerCamelCase")
    # Delta temporality is refused per data point: a partial success that says why.
    req = metrics_service_pb2.ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add()
    m.name = "deltas"
    m.sum.aggregation_temporality = 1  # DELTA
    m.sum.is_monotonic = True
    p = m.sum.data_points.add()
    p.as_int = 1
    p.time_unix_nano = time.time_ns()
    r = server.post_otlp(req.SerializeToString(), path=path)
    assert r.status_code == 200, r.text
    resp = metrics_service_pb2.ExportMetricsServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_data_points == 1
    assert "delta" in resp.partial_success.error_message.lower()
    server.assert_alive()


def test_grpc_metrics_bad_input(server, grpc_channel):
    metrics = metrics_service_pb2_grpc.MetricsServiceStub(grpc_channel)
    assert metrics.Export(metrics_service_pb2.ExportMetricsServiceRequest(), timeout=GRPC_TIMEOUT_S) is not None
    req = metrics_service_pb2.ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add()
    m.name = "exp"
    # Exponential histograms are stored as native histograms, but not with delta temporality.
    m.exponential_histogram.aggregation_temporality = 1  # DELTA
    m.exponential_histogram.data_points.add().time_unix_nano = time.time_ns()
    resp = metrics.Export(req, timeout=GRPC_TIMEOUT_S)
    assert resp.partial_success.rejected_data_points == 1
    assert "delta" in resp.partial_success.error_message.lower()
    server.assert_alive()


# ---------------------------------------------------------------------------------------------
# Counters
# ---------------------------------------------------------------------------------------------

def test_refusals_are_counted_on_metrics(server):
    # Make sure each kind happened at least once, whatever ran before.
    server.post_otlp(b"\x0a\xff\xff")
    server.post_otlp(b"x", content_type="text/plain")
    server.post_otlp(make_request([valid_span()]).SerializeToString(), tenant="a/b")
    server.post_otlp(make_request([make_span(b"\x00" * 16, new_span_id())]).SerializeToString())
    server.post_otlp(b"", path="/v1/logs")
    m = server.metrics()
    refused_requests = m.labelsets("weft_refused_requests_total")
    for reason in ("bad_request", "unsupported_media_type", "tenant"):
        assert m.get("weft_refused_requests_total", signal="traces", reason=reason) >= 1, (reason, refused_requests)
    assert m.get("weft_refused_requests_total", signal="logs", reason="not_yet_supported") >= 1, refused_requests
    assert m.get("weft_refused_items_total", signal="traces", reason="invalid_trace_id") >= 1, m.labelsets("weft_refused_items_total")
    server.assert_alive()
