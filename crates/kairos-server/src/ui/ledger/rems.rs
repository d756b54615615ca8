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
    /// The REMS rules as the clinic's policy sets them.
    min_minutes: i64,
    form_days: i64,
    /// Patient, provider and setting rows: (label, value).
    patient: Vec<(&'static str, String)>,
    people: Vec<(&'static str, String)>,
    /// The yes/no questions on vital signs.
    vitals_ok: Vec<(&'static str, bool)>,
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
        minutes_short: f
            .minutes_monitored
            .is_none_or(|m| state.config.safety.rems.minimum_minutes().is_some_and(|min| m < min)),
        min_minutes: state.config.safety.rems.minimum_monitoring_minutes,
        form_days: state.config.safety.rems.monitoring_form_days,
        patient: vec![
            (
                "Sex",
                f.sex.map_or_else(|| "not recorded (record the REMS enrolment)".into(), |x| x.as_str().to_string()),
            ),
            ("First treatment", if f.first_treatment { "Yes" } else { "No" }.into()),
            ("Enrolled in the REMS", if f.enrolled { "Yes" } else { "No: submit the Patient Enrollment Form" }.into()),
        ],
        people: {
            let p = &f.people;
            let or = |x: &Option<String>, missing: &str| x.clone().unwrap_or_else(|| missing.to_string());
            vec![
                ("Healthcare provider conducting monitoring", p.monitoring_name.clone()),
                ("Their telephone (the setting's)", or(&p.monitoring_phone, "not set: see REMS settings")),
                ("Their e-mail", p.monitoring_email.clone()),
                ("Healthcare setting", or(&p.setting_name, "not set: see REMS settings")),
                ("Setting address", or(&p.setting_address, "not set: see REMS settings")),
                ("Prescriber on site", or(&p.prescriber_on_site, "not recorded")),
            ]
        },
        vitals_ok: vec![
            ("Vital signs in acceptable range prior to administration", f.vitals_ok_before_administration),
            ("Vital signs in acceptable range prior to treatment session completion", f.vitals_ok_before_completion),
        ],
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
        can_submit: v.state.submitted_at.is_none() && auth.staff.roles.allow(Permission::RecordLedger),
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
    auth.require(Permission::ReadLedger)?;
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
    auth.require(Permission::RecordLedger)?;
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
    auth.require(Permission::ReadLedger)?;
    let nav = || ledger_nav(&auth);
    let due = usecase::ledger::rems_forms_due(&state, &api_auth(&auth)).await.map_err(|e| ui_error(e, nav()))?;
    Ok(render(&RemsDuePage { nav: nav(), rows: rems_rows(due) }))
}

/// A REMS enrolment as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EnrolmentForm {
    pub enrolled_on: String,
    pub sex: String,
    pub rems_patient_id: String,
    /// The dosing visit to return to (only an `/encounters/...` path).
    pub back: String,
}

#[derive(Template)]
#[template(path = "rems_enrolment.html")]
struct EnrolmentPage {
    nav: Option<Nav>,
    client_id: String,
    client: String,
    enrolment: Option<kairos_domain::rems::Enrolment>,
    required: bool,
    form: EnrolmentForm,
    error: Option<crate::ui::form::Refused>,
}

/// Only a return to a dosing visit's start form: never an address from elsewhere.
fn back_to(back: &str) -> Option<String> {
    let b = back.trim();
    let rest = b.strip_prefix("/encounters/")?.strip_suffix("/dosing")?;
    rest.parse::<kairos_domain::ids::EncounterId>().ok().map(|id| format!("/encounters/{id}/dosing"))
}

async fn enrolment_page(
    state: &AppState,
    auth: &UiAuth,
    id: &str,
    form: EnrolmentForm,
    error: Option<crate::ui::form::Refused>,
) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let client: kairos_domain::ids::ClientId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", nav()))?;
    let name = usecase::clients::name(state, client).await.map_err(|e| ui_error(e, nav()))?;
    let enrolment = usecase::rems::enrolment(state, &api_auth(auth), client).await.map_err(|e| ui_error(e, nav()))?;
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = EnrolmentPage {
        nav: nav(),
        client_id: client.to_string(),
        client: name,
        enrolment,
        required: state.config.safety.rems.enrolment_before_first_dose.required,
        form,
        error,
    };
    Ok((status, render(&page)).into_response())
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BackQuery {
    pub back: String,
}

pub async fn rems_enrolment(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<BackQuery>,
) -> PageResult {
    auth.require(Permission::SignEligibility)?;
    let form = EnrolmentForm { back: back_to(&q.back).unwrap_or_default(), ..EnrolmentForm::default() };
    enrolment_page(&state, &auth, &id, form, None).await
}

pub async fn rems_enrol(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<EnrolmentForm>,
) -> PageResult {
    auth.require(Permission::SignEligibility)?;
    let nav = || Some(auth.nav("/clients"));
    let client: kairos_domain::ids::ClientId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", nav()))?;
    let patient_id = Some(form.rems_patient_id.as_str()).filter(|s| !s.trim().is_empty());
    match usecase::rems::enrol(&state, &api_auth(&auth), client, &form.enrolled_on, &form.sex, patient_id).await {
        Ok(_) => {
            let to = back_to(&form.back).unwrap_or_else(|| format!("/clients/{client}#rems-status"));
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) if e.field().is_some() => enrolment_page(&state, &auth, &id, form, Some(e.into())).await,
        Err(e) => Err(ui_error(e, nav())),
    }
}

/// A site's REMS setting details as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SettingForm {
    pub name: String,
    pub address: String,
    pub phone: String,
}

pub struct SettingRow {
    pub site_id: String,
    pub site: String,
    pub form: SettingForm,
    pub set: bool,
    pub error: Option<crate::ui::form::Refused>,
}

#[derive(Template)]
#[template(path = "rems_settings.html")]
struct SettingsPage {
    nav: Option<Nav>,
    rows: Vec<SettingRow>,
    can_edit: bool,
    rules: Vec<(&'static str, kairos_domain::rems::Requirement)>,
    form_days: i64,
    min_minutes: i64,
}

async fn settings_page(
    state: &AppState,
    auth: &UiAuth,
    typed: Option<(kairos_domain::ids::SiteId, SettingForm, crate::ui::form::Refused)>,
) -> PageResult {
    let nav = || ledger_nav(auth);
    let all = usecase::rems::settings(state, &api_auth(auth)).await.map_err(|e| ui_error(e, nav()))?;
    let mut status = StatusCode::OK;
    let rows = all
        .into_iter()
        .map(|(site, setting)| {
            let set = setting.is_some();
            let mut form =
                setting.map(|s| SettingForm { name: s.name, address: s.address, phone: s.phone }).unwrap_or_default();
            let mut error = None;
            if let Some((id, f, e)) = &typed
                && *id == site.id
            {
                form = f.clone();
                status = e.status;
                error = Some(e.clone());
            }
            SettingRow { site_id: site.id.to_string(), site: site.name, form, set, error }
        })
        .collect();
    let r = &state.config.safety.rems;
    let page = SettingsPage {
        nav: nav(),
        rows,
        can_edit: auth.staff.roles.allow(Permission::ManageRegistrations),
        rules: vec![
            ("Patient enrolled before the first dose", r.enrolment_before_first_dose.clone()),
            ("A prescriber on site during administration and monitoring", r.prescriber_on_site.clone()),
            ("A Patient Monitoring Form after every session", r.monitoring_form.clone()),
            ("A minimum monitoring time after each dose", r.minimum_monitoring.clone()),
        ],
        form_days: r.monitoring_form_days,
        min_minutes: r.minimum_monitoring_minutes,
    };
    Ok((status, render(&page)).into_response())
}

pub async fn rems_settings(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    settings_page(&state, &auth, None).await
}

pub async fn rems_setting_save(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<SettingForm>,
) -> PageResult {
    auth.require(Permission::ManageRegistrations)?;
    let nav = || ledger_nav(&auth);
    let site: kairos_domain::ids::SiteId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such site.", nav()))?;
    match usecase::rems::set_setting(&state, &api_auth(&auth), site, &form.name, &form.address, &form.phone).await {
        Ok(_) => Ok(Redirect::to("/rems/settings").into_response()),
        Err(e) if e.field().is_some() => settings_page(&state, &auth, Some((site, form, e.into()))).await,
        Err(e) => Err(ui_error(e, nav())),
    }
}
