//! # kairos-schedule: the plasticity-window scheduler
//!
//! Pure: a [`Problem`] in, a [`Plan`] out. No IO, no clock except the optional time
//! limit, deterministic for a given seed and iteration budget.
//!
//! ```text
//! let problem = Problem::from_json(&text)?;          // errors name the JSON field
//! let plan = solve(&problem, &Options::default())?;   // every event assigned or unscheduled with a reason
//! assert!(check(&problem, &plan).is_empty());         // the independent feasibility oracle
//! let changed = apply_change(&problem, &plan, &change)?;
//! let new_plan = repair(&problem, &plan, &change, &Options::default())?; // check against `changed`
//! ```
//!
//! ## Problem format (JSON)
//!
//! The full reference, with an example, is `FORMAT.md` beside this crate's `Cargo.toml`;
//! `examples/small-problem.json` is a complete small problem. In short:
//!
//! - `time_zone`: IANA name. All wall-clock inputs (`"08:00"`, `"2026-03-03T13:00"`) are
//!   local to it; daylight-saving days have 23 or 25 hours and are handled.
//! - `horizon`: `{ "start": "2026-03-02", "days": 28 }`; `slot_minutes` (default 15).
//! - `site_hours`, staff `hours`, client `availability`: weekly hours
//!   `{ "days": ["mon","tue"], "from": "08:00", "to": "18:00" }`; `closures` and each
//!   `unavailable` list local periods `{ "from": "...T..", "to": "...T.." }`.
//! - `chairs`, `rooms`: `{ "id", "unavailable" }`. `staff`: `{ "id", "roles":
//!   ["monitor"|"therapist"], "hours", "unavailable", "monitor_capacity" }`.
//! - `clients`: `{ "id", "availability", "unavailable", "therapist" }` (continuing therapist).
//! - `courses`: `{ "id", "client", "earliest", "latest", "doses": { "count",
//!   "infusion_minutes", "monitoring_minutes", "min_gap_hours", "max_gap_hours",
//!   "max_span_days" }, "sessions": [{ "id", "kind", "after_dose", "anchor":
//!   "discharge"|"dose_start", "duration_minutes", "window": { "open_hours",
//!   "preferred_from_hours", "preferred_to_hours", "close_hours" }, "non_dosing_day",
//!   "needs_room" }] }`.
//! - `groups`: fixed meetings that block a therapist, a room and the members.
//! - `booked`: `{ "event", "start", "chair"|"room", "staff", "fixed" }`.
//!
//! Event ids: `COURSE/dose-N` (N from 1) and `COURSE/SESSION_ID`.
//!
//! ## Plan format (JSON)
//!
//! `{ "assignments": [{ "event", "kind": "dose"|"session", "course", "client", "start",
//! "end", "chair"|"room", "staff", "window": "preferred"|"acceptable" }], "unscheduled":
//! [{ "event", "kind", "course", "client", "reason", "detail" }], "moved": [{ "event",
//! "from", "to", "reason" }], "summary": { ... } }`. Times are RFC 3339 with the
//! clinic's offset. `reason` is one of [`Reason`] in snake case (`no_chair`,
//! `monitor_capacity`, `client_unavailable`, `spacing`, `window_closed`,
//! `site_closes_before_monitoring_ends`, `therapist_unavailable`, ...): the first
//! constraint, in a fixed order, that leaves the event no start.
//!
//! ## Hard constraints
//!
//! No double booking of a chair, room, staff member or client (groups included); a
//! monitor supervises at most `monitor_capacity` doses at once and does nothing else
//! meanwhile; staff working hours and client availability cover the whole event; the
//! whole event (a dose up to discharge) lies in the site's hours, so a dose starts only
//! early enough for monitoring to end before closing; dose spacing (min/max gap between
//! consecutive starts, max span, course dates); doses form a prefix of the series;
//! sessions start inside `[open, close]` of their window; `non_dosing_day` sessions fall on
//! a local day without a dose of the client; fixed bookings stay unless reported as moved.
//!
//! ## Objective
//!
//! Weighted sum, lower is better, weights in [`weights`]: unscheduled doses
//! (10^15 each) ≫ moved bookings (10^12, repair) ≫ sessions outside the preferred
//! window (10^9, unscheduled ones included) ≫ unscheduled sessions (10^5) ≫ sessions not
//! with the continuing therapist (10^3) ≫ client days (10^2 per client per day) ≫
//! chair-days in use (1). In a repair, a dose the previous plan left unscheduled costs
//! 10^11, below a moved booking, and moving an appointment of a client the change
//! touched costs 10^10 (others' 10^12), so the touched client's own plan absorbs the change. The top levels are lexicographic for any realistic instance
//! (up to ~10,000 sessions); the lowest three trade off at those rates.
//!
//! ## Engine
//!
//! A constructive start (fixed bookings; doses course by course, most constrained first,
//! depth-first over each series with bounded backtracking; sessions by best insertion);
//! then dose moves for the courses it left short (take out the courses across the
//! target's cheapest complete series, or at its most constrained dose's starts, put the
//! target's series back by the exact search of module `exact`, then the others, an
//! ejected course left short taking its own set once), kept while they schedule no fewer
//! doses; then a large-neighbourhood search: remove a course (with a related course
//! sharing a chair-day) or a session with the sessions blocking its window, re-insert,
//! keep the result if the objective does not get worse. In a solve, once no dose that
//! could be scheduled is missing, a session outside its preferred window gets two more
//! moves: an ejection chain (a preferred start, the sessions in its way there taken out
//! and put back by best insertion) and, when its dose leaves the window no statically
//! possible start, its course moved together with the courses whose doses hold the
//! starts that would. A course whose series no plan can
//! complete (checked exactly for the course alone against static rules) gets no moves, and
//! its unscheduled doses name the rule, as proven. See `docs/benchmarks.md` ("Scheduler")
//! for the measurements behind this choice and the CP-SAT reference in `bench/schedule/`.
//!
//! A repair after a change that concerns one client starts with an exact branch and bound
//! over that client's appointments, every other booking held (module `exact`): it finds
//! the best plan that moves only the client's own appointments or proves that none keeps
//! as many of their doses and sessions, and `summary.own_only` reports which.

mod check;
mod error;
mod exact;
mod export;
mod generate;
mod model;
mod plan;
mod problem;
mod repair;
mod solver;
mod state;

use std::time::Instant;

pub use check::{Violation, check};
pub use error::Error;
pub use export::export_slot_model;
pub use generate::{GenParams, generate};
pub use plan::{
    Assignment, EventKind, Moved, OwnOnly, OwnOnlyOutcome, Plan, Reason, Slot, Summary, Unscheduled, WindowFit,
};
pub use problem::{
    Anchor, Booking, Client, Course, Day, DoseSeries, Group, Horizon, Meeting, Period, Problem, Resource, Role,
    SessionRequest, Staff, WeeklyHours, Window, first_open_slot,
};
pub use repair::{Change, apply_change};
pub use solver::Options;

/// The objective weights.
pub mod weights {
    pub use crate::state::{
        W_CHAIR_DAY, W_CLIENT_DAY, W_DISCONTINUITY, W_DOSE, W_DOSE_NOT_BOOKED, W_MOVE, W_MOVE_AFFECTED,
        W_NOT_PREFERRED, W_SESSION_UNSCHEDULED,
    };
}

use model::{EvKind, Model};
use solver::Search;
use state::State;

/// Solves a problem. Errors only for an invalid problem (naming the field); an
/// infeasible request comes back in `unscheduled` with its reason.
pub fn solve(problem: &Problem, opts: &Options) -> Result<Plan, Error> {
    let m = Model::compile(problem)?;
    let iters = opts.iterations.unwrap_or_else(|| solver::auto_iterations(&m));
    Ok(run(&m, opts, iters, vec![], false))
}

/// Upper bounds on what any plan can schedule (for benchmarks): each course alone,
/// with every chair, monitor, therapist and room free of other courses (groups and
/// static rules kept), searched exactly for the most doses and then the most sessions in
/// their preferred window; the sums bound every plan's counts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bounds {
    pub doses: usize,
    pub sessions_in_preferred_window: usize,
    /// Courses whose search finished (for the others the bound is the weaker root bound).
    pub courses_proven: usize,
    pub courses: usize,
}

/// Computes [`Bounds`]; `node_budget` per course (default 20,000).
pub fn bounds(problem: &Problem, node_budget: Option<u64>) -> Result<Bounds, Error> {
    let m = Model::compile(problem)?;
    let mut st = State::new(&m);
    let mut b = Bounds { doses: 0, sessions_in_preferred_window: 0, courses_proven: 0, courses: m.courses.len() };
    for k in 0..m.courses.len() {
        let (d, p, proven) = exact::course_bound(&mut st, k, node_budget.unwrap_or(NODE_BUDGET));
        b.doses += d;
        b.sessions_in_preferred_window += p;
        b.courses_proven += usize::from(proven);
    }
    Ok(b)
}

/// Repairs `plan` after `change`: the new plan moves as few booked appointments as it
/// can (after scheduling every dose it can). Check it against
/// `apply_change(problem, plan, change)`.
///
/// A change that concerns one client (a cancellation, the client's absence): first an
/// exact search over that client's appointments with every other booking held in place
/// (see `exact`), which finds the best plan that moves only the client's own
/// appointments, or proves that none keeps as many of their doses and sessions, or
/// stops at its node budget; then, unless that plan keeps every dose and session of
/// the client, a general repair. The own-only plan is taken unless the general one
/// keeps more of the client's doses (or as many doses and more sessions);
/// `summary.own_only` says which and why. When another client must move, a repair by
/// ejection (only the doses in the client's way taken out, each displaced client put back
/// by the exact search) competes with the general one on the objective.
///
/// Another change (a staff member, chair or room out of service, a withdrawn course):
/// a repair in which only the bookings the change breaks may move, then a general
/// repair; the narrow plan is taken unless the general one schedules more doses or more
/// sessions.
pub fn repair(problem: &Problem, plan: &Plan, change: &Change, opts: &Options) -> Result<Plan, Error> {
    let changed = apply_change(problem, plan, change)?;
    let affected = match change {
        Change::Cancel { event } => plan.assignments.iter().find(|a| &a.event == event).map(|a| a.client.clone()),
        Change::ClientUnavailable { client, .. } => Some(client.clone()),
        _ => None,
    };
    if let Some(client) = affected {
        return repair_client(&changed, change, &client, opts);
    }
    let general = repair_changed(&changed, change, opts)?;
    let mut narrow_problem = changed.clone();
    for b in narrow_problem.booked.iter_mut() {
        b.fixed = true;
    }
    // Only the broken bookings: a short search is enough.
    let narrow_opts = Options { iterations: Some(opts.iterations.unwrap_or(100).min(100)), ..opts.clone() };
    if let Ok(narrow) = repair_changed(&narrow_problem, change, &narrow_opts) {
        let (n, g) = (&narrow.summary, &general.summary);
        if n.doses_scheduled >= g.doses_scheduled && n.sessions_scheduled >= g.sessions_scheduled {
            return Ok(narrow);
        }
    }
    Ok(general)
}

/// Dose moves after the search, if doses are still missing (then only kept when the
/// objective does not get worse).
const RESCUE_ATTEMPTS: u32 = 40;

/// Node budget of the exact own-only search (each stage).
const NODE_BUDGET: u64 = 20_000;

fn cancel_reasons(m: &Model, change: &Change) -> Vec<(usize, String)> {
    let mut reasons = vec![];
    if let Change::Cancel { event } = change
        && let Some(&e) = m.event_index.get(event)
    {
        reasons.push((e, "cancelled: rescheduled away from the cancelled time".to_string()));
    }
    reasons
}

fn repair_client(changed: &Problem, change: &Change, client_id: &str, opts: &Options) -> Result<Plan, Error> {
    let started = Instant::now();
    let m = Model::compile(changed)?;
    let Some(client) = m.clients.iter().position(|c| c.id == client_id) else {
        return repair_changed(changed, change, opts);
    };
    let mut reasons = cancel_reasons(&m, change);
    let base = initial_state(&m, true, &mut reasons);

    // Every other client's bookings held; the client's own appointments searched exactly.
    let mut st = base.clone();
    for e in 0..m.events.len() {
        if m.events[e].client != client && st.asg[e].is_some() {
            st.locked[e] = true;
        }
    }
    let vars: Vec<usize> = m.clients[client].events.iter().copied().filter(|&e| !st.locked[e]).collect();
    for &e in &vars {
        st.unassign(e);
    }
    let budget = opts.node_budget.unwrap_or(NODE_BUDGET);
    // First the most doses, then sessions: the proof.
    let first = exact::optimise(&mut st, &vars, 2, budget, None);
    let proven = first.complete;
    let held = m.clients[client].events.iter().filter(|e| !vars.contains(e));
    let count = |places: &mut dyn Iterator<Item = usize>| {
        places.fold((0, 0), |(d, s), e| if m.events[e].is_dose() { (d + 1, s) } else { (d, s + 1) })
    };
    let own_counts = {
        let placed = first.places.iter().filter(|(_, p)| p.is_some()).map(|&(e, _)| e);
        let held_placed = held.clone().copied().filter(|&e| st.asg[e].is_some());
        count(&mut placed.chain(held_placed))
    };
    let requested = count(&mut m.clients[client].events.iter().copied());
    let name = m.clients[client].id.clone();
    let mut nodes = first.nodes;
    let note = |outcome: OwnOnlyOutcome, plan_counts: (usize, usize), nodes: u64, detail: String| OwnOnly {
        client: name.clone(),
        outcome,
        own_only_doses: own_counts.0,
        own_only_sessions: own_counts.1,
        doses: plan_counts.0,
        sessions: plan_counts.1,
        nodes,
        detail,
    };
    let kept_detail = format!("only {name}'s own appointments moved");
    // Then the whole objective, and what the change freed for other clients' unbooked events.
    let own_plan = |mut st: State<'_>, nodes: &mut u64| -> Plan {
        let second = exact::optimise(&mut st, &vars, 7, budget, Some(&first.places));
        *nodes += second.nodes;
        for &(e, p) in &second.places {
            if let Some(p) = p
                && st.place_ok(e, p)
            {
                st.assign(e, p);
            }
        }
        for e in 0..m.events.len() {
            if st.asg[e].is_some() {
                st.locked[e] = true;
            }
        }
        let mut search = Search::new(st, opts.seed);
        search.fill();
        let mut st = search.st;
        let mut own_reasons = reasons.clone();
        finish(&mut st, &mut own_reasons);
        let stopped = if first.complete && second.complete { "complete" } else { "node_budget" };
        solver::to_plan(&st, &own_reasons, 0, stopped, started)
    };
    if first.complete && own_counts == requested {
        let mut plan = own_plan(st, &mut nodes);
        plan.summary.own_only = Some(note(OwnOnlyOutcome::Kept, own_counts, nodes, kept_detail));
        return Ok(plan);
    }

    let iters = opts.iterations.unwrap_or(300);
    let mut general = run(&m, opts, iters, reasons.clone(), true);
    let owner: std::collections::HashMap<&str, usize> = m.events.iter().map(|ev| (ev.id.as_str(), ev.client)).collect();
    let moves_others = |p: &Plan| p.moved.iter().any(|x| owner.get(x.event.as_str()) != Some(&client));
    let counts = |p: &Plan| {
        p.assignments.iter().fold((0, 0), |(d, s), a| {
            if a.client != name {
                (d, s)
            } else if a.kind == EventKind::Dose {
                (d + 1, s)
            } else {
                (d, s + 1)
            }
        })
    };
    if moves_others(&general) && own_counts < counts(&general) {
        // Another client must move: also try taking out only the doses in the client's way.
        let mut ej = Search::new(base.clone(), opts.seed);
        ej.repair_by_ejection(client, budget);
        ej.fill();
        let mut ej_st = ej.st;
        let mut ej_reasons = reasons.clone();
        finish(&mut ej_st, &mut ej_reasons);
        let ejected = solver::to_plan(&ej_st, &ej_reasons, 0, "ejection", started);
        if ejected.summary.objective < general.summary.objective {
            general = ejected;
        }
    }
    let gen_counts = counts(&general);
    if !moves_others(&general) || own_counts >= gen_counts {
        let mut own = own_plan(st, &mut nodes);
        let pick = if !moves_others(&general) && general.summary.objective < own.summary.objective {
            general.summary.own_only = Some(note(OwnOnlyOutcome::Kept, gen_counts, nodes, kept_detail));
            general
        } else {
            own.summary.own_only = Some(note(OwnOnlyOutcome::Kept, own_counts, nodes, kept_detail));
            own
        };
        let mut pick = pick;
        pick.summary.millis = started.elapsed().as_millis() as u64;
        return Ok(pick);
    }
    let (outcome, why) = if proven {
        (
            OwnOnlyOutcome::ProvenImpossible,
            format!(
                "every plan that moves only {name}'s appointments keeps at most {} of their {} doses and {} of {} sessions (exhaustive search, {nodes} nodes); this plan keeps {} doses and {} sessions",
                own_counts.0, requested.0, own_counts.1, requested.1, gen_counts.0, gen_counts.1
            ),
        )
    } else {
        (
            OwnOnlyOutcome::SearchLimit,
            format!(
                "the best plan found that moves only {name}'s appointments keeps {} of their {} doses and {} of {} sessions, this plan {} doses and {} sessions (the search stopped at its budget of {nodes} nodes: not a proof)",
                own_counts.0, requested.0, own_counts.1, requested.1, gen_counts.0, gen_counts.1
            ),
        )
    };
    for mv in general.moved.iter_mut() {
        if owner.get(mv.event.as_str()) != Some(&client) {
            mv.reason = format!("moved to keep {name}'s doses and sessions: {why}");
        }
    }
    general.summary.own_only = Some(note(outcome, gen_counts, nodes, format!("another client had to move: {why}")));
    general.summary.millis = started.elapsed().as_millis() as u64;
    Ok(general)
}

fn repair_changed(changed: &Problem, change: &Change, opts: &Options) -> Result<Plan, Error> {
    let m = Model::compile(changed)?;
    let reasons = cancel_reasons(&m, change);
    let iters = opts.iterations.unwrap_or(300);
    Ok(run(&m, opts, iters, reasons, true))
}

/// The starting state: bookings placed where they still fit (the others listed in
/// `reasons` with why they no longer do).
fn initial_state<'m>(m: &'m Model, repairing: bool, reasons: &mut Vec<(usize, String)>) -> State<'m> {
    let mut st = State::new(m);
    if repairing {
        // Doses the previous plan could not book rank below keeping bookings in place.
        for (e, ev) in m.events.iter().enumerate() {
            st.low_dose[e] = ev.is_dose() && m.bookings[e].is_none();
        }
    }
    let mut order: Vec<usize> = (0..m.events.len()).filter(|&e| m.bookings[e].is_some()).collect();
    order.sort_by_key(|&e| (!m.events[e].is_dose(), m.events[e].course, e));
    for e in order {
        let Some(b) = m.bookings[e] else { continue };
        if st.place_ok(e, b.place) {
            st.assign(e, b.place);
            st.locked[e] = b.fixed;
        } else {
            let why = st.why_not(e, b.place);
            reasons.push((e, why));
        }
    }
    if repairing {
        // Moving the touched clients' own appointments is cheaper than moving anyone else's.
        let touched: std::collections::HashSet<usize> = reasons.iter().map(|&(e, _)| m.events[e].client).collect();
        for (e, ev) in m.events.iter().enumerate() {
            if touched.contains(&ev.client) {
                st.move_weight[e] = state::W_MOVE_AFFECTED;
            }
        }
    }
    st
}

fn run(m: &Model, opts: &Options, iterations: u64, mut reasons: Vec<(usize, String)>, repairing: bool) -> Plan {
    let started = Instant::now();
    let deadline = started + opts.time_limit;
    let st = initial_state(m, repairing, &mut reasons);
    let mut search = Search::new(st, opts.seed);
    search.pref_moves = !repairing;
    search.construct();
    if !repairing {
        // Doses first: a walk over dose moves sized to what the construction left out.
        let missing = search.missing_doses() as u32;
        search.rescue_doses((40 * missing + 100).min(2_000), deadline, true);
    }
    search.improve(iterations, deadline);
    if !repairing {
        search.rescue_doses(RESCUE_ATTEMPTS, deadline, false);
    }
    search.fill();
    let stopped_by = search.stopped_by;
    let iters = search.iterations;
    let mut st = search.st;
    finish(&mut st, &mut reasons);
    solver::to_plan(&st, &reasons, iters, stopped_by, started)
}

/// Enforces the series prefix even over fixed bookings (a fixed later dose cannot stand
/// when an earlier one is unscheduled) and drops sessions whose dose is gone.
fn finish(st: &mut State<'_>, reasons: &mut Vec<(usize, String)>) {
    let m = st.m;
    for k in &m.courses {
        if let Some(i) = k.doses.iter().position(|&d| st.asg[d].is_none()) {
            for &d in &k.doses[i..] {
                if st.asg[d].is_some() {
                    st.unassign(d);
                    reasons.push((d, "an earlier dose of the series could not be scheduled".into()));
                }
            }
        }
        for &s in &k.sessions {
            if let EvKind::Session { anchor, .. } = m.events[s].kind
                && st.asg[anchor].is_none()
                && st.asg[s].is_some()
            {
                st.unassign(s);
                reasons.push((s, "the dose it follows could not be scheduled".into()));
            }
        }
    }
}
