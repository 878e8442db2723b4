#!/usr/bin/env bash
# Builds and starts `weft serve` with the embedded defaults (data in ./weft-data, OTLP gRPC
# :4317, OTLP HTTP :4318, query API :3200). Extra arguments go to `weft serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
# jemalloc (the allocator) and zstd build C code: they need a C compiler and make.
if ! command -v cc >/dev/null || ! command -v make >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq build-essential
fi
if ! command -v cargo >/dev/null; then
  echo "error: cargo (the Rust toolchain) is needed to build weft; install it with rustup" >&2
  exit 1
fi
exec cargo run --release -p weft -- serve "$@"
