//! Process group pages: the list, a group (roster and waitlist for its
//! facilitators, add and remove members, schedule sessions), a session
//! (attendance with large targets for a tablet, the group note and one line
//! per member), and the "Groups" section of a client's chart, which shows
//! only that client's own memberships, attendance and line.

use super::{Nav, UiAuth, api_auth, detail, page_error, render, ui_error};
use crate::api::groups::{self as api, ClientGroupOut, GroupDetail, GroupOut, SessionOut};
use crate::error::AppError;
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
use kairos_domain::groups::{Attendance, GroupView};
use kairos_domain::ids::{ClientId, GroupId, GroupSessionId};
use kairos_domain::roles::Permission;
use serde::Deserialize;
use std::collections::BTreeMap;

type PageResult = Result<Response, Response>;

fn local(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%a %-d %b %Y %H:%M").to_string()
}

/// The group's site's time zone.
async fn tz_of(state: &AppState, site: kairos_domain::ids::SiteId) -> TimeZone {
    state.site_tz(site).await.unwrap_or(TimeZone::UTC)
}

fn schedule_text(g: &GroupOut) -> String {
    g.slots.iter().map(|s| format!("{} {} ({} min)", s.day.label(), s.start, s.minutes)).collect::<Vec<_>>().join(", ")
}

pub struct GroupRow {
    pub id: GroupId,
    pub name: String,
    pub schedule: String,
    pub facilitators: String,
    pub seats: String,
    pub enrolment: String,
    pub mine: bool,
}

fn row_of(g: &GroupOut) -> GroupRow {
    GroupRow {
        id: g.id,
        name: g.name.clone(),
        schedule: schedule_text(g),
        facilitators: g.facilitator_names.join(", "),
        seats: format!("{} of {} ({} waiting)", g.active, g.capacity, g.waitlisted),
        enrolment: g.enrolment.to_string(),
        mine: g.view == GroupView::Facilitator,
    }
}

#[derive(Template)]
#[template(path = "groups.html")]
struct ListPage {
    nav: Option<Nav>,
    groups: Vec<GroupRow>,
    /// For the new-group form (ManageGroups): (room id, "site · room"), (therapist id, name).
    can_create: bool,
    rooms: Vec<(String, String)>,
    therapists: Vec<(String, String)>,
    days: Vec<&'static str>,
    /// (phase, ticked by default).
    phases: Vec<(&'static str, bool)>,
    /// What was typed into the new-group form, kept after a refusal.
    form: GroupCreateForm,
    error: Option<String>,
}

pub async fn list(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    list_page(&state, &auth, None, None).await
}

async fn list_page(
    state: &AppState,
    auth: &UiAuth,
    form: Option<GroupCreateForm>,
    error: Option<String>,
) -> PageResult {
    let a = api_auth(auth);
    let nav = || Some(auth.nav("/groups"));
    let rows = usecase::groups::list(state, &a).await.map_err(|e| ui_error(e, nav()))?.iter().map(row_of).collect();
    let can_create = auth.staff.roles.allow(Permission::ManageGroups);
    let (mut rooms, mut therapists) = (Vec::new(), Vec::new());
    if can_create {
        rooms = usecase::directory::group_rooms(state)
            .await
            .map_err(|e| ui_error(e, nav()))?
            .into_iter()
            .map(|(site, r)| (r.id.to_string(), format!("{} · {}", site.name, r.name)))
            .collect();
        therapists = usecase::directory::active_therapists(state)
            .await
            .map_err(|e| ui_error(e, nav()))?
            .into_iter()
            .map(|s| (s.id.to_string(), s.name))
            .collect();
    }
    Ok(render(&ListPage {
        nav: nav(),
        groups: rows,
        can_create,
        rooms,
        therapists,
        days: kairos_domain::groups::Day::ALL.iter().map(|d| d.as_str()).collect(),
        phases: kairos_domain::course::Phase::ALL
            .iter()
            .map(|p| {
                let ticked = match &form {
                    Some(f) => f.phase.iter().any(|x| x == p.as_str()),
                    None => matches!(p.as_str(), "induction" | "integration" | "maintenance"),
                };
                (p.as_str(), ticked)
            })
            .collect(),
        form: form.clone().unwrap_or_else(|| GroupCreateForm {
            start: "17:30".into(),
            minutes: "90".into(),
            capacity: "8".into(),
            ..GroupCreateForm::default()
        }),
        error,
    }))
}

/// The new-group form as typed. Checkbox lists repeat their name
/// (`facilitator`, `phase`), so the form is read with a parser that keeps
/// every value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GroupCreateForm {
    pub name: String,
    pub description: String,
    pub room_id: String,
    pub facilitator: Vec<String>,
    pub day: String,
    pub start: String,
    pub minutes: String,
    pub capacity: String,
    pub enrolment: String,
    pub phase: Vec<String>,
}

/// Creates a group from the form: its room's site, the facilitators ticked
/// (the first ticked leads), one weekly slot.
pub async fn create(State(state): State<AppState>, auth: UiAuth, body: axum::body::Bytes) -> PageResult {
    let form: GroupCreateForm = match serde_html_form::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => return list_page(&state, &auth, None, Some(format!("The form could not be read: {e}."))).await,
    };
    let site_of_room = match form.room_id.trim().parse() {
        Ok(room) => usecase::directory::site_of_room(&state, room).await.ok().flatten().map(|s| s.to_string()),
        Err(_) => None,
    };
    let input = (|| -> Result<api::GroupInput, Refusal> {
        use super::form::whole;
        Ok(api::GroupInput {
            name: form.name.trim().to_string(),
            description: Some(form.description.trim().to_string()).filter(|d| !d.is_empty()),
            site_id: site_of_room.clone().ok_or_else(|| Refusal::invalid("room_id", "choose the group room"))?,
            room_id: form.room_id.trim().to_string(),
            facilitator_ids: form.facilitator.clone(),
            slots: vec![kairos_domain::groups::WeeklySlot {
                day: kairos_domain::groups::Day::parse("day", form.day.trim())?,
                start: form.start.trim().to_string(),
                minutes: whole("slots[0].minutes", "Length in minutes", &form.minutes)?
                    .ok_or_else(|| Refusal::invalid("slots[0].minutes", "give the length in minutes"))?,
            }],
            capacity: whole("capacity", "Seats", &form.capacity)?
                .ok_or_else(|| Refusal::invalid("capacity", "give the number of seats"))?,
            enrolment: kairos_domain::groups::Enrolment::parse("enrolment", form.enrolment.trim())?,
            eligible_phases: form
                .phase
                .iter()
                .map(|p| kairos_domain::course::Phase::parse("eligible_phases", p))
                .collect::<Result<_, _>>()?,
        })
    })();
    let result = match input {
        Ok(i) => crate::usecase::groups::create(&state, &api_auth(&auth), &i).await.map_err(super::form::Refused::from),
        Err(r) => Err(r.into()),
    };
    match result {
        Ok(g) => Ok(Redirect::to(&format!("/groups/{}", g.id)).into_response()),
        Err(r) => {
            let status = r.status;
            let mut page = list_page(&state, &auth, Some(form), Some(r.message)).await?;
            *page.status_mut() = status;
            Ok(page)
        }
    }
}

pub struct MemberRow {
    pub client_id: ClientId,
    pub name: String,
    pub status: String,
    pub since: String,
    pub position: Option<usize>,
    pub reason: String,
}

pub struct SessionRow {
    pub id: GroupSessionId,
    pub when: String,
    pub seated: usize,
    pub recorded: usize,
    pub signed: bool,
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    nav: Option<Nav>,
    group: GroupRow,
    description: String,
    phases: String,
    facilitator: bool,
    can_manage: bool,
    members: Vec<MemberRow>,
    sessions: Vec<SessionRow>,
    error: Option<String>,
}

fn group_id(auth: &UiAuth, id: &str) -> Result<GroupId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such group.", Some(auth.nav("/groups"))))
}

async fn group_page(state: &AppState, auth: &UiAuth, id: GroupId, error: Option<String>) -> PageResult {
    let a = api_auth(auth);
    let nav = || Some(auth.nav("/groups"));
    let GroupDetail { group, members } = api::group_detail(state, &a, id).await.map_err(|e| ui_error(e, nav()))?;
    let tz = tz_of(state, group.site_id).await;
    let facilitator = group.view == GroupView::Facilitator;
    let sessions = usecase::groups::session_counts(state, id)
        .await
        .map_err(|e| ui_error(e, nav()))?
        .into_iter()
        .map(|s| SessionRow {
            id: s.id,
            when: local(s.starts_at, &tz),
            seated: s.seated,
            recorded: s.recorded,
            signed: s.notes_signed,
        })
        .collect();
    Ok(render(&GroupPage {
        nav: nav(),
        description: group.description.clone().unwrap_or_default(),
        phases: group.eligible_phases.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
        group: row_of(&group),
        facilitator,
        can_manage: facilitator || auth.staff.roles.allow(Permission::ManageGroups),
        members: members
            .unwrap_or_default()
            .into_iter()
            .map(|m| MemberRow {
                client_id: m.client_id,
                name: m.name,
                status: m.status.to_string(),
                since: local(m.left_at.or(m.joined_at).unwrap_or(m.queued_at), &tz),
                position: m.waitlist_position,
                reason: m.override_reason.unwrap_or_default(),
            })
            .collect(),
        sessions,
        error,
    }))
}

pub async fn show(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let id = group_id(&auth, &id)?;
    group_page(&state, &auth, id, None).await
}

/// The group page's forms as typed: `action` picks add, remove or schedule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GroupForm {
    pub action: String,
    pub client_id: String,
    pub override_reason: String,
    /// One session on this date, or weekly sessions `from` this date for `weeks`.
    pub date: String,
    pub from: String,
    pub weeks: String,
}

fn date_of(field: &str, v: &str) -> Result<Option<jiff::civil::Date>, AppError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| AppError::invalid(field, format!("“{v}” is not a date like 2026-11-03")))
}

/// Adds a member, removes one, or schedules sessions.
pub async fn post(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<GroupForm>,
) -> PageResult {
    let id = group_id(&auth, &id)?;
    let a = api_auth(&auth);
    let opt = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let result = match form.action.trim() {
        "add" => crate::usecase::groups::join(
            &state,
            &a,
            id,
            &api::JoinInput {
                client_id: form.client_id.trim().to_string(),
                override_reason: opt(&form.override_reason),
            },
        )
        .await
        .map(|_| ()),
        "remove" => match form.client_id.trim().parse::<ClientId>() {
            Ok(c) => crate::usecase::groups::leave(&state, &a, id, c).await.map(|_| ()),
            Err(_) => Err(AppError::invalid("client_id", "choose a member")),
        },
        "schedule" => {
            let body = (|| {
                let from = date_of("from", &form.from)?;
                let weeks = match (from, super::form::whole::<u16>("weeks", "Weeks", &form.weeks)) {
                    (None, _) => None,
                    (Some(_), Ok(w)) => Some(w.unwrap_or(0)),
                    (Some(_), Err(r)) => return Err(AppError::from(r)),
                };
                Ok::<_, AppError>(api::SessionsInput { date: date_of("date", &form.date)?, from, weeks })
            })();
            match body {
                Ok(b) => crate::usecase::groups::schedule_sessions(&state, &a, id, &b).await.map(|_| ()),
                Err(e) => Err(e),
            }
        }
        _ => Err(AppError::invalid("action", "unknown action")),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/groups/{id}")).into_response()),
        Err(AppError::Forbidden(m)) => Err(page_error(StatusCode::FORBIDDEN, &m, Some(auth.nav("/groups")))),
        Err(e) => group_page(&state, &auth, id, Some(detail(e))).await,
    }
}

pub struct AttendanceRowView {
    pub client_id: ClientId,
    pub name: String,
    pub current: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "group_session.html")]
struct SessionPage {
    nav: Option<Nav>,
    group_id: GroupId,
    group_name: String,
    session_id: GroupSessionId,
    when: String,
    signed: bool,
    group_note: String,
    rows: Vec<AttendanceRowView>,
    choices: Vec<(&'static str, &'static str)>,
    /// Attendance changed after signing: (who, from, to, why, when).
    amendments: Vec<(String, String, String, String, String)>,
    error: Option<String>,
}

async fn session_page(
    state: &AppState,
    auth: &UiAuth,
    gid: GroupId,
    sid: GroupSessionId,
    error: Option<String>,
) -> PageResult {
    let a = api_auth(auth);
    let nav = || Some(auth.nav("/groups"));
    let (g, s) = api::facilitator_session(state, &a, gid, sid).await.map_err(|e| ui_error(e, nav()))?;
    let tz = tz_of(state, g.site_id).await;
    let name = g.name.clone();
    let s: SessionOut = api::session_out(state, &a, &g, s).await.map_err(|e| ui_error(e, nav()))?;
    let names: std::collections::HashMap<ClientId, String> =
        s.attendance.iter().flatten().map(|r| (r.client_id, r.name.clone())).collect();
    let label = |x: Option<Attendance>| x.map(|x| x.label().to_string()).unwrap_or_else(|| "not recorded".into());
    let amendments = s
        .amendments
        .iter()
        .flatten()
        .map(|m| {
            (
                names.get(&m.client_id).cloned().unwrap_or_default(),
                label(m.from),
                label(Some(m.to)),
                m.reason.clone(),
                local(m.at, &tz),
            )
        })
        .collect();
    Ok(render(&SessionPage {
        amendments,
        nav: nav(),
        group_id: gid,
        group_name: name,
        session_id: sid,
        when: local(s.starts_at, &tz),
        signed: s.notes_signed,
        group_note: s.group_note.unwrap_or_default(),
        rows: s
            .attendance
            .unwrap_or_default()
            .into_iter()
            .map(|r| AttendanceRowView {
                client_id: r.client_id,
                name: r.name,
                current: r.attendance.map(|x| x.as_str().to_string()).unwrap_or_default(),
                note: r.member_note.unwrap_or_default(),
            })
            .collect(),
        choices: Attendance::ALL.iter().map(|x| (x.as_str(), x.label())).collect(),
        error,
    }))
}

fn ids(auth: &UiAuth, id: &str, sid: &str) -> Result<(GroupId, GroupSessionId), Response> {
    let gid = group_id(auth, id)?;
    let sid =
        sid.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such session.", Some(auth.nav("/groups"))))?;
    Ok((gid, sid))
}

pub async fn show_session(
    State(state): State<AppState>,
    auth: UiAuth,
    Path((id, sid)): Path<(String, String)>,
) -> PageResult {
    let (gid, sid) = ids(&auth, &id, &sid)?;
    session_page(&state, &auth, gid, sid, None).await
}

/// A group session's form as typed: each member's attendance
/// (`att-{client}`) and note (`note-{client}`), the group note, and
/// `action=sign` to sign the notes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GroupSessionForm {
    pub action: String,
    pub group_note: Option<String>,
    /// Why attendance changes after the notes were signed.
    pub reason: Option<String>,
    #[serde(flatten)]
    pub members: BTreeMap<String, String>,
}

/// Saves attendance and, unless signed, the notes; `action=sign` signs them.
pub async fn save_session(
    State(state): State<AppState>,
    auth: UiAuth,
    Path((id, sid)): Path<(String, String)>,
    Form(form): Form<GroupSessionForm>,
) -> PageResult {
    let (gid, sid) = ids(&auth, &id, &sid)?;
    let a = api_auth(&auth);
    let s = match api::facilitator_session(&state, &a, gid, sid).await {
        Ok((_, s)) => s,
        Err(AppError::Forbidden(m)) => return Err(page_error(StatusCode::FORBIDDEN, &m, Some(auth.nav("/groups")))),
        Err(e) => return Err(ui_error(e, Some(auth.nav("/groups")))),
    };
    let mut marks = Vec::new();
    for r in &s.attendance {
        let field = format!("att-{}", r.client_id);
        if let Some(v) = form.members.get(&field).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            match Attendance::parse(&field, v) {
                Ok(att) => marks.push(api::Mark { client_id: r.client_id.to_string(), attendance: att }),
                Err(_) => {
                    let m = format!("“{v}” is not an attendance mark: choose one from the list.");
                    return session_page(&state, &auth, gid, sid, Some(m)).await;
                }
            }
        }
    }
    if !marks.is_empty()
        && let Err(e) = crate::usecase::groups::record_attendance(
            &state,
            &a,
            gid,
            sid,
            &api::AttendanceInput { marks, reason: form.reason.clone() },
        )
        .await
    {
        return session_page(&state, &auth, gid, sid, Some(detail(e))).await;
    }
    if s.notes_signed_at.is_none() {
        let members = s
            .attendance
            .iter()
            .map(|r| api::MemberNoteInput {
                client_id: r.client_id.to_string(),
                note: form.members.get(&format!("note-{}", r.client_id)).cloned(),
            })
            .collect();
        let body = api::NotesInput { group_note: form.group_note.clone(), members, sign: form.action == "sign" };
        if let Err(e) = crate::usecase::groups::save_notes(&state, &a, gid, sid, &body).await {
            return session_page(&state, &auth, gid, sid, Some(detail(e))).await;
        }
    }
    Ok(Redirect::to(&format!("/groups/{gid}/sessions/{sid}")).into_response())
}

/// One of the client's groups on their chart.
pub struct ChartGroup {
    pub name: String,
    pub status: String,
    /// (when, attendance, the client's own line if shown).
    pub sessions: Vec<(String, String, String)>,
}

/// The chart's "Groups" section: this client's own lines only (audited).
pub async fn chart_rows(state: &AppState, auth: &UiAuth, client: ClientId, tz: &TimeZone) -> Vec<ChartGroup> {
    let a = api_auth(auth);
    let lines: Vec<ClientGroupOut> = api::client_groups(state, &a, client).await.unwrap_or_default();
    lines
        .into_iter()
        .map(|g| ChartGroup {
            name: g.group_name,
            status: g.status.to_string(),
            sessions: g
                .sessions
                .into_iter()
                .take(8)
                .map(|l| {
                    (
                        local(l.starts_at, tz),
                        l.attendance.map(|x| x.label().to_string()).unwrap_or_else(|| "not recorded".into()),
                        l.member_note.unwrap_or_default(),
                    )
                })
                .collect(),
        })
        .collect()
}
