use crate::helpers::*;
use jiff::SignedDuration;
use kairos_domain::roles::Role;
use kairos_store::sessions::SessionPolicy;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn health_needs_no_sign_in() {
    let app = spawn_app().await;
    let r = app.call(Method::GET, "/api/v1/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
}

#[tokio::test]
async fn login_returns_a_token_and_a_strict_http_only_cookie() {
    let app = spawn_app().await;
    let (email, id) = app.add_staff(&[Role::Therapist]).await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email.to_uppercase(), "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = r.body["token"].as_str().expect("token");
    assert_eq!(r.body["staff"]["id"], id.to_string());
    let cookie = r.set_cookie.iter().find(|c| c.starts_with("kairos_session=")).expect("session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let me = app.get("/api/v1/auth/me", token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["roles"], json!(["therapist"]));
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_401_problems() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Nurse]).await;
    for body in [
        json!({"email": email, "password": "not the password"}),
        json!({"email": "nobody@test.kairos", "password": PASSWORD}),
    ] {
        let r = app.call(Method::POST, "/api/v1/auth/login", None, Some(body)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        r.problem_field();
    }
    let huge = format!("{}@test.kairos", "a".repeat(100_000));
    let r =
        app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": huge, "password": PASSWORD}))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "oversized sign-in input is refused before it is logged");
    let r = app.call(Method::GET, "/api/v1/clients", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    r.problem_field();
    let r = app.get("/api/v1/clients", "forged-token").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let app = spawn_app().await;
    let token = app.token_for(Role::Coordinator).await;
    assert_eq!(app.get("/api/v1/clients", &token).await.status, StatusCode::OK);
    let r = app.call(Method::POST, "/api/v1/auth/logout", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/clients", &token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_session_ends_after_the_idle_timeout() {
    let config = kairos_server::Config {
        session: SessionPolicy { idle: SignedDuration::from_millis(1500), ..SessionPolicy::default() },
        ..test_config()
    };
    let app = spawn_app_with(config).await;
    let token = app.token_for(Role::Therapist).await;
    assert_eq!(app.get("/api/v1/auth/me", &token).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(app.get("/api/v1/auth/me", &token).await.status, StatusCode::UNAUTHORIZED);
}

/// Signs in as `email` from `from` (the test server trusts loopback as a
/// proxy, so `X-Forwarded-For` sets the client's address).
async fn login_from(app: &TestApp, email: &str, password: &str, from: &str) -> reqwest::Response {
    app.api
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("x-forwarded-for", from)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
}

fn behind_proxy() -> kairos_server::Config {
    kairos_server::Config {
        trusted_proxies: std::sync::Arc::new(vec!["127.0.0.1/32".parse().expect("net")]),
        ..test_config()
    }
}

#[tokio::test]
async fn repeated_failed_sign_ins_slow_that_address_and_never_lock_the_clinician_out_from_elsewhere() {
    let app = spawn_app_with(behind_proxy()).await;
    let (email, _) = app.add_staff(&[Role::Nurse]).await;
    // Six wrong passwords from an attacker's address: five are free, the
    // sixth makes the next attempt from there wait 30 s, right password or not.
    for _ in 0..6 {
        let r = login_from(&app, &email, "wrong password!", "198.51.100.66").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = login_from(&app, &email, PASSWORD, "198.51.100.66").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the right password waits too, from there");
    let wait: u64 = r.headers()["retry-after"].to_str().expect("text").parse().expect("seconds");
    assert!((1..=30).contains(&wait), "{wait}");
    // Refusals for waiting are not failures: the wait does not grow.
    for _ in 0..10 {
        let r = login_from(&app, &email, "wrong password!", "198.51.100.66").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let again: u64 = r.headers()["retry-after"].to_str().expect("text").parse().expect("seconds");
        assert!(again <= 30, "{again}");
    }
    // The clinician, at the clinic, is not locked out.
    let r = login_from(&app, &email, PASSWORD, "203.0.113.10").await;
    assert_eq!(r.status(), StatusCode::OK);
    // Each refusal is on the audit log as throttled, with the address.
    let admin = app.token_for(Role::Admin).await;
    let log = app.get("/api/v1/audit?action=login_failed&limit=100", &admin).await;
    let throttled = log.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["detail"] == "throttled" && e["remote_addr"] == "198.51.100.66")
        .count();
    assert_eq!(throttled, 11, "{}", log.body);
}

#[tokio::test]
async fn one_address_guessing_across_many_accounts_is_slowed_after_twenty_failures() {
    let app = spawn_app_with(behind_proxy()).await;
    let mut accounts = Vec::new();
    for _ in 0..5 {
        accounts.push(app.add_staff(&[Role::Therapist]).await.0);
    }
    // Four wrong passwords on each of five accounts: under each account's
    // limit, but twenty from one address.
    for _ in 0..4 {
        for email in &accounts {
            assert_eq!(login_from(&app, email, "guess", "192.0.2.44").await.status(), StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(login_from(&app, &accounts[0], "guess", "192.0.2.44").await.status(), StatusCode::UNAUTHORIZED);
    // The 21st failure: the address waits, for any account.
    let (fresh, _) = app.add_staff(&[Role::Nurse]).await;
    assert_eq!(login_from(&app, &fresh, PASSWORD, "192.0.2.44").await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_from(&app, &fresh, PASSWORD, "192.0.2.45").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn parallel_guesses_cannot_outrun_the_lockout() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Nurse]).await;
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (api, base, email) = (app.api.clone(), app.base.clone(), email.clone());
        guesses.spawn(async move {
            api.post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": email, "password": format!("guess number {i}")}))
                .send()
                .await
                .map(|r| r.status())
        });
    }
    let mut checked = 0;
    while let Some(r) = guesses.join_next().await {
        if r.expect("task").expect("request") == StatusCode::UNAUTHORIZED {
            checked += 1;
        }
    }
    // Attempts on one account from one address take turns: five free
    // failures and the sixth are checked, the rest wait.
    assert!(checked <= 6, "{checked} passwords were checked; the limit is 6");
}

#[tokio::test]
async fn a_deactivated_account_loses_its_sessions() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let (email, id) = app.add_staff(&[Role::Therapist]).await;
    let token = app.login(&email, PASSWORD).await;
    let r = app
        .put(
            &format!("/api/v1/staff/{id}"),
            &admin,
            json!({"name": "Gone", "email": email, "roles": ["therapist"], "active": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get("/api/v1/auth/me", &token).await.status, StatusCode::UNAUTHORIZED);
    let r =
        app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": PASSWORD}))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_host_prefixed_and_only_that_name_is_honoured() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Therapist]).await;
    let secure = serve(app.store.clone(), kairos_server::Config { secure_cookies: true, ..test_config() }).await;
    let r = secure
        .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": PASSWORD})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = r.body["token"].as_str().expect("token").to_string();
    let cookie = r.set_cookie.iter().find(|c| c.starts_with("__Host-kairos_session=")).expect("__Host- cookie");
    assert!(cookie.contains("; Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"), "{cookie}");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    for (name, signed_in) in [("__Host-kairos_session", true), ("kairos_session", false)] {
        let r = http
            .get(format!("{}/clients", secure.base))
            .header("cookie", format!("{name}={token}"))
            .send()
            .await
            .expect("page");
        assert_eq!(r.status() == StatusCode::OK, signed_in, "{name}: {}", r.status());
    }
}
