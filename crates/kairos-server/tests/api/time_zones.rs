//! Each record in its own site's time: in a practice whose first site (by
//! creation and by name) is in Chicago, a client seen at its Tokyo site has
//! their safety alert's time shown in Tokyo time, not the first site's.

use crate::helpers::*;
use jiff::{SignedDuration, Timestamp};
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_client_seen_in_tokyo_has_their_times_shown_in_tokyo_time() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let nurse = app.token_for(Role::Nurse).await;
    let (director_email, _) = app.add_staff(&[Role::Director]).await;
    let director = web_session(&app, &director_email).await;
    let mut sites = Vec::new();
    for (name, tz) in [("Aurora", "America/Chicago"), ("Ginza", "Asia/Tokyo")] {
        let r = app.post("/api/v1/sites", &admin, json!({ "name": name, "time_zone": tz })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        sites.push(r.body["id"].as_str().expect("site").to_string());
    }
    let client = app.create_client(&coordinator, "Kenji", "Mori").await;
    let at = |h: i64| (Timestamp::now() + SignedDuration::from_hours(h)).to_string();
    let r = app
        .post(
            "/api/v1/encounters",
            &coordinator,
            json!({ "client_id": client, "site_id": sites[1], "kind": "intake",
                    "scheduled_start": at(-3), "scheduled_end": at(-2) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // An answer to item 9 raises an alert; the director's alert list shows
    // when, in the client's (Tokyo) time.
    let mut answers: Vec<serde_json::Value> = [1, 1, 1, 1, 1, 1, 1, 1, 2].iter().map(|v| json!(v)).collect();
    answers.push(json!(1));
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/measures"),
            &nurse,
            json!({ "instrument": "phq9", "answers": answers }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let alerts = app.get("/api/v1/alerts", &nurse).await;
    let raised: Timestamp = alerts.body[0]["created_at"].as_str().expect("an alert").parse().expect("instant");
    let shown =
        |tz: &str| raised.to_zoned(jiff::tz::TimeZone::get(tz).expect("tz")).strftime("%a %-d %b %H:%M").to_string();
    let page = director.get(format!("{}/alerts", app.base)).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.expect("html");
    assert!(page.contains(&shown("Asia/Tokyo")), "Tokyo time {} on the alerts page", shown("Asia/Tokyo"));
    assert!(!page.contains(&shown("America/Chicago")), "not the first site's time");
}
