"""The query corpus: >= 300 PromQL expressions across the whole language.

Each `Query` says how it is evaluated: as an instant query at each of `Window.instants`
(if `instant`), and as a range query over the window for each step in `range_steps`.

All evaluation times have a millisecond part of .537 and every range, offset and subquery
step is a whole number of seconds, while samples sit at 1..400 ms past a whole second (see
data.py): no range boundary can coincide with a sample or with a subquery step. Only the
excluded probes in family "excluded-probe" use aligned times on purpose.

Query ids are stable (family + number) and do not depend on the window, so pytest can
parametrise on them at collection time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .data import N_SCRAPES, SCRAPE_MS

MINUTE = 60_000
EVAL_MS_PART = 537


@dataclass(frozen=True)
class Window:
    """Evaluation times for a data set starting at `base_ms` (all in ms)."""

    base_ms: int

    @property
    def instants(self) -> list[int]:
        """Early (ranges reach before the data), middle, and just after the data ended."""
        return [self.base_ms + m * MINUTE + EVAL_MS_PART for m in (4, 33, 61)]

    @property
    def range_start(self) -> int:
        return self.base_ms + EVAL_MS_PART

    @property
    def range_end(self) -> int:
        """Five minutes past the data: the lookback runs out inside the range."""
        return self.base_ms + (N_SCRAPES * SCRAPE_MS) + 5 * MINUTE + EVAL_MS_PART

    def at(self, minutes: float) -> str:
        """An `@` timestamp `minutes` after base, with the .537 ms part, as PromQL text."""
        ms = self.base_ms + int(minutes * MINUTE) + EVAL_MS_PART
        return f"{ms // 1000}.{ms % 1000:03d}"

    def aligned_minute(self, minutes: int) -> str:
        """A whole-minute `@` timestamp (deliberately aligned; only for excluded probes)."""
        ms = self.base_ms + minutes * MINUTE
        ms -= ms % MINUTE
        return str(ms // 1000)


@dataclass(frozen=True)
class Query:
    id: str
    expr: str
    family: str
    instant: bool = True
    range_steps: tuple[int, ...] = (60,)

    @property
    def ordered(self) -> bool:
        """Top-level sort/sort_desc: the instant result order is part of the answer."""
        e = self.expr.lstrip()
        return e.startswith("sort(") or e.startswith("sort_desc(")


class _Builder:
    def __init__(self) -> None:
        self.queries: list[Query] = []
        self._counts: dict[str, int] = {}

    def add(self, family: str, expr: str, instant: bool = True, range_steps: tuple[int, ...] = (60,)) -> None:
        n = self._counts.get(family, 0) + 1
        self._counts[family] = n
        self.queries.append(Query(f"{family}-{n:03d}", expr, family, instant, range_steps))

    def instant_only(self, family: str, expr: str) -> None:
        """For expressions of range-vector type (a range query of those is an error)."""
        self.add(family, expr, instant=True, range_steps=())


REQ = "http_requests_total"
HIST = "http_request_duration_seconds"
TEMP = "temperature_celsius"
MEM = "node_memory_free_bytes"


def build_queries(window: Window) -> list[Query]:
    """The corpus for `window` (expressions with `@` numbers depend on it; ids do not)."""
    b = _Builder()
    w = window

    # ---- selectors and matchers --------------------------------------------------------
    for e in [
        REQ,
        '{__name__="up"}',
        'up{job="api"}',
        'up{job!="api"}',
        f'{REQ}{{method=~"GET|POST"}}',
        f'{REQ}{{status!~"2.."}}',
        f'{REQ}{{status=~"5.*", method!="GET"}}',
        '{__name__=~"node_.*"}',
        '{__name__=~"rpc_duration_seconds.*", quantile!="0.5"}',
        f'{TEMP}{{location="São Paulo"}}',
        f'{TEMP}{{location="東京"}}',
        f'{TEMP}{{location=~".*o.*"}}',
        f'{TEMP}{{location=~"(?i)new york"}}',
        f'{TEMP}{{location!~"[A-Z].*"}}',
        f'{TEMP}{{location!=""}}',
        f'{TEMP}{{sensor=""}}',
        f'{REQ}{{status=""}}',
        f'{REQ}{{instance=~"10\\\\.0\\\\.1\\\\.1[0-9]?:8080", method="GET", status="200"}}',
        '{job="node", __name__!="node_info"}',
        'disk_used_bytes{device="sda"}',
        'disk_used_bytes{device=~"sd[ab]", mountpoint="/data"}',
        'nonexistent_metric',
        'nonexistent_metric{job="api"}',
        'up{instance=~".+"}',
        f'{HIST}_bucket{{le="+Inf"}}',
        f'{HIST}_bucket{{le=~"0\\\\.0.*", handler="/healthz"}}',
        'build_info{branch="main"}',
        'rpc_duration_seconds{quantile="0.99"}',
    ]:
        b.add("selector", e)

    # ---- range selectors (matrix results; instant queries only) ------------------------
    for e in [
        f'{REQ}{{instance="10.0.1.1:8080", method="GET", status="200"}}[2m]',
        f'{TEMP}[1m]',
        'up{job="rpc"}[45s]',
        f'{MEM}[5m] offset 10m',
        f'{TEMP}{{sensor="s01"}}[10m]',
        f'{MEM}{{instance="node-8:9100"}}[3m]',
        f'{TEMP}[2m] @ {w.at(30)}',
        f'{TEMP}{{sensor="s09"}}[5m] offset -3m',
    ]:
        b.instant_only("range-selector", e)

    # ---- offset and @ ------------------------------------------------------------------
    for e in [
        f'{REQ} offset 5m',
        f'rate({REQ}[5m] offset 10m)',
        f'{TEMP} offset -2m',
        f'sum(rate({REQ}[5m] offset -5m))',
        f'{MEM} offset 1h',
        'up offset 30s',
        f'{TEMP} - {TEMP} offset 10m',
        f'{TEMP} @ start()',
        f'{TEMP} @ end()',
        f'rate({REQ}{{status="200"}}[5m] @ end())',
        f'{MEM} @ {w.at(30)}',
        f'sum(up @ {w.at(40)})',
        f'rate({REQ}[5m] @ {w.at(30)} offset 5m)',
        f'max_over_time({TEMP}[10m:1m] @ end())',
        f'{TEMP} @ {w.at(45)} offset -5m',
        f'avg_over_time({MEM}[10m] @ start())',
        f'up @ {w.at(50)}',
        f'{MEM} / {MEM} @ start()',
    ]:
        b.add("offset-at", e)

    # ---- subqueries -------------------------------------------------------------------
    for e in [
        f'max_over_time(rate({REQ}[1m])[10m:30s])',
        f'avg_over_time({TEMP}[15m:1m])',
        f'rate({REQ}{{method="GET"}}[5m:30s])',
        'min_over_time(sum by (job) (up)[20m:2m])',
        f'deriv({MEM}[10m:1m])',
        f'max_over_time(deriv({MEM}[5m])[30m:5m])',
        f'quantile_over_time(0.9, {TEMP}[30m:])',
        # The inner range is not a whole number of minutes: the outer subquery evaluates at whole
        # minutes, and an inner 5m range would start exactly on an inner step (2.x includes it,
        # 3.x's left-open ranges do not).
        f'max_over_time(avg_over_time({TEMP}[330s:1m])[20m:2m])',
        f'sum_over_time(sum(rate({REQ}[2m]))[10m:1m])',
        f'count_over_time({TEMP}[10m:1m])',
        f'last_over_time({TEMP}[7m:45s])',
        f'increase({REQ}{{status="200"}}[10m:1m])',
        f'stddev_over_time(sum by (instance) ({MEM})[30m:1m])',
        f'present_over_time(up{{job="api"}}[5m:1m] offset 3m)',
        f'changes((up == 0)[30m:1m])',
    ]:
        b.add("subquery", e)
    b.instant_only("subquery", f'{TEMP}[5m:1m]')
    b.instant_only("subquery", f'rate({REQ}{{instance="10.0.1.2:8080"}}[2m])[4m:1m]')

    # ---- aggregations ------------------------------------------------------------------
    inputs = [
        f'rate({REQ}[5m])',
        TEMP,
        MEM,
        'up',
    ]
    groupings = ["", " by (job)", " without (instance)"]
    for agg in ["sum", "avg", "min", "max", "count", "stddev", "stdvar", "group"]:
        for inp in inputs:
            for g in groupings:
                if inp == TEMP and g == " by (job)":
                    g = " by (location)"
                b.add(f"agg-{agg}", f'{agg}{g} ({inp})', range_steps=(300,))
    for e in [
        f'sum by (method, status) (rate({REQ}[5m]))',
        f'sum without (instance, method) (rate({REQ}[5m]))',
        f'avg by (handler, le) (rate({HIST}_bucket[5m]))',
        f'count by (__name__) ({{job="node"}})',
        f'sum by (le) ({HIST}_bucket)',
        f'max without () ({TEMP})',
        f'sum by () (up)',
        f'count without (le) ({HIST}_bucket)',
        f'topk(3, {MEM})',
        f'bottomk(2, {MEM})',
        f'topk by (method) (1, rate({REQ}{{status="200"}}[5m]))',
        f'topk(5, rate({REQ}{{status="200"}}[5m]))',
        f'bottomk(3, {TEMP})',
        f'bottomk without (sensor) (1, {TEMP})',
        f'topk(2, disk_used_bytes) by (device)',
        f'topk(100, {MEM})',
        f'quantile(0.5, {TEMP})',
        f'quantile(0.9, rate({REQ}[5m]))',
        f'quantile by (job) (0.99, up)',
        f'quantile(0, {MEM})',
        f'quantile(1, {MEM})',
        f'quantile(0.25, {MEM})',
        f'quantile(-0.5, {TEMP})',
        f'quantile(1.5, {TEMP})',
        f'quantile by (instance) (0.75, disk_used_bytes)',
        'count_values("value", up)',
        f'count_values("n", count by (status) ({REQ}))',
        'count_values by (job) ("v", up)',
        f'count_values("le_count", count by (le) ({HIST}_bucket))',
        f'count_values("version", node_info)',
        f'stddev by (quantile) (rpc_duration_seconds)',
        f'group by (version) (node_info)',
        f'sum(sum by (instance) (rate({REQ}[5m])))',
        f'max(topk(3, {MEM}))',
        f'avg by (device) (disk_used_bytes)',
    ]:
        b.add("agg-other", e, range_steps=(300,))

    # ---- binary operators -------------------------------------------------------------
    for e in [
        f'{TEMP} + 273.15',
        f'{TEMP} - 10',
        f'{TEMP} * -2',
        f'{MEM} / 1024 / 1024',
        f'{TEMP} % 7',
        f'{TEMP} ^ 2',
        f'2 ^ ({TEMP} / 10)',
        f'1 - up',
        f'-{TEMP}',
        f'- -{TEMP}',
        f'+{TEMP}',
        f'{TEMP} / 0',
        f'0 / {TEMP}',
        f'{TEMP} * NaN',
        f'{TEMP} + Inf',
        f'{TEMP} - -Inf',
        f'{MEM} * 1',
        f'rate({HIST}_sum[5m]) / rate({HIST}_count[5m])',
        f'{REQ}{{status="500"}} / ignoring(status) {REQ}{{status="200"}}',
        f'{REQ}{{status="404"}} + on(instance, method, job) {REQ}{{status="200"}}',
        f'sum by (instance) (rate({REQ}{{status="500"}}[5m])) / on(instance) sum by (instance) (rate({REQ}[5m]))',
        f'{MEM} * on(instance) group_left(version, os) node_info',
        f'node_info * on(instance) group_right(version) {MEM}',
        f'disk_used_bytes / on(instance) group_left {MEM}',
        f'disk_used_bytes / ignoring(device, mountpoint) group_left {MEM}',
        f'up * on(instance) group_left(version) node_info',
        f'rate({REQ}[5m]) / on(instance) group_left sum by (instance) (rate({REQ}[5m]))',
        f'sum by (job) (rate({REQ}[5m])) / on(job) group_right sum by (job, instance) (rate({REQ}[5m]))',
        f'{HIST}_bucket / ignoring(le) group_left {HIST}_count',
        f'rpc_duration_seconds * on(instance) group_left rpc_duration_seconds_count',
        f'{MEM} - on(instance) {MEM} offset 10m',
        f'up / on(job) group_left sum by (job) (up)',
        f'2 * 3 + 4 ^ 2 ^ 0.5',
        '-2 ^ 2',
        '(1 + 2) * 3 - 4 / 8 % 3',
        '7 % -3',
        f'{TEMP} * 2 + {TEMP} / 4',
        f'{REQ}{{method="GET"}} - ignoring(method) {REQ}{{method="POST"}}',
    ]:
        b.add("binop-arith", e)
    for e in [
        f'{TEMP} > 20',
        f'{TEMP} > bool 20',
        f'{TEMP} == 0',
        f'{TEMP} != bool 0',
        f'{TEMP} < 0',
        f'{TEMP} <= -5',
        f'{TEMP} >= bool -5',
        'up == bool 1',
        'up == 0',
        f'{MEM} < 3e9',
        f'rate({REQ}[5m]) >= 0.1',
        f'{REQ}{{status="500"}} > ignoring(status) {REQ}{{status="404"}}',
        f'{REQ}{{status="500"}} > bool ignoring(status) {REQ}{{status="404"}}',
        f'{MEM} > on(instance) {MEM} offset 5m',
        '1 < bool 2',
        '1 == bool 1',
        '2 >= bool 3',
        f'{TEMP} > 10 < 30',
        f'(({TEMP} > 0) > bool 15) * 10',
        f'rate({HIST}_bucket{{le="0.25"}}[5m]) / ignoring(le) rate({HIST}_bucket{{le="+Inf"}}[5m]) < 0.9',
    ]:
        b.add("binop-compare", e)
    for e in [
        f'up and on(instance) {MEM}',
        'up{job="api"} or up{job="node"}',
        f'{REQ} unless {REQ}{{status="200"}}',
        f'{MEM} unless on(instance) disk_used_bytes',
        f'{TEMP} > 0 or {TEMP} < -10',
        'up == 0 or vector(0)',
        'sum(up) and on() vector(1)',
        f'{REQ} and {REQ}{{method="GET"}}',
        f'{REQ}{{status="200"}} and ignoring(status) {REQ}{{status="503"}}',
        f'rate({REQ}[5m]) > 1 and on(instance) up == 1',
        f'{MEM} or on(instance) disk_used_bytes',
        f'up unless on(job) up{{job="rpc"}}',
        'vector(1) or vector(2)',
        f'(up == 1) unless ignoring(job) (up offset 20m == 1)',
        f'{TEMP} and {TEMP} offset 20m',
    ]:
        b.add("binop-set", e)

    # ---- literals and scalars -----------------------------------------------------------
    for e in ['1', '-1.5', 'NaN', 'Inf', '-Inf', '0x1F', '1e3', '.5', '"a string"', 'time()',
              'vector(NaN)', 'vector(-Inf)', 'time() + 60', 'scalar(sum(up))', 'scalar(up)',
              f'scalar({MEM}{{instance="node-1:9100"}})', 'vector(scalar(sum(up)))', 'pi()',
              '-(3)', 'sum(up) * 0', 'vector(1) + 1', 'scalar(vector(1)) * vector(2)']:
        b.add("literal", e)

    # ---- simple math functions ----------------------------------------------------------
    math_fns = [
        ("abs", TEMP), ("ceil", TEMP), ("floor", TEMP), ("exp", f'{TEMP} / 10'), ("ln", TEMP),
        ("log2", TEMP), ("log10", MEM), ("sqrt", TEMP), ("sgn", TEMP), ("round", TEMP),
        ("abs", f'rate({REQ}[5m]) - 1'), ("ln", f'rate({REQ}[5m])'), ("sqrt", MEM),
        ("exp", '-up'), ("log2", 'up'), ("ceil", f'rate({REQ}[5m])'),
    ]
    for fn, arg in math_fns:
        b.add("fn-math", f'{fn}({arg})')
    for e in [
        f'round({TEMP}, 0.5)', f'round({TEMP}, 5)', f'round({MEM}, 1e6)', f'round(rate({REQ}[5m]), 0.01)',
        f'clamp({TEMP}, -5, 25)', f'clamp({TEMP}, 5, -5)', f'clamp_max({TEMP}, 10)', f'clamp_min({TEMP}, 0)',
        f'clamp(rate({REQ}[5m]), 0.1, 1)', f'clamp_max({MEM}, 4e9)', f'clamp_min({TEMP}, NaN)',
    ]:
        b.add("fn-math", e)
    unit = f'clamp({TEMP} / 50, -1, 1)'
    for fn, arg in [
        ("acos", unit), ("asin", unit), ("atan", TEMP), ("acosh", f'abs({TEMP}) + 1'), ("asinh", TEMP),
        ("atanh", f'clamp({TEMP} / 50, -0.99, 0.99)'), ("cos", TEMP), ("cosh", f'{TEMP} / 10'), ("sin", TEMP),
        ("sinh", f'{TEMP} / 10'), ("tan", TEMP), ("tanh", TEMP), ("deg", TEMP), ("rad", TEMP),
        ("acos", TEMP), ("atanh", TEMP), ("deg", 'vector(pi())'), ("rad", 'vector(180)'),
    ]:
        b.add("fn-trig", f'{fn}({arg})')

    # ---- date/time functions --------------------------------------------------------------
    for fn in ["day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year"]:
        b.add("fn-date", f'{fn}()')
        b.add("fn-date", f'{fn}(timestamp(up{{job="node"}}))')
    for e in ['time()', 'timestamp(up)', f'timestamp({TEMP} offset 5m)', f'time() - timestamp({MEM})',
              'timestamp(vector(1))', f'timestamp({TEMP} @ {w.at(20)})',
              'hour(vector(1700000000))', 'day_of_week(vector(0))', 'days_in_month(vector(951782400))',
              'minute(vector(-1))', 'year(vector(4102444800))', 'day_of_year(vector(1709164800))']:
        b.add("fn-time", e)

    # ---- counter / gauge range functions ------------------------------------------------------
    for fn in ["rate", "increase", "irate", "resets"]:
        for rng in ["1m", "5m", "15m"]:
            b.add(f"fn-{fn}", f'{fn}({REQ}[{rng}])', range_steps=(30,) if rng == "5m" else (60,))
        b.add(f"fn-{fn}", f'{fn}({HIST}_count[5m])')
    for e in [f'sum by (job) (rate({REQ}[5m]))', f'rate({REQ}{{status="503"}}[5m])',
              f'increase({REQ}{{instance="10.0.1.10:8080"}}[10m])', f'rate({HIST}_sum[2m])',
              f'rate(rpc_duration_seconds_count[1m])', f'irate({REQ}{{instance="10.0.1.9:8080"}}[5m])',
              f'increase({HIST}_bucket{{instance="10.0.1.2:8080", handler="/api/v1/items"}}[10m])',
              f'rate({REQ}[5m] offset 30m)', f'rate({TEMP}[5m])']:
        b.add("fn-rate", e)
    for fn in ["delta", "idelta", "deriv", "changes"]:
        for arg in [f'{TEMP}[5m]', f'{MEM}[10m]', 'up[15m]']:
            b.add(f"fn-{fn}", f'{fn}({arg})')
    for e in [f'predict_linear({MEM}[15m], 3600)', f'predict_linear({TEMP}[10m], 600)',
              f'predict_linear(disk_used_bytes[30m], -1800)', f'predict_linear({REQ}{{status="200"}}[5m], 60)',
              f'deriv({REQ}{{status="200", method="GET"}}[5m])', f'changes({REQ}{{method="DELETE"}}[30m])',
              f'delta({HIST}_sum[5m])', f'resets(up[1h])']:
        b.add("fn-deriv", e)

    # ---- *_over_time ----------------------------------------------------------------------
    for fn in ["avg", "min", "max", "sum", "count", "stddev", "stdvar", "last", "present"]:
        for arg in [f'{TEMP}[5m]', f'{MEM}[30m]', f'{REQ}{{method="PUT"}}[2m]', 'up[10m]']:
            b.add(f"fn-{fn}_over_time", f'{fn}_over_time({arg})')
    for q in ["0", "0.1", "0.5", "0.95", "1", "-1", "2"]:
        b.add("fn-quantile_over_time", f'quantile_over_time({q}, {TEMP}[10m])')
    b.add("fn-quantile_over_time", f'quantile_over_time(0.5, {MEM}[1h])')

    # ---- absent ---------------------------------------------------------------------------
    for e in ['absent(nonexistent)', 'absent(nonexistent{job="x", instance=~"y"})', 'absent(up)',
              'absent(up{job="nope"})', 'absent(nonexistent{a="b", a="c"})', 'absent(sum(nonexistent))',
              f'absent({TEMP}{{sensor="s09"}})', f'absent({TEMP}{{sensor="s03"}})',
              'absent_over_time(nonexistent{a="b"}[5m])', f'absent_over_time({TEMP}{{sensor="s09"}}[5m])',
              f'absent_over_time({TEMP}{{sensor="s03", location="New York"}}[2m])',
              'absent_over_time(up[1h])', 'absent_over_time(nonexistent{job=~"a.*"}[1m])']:
        b.add("fn-absent", e)

    # ---- label manipulation ---------------------------------------------------------------
    for e in [
        'label_replace(up, "host", "$1", "instance", "(.*):.*")',
        'label_replace(up, "new", "x", "nonexistent", "")',
        'label_replace(up, "job", "$2-$1", "instance", "(.*):(.*)")',
        'label_replace(up, "foo", "$1", "instance", "nomatch(.*)")',
        f'label_replace({TEMP}, "city", "$1", "location", "([^ ]+).*")',
        'label_replace(up, "__name__", "up_copy", "", "")',
        f'label_replace(rate({REQ}[5m]), "code_class", "${{1}}xx", "status", "(.).*")',
        'label_replace(up, "instance", "$0", "instance", "(.*)")',
        'label_join(up, "id", "/", "job", "instance")',
        f'label_join({TEMP}, "where", ", ", "location", "sensor")',
        'label_join(up, "job", "")',
        'label_join(up, "copy", "", "instance")',
        f'label_join({MEM}, "all", "|", "job", "instance", "nonexistent", "__name__")',
        'sum by (host) (label_replace(up, "host", "$1", "instance", "([^:]+).*"))',
        'label_replace(up, "1bad", "x", "", "")',
        'label_replace(up, "x", "y", "instance", "(")',
    ]:
        b.add("fn-label", e)

    # ---- sort, scalar, vector, timestamp ------------------------------------------------------
    for e in [f'sort({MEM})', f'sort_desc(rate({REQ}{{status="200"}}[5m]))', f'sort({TEMP})',
              'sort_desc(sum by (job) (up))', f'sort_desc({TEMP} / 0)', f'sort(ln({TEMP}))',
              f'sort(topk(3, {MEM}))', 'vector(time())', f'vector(scalar({MEM}{{instance="node-2:9100"}}))',
              f'scalar(sum(rate({REQ}[5m])))', f'{MEM} / scalar(max({MEM}))', 'vector(1) * scalar(up)',
              f'sort_desc(count_values("v", round({TEMP})))']:
        b.add("fn-misc", e)

    # ---- histogram_quantile (classic buckets) ---------------------------------------------------
    for e in [
        f'histogram_quantile(0.9, rate({HIST}_bucket[5m]))',
        f'histogram_quantile(0.5, sum by (le) (rate({HIST}_bucket[5m])))',
        f'histogram_quantile(0.99, sum by (le, handler) (rate({HIST}_bucket[5m])))',
        f'histogram_quantile(0.5, sum by (le, instance) (rate({HIST}_bucket{{handler="/healthz"}}[2m])))',
        f'histogram_quantile(0, sum by (le) (rate({HIST}_bucket[5m])))',
        f'histogram_quantile(1, sum by (le) (rate({HIST}_bucket[5m])))',
        f'histogram_quantile(-1, sum by (le) (rate({HIST}_bucket[5m])))',
        f'histogram_quantile(2, sum by (le) (rate({HIST}_bucket[5m])))',
        f'histogram_quantile(0.75, {HIST}_bucket)',
        f'histogram_quantile(0.5, {HIST}_bucket{{le!="+Inf"}})',
        f'histogram_quantile(0.5, up)',
        f'histogram_quantile(0.95, sum by (le) (increase({HIST}_bucket{{instance="10.0.1.2:8080"}}[10m])))',
        f'histogram_quantile(0.3, rate({HIST}_bucket{{handler="/healthz"}}[1m]))',
        f'histogram_quantile(0.9, sum without (instance) (rate({HIST}_bucket[15m])))',
    ]:
        b.add("fn-histogram_quantile", e)

    # ---- errors that both sides must report the same way ---------------------------------------
    for e in ['rate(up)', 'sum(up[5m])', 'up{', 'nonexistent_function(up)', '{job=~".*"}',
              'up + on(job) up', f'{REQ} * on(instance) group_left {MEM} offset 1m', 'up[5m] + 1',
              'label_replace(up, "x", "y", "instance")', 'topk("a", up)', 'quantile_over_time(0.5, up)',
              f'topk(NaN, {MEM})']:
        b.add("error", e)

    # ---- probes for documented Prometheus 2 -> 3 differences (excluded, see exclusions.py) ----
    b.add("excluded-probe", 'build_info{branch=~"main.hotfix"}')
    b.add("excluded-probe", 'label_replace(build_info, "first", "$1", "branch", "(.*)")')
    b.add("excluded-probe", f'holt_winters({TEMP}[10m], 0.5, 0.5)')
    b.add("excluded-probe", f'count_over_time(vector(1)[5m:1m] @ {w.aligned_minute(30)})')
    b.add("excluded-probe", f'rate(late_start_jobs_total[5m] @ {w.at(22)})')
    b.add("excluded-probe", 'increase(late_start_jobs_total[5m])')
    b.add("excluded-probe", 'label_replace(up, "host name", "$1", "instance", "(.*)")')
    b.add("excluded-probe", f'rate({REQ}[300])')
    b.add("excluded-probe", f'stdvar({TEMP} / 0)')
    return b.queries
