use super::views::CourseView;
use super::{date, latest_today, opt_field_id, path_id};
use crate::error::AppResult;
use crate::extract::{Auth, Json};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_domain::course::{NewCourse, Phase};
use kairos_domain::roles::Permission;
use kairos_store::{Action, AuditEntry};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CourseCreate {
    /// Protocol name, e.g. `apa-iv-induction`.
    #[schema(value_type = kairos_domain::text::Text80)]
    pub protocol: String,
    #[schema(format = Date)]
    pub started_on: String,
    #[schema(format = Uuid)]
    pub prescriber_id: Option<String>,
    #[schema(format = Uuid)]
    pub therapist_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseChangeBody {
    pub phase: Phase,
    /// Required when discontinuing.
    #[schema(value_type = Option<kairos_domain::text::OptionalText1000>)]
    pub reason: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CareTeamBody {
    #[schema(format = Uuid)]
    pub prescriber_id: Option<String>,
    #[schema(format = Uuid)]
    pub therapist_id: Option<String>,
}

/// A client's courses, newest first.
#[utoipa::path(get, path = "/clients/{id}/courses", tag = "courses", params(("id" = String, Path)),
    responses((status = 200, body = Vec<CourseView>), (status = 404, body = crate::error::Problem)))]
pub async fn list_courses(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<CourseView>>> {
    auth.require(Permission::ReadClients)?;
    let client = state.store.get_client(path_id("client", &id)?).await?;
    let courses = state.store.courses_of(client.id).await?;
    state
        .store
        .audit_read(
            &auth.actor(),
            AuditEntry::new(Action::Read, "course", client.id).client(client.id).detail("courses"),
        )
        .await?;
    Ok(axum::Json(courses.iter().map(CourseView::from).collect()))
}

/// Opens a course for a client, in screening (prescriber).
#[utoipa::path(post, path = "/clients/{id}/courses", tag = "courses", params(("id" = String, Path)), request_body = CourseCreate,
    responses((status = 201, body = CourseView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_course(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<CourseCreate>,
) -> AppResult<(StatusCode, axum::Json<CourseView>)> {
    let client = path_id("client", &id)?;
    let new = NewCourse::parse(
        client,
        &body.protocol,
        date("started_on", &body.started_on)?,
        opt_field_id("prescriber_id", body.prescriber_id.as_deref())?,
        opt_field_id("therapist_id", body.therapist_id.as_deref())?,
        latest_today(state.now()),
    )?;
    let course = crate::usecase::courses::open(&state, &auth, &new).await?;
    Ok((StatusCode::CREATED, axum::Json(CourseView::from(&course))))
}

/// One course.
#[utoipa::path(get, path = "/courses/{id}", tag = "courses", params(("id" = String, Path)),
    responses((status = 200, body = CourseView), (status = 404, body = crate::error::Problem)))]
pub async fn get_course(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<CourseView>> {
    auth.require(Permission::ReadClients)?;
    let course = state.store.get_course(path_id("course", &id)?).await?;
    state
        .store
        .audit_read(&auth.actor(), AuditEntry::new(Action::Read, "course", course.id).client(course.client_id))
        .await?;
    Ok(axum::Json(CourseView::from(&course)))
}

/// Moves a course to its next phase (prescriber). Only allowed transitions
/// succeed; the error lists the allowed ones.
#[utoipa::path(post, path = "/courses/{id}/phase", tag = "courses", params(("id" = String, Path)), request_body = PhaseChangeBody,
    responses((status = 200, body = CourseView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn change_phase(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<PhaseChangeBody>,
) -> AppResult<axum::Json<CourseView>> {
    let course = crate::usecase::courses::change_phase(
        &state,
        &auth,
        path_id("course", &id)?,
        body.phase,
        body.reason.as_deref(),
    )
    .await?;
    Ok(axum::Json(CourseView::from(&course)))
}

/// Assigns the course's prescriber and therapist (prescriber).
#[utoipa::path(put, path = "/courses/{id}/care-team", tag = "courses", params(("id" = String, Path)), request_body = CareTeamBody,
    responses((status = 200, body = CourseView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn assign_team(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<CareTeamBody>,
) -> AppResult<axum::Json<CourseView>> {
    let course = crate::usecase::courses::set_care_team(
        &state,
        &auth,
        path_id("course", &id)?,
        // `null` clears a role; an id is a UUID, never blank.
        body.prescriber_id.as_deref().map(|v| super::field_id("prescriber_id", v)).transpose()?,
        body.therapist_id.as_deref().map(|v| super::field_id("therapist_id", v)).transpose()?,
    )
    .await?;
    Ok(axum::Json(CourseView::from(&course)))
}
