#!/usr/bin/env bash
# The scale-out benchmark: one Turnout with the in-memory limiter against
# the same Turnout with the Redis limiter, and two Turnout instances
# sharing one Redis against nginx doing the same total work, all in one
# run. The gateways, nginx and Redis share CPU 0 (one core for the whole
# gateway tier, Redis included); wrk and the upstream run on CPU 1.
#
#   bench/gateway/scaleout.sh                       # ~4 minutes
#   ROUNDS=1 SECONDS_PER_RUN=5 bench/gateway/scaleout.sh
#
# Needs PostgreSQL (TURNOUT_BENCH_POSTGRES, default the local `test`
# server) for the keys the instances share. Raw figures go to
# bench/out/scaleout/raw.jsonl, the report to bench/out/scaleout/report.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/bench/out/scaleout"
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_RUN:-8}
PG=${TURNOUT_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
REDIS_PORT=${REDIS_PORT:-6391}
REDIS_CPU=${REDIS_CPU:-0}   # 1: Redis beside wrk, as if on its own host
ADMIN_TOKEN="tka_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

need=()
for bin in nginx wrk python3 taskset redis-server psql; do command -v "$bin" >/dev/null || need+=("$bin"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing nginx wrk redis-server postgresql-client from Debian"
  apt-get update -q >/dev/null && apt-get install -y -q nginx wrk redis-server postgresql-client >/dev/null
fi

echo "building turnout (release)"
(cd "$ROOT" && cargo build --release --locked --bin turnout >/dev/null)
TURNOUT="$ROOT/target/release/turnout"

rm -rf "$OUT" && mkdir -p "$OUT/nginx-tmp"
render() { sed -e "s|@OUT@|$OUT|g" -e "s|@ADMIN_TOKEN@|$ADMIN_TOKEN|g" "$HERE/$1" > "$OUT/$2"; }
render upstream.conf.in upstream.conf
render nginx-gateway.conf.in nginx-gateway.conf

DB="turnout_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
psql -q "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null
STORE="$PG/$DB"

# gateway_config NAME PORT BACKEND
gateway_config() {
  cat > "$OUT/$1.toml" <<TOML
listen = "127.0.0.1:$2"
data_dir = "$OUT/$1-data"
admin_token = "$ADMIN_TOKEN"
[store]
url = "$STORE"
[ratelimit]
backend = "$3"
redis_url = "redis://127.0.0.1:$REDIS_PORT"
[log]
access = false
level = "warn"
[[upstreams]]
name = "bench"
targets = ["http://127.0.0.1:9100"]
timeout_ms = 5000
[[routes]]
prefix = "/v1/bench"
upstream = "bench"
scopes = ["bench"]
TOML
}
gateway_config memory 8080 memory
gateway_config redis-a 8083 redis
gateway_config redis-b 8084 redis

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
}
trap cleanup EXIT
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

taskset -c 1 nginx -c "$OUT/upstream.conf" & pids+=($!)
taskset -c "$REDIS_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 & pids+=($!)
REDIS_PID=$!
declare -A GATEWAY_PID
wait_port 9100; wait_port "$REDIS_PORT"
taskset -c 0 "$TURNOUT" --config "$OUT/memory.toml" serve 2>"$OUT/memory.log" & pids+=($!)
GATEWAY_PID[8080]=$!
wait_port 8080
python3 "$HERE/make_keys.py" "$OUT" "$ADMIN_TOKEN" 1000 8080
for g in redis-a redis-b; do
  taskset -c 0 "$TURNOUT" --config "$OUT/$g.toml" serve 2>"$OUT/$g.log" & pids+=($!)
done
GATEWAY_PID[8083]=${pids[-2]}
taskset -c 0 nginx -c "$OUT/nginx-gateway.conf" & pids+=($!)
wait_port 8083; wait_port 8084; wait_port 8081
sleep 1
HOT_KEY=$(head -1 "$OUT/keys.txt")
FLOOD_KEY=$(cat "$OUT/flood.txt")

# CPU time (user + system, in clock ticks) a process has used so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# wrk_json TARGET SCENARIO PORT CONNS ARGS... → one JSON line on stdout,
# with the CPU the gateway on PORT (and Redis) spent per request.
wrk_json() {
  local target=$1 scenario=$2 port=$3 conns=$4; shift 4
  local gw=${GATEWAY_PID[$port]:-} g0=0 r0 out
  [ -n "$gw" ] && g0=$(ticks "$gw")
  r0=$(ticks "$REDIS_PID")
  out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${DUR}s" "$@" "http://127.0.0.1:$port/v1/bench/x")
  local g1=0 r1; [ -n "$gw" ] && g1=$(ticks "$gw")
  r1=$(ticks "$REDIS_PID")
  python3 - "$target" "$scenario" "$((g1 - g0))" "$((r1 - r0))" "$(getconf CLK_TCK)" <<PY
import json, re, sys
out = """$out"""
total = int(re.search(r"(\d+) requests in", out).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
non2xx = int(non2xx.group(1)) if non2xx else 0
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
tick_us = 1e6 / int(sys.argv[5])
print(json.dumps({"target": sys.argv[1], "scenario": sys.argv[2], "rps": rps, "admitted": total - non2xx,
                  "gateway_cpu_us": int(sys.argv[3]) * tick_us / total, "redis_cpu_us": int(sys.argv[4]) * tick_us / total}))
PY
}

# Both Redis gateways at once, half the connections each; one line each.
pair() {
  local scenario=$1; shift
  wrk_json redis-a "$scenario" 8083 32 "$@" > "$OUT/a.json" &
  local a=$!
  wrk_json redis-b "$scenario" 8084 32 "$@" > "$OUT/b.json"
  wait "$a"
  cat "$OUT/a.json" "$OUT/b.json" >> "$OUT/raw.jsonl"
}

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS"
  wrk_json memory hot_key 8080 64 -H "X-Api-Key: $HOT_KEY" >> "$OUT/raw.jsonl"
  wrk_json redis hot_key 8083 64 -H "X-Api-Key: $HOT_KEY" >> "$OUT/raw.jsonl"
  wrk_json nginx hot_key 8081 64 -H "X-Api-Key: $HOT_KEY" >> "$OUT/raw.jsonl"
  pair two_redis -H "X-Api-Key: $HOT_KEY"
  sleep 3   # the flood key's bucket refills
  pair two_redis_flood -H "X-Api-Key: $FLOOD_KEY"
done

python3 - "$OUT/raw.jsonl" "$DUR" "$REDIS_CPU" > "$OUT/report.md" <<'PY'
import json, statistics, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1])]
dur = float(sys.argv[2])
by = defaultdict(list)
for r in rows:
    by[(r["target"], r["scenario"])].append(r)
med = lambda k, f: statistics.median([f(r) for r in by[k]])
# The pair scenarios: sum the two gateways per round.
def pairs(scenario, field):
    a, b = by[("redis-a", scenario)], by[("redis-b", scenario)]
    return [x[field] + y[field] for x, y in zip(a, b)]
# Ratios are taken round by round (each Redis run beside the memory run
# just before it), since the machine's speed drifts between rounds.
ratios = [r["rps"] / m["rps"] for m, r in zip(by[("memory", "hot_key")], by[("redis", "hot_key")])]
mem = med(("memory", "hot_key"), lambda r: r["rps"])
red = med(("redis", "hot_key"), lambda r: r["rps"])
ngx = med(("nginx", "hot_key"), lambda r: r["rps"])
two = statistics.median(pairs("two_redis", "rps"))
adm = statistics.median(pairs("two_redis_flood", "admitted"))
expect = 100 + 100 * dur
print("## Scale-out benchmark")
print()
print(f"Medians over {len(by[('nginx', 'hot_key')])} rounds of {dur:.0f} s; the gateways and nginx on CPU 0, wrk and the upstream on CPU 1, Redis on CPU {sys.argv[3]}; wrk -t1, 64 connections in all (32 per gateway for the pair).")
print()
print("| what | req/s | ratio |")
print("|---|---|---|")
print(f"| one Turnout, in-memory limiter | {mem:.0f} | 1.00 |")
print(f"| one Turnout, Redis limiter | {red:.0f} | **{red / mem:.2f} × in-memory** (per round: {', '.join(f'{x:.2f}' for x in ratios)}; median {statistics.median(ratios):.2f}) |")
print(f"| nginx (limit_req, one worker) | {ngx:.0f} | 1.00 |")
print(f"| two Turnouts sharing Redis (sum) | {two:.0f} | **{two / ngx:.2f} × nginx** |")
print()
cpu = lambda t, f: med((t, "hot_key"), lambda r: r[f])
print(f"CPU per request (medians): the in-memory gateway {cpu('memory', 'gateway_cpu_us'):.1f} µs; the Redis gateway {cpu('redis', 'gateway_cpu_us'):.1f} µs, plus Redis {cpu('redis', 'redis_cpu_us'):.1f} µs.")
print()
print(f"Flood of one key (100/s, burst 100) through both Redis gateways at once: {adm:.0f} admitted, {expect:.0f} expected (burst + rate × {dur:.0f} s): {adm / expect:.3f}.")
PY
cat "$OUT/report.md"
echo
echo "rerun: bench/gateway/scaleout.sh   (raw figures: bench/out/scaleout/raw.jsonl)"
