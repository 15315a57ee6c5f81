#!/usr/bin/env bash
# The main job against the built-in emulator: start it, start a session with
# pretty output, start a few more from examples/, replay a recording (with a
# journal, so a second replay sends nothing), wrap a command in a session with
# exec, start and end a session as two CI steps would, show one back, stop it.
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

echo "== hhsession start -f examples/session.json --name quickstart -m demo:=true -o pretty"
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

echo "== hhsession exec: a command wrapped in a session (its exit status and duration recorded)"
hhsession exec --name demo-build -m demo:=true -- sh -c 'echo "  the command runs inside session $HH_SESSION_ID"; sleep 0.2'

echo "== hhsession start -o env in one CI step; a step inside it logged with event; hhsession end in a later one"
step_env=$(mktemp)
hhsession start --name demo-deploy -o env > "$step_env"    # in GitHub Actions: >> "$GITHUB_ENV"
cat "$step_env"
(set -a; source "$step_env"; hhsession event --name "unit tests" -m failed:=0 --duration 0.2s -o id)
(set -a; source "$step_env"; sleep 0.2; hhsession end --outputs status=deployed -o json)
deploy_id=$(sed -n 's/^HH_SESSION_ID=//p' "$step_env")
rm -f "$step_env"

echo "== hhsession get: the deploy session read back, with its events"
hhsession get "$deploy_id" -o json

echo "== emulator log"
cat "$log"
