#!/usr/bin/env bash
# The main job against the built-in emulator: start it, start a session with
# pretty output, start a few more from examples/, replay a recording (with a
# journal, so a second replay sends nothing), show one back, stop it.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
hhsession emulator --port 0 >"$log.env" 2>"$log" &
emulator_pid=$!
trap 'kill "$emulator_pid" 2>/dev/null; wait "$emulator_pid" 2>/dev/null; rm -f "$log" "$log.env"' EXIT

for _ in $(seq 100); do
  grep -q HH_API_KEY "$log.env" 2>/dev/null && break
  sleep 0.05
done
# shellcheck disable=SC1090
source "$log.env"
echo "== emulator running at $HH_API_URL"

echo "== hhsession start -f examples/session.json --name quickstart -o pretty"
hhsession start -f examples/session.json --name quickstart -m demo:=true -o pretty

echo "== starting one session per file in examples/sessions/ (ids below)"
for file in examples/sessions/*.json; do
  id=$(hhsession start -f "$file" -o id)
  echo "$file -> $id"
done

echo "== hhsession replay examples/recorded.jsonl (one record has a typo: reported, the run goes on)"
journal=$(mktemp -u)
hhsession replay examples/recorded.jsonl --journal "$journal" --workers 4 || echo "(exit $?: some records were invalid)"
echo "== the same replay again, with the same journal: nothing is sent twice"
hhsession replay examples/recorded.jsonl --journal "$journal" -o none || true
rm -f "$journal"

echo "== the last session started from examples/sessions/, read back from the emulator"
python3 - "$HH_API_URL" "$id" <<'PY'
import json, sys, urllib.request
url, sid = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"{url}/v1/sessions/{sid}", headers={"Authorization": "Bearer emulator"})
event = json.load(urllib.request.urlopen(req, timeout=5))
print(json.dumps({k: event[k] for k in ("session_id", "event_name", "source", "start_time", "user_properties")}, indent=2))
PY

echo "== emulator log"
cat "$log"
