//! A SQLite practice as files on disk: the lock a server holds on it, the
//! integrity check before it is served, and putting a backup back in its
//! place.
//!
//! A practice is the database file and the files beside it: its write-ahead
//! log and index (`-wal`, `-shm`), the read-audit file (`.read-audit`, part
//! of the record) and the derived per-client index of reads
//! (`.audit-index`), each with its own `-wal` and `-shm` (`audit_reads.rs`).

use crate::cipher::SqliteFile;
use crate::{Result, StoreError, audit_reads};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// The lock file beside `db` that a serving process holds.
pub fn lock_path(db: &Path) -> PathBuf {
    sibling(db, ".lock")
}

/// The files beside a database that belong to it, by suffix: its own
/// write-ahead log, the read-audit file and the index of reads, with theirs.
pub const SIDE_FILES: [&str; 9] = [
    "-wal",
    "-shm",
    "-journal",
    ".read-audit",
    ".read-audit-wal",
    ".read-audit-shm",
    ".audit-index",
    ".audit-index-wal",
    ".audit-index-shm",
];

/// An exclusive hold on a SQLite practice: one serving process (or one
/// restore) at a time. An advisory lock on `<database>.lock`, which the
/// operating system lets go of when the process ends however it ends, so a
/// crash never leaves a practice locked. The file keeps the holder's process
/// id, to name it in a refusal.
#[derive(Debug)]
pub struct PracticeLock {
    file: std::fs::File,
    path: PathBuf,
}

impl PracticeLock {
    /// Takes the lock of the practice at `db`, or says who holds it.
    pub fn acquire(db: &Path) -> Result<PracticeLock> {
        let path = lock_path(db);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::Config(format!("cannot open the lock file {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let by = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
                return Err(StoreError::Config(format!(
                    "{} is in use by another Kairos process{by}, which holds {}; stop it first",
                    db.display(),
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::Config(format!("cannot lock {}: {e}", path.display())));
            }
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());
        let _ = file.sync_data();
        Ok(PracticeLock { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PracticeLock {
    fn drop(&mut self) {
        // The file stays (removing it would race a process about to lock it);
        // only the lock goes.
        let _ = self.file.unlock();
    }
}

/// How thoroughly [`check`] reads a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// SQLite's `quick_check`: every page's structure, in a single pass.
    Quick,
    /// SQLite's `integrity_check`: also that every index matches its table.
    Full,
}

impl Check {
    fn pragma(self) -> &'static str {
        match self {
            Check::Quick => "quick_check",
            Check::Full => "integrity_check",
        }
    }
}

/// At most this many of SQLite's findings are quoted in a refusal.
const FINDINGS_QUOTED: usize = 5;

/// Whether an error from SQLite says the file itself is damaged or not a
/// database (rather than busy, missing or unreadable).
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase))
}

/// Runs `check` on one SQLite file: `Ok(None)` when it answers `ok`, else
/// SQLite's findings (or the damage error it stopped on).
fn findings(file: &SqliteFile, check: Check) -> Result<Option<String>> {
    let run = || -> Result<Vec<String>> {
        // Read-write (never create): a reader of a file in WAL mode may need
        // to rebuild the log's index; nothing is written to the database.
        let conn = file.open_rw()?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mut stmt = conn.prepare(&format!("PRAGMA {}({FINDINGS_QUOTED})", check.pragma()))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    };
    match run() {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Ok(None),
        Ok(rows) => Ok(Some(rows.join("; "))),
        Err(StoreError::Sqlite(e)) if is_damage(&e) => Ok(Some(e.to_string())),
        Err(e) => Err(e),
    }
}

/// The refusal of a damaged `file` of the practice at `db`.
fn damaged(db: &Path, file: &Path, check: Check, what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "{} is damaged ({} found: {what}); it was not opened. Restore the latest backup with \
         `kairos restore --from BACKUP --db {}`",
        file.display(),
        check.pragma(),
        db.display()
    ))
}

/// Checks the files of the practice at `db` that exist and are not empty:
/// the database file and its read-audit file must pass SQLite's check. A
/// damaged or truncated file is refused with what is wrong and what to do.
/// (`Store::connect` runs this before it opens a file.)
pub fn verify(db: &SqliteFile, check: Check) -> Result<()> {
    // A database its key does not open is refused as such, never as
    // damage (the files beside it share its key).
    if db.path().metadata().is_ok_and(|m| m.len() > 0) {
        db.check_key()?;
    }
    for file in [db.clone(), db.sibling(".read-audit")] {
        if file.path().metadata().is_ok_and(|m| m.is_file() && m.len() > 0)
            && let Some(what) = findings(&file, check)?
        {
            return Err(damaged(db.path(), file.path(), check, &what));
        }
    }
    Ok(())
}

/// Checks the practice at `db` before it is served or restored: the file
/// exists, passes [`verify`] (unless `check` is `None`), and holds a
/// practice (its clients and audit log).
pub fn check(db: &SqliteFile, check: impl Into<Option<Check>>) -> Result<()> {
    if !db.path().is_file() {
        return Err(StoreError::Config(format!("there is no database file at {}", db.path().display())));
    }
    db.check_key()?;
    let check = check.into();
    if let Some(check) = check {
        verify(db, check)?;
    }
    let check = check.unwrap_or(Check::Quick);
    let conn = db.open_ro()?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('clients', 'audit_log')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| if is_damage(&e) { damaged(db.path(), db.path(), check, &e.to_string()) } else { e.into() })?;
    if tables != 2 {
        return Err(StoreError::Corrupt(format!(
            "{} is a SQLite file but holds no Kairos practice (no clients or audit log); \
             `kairos init --db PATH` makes a new practice",
            db.path().display()
        )));
    }
    Ok(())
}

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Clients in the restored practice.
    pub clients: i64,
    /// Where the files the restore replaced were moved (never deleted), if
    /// there were any.
    pub set_aside: Option<PathBuf>,
    /// The files moved there, by name.
    pub moved: Vec<String>,
    /// Read entries of the replaced read-audit file made after the backup,
    /// copied into the restored audit log.
    pub later_reads_kept: u64,
    /// Why they could not be copied, if they could not (the restore itself
    /// is done; they stay in the set-aside file).
    pub later_reads_error: Option<String>,
}

/// Puts the backup `from` (a file `kairos backup` wrote) in place of the
/// practice at `db`:
///
/// 1. refuses while a server holds the practice ([`PracticeLock`]; the lock
///    is held until the restore is done, so none starts meanwhile), and a
///    `from` with a write-ahead log of its own (a live database, not a
///    backup);
/// 2. checks the backup, copies it beside `db` under a temporary name,
///    makes it durable and checks the copy;
/// 3. moves the database and every file beside it (its `-wal` and `-shm`,
///    whose stale log would otherwise be replayed into the restored file,
///    the read-audit file and the index of reads) into a folder
///    `<database>.replaced-<unix time>`, never deleting them (they may hold
///    records made after the backup);
/// 4. renames the copy into place, copies into its audit log the reads of
///    the replaced read-audit file made after the backup (when that file is
///    the one the backup folded in), and checks the result.
///
/// Nothing is half-done: a failure before step 3 leaves `db` as it was; a
/// failure while moving puts back what was moved.
pub fn restore(from: &Path, db: &SqliteFile) -> Result<Restored> {
    let backup = db.at(from);
    let db_file = db;
    let db = db.path();
    if !from.is_file() {
        return Err(StoreError::Config(format!("there is no backup file at {}", from.display())));
    }
    if let (Ok(a), Ok(b)) = (from.canonicalize(), db.canonicalize())
        && a == b
    {
        return Err(StoreError::Config(format!("{} is the database itself, not a backup of it", from.display())));
    }
    let from_wal = sibling(from, "-wal");
    if from_wal.metadata().is_ok_and(|m| m.len() > 0) {
        return Err(StoreError::Config(format!(
            "{} has a write-ahead log beside it ({}): it is a live database, not a finished backup; \
             make one with `kairos backup`",
            from.display(),
            from_wal.display()
        )));
    }
    let lock = PracticeLock::acquire(db)?;
    check(&backup, Check::Quick).map_err(|e| StoreError::Config(format!("the backup does not check out: {e}")))?;

    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = db.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "kairos.db".into());
    let partial = dir.join(format!(".{name}.restoring-{}", uuid::Uuid::now_v7().simple()));
    let remove_partial = || {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(sibling(&partial, suffix));
        }
    };
    let copied = copy_durably(from, &partial).and_then(|()| check(&db_file.at(&partial), Check::Quick));
    if let Err(e) = copied {
        remove_partial();
        return Err(StoreError::Config(format!("the copy of {} did not check out: {e}", from.display())));
    }

    let present: Vec<String> = std::iter::once("")
        .chain(SIDE_FILES)
        .filter(|s| sibling(db, s).exists())
        .map(|s| format!("{name}{s}"))
        .collect();
    let set_aside = if present.is_empty() {
        None
    } else {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let aside = dir.join(format!("{name}.replaced-{now}"));
        if let Err(e) = std::fs::create_dir(&aside) {
            remove_partial();
            return Err(StoreError::Config(format!("cannot make {}: {e}", aside.display())));
        }
        for (i, file) in present.iter().enumerate() {
            if let Err(e) = std::fs::rename(dir.join(file), aside.join(file)) {
                put_back(&dir, &aside, &present[..i]);
                remove_partial();
                return Err(StoreError::Config(format!("cannot move {file} aside into {}: {e}", aside.display())));
            }
        }
        Some(aside)
    };
    if let Err(e) = std::fs::rename(&partial, db) {
        if let Some(aside) = &set_aside {
            put_back(&dir, aside, &present);
        }
        remove_partial();
        return Err(StoreError::Config(format!("cannot put the restored copy in place at {}: {e}", db.display())));
    }
    sync_dir(&dir);
    // The reads recorded after the backup was taken happened: the audit log
    // keeps them, though the records they read may be older now.
    let old_log = set_aside.as_ref().map(|a| a.join(format!("{name}.read-audit"))).filter(|p| p.is_file());
    let kept = match (&set_aside, &old_log) {
        (Some(aside), Some(old_log)) => {
            audit_reads::keep_later_reads(db_file, &aside.join(&name), old_log, crate::audit::COLUMNS)
        }
        _ => Ok(0),
    };
    let (later_reads_kept, later_reads_error) = match kept {
        Ok(n) => (n, None),
        Err(e) => {
            let shown = old_log.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            (0, Some(format!("the reads made after the backup stay in {shown}: {e}")))
        }
    };
    check(db_file, Check::Quick)?;
    let conn = db_file.open_ro()?;
    let clients: i64 = conn.query_row("SELECT count(*) FROM clients", [], |r| r.get(0))?;
    drop(conn);
    drop(lock);
    Ok(Restored { clients, set_aside, moved: present, later_reads_kept, later_reads_error })
}

/// Encrypts the practice at `db` (plain, or under `db`'s key) under `new`,
/// with no server using it (the practice's lock is held throughout):
///
/// 1. checks the practice (its key opens it, `quick_check`);
/// 2. copies the database file and the read-audit file, each under the new
///    key, beside them under temporary names, durable, and checks each copy
///    (`quick_check`, the same number of audit entries);
/// 3. removes the index of reads (derived; rebuilt at the next start) and
///    each file's emptied write-ahead log, and renames each copy into place.
///
/// A failure before step 3 removes the copies and leaves the practice as it
/// was. Returns the files encrypted, by name.
pub fn encrypt(db: &SqliteFile, new: &crate::cipher::DbKey) -> Result<Vec<String>> {
    let lock = PracticeLock::acquire(db.path())?;
    check(db, Check::Quick)?;
    let dir = match db.path().parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let sources: Vec<SqliteFile> = [db.clone(), db.sibling(".read-audit")]
        .into_iter()
        .filter(|f| f.path().metadata().is_ok_and(|m| m.len() > 0))
        .collect();
    let mut copies: Vec<(SqliteFile, SqliteFile)> = Vec::new();
    let remove_copies = |copies: &[(SqliteFile, SqliteFile)]| {
        for (_, c) in copies {
            let _ = std::fs::remove_file(c.path());
        }
    };
    for src in &sources {
        let name = src.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let copy = SqliteFile::new(
            dir.join(format!(".{name}.encrypting-{}", uuid::Uuid::now_v7().simple())),
            Some(new.clone()),
        );
        copies.push((src.clone(), copy.clone()));
        let made = crate::cipher::export_encrypted(src, copy.path(), new).and_then(|()| {
            let count = |f: &SqliteFile| -> Result<(String, i64)> {
                let c = f.open_ro()?;
                let check: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
                Ok((check, c.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))?))
            };
            let (was, now) = (count(src)?, count(&copy)?);
            if now.0 != "ok" || now.1 != was.1 {
                return Err(StoreError::Corrupt(format!(
                    "the encrypted copy of {} did not check out ({}, {} of {} audit entries)",
                    src.path().display(),
                    now.0,
                    now.1,
                    was.1
                )));
            }
            Ok(())
        });
        if let Err(e) = made {
            remove_copies(&copies);
            return Err(e);
        }
    }
    for suffix in [".audit-index", ".audit-index-wal", ".audit-index-shm"] {
        let _ = std::fs::remove_file(db.sibling(suffix).path());
    }
    let mut done = Vec::new();
    for (src, copy) in &copies {
        // The copy holds everything (the log was folded in before it was
        // made); a stale log beside it would be replayed into it.
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(src.sibling(suffix).path());
        }
        std::fs::rename(copy.path(), src.path()).map_err(|e| {
            StoreError::Config(format!("cannot put the encrypted copy in place at {}: {e}", src.path().display()))
        })?;
        done.push(src.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    }
    sync_dir(&dir);
    check(&db.with_key(new.clone()), Check::Quick)?;
    drop(lock);
    Ok(done)
}

/// Moves `files` back from `aside` into `dir` (a restore that could not
/// finish), and removes `aside` once empty.
fn put_back(dir: &Path, aside: &Path, files: &[String]) {
    for file in files {
        let _ = std::fs::rename(aside.join(file), dir.join(file));
    }
    let _ = std::fs::remove_dir(aside);
}

/// Copies `from` to the new file `to` and makes it durable.
fn copy_durably(from: &Path, to: &Path) -> Result<()> {
    let io = |e: std::io::Error| StoreError::Config(format!("copying {} to {}: {e}", from.display(), to.display()));
    let mut src = std::fs::File::open(from).map_err(io)?;
    let mut dst = std::fs::OpenOptions::new().write(true).create_new(true).open(to).map_err(io)?;
    std::io::copy(&mut src, &mut dst).map_err(io)?;
    dst.sync_all().map_err(io)?;
    Ok(())
}

/// Makes a rename in `dir` durable (where the platform allows).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
