//! Schedule proposals: a plan from the scheduler, kept with the problem it
//! solved, reviewed by a coordinator, and applied (its encounters booked,
//! moved or cancelled) in one transaction, or discarded. A repair is a new
//! proposal naming the applied one it changes.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::encounters::{Placement, book_in, encounter_for_update, reschedule_in};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;
use kairos_domain::encounter::{EncounterStatus, NewEncounter};
use kairos_domain::ids::{EncounterId, ProposalId, SiteId, StaffId};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub id: ProposalId,
    pub site_id: SiteId,
    pub parent_id: Option<ProposalId>,
    pub start_date: Date,
    pub days: i64,
    /// The scheduler's problem and plan (JSON, `kairos-schedule` formats).
    pub problem: String,
    pub plan: String,
    /// For a repair: the change (JSON).
    pub change: Option<String>,
    pub status: String,
    pub created_at: Timestamp,
    pub created_by: Option<StaffId>,
    pub decided_at: Option<Timestamp>,
    pub decided_by: Option<StaffId>,
}

/// What applying a proposal does to one planned event.
#[derive(Debug, Clone)]
pub enum BookingOp {
    /// Book a new encounter.
    Create { event: String, encounter: NewEncounter },
    /// Move the event's existing encounter.
    Move { event: String, encounter: EncounterId, to: Placement },
    /// Cancel the event's encounter (the plan dropped it).
    Cancel { event: String, encounter: EncounterId },
    /// The event's encounter stays as booked.
    Keep { event: String, encounter: EncounterId },
}

const COLS: &str = "id, site_id, parent_id, start_date, days, problem, plan, change, status, created_at, created_by, \
     decided_at, decided_by";

fn proposal_of(r: &sqlx::any::AnyRow) -> Result<Proposal> {
    Ok(Proposal {
        id: rows::get_id(r, "id")?,
        site_id: rows::get_id(r, "site_id")?,
        parent_id: rows::get_opt_id(r, "parent_id")?,
        start_date: rows::get_date(r, "start_date")?,
        days: rows::get_i64(r, "days")?,
        problem: rows::get_str(r, "problem")?,
        plan: rows::get_str(r, "plan")?,
        change: rows::get_opt_str(r, "change")?,
        status: rows::get_str(r, "status")?,
        created_at: rows::get_ts(r, "created_at")?,
        created_by: rows::get_opt_id(r, "created_by")?,
        decided_at: rows::get_opt_ts(r, "decided_at")?,
        decided_by: rows::get_opt_id(r, "decided_by")?,
    })
}

/// Moves a proposal still `proposed` to `status` (applied or discarded),
/// recording who decided and when; false if it was no longer proposed.
async fn decide_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: ProposalId,
    status: &'static str,
    actor: &Actor,
    now: Timestamp,
) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE schedule_proposals SET status = $4, decided_at = $2, decided_by = $3 \
         WHERE id = $1 AND status = 'proposed'",
    )
    .bind(id.to_string())
    .bind(micros(now))
    .bind(actor.staff_id.map(|s| s.to_string()))
    .bind(status)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

impl Store {
    #[allow(clippy::too_many_arguments)]
    pub async fn create_proposal(
        &self,
        actor: &Actor,
        site: SiteId,
        parent: Option<ProposalId>,
        start_date: Date,
        days: i64,
        problem: &str,
        plan: &str,
        change: Option<&str>,
    ) -> Result<Proposal> {
        let now = Timestamp::now();
        let id = ProposalId::new();
        let mut tx = self.begin_write().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO schedule_proposals ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'proposed', $9, $10, NULL, NULL)"
        )))
        .bind(id.to_string())
        .bind(site.to_string())
        .bind(parent.map(|p| p.to_string()))
        .bind(start_date.to_string())
        .bind(days)
        .bind(problem.to_string())
        .bind(plan.to_string())
        .bind(change.map(str::to_string))
        .bind(micros(now))
        .bind(actor.staff_id.map(|s| s.to_string()))
        .execute(&mut *tx)
        .await?;
        let what = if parent.is_some() { "repair proposed" } else { "schedule proposed" };
        audit::insert_in(&mut tx, actor, &AuditEntry::new(Action::Create, "schedule_proposal", id).detail(what), now)
            .await?;
        tx.commit().await?;
        self.proposal(id).await
    }

    pub async fn proposal(&self, id: ProposalId) -> Result<Proposal> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM schedule_proposals WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "schedule proposal", id: id.to_string() })?;
        proposal_of(&row)
    }

    /// The latest proposals, newest first.
    pub async fn proposals(&self, limit: i64) -> Result<Vec<Proposal>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM schedule_proposals ORDER BY created_at DESC LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(proposal_of).collect()
    }

    /// Event → encounter for an applied proposal.
    pub async fn proposal_bookings(&self, id: ProposalId) -> Result<HashMap<String, EncounterId>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT event, encounter_id FROM schedule_bookings WHERE proposal_id = $1")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(|(e, id)| Ok((e, id.parse().map_err(|_| StoreError::corrupt("encounter id"))?))).collect()
    }

    pub async fn discard_proposal(&self, actor: &Actor, id: ProposalId) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        if !decide_in(&mut tx, id, "discarded", actor, now).await? {
            return Err(StoreError::Conflict {
                field: "status",
                detail: "only a proposed schedule can be discarded".into(),
            });
        }
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Update, "schedule_proposal", id).detail("discarded"),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies a proposal: every operation, the event → encounter record, and
    /// the status change happen in one transaction; any refused booking (a
    /// conflict made since the proposal) undoes all of it.
    pub async fn apply_proposal(&self, actor: &Actor, id: ProposalId, ops: &[BookingOp]) -> Result<Proposal> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        if !decide_in(&mut tx, id, "applied", actor, now).await? {
            return Err(StoreError::Conflict {
                field: "status",
                detail: "this proposal was already applied or discarded".into(),
            });
        }
        let parent: Option<(Option<String>,)> =
            sqlx::query_as("SELECT parent_id FROM schedule_proposals WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((Some(p),)) = parent {
            let n =
                sqlx::query("UPDATE schedule_proposals SET status = 'superseded' WHERE id = $1 AND status = 'applied'")
                    .bind(&p)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict {
                    field: "parent_id",
                    detail: "the schedule this repair changes is no longer the applied one".into(),
                });
            }
        }
        for op in ops {
            let (event, encounter) = match op {
                BookingOp::Create { event, encounter } => {
                    (event, Some(book_in(&mut tx, actor, encounter, now).await?.id))
                }
                BookingOp::Move { event, encounter, to } => {
                    (event, Some(reschedule_in(&mut tx, actor, *encounter, to, now).await?.id))
                }
                BookingOp::Keep { event, encounter } => (event, Some(*encounter)),
                BookingOp::Cancel { encounter, event } => {
                    let current = encounter_for_update(&mut tx, *encounter).await?;
                    if current.status == EncounterStatus::Booked {
                        let why = format!("no longer in the applied schedule ({event})");
                        let change = current.change_status(EncounterStatus::Cancelled, Some(&why), now)?;
                        sqlx::query(
                            "UPDATE encounters SET status = $2, updated_at = $3, status_reason = $4 WHERE id = $1",
                        )
                        .bind(encounter.to_string())
                        .bind(change.to.as_str())
                        .bind(micros(now))
                        .bind(change.reason.clone())
                        .execute(&mut *tx)
                        .await?;
                        audit::insert_in(
                            &mut tx,
                            actor,
                            &AuditEntry::new(Action::Update, "encounter", encounter)
                                .client(current.client_id)
                                .detail(format!("cancelled by schedule {id} ({event})")),
                            now,
                        )
                        .await?;
                        if crate::integration_due::concerns(current.kind) {
                            crate::integration_due::refresh(&mut tx, &[current.client_id]).await?;
                        }
                    }
                    (event, None)
                }
            };
            if let Some(enc) = encounter {
                sqlx::query("INSERT INTO schedule_bookings (proposal_id, event, encounter_id) VALUES ($1, $2, $3)")
                    .bind(id.to_string())
                    .bind(event.clone())
                    .bind(enc.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Update, "schedule_proposal", id)
                .detail(format!("applied: {} bookings", ops.len())),
            now,
        )
        .await?;
        tx.commit().await?;
        self.proposal(id).await
    }
}

/// A course the scheduler may plan, with where its dose series stands.
#[derive(Debug, Clone)]
pub struct SchedulableCourse {
    pub course: kairos_domain::course::Course,
    /// Doses given (dosing encounters arrived or completed).
    pub given: i64,
    pub last_dose: Option<Timestamp>,
    /// Dosing encounters booked from now on.
    pub booked_ahead: i64,
}

impl Store {
    /// Courses in screening, preparation or induction with their dose
    /// counts (the caller keeps those it can plan).
    pub async fn schedulable_courses(&self, now: Timestamp) -> Result<Vec<SchedulableCourse>> {
        let cols = crate::courses::COLS.split(',').map(|c| format!("c.{}", c.trim())).collect::<Vec<_>>().join(", ");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {cols}, \
               (SELECT COUNT(*) FROM encounters e WHERE e.course_id = c.id AND e.kind = 'dosing' \
                  AND e.status IN ('arrived', 'completed')) AS given, \
               (SELECT MAX(e.scheduled_start) FROM encounters e WHERE e.course_id = c.id AND e.kind = 'dosing' \
                  AND e.status IN ('arrived', 'completed')) AS last_dose, \
               (SELECT COUNT(*) FROM encounters e WHERE e.course_id = c.id AND e.kind = 'dosing' \
                  AND e.status = 'booked' AND e.scheduled_start >= $1) AS booked_ahead \
             FROM courses c WHERE c.phase IN ('screening', 'preparation', 'induction') ORDER BY c.started_on, c.id"
        )))
        .bind(micros(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SchedulableCourse {
                    course: crate::courses::course_of(r)?,
                    given: rows::get_i64(r, "given")?,
                    last_dose: rows::get_opt_ts(r, "last_dose")?,
                    booked_ahead: rows::get_i64(r, "booked_ahead")?,
                })
            })
            .collect()
    }

    /// Booked or arrived encounters at a site overlapping [from, to).
    pub async fn encounters_overlapping(
        &self,
        site: SiteId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<kairos_domain::encounter::Encounter>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM encounters WHERE site_id = $1 AND scheduled_end > $2 AND scheduled_start < $3 \
             AND status IN ('booked', 'arrived') ORDER BY scheduled_start",
            crate::encounters::COLS
        )))
        .bind(site.to_string())
        .bind(micros(from))
        .bind(micros(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::encounters::encounter_of).collect()
    }

    /// Weekly hours as stored (JSON), where set: the site's, each staff
    /// member's, each client's.
    pub async fn weekly_hours(
        &self,
        site: SiteId,
    ) -> Result<(Option<String>, HashMap<StaffId, String>, HashMap<kairos_domain::ids::ClientId, String>)> {
        let (site_hours,): (Option<String>,) = sqlx::query_as("SELECT hours FROM sites WHERE id = $1")
            .bind(site.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "site", id: site.to_string() })?;
        let staff: Vec<(String, String)> =
            sqlx::query_as("SELECT id, hours FROM staff WHERE hours IS NOT NULL").fetch_all(&self.pool).await?;
        let clients: Vec<(String, String)> =
            sqlx::query_as("SELECT id, availability FROM clients WHERE availability IS NOT NULL")
                .fetch_all(&self.pool)
                .await?;
        let parse = |s: &str| s.parse().map_err(|_| StoreError::corrupt("id"));
        Ok((
            site_hours,
            staff.into_iter().map(|(i, h)| Ok((parse(&i)?, h))).collect::<Result<_>>()?,
            clients
                .into_iter()
                .map(|(i, h)| Ok((i.parse().map_err(|_| StoreError::corrupt("id"))?, h)))
                .collect::<Result<_>>()?,
        ))
    }

    /// One staff member's own weekly hours as stored (JSON); none when
    /// they work the clinic's hours.
    pub async fn staff_weekly_hours(&self, id: StaffId) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = sqlx::query_as("SELECT hours FROM staff WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.ok_or_else(|| StoreError::NotFound { record: "staff member", id: id.to_string() })?.0)
    }

    /// Sets (or clears, with `None`) weekly hours: `table` is `sites`
    /// (column `hours`), `staff` (`hours`) or `clients` (`availability`).
    pub async fn set_weekly_hours(&self, actor: &Actor, table: HoursOf, id: &str, json: Option<&str>) -> Result<()> {
        let now = Timestamp::now();
        let (sql, record) = match table {
            HoursOf::Site => ("UPDATE sites SET hours = $2 WHERE id = $1", "site"),
            HoursOf::Staff => ("UPDATE staff SET hours = $2 WHERE id = $1", "staff"),
            HoursOf::Client => ("UPDATE clients SET availability = $2 WHERE id = $1", "client"),
        };
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(sql)
            .bind(id.to_string())
            .bind(json.map(str::to_string))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound { record, id: id.to_string() });
        }
        let mut entry = AuditEntry::new(Action::Update, record, id).detail("weekly hours");
        if table == HoursOf::Client {
            entry = entry.client(id.parse().map_err(|_| StoreError::corrupt("client id"))?);
        }
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Whose weekly hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoursOf {
    Site,
    Staff,
    Client,
}
