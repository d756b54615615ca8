//! The controlled-substance ledger pages, one module per page: the front
//! page with the registrations and what needs attention, receiving stock
//! and the initial inventory, one stock with its numbered entries (and the
//! forms recording an entry, with witnesses who sign on the same tablet),
//! loss reporting (DEA notice and Form 106), the printable ledger and
//! inventory reports, and the esketamine REMS Patient Monitoring Form. The
//! pages call the same functions as the JSON API, so the rules and the audit
//! of client reads are the API's.

mod entries;
mod inventories;
mod losses;
mod receipts;
mod registrations;
mod rems;
mod reports;
mod stock;

pub use entries::add_entry;
pub use inventories::{record as inventory_record, take_form as inventory_form, take_submit as inventory_submit};
pub use losses::{loss_form106, loss_notified};
pub use receipts::{initial_form, initial_submit, receive_form, receive_submit};
pub use registrations::{add_registration, home};
pub use rems::{rems, rems_enrol, rems_enrolment, rems_list, rems_setting_save, rems_settings, rems_submit};
pub use reports::{inventory, report, report_csv};
pub use stock::stock;

use super::{Nav, UiAuth};
use crate::error::AppError;
use crate::state::AppState;
use crate::usecase;
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kairos_domain::ids::RegistrationId;
use kairos_domain::ledger::{InventoryStatus, Quantity, Unit};
use kairos_store::ledger::Stock;

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

fn when(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string()
}

/// The time zone of a registration named in a form, or the practice's.
async fn form_tz(state: &AppState, reg: &str) -> Result<TimeZone, AppError> {
    match reg.trim().parse::<RegistrationId>() {
        Ok(id) => match usecase::ledger::registration_time_zone(state, id).await {
            Ok(tz) => Ok(tz),
            Err(_) => state.practice_tz().await,
        },
        Err(_) => state.practice_tz().await,
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
            "No inventory on the books: record the initial inventory, or take a biennial inventory of every stock."
                .into(),
            "urgent",
        ),
    }
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
