//! Course plans: the planned doses and tied sessions a protocol asks for,
//! with their windows, and the prescriber's moves of them.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::ids::{CourseId, PlannedItemId, StaffId};
use kairos_domain::protocols::Plan;
use serde::Serialize;
use sqlx::any::AnyRow;

/// One planned dose or session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedItem {
    pub id: PlannedItemId,
    pub course_id: CourseId,
    /// `dose`, or the session kind (`integration`, `wet`, ...).
    pub kind: String,
    pub number: i64,
    pub label: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub window_start: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub preferred_from: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub preferred_to: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub window_end: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub planned_at: Timestamp,
    pub moved: Option<Move>,
}

/// A prescriber's move of a planned item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PlannedItemMove))]
pub struct Move {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub to: Timestamp,
    pub by: StaffId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    pub reason: String,
}

impl PlannedItem {
    /// When it is planned now (moved or not).
    pub fn when(&self) -> Timestamp {
        self.moved.as_ref().map(|m| m.to).unwrap_or(self.planned_at)
    }

    /// Moved outside the protocol's window: a deviation from the protocol.
    pub fn deviates(&self) -> bool {
        let t = self.when();
        t < self.window_start || t > self.window_end
    }
}

/// A course's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoursePlan {
    pub course_id: CourseId,
    pub protocol: String,
    pub first_dose_at: Timestamp,
    pub created_by: Option<StaffId>,
    pub created_at: Timestamp,
    /// In planned order.
    pub items: Vec<PlannedItem>,
}

const ITEM_COLS: &str = "id, course_id, kind, number, label, window_start, preferred_from, preferred_to, window_end, \
     planned_at, moved_to, moved_by, moved_at, move_reason";

fn item_of(r: &AnyRow) -> Result<PlannedItem> {
    let moved = match rows::get_opt_ts(r, "moved_to")? {
        Some(to) => Some(Move {
            to,
            by: rows::get_id(r, "moved_by")?,
            at: rows::get_ts(r, "moved_at")?,
            reason: rows::get_opt_str(r, "move_reason")?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(PlannedItem {
        id: rows::get_id(r, "id")?,
        course_id: rows::get_id(r, "course_id")?,
        kind: rows::get_str(r, "kind")?,
        number: rows::get_i64(r, "number")?,
        label: rows::get_str(r, "label")?,
        window_start: rows::get_ts(r, "window_start")?,
        preferred_from: rows::get_opt_ts(r, "preferred_from")?,
        preferred_to: rows::get_opt_ts(r, "preferred_to")?,
        window_end: rows::get_ts(r, "window_end")?,
        planned_at: rows::get_ts(r, "planned_at")?,
        moved,
    })
}

impl Store {
    /// Stores a course's plan, once (a course has one plan).
    pub async fn create_plan(
        &self,
        actor: &Actor,
        course: CourseId,
        plan: &Plan,
        first_dose: Timestamp,
    ) -> Result<CoursePlan> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let client = crate::courses::client_of_course_in(&mut tx, course).await?;
        let exists: Option<(String,)> = sqlx::query_as("SELECT course_id FROM course_plans WHERE course_id = $1")
            .bind(course.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict {
                field: "course_id",
                detail: "this course already has a plan; move its items instead".into(),
            });
        }
        sqlx::query(
            "INSERT INTO course_plans (course_id, protocol_id, first_dose_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(course.to_string())
        .bind(plan.protocol.clone())
        .bind(micros(first_dose))
        .bind(actor.staff_id.map(|s| s.to_string()))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let mut items = Vec::new();
        for d in &plan.doses {
            items.push(PlannedItem {
                id: PlannedItemId::new(),
                course_id: course,
                kind: "dose".into(),
                number: i64::from(d.number),
                label: format!("dose {}", d.number),
                window_start: d.earliest,
                preferred_from: None,
                preferred_to: None,
                window_end: d.latest,
                planned_at: d.target,
                moved: None,
            });
        }
        for s in &plan.sessions {
            items.push(PlannedItem {
                id: PlannedItemId::new(),
                course_id: course,
                kind: s.kind.as_str().into(),
                number: i64::from(s.number),
                label: s.label.clone(),
                window_start: s.opens,
                preferred_from: Some(s.preferred_from),
                preferred_to: Some(s.preferred_to),
                window_end: s.closes,
                planned_at: s.target,
                moved: None,
            });
        }
        items.sort_by_key(|i| i.planned_at);
        for i in &items {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO planned_items ({ITEM_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, NULL, NULL)"
            )))
            .bind(i.id.to_string())
            .bind(course.to_string())
            .bind(i.kind.clone())
            .bind(i.number)
            .bind(i.label.clone())
            .bind(micros(i.window_start))
            .bind(i.preferred_from.map(micros))
            .bind(i.preferred_to.map(micros))
            .bind(micros(i.window_end))
            .bind(micros(i.planned_at))
            .execute(&mut *tx)
            .await?;
        }
        let entry = AuditEntry::new(Action::Create, "course_plan", course).client(client).detail(format!(
            "plan from {}: {} item(s)",
            plan.protocol,
            items.len()
        ));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(CoursePlan {
            course_id: course,
            protocol: plan.protocol.clone(),
            first_dose_at: first_dose,
            created_by: actor.staff_id,
            created_at: now,
            items,
        })
    }

    /// A course's plan, if it has one (not audited; callers audit).
    pub async fn plan_of(&self, course: CourseId) -> Result<Option<CoursePlan>> {
        let head: Option<(String, i64, Option<String>, i64)> = sqlx::query_as(
            "SELECT protocol_id, first_dose_at, created_by, created_at FROM course_plans WHERE course_id = $1",
        )
        .bind(course.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some((protocol, first, by, at)) = head else { return Ok(None) };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ITEM_COLS} FROM planned_items WHERE course_id = $1 ORDER BY planned_at, id"
        )))
        .bind(course.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows.iter().map(item_of).collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|i| (i.when(), i.planned_at));
        Ok(Some(CoursePlan {
            course_id: course,
            protocol,
            first_dose_at: rows::from_micros(first)?,
            created_by: by.map(|b| b.parse()).transpose().map_err(|_| StoreError::corrupt("created_by"))?,
            created_at: rows::from_micros(at)?,
            items,
        }))
    }

    /// Moves a planned item (prescriber), with a reason; the protocol's
    /// window is kept so a move outside it shows as a deviation.
    pub async fn move_planned_item(
        &self,
        actor: &Actor,
        id: PlannedItemId,
        to: Timestamp,
        reason: &str,
    ) -> Result<PlannedItem> {
        let by = actor.staff_id.ok_or_else(|| StoreError::Config("only a prescriber moves a plan".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ITEM_COLS} FROM planned_items WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "planned item", id: id.to_string() })?;
        let mut item = item_of(&row)?;
        sqlx::query(
            "UPDATE planned_items SET moved_to = $2, moved_by = $3, moved_at = $4, move_reason = $5 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(micros(to))
        .bind(by.to_string())
        .bind(micros(now))
        .bind(reason.to_string())
        .execute(&mut *tx)
        .await?;
        item.moved = Some(Move { to, by, at: now, reason: reason.to_string() });
        let client = crate::courses::client_of_course_in(&mut tx, item.course_id).await?;
        let entry = AuditEntry::new(Action::Update, "planned_item", id).client(client).detail(format!(
            "{} moved{}",
            item.label,
            if item.deviates() { " outside the protocol window" } else { "" }
        ));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(item)
    }
}
