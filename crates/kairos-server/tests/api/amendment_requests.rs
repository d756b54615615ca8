//! A client's request to amend their record (45 CFR 164.526; ONC
//! 170.315(d)(4)): asked through the portal (or entered from a letter),
//! answered within 60 days or one 30-day extension, accepted with the
//! amendment appended or denied on one of four grounds with an explanation,
//! and a denied client's statement of disagreement kept with the record.
//! Every step is kept, never changed; the audit log carries no words of it;
//! no client sees another's requests. In headless Chromium on a phone: the
//! client asks, the therapist denies, the client disagrees, and the chart
//! shows it.

use crate::browser::{
    accessibility_violations, browser_available, chromedriver, chromium_session, ensure, finish, page_state, sign_in,
};
use crate::helpers::*;
use crate::portal::{
    code_in_mail, invited_client, link_request_done, link_requests, portal_session, portal_setup, send,
};
use jiff::{SignedDuration, Timestamp};
use kairos_domain::roles::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;
use thirtyfour::prelude::*;

#[tokio::test]
async fn a_client_asks_through_the_portal_and_a_clinician_extends_once_and_decides_once_with_the_reasons_kept() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let client = invited_client(&app, &p, "Ines", "ines@example.test").await;
    let other = invited_client(&app, &p, "Otto", "otto@example.test").await;
    let ines = portal_session(&app, "ines@example.test").await;
    let otto = portal_session(&app, "otto@example.test").await;
    let url = |path: &str| format!("{}/api/v1{path}", app.base);

    // Bad input is refused naming the field; nothing is kept.
    let r = send(
        &ines,
        Method::POST,
        url("/portal/amendment-requests"),
        Some(json!({"area": "dreams", "requested_change": "x"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = send(
        &ines,
        Method::POST,
        url("/portal/amendment-requests"),
        Some(json!({"area": "dosing", "requested_change": "  "})),
    )
    .await;
    assert_eq!(r.problem_field(), Some("requested_change"), "{}", r.body);
    let asked = Timestamp::now();
    let body = json!({
        "area": "dosing",
        "which_record": "my session on 3 November",
        "requested_change": "It says I felt nauseous; I did not. Please correct it."
    });
    let r = send(&ines, Method::POST, url("/portal/amendment-requests"), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "open");
    assert_eq!(r.body["via"], "portal");
    let id = r.body["id"].as_str().expect("id").to_string();
    let due: Timestamp = r.body["due_at"].as_str().expect("due").parse().expect("ts");
    let sixty = asked + SignedDuration::from_hours(24 * 60);
    assert!(due.duration_since(sixty).abs() < SignedDuration::from_secs(60), "due 60 days after: {due} vs {sixty}");

    // The other client sees none of it and cannot answer it.
    let r = send(&otto, Method::GET, url("/portal/amendment-requests"), None).await;
    assert_eq!(r.body, json!([]), "{}", r.body);
    let r = send(
        &otto,
        Method::POST,
        url(&format!("/portal/amendment-requests/{id}/disagreement")),
        Some(json!({"statement": "mine"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.get(&format!("/api/v1/clients/{other}/amendment-requests"), &p.therapist).await;
    assert_eq!(r.body, json!([]));

    // Who decides: the clinicians and the director, not the front desk.
    assert_eq!(app.get("/api/v1/amendment-requests", &p.coordinator).await.status, StatusCode::FORBIDDEN);
    let q = app.get("/api/v1/amendment-requests", &p.therapist).await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    assert_eq!(q.body["open"].as_array().map(Vec::len), Some(1), "{}", q.body);
    let decide = format!("/api/v1/amendment-requests/{id}/decision");
    let extend = format!("/api/v1/amendment-requests/{id}/extension");
    assert_eq!(
        app.post(&decide, &p.coordinator, json!({"decision": "accept", "amendment": "x"})).await.status,
        StatusCode::FORBIDDEN
    );

    // One extension, with reasons, by 30 days.
    let r = app.post(&extend, &p.therapist, json!({"reasons": " "})).await;
    assert_eq!(r.problem_field(), Some("reasons"), "{}", r.body);
    let r =
        app.post(&extend, &p.therapist, json!({"reasons": "The nurse who charted it is away until next week."})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new_due: Timestamp = r.body["due_at"].as_str().expect("due").parse().expect("ts");
    assert_eq!(new_due, due + SignedDuration::from_hours(24 * 30));
    let r = app.post(&extend, &p.therapist, json!({"reasons": "again"})).await;
    assert_eq!(r.problem_field(), Some("due"), "once only: {}", r.body);

    // A decision needs what it needs, and happens once.
    let r = app.post(&decide, &p.therapist, json!({"decision": "maybe"})).await;
    assert_eq!(r.problem_field(), Some("decision"), "{}", r.body);
    let r = app.post(&decide, &p.therapist, json!({"decision": "accept", "amendment": ""})).await;
    assert_eq!(r.problem_field(), Some("amendment"), "{}", r.body);
    let r = app.post(&decide, &p.therapist, json!({"decision": "deny", "explanation": "Seen by two nurses."})).await;
    assert_eq!(r.problem_field(), Some("basis"), "{}", r.body);
    let r = app
        .post(&decide, &p.therapist, json!({"decision": "deny", "basis": "accurate_and_complete", "explanation": ""}))
        .await;
    assert_eq!(r.problem_field(), Some("explanation"), "{}", r.body);
    let r = app
        .post(
            &decide,
            &p.therapist,
            json!({"decision": "deny", "basis": "accurate_and_complete", "explanation": "Two nurses recorded nausea at 40 minutes and gave ondansetron."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "denied");
    let r = app.post(&decide, &p.therapist, json!({"decision": "accept", "amendment": "Corrected."})).await;
    assert_eq!(r.problem_field(), Some("decision"), "decided once: {}", r.body);

    // The client is told by e-mail (no words of the request or the answer).
    let mail = app.store.outbox_for("ines@example.test").await.expect("outbox");
    let told: Vec<_> = mail.iter().filter(|m| m.subject.contains("request")).collect();
    assert_eq!(
        told.len(),
        2,
        "the extension and the answer: {:?}",
        mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert!(told.iter().all(|m| !m.body.contains("nausea") && m.body.contains("/portal/amendments")));

    // The client reads the answer and files a statement of disagreement, once.
    let r = send(&ines, Method::GET, url("/portal/amendment-requests"), None).await;
    assert_eq!(r.body[0]["status"], "denied", "{}", r.body);
    let steps = r.body[0]["steps"].as_array().expect("steps");
    assert_eq!(steps.iter().map(|s| s["kind"].as_str().unwrap_or("")).collect::<Vec<_>>(), ["extended", "denied"]);
    let disagree = url(&format!("/portal/amendment-requests/{id}/disagreement"));
    let r = send(&ines, Method::POST, disagree.clone(), Some(json!({"statement": ""}))).await;
    assert_eq!(r.problem_field(), Some("statement"), "{}", r.body);
    let r =
        send(&ines, Method::POST, disagree.clone(), Some(json!({"statement": "I was not sick; I was anxious."}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "denied_disagreed");
    let r = send(&ines, Method::POST, disagree, Some(json!({"statement": "again"}))).await;
    assert_eq!(r.problem_field(), Some("statement"), "once: {}", r.body);

    // The chart shows it all, to those who read the chart.
    let r = app.get(&format!("/api/v1/clients/{client}/amendment-requests"), &p.therapist).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let kinds: Vec<&str> =
        r.body[0]["steps"].as_array().expect("steps").iter().filter_map(|s| s["kind"].as_str()).collect();
    assert_eq!(kinds, ["extended", "denied", "disagreed"]);

    // A request received in writing, entered by the front desk, accepted.
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/amendment-requests"),
            &p.coordinator,
            json!({"area": "details", "requested_change": "My middle name is missing: Ines Maria."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["via"], "in_writing");
    let id2 = r.body["id"].as_str().expect("id").to_string();
    let r = app
        .post(
            &format!("/api/v1/amendment-requests/{id2}/decision"),
            &p.therapist,
            json!({"decision": "accept", "amendment": "Given names corrected to Ines Maria (details changed the same day)."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "accepted");
    let q = app.get("/api/v1/amendment-requests", &p.therapist).await;
    assert_eq!(q.body["open"], json!([]));
    assert_eq!(q.body["decided"].as_array().map(Vec::len), Some(2));

    // Kept, never changed: the database refuses an edit or a removal.
    for sql in [
        "UPDATE amendment_requests SET requested_change = 'rewritten'",
        "DELETE FROM amendment_request_steps",
        "UPDATE amendment_request_steps SET text = 'rewritten'",
    ] {
        assert!(sqlx::query(sql).execute(app.store.pool()).await.is_err(), "{sql}");
    }

    // The audit log says who asked and decided what, never the words.
    let admin = app.token_for(Role::Admin).await;
    let log = app.get(&format!("/api/v1/audit?client={client}&limit=200"), &admin).await;
    let items = log.body["items"].as_array().expect("items");
    assert!(items.iter().any(|e| e["record_type"] == "amendment_request" && e["action"] == "create"), "{items:?}");
    assert!(
        items.iter().any(|e| e["record_type"] == "amendment_request"
            && e["detail"].as_str() == Some("denied: accurate_and_complete")),
        "{items:?}"
    );
    let text = log.body.to_string();
    for words in ["nauseous", "ondansetron", "anxious", "Ines Maria", "away until"] {
        assert!(!text.contains(words), "{words} stays out of the audit log");
    }
}

/// Signs the client in on the portal with a one-time link.
async fn portal_sign_in(b: &WebDriver, app: &TestApp, email: &str) -> WebDriverResult<()> {
    let before = link_requests(app, email).await;
    b.goto(format!("{}/portal/login", app.base)).await?;
    b.find(By::Id("email")).await?.send_keys(email).await?;
    b.find(By::XPath("//button[normalize-space(.)='E-mail me a sign-in link']")).await?.click().await?;
    b.query(By::XPath("//*[contains(., 'sign-in link is on its way')]")).first().await?;
    link_request_done(app, email, before).await;
    let code = code_in_mail(app, email).await;
    b.goto(format!("{}/portal/auth/{code}", app.base)).await?;
    b.find(By::XPath("//button[normalize-space(.)='Sign in']")).await?.click().await?;
    b.query(By::XPath("//h1[starts-with(normalize-space(.), 'Hello')]")).first().await?;
    Ok(())
}

#[tokio::test]
async fn a_client_asks_on_a_phone_the_therapist_denies_and_the_clients_disagreement_reaches_the_chart_in_chromium() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let client = invited_client(&app, &p, "Ruth", "ruth@example.test").await;
    let (_driver, url) = chromedriver();
    let (b, profile) = chromium_session(&url, true).await;
    let run = async {
        // The client signs in with a link and asks, on a phone.
        portal_sign_in(&b, &app, "ruth@example.test").await?;
        b.find(By::LinkText("Change my record")).await?.click().await?;
        b.query(By::Id("no-requests")).first().await?;
        let calls = b.find_all(By::Css("aside.crisis a[href^='tel:']")).await?;
        ensure!(calls.len() >= 2, "the crisis box with tap-to-call where the client writes: {}", calls.len());
        let v = accessibility_violations(&b).await?;
        ensure!(v.is_empty(), "axe on the request page: {v:#?}");
        // Sent without saying what: refused, the choice kept.
        b.find(By::Css("input[name='area'][value='questionnaire']")).await?.click().await?;
        b.execute("document.getElementById('requested_change').removeAttribute('required');", vec![]).await?;
        b.find(By::XPath("//button[normalize-space(.)='Send my request']")).await?.click().await?;
        let Ok(err) = b.query(By::Id("form-error")).first().await else {
            return Err(format!("no refusal: {}", page_state(&b).await).into());
        };
        ensure!(err.attr("data-field").await?.as_deref() == Some("requested_change"), "names the field");
        ensure!(b.find(By::Css("input[name='area'][value='questionnaire']")).await?.is_selected().await?, "kept");
        b.find(By::Id("requested_change")).await?.send_keys("My PHQ-9 from 2 November has my answers swapped.").await?;
        b.find(By::XPath("//button[normalize-space(.)='Send my request']")).await?.click().await?;
        b.query(By::Id("asked")).first().await?;
        let status = b.query(By::Css("article[data-status]")).first().await?.attr("data-status").await?;
        ensure!(status.as_deref() == Some("open"), "open: {status:?}");

        // The therapist denies it from the queue.
        sign_in(&b, &app, &p.therapist_email, "/amendment-requests").await?;
        let Ok(link) = b.query(By::Css("#open-requests a")).first().await else {
            return Err(format!("nothing in the queue: {}", page_state(&b).await).into());
        };
        link.click().await?;
        b.query(By::Id("requested-change")).first().await?;
        let v = accessibility_violations(&b).await?;
        ensure!(v.is_empty(), "axe on the request: {v:#?}");
        b.find(By::Css("input[name='basis'][value='accurate_and_complete']")).await?.click().await?;
        b.find(By::Id("explanation-text"))
            .await?
            .send_keys("You checked these answers with your therapist that day.")
            .await?;
        b.find(By::XPath("//button[normalize-space(.)='Deny the request']")).await?.click().await?;
        let Ok(_) = b.query(By::Css("#standing[data-status='denied']")).first().await else {
            return Err(format!("not denied: {}", page_state(&b).await).into());
        };
        ensure!(b.find(By::Id("explanation")).await?.text().await?.contains("checked these answers"), "shown");

        // The client reads why and disagrees; it is kept with the record.
        portal_sign_in(&b, &app, "ruth@example.test").await?;
        b.goto(format!("{}/portal/amendments", app.base)).await?;
        let Ok(statement) = b.query(By::Css("textarea[name='statement']")).first().await else {
            return Err(format!("no statement form: {}", page_state(&b).await).into());
        };
        let page = b.find(By::Css("article[data-status]")).await?.text().await?;
        ensure!(page.contains("accurate and complete") && page.contains("checked these answers"), "{page}");
        statement.send_keys("I was too tired that day to check them properly.").await?;
        b.find(By::XPath("//button[normalize-space(.)='Keep my statement with my record']")).await?.click().await?;
        let Ok(_) = b.query(By::Css("article[data-status='denied_disagreed']")).first().await else {
            return Err(format!("the statement was not kept: {}", page_state(&b).await).into());
        };

        // The chart shows the denial and the statement to whoever reads it.
        sign_in(&b, &app, &p.therapist_email, &format!("/clients/{client}")).await?;
        let Ok(section) = b.query(By::Id("amendments")).first().await else {
            return Err(format!("no amendments on the chart: {}", page_state(&b).await).into());
        };
        let text = section.text().await?;
        ensure!(text.contains("too tired that day") && text.contains("Denied"), "{text}");
        Ok(())
    }
    .await;
    finish(b, profile, run).await;
}
