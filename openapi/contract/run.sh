#!/usr/bin/env bash
# Contract tests: Schemathesis generates requests from openapi/openapi.json
# (positive and negative cases, at least 50 per operation) and sends them
# to a live `turnout serve` on a seeded data dir. It fails on any 5xx, any
# status code or body the document does not promise, any response whose
# content type or headers disagree with it, and any 4xx that is not
# problem+json (hooks.py).
#
# Four runs, so that no request of one can cut another short:
#   1. every operation but /admin/ and deletions, with an API key (all
#      scopes) and a signed-in user's token. That token cannot reach the
#      admin API, so nothing in this run can revoke the key it runs with.
#   2. the admin API but deletions, with the admin token, after run 1.
#   3. and 4. the deletions, public then admin, last.
#
# Usage: openapi/contract/run.sh [TURNOUT_BINARY]
#   CONTRACT_EXAMPLES  cases per operation (default 50)
#   CONTRACT_SEED      Hypothesis seed (default: random; printed)
#   CONTRACT_TIMEOUT   seconds one of the four runs may take (default 600;
#                      a run takes about 15-45 s here)
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${1:-target/debug/turnout}
ST=${SCHEMATHESIS:-peers/.venv/bin/schemathesis}
EXAMPLES=${CONTRACT_EXAMPLES:-50}
SEED=${CONTRACT_SEED:-$RANDOM$RANDOM}
LIMIT=${CONTRACT_TIMEOUT:-600}
OUT=target/contract
[ -x "$BIN" ] || { echo "contract: $BIN is not built (cargo build --bin turnout)" >&2; exit 1; }
[ -x "$ST" ] || { echo "contract: $ST is missing (scripts/peers.sh installs it)" >&2; exit 1; }

rm -rf "$OUT" && mkdir -p "$OUT"
DATA=$(mktemp -d "${TMPDIR:-/tmp}/turnout-contract-XXXXXXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
ADMIN="tka_contract_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export TURNOUT_LISTEN="127.0.0.1:$PORT" TURNOUT_DATA_DIR="$DATA" TURNOUT_ADMIN_TOKEN="$ADMIN"
export TURNOUT_PUBLIC_URL="$BASE" TURNOUT_LOG__ACCESS=false

# Seed: generated people and events near real ZIP codes.
"$BIN" demo --people 300 --events 120 --seed 7 >"$OUT/demo.log"

"$BIN" serve >"$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf -o /dev/null "$BASE/readyz" && break
  sleep 0.1
done
curl -sf -o /dev/null "$BASE/readyz" || { echo "contract: the server did not start; see $OUT/serve.log" >&2; exit 1; }

admin() { curl -sf -X "$1" "$BASE$2" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
admin POST /admin/v1/plans '{"name": "contract", "rate_per_second": 100000, "burst": 100000,
  "scopes": ["events", "events:private", "events:write", "people:read", "people:write",
             "attendances", "messages:send", "campaigns"]}' >/dev/null
KEY=$(admin POST /admin/v1/keys '{"name": "contract", "plan": "contract"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

# A signed-in volunteer, through the log provider's outbox.
PHONE=+12155550199
curl -sf -X POST "$BASE/v1/auth/otp" -H "X-Api-Key: $KEY" -H 'Content-Type: application/json' \
  -d "{\"phone\": \"$PHONE\"}" >/dev/null
CODE=""
for _ in $(seq 1 100); do
  CODE=$(python3 - "$DATA/outbox/sms.ndjson" "$PHONE" <<'PY' 2>/dev/null || true
import json, re, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m["to"] == sys.argv[2]:
        print(re.search(r"\b\d{6}\b", m["body"]).group(0))
        break
PY
)
  [ -n "$CODE" ] && break
  sleep 0.1
done
[ -n "$CODE" ] || { echo "contract: no sign-in code reached the outbox" >&2; exit 1; }
TOKEN=$(curl -sf -X POST "$BASE/v1/auth/token" -H "X-Api-Key: $KEY" -H 'Content-Type: application/json' \
  -d "{\"grant_type\": \"otp\", \"phone\": \"$PHONE\", \"code\": \"$CODE\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,client_errors_are_problem_json
export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$PWD/openapi/contract${PYTHONPATH:+:$PYTHONPATH}"
common=(openapi/openapi.json --url "$BASE" --checks "$CHECKS" --mode all
        --phases examples,coverage,fuzzing --max-examples "$EXAMPLES" --seed "$SEED"
        --workers 1 --suppress-health-check all --request-timeout 10)
echo "contract: seed $SEED, $EXAMPLES cases per operation; rerun with CONTRACT_SEED=$SEED $0"

status=0
# run NAME HEADERS... -- FILTERS...: one Schemathesis run, its reports
# under $OUT/NAME.*. (Schemathesis joins two --include filters with OR,
# so each run names what it leaves out.)
run() {
  local name=$1; shift
  local args=()
  while [ "$1" != "--" ]; do args+=(-H "$1"); shift; done
  shift
  echo "contract: $name"
  timeout "$LIMIT" "$ST" --no-color --config-file openapi/contract/schemathesis.toml run "${common[@]}" "${args[@]}" "$@" \
    --report junit,ndjson --report-junit-path "$OUT/$name.xml" --report-ndjson-path "$OUT/$name.ndjson" \
    | tee "$OUT/$name.log" || status=1
}
USER_AUTH=("X-Api-Key: $KEY" "Authorization: Bearer $TOKEN")
ADMIN_AUTH=("Authorization: Bearer $ADMIN")
# Deletions run last, each kind on its own: within a run Schemathesis
# draws ids from the records it has seen, a handful, and would stop there.
run public "${USER_AUTH[@]}" -- --exclude-path-regex '^/admin/' --exclude-method DELETE
run admin "${ADMIN_AUTH[@]}" -- --include-path-regex '^/admin/' --exclude-method DELETE
run public-deletes "${USER_AUTH[@]}" -- --exclude-path-regex '^/admin/' \
  --exclude-method GET --exclude-method POST --exclude-method PUT --exclude-method PATCH
run admin-deletes "${ADMIN_AUTH[@]}" -- --include-path-regex '^/admin/' \
  --exclude-method GET --exclude-method POST --exclude-method PUT --exclude-method PATCH

echo
python3 openapi/contract/summary.py "$EXAMPLES" openapi/openapi.json "$OUT"/*.ndjson | tee "$OUT/summary.txt" || status=1
if grep -q "panicked" "$OUT/serve.log"; then
  echo "contract: the server logged a failure; see $OUT/serve.log" >&2
  status=1
fi
exit $status
