#!/usr/bin/env bash
# Installs and starts the peers the outreach tests talk to, where they are
# not already running, all on 127.0.0.1:
#   - Stoplight Prism serving Twilio's own OpenAPI document (port 4010), so
#     every request our Twilio client sends is checked against Twilio's
#     published contract;
#   - moto in server mode (port 5005), the AWS emulator for SNS and SES v2;
#   - two Elasticsearch-compatible servers for the Elasticsearch engine:
#     noida-db (presents as Elasticsearch 8.15, port 9250) and osmem-server
#     (presents as OpenSearch 3, port 9251).
# It also installs Schemathesis (for openapi/contract/run.sh) in the same
# virtualenv, playwright-core beside Prism, and Debian's chromium for the
# docs-page browser tests.
# Installs go to peers/node_modules and peers/.venv (both git-ignored), so a
# clean clone needs only the npm, PyPI and Debian registries.
set -euo pipefail
cd "$(dirname "$0")/.."

TWILIO_OPENAPI=${TURNOUT_TWILIO_OPENAPI:-../shared/peers/twilio/twilio_api_v2010.json}
PRISM_PORT=4010
MOTO_PORT=5005
NOIDA_PORT=9250
OSMEM_PORT=9251
mkdir -p peers/logs

up() { curl -s -o /dev/null --max-time 2 "$1"; }

wait_for() { # name, url
  for _ in $(seq 1 120); do
    if up "$2"; then return 0; fi
    sleep 0.5
  done
  echo "peers: $1 did not come up; see peers/logs/" >&2
  return 1
}

# The npm peers (Prism, playwright-core); reinstalled when package.json
# changes.
if ! cmp -s peers/package.json peers/node_modules/.turnout-installed.json 2>/dev/null; then
  echo "peers: installing the npm peers"
  (cd peers && npm install --no-audit --no-fund --loglevel=error)
  cp peers/package.json peers/node_modules/.turnout-installed.json
fi

# One virtualenv for the Python peers; reinstalled when requirements.txt
# changes.
if ! cmp -s peers/requirements.txt peers/.venv/installed.txt 2>/dev/null; then
  echo "peers: installing the Python peers"
  python3 -m venv peers/.venv
  peers/.venv/bin/pip install -q --disable-pip-version-check -r peers/requirements.txt
  cp peers/requirements.txt peers/.venv/installed.txt
fi

if ! up "http://127.0.0.1:$MOTO_PORT/moto-api/"; then
  echo "peers: starting moto on 127.0.0.1:$MOTO_PORT"
  nohup peers/.venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT" >peers/logs/moto.log 2>&1 &
  wait_for moto "http://127.0.0.1:$MOTO_PORT/moto-api/"
fi

if [ -f "$TWILIO_OPENAPI" ]; then
  if ! up "http://127.0.0.1:$PRISM_PORT/"; then

    echo "peers: starting Prism (Twilio's contract) on 127.0.0.1:$PRISM_PORT"
    nohup peers/node_modules/.bin/prism mock -h 127.0.0.1 -p "$PRISM_PORT" "$TWILIO_OPENAPI" \
      >peers/logs/prism.log 2>&1 &
    wait_for Prism "http://127.0.0.1:$PRISM_PORT/"
  fi
else
  echo "peers: $TWILIO_OPENAPI is absent; the Twilio contract test will say it was skipped" >&2
fi

if ! up "http://127.0.0.1:$NOIDA_PORT/"; then
  echo "peers: starting noida-db (Elasticsearch 8.15) on 127.0.0.1:$NOIDA_PORT"
  peers/.venv/bin/noida-db up --data-dir peers/.noida-db --only elasticsearch \
    --elasticsearch-port "$NOIDA_PORT" >peers/logs/noida.log 2>&1
  wait_for noida-db "http://127.0.0.1:$NOIDA_PORT/"
fi

if ! up "http://127.0.0.1:$OSMEM_PORT/"; then
  echo "peers: starting osmem-server (OpenSearch 3) on 127.0.0.1:$OSMEM_PORT"
  OSMEM_BIN=$(peers/.venv/bin/python -c 'import osmem_server; print(osmem_server.resolve_binary())')
  nohup "$OSMEM_BIN" -addr "127.0.0.1:$OSMEM_PORT" -no-stdin-watch >peers/logs/osmem.log 2>&1 &
  wait_for osmem-server "http://127.0.0.1:$OSMEM_PORT/"
fi

# Headless Chromium from Debian, for the test that loads /docs in a real
# browser (gateway/tests/it/openapi.rs).
if [ ! -x /usr/bin/chromium ]; then
  echo "peers: installing Debian's chromium"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >peers/logs/chromium-install.log 2>&1
fi
