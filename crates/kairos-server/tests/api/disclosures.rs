//! Disclosures of a client's record (45 CFR 164.528; ONC 170.315(d)(11)):
//! recorded by hand with when, to whom, what and why; recorded for each
//! client a ledger report names when it is handed to an inspector (and for
//! a submitted REMS form: `dosing_records.rs`); the accounting covers six
//! years and leaves treatment, payment and operations out unless asked for
//! all; never changed; one client's never shown with another's. In
//! Chromium: a coordinator records one and reads the accounting.

use crate::browser::{
    accessibility_violations, browser_available, chromedriver, chromium_session, ensure, finish, page_state, sign_in,
};
use crate::helpers::*;
use crate::ledger::{clinic, start_with_stock};
use jiff::{SignedDuration, Timestamp};
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;
use thirtyfour::prelude::*;

#[tokio::test]
async fn disclosures_are_recorded_by_hand_and_for_a_ledger_report_and_the_accounting_covers_six_years() {
    let app = spawn_app().await;
    let c = clinic(&app, 2, "ketamine_asat").await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let (a, b) = (c.clients[0].clone(), c.clients[1].clone());
    let path = format!("/api/v1/clients/{a}/disclosures");

    // Refusals name the field; nothing is kept.
    let ok = json!({
        "recipient": "Dr Lena Park, Harbour Psychiatry",
        "recipient_address": "12 Quay Road, Fairhaven ZZ 00001",
        "description": "Treatment summary and the last six PHQ-9 scores",
        "purpose": "treatment",
        "statement": "Referral for continuing care"
    });
    let mut bad = ok.clone();
    bad["recipient"] = json!(" ");
    assert_eq!(app.post(&path, &coordinator, bad).await.problem_field(), Some("recipient"));
    let mut bad = ok.clone();
    bad["description"] = json!("");
    assert_eq!(app.post(&path, &coordinator, bad).await.problem_field(), Some("description"));
    let mut bad = ok.clone();
    bad["disclosed_at"] = json!((Timestamp::now() + SignedDuration::from_hours(2)).to_string());
    assert_eq!(app.post(&path, &coordinator, bad).await.problem_field(), Some("disclosed_at"));
    let director = app.token_for(Role::Director).await;
    assert_eq!(app.post(&path, &director, ok.clone()).await.status, StatusCode::FORBIDDEN, "reads, does not write");

    // A treatment disclosure, and a subpoena answered last year.
    let r = app.post(&path, &coordinator, ok).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["source"], "recorded");
    let last_year = (Timestamp::now() - SignedDuration::from_hours(24 * 300)).to_string();
    let subpoena = json!({
        "disclosed_at": last_year,
        "recipient": "Clerk of the County Court",
        "description": "Attendance dates, January to March",
        "purpose": "judicial",
        "statement": "Subpoena 2025-CV-0192"
    });
    assert_eq!(app.post(&path, &coordinator, subpoena).await.status, StatusCode::CREATED);
    // Seven years ago is outside any accounting (kept, not listed).
    let old = json!({
        "disclosed_at": (Timestamp::now() - SignedDuration::from_hours(24 * 365 * 7)).to_string(),
        "recipient": "An insurer",
        "description": "Claim",
        "purpose": "judicial"
    });
    assert_eq!(app.post(&path, &coordinator, old).await.status, StatusCode::CREATED);

    // The client's accounting: the subpoena, not the treatment disclosure.
    let r = app.get(&path, &c.nurse).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let items = r.body["disclosures"].as_array().expect("disclosures");
    assert_eq!(items.len(), 1, "{}", r.body);
    assert_eq!(items[0]["purpose"], "judicial");
    assert_eq!(r.body["left_out"], 1);
    let from: jiff::civil::Date = r.body["from"].as_str().expect("from").parse().expect("date");
    let to: jiff::civil::Date = r.body["to"].as_str().expect("to").parse().expect("date");
    assert_eq!(from, kairos_domain::disclosures::accounting_from(to), "six years");
    let r = app.get(&format!("{path}?all=true"), &c.nurse).await;
    let purposes: Vec<&str> =
        r.body["disclosures"].as_array().expect("all").iter().filter_map(|d| d["purpose"].as_str()).collect();
    assert_eq!(purposes, ["treatment", "judicial"], "every disclosure, newest first: {}", r.body);

    // The ledger report handed to an inspector: one disclosure per client it names.
    for (i, e) in c.encounters.iter().enumerate() {
        let r = app
            .post(&format!("/api/v1/encounters/{e}/dosing-session"), &c.nurse, start_with_stock(&c.stock, None))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "dose {i}: {}", r.body);
    }
    let handover = format!("/api/v1/ledger/registrations/{}/report/disclosures", c.registration);
    let r = app.post(&handover, &c.nurse, json!({"recipient": "", "purpose": "health_oversight"})).await;
    assert_eq!(r.problem_field(), Some("recipient"), "{}", r.body);
    let r = app
        .post(
            &handover,
            &c.nurse,
            json!({"recipient": "Diversion Investigator R. Osei, DEA", "purpose": "health_oversight", "statement": "Scheduled inspection"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["clients"], 2, "{}", r.body);
    for client in [&a, &b] {
        let r = app.get(&format!("/api/v1/clients/{client}/disclosures"), &c.nurse).await;
        let d = r.body["disclosures"].as_array().expect("disclosures");
        assert!(
            d.iter().any(|x| x["source"] == "ledger_report" && x["recipient"] == "Diversion Investigator R. Osei, DEA"),
            "{}",
            r.body
        );
    }
    // Client b's accounting has only the inspection: nothing of client a's.
    let r = app.get(&format!("/api/v1/clients/{b}/disclosures?all=true"), &c.nurse).await;
    assert_eq!(r.body["disclosures"].as_array().map(Vec::len), Some(1), "{}", r.body);

    // Never changed; the audit log says one was made and why, not to whom.
    for sql in ["UPDATE disclosures SET recipient = 'someone else'", "DELETE FROM disclosures"] {
        assert!(sqlx::query(sql).execute(app.store.pool()).await.is_err(), "{sql}");
    }
    let admin = app.token_for(Role::Admin).await;
    let log = app.get(&format!("/api/v1/audit?client={a}&limit=200"), &admin).await;
    let items = log.body["items"].as_array().expect("items");
    assert!(items.iter().any(|e| e["record_type"] == "disclosure" && e["detail"] == "recorded; judicial"), "{items:?}");
    assert!(
        items.iter().any(|e| e["record_type"] == "disclosures" && e["action"] == "read"),
        "the accounting read is audited"
    );
    let text = log.body.to_string();
    assert!(!text.contains("Lena Park") && !text.contains("Subpoena 2025"), "who and what stay out of the log");
}

#[tokio::test]
async fn a_coordinator_records_a_disclosure_and_reads_the_accounting_in_chromium() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let (coordinator, _) = app.add_staff(&[Role::Coordinator]).await;
    let token = app.login(&coordinator, PASSWORD).await;
    let client = app.create_client(&token, "Mara", "Quist").await;
    let (_driver, url) = chromedriver();
    let (b, profile) = chromium_session(&url, false).await;
    let run = async {
        sign_in(&b, &app, &coordinator, &format!("/clients/{client}")).await?;
        b.query(By::Id("disclosures-link")).first().await?.click().await?;
        b.query(By::Id("no-disclosures")).first().await?;
        let v = accessibility_violations(&b).await?;
        ensure!(v.is_empty(), "axe on the accounting: {v:#?}");
        // Without a purpose: refused, naming it, what was typed kept.
        b.find(By::Id("recipient")).await?.send_keys("Clerk of the County Court").await?;
        b.find(By::Id("description")).await?.send_keys("Attendance dates, January to March").await?;
        b.execute("document.getElementById('purpose').removeAttribute('required');", vec![]).await?;
        b.find(By::XPath("//button[normalize-space(.)='Record the disclosure']")).await?.click().await?;
        let Ok(err) = b.query(By::Id("form-error")).first().await else {
            return Err(format!("no refusal: {}", page_state(&b).await).into());
        };
        ensure!(err.attr("data-field").await?.as_deref() == Some("purpose"), "names the purpose");
        ensure!(
            b.find(By::Id("recipient")).await?.value().await?.as_deref() == Some("Clerk of the County Court"),
            "kept"
        );
        b.find(By::Css("#purpose option[value='judicial']")).await?.click().await?;
        b.find(By::Id("statement")).await?.send_keys("Subpoena 2026-CV-0007").await?;
        b.find(By::XPath("//button[normalize-space(.)='Record the disclosure']")).await?.click().await?;
        let Ok(table) = b.query(By::Id("disclosures")).first().await else {
            return Err(format!("not listed: {}", page_state(&b).await).into());
        };
        let text = table.text().await?;
        ensure!(text.contains("Clerk of the County Court") && text.contains("Subpoena 2026-CV-0007"), "{text}");
        ensure!(text.contains("A court order or subpoena") && text.contains("recorded by staff"), "{text}");
        Ok(())
    }
    .await;
    finish(b, profile, run).await;
}
