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
        ("mood_check", "steady"),
        ("systolic", "124"),
        ("diastolic", "80"),
        ("heart_rate", "72"),
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
