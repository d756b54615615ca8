//! Opening the books of a stock: a receipt from a supplier, or the initial
//! inventory of what is on hand.

use super::{
    Field, Fields, Kept, PageResult, Refusal, form_tz, kept, ledger_nav, local_instant, number, opt, opts, text,
};
use crate::api::ledger as api;
use crate::error::AppError;
use crate::state::AppState;
use crate::ui::{Nav, UiAuth, api_auth, render, ui_error};
use crate::usecase;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use kairos_domain::ids::StockId;
use kairos_domain::ledger::{BusinessTime, Party, Substance, Unit};
use kairos_domain::roles::Permission;
use serde::Deserialize;
use std::collections::HashMap;

/// A receipt or the initial inventory of a stock, as typed.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct StockOpenForm {
    pub registration_id: String,
    pub substance: String,
    pub ndc: String,
    pub form: String,
    pub unit: String,
    pub mg_per_unit: String,
    pub units_per_container: String,
    pub lot: String,
    pub expires: String,
    pub storage: String,
    // A receipt:
    pub containers: String,
    pub supplier_name: String,
    pub supplier_address: String,
    pub supplier_dea_number: String,
    pub invoice: String,
    pub received_at: String,
    // The initial inventory:
    pub quantity: String,
    pub business_time: String,
    pub counted_at: String,
}

#[derive(Template)]
#[template(path = "ledger_stock_form.html")]
struct StockForm {
    nav: Option<Nav>,
    title: &'static str,
    intro: &'static str,
    action: &'static str,
    button: &'static str,
    fields: Vec<Field>,
    no_registrations: bool,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RegQuery {
    registration: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Opening {
    Receipt,
    Initial,
}

async fn stock_form(
    state: &AppState,
    auth: &UiAuth,
    kind: Opening,
    mut values: Kept,
    refusal: Option<Refusal>,
) -> PageResult {
    let nav = || ledger_nav(auth);
    let regs = usecase::ledger::registrations(state, &api_auth(auth)).await.map_err(|e| ui_error(e, nav()))?;
    let sites: HashMap<_, _> = usecase::directory::sites(state)
        .await
        .map_err(|e| ui_error(e, nav()))?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    if let Some(r) = values.remove("registration") {
        values.entry("registration_id".into()).or_insert(r);
    }
    let status = refusal.as_ref().map(|r| r.status).unwrap_or(StatusCode::OK);
    let error_field = refusal.as_ref().and_then(|r| r.field.clone());
    let mut f = Fields::new("stock", Some(&values), error_field.as_deref());
    f.add("registration_id", "DEA registration", "select").required().options(
        regs.iter()
            .map(|r| {
                (
                    r.id.to_string(),
                    format!(
                        "{} · {} · {}",
                        r.dea_number,
                        r.registrant,
                        sites.get(&r.site_id).cloned().unwrap_or_default()
                    ),
                )
            })
            .collect(),
    );
    f.add("substance", "Substance", "select")
        .required()
        .options(opts(Substance::ALL, Substance::as_str, |s| format!("{} (Schedule III)", s.label())));
    f.add("ndc", "NDC (National Drug Code)", "text").required().hint("As printed on the container, e.g. 0143-9508-10");
    f.add("form", "Finished form", "text").required().hint("e.g. 50 mg/mL injection, 10 mL multi-dose vial");
    f.add("unit", "Counted in", "select").required().options(vec![
        (Unit::Ml.as_str().into(), "mL (solution)".into()),
        (Unit::Device.as_str().into(), "devices (nasal spray)".into()),
    ]);
    f.add("mg_per_unit", "Strength: mg per mL, or per device", "number").required();
    f.add("units_per_container", "Units per container (mL per vial, or devices per pack)", "number").required();
    f.add("lot", "Lot", "text").required();
    f.add("expires", "Expiry date", "date");
    f.add("storage", "Where it is kept", "text").hint("e.g. Safe 1, med room");
    let (title, intro, action, button) = match kind {
        Opening::Receipt => {
            f.add("containers", "Containers received", "number").required().step("1");
            f.add("supplier_name", "Supplier's name", "text").required();
            f.add("supplier_address", "Supplier's address", "textarea").required();
            f.add("supplier_dea_number", "Supplier's DEA number", "text").required();
            f.add("invoice", "Invoice or packing-slip number", "text");
            f.add("received_at", "Date and time received", "datetime-local").hint("Leave empty for now");
            (
                "Receive stock",
                "Record stock delivered by a supplier, as printed on the containers and the invoice.",
                "/ledger/receive",
                "Receive stock",
            )
        }
        Opening::Initial => {
            f.add("quantity", "Quantity on hand (in the unit above)", "number")
                .required()
                .step("0.001")
                .hint("Opened containers may be estimated (21 CFR 1304.11(e))");
            f.add("business_time", "Taken at", "select").required().options(vec![
                (BusinessTime::Opening.as_str().into(), "Opening of business".into()),
                (BusinessTime::Close.as_str().into(), "Close of business".into()),
            ]);
            f.add("counted_at", "Date and time counted", "datetime-local").hint("Leave empty for now");
            (
                "Initial inventory",
                "Open the books on stock already held: one entry per lot, counted on the day the registrant first \
                 handles it.",
                "/ledger/initial-inventory",
                "Record the initial inventory",
            )
        }
    };
    let page = StockForm {
        nav: nav(),
        title,
        intro,
        action,
        button,
        fields: f.fields,
        no_registrations: regs.is_empty(),
        error: refusal.map(|r| r.message),
    };
    Ok((status, render(&page)).into_response())
}

fn stock_body(v: &StockOpenForm) -> Result<api::StockBody, AppError> {
    Ok(api::StockBody {
        registration_id: text(&v.registration_id),
        substance: Substance::parse("substance", v.substance.trim())?,
        ndc: text(&v.ndc),
        form: text(&v.form),
        unit: Unit::parse("unit", v.unit.trim())?,
        mg_per_unit: number("mg_per_unit", &v.mg_per_unit)?,
        units_per_container: number("units_per_container", &v.units_per_container)?,
        lot: text(&v.lot),
        expires: opt(&v.expires),
        storage: opt(&v.storage),
    })
}

async fn open_stock(state: &AppState, auth: &UiAuth, kind: Opening, v: &StockOpenForm) -> Result<StockId, AppError> {
    let stock = stock_body(v)?;
    let tz = form_tz(state, &stock.registration_id).await?;
    let view = match kind {
        Opening::Receipt => {
            let c = v.containers.trim();
            let containers: u32 = c
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| AppError::invalid("containers", "a whole number of containers, 1 or more"))?;
            let body = api::ReceiptBody {
                stock,
                containers,
                supplier: Party {
                    name: text(&v.supplier_name),
                    address: text(&v.supplier_address),
                    dea_number: text(&v.supplier_dea_number),
                },
                invoice: opt(&v.invoice),
                received_at: local_instant("received_at", &v.received_at, &tz)?,
            };
            crate::usecase::ledger::receive(state, &api_auth(auth), body).await?
        }
        Opening::Initial => {
            let body = api::InitialInventoryBody {
                stock,
                quantity: number("quantity", &v.quantity)?,
                business_time: BusinessTime::parse("business_time", v.business_time.trim())?,
                counted_at: local_instant("counted_at", &v.counted_at, &tz)?,
            };
            crate::usecase::ledger::open_with_inventory(state, &api_auth(auth), body).await?
        }
    };
    Ok(view.0.id)
}

pub async fn receive_form(
    State(state): State<AppState>,
    auth: UiAuth,
    axum::extract::Query(q): axum::extract::Query<RegQuery>,
) -> PageResult {
    auth.require(Permission::RecordLedger)?;
    let values = q.registration.map(|r| Kept::from([("registration_id".to_string(), r)])).unwrap_or_default();
    stock_form(&state, &auth, Opening::Receipt, values, None).await
}

pub async fn initial_form(
    State(state): State<AppState>,
    auth: UiAuth,
    axum::extract::Query(q): axum::extract::Query<RegQuery>,
) -> PageResult {
    auth.require(Permission::RecordLedger)?;
    let values = q.registration.map(|r| Kept::from([("registration_id".to_string(), r)])).unwrap_or_default();
    stock_form(&state, &auth, Opening::Initial, values, None).await
}

async fn opening_submit(state: AppState, auth: UiAuth, kind: Opening, form: StockOpenForm) -> PageResult {
    auth.require(Permission::RecordLedger)?;
    match open_stock(&state, &auth, kind, &form).await {
        Ok(id) => Ok(Redirect::to(&format!("/ledger/stock/{id}")).into_response()),
        Err(e) => {
            let r = Refusal::of(e).map_err(|e| ui_error(e, ledger_nav(&auth)))?;
            stock_form(&state, &auth, kind, kept(&form), Some(r)).await
        }
    }
}

pub async fn receive_submit(
    State(state): State<AppState>,
    auth: UiAuth,
    Form(form): Form<StockOpenForm>,
) -> PageResult {
    opening_submit(state, auth, Opening::Receipt, form).await
}

pub async fn initial_submit(
    State(state): State<AppState>,
    auth: UiAuth,
    Form(form): Form<StockOpenForm>,
) -> PageResult {
    opening_submit(state, auth, Opening::Initial, form).await
}
