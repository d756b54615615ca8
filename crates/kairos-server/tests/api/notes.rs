//! Psychotherapy notes: draft, sign (then immutable, also in the database),
//! amend (the original stays); the read matrix (author, another therapist,
//! supervisor, prescriber, coordinator, client) with an audit row for every
//! read; the WET narrative private to its author; and the plasticity window
//! of every dose and therapy encounter.

use crate::helpers::*;
use jiff::{SignedDuration, Timestamp};
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Setup {
    admin: String,
    coordinator: String,
    author: String,
    author_id: String,
    client: String,
    site: String,
}

fn at(hours: i64) -> String {
    (Timestamp::now() + SignedDuration::from_hours(hours)).to_string()
}

async fn setup(app: &TestApp) -> Setup {
    let admin = app.token_for(Role::Admin).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let (email, id) = app.add_staff(&[Role::Therapist]).await;
    let author = app.login(&email, PASSWORD).await;
    let site =
        app.post("/api/v1/sites", &admin, json!({ "name": "Notes Clinic", "time_zone": "America/New_York" })).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let client = app.create_client(&coordinator, "Noor", "Haddad").await;
    Setup { admin, coordinator, author, author_id: id.to_string(), client, site }
}

/// Books a session with the note's author as its therapist.
async fn book(app: &TestApp, s: &Setup, kind: &str, start_h: i64, hours: i64) -> String {
    book_with(app, s, kind, start_h, hours, &s.author_id).await
}

async fn book_with(app: &TestApp, s: &Setup, kind: &str, start_h: i64, hours: i64, therapist: &str) -> String {
    let r = app
        .post(
            "/api/v1/encounters",
            &s.coordinator,
            json!({ "client_id": s.client, "site_id": s.site, "kind": kind, "staff_id": therapist,
                    "scheduled_start": at(start_h), "scheduled_end": at(start_h + hours) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().expect("encounter").to_string()
}

fn integration_body(encounter: &str) -> Value {
    json!({ "encounter_id": encounter, "kind": "integration",
            "sections": { "experience": "Saw the house by the sea; felt safe.", "plan": "Journal each morning" },
            "summary": "Integration after dose 1: engaged, plan agreed" })
}

async fn audit_reads(app: &TestApp, s: &Setup, note: &str) -> Vec<Value> {
    let log = app.get(&format!("/api/v1/audit?client={}&limit=200", s.client), &s.admin).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    log.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "read" && e["record_type"] == "therapy_note" && e["record_id"] == note)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_note_is_drafted_signed_and_amended_and_a_signed_note_never_changes() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let enc = book(&app, &s, "integration", -3, 1).await;
    let notes = format!("/api/v1/clients/{}/notes", s.client);

    let body = json!({ "encounter_id": enc, "kind": "group", "sections": { "themes": "Grief" } });
    assert_eq!(app.post(&notes, &s.author, body).await.problem_field(), Some("kind"), "a group note on an integration");
    // Another therapist, unrelated to the course or the session, may not
    // write its note; nobody writes one on a session that has not started.
    let stranger = app.token_for(Role::Therapist).await;
    let r = app.post(&notes, &stranger, integration_body(&enc)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let later = book(&app, &s, "integration", 24, 1).await;
    let r = app.post(&notes, &s.author, integration_body(&later)).await;
    assert_eq!((r.status, r.problem_field()), (StatusCode::CONFLICT, Some("encounter_id")), "{}", r.body);
    let mut body = integration_body(&enc);
    body["sections"]["homework"] = json!("x");
    assert_eq!(app.post(&notes, &s.author, body).await.problem_field(), Some("sections.homework"));
    let prescriber = app.token_for(Role::Prescriber).await;
    assert_eq!(app.post(&notes, &prescriber, integration_body(&enc)).await.status, StatusCode::FORBIDDEN);

    let draft = json!({ "encounter_id": enc, "kind": "integration", "sections": { "experience": "Saw the house" } });
    let r = app.post(&notes, &s.author, draft).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "draft");
    let id = r.body["id"].as_str().expect("note").to_string();
    let note = format!("/api/v1/notes/{id}");
    let r = app.post(&format!("{note}/sign"), &s.author, json!({})).await;
    assert_eq!(r.problem_field(), Some("sections.plan"), "required sections before signing");
    let r = app
        .put(&note, &s.author, json!({ "sections": { "experience": "Saw the house by the sea", "plan": "Journal" } }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.post(&format!("{note}/sign"), &s.author, json!({})).await.problem_field(), Some("summary"));
    let (other_email, _) = app.add_staff(&[Role::Therapist]).await;
    let other = app.login(&other_email, PASSWORD).await;
    let r = app.put(&note, &other, json!({ "summary": "not mine" })).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "only the author edits");
    let mut full = integration_body(&enc);
    full.as_object_mut().expect("obj").remove("encounter_id");
    full.as_object_mut().expect("obj").remove("kind");
    assert_eq!(app.put(&note, &s.author, full.clone()).await.status, StatusCode::OK);
    assert_eq!(app.post(&format!("{note}/sign"), &other, json!({})).await.status, StatusCode::FORBIDDEN);
    let r = app.post(&format!("{note}/sign"), &s.author, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "signed");
    assert!(r.body["signed_at"].is_string());

    let r = app.put(&note, &s.author, full).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "signed: {}", r.body);
    assert_eq!(app.post(&format!("{note}/sign"), &s.author, json!({})).await.status, StatusCode::CONFLICT);
    // (The database's own refusal is tested in kairos-store/tests/notes.rs.)

    let amend = format!("{note}/amendments");
    let r = app.post(&amend, &s.author, json!({ "correction": "It was dose 2.", "reason": "" })).await;
    assert_eq!(r.problem_field(), Some("reason"));
    let r = app.post(&amend, &other, json!({ "correction": "x", "reason": "y" })).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &amend,
            &s.author,
            json!({ "correction": "This followed dose 2, not dose 1.", "reason": "wrong dose number" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.get(&note, &s.author).await;
    assert_eq!(r.body["summary"], "Integration after dose 1: engaged, plan agreed", "the original stays");
    assert_eq!(r.body["sections"][0]["text"], "Saw the house by the sea; felt safe.");
    assert_eq!(r.body["amendments"][0]["reason"], "wrong dose number");
    assert_eq!(r.body["amendments"][0]["by"], s.author_id);
    assert!(r.body["amendments"][0]["at"].is_string());
}

#[tokio::test]
async fn who_reads_a_note_and_every_read_is_audited() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let enc = book(&app, &s, "integration", -3, 1).await;
    let notes = format!("/api/v1/clients/{}/notes", s.client);
    let r = app.post(&notes, &s.author, integration_body(&enc)).await;
    let id = r.body["id"].as_str().expect("note").to_string();
    let note = format!("/api/v1/notes/{id}");

    let (other_email, _) = app.add_staff(&[Role::Therapist]).await;
    let other = app.login(&other_email, PASSWORD).await;
    let (sup_email, sup_id) = app.add_staff(&[Role::Therapist]).await;
    let supervisor = app.login(&sup_email, PASSWORD).await;
    let prescriber = app.token_for(Role::Prescriber).await;
    let nurse = app.token_for(Role::Nurse).await;
    let director = app.token_for(Role::Director).await;

    // Supervision is set by an admin, names therapists, and is not a role.
    let sup = format!("/api/v1/staff/{sup_id}/supervisees");
    assert_eq!(app.put(&sup, &s.author, json!({ "therapist_ids": [s.author_id] })).await.status, StatusCode::FORBIDDEN);
    let r = app.put(&sup, &s.admin, json!({ "therapist_ids": [sup_id.to_string()] })).await;
    assert_eq!(r.problem_field(), Some("therapist_ids"));
    let r = app.put(&sup, &s.admin, json!({ "therapist_ids": [s.author_id] })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get(&sup, &s.admin).await.body["therapist_ids"][0], s.author_id);

    // A draft: its author alone.
    assert_eq!(app.get(&note, &s.author).await.status, StatusCode::OK);
    for t in [&supervisor, &other, &prescriber] {
        assert_eq!(app.get(&note, t).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.get(&notes, t).await.body.as_array().map(Vec::len), Some(0));
    }
    assert_eq!(app.post(&format!("{note}/sign"), &s.author, json!({})).await.status, StatusCode::OK);

    // Signed: author and supervisor in full; other therapist and prescriber the summary line.
    let expect = [
        (&s.author, "author", true),
        (&supervisor, "full", true),
        (&other, "summary", false),
        (&prescriber, "summary", false),
    ];
    for (token, access, full) in expect {
        let r = app.get(&note, token).await;
        assert_eq!(r.status, StatusCode::OK, "{access}: {}", r.body);
        assert_eq!(r.body["access"], access);
        assert_eq!(r.body["summary"], "Integration after dose 1: engaged, plan agreed");
        assert_eq!(r.body.get("sections").is_some(), full, "{access}: {}", r.body);
        let list = app.get(&notes, token).await;
        assert_eq!(list.body[0]["access"], access);
        assert_eq!(list.body[0].get("sections").is_some(), full);
    }
    for token in [&s.coordinator, &nurse, &director, &s.admin] {
        assert_eq!(app.get(&note, token).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.get(&notes, token).await.status, StatusCode::FORBIDDEN);
    }
    // A client has no staff session: a self-report link is no key to notes.
    let link = app
        .post(&format!("/api/v1/clients/{}/measure-requests", s.client), &s.author, json!({ "instrument": "phq9" }))
        .await;
    let url = link.body["url"].as_str().expect("url").to_string();
    let token = url.trim_start_matches("/r/");
    assert_eq!(app.get(&note, token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.api.get(format!("{}{note}", app.base)).send().await.expect("get").status(),
        StatusCode::UNAUTHORIZED
    );

    // Every read left an audit row naming who read it and how much they saw:
    // one per GET of the note and one per note in each list.
    let reads = audit_reads(&app, &s, &id).await;
    let by = |detail: &str| reads.iter().filter(|e| e["detail"].as_str().is_some_and(|d| d.ends_with(detail))).count();
    assert_eq!(by("read in full as author"), 3, "{reads:#?}");
    assert_eq!(by("read in full as supervisor"), 2);
    assert_eq!(by("summary line read"), 4);
    assert_eq!(reads.len(), 9, "refused reads show nothing and are not counted as reads");
    assert!(reads.iter().all(|e| e["remote_addr"] == "127.0.0.1" && e["actor_id"].is_string()));
}

#[tokio::test]
async fn a_wet_note_keeps_its_narrative_private_to_its_author() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let enc = book(&app, &s, "individual_therapy", -2, 1).await;
    let notes = format!("/api/v1/clients/{}/notes", s.client);
    let mut body = json!({ "encounter_id": enc, "kind": "wet", "summary": "WET session 2 completed",
        "sections": { "check_in": "Wrote for the full block; tearful, settled by the end." },
        "wet": { "session_number": 6, "prompt_id": "wet-2", "writing_minutes": 30, "suds_before": 70, "suds_after": 55 },
        "narrative": "The client's own account, kept by the therapist." });
    assert_eq!(app.post(&notes, &s.author, body.clone()).await.problem_field(), Some("wet.session_number"));
    body["wet"]["session_number"] = json!(2);
    body["wet"]["suds_after"] = json!(101);
    assert_eq!(app.post(&notes, &s.author, body.clone()).await.problem_field(), Some("wet.suds_after"));
    body["wet"]["suds_after"] = json!(55);
    let r = app.post(&notes, &s.author, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().expect("note").to_string();
    assert_eq!(app.post(&format!("/api/v1/notes/{id}/sign"), &s.author, json!({})).await.status, StatusCode::OK);

    let (sup_email, sup_id) = app.add_staff(&[Role::Therapist]).await;
    let supervisor = app.login(&sup_email, PASSWORD).await;
    app.put(&format!("/api/v1/staff/{sup_id}/supervisees"), &s.admin, json!({ "therapist_ids": [s.author_id] })).await;
    let mine = app.get(&format!("/api/v1/notes/{id}"), &s.author).await;
    assert_eq!(mine.body["narrative"], "The client's own account, kept by the therapist.");
    assert_eq!(mine.body["wet"]["suds_before"], 70);
    let theirs = app.get(&format!("/api/v1/notes/{id}"), &supervisor).await;
    assert_eq!(theirs.body["access"], "full");
    assert_eq!(theirs.body["wet"]["prompt_id"], "wet-2");
    assert!(theirs.body.get("narrative").is_none(), "never to a supervisor: {}", theirs.body);
    let list = app.get(&notes, &supervisor).await;
    assert!(list.body[0].get("narrative").is_none());
}

#[tokio::test]
async fn each_dose_shows_its_window_and_unbooked_windows_are_listed() {
    let app = spawn_app().await;
    let c = crate::ledger::clinic(&app, 1, "apa_iv_induction").await;
    let admin = app.token_for(Role::Admin).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let client = c.clients[0].clone();
    let dose = c.encounters[0].clone();
    // Dose started 3 h ago, discharged 1 h ago: the window opened at discharge.
    let r = app
        .post(
            &format!("/api/v1/encounters/{dose}/dosing-session"),
            &c.nurse,
            crate::ledger::start_with_stock(&c.stock, None),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let session = r.body["id"].as_str().expect("session").to_string();
    let r = app
        .post(
            &format!("/api/v1/dosing-sessions/{session}/discharge"),
            &c.nurse,
            json!({ "at": at(-1), "accompanied_by": "partner" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            "/api/v1/encounters",
            &coordinator,
            json!({ "client_id": client, "site_id": c.site, "kind": "integration",
                    "scheduled_start": at(30), "scheduled_end": at(31) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let integration = r.body["id"].as_str().expect("encounter").to_string();
    let windows = format!("/api/v1/clients/{client}/windows");
    let r = app.get(&windows, &coordinator).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let d = &r.body["doses"][0];
    assert_eq!(d["number"], 1);
    assert_eq!(d["discharged"], true);
    assert_eq!(d["now"], "opening", "{}", r.body);
    assert_eq!(d["status"], "booked_in_window", "{}", r.body);
    assert_eq!(d["session_encounter_id"], integration);
    assert_eq!(d["session_position"], "preferred");
    assert_eq!(d["window_confirmed"], false, "the default is a heuristic");
    assert_eq!(r.body["encounters"][0]["position"], "preferred");
    assert_eq!(r.body["encounters"][0]["dose_encounter_id"], dose);
    assert!(app.get("/api/v1/windows/unbooked", &coordinator).await.body.as_array().expect("list").is_empty());

    // Cancelled: the dose now needs an integration session.
    let r = app
        .post(
            &format!("/api/v1/encounters/{integration}/status"),
            &coordinator,
            json!({ "status": "cancelled", "reason": "therapist ill" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.get(&windows, &coordinator).await;
    assert_eq!(r.body["doses"][0]["status"], "not_booked");
    assert_eq!(r.body["doses"][0]["needs_booking"], true);
    let list = app.get("/api/v1/windows/unbooked", &coordinator).await;
    assert_eq!(list.body[0]["encounter_id"], dose, "{}", list.body);
    assert_eq!(list.body[0]["client_id"], client);
    let log = app.get(&format!("/api/v1/audit?client={client}"), &admin).await;
    assert!(log.body["items"].as_array().expect("items").iter().any(|e| e["record_type"] == "dose_windows"));
    assert_eq!(
        app.get("/api/v1/windows/unbooked", &admin).await.status,
        StatusCode::FORBIDDEN,
        "admins read no charts"
    );
}

#[tokio::test]
async fn a_therapist_writes_signs_and_amends_an_integration_note_on_the_pages() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let (email, therapist) = app.add_staff(&[Role::Therapist]).await;
    let enc = book_with(&app, &s, "integration", -3, 1, &therapist.to_string()).await;
    let web = web_session(&app, &email).await;
    let page = web.get(format!("{}/clients/{}/windows", app.base, s.client)).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("html").contains("Doses and their integration window"));
    let r = web
        .post(format!("{}/encounters/{enc}/notes", app.base))
        .form(&[("kind", "integration")])
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let note = r.headers()["location"].to_str().expect("loc").to_string();
    let form = [
        ("section_experience", "Felt held; remembered the lake."),
        ("section_plan", "Walk daily"),
        ("summary", "Integration of dose 1, plan agreed"),
        ("action", "sign"),
    ];
    let r = web.post(format!("{}{note}", app.base)).form(&form).send().await.expect("sign");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = web.get(format!("{}{note}", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("signed") && html.contains("Felt held; remembered the lake."), "{html}");
    let r = web
        .post(format!("{}{note}/amendments", app.base))
        .form(&[("correction", "It was the river, not the lake."), ("reason", "misheard")])
        .send()
        .await
        .expect("amend");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = web.get(format!("{}{note}", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("It was the river, not the lake.") && html.contains("misheard"));
    assert!(html.contains("Felt held; remembered the lake."), "the original stays");
}

/// A clinic with one client on a course, and the client and course.
async fn one_course(app: &TestApp) -> (crate::ledger::Clinic, String, String) {
    let c = crate::ledger::clinic(app, 1, "apa_iv_induction").await;
    let client = c.clients[0].clone();
    let r = app.get(&format!("/api/v1/encounters/{}", c.encounters[0]), &c.nurse).await;
    let course = r.body["course_id"].as_str().expect("course").to_string();
    (c, client, course)
}

/// Books an integration session of `client` at `start_h` hours from now.
async fn book_integration(app: &TestApp, token: &str, c: &crate::ledger::Clinic, client: &str, start_h: i64) -> String {
    let r = app
        .post(
            "/api/v1/encounters",
            token,
            json!({ "client_id": client, "site_id": c.site, "kind": "integration",
                    "scheduled_start": at(start_h), "scheduled_end": at(start_h + 1) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().expect("encounter").to_string()
}

/// Books a dose visit of `client` on `course` at `start_h` hours from now
/// (3 h long) and marks it completed with no dosing session charted.
async fn completed_dose_visit(
    app: &TestApp,
    c: &crate::ledger::Clinic,
    client: &str,
    course: &str,
    start_h: i64,
) -> String {
    let r = app
        .post(
            "/api/v1/encounters",
            &c.prescriber,
            json!({ "client_id": client, "course_id": course, "site_id": c.site, "kind": "dosing",
                    "scheduled_start": at(start_h), "scheduled_end": at(start_h + 3) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let enc = r.body["id"].as_str().expect("encounter").to_string();
    for status in ["arrived", "completed"] {
        let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &c.nurse, json!({ "status": status })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    enc
}

/// The unbooked windows of one client, each as that client's own windows
/// show the dose (the list carries the same facts as the client's record).
async fn unbooked_of(app: &TestApp, token: &str, client: &str) -> Vec<Value> {
    let list = app.get("/api/v1/windows/unbooked", token).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let own = app.get(&format!("/api/v1/clients/{client}/windows"), token).await;
    let listed: Vec<Value> =
        list.body.as_array().expect("list").iter().filter(|d| d["client_id"] == client).cloned().collect();
    for d in &listed {
        let same = own.body["doses"].as_array().expect("doses").iter().find(|o| o["encounter_id"] == d["encounter_id"]);
        assert_eq!(Some(d), same, "{}", own.body);
    }
    listed
}

#[tokio::test]
async fn a_completed_dose_visit_with_no_session_charted_has_its_window_listed() {
    let app = spawn_app().await;
    let (c, client, course) = one_course(&app).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let dose = completed_dose_visit(&app, &c, &client, &course, -30).await;
    let listed = unbooked_of(&app, &coordinator, &client).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let d = &listed[0];
    assert_eq!(d["encounter_id"], dose);
    assert_eq!(d["dosing_session_id"], Value::Null, "no dosing session charted");
    assert_eq!(d["discharged"], false);
    assert_eq!(d["status"], "not_booked");
    assert_eq!(d["needs_booking"], true);

    // Booked: off the list.
    let _ = book_integration(&app, &coordinator, &c, &client, 20).await;
    assert!(unbooked_of(&app, &coordinator, &client).await.is_empty());
}

#[tokio::test]
async fn a_dose_followed_by_the_next_with_no_session_between_was_missed_and_is_not_listed() {
    let app = spawn_app().await;
    let (c, client, course) = one_course(&app).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let first = completed_dose_visit(&app, &c, &client, &course, -50).await;
    let second = completed_dose_visit(&app, &c, &client, &course, -26).await;
    // Before anything is booked, only the second dose waits for a session:
    // a session booked now would come after it, and integrate it.
    let listed = unbooked_of(&app, &coordinator, &client).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["encounter_id"], second);
    assert_eq!(listed[0]["number"], 2);
    let _ = book_integration(&app, &coordinator, &c, &client, 20).await;
    assert!(unbooked_of(&app, &coordinator, &client).await.is_empty());
    let own = app.get(&format!("/api/v1/clients/{client}/windows"), &coordinator).await;
    let dose = |id: &str| {
        own.body["doses"].as_array().expect("doses").iter().find(|d| d["encounter_id"] == id).cloned().expect("dose")
    };
    // The first dose's 7-day window is still open, but the next dose came
    // first with no session between: it was missed, not waiting.
    assert_eq!(
        (dose(&first)["number"].clone(), dose(&first)["status"].clone()),
        (1.into(), "missed".into()),
        "{}",
        own.body
    );
    let later = dose(&second);
    assert_eq!(later["status"], "booked_in_window", "{}", own.body);
}

#[tokio::test]
async fn the_list_follows_every_change_to_the_integration_session_and_the_doses() {
    let app = spawn_app().await;
    let (c, client, course) = one_course(&app).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let dose = completed_dose_visit(&app, &c, &client, &course, -30).await;
    let session = book_integration(&app, &coordinator, &c, &client, 20).await;
    assert!(unbooked_of(&app, &coordinator, &client).await.is_empty());
    let listed_dose = || async {
        unbooked_of(&app, &coordinator, &client).await.iter().map(|d| d["encounter_id"].clone()).collect::<Vec<_>>()
    };

    let move_to = |start_h: i64| {
        let (path, body) = (
            format!("/api/v1/encounters/{session}"),
            json!({ "scheduled_start": at(start_h), "scheduled_end": at(start_h + 1) }),
        );
        let (app, token) = (&app, &coordinator);
        async move {
            let r = app.put(&path, token, body).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    };
    // Moved to before the dose: it no longer integrates it.
    move_to(-40).await;
    assert_eq!(listed_dose().await, vec![Value::from(dose.clone())]);
    // Moved back after it: off the list again.
    move_to(30).await;
    assert!(listed_dose().await.is_empty());
    // Cancelled: the dose waits again.
    let r = app
        .post(
            &format!("/api/v1/encounters/{session}/status"),
            &coordinator,
            json!({ "status": "cancelled", "reason": "client unwell" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(listed_dose().await, vec![Value::from(dose.clone())]);
    // A later dose takes its place, numbered in the course.
    let second = completed_dose_visit(&app, &c, &client, &course, -14).await;
    let listed = unbooked_of(&app, &coordinator, &client).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0]["encounter_id"].clone(), listed[0]["number"].clone()), (Value::from(second), Value::from(2)));
    // A session the client missed does not integrate it either.
    let missed = book_integration(&app, &coordinator, &c, &client, 8).await;
    assert!(listed_dose().await.is_empty());
    let r = app.post(&format!("/api/v1/encounters/{missed}/status"), &c.nurse, json!({ "status": "no_show" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(listed_dose().await.len(), 1);
}
