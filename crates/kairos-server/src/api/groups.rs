//! Process groups under `/api/v1/groups`: definitions, membership (with
//! capacity, waitlist and closed groups), sessions from the weekly schedule,
//! attendance, the group note and one line per member; and each client's
//! own group lines on their chart (`/clients/{id}/groups`).
//!
//! Read rule (`kairos_domain::groups::view`): a group's facilitators see the
//! roster, the waitlist, attendance and notes; other staff who may read
//! groups see definitions, schedules and head counts, never a member's name.
//! A client's chart shows that client's own memberships and attendance (and,
//! to prescribers and therapists once signed, that client's own line); never
//! another member. Every read that shows a member leaves an audit entry for
//! that member before the response.

use super::path_id;
use crate::error::{AppError, AppResult};
use crate::extract::{Auth, Json};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use kairos_domain::groups::{self, Attendance, GroupView, MembershipStatus};
use kairos_domain::ids::{ClientId, GroupId, GroupSessionId, StaffId};
use kairos_domain::roles::Permission;
use kairos_store::groups::{ClientGroup, Group, GroupSession, Member};
use kairos_store::{Action, AuditEntry};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A group as any reader sees it: no member names.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupOut {
    #[schema(value_type = String)]
    pub id: GroupId,
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = String)]
    pub site_id: kairos_domain::ids::SiteId,
    #[schema(value_type = String)]
    pub room_id: kairos_domain::ids::RoomId,
    pub slots: Vec<groups::WeeklySlot>,
    pub capacity: u16,
    pub enrolment: groups::Enrolment,
    pub eligible_phases: Vec<kairos_domain::course::Phase>,
    #[schema(value_type = Vec<String>)]
    pub facilitator_ids: Vec<StaffId>,
    pub facilitator_names: Vec<String>,
    pub active: u16,
    pub waitlisted: u16,
    pub started: bool,
    /// `outline` or `facilitator`: what this viewer sees.
    #[schema(value_type = String)]
    pub view: GroupView,
}

/// One member on the roster (facilitators only).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberOut {
    #[schema(value_type = String)]
    pub client_id: ClientId,
    pub name: String,
    pub status: MembershipStatus,
    #[schema(value_type = String, format = DateTime)]
    pub queued_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub joined_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub left_at: Option<Timestamp>,
    pub override_reason: Option<String>,
    /// Place on the waitlist (1 = next), for waitlisted members.
    pub waitlist_position: Option<usize>,
}

/// A group with its roster (the roster for facilitators only).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupDetail {
    #[serde(flatten)]
    pub group: GroupOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<MemberOut>>,
}

/// One member's attendance and line in a session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttendanceOut {
    #[schema(value_type = String)]
    pub client_id: ClientId,
    pub name: String,
    #[schema(value_type = String)]
    pub encounter_id: kairos_domain::ids::EncounterId,
    pub attendance: Option<Attendance>,
    pub member_note: Option<String>,
}

/// A session: head counts for everyone, attendance and notes for facilitators.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionOut {
    #[schema(value_type = String)]
    pub id: GroupSessionId,
    #[schema(value_type = String)]
    pub group_id: GroupId,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    pub seated: usize,
    pub recorded: usize,
    pub notes_signed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attendance: Option<Vec<AttendanceOut>>,
    /// Changes of attendance after the notes were signed (facilitators).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amendments: Option<Vec<AmendmentOut>>,
}

/// A change of a member's attendance after the notes were signed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AmendmentOut {
    #[schema(value_type = String)]
    pub client_id: ClientId,
    pub from: Option<Attendance>,
    pub to: Attendance,
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[schema(value_type = Option<String>)]
    pub by: Option<kairos_domain::ids::StaffId>,
}

/// A client's own line of a group session (their chart).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientLineOut {
    #[schema(value_type = String)]
    pub session_id: GroupSessionId,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    pub attendance: Option<Attendance>,
    /// Shown to the group's facilitators, and to prescribers and therapists once signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_note: Option<String>,
}

/// A client's membership with their own sessions only.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientGroupOut {
    #[schema(value_type = String)]
    pub group_id: GroupId,
    pub group_name: String,
    pub status: MembershipStatus,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub joined_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub left_at: Option<Timestamp>,
    pub sessions: Vec<ClientLineOut>,
}

/// What this viewer sees of `g` (403 for none).
pub fn view_of(auth: &Auth, g: &Group) -> AppResult<GroupView> {
    match groups::view(auth.staff.id, &auth.staff.roles, &g.facilitator_ids) {
        GroupView::None => {
            auth.require(Permission::ReadGroups)?;
            Ok(GroupView::None)
        }
        v => Ok(v),
    }
}

fn facilitator_only(auth: &Auth, g: &Group) -> AppResult<()> {
    if view_of(auth, g)? == GroupView::Facilitator {
        Ok(())
    } else {
        Err(AppError::Forbidden("the roster, attendance and notes are for the group's facilitators".into()))
    }
}

pub async fn group_out(state: &AppState, auth: &Auth, g: Group) -> AppResult<GroupOut> {
    let view = view_of(auth, &g)?;
    let names = state.store.staff_names(&g.facilitator_ids).await?;
    Ok(GroupOut {
        facilitator_names: g.facilitator_ids.iter().map(|f| names.get(f).cloned().unwrap_or_default()).collect(),
        id: g.id,
        name: g.name,
        description: g.description,
        site_id: g.site_id,
        room_id: g.room_id,
        slots: g.slots,
        capacity: g.capacity,
        enrolment: g.enrolment,
        eligible_phases: g.eligible_phases,
        facilitator_ids: g.facilitator_ids,
        active: g.active,
        waitlisted: g.waitlisted,
        started: g.started,
        view,
    })
}

fn members_out(members: Vec<Member>) -> Vec<MemberOut> {
    let mut pos = 0;
    members
        .into_iter()
        .map(|m| {
            let waitlist_position = (m.status == MembershipStatus::Waitlisted).then(|| {
                pos += 1;
                pos
            });
            MemberOut {
                client_id: m.client_id,
                name: m.name,
                status: m.status,
                queued_at: m.queued_at,
                joined_at: m.joined_at,
                left_at: m.left_at,
                override_reason: m.override_reason,
                waitlist_position,
            }
        })
        .collect()
}

/// A group with the roster if the viewer facilitates it (each member shown
/// audited).
pub async fn group_detail(state: &AppState, auth: &Auth, id: GroupId) -> AppResult<GroupDetail> {
    let g = state.store.get_group(id).await?;
    let view = view_of(auth, &g)?;
    let members = if view == GroupView::Facilitator {
        let roster = state.store.group_roster(id).await?;
        let entries: Vec<AuditEntry> = roster
            .iter()
            .map(|m| AuditEntry::new(Action::Read, "group_membership", id).client(m.client_id).detail("roster"))
            .collect();
        state.store.audit_reads(&auth.actor(), &entries).await?;
        Some(members_out(roster))
    } else {
        state.store.audit_read(&auth.actor(), AuditEntry::new(Action::Read, "group", id).detail("outline")).await?;
        None
    };
    Ok(GroupDetail { group: group_out(state, auth, g).await?, members })
}

/// A session as this viewer may see it; facilitators' reads audited per member.
pub async fn session_out(state: &AppState, auth: &Auth, g: &Group, s: GroupSession) -> AppResult<SessionOut> {
    let full = view_of(auth, g)? == GroupView::Facilitator;
    if full {
        let entries: Vec<AuditEntry> = s
            .attendance
            .iter()
            .map(|a| AuditEntry::new(Action::Read, "group_attendance", s.id).client(a.client_id).detail("session"))
            .collect();
        state.store.audit_reads(&auth.actor(), &entries).await?;
    }
    Ok(SessionOut {
        id: s.id,
        group_id: s.group_id,
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        seated: s.attendance.len(),
        recorded: s.attendance.iter().filter(|a| a.attendance.is_some()).count(),
        notes_signed: s.notes_signed_at.is_some(),
        group_note: if full { s.group_note } else { None },
        amendments: full.then(|| {
            s.amendments
                .iter()
                .map(|a| AmendmentOut {
                    client_id: a.client_id,
                    from: a.from,
                    to: a.to,
                    reason: a.reason.clone(),
                    at: a.at,
                    by: a.by,
                })
                .collect()
        }),
        attendance: full.then(|| {
            s.attendance
                .into_iter()
                .map(|a| AttendanceOut {
                    client_id: a.client_id,
                    name: a.name,
                    encounter_id: a.encounter_id,
                    attendance: a.attendance,
                    member_note: a.member_note,
                })
                .collect()
        }),
    })
}

/// A client's own group lines, as this viewer may see them (audited).
pub async fn client_groups(state: &AppState, auth: &Auth, client: ClientId) -> AppResult<Vec<ClientGroupOut>> {
    auth.require(Permission::ReadClients)?;
    state.store.get_client(client).await?;
    let gs: Vec<ClientGroup> = state.store.client_groups(client).await?;
    state
        .store
        .audit_read(
            &auth.actor(),
            AuditEntry::new(Action::List, "group_membership", client)
                .client(client)
                .detail(format!("{} groups shown on the chart", gs.len())),
        )
        .await?;
    Ok(gs
        .into_iter()
        .map(|g| {
            let v = groups::view(auth.staff.id, &auth.staff.roles, &g.facilitator_ids);
            ClientGroupOut {
                group_id: g.group_id,
                group_name: g.group_name,
                status: g.status,
                joined_at: g.joined_at,
                left_at: g.left_at,
                sessions: g
                    .sessions
                    .into_iter()
                    .map(|l| ClientLineOut {
                        session_id: l.session_id,
                        starts_at: l.starts_at,
                        attendance: l.attendance,
                        member_note: if groups::member_note_visible(v, &auth.staff.roles, l.signed) {
                            l.member_note
                        } else {
                            None
                        },
                    })
                    .collect(),
            }
        })
        .collect())
}

/// Process groups: definitions and head counts (no member names).
#[utoipa::path(get, path = "/groups", tag = "groups",
    responses((status = 200, body = Vec<GroupOut>), (status = 403, body = crate::error::Problem)))]
pub async fn list_groups(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<GroupOut>>> {
    Ok(axum::Json(crate::usecase::groups::list(&state, &auth).await?))
}

/// A new group.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    #[schema(value_type = kairos_domain::text::Text120)]
    pub name: String,
    #[schema(value_type = Option<kairos_domain::text::OptionalText1000>)]
    pub description: Option<String>,
    #[schema(format = Uuid)]
    pub site_id: String,
    /// A group room at the site.
    #[schema(format = Uuid)]
    pub room_id: String,
    /// Therapists; the lead first.
    #[schema(value_type = Vec<kairos_domain::ids::StaffId>)]
    pub facilitator_ids: Vec<String>,
    pub slots: Vec<groups::WeeklySlot>,
    #[schema(minimum = 2, maximum = 40)]
    pub capacity: u16,
    pub enrolment: groups::Enrolment,
    pub eligible_phases: Vec<kairos_domain::course::Phase>,
}

/// Creates a process group (therapists, coordinators).
#[utoipa::path(post, path = "/groups", tag = "groups", request_body = GroupInput,
    responses((status = 201, body = GroupOut), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_group(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<GroupInput>,
) -> AppResult<(StatusCode, axum::Json<GroupOut>)> {
    let g = crate::usecase::groups::create(&state, &auth, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(group_out(&state, &auth, g).await?)))
}

/// A group; with its roster and waitlist for its facilitators (audited).
#[utoipa::path(get, path = "/groups/{id}", tag = "groups", params(("id" = String, Path)),
    responses((status = 200, body = GroupDetail), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn get_group(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<GroupDetail>> {
    Ok(axum::Json(group_detail(&state, &auth, path_id("group", &id)?).await?))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinInput {
    #[schema(format = Uuid)]
    pub client_id: String,
    /// A facilitator's reason for admitting to a closed group that has started
    /// (or for admitting a waitlisted client).
    #[schema(value_type = Option<kairos_domain::text::OptionalText500>)]
    pub override_reason: Option<String>,
}

/// The caller may change the membership (ManageGroups, or a facilitator).
pub(crate) fn may_manage(auth: &Auth, g: &Group) -> AppResult<bool> {
    let facilitator = view_of(auth, g)? == GroupView::Facilitator;
    if !facilitator {
        auth.require(Permission::ManageGroups)?;
    }
    Ok(facilitator)
}

/// Adds a client: active when a seat is free, otherwise waitlisted. The
/// response names only this client.
#[utoipa::path(post, path = "/groups/{id}/members", tag = "groups", params(("id" = String, Path)), request_body = JoinInput,
    responses((status = 201, body = MemberOut), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn add_member(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<JoinInput>,
) -> AppResult<(StatusCode, axum::Json<MemberOut>)> {
    let m = crate::usecase::groups::join(&state, &auth, path_id("group", &id)?, &body).await?;
    let mut out = members_out(vec![m]);
    Ok((StatusCode::CREATED, axum::Json(out.remove(0))))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeaveOut {
    pub status: MembershipStatus,
    /// How many waitlisted clients took the freed seats.
    pub promoted: usize,
}

/// Removes a member or takes a client off the waitlist; freed seats go to
/// the waitlist (not in a closed group that has started).
#[utoipa::path(delete, path = "/groups/{id}/members/{client_id}", tag = "groups",
    params(("id" = String, Path), ("client_id" = String, Path)),
    responses((status = 200, body = LeaveOut), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn remove_member(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, client)): Path<(String, String)>,
) -> AppResult<axum::Json<LeaveOut>> {
    let promoted =
        crate::usecase::groups::leave(&state, &auth, path_id("group", &id)?, path_id("client", &client)?).await?;
    Ok(axum::Json(LeaveOut { status: MembershipStatus::Left, promoted }))
}

/// Sessions to schedule: one date, or every slot for some weeks.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionsInput {
    /// A local date on which the group meets.
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<Date>,
    /// With `weeks`: the first local date.
    #[schema(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    #[schema(minimum = 1, maximum = 26)]
    pub weeks: Option<u16>,
}

/// Schedules sessions from the weekly slots (one date, or N weeks), booking
/// each active member's own group encounter; existing sessions are kept.
#[utoipa::path(post, path = "/groups/{id}/sessions", tag = "groups", params(("id" = String, Path)), request_body = SessionsInput,
    responses((status = 201, body = Vec<SessionOut>), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_sessions(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<SessionsInput>,
) -> AppResult<(StatusCode, axum::Json<Vec<SessionOut>>)> {
    let id = path_id("group", &id)?;
    let ids = crate::usecase::groups::schedule_sessions(&state, &auth, id, &body).await?;
    let g = state.store.get_group(id).await?;
    let mut out = Vec::new();
    for sid in ids {
        let s = state.store.get_group_session(sid).await?;
        out.push(session_out(&state, &auth, &g, s).await?);
    }
    Ok((StatusCode::CREATED, axum::Json(out)))
}

/// The group's sessions: head counts, and attendance and notes for facilitators.
#[utoipa::path(get, path = "/groups/{id}/sessions", tag = "groups", params(("id" = String, Path)),
    responses((status = 200, body = Vec<SessionOut>), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<SessionOut>>> {
    let id = path_id("group", &id)?;
    let g = state.store.get_group(id).await?;
    view_of(&auth, &g)?;
    let mut out = Vec::new();
    for s in state.store.list_group_sessions(id).await? {
        out.push(session_out(&state, &auth, &g, s).await?);
    }
    Ok(axum::Json(out))
}

/// A session of `group` for its facilitators.
pub async fn facilitator_session(
    state: &AppState,
    auth: &Auth,
    group: GroupId,
    sid: GroupSessionId,
) -> AppResult<(Group, GroupSession)> {
    let g = state.store.get_group(group).await?;
    facilitator_only(auth, &g)?;
    let s = state.store.get_group_session(sid).await?;
    if s.group_id != group {
        return Err(AppError::NotFound(format!("no group session with id {sid}")));
    }
    Ok((g, s))
}

/// One session with attendance and notes (facilitators; audited per member).
#[utoipa::path(get, path = "/groups/{id}/sessions/{sid}", tag = "groups", params(("id" = String, Path), ("sid" = String, Path)),
    responses((status = 200, body = SessionOut), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn get_session(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, sid)): Path<(String, String)>,
) -> AppResult<axum::Json<SessionOut>> {
    let (g, s) = facilitator_session(&state, &auth, path_id("group", &id)?, path_id("group session", &sid)?).await?;
    Ok(axum::Json(session_out(&state, &auth, &g, s).await?))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    pub client_id: String,
    pub attendance: Attendance,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendanceInput {
    pub marks: Vec<Mark>,
    /// Why: required to change a mark once the session's notes are signed
    /// (the change is kept as an amendment).
    #[serde(default)]
    #[schema(value_type = Option<kairos_domain::text::OptionalText1000>)]
    pub reason: Option<String>,
}

/// Records attendance (present, late, absent, excused); each member's group
/// encounter follows. Facilitators only.
#[utoipa::path(put, path = "/groups/{id}/sessions/{sid}/attendance", tag = "groups",
    params(("id" = String, Path), ("sid" = String, Path)), request_body = AttendanceInput,
    responses((status = 200, body = SessionOut), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn record_attendance(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, sid)): Path<(String, String)>,
    Json(body): Json<AttendanceInput>,
) -> AppResult<axum::Json<SessionOut>> {
    let (id, sid) = (path_id("group", &id)?, path_id("group session", &sid)?);
    crate::usecase::groups::record_attendance(&state, &auth, id, sid, &body).await?;
    let (g, s) = facilitator_session(&state, &auth, id, sid).await?;
    Ok(axum::Json(session_out(&state, &auth, &g, s).await?))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberNoteInput {
    pub client_id: String,
    /// One short line about this member only (it lands on their chart).
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotesInput {
    /// The group note (facilitators only; may name members).
    pub group_note: Option<String>,
    #[serde(default)]
    pub members: Vec<MemberNoteInput>,
    /// Sign: the notes never change afterwards.
    #[serde(default)]
    pub sign: bool,
}

/// Saves (and optionally signs) the group note and each member's line.
/// Facilitators only; signed notes never change (409).
#[utoipa::path(put, path = "/groups/{id}/sessions/{sid}/notes", tag = "groups",
    params(("id" = String, Path), ("sid" = String, Path)), request_body = NotesInput,
    responses((status = 200, body = SessionOut), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn save_notes(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, sid)): Path<(String, String)>,
    Json(body): Json<NotesInput>,
) -> AppResult<axum::Json<SessionOut>> {
    let (id, sid) = (path_id("group", &id)?, path_id("group session", &sid)?);
    crate::usecase::groups::save_notes(&state, &auth, id, sid, &body).await?;
    let (g, s) = facilitator_session(&state, &auth, id, sid).await?;
    Ok(axum::Json(session_out(&state, &auth, &g, s).await?))
}

/// A client's own group memberships and attendance (never another member);
/// their own line to the group's facilitators, and to prescribers and
/// therapists once signed.
#[utoipa::path(get, path = "/clients/{id}/groups", tag = "groups", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ClientGroupOut>), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn client_group_lines(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<ClientGroupOut>>> {
    Ok(axum::Json(client_groups(&state, &auth, path_id("client", &id)?).await?))
}
