//! A SQLite practice as files: one server at a time holds it, a damaged or
//! truncated file is refused before it is served, and a backup is put back
//! in place with the stale write-ahead log and read-audit files moved aside.

use kairos_domain::client::{ClientDetails, ClientInput};
use kairos_store::files::{self, Check, PracticeLock};
use kairos_store::{Action, Actor, AuditEntry, AuditQuery, DatabaseUrl, Store, StoreError, StoreOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

fn details(given: &str, family: &str) -> ClientDetails {
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    ClientDetails::parse(
        &ClientInput { given_name: given, family_name: family, date_of_birth: "1984-06-02", ..Default::default() },
        today,
    )
    .expect("valid client")
}

/// A folder of its own, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let dir = std::env::temp_dir().join(format!("kairos-files-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        Dir(dir)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn url(path: &Path) -> DatabaseUrl {
    path.to_str().expect("utf-8").parse().expect("url")
}

async fn open(path: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
    Store::connect(&url(path), opts).await
}

/// A practice at `path` with the clients named, closed cleanly.
async fn practice(path: &Path, clients: &[&str]) {
    let store = open(path, StoreOptions::default()).await.expect("store");
    for c in clients {
        store.create_client(&Actor::system("test"), &details("Ada", c)).await.expect("client");
    }
    store.close().await;
}

/// The family names of a practice's clients, sorted.
fn family_names(path: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(path).expect("open");
    let mut s = c.prepare("SELECT family_name FROM clients ORDER BY family_name").expect("prepare");
    s.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows")
}

#[tokio::test]
async fn a_second_server_on_the_same_file_is_refused_until_the_first_is_gone() {
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    let serving = StoreOptions { hold_lock: true, ..Default::default() };
    let first = open(&db, serving.clone()).await.expect("the first server");
    let err = open(&db, serving.clone()).await.expect_err("a second server is refused");
    let text = err.to_string();
    assert!(text.contains("kairos.db is in use by another Kairos process"), "{text}");
    assert!(text.contains(&format!("process {}", std::process::id())), "names the holder: {text}");
    // A backup or an account command beside the server does not take the lock.
    let beside = open(&db, StoreOptions::default()).await.expect("a command beside the server");
    beside.close().await;
    first.close().await;
    drop(first);
    let again = open(&db, serving).await.expect("once the first has gone");
    again.close().await;
}

/// Overwrites `pages` pages of 4 KiB from page `from` (1-based) with junk.
fn overwrite_pages(path: &Path, from: u64, pages: u64) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).expect("open");
    f.seek(SeekFrom::Start((from - 1) * 4096)).expect("seek");
    f.write_all(&vec![0xA5u8; (pages * 4096) as usize]).expect("write");
    f.sync_all().expect("sync");
}

#[tokio::test]
async fn a_file_with_overwritten_pages_is_refused_at_open_saying_it_is_damaged() {
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    practice(&db, &["One", "Two"]).await;
    files::check(&kairos_store::cipher::SqliteFile::plain(&db), Check::Quick).expect("a sound practice checks out");
    overwrite_pages(&db, 3, 4);
    let started = std::time::Instant::now();
    let err = open(&db, StoreOptions::default()).await.expect_err("a damaged file is not served");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "refused at once, not after a pool timeout");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("kairos.db is damaged (quick_check found:"), "{text}");
    assert!(text.contains("kairos restore --from BACKUP --db"), "says what to do: {text}");
    // The full check on demand says so too.
    assert!(files::check(&kairos_store::cipher::SqliteFile::plain(&db), Check::Full).is_err());
}

#[tokio::test]
async fn a_truncated_file_is_refused_at_open_saying_it_is_damaged() {
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    practice(&db, &["One", "Two"]).await;
    let len = std::fs::metadata(&db).expect("meta").len();
    std::fs::OpenOptions::new().write(true).open(&db).expect("open").set_len(len / 2).expect("truncate");
    let started = std::time::Instant::now();
    let err = open(&db, StoreOptions::default()).await.expect_err("a truncated file is not served");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "refused at once, not after a pool timeout");
    let text = err.to_string();
    assert!(text.contains("is damaged"), "{text}");
}

#[tokio::test]
async fn a_damaged_read_audit_file_is_refused_naming_it() {
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    practice(&db, &["One"]).await;
    let log = dir.join("kairos.db.read-audit");
    assert!(log.is_file());
    std::fs::write(&log, vec![0x5Au8; 8192]).expect("junk");
    let text = open(&db, StoreOptions::default()).await.expect_err("refused").to_string();
    assert!(text.contains("kairos.db.read-audit is damaged"), "{text}");
}

#[tokio::test]
async fn a_file_that_is_not_a_practice_fails_the_check() {
    let dir = Dir::new();
    let empty = dir.join("empty.db");
    rusqlite::Connection::open(&empty).expect("open").execute_batch("CREATE TABLE t (x)").expect("table");
    let text = files::check(&kairos_store::cipher::SqliteFile::plain(&empty), Check::Quick)
        .expect_err("no practice")
        .to_string();
    assert!(text.contains("holds no Kairos practice"), "{text}");
    let text = files::check(&kairos_store::cipher::SqliteFile::plain(dir.join("typo.db")), Check::Quick)
        .expect_err("missing")
        .to_string();
    assert!(text.contains("there is no database file at"), "{text}");
}

/// A server stopped uncleanly leaves its write-ahead log (and the read-audit
/// files) beside the database. Copying a backup over the database file alone
/// would have SQLite replay that stale log into it; the restore moves them
/// aside with the old file, so the restored practice is the backup, sound,
/// and takes writes at once.
#[tokio::test]
async fn a_restore_over_a_crashed_practice_sets_its_log_aside_and_serves_the_backup() {
    let live_dir = Dir::new();
    let live = live_dir.join("kairos.db");
    let store = open(&live, StoreOptions::default()).await.expect("store");
    let a = Actor::system("test");
    store.create_client(&a, &details("Ada", "Backed-Up")).await.expect("client");
    let backup = live_dir.join("backup.db");
    store.backup_sqlite(backup.to_str().expect("utf-8")).await.expect("backup");
    for i in 0..20 {
        let later = store.create_client(&a, &details("Ada", &format!("Later{i:02}"))).await.expect("client");
        store.audit_read(&a, AuditEntry::new(Action::Read, "client", later.id).client(later.id)).await.expect("read");
    }
    // A crash: the files as they are on disk while the server runs.
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    for suffix in ["", "-wal", "-shm", ".read-audit", ".read-audit-wal", ".read-audit-shm", ".audit-key"] {
        let from = live_dir.join(&format!("kairos.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, dir.join(&format!("kairos.db{suffix}"))).expect("copy");
        }
    }
    store.close().await;
    assert!(dir.join("kairos.db-wal").metadata().expect("a log was left").len() > 0);

    let restored = files::restore(&backup, &kairos_store::cipher::SqliteFile::plain(&db)).expect("restore");
    assert_eq!(restored.clients, 1);
    assert_eq!(restored.later_reads_kept, 20, "the reads made after the backup stay in the audit log");
    assert_eq!(restored.later_reads_error, None);
    let aside = restored.set_aside.expect("the replaced files were kept");
    for name in ["kairos.db", "kairos.db-wal", "kairos.db.read-audit"] {
        assert!(aside.join(name).is_file(), "{name} moved aside: {:?}", restored.moved);
        assert!(restored.moved.contains(&name.to_string()));
    }
    for suffix in ["-wal", "-shm", ".read-audit", ".read-audit-wal", ".audit-index"] {
        assert!(!dir.join(&format!("kairos.db{suffix}")).exists(), "no kairos.db{suffix} beside the restored file");
    }
    assert_eq!(family_names(&db), vec!["Backed-Up"]);
    // The replaced practice is whole where it was moved: its log replays there.
    assert_eq!(family_names(&aside.join("kairos.db")).len(), 21);

    let store = open(&db, StoreOptions { hold_lock: true, ..Default::default() }).await.expect("serves");
    store.create_client(&a, &details("Ada", "After")).await.expect("a write after the restore");
    let reads = AuditQuery { action: Some("read".into()), ..Default::default() };
    assert_eq!(store.list_audit(&reads).await.expect("audit").total, 20, "queryable after the restore");
    store.close().await;
    drop(store);
    files::check(&kairos_store::cipher::SqliteFile::plain(&db), Check::Full).expect("sound after use");
    assert_eq!(family_names(&db), vec!["After", "Backed-Up"]);
}

#[tokio::test]
async fn a_restore_is_refused_while_a_server_holds_the_practice_and_changes_nothing() {
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    let backup = dir.join("backup.db");
    practice(&db, &["Original"]).await;
    {
        let s = open(&db, StoreOptions::default()).await.expect("store");
        s.backup_sqlite(backup.to_str().expect("utf-8")).await.expect("backup");
        s.close().await;
    }
    practice(&db, &["Newer"]).await;
    let server = open(&db, StoreOptions { hold_lock: true, ..Default::default() }).await.expect("server");
    let text = files::restore(&backup, &kairos_store::cipher::SqliteFile::plain(&db))
        .expect_err("refused while served")
        .to_string();
    assert!(text.contains("in use by another Kairos process"), "{text}");
    server.close().await;
    drop(server);
    assert_eq!(family_names(&db), vec!["Newer", "Original"]);
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("restoring") || n.contains("replaced"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn a_damaged_backup_or_a_live_database_is_not_restored() {
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    practice(&db, &["Original"]).await;
    let backup = dir.join("backup.db");
    {
        let s = open(&db, StoreOptions::default()).await.expect("store");
        s.backup_sqlite(backup.to_str().expect("utf-8")).await.expect("backup");
        s.close().await;
    }
    overwrite_pages(&backup, 3, 4);
    let text = files::restore(&backup, &kairos_store::cipher::SqliteFile::plain(&db))
        .expect_err("a damaged backup")
        .to_string();
    assert!(text.contains("the backup does not check out") && text.contains("is damaged"), "{text}");
    assert_eq!(family_names(&db), vec!["Original"]);

    // A database with its own write-ahead log is a live one, not a backup.
    let other = dir.join("other.db");
    let s = open(&other, StoreOptions::default()).await.expect("store");
    s.create_client(&Actor::system("test"), &details("Ada", "Live")).await.expect("client");
    let text =
        files::restore(&other, &kairos_store::cipher::SqliteFile::plain(&db)).expect_err("a live database").to_string();
    s.close().await;
    assert!(text.contains("has a write-ahead log beside it"), "{text}");
    assert_eq!(family_names(&db), vec!["Original"]);

    let text = files::restore(&dir.join("missing.db"), &kairos_store::cipher::SqliteFile::plain(&db))
        .expect_err("missing")
        .to_string();
    assert!(text.contains("there is no backup file at"), "{text}");
    assert!(PracticeLock::acquire(&db).is_ok(), "the restore let go of the lock");
}

#[tokio::test]
async fn a_store_that_requires_a_practice_creates_nothing_from_a_typo_nor_adopts_another_file() {
    let dir = Dir::new();
    let serving = StoreOptions { require_practice: true, hold_lock: true, ..Default::default() };
    let typo = dir.join("kairso.db");
    let text = open(&typo, serving.clone()).await.expect_err("no practice there").to_string();
    assert!(text.contains("there is no practice at") && text.contains("kairos init --db"), "{text}");
    let left: Vec<_> = std::fs::read_dir(&dir.0).expect("dir").filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "nothing made beside it: {left:?}");

    // Some other SQLite file is not made into a practice.
    let other = dir.join("other.db");
    rusqlite::Connection::open(&other).expect("open").execute_batch("CREATE TABLE t (x)").expect("table");
    let text = open(&other, serving.clone()).await.expect_err("not a practice").to_string();
    assert!(text.contains("holds no Kairos practice"), "{text}");
    let tables: i64 = rusqlite::Connection::open(&other)
        .expect("open")
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table'", [], |r| r.get(0))
        .expect("count");
    assert_eq!(tables, 1, "left as it was");

    // A practice made on purpose opens.
    let db = dir.join("kairos.db");
    practice(&db, &["One"]).await;
    let store = open(&db, serving).await.expect("an existing practice");
    store.close().await;
}

/// A practice's read-audit file holds the audit log's reads: when it is
/// missing at start, the practice is not opened (a new, empty file would drop
/// them from the log without a word) unless the operator asks for a new one,
/// and then the gap is itself in the log. A new practice, or a backup (which
/// holds its reads itself), begins one silently.
#[tokio::test]
async fn a_missing_read_audit_file_is_refused_unless_a_new_one_is_asked_for_and_the_gap_logged() {
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    let store = open(&db, StoreOptions::default()).await.expect("a new practice");
    let a = Actor::system("test");
    let c = store.create_client(&a, &details("Ada", "Read")).await.expect("client");
    store.audit_read(&a, AuditEntry::new(Action::Read, "client", c.id).client(c.id)).await.expect("read");
    let backup = dir.join("backup.db");
    store.backup_sqlite(backup.to_str().expect("utf-8")).await.expect("backup");
    store.close().await;
    drop(store);

    let log = dir.join("kairos.db.read-audit");
    std::fs::rename(&log, dir.join("elsewhere")).expect("the file goes missing");
    let text = open(&db, StoreOptions::default()).await.expect_err("refused").to_string();
    assert!(text.contains("kairos.db.read-audit is missing") && text.contains("--new-read-audit"), "{text}");
    assert!(!log.exists(), "no empty file was begun");

    let store = open(&db, StoreOptions { new_read_audit: true, ..Default::default() }).await.expect("as asked");
    let q = AuditQuery { action: Some("update".into()), ..Default::default() };
    let gap = store.list_audit(&q).await.expect("audit").items;
    assert!(
        gap.iter().any(|e| e.record_type == "read_audit_file" && e.detail.as_deref().unwrap_or("").contains("missing")),
        "the gap is in the log: {gap:?}"
    );
    store.close().await;
    drop(store);
    open(&db, StoreOptions::default()).await.expect("the new file is the practice's now").close().await;

    // A backup copy holds its reads itself: served alone, it begins a file.
    let store = open(&backup, StoreOptions::default()).await.expect("a backup opens on its own");
    let reads = AuditQuery { action: Some("read".into()), ..Default::default() };
    assert_eq!(store.list_audit(&reads).await.expect("audit").total, 1);
    store.close().await;
}
