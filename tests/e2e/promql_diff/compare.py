"""Comparison of two Prometheus query API answers.

Agreement means:
  * both answered `"status": "success"` with the same `resultType` and equal data, or
  * both answered `"status": "error"` with the same `errorType` (messages may differ).

Data equality:
  * scalar / string: same timestamp, same value (floats within tolerance, strings exact);
  * vector / matrix: the same set of label sets (order-insensitive unless `ordered`), for each
    the same timestamps (exactly) and values within tolerance;
  * `ordered` (top-level sort / sort_desc of an instant query): additionally the values must
    appear in the same order; series with equal values may come in any order among themselves.

Floats: equal if both NaN, identical (incl. +-Inf), within 1e-12 absolute, or within 1e-9
relative. Warnings / infos / stats in the answer are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

REL_TOL = 1e-9
ABS_TOL = 1e-12


@dataclass
class ApiAnswer:
    """One HTTP answer: status code, parsed JSON body (None if not JSON) and the raw text."""

    http_status: int
    body: Any
    text: str

    @property
    def ok(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("status") == "success" and "data" in self.body

    @property
    def is_api_error(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("status") == "error"

    def summary(self) -> str:
        if self.is_api_error:
            return f"HTTP {self.http_status} error {self.body.get('errorType')!r}: {self.body.get('error')}"
        if self.ok:
            return f"HTTP {self.http_status} success ({self.body['data'].get('resultType')})"
        return f"HTTP {self.http_status}, not a Prometheus API answer: {self.text[:300]!r}"


def parse_float(v: Any) -> float:
    """API sample values are strings ("1.5", "NaN", "+Inf", "-Inf")."""
    return float(v)


def floats_equal(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b):
        return False
    diff = abs(a - b)
    return diff <= ABS_TOL or diff <= REL_TOL * max(abs(a), abs(b))


def fmt_labels(metric: dict[str, str]) -> str:
    name = metric.get("__name__", "")
    rest = ", ".join(f"{k}={v!r}" for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def _key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(metric.items()))


def _diff_point(where: str, pa: list, pb: list) -> list[str]:
    """[ts, "value"] pairs: timestamps exactly equal, values within tolerance."""
    out = []
    if float(pa[0]) != float(pb[0]):
        out.append(f"{where}: timestamp <a>={pa[0]} <b>={pb[0]}")
    elif not floats_equal(parse_float(pa[1]), parse_float(pb[1])):
        out.append(f"{where} @{pa[0]}: value <a>={pa[1]} <b>={pb[1]}")
    return out


def _index(series: list[dict], where: str, diffs: list[str]) -> dict:
    idx: dict = {}
    for s in series:
        k = _key(s.get("metric", {}))
        if k in idx:
            diffs.append(f"<{where}> returned the label set {fmt_labels(s.get('metric', {}))} twice")
        idx[k] = s
    return idx


def _diff_series_sets(ra: list[dict], rb: list[dict], kind: str) -> list[str]:
    diffs: list[str] = []
    ia, ib = _index(ra, "a", diffs), _index(rb, "b", diffs)
    only_a = [k for k in ia if k not in ib]
    only_b = [k for k in ib if k not in ia]
    for k in only_a:
        diffs.append(f"only in <a>: {fmt_labels(dict(k))} {_brief(ia[k], kind)}")
    for k in only_b:
        diffs.append(f"only in <b>: {fmt_labels(dict(k))} {_brief(ib[k], kind)}")
    for k in ia:
        if k not in ib:
            continue
        where = fmt_labels(dict(k))
        if kind == "vector":
            diffs += _diff_value_or_histogram(where, ia[k], ib[k])
        else:
            diffs += _diff_values_list(where, ia[k].get("values", []), ib[k].get("values", []))
            diffs += _diff_histogram_list(where, ia[k].get("histograms", []), ib[k].get("histograms", []))
    return diffs


def _diff_value_or_histogram(where: str, sa: dict, sb: dict) -> list[str]:
    if "value" in sa and "value" in sb:
        return _diff_point(where, sa["value"], sb["value"])
    if "histogram" in sa and "histogram" in sb:
        ha, hb = sa["histogram"], sb["histogram"]
        if float(ha[0]) != float(hb[0]):
            return [f"{where}: timestamp <a>={ha[0]} <b>={hb[0]}"]
        return _diff_histogram(f"{where} @{ha[0]}", ha[1], hb[1])
    return [f"{where}: sample kinds differ: <a>={sa} <b>={sb}"]


def _diff_histogram(where: str, ha: dict, hb: dict) -> list[str]:
    """Native histograms as the API renders them: count, sum and every bucket's boundary rule
    (exactly), bounds and count (within tolerance), in the same order."""
    out = []
    for key in ("count", "sum"):
        if not floats_equal(parse_float(ha.get(key)), parse_float(hb.get(key))):
            out.append(f"{where}: histogram {key} <a>={ha.get(key)} <b>={hb.get(key)}")
    ba, bb = ha.get("buckets", []), hb.get("buckets", [])
    if len(ba) != len(bb):
        return out + [f"{where}: {len(ba)} buckets in <a>, {len(bb)} in <b>: <a>={ba} <b>={bb}"]
    for x, y in zip(ba, bb):
        same = x[0] == y[0] and all(floats_equal(parse_float(u), parse_float(v)) for u, v in zip(x[1:], y[1:]))
        if not same:
            out.append(f"{where}: bucket <a>={x} <b>={y}")
            break
    return out


def _diff_histogram_list(where: str, ha: list, hb: list) -> list[str]:
    diffs = []
    ta = {float(p[0]): p[1] for p in ha}
    tb = {float(p[0]): p[1] for p in hb}
    if set(ta) != set(tb):
        only_a, only_b = sorted(set(ta) - set(tb)), sorted(set(tb) - set(ta))
        diffs.append(f"{where}: histogram points only in <a>: {len(only_a)} (first {only_a[:1]}), "
                     f"only in <b>: {len(only_b)} (first {only_b[:1]})")
    for t in sorted(set(ta) & set(tb)):
        diffs += _diff_histogram(f"{where} @{t}", ta[t], tb[t])
        if len(diffs) > 5:
            break
    return diffs


def _diff_values_list(where: str, va: list, vb: list) -> list[str]:
    diffs = []
    ta = {float(p[0]): p for p in va}
    tb = {float(p[0]): p for p in vb}
    missing_b = sorted(set(ta) - set(tb))
    missing_a = sorted(set(tb) - set(ta))
    if missing_b:
        diffs.append(f"{where}: {len(missing_b)} points only in <a>, first at {missing_b[0]}")
    if missing_a:
        diffs.append(f"{where}: {len(missing_a)} points only in <b>, first at {missing_a[0]}")
    bad = [t for t in sorted(set(ta) & set(tb)) if not floats_equal(parse_float(ta[t][1]), parse_float(tb[t][1]))]
    for t in bad[:5]:
        diffs.append(f"{where} @{t}: value <a>={ta[t][1]} <b>={tb[t][1]}")
    if len(bad) > 5:
        diffs.append(f"{where}: {len(bad) - 5} more differing points")
    return diffs


def _brief(s: dict, kind: str) -> str:
    if kind == "vector":
        return f"value={s.get('value', s.get('histogram'))}"
    vals = s.get("values", []) or s.get("histograms", [])
    return f"({len(vals)} points{', first ' + str(vals[0]) if vals else ''})"


def _diff_order(ra: list[dict], rb: list[dict]) -> list[str]:
    """For sorted results: the i-th value must agree (ties may be ordered differently)."""
    diffs = []
    for i, (sa, sb) in enumerate(zip(ra, rb)):
        va, vb = parse_float(sa["value"][1]), parse_float(sb["value"][1])
        if not floats_equal(va, vb):
            diffs.append(
                f"order differs at position {i}: <a> has {fmt_labels(sa['metric'])}={sa['value'][1]}, "
                f"<b> has {fmt_labels(sb['metric'])}={sb['value'][1]}"
            )
            break
    return diffs


def diff_answers(a: ApiAnswer, b: ApiAnswer, ordered: bool = False) -> list[str]:
    """Differences between two answers as readable lines ('<a>'/'<b>' name the two sides); [] if they agree."""
    if a.is_api_error and b.is_api_error:
        ea, eb = a.body.get("errorType"), b.body.get("errorType")
        if ea != eb:
            return [f"both failed, with different errorType: <a>: {a.summary()} | <b>: {b.summary()}"]
        return []
    if not a.ok or not b.ok:
        return [f"<a>: {a.summary()}", f"<b>: {b.summary()}"]
    da, db = a.body["data"], b.body["data"]
    ta, tb = da.get("resultType"), db.get("resultType")
    if ta != tb:
        return [f"resultType <a>={ta} <b>={tb}"]
    ra, rb = da.get("result"), db.get("result")
    if ta == "scalar":
        return _diff_point("scalar", ra, rb)
    if ta == "string":
        if ra != rb:
            return [f"string <a>={ra} <b>={rb}"]
        return []
    if ta not in ("vector", "matrix"):
        return [f"unknown resultType {ta!r}"]
    if not isinstance(ra, list) or not isinstance(rb, list):
        return [f"result is not a list: <a>={type(ra).__name__} <b>={type(rb).__name__}"]
    diffs = _diff_series_sets(ra, rb, ta)
    if not diffs and ordered and ta == "vector":
        diffs = _diff_order(ra, rb)
    return diffs
