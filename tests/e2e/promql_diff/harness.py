"""Talking to Prometheus-API endpoints, running a Prometheus process, and running the corpus.

An `Endpoint` is anything that speaks the Prometheus HTTP API: remote write 1.0 on
`POST {url}/api/v1/write`, and `GET {url}/api/v1/query` / `GET {url}/api/v1/query_range`.
Nothing here knows whether the endpoint is Weft or Prometheus.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import requests

from . import remote_write
from .compare import ApiAnswer, diff_answers
from .data import Dataset
from .queries import Query, Window

HOST = "127.0.0.1"
HTTP_TIMEOUT_S = 30.0
PROMETHEUS_CANDIDATES = ("/usr/bin/prometheus",)

os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def fmt_time(ms: int) -> str:
    """Milliseconds as the API's decimal seconds, exactly (e.g. 1700000000537 -> '1700000000.537')."""
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    return f"{sign}{ms // 1000}.{ms % 1000:03d}"


class Endpoint:
    """A Prometheus-API server at `url` (scheme://host:port, no trailing slash)."""

    def __init__(self, url: str, name: str | None = None, write_path: str = "/api/v1/write"):
        self.url = url.rstrip("/")
        self.name = name or self.url
        self.write_url = self.url + write_path
        self.session = requests.Session()
        self.session.trust_env = False

    def write(self, dataset: Dataset) -> int:
        """Sends the whole data set by remote write; returns the number of requests."""
        return remote_write.send(self.session, self.write_url, dataset.series)

    def _get(self, path: str, params: dict[str, str]) -> ApiAnswer:
        try:
            r = self.session.get(self.url + path, params=params, timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as e:
            return ApiAnswer(http_status=0, body=None, text=f"request failed: {e}")
        try:
            body = r.json()
        except ValueError:
            body = None
        return ApiAnswer(http_status=r.status_code, body=body, text=r.text[:2000])

    def query(self, expr: str, time_ms: int) -> ApiAnswer:
        return self._get("/api/v1/query", {"query": expr, "time": fmt_time(time_ms)})

    def query_range(self, expr: str, start_ms: int, end_ms: int, step_s: int) -> ApiAnswer:
        return self._get("/api/v1/query_range", {
            "query": expr, "start": fmt_time(start_ms), "end": fmt_time(end_ms), "step": str(step_s),
        })


def sample_count_exprs(dataset: Dataset) -> list[str]:
    """One query per metric name counting all its samples (the 3h range covers the whole set).

    Per name, because count_over_time drops the name and e.g. _sum and _count series would
    then collide."""
    names = sorted({s.labels["__name__"] for s in dataset.series})
    return [f'sum(count_over_time({{__name__="{n}"}}[3h]))' for n in names]


def visible_samples(endpoint: Endpoint, dataset: Dataset) -> tuple[float | None, str]:
    """(number of samples `endpoint` returns, or None with the reason)."""
    at = dataset.last_sample_ms + 1
    total = 0.0
    for expr in sample_count_exprs(dataset):
        a = endpoint.query(expr, at)
        if not (a.ok and a.body["data"].get("resultType") == "vector"):
            return None, f"{expr}: {a.summary()}"
        if a.body["data"]["result"]:
            total += float(a.body["data"]["result"][0]["value"][1])
    return total, ""


def wait_for_data(endpoint: Endpoint, dataset: Dataset, timeout_s: float = 60.0) -> None:
    """Waits until `endpoint` returns every sample sent, including the very last one.

    Raises AssertionError with the last answer when the deadline passes.
    """
    expected = float(dataset.n_samples)
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        got, why = visible_samples(endpoint, dataset)
        if got == expected:
            return
        last = why or f"{got:.0f} of {expected:.0f} samples visible"
        time.sleep(0.25)
    raise AssertionError(f"{endpoint.name}: data not fully queryable after {timeout_s}s: {last}")


# ---------------------------------------------------------------------------------------------
# Running queries against two endpoints
# ---------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """One evaluation of a query (an instant at one time, or one range) and its diff."""

    query: Query
    kind: str  # "instant" or "range"
    params: str  # human-readable time / range parameters
    diff: list[str]

    @property
    def ok(self) -> bool:
        return not self.diff


@dataclass
class QueryOutcome:
    """All evaluations of one query."""

    query: Query
    evaluations: list[Evaluation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.evaluations)

    def report(self, name_a: str = "a", name_b: str = "b", max_lines: int = 40) -> str:
        lines = [f"query {self.query.id}: {self.query.expr}"]
        for e in self.evaluations:
            if e.diff:
                lines.append(f"  {e.kind} {e.params}:")
                for d in e.diff[:max_lines]:
                    lines.append(f"    {d}")
                if len(e.diff) > max_lines:
                    lines.append(f"    ... {len(e.diff) - max_lines} more differences")
        return "\n".join(lines).replace("<a>", name_a).replace("<b>", name_b)


def evaluate(query: Query, a: Endpoint, b: Endpoint, window: Window) -> QueryOutcome:
    """Runs `query` on both endpoints at every instant and range it asks for, and diffs."""
    out = QueryOutcome(query)
    ordered = query.ordered
    if query.instant:
        for t in window.instants:
            ra, rb = a.query(query.expr, t), b.query(query.expr, t)
            out.evaluations.append(Evaluation(query, "instant", f"time={fmt_time(t)}", diff_answers(ra, rb, ordered)))
    for step in query.range_steps:
        ra = a.query_range(query.expr, window.range_start, window.range_end, step)
        rb = b.query_range(query.expr, window.range_start, window.range_end, step)
        out.evaluations.append(Evaluation(
            query, "range",
            f"start={fmt_time(window.range_start)} end={fmt_time(window.range_end)} step={step}s",
            diff_answers(ra, rb, ordered=False),
        ))
    return out


def evaluate_all(queries: Iterable[Query], a: Endpoint, b: Endpoint, window: Window) -> list[QueryOutcome]:
    return [evaluate(q, a, b, window) for q in queries]


# ---------------------------------------------------------------------------------------------
# A Prometheus process
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def prometheus_binary() -> Path:
    """The Prometheus binary ($PROMETHEUS_BIN, /usr/bin/prometheus or `prometheus` on PATH).

    Raises FileNotFoundError (callers fail loudly; never skip)."""
    env = os.environ.get("PROMETHEUS_BIN")
    candidates = [env] if env else [*PROMETHEUS_CANDIDATES, shutil.which("prometheus")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return Path(c)
    raise FileNotFoundError(
        "Prometheus binary not found (looked at $PROMETHEUS_BIN, /usr/bin/prometheus, PATH); "
        "install it with `apt-get install prometheus` (scripts/test.sh does)"
    )


class PrometheusProcess:
    """A throw-away Prometheus on a free loopback port with a temporary TSDB."""

    def __init__(self, workdir: Path | None = None, name: str = "prometheus", config_yaml: str = "global: {}\n",
                 extra_args: tuple[str, ...] = ()):
        self.binary = prometheus_binary()
        self.config_yaml = config_yaml
        self.extra_args = tuple(extra_args)
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"promql-diff-{name}-")
            workdir = Path(self._tmp.name)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = free_port()
        self.log_path = self.workdir / "prometheus.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> "PrometheusProcess":
        config = self.workdir / "prometheus.yml"
        config.write_text(self.config_yaml)
        cmd = [
            str(self.binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={HOST}:{self.port}",
            "--web.enable-remote-write-receiver",
            "--storage.tsdb.retention.time=3650d",
            "--log.level=warn",
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        session = requests.Session()
        session.trust_env = False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if session.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout_s}s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-chars:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "PrometheusProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# Negative control: the comparison must notice differences
# ---------------------------------------------------------------------------------------------


def _mutations(answer: ApiAnswer) -> list[tuple[str, ApiAnswer, bool]]:
    """(description, mutated copy, must_differ) for a successful vector/matrix answer."""
    import copy
    import json

    out: list[tuple[str, ApiAnswer, bool]] = []

    def mutated(fn) -> ApiAnswer:
        body = copy.deepcopy(answer.body)
        fn(body["data"]["result"])
        return ApiAnswer(answer.http_status, body, json.dumps(body))

    def first_point(result):
        s = result[0]
        return s["value"] if "value" in s else s["values"][0]

    def scale(factor):
        def fn(result):
            p = first_point(result)
            p[1] = repr(float(p[1]) * factor) if float(p[1]) != 0 else "1e-6"
        return fn

    def shift_ts(result):
        p = first_point(result)
        p[0] = float(p[0]) + 0.001

    def relabel(result):
        result[0]["metric"]["extra"] = "x"

    out.append(("value off by 1e-6 relative", mutated(scale(1 + 1e-6)), True))
    out.append(("value off by 1e-13 relative (within tolerance)", mutated(scale(1 + 1e-13)), False))
    out.append(("timestamp off by 1 ms", mutated(shift_ts), True))
    out.append(("one series dropped", mutated(lambda r: r.pop()), True))
    out.append(("one label added", mutated(relabel), True))
    out.append(("series order reversed (unordered)", mutated(lambda r: r.reverse()), False))
    err = ApiAnswer(422, {"status": "error", "errorType": "execution", "error": "x"}, "")
    out.append(("error instead of data", err, True))
    return out


def negative_control(endpoint: Endpoint, window: Window) -> list[str]:
    """Mutates real answers of `endpoint` and checks that diff_answers flags exactly the
    mutations that matter. Returns a list of problems (empty if the comparison is sound)."""
    problems = []
    probes = [
        ("node_memory_free_bytes", "instant"),
        ("rate(http_requests_total[5m])", "instant"),
        ("temperature_celsius", "range"),
    ]
    for expr, kind in probes:
        if kind == "instant":
            ans = endpoint.query(expr, window.instants[1])
        else:
            ans = endpoint.query_range(expr, window.range_start, window.range_end, 60)
        if not (ans.ok and len(ans.body["data"]["result"]) >= 2):
            problems.append(f"negative control: {expr} gave no usable answer: {ans.summary()}")
            continue
        if diff_answers(ans, ans):
            problems.append(f"negative control: {expr} differs from itself")
        for what, mutant, must_differ in _mutations(ans):
            differs = bool(diff_answers(ans, mutant))
            if differs != must_differ:
                problems.append(f"negative control: {expr} ({kind}), {what}: "
                                f"{'not detected' if must_differ else 'wrongly reported'}")
    # Sorted instant results: the order is part of the answer.
    ans = endpoint.query("sort(node_memory_free_bytes)", window.instants[1])
    if ans.ok and len(ans.body["data"]["result"]) >= 2:
        import copy
        body = copy.deepcopy(ans.body)
        body["data"]["result"].reverse()
        if not diff_answers(ans, ApiAnswer(200, body, ""), ordered=True):
            problems.append("negative control: reversed sort() result not detected")
    else:
        problems.append(f"negative control: sort() gave no usable answer: {ans.summary()}")
    return problems
