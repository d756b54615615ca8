//! Every dose that can be scheduled is; a dose no plan can schedule comes back with the
//! rule that rules it out, proven for the course alone.

use kairos_schedule::{GenParams, Options, Plan, Problem, Reason, bounds, check, generate, solve};
use serde_json::{Value, json};

const ALL_DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// From Tuesday 2026-03-03 in New York, site 08:00-18:00 every day, one chair, one
/// monitor (capacity 1).
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

fn add(v: &mut Value, client: &str, days: &[&str], from: &str, to: &str, count: u32, gap: u32) {
    v["clients"]
        .as_array_mut()
        .expect("clients")
        .push(json!({ "id": client, "availability": [{ "days": days, "from": from, "to": to }] }));
    v["courses"].as_array_mut().expect("courses").push(json!({
        "id": format!("k-{client}"), "client": client,
        "doses": { "count": count, "infusion_minutes": 40, "monitoring_minutes": 80, "min_gap_hours": gap },
        "sessions": []
    }));
}

fn solved(v: &Value, iterations: u64) -> Plan {
    let p = Problem::from_json(&v.to_string()).expect("valid");
    let plan = solve(&p, &Options { iterations: Some(iterations), ..Options::default() }).expect("solves");
    assert!(check(&p, &plan).is_empty(), "{:#?}", check(&p, &plan));
    plan
}

/// A's two doses go first (the longer series) and take 08:00 on both days; B can only
/// come 08:00-10:00. Only moving A's doses makes room for B: the dose moves that run
/// before the search (no search iterations here) must find it.
#[test]
fn a_dose_that_needs_another_course_moved_is_scheduled() {
    let mut v = base(2);
    add(&mut v, "a", &ALL_DAYS, "08:00", "18:00", 2, 24);
    add(&mut v, "b", &ALL_DAYS, "08:00", "10:00", 1, 24);
    let plan = solved(&v, 0);
    assert_eq!(plan.summary.doses_scheduled, 3, "{}", plan.to_json());
    let b = plan.assignments.iter().find(|a| a.event == "k-b/dose-1").expect("B's dose");
    assert!(b.start.ends_with("T08:00:00-05:00"), "{}", b.start);
}

/// Three doses 48 h apart for a client free only on Mondays and Tuesdays, over six
/// days (Tuesday to Sunday): no plan fits more than one. The second dose is unscheduled with the client's
/// availability as the reason, proven, and the third follows it.
#[test]
fn a_dose_no_plan_can_schedule_says_which_rule_rules_it_out() {
    let mut v = base(6);
    add(&mut v, "a", &["mon", "tue"], "08:00", "18:00", 3, 48);
    let plan = solved(&v, 100);
    assert_eq!(plan.summary.doses_scheduled, 1);
    let u = plan.unscheduled.iter().find(|u| u.event == "k-a/dose-2").expect("dose 2 unscheduled");
    assert_eq!(u.reason, Reason::ClientUnavailable, "{}", u.detail);
    assert!(u.detail.contains("at most 1 of the 3 doses") && u.detail.contains("proven"), "{}", u.detail);
    let u3 = plan.unscheduled.iter().find(|u| u.event == "k-a/dose-3").expect("dose 3 unscheduled");
    assert_eq!(u3.reason, Reason::PreviousDoseUnscheduled);
    assert!(u3.detail.contains("no plan can schedule dose 3"), "{}", u3.detail);
    // A series the horizon itself cuts short names the spacing.
    let mut v = base(3);
    add(&mut v, "a", &ALL_DAYS, "08:00", "18:00", 3, 48);
    let plan = solved(&v, 100);
    let u = plan.unscheduled.iter().find(|u| u.event == "k-a/dose-3").expect("dose 3 unscheduled");
    assert_eq!(u.reason, Reason::Spacing, "{}", u.detail);
    assert!(u.detail.contains("at most 2 of the 3 doses"), "{}", u.detail);
}

/// The bounds (each course alone, searched exactly) are never below what a plan
/// schedules, and they see the client-availability limit above.
#[test]
fn bounds_are_upper_bounds() {
    for seed in 1..4 {
        let p = generate(&GenParams {
            clients: 40,
            chairs: 2,
            therapists: 3,
            monitors: 1,
            days: 21,
            seed,
            ..GenParams::default()
        });
        let plan = solve(&p, &Options { iterations: Some(300), ..Options::default() }).expect("solves");
        let b = bounds(&p, None).expect("bounds");
        assert_eq!(b.courses, 40);
        assert!(b.doses >= plan.summary.doses_scheduled, "{b:?} {:?}", plan.summary);
        assert!(b.sessions_in_preferred_window >= plan.summary.sessions_in_preferred_window, "{b:?}");
        assert!(b.doses <= plan.summary.doses_requested);
    }
    let mut v = base(6);
    add(&mut v, "a", &["mon", "tue"], "08:00", "18:00", 3, 48);
    let p = Problem::from_json(&v.to_string()).expect("valid");
    let b = bounds(&p, None).expect("bounds");
    assert_eq!((b.doses, b.courses_proven), (1, 1));
}

/// An over-subscribed instance (more doses than two chairs and one monitor hold): the
/// search ends on its budget, not the time limit, with a valid plan and no fewer doses
/// than before the per-slot chair counts (120 of 185).
#[test]
fn over_subscribed_finishes_on_its_budget() {
    let p = generate(&GenParams {
        clients: 70,
        chairs: 2,
        therapists: 3,
        monitors: 1,
        days: 21,
        seed: 1,
        ..GenParams::default()
    });
    // A generous limit: an unoptimised build takes a few seconds.
    let opts =
        Options { iterations: Some(2_000), time_limit: std::time::Duration::from_secs(60), ..Options::default() };
    let plan = solve(&p, &opts).expect("solves");
    assert!(check(&p, &plan).is_empty(), "{:#?}", check(&p, &plan));
    assert_eq!(plan.summary.stopped_by, "iterations");
    assert_eq!(plan.summary.doses_requested, 185);
    assert!(plan.summary.doses_scheduled >= 120, "{:?}", plan.summary);
}
