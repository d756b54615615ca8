use super::path_id;
use super::views::{RoomView, SiteView};
use crate::error::{AppError, AppResult};
use crate::extract::{Auth, Json};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_domain::roles::Permission;
use kairos_domain::site::{RoomKind, SiteInput};
use kairos_domain::text;
use kairos_store::sites::RoomInput;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteBody {
    #[schema(value_type = kairos_domain::text::Text120)]
    pub name: String,
    /// IANA time zone, e.g. `America/New_York`.
    pub time_zone: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomBody {
    #[schema(value_type = kairos_domain::text::Text80)]
    pub name: String,
    pub kind: RoomKind,
}

impl RoomBody {
    fn parse(&self) -> Result<RoomInput, AppError> {
        Ok(RoomInput { name: text::required("name", &self.name, 80)?, kind: self.kind })
    }
}

/// All sites.
#[utoipa::path(get, path = "/sites", tag = "sites", responses((status = 200, body = Vec<SiteView>)))]
pub async fn list_sites(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<SiteView>>> {
    auth.require(Permission::ReadDirectory)?;
    Ok(axum::Json(state.store.list_sites().await?.iter().map(SiteView::from).collect()))
}

/// Creates a site (admin).
#[utoipa::path(post, path = "/sites", tag = "sites", request_body = SiteBody,
    responses((status = 201, body = SiteView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_site(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<SiteBody>,
) -> AppResult<(StatusCode, axum::Json<SiteView>)> {
    auth.require(Permission::ManageSites)?;
    let input = SiteInput::parse(&body.name, &body.time_zone)?;
    let site = state.store.create_site(&auth.actor(), &input).await?;
    Ok((StatusCode::CREATED, axum::Json(SiteView::from(&site))))
}

/// One site.
#[utoipa::path(get, path = "/sites/{id}", tag = "sites", params(("id" = String, Path)),
    responses((status = 200, body = SiteView), (status = 404, body = crate::error::Problem)))]
pub async fn get_site(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<SiteView>> {
    auth.require(Permission::ReadDirectory)?;
    Ok(axum::Json(SiteView::from(&state.store.get_site(path_id("site", &id)?).await?)))
}

/// Renames a site or changes its time zone (admin).
#[utoipa::path(put, path = "/sites/{id}", tag = "sites", params(("id" = String, Path)), request_body = SiteBody,
    responses((status = 200, body = SiteView), (status = 404, body = crate::error::Problem), (status = 409, description = "another site has this name", body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_site(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<SiteBody>,
) -> AppResult<axum::Json<SiteView>> {
    auth.require(Permission::ManageSites)?;
    let id = path_id("site", &id)?;
    let input = SiteInput::parse(&body.name, &body.time_zone)?;
    Ok(axum::Json(SiteView::from(&state.store.update_site(&auth.actor(), id, &input).await?)))
}

/// Rooms and infusion chairs of a site.
#[utoipa::path(get, path = "/sites/{id}/rooms", tag = "sites", params(("id" = String, Path)),
    responses((status = 200, body = Vec<RoomView>), (status = 404, body = crate::error::Problem)))]
pub async fn list_rooms(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<RoomView>>> {
    auth.require(Permission::ReadDirectory)?;
    let site = state.store.get_site(path_id("site", &id)?).await?;
    Ok(axum::Json(state.store.list_rooms(site.id).await?.iter().map(RoomView::from).collect()))
}

/// Adds a room or infusion chair to a site (admin).
#[utoipa::path(post, path = "/sites/{id}/rooms", tag = "sites", params(("id" = String, Path)), request_body = RoomBody,
    responses((status = 201, body = RoomView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn create_room(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<RoomBody>,
) -> AppResult<(StatusCode, axum::Json<RoomView>)> {
    auth.require(Permission::ManageSites)?;
    let site = path_id("site", &id)?;
    let room = state.store.create_room(&auth.actor(), site, &body.parse()?).await?;
    Ok((StatusCode::CREATED, axum::Json(RoomView::from(&room))))
}

/// Renames a room or changes its kind (admin).
#[utoipa::path(put, path = "/rooms/{id}", tag = "sites", params(("id" = String, Path)), request_body = RoomBody,
    responses((status = 200, body = RoomView), (status = 404, body = crate::error::Problem), (status = 409, description = "the site already has a room with this name", body = crate::error::Problem)))]
pub async fn update_room(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<RoomBody>,
) -> AppResult<axum::Json<RoomView>> {
    auth.require(Permission::ManageSites)?;
    let room = state.store.update_room(&auth.actor(), path_id("room", &id)?, &body.parse()?).await?;
    Ok(axum::Json(RoomView::from(&room)))
}
