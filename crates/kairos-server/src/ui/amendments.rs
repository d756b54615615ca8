//! Requests to amend the record in the browser: the client asks, reads the
//! answer and may file a statement of disagreement on the portal
//! (`/portal/amendments`); clinicians work the queue (`/amendment-requests`)
//! and decide each request on its page. The pages call
//! `usecase::amendments`, as the API does.

use super::form::{Refused, with_status};
use super::measures::CrisisView;
use super::portal::PortalPage;
use super::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::api::portal::PortalAuth;
use crate::error::AppError;
use crate::state::AppState;
use crate::usecase;
use crate::usecase::amendments::Decision;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use kairos_domain::amendment_requests::{DenialBasis, RecordArea, Status, StepKind};
use kairos_domain::ids::AmendmentRequestId;
use kairos_store::amendment_requests::AmendmentRequest;
use serde::Deserialize;

type PageResult = Result<Response, Response>;

/// A request as a page shows it.
pub struct RequestRow {
    pub id: String,
    pub asked: String,
    pub area: &'static str,
    pub which_record: Option<String>,
    pub requested_change: String,
    /// `open`, `overdue`, `accepted`, `denied`, `denied_disagreed`.
    pub status: &'static str,
    /// Plain words for where it stands.
    pub standing: String,
    pub extension: Option<String>,
    pub amendment: Option<String>,
    pub denial: Option<(String, String)>,
    pub disagreement: Option<String>,
    pub may_disagree: bool,
    pub client: String,
    pub client_id: String,
}

fn day(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%-d %B %Y").to_string()
}

pub fn row(r: &AmendmentRequest, now: Timestamp, tz: &jiff::tz::TimeZone, client: String) -> RequestRow {
    let status = r.status(now);
    let standing = match status {
        Status::Open { due, overdue: false, .. } => format!("Waiting for an answer, due by {}", day(due, tz)),
        Status::Open { due, overdue: true, .. } => format!("Overdue: the answer was due by {}", day(due, tz)),
        Status::Accepted => "Accepted: the record was amended".to_string(),
        Status::Denied { .. } => "Not accepted".to_string(),
    };
    let text = |k: StepKind| r.step(k).map(|s| s.text.clone());
    RequestRow {
        id: r.id.to_string(),
        asked: day(r.asked_at, tz),
        area: r.area.label(),
        which_record: r.which_record.clone(),
        requested_change: r.requested_change.clone(),
        status: status.as_str(),
        standing,
        extension: r.step(StepKind::Extended).map(|s| {
            format!("More time was needed (until {}): {}", s.due_at.map(|d| day(d, tz)).unwrap_or_default(), s.text)
        }),
        amendment: text(StepKind::Accepted),
        denial: r
            .step(StepKind::Denied)
            .map(|s| (s.basis.map(|b| b.label()).unwrap_or_default().to_string(), s.text.clone())),
        disagreement: text(StepKind::Disagreed),
        may_disagree: matches!(status, Status::Denied { disagreed: false }),
        client,
        client_id: r.client_id.to_string(),
    }
}

fn areas() -> Vec<(&'static str, &'static str)> {
    RecordArea::ALL.iter().map(|a| (a.as_str(), a.label())).collect()
}

// ---- the portal ---------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal_amendments.html")]
struct PortalAmendments {
    nav: Option<Nav>,
    crisis: CrisisView,
    rows: Vec<RequestRow>,
    areas: Vec<(&'static str, &'static str)>,
    form: AskForm,
    error: Option<Refused>,
    sent: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AskForm {
    area: String,
    which_record: String,
    requested_change: String,
}

async fn portal_page(
    state: &AppState,
    auth: &PortalAuth,
    form: AskForm,
    error: Option<Refused>,
    sent: bool,
) -> PageResult {
    let perr = |e: AppError| ui_error(e, None);
    let reqs = usecase::amendments::mine(state, auth).await.map_err(perr)?;
    let tz = state.client_tz(auth.client).await.map_err(perr)?;
    let now = state.now();
    let rows = reqs.iter().map(|r| row(r, now, &tz, String::new())).collect();
    let page = render(&PortalAmendments {
        nav: None,
        crisis: CrisisView::from(&state.config.crisis),
        rows,
        areas: areas(),
        form,
        error: error.clone(),
        sent,
    });
    Ok(with_status(page, &error))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SentQuery {
    sent: Option<String>,
}

/// The client's requests and the form to ask (every showing audited).
pub async fn portal(
    State(state): State<AppState>,
    PortalPage(auth): PortalPage,
    axum::extract::Query(q): axum::extract::Query<SentQuery>,
) -> PageResult {
    portal_page(&state, &auth, AskForm::default(), None, q.sent.is_some()).await
}

/// The client asks; a refusal keeps what they wrote.
pub async fn portal_ask(
    State(state): State<AppState>,
    PortalPage(auth): PortalPage,
    Form(f): Form<AskForm>,
) -> PageResult {
    let which = Some(f.which_record.as_str());
    match usecase::amendments::ask(&state, &auth, &f.area, which, &f.requested_change).await {
        Ok(_) => Ok(Redirect::to("/portal/amendments?sent=1").into_response()),
        Err(e @ (AppError::Unprocessable { .. } | AppError::Conflict { .. })) => {
            portal_page(&state, &auth, f, Some(e.into()), false).await
        }
        Err(e) => Err(ui_error(e, None)),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DisagreeForm {
    statement: String,
}

/// The client's statement of disagreement with a denial.
pub async fn portal_disagree(
    State(state): State<AppState>,
    PortalPage(auth): PortalPage,
    Path(id): Path<String>,
    Form(f): Form<DisagreeForm>,
) -> PageResult {
    let id: AmendmentRequestId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such request.", None))?;
    match usecase::amendments::disagree(&state, &auth, id, &f.statement).await {
        Ok(_) => Ok(Redirect::to("/portal/amendments").into_response()),
        Err(e @ (AppError::Unprocessable { .. } | AppError::Conflict { .. })) => {
            portal_page(&state, &auth, AskForm::default(), Some(e.into()), false).await
        }
        Err(e) => Err(ui_error(e, None)),
    }
}

// ---- the clinic's queue ---------------------------------------------------------

#[derive(Template)]
#[template(path = "amendment_queue.html")]
struct QueuePage {
    nav: Option<Nav>,
    open: Vec<RequestRow>,
    decided: Vec<RequestRow>,
}

/// Requests waiting for a decision (oldest first) and the latest decided.
pub async fn queue(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    let nav = || Some(auth.nav("/amendment-requests"));
    let (open, decided, names) =
        usecase::amendments::queue(&state, &api_auth(&auth)).await.map_err(|e| ui_error(e, nav()))?;
    let tz = state.practice_tz().await.map_err(|e| ui_error(e, nav()))?;
    let now = state.now();
    let name = |r: &AmendmentRequest| names.get(&r.client_id).cloned().unwrap_or_default();
    Ok(render(&QueuePage {
        nav: nav(),
        open: open.iter().map(|r| row(r, now, &tz, name(r))).collect(),
        decided: decided.iter().map(|r| row(r, now, &tz, name(r))).collect(),
    }))
}

#[derive(Template)]
#[template(path = "amendment_request.html")]
struct RequestPage {
    nav: Option<Nav>,
    r: RequestRow,
    via: String,
    open: bool,
    may_extend: bool,
    bases: Vec<(&'static str, &'static str)>,
    form: DecisionForm,
    error: Option<Refused>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    decision: String,
    amendment: String,
    basis: String,
    explanation: String,
    reasons: String,
}

async fn request_page(
    state: &AppState,
    auth: &UiAuth,
    id: AmendmentRequestId,
    form: DecisionForm,
    error: Option<Refused>,
) -> PageResult {
    let nav = || Some(auth.nav("/amendment-requests"));
    let req = usecase::amendments::get(state, &api_auth(auth), id).await.map_err(|e| ui_error(e, nav()))?;
    let names = usecase::clients::names(state, &[req.client_id]).await.map_err(|e| ui_error(e, nav()))?;
    let tz = state.practice_tz().await.map_err(|e| ui_error(e, nav()))?;
    let now = state.now();
    let status = req.status(now);
    let via = match req.entered_by {
        Some(s) => {
            let staff = state.store.staff_names(&[s]).await.map_err(|e| ui_error(e.into(), nav()))?;
            format!("received in writing, entered by {}", staff.get(&s).cloned().unwrap_or_default())
        }
        None => "asked by the client on the portal".to_string(),
    };
    let page = render(&RequestPage {
        nav: nav(),
        r: row(&req, now, &tz, names.get(&req.client_id).cloned().unwrap_or_default()),
        via,
        open: matches!(status, Status::Open { .. }),
        may_extend: matches!(status, Status::Open { extended: false, overdue: false, .. }),
        bases: DenialBasis::ALL.iter().map(|b| (b.as_str(), b.label())).collect(),
        form,
        error: error.clone(),
    });
    Ok(with_status(page, &error))
}

fn request_id(auth: &UiAuth, id: &str) -> Result<AmendmentRequestId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such request.", Some(auth.nav("/amendment-requests"))))
}

/// One request, with the forms to extend and to decide it.
pub async fn show(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let id = request_id(&auth, &id)?;
    request_page(&state, &auth, id, DecisionForm::default(), None).await
}

/// Extends the time to act, once.
pub async fn extend(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> PageResult {
    let id = request_id(&auth, &id)?;
    match usecase::amendments::extend(&state, &api_auth(&auth), id, &f.reasons).await {
        Ok(_) => Ok(Redirect::to(&format!("/amendment-requests/{id}")).into_response()),
        Err(e @ (AppError::Unprocessable { .. } | AppError::Conflict { .. })) => {
            request_page(&state, &auth, id, f, Some(e.into())).await
        }
        Err(e) => Err(ui_error(e, Some(auth.nav("/amendment-requests")))),
    }
}

/// Accepts (with the amendment) or denies (on a ground, explained).
pub async fn decide(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> PageResult {
    let id = request_id(&auth, &id)?;
    let decision = Decision::parse(&f.decision, Some(&f.amendment), Some(&f.basis), Some(&f.explanation));
    let result = match decision {
        Ok(d) => usecase::amendments::decide(&state, &api_auth(&auth), id, d).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/amendment-requests/{id}")).into_response()),
        Err(e @ (AppError::Unprocessable { .. } | AppError::Conflict { .. })) => {
            request_page(&state, &auth, id, f, Some(e.into())).await
        }
        Err(e) => Err(ui_error(e, Some(auth.nav("/amendment-requests")))),
    }
}

// ---- a request received in writing ----------------------------------------------

#[derive(Template)]
#[template(path = "amendment_enter.html")]
struct EnterPage {
    nav: Option<Nav>,
    client_id: String,
    client: String,
    areas: Vec<(&'static str, &'static str)>,
    form: AskForm,
    error: Option<Refused>,
}

async fn enter_page(
    state: &AppState,
    auth: &UiAuth,
    client: kairos_domain::ids::ClientId,
    form: AskForm,
    error: Option<Refused>,
) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let names = usecase::clients::names(state, &[client]).await.map_err(|e| ui_error(e, nav()))?;
    let Some(name) = names.get(&client).cloned() else {
        return Err(page_error(StatusCode::NOT_FOUND, "No such client.", nav()));
    };
    let page = render(&EnterPage {
        nav: nav(),
        client_id: client.to_string(),
        client: name,
        areas: areas(),
        form,
        error: error.clone(),
    });
    Ok(with_status(page, &error))
}

fn client_id(auth: &UiAuth, id: &str) -> Result<kairos_domain::ids::ClientId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", Some(auth.nav("/clients"))))
}

/// The form to enter a request the client made in writing.
pub async fn enter_form(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let client = client_id(&auth, &id)?;
    enter_page(&state, &auth, client, AskForm::default(), None).await
}

/// Enters it; back to the chart.
pub async fn enter(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(f): Form<AskForm>,
) -> PageResult {
    let client = client_id(&auth, &id)?;
    let which = Some(f.which_record.as_str());
    match usecase::amendments::enter(&state, &api_auth(&auth), client, &f.area, which, &f.requested_change).await {
        Ok(_) => Ok(Redirect::to(&format!("/clients/{client}#amendments")).into_response()),
        Err(e @ (AppError::Unprocessable { .. } | AppError::Conflict { .. })) => {
            enter_page(&state, &auth, client, f, Some(e.into())).await
        }
        Err(e) => Err(ui_error(e, Some(auth.nav("/clients")))),
    }
}
