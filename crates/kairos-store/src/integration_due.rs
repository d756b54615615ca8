//! The doses still waiting for an integration session, kept in the record.
//!
//! A client's integration session counts for the last dose before it (the
//! domain's `window::integration`), so only a client's latest dose can still
//! need one booked: an earlier dose with no session before the next was
//! missed. Table `integration_due` holds one row per client whose latest dose
//! has no therapy session (integration or individual therapy, not cancelled
//! or missed) starting after it, with the dose's number in its course. Every
//! write that changes a client's doses or therapy sessions refreshes that
//! client's row in the same transaction ([`refresh`]); a bulk load rebuilds
//! the whole table ([`REBUILD_ALL`]). The closing-windows list is then one
//! range read of this table by when the dose was given, instead of a
//! decision over every recent dose of the practice.

use crate::Result;
use kairos_domain::encounter::EncounterKind;
use kairos_domain::ids::ClientId;

/// The rows for the clients named by `filter` (SQL over `d.client_id` and
/// `e.client_id`, or empty for every client). A dose starts when its session
/// started, else at the visit's actual or scheduled start (a completed dosing
/// visit with no session charted); doses are ordered by (start, encounter
/// id), as `Store::dose_facts` orders them, and numbered within their course
/// (doses with no course among the client's others with none).
fn rows_sql(sessions_filter: &str, visits_filter: &str) -> String {
    format!(
        "SELECT r.client_id, r.id, r.t, r.number FROM ( \
           SELECT dose.client_id, dose.t, dose.id, \
             ROW_NUMBER() OVER (PARTITION BY dose.client_id, dose.course_id ORDER BY dose.t, dose.id) AS number, \
             ROW_NUMBER() OVER (PARTITION BY dose.client_id ORDER BY dose.t DESC, dose.id DESC) AS recency \
           FROM ( \
             SELECT d.client_id, d.started_at AS t, d.encounter_id AS id, e.course_id FROM dosing_sessions d \
               JOIN encounters e ON e.id = d.encounter_id WHERE e.kind = 'dosing' {sessions_filter} \
             UNION ALL \
             SELECT e.client_id, COALESCE(e.actual_start, e.scheduled_start) AS t, e.id, e.course_id FROM encounters e \
               WHERE e.kind = 'dosing' AND e.status = 'completed' {visits_filter} \
               AND NOT EXISTS (SELECT 1 FROM dosing_sessions x WHERE x.encounter_id = e.id) \
           ) dose \
         ) r \
         WHERE r.recency = 1 AND NOT EXISTS (SELECT 1 FROM encounters s WHERE s.client_id = r.client_id \
           AND s.kind IN ('integration', 'individual_therapy') AND s.status NOT IN ('cancelled', 'no_show') \
           AND COALESCE(s.actual_start, s.scheduled_start) > r.t)"
    )
}

/// Rebuilds the whole table (after a bulk load, which bypasses [`refresh`]).
pub(crate) fn rebuild_all_sql() -> String {
    format!(
        "DELETE FROM integration_due; \
         INSERT INTO integration_due (client_id, encounter_id, dose_at, number) {}",
        rows_sql("", "")
    )
}

/// Whether a change to an encounter of this kind can change what is due:
/// dosing visits (a dose given) and the therapy sessions that integrate one.
pub(crate) fn concerns(kind: EncounterKind) -> bool {
    matches!(kind, EncounterKind::Dosing | EncounterKind::Integration | EncounterKind::IndividualTherapy)
}

/// Recomputes the rows of `clients` inside `tx`, after a change to their
/// doses or therapy sessions in the same transaction. On PostgreSQL each
/// client's row is locked first (in id order, as bookings lock it), so two
/// transactions changing one client's record at once compute the row in
/// turn, the second seeing the first's change.
pub(crate) async fn refresh(tx: &mut sqlx::Transaction<'static, sqlx::Any>, clients: &[ClientId]) -> Result<()> {
    let mut ids: Vec<String> = clients.iter().map(ToString::to_string).collect();
    ids.sort();
    ids.dedup();
    for chunk in ids.chunks(500) {
        for id in chunk {
            sqlx::query("UPDATE clients SET updated_at = updated_at WHERE id = $1").bind(id).execute(&mut **tx).await?;
        }
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let list = marks.join(",");
        let mut delete =
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM integration_due WHERE client_id IN ({list})")));
        for id in chunk {
            delete = delete.bind(id);
        }
        delete.execute(&mut **tx).await?;
        let sql = format!(
            "INSERT INTO integration_due (client_id, encounter_id, dose_at, number) {}",
            rows_sql(&format!("AND d.client_id IN ({list})"), &format!("AND e.client_id IN ({list})"))
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            insert = insert.bind(id);
        }
        insert.execute(&mut **tx).await?;
    }
    Ok(())
}
