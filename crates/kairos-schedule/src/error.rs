//! The crate's one error type.

/// Errors from parsing or validating a problem, plan or change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The JSON does not match the format; `path` names the field (e.g. `courses[2].doses.count`).
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    /// The JSON parses but a value is invalid (unknown reference, bad range).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid { field: field.into(), message: message.into() }
    }
}
