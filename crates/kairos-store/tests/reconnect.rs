//! PostgreSQL: a store carries on after its database connections are lost
//! (the server restarted, or an administrator ended them): the next audited
//! read and the next write succeed without a restart of the application.
//! Runs when `KAIROS_TEST_POSTGRES_URL` is set.

use kairos_domain::client::{ClientDetails, ClientInput};
use kairos_store::testing::{TestDb, postgres_url};
use kairos_store::{Action, Actor, AuditEntry, AuditQuery, PageRequest};
use sqlx::Connection;

fn details(family: &str) -> ClientDetails {
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    ClientDetails::parse(
        &ClientInput { given_name: "Ada", family_name: family, date_of_birth: "1984-06-02", ..Default::default() },
        today,
    )
    .expect("valid client")
}

/// Ends every other session on the test database, as a restart would.
async fn end_connections(url: &str) -> u64 {
    let mut admin = sqlx::AnyConnection::connect(url).await.expect("admin connection");
    let ended: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .expect("terminate");
    let _ = admin.close().await;
    ended.len() as u64
}

#[tokio::test]
async fn after_its_connections_are_lost_the_first_audited_read_and_write_succeed() {
    let Some(_) = postgres_url() else {
        eprintln!("skipped: set KAIROS_TEST_POSTGRES_URL to run on PostgreSQL");
        return;
    };
    sqlx::any::install_default_drivers();
    let db = TestDb::default_backend().await;
    let store = db.store().await;
    let a = Actor::system("test");
    let client = store.create_client(&a, &details("Before")).await.expect("client");
    let read = || AuditEntry::new(Action::Read, "client", client.id).client(client.id);
    // The audit writer keeps a connection of its own between batches.
    store.audit_read(&a, read()).await.expect("a read before");
    for round in 0..3 {
        let ended = end_connections(db.url.as_str()).await;
        assert!(ended >= 1, "the writer's connection was ended");
        store.audit_read(&a, read()).await.unwrap_or_else(|e| panic!("round {round}: the first read after: {e}"));
        store.create_client(&a, &details(&format!("After{round}"))).await.expect("a write after");
    }
    let q = AuditQuery {
        client_id: Some(client.id),
        action: Some("read".into()),
        page: PageRequest { limit: 50, offset: 0 },
        ..Default::default()
    };
    assert_eq!(store.list_audit(&q).await.expect("audit").total, 4, "every acknowledged read is in the log once");
    store.close().await;
}
