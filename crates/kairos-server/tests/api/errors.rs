//! Bad input: a problem+json naming the field, and nothing half-written.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;

fn client(dob: &str) -> serde_json::Value {
    json!({"given_name": "Ada", "family_name": "Lin", "date_of_birth": dob})
}

#[tokio::test]
async fn bad_client_input_names_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    let t = app.token_for(Role::Coordinator).await;
    let cases = [
        (json!({"given_name": "Ada", "family_name": "Lin"}), StatusCode::UNPROCESSABLE_ENTITY, "date_of_birth"),
        (client("2199-01-01"), StatusCode::UNPROCESSABLE_ENTITY, "date_of_birth"),
        (client("1850-01-01"), StatusCode::UNPROCESSABLE_ENTITY, "date_of_birth"),
        (client("1990-02-30"), StatusCode::UNPROCESSABLE_ENTITY, "date_of_birth"),
        (
            json!({"given_name": "", "family_name": "Lin", "date_of_birth": "1990-01-01"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "given_name",
        ),
        (
            json!({"given_name": "Ada", "family_name": "Lin", "date_of_birth": "1990-01-01", "shoe_size": 9}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "shoe_size",
        ),
        (
            json!({"given_name": "Ada", "family_name": "Lin", "date_of_birth": "1990-01-01", "email": "not-an-email"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "email",
        ),
        (
            json!({"given_name": "Ada", "family_name": "Lin", "date_of_birth": "1990-01-01", "status": "asleep"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "status",
        ),
        (
            json!({"given_name": 7, "family_name": "Lin", "date_of_birth": "1990-01-01"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "given_name",
        ),
        (
            json!({"given_name": "Ada", "family_name": "Lin", "date_of_birth": "1990-01-01", "emergency_contact_name": "Sam"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "emergency_contact_phone",
        ),
    ];
    for (body, status, field) in cases {
        let r = app.post("/api/v1/clients", &t, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(r.problem_field(), Some(field), "{body}: {}", r.body);
        assert!(r.body["detail"].as_str().unwrap_or("").contains(field), "detail names the field: {}", r.body);
    }
    assert_eq!(app.client_count().await, 0, "nothing was written");
}

#[tokio::test]
async fn malformed_json_and_wrong_content_types_are_refused() {
    let app = spawn_app().await;
    let t = app.token_for(Role::Coordinator).await;
    let r = app.post_raw("/api/v1/clients", &t, "application/json", "{\"given_name\": \"Ada\",").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    r.problem_field();
    let r = app.post_raw("/api/v1/clients", &t, "text/plain", "hello").await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    r.problem_field();
    // A body is an object: the fields in order as an array are refused.
    let r = app.post_raw("/api/v1/clients", &t, "application/json", r#" ["Ada", "Lovelace", "1990-01-01"]"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("JSON object")), "{}", r.body);
    assert_eq!(app.client_count().await, 0);
}

#[tokio::test]
async fn unknown_ids_are_404_and_duplicates_409() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let t = app.token_for(Role::Therapist).await;
    let missing = "0190f0f0-0000-7000-8000-000000000000";
    for path in [
        format!("/api/v1/clients/{missing}"),
        "/api/v1/clients/not-a-uuid".into(),
        format!("/api/v1/courses/{missing}"),
    ] {
        let r = app.get(&path, &t).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        r.problem_field();
    }
    let r = app.get("/api/v1/no-such-thing", &t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    r.problem_field();

    let staff =
        json!({"name": "Nia", "email": "nia@test.kairos", "roles": ["nurse"], "password": "a long enough password"});
    assert_eq!(app.post("/api/v1/staff", &admin, staff.clone()).await.status, StatusCode::CREATED);
    let r = app.post("/api/v1/staff", &admin, staff).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.problem_field(), Some("email"));
    let r =
        app.post("/api/v1/staff", &admin, json!({"name": "X", "email": "x@test.kairos", "roles": ["wizard"]})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.problem_field(), Some("roles[0]"));
    let r = app
        .post(
            "/api/v1/staff",
            &admin,
            json!({"name": "X", "email": "x@test.kairos", "roles": ["nurse"], "password": "short"}),
        )
        .await;
    assert_eq!(r.problem_field(), Some("password"));

    let r = app.post("/api/v1/sites", &admin, json!({"name": "Main", "time_zone": "Mars/Olympus"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.problem_field(), Some("time_zone"));
}

#[tokio::test]
async fn bad_bookings_name_the_field() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let t = app.token_for(Role::Coordinator).await;
    let site = app.post("/api/v1/sites", &admin, json!({"name": "Main", "time_zone": "UTC"})).await.body["id"].clone();
    let client = app.create_client(&t, "Ada", "Lin").await;
    let base = json!({"client_id": client, "site_id": site, "kind": "intake",
                      "scheduled_start": "2030-01-01T10:00:00Z", "scheduled_end": "2030-01-01T11:00:00Z"});
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("scheduled_end", json!("2030-01-01T09:00:00Z")), "scheduled_end"),
        (with("scheduled_start", json!("next tuesday")), "scheduled_start"),
        (with("scheduled_end", json!("2030-01-02T10:00:00Z")), "scheduled_end"),
        (with("kind", json!("massage")), "kind"),
        (with("client_id", json!("0190f0f0-0000-7000-8000-000000000000")), "client_id"),
        (with("room_id", json!("0190f0f0-0000-7000-8000-000000000000")), "room_id"),
        (with("staff_id", json!("bogus")), "staff_id"),
    ];
    for (body, field) in cases {
        let r = app.post("/api/v1/encounters", &t, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.body);
        assert_eq!(r.problem_field(), Some(field), "{body}");
    }
    let r = app.get("/api/v1/clients?limit=0", &t).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.problem_field(), Some("limit"));
    let r = app.get("/api/v1/clients?limit=ten", &t).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.problem_field(), Some("limit"));
}

/// With every database connection taken, a request is answered "briefly
/// unavailable, try again" (503, `Retry-After`) within the pool's wait, not
/// left hanging and not called an unexpected error.
#[tokio::test]
async fn a_busy_database_is_a_quick_503_with_retry_after() {
    let db = kairos_store::testing::TestDb::default_backend().await;
    let options = kairos_store::StoreOptions { max_connections: 2, ..Default::default() };
    let store = kairos_store::Store::connect(&db.url, options).await.expect("store");
    let app = serve(store.clone(), test_config()).await;
    let t = app.token_for(Role::Coordinator).await;
    // Take every connection the pool will give (the audit writer may hold
    // one of its own).
    let mut held = Vec::new();
    while let Ok(Ok(c)) = tokio::time::timeout(std::time::Duration::from_millis(300), store.pool().acquire()).await {
        held.push(c);
    }
    assert!(!held.is_empty());
    let started = std::time::Instant::now();
    let health = app.api.get(format!("{}/api/v1/healthz", app.base)).send().await.expect("healthz");
    let waited = started.elapsed();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    assert!(waited < kairos_store::ACQUIRE_TIMEOUT + std::time::Duration::from_secs(1), "answered after {waited:?}");
    let r = app
        .post(
            "/api/v1/clients",
            &t,
            serde_json::json!({ "given_name": "Ada", "family_name": "Busy", "date_of_birth": "1990-01-01" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.content_type, "application/problem+json");
    drop(held);
    let r = app
        .post(
            "/api/v1/clients",
            &t,
            serde_json::json!({ "given_name": "Ada", "family_name": "Busy", "date_of_birth": "1990-01-01" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "once a connection is free: {}", r.body);
}
