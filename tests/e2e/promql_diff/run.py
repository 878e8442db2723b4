#!/usr/bin/env python3
"""Differential PromQL run from the command line.

    tests/.venv/bin/python tests/e2e/promql_diff/run.py --a URL --b URL
        Generates the data set, sends it by remote write 1.0 to both endpoints
        (POST URL/api/v1/write), waits until both return every sample, runs the whole corpus
        (GET URL/api/v1/query and /api/v1/query_range) and prints every mismatch and a summary.
        The exit code is 1 if any compared query disagrees.

    tests/.venv/bin/python tests/e2e/promql_diff/run.py --self-check
        Starts two Prometheus processes, and does the same Prometheus-vs-Prometheus: every
        query must agree. This validates the harness (data, encoding, comparison).

Options: --no-send with --base-ms N queries data that is already there; --filter REGEX runs
only queries whose id or expression matches; --include-excluded also compares the excluded
probes; --show-excluded lists them.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/e2e, for `promql_diff`

from promql_diff import data, exclusions, queries  # noqa: E402
from promql_diff.harness import Endpoint, PrometheusProcess, evaluate, negative_control, wait_for_data  # noqa: E402


def default_base_ms(now_ms: int | None = None) -> int:
    """A whole minute such that the hour of data ends a few minutes before now."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    base = now_ms - (data.N_SCRAPES * data.SCRAPE_MS) - 3 * queries.MINUTE
    return base - base % queries.MINUTE


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", help="first Prometheus-API base URL, e.g. http://127.0.0.1:9090")
    p.add_argument("--b", help="second Prometheus-API base URL")
    p.add_argument("--self-check", action="store_true", help="start two Prometheus and compare them")
    p.add_argument("--no-send", action="store_true", help="do not send data (needs --base-ms)")
    p.add_argument("--base-ms", type=int, help="data start (ms, whole minute); default: now - 63 min")
    p.add_argument("--filter", help="only queries whose id or expression matches this regex")
    p.add_argument("--include-excluded", action="store_true", help="compare excluded queries as well")
    p.add_argument("--show-excluded", action="store_true", help="list the excluded queries")
    args = p.parse_args(argv)

    if args.no_send and args.base_ms is None:
        p.error("--no-send needs --base-ms (the data's start that was used when it was sent)")
    procs: list[PrometheusProcess] = []
    try:
        if args.self_check:
            procs = [PrometheusProcess(name="prom-a").start(), PrometheusProcess(name="prom-b").start()]
            url_a, url_b = procs[0].url, procs[1].url
            print(f"self-check: Prometheus A at {url_a}, Prometheus B at {url_b}")
        else:
            if not args.a or not args.b:
                p.error("give --a and --b, or --self-check")
            url_a, url_b = args.a, args.b
        a, b = Endpoint(url_a, "a"), Endpoint(url_b, "b")
        return run(a, b, args)
    finally:
        for proc in procs:
            proc.stop()


def run(a: Endpoint, b: Endpoint, args: argparse.Namespace) -> int:
    base_ms = args.base_ms if args.base_ms is not None else default_base_ms()
    dataset = data.generate(base_ms)
    window = queries.Window(base_ms)
    print(f"data: {len(dataset.series)} series, {dataset.n_samples} samples, base_ms={base_ms}")
    try:
        if not args.no_send:
            t0 = time.monotonic()
            for ep in (a, b):
                n = ep.write(dataset)
                print(f"sent to {ep.name} ({ep.url}) in {n} remote write requests")
            print(f"sending took {time.monotonic() - t0:.1f}s (rerun with --no-send --base-ms {base_ms})")
        for ep in (a, b):
            wait_for_data(ep, dataset)
    except (AssertionError, requests.RequestException) as e:
        print(f"FAILED to load the data: {e}")
        return 2
    print("both endpoints return every sample")
    if args.self_check:
        problems = negative_control(a, window)
        for prob in problems:
            print("NEGATIVE CONTROL FAILED: " + prob)
        print(f"negative control (mutated answers must be flagged): {'FAILED' if problems else 'ok'}")
        if problems:
            return 1

    corpus = queries.build_queries(window)
    if args.filter:
        rx = re.compile(args.filter)
        corpus = [q for q in corpus if rx.search(q.id) or rx.search(q.expr)]
    compared, excluded = exclusions.split(corpus)
    if args.include_excluded:
        compared = corpus
    if args.show_excluded or args.include_excluded:
        for q, ex in excluded:
            print(f"excluded {q.id} [{ex.name}] {q.expr}\n    {ex.reason}\n    {ex.link}")

    t0 = time.monotonic()
    failed = 0
    evaluations = 0
    for q in compared:
        outcome = evaluate(q, a, b, window)
        evaluations += len(outcome.evaluations)
        if not outcome.ok:
            failed += 1
            print("MISMATCH " + outcome.report(a.name, b.name))
    print(
        f"\nsummary: {len(compared)} queries compared ({evaluations} evaluations) in "
        f"{time.monotonic() - t0:.1f}s, {len(compared) - failed} agree, {failed} differ; "
        f"{len(excluded)} excluded as known Prometheus 2 -> 3 differences"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
