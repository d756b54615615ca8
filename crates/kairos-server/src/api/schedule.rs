//! The plasticity-window scheduler in the clinic: build a problem from the
//! record (a site's chairs and rooms, its monitors and therapists, the
//! courses waiting for their dose series, what is already booked), solve it
//! into a proposal a coordinator reviews, apply it (book the encounters) or
//! discard it, and repair an applied schedule after a change, moving as few
//! booked appointments as possible.

use super::path_id;
use crate::error::{AppError, AppResult};
use crate::extract::{Auth, Json};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use kairos_domain::encounter::EncounterKind;
use kairos_domain::ids::{ClientId, ProposalId, RoomId, SiteId, StaffId};
use kairos_domain::protocols::{Anchor, SessionKind};
use kairos_domain::roles::Role;
use kairos_domain::site::RoomKind;
use kairos_schedule::{Change, Plan, Problem, WeeklyHours};
use kairos_store::proposals::{HoursOf, Proposal};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// The clinic's scheduling defaults (`scheduling/defaults.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulingDefaults {
    pub site_hours: Vec<WeeklyHours>,
    pub monitor_capacity: u32,
    pub session_minutes: u32,
    pub time_limit_seconds: f64,
    pub source: String,
    pub confirmed: bool,
}

/// The shipped defaults.
pub const SHIPPED_DEFAULTS: &str = include_str!("../../../../scheduling/defaults.toml");

impl SchedulingDefaults {
    pub fn from_toml(text: &str) -> Result<SchedulingDefaults, String> {
        let d: SchedulingDefaults = toml::from_str(text).map_err(|e| format!("scheduling defaults: {e}"))?;
        if d.site_hours.is_empty() {
            return Err("scheduling defaults: site_hours: give at least one period".into());
        }
        if d.monitor_capacity == 0
            || d.session_minutes == 0
            || !(d.time_limit_seconds.is_finite() && d.time_limit_seconds > 0.0)
        {
            return Err(
                "scheduling defaults: monitor_capacity, session_minutes and time_limit_seconds must be above 0".into(),
            );
        }
        Ok(d)
    }
}

pub(crate) fn session_encounter_kind(kind: &str) -> EncounterKind {
    match kind {
        "preparation" => EncounterKind::Preparation,
        "integration" => EncounterKind::Integration,
        "group" => EncounterKind::Group,
        _ => EncounterKind::IndividualTherapy,
    }
}

fn hours_of(json: Option<&String>, default: &[WeeklyHours]) -> AppResult<Vec<WeeklyHours>> {
    match json {
        None => Ok(default.to_vec()),
        Some(j) => serde_json::from_str(j).map_err(|e| AppError::Internal(format!("stored weekly hours: {e}"))),
    }
}

/// Builds the scheduler's problem for a site over `days` days from `start`:
/// every course waiting for its dose series (eligible, its protocol in the
/// library, nothing booked ahead), around what is already booked.
pub async fn build_problem(state: &AppState, site_id: SiteId, start: Date, days: u32) -> AppResult<Problem> {
    let defaults = &state.config.scheduling;
    let site = state.store.get_site(site_id).await?;
    let tz = site.time_zone.tz();
    let local = |t: Timestamp| t.to_zoned(tz.clone()).datetime();
    let from = start.to_zoned(tz.clone()).map_err(|e| AppError::invalid("start", e.to_string()))?.timestamp();
    let to = from + jiff::SignedDuration::from_hours(24 * i64::from(days) + 24);
    let (site_hours, staff_hours, client_hours) = state.store.weekly_hours(site_id).await?;
    let site_hours = hours_of(site_hours.as_ref(), &defaults.site_hours)?;
    let busy = state.store.encounters_overlapping(site_id, from, to).await?;
    let period = |e: &kairos_domain::encounter::Encounter| kairos_schedule::Period {
        from: local(e.scheduled_start),
        to: local(e.scheduled_end),
    };
    let rooms = state.store.list_rooms(site_id).await?;
    let resource = |id: RoomId| kairos_schedule::Resource {
        id: id.to_string(),
        unavailable: busy.iter().filter(|e| e.room_id == Some(id)).map(period).collect(),
    };
    let chairs: Vec<_> = rooms.iter().filter(|r| r.kind == RoomKind::InfusionChair).map(|r| resource(r.id)).collect();
    let therapy_rooms: Vec<_> =
        rooms.iter().filter(|r| r.kind == RoomKind::TherapyRoom).map(|r| resource(r.id)).collect();
    let mut staff = Vec::new();
    let mut offset = 0;
    loop {
        let page = state
            .store
            .list_staff(None, kairos_store::PageRequest { limit: kairos_store::PageRequest::MAX_LIMIT, offset })
            .await?;
        let n = page.items.len() as u32;
        for s in page.items.into_iter().filter(|s| s.active) {
            let mut roles = Vec::new();
            if s.roles.contains(Role::Nurse) || s.roles.contains(Role::Prescriber) {
                roles.push(kairos_schedule::Role::Monitor);
            }
            if s.roles.contains(Role::Therapist) {
                roles.push(kairos_schedule::Role::Therapist);
            }
            if roles.is_empty() {
                continue;
            }
            staff.push(kairos_schedule::Staff {
                id: s.id.to_string(),
                roles,
                hours: hours_of(staff_hours.get(&s.id), &site_hours)?,
                unavailable: busy.iter().filter(|e| e.staff_id == Some(s.id)).map(period).collect(),
                monitor_capacity: defaults.monitor_capacity,
            });
        }
        offset += n;
        if i64::from(offset) >= page.total || n == 0 {
            break;
        }
    }
    let mut courses = Vec::new();
    let mut clients: HashMap<ClientId, kairos_schedule::Client> = HashMap::new();
    for c in state.store.schedulable_courses(state.now()).await? {
        let Some(protocol) = state.config.protocols.get(&c.course.protocol) else { continue };
        let remaining = i64::from(protocol.doses.count) - c.given;
        if remaining <= 0 || c.booked_ahead > 0 {
            continue;
        }
        if state.store.screen_status(c.course.id).await? != kairos_domain::screening::ScreenStatus::SignedEligible {
            continue;
        }
        let min_gap = protocol.doses.min_spacing_hours.unwrap_or(0);
        let earliest = c
            .last_dose
            .map(|t| (t + jiff::SignedDuration::from_hours(min_gap)).to_zoned(tz.clone()).date())
            .map(|d| d.max(start));
        let infusion = protocol.dose.infusion_minutes.unwrap_or(0);
        let remaining = remaining as u32;
        let mut sessions = Vec::new();
        for t in protocol.sessions.iter().filter(|t| !t.kind.is_home_exercise() && t.kind != SessionKind::Group) {
            let after: Vec<u32> = match t.anchor {
                Anchor::BeforeFirstDose if c.given == 0 => vec![1],
                Anchor::BeforeFirstDose => vec![],
                Anchor::AfterDose { dose } => {
                    let k = i64::from(dose) - c.given;
                    if k >= 1 { vec![k as u32] } else { vec![] }
                }
                Anchor::AfterEachDose => (1..=remaining).collect(),
                Anchor::BetweenDoses => (1..remaining).collect(),
            };
            for k in after {
                for j in 0..t.windows_per_anchor().max(1) {
                    let shift = t.every_hours.unwrap_or(0) * i64::from(j);
                    let h = |x: i64| i32::try_from(x + shift).unwrap_or(i32::MAX);
                    sessions.push(kairos_schedule::SessionRequest {
                        id: format!("{}-{}", t.kind.as_str(), sessions.len() + 1),
                        kind: t.kind.as_str().to_string(),
                        after_dose: k,
                        anchor: kairos_schedule::Anchor::DoseStart,
                        duration_minutes: t.minutes.unwrap_or(defaults.session_minutes),
                        window: kairos_schedule::Window {
                            open_hours: h(t.window.opens_hours),
                            preferred_from_hours: h(t.window.preferred_from_hours),
                            preferred_to_hours: h(t.window.preferred_to_hours),
                            close_hours: h(t.window.closes_hours),
                        },
                        non_dosing_day: t.non_dosing_days_only,
                        needs_room: true,
                    });
                }
            }
        }
        courses.push(kairos_schedule::Course {
            id: c.course.id.to_string(),
            client: c.course.client_id.to_string(),
            earliest,
            latest: None,
            doses: kairos_schedule::DoseSeries {
                count: remaining,
                infusion_minutes: infusion,
                monitoring_minutes: protocol.monitoring.minutes.saturating_sub(infusion),
                min_gap_hours: u32::try_from(min_gap).unwrap_or(0),
                max_gap_hours: protocol.doses.max_spacing_hours.and_then(|h| u32::try_from(h).ok()),
                max_span_days: None,
            },
            sessions,
        });
        let client = c.course.client_id;
        clients.entry(client).or_insert(kairos_schedule::Client {
            id: client.to_string(),
            availability: hours_of(client_hours.get(&client), &site_hours)?,
            unavailable: busy.iter().filter(|e| e.client_id == client).map(period).collect(),
            therapist: c.course.therapist_id.map(|t| t.to_string()),
        });
    }
    let mut clients: Vec<_> = clients.into_values().collect();
    clients.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Problem {
        time_zone: site.time_zone.as_str().to_string(),
        horizon: kairos_schedule::Horizon { start, days },
        slot_minutes: 15,
        site_hours,
        closures: vec![],
        chairs,
        rooms: therapy_rooms,
        staff,
        clients,
        courses,
        groups: vec![],
        booked: vec![],
    })
}

pub(crate) fn options(state: &AppState) -> kairos_schedule::Options {
    kairos_schedule::Options {
        time_limit: std::time::Duration::from_secs_f64(state.config.scheduling.time_limit_seconds),
        ..kairos_schedule::Options::default()
    }
}

pub(crate) fn sched_err(e: kairos_schedule::Error) -> AppError {
    AppError::invalid("problem", e.to_string())
}

/// A proposal as shown: the plan, with names.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProposalView {
    pub id: ProposalId,
    pub site_id: SiteId,
    pub parent_id: Option<ProposalId>,
    #[schema(format = Date)]
    pub start: String,
    pub days: i64,
    /// proposed, applied, discarded or superseded.
    pub status: String,
    /// The scheduler's plan (`kairos-schedule` format): assignments,
    /// unscheduled events with their reason, moved bookings, summary.
    pub plan: Plan,
    /// For a repair: the change it answers.
    pub change: Option<Change>,
    /// Names for the ids in the plan (clients, staff, rooms).
    pub names: HashMap<String, String>,
}

pub async fn view(state: &AppState, actor: &kairos_store::Actor, p: &Proposal) -> AppResult<ProposalView> {
    let plan = Plan::from_json(&p.plan).map_err(|e| AppError::Internal(format!("stored plan: {e}")))?;
    let change =
        p.change.as_deref().map(serde_json::from_str).transpose().map_err(|e| AppError::Internal(e.to_string()))?;
    let mut names = HashMap::new();
    let client_ids: Vec<ClientId> = {
        let mut v: Vec<ClientId> = plan
            .assignments
            .iter()
            .map(|a| a.client.as_str())
            .chain(plan.unscheduled.iter().map(|u| u.client.as_str()))
            .filter_map(|c| c.parse().ok())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    for c in state.store.clients_by_ids(&client_ids).await? {
        names.insert(c.id.to_string(), c.details.display_name());
    }
    let reads: Vec<kairos_store::AuditEntry> = client_ids
        .iter()
        .map(|c| {
            kairos_store::AuditEntry::new(kairos_store::Action::List, "schedule_proposal", p.id)
                .client(*c)
                .detail("named in a schedule proposal")
        })
        .collect();
    if !reads.is_empty() {
        state.store.audit_reads(actor, &reads).await?;
    }
    let staff_ids: Vec<StaffId> = {
        let mut v: Vec<StaffId> = plan.assignments.iter().filter_map(|a| a.staff.parse().ok()).collect();
        v.sort();
        v.dedup();
        v
    };
    for (id, n) in state.store.staff_names(&staff_ids).await? {
        names.insert(id.to_string(), n);
    }
    for r in state.store.list_rooms(p.site_id).await? {
        names.insert(r.id.to_string(), r.name.clone());
    }
    Ok(ProposalView {
        id: p.id,
        site_id: p.site_id,
        parent_id: p.parent_id,
        start: p.start_date.to_string(),
        days: p.days,
        status: p.status.clone(),
        plan,
        change,
        names,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeBody {
    #[schema(format = Uuid)]
    pub site_id: String,
    /// First day, clinic-local.
    #[schema(format = Date)]
    pub start: String,
    /// 1 to 56 days.
    #[schema(minimum = 1, maximum = 56)]
    pub days: u32,
}

/// Proposes a schedule for a site: every eligible course waiting for its
/// dose series, around what is already booked. Nothing is booked until the
/// proposal is applied.
#[utoipa::path(post, path = "/schedule/proposals", tag = "schedule", request_body = ProposeBody,
    responses((status = 201, body = ProposalView), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<ProposeBody>,
) -> AppResult<(StatusCode, axum::Json<ProposalView>)> {
    let p = crate::usecase::schedule::propose(&state, &auth, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&state, &auth.actor(), &p).await?)))
}

/// A proposal.
#[utoipa::path(get, path = "/schedule/proposals/{id}", tag = "schedule", params(("id" = String, Path)),
    responses((status = 200, body = ProposalView), (status = 404, body = crate::error::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<ProposalView>> {
    let (_, v) = crate::usecase::schedule::proposal(&state, &auth, path_id("schedule proposal", &id)?).await?;
    Ok(axum::Json(v))
}

pub(crate) fn ts(field: &str, s: &str) -> AppResult<Timestamp> {
    s.parse::<Timestamp>().map_err(|e| AppError::Internal(format!("{field} `{s}` in a stored plan: {e}")))
}

pub(crate) fn opt_id<T: std::str::FromStr>(s: Option<&String>) -> Option<T> {
    s.and_then(|x| x.parse().ok())
}

/// Applies a proposal: its encounters are booked (a repair moves and
/// cancels the ones it changed). All or nothing: a booking made since the
/// proposal that now collides refuses the whole apply (409).
#[utoipa::path(post, path = "/schedule/proposals/{id}/apply", tag = "schedule", params(("id" = String, Path)),
    responses((status = 200, body = ProposalView), (status = 409, body = crate::error::Problem)))]
pub async fn apply_route(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<ProposalView>> {
    let p = crate::usecase::schedule::apply(&state, &auth, path_id("schedule proposal", &id)?).await?;
    Ok(axum::Json(view(&state, &auth.actor(), &p).await?))
}

/// Discards a proposal.
#[utoipa::path(post, path = "/schedule/proposals/{id}/discard", tag = "schedule", params(("id" = String, Path)),
    responses((status = 204), (status = 409, body = crate::error::Problem)))]
pub async fn discard(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> AppResult<StatusCode> {
    crate::usecase::schedule::discard(&state, &auth, path_id("schedule proposal", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairBody {
    /// `{"type": "cancel", "event": "COURSE/dose-2"}`, `{"type":
    /// "staff_unavailable", "staff": ID, "from": "2026-12-01T08:00", "to": ...}`,
    /// `chair_unavailable`, `room_unavailable`, `client_unavailable`, `withdraw_course`.
    pub change: Change,
}

/// Repairs an applied schedule after a change (a cancellation, a staff
/// member away, a chair out of service): a new proposal that moves as few
/// booked appointments as possible, listing each move and why.
#[utoipa::path(post, path = "/schedule/proposals/{id}/repair", tag = "schedule", params(("id" = String, Path)), request_body = RepairBody,
    responses((status = 201, body = ProposalView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn repair_route(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<RepairBody>,
) -> AppResult<(StatusCode, axum::Json<ProposalView>)> {
    let p = crate::usecase::schedule::repair(&state, &auth, path_id("schedule proposal", &id)?, &body.change).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&state, &auth.actor(), &p).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursBody {
    /// Weekly periods, e.g. `[{"days": ["mon", "wed"], "from": "13:00", "to": "18:00"}]`;
    /// `null` returns to the clinic default. Required: a body without it
    /// (`{}`) is refused rather than taken as a reset.
    #[schema(value_type = Option<Vec<WeeklyHours>>, required = true)]
    #[serde(default, deserialize_with = "present")]
    pub hours: Option<Option<Vec<WeeklyHours>>>,
}

/// A field that must be present but may be `null`: absent is `None`,
/// `null` is `Some(None)`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

async fn set_hours(state: &AppState, auth: &Auth, of: HoursOf, id: &str, body: &HoursBody) -> AppResult<StatusCode> {
    let Some(hours) = &body.hours else {
        return Err(AppError::invalid("hours", "give the weekly hours, or null to return to the clinic default"));
    };
    crate::usecase::schedule::set_hours(state, auth, of, id, hours.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a site's opening hours for the scheduler.
#[utoipa::path(put, path = "/sites/{id}/hours", tag = "schedule", params(("id" = String, Path)), request_body = HoursBody,
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn site_hours(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<HoursBody>,
) -> AppResult<StatusCode> {
    let id: SiteId = path_id("site", &id)?;
    set_hours(&state, &auth, HoursOf::Site, &id.to_string(), &body).await
}

/// Sets a staff member's working hours for the scheduler.
#[utoipa::path(put, path = "/staff/{id}/hours", tag = "schedule", params(("id" = String, Path)), request_body = HoursBody,
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn staff_hours(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<HoursBody>,
) -> AppResult<StatusCode> {
    let id: StaffId = path_id("staff member", &id)?;
    set_hours(&state, &auth, HoursOf::Staff, &id.to_string(), &body).await
}

/// Sets when a client can come in (e.g. weekday afternoons).
#[utoipa::path(put, path = "/clients/{id}/availability", tag = "schedule", params(("id" = String, Path)), request_body = HoursBody,
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn client_availability(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<HoursBody>,
) -> AppResult<StatusCode> {
    let id: ClientId = path_id("client", &id)?;
    set_hours(&state, &auth, HoursOf::Client, &id.to_string(), &body).await
}
