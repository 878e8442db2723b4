"""Differential PromQL test: Weft against Prometheus 2.42 on the same data.

The same generated data set (promql_diff/data.py, ~370 series over one hour) is sent by
Prometheus remote write 1.0 to a Prometheus started here and to a Weft server
(POST {url}/api/v1/write); once both return every sample, each query of the corpus
(promql_diff/queries.py, > 500 expressions) is run as instant queries at three times and as
range queries (GET {url}/api/v1/query, /api/v1/query_range) on both, and the answers must
agree (promql_diff/compare.py: same series, exact timestamps, values within 1e-9 relative).
Queries hitting documented Prometheus 2 -> 3 differences are excluded
(promql_diff/exclusions.py) and listed.

By hand, against any two servers:  tests/.venv/bin/python tests/e2e/promql_diff/run.py --a URL --b URL
Harness self-check (two Prometheus): tests/.venv/bin/python tests/e2e/promql_diff/run.py --self-check
"""

from __future__ import annotations

import pytest
import requests

from promql_diff import data, exclusions, queries
from promql_diff.harness import (
    Endpoint,
    PrometheusProcess,
    evaluate,
    negative_control,
    prometheus_binary,
    wait_for_data,
)
from promql_diff.run import default_base_ms

MIN_COMPARED = 300

# Query ids do not depend on the data's time window, so the corpus built here at collection
# only names the tests; the expressions actually run come from the module's own window.
COMPARED, EXCLUDED = exclusions.split(queries.build_queries(queries.Window(default_base_ms())))

_compared_ids: set[str] = set()


@pytest.fixture(scope="module")
def window() -> queries.Window:
    """The hour of data ends three minutes before this module starts."""
    return queries.Window(default_base_ms())


@pytest.fixture(scope="module")
def corpus(window) -> dict[str, queries.Query]:
    built = {q.id: q for q in queries.build_queries(window)}
    assert set(built) >= {q.id for q in COMPARED}, "query ids must not depend on the window"
    return built


@pytest.fixture(scope="module")
def dataset(window) -> data.Dataset:
    return data.generate(window.base_ms)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, dataset):
    """The reference: Prometheus 2.42 (never skipped: a missing binary is a failure)."""
    try:
        prometheus_binary()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)
    proc = PrometheusProcess(tmp_path_factory.mktemp("prometheus"), name="prometheus").start()
    try:
        endpoint = Endpoint(proc.url, "prometheus")
        problem = _feed(endpoint, dataset)
        if problem:
            pytest.fail(f"feeding Prometheus the test data failed: {problem}\n{proc.log_tail()}", pytrace=False)
        yield endpoint
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def weft(weft_module_factory, dataset) -> Endpoint:
    """Weft under test, fed the same data by remote write."""
    server = weft_module_factory(name="weft-promql")
    endpoint = Endpoint(server.url, "weft")
    problem = _feed(endpoint, dataset)
    if problem:
        # Short message: this error is repeated for every query test.
        pytest.fail(f"feeding weft the test data failed: {problem}", pytrace=False)
    return endpoint


def _feed(endpoint: Endpoint, dataset: data.Dataset) -> str | None:
    """Sends the data set and waits until all of it is queryable; the problem, or None."""
    try:
        endpoint.write(dataset)
        wait_for_data(endpoint, dataset)
    except (AssertionError, requests.RequestException) as e:
        return str(e)[:1500]
    return None


def test_comparison_flags_differences(prometheus, window):
    """The comparison itself must notice mutated answers (and accept harmless ones)."""
    problems = negative_control(prometheus, window)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("query", COMPARED, ids=[q.id for q in COMPARED])
def test_query_matches_prometheus(query, prometheus, weft, window, corpus):
    outcome = evaluate(corpus[query.id], weft, prometheus, window)
    _compared_ids.add(query.id)
    assert outcome.ok, outcome.report("weft", "prometheus")


def test_at_least_300_queries_compared(prometheus, weft, window, corpus, capsys):
    """Runs after the per-query tests; compares whatever they did not (e.g. under -k)."""
    for q in COMPARED:
        if q.id not in _compared_ids:
            evaluate(corpus[q.id], weft, prometheus, window)
            _compared_ids.add(q.id)
    with capsys.disabled():
        print(f"\nPromQL differential: {len(_compared_ids)} queries compared, "
              f"{len(EXCLUDED)} excluded as documented Prometheus 2 -> 3 differences:")
        for q, ex in EXCLUDED:
            print(f"  {q.id} [{ex.name}] {corpus[q.id].expr}\n      {ex.reason}")
    assert len(_compared_ids) >= MIN_COMPARED, (
        f"only {len(_compared_ids)} queries compared ({len(EXCLUDED)} excluded); need {MIN_COMPARED}"
    )
