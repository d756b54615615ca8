//! The scheduler in the clinic: a coordinator proposes a month for a site,
//! reviews it, applies it (the encounters are booked), and after a
//! cancellation applies a repair that moves the cancelled dose and as little
//! else as it can.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Setup {
    coordinator: String,
    site: String,
    clients: Vec<String>,
}

async fn setup(app: &TestApp) -> Setup {
    let admin = app.token_for(Role::Admin).await;
    let site =
        app.post("/api/v1/sites", &admin, json!({ "name": "Window Clinic", "time_zone": "America/New_York" })).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    for (name, kind) in [("Chair 1", "infusion_chair"), ("Chair 2", "infusion_chair"), ("Room A", "therapy_room")] {
        let r = app.post(&format!("/api/v1/sites/{site}/rooms"), &admin, json!({ "name": name, "kind": kind })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    app.add_staff(&[Role::Nurse]).await;
    let (_, therapist) = app.add_staff(&[Role::Therapist]).await;
    let (p_email, _) = app.add_staff(&[Role::Prescriber]).await;
    let prescriber = app.login(&p_email, PASSWORD).await;
    let mut clients = Vec::new();
    for (i, protocol) in ["ketamine_wet_ptsd", "apa_iv_induction"].iter().enumerate() {
        let client = app.create_client(&prescriber, "Plan", &format!("Client{i}")).await;
        let course = app
            .post(
                &format!("/api/v1/clients/{client}/courses"),
                &prescriber,
                json!({ "protocol": protocol, "started_on": "2026-11-01", "therapist_id": therapist.to_string() }),
            )
            .await;
        let course = course.body["id"].as_str().expect("course").to_string();
        let findings = json!({
            "diagnosis": "PTSD", "prior_treatments": ["sertraline"], "psychosis": "none", "substance_use": "none",
            "cardiovascular_disease": false, "systolic_bp": 122, "diastolic_bp": 78, "heart_rate": 70,
            "pregnancy": "not_applicable", "raised_intracranial_pressure": false, "aneurysmal_vascular_disease": false,
            "intracerebral_haemorrhage_history": false, "medications": [], "weight_kg": 70.0, "allergies": "none known",
            "ketamine_hypersensitivity": false, "off_label_consent": true,
        "bipolar_or_mania": "none", "hepatic_impairment": "none", "breastfeeding": false,
        "sleep_apnoea_or_airway": false, "glaucoma": false, "suicide_risk": "low"
        });
        let s =
            app.post(&format!("/api/v1/courses/{course}/screens"), &prescriber, json!({ "findings": findings })).await;
        let sign = format!("/api/v1/screens/{}/sign", s.body["id"].as_str().expect("screen"));
        assert_eq!(app.post(&sign, &prescriber, json!({ "eligible": true })).await.status, StatusCode::OK);
        clients.push(client);
    }
    Setup { coordinator: app.token_for(Role::Coordinator).await, site, clients }
}

/// The Monday at least a week from now.
fn next_monday() -> String {
    let mut d = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date() + jiff::Span::new().days(7);
    while d.weekday() != jiff::civil::Weekday::Monday {
        d = d.tomorrow().expect("date");
    }
    d.to_string()
}

/// The encounter list of a client from `start` for 45 days.
fn list(client: &str, start: &str) -> String {
    let from: jiff::civil::Date = start.parse().expect("date");
    let to = from + jiff::Span::new().days(45);
    format!("/api/v1/encounters?client={client}&from={start}T00:00:00Z&to={to}T00:00:00Z&limit=100")
}

fn assignments<'a>(plan: &'a Value, client: &str) -> Vec<&'a Value> {
    plan["assignments"].as_array().expect("assignments").iter().filter(|a| a["client"] == client).collect()
}

#[tokio::test]
async fn a_coordinator_proposes_applies_and_repairs_a_month() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let start = next_monday();
    let r = app
        .post("/api/v1/schedule/proposals", &s.coordinator, json!({ "site_id": s.site, "start": start, "days": 0 }))
        .await;
    assert_eq!(r.problem_field(), Some("days"));
    let director = app.token_for(Role::Director).await;
    let r = app
        .post("/api/v1/schedule/proposals", &director, json!({ "site_id": s.site, "start": start, "days": 28 }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = app
        .post("/api/v1/schedule/proposals", &s.coordinator, json!({ "site_id": s.site, "start": start, "days": 28 }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "proposed");
    let plan = &r.body["plan"];
    assert_eq!(plan["summary"]["doses_requested"], 12, "six doses for each course: {}", plan["summary"]);
    assert_eq!(plan["summary"]["doses_scheduled"], 12, "{}", plan["unscheduled"]);
    // Feder: WET sessions only on days without an infusion.
    let feder = assignments(plan, &s.clients[0]);
    let dose_days: Vec<&str> =
        feder.iter().filter(|a| a["kind"] == "dose").filter_map(|a| a["start"].as_str().map(|t| &t[..10])).collect();
    let wet: Vec<&&Value> = feder.iter().filter(|a| a["event"].as_str().is_some_and(|e| e.contains("/wet-"))).collect();
    assert!(!wet.is_empty(), "WET sessions are planned: {feder:?}");
    for w in &wet {
        let day = &w["start"].as_str().expect("start")[..10];
        assert!(!dose_days.contains(&day), "WET on a non-infusion day: {day} vs {dose_days:?}");
    }
    assert_eq!(
        app.get(&list(&s.clients[0], &start), &s.coordinator).await.body["total"],
        0,
        "nothing booked before applying"
    );
    let id = r.body["id"].as_str().expect("id").to_string();
    let names = &r.body["names"];
    assert_eq!(names[s.clients[0].as_str()], "Plan Client0");

    let r = app.post(&format!("/api/v1/schedule/proposals/{id}/apply"), &s.coordinator, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "applied");
    let booked = app.get(&list(&s.clients[0], &start), &s.coordinator).await;
    let items = booked.body["items"].as_array().expect("items");
    assert_eq!(items.iter().filter(|e| e["kind"] == "dosing").count(), 6, "{}", booked.body);
    assert_eq!(items.len(), feder.len(), "one encounter per planned event");
    let r = app.post(&format!("/api/v1/schedule/proposals/{id}/apply"), &s.coordinator, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "applied once");

    // Client 0 cannot come to their second dose: repair.
    let dose2 = feder.iter().find(|a| a["event"].as_str().is_some_and(|e| e.ends_with("/dose-2"))).expect("dose 2");
    let event = dose2["event"].as_str().expect("event").to_string();
    let old_start = dose2["start"].as_str().expect("start").to_string();
    let r = app
        .post(
            &format!("/api/v1/schedule/proposals/{id}/repair"),
            &s.coordinator,
            json!({ "change": { "type": "cancel", "event": event } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let repair = r.body["id"].as_str().expect("repair").to_string();
    assert_eq!(r.body["parent_id"].as_str(), Some(id.as_str()));
    let moved = r.body["plan"]["moved"].as_array().expect("moved");
    let m = moved.iter().find(|m| m["event"] == event.as_str()).expect("the cancelled dose moved");
    assert_ne!(m["to"]["start"].as_str(), Some(old_start.as_str()), "never at its old time");
    assert!(m["reason"].as_str().is_some_and(|x| !x.is_empty()));
    // The exact search over the client's own appointments found a plan that
    // moves nobody else, and says so.
    let own = &r.body["plan"]["summary"]["own_only"];
    assert_eq!(own["outcome"], "kept", "{own}");
    assert_eq!(own["client"].as_str(), Some(s.clients[0].as_str()), "{own}");
    for m in moved {
        let course = m["event"].as_str().expect("event").split('/').next().expect("course");
        assert!(
            feder.iter().any(|a| a["course"] == course),
            "the repair moves the affected client's appointments, not others': {moved:?}"
        );
    }
    let r = app.post(&format!("/api/v1/schedule/proposals/{repair}/apply"), &s.coordinator, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let old = app.get(&format!("/api/v1/schedule/proposals/{id}"), &s.coordinator).await;
    assert_eq!(old.body["status"], "superseded");
    let after = app.get(&list(&s.clients[0], &start), &s.coordinator).await;
    let starts: Vec<String> = after.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["kind"] == "dosing" && e["status"] == "booked")
        .filter_map(|e| e["scheduled_start"].as_str().map(str::to_string))
        .collect();
    assert_eq!(starts.len(), 6, "still six doses booked: {}", after.body);
    let old_ts: jiff::Timestamp = old_start.parse().expect("ts");
    assert!(
        starts.iter().all(|s| s.parse::<jiff::Timestamp>().ok() != Some(old_ts)),
        "no dose left at the cancelled time: {starts:?}"
    );
}

#[tokio::test]
async fn weekly_hours_are_validated_naming_the_field() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let path = format!("/api/v1/clients/{}/availability", s.clients[1]);
    let r = app.put(&path, &s.coordinator, json!({ "hours": [{ "days": [], "from": "13:00", "to": "18:00" }] })).await;
    assert_eq!(r.problem_field(), Some("hours[0].days"));
    let r =
        app.put(&path, &s.coordinator, json!({ "hours": [{ "days": ["mon"], "from": "18:00", "to": "13:00" }] })).await;
    assert_eq!(r.problem_field(), Some("hours[0].to"));
    // An empty body is refused, not taken as "back to the clinic default".
    assert_eq!(app.put(&path, &s.coordinator, json!({})).await.problem_field(), Some("hours"));
    // Afternoons only: every one of this client's appointments starts at 13:00 or later.
    let r = app
        .put(
            &path,
            &s.coordinator,
            json!({ "hours": [{ "days": ["mon", "tue", "wed", "thu", "fri"], "from": "13:00", "to": "18:00" }] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = app
        .post(
            "/api/v1/schedule/proposals",
            &s.coordinator,
            json!({ "site_id": s.site, "start": next_monday(), "days": 28 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let mine = assignments(&r.body["plan"], &s.clients[1]);
    assert!(!mine.is_empty());
    for a in mine {
        let hour: u32 = a["start"].as_str().expect("start")[11..13].parse().expect("hour");
        assert!(hour >= 13, "afternoon only: {a}");
    }
}

#[tokio::test]
async fn the_coordinator_pages_propose_apply_and_repair() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let (email, _) = app.add_staff(&[Role::Coordinator]).await;
    let web = web_session(&app, &email).await;
    let html = web.get(format!("{}/schedule", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("Propose a schedule") && html.contains("Window Clinic"), "{html}");
    let r = web
        .post(format!("{}/schedule/proposals", app.base))
        .form(&[("site_id", s.site.as_str()), ("start", next_monday().as_str()), ("weeks", "4")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let at = r.headers()["location"].to_str().expect("location").to_string();
    let html = web.get(format!("{}{at}", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("Doses scheduled") && html.contains("12 of 12"), "{html}");
    assert!(html.contains("Plan Client0") && html.contains("Apply: book these appointments"));
    // Times on the page are the site's wall-clock times (New York), named.
    let json = app.get(&format!("/api/v1{at}"), &s.coordinator).await;
    let first = json.body["plan"]["assignments"][0]["start"].as_str().expect("start").to_string();
    let t: jiff::Timestamp = first.parse().expect("an instant");
    let wall = t.to_zoned(jiff::tz::TimeZone::get("America/New_York").expect("tz")).strftime("%H:%M–").to_string();
    assert!(html.contains("times in America/New_York") && html.contains(&wall), "{first} as {wall}: {html}");
    let r = web.post(format!("{}{at}/apply", app.base)).send().await.expect("apply");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = web.get(format!("{}{at}", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("Something changed?"), "{html}");
    let event = html
        .split("<option value=\"")
        .map(|x| x.split('"').next().unwrap_or(""))
        .find(|v| v.ends_with("/dose-3"))
        .expect("a dose to cancel")
        .to_string();
    let r = web
        .post(format!("{}{at}/repair", app.base))
        .form(&[("type", "cancel"), ("event", event.as_str())])
        .send()
        .await
        .expect("repair");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let repair = r.headers()["location"].to_str().expect("location").to_string();
    assert_ne!(repair, at);
    let html = web.get(format!("{}{repair}", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("What moves") && html.contains("dose 3"), "{html}");
    assert!(
        html.contains("A repair of the booked schedule after a change. The client cannot come to dose 3 (Plan Client")
            && html.contains("it is rebooked, never at its old time.")
            && !html.contains("<code>"),
        "the change in words, not JSON: {html}"
    );
    assert!(html.contains("own appointments moved"), "the page says only the client's appointments moved: {html}");
    let (director, _) = app.add_staff(&[Role::Director]).await;
    let d = web_session(&app, &director).await;
    assert_eq!(d.get(format!("{}/schedule", app.base)).send().await.expect("get").status(), StatusCode::FORBIDDEN);
}
