use kairos_domain::DomainError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The record named in the request path does not exist.
    #[error("no {record} with id {id}")]
    NotFound { record: &'static str, id: String },
    /// A field of the input refers to a record that does not exist.
    #[error("{field}: no {record} with id {id}")]
    UnknownReference { field: &'static str, record: &'static str, id: String },
    /// The change would duplicate or collide with an existing record.
    #[error("{field}: {detail}")]
    Conflict { field: &'static str, detail: String },
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A clinical rule refused the command (decided over the snapshot
    /// loaded in the transaction); nothing was written.
    #[error(transparent)]
    Refused(#[from] kairos_domain::Refusal),
    #[error("configuration: {0}")]
    Config(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// The audit log could not be written; the operation did not happen.
    #[error("the audit log is unavailable: {0}")]
    AuditUnavailable(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The direct SQLite read path (see `direct.rs`).
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// The database cannot be reached or has no room right now (pool
    /// exhausted or closed, connection lost, disk full): nothing was
    /// written, and the same request may succeed in a moment.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => match e {
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
                sqlx::Error::Database(d) => {
                    // SQLite: SQLITE_FULL (13), SQLITE_BUSY (5), SQLITE_IOERR (10);
                    // PostgreSQL: class 08 (connection), 53 (resources), 57P (shutdown).
                    let code = d.code().unwrap_or_default();
                    matches!(code.as_ref(), "13" | "5" | "10")
                        || code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("57P")
                        || d.message().contains("database or disk is full")
                }
                _ => false,
            },
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::SystemIoFailure
                )
            ),
            _ => false,
        }
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(what.to_string())
    }

    /// Maps a unique-constraint violation to a conflict on `field`.
    pub(crate) fn unique(err: sqlx::Error, field: &'static str, detail: &str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict { field, detail: detail.to_string() }
            }
            _ => StoreError::Database(err),
        }
    }
}
