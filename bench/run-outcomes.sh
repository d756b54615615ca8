#!/usr/bin/env bash
# Times the director's practice outcome report, GET /api/v1/outcomes, sequentially.
# Usage: bench/run-outcomes.sh BASE_URL DIRECTOR_TOKEN [runs] [instrument]
set -euo pipefail
base=$1; token=$2; runs=${3:-10}; inst=${4:-phq9}
for _ in $(seq "$runs"); do
  curl -s -o /dev/null -w "%{time_total}\n" "$base/api/v1/outcomes?instrument=$inst" -H "authorization: Bearer $token"
done | sort -n | awk '{a[NR]=$1} END {printf "runs %d  min %.3f s  median %.3f s  max %.3f s\n", NR, a[1], a[int((NR+1)/2)], a[NR]}'
