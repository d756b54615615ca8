#!/usr/bin/env python3
"""CP-SAT reference for kairos-schedule.

Reads the compiled slot model written by
`cargo run --release -p kairos-schedule --example schedule -- export --problem P.json`
and builds the same model as the Rust engine: same slots, same static availability,
the same hard constraints and the same integer objective (weights in the export).
Writes a plan JSON (checkable with `schedule check`) and prints one summary line as JSON.

Usage: cpsat.py SLOTS.json PLAN_OUT.json [--time-limit 60] [--workers 2] [--seed 0]
                 [--objective full|top] [--hint PLAN.json]

--objective top drops the two lowest terms (client-days, chair-days) and their per-day
booleans: the model gets much smaller, and the compared quantities (doses scheduled,
sessions in the preferred window) sit at the top of the same lexicographic objective.
--hint starts CP-SAT from a plan (e.g. the Rust engine's) as a solution hint.

Model
- Event e: presence p[e], start s[e] with the domain of its static starts (site open and
  client available over the whole event, course dates).
- Dose: one chair (alternative optional intervals, NoOverlap per chair, chair downtime as
  fixed intervals) and one monitor (alternatives; per staff member a Cumulative with the
  monitor's capacity: a dose uses 1, a session, group or off-hours block uses all of it).
- Session: one therapist (alternatives; same Cumulative), one room when it needs one (NoOverlap
  per room). Window: p[e] => open <= s[e] - (s[anchor] + shift) <= close; preferred flag
  q[e] => pf <= ... <= pt.
- Client: NoOverlap over the client's events and group meetings.
- Series: p[n] => p[n-1]; min/max gap between consecutive starts; max span from the first.
- Non-dosing day: day[e] = day_of(s[e]); both present => day differs from each dose of the client.
- Objective (minimise): W_dose*(doses absent) + W_np*(sessions not preferred, absent ones
  included) + W_us*(sessions absent) + W_cont*(sessions not with the continuing therapist)
  + W_day*(client-days used) + W_chair*(chair-days used).
"""
import json
import sys
import time
import datetime as dt

from ortools.sat.python import cp_model


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__)
        sys.exit(2)
    src, out = args[0], args[1]
    opts = {"--time-limit": 60.0, "--workers": 2, "--seed": 0, "--objective": "full", "--hint": "", "--log": 0}
    for i, a in enumerate(args):
        if a in opts:
            opts[a] = type(opts[a])(args[i + 1])
    M = json.load(open(src))
    W = M["weights"]
    n = M["n"]
    days = M["days"]
    day_of = [0] * n
    for d, (a, b) in enumerate(days):
        for t in range(a, b):
            day_of[t] = d
    ev = M["events"]
    staff = M["staff"]
    m = cp_model.CpModel()

    def complement(ok):
        gaps, t = [], 0
        for a, b in ok:
            if a > t:
                gaps.append((t, a))
            t = b
        if t < n:
            gaps.append((t, n))
        return gaps

    def fixed(a, b):
        return m.NewFixedSizeIntervalVar(a, b - a, "")

    P, S, E = [], [], []
    for i, e in enumerate(ev):
        # Start domain: static starts (interval [a, b) of starts).
        ivs = [[a, b - 1] for a, b in e["starts"] if b > a]
        p = m.NewBoolVar(f"p{i}")
        if not ivs:
            m.Add(p == 0)
            s = m.NewIntVar(0, 0, f"s{i}")
        else:
            s = m.NewIntVarFromDomain(cp_model.Domain.FromIntervals(ivs), f"s{i}")
        P.append(p)
        S.append(s)
        E.append(s + e["dur"])

    chair_iv = [[] for _ in M["chairs"]]
    room_iv = [[] for _ in M["rooms"]]
    staff_iv = [[] for _ in staff]  # (interval, demand)
    client_iv = [[] for _ in M["clients"]]
    X = {}  # (event, chair) for doses
    Z = {}  # (event, staff)
    RM = {}  # (event, room)
    for i, e in enumerate(ev):
        dur = e["dur"]
        client_iv[e["client"]].append(m.NewOptionalFixedSizeIntervalVar(S[i], dur, P[i], ""))
        if "dose" in e:
            xs = []
            for c in range(len(M["chairs"])):
                x = m.NewBoolVar("")
                X[(i, c)] = x
                xs.append(x)
                chair_iv[c].append(m.NewOptionalFixedSizeIntervalVar(S[i], dur, x, ""))
            ys = []
            for k, st in enumerate(staff):
                if not st["monitor"]:
                    continue
                y = m.NewBoolVar("")
                Z[(i, k)] = y
                ys.append(y)
                staff_iv[k].append((m.NewOptionalFixedSizeIntervalVar(S[i], dur, y, ""), 1))
            m.Add(sum(xs) == P[i])
            m.Add(sum(ys) == P[i])
        else:
            zs = []
            for k, st in enumerate(staff):
                if not st["therapist"]:
                    continue
                z = m.NewBoolVar("")
                Z[(i, k)] = z
                zs.append(z)
                staff_iv[k].append((m.NewOptionalFixedSizeIntervalVar(S[i], dur, z, ""), st["cap"]))
            m.Add(sum(zs) == P[i])
            if e["needs_room"]:
                ws = []
                for r in range(len(M["rooms"])):
                    w = m.NewBoolVar("")
                    RM[(i, r)] = w
                    ws.append(w)
                    room_iv[r].append(m.NewOptionalFixedSizeIntervalVar(S[i], dur, w, ""))
                m.Add(sum(ws) == P[i])
    for b in M["blocks"]:
        # A group may run outside its therapist's hours: only the on-duty part adds to the load.
        for a, z in staff[b["staff"]]["ok"]:
            lo, hi = max(a, b["start"]), min(z, b["end"])
            if lo < hi:
                staff_iv[b["staff"]].append((fixed(lo, hi), staff[b["staff"]]["cap"]))
        if b["room"] is not None:
            room_iv[b["room"]].append(fixed(b["start"], b["end"]))
        for c in b["clients"]:
            client_iv[c].append(fixed(b["start"], b["end"]))
    for c, ch in enumerate(M["chairs"]):
        m.AddNoOverlap(chair_iv[c] + [fixed(a, b) for a, b in complement(ch["ok"])])
    for r, rm in enumerate(M["rooms"]):
        m.AddNoOverlap(room_iv[r] + [fixed(a, b) for a, b in complement(rm["ok"])])
    for k, st in enumerate(staff):
        ivs = staff_iv[k] + [(fixed(a, b), st["cap"]) for a, b in complement(st["ok"])]
        if ivs:
            m.AddCumulative([iv for iv, _ in ivs], [d for _, d in ivs], st["cap"])
    for c in range(len(M["clients"])):
        if len(client_iv[c]) > 1:
            m.AddNoOverlap(client_iv[c])

    # Series.
    for k in M["courses"]:
        d = k["doses"]
        for j in range(1, len(d)):
            a, b = d[j - 1], d[j]
            m.AddImplication(P[b], P[a])
            m.Add(S[b] - S[a] >= k["min_gap"]).OnlyEnforceIf(P[b])
            if k["max_gap"] is not None:
                m.Add(S[b] - S[a] <= k["max_gap"]).OnlyEnforceIf(P[b])
            if k["max_span"] is not None:
                m.Add(S[b] - S[d[0]] <= k["max_span"]).OnlyEnforceIf(P[b])

    # Windows and the preferred flag.
    Q = {}
    for i, e in enumerate(ev):
        if "dose" in e:
            continue
        a = e["anchor"]
        m.AddImplication(P[i], P[a])
        rel = S[i] - S[a] - e["shift"]
        m.Add(rel >= e["open"]).OnlyEnforceIf(P[i])
        m.Add(rel <= e["close"]).OnlyEnforceIf(P[i])
        q = m.NewBoolVar("")
        m.AddImplication(q, P[i])
        m.Add(rel >= e["pf"]).OnlyEnforceIf(q)
        m.Add(rel <= e["pt"]).OnlyEnforceIf(q)
        Q[i] = q

    # Days: day[e] via an element constraint; on-day booleans for the day objectives.
    DAY = {}

    def day_var(i):
        if i not in DAY:
            v = m.NewIntVar(0, len(days) - 1, "")
            m.AddElement(S[i], day_of, v)
            DAY[i] = v
        return DAY[i]

    by_client = [[] for _ in M["clients"]]
    for i, e in enumerate(ev):
        by_client[e["client"]].append(i)
    for i, e in enumerate(ev):
        if "dose" in e or not e["non_dosing"]:
            continue
        for f in by_client[e["client"]]:
            if "dose" in ev[f]:
                m.Add(day_var(i) != day_var(f)).OnlyEnforceIf([P[i], P[f]])

    def possible_days(i):
        ds = set()
        for a, b in ev[i]["starts"]:
            for t in range(a, b):
                ds.add(day_of[t])
        return ds

    full = opts["--objective"] == "full"
    ON = {}
    for i in (range(len(ev)) if full else []):
        for d in possible_days(i):
            o = m.NewBoolVar("")
            m.Add(day_var(i) == d).OnlyEnforceIf(o)
            m.Add(day_var(i) != d).OnlyEnforceIf([P[i], o.Not()])
            m.AddImplication(o, P[i])
            ON[(i, d)] = o
    cost = []
    for c in (range(len(M["clients"])) if full else []):
        per_day = {}
        for i in by_client[c]:
            for d in possible_days(i):
                per_day.setdefault(d, []).append(ON[(i, d)])
        for d, os in per_day.items():
            u = m.NewBoolVar("")
            m.AddMaxEquality(u, os)
            cost.append(W["client_day"] * u)
    for ch in (range(len(M["chairs"])) if full else []):
        per_day = {}
        for i, e in enumerate(ev):
            if "dose" not in e:
                continue
            for d in possible_days(i):
                both = m.NewBoolVar("")
                m.AddMultiplicationEquality(both, [ON[(i, d)], X[(i, ch)]])
                per_day.setdefault(d, []).append(both)
        for d, os in per_day.items():
            u = m.NewBoolVar("")
            m.AddMaxEquality(u, os)
            cost.append(W["chair_day"] * u)
    for i, e in enumerate(ev):
        if "dose" in e:
            cost.append(W["dose"] * (1 - P[i]))
        else:
            cost.append(W["not_preferred"] * (1 - Q[i]))
            cost.append(W["session_unscheduled"] * (1 - P[i]))
            t = M["clients"][e["client"]]["therapist"]
            if t is not None and (i, t) in Z:
                cost.append(W["discontinuity"] * (P[i] - Z[(i, t)]))
            elif t is not None:
                cost.append(W["discontinuity"] * P[i])
    m.Minimize(sum(cost))
    if opts["--hint"]:
        hint = json.load(open(opts["--hint"]))
        t0, step = M["t0"], M["slot_seconds"]
        idx = {e["id"]: i for i, e in enumerate(ev)}
        placed = {}
        for a in hint["assignments"]:
            i = idx[a["event"]]
            st = dt.datetime.fromisoformat(a["start"].replace("Z", "+00:00")).timestamp()
            placed[i] = int((st - t0) // step)
        chair_i = {c["id"]: k for k, c in enumerate(M["chairs"])}
        room_i = {c["id"]: k for k, c in enumerate(M["rooms"])}
        staff_i = {c["id"]: k for k, c in enumerate(staff)}
        res = {idx[a["event"]]: a for a in hint["assignments"]}
        for i in range(len(ev)):
            m.AddHint(P[i], i in placed)
            if i in placed:
                m.AddHint(S[i], placed[i])
            a = res.get(i)
            for (j, c), v in X.items():
                if j == i:
                    m.AddHint(v, bool(a) and chair_i.get(a.get("chair")) == c)
            for (j, k), v in Z.items():
                if j == i:
                    m.AddHint(v, bool(a) and staff_i.get(a["staff"]) == k)
            for (j, r), v in RM.items():
                if j == i:
                    m.AddHint(v, bool(a) and room_i.get(a.get("room")) == r)
            if i in Q:
                m.AddHint(Q[i], bool(a) and a.get("window") == "preferred")

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(opts["--time-limit"])
    solver.parameters.num_workers = int(opts["--workers"])
    solver.parameters.random_seed = int(opts["--seed"])
    solver.parameters.log_search_progress = bool(int(opts["--log"]))
    t = time.time()
    status = solver.Solve(m)
    el = time.time() - t
    name = solver.StatusName(status)
    res = {"status": name, "seconds": round(el, 2)}
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        res["objective"] = int(solver.ObjectiveValue())
        res["bound"] = int(solver.BestObjectiveBound())
        doses = sum(1 for i, e in enumerate(ev) if "dose" in e and solver.Value(P[i]))
        sess = sum(1 for i, e in enumerate(ev) if "dose" not in e and solver.Value(P[i]))
        pref = sum(1 for i in Q if solver.Value(Q[i]))
        res.update({"doses_scheduled": doses, "doses_requested": sum(1 for e in ev if "dose" in e),
                    "sessions_scheduled": sess, "sessions_in_preferred_window": pref,
                    "sessions_requested": sum(1 for e in ev if "dose" not in e)})
        # Upper bound on preferred sessions implied by the objective bound (lexicographic weights).
        res["bound_doses_unscheduled_min"] = res["bound"] // W["dose"]
        res["bound_not_preferred_min"] = (res["bound"] % W["dose"]) // W["not_preferred"] if res["bound"] // W["dose"] == res["objective"] // W["dose"] else None
        write_plan(M, solver, P, S, X, Z, Q, RM, out)
    else:
        res["bound"] = int(solver.BestObjectiveBound()) if status != cp_model.MODEL_INVALID else None
    print(json.dumps(res))


def write_plan(M, solver, P, S, X, Z, Q, RM, out):
    t0, step = M["t0"], M["slot_seconds"]

    def ts(slot):
        return dt.datetime.fromtimestamp(t0 + slot * step, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    ev = M["events"]
    plan = {"assignments": [], "unscheduled": [], "moved": []}
    for i, e in enumerate(ev):
        course = M["courses"][e["course"]]["id"]
        client = M["clients"][e["client"]]["id"]
        kind = "dose" if "dose" in e else "session"
        if not solver.Value(P[i]):
            plan["unscheduled"].append({"event": e["id"], "kind": kind, "course": course, "client": client,
                                        "reason": "search_limit", "detail": "CP-SAT left it out"})
            continue
        s = solver.Value(S[i])
        staff = next(M["staff"][k]["id"] for (j, k), v in Z.items() if j == i and solver.Value(v))
        a = {"event": e["id"], "kind": kind, "course": course, "client": client, "start": ts(s),
             "end": ts(s + e["dur"]), "staff": staff}
        if kind == "dose":
            a["chair"] = next(M["chairs"][c]["id"] for (j, c), v in X.items() if j == i and solver.Value(v))
        else:
            a["window"] = "preferred" if solver.Value(Q[i]) else "acceptable"
            room = [M["rooms"][r]["id"] for (j, r), v in RM.items() if j == i and solver.Value(v)]
            if room:
                a["room"] = room[0]
        plan["assignments"].append(a)
    json.dump(plan, open(out, "w"))


if __name__ == "__main__":
    main()
