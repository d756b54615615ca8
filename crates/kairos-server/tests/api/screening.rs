//! Pre-treatment screens: findings classified by the clinic's rules, and a
//! prescriber's eligibility signature that the findings must support.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn findings() -> Value {
    json!({
        "diagnosis": "Major depressive disorder, recurrent, treatment-resistant",
        "prior_treatments": ["sertraline 200 mg", "bupropion 300 mg", "CBT, 16 sessions"],
        "psychosis": "none", "substance_use": "none", "cardiovascular_disease": false,
        "systolic_bp": 124, "diastolic_bp": 78, "heart_rate": 70, "pregnancy": "no",
        "raised_intracranial_pressure": false, "aneurysmal_vascular_disease": false,
        "intracerebral_haemorrhage_history": false, "medications": [], "weight_kg": 72.5,
        "allergies": "none known", "ketamine_hypersensitivity": false, "off_label_consent": true,
        "bipolar_or_mania": "none", "hepatic_impairment": "none", "breastfeeding": false,
        "sleep_apnoea_or_airway": false, "glaucoma": false, "suicide_risk": "low"
    })
}

async fn course_for(app: &TestApp) -> (String, String) {
    let prescriber = app.token_for(Role::Prescriber).await;
    let client = app.create_client(&prescriber, "Ora", "Screen").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/courses"),
            &prescriber,
            json!({ "protocol": "apa-iv-induction", "started_on": "2026-11-01" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (r.body["id"].as_str().expect("course").to_string(), prescriber)
}

fn rules_of(body: &Value) -> Vec<(String, String)> {
    body["classified"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| (f["rule"].as_str().unwrap_or("").to_string(), f["class"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn relative_contraindications_each_need_the_prescribers_rationale_and_a_screen_is_signed_once() {
    let app = spawn_app().await;
    let (course, prescriber) = course_for(&app).await;
    let nurse = app.token_for(Role::Nurse).await;
    let mut f = findings();
    f["psychosis"] = json!("past");
    f["systolic_bp"] = json!(150);
    let r = app.post(&format!("/api/v1/courses/{course}/screens"), &nurse, json!({ "findings": f })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "unsigned");
    assert_eq!(
        rules_of(&r.body),
        vec![("psychosis".into(), "relative".into()), ("baseline_bp_systolic".into(), "relative".into())]
    );
    let screen = r.body["id"].as_str().expect("id").to_string();
    let sign = format!("/api/v1/screens/{screen}/sign");

    assert_eq!(app.post(&sign, &nurse, json!({ "eligible": true })).await.status, StatusCode::FORBIDDEN);
    let r = app.post(&sign, &prescriber, json!({ "eligible": true })).await;
    assert_eq!(r.problem_field(), Some("rationales.psychosis"));
    let r = app
        .post(
            &sign,
            &prescriber,
            json!({ "eligible": true, "rationales": { "psychosis": "One brief episode in 2009, none since." } }),
        )
        .await;
    assert_eq!(r.problem_field(), Some("rationales.baseline_bp_systolic"));
    let r = app
        .post(
            &sign,
            &prescriber,
            json!({ "eligible": true, "rationales": {
                "psychosis": "One brief episode in 2009, none since.",
                "baseline_bp_systolic": "Repeat reading 136/84 after rest; BP every 10 minutes during infusion." } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "signed_eligible");
    let r = app.post(&sign, &prescriber, json!({ "eligible": false, "note": "changed my mind" })).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "a signed screen is never changed");

    let list = app.get(&format!("/api/v1/courses/{course}/screens"), &nurse).await;
    assert_eq!(list.body[0]["status"], "signed_eligible");
    assert_eq!(
        list.body[0]["signature"]["decision"]["rationales"]["psychosis"],
        "One brief episode in 2009, none since."
    );
    let coordinator = app.token_for(Role::Coordinator).await;
    assert_eq!(app.get(&format!("/api/v1/courses/{course}/screens"), &coordinator).await.status, StatusCode::FORBIDDEN);
    let status = app.store.screen_status(course.parse().expect("id")).await.expect("status");
    assert_eq!(status, kairos_domain::screening::ScreenStatus::SignedEligible);
}

#[tokio::test]
async fn an_absolute_contraindication_cannot_be_signed_eligible_and_bad_findings_name_the_field() {
    let app = spawn_app().await;
    let (course, prescriber) = course_for(&app).await;
    let path = format!("/api/v1/courses/{course}/screens");
    let status = app.store.screen_status(course.parse().expect("id")).await.expect("status");
    assert_eq!(status, kairos_domain::screening::ScreenStatus::None);

    let mut bad = findings();
    bad["weight_kg"] = json!(0);
    assert_eq!(
        app.post(&path, &prescriber, json!({ "findings": bad })).await.problem_field(),
        Some("findings.weight_kg")
    );
    let mut bad = findings();
    bad["psychosis"] = json!("sometimes");
    let r = app.post(&path, &prescriber, json!({ "findings": bad })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.problem_field().is_some_and(|f| f.contains("psychosis")), "{}", r.body);
    let mut bad = findings();
    bad.as_object_mut().expect("object").remove("off_label_consent");
    assert_eq!(app.post(&path, &prescriber, json!({ "findings": bad })).await.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The questions added later are required of a new screen, each by name.
    for field in ["bipolar_or_mania", "hepatic_impairment", "suicide_risk", "glaucoma"] {
        let mut bad = findings();
        bad.as_object_mut().expect("object").remove(field);
        let r = app.post(&path, &prescriber, json!({ "findings": bad })).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert_eq!(r.problem_field(), Some(format!("findings.{field}").as_str()), "{}", r.body);
    }

    let mut f = findings();
    f["aneurysmal_vascular_disease"] = json!(true);
    f["medications"] = json!(["lamotrigine"]);
    let r = app.post(&path, &prescriber, json!({ "findings": f })).await;
    assert_eq!(
        rules_of(&r.body),
        vec![("aneurysmal_vascular_disease".into(), "absolute".into()), ("lamotrigine".into(), "note".into())]
    );
    let sign = format!("/api/v1/screens/{}/sign", r.body["id"].as_str().expect("id"));
    assert_eq!(app.post(&sign, &prescriber, json!({ "eligible": true })).await.problem_field(), Some("eligible"));
    assert_eq!(app.post(&sign, &prescriber, json!({ "eligible": false })).await.problem_field(), Some("note"));
    let r = app.post(&sign, &prescriber, json!({ "eligible": false, "note": "Abdominal aortic aneurysm." })).await;
    assert_eq!(r.body["status"], "signed_ineligible");
    let status = app.store.screen_status(course.parse().expect("id")).await.expect("status");
    assert_eq!(status, kairos_domain::screening::ScreenStatus::SignedIneligible);
    assert!(kairos_domain::screening::may_chart_dose(status).is_err(), "no dose for this course");
}

#[tokio::test]
async fn a_dosing_session_cannot_start_without_a_signed_eligible_screen() {
    let app = spawn_app().await;
    let (course, prescriber) = course_for(&app).await;
    let admin = app.token_for(Role::Admin).await;
    let nurse = app.token_for(Role::Nurse).await;
    let site =
        app.post("/api/v1/sites", &admin, json!({ "name": "Screen Clinic", "time_zone": "America/Chicago" })).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let chair = app
        .post(&format!("/api/v1/sites/{site}/rooms"), &admin, json!({ "name": "Chair 1", "kind": "infusion_chair" }))
        .await;
    let chair = chair.body["id"].as_str().expect("chair").to_string();
    let client = app.get(&format!("/api/v1/courses/{course}"), &prescriber).await.body["client_id"].clone();
    let r = app
        .post(
            "/api/v1/encounters",
            &nurse,
            json!({ "client_id": client, "course_id": course, "site_id": site, "room_id": chair, "kind": "dosing",
                    "scheduled_start": "2030-06-03T14:00:00Z", "scheduled_end": "2030-06-03T16:00:00Z" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let check_in = format!("/api/v1/encounters/{}/status", r.body["id"].as_str().expect("id"));

    // No screen, then an unsigned one: refused, naming the course.
    let r = app.post(&check_in, &nurse, json!({ "status": "arrived" })).await;
    assert_eq!(r.problem_field(), Some("course_id"));
    assert!(r.body["detail"].as_str().unwrap_or("").contains("no screen"), "{}", r.body);
    let s = app.post(&format!("/api/v1/courses/{course}/screens"), &nurse, json!({ "findings": findings() })).await;
    let r = app.post(&check_in, &nurse, json!({ "status": "arrived" })).await;
    assert!(r.body["detail"].as_str().unwrap_or("").contains("not been signed"), "{}", r.body);

    let sign = format!("/api/v1/screens/{}/sign", s.body["id"].as_str().expect("id"));
    assert_eq!(app.post(&sign, &prescriber, json!({ "eligible": true })).await.status, StatusCode::OK);
    let r = app.post(&check_in, &nurse, json!({ "status": "arrived" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "arrived");
}

#[tokio::test]
async fn a_nurse_records_a_screen_in_the_ui_and_a_prescriber_signs_it() {
    let app = spawn_app().await;
    let (prescriber_email, _) = app.add_staff(&[Role::Prescriber]).await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let prescriber = app.login(&prescriber_email, PASSWORD).await;
    let client = app.create_client(&prescriber, "Uma", "Form").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/courses"),
            &prescriber,
            json!({ "protocol": "apa-iv-induction", "started_on": "2026-11-01" }),
        )
        .await;
    let course = r.body["id"].as_str().expect("course").to_string();
    let nurse = web_session(&app, &nurse_email).await;
    assert_eq!(
        nurse.get(format!("{}/courses/{course}/screens/new", app.base)).send().await.expect("get").status(),
        StatusCode::OK
    );
    let mut form: Vec<(&str, &str)> = vec![
        ("diagnosis", "Major depressive disorder"),
        ("prior_treatments", "escitalopram 20 mg\nCBT"),
        ("psychosis", "none"),
        ("substance_use", "none"),
        ("systolic_bp", "128"),
        ("diastolic_bp", "82"),
        ("heart_rate", "76"),
        ("weight_kg", "64.5"),
        ("pregnancy", "no"),
        ("medications", "benzodiazepine"),
        ("allergies", "none known"),
        ("off_label_consent", "yes"),
        ("bipolar_or_mania", "none"),
        ("hepatic_impairment", "none"),
        ("suicide_risk", "low"),
    ];
    // A missing number comes back with the field named, and nothing is saved.
    let bad: Vec<(&str, &str)> = form.iter().filter(|(k, _)| *k != "heart_rate").copied().collect();
    let r = nurse.post(format!("{}/courses/{course}/screens", app.base)).form(&bad).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("html");
    assert!(html.contains("Enter the heart rate."), "{html}");
    assert!(html.contains("value=\"64.5\"") && html.contains("value=\"benzodiazepine\" checked"), "kept: {html}");
    // A mistyped number is named, not taken as zero.
    let typo: Vec<(&str, &str)> =
        form.iter().map(|&(k, v)| if k == "systolic_bp" { (k, "12O") } else { (k, v) }).collect();
    let r = nurse.post(format!("{}/courses/{course}/screens", app.base)).form(&typo).send().await.expect("post");
    assert!(r.text().await.expect("html").contains("Systolic blood pressure: “12O” is not a whole number."));
    form.push(("cardiovascular_disease", "yes"));
    let r = nurse.post(format!("{}/courses/{course}/screens", app.base)).form(&form).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let screen_url = r.headers()["location"].to_str().expect("location").to_string();
    let page = nurse.get(format!("{}{screen_url}", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(page.contains("cardiovascular_disease") && page.contains("benzodiazepine"));
    assert!(!page.contains("Sign eligibility"), "a nurse does not sign");

    let web = web_session(&app, &prescriber_email).await;
    let page = web.get(format!("{}{screen_url}", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(page.contains("Rationale for cardiovascular_disease"));
    let r = web.post(format!("{}{screen_url}/sign", app.base)).form(&[("eligible", "yes")]).send().await.expect("sign");
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the page comes back with the error, as the API refuses it"
    );
    let html = r.text().await.expect("html");
    assert!(html.contains("needs the prescriber") && html.contains("Sign eligibility"), "still unsigned: {html}");
    let r = web
        .post(format!("{}{screen_url}/sign", app.base))
        .form(&[
            ("eligible", "yes"),
            ("rationale_cardiovascular_disease", "Treated hypertension, 128/82 today; cardiology letter on file."),
        ])
        .send()
        .await
        .expect("sign");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let chart =
        web.get(format!("{}/clients/{client}", app.base)).send().await.expect("chart").text().await.expect("html");
    assert!(chart.contains("screened: signed eligible"), "the chart shows where screening stands");
}

#[tokio::test]
async fn esketamine_for_a_17_year_old_needs_a_rationale_and_a_high_suicide_risk_a_safety_plan() {
    let app = spawn_app().await;
    let prescriber = app.token_for(Role::Prescriber).await;
    // Born 17 years and 364 days ago: 17 on the day of the screen.
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let born = today.checked_sub(jiff::Span::new().years(18)).expect("date").tomorrow().expect("date");
    let r = app
        .post(
            "/api/v1/clients",
            &prescriber,
            json!({ "given_name": "Ivo", "family_name": "Young", "date_of_birth": born.to_string() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let client = r.body["id"].as_str().expect("id").to_string();
    let mut screens = Vec::new();
    for protocol in ["esketamine_label", "apa_iv_induction"] {
        let r = app
            .post(
                &format!("/api/v1/clients/{client}/courses"),
                &prescriber,
                json!({ "protocol": protocol, "started_on": today.to_string() }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let course = r.body["id"].as_str().expect("course").to_string();
        let mut f = findings();
        f["suicide_risk"] = json!("high");
        let r = app.post(&format!("/api/v1/courses/{course}/screens"), &prescriber, json!({ "findings": f })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        screens.push((rules_of(&r.body), r.body["id"].as_str().expect("id").to_string()));
    }
    let relative = |rule: &str| (rule.to_string(), "relative".to_string());
    assert_eq!(screens[0].0, vec![relative("suicide_risk_high"), relative("esketamine_under_18")]);
    assert_eq!(screens[1].0, vec![relative("suicide_risk_high")], "the under-18 rule is esketamine's");
    let sign = format!("/api/v1/screens/{}/sign", screens[0].1);
    let r = app
        .post(
            &sign,
            &prescriber,
            json!({ "eligible": true, "rationales": { "suicide_risk_high": "Safety plan made." } }),
        )
        .await;
    assert_eq!(r.problem_field(), Some("rationales.esketamine_under_18"), "{}", r.body);
}
