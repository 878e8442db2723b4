"""kill -9 durability: every acknowledged span survives any number of crashes exactly once.

Senders push many small, uniquely identified batches (OTLP/HTTP protobuf and gRPC) while the
server is SIGKILLed at random moments — including right after a `/flush` started and while
time-based cuts (`traces.head_max_age: 2s`) run — and restarted on the same data dir each time.
At the end every trace is read back by ID: acknowledged spans exactly once, unacknowledged ones
at most once, nothing invented. The seed is printed so a failure can be replayed
(WEFT_CRASH_SEED=<n>).
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest
import requests

from ingest_load import Ledger, Sender, verify_ledger
from weft_client import Counter

CRASH_CONFIG = """\
traces:
  head_max_age: 2s
wal:
  fsync: {fsync}
"""

KILLS = 8
TEST_BUDGET_S = 90.0
MAX_TRACES = 20_000


def _fire_flush(server, results: list) -> threading.Thread:
    def run():
        try:
            r = requests.post(f"{server.url}/flush", timeout=10, proxies={"http": None})
            results.append(r.status_code)
        except requests.RequestException as e:
            results.append(type(e).__name__)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


# Every mode promises to survive a process crash (only `always` also survives power loss).
@pytest.mark.parametrize("fsync", ["always", "interval", "never"])
def test_kill_9_never_loses_or_duplicates_acknowledged_spans(weft_factory, fsync):
    seed = int(os.environ.get("WEFT_CRASH_SEED", time.time_ns() % 1_000_000))
    print(f"crash test seed: {seed} (rerun with WEFT_CRASH_SEED={seed})")
    rng = random.Random(seed)
    started = time.monotonic()
    server = weft_factory(config=CRASH_CONFIG.format(fsync=fsync), name=f"crash-{fsync}")
    ledger = Ledger()
    ids = Counter(1)
    flush_results: list = []
    plan = []
    for k in range(KILLS):
        if k in (2, 5):
            plan.append(("after-flush", rng.uniform(0.3, 0.9)))
        elif k in (1, 6):
            plan.append(("after-cut", rng.uniform(2.3, 3.0)))  # > head_max_age: a time-based cut ran
        elif k == 7:
            plan.append(("right-after-ready", rng.uniform(0.0, 0.1)))
        else:
            plan.append(("random", rng.uniform(0.2, 1.5)))
    for k, (kind, delay) in enumerate(plan):
        if k in (3, 6):
            # A crash during start-up (WAL replay, block loading) must not damage anything either.
            server.spawn_and_kill(rng.uniform(0.0, 0.08))
        if k > 0:
            server.start()
        sender = Sender(server, ledger, ids, max_traces=MAX_TRACES, pause_s=0.01).start()
        try:
            time.sleep(delay)
            if kind == "after-flush":
                flusher = _fire_flush(server, flush_results)
                time.sleep(rng.uniform(0.0, 0.03))
                server.kill()
                flusher.join(15)
            else:
                server.kill()
        finally:
            sender.stop()
        assert not sender.exhausted, "the sender ran out of trace IDs: later kills would have had no load"
        assert time.monotonic() - started < TEST_BUDGET_S - 25, "crash loop is too slow for the time budget"

    server.start()
    m = server.metrics()
    assert m.get("weft_trace_blocks") >= 1, "no block was ever cut (traces.head_max_age: 2s)"
    assert not ledger.unexpected, "valid requests got non-retryable answers:\n" + "\n".join(ledger.unexpected[:20])
    assert ledger.requests_acked >= 100, f"only {ledger.requests_acked} requests were acknowledged: too little load"
    stats = verify_ledger(server, ledger)
    print(f"crash test: {ledger.requests_sent} requests, {ledger.requests_acked} acknowledged, "
          f"{ledger.acked_spans} acknowledged spans, refusals {dict(ledger.refusals)}, flushes {flush_results}, {stats}")
    assert stats["acked_spans_found"] == ledger.acked_spans

    # Replaying again must not duplicate anything, and an ordered shutdown after recovery is clean.
    server.restart()
    verify_ledger(server, ledger)
    assert time.monotonic() - started < TEST_BUDGET_S, f"crash test took {time.monotonic() - started:.0f}s"
