//! One test per hard constraint: the smallest instance that would break it, solved
//! (the event must come back unscheduled with the right reason, never as a violation),
//! and a hand-made plan that breaks it (the checker must say so).

use kairos_schedule::{Options, Plan, Problem, Reason, check, solve};
use serde_json::{Value, json};

/// Tuesday 2026-03-03 in New York, one day, site 08:00-18:00, one chair, one room, one
/// monitor (capacity 1), one therapist, one client free all day, one course with one IV dose.
fn base() -> Value {
    json!({
        "time_zone": "America/New_York",
        "horizon": { "start": "2026-03-03", "days": 1 },
        "slot_minutes": 15,
        "site_hours": [{ "days": ["mon","tue","wed","thu","fri","sat","sun"], "from": "08:00", "to": "18:00" }],
        "chairs": [{ "id": "chair-1" }],
        "rooms": [{ "id": "room-1" }],
        "staff": [
            { "id": "m1", "roles": ["monitor"], "hours": [{ "days": ["mon","tue","wed","thu","fri","sat","sun"], "from": "08:00", "to": "18:00" }] },
            { "id": "t1", "roles": ["therapist"], "hours": [{ "days": ["mon","tue","wed","thu","fri","sat","sun"], "from": "08:00", "to": "18:00" }] }
        ],
        "clients": [client("c1")],
        "courses": [course("k1", "c1", 1)]
    })
}

fn client(id: &str) -> Value {
    json!({ "id": id, "availability": [{ "days": ["mon","tue","wed","thu","fri","sat","sun"], "from": "08:00", "to": "18:00" }], "therapist": "t1" })
}

fn course(id: &str, client: &str, doses: u32) -> Value {
    json!({ "id": id, "client": client,
            "doses": { "count": doses, "infusion_minutes": 40, "monitoring_minutes": 80, "min_gap_hours": 48 },
            "sessions": [] })
}

fn session(id: &str, after: u32, open: i32, pf: i32, pt: i32, close: i32) -> Value {
    json!({ "id": id, "kind": "integration", "after_dose": after, "duration_minutes": 60,
            "window": { "open_hours": open, "preferred_from_hours": pf, "preferred_to_hours": pt, "close_hours": close } })
}

fn problem(v: &Value) -> Problem {
    Problem::from_json(&v.to_string()).expect("valid problem")
}

/// Solves and asserts the plan is feasible.
fn solved(v: &Value) -> (Problem, Plan) {
    solved_with(v, 200)
}

/// The constructive start alone (earliest feasible starts), for tests that assert times:
/// the local search may move an event to another start of equal cost.
fn greedy(v: &Value) -> (Problem, Plan) {
    solved_with(v, 0)
}

fn solved_with(v: &Value, iterations: u64) -> (Problem, Plan) {
    let p = problem(v);
    let plan = solve(&p, &Options { iterations: Some(iterations), ..Options::default() }).expect("solves");
    let viol = check(&p, &plan);
    assert!(viol.is_empty(), "violations: {viol:#?}");
    (p, plan)
}

fn reason(plan: &Plan, event: &str) -> Reason {
    plan.unscheduled
        .iter()
        .find(|u| u.event == event)
        .unwrap_or_else(|| panic!("{event} should be unscheduled; plan: {}", plan.to_json()))
        .reason
}

fn kinds(p: &Problem, plan: &Plan) -> Vec<String> {
    check(p, plan).into_iter().map(|v| v.kind).collect()
}

/// Replaces the assignment of `event` with a hand-edited start (and optionally resources).
fn moved_to(plan: &Plan, event: &str, start: &str) -> Plan {
    let mut p = plan.clone();
    let a = p.assignments.iter_mut().find(|a| a.event == event).expect("assigned");
    let delta = jiff::Timestamp::from_str_lossy(start) - jiff::Timestamp::from_str_lossy(&a.start);
    a.end = (jiff::Timestamp::from_str_lossy(&a.end) + delta).to_string();
    a.start = start.to_string();
    p
}

trait Lossy {
    fn from_str_lossy(s: &str) -> jiff::Timestamp;
}
impl Lossy for jiff::Timestamp {
    fn from_str_lossy(s: &str) -> jiff::Timestamp {
        s.parse().expect("timestamp")
    }
}

fn two_clients(mut v: Value) -> Value {
    v["clients"] = json!([client("c1"), client("c2")]);
    v["courses"] = json!([course("k1", "c1", 1), course("k2", "c2", 1)]);
    v
}

#[test]
fn chair_is_never_double_booked() {
    // One chair, room for one two-hour dose: the second client's dose cannot fit.
    let mut v = two_clients(base());
    v["site_hours"][0]["to"] = json!("10:00");
    v["staff"][0]["monitor_capacity"] = json!(2);
    let (p, plan) = solved(&v);
    assert_eq!(plan.summary.doses_scheduled, 1);
    assert_eq!(reason(&plan, "k2/dose-1"), Reason::NoChair);
    // Both on the one chair at once: the checker objects.
    let mut bad = plan.clone();
    let mut a = bad.assignments[0].clone();
    a.event = "k2/dose-1".into();
    a.course = "k2".into();
    a.client = "c2".into();
    bad.assignments.push(a);
    bad.unscheduled.clear();
    assert!(kinds(&p, &bad).contains(&"chair_double_booked".to_string()));
}

#[test]
fn monitor_capacity_is_respected() {
    // Two chairs, one monitor who can watch one dose at a time, room for one dose.
    let mut v = two_clients(base());
    v["site_hours"][0]["to"] = json!("10:00");
    v["chairs"] = json!([{ "id": "chair-1" }, { "id": "chair-2" }]);
    let (p, plan) = solved(&v);
    assert_eq!(reason(&plan, "k2/dose-1"), Reason::MonitorCapacity);
    // With capacity 2 both fit.
    v["staff"][0]["monitor_capacity"] = json!(2);
    let (_, plan2) = solved(&v);
    assert_eq!(plan2.summary.doses_scheduled, 2);
    // Capacity 1 with two concurrent doses: the checker objects.
    let mut bad = plan2.clone();
    for a in &mut bad.assignments {
        a.staff = "m1".into();
    }
    assert!(kinds(&p, &bad).contains(&"monitor_capacity".to_string()));
}

#[test]
fn client_is_never_double_booked() {
    // One client with two courses, two chairs, capacity 2, room for one dose.
    let mut v = base();
    v["site_hours"][0]["to"] = json!("10:00");
    v["chairs"] = json!([{ "id": "chair-1" }, { "id": "chair-2" }]);
    v["staff"][0]["monitor_capacity"] = json!(2);
    v["courses"] = json!([course("k1", "c1", 1), course("k2", "c1", 1)]);
    let (p, plan) = solved(&v);
    assert_eq!(reason(&plan, "k2/dose-1"), Reason::ClientBusy);
    let mut bad = plan.clone();
    let mut a = bad.assignments[0].clone();
    a.event = "k2/dose-1".into();
    a.course = "k2".into();
    a.chair = Some("chair-2".into());
    bad.assignments.push(a);
    bad.unscheduled.clear();
    assert!(kinds(&p, &bad).contains(&"client_double_booked".to_string()));
}

#[test]
fn therapist_is_never_double_booked() {
    // Two clients' sessions in the same one-hour window, one therapist, two rooms.
    let mut v = two_clients(base());
    v["chairs"] = json!([{ "id": "chair-1" }, { "id": "chair-2" }]);
    v["staff"][0]["monitor_capacity"] = json!(2);
    v["rooms"] = json!([{ "id": "room-1" }, { "id": "room-2" }]);
    v["site_hours"][0]["to"] = json!("11:00");
    for k in 0..2 {
        v["courses"][k]["sessions"] = json!([session("s", 1, 0, 0, 0, 0)]);
    }
    let (p, plan) = solved(&v);
    assert_eq!(plan.summary.doses_scheduled, 2);
    assert_eq!(plan.summary.sessions_scheduled, 1);
    assert_eq!(plan.unscheduled[0].reason, Reason::TherapistBusy);
    // A second therapist makes room for both.
    let mut v2 = v.clone();
    v2["staff"].as_array_mut().expect("array").push(
        json!({ "id": "t2", "roles": ["therapist"], "hours": [{ "days": ["tue"], "from": "08:00", "to": "18:00" }] }),
    );
    let (_, plan2) = solved(&v2);
    assert_eq!(plan2.summary.sessions_scheduled, 2);
    // Both with t1: the checker objects.
    let mut bad = plan2.clone();
    for a in &mut bad.assignments {
        if a.room.is_some() {
            a.staff = "t1".into();
        }
    }
    assert!(kinds(&p, &bad).contains(&"staff_double_booked".to_string()));
}

#[test]
fn room_is_never_double_booked() {
    let mut v = two_clients(base());
    v["chairs"] = json!([{ "id": "chair-1" }, { "id": "chair-2" }]);
    v["staff"][0]["monitor_capacity"] = json!(2);
    v["staff"].as_array_mut().expect("array").push(
        json!({ "id": "t2", "roles": ["therapist"], "hours": [{ "days": ["tue"], "from": "08:00", "to": "18:00" }] }),
    );
    v["site_hours"][0]["to"] = json!("11:00");
    for k in 0..2 {
        v["courses"][k]["sessions"] = json!([session("s", 1, 0, 0, 0, 0)]);
    }
    let (p, plan) = solved(&v);
    assert_eq!(plan.summary.sessions_scheduled, 1);
    assert_eq!(plan.unscheduled[0].reason, Reason::NoRoom);
    // A session that needs no room (telehealth) fits.
    let mut v2 = v.clone();
    v2["courses"][1]["sessions"][0]["needs_room"] = json!(false);
    let (_, plan2) = solved(&v2);
    assert_eq!(plan2.summary.sessions_scheduled, 2);
    let mut bad = plan2.clone();
    for a in &mut bad.assignments {
        if a.kind == kairos_schedule::EventKind::Session {
            a.room = Some("room-1".into());
        }
    }
    assert!(kinds(&problem(&v2), &bad).contains(&"room_double_booked".to_string()));
    let _ = p;
}

#[test]
fn staff_working_hours_are_respected() {
    // The only monitor works from 12:00; the client only comes in the morning.
    let mut v = base();
    v["staff"][0]["hours"][0]["from"] = json!("12:00");
    v["clients"][0]["availability"][0]["to"] = json!("12:00");
    let (_, plan) = solved(&v);
    assert_eq!(reason(&plan, "k1/dose-1"), Reason::MonitorUnavailable);
    // The therapist works only from 13:00; the session must start by 12:00.
    let mut v = base();
    v["staff"][1]["hours"][0]["from"] = json!("13:00");
    v["courses"][0]["sessions"] = json!([session("s", 1, 0, 0, 0, 2)]);
    v["clients"][0]["availability"][0]["to"] = json!("12:00");
    v["site_hours"][0]["from"] = json!("08:00");
    let (p, plan) = solved(&v);
    assert_eq!(reason(&plan, "k1/s"), Reason::TherapistUnavailable);
    // A plan that puts the session at 10:00 with t1 breaks the hours.
    let mut bad = plan.clone();
    let dose = bad.assignments[0].clone();
    bad.unscheduled.clear();
    bad.assignments.push(kairos_schedule::Assignment {
        event: "k1/s".into(),
        kind: kairos_schedule::EventKind::Session,
        course: "k1".into(),
        client: "c1".into(),
        start: dose.end.clone(),
        end: (jiff::Timestamp::from_str_lossy(&dose.end) + jiff::SignedDuration::from_hours(1)).to_string(),
        chair: None,
        room: Some("room-1".into()),
        staff: "t1".into(),
        window: None,
    });
    assert!(kinds(&p, &bad).contains(&"staff_hours".to_string()));
}

#[test]
fn client_availability_is_respected() {
    // Available only on Sundays; the horizon is a Tuesday.
    let mut v = base();
    v["clients"][0]["availability"][0]["days"] = json!(["sun"]);
    let (p, plan) = solved(&v);
    assert_eq!(reason(&plan, "k1/dose-1"), Reason::ClientUnavailable);
    // A plan with the dose at 09:00 breaks availability.
    let mut v2 = base();
    v2["courses"][0]["doses"]["count"] = json!(1);
    let (_, ok) = solved(&v2);
    let bad = moved_to(&ok, "k1/dose-1", "2026-03-03T09:00:00-05:00");
    assert!(kinds(&p, &bad).contains(&"client_unavailable".to_string()));
}

#[test]
fn dose_spacing_is_respected() {
    // Two doses at least 48 h apart in a two-day horizon: the second cannot fit.
    let mut v = base();
    v["horizon"]["days"] = json!(2);
    v["courses"][0]["doses"]["count"] = json!(2);
    let (p, plan) = solved(&v);
    assert_eq!(plan.summary.doses_scheduled, 1);
    assert_eq!(reason(&plan, "k1/dose-2"), Reason::Spacing);
    // With a 24 h minimum gap both fit, 24 h or more apart.
    v["courses"][0]["doses"]["min_gap_hours"] = json!(24);
    let (_, plan2) = greedy(&v);
    assert_eq!(plan2.summary.doses_scheduled, 2);
    // Two doses 2 h apart break the minimum gap.
    let d1 = plan2.assignments.iter().find(|a| a.event == "k1/dose-1").expect("dose 1").start.clone();
    let two_h = (jiff::Timestamp::from_str_lossy(&d1) + jiff::SignedDuration::from_hours(2))
        .display_with_offset(jiff::tz::offset(-5))
        .to_string();
    let bad = moved_to(&plan2, "k1/dose-2", &two_h);
    assert!(kinds(&p, &bad).contains(&"dose_spacing_min".to_string()));
    // A maximum gap of 24 h with the site closed on the second day: no second dose.
    let mut v3 = v.clone();
    v3["courses"][0]["doses"]["max_gap_hours"] = json!(24);
    v3["closures"] = json!([{ "from": "2026-03-04T00:00", "to": "2026-03-05T00:00" }]);
    let (_, plan3) = solved(&v3);
    assert_eq!(reason(&plan3, "k1/dose-2"), Reason::SiteClosed);
    // And a max-gap violation is caught.
    let mut v4 = v.clone();
    v4["horizon"]["days"] = json!(4);
    v4["courses"][0]["doses"]["max_gap_hours"] = json!(30);
    let (p4, plan4) = greedy(&v4);
    let bad = moved_to(&plan4, "k1/dose-2", "2026-03-05T15:00:00-05:00");
    assert!(kinds(&p4, &bad).contains(&"dose_spacing_max".to_string()));
}

#[test]
fn dose_ends_monitoring_before_the_site_closes() {
    // The site is open 90 minutes; a dose needs 120 (40 infusion + 80 monitoring).
    let mut v = base();
    v["site_hours"][0]["to"] = json!("09:30");
    let (_, plan) = greedy(&v);
    assert_eq!(reason(&plan, "k1/dose-1"), Reason::SiteClosesBeforeMonitoringEnds);
    // A dose starting at 17:00 would end monitoring after 18:00.
    let (p, ok) = greedy(&base());
    let bad = moved_to(&ok, "k1/dose-1", "2026-03-03T17:00:00-05:00");
    assert!(kinds(&p, &bad).contains(&"site_closes_before_monitoring_ends".to_string()));
    // The latest possible start is 16:00.
    let mut v = base();
    v["clients"][0]["availability"][0]["from"] = json!("15:00");
    let (_, plan) = greedy(&v);
    let a = &plan.assignments[0];
    assert_eq!(a.start, "2026-03-03T15:00:00-05:00");
    assert_eq!(a.end, "2026-03-03T17:00:00-05:00");
}

#[test]
fn therapy_starts_inside_its_window() {
    // The dose is booked at 08:00, the window closes 2 h after discharge and the therapist
    // is free only after 13:00: no session. Extend the window: it is at 13:00.
    let mut v = base();
    v["booked"] = json!([{ "event": "k1/dose-1", "start": "2026-03-03T08:00", "chair": "chair-1", "staff": "m1" }]);
    v["courses"][0]["sessions"] = json!([session("s", 1, 0, 0, 0, 2)]);
    v["horizon"]["days"] = json!(2);
    v["staff"][1]["hours"][0]["from"] = json!("13:00");
    let (p, plan) = greedy(&v);
    let dose_end = plan.assignments.iter().find(|a| a.event == "k1/dose-1").expect("dose").end.clone();
    assert_eq!(dose_end, "2026-03-03T10:00:00-05:00");
    assert_eq!(reason(&plan, "k1/s"), Reason::TherapistUnavailable);
    v["courses"][0]["sessions"][0]["window"]["close_hours"] = json!(3);
    let (_, plan2) = greedy(&v);
    let s = plan2.assignments.iter().find(|a| a.event == "k1/s").expect("session");
    assert_eq!(s.start, "2026-03-03T13:00:00-05:00");
    // A session a day later breaks the closing bound; one before discharge, the opening.
    let bad = moved_to(&plan2, "k1/s", "2026-03-04T13:00:00-05:00");
    assert!(kinds(&p, &bad).contains(&"window_close".to_string()));
    let bad = moved_to(&plan2, "k1/s", "2026-03-03T08:00:00-05:00");
    assert!(kinds(&p, &bad).contains(&"window_open".to_string()));
    // A window entirely after the horizon.
    let mut v3 = base();
    v3["courses"][0]["sessions"] = json!([session("s", 1, 48, 48, 48, 72)]);
    let (_, plan3) = greedy(&v3);
    assert_eq!(reason(&plan3, "k1/s"), Reason::WindowClosed);
}

#[test]
fn session_prefers_its_preferred_window_and_therapist() {
    let mut v = base();
    v["horizon"]["days"] = json!(4);
    v["courses"][0]["sessions"] = json!([session("s", 1, 0, 24, 72, 168)]);
    v["staff"].as_array_mut().expect("array").push(json!({ "id": "t2", "roles": ["therapist"], "hours": [{ "days": ["tue","wed","thu","fri"], "from": "08:00", "to": "18:00" }] }));
    v["clients"][0]["therapist"] = json!("t2");
    let (_, plan) = solved(&v);
    let s = plan.assignments.iter().find(|a| a.event == "k1/s").expect("session");
    assert_eq!(s.window, Some(kairos_schedule::WindowFit::Preferred));
    assert_eq!(s.staff, "t2");
    assert_eq!(plan.summary.sessions_in_preferred_window, 1);
}

#[test]
fn non_dosing_day_sessions_avoid_dosing_days() {
    // Doses on day 1 and day 2 (exactly 24 h apart); the session must be within 30 h of
    // the first discharge and on a non-dosing day: impossible.
    let mut v = base();
    v["horizon"]["days"] = json!(3);
    v["courses"][0]["doses"] = json!({ "count": 2, "infusion_minutes": 40, "monitoring_minutes": 80, "min_gap_hours": 24, "max_gap_hours": 24 });
    let mut s = session("wet", 1, 0, 0, 30, 30);
    s["non_dosing_day"] = json!(true);
    v["courses"][0]["sessions"] = json!([s]);
    let (p, plan) = solved(&v);
    assert_eq!(plan.summary.doses_scheduled, 2);
    assert_eq!(reason(&plan, "k1/wet"), Reason::NonDosingDay);
    // A plan putting it on the first dosing day afternoon breaks the rule.
    let mut bad = plan.clone();
    bad.unscheduled.clear();
    let d1 = plan.assignments.iter().find(|a| a.event == "k1/dose-1").expect("dose").clone();
    bad.assignments.push(kairos_schedule::Assignment {
        event: "k1/wet".into(),
        kind: kairos_schedule::EventKind::Session,
        course: "k1".into(),
        client: "c1".into(),
        start: d1.end.clone(),
        end: (jiff::Timestamp::from_str_lossy(&d1.end) + jiff::SignedDuration::from_hours(1)).to_string(),
        chair: None,
        room: Some("room-1".into()),
        staff: "t1".into(),
        window: None,
    });
    assert!(kinds(&p, &bad).contains(&"non_dosing_day".to_string()));
    // Without the flag the session goes right after discharge.
    v["courses"][0]["sessions"][0]["non_dosing_day"] = json!(false);
    let (_, plan2) = solved(&v);
    assert_eq!(plan2.summary.sessions_scheduled, 1);
}

#[test]
fn fixed_bookings_stay_and_are_checked() {
    let mut v = base();
    v["booked"] = json!([{ "event": "k1/dose-1", "start": "2026-03-03T14:00", "chair": "chair-1", "staff": "m1" }]);
    let (p, plan) = solved(&v);
    assert_eq!(plan.assignments[0].start, "2026-03-03T14:00:00-05:00");
    assert!(plan.moved.is_empty());
    let bad = moved_to(&plan, "k1/dose-1", "2026-03-03T08:00:00-05:00");
    assert!(kinds(&p, &bad).contains(&"fixed_booking_moved".to_string()));
    // A fixed booking that breaks a rule (the client is away) is moved and reported.
    v["clients"][0]["unavailable"] = json!([{ "from": "2026-03-03T13:00", "to": "2026-03-03T17:00" }]);
    let (_, plan2) = solved(&v);
    assert_eq!(plan2.moved.len(), 1);
    assert!(plan2.moved[0].reason.contains("not available"), "{}", plan2.moved[0].reason);
}

#[test]
fn group_meetings_block_their_members() {
    let mut v = base();
    v["site_hours"][0]["to"] = json!("10:30");
    v["groups"] = json!([{ "id": "g1", "therapist": "t1", "room": "room-1", "members": ["c1"],
                           "meetings": [{ "start": "2026-03-03T09:00", "minutes": 90 }] }]);
    let (_, plan) = solved(&v);
    assert_eq!(reason(&plan, "k1/dose-1"), Reason::ClientBusy);
}

#[test]
fn daylight_saving_days_have_the_right_hours() {
    // 2026-03-08 is 23 hours long in New York; 2026-11-01 is 25 hours long.
    for (day, offset) in [("2026-03-08", "-04:00"), ("2026-11-01", "-05:00")] {
        let mut v = base();
        v["horizon"]["start"] = json!(day);
        let (_, plan) = greedy(&v);
        assert_eq!(plan.assignments[0].start, format!("{day}T08:00:00{offset}"));
        // The last possible start is still 16:00 local.
        let mut v2 = base();
        v2["horizon"]["start"] = json!(day);
        v2["clients"][0]["availability"][0]["from"] = json!("16:00");
        let (_, plan2) = greedy(&v2);
        assert_eq!(plan2.assignments[0].start, format!("{day}T16:00:00{offset}"));
        assert_eq!(plan2.assignments[0].end, format!("{day}T18:00:00{offset}"));
    }
}

#[test]
fn malformed_problems_name_the_field() {
    let mut v = base();
    v["courses"][0]["doses"]["count"] = json!("six");
    let e = Problem::from_json(&v.to_string()).expect_err("bad type");
    assert!(e.to_string().starts_with("courses[0].doses.count"), "{e}");

    let mut v = base();
    v["courses"][0]["colour"] = json!("blue");
    let e = Problem::from_json(&v.to_string()).expect_err("unknown field");
    assert!(e.to_string().contains("courses[0]") && e.to_string().contains("colour"), "{e}");

    let mut v = base();
    v["courses"][0]["client"] = json!("nobody");
    let e = Problem::from_json(&v.to_string()).expect_err("unknown client");
    assert!(e.to_string().starts_with("courses[0].client"), "{e}");

    let mut v = base();
    v["time_zone"] = json!("Mars/Olympus");
    let e = Problem::from_json(&v.to_string()).expect_err("bad zone");
    assert!(e.to_string().starts_with("time_zone"), "{e}");

    let mut v = base();
    v["staff"][0]["hours"][0]["from"] = json!("25:00");
    let e = Problem::from_json(&v.to_string()).expect_err("bad time");
    assert!(e.to_string().starts_with("staff[0].hours[0].from"), "{e}");

    let mut v = base();
    v["courses"][0]["sessions"] = json!([session("s", 3, 0, 0, 0, 2)]);
    let e = Problem::from_json(&v.to_string()).expect_err("bad after_dose");
    assert!(e.to_string().starts_with("courses[0].sessions[0].after_dose"), "{e}");

    let mut v = base();
    v["booked"] = json!([{ "event": "k1/dose-1", "start": "2026-03-03T14:07", "chair": "chair-1", "staff": "m1" }]);
    let e = Problem::from_json(&v.to_string()).expect_err("off-slot booking");
    assert!(e.to_string().starts_with("booked[0].start"), "{e}");

    let e = Problem::from_json("{").expect_err("truncated");
    assert!(!e.to_string().is_empty());
}

#[test]
fn infeasible_requests_never_panic() {
    // No chairs, no monitors, no rooms, no therapists at all.
    let mut v = base();
    v["chairs"] = json!([]);
    v["rooms"] = json!([]);
    v["staff"] = json!([]);
    v["clients"][0]["therapist"] = Value::Null;
    v["courses"][0]["sessions"] = json!([session("s", 1, 0, 0, 0, 2)]);
    let (_, plan) = solved(&v);
    assert_eq!(reason(&plan, "k1/dose-1"), Reason::MonitorUnavailable);
    assert_eq!(reason(&plan, "k1/s"), Reason::AnchorDoseUnscheduled);
    // A series longer than the horizon.
    let mut v = base();
    v["courses"][0]["doses"]["count"] = json!(6);
    let (_, plan) = solved(&v);
    assert_eq!(reason(&plan, "k1/dose-2"), Reason::Spacing);
    assert_eq!(reason(&plan, "k1/dose-3"), Reason::PreviousDoseUnscheduled);
}

#[test]
fn the_example_problem_parses_and_solves() {
    let text = include_str!("../examples/small-problem.json");
    let p = Problem::from_json(text).expect("example parses");
    let plan = solve(&p, &Options::default()).expect("solves");
    assert!(check(&p, &plan).is_empty());
    assert_eq!(plan.summary.doses_scheduled, plan.summary.doses_requested);
    // The plan round-trips through JSON.
    let back = Plan::from_json(&plan.to_json()).expect("plan parses");
    assert_eq!(back, plan);
}
