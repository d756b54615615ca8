//! Bulk loading (the demo practice, imports): many rows per statement and
//! per transaction, with one audit entry for the whole import.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::clients::bind_details;
use crate::rows::micros;
use crate::{Result, Store};
use jiff::Timestamp;
use kairos_domain::client::Client;
use kairos_domain::course::Course;
use kairos_domain::encounter::Encounter;
use kairos_domain::site::{Room, Site};
use kairos_domain::staff::Staff;
use kairos_domain::text::search_key;
use sqlx::AssertSqlSafe;

/// One batch of records to insert together.
#[derive(Debug, Default, Clone)]
pub struct ImportBatch {
    pub sites: Vec<Site>,
    pub rooms: Vec<Room>,
    /// Staff with an optional argon2id password hash.
    pub staff: Vec<(Staff, Option<String>)>,
    pub clients: Vec<Client>,
    pub courses: Vec<Course>,
    pub encounters: Vec<Encounter>,
    /// Questionnaires with their alerts (acknowledged or not).
    pub administrations: Vec<crate::measures::Administration>,
    /// Pre-treatment screens, signed or not.
    pub screens: Vec<crate::screens::Screen>,
}

/// Rows per statement. With anonymous `?` parameters on SQLite (see
/// `rows::placeholders_for`) binding is linear, so larger statements only
/// save round trips; PostgreSQL allows 65,535 parameters per statement.
const ROWS_PER_STATEMENT: usize = 128;

impl Store {
    /// Inserts a batch in one transaction, with one audit entry that says
    /// what was imported. Either all of it lands or none.
    pub async fn import(&self, actor: &Actor, what: &str, batch: &ImportBatch) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        for chunk in batch.sites.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO sites (id, name, time_zone, booking_seq, created_at, updated_at) VALUES {}",
                crate::rows::placeholders_for(self.backend, chunk.len(), 6)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for x in chunk {
                q = q
                    .bind(x.id.to_string())
                    .bind(x.name.clone())
                    .bind(x.time_zone.as_str().to_string())
                    .bind(0_i64)
                    .bind(micros(now))
                    .bind(micros(now));
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in batch.rooms.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO rooms (id, site_id, name, kind, created_at, updated_at) VALUES {}",
                crate::rows::placeholders_for(self.backend, chunk.len(), 6)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for x in chunk {
                q = q
                    .bind(x.id.to_string())
                    .bind(x.site_id.to_string())
                    .bind(x.name.clone())
                    .bind(x.kind.as_str())
                    .bind(micros(now))
                    .bind(micros(now));
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in batch.staff.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO staff (id, name, email, roles, password_hash, active, search_name, created_at, updated_at) VALUES {}",
                crate::rows::placeholders_for(self.backend, chunk.len(), 9)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (x, hash) in chunk {
                q = q
                    .bind(x.id.to_string())
                    .bind(x.name.clone())
                    .bind(x.email.to_string())
                    .bind(x.roles.to_list())
                    .bind(hash.clone())
                    .bind(i64::from(x.active))
                    .bind(search_key(&x.name))
                    .bind(micros(now))
                    .bind(micros(now));
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in batch.clients.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO clients (id, given_name, family_name, date_of_birth, pronouns, email, phone, \
                 emergency_contact_name, emergency_contact_phone, status, search_family, search_given, search_full, \
                 address, created_at, updated_at) VALUES {}",
                crate::rows::placeholders_for(self.backend, chunk.len(), 16)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for c in chunk {
                q = bind_details(q.bind(c.id.to_string()), &c.details)
                    .bind(micros(c.created_at))
                    .bind(micros(c.updated_at));
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in batch.courses.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO courses (id, client_id, protocol, phase, started_on, ended_on, prescriber_id, therapist_id, \
                 created_at, updated_at) VALUES {}",
                crate::rows::placeholders_for(self.backend, chunk.len(), 10)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for c in chunk {
                q = q
                    .bind(c.id.to_string())
                    .bind(c.client_id.to_string())
                    .bind(c.protocol.clone())
                    .bind(c.phase.as_str())
                    .bind(c.started_on.to_string())
                    .bind(c.ended_on.map(|d| d.to_string()))
                    .bind(c.prescriber_id.map(|s| s.to_string()))
                    .bind(c.therapist_id.map(|s| s.to_string()))
                    .bind(micros(c.created_at))
                    .bind(micros(c.updated_at));
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in batch.encounters.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO encounters ({}) VALUES {}",
                crate::encounters::COLS,
                crate::rows::placeholders_for(self.backend, chunk.len(), 14)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for e in chunk {
                q = crate::encounters::bind_encounter(q, e);
            }
            q.execute(&mut *tx).await?;
        }
        crate::measures::import_administrations(&mut tx, self.backend, &batch.administrations).await?;
        crate::screens::import_screens(&mut tx, self.backend, &batch.screens).await?;
        let mut entry = AuditEntry::new(Action::Create, "import", "").detail(format!(
            "{what}: {} sites, {} rooms, {} staff, {} clients, {} courses, {} encounters, {} questionnaires",
            batch.sites.len(),
            batch.rooms.len(),
            batch.staff.len(),
            batch.clients.len(),
            batch.courses.len(),
            batch.encounters.len(),
            batch.administrations.len()
        ));
        entry.record_id = None;
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Number of clients (used by the demo to decide whether to reuse).
    pub async fn count_clients(&self) -> Result<i64> {
        let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM clients").fetch_one(&self.pool).await?;
        Ok(n.0)
    }
}

impl Store {
    /// For a bulk load into a fresh scratch SQLite file: drops the secondary
    /// indexes of the bulk tables and returns their definitions, read from
    /// the schema itself, for [`Store::restore_indexes`]. Building an index
    /// once, sorted, is several times faster than keeping it up to date
    /// through millions of scattered inserts.
    pub async fn drop_bulk_indexes(&self) -> Result<Vec<(String, String)>> {
        if self.backend != crate::Backend::Sqlite {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ('clients', 'courses', 'encounters', 'measure_administrations', 'alerts', 'screens') ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        for (name, _) in &rows {
            // Names come from the schema (our own migrations), quoted anyway.
            sqlx::query(AssertSqlSafe(format!("DROP INDEX \"{}\"", name.replace('"', "\"\""))))
                .execute(&self.pool)
                .await?;
        }
        Ok(rows)
    }

    /// Recreates indexes dropped by [`Store::drop_bulk_indexes`].
    pub async fn restore_indexes(&self, indexes: &[(String, String)]) -> Result<()> {
        for (_, sql) in indexes {
            sqlx::query(AssertSqlSafe(sql.clone())).execute(&self.pool).await?;
        }
        Ok(())
    }
}
