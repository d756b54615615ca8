//! A therapist sees a dose whose window is open with no integration session
//! and books one from the list; the dose then leaves the list.

use crate::helpers::*;
use crate::ledger::{clinic, start_dose};
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_therapist_books_the_missing_integration_session_from_the_list() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "apa_iv_induction").await;
    let session = start_dose(&app, &c, 0).await;
    let discharged = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).to_string();
    let r = app
        .post(
            &format!("/api/v1/dosing-sessions/{session}/discharge"),
            &c.nurse,
            json!({ "at": discharged, "accompanied_by": "partner" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let (email, _) = app.add_staff(&[Role::Therapist]).await;
    let web = web_session(&app, &email).await;
    let html = web.get(format!("{}/windows/unbooked", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("Ledger Client0") && html.contains("Book an integration session"), "{html}");
    assert!(html.contains("1 window closing with no session booked."), "the list says how many: {html}");
    // The suggested time lies inside the clinic's hours (Monday to Friday,
    // 08:00-18:00 by default), whatever the hour now; the form offers the
    // therapist and the room.
    let dose_id = &c.encounters[0];
    let at = suggested_start(&html, dose_id);
    assert!(
        (8..=17).contains(&at.hour())
            && !matches!(at.weekday(), jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday),
        "inside the site's hours: {at}"
    );
    assert!(
        html.contains("name=\"therapist\"")
            && html.contains(&format!("id=\"room-{dose_id}\""))
            && html.contains("Another therapist, room or time"),
        "{html}"
    );
    let dose = &c.encounters[0];
    let r = web
        .post(format!("{}/windows/book", app.base))
        .form(&[("dose", dose.as_str()), ("start", "not a time")])
        .send()
        .await
        .expect("post");
    let html = r.text().await.expect("html");
    assert!(html.contains("Session start: give a date and time such as"), "{html}");
    // Tomorrow at 10:00 clinic time (New York): inside the 24-72 h preferred window.
    let tz = jiff::tz::TimeZone::get("America/New_York").expect("tz");
    let tomorrow = jiff::Timestamp::now().to_zoned(tz).date().tomorrow().expect("date");
    let start = format!("{tomorrow}T10:00");
    let r = web
        .post(format!("{}/windows/book", app.base))
        .form(&[("dose", dose.as_str()), ("start", start.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = web.get(format!("{}/windows/unbooked", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(!html.contains("Ledger Client0"), "the dose has its session now: {html}");
    assert!(html.contains("0 windows closing with no session booked."), "{html}");
    let chart = web
        .get(format!("{}/clients/{}", app.base, c.clients[0]))
        .send()
        .await
        .expect("chart")
        .text()
        .await
        .expect("html");
    assert!(chart.contains("Doses and their integration window") && chart.contains("booked in the window"), "{chart}");
    let w = app.get(&format!("/api/v1/clients/{}/windows", c.clients[0]), &c.prescriber).await;
    assert_eq!(w.body["doses"][0]["status"], "booked_in_window", "{}", w.body);
    let coordinator = web_session(&app, &app.add_staff(&[Role::Director]).await.0).await;
    let r = coordinator
        .post(format!("{}/windows/book", app.base))
        .form(&[("dose", dose.as_str()), ("start", start.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a director does not book");
}

/// The suggested start of a dose's integration session on the list.
fn suggested_start(html: &str, dose: &str) -> jiff::civil::DateTime {
    html.split(&format!("id=\"start-{dose}\" name=\"start\" type=\"datetime-local\" value=\""))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a suggested start")
        .parse()
        .expect("datetime-local")
}

#[tokio::test]
async fn the_suggested_time_steps_around_the_clients_bookings_and_can_be_booked() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "apa_iv_induction").await;
    start_dose(&app, &c, 0).await;
    let (email, _) = app.add_staff(&[Role::Therapist]).await;
    let web = web_session(&app, &email).await;
    let list = || async {
        web.get(format!("{}/windows/unbooked", app.base)).send().await.expect("get").text().await.expect("html")
    };
    let dose = c.encounters[0].as_str();
    let first = suggested_start(&list().await, dose);
    // The client is booked for a preparation visit at that hour and the next
    // (the site is in New York).
    let tz = jiff::tz::TimeZone::get("America/New_York").expect("tz");
    let instant = |t: jiff::civil::DateTime| t.to_zoned(tz.clone()).expect("local time").timestamp();
    let busy_until = first.checked_add(jiff::SignedDuration::from_mins(90)).expect("time");
    let r = app
        .post(
            "/api/v1/encounters",
            &c.prescriber,
            json!({ "client_id": c.clients[0], "site_id": c.site, "kind": "preparation",
                    "scheduled_start": instant(first).to_string(), "scheduled_end": instant(busy_until).to_string() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let second = suggested_start(&list().await, dose);
    assert!(second >= busy_until, "the suggestion moved past the client's visit: {first} then {second}");
    // And it is a time that books.
    let start = second.strftime("%Y-%m-%dT%H:%M").to_string();
    let r = web
        .post(format!("{}/windows/book", app.base))
        .form(&[("dose", dose), ("start", start.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap_or_default());
    assert!(list().await.contains("0 windows closing with no session booked."));
}
