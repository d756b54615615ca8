//! The direct SQLite path, for the operations every clinician repeats all day:
//! the audited chart read and the read-audit group commit.
//!
//! sqlx's SQLite driver runs each connection on a worker thread of its own and
//! hands every statement, and every row, across threads. On two cores those
//! hand-offs, not SQLite, were most of the cost of a chart read
//! (`docs/benchmarks.md`). Here the same SQL text runs on rusqlite
//! connections, linked to the very same libsqlite3 build as sqlx. (SQLite
//! takes a `$N` placeholder as a named parameter, numbered by where it first
//! appears; rusqlite binds by that number. So every statement used here has
//! its `$1`, `$2`, ... first appear in that order: a test checks them.)
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
//! - the group-commit writer ([`GroupWriter`]), the same pattern for writes
//!   of client data that clinics make thousands of times a day (recorded
//!   questionnaires): every waiting write runs in a savepoint of its own
//!   inside one transaction, with one durable commit for all of them; each
//!   waiter hears its own outcome only after that commit.
//!
//! PostgreSQL, other writes, and everything else keep to the one sqlx code path.

use crate::audit::AuditRecord;
use crate::cipher::SqliteFile;
use crate::rows::micros;
use crate::{Result, StoreError};
use rusqlite::{CachedStatement, Connection, OpenFlags};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Reader connections kept open between requests.
const MAX_IDLE_READERS: usize = 8;

/// The pool of read-only connections to one SQLite file.
pub(crate) struct Readers {
    file: SqliteFile,
    cache_kib: u32,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(file: &SqliteFile, cache_kib: u32) -> Readers {
        Readers { file: file.clone(), cache_kib, idle: Mutex::new(Vec::new()) }
    }

    fn open(&self) -> Result<Connection> {
        let conn = self
            .file
            .open(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI)?;
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
        // BEGIN and COMMIT from the statement cache: parsed once per
        // connection, not per read.
        let out = (|| {
            conn.prepare_cached("BEGIN")?.execute([])?;
            let out = f(&conn)?;
            conn.prepare_cached("COMMIT")?.execute([])?;
            Ok(out)
        })();
        // After an error (a chart not found, say) the read transaction is
        // rolled back; only a connection with none left open is kept.
        if out.is_err() && !conn.is_autocommit() {
            let _ = conn.prepare_cached("ROLLBACK").and_then(|mut s| s.execute([]));
        }
        if conn.is_autocommit() {
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
pub(crate) fn open_writer(file: &SqliteFile) -> Result<Connection> {
    let conn =
        file.open(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI)?;
    // Per connection, like sqlx's: every commit is durable before it returns.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// Appends `rows` in one transaction with one durable commit: every entry is
/// stored, or none is. No rows, no transaction.
pub(crate) fn commit_audit_batch<'a>(
    conn: &mut Connection,
    rows: impl IntoIterator<Item = &'a AuditRecord>,
) -> Result<()> {
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(crate::audit::INSERT_ONE_SQL)?;
        for r in rows {
            insert_audit_with(&mut insert, r)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Appends one audit entry inside the connection's open transaction, with
/// the statement and the values of every other audit insert.
pub(crate) fn insert_audit(conn: &Connection, r: &AuditRecord) -> Result<()> {
    insert_audit_with(&mut conn.prepare_cached(crate::audit::INSERT_ONE_SQL)?, r)
}

fn insert_audit_with(insert: &mut CachedStatement<'_>, r: &AuditRecord) -> Result<()> {
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
    Ok(())
}

/// Most writes one commit takes; the rest wait for the next.
const MAX_GROUP: usize = 1024;
/// Batch-size histogram buckets: 1, 2-3, 4-7, ... , 512 and more.
const SIZE_BUCKETS: usize = 10;

/// The group-commit writer of a SQLite file: a thread with its own
/// connection. It takes every write waiting in its queue, opens one
/// `BEGIN IMMEDIATE` transaction, runs each write in a savepoint of its own
/// (a write that fails is rolled back to its savepoint and answered with its
/// own error; the others go on), commits once (one fsync for all, WAL with
/// `synchronous=FULL`), and only then answers each waiter. If the commit
/// fails, every write of the batch is answered with the error: nothing is
/// acknowledged that is not on disk.
pub(crate) struct GroupWriter {
    /// Taken at shutdown: the thread then finishes what is queued and stops.
    tx: Mutex<Option<mpsc::UnboundedSender<Box<dyn Job>>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    stats: std::sync::Arc<Stats>,
}

/// One queued write.
trait Job: Send {
    /// Runs the write (inside its savepoint); returns whether it succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the waiter once the batch is over: its own outcome if the
    /// batch committed, else the batch's error (unless it failed itself).
    fn answer(self: Box<Self>, batch_failed: Option<&StoreError>);
}

struct Pending<T, F> {
    work: Option<F>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let outcome = match self.work.take() {
            Some(work) => work(conn),
            None => Err(StoreError::Config("a queued write ran twice".into())),
        };
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, batch_failed: Option<&StoreError>) {
        let Pending { outcome, reply, .. } = *self;
        let answer = match (outcome, batch_failed) {
            // A write that failed by itself was rolled back to its savepoint
            // whatever became of the batch: its own error is the answer.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), None) => Ok(v),
            (_, Some(e)) => Err(copy_error(e)),
            (None, None) => Err(StoreError::Config("a queued write was not run".into())),
        };
        let _ = reply.send(answer);
    }
}

/// The batch's error, for each of its writes (errors are not `Clone`).
fn copy_error(e: &StoreError) -> StoreError {
    let code = match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, _)) => *code,
        _ => rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
    };
    StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, Some(format!("the write was not committed: {e}"))))
}

/// What the writer has done so far.
#[derive(Default)]
struct Stats {
    batches: AtomicU64,
    writes: AtomicU64,
    largest: AtomicU64,
    sizes: [AtomicU64; SIZE_BUCKETS],
}

impl Stats {
    fn record(&self, size: usize) {
        let n = size as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(n, Ordering::Relaxed);
        self.largest.fetch_max(n, Ordering::Relaxed);
        let bucket = (n.max(1).ilog2() as usize).min(SIZE_BUCKETS - 1);
        self.sizes[bucket].fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> crate::measures::GroupCommitStats {
        crate::measures::GroupCommitStats {
            batches: self.batches.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            largest: self.largest.load(Ordering::Relaxed),
            by_size: self.sizes.iter().map(|b| b.load(Ordering::Relaxed)).collect(),
        }
    }
}

impl GroupWriter {
    pub(crate) fn start(file: &SqliteFile, cache_kib: u32) -> Result<GroupWriter> {
        let mut conn = open_writer(file)?;
        conn.pragma_update(None, "cache_size", -i64::from(cache_kib))?;
        conn.set_prepared_statement_cache_capacity(32);
        let (tx, mut rx) = mpsc::unbounded_channel::<Box<dyn Job>>();
        let stats = std::sync::Arc::new(Stats::default());
        let counted = stats.clone();
        let thread = std::thread::Builder::new()
            .name("kairos-writes".into())
            .spawn(move || {
                let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(256);
                while let Some(first) = rx.blocking_recv() {
                    batch.push(first);
                    while batch.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let failed = run_group(&mut conn, &mut batch).err();
                    if let Some(e) = &failed {
                        tracing::error!(error = %e, writes = batch.len(), "group commit failed; its writes are refused");
                    }
                    counted.record(batch.len());
                    for job in batch.drain(..) {
                        job.answer(failed.as_ref());
                    }
                }
            })
            .map_err(|e| StoreError::Config(format!("cannot start the group-commit writer thread: {e}")))?;
        Ok(GroupWriter { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), stats })
    }

    /// Queues `work` for the next group commit and waits for its outcome:
    /// `Ok` only once the transaction that holds it is durable. `work` runs
    /// on the writer thread, in a savepoint of its own; an error it returns
    /// undoes what it wrote and nothing else.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, wait) = oneshot::channel();
        let stopped = || StoreError::Config("the SQLite writer has stopped".into());
        {
            let tx = self.tx.lock().map_err(|_| stopped())?;
            let job: Box<dyn Job> = Box::new(Pending { work: Some(work), outcome: None, reply });
            tx.as_ref().ok_or_else(stopped)?.send(job).map_err(|_| stopped())?;
        }
        wait.await.map_err(|_| StoreError::Config("the SQLite writer stopped before answering".into()))?
    }

    /// Batches committed, writes, and batch sizes so far.
    pub(crate) fn stats(&self) -> crate::measures::GroupCommitStats {
        self.stats.snapshot()
    }

    /// Called once no more writes are coming: the thread commits what is
    /// queued, answers its waiters, and stops.
    pub(crate) async fn shutdown(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            let s = self.stats();
            tracing::debug!(
                batches = s.batches,
                writes = s.writes,
                largest = s.largest,
                by_size = ?s.by_size,
                "group-commit writer stopped"
            );
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Rolls back whatever is left of the transaction after a failure.
fn abandon(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Runs a batch of writes in one transaction, each in its own savepoint, and
/// commits it. `Err` when nothing of the batch was committed.
fn run_group(conn: &mut Connection, batch: &mut [Box<dyn Job>]) -> Result<()> {
    exec(conn, "BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        let step = (|| {
            exec(conn, "SAVEPOINT group_write")?;
            if job.run(conn) {
                exec(conn, "RELEASE group_write")?;
            } else {
                exec(conn, "ROLLBACK TO group_write")?;
                exec(conn, "RELEASE group_write")?;
            }
            // SQLite itself rolls a whole transaction back on some errors
            // (disk full, I/O): then the writes before this one are gone too.
            if conn.is_autocommit() {
                return Err(StoreError::Config("SQLite rolled the group transaction back".into()));
            }
            Ok(())
        })();
        if let Err(e) = step {
            abandon(conn);
            return Err(e);
        }
    }
    if let Err(e) = exec(conn, "COMMIT") {
        abandon(conn);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kairos-direct-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("t.db");
        let c = Connection::open(&path).expect("create");
        c.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);").expect("schema");
        path
    }

    /// The `$N` of a statement, in order of first appearance.
    fn parameters(sql: &str) -> Vec<u32> {
        let mut seen = Vec::new();
        let mut rest = sql;
        while let Some(at) = rest.find('$') {
            rest = &rest[at + 1..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<u32>()
                && !seen.contains(&n)
            {
                seen.push(n);
            }
        }
        seen
    }

    #[test]
    fn direct_statements_number_their_parameters_in_order_of_appearance() {
        // rusqlite binds by position and SQLite numbers `$N` by where it first
        // appears: `SET a = $2 WHERE id = $1` would bind the id to `a`.
        let mut all = crate::measures::DIRECT_SQL.to_vec();
        all.push(crate::audit::INSERT_ONE_SQL);
        for sql in all {
            let found = parameters(sql);
            let expected: Vec<u32> = (1..=found.len() as u32).collect();
            assert_eq!(found, expected, "{sql}");
        }
        assert_eq!(parameters("UPDATE t SET a = $2 WHERE id = $1"), vec![2, 1]);
    }

    type Work = Box<dyn FnOnce(&Connection) -> Result<usize> + Send>;

    /// Runs `works` through `writer` in one transaction: a first write holds
    /// the writer thread until all of them are queued.
    fn in_one_batch(writer: &std::sync::Arc<GroupWriter>, works: Vec<Work>) -> Vec<Result<usize>> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let (entered, is_running) = std::sync::mpsc::channel();
            let (release, released) = std::sync::mpsc::channel::<()>();
            let w = writer.clone();
            let gate = tokio::spawn(async move {
                w.write(move |_| {
                    let _ = entered.send(());
                    let _ = released.recv();
                    Ok(())
                })
                .await
            });
            tokio::task::spawn_blocking(move || is_running.recv()).await.expect("join").expect("gate runs");
            let tasks: Vec<_> = works
                .into_iter()
                .map(|work| {
                    let w = writer.clone();
                    tokio::spawn(async move { w.write(work).await })
                })
                .collect();
            for _ in 0..3 {
                tokio::task::yield_now().await; // every task queues its write
            }
            release.send(()).expect("release the gate");
            gate.await.expect("join").expect("gate");
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.expect("join"));
            }
            out
        })
    }

    fn sum(path: &Path, table: &str) -> i64 {
        let c = Connection::open(path).expect("open");
        c.query_row(&format!("SELECT COALESCE(SUM(x), 0) FROM {table}"), [], |r| r.get(0)).expect("sum")
    }

    #[test]
    fn a_failed_write_is_undone_alone_and_answered_after_the_commit() {
        let path = scratch();
        let writer = std::sync::Arc::new(GroupWriter::start(&SqliteFile::plain(&path), 1024).expect("writer"));
        let insert = |x: i64, fail: bool| -> Work {
            Box::new(move |c: &Connection| {
                let n = c.execute("INSERT INTO t VALUES ($1)", [x])?;
                if fail {
                    return Err(StoreError::Conflict { field: "x", detail: "refused".into() });
                }
                Ok(n)
            })
        };
        let out = in_one_batch(&writer, vec![insert(1, false), insert(100, true), insert(2, false)]);
        assert_eq!(out[0].as_ref().expect("first"), &1);
        assert!(matches!(out[1], Err(StoreError::Conflict { field: "x", .. })), "{:?}", out[1]);
        assert_eq!(out[2].as_ref().expect("third"), &1);
        assert_eq!(sum(&path, "t"), 3, "the failed write's row was rolled back, the others committed");
        let s = writer.stats();
        assert_eq!((s.batches, s.writes, s.largest), (2, 4, 3), "the gate, then the three in one commit: {s:?}");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            writer.shutdown().await;
            assert!(writer.write(|_| Ok(())).await.is_err(), "no writes after shutdown");
        });
    }

    #[test]
    fn when_the_commit_fails_every_write_of_the_batch_is_refused_and_the_next_batch_goes_on() {
        let path = scratch();
        // A deferred foreign key is checked at COMMIT: a batch holding an
        // orphan row cannot commit.
        Connection::open(&path)
            .expect("open")
            .execute_batch(
                "CREATE TABLE p (id INTEGER PRIMARY KEY); \
                 CREATE TABLE c (x INTEGER, pid INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .expect("schema");
        let writer = std::sync::Arc::new(GroupWriter::start(&SqliteFile::plain(&path), 1024).expect("writer"));
        let good: Work = Box::new(|c: &Connection| Ok(c.execute("INSERT INTO t VALUES (1)", [])?));
        let orphan: Work = Box::new(|c: &Connection| Ok(c.execute("INSERT INTO c VALUES (5, 999)", [])?));
        let out = in_one_batch(&writer, vec![good, orphan]);
        for r in &out {
            let e = r.as_ref().expect_err("nothing acknowledged that was not committed");
            assert!(e.to_string().contains("not committed: database: FOREIGN KEY constraint failed"), "{e}");
        }
        assert_eq!((sum(&path, "t"), sum(&path, "c")), (0, 0), "nothing of the batch is stored");
        let good: Work = Box::new(|c: &Connection| Ok(c.execute("INSERT INTO t VALUES (7)", [])?));
        let out = in_one_batch(&writer, vec![good]);
        assert_eq!(out[0].as_ref().expect("the next batch commits"), &1);
        assert_eq!(sum(&path, "t"), 7);
    }

    #[test]
    fn the_audit_writer_connection_syncs_every_commit() {
        let conn = open_writer(&SqliteFile::plain(scratch())).expect("open");
        let sync: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).expect("pragma");
        assert_eq!(sync, 2, "synchronous must be FULL");
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("pragma");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn readers_cannot_write_and_see_committed_rows() {
        let path = scratch();
        let readers = Readers::new(&SqliteFile::plain(&path), 1024);
        let err = readers.read(|c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?));
        assert!(err.is_err(), "a reader connection must refuse writes");
        assert_eq!(readers.idle.lock().expect("lock").len(), 1, "rolled back and kept after a failed read");
        open_writer(&SqliteFile::plain(&path))
            .expect("writer")
            .execute("INSERT INTO t VALUES (7)", [])
            .expect("insert");
        let n: i64 = readers.read(|c| Ok(c.query_row("SELECT SUM(x) FROM t", [], |r| r.get(0))?)).expect("read");
        assert_eq!(n, 7);
    }
}
