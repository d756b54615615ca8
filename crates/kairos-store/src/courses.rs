//! Treatment courses and their phase history.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;
use kairos_domain::course::{Course, NewCourse, Phase};
use kairos_domain::ids::{ClientId, CourseId, StaffId};
use kairos_domain::roles::Role;

pub(crate) const COLS: &str =
    "id, client_id, protocol, phase, started_on, ended_on, prescriber_id, therapist_id, created_at, updated_at";

/// A client's courses, newest first (shared by both read paths).
pub(crate) static COURSES_OF_CLIENT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {COLS} FROM courses WHERE client_id = $1 ORDER BY started_on DESC, id DESC")
});

pub(crate) fn course_of<R: rows::Cols>(r: &R) -> Result<Course> {
    Ok(Course {
        id: rows::get_id(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        protocol: rows::get_str(r, "protocol")?,
        phase: Phase::parse("phase", &rows::get_str(r, "phase")?)?,
        started_on: rows::get_date(r, "started_on")?,
        ended_on: rows::get_opt_date(r, "ended_on")?,
        prescriber_id: rows::get_opt_id(r, "prescriber_id")?,
        therapist_id: rows::get_opt_id(r, "therapist_id")?,
        created_at: rows::get_ts(r, "created_at")?,
        updated_at: rows::get_ts(r, "updated_at")?,
    })
}

/// The client a course belongs to, inside a write transaction; an unknown
/// course is a 404.
pub(crate) async fn client_of_course_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    course: CourseId,
) -> Result<ClientId> {
    let owner: Option<(String,)> = sqlx::query_as("SELECT client_id FROM courses WHERE id = $1")
        .bind(course.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    let (client,) = owner.ok_or_else(|| StoreError::NotFound { record: "course", id: course.to_string() })?;
    client.parse().map_err(|_| StoreError::corrupt("client_id is not an id"))
}

/// One entry of a course's phase history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PhaseHistoryEntry {
    pub from_phase: Option<Phase>,
    pub to_phase: Phase,
    pub reason: Option<String>,
    pub changed_by: Option<StaffId>,
    pub changed_at: Timestamp,
}

/// Checks, inside a transaction, that `id` is an active staff member holding
/// `role`; the error names `field`.
pub(crate) async fn check_staff_role(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    field: &'static str,
    id: StaffId,
    role: Role,
) -> Result<()> {
    let row = sqlx::query("SELECT roles, active FROM staff WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::UnknownReference { field, record: "staff member", id: id.to_string() })?;
    let roles = kairos_domain::roles::Roles::parse_list(&rows::get_str(&row, "roles")?)?;
    let active = sqlx::Row::try_get::<i64, _>(&row, "active")? == 1;
    if !active || !roles.contains(role) {
        return Err(
            kairos_domain::DomainError::invalid(field, format!("staff member {id} is not an active {role}")).into()
        );
    }
    Ok(())
}

impl Store {
    /// Opens a course (in screening) for a client.
    pub async fn create_course(&self, actor: &Actor, new: &NewCourse) -> Result<Course> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM clients WHERE id = $1")
            .bind(new.client_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound { record: "client", id: new.client_id.to_string() });
        }
        if let Some(p) = new.prescriber_id {
            check_staff_role(&mut tx, "prescriber_id", p, Role::Prescriber).await?;
        }
        if let Some(t) = new.therapist_id {
            check_staff_role(&mut tx, "therapist_id", t, Role::Therapist).await?;
        }
        let course = Course {
            id: CourseId::new(),
            client_id: new.client_id,
            protocol: new.protocol.clone(),
            phase: Phase::Screening,
            started_on: new.started_on,
            ended_on: None,
            prescriber_id: new.prescriber_id,
            therapist_id: new.therapist_id,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO courses (id, client_id, protocol, phase, started_on, ended_on, prescriber_id, therapist_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $8)",
        )
        .bind(course.id.to_string())
        .bind(course.client_id.to_string())
        .bind(course.protocol.clone())
        .bind(course.phase.as_str())
        .bind(course.started_on.to_string())
        .bind(course.prescriber_id.map(|s| s.to_string()))
        .bind(course.therapist_id.map(|s| s.to_string()))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        insert_phase_change(&mut tx, course.id, None, Phase::Screening, None, actor.staff_id, now).await?;
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Create, "course", course.id).client(course.client_id),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(course)
    }

    pub async fn get_course(&self, id: CourseId) -> Result<Course> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM courses WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "course", id: id.to_string() })?;
        course_of(&row)
    }

    /// A client's courses, newest first.
    pub async fn courses_of(&self, client: ClientId) -> Result<Vec<Course>> {
        let mut conn = self.pool.acquire().await?;
        courses_of_in(&mut conn, client).await
    }

    /// Moves a course to another phase. The domain decides whether the move
    /// is allowed, against the phase read inside the write transaction, so
    /// two concurrent changes cannot both pass.
    pub async fn change_course_phase(
        &self,
        actor: &Actor,
        id: CourseId,
        to: Phase,
        reason: Option<&str>,
        today: Date,
    ) -> Result<Course> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        // Touch the row first: on PostgreSQL this takes its row lock.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE courses SET updated_at = updated_at WHERE id = $1 RETURNING {COLS}"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "course", id: id.to_string() })?;
        let course = course_of(&row)?;
        let change = course.change_phase(to, reason, today)?;
        sqlx::query("UPDATE courses SET phase = $2, ended_on = $3, updated_at = $4 WHERE id = $1")
            .bind(id.to_string())
            .bind(change.to.as_str())
            .bind(change.ended_on.map(|d| d.to_string()))
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        insert_phase_change(&mut tx, id, Some(change.from), change.to, change.reason.clone(), actor.staff_id, now)
            .await?;
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Update, "course", id)
                .client(course.client_id)
                .detail(format!("phase {} -> {}", change.from, change.to)),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Course { phase: change.to, ended_on: change.ended_on, updated_at: now, ..course })
    }

    /// Assigns the prescriber and therapist of a course.
    pub async fn assign_course_team(
        &self,
        actor: &Actor,
        id: CourseId,
        prescriber_id: Option<StaffId>,
        therapist_id: Option<StaffId>,
    ) -> Result<Course> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        if let Some(p) = prescriber_id {
            check_staff_role(&mut tx, "prescriber_id", p, Role::Prescriber).await?;
        }
        if let Some(t) = therapist_id {
            check_staff_role(&mut tx, "therapist_id", t, Role::Therapist).await?;
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE courses SET prescriber_id = $2, therapist_id = $3, updated_at = $4 WHERE id = $1 RETURNING {COLS}"
        )))
        .bind(id.to_string())
        .bind(prescriber_id.map(|s| s.to_string()))
        .bind(therapist_id.map(|s| s.to_string()))
        .bind(micros(now))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "course", id: id.to_string() })?;
        let course = course_of(&row)?;
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Update, "course", id).client(course.client_id).detail("care team"),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(course)
    }

    pub async fn phase_history(&self, id: CourseId) -> Result<Vec<PhaseHistoryEntry>> {
        let rows = sqlx::query(
            "SELECT from_phase, to_phase, reason, changed_by, changed_at FROM course_phase_changes \
             WHERE course_id = $1 ORDER BY changed_at, id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PhaseHistoryEntry {
                    from_phase: rows::get_opt_str(r, "from_phase")?
                        .map(|p| Phase::parse("from_phase", &p))
                        .transpose()?,
                    to_phase: Phase::parse("to_phase", &rows::get_str(r, "to_phase")?)?,
                    reason: rows::get_opt_str(r, "reason")?,
                    changed_by: rows::get_opt_id(r, "changed_by")?,
                    changed_at: rows::get_ts(r, "changed_at")?,
                })
            })
            .collect()
    }
}

async fn insert_phase_change(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    course: CourseId,
    from: Option<Phase>,
    to: Phase,
    reason: Option<String>,
    by: Option<StaffId>,
    at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO course_phase_changes (id, course_id, from_phase, to_phase, reason, changed_by, changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(course.to_string())
    .bind(from.map(|p| p.as_str()))
    .bind(to.as_str())
    .bind(reason)
    .bind(by.map(|s| s.to_string()))
    .bind(micros(at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A client's courses, newest first, on a given connection.
pub(crate) async fn courses_of_in(conn: &mut sqlx::AnyConnection, client: ClientId) -> Result<Vec<Course>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(COURSES_OF_CLIENT_SQL.as_str()))
        .bind(client.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(course_of).collect()
}
