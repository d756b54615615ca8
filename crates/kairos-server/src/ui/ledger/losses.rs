//! Reporting a theft or loss: the written notice to the DEA and Form 106.

use super::registrations::home_page;
use super::{Kept, PageResult, Refusal, ledger_nav, local_instant, text};
use crate::state::AppState;
use crate::ui::{UiAuth, api_auth, page_error, ui_error};
use crate::usecase;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kairos_domain::ids::LedgerEntryId;
use kairos_domain::roles::Permission;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct NotifiedForm {
    /// When the DEA was notified (site time); blank: now.
    pub at: String,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Form106Form {
    pub reference: String,
}

fn loss_id(auth: &UiAuth, id: &str) -> Result<LedgerEntryId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such loss report.", ledger_nav(auth)))
}

pub async fn loss_notified(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<NotifiedForm>,
) -> PageResult {
    auth.require(Permission::RecordLedger)?;
    let entry = loss_id(&auth, &id)?;
    let result = async {
        let tz = usecase::ledger::entry_time_zone(&state, entry).await?;
        let at = local_instant("at", &form.at, &tz)?;
        usecase::ledger::loss_notified(&state, &api_auth(&auth), entry, at.as_deref()).await
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to("/ledger").into_response()),
        Err(e) => {
            let r = Refusal::of(e).map_err(|e| ui_error(e, ledger_nav(&auth)))?;
            home_page(&state, &auth, Kept::new(), Some(r)).await
        }
    }
}

pub async fn loss_form106(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<Form106Form>,
) -> PageResult {
    auth.require(Permission::RecordLedger)?;
    let entry = loss_id(&auth, &id)?;
    match usecase::ledger::form106_filed(&state, &api_auth(&auth), entry, &text(&form.reference)).await {
        Ok(_) => Ok(Redirect::to("/ledger").into_response()),
        Err(e) => {
            let r = Refusal::of(e).map_err(|e| ui_error(e, ledger_nav(&auth)))?;
            home_page(&state, &auth, Kept::new(), Some(r)).await
        }
    }
}
