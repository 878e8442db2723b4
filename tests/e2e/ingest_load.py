"""A small multi-threaded OTLP sender that remembers exactly which spans were acknowledged,
and a checker that reads every trace back by ID. Used by the crash and shutdown tests.

Trace IDs come from a counter, so every trace is unique; each trace is sent as two requests
(root + child, then a second child) so traces also get split across WAL records, cuts and
crashes. Nothing is ever retried: an unacknowledged request is simply recorded as such.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Multiset
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from weft_client import Counter, WeftServer, make_request, make_span, spans_from_traces_data

RETRYABLE_HTTP = {429, 502, 503, 504}
RETRYABLE_GRPC = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
                  grpc.StatusCode.ABORTED}


def trace_id_for(n: int, prefix: int) -> bytes:
    return bytes([prefix]) + b"\x00" * 7 + n.to_bytes(8, "big")


def span_id_for(n: int, k: int) -> bytes:
    return ((n << 4) | k).to_bytes(8, "big")


@dataclass
class Ledger:
    """What was sent and what was acknowledged, per trace (hex) and span (hex)."""

    sent: dict[str, set[str]] = field(default_factory=dict)
    acked: dict[str, set[str]] = field(default_factory=dict)
    requests_sent: int = 0
    requests_acked: int = 0
    unexpected: list[str] = field(default_factory=list)
    refusals: Multiset = field(default_factory=Multiset)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, trace_hex: str, span_ids: list[str], acked: bool, refusal: str | None = None) -> None:
        with self.lock:
            self.requests_sent += 1
            self.sent.setdefault(trace_hex, set()).update(span_ids)
            if acked:
                self.requests_acked += 1
                self.acked.setdefault(trace_hex, set()).update(span_ids)
            if refusal:
                self.refusals[refusal] += 1

    def note_unexpected(self, what: str) -> None:
        with self.lock:
            self.unexpected.append(what)

    @property
    def acked_spans(self) -> int:
        return sum(len(v) for v in self.acked.values())


class Sender:
    """`threads` senders (the last one over gRPC when `grpc_threads` > 0) until `stop()`."""

    def __init__(self, server: WeftServer, ledger: Ledger, ids: Counter, prefix: int = 0xC7, threads: int = 4,
                 grpc_threads: int = 1, max_traces: int = 100_000, request_timeout: float = 5.0,
                 pause_s: float = 0.0):
        self.server = server
        self.ledger = ledger
        self.ids = ids
        self.prefix = prefix
        self.max_traces = max_traces
        self.timeout = request_timeout
        self.pause_s = pause_s
        self.stop_event = threading.Event()
        self.exhausted = False
        self.threads = [
            threading.Thread(target=self._run, args=("grpc" if i >= threads - grpc_threads else "http",), daemon=True)
            for i in range(threads)
        ]

    def start(self) -> "Sender":
        for t in self.threads:
            t.start()
        return self

    def stop(self, join_timeout: float = 20.0) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + join_timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        alive = [t for t in self.threads if t.is_alive()]
        assert not alive, f"{len(alive)} sender threads did not stop"

    def _requests_for(self, n: int) -> list[tuple[str, list[str], trace_service_pb2.ExportTraceServiceRequest]]:
        tid = trace_id_for(n, self.prefix)
        now = time.time_ns()
        root = make_span(tid, span_id_for(n, 1), name="crash-root", start=now - 50_000_000, duration_ns=40_000_000,
                         kind=trace_pb2.Span.SPAN_KIND_SERVER, attrs={"seq": n, "part": 0})
        child1 = make_span(tid, span_id_for(n, 2), name="crash-child", parent=root.span_id, start=now - 45_000_000,
                           duration_ns=10_000_000, attrs={"seq": n, "part": 0})
        child2 = make_span(tid, span_id_for(n, 3), name="crash-child", parent=root.span_id, start=now - 30_000_000,
                           duration_ns=10_000_000, attrs={"seq": n, "part": 1})
        return [
            (tid.hex(), [root.span_id.hex(), child1.span_id.hex()], make_request([root, child1], service="crash-svc")),
            (tid.hex(), [child2.span_id.hex()], make_request([child2], service="crash-svc")),
        ]

    def _run(self, transport: str) -> None:
        session = requests.Session()
        session.trust_env = False
        channel = stub = None
        if transport == "grpc":
            channel = grpc.insecure_channel(self.server.grpc_target, options=[("grpc.enable_http_proxy", 0)])
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        try:
            while not self.stop_event.is_set():
                n = self.ids.next()
                if n > self.max_traces:
                    self.exhausted = True
                    return
                for trace_hex, span_ids, req in self._requests_for(n):
                    if self.stop_event.is_set():
                        break
                    if transport == "grpc":
                        ok, refusal = self._send_grpc(stub, req)
                    else:
                        ok, refusal = self._send_http(session, req)
                    self.ledger.record(trace_hex, span_ids, ok, refusal)
                    if not ok:
                        time.sleep(0.02)  # the server is down or refusing: do not spin
                    elif self.pause_s:
                        time.sleep(self.pause_s)
        finally:
            session.close()
            if channel is not None:
                channel.close()

    def _send_http(self, session, req) -> tuple[bool, str | None]:
        try:
            r = self.server.post_otlp(req.SerializeToString(), session=session, timeout=self.timeout)
        except requests.RequestException as e:
            return False, f"http:{type(e).__name__}"
        if r.status_code == 200:
            resp = trace_service_pb2.ExportTraceServiceResponse.FromString(r.content)
            if resp.HasField("partial_success") and resp.partial_success.rejected_spans:
                self.ledger.note_unexpected(f"partial success for valid spans: {resp.partial_success}")
                return False, "http:partial"
            return True, None
        if r.status_code not in RETRYABLE_HTTP:
            self.ledger.note_unexpected(f"HTTP {r.status_code} for a valid request: {r.content[:200]!r}")
        elif r.status_code == 503 and "Retry-After" not in r.headers:
            self.ledger.note_unexpected("503 without Retry-After")
        return False, f"http:{r.status_code}"

    def _send_grpc(self, stub, req) -> tuple[bool, str | None]:
        try:
            resp = stub.Export(req, timeout=self.timeout)
        except grpc.RpcError as e:
            code = e.code()
            if code not in RETRYABLE_GRPC:
                self.ledger.note_unexpected(f"gRPC {code} for a valid request: {e.details()}")
            return False, f"grpc:{code.name}"
        if resp.HasField("partial_success") and resp.partial_success.rejected_spans:
            self.ledger.note_unexpected(f"partial success for valid spans: {resp.partial_success}")
            return False, "grpc:partial"
        return True, None


def verify_ledger(server: WeftServer, ledger: Ledger, workers: int = 4) -> dict:
    """Reads every sent trace back by ID. Acknowledged spans must be there exactly once;
    unacknowledged ones at most once; nothing that was not sent may appear."""
    problems: list[str] = []
    stats = Multiset()
    lock = threading.Lock()

    def check(trace_hex: str) -> None:
        session = requests.Session()
        session.trust_env = False
        try:
            r = session.get(f"{server.url}/api/traces/{trace_hex}", headers={"Accept": "application/protobuf"}, timeout=15)
        except requests.RequestException as e:
            with lock:
                problems.append(f"{trace_hex}: request failed: {e}")
            return
        finally:
            session.close()
        acked = ledger.acked.get(trace_hex, set())
        sent = ledger.sent[trace_hex]
        local = []
        if r.status_code == 404:
            got = Multiset()
        elif r.status_code == 200:
            got = Multiset(s.span_id for s in spans_from_traces_data(trace_pb2.TracesData.FromString(r.content)))
        else:
            local.append(f"{trace_hex}: HTTP {r.status_code} {r.text[:200]}")
            got = Multiset()
        for sid in acked:
            if got[sid] == 0:
                local.append(f"{trace_hex}: acknowledged span {sid} is missing")
            elif got[sid] > 1:
                local.append(f"{trace_hex}: acknowledged span {sid} appears {got[sid]} times")
        for sid, count in got.items():
            if sid not in sent:
                local.append(f"{trace_hex}: span {sid} was never sent")
            elif count > 1 and sid not in acked:
                local.append(f"{trace_hex}: unacknowledged span {sid} appears {count} times")
        with lock:
            problems.extend(local)
            stats["traces"] += 1
            stats["acked_spans_found"] += sum(1 for sid in acked if got[sid] == 1)
            stats["unacked_spans_found"] += sum(1 for sid in got if sid not in acked)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(check, list(ledger.sent)))
    assert not problems, f"{len(problems)} durability problems, first 30:\n" + "\n".join(problems[:30])
    return dict(stats)
