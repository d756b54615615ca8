//! The audit log: who did what to which record, when, and from where.
//!
//! Writes append their entry inside their own transaction
//! ([`insert_in`]). Reads go through [`AuditWriter`]: a single task drains
//! every entry waiting in its queue, appends them all in one transaction and
//! one durable commit, then releases each waiting request. Under load
//! hundreds of reads share an fsync; alone, a read waits for one commit.
//! On a SQLite file, read and list entries are committed to the read-audit
//! file beside the database, the other entries to the database itself
//! (`audit_reads.rs`); an audit query reads both.
//!
//! On a SQLite file the writer also paces its commits: it starts one no
//! sooner than [`StoreOptions::audit_commit_interval`](crate::StoreOptions)
//! after the previous one started. A commit on this disk takes well under a
//! millisecond, so without pacing the writer committed one or two entries at
//! a time (4,800 commits/s at 7,500 reads/s), and each commit's fsync and WAL
//! frames cost CPU the reads needed.
//! Paced at 500 µs, a read waits at most that much longer, and only when
//! reads arrive faster than commits (docs/benchmarks.md, chart read, session
//! 5). A read after a quiet spell is committed at once. (PostgreSQL has the
//! same knob server-side: `commit_delay`.)

use crate::audit_reads::is_read;
use crate::rows::{self, micros};
use crate::{Backend, Page, PageRequest, Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::ids::{AuditId, ClientId, StaffId};
use serde::Serialize;
use sqlx::{AnyPool, AssertSqlSafe};
use tokio::sync::{mpsc, oneshot};

/// Who is acting, as the audit log records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `None` for the system itself (migrations, demo generation, CLI).
    pub staff_id: Option<StaffId>,
    /// The roles held at the time, e.g. `prescriber,therapist`.
    pub roles: String,
    pub remote_addr: Option<String>,
}

impl Actor {
    pub fn system(what: &str) -> Actor {
        Actor { staff_id: None, roles: format!("system:{what}"), remote_addr: None }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Read,
    List,
    /// Recorded before a password is checked, so concurrent guesses count.
    LoginAttempt,
    Login,
    LoginFailed,
    Logout,
}

impl Action {
    /// Every action, in the order a filter lists them.
    pub const ALL: [Action; 8] = [
        Action::Create,
        Action::Update,
        Action::Read,
        Action::List,
        Action::LoginAttempt,
        Action::Login,
        Action::LoginFailed,
        Action::Logout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Read => "read",
            Action::List => "list",
            Action::LoginAttempt => "login_attempt",
            Action::Login => "login",
            Action::LoginFailed => "login_failed",
            Action::Logout => "logout",
        }
    }
}

/// One entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub action: Action,
    pub record_type: &'static str,
    pub record_id: Option<String>,
    /// The client whose record this touches, for the per-client audit view.
    pub client_id: Option<ClientId>,
    pub detail: Option<String>,
}

impl AuditEntry {
    pub fn new(action: Action, record_type: &'static str, record_id: impl ToString) -> Self {
        AuditEntry { action, record_type, record_id: Some(record_id.to_string()), client_id: None, detail: None }
    }

    pub fn client(mut self, id: ClientId) -> Self {
        self.client_id = Some(id);
        self
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub id: AuditId,
    pub at: Timestamp,
    pub actor_id: Option<StaffId>,
    pub actor_roles: String,
    pub action: String,
    pub record_type: String,
    pub record_id: Option<String>,
    pub client_id: Option<ClientId>,
    pub remote_addr: Option<String>,
    pub detail: Option<String>,
}

pub(crate) const COLUMNS: &str =
    "id, at, actor_id, actor_roles, action, record_type, record_id, client_id, remote_addr, detail";
const PER_ROW: usize = 10;
/// One entry, for the direct SQLite writer (which inserts row by row: without
/// cross-thread hand-offs a prepared single-row insert is the cheapest).
pub(crate) const INSERT_ONE_SQL: &str = "INSERT INTO audit_log (id, at, actor_id, actor_roles, action, record_type, \
     record_id, client_id, remote_addr, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
/// Rows per INSERT statement (10 binds each). Kept modest: SQLite finds each
/// `$N` by a linear scan, so binding cost grows with the square of the count.
const CHUNK: usize = 64;
/// Most entries one commit takes; the rest wait for the next.
const MAX_BATCH: usize = 2000;

/// The row an entry becomes (shared by every path that writes the log).
pub(crate) fn row_of(actor: &Actor, e: &AuditEntry, at: Timestamp) -> AuditRecord {
    AuditRecord {
        id: AuditId::new(),
        at,
        actor_id: actor.staff_id,
        actor_roles: actor.roles.clone(),
        action: e.action.as_str().to_string(),
        record_type: e.record_type.to_string(),
        record_id: e.record_id.clone(),
        client_id: e.client_id,
        remote_addr: actor.remote_addr.clone(),
        detail: e.detail.clone(),
    }
}

async fn insert_rows<'c, E>(exec: E, rows: &[AuditRecord]) -> Result<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!("INSERT INTO audit_log ({COLUMNS}) VALUES {}", rows::placeholders(rows.len(), PER_ROW));
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for r in rows {
        q = q
            .bind(r.id.to_string())
            .bind(micros(r.at))
            .bind(r.actor_id.map(|s| s.to_string()))
            .bind(r.actor_roles.clone())
            .bind(r.action.clone())
            .bind(r.record_type.to_string())
            .bind(r.record_id.clone())
            .bind(r.client_id.map(|c| c.to_string()))
            .bind(r.remote_addr.clone())
            .bind(r.detail.clone());
    }
    q.execute(exec).await?;
    Ok(())
}

/// Appends an entry inside the caller's write transaction.
pub(crate) async fn insert_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    actor: &Actor,
    entry: &AuditEntry,
    at: Timestamp,
) -> Result<()> {
    insert_rows(&mut **tx, &[row_of(actor, entry, at)]).await
}

type Waiter = oneshot::Sender<Result<(), String>>;
type Queued = (AuditRecord, Waiter);

/// The group-commit writer for audit entries of reads.
pub struct AuditWriter {
    /// Taken at shutdown: the worker then drains what is queued and stops.
    tx: std::sync::Mutex<Option<mpsc::UnboundedSender<Queued>>>,
    worker: std::sync::Mutex<Option<Worker>>,
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

enum Worker {
    /// PostgreSQL: a task on the runtime with a pooled connection.
    Task(tokio::task::JoinHandle<()>),
    /// SQLite on disk: a thread with its own rusqlite connection.
    Thread(std::thread::JoinHandle<()>),
}

impl AuditWriter {
    pub(crate) fn start(pool: AnyPool, backend: Backend) -> AuditWriter {
        let (tx, rx) = mpsc::unbounded_channel();
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = tokio::spawn(run_writer(pool, backend, rx, commits.clone()));
        AuditWriter {
            tx: std::sync::Mutex::new(Some(tx)),
            worker: std::sync::Mutex::new(Some(Worker::Task(task))),
            commits,
        }
    }

    /// The writer for a SQLite file, on the direct path (`direct.rs`): it
    /// starts a commit no sooner than `interval` after the previous one.
    pub(crate) fn start_sqlite(path: &crate::cipher::SqliteFile, interval: std::time::Duration) -> Result<AuditWriter> {
        let mut conn = crate::direct::open_writer(path)?;
        let mut reads_conn = crate::audit_reads::open_log_writer(path)?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Queued>();
        let commits = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = commits.clone();
        let thread = std::thread::Builder::new()
            .name("kairos-audit".into())
            .spawn(move || {
                let mut batch: Vec<Queued> = Vec::with_capacity(256);
                let mut last_start: Option<std::time::Instant> = None;
                while let Some(first) = rx.blocking_recv() {
                    batch.push(first);
                    // Entries arriving meanwhile join this commit.
                    if let Some(since) = last_start.map(|t| t.elapsed())
                        && since < interval
                    {
                        std::thread::sleep(interval - since);
                    }
                    last_start = Some(std::time::Instant::now());
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(item) => batch.push(item),
                            Err(_) => break,
                        }
                    }
                    // Reads to the read-audit file (`audit_reads.rs`), the
                    // rest (sign-in events) to the database; both durable
                    // before anyone is answered.
                    let rows = || batch.iter().map(|(r, _)| r);
                    let (reads, others) =
                        (rows().filter(|r| is_read(&r.action)), rows().filter(|r| !is_read(&r.action)));
                    let outcome = crate::direct::commit_audit_batch(&mut reads_conn, reads)
                        .and_then(|()| crate::direct::commit_audit_batch(&mut conn, others));
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    finish_batch(&mut batch, outcome);
                }
            })
            .map_err(|e| StoreError::Config(format!("cannot start the audit writer thread: {e}")))?;
        Ok(AuditWriter {
            tx: std::sync::Mutex::new(Some(tx)),
            worker: std::sync::Mutex::new(Some(Worker::Thread(thread))),
            commits,
        })
    }

    /// Commits made so far (batches, whether they succeeded or not).
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn enqueue(&self, row: AuditRecord) -> Result<oneshot::Receiver<Result<(), String>>> {
        let (done, wait) = oneshot::channel();
        let stopped = || StoreError::AuditUnavailable("the audit writer has stopped".into());
        let tx = self.tx.lock().map_err(|_| stopped())?;
        tx.as_ref().ok_or_else(stopped)?.send((row, done)).map_err(|_| stopped())?;
        Ok(wait)
    }

    async fn wait(wait: oneshot::Receiver<Result<(), String>>) -> Result<()> {
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::AuditUnavailable(e)),
            Err(_) => Err(StoreError::AuditUnavailable("the audit writer stopped".into())),
        }
    }

    async fn append(&self, row: AuditRecord) -> Result<()> {
        Self::wait(self.enqueue(row)?).await
    }

    /// Queues all rows at once (they land in the same batch), then waits
    /// for every one.
    async fn append_all(&self, rows: Vec<AuditRecord>) -> Result<()> {
        let waits = rows.into_iter().map(|r| self.enqueue(r)).collect::<Result<Vec<_>>>()?;
        for w in waits {
            Self::wait(w).await?;
        }
        Ok(())
    }

    /// Called after the server has stopped taking requests: the worker
    /// commits what is queued, answers its waiters, and stops.
    pub(crate) async fn shutdown(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        match worker {
            Some(Worker::Task(task)) => {
                let _ = task.await;
            }
            Some(Worker::Thread(thread)) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            None => {}
        }
    }
}

/// Answers every waiter of a batch with its outcome, and empties it.
fn finish_batch(batch: &mut Vec<Queued>, outcome: Result<()>) {
    let outcome = outcome.map_err(|e| e.to_string());
    if let Err(e) = &outcome {
        tracing::error!(error = %e, entries = batch.len(), "audit batch failed; the reads are refused");
    }
    for (_, waiter) in batch.drain(..) {
        let _ = waiter.send(outcome.clone());
    }
}

async fn run_writer(
    pool: AnyPool,
    backend: Backend,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let mut batch: Vec<Queued> = Vec::with_capacity(256);
    // One connection of its own, kept between batches: its page cache stays
    // warm and no batch waits for the pool.
    let mut conn: Option<sqlx::pool::PoolConnection<sqlx::Any>> = None;
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let rows: Vec<AuditRecord> = batch.iter().map(|(r, _)| r.clone()).collect();
        // The connection kept from an earlier batch may have been lost
        // meanwhile (the database restarted): when it cannot even begin a
        // transaction, nothing of this batch was sent, so it goes again on a
        // fresh connection instead of being refused.
        let mut outcome = match conn.as_mut() {
            Some(c) => commit_batch(c, backend, &rows).await,
            None => Err(Batch::NotBegun(StoreError::AuditUnavailable("no connection yet".into()))),
        };
        if let Err(Batch::NotBegun(e)) = &outcome {
            if conn.take().is_some() {
                tracing::info!(error = %e, "the audit writer's connection was lost; writing on a new one");
            }
            outcome = match pool.acquire().await {
                Ok(mut c) => {
                    let r = commit_batch(&mut c, backend, &rows).await;
                    conn = Some(c);
                    r
                }
                Err(e) => Err(Batch::NotBegun(e.into())),
            };
        }
        commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if outcome.is_err() {
            // Start the next batch on a fresh connection.
            conn = None;
        }
        finish_batch(&mut batch, outcome.map_err(Batch::into_error));
    }
}

/// How a batch failed: before its transaction began (nothing was sent; it
/// may go again on another connection), or after.
enum Batch {
    NotBegun(StoreError),
    Failed(StoreError),
}

impl Batch {
    fn into_error(self) -> StoreError {
        match self {
            Batch::NotBegun(e) | Batch::Failed(e) => e,
        }
    }
}

/// Appends a batch in one transaction: one durable commit for the whole
/// batch, and either every waiter's entry is stored or none is.
async fn commit_batch(conn: &mut sqlx::AnyConnection, backend: Backend, rows: &[AuditRecord]) -> Result<(), Batch> {
    let begun = match backend {
        Backend::Sqlite => sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await,
        Backend::Postgres => sqlx::Connection::begin(&mut *conn).await,
    };
    let mut tx = begun.map_err(|e| Batch::NotBegun(e.into()))?;
    let failed = |e: StoreError| Batch::Failed(e);
    for chunk in rows.chunks(CHUNK) {
        insert_rows(&mut *tx, chunk).await.map_err(failed)?;
    }
    tx.commit().await.map_err(|e| failed(e.into()))?;
    Ok(())
}

/// Filters for reading the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub client_id: Option<ClientId>,
    pub actor_id: Option<StaffId>,
    /// One action (`create`, `read`, `login_failed`, ...).
    pub action: Option<String>,
    /// Entries at or after `from` and before `to`.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub page: PageRequest,
    /// Count no more than this many entries: the total is then at most
    /// `count_at_most + 1` ("more than ...") and costs the same however
    /// long the log grows. None: the exact total.
    pub count_at_most: Option<u64>,
}

impl Store {
    /// Appends an audit entry for a read; returns once it is durable.
    pub async fn audit_read(&self, actor: &Actor, entry: AuditEntry) -> Result<()> {
        self.audit.append(row_of(actor, &entry, Timestamp::now())).await
    }

    /// Appends entries for a list that showed several clients' records, one
    /// per record shown; returns once all are durable.
    pub async fn audit_reads(&self, actor: &Actor, entries: &[AuditEntry]) -> Result<()> {
        let now = Timestamp::now();
        self.audit.append_all(entries.iter().map(|e| row_of(actor, e, now)).collect()).await
    }

    /// Appends an entry that is not part of a record change (sign-in,
    /// sign-out, failed sign-in), durably.
    pub async fn audit_event(&self, actor: &Actor, entry: AuditEntry) -> Result<()> {
        self.audit_read(actor, entry).await
    }

    /// Newest first.
    pub async fn list_audit(&self, q: &AuditQuery) -> Result<Page<AuditRecord>> {
        if let Some(db) = self.sqlite_file.clone() {
            return self.list_audit_sqlite(db, q).await;
        }
        // Only the conditions in use, so the planner can pick the partial index.
        let mut conds = Vec::new();
        let mut binds = Vec::new();
        if let Some(c) = q.client_id {
            binds.push(c.to_string());
            conds.push(format!("client_id = ${}", binds.len()));
        }
        if let Some(a) = q.actor_id {
            binds.push(a.to_string());
            conds.push(format!("actor_id = ${}", binds.len()));
        }
        let mut times = Vec::new();
        if let Some(a) = &q.action {
            binds.push(a.clone());
            conds.push(format!("action = ${}", binds.len()));
        }
        for (bound, op) in [(q.from, ">="), (q.to, "<")] {
            if let Some(t) = bound {
                times.push(micros(t));
                conds.push(format!("at {op} ${}", binds.len() + times.len()));
            }
        }
        let filter = if conds.is_empty() { String::new() } else { format!("WHERE {}", conds.join(" AND ")) };
        let counted = match q.count_at_most {
            Some(cap) => format!("SELECT COUNT(*) FROM (SELECT 1 FROM audit_log {filter} LIMIT {}) capped", cap + 1),
            None => format!("SELECT COUNT(*) FROM audit_log {filter}"),
        };
        let mut count = sqlx::query_as::<_, (i64,)>(AssertSqlSafe(counted));
        for b in &binds {
            count = count.bind(b.clone());
        }
        for t in &times {
            count = count.bind(*t);
        }
        let total = count.fetch_one(&self.pool).await?;
        let n = binds.len() + times.len();
        let mut list = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_log {filter} ORDER BY id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        )));
        for b in binds {
            list = list.bind(b);
        }
        for t in times {
            list = list.bind(t);
        }
        let rows = list.bind(i64::from(q.page.limit)).bind(i64::from(q.page.offset)).fetch_all(&self.pool).await?;
        let items = rows.iter().map(record_of).collect::<Result<Vec<_>>>()?;
        Ok(Page { items, total: total.0, limit: q.page.limit, offset: q.page.offset })
    }
}

fn record_of<R: rows::Cols>(r: &R) -> Result<AuditRecord> {
    Ok(AuditRecord {
        id: rows::get_id(r, "id")?,
        at: rows::get_ts(r, "at")?,
        actor_id: rows::get_opt_id(r, "actor_id")?,
        actor_roles: rows::get_str(r, "actor_roles")?,
        action: rows::get_str(r, "action")?,
        record_type: rows::get_str(r, "record_type")?,
        record_id: rows::get_opt_str(r, "record_id")?,
        client_id: rows::get_opt_id(r, "client_id")?,
        remote_addr: rows::get_opt_str(r, "remote_addr")?,
        detail: rows::get_opt_str(r, "detail")?,
    })
}

impl Store {
    /// The audit of a SQLite file: the database's log and the read-audit
    /// file's together (`audit_reads.rs`), from one snapshot of each.
    async fn list_audit_sqlite(&self, db: crate::cipher::SqliteFile, q: &AuditQuery) -> Result<Page<AuditRecord>> {
        let (client, actor, page) = (q.client_id, q.actor_id, q.page);
        let (action, from, to, cap) = (q.action.clone(), q.from, q.to, q.count_at_most);
        tokio::task::spawn_blocking(move || -> Result<Page<AuditRecord>> {
            use rusqlite::types::Value;
            let conn = crate::audit_reads::open_for_reading(&db)?;
            let mut params: Vec<Value> = Vec::new();
            let entries = match client {
                Some(c) => {
                    params.push(Value::Text(c.to_string()));
                    params.extend(actor.map(|a| Value::Text(a.to_string())));
                    crate::audit_reads::client_entries(COLUMNS, actor.is_some())
                }
                None => {
                    params.extend(actor.map(|a| Value::Text(a.to_string())));
                    crate::audit_reads::all_entries(COLUMNS, if actor.is_some() { "actor_id = ?1" } else { "1" })
                }
            };
            // The action and the time range narrow whichever entries those are.
            let mut outer = Vec::new();
            if let Some(a) = action {
                params.push(Value::Text(a));
                outer.push(format!("action = ?{}", params.len()));
            }
            for (bound, op) in [(from, ">="), (to, "<")] {
                if let Some(t) = bound {
                    params.push(Value::Integer(micros(t)));
                    outer.push(format!("at {op} ?{}", params.len()));
                }
            }
            let entries = if outer.is_empty() {
                entries
            } else {
                format!("SELECT * FROM ({entries}) WHERE {}", outer.join(" AND "))
            };
            // One transaction: the count and the page see the same entries.
            let tx = conn.unchecked_transaction()?;
            let n = params.len();
            let counted = match cap {
                Some(cap) => format!("SELECT COUNT(*) FROM (SELECT 1 FROM ({entries}) LIMIT {})", cap + 1),
                None => format!("SELECT COUNT(*) FROM ({entries})"),
            };
            let total: i64 = tx.query_row(&counted, rusqlite::params_from_iter(params.iter()), |r| r.get(0))?;
            let sql = format!("SELECT * FROM ({entries}) ORDER BY id DESC LIMIT ?{} OFFSET ?{}", n + 1, n + 2);
            params.push(Value::Integer(i64::from(page.limit)));
            params.push(Value::Integer(i64::from(page.offset)));
            let items =
                rows::query_named(&mut tx.prepare_cached(&sql)?, rusqlite::params_from_iter(params), |r| record_of(r))?;
            tx.finish()?;
            Ok(Page { items, total, limit: page.limit, offset: page.offset })
        })
        .await
        .map_err(|e| StoreError::Config(format!("the audit query stopped: {e}")))?
    }

    /// Files read and list audit entries by client now (a SQLite file; its
    /// filing thread also does it every 30 s). Nothing to do otherwise.
    pub async fn roll_up_audit(&self) -> Result<()> {
        let Some(db) = self.sqlite_file.clone() else { return Ok(()) };
        tokio::task::spawn_blocking(move || crate::audit_reads::roll_up(&mut crate::audit_reads::open_for_filing(&db)?))
            .await
            .map_err(|e| StoreError::Config(format!("the audit filing stopped: {e}")))?
    }
}

impl Store {
    /// Sign-in attempts for `login` since `since` and since its last
    /// successful sign-in (the attempt being made included, once recorded).
    /// The failed staff sign-ins that count towards throttling since
    /// `since` (refusals for waiting, detail `throttled`, do not): of
    /// `login` from `remote` after its latest successful sign-in from there,
    /// and from `remote` for any account. Each with the latest one's time.
    pub async fn sign_in_failures(
        &self,
        login: &str,
        remote: Option<&str>,
        since: Timestamp,
    ) -> Result<(kairos_domain::signin::Failures, kairos_domain::signin::Failures)> {
        let remote = remote.unwrap_or("").to_string();
        let account: (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MAX(at) FROM audit_log WHERE record_id = $1 \
             AND action IN ('login', 'login_failed', 'login_attempt') AND action = 'login_failed' \
             AND COALESCE(detail, '') <> 'throttled' AND COALESCE(remote_addr, '') = $2 AND at > $3 \
             AND at > COALESCE((SELECT MAX(at) FROM audit_log WHERE record_id = $1 \
             AND action IN ('login', 'login_failed', 'login_attempt') AND action = 'login' \
             AND COALESCE(remote_addr, '') = $2), 0)",
        )
        .bind(login.to_string())
        .bind(remote.clone())
        .bind(micros(since))
        .fetch_one(&self.pool)
        .await?;
        let address: (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MAX(at) FROM audit_log WHERE remote_addr = $1 \
             AND action IN ('login', 'login_failed') AND action = 'login_failed' \
             AND record_type = 'staff_login' AND COALESCE(detail, '') <> 'throttled' AND at > $2",
        )
        .bind(remote)
        .bind(micros(since))
        .fetch_one(&self.pool)
        .await?;
        let failures = |(n, last): (i64, Option<i64>)| kairos_domain::signin::Failures {
            count: u32::try_from(n).unwrap_or(u32::MAX),
            last: last.and_then(|m| Timestamp::from_microsecond(m).ok()),
        };
        Ok((failures(account), failures(address)))
    }

    pub async fn recent_sign_in_attempts(&self, login: &str, since: Timestamp) -> Result<i64> {
        let n: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM audit_log WHERE record_id = $1 \
             AND action IN ('login', 'login_failed', 'login_attempt') AND action = 'login_attempt' AND at > $2 \
             AND at > COALESCE((SELECT MAX(at) FROM audit_log WHERE record_id = $1 \
             AND action IN ('login', 'login_failed', 'login_attempt') AND action = 'login'), 0)",
        )
        .bind(login.to_string())
        .bind(micros(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(n.0)
    }
}
