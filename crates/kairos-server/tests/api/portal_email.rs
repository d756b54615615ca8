//! A portal client's e-mail address is where sign-in links go, so staff
//! cannot move it alone: a new address waits until the client confirms it
//! from a link sent to the old address, or a second staff member confirms it
//! in person; until then the record and the portal keep the old address; an
//! invitation goes only to the confirmed address; the old address is told;
//! every step is audited with the addresses before and after.

use crate::helpers::*;
use crate::portal::{Portal, cookie_client, invited_client, portal_session, portal_setup, send};
use kairos_domain::roles::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn details(given: &str, email: Option<&str>) -> serde_json::Value {
    let mut b = json!({"given_name": given, "family_name": "Portal", "date_of_birth": "1985-04-12"});
    if let Some(e) = email {
        b["email"] = json!(e);
    }
    b
}

/// A client with a portal account and a private journal entry.
async fn client_with_private_journal(app: &TestApp, p: &Portal, given: &str, email: &str) -> String {
    let client = invited_client(app, p, given, email).await;
    let c = portal_session(app, email).await;
    let r = send(
        &c,
        Method::POST,
        format!("{}/api/v1/portal/journal", app.base),
        Some(json!({"text": "Private: not for anyone", "mood": 3})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    client
}

/// The link in the newest e-mail to `to` that contains `path`.
async fn link_in_mail(app: &TestApp, to: &str, path: &str) -> Option<String> {
    let mail = app.store.outbox_for(to).await.expect("outbox");
    mail.iter().find_map(|m| {
        let start = m.body.find(path)? + path.len();
        Some(m.body[start..].split_whitespace().next()?.to_string())
    })
}

async fn audit_details(app: &TestApp, client: &str) -> Vec<String> {
    let q = kairos_store::AuditQuery {
        client_id: Some(client.parse().expect("id")),
        page: kairos_store::PageRequest { limit: 500, offset: 0 },
        ..Default::default()
    };
    let page = app.store.list_audit(&q).await.expect("audit");
    page.items.into_iter().filter(|e| e.record_type == "portal_email_change").filter_map(|e| e.detail).collect()
}

#[tokio::test]
async fn a_nurse_cannot_move_a_clients_portal_to_her_own_address() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let client = client_with_private_journal(&app, &p, "Vera", "vera@example.test").await;
    let nurse = app.token_for(Role::Nurse).await;
    let legit = portal_session(&app, "vera@example.test").await;

    // The takeover as reported: change the e-mail, then invite.
    let r = app.put(&format!("/api/v1/clients/{client}"), &nurse, details("Vera", Some("mallory@example.test"))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["email"], "vera@example.test", "the record keeps the old address");
    assert_eq!(r.body["pending_email_change"]["new_email"], "mallory@example.test");
    // The chart says a change waits, and links to where it is confirmed.
    let web = web_session(&app, &p.therapist_email).await;
    let html =
        web.get(format!("{}/clients/{client}", app.base)).send().await.expect("chart").text().await.expect("html");
    assert!(html.contains("mallory@example.test, waits for confirmation"), "{html}");
    assert!(html.contains(&format!("/clients/{client}/details#email-change")));
    let r = app.post(&format!("/api/v1/clients/{client}/portal-invitations"), &nurse, json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["email"], "vera@example.test", "an invitation goes to the confirmed address");
    let r = app
        .post(&format!("/api/v1/clients/{client}/portal-invitations"), &nurse, json!({"email": "mallory@example.test"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.problem_field(), Some("email"));
    assert!(
        app.store.outbox_for("mallory@example.test").await.expect("outbox").is_empty(),
        "nothing to the new address"
    );
    // The portal still knows only the old address; the client's session lives.
    let account = app.store.portal_account(client.parse().expect("id")).await.expect("account").expect("some");
    assert_eq!(account.email, "vera@example.test");
    let r = send(&legit, Method::GET, format!("{}/api/v1/portal/journal", app.base), None).await;
    assert_eq!(r.status, StatusCode::OK, "the client's own session is not revoked");
    // A sign-in link asked for the new address goes nowhere.
    let c = cookie_client();
    crate::portal::ask_for_link(&app, &c, "mallory@example.test").await;
    assert!(app.store.outbox_for("mallory@example.test").await.expect("outbox").is_empty());

    // The old address was told, with the link to confirm.
    assert!(link_in_mail(&app, "vera@example.test", "/portal/email-change/").await.is_some());
    // The one who asked cannot confirm in person; removing the address is refused.
    let r = app.post(&format!("/api/v1/clients/{client}/email-change/confirm"), &nurse, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.problem_field(), Some("witness"));
    let r = app.put(&format!("/api/v1/clients/{client}"), &nurse, details("Vera", None)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.problem_field(), Some("email"));
    // A coordinator reads that a change waits; an admin may not confirm.
    let r = app.get(&format!("/api/v1/clients/{client}/email-change"), &p.coordinator).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["old_email"], "vera@example.test");
    let r = app.post(&format!("/api/v1/clients/{client}/email-change/confirm"), &p.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let audit = audit_details(&app, &client).await;
    assert!(audit.iter().any(|d| d.starts_with("requested: vera@example.test -> mallory@example.test")), "{audit:?}");
    assert!(audit.iter().all(|d| !d.contains("Private")), "no clinical content: {audit:?}");
}

#[tokio::test]
async fn the_client_confirms_a_new_address_from_the_link_sent_to_the_old_one() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let client = client_with_private_journal(&app, &p, "Wren", "wren@example.test").await;
    let old_session = portal_session(&app, "wren@example.test").await;
    let r = app
        .put(&format!("/api/v1/clients/{client}"), &p.therapist, details("Wren", Some("wren.new@example.test")))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let code = link_in_mail(&app, "wren@example.test", "/portal/email-change/").await.expect("link");
    let mail = app.store.outbox_for("wren@example.test").await.expect("outbox");
    assert!(mail.iter().any(|m| m.body.contains("wren.new@example.test")), "the old address sees the new one");

    // Looking at the link changes nothing; pressing the button does.
    let c = cookie_client();
    let page = c.get(format!("{}/portal/email-change/{code}", app.base)).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("html").contains("wren.new@example.test"));
    assert_eq!(
        app.get(&format!("/api/v1/clients/{client}"), &p.therapist).await.body["client"]["email"],
        "wren@example.test"
    );
    let done = c.post(format!("{}/portal/email-change/{code}", app.base)).send().await.expect("post");
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.expect("html").contains("your portal now uses"));
    let again = c.post(format!("{}/portal/email-change/{code}", app.base)).send().await.expect("post");
    assert!(again.text().await.expect("html").contains("This link no longer works"), "once only");

    let account = app.store.portal_account(client.parse().expect("id")).await.expect("account").expect("some");
    assert_eq!(account.email, "wren.new@example.test");
    let chart = app.get(&format!("/api/v1/clients/{client}"), &p.therapist).await;
    assert_eq!(chart.body["client"]["email"], "wren.new@example.test", "{}", chart.body);
    let r = send(&old_session, Method::GET, format!("{}/api/v1/portal/journal", app.base), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "sessions of the old address end");
    let mail = app.store.outbox_for("wren@example.test").await.expect("outbox");
    assert!(mail.iter().any(|m| m.subject.contains("was changed")), "the old address is told of the change");
    // The portal now works at the new address.
    let c = portal_session(&app, "wren.new@example.test").await;
    let r = send(&c, Method::GET, format!("{}/api/v1/portal/journal", app.base), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let audit = audit_details(&app, &client).await;
    assert!(
        audit.iter().any(|d| d == "confirmed (client_link): wren@example.test -> wren.new@example.test"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_second_staff_member_confirms_a_new_address_in_person() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let client = client_with_private_journal(&app, &p, "Yara", "yara@example.test").await;
    let nurse = app.token_for(Role::Nurse).await;
    let r = app.put(&format!("/api/v1/clients/{client}"), &nurse, details("Yara", Some("yara.new@example.test"))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let r = app.post(&format!("/api/v1/clients/{client}/email-change/confirm"), &p.therapist, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["confirmed_via"], "in_person");
    let account = app.store.portal_account(client.parse().expect("id")).await.expect("account").expect("some");
    assert_eq!(account.email, "yara.new@example.test");
    let mail = app.store.outbox_for("yara@example.test").await.expect("outbox");
    assert!(mail.iter().any(|m| m.subject.contains("was changed") && m.body.contains("in person")));
    let r = app.get(&format!("/api/v1/clients/{client}/email-change"), &nurse).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nothing waits any more");

    // A client without a portal account: the address changes at once.
    let other = app.create_client(&p.coordinator, "Zed", "Plain").await;
    let r = app.put(&format!("/api/v1/clients/{other}"), &nurse, details("Zed", Some("zed@example.test"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["email"], "zed@example.test");
    // Cancelling a pending change keeps the address.
    let r = app.put(&format!("/api/v1/clients/{client}"), &nurse, details("Yara", Some("third@example.test"))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = app.call(Method::DELETE, &format!("/api/v1/clients/{client}/email-change"), Some(&nurse), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let account = app.store.portal_account(client.parse().expect("id")).await.expect("account").expect("some");
    assert_eq!(account.email, "yara.new@example.test");
}
