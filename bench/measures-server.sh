#!/usr/bin/env bash
# Questionnaire submissions and the practice outcome report against a fresh
# release server, as in docs/benchmarks.md: starts `kairos serve` on DB, signs
# in as the demo nurse and director, 3 s of warm-up, SECS s of
# bench/run-measures.sh at CONNS connections, then RUNS sequential outcome
# reports (PHQ-9).
#
# Usage: bench/measures-server.sh DB [CONNS] [SECS] [RUNS]
#   BIN=path/to/kairos (default target/release/kairos); PORT (default 8094)
# Writes questionnaires into DB: use a benchmark copy of the demo practice,
#   KAIROS_DEMO_PASSWORD=demo-password-2026 kairos demo --no-serve --clients 100000 --db DB
set -euo pipefail
db=$1; conns=${2:-32}; secs=${3:-10}; runs=${4:-10}
here=$(cd "$(dirname "$0")" && pwd)
bin=${BIN:-$here/../target/release/kairos}
port=${PORT:-8094}
work=$(mktemp -d)
"$bin" serve --db "$db" --start-check off --listen 127.0.0.1:"$port" >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:"$port"/api/v1/healthz >/dev/null && break; sleep 0.2; done
sqlite3 "$db" "select id from clients order by random() limit 5000" >"$work/ids.txt"
login() {
  curl -s -X POST -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"demo-password-2026\"}" \
    http://127.0.0.1:"$port"/api/v1/auth/login | sed -E 's/.*"token":"([^"]+)".*/\1/'
}
nurse=$(login nurse@demo.kairos)
director=$(login director@demo.kairos)
"$here/run-measures.sh" http://127.0.0.1:"$port" "$nurse" "$work/ids.txt" "$conns" 3 >/dev/null
"$here/run-measures.sh" http://127.0.0.1:"$port" "$nurse" "$work/ids.txt" "$conns" "$secs" \
  | grep -E 'Requests/sec| 50%| 99%|Non-2xx'
"$here/run-outcomes.sh" http://127.0.0.1:"$port" "$director" "$runs" phq9
