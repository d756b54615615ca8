//! One error type for every handler, rendered as `application/problem+json`
//! (RFC 9457) with the offending field named.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kairos_domain::{DomainError, Refusal, RefusalKind};
use kairos_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{detail}")]
    BadRequest { field: Option<String>, detail: String },
    #[error("{detail}")]
    Unprocessable { field: Option<String>, detail: String },
    #[error("sign-in required")]
    Unauthenticated,
    /// The password was right; a one-time code is missing, wrong or used
    /// (401, naming the field `code`).
    #[error("{0}")]
    SecondFactor(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    Conflict { field: String, detail: String },
    #[error("too many attempts; try again later")]
    TooManyAttempts,
    /// Sign-in throttled after repeated failures from this address: wait.
    #[error("too many failed sign-ins from here; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    #[error("{0}")]
    Unsupported(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// An RFC 9457 problem document. `field` names the input field at fault.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl AppError {
    pub fn bad(field: impl Into<String>, detail: impl Into<String>) -> Self {
        AppError::BadRequest { field: Some(field.into()), detail: detail.into() }
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        AppError::Unprocessable { field: Some(field.into()), detail: detail.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unauthenticated | AppError::SecondFactor(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::TooManyAttempts | AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::BadRequest { field, .. } | AppError::Unprocessable { field, .. } => field.as_deref(),
            AppError::Conflict { field, .. } => Some(field),
            AppError::SecondFactor(_) => Some("code"),
            _ => None,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            AppError::BadRequest { .. } => "bad-request",
            AppError::Unprocessable { .. } => "invalid-field",
            AppError::Unauthenticated => "unauthenticated",
            AppError::SecondFactor(_) => "second-factor",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not-found",
            AppError::Conflict { .. } => "conflict",
            AppError::TooManyAttempts | AppError::Throttled { .. } => "too-many-attempts",
            AppError::Unsupported(_) => "unsupported-media-type",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    /// What the user reads. Internal details stay in the log.
    pub fn public_detail(&self) -> String {
        match self {
            AppError::Internal(_) => "an unexpected error occurred; it has been logged".into(),
            AppError::Unavailable(_) => "the service is briefly unavailable; nothing was changed, try again".into(),
            AppError::Unauthenticated => "sign in first: send `Authorization: Bearer <token>`".into(),
            other => other.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            kind: format!("https://kairos.invalid/problems/{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.public_detail(),
            field: self.field().map(str::to_string),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(e) | AppError::Unavailable(e) = &self {
            tracing::error!(error = %e, "request failed");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if matches!(self, AppError::Unauthenticated | AppError::SecondFactor(_)) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self, AppError::Unavailable(_)) {
            // Nothing was changed; the same request may be sent again shortly.
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        if let AppError::Throttled { retry_after_secs } = self {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        res
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        AppError::Unprocessable { field: Some(e.field().to_string()), detail: e.to_string() }
    }
}

/// A clinical rule's refusal: its sentence is the problem's `detail`.
impl From<Refusal> for AppError {
    fn from(r: Refusal) -> Self {
        match r.kind {
            RefusalKind::Invalid => AppError::Unprocessable { field: Some(r.field), detail: r.message },
            RefusalKind::Conflict => AppError::Conflict { field: r.field, detail: r.message },
            RefusalKind::NotPermitted => AppError::Forbidden(r.message),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => AppError::NotFound(e.to_string()),
            StoreError::UnknownReference { field, .. } => {
                AppError::Unprocessable { field: Some(field.to_string()), detail: e.to_string() }
            }
            StoreError::Conflict { field, detail } => AppError::Conflict { field: field.to_string(), detail },
            StoreError::Domain(d) => d.into(),
            StoreError::Refused(r) => r.into(),
            StoreError::AuditUnavailable(m) => AppError::Unavailable(format!("audit log: {m}")),
            other if other.is_transient() => AppError::Unavailable(other.to_string()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
