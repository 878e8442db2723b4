#!/usr/bin/env bash
# Trace-ingest benchmark for Weft: ingest efficiency, disk and memory cost,
# trace-by-ID latency. Runs everything on loopback with a fresh data dir per
# run, repeats RUNS times and prints medians as a Markdown snippet for
# BENCHMARKS.md. See bench/README.md.
#
#   SPANS=2000000 RUNS=3 bench/traces.sh > result.md
#
# Progress and per-run details go to stderr; only the Markdown goes to stdout.
set -euo pipefail

# ---- knobs (environment) -----------------------------------------------------
# name=default; the printed command line lists every knob that differs.
KNOBS=(
  SPANS=2000000            # spans per run (exact)
  RUNS=3                   # repetitions; medians are reported
  CONCURRENCY=4            # in-flight Export calls
  BATCH_SPANS=500          # spans per Export request
  RATE=0                   # spans/s target; 0 = as fast as acked
  SERVICES=10              # distinct service.name values
  GZIP=0                   # 1 = gzip-compressed requests
  TENANT=                  # X-Scope-OrgID, empty = none
  LOADGEN_THREADS=1        # tokio threads of the load generator
  SEED=42                  # run i uses SEED+i
  IDS_SAMPLE=10            # keep every k-th trace ID for lookups
  LOOKUPS=1000             # trace-by-ID requests per run
  LOOKUP_CONCURRENCY=1     # parallel lookup connections
  FLUSH_WAIT=0             # seconds to wait if POST /flush is missing
  FLUSH_TIMEOUT=300        # max seconds for POST /flush
  READY_TIMEOUT=60         # max seconds for GET /ready to return 200
  STOP_TIMEOUT=30          # seconds between SIGTERM and SIGKILL
  MAX_SECONDS=900          # hard cap on one load-generator run
  SKIP_BUILD=0             # 1 = use existing release binaries
  KEEP_DATA=0              # 1 = keep the temp dir (data, logs, IDs)
)
declare -A DEFAULT=()
for kv in "${KNOBS[@]}"; do
  name=${kv%%=*}
  DEFAULT[$name]=${kv#*=}
  declare "$name=${!name:-${kv#*=}}"
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WEFT=$TARGET_DIR/release/weft
LOADGEN=$TARGET_DIR/release/otlp-loadgen

SERVER_PID=
CHILD_PID=
WORK=

log() { printf '[traces.sh] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ---- cleanup: never leave a server or a temp dir behind -------------------------
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      log "weft did not exit ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $CHILD_PID ]]; then
    kill -TERM "$CHILD_PID" 2>/dev/null || true
    wait "$CHILD_PID" 2>/dev/null || true
  fi
  stop_server
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ $KEEP_DATA == 1 ]]; then
      log "kept $WORK"
    else
      rm -rf -- "$WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command in the background and waits for it, so that a signal to this
# script runs the trap (and kills the child) instead of waiting for it.
run_child() {
  "$@" &
  CHILD_PID=$!
  local rc=0
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=
  return "$rc"
}

# ---- helpers ---------------------------------------------------------------------
check_knobs() {
  local n
  for n in SPANS RUNS CONCURRENCY BATCH_SPANS RATE SERVICES GZIP LOADGEN_THREADS SEED \
    IDS_SAMPLE LOOKUPS LOOKUP_CONCURRENCY FLUSH_WAIT FLUSH_TIMEOUT READY_TIMEOUT \
    STOP_TIMEOUT MAX_SECONDS SKIP_BUILD KEEP_DATA; do
    [[ ${!n} =~ ^[0-9]+$ ]] || die "$n must be a non-negative integer, got '${!n}'"
  done
  ((SPANS > 0 && RUNS > 0 && LOOKUPS > 0)) || die "SPANS, RUNS and LOOKUPS must be positive"
  local tool
  for tool in curl awk du getconf mktemp sort; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
}

USED_PORTS=" "
PORT=
# Picks a loopback port nobody listens on, below the usual ephemeral range so
# outgoing connections are unlikely to take it before weft binds it.
pick_port() {
  local tries p
  for ((tries = 0; tries < 500; tries++)); do
    p=$((20000 + RANDOM % 12000))
    [[ $USED_PORTS == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS+="$p "
      PORT=$p
      return 0
    fi
  done
  die "no free loopback port found"
}

# utime+stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat;
# counted after the ')' that ends the command name, which may contain spaces).
cpu_ticks() {
  local stat rest
  stat=$(<"/proc/$1/stat")
  rest=${stat##*) }
  local -a f
  read -ra f <<<"$rest"
  echo $((f[11] + f[12]))
}

# A field of /proc/PID/status in kB (VmRSS, VmHWM).
status_kb() {
  awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# Value of key=value on the RESULT line of a tool's output.
result() {
  awk -v k="$2" '/^RESULT / { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) { print a[2]; exit } } }' "$1"
}

# div NUM DEN DECIMALS; "n/a" when DEN is 0 (e.g. under one clock tick of CPU).
div() {
  awk -v n="$1" -v d="$2" -v p="$3" 'BEGIN { if (d == 0) print "n/a"; else printf "%.*f\n", p, n / d }'
}

# Median of numbers; "n/a" if any value is not a number.
median() {
  printf '%s\n' "$@" | sort -g | awk '
    !/^-?[0-9.]+$/ { bad = 1 }
    { v[NR] = $1 }
    END {
      if (bad || NR == 0) print "n/a"
      else if (NR % 2) print v[(NR + 1) / 2]
      else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

# The command line to reproduce this run: every knob that differs from its default.
command_line() {
  local out="" kv name
  for kv in "${KNOBS[@]}"; do
    name=${kv%%=*}
    if [[ $name == SPANS || $name == RUNS || ${!name} != "${DEFAULT[$name]}" ]]; then
      out+="$name=${!name} "
    fi
  done
  echo "${out}bench/traces.sh"
}

machine() {
  local cpu mem
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
  echo "${cpu:-unknown CPU}, $(getconf _NPROCESSORS_ONLN) CPUs, $mem RAM, Linux $(uname -r)"
}

# ---- one run ----------------------------------------------------------------------
start_server() {
  local dir=$1
  pick_port
  GRPC_PORT=$PORT
  pick_port
  OTLP_HTTP_PORT=$PORT
  pick_port
  HTTP_PORT=$PORT
  mkdir -p "$dir/data"
  "$WEFT" serve --data-dir "$dir/data" \
    --otlp-grpc-addr "127.0.0.1:$GRPC_PORT" \
    --otlp-http-addr "127.0.0.1:$OTLP_HTTP_PORT" \
    --http-addr "127.0.0.1:$HTTP_PORT" >"$dir/weft.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + READY_TIMEOUT))
  until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$HTTP_PORT/ready" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      tail -n 30 "$dir/weft.log" >&2 || true
      die "weft exited before becoming ready (log above)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$dir/weft.log" >&2 || true
      die "weft not ready after ${READY_TIMEOUT}s (log above)"
    fi
    sleep 0.2
  done
}

# POST /flush if the server has it, so the on-disk size is of finished
# blocks; otherwise wait FLUSH_WAIT seconds and measure what is there.
flush_server() {
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time "$FLUSH_TIMEOUT" \
    -X POST "http://127.0.0.1:$HTTP_PORT/flush" 2>/dev/null) || code=000
  if [[ $code == 2?? ]]; then
    FLUSHED="after POST /flush"
  else
    sleep "$FLUSH_WAIT"
    FLUSHED="no /flush (HTTP $code): WAL+blocks as found ${FLUSH_WAIT}s after the last ack"
  fi
}

run_once() {
  local run=$1
  local dir=$WORK/run$run
  local run_seed=$((SEED + run))
  mkdir -p "$dir"
  start_server "$dir"
  log "run $run/$RUNS: weft pid $SERVER_PID (grpc :$GRPC_PORT, http :$HTTP_PORT), $SPANS spans"

  local -a send_args=(--endpoint "http://127.0.0.1:$GRPC_PORT" --total-spans "$SPANS"
    --duration "$MAX_SECONDS" --concurrency "$CONCURRENCY" --batch-spans "$BATCH_SPANS"
    --rate "$RATE" --services "$SERVICES" --threads "$LOADGEN_THREADS" --seed "$run_seed"
    --ids-out "$dir/ids.txt" --ids-sample "$IDS_SAMPLE")
  [[ $GZIP == 1 ]] && send_args+=(--gzip)
  [[ -n $TENANT ]] && send_args+=(--tenant "$TENANT")

  local cpu0 cpu1 cpu2
  cpu0=$(cpu_ticks "$SERVER_PID")
  if ! run_child "$LOADGEN" "${send_args[@]}" >"$dir/loadgen.out"; then
    cat "$dir/loadgen.out" >&2
    tail -n 30 "$dir/weft.log" >&2 || true
    die "load generator failed (its summary and the weft log are above)"
  fi
  cpu1=$(cpu_ticks "$SERVER_PID")
  flush_server
  cpu2=$(cpu_ticks "$SERVER_PID")
  grep -v '^RESULT' "$dir/loadgen.out" >&2

  local acked disk rss
  acked=$(result "$dir/loadgen.out" spans_acked)
  rss=$(status_kb "$SERVER_PID" VmRSS)
  disk=$(du -sb "$dir/data" | cut -f1)

  local -a lookup_args=(lookup --url "http://127.0.0.1:$HTTP_PORT" --ids "$dir/ids.txt"
    --count "$LOOKUPS" --concurrency "$LOOKUP_CONCURRENCY" --seed "$run_seed" --allow-errors)
  [[ -n $TENANT ]] && lookup_args+=(--tenant "$TENANT")
  run_child "$LOADGEN" "${lookup_args[@]}" >"$dir/lookup.out" || die "lookup failed"
  grep -v '^RESULT' "$dir/lookup.out" >&2
  local hwm
  hwm=$(status_kb "$SERVER_PID" VmHWM)

  stop_server
  local disk_after_stop
  disk_after_stop=$(du -sb "$dir/data" | cut -f1)

  local ticks_ingest=$((cpu1 - cpu0)) ticks_total=$((cpu2 - cpu0))
  R_CPU_RATE+=("$(div "$((acked * CLK_TCK))" "$ticks_ingest" 0)")
  R_CPU_RATE_FLUSH+=("$(div "$((acked * CLK_TCK))" "$ticks_total" 0)")
  R_CPU_SECS+=("$(div "$ticks_total" "$CLK_TCK" 2)")
  R_WALL_RATE+=("$(result "$dir/loadgen.out" rate)")
  R_EXPORT_P50+=("$(result "$dir/loadgen.out" p50_ms)")
  R_EXPORT_P99+=("$(result "$dir/loadgen.out" p99_ms)")
  R_DISK+=("$(div "$disk" "$acked" 1)")
  R_DISK_STOP+=("$(div "$disk_after_stop" "$acked" 1)")
  R_RSS+=("$(div "$rss" 1024 0)")
  R_HWM+=("$(div "$hwm" 1024 0)")
  R_LOOKUP_P50+=("$(result "$dir/lookup.out" p50_ms)")
  R_LOOKUP_P99+=("$(result "$dir/lookup.out" p99_ms)")
  R_FOUND+=("$(result "$dir/lookup.out" ok)/$(result "$dir/lookup.out" lookups)")
  log "run $run: ${R_CPU_RATE[-1]} spans/CPU-s, ${R_DISK[-1]} B/span ($FLUSHED), RSS ${R_RSS[-1]} MiB, lookup p50 ${R_LOOKUP_P50[-1]} ms p99 ${R_LOOKUP_P99[-1]} ms"

  [[ $KEEP_DATA == 1 ]] || rm -rf -- "$dir"
}

# ---- report -----------------------------------------------------------------------
row() {
  local label=$1
  shift
  local joined
  joined=$(printf '%s / ' "$@")
  printf '| %s | %s | %s |\n' "$label" "$(median "$@")" "${joined% / }"
}

report() {
  local rev
  rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "no commit")
  cat <<EOF
### Trace ingest ($(date -u +%Y-%m-%d), weft $rev)

Command: \`$(command_line)\`
Machine: $(machine)
Load: $SPANS spans per run in $BATCH_SPANS-span requests of whole traces (5-30 spans each), $SERVICES services, concurrency $CONCURRENCY, gzip $([[ $GZIP == 1 ]] && echo on || echo off); lookups: $LOOKUPS random trace IDs, \`Accept: application/protobuf\`, concurrency $LOOKUP_CONCURRENCY.

| Metric | Median of $RUNS | Runs |
|---|---:|---|
EOF
  row "Ingest: spans per server CPU-second (to last ack)" "${R_CPU_RATE[@]}"
  row "Ingest: spans per server CPU-second (incl. flush)" "${R_CPU_RATE_FLUSH[@]}"
  row "Server CPU-seconds for the whole ingest" "${R_CPU_SECS[@]}"
  row "Ingest wall-clock rate, spans/s (client-side)" "${R_WALL_RATE[@]}"
  row "Export latency p50, ms (client-side)" "${R_EXPORT_P50[@]}"
  row "Export latency p99, ms (client-side)" "${R_EXPORT_P99[@]}"
  row "Bytes on disk per span ($FLUSHED)" "${R_DISK[@]}"
  row "Bytes on disk per span (after SIGTERM shutdown)" "${R_DISK_STOP[@]}"
  row "Server RSS after ingest, MiB (VmRSS)" "${R_RSS[@]}"
  row "Server peak RSS, MiB (VmHWM, incl. lookups)" "${R_HWM[@]}"
  row "Trace by ID p50, ms" "${R_LOOKUP_P50[@]}"
  row "Trace by ID p99, ms" "${R_LOOKUP_P99[@]}"
  printf '| Trace IDs found | | %s |\n' "$(printf '%s ' "${R_FOUND[@]}")"
}

main() {
  check_knobs
  CLK_TCK=$(getconf CLK_TCK)
  cd "$ROOT"
  if [[ $SKIP_BUILD != 1 ]]; then
    log "building weft and otlp-loadgen (release)"
    cargo build --release -p weft -p otlp-loadgen >&2
  fi
  [[ -x $WEFT && -x $LOADGEN ]] || die "missing $WEFT or $LOADGEN"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/weft-bench.XXXXXX")

  R_CPU_RATE=() R_CPU_RATE_FLUSH=() R_CPU_SECS=() R_WALL_RATE=() R_EXPORT_P50=()
  R_EXPORT_P99=() R_DISK=() R_DISK_STOP=() R_RSS=() R_HWM=() R_LOOKUP_P50=()
  R_LOOKUP_P99=() R_FOUND=()
  local run
  for ((run = 1; run <= RUNS; run++)); do
    run_once "$run"
  done
  report
}

main "$@"
