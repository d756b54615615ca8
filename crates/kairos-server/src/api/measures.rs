//! Questionnaires: the instrument library, recording and listing
//! administrations, safety alerts, and self-report links.

use super::{instant, opt_field_id, path_id};
use crate::error::{AppError, AppResult};
use crate::extract::{Auth, Json, Query};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use kairos_domain::ids::{AdministrationId, AlertId, ClientId, CourseId, MeasureRequestId, StaffId};
use kairos_domain::instruments::{AlertLevel, Content, Instrument, Rater, Scored};
use kairos_domain::roles::{Permission, Role};
use kairos_store::measures::{Administration, Alert, OpenAlert};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// An instrument in the library list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InstrumentSummary {
    pub id: String,
    pub name: String,
    pub short_name: String,
    pub version: String,
    pub rater: Rater,
    pub content: Content,
    pub items: usize,
    pub min_score: i64,
    pub max_score: i64,
    /// The total may be entered alone (score-only instruments).
    pub total_entry: bool,
    /// Some of its rules are defaults not confirmed against their source.
    pub has_unconfirmed_rules: bool,
}

impl From<&Instrument> for InstrumentSummary {
    fn from(i: &Instrument) -> Self {
        let (min_score, max_score) = i.score_range();
        InstrumentSummary {
            id: i.id.clone(),
            name: i.name.clone(),
            short_name: i.short_name.clone(),
            version: i.version.clone(),
            rater: i.rater,
            content: i.content,
            items: i.items.len(),
            min_score,
            max_score,
            total_entry: i.total_entry,
            has_unconfirmed_rules: has_unconfirmed_rules(i),
        }
    }
}

pub fn has_unconfirmed_rules(i: &Instrument) -> bool {
    let mut confirmed = vec![i.scoring.provenance.confirmed, i.missing.provenance.confirmed];
    confirmed.extend(i.severity.as_ref().map(|b| b.provenance.confirmed));
    confirmed.extend(i.response.as_ref().map(|r| r.provenance.confirmed));
    confirmed.extend(i.remission.as_ref().map(|r| r.provenance.confirmed));
    confirmed.extend(i.reliable_change.as_ref().map(|r| r.provenance.confirmed));
    confirmed.extend(i.diagnosis.as_ref().map(|r| r.provenance.confirmed));
    confirmed.extend(i.alerts.iter().map(|a| a.provenance.confirmed));
    confirmed.iter().any(|c| !c)
}

/// The questionnaires and rating scales in use.
#[utoipa::path(get, path = "/instruments", tag = "measures",
    responses((status = 200, body = Vec<InstrumentSummary>)))]
pub async fn list_instruments(
    State(state): State<AppState>,
    auth: Auth,
) -> AppResult<axum::Json<Vec<InstrumentSummary>>> {
    auth.require(Permission::ReadDirectory)?;
    Ok(axum::Json(state.config.instruments.all().iter().map(InstrumentSummary::from).collect()))
}

/// One instrument's full definition: items, options, scoring, bands,
/// rules with their sources, and whether each source is confirmed.
#[utoipa::path(get, path = "/instruments/{id}", tag = "measures", params(("id" = String, Path)),
    responses((status = 200, body = Instrument), (status = 404, body = crate::error::Problem)))]
pub async fn get_instrument(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Instrument>> {
    auth.require(Permission::ReadDirectory)?;
    let inst = state.config.instruments.get(&id).ok_or_else(|| AppError::NotFound(format!("no instrument `{id}`")))?;
    Ok(axum::Json(inst.clone()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub id: AlertId,
    pub client_id: ClientId,
    pub administration_id: Option<AdministrationId>,
    pub instrument: Option<String>,
    pub item: Option<String>,
    pub item_value: Option<i64>,
    pub level: AlertLevel,
    pub message: String,
    pub self_harm: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Unacknowledged for longer than the clinic's escalation time.
    pub escalated: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<StaffId>,
    pub action_note: Option<String>,
    /// The dosing session whose vital signs raised it (none for a
    /// questionnaire's alert).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub dosing_session_id: Option<kairos_domain::ids::DosingSessionId>,
}

impl AlertView {
    pub fn new(a: &Alert, escalate_after: SignedDuration, now: Timestamp) -> AlertView {
        AlertView {
            id: a.id,
            client_id: a.client_id,
            administration_id: a.administration_id,
            instrument: a.instrument.clone(),
            item: a.item.clone(),
            item_value: a.item_value,
            level: a.level,
            message: a.message.clone(),
            dosing_session_id: a.dosing_session_id,
            self_harm: a.self_harm,
            created_at: a.created_at,
            escalated: is_escalated(a, escalate_after, now),
            acknowledged_at: a.acknowledged.as_ref().map(|k| k.at),
            acknowledged_by: a.acknowledged.as_ref().map(|k| k.by),
            action_note: a.acknowledged.as_ref().map(|k| k.action_note.clone()),
        }
    }
}

/// An unacknowledged alert older than `after` is escalated.
pub fn is_escalated(a: &Alert, after: SignedDuration, now: Timestamp) -> bool {
    a.acknowledged.is_none() && now.duration_since(a.created_at) >= after
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OpenAlertView {
    #[serde(flatten)]
    pub alert: AlertView,
    pub client_name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdministrationView {
    pub id: AdministrationId,
    pub client_id: ClientId,
    pub course_id: Option<CourseId>,
    pub instrument: String,
    pub instrument_version: String,
    #[schema(value_type = String, format = DateTime)]
    pub completed_at: Timestamp,
    /// One entry per item in the instrument's order (null = unanswered);
    /// null when only the total was entered.
    pub answers: Option<Vec<Option<i64>>>,
    pub score: i64,
    /// Items were missing and the total was prorated by the instrument's rule.
    pub prorated: bool,
    pub subscores: BTreeMap<String, i64>,
    pub severity: Option<String>,
    pub provisional_diagnosis: Option<bool>,
    /// `clinician` or `self_report`.
    pub source: String,
    pub entered_by: Option<StaffId>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub entered_in_error: bool,
    pub error_reason: Option<String>,
    pub alerts: Vec<AlertView>,
}

impl AdministrationView {
    pub fn new(a: &Administration, escalate_after: SignedDuration, now: Timestamp) -> AdministrationView {
        AdministrationView {
            id: a.id,
            client_id: a.client_id,
            course_id: a.course_id,
            instrument: a.instrument.clone(),
            instrument_version: a.instrument_version.clone(),
            completed_at: a.completed_at,
            answers: a.answers.clone(),
            score: a.score,
            prorated: a.prorated,
            subscores: a.subscores.clone(),
            severity: a.severity.clone(),
            provisional_diagnosis: a.provisional_diagnosis,
            source: a.source.as_str().to_string(),
            entered_by: a.entered_by,
            created_at: a.created_at,
            entered_in_error: a.entered_in_error.is_some(),
            error_reason: a.entered_in_error.as_ref().map(|e| e.reason.clone()),
            alerts: a.alerts.iter().map(|x| AlertView::new(x, escalate_after, now)).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureCreate {
    /// Instrument id, e.g. `phq9`.
    pub instrument: String,
    /// One answer per item, in the instrument's order; null for unanswered.
    pub answers: Option<Vec<Option<i64>>>,
    /// The total without its items (score-only instruments that allow it).
    /// `answers` then gives the instrument's safety items only (MADRS item
    /// 10), which are required with a total; every other answer null.
    pub total: Option<i64>,
    /// When it was completed (default: now); not in the future.
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(format = Uuid)]
    pub course_id: Option<String>,
}

/// Scores answers (or a total) with an instrument; errors name the field.
pub fn score(inst: &Instrument, answers: Option<&[Option<i64>]>, total: Option<i64>) -> AppResult<Scored> {
    match (answers, total) {
        (Some(a), None) => Ok(inst.score(a)?),
        (None, Some(t)) => Ok(inst.score_total(t, &[])?),
        (Some(a), Some(t)) => Ok(inst.score_total(t, a)?),
        (None, None) => Err(AppError::invalid("answers", "answers are required")),
    }
}

pub fn instrument<'a>(state: &'a AppState, field: &str, id: &str) -> AppResult<&'a Instrument> {
    state.config.instruments.get(id.trim()).ok_or_else(|| {
        let known: Vec<&str> = state.config.instruments.all().iter().map(|i| i.id.as_str()).collect();
        AppError::invalid(field, format!("{field}: no instrument `{id}`; known: {}", known.join(", ")))
    })
}

/// Records a completed questionnaire for a client (clinicians), scoring it
/// and raising its safety alerts in the same transaction.
#[utoipa::path(post, path = "/clients/{id}/measures", tag = "measures", params(("id" = String, Path)), request_body = MeasureCreate,
    responses((status = 201, body = AdministrationView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn record_measure(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<MeasureCreate>,
) -> AppResult<(StatusCode, axum::Json<AdministrationView>)> {
    let client: ClientId = path_id("client", &id)?;
    let cmd = crate::usecase::measures::RecordCommand {
        instrument: body.instrument,
        answers: body.answers,
        total: body.total,
        completed_at: body.completed_at.as_deref().map(|t| instant("completed_at", t)).transpose()?,
        course_id: opt_field_id("course_id", body.course_id.as_deref())?,
    };
    let admin = crate::usecase::measures::record(&state, &auth, client, &cmd).await?;
    Ok((StatusCode::CREATED, axum::Json(AdministrationView::new(&admin, state.config.alert_escalation, state.now()))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MeasureQuery {
    /// Only this instrument, e.g. `phq9`.
    pub instrument: Option<String>,
}

/// A client's questionnaires, newest first (entered-in-error ones included
/// and marked).
#[utoipa::path(get, path = "/clients/{id}/measures", tag = "measures", params(("id" = String, Path), MeasureQuery),
    responses((status = 200, body = Vec<AdministrationView>), (status = 404, body = crate::error::Problem)))]
pub async fn list_measures(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<MeasureQuery>,
) -> AppResult<axum::Json<Vec<AdministrationView>>> {
    auth.require(Permission::ReadMeasures)?;
    if let Some(i) = &q.instrument {
        instrument(&state, "instrument", i)?;
    }
    let list = state.store.list_measures(&auth.actor(), path_id("client", &id)?, q.instrument.as_deref()).await?;
    let now = state.now();
    Ok(axum::Json(list.iter().map(|a| AdministrationView::new(a, state.config.alert_escalation, now)).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorMark {
    /// Why this entry is wrong (e.g. "entered for the wrong client").
    #[schema(min_length = 1, max_length = 1000, pattern = "\\S")]
    pub reason: String,
}

/// Free text that must not be blank (line breaks allowed); the bound counts
/// the text as sent.
pub fn required_text(field: &str, s: &str, max: usize) -> AppResult<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(AppError::invalid(field, format!("{field} is required")));
    }
    if s.chars().count() > max {
        return Err(AppError::invalid(field, format!("{field} is longer than {max} characters")));
    }
    Ok(t.to_string())
}

/// Marks a questionnaire entered in error (it stays in the record, struck
/// out of trajectories and outcomes).
#[utoipa::path(post, path = "/measures/{id}/entered-in-error", tag = "measures", params(("id" = String, Path)), request_body = ErrorMark,
    responses((status = 200, body = AdministrationView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn mark_in_error(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<ErrorMark>,
) -> AppResult<axum::Json<AdministrationView>> {
    let admin =
        crate::usecase::measures::mark_entered_in_error(&state, &auth, path_id("measure", &id)?, &body.reason).await?;
    Ok(axum::Json(AdministrationView::new(&admin, state.config.alert_escalation, state.now())))
}

/// Open alerts the caller must see: for their clients (as prescriber or
/// therapist), for clients with no assigned clinician, or all (director).
/// Oldest first; `escalated` marks those past the clinic's escalation time.
#[utoipa::path(get, path = "/alerts", tag = "measures",
    responses((status = 200, body = Vec<OpenAlertView>)))]
pub async fn list_alerts(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<OpenAlertView>>> {
    auth.require(Permission::ReadMeasures)?;
    let list = open_alerts(&state, &auth).await?;
    let now = state.now();
    Ok(axum::Json(
        list.iter()
            .map(|a| OpenAlertView {
                alert: AlertView::new(&a.alert, state.config.alert_escalation, now),
                client_name: a.client_name.clone(),
            })
            .collect(),
    ))
}

pub async fn open_alerts(state: &AppState, auth: &Auth) -> AppResult<Vec<OpenAlert>> {
    let everyone = auth.staff.roles.contains(Role::Director);
    let prescriber = auth.staff.roles.contains(Role::Prescriber);
    Ok(state.store.open_alerts_for(&auth.actor(), auth.staff.id, everyone, prescriber).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertAck {
    /// What was done (e.g. "called the client; safety plan reviewed; no current intent").
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub action_note: String,
}

/// Acknowledges an alert with what was done.
#[utoipa::path(post, path = "/alerts/{id}/acknowledge", tag = "measures", params(("id" = String, Path)), request_body = AlertAck,
    responses((status = 200, body = AlertView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn acknowledge_alert(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<AlertAck>,
) -> AppResult<axum::Json<AlertView>> {
    let alert = crate::usecase::measures::acknowledge(&state, &auth, path_id("alert", &id)?, &body.action_note).await?;
    Ok(axum::Json(AlertView::new(&alert, state.config.alert_escalation, state.now())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkCreate {
    /// A self-report instrument with shipped text, e.g. `phq9`.
    pub instrument: String,
    #[schema(format = Uuid)]
    pub course_id: Option<String>,
    /// Lifetime in hours (default the clinic's, 72; at most 336).
    #[schema(minimum = 1, maximum = 336)]
    pub expires_in_hours: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LinkCreated {
    pub id: MeasureRequestId,
    /// The link to send to the client; it works once, until it expires.
    pub url: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// Creates a single-use, expiring self-report link for a client.
#[utoipa::path(post, path = "/clients/{id}/measure-requests", tag = "measures", params(("id" = String, Path)), request_body = LinkCreate,
    responses((status = 201, body = LinkCreated), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_link(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<LinkCreate>,
) -> AppResult<(StatusCode, axum::Json<LinkCreated>)> {
    auth.require(Permission::RecordMeasures)?;
    let client: ClientId = path_id("client", &id)?;
    let created = crate::usecase::measures::send_self_report_link(&state, &auth, client, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// One instrument's trajectory summary for a client.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientOutcome {
    pub instrument: String,
    pub short_name: String,
    /// Valid scores counted (entries marked entered in error left out).
    pub scores: usize,
    /// Baseline, latest, change, percent change, reliable change, response,
    /// remission, first response and remission dates, relapse date, days in
    /// response (see `kairos_domain::outcomes::trajectory`).
    pub trajectory: kairos_domain::outcomes::Trajectory,
    /// Whether the response, remission and reliable-change rules used are
    /// confirmed against their sources (otherwise: unconfirmed defaults).
    pub rules_confirmed: bool,
}

/// Per instrument with a response rule and at least one valid score.
pub fn client_outcomes(
    lib: &kairos_domain::instruments::Library,
    measures: &[Administration],
    tz: &jiff::tz::TimeZone,
) -> Vec<ClientOutcome> {
    let mut out = Vec::new();
    for inst in lib.all() {
        let Some(criteria) = kairos_domain::practice::criteria_of(inst) else { continue };
        let points: Vec<(jiff::civil::Date, f64)> = measures
            .iter()
            .filter(|m| m.instrument == inst.id && m.entered_in_error.is_none())
            .map(|m| (m.completed_at.to_zoned(tz.clone()).date(), m.score as f64))
            .collect();
        let Some(trajectory) = kairos_domain::outcomes::trajectory(&points, &criteria) else { continue };
        let rules_confirmed = inst.response.as_ref().is_none_or(|r| r.provenance.confirmed)
            && inst.remission.as_ref().is_none_or(|r| r.provenance.confirmed)
            && inst.reliable_change.as_ref().is_none_or(|r| r.provenance.confirmed);
        out.push(ClientOutcome {
            instrument: inst.id.clone(),
            short_name: inst.short_name.clone(),
            scores: points.len(),
            trajectory,
            rules_confirmed,
        });
    }
    out
}

/// A client's outcomes per instrument: baseline, latest, change, reliable
/// change, response, remission, relapse and days in response.
#[utoipa::path(get, path = "/clients/{id}/outcomes", tag = "measures", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ClientOutcome>), (status = 404, body = crate::error::Problem)))]
pub async fn get_client_outcomes(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<ClientOutcome>>> {
    auth.require(Permission::ReadMeasures)?;
    let client = path_id("client", &id)?;
    let list = state.store.list_measures(&auth.actor(), client, None).await?;
    let tz = state.client_tz(client).await?;
    Ok(axum::Json(client_outcomes(&state.config.instruments, &list, &tz)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutcomeQuery {
    /// Instrument id (default `phq9`).
    pub instrument: Option<String>,
    /// Courses started on or after this date (default: a year before `to`).
    #[param(format = Date)]
    pub from: Option<String>,
    /// Courses started on or before this date (default: today at the clinic).
    #[param(format = Date)]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PracticeOutcomes {
    #[schema(value_type = String, format = Date)]
    pub from: jiff::civil::Date,
    #[schema(value_type = String, format = Date)]
    pub to: jiff::civil::Date,
    /// Rates with 95% Wilson intervals overall, by protocol and by
    /// psychotherapy in the post-dose window; the Kaplan-Meier curve of time
    /// to relapse with numbers at risk; and the definition of every figure.
    pub report: kairos_domain::practice::PracticeReport,
}

pub async fn practice_outcomes(state: &AppState, q: &OutcomeQuery) -> AppResult<PracticeOutcomes> {
    let inst = instrument(state, "instrument", q.instrument.as_deref().unwrap_or("phq9"))?;
    // A practice-wide report: its dates are the practice's.
    let tz = state.practice_tz().await?;
    let to = match q.to.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => super::date("to", s)?,
        None => state.now().to_zoned(tz.clone()).date(),
    };
    let from = match q.from.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => super::date("from", s)?,
        None => to.checked_sub(jiff::Span::new().years(1)).map_err(|e| AppError::invalid("to", e.to_string()))?,
    };
    if from > to {
        return Err(AppError::invalid("from", "from must not be after to"));
    }
    let started = std::time::Instant::now();
    let facts = state.store.course_outcome_facts(&inst.id, from, to, &tz).await?;
    let read = started.elapsed();
    let induction_by_protocol = state
        .config
        .protocols
        .all()
        .iter()
        .map(|p| (p.id.clone(), usize::try_from(p.doses.count).unwrap_or(usize::MAX)))
        .collect();
    let params = kairos_domain::practice::PracticeParams { tz, induction_by_protocol, ..Default::default() };
    let report = kairos_domain::practice::practice_report(inst, &facts, &params).ok_or_else(|| {
        AppError::invalid("instrument", format!("{} has no response rule to report outcomes by", inst.short_name))
    })?;
    tracing::info!(
        courses = facts.len(),
        read_ms = read.as_millis() as u64,
        report_ms = (started.elapsed() - read).as_millis() as u64,
        "practice outcomes"
    );
    Ok(PracticeOutcomes { from, to, report })
}

/// Practice outcomes for courses started in a date range (director).
#[utoipa::path(get, path = "/outcomes", tag = "measures", params(OutcomeQuery),
    responses((status = 200, body = PracticeOutcomes), (status = 422, body = crate::error::Problem)))]
pub async fn get_practice_outcomes(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<OutcomeQuery>,
) -> AppResult<axum::Json<PracticeOutcomes>> {
    Ok(axum::Json(crate::usecase::measures::practice_outcomes(&state, &auth, &q).await?))
}

/// A questionnaire due (or overdue) for a course.
#[derive(Debug, Serialize, ToSchema)]
pub struct DueMeasure {
    pub client_id: ClientId,
    pub client_name: String,
    pub course_id: CourseId,
    pub instrument: String,
    pub short_name: String,
    /// e.g. "before dose 3", "week 2 of induction", "3 months after the end".
    pub label: String,
    #[schema(value_type = String, format = DateTime)]
    pub opens_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub overdue_at: Timestamp,
    /// `upcoming`, `due`, `overdue` or `done`.
    #[schema(value_type = String)]
    pub status: kairos_domain::measure_schedule::OccurrenceStatus,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<Timestamp>,
}

/// The schedule's occurrences for these courses (all statuses), soonest due first.
pub async fn schedule_for(
    state: &AppState,
    courses: &[kairos_domain::course::Course],
    names: &std::collections::HashMap<ClientId, String>,
    now: Timestamp,
) -> AppResult<Vec<DueMeasure>> {
    use kairos_domain::measure_schedule::{CourseFacts, course_phases, occurrences};
    let ids: Vec<CourseId> = courses.iter().map(|c| c.id).collect();
    let timelines = state.store.course_timelines(&ids).await?;
    let mut clients: Vec<ClientId> = courses.iter().map(|c| c.client_id).collect();
    clients.sort();
    clients.dedup();
    let earliest = courses.iter().map(|c| c.started_on).min();
    let since = match earliest {
        Some(d) => d.to_zoned(jiff::tz::TimeZone::UTC).map_err(|e| AppError::Internal(e.to_string()))?.timestamp(),
        None => return Ok(Vec::new()),
    } - SignedDuration::from_hours(24 * 30);
    let done = state.store.completed_measures_of(&clients, since).await?;
    // Each client's schedule runs on their own site's calendar.
    let zones = state.client_tzs(&clients).await?;
    let mut out = Vec::new();
    for c in courses {
        let tz = zones.get(&c.client_id).cloned().unwrap_or(jiff::tz::TimeZone::UTC);
        let day_start = |d: jiff::civil::Date| d.to_zoned(tz.clone()).map(|z| z.timestamp()).ok();
        let Some(started_at) = day_start(c.started_on) else { continue };
        let timeline = timelines.get(&c.id).cloned().unwrap_or_default();
        let series = state.config.protocols.get(&c.protocol).map(|p| &p.doses);
        let phases = course_phases(&timeline.phases, c.phase, started_at, &timeline.doses, series);
        let facts = CourseFacts {
            started_at,
            phases,
            doses: timeline.doses.clone(),
            ended_at: c.ended_on.and_then(day_start),
            tz: tz.clone(),
        };
        let completed = done.get(&c.client_id).cloned().unwrap_or_default();
        for o in occurrences(state.config.schedule_for(&c.protocol), &facts, &completed, now) {
            out.push(DueMeasure {
                client_id: c.client_id,
                client_name: names.get(&c.client_id).cloned().unwrap_or_default(),
                course_id: c.id,
                short_name: state
                    .config
                    .instruments
                    .get(&o.instrument)
                    .map(|i| i.short_name.clone())
                    .unwrap_or_default(),
                instrument: o.instrument,
                label: o.label,
                opens_at: o.opens_at,
                due_at: o.due_at,
                overdue_at: o.overdue_at,
                status: o.status,
                done_at: o.done_at,
            });
        }
    }
    out.sort_by_key(|d| d.due_at);
    Ok(out)
}

/// Questionnaires due now or overdue for the caller's clients (as
/// prescriber or therapist), by the clinic's measure schedule; overdue first.
pub async fn due_for_me(state: &AppState, auth: &Auth) -> AppResult<Vec<DueMeasure>> {
    use kairos_domain::measure_schedule::OccurrenceStatus;
    let now = state.now();
    // Follow-up measures run to 6 months after the end, plus their grace (a
    // day's margin either way is harmless: the date is only a cut-off).
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let ended_since = today.checked_sub(jiff::Span::new().days(215)).map_err(|e| AppError::Internal(e.to_string()))?;
    let courses = state.store.courses_of_clinician(auth.staff.id, ended_since).await?;
    let ids: Vec<ClientId> = courses.iter().map(|c| c.client_id).collect();
    let names: std::collections::HashMap<ClientId, String> =
        state.store.clients_by_ids(&ids).await?.into_iter().map(|c| (c.id, c.details.display_name())).collect();
    let mut list: Vec<DueMeasure> = schedule_for(state, &courses, &names, now)
        .await?
        .into_iter()
        .filter(|d| matches!(d.status, OccurrenceStatus::Due | OccurrenceStatus::Overdue))
        .collect();
    list.sort_by_key(|d| (d.status != OccurrenceStatus::Overdue, d.due_at));
    let mut shown: Vec<ClientId> = list.iter().map(|d| d.client_id).collect();
    shown.sort();
    shown.dedup();
    if !shown.is_empty() {
        let entries: Vec<kairos_store::AuditEntry> = shown
            .iter()
            .map(|c| {
                kairos_store::AuditEntry::new(kairos_store::Action::List, "measure_schedule", c)
                    .client(*c)
                    .detail("questionnaires due")
            })
            .collect();
        state.store.audit_reads(&auth.actor(), &entries).await?;
    }
    Ok(list)
}

/// Questionnaires due now or overdue for the caller's clients.
#[utoipa::path(get, path = "/measures/due", tag = "measures",
    responses((status = 200, body = Vec<DueMeasure>)))]
pub async fn list_due(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<DueMeasure>>> {
    auth.require(Permission::ReadMeasures)?;
    Ok(axum::Json(due_for_me(&state, &auth).await?))
}

/// A client's measure schedule over all their courses: every occurrence
/// with its window and status.
#[utoipa::path(get, path = "/clients/{id}/measure-schedule", tag = "measures", params(("id" = String, Path)),
    responses((status = 200, body = Vec<DueMeasure>), (status = 404, body = crate::error::Problem)))]
pub async fn client_schedule(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<DueMeasure>>> {
    auth.require(Permission::ReadMeasures)?;
    let client = state.store.get_client(path_id("client", &id)?).await?;
    let courses = state.store.courses_of(client.id).await?;
    let names = std::collections::HashMap::from([(client.id, client.details.display_name())]);
    let list = schedule_for(&state, &courses, &names, state.now()).await?;
    state
        .store
        .audit_read(
            &auth.actor(),
            kairos_store::AuditEntry::new(kairos_store::Action::Read, "measure_schedule", client.id)
                .client(client.id)
                .detail("measure schedule"),
        )
        .await?;
    Ok(axum::Json(list))
}
