#!/usr/bin/env bash
# CP-SAT reference for kairos-schedule (bench only; ortools is never a runtime dependency).
#
#   bench/schedule/run.sh                 # the default instances, CP-SAT 60 s each
#   TIME_LIMIT=20 bench/schedule/run.sh "20 2 3 2 14 1"   # clients chairs therapists monitors days seed
#   CPSAT_ARGS="--min-doses 522" bench/schedule/run.sh "200 6 10 3 28 1"   # extra cpsat.py flags
#
# For each instance: generate it, solve it with the Rust engine (release build, default
# options), export the slot model, solve that with CP-SAT (2 workers, seed 0, the two-stage
# objective, the engine's plan as the solution hint; see README.md), check both plans with the
# Rust checker, print one comparison line.
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET/schedule-bench}
TIME_LIMIT=${TIME_LIMIT:-60}
mkdir -p "$OUT"
VENV=${VENV:-$OUT/venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import ortools" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "ortools==9.15.6755" || "$VENV/bin/pip" install -q ortools
fi
cargo build --release -q -p kairos-schedule --example schedule
B="$TARGET/release/examples/schedule"
if [ $# -eq 0 ]; then set -- "20 2 3 2 14 1" "60 3 5 2 21 1" "200 6 10 3 28 1"; fi
printf "%-22s | %-44s | %-60s\n" "instance" "kairos (doses, sessions, preferred, time)" "CP-SAT ${TIME_LIMIT}s (status, time, doses (bound), preferred, bound on preferred)"
for spec in "$@"; do
  read -r clients chairs therapists monitors days seed <<<"$spec"
  name="c${clients}-ch${chairs}-t${therapists}-m${monitors}-d${days}-s${seed}"
  "$B" generate --clients "$clients" --chairs "$chairs" --therapists "$therapists" --monitors "$monitors" --days "$days" --seed "$seed" > "$OUT/$name.json"
  "$B" solve --problem "$OUT/$name.json" > "$OUT/$name.plan.json" 2> "$OUT/$name.rust.txt"
  "$B" export --problem "$OUT/$name.json" > "$OUT/$name.slots.json"
  "$VENV/bin/python" bench/schedule/cpsat.py "$OUT/$name.slots.json" "$OUT/$name.cpsat-plan.json" \
      --time-limit "$TIME_LIMIT" --workers 2 --seed 0 --hint "$OUT/$name.plan.json" ${CPSAT_ARGS:-} > "$OUT/$name.cpsat.json"
  cp_ok="no plan"
  if grep -q '"doses_scheduled"' "$OUT/$name.cpsat.json"; then
    if "$B" check --problem "$OUT/$name.json" --plan "$OUT/$name.cpsat-plan.json" > /dev/null; then cp_ok="checked"; else cp_ok="FAILS CHECK"; fi
  fi
  python3 - "$OUT/$name.plan.json" "$OUT/$name.cpsat.json" "$OUT/$name.rust.txt" "$name" "$cp_ok" <<'PY'
import json, re, sys
plan = json.load(open(sys.argv[1])); cp = json.load(open(sys.argv[2])); rust = open(sys.argv[3]).read()
s = plan["summary"]; secs = re.search(r"solve: ([0-9.]+) s", rust).group(1)
ours = f'{s["doses_scheduled"]}/{s["doses_requested"]}, {s["sessions_scheduled"]}/{s["sessions_requested"]}, {s["sessions_in_preferred_window"]}, {secs} s'
if "doses_scheduled" in cp:
    ub, given = cp.get("bound_preferred"), cp.get("bound_preferred_given_doses")
    word = "optimum" if cp["status"] == "OPTIMAL" or ub == cp["sessions_in_preferred_window"] else "best"
    theirs = (f'{cp["status"]} {cp["seconds"]} s, {cp["doses_scheduled"]}/{cp["doses_requested"]} (<= {cp.get("bound_doses")}), '
              f'{word} {cp["sessions_in_preferred_window"]} preferred, <= {ub} given >= {given} doses ({sys.argv[5]})')
    if s["doses_scheduled"] < cp["doses_scheduled"]:
        theirs += f'; kairos schedules {cp["doses_scheduled"] - s["doses_scheduled"]} fewer doses'
    elif s["doses_scheduled"] == cp["doses_scheduled"] and cp["sessions_in_preferred_window"]:
        gap = 100.0 * (cp["sessions_in_preferred_window"] - s["sessions_in_preferred_window"]) / cp["sessions_in_preferred_window"]
        theirs += f"; ours {gap:+.1f}% below best"
        if ub and given is not None and s["doses_scheduled"] >= given:
            theirs += f", {100.0 * (ub - s['sessions_in_preferred_window']) / ub:+.1f}% below bound"
else:
    theirs = f'{cp["status"]} (no solution in the limit)'
print(f"{sys.argv[4]:<22} | {ours:<44} | {theirs}")
PY
done
