#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then runs the Rust tests (unit,
# integration, the TraceQL conformance corpus from ../shared), brief fuzzing of every
# decoder and parser, and the end-to-end tests with the real OpenTelemetry Python SDK.
#
# Usage: scripts/test.sh            (from anywhere; needs ../shared beside the checkout)
# Env:   FUZZ_SECONDS=N             seconds per fuzz target (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

if [ ! -d ../shared/conformance ]; then
  echo "error: ../shared (conformance corpora) must sit beside the checkout" >&2
  exit 1
fi

step "system packages"
need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv' 2>/dev/null || need_apt+=(python3-venv)
{ command -v cc >/dev/null && command -v make >/dev/null; } || need_apt+=(build-essential)
# Reference server for tests/e2e/test_promql_differential.py (Debian's prometheus, 2.42 on bookworm).
{ [ -x /usr/bin/prometheus ] || command -v prometheus >/dev/null; } || need_apt+=(prometheus)
# The seed's Node.js prom-client service, scraped by tests/e2e/test_scrape.py.
{ command -v node >/dev/null && command -v npm >/dev/null; } || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

step "python test dependencies"
venv="$root/tests/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/requirements.txt

step "node test dependencies"
npm ci --prefix tests/e2e/apps/promclient --no-audit --no-fund --loglevel=error

step "formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings

step "rust tests"
cargo test --workspace

fuzz_seconds=${FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" != 0 ]; then
  step "fuzzing each target for ${fuzz_seconds}s"
  scripts/fuzz.sh "$fuzz_seconds"
fi

step "end-to-end tests (OpenTelemetry SDK, Prometheus 2.42, prom-client against weft)"
cargo build -p weft
WEFT_BIN="$root/target/debug/weft" "$venv/bin/python" -m pytest tests/e2e -q -p no:cacheprovider
