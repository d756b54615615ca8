use super::views::{Paged, StaffView};
use super::{ListParams, path_id};
use crate::error::AppResult;
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_domain::roles::{Permission, Role, Roles};
use kairos_domain::staff::StaffInput;
use kairos_store::staff_requests::StaffRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffCreate {
    #[schema(value_type = kairos_domain::text::Text120)]
    pub name: String,
    #[schema(value_type = kairos_domain::text::Email)]
    pub email: String,
    #[schema(min_items = 1)]
    pub roles: Vec<Role>,
    /// At least 12 characters. Omit to create an account that cannot sign in yet.
    #[schema(min_length = 12, max_length = 256)]
    pub password: Option<String>,
}

/// A change to a staff account waiting for a second administrator.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StaffRequestView {
    #[schema(format = Uuid)]
    pub id: String,
    pub staff_id: kairos_domain::ids::StaffId,
    /// `access` (roles and active flag; a new account's first password) or
    /// `password` (someone else's password).
    pub kind: String,
    pub roles_before: Vec<Role>,
    pub roles_after: Vec<Role>,
    pub active_before: bool,
    pub active_after: bool,
    /// Approving sets a password (never shown).
    pub sets_password: bool,
    pub requested_by: Option<kairos_domain::ids::StaffId>,
    pub requested_at: String,
    /// `pending`, `approved`, `declined` or `superseded`.
    pub status: String,
    pub decided_by: Option<kairos_domain::ids::StaffId>,
}

impl From<&StaffRequest> for StaffRequestView {
    fn from(r: &StaffRequest) -> Self {
        StaffRequestView {
            id: r.id.clone(),
            staff_id: r.staff_id,
            kind: r.kind.as_str().into(),
            roles_before: r.roles_before.iter().collect(),
            roles_after: r.roles_after.iter().collect(),
            active_before: r.active_before,
            active_after: r.active_after,
            sets_password: r.sets_password,
            requested_by: r.requested_by,
            requested_at: r.requested_at.to_string(),
            status: r.status.clone(),
            decided_by: r.decided_by,
        }
    }
}

/// An account and the change to it still waiting for a second
/// administrator, if any.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StaffChange {
    #[serde(flatten)]
    pub staff: StaffView,
    pub pending_request: Option<StaffRequestView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffUpdate {
    #[schema(value_type = kairos_domain::text::Text120)]
    pub name: String,
    #[schema(value_type = kairos_domain::text::Email)]
    pub email: String,
    #[schema(min_items = 1)]
    pub roles: Vec<Role>,
    /// Deactivating ends the account's sessions at once.
    pub active: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    #[schema(min_length = 12, max_length = 256)]
    pub password: String,
}

/// The staff directory (any staff member; the e-mail is shown for contact).
#[utoipa::path(get, path = "/staff", tag = "staff", params(ListParams),
    responses((status = 200, body = Paged<StaffView>)))]
pub async fn list_staff(
    State(state): State<AppState>,
    auth: Auth,
    Query(params): Query<ListParams>,
) -> AppResult<axum::Json<Paged<StaffView>>> {
    auth.require(Permission::ReadDirectory)?;
    let page = state.store.list_staff(params.q.as_deref(), params.page()?).await?;
    Ok(axum::Json(Paged::map(page, |x| StaffView::from(x))))
}

/// Creates a staff account (admin). The account is inactive until a
/// second administrator approves its `pending_request`.
#[utoipa::path(post, path = "/staff", tag = "staff", request_body = StaffCreate,
    responses((status = 201, body = StaffChange), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_staff(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<StaffCreate>,
) -> AppResult<(StatusCode, axum::Json<StaffChange>)> {
    auth.require(Permission::ManageStaff)?;
    let input = StaffInput::parse(&body.name, &body.email, Roles::new(body.roles)?)?;
    let (staff, req) = crate::usecase::staff::create(&state, &auth, &input, body.password).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(StaffChange { staff: StaffView::from(&staff), pending_request: Some(StaffRequestView::from(&req)) }),
    ))
}

/// One staff member.
#[utoipa::path(get, path = "/staff/{id}", tag = "staff", params(("id" = String, Path)),
    responses((status = 200, body = StaffView), (status = 404, body = crate::error::Problem)))]
pub async fn get_staff(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<StaffView>> {
    auth.require(Permission::ReadDirectory)?;
    Ok(axum::Json(StaffView::from(&state.store.get_staff(path_id("staff member", &id)?).await?)))
}

/// Changes a staff member's name, e-mail, roles or active flag (admin);
/// nobody changes their own roles or deactivates their own account. A role
/// added or an account activated waits for a second administrator: the
/// answer is 202 with the account as it stands and the `pending_request`.
#[utoipa::path(put, path = "/staff/{id}", tag = "staff", params(("id" = String, Path)), request_body = StaffUpdate,
    responses((status = 200, body = StaffChange), (status = 202, body = StaffChange), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_staff(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<StaffUpdate>,
) -> AppResult<(StatusCode, axum::Json<StaffChange>)> {
    auth.require(Permission::ManageStaff)?;
    let id = path_id("staff member", &id)?;
    let input = StaffInput::parse(&body.name, &body.email, Roles::new(body.roles)?)?;
    let (staff, req) = crate::usecase::staff::update(&state, &auth, id, &input, body.active).await?;
    let status = if req.is_some() { StatusCode::ACCEPTED } else { StatusCode::OK };
    let pending_request = req.as_ref().map(StaffRequestView::from);
    Ok((status, axum::Json(StaffChange { staff: StaffView::from(&staff), pending_request })))
}

/// Sets another staff member's password (admin) once a second
/// administrator approves (202 with the request); their sessions end then.
/// One's own is refused (409): it is changed with the current one at
/// `POST /me/password`.
#[utoipa::path(put, path = "/staff/{id}/password", tag = "staff", params(("id" = String, Path)), request_body = PasswordBody,
    responses((status = 202, body = StaffRequestView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn set_password(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<PasswordBody>,
) -> AppResult<axum::response::Response> {
    use axum::response::IntoResponse;
    auth.require(Permission::ManageStaff)?;
    let id = path_id("staff member", &id)?;
    let req = crate::usecase::staff::set_password(&state, &auth, id, body.password).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(StaffRequestView::from(&req))).into_response())
}

/// The staff account changes waiting for a second administrator, oldest first.
#[utoipa::path(get, path = "/staff-requests", tag = "staff",
    responses((status = 200, body = Vec<StaffRequestView>)))]
pub async fn list_requests(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<StaffRequestView>>> {
    auth.require(Permission::ManageStaff)?;
    let reqs = crate::usecase::staff::pending(&state, &auth, None).await?;
    Ok(axum::Json(reqs.iter().map(StaffRequestView::from).collect()))
}

/// Approves a pending staff account change: an administrator other than
/// the one who asked, and not the account's holder (409 naming
/// `requested_by` or `staff_id` otherwise).
#[utoipa::path(post, path = "/staff-requests/{id}/approve", tag = "staff", params(("id" = String, Path)),
    responses((status = 200, body = StaffRequestView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn approve_request(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<StaffRequestView>> {
    decide(state, auth, id, true).await
}

/// Declines a pending staff account change (the same people as approve).
#[utoipa::path(post, path = "/staff-requests/{id}/decline", tag = "staff", params(("id" = String, Path)),
    responses((status = 200, body = StaffRequestView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn decline_request(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<StaffRequestView>> {
    decide(state, auth, id, false).await
}

async fn decide(state: AppState, auth: Auth, id: String, approve: bool) -> AppResult<axum::Json<StaffRequestView>> {
    auth.require(Permission::ManageStaff)?;
    let id = uuid::Uuid::parse_str(&id)
        .map_err(|_| crate::error::AppError::NotFound(format!("no staff account request with id {id}")))?
        .to_string();
    let req = crate::usecase::staff::decide(&state, &auth, &id, approve, "api").await?;
    Ok(axum::Json(StaffRequestView::from(&req)))
}
