//! Recording an entry on a stock (count, waste, breakage, return,
//! destruction, theft or loss, correction), witnesses signing on this
//! device with their own password.

use super::stock::{ENTRY_KINDS, stock_id, stock_page};
use super::{PageResult, Refusal, kept, ledger_nav, local_instant, number, opt, text};
use crate::api::ledger as api;
use crate::error::AppError;
use crate::state::AppState;
use crate::ui::{UiAuth, api_auth, ui_error};
use crate::usecase;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use jiff::tz::TimeZone;
use kairos_domain::ledger::{BusinessTime, CountType, EntryKind, Party};
use kairos_domain::roles::Permission;
use serde::Deserialize;

/// A ledger entry on one stock, as typed, with up to two witnesses who sign
/// with their own e-mail and password on this device.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct EntryInput {
    pub kind: String,
    pub quantity: String,
    pub occurred_at: String,
    pub related_id: String,
    pub count_type: String,
    pub business_time: String,
    pub method: String,
    pub narrative: String,
    pub form_reference: String,
    pub recipient_name: String,
    pub recipient_address: String,
    pub recipient_dea_number: String,
    pub witness_0_email: String,
    pub witness_0_password: String,
    pub witness_1_email: String,
    pub witness_1_password: String,
}

fn entry_body(v: &EntryInput, kind: EntryKind, tz: &TimeZone) -> Result<api::EntryBody, AppError> {
    let mut witnesses = Vec::new();
    for (email, password) in [(&v.witness_0_email, &v.witness_0_password), (&v.witness_1_email, &v.witness_1_password)]
    {
        let email = text(email);
        if !email.is_empty() || !password.is_empty() {
            witnesses.push(api::WitnessSignature { email, password: password.clone() });
        }
    }
    Ok(api::EntryBody {
        kind,
        quantity: number("quantity", &v.quantity)?,
        occurred_at: local_instant("occurred_at", &v.occurred_at, tz)?,
        related_id: opt(&v.related_id),
        count_type: opt(&v.count_type).map(|c| CountType::parse("count_type", &c)).transpose()?,
        business_time: opt(&v.business_time).map(|b| BusinessTime::parse("business_time", &b)).transpose()?,
        method: opt(&v.method),
        narrative: opt(&v.narrative),
        form_reference: opt(&v.form_reference),
        recipient: (kind == EntryKind::Return).then(|| Party {
            name: text(&v.recipient_name),
            address: text(&v.recipient_address),
            dea_number: text(&v.recipient_dea_number),
        }),
        witnesses,
    })
}

pub async fn add_entry(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<EntryInput>,
) -> PageResult {
    auth.require(Permission::RecordLedger)?;
    let id = stock_id(&auth, &id)?;
    let kind_text = text(&form.kind);
    let Some(kind) = ENTRY_KINDS.iter().copied().find(|k| k.as_str() == kind_text) else {
        return stock_page(&state, &auth, id, None, Some(Refusal::text("Choose which kind of entry to record."))).await;
    };
    let result = async {
        let tz = usecase::ledger::stock_time_zone(&state, id).await?;
        let body = entry_body(&form, kind, &tz)?;
        crate::usecase::ledger::record_entry(&state, &api_auth(&auth), id, &body).await
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/ledger/stock/{id}")).into_response()),
        Err(e) => {
            let r = Refusal::of(e).map_err(|e| ui_error(e, ledger_nav(&auth)))?;
            stock_page(&state, &auth, id, Some((kind_text, kept(&form))), Some(r)).await
        }
    }
}
