//! What a dosing session records beyond vital signs: dissociation, side
//! effects and adverse events; amendments once signed (the original stays);
//! and, for esketamine, the REMS monitoring form and when it is due.

use crate::helpers::*;
use crate::ledger::{clinic, start_dose, start_with_stock};
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;

fn ago(mins: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(mins)).to_string()
}

#[tokio::test]
async fn observations_are_charted_until_signing_and_amendments_follow_it() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "apa_iv_induction").await;
    let id = start_dose(&app, &c, 0).await;
    // Started three hours ago with no readings: the page says vitals are overdue.
    let web = web_session(&app, &c.nurse_email).await;
    let page = web.get(format!("{}/dosing-sessions/{id}", app.base)).send().await.expect("page");
    let html = page.text().await.expect("html");
    assert!(
        html.contains("Vital signs overdue") && html.contains("every 10 minutes during the infusion, local policy"),
        "{html}"
    );
    let events = format!("/api/v1/dosing-sessions/{id}/events");
    let r = app.post(&events, &c.nurse, json!({ "event": { "kind": "dissociation", "cadss6": 25 } })).await;
    assert_eq!(r.problem_field(), Some("event.cadss6"));
    let r =
        app.post(&events, &c.nurse, json!({ "at": ago(150), "event": { "kind": "dissociation", "cadss6": 9 } })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            &events,
            &c.nurse,
            json!({ "event": { "kind": "side_effect", "effect": "nausea", "severity": "moderate", "action": "ondansetron 4 mg IV" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            &events,
            &c.nurse,
            json!({ "event": { "kind": "adverse_event", "description": "vasovagal episode on standing", "severity": "moderate",
                               "serious": false, "action": "supine, legs raised", "outcome": "" } }),
        )
        .await;
    assert_eq!(r.problem_field(), Some("event.outcome"));
    let therapist = app.token_for(Role::Therapist).await;
    let r = app.post(&events, &therapist, json!({ "event": { "kind": "dissociation", "cadss6": 3 } })).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let amend = format!("/api/v1/dosing-sessions/{id}/amendments");
    let body =
        json!({ "part": "observations", "correction": "CADSS-6 was 7, not 9", "reason": "misread the score sheet" });
    let r = app.post(&amend, &c.nurse, body.clone()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "an unsigned session is charted, not amended: {}", r.body);

    let r = app
        .post(
            &format!("/api/v1/dosing-sessions/{id}/discharge"),
            &c.nurse,
            json!({ "at": ago(60), "accompanied_by": "partner" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        app.post(&format!("/api/v1/dosing-sessions/{id}/sign"), &c.nurse, json!({})).await.status,
        StatusCode::OK
    );
    let r = app.post(&events, &c.nurse, json!({ "event": { "kind": "dissociation", "cadss6": 2 } })).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "signed: observations no longer added");
    let r = app.post(&amend, &c.nurse, json!({ "part": "observations", "correction": "x", "reason": "" })).await;
    assert_eq!(r.problem_field(), Some("reason"));
    let r = app.post(&amend, &c.prescriber, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let s = app.get(&format!("/api/v1/dosing-sessions/{id}"), &c.nurse).await;
    assert_eq!(s.body["events"][0]["event"]["cadss6"], 9, "the original stays: {}", s.body);
    assert_eq!(s.body["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(s.body["amendments"][0]["correction"], "CADSS-6 was 7, not 9");
    assert_eq!(s.body["amendments"][0]["reason"], "misread the score sheet");
    assert!(s.body["amendments"][0]["by"].is_string());
    let r = app.get(&format!("/api/v1/dosing-sessions/{id}/rems"), &c.nurse).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "no REMS form for IV ketamine: {}", r.body);
}

#[tokio::test]
async fn an_esketamine_session_yields_its_rems_form_due_within_seven_days() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "esketamine_label").await;
    let esk = crate::ledger::receive_esketamine(&app, &c, "ESK-TEST-1").await;
    let mut body = start_with_stock(&c.stock, None);
    body["weight_kg"] = json!(null);
    body["dose_mg"] = json!(56.0);
    let path = format!("/api/v1/encounters/{}/dosing-session", c.encounters[0]);
    body["stock_id"] = json!(esk);
    // The REMS: no esketamine dose before the client's enrolment is recorded.
    let r = app.post(&path, &c.nurse, body.clone()).await;
    assert_eq!((r.status, r.problem_field()), (StatusCode::CONFLICT, Some("rems_enrolment")), "{}", r.body);
    let enrol = format!("/api/v1/clients/{}/rems-enrolment", c.clients[0]);
    let r = app.get(&enrol, &c.nurse).await;
    assert_eq!((r.status, &r.body["enrolment"]), (StatusCode::OK, &json!(null)), "not enrolled yet: {}", r.body);
    let day = |hours: i64| {
        (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(hours)).to_zoned(jiff::tz::TimeZone::UTC).date()
    };
    let enrolment = json!({ "enrolled_on": day(-48).to_string(), "sex": "female", "rems_patient_id": "RP-TEST-1" });
    let r = app.post(&enrol, &c.nurse, enrolment.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the prescriber records the enrolment: {}", r.body);
    let r = app.post(&enrol, &c.prescriber, json!({ "enrolled_on": day(72).to_string(), "sex": "female" })).await;
    assert_eq!(r.problem_field(), Some("enrolled_on"), "not a future date: {}", r.body);
    let r = app.post(&enrol, &c.prescriber, json!({ "enrolled_on": day(-48).to_string(), "sex": "f" })).await;
    assert_eq!(r.problem_field(), Some("sex"), "{}", r.body);
    let r = app.post(&enrol, &c.prescriber, enrolment.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.post(&enrol, &c.prescriber, enrolment).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "one enrolment per client: {}", r.body);
    assert_eq!(app.get(&enrol, &c.nurse).await.body["enrolment"]["rems_patient_id"], "RP-TEST-1");
    // A prescriber on site is named for every esketamine session.
    let r = app.post(&path, &c.nurse, body.clone()).await;
    assert_eq!(r.problem_field(), Some("prescriber_on_site"), "{}", r.body);
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("the esketamine REMS requires one")), "{}", r.body);
    body["prescriber_on_site"] = json!(kairos_domain::ids::StaffId::new().to_string());
    assert_eq!(app.post(&path, &c.nurse, body.clone()).await.problem_field(), Some("prescriber_on_site"));
    body["prescriber_on_site"] = json!(c.prescriber_id);
    body["stock_id"] = json!(c.stock);
    let r = app.post(&path, &c.nurse, body.clone()).await;
    assert_eq!(r.problem_field(), Some("stock_id"), "an intranasal dose does not draw on ketamine vials");
    body["stock_id"] = json!(esk);
    let r = app.post(&path, &c.nurse, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["prescriber_on_site"].as_str(), Some(c.prescriber_id.as_str()));
    assert_eq!(r.body["route"], "intranasal");
    assert_eq!(r.body["ledger"][0]["quantity"], 2000, "56 mg = two 28 mg devices");
    let id = r.body["id"].as_str().expect("session").to_string();

    let due = app.get("/api/v1/rems/due", &c.nurse).await;
    assert_eq!(due.body[0]["session_id"].as_str(), Some(id.as_str()), "{}", due.body);
    assert_eq!(due.body[0]["overdue"], false);

    let rems = format!("/api/v1/dosing-sessions/{id}/rems");
    let r = app.get(&rems, &c.nurse).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["form"]["lot"], "ESK-TEST-1");
    assert_eq!(r.body["form"]["benzodiazepines"], true, "from the signed screen");
    let problems = r.body["form"]["problems"].as_array().expect("problems");
    assert!(problems.iter().any(|p| p.as_str().is_some_and(|p| p.contains("40 minutes"))), "{problems:?}");
    assert!(problems.iter().any(|p| p.as_str().is_some_and(|p| p.contains("name and address"))), "{problems:?}");
    let f = &r.body["form"];
    assert_eq!(
        (f["sex"].as_str(), &f["first_treatment"], &f["enrolled"]),
        (Some("female"), &json!(true), &json!(true))
    );
    assert_eq!(f["vitals_ok_before_administration"], true, "124/80 before the dose: {f}");
    assert_eq!(f["vitals_ok_before_completion"], false, "not discharged yet");
    assert!(f["people"]["prescriber_on_site"].as_str().is_some_and(|n| n.starts_with("Test prescriber")), "{f}");
    assert!(f["people"]["monitoring_name"].as_str().is_some_and(|n| n.starts_with("Test nurse")), "{f}");
    // The site's REMS healthcare-setting details: set by who records DEA
    // registrations, not by a nurse.
    let setting = format!("/api/v1/sites/{}/rems-setting", c.site);
    let details = json!({ "name": "Ledger Clinic (synthetic)", "address": "1 Example Plaza, Fairhaven ZZ 00000", "phone": "+1 555 0100" });
    assert_eq!(app.put(&setting, &c.nurse, details.clone()).await.status, StatusCode::FORBIDDEN);
    let director = app.token_for(Role::Director).await;
    let r = app.put(&setting, &director, json!({ "name": "Ledger Clinic", "address": " ", "phone": "1" })).await;
    assert_eq!(r.problem_field(), Some("address"), "{}", r.body);
    assert_eq!(app.put(&setting, &director, details).await.status, StatusCode::OK);
    let r = app.get(&rems, &c.nurse).await;
    assert_eq!(r.body["form"]["people"]["setting_name"], "Ledger Clinic (synthetic)");
    assert_eq!(r.body["form"]["people"]["monitoring_phone"], "+1 555 0100");
    let r = app.put(&rems, &c.nurse, json!({ "confirmation": "REMS-TEST-1" })).await;
    assert_eq!(r.problem_field(), Some("confirmation"), "an incomplete form is not submitted");

    let vitals = format!("/api/v1/dosing-sessions/{id}/vitals");
    for (m, sys, moaas) in [(140, 138, 4), (65, 128, 5)] {
        let r = app
            .post(
                &vitals,
                &c.nurse,
                json!({ "at": ago(m), "vitals": { "systolic": sys, "diastolic": 84, "spo2": 97, "moaas": moaas } }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = app
        .post(
            &format!("/api/v1/dosing-sessions/{id}/discharge"),
            &c.nurse,
            json!({ "at": ago(59), "accompanied_by": "sister" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.get(&rems, &c.nurse).await;
    assert_eq!(r.body["form"]["problems"], json!([]), "{}", r.body);
    assert_eq!(r.body["form"]["minutes_monitored"], 121);
    assert_eq!(r.body["form"]["bp_about_40_min"]["minutes"], 40);
    assert_eq!(r.body["form"]["bp_before_end"]["systolic"], 128);
    assert_eq!(r.body["form"]["sedation"], true, "MOAA/S 4");
    assert_eq!(r.body["form"]["vitals_ok_before_completion"], true, "128/84, SpO2 97 last before discharge");
    let r = app.put(&rems, &c.nurse, json!({ "ready_after_minutes": 90, "confirmation": "REMS-TEST-1" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["state"]["confirmation"], "REMS-TEST-1");
    assert_eq!(r.body["state"]["ready_after_minutes"], 90);
    let r = app.put(&rems, &c.nurse, json!({ "ready_after_minutes": 60 })).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "a submitted form never changes");
    assert_eq!(app.get("/api/v1/rems/due", &c.nurse).await.body, json!([]));
    let coordinator = app.token_for(Role::Coordinator).await;
    assert_eq!(app.get(&rems, &coordinator).await.status, StatusCode::FORBIDDEN);
    // The submitted form is a disclosure to the REMS, in the client's
    // accounting (45 CFR 164.528), recorded with the submission.
    let a = app.get(&format!("/api/v1/clients/{}/disclosures", c.clients[0]), &c.nurse).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let d = &a.body["disclosures"];
    assert_eq!(d.as_array().map(Vec::len), Some(1), "{}", a.body);
    assert_eq!(
        (d[0]["recipient"].as_str(), d[0]["purpose"].as_str()),
        (Some("SPRAVATO REMS"), Some("required_by_law"))
    );
    assert_eq!((d[0]["source"].as_str(), d[0]["source_ref"].as_str()), (Some("rems_form"), Some(id.as_str())));
    assert!(d[0]["statement"].as_str().is_some_and(|s| s.contains("REMS-TEST-1")), "{}", a.body);
}
