//! What measure schedules need to know about courses: phase history, dose
//! times, and which questionnaires each client has completed.

use crate::rows::{self, micros};
use crate::{Result, Store};
use jiff::Timestamp;
use kairos_domain::course::{Course, Phase};
use kairos_domain::ids::{ClientId, CourseId, StaffId};
use std::collections::HashMap;

/// Per course: phases entered (in time order) and dose start times (booked
/// or done; cancelled and missed doses left out).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CourseTimeline {
    pub phases: Vec<(Phase, Timestamp)>,
    pub doses: Vec<Timestamp>,
}

/// Ids per statement for `IN (...)` lists.
const CHUNK: usize = 200;

fn marks(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(",")
}

impl Store {
    /// Courses a clinician is prescriber or therapist of that are open, or
    /// ended since `ended_since` (follow-up measures fall after the end).
    pub async fn courses_of_clinician(&self, staff: StaffId, ended_since: jiff::civil::Date) -> Result<Vec<Course>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM courses WHERE (prescriber_id = $1 OR therapist_id = $1) AND phase <> 'discontinued' \
             AND (ended_on IS NULL OR ended_on >= $2) ORDER BY started_on, id",
            crate::courses::COLS
        )))
        .bind(staff.to_string())
        .bind(ended_since.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::courses::course_of).collect()
    }

    /// Phase history and doses of these courses.
    pub async fn course_timelines(&self, courses: &[CourseId]) -> Result<HashMap<CourseId, CourseTimeline>> {
        let mut out: HashMap<CourseId, CourseTimeline> =
            courses.iter().map(|c| (*c, CourseTimeline::default())).collect();
        for chunk in courses.chunks(CHUNK) {
            let sql = format!(
                "SELECT course_id, to_phase, changed_at FROM course_phase_changes WHERE course_id IN ({}) \
                 ORDER BY changed_at",
                marks(chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                q = q.bind(c.to_string());
            }
            for r in q.fetch_all(&self.pool).await? {
                let id: CourseId = rows::get_id(&r, "course_id")?;
                let phase = Phase::parse("to_phase", &rows::get_str(&r, "to_phase")?)?;
                if let Some(t) = out.get_mut(&id) {
                    t.phases.push((phase, rows::get_ts(&r, "changed_at")?));
                }
            }
            let sql = format!(
                "SELECT course_id, scheduled_start FROM encounters WHERE course_id IN ({}) AND kind = 'dosing' \
                 AND status NOT IN ('cancelled', 'no_show') ORDER BY scheduled_start",
                marks(chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                q = q.bind(c.to_string());
            }
            for r in q.fetch_all(&self.pool).await? {
                let id: CourseId = rows::get_id(&r, "course_id")?;
                if let Some(t) = out.get_mut(&id) {
                    t.doses.push(rows::get_ts(&r, "scheduled_start")?);
                }
            }
        }
        Ok(out)
    }

    /// Valid questionnaires (instrument, completed at) of these clients
    /// since `since`.
    pub async fn completed_measures_of(
        &self,
        clients: &[ClientId],
        since: Timestamp,
    ) -> Result<HashMap<ClientId, Vec<(String, Timestamp)>>> {
        let mut out: HashMap<ClientId, Vec<(String, Timestamp)>> = HashMap::new();
        for chunk in clients.chunks(CHUNK) {
            let sql = format!(
                "SELECT client_id, instrument_id, completed_at FROM measure_administrations \
                 WHERE client_id IN ({}) AND error_at IS NULL AND completed_at >= ${}",
                marks(chunk.len()),
                chunk.len() + 1
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                q = q.bind(c.to_string());
            }
            for r in q.bind(micros(since)).fetch_all(&self.pool).await? {
                let id: ClientId = rows::get_id(&r, "client_id")?;
                out.entry(id)
                    .or_default()
                    .push((rows::get_str(&r, "instrument_id")?, rows::get_ts(&r, "completed_at")?));
            }
        }
        Ok(out)
    }
}
