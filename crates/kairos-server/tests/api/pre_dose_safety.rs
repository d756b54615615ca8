//! Before a dose, the client's open self-harm alerts are shown on the start
//! form and reviewed with the client: the start is refused without the
//! review at either door, and the review acknowledges each alert.

use crate::helpers::*;
use crate::ledger::{clinic, start_with_stock};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn an_open_self_harm_alert_is_reviewed_before_the_dose_at_both_doors() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "apa_iv_induction").await;
    let client = &c.clients[0];
    // Last night's PHQ-9: item 9 answered "several days".
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/measures"),
            &c.nurse,
            json!({ "instrument": "phq9", "answers": [2, 2, 1, 1, 1, 1, 1, 0, 1] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let alert = r.body["alerts"][0]["id"].as_str().expect("alert").to_string();
    assert_eq!(r.body["alerts"][0]["self_harm"], true, "{}", r.body);

    // The API: refused without the review, naming the field and the alert.
    let path = format!("/api/v1/encounters/{}/dosing-session", c.encounters[0]);
    let r = app.post(&path, &c.nurse, start_with_stock(&c.stock, None)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "self_harm_review", "{}", r.body);
    let detail = r.body["detail"].as_str().expect("detail");
    assert!(detail.contains("1 open self-harm alert") && detail.contains("answer 1"), "{detail}");
    assert_eq!(
        app.get(&format!("/api/v1/dosing-sessions?encounter_id={}", c.encounters[0]), &c.nurse)
            .await
            .body
            .as_array()
            .map(Vec::len)
            .unwrap_or(0),
        0
    );

    // The start form shows it, with the review to write.
    let web = web_session(&app, &c.nurse_email).await;
    let form = format!("{}/encounters/{}/dosing", app.base, c.encounters[0]);
    let html = web.get(&form).send().await.expect("form").text().await.expect("html");
    assert!(html.contains("Open self-harm alert: review with the client before the dose"), "{html}");
    assert!(html.contains("name=\"self_harm_review\""), "{html}");
    // Sent from the page without the review: the same refusal, on the page.
    let fields = [
        ("ride_home_arranged", "yes"),
        ("no_driving_agreed", "yes"),
        ("pregnancy_test", "not_applicable"),
        ("pre_dose_note", "asked aloud at the chair: no thoughts of self-harm"),
        ("mood_check", "steady"),
        ("systolic", "124"),
        ("diastolic", "80"),
        ("heart_rate", "72"),
        ("spo2", "98"),
        ("weight_kg", "70"),
        ("stock_id", c.stock.as_str()),
    ];
    let r = web.post(&form).form(&fields).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("html");
    assert!(html.contains("open self-harm alert") && html.contains("say what was done"), "{html}");

    // Reviewed: the dose starts and the alert is acknowledged with the review.
    let review = "Passive thoughts, no plan or intent; safety plan reviewed; Dr. on site agrees to proceed.";
    let mut fields = fields.to_vec();
    fields.push(("self_harm_review", review));
    let r = web.post(&form).form(&fields).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap_or_default());
    let alerts = app.get(&format!("/api/v1/clients/{client}/measures"), &c.nurse).await;
    let acked: Vec<&Value> = alerts
        .body
        .as_array()
        .expect("measures")
        .iter()
        .flat_map(|m| m["alerts"].as_array().into_iter().flatten())
        .filter(|a| a["id"] == alert.as_str())
        .collect();
    assert_eq!(acked.len(), 1, "{}", alerts.body);
    let note = acked[0]["action_note"].as_str().expect("acknowledged");
    assert!(acked[0]["acknowledged_by"].is_string(), "{}", acked[0]);
    assert_eq!(note, format!("Reviewed before the dose: {review}"));
    assert_eq!(app.get("/api/v1/alerts", &c.prescriber).await.body, json!([]), "no alert left open");
}

#[tokio::test]
async fn a_review_with_no_open_self_harm_alert_is_refused_not_dropped() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "apa_iv_induction").await;
    let mut body = start_with_stock(&c.stock, None);
    body["self_harm_review"] = json!("reviewed");
    let r = app.post(&format!("/api/v1/encounters/{}/dosing-session", c.encounters[0]), &c.nurse, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["field"], "self_harm_review");
}

#[tokio::test]
async fn the_start_form_shows_the_pre_dose_safety_check_for_this_dose_answered_or_not() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "apa_iv_induction").await;
    let client = &c.clients[0];
    let web = web_session(&app, &c.nurse_email).await;
    let form = format!("{}/encounters/{}/dosing", app.base, c.encounters[0]);
    // Not answered: the form says so, with where to record it.
    let html = web.get(&form).send().await.expect("form").text().await.expect("html");
    assert!(html.contains("<strong>Safety check</strong>: not answered for this dose"), "{html}");
    assert!(html.contains(&format!("/clients/{client}#measures-h")), "{html}");
    // An answer from two days ago is not this dose's: its window is 24 h.
    let path = format!("/api/v1/clients/{client}/measures");
    let record = |completed_at: Option<String>| {
        let mut body = json!({ "instrument": "safety_check", "answers": [0] });
        if let Some(at) = completed_at {
            body["completed_at"] = json!(at);
        }
        app.post(&path, &c.nurse, body)
    };
    let r = record(Some((jiff::Timestamp::now() - jiff::SignedDuration::from_hours(48)).to_string())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let html = web.get(&form).send().await.expect("form").text().await.expect("html");
    assert!(html.contains("not answered for this dose"), "{html}");
    // Answered "No" this morning: the answer and its time, no alert.
    let r = record(None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let html = web.get(&form).send().await.expect("form").text().await.expect("html");
    assert!(html.contains("<strong>Safety check</strong>: No · "), "{html}");
    assert!(!html.contains("not answered for this dose"), "{html}");
}

#[tokio::test]
async fn an_intranasal_dose_waits_for_the_nasal_medicine_confirmation_and_spo2_at_both_doors() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "esketamine_label").await;
    let path = format!("/api/v1/encounters/{}/dosing-session", c.encounters[0]);
    let mut body = start_with_stock(&c.stock, None);
    body["checklist"]["nasal_medicines_clear"] = json!(false);
    let r = app.post(&path, &c.nurse, body.clone()).await;
    assert_eq!(r.body["field"], "checklist.nasal_medicines_clear", "{}", r.body);
    let said = r.body["detail"].as_str().expect("detail").to_string();
    assert!(said.contains("60 minutes"), "{said}");
    body["checklist"]["nasal_medicines_clear"] = json!(true);
    body["pre_vitals"].as_object_mut().expect("vitals").remove("spo2");
    let r = app.post(&path, &c.nurse, body).await;
    assert_eq!(r.body["field"], "pre_vitals.spo2", "{}", r.body);
    // The form shows the label's rules, each required.
    let web = web_session(&app, &c.nurse_email).await;
    let form = format!("{}/encounters/{}/dosing", app.base, c.encounters[0]);
    let html = web.get(&form).send().await.expect("form").text().await.expect("html");
    assert!(html.contains("no food for 2 h and no liquids for 30 min before the dose"), "{html}");
    assert!(html.contains("No nasal corticosteroid or decongestant in the last 60 minutes"), "{html}");
    assert!(html.contains("SpO2 (%), required by the protocol"), "{html}");
    // Sent from the page without the nasal confirmation: the same refusal.
    let fields = [
        ("fasting_confirmed", "yes"),
        ("ride_home_arranged", "yes"),
        ("no_driving_agreed", "yes"),
        ("pregnancy_test", "not_applicable"),
        ("pre_dose_note", "asked aloud at the chair: no thoughts of self-harm"),
        ("mood_check", "steady"),
        ("systolic", "124"),
        ("diastolic", "80"),
        ("heart_rate", "72"),
        ("spo2", "98"),
        ("dose_mg", "56"),
        ("stock_id", c.stock.as_str()),
    ];
    let r = web.post(&form).form(&fields).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("html");
    let same =
        "Confirm no nasal corticosteroid or decongestant was taken in the 60 minutes before this intranasal dose";
    assert!(said.starts_with(same) && html.contains(same), "the same words at both doors: {said}\n{html}");
}

#[tokio::test]
async fn an_unanswered_pre_dose_safety_check_needs_a_note_at_both_doors_and_an_answered_one_none() {
    let app = spawn_app().await;
    let c = clinic(&app, 2, "apa_iv_induction").await;
    let path = |i: usize| format!("/api/v1/encounters/{}/dosing-session", c.encounters[i]);
    let mut body = start_with_stock(&c.stock, None);
    body["checklist"].as_object_mut().expect("checklist").remove("pre_dose_note");
    // The API: refused, naming the note and the questionnaire.
    let r = app.post(&path(0), &c.nurse, body.clone()).await;
    assert_eq!((r.status, r.problem_field()), (StatusCode::UNPROCESSABLE_ENTITY, Some("checklist.pre_dose_note")));
    let said = r.body["detail"].as_str().expect("detail").to_string();
    assert!(said.starts_with("Safety check is not answered for this dose"), "{said}");
    // The form: the note's field is shown, and the same words refuse it.
    let web = web_session(&app, &c.nurse_email).await;
    let form = format!("{}/encounters/{}/dosing", app.base, c.encounters[0]);
    let html = web.get(&form).send().await.expect("form").text().await.expect("html");
    assert!(html.contains("name=\"pre_dose_note\""), "{html}");
    let mut fields = vec![
        ("ride_home_arranged", "yes"),
        ("no_driving_agreed", "yes"),
        ("pregnancy_test", "not_applicable"),
        ("mood_check", "steady"),
        ("systolic", "124"),
        ("diastolic", "80"),
        ("heart_rate", "72"),
        ("spo2", "98"),
        ("weight_kg", "70"),
        ("stock_id", c.stock.as_str()),
    ];
    let r = web.post(&form).form(&fields).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("html");
    assert!(html.contains("data-field=\"checklist.pre_dose_note\"") && html.contains(&said), "{said}\n{html}");
    // With the note the dose starts, and the note is kept with the checklist.
    let note = "Tablet out of charge; asked aloud: no thoughts of self-harm, feels safe";
    fields.push(("pre_dose_note", note));
    let r = web.post(&form).form(&fields).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session = r.headers()["location"].to_str().expect("location").to_string();
    let s = app.get(&format!("/api/v1{session}"), &c.nurse).await;
    assert_eq!(s.body["checklist"]["pre_dose_note"], note, "{}", s.body);
    let page = web.get(format!("{}{session}", app.base)).send().await.expect("page").text().await.expect("html");
    assert!(page.contains(&format!("Pre-dose questionnaire not answered: {note}")), "{page}");
    // The second client answered the check this morning: no note is needed.
    let r = app
        .post(
            &format!("/api/v1/clients/{}/measures", c.clients[1]),
            &c.nurse,
            json!({ "instrument": "safety_check", "answers": [0] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.post(&path(1), &c.nurse, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}
