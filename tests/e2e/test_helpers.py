"""Self-tests of the suite's own decoders (no server): the SDK's OTLP encoding, read back through
our protobuf, TraceByIDResponse and OTLP/JSON paths, must equal the SDK's spans. If these fail,
the other tests' verdicts cannot be trusted."""

from __future__ import annotations

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1 import trace_pb2

from sdk_world import Service, api_request, hello_iteration
from weft_client import (
    Metrics, WeftServer, decode_trace_by_id_response, otlp_json_to_traces_data, request_to_json, spans_from_traces_data,
)


class _Nowhere(WeftServer):
    def __init__(self):  # no process, only addresses the exporters are built with (never used)
        self.grpc_port = self.otlp_http_port = self.http_port = 9


def _sdk_spans():
    nowhere = _Nowhere()
    svcs = {n: Service(n, nowhere, t) for n, t in
            (("client-service", "grpc"), ("hello-service", "http"), ("test-api-service", "grpc"), ("test-app", "http"))}
    for s in svcs.values():  # export nowhere: keep only the in-memory copy
        s.provider._active_span_processor._span_processors = s.provider._active_span_processor._span_processors[:1]
    hello_iteration(svcs["client-service"], svcs["hello-service"], 1_700_000_000 * 10**9)
    first = api_request(svcs["test-api-service"], svcs["test-app"], "/fast", 1_700_000_010 * 10**9, 15_000_000, 5_000_000)
    api_request(svcs["test-api-service"], svcs["test-app"], "/slow", 1_700_000_020 * 10**9, 2 * 10**9, 900_000_000,
                error=True, link_to=first)
    readable = [sp for s in svcs.values() for sp in s.memory.get_finished_spans()]
    records = [r for s in svcs.values() for r in s.exported()]
    for s in svcs.values():
        s.shutdown()
    return readable, records


def _key(spans):
    return sorted(spans, key=lambda s: s.span_id)


def test_sdk_encoding_roundtrips_through_our_decoders():
    readable, records = _sdk_spans()
    assert len(records) == 10
    req = encode_spans(readable)
    td = trace_pb2.TracesData(resource_spans=req.resource_spans)
    assert _key(spans_from_traces_data(td)) == _key(records)
    wrapped = b"\x0a" + _varint(len(td.SerializeToString())) + td.SerializeToString()
    assert _key(spans_from_traces_data(decode_trace_by_id_response(wrapped))) == _key(records)
    as_json = request_to_json(req)
    assert as_json["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"].isalnum()
    assert _key(spans_from_traces_data(otlp_json_to_traces_data(as_json))) == _key(records)
    # and a kind given as a name is refused by the OTLP/JSON check
    bad = json_format.MessageToDict(req)
    try:
        otlp_json_to_traces_data(bad)
    except AssertionError:
        pass
    else:
        raise AssertionError("enum names / base64 IDs must not pass the OTLP/JSON check")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_metrics_parser():
    m = Metrics.parse(
        '# TYPE weft_accepted_items counter\n'
        'weft_accepted_items_total{signal="traces",transport="http",tenant="a"} 3\n'
        'weft_accepted_items_total{signal="traces",transport="grpc",tenant="a"} 4\n'
        'weft_wal_fsyncs_total 7\n'
        'weft_request_duration_seconds_bucket{endpoint="/api/search",status="200",le="+Inf"} 1\n'
        '# EOF\n'
    )
    assert m.get("weft_accepted_items_total", tenant="a") == 7
    assert m.get("weft_accepted_items_total", transport="grpc") == 4
    assert m.get("weft_wal_fsyncs_total") == 7
    assert m.labelsets("weft_request_duration_seconds_bucket")[0]["le"] == "+Inf"
    assert m.types["weft_accepted_items"] == "counter"
