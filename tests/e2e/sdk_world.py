"""Simulated services instrumented with the real OpenTelemetry Python SDK, exporting to weft
through the SDK's own OTLP exporters, with an in-memory copy of every exported span to compare
against what weft returns.

Seed 000 (service graph on GKE): `client-service` curls `hello-service` every 5 s.
Seed 002 (PLG + Tempo stack): FastAPI `test-api-service` handles /fast and /slow, each with an
inner `fast_operation`/`slow_operation` span and a CLIENT call to the Node `test-app`, whose
SERVER span comes from its own TracerProvider. Context crosses providers only through W3C
`traceparent` injection/extraction, as in a real HTTP call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from weft_client import SpanRecord, WeftServer, span_from_sdk

PROPAGATOR = TraceContextTextMapPropagator()
MS = 1_000_000
SEC = 1_000_000_000
ROOT_NOT_YET_RECEIVED = "<root span not yet received>"


class RecordingExporter(SpanExporter):
    """Delegates to a real exporter and remembers every result, so a failed export fails the test."""

    def __init__(self, inner: SpanExporter):
        self.inner = inner
        self.results: list[tuple[int, SpanExportResult]] = []

    def export(self, spans):
        result = self.inner.export(spans)
        self.results.append((len(spans), result))
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def failures(self) -> list:
        return [r for r in self.results if r[1] != SpanExportResult.SUCCESS]


class FixedTraceIdGenerator(IdGenerator):
    """Random span IDs, one fixed trace ID (to send the same trace ID under two tenants)."""

    def __init__(self, trace_id: int):
        self.trace_id = trace_id
        self.random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        return self.random.generate_span_id()

    def generate_trace_id(self) -> int:
        return self.trace_id


class Service:
    """One instrumented process: its own TracerProvider, resource and OTLP exporter."""

    def __init__(self, name: str, server: WeftServer, transport: str, batch: bool = False, gzip: bool = False,
                 tenant: str | None = None, id_generator: IdGenerator | None = None, extra_resource: dict | None = None):
        self.name = name
        self.transport = transport
        self.memory = InMemorySpanExporter()
        if transport == "grpc":
            headers = (("x-scope-orgid", tenant),) if tenant else None
            inner = GrpcSpanExporter(
                endpoint=server.grpc_target, insecure=True, headers=headers, timeout=10,
                compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
            )
        else:
            headers = {"X-Scope-OrgID": tenant} if tenant else None
            inner = HttpSpanExporter(
                endpoint=f"{server.otlp_http_url}/v1/traces", headers=headers, timeout=10,
                compression=HttpCompression.Gzip if gzip else HttpCompression.NoCompression,
            )
        self.exporter = RecordingExporter(inner)
        resource = Resource.create({"service.name": name, "service.namespace": "playground", **(extra_resource or {})})
        kwargs = {"id_generator": id_generator} if id_generator else {}
        self.provider = TracerProvider(resource=resource, **kwargs)
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        if batch:
            self.processor = BatchSpanProcessor(self.exporter, schedule_delay_millis=200, max_export_batch_size=64)
        else:
            self.processor = SimpleSpanProcessor(self.exporter)
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer(f"e2e.{name}", "1.0.0")

    def flush(self) -> None:
        assert self.provider.force_flush(30_000), f"{self.name}: force_flush timed out"
        failures = self.exporter.failures()
        assert not failures, f"{self.name}: OTLP {self.transport} export failed: {failures}"

    def exported(self) -> list[SpanRecord]:
        return [span_from_sdk(s) for s in self.memory.get_finished_spans()]

    def shutdown(self) -> None:
        self.provider.shutdown()


def _ctx(span):
    return trace.set_span_in_context(span)


def call_over_http(client_span) -> dict:
    """What a real HTTP client does: inject W3C trace context into the request headers."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, context=_ctx(client_span))
    assert carrier.get("traceparent", "").startswith("00-"), carrier
    return carrier


def hello_iteration(client: Service, hello: Service, t0: int, end_client: bool = True):
    """Seed 000: `curl -s hello-service.beyla` from client-service."""
    cspan = client.tracer.start_span(
        "GET", kind=SpanKind.CLIENT, start_time=t0,
        attributes={"http.method": "GET", "http.url": "http://hello-service.beyla/", "net.peer.name": "hello-service.beyla",
                    "net.peer.port": 80, "user_agent.original": "curl/7.83.1"},
    )
    headers = call_over_http(cspan)
    # --- in hello-service's process ---
    sspan = hello.tracer.start_span(
        "GET /", context=PROPAGATOR.extract(headers), kind=SpanKind.SERVER, start_time=t0 + 400_000,
        attributes={"http.method": "GET", "http.route": "/", "http.target": "/", "http.scheme": "http",
                    "net.host.port": 8080, "http.status_code": 200},
    )
    sspan.end(end_time=t0 + 1_400_000)
    # --- back in client-service ---
    cspan.set_attribute("http.status_code", 200)
    if end_client:
        cspan.end(end_time=t0 + 2 * MS)
    return cspan


def api_request(api: Service, app: Service, route: str, t0: int, total_ns: int, upstream_ns: int,
                error: bool = False, link_to=None):
    """Seed 002: FastAPI `GET /fast|/slow` → `*_operation` → CLIENT GET → test-app SERVER."""
    op_name = route.strip("/") + "_operation"
    server = api.tracer.start_span(
        f"GET {route}", kind=SpanKind.SERVER, start_time=t0,
        attributes={"http.method": "GET", "http.route": route, "http.target": route, "http.scheme": "http",
                    "http.server_name": "test-api-service", "net.host.port": 8000},
    )
    links = [Link(link_to.get_span_context(), {"link.reason": "previous request"})] if link_to is not None else []
    op = api.tracer.start_span(
        op_name, context=_ctx(server), kind=SpanKind.INTERNAL, start_time=t0 + 100_000, links=links,
        attributes={"work.items": 3, "work.ratio": 0.25, "cache.hit": False, "work.tags": ("seed", "002")},
    )
    client = api.tracer.start_span(
        "GET", context=_ctx(op), kind=SpanKind.CLIENT, start_time=t0 + 200_000,
        attributes={"http.method": "GET", "http.url": f"http://test-app.playground.svc.cluster.local:3000{route}",
                    "net.peer.name": "test-app.playground.svc.cluster.local", "net.peer.port": 3000},
    )
    headers = call_over_http(client)
    # --- in test-app's process (Node prom-client app) ---
    app_start = t0 + 500_000
    app_span = app.tracer.start_span(
        f"GET {route}", context=PROPAGATOR.extract(headers), kind=SpanKind.SERVER, start_time=app_start,
        attributes={"http.method": "GET", "http.route": route, "http.target": route,
                    "http.status_code": 500 if error else 200},
    )
    if error:
        app_span.add_event("exception", {"exception.type": "Error", "exception.message": "simulated failure"},
                           timestamp=app_start + upstream_ns // 2)
        app_span.set_status(Status(StatusCode.ERROR, "Internal Server Error"))
    app_span.end(end_time=app_start + upstream_ns)
    # --- back in test-api-service ---
    client.set_attribute("http.status_code", 500 if error else 200)
    if error:
        client.set_status(Status(StatusCode.ERROR, "upstream answered 500"))
    client.end(end_time=app_start + upstream_ns + 200_000)
    op.end(end_time=t0 + total_ns - 200_000)
    server.set_attribute("http.status_code", 500 if error else 200)
    if error:
        server.set_status(Status(StatusCode.ERROR))
    else:
        server.set_status(Status(StatusCode.OK))
    server.end(end_time=t0 + total_ns)
    return server


@dataclass
class TraceInfo:
    trace_id: str
    spans: list[SpanRecord]

    @property
    def root(self) -> SpanRecord | None:
        roots = [s for s in self.spans if not s.parent_span_id]
        return roots[0] if roots else None

    @property
    def root_service(self) -> str:
        return self.root.service if self.root else ROOT_NOT_YET_RECEIVED

    @property
    def root_name(self) -> str:
        return self.root.name if self.root else ""

    @property
    def start(self) -> int:
        return min(s.start for s in self.spans)

    @property
    def end(self) -> int:
        return max(s.end for s in self.spans)

    @property
    def duration_ns(self) -> int:
        return self.end - self.start

    def service_stats(self) -> dict[str, tuple[int, int]]:
        out: dict[str, list[int]] = {}
        for s in self.spans:
            row = out.setdefault(s.service, [0, 0])
            row[0] += 1
            row[1] += 1 if s.status_code == 2 else 0
        return {k: tuple(v) for k, v in out.items()}


class World:
    """All services of the two seeds, and what they exported so far."""

    def __init__(self, server: WeftServer):
        self.server = server
        self.services = {
            # Beyla → collector → :4317 in seed 000: gRPC; hello-service over OTLP/HTTP with gzip.
            "client-service": Service("client-service", server, "grpc", gzip=True),
            "hello-service": Service("hello-service", server, "http", gzip=True),
            # Seed 002's FastAPI app: gRPC exporter behind a BatchSpanProcessor, as in its code.
            "test-api-service": Service("test-api-service", server, "grpc", batch=True),
            "test-app": Service("test-app", server, "http"),
        }
        self.base = time.time_ns() - 300 * SEC
        self.pending_root = None
        self.split_trace_id: str | None = None
        self.phase = "empty"

    def svc(self, name: str) -> Service:
        return self.services[name]

    def flush_exporters(self) -> None:
        for s in self.services.values():
            s.flush()

    def send_set_a(self) -> None:
        client, hello = self.svc("client-service"), self.svc("hello-service")
        api, app = self.svc("test-api-service"), self.svc("test-app")
        for i in range(3):
            hello_iteration(client, hello, self.base + i * 5 * SEC)
        # A trace whose root (client) span is exported only after the flush, so that it ends up
        # split between a block and the head.
        self.pending_root = hello_iteration(client, hello, self.base + 15 * SEC, end_client=False)
        self.split_trace_id = f"{self.pending_root.get_span_context().trace_id:032x}"
        t = self.base + 30 * SEC
        first = api_request(api, app, "/fast", t, total_ns=15 * MS, upstream_ns=5 * MS)
        api_request(api, app, "/fast", t + 5 * SEC, total_ns=22 * MS, upstream_ns=8 * MS)
        api_request(api, app, "/slow", t + 10 * SEC, total_ns=2_400 * MS, upstream_ns=700 * MS, link_to=first)
        api_request(api, app, "/slow", t + 15 * SEC, total_ns=1_600 * MS, upstream_ns=300 * MS)
        api_request(api, app, "/slow", t + 20 * SEC, total_ns=2_100 * MS, upstream_ns=900 * MS, error=True)
        self.flush_exporters()

    def send_set_b(self) -> None:
        """After the flush: the split trace's root, one more request of each seed."""
        client, hello = self.svc("client-service"), self.svc("hello-service")
        api, app = self.svc("test-api-service"), self.svc("test-app")
        self.pending_root.end(end_time=self.base + 15 * SEC + 2 * MS)
        self.pending_root = None
        hello_iteration(client, hello, self.base + 20 * SEC)
        api_request(api, app, "/fast", self.base + 60 * SEC, total_ns=12 * MS, upstream_ns=4 * MS)
        self.flush_exporters()

    def spans(self) -> list[SpanRecord]:
        out = []
        for s in self.services.values():
            out.extend(s.exported())
        return out

    def traces(self) -> dict[str, TraceInfo]:
        by_trace: dict[str, list[SpanRecord]] = {}
        for span in self.spans():
            by_trace.setdefault(span.trace_id, []).append(span)
        return {tid: TraceInfo(tid, spans) for tid, spans in by_trace.items()}

    def shutdown(self) -> None:
        for s in self.services.values():
            s.shutdown()
