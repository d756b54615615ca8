#!/usr/bin/env bash
# Load test for POST /api/v1/clients/{id}/measures (a scored PHQ-9, with its
# alerts and audit entry, durable before the 201) with wrk.
# Usage: bench/run-measures.sh BASE_URL TOKEN IDS_FILE [connections] [seconds]
set -euo pipefail
base=$1; token=$2; ids=$3; conns=${4:-32}; secs=${5:-10}
TOKEN=$token IDS_FILE=$ids wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$(dirname "$0")/measures.lua" "$base"
