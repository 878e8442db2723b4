"""Shared helpers for the end-to-end tests: running weft, talking to its query API and OTLP
receivers, and turning traces (protobuf, OTLP/JSON, SDK spans) into comparable values.

Every network call goes to 127.0.0.1 with a timeout, and every wait loop has a deadline.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import requests
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "weft"
HOST = "127.0.0.1"

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 10.0

# Never send loopback traffic through a proxy (requests and grpc both read these).
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def weft_binary() -> Path:
    """The binary under test: $WEFT_BIN or <repo>/target/debug/weft."""
    path = Path(os.environ.get("WEFT_BIN", str(DEFAULT_BIN)))
    if not path.is_file() or not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f"weft binary not found or not executable at {path}; build it with "
            f"`cargo build -p weft` or point WEFT_BIN at it"
        )
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Running the server
# ---------------------------------------------------------------------------------------------

_RUNNING: list["WeftServer"] = []


def running_servers() -> list["WeftServer"]:
    return list(_RUNNING)


class WeftError(AssertionError):
    pass


class WeftServer:
    """One weft process on free loopback ports. `restart()` keeps data dir, config and ports."""

    def __init__(self, data_dir: Path, config_yaml: str | None = None, log_path: Path | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_yaml = config_yaml
        self.config_path: Path | None = None
        if config_yaml is not None:
            self.config_path = self.data_dir.parent / f"{self.data_dir.name}.weft.yaml"
            self.config_path.write_text(config_yaml)
        self.log_path = log_path or (self.data_dir.parent / f"{self.data_dir.name}.weft.log")
        self.grpc_port = free_port()
        self.otlp_http_port = free_port()
        self.http_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.session = requests.Session()
        self.session.trust_env = False

    # -- addresses ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def otlp_http_url(self) -> str:
        return f"http://{HOST}:{self.otlp_http_port}"

    @property
    def grpc_target(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    # -- lifecycle ---------------------------------------------------------------------------
    def command(self) -> list[str]:
        cmd = [
            str(weft_binary()),
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--otlp-grpc-addr",
            self.grpc_target,
            "--otlp-http-addr",
            f"{HOST}:{self.otlp_http_port}",
            "--http-addr",
            f"{HOST}:{self.http_port}",
        ]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        return cmd

    def start(self, ready_timeout: float = READY_TIMEOUT_S) -> "WeftServer":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        # A port taken in the meantime (TIME_WAIT does not block a listener) makes weft exit at
        # once; retry a few times, with fresh ports only on the very first start.
        for attempt in range(4):
            with open(self.log_path, "ab") as log:
                log.write(f"\n===== start #{self.starts + 1} attempt {attempt}: {' '.join(self.command())}\n".encode())
                log.flush()
                env = dict(os.environ)
                env.setdefault("RUST_BACKTRACE", "1")
                self.proc = subprocess.Popen(
                    self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
                )
            if self not in _RUNNING:
                _RUNNING.append(self)
            outcome = self._wait_ready(ready_timeout)
            if outcome == "ready":
                self.starts += 1
                return self
            if outcome == "exited" and "binding the" in self.log_tail(2000):
                if self.starts == 0:
                    self.grpc_port, self.otlp_http_port, self.http_port = free_port(), free_port(), free_port()
                time.sleep(0.5)
                continue
            break
        rc = self.proc.poll()
        if rc is None:
            self.proc.kill()
            self.proc.wait(10)
        raise WeftError(
            f"weft did not become ready within {ready_timeout}s (exit code {rc})\n--- log tail ---\n{self.log_tail()}"
        )

    def spawn_and_kill(self, delay_s: float) -> None:
        """Starts weft and SIGKILLs it `delay_s` later, ready or not (e.g. during WAL replay)."""
        assert not self.running, "already running"
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== spawn, SIGKILL after {delay_s:.3f}s\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        time.sleep(delay_s)
        self.kill()

    def _wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "exited"
            try:
                r = self.session.get(f"{self.url}/ready", timeout=2)
                if r.status_code == 200:
                    return "ready"
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return "timeout"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM (ordered shutdown); returns the exit code. Kills after `timeout`."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                if self in _RUNNING:
                    _RUNNING.remove(self)
                raise WeftError(
                    f"weft did not exit within {timeout}s of SIGTERM\n--- log tail ---\n{self.log_tail()}"
                )
        if self in _RUNNING:
            _RUNNING.remove(self)
        return self.proc.returncode

    def stop_ok(self, timeout: float = STOP_TIMEOUT_S) -> None:
        rc = self.stop(timeout)
        if rc != 0:
            raise WeftError(f"weft exited with code {rc} after SIGTERM (expected 0)\n--- log tail ---\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self in _RUNNING:
            _RUNNING.remove(self)

    def restart(self, kill: bool = False) -> "WeftServer":
        if kill:
            self.kill()
        else:
            self.stop_ok()
        return self.start()

    def log_tail(self, chars: int = 6000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "(no log)"
        return data[-chars:].decode("utf-8", "replace")

    # -- query API ---------------------------------------------------------------------------
    def get(self, path: str, tenant: str | None = None, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if tenant is not None:
            headers["X-Scope-OrgID"] = tenant
        return self.session.get(f"{self.url}{path}", headers=headers, timeout=HTTP_TIMEOUT_S, **kw)

    def post(self, path: str, tenant: str | None = None, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if tenant is not None:
            headers["X-Scope-OrgID"] = tenant
        return self.session.post(f"{self.url}{path}", headers=headers, timeout=kw.pop("timeout", HTTP_TIMEOUT_S), **kw)

    def ready(self) -> bool:
        try:
            return self.get("/ready").status_code == 200
        except requests.RequestException:
            return False

    def assert_alive(self) -> None:
        assert self.running, f"weft is no longer running\n{self.log_tail()}"
        r = self.get("/ready")
        assert r.status_code == 200, f"/ready answered {r.status_code}: {r.text}"

    def flush(self) -> None:
        r = self.post("/flush", timeout=60)
        assert r.status_code in (200, 204), f"POST /flush: {r.status_code} {r.text}"

    def get_trace_response(self, trace_id: str, tenant: str | None = None, proto: bool = False, version: int = 1) -> requests.Response:
        path = f"/api/traces/{trace_id}" if version == 1 else f"/api/v2/traces/{trace_id}"
        headers = {"Accept": "application/protobuf"} if proto else {"Accept": "application/json"}
        return self.get(path, tenant=tenant, headers=headers)

    def get_trace(self, trace_id: str, tenant: str | None = None, proto: bool = False, version: int = 1) -> trace_pb2.TracesData | None:
        """The trace as TracesData (from any of the four encodings), or None on 404."""
        r = self.get_trace_response(trace_id, tenant=tenant, proto=proto, version=version)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, f"GET trace {trace_id} (v{version}, proto={proto}): {r.status_code} {r.text[:500]}"
        if proto:
            ctype = r.headers.get("Content-Type", "")
            assert "protobuf" in ctype, f"protobuf requested, got Content-Type {ctype!r}"
            if version == 1:
                return trace_pb2.TracesData.FromString(r.content)
            return decode_trace_by_id_response(r.content)
        body = r.json()
        if version == 1:
            assert set(body) >= {"batches"}, f"v1 JSON must have 'batches': {list(body)}"
            return otlp_json_to_traces_data({"resourceSpans": body["batches"]})
        assert "trace" in body, f"v2 JSON must have 'trace': {list(body)}"
        return otlp_json_to_traces_data(body["trace"])

    def search(self, q: str | None = None, tenant: str | None = None, **params) -> dict:
        if q is not None:
            params["q"] = q
        r = self.get("/api/search", tenant=tenant, params=params, headers={"Accept": "application/json"})
        assert r.status_code == 200, f"search {params}: {r.status_code} {r.text[:1000]}"
        return r.json()

    def tags(self, tenant: str | None = None, **params) -> dict:
        r = self.get("/api/v2/search/tags", tenant=tenant, params=params)
        assert r.status_code == 200, f"tags: {r.status_code} {r.text[:500]}"
        return r.json()

    def tag_values(self, tag: str, tenant: str | None = None, **params) -> dict:
        r = self.get(f"/api/v2/search/tag/{tag}/values", tenant=tenant, params=params)
        assert r.status_code == 200, f"tag values {tag}: {r.status_code} {r.text[:500]}"
        return r.json()

    def metrics_text(self) -> str:
        r = self.get("/metrics")
        assert r.status_code == 200, f"/metrics: {r.status_code}"
        return r.text

    def metrics(self) -> "Metrics":
        return Metrics.parse(self.metrics_text())

    # -- OTLP/HTTP ---------------------------------------------------------------------------
    def post_otlp(self, body: bytes, path: str = "/v1/traces", content_type: str | None = "application/x-protobuf",
                  tenant: str | None = None, encoding: str | None = None, timeout: float = HTTP_TIMEOUT_S,
                  session: requests.Session | None = None) -> requests.Response:
        headers = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if tenant is not None:
            headers["X-Scope-OrgID"] = tenant
        if encoding is not None:
            headers["Content-Encoding"] = encoding
        s = session or self.session
        return s.post(f"{self.otlp_http_url}{path}", data=body, headers=headers, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Metrics:
    """Prometheus text exposition parsed into {name: [(labels, value)]}."""

    series: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "Metrics":
        m = cls()
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "TYPE":
                    m.types[parts[2]] = parts[3]
                continue
            match = _SAMPLE_RE.match(line)
            assert match, f"unparsable /metrics line: {line!r}"
            name, _, labels_raw, value = match.group(1), match.group(2), match.group(3), match.group(4)
            labels = {k: v.encode().decode("unicode_escape") for k, v in _LABEL_RE.findall(labels_raw or "")}
            m.series.setdefault(name, []).append((labels, float(value)))
        return m

    def __contains__(self, name: str) -> bool:
        return name in self.series

    def get(self, name: str, **labels: str) -> float:
        """Sum of the series of `name` whose labels include `labels` (0 when none)."""
        return sum(v for l, v in self.series.get(name, []) if all(l.get(k) == str(x) for k, x in labels.items()))

    def labelsets(self, name: str) -> list[dict[str, str]]:
        return [l for l, _ in self.series.get(name, [])]

    def as_dict(self) -> dict[str, float]:
        """Flat `name{a="b",...}` -> value, labels sorted."""
        out = {}
        for name, rows in self.series.items():
            for labels, value in rows:
                key = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
                out[key] = value
        return out


# ---------------------------------------------------------------------------------------------
# Trace encodings
# ---------------------------------------------------------------------------------------------

def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def parse_wire_fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """Minimal protobuf wire-format reader: [(field number, wire type, value)]."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wtype = key >> 3, key & 7
        if wtype == 0:
            value, pos = _read_varint(buf, pos)
        elif wtype == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wtype == 2:
            length, pos = _read_varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
            if pos > len(buf):
                raise ValueError("truncated length-delimited field")
        elif wtype == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wtype}")
        out.append((number, wtype, value))
    return out


def decode_trace_by_id_response(buf: bytes) -> trace_pb2.TracesData:
    """tempopb.TraceByIDResponse{Trace trace=1; metrics=2; PartialStatus status=3; string message=4}."""
    trace_bytes = None
    for number, wtype, value in parse_wire_fields(buf):
        if number == 1:
            assert wtype == 2, "TraceByIDResponse.trace must be length-delimited"
            trace_bytes = (trace_bytes or b"") + value  # repeated occurrences of a message field merge
        elif number == 3:
            assert value == 0, f"TraceByIDResponse.status is PARTIAL ({value})"
    assert trace_bytes is not None, "TraceByIDResponse without a trace field (Grafana dereferences it)"
    return trace_pb2.TracesData.FromString(trace_bytes)


_HEX_FIELDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def _hex_ids_to_base64(obj: Any, path: str = "") -> Any:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in _HEX_FIELDS and isinstance(v, str):
                if v == "":
                    out[k] = ""
                    continue
                assert re.fullmatch(r"[0-9a-fA-F]+", v) and len(v) == 2 * _HEX_FIELDS[k], (
                    f"{path}.{k} must be {2 * _HEX_FIELDS[k]} hex digits in OTLP/JSON, got {v!r}"
                )
                out[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                out[k] = _hex_ids_to_base64(v, f"{path}.{k}")
        return out
    if isinstance(obj, list):
        return [_hex_ids_to_base64(v, f"{path}[{i}]") for i, v in enumerate(obj)]
    return obj


def _check_enums_are_ints(obj: Any, path: str = "") -> None:
    """OTLP/JSON: enums MUST be integers (span kind, status code)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("kind", "code") and not isinstance(v, dict):
                assert isinstance(v, int) and not isinstance(v, bool), (
                    f"{path}.{k} must be an integer in OTLP/JSON, got {v!r}"
                )
            _check_enums_are_ints(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _check_enums_are_ints(v, f"{path}[{i}]")


def otlp_json_to_traces_data(obj: dict) -> trace_pb2.TracesData:
    """OTLP/JSON (hex IDs, integer enums, lowerCamelCase) -> TracesData."""
    _check_enums_are_ints(obj)
    msg = trace_pb2.TracesData()
    json_format.ParseDict(_hex_ids_to_base64(obj), msg, ignore_unknown_fields=False)
    return msg


def any_value_to_py(v: common_pb2.AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(any_value_to_py(x) for x in v.array_value.values)
    if which == "kvlist_value":
        return {kv.key: any_value_to_py(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which)


def attrs_to_dict(attrs: Iterable[common_pb2.KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value_to_py(kv.value) for kv in attrs}


@dataclass(frozen=True)
class SpanRecord:
    """A span in a form that both the SDK's ReadableSpan and the stored protobuf map onto."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int  # OTLP numbering
    start: int
    end: int
    attributes: tuple
    status_code: int
    status_message: str
    events: tuple
    links: tuple
    resource: tuple
    scope: tuple

    @property
    def service(self) -> str:
        return dict(self.resource).get("service.name", "")

    @property
    def attrs(self) -> dict:
        return dict(self.attributes)

    @property
    def duration_ns(self) -> int:
        return self.end - self.start


def _freeze(d: dict) -> tuple:
    def f(v):
        if isinstance(v, dict):
            return tuple(sorted((k, f(x)) for k, x in v.items()))
        if isinstance(v, (list, tuple)):
            return tuple(f(x) for x in v)
        return v
    return tuple(sorted((k, f(v)) for k, v in d.items()))


def spans_from_traces_data(td: trace_pb2.TracesData) -> list[SpanRecord]:
    out = []
    for rs in td.resource_spans:
        resource = _freeze(attrs_to_dict(rs.resource.attributes))
        for ss in rs.scope_spans:
            scope = (ss.scope.name, ss.scope.version)
            for s in ss.spans:
                out.append(SpanRecord(
                    trace_id=s.trace_id.hex(),
                    span_id=s.span_id.hex(),
                    parent_span_id=s.parent_span_id.hex(),
                    name=s.name,
                    kind=s.kind,
                    start=s.start_time_unix_nano,
                    end=s.end_time_unix_nano,
                    attributes=_freeze(attrs_to_dict(s.attributes)),
                    status_code=s.status.code,
                    status_message=s.status.message,
                    events=tuple((e.name, e.time_unix_nano, _freeze(attrs_to_dict(e.attributes))) for e in s.events),
                    links=tuple((l.trace_id.hex(), l.span_id.hex(), _freeze(attrs_to_dict(l.attributes))) for l in s.links),
                    resource=resource,
                    scope=scope,
                ))
    return out


def span_from_sdk(span) -> SpanRecord:
    """An exported opentelemetry.sdk.trace.ReadableSpan as a SpanRecord."""
    ctx = span.context
    parent = span.parent.span_id if span.parent is not None else None
    scope = span.instrumentation_scope
    def attrs(a):
        return _freeze({k: (tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in dict(a or {}).items()})
    return SpanRecord(
        trace_id=f"{ctx.trace_id:032x}",
        span_id=f"{ctx.span_id:016x}",
        parent_span_id=f"{parent:016x}" if parent else "",
        name=span.name,
        kind=span.kind.value + 1,  # SDK INTERNAL=0 ... ; OTLP INTERNAL=1
        start=span.start_time,
        end=span.end_time,
        attributes=attrs(span.attributes),
        status_code=span.status.status_code.value,
        status_message=span.status.description or "",
        events=tuple((e.name, e.timestamp, attrs(e.attributes)) for e in span.events),
        links=tuple((f"{l.context.trace_id:032x}", f"{l.context.span_id:016x}", attrs(l.attributes)) for l in span.links),
        resource=attrs(span.resource.attributes),
        scope=(scope.name, scope.version or "") if scope else ("", ""),
    )


# ---------------------------------------------------------------------------------------------
# Building OTLP requests by hand
# ---------------------------------------------------------------------------------------------

def kv(key: str, value: Any) -> common_pb2.KeyValue:
    v = common_pb2.AnyValue()
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    else:
        v.string_value = str(value)
    return common_pb2.KeyValue(key=key, value=v)


def make_span(trace_id: bytes, span_id: bytes, name: str = "op", parent: bytes = b"", start: int | None = None,
              duration_ns: int = 1_000_000, kind: int = trace_pb2.Span.SPAN_KIND_INTERNAL,
              attrs: dict | None = None) -> trace_pb2.Span:
    start = time.time_ns() - 5_000_000_000 if start is None else start
    return trace_pb2.Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent, name=name, kind=kind,
        start_time_unix_nano=start, end_time_unix_nano=start + duration_ns,
        attributes=[kv(k, v) for k, v in (attrs or {}).items()],
    )


def make_request(spans: list[trace_pb2.Span], service: str = "e2e-raw",
                 resource_attrs: dict | None = None) -> trace_service_pb2.ExportTraceServiceRequest:
    attrs = {"service.name": service, **(resource_attrs or {})}
    return trace_service_pb2.ExportTraceServiceRequest(resource_spans=[
        trace_pb2.ResourceSpans(
            resource=resource_pb2.Resource(attributes=[kv(k, v) for k, v in attrs.items()]),
            scope_spans=[trace_pb2.ScopeSpans(scope=common_pb2.InstrumentationScope(name="e2e"), spans=spans)],
        )
    ])


def request_to_json(req: trace_service_pb2.ExportTraceServiceRequest) -> dict:
    """OTLP/JSON as the spec wants it: hex IDs, integer enums, lowerCamelCase."""
    d = json_format.MessageToDict(req, use_integers_for_enums=True)

    def fix(obj):
        if isinstance(obj, dict):
            return {k: (base64.b64decode(v).hex() if k in _HEX_FIELDS and isinstance(v, str) else fix(v)) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fix(x) for x in obj]
        return obj
    return fix(d)


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1)


def parse_export_response(r: requests.Response) -> trace_service_pb2.ExportTraceServiceResponse:
    ctype = r.headers.get("Content-Type", "")
    msg = trace_service_pb2.ExportTraceServiceResponse()
    if "json" in ctype:
        json_format.ParseDict(r.json(), msg, ignore_unknown_fields=False)
    else:
        msg.ParseFromString(r.content)
    return msg


def parse_rpc_status(r: requests.Response):
    """The google.rpc.Status body of an OTLP/HTTP error response (protobuf or JSON)."""
    from google.rpc import status_pb2

    ctype = r.headers.get("Content-Type", "")
    status = status_pb2.Status()
    if "json" in ctype:
        json_format.ParseDict(r.json(), status, ignore_unknown_fields=True)
    elif "protobuf" in ctype:
        status.ParseFromString(r.content)
    else:
        raise AssertionError(
            f"OTLP/HTTP error body must be a google.rpc.Status (protobuf or JSON); got "
            f"Content-Type {ctype!r} body {r.content[:300]!r}"
        )
    return status


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Counter:
    """Thread-safe counter for unique IDs."""

    def __init__(self, start: int = 1):
        self._next = start
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            n = self._next
            self._next += 1
            return n
