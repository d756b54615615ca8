//! Dosing sessions: start (checklist, pre-dose vitals and the safety hold,
//! the dose), vitals with immediate alerts, discharge, signature.

use super::{instant, path_id};
use crate::error::{AppError, AppResult};
use crate::extract::{Auth, Json};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use kairos_domain::dosing::{Vitals, dose_mg};
use kairos_domain::protocols::DoseUnit;
use kairos_domain::roles::Permission;
use kairos_store::dosing::{Checklist, DosingSession, NewSession, VitalsRecord};
use kairos_store::{Action, AuditEntry};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Monitoring minutes when the course's protocol is not in the library
/// (local default, the esketamine label's minimum).
const DEFAULT_MONITORING_MINUTES: u32 = 120;

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The session: checklist, pre-dose vitals, any hold and its override,
    /// the dose (route, mg/kg, weight, mg, lot), start, monitoring minutes,
    /// discharge, signature, and every set of vitals with its alerts.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub session: DosingSession,
    /// The earliest discharge the protocol allows.
    #[schema(value_type = String, format = DateTime)]
    pub earliest_discharge: Timestamp,
}

impl From<DosingSession> for SessionView {
    fn from(s: DosingSession) -> Self {
        let earliest_discharge = s.started_at + jiff::SignedDuration::from_mins(s.monitoring_minutes);
        SessionView { session: s, earliest_discharge }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionStart {
    #[schema(value_type = Object)]
    pub checklist: Checklist,
    pub pre_vitals: Vitals,
    /// Required (from a prescriber) when the pre-dose vitals trigger the hold.
    pub override_reason: Option<String>,
    /// Default: the protocol's route.
    pub route: Option<String>,
    /// Default: the protocol's dose when it is weight-based.
    pub mg_per_kg: Option<f64>,
    /// Today's weight; required for a weight-based dose.
    pub weight_kg: Option<f64>,
    /// For a fixed dose (mg), or when no weight-based dose applies.
    pub dose_mg: Option<f64>,
    pub lot: String,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
}

fn when(field: &str, s: Option<&str>) -> AppResult<Timestamp> {
    let now = Timestamp::now();
    let Some(s) = s else { return Ok(now) };
    let t = instant(field, s)?;
    if t > now + jiff::SignedDuration::from_mins(5) {
        return Err(AppError::invalid(field, format!("{field} cannot be in the future")));
    }
    Ok(t)
}

fn prefixed(e: kairos_domain::DomainError, parent: &str) -> AppError {
    AppError::invalid(format!("{parent}.{}", e.field()), e.to_string())
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
    let s = start_session(&state, &auth, path_id("encounter", &id)?, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(s.into())))
}

/// Starts a dosing session (shared by the API and the page); errors name the field.
pub async fn start_session(
    state: &AppState,
    auth: &Auth,
    encounter: kairos_domain::ids::EncounterId,
    body: &SessionStart,
) -> AppResult<DosingSession> {
    auth.require(Permission::ChartDosing)?;
    let enc = state.store.get_encounter(encounter).await?;
    body.pre_vitals.validate().map_err(|e| prefixed(e, "pre_vitals"))?;
    if body.pre_vitals.systolic.is_none() || body.pre_vitals.diastolic.is_none() || body.pre_vitals.heart_rate.is_none()
    {
        return Err(AppError::invalid("pre_vitals", "pre-dose blood pressure and heart rate are required"));
    }
    let c = &body.checklist;
    if !["not_applicable", "negative", "positive"].contains(&c.pregnancy_test.as_str()) {
        return Err(AppError::invalid("checklist.pregnancy_test", "use not_applicable, negative or positive"));
    }
    if c.pregnancy_test == "positive" {
        return Err(AppError::invalid(
            "checklist.pregnancy_test",
            "a positive pregnancy test: no dose; see the prescriber",
        ));
    }
    if !c.ride_home_arranged || !c.no_driving_agreed {
        return Err(AppError::invalid(
            "checklist.ride_home_arranged",
            "arrange a ride home and the client's agreement not to drive until the next day before dosing",
        ));
    }
    let lot = super::measures::required_text("lot", &body.lot, 100)?;
    let hold = state.config.safety.pre_dose_hold(&body.pre_vitals);
    let override_reason = body.override_reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    match (&hold, &override_reason) {
        (Some(h), None) => {
            return Err(AppError::invalid(
                "override_reason",
                format!("dose held: {h}; a prescriber may override with a reason"),
            ));
        }
        (Some(_), Some(_)) => auth.require(Permission::OverrideSafetyHold)?,
        (None, Some(_)) => {
            return Err(AppError::invalid("override_reason", "there is no hold to override"));
        }
        (None, None) => {}
    }
    let course = match enc.course_id {
        Some(c) => Some(state.store.get_course(c).await?),
        None => None,
    };
    let protocol = course.as_ref().and_then(|c| state.config.protocols.get(&c.protocol));
    let route = match (&body.route, protocol) {
        (Some(r), _) => r.trim().to_string(),
        (None, Some(p)) => p.dose.route.as_str().to_string(),
        (None, None) => return Err(AppError::invalid("route", "give the route (no library protocol for this course)")),
    };
    let mg_per_kg =
        body.mg_per_kg.or(protocol.and_then(|p| (p.dose.unit == DoseUnit::MgPerKg).then_some(p.dose.amount).flatten()));
    let dose = match (body.dose_mg, mg_per_kg, body.weight_kg) {
        (Some(mg), None, _) if mg > 0.0 && mg <= 1000.0 => mg,
        (Some(_), None, _) => return Err(AppError::invalid("dose_mg", "the dose must be above 0 and at most 1000 mg")),
        (Some(_), Some(_), _) => {
            return Err(AppError::invalid("dose_mg", "give either a weight-based dose or mg, not both"));
        }
        (None, Some(k), Some(w)) => dose_mg(k, w)?,
        (None, Some(_), None) => {
            return Err(AppError::invalid("weight_kg", "today's weight is needed for a weight-based dose"));
        }
        (None, None, _) => return Err(AppError::invalid("dose_mg", "give the dose in mg")),
    };
    let new = NewSession {
        encounter_id: enc.id,
        protocol_id: protocol.map(|p| p.id.clone()),
        checklist: body.checklist.clone(),
        pre_vitals: body.pre_vitals,
        hold_reason: hold,
        override_reason,
        route,
        mg_per_kg: if body.dose_mg.is_some() { None } else { mg_per_kg },
        weight_kg: body.weight_kg,
        dose_mg: dose,
        lot,
        monitoring_minutes: protocol.map(|p| p.monitoring.minutes).unwrap_or(DEFAULT_MONITORING_MINUTES),
        started_at: when("started_at", body.started_at.as_deref())?,
    };
    Ok(state.store.start_dosing_session(&auth.actor(), &new).await?)
}

/// A dosing session with its vitals.
#[utoipa::path(get, path = "/dosing-sessions/{id}", tag = "dosing", params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 404, body = crate::error::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<SessionView>> {
    auth.require(Permission::ReadScreening)?;
    let s = state.store.get_dosing_session(path_id("dosing session", &id)?).await?;
    state
        .store
        .audit_read(&auth.actor(), AuditEntry::new(Action::Read, "dosing_session", s.id).client(s.client_id))
        .await?;
    Ok(axum::Json(s.into()))
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
    #[schema(value_type = Object)]
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
    auth.require(Permission::ChartDosing)?;
    body.vitals.validate().map_err(|e| prefixed(e, "vitals"))?;
    let alerts = state.config.safety.alerts(&body.vitals);
    let at = when("at", body.at.as_deref())?;
    let record =
        state.store.add_vitals(&auth.actor(), path_id("dosing session", &id)?, at, &body.vitals, &alerts).await?;
    Ok((StatusCode::CREATED, axum::Json(VitalsView { record })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DischargeBody {
    #[schema(format = DateTime)]
    pub at: Option<String>,
    /// The responsible adult who takes the client home.
    pub accompanied_by: String,
}

/// Records discharge; refused before the protocol's monitoring time.
#[utoipa::path(post, path = "/dosing-sessions/{id}/discharge", tag = "dosing", params(("id" = String, Path)), request_body = DischargeBody,
    responses((status = 200, body = SessionView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn discharge(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<DischargeBody>,
) -> AppResult<axum::Json<SessionView>> {
    auth.require(Permission::ChartDosing)?;
    let who = super::measures::required_text("accompanied_by", &body.accompanied_by, 200)?;
    let at = when("at", body.at.as_deref())?;
    let s = state.store.discharge(&auth.actor(), path_id("dosing session", &id)?, at, &who).await?;
    Ok(axum::Json(s.into()))
}

/// Signs a discharged session; it never changes afterwards.
#[utoipa::path(post, path = "/dosing-sessions/{id}/sign", tag = "dosing", params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 409, body = crate::error::Problem)))]
pub async fn sign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<SessionView>> {
    auth.require(Permission::ChartDosing)?;
    let s = state.store.sign_dosing_session(&auth.actor(), path_id("dosing session", &id)?).await?;
    Ok(axum::Json(s.into()))
}
