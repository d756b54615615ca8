//! Who read a client's record, on SQLite, without a random index page per
//! read (docs/benchmarks.md, chart read, session 4).
//!
//! Read and list entries are most of the audit log: every chart read writes
//! one, durably, before it is answered. Indexed by client as they were
//! written, each dirtied a random leaf of the per-client index, which set the
//! chart read's p99. Since migration 0014 the per-client index in the main
//! file covers the other entries only; read and list entries are filed under
//! their client every [`EVERY`] by a thread of their own, into a derived index
//! kept in a file of its own beside the database (`<database>.audit-reads`), so
//! the filing never holds the main file's write lock: the audit commits go on
//! while it runs. Entries after the filing's watermark are found by the log's
//! own order (the rowid: assigned in commit order, and nothing is ever
//! deleted). The derived file can be lost or belong to another copy of the
//! database (a backup made with `VACUUM INTO` may number rows anew): the
//! watermark names its entry, and when that does not match, everything is
//! filed again. Nothing is lost either way; the log itself is the record.

use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

/// How often read entries are filed by client.
pub(crate) const EVERY: Duration = Duration::from_secs(30);

/// The derived file beside `db`.
pub(crate) fn path_for(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".audit-reads");
    PathBuf::from(p)
}

/// A connection to the database with the derived file attached as `reads`.
fn attach(db: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        db,
        // CREATE: an attached file takes the main file's flags, and the derived
        // file is made on first use.
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let reads = path_for(db);
    let reads = reads.to_str().ok_or_else(|| StoreError::Config("the database path is not UTF-8".into()))?;
    conn.execute("ATTACH DATABASE ?1 AS reads", [reads])?;
    Ok(conn)
}

/// A read-only connection for a client's audit: it never takes the derived
/// file's write lock, so it does not wait on a filing in progress. The
/// filing thread made the derived tables when the store opened.
pub(crate) fn open_for_reading(db: &Path) -> Result<Connection> {
    let conn = attach(db)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// The filing connection: makes the derived file's tables if missing.
pub(crate) fn open_for_filing(db: &Path) -> Result<Connection> {
    let conn = attach(db)?;
    // Derived data: WAL keeps each filing atomic with its watermark; NORMAL
    // may lose the last filing on a power cut, which is then simply redone.
    conn.execute_batch(
        "PRAGMA reads.journal_mode = WAL; PRAGMA reads.synchronous = NORMAL;
         CREATE TABLE IF NOT EXISTS reads.audit_client_reads (
             client_id TEXT NOT NULL, audit_id TEXT NOT NULL, PRIMARY KEY (client_id, audit_id)) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS reads.audit_rollup (
             one INTEGER PRIMARY KEY CHECK (one = 1), upto_rowid INTEGER NOT NULL, upto_id TEXT NOT NULL);
         INSERT OR IGNORE INTO reads.audit_rollup (one, upto_rowid, upto_id) VALUES (1, 0, '');",
    )?;
    Ok(conn)
}

/// Files the read and list entries committed since the watermark, in one
/// transaction of the derived file (the main file is only read, from one
/// snapshot, so the watermark is exactly the last entry filed).
pub(crate) fn roll_up(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)?;
    let (rowid, id): (i64, String) =
        tx.query_row("SELECT upto_rowid, upto_id FROM reads.audit_rollup", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if rowid > 0 {
        let found: Option<String> = tx
            .query_row("SELECT id FROM main.audit_log WHERE rowid = ?1", [rowid], |r| r.get(0))
            .map(Some)
            .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
        if found.as_deref() != Some(id.as_str()) {
            tracing::warn!(rowid, "the filed audit reads belong to another copy of the log: filing every read again");
            tx.execute("DELETE FROM reads.audit_client_reads", [])?;
            tx.execute("UPDATE reads.audit_rollup SET upto_rowid = 0, upto_id = ''", [])?;
        }
    }
    tx.execute(
        "INSERT OR IGNORE INTO reads.audit_client_reads (client_id, audit_id) SELECT client_id, id \
         FROM main.audit_log WHERE rowid > (SELECT upto_rowid FROM reads.audit_rollup) \
         AND client_id IS NOT NULL AND action IN ('read', 'list') ORDER BY client_id, id",
        [],
    )?;
    tx.execute(
        "UPDATE reads.audit_rollup SET upto_rowid = COALESCE((SELECT MAX(rowid) FROM main.audit_log), 0), \
         upto_id = COALESCE((SELECT id FROM main.audit_log ORDER BY rowid DESC LIMIT 1), '')",
        [],
    )?;
    tx.commit()?;
    Ok(())
}

/// The rowids of a client's entries (optionally of one actor): the others by
/// the main file's partial index, the filed reads, and the reads after the
/// watermark. One statement, so one snapshot of both files.
pub(crate) fn client_filter(actor: bool) -> String {
    let actor = if actor { " AND actor_id = ?2" } else { "" };
    format!(
        "rowid IN (SELECT rowid FROM main.audit_log WHERE client_id = ?1 AND action NOT IN ('read', 'list'){actor} \
         UNION ALL SELECT a.rowid FROM reads.audit_client_reads c JOIN main.audit_log a ON a.id = c.audit_id \
         WHERE c.client_id = ?1{actor} \
         UNION ALL SELECT rowid FROM main.audit_log WHERE rowid > (SELECT upto_rowid FROM reads.audit_rollup) \
         AND client_id = ?1 AND action IN ('read', 'list'){actor})"
    )
}

/// The filing thread: files at start (so a new or stale derived file is
/// filled at once), then every [`EVERY`], until dropped.
pub(crate) struct Filer {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Filer {
    pub(crate) fn start(db: &Path) -> Result<Filer> {
        let mut conn = open_for_filing(db)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kairos-audit-filing".into())
            .spawn(move || {
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
