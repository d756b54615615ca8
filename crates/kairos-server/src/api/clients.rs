use super::views::{ChartView, ClientView, Paged};
use super::{latest_today, page, path_id};
use crate::error::{AppError, AppResult};
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_domain::client::{ClientDetails, ClientInput, ClientStatus};
use kairos_store::portal_email::EmailChange;
use serde::{Deserialize, Serialize};
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

/// A change of a portal client's e-mail address waiting for confirmation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmailChangeView {
    #[schema(format = Uuid)]
    pub id: String,
    /// The address the portal keeps until the change is confirmed.
    pub old_email: String,
    pub new_email: String,
    pub requested_by: Option<kairos_domain::ids::StaffId>,
    pub requested_at: String,
    /// The client's link (sent to the old address) works until then.
    pub expires_at: String,
    /// `pending`, or `confirmed` once confirmed.
    pub status: String,
    /// `client_link` or `in_person`, once confirmed.
    pub confirmed_via: Option<String>,
}

impl From<&EmailChange> for EmailChangeView {
    fn from(c: &EmailChange) -> Self {
        EmailChangeView {
            id: c.id.clone(),
            old_email: c.old_email.clone(),
            new_email: c.new_email.clone(),
            requested_by: c.requested_by,
            requested_at: c.requested_at.to_string(),
            expires_at: c.expires_at.to_string(),
            status: c.status.clone(),
            confirmed_via: c.confirmed_via.clone(),
        }
    }
}

/// A client's details and the change of their portal address still waiting
/// for confirmation, if any.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientChange {
    #[serde(flatten)]
    pub client: ClientView,
    pub pending_email_change: Option<EmailChangeView>,
}

/// Replaces a client's details. For a client with a portal account a new
/// e-mail address waits for confirmation (202, `pending_email_change`): the
/// client confirms it from a link sent to the old address, or a second
/// staff member confirms it in person
/// (`POST /clients/{id}/email-change/confirm`); until then the record and
/// the portal keep the old address, which is told of the request.
#[utoipa::path(put, path = "/clients/{id}", tag = "clients", params(("id" = String, Path)), request_body = ClientBody,
    responses((status = 200, body = ClientChange), (status = 202, body = ClientChange), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_client(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<ClientBody>,
) -> AppResult<(StatusCode, axum::Json<ClientChange>)> {
    let id = path_id("client", &id)?;
    let edited = crate::usecase::clients::edit(&state, &auth, id, &body.parse(state.now())?).await?;
    let status = if edited.change_requested { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((
        status,
        axum::Json(ClientChange {
            client: ClientView::from(&edited.client),
            pending_email_change: edited.email_change.as_ref().map(EmailChangeView::from),
        }),
    ))
}

/// The change of the client's portal address waiting for confirmation.
#[utoipa::path(get, path = "/clients/{id}/email-change", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = EmailChangeView), (status = 404, body = crate::error::Problem)))]
pub async fn get_email_change(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<EmailChangeView>> {
    let id = path_id("client", &id)?;
    match crate::usecase::portal::pending_email_change(&state, &auth, id).await? {
        Some(c) => Ok(axum::Json(EmailChangeView::from(&c))),
        None => Err(AppError::NotFound("no change of address is waiting for this client".into())),
    }
}

/// Confirms the client's change of portal address in person: the caller is
/// the second staff member, not the one who asked (409 naming `witness`).
/// The record and the portal take the new address, the portal's sessions
/// and links end, and the old address is told.
#[utoipa::path(post, path = "/clients/{id}/email-change/confirm", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = EmailChangeView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn confirm_email_change(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<EmailChangeView>> {
    let id = path_id("client", &id)?;
    let witness = auth.staff.clone();
    let c = crate::usecase::portal::confirm_email_change_in_person(&state, &auth, id, &witness).await?;
    Ok(axum::Json(EmailChangeView::from(&c)))
}

/// Cancels the client's pending change of portal address (the address stays).
#[utoipa::path(delete, path = "/clients/{id}/email-change", tag = "clients", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn cancel_email_change(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = path_id("client", &id)?;
    if crate::usecase::portal::cancel_email_change(&state, &auth, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        // The client is there; its record holds nothing to cancel.
        Err(AppError::Conflict {
            field: "email_change".into(),
            detail: "no change of address is waiting for this client".into(),
        })
    }
}

/// Every change of the client's details, newest first: when, by whom, and
/// each field before and after (the details are never overwritten without
/// the version before being kept).
#[utoipa::path(get, path = "/clients/{id}/history", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = [kairos_store::clients::DetailsChange]), (status = 404, body = crate::error::Problem)))]
pub async fn get_history(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<kairos_store::clients::DetailsChange>>> {
    let id = path_id("client", &id)?;
    let (_, changes, _) = crate::usecase::clients::history(&state, &auth, id).await?;
    Ok(axum::Json(changes))
}
