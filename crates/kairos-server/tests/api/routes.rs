//! The permission layer, walked: every route the server serves (the API's
//! operations, which must be exactly those of its OpenAPI document, the
//! pages, and the rest) × every role and no sign-in at all, compared with
//! what the route declares and the policy table grants.

use crate::helpers::*;
use kairos_domain::roles::{Role, Roles};
use kairos_server::access::{API, API_EXTRA, Access, Declared};
use reqwest::{Method, StatusCode};
use std::collections::BTreeSet;

fn fill(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with("{*") {
                "no-such-route".to_string()
            } else if seg.starts_with('{') {
                uuid::Uuid::now_v7().to_string()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Which roles the declaration lets through.
fn allows(access: Access, role: Role) -> bool {
    let roles = Roles::new([role]).expect("role");
    match access {
        Access::Public | Access::SignedIn => true,
        Access::Client => false,
        Access::Needs(perms) => perms.iter().any(|p| roles.allow(*p)),
    }
}

#[tokio::test]
async fn every_route_refuses_exactly_the_roles_its_declaration_and_the_policy_refuse() {
    let app = spawn_app().await;

    // The API's declarations are exactly the operations of its document.
    let doc = reqwest::get(format!("{}/api/v1/openapi.json", app.base)).await.expect("doc");
    let doc: serde_json::Value = doc.json().await.expect("json");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let declared: BTreeSet<(String, String)> =
        API.iter().map(|d| (d.method.to_string(), format!("/api/v1{}", d.path))).collect();
    assert_eq!(declared.len(), API.len(), "an API route is declared twice");
    let undeclared: Vec<_> = documented.difference(&declared).collect();
    let unserved: Vec<_> = declared.difference(&documented).collect();
    assert!(
        undeclared.is_empty() && unserved.is_empty(),
        "undeclared: {undeclared:?}; declared but not served: {unserved:?}"
    );

    let mut routes: Vec<(bool, Declared)> = API
        .iter()
        .map(|d| (true, Declared { path: Box::leak(format!("/api/v1{}", d.path).into_boxed_str()), ..*d }))
        .chain(
            API_EXTRA.iter().map(|d| (true, Declared { method: if d.method == "*" { "GET" } else { d.method }, ..*d })),
        )
        .chain(kairos_server::ui::ROUTES.iter().map(|d| (false, *d)))
        .collect();
    // Signing out ends the session the walk uses: checked last.
    routes.sort_by_key(|(_, d)| d.path.ends_with("/logout"));
    eprintln!(
        "routes walked: {} API operations (= {} in the OpenAPI document) + {} other API routes + {} pages = {}, × {} callers",
        API.len(),
        documented.len(),
        API_EXTRA.len(),
        kairos_server::ui::ROUTES.len(),
        routes.len(),
        Role::ALL.len() + 1
    );

    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let mut failures = Vec::new();
    let mut requests = 0;
    let mut callers: Vec<(Option<Role>, String, reqwest::Client)> = vec![(None, String::new(), anonymous)];
    for role in Role::ALL {
        let (email, _) = app.add_staff(&[*role]).await;
        let token = app.login(&email, PASSWORD).await;
        let web = web_session(&app, &email).await;
        callers.push((Some(*role), token, web));
    }
    for (role, token, web) in &callers {
        for (api, d) in &routes {
            let url = format!("{}{}", app.base, fill(d.path));
            let method = Method::from_bytes(d.method.as_bytes()).expect("method");
            let mut req = web.request(method.clone(), &url);
            if *api && role.is_some() {
                req = req.bearer_auth(token);
            }
            if matches!(method, Method::POST | Method::PUT) {
                req = if *api {
                    req.header("content-type", "application/json").body("{}")
                } else {
                    req.header("content-type", "application/x-www-form-urlencoded").body("")
                };
            }
            let res = req.send().await.expect("request");
            requests += 1;
            let status = res.status();
            // Sent to sign in (a page's sign-out also ends at the sign-in
            // form, without a page to come back to).
            let to_login = res
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.starts_with("/login?next=") || l.starts_with("/portal/login"));
            let headers = res.headers().clone();
            let body = res.text().await.unwrap_or_default();
            // A staff form posted without a session gets the sign-in form
            // holding what was sent (401), to send after sign-in.
            let kept = status == StatusCode::UNAUTHORIZED
                && headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("text/html"))
                && body.contains("name=\"kept_body\"");
            let signed_out = if *api {
                status == StatusCode::UNAUTHORIZED
            } else {
                (status == StatusCode::SEE_OTHER && to_login) || (method == Method::POST && kept)
            };
            let who = role.map(|r| r.as_str()).unwrap_or("no sign-in");
            let wrong = match (role, d.access) {
                (_, _) if status.is_server_error() => Some("a server error"),
                (_, Access::Public) => {
                    (signed_out || status == StatusCode::FORBIDDEN).then_some("refused a public route")
                }
                (None, _) => (!signed_out).then_some("let an anonymous caller through"),
                (Some(_), Access::Client) => status.is_success().then_some("let staff into the client portal"),
                (Some(r), access) if allows(access, *r) => {
                    (signed_out || status == StatusCode::FORBIDDEN).then_some("refused a role the policy allows")
                }
                (Some(_), _) => (status != StatusCode::FORBIDDEN).then_some("did not refuse a role the policy refuses"),
            };
            if let Some(w) = wrong {
                failures.push(format!("{} {} as {who}: {w} ({status})", d.method, d.path));
            }
            // Every status an API operation answers is in its document, with
            // the media type it is sent as.
            let op = doc["paths"][d.path][d.method.to_lowercase()].clone();
            if *api && !op.is_null() {
                let media = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let documented = &op["responses"][status.as_str()];
                if documented.is_null() {
                    failures.push(format!(
                        "{} {} as {who}: answered {status}, which its document does not list",
                        d.method, d.path
                    ));
                } else if status.is_client_error() && documented["content"][media.as_str()].is_null() {
                    failures
                        .push(format!("{} {} as {who}: {status} sent as {media}, not as documented", d.method, d.path));
                }
            }
        }
    }
    eprintln!("{requests} requests");
    assert!(failures.is_empty(), "{} of {requests}:\n{}", failures.len(), failures.join("\n"));
}
