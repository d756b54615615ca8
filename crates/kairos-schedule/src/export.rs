//! The compiled slot model as JSON, for the CP-SAT reference model in `bench/schedule/`.
//! Not a stable format: it mirrors the solver's internal model so that both solve the
//! same problem (same slots, same static availability, same objective weights, the
//! bookings as the engine holds them).

use serde_json::{Value, json};

use crate::error::Error;
use crate::model::{Avail, EvKind, Model};
use crate::problem::Problem;
use crate::state;

fn intervals(n: u32, ok: impl Fn(u32) -> bool) -> Vec<[u32; 2]> {
    let mut out = vec![];
    let mut s = None;
    for t in 0..=n {
        let o = t < n && ok(t);
        match (o, s) {
            (true, None) => s = Some(t),
            (false, Some(a)) => {
                out.push([a, t]);
                s = None;
            }
            _ => {}
        }
    }
    out
}

fn avail(n: u32, a: &Avail) -> Vec<[u32; 2]> {
    intervals(n, |t| a.ok_at(t))
}

/// The slot model of a problem (see the module docs).
pub fn export_slot_model(problem: &Problem) -> Result<Value, Error> {
    let m = Model::compile(problem)?;
    let n = m.n;
    let events: Vec<Value> = m
        .events
        .iter()
        .map(|ev| {
            let k = &m.courses[ev.course];
            // Static starts: site and client availability over the whole event, course dates.
            let starts = intervals(n, |s| {
                let e = s + ev.dur;
                let dates_ok = match ev.kind {
                    EvKind::Dose { .. } => s >= k.lo && s < k.hi,
                    EvKind::Session { .. } => true,
                };
                dates_ok && e <= n && m.site.ok(s, e) && m.clients[ev.client].avail.ok(s, e)
            });
            let mut v = json!({
                "id": ev.id, "course": ev.course, "client": ev.client, "dur": ev.dur, "starts": starts,
            });
            match &ev.kind {
                EvKind::Dose { n } => {
                    v["dose"] = json!(n);
                }
                EvKind::Session { anchor, from_end, open, pf, pt, close, non_dosing, needs_room } => {
                    v["anchor"] = json!(anchor);
                    v["shift"] = json!(if *from_end { m.events[*anchor].dur } else { 0 });
                    v["open"] = json!(open);
                    v["pf"] = json!(pf);
                    v["pt"] = json!(pt);
                    v["close"] = json!(close);
                    v["non_dosing"] = json!(non_dosing);
                    v["needs_room"] = json!(needs_room);
                }
            }
            v
        })
        .collect();
    Ok(json!({
        "n": n,
        "t0": m.t0.as_second(),
        "slot_seconds": m.slot_secs,
        "days": m.days.iter().map(|d| [d.start, d.end]).collect::<Vec<_>>(),
        "weights": {
            "dose": state::W_DOSE, "move": state::W_MOVE, "not_preferred": state::W_NOT_PREFERRED,
            "session_unscheduled": state::W_SESSION_UNSCHEDULED, "discontinuity": state::W_DISCONTINUITY,
            "client_day": state::W_CLIENT_DAY, "chair_day": state::W_CHAIR_DAY,
        },
        "chairs": m.chairs.iter().map(|c| json!({ "id": c.id, "ok": avail(n, &c.avail) })).collect::<Vec<_>>(),
        "rooms": m.rooms.iter().map(|c| json!({ "id": c.id, "ok": avail(n, &c.avail) })).collect::<Vec<_>>(),
        "staff": m.staff.iter().map(|s| json!({
            "id": s.id, "monitor": s.monitor, "therapist": s.therapist, "cap": s.cap, "ok": avail(n, &s.avail),
        })).collect::<Vec<_>>(),
        "clients": m.clients.iter().map(|c| json!({ "id": c.id, "therapist": c.therapist })).collect::<Vec<_>>(),
        "courses": m.courses.iter().map(|k| json!({
            "id": k.id, "doses": k.doses, "min_gap": k.min_gap, "max_gap": k.max_gap, "max_span": k.max_span,
        })).collect::<Vec<_>>(),
        "blocks": m.blocks.iter().map(|b| json!({
            "start": b.start, "end": b.end, "staff": b.staff, "room": b.room, "clients": b.clients,
        })).collect::<Vec<_>>(),
        "events": events,
        "booked": booked(&m),
    }))
}

/// The problem's bookings as the engine starts from them (`initial_state`):
/// `held` when a fixed booking still fits, so the engine keeps it in place
/// (only dropped if an earlier dose of its series cannot be scheduled);
/// otherwise the booking is a reference that may move (at `W_MOVE`, or,
/// for a fixed one that no longer fits, reported in `moved`). `res`: the
/// chair of a dose, the room of a session (null without one).
fn booked(m: &Model) -> Vec<Value> {
    let mut reasons = Vec::new();
    let st = crate::initial_state(m, false, &mut reasons);
    m.bookings
        .iter()
        .enumerate()
        .filter_map(|(e, b)| {
            let b = b.as_ref()?;
            let res = (b.place.res != crate::model::NONE).then_some(b.place.res);
            Some(json!({
                "event": e, "start": b.place.start, "res": res, "staff": b.place.staff, "fixed": b.fixed,
                "held": st.locked[e],
            }))
        })
        .collect()
}
