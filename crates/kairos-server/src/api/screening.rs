//! Pre-treatment screens and the prescriber's eligibility signature.

use super::path_id;
use crate::error::AppResult;
use crate::extract::{Auth, Json};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_domain::roles::Permission;
use kairos_domain::screening::{Decision, Rules, ScreenFindings};
use kairos_store::screens::Screen;
use kairos_store::{Action, AuditEntry};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A screen as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScreenView {
    /// Screen, course and client ids; the findings; the rules that applied
    /// (absolute first, each with its source and whether it is confirmed);
    /// who recorded it and when; the signature, if signed.
    #[serde(flatten)]
    pub screen: Screen,
    /// `unsigned`, `signed_eligible` or `signed_ineligible`.
    pub status: String,
}

impl From<Screen> for ScreenView {
    fn from(screen: Screen) -> Self {
        let status = match screen.status() {
            kairos_domain::screening::ScreenStatus::SignedEligible => "signed_eligible",
            kairos_domain::screening::ScreenStatus::SignedIneligible => "signed_ineligible",
            _ => "unsigned",
        };
        ScreenView { screen, status: status.into() }
    }
}

/// The clinic's screening rules (clinic-editable defaults with sources).
#[utoipa::path(get, path = "/screening/rules", tag = "screening", responses((status = 200, body = Rules)))]
pub async fn rules(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Rules>> {
    auth.require(Permission::ReadDirectory)?;
    Ok(axum::Json(state.config.screening.as_ref().clone()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenCreate {
    pub findings: ScreenFindings,
}

/// Records a screen for a course; the answer lists the contraindications
/// the clinic's rules found.
#[utoipa::path(post, path = "/courses/{id}/screens", tag = "screening", params(("id" = String, Path)), request_body = ScreenCreate,
    responses((status = 201, body = ScreenView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn record(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<ScreenCreate>,
) -> AppResult<(StatusCode, axum::Json<ScreenView>)> {
    let course = path_id("course", &id)?;
    let screen = crate::usecase::screening::record(&state, &auth, course, &body.findings).await?;
    Ok((StatusCode::CREATED, axum::Json(screen.into())))
}

/// A course's screens, newest first.
#[utoipa::path(get, path = "/courses/{id}/screens", tag = "screening", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ScreenView>), (status = 404, body = crate::error::Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<ScreenView>>> {
    auth.require(Permission::ReadScreening)?;
    let course = state.store.get_course(path_id("course", &id)?).await?;
    let screens = state.store.screens_of(course.id).await?;
    state
        .store
        .audit_read(
            &auth.actor(),
            AuditEntry::new(Action::Read, "screen", course.id).client(course.client_id).detail("screens"),
        )
        .await?;
    Ok(axum::Json(screens.into_iter().map(ScreenView::from).collect()))
}

/// Signs a screen's eligibility decision (prescriber), once. Refused when
/// "eligible" meets an absolute contraindication, or a relative one has no
/// rationale; the error names the field (`eligible`, `rationales.<rule>`).
#[utoipa::path(post, path = "/screens/{id}/sign", tag = "screening", params(("id" = String, Path)), request_body = Decision,
    responses((status = 200, body = ScreenView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn sign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(decision): Json<Decision>,
) -> AppResult<axum::Json<ScreenView>> {
    let screen = crate::usecase::screening::sign(&state, &auth, path_id("screen", &id)?, &decision).await?;
    Ok(axum::Json(screen.into()))
}
