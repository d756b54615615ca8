//! The biennial inventory as one dated event across every stock of a DEA
//! registration (21 CFR 1304.11(c)): refused while a stock on hand is not
//! counted (naming its lot, nothing written), never taken one stock at a
//! time, and only a complete inventory marks the registration current.
//! In headless Chromium: a nurse counts two lots on the inventory form,
//! is shown the lot left out, and prints the record.

use crate::browser::{
    accessibility_violations, browser_available, chromedriver, chromium_session, ensure, finish, page_state, sign_in,
};
use crate::helpers::*;
use crate::ledger::{clinic, receive_esketamine};
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;
use thirtyfour::prelude::*;

#[tokio::test]
async fn a_biennial_inventory_counts_every_stock_at_once_and_only_then_marks_the_registration_current() {
    let app = spawn_app().await;
    let c = clinic(&app, 0, "esketamine_label").await;
    let esk = receive_esketamine(&app, &c, "ESK-INV-1").await;
    let inventory = format!("/api/v1/ledger/registrations/{}/inventory", c.registration);
    let taken = format!("/api/v1/ledger/registrations/{}/inventories", c.registration);
    let r = app.get(&inventory, &c.nurse).await;
    assert_eq!(r.body["status"], "missing", "receipts are not an inventory: {}", r.body);

    // A biennial count of one stock on its own page is refused.
    let r = app
        .post(
            &format!("/api/v1/ledger/stock/{}/entries", c.stock),
            &c.nurse,
            json!({ "kind": "count", "quantity": 50.0, "count_type": "biennial", "business_time": "opening" }),
        )
        .await;
    assert_eq!(r.problem_field(), Some("count_type"), "{}", r.body);

    // Counting the ketamine but not the esketamine: refused, naming the lot.
    let ketamine_only = json!({ "business_time": "close", "counts": [{ "stock_id": c.stock, "quantity": 49.5 }] });
    let r = app.post(&taken, &c.nurse, ketamine_only).await;
    assert_eq!((r.status, r.problem_field()), (StatusCode::UNPROCESSABLE_ENTITY, Some("counts")), "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("lot ESK-INV-1") && detail.contains("6 device on the books"), "{detail}");
    assert!(!detail.contains("KET-TEST-1"), "the counted lot is not named: {detail}");
    // Nothing was written: no inventory, no count on the ketamine stock.
    assert_eq!(app.get(&taken, &c.nurse).await.body, json!([]));
    let stock = app.get(&format!("/api/v1/ledger/stock/{}", c.stock), &c.nurse).await;
    assert_eq!(stock.body["stock"]["entries"], 1, "only the receipt: {}", stock.body);

    let count = |stock: &str, q: f64| json!({ "stock_id": stock, "quantity": q });
    let r = app
        .post(&taken, &c.nurse, json!({ "business_time": "close", "counts": [count(&c.stock, 50.0), count(&c.stock, 50.0), count(&esk, 6.0)] }))
        .await;
    assert_eq!(r.problem_field(), Some("counts[1].stock_id"), "counted twice: {}", r.body);
    let r = app
        .post(
            &taken,
            &c.nurse,
            json!({ "business_time": "close", "counts": [count(&c.stock, -1.0), count(&esk, 6.0)] }),
        )
        .await;
    assert_eq!(r.problem_field(), Some("counts[0].quantity"), "{}", r.body);
    let r = app
        .post(
            &taken,
            &c.nurse,
            json!({ "business_time": "close", "taken_at": "2099-01-01T10:00:00Z", "counts": [count(&c.stock, 50.0), count(&esk, 6.0)] }),
        )
        .await;
    assert_eq!(r.problem_field(), Some("taken_at"), "not in the future: {}", r.body);
    let therapist = app.token_for(Role::Therapist).await;
    let full = json!({ "business_time": "close", "counts": [
        { "stock_id": esk, "quantity": 6.0 },
        { "stock_id": c.stock, "quantity": 49.5, "note": "opened vial estimated" } ] });
    assert_eq!(app.post(&taken, &therapist, full.clone()).await.status, StatusCode::FORBIDDEN);

    let r = app.post(&taken, &c.nurse, full).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().expect("inventory").to_string();
    assert_eq!(r.body["count_type"], "biennial");
    assert_eq!(r.body["business_time"], "close");
    let counts = r.body["counts"].as_array().expect("counts");
    assert_eq!(counts.len(), 2);
    let ketamine = counts.iter().find(|x| x["stock"]["id"] == c.stock.as_str()).expect("ketamine line");
    assert_eq!(ketamine["entry"]["quantity"], 49_500);
    assert_eq!(ketamine["entry"]["detail"]["expected"], 50_000, "what the books said");
    assert_eq!(ketamine["entry"]["detail"]["count_type"], "biennial");
    assert_eq!(ketamine["entry"]["detail"]["narrative"], "opened vial estimated");

    // The registration is current, due two years on; the short vial is flagged.
    let r = app.get(&inventory, &c.nurse).await;
    let due: jiff::civil::Date = r.body["status"]["current"]["due"].as_str().expect("current").parse().expect("date");
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("America/New_York").expect("tz")).date();
    assert_eq!(due, today.saturating_add(jiff::Span::new().days(730)), "{}", r.body);
    let rec = app.get("/api/v1/ledger/reconciliation", &c.nurse).await;
    let flagged = rec.body["discrepancies"].as_array().expect("discrepancies");
    assert_eq!(flagged.len(), 1, "{}", rec.body);
    assert_eq!(flagged[0][1]["id"], ketamine["entry"]["id"]);

    let list = app.get(&taken, &c.nurse).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1));
    assert_eq!(list.body[0]["id"].as_str(), Some(id.as_str()));
    let one = app.get(&format!("/api/v1/ledger/inventories/{id}"), &c.nurse).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["counts"].as_array().map(Vec::len), Some(2));
    assert_eq!(app.get(&format!("/api/v1/ledger/inventories/{id}"), &therapist).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_nurse_takes_the_biennial_inventory_on_one_form_and_prints_its_record() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let c = clinic(&app, 0, "esketamine_label").await;
    let esk = receive_esketamine(&app, &c, "ESK-INV-2").await;
    let page = format!("/ledger/registrations/{}/inventory", c.registration);
    let (_driver, url) = chromedriver();
    let (b, profile) = chromium_session(&url, false).await;
    let run = async {
        sign_in(&b, &app, &c.nurse_email, &page).await?;
        b.query(By::Id("take-inventory")).first().await?.click().await?;
        b.query(By::Id("inventory-form")).first().await?;
        let v = accessibility_violations(&b).await?;
        ensure!(v.is_empty(), "axe on the inventory form: {v:#?}");
        b.find(By::Css("#business-time option[value=opening]")).await?.click().await?;
        b.find(By::Id(format!("q-{}", c.stock))).await?.send_keys("49.5").await?;
        b.find(By::Id(format!("n-{}", c.stock))).await?.send_keys("opened vial estimated").await?;
        // The esketamine row is left empty: the browser's own check is
        // lifted so that the server's refusal is what the nurse sees.
        b.execute("document.getElementById('inventory-form').noValidate = true;", vec![]).await?;
        b.find(By::XPath("//button[normalize-space(.)='Record the inventory']")).await?.click().await?;
        let Ok(error) = b.query(By::Id("form-error")).first().await else {
            return Err(format!("no refusal: {}", page_state(&b).await).into());
        };
        let text = error.text().await?;
        ensure!(text.contains("lot ESK-INV-2"), "the refusal names the lot left out: {text}");
        let row = b.find(By::Id(format!("row-{esk}"))).await?;
        ensure!(row.class_name().await?.unwrap_or_default().contains("invalid"), "the row is marked");
        let kept = b.find(By::Id(format!("q-{}", c.stock))).await?.value().await?.unwrap_or_default();
        ensure!(kept == "49.5", "the typed count is kept: {kept}");
        b.find(By::Id(format!("q-{esk}"))).await?.send_keys("6").await?;
        b.find(By::XPath("//button[normalize-space(.)='Record the inventory']")).await?.click().await?;
        let Ok(head) = b.query(By::Id("inventory-head")).first().await else {
            return Err(format!("no inventory record: {}", page_state(&b).await).into());
        };
        let head = head.text().await?;
        ensure!(head.contains("at the opening of business") && head.contains("Test nurse"), "{head}");
        let lines = b.find(By::Id("inventory-lines")).await?.text().await?;
        ensure!(lines.contains("lot KET-TEST-1") && lines.contains("0.5 mL short"), "{lines}");
        ensure!(lines.contains("lot ESK-INV-2") && lines.contains("no difference"), "{lines}");
        let v = accessibility_violations(&b).await?;
        ensure!(v.is_empty(), "axe on the inventory record: {v:#?}");
        // Back on the registration's inventory page: current, and listed.
        b.goto(format!("{}{page}", app.base)).await?;
        let main = b.find(By::Tag("main")).await?.text().await?;
        ensure!(main.contains("Inventory current"), "{main}");
        let listed = b.find(By::Id("inventories-taken")).await?.text().await?;
        ensure!(listed.contains("at the opening of business"), "{listed}");
        Ok(())
    }
    .await;
    finish(b, profile, run).await;
}
