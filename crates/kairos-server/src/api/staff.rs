use super::views::{Paged, StaffView};
use super::{ListParams, path_id};
use crate::error::AppResult;
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_domain::roles::{Permission, Role, Roles};
use kairos_domain::staff::StaffInput;
use serde::Deserialize;
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

/// Creates a staff account (admin).
#[utoipa::path(post, path = "/staff", tag = "staff", request_body = StaffCreate,
    responses((status = 201, body = StaffView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_staff(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<StaffCreate>,
) -> AppResult<(StatusCode, axum::Json<StaffView>)> {
    auth.require(Permission::ManageStaff)?;
    let input = StaffInput::parse(&body.name, &body.email, Roles::new(body.roles)?)?;
    let staff = crate::usecase::staff::create(&state, &auth, &input, body.password).await?;
    Ok((StatusCode::CREATED, axum::Json(StaffView::from(&staff))))
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
/// nobody changes their own roles or deactivates their own account.
#[utoipa::path(put, path = "/staff/{id}", tag = "staff", params(("id" = String, Path)), request_body = StaffUpdate,
    responses((status = 200, body = StaffView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_staff(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<StaffUpdate>,
) -> AppResult<axum::Json<StaffView>> {
    auth.require(Permission::ManageStaff)?;
    let id = path_id("staff member", &id)?;
    let input = StaffInput::parse(&body.name, &body.email, Roles::new(body.roles)?)?;
    let staff = crate::usecase::staff::update(&state, &auth, id, &input, body.active).await?;
    Ok(axum::Json(StaffView::from(&staff)))
}

/// Sets a staff member's password (admin); ends their sessions.
#[utoipa::path(put, path = "/staff/{id}/password", tag = "staff", params(("id" = String, Path)), request_body = PasswordBody,
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn set_password(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<PasswordBody>,
) -> AppResult<StatusCode> {
    auth.require(Permission::ManageStaff)?;
    let id = path_id("staff member", &id)?;
    crate::usecase::staff::set_password(&state, &auth, id, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
