//! Several server processes over one database share sessions and data
//! (PostgreSQL when KAIROS_TEST_POSTGRES_URL is set, else one SQLite file).

use crate::helpers::*;
use kairos_domain::roles::Role;
use kairos_store::testing::TestDb;
use reqwest::StatusCode;

#[tokio::test]
async fn a_session_and_a_write_on_one_server_are_seen_by_another() {
    let db = TestDb::default_backend().await;
    let one = serve(db.store().await, test_config()).await;
    // A second, independent store (its own pool and audit writer), as a
    // second process would have.
    let two = serve(db.store().await, test_config()).await;
    let token = one.token_for(Role::Coordinator).await;
    let me = two.get("/api/v1/auth/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "session from server one works on server two: {}", me.body);
    let client = two.create_client(&token, "Ada", "Lin").await;
    let chart = one.get(&format!("/api/v1/clients/{client}"), &token).await;
    assert_eq!(chart.status, StatusCode::OK);
    assert_eq!(chart.body["client"]["family_name"], "Lin");
    let r = one.call(reqwest::Method::POST, "/api/v1/auth/logout", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        two.get("/api/v1/auth/me", &token).await.status,
        StatusCode::UNAUTHORIZED,
        "logout on one ends it on two"
    );
}
