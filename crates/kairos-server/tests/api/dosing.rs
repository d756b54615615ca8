//! A dosing session charted through the API: checklist, the pre-dose hold
//! and a prescriber's override, the weight-based dose, vitals with alerts at
//! the thresholds, discharge no earlier than the monitoring time, signing.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn ago(mins: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(mins)).to_string()
}

/// An APA-protocol course with a signed eligible screen and a booked
/// dosing encounter at a UTC site: (prescriber token, encounter id).
async fn checked_in(app: &TestApp) -> (String, String) {
    booked_at(app, "UTC").await
}

/// The same at a site in time zone `tz`.
pub(crate) async fn booked_at(app: &TestApp, tz: &str) -> (String, String) {
    let admin = app.token_for(Role::Admin).await;
    let (email, _) = app.add_staff(&[Role::Prescriber]).await;
    let prescriber = app.login(&email, PASSWORD).await;
    let client = app.create_client(&prescriber, "Vera", "Dose").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/courses"),
            &prescriber,
            json!({ "protocol": "apa_iv_induction", "started_on": "2026-11-01" }),
        )
        .await;
    let course = r.body["id"].as_str().expect("course").to_string();
    let findings = json!({
        "diagnosis": "Major depressive disorder", "prior_treatments": ["sertraline", "CBT"], "psychosis": "none",
        "substance_use": "none", "cardiovascular_disease": false, "systolic_bp": 126, "diastolic_bp": 80,
        "heart_rate": 70, "pregnancy": "not_applicable", "raised_intracranial_pressure": false,
        "aneurysmal_vascular_disease": false, "intracerebral_haemorrhage_history": false, "medications": [],
        "weight_kg": 72.5, "allergies": "none known", "ketamine_hypersensitivity": false, "off_label_consent": true,
        "bipolar_or_mania": "none", "hepatic_impairment": "none", "breastfeeding": false,
        "sleep_apnoea_or_airway": false, "glaucoma": false, "suicide_risk": "low"
    });
    let s = app.post(&format!("/api/v1/courses/{course}/screens"), &prescriber, json!({ "findings": findings })).await;
    let sign = format!("/api/v1/screens/{}/sign", s.body["id"].as_str().expect("screen"));
    assert_eq!(app.post(&sign, &prescriber, json!({ "eligible": true })).await.status, StatusCode::OK);
    let enc = dose_visit(app, &admin, &prescriber, (&client, &course), tz, 200).await;
    (prescriber, enc)
}

/// A three-hour dose visit for (client, course) at a new site in time zone
/// `tz` with one chair, begun `mins_ago` minutes ago: the encounter id.
async fn dose_visit(
    app: &TestApp,
    admin: &str,
    prescriber: &str,
    (client, course): (&str, &str),
    tz: &str,
    mins_ago: i64,
) -> String {
    let site = app.post("/api/v1/sites", admin, json!({ "name": "Dose Clinic", "time_zone": tz })).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let chair = app
        .post(&format!("/api/v1/sites/{site}/rooms"), admin, json!({ "name": "Chair 1", "kind": "infusion_chair" }))
        .await;
    let chair = chair.body["id"].as_str().expect("chair").to_string();
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(mins_ago);
    let r = app
        .post(
            "/api/v1/encounters",
            prescriber,
            json!({ "client_id": client, "course_id": course, "site_id": site, "room_id": chair, "kind": "dosing",
                    "scheduled_start": start.to_string(), "scheduled_end": (start + jiff::SignedDuration::from_hours(3)).to_string() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().expect("encounter").to_string()
}

fn start_body(sys: u16, override_reason: Option<&str>) -> Value {
    json!({
        "checklist": { "fasting_confirmed": true, "nasal_medicines_clear": true, "ride_home_arranged": true, "no_driving_agreed": true,
                       "pregnancy_test": "not_applicable", "pre_dose_note": "asked aloud at the chair: no thoughts of self-harm", "mood_check": "calm, hopeful" },
        "pre_vitals": { "systolic": sys, "diastolic": 85, "heart_rate": 74, "spo2": 98 },
        "override_reason": override_reason,
        "weight_kg": 72.5, "lot": "KET-DEMO-0042", "started_at": ago(180)
    })
}

#[tokio::test]
async fn a_nurse_charts_an_iv_dose_with_the_hold_alerts_discharge_and_signature() {
    let app = spawn_app().await;
    let (prescriber, enc) = checked_in(&app).await;
    let nurse = app.token_for(Role::Nurse).await;
    let path = format!("/api/v1/encounters/{enc}/dosing-session");

    let r = app.post(&path, &nurse, start_body(130, None)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "the client must be checked in first: {}", r.body);
    let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &nurse, json!({ "status": "arrived" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // 150/85 reaches the 140 systolic hold: refused without an override, and a nurse may not override.
    let r = app.post(&path, &nurse, start_body(150, None)).await;
    assert_eq!(r.problem_field(), Some("override_reason"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("blood pressure 150/85: systolic 150 is at or above the hold level 140/90"),
        "{}",
        r.body
    );
    assert_eq!(app.post(&path, &nurse, start_body(150, Some("recheck 138/84"))).await.status, StatusCode::FORBIDDEN);
    let mut no_ride = start_body(130, None);
    no_ride["checklist"]["ride_home_arranged"] = json!(false);
    assert_eq!(app.post(&path, &nurse, no_ride).await.problem_field(), Some("checklist.ride_home_arranged"));
    let r =
        app.post(&path, &prescriber, start_body(150, Some("Anxious at arrival; 138/84 after 10 minutes' rest."))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["dose_mg"], 36.3, "0.5 mg/kg x 72.5 kg from the APA protocol");
    assert_eq!(r.body["route"], "iv");
    assert!(r.body["hold_reason"].as_str().is_some_and(|h| h.contains("local policy")));
    let session = r.body["id"].as_str().expect("session").to_string();
    assert_eq!(
        app.post(&path, &prescriber, start_body(130, None)).await.status,
        StatusCode::CONFLICT,
        "one session per encounter"
    );

    let vitals = format!("/api/v1/dosing-sessions/{session}/vitals");
    let r = app
        .post(
            &vitals,
            &nurse,
            json!({ "at": ago(160), "vitals": { "systolic": 179, "diastolic": 99, "heart_rate": 90, "spo2": 97 } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["alerts"], json!([]));
    let r = app
        .post(
            &vitals,
            &nurse,
            json!({ "at": ago(150), "vitals": { "systolic": 186, "diastolic": 104, "heart_rate": 96, "spo2": 98 } }),
        )
        .await;
    assert_eq!(r.body["alerts"][0]["sign"], "systolic", "{}", r.body);
    let r = app.post(&vitals, &nurse, json!({ "at": ago(140), "vitals": { "moaas": 0, "spo2": 95 } })).await;
    assert_eq!(r.body["alerts"][0]["emergency"], true);
    let r = app.post(&vitals, &nurse, json!({ "vitals": { "spo2": 101 } })).await;
    assert_eq!(r.problem_field(), Some("vitals.spo2"));

    let discharge = format!("/api/v1/dosing-sessions/{session}/discharge");
    let r = app.post(&discharge, &nurse, json!({ "at": ago(120), "accompanied_by": "Sam Dose (partner)" })).await;
    assert_eq!(r.problem_field(), Some("at"), "60 minutes after the start is too early: {}", r.body);
    let sign = format!("/api/v1/dosing-sessions/{session}/sign");
    assert_eq!(
        app.post(&sign, &nurse, json!({})).await.problem_field(),
        Some("discharged_at"),
        "discharge comes first"
    );
    // Not ready by the record: the alerts are open, the latest MOAA/S is 0.
    let r = app.post(&discharge, &nurse, json!({ "at": ago(55), "accompanied_by": "Sam Dose (partner)" })).await;
    assert_eq!(r.problem_field(), Some("discharge"), "{}", r.body);
    let said = r.body["detail"].as_str().unwrap_or_default().to_string();
    assert!(
        said.contains("2 safety alerts of this session are not acknowledged") && said.contains("MOAA/S is 0"),
        "{said}"
    );
    let r = app.post(&vitals, &nurse, json!({ "at": ago(58), "vitals": { "systolic": 138, "diastolic": 84, "heart_rate": 78, "spo2": 98, "moaas": 5 } })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let decision = "Alerts reviewed at the chair: BP 138/84, MOAA/S 5, asymptomatic; discharged to partner";
    let body = json!({ "at": ago(55), "accompanied_by": "Sam Dose (partner)", "decision": decision });
    assert_eq!(
        app.post(&discharge, &nurse, body.clone()).await.status,
        StatusCode::FORBIDDEN,
        "a nurse may not decide"
    );
    let r = app.post(&discharge, &prescriber, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["discharge_decision"], decision);
    let r = app.post(&sign, &nurse, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["signed_at"].is_string());
    assert_eq!(r.body["vitals"].as_array().map(Vec::len), Some(4));
    let r = app.post(&vitals, &nurse, json!({ "vitals": { "spo2": 98 } })).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "a signed session never changes");
    let coordinator = app.token_for(Role::Coordinator).await;
    assert_eq!(
        app.get(&format!("/api/v1/dosing-sessions/{session}"), &coordinator).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get(&format!("/api/v1/dosing-sessions/{session}"), &nurse).await.body["lot"], "KET-DEMO-0042");
}

#[tokio::test]
async fn a_nurse_charts_a_dose_on_the_session_page_and_sees_the_alert_at_once() {
    let app = spawn_app().await;
    let (_, enc) = checked_in(&app).await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse_token = app.login(&nurse_email, PASSWORD).await;
    let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &nurse_token, json!({ "status": "arrived" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let web = web_session(&app, &nurse_email).await;
    let url = format!("{}/encounters/{enc}/dosing", app.base);
    assert_eq!(web.get(&url).send().await.expect("form").status(), StatusCode::OK);
    let mut form = vec![
        ("ride_home_arranged", "yes"),
        ("no_driving_agreed", "yes"),
        ("pregnancy_test", "not_applicable"),
        ("pre_dose_note", "asked aloud at the chair: no thoughts of self-harm"),
        ("mood_check", "settled"),
        ("systolic", "150"),
        ("diastolic", "84"),
        ("heart_rate", "72"),
        ("spo2", "98"),
        ("weight_kg", "80"),
        ("lot", "KET-DEMO-0007"),
    ];
    let html = web.post(&url).form(&form).send().await.expect("post").text().await.expect("html");
    assert!(
        html.contains("Dose held") && html.contains("value=\"KET-DEMO-0007\""),
        "held, and the form keeps the entries"
    );
    form[5] = ("systolic", "132");
    let r = web.post(&url).form(&form).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session = r.headers()["location"].to_str().expect("location").to_string();
    let page = format!("{}{session}", app.base);
    assert!(
        web.get(&page).send().await.expect("get").text().await.expect("html").contains("40 mg IV (0.5 mg/kg × 80 kg)")
    );

    let r = web
        .post(format!("{page}/vitals"))
        .form(&[("systolic", "186"), ("diastolic", "100"), ("heart_rate", "88")])
        .send()
        .await
        .expect("vitals");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = web.get(&page).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("Vital-sign alert") && html.contains("systolic 186 at or above 180"), "{html}");
    let html = web
        .post(format!("{page}/discharge"))
        .form(&[("accompanied_by", "Sam")])
        .send()
        .await
        .expect("d")
        .text()
        .await
        .expect("html");
    assert!(html.contains("minutes of monitoring"), "too early to leave: {html}");
    let html = web.post(format!("{page}/sign")).send().await.expect("s").text().await.expect("html");
    assert!(html.contains("Record the discharge before signing"), "{html}");
    let chart_link = web.get(format!("{}/encounters/{enc}/dosing", app.base)).send().await.expect("get");
    assert_eq!(chart_link.status(), StatusCode::SEE_OTHER, "an encounter with a session opens the session");
}

/// A client on a course of `protocol` with a signed eligible screen:
/// (client, course).
async fn screened(app: &TestApp, prescriber: &str, protocol: &str) -> (String, String) {
    let client = app.create_client(prescriber, "Ola", "Alternate").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/courses"),
            prescriber,
            json!({ "protocol": protocol, "started_on": "2026-11-01" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let course = r.body["id"].as_str().expect("course").to_string();
    let findings = json!({
        "diagnosis": "Major depressive disorder", "prior_treatments": ["sertraline"], "psychosis": "none",
        "substance_use": "none", "cardiovascular_disease": false, "systolic_bp": 126, "diastolic_bp": 80,
        "heart_rate": 70, "pregnancy": "not_applicable", "raised_intracranial_pressure": false,
        "aneurysmal_vascular_disease": false, "intracerebral_haemorrhage_history": false, "medications": [],
        "weight_kg": 72.5, "allergies": "none known", "ketamine_hypersensitivity": false, "off_label_consent": true,
        "bipolar_or_mania": "none", "hepatic_impairment": "none", "breastfeeding": false,
        "sleep_apnoea_or_airway": false, "glaucoma": false, "suicide_risk": "low"
    });
    let s = app.post(&format!("/api/v1/courses/{course}/screens"), prescriber, json!({ "findings": findings })).await;
    let sign = format!("/api/v1/screens/{}/sign", s.body["id"].as_str().expect("screen"));
    assert_eq!(app.post(&sign, prescriber, json!({ "eligible": true })).await.status, StatusCode::OK);
    (client, course)
}

/// A fixed dose (no mg/kg, no weight) and a weight-based one, started in
/// turn over a pool of two connections, both chart: an empty optional
/// number is bound as the same type as a present one (PostgreSQL caches
/// each statement with the types of its first use).
#[tokio::test]
async fn fixed_and_weight_based_doses_started_in_turn_both_chart() {
    let db = kairos_store::testing::TestDb::default_backend().await;
    let options = kairos_store::StoreOptions { max_connections: 2, ..Default::default() };
    let store = kairos_store::Store::connect(&db.url, options).await.expect("store");
    let app = serve(store, test_config()).await;
    let admin = app.token_for(Role::Admin).await;
    let (email, _) = app.add_staff(&[Role::Prescriber]).await;
    let prescriber = app.login(&email, PASSWORD).await;
    let site = app.post("/api/v1/sites", &admin, json!({ "name": "Turns", "time_zone": "UTC" })).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let fixed = screened(&app, &prescriber, "clinic_im_fixed").await;
    let weighed = screened(&app, &prescriber, "apa_iv_induction").await;
    let checklist = json!({ "fasting_confirmed": true, "nasal_medicines_clear": true, "ride_home_arranged": true, "no_driving_agreed": true,
                            "pregnancy_test": "not_applicable", "pre_dose_note": "asked aloud at the chair: no thoughts of self-harm", "mood_check": "calm" });
    let vitals = json!({ "systolic": 124, "diastolic": 80, "heart_rate": 70, "spo2": 98 });
    for round in 0..4i64 {
        for (i, (client, course)) in [&fixed, &weighed].into_iter().enumerate() {
            let chair = app
                .post(
                    &format!("/api/v1/sites/{site}/rooms"),
                    &admin,
                    json!({ "name": format!("Chair {round}-{i}"), "kind": "infusion_chair" }),
                )
                .await;
            let chair = chair.body["id"].as_str().expect("chair").to_string();
            let start = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(30);
            let r = app
                .post(
                    "/api/v1/encounters",
                    &prescriber,
                    json!({ "client_id": client, "course_id": course, "site_id": site, "room_id": chair,
                            "kind": "dosing", "scheduled_start": (start + jiff::SignedDuration::from_hours(round * 24 - 96)).to_string(),
                            "scheduled_end": (start + jiff::SignedDuration::from_hours(round * 24 - 93)).to_string() }),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            let enc = r.body["id"].as_str().expect("encounter").to_string();
            let r = app
                .post(&format!("/api/v1/encounters/{enc}/status"), &prescriber, json!({ "status": "arrived" }))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            let body = if i == 0 {
                json!({ "checklist": checklist, "pre_vitals": vitals, "route": "im", "dose_mg": 50, "lot": "IM-1" })
            } else {
                json!({ "checklist": checklist, "pre_vitals": vitals, "weight_kg": 72.5, "lot": "IV-1" })
            };
            let r = app.post(&format!("/api/v1/encounters/{enc}/dosing-session"), &prescriber, body).await;
            assert_eq!(r.status, StatusCode::CREATED, "round {round}, {}: {}", ["fixed", "weight-based"][i], r.body);
        }
    }
}

#[tokio::test]
async fn a_session_ends_early_by_transfer_with_the_same_rule_on_the_page_and_the_api_and_alerts_the_team() {
    let app = spawn_app().await;
    let (prescriber, enc) = checked_in(&app).await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse = app.login(&nurse_email, PASSWORD).await;
    let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &nurse, json!({ "status": "arrived" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.post(&format!("/api/v1/encounters/{enc}/dosing-session"), &prescriber, start_body(130, None)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let session = r.body["id"].as_str().expect("session").to_string();
    let end = format!("/api/v1/dosing-sessions/{session}/end-early");

    // The same refusals at both doors: a transfer says where to, an end says why.
    let r = app.post(&end, &nurse, json!({ "kind": "transferred", "reason": "Chest pain" })).await;
    assert_eq!((r.status, r.problem_field()), (StatusCode::UNPROCESSABLE_ENTITY, Some("transferred_to")), "{}", r.body);
    let web = web_session(&app, &nurse_email).await;
    let page = format!("{}/dosing-sessions/{session}", app.base);
    let r = web
        .post(format!("{page}/end-early"))
        .form(&[("kind", "transferred"), ("reason", "Chest pain"), ("transferred_to", " ")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("html");
    assert!(html.contains("Say where the client was handed over to"), "{html}");
    assert!(html.contains("Chest pain</textarea>"), "what was typed is kept: {html}");
    let r = app.post(&end, &nurse, json!({ "kind": "left_against_advice", "reason": " " })).await;
    assert_eq!(r.problem_field(), Some("reason"));

    // 30 minutes after the dose (site time, UTC here), well before its
    // monitoring time is done.
    let at = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(150))
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    let r = web
        .post(format!("{page}/end-early"))
        .form(&[
            ("kind", "transferred"),
            ("reason", "Chest pain and BP 212/124 at 25 min; Dr Rivera called the ambulance"),
            ("transferred_to", "County General emergency department"),
            ("at", &at),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = web.get(&page).send().await.expect("get").text().await.expect("html");
    assert!(
        html.contains("Transferred to emergency care (County General emergency department) at")
            && html.contains("Dr Rivera called the ambulance"),
        "{html}"
    );
    assert!(!html.contains("Accompanied home by"), "no discharge form once the client has left");
    let r = app.get(&format!("/api/v1/dosing-sessions/{session}"), &nurse).await;
    assert_eq!(r.body["early_end"]["kind"], "transferred", "{}", r.body);
    assert_eq!(r.body["early_end"]["transferred_to"], "County General emergency department");
    let ended: jiff::Timestamp = r.body["discharged_at"].as_str().expect("the chair is free").parse().expect("ts");
    let started: jiff::Timestamp = r.body["started_at"].as_str().expect("started").parse().expect("ts");
    // The form's time is to the minute.
    let mins = ended.duration_since(started).as_mins();
    assert!((29..=30).contains(&mins), "ended at the time given: {mins} min after the dose");

    // The course's prescriber sees it as a safety alert linked to the session.
    let alerts = app.get("/api/v1/alerts", &prescriber).await;
    let alert = alerts
        .body
        .as_array()
        .and_then(|a| a.iter().find(|x| x["dosing_session_id"] == session.as_str()))
        .unwrap_or_else(|| panic!("an alert for the session: {}", alerts.body));
    assert!(
        alert["message"].as_str().is_some_and(|m| m.contains("transferred to County General emergency department")),
        "{alert}"
    );

    // It ends once; no discharge after it; the session is then signed.
    let again = app.post(&end, &nurse, json!({ "kind": "left_against_advice", "reason": "Left" })).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let d = app
        .post(&format!("/api/v1/dosing-sessions/{session}/discharge"), &nurse, json!({ "accompanied_by": "Sam" }))
        .await;
    assert_eq!(d.status, StatusCode::CONFLICT);
    let r = app.post(&format!("/api/v1/dosing-sessions/{session}/sign"), &nurse, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let coordinator = app.token_for(Role::Coordinator).await;
    assert_eq!(
        app.post(&end, &coordinator, json!({ "kind": "left_against_advice", "reason": "x" })).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_reading_kept_through_sign_in_keeps_the_time_it_was_typed_not_the_time_it_was_sent() {
    let typed = jiff::Timestamp::now();
    let clock = std::sync::Arc::new(kairos_server::clock::FixedClock::new(typed));
    let app = spawn_app_with(kairos_server::Config { clock: clock.clone(), ..test_config() }).await;
    let (prescriber, enc) = booked_at(&app, "America/Chicago").await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse = app.login(&nurse_email, PASSWORD).await;
    let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &nurse, json!({ "status": "arrived" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.post(&format!("/api/v1/encounters/{enc}/dosing-session"), &prescriber, start_body(130, None)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let session = r.body["id"].as_str().expect("session").to_string();

    // Typed with "Taken at" blank (now), sent after the session ended.
    let signed_out = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = signed_out
        .post(format!("{}/dosing-sessions/{session}/vitals", app.base))
        .form(&[("at", ""), ("systolic", "132"), ("diastolic", "84"), ("heart_rate", "76")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.expect("html");
    let body = html
        .split("name=\"kept_body\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the sign-in page keeps the form")
        .replace("&#38;", "&")
        .replace("&#43;", "+");
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(&body).expect("form");
    let at = fields.iter().find(|(k, _)| k == "at").map(|(_, v)| v.clone()).unwrap_or_default();
    assert!(!at.is_empty(), "the blank time is filled with the time it was sent: {body}");

    // Twelve minutes later she signs in again and sends it.
    clock.advance(jiff::SignedDuration::from_mins(12));
    let web = web_session(&app, &nurse_email).await;
    let r = web
        .post(format!("{}/dosing-sessions/{session}/vitals", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status();
    let page = r.text().await.expect("page");
    assert_eq!(status, StatusCode::SEE_OTHER, "{}", page.split("form-error").nth(1).unwrap_or(&page));
    let s = app.get(&format!("/api/v1/dosing-sessions/{session}"), &nurse).await;
    let charted: jiff::Timestamp = s.body["vitals"][0]["at"].as_str().expect("charted").parse().expect("ts");
    assert_eq!(charted.as_second(), typed.as_second(), "charted at the time it was typed, not 12 minutes later");
}

#[tokio::test]
async fn a_dose_outside_the_protocol_is_refused_at_both_doors_unless_a_prescriber_documents_the_exception() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let (email, prescriber_id) = app.add_staff(&[Role::Prescriber]).await;
    let prescriber = app.login(&email, PASSWORD).await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse = app.login(&nurse_email, PASSWORD).await;
    let (client, course) = screened(&app, &prescriber, "esketamine_label").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/rems-enrolment"),
            &prescriber,
            json!({ "enrolled_on": "2026-11-01", "sex": "male" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let on_site = prescriber_id.to_string();
    let enc = dose_visit(&app, &admin, &prescriber, (&client, &course), "UTC", 10).await;
    let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &nurse, json!({ "status": "arrived" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let path = format!("/api/v1/encounters/{enc}/dosing-session");
    let body = |mg: f64, exception: Option<&str>| {
        json!({ "checklist": { "fasting_confirmed": true, "nasal_medicines_clear": true, "ride_home_arranged": true, "no_driving_agreed": true,
                               "pregnancy_test": "not_applicable", "pre_dose_note": "asked aloud at the chair: no thoughts of self-harm", "mood_check": "calm" },
                "pre_vitals": { "systolic": 124, "diastolic": 80, "heart_rate": 70, "spo2": 98 },
                "dose_mg": mg, "lot": "ESK-1", "dose_exception": exception, "prescriber_on_site": on_site })
    };

    // 560 mg (a slip for 56): refused at the API and on the form in the same words.
    let r = app.post(&path, &nurse, body(560.0, None)).await;
    assert_eq!(r.problem_field(), Some("dose_mg"), "{}", r.body);
    let said = "560 mg is outside this protocol: its intranasal dose is 56-84 mg";
    assert!(r.body["detail"].as_str().is_some_and(|d| d.starts_with(said)), "{}", r.body);
    let web = web_session(&app, &nurse_email).await;
    let form = [
        ("fasting_confirmed", "yes"),
        ("nasal_medicines_clear", "yes"),
        ("ride_home_arranged", "yes"),
        ("no_driving_agreed", "yes"),
        ("pregnancy_test", "not_applicable"),
        ("pre_dose_note", "asked aloud at the chair: no thoughts of self-harm"),
        ("systolic", "124"),
        ("diastolic", "80"),
        ("heart_rate", "70"),
        ("spo2", "98"),
        ("dose_mg", "560"),
        ("lot", "ESK-1"),
        ("prescriber_on_site", on_site.as_str()),
    ];
    let r = web.post(format!("{}/encounters/{enc}/dosing", app.base)).form(&form).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("html");
    assert!(html.contains(said) && html.contains("This protocol&#39;s dose: intranasal 56-84 mg"), "{html}");
    // A nurse may not document the exception; a prescriber may.
    let exception = "Age 71: the label starting dose for 65 and over is 28 mg";
    let r = app.post(&path, &nurse, body(28.0, Some(exception))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("only a prescriber may give a dose outside")));
    let r = app.post(&path, &prescriber, body(56.0, Some(exception))).await;
    assert_eq!(r.problem_field(), Some("dose_exception"), "no exception for a dose within the protocol");
    let r = app.post(&path, &prescriber, body(28.0, Some(exception))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.body["dose_mg"].as_f64(), r.body["dose_exception"].as_str()), (Some(28.0), Some(exception)));
    let session = r.body["id"].as_str().expect("session").to_string();
    let html = web.get(format!("{}/dosing-sessions/{session}", app.base)).send().await.expect("get").text().await;
    let html = html.expect("html");
    assert!(html.contains("outside the protocol") && html.contains(exception), "{html}");
}

#[tokio::test]
async fn a_dose_alert_pages_the_prescribers_on_site_that_day_and_not_the_others() {
    let app = spawn_app().await;
    let (prescriber, enc) = checked_in(&app).await;
    let nurse = app.token_for(Role::Nurse).await;
    let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &nurse, json!({ "status": "arrived" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.post(&format!("/api/v1/encounters/{enc}/dosing-session"), &prescriber, start_body(130, None)).await;
    let session = r.body["id"].as_str().expect("session").to_string();
    // A second prescriber sees clients at the same site this afternoon; a
    // third works elsewhere.
    let (on_site_email, on_site_id) = app.add_staff(&[Role::Prescriber]).await;
    let on_site = app.login(&on_site_email, PASSWORD).await;
    let elsewhere = app.token_for(Role::Prescriber).await;
    let e = app.store.get_encounter(enc.parse().expect("id")).await.expect("dose visit");
    // The course has its own prescriber (a client without a care team is
    // everyone's to see).
    let (_, course_prescriber) = app.add_staff(&[Role::Prescriber]).await;
    let course = e.course_id.expect("course");
    let r = app
        .put(
            &format!("/api/v1/courses/{course}/care-team"),
            &prescriber,
            json!({ "prescriber_id": course_prescriber.to_string() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let other = app.create_client(&prescriber, "Noor", "Elsewhere").await;
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2);
    let r = app
        .post(
            "/api/v1/encounters",
            &prescriber,
            json!({ "client_id": other, "site_id": e.site_id.to_string(), "kind": "intake", "staff_id": on_site_id.to_string(),
                    "scheduled_start": start.to_string(), "scheduled_end": (start + jiff::SignedDuration::from_hours(1)).to_string() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let open = |token: String| {
        let app = &app;
        async move { app.get("/api/v1/alerts", &token).await.body.as_array().cloned().unwrap_or_default() }
    };
    assert!(open(on_site.clone()).await.is_empty() && open(elsewhere.clone()).await.is_empty(), "nothing yet");

    let r = app
        .post(
            &format!("/api/v1/dosing-sessions/{session}/vitals"),
            &nurse,
            json!({ "vitals": { "systolic": 196, "diastolic": 118, "heart_rate": 104, "spo2": 98 } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let seen = open(on_site.clone()).await;
    assert_eq!(seen.len(), 1, "the prescriber on site is paged: {seen:?}");
    assert_eq!(seen[0]["dosing_session_id"], session.as_str());
    assert!(open(elsewhere).await.is_empty(), "a prescriber at another site is not");
    // And on the banner of every page.
    let web = web_session(&app, &on_site_email).await;
    let home = web.get(format!("{}/", app.base)).send().await.expect("home").text().await.expect("html");
    assert!(home.contains("1 safety alert to acknowledge"), "{home}");
}
