//! The dosing-session pages, for the nurse at the chair on a tablet: start
//! (checklist, pre-dose vitals, dose), vitals with alerts shown at once,
//! discharge, signature.

use super::{Nav, UiAuth, page_error, render, ui_error};
use crate::api::dosing::{SessionStart, start_session};
use crate::error::AppError;
use crate::extract::Auth;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use kairos_domain::dosing::Vitals;
use kairos_domain::ids::{DosingSessionId, EncounterId};
use kairos_domain::roles::Permission;
use kairos_store::dosing::Checklist;
use std::collections::HashMap;

type PageResult = Result<Response, Response>;

fn api_auth(auth: &UiAuth) -> Auth {
    Auth { staff: auth.staff.clone(), token: auth.token.clone(), remote_addr: auth.remote_addr.clone() }
}

fn detail(e: AppError) -> String {
    match e {
        AppError::Unprocessable { detail, .. } | AppError::BadRequest { detail, .. } => detail,
        AppError::Conflict { detail, .. } => detail,
        other => other.to_string(),
    }
}

#[derive(Template)]
#[template(path = "dosing_start.html")]
struct StartPage {
    nav: Option<Nav>,
    encounter_id: EncounterId,
    client: String,
    protocol: String,
    can_override: bool,
    hold: String,
    /// In-date ledger stock of the right substance at this site: (id, label).
    stocks: Vec<(String, String)>,
    substance: &'static str,
    unit: &'static str,
    values: HashMap<String, String>,
    error: Option<String>,
}

async fn start_page(
    state: &AppState,
    auth: &UiAuth,
    enc: EncounterId,
    values: HashMap<String, String>,
    error: Option<String>,
) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let e = state.store.get_encounter(enc).await.map_err(|e| ui_error(e.into(), nav()))?;
    let client = state.store.get_client(e.client_id).await.map_err(|e| ui_error(e.into(), nav()))?;
    let (protocol, route) = match e.course_id {
        Some(c) => {
            let course = state.store.get_course(c).await.map_err(|e| ui_error(e.into(), nav()))?;
            match state.config.protocols.get(&course.protocol) {
                Some(p) => (p.name.clone(), p.dose.route.as_str().to_string()),
                None => (course.protocol, "iv".to_string()),
            }
        }
        None => ("no course".into(), "iv".to_string()),
    };
    let substance = kairos_domain::ledger::Substance::for_route(&route);
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut stocks = Vec::new();
    let regs = state.store.registrations().await.map_err(|e| ui_error(e.into(), nav()))?;
    for r in regs.iter().filter(|r| r.site_id == e.site_id) {
        for s in state.store.stocks(Some(r.id)).await.map_err(|e| ui_error(e.into(), nav()))? {
            if s.substance == substance && s.balance.is_positive() && s.expires.is_none_or(|d| d >= today) {
                stocks.push((
                    s.id.to_string(),
                    format!(
                        "{} mg/{} · lot {} · {} {} on the books{}",
                        s.mg_per_unit,
                        s.unit,
                        s.lot,
                        s.balance,
                        s.unit,
                        s.expires.map(|d| format!(" · expires {d}")).unwrap_or_default()
                    ),
                ));
            }
        }
    }
    let h = &state.config.safety.pre_dose_hold;
    Ok(render(&StartPage {
        nav: nav(),
        encounter_id: enc,
        client: client.details.display_name(),
        protocol,
        can_override: auth.staff.roles.allow(Permission::OverrideSafetyHold),
        hold: format!("{}/{}", h.systolic_at_least, h.diastolic_at_least),
        stocks,
        substance: substance.as_str(),
        unit: if substance == kairos_domain::ledger::Substance::Esketamine { "devices" } else { "mL" },
        values,
        error,
    }))
}

pub async fn start_form(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ChartDosing)?;
    let enc: EncounterId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such encounter.", Some(auth.nav("/clients"))))?;
    if let Some(s) = state.store.dosing_session_for(enc).await.map_err(|e| ui_error(e.into(), None))? {
        return Ok(Redirect::to(&format!("/dosing-sessions/{s}")).into_response());
    }
    start_page(&state, &auth, enc, HashMap::new(), None).await
}

fn num<T: std::str::FromStr>(form: &HashMap<String, String>, k: &str) -> Option<T> {
    form.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()).and_then(|v| v.parse().ok())
}

fn vitals_of(form: &HashMap<String, String>) -> Vitals {
    Vitals {
        systolic: num(form, "systolic"),
        diastolic: num(form, "diastolic"),
        heart_rate: num(form, "heart_rate"),
        spo2: num(form, "spo2"),
        respiratory_rate: num(form, "respiratory_rate"),
        moaas: num(form, "moaas"),
    }
}

pub async fn start_submit(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    let enc: EncounterId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such encounter.", Some(auth.nav("/clients"))))?;
    let yes = |k: &str| form.get(k).is_some_and(|v| v == "yes");
    let body = SessionStart {
        checklist: Checklist {
            fasting_confirmed: yes("fasting_confirmed"),
            ride_home_arranged: yes("ride_home_arranged"),
            no_driving_agreed: yes("no_driving_agreed"),
            pregnancy_test: form.get("pregnancy_test").cloned().unwrap_or_default(),
            mood_check: form.get("mood_check").cloned().unwrap_or_default(),
        },
        pre_vitals: vitals_of(&form),
        override_reason: form.get("override_reason").cloned().filter(|r| !r.trim().is_empty()),
        route: None,
        mg_per_kg: None,
        weight_kg: num(&form, "weight_kg"),
        dose_mg: num(&form, "dose_mg"),
        lot: form.get("lot").cloned().filter(|l| !l.trim().is_empty()),
        stock_id: form.get("stock_id").cloned().filter(|l| !l.trim().is_empty()),
        drawn: num(&form, "drawn"),
        started_at: None,
    };
    match start_session(&state, &api_auth(&auth), enc, &body).await {
        Ok(s) => Ok(Redirect::to(&format!("/dosing-sessions/{}", s.id)).into_response()),
        Err(AppError::Forbidden(m)) => Err(page_error(StatusCode::FORBIDDEN, &m, Some(auth.nav("/clients")))),
        Err(e) => start_page(&state, &auth, enc, form.clone(), Some(detail(e))).await,
    }
}

pub struct VitalsRow {
    pub at: String,
    pub values: String,
    pub alerts: Vec<String>,
    pub emergency: bool,
}

#[derive(Template)]
#[template(path = "dosing_session.html")]
struct SessionPage {
    nav: Option<Nav>,
    id: DosingSessionId,
    client_id: kairos_domain::ids::ClientId,
    client: String,
    dose: String,
    started: String,
    hold: Option<String>,
    override_reason: Option<String>,
    earliest_discharge: String,
    discharged: Option<String>,
    signed: Option<String>,
    rows: Vec<VitalsRow>,
    open_alerts: Vec<String>,
    can_chart: bool,
    error: Option<String>,
}

fn vitals_text(v: &Vitals) -> String {
    let mut parts = Vec::new();
    if let (Some(s), Some(d)) = (v.systolic, v.diastolic) {
        parts.push(format!("BP {s}/{d}"));
    }
    if let Some(h) = v.heart_rate {
        parts.push(format!("HR {h}"));
    }
    if let Some(x) = v.spo2 {
        parts.push(format!("SpO2 {x}%"));
    }
    if let Some(x) = v.respiratory_rate {
        parts.push(format!("RR {x}"));
    }
    if let Some(x) = v.moaas {
        parts.push(format!("MOAA/S {x}"));
    }
    parts.join(", ")
}

async fn session_page(state: &AppState, auth: &UiAuth, id: DosingSessionId, error: Option<String>) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let s = state.store.get_dosing_session(id).await.map_err(|e| ui_error(e.into(), nav()))?;
    state
        .store
        .audit_read(
            &auth.actor(),
            kairos_store::AuditEntry::new(kairos_store::Action::Read, "dosing_session", s.id).client(s.client_id),
        )
        .await
        .map_err(|e| ui_error(e.into(), nav()))?;
    let client = state.store.get_client(s.client_id).await.map_err(|e| ui_error(e.into(), nav()))?;
    let tz = crate::api::clinic_tz(state).await.map_err(|e| ui_error(e, nav()))?;
    let t = |x: Timestamp| x.to_zoned(tz.clone()).strftime("%H:%M").to_string();
    let rows: Vec<VitalsRow> = s
        .vitals
        .iter()
        .map(|v| VitalsRow {
            at: t(v.at),
            values: vitals_text(&v.vitals),
            alerts: v.alerts.iter().map(|a| a.message.clone()).collect(),
            emergency: v.alerts.iter().any(|a| a.emergency),
        })
        .collect();
    // The latest reading's alerts stay at the top until a later reading clears them.
    let open_alerts = s.vitals.last().map(|v| v.alerts.iter().map(|a| a.message.clone()).collect()).unwrap_or_default();
    let dose = match (s.mg_per_kg, s.weight_kg) {
        (Some(k), Some(w)) => {
            format!("{} mg {} ({k} mg/kg × {w} kg), lot {}", s.dose_mg, s.route.to_uppercase(), s.lot)
        }
        _ => format!("{} mg {}, lot {}", s.dose_mg, s.route.to_uppercase(), s.lot),
    };
    Ok(render(&SessionPage {
        nav: nav(),
        id: s.id,
        client_id: s.client_id,
        client: client.details.display_name(),
        dose,
        started: t(s.started_at),
        hold: s.hold_reason.clone(),
        override_reason: s.override_reason.clone(),
        earliest_discharge: t(s.started_at + jiff::SignedDuration::from_mins(s.monitoring_minutes)),
        discharged: s.discharged_at.map(|d| format!("{} with {}", t(d), s.accompanied_by.clone().unwrap_or_default())),
        signed: s.signed_at.map(t),
        rows,
        open_alerts,
        can_chart: s.signed_at.is_none() && auth.staff.roles.allow(Permission::ChartDosing),
        error,
    }))
}

fn session_id(auth: &UiAuth, id: &str) -> Result<DosingSessionId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such dosing session.", Some(auth.nav("/clients"))))
}

pub async fn show(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadScreening)?;
    let id = session_id(&auth, &id)?;
    session_page(&state, &auth, id, None).await
}

pub async fn add_vitals(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    auth.require(Permission::ChartDosing)?;
    let id = session_id(&auth, &id)?;
    let v = vitals_of(&form);
    if let Err(e) = v.validate() {
        return session_page(&state, &auth, id, Some(e.to_string())).await;
    }
    let alerts = state.config.safety.alerts(&v);
    match state.store.add_vitals(&auth.actor(), id, Timestamp::now(), &v, &alerts).await {
        Ok(_) => Ok(Redirect::to(&format!("/dosing-sessions/{id}")).into_response()),
        Err(e) => session_page(&state, &auth, id, Some(detail(e.into()))).await,
    }
}

pub async fn discharge(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    auth.require(Permission::ChartDosing)?;
    let id = session_id(&auth, &id)?;
    let who = form.get("accompanied_by").map(|w| w.trim().to_string()).unwrap_or_default();
    if who.is_empty() {
        return session_page(&state, &auth, id, Some("Name the adult who takes the client home.".into())).await;
    }
    match state.store.discharge(&auth.actor(), id, Timestamp::now(), &who).await {
        Ok(_) => Ok(Redirect::to(&format!("/dosing-sessions/{id}")).into_response()),
        Err(e) => session_page(&state, &auth, id, Some(detail(e.into()))).await,
    }
}

pub async fn sign(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ChartDosing)?;
    let id = session_id(&auth, &id)?;
    match state.store.sign_dosing_session(&auth.actor(), id).await {
        Ok(_) => Ok(Redirect::to(&format!("/dosing-sessions/{id}")).into_response()),
        Err(e) => session_page(&state, &auth, id, Some(detail(e.into()))).await,
    }
}
