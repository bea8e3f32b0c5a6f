#!/usr/bin/env bash
# The search benchmark: import 1M people and 100k events into a fresh
# data dir (SQLite store + Tantivy index), then time "events near me" and
# an organizer's volunteer search on the index against a SQLite R*Tree
# peer built from the same files, in the same run.
#
#   bench/search/run.sh                          # 1M people, 100k events (~15 min)
#   PEOPLE=100000 EVENTS=10000 bench/search/run.sh   # a quick look
#
# The report goes to bench/out/search/report.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/bench/out/search"
PEOPLE=${PEOPLE:-1000000}
EVENTS=${EVENTS:-100000}
QUERIES=${QUERIES:-2000}
ADMIN_TOKEN="tka_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PORT=${PORT:-8090}

PROFILE=${PROFILE:-release}   # PROFILE=debug: a check of the harness, not figures
echo "building turnout and searchbench ($PROFILE)"
if [ "$PROFILE" = release ]; then
  (cd "$ROOT" && cargo build --release --locked --bin turnout --bin searchbench >/dev/null)
else
  (cd "$ROOT" && cargo build --bin turnout --bin searchbench >/dev/null)
fi
TURNOUT="$ROOT/target/$PROFILE/turnout"
BENCH="$ROOT/target/$PROFILE/searchbench"

rm -rf "$OUT" && mkdir -p "$OUT/data"
export TURNOUT_DATA_DIR="$OUT/data" TURNOUT_ADMIN_TOKEN="$ADMIN_TOKEN" TURNOUT_LISTEN="127.0.0.1:$PORT"
export TURNOUT_LOG__LEVEL=warn

echo "generating $PEOPLE people and $EVENTS events"
"$BENCH" gen "$OUT" "$PEOPLE" "$EVENTS"

now() { date +%s.%N; }
t0=$(now)
# Peak memory of the import (it streams: this should not grow with the file).
/usr/bin/time -f "%M" -o "$OUT/import-people.maxrss" "$TURNOUT" import people "$OUT/people.ndjson" > "$OUT/import-people.json"
t1=$(now)
"$TURNOUT" import events "$OUT/events.ndjson" > "$OUT/import-events.json"
t2=$(now)

# The index is built by the serving process from the change log.
"$TURNOUT" serve > "$OUT/serve.log" 2>&1 & SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
while :; do
  behind=$(curl -s -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$PORT/admin/v1/search" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["behind"] if d["applied_seq"] > 0 else -1)')
  [ "$behind" = "0" ] && break
  sleep 0.2
done
t3=$(now)
kill $SERVE; wait $SERVE 2>/dev/null || true
trap - EXIT

"$BENCH" query "$OUT/data" "$OUT" "$QUERIES" | tee "$OUT/query.txt"

python3 - "$OUT" "$t0" "$t1" "$t2" "$t3" "$PEOPLE" "$EVENTS" <<'PY'
import json, re, sys
out, t0, t1, t2, t3, people, events = sys.argv[1], *map(float, sys.argv[2:6]), int(sys.argv[6]), int(sys.argv[7])
q = open(f"{out}/query.txt").read()
peer_build = float(re.search(r"peer_build_seconds ([\d.]+)", q).group(1))
rows = []
for m in re.finditer(r'query "([^"]+)": (.*)', q):
    kv = dict(x.split("=") for x in m.group(2).split())
    rows.append((m.group(1), kv))
imp_p = json.load(open(f"{out}/import-people.json"))
rss_mb = int(open(f"{out}/import-people.maxrss").read().split()[-1]) / 1024
lines = [
    f"# Search benchmark: {people:,} people, {events:,} events",
    "",
    f"| step | seconds | records/s |",
    f"|---|---|---|",
    f"| import people into the store (`turnout import`) | {t1-t0:.1f} | {people/(t1-t0):,.0f} |",
    f"| import events into the store | {t2-t1:.1f} | {events/(t2-t1):,.0f} |",
    f"| index everything (`turnout serve` follows the change log) | {t3-t2:.1f} | {(people+events)/(t3-t2):,.0f} |",
    f"| **store + index, people and events** | **{t3-t0:.1f}** | {(people+events)/(t3-t0):,.0f} |",
    f"| peer: SQLite R*Tree + tables, built from the same files | {peer_build:.1f} | {(people+events)/peer_build:,.0f} |",
    "",
    f"people import: {imp_p['created']:,} created, {len(imp_p['rejected'])} rejected; peak memory of `turnout import` {rss_mb:.0f} MB",
    "",
    "| query | mean matches | Tantivy p50 ms | p99 ms | SQLite peer p50 ms | p99 ms | peer/Tantivy p50 | p99 | answers differ |",
    "|---|---|---|---|---|---|---|---|---|",
]
for name, kv in rows:
    lines.append(f"| {name} | {kv['mean_matches']} | {kv['tantivy_p50_ms']} | {kv['tantivy_p99_ms']} | {kv['sqlite_p50_ms']} | {kv['sqlite_p99_ms']} | {kv['ratio_p50']} | {kv['ratio_p99']} | {kv['answers_differ']} |")
lines += ["", "rerun: `bench/search/run.sh` (PEOPLE=, EVENTS=, QUERIES= to change the size)"]
open(f"{out}/report.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
