//! Response headers that keep a browser safe, and the client's address
//! behind a trusted reverse proxy.

use crate::helpers::*;
use kairos_domain::roles::Role;
use kairos_server::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

#[tokio::test]
async fn every_response_carries_a_permissions_policy_and_hsts_only_over_https() {
    // Plain HTTP on loopback (secure cookies off): no HSTS, which would pin
    // a development host to HTTPS.
    let app = spawn_app().await;
    let r = app.api.get(format!("{}/login", app.base)).send().await.expect("get");
    let policy = r.headers().get("permissions-policy").expect("permissions-policy").to_str().expect("text");
    assert!(policy.contains("camera=()") && policy.contains("geolocation=()"), "{policy}");
    assert!(r.headers().get("strict-transport-security").is_none());
    // Secure cookies (HTTPS): HSTS for a year, on pages and the API alike.
    let app = spawn_app_with(Config { secure_cookies: true, ..test_config() }).await;
    for path in ["/login", "/api/v1/clients"] {
        let r = app.api.get(format!("{}{path}", app.base)).send().await.expect("get");
        let hsts = r.headers().get("strict-transport-security").expect("hsts").to_str().expect("text");
        assert_eq!(hsts, "max-age=31536000; includeSubDomains", "{path}");
    }
}

/// The audit entries of `client`'s creation.
async fn created_from(app: &TestApp, admin: &str, client: &str) -> Value {
    let log = app.get(&format!("/api/v1/audit?client={client}"), admin).await;
    let items = log.body["items"].as_array().expect("items").clone();
    items.into_iter().find(|e| e["action"] == "create").expect("create entry")["remote_addr"].clone()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_audit_records_the_forwarded_client_address_and_otherwise_the_peers() {
    let create = |app: &TestApp, token: String, forwarded: &'static str| {
        let req = app
            .api
            .post(format!("{}/api/v1/clients", app.base))
            .bearer_auth(token)
            .header("x-forwarded-for", forwarded)
            .json(&json!({ "given_name": "Xi", "family_name": "Proxy", "date_of_birth": "1980-01-01" }));
        async move {
            let r = req.send().await.expect("post");
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string()
        }
    };
    // The proxy on loopback is trusted: the client's address is the last
    // untrusted one in the chain (a client cannot prepend its way in).
    let trusted = vec!["127.0.0.1/32".parse().expect("net")];
    let app = spawn_app_with(Config { trusted_proxies: Arc::new(trusted), ..test_config() }).await;
    let (admin, nurse) = (app.token_for(Role::Admin).await, app.token_for(Role::Nurse).await);
    let client = create(&app, nurse.clone(), "198.51.100.7, 203.0.113.9").await;
    assert_eq!(created_from(&app, &admin, &client).await, "203.0.113.9");
    // Without a trusted proxy the header is ignored: the peer's address.
    let app = spawn_app().await;
    let (admin, nurse) = (app.token_for(Role::Admin).await, app.token_for(Role::Nurse).await);
    let client = create(&app, nurse, "203.0.113.9").await;
    assert_eq!(created_from(&app, &admin, &client).await, "127.0.0.1");
}

#[tokio::test]
async fn reading_the_audit_log_is_itself_audited_under_the_client_it_was_about() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let nurse = app.token_for(Role::Nurse).await;
    let client = app.create_client(&nurse, "Ada", "Audited").await;
    let first = app.get(&format!("/api/v1/audit?client={client}"), &admin).await;
    assert_eq!(first.status, StatusCode::OK);
    let listed = |body: &Value| {
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["record_type"] == "audit_log" && e["action"] == "list")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(listed(&first.body).is_empty(), "a page does not list its own reading");
    // The next reading shows the first, by whom, under the client.
    let second = app.get(&format!("/api/v1/audit?client={client}"), &admin).await;
    let readings = listed(&second.body);
    assert_eq!(readings.len(), 1, "{}", second.body);
    assert_eq!(readings[0]["actor_roles"], "admin");
    assert_eq!(readings[0]["client_id"], client.as_str());
    assert!(readings[0]["detail"].as_str().is_some_and(|d| d.contains("shown")), "{}", readings[0]);
}
