//! An administrator cannot give themselves, or an account they control,
//! access to client records alone: nobody changes their own roles; a new
//! account, a role added, an account activated and someone else's password
//! wait for a second administrator; every step is audited with the roles
//! before and after (never a password). A clinic with one administrator
//! decides on the server (the system actor, as `kairos user approve`).

use crate::helpers::*;
use kairos_domain::roles::Role;
use kairos_store::{Actor, AuditQuery, PageRequest};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn staff_audit(app: &TestApp) -> Vec<(String, String, String)> {
    let q = AuditQuery { page: PageRequest { limit: 500, offset: 0 }, ..Default::default() };
    let page = app.store.list_audit(&q).await.expect("audit");
    page.items
        .into_iter()
        .filter(|e| e.record_type.starts_with("staff"))
        .map(|e| (e.record_type, e.action, e.detail.unwrap_or_default()))
        .collect()
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": password}))).await.status
}

#[tokio::test]
async fn an_administrator_cannot_grant_themselves_clinical_roles() {
    let app = spawn_app().await;
    let (email, id) = app.add_staff(&[Role::Admin]).await;
    let admin = app.login(&email, PASSWORD).await;
    let client = app.create_client(&app.token_for(Role::Nurse).await, "Ada", "Chart").await;
    assert_eq!(app.get(&format!("/api/v1/clients/{client}"), &admin).await.status, StatusCode::FORBIDDEN);
    let r = app
        .put(
            &format!("/api/v1/staff/{id}"),
            &admin,
            json!({"name": "Me", "email": email, "roles": ["admin", "director", "therapist"], "active": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.problem_field(), Some("roles"));
    assert!(app.store.pending_staff_requests(Some(id)).await.expect("requests").is_empty(), "nothing is pending");
    assert_eq!(app.get(&format!("/api/v1/clients/{client}"), &admin).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_role_added_waits_for_a_second_administrator() {
    let app = spawn_app().await;
    let (a_email, a_id) = app.add_staff(&[Role::Admin]).await;
    let a = app.login(&a_email, PASSWORD).await;
    let b = app.token_for(Role::Admin).await;
    let (c_email, c_id) = app.add_staff(&[Role::Coordinator]).await;
    let body = json!({"name": "Cora", "email": c_email, "roles": ["coordinator", "therapist"], "active": true});
    let r = app.put(&format!("/api/v1/staff/{c_id}"), &a, body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["roles"], json!(["coordinator"]), "the roles stay until approved");
    assert_eq!(r.body["name"], "Cora", "a name change applies at once");
    let req = r.body["pending_request"]["id"].as_str().expect("request id").to_string();
    assert_eq!(r.body["pending_request"]["roles_after"], json!(["therapist", "coordinator"]));
    let listed = app.get("/api/v1/staff-requests", &b).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{}", listed.body);

    // The one who asked cannot approve; nor a clinician; a second admin can.
    let r = app.post(&format!("/api/v1/staff-requests/{req}/approve"), &a, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.problem_field(), Some("requested_by"));
    let nurse = app.token_for(Role::Nurse).await;
    assert_eq!(
        app.post(&format!("/api/v1/staff-requests/{req}/approve"), &nurse, json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.store.get_staff(c_id).await.expect("staff").roles.to_list(), "coordinator");
    let r = app.post(&format!("/api/v1/staff-requests/{req}/approve"), &b, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "approved");
    assert_eq!(app.store.get_staff(c_id).await.expect("staff").roles.to_list(), "therapist,coordinator");
    let again = app.post(&format!("/api/v1/staff-requests/{req}/approve"), &b, json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.problem_field(), Some("status"));

    let audit = staff_audit(&app).await;
    assert!(
        audit.iter().any(|(t, a, d)| t == "staff"
            && a == "update"
            && d.contains("roles: coordinator -> therapist,coordinator")),
        "{audit:?}"
    );
    assert!(audit.iter().any(|(t, _, d)| t == "staff_account_request" && d.starts_with("approved (api)")), "{audit:?}");
    let _ = a_id;

    // Taking a role away is not guarded.
    let body = json!({"name": "Cora", "email": c_email, "roles": ["therapist"], "active": true});
    let r = app.put(&format!("/api/v1/staff/{c_id}"), &a, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["pending_request"].is_null());
}

#[tokio::test]
async fn someone_elses_password_waits_for_a_second_administrator_and_is_never_audited() {
    let app = spawn_app().await;
    let a = app.token_for(Role::Admin).await;
    let b = app.token_for(Role::Admin).await;
    let (t_email, t_id) = app.add_staff(&[Role::Therapist]).await;
    let new_pw = "admin chosen password 2026";
    let r = app.put(&format!("/api/v1/staff/{t_id}/password"), &a, json!({"password": new_pw})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["kind"], "password");
    assert_eq!(r.body["sets_password"], true);
    let req = r.body["id"].as_str().expect("id").to_string();
    // Until approved the administrator cannot sign in as the therapist.
    assert_eq!(login_status(&app, &t_email, new_pw).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login_status(&app, &t_email, PASSWORD).await, StatusCode::OK);

    // Declined: nothing changes; asked again and approved: the new one works.
    let r = app.post(&format!("/api/v1/staff-requests/{req}/decline"), &b, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(login_status(&app, &t_email, new_pw).await, StatusCode::UNAUTHORIZED);
    let r = app.put(&format!("/api/v1/staff/{t_id}/password"), &a, json!({"password": new_pw})).await;
    let req = r.body["id"].as_str().expect("id").to_string();
    let r = app.post(&format!("/api/v1/staff-requests/{req}/approve"), &b, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(login_status(&app, &t_email, new_pw).await, StatusCode::OK);
    assert_eq!(login_status(&app, &t_email, PASSWORD).await, StatusCode::UNAUTHORIZED);
    let audit = staff_audit(&app).await;
    assert!(audit.iter().any(|(t, _, d)| t == "staff" && d.starts_with("password set")), "{audit:?}");
    assert!(audit.iter().all(|(_, _, d)| !d.contains(new_pw) && !d.contains("argon2")), "{audit:?}");

    // One's own password is not set through the staff doors (a session
    // left open at a desk would set it without the current one): it is
    // changed on one's account page, and the session stays open.
    let (me_email, me_id) = app.add_staff(&[Role::Admin]).await;
    let me = app.login(&me_email, PASSWORD).await;
    let r = app.put(&format!("/api/v1/staff/{me_id}/password"), &me, json!({"password": "my own new password"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap_or("").contains("account page"), "{}", r.body);
    assert_eq!(login_status(&app, &me_email, PASSWORD).await, StatusCode::OK);
    assert_eq!(app.get("/api/v1/staff", &me).await.status, StatusCode::OK, "the session is still open");
}

#[tokio::test]
async fn a_new_account_opens_nothing_until_a_second_administrator_approves() {
    let app = spawn_app().await;
    let a = app.token_for(Role::Admin).await;
    let (b_email, b_id) = app.add_staff(&[Role::Admin]).await;
    let b = app.login(&b_email, PASSWORD).await;
    // An administrator making an accomplice administrator: inactive until
    // approved, so it cannot approve anything.
    let pw = "moss anchor violet 2026";
    let r = app
        .post(
            "/api/v1/staff",
            &a,
            json!({"name": "Puppet", "email": "puppet@test.kairos", "roles": ["admin", "therapist"], "password": pw}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let req = r.body["pending_request"]["id"].as_str().expect("id").to_string();
    assert_eq!(login_status(&app, "puppet@test.kairos", pw).await, StatusCode::UNAUTHORIZED);
    // Activating it by hand is the same request.
    let id = r.body["id"].as_str().expect("id").to_string();
    let body =
        json!({"name": "Puppet", "email": "puppet@test.kairos", "roles": ["admin", "therapist"], "active": true});
    let r = app.put(&format!("/api/v1/staff/{id}"), &a, body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["active"], false);
    let req2 = r.body["pending_request"]["id"].as_str().expect("id").to_string();
    // The first request was superseded by the second.
    let r = app.post(&format!("/api/v1/staff-requests/{req}/approve"), &b, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = app.post(&format!("/api/v1/staff-requests/{req2}/approve"), &b, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(app.store.get_staff(id.parse().expect("id")).await.expect("staff").active);
    let _ = b_id;
}

#[tokio::test]
async fn a_clinic_with_one_administrator_approves_on_the_server() {
    let app = spawn_app().await;
    let (a_email, a_id) = app.add_staff(&[Role::Admin]).await;
    let a = app.login(&a_email, PASSWORD).await;
    let (n_email, n_id) = app.add_staff(&[Role::Nurse]).await;
    let r = app
        .put(
            &format!("/api/v1/staff/{n_id}"),
            &a,
            json!({"name": "N", "email": n_email, "roles": ["nurse", "prescriber"], "active": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let req = r.body["pending_request"]["id"].as_str().expect("id").to_string();
    // What `kairos user approve` does, with shell access to the server.
    let decided = app.store.decide_staff_request(&Actor::system("cli"), &req, true, "cli").await.expect("approve");
    assert_eq!(decided.status, "approved");
    assert_eq!(decided.decided_via.as_deref(), Some("cli"));
    assert_eq!(app.store.get_staff(n_id).await.expect("staff").roles.to_list(), "prescriber,nurse");
    // A request about one's own account cannot be approved by oneself even
    // when another administrator asked for it.
    let b = app.token_for(Role::Admin).await;
    let r = app.put(&format!("/api/v1/staff/{a_id}/password"), &b, json!({"password": "reset for a 2026 x"})).await;
    let req = r.body["id"].as_str().expect("id").to_string();
    let r = app.post(&format!("/api/v1/staff-requests/{req}/approve"), &a, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.problem_field(), Some("staff_id"));
}
