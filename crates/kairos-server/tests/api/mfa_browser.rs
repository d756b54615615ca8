//! End to end in headless Chromium: a prescriber, whose role must sign in in
//! two steps, signs in with the password, is sent to set it up, scans (reads)
//! the key, confirms with a code, sees the recovery codes once, signs out and
//! signs in again with the password and a code from the app.

use crate::browser::{browser_available, chromedriver, chromium_session, ensure, finish, page_state};
use crate::helpers::*;
use kairos_domain::roles::Role;
use thirtyfour::prelude::*;

fn code_for(secret: &str, at: u64) -> String {
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).expect("base32"))
        .build()
        .expect("totp")
        .generate(at)
        .to_string()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs()
}

/// Waits out the last seconds of a 30-second step, so that a code made
/// from the step before still falls within the server's one-step window
/// when it is checked (a busy machine may take seconds to type and send it).
async fn away_from_step_edge() {
    let into_step = now_secs() % 30;
    if into_step >= 22 {
        tokio::time::sleep(std::time::Duration::from_secs(31 - into_step)).await;
    }
}

#[tokio::test]
async fn a_prescriber_sets_up_two_step_sign_in_and_signs_in_with_a_code() {
    if !browser_available() {
        return;
    }
    let app = spawn_app_with(kairos_server::Config { mfa_required: vec![Role::Prescriber], ..test_config() }).await;
    let (email, _) = app.add_staff(&[Role::Prescriber]).await;
    let (_driver, url) = chromedriver();
    let (b, profile) = chromium_session(&url, false).await;
    let run = async {
        b.goto(format!("{}/clients", app.base)).await?;
        b.find(By::Id("email")).await?.send_keys(&email).await?;
        b.find(By::Id("password")).await?.send_keys(PASSWORD).await?;
        b.find(By::Css("button[type=submit]")).await?.click().await?;
        // Sent to set it up: nothing else opens.
        let Ok(_) = b.query(By::Id("mfa-required")).first().await else {
            return Err(format!("not sent to the set-up: {}", page_state(&b).await).into());
        };
        b.find(By::Id("mfa-begin")).await?.click().await?;
        let secret = b.query(By::Id("mfa-secret")).first().await?.text().await?;
        ensure!(b.find(By::Css(".qr svg")).await.is_ok(), "a QR code is drawn");
        away_from_step_edge().await;
        b.find(By::Id("code")).await?.send_keys(code_for(secret.trim(), now_secs() - 30)).await?;
        b.find(By::XPath("//button[normalize-space(.)='Confirm and turn on']")).await?.click().await?;
        let Ok(_) = b.query(By::Id("recovery-codes")).first().await else {
            return Err(format!("no recovery codes: {}", page_state(&b).await).into());
        };
        let codes = b.find_all(By::Css("#recovery-codes li")).await?;
        ensure!(codes.len() == 10, "ten recovery codes, not {}", codes.len());
        // Sign out, then in again: the password, then the code.
        b.find(By::XPath("//button[normalize-space(.)='Sign out']")).await?.click().await?;
        // The sign-out lands on the sign-in page; only then is the next
        // page opened (on a slow machine a navigation could otherwise cut
        // the sign-out short and sign in over the old session).
        b.query(By::Id("email")).first().await?;
        b.goto(format!("{}/login?next=/clients", app.base)).await?;
        b.find(By::Id("email")).await?.send_keys(&email).await?;
        b.find(By::Id("password")).await?.send_keys(PASSWORD).await?;
        b.find(By::Css("button[type=submit]")).await?.click().await?;
        let Ok(code) = b.query(By::Id("code")).first().await else {
            return Err(format!("no second step: {}", page_state(&b).await).into());
        };
        code.send_keys(code_for(secret.trim(), now_secs())).await?;
        b.find(By::XPath("//button[normalize-space(.)='Sign in']")).await?.click().await?;
        let Ok(_) = b.query(By::Css("a[aria-current=page][href='/clients']")).first().await else {
            return Err(format!("not signed in to the client list: {}", page_state(&b).await).into());
        };
        Ok(())
    }
    .await;
    finish(b, profile, run).await;
}
