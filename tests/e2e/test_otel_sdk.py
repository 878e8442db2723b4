"""The real OpenTelemetry Python SDK and its OTLP gRPC and HTTP exporters against weft.

The data of seeds 000 and 002 is sent once; every check then runs in three phases, in order:
  head       all of it still in the in-memory head (and the WAL),
  block      after `POST /flush` (set A in a block) plus more spans sent afterwards (set B in
             the head), including a trace split between the two,
  restarted  after SIGKILL and a restart on the same data dir (blocks reopened, WAL replayed).
"""

from __future__ import annotations

import time

import pytest

from sdk_world import MS, SEC, FixedTraceIdGenerator, Service, TraceInfo, World
from weft_client import SpanRecord, spans_from_traces_data

SDK_CONFIG = """\
traces:
  head_max_age: 10m
"""

PHASES = ["head", "block", "restarted"]
ORDER = {p: i for i, p in enumerate(["empty"] + PHASES)}


@pytest.fixture(scope="module")
def world(weft_module_factory):
    server = weft_module_factory(config=SDK_CONFIG, name="sdk")
    w = World(server)
    yield w
    w.shutdown()


@pytest.fixture(scope="module", params=PHASES)
def phase(request, world):
    """Advances the shared world to the requested phase (phases only move forward)."""
    target = request.param
    if ORDER[world.phase] > ORDER[target]:
        pytest.fail(f"phase {target} requested after {world.phase}; run the module in order")
    server = world.server
    if world.phase == "empty":
        world.send_set_a()
        world.phase = "head"
        m = server.metrics()
        assert m.get("weft_trace_blocks", tenant="single-tenant") == 0, "head phase must not have blocks yet"
    if ORDER[world.phase] < ORDER["block"] <= ORDER[target]:
        server.flush()
        m = server.metrics()
        assert m.get("weft_trace_blocks", tenant="single-tenant") >= 1, (
            "POST /flush must cut the head into a block (weft_trace_blocks{tenant=\"single-tenant\"})"
        )
        world.send_set_b()
        world.phase = "block"
    if ORDER[world.phase] < ORDER["restarted"] <= ORDER[target]:
        server.restart(kill=True)
        world.phase = "restarted"
    return target


# ---------------------------------------------------------------------------------------------
# Trace by ID
# ---------------------------------------------------------------------------------------------

def _by_span_id(spans: list[SpanRecord]) -> dict[str, SpanRecord]:
    ids = [s.span_id for s in spans]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, f"span IDs returned more than once: {sorted(dupes)}"
    return {s.span_id: s for s in spans}


@pytest.mark.parametrize("version,proto", [(1, False), (2, False), (1, True), (2, True)],
                         ids=["v1-json", "v2-json", "v1-proto", "v2-proto"])
def test_trace_by_id_returns_exactly_what_was_exported(phase, world, version, proto):
    traces = world.traces()
    assert len(traces) >= 9
    for tid, info in traces.items():
        td = world.server.get_trace(tid, proto=proto, version=version)
        assert td is not None, f"trace {tid} ({phase}) not found"
        got = _by_span_id(spans_from_traces_data(td))
        want = _by_span_id(info.spans)
        assert set(got) == set(want), f"trace {tid}: span IDs differ: missing {set(want) - set(got)}, extra {set(got) - set(want)}"
        for sid, w in want.items():
            g = got[sid]
            # One field at a time so a failure names it.
            for field in ("trace_id", "parent_span_id", "name", "kind", "start", "end", "attributes", "status_code",
                          "status_message", "events", "links", "resource", "scope"):
                assert getattr(g, field) == getattr(w, field), (
                    f"trace {tid} span {sid} ({w.name!r}, {w.service}) field {field}: got {getattr(g, field)!r}, "
                    f"exported {getattr(w, field)!r}"
                )


def test_context_propagation_links_the_services(phase, world):
    """Parent IDs cross providers: hello-service's SERVER span is a child of client-service's
    CLIENT span, test-app's SERVER span a child of test-api-service's CLIENT span."""
    checked = 0
    expected = sum(1 for info in world.traces().values() for s in info.spans
                   if s.service in ("hello-service", "test-app") and s.parent_span_id in {x.span_id for x in info.spans})
    for info in world.traces().values():
        td = world.server.get_trace(info.trace_id, proto=True, version=2)
        spans = _by_span_id(spans_from_traces_data(td))
        for s in spans.values():
            if s.service in ("hello-service", "test-app") and s.parent_span_id in spans:
                parent = spans[s.parent_span_id]
                assert parent.kind == 3 and s.kind == 2, (parent, s)  # CLIENT -> SERVER
                assert parent.service in ("client-service", "test-api-service")
                checked += 1
    assert checked == expected and expected >= 8, (checked, expected)


def test_split_trace_is_merged(phase, world):
    tid = world.split_trace_id
    td = world.server.get_trace(tid, proto=True, version=2)
    services = sorted(s.service for s in spans_from_traces_data(td))
    if phase == "head":
        assert services == ["hello-service"]
    else:
        assert services == ["client-service", "hello-service"], "span from the block and span from the head must merge"


@pytest.mark.parametrize("accept", ["application/protobuf", "application/json"])
def test_unknown_trace_id_is_404_on_v1_and_v2(phase, world, accept):
    for path in ("/api/traces/", "/api/v2/traces/"):
        r = world.server.get(path + "0123456789abcdef0123456789abcdef", headers={"Accept": accept})
        assert r.status_code == 404, f"{path}: {r.status_code} {r.text[:200]}"


def test_invalid_trace_id_is_400(phase, world):
    r = world.server.get("/api/traces/not-a-hex-id")
    assert r.status_code == 400, r.text
    assert "trace ID" in r.text or "trace id" in r.text.lower()


# ---------------------------------------------------------------------------------------------
# TraceQL search
# ---------------------------------------------------------------------------------------------

def _tid(raw: str) -> int:
    return int(raw, 16)


def expected_matches(world: World, pred, only_split: bool = False) -> dict[int, tuple[TraceInfo, list[SpanRecord]]]:
    """Traces (and their spans) that `pred(span, trace)` selects. The trace split between a
    block and the head is left out (it has its own test) unless `only_split`."""
    out = {}
    for tid, info in world.traces().items():
        if (tid == world.split_trace_id) != only_split:
            continue
        matched = [s for s in info.spans if pred(s, info)]
        if matched:
            out[_tid(tid)] = (info, matched)
    return out


def check_search(result: dict, expected: dict, spss: int, what: str, keep=lambda key: True) -> None:
    """Checks the traces of a search result for which `keep(trace id as int)` holds."""
    assert "traces" in result, f"{what}: no 'traces' in {result}"
    got = {}
    for t in result["traces"]:
        key = _tid(t["traceID"])
        assert key not in got, f"{what}: trace {t['traceID']} listed twice"
        if keep(key):
            got[key] = t
    assert set(got) == set(expected), (
        f"{what}: got traces {sorted(f'{k:032x}' for k in got)}\nexpected {sorted(f'{k:032x}' for k in expected)}"
    )
    for key, t in got.items():
        info, matched = expected[key]
        label = f"{what} trace {info.trace_id}"
        assert t["rootServiceName"] == info.root_service, label
        if info.root is not None:
            assert t.get("rootTraceName", "") == info.root_name, label
        assert int(t["startTimeUnixNano"]) == info.start, label
        assert abs(int(t.get("durationMs", 0)) - info.duration_ns / MS) <= 1, (label, t.get("durationMs"), info.duration_ns)
        stats = {svc: (s.get("spanCount", 0), s.get("errorCount", 0)) for svc, s in t["serviceStats"].items()}
        assert stats == info.service_stats(), f"{label}: serviceStats {stats} != {info.service_stats()}"
        assert len(t["spanSets"]) == 1, label
        ss = t["spanSets"][0]
        assert ss["matched"] == len(matched), f"{label}: matched {ss['matched']} != {len(matched)} ({[s.name for s in matched]})"
        assert len(ss["spans"]) == min(spss, len(matched)), f"{label}: {len(ss['spans'])} spans with spss={spss}"
        want = {s.span_id: s for s in matched}
        for sp in ss["spans"]:
            sid = sp["spanID"].rjust(16, "0")
            assert sid in want, f"{label}: span {sid} ({sp.get('name')}) does not match the query"
            w = want[sid]
            assert sp["name"] == w.name, label
            assert int(sp["startTimeUnixNano"]) == w.start, label
            assert int(sp["durationNanos"]) == w.duration_ns, label
        if "spanSet" in t:
            assert t["spanSet"]["matched"] == ss["matched"], label


def not_split(world: World):
    split = _tid(world.split_trace_id)
    return lambda key: key != split


def _http_method(s):
    return s.attrs.get("http.method", dict(s.resource).get("http.method"))


QUERIES = [
    ("all", "{}", lambda s, t: True),
    ("service", '{resource.service.name="hello-service"}', lambda s, t: s.service == "hello-service"),
    ("span-name", '{name="fast_operation"}', lambda s, t: s.name == "fast_operation"),
    ("route-and-duration", '{span.http.route="/slow" && duration>500ms}',
     lambda s, t: s.attrs.get("http.route") == "/slow" and s.duration_ns > 500 * MS),
    ("kind-and-service", '{kind=server && resource.service.name="test-app"}',
     lambda s, t: s.kind == 2 and s.service == "test-app"),
    ("status-error", "{status=error}", lambda s, t: s.status_code == 2),
    ("status-ok", "{status=ok}", lambda s, t: s.status_code == 1),
    ("root-service", '{rootServiceName="client-service"}', lambda s, t: t.root_service == "client-service"),
    ("root-name", '{rootName="GET /slow"}', lambda s, t: t.root is not None and t.root.name == "GET /slow"),
    ("trace-duration", "{traceDuration>1s}", lambda s, t: t.duration_ns > SEC),
    ("unscoped-attr", '{.http.method="GET"}', lambda s, t: _http_method(s) == "GET"),
    ("builder-or", '{(resource.service.name="hello-service" || resource.service.name="test-app") && kind=server}',
     lambda s, t: s.service in ("hello-service", "test-app") and s.kind == 2),
    ("builder-or-names", '{(name="fast_operation" || name="slow_operation")}',
     lambda s, t: s.name in ("fast_operation", "slow_operation")),
    ("builder-not-and", '{(span.http.route!="/fast" && span.http.route!="/slow")}',
     lambda s, t: "http.route" in s.attrs and s.attrs["http.route"] not in ("/fast", "/slow")),
    ("builder-regex", '{resource.service.name=~"hello-service|test-app"}',
     lambda s, t: s.service in ("hello-service", "test-app")),
    ("builder-example", '{resource.service.name="test-api-service" && name="GET /slow" && status=error && duration>100ms && span.http.status_code=500}',
     lambda s, t: s.service == "test-api-service" and s.name == "GET /slow" and s.status_code == 2
     and s.duration_ns > 100 * MS and s.attrs.get("http.status_code") == 500),
    ("int-compare", "{span.http.status_code>=400}", lambda s, t: s.attrs.get("http.status_code", 0) >= 400),
    ("duration-units", "{duration>=1.5s}", lambda s, t: s.duration_ns >= 1_500 * MS),
    ("float-attr", "{span.work.ratio<0.5}", lambda s, t: s.attrs.get("work.ratio", 1.0) < 0.5),
    ("bool-attr", "{span.cache.hit=false}", lambda s, t: s.attrs.get("cache.hit") is False),
    ("spaces", '{ resource.service.name = "test-app" && kind = server }', lambda s, t: s.service == "test-app" and s.kind == 2),
    ("spanset-and", '{resource.service.name="client-service"} && {resource.service.name="hello-service"}', None),
]


def _expected_for(world: World, pred, only_split: bool = False):
    if pred is None:
        # Two spansets joined by && : traces that have both; matched spans are the union.
        cs = expected_matches(world, lambda s, t: s.service == "client-service", only_split)
        hs = expected_matches(world, lambda s, t: s.service == "hello-service", only_split)
        return {k: (cs[k][0], cs[k][1] + hs[k][1]) for k in cs.keys() & hs.keys()}
    return expected_matches(world, pred, only_split)


@pytest.mark.parametrize("name,q,pred", QUERIES, ids=[q[0] for q in QUERIES])
def test_traceql_search(phase, world, name, q, pred):
    expected = _expected_for(world, pred)
    assert expected, f"query {q} expects no results: the test data is wrong"
    spss = 50
    result = world.server.search(q, limit=100, spss=spss)
    check_search(result, expected, spss, f"[{phase}] {q}", keep=not_split(world))


SPLIT_QUERIES = [q for q in QUERIES if q[0] in ("all", "service", "root-service", "unscoped-attr", "builder-or", "spanset-and")]
SPLIT_QUERIES.append(("trace-level-and-span", '{kind=server && rootName="GET"}',
                      lambda s, t: s.kind == 2 and t.root is not None and t.root.name == "GET"))


@pytest.mark.parametrize("name,q,pred", SPLIT_QUERIES, ids=[q[0] for q in SPLIT_QUERIES])
def test_search_evaluates_a_trace_split_between_block_and_head_as_one_trace(phase, world, name, q, pred):
    """hello-service exported its SERVER span before the flush, client-service its CLIENT root
    span after it (two services, two exporters: the normal case). Search must evaluate the whole
    trace: root service/name, serviceStats, trace-level conditions and `{A} && {B}` all span
    both parts, exactly as trace-by-ID merges them."""
    split = _tid(world.split_trace_id)
    expected = _expected_for(world, pred, only_split=True)
    result = world.server.search(q, limit=100, spss=50)
    check_search(result, expected, 50, f"[{phase}] {q} (split trace)", keep=lambda key: key == split)


def test_search_with_time_range(phase, world):
    traces = world.traces()
    start_s = min(t.start for t in traces.values()) // SEC
    end_s = max(t.end for t in traces.values()) // SEC + 1
    expected = expected_matches(world, lambda s, t: True)
    check_search(world.server.search("{}", limit=100, spss=50, start=start_s, end=end_s), expected, 50, "start/end around all", keep=not_split(world))
    r = world.server.search("{}", limit=100, start=end_s + 3600, end=end_s + 7200)
    assert r["traces"] == [], "a window after all data must find nothing"


def test_limit_is_honoured(phase, world):
    total = len(world.traces())
    for limit in (1, 2, 5):
        r = world.server.search("{}", limit=limit)
        assert len(r["traces"]) == min(limit, total), f"limit={limit}: {len(r['traces'])} traces"
        assert {_tid(t["traceID"]) for t in r["traces"]} <= {_tid(t) for t in world.traces()}


@pytest.mark.parametrize("spss", [1, 2])
def test_spss_is_honoured(phase, world, spss):
    expected = expected_matches(world, lambda s, t: _http_method(s) == "GET")
    check_search(world.server.search('{.http.method="GET"}', limit=100, spss=spss), expected, spss, f"spss={spss}", keep=not_split(world))


def test_default_spss_is_3(phase, world):
    expected = expected_matches(world, lambda s, t: True)
    check_search(world.server.search("{}", limit=100), expected, 3, "default spss", keep=not_split(world))


def test_min_and_max_duration(phase, world):
    slow = expected_matches(world, lambda s, t: t.duration_ns >= SEC)
    check_search(world.server.search("{}", limit=100, spss=50, minDuration="1s"), slow, 50, "minDuration=1s", keep=not_split(world))
    fast = expected_matches(world, lambda s, t: t.duration_ns <= 100 * MS)
    check_search(world.server.search("{}", limit=100, spss=50, maxDuration="100ms"), fast, 50, "maxDuration=100ms", keep=not_split(world))
    mid = expected_matches(world, lambda s, t: 10 * MS <= t.duration_ns <= 2 * SEC)
    check_search(world.server.search("{}", limit=100, spss=50, minDuration="10ms", maxDuration="2s"), mid, 50,
                 "minDuration=10ms&maxDuration=2s", keep=not_split(world))


def test_invalid_traceql_is_400(phase, world):
    r = world.server.get("/api/search", params={"q": '{resource.service.name="x"'})
    assert r.status_code == 400, r.text
    assert "TraceQL" in r.text or "traceql" in r.text.lower(), r.text


# ---------------------------------------------------------------------------------------------
# Tags and tag values (Grafana's autocomplete)
# ---------------------------------------------------------------------------------------------

def test_tags_list_the_attributes_sent(phase, world):
    body = world.server.tags()
    scopes = {s["name"]: set(s["tags"]) for s in body["scopes"]}
    assert {"resource", "span", "intrinsic"} <= set(scopes), scopes.keys()
    resource_keys = set()
    span_keys = set()
    for s in world.spans():
        resource_keys |= {k for k, _ in s.resource}
        span_keys |= {k for k, v in s.attributes if not isinstance(v, tuple)}  # arrays: next test
    assert resource_keys <= scopes["resource"], f"missing resource tags {resource_keys - scopes['resource']}"
    assert span_keys <= scopes["span"], f"missing span tags {span_keys - scopes['span']}"
    assert scopes["resource"] == resource_keys, f"unexpected resource tags {scopes['resource'] - resource_keys}"
    array_keys = {k for s in world.spans() for k, v in s.attributes if isinstance(v, tuple)}
    assert scopes["span"] - array_keys == span_keys, f"unexpected span tags {scopes['span'] - span_keys - array_keys}"
    assert {"name", "status", "kind", "duration", "traceDuration", "rootName", "rootServiceName", "statusMessage"} <= scopes["intrinsic"]


def test_tags_list_array_valued_attributes(phase, world):
    """`work.tags` is a string array (OTLP arrayValue). Tempo lists such keys, and TraceQL can
    filter on them, so Grafana's autocomplete must offer them."""
    scopes = {s["name"]: set(s["tags"]) for s in world.server.tags()["scopes"]}
    array_keys = {k for s in world.spans() for k, v in s.attributes if isinstance(v, tuple)}
    assert array_keys == {"work.tags"}
    assert array_keys <= scopes["span"], f"array-valued attribute keys missing from the span scope: {array_keys - scopes['span']}"


def _values(body: dict) -> dict[str, str]:
    return {v["value"]: v["type"] for v in body["tagValues"]}


def test_tag_values(phase, world):
    spans = world.spans()
    services = {s.service for s in spans}
    assert _values(world.server.tag_values("resource.service.name")) == {s: "string" for s in services}
    routes = {s.attrs["http.route"] for s in spans if "http.route" in s.attrs}
    assert _values(world.server.tag_values("span.http.route")) == {r: "string" for r in routes}
    codes = _values(world.server.tag_values("span.http.status_code"))
    assert codes == {"200": "int", "500": "int"}, codes
    names = _values(world.server.tag_values("name"))
    assert {s.name for s in spans} <= set(names), names
    status = _values(world.server.tag_values("status"))
    assert {"error", "ok", "unset"} <= set(status) and all(t == "keyword" for t in status.values()), status
    assert _values(world.server.tag_values(".http.method")) == {"GET": "string"}
    assert _values(world.server.tag_values("span.cache.hit")) == {"false": "bool"}


# ---------------------------------------------------------------------------------------------
# Tenants
# ---------------------------------------------------------------------------------------------

def test_tenants_never_see_each_others_data(weft_factory):
    server = weft_factory(config=SDK_CONFIG, name="tenants")
    shared_tid = 0x5B8EFFF798038103D269B633813FC60C
    svc_a = Service("svc-a", server, "http", tenant="tenant-a", id_generator=FixedTraceIdGenerator(shared_tid))
    svc_b = Service("svc-b", server, "grpc", tenant="tenant-b", id_generator=FixedTraceIdGenerator(shared_tid))
    try:
        t0 = time.time_ns() - 60 * SEC
        for svc, secret in ((svc_a, "a-only"), (svc_b, "b-only")):
            root = svc.tracer.start_span("GET /tenant", start_time=t0, attributes={f"secret.{secret}": secret})
            root.end(end_time=t0 + 3 * MS)
            svc.flush()
        tid = f"{shared_tid:032x}"
        want_a = {s.span_id for s in svc_a.exported()}
        want_b = {s.span_id for s in svc_b.exported()}

        def check(stage: str):
            for tenant, want, other_secret in (("tenant-a", want_a, "secret.b-only"), ("tenant-b", want_b, "secret.a-only")):
                for version in (1, 2):
                    td = server.get_trace(tid, tenant=tenant, proto=True, version=version)
                    assert td is not None, f"[{stage}] {tenant} cannot read its own trace"
                    got = {s.span_id for s in spans_from_traces_data(td)}
                    assert got == want, f"[{stage}] {tenant} v{version} sees spans {got}, expected {want}"
                res = server.search("{}", tenant=tenant, limit=100)
                assert [t["traceID"].rjust(32, "0") for t in res["traces"]] == [tid], f"[{stage}] {tenant}: {res}"
                assert set(res["traces"][0]["serviceStats"]) == {"svc-a" if tenant == "tenant-a" else "svc-b"}
                tags = {s["name"]: set(s["tags"]) for s in server.tags(tenant=tenant)["scopes"]}
                assert other_secret not in tags.get("span", set()), f"[{stage}] {tenant} sees the other tenant's tag"
                values = _values(server.tag_values("resource.service.name", tenant=tenant))
                assert set(values) == {"svc-a" if tenant == "tenant-a" else "svc-b"}, values
            for tenant in (None, "tenant-c"):
                for version in (1, 2):
                    assert server.get_trace(tid, tenant=tenant, proto=True, version=version) is None, (
                        f"[{stage}] tenant {tenant or 'single-tenant'} must not see the trace"
                    )
                assert server.search("{}", tenant=tenant, limit=100)["traces"] == [], f"[{stage}] {tenant}"
                assert _values(server.tag_values("resource.service.name", tenant=tenant)) == {}

        check("head")
        m = server.metrics()
        assert m.get("weft_accepted_items_total", signal="traces", transport="http", tenant="tenant-a") == 1
        assert m.get("weft_accepted_items_total", signal="traces", transport="grpc", tenant="tenant-b") == 1
        server.flush()
        check("block")
        server.restart(kill=True)
        check("restarted")
    finally:
        svc_a.shutdown()
        svc_b.shutdown()
