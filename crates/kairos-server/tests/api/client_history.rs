//! A client's details are never overwritten without a trace: every change
//! keeps the version before it, the history shows each field before and
//! after with who and when, and the audit entry names the fields changed,
//! never their values. In headless Chromium: a coordinator changes a
//! client's address and reads the change on the history page.

use crate::browser::{
    accessibility_violations, browser_available, chromedriver, chromium_session, ensure, finish, page_state, sign_in,
};
use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;
use thirtyfour::prelude::*;

#[tokio::test]
async fn each_change_of_a_clients_details_is_kept_with_before_after_and_who() {
    let app = spawn_app().await;
    let (coordinator_email, coordinator_id) = app.add_staff(&[Role::Coordinator]).await;
    let coordinator = app.login(&coordinator_email, PASSWORD).await;
    let therapist = app.token_for(Role::Therapist).await;
    let admin = app.token_for(Role::Admin).await;
    let client = app.create_client(&coordinator, "Ada", "Lin").await;
    let history = format!("/api/v1/clients/{client}/history");
    let r = app.get(&history, &therapist).await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!([])), "no change yet");

    let first = json!({ "given_name": "Ada", "family_name": "Lin", "date_of_birth": "1985-04-12",
                        "address": "1 Old Road, Springfield", "phone": "+1 555 0100 100" });
    assert_eq!(app.put(&format!("/api/v1/clients/{client}"), &coordinator, first.clone()).await.status, StatusCode::OK);
    let moved = json!({ "given_name": "Ada", "family_name": "Lin-Okafor", "date_of_birth": "1985-04-12",
                        "address": "9 New Street, Fairhaven", "phone": "+1 555 0100 100" });
    assert_eq!(app.put(&format!("/api/v1/clients/{client}"), &coordinator, moved.clone()).await.status, StatusCode::OK);
    // The same details again change nothing, and keep no version.
    assert_eq!(app.put(&format!("/api/v1/clients/{client}"), &coordinator, moved).await.status, StatusCode::OK);

    let r = app.get(&history, &therapist).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let changes = r.body.as_array().expect("changes");
    assert_eq!(changes.len(), 2, "{}", r.body);
    assert_eq!(changes[0]["version"], 2, "newest first");
    assert_eq!(changes[0]["changed_by"], coordinator_id.to_string());
    assert_eq!(
        changes[0]["changes"],
        json!([
            { "field": "family_name", "before": "Lin", "after": "Lin-Okafor" },
            { "field": "address", "before": "1 Old Road, Springfield", "after": "9 New Street, Fairhaven" },
        ])
    );
    assert_eq!(
        changes[1]["changes"],
        json!([
            { "field": "phone", "before": "", "after": "+1 555 0100 100" },
            { "field": "address", "before": "", "after": "1 Old Road, Springfield" },
        ])
    );

    // The audit names the fields, not the values; the history's read is audited.
    let log = app.get(&format!("/api/v1/audit?client={client}&limit=100"), &admin).await;
    let items = log.body["items"].as_array().expect("items");
    let updates: Vec<&str> = items
        .iter()
        .filter(|e| e["action"] == "update" && e["record_type"] == "client")
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert_eq!(updates, vec!["no change", "changed: family_name, address", "changed: phone, address"], "{items:?}");
    assert!(!log.body.to_string().contains("New Street"), "no value in the audit log");
    assert!(items.iter().any(|e| e["action"] == "read" && e["record_type"] == "client_history"));

    // The administrator does not read charts, nor their history.
    assert_eq!(app.get(&history, &admin).await.status, StatusCode::FORBIDDEN);
    let nobody = format!("/api/v1/clients/{}/history", uuid::Uuid::now_v7());
    assert_eq!(app.get(&nobody, &therapist).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_coordinator_changes_an_address_and_reads_the_change_on_the_history_page() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Coordinator]).await;
    let coordinator = app.login(&email, PASSWORD).await;
    let client = app.create_client(&coordinator, "Noor", "Haddad").await;
    let body = json!({ "given_name": "Noor", "family_name": "Haddad", "date_of_birth": "1985-04-12",
                       "address": "1 Old Road, Springfield" });
    assert_eq!(app.put(&format!("/api/v1/clients/{client}"), &coordinator, body).await.status, StatusCode::OK);
    let (_driver, url) = chromedriver();
    let (b, profile) = chromium_session(&url, false).await;
    let run = async {
        sign_in(&b, &app, &email, &format!("/clients/{client}/details")).await?;
        let address = b.query(By::Id("address")).first().await?;
        address.clear().await?;
        address.send_keys("9 New Street, Fairhaven").await?;
        b.find(By::XPath("//button[normalize-space(.)='Save the details']")).await?.click().await?;
        let Ok(link) = b.query(By::Id("details-history-link")).first().await else {
            return Err(format!("not back at the chart: {}", page_state(&b).await).into());
        };
        link.click().await?;
        let Ok(list) = b.query(By::Id("details-history")).first().await else {
            return Err(format!("no history: {}", page_state(&b).await).into());
        };
        let text = list.text().await?;
        let newest = text.split("by ").nth(1).unwrap_or_default().to_string();
        ensure!(newest.starts_with("Test coordinator"), "who: {text}");
        ensure!(
            text.contains("Address 1 Old Road, Springfield 9 New Street, Fairhaven"),
            "the address before and after: {text}"
        );
        ensure!(text.contains("Address (none) 1 Old Road, Springfield"), "the first change too: {text}");
        let v = accessibility_violations(&b).await?;
        ensure!(v.is_empty(), "axe on the history page: {v:#?}");
        Ok(())
    }
    .await;
    finish(b, profile, run).await;
}
