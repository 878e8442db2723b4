"""Native histograms end to end: Weft against Prometheus 2.42 on the same data, and OTLP
exponential histograms from the OpenTelemetry Python SDK.

The differential part sends the same integer native histograms (exponential schemas 3, 1, 0
and -1; positive, negative and zero buckets; bucket layouts that grow; a counter reset; a
stale marker ending one series) by remote write 1.0 to a Prometheus 2.42 started with
`--enable-feature=native-histograms` and to Weft, then compares raw selectors (the API's
`histogram` / `histograms` JSON) and histogram functions as instant and range queries with
promql_diff's comparison (same series and timestamps, numbers within 1e-9 relative).

`histogram_quantile` is compared with a looser rule: Prometheus 3 (which Weft follows)
interpolates exponentially inside exponential buckets where 2.42 interpolates linearly
(CHANGELOG 3.0, "histogram_quantile ... exponential interpolation"), so both answers must lie
in the same bucket: same sign and a ratio of at most one bucket width (2^(2^-schema)).
`histogram_fraction` is only asked for bounds that are bucket boundaries, where no
interpolation happens.

Evaluation starts six minutes into the data: Prometheus 3 also clamps the extrapolation of
rate()/increase() of histograms at the point where the count would reach zero (as 2.x did
for floats only), so windows reaching before a series' first sample differ from 2.42 by
design (the float differential test avoids the same boundary, see promql_diff/exclusions.py).
"""

from __future__ import annotations

import math
import random
import struct
import time
from dataclasses import dataclass, field

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from promql_diff.compare import ApiAnswer, diff_answers, fmt_labels
from promql_diff.harness import Endpoint, PrometheusProcess, evaluate, prometheus_binary
from promql_diff.queries import Query
from promql_diff.remote_write import (
    _I64,
    _VARINT,
    HEADERS,
    _key,
    _len_field,
    _varint,
    encode_label,
    encode_sample,
    snappy_block,
)

MINUTE = 60_000
SCRAPE_MS = 15_000
N_SCRAPES = 240
EVAL_MS_PART = 537
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
NAME = "nh_request_duration_seconds"
TEMP = "nh_temperature_delta"


@dataclass(frozen=True)
class Window:
    """Evaluation times (ms); all end in .537 s so no range boundary meets a sample."""

    base_ms: int

    @property
    def instants(self) -> list[int]:
        return [self.base_ms + m * MINUTE + EVAL_MS_PART for m in (9, 33, 52, 61)]

    @property
    def range_start(self) -> int:
        return self.base_ms + 6 * MINUTE + EVAL_MS_PART

    @property
    def range_end(self) -> int:
        return self.base_ms + N_SCRAPES * SCRAPE_MS + 5 * MINUTE + EVAL_MS_PART


# ---------------------------------------------------------------------------------------------
# Data: cumulative integer native histograms fed by random observations
# ---------------------------------------------------------------------------------------------


def bucket_index(x: float, schema: int) -> int:
    """Index of the exponential bucket (2^((i-1)/2^s), 2^(i/2^s)] holding x > 0."""
    return math.ceil(math.log2(x) * 2.0 ** schema)


@dataclass
class NativeHistogram:
    schema: int
    zero_threshold: float
    zero: int = 0
    count: int = 0
    sum: float = 0.0
    positive: dict[int, int] = field(default_factory=dict)
    negative: dict[int, int] = field(default_factory=dict)

    def observe(self, v: float) -> None:
        self.count += 1
        self.sum += v
        if abs(v) <= self.zero_threshold:
            self.zero += 1
            return
        side = self.positive if v > 0 else self.negative
        i = bucket_index(abs(v), self.schema)
        side[i] = side.get(i, 0) + 1

    def copy(self) -> "NativeHistogram":
        return NativeHistogram(self.schema, self.zero_threshold, self.zero, self.count, self.sum,
                               dict(self.positive), dict(self.negative))


@dataclass
class HistSeries:
    labels: dict[str, str]
    points: list[tuple[int, NativeHistogram]]
    stale_at: int | None = None


def _spans_and_deltas(buckets: dict[int, int]) -> tuple[list[tuple[int, int]], list[int]]:
    """Wire spans (first offset absolute, later ones the gap) and count deltas."""
    spans: list[tuple[int, int]] = []
    deltas: list[int] = []
    prev_end = None
    prev_count = 0
    for i in sorted(buckets):
        if prev_end is not None and i == prev_end:
            spans[-1] = (spans[-1][0], spans[-1][1] + 1)
        else:
            spans.append((i if prev_end is None else i - prev_end, 1))
        prev_end = i + 1
        deltas.append(buckets[i] - prev_count)
        prev_count = buckets[i]
    return spans, deltas


def _zz(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _encode_span(offset: int, length: int) -> bytes:
    """BucketSpan{offset=1 (sint32), length=2 (uint32)}."""
    out = b""
    if offset:
        out += _key(1, _VARINT) + _varint(_zz(offset))
    if length:
        out += _key(2, _VARINT) + _varint(length)
    return out


def encode_histogram(t_ms: int, h: NativeHistogram) -> bytes:
    """prometheus.Histogram with integer counts (what Prometheus 2.42 accepts)."""
    out = bytearray()
    out += _key(1, _VARINT) + _varint(h.count)  # count_int (oneof: always written)
    if h.sum:
        out += _key(3, _I64) + struct.pack("<d", h.sum)
    if h.schema:
        out += _key(4, _VARINT) + _varint(_zz(h.schema))
    out += _key(5, _I64) + struct.pack("<d", h.zero_threshold)
    out += _key(6, _VARINT) + _varint(h.zero)  # zero_count_int
    for field_spans, field_deltas, buckets in ((8, 9, h.negative), (11, 12, h.positive)):
        spans, deltas = _spans_and_deltas(buckets)
        for off, length in spans:
            out += _len_field(field_spans, _encode_span(off, length))
        if deltas:
            out += _len_field(field_deltas, b"".join(_varint(_zz(d)) for d in deltas))
    out += _key(15, _VARINT) + _varint(t_ms)
    return bytes(out)


def encode_series(labels: dict[str, str], samples: list[tuple[int, float]],
                  hists: list[tuple[int, NativeHistogram]]) -> bytes:
    out = bytearray()
    for name, value in sorted(labels.items()):
        out += _len_field(1, encode_label(name, value))
    for t, v in samples:
        out += _len_field(2, encode_sample(t, v))
    for t, h in hists:
        out += _len_field(4, encode_histogram(t, h))
    return bytes(out)


def generate(base_ms: int) -> list[HistSeries]:
    rng = random.Random(4242)
    specs = [
        # labels, schema, zero threshold, observation generator, reset minute, last minute
        ({"__name__": NAME, "job": "api", "instance": "a"}, 3, 1e-3,
         lambda: rng.lognormvariate(math.log(0.2), 0.8), None, None),
        ({"__name__": NAME, "job": "api", "instance": "b"}, 1, 1e-3,
         lambda: rng.lognormvariate(math.log(0.5), 1.2), 30, None),
        ({"__name__": NAME, "job": "batch", "instance": "c"}, 0, 0.01,
         lambda: 0.0 if rng.random() < 0.1 else rng.gauss(0.0, 2.0), None, 50),
        ({"__name__": TEMP, "job": "sensor"}, -1, 1e-3,
         lambda: rng.gauss(0.0, 10.0), None, None),
    ]
    out = []
    for labels, schema, zt, gen, reset_min, last_min in specs:
        h = NativeHistogram(schema, zt)
        points = []
        for k in range(N_SCRAPES):
            t = base_ms + k * SCRAPE_MS
            if last_min is not None and t > base_ms + last_min * MINUTE:
                break
            if reset_min is not None and k == reset_min * MINUTE // SCRAPE_MS:
                h = NativeHistogram(schema, zt)  # the process restarted
            # Few observations at first, so the bucket layout grows over time.
            for _ in range(rng.randint(0, 3 + k // 20)):
                h.observe(gen())
            points.append((t, h.copy()))
        stale_at = points[-1][0] + SCRAPE_MS // 2 if last_min is not None else None
        out.append(HistSeries(labels, points, stale_at))
    return out


def send(endpoint: Endpoint, series: list[HistSeries]) -> None:
    """Twenty scrapes per request, all series in time order; stale markers on their own."""
    per_request = 20
    for start in range(0, N_SCRAPES, per_request):
        body = bytearray()
        for s in series:
            chunk = s.points[start:start + per_request]
            if chunk:
                body += _len_field(1, encode_series(s.labels, [], chunk))
        if body:
            _post(endpoint, bytes(body))
    for s in series:
        if s.stale_at is not None:
            _post(endpoint, _len_field(1, encode_series(s.labels, [(s.stale_at, STALE_NAN)], [])))


def _post(endpoint: Endpoint, request: bytes) -> None:
    r = endpoint.session.post(endpoint.write_url, data=snappy_block(request), headers=HEADERS, timeout=30)
    assert r.status_code in (200, 204), f"{endpoint.name}: HTTP {r.status_code}: {r.text[:500]}"


def wait_for_data(endpoint: Endpoint, series: list[HistSeries], window: Window, timeout_s: float = 60.0) -> None:
    expected = sum(len(s.points) for s in series)
    at = window.base_ms + N_SCRAPES * SCRAPE_MS
    expr = 'sum(count_over_time({__name__=~"nh_.+"}[3h]))'
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        a = endpoint.query(expr, at)
        if a.ok and a.body["data"]["result"]:
            last = float(a.body["data"]["result"][0]["value"][1])
            if last == expected:
                return
        time.sleep(0.25)
    raise AssertionError(f"{endpoint.name}: {last} of {expected} histogram samples visible")


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def window() -> Window:
    now = int(time.time() * 1000)
    base = now - N_SCRAPES * SCRAPE_MS - 3 * MINUTE
    return Window(base - base % MINUTE)


@pytest.fixture(scope="module")
def dataset(window) -> list[HistSeries]:
    return generate(window.base_ms)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, dataset, window):
    try:
        prometheus_binary()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)
    proc = PrometheusProcess(tmp_path_factory.mktemp("prometheus-nh"), name="prometheus",
                             extra_args=("--enable-feature=native-histograms",)).start()
    try:
        endpoint = Endpoint(proc.url, "prometheus")
        try:
            send(endpoint, dataset)
            wait_for_data(endpoint, dataset, window)
        except (AssertionError, requests.RequestException) as e:
            pytest.fail(f"feeding Prometheus failed: {e}\n{proc.log_tail()}", pytrace=False)
        yield endpoint
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def weft_nh(weft_module_factory, dataset, window) -> Endpoint:
    server = weft_module_factory(name="weft-nh")
    endpoint = Endpoint(server.url, "weft")
    try:
        send(endpoint, dataset)
        wait_for_data(endpoint, dataset, window)
    except (AssertionError, requests.RequestException) as e:
        pytest.fail(f"feeding weft failed: {e}", pytrace=False)
    return endpoint


# ---------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------

RATE = f"rate({NAME}[5m])"
EXACT = [
    # Raw selectors: the API's histogram JSON, instant and range.
    NAME,
    TEMP,
    f'{NAME}{{job="batch"}}',
    # Histogram-valued functions and aggregations.
    RATE,
    f"increase({TEMP}[10m])",
    f"sum({RATE})",
    f"sum by (job) ({RATE})",
    f"sum({NAME})",
    # Floats out of histograms.
    f"histogram_count({RATE})",
    f"histogram_sum({RATE})",
    f"histogram_count({NAME})",
    f"histogram_sum({TEMP})",
    f"histogram_count(sum({RATE}))",
    f"histogram_sum(rate({TEMP}[5m]))",
    f"sum(histogram_count({RATE}))",
    f"histogram_count({RATE}) > 0.2",
    # Fractions at bucket boundaries of every schema used (no interpolation).
    f'histogram_fraction(0, 0.5, rate({NAME}{{job="api"}}[5m]))',
    f"histogram_fraction(-1, 1, rate({TEMP}[5m]))",
    f"histogram_fraction(-4, 16, {TEMP})",
    f'histogram_fraction(1, 2, {NAME}{{job="batch"}})',
]
# (expression, bucket width factor of the coarsest schema involved).
QUANTILES = [
    (f"histogram_quantile(0.9, {RATE})", 2.0),
    (f"histogram_quantile(0.5, sum({RATE}))", 2.0),
    (f'histogram_quantile(0.99, rate({NAME}{{instance="a"}}[5m]))', 2.0 ** (2.0 ** -3)),
    (f"histogram_quantile(0.75, {TEMP})", 4.0),
]

QUERIES = [Query(f"nh-{i:02d}", e, "native-histograms") for i, e in enumerate(EXACT)]
# Range-vector results of instant queries (the matrix JSON with `histograms`).
QUERIES += [Query(f"nh-m{i}", e, "native-histograms", range_steps=())
            for i, e in enumerate([f"{TEMP}[5m]", f'{NAME}{{job="api"}}[2m]'])]


@pytest.mark.parametrize("query", QUERIES, ids=[q.expr for q in QUERIES])
def test_native_histogram_query_matches_prometheus(query, prometheus, weft_nh, window):
    outcome = evaluate(query, weft_nh, prometheus, window)
    assert outcome.ok, outcome.report("weft", "prometheus")
    # Agreement on nothing proves nothing: the reference must have answered with data.
    if query.range_steps:
        r = prometheus.query_range(query.expr, window.range_start, window.range_end, 60)
    else:
        r = prometheus.query(query.expr, window.instants[1])
    assert r.ok and r.body["data"]["result"], r.summary()


def _points(answer: ApiAnswer) -> dict:
    """{(labels, t): value} of a vector or matrix answer."""
    out = {}
    data = answer.body["data"]
    for s in data["result"]:
        key = tuple(sorted(s["metric"].items()))
        pts = [s["value"]] if "value" in s else s.get("values", [])
        for t, v in pts:
            out[(key, float(t))] = float(v)
    return out


def _same_bucket(a: float, b: float, factor: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    if (a > 0) != (b > 0) or a == 0 or b == 0:
        return False
    ratio = max(abs(a), abs(b)) / min(abs(a), abs(b))
    return ratio <= factor * (1 + 1e-9)


@pytest.mark.parametrize("expr,factor", QUANTILES, ids=[q[0] for q in QUANTILES])
def test_native_histogram_quantile_within_one_bucket(expr, factor, prometheus, weft_nh, window):
    answers = [(f"instant @{t}", weft_nh.query(expr, t), prometheus.query(expr, t)) for t in window.instants]
    answers.append(("range", weft_nh.query_range(expr, window.range_start, window.range_end, 60),
                    prometheus.query_range(expr, window.range_start, window.range_end, 60)))
    compared = 0
    for what, a, b in answers:
        assert a.ok and b.ok, (what, a.summary(), b.summary())
        pa, pb = _points(a), _points(b)
        assert set(pa) == set(pb), f"{what}: series/timestamps differ: only weft {sorted(set(pa) - set(pb))[:3]}, only prometheus {sorted(set(pb) - set(pa))[:3]}"
        bad = [(k, pa[k], pb[k]) for k in pa if not _same_bucket(pa[k], pb[k], factor)]
        assert not bad, f"{what}: not within one bucket (weft, prometheus): " + "; ".join(
            f"{fmt_labels(dict(k[0]))}@{k[1]} {x} {y}" for k, x, y in bad[:5])
        compared += len(pa)
    assert compared > 10


def test_raw_histogram_json_shape(prometheus, weft_nh, window):
    """Spot check of the API shape itself (the comparison above checks the numbers)."""
    t = window.instants[1]
    a = weft_nh.query(f'{NAME}{{instance="a"}}', t)
    sample = a.body["data"]["result"][0]
    assert set(sample) == {"metric", "histogram"}, sample
    ts, h = sample["histogram"]
    assert ts == pytest.approx(t / 1000)
    assert set(h) == {"count", "sum", "buckets"} and isinstance(h["count"], str)
    assert all(len(b) == 4 and b[0] in (0, 1, 2, 3) for b in h["buckets"])
    r = weft_nh.query_range(TEMP, window.range_start, window.range_end, 60)
    s = r.body["data"]["result"][0]
    assert "values" not in s and len(s["histograms"]) > 50, list(s)
    assert diff_answers(r, prometheus.query_range(TEMP, window.range_start, window.range_end, 60)) == []
    # Negative buckets are [lower, upper) (rule 1), positive (lower, upper] (rule 0), the
    # zero bucket closed (rule 3), as Prometheus renders them.
    a = weft_nh.query(f'{NAME}{{instance="c"}}', t)
    buckets = a.body["data"]["result"][0]["histogram"][1]["buckets"]
    assert {b[0] for b in buckets} == {0, 1, 3}, buckets
    assert [b for b in buckets if b[0] == 3][0][1:3] == ["-0.01", "0.01"]
    assert diff_answers(a, prometheus.query(f'{NAME}{{instance="c"}}', t)) == []


def test_stale_marker_ends_the_histogram_series(prometheus, weft_nh, window):
    t = window.base_ms + 52 * MINUTE + EVAL_MS_PART
    for ep in (weft_nh, prometheus):
        res = ep.query(f'{NAME}{{instance="c"}}', t).body["data"]["result"]
        assert res == [], (ep.name, res)
        res = ep.query(f'{NAME}{{instance="c"}}', t - 3 * MINUTE).body["data"]["result"]
        assert len(res) == 1 and "histogram" in res[0], (ep.name, res)


def test_remote_write_reports_histograms_written(weft_factory, window):
    server = weft_factory()
    h = NativeHistogram(0, 1e-3)
    for v in (0.5, 3.0, -2.0, 0.0):
        h.observe(v)
    t = int(time.time() * 1000)
    body = _len_field(1, encode_series({"__name__": "nh_single"}, [], [(t, h), (t + 1000, h)]))
    r = server.session.post(server.url + "/api/v1/write", data=snappy_block(body), headers=HEADERS, timeout=30)
    assert r.status_code == 204, r.text
    assert r.headers["X-Prometheus-Remote-Write-Histograms-Written"] == "2"
    assert r.headers["X-Prometheus-Remote-Write-Samples-Written"] == "0"
    # Survives a restart (WAL replay), with the same JSON.
    before = server.session.get(server.url + "/api/v1/query",
                                params={"query": "nh_single", "time": str((t + 1000) / 1000)}, timeout=10).json()
    server.restart()
    after = server.session.get(server.url + "/api/v1/query",
                               params={"query": "nh_single", "time": str((t + 1000) / 1000)}, timeout=10).json()
    assert after == before
    buckets = after["data"]["result"][0]["histogram"][1]["buckets"]
    assert buckets == [[1, "-2", "-1", "1"], [3, "-0.001", "0.001", "1"], [0, "0.25", "0.5", "1"],
                       [0, "2", "4", "1"]], buckets


# ---------------------------------------------------------------------------------------------
# OTLP exponential histograms from the OpenTelemetry SDK
# ---------------------------------------------------------------------------------------------


def test_otel_sdk_exponential_histogram_is_queryable(weft):
    exporter = HttpMetricExporter(endpoint=weft.otlp_http_url + "/v1/metrics")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    views = [View(instrument_name=n, aggregation=ExponentialBucketHistogramAggregation(max_size=160, max_scale=20))
             for n in ("payment.duration", "tight.values")]
    provider = MeterProvider(resource=Resource.create({"service.name": "pay"}), metric_readers=[reader],
                             views=views)
    meter = provider.get_meter("pay.meter")
    hist = meter.create_histogram("payment.duration", unit="s")
    values = [0.0, 0.011, 0.012, 0.013, 0.25, 0.3, 1.75]
    for v in values:
        hist.record(v, {"method": "card"})
    # Values this close make the SDK choose a scale above 8 (the finest native schema).
    tight = meter.create_histogram("tight.values")
    for k in range(9):
        tight.record(1.0001 + k * 0.0001)
    assert reader.force_flush(timeout_millis=10_000)
    provider.shutdown()
    t = time.time()
    q = lambda e: weft.session.get(weft.url + "/api/v1/query", params={"query": e, "time": str(t)},
                                   timeout=10).json()["data"]["result"]
    res = q("payment_duration_seconds")
    assert len(res) == 1, res
    assert res[0]["metric"]["job"] == "pay" and res[0]["metric"]["method"] == "card"
    h = res[0]["histogram"][1]
    assert float(h["count"]) == len(values)
    assert float(h["sum"]) == pytest.approx(sum(values))
    # Every exponential bucket spans the same factor 2^(2^-schema), schema in -4..=8.
    expo = [b for b in h["buckets"] if b[0] == 0]
    ratios = {round(math.log2(math.log2(float(b[2]) / float(b[1]))), 6) for b in expo}
    assert len(ratios) == 1 and -8 <= ratios.pop() <= 4, expo
    # The zero observation is in the zero bucket (threshold: Prometheus' OTLP default).
    assert [b for b in h["buckets"] if b[0] == 3] == [[3, "-1e-128", "1e-128", "1"]]
    assert float(q("histogram_count(payment_duration_seconds)")[0]["value"][1]) == len(values)
    assert float(q("histogram_fraction(0, 0.1, payment_duration_seconds)")[0]["value"][1]) == pytest.approx(4 / 7)
    median = float(q("histogram_quantile(0.5, payment_duration_seconds)")[0]["value"][1])
    assert 0.012 <= median <= 0.0131, median
    # Downscaled to schema 8: buckets of 2^(1/256), the nine values merged into few of them.
    h = q("tight_values")[0]["histogram"][1]
    assert float(h["count"]) == 9
    assert all(float(b[2]) / float(b[1]) == pytest.approx(2 ** (1 / 256), rel=1e-12) for b in h["buckets"]), h
    assert 1 <= len(h["buckets"]) <= 2 and sum(float(b[3]) for b in h["buckets"]) == 9
