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
use kairos_store::measures::{Administration, Alert, MeasureSource, NewAdministration, OpenAlert};
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
    /// The total alone (score-only instruments that allow it), instead of answers.
    pub total: Option<i64>,
    /// When it was completed (default: now); not in the future.
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    pub course_id: Option<String>,
}

/// Scores answers (or a total) with an instrument; errors name the field.
pub fn score(inst: &Instrument, answers: Option<&[Option<i64>]>, total: Option<i64>) -> AppResult<Scored> {
    match (answers, total) {
        (Some(a), None) => Ok(inst.score(a)?),
        (None, Some(t)) => Ok(inst.score_total(t)?),
        (Some(_), Some(_)) => Err(AppError::invalid("total", "give either answers or a total, not both")),
        (None, None) => Err(AppError::invalid("answers", "answers are required")),
    }
}

fn completed_at(s: Option<&str>, now: Timestamp) -> AppResult<Timestamp> {
    let Some(s) = s else { return Ok(now) };
    let at = instant("completed_at", s)?;
    // A little slack for clocks that run ahead of the server's.
    if at > now + SignedDuration::from_mins(5) {
        return Err(AppError::invalid("completed_at", "completed_at cannot be in the future"));
    }
    Ok(at)
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
    auth.require(Permission::RecordMeasures)?;
    let client: ClientId = path_id("client", &id)?;
    let inst = instrument(&state, "instrument", &body.instrument)?;
    let now = Timestamp::now();
    let scored = score(inst, body.answers.as_deref(), body.total)?;
    let new = NewAdministration {
        client_id: client,
        course_id: opt_field_id("course_id", body.course_id.as_deref())?,
        instrument_id: inst.id.clone(),
        instrument_version: inst.version.clone(),
        completed_at: completed_at(body.completed_at.as_deref(), now)?,
        answers: body.answers,
        scored,
        source: MeasureSource::Clinician,
        entered_by: Some(auth.staff.id),
    };
    let admin = state.store.record_measure(&auth.actor(), &new).await?;
    Ok((StatusCode::CREATED, axum::Json(AdministrationView::new(&admin, state.config.alert_escalation, now))))
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
    let now = Timestamp::now();
    Ok(axum::Json(list.iter().map(|a| AdministrationView::new(a, state.config.alert_escalation, now)).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorMark {
    /// Why this entry is wrong (e.g. "entered for the wrong client").
    pub reason: String,
}

pub fn required_text(field: &str, s: &str, max: usize) -> AppResult<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(AppError::invalid(field, format!("{field} is required")));
    }
    if t.chars().count() > max {
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
    auth.require(Permission::RecordMeasures)?;
    let reason = required_text("reason", &body.reason, 1000)?;
    let admin = state.store.mark_measure_in_error(&auth.actor(), path_id("measure", &id)?, &reason).await?;
    Ok(axum::Json(AdministrationView::new(&admin, state.config.alert_escalation, Timestamp::now())))
}

/// Open alerts the caller must see: for their clients (as prescriber or
/// therapist), for clients with no assigned clinician, or all (director).
/// Oldest first; `escalated` marks those past the clinic's escalation time.
#[utoipa::path(get, path = "/alerts", tag = "measures",
    responses((status = 200, body = Vec<OpenAlertView>)))]
pub async fn list_alerts(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<OpenAlertView>>> {
    auth.require(Permission::ReadMeasures)?;
    let list = open_alerts(&state, &auth).await?;
    let now = Timestamp::now();
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
    Ok(state.store.open_alerts_for(&auth.actor(), auth.staff.id, everyone).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertAck {
    /// What was done (e.g. "called the client; safety plan reviewed; no current intent").
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
    auth.require(Permission::RecordMeasures)?;
    let note = required_text("action_note", &body.action_note, 2000)?;
    let alert = state.store.acknowledge_alert(&auth.actor(), path_id("alert", &id)?, &note).await?;
    Ok(axum::Json(AlertView::new(&alert, state.config.alert_escalation, Timestamp::now())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkCreate {
    /// A self-report instrument with shipped text, e.g. `phq9`.
    pub instrument: String,
    pub course_id: Option<String>,
    /// Lifetime in hours (default the clinic's, 72; at most 336).
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
    let created = send_link(&state, &auth, client, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

pub async fn send_link(state: &AppState, auth: &Auth, client: ClientId, body: &LinkCreate) -> AppResult<LinkCreated> {
    let inst = instrument(state, "instrument", &body.instrument)?;
    if inst.rater != Rater::SelfReport || inst.content != Content::Full {
        return Err(AppError::invalid(
            "instrument",
            format!("{} is not a self-report questionnaire Kairos can show to a client", inst.short_name),
        ));
    }
    let lifetime = match body.expires_in_hours {
        None => state.config.link_lifetime,
        Some(h) if (1..=336).contains(&h) => SignedDuration::from_hours(i64::from(h)),
        Some(_) => return Err(AppError::invalid("expires_in_hours", "expires_in_hours must be between 1 and 336")),
    };
    let token = crate::auth::new_token();
    let expires_at = Timestamp::now() + lifetime;
    let course: Option<CourseId> = opt_field_id("course_id", body.course_id.as_deref())?;
    let req = state.store.create_measure_request(&auth.actor(), client, course, &inst.id, &token, expires_at).await?;
    let base = state.config.public_url.as_deref().unwrap_or("").trim_end_matches('/');
    Ok(LinkCreated { id: req.id, url: format!("{base}/r/{token}"), expires_at })
}
