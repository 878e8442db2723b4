"""Deterministic, realistic test data for the differential PromQL test.

One hour of data at a 15 s scrape interval (240 scrapes), generated from a fixed seed so the
same `base_ms` always yields the same samples. All series of one scrape target share their
timestamps (`base + i*15000 + jitter`), the way a real scrape does; the jitter is 1..400 ms
per target, so no sample ever lies on a whole second. Queries are evaluated at times whose
millisecond part is .537 (see queries.py), so no range or lookback boundary can coincide
with a sample, a subquery step, or another boundary: the documented Prometheus 2 -> 3 change
from left-closed to left-open ranges cannot influence any result.

What is in it (about 370 series, ~88k samples):
  * http_requests_total{job,instance,method,status}            counters, some with resets;
    a target that stops mid-way, a target that starts late, status="503" series that
    appear late (starting at exactly 0 and staying 0 for a while)
  * http_request_duration_seconds_{bucket,sum,count}{le=...}   classic histograms with
    consistent, monotone buckets and a reset of a whole histogram
  * rpc_duration_seconds{quantile=...}, _sum, _count             a summary
  * node_memory_free_bytes, disk_used_bytes                     gauges (disk: series that differ
                                                                in one label only)
  * node_info{version,os}                                       info metric (value 1) for joins
  * temperature_celsius{sensor,location}                        gauges with negative values,
    exact zeros, unicode and spaces in label values, a sensor starting late and one stopping
  * up{job,instance}                                            1 / 0
  * build_info{branch}                                          one label value contains a
                                                                newline (regex `.` difference)
  * late_start_jobs_total{queue}                                a counter crafted to hit the
    Prometheus 2.51 rate-extrapolation change (only used by excluded queries)

No explicit staleness markers are sent: series end by absence.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .remote_write import Series

SCRAPE_MS = 15_000
N_SCRAPES = 240  # one hour
SEED = 20240501

HIST_BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
TEMPERATURE_SENSORS = [
    # sensor, location, mean, daily-ish amplitude
    ("s01", "Oslo", 0.4, 1.5),
    ("s02", "São Paulo", 24.0, 3.0),
    ("s03", "New York", 12.0, 4.0),
    ("s04", "東京", 18.0, 2.5),
    ("s05", "Zürich HQ", 6.0, 2.0),
    ("s06", "McMurdo Station", -24.0, 5.0),
    ("s07", "Dubai", 38.5, 1.0),
    ("s08", "Reykjavík", -1.0, 2.0),
    ("s09", "Server Room #2", 21.0, 0.5),
    ("s10", "Ürümqi / 乌鲁木齐", -8.0, 6.0),
]


@dataclass
class Dataset:
    """Generated series plus the time window they cover (all times in milliseconds)."""

    series: list[Series]
    base_ms: int  # first scrape slot (whole second); samples are at base + i*15000 + jitter
    end_ms: int  # last sample timestamp of the data set

    @property
    def n_samples(self) -> int:
        return sum(len(s.samples) for s in self.series)

    @property
    def last_sample_ms(self) -> int:
        return max(s.samples[-1][0] for s in self.series if s.samples)


class _Target:
    """A scrape target: its timestamps (with a fixed jitter) and the scrapes it is alive for."""

    def __init__(self, rng: random.Random, base_ms: int, first: int = 0, last: int = N_SCRAPES - 1):
        self.jitter = rng.randint(1, 400)
        self.base_ms = base_ms
        self.first = first
        self.last = last

    def steps(self) -> range:
        return range(self.first, self.last + 1)

    def ts(self, i: int) -> int:
        return self.base_ms + i * SCRAPE_MS + self.jitter


def _counter_increments(rng: random.Random, rate_per_s: float) -> float:
    """Integer increment over one scrape interval for a Poisson-like process of `rate_per_s`."""
    mean = rate_per_s * SCRAPE_MS / 1000
    return float(max(0, round(rng.gauss(mean, math.sqrt(mean) + 0.3))))


def _counter_series(rng: random.Random, target: _Target, labels: dict[str, str], rate_per_s: float,
                    reset_at: int | None = None, start_at_zero: bool = False, zero_scrapes: int = 0) -> Series:
    """A counter: large starting value (or 0 for a new series), optional reset at scrape `reset_at`.

    The starting value of a counter that exists from the beginning is at least an hour's
    worth of increments, so rate() never extrapolates towards a zero point inside the data.
    """
    value = 0.0 if start_at_zero else float(round(rate_per_s * rng.uniform(3600, 86400)))
    s = Series(labels)
    for n, i in enumerate(target.steps()):
        if n > 0 and n >= zero_scrapes:
            inc = _counter_increments(rng, rate_per_s)
            value = inc if i == reset_at else value + inc
        s.samples.append((target.ts(i), value))
    return s


def generate(base_ms: int, seed: int = SEED) -> Dataset:
    """The whole data set for scrape slots starting at `base_ms` (must be a whole second)."""
    assert base_ms % 1000 == 0, "base_ms must be a whole second (samples get 1..400 ms of jitter)"
    rng = random.Random(seed)
    out: list[Series] = []

    # ---- job="api": 10 targets; #9 goes away after ~37 min, #10 appears after 20 min ------------
    api_targets: dict[str, _Target] = {}
    for k in range(1, 11):
        first, last = 0, N_SCRAPES - 1
        if k == 9:
            last = 150
        if k == 10:
            first = 80
        api_targets[f"10.0.1.{k}:8080"] = _Target(rng, base_ms, first, last)

    method_rates = {"GET": 12.0, "POST": 3.0, "PUT": 0.8, "DELETE": 0.2}
    status_share = {"200": 1.0, "404": 0.06, "500": 0.01}
    for instance, tgt in api_targets.items():
        late_target = tgt.first > 0
        for method, mrate in method_rates.items():
            for status, share in status_share.items():
                rate = mrate * share * rng.uniform(0.5, 1.5)
                reset_at = rng.randint(40, 200) if rng.random() < 0.12 else None
                out.append(_counter_series(
                    rng, tgt,
                    {"__name__": "http_requests_total", "job": "api", "instance": instance,
                     "method": method, "status": status},
                    rate, reset_at=reset_at, start_at_zero=late_target, zero_scrapes=24 if late_target else 0,
                ))
    # status="503" appears late on three targets: a new series starting at exactly 0.
    for instance in ["10.0.1.1:8080", "10.0.1.2:8080", "10.0.1.3:8080"]:
        base_tgt = api_targets[instance]
        tgt = _Target(rng, base_ms, 100, N_SCRAPES - 1)
        tgt.jitter = base_tgt.jitter
        for method in ["GET", "POST", "PUT", "DELETE"]:
            out.append(_counter_series(
                rng, tgt,
                {"__name__": "http_requests_total", "job": "api", "instance": instance,
                 "method": method, "status": "503"},
                method_rates[method] * 0.05, start_at_zero=True, zero_scrapes=24,
            ))

    # ---- classic histograms on the first six api targets ---------------------------------
    handlers = {"/api/v1/items": (math.log(0.12), 0.9, 6.0), "/healthz": (math.log(0.004), 0.5, 0.5)}
    for k in range(1, 7):
        instance = f"10.0.1.{k}:8080"
        tgt = api_targets[instance]
        for handler, (mu, sigma, obs_rate) in handlers.items():
            out.extend(_histogram(rng, tgt, instance, handler, mu, sigma, obs_rate,
                                  reset_at=120 if k == 2 and handler == "/api/v1/items" else None))

    # ---- a summary on three rpc targets --------------------------------------------------
    rpc_targets = {f"rpc-{k}.example.org:9000": _Target(rng, base_ms) for k in range(1, 4)}
    for instance, tgt in rpc_targets.items():
        out.extend(_summary(rng, tgt, instance))

    # ---- node gauges ---------------------------------------------------------------------
    node_targets = {f"node-{k}:9100": _Target(rng, base_ms, 0, 200 if k == 8 else N_SCRAPES - 1)
                    for k in range(1, 9)}
    for k, (instance, tgt) in enumerate(node_targets.items(), start=1):
        value = rng.uniform(1e9, 8e9)
        trend = rng.uniform(-3e5, 3e5)
        s = Series({"__name__": "node_memory_free_bytes", "job": "node", "instance": instance})
        for i in tgt.steps():
            value = max(1e8, value + trend * 15 + rng.gauss(0, 2e7))
            s.samples.append((tgt.ts(i), float(round(value))))
        out.append(s)
        info = Series({"__name__": "node_info", "job": "node", "instance": instance,
                       "version": "1.7.0" if k % 3 else "1.6.1", "os": "linux"})
        info.samples = [(tgt.ts(i), 1.0) for i in tgt.steps()]
        out.append(info)
        if k <= 4:
            for device, size in (("sda", 2.5e11), ("sdb", 1e12)):
                used = size * rng.uniform(0.2, 0.8)
                d = Series({"__name__": "disk_used_bytes", "job": "node", "instance": instance,
                            "device": device, "mountpoint": "/data"})
                for i in tgt.steps():
                    used = min(size, max(0.0, used + rng.gauss(2e6, 5e7)))
                    d.samples.append((tgt.ts(i), float(round(used))))
                out.append(d)

    # ---- temperature: negative values, exact zeros, unicode/spaces, late start, stop -----
    for sensor, location, mean, amp in TEMPERATURE_SENSORS:
        first = 60 if sensor == "s09" else 0
        last = 180 if sensor == "s03" else N_SCRAPES - 1
        tgt = _Target(rng, base_ms, first, last)
        phase = rng.uniform(0, 2 * math.pi)
        s = Series({"__name__": "temperature_celsius", "job": "sensors", "sensor": sensor, "location": location})
        for i in tgt.steps():
            v = mean + amp * math.sin(phase + i / 40.0) + rng.gauss(0, 0.3)
            if sensor == "s01" and i % 29 == 0:
                v = 0.0  # exact zeros
            s.samples.append((tgt.ts(i), round(v, 3)))
        out.append(s)

    # ---- up ------------------------------------------------------------------------------
    for job, targets in (("api", api_targets), ("rpc", rpc_targets), ("node", node_targets)):
        for instance, tgt in targets.items():
            s = Series({"__name__": "up", "job": job, "instance": instance})
            # A target that went away keeps being "scraped" and reports up=0.
            for i in range(tgt.first, N_SCRAPES):
                s.samples.append((tgt.ts(i), 1.0 if i <= tgt.last else 0.0))
            out.append(s)

    # ---- build_info: one label value contains a newline ----------------------------------
    tgt = _Target(rng, base_ms)
    for branch, version in (("main", "2.0.1"), ("main\nhotfix", "2.0.2")):
        s = Series({"__name__": "build_info", "job": "api", "branch": branch, "version": version})
        s.samples = [(tgt.ts(i), 1.0) for i in tgt.steps()]
        out.append(s)

    # ---- crafted for the excluded rate-extrapolation query (Prometheus 2.51 change) -------
    tgt = _Target(rng, base_ms, 80, N_SCRAPES - 1)
    s = Series({"__name__": "late_start_jobs_total", "job": "batch", "queue": "late"})
    value = 8.0  # 0.8 scrape intervals' worth of increase: the zero point lies in the disputed zone
    for i in tgt.steps():
        s.samples.append((tgt.ts(i), value))
        value += 10.0
    out.append(s)

    last = max(s.samples[-1][0] for s in out)
    return Dataset(series=out, base_ms=base_ms, end_ms=last)


def _histogram(rng: random.Random, tgt: _Target, instance: str, handler: str, mu: float, sigma: float,
               obs_rate: float, reset_at: int | None) -> list[Series]:
    """Cumulative classic histogram series (_bucket per le, _sum, _count) for one handler."""
    bounds = [float(b) for b in HIST_BUCKETS]
    late_target = tgt.first > 0
    counts = [0.0] * len(bounds)
    total_sum = 0.0
    if not late_target:
        # An hour-plus of history, so extrapolation never reaches a zero point.
        for _ in range(rng.randint(240, 2000)):
            n = int(_counter_increments(rng, obs_rate))
            for _ in range(n):
                x = rng.lognormvariate(mu, sigma)
                total_sum += x
                for j, b in enumerate(bounds):
                    if x <= b:
                        counts[j] += 1
    common = {"job": "api", "instance": instance, "handler": handler}
    buckets = [Series({"__name__": "http_request_duration_seconds_bucket", **common, "le": le}) for le in HIST_BUCKETS]
    s_sum = Series({"__name__": "http_request_duration_seconds_sum", **common})
    s_count = Series({"__name__": "http_request_duration_seconds_count", **common})
    for n_scrape, i in enumerate(tgt.steps()):
        if i == reset_at:
            counts = [0.0] * len(bounds)
            total_sum = 0.0
        if n_scrape > 0 and not (late_target and n_scrape < 24):
            n = int(_counter_increments(rng, obs_rate))
            for _ in range(n):
                x = rng.lognormvariate(mu, sigma)
                total_sum += x
                for j, b in enumerate(bounds):
                    if x <= b:
                        counts[j] += 1
        ts = tgt.ts(i)
        for j, series in enumerate(buckets):
            series.samples.append((ts, counts[j]))
        s_sum.samples.append((ts, round(total_sum, 6)))
        s_count.samples.append((ts, counts[-1]))
    return buckets + [s_sum, s_count]


def _summary(rng: random.Random, tgt: _Target, instance: str) -> list[Series]:
    """A summary: quantile gauges (monotone in the quantile) plus _sum and _count counters."""
    common = {"job": "rpc", "instance": instance}
    quantiles = {"0.5": 1.0, "0.9": 2.6, "0.99": 6.5}
    qs = {q: Series({"__name__": "rpc_duration_seconds", **common, "quantile": q}) for q in quantiles}
    s_sum = Series({"__name__": "rpc_duration_seconds_sum", **common})
    s_count = Series({"__name__": "rpc_duration_seconds_count", **common})
    count = float(rng.randint(50_000, 500_000))
    total = count * 0.03
    median = 0.02
    for i in tgt.steps():
        median = min(0.2, max(0.005, median * math.exp(rng.gauss(0, 0.05))))
        n = _counter_increments(rng, 40.0)
        count += n
        total += n * median * 1.3
        ts = tgt.ts(i)
        for q, factor in quantiles.items():
            qs[q].samples.append((ts, round(median * factor * rng.uniform(0.97, 1.03), 6)))
        s_sum.samples.append((ts, round(total, 6)))
        s_count.samples.append((ts, count))
    return list(qs.values()) + [s_sum, s_count]
