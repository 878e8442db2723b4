"""Differential PromQL testing: the same generated data is sent by Prometheus remote write 1.0
to two servers that speak the Prometheus HTTP query API, the same queries are run against both,
and the results are compared (see run.py for the command line, and
tests/e2e/test_promql_differential.py for the Weft-vs-Prometheus test).

Modules:
    remote_write  hand-written protobuf + snappy encoding of a remote write 1.0 WriteRequest
    data          deterministic, realistic test data (counters, gauges, histograms, summary)
    queries       the query corpus (>= 300 PromQL expressions) and how each one is evaluated
    compare       comparison of two query API JSON answers with a readable diff
    exclusions    queries excluded because Prometheus 2.x and 3.x are documented to differ
    prom          starting a Prometheus process and talking to any Prometheus-API endpoint
    run           command line entry point (also the Prometheus-vs-Prometheus self-check)
"""
