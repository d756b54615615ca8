//! Tamper evidence of the audit log (`chain.rs`): with the store closed,
//! the append-only triggers are dropped and the log changed directly in SQL;
//! the full verification then names the first broken entry. On SQLite, and
//! on PostgreSQL too when `KAIROS_TEST_POSTGRES_URL` is set.

use kairos_store::testing::TestDb;
use kairos_store::{Action, Actor, AuditEntry, Backend, ChainReport, Store};
use sqlx::{AnyConnection, AssertSqlSafe, Connection};

/// Sign-in events (the database's own log on SQLite) and reads (the
/// read-audit file on SQLite), 20 of each; the store is closed, so sealed.
async fn populate(db: &TestDb) {
    let store = db.store().await;
    let actor = Actor { staff_id: None, roles: "admin".into(), remote_addr: Some("192.0.2.7".into()) };
    for i in 0..20 {
        store
            .audit_event(&actor, AuditEntry::new(Action::Login, "staff_login", format!("user{i}@example.org")))
            .await
            .expect("test step");
        store.audit_read(&actor, AuditEntry::new(Action::Read, "client", format!("c{i}"))).await.expect("test step");
    }
    store.close().await;
}

async fn full_verify(db: &TestDb) -> (ChainReport, Option<ChainReport>) {
    let store = db.store().await;
    let at_start = store.audit_verification();
    let report = store.verify_audit(true).await.expect("test step").expect("a chain");
    store.close().await;
    (report, at_start)
}

fn read_audit_path(db: &TestDb) -> String {
    format!("{}.read-audit", db.url.sqlite_path().expect("a SQLite file"))
}

/// Runs SQL on the database itself (or on the read-audit file), with the
/// append-only triggers dropped first.
async fn tamper(db: &TestDb, read_audit: bool, sql: &[String]) {
    sqlx::any::install_default_drivers();
    let url =
        if read_audit { format!("sqlite://{}?mode=rw", read_audit_path(db)) } else { db.url.as_str().to_string() };
    let mut c = AnyConnection::connect(&url).await.expect("test step");
    let drops: &[&str] = match db.backend() {
        Backend::Sqlite => &[
            "DROP TRIGGER IF EXISTS audit_log_no_update",
            "DROP TRIGGER IF EXISTS audit_log_no_delete",
            "DROP TRIGGER IF EXISTS audit_chain_no_update",
            "DROP TRIGGER IF EXISTS audit_chain_no_delete",
        ],
        Backend::Postgres => {
            &["DROP TRIGGER audit_log_no_update ON audit_log", "DROP TRIGGER audit_chain_no_update ON audit_chain"]
        }
    };
    for d in drops {
        sqlx::query(AssertSqlSafe(d.to_string())).execute(&mut c).await.expect("test step");
    }
    for s in sql {
        sqlx::query(AssertSqlSafe(s.clone())).execute(&mut c).await.expect("test step");
    }
    c.close().await.expect("test step");
}

/// The entry at a place in a chain, and the chain's name.
async fn entry_at(db: &TestDb, read_audit: bool, seq: i64) -> (String, String) {
    let url =
        if read_audit { format!("sqlite://{}?mode=rw", read_audit_path(db)) } else { db.url.as_str().to_string() };
    sqlx::any::install_default_drivers();
    let mut c = AnyConnection::connect(&url).await.expect("test step");
    let own = if read_audit { "log <> 'main'" } else { "log = 'main'" };
    let row: (String, String) =
        sqlx::query_as(AssertSqlSafe(format!("SELECT log, entry_id FROM audit_chain WHERE {own} AND seq = $1")))
            .bind(seq)
            .fetch_one(&mut c)
            .await
            .expect("test step");
    c.close().await.expect("test step");
    row
}

fn assert_broken_at(report: &ChainReport, log: &str, position: u64, entry: Option<&str>, what: &str) {
    let b = report.broken.as_ref().unwrap_or_else(|| panic!("not detected: {:?}", report.lines()));
    assert_eq!(b.log, log, "{b}");
    assert_eq!(b.position, position, "{b}");
    assert_eq!(b.entry_id.as_deref(), entry, "{b}");
    assert!(b.what.contains(what), "{b}");
    assert!(report.lines()[0].contains("BROKEN"), "{:?}", report.lines());
}

async fn on_every_backend<F, Fut>(test: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in TestDb::every_backend().await {
        eprintln!("-- on {:?}", db.backend());
        populate(&db).await;
        test(db).await;
    }
}

#[tokio::test]
async fn audit_chain_of_an_untouched_log_verifies() {
    on_every_backend(|db| async move {
        let (report, at_start) = full_verify(&db).await;
        assert!(report.ok(), "{:?}", report.lines());
        assert_eq!(report.unsealed, 0, "{:?}", report.lines());
        assert_eq!(report.checked(), 40, "{:?}", report.lines());
        assert!(report.logs.iter().all(|l| l.began.is_some() && l.checkpoint.is_some()), "{:?}", report.lines());
        assert!(at_start.expect("verified at start").ok());
        assert!(report.lines()[0].starts_with("audit log intact: 40 entries chained"), "{:?}", report.lines());
    })
    .await;
}

#[tokio::test]
async fn audit_chain_names_an_edited_entry() {
    on_every_backend(|db| async move {
        let (log, id) = entry_at(&db, false, 5).await;
        tamper(&db, false, &[format!("UPDATE audit_log SET actor_roles = 'someone else' WHERE id = '{id}'")]).await;
        let (report, _) = full_verify(&db).await;
        assert_broken_at(&report, &log, 5, Some(&id), "edited");
    })
    .await;
}

#[tokio::test]
async fn audit_chain_names_a_deleted_entry() {
    on_every_backend(|db| async move {
        let (log, id) = entry_at(&db, false, 7).await;
        tamper(&db, false, &[format!("DELETE FROM audit_log WHERE id = '{id}'")]).await;
        let (report, _) = full_verify(&db).await;
        assert_broken_at(&report, &log, 7, Some(&id), "deleted");
    })
    .await;
}

#[tokio::test]
async fn audit_chain_names_reordered_entries() {
    on_every_backend(|db| async move {
        let (log, a) = entry_at(&db, false, 3).await;
        let (_, b) = entry_at(&db, false, 4).await;
        // The two entries trade places: each takes the other's id.
        tamper(
            &db,
            false,
            &[
                format!("UPDATE audit_log SET id = 'swap' WHERE id = '{a}'"),
                format!("UPDATE audit_log SET id = '{a}' WHERE id = '{b}'"),
                format!("UPDATE audit_log SET id = '{b}' WHERE id = 'swap'"),
            ],
        )
        .await;
        let (report, _) = full_verify(&db).await;
        assert_broken_at(&report, &log, 3, Some(&a), "edited");
    })
    .await;
}

#[tokio::test]
async fn audit_chain_checkpoint_reveals_a_removed_tail() {
    on_every_backend(|db| async move {
        let (log, _) = entry_at(&db, false, 1).await;
        let last: i64 = {
            sqlx::any::install_default_drivers();
            let mut c = AnyConnection::connect(db.url.as_str()).await.expect("test step");
            let (n,): (i64,) = sqlx::query_as("SELECT MAX(seq) FROM audit_chain WHERE log = 'main'")
                .fetch_one(&mut c)
                .await
                .expect("test step");
            n
        };
        let cut = last - 2;
        tamper(
            &db,
            false,
            &[
                format!(
                    "DELETE FROM audit_log WHERE id IN (SELECT entry_id FROM audit_chain WHERE log = 'main' AND seq >= {cut})"
                ),
                format!("DELETE FROM audit_chain WHERE log = 'main' AND seq >= {cut}"),
            ],
        )
        .await;
        let (report, at_start) = full_verify(&db).await;
        assert_broken_at(&report, &log, cut as u64, None, "were removed");
        // The start's check (from the latest checkpoint) finds it too.
        assert!(!at_start.expect("verified at start").ok());
    })
    .await;
}

#[tokio::test]
async fn audit_chain_covers_the_read_audit_file() {
    let db = TestDb::sqlite().await;
    populate(&db).await;
    let (log, id) = entry_at(&db, true, 9).await;
    assert!(log.starts_with("reads-"), "{log}");
    tamper(&db, true, &[format!("UPDATE audit_log SET actor_id = 'forged' WHERE id = '{id}'")]).await;
    let (report, _) = full_verify(&db).await;
    assert_broken_at(&report, &log, 9, Some(&id), "edited");
    assert_eq!(report.broken.as_ref().expect("test step").file, "read-audit file");
}

#[tokio::test]
async fn audit_chain_survives_a_backup_and_restore() {
    let db = TestDb::sqlite().await;
    populate(&db).await;
    let path = std::path::PathBuf::from(db.url.sqlite_path().expect("a SQLite file"));
    let backup = path.with_file_name("copy.db");
    let store = db.store().await;
    let actor = Actor::system("test");
    // Not yet sealed when the backup begins: the backup seals first.
    store.audit_event(&actor, AuditEntry::new(Action::Update, "site", "s1")).await.expect("test step");
    store.backup_sqlite(backup.to_str().expect("test step")).await.expect("test step");
    store.close().await;
    let (b, p) = (backup.clone(), path.clone());
    tokio::task::spawn_blocking(move || kairos_store::files::restore(&b, &kairos_store::cipher::SqliteFile::plain(&p)))
        .await
        .expect("test step")
        .expect("test step");
    let store = db.store().await;
    // The restored practice goes on: new entries chain after the old.
    store.audit_read(&actor, AuditEntry::new(Action::Read, "client", "c1")).await.expect("test step");
    store.audit_event(&actor, AuditEntry::new(Action::Logout, "staff_login", "u")).await.expect("test step");
    store.seal_audit().await.expect("test step");
    let report = store.verify_audit(true).await.expect("test step").expect("test step");
    store.close().await;
    assert!(report.ok(), "{:?}", report.lines());
    assert_eq!(report.unsealed, 0, "{:?}", report.lines());
    // main, the folded reads, the new read-audit file's chain.
    assert_eq!(report.logs.len(), 3, "{:?}", report.lines());
    assert_eq!(report.sealed(), 43, "{:?}", report.lines());
    let (after, _) = full_verify(&db).await;
    assert!(after.ok(), "{:?}", after.lines());
}

#[tokio::test]
async fn audit_chain_refuses_a_missing_key_file_once_chained() {
    let db = TestDb::sqlite().await;
    populate(&db).await;
    let key = format!("{}.audit-key", db.url.sqlite_path().expect("a SQLite file"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).expect("test step").permissions().mode() & 0o777, 0o600);
    }
    std::fs::rename(&key, format!("{key}.moved")).expect("test step");
    let err = Store::connect(&db.url, Default::default()).await.expect_err("refused");
    assert!(err.to_string().contains("audit key file"), "{err}");
    // With another key, the verification says so.
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).expect("test step");
    let (report, _) = full_verify(&db).await;
    assert!(report.broken.as_ref().expect("test step").what.contains("another key"), "{:?}", report.lines());
}

/// Write transactions committing in another order than they began (on
/// PostgreSQL), reads and sign-ins, all while the sealer runs: every entry
/// ends up chained exactly once.
#[tokio::test]
async fn audit_chain_seals_concurrent_writes_once_each() {
    for db in TestDb::every_backend().await {
        eprintln!("-- on {:?}", db.backend());
        let store = db.store().await;
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let actor = Actor::system("test");
                for i in 0..15 {
                    let site = kairos_domain::site::SiteInput::parse(&format!("Site {t}-{i}"), "America/New_York")
                        .expect("site");
                    store.create_site(&actor, &site).await.expect("site");
                    store
                        .audit_read(&actor, AuditEntry::new(Action::Read, "client", format!("c{t}-{i}")))
                        .await
                        .expect("read");
                    if i % 5 == 0 {
                        store.seal_audit().await.expect("seal");
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        store.close().await;
        let (report, _) = full_verify(&db).await;
        assert!(report.ok(), "{:?}", report.lines());
        assert_eq!(report.unsealed, 0, "{:?}", report.lines());
        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect(db.url.as_str()).await.expect("connect");
        let (entries,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM audit_log").fetch_one(&mut c).await.expect("count");
        let in_file = if db.backend() == Backend::Sqlite { 120 } else { 0 };
        assert_eq!(report.sealed() as i64, entries + in_file, "{:?}", report.lines());
    }
}
