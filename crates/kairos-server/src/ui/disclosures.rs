//! Disclosures in the browser: a client's accounting of disclosures (the
//! six years before today, printable), the form to record one made by hand,
//! and the ledger report's "handed to an inspector" form. The pages call
//! `usecase::disclosures`, as the API does.

use super::form::{Refused, with_status};
use super::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::error::AppError;
use crate::state::AppState;
use crate::usecase;
use crate::usecase::disclosures::{Handover, Input};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kairos_domain::disclosures::Purpose;
use kairos_domain::ids::{ClientId, RegistrationId};
use kairos_domain::roles::Permission;
use serde::Deserialize;

type PageResult = Result<Response, Response>;

pub struct DisclosureRow {
    pub when: String,
    pub recipient: String,
    pub address: String,
    pub description: String,
    pub purpose: &'static str,
    pub statement: String,
    pub source: &'static str,
    pub in_accounting: bool,
}

#[derive(Template)]
#[template(path = "disclosures.html")]
struct AccountingPage {
    nav: Option<Nav>,
    client_id: String,
    client: String,
    from: String,
    to: String,
    all: bool,
    rows: Vec<DisclosureRow>,
    left_out: usize,
    can_record: bool,
    purposes: Vec<(&'static str, &'static str)>,
    form: RecordForm,
    printed: String,
    error: Option<Refused>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RecordForm {
    disclosed_at: String,
    recipient: String,
    recipient_address: String,
    description: String,
    purpose: String,
    statement: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AllQuery {
    all: Option<String>,
}

fn client_id(auth: &UiAuth, id: &str) -> Result<ClientId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", Some(auth.nav("/clients"))))
}

async fn accounting_page(
    state: &AppState,
    auth: &UiAuth,
    client: ClientId,
    all: bool,
    form: RecordForm,
    error: Option<Refused>,
) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let a =
        usecase::disclosures::accounting(state, &api_auth(auth), client, all).await.map_err(|e| ui_error(e, nav()))?;
    let names = usecase::clients::names(state, &[client]).await.map_err(|e| ui_error(e, nav()))?;
    let tz = state.practice_tz().await.map_err(|e| ui_error(e, nav()))?;
    let at = |t: jiff::Timestamp| t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string();
    let rows = a
        .entries
        .iter()
        .map(|d| DisclosureRow {
            when: at(d.disclosed_at),
            recipient: d.recipient.clone(),
            address: d.recipient_address.clone().unwrap_or_default(),
            description: d.description.clone(),
            purpose: d.purpose.label(),
            statement: d.statement.clone().unwrap_or_default(),
            source: match d.source.as_str() {
                "rems_form" => "REMS form submitted",
                "ledger_report" => "ledger report handed over",
                _ => "recorded by staff",
            },
            in_accounting: d.purpose.in_clients_accounting(),
        })
        .collect();
    let page = render(&AccountingPage {
        nav: nav(),
        client_id: client.to_string(),
        client: names.get(&client).cloned().unwrap_or_default(),
        from: a.from.to_string(),
        to: a.to.to_string(),
        all,
        rows,
        left_out: a.left_out,
        can_record: auth.staff.roles.allow(Permission::WriteClients),
        purposes: Purpose::ALL.iter().map(|p| (p.as_str(), p.label())).collect(),
        form,
        printed: at(state.now()),
        error: error.clone(),
    });
    Ok(with_status(page, &error))
}

/// The client's accounting of disclosures.
pub async fn accounting(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<AllQuery>,
) -> PageResult {
    let client = client_id(&auth, &id)?;
    accounting_page(&state, &auth, client, q.all.is_some(), RecordForm::default(), None).await
}

/// A `datetime-local` value in the practice's time zone (blank: now).
async fn local_instant(state: &AppState, field: &str, s: &str) -> Result<Option<jiff::Timestamp>, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let civil: jiff::civil::DateTime = s.parse().map_err(|_| {
        AppError::invalid(field, format!("{field}: `{s}` is not a date and time such as 2026-12-01T14:00"))
    })?;
    let tz = state.practice_tz().await?;
    Ok(Some(civil.to_zoned(tz).map_err(|e| AppError::invalid(field, e.to_string()))?.timestamp()))
}

/// Records a disclosure made by hand; back to the accounting (all).
pub async fn record(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(f): Form<RecordForm>,
) -> PageResult {
    let client = client_id(&auth, &id)?;
    let result = match local_instant(&state, "disclosed_at", &f.disclosed_at).await {
        Ok(at) => {
            let input = Input {
                disclosed_at: at,
                recipient: &f.recipient,
                recipient_address: Some(f.recipient_address.as_str()),
                description: &f.description,
                purpose: &f.purpose,
                statement: Some(f.statement.as_str()),
            };
            usecase::disclosures::record(&state, &api_auth(&auth), client, &input).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/clients/{client}/disclosures?all=1")).into_response()),
        Err(e @ AppError::Unprocessable { .. }) => {
            accounting_page(&state, &auth, client, true, f, Some(e.into())).await
        }
        Err(e) => Err(ui_error(e, Some(auth.nav("/clients")))),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HandoverForm {
    from: String,
    to: String,
    recipient: String,
    recipient_address: String,
    purpose: String,
    statement: String,
}

/// Records that the ledger report was handed over; back to the report,
/// saying for how many clients.
pub async fn ledger_report(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(f): Form<HandoverForm>,
) -> PageResult {
    let nav = || Some(auth.nav("/ledger"));
    let reg: RegistrationId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such registration.", nav()))?;
    let h = Handover {
        recipient: &f.recipient,
        recipient_address: Some(f.recipient_address.as_str()),
        purpose: &f.purpose,
        statement: Some(f.statement.as_str()),
    };
    let period = serde_urlencoded::to_string([("from", f.from.as_str()), ("to", f.to.as_str())]).unwrap_or_default();
    match usecase::disclosures::ledger_report(&state, &api_auth(&auth), reg, Some(&f.from), Some(&f.to), &h).await {
        Ok(n) => Ok(Redirect::to(&format!("/ledger/registrations/{reg}/report?{period}&handed={n}")).into_response()),
        Err(e @ AppError::Unprocessable { .. }) => {
            let r: Refused = e.into();
            Ok(Redirect::to(&format!(
                "/ledger/registrations/{reg}/report?{period}&{}",
                serde_urlencoded::to_string([("refused", format!("{}: {}", r.field, r.message))]).unwrap_or_default()
            ))
            .into_response())
        }
        Err(e) => Err(ui_error(e, nav())),
    }
}
