//! Repair after a cancellation: the exact search over the affected client's own
//! appointments, on the smallest instances where it matters.

use kairos_schedule::{Change, Options, OwnOnlyOutcome, Plan, Problem, apply_change, check, repair, solve};
use serde_json::{Value, json};

const ALL_DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// From Tuesday 2026-03-03 in New York, `days` days, site 08:00-18:00 every day, one
/// chair, one monitor (capacity 1), no sessions.
fn base(days: u32) -> Value {
    json!({
        "time_zone": "America/New_York",
        "horizon": { "start": "2026-03-03", "days": days },
        "site_hours": [{ "days": ALL_DAYS, "from": "08:00", "to": "18:00" }],
        "chairs": [{ "id": "chair-1" }],
        "staff": [{ "id": "m1", "roles": ["monitor"], "hours": [{ "days": ALL_DAYS, "from": "08:00", "to": "18:00" }] }],
        "clients": [],
        "courses": []
    })
}

fn client(v: &mut Value, id: &str, from: &str, to: &str) {
    v["clients"]
        .as_array_mut()
        .expect("clients")
        .push(json!({ "id": id, "availability": [{ "days": ALL_DAYS, "from": from, "to": to }] }));
}

/// A course of `count` IV doses (2 h each) exactly `gap` hours apart.
fn course(v: &mut Value, id: &str, client: &str, count: u32, gap: u32) {
    v["courses"].as_array_mut().expect("courses").push(json!({
        "id": id, "client": client,
        "doses": { "count": count, "infusion_minutes": 40, "monitoring_minutes": 80,
                   "min_gap_hours": gap, "max_gap_hours": gap },
        "sessions": []
    }));
}

fn problem(v: &Value) -> Problem {
    Problem::from_json(&v.to_string()).expect("valid problem")
}

/// The plan the clinic booked: `v` solved with `bookings` fixed (so the layout is known).
fn booked_plan(v: &Value, bookings: Value) -> Plan {
    let mut with = v.clone();
    with["booked"] = bookings;
    let p = problem(&with);
    let plan = solve(&p, &Options { iterations: Some(0), ..Options::default() }).expect("solves");
    assert!(check(&p, &plan).is_empty());
    assert_eq!(plan.summary.doses_scheduled, plan.summary.doses_requested);
    plan
}

fn start(plan: &Plan, event: &str) -> String {
    plan.assignments.iter().find(|a| a.event == event).map(|a| a.start.clone()).unwrap_or_default()
}

fn owner<'a>(plan: &'a Plan, event: &str) -> &'a str {
    plan.assignments.iter().find(|a| a.event == event).map(|a| a.client.as_str()).unwrap_or("")
}

/// Client A's three doses are exactly 48 h apart (08:00 on days 0, 2 and 4); client B's
/// dose holds the only chair at 10:00 on day 0. A cancels dose 2: it cannot stay at
/// 08:00 that day, so every dose of A must move to one common time, which B's dose
/// rules out before 12:00. A plan moving only A's doses exists (all three at 12:00 or
/// later) and must be found: nothing of B's moves.
#[test]
fn an_own_only_repair_that_moves_the_whole_series_is_found() {
    let mut v = base(5);
    client(&mut v, "a", "08:00", "18:00");
    client(&mut v, "b", "08:00", "18:00");
    course(&mut v, "ka", "a", 3, 48);
    course(&mut v, "kb", "b", 1, 48);
    let plan = booked_plan(
        &v,
        json!([
            { "event": "ka/dose-1", "start": "2026-03-03T08:00", "chair": "chair-1", "staff": "m1" },
            { "event": "ka/dose-2", "start": "2026-03-05T08:00", "chair": "chair-1", "staff": "m1" },
            { "event": "ka/dose-3", "start": "2026-03-07T08:00", "chair": "chair-1", "staff": "m1" },
            { "event": "kb/dose-1", "start": "2026-03-03T10:00", "chair": "chair-1", "staff": "m1" }
        ]),
    );
    let p = problem(&v);
    let change = Change::Cancel { event: "ka/dose-2".into() };
    let changed = apply_change(&p, &plan, &change).expect("applies");
    let new = repair(&p, &plan, &change, &Options::default()).expect("repairs");
    assert!(check(&changed, &new).is_empty(), "{:#?}", check(&changed, &new));
    assert_eq!(new.summary.doses_scheduled, 4);
    let own = new.summary.own_only.as_ref().expect("a cancellation reports own_only");
    assert_eq!(own.outcome, OwnOnlyOutcome::Kept, "{}", own.detail);
    assert_eq!((own.client.as_str(), own.own_only_doses, own.doses), ("a", 3, 3));
    // B's dose stays; all three of A's doses move, to one common time from 12:00 on.
    assert_eq!(start(&new, "kb/dose-1"), start(&plan, "kb/dose-1"));
    assert_eq!(new.moved.len(), 3, "{:#?}", new.moved);
    assert!(new.moved.iter().all(|m| owner(&plan, &m.event) == "a"));
    let t = |e: &str| start(&new, e)[11..16].to_string();
    assert_eq!(t("ka/dose-1"), t("ka/dose-2"));
    assert_eq!(t("ka/dose-2"), t("ka/dose-3"));
    assert!(t("ka/dose-1").as_str() >= "12:00", "{}", t("ka/dose-1"));
    assert_eq!(new.summary.stopped_by, "complete");
}

/// The smallest instance where the cancelled client cannot be helped without moving
/// someone else: A is free only 08:00-12:00 and cancels the 08:00 dose, so the dose can
/// only start at 10:00, where B's dose holds the one chair and monitor. Moving only A's
/// appointments keeps none of A's doses (proven); the repair moves B, and says why.
#[test]
fn when_no_own_only_repair_exists_another_client_moves_with_the_proof() {
    let mut v = base(1);
    client(&mut v, "a", "08:00", "12:00");
    client(&mut v, "b", "08:00", "18:00");
    course(&mut v, "ka", "a", 1, 48);
    course(&mut v, "kb", "b", 1, 48);
    let plan = booked_plan(
        &v,
        json!([
            { "event": "ka/dose-1", "start": "2026-03-03T08:00", "chair": "chair-1", "staff": "m1" },
            { "event": "kb/dose-1", "start": "2026-03-03T10:00", "chair": "chair-1", "staff": "m1" }
        ]),
    );
    let p = problem(&v);
    let change = Change::Cancel { event: "ka/dose-1".into() };
    let changed = apply_change(&p, &plan, &change).expect("applies");
    let new = repair(&p, &plan, &change, &Options::default()).expect("repairs");
    assert!(check(&changed, &new).is_empty(), "{:#?}", check(&changed, &new));
    assert_eq!(new.summary.doses_scheduled, 2, "a dose outranks a moved booking");
    assert_eq!(start(&new, "ka/dose-1"), "2026-03-03T10:00:00-05:00");
    let own = new.summary.own_only.as_ref().expect("own_only");
    assert_eq!(own.outcome, OwnOnlyOutcome::ProvenImpossible, "{}", own.detail);
    assert_eq!((own.own_only_doses, own.doses), (0, 1));
    assert!(own.detail.contains("at most 0 of their 1 doses"), "{}", own.detail);
    // Only what had to move: A's cancelled dose and the one dose in its way.
    assert_eq!(new.moved.len(), 2, "{:#?}", new.moved);
    let b = new.moved.iter().find(|m| m.event == "kb/dose-1").expect("B's dose moved");
    assert!(b.reason.contains("only a's appointments") && b.reason.contains("exhaustive"), "{}", b.reason);

    // With a budget too small to finish, the same repair does not claim a proof.
    let tiny = Options { node_budget: Some(1), ..Options::default() };
    let new = repair(&p, &plan, &change, &tiny).expect("repairs");
    assert!(check(&changed, &new).is_empty());
    let own = new.summary.own_only.as_ref().expect("own_only");
    assert_eq!(own.outcome, OwnOnlyOutcome::SearchLimit, "{}", own.detail);
    assert!(own.detail.contains("not a proof"), "{}", own.detail);
}

/// A's later dose can keep its place only if the cancelled one finds a start inside the
/// spacing; when one exists only A's own appointments move, and a plan that keeps every
/// dose of A without B moving is preferred to one that would move B.
#[test]
fn a_client_unavailable_change_keeps_to_their_own_appointments_when_it_can() {
    let mut v = base(3);
    client(&mut v, "a", "08:00", "18:00");
    client(&mut v, "b", "08:00", "18:00");
    course(&mut v, "ka", "a", 2, 48);
    course(&mut v, "kb", "b", 1, 48);
    let plan = booked_plan(
        &v,
        json!([
            { "event": "ka/dose-1", "start": "2026-03-03T08:00", "chair": "chair-1", "staff": "m1" },
            { "event": "ka/dose-2", "start": "2026-03-05T08:00", "chair": "chair-1", "staff": "m1" },
            { "event": "kb/dose-1", "start": "2026-03-03T12:00", "chair": "chair-1", "staff": "m1" }
        ]),
    );
    let p = problem(&v);
    let change = Change::ClientUnavailable {
        client: "a".into(),
        from: "2026-03-03T08:00".parse().expect("dt"),
        to: "2026-03-03T10:00".parse().expect("dt"),
    };
    let changed = apply_change(&p, &plan, &change).expect("applies");
    let new = repair(&p, &plan, &change, &Options::default()).expect("repairs");
    assert!(check(&changed, &new).is_empty());
    assert_eq!(new.summary.doses_scheduled, 3);
    assert_eq!(new.summary.own_only.as_ref().map(|o| o.outcome), Some(OwnOnlyOutcome::Kept));
    assert_eq!(start(&new, "kb/dose-1"), start(&plan, "kb/dose-1"));
    // Both of A's doses move to 10:00 (exactly 48 h apart, B holds 12:00-14:00 on day 0).
    assert_eq!(start(&new, "ka/dose-1"), "2026-03-03T10:00:00-05:00");
    assert_eq!(start(&new, "ka/dose-2"), "2026-03-05T10:00:00-05:00");
}
