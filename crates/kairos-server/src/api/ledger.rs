//! The controlled-substance ledger over HTTP: registrations, receipts and
//! the initial inventory, entries (waste, breakage, return, destruction,
//! theft/loss, counts, corrections) with witnesses who sign with their own
//! credentials, loss reporting, the reconciliation flags, and the
//! per-registration ledger and inventory reports (JSON or CSV).

use super::{field_id, path_id};
use crate::error::{AppError, AppResult};
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kairos_domain::ids::{ClientId, RegistrationId, StaffId, StockId};
use kairos_domain::ledger::{BusinessTime, CountType, EntryKind, InventoryStatus, Party, Quantity, Substance, Unit};
use kairos_domain::roles::Permission;
use kairos_store::ledger::{Entry, LossReport, PendingWaste, Registration, Stock, StockSpec};
use kairos_store::{Action, AuditEntry};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

// ---- registrations -----------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationBody {
    #[schema(format = Uuid)]
    pub site_id: String,
    /// Two letters and seven digits with a valid check digit.
    #[schema(pattern = "^\\s*[A-Za-z]{2}[0-9]{7}\\s*$")]
    pub dea_number: String,
    /// The registrant's name as on the DEA certificate.
    #[schema(value_type = kairos_domain::text::Text200)]
    pub registrant: String,
    /// The registered location.
    #[schema(value_type = kairos_domain::text::Text500)]
    pub address: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationView {
    #[serde(flatten)]
    pub registration: Registration,
}

/// The clinic's DEA registrations.
#[utoipa::path(get, path = "/ledger/registrations", tag = "ledger",
    responses((status = 200, body = [RegistrationView]), (status = 403, body = crate::error::Problem)))]
pub async fn list_registrations(
    State(state): State<AppState>,
    auth: Auth,
) -> AppResult<axum::Json<Vec<RegistrationView>>> {
    let regs = crate::usecase::ledger::registrations(&state, &auth).await?;
    Ok(axum::Json(regs.into_iter().map(|registration| RegistrationView { registration }).collect()))
}

/// Records a DEA registration (a registrant at a site).
#[utoipa::path(post, path = "/ledger/registrations", tag = "ledger", request_body = RegistrationBody,
    responses((status = 201, body = RegistrationView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_registration(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<RegistrationBody>,
) -> AppResult<(StatusCode, axum::Json<RegistrationView>)> {
    let registration = crate::usecase::ledger::register(&state, &auth, body).await?;
    Ok((StatusCode::CREATED, axum::Json(RegistrationView { registration })))
}

// ---- witnesses -----------------------------------------------------------------

/// A witness signs by giving their own e-mail and password on the
/// recording device; the password is checked like a sign-in (audited, with
/// the same lockout) and never stored.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WitnessSignature {
    pub email: String,
    pub password: String,
}

// ---- receipts and the initial inventory ------------------------------------------

/// The stock as printed on the container.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockBody {
    #[schema(format = Uuid)]
    pub registration_id: String,
    pub substance: Substance,
    /// National Drug Code, e.g. 0143-9508-10 (synthetic in tests).
    #[schema(value_type = kairos_domain::text::Text40)]
    pub ndc: String,
    /// Finished form, e.g. "50 mg/mL injection, 10 mL multi-dose vial".
    #[schema(value_type = kairos_domain::text::Text200)]
    pub form: String,
    pub unit: Unit,
    /// Strength: mg per mL (solution) or per device (nasal spray).
    #[schema(exclusive_minimum = 0, maximum = 1000000)]
    pub mg_per_unit: f64,
    /// Units per container, e.g. 10 (mL per vial) or 1 (device).
    #[schema(exclusive_minimum = 0, maximum = 1000000000, multiple_of = 0.001)]
    pub units_per_container: f64,
    #[schema(value_type = kairos_domain::text::Text60)]
    pub lot: String,
    #[schema(format = Date)]
    pub expires: Option<String>,
    /// Where it is kept, e.g. "Safe 1, med room".
    #[schema(value_type = Option<kairos_domain::text::OptionalText200>)]
    pub storage: Option<String>,
}

impl StockBody {
    pub(crate) fn spec(&self) -> AppResult<StockSpec> {
        Ok(StockSpec {
            registration_id: field_id("registration_id", &self.registration_id)?,
            substance: self.substance,
            ndc: self.ndc.clone(),
            form: self.form.clone(),
            unit: self.unit,
            mg_per_unit: self.mg_per_unit,
            units_per_container: Quantity::from_units("units_per_container", self.units_per_container)?,
            lot: self.lot.clone(),
            expires: self
                .expires
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| super::date("expires", s))
                .transpose()?,
            storage: kairos_domain::text::optional("storage", self.storage.as_deref(), 200)?,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    #[serde(flatten)]
    pub stock: StockBody,
    /// Containers received.
    #[schema(minimum = 1, maximum = 100000)]
    pub containers: u32,
    /// Supplier's name, address and DEA number.
    pub supplier: Party,
    #[schema(value_type = Option<kairos_domain::text::OptionalText100>)]
    pub invoice: Option<String>,
    /// Date and time received (default now).
    #[schema(format = DateTime)]
    pub received_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub stock: Stock,
    pub entry: Entry,
}

/// Receives stock from a supplier.
#[utoipa::path(post, path = "/ledger/receipts", tag = "ledger", request_body = ReceiptBody,
    responses((status = 201, body = EntryView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn receive(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<ReceiptBody>,
) -> AppResult<(StatusCode, axum::Json<EntryView>)> {
    let (stock, entry) = crate::usecase::ledger::receive(&state, &auth, body).await?;
    Ok((StatusCode::CREATED, axum::Json(EntryView { stock, entry })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitialInventoryBody {
    #[serde(flatten)]
    pub stock: StockBody,
    /// What is on hand, in the stock's unit (opened containers may be
    /// estimated: 21 CFR 1304.11(e)).
    #[schema(minimum = 0, maximum = 1000000000, multiple_of = 0.001)]
    pub quantity: f64,
    pub business_time: BusinessTime,
    #[schema(format = DateTime)]
    pub counted_at: Option<String>,
}

/// Opens the books on stock already held, with its initial inventory.
#[utoipa::path(post, path = "/ledger/initial-inventory", tag = "ledger", request_body = InitialInventoryBody,
    responses((status = 201, body = EntryView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn initial_inventory(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<InitialInventoryBody>,
) -> AppResult<(StatusCode, axum::Json<EntryView>)> {
    let (stock, entry) = crate::usecase::ledger::open_with_inventory(&state, &auth, body).await?;
    Ok((StatusCode::CREATED, axum::Json(EntryView { stock, entry })))
}

// ---- stock and entries ----------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StockParams {
    #[param(format = Uuid)]
    pub registration: Option<String>,
}

/// Stock on the books, with balances.
#[utoipa::path(get, path = "/ledger/stock", tag = "ledger", params(StockParams),
    responses((status = 200, body = [Stock]), (status = 403, body = crate::error::Problem)))]
pub async fn list_stock(
    State(state): State<AppState>,
    auth: Auth,
    Query(p): Query<StockParams>,
) -> AppResult<axum::Json<Vec<Stock>>> {
    auth.require(Permission::ReadLedger)?;
    let reg = super::opt_query_id("registration", p.registration.as_deref())?;
    Ok(axum::Json(state.store.stocks(reg).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StockView {
    pub stock: Stock,
    /// Every entry in order, with the balance after each.
    pub entries: Vec<Entry>,
    /// The balance recomputed from the entries equals the book balance.
    pub reconciles: bool,
}

/// Recomputes the balance from the entries.
pub fn recomputed(entries: &[Entry]) -> Quantity {
    entries.iter().fold(Quantity::ZERO, |b, e| b + e.delta)
}

/// One stock with its entries.
#[utoipa::path(get, path = "/ledger/stock/{id}", tag = "ledger", params(("id" = String, Path)),
    responses((status = 200, body = StockView), (status = 404, body = crate::error::Problem)))]
pub async fn get_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<StockView>> {
    let (stock, entries) = crate::usecase::ledger::stock(&state, &auth, path_id("stock", &id)?).await?;
    let reconciles = recomputed(&entries) == stock.balance;
    Ok(axum::Json(StockView { stock, entries, reconciles }))
}

/// A read of entries naming clients is a read of each client's record.
async fn audit_clients(state: &AppState, auth: &Auth, entries: &[Entry], what: &'static str) -> AppResult<()> {
    let mut seen: Vec<ClientId> = entries.iter().filter_map(|e| e.client_id).collect();
    seen.sort();
    seen.dedup();
    let rows: Vec<AuditEntry> = seen
        .iter()
        .map(|c| AuditEntry::new(Action::Read, what, c).client(*c).detail("controlled-substance ledger"))
        .collect();
    if !rows.is_empty() {
        state.store.audit_reads(&auth.actor(), &rows).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryBody {
    /// waste, breakage, return, destruction, theft_loss, count or correction.
    pub kind: EntryKind,
    /// In the stock's unit. Counts: what was counted. Corrections: signed
    /// (negative takes away).
    #[schema(minimum = -1000000000, maximum = 1000000000, multiple_of = 0.001)]
    pub quantity: f64,
    #[schema(format = DateTime)]
    pub occurred_at: Option<String>,
    /// Waste: the administration it follows. Correction: the entry it corrects.
    #[schema(format = Uuid)]
    pub related_id: Option<String>,
    pub count_type: Option<CountType>,
    pub business_time: Option<BusinessTime>,
    /// Waste, breakage, destruction: how it was disposed of.
    #[schema(value_type = Option<kairos_domain::text::OptionalText300>)]
    pub method: Option<String>,
    /// Breakage, theft/loss, correction: what happened.
    #[schema(value_type = Option<kairos_domain::text::OptionalText4000>)]
    pub narrative: Option<String>,
    /// Destruction: the DEA Form 41 reference.
    #[schema(value_type = Option<kairos_domain::text::OptionalText100>)]
    pub form_reference: Option<String>,
    /// Return: who received it.
    pub recipient: Option<Party>,
    #[serde(default)]
    pub witnesses: Vec<WitnessSignature>,
}

/// Records waste, breakage, a return, destruction, theft or loss, a count or
/// a correction. Witnesses sign with their own credentials.
#[utoipa::path(post, path = "/ledger/stock/{id}/entries", tag = "ledger", params(("id" = String, Path)), request_body = EntryBody,
    responses((status = 201, body = Entry), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_entry(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<EntryBody>,
) -> AppResult<(StatusCode, axum::Json<Entry>)> {
    let entry = crate::usecase::ledger::record_entry(&state, &auth, path_id("stock", &id)?, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(entry)))
}

// ---- losses -------------------------------------------------------------------

/// Thefts and losses with their reporting steps.
#[utoipa::path(get, path = "/ledger/losses", tag = "ledger",
    responses((status = 200, body = [LossReport]), (status = 403, body = crate::error::Problem)))]
pub async fn list_losses(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<LossReport>>> {
    auth.require(Permission::ReadLedger)?;
    Ok(axum::Json(state.store.loss_reports().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifiedBody {
    /// When the written notice went to the DEA Field Division (default now).
    #[schema(format = DateTime)]
    pub at: Option<String>,
}

/// Records the written notice to the DEA Field Division.
#[utoipa::path(post, path = "/ledger/losses/{id}/notified", tag = "ledger", params(("id" = String, Path)), request_body = NotifiedBody,
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn loss_notified(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<NotifiedBody>,
) -> AppResult<StatusCode> {
    crate::usecase::ledger::loss_notified(&state, &auth, path_id("loss report", &id)?, body.at.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Form106Body {
    #[schema(value_type = kairos_domain::text::Text100)]
    pub reference: String,
}

/// Records DEA Form 106 as filed.
#[utoipa::path(post, path = "/ledger/losses/{id}/form106", tag = "ledger", params(("id" = String, Path)), request_body = Form106Body,
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn loss_form106(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<Form106Body>,
) -> AppResult<StatusCode> {
    crate::usecase::ledger::form106_filed(&state, &auth, path_id("loss report", &id)?, &body.reference).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- reconciliation --------------------------------------------------------------

/// Everything that needs someone's attention in the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reconciliation {
    /// Counts that differ from the books by more than the tolerance.
    pub discrepancies: Vec<(Stock, Entry)>,
    /// Doses drawn but not yet given or wasted (waste to witness).
    pub pending_waste: Vec<PendingWaste>,
    /// Dosing sessions with no administration on the books.
    pub unledgered_sessions: Vec<kairos_store::ledger::Unledgered>,
    /// Stocks whose entries do not add up to the book balance.
    pub unbalanced: Vec<Stock>,
    /// Thefts and losses whose DEA notice or Form 106 is outstanding.
    pub open_losses: Vec<LossReport>,
    /// Per registration, where the biennial inventory stands.
    pub inventories: Vec<(Registration, InventoryStatus)>,
}

pub async fn reconciliation(state: &AppState) -> AppResult<Reconciliation> {
    let mut unbalanced = Vec::new();
    for s in state.store.stocks(None).await? {
        let entries = state.store.entries(s.id).await?;
        if recomputed(&entries) != s.balance {
            unbalanced.push(s);
        }
    }
    let mut inventories = Vec::new();
    for r in state.store.registrations().await? {
        // Each registration's dates are its site's.
        let status = crate::usecase::ledger::inventory_status(state, &r).await?;
        inventories.push((r, status));
    }
    Ok(Reconciliation {
        discrepancies: state.store.discrepancies(&state.config.ledger).await?,
        pending_waste: state.store.pending_waste().await?,
        unledgered_sessions: state.store.unledgered_sessions().await?,
        unbalanced,
        open_losses: state.store.loss_reports().await?.into_iter().filter(|l| l.form106_at.is_none()).collect(),
        inventories,
    })
}

/// What needs attention: discrepancies, waste to witness, dosing sessions
/// not on the books, unbalanced stock, open losses, inventories due.
#[utoipa::path(get, path = "/ledger/reconciliation", tag = "ledger",
    responses((status = 200, body = Reconciliation), (status = 403, body = crate::error::Problem)))]
pub async fn get_reconciliation(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Reconciliation>> {
    auth.require(Permission::ReadLedger)?;
    let r = reconciliation(&state).await?;
    let entries: Vec<Entry> = r.pending_waste.iter().map(|p| p.administration.clone()).collect();
    audit_clients(&state, &auth, &entries, "ledger").await?;
    let unledgered: Vec<AuditEntry> = r
        .unledgered_sessions
        .iter()
        .map(|u| {
            AuditEntry::new(Action::List, "dosing_session", u.session_id).client(u.client_id).detail("not on the books")
        })
        .collect();
    if !unledgered.is_empty() {
        state.store.audit_reads(&auth.actor(), &unledgered).await?;
    }
    Ok(axum::Json(r))
}

// ---- reports ------------------------------------------------------------------

/// One line of the ledger report, ready to print or export.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportLine {
    pub substance: String,
    pub ndc: String,
    pub form: String,
    pub lot: String,
    pub seq: i64,
    /// Local date and time at the registered location.
    pub date: String,
    pub kind: String,
    pub quantity: String,
    pub unit: String,
    pub mg: String,
    pub balance_after: String,
    pub patient_name: String,
    pub patient_address: String,
    /// The client of an administration (for recording a disclosure).
    #[serde(skip)]
    pub client_id: Option<kairos_domain::ids::ClientId>,
    pub recorded_by: String,
    pub witnesses: String,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerReport {
    pub registration: Registration,
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    pub retention_years: u32,
    pub lines: Vec<ReportLine>,
    /// Per stock: the balance at the end of the period.
    pub closing: Vec<(String, String)>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// First day (default: 30 days ago), clinic-local.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last day, inclusive (default: today).
    #[param(format = Date)]
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

fn detail_text(e: &Entry) -> String {
    let d = &e.detail;
    let mut parts = Vec::new();
    if let Some(p) = &d.party {
        parts.push(format!("{} ({}), {}", p.name, p.dea_number, p.address));
    }
    if let Some(c) = d.containers {
        parts.push(format!("{c} container(s)"));
    }
    if let Some(i) = &d.invoice {
        parts.push(format!("invoice {i}"));
    }
    if let Some(x) = d.drawn {
        parts.push(format!("drawn {x}, wasted {}", x - e.quantity));
    }
    if let Some(t) = d.count_type {
        parts.push(format!("{} count at {}", t, d.business_time.map(|b| b.as_str()).unwrap_or("?")));
    }
    if let Some(x) = d.expected
        && d.count_type != Some(CountType::Initial)
    {
        parts.push(format!("books {x}, difference {}", e.quantity - x));
    }
    for s in [&d.form_reference, &d.method, &d.narrative].into_iter().flatten() {
        parts.push(s.clone());
    }
    if let Some(r) = e.related_id {
        parts.push(format!("re entry {r}"));
    }
    parts.join("; ")
}

/// Builds the ledger report of a registration over clinic-local days.
pub async fn ledger_report(
    state: &AppState,
    auth: &Auth,
    reg: RegistrationId,
    from: Option<&str>,
    to: Option<&str>,
) -> AppResult<LedgerReport> {
    auth.require(Permission::ReadLedger)?;
    let registration = state.store.registration(reg).await?;
    let site = state.store.get_site(registration.site_id).await?;
    let tz = site.time_zone.tz();
    let today = state.now().to_zoned(tz.clone()).date();
    let to_day = to.filter(|s| !s.trim().is_empty()).map(|s| super::date("to", s)).transpose()?.unwrap_or(today);
    let from_day = from
        .filter(|s| !s.trim().is_empty())
        .map(|s| super::date("from", s))
        .transpose()?
        .unwrap_or_else(|| to_day.saturating_sub(jiff::Span::new().days(30)));
    if from_day > to_day {
        return Err(AppError::invalid("from", "from must be on or before to"));
    }
    let start = from_day.to_zoned(tz.clone()).map_err(|e| AppError::invalid("from", e.to_string()))?.timestamp();
    let end = to_day
        .tomorrow()
        .and_then(|d| d.to_zoned(tz.clone()))
        .map_err(|e| AppError::invalid("to", e.to_string()))?
        .timestamp();
    let entries = state.store.registration_entries(reg, start, end).await?;
    let stocks: HashMap<StockId, Stock> = state.store.stocks(Some(reg)).await?.into_iter().map(|s| (s.id, s)).collect();
    let mut staff_ids: Vec<StaffId> =
        entries.iter().flat_map(|e| std::iter::once(e.recorded_by).chain(e.witnesses.iter().copied())).collect();
    staff_ids.sort();
    staff_ids.dedup();
    let names = state.store.staff_names(&staff_ids).await?;
    // The client's name and address as each entry recorded them, not the
    // live record (21 CFR 1304.22(c)): an old entry reads the same after the
    // client moves.
    let entry_ids: Vec<_> = entries.iter().filter(|e| e.client_id.is_some()).map(|e| e.id).collect();
    let clients = state.store.entry_clients(&entry_ids).await?;
    audit_clients(state, auth, &entries, "ledger_report").await?;
    let name = |s: &StaffId| names.get(s).cloned().unwrap_or_else(|| s.to_string());
    let mut closing: HashMap<StockId, Quantity> = HashMap::new();
    let mut lines = Vec::with_capacity(entries.len());
    for e in &entries {
        let Some(s) = stocks.get(&e.stock_id) else { continue };
        closing.insert(s.id, e.balance_after);
        let client = clients.get(&e.id);
        lines.push(ReportLine {
            substance: s.substance.label().to_string(),
            ndc: s.ndc.clone(),
            form: s.form.clone(),
            lot: s.lot.clone(),
            seq: e.seq,
            date: e.occurred_at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string(),
            kind: e.kind.label().to_string(),
            quantity: e.quantity.to_string(),
            unit: s.unit.as_str().to_string(),
            mg: format!("{:.1}", e.quantity.units() * s.mg_per_unit),
            balance_after: e.balance_after.to_string(),
            patient_name: client.map(|c| c.name.clone()).unwrap_or_default(),
            client_id: e.client_id,
            patient_address: client
                .map(|c| c.address.clone().unwrap_or_else(|| "(no address on file)".into()))
                .unwrap_or_default(),
            recorded_by: name(&e.recorded_by),
            witnesses: e.witnesses.iter().map(name).collect::<Vec<_>>().join(", "),
            detail: detail_text(e),
        });
    }
    let mut closing: Vec<(String, String)> = closing
        .into_iter()
        .filter_map(|(id, q)| {
            stocks.get(&id).map(|s| (format!("{} NDC {} lot {}", s.substance, s.ndc, s.lot), format!("{q} {}", s.unit)))
        })
        .collect();
    closing.sort();
    Ok(LedgerReport {
        registration,
        from: from_day.to_string(),
        to: to_day.to_string(),
        retention_years: state.config.ledger.retention.years,
        lines,
        closing,
    })
}

/// The report as CSV (one row per entry; a header row first).
/// Free text (names, addresses, lots, notes) that a spreadsheet would run as
/// a formula is written as text (`spreadsheet::cell`).
pub fn report_csv(r: &LedgerReport) -> AppResult<String> {
    crate::spreadsheet::rows_to_csv(&r.lines).map_err(|e| AppError::Internal(format!("writing CSV: {e}")))
}

/// The ledger of one DEA registration over a period: every receipt,
/// administration (patient name and address), waste, disposal, count and
/// correction, with the running balance. `?format=csv` for a spreadsheet.
#[utoipa::path(get, path = "/ledger/registrations/{id}/report", tag = "ledger", params(("id" = String, Path), ReportParams),
    responses((status = 200, body = LedgerReport), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn get_report(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(p): Query<ReportParams>,
) -> AppResult<Response> {
    let r = ledger_report(&state, &auth, path_id("registration", &id)?, p.from.as_deref(), p.to.as_deref()).await?;
    match p.format.as_deref().unwrap_or("json") {
        "json" => Ok(axum::Json(r).into_response()),
        "csv" => {
            let body = report_csv(&r)?;
            let name = format!("attachment; filename=\"ledger-{}-{}-{}.csv\"", r.registration.dea_number, r.from, r.to);
            Ok((
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)],
                body,
            )
                .into_response())
        }
        _ => Err(AppError::bad("format", "format is json or csv")),
    }
}

/// One stock's line in an inventory.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InventoryLine {
    pub substance: String,
    pub ndc: String,
    pub form: String,
    pub lot: String,
    pub expires: Option<String>,
    pub storage: Option<String>,
    pub on_hand: String,
    pub unit: String,
    pub mg: String,
    pub containers: String,
    /// The last count and when.
    pub last_count: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InventoryReport {
    pub registration: Registration,
    pub status: InventoryStatus,
    pub lines: Vec<InventoryLine>,
}

pub async fn inventory_report(state: &AppState, auth: &Auth, reg: RegistrationId) -> AppResult<InventoryReport> {
    auth.require(Permission::ReadLedger)?;
    let registration = state.store.registration(reg).await?;
    let tz = state.store.get_site(registration.site_id).await?.time_zone.tz();
    let status = crate::usecase::ledger::inventory_status(state, &registration).await?;
    let mut lines = Vec::new();
    for s in state.store.stocks(Some(reg)).await? {
        let entries = state.store.entries(s.id).await?;
        let last_count = entries.iter().rev().find(|e| e.kind == EntryKind::Count).map(|e| {
            format!("{} {} on {}", e.quantity, s.unit, e.occurred_at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M"))
        });
        let containers = if s.units_per_container.0 > 0 {
            format!("{:.2}", s.balance.0 as f64 / s.units_per_container.0 as f64)
        } else {
            String::new()
        };
        lines.push(InventoryLine {
            substance: s.substance.label().into(),
            ndc: s.ndc.clone(),
            form: s.form.clone(),
            lot: s.lot.clone(),
            expires: s.expires.map(|d| d.to_string()),
            storage: s.storage.clone(),
            on_hand: s.balance.to_string(),
            unit: s.unit.as_str().into(),
            mg: format!("{:.1}", s.balance.units() * s.mg_per_unit),
            containers,
            last_count,
        });
    }
    Ok(InventoryReport { registration, status, lines })
}

/// The book inventory of a registration: what is on hand per stock, the
/// last count, and where the biennial inventory stands.
#[utoipa::path(get, path = "/ledger/registrations/{id}/inventory", tag = "ledger", params(("id" = String, Path)),
    responses((status = 200, body = InventoryReport), (status = 404, body = crate::error::Problem)))]
pub async fn get_inventory(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<InventoryReport>> {
    Ok(axum::Json(inventory_report(&state, &auth, path_id("registration", &id)?).await?))
}
