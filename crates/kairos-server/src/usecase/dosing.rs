//! Dosing sessions: the start form's facts, the session as its chart shows
//! it, and the commands (start, vital signs, observations, discharge,
//! signature, amendment).

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kairos_domain::dosing::{self, Amendment, SessionEvent, StartCommand, Vitals};
use kairos_domain::ids::{DosingSessionId, EncounterId, StaffId};
use kairos_domain::ledger::{EntryKind, Substance};
use kairos_domain::protocols::Route;
use kairos_domain::roles::Permission;
use kairos_store::dosing::{AmendmentRecord, DosingSession, EventRecord, VitalsRecord};
use kairos_store::ledger::{Entry, Stock};
use kairos_store::{Action, AuditEntry};
use std::collections::HashMap;

/// What the start-of-dose form shows for an arrived dosing visit.
pub struct StartFacts {
    pub client_id: kairos_domain::ids::ClientId,
    pub client_name: String,
    /// The time zone of the visit's site.
    pub time_zone: TimeZone,
    /// The course's protocol by name ("no course" for a visit outside one).
    pub protocol: String,
    /// The protocol's dose in words ("intranasal 56-84 mg"), empty outside
    /// the library.
    pub protocol_dose: String,
    /// What the protocol's route gives (ketamine unless intranasal).
    pub substance: Substance,
    /// Ledger stock of that substance at the visit's site with some on the
    /// books and not expired today (site time).
    pub stocks: Vec<Stock>,
    /// The client's open self-harm alerts, oldest first: reviewed with the
    /// client before the dose (the start refuses without the review).
    pub open_self_harm: Vec<kairos_domain::dosing::OpenSelfHarm>,
    /// What the protocol asks to confirm before a dose.
    pub before_dose: BeforeDose,
    /// The course's before-each-dose questionnaires (the measure schedule's
    /// pre-dose safety check) and their answers in their windows.
    pub pre_dose_measures: Vec<PreDoseMeasure>,
    /// The esketamine REMS at the start (esketamine doses only).
    pub rems: Option<RemsAtStart>,
}

/// What the esketamine REMS asks at the start of a dose.
#[derive(Debug, Clone)]
pub struct RemsAtStart {
    /// The clinic's policy requires an enrolment before the first dose.
    pub enrolment_required: bool,
    pub enrolment: Option<kairos_domain::rems::Enrolment>,
    /// The clinic's policy requires a prescriber on site named.
    pub prescriber_required: bool,
    /// Active prescribers, to choose the one on site: (id, name).
    pub prescribers: Vec<(StaffId, String)>,
}

/// A protocol's rules for the start: SpO2, fasting, nasal medicines.
#[derive(Debug, Clone, Default)]
pub struct BeforeDose {
    pub spo2_required: bool,
    /// The fasting rule in words.
    pub fasting: Option<String>,
    /// Minutes without a nasal corticosteroid or decongestant (intranasal).
    pub nasal_medicines_minutes: Option<u32>,
}

/// A questionnaire due before this dose, and its answer if one came in its window.
#[derive(Debug, Clone)]
pub struct PreDoseMeasure {
    pub name: String,
    /// (the result in words, when it was completed, whether it raised an alert).
    pub answered: Option<(String, jiff::Timestamp, bool)>,
}

/// The result of an administration in words: the answer's label for a
/// one-question instrument ("No"), else the severity band or the score.
fn result_in_words(
    inst: Option<&kairos_domain::instruments::Instrument>,
    a: &kairos_store::measures::Administration,
) -> String {
    if let Some(i) = inst
        && i.items.len() == 1
        && let Some(Some(v)) = a.answers.as_ref().and_then(|x| x.first())
    {
        let options = i.items[0].options.as_deref().unwrap_or(&i.options);
        if let Some(label) = options.iter().find(|o| o.value == *v).and_then(|o| o.label.clone()) {
            return label;
        }
    }
    match &a.severity {
        Some(band) => format!("{} ({band})", a.score),
        None => format!("score {}", a.score),
    }
}

/// The facts of the start form (nurses and prescribers).
pub async fn start_facts(state: &AppState, caller: &Auth, visit: EncounterId) -> AppResult<StartFacts> {
    require(caller, Permission::ChartDosing)?;
    let visit = state.store.get_encounter(visit).await?;
    let client_name = super::clients::name(state, visit.client_id).await?;
    let time_zone = state.site_tz(visit.site_id).await?;
    let mut before_dose = BeforeDose::default();
    let mut course = None;
    let (protocol, route, protocol_dose) = match visit.course_id {
        Some(c) => {
            let found = state.store.get_course(c).await?;
            let described = match state.config.protocols.get(&found.protocol) {
                Some(p) => {
                    let m = &p.monitoring;
                    let intranasal = p.dose.routes().iter().any(|r| r.route == Route::Intranasal);
                    before_dose = BeforeDose {
                        spo2_required: m.spo2_before_dose,
                        fasting: m.fasting.map(|f| f.describe()),
                        nasal_medicines_minutes: m.nasal_medicines_minutes_before.filter(|_| intranasal),
                    };
                    (p.name.clone(), p.dose.route.as_str().to_string(), dose_in_words(p))
                }
                None => (found.protocol.clone(), "iv".to_string(), String::new()),
            };
            course = Some(found);
            described
        }
        None => ("no course".into(), "iv".to_string(), String::new()),
    };
    let pre_dose_measures = match &course {
        Some(c) => pre_dose_measures(state, c, &visit).await?,
        None => Vec::new(),
    };
    let substance = Substance::for_route(&route);
    let today = state.now().to_zoned(time_zone.clone()).date();
    let mut stocks = Vec::new();
    for r in state.store.registrations().await?.iter().filter(|r| r.site_id == visit.site_id) {
        for s in state.store.stocks(Some(r.id)).await? {
            if s.substance == substance && s.balance.is_positive() && s.expires.is_none_or(|d| d >= today) {
                stocks.push(s);
            }
        }
    }
    let open_self_harm = state.store.open_self_harm_alerts(visit.client_id).await?;
    let rems = if substance == Substance::Esketamine {
        let rules = &state.config.safety.rems;
        let prescribers = super::directory::active_with_role(state, kairos_domain::roles::Role::Prescriber).await?;
        Some(RemsAtStart {
            enrolment_required: rules.enrolment_before_first_dose.required,
            enrolment: state.store.rems_enrolment(visit.client_id).await?,
            prescriber_required: rules.prescriber_on_site.required,
            prescribers: prescribers.into_iter().map(|p| (p.id, p.name)).collect(),
        })
    } else {
        None
    };
    Ok(StartFacts {
        rems,
        client_id: visit.client_id,
        client_name,
        time_zone,
        protocol,
        protocol_dose,
        substance,
        stocks,
        open_self_harm,
        before_dose,
        pre_dose_measures,
    })
}

/// The course's before-each-dose questionnaires for this visit, as its
/// measure schedule lists them (the occurrence due at the visit's start),
/// each with the latest answer since the occurrence opened: a dose started
/// late still counts an answer given at the chair.
async fn pre_dose_measures(
    state: &AppState,
    course: &kairos_domain::course::Course,
    visit: &kairos_domain::encounter::Encounter,
) -> AppResult<Vec<PreDoseMeasure>> {
    use kairos_domain::measure_schedule::When;
    let schedule = state.config.schedule_for(&course.protocol);
    let mut wanted: Vec<&String> = Vec::new();
    for rule in schedule.rules.iter().filter(|r| r.when == When::BeforeEachDose) {
        for id in &rule.instruments {
            if !wanted.contains(&id) {
                wanted.push(id);
            }
        }
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let now = state.now();
    let names = HashMap::new();
    let due = crate::api::measures::schedule_for(state, std::slice::from_ref(course), &names, now).await?;
    let taken = state.store.measures_of(visit.client_id, None).await?;
    let mut out = Vec::new();
    for id in wanted {
        // The occurrence due at this visit's start; without one (a visit the
        // course's timeline does not list), the rule's own window before it.
        let opens = due
            .iter()
            .find(|d| d.instrument == *id && d.due_at == visit.scheduled_start)
            .map(|d| d.opens_at)
            .unwrap_or_else(|| {
                let hours = schedule
                    .rules
                    .iter()
                    .filter(|r| r.when == When::BeforeEachDose && r.instruments.contains(id))
                    .map(|r| r.opens_hours_before.max(1))
                    .max()
                    .unwrap_or(1);
                visit.scheduled_start - jiff::SignedDuration::from_hours(hours)
            });
        let inst = state.config.instruments.get(id);
        let answered = taken
            .iter()
            .filter(|a| {
                a.instrument == *id && a.entered_in_error.is_none() && a.completed_at >= opens && a.completed_at <= now
            })
            .max_by_key(|a| a.completed_at)
            .map(|a| (result_in_words(inst, a), a.completed_at, !a.alerts.is_empty()));
        let name = inst.map_or_else(|| id.clone(), |i| i.short_name.clone());
        out.push(PreDoseMeasure { name, answered });
    }
    Ok(out)
}

/// A protocol's doses in words: its route's and each alternative's.
fn dose_in_words(p: &kairos_domain::protocols::Protocol) -> String {
    let all: Vec<String> = p.dose.routes().iter().map(|r| r.describe()).collect();
    format!(
        "This protocol's dose: {}. A dose outside it is given only as a prescriber's documented exception.",
        all.join("; or ")
    )
}

/// The session already started for a visit, if any.
pub async fn session_of_visit(state: &AppState, visit: EncounterId) -> AppResult<Option<DosingSessionId>> {
    Ok(state.store.dosing_session_for(visit).await?)
}

/// One dosing session; the read is audited durably before it returns.
pub async fn session(state: &AppState, caller: &Auth, id: DosingSessionId) -> AppResult<DosingSession> {
    require(caller, Permission::ReadScreening)?;
    let s = state.store.get_dosing_session(id).await?;
    state
        .store
        .audit_read(&caller.actor(), AuditEntry::new(Action::Read, "dosing_session", s.id).client(s.client_id))
        .await?;
    Ok(s)
}

/// A dosing session as its page shows it.
pub struct SessionChart {
    /// The session, its read audited.
    pub session: DosingSession,
    pub client_name: String,
    /// The time zone of the visit's site.
    pub time_zone: TimeZone,
    /// The dose's ledger entries (administration and any waste).
    pub ledger: Vec<Entry>,
    /// The stock the dose was drawn from, when it is on the ledger.
    pub stock: Option<Stock>,
    /// The names of those who amended the session or witnessed its waste.
    pub staff_names: HashMap<StaffId, String>,
}

/// The session page's record (see [`SessionChart`]).
pub async fn chart(state: &AppState, caller: &Auth, id: DosingSessionId) -> AppResult<SessionChart> {
    let session = self::session(state, caller, id).await?;
    let client_name = super::clients::name(state, session.client_id).await?;
    let time_zone = visit_time_zone(state, &session).await?;
    let ledger = state.store.entries_for_session(session.id).await?;
    let mut staff: Vec<StaffId> =
        session.amendments.iter().map(|a| a.by).chain(ledger.iter().flat_map(|e| e.witnesses.clone())).collect();
    staff.sort();
    staff.dedup();
    let staff_names = state.store.staff_names(&staff).await?;
    let stock = match ledger.first() {
        Some(e) => Some(state.store.stock(e.stock_id).await?),
        None => None,
    };
    Ok(SessionChart { session, client_name, time_zone, ledger, stock, staff_names })
}

/// The time zone of the site where a session's visit took place.
pub async fn time_zone(state: &AppState, id: DosingSessionId) -> AppResult<TimeZone> {
    visit_time_zone(state, &state.store.get_dosing_session(id).await?).await
}

async fn visit_time_zone(state: &AppState, s: &DosingSession) -> AppResult<TimeZone> {
    let visit = state.store.get_encounter(s.encounter_id).await?;
    state.site_tz(visit.site_id).await
}

/// The dose's administration on the ledger; none when the dose was not
/// drawn from ledger stock.
pub async fn administration(state: &AppState, id: DosingSessionId) -> AppResult<Option<Entry>> {
    Ok(state.store.entries_for_session(id).await?.into_iter().find(|e| e.kind == EntryKind::Administration))
}

/// Starts the dose of an arrived dosing visit.
pub async fn start(
    state: &AppState,
    caller: &Auth,
    encounter: EncounterId,
    cmd: &StartCommand,
) -> AppResult<DosingSession> {
    require(caller, Permission::ChartDosing)?;
    // The course's pre-dose questionnaires: an unanswered one needs a note.
    let visit = state.store.get_encounter(encounter).await?;
    let unanswered: Vec<String> = match visit.course_id {
        Some(c) if visit.kind == kairos_domain::encounter::EncounterKind::Dosing => {
            let course = state.store.get_course(c).await?;
            pre_dose_measures(state, &course, &visit)
                .await?
                .into_iter()
                .filter(|m| m.answered.is_none())
                .map(|m| m.name)
                .collect()
        }
        _ => Vec::new(),
    };
    let mut cmd = cmd.clone();
    cmd.checklist.pre_dose_note = dosing::pre_dose_review(&unanswered, cmd.checklist.pre_dose_note.as_deref())?;
    let cmd = &cmd;
    let now = state.now();
    let may_override = caller.staff.roles.allow(Permission::OverrideSafetyHold);
    let (policy, protocols) = (&state.config.safety, &state.config.protocols);
    Ok(state
        .store
        .start_dosing_session(
            &caller.actor(),
            encounter,
            cmd.stock_id,
            cmd.prescriber_on_site,
            &state.config.ledger,
            |snap| {
                let protocol = snap.course_protocol.as_deref().and_then(|p| protocols.get(p));
                dosing::start(snap, protocol, cmd, policy, may_override, now)
            },
        )
        .await?)
}

/// Charts a set of vital signs; the alerts it raises come back with it.
pub async fn record_vitals(
    state: &AppState,
    caller: &Auth,
    session: DosingSessionId,
    at: Option<Timestamp>,
    vitals: &Vitals,
) -> AppResult<VitalsRecord> {
    require(caller, Permission::ChartDosing)?;
    let now = state.now();
    let policy = &state.config.safety;
    Ok(state
        .store
        .add_vitals(&caller.actor(), session, vitals, |s| dosing::record_vitals(s, at, vitals, policy, now))
        .await?)
}

/// Charts a dissociation score, a side effect or an adverse event.
pub async fn record_event(
    state: &AppState,
    caller: &Auth,
    session: DosingSessionId,
    at: Option<Timestamp>,
    event: &SessionEvent,
) -> AppResult<EventRecord> {
    require(caller, Permission::ChartDosing)?;
    let now = state.now();
    Ok(state
        .store
        .add_session_event(&caller.actor(), session, event, |s| dosing::record_event(s, at, event, now))
        .await?)
}

/// Discharges the client into the care of the named adult once they are
/// ready by the record, or by a prescriber's documented decision.
pub async fn discharge(
    state: &AppState,
    caller: &Auth,
    session: DosingSessionId,
    at: Option<Timestamp>,
    accompanied_by: &str,
    decision: Option<&str>,
) -> AppResult<DosingSession> {
    require(caller, Permission::ChartDosing)?;
    let now = state.now();
    let may_decide = caller.staff.roles.allow(Permission::OverrideSafetyHold);
    Ok(state
        .store
        .discharge(&caller.actor(), session, |s, ready| {
            dosing::discharge(s, ready, at, accompanied_by, decision, may_decide, now)
        })
        .await?)
}

/// What stands between the client and the door, in words (empty: ready).
pub async fn discharge_unmet(state: &AppState, caller: &Auth, session: DosingSessionId) -> AppResult<Vec<String>> {
    require(caller, Permission::ReadScreening)?;
    Ok(state.store.discharge_readiness(session).await?.unmet())
}

/// Ends the session early: a transfer to emergency care (saying where to)
/// or the client leaving against advice, always with the reason. Raises a
/// safety alert for the care team.
pub async fn end_early(
    state: &AppState,
    caller: &Auth,
    session: DosingSessionId,
    at: Option<Timestamp>,
    kind: dosing::EarlyEnd,
    reason: &str,
    transferred_to: Option<&str>,
) -> AppResult<DosingSession> {
    require(caller, Permission::ChartDosing)?;
    let now = state.now();
    Ok(state
        .store
        .end_session_early(&caller.actor(), session, |s| dosing::end_early(s, at, kind, reason, transferred_to, now))
        .await?)
}

/// Signs a discharged session.
pub async fn sign(state: &AppState, caller: &Auth, session: DosingSessionId) -> AppResult<DosingSession> {
    require(caller, Permission::ChartDosing)?;
    Ok(state.store.sign_dosing_session(&caller.actor(), session, dosing::sign).await?)
}

/// Amends a signed session.
pub async fn amend(
    state: &AppState,
    caller: &Auth,
    session: DosingSessionId,
    amendment: &Amendment,
) -> AppResult<AmendmentRecord> {
    require(caller, Permission::ChartDosing)?;
    Ok(state.store.amend_dosing_session(&caller.actor(), session, amendment, |s| dosing::amend(s, amendment)).await?)
}

/// Saves the REMS form's answer (minutes after the dose the client was ready
/// to leave, 0 to 1440) and, with a confirmation number, records it
/// submitted, which needs a complete form.
pub async fn save_rems(
    state: &AppState,
    caller: &Auth,
    id: DosingSessionId,
    ready_after_minutes: Option<i64>,
    confirmation: Option<&str>,
) -> AppResult<()> {
    require(caller, Permission::RecordLedger)?;
    if ready_after_minutes.is_some_and(|m| !(0..=24 * 60).contains(&m)) {
        return Err(crate::error::AppError::invalid("ready_after_minutes", "whole minutes after the dose, 0 to 1440"));
    }
    let confirmation = kairos_domain::text::optional("confirmation", confirmation, 100)?;
    if confirmation.is_some() {
        let v = crate::api::dosing::rems_view(state, caller, id).await?;
        if !v.form.problems.is_empty() {
            return Err(crate::error::AppError::invalid(
                "confirmation",
                format!("the form is not complete: {}", v.form.problems.join("; ")),
            ));
        }
    }
    state.store.save_rems(&caller.actor(), id, ready_after_minutes, confirmation.as_deref()).await?;
    Ok(())
}
