//! The web UI over HTTP: sign-in form, cookie session, pages, role checks,
//! cross-site form posts.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

async fn sign_in(app: &TestApp, web: &reqwest::Client, email: &str) {
    let r = web
        .post(format!("{}/login", app.base))
        .form(&[("email", email), ("password", PASSWORD), ("next", "/clients")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/clients");
}

#[tokio::test]
async fn pages_need_a_session_and_send_you_back_after_sign_in() {
    let app = spawn_app().await;
    let web = browser();
    let r = web.get(format!("{}/clients?q=ok", app.base)).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?next=%2Fclients%3Fq%3Dok");
    let page = web.get(format!("{}/login", app.base)).send().await.expect("login page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("<label for=\"email\">") && html.contains("<label for=\"password\">"));
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_an_alert() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Nurse]).await;
    let r = browser()
        .post(format!("{}/login", app.base))
        .form(&[("email", email.as_str()), ("password", "wrong wrong wrong")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.expect("html");
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains(&email), "the e-mail is kept in the form");
}

#[tokio::test]
async fn a_therapist_finds_a_client_and_opens_the_chart() {
    let app = spawn_app().await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let id = app.create_client(&coordinator, "Robin", "Okafor").await;
    app.create_client(&coordinator, "Kim", "Park").await;
    let (email, _) = app.add_staff(&[Role::Therapist]).await;
    let web = browser();
    sign_in(&app, &web, &email).await;
    let list = web.get(format!("{}/clients?q=oka", app.base)).send().await.expect("list");
    assert_eq!(list.status(), StatusCode::OK);
    let html = list.text().await.expect("html");
    assert!(html.contains(&format!("/clients/{id}")) && html.contains("Okafor, Robin"), "{html}");
    assert!(!html.contains("Park"), "search filters the list");
    let chart = web.get(format!("{}/clients/{id}", app.base)).send().await.expect("chart");
    assert_eq!(chart.status(), StatusCode::OK);
    let html = chart.text().await.expect("html");
    assert!(html.contains("<h1>Robin Okafor"), "{html}");
    // The page read is audited like an API read.
    let admin = app.token_for(Role::Admin).await;
    let log = app.get(&format!("/api/v1/audit?client={id}"), &admin).await;
    assert!(log.body["items"].as_array().expect("items").iter().any(|e| e["action"] == "read"));
}

#[tokio::test]
async fn an_administrator_cannot_open_charts_in_the_ui() {
    let app = spawn_app().await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let id = app.create_client(&coordinator, "Robin", "Okafor").await;
    let (email, _) = app.add_staff(&[Role::Admin]).await;
    let web = browser();
    sign_in(&app, &web, &email).await;
    let r = web.get(format!("{}/clients/{id}", app.base)).send().await.expect("chart");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!r.text().await.expect("html").contains("Okafor"));
    let r = web.get(format!("{}/admin/audit", app.base)).send().await.expect("audit");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_day_view_lists_a_sites_encounters_in_local_time() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let site =
        app.post("/api/v1/sites", &admin, serde_json::json!({"name": "Uptown", "time_zone": "America/New_York"})).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let client = app.create_client(&coordinator, "Ada", "Lin").await;
    // 14:00 UTC on 2030-03-11 is 10:00 in New York (daylight time began 2030-03-10).
    let r = app
        .post(
            "/api/v1/encounters",
            &coordinator,
            serde_json::json!({"client_id": client, "site_id": site, "kind": "intake",
                               "scheduled_start": "2030-03-11T14:00:00Z", "scheduled_end": "2030-03-11T15:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (email, _) = app.add_staff(&[Role::Nurse]).await;
    let web = browser();
    sign_in(&app, &web, &email).await;
    let html = web
        .get(format!("{}/sites/{site}/day?date=2030-03-11", app.base))
        .send()
        .await
        .expect("day")
        .text()
        .await
        .expect("html");
    assert!(html.contains("10:00–11:00") && html.contains("Ada Lin"), "{html}");
    let other_day = web.get(format!("{}/sites/{site}/day?date=2030-03-12", app.base)).send().await.expect("day");
    assert!(!other_day.text().await.expect("html").contains("Ada Lin"));

    // 2030-03-10 is the 23-hour day (clocks jump from 02:00 EST to 03:00 EDT).
    // 06:30Z is 01:30 EST and 07:30Z is 03:30 EDT: both that day, and the zone
    // is shown because the offset changes. 03:30Z on the 11th is 23:30 EDT on
    // the 10th: a UTC day boundary would put it on the wrong day.
    for (given, start, end) in [
        ("Early", "2030-03-10T06:30:00Z", "2030-03-10T06:50:00Z"),
        ("Late", "2030-03-10T07:30:00Z", "2030-03-10T07:50:00Z"),
        ("Night", "2030-03-11T03:30:00Z", "2030-03-11T03:50:00Z"),
    ] {
        let c = app.create_client(&coordinator, given, "Bird").await;
        let r = app
            .post(
                "/api/v1/encounters",
                &coordinator,
                serde_json::json!({"client_id": c, "site_id": site, "kind": "intake", "scheduled_start": start, "scheduled_end": end}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let html = web
        .get(format!("{}/sites/{site}/day?date=2030-03-10", app.base))
        .send()
        .await
        .expect("day")
        .text()
        .await
        .expect("html");
    assert!(html.contains("01:30 EST–01:50 EST") && html.contains("Early Bird"), "{html}");
    assert!(html.contains("03:30 EDT–03:50 EDT") && html.contains("Late Bird"), "{html}");
    assert!(html.contains("23:30 EDT–23:50 EDT") && html.contains("Night Bird"), "{html}");
    let next = web.get(format!("{}/sites/{site}/day?date=2030-03-11", app.base)).send().await.expect("day");
    assert!(!next.text().await.expect("html").contains("Night Bird"));
}

#[tokio::test]
async fn a_form_post_from_another_site_is_refused() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Nurse]).await;
    let r = browser()
        .post(format!("{}/login", app.base))
        .header("origin", "https://evil.example")
        .form(&[("email", email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn the_site_picker_opens_the_chosen_sites_day() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    for name in ["Alpha", "Beta"] {
        let r =
            app.post("/api/v1/sites", &admin, serde_json::json!({"name": name, "time_zone": "Europe/Berlin"})).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let sites = app.get("/api/v1/sites", &admin).await;
    let beta = sites.body.as_array().expect("sites").iter().find(|s| s["name"] == "Beta").expect("beta")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (email, _) = app.add_staff(&[Role::Coordinator]).await;
    let web = browser();
    sign_in(&app, &web, &email).await;
    let r = web.get(format!("{}/day?site={beta}&date=2030-03-11", app.base)).send().await.expect("pick");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/sites/{beta}/day?date=2030-03-11").as_str());
    let html = web.get(format!("{}/sites/{beta}/day", app.base)).send().await.expect("day").text().await.expect("html");
    assert!(html.contains("<h1>Beta") && html.contains("<select id=\"site\""), "{html}");
}

#[tokio::test]
async fn the_day_view_and_chart_name_the_chair_and_the_clinician() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let site = app.post("/api/v1/sites", &admin, serde_json::json!({"name": "Main", "time_zone": "UTC"})).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let chair = app
        .post(
            &format!("/api/v1/sites/{site}/rooms"),
            &admin,
            serde_json::json!({"name": "Chair 4", "kind": "infusion_chair"}),
        )
        .await;
    let chair = chair.body["id"].as_str().expect("chair").to_string();
    let (email, nurse) = app.add_staff(&[Role::Nurse]).await;
    let client = app.create_client(&coordinator, "Ada", "Lin").await;
    let r = app
        .post(
            "/api/v1/encounters",
            &coordinator,
            serde_json::json!({"client_id": client, "site_id": site, "room_id": chair, "staff_id": nurse.to_string(),
                               "kind": "dosing", "scheduled_start": "2030-06-03T09:00:00Z", "scheduled_end": "2030-06-03T11:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let nurse_name =
        app.get(&format!("/api/v1/staff/{nurse}"), &admin).await.body["name"].as_str().expect("name").to_string();
    let web = browser();
    sign_in(&app, &web, &email).await;
    for page in [format!("/sites/{site}/day?date=2030-06-03"), format!("/clients/{client}")] {
        let html = web.get(format!("{}{page}", app.base)).send().await.expect("page").text().await.expect("html");
        assert!(html.contains("Chair 4") && html.contains(&nurse_name), "{page}: {html}");
    }
}
