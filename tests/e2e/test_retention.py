"""Retention by total bytes, end to end: the data directory never grows past its budget.

The server gets a small disk budget (`traces.max_bytes`) and frequent cuts; the test keeps
ingesting incompressible spans well past the budget while sampling the size of the whole data
directory, then checks the ceiling held, that the oldest data was dropped (and counted), and
that the newest data is still queryable.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from weft_client import make_request, make_span

BUDGET = 4 << 20  # traces.max_bytes
# The budget covers blocks and the WAL; a few small bookkeeping files (checkpoint, lock,
# segment headers) are not counted.
SLACK = 64 << 10

CONFIG = """
traces:
  max_bytes: 4MiB
  head_max_bytes: 512KiB
  head_max_age: 1s
  maintenance_interval: 1s
wal:
  segment_bytes: 256KiB
"""


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except FileNotFoundError:
                pass  # deleted by retention while walking
    return total


def test_data_directory_stays_within_max_bytes(weft_factory):
    server = weft_factory(config=CONFIG, name="retention")
    sent_ids: list[str] = []
    peak = 0
    refused = 0  # disk pressure is answered as retryable (503), never by growing
    deadline = time.monotonic() + 60
    batch_no = 0
    # ~24 MiB of random payload: six times the budget.
    while batch_no < 200 and time.monotonic() < deadline:
        spans = []
        for i in range(20):
            trace_id = os.urandom(16)
            spans.append(make_span(trace_id, os.urandom(8), name=f"op-{i}",
                                   attrs={"payload": os.urandom(3000).hex()[:6000]}))
        r = server.post_otlp(make_request(spans).SerializeToString())
        if r.status_code == 503:
            refused += 1
            time.sleep(0.2)
            continue
        assert r.status_code == 200, (r.status_code, r.text)
        sent_ids.extend(s.trace_id.hex() for s in spans)
        batch_no += 1
        peak = max(peak, dir_bytes(server.data_dir))
    time.sleep(2.5)  # one more cut and retention pass
    peak = max(peak, dir_bytes(server.data_dir))
    final = dir_bytes(server.data_dir)

    assert batch_no >= 100, f"only {batch_no} batches accepted ({refused} refused)"
    assert peak <= BUDGET + SLACK, f"data directory reached {peak} bytes, budget {BUDGET}"
    assert final <= BUDGET + SLACK, f"data directory ends at {final} bytes, budget {BUDGET}"

    metrics = server.metrics()
    dropped = metrics.get("weft_dropped_items_total", signal="traces", reason="retention_bytes")
    assert dropped > 0, "retention by bytes must have dropped (and counted) old spans"
    assert server.get_trace(sent_ids[0]) is None, "the oldest trace is gone"
    assert server.get_trace(sent_ids[-1]) is not None, "the newest trace is kept"


METRIC_CONFIG = """
metrics:
  max_bytes: 2MiB
  head_max_age: 1s
  maintenance_interval: 1s
wal:
  segment_bytes: 128KiB
"""


def test_metric_data_stays_within_max_bytes(weft_factory):
    """The same for metrics: blocks plus the metric WAL stay within `metrics.max_bytes` while
    random-valued samples (which compress poorly) keep arriving by remote write."""
    import random

    from promql_diff.remote_write import HEADERS, encode_write_request, snappy_block

    server = weft_factory(config=METRIC_CONFIG, name="metric-retention")
    rng = random.Random(7)
    dirs = [server.data_dir / "metrics", server.data_dir / "wal-metrics"]
    peak = refused = 0
    t = int(time.time() * 1000) - 3_600_000
    deadline = time.monotonic() + 60
    for batch in range(400):
        if time.monotonic() > deadline:
            break
        t += 1000
        series = [([("__name__", "noise"), ("i", str(i))], [(t, rng.random() * 1e6)]) for i in range(1000)]
        r = server.session.post(server.url + "/api/v1/write", data=snappy_block(encode_write_request(series)),
                                headers=HEADERS, timeout=30)
        if r.status_code == 503:
            refused += 1
            time.sleep(0.2)
        else:
            assert r.status_code == 204, r.text
        peak = max(peak, sum(dir_bytes(d) for d in dirs))
    assert peak <= (2 << 20) + SLACK, f"metric data reached {peak} bytes (budget 2 MiB)"
    m = server.metrics()
    assert m.get("weft_metric_retention_dropped_samples_total", reason="retention_bytes") > 0
    r = server.session.get(server.url + "/api/v1/query", timeout=30,
                           params={"query": "count(noise)", "time": str(t / 1000)})
    assert r.json()["data"]["result"][0]["value"][1] == "1000", r.text
    print(f"peak {peak} bytes, {refused} requests refused as retryable")
