//! Disclosures of a client's record and the accounting of them over HTTP
//! (`usecase::disclosures`).

use super::path_id;
use crate::error::AppResult;
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;
use crate::usecase::disclosures::{self, Handover, Input};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_store::disclosures::Disclosure;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[schema(as = DisclosureBody)]
#[serde(deny_unknown_fields)]
pub struct DisclosureBody {
    /// When it was made (default now; not ahead of now).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disclosed_at: Option<String>,
    /// Who received it.
    #[schema(value_type = kairos_domain::text::Text200)]
    pub recipient: String,
    #[schema(value_type = Option<kairos_domain::text::OptionalText500>)]
    pub recipient_address: Option<String>,
    /// What was disclosed, briefly.
    #[schema(value_type = kairos_domain::text::Text1000)]
    pub description: String,
    pub purpose: kairos_domain::disclosures::Purpose,
    /// The purpose in words, or where the request for it is kept.
    #[schema(value_type = Option<kairos_domain::text::OptionalText1000>)]
    pub statement: Option<String>,
}

/// Records a disclosure of the client's record outside the clinic.
#[utoipa::path(post, path = "/clients/{id}/disclosures", tag = "clients", params(("id" = String, Path)),
    request_body = DisclosureBody,
    responses((status = 201, body = Disclosure), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn record(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(b): Json<DisclosureBody>,
) -> AppResult<(StatusCode, axum::Json<Disclosure>)> {
    let client = path_id("client", &id)?;
    let at = b
        .disclosed_at
        .as_deref()
        // Absent means now; a value must be an instant (the schema's date-time).
        .map(|s| super::instant("disclosed_at", s))
        .transpose()?;
    let input = Input {
        disclosed_at: at,
        recipient: &b.recipient,
        recipient_address: b.recipient_address.as_deref(),
        description: &b.description,
        purpose: b.purpose.as_str(),
        statement: b.statement.as_deref(),
    };
    Ok((StatusCode::CREATED, axum::Json(disclosures::record(&state, &auth, client, &input).await?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountingParams {
    /// Every disclosure, including those the client's accounting leaves out
    /// (treatment, payment, operations, to the client, authorized).
    pub all: Option<bool>,
}

/// An accounting of disclosures.
#[derive(Serialize, ToSchema)]
pub struct AccountingView {
    /// The first and last day covered: the six years before today.
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    /// Newest first.
    pub disclosures: Vec<Disclosure>,
    /// Disclosures in the period left out of the client's accounting.
    pub left_out: usize,
}

/// The accounting of the client's disclosures over the six years before
/// today (45 CFR 164.528).
#[utoipa::path(get, path = "/clients/{id}/disclosures", tag = "clients", params(("id" = String, Path), AccountingParams),
    responses((status = 200, body = AccountingView), (status = 404, body = crate::error::Problem)))]
pub async fn accounting(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(p): Query<AccountingParams>,
) -> AppResult<axum::Json<AccountingView>> {
    let client = path_id("client", &id)?;
    let a = disclosures::accounting(&state, &auth, client, p.all.unwrap_or(false)).await?;
    Ok(axum::Json(AccountingView {
        from: a.from.to_string(),
        to: a.to.to_string(),
        disclosures: a.entries,
        left_out: a.left_out,
    }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = LedgerReportDisclosureBody)]
#[serde(deny_unknown_fields)]
pub struct HandoverBody {
    /// The report's first day (default 30 days ago).
    #[schema(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// The report's last day (default today).
    #[schema(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// Who received it (an inspector, with their agency).
    #[schema(value_type = kairos_domain::text::Text200)]
    pub recipient: String,
    #[schema(value_type = Option<kairos_domain::text::OptionalText500>)]
    pub recipient_address: Option<String>,
    pub purpose: kairos_domain::disclosures::Purpose,
    #[schema(value_type = Option<kairos_domain::text::OptionalText1000>)]
    pub statement: Option<String>,
}

/// How many clients' disclosures were recorded.
#[derive(Serialize, ToSchema)]
pub struct HandoverView {
    pub clients: usize,
}

/// Records that the registration's ledger report over a period was handed
/// to someone outside the clinic: a disclosure for each client it names.
#[utoipa::path(post, path = "/ledger/registrations/{id}/report/disclosures", tag = "ledger", params(("id" = String, Path)),
    request_body = HandoverBody,
    responses((status = 201, body = HandoverView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn ledger_report(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(b): Json<HandoverBody>,
) -> AppResult<(StatusCode, axum::Json<HandoverView>)> {
    let reg = path_id("registration", &id)?;
    // Absent means the default period; a value must be a date (the schema's).
    for (field, v) in [("from", &b.from), ("to", &b.to)] {
        if let Some(v) = v {
            super::date(field, v)?;
        }
    }
    let h = Handover {
        recipient: &b.recipient,
        recipient_address: b.recipient_address.as_deref(),
        purpose: b.purpose.as_str(),
        statement: b.statement.as_deref(),
    };
    let n = disclosures::ledger_report(&state, &auth, reg, b.from.as_deref(), b.to.as_deref(), &h).await?;
    Ok((StatusCode::CREATED, axum::Json(HandoverView { clients: n })))
}
