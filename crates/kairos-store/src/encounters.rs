//! Encounters: booking (with double-booking checks), rescheduling, status.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Page, PageRequest, Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::encounter::{Encounter, EncounterKind, EncounterStatus, NewEncounter};
use kairos_domain::ids::{ClientId, EncounterId, RoomId, SiteId, StaffId};

pub(crate) const COLS: &str = "id, client_id, course_id, site_id, room_id, staff_id, kind, status, \
     scheduled_start, scheduled_end, actual_start, actual_end, created_at, updated_at, status_reason";

pub(crate) fn encounter_of<R: rows::Cols>(r: &R) -> Result<Encounter> {
    Ok(Encounter {
        id: rows::get_id(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        course_id: rows::get_opt_id(r, "course_id")?,
        site_id: rows::get_id(r, "site_id")?,
        room_id: rows::get_opt_id(r, "room_id")?,
        staff_id: rows::get_opt_id(r, "staff_id")?,
        kind: EncounterKind::parse("kind", &rows::get_str(r, "kind")?)?,
        status: EncounterStatus::parse("status", &rows::get_str(r, "status")?)?,
        scheduled_start: rows::get_ts(r, "scheduled_start")?,
        scheduled_end: rows::get_ts(r, "scheduled_end")?,
        actual_start: rows::get_opt_ts(r, "actual_start")?,
        actual_end: rows::get_opt_ts(r, "actual_end")?,
        created_at: rows::get_ts(r, "created_at")?,
        updated_at: rows::get_ts(r, "updated_at")?,
        status_reason: rows::get_opt_str(r, "status_reason")?,
    })
}

/// Binds an encounter's fields in [`COLS`] order.
pub(crate) fn bind_encounter<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    e: &Encounter,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(e.id.to_string())
        .bind(e.client_id.to_string())
        .bind(e.course_id.map(|c| c.to_string()))
        .bind(e.site_id.to_string())
        .bind(e.room_id.map(|c| c.to_string()))
        .bind(e.staff_id.map(|c| c.to_string()))
        .bind(e.kind.as_str())
        .bind(e.status.as_str())
        .bind(micros(e.scheduled_start))
        .bind(micros(e.scheduled_end))
        .bind(e.actual_start.map(micros))
        .bind(e.actual_end.map(micros))
        .bind(micros(e.created_at))
        .bind(micros(e.updated_at))
        .bind(e.status_reason.clone())
}

/// Filters for listing encounters. Every list is bounded by a time range.
#[derive(Debug, Clone)]
pub struct EncounterQuery {
    pub site_id: Option<SiteId>,
    pub client_id: Option<ClientId>,
    pub staff_id: Option<StaffId>,
    pub from: Timestamp,
    pub to: Timestamp,
    pub page: PageRequest,
}

/// A booked or arrived encounter's time, with whom it holds
/// ([`Store::busy_times`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    pub staff_id: Option<StaffId>,
    pub client_id: ClientId,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Where and when an encounter takes place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub room_id: Option<RoomId>,
    pub staff_id: Option<StaffId>,
    pub scheduled_start: Timestamp,
    pub scheduled_end: Timestamp,
}

impl Store {
    /// Books an encounter. Refuses (409, naming the field) a room, staff
    /// member or client already booked for an overlapping time. Group
    /// sessions may share their room and facilitator with each other.
    pub async fn create_encounter(&self, actor: &Actor, new: &NewEncounter) -> Result<Encounter> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let e = book_in(&mut tx, actor, new, now).await?;
        tx.commit().await?;
        Ok(e)
    }

    pub async fn get_encounter(&self, id: EncounterId) -> Result<Encounter> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM encounters WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "encounter", id: id.to_string() })?;
        encounter_of(&row)
    }

    /// Moves a booked encounter (time, room, staff), with the same
    /// double-booking checks as a new booking.
    pub async fn reschedule_encounter(&self, actor: &Actor, id: EncounterId, to: &Placement) -> Result<Encounter> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let e = reschedule_in(&mut tx, actor, id, to, now).await?;
        tx.commit().await?;
        Ok(e)
    }

    /// Checks in, completes, cancels or marks a no-show.
    pub async fn change_encounter_status(
        &self,
        actor: &Actor,
        id: EncounterId,
        to: EncounterStatus,
        reason: Option<&str>,
    ) -> Result<Encounter> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let current = encounter_for_update(&mut tx, id).await?;
        let change = current.change_status(to, reason, now)?;
        // A dosing session starts at check-in: only for a course with a
        // prescriber-signed eligible screen.
        if current.kind == EncounterKind::Dosing && to == EncounterStatus::Arrived {
            let status = match current.course_id {
                Some(course) => crate::screens::status_in(&mut tx, course).await?,
                None => kairos_domain::screening::ScreenStatus::None,
            };
            kairos_domain::screening::may_chart_dose(status)?;
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE encounters SET status = $2, actual_start = $3, actual_end = $4, updated_at = $5, \
             status_reason = $6 WHERE id = $1 RETURNING {COLS}"
        )))
        .bind(id.to_string())
        .bind(change.to.as_str())
        .bind(change.actual_start.map(micros))
        .bind(change.actual_end.map(micros))
        .bind(micros(now))
        .bind(change.reason.clone())
        .fetch_one(&mut *tx)
        .await?;
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Update, "encounter", id)
                .client(current.client_id)
                .detail(format!("status {} -> {}", current.status, change.to)),
            now,
        )
        .await?;
        if crate::integration_due::concerns(current.kind) {
            crate::integration_due::refresh(&mut tx, &[current.client_id]).await?;
        }
        tx.commit().await?;
        encounter_of(&row)
    }

    /// The booked and arrived encounters of these staff members and these
    /// clients that overlap `[from, to)`: the times a new booking for them
    /// would clash with (the rule booking enforces), for suggesting times
    /// that can be booked. Read through the staff and client time indexes
    /// (an encounter lasts at most `MAX_ENCOUNTER`).
    pub async fn busy_times(
        &self,
        staff: &[StaffId],
        clients: &[ClientId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Busy>> {
        let earliest = from - kairos_domain::encounter::MAX_ENCOUNTER;
        let mut out = Vec::new();
        let lists = [
            ("staff_id", staff.iter().map(ToString::to_string).collect::<Vec<_>>()),
            ("client_id", { clients.iter().map(ToString::to_string).collect() }),
        ];
        for (column, ids) in lists {
            for chunk in ids.chunks(500) {
                let marks: Vec<String> = (4..4 + chunk.len()).map(|i| format!("${i}")).collect();
                let sql = format!(
                    "SELECT staff_id, client_id, scheduled_start, scheduled_end FROM encounters \
                     WHERE {column} IN ({}) AND status IN ('booked', 'arrived') \
                     AND scheduled_start > $1 AND scheduled_start < $2 AND scheduled_end > $3",
                    marks.join(",")
                );
                let mut q =
                    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(micros(earliest)).bind(micros(to)).bind(micros(from));
                for id in chunk {
                    q = q.bind(id.clone());
                }
                for r in &q.fetch_all(&self.pool).await? {
                    out.push(Busy {
                        staff_id: rows::get_opt_id(r, "staff_id")?,
                        client_id: rows::get_id(r, "client_id")?,
                        start: rows::get_ts(r, "scheduled_start")?,
                        end: rows::get_ts(r, "scheduled_end")?,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Encounters matching the filters, by scheduled start. Only the filters
    /// given are in the SQL, so a site's, client's or staff member's index
    /// serves the read (a `$n IS NULL OR ...` term would read every
    /// encounter in the time range).
    pub async fn list_encounters(&self, q: &EncounterQuery) -> Result<Page<Encounter>> {
        let mut filter = String::from("WHERE scheduled_start >= $1 AND scheduled_start < $2");
        let mut ids: Vec<String> = Vec::new();
        for (col, id) in [
            ("site_id", q.site_id.map(|x| x.to_string())),
            ("client_id", q.client_id.map(|x| x.to_string())),
            ("staff_id", q.staff_id.map(|x| x.to_string())),
        ] {
            if let Some(id) = id {
                ids.push(id);
                filter.push_str(&format!(" AND {col} = ${}", ids.len() + 2));
            }
        }
        let mut count =
            sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM encounters {filter}")))
                .bind(micros(q.from))
                .bind(micros(q.to));
        for id in &ids {
            count = count.bind(id.clone());
        }
        let total = count.fetch_one(&self.pool).await?;
        let mut select = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM encounters {filter} ORDER BY scheduled_start, id LIMIT ${} OFFSET ${}",
            ids.len() + 3,
            ids.len() + 4
        )))
        .bind(micros(q.from))
        .bind(micros(q.to));
        for id in ids {
            select = select.bind(id);
        }
        let rows = select.bind(i64::from(q.page.limit)).bind(i64::from(q.page.offset)).fetch_all(&self.pool).await?;
        Ok(Page {
            items: rows.iter().map(encounter_of).collect::<Result<_>>()?,
            total: total.0,
            limit: q.page.limit,
            offset: q.page.offset,
        })
    }

    /// A client's next (`upcoming`: booked or arrived, from `now`, soonest
    /// first) or last (before `now`, latest first) encounters.
    pub async fn encounters_of(
        &self,
        client: ClientId,
        now: Timestamp,
        upcoming: bool,
        limit: i64,
    ) -> Result<Vec<Encounter>> {
        let sql = if upcoming {
            "SELECT id, client_id, course_id, site_id, room_id, staff_id, kind, status, scheduled_start, scheduled_end, \
             actual_start, actual_end, created_at, updated_at, status_reason FROM encounters \
             WHERE client_id = $1 AND scheduled_start >= $2 AND status IN ('booked', 'arrived') \
             ORDER BY scheduled_start, id LIMIT $3"
        } else {
            "SELECT id, client_id, course_id, site_id, room_id, staff_id, kind, status, scheduled_start, scheduled_end, \
             actual_start, actual_end, created_at, updated_at, status_reason FROM encounters \
             WHERE client_id = $1 AND scheduled_start < $2 \
             ORDER BY scheduled_start DESC, id DESC LIMIT $3"
        };
        let rows =
            sqlx::query(sql).bind(client.to_string()).bind(micros(now)).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(encounter_of).collect()
    }

    /// Each client's site: where they were last seen (the latest visit that
    /// has started by `now`), or else where they are next booked. Clients
    /// with no visit at all are absent from the map.
    pub async fn home_sites(
        &self,
        clients: &[ClientId],
        now: Timestamp,
    ) -> Result<std::collections::HashMap<ClientId, SiteId>> {
        // Per client, the visit whose start is nearest `now` from below, else
        // from above: (started first, then distance from now).
        let mut best: std::collections::HashMap<ClientId, ((bool, i64), SiteId)> = Default::default();
        let now = micros(now);
        for chunk in clients.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT client_id, site_id, scheduled_start FROM encounters WHERE client_id IN ({})",
                marks.join(",")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.to_string());
            }
            for row in q.fetch_all(&self.pool).await? {
                let client: ClientId = rows::get_id(&row, "client_id")?;
                let site: SiteId = rows::get_id(&row, "site_id")?;
                let start = micros(rows::get_ts(&row, "scheduled_start")?);
                let key = (start > now, (now - start).abs());
                match best.get(&client) {
                    Some((k, _)) if *k <= key => {}
                    _ => {
                        best.insert(client, (key, site));
                    }
                }
            }
        }
        Ok(best.into_iter().map(|(c, (_, s))| (c, s)).collect())
    }
}

/// Serialises bookings that could clash: writing the site, client and staff
/// rows takes PostgreSQL's row locks, always in that order (SQLite's `BEGIN
/// IMMEDIATE` already holds the database lock). Two coordinators cannot book
/// the same chair, client or clinician at once, even at different sites.
async fn lock_for_booking(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    site: SiteId,
    client: ClientId,
    staff: Option<StaffId>,
) -> Result<()> {
    lock_site(tx, site).await?;
    let res = sqlx::query("UPDATE clients SET updated_at = updated_at WHERE id = $1")
        .bind(client.to_string())
        .execute(&mut **tx)
        .await?;
    if res.rows_affected() == 0 {
        return Err(StoreError::UnknownReference { field: "client_id", record: "client", id: client.to_string() });
    }
    if let Some(staff) = staff {
        let res = sqlx::query("UPDATE staff SET updated_at = updated_at WHERE id = $1")
            .bind(staff.to_string())
            .execute(&mut **tx)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::UnknownReference {
                field: "staff_id",
                record: "staff member",
                id: staff.to_string(),
            });
        }
    }
    Ok(())
}

async fn lock_site(tx: &mut sqlx::Transaction<'static, sqlx::Any>, site: SiteId) -> Result<()> {
    let res = sqlx::query("UPDATE sites SET booking_seq = booking_seq + 1 WHERE id = $1")
        .bind(site.to_string())
        .execute(&mut **tx)
        .await?;
    if res.rows_affected() == 0 {
        return Err(StoreError::UnknownReference { field: "site_id", record: "site", id: site.to_string() });
    }
    Ok(())
}

async fn check_placement(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    this: Option<EncounterId>,
    client: ClientId,
    site: SiteId,
    kind: EncounterKind,
    p: &Placement,
) -> Result<()> {
    kairos_domain::encounter::check_interval(p.scheduled_start, p.scheduled_end, Timestamp::now())?;
    if let Some(room) = p.room_id {
        let row = sqlx::query("SELECT site_id FROM rooms WHERE id = $1")
            .bind(room.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::UnknownReference { field: "room_id", record: "room", id: room.to_string() })?;
        if rows::get_str(&row, "site_id")? != site.to_string() {
            return Err(kairos_domain::DomainError::invalid("room_id", "is at another site").into());
        }
    }
    if let Some(staff) = p.staff_id {
        let row = sqlx::query("SELECT active FROM staff WHERE id = $1")
            .bind(staff.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::UnknownReference {
                field: "staff_id",
                record: "staff member",
                id: staff.to_string(),
            })?;
        if sqlx::Row::try_get::<i64, _>(&row, "active")? != 1 {
            return Err(kairos_domain::DomainError::invalid("staff_id", "is not an active staff member").into());
        }
    }
    let is_group = kind == EncounterKind::Group;
    let clash = sqlx::query(
        "SELECT client_id, room_id, staff_id, kind, scheduled_start FROM encounters \
         WHERE status IN ('booked', 'arrived') AND scheduled_start < $1 AND scheduled_end > $2 \
         AND ($3 IS NULL OR id <> $3) AND (client_id = $4 OR room_id = $5 OR staff_id = $6)",
    )
    .bind(micros(p.scheduled_end))
    .bind(micros(p.scheduled_start))
    .bind(this.map(|i| i.to_string()))
    .bind(client.to_string())
    .bind(p.room_id.map(|r| r.to_string()))
    .bind(p.staff_id.map(|s| s.to_string()))
    .fetch_all(&mut **tx)
    .await?;
    for row in &clash {
        let shared_group = is_group && rows::get_str(row, "kind")? == EncounterKind::Group.as_str();
        let at = rows::get_ts(row, "scheduled_start")?;
        if rows::get_str(row, "client_id")? == client.to_string() {
            return Err(StoreError::Conflict {
                field: "scheduled_start",
                detail: format!("the client already has an encounter at {at}"),
            });
        }
        if !shared_group && p.room_id.is_some() && rows::get_opt_id::<RoomId>(row, "room_id")? == p.room_id {
            return Err(StoreError::Conflict {
                field: "room_id",
                detail: format!("the room is already booked at {at}"),
            });
        }
        // A nurse or prescriber monitors several concurrent doses (the
        // scheduler keeps to the clinic's monitor capacity).
        let shared_monitor =
            kind == EncounterKind::Dosing && rows::get_str(row, "kind")? == EncounterKind::Dosing.as_str();
        if !shared_group
            && !shared_monitor
            && p.staff_id.is_some()
            && rows::get_opt_id::<StaffId>(row, "staff_id")? == p.staff_id
        {
            return Err(StoreError::Conflict {
                field: "staff_id",
                detail: format!("the staff member is already booked at {at}"),
            });
        }
    }
    Ok(())
}

/// Books an encounter inside `tx` (see [`Store::create_encounter`]).
pub(crate) async fn book_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    actor: &Actor,
    new: &NewEncounter,
    now: Timestamp,
) -> Result<Encounter> {
    lock_for_booking(tx, new.site_id, new.client_id, new.staff_id).await?;
    if let Some(course) = new.course_id {
        let row = sqlx::query("SELECT client_id, phase FROM courses WHERE id = $1")
            .bind(course.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::UnknownReference {
                field: "course_id",
                record: "course",
                id: course.to_string(),
            })?;
        if rows::get_str(&row, "client_id")? != new.client_id.to_string() {
            return Err(kairos_domain::DomainError::invalid("course_id", "belongs to another client").into());
        }
        let phase = rows::get_str(&row, "phase")?;
        if new.kind == EncounterKind::Dosing && (phase == "completed" || phase == "discontinued") {
            return Err(StoreError::Conflict {
                field: "course_id",
                detail: format!("the course is {phase}: no more doses are booked on it"),
            });
        }
    }
    let placement = Placement {
        room_id: new.room_id,
        staff_id: new.staff_id,
        scheduled_start: new.scheduled_start,
        scheduled_end: new.scheduled_end,
    };
    check_placement(tx, None, new.client_id, new.site_id, new.kind, &placement).await?;
    let e = Encounter {
        id: EncounterId::new(),
        client_id: new.client_id,
        course_id: new.course_id,
        site_id: new.site_id,
        room_id: new.room_id,
        staff_id: new.staff_id,
        kind: new.kind,
        status: EncounterStatus::Booked,
        scheduled_start: new.scheduled_start,
        scheduled_end: new.scheduled_end,
        actual_start: None,
        actual_end: None,
        created_at: now,
        updated_at: now,
        status_reason: None,
    };
    let insert = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO encounters ({COLS}) VALUES {}",
        rows::placeholders(1, 15)
    )));
    bind_encounter(insert, &e).execute(&mut **tx).await?;
    audit::insert_in(
        tx,
        actor,
        &AuditEntry::new(Action::Create, "encounter", e.id).client(e.client_id).detail(e.kind.as_str()),
        now,
    )
    .await?;
    if crate::integration_due::concerns(e.kind) {
        crate::integration_due::refresh(tx, &[e.client_id]).await?;
    }
    Ok(e)
}

/// Moves a booked encounter inside `tx` (see [`Store::reschedule_encounter`]).
pub(crate) async fn reschedule_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    actor: &Actor,
    id: EncounterId,
    to: &Placement,
    now: Timestamp,
) -> Result<Encounter> {
    let current = encounter_for_update(tx, id).await?;
    if current.status != EncounterStatus::Booked {
        return Err(kairos_domain::DomainError::invalid(
            "status",
            format!("only a booked encounter can be moved; this one is {}", current.status),
        )
        .into());
    }
    lock_for_booking(tx, current.site_id, current.client_id, to.staff_id).await?;
    check_placement(tx, Some(id), current.client_id, current.site_id, current.kind, to).await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE encounters SET room_id = $2, staff_id = $3, scheduled_start = $4, scheduled_end = $5, updated_at = $6 \
             WHERE id = $1 RETURNING {COLS}"
    )))
    .bind(id.to_string())
    .bind(to.room_id.map(|c| c.to_string()))
    .bind(to.staff_id.map(|c| c.to_string()))
    .bind(micros(to.scheduled_start))
    .bind(micros(to.scheduled_end))
    .bind(micros(now))
    .fetch_one(&mut **tx)
    .await?;
    audit::insert_in(
        tx,
        actor,
        &AuditEntry::new(Action::Update, "encounter", id).client(current.client_id).detail("rescheduled"),
        now,
    )
    .await?;
    if crate::integration_due::concerns(current.kind) {
        crate::integration_due::refresh(tx, &[current.client_id]).await?;
    }
    encounter_of(&row)
}

pub(crate) async fn encounter_for_update(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: EncounterId,
) -> Result<Encounter> {
    // A no-op update takes the row lock on PostgreSQL (SQLite already
    // holds the database write lock).
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE encounters SET updated_at = updated_at WHERE id = $1 RETURNING {COLS}"
    )))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::NotFound { record: "encounter", id: id.to_string() })?;
    encounter_of(&row)
}
