//! Dosing sessions: start (checklist, pre-dose vitals and the safety hold,
//! the dose), vitals with immediate alerts, discharge, signature.

use super::path_id;
use crate::error::{AppError, AppResult};
use crate::extract::{Auth, Json};
use crate::state::AppState;
use crate::usecase;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use kairos_domain::Refusal;
use kairos_domain::dosing::{Amendment, Checklist, SessionEvent, StartCommand, Vitals};
use kairos_domain::rems::RemsForm;
use kairos_domain::roles::Permission;
use kairos_store::dosing::{AmendmentRecord, DosingSession, EventRecord, RemsState, VitalsRecord};
use kairos_store::{Action, AuditEntry};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The session: checklist, pre-dose vitals, any hold and its override,
    /// the dose (route, mg/kg, weight, mg, lot), start, monitoring minutes,
    /// discharge, signature, every set of vitals with its alerts, the
    /// observations (dissociation, side effects, adverse events) and any
    /// amendments made after signing.
    #[serde(flatten)]
    pub session: DosingSession,
    /// The earliest discharge the protocol allows.
    #[schema(value_type = String, format = DateTime)]
    pub earliest_discharge: Timestamp,
    /// The controlled-substance ledger entries of this dose (administration
    /// and any waste).
    pub ledger: Vec<kairos_store::ledger::Entry>,
}

/// The session with its ledger entries.
pub async fn view(state: &AppState, s: DosingSession) -> AppResult<SessionView> {
    let earliest_discharge = s.started_at + jiff::SignedDuration::from_mins(s.monitoring_minutes);
    let ledger = state.store.entries_for_session(s.id).await?;
    Ok(SessionView { session: s, earliest_discharge, ledger })
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionStart {
    pub checklist: Checklist,
    pub pre_vitals: Vitals,
    /// Required (from a prescriber) when the pre-dose vitals trigger the hold.
    #[schema(value_type = Option<kairos_domain::text::OptionalText1000>)]
    pub override_reason: Option<String>,
    /// Default: the protocol's route.
    pub route: Option<String>,
    /// Default: the protocol's dose when it is weight-based.
    pub mg_per_kg: Option<f64>,
    /// Today's weight; required for a weight-based dose.
    pub weight_kg: Option<f64>,
    /// For a fixed dose (mg), or when no weight-based dose applies.
    pub dose_mg: Option<f64>,
    /// The ledger stock (vial or device lot) the dose is drawn from; its
    /// administration is written to the controlled-substance ledger with the
    /// session. Without it, give `lot` (the session then shows as not on
    /// the books until reconciled).
    #[schema(format = Uuid)]
    pub stock_id: Option<String>,
    /// Volume (or devices) drawn, when more than the dose: the rest is
    /// wasted later with a witness.
    pub drawn: Option<f64>,
    /// The lot, when no ledger stock is named.
    #[schema(value_type = Option<kairos_domain::text::OptionalText100>)]
    pub lot: Option<String>,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    /// A prescriber's documented reason for a dose outside the course's
    /// protocol (its route, or an amount outside its range); refused when
    /// the dose is within the protocol.
    #[schema(value_type = Option<kairos_domain::text::OptionalText1000>)]
    pub dose_exception: Option<String>,
    /// What was done about the client's open self-harm alerts (PHQ-9 item 9,
    /// QIDS item 12, C-SSRS) before this dose: required while any is open,
    /// refused when none is; each open alert is acknowledged with it.
    #[schema(value_type = Option<kairos_domain::text::OptionalText2000>)]
    pub self_harm_review: Option<String>,
    /// The prescriber on site during administration and monitoring (an
    /// active prescriber's staff id): required for esketamine while the
    /// clinic's REMS policy requires one (`[rems.prescriber_on_site]`).
    #[schema(format = Uuid)]
    pub prescriber_on_site: Option<String>,
}

impl SessionStart {
    /// The command, with ids, quantities and instants parsed (errors name the field).
    pub fn command(&self) -> AppResult<StartCommand> {
        Ok(StartCommand {
            checklist: self.checklist.clone(),
            pre_vitals: self.pre_vitals,
            override_reason: self.override_reason.clone(),
            route: self.route.clone(),
            mg_per_kg: self.mg_per_kg,
            weight_kg: self.weight_kg,
            dose_mg: self.dose_mg,
            stock_id: super::opt_field_id("stock_id", self.stock_id.as_deref())?,
            drawn: self
                .drawn
                .map(|d| kairos_domain::ledger::Quantity::from_units("drawn", d))
                .transpose()
                .map_err(Refusal::from)?,
            lot: self.lot.clone(),
            started_at: opt_instant("started_at", self.started_at.as_deref())?,
            dose_exception: self.dose_exception.clone(),
            self_harm_review: self.self_harm_review.clone(),
            prescriber_on_site: super::opt_field_id("prescriber_on_site", self.prescriber_on_site.as_deref())?,
        })
    }
}

/// An optional RFC 3339 instant; blank is absent.
fn opt_instant(field: &str, s: Option<&str>) -> AppResult<Option<Timestamp>> {
    s.filter(|v| !v.trim().is_empty()).map(|v| super::instant(field, v)).transpose()
}

/// Starts the dosing session of an arrived dosing encounter (nurse or
/// prescriber). Refused without a signed eligible screen; held when the
/// pre-dose blood pressure reaches the clinic's hold, unless a prescriber
/// overrides it with a reason.
#[utoipa::path(post, path = "/encounters/{id}/dosing-session", tag = "dosing", params(("id" = String, Path)), request_body = SessionStart,
    responses((status = 201, body = SessionView), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn start(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<SessionStart>,
) -> AppResult<(StatusCode, axum::Json<SessionView>)> {
    let encounter = path_id("encounter", &id)?;
    let s = usecase::dosing::start(&state, &auth, encounter, &body.command()?).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&state, s).await?)))
}

/// A dosing session with its vitals.
#[utoipa::path(get, path = "/dosing-sessions/{id}", tag = "dosing", params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 404, body = crate::error::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<SessionView>> {
    let s = usecase::dosing::session(&state, &auth, path_id("dosing session", &id)?).await?;
    Ok(axum::Json(view(&state, s).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VitalsBody {
    #[schema(format = DateTime)]
    pub at: Option<String>,
    pub vitals: Vitals,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VitalsView {
    /// The reading and the thresholds it crossed (`alerts`; empty when none).
    #[serde(flatten)]
    pub record: VitalsRecord,
}

/// Records vital signs; any threshold crossed comes back at once as an alert.
#[utoipa::path(post, path = "/dosing-sessions/{id}/vitals", tag = "dosing", params(("id" = String, Path)), request_body = VitalsBody,
    responses((status = 201, body = VitalsView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn vitals(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<VitalsBody>,
) -> AppResult<(StatusCode, axum::Json<VitalsView>)> {
    let session = path_id("dosing session", &id)?;
    let at = opt_instant("at", body.at.as_deref())?;
    let record = usecase::dosing::record_vitals(&state, &auth, session, at, &body.vitals).await?;
    Ok((StatusCode::CREATED, axum::Json(VitalsView { record })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DischargeBody {
    #[schema(format = DateTime)]
    pub at: Option<String>,
    /// The responsible adult who takes the client home.
    #[schema(value_type = kairos_domain::text::Text200)]
    pub accompanied_by: String,
    /// A prescriber's documented decision to discharge a client not ready
    /// by the record (an unacknowledged alert of the session, the latest
    /// MOAA/S below 5, the latest vital signs out of range); refused when
    /// the client is ready.
    #[schema(value_type = Option<kairos_domain::text::OptionalText1000>)]
    pub decision: Option<String>,
}

/// Records discharge; refused before the protocol's monitoring time, and
/// while the client is not ready by the record unless a prescriber
/// documents the decision.
#[utoipa::path(post, path = "/dosing-sessions/{id}/discharge", tag = "dosing", params(("id" = String, Path)), request_body = DischargeBody,
    responses((status = 200, body = SessionView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn discharge(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<DischargeBody>,
) -> AppResult<axum::Json<SessionView>> {
    let session = path_id("dosing session", &id)?;
    let at = opt_instant("at", body.at.as_deref())?;
    let s =
        usecase::dosing::discharge(&state, &auth, session, at, &body.accompanied_by, body.decision.as_deref()).await?;
    Ok(axum::Json(view(&state, s).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndEarlyBody {
    #[schema(format = DateTime)]
    pub at: Option<String>,
    /// `transferred` (to emergency care) or `left_against_advice`.
    pub kind: kairos_domain::dosing::EarlyEnd,
    /// What happened and who decided.
    #[schema(max_length = 1000)]
    pub reason: String,
    /// Where the client was handed over to: required for a transfer, refused otherwise.
    #[schema(value_type = Option<kairos_domain::text::Text200>)]
    pub transferred_to: Option<String>,
}

/// Ends a session before discharge: a transfer to emergency care or a
/// client who leaves against advice, with the reason. Not bound by the
/// monitoring time; raises a safety alert for the care team; the session is
/// then signed like a discharged one.
#[utoipa::path(post, path = "/dosing-sessions/{id}/end-early", tag = "dosing", params(("id" = String, Path)), request_body = EndEarlyBody,
    responses((status = 200, body = SessionView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn end_early(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<EndEarlyBody>,
) -> AppResult<axum::Json<SessionView>> {
    let session = path_id("dosing session", &id)?;
    let at = opt_instant("at", body.at.as_deref())?;
    let s =
        usecase::dosing::end_early(&state, &auth, session, at, body.kind, &body.reason, body.transferred_to.as_deref())
            .await?;
    Ok(axum::Json(view(&state, s).await?))
}

/// Signs a discharged session; it never changes afterwards.
#[utoipa::path(post, path = "/dosing-sessions/{id}/sign", tag = "dosing", params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 409, body = crate::error::Problem)))]
pub async fn sign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<SessionView>> {
    let s = usecase::dosing::sign(&state, &auth, path_id("dosing session", &id)?).await?;
    Ok(axum::Json(view(&state, s).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    #[schema(format = DateTime)]
    pub at: Option<String>,
    /// `{"kind": "dissociation", "cadss6": 9}`, `{"kind": "side_effect",
    /// "effect": "nausea", "severity": "mild", "action": "..."}` or
    /// `{"kind": "adverse_event", "description", "severity", "serious",
    /// "action", "outcome"}`.
    pub event: SessionEvent,
}

/// Records a dissociation score (CADSS-6), a side effect or an adverse event.
#[utoipa::path(post, path = "/dosing-sessions/{id}/events", tag = "dosing", params(("id" = String, Path)), request_body = EventBody,
    responses((status = 201, body = EventRecord), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn add_event(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<EventBody>,
) -> AppResult<(StatusCode, axum::Json<EventRecord>)> {
    let session = path_id("dosing session", &id)?;
    let at = opt_instant("at", body.at.as_deref())?;
    let r = usecase::dosing::record_event(&state, &auth, session, at, &body.event).await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// Amends a signed session: the original stays; the amendment shows who,
/// when, what and why.
#[utoipa::path(post, path = "/dosing-sessions/{id}/amendments", tag = "dosing", params(("id" = String, Path)), request_body = Amendment,
    responses((status = 201, body = AmendmentRecord), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn amend(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<Amendment>,
) -> AppResult<(StatusCode, axum::Json<AmendmentRecord>)> {
    let r = usecase::dosing::amend(&state, &auth, path_id("dosing session", &id)?, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RemsView {
    pub session_id: kairos_domain::ids::DosingSessionId,
    pub client_name: String,
    #[schema(format = Date)]
    pub client_date_of_birth: String,
    /// The form's content, taken from the session chart.
    pub form: RemsForm,
    pub state: RemsState,
}

/// The REMS form of an esketamine session (shared by the API and the page).
pub async fn rems_view(state: &AppState, auth: &Auth, id: kairos_domain::ids::DosingSessionId) -> AppResult<RemsView> {
    auth.require(Permission::ReadLedger)?;
    let s = state.store.get_dosing_session(id).await?;
    if s.route != "intranasal" {
        return Err(AppError::Conflict {
            field: "route".into(),
            detail: "the REMS monitoring form is for esketamine (intranasal) sessions".into(),
        });
    }
    let client = state.store.get_client(s.client_id).await?;
    // Concomitant medicines: from the newest signed screen of the course.
    let meds = state
        .store
        .screens_of(s.course_id)
        .await?
        .into_iter()
        .find(|x| x.signature.is_some())
        .map(|x| x.findings.medications)
        .unwrap_or_default();
    let readings: Vec<(Timestamp, Vitals)> = s.vitals.iter().map(|v| (v.at, v.vitals)).collect();
    let events: Vec<SessionEvent> = s.events.iter().map(|e| e.event.clone()).collect();
    let visit = state.store.get_encounter(s.encounter_id).await?;
    let enrolment = state.store.rems_enrolment(s.client_id).await?;
    let first_treatment = state.store.first_esketamine_session(s.client_id).await? == Some(s.id);
    // The monitoring provider: who started the session, reached at the
    // setting's telephone; the setting: the site's REMS details.
    let setting = state.store.rems_setting(visit.site_id).await?;
    let monitor = match s.started_by {
        Some(id) => Some(state.store.get_staff(id).await?),
        None => None,
    };
    let monitor = monitor.as_ref();
    let people = kairos_domain::rems::People {
        monitoring_name: monitor.map(|m| m.name.clone()).unwrap_or_default(),
        monitoring_email: monitor.map(|m| m.email.as_str().to_string()).unwrap_or_default(),
        monitoring_phone: setting.as_ref().map(|x| x.phone.clone()),
        setting_name: setting.as_ref().map(|x| x.name.clone()),
        setting_address: setting.as_ref().map(|x| x.address.clone()),
        prescriber_on_site: match s.prescriber_on_site {
            Some(id) => Some(state.store.get_staff(id).await?.name),
            None => None,
        },
    };
    let form = kairos_domain::rems::form(
        &kairos_domain::rems::SessionFacts {
            dose_mg: s.dose_mg,
            lot: &s.lot,
            started_at: s.started_at,
            pre_vitals: s.pre_vitals,
            discharged_at: s.discharged_at,
            readings: &readings,
            events: &events,
            medications: &meds,
            tz: state.site_tz(visit.site_id).await?,
            enrolment: enrolment.as_ref(),
            first_treatment,
            people,
        },
        &state.config.safety,
    );
    state.store.audit_read(&auth.actor(), AuditEntry::new(Action::Read, "rems_form", s.id).client(s.client_id)).await?;
    Ok(RemsView {
        session_id: s.id,
        client_name: client.details.display_name(),
        client_date_of_birth: client.details.date_of_birth.to_string(),
        form,
        state: state.store.rems_state(s.id).await?,
    })
}

/// The esketamine REMS Patient Monitoring Form content for a session.
#[utoipa::path(get, path = "/dosing-sessions/{id}/rems", tag = "dosing", params(("id" = String, Path)),
    responses((status = 200, body = RemsView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn get_rems(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<RemsView>> {
    Ok(axum::Json(rems_view(&state, &auth, path_id("dosing session", &id)?).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemsBody {
    /// When the patient would have been ready to leave without the 2-hour
    /// rule, in minutes after the dose.
    #[schema(minimum = 0, maximum = 1440)]
    pub ready_after_minutes: Option<i64>,
    /// The REMS submission confirmation; giving it marks the form submitted
    /// (after which it never changes).
    #[schema(value_type = Option<kairos_domain::text::OptionalText100>)]
    pub confirmation: Option<String>,
}

/// Saves the form's answers and, with a confirmation, records it submitted.
#[utoipa::path(put, path = "/dosing-sessions/{id}/rems", tag = "dosing", params(("id" = String, Path)), request_body = RemsBody,
    responses((status = 200, body = RemsView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn save_rems(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<RemsBody>,
) -> AppResult<axum::Json<RemsView>> {
    let id = path_id("dosing session", &id)?;
    crate::usecase::dosing::save_rems(&state, &auth, id, body.ready_after_minutes, body.confirmation.as_deref())
        .await?;
    Ok(axum::Json(rems_view(&state, &auth, id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RemsDueView {
    pub session_id: kairos_domain::ids::DosingSessionId,
    pub client_id: kairos_domain::ids::ClientId,
    pub client_name: String,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    #[schema(format = Date)]
    pub due: String,
    pub overdue: bool,
    pub signed: bool,
    /// The IANA time zone of the visit's site, in which `due` is a date.
    pub time_zone: String,
}

/// Esketamine sessions needing their REMS form, soonest due first (due
/// within 7 days of the session; overdue after).
pub async fn rems_due(state: &AppState, auth: &Auth) -> AppResult<Vec<RemsDueView>> {
    auth.require(Permission::ReadLedger)?;
    let due = state.store.rems_due().await?;
    let ids: Vec<_> = due.iter().map(|d| d.client_id).collect();
    let names: std::collections::HashMap<_, _> =
        state.store.clients_by_ids(&ids).await?.into_iter().map(|c| (c.id, c.details.display_name())).collect();
    // Each form is due by its visit's site's calendar.
    let zones: std::collections::HashMap<_, _> =
        state.store.list_sites().await?.into_iter().map(|s| (s.id, s.time_zone.tz())).collect();
    let now = state.now();
    Ok(due
        .into_iter()
        .map(|d| {
            let tz = zones.get(&d.site_id).cloned().unwrap_or(jiff::tz::TimeZone::UTC);
            let today = now.to_zoned(tz.clone()).date();
            let due = kairos_domain::rems::due_date(d.started_at, &tz, &state.config.safety.rems);
            RemsDueView {
                session_id: d.session_id,
                client_id: d.client_id,
                client_name: names.get(&d.client_id).cloned().unwrap_or_default(),
                started_at: d.started_at,
                due: due.to_string(),
                overdue: today > due,
                signed: d.signed,
                time_zone: tz.iana_name().unwrap_or("UTC").to_string(),
            }
        })
        .collect())
}

/// Esketamine sessions whose REMS form is not yet submitted.
#[utoipa::path(get, path = "/rems/due", tag = "dosing",
    responses((status = 200, body = [RemsDueView]), (status = 403, body = crate::error::Problem)))]
pub async fn list_rems_due(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<RemsDueView>>> {
    let due = rems_due(&state, &auth).await?;
    let reads: Vec<AuditEntry> =
        due.iter().map(|d| AuditEntry::new(Action::List, "rems_form", d.session_id).client(d.client_id)).collect();
    if !reads.is_empty() {
        state.store.audit_reads(&auth.actor(), &reads).await?;
    }
    Ok(axum::Json(due))
}
