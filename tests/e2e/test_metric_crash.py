"""kill -9 durability for metrics: every remote-write sample acknowledged with 204 survives
any number of crashes, while cuts into blocks (`metrics.head_max_age: 1s`), `/flush` and
compaction run. Each sample is its own series (`crash_sample{w,n}`), so the read-back can tell
exactly which acknowledged samples exist: all of them, each once; unacknowledged ones at most
once. The seed is printed (WEFT_CRASH_SEED=<n> replays it).
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest
import requests

from promql_diff.remote_write import HEADERS, encode_write_request, snappy_block

CONFIG = """\
metrics:
  head_max_age: 1s
  maintenance_interval: 1s
wal:
  fsync: {fsync}
"""
KILLS = 6
SERIES_PER_REQUEST = 20


class Writer:
    """Threads sending unique one-sample series; records which were acknowledged."""

    def __init__(self, url: str, t0: int, next_id: list[int], lock: threading.Lock):
        self.url = url
        self.t0 = t0
        self.next_id = next_id
        self.lock = lock
        self.acked: set[int] = set()
        self.sent: set[int] = set()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(3)]

    def start(self) -> "Writer":
        for t in self.threads:
            t.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(20)

    def _run(self) -> None:
        session = requests.Session()
        session.trust_env = False
        while not self.stop.is_set():
            with self.lock:
                first = self.next_id[0]
                self.next_id[0] += SERIES_PER_REQUEST
            ids = list(range(first, first + SERIES_PER_REQUEST))
            body = snappy_block(encode_write_request(
                ([("__name__", "crash_sample"), ("n", str(i))], [(self.t0 + i, float(i))]) for i in ids))
            self.sent.update(ids)
            try:
                r = session.post(self.url + "/api/v1/write", data=body, headers=HEADERS, timeout=5)
            except requests.RequestException:
                time.sleep(0.02)
                continue
            if r.status_code == 204:
                self.acked.update(ids)
            else:
                assert r.status_code == 503, (r.status_code, r.text)
                time.sleep(0.02)


def _flush_ignoring_the_crash(url: str) -> None:
    """A /flush the coming kill may cut short (its outcome does not matter)."""
    try:
        requests.post(url + "/flush", timeout=10, proxies={"http": None})
    except requests.RequestException:
        pass


@pytest.mark.parametrize("fsync", ["always", "never"])
def test_kill_9_keeps_every_acknowledged_sample(weft_factory, fsync):
    seed = int(os.environ.get("WEFT_CRASH_SEED", time.time_ns() % 1_000_000))
    print(f"metric crash test seed: {seed} (rerun with WEFT_CRASH_SEED={seed})")
    rng = random.Random(seed)
    server = weft_factory(config=CONFIG.format(fsync=fsync), name=f"mcrash-{fsync}")
    t0 = int(time.time() * 1000) - 600_000
    next_id, lock = [0], threading.Lock()
    acked: set[int] = set()
    sent: set[int] = set()
    for k in range(KILLS):
        if k > 0:
            server.start()
        writer = Writer(server.url, t0, next_id, lock).start()
        time.sleep(rng.uniform(0.3, 2.6))
        if k == 2:
            # One cut surely completes (blocks + checkpoint) while writes continue.
            assert requests.post(server.url + "/flush", timeout=30, proxies={"http": None}).status_code in (200, 204)
            time.sleep(rng.uniform(0.1, 0.5))
        elif k % 2 == 1:
            threading.Thread(target=_flush_ignoring_the_crash, args=(server.url,), daemon=True).start()
            time.sleep(rng.uniform(0.0, 0.05))
        server.kill()
        writer.finish()
        acked |= writer.acked
        sent |= writer.sent
    server.start()
    assert len(acked) > 500, f"too few acknowledged samples to mean anything: {len(acked)}"
    r = server.session.get(server.url + "/api/v1/query", timeout=60, params={
        "query": "count_over_time(crash_sample[20m])", "time": str((t0 + 300_000) / 1000)})
    body = r.json()
    assert body["status"] == "success", body
    counts = {int(s["metric"]["n"]): s["value"][1] for s in body["data"]["result"]}
    missing = sorted(acked - counts.keys())
    assert not missing, f"{len(missing)} acknowledged samples lost, e.g. {missing[:10]} (seed {seed})"
    twice = {n: c for n, c in counts.items() if c != "1"}
    assert not twice, f"samples stored more than once: {list(twice.items())[:10]}"
    invented = sorted(counts.keys() - sent)
    assert not invented, f"samples nobody sent: {invented[:10]}"
    # Blocks were written along the way.
    assert any((server.data_dir / "metrics" / "single-tenant").iterdir())
