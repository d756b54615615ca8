//! A therapist sees a dose whose window is open with no integration session
//! and books one from the list; the dose then leaves the list.

use crate::helpers::*;
use crate::ledger::{clinic, start_with_stock};
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_therapist_books_the_missing_integration_session_from_the_list() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "apa_iv_induction").await;
    let r = app
        .post(
            &format!("/api/v1/encounters/{}/dosing-session", c.encounters[0]),
            &c.nurse,
            start_with_stock(&c.stock, None),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let session = r.body["id"].as_str().expect("session").to_string();
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
    let suggested = html
        .split(&format!("id=\"start-{dose_id}\" name=\"start\" type=\"datetime-local\" value=\""))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a suggested start");
    let at: jiff::civil::DateTime = suggested.parse().expect("datetime-local");
    assert!(
        (8..=17).contains(&at.hour())
            && !matches!(at.weekday(), jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday),
        "inside the site's hours: {suggested}"
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
