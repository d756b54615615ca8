//! Every duration, spacing and window offset of a problem is bounded, and the
//! arithmetic on them is checked: a value out of range is refused with the
//! field that holds it, never wrapped into a short or negative duration.

use kairos_schedule::{Error, Options, Problem, solve};
use serde_json::{Value, json};

const ALL_DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One day in New York, site open all day, one chair, a monitor and a
/// therapist, one client with one course of one dose.
fn base() -> Value {
    json!({
        "time_zone": "America/New_York",
        "horizon": { "start": "2026-03-03", "days": 2 },
        "site_hours": [{ "days": ALL_DAYS, "from": "00:00", "to": "23:59" }],
        "chairs": [{ "id": "chair-1" }],
        "rooms": [{ "id": "room-1" }],
        "staff": [
            { "id": "m1", "roles": ["monitor"], "hours": [{ "days": ALL_DAYS, "from": "00:00", "to": "23:59" }] },
            { "id": "t1", "roles": ["therapist"], "hours": [{ "days": ALL_DAYS, "from": "00:00", "to": "23:59" }] }
        ],
        "clients": [{ "id": "c1", "availability": [{ "days": ALL_DAYS, "from": "00:00", "to": "23:59" }] }],
        "courses": [{ "id": "k1", "client": "c1",
                      "doses": { "count": 1, "infusion_minutes": 40, "monitoring_minutes": 80, "min_gap_hours": 48 },
                      "sessions": [] }]
    })
}

/// The field a refused problem names.
fn refused(v: &Value) -> (String, String) {
    match Problem::from_json(&v.to_string()) {
        Err(Error::Invalid { field, message }) => (field, message),
        other => panic!("expected a refusal naming a field, got {other:?}"),
    }
}

/// `infusion_minutes + monitoring_minutes` once wrapped around u32: 4294967295 + 16
/// became a 15-minute dose.
#[test]
fn a_dose_whose_minutes_would_wrap_is_refused_naming_the_field() {
    let mut v = base();
    v["courses"][0]["doses"]["infusion_minutes"] = json!(u32::MAX);
    v["courses"][0]["doses"]["monitoring_minutes"] = json!(16);
    let (field, message) = refused(&v);
    assert_eq!(field, "courses[0].doses.infusion_minutes");
    assert!(message.contains("at most 24 hours"), "{message}");

    let mut v = base();
    v["courses"][0]["doses"]["infusion_minutes"] = json!(16);
    v["courses"][0]["doses"]["monitoring_minutes"] = json!(u32::MAX);
    assert_eq!(refused(&v).0, "courses[0].doses.monitoring_minutes");

    // Each part within a day, the sum over it.
    let mut v = base();
    v["courses"][0]["doses"]["infusion_minutes"] = json!(1000);
    v["courses"][0]["doses"]["monitoring_minutes"] = json!(1000);
    let (field, message) = refused(&v);
    assert_eq!(field, "courses[0].doses.monitoring_minutes");
    assert!(message.contains("infusion_minutes + monitoring_minutes"), "{message}");
}

/// A dose of exactly 24 hours is valid; a dose is booked for its whole length
/// (administration and monitoring), in slots rounded up.
#[test]
fn a_dose_is_booked_for_its_whole_length_up_to_a_day() {
    let mut v = base();
    v["courses"][0]["doses"]["infusion_minutes"] = json!(60);
    v["courses"][0]["doses"]["monitoring_minutes"] = json!(24 * 60 - 60);
    Problem::from_json(&v.to_string()).expect("a 24-hour dose is valid");

    let mut v = base();
    v["courses"][0]["doses"]["infusion_minutes"] = json!(40);
    v["courses"][0]["doses"]["monitoring_minutes"] = json!(80);
    let p = Problem::from_json(&v.to_string()).expect("valid");
    let plan = solve(&p, &Options { iterations: Some(0), ..Options::default() }).expect("solves");
    let a = plan.assignments.iter().find(|a| a.event == "k1/dose-1").expect("the dose is booked");
    let start: jiff::Timestamp = a.start.parse().expect("start");
    let end: jiff::Timestamp = a.end.parse().expect("end");
    assert_eq!(end.duration_since(start), jiff::SignedDuration::from_mins(120), "{}", plan.to_json());
}

/// Spacings and spans are hours or days that become slots: beyond 400 days they are
/// refused by name, not truncated into a short gap.
#[test]
fn spacings_beyond_the_longest_horizon_are_refused_naming_the_field() {
    for (key, value, field) in [
        ("min_gap_hours", json!(u32::MAX), "courses[0].doses.min_gap_hours"),
        ("max_gap_hours", json!(u32::MAX), "courses[0].doses.max_gap_hours"),
        ("max_span_days", json!(u32::MAX), "courses[0].doses.max_span_days"),
        ("max_span_days", json!(401), "courses[0].doses.max_span_days"),
    ] {
        let mut v = base();
        v["courses"][0]["doses"][key] = value;
        let (got, message) = refused(&v);
        assert_eq!(got, field, "{message}");
        assert!(message.contains("at most"), "{message}");
    }
    let mut v = base();
    v["courses"][0]["doses"]["min_gap_hours"] = json!(400 * 24);
    v["courses"][0]["doses"]["max_gap_hours"] = json!(400 * 24);
    v["courses"][0]["doses"]["max_span_days"] = json!(400);
    Problem::from_json(&v.to_string()).expect("400 days is the bound, and allowed");
}

/// A session window's offsets are bounded on both sides, each named.
#[test]
fn window_offsets_beyond_400_days_are_refused_naming_the_offset() {
    for (key, value) in [("open_hours", i32::MIN), ("close_hours", i32::MAX), ("preferred_to_hours", 9601)] {
        let mut v = base();
        let mut window =
            json!({ "open_hours": 0, "preferred_from_hours": 24, "preferred_to_hours": 72, "close_hours": 168 });
        window[key] = json!(value);
        v["courses"][0]["sessions"] = json!([{ "id": "integration-1", "kind": "integration", "after_dose": 1,
                                               "duration_minutes": 60, "window": window }]);
        let (field, message) = refused(&v);
        assert_eq!(field, format!("courses[0].sessions[0].window.{key}"), "{message}");
    }
}

/// A group meeting lasts 1 minute to 24 hours; the meeting is named.
#[test]
fn a_group_meeting_of_no_time_or_of_years_is_refused_naming_the_meeting() {
    for minutes in [0, u32::MAX] {
        let mut v = base();
        v["groups"] = json!([{ "id": "g1", "therapist": "t1", "room": "room-1", "members": ["c1"],
                               "meetings": [{ "start": "2026-03-03T09:00", "minutes": 90 },
                                            { "start": "2026-03-04T09:00", "minutes": minutes }] }]);
        let (field, message) = refused(&v);
        assert_eq!(field, "groups[0].meetings[1].minutes", "{message}");
    }
}

/// An event lasts whole slots: a 50-minute dose with 15-minute slots is booked
/// for 60 minutes (FORMAT.md).
#[test]
fn a_dose_ends_on_a_whole_slot_rounded_up() {
    let mut v = base();
    v["slot_minutes"] = json!(15);
    v["courses"][0]["doses"]["infusion_minutes"] = json!(20);
    v["courses"][0]["doses"]["monitoring_minutes"] = json!(30);
    let p = Problem::from_json(&v.to_string()).expect("valid");
    let plan = solve(&p, &Options { iterations: Some(0), ..Options::default() }).expect("solves");
    let a = plan.assignments.iter().find(|a| a.event == "k1/dose-1").expect("the dose is booked");
    let start: jiff::Timestamp = a.start.parse().expect("start");
    let end: jiff::Timestamp = a.end.parse().expect("end");
    assert_eq!(end.duration_since(start), jiff::SignedDuration::from_mins(60), "{}", plan.to_json());
}
