//! The ledger's front page: the DEA registrations with their stock, and
//! what needs attention (discrepancies, waste to witness, doses not on the
//! books, unbalanced stock, open losses, inventories due, REMS forms due).

use super::rems::{RemsRow, rems_rows};
use super::{
    Field, Fields, Kept, PageResult, Refusal, amount, difference_words, inventory_words, kept, ledger_nav, stock_label,
    text, when,
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
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use kairos_domain::ids::{ClientId, LedgerEntryId, RegistrationId};
use kairos_domain::ledger::InventoryStatus;
use kairos_domain::roles::Permission;
use serde::Deserialize;
use std::collections::HashMap;

/// A DEA registration as typed on the ledger page.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RegistrationForm {
    pub site_id: String,
    pub dea_number: String,
    pub registrant: String,
    pub address: String,
}

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
    /// The electronic DEA Form 106, due 45 days after discovery (policy).
    pub form106_due: String,
    pub form106_overdue: bool,
    pub notified: Option<String>,
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
    /// Dose visits completed with no session charted: (how many, the days
    /// looked back, the latest of them).
    uncharted: (i64, i64, Vec<Flag>),
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

pub(super) async fn home_page(state: &AppState, auth: &UiAuth, values: Kept, refusal: Option<Refusal>) -> PageResult {
    let nav = || ledger_nav(auth);
    let fail = |e: AppError| ui_error(e, nav());
    let roles = &auth.staff.roles;
    let can_read = roles.allow(Permission::ReadLedger);
    let can_manage = roles.allow(Permission::ManageRegistrations);
    let can_rems = can_read && roles.allow(Permission::ReadScreening);
    let usecase::ledger::Overview { sites, registrations: regs, attention } =
        usecase::ledger::overview(state, &api_auth(auth)).await.map_err(fail)?;
    let site_of: HashMap<_, _> = sites.iter().map(|s| (s.id, s)).collect();
    // Each registration's dates are its site's.
    let practice_tz = state.practice_tz().await.map_err(fail)?;
    let reg_tz = |r: RegistrationId| {
        regs.iter()
            .find(|x| x.id == r)
            .and_then(|x| site_of.get(&x.site_id))
            .map(|s| s.time_zone.tz())
            .unwrap_or_else(|| practice_tz.clone())
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
        uncharted: (0, usecase::ledger::UNCHARTED_DAYS, vec![]),
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
        uncharted_doses,
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
        let unledgered_clients: Vec<_> = r.unledgered_sessions.iter().map(|u| u.client_id).collect();
        let client_zones = state.client_tzs(&unledgered_clients).await.map_err(fail)?;
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
                    when(u.started_at, &client_zones.get(&u.client_id).cloned().unwrap_or(TimeZone::UTC)),
                    if u.lot.is_empty() { "not recorded" } else { &u.lot }
                ),
                href: format!("/dosing-sessions/{}", u.session_id),
                link: "Open the dosing session".into(),
            })
            .collect();
        let uncharted_clients: Vec<_> = uncharted_doses.1.iter().map(|e| e.client_id).collect();
        let uncharted_zones = state.client_tzs(&uncharted_clients).await.map_err(fail)?;
        page.uncharted.0 = uncharted_doses.0;
        page.uncharted.2 = uncharted_doses
            .1
            .iter()
            .map(|e| Flag {
                text: format!(
                    "{}: dose visit on {}, marked completed, with no dosing session charted.",
                    name(Some(e.client_id)),
                    when(e.scheduled_start, &uncharted_zones.get(&e.client_id).cloned().unwrap_or(TimeZone::UTC)),
                ),
                href: format!("/encounters/{}", e.id),
                link: "Open the visit".into(),
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
        let mut losses = Vec::new();
        for (l, s) in r.open_losses.iter().zip(loss_stocks) {
            let tz = reg_tz(s.registration_id);
            let today = state.now().to_zoned(tz.clone()).date();
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
                form106_due: kairos_domain::ledger::form_106_due(l.discovered_on, &state.config.ledger).to_string(),
                form106_overdue: l.form106_at.is_none()
                    && today > kairos_domain::ledger::form_106_due(l.discovered_on, &state.config.ledger),
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
            && page.uncharted.0 == 0
            && page.unbalanced.is_empty()
            && page.losses.is_empty()
            && page.inventories.is_empty()
            && page.rems.is_empty());
        page.all_clear = !regs.is_empty() && !page.attention;
        let statuses: HashMap<RegistrationId, InventoryStatus> =
            r.inventories.iter().map(|(reg, st)| (reg.id, *st)).collect();
        for reg in &regs {
            let today = state.now().to_zoned(reg_tz(reg.id)).date();
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
    match crate::usecase::ledger::register(&state, &api_auth(&auth), body).await {
        Ok(_) => Ok(Redirect::to("/ledger").into_response()),
        Err(e) => {
            let r = Refusal::of(e).map_err(|e| ui_error(e, ledger_nav(&auth)))?;
            home_page(&state, &auth, kept(&form), Some(r)).await
        }
    }
}
