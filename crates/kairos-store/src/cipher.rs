//! Encryption at rest for a SQLite practice.
//!
//! The SQLite this binary links is SQLCipher (libsqlite3-sys's
//! `bundled-sqlcipher`, with OpenSSL's crypto built in): every page of a
//! keyed database file is encrypted with AES-256 and authenticated with
//! HMAC-SHA512, so the database file, its write-ahead log, the read-audit
//! file, the index of reads and every `kairos backup` of them are unreadable
//! without the key. Opened without a key it is ordinary SQLite, so a practice
//! that does not use encryption is unchanged.
//!
//! The key is 256 random bits, given as 64 hexadecimal digits in a file
//! readable by its owner only (`--db-key-file`, made by `kairos db-key new`),
//! and handed to SQLCipher as a raw key (`PRAGMA key = "x'…'"`): no
//! passphrase, so no key-derivation cost on each of the many connections a
//! server opens. The key never goes into the database, a log or the process
//! list. One key opens a practice's files and its backups; `kairos encrypt`
//! encrypts a plain practice, or moves an encrypted one to a new key.
//!
//! [`SqliteFile`] is a practice's file with the key that opens it (or none);
//! every connection this crate opens to a practice's files goes through it,
//! with the key set before anything is read.

use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The first 16 bytes of every plain SQLite file. An encrypted file begins
/// with its random salt instead.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// A practice's database key: 256 bits. Cheap to clone; never printed.
#[derive(Clone)]
pub struct DbKey {
    /// The 64 lower-case hexadecimal digits.
    hex: Arc<SecretString>,
}

impl fmt::Debug for DbKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DbKey([redacted])")
    }
}

impl DbKey {
    /// A new random key.
    pub fn generate() -> DbKey {
        DbKey::from_bytes(&crate::chain::random_key())
    }

    fn from_bytes(bytes: &[u8; 32]) -> DbKey {
        DbKey { hex: Arc::new(SecretString::from(crate::chain::hex(bytes))) }
    }

    /// Reads a key given as text (64 hexadecimal digits, surrounding
    /// whitespace ignored); `source` names where it came from in a refusal.
    pub fn parse(text: &str, source: &str) -> Result<DbKey> {
        let bytes = crate::chain::unhex(text.trim()).and_then(|b| <[u8; 32]>::try_from(b).ok()).ok_or_else(|| {
            StoreError::Config(format!(
                "{source} is not a database key (64 hexadecimal digits; `kairos db-key new FILE` makes one)"
            ))
        })?;
        Ok(DbKey::from_bytes(&bytes))
    }

    /// Reads a key file. It must be readable by its owner only (on Unix): a
    /// key others can read protects nothing.
    pub fn read_file(path: &Path) -> Result<DbKey> {
        let shown = path.display();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path)
                .map_err(|e| StoreError::Config(format!("cannot read the database key file {shown}: {e}")))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(StoreError::Config(format!(
                    "the database key file {shown} can be read by others (mode {:o}); make it the owner's only \
                     with `chmod 600 {shown}`",
                    meta.permissions().mode() & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| StoreError::Config(format!("cannot read the database key file {shown}: {e}")))?;
        DbKey::parse(&text, &format!("the database key file {shown}"))
    }

    /// Writes this key to a new file (never over an existing one),
    /// readable by its owner only, and makes it durable.
    pub fn write_new_file(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let fail = |e: std::io::Error| {
            StoreError::Config(format!("cannot make the database key file {}: {e}", path.display()))
        };
        let mut f = private_options().open(path).map_err(fail)?;
        f.write_all(format!("{}\n", self.hex.expose_secret()).as_bytes()).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        Ok(())
    }

    /// The key in SQLCipher's raw-key form (no passphrase derivation).
    fn raw(&self) -> String {
        format!("x'{}'", self.hex.expose_secret())
    }

    /// The SQL that gives SQLCipher this key.
    fn pragma(&self) -> String {
        format!("PRAGMA key = \"{}\";", self.raw())
    }
}

/// File options for a new file readable and writable by its owner only.
pub(crate) fn private_options() -> std::fs::OpenOptions {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// Makes `path` an empty file readable by its owner only, if there is no
/// file there. SQLite gives a database's `-wal`, `-shm` and `-journal` the
/// mode of the database file, so a practice made this way is its owner's
/// only throughout.
pub(crate) fn create_private(path: &Path) -> Result<()> {
    match private_options().open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Config(format!("cannot make {}: {e}", path.display()))),
    }
}

/// One of a practice's SQLite files and the key that opens it (none: a plain
/// file). The files beside it ([`SqliteFile::sibling`]) and its backups use
/// the same key.
#[derive(Clone, Debug)]
pub struct SqliteFile {
    path: PathBuf,
    key: Option<DbKey>,
}

impl SqliteFile {
    pub fn new(path: impl Into<PathBuf>, key: Option<DbKey>) -> SqliteFile {
        SqliteFile { path: path.into(), key }
    }

    /// A plain (unencrypted) file.
    pub fn plain(path: impl Into<PathBuf>) -> SqliteFile {
        SqliteFile::new(path, None)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn key(&self) -> Option<&DbKey> {
        self.key.as_ref()
    }

    /// The file named like this one with `suffix` added, with the same key.
    pub fn sibling(&self, suffix: &str) -> SqliteFile {
        let mut p = self.path.as_os_str().to_owned();
        p.push(suffix);
        SqliteFile { path: PathBuf::from(p), key: self.key.clone() }
    }

    /// This file under another key.
    pub fn with_key(&self, key: DbKey) -> SqliteFile {
        SqliteFile { path: self.path.clone(), key: Some(key) }
    }

    /// Another file (a backup, a copy) under the same key.
    pub fn at(&self, path: impl Into<PathBuf>) -> SqliteFile {
        SqliteFile { path: path.into(), key: self.key.clone() }
    }

    /// Opens the file, giving SQLCipher the key before anything is read. (A
    /// key that does not open it fails at the first read, as "not a
    /// database": [`SqliteFile::check_key`] tells the cases apart, and runs
    /// before a practice is opened.)
    pub fn open(&self, flags: OpenFlags) -> Result<Connection> {
        let conn = Connection::open_with_flags(&self.path, flags)?;
        if let Some(key) = &self.key {
            // SQLCipher's own log would print each failed page check to
            // standard error; a refusal here says what is wrong instead.
            conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
            conn.execute_batch(&key.pragma())?;
        }
        Ok(conn)
    }

    /// Attaches `path`, a file of the same practice, to `conn` as `schema`,
    /// under this file's key. (SQLCipher would otherwise not open it: an
    /// attached file is not given a raw key's main file's key.) `path` may
    /// be a `file:` URI where `conn` was opened with `SQLITE_OPEN_URI`.
    pub(crate) fn attach(&self, conn: &Connection, path: &str, schema: &str) -> Result<()> {
        match &self.key {
            Some(key) => conn.execute(&format!("ATTACH DATABASE ?1 AS {schema} KEY ?2"), [path, &key.raw()])?,
            None => conn.execute(&format!("ATTACH DATABASE ?1 AS {schema}"), [path])?,
        };
        Ok(())
    }

    /// Opens the file read-write (never creating it), without a mutex.
    pub fn open_rw(&self) -> Result<Connection> {
        self.open(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
    }

    /// Opens the file read-only, without a mutex.
    pub fn open_ro(&self) -> Result<Connection> {
        self.open(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
    }

    /// The statement that keys a new connection (sqlx's), if there is a key.
    pub(crate) fn key_statement(&self) -> Option<String> {
        self.key.as_ref().map(|k| k.pragma())
    }

    /// Whether the file begins as a plain SQLite file does (`None`: missing
    /// or shorter than a header, as a new empty file is).
    pub fn is_plain(&self) -> Option<bool> {
        use std::io::Read;
        let mut head = [0u8; 16];
        let mut f = std::fs::File::open(&self.path).ok()?;
        f.read_exact(&mut head).ok()?;
        Some(&head == PLAIN_HEADER)
    }

    /// Refuses a file that its key (or lack of one) cannot open, saying
    /// which: a plain file given a key, an encrypted file given none, or a
    /// key that is not this file's. Missing and empty files pass.
    pub fn check_key(&self) -> Result<()> {
        match (self.is_plain(), &self.key) {
            (None, _) => Ok(()),
            (Some(true), None) => Ok(()),
            (Some(true), Some(_)) => Err(StoreError::Config(format!(
                "{} is not encrypted, but a database key was given: start without the key, or encrypt the \
                 practice first with `kairos encrypt`",
                self.path.display()
            ))),
            (Some(false), None) => Err(StoreError::Config(format!(
                "{} is encrypted (or is not a SQLite file): give its key with --db-key-file \
                 (or KAIROS_DB_KEY_FILE)",
                self.path.display()
            ))),
            (Some(false), Some(_)) => {
                let conn = self.open_ro()?;
                conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
                match conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(())) {
                    Ok(()) => Ok(()),
                    Err(e) => Err(self.refusal(&e).unwrap_or_else(|| e.into())),
                }
            }
        }
    }

    /// The refusal for an error that means the key does not open the file.
    fn refusal(&self, e: &rusqlite::Error) -> Option<StoreError> {
        (e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase)).then(|| {
            StoreError::Config(format!(
                "the database key given does not open {} (a different key, or the file is damaged)",
                self.path.display()
            ))
        })
    }
}

/// Writes a copy of `from` (plain, or under its own key) to the new file
/// `to`, encrypted under `key` (SQLCipher's `sqlcipher_export`, with the
/// header's `user_version`, which it does not carry), durable on return.
/// `from`'s write-ahead log is folded into it first.
pub fn export_encrypted(from: &SqliteFile, to: &Path, key: &DbKey) -> Result<()> {
    create_private(to)?;
    let conn = from.open_rw()?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let to_text = to.to_str().ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", to.display())))?;
    conn.execute("ATTACH DATABASE ?1 AS encrypted KEY ?2", rusqlite::params![to_text, key.raw()])?;
    conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
    let version: i64 = conn.query_row("PRAGMA main.user_version", [], |r| r.get(0))?;
    conn.execute_batch(&format!("PRAGMA encrypted.user_version = {version}; DETACH DATABASE encrypted;"))?;
    drop(conn);
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::Config(format!("cannot make {} durable: {e}", to.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("kairos-cipher-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    fn make(file: &SqliteFile) {
        create_private(file.path()).expect("create");
        let conn = file.open_rw().expect("open");
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('Ada Quill');")
            .expect("write");
    }

    #[test]
    fn a_keyed_file_holds_no_plain_text_and_opens_only_with_its_key() {
        let d = dir();
        let file = SqliteFile::new(d.join("p.db"), Some(DbKey::generate()));
        make(&file);
        let bytes = std::fs::read(file.path()).expect("read");
        let wal = std::fs::read(file.sibling("-wal").path()).unwrap_or_default();
        for b in [&bytes, &wal] {
            assert!(!b.windows(9).any(|w| w == b"Ada Quill"), "no plain text on disk");
            assert!(!b.starts_with(PLAIN_HEADER));
        }
        assert_eq!(file.is_plain(), Some(false));
        let x: String = file.open_ro().expect("open").query_row("SELECT x FROM t", [], |r| r.get(0)).expect("read");
        assert_eq!(x, "Ada Quill");
        // Without the key, or with another, it is refused, saying which.
        let e = SqliteFile::plain(file.path()).check_key().expect_err("no key");
        assert!(e.to_string().contains("is encrypted"), "{e}");
        let e = file.at(file.path()).clone();
        let other = SqliteFile::new(e.path(), Some(DbKey::generate()));
        let e = other.check_key().expect_err("wrong key");
        assert!(e.to_string().contains("does not open"), "{e}");
        // A plain file given a key is refused, too.
        let plain = SqliteFile::plain(d.join("plain.db"));
        make(&plain);
        let e = SqliteFile::new(plain.path(), Some(DbKey::generate())).check_key().expect_err("plain");
        assert!(e.to_string().contains("is not encrypted"), "{e}");
        assert!(plain.check_key().is_ok());
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_plain_file_is_exported_encrypted_and_a_keyed_one_under_a_new_key() {
        let d = dir();
        let plain = SqliteFile::plain(d.join("p.db"));
        make(&plain);
        let key = DbKey::generate();
        let enc = SqliteFile::new(d.join("e.db"), Some(key.clone()));
        plain.open_rw().expect("open").pragma_update(None, "user_version", 3).expect("version");
        export_encrypted(&plain, enc.path(), &key).expect("export");
        assert_eq!(enc.is_plain(), Some(false));
        let conn = enc.open_ro().expect("open");
        let n: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("n");
        assert_eq!(n, 1);
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
        assert_eq!(version, 3, "the header's user_version comes along");
        // A keyed file exported under a new key: the new key opens the copy.
        let new = DbKey::generate();
        let moved = SqliteFile::new(d.join("n.db"), Some(new));
        export_encrypted(&enc, moved.path(), moved.key().expect("key")).expect("rekey");
        assert!(enc.at(moved.path()).check_key().is_err(), "the old key does not open the copy");
        let x: String = moved.open_ro().expect("open").query_row("SELECT x FROM t", [], |r| r.get(0)).expect("x");
        assert_eq!(x, "Ada Quill");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_key_is_64_hex_digits_in_a_file_only_its_owner_reads() {
        assert!(DbKey::parse("abc", "the key").is_err());
        assert!(DbKey::parse(&"g".repeat(64), "the key").is_err());
        assert!(DbKey::parse(&format!("{}\n", "a1".repeat(32)), "the key").is_ok());
        let key = DbKey::generate();
        assert_eq!(format!("{key:?}"), "DbKey([redacted])");
        let d = dir();
        let path = d.join("db.key");
        key.write_new_file(&path).expect("write");
        assert!(key.write_new_file(&path).is_err(), "never over an existing key");
        assert!(DbKey::read_file(&path).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let e = DbKey::read_file(&path).expect_err("readable by others");
            assert!(e.to_string().contains("chmod 600"), "{e}");
        }
        let _ = std::fs::remove_dir_all(d);
    }
}
