//! Emergency ("break-glass") access in the browser: a staff member of the
//! roles the clinic names finds the client by family name and date of
//! birth, says why, and reads the emergency summary for a limited time; the
//! director reviews each access. The pages call `usecase::emergency`, as the
//! API does.

use super::form::{Refused, with_status};
use super::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::error::AppError;
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kairos_domain::ids::{ClientId, EmergencyAccessId};
use serde::Deserialize;

type PageResult = Result<Response, Response>;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LookupForm {
    family_name: String,
    date_of_birth: String,
    reason: String,
    /// Chosen among several clients of the same name and birth date.
    client_id: String,
}

#[derive(Template)]
#[template(path = "emergency_lookup.html")]
struct LookupPage {
    nav: Option<Nav>,
    minutes: i64,
    family_name: String,
    date_of_birth: String,
    reason: String,
    /// Several clients matched: (id, name) to choose from.
    choices: Vec<(String, String)>,
    error: Option<Refused>,
}

fn lookup_page(
    state: &AppState,
    auth: &UiAuth,
    f: &LookupForm,
    choices: Vec<(String, String)>,
    error: Option<Refused>,
) -> Response {
    let page = render(&LookupPage {
        nav: Some(auth.nav("/emergency")),
        minutes: state.config.break_glass_lifetime.as_mins(),
        family_name: f.family_name.clone(),
        date_of_birth: f.date_of_birth.clone(),
        reason: f.reason.clone(),
        choices,
        error: error.clone(),
    });
    with_status(page, &error)
}

#[derive(Template)]
#[template(path = "emergency_not_open.html")]
struct NotOpenPage {
    nav: Option<Nav>,
    reads_clients: bool,
}

/// For a role the clinic has not named: clinicians open the chart itself;
/// anyone else asks a clinician.
fn not_open(auth: &UiAuth) -> Response {
    render(&NotOpenPage {
        nav: Some(auth.nav("/emergency")),
        reads_clients: auth.staff.roles.allow(kairos_domain::roles::Permission::ReadClients),
    })
}

/// The form: family name, date of birth, and why.
pub async fn lookup_form(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    if !usecase::emergency::may_break_glass(&state, &api_auth(&auth)) {
        return Ok(not_open(&auth));
    }
    Ok(lookup_page(&state, &auth, &LookupForm::default(), Vec::new(), None))
}

/// Finds the client and opens the access, or asks which client of several.
pub async fn lookup(State(state): State<AppState>, auth: UiAuth, Form(f): Form<LookupForm>) -> PageResult {
    let caller = api_auth(&auth);
    if !usecase::emergency::may_break_glass(&state, &caller) {
        return Ok(not_open(&auth));
    }
    let client = match f.client_id.trim().parse::<ClientId>() {
        Ok(id) => id,
        Err(_) => {
            let found = match usecase::emergency::find(&state, &caller, &f.family_name, &f.date_of_birth).await {
                Ok(found) => found,
                Err(e @ (AppError::Unprocessable { .. } | AppError::BadRequest { .. })) => {
                    return Ok(lookup_page(&state, &auth, &f, Vec::new(), Some(e.into())));
                }
                Err(e) => return Err(ui_error(e, Some(auth.nav("/emergency")))),
            };
            match found.as_slice() {
                [] => {
                    let e = AppError::invalid(
                        "family_name",
                        "no client has this family name and date of birth; check both with the person or their papers",
                    );
                    return Ok(lookup_page(&state, &auth, &f, Vec::new(), Some(e.into())));
                }
                [one] => one.id,
                several => {
                    let choices = several.iter().map(|c| (c.id.to_string(), c.details.display_name())).collect();
                    return Ok(lookup_page(&state, &auth, &f, choices, None));
                }
            }
        }
    };
    match usecase::emergency::open(&state, &caller, client, &f.reason).await {
        Ok(_) => Ok(Redirect::to(&format!("/clients/{client}/emergency")).into_response()),
        Err(e @ AppError::Unprocessable { .. }) => Ok(lookup_page(&state, &auth, &f, Vec::new(), Some(e.into()))),
        Err(e) => Err(ui_error(e, Some(auth.nav("/emergency")))),
    }
}

#[derive(Template)]
#[template(path = "emergency_summary.html")]
struct SummaryPage {
    nav: Option<Nav>,
    s: usecase::emergency::EmergencySummary,
    until: String,
}

/// The emergency summary, while the access lasts.
pub async fn summary(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let nav = || Some(auth.nav("/emergency"));
    let id: ClientId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", nav()))?;
    let s = usecase::emergency::summary(&state, &api_auth(&auth), id).await.map_err(|e| ui_error(e, nav()))?;
    let tz = state.practice_tz().await.map_err(|e| ui_error(e, nav()))?;
    let until = s.access.expires_at.to_zoned(tz).strftime("%H:%M").to_string();
    Ok(render(&SummaryPage { nav: nav(), s, until }))
}

/// One access as the director's queue lists it.
struct QueueRow {
    id: String,
    when: String,
    staff: String,
    client: String,
    reason: String,
    reviewed: Option<String>,
}

#[derive(Template)]
#[template(path = "emergency_queue.html")]
struct QueuePage {
    nav: Option<Nav>,
    rows: Vec<QueueRow>,
    all: bool,
    error: Option<Refused>,
}

async fn queue_page(state: &AppState, auth: &UiAuth, all: bool, error: Option<Refused>) -> PageResult {
    let nav = || Some(auth.nav("/emergency-access"));
    let (grants, staff, clients) =
        usecase::emergency::queue(state, &api_auth(auth), !all).await.map_err(|e| ui_error(e, nav()))?;
    let tz = state.practice_tz().await.map_err(|e| ui_error(e, nav()))?;
    let at = |t: jiff::Timestamp| t.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string();
    let rows = grants
        .iter()
        .map(|g| QueueRow {
            id: g.id.to_string(),
            when: at(g.granted_at),
            staff: staff.get(&g.staff_id).cloned().unwrap_or_default(),
            client: clients.get(&g.client_id).cloned().unwrap_or_default(),
            reason: g.reason.clone(),
            reviewed: g.reviewed_at.map(|t| {
                let by = g.reviewed_by.and_then(|s| staff.get(&s).cloned()).unwrap_or_default();
                format!("{} {by}: {}", at(t), g.review_note.clone().unwrap_or_default())
            }),
        })
        .collect();
    let page = render(&QueuePage { nav: nav(), rows, all, error: error.clone() });
    Ok(with_status(page, &error))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct QueueQuery {
    all: Option<String>,
}

/// The director's queue of emergency accesses to review.
pub async fn queue(
    State(state): State<AppState>,
    auth: UiAuth,
    axum::extract::Query(q): axum::extract::Query<QueueQuery>,
) -> PageResult {
    queue_page(&state, &auth, q.all.is_some(), None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReviewForm {
    note: String,
}

/// Records the director's review of one access.
pub async fn review(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(f): Form<ReviewForm>,
) -> PageResult {
    let nav = || Some(auth.nav("/emergency-access"));
    let id: EmergencyAccessId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such emergency access.", nav()))?;
    match usecase::emergency::review(&state, &api_auth(&auth), id, &f.note).await {
        Ok(_) => Ok(Redirect::to("/emergency-access").into_response()),
        Err(e @ (AppError::Unprocessable { .. } | AppError::Conflict { .. })) => {
            queue_page(&state, &auth, false, Some(e.into())).await
        }
        Err(e) => Err(ui_error(e, nav())),
    }
}
