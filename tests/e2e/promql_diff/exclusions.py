"""Queries excluded because Prometheus 2.x (the 2.42 reference) and 3.x are documented to differ.

Weft follows current Prometheus; the reference in the test is Prometheus 2.42 (Debian). Where
the two are documented to give different answers, the query is kept in the corpus (family
"excluded-probe" in queries.py, so the list stays visible) but not compared.

Documented differences that need no exclusion, because the data/queries are built so they
cannot show:
  * left-open ranges and lookback (3.0, #13904) and left-open subqueries (3.0.1, #15431):
    samples carry 1..400 ms of jitter and all evaluation times end in .537 s, so no range
    boundary ever coincides with a sample or a subquery step (data.py, queries.py);
  * rate()/increase() zero-point extrapolation order (2.51, #13725): counters that exist from
    the start carry at least an hour of history, counters that start late start at exactly 0
    and stay 0 for 6 minutes; only late_start_jobs_total is built to hit the change;
  * `le` / `quantile` label normalisation (3.0, #15164): only at scrape time, not for remote write;
  * Kahan summation in sum/avg/avg_over_time (2.55/3.x, #14074 #14413 #16569): last-bit
    differences, well inside the 1e-9 relative tolerance;
  * delayed `__name__` removal: experimental, behind `promql-delayed-name-removal`, off by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .queries import Query

MIGRATION = "https://prometheus.io/docs/prometheus/latest/migration/"
CHANGELOG = "https://github.com/prometheus/prometheus/blob/main/CHANGELOG.md"


@dataclass(frozen=True)
class Exclusion:
    name: str
    reason: str
    link: str
    pattern: re.Pattern

    def matches(self, query: Query) -> bool:
        return bool(self.pattern.search(query.expr))


EXCLUSIONS: list[Exclusion] = [
    Exclusion(
        "regex-dot-newline",
        "3.0: regex `.` matches newlines; build_info has a label value containing '\\n'",
        MIGRATION + "#regular-expressions-match-newlines",
        re.compile(r'build_info\{[^}]*[=!]~|label_replace\(build_info'),
    ),
    Exclusion(
        "holt_winters-renamed",
        "3.0: holt_winters renamed to double_exponential_smoothing (behind a feature flag)",
        MIGRATION + "#holt_winters-function-renamed",
        re.compile(r'\bholt_winters\('),
    ),
    Exclusion(
        "left-open-ranges",
        "3.0: ranges/lookback/subqueries are left-open; a whole-minute @ aligns subquery steps with the range start",
        MIGRATION + "#range-selectors-and-lookback-exclude-samples-coinciding-with-the-left-boundary",
        re.compile(r'@ \d+(?![\d.])'),
    ),
    Exclusion(
        "rate-extrapolation-zero-point",
        "2.51: rate/increase limit extrapolation to half a scrape interval before applying the "
        "zero-point limit (#13725); late_start_jobs_total starts late with a small value, and "
        "temperature_celsius (a gauge, so rate() sees 'resets') has values near zero, where the "
        "zero-point limit decides the result",
        CHANGELOG + " (2.51.0: 'Constrain extrapolation in rate() to half of sample interval #13725')",
        re.compile(r'late_start_jobs_total|\b(rate|increase)\(temperature_celsius'),
    ),
    Exclusion(
        "utf8-label-names",
        "3.0: any UTF-8 string is a valid label name (label_replace targets like 'host name' or '1bad' "
        "are errors in 2.x)",
        MIGRATION + "#utf-8-names",
        re.compile(r'label_(replace|join)\([^,]+, "(?![A-Za-z_][A-Za-z0-9_]*")'),
    ),
    Exclusion(
        "number-as-duration",
        "3.0: float literals and durations are interchangeable (`[300]` is a parse error in 2.x)",
        CHANGELOG + " (3.0.0: 'Float literals and time durations being the same is now a stable feature #15111')",
        re.compile(r'\[\d+\]'),
    ),
    Exclusion(
        "stddev-infinity",
        "3.0: stddev/stdvar treat infinities consistently (#14941); x/0 yields +-Inf",
        CHANGELOG + " (3.0.0: 'Fix stddev+stdvar aggregations to treat Infinity consistently #14941')",
        re.compile(r'\bstd(dev|var)\([^()]* / 0\)'),
    ),
]


def exclusion_for(query: Query) -> Exclusion | None:
    """The first exclusion that applies to `query`, or None if it must be compared."""
    for ex in EXCLUSIONS:
        if ex.matches(query):
            return ex
    return None


def split(queries: list[Query]) -> tuple[list[Query], list[tuple[Query, Exclusion]]]:
    """(queries to compare, excluded queries with their reason)."""
    compared, excluded = [], []
    for q in queries:
        ex = exclusion_for(q)
        if ex is None:
            compared.append(q)
        else:
            excluded.append((q, ex))
    return compared, excluded
