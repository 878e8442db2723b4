"""Seed 003 (interLink monitoring): the Virtual Kubelet's spans, sent through the real
OpenTelemetry SDK, give the edge from the VK to the interLink API.

The VK (Go SDK, `tracer.Start`) emits INTERNAL spans such as `CreateHttpCall` and
`StatusHttpCall` for its HTTP calls to the interLink API, with `pod.name`, `pod.namespace`,
`start.timestamp`, `end.timestamp`, `duration`, `exitc.code`; the API emits nothing and no
context is propagated, so Tempo draws no edge at all. weft's `inferred_client_spans` rule
turns those spans into client calls that end, after the wait, in the configured peer.
"""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from sdk_world import MS, Service
from test_service_graph import wait_for

CONFIG = """
service_graph:
  collection_interval: 1s
  service_graphs:
    wait: 1s
    inferred_client_spans:
      - service: "(?i).*virtual.?kubelet.*|VK-.*"
        span_name: "(Create|Delete|Status|Log|Ping)HttpCall"
        peer: interlink-api
"""

VK = "VK-interlink-node"


def vk_call(vk: Service, parent_name: str | None, name: str, t0: int, pod: str | None, exit_code: int = 200):
    """One VK operation: optionally a Kubernetes-side span (`CreatePodVK`…) around the HTTP call span."""
    parent = None
    if parent_name:
        parent = vk.tracer.start_span(parent_name, kind=SpanKind.INTERNAL, start_time=t0,
                                      attributes={"pod.name": pod, "pod.namespace": "default"})
    ctx = trace.set_span_in_context(parent) if parent is not None else None
    attrs = {"start.timestamp": t0 + MS, "end.timestamp": t0 + 21 * MS, "duration": 20, "exitc.code": exit_code}
    if pod:
        attrs.update({"pod.name": pod, "pod.namespace": "default"})
    call = vk.tracer.start_span(name, context=ctx, kind=SpanKind.INTERNAL, start_time=t0 + MS, attributes=attrs)
    call.end(end_time=t0 + 21 * MS)
    if parent is not None:
        parent.end(end_time=t0 + 25 * MS)


def test_virtual_kubelet_calls_become_the_edge_to_the_interlink_api(weft_factory):
    server = weft_factory(CONFIG)
    vk = Service(VK, server, "grpc")
    t0 = time.time_ns()
    vk_call(vk, "CreatePodVK", "CreateHttpCall", t0, "job-1")
    vk_call(vk, "GetPodStatusVK", "StatusHttpCall", t0 + 30 * MS, "job-1")
    vk_call(vk, "GetPodStatusVK", "StatusHttpCall", t0 + 60 * MS, "job-1")
    vk_call(vk, None, "PingHttpCall", t0 + 90 * MS, None)
    vk_call(vk, "DeletePodVK", "DeleteHttpCall", t0 + 120 * MS, "job-1")
    # Kubernetes-side spans with no HTTP call to interLink are not edges.
    vk_call(vk, None, "GetPodsVK", t0 + 150 * MS, None)
    vk.flush()

    wait_for(server, "sum by (client, server, connection_type) (traces_service_graph_request_total)", {
        (("client", VK), ("connection_type", "virtual_node"), ("server", "interlink-api")): 5.0,
    })
    # The node graph API shows the API as a virtual node (it emits no spans of its own).
    graph = server.session.get(server.url + "/api/v1/service-graph", timeout=10).json()["data"]
    kinds = {n["id"]: n["kind"] for n in graph["nodes"]}
    assert kinds == {VK: "service", "interlink-api": "virtual"}, kinds
    vk.shutdown()
