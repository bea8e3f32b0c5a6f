#!/usr/bin/env bash
# The outreach benchmark, on this machine, in one run:
#   1. a campaign to PEOPLE people (default 1M) from a people search: the
#      time `launch` takes to resolve the audience, check consent, render
#      and write one message per person; peak memory of the server;
#   2. dispatch throughput of one `turnout worker` with no limit of ours,
#      to the `log` provider and to a local HTTP provider (the behavioural
#      Twilio peer), on SQLite and on PostgreSQL (DISPATCH messages each);
#   3. a limit of 100 messages/s across 3 worker processes on PostgreSQL:
#      the rate the provider peer saw over a steady window.
#
#   bench/outreach/run.sh                              # full size (~20 min after the build)
#   PEOPLE=100000 DISPATCH=50000 bench/outreach/run.sh # a quick look
#
# The report goes to bench/out/outreach/report.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/bench/out/outreach"
PEOPLE=${PEOPLE:-1000000}
DISPATCH=${DISPATCH:-200000}
LIMITED=${LIMITED:-4500}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PORT=${PORT:-8091}
PEER_PORT=${PEER_PORT:-8092}
ADMIN_TOKEN="tka_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

PROFILE=${PROFILE:-release}   # PROFILE=debug: a check of the harness, not figures
echo "building turnout, searchbench and outreachbench ($PROFILE)"
if [ "$PROFILE" = release ]; then
  (cd "$ROOT" && cargo build --release --locked --bin turnout --bin searchbench --bin outreachbench >/dev/null)
else
  (cd "$ROOT" && cargo build --bin turnout --bin searchbench --bin outreachbench >/dev/null)
fi
TURNOUT="$ROOT/target/$PROFILE/turnout"
SEARCHBENCH="$ROOT/target/$PROFILE/searchbench"
OB="$ROOT/target/$PROFILE/outreachbench"
rm -rf "$OUT" && mkdir -p "$OUT"
now() { date +%s.%N; }
export TURNOUT_LOG__LEVEL=warn

# Peak resident memory (MB) of a running process, read before it is stopped.
peak_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

fresh_pg() { # name → URL of a new, empty database
  psql "$PG/test" -qc "DROP DATABASE IF EXISTS $1" >/dev/null
  psql "$PG/test" -qc "CREATE DATABASE $1" >/dev/null
  echo "$PG/$1"
}

# --- 1. A campaign to PEOPLE people -------------------------------------
echo "1. generating and importing $PEOPLE people"
mkdir -p "$OUT/campaign/data"
"$SEARCHBENCH" gen "$OUT/campaign" "$PEOPLE" 0 >/dev/null
(
  export TURNOUT_DATA_DIR="$OUT/campaign/data" TURNOUT_ADMIN_TOKEN="$ADMIN_TOKEN" TURNOUT_LISTEN="127.0.0.1:$PORT"
  "$TURNOUT" import people "$OUT/campaign/people.ndjson" >/dev/null 2>&1
  "$TURNOUT" plans create --name staff --rate 1000 --burst 1000 --scopes campaigns,people:read >/dev/null
  KEY=$("$TURNOUT" keys create --name bench --plan staff | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  # No worker sends during the launch: only the launch is timed.
  "$TURNOUT" serve > "$OUT/campaign/serve.log" 2>&1 & SERVE=$!
  trap 'kill $SERVE 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
  while :; do
    behind=$(curl -s -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$PORT/admin/v1/search" \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["behind"] if d["applied_seq"] > 0 else -1)')
    [ "$behind" = "0" ] && break
    sleep 0.5
  done
  id=$(curl -s -H "x-api-key: $KEY" -H 'content-type: application/json' "http://127.0.0.1:$PORT/v1/campaigns" \
    -d '{"name": "Everyone", "channel": "sms", "template": {"body": "Hi {{ given_name }}, can you canvass Saturday?"}, "audience": {"people": {}}, "send_at": "2100-01-01T15:00:00Z"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  t0=$(now)
  curl -s --max-time 600 -X POST -H "x-api-key: $KEY" "http://127.0.0.1:$PORT/v1/campaigns/$id/launch" > "$OUT/campaign/launched.json"
  t1=$(now)
  python3 -c "print($t1 - $t0)" > "$OUT/campaign/launch.seconds"
  peak_mb $SERVE > "$OUT/campaign/serve.peak_mb"
  kill $SERVE; wait $SERVE 2>/dev/null || true
)
echo "   launch: $(cat "$OUT/campaign/launch.seconds") s"

# --- 2. Dispatch throughput ---------------------------------------------
dispatch() { # store(sqlite|postgres) provider(log|http) → seconds
  local store=$1 provider=$2 dir="$OUT/dispatch-$1-$2" url=-
  mkdir -p "$dir/data"
  [ "$store" = postgres ] && url=$(fresh_pg "turnout_bench_dispatch_$2")
  "$OB" enqueue "$dir/data" "$url" "$DISPATCH" 2>/dev/null
  local env=(TURNOUT_DATA_DIR="$dir/data" TURNOUT_OUTREACH__WORKER__BATCH=256)
  [ "$url" != - ] && env+=(TURNOUT_STORE__URL="\"$url\"")
  if [ "$provider" = http ]; then
    "$OB" peer "$PEER_PORT" "$dir/arrivals.json" & PEER=$!
    sleep 0.3
    env+=(TURNOUT_OUTREACH__SMS__PROVIDER=twilio
          TURNOUT_OUTREACH__SMS__TWILIO__ACCOUNT_SID=AC00000000000000000000000000000000
          TURNOUT_OUTREACH__SMS__TWILIO__AUTH_TOKEN=peer-auth-token
          TURNOUT_OUTREACH__SMS__TWILIO__FROM='"+12155550100"'
          TURNOUT_OUTREACH__SMS__TWILIO__BASE_URL="\"http://127.0.0.1:$PEER_PORT\"")
  fi
  env "${env[@]}" "$TURNOUT" worker & WORKER=$!
  "$OB" wait "$dir/data" "$url" "$DISPATCH" > "$dir/wait.json"
  peak_mb $WORKER > "$dir/worker.peak_mb"
  kill $WORKER; wait $WORKER 2>/dev/null || true
  if [ "$provider" = http ]; then kill $PEER; wait $PEER 2>/dev/null || true; fi
  echo "   $store/$provider: $(cat "$dir/wait.json")"
}
echo "2. dispatching $DISPATCH messages with one worker"
for store in sqlite postgres; do
  for provider in log http; do
    dispatch "$store" "$provider"
  done
done

# --- 3. 100 messages/s across 3 workers ---------------------------------
echo "3. $LIMITED messages at 100/s across 3 workers (PostgreSQL)"
dir="$OUT/limited"; mkdir -p "$dir/data"
url=$(fresh_pg "turnout_bench_limited")
"$OB" enqueue "$dir/data" "$url" "$LIMITED" 2>/dev/null
"$OB" peer "$PEER_PORT" "$dir/arrivals.json" & PEER=$!
sleep 0.3
WORKERS=()
for _ in 1 2 3; do
  env TURNOUT_DATA_DIR="$dir/data" TURNOUT_STORE__URL="\"$url\"" \
    TURNOUT_OUTREACH__SMS__MAX_PER_SECOND=100 \
    TURNOUT_OUTREACH__SMS__PROVIDER=twilio \
    TURNOUT_OUTREACH__SMS__TWILIO__ACCOUNT_SID=AC00000000000000000000000000000000 \
    TURNOUT_OUTREACH__SMS__TWILIO__AUTH_TOKEN=peer-auth-token \
    TURNOUT_OUTREACH__SMS__TWILIO__FROM='"+12155550100"' \
    TURNOUT_OUTREACH__SMS__TWILIO__BASE_URL="\"http://127.0.0.1:$PEER_PORT\"" \
    "$TURNOUT" worker & WORKERS+=($!)
done
"$OB" wait "$dir/data" "$url" "$LIMITED" > "$dir/wait.json"
kill "${WORKERS[@]}"; wait "${WORKERS[@]}" 2>/dev/null || true
kill $PEER; wait $PEER 2>/dev/null || true
# Skip the first second (the burst of 100) and the tail.
window=$(python3 -c "print(max(5, int(($LIMITED - 100) / 100) - 3))")
"$OB" rate "$dir/arrivals.json" 1 "$window" > "$dir/rate.json"
echo "   $(cat "$dir/rate.json")"

python3 - "$OUT" "$PEOPLE" "$DISPATCH" <<'PY'
import json, sys
out, people, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
launch = float(open(f"{out}/campaign/launch.seconds").read())
launched = json.load(open(f"{out}/campaign/launched.json"))
rss = int(open(f"{out}/campaign/serve.peak_mb").read())
lines = [f"# Outreach benchmark", "",
         f"## A campaign to {people:,} people (people search audience, SQLite store, Tantivy index)", "",
         f"| step | seconds | recipients/s |", "|---|---|---|",
         f"| launch: resolve the audience, consent, render, write one message each | {launch:.1f} | {people/launch:,.0f} |", "",
         f"recipients written: {launched['stats']['recipients']:,}; peak memory of `turnout serve` (index build and launch): {rss:.0f} MB", "",
         f"## Dispatch, one `turnout worker`, batch 256, {n:,} messages, no limit of ours", "",
         "| store | provider | seconds | messages/s | worker peak MB |", "|---|---|---|---|---|"]
for store in ("sqlite", "postgres"):
    for provider in ("log", "http"):
        d = f"{out}/dispatch-{store}-{provider}"
        w = json.load(open(f"{d}/wait.json"))
        mrss = int(open(f"{d}/worker.peak_mb").read())
        name = "log (outbox file)" if provider == "log" else "HTTP (Twilio peer)"
        lines.append(f"| {store} | {name} | {w['seconds']:.1f} | {n / w['seconds']:,.0f} | {mrss:.0f} |")
r = json.load(open(f"{out}/limited/rate.json"))
lines += ["", "## A limit of 100 messages/s across 3 worker processes (PostgreSQL)", "",
          f"measured at the provider peer over {r['window_s']} s after the first second: **{r['rate_per_s']:.2f} messages/s** "
          f"({(r['rate_per_s'] / 100 - 1) * 100:+.2f} % of the limit)", "",
          "rerun: `bench/outreach/run.sh` (PEOPLE=, DISPATCH=, LIMITED= to change the size)"]
open(f"{out}/report.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
