use super::views::{ChartView, ClientView, Paged};
use super::{latest_today, page, path_id};
use crate::error::AppResult;
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_domain::client::{ClientDetails, ClientInput, ClientStatus};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// A client's details. `date_of_birth` is YYYY-MM-DD; an emergency contact
/// needs both name and phone; `status` defaults to `active`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    #[schema(value_type = kairos_domain::text::Text100)]
    pub given_name: String,
    #[schema(value_type = kairos_domain::text::Text100)]
    pub family_name: String,
    #[schema(format = Date)]
    pub date_of_birth: String,
    #[schema(value_type = Option<kairos_domain::text::OptionalText40>)]
    pub pronouns: Option<String>,
    #[schema(value_type = Option<kairos_domain::text::OptionalEmail>)]
    pub email: Option<String>,
    #[schema(value_type = Option<kairos_domain::text::OptionalPhone>)]
    pub phone: Option<String>,
    /// Postal address.
    #[schema(value_type = Option<kairos_domain::text::OptionalText500>)]
    pub address: Option<String>,
    #[schema(value_type = Option<kairos_domain::text::OptionalText200>)]
    pub emergency_contact_name: Option<String>,
    #[schema(value_type = Option<kairos_domain::text::OptionalPhone>)]
    pub emergency_contact_phone: Option<String>,
    pub status: Option<ClientStatus>,
}

impl ClientBody {
    fn parse(&self, now: jiff::Timestamp) -> Result<ClientDetails, kairos_domain::DomainError> {
        ClientDetails::parse(
            &ClientInput {
                given_name: &self.given_name,
                family_name: &self.family_name,
                date_of_birth: &self.date_of_birth,
                pronouns: self.pronouns.as_deref(),
                email: self.email.as_deref(),
                phone: self.phone.as_deref(),
                address: self.address.as_deref(),
                emergency_contact_name: self.emergency_contact_name.as_deref(),
                emergency_contact_phone: self.emergency_contact_phone.as_deref(),
                status: self.status.map(|s| s.as_str()),
            },
            latest_today(now),
        )
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClientListParams {
    /// Case-insensitive prefix of the family name, given name or full name.
    pub q: Option<String>,
    pub status: Option<ClientStatus>,
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    #[param(value_type = Option<u64>, minimum = 0, maximum = 4294967295_u64)]
    pub offset: Option<u32>,
}

/// Clients by family name, searchable by name. The list read is audited.
#[utoipa::path(get, path = "/clients", tag = "clients", params(ClientListParams),
    responses((status = 200, body = Paged<ClientView>), (status = 400, body = crate::error::Problem)))]
pub async fn list_clients(
    State(state): State<AppState>,
    auth: Auth,
    Query(p): Query<ClientListParams>,
) -> AppResult<axum::Json<Paged<ClientView>>> {
    let page =
        crate::usecase::clients::search(&state, &auth, p.q.as_deref(), p.status, page(p.limit, p.offset)?).await?;
    Ok(axum::Json(Paged::map(page, |x| ClientView::from(x))))
}

/// Registers a client.
#[utoipa::path(post, path = "/clients", tag = "clients", request_body = ClientBody,
    responses((status = 201, body = ClientView), (status = 422, body = crate::error::Problem)))]
pub async fn create_client(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<ClientBody>,
) -> AppResult<(StatusCode, axum::Json<ClientView>)> {
    let client = crate::usecase::clients::register(&state, &auth, &body.parse(state.now())?).await?;
    Ok((StatusCode::CREATED, axum::Json(ClientView::from(&client))))
}

/// The chart summary: client, courses, upcoming and recent encounters.
/// The read is audited durably before the response is sent.
#[utoipa::path(get, path = "/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = ChartView), (status = 404, body = crate::error::Problem)))]
pub async fn get_chart(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<ChartView>> {
    let chart = crate::usecase::clients::chart(&state, &auth, path_id("client", &id)?, state.now()).await?;
    Ok(axum::Json(ChartView::from(&chart)))
}

/// Replaces a client's details.
#[utoipa::path(put, path = "/clients/{id}", tag = "clients", params(("id" = String, Path)), request_body = ClientBody,
    responses((status = 200, body = ClientView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_client(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<ClientBody>,
) -> AppResult<axum::Json<ClientView>> {
    let id = path_id("client", &id)?;
    let client = crate::usecase::clients::edit(&state, &auth, id, &body.parse(state.now())?).await?;
    Ok(axum::Json(ClientView::from(&client)))
}
