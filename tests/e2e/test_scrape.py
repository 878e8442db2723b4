"""Scraping with Prometheus' own `scrape_configs`, against real targets: the Node.js
prom-client service of seed 002 (run with node) and Prometheus 2.42's own /metrics.

Checks what a Prometheus user expects: `up` and the `scrape_*` series, target labels,
metric relabeling, honor_labels, file service discovery, /api/v1/targets, and staleness when
a target stops answering or leaves file SD.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from promql_diff.harness import PrometheusProcess, free_port

APP_DIR = Path(__file__).parent / "apps" / "promclient"


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (scripts/test.sh installs nodejs)", pytrace=False)
    if not (APP_DIR / "node_modules" / "prom-client").is_dir():
        pytest.fail(f"run `npm ci --prefix {APP_DIR}` first (scripts/test.sh does)", pytrace=False)
    return node


class NodeApp:
    """The seed's Express + prom-client service on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "NodeApp":
        env = dict(os.environ, PORT=str(self.port))
        self.proc = subprocess.Popen([node_binary(), "app.js"], cwd=APP_DIR, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://{self.address}/metrics", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the node app did not start")

    def hit(self, n: int) -> None:
        for _ in range(n):
            assert requests.get(f"http://{self.address}/fast", timeout=5).status_code == 200

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def node_app():
    app = NodeApp().start()
    yield app
    app.stop()


def instant(server, q: str) -> list[dict]:
    r = server.session.get(server.url + "/api/v1/query", params={"query": q}, timeout=10)
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for(server, q: str, pred, timeout_s: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    result: list[dict] = []
    while time.monotonic() < deadline:
        result = instant(server, q)
        if pred(result):
            return result
        time.sleep(0.25)
    raise AssertionError(f"{q}: condition not met within {timeout_s}s; last answer {result}")


def values(result: list[dict]) -> list[str]:
    return [r["value"][1] for r in result]


def test_scrapes_the_seed_node_app_and_prometheus(weft_factory, node_app, tmp_path):
    with PrometheusProcess(tmp_path / "prom", name="target") as prom:
        prom_addr = prom.url.removeprefix("http://")
        server = weft_factory(f"""
scrape:
  global:
    scrape_interval: 1s
  scrape_configs:
    - job_name: node-app
      static_configs:
        - targets: ['{node_app.address}']
          labels: {{team: checkout}}
      metric_relabel_configs:
        - source_labels: [__name__]
          regex: 'nodejs_gc_duration_seconds.*'
          action: drop
    - job_name: prometheus
      honor_labels: true
      static_configs:
        - targets: ['{prom_addr}']
""")
        node_app.hit(3)
        up = wait_for(server, "up", lambda r: len(r) == 2 and values(r) == ["1", "1"])
        jobs = sorted(r["metric"]["job"] for r in up)
        assert jobs == ["node-app", "prometheus"]
        hits = wait_for(server, 'api_hits{job="node-app"}', lambda r: values(r) == ["3"])
        assert hits[0]["metric"]["instance"] == node_app.address
        assert hits[0]["metric"]["team"] == "checkout"
        fast = instant(server, 'http_requests{route="/fast", method="GET", status="200"}')
        assert values(fast) == ["3"]
        # Default Node metrics arrive; the relabel rule dropped the GC histogram.
        assert instant(server, 'process_cpu_user_seconds_total{job="node-app"}')
        assert not instant(server, '{__name__=~"nodejs_gc_duration_seconds.*"}')
        # Prometheus' own metrics, classic histograms included.
        assert instant(server, 'prometheus_http_request_duration_seconds_bucket{job="prometheus", le="+Inf"}')
        for name in ("scrape_duration_seconds", "scrape_samples_scraped",
                     "scrape_samples_post_metric_relabeling", "scrape_series_added"):
            assert len(instant(server, name)) == 2, name
        # Metadata from the scrape.
        md = server.session.get(server.url + "/api/v1/metadata", params={"metric": "api_hits"}, timeout=10).json()
        assert md["data"]["api_hits"][0] == {"type": "counter", "help": "Number of hits to the API", "unit": ""}
        targets = server.session.get(server.url + "/api/v1/targets", timeout=10).json()["data"]
        assert {t["scrapePool"] for t in targets["activeTargets"]} == {"node-app", "prometheus"}
        assert all(t["health"] == "up" for t in targets["activeTargets"]), targets

        # The app goes away: up becomes 0 and its series go stale (no value at "now").
        node_app.stop()
        wait_for(server, 'up{job="node-app"}', lambda r: values(r) == ["0"])
        wait_for(server, 'api_hits', lambda r: r == [])
        # The history is kept.
        kept = instant(server, 'max_over_time(api_hits[5m])')
        assert values(kept) == ["3"]
        m = server.metrics()
        assert m.get("weft_scrape_stale_markers_total") > 0
        assert m.get("weft_scrapes_total") > 0


def test_file_sd_targets_come_and_go(weft_factory, node_app, tmp_path):
    sd = tmp_path / "targets.json"
    sd.write_text(json.dumps([{"targets": [node_app.address], "labels": {"env": "e2e"}}]))
    server = weft_factory(f"""
scrape:
  scrape_configs:
    - job_name: file
      scrape_interval: 1s
      file_sd_configs:
        - files: ['{sd}']
          refresh_interval: 1s
""")
    wait_for(server, 'up{job="file", env="e2e"}', lambda r: values(r) == ["1"])
    wait_for(server, 'process_cpu_user_seconds_total{job="file"}', lambda r: len(r) == 1)
    sd.write_text("[]")
    # Removed from discovery: its series, `up` included, are marked stale.
    wait_for(server, 'up{job="file"}', lambda r: r == [], timeout_s=40)
    wait_for(server, 'process_cpu_user_seconds_total{job="file"}', lambda r: r == [], timeout_s=10)
    targets = server.session.get(server.url + "/api/v1/targets", timeout=10).json()["data"]
    assert targets["activeTargets"] == []


def test_invalid_scrape_config_is_refused_with_the_key(weft_bin, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("scrape:\n  scrape_configs:\n    - job_name: x\n      scrape_interval: 1s\n"
                   "      scrape_timeout: 5s\n      static_configs: [{targets: ['a:1']}]\n")
    out = subprocess.run([str(weft_bin), "check-config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "scrape" in out.stderr and "scrape_timeout" in out.stderr, out.stderr
