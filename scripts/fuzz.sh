#!/usr/bin/env bash
# Runs every cargo-fuzz target for a short time (default 20 s each). cargo-fuzz needs
# nightly-only compiler flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
if ! command -v cargo-fuzz >/dev/null; then
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
  echo "--- fuzz target $target (${seconds}s)"
  mkdir -p "corpus/$target"
  # Committed seeds (valid inputs) give the fuzzer a head start; the corpus grows locally.
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  cargo fuzz run "$target" "corpus/$target" "${seeds[@]}" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tail -n 3
done
