#!/usr/bin/env bash
# Side-by-side metrics benchmark: weft vs Prometheus 2.42 vs VictoriaMetrics 1.79 on the
# same remote-write load (bench/rw-loadgen), each server in turn on free loopback ports
# with a fresh data dir. Measures ingest (samples per server CPU-second), bytes per sample
# on disk, RSS per active series and PromQL range-query latency; prints a Markdown table
# with the ratios weft/peer. See bench/README.md.
#
#   bench/metrics.sh > result.md          # full run (≈ 10–15 min on 2 cores)
#   QUICK=1 bench/metrics.sh              # smoke run (≈ 2 min)
#
# Progress goes to stderr; only the Markdown goes to stdout.
set -euo pipefail

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  Q_HOSTS=30 Q_RUNS=1 Q_QUERY_RUNS=3
else
  Q_HOSTS=300 Q_RUNS=3 Q_QUERY_RUNS=10
fi
KNOBS=(
  "HOSTS=$Q_HOSTS"          # hosts × (8 × CPUS + 71) series
  CPUS=4                    # CPUs per host (8 node_cpu_seconds_total series each)
  INTERVAL_MS=15000         # scrape interval of the generated data
  BACKFILL_SAMPLES=860      # samples per series in the backfill phase (>3h so Prometheus cuts a block)
  BACKFILL_SPS=10           # samples per series per request, backfill
  BACKFILL_SPR=500          # series per request, backfill
  LIVE_SAMPLES=80           # samples per series in the live phase (existing series)
  LIVE_SPR=2000             # series per request, live phase (1 sample per series each)
  "RUNS=$Q_RUNS"            # fresh-server repetitions per server; medians are reported
  CONCURRENCY=4             # requests in flight
  "QUERY_RUNS=$Q_QUERY_RUNS" # timed runs per query (after 1 warm-up), last repetition only
  SERVERS="weft prometheus victoriametrics"
  WEFT_FSYNC=               # empty = weft's default (always); or interval / never
  SEED=1
  IDLE_WAIT=3               # seconds between ready and the idle RSS reading
  SETTLE_WAIT=5             # seconds between the flush and the RSS reading after it (every server)
  FLUSH_TIMEOUT=300
  READY_TIMEOUT=60
  STOP_TIMEOUT=30
  MAX_SECONDS=900           # cap on one send
  SKIP_BUILD=0
  KEEP_DATA=0
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
LOADGEN=$TARGET_DIR/release/rw-loadgen
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
VICTORIA=${VICTORIA:-/usr/bin/victoria-metrics}

SERVER_PID=
CHILD_PID=
WORK=

log() { printf '[metrics.sh] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

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
      log "server did not exit ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
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
    if [[ $KEEP_DATA == 1 ]]; then log "kept $WORK"; else rm -rf -- "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run_child() {
  "$@" &
  CHILD_PID=$!
  local rc=0
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=
  return "$rc"
}

USED_PORTS=" "
PORT=
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

# utime+stime in clock ticks (fields 14, 15 of /proc/PID/stat, counted after the ')').
cpu_ticks() {
  local stat rest
  stat=$(<"/proc/$1/stat")
  rest=${stat##*) }
  local -a f
  read -ra f <<<"$rest"
  echo $((f[11] + f[12]))
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
result() {
  awk -v k="$2" '/^RESULT / { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) { print a[2]; exit } } }' "$1"
}
div() { awk -v n="$1" -v d="$2" -v p="$3" 'BEGIN { if (d == 0 || n == "" || d == "") print "n/a"; else printf "%.*f\n", p, n / d }'; }
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

command_line() {
  local out="" kv name
  [[ $QUICK == 1 ]] && out="QUICK=1 "
  for kv in "${KNOBS[@]}"; do
    name=${kv%%=*}
    [[ ${!name} != "${DEFAULT[$name]}" ]] && out+="$name=${!name} "
  done
  echo "${out}bench/metrics.sh"
}

machine() {
  local cpu mem
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
  echo "${cpu:-unknown CPU}, $(getconf _NPROCESSORS_ONLN) CPUs, $mem RAM, Linux $(uname -r)"
}

# ---- servers ------------------------------------------------------------------------
wait_ready() {
  local url=$1 logf=$2 what=$3
  local deadline=$((SECONDS + READY_TIMEOUT))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      tail -n 30 "$logf" >&2 || true
      die "$what exited before becoming ready (log above)"
    fi
    ((SECONDS < deadline)) || {
      tail -n 30 "$logf" >&2 || true
      die "$what not ready after ${READY_TIMEOUT}s"
    }
    sleep 0.2
  done
}

# Sets SERVER_PID, BASE (query API), WRITE_URL.
start_server() {
  local server=$1 dir=$2
  mkdir -p "$dir/data"
  pick_port
  local port=$PORT
  BASE="http://127.0.0.1:$port"
  WRITE_URL="$BASE/api/v1/write"
  case $server in
    weft)
      pick_port
      local grpc=$PORT
      pick_port
      local otlp_http=$PORT
      if [[ -n $WEFT_FSYNC ]]; then export WEFT_WAL__FSYNC=$WEFT_FSYNC; fi
      "$WEFT" serve --data-dir "$dir/data" --http-addr "127.0.0.1:$port" \
        --otlp-grpc-addr "127.0.0.1:$grpc" --otlp-http-addr "127.0.0.1:$otlp_http" \
        >"$dir/server.log" 2>&1 &
      SERVER_PID=$!
      wait_ready "$BASE/ready" "$dir/server.log" weft
      ;;
    prometheus)
      printf 'global:\n  scrape_interval: 15s\n' >"$dir/prom.yml"
      "$PROMETHEUS" --config.file="$dir/prom.yml" --storage.tsdb.path="$dir/data" \
        --web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver \
        >"$dir/server.log" 2>&1 &
      SERVER_PID=$!
      wait_ready "$BASE/-/ready" "$dir/server.log" prometheus
      ;;
    victoriametrics)
      "$VICTORIA" -storageDataPath="$dir/data" -httpListenAddr="127.0.0.1:$port" \
        -search.latencyOffset=0s -search.disableCache \
        >"$dir/server.log" 2>&1 &
      SERVER_PID=$!
      wait_ready "$BASE/health" "$dir/server.log" victoria-metrics
      ;;
    *) die "unknown server $server" ;;
  esac
}

# Makes the data durable and compact the server's own way; sets FLUSHED (a description).
flush_server() {
  local server=$1 dir=$2 code i
  case $server in
    weft)
      code=$(curl -sS -o "$dir/flush.out" -w '%{http_code}' --max-time "$FLUSH_TIMEOUT" \
        -X POST "$BASE/flush" 2>/dev/null) || code=000
      [[ $code == 2?? ]] || die "weft POST /flush answered $code: $(cat "$dir/flush.out" 2>/dev/null)"
      FLUSHED="POST /flush"
      ;;
    prometheus)
      # The head is compacted into a 2h block once it spans > 3h (the backfill does);
      # wait for the block, then a moment for the WAL checkpoint that follows it.
      local deadline=$((SECONDS + FLUSH_TIMEOUT))
      until compgen -G "$dir/data/*/meta.json" >/dev/null; do
        ((SECONDS < deadline)) || die "Prometheus wrote no block within ${FLUSH_TIMEOUT}s"
        sleep 0.5
      done
      sleep 3
      FLUSHED="2h block cut by Prometheus itself"
      ;;
    victoriametrics)
      curl -fsS -o /dev/null --max-time "$FLUSH_TIMEOUT" "$BASE/internal/force_flush" ||
        die "force_flush failed"
      curl -fsS -o /dev/null --max-time "$FLUSH_TIMEOUT" "$BASE/internal/force_merge" ||
        die "force_merge failed"
      sleep 1
      local deadline=$((SECONDS + FLUSH_TIMEOUT))
      while :; do
        local active
        active=$(curl -fsS --max-time 10 "$BASE/metrics" | awk '$1 == "vm_active_force_merges" { print $2 }')
        [[ ${active:-0} == 0 ]] && break
        ((SECONDS < deadline)) || die "force_merge still running after ${FLUSH_TIMEOUT}s"
        sleep 0.5
      done
      curl -fsS -o /dev/null --max-time "$FLUSH_TIMEOUT" "$BASE/internal/force_flush" || true
      sleep 1
      FLUSHED="/internal/force_flush + force_merge"
      ;;
  esac
}

# "bytes samples index_bytes" of the finished blocks / parts (see README for what each includes).
block_bytes_samples() {
  local server=$1 dir=$2 bytes=0 samples=0 index=0 m b s
  case $server in
    weft | prometheus)
      while IFS= read -r m; do
        b=$(du -sb "$(dirname "$m")" | cut -f1)
        if [[ $server == weft ]]; then
          s=$(jq -r '.num_samples' "$m")
          index=$((index + $(jq -r '.index_bytes' "$m")))
        else
          s=$(jq -r '.stats.numSamples' "$m")
          index=$((index + $(stat -c %s "$(dirname "$m")/index")))
        fi
        bytes=$((bytes + b))
        samples=$((samples + s))
      done < <(find "$dir/data" -name meta.json -not -path '*/.*')
      ;;
    victoriametrics)
      bytes=$(du -sbc "$dir/data/data" "$dir/data/indexdb" | tail -1 | cut -f1)
      index=$(du -sb "$dir/data/indexdb" | cut -f1)
      samples=$TOTAL_SAMPLES
      ;;
  esac
  echo "$bytes $samples $index"
}

declare -A R=()   # R[server:metric] = space-separated per-run values
add() { R[$1:$2]+="$3 "; }

run_once() {
  local server=$1 run=$2 last=$3
  local dir=$WORK/$server-$run
  mkdir -p "$dir"
  start_server "$server" "$dir"
  sleep "$IDLE_WAIT"
  local idle_kb cpu0 cpu1 cpu2 cpu3
  idle_kb=$(status_kb "$SERVER_PID" VmRSS)
  log "$server run $run/$RUNS: pid $SERVER_PID at $BASE, idle RSS $((idle_kb / 1024)) MiB"

  cpu0=$(cpu_ticks "$SERVER_PID")
  run_child "$LOADGEN" send --file "$WORK/backfill.rw" --url "$WRITE_URL" --concurrency "$CONCURRENCY" \
    --max-seconds "$MAX_SECONDS" >"$dir/backfill.out" || {
    cat "$dir/backfill.out" >&2
    tail -n 20 "$dir/server.log" >&2
    die "$server: backfill send failed"
  }
  cpu1=$(cpu_ticks "$SERVER_PID")
  run_child "$LOADGEN" send --file "$WORK/live.rw" --url "$WRITE_URL" --concurrency "$CONCURRENCY" \
    --max-seconds "$MAX_SECONDS" >"$dir/live.out" || {
    cat "$dir/live.out" >&2
    tail -n 20 "$dir/server.log" >&2
    die "$server: live send failed"
  }
  cpu2=$(cpu_ticks "$SERVER_PID")
  local rss_ingest_kb
  rss_ingest_kb=$(status_kb "$SERVER_PID" VmRSS)
  flush_server "$server" "$dir"
  cpu3=$(cpu_ticks "$SERVER_PID")
  # Memory that a server frees at the flush (the samples it just wrote out) takes its
  # allocator a moment to return: jemalloc's decay, Go's scavenger. Every server gets the
  # same pause before its steady-state reading.
  sleep "$SETTLE_WAIT"
  local rss_kb anon_kb
  rss_kb=$(status_kb "$SERVER_PID" VmRSS)
  anon_kb=$(status_kb "$SERVER_PID" RssAnon)

  local bf_acked live_acked acked
  bf_acked=$(result "$dir/backfill.out" samples_acked)
  live_acked=$(result "$dir/live.out" samples_acked)
  acked=$((bf_acked + live_acked))
  local disk bb
  disk=$(du -sb "$dir/data" | cut -f1)
  read -r -a bb <<<"$(block_bytes_samples "$server" "$dir")"

  add "$server" ingest_bf "$(div "$((bf_acked * CLK_TCK))" "$((cpu1 - cpu0))" 0)"
  add "$server" ingest_live "$(div "$((live_acked * CLK_TCK))" "$((cpu2 - cpu1))" 0)"
  add "$server" ingest_all "$(div "$((acked * CLK_TCK))" "$((cpu3 - cpu0))" 0)"
  add "$server" cpu_s "$(div "$((cpu3 - cpu0))" "$CLK_TCK" 2)"
  add "$server" wall_rate "$(result "$dir/backfill.out" rate)"
  add "$server" disk_all "$(div "$disk" "$acked" 3)"
  add "$server" disk_blocks "$(div "${bb[0]}" "${bb[1]}" 3)"
  add "$server" block_samples "${bb[1]}"
  add "$server" disk_index "$(div "${bb[2]}" "${bb[1]}" 3)"
  add "$server" idle_mib "$(div "$idle_kb" 1024 0)"
  add "$server" rss_mib "$(div "$rss_kb" 1024 0)"
  add "$server" rss_series_ingest "$(div "$(((rss_ingest_kb - idle_kb) * 1024))" "$SERIES" 0)"
  add "$server" rss_series "$(div "$(((rss_kb - idle_kb) * 1024))" "$SERIES" 0)"
  add "$server" anon_series "$(div "$((anon_kb * 1024))" "$SERIES" 0)"
  add "$server" acked "$acked"
  log "$server run $run: $acked samples acknowledged, codes $(result "$dir/backfill.out" codes) / $(result "$dir/live.out" codes); disk ${disk} B ($FLUSHED); RSS $((rss_kb / 1024)) MiB"
  log "  per-run so far: ingest_bf [${R[$server:ingest_bf]}] live [${R[$server:ingest_live]}] B/sample all [${R[$server:disk_all]}] blocks [${R[$server:disk_blocks]}] RSS/series [${R[$server:rss_series]}]"

  if [[ $last == 1 ]]; then
    local -a extra=()
    [[ $server == victoriametrics ]] && extra=(--param nocache=1)
    local q i=0
    for q in "${QUERIES[@]}"; do
      i=$((i + 1))
      local expr=${q%|*} step=${q##*|}
      run_child "$LOADGEN" query --url "$BASE" --query "$expr" --start "$Q_START" --end "$Q_END" \
        --step "$step" --runs "$QUERY_RUNS" --warmup 1 "${extra[@]}" >"$dir/q$i.out" ||
        die "$server: query $expr failed"
      add "$server" "q${i}_p50" "$(result "$dir/q$i.out" p50_ms)"
      add "$server" "q${i}_p90" "$(result "$dir/q$i.out" p90_ms)"
      add "$server" "q${i}_series" "$(result "$dir/q$i.out" series)"
      add "$server" "q${i}_points" "$(result "$dir/q$i.out" points)"
    done
    add "$server" hwm_mib "$(div "$(status_kb "$SERVER_PID" VmHWM)" 1024 0)"
  fi
  stop_server
  [[ $KEEP_DATA == 1 ]] || rm -rf -- "$dir"
}

# ---- report ---------------------------------------------------------------------------
# Word splitting is wanted: the per-run values are space-separated.
# shellcheck disable=SC2086
med() { median ${R[$1:$2]:-n/a}; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b == 0) print "–"; else printf "%.2f\n", a / b }'; }
has() { [[ " $SERVERS " == *" $1 "* ]]; }
# Version of a peer: its Debian package when it is the packaged binary.
pkg_version() {
  local v
  v=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true)
  [[ -n $v && $2 == /usr/bin/* ]] && echo "$v" || echo "($2)"
}
# Per-run values of a key without the trailing space, "–" when missing.
vals() { local v=${R[$1:$2]:-–}; echo "${v% }"; }

row() {
  local label=$1 key=$2 w p v
  w=$(med weft "$key")
  p=$(med prometheus "$key")
  v=$(med victoriametrics "$key")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$w" "$p" "$v" "$(ratio "$w" "$p")" "$(ratio "$w" "$v")"
}

runs_row() {
  local label=$1 key=$2 s out=""
  for s in weft prometheus victoriametrics; do
    has "$s" && out+="$s: ${R[$s:$key]% } · "
  done
  printf '| %s | %s |\n' "$label" "${out% · }"
}

report() {
  local rev
  rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "no commit")
  cat <<EOF
### Metrics: weft vs Prometheus vs VictoriaMetrics ($(date -u +%Y-%m-%d), weft $rev)

Command: \`$(command_line)\`
Machine: $(machine); the load generator shares the cores with the server.
Peers: Prometheus $(pkg_version prometheus "$PROMETHEUS"), VictoriaMetrics $(pkg_version victoria-metrics "$VICTORIA") (Debian packages; servers run one at a time).
weft: default config$([[ -n $WEFT_FSYNC ]] && echo ", wal.fsync: $WEFT_FSYNC" || echo " (wal.fsync: always)").
Load: $SERIES series ($HOSTS hosts × $((SERIES / HOSTS)) node-exporter-like series); backfill of $BACKFILL_SAMPLES samples per series at ${INTERVAL_MS} ms ($BACKFILL_SPS samples per series per request, $BACKFILL_SPR series per request), then a live phase of $LIVE_SAMPLES samples per series (1 sample per series per request, $LIVE_SPR series per request); $TOTAL_SAMPLES samples per run; concurrency $CONCURRENCY; $RUNS fresh-server run(s) per server.
Queries: 1 h range ending at the last sample, $QUERY_RUNS timed runs after 1 warm-up, uncompressed JSON, one keep-alive connection (VictoriaMetrics with its result cache off).

| Metric (median of runs) | weft | Prometheus | VictoriaMetrics | weft/Prom | weft/VM |
|---|---:|---:|---:|---:|---:|
EOF
  row "Ingest, backfill: samples per server CPU-s" ingest_bf
  row "Ingest, live (1 sample/series/request): samples per server CPU-s" ingest_live
  row "Ingest, whole run incl. flush/merge: samples per CPU-s" ingest_all
  row "Server CPU-s for the whole run" cpu_s
  row "Backfill wall-clock rate, samples/s (client-side)" wall_rate
  row "Bytes/sample, whole data dir after flush" disk_all
  row "Bytes/sample, finished blocks/parts only" disk_blocks
  row "… of which the index (weft/Prometheus \`index\`, VM \`indexdb/\`)" disk_index
  row "Samples in those blocks" block_samples
  row "Idle RSS, MiB" idle_mib
  row "RSS after ingest+flush, MiB" rss_mib
  row "RSS per series after ingest − idle, bytes" rss_series_ingest
  row "RSS per series after flush − idle, bytes" rss_series
  row "Anonymous RSS per series after flush, bytes" anon_series
  local q i=0
  for q in "${QUERIES[@]}"; do
    i=$((i + 1))
    row "Q$i p50, ms" "q${i}_p50"
    row "Q$i p90, ms" "q${i}_p90"
  done
  row "Peak RSS incl. queries, MiB" hwm_mib
  echo
  i=0
  for q in "${QUERIES[@]}"; do
    i=$((i + 1))
    echo "Q$i: \`${q%|*}\`, step ${q##*|}s — series/points returned: weft $(vals weft "q${i}_series")/$(vals weft "q${i}_points"), Prometheus $(vals prometheus "q${i}_series")/$(vals prometheus "q${i}_points"), VictoriaMetrics $(vals victoriametrics "q${i}_series")/$(vals victoriametrics "q${i}_points")"
    echo
  done
  echo "| Per-run values | |"
  echo "|---|---|"
  runs_row "Ingest, backfill" ingest_bf
  runs_row "Ingest, live" ingest_live
  runs_row "Bytes/sample, data dir" disk_all
  runs_row "Bytes/sample, blocks" disk_blocks
  runs_row "RSS per series after flush" rss_series
  runs_row "Samples acknowledged" acked
}

main() {
  for n in HOSTS CPUS INTERVAL_MS BACKFILL_SAMPLES BACKFILL_SPS BACKFILL_SPR LIVE_SAMPLES LIVE_SPR RUNS \
    CONCURRENCY QUERY_RUNS SEED IDLE_WAIT FLUSH_TIMEOUT READY_TIMEOUT STOP_TIMEOUT MAX_SECONDS; do
    [[ ${!n} =~ ^[0-9]+$ ]] || die "$n must be a non-negative integer, got '${!n}'"
  done
  local tool
  for tool in curl awk du jq getconf mktemp sort find; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
  CLK_TCK=$(getconf CLK_TCK)
  cd "$ROOT"
  if [[ $SKIP_BUILD != 1 ]]; then
    log "building weft and rw-loadgen (release)"
    cargo build --release -p weft -p rw-loadgen >&2
  fi
  [[ -x $LOADGEN ]] || die "missing $LOADGEN"
  has weft && { [[ -x $WEFT ]] || die "missing $WEFT"; }
  has prometheus && { [[ -x $PROMETHEUS ]] || die "missing $PROMETHEUS"; }
  has victoriametrics && { [[ -x $VICTORIA ]] || die "missing $VICTORIA"; }
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/weft-metrics-bench.XXXXXX")

  # One data set for every server and run: the last live sample is ~1 min before now.
  local now_ms=$(($(date +%s) * 1000))
  local start_ms=$((now_ms - 60000 - (BACKFILL_SAMPLES + LIVE_SAMPLES) * INTERVAL_MS))
  local common=(--hosts "$HOSTS" --cpus "$CPUS" --interval-ms "$INTERVAL_MS" --start-ms "$start_ms" --seed "$SEED")
  "$LOADGEN" gen "${common[@]}" --out "$WORK/backfill.rw" --samples "$BACKFILL_SAMPLES" \
    --samples-per-series "$BACKFILL_SPS" --series-per-request "$BACKFILL_SPR" >"$WORK/gen1.out"
  "$LOADGEN" gen "${common[@]}" --out "$WORK/live.rw" --from-sample "$BACKFILL_SAMPLES" \
    --samples "$LIVE_SAMPLES" --samples-per-series 1 --series-per-request "$LIVE_SPR" >"$WORK/gen2.out"
  SERIES=$(result "$WORK/gen1.out" series)
  TOTAL_SAMPLES=$(($(result "$WORK/gen1.out" samples) + $(result "$WORK/gen2.out" samples)))
  local last_ts
  last_ts=$(result "$WORK/gen2.out" last_ts_ms)
  Q_END=$((last_ts / 1000))
  Q_START=$((Q_END - 3600))
  QUERIES=(
    "sum by (instance) (rate(node_cpu_seconds_total[5m]))|15"
    "rate(node_cpu_seconds_total[5m])|60"
    "avg by (instance) (node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)|15"
  )
  log "data: $SERIES series, $TOTAL_SAMPLES samples per run, $(du -sh "$WORK"/*.rw | awk '{print $1}' | paste -sd+) encoded; queries over [$Q_START, $Q_END]"

  local server run
  for run in $(seq 1 "$RUNS"); do
    for server in $SERVERS; do
      run_once "$server" "$run" "$([[ $run == "$RUNS" ]] && echo 1 || echo 0)"
    done
  done
  report
}

main "$@"
