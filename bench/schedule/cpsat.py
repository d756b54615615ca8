#!/usr/bin/env python3
"""CP-SAT reference for kairos-schedule.

Reads the compiled slot model written by
`cargo run --release -p kairos-schedule --example schedule -- export --problem P.json`
and builds the same model as the Rust engine: same slots, same static availability,
the same hard constraints and the same objective order. Writes a plan JSON (checkable
with `schedule check`) and prints one summary line as JSON. See README.md beside this file.

Usage: cpsat.py SLOTS.json PLAN_OUT.json [--time-limit 60] [--workers 2] [--seed 0]
                 [--objective staged|top|full|pref|doses] [--hint PLAN.json] [--stage1 0.3]
                 [--stage1-objective doses|top] [--min-doses N] [--client-bound 1]
                 [--drop chairs,monitors,therapists,rooms] [--only-sessions non_dosing]
                 [--param cp_sat_parameter=value]... [--gaps 1] [--log 1]

--objective
  staged (default)  two CP-SAT solves inside the one time limit: stage 1 maximises doses
                    scheduled (--stage1 of the time); stage 2 requires at least the best dose
                    count found and maximises, lexicographically, sessions in the preferred
                    window, sessions scheduled, sessions with the continuing therapist.
  top               one solve of those four terms (compact lexicographic weights).
  full              one solve of the engine's whole objective with the exported weights,
                    client-days and chair-days included (per-chair variables; large).
--client-bound 1    also solve the per-client relaxation (every shared resource dropped except
                    fixed group blocks and staff hours): a proven upper bound on doses and on
                    preferred sessions of ANY feasible plan of the full model (README.md).
--hint PLAN.json    start from a plan (e.g. the Rust engine's) as a complete solution hint.
--min-doses N       staged: skip stage 1 and require at least N doses; pref/doses: the same
                    requirement for a one-term solve.
--drop, --only-sessions   relaxations (resources or sessions removed) for bounds; their plans
                    are not written.
--param             any CP-SAT parameter (probing is off by default: cp_model_probing_level=0).
--gaps 1            staff hours as fixed off-duty intervals instead of enforced start domains.
"""
import json
import sys
import time
import datetime as dt

from ortools.sat.python import cp_model


def load(src):
    M = json.load(open(src))
    n = M["n"]
    day_of = [0] * n
    for d, (a, b) in enumerate(M["days"]):
        for t in range(a, b):
            day_of[t] = d
    M["day_of"] = day_of
    return M


def event_days(M, e):
    """{day: (min start, max start)} of an event's static start domain."""
    out = {}
    for a, b in e["starts"]:
        for d, (da, db) in enumerate(M["days"]):
            lo, hi = max(a, da), min(b, db)
            if lo < hi:
                x = out.get(d)
                out[d] = (lo, hi - 1) if x is None else (min(x[0], lo), max(x[1], hi - 1))
    return out


def complement(n, ok):
    gaps, t = [], 0
    for a, b in ok:
        if a > t:
            gaps.append((t, a))
        t = b
    if t < n:
        gaps.append((t, n))
    return gaps


class Model:
    """The CP-SAT model of the events `sel` (all by default; one client's for the bound)."""

    def __init__(self, M, sel=None, full=False, drop=()):
        self.M = M
        ev = M["events"]
        n = M["n"]
        staff = M["staff"]
        self.sel = list(range(len(ev))) if sel is None else sorted(sel)
        sel_set = set(self.sel)
        m = self.m = cp_model.CpModel()
        self.full = full

        def fixed(a, b):
            return m.NewFixedSizeIntervalVar(a, b - a, "")

        P, S = {}, {}
        for i in self.sel:
            e = ev[i]
            ivs = [[a, b - 1] for a, b in e["starts"] if b > a]
            p = m.NewBoolVar(f"p{i}")
            if not ivs:
                m.Add(p == 0)
                s = m.NewIntVar(0, 0, f"s{i}")
            else:
                s = m.NewIntVarFromDomain(cp_model.Domain.FromIntervals(ivs), f"s{i}")
            P[i], S[i] = p, s
        self.P, self.S = P, S

        # Bookings (`booked` in the export): a held one (fixed, and still fitting) stays at
        # its start, chair or room and staff member, as the engine keeps it; the others are
        # references that may move (at W_MOVE in the full objective). A resource named by a
        # booking is never pooled, so the booking can name it.
        booked = {b["event"]: b for b in M.get("booked", []) if b["event"] in sel_set}
        self.booked = booked
        booked_doses = [b for i, b in booked.items() if "dose" in ev[i]]
        booked_rooms = {b["res"] for i, b in booked.items() if "dose" not in ev[i] and b["res"] is not None}
        booked_staff = {b["staff"] for b in booked.values()}

        # Identical resources with no fixed blocks are pooled: one Cumulative of their count.
        # Exact: intervals whose overlap never exceeds k can be given k identical machines
        # (interval graphs are perfect; greedy by start time in write_plan does it).
        chairs = M["chairs"]
        pool_chairs = ((not full) and not booked_doses and len(chairs) > 0
                       and all(c["ok"] == chairs[0]["ok"] for c in chairs))
        rooms = M["rooms"]
        blocked_rooms = {b["room"] for b in M["blocks"] if b["room"] is not None} | booked_rooms
        free_rooms = [r for r in range(len(rooms)) if r not in blocked_rooms]
        pool_rooms = [r for r in free_rooms if rooms[r]["ok"] == rooms[free_rooms[0]]["ok"]] if free_rooms else []
        solo_rooms = [r for r in range(len(rooms)) if r not in pool_rooms]
        self.pool_chairs, self.pool_rooms, self.solo_rooms = pool_chairs, pool_rooms, solo_rooms

        # Therapists (capacity 1) with the same hours and no group blocks are pooled the same way.
        blocked_staff = {b["staff"] for b in M["blocks"]} | booked_staff
        groups = {}
        for k, st in enumerate(staff):
            if st["therapist"] and not st["monitor"] and st["cap"] == 1 and k not in blocked_staff and not full:
                groups.setdefault(json.dumps(st["ok"]), []).append(k)
        self.staff_pools = [tuple(g) for g in groups.values() if len(g) > 1]
        pooled = {k for g in self.staff_pools for k in g}
        self.drop = set(drop)

        chair_iv = [[] for _ in chairs]
        chair_pool = []
        room_iv = {r: [] for r in solo_rooms}
        room_pool = []
        staff_iv = [[] for _ in staff]  # (interval, demand)
        pool_iv = {g: [] for g in self.staff_pools}
        client_iv = {}
        X, Z, RM = {}, {}, {}  # (event, chair), (event, staff), (event, solo room)
        RP = {}  # event -> bool: in the room pool
        for i in self.sel:
            e = ev[i]
            dur = e["dur"]
            client_iv.setdefault(e["client"], []).append(
                m.NewOptionalFixedSizeIntervalVar(S[i], dur, P[i], ""))
            # Staff who can cover the event at some static start (others are left out).
            starts = [(a, b) for a, b in e["starts"] if b > a]

            def in_hours(lit, st):
                # lit => the event lies inside one of st's on-duty intervals (instead of
                # off-duty fixed intervals in st's resource constraint, which made the
                # timetabling explanations slow).
                if not GAPS:
                    dom = [[x, y - dur] for x, y in st["ok"] if y - dur >= x]
                    m.AddLinearExpressionInDomain(S[i], cp_model.Domain.FromIntervals(dom)).OnlyEnforceIf(lit)

            def can(st):  # some static start s with [s, s + dur) inside one of st's hours
                return any(max(a, x) <= min(b - 1, y - dur) for a, b in starts for x, y in st["ok"])
            if "dose" in e:
                if "chairs" in self.drop:
                    pass
                elif pool_chairs:
                    chair_pool.append(m.NewOptionalFixedSizeIntervalVar(S[i], dur, P[i], ""))
                else:
                    xs = []
                    for c in range(len(chairs)):
                        x = m.NewBoolVar("")
                        X[(i, c)] = x
                        xs.append(x)
                        chair_iv[c].append(m.NewOptionalFixedSizeIntervalVar(S[i], dur, x, ""))
                    m.Add(sum(xs) == P[i])
                ys = []
                for k, st in enumerate(staff):
                    if not st["monitor"] or not can(st):
                        continue
                    y = m.NewBoolVar("")
                    Z[(i, k)] = y
                    ys.append(y)
                    in_hours(y, st)
                    if "monitors" not in self.drop:
                        staff_iv[k].append((m.NewOptionalFixedSizeIntervalVar(S[i], dur, y, ""), 1))
                m.Add(sum(ys) == P[i])
            else:
                zs = []
                for k, st in enumerate(staff):
                    if not st["therapist"] or not can(st) or k in pooled:
                        continue
                    z = m.NewBoolVar("")
                    Z[(i, k)] = z
                    zs.append(z)
                    in_hours(z, st)
                    if "therapists" not in self.drop:
                        staff_iv[k].append((m.NewOptionalFixedSizeIntervalVar(S[i], dur, z, ""), st["cap"]))
                for g in self.staff_pools:
                    if not can(staff[g[0]]):
                        continue
                    z = m.NewBoolVar("")
                    Z[(i, g)] = z
                    zs.append(z)
                    in_hours(z, staff[g[0]])
                    if "therapists" not in self.drop:
                        pool_iv[g].append(m.NewOptionalFixedSizeIntervalVar(S[i], dur, z, ""))
                m.Add(sum(zs) == P[i])
                if e["needs_room"] and "rooms" not in self.drop:
                    ws = []
                    for r in solo_rooms:
                        w = m.NewBoolVar("")
                        RM[(i, r)] = w
                        ws.append(w)
                        room_iv[r].append(m.NewOptionalFixedSizeIntervalVar(S[i], dur, w, ""))
                    if pool_rooms:
                        w = m.NewBoolVar("")
                        RP[i] = w
                        ws.append(w)
                        room_pool.append(m.NewOptionalFixedSizeIntervalVar(S[i], dur, w, ""))
                    m.Add(sum(ws) == P[i])
        self.X, self.Z, self.RM, self.RP = X, Z, RM, RP

        # A held booking, when its event is present, is where it was booked: same start,
        # same chair (dose) or room (session), same staff member. Its presence is left to
        # the model, as the engine drops a held dose only when an earlier dose of its series
        # cannot be scheduled (the series constraints below do the same).
        self.kept = {}
        for i, b in booked.items():
            e = ev[i]
            on_booked = [S[i] == b["start"]]
            res_var = None
            if "dose" in e:
                res_var = X.get((i, b["res"]))
            elif b["res"] is not None and e["needs_room"] and "rooms" not in self.drop:
                res_var = RM.get((i, b["res"]))
            staff_var = Z.get((i, b["staff"]))
            if b["held"]:
                if staff_var is None or ("dose" in e and "chairs" not in self.drop and res_var is None) or (
                        "dose" not in e and b["res"] is not None and e["needs_room"]
                        and "rooms" not in self.drop and res_var is None):
                    raise SystemExit(f"held booking of {e['id']}: its chair, room or staff member is not a "
                                     "possible place in the model")
                m.Add(S[i] == b["start"]).OnlyEnforceIf(P[i])
                m.Add(staff_var == P[i])
                if res_var is not None:
                    m.Add(res_var == P[i])
            elif full:
                # kept: present, at the booked start, on the booked resources; else W_MOVE.
                k = m.NewBoolVar(f"kept{i}")
                m.AddImplication(k, P[i])
                m.Add(S[i] == b["start"]).OnlyEnforceIf(k)
                for v in (staff_var, res_var):
                    if v is not None:
                        m.AddImplication(k, v)
                if staff_var is None or ("dose" in e and res_var is None):
                    m.Add(k == 0)
                self.kept[i] = k
        clients_in = set(client_iv)
        for b in M["blocks"]:
            # A group may run outside its therapist's hours: only the on-duty part adds to the load.
            if staff_iv[b["staff"]]:
                for a, z in staff[b["staff"]]["ok"]:
                    lo, hi = max(a, b["start"]), min(z, b["end"])
                    if lo < hi:
                        staff_iv[b["staff"]].append((fixed(lo, hi), staff[b["staff"]]["cap"]))
            if b["room"] is not None and b["room"] in room_iv:
                room_iv[b["room"]].append(fixed(b["start"], b["end"]))
            for c in b["clients"]:
                if c in clients_in:
                    client_iv[c].append(fixed(b["start"], b["end"]))
        if pool_chairs and chair_pool:
            gaps = [fixed(a, b) for a, b in complement(n, chairs[0]["ok"])]
            m.AddCumulative(chair_pool + gaps, [1] * len(chair_pool) + [len(chairs)] * len(gaps), len(chairs))
        for c, ch in enumerate(chairs):
            if chair_iv[c]:
                m.AddNoOverlap(chair_iv[c] + [fixed(a, b) for a, b in complement(n, ch["ok"])])
        for r, ivs in room_iv.items():
            if ivs:
                m.AddNoOverlap(ivs + [fixed(a, b) for a, b in complement(n, rooms[r]["ok"])])
        if room_pool:
            gaps = [fixed(a, b) for a, b in complement(n, rooms[pool_rooms[0]]["ok"])]
            m.AddCumulative(room_pool + gaps, [1] * len(room_pool) + [len(pool_rooms)] * len(gaps), len(pool_rooms))
        for k, st in enumerate(staff):
            if not staff_iv[k]:
                continue
            ivs = staff_iv[k] + ([(fixed(a, b), st["cap"]) for a, b in complement(n, st["ok"])] if GAPS else [])
            if st["cap"] == 1:
                m.AddNoOverlap([iv for iv, _ in ivs])
            else:
                m.AddCumulative([iv for iv, _ in ivs], [d for _, d in ivs], st["cap"])
        for g, ivs in pool_iv.items():
            if ivs:
                gaps = [fixed(a, b) for a, b in complement(n, staff[g[0]]["ok"])] if GAPS else []
                m.AddCumulative(ivs + gaps, [1] * len(ivs) + [len(g)] * len(gaps), len(g))
        for c, ivs in client_iv.items():
            if len(ivs) > 1:
                m.AddNoOverlap(ivs)

        # Series.
        for k in M["courses"]:
            d = [i for i in k["doses"] if i in sel_set]
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
        for i in self.sel:
            e = ev[i]
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
        self.Q = Q

        # Days: one boolean per (event, possible day), exactly one when present, tied to the
        # start by two enforced bounds. (Replaces an AddElement(start, day_of) per event: its
        # expansion fully encodes every start domain, hundreds of literals per event, and that
        # made presolve take minutes at 200 courses.)
        by_client = {}
        for i in self.sel:
            by_client.setdefault(ev[i]["client"], []).append(i)
        need_day = set()
        for i in self.sel:
            e = ev[i]
            if "dose" not in e and e["non_dosing"]:
                need_day.add(i)
                need_day.update(f for f in by_client[e["client"]] if "dose" in ev[f])
        if full:
            need_day = set(self.sel)
        B = {}
        self.days_of = {}
        for i in sorted(need_day):
            ds = event_days(M, ev[i])
            self.days_of[i] = ds
            bs = []
            for d, (lo, hi) in ds.items():
                b = m.NewBoolVar("")
                m.Add(S[i] >= lo).OnlyEnforceIf(b)
                m.Add(S[i] <= hi).OnlyEnforceIf(b)
                B[(i, d)] = b
                bs.append(b)
            m.Add(sum(bs) == P[i])
        self.B = B
        for i in self.sel:
            e = ev[i]
            if "dose" in e or not e["non_dosing"]:
                continue
            for f in by_client[e["client"]]:
                if "dose" in ev[f]:
                    for d in self.days_of[i]:
                        if (f, d) in B:
                            m.AddBoolOr([B[(i, d)].Not(), B[(f, d)].Not()])
        self.by_client = by_client

        # Counted terms.
        doses = [i for i in self.sel if "dose" in ev[i]]
        sess = [i for i in self.sel if "dose" not in ev[i]]
        self.doses, self.sess = doses, sess
        self.n_doses = sum(P[i] for i in doses)
        self.n_pref = sum(Q[i] for i in sess)
        self.n_sess = sum(P[i] for i in sess)
        cont = []
        for i in sess:
            t = M["clients"][ev[i]["client"]]["therapist"]
            if t is not None and (i, t) in Z:
                cont.append(Z[(i, t)])
            else:  # pooled: counted as "in the continuing therapist's pool" (see README)
                cont += [Z[(i, g)] for g in self.staff_pools if t in g and (i, g) in Z]
        self.n_cont = sum(cont)

        self.day_cost = []
        if full:
            W = M["weights"]
            for c, evs in by_client.items():
                per_day = {}
                for i in evs:
                    for d in self.days_of[i]:
                        per_day.setdefault(d, []).append(B[(i, d)])
                for d, os in per_day.items():
                    u = m.NewBoolVar("")
                    for o in os:
                        m.AddImplication(o, u)
                    m.AddBoolOr(os).OnlyEnforceIf(u)
                    self.day_cost.append(W["client_day"] * u)
            for ch in range(len(chairs)):
                per_day = {}
                for i in doses:
                    for d in self.days_of[i]:
                        per_day.setdefault(d, []).append((i, d))
                for d, ids in per_day.items():
                    u = m.NewBoolVar("")
                    for i, _ in ids:
                        m.AddBoolOr([B[(i, d)].Not(), X[(i, ch)].Not(), u])
                    self.day_cost.append(W["chair_day"] * u)

    # Objectives -------------------------------------------------------------------------
    def lex_top(self):
        """Compact lexicographic weights: doses > preferred > scheduled sessions > continuity."""
        ns = len(self.sess) + 1
        return ((ns ** 3) * self.n_doses + (ns ** 2) * self.n_pref + ns * self.n_sess + self.n_cont)

    def stage2(self):
        ns = len(self.sess) + 1
        return (ns ** 2) * self.n_pref + ns * self.n_sess + self.n_cont

    def full_cost(self):
        W = self.M["weights"]
        nd, ns = len(self.doses), len(self.sess)
        return (W["dose"] * (nd - self.n_doses) + W["not_preferred"] * (ns - self.n_pref)
                + W["session_unscheduled"] * (ns - self.n_sess) + W["discontinuity"] * (self.n_sess - self.n_cont)
                + W["move"] * sum(1 - k for k in self.kept.values())
                + sum(self.day_cost))

    # Hint ---------------------------------------------------------------------------------
    def hint(self, plan):
        M, ev = self.M, self.M["events"]
        t0, step = M["t0"], M["slot_seconds"]
        idx = {e["id"]: i for i, e in enumerate(ev)}
        res = {}
        for a in plan["assignments"]:
            i = idx[a["event"]]
            st = dt.datetime.fromisoformat(a["start"].replace("Z", "+00:00")).timestamp()
            res[i] = (int((st - t0) // step), a)
        chair_i = {c["id"]: k for k, c in enumerate(M["chairs"])}
        room_i = {c["id"]: k for k, c in enumerate(M["rooms"])}
        staff_i = {c["id"]: k for k, c in enumerate(M["staff"])}
        m = self.m
        for i in self.sel:
            r = res.get(i)
            m.AddHint(self.P[i], r is not None)
            if r is not None:
                m.AddHint(self.S[i], r[0])
            a = r[1] if r else None
            s = r[0] if r else None
            for (j, d), v in self.B.items():
                if j == i:
                    m.AddHint(v, s is not None and M["day_of"][s] == d)
            for (j, c), v in self.X.items():
                if j == i:
                    m.AddHint(v, bool(a) and chair_i.get(a.get("chair")) == c)
            for (j, k), v in self.Z.items():
                if j == i:
                    got = staff_i.get(a["staff"]) if a else None
                    m.AddHint(v, bool(a) and (got in k if isinstance(k, tuple) else got == k))
            for (j, r_), v in self.RM.items():
                if j == i:
                    m.AddHint(v, bool(a) and room_i.get(a.get("room")) == r_)
            if i in self.RP:
                m.AddHint(self.RP[i], bool(a) and room_i.get(a.get("room")) in self.pool_rooms)
            if i in self.Q:
                m.AddHint(self.Q[i], bool(a) and a.get("window") == "preferred")

    def fix_hint_from(self, solver):
        """Hint the model with the values of a previous solve of the same model, the preferred
        flags recomputed (stage 1 does not care about them, so it leaves many false)."""
        self.m.ClearHints()
        V = solver.Value
        ev = self.M["events"]
        qs = {id(q) for q in self.Q.values()}
        for v in self.all_vars():
            if id(v) not in qs:
                self.m.AddHint(v, V(v))
        for i, q in self.Q.items():
            e = ev[i]
            ok = False
            if V(self.P[i]):
                rel = V(self.S[i]) - V(self.S[e["anchor"]]) - e["shift"]
                ok = e["pf"] <= rel <= e["pt"]
            self.m.AddHint(q, ok)

    def all_vars(self):
        vs = list(self.P.values()) + list(self.S.values()) + list(self.Q.values()) + list(self.B.values())
        vs += list(self.X.values()) + list(self.Z.values()) + list(self.RM.values()) + list(self.RP.values())
        return vs


GAPS = False  # --gaps 1: staff hours as fixed off-duty intervals (the old formulation)
PARAMS = []  # --param name=value (repeatable), any CP-SAT parameter


def solver_for(limit, workers, seed, log):
    s = cp_model.CpSolver()
    # Probing (presolve and search) spends 10+ s of wall time at 200 courses for almost no
    # deterministic work (scheduling propagators); off unless --param sets it.
    s.parameters.cp_model_probing_level = 0
    for kv in PARAMS:
        k, v = kv.split("=", 1)
        cur = getattr(s.parameters, k)
        setattr(s.parameters, k, (v.lower() in ("1", "true")) if isinstance(cur, bool) else type(cur)(v))
    s.parameters.max_time_in_seconds = max(0.1, float(limit))
    s.parameters.num_workers = int(workers)
    s.parameters.random_seed = int(seed)
    s.parameters.log_search_progress = bool(log)
    return s


def client_bound(M, workers, seed):
    """Per-client relaxation: each client alone (group blocks and staff hours kept, every other
    client's events removed from every shared resource). Any feasible plan of the full model,
    restricted to one client, is feasible here, so the sums of the per-client maxima bound the
    full model's doses and preferred sessions from above."""
    ev = M["events"]
    per = {}
    for i, e in enumerate(ev):
        per.setdefault(e["client"], []).append(i)
    ub_doses = ub_pref = 0
    proven = True
    for c, sel in per.items():
        out = []
        for what in ("doses", "pref"):
            mm = Model(M, sel)
            mm.m.Maximize(mm.n_doses if what == "doses" else mm.n_pref)
            s = solver_for(10, workers, seed, 0)
            st = s.Solve(mm.m)
            if st != cp_model.OPTIMAL:
                proven = False
            out.append(int(s.BestObjectiveBound()))
        ub_doses += out[0]
        ub_pref += out[1]
    return ub_doses, ub_pref, proven


def main():
    global GAPS
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__)
        sys.exit(2)
    src, out = args[0], args[1]
    opts = {"--time-limit": 60.0, "--workers": 2, "--seed": 0, "--objective": "staged", "--hint": "",
            "--log": 0, "--stage1": 0.3, "--client-bound": 0, "--drop": "", "--min-doses": -1, "--stage1-objective": "doses", "--only-sessions": ""}
    for i, a in enumerate(args):
        if a in opts:
            opts[a] = type(opts[a])(args[i + 1])
        if a == "--gaps":
            GAPS = bool(int(args[i + 1]))
        if a == "--param":
            PARAMS.append(args[i + 1])
    M = load(src)
    ev = M["events"]
    limit, workers, seed, log = opts["--time-limit"], opts["--workers"], opts["--seed"], opts["--log"]
    hint = json.load(open(opts["--hint"])) if opts["--hint"] else None
    t_start = time.time()
    res = {"objective_mode": opts["--objective"]}

    mode = opts["--objective"]
    sel = None
    if opts["--only-sessions"] == "non_dosing":
        # Relaxation: every dose, but only the non-dosing-day sessions (the others removed;
        # a bound adds them back as preferred).
        sel = [i for i, e in enumerate(ev) if "dose" in e or e["non_dosing"]]
        res["sessions_left_out"] = len(ev) - len(sel)
    mm = Model(M, sel=sel, full=(mode == "full"), drop=[d for d in opts["--drop"].split(",") if d])
    if hint:
        mm.hint(hint)
    res["build_seconds"] = round(time.time() - t_start, 2)
    doses_ub = None
    if mode == "staged" and opts["--min-doses"] >= 0:
        # Stage 1 skipped: at least this many doses (e.g. the engine's count, with its plan as
        # the hint) and stage 2 for the whole limit.
        mm.m.Add(mm.n_doses >= opts["--min-doses"])
        res["stage2_requires_doses"] = opts["--min-doses"]
        mm.m.Maximize(mm.stage2())
        solver = solver_for(limit - (time.time() - t_start), workers, seed, log)
    elif mode == "staged":
        # Stage 1: doses only.
        # Stage 1: doses only (default), or with --stage1-objective top the whole lexicographic
        # objective (keeps sessions in their windows while gaining doses, but in our runs found
        # the extra doses less often in the same time); only its dose part is used.
        ns1 = len(mm.sess) + 1
        top1 = opts["--stage1-objective"] == "top"
        mm.m.Maximize(mm.lex_top() if top1 else mm.n_doses)
        s1 = solver_for(limit * opts["--stage1"] - (time.time() - t_start), workers, seed, log)
        st1 = s1.Solve(mm.m)
        res["stage1"] = {"status": s1.StatusName(st1), "seconds": round(s1.WallTime(), 2)}
        if st1 in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            d1 = int(s1.Value(mm.n_doses))
            doses_ub = int(s1.BestObjectiveBound()) // (ns1 ** 3 if top1 else 1)
            res["stage1"].update({"doses": d1, "bound": doses_ub})
            mm.fix_hint_from(s1)
            mm.m.Add(mm.n_doses >= d1)
            res["stage2_requires_doses"] = d1
        else:
            doses_ub = int(s1.BestObjectiveBound()) // (ns1 ** 3 if top1 else 1) if st1 != cp_model.MODEL_INVALID else None
        mm.m.Maximize(mm.stage2())
        solver = solver_for(limit - (time.time() - t_start), workers, seed, log)
    elif mode in ("pref", "doses"):  # one term only (for relaxations and bounds)
        if opts["--min-doses"] >= 0:
            mm.m.Add(mm.n_doses >= opts["--min-doses"])
            res["bound_preferred_given_doses"] = opts["--min-doses"]
        mm.m.Maximize(mm.n_pref if mode == "pref" else mm.n_doses)
        solver = solver_for(limit - (time.time() - t_start), workers, seed, log)
    elif mode == "top":
        mm.m.Maximize(mm.lex_top())
        solver = solver_for(limit - (time.time() - t_start), workers, seed, log)
    else:
        mm.m.Minimize(mm.full_cost())
        solver = solver_for(limit - (time.time() - t_start), workers, seed, log)
    status = solver.Solve(mm.m)
    res["status"] = solver.StatusName(status)
    res["seconds"] = round(time.time() - t_start, 2)
    nd, ns = len(mm.doses), len(mm.sess)
    res.update({"doses_requested": nd, "sessions_requested": ns})
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        V = solver.Value
        res["doses_scheduled"] = sum(V(mm.P[i]) for i in mm.doses)
        res["sessions_scheduled"] = sum(V(mm.P[i]) for i in mm.sess)
        res["sessions_in_preferred_window"] = sum(V(mm.Q[i]) for i in mm.sess)

        bound = solver.BestObjectiveBound()
        ns1 = ns + 1
        if mode == "staged":
            # Stage 2's bound holds for every plan with at least the stage-1 dose count;
            # when stage 1 proved that count optimal it bounds every lexicographically best plan.
            res["bound_doses"] = doses_ub
            res["bound_preferred"] = int(bound) // (ns1 ** 2)
            res["bound_preferred_given_doses"] = res.get("stage2_requires_doses")
            res["bound_preferred_is_lexicographic"] = doses_ub == res.get("stage2_requires_doses")
        elif mode in ("pref", "doses"):
            res["bound_" + ("preferred" if mode == "pref" else "doses")] = int(bound)
        elif mode == "top":
            b = int(bound)
            res["bound_doses"] = b // (ns1 ** 3)
            # Preferred bound is meaningful only when the dose part of the bound is attained.
            if res["bound_doses"] == res["doses_scheduled"]:
                res["bound_preferred"] = (b - res["bound_doses"] * ns1 ** 3) // (ns1 ** 2)
                res["bound_preferred_given_doses"] = res["doses_scheduled"]
                res["bound_preferred_is_lexicographic"] = True
        else:
            W = M["weights"]
            b = int(bound)
            res["bound_doses"] = nd - b // W["dose"]
            if b // W["dose"] == int(solver.ObjectiveValue()) // W["dose"]:
                res["bound_preferred"] = ns - (b % W["dose"]) // W["not_preferred"]
                res["bound_preferred_given_doses"] = res["doses_scheduled"]
                res["bound_preferred_is_lexicographic"] = True
        if mm.drop or sel is not None:  # a relaxation: its plan is not a plan of the problem
            plan = {"assignments": []}
        else:
            plan = write_plan(M, mm, solver, out)
        sid = {c["id"]: k for k, c in enumerate(M["staff"])}
        cid = {c["id"]: c["therapist"] for c in M["clients"]}
        res["sessions_with_continuing_therapist"] = sum(
            1 for a in plan["assignments"] if a["kind"] == "session" and sid[a["staff"]] == cid[a["client"]])
    if opts["--client-bound"]:
        t = time.time()
        ubd, ubp, proven = client_bound(M, workers, seed)
        res["client_bound"] = {"doses": ubd, "preferred": ubp, "proven": proven, "seconds": round(time.time() - t, 2)}
    print(json.dumps(res))


def write_plan(M, mm, solver, out):
    t0, step = M["t0"], M["slot_seconds"]

    def ts(slot):
        return dt.datetime.fromtimestamp(t0 + slot * step, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    ev = M["events"]
    V = solver.Value
    plan = {"assignments": [], "unscheduled": [], "moved": []}
    placed = {i: V(mm.S[i]) for i in mm.sel if V(mm.P[i])}

    def colour(items, ids):
        """Greedy interval colouring by start: never needs more than the maximum overlap."""
        free_at = {k: 0 for k in ids}
        got = {}
        for s, i in sorted(items):
            k = next(k for k in ids if free_at[k] <= s)
            got[i] = k
            free_at[k] = s + ev[i]["dur"]
        return got

    chair_of = {}
    if mm.pool_chairs:
        chair_of = colour([(placed[i], i) for i in mm.doses if i in placed], list(range(len(M["chairs"]))))
    else:
        for (i, c), v in mm.X.items():
            if V(v):
                chair_of[i] = c
    staff_of = {}
    for (i, k), v in mm.Z.items():
        if V(v) and not isinstance(k, tuple):
            staff_of[i] = k
    for g in mm.staff_pools:
        # Greedy by start, the continuing therapist first when free.
        free_at = {k: 0 for k in g}
        for s, i in sorted((placed[i], i) for (i, k), v in mm.Z.items() if k == g and V(v)):
            t = M["clients"][ev[i]["client"]]["therapist"]
            order = ([t] if t in g else []) + list(g)
            k = next(k for k in order if free_at[k] <= s)
            staff_of[i] = k
            free_at[k] = s + ev[i]["dur"]
    room_of = {}
    for (i, r), v in mm.RM.items():
        if V(v):
            room_of[i] = r
    room_of.update(colour([(placed[i], i) for i, v in mm.RP.items() if V(v)], mm.pool_rooms))
    for i in mm.sel:
        e = ev[i]
        course = M["courses"][e["course"]]["id"]
        client = M["clients"][e["client"]]["id"]
        kind = "dose" if "dose" in e else "session"
        if i not in placed:
            plan["unscheduled"].append({"event": e["id"], "kind": kind, "course": course, "client": client,
                                        "reason": "search_limit", "detail": "CP-SAT left it out"})
            continue
        s = placed[i]
        staff = M["staff"][staff_of[i]]["id"]
        a = {"event": e["id"], "kind": kind, "course": course, "client": client, "start": ts(s),
             "end": ts(s + e["dur"]), "staff": staff}
        if kind == "dose":
            a["chair"] = M["chairs"][chair_of[i]]["id"]
        else:
            a["window"] = "preferred" if V(mm.Q[i]) else "acceptable"
            if i in room_of:
                a["room"] = M["rooms"][room_of[i]]["id"]
        plan["assignments"].append(a)
    # A fixed booking the plan does not keep is reported, as the engine does: one that no
    # longer fits the problem, or a held one dropped with an earlier dose of its series.
    by_event = {a["event"]: a for a in plan["assignments"]}
    for i, b in mm.booked.items():
        if not b["fixed"]:
            continue
        e = ev[i]
        frm = {"start": ts(b["start"]), "staff": M["staff"][b["staff"]]["id"]}
        if b["res"] is not None:
            frm["chair" if "dose" in e else "room"] = (M["chairs"] if "dose" in e else M["rooms"])[b["res"]]["id"]
        a = by_event.get(e["id"])
        to = None
        if a is not None:
            to = {k: a[k] for k in ("start", "chair", "room", "staff") if k in a}
            if to == frm:
                continue
        plan["moved"].append({"event": e["id"], "from": frm, "to": to,
                              "reason": "the booking no longer fits the problem" if not b["held"]
                              else "an earlier dose of the series could not be scheduled"})
    json.dump(plan, open(out, "w"))
    return plan


if __name__ == "__main__":
    main()
