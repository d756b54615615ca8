//! The direct SQLite path, for the operations every clinician repeats all day:
//! the audited chart read and the read-audit group commit.
//!
//! sqlx's SQLite driver runs each connection on a worker thread of its own and
//! hands every statement, and every row, across threads. On two cores those
//! hand-offs, not SQLite, were most of the cost of a chart read
//! (`docs/benchmarks.md`). Here the same SQL text (the `$N` placeholders are
//! SQLite's own numbered parameters) runs on rusqlite connections, linked to
//! the very same libsqlite3 build as sqlx:
//!
//! - readers: a small pool of read-only connections. A chart read takes one,
//!   runs its three statements inside one read transaction (one consistent
//!   snapshot) and gives it back. The statements are prepared once per
//!   connection and take tens of microseconds on a warm cache, so they run on
//!   the calling task's thread: blocking it that long is cheaper than any
//!   hand-off.
//! - the read-audit writer: one thread with its own connection that drains
//!   every waiting entry, appends them in one transaction with one durable
//!   commit (WAL, `synchronous=FULL`) and only then releases each waiter.
//!
//! PostgreSQL, writes, and everything else keep to the one sqlx code path.

use crate::audit::AuditRecord;
use crate::rows::micros;
use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Reader connections kept open between requests.
const MAX_IDLE_READERS: usize = 8;

/// The pool of read-only connections to one SQLite file.
pub(crate) struct Readers {
    path: PathBuf,
    cache_kib: u32,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(path: &Path, cache_kib: u32) -> Readers {
        Readers { path: path.to_path_buf(), cache_kib, idle: Mutex::new(Vec::new()) }
    }

    fn open(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        // Never writes, whatever a bug upstream might ask of it.
        conn.pragma_update(None, "query_only", true)?;
        conn.pragma_update(None, "cache_size", -i64::from(self.cache_kib))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(32);
        // Query-planner stability: without it, SQLite marks a statement whose
        // plan could depend on a bound value (a `LIMIT $3`, a range on an
        // indexed column) to be re-compiled every time it is re-bound, which
        // was 13 % of the CPU of a chart read under load. Our statements do
        // not need value-dependent plans.
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        Ok(conn)
    }

    /// Runs `f` in one read transaction on a pooled connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let popped = self.idle.lock().map_err(|_| poisoned())?.pop();
        let conn = match popped {
            Some(c) => c,
            None => self.open()?,
        };
        let out = (|| {
            let tx = conn.unchecked_transaction()?;
            let out = f(&conn)?;
            tx.finish()?;
            Ok(out)
        })();
        // A connection that failed mid-statement is dropped, not reused.
        if out.is_ok() {
            let mut idle = self.idle.lock().map_err(|_| poisoned())?;
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        out
    }
}

fn poisoned() -> StoreError {
    StoreError::Config("the SQLite reader pool lock was poisoned".into())
}

/// The connection the read-audit writer thread owns.
pub(crate) fn open_writer(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    // Per connection, like sqlx's: every commit is durable before it returns.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// Appends `rows` in one transaction with one durable commit: every entry is
/// stored, or none is.
pub(crate) fn commit_audit_batch<'a>(
    conn: &mut Connection,
    rows: impl IntoIterator<Item = &'a AuditRecord>,
) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(crate::audit::INSERT_ONE_SQL)?;
        for r in rows {
            insert.execute(rusqlite::params![
                r.id.to_string(),
                micros(r.at),
                r.actor_id.map(|s| s.to_string()),
                r.actor_roles,
                r.action,
                r.record_type,
                r.record_id,
                r.client_id.map(|c| c.to_string()),
                r.remote_addr,
                r.detail,
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kairos-direct-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("t.db");
        let c = Connection::open(&path).expect("create");
        c.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);").expect("schema");
        path
    }

    #[test]
    fn the_audit_writer_connection_syncs_every_commit() {
        let conn = open_writer(&scratch()).expect("open");
        let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).expect("pragma");
        assert_eq!(sync, 2, "synchronous must be FULL");
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("pragma");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn readers_cannot_write_and_see_committed_rows() {
        let path = scratch();
        let readers = Readers::new(&path, 1024);
        let err = readers.read(|c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?));
        assert!(err.is_err(), "a reader connection must refuse writes");
        open_writer(&path).expect("writer").execute("INSERT INTO t VALUES (7)", []).expect("insert");
        let n: i64 = readers.read(|c| Ok(c.query_row("SELECT SUM(x) FROM t", [], |r| r.get(0))?)).expect("read");
        assert_eq!(n, 7);
    }
}
