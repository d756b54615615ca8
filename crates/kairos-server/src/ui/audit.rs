//! The audit log for those who review it: filtered by client (found by
//! name), staff member, action and dates, with names and the practice's
//! local times, and exported as CSV with the same filters.

use super::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::error::AppError;
use crate::extract::Query;
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use kairos_domain::ids::{ClientId, StaffId};
use kairos_domain::roles::Permission;
use kairos_store::{Action, AuditQuery, AuditRecord, PageRequest};
use serde::Deserialize;
use std::collections::HashMap;

type PageResult = Result<Response, Response>;

const PAGE: u32 = 50;
/// The page counts the matching entries up to this many (a narrower filter
/// gives the exact number), so it answers as fast with years of log.
const COUNT_AT_MOST: u64 = 10_000;
/// The staff filter is a list up to this many accounts, a name to type beyond.
const STAFF_LIST_MAX: usize = 200;
/// The most entries one CSV export holds (newest first).
const EXPORT_MAX: usize = 5000;

/// The filters as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    /// A client's name (or the start of it), or a client id.
    client: String,
    /// Set when the reviewer picked one of several clients the name matched.
    client_id: String,
    /// A staff member's id (from the list), or a name or part of one (a
    /// practice too large for a list).
    staff: String,
    action: String,
    /// Dates in the practice's time zone, inclusive.
    from: String,
    to: String,
    offset: Option<u32>,
}

impl AuditFilter {
    fn link(&self, path: &str, offset: Option<u32>) -> String {
        let mut pairs = vec![
            ("client", self.client.clone()),
            ("client_id", self.client_id.clone()),
            ("staff", self.staff.clone()),
            ("action", self.action.clone()),
            ("from", self.from.clone()),
            ("to", self.to.clone()),
        ];
        pairs.retain(|(_, v)| !v.is_empty());
        if let Some(o) = offset {
            pairs.push(("offset", o.to_string()));
        }
        format!("{path}?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
    }
}

/// The filters resolved: the query, or the clients a name matched when it
/// matched more than one (the reviewer picks one).
enum Resolved {
    Query(AuditQuery, Option<String>),
    Choose(Vec<(ClientId, String)>),
}

fn bad(field: &str, message: &str) -> AppError {
    AppError::BadRequest { field: Some(field.into()), detail: message.into() }
}

async fn resolve(state: &AppState, auth: &UiAuth, f: &AuditFilter, tz: &TimeZone) -> Result<Resolved, AppError> {
    let day = |field: &str, v: &str| -> Result<Option<Timestamp>, AppError> {
        match v.trim() {
            "" => Ok(None),
            v => {
                let d: Date = v.parse().map_err(|_| bad(field, "give the date as YYYY-MM-DD"))?;
                let d = if field == "to" { d.tomorrow().map_err(|_| bad(field, "out of range"))? } else { d };
                d.to_zoned(tz.clone()).map(|z| Some(z.timestamp())).map_err(|_| bad(field, "out of range"))
            }
        }
    };
    let mut q = AuditQuery {
        from: day("from", &f.from)?,
        to: day("to", &f.to)?,
        page: PageRequest { limit: PAGE, offset: f.offset.unwrap_or(0) },
        count_at_most: Some(COUNT_AT_MOST),
        ..Default::default()
    };
    if let (Some(a), Some(b)) = (q.from, q.to)
        && a >= b
    {
        return Err(bad("to", "the last day is before the first"));
    }
    q.actor_id = match f.staff.trim() {
        "" => None,
        s => match s.parse::<StaffId>() {
            Ok(id) => Some(id),
            Err(_) => {
                let wanted = s.to_lowercase();
                let staff = usecase::audit::staff(state, &api_auth(auth)).await?;
                let found: Vec<_> = staff.iter().filter(|x| x.name.to_lowercase().contains(&wanted)).collect();
                match found.as_slice() {
                    [] => return Err(bad("staff", &format!("no staff member's name contains “{s}”"))),
                    [one] => Some(one.id),
                    many => {
                        let names: Vec<&str> = many.iter().take(5).map(|x| x.name.as_str()).collect();
                        return Err(bad(
                            "staff",
                            &format!(
                                "{} staff members match “{s}” ({}{}): type more of the name",
                                many.len(),
                                names.join(", "),
                                if many.len() > 5 { ", ..." } else { "" }
                            ),
                        ));
                    }
                }
            }
        },
    };
    q.action = match f.action.trim() {
        "" => None,
        a if Action::ALL.iter().any(|x| x.as_str() == a) => Some(a.to_string()),
        _ => return Err(bad("action", "choose an action from the list")),
    };
    let typed = f.client.trim();
    let mut client_label = None;
    q.client_id = if let Ok(id) = f.client_id.trim().parse::<ClientId>() {
        Some(id)
    } else if typed.is_empty() {
        None
    } else if let Ok(id) = typed.parse::<ClientId>() {
        Some(id)
    } else {
        let found = usecase::audit::find_clients(state, &api_auth(auth), typed).await?;
        match found.as_slice() {
            [] => return Err(bad("client", &format!("no client's name starts with “{typed}”"))),
            [one] => {
                client_label = Some(format!("{} (born {})", one.details.display_name(), one.details.date_of_birth));
                Some(one.id)
            }
            many => {
                return Ok(Resolved::Choose(
                    many.iter()
                        .map(|c| (c.id, format!("{} (born {})", c.details.display_name(), c.details.date_of_birth)))
                        .collect(),
                ));
            }
        }
    };
    Ok(Resolved::Query(q, client_label))
}

struct AuditRow {
    at: String,
    who: String,
    action: String,
    record: String,
    client: String,
    from: String,
    detail: String,
}

/// The latest verification of the log's chain, as the page shows it.
struct ChainView {
    ok: bool,
    when: String,
    kind: &'static str,
    sealed: u64,
    unsealed: u64,
    broken: Option<String>,
    lines: Vec<String>,
}

impl ChainView {
    fn of(r: &kairos_store::ChainReport, tz: &TimeZone) -> ChainView {
        ChainView {
            ok: r.ok(),
            when: r.at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
            kind: if r.full { "every entry checked" } else { "checked from the latest checkpoint" },
            sealed: r.sealed(),
            unsealed: r.unsealed,
            broken: r.broken.as_ref().map(|b| b.to_string()),
            lines: r.lines().into_iter().skip(1).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    /// None: this database keeps no chain (an in-memory one).
    chain: Option<ChainView>,
    filter: AuditFilter,
    staff: Vec<(String, String)>,
    actions: Vec<&'static str>,
    /// The client the filter resolved to, in words.
    client_label: Option<String>,
    /// Several clients matched the name: (link, label).
    choose: Vec<(String, String)>,
    time_zone: String,
    /// Entries matching, up to [`COUNT_AT_MOST`]; more is said as "more than".
    total: i64,
    count_at_most: i64,
    rows: Vec<AuditRow>,
    prev: Option<String>,
    next: Option<String>,
    csv: String,
    error: Option<String>,
}

/// Who did it, as the log shows: the name, with the roles held at the time.
fn who(a: &AuditRecord, names: &HashMap<StaffId, String>) -> String {
    match a.actor_id.and_then(|i| names.get(&i)) {
        Some(n) => format!("{n} ({})", a.actor_roles),
        None => a.actor_roles.clone(),
    }
}

async fn lookups(
    state: &AppState,
    auth: &UiAuth,
    items: &[AuditRecord],
) -> Result<(HashMap<StaffId, String>, HashMap<ClientId, String>, Vec<(String, String)>), AppError> {
    let staff = usecase::audit::staff(state, &api_auth(auth)).await?;
    let names: HashMap<StaffId, String> = staff.iter().map(|s| (s.id, s.name.clone())).collect();
    // A list to choose from while it is short; a name to type beyond.
    let mut choices: Vec<(String, String)> = if staff.len() <= STAFF_LIST_MAX {
        staff.iter().map(|s| (s.id.to_string(), s.name.clone())).collect()
    } else {
        Vec::new()
    };
    choices.sort_by(|a, b| a.1.cmp(&b.1));
    let clients: Vec<ClientId> = items.iter().filter_map(|a| a.client_id).collect();
    let client_names = usecase::clients::names(state, &clients).await?;
    Ok((names, client_names, choices))
}

pub async fn page(State(state): State<AppState>, auth: UiAuth, Query(f): Query<AuditFilter>) -> PageResult {
    auth.require(Permission::ReadAudit)?;
    let nav = || Some(auth.nav("/admin/audit"));
    let tz = state.practice_tz().await.map_err(|e| ui_error(e, nav()))?;
    let (resolved, error) = match resolve(&state, &auth, &f, &tz).await {
        Ok(r) => (Some(r), None),
        Err(AppError::BadRequest { detail, field }) => {
            (None, Some(format!("{}: {detail}.", field.unwrap_or_default())))
        }
        Err(e) => return Err(ui_error(e, nav())),
    };
    let (q, client_label, choose) = match resolved {
        Some(Resolved::Query(q, label)) => (Some(q), label, Vec::new()),
        Some(Resolved::Choose(list)) => {
            let links = list
                .into_iter()
                .map(|(id, label)| {
                    (
                        AuditFilter { client_id: id.to_string(), offset: None, ..f.clone() }.link("/admin/audit", None),
                        label,
                    )
                })
                .collect();
            (None, None, links)
        }
        None => (None, None, Vec::new()),
    };
    let list = match &q {
        Some(q) => Some(usecase::audit::list(&state, &api_auth(&auth), q).await.map_err(|e| ui_error(e, nav()))?),
        None => None,
    };
    let items: &[AuditRecord] = list.as_ref().map(|l| l.items.as_slice()).unwrap_or(&[]);
    let (staff_names, client_names, staff) = lookups(&state, &auth, items).await.map_err(|e| ui_error(e, nav()))?;
    let offset = f.offset.unwrap_or(0);
    let total = list.as_ref().map(|l| l.total).unwrap_or(0);
    let shown = items.len() as u32;
    let chain = usecase::audit::verification(&state, &api_auth(&auth)).map_err(|e| ui_error(e, nav()))?;
    let page = AuditPage {
        nav: nav(),
        chain: chain.as_ref().map(|r| ChainView::of(r, &tz)),
        staff,
        actions: Action::ALL.iter().map(|a| a.as_str()).collect(),
        client_label,
        choose,
        time_zone: tz.iana_name().unwrap_or("UTC").to_string(),
        total,
        count_at_most: COUNT_AT_MOST as i64,
        rows: items
            .iter()
            .map(|a| AuditRow {
                at: a.at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
                who: who(a, &staff_names),
                action: a.action.clone(),
                record: format!("{} {}", a.record_type, a.record_id.as_deref().unwrap_or("")),
                client: a.client_id.and_then(|c| client_names.get(&c).cloned()).unwrap_or_default(),
                from: a.remote_addr.clone().unwrap_or_else(|| "—".into()),
                detail: a.detail.clone().unwrap_or_default(),
            })
            .collect(),
        prev: (offset > 0).then(|| f.link("/admin/audit", Some(offset.saturating_sub(PAGE)))),
        next: (i64::from(offset + shown) < total).then(|| f.link("/admin/audit", Some(offset + PAGE))),
        csv: AuditFilter { offset: None, ..f.clone() }.link("/admin/audit.csv", None),
        filter: f,
        error: error.clone(),
    };
    let mut resp = render(&page);
    if error.is_some() {
        *resp.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(resp)
}

/// The filtered entries as CSV, newest first, at most [`EXPORT_MAX`]; the
/// export is itself recorded in the log.
pub async fn csv(State(state): State<AppState>, auth: UiAuth, Query(f): Query<AuditFilter>) -> PageResult {
    auth.require(Permission::ReadAudit)?;
    let nav = || Some(auth.nav("/admin/audit"));
    let tz = state.practice_tz().await.map_err(|e| ui_error(e, nav()))?;
    let mut q = match resolve(&state, &auth, &f, &tz).await {
        Ok(Resolved::Query(q, _)) => q,
        Ok(Resolved::Choose(_)) => {
            return Err(page_error(
                StatusCode::BAD_REQUEST,
                "Several clients match that name: choose one on the audit page first.",
                nav(),
            ));
        }
        Err(e) => return Err(ui_error(e, nav())),
    };
    let mut entries = Vec::new();
    q.page = PageRequest { limit: PageRequest::MAX_LIMIT, offset: 0 };
    while entries.len() < EXPORT_MAX {
        let page = usecase::audit::list(&state, &api_auth(&auth), &q).await.map_err(|e| ui_error(e, nav()))?;
        let n = page.items.len();
        entries.extend(page.items);
        if n < q.page.limit as usize {
            break;
        }
        q.page.offset += q.page.limit;
    }
    entries.truncate(EXPORT_MAX);
    let (staff_names, client_names, _) = lookups(&state, &auth, &entries).await.map_err(|e| ui_error(e, nav()))?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>| -> Result<(), csv::Error> {
        out.write_record([
            "at_utc",
            "at_local",
            "who",
            "action",
            "record_type",
            "record_id",
            "client_id",
            "client",
            "from",
            "detail",
        ])?;
        for a in &entries {
            let client = a.client_id.map(|c| c.to_string()).unwrap_or_default();
            let (utc, local) =
                (a.at.to_string(), a.at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M:%S %Z").to_string());
            let by = who(a, &staff_names);
            let cells = [
                utc.as_str(),
                local.as_str(),
                by.as_str(),
                a.action.as_str(),
                a.record_type.as_str(),
                a.record_id.as_deref().unwrap_or(""),
                client.as_str(),
                a.client_id.and_then(|c| client_names.get(&c)).map(String::as_str).unwrap_or(""),
                a.remote_addr.as_deref().unwrap_or(""),
                a.detail.as_deref().unwrap_or(""),
            ];
            out.write_record(
                cells.iter().map(|c| crate::spreadsheet::cell(c)).collect::<Vec<_>>().iter().map(|c| c.as_ref()),
            )?;
        }
        Ok(())
    };
    write(&mut out).map_err(|e| ui_error(AppError::Internal(e.to_string()), nav()))?;
    let body = out.into_inner().map_err(|e| ui_error(AppError::Internal(e.to_string()), nav()))?;
    usecase::audit::exported(&state, &api_auth(&auth), entries.len()).await.map_err(|e| ui_error(e, nav()))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"kairos-audit.csv\"")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}
