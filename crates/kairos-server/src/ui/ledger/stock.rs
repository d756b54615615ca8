//! One stock: its facts, every numbered entry with the balance after it,
//! whether the entries add up, and the forms recording an entry.

use super::{Field, Fields, Kept, PageResult, Refusal, Witness, amount, difference_words, ledger_nav, when};
use crate::api::ledger as api;
use crate::error::AppError;
use crate::state::AppState;
use crate::ui::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::usecase;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kairos_domain::ids::{StaffId, StockId};
use kairos_domain::ledger::{BusinessTime, CountType, EntryKind};
use kairos_domain::roles::Permission;
use kairos_store::ledger::{Entry, Stock};

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

pub(super) const ENTRY_KINDS: [EntryKind; 7] = [
    EntryKind::Count,
    EntryKind::Waste,
    EntryKind::Breakage,
    EntryKind::Return,
    EntryKind::Destruction,
    EntryKind::TheftLoss,
    EntryKind::Correction,
];

pub(super) async fn stock_page(
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
                    f.add("count_type", "Kind of count", "select")
                        .required()
                        .options(vec![(CountType::AdHoc.as_str().into(), "Ad hoc count".into())])
                        .hint(
                            "A biennial inventory counts every stock at once, from the registration's inventory page",
                        );
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

pub(super) fn stock_id(auth: &UiAuth, id: &str) -> Result<StockId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such stock.", ledger_nav(auth)))
}

pub async fn stock(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadLedger)?;
    let id = stock_id(&auth, &id)?;
    stock_page(&state, &auth, id, None, None).await
}
