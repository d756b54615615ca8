use thiserror::Error;

/// Why the domain refused an input or a change. Every variant names the field
/// so that the API can tell the user exactly what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{field}: cannot change from `{from}` to `{to}`; allowed from `{from}`: {allowed}")]
    IllegalTransition { field: &'static str, from: String, to: String, allowed: String },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        DomainError::Invalid { field: field.into(), reason: reason.into() }
    }

    /// The input field this error is about.
    pub fn field(&self) -> &str {
        match self {
            DomainError::Invalid { field, .. } => field,
            DomainError::IllegalTransition { field, .. } => field,
        }
    }

    /// What is wrong, without the field.
    pub fn reason(&self) -> String {
        match self {
            DomainError::Invalid { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}
