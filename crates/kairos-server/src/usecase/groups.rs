//! Process groups: the list and a group's sessions at a glance as their
//! pages read them, and the commands both doors call (define a group, add
//! and remove members, schedule sessions, record attendance, save and sign
//! the notes). A group's roster, sessions in full and a client's own lines
//! are read through `api::groups` (each member shown audited).

use super::require;
use crate::api::groups::{GroupOut, group_out};
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use jiff::Timestamp;
use kairos_domain::ids::{GroupId, GroupSessionId};
use kairos_domain::roles::Permission;
use kairos_store::{Action, AuditEntry};

/// Every group: its definition and head counts, never a member's name. The
/// list read is recorded.
pub async fn list(state: &AppState, caller: &Auth) -> AppResult<Vec<GroupOut>> {
    require(caller, Permission::ReadGroups)?;
    let gs = state.store.list_groups().await?;
    let entry = AuditEntry {
        action: Action::List,
        record_type: "group",
        record_id: None,
        client_id: None,
        detail: Some(format!("{} groups", gs.len())),
    };
    state.store.audit_read(&caller.actor(), entry).await?;
    let mut out = Vec::new();
    for g in gs {
        out.push(group_out(state, caller, g).await?);
    }
    Ok(out)
}

/// One session of a group by its counts.
pub struct SessionCounts {
    pub id: GroupSessionId,
    pub starts_at: Timestamp,
    /// Members seated in it.
    pub seated: usize,
    /// Members whose attendance is recorded.
    pub recorded: usize,
    pub notes_signed: bool,
}

/// A group's sessions by their counts (no member is named, so nothing of a
/// client's record is read), soonest first.
pub async fn session_counts(state: &AppState, group: GroupId) -> AppResult<Vec<SessionCounts>> {
    Ok(state
        .store
        .list_group_sessions(group)
        .await?
        .into_iter()
        .map(|s| SessionCounts {
            id: s.id,
            starts_at: s.starts_at,
            seated: s.attendance.len(),
            recorded: s.attendance.iter().filter(|x| x.attendance.is_some()).count(),
            notes_signed: s.notes_signed_at.is_some(),
        })
        .collect())
}

/// Defines a group (its site, room, facilitators, weekly slots, capacity,
/// enrolment and eligible phases), checked against the records it names
/// (`GroupSpec::validate`).
pub async fn create(
    state: &AppState,
    caller: &Auth,
    body: &crate::api::groups::GroupInput,
) -> AppResult<kairos_store::groups::Group> {
    require(caller, Permission::ManageGroups)?;
    let spec = kairos_domain::groups::GroupSpec {
        name: body.name.clone(),
        description: body.description.clone(),
        site_id: crate::api::field_id("site_id", &body.site_id)?,
        room_id: crate::api::field_id("room_id", &body.room_id)?,
        facilitator_ids: body
            .facilitator_ids
            .iter()
            .enumerate()
            .map(|(i, f)| crate::api::field_id(&format!("facilitator_ids[{i}]"), f))
            .collect::<AppResult<_>>()?,
        slots: body.slots.clone(),
        capacity: body.capacity,
        enrolment: body.enrolment,
        eligible_phases: body.eligible_phases.clone(),
    };
    let facts = state.store.group_spec_facts(&spec).await?;
    let spec = spec.validate(&facts)?;
    Ok(state.store.create_group(&caller.actor(), &spec).await?)
}

/// Adds a client: active when a seat is free, otherwise waitlisted; a
/// closed group that has started takes no one without an override reason
/// (the store decides over the group's state). Facilitators or ManageGroups.
pub async fn join(
    state: &AppState,
    caller: &Auth,
    id: GroupId,
    body: &crate::api::groups::JoinInput,
) -> AppResult<kairos_store::groups::Member> {
    let g = state.store.get_group(id).await?;
    let facilitator = crate::api::groups::may_manage(caller, &g)?;
    let client = crate::api::field_id("client_id", &body.client_id)?;
    match state.store.join_group(&caller.actor(), id, client, facilitator, body.override_reason.as_deref()).await {
        Ok(m) => Ok(m),
        // Who is already in the group is for its facilitators to know: to
        // anyone else the refusal does not say.
        Err(e) if !facilitator && e.to_string().contains("already") => Err(crate::error::AppError::Conflict {
            field: "client_id".into(),
            detail: "this client cannot be added to the group now; ask its facilitator".into(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Removes a member or takes a client off the waitlist; returns how many
/// were promoted from the waitlist.
pub async fn leave(
    state: &AppState,
    caller: &Auth,
    id: GroupId,
    client: kairos_domain::ids::ClientId,
) -> AppResult<usize> {
    let g = state.store.get_group(id).await?;
    crate::api::groups::may_manage(caller, &g)?;
    Ok(state.store.leave_group(&caller.actor(), id, client).await?.len())
}

/// Schedules sessions from the weekly slots (one date, or `from` for
/// `weeks`), in the group's site's time zone.
pub async fn schedule_sessions(
    state: &AppState,
    caller: &Auth,
    id: GroupId,
    body: &crate::api::groups::SessionsInput,
) -> AppResult<Vec<GroupSessionId>> {
    require(caller, Permission::ManageGroups)?;
    let g = state.store.get_group(id).await?;
    let tz = state.store.get_site(g.site_id).await?.time_zone.tz();
    let occ = match (body.date, body.from, body.weeks) {
        (Some(d), None, None) => kairos_domain::groups::on_date(&g.slots, &tz, d)?,
        (None, Some(f), Some(w)) => kairos_domain::groups::occurrences(&g.slots, &tz, f, w)?,
        _ => return Err(crate::error::AppError::invalid("date", "give either `date`, or `from` and `weeks`")),
    };
    Ok(state.store.create_group_sessions(&caller.actor(), id, &occ).await?)
}

/// Records attendance marks (the group's facilitators only); each
/// member's group encounter follows.
pub async fn record_attendance(
    state: &AppState,
    caller: &Auth,
    group: GroupId,
    sid: GroupSessionId,
    body: &crate::api::groups::AttendanceInput,
) -> AppResult<()> {
    require(caller, Permission::WriteTherapyNotes)?;
    crate::api::groups::facilitator_session(state, caller, group, sid).await?;
    let marks = body
        .marks
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Ok((
                crate::api::field_id::<kairos_domain::ids::ClientId>(&format!("marks[{i}].client_id"), &m.client_id)?,
                m.attendance,
            ))
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(state.store.record_attendance(&caller.actor(), sid, &marks, body.reason.as_deref()).await?)
}

/// Saves (and optionally signs) the group note and each member's line
/// (the group's facilitators only); a signed note never changes.
pub async fn save_notes(
    state: &AppState,
    caller: &Auth,
    group: GroupId,
    sid: GroupSessionId,
    body: &crate::api::groups::NotesInput,
) -> AppResult<()> {
    require(caller, Permission::WriteTherapyNotes)?;
    crate::api::groups::facilitator_session(state, caller, group, sid).await?;
    let group_note = kairos_domain::groups::note_text(
        "group_note",
        body.group_note.as_deref(),
        kairos_domain::groups::MAX_GROUP_NOTE,
    )?;
    let mut members = Vec::new();
    for (i, m) in body.members.iter().enumerate() {
        let c: kairos_domain::ids::ClientId = crate::api::field_id(&format!("members[{i}].client_id"), &m.client_id)?;
        members.push((
            c,
            kairos_domain::groups::note_text(
                &format!("members[{i}].note"),
                m.note.as_deref(),
                kairos_domain::groups::MAX_MEMBER_NOTE,
            )?,
        ));
    }
    if body.sign && group_note.is_none() {
        return Err(crate::error::AppError::invalid("group_note", "write the group note before signing"));
    }
    let notes = kairos_store::groups::SessionNotes { group_note, members, sign: body.sign };
    Ok(state.store.save_session_notes(&caller.actor(), sid, &notes).await?)
}
