//! Booking: book, move and change the status of a visit (arrived,
//! completed, cancelled, no-show), book the integration session after a
//! dose, and the day's visits at a site.

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kairos_domain::Refusal;
use kairos_domain::encounter::{Encounter, EncounterKind, EncounterStatus, NewEncounter, check_interval};
use kairos_domain::ids::{ClientId, EncounterId, SiteId};
use kairos_domain::roles::{Permission, Role};
use kairos_store::encounters::{EncounterQuery, Placement};
use kairos_store::{Action, AuditEntry, Page, PageRequest};
use std::collections::HashMap;

/// Books a visit.
pub async fn book(state: &AppState, caller: &Auth, new: &NewEncounter) -> AppResult<Encounter> {
    require(caller, Permission::BookEncounters)?;
    check_interval(new.scheduled_start, new.scheduled_end, state.now()).map_err(Refusal::from)?;
    Ok(state.store.create_encounter(&caller.actor(), new).await?)
}

/// Moves a visit to another time, room or clinician.
pub async fn reschedule(state: &AppState, caller: &Auth, id: EncounterId, to: &Placement) -> AppResult<Encounter> {
    require(caller, Permission::BookEncounters)?;
    check_interval(to.scheduled_start, to.scheduled_end, state.now()).map_err(Refusal::from)?;
    Ok(state.store.reschedule_encounter(&caller.actor(), id, to).await?)
}

/// Checks the client in, completes, cancels (saying why) or marks a
/// no-show (optionally saying why). Checking in for a dose needs the
/// course's signed eligible screen (the store checks it in the write).
pub async fn change_status(
    state: &AppState,
    caller: &Auth,
    id: EncounterId,
    to: EncounterStatus,
    reason: Option<&str>,
) -> AppResult<Encounter> {
    require(caller, Permission::BookEncounters)?;
    let reason = kairos_domain::text::optional("reason", reason, 1000)?;
    Ok(state.store.change_encounter_status(&caller.actor(), id, to, reason.as_deref()).await?)
}

/// A visit, for a command about it (its client, course and site); nothing
/// of it is shown, so the lookup is not audited.
pub async fn find(state: &AppState, id: EncounterId) -> AppResult<Encounter> {
    Ok(state.store.get_encounter(id).await?)
}

/// The time zone of a visit's site.
pub async fn time_zone(state: &AppState, id: EncounterId) -> AppResult<TimeZone> {
    state.site_tz(find(state, id).await?.site_id).await
}

/// Books the integration session of a dose for an hour from `start`: the
/// dose's client, course and site, in `room` when given, with `therapist`
/// when given, else the caller when they are a therapist, else the course's
/// therapist.
pub async fn book_integration(
    state: &AppState,
    caller: &Auth,
    dose: &Encounter,
    start: Timestamp,
    therapist: Option<kairos_domain::ids::StaffId>,
    room: Option<kairos_domain::ids::RoomId>,
) -> AppResult<Encounter> {
    let staff = match therapist {
        Some(t) => Some(t),
        None if caller.staff.roles.contains(Role::Therapist) => Some(caller.staff.id),
        None => match dose.course_id {
            Some(c) => state.store.get_course(c).await?.therapist_id,
            None => None,
        },
    };
    let new = NewEncounter {
        client_id: dose.client_id,
        course_id: dose.course_id,
        site_id: dose.site_id,
        room_id: room,
        staff_id: staff,
        kind: EncounterKind::Integration,
        scheduled_start: start,
        scheduled_end: start + jiff::SignedDuration::from_mins(60),
    };
    book(state, caller, &new).await
}

/// Where and with whom the integration sessions of these doses can be
/// booked: per site, its therapy rooms and weekly hours; per course, its
/// therapist; the active therapists with their weekly hours at each site.
pub struct BookingChoices {
    pub rooms: HashMap<SiteId, Vec<kairos_domain::site::Room>>,
    pub site_hours: HashMap<SiteId, Vec<kairos_schedule::WeeklyHours>>,
    /// (site, therapist) → that therapist's hours there (their own, else the site's).
    pub staff_hours: HashMap<(SiteId, kairos_domain::ids::StaffId), Vec<kairos_schedule::WeeklyHours>>,
    pub course_therapist: HashMap<kairos_domain::ids::CourseId, kairos_domain::ids::StaffId>,
    pub therapists: Vec<kairos_domain::staff::Staff>,
}

/// The [`BookingChoices`] for these sites and courses.
pub async fn booking_choices(
    state: &AppState,
    sites: &[SiteId],
    courses: &[kairos_domain::ids::CourseId],
) -> AppResult<BookingChoices> {
    let therapists = super::directory::active_with_role(state, Role::Therapist).await?;
    let parse = |j: Option<&String>, default: &[kairos_schedule::WeeklyHours]| match j {
        None => Ok(default.to_vec()),
        Some(j) => {
            serde_json::from_str(j).map_err(|e| crate::error::AppError::Internal(format!("stored weekly hours: {e}")))
        }
    };
    let mut out = BookingChoices {
        rooms: HashMap::new(),
        site_hours: HashMap::new(),
        staff_hours: HashMap::new(),
        course_therapist: HashMap::new(),
        therapists: Vec::new(),
    };
    let (site_json, staff_json) = state.store.booking_hours(sites).await?;
    for site in sites {
        if out.site_hours.contains_key(site) {
            continue;
        }
        let site_json = site_json
            .get(site)
            .ok_or_else(|| kairos_store::StoreError::NotFound { record: "site", id: site.to_string() })?;
        let hours = parse(site_json.as_ref(), &state.config.scheduling.site_hours)?;
        for t in &therapists {
            out.staff_hours.insert((*site, t.id), parse(staff_json.get(&t.id), &hours)?);
        }
        let rooms = state.store.list_rooms(*site).await?;
        out.rooms.insert(
            *site,
            rooms.into_iter().filter(|r| r.kind == kairos_domain::site::RoomKind::TherapyRoom).collect(),
        );
        out.site_hours.insert(*site, hours);
    }
    for c in courses {
        if let Some(t) = state.store.get_course(*c).await?.therapist_id {
            out.course_therapist.insert(*c, t);
        }
    }
    out.therapists = therapists;
    Ok(out)
}

/// A site's visits in a time range (a clinic day), with the clients' names.
pub struct DayList {
    /// Soonest first; the whole day up to the largest page.
    pub visits: Page<Encounter>,
    pub client_names: HashMap<ClientId, String>,
}

/// The visits at a site from `from` to `to`; each visit listed is audited
/// as a read of its client's record ("day view").
pub async fn day(state: &AppState, caller: &Auth, site: SiteId, from: Timestamp, to: Timestamp) -> AppResult<DayList> {
    require(caller, Permission::ReadClients)?;
    let visits = state
        .store
        .list_encounters(&EncounterQuery {
            site_id: Some(site),
            client_id: None,
            staff_id: None,
            from,
            to,
            page: PageRequest { limit: PageRequest::MAX_LIMIT, offset: 0 },
        })
        .await?;
    let ids: Vec<ClientId> = visits.items.iter().map(|e| e.client_id).collect();
    let client_names = super::clients::names(state, &ids).await?;
    let entries: Vec<AuditEntry> = visits
        .items
        .iter()
        .map(|e| AuditEntry::new(Action::List, "encounter", e.id).client(e.client_id).detail("day view"))
        .collect();
    state.store.audit_reads(&caller.actor(), &entries).await?;
    Ok(DayList { visits, client_names })
}

/// One visit as its page shows it: the visit, its client's name, and the
/// dosing session charted for it. The read is audited.
pub struct Visit {
    pub visit: Encounter,
    pub client_name: String,
    pub session: Option<kairos_domain::ids::DosingSessionId>,
    pub course: Option<kairos_domain::course::Course>,
}

/// A visit's page (see [`Visit`]).
pub async fn visit(state: &AppState, caller: &Auth, id: EncounterId) -> AppResult<Visit> {
    require(caller, Permission::ReadClients)?;
    let visit = state.store.get_encounter(id).await?;
    let (client_name, session, course) = tokio::try_join!(
        super::clients::name(state, visit.client_id),
        async { Ok(state.store.dosing_session_for(id).await?) },
        async {
            match visit.course_id {
                Some(c) => Ok(Some(state.store.get_course(c).await?)),
                None => Ok(None),
            }
        },
    )?;
    state
        .store
        .audit_read(&caller.actor(), AuditEntry::new(Action::Read, "encounter", id).client(visit.client_id))
        .await?;
    Ok(Visit { visit, client_name, session, course })
}

/// The dosing sessions charted for these visits (a page's rows link to
/// them); the visits' reads are the page's own.
pub async fn sessions_of(
    state: &AppState,
    visits: &[EncounterId],
) -> AppResult<HashMap<EncounterId, kairos_domain::ids::DosingSessionId>> {
    Ok(state.store.dosing_sessions_for(visits).await?)
}

/// How many safety alerts are open for each of these dosing sessions (the
/// day view marks the row); counts only, no clinical content.
pub async fn open_alerts_of_sessions(
    state: &AppState,
    sessions: &[kairos_domain::ids::DosingSessionId],
) -> AppResult<HashMap<kairos_domain::ids::DosingSessionId, i64>> {
    Ok(state.store.open_alerts_by_session(sessions).await?)
}

/// Where the doses of these visits stand (the day view's "who is in the
/// chair"): session, start, discharge, latest vital signs. The visits' reads
/// are the page's own.
pub async fn chair_states(
    state: &AppState,
    visits: &[EncounterId],
) -> AppResult<HashMap<EncounterId, kairos_store::dosing::ChairState>> {
    Ok(state.store.chair_states(visits).await?)
}
