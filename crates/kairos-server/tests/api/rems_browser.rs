//! End to end in headless Chromium: the esketamine REMS at the chair. The
//! start form of an unenrolled client's first esketamine dose says so and
//! links to the enrolment; a prescriber records it there and comes back to
//! the dose, names themself the prescriber on site, and starts it; the
//! session's REMS monitoring form shows the enrolment, the prescriber on
//! site and the site's REMS setting. axe-core finds no WCAG 2.2 A/AA
//! violation on the enrolment and settings pages.

use crate::browser::{
    accessibility_violations, browser_available, chromedriver, chromium_session, ensure, finish, page_state, sign_in,
};
use crate::helpers::*;
use crate::ledger::clinic;
use kairos_domain::roles::Role;
use thirtyfour::prelude::*;

#[tokio::test]
async fn a_prescriber_enrols_the_client_in_the_rems_and_names_themself_on_site_before_the_first_esketamine_dose() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let c = clinic(&app, 1, "esketamine_label").await;
    crate::ledger::receive_esketamine(&app, &c, "ESK-BROWSER-1").await;
    let (director_email, _) = app.add_staff(&[Role::Director]).await;
    let (prescriber_email, _) = app.add_staff(&[Role::Prescriber]).await;
    let enc = c.encounters[0].clone();
    let start = format!("/encounters/{enc}/dosing");
    let (_driver, url) = chromedriver();
    let (b, profile) = chromium_session(&url, false).await;
    let run = async {
        // The director sets the site's REMS healthcare-setting details.
        sign_in(&b, &app, &director_email, "/rems/settings").await?;
        let v = accessibility_violations(&b).await?;
        ensure!(v.is_empty(), "axe on the REMS settings page: {v:#?}");
        let site = &c.site;
        b.find(By::Id(format!("n-{site}"))).await?.send_keys("Ledger Clinic REMS setting").await?;
        b.find(By::Id(format!("a-{site}"))).await?.send_keys("1 Example Plaza, Fairhaven ZZ 00000").await?;
        b.find(By::Id(format!("p-{site}"))).await?.send_keys("+1 555 0100").await?;
        b.find(By::XPath("//button[starts-with(normalize-space(.), 'Save')]")).await?.click().await?;
        let saved = b.find(By::Id(format!("n-{site}"))).await?.attr("value").await?.unwrap_or_default();
        ensure!(saved == "Ledger Clinic REMS setting", "saved: {saved}; {}", page_state(&b).await);

        // The prescriber opens the dose: not enrolled, and the link to enrol.
        sign_in(&b, &app, &prescriber_email, &start).await?;
        let Ok(notice) = b.query(By::Id("rems-enrolment")).first().await else {
            return Err(format!("no REMS enrolment notice: {}", page_state(&b).await).into());
        };
        ensure!(notice.text().await?.contains("Not enrolled in the REMS"), "{}", notice.text().await?);
        notice.find(By::Tag("a")).await?.click().await?;
        b.query(By::Id("on")).first().await?;
        let v = accessibility_violations(&b).await?;
        ensure!(v.is_empty(), "axe on the enrolment page: {v:#?}");
        // A date after today is refused, naming the field; the typed sex is kept.
        b.execute("document.getElementById('on').value = '2099-01-01';", vec![]).await?;
        b.find(By::Css("input[name=sex][value=female]")).await?.click().await?;
        b.find(By::Id("pid")).await?.send_keys("RP-BROWSER-1").await?;
        b.find(By::XPath("//button[normalize-space(.)='Record the enrolment']")).await?.click().await?;
        let Ok(refusal) = b.query(By::Css("[data-field='enrolled_on']")).first().await else {
            return Err(format!("no refusal naming the date: {}", page_state(&b).await).into());
        };
        ensure!(refusal.text().await?.contains("after today"), "{}", refusal.text().await?);
        let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("America/New_York")?).date();
        b.execute(&format!("document.getElementById('on').value = '{today}';"), vec![]).await?;
        b.find(By::XPath("//button[normalize-space(.)='Record the enrolment']")).await?.click().await?;
        // Back at the dose, enrolled; the prescriber is preselected on site.
        let Ok(section) = b.query(By::Id("rems-h")).first().await else {
            return Err(format!("not back at the dose: {}", page_state(&b).await).into());
        };
        let text = b.find(By::XPath("//section[@aria-labelledby='rems-h']")).await?.text().await?;
        ensure!(text.contains(&format!("Enrolled in the REMS on {today}")), "{text}");
        ensure!(section.text().await? == "Esketamine REMS", "heading");
        let chosen = b.find(By::Css("#onsite option:checked")).await?.text().await?;
        ensure!(chosen.starts_with("Test prescriber"), "the prescriber starting the dose is preselected: {chosen}");
        for name in ["fasting_confirmed", "nasal_medicines_clear", "ride_home_arranged", "no_driving_agreed"] {
            b.find(By::Css(format!("input[name={name}]"))).await?.click().await?;
        }
        for (id, v) in
            [("sys", "124"), ("dia", "80"), ("hr", "72"), ("spo2", "98"), ("mg", "56"), ("pdn", "asked aloud")]
        {
            b.find(By::Id(id)).await?.send_keys(v).await?;
        }
        b.find(By::XPath("//button[normalize-space(.)='Start the dose']")).await?.click().await?;
        let Ok(_) = b.query(By::XPath("//a[contains(@href, '/rems')]")).first().await else {
            return Err(format!("the dose did not start: {}", page_state(&b).await).into());
        };
        let session = b.current_url().await?.path().trim_start_matches("/dosing-sessions/").to_string();
        b.goto(format!("{}/dosing-sessions/{session}/rems", app.base)).await?;
        let form = b.find(By::Tag("main")).await?.text().await?;
        for want in [
            "Prescriber on site",
            "Test prescriber",
            "Enrolled in the REMS Yes",
            "Sex female",
            "Ledger Clinic REMS setting",
            "+1 555 0100",
        ] {
            ensure!(form.contains(want), "the REMS form shows {want}: {form}");
        }
        Ok(())
    }
    .await;
    finish(b, profile, run).await;
}
