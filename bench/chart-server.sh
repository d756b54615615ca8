#!/usr/bin/env bash
# One chart-read run against a fresh release server, as in docs/benchmarks.md:
# starts `kairos serve` on DB, signs in as the demo therapist, 3 s of warm-up,
# WAIT s idle, then SECS s of bench/run-chart.sh at CONNS connections; prints
# requests/s, p50, p99, the server's CPU per request (from /proc/PID/stat) and
# its RSS at the end.
#
# Usage: bench/chart-server.sh DB CONNS SECS [WAIT]
#   BIN=path/to/kairos (default target/release/kairos)
#   RESET_READ_AUDIT=1 deletes DB.read-audit* and DB.audit-index* first, so that
#   every run starts from the same audit state. Only on a benchmark copy of the
#   demo practice: those files are audit log.
#   IDS=FILE reads these client ids (one per line) instead of listing them with
#   sqlite3; KAIROS_DB_KEY_FILE=KEY serves an encrypted practice.
# Needs wrk, sqlite3 and curl; the practice made with
#   KAIROS_DEMO_PASSWORD=demo-password-2026 kairos demo --no-serve --clients 100000 --db DB
set -euo pipefail
db=$1; conns=$2; secs=$3; wait_s=${4:-5}
here=$(cd "$(dirname "$0")" && pwd)
bin=${BIN:-$here/../target/release/kairos}
port=${PORT:-8099}
work=$(mktemp -d)
# The server refuses to start without its read-audit file unless told to begin
# a new one; the start check is left out of the measured server's start.
flags=(--start-check off)
if [ "${RESET_READ_AUDIT:-0}" = 1 ]; then
  rm -f "$db".read-audit* "$db".audit-index*
  flags+=(--new-read-audit)
fi
"$bin" serve --db "$db" --listen 127.0.0.1:"$port" "${flags[@]}" >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:"$port"/api/v1/healthz >/dev/null && break; sleep 0.2; done
# IDS=FILE: the client ids to read (an encrypted practice cannot be listed by
# the sqlite3 shell; take them from its plain original).
if [ -n "${IDS:-}" ]; then shuf -n 5000 "$IDS" >"$work/ids.txt"
else sqlite3 "$db" "select id from clients order by random() limit 5000" >"$work/ids.txt"; fi
token=$(curl -s -X POST -H 'content-type: application/json' \
  -d '{"email":"therapist@demo.kairos","password":"demo-password-2026"}' \
  http://127.0.0.1:"$port"/api/v1/auth/login | sed -E 's/.*"token":"([^"]+)".*/\1/')
"$here/run-chart.sh" http://127.0.0.1:"$port" "$token" "$work/ids.txt" 8 3 >/dev/null
sleep "$wait_s"
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
out=$("$here/run-chart.sh" http://127.0.0.1:"$port" "$token" "$work/ids.txt" "$conns" "$secs")
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
n=$(echo "$out" | awk '/requests in/{print $1}')
tick=$(getconf CLK_TCK)
echo "connections=$conns seconds=$secs" \
  "requests/s=$(echo "$out" | awk '/Requests\/sec/{print $2}')" \
  "p50=$(echo "$out" | awk '/ 50%/{print $2}') p99=$(echo "$out" | awk '/ 99%/{print $2}')" \
  "cpu/request=$(( ((u1 - u0) + (s1 - s0)) * 1000000 / tick / n ))us" \
  "rss=$(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status)MB" \
  "$(echo "$out" | grep -i 'non-2xx' || true)"
