//! Emergency ("break-glass") access, ONC 170.315(d)(6): a coordinator or
//! administrator, whose roles do not open clinical records, opens one
//! client's emergency summary with a stated reason, read-only, for a
//! limited time; every access and read is audited under the client, and the
//! director reviews each one once. In headless Chromium: the coordinator
//! finds the client by name and birth date, reads the summary, and the
//! director reviews it.

use crate::browser::{
    accessibility_violations, browser_available, chromedriver, chromium_session, ensure, finish, page_state, sign_in,
};
use crate::helpers::*;
use crate::ledger::clinic;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;
use thirtyfour::prelude::*;

#[tokio::test]
async fn a_coordinator_breaks_glass_with_a_reason_reads_one_summary_for_a_while_and_the_director_reviews_it() {
    let app = spawn_app().await;
    let c = clinic(&app, 2, "esketamine_label").await;
    let (client, other) = (c.clients[0].clone(), c.clients[1].clone());
    let coordinator = app.token_for(Role::Coordinator).await;
    let admin = app.token_for(Role::Admin).await;
    let therapist = app.token_for(Role::Therapist).await;
    let director = app.token_for(Role::Director).await;
    let open = format!("/api/v1/clients/{client}/emergency-access");
    let summary = format!("/api/v1/clients/{client}/emergency-summary");

    // Without an access: no summary, and the administrator reads no chart.
    assert_eq!(app.get(&summary, &coordinator).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&format!("/api/v1/clients/{client}"), &admin).await.status, StatusCode::FORBIDDEN);
    // A role the clinic has not named cannot break glass; a reason is required.
    assert_eq!(app.post(&open, &therapist, json!({ "reason": "curious" })).await.status, StatusCode::FORBIDDEN);
    let r = app.post(&open, &admin, json!({ "reason": "  " })).await;
    assert_eq!(r.problem_field(), Some("reason"), "{}", r.body);

    let reason = "Client collapsed in the waiting room; paramedics ask for allergies and medicines";
    let r = app.post(&open, &admin, json!({ "reason": reason })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let access = r.body["id"].as_str().expect("access").to_string();
    let r = app.get(&summary, &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "Ledger Client0");
    assert_eq!(r.body["allergies"], "none known");
    assert_eq!(r.body["medications"], json!(["benzodiazepine"]));
    assert_eq!(r.body["access"]["reason"], reason);
    // One client only, read-only, and the chart itself stays closed.
    let r = app.get(&format!("/api/v1/clients/{other}/emergency-summary"), &admin).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&format!("/api/v1/clients/{client}"), &admin).await.status, StatusCode::FORBIDDEN);
    let r = app
        .put(
            &format!("/api/v1/clients/{client}"),
            &admin,
            json!({ "given_name": "X", "family_name": "Y", "date_of_birth": "1985-04-12" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The audit has the access and the read, under the client, with the access's id.
    let auditor = app.token_for(Role::Admin).await;
    let log = app.get(&format!("/api/v1/audit?client={client}&limit=100"), &auditor).await;
    let items = log.body["items"].as_array().expect("items");
    assert!(items.iter().any(|e| e["record_type"] == "emergency_access" && e["action"] == "create"), "{items:?}");
    assert!(
        items
            .iter()
            .any(|e| e["record_type"] == "emergency_summary"
                && e["detail"].as_str().is_some_and(|d| d.contains(&access))),
        "{items:?}"
    );
    assert!(!log.body.to_string().contains("paramedics"), "the reason stays in the access, not the audit log");

    // The director's queue.
    assert_eq!(app.get("/api/v1/emergency-access", &coordinator).await.status, StatusCode::FORBIDDEN);
    let q = app.get("/api/v1/emergency-access", &director).await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    assert_eq!(q.body.as_array().map(Vec::len), Some(1));
    assert_eq!(q.body[0]["id"].as_str(), Some(access.as_str()));
    let review = format!("/api/v1/emergency-access/{access}/review");
    let r = app.post(&review, &director, json!({ "note": "" })).await;
    assert_eq!(r.problem_field(), Some("note"), "{}", r.body);
    let r = app.post(&review, &director, json!({ "note": "Appropriate: medical emergency on site" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["reviewed_at"].is_string());
    let r = app.post(&review, &director, json!({ "note": "again" })).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "reviewed once: {}", r.body);
    assert_eq!(app.get("/api/v1/emergency-access", &director).await.body, json!([]));
    let all = app.get("/api/v1/emergency-access?waiting=false", &director).await;
    assert_eq!(all.body[0]["review_note"], "Appropriate: medical emergency on site");
}

#[tokio::test]
async fn an_emergency_access_ends_when_its_time_is_up() {
    let app = spawn_app_with(kairos_server::Config {
        break_glass_lifetime: jiff::SignedDuration::from_secs(1),
        ..test_config()
    })
    .await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let client = app.create_client(&coordinator, "Ada", "Lin").await;
    let r = app
        .post(&format!("/api/v1/clients/{client}/emergency-access"), &coordinator, json!({ "reason": "fall" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let summary = format!("/api/v1/clients/{client}/emergency-summary");
    assert_eq!(app.get(&summary, &coordinator).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.get(&summary, &coordinator).await.status, StatusCode::FORBIDDEN, "expired");
}

#[tokio::test]
async fn a_coordinator_finds_the_client_opens_the_emergency_summary_and_the_director_reviews_it_in_chromium() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let c = clinic(&app, 1, "esketamine_label").await;
    let (coordinator, _) = app.add_staff(&[Role::Coordinator]).await;
    let (director, _) = app.add_staff(&[Role::Director]).await;
    let _ = c;
    let (_driver, url) = chromedriver();
    let (b, profile) = chromium_session(&url, false).await;
    let run = async {
        sign_in(&b, &app, &coordinator, "/emergency").await?;
        b.query(By::Id("emergency-form")).first().await?;
        let v = accessibility_violations(&b).await?;
        ensure!(v.is_empty(), "axe on the emergency form: {v:#?}");
        b.find(By::Id("family_name")).await?.send_keys("client0").await?;
        b.execute("document.getElementById('date_of_birth').value = '1985-04-12';", vec![]).await?;
        b.find(By::Id("reason")).await?.send_keys("Fainted at the front desk; ambulance asks for allergies").await?;
        b.find(By::XPath("//button[normalize-space(.)='Open the emergency summary']")).await?.click().await?;
        let Ok(summary) = b.query(By::Id("emergency-summary")).first().await else {
            return Err(format!("no summary: {}", page_state(&b).await).into());
        };
        let text = summary.text().await?;
        ensure!(text.contains("none known") && text.contains("benzodiazepine"), "{text}");
        let notice = b.find(By::Id("emergency-notice")).await?.text().await?;
        ensure!(notice.contains("Fainted at the front desk"), "{notice}");
        let v = accessibility_violations(&b).await?;
        ensure!(v.is_empty(), "axe on the summary: {v:#?}");

        sign_in(&b, &app, &director, "/emergency-access").await?;
        let Ok(item) = b.query(By::Css("#emergency-reviews li")).first().await else {
            return Err(format!("nothing to review: {}", page_state(&b).await).into());
        };
        ensure!(item.text().await?.contains("Fainted at the front desk"), "{}", item.text().await?);
        item.find(By::Tag("textarea")).await?.send_keys("Appropriate").await?;
        item.find(By::Tag("button")).await?.click().await?;
        let Ok(done) = b.query(By::Id("no-reviews")).first().await else {
            return Err(format!("still waiting: {}", page_state(&b).await).into());
        };
        ensure!(done.text().await?.contains("Nothing waits"), "{}", done.text().await?);
        Ok(())
    }
    .await;
    finish(b, profile, run).await;
}
