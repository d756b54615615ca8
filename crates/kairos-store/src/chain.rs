//! Tamper evidence of the audit log: a keyed hash chain over every entry,
//! signed checkpoints, and their verification (docs/security.md, "Tamper
//! evidence of the audit log").
//!
//! Entries are committed as before, by the write transactions and the
//! read writer (`audit.rs`); nothing on that path waits for the chain. A
//! *sealer* (a task of the store: every [`EVERY`], at shutdown, before a
//! backup and before a verification) takes the entries not yet chained and
//! appends one link each to `audit_chain`, in the same file or database as
//! the log it covers:
//!
//! `h_i = HMAC-SHA256(key, h_{i-1} || every column of entry i, id included)`
//!
//! with `h_0` all zeros; the link names its entry and its place (`seq`).
//! Every [`CHECKPOINT_EVERY`] links, every [`CHECKPOINT_AFTER`] with new
//! links, and at shutdown, it adds a checkpoint: (log, seq, entry, hash,
//! time) with a MAC under the same key.
//!
//! Which entries are not yet chained: on SQLite (one writer at a time) the
//! rowid grows in commit order, so the sealer resumes after the rowid of the
//! last entry it chained (and skips entries already chained in another log,
//! as a backup's folded reads are). On PostgreSQL transactions commit in
//! another order than they insert, so a trigger notes each new entry in
//! `audit_unsealed` and the sealer takes them from there, under an advisory
//! lock (several servers may share the database).
//!
//! The logs: `main` is the database's own; on a SQLite file the read-audit
//! file (`audit_reads.rs`) has a chain of its own, named `reads-<uuid>`
//! when it begins. A backup folds that file's entries, links and checkpoints
//! into the copy, so the copy's tables hold both chains and verify as they
//! were sealed.

use crate::{Backend, Result, StoreError};
use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, AssertSqlSafe, Row};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often the sealer chains what was committed meanwhile.
pub(crate) const EVERY: Duration = Duration::from_secs(1);
/// A checkpoint at least this many links after the previous one...
const CHECKPOINT_EVERY: i64 = 10_000;
/// ...or this long after it, when the chain grew meanwhile.
const CHECKPOINT_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);
/// Entries chained per transaction: each holds the log's write lock for
/// about 5 ms (90,000 entries/s), so a read's audit commit waits at most
/// that long behind the sealer.
const SEAL_BATCH: i64 = 500;
/// Links read per page when verifying.
const PAGE: i64 = 5000;
/// Links per INSERT statement (4 binds each).
const LINKS_PER_INSERT: usize = 200;
/// The main database's chain.
pub(crate) const MAIN: &str = "main";
const COLUMNS: &str = crate::audit::COLUMNS;

/// The chain's key: 32 random bytes. Never printed (its `Debug` is
/// redacted); [`AuditKey::id`] names it without revealing it.
pub struct AuditKey {
    inner: Sha256,
    outer: Sha256,
    id: String,
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditKey(id {}, redacted)", self.id)
    }
}

impl AuditKey {
    pub fn from_bytes(bytes: [u8; 32]) -> AuditKey {
        let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
        for (i, b) in bytes.iter().enumerate() {
            ipad[i] ^= b;
            opad[i] ^= b;
        }
        let (mut inner, mut outer) = (Sha256::new(), Sha256::new());
        inner.update(ipad);
        outer.update(opad);
        let mut key = AuditKey { inner, outer, id: String::new() };
        key.id = hex(&key.mac(&[b"kairos audit key id"])[..8]);
        key
    }

    /// A name for the key (a MAC of a fixed text under it), recorded with
    /// each checkpoint, so a verification under another key says so.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// HMAC-SHA256 of the parts, in order.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut h = self.inner.clone();
        for p in parts {
            h.update(p);
        }
        let inner = h.finalize();
        let mut h = self.outer.clone();
        h.update(inner);
        h.finalize().into()
    }

    /// Reads a key file (64 hexadecimal digits); `None` when it is missing.
    pub fn read_file(path: &Path) -> Result<Option<AuditKey>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StoreError::Config(format!("cannot read the audit key file {}: {e}", path.display())));
            }
        };
        let bytes = unhex(text.trim())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| StoreError::Config(format!("{} is not an audit key (64 hex digits)", path.display())))?;
        Ok(Some(AuditKey::from_bytes(bytes)))
    }

    /// Makes a new key file, readable by its owner only.
    fn create_file(path: &Path) -> Result<AuditKey> {
        use std::io::Write;
        let bytes = random_key();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let fail =
            |e: std::io::Error| StoreError::Config(format!("cannot make the audit key file {}: {e}", path.display()));
        let mut f = opts.open(path).map_err(fail)?;
        f.write_all(format!("{}\n", hex(&bytes)).as_bytes()).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        Ok(AuditKey::from_bytes(bytes))
    }
}

pub(crate) fn random_key() -> [u8; 32] {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

pub(crate) fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// An entry's columns as stored.
struct Raw {
    id: String,
    at: i64,
    texts: [Option<String>; 8],
}

fn raw_of(r: &AnyRow) -> Result<Raw> {
    let s = |c: &str| -> Result<Option<String>> { Ok(r.try_get::<Option<String>, _>(c)?) };
    Ok(Raw {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        texts: [
            s("actor_id")?,
            s("actor_roles")?,
            s("action")?,
            s("record_type")?,
            s("record_id")?,
            s("client_id")?,
            s("remote_addr")?,
            s("detail")?,
        ],
    })
}

/// The link of `e` after `prev`: every column, each with its length (and
/// NULL told from empty), so no two entries encode alike.
fn link(key: &AuditKey, prev: &[u8; 32], e: &Raw, buf: &mut Vec<u8>) -> [u8; 32] {
    buf.clear();
    let mut field = |v: Option<&[u8]>| match v {
        None => buf.push(0),
        Some(b) => {
            buf.push(1);
            buf.extend_from_slice(&(b.len() as u64).to_le_bytes());
            buf.extend_from_slice(b);
        }
    };
    field(Some(e.id.as_bytes()));
    field(Some(&e.at.to_le_bytes()));
    for t in &e.texts {
        field(t.as_deref().map(str::as_bytes));
    }
    key.mac(&[prev, buf])
}

fn checkpoint_mac(key: &AuditKey, log: &str, seq: i64, entry: &str, hash: &str, made_at: i64, note: &str) -> String {
    hex(&key.mac(&[
        b"kairos audit checkpoint\0",
        log.as_bytes(),
        b"\0",
        &seq.to_le_bytes(),
        entry.as_bytes(),
        b"\0",
        hash.as_bytes(),
        &made_at.to_le_bytes(),
        note.as_bytes(),
    ]))
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub at: Timestamp,
    /// Walked from the first link (else from the latest valid checkpoint).
    pub full: bool,
    pub key_id: String,
    pub logs: Vec<LogStatus>,
    /// Entries committed but not yet chained when verified.
    pub unsealed: u64,
    /// The first broken entry or link found, if any.
    pub broken: Option<Broken>,
}

/// One chain's state.
#[derive(Debug, Clone, Serialize)]
pub struct LogStatus {
    pub log: String,
    /// `database` or `read-audit file`.
    pub file: String,
    /// Links in the chain.
    pub sealed: u64,
    /// Links whose entry was checked this time.
    pub checked: u64,
    /// When the chain began: entries 1..n were chained then (those written
    /// before it existed among them).
    pub began: Option<(u64, Timestamp)>,
    /// The latest checkpoint: up to which link, and when.
    pub checkpoint: Option<(u64, Timestamp)>,
}

/// Where the chain is broken, and how.
#[derive(Debug, Clone, Serialize)]
pub struct Broken {
    pub log: String,
    pub file: String,
    /// The place in the chain (1 is the first entry chained).
    pub position: u64,
    pub entry_id: Option<String>,
    pub what: String,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "log {} ({}), entry ", self.log, self.file)?;
        if let Some(id) = &self.entry_id {
            write!(f, "{id} ")?;
        }
        write!(f, "at position {}: {}", self.position, self.what)
    }
}

impl ChainReport {
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }

    /// Entries whose link was checked.
    pub fn checked(&self) -> u64 {
        self.logs.iter().map(|l| l.checked).sum()
    }

    /// Entries in the chains.
    pub fn sealed(&self) -> u64 {
        self.logs.iter().map(|l| l.sealed).sum()
    }

    /// The report as lines of text (the CLI prints them; the audit page
    /// shows them).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.broken {
            None => out.push(format!(
                "audit log intact: {} entries chained, {} checked ({} verification, key id {})",
                self.sealed(),
                self.checked(),
                if self.full { "full" } else { "from the latest checkpoint" },
                self.key_id
            )),
            Some(b) => out.push(format!("audit log BROKEN: first broken entry: {b}")),
        }
        for l in &self.logs {
            let mut line = format!("log {} ({}): {} entries chained", l.log, l.file, l.sealed);
            if let Some((n, at)) = l.checkpoint {
                line.push_str(&format!("; latest checkpoint at entry {n}, {}", at.strftime("%Y-%m-%d %H:%M:%S UTC")));
            }
            out.push(line);
            if let Some((n, at)) = l.began {
                out.push(format!(
                    "  entries 1..{n} were chained on {}, when the chain began",
                    at.strftime("%Y-%m-%d %H:%M:%S UTC")
                ));
            }
        }
        if self.unsealed > 0 {
            out.push(format!("{} entries written since the last sealing are not yet chained", self.unsealed));
        }
        out
    }
}

/// One file or database with chains: its pool, and the log it seals.
pub(crate) struct ChainDb {
    pool: AnyPool,
    backend: Backend,
    file: &'static str,
    own: String,
    /// SQLite: entries up to this rowid were chained or seen chained.
    watermark: i64,
}

impl ChainDb {
    /// The main database's chains.
    pub(crate) async fn main(pool: AnyPool, backend: Backend) -> Result<ChainDb> {
        let mut db = ChainDb { pool, backend, file: "database", own: MAIN.to_string(), watermark: 0 };
        db.watermark = db.start_watermark().await?;
        Ok(db)
    }

    /// The read-audit file's chain, on a pool of its own.
    pub(crate) async fn read_audit(db: &crate::cipher::SqliteFile) -> Result<ChainDb> {
        let log = db.sibling(".read-audit");
        let url = format!("sqlite://{}?mode=rw", log.path().to_string_lossy());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                let key = log.key_statement();
                Box::pin(async move {
                    use sqlx::Executor;
                    if let Some(key) = key {
                        conn.execute(sqlx::AssertSqlSafe(key)).await?;
                    }
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let own: Option<(String,)> =
            sqlx::query_as("SELECT log FROM audit_chain ORDER BY seq LIMIT 1").fetch_optional(&pool).await?;
        let own = match own {
            Some((l,)) => l,
            None => {
                let cp: Option<(String,)> =
                    sqlx::query_as("SELECT log FROM audit_checkpoint LIMIT 1").fetch_optional(&pool).await?;
                cp.map(|c| c.0).unwrap_or_else(|| format!("reads-{}", uuid::Uuid::now_v7().simple()))
            }
        };
        let mut db = ChainDb { pool, backend: Backend::Sqlite, file: "read-audit file", own, watermark: 0 };
        db.watermark = db.start_watermark().await?;
        Ok(db)
    }

    async fn start_watermark(&self) -> Result<i64> {
        if self.backend != Backend::Sqlite {
            return Ok(0);
        }
        let w: Option<(i64,)> = sqlx::query_as(
            "SELECT a.rowid FROM audit_chain c JOIN audit_log a ON a.id = c.entry_id WHERE c.log = $1 \
             ORDER BY c.seq DESC LIMIT 1",
        )
        .bind(self.own.clone())
        .fetch_optional(&self.pool)
        .await?;
        Ok(w.map(|w| w.0).unwrap_or(0))
    }

    /// Whether any chain or checkpoint is here.
    async fn has_chain(&self) -> Result<bool> {
        let n: (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM audit_chain LIMIT 1) a) \
             + (SELECT COUNT(*) FROM (SELECT 1 FROM audit_checkpoint LIMIT 1) b)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n.0 > 0)
    }

    /// Chains every entry committed and not yet chained; adds a checkpoint
    /// when one is due (`force`: whenever the chain grew since the last).
    pub(crate) async fn seal(&mut self, key: &AuditKey, force_checkpoint: bool) -> Result<u64> {
        let mut total = 0u64;
        let mut buf = Vec::with_capacity(512);
        let batch = match self.backend {
            Backend::Sqlite => SEAL_BATCH,
            // Only other sealers wait for it.
            Backend::Postgres => PAGE,
        };
        // Nothing new (the usual case between bursts): no transaction, so no
        // write lock taken every second.
        if !force_checkpoint {
            let new = match self.backend {
                Backend::Sqlite => {
                    let (max,): (i64,) =
                        sqlx::query_as("SELECT COALESCE(MAX(rowid), 0) FROM audit_log").fetch_one(&self.pool).await?;
                    max > self.watermark
                }
                Backend::Postgres => {
                    let (any,): (bool,) =
                        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM audit_unsealed)").fetch_one(&self.pool).await?;
                    any
                }
            };
            if !new {
                return Ok(0);
            }
        }
        loop {
            let mut tx = match self.backend {
                Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
                Backend::Postgres => {
                    let mut tx = self.pool.begin().await?;
                    // One sealer at a time, whichever server it runs in.
                    sqlx::query("SELECT pg_advisory_xact_lock(7305443021)").execute(&mut *tx).await?;
                    tx
                }
            };
            let head: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, hash FROM audit_chain WHERE log = $1 ORDER BY seq DESC LIMIT 1")
                    .bind(self.own.clone())
                    .fetch_optional(&mut *tx)
                    .await?;
            let (head_seq, mut prev) = match head {
                Some((s, h)) => (
                    s,
                    unhex(&h).and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| {
                        StoreError::Corrupt(format!("audit chain {} link {s} has no valid hash", self.own))
                    })?,
                ),
                None => (0, [0u8; 32]),
            };
            let (rows, max_rowid) = match self.backend {
                Backend::Sqlite => {
                    let max: (i64,) =
                        sqlx::query_as("SELECT COALESCE(MAX(rowid), 0) FROM audit_log").fetch_one(&mut *tx).await?;
                    let rows = sqlx::query(AssertSqlSafe(format!(
                        "SELECT a.rowid AS rid, {} FROM audit_log a WHERE a.rowid > $1 AND a.rowid <= $2 \
                         AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.entry_id = a.id) ORDER BY a.rowid LIMIT $3",
                        prefixed("a")
                    )))
                    .bind(self.watermark)
                    .bind(max.0)
                    .bind(batch)
                    .fetch_all(&mut *tx)
                    .await?;
                    (rows, max.0)
                }
                Backend::Postgres => {
                    let rows = sqlx::query(AssertSqlSafe(format!(
                        "SELECT {} FROM (SELECT entry_id FROM audit_unsealed ORDER BY entry_id LIMIT $1) u \
                         JOIN audit_log a ON a.id = u.entry_id ORDER BY u.entry_id",
                        prefixed("a")
                    )))
                    .bind(batch)
                    .fetch_all(&mut *tx)
                    .await?;
                    (rows, 0)
                }
            };
            let full_batch = rows.len() as i64 == batch;
            let mut links: Vec<(i64, String, String)> = Vec::with_capacity(rows.len());
            let mut last_rid = self.watermark;
            for (i, r) in rows.iter().enumerate() {
                let raw = raw_of(r)?;
                prev = link(key, &prev, &raw, &mut buf);
                links.push((head_seq + 1 + i as i64, raw.id, hex(&prev)));
                if self.backend == Backend::Sqlite {
                    last_rid = r.try_get("rid")?;
                }
            }
            for chunk in links.chunks(LINKS_PER_INSERT) {
                let sql = format!(
                    "INSERT INTO audit_chain (log, seq, entry_id, hash) VALUES {}",
                    crate::rows::placeholders(chunk.len(), 4)
                );
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for (seq, id, hash) in chunk {
                    q = q.bind(self.own.clone()).bind(*seq).bind(id.clone()).bind(hash.clone());
                }
                q.execute(&mut *tx).await?;
            }
            if self.backend == Backend::Postgres && !links.is_empty() {
                sqlx::query(
                    "DELETE FROM audit_unsealed WHERE entry_id IN \
                     (SELECT entry_id FROM audit_chain WHERE log = $1 AND seq > $2)",
                )
                .bind(self.own.clone())
                .bind(head_seq)
                .execute(&mut *tx)
                .await?;
            }
            let new_seq = head_seq + links.len() as i64;
            let last_cp: Option<(i64, i64)> =
                sqlx::query_as("SELECT seq, made_at FROM audit_checkpoint WHERE log = $1 ORDER BY seq DESC LIMIT 1")
                    .bind(self.own.clone())
                    .fetch_optional(&mut *tx)
                    .await?;
            let now = Timestamp::now();
            let due = match last_cp {
                // The first checkpoint once the entries written before the
                // chain began are all chained.
                None => new_seq > 0 && !full_batch,
                Some((seq, made_at)) => {
                    new_seq > seq
                        && (force_checkpoint
                            || new_seq - seq >= CHECKPOINT_EVERY
                            || now.as_microsecond() - made_at >= CHECKPOINT_AFTER.as_micros() as i64)
                }
            };
            if due {
                let entry: (String, String) =
                    sqlx::query_as("SELECT entry_id, hash FROM audit_chain WHERE log = $1 AND seq = $2")
                        .bind(self.own.clone())
                        .bind(new_seq)
                        .fetch_one(&mut *tx)
                        .await?;
                let note = if last_cp.is_none() { "began" } else { "" };
                let made_at = now.as_microsecond();
                let mac = checkpoint_mac(key, &self.own, new_seq, &entry.0, &entry.1, made_at, note);
                sqlx::query(
                    "INSERT INTO audit_checkpoint (log, seq, entry_id, hash, made_at, key_id, note, mac) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(self.own.clone())
                .bind(new_seq)
                .bind(entry.0)
                .bind(entry.1)
                .bind(made_at)
                .bind(key.id().to_string())
                .bind(note)
                .bind(mac)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            if self.backend == Backend::Sqlite {
                self.watermark = if full_batch { last_rid } else { max_rowid };
            }
            total += links.len() as u64;
            if !full_batch {
                tracing::debug!(log = %self.own, sealed = total, "audit entries chained");
                return Ok(total);
            }
        }
    }

    /// Verifies every chain here (`full`: from the first link; else from
    /// each chain's latest checkpoint whose MAC holds).
    async fn verify(&self, key: &AuditKey, full: bool, report: &mut ChainReport) -> Result<()> {
        let logs: Vec<(String,)> = sqlx::query_as(
            // Each log once, by the primary key's order (no scan of the chain).
            "WITH RECURSIVE l(log) AS (SELECT MIN(log) FROM audit_chain \
             UNION ALL SELECT (SELECT MIN(log) FROM audit_chain WHERE log > l.log) FROM l WHERE l.log IS NOT NULL) \
             SELECT log FROM l WHERE log IS NOT NULL UNION SELECT log FROM audit_checkpoint ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        // The database's own chain first.
        let mut logs: Vec<String> = logs.into_iter().map(|l| l.0).collect();
        logs.sort_by_key(|l| (l != &self.own, l.clone()));
        for log in logs {
            let broken = self.verify_log(key, &log, full, report).await?;
            if report.broken.is_none() {
                report.broken = broken;
            }
        }
        report.unsealed += match self.backend {
            Backend::Postgres => {
                let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_unsealed").fetch_one(&self.pool).await?;
                n.0 as u64
            }
            Backend::Sqlite => {
                let from = if full { 0 } else { self.start_watermark().await? };
                let n: (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM audit_log a WHERE a.rowid > $1 \
                     AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.entry_id = a.id)",
                )
                .bind(from)
                .fetch_one(&self.pool)
                .await?;
                n.0 as u64
            }
        };
        Ok(())
    }

    async fn verify_log(
        &self,
        key: &AuditKey,
        log: &str,
        full: bool,
        report: &mut ChainReport,
    ) -> Result<Option<Broken>> {
        let broken = |position: i64, entry_id: Option<String>, what: String| Broken {
            log: log.to_string(),
            file: self.file.to_string(),
            position: position.max(0) as u64,
            entry_id,
            what,
        };
        let ts = |m: i64| Timestamp::from_microsecond(m).unwrap_or(Timestamp::UNIX_EPOCH);
        let last: (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM audit_chain WHERE log = $1")
            .bind(log.to_string())
            .fetch_one(&self.pool)
            .await?;
        let mut status = LogStatus {
            log: log.to_string(),
            file: self.file.to_string(),
            sealed: last.0.max(0) as u64,
            checked: 0,
            began: None,
            checkpoint: None,
        };
        type Cp = (i64, String, String, i64, String, String, String);
        let cps: Vec<Cp> = sqlx::query_as(
            "SELECT seq, entry_id, hash, made_at, key_id, note, mac FROM audit_checkpoint WHERE log = $1 ORDER BY seq",
        )
        .bind(log.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut first_broken = None;
        let mut valid: Vec<&Cp> = Vec::new();
        for cp in &cps {
            let (seq, entry, hash, made_at, key_id, note, mac) = cp;
            if checkpoint_mac(key, log, *seq, entry, hash, *made_at, note) != *mac {
                let what = if key_id != key.id() {
                    format!(
                        "the checkpoint of {} was signed with another key (key id {key_id}; the key given is {}): \
                         verify with the practice's audit key",
                        ts(*made_at).strftime("%Y-%m-%d %H:%M:%S UTC"),
                        key.id()
                    )
                } else {
                    format!(
                        "the checkpoint of {} at this entry fails its signature: it was changed or forged",
                        ts(*made_at).strftime("%Y-%m-%d %H:%M:%S UTC")
                    )
                };
                first_broken.get_or_insert(broken(*seq, Some(entry.clone()), what));
                continue;
            }
            if note == "began" {
                status.began = Some((*seq as u64, ts(*made_at)));
            }
            status.checkpoint = Some((*seq as u64, ts(*made_at)));
            valid.push(cp);
        }
        if let Some(b) = first_broken {
            report.logs.push(status);
            return Ok(Some(b));
        }
        // Tail truncation: a checkpoint past the chain's end.
        if let Some(cp) = valid.iter().find(|cp| cp.0 > last.0) {
            report.logs.push(status);
            return Ok(Some(broken(
                last.0 + 1,
                None,
                format!(
                    "the chain ends at entry {} but the checkpoint of {} covers {} entries: entries {}..{} were \
                     removed, with their links",
                    last.0,
                    ts(cp.3).strftime("%Y-%m-%d %H:%M:%S UTC"),
                    cp.0,
                    last.0 + 1,
                    cp.0
                ),
            )));
        }
        let (mut seq, mut prev) = (0i64, [0u8; 32]);
        if !full && let Some(cp) = valid.last() {
            let at: Option<(String, String)> =
                sqlx::query_as("SELECT entry_id, hash FROM audit_chain WHERE log = $1 AND seq = $2")
                    .bind(log.to_string())
                    .bind(cp.0)
                    .fetch_optional(&self.pool)
                    .await?;
            if at.as_ref() != Some(&(cp.1.clone(), cp.2.clone())) {
                report.logs.push(status);
                return Ok(Some(broken(
                    cp.0,
                    Some(cp.1.clone()),
                    "the chain's link differs from the checkpoint made at this entry: the chain was rewritten".into(),
                )));
            }
            seq = cp.0;
            prev = unhex(&cp.2).and_then(|b| <[u8; 32]>::try_from(b).ok()).unwrap_or([0u8; 32]);
        }
        let start = seq;
        let mut cp_at = valid.iter().filter(move |cp| cp.0 > start).peekable();
        let mut buf = Vec::with_capacity(512);
        let sql = format!(
            "SELECT c.seq AS c_seq, c.entry_id AS c_entry, c.hash AS c_hash, {} FROM audit_chain c \
             LEFT JOIN audit_log a ON a.id = c.entry_id WHERE c.log = $1 AND c.seq > $2 ORDER BY c.seq LIMIT $3",
            prefixed("a")
        );
        loop {
            let rows = sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(log.to_string())
                .bind(seq)
                .bind(PAGE)
                .fetch_all(&self.pool)
                .await?;
            let n = rows.len() as i64;
            for r in rows {
                let (c_seq, c_entry, c_hash): (i64, String, String) =
                    (r.try_get("c_seq")?, r.try_get("c_entry")?, r.try_get("c_hash")?);
                if c_seq != seq + 1 {
                    report.logs.push(status);
                    return Ok(Some(broken(
                        seq + 1,
                        None,
                        format!(
                            "links {}..{} of the chain are missing: entries were removed, with their links",
                            seq + 1,
                            c_seq - 1
                        ),
                    )));
                }
                let present: Option<String> = r.try_get("id")?;
                if present.is_none() {
                    report.logs.push(status);
                    return Ok(Some(broken(c_seq, Some(c_entry), "the entry is missing: it was deleted".into())));
                }
                let raw = raw_of(&r)?;
                prev = link(key, &prev, &raw, &mut buf);
                if hex(&prev) != c_hash {
                    report.logs.push(status);
                    return Ok(Some(broken(
                        c_seq,
                        Some(c_entry),
                        "the entry is not as it was sealed: it was edited, or entries before it were removed or \
                         moved"
                            .into(),
                    )));
                }
                while let Some(cp) = cp_at.next_if(|cp| cp.0 <= c_seq) {
                    if cp.0 == c_seq && (cp.1 != c_entry || cp.2 != c_hash) {
                        report.logs.push(status);
                        return Ok(Some(broken(
                            c_seq,
                            Some(c_entry),
                            "the chain's link differs from the checkpoint made at this entry: the chain was rewritten"
                                .into(),
                        )));
                    }
                }
                seq = c_seq;
                status.checked += 1;
            }
            if n < PAGE {
                break;
            }
        }
        report.logs.push(status);
        Ok(None)
    }
}

/// The log's columns, each as `t.column`.
fn prefixed(t: &str) -> String {
    COLUMNS.split(',').map(|c| format!("{t}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

/// The key file beside a SQLite database when none is given.
pub(crate) fn default_key_path(db: &Path) -> std::path::PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".audit-key");
    std::path::PathBuf::from(p)
}

/// The key a store chains with: from `file` (made there if missing while
/// no chain exists yet), else beside a SQLite file (`<db>.audit-key`), else
/// (PostgreSQL) kept in the database itself.
pub(crate) async fn resolve_key(file: Option<&Path>, sqlite: Option<&Path>, dbs: &[ChainDb]) -> Result<AuditKey> {
    let default = sqlite.map(default_key_path);
    if let Some(path) = file.map(Path::to_path_buf).or(default) {
        if let Some(key) = AuditKey::read_file(&path)? {
            return Ok(key);
        }
        for db in dbs {
            if db.has_chain().await? {
                return Err(StoreError::Config(format!(
                    "the audit key file {} is missing, but the audit log was chained with a key: give the \
                     practice's key file with --audit-key-file (or KAIROS_AUDIT_KEY_FILE)",
                    path.display()
                )));
            }
        }
        tracing::info!(file = %path.display(), "made the audit log's chain key");
        return AuditKey::create_file(&path);
    }
    let Some(db) = dbs.first() else { return Err(StoreError::Config("no database for the audit key".into())) };
    let fresh = hex(&random_key());
    sqlx::query("INSERT INTO audit_chain_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
        .bind(fresh)
        .execute(&db.pool)
        .await?;
    let (stored,): (String,) =
        sqlx::query_as("SELECT key FROM audit_chain_key WHERE id = 1").fetch_one(&db.pool).await?;
    tracing::warn!(
        "the audit log's chain key is kept in the database itself: give --audit-key-file (KAIROS_AUDIT_KEY_FILE) \
         for tamper evidence against someone with access to the database"
    );
    let bytes = unhex(&stored)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| StoreError::Corrupt("the stored audit chain key is not 64 hex digits".into()))?;
    Ok(AuditKey::from_bytes(bytes))
}

/// The store's chains, their sealer and the latest verification.
pub(crate) struct Chain {
    key: AuditKey,
    dbs: tokio::sync::Mutex<Vec<ChainDb>>,
    last: std::sync::Mutex<Option<ChainReport>>,
    stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Chain {
    pub(crate) fn new(key: AuditKey, dbs: Vec<ChainDb>) -> Arc<Chain> {
        Arc::new(Chain {
            key,
            dbs: tokio::sync::Mutex::new(dbs),
            last: std::sync::Mutex::new(None),
            stop: std::sync::Mutex::new(None),
            task: std::sync::Mutex::new(None),
        })
    }

    /// The key that seals one-time links in queued e-mail
    /// (`sealed_links.rs`), derived from the chain's key.
    pub(crate) fn link_key(&self) -> [u8; 32] {
        self.key.mac(&[b"kairos outbox link seal v1"])
    }

    /// Starts the sealer: every [`EVERY`] until [`Chain::shutdown`].
    pub(crate) fn start(self: &Arc<Chain>) {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let chain = Arc::clone(self);
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = chain.seal(false).await {
                    tracing::error!(error = %e, "sealing the audit log failed; tried again later");
                }
                tokio::select! {
                    _ = tokio::time::sleep(EVERY) => {}
                    _ = &mut stopped => break,
                }
            }
        });
        if let Ok(mut s) = self.stop.lock() {
            *s = Some(stop);
        }
        if let Ok(mut t) = self.task.lock() {
            *t = Some(task);
        }
    }

    pub(crate) async fn seal(&self, force_checkpoint: bool) -> Result<u64> {
        let mut dbs = self.dbs.lock().await;
        let mut n = 0;
        for db in dbs.iter_mut() {
            n += db.seal(&self.key, force_checkpoint).await?;
        }
        Ok(n)
    }

    pub(crate) async fn verify(&self, full: bool) -> Result<ChainReport> {
        let dbs = self.dbs.lock().await;
        let mut report = ChainReport {
            at: Timestamp::now(),
            full,
            key_id: self.key.id().to_string(),
            logs: Vec::new(),
            unsealed: 0,
            broken: None,
        };
        for db in dbs.iter() {
            db.verify(&self.key, full, &mut report).await?;
        }
        drop(dbs);
        if let Some(b) = &report.broken {
            tracing::error!(first_broken = %b, "the audit log's chain is broken");
        }
        if let Ok(mut last) = self.last.lock() {
            *last = Some(report.clone());
        }
        Ok(report)
    }

    pub(crate) fn last(&self) -> Option<ChainReport> {
        self.last.lock().ok().and_then(|l| l.clone())
    }

    /// Stops the sealer, seals what is left and makes a checkpoint.
    pub(crate) async fn shutdown(&self) {
        if let Ok(mut s) = self.stop.lock()
            && let Some(s) = s.take()
        {
            let _ = s.send(());
        }
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            let _ = t.await;
        }
        if let Err(e) = self.seal(true).await {
            tracing::error!(error = %e, "sealing the audit log at shutdown failed");
        }
        for db in self.dbs.lock().await.iter() {
            if db.file != "database" {
                db.pool.close().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // Test case 2 uses a short key; ours are 32 bytes, so case 1's
        // 20-byte key padded with zeros is the same key to HMAC.
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        let k = AuditKey::from_bytes(key);
        assert_eq!(
            hex(&k.mac(&[b"Hi ", b"There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn the_key_is_not_printed() {
        let k = AuditKey::from_bytes([7u8; 32]);
        let shown = format!("{k:?}");
        assert!(!shown.contains("0707"), "{shown}");
    }
}
