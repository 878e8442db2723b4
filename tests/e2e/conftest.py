"""Fixtures: weft on free loopback ports in a temporary data directory.

`weft`          a fresh server for one test; on teardown SIGTERM and exit code 0 within 30 s.
`weft_factory`  starts more servers (optionally with a YAML config or an existing data dir);
                `server.restart()` / `server.restart(kill=True)` reuse data dir and ports.
"""

from __future__ import annotations

import sys

# Fail loudly (never skip) when a test dependency is missing.
_missing = []
for _mod in ("requests", "google.protobuf", "grpc", "opentelemetry.sdk.trace", "opentelemetry.proto.trace.v1.trace_pb2",
             "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "opentelemetry.exporter.otlp.proto.http.trace_exporter",
             "google.rpc.status_pb2"):
    try:
        __import__(_mod)
    except ImportError as _e:  # pragma: no cover - only when the environment is broken
        _missing.append(f"{_mod} ({_e})")
if _missing:
    raise RuntimeError(
        "missing end-to-end test dependencies: " + ", ".join(_missing)
        + "\ninstall them with: python3 -m pip install -r tests/requirements.txt"
    )

import pytest  # noqa: E402

from weft_client import WeftError, WeftServer, running_servers, weft_binary  # noqa: E402


@pytest.fixture(scope="session")
def weft_bin():
    try:
        return weft_binary()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)


class _Factory:
    def __init__(self, tmp_path_factory, weft_bin):
        self.tmp = tmp_path_factory
        self.servers: list[WeftServer] = []

    def __call__(self, config: str | None = None, data_dir=None, start: bool = True, name: str = "weft") -> WeftServer:
        if data_dir is None:
            data_dir = self.tmp.mktemp(name) / "data"
        server = WeftServer(data_dir, config_yaml=config)
        self.servers.append(server)
        if start:
            server.start()
        return server

    def close(self) -> None:
        errors = []
        for server in self.servers:
            try:
                server.stop_ok()
            except WeftError as e:
                errors.append(str(e))
        if errors:
            pytest.fail("ordered shutdown failed:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture
def weft_factory(tmp_path_factory, weft_bin):
    factory = _Factory(tmp_path_factory, weft_bin)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def weft_module_factory(tmp_path_factory, weft_bin):
    factory = _Factory(tmp_path_factory, weft_bin)
    yield factory
    factory.close()


@pytest.fixture
def weft(weft_factory) -> WeftServer:
    return weft_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in running_servers():
            report.sections.append((f"weft log ({server.log_path.name})", server.log_tail(4000)))


def pytest_report_header(config):
    try:
        return f"weft binary: {weft_binary()}"
    except FileNotFoundError as e:
        return f"weft binary: MISSING ({e})"


sys.dont_write_bytecode = True
