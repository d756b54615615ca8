//! Crisis help wherever a client says how they feel in the portal: the
//! tap-to-call box on the home, exercise and journal pages, and a journal
//! entry's "I need help now", which raises an urgent alert for the client's
//! clinicians in the same write and shows the crisis steps at once.

use crate::helpers::*;
use crate::portal::{asat_client, invited_client, portal_session, portal_setup, send};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The open alerts `token`'s holder sees for `client`.
async fn open_alerts(app: &TestApp, token: &str, client: &str) -> Vec<Value> {
    let r = app.get("/api/v1/alerts", token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body.as_array().expect("alerts").iter().filter(|a| a["client_id"] == client).cloned().collect()
}

fn has_call_buttons(html: &str) -> bool {
    html.contains("href=\"tel:911\"") && html.contains("href=\"tel:988\"")
}

/// The crisis box: what to do, and the buttons.
fn has_crisis_box(html: &str) -> bool {
    html.contains("Need help now?") && has_call_buttons(html)
}

#[tokio::test]
async fn the_home_exercise_and_journal_pages_carry_tap_to_call_crisis_help() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let (_, dose) = asat_client(&app, &p, "dia@example.test", 25).await;
    let c = portal_session(&app, "dia@example.test").await;
    for path in ["/portal", "/portal/journal"] {
        let html = c.get(format!("{}{path}", app.base)).send().await.expect("get").text().await.expect("html");
        assert!(has_crisis_box(&html), "{path}: {html}");
    }
    let r = send(
        &c,
        Method::POST,
        format!("{}/api/v1/portal/exercises", app.base),
        Some(json!({ "dose_encounter_id": dose, "slot": 1 })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().expect("id");
    let html =
        c.get(format!("{}/portal/exercises/{id}", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(has_crisis_box(&html), "{html}");
}

#[tokio::test]
async fn i_need_help_now_in_the_journal_alerts_the_care_team_and_shows_the_crisis_steps() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let client = invited_client(&app, &p, "Eli", "eli@example.test").await;
    let c = portal_session(&app, "eli@example.test").await;
    // An ordinary private entry raises nothing.
    let r =
        c.post(format!("{}/portal/journal", app.base)).form(&[("text", "A quiet day.")]).send().await.expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(open_alerts(&app, &p.therapist, &client).await.is_empty());

    // A private entry with "I need help now", written on the phone.
    let r = c
        .post(format!("{}/portal/journal", app.base))
        .form(&[("text", "Everything feels too much tonight."), ("help_now", "1")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    assert!(html.contains("Please read this now") && html.contains("Your care team has been told"), "{html}");
    assert!(
        html.contains("<strong>nobody may be reading this right now</strong>") && has_call_buttons(&html),
        "{html}"
    );
    assert!(html.contains("it stays private"), "{html}");

    // One urgent alert for the therapist, which says where it came from and
    // not what the private entry says.
    let list = open_alerts(&app, &p.therapist, &client).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!((list[0]["level"].as_str(), list[0]["item"].as_str()), (Some("urgent"), Some("help_now")));
    let message = list[0]["message"].as_str().expect("message");
    assert!(message.contains("asked for help now") && message.contains("private"), "{message}");
    assert!(!format!("{list:?}").contains("too much tonight"), "a private entry stays private");

    // Through the API, with no words: the entry is saved and the alert raised.
    let r = send(
        &c,
        Method::POST,
        format!("{}/api/v1/portal/journal", app.base),
        Some(json!({ "text": "", "help_now": true, "shared": true })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["text"], "I need help now.");
    assert_eq!(open_alerts(&app, &p.therapist, &client).await.len(), 2);
    // Without help_now an empty entry is still refused, naming the field.
    let r = send(&c, Method::POST, format!("{}/api/v1/portal/journal", app.base), Some(json!({ "text": " " }))).await;
    assert_eq!(r.problem_field(), Some("text"));
}
