//! The printable ledger report of a registration (and its CSV export), and
//! the inventory report.

use super::{PageResult, Refusal, inventory_words, ledger_nav, when};
use crate::api::ledger as api;
use crate::state::AppState;
use crate::ui::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::usecase;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kairos_domain::ids::RegistrationId;
use kairos_domain::roles::Permission;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Period {
    from: Option<String>,
    to: Option<String>,
    /// After the handover form: for how many clients a disclosure was
    /// recorded, or why it was refused.
    handed: Option<usize>,
    refused: Option<String>,
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
    /// The handover form (a disclosure per client named).
    handover_action: String,
    purposes: Vec<(&'static str, &'static str)>,
    handed: Option<usize>,
    refused: Option<String>,
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
    let printed = when(state.now(), &tz);
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
        handover_action: format!("/ledger/registrations/{reg}/report/disclosures"),
        purposes: [
            kairos_domain::disclosures::Purpose::HealthOversight,
            kairos_domain::disclosures::Purpose::LawEnforcement,
            kairos_domain::disclosures::Purpose::Judicial,
            kairos_domain::disclosures::Purpose::RequiredByLaw,
        ]
        .iter()
        .map(|p| (p.as_str(), p.label()))
        .collect(),
        handed: p.handed,
        refused: p.refused.clone(),
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
    registration_id: String,
    /// The caller records ledger entries: the page offers the count form.
    may_take: bool,
    /// The biennial inventories taken, newest first: (link, words).
    taken: Vec<(String, String)>,
}

pub async fn inventory(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadLedger)?;
    let nav = || ledger_nav(&auth);
    let reg = registration_id(&auth, &id)?;
    let r = api::inventory_report(&state, &api_auth(&auth), reg).await.map_err(|e| ui_error(e, nav()))?;
    let site = usecase::directory::site(&state, r.registration.site_id).await.map_err(|e| ui_error(e, nav()))?;
    let (status, status_class) = inventory_words(&r.status);
    let tz = site.time_zone.tz();
    let taken = usecase::ledger::inventories(&state, &api_auth(&auth), reg)
        .await
        .map_err(|e| ui_error(e, nav()))?
        .into_iter()
        .map(|i| {
            let at = match i.business_time {
                kairos_domain::ledger::BusinessTime::Opening => "opening of business",
                kairos_domain::ledger::BusinessTime::Close => "close of business",
            };
            (format!("/ledger/inventories/{}", i.id), format!("{}, at the {at}", when(i.taken_at, &tz)))
        })
        .collect();
    Ok(render(&InventoryPage {
        registration_id: reg.to_string(),
        may_take: auth.staff.roles.allow(Permission::RecordLedger),
        taken,
        nav: nav(),
        registrant: r.registration.registrant.clone(),
        dea_number: r.registration.dea_number.clone(),
        address: r.registration.address.clone(),
        printed: when(state.now(), &tz),
        site: site.name,
        status,
        status_class,
        lines: r.lines,
    }))
}
