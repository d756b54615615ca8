//! Process groups (migration 0009): definitions, membership with capacity
//! and waitlist, sessions booked as one `group` encounter per member, and
//! attendance with the group note and one line per member.
//!
//! Every write commits with its audit entries; an entry that concerns a
//! member carries that member's client id and names no one else. Reads are
//! audited by the caller (the API), which decides what a viewer sees
//! (`kairos_domain::groups::view`).

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::DomainError;
use kairos_domain::course::Phase;
use kairos_domain::encounter::{EncounterKind, EncounterStatus, NewEncounter};
use kairos_domain::groups::{
    self, Attendance, Enrolment, GroupSpec, MembershipStatus, Occurrence, SpecFacts, WeeklySlot,
};
use kairos_domain::ids::{ClientId, CourseId, EncounterId, GroupId, GroupSessionId, RoomId, SiteId, StaffId};
use kairos_domain::roles::Roles;
use kairos_domain::site::RoomKind;
use serde::Serialize;
use sqlx::any::AnyRow;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub id: GroupId,
    pub site_id: SiteId,
    pub room_id: RoomId,
    pub name: String,
    pub description: Option<String>,
    pub slots: Vec<WeeklySlot>,
    pub capacity: u16,
    pub enrolment: Enrolment,
    pub eligible_phases: Vec<Phase>,
    /// The lead first.
    pub facilitator_ids: Vec<StaffId>,
    /// Members now active.
    pub active: u16,
    pub waitlisted: u16,
    /// A session has been held (attendance recorded).
    pub started: bool,
    pub created_at: Timestamp,
}

/// One membership (facilitators' roster).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub client_id: ClientId,
    pub name: String,
    pub status: MembershipStatus,
    pub queued_at: Timestamp,
    pub joined_at: Option<Timestamp>,
    pub left_at: Option<Timestamp>,
    pub override_reason: Option<String>,
}

/// One member's place in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttendanceRow {
    pub client_id: ClientId,
    pub name: String,
    pub encounter_id: EncounterId,
    pub attendance: Option<Attendance>,
    pub member_note: Option<String>,
}

/// A group session with everyone's attendance (facilitators only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupSession {
    pub id: GroupSessionId,
    pub group_id: GroupId,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub group_note: Option<String>,
    pub notes_by: Option<StaffId>,
    pub notes_signed_at: Option<Timestamp>,
    pub attendance: Vec<AttendanceRow>,
    /// Changes of attendance after the notes were signed, oldest first.
    pub amendments: Vec<AttendanceAmendment>,
}

/// A change of a member's attendance after the session's notes were signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttendanceAmendment {
    pub client_id: ClientId,
    pub from: Option<Attendance>,
    pub to: Attendance,
    pub reason: String,
    pub at: Timestamp,
    pub by: Option<StaffId>,
}

/// One client's own line of a group session (for that client's chart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientSessionLine {
    pub session_id: GroupSessionId,
    pub starts_at: Timestamp,
    pub attendance: Option<Attendance>,
    pub member_note: Option<String>,
    pub signed: bool,
}

/// One client's membership of a group, with that client's sessions only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientGroup {
    pub group_id: GroupId,
    pub group_name: String,
    pub facilitator_ids: Vec<StaffId>,
    pub status: MembershipStatus,
    pub joined_at: Option<Timestamp>,
    pub left_at: Option<Timestamp>,
    pub sessions: Vec<ClientSessionLine>,
}

/// Notes for a session: the group note and each member's line.
#[derive(Debug, Clone, Default)]
pub struct SessionNotes {
    pub group_note: Option<String>,
    pub members: Vec<(ClientId, Option<String>)>,
    pub sign: bool,
}

const GROUP_COLS: &str =
    "id, site_id, room_id, name, description, slots, capacity, enrolment, eligible_phases, created_at";

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::corrupt(format!("stored group: {e}"))
}

fn phases_of(s: &str) -> Result<Vec<Phase>> {
    s.split(',').filter(|p| !p.is_empty()).map(|p| Ok(Phase::parse("eligible_phases", p)?)).collect()
}

async fn group_in(ex: &mut sqlx::AnyConnection, id: GroupId) -> Result<Group> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {GROUP_COLS} FROM process_groups WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *ex)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "group", id: id.to_string() })?;
    let mut g = group_of(&r)?;
    fill(ex, &mut g).await?;
    Ok(g)
}

fn group_of(r: &AnyRow) -> Result<Group> {
    Ok(Group {
        id: rows::get_id(r, "id")?,
        site_id: rows::get_id(r, "site_id")?,
        room_id: rows::get_id(r, "room_id")?,
        name: rows::get_str(r, "name")?,
        description: rows::get_opt_str(r, "description")?,
        slots: serde_json::from_str(&rows::get_str(r, "slots")?).map_err(corrupt)?,
        capacity: u16::try_from(rows::get_i64(r, "capacity")?).map_err(corrupt)?,
        enrolment: Enrolment::parse("enrolment", &rows::get_str(r, "enrolment")?)?,
        eligible_phases: phases_of(&rows::get_str(r, "eligible_phases")?)?,
        facilitator_ids: Vec::new(),
        active: 0,
        waitlisted: 0,
        started: false,
        created_at: rows::get_ts(r, "created_at")?,
    })
}

async fn fill(ex: &mut sqlx::AnyConnection, g: &mut Group) -> Result<()> {
    let f: Vec<(String,)> =
        sqlx::query_as("SELECT staff_id FROM group_facilitators WHERE group_id = $1 ORDER BY position")
            .bind(g.id.to_string())
            .fetch_all(&mut *ex)
            .await?;
    g.facilitator_ids = f.into_iter().map(|(s,)| s.parse().map_err(corrupt)).collect::<Result<_>>()?;
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM group_members WHERE group_id = $1 GROUP BY status")
            .bind(g.id.to_string())
            .fetch_all(&mut *ex)
            .await?;
    for (s, n) in counts {
        let n = u16::try_from(n).unwrap_or(u16::MAX);
        match s.as_str() {
            "active" => g.active = n,
            "waitlisted" => g.waitlisted = n,
            _ => {}
        }
    }
    let started: (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM group_attendance a JOIN group_sessions s ON s.id = a.session_id \
         WHERE s.group_id = $1 AND a.attendance IS NOT NULL",
    )
    .bind(g.id.to_string())
    .fetch_one(&mut *ex)
    .await?;
    g.started = started.0 > 0;
    Ok(())
}

fn rules(g: &Group) -> groups::Rules<'_> {
    groups::Rules {
        capacity: g.capacity,
        enrolment: g.enrolment,
        eligible_phases: &g.eligible_phases,
        started: g.started,
        active: g.active,
    }
}

/// The phase and id of the client's open course (the latest started).
async fn open_course(tx: &mut Tx, client: ClientId) -> Result<Option<(CourseId, Phase)>> {
    let row = sqlx::query(
        "SELECT id, phase FROM courses WHERE client_id = $1 AND phase NOT IN ('completed', 'discontinued') \
         ORDER BY started_on DESC, id DESC LIMIT 1",
    )
    .bind(client.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| Ok((rows::get_id(&r, "id")?, Phase::parse("phase", &rows::get_str(&r, "phase")?)?))).transpose()
}

async fn lock_group(tx: &mut Tx, id: GroupId) -> Result<Group> {
    let res = sqlx::query("UPDATE process_groups SET updated_at = updated_at WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    if res.rows_affected() == 0 {
        return Err(StoreError::NotFound { record: "group", id: id.to_string() });
    }
    group_in(tx, id).await
}

async fn membership(tx: &mut Tx, g: GroupId, c: ClientId) -> Result<Option<MembershipStatus>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT status FROM group_members WHERE group_id = $1 AND client_id = $2")
            .bind(g.to_string())
            .bind(c.to_string())
            .fetch_optional(&mut **tx)
            .await?;
    row.map(|(s,)| Ok(MembershipStatus::parse("status", &s)?)).transpose()
}

/// Books the member into one session: their own `group` encounter and an
/// attendance row.
async fn seat(tx: &mut Tx, actor: &Actor, g: &Group, sid: GroupSessionId, o: Occurrence, c: ClientId) -> Result<()> {
    let course = open_course(tx, c).await?.map(|(id, _)| id);
    let new = NewEncounter {
        client_id: c,
        course_id: course,
        site_id: g.site_id,
        room_id: Some(g.room_id),
        staff_id: g.facilitator_ids.first().copied(),
        kind: EncounterKind::Group,
        scheduled_start: o.start,
        scheduled_end: o.end,
    };
    let e = crate::encounters::book_in(tx, actor, &new, Timestamp::now()).await?;
    sqlx::query("INSERT INTO group_attendance (session_id, client_id, encounter_id) VALUES ($1, $2, $3)")
        .bind(sid.to_string())
        .bind(c.to_string())
        .bind(e.id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Sessions of the group that have not started yet, with no attendance.
async fn future_sessions(tx: &mut Tx, g: GroupId, now: Timestamp) -> Result<Vec<(GroupSessionId, Occurrence)>> {
    let rows = sqlx::query("SELECT id, starts_at, ends_at FROM group_sessions WHERE group_id = $1 AND starts_at > $2")
        .bind(g.to_string())
        .bind(micros(now))
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                rows::get_id(r, "id")?,
                Occurrence { start: rows::get_ts(r, "starts_at")?, end: rows::get_ts(r, "ends_at")? },
            ))
        })
        .collect()
}

async fn activate(tx: &mut Tx, actor: &Actor, g: &Group, c: ClientId, now: Timestamp) -> Result<()> {
    for (sid, o) in future_sessions(tx, g.id, now).await? {
        let seated: Option<(String,)> =
            sqlx::query_as("SELECT client_id FROM group_attendance WHERE session_id = $1 AND client_id = $2")
                .bind(sid.to_string())
                .bind(c.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        if seated.is_none() {
            seat(tx, actor, g, sid, o, c).await?;
        }
    }
    Ok(())
}

fn member_of(r: &AnyRow) -> Result<Member> {
    Ok(Member {
        client_id: rows::get_id(r, "client_id")?,
        name: format!("{} {}", rows::get_str(r, "given_name")?, rows::get_str(r, "family_name")?),
        status: MembershipStatus::parse("status", &rows::get_str(r, "status")?)?,
        queued_at: rows::get_ts(r, "queued_at")?,
        joined_at: rows::get_opt_ts(r, "joined_at")?,
        left_at: rows::get_opt_ts(r, "left_at")?,
        override_reason: rows::get_opt_str(r, "override_reason")?,
    })
}

const MEMBER_SQL: &str = "SELECT m.client_id, c.given_name, c.family_name, m.status, m.queued_at, m.joined_at, \
     m.left_at, m.override_reason FROM group_members m JOIN clients c ON c.id = m.client_id WHERE m.group_id = $1";

impl Store {
    /// What the store knows of the facilitators and room a spec names.
    pub async fn group_spec_facts(&self, spec: &GroupSpec) -> Result<SpecFacts> {
        let mut facilitator_roles = Vec::new();
        for id in &spec.facilitator_ids {
            let row: Option<(String,)> = sqlx::query_as("SELECT roles FROM staff WHERE id = $1 AND active = 1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
            facilitator_roles.push(row.and_then(|(r,)| Roles::parse_list(&r).ok()));
        }
        let room: Option<(String,)> = sqlx::query_as("SELECT kind FROM rooms WHERE id = $1 AND site_id = $2")
            .bind(spec.room_id.to_string())
            .bind(spec.site_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let room_kind = room.map(|(k,)| RoomKind::parse("room_id", &k)).transpose()?;
        Ok(SpecFacts { facilitator_roles, room_kind })
    }

    /// Creates a group from a validated spec.
    pub async fn create_group(&self, actor: &Actor, spec: &GroupSpec) -> Result<Group> {
        let now = Timestamp::now();
        let id = GroupId::new();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO process_groups (id, site_id, room_id, name, description, slots, capacity, enrolment, \
             eligible_phases, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(id.to_string())
        .bind(spec.site_id.to_string())
        .bind(spec.room_id.to_string())
        .bind(spec.name.clone())
        .bind(spec.description.clone())
        .bind(serde_json::to_string(&spec.slots).map_err(corrupt)?)
        .bind(i64::from(spec.capacity))
        .bind(spec.enrolment.as_str())
        .bind(spec.eligible_phases.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        for (i, f) in spec.facilitator_ids.iter().enumerate() {
            sqlx::query("INSERT INTO group_facilitators (group_id, staff_id, position) VALUES ($1, $2, $3)")
                .bind(id.to_string())
                .bind(f.to_string())
                .bind(i as i64)
                .execute(&mut *tx)
                .await?;
        }
        audit::insert_in(&mut tx, actor, &AuditEntry::new(Action::Create, "group", id).detail(spec.name.clone()), now)
            .await?;
        let g = group_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(g)
    }

    pub async fn get_group(&self, id: GroupId) -> Result<Group> {
        let mut c = self.pool.acquire().await?;
        group_in(&mut c, id).await
    }

    /// Every group, by name.
    pub async fn list_groups(&self) -> Result<Vec<Group>> {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {GROUP_COLS} FROM process_groups ORDER BY name, id")))
                .fetch_all(&self.pool)
                .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut c = self.pool.acquire().await?;
        for r in &rows {
            let mut g = group_of(r)?;
            fill(&mut c, &mut g).await?;
            out.push(g);
        }
        Ok(out)
    }

    /// The roster: active members, then the waitlist in queue order, then
    /// those who left. Facilitators only (the caller checks and audits).
    pub async fn group_roster(&self, id: GroupId) -> Result<Vec<Member>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MEMBER_SQL} ORDER BY CASE m.status WHEN 'active' THEN 0 WHEN 'waitlisted' THEN 1 ELSE 2 END, \
             m.queued_at, m.client_id"
        )))
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(member_of).collect()
    }

    /// Adds a client (active, or waitlisted when full; see
    /// `kairos_domain::groups::join`); an active member is booked into the
    /// group's future sessions.
    pub async fn join_group(
        &self,
        actor: &Actor,
        id: GroupId,
        client: ClientId,
        by_facilitator: bool,
        override_reason: Option<&str>,
    ) -> Result<Member> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let g = lock_group(&mut tx, id).await?;
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM clients WHERE id = $1")
            .bind(client.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::UnknownReference { field: "client_id", record: "client", id: client.to_string() });
        }
        let current = membership(&mut tx, id, client).await?;
        let phase = open_course(&mut tx, client).await?.map(|(_, p)| p);
        let (status, reason) =
            groups::join(rules(&g), groups::JoinRequest { current, phase, by_facilitator, override_reason })?;
        let joined = (status == MembershipStatus::Active).then_some(micros(now));
        if current.is_none() {
            sqlx::query(
                "INSERT INTO group_members (group_id, client_id, status, queued_at, joined_at, override_reason, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $4)",
            )
            .bind(id.to_string())
            .bind(client.to_string())
            .bind(status.as_str())
            .bind(micros(now))
            .bind(joined)
            .bind(reason.clone())
            .execute(&mut *tx)
            .await?;
        } else {
            // Rejoining after leaving queues afresh; an override admission
            // from the waitlist keeps the place it had.
            let requeue = current == Some(MembershipStatus::Left);
            sqlx::query(
                "UPDATE group_members SET status = $3, queued_at = CASE WHEN $4 = 1 THEN $5 ELSE queued_at END, \
                 joined_at = $6, left_at = NULL, override_reason = $7, updated_at = $5 \
                 WHERE group_id = $1 AND client_id = $2",
            )
            .bind(id.to_string())
            .bind(client.to_string())
            .bind(status.as_str())
            .bind(i64::from(requeue))
            .bind(micros(now))
            .bind(joined)
            .bind(reason.clone())
            .execute(&mut *tx)
            .await?;
        }
        if status == MembershipStatus::Active {
            activate(&mut tx, actor, &g, client, now).await?;
        }
        let detail = match &reason {
            Some(_) => format!("{status} (override; its reason is on the membership)"),
            None => status.to_string(),
        };
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Create, "group_membership", id).client(client).detail(detail),
            now,
        )
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{MEMBER_SQL} AND m.client_id = $2")))
            .bind(id.to_string())
            .bind(client.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let m = member_of(&row)?;
        tx.commit().await?;
        Ok(m)
    }

    /// Removes a member (or takes a client off the waitlist): their future
    /// group encounters are cancelled and freed seats are offered to the
    /// waitlist (`kairos_domain::groups::promote`). Returns who was promoted.
    pub async fn leave_group(&self, actor: &Actor, id: GroupId, client: ClientId) -> Result<Vec<ClientId>> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let g = lock_group(&mut tx, id).await?;
        let current = membership(&mut tx, id, client).await?;
        groups::leave(current)?;
        sqlx::query(
            "UPDATE group_members SET status = 'left', left_at = $3, updated_at = $3 \
             WHERE group_id = $1 AND client_id = $2",
        )
        .bind(id.to_string())
        .bind(client.to_string())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        for (sid, _) in future_sessions(&mut tx, id, now).await? {
            let enc: Option<(String,)> = sqlx::query_as(
                "SELECT encounter_id FROM group_attendance WHERE session_id = $1 AND client_id = $2 \
                 AND attendance IS NULL",
            )
            .bind(sid.to_string())
            .bind(client.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((enc,)) = enc {
                sqlx::query("DELETE FROM group_attendance WHERE session_id = $1 AND client_id = $2")
                    .bind(sid.to_string())
                    .bind(client.to_string())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE encounters SET status = 'cancelled', updated_at = $2, status_reason = 'left the group' \
                     WHERE id = $1 AND status = 'booked'",
                )
                .bind(enc.clone())
                .bind(micros(now))
                .execute(&mut *tx)
                .await?;
                audit::insert_in(
                    &mut tx,
                    actor,
                    &AuditEntry::new(Action::Update, "encounter", enc)
                        .client(client)
                        .detail("cancelled: left the group"),
                    now,
                )
                .await?;
            }
        }
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Update, "group_membership", id).client(client).detail("left"),
            now,
        )
        .await?;
        // Offer freed seats to the waitlist.
        let g = Group { active: if current == Some(MembershipStatus::Active) { g.active - 1 } else { g.active }, ..g };
        let queue = sqlx::query(
            "SELECT client_id FROM group_members WHERE group_id = $1 AND status = 'waitlisted' \
             ORDER BY queued_at, client_id",
        )
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut waitlist = Vec::new();
        for r in &queue {
            let c: ClientId = rows::get_id(r, "client_id")?;
            waitlist.push((c, open_course(&mut tx, c).await?.map(|(_, p)| p)));
        }
        let promoted = groups::promote(rules(&g), &waitlist);
        for c in &promoted {
            sqlx::query(
                "UPDATE group_members SET status = 'active', joined_at = $3, updated_at = $3 \
                 WHERE group_id = $1 AND client_id = $2",
            )
            .bind(id.to_string())
            .bind(c.to_string())
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
            activate(&mut tx, actor, &g, *c, now).await?;
            audit::insert_in(
                &mut tx,
                actor,
                &AuditEntry::new(Action::Update, "group_membership", id)
                    .client(*c)
                    .detail("promoted from the waitlist"),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(promoted)
    }

    /// Schedules sessions (skipping any already at the same start), booking
    /// each active member's own encounter. Returns the new sessions.
    pub async fn create_group_sessions(
        &self,
        actor: &Actor,
        id: GroupId,
        occurrences: &[Occurrence],
    ) -> Result<Vec<GroupSessionId>> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let g = lock_group(&mut tx, id).await?;
        let members: Vec<(String,)> = sqlx::query_as(
            "SELECT client_id FROM group_members WHERE group_id = $1 AND status = 'active' ORDER BY client_id",
        )
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let members: Vec<ClientId> =
            members.into_iter().map(|(c,)| c.parse().map_err(corrupt)).collect::<Result<_>>()?;
        let mut out = Vec::new();
        for o in occurrences {
            kairos_domain::encounter::check_interval(o.start, o.end, now)?;
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT id FROM group_sessions WHERE group_id = $1 AND starts_at = $2")
                    .bind(id.to_string())
                    .bind(micros(o.start))
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_some() {
                continue;
            }
            let sid = GroupSessionId::new();
            sqlx::query(
                "INSERT INTO group_sessions (id, group_id, starts_at, ends_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(sid.to_string())
            .bind(id.to_string())
            .bind(micros(o.start))
            .bind(micros(o.end))
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
            for c in &members {
                seat(&mut tx, actor, &g, sid, *o, *c).await?;
            }
            audit::insert_in(
                &mut tx,
                actor,
                &AuditEntry::new(Action::Create, "group_session", sid).detail(format!("group {id}: {}", o.start)),
                now,
            )
            .await?;
            out.push(sid);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The group's sessions, by start (attendance rows included).
    pub async fn list_group_sessions(&self, id: GroupId) -> Result<Vec<GroupSession>> {
        let ids: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM group_sessions WHERE group_id = $1 ORDER BY starts_at")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        let mut out = Vec::new();
        for (sid,) in ids {
            out.push(self.get_group_session(sid.parse().map_err(corrupt)?).await?);
        }
        Ok(out)
    }

    pub async fn get_group_session(&self, sid: GroupSessionId) -> Result<GroupSession> {
        let r = sqlx::query(
            "SELECT id, group_id, starts_at, ends_at, group_note, notes_by, notes_signed_at FROM group_sessions \
             WHERE id = $1",
        )
        .bind(sid.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "group session", id: sid.to_string() })?;
        let rows_ = sqlx::query(
            "SELECT a.client_id, c.given_name, c.family_name, a.encounter_id, a.attendance, a.member_note \
             FROM group_attendance a JOIN clients c ON c.id = a.client_id WHERE a.session_id = $1 \
             ORDER BY c.family_name, c.given_name, a.client_id",
        )
        .bind(sid.to_string())
        .fetch_all(&self.pool)
        .await?;
        let attendance = rows_
            .iter()
            .map(|a| {
                Ok(AttendanceRow {
                    client_id: rows::get_id(a, "client_id")?,
                    name: format!("{} {}", rows::get_str(a, "given_name")?, rows::get_str(a, "family_name")?),
                    encounter_id: rows::get_id(a, "encounter_id")?,
                    attendance: rows::get_opt_str(a, "attendance")?
                        .map(|s| Attendance::parse("attendance", &s))
                        .transpose()?,
                    member_note: rows::get_opt_str(a, "member_note")?,
                })
            })
            .collect::<Result<_>>()?;
        let amendments = sqlx::query(
            "SELECT client_id, from_attendance, to_attendance, reason, amended_at, amended_by \
             FROM group_attendance_amendments WHERE session_id = $1 ORDER BY amended_at, id",
        )
        .bind(sid.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|a| {
            Ok(AttendanceAmendment {
                client_id: rows::get_id(a, "client_id")?,
                from: rows::get_opt_str(a, "from_attendance")?
                    .map(|s| Attendance::parse("attendance", &s))
                    .transpose()?,
                to: Attendance::parse("attendance", &rows::get_str(a, "to_attendance")?)?,
                reason: rows::get_str(a, "reason")?,
                at: rows::get_ts(a, "amended_at")?,
                by: rows::get_opt_id(a, "amended_by")?,
            })
        })
        .collect::<Result<_>>()?;
        Ok(GroupSession {
            id: rows::get_id(&r, "id")?,
            group_id: rows::get_id(&r, "group_id")?,
            starts_at: rows::get_ts(&r, "starts_at")?,
            ends_at: rows::get_ts(&r, "ends_at")?,
            group_note: rows::get_opt_str(&r, "group_note")?,
            notes_by: rows::get_opt_id(&r, "notes_by")?,
            notes_signed_at: rows::get_opt_ts(&r, "notes_signed_at")?,
            attendance,
            amendments,
        })
    }

    /// Records (or corrects) attendance; each member's own group encounter
    /// follows (`Attendance::encounter_status`). Once the notes are signed a
    /// different mark needs `reason` and is kept as an amendment
    /// (`kairos_domain::groups::attendance_change`), decided over the
    /// session as it is once the group is locked.
    pub async fn record_attendance(
        &self,
        actor: &Actor,
        sid: GroupSessionId,
        marks: &[(ClientId, Attendance)],
        reason: Option<&str>,
    ) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let group = self.get_group_session(sid).await?.group_id;
        lock_group(&mut tx, group).await?;
        // Read again under the lock: nobody signs the notes meanwhile.
        let s = self.get_group_session(sid).await?;
        for (i, (c, a)) in marks.iter().enumerate() {
            let row = s.attendance.iter().find(|r| r.client_id == *c).ok_or_else(|| {
                DomainError::invalid(format!("marks[{i}].client_id"), "is not on this session's roster")
            })?;
            let change =
                kairos_domain::groups::attendance_change(s.notes_signed_at.is_some(), row.attendance, *a, reason)?;
            match &change {
                kairos_domain::groups::AttendanceChange::Unchanged => continue,
                kairos_domain::groups::AttendanceChange::Record => {}
                kairos_domain::groups::AttendanceChange::Amend(why) => {
                    sqlx::query(
                        "INSERT INTO group_attendance_amendments (id, session_id, client_id, from_attendance, \
                         to_attendance, reason, amended_at, amended_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(sid.to_string())
                    .bind(c.to_string())
                    .bind(row.attendance.map(|x| x.as_str()))
                    .bind(a.as_str())
                    .bind(why.clone())
                    .bind(micros(now))
                    .bind(actor.staff_id.map(|s| s.to_string()))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            sqlx::query(
                "UPDATE group_attendance SET attendance = $3, recorded_at = $4, recorded_by = $5 \
                 WHERE session_id = $1 AND client_id = $2",
            )
            .bind(sid.to_string())
            .bind(c.to_string())
            .bind(a.as_str())
            .bind(micros(now))
            .bind(actor.staff_id.map(|s| s.to_string()))
            .execute(&mut *tx)
            .await?;
            let status = a.encounter_status();
            let held = status == EncounterStatus::Completed;
            sqlx::query(
                "UPDATE encounters SET status = $2, actual_start = $3, actual_end = $4, updated_at = $5 WHERE id = $1",
            )
            .bind(row.encounter_id.to_string())
            .bind(status.as_str())
            .bind(held.then_some(micros(s.starts_at)))
            .bind(held.then_some(micros(s.ends_at)))
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
            audit::insert_in(
                &mut tx,
                actor,
                &AuditEntry::new(Action::Update, "group_attendance", sid).client(*c).detail(
                    if matches!(change, kairos_domain::groups::AttendanceChange::Amend(_)) {
                        format!("{} (amended after signing)", a.as_str())
                    } else {
                        a.as_str().to_string()
                    },
                ),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Saves the group note and member lines; `sign` fixes them for good.
    pub async fn save_session_notes(&self, actor: &Actor, sid: GroupSessionId, notes: &SessionNotes) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let s = self.get_group_session(sid).await?;
        lock_group(&mut tx, s.group_id).await?;
        if s.notes_signed_at.is_some() {
            return Err(StoreError::Conflict {
                field: "sign",
                detail: "this session's notes are signed and never change".into(),
            });
        }
        for (i, (c, note)) in notes.members.iter().enumerate() {
            if !s.attendance.iter().any(|r| r.client_id == *c) {
                return Err(
                    DomainError::invalid(format!("members[{i}].client_id"), "is not on this session's roster").into()
                );
            }
            sqlx::query("UPDATE group_attendance SET member_note = $3 WHERE session_id = $1 AND client_id = $2")
                .bind(sid.to_string())
                .bind(c.to_string())
                .bind(note.clone())
                .execute(&mut *tx)
                .await?;
            audit::insert_in(
                &mut tx,
                actor,
                &AuditEntry::new(Action::Update, "group_member_note", sid).client(*c).detail("member line saved"),
                now,
            )
            .await?;
        }
        sqlx::query(
            "UPDATE group_sessions SET group_note = $2, notes_by = $3, notes_signed_at = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(sid.to_string())
        .bind(notes.group_note.clone())
        .bind(actor.staff_id.map(|s| s.to_string()))
        .bind(notes.sign.then_some(micros(now)))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Update, "group_session", sid).detail(if notes.sign {
                "notes signed"
            } else {
                "notes saved"
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One client's memberships and that client's own session lines; never
    /// another member's name or line.
    pub async fn client_groups(&self, client: ClientId) -> Result<Vec<ClientGroup>> {
        let rows_ = sqlx::query(
            "SELECT m.group_id, g.name, m.status, m.joined_at, m.left_at FROM group_members m \
             JOIN process_groups g ON g.id = m.group_id WHERE m.client_id = $1 ORDER BY g.name, m.group_id",
        )
        .bind(client.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows_ {
            let gid: GroupId = rows::get_id(r, "group_id")?;
            let f: Vec<(String,)> =
                sqlx::query_as("SELECT staff_id FROM group_facilitators WHERE group_id = $1 ORDER BY position")
                    .bind(gid.to_string())
                    .fetch_all(&self.pool)
                    .await?;
            let lines = sqlx::query(
                "SELECT s.id, s.starts_at, s.notes_signed_at, a.attendance, a.member_note FROM group_attendance a \
                 JOIN group_sessions s ON s.id = a.session_id WHERE s.group_id = $1 AND a.client_id = $2 \
                 ORDER BY s.starts_at DESC",
            )
            .bind(gid.to_string())
            .bind(client.to_string())
            .fetch_all(&self.pool)
            .await?;
            out.push(ClientGroup {
                group_id: gid,
                group_name: rows::get_str(r, "name")?,
                facilitator_ids: f.into_iter().map(|(s,)| s.parse().map_err(corrupt)).collect::<Result<_>>()?,
                status: MembershipStatus::parse("status", &rows::get_str(r, "status")?)?,
                joined_at: rows::get_opt_ts(r, "joined_at")?,
                left_at: rows::get_opt_ts(r, "left_at")?,
                sessions: lines
                    .iter()
                    .map(|l| {
                        Ok(ClientSessionLine {
                            session_id: rows::get_id(l, "id")?,
                            starts_at: rows::get_ts(l, "starts_at")?,
                            attendance: rows::get_opt_str(l, "attendance")?
                                .map(|s| Attendance::parse("attendance", &s))
                                .transpose()?,
                            member_note: rows::get_opt_str(l, "member_note")?,
                            signed: rows::get_opt_ts(l, "notes_signed_at")?.is_some(),
                        })
                    })
                    .collect::<Result<_>>()?,
            });
        }
        Ok(out)
    }
}
