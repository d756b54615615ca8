//! Process groups: capacity and waitlist promotion, closed groups, eligibility
//! by course phase, sessions from the weekly schedule, attendance driving
//! each member's encounter, the group note and per-member lines landing on
//! the right chart only (another member's name never in a non-facilitator's
//! response), audit rows, and role checks.

use crate::helpers::*;
use jiff::civil::{Date, Weekday};
use jiff::{Timestamp, ToSpan};
use kairos_domain::course::Phase;
use kairos_domain::roles::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Setup {
    admin: String,
    coordinator: String,
    prescriber: String,
    facilitator: String,
    facilitator_id: String,
    other_therapist: String,
    nurse: String,
    site: String,
    group_room: String,
    therapy_room: String,
}

async fn setup(app: &TestApp) -> Setup {
    let admin = app.token_for(Role::Admin).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let prescriber = app.token_for(Role::Prescriber).await;
    let (email, id) = app.add_staff(&[Role::Therapist]).await;
    let facilitator = app.login(&email, PASSWORD).await;
    let other_therapist = app.token_for(Role::Therapist).await;
    let nurse = app.token_for(Role::Nurse).await;
    let site =
        app.post("/api/v1/sites", &admin, json!({ "name": "Group Clinic", "time_zone": "America/New_York" })).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let room = |name: &'static str, kind: &'static str| {
        let path = format!("/api/v1/sites/{site}/rooms");
        let admin = admin.clone();
        async move {
            let r = app.post(&path, &admin, json!({ "name": name, "kind": kind })).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["id"].as_str().expect("room").to_string()
        }
    };
    let group_room = room("Circle Room", "group_room").await;
    let therapy_room = room("Room 2", "therapy_room").await;
    Setup {
        admin,
        coordinator,
        prescriber,
        facilitator,
        facilitator_id: id.to_string(),
        other_therapist,
        nurse,
        site,
        group_room,
        therapy_room,
    }
}

/// A client whose open course is in `phase`.
async fn client_in(app: &TestApp, s: &Setup, given: &str, family: &str, phase: Phase) -> String {
    let client = app.create_client(&s.coordinator, given, family).await;
    let c = app
        .post(
            &format!("/api/v1/clients/{client}/courses"),
            &s.prescriber,
            json!({ "protocol": "apa-iv-induction", "started_on": "2026-01-05" }),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    let course = c.body["id"].as_str().expect("course").parse().expect("id");
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let actor = kairos_store::Actor::system("test");
    for p in [Phase::Preparation, Phase::Induction, Phase::Integration, Phase::Maintenance] {
        if p > phase {
            break;
        }
        app.store.change_course_phase(&actor, course, p, None, today).await.expect("phase");
    }
    client
}

fn group_body(s: &Setup, capacity: u16, enrolment: &str) -> Value {
    json!({
        "name": "Tuesday integration circle",
        "site_id": s.site,
        "room_id": s.group_room,
        "facilitator_ids": [s.facilitator_id],
        "slots": [{ "day": "tuesday", "start": "18:00", "minutes": 90 }],
        "capacity": capacity,
        "enrolment": enrolment,
        "eligible_phases": ["integration", "maintenance"],
    })
}

async fn create_group(app: &TestApp, s: &Setup, capacity: u16, enrolment: &str) -> String {
    let r = app.post("/api/v1/groups", &s.coordinator, group_body(s, capacity, enrolment)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().expect("group").to_string()
}

async fn join(app: &TestApp, token: &str, group: &str, client: &str, reason: Option<&str>) -> Resp {
    app.post(
        &format!("/api/v1/groups/{group}/members"),
        token,
        json!({ "client_id": client, "override_reason": reason }),
    )
    .await
}

/// The next Tuesday at least `weeks` weeks from today (or before, if negative).
fn tuesday(weeks: i64) -> Date {
    let mut d = Timestamp::now().to_zoned(jiff::tz::TimeZone::get("America/New_York").expect("tz")).date();
    d = d.checked_add((weeks * 7).days()).expect("date");
    while d.weekday() != Weekday::Tuesday {
        d = d.checked_add(1.day()).expect("date");
    }
    d
}

async fn schedule(app: &TestApp, s: &Setup, group: &str, date: Date) -> String {
    let r = app.post(&format!("/api/v1/groups/{group}/sessions"), &s.coordinator, json!({ "date": date })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body[0]["id"].as_str().expect("session").to_string()
}

#[tokio::test]
async fn capacity_waitlist_promotion_eligibility_and_the_roster_for_facilitators_only() {
    let app = spawn_app().await;
    let s = setup(&app).await;

    // Validation names the field; roles are checked.
    let mut bad = group_body(&s, 2, "open");
    bad["room_id"] = json!(s.therapy_room);
    assert_eq!(app.post("/api/v1/groups", &s.coordinator, bad).await.problem_field(), Some("room_id"));
    let (_, nurse_id) = app.add_staff(&[Role::Nurse]).await;
    let mut bad = group_body(&s, 2, "open");
    bad["facilitator_ids"] = json!([nurse_id.to_string()]);
    assert_eq!(app.post("/api/v1/groups", &s.coordinator, bad).await.problem_field(), Some("facilitator_ids[0]"));
    let mut bad = group_body(&s, 2, "open");
    bad["slots"][0]["start"] = json!("6pm");
    assert_eq!(app.post("/api/v1/groups", &s.coordinator, bad).await.problem_field(), Some("slots[0].start"));
    assert_eq!(app.post("/api/v1/groups", &s.nurse, group_body(&s, 2, "open")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/groups", &s.admin).await.status, StatusCode::FORBIDDEN);

    let group = create_group(&app, &s, 2, "open").await;
    let a = client_in(&app, &s, "Amara", "Okafor", Phase::Integration).await;
    let b = client_in(&app, &s, "Bruno", "Lindqvist", Phase::Maintenance).await;
    let c = client_in(&app, &s, "Chiara", "Esposito", Phase::Integration).await;
    let d = client_in(&app, &s, "Dmitri", "Volkov", Phase::Induction).await;

    // Eligibility by phase.
    assert_eq!(join(&app, &s.coordinator, &group, &d, None).await.problem_field(), Some("client_id"));
    assert_eq!(join(&app, &s.nurse, &group, &a, None).await.status, StatusCode::FORBIDDEN);
    // Two seats, then the waitlist.
    let r = join(&app, &s.coordinator, &group, &a, None).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::CREATED, Some("active")), "{}", r.body);
    assert_eq!(join(&app, &s.coordinator, &group, &b, None).await.body["status"], "active");
    let r = join(&app, &s.coordinator, &group, &c, None).await;
    assert_eq!(r.body["status"], "waitlisted");
    assert_eq!(r.body["waitlist_position"], 1);
    assert_eq!(join(&app, &s.coordinator, &group, &a, None).await.problem_field(), Some("client_id"), "twice");

    // Sessions from the weekly slot: a Tuesday, not a Wednesday; N weeks skip existing ones.
    let first = tuesday(1);
    let wednesday = first.checked_add(1.day()).expect("date");
    let r = app.post(&format!("/api/v1/groups/{group}/sessions"), &s.coordinator, json!({ "date": wednesday })).await;
    assert_eq!(r.problem_field(), Some("date"));
    schedule(&app, &s, &group, first).await;
    let r = app
        .post(&format!("/api/v1/groups/{group}/sessions"), &s.coordinator, json!({ "from": first, "weeks": 3 }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body.as_array().map(Vec::len), Some(2), "the first Tuesday already had a session");
    assert_eq!(r.body[0]["seated"], 2);
    assert!(r.body[0].get("attendance").is_none(), "a coordinator sees head counts only");
    // 18:00 New York.
    let start: Timestamp = r.body[0]["starts_at"].as_str().expect("start").parse().expect("ts");
    assert_eq!(start.to_zoned(jiff::tz::TimeZone::get("America/New_York").expect("tz")).hour(), 18);

    // The roster: facilitators only; nobody else sees a member's name.
    let outline = app.get(&format!("/api/v1/groups/{group}"), &s.coordinator).await;
    assert_eq!(outline.status, StatusCode::OK);
    assert_eq!((outline.body["active"].as_u64(), outline.body["waitlisted"].as_u64()), (Some(2), Some(1)));
    assert!(outline.body.get("members").is_none());
    for token in [&s.coordinator, &s.other_therapist, &s.prescriber, &s.nurse] {
        for path in
            [format!("/api/v1/groups/{group}"), format!("/api/v1/groups/{group}/sessions"), "/api/v1/groups".into()]
        {
            let text = app.get(&path, token).await.body.to_string();
            for name in ["Amara", "Bruno", "Chiara", &a, &b, &c] {
                assert!(!text.contains(name), "{name} in {path}: {text}");
            }
        }
    }
    let roster = app.get(&format!("/api/v1/groups/{group}"), &s.facilitator).await;
    assert_eq!(roster.body["view"], "facilitator");
    let names: Vec<&str> =
        roster.body["members"].as_array().expect("members").iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names, vec!["Amara Okafor", "Bruno Lindqvist", "Chiara Esposito"]);

    // A leaves: the waitlist's first takes the seat and is booked into future sessions.
    let r = app.call(Method::DELETE, &format!("/api/v1/groups/{group}/members/{a}"), Some(&s.coordinator), None).await;
    assert_eq!((r.status, r.body["promoted"].as_u64()), (StatusCode::OK, Some(1)), "{}", r.body);
    let roster = app.get(&format!("/api/v1/groups/{group}"), &s.facilitator).await;
    let status = |id: &str| {
        roster.body["members"].as_array().expect("m").iter().find(|m| m["client_id"] == id).expect("member")["status"]
            .clone()
    };
    assert_eq!((status(&a), status(&c)), (json!("left"), json!("active")));
    let lines = app.get(&format!("/api/v1/clients/{c}/groups"), &s.coordinator).await;
    assert_eq!(lines.body[0]["sessions"].as_array().map(Vec::len), Some(3), "{}", lines.body);
    let lines = app.get(&format!("/api/v1/clients/{a}/groups"), &s.coordinator).await;
    assert_eq!(lines.body[0]["status"], "left");
    assert_eq!(lines.body[0]["sessions"].as_array().map(Vec::len), Some(0), "future sessions released");
    let (from, to) = (Timestamp::now(), Timestamp::now() + jiff::SignedDuration::from_hours(24 * 60));
    let encounters = app.get(&format!("/api/v1/encounters?client={a}&from={from}&to={to}"), &s.coordinator).await;
    assert_eq!(encounters.body["items"].as_array().map(Vec::len), Some(3), "{}", encounters.body);
    let items = encounters.body["items"].as_array().expect("items");
    assert!(items.iter().all(|e| e["kind"] == "group" && e["status"] == "cancelled"), "{}", encounters.body);

    // Every roster read left an audit row for the member shown.
    let log = app.get(&format!("/api/v1/audit?client={b}&limit=200"), &s.admin).await;
    let reads = log.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "read" && e["record_type"] == "group_membership")
        .count();
    assert!(reads >= 2, "{}", log.body);
}

#[tokio::test]
async fn a_closed_group_admits_after_its_first_session_only_by_facilitator_override() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let group = create_group(&app, &s, 3, "closed").await;
    let a = client_in(&app, &s, "Amara", "Okafor", Phase::Integration).await;
    let b = client_in(&app, &s, "Bruno", "Lindqvist", Phase::Integration).await;
    assert_eq!(join(&app, &s.coordinator, &group, &a, None).await.body["status"], "active", "before the first session");
    let held = schedule(&app, &s, &group, tuesday(-2)).await;
    let r = app
        .put(
            &format!("/api/v1/groups/{group}/sessions/{held}/attendance"),
            &s.facilitator,
            json!({ "marks": [{ "client_id": a, "attendance": "present" }] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(join(&app, &s.coordinator, &group, &b, None).await.problem_field(), Some("override_reason"));
    assert_eq!(join(&app, &s.coordinator, &group, &b, Some("transfer")).await.problem_field(), Some("override_reason"));
    assert_eq!(join(&app, &s.facilitator, &group, &b, None).await.problem_field(), Some("override_reason"));
    let r = join(&app, &s.facilitator, &group, &b, Some("Transfer from the Monday group")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["override_reason"], "Transfer from the Monday group");
}

#[tokio::test]
async fn attendance_and_notes_land_on_the_right_charts_only() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let group = create_group(&app, &s, 6, "open").await;
    let a = client_in(&app, &s, "Amara", "Okafor", Phase::Integration).await;
    let b = client_in(&app, &s, "Bruno", "Lindqvist", Phase::Maintenance).await;
    join(&app, &s.coordinator, &group, &a, None).await;
    join(&app, &s.coordinator, &group, &b, None).await;
    let sid = schedule(&app, &s, &group, tuesday(-1)).await;
    let base = format!("/api/v1/groups/{group}/sessions/{sid}");

    // Attendance: facilitators only; each member's encounter follows.
    let marks =
        json!({ "marks": [{ "client_id": a, "attendance": "present" }, { "client_id": b, "attendance": "late" }] });
    for token in [&s.coordinator, &s.other_therapist, &s.nurse] {
        assert_eq!(app.put(&format!("{base}/attendance"), token, marks.clone()).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.get(&base, token).await.status, StatusCode::FORBIDDEN);
    }
    let bad = json!({ "marks": [{ "client_id": a, "attendance": "tardy" }] });
    assert_eq!(
        app.put(&format!("{base}/attendance"), &s.facilitator, bad).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = app.put(&format!("{base}/attendance"), &s.facilitator, marks).await;
    assert_eq!((r.status, r.body["recorded"].as_u64()), (StatusCode::OK, Some(2)), "{}", r.body);
    let enc_a =
        r.body["attendance"].as_array().expect("rows").iter().find(|x| x["client_id"] == a).expect("a")["encounter_id"]
            .as_str()
            .expect("enc")
            .to_string();
    assert_eq!(app.get(&format!("/api/v1/encounters/{enc_a}"), &s.coordinator).await.body["status"], "completed");
    // A correction: excused cancels the encounter.
    let fix = json!({ "marks": [{ "client_id": b, "attendance": "excused" }] });
    assert_eq!(app.put(&format!("{base}/attendance"), &s.facilitator, fix).await.status, StatusCode::OK);

    // Notes: the group note for facilitators; one line per member on their chart.
    let notes = json!({
        "group_note": "Amara and Bruno both spoke about sleep after dosing; Bruno offered Amara support.",
        "members": [
            { "client_id": a, "note": "Shared her first dream since dose 3; engaged throughout." },
            { "client_id": b, "note": "Quiet; left early for work." },
        ],
    });
    assert_eq!(
        app.put(&format!("{base}/notes"), &s.other_therapist, notes.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.put(&format!("{base}/notes"), &s.facilitator, notes.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let line_of = |body: &Value| body[0]["sessions"][0]["member_note"].clone();
    assert_eq!(
        line_of(&chart(&app, &s.other_therapist, &a).await.body),
        Value::Null,
        "a draft line is the facilitators'"
    );
    assert_eq!(
        line_of(&chart(&app, &s.facilitator, &a).await.body),
        json!("Shared her first dream since dose 3; engaged throughout.")
    );

    let mut signed = notes.clone();
    signed["sign"] = json!(true);
    assert_eq!(app.put(&format!("{base}/notes"), &s.facilitator, signed.clone()).await.status, StatusCode::OK);
    assert_eq!(app.put(&format!("{base}/notes"), &s.facilitator, signed).await.problem_field(), Some("sign"), "signed");

    for token in [&s.other_therapist, &s.prescriber] {
        let r = chart(&app, token, &a).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(line_of(&r.body), json!("Shared her first dream since dose 3; engaged throughout."));
        assert_eq!(r.body[0]["sessions"][0]["attendance"], "present");
        let text = r.body.to_string();
        assert!(!text.contains("Bruno") && !text.contains(&b) && !text.contains("Quiet"), "{text}");
        assert!(!text.contains("sleep after dosing"), "the group note is for facilitators: {text}");
    }
    for token in [&s.coordinator, &s.nurse] {
        let r = chart(&app, token, &b).await;
        assert_eq!(r.body[0]["sessions"][0]["attendance"], "excused");
        assert_eq!(line_of(&r.body), Value::Null, "no clinical line for scheduling staff");
        assert!(!r.body.to_string().contains("Amara"));
    }
    assert_eq!(chart(&app, &s.admin, &a).await.status, StatusCode::FORBIDDEN);

    // The facilitator sees the whole session.
    let full = app.get(&base, &s.facilitator).await;
    assert_eq!(full.body["group_note"], notes["group_note"]);
    assert!(full.body.to_string().contains("Bruno Lindqvist"));

    // Reads of a member's line are audited on that member's record.
    let log = app.get(&format!("/api/v1/audit?client={a}&limit=200"), &s.admin).await;
    let items = log.body["items"].as_array().expect("items");
    assert!(items.iter().any(|e| e["action"] == "list" && e["record_type"] == "group_membership"), "{}", log.body);
    assert!(items.iter().any(|e| e["action"] == "read" && e["record_type"] == "group_attendance"));
    assert!(items.iter().any(|e| e["action"] == "update" && e["record_type"] == "group_attendance"));
    // No audit row about A names B.
    assert!(!log.body.to_string().contains("Bruno"));
}

async fn chart(app: &TestApp, token: &str, client: &str) -> Resp {
    app.get(&format!("/api/v1/clients/{client}/groups"), token).await
}

#[tokio::test]
async fn a_therapist_runs_a_group_session_from_the_pages() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let group = create_group(&app, &s, 6, "open").await;
    let a = client_in(&app, &s, "Amara", "Okafor", Phase::Integration).await;
    let b = client_in(&app, &s, "Bruno", "Lindqvist", Phase::Integration).await;
    join(&app, &s.coordinator, &group, &a, None).await;
    join(&app, &s.coordinator, &group, &b, None).await;
    let sid = schedule(&app, &s, &group, tuesday(-1)).await;
    let me = app.get("/api/v1/auth/me", &s.facilitator).await;
    let web = web_session(&app, me.body["email"].as_str().expect("email")).await;
    let page = web.get(format!("{}/groups/{group}", app.base)).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("Amara Okafor") && html.contains("Bruno Lindqvist"), "the facilitator's roster");
    let url = format!("{}/groups/{group}/sessions/{sid}", app.base);
    let html = web.get(&url).send().await.expect("session").text().await.expect("html");
    assert!(html.contains(&format!("name=\"att-{a}\"")), "{html}");
    let form = [
        (format!("att-{a}"), "present".to_string()),
        (format!("att-{b}"), "absent".to_string()),
        (format!("note-{a}"), "Named a new intention.".to_string()),
        ("group_note".into(), "Amara and Bruno discussed sleep.".into()),
        ("action".into(), "sign".into()),
    ];
    let r = web.post(&url).form(&form).send().await.expect("save");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The other member's chart, read by another therapist: only their own lines.
    let (email, _) = app.add_staff(&[Role::Therapist]).await;
    let other = web_session(&app, &email).await;
    let chart = other.get(format!("{}/clients/{a}", app.base)).send().await.expect("chart").text().await.expect("html");
    assert!(
        chart.contains("Groups") && chart.contains("Named a new intention.") && chart.contains("Present"),
        "{chart}"
    );
    assert!(!chart.contains("Bruno") && !chart.contains("discussed sleep"), "{chart}");
    let chart = other.get(format!("{}/clients/{b}", app.base)).send().await.expect("chart").text().await.expect("html");
    assert!(chart.contains("Absent") && !chart.contains("Amara"), "{chart}");
    let denied = other.get(&url).send().await.expect("session");
    assert_eq!(denied.status(), StatusCode::FORBIDDEN, "not a facilitator");

    // The notes are signed: attendance locks. Saving the same marks changes
    // nothing; a different mark without a reason is refused naming it; with
    // a reason it is kept as an amendment beside the mark it replaced.
    let same = [(format!("att-{a}"), "present".to_string()), (format!("att-{b}"), "absent".to_string())];
    assert_eq!(web.post(&url).form(&same).send().await.expect("same").status(), StatusCode::SEE_OTHER);
    let changed = [(format!("att-{a}"), "present".to_string()), (format!("att-{b}"), "late".to_string())];
    let html = web.post(&url).form(&changed).send().await.expect("change").text().await.expect("html");
    assert!(html.contains("say why the attendance changes"), "{html}");
    let api = app.get(&format!("/api/v1/groups/{group}/sessions/{sid}"), &s.facilitator).await;
    let row = |body: &Value| {
        body["attendance"].as_array().expect("rows").iter().find(|x| x["client_id"] == b).expect("b")["attendance"]
            .clone()
    };
    assert_eq!(row(&api.body), json!("absent"), "nothing changed without a reason");
    let mut with_reason = changed.to_vec();
    with_reason.push(("reason".into(), "arrived 20 minutes late; marked absent in error".into()));
    let r = web.post(&url).form(&with_reason).send().await.expect("amend");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let api = app.get(&format!("/api/v1/groups/{group}/sessions/{sid}"), &s.facilitator).await;
    assert_eq!(row(&api.body), json!("late"));
    assert_eq!(api.body["amendments"][0]["from"], "absent");
    assert_eq!(api.body["amendments"][0]["reason"], "arrived 20 minutes late; marked absent in error");
    let html = web.get(&url).send().await.expect("session").text().await.expect("html");
    assert!(html.contains("Absent → Late") && html.contains("marked absent in error"), "{html}");
    // The API holds the same rule.
    let r = app
        .put(
            &format!("/api/v1/groups/{group}/sessions/{sid}/attendance"),
            &s.facilitator,
            json!({ "marks": [{ "client_id": a, "attendance": "absent" }] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.problem_field(), Some("reason"));
}

#[tokio::test]
async fn a_coordinator_creates_a_group_from_the_form() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let (email, _) = app.add_staff(&[Role::Coordinator]).await;
    let web = web_session(&app, &email).await;
    let html = web.get(format!("{}/groups", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("New group") && html.contains("Group Clinic · Circle Room"), "{html}");
    let form = |name: &str, facilitator: Option<&str>| {
        let mut f = vec![
            ("name", name.to_string()),
            ("room_id", s.group_room.clone()),
            ("day", "thursday".to_string()),
            ("start", "17:30".to_string()),
            ("minutes", "90".to_string()),
            ("capacity", "8".to_string()),
            ("enrolment", "open".to_string()),
            ("phase", "induction".to_string()),
            ("phase", "integration".to_string()),
        ];
        if let Some(id) = facilitator {
            f.push(("facilitator", id.to_string()));
        }
        serde_urlencoded::to_string(f).expect("form")
    };
    let post = |body: String| {
        web.post(format!("{}/groups", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let r = post(form("No lead", None)).await.expect("post");
    let html = r.text().await.expect("html");
    assert!(html.contains("role=\"alert\"") && html.contains("facilitator"), "a group needs a facilitator: {html}");
    let r = post(form("Thursday circle", Some(&s.facilitator_id))).await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let list = app.get("/api/v1/groups", &s.coordinator).await;
    let g =
        list.body.as_array().expect("groups").iter().find(|g| g["name"] == "Thursday circle").expect("created").clone();
    assert_eq!(g["capacity"], 8, "{g}");
    assert_eq!(g["eligible_phases"], json!(["induction", "integration"]));
}

#[tokio::test]
async fn the_day_view_names_group_members_to_the_facilitator_only() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let group = create_group(&app, &s, 8, "open").await;
    for (given, family) in [("Ada", "Quill"), ("Bo", "Reyes")] {
        let c = client_in(&app, &s, given, family, Phase::Integration).await;
        assert_eq!(join(&app, &s.coordinator, &group, &c, None).await.status, StatusCode::CREATED);
    }
    let date = tuesday(1);
    schedule(&app, &s, &group, date).await;
    let (email, _) = app.add_staff(&[Role::Coordinator]).await;
    let web = web_session(&app, &email).await;
    let html = web
        .get(format!("{}/sites/{}/day?date={date}", app.base, s.site))
        .send()
        .await
        .expect("day")
        .text()
        .await
        .expect("html");
    assert!(html.contains("2 member(s)"), "one row for the session: {html}");
    assert!(!html.contains("Quill") && !html.contains("Reyes"), "no member names to a coordinator: {html}");
    let from = format!("{date}T00:00:00Z");
    let to = format!("{}T00:00:00Z", date.tomorrow().expect("date"));
    let list = app.get(&format!("/api/v1/encounters?site={}&from={from}&to={to}", s.site), &s.coordinator).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body["items"].as_array().expect("items").iter().all(|e| e["kind"] != "group"),
        "the encounter list does not assemble a roster for non-facilitators: {}",
        list.body
    );
    let mine = app.get(&format!("/api/v1/encounters?site={}&from={from}&to={to}", s.site), &s.facilitator).await;
    assert_eq!(mine.body["items"].as_array().map(|a| a.iter().filter(|e| e["kind"] == "group").count()), Some(2));
}
