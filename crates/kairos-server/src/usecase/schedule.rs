//! Schedule proposals: the coordinator proposes a plan for a site, reviews
//! it, applies or discards it, and repairs an applied plan after a change.

use super::require;
use crate::api::schedule::{
    ProposalView, ProposeBody, build_problem, opt_id, options, sched_err, session_encounter_kind, ts, view,
};
use crate::api::{date, field_id};
use crate::error::AppError;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::encounter::{EncounterKind, NewEncounter};
use kairos_domain::ids::ProposalId;
use kairos_domain::ids::{ClientId, CourseId, RoomId, SiteId, StaffId};
use kairos_domain::roles::Permission;
use kairos_schedule::{Change, Plan, Problem};
use kairos_store::encounters::Placement;
use kairos_store::proposals::BookingOp;
use kairos_store::proposals::Proposal;
use std::collections::HashMap;

/// Sets (or, with `None`, clears back to the clinic's) the weekly hours of a
/// site (its administrator), a staff member (an administrator) or a client
/// (whoever books): each period names a day and ends after it starts.
pub async fn set_hours(
    state: &AppState,
    caller: &Auth,
    of: kairos_store::proposals::HoursOf,
    id: &str,
    hours: Option<&[kairos_schedule::WeeklyHours]>,
) -> AppResult<()> {
    use kairos_store::proposals::HoursOf;
    require(
        caller,
        match of {
            HoursOf::Site => Permission::ManageSites,
            HoursOf::Staff => Permission::ManageStaff,
            HoursOf::Client => Permission::BookEncounters,
        },
    )?;
    for (i, h) in hours.iter().copied().flatten().enumerate() {
        if h.days.is_empty() {
            return Err(AppError::invalid(format!("hours[{i}].days"), "name at least one day"));
        }
        if h.from >= h.to {
            return Err(AppError::invalid(format!("hours[{i}].to"), "the end must be after the start"));
        }
    }
    let json = hours.map(serde_json::to_string).transpose().map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(state.store.set_weekly_hours(&caller.actor(), of, id, json.as_deref()).await?)
}

/// A staff member's own weekly hours; none when they work the clinic's.
pub async fn staff_hours(
    state: &AppState,
    caller: &Auth,
    id: StaffId,
) -> AppResult<Option<Vec<kairos_schedule::WeeklyHours>>> {
    require(caller, Permission::ManageStaff)?;
    match state.store.staff_weekly_hours(id).await? {
        None => Ok(None),
        Some(json) => {
            Ok(Some(serde_json::from_str(&json).map_err(|e| AppError::Internal(format!("stored staff hours: {e}")))?))
        }
    }
}

/// The latest proposals, newest first.
pub async fn recent(state: &AppState, caller: &Auth) -> AppResult<Vec<Proposal>> {
    require(caller, Permission::PlanSchedules)?;
    Ok(state.store.proposals(30).await?)
}

/// A proposal with its plan, named for people (the clients it names are
/// audited by `api::schedule::view`).
pub async fn proposal(state: &AppState, caller: &Auth, id: ProposalId) -> AppResult<(Proposal, ProposalView)> {
    require(caller, Permission::PlanSchedules)?;
    let p = state.store.proposal(id).await?;
    let v = view(state, &caller.actor(), &p).await?;
    Ok((p, v))
}

/// Proposes a schedule.
pub async fn propose(state: &AppState, caller: &Auth, body: &ProposeBody) -> AppResult<Proposal> {
    require(caller, Permission::PlanSchedules)?;
    let site: SiteId = field_id("site_id", &body.site_id)?;
    let start = date("start", &body.start)?;
    if !(1..=56).contains(&body.days) {
        return Err(AppError::invalid("days", "plan 1 to 56 days at a time"));
    }
    // The site is a field of the body: one that does not exist is refused
    // by name (422), not a missing page (404).
    state.store.get_site(site).await.map_err(|e| match e {
        kairos_store::StoreError::NotFound { .. } => {
            AppError::invalid("site_id", format!("site_id: no site with id {site}"))
        }
        e => e.into(),
    })?;
    let problem = build_problem(state, site, start, body.days).await?;
    let opts = options(state);
    let p2 = problem.clone();
    let plan = tokio::task::spawn_blocking(move || kairos_schedule::solve(&p2, &opts))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(sched_err)?;
    Ok(state
        .store
        .create_proposal(
            &caller.actor(),
            site,
            None,
            start,
            i64::from(body.days),
            &problem.to_json(),
            &plan.to_json(),
            None,
        )
        .await?)
}

/// Applies a proposal: books its new events, moves and cancels what a
/// repair changed, in one transaction.
pub async fn apply(state: &AppState, caller: &Auth, id: ProposalId) -> AppResult<Proposal> {
    require(caller, Permission::PlanSchedules)?;
    let p = state.store.proposal(id).await?;
    let plan = Plan::from_json(&p.plan).map_err(|e| AppError::Internal(format!("stored plan: {e}")))?;
    let before = match p.parent_id {
        Some(parent) => state.store.proposal_bookings(parent).await?,
        None => HashMap::new(),
    };
    let mut ops = Vec::new();
    for a in &plan.assignments {
        let start = ts("start", &a.start)?;
        let end = ts("end", &a.end)?;
        let room: Option<RoomId> = opt_id(a.chair.as_ref().or(a.room.as_ref()));
        let staff: Option<StaffId> = a.staff.parse().ok();
        match before.get(&a.event) {
            Some(enc) => {
                let current = state.store.get_encounter(*enc).await?;
                let to = Placement { room_id: room, staff_id: staff, scheduled_start: start, scheduled_end: end };
                let same = current.scheduled_start == start
                    && current.scheduled_end == end
                    && current.room_id == room
                    && current.staff_id == staff;
                ops.push(if same {
                    BookingOp::Keep { event: a.event.clone(), encounter: *enc }
                } else {
                    BookingOp::Move { event: a.event.clone(), encounter: *enc, to }
                });
            }
            None => {
                let client: ClientId = a.client.parse().map_err(|_| AppError::Internal("client id in plan".into()))?;
                let course: CourseId = a.course.parse().map_err(|_| AppError::Internal("course id in plan".into()))?;
                let kind = match a.kind {
                    kairos_schedule::EventKind::Dose => EncounterKind::Dosing,
                    kairos_schedule::EventKind::Session => session_encounter_kind(
                        a.event.rsplit('/').next().and_then(|s| s.rsplit_once('-')).map(|(k, _)| k).unwrap_or(""),
                    ),
                };
                ops.push(BookingOp::Create {
                    event: a.event.clone(),
                    encounter: NewEncounter {
                        client_id: client,
                        course_id: Some(course),
                        site_id: p.site_id,
                        room_id: room,
                        staff_id: staff,
                        kind,
                        scheduled_start: start,
                        scheduled_end: end,
                    },
                });
            }
        }
    }
    for (event, enc) in &before {
        if !plan.assignments.iter().any(|a| &a.event == event) {
            ops.push(BookingOp::Cancel { event: event.clone(), encounter: *enc });
        }
    }
    Ok(state.store.apply_proposal(&caller.actor(), id, &ops).await?)
}

/// Discards a proposal that was not applied.
pub async fn discard(state: &AppState, caller: &Auth, id: ProposalId) -> AppResult<()> {
    require(caller, Permission::PlanSchedules)?;
    Ok(state.store.discard_proposal(&caller.actor(), id).await?)
}

/// Proposes a repair of an applied schedule.
pub async fn repair(state: &AppState, caller: &Auth, id: ProposalId, change: &Change) -> AppResult<Proposal> {
    require(caller, Permission::PlanSchedules)?;
    let p = state.store.proposal(id).await?;
    if p.status != "applied" {
        return Err(AppError::Conflict {
            field: "status".into(),
            detail: "only the applied schedule can be repaired".into(),
        });
    }
    let problem = Problem::from_json(&p.problem).map_err(|e| AppError::Internal(format!("stored problem: {e}")))?;
    let plan = Plan::from_json(&p.plan).map_err(|e| AppError::Internal(format!("stored plan: {e}")))?;
    let opts = options(state);
    let (pr, pl, ch) = (problem.clone(), plan.clone(), change.clone());
    let repaired = tokio::task::spawn_blocking(move || kairos_schedule::repair(&pr, &pl, &ch, &opts))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::invalid("change", e.to_string()))?;
    // The repaired plan answers the changed problem: keep that one, so a
    // later repair starts from it.
    let changed = kairos_schedule::apply_change(&problem, &plan, change)
        .map_err(|e| AppError::invalid("change", e.to_string()))?;
    let change_json = serde_json::to_string(change).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(state
        .store
        .create_proposal(
            &caller.actor(),
            p.site_id,
            Some(p.id),
            p.start_date,
            p.days,
            &changed.to_json(),
            &repaired.to_json(),
            Some(&change_json),
        )
        .await?)
}
