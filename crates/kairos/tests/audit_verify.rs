//! `kairos audit verify`: says an untouched audit log is intact (exit 0),
//! and names the first broken entry of one changed behind the server's back
//! (exit 1). On SQLite with a key file of the operator's, and on PostgreSQL
//! too when `KAIROS_TEST_POSTGRES_URL` is set.

use kairos_store::testing::TestDb;
use kairos_store::{Action, Actor, AuditEntry, Backend, Store, StoreOptions};
use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use std::process::{Command, Output};

fn verify(db: &str, key: Option<&std::path::Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kairos"));
    c.args(["audit", "verify", "--db", db]).env("KAIROS_LOG", "error").env_remove("KAIROS_AUDIT_KEY_FILE");
    if let Some(k) = key {
        c.arg("--audit-key-file").arg(k);
    }
    c.output().expect("run kairos")
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn audit_verify_names_the_first_broken_entry() {
    for db in TestDb::every_backend().await {
        eprintln!("-- on {:?}", db.backend());
        let key = match db.backend() {
            Backend::Sqlite => {
                Some(std::path::Path::new(db.url.sqlite_path().expect("a SQLite file")).with_file_name("operator.key"))
            }
            Backend::Postgres => None,
        };
        let opts = StoreOptions { audit_key_file: key.clone(), ..Default::default() };
        let store = Store::connect(&db.url, opts).await.expect("store");
        let actor = Actor { staff_id: None, roles: "admin".into(), remote_addr: Some("192.0.2.1".into()) };
        for i in 0..12 {
            store
                .audit_event(&actor, AuditEntry::new(Action::Login, "staff_login", format!("u{i}")))
                .await
                .expect("test step");
        }
        store.close().await;
        let url = db.url.as_str().to_string();

        let out = verify(&url, key.as_deref());
        assert!(out.status.success(), "{}", said(&out));
        assert!(said(&out).contains("audit log intact: 12 entries chained"), "{}", said(&out));
        if key.is_some() {
            // The key of the chain is the operator's: none was made beside the database.
            assert!(
                !std::path::Path::new(&format!("{}.audit-key", db.url.sqlite_path().expect("a SQLite file"))).exists()
            );
        }

        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect(&url).await.expect("test step");
        let (id,): (String,) = sqlx::query_as("SELECT entry_id FROM audit_chain WHERE log = 'main' AND seq = 4")
            .fetch_one(&mut c)
            .await
            .expect("test step");
        let drop_trigger = match db.backend() {
            Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
            Backend::Postgres => "DROP TRIGGER audit_log_no_update ON audit_log",
        };
        sqlx::query(drop_trigger).execute(&mut c).await.expect("test step");
        sqlx::query(AssertSqlSafe(format!("UPDATE audit_log SET actor_roles = 'nobody' WHERE id = '{id}'")))
            .execute(&mut c)
            .await
            .expect("test step");
        c.close().await.expect("test step");

        let out = verify(&url, key.as_deref());
        assert_eq!(out.status.code(), Some(1), "{}", said(&out));
        let text = said(&out);
        assert!(text.contains("audit log BROKEN"), "{text}");
        assert!(text.contains(&format!("log main (database), entry {id} at position 4")), "{text}");
        assert!(text.contains("edited"), "{text}");
    }
}
