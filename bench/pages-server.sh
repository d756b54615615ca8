#!/usr/bin/env bash
# Staff pages against a fresh release server, as in docs/benchmarks.md:
# starts `kairos serve` on DB, signs in as the demo prescriber (and the
# admin for the audit page), then runs wrk on each page in turn for SECS s at
# CONNS connections and prints its p50/p95/p99 and page size.
#
# Usage: bench/pages-server.sh DB CONNS SECS
#   BIN=path/to/kairos (default target/release/kairos)
# Needs wrk, sqlite3 and curl; the practice made with
#   KAIROS_DEMO_PASSWORD=demo-password-2026 kairos demo --no-serve --clients 100000 --db DB
set -euo pipefail
db=$1; conns=$2; secs=$3
here=$(cd "$(dirname "$0")" && pwd)
bin=${BIN:-$here/../target/release/kairos}
port=${PORT:-8098}
base=http://127.0.0.1:$port
work=$(mktemp -d)
"$bin" serve --db "$db" --start-check off --listen 127.0.0.1:"$port" >"$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do curl -sf "$base"/api/v1/healthz >/dev/null && break; sleep 0.2; done
login() {
  curl -s -X POST -H 'content-type: application/json' \
    -d "{\"email\":\"$1@demo.kairos\",\"password\":\"demo-password-2026\"}" \
    "$base"/api/v1/auth/login | sed -E 's/.*"token":"([^"]+)".*/\1/'
}
prescriber=$(login prescriber)
admin=$(login admin)
site=$(sqlite3 "$db" "select id from sites order by created_at limit 1")
client=$(sqlite3 "$db" "select client_id from encounters where kind = 'dosing' and status = 'completed' order by scheduled_start desc limit 1")
run() {
  local token=$1 path=$2
  local size
  size=$(curl -s -H "Cookie: kairos_session=$token" "$base$path" | wc -c)
  printf '%-28s %8s bytes  ' "$path" "$size"
  wrk -t1 -c"$conns" -d"${secs}s" -H "Cookie: kairos_session=$token" -s "$here/pages.lua" "$base$path" | tail -1
}
for path in / "/sites/$site/day" /windows/unbooked /measures/due /alerts "/clients?q=ok" "/clients/$client" /ledger; do
  run "$prescriber" "$path"
done
run "$admin" /admin/audit
