//! Emergency ("break-glass") access over HTTP (`usecase::emergency`).

use super::path_id;
use crate::error::AppResult;
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;
use crate::usecase::emergency::{self, EmergencySummary};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_store::emergency::EmergencyAccess;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[schema(as = EmergencyAccessBody)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    /// Why the record must be opened now, in words.
    #[schema(value_type = kairos_domain::text::Text1000)]
    pub reason: String,
}

/// Opens emergency access to the client for the clinic's time limit (roles
/// named by `--break-glass-roles`; 403 otherwise), with a reason; the
/// director reviews every access.
#[utoipa::path(post, path = "/clients/{id}/emergency-access", tag = "clients", params(("id" = String, Path)),
    request_body = OpenBody,
    responses((status = 201, body = EmergencyAccess), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn open(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<OpenBody>,
) -> AppResult<(StatusCode, axum::Json<EmergencyAccess>)> {
    let client = path_id("client", &id)?;
    Ok((StatusCode::CREATED, axum::Json(emergency::open(&state, &auth, client, &body.reason).await?)))
}

/// The client's emergency summary, under the caller's unexpired emergency
/// access (403 without one); each read is audited with the access.
#[utoipa::path(get, path = "/clients/{id}/emergency-summary", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = EmergencySummary), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn summary(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<EmergencySummary>> {
    let client = path_id("client", &id)?;
    Ok(axum::Json(emergency::summary(&state, &auth, client).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// Only those waiting for review (default true).
    pub waiting: Option<bool>,
}

/// Emergency accesses for the director's review: those waiting, oldest
/// first (or every access, newest first, with `waiting=false`).
#[utoipa::path(get, path = "/emergency-access", tag = "clients", params(QueueParams),
    responses((status = 200, body = [EmergencyAccess])))]
pub async fn queue(
    State(state): State<AppState>,
    auth: Auth,
    Query(p): Query<QueueParams>,
) -> AppResult<axum::Json<Vec<EmergencyAccess>>> {
    Ok(axum::Json(emergency::queue(&state, &auth, p.waiting.unwrap_or(true)).await?.0))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = EmergencyReviewBody)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// What the director found (appropriate, or what follows).
    #[schema(value_type = kairos_domain::text::Text2000)]
    pub note: String,
}

/// Records the director's review of an emergency access, once (409 after).
#[utoipa::path(post, path = "/emergency-access/{id}/review", tag = "clients", params(("id" = String, Path)),
    request_body = ReviewBody,
    responses((status = 200, body = EmergencyAccess), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn review(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<ReviewBody>,
) -> AppResult<axum::Json<EmergencyAccess>> {
    let id = path_id("emergency access", &id)?;
    Ok(axum::Json(emergency::review(&state, &auth, id, &body.note).await?))
}
