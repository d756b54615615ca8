//! Where read entries of the audit log live on a SQLite file, and how a
//! client's are found (docs/benchmarks.md, chart read, sessions 4 and 5).
//!
//! Read and list entries are most of the audit log: every chart read writes
//! one, durably, before it is answered. On a SQLite file they are kept out of
//! the database file itself:
//!
//! - **The read-audit file** (`<database>.read-audit`, [`log_path`]): the read
//!   and list entries, appended by the audit writer (`audit.rs`) in durable
//!   commits of their own (WAL, `synchronous=FULL`), in an `audit_log` table
//!   of the same shape, as append-only as the main one. It is part of the
//!   record: back it up with the database (`kairos backup` folds it into the
//!   copy). Written in its own file, these commits leave the database file
//!   unchanged, so the chart readers' page caches survive them (SQLite drops a
//!   connection's whole cache when its file changed): a chart read went from
//!   16 page reads from the OS to 5.
//! - **The per-client index of reads** (`<database>.audit-index`,
//!   [`index_path`]): derived data. Indexed by client as they were written,
//!   reads dirtied a random leaf of the per-client index each, which set the
//!   chart read's p99; instead, a thread of their own ([`Filer`]) files them
//!   under their client every [`EVERY`], in a file of its own (its own write
//!   lock: the audit commits go on while it files). Reads after the filing's
//!   watermark are found by the log's own order (the rowid: assigned in
//!   commit order, and nothing is ever deleted). The index can be lost or
//!   belong to another copy of the logs (a `VACUUM INTO` copy may number rows
//!   anew): each watermark names its entry, and when one does not match,
//!   everything is filed again. Nothing is lost either way.
//!
//! Read entries written before the read-audit file existed, and those folded
//! into a backup copy, are in the database's own `audit_log` (left out of its
//! per-client index since migration 0014): the index files them from there
//! too, with a watermark of their own.

use crate::cipher::SqliteFile;
use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

/// How often read entries are filed by client.
pub(crate) const EVERY: Duration = Duration::from_secs(30);

/// The actions whose entries live in the read-audit file (as SQL, and as
/// [`is_read`]).
const READ_ACTIONS: &str = "('read', 'list')";

/// Whether an entry of `action` belongs to the read-audit file.
pub(crate) fn is_read(action: &str) -> bool {
    action == crate::Action::Read.as_str() || action == crate::Action::List.as_str()
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// The read-audit file beside `db`.
pub(crate) fn log_path(db: &Path) -> PathBuf {
    sibling(db, ".read-audit")
}

/// The derived per-client index of reads beside `db`.
pub(crate) fn index_path(db: &Path) -> PathBuf {
    sibling(db, ".audit-index")
}

/// A `file:` URI opening `p` read-only (for a connection opened with
/// `SQLITE_OPEN_URI`).
fn read_only_uri(p: &Path) -> Result<String> {
    let escaped = utf8(p)?.replace('%', "%25").replace('?', "%3f").replace('#', "%23");
    Ok(format!("file:{escaped}?mode=ro"))
}

fn utf8(p: &Path) -> Result<&str> {
    p.to_str().ok_or_else(|| StoreError::Config("the database path is not UTF-8".into()))
}

/// The read-audit file's table: the main `audit_log`'s columns, append-only.
const LOG_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS audit_log (
        id TEXT PRIMARY KEY, at BIGINT NOT NULL, actor_id TEXT, actor_roles TEXT NOT NULL,
        action TEXT NOT NULL, record_type TEXT NOT NULL, record_id TEXT, client_id TEXT,
        remote_addr TEXT, detail TEXT);
    CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    CREATE TABLE IF NOT EXISTS audit_chain (
        log TEXT NOT NULL, seq BIGINT NOT NULL, entry_id TEXT NOT NULL, hash TEXT NOT NULL,
        PRIMARY KEY (log, seq));
    CREATE UNIQUE INDEX IF NOT EXISTS audit_chain_entry ON audit_chain (entry_id);
    CREATE TABLE IF NOT EXISTS audit_checkpoint (
        log TEXT NOT NULL, seq BIGINT NOT NULL, entry_id TEXT NOT NULL, hash TEXT NOT NULL,
        made_at BIGINT NOT NULL, key_id TEXT NOT NULL, note TEXT NOT NULL, mac TEXT NOT NULL,
        PRIMARY KEY (log, seq));
    CREATE TRIGGER IF NOT EXISTS audit_chain_no_update BEFORE UPDATE ON audit_chain
    BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END;
    CREATE TRIGGER IF NOT EXISTS audit_chain_no_delete BEFORE DELETE ON audit_chain
    BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END;
    CREATE TRIGGER IF NOT EXISTS audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
    BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;
    CREATE TRIGGER IF NOT EXISTS audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
    BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END;";

/// The audit writer's connection to the read-audit file (made if missing):
/// every commit durable before it returns.
pub(crate) fn open_log_writer(db: &SqliteFile) -> Result<Connection> {
    let log = db.sibling(".read-audit");
    crate::cipher::create_private(log.path())?;
    let conn = log.open(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Config(format!("the read-audit file refused WAL mode ({mode})")));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(LOG_SCHEMA)?;
    Ok(conn)
}

/// A connection to the database with the read-audit file attached as `ra`
/// and the per-client index as `idx`.
/// (SQLCipher attaches a file under the main file's key.)
fn attach(db: &SqliteFile) -> Result<Connection> {
    let conn = db.open(
        // CREATE: an attached file takes the main file's flags, and the
        // index file is made on first use.
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    db.attach(&conn, utf8(&log_path(db.path()))?, "ra")?;
    db.attach(&conn, utf8(&index_path(db.path()))?, "idx")?;
    Ok(conn)
}

/// A read-only connection for audit queries: it never takes a write lock, so
/// it does not wait on a filing in progress. [`prepare`] made the tables.
pub(crate) fn open_for_reading(db: &SqliteFile) -> Result<Connection> {
    let conn = attach(db)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Layout of the index file; an index of another layout is made anew.
const INDEX_VERSION: i64 = 1;

/// The filing connection; the index tables are made first if missing.
pub(crate) fn open_for_filing(db: &SqliteFile) -> Result<Connection> {
    make_index(db)?;
    let conn = attach(db)?;
    // Derived data (see [`make_index`]).
    conn.pragma_update(Some("idx"), "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Makes the index file's tables unless they are of the current layout, on a
/// connection to that file alone (so the lock it takes is that file's).
fn make_index(db: &SqliteFile) -> Result<()> {
    let index = db.sibling(".audit-index");
    crate::cipher::create_private(index.path())?;
    let mut conn = index.open(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // Derived data: WAL keeps each filing atomic with its watermarks; NORMAL
    // may lose the last filing on a power cut, which is then simply redone.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let version = |c: &Connection| -> Result<i64> { Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?) };
    if version(&conn)? == INDEX_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if version(&tx)? != INDEX_VERSION {
        tx.execute_batch(&format!(
            "DROP TABLE IF EXISTS audit_client_reads; DROP TABLE IF EXISTS audit_rollup;
             CREATE TABLE audit_client_reads (
                 client_id TEXT NOT NULL, audit_id TEXT NOT NULL, PRIMARY KEY (client_id, audit_id)) WITHOUT ROWID;
             CREATE TABLE audit_rollup (source TEXT PRIMARY KEY, upto_rowid INTEGER NOT NULL, upto_id TEXT NOT NULL);
             INSERT INTO audit_rollup (source, upto_rowid, upto_id) VALUES ('main', 0, ''), ('ra', 0, '');
             PRAGMA user_version = {INDEX_VERSION};"
        ))?;
    }
    tx.commit()?;
    Ok(())
}

/// The database header's `user_version` of a practice whose read entries
/// are kept in the read-audit file beside it: once a server has begun that
/// file, its absence is an error, not a reason to begin an empty one (which
/// would drop every read entry from the audit log without a word). A backup
/// copy holds its reads itself and says so with 0 (`fold_into`).
const KEEPS_READ_AUDIT: i64 = 1;

fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Before anything is opened: whether the read-audit file beside `db` is
/// missing although the practice keeps one. Refused, naming the file, unless
/// `begin_new` (the operator's choice, recorded by the caller); then `true`.
/// A new practice, or one restored from a backup, begins a file silently.
pub(crate) fn missing_log(db: &SqliteFile, begin_new: bool) -> Result<bool> {
    let log = log_path(db.path());
    if log.exists() || !db.path().is_file() || std::fs::metadata(db.path()).is_ok_and(|m| m.len() == 0) {
        return Ok(false);
    }
    let conn = db.open_ro()?;
    if user_version(&conn)? != KEEPS_READ_AUDIT {
        return Ok(false);
    }
    if !begin_new {
        return Err(StoreError::Config(format!(
            "the read-audit file {} is missing: it holds the audit log's record of who read which record on this \
             practice, and starting without it would drop those entries from the log. Put it back beside {} \
             (from where this database was copied, or restore a backup with `kairos restore`), or start with \
             --new-read-audit to begin a new, empty one (the gap is recorded in the audit log)",
            log.display(),
            db.path().display()
        )));
    }
    tracing::warn!(file = %log.display(), "the read-audit file is missing; a new one is begun as asked");
    Ok(true)
}

/// Makes the read-audit file and the index tables (before any query may
/// attach them), marks the practice as keeping a read-audit file, and
/// removes the index of an earlier layout (`<database>.audit-reads`,
/// derived data).
pub(crate) fn prepare(db: &SqliteFile) -> Result<()> {
    set_aside_if_folded(db)?;
    drop(open_log_writer(db)?);
    drop(open_for_filing(db)?);
    let conn = db.open_rw()?;
    conn.busy_timeout(Duration::from_secs(10))?;
    if user_version(&conn)? != KEEPS_READ_AUDIT {
        conn.pragma_update(None, "user_version", KEEPS_READ_AUDIT)?;
    }
    drop(conn);
    for suffix in [".audit-reads", ".audit-reads-wal", ".audit-reads-shm"] {
        let _ = std::fs::remove_file(sibling(db.path(), suffix));
    }
    Ok(())
}

/// A backup folds the read-audit file into the copy's own log. When such a
/// copy is put back in place of the database while the read-audit file it
/// was made from is still there, that file's entries would be counted twice:
/// it is set aside (renamed `<database>.read-audit.folded-<unix time>`, never
/// deleted: it may also hold reads made after the backup) and a new one is
/// begun. Known by the file's first entry being in the database's own log.
fn set_aside_if_folded(db: &SqliteFile) -> Result<()> {
    let log = log_path(db.path());
    if !log.exists() {
        return Ok(());
    }
    let folded = {
        let conn = db.open_rw()?;
        conn.busy_timeout(Duration::from_secs(10))?;
        db.attach(&conn, utf8(&log)?, "ra")?;
        let has_logs: i64 = conn.query_row(
            "SELECT (SELECT COUNT(*) FROM main.sqlite_master WHERE name = 'audit_log')              * (SELECT COUNT(*) FROM ra.sqlite_master WHERE name = 'audit_log')",
            [],
            |r| r.get(0),
        )?;
        has_logs > 0
            && conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM main.audit_log                  WHERE id = (SELECT id FROM ra.audit_log ORDER BY rowid LIMIT 1))",
                [],
                |r| r.get::<_, bool>(0),
            )?
    };
    if !folded {
        return Ok(());
    }
    // Everything into the file itself first, so the renamed file is whole.
    {
        let conn = db.at(&log).open_rw()?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            return Err(StoreError::Config(format!("{} is in use; stop what uses it and start again", log.display())));
        }
    }
    // Closed: its write-ahead log is empty; remove it with its index so that
    // the new file does not take them for its own.
    for suffix in ["-wal", "-shm"] {
        let mut p = log.as_os_str().to_owned();
        p.push(suffix);
        let p = PathBuf::from(p);
        if p.exists() && (suffix == "-shm" || std::fs::metadata(&p).map(|m| m.len() == 0).unwrap_or(false)) {
            let _ = std::fs::remove_file(&p);
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let aside = sibling(db.path(), &format!(".read-audit.folded-{now}"));
    std::fs::rename(&log, &aside)
        .map_err(|e| StoreError::Config(format!("cannot set aside {}: {e}", log.display())))?;
    tracing::warn!(
        set_aside = %aside.display(),
        "this database already holds the entries of the read-audit file beside it (it was restored from a backup); \
         that file was set aside and a new one begun"
    );
    Ok(())
}

/// The two logs: the database's own, where only some entries are reads, and
/// the read-audit file, where all are.
const SOURCES: [&str; 2] = ["main", "ra"];

/// Which entries of `source` are reads, as SQL.
fn reads_in(source: &str) -> String {
    if source == "main" { format!("action IN {READ_ACTIONS}") } else { "1".to_string() }
}

/// Files the read and list entries committed since each watermark, in one
/// transaction of the index file (each log is read from one snapshot, so a
/// watermark is exactly the last entry filed).
pub(crate) fn roll_up(conn: &mut Connection) -> Result<()> {
    // Deferred, so the logs' files are only read (an IMMEDIATE transaction
    // would take every attached file's write lock). Its first statement
    // writes the index, so the index's write lock is taken, waiting for
    // another filing if need be, before anything of it is read.
    let started = std::time::Instant::now();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
    tx.execute("UPDATE idx.audit_rollup SET upto_rowid = upto_rowid", [])?;
    let mut stale = false;
    for source in SOURCES {
        let (rowid, id): (i64, String) =
            tx.query_row("SELECT upto_rowid, upto_id FROM idx.audit_rollup WHERE source = ?1", [source], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        if rowid > 0 {
            let found: Option<String> = tx
                .query_row(&format!("SELECT id FROM {source}.audit_log WHERE rowid = ?1"), [rowid], |r| r.get(0))
                .map(Some)
                .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
            stale |= found.as_deref() != Some(id.as_str());
        }
    }
    if stale {
        tracing::warn!("the filed audit reads belong to another copy of the logs: filing every read again");
        tx.execute("DELETE FROM idx.audit_client_reads", [])?;
        tx.execute("UPDATE idx.audit_rollup SET upto_rowid = 0, upto_id = ''", [])?;
    }
    let mut filed = 0;
    for source in SOURCES {
        let reads = reads_in(source);
        filed += tx.execute(
            &format!(
                "INSERT OR IGNORE INTO idx.audit_client_reads (client_id, audit_id) SELECT client_id, id \
                 FROM {source}.audit_log WHERE rowid > (SELECT upto_rowid FROM idx.audit_rollup WHERE source = ?1) \
                 AND client_id IS NOT NULL AND {reads} ORDER BY client_id, id"
            ),
            [source],
        )?;
        tx.execute(
            &format!(
                "UPDATE idx.audit_rollup SET upto_rowid = COALESCE((SELECT MAX(rowid) FROM {source}.audit_log), 0), \
                 upto_id = COALESCE((SELECT id FROM {source}.audit_log ORDER BY rowid DESC LIMIT 1), '') \
                 WHERE source = ?1"
            ),
            [source],
        )?;
    }
    tx.commit()?;
    tracing::debug!(filed, took_ms = started.elapsed().as_millis() as u64, "audit reads filed by client");
    Ok(())
}

/// Every entry of both logs that passes `filter` (on the log's own columns,
/// with `?N` parameters), as one row set with the log's columns.
pub(crate) fn all_entries(columns: &str, filter: &str) -> String {
    format!(
        "SELECT {columns} FROM main.audit_log WHERE {filter} \
         UNION ALL SELECT {columns} FROM ra.audit_log WHERE {filter}"
    )
}

/// A client's entries (`?1`; optionally of one actor, `?2`), as one row set
/// with the log's `columns`: the others by the database's partial index, the
/// filed reads of both logs, and the reads after each watermark. One
/// statement, so one snapshot of every file.
pub(crate) fn client_entries(columns: &str, actor: bool) -> String {
    let actor = if actor { " AND actor_id = ?2" } else { "" };
    let joined: String = columns.split(',').map(|c| format!("a.{}", c.trim())).collect::<Vec<_>>().join(", ");
    let mut parts = vec![format!(
        "SELECT {columns} FROM main.audit_log WHERE client_id = ?1 AND action NOT IN {READ_ACTIONS}{actor}"
    )];
    for source in SOURCES {
        let reads = reads_in(source);
        parts.push(format!(
            "SELECT {joined} FROM idx.audit_client_reads c JOIN {source}.audit_log a ON a.id = c.audit_id \
             WHERE c.client_id = ?1{actor}"
        ));
        parts.push(format!(
            "SELECT {columns} FROM {source}.audit_log WHERE rowid > \
             (SELECT upto_rowid FROM idx.audit_rollup WHERE source = '{source}') AND client_id = ?1 AND {reads}{actor}"
        ));
    }
    parts.join(" UNION ALL ")
}

/// Copies every entry of the read-audit file beside `db` into the database
/// file `dest` (a backup just made of it), so the copy holds the whole log,
/// and marks the copy as keeping no read-audit file of its own.
pub(crate) fn fold_into(db: &SqliteFile, dest: &SqliteFile, columns: &str) -> Result<u64> {
    let log = log_path(db.path());
    let mut conn = dest.open_rw()?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.pragma_update(None, "user_version", 0)?;
    tx.commit()?;
    if !log.exists() {
        return Ok(0);
    }
    db.attach(&conn, utf8(&log)?, "ra")?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let n = tx.execute(
        &format!("INSERT INTO main.audit_log ({columns}) SELECT {columns} FROM ra.audit_log ORDER BY rowid"),
        [],
    )?;
    // The read-audit file's chain and checkpoints come along (`chain.rs`):
    // the copy verifies both logs as they were sealed.
    let chained: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM ra.sqlite_master WHERE name = 'audit_chain') \
         AND EXISTS (SELECT 1 FROM main.sqlite_master WHERE name = 'audit_chain')",
        [],
        |r| r.get(0),
    )?;
    if chained {
        tx.execute("INSERT INTO main.audit_chain SELECT log, seq, entry_id, hash FROM ra.audit_chain", [])?;
        tx.execute(
            "INSERT INTO main.audit_checkpoint SELECT log, seq, entry_id, hash, made_at, key_id, note, mac \
             FROM ra.audit_checkpoint",
            [],
        )?;
    }
    tx.commit()?;
    Ok(n as u64)
}

/// After a restore: the read entries of the replaced practice's read-audit
/// file `old_log` that the restored database `db` does not hold (reads made
/// after its backup was taken) are copied into its own log, so the audit log
/// still shows them. Only when they belong to the practice the backup was
/// taken from: the replaced database `old_db` and the restored one begin
/// with the same audit entry (their oldest), or the file's first entry is in
/// the restored log (the backup folded it in). Returns how many were kept.
pub(crate) fn keep_later_reads(db: &SqliteFile, old_db: &Path, old_log: &Path, columns: &str) -> Result<u64> {
    let mut conn =
        db.open(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // The replaced files are only read (read-only, so nothing of them,
    // not even their write-ahead logs, is changed where they were set aside).
    db.attach(&conn, &read_only_uri(old_log)?, "ra")?;
    let has_log: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM ra.sqlite_master WHERE name = 'audit_log')", [], |r| r.get(0))?;
    if !has_log {
        return Ok(0);
    }
    // The replaced database may be damaged (the reason for the restore):
    // if its oldest entry cannot be read, only the other test decides.
    let oldest = |c: &Connection, schema: &str| -> Option<String> {
        c.query_row(&format!("SELECT min(id) FROM {schema}.audit_log"), [], |r| r.get::<_, Option<String>>(0))
            .ok()
            .flatten()
    };
    let same_practice = old_db.is_file() && db.attach(&conn, &read_only_uri(old_db)?, "old").is_ok() && {
        let (a, b) = (oldest(&conn, "main"), oldest(&conn, "old"));
        let _ = conn.execute("DETACH DATABASE old", []);
        a.is_some() && a == b
    };
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let related = same_practice
        || tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM main.audit_log WHERE id = (SELECT id FROM ra.audit_log ORDER BY rowid LIMIT 1))",
            [],
            |r| r.get::<_, bool>(0),
        )?;
    if !related {
        return Ok(0);
    }
    let n = tx.execute(
        &format!(
            "INSERT INTO main.audit_log ({columns}) SELECT {columns} FROM ra.audit_log r \
             WHERE NOT EXISTS (SELECT 1 FROM main.audit_log m WHERE m.id = r.id) ORDER BY rowid"
        ),
        [],
    )?;
    tx.commit()?;
    Ok(n as u64)
}

/// The filing thread: files at start (so a new or stale index is filled at
/// once), then every [`EVERY`], until dropped.
pub(crate) struct Filer {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Filer {
    pub(crate) fn start(db: &SqliteFile) -> Result<Filer> {
        let mut conn = open_for_filing(db)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kairos-audit-filing".into())
            .spawn(move || {
                run_in_the_background();
                loop {
                    if let Err(e) = roll_up(&mut conn) {
                        tracing::error!(error = %e, "filing audit reads by client failed; tried again later");
                    }
                    match stopped.recv_timeout(EVERY) {
                        Err(mpsc::RecvTimeoutError::Timeout) => continue,
                        _ => break,
                    }
                }
            })
            .map_err(|e| StoreError::Config(format!("cannot start the audit filing thread: {e}")))?;
        Ok(Filer { stop: Mutex::new(Some(stop)), thread: Mutex::new(Some(thread)) })
    }

    pub(crate) async fn shutdown(&self) {
        if let Ok(mut s) = self.stop.lock() {
            s.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// A filing is a second or so of one core's work every [`EVERY`] on a busy
/// practice (260,000 reads filed in 1.1 s, docs/benchmarks.md): on Linux it
/// runs under `SCHED_IDLE`, so it takes the CPU the requests leave and does
/// not stretch their response times while it runs. Elsewhere, as it is.
fn run_in_the_background() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(e) = set_thread_priority_and_policy(thread_native_id(), thread_priority::ThreadPriority::Min, idle) {
            tracing::debug!(error = ?e, "the audit filing thread keeps the normal scheduling policy");
        }
    }
}
