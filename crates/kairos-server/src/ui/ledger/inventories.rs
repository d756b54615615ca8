//! The biennial inventory: one form counting every stock of a registration
//! at once, and the printable record of each inventory taken.

use super::{PageResult, Refusal, difference_words, ledger_nav, local_instant, number, stock_label, when};
use crate::api::inventories::{CountBody, InventoryBody};
use crate::state::AppState;
use crate::ui::{Nav, UiAuth, api_auth, render, ui_error};
use crate::usecase;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use kairos_domain::ids::{InventoryId, RegistrationId};
use kairos_domain::ledger::BusinessTime;
use kairos_domain::roles::Permission;
use serde::Deserialize;

/// One stock's row on the count form.
struct CountRow {
    stock_id: String,
    label: String,
    form: String,
    expires: String,
    storage: String,
    books: String,
    unit: String,
    /// Anything on the books: the row must be counted.
    required: bool,
    quantity: String,
    note: String,
    invalid: bool,
}

#[derive(Template)]
#[template(path = "ledger_inventory_take.html")]
struct TakePage {
    nav: Option<Nav>,
    registration_id: String,
    registrant: String,
    dea_number: String,
    site: String,
    rows: Vec<CountRow>,
    business_time: String,
    taken_at: String,
    error: Option<String>,
    error_field: String,
}

fn registration_id(auth: &UiAuth, id: &str) -> Result<RegistrationId, axum::response::Response> {
    id.parse().map_err(|_| {
        ui_error(crate::error::AppError::NotFound(format!("no registration with id {id}")), ledger_nav(auth))
    })
}

/// The count form as typed: one row per stock, in the page's order (the
/// stock's id in a hidden field beside its count and note).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InventoryForm {
    business_time: String,
    taken_at: String,
    stock_id: Vec<String>,
    quantity: Vec<String>,
    note: Vec<String>,
}

impl InventoryForm {
    /// The count and note typed on a stock's row.
    fn row(&self, stock: &str) -> (String, String) {
        match self.stock_id.iter().position(|s| s == stock) {
            Some(i) => {
                (self.quantity.get(i).cloned().unwrap_or_default(), self.note.get(i).cloned().unwrap_or_default())
            }
            None => Default::default(),
        }
    }
}

async fn take_page(
    state: &AppState,
    auth: &UiAuth,
    reg: RegistrationId,
    typed: Option<&InventoryForm>,
    refusal: Option<(Refusal, Vec<String>)>,
) -> PageResult {
    let nav = || ledger_nav(auth);
    let (registration, site) =
        usecase::ledger::registration_at_site(state, reg).await.map_err(|e| ui_error(e, nav()))?;
    let stocks = usecase::ledger::stocks(state, &api_auth(auth), reg).await.map_err(|e| ui_error(e, nav()))?;
    // The row a refusal names: `counts[i]…` is the i-th stock sent.
    let (error, error_field, bad_stock) = match &refusal {
        Some((r, sent)) => {
            let field = r.field.clone().unwrap_or_default();
            let bad = field
                .strip_prefix("counts[")
                .and_then(|rest| rest.split(']').next())
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| sent.get(i).cloned());
            (Some(r.message.clone()), field, bad)
        }
        None => (None, String::new(), None),
    };
    let rows = stocks
        .iter()
        .map(|s| {
            let id = s.id.to_string();
            let (quantity, note) = typed.map(|t| t.row(&id)).unwrap_or_default();
            CountRow {
                label: stock_label(s),
                form: s.form.clone(),
                expires: s.expires.map(|d| d.to_string()).unwrap_or_default(),
                storage: s.storage.clone().unwrap_or_default(),
                books: s.balance.to_string(),
                unit: s.unit.as_str().into(),
                required: s.balance.is_positive(),
                invalid: bad_stock.as_deref() == Some(id.as_str())
                    || (error_field == "counts" && s.balance.is_positive() && quantity.trim().is_empty()),
                quantity,
                note,
                stock_id: id,
            }
        })
        .collect();
    let page = TakePage {
        nav: nav(),
        registration_id: registration.id.to_string(),
        registrant: registration.registrant,
        dea_number: registration.dea_number,
        site: site.name,
        rows,
        business_time: typed.map(|t| t.business_time.clone()).unwrap_or_default(),
        taken_at: typed.map(|t| t.taken_at.clone()).unwrap_or_default(),
        error,
        error_field,
    };
    let status = refusal.as_ref().map(|(r, _)| r.status).unwrap_or(axum::http::StatusCode::OK);
    Ok((status, render(&page)).into_response())
}

/// The count form: every stock of the registration, with what the books say.
pub async fn take_form(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::RecordLedger)?;
    let reg = registration_id(&auth, &id)?;
    take_page(&state, &auth, reg, None, None).await
}

/// Records the inventory as counted; a refused one is shown again with
/// every number kept and the uncounted stock marked.
pub async fn take_submit(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    auth.require(Permission::RecordLedger)?;
    let reg = registration_id(&auth, &id)?;
    // Repeated fields (a row per stock): read as lists.
    let form: InventoryForm = match serde_html_form::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => {
            let r = Refusal::text(format!("The form could not be read: {e}."));
            return take_page(&state, &auth, reg, None, Some((r, Vec::new()))).await;
        }
    };
    let mut sent = Vec::new();
    let result = async {
        let tz = usecase::ledger::registration_time_zone(&state, reg).await?;
        let mut counts = Vec::new();
        for (row, stock) in form.stock_id.iter().enumerate() {
            let q = form.quantity.get(row).map(|v| v.trim()).unwrap_or_default();
            if q.is_empty() {
                continue;
            }
            let i = counts.len();
            sent.push(stock.clone());
            counts.push(CountBody {
                stock_id: stock.clone(),
                quantity: number(&format!("counts[{i}].quantity"), q)?,
                note: form.note.get(row).map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
            });
        }
        let body = InventoryBody {
            taken_at: local_instant("taken_at", &form.taken_at, &tz)?,
            business_time: BusinessTime::parse("business_time", form.business_time.trim())?,
            counts,
        };
        usecase::ledger::take_inventory(&state, &api_auth(&auth), reg, &body).await
    }
    .await;
    match result {
        Ok(inv) => Ok(Redirect::to(&format!("/ledger/inventories/{}", inv.id)).into_response()),
        Err(e) => {
            let r = Refusal::of(e).map_err(|e| ui_error(e, ledger_nav(&auth)))?;
            take_page(&state, &auth, reg, Some(&form), Some((r, sent))).await
        }
    }
}

/// One stock's line on the printed record.
struct RecordLine {
    label: String,
    form: String,
    units_per_container: String,
    counted: String,
    containers: String,
    books: String,
    difference: String,
    flagged: bool,
    note: String,
}

#[derive(Template)]
#[template(path = "ledger_inventory_record.html")]
struct RecordPage {
    nav: Option<Nav>,
    registration_id: String,
    registrant: String,
    dea_number: String,
    address: String,
    site: String,
    taken_at: String,
    business_time: &'static str,
    taken_by: String,
    recorded_at: String,
    lines: Vec<RecordLine>,
    printed: String,
}

/// The record of one biennial inventory, printable.
pub async fn record(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadLedger)?;
    let nav = || ledger_nav(&auth);
    let id: InventoryId = id
        .parse()
        .map_err(|_| ui_error(crate::error::AppError::NotFound(format!("no inventory with id {id}")), nav()))?;
    let r = usecase::ledger::inventory_record(&state, &api_auth(&auth), id).await.map_err(|e| ui_error(e, nav()))?;
    let tz = r.site.time_zone.tz();
    let tolerance = state.config.ledger.inventory.tolerance;
    let lines = r
        .inventory
        .counts
        .iter()
        .map(|c| {
            let (s, e) = (&c.stock, &c.entry);
            let books = e.detail.expected.unwrap_or(e.quantity);
            let difference = e.quantity - books;
            let containers = if s.units_per_container.0 > 0 {
                format!("{:.2}", e.quantity.0 as f64 / s.units_per_container.0 as f64)
            } else {
                String::new()
            };
            RecordLine {
                label: stock_label(s),
                form: s.form.clone(),
                units_per_container: format!("{} {}", s.units_per_container, s.unit),
                counted: format!("{} {} ({:.1} mg)", e.quantity, s.unit, e.quantity.units() * s.mg_per_unit),
                containers,
                books: format!("{books} {}", s.unit),
                difference: difference_words(difference, s.unit),
                flagged: kairos_domain::ledger::discrepancy(e.quantity, books, tolerance).is_some(),
                note: e.detail.narrative.clone().unwrap_or_default(),
            }
        })
        .collect();
    Ok(render(&RecordPage {
        nav: nav(),
        registration_id: r.registration.id.to_string(),
        registrant: r.registration.registrant,
        dea_number: r.registration.dea_number,
        address: r.registration.address,
        site: r.site.name,
        taken_at: when(r.inventory.taken_at, &tz),
        business_time: match r.inventory.business_time {
            BusinessTime::Opening => "opening of business",
            BusinessTime::Close => "close of business",
        },
        taken_by: r.taken_by,
        recorded_at: when(r.inventory.recorded_at, &tz),
        lines,
        printed: when(state.now(), &tz),
    }))
}
