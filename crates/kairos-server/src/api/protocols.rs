//! The protocol library: dose series, tied psychotherapy, monitoring, and
//! the evidence behind each protocol, weaknesses included.

use crate::error::{AppError, AppResult};
use crate::extract::Auth;
use crate::state::AppState;
use axum::extract::{Path, State};
use kairos_domain::protocols::{Protocol, UnconfirmedFact};
use kairos_domain::roles::Permission;
use serde::Serialize;
use utoipa::ToSchema;

/// A protocol with its headline citation and the facts it ships as
/// unconfirmed defaults.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProtocolView {
    #[serde(flatten)]
    pub protocol: Protocol,
    /// The first evidence entry's citation.
    pub citation: String,
    pub unconfirmed_facts: Vec<UnconfirmedFact>,
}

impl From<&Protocol> for ProtocolView {
    fn from(p: &Protocol) -> Self {
        ProtocolView {
            citation: p.evidence.first().map(|e| e.citation.clone()).unwrap_or_default(),
            unconfirmed_facts: p.unconfirmed(),
            protocol: p.clone(),
        }
    }
}

/// Every protocol in the clinic's library, with its dose series and tied sessions.
#[utoipa::path(get, path = "/protocols", tag = "protocols", responses((status = 200, body = Vec<ProtocolView>)))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<ProtocolView>>> {
    auth.require(Permission::ReadDirectory)?;
    Ok(axum::Json(state.config.protocols.all().iter().map(ProtocolView::from).collect()))
}

/// One protocol.
#[utoipa::path(get, path = "/protocols/{id}", tag = "protocols", params(("id" = String, Path)),
    responses((status = 200, body = ProtocolView), (status = 404, body = crate::error::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<ProtocolView>> {
    auth.require(Permission::ReadDirectory)?;
    let p = state.config.protocols.get(&id).ok_or_else(|| AppError::NotFound(format!("no protocol `{id}`")))?;
    Ok(axum::Json(p.into()))
}

/// A planned dose or session, with where it stands against the protocol.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlannedItemView {
    #[serde(flatten)]
    pub item: kairos_store::plans::PlannedItem,
    /// When it is planned now (moved or not).
    #[schema(value_type = String, format = DateTime)]
    pub when: jiff::Timestamp,
    /// Moved outside the protocol's window.
    pub deviates: bool,
}

impl From<&kairos_store::plans::PlannedItem> for PlannedItemView {
    fn from(i: &kairos_store::plans::PlannedItem) -> Self {
        PlannedItemView { when: i.when(), deviates: i.deviates(), item: i.clone() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    pub course_id: kairos_domain::ids::CourseId,
    pub protocol: String,
    #[schema(value_type = String, format = DateTime)]
    pub first_dose_at: jiff::Timestamp,
    pub deviations: usize,
    pub items: Vec<PlannedItemView>,
}

impl From<&kairos_store::plans::CoursePlan> for PlanView {
    fn from(p: &kairos_store::plans::CoursePlan) -> Self {
        PlanView {
            course_id: p.course_id,
            protocol: p.protocol.clone(),
            first_dose_at: p.first_dose_at,
            deviations: p.items.iter().filter(|i| i.deviates()).count(),
            items: p.items.iter().map(PlannedItemView::from).collect(),
        }
    }
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanCreate {
    /// When dose 1 is to start (RFC 3339).
    #[schema(format = DateTime)]
    pub first_dose_at: String,
}

/// Plans a course from its protocol (prescriber): the dose series and the
/// tied sessions with their windows. The course's protocol must be one of
/// the library's.
#[utoipa::path(post, path = "/courses/{id}/plan", tag = "protocols", params(("id" = String, Path)), request_body = PlanCreate,
    responses((status = 201, body = PlanView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_plan(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    crate::extract::Json(body): crate::extract::Json<PlanCreate>,
) -> AppResult<(axum::http::StatusCode, axum::Json<PlanView>)> {
    let course = super::path_id("course", &id)?;
    let stored = crate::usecase::courses::plan(&state, &auth, course, &body.first_dose_at).await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(PlanView::from(&stored))))
}

/// A course's plan.
#[utoipa::path(get, path = "/courses/{id}/plan", tag = "protocols", params(("id" = String, Path)),
    responses((status = 200, body = PlanView), (status = 404, body = crate::error::Problem)))]
pub async fn get_plan(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<PlanView>> {
    auth.require(Permission::ReadClients)?;
    let course = state.store.get_course(super::path_id("course", &id)?).await?;
    let plan = state
        .store
        .plan_of(course.id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("course {} has no plan yet", course.id)))?;
    state
        .store
        .audit_read(
            &auth.actor(),
            kairos_store::AuditEntry::new(kairos_store::Action::Read, "course_plan", course.id)
                .client(course.client_id)
                .detail("course plan"),
        )
        .await?;
    Ok(axum::Json(PlanView::from(&plan)))
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanMove {
    /// The new time (RFC 3339).
    #[schema(format = DateTime)]
    pub to: String,
    /// Why; required, and shown beside the item.
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub reason: String,
}

/// Moves a planned dose or session (prescriber). A move outside the
/// protocol's window is allowed but marked as a deviation.
#[utoipa::path(post, path = "/planned-items/{id}/move", tag = "protocols", params(("id" = String, Path)), request_body = PlanMove,
    responses((status = 200, body = PlannedItemView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn move_item(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    crate::extract::Json(body): crate::extract::Json<PlanMove>,
) -> AppResult<axum::Json<PlannedItemView>> {
    let id = super::path_id("planned item", &id)?;
    let item = crate::usecase::courses::move_planned_item(&state, &auth, id, &body.to, &body.reason).await?;
    Ok(axum::Json(PlannedItemView::from(&item)))
}
