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
