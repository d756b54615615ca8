//! The feasibility checker: an independent oracle that lists every hard constraint a
//! plan breaks. It shares only the problem compilation (time zone to slots) with the solver.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::{EvKind, Model, NONE, Place};
use crate::plan::Plan;
use crate::problem::Problem;

/// One broken hard constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Machine-readable kind, e.g. `chair_double_booked`, `monitor_capacity`, `dose_spacing_min`.
    pub kind: String,
    /// The events involved.
    pub events: Vec<String>,
    pub detail: String,
}

fn v(kind: &str, events: Vec<String>, detail: String) -> Violation {
    Violation { kind: kind.to_string(), events, detail }
}

/// Lists every hard constraint that `plan` breaks for `problem` (empty: the plan is feasible).
pub fn check(problem: &Problem, plan: &Plan) -> Vec<Violation> {
    let m = match Model::compile(problem) {
        Ok(m) => m,
        Err(e) => return vec![v("invalid_problem", vec![], e.to_string())],
    };
    let mut out = Vec::new();
    let ne = m.events.len();
    let mut asg: Vec<Option<Place>> = vec![None; ne];
    let mut seen = HashSet::new();
    for a in &plan.assignments {
        let Some(&e) = m.event_index.get(&a.event) else {
            out.push(v("unknown_event", vec![a.event.clone()], format!("no requested event '{}'", a.event)));
            continue;
        };
        if !seen.insert(e) {
            out.push(v("duplicate_event", vec![a.event.clone()], "assigned more than once".into()));
            continue;
        }
        let start = match m.parse_slot(&a.start) {
            Ok(s) => s,
            Err(msg) => {
                out.push(v("bad_time", vec![a.event.clone()], msg));
                continue;
            }
        };
        let place = match m.resolve_place(e, start, a.chair.as_deref(), a.room.as_deref(), Some(&a.staff)) {
            Ok(p) => p,
            Err((f, msg)) => {
                out.push(v("bad_resource", vec![a.event.clone()], format!("{f}: {msg}")));
                continue;
            }
        };
        let end_ok = m.parse_slot(&a.end).ok() == Some(start + m.events[e].dur)
            || (start + m.events[e].dur == m.n && a.end == m.fmt_slot(m.n));
        if !end_ok {
            out.push(v(
                "duration",
                vec![a.event.clone()],
                format!("end must be {}", m.fmt_slot(start + m.events[e].dur)),
            ));
        }
        asg[e] = Some(place);
    }
    for u in &plan.unscheduled {
        match m.event_index.get(&u.event) {
            None => {
                out.push(v("unknown_event", vec![u.event.clone()], "unscheduled entry for an unknown event".into()))
            }
            Some(&e) => {
                if asg[e].is_some() {
                    out.push(v("inconsistent", vec![u.event.clone()], "both assigned and unscheduled".into()));
                }
                if !seen.insert(e) && asg[e].is_none() {
                    out.push(v("duplicate_event", vec![u.event.clone()], "listed twice".into()));
                }
            }
        }
    }
    for (e, ev) in m.events.iter().enumerate() {
        if !seen.contains(&e) {
            out.push(v("missing_event", vec![ev.id.clone()], "neither assigned nor listed as unscheduled".into()));
        }
    }
    let id = |e: usize| m.events[e].id.clone();
    let moved: HashSet<&str> = plan.moved.iter().map(|x| x.event.as_str()).collect();

    // Per-event rules.
    for (e, p) in asg.iter().enumerate() {
        let Some(p) = *p else { continue };
        let ev = &m.events[e];
        let (s, en) = (p.start, p.start + ev.dur);
        if en > m.n {
            out.push(v("horizon", vec![id(e)], "ends after the horizon".into()));
            continue;
        }
        if !m.site.ok(s, en) {
            let kind =
                if ev.is_dose() && m.site.ok_at(s) { "site_closes_before_monitoring_ends" } else { "site_closed" };
            out.push(v(kind, vec![id(e)], "outside the site's opening hours".into()));
        }
        if !m.clients[ev.client].avail.ok(s, en) {
            out.push(v(
                "client_unavailable",
                vec![id(e)],
                format!("client '{}' is not available", m.clients[ev.client].id),
            ));
        }
        let st = &m.staff[p.staff as usize];
        if !st.avail.ok(s, en) {
            out.push(v("staff_hours", vec![id(e)], format!("'{}' is not working then", st.id)));
        }
        match &ev.kind {
            EvKind::Dose { n } => {
                if !st.monitor {
                    out.push(v("staff_role", vec![id(e)], format!("'{}' is not a medical monitor", st.id)));
                }
                if !m.chairs[p.res as usize].avail.ok(s, en) {
                    out.push(v(
                        "chair_unavailable",
                        vec![id(e)],
                        format!("chair '{}' is out of service", m.chairs[p.res as usize].id),
                    ));
                }
                let k = &m.courses[ev.course];
                if s < k.lo || s >= k.hi {
                    out.push(v("course_dates", vec![id(e)], "outside the course's earliest/latest dates".into()));
                }
                if *n > 0 {
                    match asg[k.doses[*n as usize - 1]] {
                        None => out.push(v("dose_order", vec![id(e)], "the previous dose is unscheduled".into())),
                        Some(q) => {
                            let gap = i64::from(s) - i64::from(q.start);
                            if gap < i64::from(k.min_gap) {
                                out.push(v(
                                    "dose_spacing_min",
                                    vec![id(k.doses[*n as usize - 1]), id(e)],
                                    "doses closer than the minimum gap".into(),
                                ));
                            }
                            if k.max_gap.is_some_and(|g| gap > i64::from(g)) {
                                out.push(v(
                                    "dose_spacing_max",
                                    vec![id(k.doses[*n as usize - 1]), id(e)],
                                    "doses further apart than the maximum gap".into(),
                                ));
                            }
                        }
                    }
                }
                if let (Some(span), Some(first)) = (k.max_span, asg[k.doses[0]])
                    && s > first.start + span
                {
                    out.push(v(
                        "dose_span",
                        vec![id(k.doses[0]), id(e)],
                        "the series runs longer than max_span_days".into(),
                    ));
                }
            }
            EvKind::Session { anchor, open, close, non_dosing, needs_room, .. } => {
                if !st.therapist {
                    out.push(v("staff_role", vec![id(e)], format!("'{}' is not a therapist", st.id)));
                }
                if *needs_room && p.res == NONE {
                    out.push(v("room_missing", vec![id(e)], "the session needs a room".into()));
                }
                if p.res != NONE && !m.rooms[p.res as usize].avail.ok(s, en) {
                    out.push(v(
                        "room_unavailable",
                        vec![id(e)],
                        format!("room '{}' is out of service", m.rooms[p.res as usize].id),
                    ));
                }
                match asg[*anchor] {
                    None => out.push(v("anchor_unscheduled", vec![id(e)], "the dose it follows is unscheduled".into())),
                    Some(a) => {
                        let rel = i64::from(s) - m.anchor_slot(e, a.start);
                        if rel < *open {
                            out.push(v(
                                "window_open",
                                vec![id(*anchor), id(e)],
                                "starts before its window opens".into(),
                            ));
                        }
                        if rel > *close {
                            out.push(v(
                                "window_close",
                                vec![id(*anchor), id(e)],
                                "starts after its window closes".into(),
                            ));
                        }
                    }
                }
                if *non_dosing {
                    let day = m.day(s);
                    for &o in &m.clients[ev.client].events {
                        if let Some(q) = asg[o]
                            && m.events[o].is_dose()
                            && m.day(q.start) == day
                        {
                            out.push(v(
                                "non_dosing_day",
                                vec![id(o), id(e)],
                                "a non-dosing-day session on a dosing day".into(),
                            ));
                        }
                    }
                }
            }
        }
        if let Some(b) = m.bookings[e]
            && b.fixed
            && b.place != p
            && !moved.contains(ev.id.as_str())
        {
            out.push(v("fixed_booking_moved", vec![id(e)], "a fixed booking moved without being reported".into()));
        }
    }
    for (e, p) in asg.iter().enumerate() {
        if p.is_none()
            && let Some(b) = m.bookings[e]
            && b.fixed
            && !moved.contains(m.events[e].id.as_str())
        {
            out.push(v(
                "fixed_booking_moved",
                vec![id(e)],
                "a fixed booking was dropped without being reported".into(),
            ));
        }
    }

    // Occupancy: every chair, room, staff member and client, slot by slot.
    #[derive(Clone, Copy, PartialEq, Eq, Hash)]
    enum R {
        Chair(u32),
        Room(u32),
        Staff(u32),
        Client(u32),
    }
    // For staff: (exclusive users, dose users).
    let mut use_: HashMap<(R, u32), (Vec<String>, Vec<String>)> = HashMap::new();
    let mut add = |r: R, s: u32, en: u32, who: String, shared: bool| {
        for t in s..en {
            let slot = use_.entry((r, t)).or_default();
            if shared { slot.1.push(who.clone()) } else { slot.0.push(who.clone()) }
        }
    };
    for b in &m.blocks {
        let who = format!("group {}", b.label);
        add(R::Staff(b.staff as u32), b.start, b.end, who.clone(), false);
        if let Some(r) = b.room {
            add(R::Room(r as u32), b.start, b.end, who.clone(), false);
        }
        for &c in &b.clients {
            add(R::Client(c as u32), b.start, b.end, who.clone(), false);
        }
    }
    for (e, p) in asg.iter().enumerate() {
        let Some(p) = *p else { continue };
        let ev = &m.events[e];
        let en = (p.start + ev.dur).min(m.n);
        add(R::Client(ev.client as u32), p.start, en, id(e), false);
        if ev.is_dose() {
            add(R::Chair(p.res), p.start, en, id(e), false);
            add(R::Staff(p.staff), p.start, en, id(e), true);
        } else {
            if p.res != NONE {
                add(R::Room(p.res), p.start, en, id(e), false);
            }
            add(R::Staff(p.staff), p.start, en, id(e), false);
        }
    }
    let mut reported: HashSet<(&'static str, Vec<String>)> = HashSet::new();
    let mut keys: Vec<_> = use_.keys().copied().collect();
    keys.sort_by_key(|(r, t)| {
        let (a, b) = match r {
            R::Chair(x) => (0, *x),
            R::Room(x) => (1, *x),
            R::Staff(x) => (2, *x),
            R::Client(x) => (3, *x),
        };
        (a, b, *t)
    });
    for key in keys {
        let (excl, shared) = &use_[&key];
        let (kind, bad): (&'static str, bool) = match key.0 {
            R::Chair(_) => ("chair_double_booked", excl.len() > 1),
            R::Room(_) => ("room_double_booked", excl.len() > 1),
            R::Client(_) => ("client_double_booked", excl.len() > 1),
            R::Staff(s) => {
                if excl.len() > 1 || (!excl.is_empty() && !shared.is_empty()) {
                    ("staff_double_booked", true)
                } else {
                    ("monitor_capacity", shared.len() > usize::from(m.staff[s as usize].cap))
                }
            }
        };
        if bad {
            let mut evs: Vec<String> = excl.iter().chain(shared.iter()).cloned().collect();
            evs.sort();
            if reported.insert((kind, evs.clone())) {
                out.push(v(kind, evs, format!("at {}", m.fmt_slot(key.1))));
            }
        }
    }
    out
}
