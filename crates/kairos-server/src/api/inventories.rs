//! Biennial inventories over HTTP: one dated count of every stock of a
//! DEA registration (`usecase::ledger::take_inventory`).

use super::path_id;
use crate::error::AppResult;
use crate::extract::{Auth, Json};
use crate::state::AppState;
use crate::usecase;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_domain::ledger::BusinessTime;
use kairos_store::inventories::Inventory;
use serde::Deserialize;
use utoipa::ToSchema;

/// One stock's count.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = InventoryCountBody)]
#[serde(deny_unknown_fields)]
pub struct CountBody {
    #[schema(format = Uuid)]
    pub stock_id: String,
    /// What was counted, in the stock's unit (opened containers may be
    /// estimated, 21 CFR 1304.11(e)(3)).
    #[schema(minimum = 0, maximum = 1000000000, multiple_of = 0.001)]
    pub quantity: f64,
    /// How it was counted, or why it differs from the books.
    #[schema(value_type = Option<kairos_domain::text::OptionalText4000>)]
    pub note: Option<String>,
}

/// A biennial inventory: every stock with anything on the books is
/// counted, once.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = InventoryBody)]
#[serde(deny_unknown_fields)]
pub struct InventoryBody {
    /// When the count was taken (default now; not in the future).
    #[schema(format = DateTime)]
    pub taken_at: Option<String>,
    /// At the opening or the close of business (1304.11(a)).
    pub business_time: BusinessTime,
    pub counts: Vec<CountBody>,
}

/// Takes the registration's biennial inventory: one event, one count per
/// stock, all written at once. Refused (422 naming `counts`) while any
/// stock on the books is not counted, naming it.
#[utoipa::path(post, path = "/ledger/registrations/{id}/inventories", tag = "ledger", params(("id" = String, Path)),
    request_body = InventoryBody,
    responses((status = 201, body = Inventory), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn take(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<InventoryBody>,
) -> AppResult<(StatusCode, axum::Json<Inventory>)> {
    let reg = path_id("registration", &id)?;
    let inventory = usecase::ledger::take_inventory(&state, &auth, reg, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(inventory)))
}

/// The registration's biennial inventories, newest first (without counts).
#[utoipa::path(get, path = "/ledger/registrations/{id}/inventories", tag = "ledger", params(("id" = String, Path)),
    responses((status = 200, body = [Inventory]), (status = 404, body = crate::error::Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<Inventory>>> {
    let reg = path_id("registration", &id)?;
    Ok(axum::Json(usecase::ledger::inventories(&state, &auth, reg).await?))
}

/// One biennial inventory with every stock's count and what the books said.
#[utoipa::path(get, path = "/ledger/inventories/{id}", tag = "ledger", params(("id" = String, Path)),
    responses((status = 200, body = Inventory), (status = 404, body = crate::error::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Inventory>> {
    let id = path_id("inventory", &id)?;
    Ok(axum::Json(usecase::ledger::inventory(&state, &auth, id).await?))
}
