use crate::error::AppResult;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the database answers.
    status: &'static str,
    /// `sqlite` or `postgres`.
    database: &'static str,
    version: &'static str,
}

/// Liveness and database reachability. No sign-in needed.
#[utoipa::path(get, path = "/healthz", security(()), tag = "system",
    responses((status = 200, body = Health), (status = 503, body = crate::error::Problem)))]
pub async fn healthz(State(state): State<AppState>) -> AppResult<Json<Health>> {
    state.store.ping().await?;
    Ok(Json(Health {
        status: "ok",
        database: match state.store.backend() {
            kairos_store::Backend::Sqlite => "sqlite",
            kairos_store::Backend::Postgres => "postgres",
        },
        version: env!("CARGO_PKG_VERSION"),
    }))
}
