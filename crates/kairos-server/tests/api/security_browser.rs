//! End to end in headless Chromium: the two-person controls. A nurse saves a
//! portal client's new e-mail address on the details page and it waits; the
//! client confirms it on a phone from the link sent to the old address; a
//! later change is confirmed in person by a second staff member signing on
//! the page (the nurse's own signature is refused). An administrator adds a
//! clinician's account and a second administrator approves it on the staff
//! page. axe-core finds no WCAG 2.2 A/AA violation on these pages.

use crate::browser::{
    Outcome, accessibility_violations, browser_available, chromedriver, chromium_session, ensure, page_state, sign_in,
    widths,
};
use crate::helpers::*;
use crate::portal::{invited_client, portal_setup};
use kairos_domain::roles::Role;
use thirtyfour::prelude::*;

/// Replaces the e-mail on the open details form and saves it.
async fn save_email(driver: &WebDriver, email: &str) -> WebDriverResult<()> {
    let field = driver.find(By::Id("email")).await?;
    field.clear().await?;
    field.send_keys(email).await?;
    driver.find(By::XPath("//button[normalize-space(.)='Save the details']")).await?.click().await?;
    Ok(())
}

async fn change_link(app: &TestApp, to: &str) -> Option<String> {
    let mail = app.store.outbox_for(to).await.expect("outbox");
    mail.iter().find_map(|m| {
        let start = m.body.find("/portal/email-change/")?;
        Some(m.body[start..].split_whitespace().next()?.to_string())
    })
}

#[tokio::test]
async fn a_portal_clients_new_address_is_confirmed_by_the_client_or_in_person() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let client = invited_client(&app, &p, "Iris", "iris@example.test").await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let (_driver, url) = chromedriver();
    let (desk, desk_profile) = chromium_session(&url, false).await;
    let details = format!("/clients/{client}/details");
    let on_desk = async {
        sign_in(&desk, &app, &nurse_email, &details).await?;
        desk.query(By::Id("email")).first().await?;
        save_email(&desk, "iris.new@example.test").await?;
        let Ok(notice) = desk.query(By::Id("email-change")).first().await else {
            return Err(format!("no pending change shown: {}", page_state(&desk).await).into());
        };
        let text = notice.text().await?;
        ensure!(text.contains("iris@example.test") && text.contains("iris.new@example.test"), "{text}");
        let value = desk.find(By::Id("email")).await?.attr("value").await?.unwrap_or_default();
        ensure!(value == "iris@example.test", "the record keeps the old address: {value}");
        let v = accessibility_violations(&desk).await?;
        ensure!(v.is_empty(), "axe on the details page with a pending change: {v:#?}");
        // The nurse who asked cannot be the second signature.
        desk.find(By::Id("witness_email")).await?.send_keys(&nurse_email).await?;
        desk.find(By::Id("witness_password")).await?.send_keys(PASSWORD).await?;
        desk.find(By::XPath("//button[normalize-space(.)='Confirm in person']")).await?.click().await?;
        let Ok(refusal) = desk.query(By::Css("[data-field='witness']")).first().await else {
            return Err(format!("no refusal naming the witness: {}", page_state(&desk).await).into());
        };
        let text = refusal.text().await?;
        ensure!(text.contains("second staff member"), "{text}");
        Ok(())
    }
    .await;
    let on_desk: Outcome = on_desk;
    if let Err(e) = on_desk {
        let _ = desk.quit().await;
        panic!("the nurse's desk: {e}");
    }
    let account = app.store.portal_account(client.parse().expect("id")).await.expect("account").expect("some");
    assert_eq!(account.email, "iris@example.test", "nothing moved yet");

    // The client, on a phone, from the link sent to the old address.
    let link = change_link(&app, "iris@example.test").await.expect("a link to the old address");
    let (phone, phone_profile) = chromium_session(&url, true).await;
    let on_phone = async {
        phone.goto(format!("{}{link}", app.base)).await?;
        let shown = phone.find(By::Id("new-email")).await?.text().await?;
        ensure!(shown == "iris.new@example.test", "the new address is shown: {shown}");
        let v = accessibility_violations(&phone).await?;
        ensure!(v.is_empty(), "axe on the confirmation page: {v:#?}");
        let (scroll, inner) = widths(&phone).await?;
        ensure!(inner <= 390.0 && scroll <= inner, "phone width, no sideways scrolling: {scroll} > {inner}");
        phone.find(By::XPath("//button[normalize-space(.)='Yes, use the new address']")).await?.click().await?;
        let Ok(done) = phone.query(By::Css("p[role=status]")).first().await else {
            return Err(format!("no confirmation: {}", page_state(&phone).await).into());
        };
        let text = done.text().await?;
        ensure!(text.contains("iris.new@example.test"), "{text}");
        Ok(())
    }
    .await;
    let _ = phone.quit().await;
    let _ = std::fs::remove_dir_all(&phone_profile);
    let on_phone: Outcome = on_phone;
    if let Err(e) = on_phone {
        let _ = desk.quit().await;
        panic!("the client's phone: {e}");
    }
    let account = app.store.portal_account(client.parse().expect("id")).await.expect("account").expect("some");
    assert_eq!(account.email, "iris.new@example.test");

    // A later change, confirmed in person: the therapist signs.
    let in_person = async {
        desk.goto(format!("{}{details}", app.base)).await?;
        save_email(&desk, "iris.third@example.test").await?;
        desk.query(By::Id("email-change")).first().await?;
        desk.find(By::Id("witness_email")).await?.send_keys(&p.therapist_email).await?;
        desk.find(By::Id("witness_password")).await?.send_keys(PASSWORD).await?;
        desk.find(By::XPath("//button[normalize-space(.)='Confirm in person']")).await?.click().await?;
        // The click navigates; wait for the chart rather than read the
        // address while the form's page may still be current.
        let chart = format!("/clients/{client}");
        let mut waited = 0;
        while desk.current_url().await?.path() != chart && waited < 100 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            waited += 1;
        }
        let current = desk.current_url().await?;
        ensure!(current.path() == chart, "back on the chart: {}", page_state(&desk).await);
        Ok(())
    }
    .await;
    let _ = desk.quit().await;
    let _ = std::fs::remove_dir_all(&desk_profile);
    let in_person: Outcome = in_person;
    in_person.expect("confirmed in person");
    let account = app.store.portal_account(client.parse().expect("id")).await.expect("account").expect("some");
    assert_eq!(account.email, "iris.third@example.test");
    let mail = app.store.outbox_for("iris.new@example.test").await.expect("outbox");
    assert!(mail.iter().any(|m| m.subject.contains("was changed") && m.body.contains("in person")));
}

#[tokio::test]
async fn a_second_administrator_approves_a_new_clinicians_account_in_the_browser() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let (first, _) = app.add_staff(&[Role::Admin]).await;
    let (second, _) = app.add_staff(&[Role::Admin]).await;
    let (_driver, url) = chromedriver();
    let (desk, profile) = chromium_session(&url, false).await;
    let flow = async {
        sign_in(&desk, &app, &first, "/admin/staff").await?;
        desk.query(By::Id("name")).first().await?;
        desk.find(By::Id("name")).await?.send_keys("Theo Lindqvist").await?;
        desk.find(By::Id("email")).await?.send_keys("theo@example.org").await?;
        desk.find(By::Css("input[name='roles'][value='therapist']")).await?.click().await?;
        desk.find(By::Id("password")).await?.send_keys("a long first password").await?;
        desk.find(By::XPath("//button[normalize-space(.)='Add the account']")).await?.click().await?;
        let Ok(waiting) = desk.query(By::XPath("//p[contains(., 'Waiting for a second administrator')]")).first().await
        else {
            return Err(format!("no waiting notice: {}", page_state(&desk).await).into());
        };
        let text = waiting.text().await?;
        ensure!(text.contains("activate with roles Therapist"), "{text}");
        desk.goto(format!("{}/admin/staff", app.base)).await?;
        let v = accessibility_violations(&desk).await?;
        ensure!(v.is_empty(), "axe on the staff page: {v:#?}");
        let approve = desk.find_all(By::XPath("//button[normalize-space(.)='Approve']")).await?;
        ensure!(approve.is_empty(), "the one who asked has no Approve button");

        sign_in(&desk, &app, &second, "/admin/staff").await?;
        let Ok(button) = desk
            .query(By::XPath("//table[@id='pending-requests']//button[normalize-space(.)='Approve']"))
            .first()
            .await
        else {
            return Err(format!("no Approve for the second administrator: {}", page_state(&desk).await).into());
        };
        button.click().await?;
        desk.query(By::XPath("//p[normalize-space(.)='Nothing is waiting.']")).first().await?;
        Ok(())
    }
    .await;
    let _ = desk.quit().await;
    let _ = std::fs::remove_dir_all(&profile);
    let flow: Outcome = flow;
    flow.expect("the administrators' desk");
    assert!(!app.login("theo@example.org", "a long first password").await.is_empty(), "the account works now");
}
