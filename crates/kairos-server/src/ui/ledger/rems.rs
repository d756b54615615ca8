//! The esketamine REMS Patient Monitoring Form of a session, and the forms
//! due.

use super::{Kept, PageResult, Refusal, kept, ledger_nav, when};
use crate::api::dosing::{RemsDueView, RemsView, rems_view};
use crate::error::AppError;
use crate::state::AppState;
use crate::ui::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::usecase;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use kairos_domain::ids::DosingSessionId;
use kairos_domain::roles::Permission;
use serde::Deserialize;

/// The REMS form's answer and submission, as typed.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RemsSaveForm {
    pub ready_after_minutes: String,
    pub confirmation: String,
}

pub struct RemsRow {
    pub href: String,
    pub client: String,
    pub session: String,
    pub due: String,
    pub overdue: bool,
    pub signed: bool,
}

/// The forms due, each session's time in its own site's zone.
pub(super) fn rems_rows(due: Vec<RemsDueView>) -> Vec<RemsRow> {
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
    let tz = crate::usecase::dosing::time_zone(state, id).await.map_err(|e| ui_error(e, nav()))?;
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
    let today = state.now().to_zoned(jiff::tz::TimeZone::UTC).date();
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
    let ready = crate::ui::form::whole::<i64>(
        "ready_after_minutes",
        "Ready to leave after (minutes)",
        &form.ready_after_minutes,
    )?;
    crate::usecase::dosing::save_rems(state, &api_auth(auth), id, ready, Some(form.confirmation.as_str())).await
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
