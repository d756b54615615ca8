use super::views::{EncounterView, Paged};
use super::{field_id, instant, opt_field_id, opt_query_id, page, path_id};
use crate::error::{AppError, AppResult};
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::SignedDuration;
use kairos_domain::encounter::{EncounterKind, EncounterStatus, NewEncounter};
use kairos_domain::roles::Permission;
use kairos_store::encounters::{EncounterQuery, Placement};
use kairos_store::{Action, AuditEntry};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncounterCreate {
    #[schema(format = Uuid)]
    pub client_id: String,
    #[schema(format = Uuid)]
    pub course_id: Option<String>,
    #[schema(format = Uuid)]
    pub site_id: String,
    #[schema(format = Uuid)]
    pub room_id: Option<String>,
    #[schema(format = Uuid)]
    pub staff_id: Option<String>,
    pub kind: EncounterKind,
    /// RFC 3339 instant.
    #[schema(format = DateTime)]
    pub scheduled_start: String,
    #[schema(format = DateTime)]
    pub scheduled_end: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    #[schema(format = Uuid)]
    pub room_id: Option<String>,
    #[schema(format = Uuid)]
    pub staff_id: Option<String>,
    #[schema(format = DateTime)]
    pub scheduled_start: String,
    #[schema(format = DateTime)]
    pub scheduled_end: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub status: EncounterStatus,
    /// Why: required to cancel, kept with a no-show, ignored otherwise.
    #[schema(value_type = Option<kairos_domain::text::OptionalText1000>)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EncounterListParams {
    #[param(format = Uuid)]
    pub site: Option<String>,
    #[param(format = Uuid)]
    pub client: Option<String>,
    #[param(format = Uuid)]
    pub staff: Option<String>,
    /// Start of the range (RFC 3339), inclusive.
    #[param(format = DateTime)]
    pub from: String,
    /// End of the range (RFC 3339), exclusive; at most 62 days after `from`.
    #[param(format = DateTime)]
    pub to: String,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    #[param(value_type = Option<u64>, minimum = 0, maximum = 4294967295_u64)]
    pub offset: Option<u32>,
}

/// The longest range one list request may cover.
const MAX_RANGE: SignedDuration = SignedDuration::from_hours(24 * 62);

/// Encounters in a time range, filtered by site, client or staff member.
#[utoipa::path(get, path = "/encounters", tag = "encounters", params(EncounterListParams),
    responses((status = 200, body = Paged<EncounterView>), (status = 400, body = crate::error::Problem)))]
pub async fn list_encounters(
    State(state): State<AppState>,
    auth: Auth,
    Query(p): Query<EncounterListParams>,
) -> AppResult<axum::Json<Paged<EncounterView>>> {
    auth.require(Permission::ReadClients)?;
    let q = EncounterQuery {
        site_id: opt_query_id("site", p.site.as_deref())?,
        client_id: opt_query_id("client", p.client.as_deref())?,
        staff_id: opt_query_id("staff", p.staff.as_deref())?,
        from: instant("from", &p.from)?,
        to: instant("to", &p.to)?,
        page: page(p.limit, p.offset)?,
    };
    if q.to <= q.from || q.to.duration_since(q.from) > MAX_RANGE {
        return Err(AppError::bad("to", "`to` must be after `from` and at most 62 days later"));
    }
    let mut list = state.store.list_encounters(&q).await?;
    // A process group's members are not listed together to anyone but its
    // facilitator: outside one client's own list, each member's group
    // encounter is left out (the groups API gives head counts).
    if q.client_id.is_none() {
        let before = list.items.len();
        list.items
            .retain(|e| e.kind != kairos_domain::encounter::EncounterKind::Group || e.staff_id == Some(auth.staff.id));
        list.total -= (before - list.items.len()) as i64;
    }
    let entries: Vec<AuditEntry> = list
        .items
        .iter()
        .map(|e| AuditEntry::new(Action::List, "encounter", e.id).client(e.client_id).detail("encounter list"))
        .collect();
    state.store.audit_reads(&auth.actor(), &entries).await?;
    Ok(axum::Json(Paged::map(list, |x| EncounterView::from(x))))
}

/// Books an encounter. A room, staff member or client already booked at an
/// overlapping time is a 409 naming the field.
#[utoipa::path(post, path = "/encounters", tag = "encounters", request_body = EncounterCreate,
    responses((status = 201, body = EncounterView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_encounter(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<EncounterCreate>,
) -> AppResult<(StatusCode, axum::Json<EncounterView>)> {
    let new = NewEncounter {
        client_id: field_id("client_id", &b.client_id)?,
        course_id: opt_field_id("course_id", b.course_id.as_deref())?,
        site_id: field_id("site_id", &b.site_id)?,
        room_id: opt_field_id("room_id", b.room_id.as_deref())?,
        staff_id: opt_field_id("staff_id", b.staff_id.as_deref())?,
        kind: b.kind,
        scheduled_start: instant("scheduled_start", &b.scheduled_start)?,
        scheduled_end: instant("scheduled_end", &b.scheduled_end)?,
    };
    let e = crate::usecase::encounters::book(&state, &auth, &new).await?;
    Ok((StatusCode::CREATED, axum::Json(EncounterView::from(&e))))
}

/// One encounter.
#[utoipa::path(get, path = "/encounters/{id}", tag = "encounters", params(("id" = String, Path)),
    responses((status = 200, body = EncounterView), (status = 404, body = crate::error::Problem)))]
pub async fn get_encounter(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<EncounterView>> {
    auth.require(Permission::ReadClients)?;
    let e = state.store.get_encounter(path_id("encounter", &id)?).await?;
    state.store.audit_read(&auth.actor(), AuditEntry::new(Action::Read, "encounter", e.id).client(e.client_id)).await?;
    Ok(axum::Json(EncounterView::from(&e)))
}

/// Moves a booked encounter to another time, room or staff member.
#[utoipa::path(put, path = "/encounters/{id}", tag = "encounters", params(("id" = String, Path)), request_body = RescheduleBody,
    responses((status = 200, body = EncounterView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn reschedule(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(b): Json<RescheduleBody>,
) -> AppResult<axum::Json<EncounterView>> {
    let id = path_id("encounter", &id)?;
    let to = Placement {
        room_id: opt_field_id("room_id", b.room_id.as_deref())?,
        staff_id: opt_field_id("staff_id", b.staff_id.as_deref())?,
        scheduled_start: instant("scheduled_start", &b.scheduled_start)?,
        scheduled_end: instant("scheduled_end", &b.scheduled_end)?,
    };
    let e = crate::usecase::encounters::reschedule(&state, &auth, id, &to).await?;
    Ok(axum::Json(EncounterView::from(&e)))
}

/// Checks in (`arrived`), completes, cancels or marks a no-show.
#[utoipa::path(post, path = "/encounters/{id}/status", tag = "encounters", params(("id" = String, Path)), request_body = StatusBody,
    responses((status = 200, body = EncounterView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn change_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(b): Json<StatusBody>,
) -> AppResult<axum::Json<EncounterView>> {
    let id = path_id("encounter", &id)?;
    let e = crate::usecase::encounters::change_status(&state, &auth, id, b.status, b.reason.as_deref()).await?;
    Ok(axum::Json(EncounterView::from(&e)))
}
