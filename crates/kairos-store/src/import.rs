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
use kairos_domain::ids::ClientId;
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
                crate::rows::placeholders_for(self.backend, chunk.len(), 15)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for e in chunk {
                q = crate::encounters::bind_encounter(q, e);
            }
            q.execute(&mut *tx).await?;
        }
        crate::measures::import_administrations(&mut tx, self.backend, &batch.administrations).await?;
        crate::screens::import_screens(&mut tx, self.backend, &batch.screens).await?;
        let dosed: Vec<ClientId> =
            batch.encounters.iter().filter(|e| crate::integration_due::concerns(e.kind)).map(|e| e.client_id).collect();
        crate::integration_due::refresh(&mut tx, &dosed).await?;
        audit::insert_in(&mut tx, actor, &import_entry(what, batch), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Number of clients (used by the demo to decide whether to reuse).
    pub async fn count_clients(&self) -> Result<i64> {
        let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM clients").fetch_one(&self.pool).await?;
        Ok(n.0)
    }
}

/// The one audit entry of an imported batch: what it held.
fn import_entry(what: &str, batch: &ImportBatch) -> AuditEntry {
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
    entry
}

/// The secondary indexes of the bulk tables, with their definitions.
const BULK_INDEXES: &str = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
     AND tbl_name IN ('clients', 'courses', 'encounters', 'measure_administrations', 'alerts', 'screens') ORDER BY name";

/// A bulk load into a fresh scratch SQLite file, one that
/// [`Store::connect`] made with `scratch_bulk_load` and that is renamed into
/// place once complete, on a connection of its own (rusqlite, as in
/// `direct.rs`): each row is bound straight from its record into a
/// statement prepared once, with no hand-off to another thread per statement.
///
/// While it loads, the secondary indexes of the bulk tables are dropped
/// (building an index once, sorted, is several times faster than keeping it
/// up to date through millions of scattered inserts) and foreign keys are not
/// checked: the loader's caller makes every record together with those it
/// refers to, in the same order as [`Store::import`] would insert them.
/// [`ScratchLoad::finish`] builds the indexes again, sorting in memory.
pub struct ScratchLoad {
    conn: rusqlite::Connection,
    indexes: Vec<(String, String)>,
}

impl ScratchLoad {
    /// Opens the scratch file at `path` (its schema already made) with a page
    /// cache of `cache_kib`, and drops the bulk tables' secondary indexes.
    pub fn open(path: &std::path::Path, cache_kib: u32) -> Result<ScratchLoad> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        // A scratch file: no journal on disk, no fsync (as the store's own
        // connections to it); the index sorts stay in memory.
        conn.pragma_update_and_check(None, "journal_mode", "MEMORY", |r| r.get::<_, String>(0))?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.pragma_update(None, "foreign_keys", false)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", -i64::from(cache_kib))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let indexes = conn
            .prepare(BULK_INDEXES)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
        for (name, _) in &indexes {
            // Names come from the schema (our own migrations), quoted anyway.
            conn.execute_batch(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))?;
        }
        Ok(ScratchLoad { conn, indexes })
    }

    /// Inserts a batch in one transaction with one audit entry, the same
    /// rows as [`Store::import`] in the same order.
    pub fn import(&mut self, actor: &Actor, what: &str, batch: &ImportBatch) -> Result<()> {
        use rusqlite::params;
        let at = Timestamp::now();
        let now = micros(at);
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO sites (id, name, time_zone, booking_seq, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?)",
            )?;
            for x in &batch.sites {
                insert.execute(params![IdText::of(x.id.0), x.name, x.time_zone.as_str(), now, now])?;
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO rooms (id, site_id, name, kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            )?;
            for x in &batch.rooms {
                insert.execute(params![
                    IdText::of(x.id.0),
                    IdText::of(x.site_id.0),
                    x.name,
                    x.kind.as_str(),
                    now,
                    now
                ])?;
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO staff (id, name, email, roles, password_hash, active, search_name, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for (x, hash) in &batch.staff {
                insert.execute(params![
                    IdText::of(x.id.0),
                    x.name,
                    x.email.to_string(),
                    x.roles.to_list(),
                    hash,
                    x.active,
                    search_key(&x.name),
                    now,
                    now
                ])?;
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO clients (id, given_name, family_name, date_of_birth, pronouns, email, phone, \
                 emergency_contact_name, emergency_contact_phone, status, search_family, search_given, search_full, \
                 address, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for c in &batch.clients {
                let d = &c.details;
                let (family, given, full) = crate::clients::search_keys(d);
                insert.execute(params![
                    IdText::of(c.id.0),
                    d.given_name,
                    d.family_name,
                    d.date_of_birth.to_string(),
                    d.pronouns,
                    d.email.as_ref().map(|e| e.to_string()),
                    d.phone,
                    d.emergency_contact_name,
                    d.emergency_contact_phone,
                    d.status.as_str(),
                    family,
                    given,
                    full,
                    d.address,
                    micros(c.created_at),
                    micros(c.updated_at)
                ])?;
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO courses (id, client_id, protocol, phase, started_on, ended_on, prescriber_id, therapist_id, \
                 created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for c in &batch.courses {
                insert.execute(params![
                    IdText::of(c.id.0),
                    IdText::of(c.client_id.0),
                    c.protocol,
                    c.phase.as_str(),
                    c.started_on.to_string(),
                    c.ended_on.map(|d| d.to_string()),
                    c.prescriber_id.map(|s| IdText::of(s.0)),
                    c.therapist_id.map(|s| IdText::of(s.0)),
                    micros(c.created_at),
                    micros(c.updated_at)
                ])?;
            }
        }
        {
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO encounters ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                crate::encounters::COLS
            ))?;
            for e in &batch.encounters {
                insert.execute(params![
                    IdText::of(e.id.0),
                    IdText::of(e.client_id.0),
                    e.course_id.map(|c| IdText::of(c.0)),
                    IdText::of(e.site_id.0),
                    e.room_id.map(|r| IdText::of(r.0)),
                    e.staff_id.map(|s| IdText::of(s.0)),
                    e.kind.as_str(),
                    e.status.as_str(),
                    micros(e.scheduled_start),
                    micros(e.scheduled_end),
                    e.actual_start.map(micros),
                    e.actual_end.map(micros),
                    micros(e.created_at),
                    micros(e.updated_at),
                    e.status_reason.as_deref()
                ])?;
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO measure_administrations (id, client_id, course_id, instrument_id, instrument_version, \
                 completed_at, answers, score, prorated, subscores, severity, provisional_diagnosis, source, entered_by, \
                 created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for a in &batch.administrations {
                insert.execute(params![
                    IdText::of(a.id.0),
                    IdText::of(a.client_id.0),
                    a.course_id.map(|c| IdText::of(c.0)),
                    a.instrument,
                    a.instrument_version,
                    micros(a.completed_at),
                    a.answers.as_ref().map(serde_json::to_string).transpose().map_err(json_corrupt)?,
                    a.score,
                    a.prorated,
                    serde_json::to_string(&a.subscores).map_err(json_corrupt)?,
                    a.severity,
                    a.provisional_diagnosis,
                    a.source.as_str(),
                    a.entered_by.map(|s| IdText::of(s.0)),
                    micros(a.created_at)
                ])?;
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO alerts (id, client_id, administration_id, instrument_id, item, item_value, level, message, \
                 self_harm, created_at, acknowledged_at, acknowledged_by, action_note) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for a in batch.administrations.iter().flat_map(|a| &a.alerts) {
                let ack = a.acknowledged.as_ref();
                insert.execute(params![
                    IdText::of(a.id.0),
                    IdText::of(a.client_id.0),
                    a.administration_id.map(|x| IdText::of(x.0)),
                    a.instrument,
                    a.item,
                    a.item_value,
                    a.level.as_str(),
                    a.message,
                    a.self_harm,
                    micros(a.created_at),
                    ack.map(|k| micros(k.at)),
                    ack.map(|k| IdText::of(k.by.0)),
                    ack.map(|k| k.action_note.as_str())
                ])?;
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO screens (id, course_id, client_id, findings, classified, recorded_by, recorded_at, eligible, \
                 decision, signed_by, signed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for s in &batch.screens {
                let sig = s.signature.as_ref();
                insert.execute(params![
                    IdText::of(s.id.0),
                    IdText::of(s.course_id.0),
                    IdText::of(s.client_id.0),
                    serde_json::to_string(&s.findings).map_err(json_corrupt)?,
                    serde_json::to_string(&s.classified).map_err(json_corrupt)?,
                    s.recorded_by.map(|x| IdText::of(x.0)),
                    micros(s.recorded_at),
                    sig.map(|g| g.decision.eligible),
                    sig.map(|g| serde_json::to_string(&g.decision)).transpose().map_err(json_corrupt)?,
                    sig.map(|g| IdText::of(g.by.0)),
                    sig.map(|g| micros(g.at))
                ])?;
            }
        }
        crate::direct::insert_audit(&tx, &audit::row_of(actor, &import_entry(what, batch), at))?;
        tx.commit()?;
        Ok(())
    }

    /// Builds the dropped indexes again, each from one sorted pass over its
    /// table, then the doses waiting for an integration session (which the
    /// load's inserts did not keep), and closes the connection.
    pub fn finish(self) -> Result<()> {
        for (_, sql) in &self.indexes {
            self.conn.execute_batch(sql)?;
        }
        self.conn.execute_batch(&crate::integration_due::rebuild_all_sql())?;
        self.conn.close().map_err(|(_, e)| e)?;
        Ok(())
    }
}

fn json_corrupt(e: serde_json::Error) -> crate::StoreError {
    crate::StoreError::corrupt(format!("imported record: {e}"))
}

/// An id bound as the text the store keeps (lower-case, hyphenated), without
/// allocating a string for it.
struct IdText([u8; uuid::fmt::Hyphenated::LENGTH]);

impl IdText {
    fn of(id: uuid::Uuid) -> IdText {
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        id.hyphenated().encode_lower(&mut text);
        IdText(text)
    }
}

impl rusqlite::ToSql for IdText {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(&self.0)))
    }
}
