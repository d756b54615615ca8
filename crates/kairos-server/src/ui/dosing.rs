//! The dosing-session pages, for the nurse at the chair on a tablet: start
//! (checklist, pre-dose vitals, dose), vitals with alerts shown at once,
//! discharge, signature.

use super::{Nav, UiAuth, api_auth, detail, page_error, render, ui_error};
use crate::api::dosing::{SessionStart, start_session};
use crate::error::AppError;
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
    /// Now at the clinic, as a `datetime-local` value.
    now_local: String,
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
        now_local: {
            let tz = crate::api::clinic_tz(state).await.map_err(|e| ui_error(e, nav()))?;
            Timestamp::now().to_zoned(tz).strftime("%Y-%m-%dT%H:%M").to_string()
        },
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
    // A datetime-local value in the clinic's time zone.
    let started_at = match form.get("started_at").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let tz = crate::api::clinic_tz(&state).await.map_err(|e| ui_error(e, None))?;
            match v.parse::<jiff::civil::DateTime>().ok().and_then(|dt| dt.to_zoned(tz).ok()) {
                Some(z) => Some(z.timestamp().to_string()),
                None => {
                    return start_page(
                        &state,
                        &auth,
                        enc,
                        form.clone(),
                        Some("Give the start as a date and time.".into()),
                    )
                    .await;
                }
            }
        }
    };
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
        started_at,
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
    /// When the next vital signs are due, and whether that time has passed.
    next_vitals: Option<(String, bool)>,
    /// Observations: (time, summary, serious).
    events: Vec<(String, String, bool)>,
    /// Amendments after signing: (when, who, part, correction, reason).
    amendments: Vec<(String, String, String, String, String)>,
    can_amend: bool,
    /// Ledger lines of this dose: (kind, quantity with unit, balance after, witnesses).
    ledger: Vec<(String, String, String, String)>,
    /// The administration entry and what of its draw is still to waste.
    waste_due: Option<(String, String)>,
    can_waste: bool,
    unit: String,
    esketamine: bool,
    side_effects: Vec<(&'static str, String)>,
    severities: Vec<(&'static str, String)>,
    parts: Vec<&'static str>,
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
    let entries = state.store.entries_for_session(s.id).await.map_err(|e| ui_error(e.into(), nav()))?;
    let mut staff_ids: Vec<kairos_domain::ids::StaffId> =
        s.amendments.iter().map(|a| a.by).chain(entries.iter().flat_map(|e| e.witnesses.clone())).collect();
    staff_ids.sort();
    staff_ids.dedup();
    let names = state.store.staff_names(&staff_ids).await.map_err(|e| ui_error(e.into(), nav()))?;
    let name = |id: &kairos_domain::ids::StaffId| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let stock = match entries.first() {
        Some(e) => Some(state.store.stock(e.stock_id).await.map_err(|e| ui_error(e.into(), nav()))?),
        None => None,
    };
    let unit = stock.as_ref().map(|k| k.unit.as_str().to_string()).unwrap_or_default();
    let admin = entries.iter().find(|e| e.kind == kairos_domain::ledger::EntryKind::Administration);
    let waste_due = admin.and_then(|a| {
        let wasted = entries
            .iter()
            .filter(|e| e.related_id == Some(a.id) && e.kind == kairos_domain::ledger::EntryKind::Waste)
            .fold(kairos_domain::ledger::Quantity::ZERO, |q, e| q + e.quantity);
        let out = a.detail.drawn.unwrap_or(a.quantity) - a.quantity - wasted;
        out.is_positive().then(|| (a.id.to_string(), out.to_string()))
    });
    let ledger = entries
        .iter()
        .map(|e| {
            let what = match (e.kind, e.detail.drawn) {
                (kairos_domain::ledger::EntryKind::Administration, Some(d)) => {
                    format!("Administration (drawn {d} {unit})")
                }
                _ => e.kind.label().to_string(),
            };
            (
                what,
                format!("{} {unit}", e.quantity),
                format!("{} {unit}", e.balance_after),
                e.witnesses.iter().map(name).collect::<Vec<_>>().join(", "),
            )
        })
        .collect();
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
        next_vitals: next_vitals(state, &s).map(|(at, what)| (format!("{} {what}", t(at)), at < Timestamp::now())),
        events: s
            .events
            .iter()
            .map(|e| {
                (
                    t(e.at),
                    e.event.summary(),
                    matches!(e.event, kairos_domain::dosing::SessionEvent::AdverseEvent { serious: true, .. }),
                )
            })
            .collect(),
        amendments: s
            .amendments
            .iter()
            .map(|a| {
                (
                    a.at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string(),
                    name(&a.by),
                    a.amendment.part.as_str().to_string(),
                    a.amendment.correction.clone(),
                    a.amendment.reason.clone(),
                )
            })
            .collect(),
        can_amend: s.signed_at.is_some() && auth.staff.roles.allow(Permission::ChartDosing),
        ledger,
        waste_due,
        can_waste: auth.staff.roles.allow(Permission::RecordLedger),
        unit,
        esketamine: s.route == "intranasal",
        side_effects: kairos_domain::dosing::SideEffectKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.as_str().replace('_', " ")))
            .collect(),
        severities: kairos_domain::dosing::Severity::ALL
            .iter()
            .map(|k| (k.as_str(), k.as_str().replace('_', "-")))
            .collect(),
        parts: kairos_domain::dosing::AmendedPart::ALL.iter().map(|k| k.as_str()).collect(),
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

/// Records a dissociation score, side effect or adverse event from the
/// session page (`kind` picks which).
pub async fn add_event(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    use kairos_domain::dosing::{SessionEvent, Severity, SideEffectKind};
    auth.require(Permission::ChartDosing)?;
    let id = session_id(&auth, &id)?;
    let text = |k: &str| form.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let event = match text("kind").as_str() {
        "dissociation" => match num::<u8>(&form, "cadss6") {
            Some(cadss6) => Ok(SessionEvent::Dissociation { cadss6 }),
            None => Err("Enter the CADSS-6 total (0-24).".to_string()),
        },
        "side_effect" => SideEffectKind::parse("effect", &text("effect"))
            .and_then(|effect| {
                Ok(SessionEvent::SideEffect {
                    effect,
                    description: Some(text("description")).filter(|d| !d.is_empty()),
                    severity: Severity::parse("severity", &text("severity"))?,
                    action: text("action"),
                })
            })
            .map_err(|e| e.to_string()),
        "adverse_event" => Severity::parse("severity", &text("severity"))
            .map(|severity| SessionEvent::AdverseEvent {
                description: text("description"),
                severity,
                serious: form.get("serious").is_some_and(|v| v == "yes"),
                action: text("action"),
                outcome: text("outcome"),
            })
            .map_err(|e| e.to_string()),
        _ => Err("Choose what to record.".to_string()),
    };
    let event = match event.and_then(|e| e.validate().map(|()| e).map_err(|e| e.to_string())) {
        Ok(e) => e,
        Err(m) => return session_page(&state, &auth, id, Some(m)).await,
    };
    match state.store.add_session_event(&auth.actor(), id, Timestamp::now(), &event).await {
        Ok(_) => Ok(Redirect::to(&format!("/dosing-sessions/{id}")).into_response()),
        Err(e) => session_page(&state, &auth, id, Some(detail(e.into()))).await,
    }
}

/// Amends a signed session.
pub async fn amend(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    auth.require(Permission::ChartDosing)?;
    let id = session_id(&auth, &id)?;
    let text = |k: &str| form.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let amendment = match kairos_domain::dosing::AmendedPart::parse("part", &text("part")) {
        Ok(part) => kairos_domain::dosing::Amendment { part, correction: text("correction"), reason: text("reason") },
        Err(e) => return session_page(&state, &auth, id, Some(e.to_string())).await,
    };
    match state.store.amend_dosing_session(&auth.actor(), id, &amendment).await {
        Ok(_) => Ok(Redirect::to(&format!("/dosing-sessions/{id}")).into_response()),
        Err(e) => session_page(&state, &auth, id, Some(detail(e.into()))).await,
    }
}

/// Wastes what was drawn but not given, with a witness who signs with their
/// own e-mail and password on this device.
pub async fn waste(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    auth.require(Permission::RecordLedger)?;
    let id = session_id(&auth, &id)?;
    let text = |k: &str| form.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let entries = state.store.entries_for_session(id).await.map_err(|e| ui_error(e.into(), None))?;
    let Some(admin) = entries.iter().find(|e| e.kind == kairos_domain::ledger::EntryKind::Administration) else {
        return session_page(
            &state,
            &auth,
            id,
            Some("This dose is not on the ledger; there is nothing to waste.".into()),
        )
        .await;
    };
    let Some(quantity) = num::<f64>(&form, "quantity") else {
        return session_page(&state, &auth, id, Some("Enter the quantity wasted.".into())).await;
    };
    let body = crate::api::ledger::EntryBody {
        kind: kairos_domain::ledger::EntryKind::Waste,
        quantity,
        occurred_at: None,
        related_id: Some(admin.id.to_string()),
        count_type: None,
        business_time: None,
        method: Some(text("method")),
        narrative: None,
        form_reference: None,
        recipient: None,
        witnesses: vec![crate::api::ledger::WitnessSignature {
            email: text("witness_email"),
            password: form.get("witness_password").cloned().unwrap_or_default(),
        }]
        .into_iter()
        .filter(|w| !w.email.is_empty())
        .collect(),
    };
    match crate::api::ledger::record(&state, &api_auth(&auth), admin.stock_id, &body).await {
        Ok(_) => Ok(Redirect::to(&format!("/dosing-sessions/{id}")).into_response()),
        Err(AppError::TooManyAttempts) => {
            session_page(
                &state,
                &auth,
                id,
                Some("Too many wrong passwords for that witness; wait and try again.".into()),
            )
            .await
        }
        Err(e) => session_page(&state, &auth, id, Some(detail(e))).await,
    }
}

/// The next vital signs due while the client is monitored: for esketamine
/// the REMS blood pressures (about 40 minutes after the dose, then before the
/// session ends); otherwise every `vitals.iv_every_minutes` of the clinic's
/// policy after the last reading.
fn next_vitals(state: &AppState, s: &kairos_store::dosing::DosingSession) -> Option<(Timestamp, String)> {
    if s.discharged_at.is_some() {
        return None;
    }
    let mins = |m: i64| s.started_at + jiff::SignedDuration::from_mins(m);
    if s.route == "intranasal" {
        let has_bp = |from: i64, to: i64| {
            s.vitals.iter().any(|v| {
                let m = v.at.duration_since(s.started_at).as_mins();
                v.vitals.systolic.is_some() && (from..=to).contains(&m)
            })
        };
        if !has_bp(25, 60) {
            return Some((mins(40), "(blood pressure about 40 minutes after the dose, REMS)".into()));
        }
        return Some((mins(s.monitoring_minutes - 10), "(blood pressure before the session ends, REMS)".into()));
    }
    let every = i64::from(state.config.safety.vitals.iv_every_minutes);
    let last = s.vitals.last().map(|v| v.at).unwrap_or(s.started_at);
    Some((last + jiff::SignedDuration::from_mins(every), format!("(every {every} minutes, local policy)")))
}
