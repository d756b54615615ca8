//! The dosing-session pages, for the nurse at the chair on a tablet: start
//! (checklist, pre-dose vitals, dose), vitals with alerts shown at once,
//! discharge, signature.

use super::form::{Refused, decimal, local_time, opt_text, ticked, whole};
use super::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kairos_domain::Refusal;
use kairos_domain::dosing::{Checklist, StartCommand, Vitals};
use kairos_domain::ids::{DosingSessionId, EncounterId};
use kairos_domain::roles::Permission;
use serde::Deserialize;

type PageResult = Result<Response, Response>;

/// A pre-dose questionnaire's answer: (result in words, when, raised an alert).
type Answered = (String, String, bool);

/// The start-of-dose form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StartForm {
    pub fasting_confirmed: Option<String>,
    pub nasal_medicines_clear: Option<String>,
    pub ride_home_arranged: Option<String>,
    pub no_driving_agreed: Option<String>,
    pub pregnancy_test: String,
    pub mood_check: String,
    pub systolic: String,
    pub diastolic: String,
    pub heart_rate: String,
    pub spo2: String,
    pub override_reason: String,
    pub weight_kg: String,
    pub dose_mg: String,
    pub stock_id: String,
    pub drawn: String,
    pub lot: String,
    pub started_at: String,
    pub dose_exception: String,
    pub self_harm_review: String,
    pub prescriber_on_site: String,
    pub pre_dose_note: String,
}

impl StartForm {
    /// The command; a field that does not parse is refused naming it.
    pub fn command(&self, tz: &TimeZone) -> Result<StartCommand, Refusal> {
        Ok(StartCommand {
            checklist: Checklist {
                fasting_confirmed: ticked(&self.fasting_confirmed),
                nasal_medicines_clear: ticked(&self.nasal_medicines_clear),
                ride_home_arranged: ticked(&self.ride_home_arranged),
                no_driving_agreed: ticked(&self.no_driving_agreed),
                pregnancy_test: self.pregnancy_test.clone(),
                mood_check: self.mood_check.clone(),
                pre_dose_note: opt_text(&self.pre_dose_note),
            },
            pre_vitals: Vitals {
                systolic: whole("pre_vitals.systolic", "Systolic", &self.systolic)?,
                diastolic: whole("pre_vitals.diastolic", "Diastolic", &self.diastolic)?,
                heart_rate: whole("pre_vitals.heart_rate", "Heart rate", &self.heart_rate)?,
                spo2: whole("pre_vitals.spo2", "SpO2", &self.spo2)?,
                respiratory_rate: None,
                moaas: None,
            },
            override_reason: opt_text(&self.override_reason),
            route: None,
            mg_per_kg: None,
            weight_kg: decimal("weight_kg", "Today's weight", &self.weight_kg)?,
            dose_mg: decimal("dose_mg", "Dose", &self.dose_mg)?,
            stock_id: match opt_text(&self.stock_id) {
                None => None,
                Some(v) => Some(v.parse().map_err(|_| Refusal::invalid("stock_id", "choose the stock from the list"))?),
            },
            drawn: decimal("drawn", "Volume drawn", &self.drawn)?
                .map(|d| kairos_domain::ledger::Quantity::from_units("drawn", d))
                .transpose()?,
            lot: opt_text(&self.lot),
            started_at: local_time("started_at", "Dose started at", &self.started_at, tz)?,
            dose_exception: opt_text(&self.dose_exception),
            self_harm_review: opt_text(&self.self_harm_review),
            prescriber_on_site: match opt_text(&self.prescriber_on_site) {
                None => None,
                Some(v) => Some(v.parse().map_err(|_| {
                    Refusal::invalid("prescriber_on_site", "choose the prescriber on site from the list")
                })?),
            },
        })
    }
}

#[derive(Template)]
#[template(path = "dosing_start.html")]
struct StartPage {
    nav: Option<Nav>,
    encounter_id: EncounterId,
    client: String,
    protocol: String,
    /// The protocol's dose in words.
    protocol_dose: String,
    can_override: bool,
    hold: String,
    /// In-date ledger stock of the right substance at this site: (id, label).
    stocks: Vec<(String, String)>,
    substance: &'static str,
    unit: &'static str,
    /// The site's time zone, named beside the time fields.
    tz_name: String,
    /// The client's open self-harm alerts: (what, answer, when, site time).
    self_harm: Vec<(String, String, String)>,
    /// The protocol's before-dose rules.
    spo2_required: bool,
    fasting: Option<String>,
    nasal_minutes: Option<u32>,
    /// The pre-dose questionnaires: name and, if answered, (result, when, raised an alert).
    pre_dose: Vec<(String, Option<Answered>)>,
    /// One of them is unanswered: a note says why.
    pre_dose_unanswered: bool,
    /// The client's chart, to record a questionnaire.
    client_id: String,
    /// Esketamine: the REMS at the start.
    rems: Option<usecase::dosing::RemsAtStart>,
    /// The caller, preselected as the prescriber on site when they are one.
    me: String,
    form: StartForm,
    error: Option<Refused>,
}

async fn start_page(
    state: &AppState,
    auth: &UiAuth,
    enc: EncounterId,
    form: Option<StartForm>,
    error: Option<Refused>,
) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let facts = usecase::dosing::start_facts(state, &api_auth(auth), enc).await.map_err(|e| ui_error(e, nav()))?;
    let substance = facts.substance;
    let stocks = facts
        .stocks
        .iter()
        .map(|s| {
            (
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
            )
        })
        .collect();
    let h = &state.config.safety.pre_dose_hold;
    // The start time is left blank (now, when the form is sent), so a form
    // kept open for a while does not chart the dose early.
    let form = form.unwrap_or_else(|| StartForm { pregnancy_test: "not_applicable".into(), ..StartForm::default() });
    Ok(render(&StartPage {
        nav: nav(),
        encounter_id: enc,
        client: facts.client_name,
        protocol: facts.protocol,
        protocol_dose: facts.protocol_dose,
        can_override: auth.staff.roles.allow(Permission::OverrideSafetyHold),
        hold: format!("{}/{}", h.systolic_at_least, h.diastolic_at_least),
        stocks,
        substance: substance.as_str(),
        unit: if substance == kairos_domain::ledger::Substance::Esketamine { "devices" } else { "mL" },
        tz_name: facts.time_zone.iana_name().unwrap_or("UTC").to_string(),
        self_harm: facts
            .open_self_harm
            .iter()
            .map(|a| {
                (
                    a.message.clone(),
                    a.value.to_string(),
                    a.raised_at.to_zoned(facts.time_zone.clone()).strftime("%a %-d %b %H:%M").to_string(),
                )
            })
            .collect(),
        spo2_required: facts.before_dose.spo2_required,
        fasting: facts.before_dose.fasting.clone(),
        nasal_minutes: facts.before_dose.nasal_medicines_minutes,
        pre_dose_unanswered: facts.pre_dose_measures.iter().any(|m| m.answered.is_none()),
        pre_dose: facts
            .pre_dose_measures
            .iter()
            .map(|m| {
                let answered = m.answered.as_ref().map(|(result, at, alert)| {
                    let when = at.to_zoned(facts.time_zone.clone()).strftime("%a %-d %b %H:%M").to_string();
                    (result.clone(), when, *alert)
                });
                (m.name.clone(), answered)
            })
            .collect(),
        client_id: facts.client_id.to_string(),
        rems: facts.rems,
        me: auth.staff.id.to_string(),
        form,
        error,
    }))
}

pub async fn start_form(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ChartDosing)?;
    let enc: EncounterId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such encounter.", Some(auth.nav("/clients"))))?;
    if let Some(s) = usecase::dosing::session_of_visit(&state, enc).await.map_err(|e| ui_error(e, None))? {
        return Ok(Redirect::to(&format!("/dosing-sessions/{s}")).into_response());
    }
    start_page(&state, &auth, enc, None, None).await
}

pub async fn start_submit(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<StartForm>,
) -> PageResult {
    let enc: EncounterId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such encounter.", Some(auth.nav("/clients"))))?;
    let tz = usecase::encounters::time_zone(&state, enc).await.map_err(|e| ui_error(e, Some(auth.nav("/clients"))))?;
    let cmd = match form.command(&tz) {
        Ok(c) => c,
        Err(r) => return start_refused(&state, &auth, enc, form, r.into()).await,
    };
    match usecase::dosing::start(&state, &api_auth(&auth), enc, &cmd).await {
        Ok(s) => Ok(Redirect::to(&format!("/dosing-sessions/{}", s.id)).into_response()),
        Err(e) => start_refused(&state, &auth, enc, form, e.into()).await,
    }
}

/// The start form again after a refusal, with everything typed kept.
async fn start_refused(state: &AppState, auth: &UiAuth, enc: EncounterId, form: StartForm, r: Refused) -> PageResult {
    let status = r.status;
    if status == StatusCode::FORBIDDEN && r.field != "override_reason" && r.field != "dose_exception" {
        return Err(page_error(status, &r.message, Some(auth.nav("/clients"))));
    }
    let mut page = start_page(state, auth, enc, Some(form), Some(r)).await?;
    *page.status_mut() = status;
    Ok(page)
}

/// A set of vital signs as typed on the session page.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VitalsForm {
    /// When the reading was taken (site time); blank: now.
    pub at: String,
    pub systolic: String,
    pub diastolic: String,
    pub heart_rate: String,
    pub spo2: String,
    pub respiratory_rate: String,
    pub moaas: String,
}

impl VitalsForm {
    pub fn parse(&self, tz: &TimeZone) -> Result<(Option<Timestamp>, Vitals), Refusal> {
        Ok((
            local_time("at", "Time of the reading", &self.at, tz)?,
            Vitals {
                systolic: whole("vitals.systolic", "Systolic", &self.systolic)?,
                diastolic: whole("vitals.diastolic", "Diastolic", &self.diastolic)?,
                heart_rate: whole("vitals.heart_rate", "Heart rate", &self.heart_rate)?,
                spo2: whole("vitals.spo2", "SpO2", &self.spo2)?,
                respiratory_rate: whole("vitals.respiratory_rate", "Respiratory rate", &self.respiratory_rate)?,
                moaas: whole("vitals.moaas", "MOAA/S", &self.moaas)?,
            },
        ))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DischargeForm {
    pub accompanied_by: String,
    pub decision: String,
}

/// An early end as typed: a transfer (with where to) or the client leaving
/// against advice, with the reason and the time (site time; blank: now).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EndEarlyForm {
    pub kind: String,
    pub reason: String,
    pub transferred_to: String,
    pub at: String,
}

/// A dissociation score, side effect or adverse event as typed (`kind` picks which).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EventForm {
    pub kind: String,
    pub cadss6: String,
    pub effect: String,
    pub description: String,
    pub severity: String,
    pub serious: Option<String>,
    pub action: String,
    pub outcome: String,
}

impl EventForm {
    pub fn parse(&self) -> Result<kairos_domain::dosing::SessionEvent, Refusal> {
        use kairos_domain::dosing::{SessionEvent, Severity, SideEffectKind};
        let severity = || {
            Severity::parse("event.severity", self.severity.trim())
                .map_err(|_| Refusal::invalid("event.severity", "choose how severe it was"))
        };
        match self.kind.trim() {
            "dissociation" => match whole::<u8>("event.cadss6", "CADSS-6 total", &self.cadss6)? {
                Some(cadss6) => Ok(SessionEvent::Dissociation { cadss6 }),
                None => Err(Refusal::invalid("event.cadss6", "enter the CADSS-6 total (0-24)")),
            },
            "side_effect" => Ok(SessionEvent::SideEffect {
                effect: SideEffectKind::parse("event.effect", self.effect.trim())
                    .map_err(|_| Refusal::invalid("event.effect", "choose the side effect"))?,
                description: opt_text(&self.description),
                severity: severity()?,
                action: self.action.trim().to_string(),
            }),
            "adverse_event" => Ok(SessionEvent::AdverseEvent {
                description: self.description.trim().to_string(),
                severity: severity()?,
                serious: ticked(&self.serious),
                action: self.action.trim().to_string(),
                outcome: self.outcome.trim().to_string(),
            }),
            _ => Err(Refusal::invalid("event.kind", "choose what to record")),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AmendForm {
    pub part: String,
    pub correction: String,
    pub reason: String,
}

/// Waste of what was drawn and not given, with a witness signing on this device.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WasteForm {
    pub quantity: String,
    pub method: String,
    pub witness_email: String,
    pub witness_password: String,
}

/// What the session page's forms hold: the one that was refused keeps what
/// was typed.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    pub vitals: VitalsForm,
    pub discharge: DischargeForm,
    pub end_early: EndEarlyForm,
    pub event: EventForm,
    pub amend: AmendForm,
    pub waste_method: Option<String>,
    pub waste_email: String,
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
    dose_exception: Option<String>,
    /// Before the dose: the mood check, the note on an unanswered pre-dose
    /// questionnaire, the prescriber on site.
    before: Vec<(&'static str, String)>,
    earliest_discharge: String,
    discharged: Option<String>,
    /// A prescriber's decision to discharge a client not ready by the record.
    discharge_decision: Option<String>,
    /// What stands between the client and the door (before discharge).
    not_ready: Vec<String>,
    /// The signed-in person may decide to discharge anyway (a prescriber).
    may_decide: bool,
    /// How an early end happened: (what, reason).
    ended_early: Option<(String, String)>,
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
    /// The site's time zone, named beside the times shown.
    tz_name: String,
    kept: Kept,
    error: Option<Refused>,
}

pub(crate) fn vitals_text(v: &Vitals) -> String {
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

async fn session_page(
    state: &AppState,
    auth: &UiAuth,
    id: DosingSessionId,
    kept: Kept,
    error: Option<Refused>,
) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let usecase::dosing::SessionChart {
        session: s,
        client_name,
        time_zone: tz,
        ledger: entries,
        stock,
        staff_names: names,
    } = usecase::dosing::chart(state, &api_auth(auth), id).await.map_err(|e| ui_error(e, nav()))?;
    let t = |x: Timestamp| x.to_zoned(tz.clone()).strftime("%H:%M").to_string();
    let not_ready = if s.discharged_at.is_none() {
        usecase::dosing::discharge_unmet(state, &api_auth(auth), id).await.map_err(|e| ui_error(e, nav()))?
    } else {
        Vec::new()
    };
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
    let name = |id: &kairos_domain::ids::StaffId| names.get(id).cloned().unwrap_or_else(|| id.to_string());
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
        client: client_name,
        dose,
        started: t(s.started_at),
        hold: s.hold_reason.clone(),
        override_reason: s.override_reason.clone(),
        dose_exception: s.dose_exception.clone(),
        before: {
            let mut rows = Vec::new();
            if !s.checklist.mood_check.is_empty() {
                rows.push(("Mood check", s.checklist.mood_check.clone()));
            }
            if let Some(n) = &s.checklist.pre_dose_note {
                rows.push(("Pre-dose questionnaire not answered", n.clone()));
            }
            if let Some(p) = s.prescriber_on_site {
                let names = usecase::directory::staff_names(state, &[p]).await.map_err(|e| ui_error(e, nav()))?;
                rows.push(("Prescriber on site", names.get(&p).cloned().unwrap_or_default()));
            }
            rows
        },
        earliest_discharge: t(s.started_at + jiff::SignedDuration::from_mins(s.monitoring_minutes)),
        discharged: s
            .discharged_at
            .filter(|_| s.early_end.is_none())
            .map(|d| format!("{} with {}", t(d), s.accompanied_by.clone().unwrap_or_default())),
        discharge_decision: s.discharge_decision.clone(),
        not_ready,
        may_decide: auth.staff.roles.allow(Permission::OverrideSafetyHold),
        ended_early: s.early_end.as_ref().zip(s.discharged_at).map(|(e, d)| {
            let what = match &e.transferred_to {
                Some(to) => format!("{} ({to}) at {}", e.kind.label(), t(d)),
                None => format!("{} at {}", e.kind.label(), t(d)),
            };
            (what, e.reason.clone())
        }),
        signed: s.signed_at.map(t),
        rows,
        open_alerts,
        can_chart: s.signed_at.is_none() && auth.staff.roles.allow(Permission::ChartDosing),
        next_vitals: next_vitals(state, &s).map(|(at, what)| (format!("{} {what}", t(at)), at < state.now())),
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
        tz_name: tz.iana_name().unwrap_or("UTC").to_string(),
        kept,
        error,
    }))
}

fn session_id(auth: &UiAuth, id: &str) -> Result<DosingSessionId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such dosing session.", Some(auth.nav("/clients"))))
}

pub async fn show(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadScreening)?;
    let id = session_id(&auth, &id)?;
    session_page(&state, &auth, id, Kept::default(), None).await
}

/// After a refused form: the page again, the refusal beside what was typed.
async fn refused(
    state: &AppState,
    auth: &UiAuth,
    id: DosingSessionId,
    kept: Kept,
    r: impl Into<Refused>,
) -> PageResult {
    let r: Refused = r.into();
    let status = r.status;
    if status == StatusCode::FORBIDDEN {
        // A refusal of the person, not of the input: no chart on it.
        return Err(page_error(status, &r.message, Some(auth.nav("/clients"))));
    }
    let mut page = session_page(state, auth, id, kept, Some(r)).await?;
    *page.status_mut() = status;
    Ok(page)
}

fn back_to(id: DosingSessionId) -> PageResult {
    Ok(Redirect::to(&format!("/dosing-sessions/{id}")).into_response())
}

pub async fn add_vitals(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<VitalsForm>,
) -> PageResult {
    let id = session_id(&auth, &id)?;
    let tz = usecase::dosing::time_zone(&state, id).await.map_err(|e| ui_error(e, Some(auth.nav("/clients"))))?;
    let kept = Kept { vitals: form.clone(), ..Kept::default() };
    let (at, vitals) = match form.parse(&tz) {
        Ok(v) => v,
        Err(r) => return refused(&state, &auth, id, kept, r).await,
    };
    match usecase::dosing::record_vitals(&state, &api_auth(&auth), id, at, &vitals).await {
        Ok(_) => back_to(id),
        Err(e) => refused(&state, &auth, id, kept, e).await,
    }
}

pub async fn discharge(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<DischargeForm>,
) -> PageResult {
    let id = session_id(&auth, &id)?;
    let kept = Kept { discharge: form.clone(), ..Kept::default() };
    let decision = opt_text(&form.decision);
    match usecase::dosing::discharge(&state, &api_auth(&auth), id, None, &form.accompanied_by, decision.as_deref())
        .await
    {
        Ok(_) => back_to(id),
        Err(e) => refused(&state, &auth, id, kept, e).await,
    }
}

/// Ends the session early from its page: a transfer or the client leaving
/// against advice.
pub async fn end_early(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<EndEarlyForm>,
) -> PageResult {
    let id = session_id(&auth, &id)?;
    let tz = usecase::dosing::time_zone(&state, id).await.map_err(|e| ui_error(e, Some(auth.nav("/clients"))))?;
    let kept = Kept { end_early: form.clone(), ..Kept::default() };
    let parsed = kairos_domain::dosing::EarlyEnd::parse("kind", form.kind.trim())
        .map_err(|_| Refusal::invalid("kind", "choose how the session ended: a transfer, or the client left"))
        .and_then(|kind| Ok((kind, local_time("at", "Time it ended", &form.at, &tz)?)));
    let (kind, at) = match parsed {
        Ok(v) => v,
        Err(r) => return refused(&state, &auth, id, kept, r).await,
    };
    let to = Some(form.transferred_to.as_str()).filter(|t| !t.trim().is_empty());
    match usecase::dosing::end_early(&state, &api_auth(&auth), id, at, kind, &form.reason, to).await {
        Ok(_) => back_to(id),
        Err(e) => refused(&state, &auth, id, kept, e).await,
    }
}

pub async fn sign(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let id = session_id(&auth, &id)?;
    match usecase::dosing::sign(&state, &api_auth(&auth), id).await {
        Ok(_) => back_to(id),
        Err(e) => refused(&state, &auth, id, Kept::default(), e).await,
    }
}

/// Records a dissociation score, side effect or adverse event from the
/// session page (`kind` picks which).
pub async fn add_event(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<EventForm>,
) -> PageResult {
    let id = session_id(&auth, &id)?;
    let kept = Kept { event: form.clone(), ..Kept::default() };
    let event = match form.parse() {
        Ok(e) => e,
        Err(r) => return refused(&state, &auth, id, kept, r).await,
    };
    match usecase::dosing::record_event(&state, &api_auth(&auth), id, None, &event).await {
        Ok(_) => back_to(id),
        Err(e) => refused(&state, &auth, id, kept, e).await,
    }
}

/// Amends a signed session.
pub async fn amend(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<AmendForm>,
) -> PageResult {
    let id = session_id(&auth, &id)?;
    let kept = Kept { amend: form.clone(), ..Kept::default() };
    let part = match kairos_domain::dosing::AmendedPart::parse("part", form.part.trim()) {
        Ok(p) => p,
        Err(_) => {
            return refused(&state, &auth, id, kept, Refusal::invalid("part", "choose which part is corrected")).await;
        }
    };
    let amendment = kairos_domain::dosing::Amendment {
        part,
        correction: form.correction.trim().to_string(),
        reason: form.reason.trim().to_string(),
    };
    match usecase::dosing::amend(&state, &api_auth(&auth), id, &amendment).await {
        Ok(_) => back_to(id),
        Err(e) => refused(&state, &auth, id, kept, e).await,
    }
}

/// Wastes what was drawn but not given, with a witness who signs with their
/// own e-mail and password on this device.
pub async fn waste(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<WasteForm>,
) -> PageResult {
    auth.require(Permission::RecordLedger)?;
    let id = session_id(&auth, &id)?;
    let kept =
        Kept { waste_method: Some(form.method.clone()), waste_email: form.witness_email.clone(), ..Kept::default() };
    let Some(admin) = usecase::dosing::administration(&state, id).await.map_err(|e| ui_error(e, None))? else {
        let r = Refusal::conflict("related_id", "this dose is not on the ledger; there is nothing to waste");
        return refused(&state, &auth, id, kept, r).await;
    };
    let quantity = match decimal("quantity", "Quantity wasted", &form.quantity) {
        Ok(Some(q)) => q,
        Ok(None) => {
            return refused(&state, &auth, id, kept, Refusal::invalid("quantity", "enter the quantity wasted")).await;
        }
        Err(r) => return refused(&state, &auth, id, kept, r).await,
    };
    let body = crate::api::ledger::EntryBody {
        kind: kairos_domain::ledger::EntryKind::Waste,
        quantity,
        occurred_at: None,
        related_id: Some(admin.id.to_string()),
        count_type: None,
        business_time: None,
        method: Some(form.method.trim().to_string()),
        narrative: None,
        form_reference: None,
        recipient: None,
        witnesses: vec![crate::api::ledger::WitnessSignature {
            email: form.witness_email.trim().to_string(),
            password: form.witness_password.clone(),
        }]
        .into_iter()
        .filter(|w| !w.email.is_empty())
        .collect(),
    };
    match crate::usecase::ledger::record_entry(&state, &api_auth(&auth), admin.stock_id, &body).await {
        Ok(_) => back_to(id),
        Err(e) => refused(&state, &auth, id, kept, e).await,
    }
}

/// The next vital signs due while the client is monitored, by the route's
/// cadence in the clinic's policy (intranasal esketamine: the REMS blood
/// pressures).
fn next_vitals(state: &AppState, s: &kairos_store::dosing::DosingSession) -> Option<(Timestamp, String)> {
    if s.discharged_at.is_some() {
        return None;
    }
    let readings: Vec<(Timestamp, bool)> = s.vitals.iter().map(|v| (v.at, v.vitals.systolic.is_some())).collect();
    // The infusion time of the session's route in its protocol.
    let infusion = s
        .protocol_id
        .as_deref()
        .and_then(|p| state.config.protocols.get(p))
        .and_then(|p| p.dose.routes().into_iter().find(|r| r.route.as_str() == s.route))
        .and_then(|r| r.infusion_minutes);
    let vitals = &state.config.safety.vitals;
    let due = vitals.next_due(&s.route, s.started_at, s.monitoring_minutes, infusion, &readings);
    Some((due.at, format!("({})", due.why)))
}
