//! The only place in Kairos that speaks SQL.
//!
//! One [`Store`] API over SQLite (the embedded default: one file, WAL,
//! `synchronous=FULL`, foreign keys on) and PostgreSQL, through sqlx's `Any`
//! driver: the same SQL text and the same code path for both, with one
//! migration folder per backend carrying identical versions. One exception,
//! for speed: on a SQLite file the chart read, the session lookup and the
//! read-audit group commit run the same SQL text through rusqlite, linked to
//! the same libsqlite3 (`direct.rs`); tests run both paths.
//!
//! Every write of client data commits together with its audit entry; every
//! audited read goes through [`audit::AuditWriter`], which group-commits many
//! entries in one durable transaction and answers each caller only once its
//! entry is on disk.

pub mod amendment_requests;
pub mod audit;
mod audit_reads;
pub mod chain;
pub mod cipher;
pub mod clients;
pub mod courses;
mod direct;
pub mod disclosures;
pub mod dosing;
pub mod emergency;
pub mod encounters;
mod error;
pub mod files;
pub mod groups;
pub mod import;
mod integration_due;
pub mod inventories;
pub mod ledger;
pub mod measures;
pub mod mfa;
pub mod notes;
pub mod outbox;
pub mod outcomes;
pub mod plans;
pub mod portal;
pub mod portal_email;
pub mod proposals;
pub mod rems;
mod rows;
pub mod schedules;
pub mod screens;
mod sealed_links;
pub mod sessions;
pub mod sites;
pub mod staff;
pub mod staff_requests;
#[cfg(feature = "test-support")]
pub mod testing;

pub use audit::{Action, Actor, AuditEntry, AuditQuery, AuditRecord};
pub use chain::{AuditKey, Broken, ChainReport, LogStatus};
pub use error::StoreError;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the database is: a `sqlite:` or `postgres://` URL, or a plain path
/// to a SQLite file (created if missing). `Debug` hides any password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
}

impl DatabaseUrl {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The SQLite file path, when this is a SQLite database on disk.
    pub fn sqlite_path(&self) -> Option<&str> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let rest = self.url.strip_prefix("sqlite://").or_else(|| self.url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && path != ":memory:").then_some(path)
    }
}

impl FromStr for DatabaseUrl {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(StoreError::Config("database URL or path is empty".into()));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(DatabaseUrl { url: s.to_string(), backend: Backend::Postgres });
        }
        if s.starts_with("sqlite:") {
            let url = if s.contains('?') { s.to_string() } else { format!("{s}?mode=rwc") };
            return Ok(DatabaseUrl { url, backend: Backend::Sqlite });
        }
        if s.contains("://") {
            return Err(StoreError::Config(format!(
                "unsupported database URL scheme in `{}`; use a SQLite path, sqlite:PATH or postgres://",
                redact(s)
            )));
        }
        Ok(DatabaseUrl { url: format!("sqlite://{s}?mode=rwc"), backend: Backend::Sqlite })
    }
}

fn redact(url: &str) -> String {
    // postgres://user:secret@host/db -> postgres://user:***@host/db
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.url))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.url))
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// Run migrations when connecting.
    pub migrate: bool,
    /// SQLite page cache per connection, in KiB.
    pub sqlite_cache_kib: u32,
    /// SQLite only, for filling a scratch file that is renamed into place
    /// once complete: no write-ahead log, no fsync. Never for live data.
    pub scratch_bulk_load: bool,
    /// SQLite file only: the read-audit writer starts a commit no sooner than
    /// this after the previous one started, so that reads arriving together
    /// share a commit (`audit.rs`). Zero commits as soon as it can.
    pub audit_commit_interval: Duration,
    /// SQLite file: how an existing database file (and its read-audit file)
    /// is checked before it is opened; a damaged one is refused
    /// (`files::verify`). `None` skips the check (with `require_practice`,
    /// only its integrity check: the file must still hold a practice).
    pub verify: Option<files::Check>,
    /// SQLite file: hold the practice's lock (`files::PracticeLock`) while
    /// the store is open, refusing to open if another process holds it. A
    /// server holds it; a backup or an account command beside it does not.
    pub hold_lock: bool,
    /// SQLite file: open only an existing practice (`files::check`: the
    /// file is there and holds a practice's tables), never create one from a
    /// mistyped path or make some other SQLite file into one.
    pub require_practice: bool,
    /// SQLite file: when the practice's read-audit file is missing, begin a
    /// new one (recording the gap in the audit log) instead of refusing to
    /// open (`audit_reads::missing_log`).
    pub new_read_audit: bool,
    /// The audit chain's key file (`chain.rs`). None: `<db>.audit-key`
    /// beside a SQLite file, or kept in a PostgreSQL database itself.
    pub audit_key_file: Option<std::path::PathBuf>,
    /// SQLite file: the key its files are encrypted under (`cipher.rs`);
    /// `None`: plain files.
    pub db_key: Option<cipher::DbKey>,
}

impl StoreOptions {
    /// The default pacing of read-audit commits (docs/benchmarks.md).
    pub const AUDIT_COMMIT_INTERVAL: Duration = Duration::from_micros(500);
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 16,
            migrate: true,
            sqlite_cache_kib: 8 * 1024,
            scratch_bulk_load: false,
            audit_commit_interval: StoreOptions::AUDIT_COMMIT_INTERVAL,
            verify: Some(files::Check::Quick),
            hold_lock: false,
            require_practice: false,
            new_read_audit: false,
            audit_key_file: None,
            db_key: None,
        }
    }
}

/// The clinical record. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    audit: Arc<audit::AuditWriter>,
    /// The direct read path, for a SQLite database on disk (`direct.rs`).
    readers: Option<Arc<direct::Readers>>,
    /// The group-commit writer of questionnaires, for a SQLite database on
    /// disk (`direct.rs`, `measures.rs`); with `readers`, or neither.
    writer: Option<Arc<direct::GroupWriter>>,
    /// The SQLite file, and the thread that files its audit reads by client
    /// (`audit_reads.rs`; only once migrated); neither for PostgreSQL or an
    /// in-memory database.
    sqlite_file: Option<cipher::SqliteFile>,
    filer: Option<Arc<audit_reads::Filer>>,
    /// The audit log's chain and its sealer (none on an in-memory or
    /// bulk-load database).
    chain: Option<Arc<chain::Chain>>,
    /// The chain's key is the default file beside a SQLite database.
    default_audit_key: bool,
    /// Seals one-time links while their e-mail waits in the outbox.
    link_seal: Arc<sealed_links::LinkSeal>,
    /// The practice's lock, held as long as any clone of this store is
    /// (`hold_lock`); never read, only kept.
    _lock: Option<Arc<files::PracticeLock>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a database connection before it is
/// answered "briefly unavailable" (503 with `Retry-After`): about a second,
/// so a database that is down or a pool that is exhausted is said at once.
/// Long enough for a busy practice: under 30 and 60 concurrent writers
/// against the default pool of 16 no write was refused (the fault suite's
/// `a_busy_practice_is_never_answered_503_*`; docs/reliability.md). A write
/// that waits for SQLite's write lock does so holding its connection
/// (`busy_timeout`), so its wait is not counted here; the queue for a
/// connection moves at the commit rate.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

impl Store {
    /// Connects (creating a SQLite file if needed) and, unless disabled,
    /// brings the schema up to date.
    pub async fn connect(url: &DatabaseUrl, opts: StoreOptions) -> Result<Store> {
        install_default_drivers();
        let backend = url.backend();
        let cache_kib = opts.sqlite_cache_kib;
        let bulk_load = opts.scratch_bulk_load;
        // Before any connection: the lock (a second server is refused), then
        // the file's check (a damaged file is refused, saying so, instead of
        // being served or failing later as a pool timeout).
        let file = url.sqlite_path().map(|p| cipher::SqliteFile::new(p, opts.db_key.clone()));
        let file = file.as_ref();
        if let Some(path) = file.map(cipher::SqliteFile::path)
            && opts.require_practice
            && !path.is_file()
        {
            return Err(StoreError::Config(format!(
                "there is no practice at {} (no such file): check the path, or make a new practice with \
                 `kairos init --db {}`",
                path.display(),
                path.display()
            )));
        }
        let lock = match file {
            Some(file) if opts.hold_lock => Some(Arc::new(files::PracticeLock::acquire(file.path())?)),
            _ => None,
        };
        if let Some(file) = file {
            // A key that does not open the file (or a key for a plain
            // file, or none for an encrypted one) is refused here, saying
            // so, before a pool would wait on it. A new file is made its
            // owner's only.
            file.check_key()?;
            if !file.path().exists() && !opts.require_practice {
                cipher::create_private(file.path())?;
            }
        }
        if let (Some(path), false) = (file, bulk_load) {
            let (path, require, check) = (path.clone(), opts.require_practice, opts.verify);
            tokio::task::spawn_blocking(move || match (require, check) {
                (true, check) => files::check(&path, check),
                (false, Some(check)) => files::verify(&path, check),
                (false, None) => Ok(()),
            })
            .await
            .map_err(|e| StoreError::Config(format!("the check of the database file stopped: {e}")))??;
        }
        let read_audit_replaced = match file {
            Some(path) if !bulk_load => audit_reads::missing_log(path, opts.new_read_audit)?,
            _ => false,
        };
        let keyed = file.cloned();
        let pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections.max(2))
            // A request waits at most this long for a connection (the pool
            // busy, the database unreachable) before it is answered "briefly
            // unavailable, try again" rather than left hanging.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _meta| {
                // The key first: SQLCipher reads nothing before it.
                let key = keyed.as_ref().and_then(cipher::SqliteFile::key_statement);
                Box::pin(async move {
                    if let Some(key) = key {
                        conn.execute(sqlx::AssertSqlSafe(key)).await?;
                    }
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; FULL makes every
                        // commit durable (an fsync per commit, shared by group commit).
                        if bulk_load {
                            conn.execute("PRAGMA journal_mode = MEMORY").await?;
                            conn.execute("PRAGMA synchronous = OFF").await?;
                        } else {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                        }
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        let cache = format!("PRAGMA cache_size = -{}", cache_kib);
                        conn.execute(sqlx::AssertSqlSafe(cache)).await?;
                    }
                    Ok(())
                })
            })
            // A connection given back while sqlx still counts it inside a
            // transaction is closed, not reused: when SQLite rolls a failed
            // transaction back itself (a full disk), sqlx's own ROLLBACK then
            // fails and its count stays above zero, and every later
            // transaction on that connection would be refused.
            .after_release(|conn, _meta| Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) }))
            .connect(url.as_str())
            .await?;
        if opts.migrate {
            migrator(backend).run(&pool).await?;
        }
        let sqlite_file = file.filter(|_| !bulk_load);
        if let Some(path) = sqlite_file {
            audit_reads::prepare(path)?;
        }
        let (audit, readers, writer) = match sqlite_file {
            Some(path) => (
                audit::AuditWriter::start_sqlite(path, opts.audit_commit_interval)?,
                Some(Arc::new(direct::Readers::new(path, cache_kib))),
                Some(Arc::new(direct::GroupWriter::start(path, cache_kib)?)),
            ),
            None => (audit::AuditWriter::start(pool.clone(), backend), None, None),
        };
        let filer = match sqlite_file {
            Some(path) if opts.migrate => Some(Arc::new(audit_reads::Filer::start(path)?)),
            _ => None,
        };
        let chain = if opts.migrate && (sqlite_file.is_some() || backend == Backend::Postgres) {
            let mut dbs = vec![chain::ChainDb::main(pool.clone(), backend).await?];
            if let Some(path) = sqlite_file {
                dbs.push(chain::ChainDb::read_audit(path).await?);
            }
            let key =
                chain::resolve_key(opts.audit_key_file.as_deref(), sqlite_file.map(cipher::SqliteFile::path), &dbs)
                    .await?;
            let chain = chain::Chain::new(key, dbs);
            // From each chain's latest checkpoint: a broken chain is
            // reported (logged, and on the audit page), not a reason to stop.
            chain.verify(false).await?;
            chain.start();
            Some(chain)
        } else {
            None
        };
        let link_seal = Arc::new(match &chain {
            Some(c) => sealed_links::LinkSeal::new(c.link_key()),
            None => sealed_links::LinkSeal::ephemeral(),
        });
        let sqlite_file = sqlite_file.cloned();
        let store = Store {
            link_seal,
            pool,
            backend,
            audit: Arc::new(audit),
            readers,
            writer,
            sqlite_file,
            filer,
            chain,
            default_audit_key: opts.audit_key_file.is_none(),
            _lock: lock,
        };
        if read_audit_replaced {
            // The gap in the log of reads is itself in the log.
            let entry = AuditEntry {
                action: Action::Update,
                record_type: "read_audit_file",
                record_id: None,
                client_id: None,
                detail: Some(
                    "the read-audit file was missing at start; a new, empty one was begun as the operator asked \
                     (--new-read-audit): read entries made before are not in this log"
                        .into(),
                ),
            };
            store.audit_event(&Actor::system("start"), entry).await?;
        }
        Ok(store)
    }

    /// Applies pending migrations; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let before = self.applied_migrations().await.unwrap_or_default();
        migrator(self.backend).run(&self.pool).await?;
        let after = self.applied_migrations().await?;
        Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
    }

    async fn applied_migrations(&self) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = true ORDER BY version")
                .fetch_all(&self.pool)
                .await
                .or_else(|_| Ok::<_, sqlx::Error>(Vec::new()))?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Chains the audit entries committed since the last sealing (the
    /// sealer also does so every second and at shutdown) and makes a
    /// checkpoint. Nothing to do without a chain.
    pub async fn seal_audit(&self) -> Result<u64> {
        match &self.chain {
            Some(chain) => chain.seal(true).await,
            None => Ok(0),
        }
    }

    /// Verifies the audit log's chains: `full` from the first entry, else
    /// from each chain's latest checkpoint. None without a chain.
    pub async fn verify_audit(&self, full: bool) -> Result<Option<ChainReport>> {
        match &self.chain {
            Some(chain) => Ok(Some(chain.verify(full).await?)),
            None => Ok(None),
        }
    }

    /// The latest verification of the audit log's chains (at start, or
    /// since).
    pub fn audit_verification(&self) -> Option<ChainReport> {
        self.chain.as_ref().and_then(|c| c.last())
    }

    /// Read-audit commits made since the store opened.
    pub fn audit_commits(&self) -> u64 {
        self.audit.commits()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A cheap liveness check of the database.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Begins a write transaction. On SQLite this takes the write lock up
    /// front (`BEGIN IMMEDIATE`), so a transaction never fails half-way on a
    /// lock upgrade.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Stops the group-commit and audit writers after they have flushed
    /// (every write queued before is committed and answered), and closes
    /// the pool.
    pub async fn close(&self) {
        if let Some(filer) = &self.filer {
            filer.shutdown().await;
        }
        if let Some(writer) = &self.writer {
            writer.shutdown().await;
        }
        self.audit.shutdown().await;
        if let Some(chain) = &self.chain {
            chain.shutdown().await;
        }
        self.pool.close().await;
    }

    /// A consistent online copy of a SQLite database into `dest` (a new file),
    /// taken with `VACUUM INTO` while the server keeps running.
    pub async fn backup_sqlite(&self, dest: &str) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Config("backup copies SQLite databases; for PostgreSQL use pg_dump".into()));
        }
        if std::path::Path::new(dest).exists() {
            return Err(StoreError::Config(format!("{dest} already exists; choose a new file")));
        }
        // The copy is written under a temporary name beside the destination,
        // checked, and only then renamed into place: a backup stopped half-way
        // (killed, the disk full) leaves nothing at `dest` that could later be
        // served as a (partial or empty) practice.
        let final_path = std::path::PathBuf::from(dest);
        let name = final_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let partial = final_path.with_file_name(format!(".{name}.partial-{}", uuid::Uuid::now_v7().simple()));
        let result = self.backup_to(&partial).await.and_then(|()| {
            if final_path.exists() {
                return Err(StoreError::Config(format!("{dest} already exists; choose a new file")));
            }
            std::fs::rename(&partial, &final_path)
                .map_err(|e| StoreError::Config(format!("the backup could not be put in place at {dest}: {e}")))?;
            self.copy_default_audit_key(&final_path)
        });
        if result.is_err() {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
            }
        }
        result
    }

    /// Writes the copy to `path` and checks it: SQLite's `quick_check`
    /// answers `ok` and the practice's tables are there.
    /// A practice keyed by the default key file beside it (`chain.rs`):
    /// the backup gets a copy beside it (owner-only, like the original), so
    /// the copy opens and verifies on its own. A key of the operator's
    /// (`audit_key_file`) stays where the operator keeps it.
    fn copy_default_audit_key(&self, dest: &std::path::Path) -> Result<()> {
        let Some(db) = self.sqlite_file.as_ref().filter(|_| self.default_audit_key) else { return Ok(()) };
        let key = chain::default_key_path(db.path());
        if !key.is_file() {
            return Ok(());
        }
        std::fs::copy(&key, chain::default_key_path(dest))
            .map(|_| ())
            .map_err(|e| StoreError::Config(format!("the backup's audit key could not be copied: {e}")))
    }

    async fn backup_to(&self, path: &std::path::Path) -> Result<()> {
        // The copy's entries chained as far as they can be.
        if let Some(chain) = &self.chain {
            chain.seal(true).await?;
        }
        // Made its owner's only before SQLite writes into it; a keyed
        // practice's copy is encrypted under the same key.
        cipher::create_private(path)?;
        let sql = format!("VACUUM INTO '{}'", path.to_string_lossy().replace('\'', "''"));
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await?;
        // The read entries, from the read-audit file beside a database file,
        // into the copy's own log: one file holds the whole record. (Reads
        // committed after the VACUUM's snapshot come too: they only add.)
        if let Some(db) = self.sqlite_file.clone() {
            let copy = db.at(path);
            tokio::task::spawn_blocking(move || audit_reads::fold_into(&db, &copy, audit::COLUMNS))
                .await
                .map_err(|e| StoreError::Config(format!("the backup stopped: {e}")))??;
        }
        let copy = self.sqlite_file.as_ref().map_or_else(|| cipher::SqliteFile::plain(path), |f| f.at(path));
        tokio::task::spawn_blocking(move || -> Result<()> {
            let c = copy.open(rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            let check: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
            let tables: i64 = c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('clients', 'audit_log')",
                [],
                |r| r.get(0),
            )?;
            if check != "ok" || tables != 2 {
                return Err(StoreError::Corrupt(format!("the copy did not check out ({check}, {tables} of 2 tables)")));
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Config(format!("the backup stopped: {e}")))?
    }
}

fn migrator(backend: Backend) -> &'static sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATOR,
        Backend::Postgres => &POSTGRES_MIGRATOR,
    }
}

/// A page request for lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub offset: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 200;
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { limit: 50, offset: 0 }
    }
}

/// One page of a list, with the total number of matches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_pick_the_backend_and_hide_passwords() {
        let u: DatabaseUrl = "postgres://kairos:s3cret@db.internal/kairos".parse().expect("pg");
        assert_eq!(u.backend(), Backend::Postgres);
        assert_eq!(format!("{u:?}"), "postgres://kairos:***@db.internal/kairos");
        let u: DatabaseUrl = "./kairos.db".parse().expect("path");
        assert_eq!(u.backend(), Backend::Sqlite);
        assert_eq!(u.sqlite_path(), Some("./kairos.db"));
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn both_migration_folders_carry_the_same_versions_and_names() {
        let names =
            |m: &sqlx::migrate::Migrator| m.iter().map(|x| (x.version, x.description.to_string())).collect::<Vec<_>>();
        assert_eq!(names(&SQLITE_MIGRATOR), names(&POSTGRES_MIGRATOR));
        assert!(!names(&SQLITE_MIGRATOR).is_empty());
    }
}
