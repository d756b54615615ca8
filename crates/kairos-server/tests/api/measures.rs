//! Questionnaires through the API and the client's link: scoring, refusal
//! of bad answers, safety alerts and who sees them, entered-in-error, and
//! single-use, expiring, idempotent self-report links.

use crate::helpers::*;
use kairos_domain::roles::Role;
use kairos_server::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn phq9(items: [i64; 9]) -> Value {
    let mut answers: Vec<Value> = items.iter().map(|v| json!(v)).collect();
    answers.push(json!(1));
    json!({ "instrument": "phq9", "answers": answers })
}

async fn measures_of(app: &TestApp, token: &str, client: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/clients/{client}/measures"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body.as_array().expect("list").clone()
}

#[tokio::test]
async fn a_phq9_is_scored_stored_and_listed_with_its_alert() {
    let app = spawn_app().await;
    let therapist = app.token_for(Role::Therapist).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let client = app.create_client(&therapist, "Ada", "Quill").await;

    let r =
        app.post(&format!("/api/v1/clients/{client}/measures"), &therapist, phq9([2, 2, 1, 2, 1, 1, 1, 0, 1])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["score"], 11);
    assert_eq!(r.body["severity"], "moderate");
    assert_eq!(r.body["prorated"], false);
    assert_eq!(r.body["source"], "clinician");
    let alerts = r.body["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["item"], "9");
    assert_eq!(alerts[0]["level"], "urgent");

    let list = measures_of(&app, &therapist, &client).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], r.body["id"]);
    assert_eq!(list[0]["alerts"][0]["id"], alerts[0]["id"]);
    let only = app.get(&format!("/api/v1/clients/{client}/measures?instrument=gad7"), &therapist).await;
    assert_eq!(only.body, json!([]));

    // No course yet, so no assigned clinician: every clinician sees the alert.
    let open = app.get("/api/v1/alerts", &therapist).await;
    assert_eq!(open.body.as_array().map(Vec::len), Some(1), "{}", open.body);
    assert_eq!(open.body[0]["client_name"], "Ada Quill");

    // Scores are clinical: a coordinator neither reads nor records them.
    assert_eq!(
        app.get(&format!("/api/v1/clients/{client}/measures"), &coordinator).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.post(&format!("/api/v1/clients/{client}/measures"), &coordinator, phq9([0; 9])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/alerts", &coordinator).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_answers_are_refused_naming_the_item_and_nothing_is_stored() {
    let app = spawn_app().await;
    let nurse = app.token_for(Role::Nurse).await;
    let client = app.create_client(&nurse, "Ben", "Arroyo").await;
    let path = format!("/api/v1/clients/{client}/measures");

    let r = app.post(&path, &nurse, phq9([0, 0, 0, 4, 0, 0, 0, 0, 0])).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.problem_field(), Some("answers[3]"));
    assert!(r.body["detail"].as_str().unwrap_or("").contains("Item 4: 4 is not one of 0, 1, 2, 3"), "{}", r.body);

    let mut body = phq9([1; 9]);
    body["answers"][8] = Value::Null;
    let r = app.post(&path, &nurse, body).await;
    assert_eq!(r.problem_field(), Some("answers[8]"), "item 9 is never prorated");

    // Item 10 (difficulty, unscored) may be left off; item 9 may not.
    let r = app.post(&path, &nurse, json!({ "instrument": "phq9", "answers": [2, 1, 2, 1, 0, 1, 1, 0, 0] })).await;
    assert_eq!((r.status, r.body["score"].as_i64()), (StatusCode::CREATED, Some(8)), "{}", r.body);
    let r = app.post(&path, &nurse, json!({ "instrument": "phq9", "answers": [2, 1, 2, 1, 0, 1, 1, 0] })).await;
    assert_eq!(r.problem_field(), Some("answers"));
    let r = app.post(&path, &nurse, json!({ "instrument": "phq99", "answers": [] })).await;
    assert_eq!(r.problem_field(), Some("instrument"));
    let r = app.post(&path, &nurse, json!({ "instrument": "phq9" })).await;
    assert_eq!(r.problem_field(), Some("answers"));
    let r = app.post(&path, &nurse, json!({ "instrument": "phq9", "total": 12 })).await;
    assert_eq!(r.problem_field(), Some("total"), "PHQ-9 is scored from its items");
    let mut future = phq9([0; 9]);
    future["completed_at"] = json!("2999-01-01T00:00:00Z");
    assert_eq!(app.post(&path, &nurse, future).await.problem_field(), Some("completed_at"));
    assert_eq!(measures_of(&app, &nurse, &client).await.len(), 1, "only the nine-answer PHQ-9 was stored");

    // Score-only instruments take a total, with their safety item (MADRS
    // item 10: suicidal thoughts); the range is checked.
    let item10 = |v: i64| json!([null, null, null, null, null, null, null, null, null, v]);
    let r = app.post(&path, &nurse, json!({ "instrument": "madrs", "total": 61, "answers": item10(0) })).await;
    assert_eq!(r.problem_field(), Some("total"));
    let r = app.post(&path, &nurse, json!({ "instrument": "madrs", "total": 22 })).await;
    assert_eq!(r.problem_field(), Some("answers[9]"), "a MADRS total without item 10: {}", r.body);
    let r = app.post(&path, &nurse, json!({ "instrument": "madrs", "total": 22, "answers": item10(1) })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["severity"], "moderate");
    assert_eq!(r.body["answers"], item10(1));
    assert_eq!(r.body["alerts"], json!([]));
    // A CADSS-6 total has no safety item: alone, as before.
    let r = app.post(&path, &nurse, json!({ "instrument": "cadss6", "total": 9 })).await;
    assert_eq!((r.status, r.body["answers"].clone()), (StatusCode::CREATED, Value::Null), "{}", r.body);
}

#[tokio::test]
async fn alerts_reach_the_assigned_clinicians_and_stay_until_acknowledged_with_a_note() {
    let app = spawn_app().await;
    let (_, prescriber_id) = app.add_staff(&[Role::Prescriber]).await;
    let (therapist_email, therapist_id) = app.add_staff(&[Role::Therapist]).await;
    let prescriber = app.token_for(Role::Prescriber).await;
    let therapist = app.login(&therapist_email, PASSWORD).await;
    let other_therapist = app.token_for(Role::Therapist).await;
    let director = app.token_for(Role::Director).await;
    let client = app.create_client(&therapist, "Cleo", "Marsh").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/courses"),
            &prescriber,
            json!({ "protocol": "apa-iv-induction", "started_on": "2026-11-01",
                    "prescriber_id": prescriber_id.to_string(), "therapist_id": therapist_id.to_string() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let r =
        app.post(&format!("/api/v1/clients/{client}/measures"), &therapist, phq9([0, 0, 0, 0, 0, 0, 0, 0, 2])).await;
    let alert = r.body["alerts"][0]["id"].as_str().expect("alert").to_string();
    let sees = |body: &Value| body.as_array().is_some_and(|a| a.iter().any(|x| x["id"] == alert.as_str()));
    assert!(sees(&app.get("/api/v1/alerts", &therapist).await.body), "the client's therapist sees it");
    assert!(sees(&app.get("/api/v1/alerts", &director).await.body), "the director sees every alert");
    assert!(!sees(&app.get("/api/v1/alerts", &other_therapist).await.body), "another therapist's list stays clear");

    let ack = format!("/api/v1/alerts/{alert}/acknowledge");
    let r = app.post(&ack, &therapist, json!({ "action_note": "   " })).await;
    assert_eq!(r.problem_field(), Some("action_note"));
    assert!(sees(&app.get("/api/v1/alerts", &therapist).await.body), "still open");
    let r = app.post(&ack, &therapist, json!({ "action_note": "Called Cleo; safety plan reviewed; no intent." })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["acknowledged_by"], therapist_id.to_string());
    let r = app.post(&ack, &prescriber, json!({ "action_note": "again" })).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(!sees(&app.get("/api/v1/alerts", &therapist).await.body));
    // The alert stays on the administration, acknowledged.
    let list = measures_of(&app, &therapist, &client).await;
    assert_eq!(list[0]["alerts"][0]["action_note"], "Called Cleo; safety plan reviewed; no intent.");
}

#[tokio::test]
async fn unacknowledged_alerts_escalate_after_the_configured_time() {
    let app = spawn_app_with(Config { alert_escalation: jiff::SignedDuration::ZERO, ..test_config() }).await;
    let nurse = app.token_for(Role::Nurse).await;
    let client = app.create_client(&nurse, "Dev", "Okafor").await;
    app.post(&format!("/api/v1/clients/{client}/measures"), &nurse, phq9([0, 0, 0, 0, 0, 0, 0, 0, 1])).await;
    let open = app.get("/api/v1/alerts", &nurse).await;
    assert_eq!(open.body[0]["escalated"], true, "{}", open.body);

    let app = spawn_app().await;
    let nurse = app.token_for(Role::Nurse).await;
    let client = app.create_client(&nurse, "Dev", "Okafor").await;
    app.post(&format!("/api/v1/clients/{client}/measures"), &nurse, phq9([0, 0, 0, 0, 0, 0, 0, 0, 1])).await;
    assert_eq!(app.get("/api/v1/alerts", &nurse).await.body[0]["escalated"], false, "not before 4 h");
}

#[tokio::test]
async fn an_entry_made_in_error_is_kept_marked_once_with_its_reason() {
    let app = spawn_app().await;
    let therapist = app.token_for(Role::Therapist).await;
    let client = app.create_client(&therapist, "Eli", "Brandt").await;
    let r = app.post(&format!("/api/v1/clients/{client}/measures"), &therapist, phq9([1; 9])).await;
    let id = r.body["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/measures/{id}/entered-in-error");
    assert_eq!(app.post(&path, &therapist, json!({ "reason": "" })).await.problem_field(), Some("reason"));
    let r = app.post(&path, &therapist, json!({ "reason": "entered for the wrong client" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["entered_in_error"], true);
    assert_eq!(r.body["score"], 9, "the original entry is kept as it was");
    assert_eq!(app.post(&path, &therapist, json!({ "reason": "again" })).await.status, StatusCode::CONFLICT);
    let list = measures_of(&app, &therapist, &client).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["error_reason"], "entered for the wrong client");
}

/// Posts the link's form as a phone would.
async fn submit(app: &TestApp, url: &str, key: &str, answers: &[i64]) -> (StatusCode, String) {
    let mut form: Vec<(String, String)> = vec![("key".into(), key.into())];
    for (n, v) in answers.iter().enumerate() {
        form.push((format!("item_{n}"), v.to_string()));
    }
    let res = app.api.post(format!("{}{url}", app.base)).form(&form).send().await.expect("post");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

#[tokio::test]
async fn a_self_report_link_is_single_use_idempotent_on_retry_and_tells_the_client_what_to_do_now() {
    let app = spawn_app().await;
    let therapist = app.token_for(Role::Therapist).await;
    let client = app.create_client(&therapist, "Fay", "Lund").await;
    let other = app.create_client(&therapist, "Gus", "Penn").await;
    let r = app
        .post(&format!("/api/v1/clients/{client}/measure-requests"), &therapist, json!({ "instrument": "phq9" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let url = r.body["url"].as_str().expect("url").to_string();
    assert!(url.starts_with("/r/"), "{url}");

    let page = app.api.get(format!("{}{url}", app.base)).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.expect("html");
    assert!(html.contains("Thoughts that you would be better off dead"));
    assert!(html.contains("call <strong>911</strong>"), "crisis help is on the form itself");
    assert!(!html.contains("Fay") && !html.contains("Lund"), "the page shows no name");

    let (status, html) = submit(&app, &url, "key-1", &[1, 1, 1, 1, 1, 1, 1, 1, 1, 0]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Please read this now"), "item 9 endorsed: crisis steps first");
    assert!(html.contains("nobody may be reading them right now"));
    assert!(html.contains("You told us you have had thoughts that you would be better off dead"), "{html}");

    // A retry of the same submission (lost response) is stored once.
    let (status, html) = submit(&app, &url, "key-1", &[1, 1, 1, 1, 1, 1, 1, 1, 1, 0]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Thank you"));
    let list = measures_of(&app, &therapist, &client).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["source"], "self_report");
    assert_eq!(list[0]["score"], 9);
    assert_eq!(list[0]["alerts"][0]["level"], "urgent");

    // Any other use of a submitted link is refused and changes nothing.
    let (status, _) = submit(&app, &url, "key-2", &[0; 10]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(measures_of(&app, &therapist, &client).await.len(), 1);
    assert!(measures_of(&app, &therapist, &other).await.is_empty(), "nothing lands on another client");

    // A token that was never issued opens nothing.
    let (status, _) = submit(&app, "/r/not-a-real-token", "k", &[0; 10]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_crisis_page_says_what_the_client_reported_in_the_words_of_the_item_they_answered() {
    let app = spawn_app().await;
    let therapist = app.token_for(Role::Therapist).await;
    let client = app.create_client(&therapist, "Ines", "Ward").await;
    async fn link(app: &TestApp, token: &str, client: &str) -> String {
        let path = format!("/api/v1/clients/{client}/measure-requests");
        let r = app.post(&path, token, json!({ "instrument": "qids_sr16" })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["url"].as_str().expect("url").to_string()
    }
    // QIDS-SR16 item 12 (the 12th answer) at 2: thoughts of suicide or
    // death several times a week. Its own wording, not the PHQ-9's.
    let mut answers = [1i64; 16];
    answers[11] = 2;
    let (status, html) = submit(&app, &link(&app, &therapist, &client).await, "k-1", &answers).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Please read this now"), "{html}");
    assert!(html.contains("You told us you have been thinking about suicide or death"), "{html}");
    assert!(!html.contains("better off dead"), "{html}");
    // Item 12 at 1 (life feels empty): review level, still the crisis steps, in its words.
    answers[11] = 1;
    let (_, html) = submit(&app, &link(&app, &therapist, &client).await, "k-2", &answers).await;
    assert!(html.contains("You told us life feels empty or not worth living"), "{html}");
    // The alert list holds one alert per administration: the urgent one for the first.
    let levels: Vec<(usize, String)> = measures_of(&app, &therapist, &client)
        .await
        .iter()
        .map(|m| {
            (m["alerts"].as_array().expect("alerts").len(), m["alerts"][0]["level"].as_str().unwrap_or("").to_string())
        })
        .collect();
    assert_eq!(levels.len(), 2, "{levels:?}");
    assert!(levels.contains(&(1, "urgent".into())) && levels.contains(&(1, "review".into())), "{levels:?}");
    // No self-harm answer: the thank-you page with the plain crisis box.
    answers[11] = 0;
    let (_, html) = submit(&app, &link(&app, &therapist, &client).await, "k-3", &answers).await;
    assert!(!html.contains("Please read this now") && html.contains("Need help now?"), "{html}");
}

#[tokio::test]
async fn an_expired_link_is_refused_and_incomplete_answers_are_asked_for_again() {
    let app = spawn_app().await;
    let therapist = app.token_for(Role::Therapist).await;
    let client = app.create_client(&therapist, "Hal", "Ibsen").await;
    let client_id = client.parse().expect("id");
    let actor = kairos_store::Actor::system("test");
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1);
    app.store.create_measure_request(&actor, client_id, None, "gad7", "expired-token-0001", past).await.expect("link");
    let res = app.api.get(format!("{}/r/expired-token-0001", app.base)).send().await.expect("get");
    assert_eq!(res.status(), StatusCode::GONE);
    let (status, _) = submit(&app, "/r/expired-token-0001", "k", &[0; 8]).await;
    assert_eq!(status, StatusCode::GONE);

    let future = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    app.store.create_measure_request(&actor, client_id, None, "gad7", "open-token-00001", future).await.expect("link");
    // Two of seven GAD-7 items unanswered: more than its prorating allows.
    let (status, html) = submit(&app, "/r/open-token-00001", "k", &[1, 1, 1, 1, 1]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Please answer question 6, 7"), "{html}");
    assert!(measures_of(&app, &therapist, &client).await.is_empty());
    let r = app
        .post(&format!("/api/v1/clients/{client}/measure-requests"), &therapist, json!({ "instrument": "madrs" }))
        .await;
    assert_eq!(r.problem_field(), Some("instrument"), "score-only instruments are never sent to clients");
}

fn ago(days: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days)).to_string()
}

async fn record_at(app: &TestApp, token: &str, client: &str, items: [i64; 9], days_ago: i64) -> Value {
    let mut body = phq9(items);
    body["completed_at"] = json!(ago(days_ago));
    let r = app.post(&format!("/api/v1/clients/{client}/measures"), token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

#[tokio::test]
async fn a_clients_outcomes_follow_the_instrument_rules_and_leave_out_entries_in_error() {
    let app = spawn_app().await;
    let therapist = app.token_for(Role::Therapist).await;
    let client = app.create_client(&therapist, "Ivy", "Moss").await;
    record_at(&app, &therapist, &client, [3, 3, 2, 2, 2, 2, 2, 2, 0], 40).await; // 18: baseline
    let wrong = record_at(&app, &therapist, &client, [0; 9], 20).await; // 0: entered in error below
    record_at(&app, &therapist, &client, [1, 1, 1, 1, 1, 1, 1, 1, 0], 10).await; // 8
    let id = wrong["id"].as_str().expect("id");
    app.post(&format!("/api/v1/measures/{id}/entered-in-error"), &therapist, json!({ "reason": "wrong client" })).await;

    let r = app.get(&format!("/api/v1/clients/{client}/outcomes"), &therapist).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let phq = r.body.as_array().and_then(|a| a.iter().find(|o| o["instrument"] == "phq9")).expect("phq9").clone();
    assert_eq!(phq["scores"], 2, "the entry made in error is not counted");
    let t = &phq["trajectory"];
    assert_eq!(t["baseline"][1], 18.0);
    assert_eq!(t["latest"][1], 8.0);
    assert_eq!(t["change"], -10.0);
    // 10 of 18 is a 56 % drop: response (>= 50 %); 8 is not remission (<= 4);
    // a 10-point drop is reliable (PHQ-9: 6 points).
    assert_eq!(t["in_response"], true);
    assert_eq!(t["in_remission"], false);
    assert_eq!(t["reliable_change"], "improved");
    assert_eq!(phq["rules_confirmed"], false, "PHQ-9 response and remission rules are unconfirmed defaults");
}

#[tokio::test]
async fn practice_outcomes_are_for_the_director_and_count_assessable_courses() {
    let app = spawn_app().await;
    let (_, prescriber_id) = app.add_staff(&[Role::Prescriber]).await;
    let prescriber = app.token_for(Role::Prescriber).await;
    let therapist = app.token_for(Role::Therapist).await;
    let director = app.token_for(Role::Director).await;
    let started =
        (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 45)).to_zoned(jiff::tz::TimeZone::UTC).date();
    for (name, later) in [("Jo", [0, 0, 1, 1, 1, 1, 1, 1, 0]), ("Kit", [2, 2, 2, 2, 2, 2, 2, 2, 0]), ("Lu", [0; 9])] {
        let client = app.create_client(&therapist, name, "Outcome").await;
        let r = app
            .post(
                &format!("/api/v1/clients/{client}/courses"),
                &prescriber,
                json!({ "protocol": "apa-iv-induction", "started_on": started.to_string(), "prescriber_id": prescriber_id.to_string() }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        record_at(&app, &therapist, &client, [3, 3, 2, 2, 2, 2, 2, 2, 0], 44).await; // baseline 18
        if name != "Lu" {
            record_at(&app, &therapist, &client, later, 5).await; // Jo 6: response; Kit 16: none
        }
    }
    assert_eq!(app.get("/api/v1/outcomes", &therapist).await.status, StatusCode::FORBIDDEN);
    let r = app.get("/api/v1/outcomes?instrument=phq9", &director).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let report = &r.body["report"];
    assert_eq!((report["courses"].as_u64(), report["assessable"].as_u64()), (Some(3), Some(2)));
    assert_eq!(report["overall"]["response"]["count"], 1);
    assert_eq!(report["overall"]["response"]["n"], 2);
    assert!(report["overall"]["response"]["lower"].as_f64().is_some_and(|l| l > 0.0 && l < 0.5));
    assert!(report["definitions"].as_array().is_some_and(|d| d.len() >= 5), "every figure is defined");
    let r = app.get("/api/v1/outcomes?from=2026-12-01&to=2026-01-01", &director).await;
    assert_eq!(r.problem_field(), Some("from"));
    let r = app.get("/api/v1/outcomes?instrument=cadss6", &director).await;
    assert_eq!(r.problem_field(), Some("instrument"), "no response rule, no outcome report");
}

#[tokio::test]
async fn questionnaires_due_follow_the_schedule_and_clear_when_answered() {
    let app = spawn_app().await;
    let (_, prescriber_id) = app.add_staff(&[Role::Prescriber]).await;
    let (therapist_email, therapist_id) = app.add_staff(&[Role::Therapist]).await;
    let prescriber = app.token_for(Role::Prescriber).await;
    let therapist = app.login(&therapist_email, PASSWORD).await;
    let client = app.create_client(&therapist, "Mo", "Due").await;
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/courses"),
            &prescriber,
            json!({ "protocol": "apa-iv-induction", "started_on": today.to_string(),
                    "prescriber_id": prescriber_id.to_string(), "therapist_id": therapist_id.to_string() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let due = |body: &Value| -> Vec<(String, String)> {
        body.as_array()
            .map(|a| {
                a.iter()
                    .map(|d| {
                        (
                            d["instrument"].as_str().unwrap_or("").to_string(),
                            d["label"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let r = app.get("/api/v1/measures/due", &therapist).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let baseline = |ids: &[&str]| ids.iter().map(|i| (i.to_string(), "baseline".to_string())).collect::<Vec<_>>();
    assert_eq!(due(&r.body), baseline(&["gad7", "phq9", "qids_sr16"]));
    // The page lists the client once, with one "send all due" for both.
    let web = web_session(&app, &therapist_email).await;
    let html = web.get(format!("{}/measures/due", app.base)).send().await.expect("due").text().await.expect("html");
    assert_eq!(html.matches("class=\"card due-client\"").count(), 1, "{html}");
    assert!(html.contains("3 questionnaires for 1 client"), "{html}");
    assert!(html.contains("Send all due as links (GAD-7, PHQ-9, QIDS-SR16)"), "{html}");
    let r = web
        .post(format!("{}/clients/{client}/links/due", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("instrument=gad7&instrument=phq9&instrument=gad7")
        .send()
        .await
        .expect("send all");
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    assert_eq!(html.matches("/r/").count(), 2, "one link per questionnaire: {html}");
    assert!(html.contains("GAD-7") && html.contains("PHQ-9"), "{html}");
    app.post(&format!("/api/v1/clients/{client}/measures"), &therapist, phq9([1; 9])).await;
    let r = app.get("/api/v1/measures/due", &therapist).await;
    assert_eq!(due(&r.body), baseline(&["gad7", "qids_sr16"]), "the PHQ-9 baseline is done");
    let r = app.get(&format!("/api/v1/clients/{client}/measure-schedule"), &therapist).await;
    let phq = r.body.as_array().and_then(|a| a.iter().find(|d| d["instrument"] == "phq9")).expect("phq9").clone();
    assert_eq!(phq["status"], "done");
    // Someone else's clients are not on this therapist's list.
    let other = app.token_for(Role::Therapist).await;
    assert_eq!(app.get("/api/v1/measures/due", &other).await.body, json!([]));
}

#[tokio::test]
async fn a_course_follows_its_protocols_measure_schedule() {
    let app = spawn_app().await;
    let (_, therapist_id) = app.add_staff(&[Role::Therapist]).await;
    let prescriber = app.token_for(Role::Prescriber).await;
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date().to_string();
    let mut baselines = Vec::new();
    for protocol in ["ketamine_wet_ptsd", "apa_iv_induction"] {
        let client = app.create_client(&prescriber, "Sched", protocol).await;
        let r = app
            .post(
                &format!("/api/v1/clients/{client}/courses"),
                &prescriber,
                json!({ "protocol": protocol, "started_on": today, "therapist_id": therapist_id.to_string() }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let r = app.get(&format!("/api/v1/clients/{client}/measure-schedule"), &prescriber).await;
        let mut due: Vec<String> = r
            .body
            .as_array()
            .expect("schedule")
            .iter()
            .filter(|d| d["label"] == "baseline")
            .filter_map(|d| d["instrument"].as_str().map(str::to_string))
            .collect();
        due.sort();
        baselines.push(due);
    }
    assert_eq!(baselines[0], ["pcl5", "phq9"], "Feder's PTSD course: the PCL-5 and PHQ-9 schedule");
    assert_eq!(baselines[1], ["gad7", "phq9", "qids_sr16"], "the APA course: the standard schedule");
}

#[tokio::test]
async fn the_outcome_alert_and_due_pages_render_for_their_roles() {
    let app = spawn_app().await;
    let (director_email, _) = app.add_staff(&[Role::Director]).await;
    let (therapist_email, _) = app.add_staff(&[Role::Therapist]).await;
    let director = web_session(&app, &director_email).await;
    let page = director.get(format!("{}/outcomes", app.base)).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("Time to relapse after the last induction dose") && html.contains("What is counted"));
    let (coordinator_email, _) = app.add_staff(&[Role::Coordinator]).await;
    let coordinator = web_session(&app, &coordinator_email).await;
    for path in ["/alerts", "/measures/due", "/outcomes"] {
        let r = coordinator.get(format!("{}{path}", app.base)).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "a coordinator sees no scores: {path}");
    }
    let therapist = web_session(&app, &therapist_email).await;
    for path in ["/alerts", "/measures/due"] {
        let r = therapist.get(format!("{}{path}", app.base)).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(
        therapist.get(format!("{}/outcomes", app.base)).send().await.expect("get").status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_clinician_records_a_score_only_scale_by_its_total_in_the_ui_and_sees_unconfirmed_rules_labelled() {
    let app = spawn_app().await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse = app.token_for(Role::Nurse).await;
    let client = app.create_client(&nurse, "Nia", "Stone").await;
    let web = web_session(&app, &nurse_email).await;
    let form =
        web.get(format!("{}/clients/{client}/measures/new?instrument=madrs", app.base)).send().await.expect("get");
    assert_eq!(form.status(), StatusCode::OK);
    let html = form.text().await.expect("html");
    assert!(html.contains("Apparent sadness") && html.contains("Or the total only (0-60), with item 10 rated above"));
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let (web, url) = (&web, format!("{}/clients/{client}/measures", app.base));
        async move { web.post(url).form(&fields).send().await.expect("post") }
    };
    // A total without item 10 (suicidal thoughts) is refused, and nothing is stored.
    let r = post(vec![("instrument", "madrs"), ("total", "27")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("html").contains("MADRS item 10 (Suicidal thoughts) must be rated with a total"));
    // Another item with a total is refused too: a total goes with the safety item only.
    let r = post(vec![("instrument", "madrs"), ("item_0", "2"), ("item_9", "1"), ("total", "20")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("html").contains("ith a total, give only the safety item 10"));
    assert!(measures_of(&app, &nurse, &client).await.is_empty(), "nothing stored");
    // The total with item 10 rated 4: stored, with the urgent alert.
    let r = post(vec![("instrument", "madrs"), ("item_9", "4"), ("total", "27")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let list = measures_of(&app, &nurse, &client).await;
    assert_eq!((list.len(), list[0]["score"].as_i64(), list[0]["severity"].as_str()), (1, Some(27), Some("moderate")));
    assert_eq!((list[0]["answers"][9].as_i64(), list[0]["answers"][0].is_null()), (Some(4), true), "{}", list[0]);
    assert_eq!(list[0]["alerts"][0]["item"], "10", "{}", list[0]);

    let page = web.get(format!("{}/instruments", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(page.contains("PHQ-9") && page.contains("unconfirmed default") && page.contains("Score entry only"));
}
