//! End to end in headless Chromium on a phone-sized viewport: a client signs
//! in with a link, starts the home exercise due after an ASAT dose, does
//! every round and finishes, then asks for help now from the journal and is
//! shown the crisis steps; axe-core finds no WCAG 2.2 A/AA violation.

use crate::browser::{
    CHROMEDRIVER, Driver, Outcome, accessibility_violations, browser_available, chromium_session, free_port,
    page_state, widths,
};
use crate::helpers::*;
use crate::portal::{asat_client, code_in_mail, link_request_done, link_requests, portal_setup};
use std::process::{Command, Stdio};
use thirtyfour::prelude::*;

use crate::browser::ensure;

#[tokio::test]
async fn a_client_does_a_post_dose_home_exercise_on_a_phone() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let (client, _) = asat_client(&app, &p, "phone@example.test", 25).await;
    let port = free_port();
    let _chromedriver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let (phone, profile) = chromium_session(&format!("http://127.0.0.1:{port}"), true).await;
    let flow = async {
        phone.goto(format!("{}/portal/login", app.base)).await?;
        ensure!(accessibility_violations(&phone).await?.is_empty(), "axe on sign-in: {:?}", accessibility_violations(&phone).await?);
        phone.find(By::Id("email")).await?.send_keys("phone@example.test").await?;
        let before = link_requests(&app, "phone@example.test").await;
        phone.find(By::XPath("//button[normalize-space(.)='E-mail me a sign-in link']")).await?.click().await?;
        phone.query(By::XPath("//*[contains(., 'sign-in link is on its way')]")).first().await?;
        link_request_done(&app, "phone@example.test", before).await;
        let code = code_in_mail(&app, "phone@example.test").await;
        phone.goto(format!("{}/portal/auth/{code}", app.base)).await?;
        phone.find(By::XPath("//button[normalize-space(.)='Sign in']")).await?.click().await?;
        phone.query(By::XPath("//h1[starts-with(normalize-space(.), 'Hello')]")).first().await?;
        let v = accessibility_violations(&phone).await?;
        ensure!(v.is_empty(), "axe on home: {v:#?}");
        phone.find(By::XPath("//button[normalize-space(.)='Start the exercise']")).await?.click().await?;
        let label = phone.query(By::Css("p.note")).first().await?.text().await?;
        ensure!(label.contains("not the validated task itself"), "truthful label: {label}");
        let mut rounds = 0;
        loop {
            let want = format!("Round {} of", rounds + 1);
            let Ok(h2) = phone.query(By::XPath(format!("//h2[starts-with(normalize-space(.), '{want}')]"))).first().await
            else {
                return Err(format!("no {want}: {}", page_state(&phone).await).into());
            };
            let total: u32 = h2.text().await?.rsplit(' ').next().unwrap_or("0").parse().unwrap_or(0);
            rounds += 1;
            let (scroll, inner) = widths(&phone).await?;
            ensure!(inner <= 390.0 && scroll <= inner, "phone width, no sideways scrolling: {scroll} > {inner}");
            if rounds == 1 {
                let v = accessibility_violations(&phone).await?;
                ensure!(v.is_empty(), "axe on a round: {v:#?}");
                let heights: Vec<f64> = phone
                    .execute("return Array.from(document.querySelectorAll('label.choice')).map(l => l.getBoundingClientRect().height);", Vec::new())
                    .await?
                    .convert()?;
                ensure!(heights.iter().all(|h| *h >= 44.0), "large answer targets: {heights:?}");
            }
            let shown: Vec<String> = {
                let mut v = Vec::new();
                for e in phone.find_all(By::Css("span.good-word")).await? {
                    v.push(e.text().await?);
                }
                v
            };
            let mut clicked = false;
            let mut seen = Vec::new();
            for label in phone.find_all(By::Css("label.choice")).await? {
                let t = label.text().await?.trim().to_string();
                seen.push(t.clone());
                if shown.contains(&t) {
                    label.click().await?;
                    clicked = true;
                    break;
                }
            }
            ensure!(clicked, "round {rounds}: one option was shown: {shown:?} vs {seen:?}");
            phone.find(By::Css("button.big")).await?.click().await?;
            if rounds == total {
                break;
            }
            ensure!(rounds < 50, "too many rounds");
        }
        let Ok(done) = phone.query(By::Css("p[role=status]")).first().await else {
            return Err(format!("no finish message: {}", page_state(&phone).await).into());
        };
        let text = done.text().await?;
        ensure!(text.contains(&format!("{rounds} of {rounds}")), "all checks right: {text}");
        let v = accessibility_violations(&phone).await?;
        ensure!(v.is_empty(), "axe on the finish page: {v:#?}");
        // Every page where the client says how they feel has the crisis box
        // with tap-to-call buttons; "I need help now" in the journal shows
        // the crisis steps at once and tells the care team.
        let calls = phone.find_all(By::Css("aside.crisis a[href^='tel:']")).await?;
        ensure!(calls.len() >= 2, "tap-to-call on the exercise page: {}", calls.len());
        phone.goto(format!("{}/portal/journal", app.base)).await?;
        let call = phone.find(By::Css("aside.crisis a[href='tel:911']")).await?;
        let height: f64 = phone
            .execute("return arguments[0].getBoundingClientRect().height;", vec![call.to_json()?])
            .await?
            .convert()?;
        ensure!(height >= 44.0, "a large call button: {height}");
        phone.find(By::Id("text")).await?.send_keys("Everything feels too much tonight.").await?;
        phone.find(By::Css("input[name='help_now']")).await?.click().await?;
        phone.find(By::XPath("//button[normalize-space(.)='Save entry']")).await?.click().await?;
        let Ok(h1) = phone.query(By::Id("help-now")).first().await else {
            return Err(format!("no crisis steps: {}", page_state(&phone).await).into());
        };
        ensure!(h1.text().await? == "Please read this now", "crisis steps first");
        let v = accessibility_violations(&phone).await?;
        ensure!(v.is_empty(), "axe on the help page: {v:#?}");
        Ok(())
    }
    .await;
    let _ = phone.quit().await;
    let _ = std::fs::remove_dir_all(&profile);
    let flow: Outcome = flow;
    flow.expect("the client's phone");
    let r = app.get(&format!("/api/v1/clients/{client}/exercise-adherence"), &p.therapist).await;
    assert_eq!(r.body["completed"], 1, "{}", r.body);
    assert_eq!(r.body["mean_accuracy"], 1.0);
    let r = app.get("/api/v1/alerts", &p.therapist).await;
    let help: Vec<&serde_json::Value> = r
        .body
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["client_id"] == client.as_str() && a["item"] == "help_now")
        .collect();
    assert_eq!(help.len(), 1, "the therapist has the urgent alert: {}", r.body);
    assert_eq!(help[0]["level"], "urgent");
}
