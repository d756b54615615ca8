//! Two-step sign-in (TOTP and recovery codes), the roles that must use it,
//! and one's own password change.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn code_for(secret: &str, at: u64) -> String {
    let t = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).expect("base32"))
        .build()
        .expect("totp");
    t.generate(at).to_string()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs()
}

async fn login_with(app: &TestApp, email: &str, code: Option<&str>) -> crate::helpers::Resp {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(c) = code {
        body["code"] = Value::from(c);
    }
    app.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await
}

/// Enrols the account of `token`; returns (secret, recovery codes).
async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let r = app.call(Method::POST, "/api/v1/me/mfa", Some(token), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.body["secret"].as_str().expect("secret").to_string();
    assert!(r.body["otpauth_uri"].as_str().is_some_and(|u| u.starts_with("otpauth://totp/Kairos:")));
    // A wrong code does not confirm it.
    let r = app.post("/api/v1/me/mfa/confirm", token, json!({"code": "000000"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.problem_field(), Some("code"));
    // The code of the step before: the current step stays free for the sign-in.
    let code = code_for(&secret, now_secs() - 30);
    let r = app.post("/api/v1/me/mfa/confirm", token, json!({"code": code})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let codes: Vec<String> =
        r.body["recovery_codes"].as_array().expect("codes").iter().map(|c| c.as_str().expect("s").into()).collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

#[tokio::test]
async fn an_enrolled_account_signs_in_only_with_a_fresh_code_or_an_unused_recovery_code() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Nurse]).await;
    let token = app.login(&email, PASSWORD).await;
    let (secret, recovery) = enrol(&app, &token).await;

    // The password alone opens nothing now.
    let r = login_with(&app, &email, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.problem_field(), Some("code"));
    assert!(r.body.get("token").is_none());
    // A wrong code neither.
    let r = login_with(&app, &email, Some("123456")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The current code does.
    let code = code_for(&secret, now_secs());
    let r = login_with(&app, &email, Some(&code)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fresh = r.body["token"].as_str().expect("token").to_string();
    assert_eq!(app.get("/api/v1/auth/me", &fresh).await.status, StatusCode::OK);
    // The same code again (a replay) is refused, within its 30 seconds.
    let r = login_with(&app, &email, Some(&code)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a replayed code: {}", r.body);
    // A recovery code works once, typed in any case, with or without dashes.
    let typed = recovery[3].replace('-', "").to_lowercase();
    let r = login_with(&app, &email, Some(&typed)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = login_with(&app, &email, Some(&recovery[3])).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a used recovery code: {}", r.body);
    let r = app.get("/api/v1/me/mfa", &fresh).await;
    assert_eq!((r.body["enrolled"].as_bool(), r.body["recovery_codes_left"].as_i64()), (Some(true), Some(9)));
}

#[tokio::test]
async fn wrong_codes_count_towards_the_sign_in_throttling() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Therapist]).await;
    let token = app.login(&email, PASSWORD).await;
    let (secret, _) = enrol(&app, &token).await;
    let mut throttled = false;
    for _ in 0..8 {
        let r = login_with(&app, &email, Some("999999")).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    assert!(throttled, "guessing codes was never slowed down");
    // Even the right code waits now.
    let r = login_with(&app, &email, Some(&code_for(&secret, now_secs()))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
}

#[tokio::test]
async fn a_role_that_must_use_two_steps_reaches_nothing_but_the_set_up_until_it_is_done() {
    let config = kairos_server::Config { mfa_required: vec![Role::Prescriber], ..test_config() };
    let app = spawn_app_with(config).await;
    let nurse = app.token_for(Role::Nurse).await;
    let client = app.create_client(&nurse, "Ada", "Moreno").await;
    let (email, _) = app.add_staff(&[Role::Prescriber]).await;
    // The password opens a session that can only set up the second factor.
    let token = app.login(&email, PASSWORD).await;
    let chart = format!("/api/v1/clients/{client}");
    let r = app.get(&chart, &token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("two-step")), "{}", r.body);
    assert_eq!(app.get("/api/v1/clients", &token).await.status, StatusCode::FORBIDDEN);
    // The page sends them to their account page to set it up.
    let web = web_session(&app, &email).await;
    let r = web.get(format!("{}/clients/{client}", app.base)).send().await.expect("page");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account");
    let r = web.get(format!("{}/account", app.base)).send().await.expect("page");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("body").contains("id=\"mfa-required\""));
    // Nor can it be removed by its holder.
    let (secret, _) = enrol(&app, &token).await;
    let r = app.call(Method::DELETE, "/api/v1/me/mfa", Some(&token), Some(json!({"password": PASSWORD}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Set up: the same session reads the chart, and a sign-in needs a code.
    assert_eq!(app.get(&chart, &token).await.status, StatusCode::OK);
    let r = login_with(&app, &email, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = login_with(&app, &email, Some(&code_for(&secret, now_secs()))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn resetting_someone_elses_second_factor_waits_for_a_second_administrator() {
    let app = spawn_app().await;
    let a = app.token_for(Role::Admin).await;
    let b = app.token_for(Role::Admin).await;
    let (email, id) = app.add_staff(&[Role::Nurse]).await;
    let token = app.login(&email, PASSWORD).await;
    enrol(&app, &token).await;
    let r = app.call(Method::POST, &format!("/api/v1/staff/{id}/mfa-reset"), Some(&a), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["kind"], "mfa_reset");
    let req = r.body["id"].as_str().expect("id").to_string();
    // Still on until approved; the asker cannot approve.
    assert_eq!(login_with(&app, &email, None).await.status, StatusCode::UNAUTHORIZED);
    let r = app.call(Method::POST, &format!("/api/v1/staff-requests/{req}/approve"), Some(&a), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = app.call(Method::POST, &format!("/api/v1/staff-requests/{req}/approve"), Some(&b), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Reset: the password alone signs in again, and the old session ended.
    assert_eq!(app.get("/api/v1/auth/me", &token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login_with(&app, &email, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn changing_ones_own_password_needs_the_current_one_follows_the_rules_and_ends_other_sessions() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Coordinator]).await;
    let here = app.login(&email, PASSWORD).await;
    let elsewhere = app.login(&email, PASSWORD).await;
    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let r =
        app.post("/api/v1/me/password", &here, change("not my password at all", "violet tugboat sings at noon")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.problem_field(), Some("current_password"));
    for weak in ["aaaaaaaaaaaa", "password1234", "            "] {
        let r = app.post("/api/v1/me/password", &here, change(PASSWORD, weak)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{weak:?}: {}", r.body);
        assert_eq!(r.problem_field(), Some("new_password"));
    }
    assert_eq!(app.get("/api/v1/auth/me", &elsewhere).await.status, StatusCode::OK, "nothing changed yet");
    let r = app.post("/api/v1/me/password", &here, change(PASSWORD, "violet tugboat sings at noon")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(app.get("/api/v1/auth/me", &here).await.status, StatusCode::OK, "this session goes on");
    assert_eq!(app.get("/api/v1/auth/me", &elsewhere).await.status, StatusCode::UNAUTHORIZED, "others end");
    let old = json!({"email": email, "password": PASSWORD});
    assert_eq!(app.call(Method::POST, "/api/v1/auth/login", None, Some(old)).await.status, StatusCode::UNAUTHORIZED);
    app.login(&email, "violet tugboat sings at noon").await;
}

#[tokio::test]
async fn every_door_that_sets_a_password_refuses_the_trivial_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let (_, id) = app.add_staff(&[Role::Nurse]).await;
    for weak in ["aaaaaaaaaaaa", "password1234", "            "] {
        let body = json!({"name": "Rafa Ortiz", "email": "rafa@test.kairos", "roles": ["nurse"], "password": weak});
        let r = app.post("/api/v1/staff", &admin, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{weak:?}: {}", r.body);
        assert_eq!(r.problem_field(), Some("password"));
        let r = app.put(&format!("/api/v1/staff/{id}/password"), &admin, json!({"password": weak})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{weak:?}: {}", r.body);
        assert_eq!(r.problem_field(), Some("password"));
    }
}
