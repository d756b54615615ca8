use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_coordinator_registers_a_client_and_a_therapist_reads_the_chart() {
    let app = spawn_app().await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let therapist = app.token_for(Role::Therapist).await;
    let r = app
        .post(
            "/api/v1/clients",
            &coordinator,
            json!({
                "given_name": " Robin ", "family_name": "Okafor", "date_of_birth": "1988-02-29",
                "pronouns": "they/them", "email": "Robin.Okafor@Example.org", "phone": "+1 212 555-0134",
                "emergency_contact_name": "Sam Okafor", "emergency_contact_phone": "+1 212 555-0177"
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().expect("id");
    assert_eq!(r.body["given_name"], "Robin", "names are trimmed");
    assert_eq!(r.body["email"], "robin.okafor@example.org", "e-mail is normalised");
    assert_eq!(r.body["status"], "active");

    let chart = app.get(&format!("/api/v1/clients/{id}"), &therapist).await;
    assert_eq!(chart.status, StatusCode::OK, "{}", chart.body);
    assert_eq!(chart.body["client"]["family_name"], "Okafor");
    assert_eq!(chart.body["client"]["emergency_contact_phone"], "+1 212 555-0177");
    assert_eq!(chart.body["courses"], json!([]));

    let list = app.get("/api/v1/clients?q=oka", &therapist).await;
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["items"][0]["id"], id);

    let upd = app
        .put(
            &format!("/api/v1/clients/{id}"),
            &coordinator,
            json!({"given_name": "Robin", "family_name": "Okafor-Lee", "date_of_birth": "1988-02-29", "status": "inactive"}),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{}", upd.body);
    assert_eq!(app.get(&format!("/api/v1/clients/{id}"), &therapist).await.body["client"]["family_name"], "Okafor-Lee");
}

#[tokio::test]
async fn a_course_moves_only_along_allowed_phases() {
    let app = spawn_app().await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let (p_email, prescriber_id) = app.add_staff(&[Role::Prescriber]).await;
    let prescriber = app.login(&p_email, PASSWORD).await;
    let client = app.create_client(&coordinator, "Ada", "Lin").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/courses"),
            &prescriber,
            json!({"protocol": "apa-iv-induction", "started_on": "2026-11-02", "prescriber_id": prescriber_id.to_string()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["phase"], "screening");
    assert_eq!(r.body["next_phases"], json!(["preparation", "discontinued"]));
    let course = r.body["id"].as_str().expect("id").to_string();
    let phase = |p: &str| json!({"phase": p});

    let r = app.post(&format!("/api/v1/courses/{course}/phase"), &prescriber, phase("maintenance")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.problem_field(), Some("phase"));
    assert!(r.body["detail"].as_str().unwrap_or("").contains("preparation"), "{}", r.body);

    for p in ["preparation", "induction", "integration", "completed"] {
        let r = app.post(&format!("/api/v1/courses/{course}/phase"), &prescriber, phase(p)).await;
        assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.body);
        assert_eq!(r.body["phase"], p);
    }
    let r = app.post(&format!("/api/v1/courses/{course}/phase"), &prescriber, phase("induction")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a completed course never reopens");
    let chart = app.get(&format!("/api/v1/clients/{client}"), &coordinator).await;
    assert_eq!(chart.body["courses"][0]["phase"], "completed");
    // No site yet, so the clinic's date is the UTC date.
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date().to_string();
    assert_eq!(chart.body["courses"][0]["ended_on"], today.as_str());
}

#[tokio::test]
async fn bookings_show_on_the_chart_and_double_booking_a_chair_is_a_conflict() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let site = app.post("/api/v1/sites", &admin, json!({"name": "Main", "time_zone": "America/New_York"})).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let chair = app
        .post(&format!("/api/v1/sites/{site}/rooms"), &admin, json!({"name": "Chair 1", "kind": "infusion_chair"}))
        .await;
    assert_eq!(chair.status, StatusCode::CREATED, "{}", chair.body);
    let chair = chair.body["id"].as_str().expect("chair").to_string();
    let a = app.create_client(&coordinator, "Ada", "Lin").await;
    let b = app.create_client(&coordinator, "Bo", "Chen").await;
    let book = |client: &str, start: &str, end: &str| json!({"client_id": client, "site_id": site, "room_id": chair, "kind": "dosing", "scheduled_start": start, "scheduled_end": end});
    let r =
        app.post("/api/v1/encounters", &coordinator, book(&a, "2030-05-06T14:00:00Z", "2030-05-06T16:00:00Z")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let enc = r.body["id"].as_str().expect("id").to_string();
    let r =
        app.post("/api/v1/encounters", &coordinator, book(&b, "2030-05-06T15:00:00Z", "2030-05-06T17:00:00Z")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.problem_field(), Some("room_id"));

    let chart = app.get(&format!("/api/v1/clients/{a}"), &coordinator).await;
    assert_eq!(chart.body["upcoming"][0]["id"], enc);
    assert_eq!(chart.body["upcoming"][0]["status"], "booked");

    let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &coordinator, json!({"status": "completed"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "must arrive first");
    assert_eq!(r.problem_field(), Some("status"));
    let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &coordinator, json!({"status": "cancelled"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a cancellation says why: {}", r.body);
    assert_eq!(r.problem_field(), Some("reason"));
    let r = app
        .post(
            &format!("/api/v1/encounters/{enc}/status"),
            &coordinator,
            json!({"status": "cancelled", "reason": "client unwell"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status_reason"], "client unwell");
    let r =
        app.post("/api/v1/encounters", &coordinator, book(&b, "2030-05-06T15:00:00Z", "2030-05-06T17:00:00Z")).await;
    assert_eq!(r.status, StatusCode::CREATED, "the cancelled booking freed the chair: {}", r.body);

    let day = app
        .get(&format!("/api/v1/encounters?site={site}&from=2030-05-06T04:00:00Z&to=2030-05-07T04:00:00Z"), &coordinator)
        .await;
    assert_eq!(day.status, StatusCode::OK, "{}", day.body);
    assert_eq!(day.body["total"], 2);
}
