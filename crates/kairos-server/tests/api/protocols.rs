//! The protocol library through the API and its pages.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn the_protocol_library_cites_the_real_papers_and_shows_weaknesses_and_a_plan() {
    let app = spawn_app().await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let r = app.get("/api/v1/protocols", &coordinator).await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.body.as_array().expect("list");
    assert!(list.len() >= 7, "{}", list.len());
    let wet = list.iter().find(|p| p["id"] == "ketamine_wet_ptsd").expect("Feder protocol");
    assert!(wet["citation"].as_str().unwrap_or("").contains("Feder"), "{}", wet["citation"]);
    assert!(!wet["citation"].as_str().unwrap_or("").contains("Wilkinson"), "not the mis-cited author");
    assert_eq!(wet["doses"]["count"], 6);
    assert!(wet["sessions"].as_array().is_some_and(|s| !s.is_empty()));
    let review = app.get("/api/v1/protocols/ketamine_weekly_psychotherapy", &coordinator).await;
    assert_eq!(review.body["evidence"][0]["design"], "retrospective_chart_review");
    assert_eq!(app.get("/api/v1/protocols/nope", &coordinator).await.status, StatusCode::NOT_FOUND);

    let (email, _) = app.add_staff(&[Role::Therapist]).await;
    let web = web_session(&app, &email).await;
    let html = web
        .get(format!("{}/protocols/ketamine_wet_ptsd", app.base))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("Weaknesses") && html.contains("Sample plan") && html.contains("non-dosing days only"),
        "{html}"
    );
    let html = web.get(format!("{}/protocols", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("retrospective chart review (not a trial)"));
}

#[tokio::test]
async fn a_prescriber_plans_a_course_from_the_feder_protocol_and_a_move_outside_its_window_shows_as_a_deviation() {
    let app = spawn_app().await;
    let (prescriber_email, _) = app.add_staff(&[Role::Prescriber]).await;
    let prescriber = app.login(&prescriber_email, PASSWORD).await;
    let nurse = app.token_for(Role::Nurse).await;
    let client = app.create_client(&prescriber, "Wes", "Plan").await;
    let course = |protocol: &str| json!({ "protocol": protocol, "started_on": "2026-11-02" });
    let r = app.post(&format!("/api/v1/clients/{client}/courses"), &prescriber, course("our-own-protocol")).await;
    let other = r.body["id"].as_str().expect("course").to_string();
    let r = app
        .post(&format!("/api/v1/courses/{other}/plan"), &prescriber, json!({ "first_dose_at": "2030-03-04T15:00:00Z" }))
        .await;
    assert_eq!(r.problem_field(), Some("protocol"), "only library protocols can be planned");

    let r = app.post(&format!("/api/v1/clients/{client}/courses"), &prescriber, course("ketamine_wet_ptsd")).await;
    let id = r.body["id"].as_str().expect("course").to_string();
    let plan_path = format!("/api/v1/courses/{id}/plan");
    assert_eq!(
        app.post(&plan_path, &nurse, json!({ "first_dose_at": "2030-03-04T15:00:00Z" })).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.post(&plan_path, &prescriber, json!({ "first_dose_at": "2030-03-04T15:00:00Z" })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let items = r.body["items"].as_array().expect("items").clone();
    let doses: Vec<&Value> = items.iter().filter(|i| i["kind"] == "dose").collect();
    let wet: Vec<&Value> = items.iter().filter(|i| i["kind"] == "wet").collect();
    assert_eq!((doses.len(), wet.len()), (6, 5));
    let day = |v: &Value| v["when"].as_str().unwrap_or("")[..10].to_string();
    let dose_days: Vec<String> = doses.iter().map(|d| day(d)).collect();
    let first: jiff::Timestamp = doses[0]["when"].as_str().expect("when").parse().expect("ts");
    let last: jiff::Timestamp = doses[5]["when"].as_str().expect("when").parse().expect("ts");
    assert!(last.duration_since(first) <= jiff::SignedDuration::from_hours(14 * 24), "six infusions within 14 days");
    let fourth: jiff::Timestamp = doses[3]["when"].as_str().expect("when").parse().expect("ts");
    for w in &wet {
        let t: jiff::Timestamp = w["when"].as_str().expect("when").parse().expect("ts");
        assert!(t > fourth, "WET only after infusion 4");
        assert!(!dose_days.contains(&day(w)), "WET on a non-infusion day: {}", day(w));
    }
    assert_eq!(r.body["deviations"], 0);
    assert_eq!(
        app.post(&plan_path, &prescriber, json!({ "first_dose_at": "2030-03-04T15:00:00Z" })).await.status,
        StatusCode::CONFLICT
    );

    // Moving a dose a month later is allowed but flagged; the reason is kept.
    let dose2 = doses[1]["id"].as_str().expect("id");
    let moved = format!("/api/v1/planned-items/{dose2}/move");
    assert_eq!(
        app.post(&moved, &prescriber, json!({ "to": "2030-04-10T15:00:00Z", "reason": " " })).await.problem_field(),
        Some("reason")
    );
    let r = app.post(&moved, &prescriber, json!({ "to": "2030-04-10T15:00:00Z", "reason": "Client travelling" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["deviates"], true);
    let plan = app.get(&plan_path, &nurse).await;
    assert_eq!(plan.body["deviations"], 1);

    let web = web_session(&app, &prescriber_email).await;
    let chart =
        web.get(format!("{}/clients/{client}", app.base)).send().await.expect("chart").text().await.expect("html");
    assert!(chart.contains("Plan: ") && chart.contains("deviation") && chart.contains("Client travelling"));
}
