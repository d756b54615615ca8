use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn reads_and_writes_of_a_client_leave_audit_entries_with_who_and_where() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let (c_email, coordinator_id) = app.add_staff(&[Role::Coordinator]).await;
    let coordinator = app.login(&c_email, PASSWORD).await;
    let (t_email, therapist_id) = app.add_staff(&[Role::Therapist]).await;
    let therapist = app.login(&t_email, PASSWORD).await;
    let client = app.create_client(&coordinator, "Ada", "Lin").await;
    app.put(
        &format!("/api/v1/clients/{client}"),
        &coordinator,
        json!({"given_name": "Ada", "family_name": "Lin", "date_of_birth": "1985-04-12", "pronouns": "she/her"}),
    )
    .await;
    assert_eq!(app.get(&format!("/api/v1/clients/{client}"), &therapist).await.status, StatusCode::OK);

    let log = app.get(&format!("/api/v1/audit?client={client}"), &admin).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let items = log.body["items"].as_array().expect("items");
    let find = |action: &str| {
        items.iter().find(|e| e["action"] == action).unwrap_or_else(|| panic!("no {action} entry: {items:?}"))
    };
    let create = find("create");
    assert_eq!(create["actor_id"], coordinator_id.to_string());
    assert_eq!(create["actor_roles"], "coordinator");
    assert_eq!(create["record_type"], "client");
    assert_eq!(create["record_id"], client);
    assert_eq!(create["remote_addr"], "127.0.0.1");
    assert_eq!(find("update")["actor_id"], coordinator_id.to_string());
    let read = find("read");
    assert_eq!(read["actor_id"], therapist_id.to_string());
    assert_eq!(read["remote_addr"], "127.0.0.1");
    // Newest first.
    assert_eq!(items[0]["action"], "read");
}

#[tokio::test]
async fn sign_ins_and_failures_are_audited() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let (email, _) = app.add_staff(&[Role::Nurse]).await;
    let _ = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": "nope nope nope"})),
        )
        .await;
    app.login(&email, PASSWORD).await;
    let log = app.get("/api/v1/audit?limit=200", &admin).await;
    let actions: Vec<(&str, &str)> = log.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["record_id"] == email.as_str())
        .map(|e| (e["action"].as_str().unwrap_or(""), e["record_type"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        actions,
        [
            ("login", "staff_login"),
            ("login_attempt", "staff_login"),
            ("login_failed", "staff_login"),
            ("login_attempt", "staff_login")
        ]
    );
}
