//! Clients' requests to amend their record over HTTP
//! (`usecase::amendments`): the client's own under `/portal`, the clinic's
//! queue and decisions under `/amendment-requests`.

use super::path_id;
use crate::api::portal::PortalAuth;
use crate::error::AppResult;
use crate::extract::{Auth, Json};
use crate::state::AppState;
use crate::usecase::amendments::{self, Decision};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use kairos_store::amendment_requests::AmendmentRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A request with where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct AmendmentRequestView {
    #[serde(flatten)]
    pub request: AmendmentRequest,
    /// `open`, `overdue`, `accepted`, `denied` or `denied_disagreed`.
    pub status: String,
    /// The date the clinic must act by (after any extension), while open.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
}

impl AmendmentRequestView {
    pub fn new(request: AmendmentRequest, now: Timestamp) -> Self {
        let status = request.status(now);
        let due_at = match status {
            kairos_domain::amendment_requests::Status::Open { due, .. } => Some(due),
            _ => None,
        };
        AmendmentRequestView { request, status: status.as_str().to_string(), due_at }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(as = AmendmentRequestBody)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// Which part of the record.
    pub area: kairos_domain::amendment_requests::RecordArea,
    /// Which record, in words (a date, a session).
    #[schema(value_type = Option<kairos_domain::text::OptionalText200>)]
    pub which_record: Option<String>,
    /// What is wrong and what it should say.
    #[schema(value_type = kairos_domain::text::Text4000)]
    pub requested_change: String,
}

/// The signed-in client asks to amend their record; the clinic has 60 days
/// to act (45 CFR 164.526).
#[utoipa::path(post, path = "/portal/amendment-requests", tag = "portal", request_body = RequestBody,
    responses((status = 201, body = AmendmentRequestView), (status = 401, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn ask(
    State(state): State<AppState>,
    auth: PortalAuth,
    Json(body): Json<RequestBody>,
) -> AppResult<(StatusCode, axum::Json<AmendmentRequestView>)> {
    let req = amendments::ask(&state, &auth, body.area.as_str(), body.which_record.as_deref(), &body.requested_change)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(AmendmentRequestView::new(req, state.now()))))
}

/// The signed-in client's requests and their answers, newest first.
#[utoipa::path(get, path = "/portal/amendment-requests", tag = "portal",
    responses((status = 200, body = [AmendmentRequestView]), (status = 401, body = crate::error::Problem)))]
pub async fn mine(State(state): State<AppState>, auth: PortalAuth) -> AppResult<axum::Json<Vec<AmendmentRequestView>>> {
    let now = state.now();
    let reqs = amendments::mine(&state, &auth).await?;
    Ok(axum::Json(reqs.into_iter().map(|r| AmendmentRequestView::new(r, now)).collect()))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = DisagreementBody)]
#[serde(deny_unknown_fields)]
pub struct DisagreementBody {
    /// Why the client disagrees with the denial.
    #[schema(value_type = kairos_domain::text::Text4000)]
    pub statement: String,
}

/// The client's statement of disagreement with a denied request, once;
/// kept with the record.
#[utoipa::path(post, path = "/portal/amendment-requests/{id}/disagreement", tag = "portal", params(("id" = String, Path)),
    request_body = DisagreementBody,
    responses((status = 200, body = AmendmentRequestView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn disagree(
    State(state): State<AppState>,
    auth: PortalAuth,
    Path(id): Path<String>,
    Json(body): Json<DisagreementBody>,
) -> AppResult<axum::Json<AmendmentRequestView>> {
    let id = path_id("amendment request", &id)?;
    let req = amendments::disagree(&state, &auth, id, &body.statement).await?;
    Ok(axum::Json(AmendmentRequestView::new(req, state.now())))
}

/// Enters a request the clinic received from the client in writing.
#[utoipa::path(post, path = "/clients/{id}/amendment-requests", tag = "clients", params(("id" = String, Path)),
    request_body = RequestBody,
    responses((status = 201, body = AmendmentRequestView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn enter(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<RequestBody>,
) -> AppResult<(StatusCode, axum::Json<AmendmentRequestView>)> {
    let client = path_id("client", &id)?;
    let req = amendments::enter(
        &state,
        &auth,
        client,
        body.area.as_str(),
        body.which_record.as_deref(),
        &body.requested_change,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(AmendmentRequestView::new(req, state.now()))))
}

/// A client's requests to amend their record, with the amendments appended
/// and the denials (and any statement of disagreement), newest first.
#[utoipa::path(get, path = "/clients/{id}/amendment-requests", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = [AmendmentRequestView]), (status = 404, body = crate::error::Problem)))]
pub async fn of_client(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<AmendmentRequestView>>> {
    let client = path_id("client", &id)?;
    state.store.get_client(client).await?;
    let now = state.now();
    let reqs = amendments::of_client(&state, &auth, client).await?;
    Ok(axum::Json(reqs.into_iter().map(|r| AmendmentRequestView::new(r, now)).collect()))
}

/// The clinic's queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct AmendmentQueue {
    /// Not yet decided, oldest first.
    pub open: Vec<AmendmentRequestView>,
    /// The latest 100 decided, newest first.
    pub decided: Vec<AmendmentRequestView>,
}

/// Requests waiting for a decision (oldest first; overdue ones say so) and
/// the latest decided.
#[utoipa::path(get, path = "/amendment-requests", tag = "clients",
    responses((status = 200, body = AmendmentQueue)))]
pub async fn queue(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<AmendmentQueue>> {
    let now = state.now();
    let (open, decided, _) = amendments::queue(&state, &auth).await?;
    Ok(axum::Json(AmendmentQueue {
        open: open.into_iter().map(|r| AmendmentRequestView::new(r, now)).collect(),
        decided: decided.into_iter().map(|r| AmendmentRequestView::new(r, now)).collect(),
    }))
}

/// One request.
#[utoipa::path(get, path = "/amendment-requests/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = AmendmentRequestView), (status = 404, body = crate::error::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<AmendmentRequestView>> {
    let id = path_id("amendment request", &id)?;
    let req = amendments::get(&state, &auth, id).await?;
    Ok(axum::Json(AmendmentRequestView::new(req, state.now())))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = AmendmentExtensionBody)]
#[serde(deny_unknown_fields)]
pub struct ExtensionBody {
    /// Why the clinic needs more time (the client reads it).
    #[schema(value_type = kairos_domain::text::Text2000)]
    pub reasons: String,
}

/// Extends the time to act once, by 30 days, within the first 60.
#[utoipa::path(post, path = "/amendment-requests/{id}/extension", tag = "clients", params(("id" = String, Path)),
    request_body = ExtensionBody,
    responses((status = 200, body = AmendmentRequestView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn extend(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<ExtensionBody>,
) -> AppResult<axum::Json<AmendmentRequestView>> {
    let id = path_id("amendment request", &id)?;
    let req = amendments::extend(&state, &auth, id, &body.reasons).await?;
    Ok(axum::Json(AmendmentRequestView::new(req, state.now())))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = AmendmentDecisionBody)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `accept` or `deny`.
    pub decision: String,
    /// Accept: the amendment appended to the record.
    #[schema(value_type = Option<kairos_domain::text::OptionalText4000>)]
    pub amendment: Option<String>,
    /// Deny: the ground.
    pub basis: Option<kairos_domain::amendment_requests::DenialBasis>,
    /// Deny: the explanation, in plain language.
    #[schema(value_type = Option<kairos_domain::text::OptionalText4000>)]
    pub explanation: Option<String>,
}

/// Decides a request once: accept with the amendment, or deny on a ground
/// with an explanation.
#[utoipa::path(post, path = "/amendment-requests/{id}/decision", tag = "clients", params(("id" = String, Path)),
    request_body = DecisionBody,
    responses((status = 200, body = AmendmentRequestView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn decide(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<DecisionBody>,
) -> AppResult<axum::Json<AmendmentRequestView>> {
    let id = path_id("amendment request", &id)?;
    let decision = Decision::parse(
        &body.decision,
        body.amendment.as_deref(),
        body.basis.map(|b| b.as_str()),
        body.explanation.as_deref(),
    )?;
    let req = amendments::decide(&state, &auth, id, decision).await?;
    Ok(axum::Json(AmendmentRequestView::new(req, state.now())))
}
