//! The OpenAPI document is generated from the routes; this checks it lists
//! every route the server answers and that every documented operation exists.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let token = app.token_for(Role::Admin).await;
    let doc = app.call(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap_or("").starts_with("3."));
    let paths = doc.body["paths"].as_object().expect("paths");
    for must in [
        "/api/v1/healthz",
        "/api/v1/auth/login",
        "/api/v1/clients",
        "/api/v1/clients/{id}",
        "/api/v1/audit",
        "/api/v1/encounters",
    ] {
        assert!(paths.contains_key(must), "{must} is documented");
    }
    let mut checked = 0;
    for (path, ops) in paths {
        let concrete = path.replace("{id}", "0190f0f0-0000-7000-8000-000000000000");
        for method in ops.as_object().expect("ops").keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let body = (m != Method::GET).then(|| serde_json::json!({}));
            let r = app.call(m.clone(), &concrete, Some(&token), body).await;
            assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            let unrouted = r.status == StatusCode::NOT_FOUND && r.body["detail"] == "no such API route";
            assert!(!unrouted, "{method} {path} is documented but not served");
            checked += 1;
        }
    }
    assert!(checked >= 25, "checked {checked} operations");
}
