//! The controlled-substance ledger pages (registrations, stock, numbered
//! entries with witnesses who sign on the same tablet, loss reporting, the
//! printable ledger and inventory reports) and the esketamine REMS Patient
//! Monitoring Form. The pages call the same functions as the JSON API, so
//! the rules and the audit of client reads are the API's.

use super::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::api::dosing::{RemsView, rems_view};
use crate::api::ledger as api;
use crate::error::AppError;
use crate::extract::Json;
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kairos_domain::ids::{ClientId, DosingSessionId, LedgerEntryId, RegistrationId, StaffId, StockId};
use kairos_domain::ledger::{BusinessTime, CountType, EntryKind, InventoryStatus, Party, Quantity, Substance, Unit};
use kairos_domain::roles::Permission;
use kairos_store::ledger::{Entry, Stock};
use serde::Deserialize;
use std::collections::HashMap;

type PageResult = Result<Response, Response>;
/// What a refused form shows again, by field name (never a password).
type Kept = std::collections::BTreeMap<String, String>;

fn ledger_nav(auth: &UiAuth) -> Option<Nav> {
    Some(auth.nav("/ledger"))
}

// ---- refused forms ------------------------------------------------------------

/// A form the rules refused: shown again with the values kept and a message
/// naming the field in words.
struct Refusal {
    status: StatusCode,
    field: Option<String>,
    message: String,
}

impl Refusal {
    fn of(e: AppError) -> Result<Refusal, AppError> {
        let status = e.status();
        let (field, detail) = match e {
            AppError::Unprocessable { field, detail } | AppError::BadRequest { field, detail } => (field, detail),
            AppError::Conflict { field, detail } => (Some(field), detail),
            other => return Err(other),
        };
        let message = match &field {
            Some(f) => {
                let rest = detail.strip_prefix(&format!("{f}: ")).unwrap_or(&detail);
                format!("{}: {rest}", field_label(f))
            }
            None => detail,
        };
        Ok(Refusal { status, field, message })
    }

    fn text(message: impl Into<String>) -> Refusal {
        Refusal { status: StatusCode::UNPROCESSABLE_ENTITY, field: None, message: message.into() }
    }
}

/// The words on the form for a field the API names.
fn field_label(field: &str) -> String {
    let label = match field {
        "site_id" => "Site",
        "registration_id" | "registration" => "Registration",
        "dea_number" => "DEA number",
        "registrant" => "Registrant",
        "address" => "Registered address",
        "substance" => "Substance",
        "ndc" => "NDC",
        "form" => "Finished form",
        "unit" => "Unit",
        "mg_per_unit" => "Strength (mg per unit)",
        "units_per_container" => "Units per container",
        "lot" => "Lot",
        "expires" => "Expiry date",
        "storage" => "Storage",
        "containers" => "Containers received",
        "supplier" => "Supplier",
        "supplier.name" => "Supplier's name",
        "supplier.address" => "Supplier's address",
        "supplier.dea_number" => "Supplier's DEA number",
        "invoice" => "Invoice",
        "received_at" => "Date and time received",
        "counted_at" => "Date and time counted",
        "occurred_at" => "Date and time",
        "quantity" => "Quantity",
        "business_time" => "Opening or close of business",
        "count_type" => "Kind of count",
        "related_id" => "Administration or entry",
        "corrects" => "Entry corrected",
        "method" => "Method",
        "narrative" => "What happened",
        "form_reference" => "DEA Form 41 reference",
        "recipient" => "Recipient",
        "recipient.name" => "Recipient's name",
        "recipient.address" => "Recipient's address",
        "recipient.dea_number" => "Recipient's DEA number",
        "witness" | "witnesses" => "Witnesses",
        "witnesses[0]" => "Witness 1",
        "witnesses[1]" => "Witness 2",
        "kind" => "Kind of entry",
        "reference" | "form106_reference" => "Form 106 reference",
        "at" => "Date and time notified",
        "loss_report" => "Loss report",
        "ready_after_minutes" => "Ready to leave after (minutes)",
        "confirmation" => "REMS confirmation",
        "submitted_at" => "REMS form",
        "route" => "Route",
        "from" => "From",
        "to" => "To",
        "balance" => "Balance",
        other => return other.replace(['_', '.'], " "),
    };
    label.to_string()
}

/// The form input an error field points at.
fn input_name(field: &str) -> String {
    match field {
        "corrects" => "related_id".into(),
        "registration" => "registration_id".into(),
        f => f.replace('.', "_"),
    }
}

// ---- form fields ----------------------------------------------------------------

/// One labelled input of a form.
pub struct Field {
    pub id: String,
    pub name: &'static str,
    pub label: String,
    /// text, number, date, datetime-local, select, textarea.
    pub input: &'static str,
    pub value: String,
    pub options: Vec<(String, String)>,
    pub required: bool,
    pub step: &'static str,
    pub hint: String,
    pub invalid: bool,
}

impl Field {
    fn required(&mut self) -> &mut Self {
        self.required = true;
        self
    }
    fn step(&mut self, s: &'static str) -> &mut Self {
        self.step = s;
        self
    }
    fn hint(&mut self, h: impl Into<String>) -> &mut Self {
        self.hint = h.into();
        self
    }
    fn options(&mut self, o: Vec<(String, String)>) -> &mut Self {
        if self.value.is_empty()
            && let Some((v, _)) = o.first()
        {
            self.value = v.clone();
        }
        self.options = o;
        self
    }
}

/// A witness signing on this device: e-mail and password.
pub struct Witness {
    pub n: usize,
    pub id: String,
    pub email: String,
    pub required: bool,
    pub invalid: bool,
}

struct Fields<'a> {
    prefix: &'static str,
    values: Option<&'a Kept>,
    error_field: Option<&'a str>,
    fields: Vec<Field>,
}

impl<'a> Fields<'a> {
    fn new(prefix: &'static str, values: Option<&'a Kept>, error_field: Option<&'a str>) -> Fields<'a> {
        Fields { prefix, values, error_field, fields: Vec::new() }
    }

    fn add(&mut self, name: &'static str, label: impl Into<String>, input: &'static str) -> &mut Field {
        let invalid = self.error_field.is_some_and(|e| input_name(e) == name);
        self.fields.push(Field {
            id: format!("{}-{}", self.prefix, name.replace('_', "-")),
            name,
            label: label.into(),
            input,
            value: self.values.and_then(|v| v.get(name)).cloned().unwrap_or_default(),
            options: Vec::new(),
            required: false,
            step: "any",
            hint: String::new(),
            invalid,
        });
        let last = self.fields.len() - 1;
        &mut self.fields[last]
    }

    fn witnesses(&self, n: usize, required: usize) -> Vec<Witness> {
        (0..n)
            .map(|i| Witness {
                n: i + 1,
                id: format!("{}-w{i}", self.prefix),
                email: self.values.and_then(|v| v.get(&format!("witness_{i}_email"))).cloned().unwrap_or_default(),
                required: i < required,
                invalid: self
                    .error_field
                    .is_some_and(|e| e == format!("witnesses[{i}]") || e == "witness" || e == "witnesses"),
            })
            .collect()
    }
}

fn opts<T: Copy>(all: &[T], value: impl Fn(T) -> &'static str, label: impl Fn(T) -> String) -> Vec<(String, String)> {
    all.iter().map(|&x| (value(x).to_string(), label(x))).collect()
}

/// The submitted values worth showing again (never a password).
fn kept<T: serde::Serialize>(form: &T) -> Kept {
    match serde_json::to_value(form) {
        Ok(serde_json::Value::Object(m)) => m
            .into_iter()
            .filter(|(k, _)| !k.contains("password"))
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
            .collect(),
        _ => Kept::new(),
    }
}

fn text(v: &str) -> String {
    v.trim().to_string()
}

fn opt(v: &str) -> Option<String> {
    Some(text(v)).filter(|s| !s.is_empty())
}

fn number(field: &str, v: &str) -> Result<f64, AppError> {
    let s = v.trim();
    if s.is_empty() {
        return Err(AppError::invalid(field, "required: a number such as 2.5"));
    }
    s.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| AppError::invalid(field, format!("`{s}` is not a number (use a point for decimals, e.g. 2.5)")))
}

/// A `datetime-local` value read in the site's time zone, as an RFC 3339
/// instant for the API; empty means now.
fn local_instant(field: &str, v: &str, tz: &TimeZone) -> Result<Option<String>, AppError> {
    let Some(s) = opt(v) else { return Ok(None) };
    let dt: jiff::civil::DateTime = s
        .parse()
        .map_err(|_| AppError::invalid(field, format!("`{s}` is not a date and time such as 2026-03-01T14:30")))?;
    let z = dt.to_zoned(tz.clone()).map_err(|e| AppError::invalid(field, e.to_string()))?;
    Ok(Some(z.timestamp().to_string()))
}

/// A DEA registration as typed on the ledger page.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RegistrationForm {
    pub site_id: String,
    pub dea_number: String,
    pub registrant: String,
    pub address: String,
}

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

/// The REMS form's answer and submission, as typed.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RemsSaveForm {
    pub ready_after_minutes: String,
    pub confirmation: String,
}

fn when(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string()
}

/// The time zone of a registration named in a form, or the clinic's.
async fn form_tz(state: &AppState, reg: &str) -> Result<TimeZone, AppError> {
    match reg.trim().parse::<RegistrationId>() {
        Ok(id) => match usecase::ledger::registration_time_zone(state, id).await {
            Ok(tz) => Ok(tz),
            Err(_) => crate::api::clinic_tz(state).await,
        },
        Err(_) => crate::api::clinic_tz(state).await,
    }
}

fn amount(q: Quantity, s: &Stock) -> String {
    format!("{q} {} ({:.1} mg)", s.unit, q.units() * s.mg_per_unit)
}

fn stock_label(s: &Stock) -> String {
    format!("{} {} mg/{}, NDC {}, lot {}", s.substance.label(), s.mg_per_unit, s.unit, s.ndc, s.lot)
}

fn inventory_words(status: &InventoryStatus) -> (String, &'static str) {
    match status {
        InventoryStatus::Current { due } => (format!("Inventory current; the next is due by {due}."), "active"),
        InventoryStatus::DueSoon { due } => (format!("Biennial inventory due soon: by {due}."), "review"),
        InventoryStatus::Overdue { due } => (format!("Biennial inventory overdue: it was due by {due}."), "urgent"),
        InventoryStatus::Missing => (
            "No inventory on the books: record an initial inventory, or a biennial count of every stock.".into(),
            "urgent",
        ),
    }
}

// ---- the ledger home --------------------------------------------------------------

/// A flag that needs someone's attention, with where to act on it.
pub struct Flag {
    pub text: String,
    pub href: String,
    pub link: String,
}

pub struct LossRow {
    pub entry_id: LedgerEntryId,
    pub text: String,
    pub stock_href: String,
    pub notice_due: String,
    pub notice_overdue: bool,
    pub notified: Option<String>,
}

pub struct RemsRow {
    pub href: String,
    pub client: String,
    pub session: String,
    pub due: String,
    pub overdue: bool,
    pub signed: bool,
}

pub struct StockRow {
    pub href: String,
    pub substance: String,
    pub ndc: String,
    pub form: String,
    pub lot: String,
    pub expires: String,
    pub expired: bool,
    pub storage: String,
    pub balance: String,
}

pub struct RegView {
    pub id: RegistrationId,
    pub dea_number: String,
    pub registrant: String,
    pub address: String,
    pub site: String,
    pub inventory: String,
    pub inventory_class: &'static str,
    pub stocks: Vec<StockRow>,
}

#[derive(Template)]
#[template(path = "ledger.html")]
struct LedgerHome {
    nav: Option<Nav>,
    can_read: bool,
    can_record: bool,
    can_manage: bool,
    can_rems: bool,
    discrepancies: Vec<Flag>,
    pending_waste: Vec<Flag>,
    unledgered: Vec<Flag>,
    unbalanced: Vec<Flag>,
    losses: Vec<LossRow>,
    inventories: Vec<Flag>,
    rems: Vec<RemsRow>,
    all_clear: bool,
    attention: bool,
    registrations: Vec<RegView>,
    reg_fields: Vec<Field>,
    error: Option<String>,
}

/// The forms due, each session's time in its own site's zone.
fn rems_rows(due: Vec<crate::api::dosing::RemsDueView>) -> Vec<RemsRow> {
    let mut due = due;
    due.sort_by_key(|a| a.started_at);
    due.into_iter()
        .map(|d| RemsRow {
            href: format!("/dosing-sessions/{}/rems", d.session_id),
            client: d.client_name,
            session: when(d.started_at, &TimeZone::get(&d.time_zone).unwrap_or(TimeZone::UTC)),
            due: d.due,
            overdue: d.overdue,
            signed: d.signed,
        })
        .collect()
}

async fn home_page(state: &AppState, auth: &UiAuth, values: Kept, refusal: Option<Refusal>) -> PageResult {
    let nav = || ledger_nav(auth);
    let fail = |e: AppError| ui_error(e, nav());
    let roles = &auth.staff.roles;
    let can_read = roles.allow(Permission::ReadLedger);
    let can_manage = roles.allow(Permission::ManageRegistrations);
    let can_rems = can_read && roles.allow(Permission::ReadScreening);
    let usecase::ledger::Overview { sites, registrations: regs, attention } =
        usecase::ledger::overview(state, &api_auth(auth)).await.map_err(fail)?;
    let site_of: HashMap<_, _> = sites.iter().map(|s| (s.id, s)).collect();
    let clinic_tz = crate::api::clinic_tz(state).await.map_err(fail)?;
    let reg_tz = |r: RegistrationId| {
        regs.iter()
            .find(|x| x.id == r)
            .and_then(|x| site_of.get(&x.site_id))
            .map(|s| s.time_zone.tz())
            .unwrap_or_else(|| clinic_tz.clone())
    };
    let status = refusal.as_ref().map(|r| r.status).unwrap_or(StatusCode::OK);
    let error_field = refusal.as_ref().and_then(|r| r.field.clone());
    let mut f = Fields::new("reg", Some(&values), error_field.as_deref());
    f.add("site_id", "Site", "select")
        .required()
        .options(sites.iter().map(|s| (s.id.to_string(), s.name.clone())).collect());
    f.add("dea_number", "DEA number", "text").required().hint("Two letters and seven digits, as on the certificate");
    f.add("registrant", "Registrant (as on the DEA certificate)", "text").required();
    f.add("address", "Registered address", "textarea").required();
    let reg_fields = f.fields;

    let mut page = LedgerHome {
        nav: nav(),
        can_read,
        can_record: roles.allow(Permission::RecordLedger),
        can_manage,
        can_rems,
        discrepancies: vec![],
        pending_waste: vec![],
        unledgered: vec![],
        unbalanced: vec![],
        losses: vec![],
        inventories: vec![],
        rems: vec![],
        all_clear: false,
        attention: false,
        registrations: vec![],
        reg_fields,
        error: refusal.map(|r| r.message),
    };
    if let Some(usecase::ledger::Attention {
        reconciliation: r,
        rems,
        client_names: names,
        notified_by: staff_names,
        loss_stocks,
        mut stocks,
    }) = attention
    {
        let name = |c: Option<ClientId>| c.and_then(|c| names.get(&c).cloned()).unwrap_or_else(|| "no client".into());

        page.discrepancies = r
            .discrepancies
            .iter()
            .map(|(s, e)| {
                let expected = e.detail.expected.unwrap_or(e.quantity);
                Flag {
                    text: format!(
                        "{}: counted {} {} on {}, the books said {} {} ({}).",
                        stock_label(s),
                        e.quantity,
                        s.unit,
                        when(e.occurred_at, &reg_tz(s.registration_id)),
                        expected,
                        s.unit,
                        difference_words(e.quantity - expected, s.unit)
                    ),
                    href: format!("/ledger/stock/{}", s.id),
                    link: "Open the stock".into(),
                }
            })
            .collect();
        page.pending_waste = r
            .pending_waste
            .iter()
            .map(|p| {
                let a = &p.administration;
                let (href, link) = match a.dosing_session_id {
                    Some(d) => (format!("/dosing-sessions/{d}"), "Witness the waste on the dosing session".to_string()),
                    None => (format!("/ledger/stock/{}", p.stock.id), "Record the waste on the stock".to_string()),
                };
                Flag {
                    text: format!(
                        "{}: {} {} drawn for {} on {} not yet given or wasted ({}).",
                        name(a.client_id),
                        p.outstanding,
                        p.stock.unit,
                        p.stock.substance.label(),
                        when(a.occurred_at, &reg_tz(p.stock.registration_id)),
                        stock_label(&p.stock)
                    ),
                    href,
                    link,
                }
            })
            .collect();
        page.unledgered = r
            .unledgered_sessions
            .iter()
            .map(|u| Flag {
                text: format!(
                    "{}: {} mg {} on {}, lot {}, is not on the books. Find the stock it was drawn from and record a \
                     correction there naming this session.",
                    name(Some(u.client_id)),
                    u.dose_mg,
                    u.route,
                    when(u.started_at, &clinic_tz),
                    if u.lot.is_empty() { "not recorded" } else { &u.lot }
                ),
                href: format!("/dosing-sessions/{}", u.session_id),
                link: "Open the dosing session".into(),
            })
            .collect();
        page.unbalanced = r
            .unbalanced
            .iter()
            .map(|s| Flag {
                text: format!(
                    "{}: the entries do not add up to the balance on the books ({} {}).",
                    stock_label(s),
                    s.balance,
                    s.unit
                ),
                href: format!("/ledger/stock/{}", s.id),
                link: "Check the entries".into(),
            })
            .collect();
        let today = Timestamp::now().to_zoned(clinic_tz.clone()).date();
        let mut losses = Vec::new();
        for (l, s) in r.open_losses.iter().zip(loss_stocks) {
            let tz = reg_tz(s.registration_id);
            losses.push(LossRow {
                entry_id: l.entry.id,
                text: format!(
                    "Theft or loss of {} of {}, discovered {}{}",
                    amount(l.entry.quantity, &s),
                    stock_label(&s),
                    l.discovered_on,
                    l.entry.detail.narrative.as_deref().map(|n| format!(": {n}")).unwrap_or_default()
                ),
                stock_href: format!("/ledger/stock/{}", s.id),
                notice_due: l.notice_due.to_string(),
                notice_overdue: l.notified_at.is_none() && today > l.notice_due,
                notified: l.notified_at.map(|t| {
                    format!(
                        "DEA notified {} by {}",
                        when(t, &tz),
                        l.notified_by.and_then(|b| staff_names.get(&b).cloned()).unwrap_or_else(|| "unknown".into())
                    )
                }),
            });
        }
        page.losses = losses;
        page.inventories = r
            .inventories
            .iter()
            .filter(|(_, st)| !matches!(st, InventoryStatus::Current { .. }))
            .map(|(reg, st)| Flag {
                text: format!("DEA {} ({}): {}", reg.dea_number, reg.registrant, inventory_words(st).0),
                href: format!("/ledger/registrations/{}/inventory", reg.id),
                link: "Open the inventory".into(),
            })
            .collect();
        page.rems = rems_rows(rems);
        page.attention = !(page.discrepancies.is_empty()
            && page.pending_waste.is_empty()
            && page.unledgered.is_empty()
            && page.unbalanced.is_empty()
            && page.losses.is_empty()
            && page.inventories.is_empty()
            && page.rems.is_empty());
        page.all_clear = !regs.is_empty() && !page.attention;
        let statuses: HashMap<RegistrationId, InventoryStatus> =
            r.inventories.iter().map(|(reg, st)| (reg.id, *st)).collect();
        let today = Timestamp::now().to_zoned(clinic_tz.clone()).date();
        for reg in &regs {
            let stocks = stocks.remove(&reg.id).unwrap_or_default();
            let (inventory, inventory_class) =
                inventory_words(statuses.get(&reg.id).unwrap_or(&InventoryStatus::Missing));
            page.registrations.push(RegView {
                id: reg.id,
                dea_number: reg.dea_number.clone(),
                registrant: reg.registrant.clone(),
                address: reg.address.clone(),
                site: site_of.get(&reg.site_id).map(|s| s.name.clone()).unwrap_or_default(),
                inventory,
                inventory_class,
                stocks: stocks
                    .iter()
                    .map(|s| StockRow {
                        href: format!("/ledger/stock/{}", s.id),
                        substance: format!("{} {} mg/{}", s.substance.label(), s.mg_per_unit, s.unit),
                        ndc: s.ndc.clone(),
                        form: s.form.clone(),
                        lot: s.lot.clone(),
                        expires: s.expires.map(|d| d.to_string()).unwrap_or_default(),
                        expired: s.expires.is_some_and(|d| d < today),
                        storage: s.storage.clone().unwrap_or_default(),
                        balance: amount(s.balance, s),
                    })
                    .collect(),
            });
        }
    } else {
        for reg in &regs {
            page.registrations.push(RegView {
                id: reg.id,
                dea_number: reg.dea_number.clone(),
                registrant: reg.registrant.clone(),
                address: reg.address.clone(),
                site: site_of.get(&reg.site_id).map(|s| s.name.clone()).unwrap_or_default(),
                inventory: String::new(),
                inventory_class: "",
                stocks: vec![],
            });
        }
    }
    Ok((status, render(&page)).into_response())
}

/// "0.5 mL short" / "1 device over".
fn difference_words(d: Quantity, unit: Unit) -> String {
    if d.0 < 0 {
        format!("{} {unit} short", Quantity(-d.0))
    } else if d.0 > 0 {
        format!("{d} {unit} over")
    } else {
        "no difference".into()
    }
}

fn require_home(auth: &UiAuth) -> Result<(), Response> {
    if auth.staff.roles.allow(Permission::ManageRegistrations) { Ok(()) } else { auth.require(Permission::ReadLedger) }
}

pub async fn home(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    require_home(&auth)?;
    home_page(&state, &auth, Kept::new(), None).await
}

pub async fn add_registration(
    State(state): State<AppState>,
    auth: UiAuth,
    Form(form): Form<RegistrationForm>,
) -> PageResult {
    auth.require(Permission::ManageRegistrations)?;
    let body = api::RegistrationBody {
        site_id: text(&form.site_id),
        dea_number: text(&form.dea_number),
        registrant: text(&form.registrant),
        address: text(&form.address),
    };
    match api::create_registration(State(state.clone()), api_auth(&auth), Json(body)).await {
        Ok(_) => Ok(Redirect::to("/ledger").into_response()),
        Err(e) => {
            let r = Refusal::of(e).map_err(|e| ui_error(e, ledger_nav(&auth)))?;
            home_page(&state, &auth, kept(&form), Some(r)).await
        }
    }
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
        api::loss_notified(State(state.clone()), api_auth(&auth), Path(id.clone()), Json(api::NotifiedBody { at }))
            .await
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
    loss_id(&auth, &id)?;
    let body = api::Form106Body { reference: text(&form.reference) };
    match api::loss_form106(State(state.clone()), api_auth(&auth), Path(id), Json(body)).await {
        Ok(_) => Ok(Redirect::to("/ledger").into_response()),
        Err(e) => {
            let r = Refusal::of(e).map_err(|e| ui_error(e, ledger_nav(&auth)))?;
            home_page(&state, &auth, Kept::new(), Some(r)).await
        }
    }
}

// ---- receiving stock and the initial inventory --------------------------------------

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
            api::receive(State(state.clone()), api_auth(auth), Json(body)).await?.1.0
        }
        Opening::Initial => {
            let body = api::InitialInventoryBody {
                stock,
                quantity: number("quantity", &v.quantity)?,
                business_time: BusinessTime::parse("business_time", v.business_time.trim())?,
                counted_at: local_instant("counted_at", &v.counted_at, &tz)?,
            };
            api::initial_inventory(State(state.clone()), api_auth(auth), Json(body)).await?.1.0
        }
    };
    Ok(view.stock.id)
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

// ---- one stock and its entries --------------------------------------------------------

pub struct EntryRow {
    pub seq: i64,
    pub when: String,
    pub kind: &'static str,
    pub quantity: String,
    pub balance: String,
    pub patient: String,
    pub session_href: Option<String>,
    pub recorded_by: String,
    pub witnesses: String,
    pub detail: String,
    /// Counts: the count against the books, in words.
    pub count: Option<String>,
    pub discrepancy: bool,
}

/// A form recording one kind of entry.
pub struct EntryForm {
    pub kind: &'static str,
    pub title: &'static str,
    pub help: String,
    pub fields: Vec<Field>,
    pub witnesses: Vec<Witness>,
    pub open: bool,
    pub button: &'static str,
}

#[derive(Template)]
#[template(path = "ledger_stock.html")]
struct StockPage {
    nav: Option<Nav>,
    id: StockId,
    title: String,
    registration: String,
    report_href: String,
    facts: Vec<(&'static str, String)>,
    balance: String,
    adds_up: bool,
    recomputed: String,
    rows: Vec<EntryRow>,
    forms: Vec<EntryForm>,
    error: Option<String>,
}

fn entry_detail(e: &Entry, s: &Stock) -> String {
    let d = &e.detail;
    let mut parts = Vec::new();
    if let Some(p) = &d.party {
        let who = if e.kind == EntryKind::Return { "to" } else { "from" };
        parts.push(format!("{who} {}, {} (DEA {})", p.name, p.address, p.dea_number));
    }
    if let Some(c) = d.containers {
        parts.push(format!("{c} container{}", if c == 1 { "" } else { "s" }));
    }
    if let Some(i) = &d.invoice {
        parts.push(format!("invoice {i}"));
    }
    if let Some(x) = d.drawn {
        parts.push(format!(
            "drawn {x} {}, given {} {}, to waste {} {}",
            s.unit,
            e.quantity,
            s.unit,
            x - e.quantity,
            s.unit
        ));
    }
    if let Some(t) = d.count_type {
        let t = match t {
            CountType::Initial => "initial inventory",
            CountType::Biennial => "biennial inventory",
            CountType::AdHoc => "ad hoc count",
        };
        let b = match d.business_time {
            Some(BusinessTime::Opening) => " at opening of business",
            Some(BusinessTime::Close) => " at close of business",
            None => "",
        };
        parts.push(format!("{t}{b}"));
    }
    if let Some(f) = &d.form_reference {
        parts.push(if e.kind == EntryKind::Destruction { format!("Form 41 {f}") } else { format!("reference {f}") });
    }
    if let Some(m) = &d.method {
        parts.push(format!("method: {m}"));
    }
    if let Some(n) = &d.narrative {
        parts.push(n.clone());
    }
    parts.join("; ")
}

fn count_words(e: &Entry, s: &Stock) -> Option<(String, bool)> {
    if e.kind != EntryKind::Count {
        return None;
    }
    if e.detail.count_type == Some(CountType::Initial) {
        return Some((format!("Opened the books with {} {}.", e.quantity, s.unit), false));
    }
    let expected = e.detail.expected?;
    let d = e.quantity - expected;
    if d.0 == 0 {
        Some((format!("Counted {} {}: matches the books.", e.quantity, s.unit), false))
    } else {
        Some((
            format!(
                "Counted {} {}; the books said {} {}: {}.",
                e.quantity,
                s.unit,
                expected,
                s.unit,
                difference_words(d, s.unit)
            ),
            true,
        ))
    }
}

const ENTRY_KINDS: [EntryKind; 7] = [
    EntryKind::Count,
    EntryKind::Waste,
    EntryKind::Breakage,
    EntryKind::Return,
    EntryKind::Destruction,
    EntryKind::TheftLoss,
    EntryKind::Correction,
];

async fn stock_page(
    state: &AppState,
    auth: &UiAuth,
    id: StockId,
    open: Option<(String, Kept)>,
    refusal: Option<Refusal>,
) -> PageResult {
    let nav = || ledger_nav(auth);
    let fail = |e: AppError| ui_error(e, nav());
    let usecase::ledger::StockSheet {
        stock: s,
        entries,
        registration: reg,
        time_zone: tz,
        client_names: names,
        staff_names: staff,
        pending,
        pending_names,
    } = usecase::ledger::stock_sheet(state, &api_auth(auth), id).await.map_err(fail)?;
    let person = |p: &StaffId| staff.get(p).cloned().unwrap_or_else(|| p.to_string());
    let total = api::recomputed(&entries);
    let rows: Vec<EntryRow> = entries
        .iter()
        .map(|e| {
            let count = count_words(e, &s);
            let sign = if e.delta.0 < 0 {
                "−"
            } else if e.delta.0 > 0 {
                "+"
            } else {
                ""
            };
            EntryRow {
                seq: e.seq,
                when: when(e.occurred_at, &tz),
                kind: e.kind.label(),
                quantity: format!("{sign}{} {}", e.quantity, s.unit).replace("−-", "−"),
                balance: format!("{} {}", e.balance_after, s.unit),
                patient: e.client_id.and_then(|c| names.get(&c).cloned()).unwrap_or_default(),
                session_href: e.dosing_session_id.map(|d| format!("/dosing-sessions/{d}")),
                recorded_by: person(&e.recorded_by),
                witnesses: e.witnesses.iter().map(person).collect::<Vec<_>>().join(", "),
                detail: entry_detail(e, &s),
                discrepancy: count.as_ref().is_some_and(|c| c.1),
                count: count.map(|c| c.0),
            }
        })
        .collect();

    let mut forms = Vec::new();
    if auth.staff.roles.allow(Permission::RecordLedger) {
        let error_field = refusal.as_ref().and_then(|r| r.field.clone());
        let unit = s.unit.as_str();
        let policy = &state.config.ledger;
        for kind in ENTRY_KINDS {
            let is_open = open.as_ref().is_some_and(|(k, _)| k == kind.as_str());
            let values = open.as_ref().filter(|_| is_open).map(|(_, v)| v);
            let ef = if is_open { error_field.as_deref() } else { None };
            let mut f = Fields::new(kind.as_str(), values, ef);
            let need = usize::from(policy.witnesses_for(kind));
            let (title, help, slots, button) = match kind {
                EntryKind::Count => {
                    f.add("count_type", "Kind of count", "select").required().options(vec![
                        (CountType::AdHoc.as_str().into(), "Ad hoc count".into()),
                        (CountType::Biennial.as_str().into(), "Biennial inventory".into()),
                    ]);
                    f.add("business_time", "Taken at", "select").required().options(vec![
                        (BusinessTime::Opening.as_str().into(), "Opening of business".into()),
                        (BusinessTime::Close.as_str().into(), "Close of business".into()),
                    ]);
                    f.add("quantity", format!("Quantity counted ({unit})"), "number")
                        .required()
                        .step("0.001")
                        .hint("Opened containers may be estimated; the count does not change the balance");
                    f.add("occurred_at", "Date and time counted", "datetime-local").hint("Leave empty for now");
                    (
                        "Record a count",
                        "A count is compared with the books; a difference is flagged.".into(),
                        0,
                        "Record the count",
                    )
                }
                EntryKind::Waste => {
                    let mut o: Vec<(String, String)> = pending
                        .iter()
                        .map(|p| {
                            let a = &p.administration;
                            (
                                a.id.to_string(),
                                format!(
                                    "{} · {} · {} {unit} to waste",
                                    when(a.occurred_at, &tz),
                                    a.client_id.and_then(|c| pending_names.get(&c).cloned()).unwrap_or_default(),
                                    p.outstanding
                                ),
                            )
                        })
                        .collect();
                    o.push((String::new(), "Not after a dose on this stock".into()));
                    f.add("related_id", "The dose it follows", "select").options(o);
                    f.add("quantity", format!("Quantity wasted ({unit})"), "number").required().step("0.001");
                    f.add("method", "How it was destroyed", "text")
                        .required()
                        .hint("e.g. into a drug-disposal container, rendered non-retrievable");
                    f.add("occurred_at", "Date and time wasted", "datetime-local").hint("Leave empty for now");
                    (
                        "Record waste",
                        "The part of a drawn dose not given, destroyed in front of a witness.".into(),
                        need.max(1),
                        "Record the waste",
                    )
                }
                EntryKind::Breakage => {
                    f.add("quantity", format!("Quantity lost ({unit})"), "number").required().step("0.001");
                    f.add("narrative", "What broke or spilled, and how", "textarea").required();
                    f.add("method", "How what was recovered was disposed of", "text");
                    f.add("occurred_at", "Date and time", "datetime-local").hint("Leave empty for now");
                    (
                        "Record breakage or spillage",
                        "A broken or spilled container, witnessed.".into(),
                        need.max(1),
                        "Record the breakage",
                    )
                }
                EntryKind::Return => {
                    f.add("quantity", format!("Quantity returned ({unit})"), "number").required().step("0.001");
                    f.add("recipient_name", "Recipient's name (supplier or reverse distributor)", "text").required();
                    f.add("recipient_address", "Recipient's address", "textarea").required();
                    f.add("recipient_dea_number", "Recipient's DEA number", "text").required();
                    f.add("occurred_at", "Date and time sent", "datetime-local").hint("Leave empty for now");
                    (
                        "Record a return",
                        "Stock sent back to the supplier or to a reverse distributor.".into(),
                        need,
                        "Record the return",
                    )
                }
                EntryKind::Destruction => {
                    f.add("quantity", format!("Quantity destroyed ({unit})"), "number").required().step("0.001");
                    f.add("form_reference", "DEA Form 41 reference", "text").required();
                    f.add("method", "How it was destroyed", "text").required();
                    f.add("occurred_at", "Date and time destroyed", "datetime-local").hint("Leave empty for now");
                    (
                        "Record destruction",
                        "Expired or unwanted stock destroyed on site, recorded on DEA Form 41.".into(),
                        need.max(2),
                        "Record the destruction",
                    )
                }
                EntryKind::TheftLoss => {
                    f.add("quantity", format!("Quantity missing ({unit})"), "number").required().step("0.001");
                    f.add("narrative", "What was discovered, and how", "textarea").required();
                    f.add("occurred_at", "Date and time discovered", "datetime-local").hint("Leave empty for now");
                    (
                        "Report a theft or loss",
                        format!(
                            "The DEA Field Division must be told in writing within {} business day{} of discovery, \
                             and DEA Form 106 filed; the ledger page tracks both.",
                            policy.loss_notice.business_days,
                            if policy.loss_notice.business_days == 1 { "" } else { "s" }
                        ),
                        0,
                        "Report the theft or loss",
                    )
                }
                _ => {
                    f.add("related_id", "Entry corrected", "select").required().options(
                        entries
                            .iter()
                            .rev()
                            .map(|e| {
                                (
                                    e.id.to_string(),
                                    format!(
                                        "No. {} · {} · {} {unit} · {}",
                                        e.seq,
                                        e.kind.label(),
                                        e.quantity,
                                        when(e.occurred_at, &tz)
                                    ),
                                )
                            })
                            .collect(),
                    );
                    f.add("quantity", format!("Change to the balance ({unit})"), "number")
                        .required()
                        .step("0.001")
                        .hint("Negative takes away, positive adds back");
                    f.add("narrative", "Why the entry is corrected", "textarea").required();
                    (
                        "Record a correction",
                        "The original entry stays as it was; the correction is a new entry.".into(),
                        0,
                        "Record the correction",
                    )
                }
            };
            let witnesses = f.witnesses(slots, need);
            forms.push(EntryForm {
                kind: kind.as_str(),
                title,
                help,
                fields: f.fields,
                witnesses,
                open: is_open,
                button,
            });
        }
    }
    let status = refusal.as_ref().map(|r| r.status).unwrap_or(StatusCode::OK);
    let page = StockPage {
        nav: nav(),
        id: s.id,
        title: format!("{} {} mg/{}", s.substance.label(), s.mg_per_unit, s.unit),
        registration: format!("DEA {} · {}", reg.dea_number, reg.registrant),
        report_href: format!("/ledger/registrations/{}/report", reg.id),
        facts: vec![
            ("NDC", s.ndc.clone()),
            ("Finished form", s.form.clone()),
            ("Lot", s.lot.clone()),
            ("Expires", s.expires.map(|d| d.to_string()).unwrap_or_else(|| "not recorded".into())),
            ("Stored", s.storage.clone().unwrap_or_else(|| "not recorded".into())),
            ("Units per container", format!("{} {}", s.units_per_container, s.unit)),
        ],
        balance: amount(s.balance, &s),
        adds_up: total == s.balance,
        recomputed: format!("{total} {}", s.unit),
        rows,
        forms,
        error: refusal.map(|r| r.message),
    };
    Ok((status, render(&page)).into_response())
}

fn stock_id(auth: &UiAuth, id: &str) -> Result<StockId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such stock.", ledger_nav(auth)))
}

pub async fn stock(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadLedger)?;
    let id = stock_id(&auth, &id)?;
    stock_page(&state, &auth, id, None, None).await
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
        api::record(&state, &api_auth(&auth), id, &body).await
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

// ---- reports -----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct Period {
    from: Option<String>,
    to: Option<String>,
}

pub struct ReportGroup {
    pub title: String,
    pub lines: Vec<api::ReportLine>,
}

#[derive(Template)]
#[template(path = "ledger_report.html")]
struct ReportPage {
    nav: Option<Nav>,
    registrant: String,
    dea_number: String,
    address: String,
    site: String,
    from: String,
    to: String,
    retention_years: u32,
    groups: Vec<ReportGroup>,
    closing: Vec<(String, String)>,
    csv_href: String,
    action: String,
    printed: String,
    error: Option<String>,
}

fn registration_id(auth: &UiAuth, id: &str) -> Result<RegistrationId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such registration.", ledger_nav(auth)))
}

fn period_query(from: &str, to: &str) -> String {
    serde_urlencoded::to_string([("from", from), ("to", to)]).unwrap_or_default()
}

pub async fn report(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    axum::extract::Query(p): axum::extract::Query<Period>,
) -> PageResult {
    auth.require(Permission::ReadLedger)?;
    let nav = || ledger_nav(&auth);
    let reg = registration_id(&auth, &id)?;
    let (registration, site) =
        usecase::ledger::registration_at_site(&state, reg).await.map_err(|e| ui_error(e, nav()))?;
    let tz = site.time_zone.tz();
    let printed = when(Timestamp::now(), &tz);
    let mut page = ReportPage {
        nav: nav(),
        registrant: registration.registrant.clone(),
        dea_number: registration.dea_number.clone(),
        address: registration.address.clone(),
        site: site.name.clone(),
        from: p.from.clone().unwrap_or_default(),
        to: p.to.clone().unwrap_or_default(),
        retention_years: state.config.ledger.retention.years,
        groups: vec![],
        closing: vec![],
        csv_href: String::new(),
        action: format!("/ledger/registrations/{reg}/report"),
        printed,
        error: None,
    };
    match api::ledger_report(&state, &api_auth(&auth), reg, p.from.as_deref(), p.to.as_deref()).await {
        Ok(r) => {
            page.csv_href = format!("/ledger/registrations/{reg}/report.csv?{}", period_query(&r.from, &r.to));
            page.from = r.from;
            page.to = r.to;
            page.retention_years = r.retention_years;
            page.closing = r.closing;
            for l in r.lines {
                let title = format!("{} · NDC {} · {} · lot {}", l.substance, l.ndc, l.form, l.lot);
                match page.groups.iter_mut().find(|g| g.title == title) {
                    Some(g) => g.lines.push(l),
                    None => page.groups.push(ReportGroup { title, lines: vec![l] }),
                }
            }
            Ok(render(&page))
        }
        Err(e) => {
            let r = Refusal::of(e).map_err(|e| ui_error(e, nav()))?;
            page.error = Some(r.message);
            Ok((r.status, render(&page)).into_response())
        }
    }
}

pub async fn report_csv(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    axum::extract::Query(p): axum::extract::Query<Period>,
) -> PageResult {
    auth.require(Permission::ReadLedger)?;
    let nav = || ledger_nav(&auth);
    let reg = registration_id(&auth, &id)?;
    let r = api::ledger_report(&state, &api_auth(&auth), reg, p.from.as_deref(), p.to.as_deref())
        .await
        .map_err(|e| ui_error(e, nav()))?;
    let body = api::report_csv(&r).map_err(|e| ui_error(e, nav()))?;
    let name = format!("attachment; filename=\"ledger-{}-{}-{}.csv\"", r.registration.dea_number, r.from, r.to);
    let disposition = HeaderValue::from_str(&name).unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "ledger_inventory.html")]
struct InventoryPage {
    nav: Option<Nav>,
    registrant: String,
    dea_number: String,
    address: String,
    site: String,
    status: String,
    status_class: &'static str,
    lines: Vec<api::InventoryLine>,
    printed: String,
}

pub async fn inventory(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadLedger)?;
    let nav = || ledger_nav(&auth);
    let reg = registration_id(&auth, &id)?;
    let r = api::inventory_report(&state, &api_auth(&auth), reg).await.map_err(|e| ui_error(e, nav()))?;
    let site = usecase::directory::site(&state, r.registration.site_id).await.map_err(|e| ui_error(e, nav()))?;
    let (status, status_class) = inventory_words(&r.status);
    Ok(render(&InventoryPage {
        nav: nav(),
        registrant: r.registration.registrant.clone(),
        dea_number: r.registration.dea_number.clone(),
        address: r.registration.address.clone(),
        printed: when(Timestamp::now(), &site.time_zone.tz()),
        site: site.name,
        status,
        status_class,
        lines: r.lines,
    }))
}

// ---- the esketamine REMS form --------------------------------------------------------

#[derive(Template)]
#[template(path = "rems.html")]
struct RemsPage {
    nav: Option<Nav>,
    id: DosingSessionId,
    client: String,
    date_of_birth: String,
    session_date: String,
    dose: String,
    lot: String,
    minutes: String,
    minutes_short: bool,
    bps: Vec<(&'static str, String)>,
    events: Vec<(&'static str, bool)>,
    medicines: Vec<(&'static str, bool)>,
    ready: String,
    ready_value: String,
    problems: Vec<String>,
    due: String,
    overdue: bool,
    submitted: Option<String>,
    can_submit: bool,
    error: Option<String>,
}

fn session_id(auth: &UiAuth, id: &str) -> Result<DosingSessionId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such dosing session.", Some(auth.nav("/clients"))))
}

async fn rems_page(
    state: &AppState,
    auth: &UiAuth,
    id: DosingSessionId,
    values: Kept,
    refusal: Option<Refusal>,
) -> PageResult {
    let nav = || Some(auth.nav("/ledger"));
    let v: RemsView = rems_view(state, &api_auth(auth), id).await.map_err(|e| ui_error(e, nav()))?;
    let tz = crate::api::clinic_tz(state).await.map_err(|e| ui_error(e, nav()))?;
    let f = &v.form;
    let bp = |r: &Option<kairos_domain::rems::BpReading>| match r {
        Some(r) => format!(
            "{}/{} mmHg at {} ({})",
            r.systolic,
            r.diastolic,
            r.at.to_zoned(tz.clone()).strftime("%H:%M"),
            if r.minutes <= 0 { "before the dose".to_string() } else { format!("{} min after the dose", r.minutes) }
        ),
        None => "not recorded".into(),
    };
    let submitted = match (v.state.submitted_at, &v.state.confirmation) {
        (Some(at), c) => {
            let by = match v.state.submitted_by {
                Some(b) => usecase::directory::staff_names(state, &[b])
                    .await
                    .map_err(|e| ui_error(e, nav()))?
                    .remove(&b)
                    .unwrap_or_else(|| "unknown".into()),
                None => "unknown".into(),
            };
            Some(format!(
                "Submitted through the REMS on {} by {by}, confirmation {}.",
                when(at, &tz),
                c.clone().unwrap_or_default()
            ))
        }
        (None, _) => None,
    };
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let ready_value = values
        .get("ready_after_minutes")
        .cloned()
        .unwrap_or_else(|| v.state.ready_after_minutes.map(|m| m.to_string()).unwrap_or_default());
    let page = RemsPage {
        nav: nav(),
        id: v.session_id,
        client: v.client_name.clone(),
        date_of_birth: v.client_date_of_birth.clone(),
        session_date: f.session_date.to_string(),
        dose: format!("{} mg", f.dose_mg),
        lot: if f.lot.is_empty() { "not recorded".into() } else { f.lot.clone() },
        minutes: f.minutes_monitored.map(|m| format!("{m} minutes")).unwrap_or_else(|| "unknown (no discharge)".into()),
        minutes_short: f.minutes_monitored.is_none_or(|m| m < kairos_domain::rems::MIN_MONITORING_MINUTES),
        bps: vec![
            ("Before the dose", bp(&f.bp_pre_dose)),
            ("About 40 minutes after the dose", bp(&f.bp_about_40_min)),
            ("Before the end of the session", bp(&f.bp_before_end)),
        ],
        events: vec![
            ("Sedation", f.sedation),
            ("Dissociation", f.dissociation),
            ("Respiratory depression", f.respiratory_depression),
        ],
        medicines: vec![
            ("Benzodiazepines", f.benzodiazepines),
            ("Sedative-hypnotics (non-benzodiazepine)", f.sedative_hypnotics),
            ("Psychostimulants", f.psychostimulants),
            ("Monoamine oxidase inhibitors (MAOIs)", f.maois),
        ],
        ready: v
            .state
            .ready_after_minutes
            .map(|m| format!("{m} minutes after the dose"))
            .unwrap_or_else(|| "not answered yet".into()),
        ready_value,
        problems: f.problems.clone(),
        due: f.due.to_string(),
        overdue: v.state.submitted_at.is_none() && today > f.due,
        can_submit: v.state.submitted_at.is_none() && auth.staff.roles.allow(Permission::ChartDosing),
        submitted,
        error: None,
    };
    let (status, page) = match refusal {
        Some(r) => (r.status, RemsPage { error: Some(r.message), ..page }),
        None => (StatusCode::OK, page),
    };
    Ok((status, render(&page)).into_response())
}

pub async fn rems(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadScreening)?;
    let id = session_id(&auth, &id)?;
    rems_page(&state, &auth, id, Kept::new(), None).await
}

/// Saves the answers; with a confirmation, records the form submitted (the
/// same rules as `PUT /api/v1/dosing-sessions/{id}/rems`).
async fn save_rems(state: &AppState, auth: &UiAuth, id: DosingSessionId, form: &RemsSaveForm) -> Result<(), AppError> {
    let ready =
        super::form::whole::<i64>("ready_after_minutes", "Ready to leave after (minutes)", &form.ready_after_minutes)?;
    crate::api::dosing::save_rems_in(state, &api_auth(auth), id, ready, Some(form.confirmation.as_str())).await
}

pub async fn rems_submit(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<RemsSaveForm>,
) -> PageResult {
    auth.require(Permission::ChartDosing)?;
    let id = session_id(&auth, &id)?;
    match save_rems(&state, &auth, id, &form).await {
        Ok(()) => Ok(Redirect::to(&format!("/dosing-sessions/{id}/rems")).into_response()),
        Err(e) => {
            let r = Refusal::of(e).map_err(|e| ui_error(e, Some(auth.nav("/ledger"))))?;
            rems_page(&state, &auth, id, kept(&form), Some(r)).await
        }
    }
}

#[derive(Template)]
#[template(path = "rems_due.html")]
struct RemsDuePage {
    nav: Option<Nav>,
    rows: Vec<RemsRow>,
}

pub async fn rems_list(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    auth.require(Permission::ReadScreening)?;
    let nav = || ledger_nav(&auth);
    let due = usecase::ledger::rems_forms_due(&state, &api_auth(&auth)).await.map_err(|e| ui_error(e, nav()))?;
    Ok(render(&RemsDuePage { nav: nav(), rows: rems_rows(due) }))
}
