#!/usr/bin/env bash
# The gateway benchmark: Turnout, nginx and HAProxy doing the same job (key
# lookup among 10,000 keys, a per-key limit, proxying to one local
# upstream), plus the upstream hit directly as the ceiling. Each gateway is
# pinned to CPU 0; the load generator and the upstream share CPU 1.
#
#   bench/gateway/run.sh            # ~10 minutes; prints a markdown report
#   ROUNDS=1 SECONDS_PER_RUN=5 bench/gateway/run.sh   # a quick look
#
# Raw figures go to bench/out/gateway/raw.jsonl, the report to
# bench/out/gateway/report.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/bench/out/gateway"
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_RUN:-8}
FIXED_RATE=${FIXED_RATE:-5000}
IDLE_CONNS=${IDLE_CONNS:-10000}
GW_CPU=0
LOAD_CPU=1
ADMIN_TOKEN="tka_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

need=()
for bin in nginx haproxy wrk python3 taskset; do command -v "$bin" >/dev/null || need+=("$bin"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing nginx haproxy wrk from Debian"
  apt-get update -q >/dev/null && apt-get install -y -q nginx haproxy wrk >/dev/null
fi
# Raise the soft limit on open files as far as the machine allows (10,000
# idle connections need as many descriptors in the gateway and in loadgen).
ulimit -n "$(ulimit -Hn)"

echo "building turnout and loadgen (release)"
(cd "$ROOT" && cargo build --release --locked --bin turnout --bin loadgen >/dev/null)
TURNOUT="$ROOT/target/release/turnout"
LOADGEN="$ROOT/target/release/loadgen"

rm -rf "$OUT" && mkdir -p "$OUT/nginx-tmp"
render() { sed -e "s|@OUT@|$OUT|g" -e "s|@ADMIN_TOKEN@|$ADMIN_TOKEN|g" "$HERE/$1" > "$OUT/$2"; }
render upstream.conf.in upstream.conf
render nginx-gateway.conf.in nginx-gateway.conf
render haproxy.cfg.in haproxy.cfg
render turnout.toml.in turnout.toml

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

taskset -c $LOAD_CPU nginx -c "$OUT/upstream.conf" & pids+=($!)
wait_port 9100
taskset -c $GW_CPU "$TURNOUT" --config "$OUT/turnout.toml" serve 2>"$OUT/turnout.log" & TURNOUT_PID=$!; pids+=($TURNOUT_PID)
wait_port 8080
python3 "$HERE/make_keys.py" "$OUT" "$ADMIN_TOKEN" 10000
taskset -c $GW_CPU nginx -c "$OUT/nginx-gateway.conf" & pids+=($!)
taskset -c $GW_CPU haproxy -f "$OUT/haproxy.cfg" -db & HAPROXY_PID=$!; pids+=($HAPROXY_PID)
wait_port 8081; wait_port 8082
sleep 1
NGINX_PID=$(pgrep -P "$(cat "$OUT/nginx-gw.pid")" | head -1)
HOT_KEY=$(head -1 "$OUT/keys.txt")
FLOOD_KEY=$(cat "$OUT/flood.txt")

declare -A PORT=([upstream]=9100 [turnout]=8080 [nginx]=8081 [haproxy]=8082)
declare -A PID=([turnout]=$TURNOUT_PID [nginx]=$NGINX_PID [haproxy]=$HAPROXY_PID)
cpu_ticks() { [ -n "${1:-}" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
TICK=$(getconf CLK_TCK)

# wrk_run NAME SCENARIO ARGS... → one JSON line in raw.jsonl
wrk_run() {
  local name=$1 scenario=$2; shift 2
  local before; before=$(cpu_ticks "${PID[$name]:-}")
  local out; out=$(taskset -c $LOAD_CPU wrk -t1 -c64 -d"${DUR}s" --latency "$@" "http://127.0.0.1:${PORT[$name]}/v1/bench/x")
  local after; after=$(cpu_ticks "${PID[$name]:-}")
  python3 - "$name" "$scenario" "$((after - before))" "$TICK" "$DUR" <<PY >> "$OUT/raw.jsonl"
import json, re, sys
name, scenario, ticks, tick, dur = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
out = """$out"""
def unit(v, u): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
total = int(re.search(r"(\d+) requests in", out).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
non2xx = int(non2xx.group(1)) if non2xx else 0
p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
print(json.dumps({"target": name, "scenario": scenario, "rps": rps, "p99_ms": unit(*p99.groups()),
                  "requests": total, "admitted": total - non2xx, "rejected": non2xx,
                  "cpu_us_per_req": (ticks / tick) * 1e6 / total if ticks else None}))
PY
}

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS"
  for name in upstream turnout nginx haproxy; do
    wrk_run "$name" hot_key -H "X-Api-Key: $HOT_KEY"
    KEYS_FILE="$OUT/keys.txt" wrk_run "$name" rotating_10k -s "$HERE/rotate.lua"
  done
  for name in turnout nginx haproxy; do
    # Each flood starts from a full bucket: wait for the previous round's
    # flood to be forgotten by every limiter.
    sleep 3
    wrk_run "$name" flood -H "X-Api-Key: $FLOOD_KEY"
  done
  for name in upstream turnout nginx haproxy; do
    before=$(cpu_ticks "${PID[$name]:-}")
    json=$(taskset -c $LOAD_CPU "$LOADGEN" rate "127.0.0.1:${PORT[$name]}" /v1/bench/x "$FIXED_RATE" "$DUR" 64 "$OUT/keys.txt")
    echo "{\"target\": \"$name\", \"scenario\": \"fixed_rate\", \"loadgen\": $json}" >> "$OUT/raw.jsonl"
  done
done

echo "idle connections: $IDLE_CONNS per gateway"
for name in turnout nginx haproxy; do
  pid=${PID[$name]}
  conns=$IDLE_CONNS
  # HAProxy reserves two descriptors per connection (maxconn 9990 above).
  [ "$name" = haproxy ] && [ "$conns" -gt 9900 ] && conns=9900
  before=$(rss_kib "$pid")
  fifo="$OUT/idle.$name"; mkfifo "$fifo"
  taskset -c $LOAD_CPU "$LOADGEN" idle "127.0.0.1:${PORT[$name]}" /v1/bench/x "$conns" "$HOT_KEY" 20 > "$fifo" & lg=$!
  read -r ready < "$fifo"
  sleep 2
  after=$(rss_kib "$pid")
  kill "$lg" 2>/dev/null || true; wait "$lg" 2>/dev/null || true; rm -f "$fifo"
  echo "{\"target\": \"$name\", \"scenario\": \"idle\", \"connections\": $conns, \"rss_before_kib\": $before, \"rss_after_kib\": $after, \"loadgen\": $(python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$ready")}" >> "$OUT/raw.jsonl"
  sleep 2
done

python3 "$HERE/report.py" "$OUT/raw.jsonl" "$DUR" > "$OUT/report.md"
cat "$OUT/report.md"
echo
echo "rerun: bench/gateway/run.sh   (raw figures: bench/out/gateway/raw.jsonl)"
