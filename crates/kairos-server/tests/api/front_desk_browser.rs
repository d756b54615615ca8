//! The chair side in Chromium at a tablet's width: the nurse checks the
//! client in from the day view, opens the dose's session from its row, and
//! types a reading; her session ends before she sends it, and after signing
//! in again the reading is shown to her, sent, and charted with its alert.

use crate::browser::{
    Outcome, accessibility_violations, browser_available, chromedriver, chromium_session, page_state,
};
use crate::helpers::*;
use kairos_domain::roles::Role;
use thirtyfour::prelude::*;

use crate::browser::ensure;

#[tokio::test]
async fn a_nurse_checks_in_opens_the_session_and_loses_nothing_when_her_session_ends_mid_form() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let (prescriber, dose) = crate::dosing::booked_at(&app, "UTC").await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let e = app.store.get_encounter(dose.parse().expect("id")).await.expect("dose");
    let day = format!(
        "{}/sites/{}/day?date={}",
        app.base,
        e.site_id,
        e.scheduled_start.to_zoned(jiff::tz::TimeZone::UTC).date()
    );

    let (_chromedriver, driver_url) = chromedriver();
    let (driver, profile) = chromium_session(&driver_url, false).await;
    let flow: Outcome = async {
        // A tablet in landscape.
        driver.set_window_rect(0, 0, 1024, 768).await?;
        driver.goto(&day).await?;
        driver.find(By::Id("email")).await?.send_keys(&nurse_email).await?;
        driver.find(By::Id("password")).await?.send_keys(PASSWORD).await?;
        driver.find(By::Css("button[type=submit]")).await?.click().await?;
        let check_in = driver.query(By::XPath("//button[normalize-space(.)='Check in']")).first().await?;
        let mut violations = accessibility_violations(&driver).await?;
        check_in.click().await?;
        // Back on the day view, the row now offers to start the dose.
        driver.query(By::XPath("//a[normalize-space(.)='Start dose']")).first().await?;
        ensure!(driver.current_url().await?.as_str() == day, "back on the day view: {}", page_state(&driver).await);

        // The dose is started (its own form is tested elsewhere); the row
        // then opens the session.
        crate::front_desk::start_dose(&app, &prescriber, &dose, 20).await;
        driver.goto(&day).await?;
        driver.query(By::XPath("//a[normalize-space(.)='Open session']")).first().await?.click().await?;
        driver.query(By::XPath("//h1[starts-with(normalize-space(.), 'Dosing session')]")).first().await?;
        violations.extend(accessibility_violations(&driver).await?);

        // She types a hypertensive reading; her session ends before she sends it.
        for (id, v) in [("sys", "186"), ("dia", "112"), ("hr", "96"), ("spo2", "97")] {
            driver.find(By::Id(id)).await?.send_keys(v).await?;
        }
        let token = driver.get_named_cookie("kairos_session").await?.value;
        ensure!(app.store.revoke_session(&token).await?, "the session was live");
        driver.find(By::XPath("//button[normalize-space(.)='Record vitals']")).await?.click().await?;

        // Not an error page: the sign-in form, saying the reading is kept.
        let kept = driver.query(By::Id("kept")).first().await?.text().await?;
        ensure!(kept.contains("What you typed is kept"), "{}", page_state(&driver).await);
        violations.extend(accessibility_violations(&driver).await?);
        driver.find(By::Id("email")).await?.send_keys(&nurse_email).await?;
        driver.find(By::Id("password")).await?.send_keys(PASSWORD).await?;
        driver.find(By::Css("button[type=submit]")).await?.click().await?;

        // She sees what she typed, then sends it.
        let send = driver.query(By::XPath("//button[normalize-space(.)='Send it now']")).first().await?;
        let shown = driver.find(By::Css("dl.kept")).await?.text().await?;
        ensure!(shown.contains("186") && shown.contains("112"), "the reading is shown before it is sent: {shown}");
        violations.extend(accessibility_violations(&driver).await?);
        send.click().await?;

        // Charted, with its alert, on the session page.
        let banner =
            driver.query(By::XPath("//main//div[contains(@class, 'alert-banner')]")).first().await?.text().await?;
        ensure!(banner.contains("Vital-sign alert"), "{}", page_state(&driver).await);
        // And a safety alert on the banner of every page she opens.
        let paged = driver.find(By::XPath("//body/div[contains(@class, 'alert-banner')]")).await?.text().await?;
        ensure!(paged.contains("1 safety alert to acknowledge"), "the banner: {paged}");
        let table = driver.find(By::Css("main table")).await?.text().await?;
        ensure!(table.contains("186/112"), "the reading is charted: {table}");
        let (scroll, inner) = crate::browser::widths(&driver).await?;
        ensure!(scroll <= inner, "no sideways scrolling at 1024 px: {scroll} > {inner}");
        ensure!(violations.is_empty(), "WCAG 2.2 A/AA violations (axe-core): {violations:#?}");
        Ok(())
    }
    .await;
    let _ = driver.quit().await;
    let _ = std::fs::remove_dir_all(&profile);
    flow.expect("the chair side in the browser");
}
