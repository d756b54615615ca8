//! Staff accounts in the browser: an administrator adds an account, changes
//! its roles, deactivates it and sets its password, and a second
//! administrator approves what opens access (the new account, the role
//! added, the password); nobody changes their own roles or deactivates
//! themselves, at the pages as at the API.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;

async fn post(web: &reqwest::Client, app: &TestApp, path: &str, body: &str) -> (StatusCode, String, String) {
    let r = web
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .expect("post");
    let status = r.status();
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, location, r.text().await.expect("body"))
}

/// The second administrator approves everything waiting on the staff page;
/// the first sees it waiting with no buttons of their own.
async fn second_admin_approves(app: &TestApp, first: &reqwest::Client, second: &reqwest::Client) -> usize {
    let html = first.get(format!("{}/admin/staff", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("Another administrator decides"), "{html}");
    assert!(!html.contains("/approve\""), "the one who asked has no approve button: {html}");
    let html = second.get(format!("{}/admin/staff", app.base)).send().await.expect("get").text().await.expect("html");
    let ids: Vec<String> = html
        .split("action=\"/admin/staff/requests/")
        .skip(1)
        .filter_map(|rest| rest.split_once("/approve\"").map(|(id, _)| id.to_string()))
        .collect();
    for id in &ids {
        let (status, location, html) = post(second, app, &format!("/admin/staff/requests/{id}/approve"), "").await;
        assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/admin/staff"), "{html}");
    }
    ids.len()
}

#[tokio::test]
async fn an_administrator_manages_accounts_in_the_browser_but_not_their_own_access() {
    let app = spawn_app().await;
    let (admin_email, admin_id) = app.add_staff(&[Role::Admin]).await;
    let web = web_session(&app, &admin_email).await;
    let (second_email, _) = app.add_staff(&[Role::Admin]).await;
    let second = web_session(&app, &second_email).await;

    // No role ticked: refused naming the field, what was typed kept.
    let (status, _, html) =
        post(&web, &app, "/admin/staff", "name=Nadia+Reyes&email=nadia%40example.org&password=").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("data-field=\"roles\"") && html.contains("value=\"Nadia Reyes\""), "{html}");
    let (status, location, _) = post(
        &web,
        &app,
        "/admin/staff",
        "name=Nadia+Reyes&email=nadia%40example.org&roles=nurse&password=a+long+first+password",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let nurse_id = location.trim_start_matches("/admin/staff/").to_string();
    let html = web.get(format!("{}{location}", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("Waiting for a second administrator: activate with roles Nurse"), "{html}");
    let first_try = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "nadia@example.org", "password": "a long first password"})),
        )
        .await;
    assert_eq!(first_try.status, StatusCode::UNAUTHORIZED, "not before a second administrator approves");
    assert_eq!(second_admin_approves(&app, &web, &second).await, 1);
    assert!(!app.login("nadia@example.org", "a long first password").await.is_empty());

    // Roles changed: nurse and therapist.
    let (status, _, _) = post(
        &web,
        &app,
        &format!("/admin/staff/{nurse_id}"),
        "name=Nadia+Reyes&email=nadia%40example.org&roles=nurse&roles=therapist&active=yes",
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let admin = app.login(&admin_email, PASSWORD).await;
    let view = app.get(&format!("/api/v1/staff/{nurse_id}"), &admin).await;
    assert_eq!(view.body["roles"], json!(["nurse"]), "waiting: {}", view.body);
    assert_eq!(second_admin_approves(&app, &web, &second).await, 1);
    let view = app.get(&format!("/api/v1/staff/{nurse_id}"), &admin).await;
    assert_eq!(view.body["roles"], json!(["nurse", "therapist"]), "{}", view.body);

    // A new password, then deactivated: the account no longer signs in.
    let (status, _, _) = post(&web, &app, &format!("/admin/staff/{nurse_id}/password"), "password=short").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, _) =
        post(&web, &app, &format!("/admin/staff/{nurse_id}/password"), "password=another+long+password").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(second_admin_approves(&app, &web, &second).await, 1);
    let sign_in = || {
        app.call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "nadia@example.org", "password": "another long password"})),
        )
    };
    let r = sign_in().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (status, _, _) =
        post(&web, &app, &format!("/admin/staff/{nurse_id}"), "name=Nadia+Reyes&email=nadia%40example.org&roles=nurse")
            .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let r = sign_in().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a deactivated account does not sign in");

    // Their own account: no new roles, no deactivation; a new name is fine.
    let own = format!("/admin/staff/{admin_id}");
    let html = web.get(format!("{}{own}", app.base)).send().await.expect("own").text().await.expect("html");
    assert!(html.contains("This is your own account"), "{html}");
    let email = admin_email.replace('@', "%40");
    let (status, _, html) =
        post(&web, &app, &own, &format!("name=Root+Admin&email={email}&roles=admin&roles=director&active=yes")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("data-field=\"roles\"") && html.contains("nobody changes their own roles"), "{html}");
    let (status, _, html) = post(&web, &app, &own, &format!("name=Root+Admin&email={email}&roles=admin")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("data-field=\"active\""), "{html}");
    let (status, _, _) = post(&web, &app, &own, &format!("name=Root+Admin&email={email}&roles=admin&active=yes")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // The API holds the same rule.
    let r = app
        .put(
            &format!("/api/v1/staff/{admin_id}"),
            &admin,
            json!({ "name": "Root Admin", "email": admin_email, "roles": ["admin", "director", "therapist"], "active": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.problem_field(), Some("roles"));
    let chart = app.get(&format!("/api/v1/clients/{}", uuid::Uuid::now_v7()), &admin).await;
    assert_eq!(chart.status, StatusCode::FORBIDDEN, "still no chart reads");
}

#[tokio::test]
async fn an_administrator_sets_a_therapists_weekly_hours_in_the_browser_with_the_apis_rule() {
    let app = spawn_app().await;
    let (admin_email, _) = app.add_staff(&[Role::Admin]).await;
    let admin = app.login(&admin_email, PASSWORD).await;
    let (_, therapist) = app.add_staff(&[Role::Therapist]).await;
    let web = web_session(&app, &admin_email).await;
    let page = format!("/admin/staff/{therapist}");
    let html = web.get(format!("{}{page}", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("name=\"clinic_hours\" value=\"yes\" checked"), "works the clinic's hours until set: {html}");

    // An end before its start is refused naming the field, with what was typed kept.
    let (status, _, html) =
        post(&web, &app, &format!("{page}/hours"), "mon_from=13%3A00&mon_to=17%3A00&tue_from=14%3A00&tue_to=09%3A00")
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(
        html.contains("data-field=\"tue_to\"") && html.contains("Tuesday: the end must be after the start"),
        "{html}"
    );
    assert!(
        html.contains("id=\"mon_from\" name=\"mon_from\" type=\"time\" aria-label=\"Monday starts\" value=\"13:00\"")
    );
    assert_eq!(app.store.staff_weekly_hours(therapist).await.expect("read"), None, "nothing half-written");
    // The API holds the same rule.
    let r = app
        .put(
            &format!("/api/v1/staff/{therapist}/hours"),
            &admin,
            json!({ "hours": [{ "days": ["tue"], "from": "14:00", "to": "09:00" }] }),
        )
        .await;
    assert_eq!((r.status, r.problem_field()), (StatusCode::UNPROCESSABLE_ENTITY, Some("hours[0].to")), "{}", r.body);

    // Monday and Wednesday afternoons, Thursday split: saved, and shown back.
    let (status, location, _) = post(
        &web,
        &app,
        &format!("{page}/hours"),
        "mon_from=13%3A00&mon_to=17%3A00&wed_from=13%3A00&wed_to=17%3A00\
         &thu_from=08%3A00&thu_to=11%3A30&thu_from2=15%3A00&thu_to2=19%3A00",
    )
    .await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, page.as_str()));
    let stored: serde_json::Value =
        serde_json::from_str(&app.store.staff_weekly_hours(therapist).await.expect("read").expect("set"))
            .expect("json");
    assert_eq!(
        stored,
        json!([
            { "days": ["mon", "wed"], "from": "13:00:00", "to": "17:00:00" },
            { "days": ["thu"], "from": "08:00:00", "to": "11:30:00" },
            { "days": ["thu"], "from": "15:00:00", "to": "19:00:00" }
        ])
    );
    let html = web.get(format!("{}{page}", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(!html.contains("name=\"clinic_hours\" value=\"yes\" checked"), "{html}");
    assert!(html.contains(
        "id=\"thu_from2\" name=\"thu_from2\" type=\"time\" aria-label=\"Thursday second period starts\" value=\"15:00\""
    ));

    // Back to the clinic's hours.
    let (status, _, _) = post(&web, &app, &format!("{page}/hours"), "clinic_hours=yes&mon_from=13%3A00").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.store.staff_weekly_hours(therapist).await.expect("read"), None);
    // Only an administrator sets them.
    let (coordinator_email, _) = app.add_staff(&[Role::Coordinator]).await;
    let other = web_session(&app, &coordinator_email).await;
    let (status, _, _) = post(&other, &app, &format!("{page}/hours"), "mon_from=13%3A00&mon_to=17%3A00").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
