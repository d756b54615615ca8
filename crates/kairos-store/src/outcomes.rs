//! What outcome reports read: per course, its protocol, completed doses and
//! therapy sessions, and the valid scores of one instrument.
//!
//! Three scans (courses in range, completed care encounters, scores), joined
//! in memory: on SQLite files they run on the direct path on a blocking
//! thread, since a practice-wide report reads a few million rows.

use crate::rows::{self, Cols};
use crate::{Result, Store, StoreError};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use kairos_domain::ids::{ClientId, CourseId};
use kairos_domain::practice::CourseFacts;
use std::collections::HashMap;

/// A bound value for a scan.
#[derive(Debug, Clone)]
enum Bind {
    Text(String),
}

/// Scores taken up to this long before a course starts count as its baseline.
pub const BASELINE_LEAD: SignedDuration = SignedDuration::from_hours(14 * 24);

const COURSES_SQL: &str =
    "SELECT id, client_id, protocol, started_on FROM courses WHERE started_on >= $1 AND started_on <= $2";
const CARE_SQL: &str = "SELECT course_id, CASE WHEN kind = 'dosing' THEN 1 ELSE 0 END AS dosing, scheduled_start \
     FROM encounters \
     WHERE status = 'completed' AND kind IN ('dosing', 'integration', 'individual_therapy') AND course_id IS NOT NULL";
const SCORES_SQL: &str = "SELECT client_id, completed_at, score FROM measure_administrations \
     WHERE instrument_id = $1 AND error_at IS NULL";

fn int_at(r: &dyn Cols, i: usize) -> Result<i64> {
    r.opt_int_at(i)?.ok_or_else(|| StoreError::corrupt(format!("column {i} is null")))
}

impl Store {
    async fn scan<T: Send + 'static>(
        &self,
        sql: &'static str,
        binds: Vec<Bind>,
        map: fn(&dyn Cols) -> Result<T>,
    ) -> Result<Vec<T>> {
        if let Some(readers) = self.readers.clone() {
            return tokio::task::spawn_blocking(move || {
                readers.read(|c| {
                    let mut st = c.prepare_cached(sql)?;
                    let params = binds.iter().map(|b| match b {
                        Bind::Text(s) => rusqlite::types::Value::Text(s.clone()),
                    });
                    let mut rows = st.query(rusqlite::params_from_iter(params))?;
                    let mut out = Vec::new();
                    while let Some(r) = rows.next()? {
                        out.push(map(r)?);
                    }
                    Ok(out)
                })
            })
            .await
            .map_err(|e| StoreError::Config(format!("report task failed: {e}")))?;
        }
        let mut q = sqlx::query(sql);
        for b in binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
            };
        }
        q.fetch_all(&self.pool).await?.iter().map(|r| map(r)).collect()
    }

    /// One [`CourseFacts`] per course started between `from` and `to`
    /// (inclusive), with the scores of `instrument` from `BASELINE_LEAD`
    /// before its start (each score belongs to the client's latest course
    /// that had started, less the lead, by then).
    pub async fn course_outcome_facts(
        &self,
        instrument: &str,
        from: Date,
        to: Date,
        tz: &TimeZone,
    ) -> Result<Vec<CourseFacts>> {
        // The three scans run side by side, each on its own reader.
        let (courses, care, scores) = tokio::try_join!(
            self.scan(COURSES_SQL, vec![Bind::Text(from.to_string()), Bind::Text(to.to_string())], |r| {
                Ok((
                    rows::get_id::<CourseId>(r, "id")?,
                    rows::get_id::<ClientId>(r, "client_id")?,
                    rows::get_str(r, "protocol")?,
                    rows::get_date(r, "started_on")?,
                ))
            }),
            self.scan(CARE_SQL, vec![], |r| {
                // By position: this scan reads every completed dose and session.
                Ok((CourseId(r.uuid_at(0)?), int_at(r, 1)? == 1, rows::from_micros(int_at(r, 2)?)?))
            }),
            self.scan(SCORES_SQL, vec![Bind::Text(instrument.to_string())], |r| {
                Ok((ClientId(r.uuid_at(0)?), rows::from_micros(int_at(r, 1)?)?, int_at(r, 2)? as f64))
            }),
        )?;

        let mut facts: Vec<CourseFacts> = Vec::with_capacity(courses.len());
        let mut by_id: HashMap<CourseId, usize> = HashMap::with_capacity(courses.len());
        // Per client: (window start, course index), sorted by start.
        let mut by_client: HashMap<ClientId, Vec<(Timestamp, usize)>> = HashMap::with_capacity(courses.len());
        for (i, (id, client, protocol, started)) in courses.iter().enumerate() {
            by_id.insert(*id, i);
            let start = started.to_zoned(tz.clone()).map_err(StoreError::corrupt)?.timestamp() - BASELINE_LEAD;
            by_client.entry(*client).or_default().push((start, i));
            facts.push(CourseFacts { protocol: protocol.clone(), doses: vec![], therapy: vec![], scores: vec![] });
        }
        for list in by_client.values_mut() {
            list.sort();
        }
        for (course, dosing, at) in &care {
            if let Some(&i) = by_id.get(course) {
                if *dosing { facts[i].doses.push(*at) } else { facts[i].therapy.push(*at) }
            }
        }
        for (client, at, score) in scores {
            let Some(list) = by_client.get(&client) else { continue };
            if let Some(&(_, i)) = list.iter().rev().find(|(start, _)| *start <= at) {
                facts[i].scores.push((at, score));
            }
        }
        for f in &mut facts {
            f.doses.sort();
            f.therapy.sort();
            f.scores.sort_by_key(|s| s.0);
        }
        Ok(facts)
    }
}
