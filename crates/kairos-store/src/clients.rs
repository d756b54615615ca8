//! Clients and the chart summary.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Page, PageRequest, Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::client::{Client, ClientDetails, ClientStatus};
use kairos_domain::course::Course;
use kairos_domain::encounter::Encounter;
use kairos_domain::ids::ClientId;
use kairos_domain::text::{Email, search_key};

pub(crate) const CLIENT_COLS: &str = "id, given_name, family_name, date_of_birth, pronouns, email, phone, \
     emergency_contact_name, emergency_contact_phone, status, address, created_at, updated_at";

pub(crate) fn client_of<R: rows::Cols>(r: &R) -> Result<Client> {
    Ok(Client {
        id: rows::get_id(r, "id")?,
        details: ClientDetails {
            given_name: rows::get_str(r, "given_name")?,
            family_name: rows::get_str(r, "family_name")?,
            date_of_birth: rows::get_date(r, "date_of_birth")?,
            pronouns: rows::get_opt_str(r, "pronouns")?,
            email: rows::get_opt_str(r, "email")?.map(|e| Email::parse("email", &e)).transpose()?,
            phone: rows::get_opt_str(r, "phone")?,
            address: rows::get_opt_str(r, "address")?,
            emergency_contact_name: rows::get_opt_str(r, "emergency_contact_name")?,
            emergency_contact_phone: rows::get_opt_str(r, "emergency_contact_phone")?,
            status: ClientStatus::parse("status", &rows::get_str(r, "status")?)?,
        },
        created_at: rows::get_ts(r, "created_at")?,
        updated_at: rows::get_ts(r, "updated_at")?,
    })
}

/// Binds a client's details in column order: given_name, family_name,
/// date_of_birth, pronouns, email, phone, emergency_contact_name,
/// emergency_contact_phone, status, the three search keys, then address.
pub(crate) fn bind_details<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    d: &ClientDetails,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let (f, g, full) = search_keys(d);
    q.bind(d.given_name.clone())
        .bind(d.family_name.clone())
        .bind(d.date_of_birth.to_string())
        .bind(d.pronouns.clone())
        .bind(d.email.as_ref().map(|e| e.to_string()))
        .bind(d.phone.clone())
        .bind(d.emergency_contact_name.clone())
        .bind(d.emergency_contact_phone.clone())
        .bind(d.status.as_str())
        .bind(f)
        .bind(g)
        .bind(full)
        .bind(d.address.clone())
}

/// Search keys: family name, given name, and "given family".
pub(crate) fn search_keys(d: &ClientDetails) -> (String, String, String) {
    (search_key(&d.family_name), search_key(&d.given_name), search_key(&format!("{} {}", d.given_name, d.family_name)))
}

/// What a clinician sees first: the client, their courses, what is coming
/// and what just happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub client: Client,
    pub courses: Vec<Course>,
    /// Booked or arrived encounters from now on, soonest first.
    pub upcoming: Vec<Encounter>,
    /// Encounters scheduled before now, most recent first.
    pub recent: Vec<Encounter>,
}

/// How many upcoming and recent encounters a chart summary carries.
pub const CHART_ENCOUNTERS: i64 = 10;

impl Store {
    pub async fn create_client(&self, actor: &Actor, details: &ClientDetails) -> Result<Client> {
        let now = Timestamp::now();
        let client = Client { id: ClientId::new(), details: details.clone(), created_at: now, updated_at: now };
        let mut tx = self.begin_write().await?;
        let insert = sqlx::query(
            "INSERT INTO clients (id, given_name, family_name, date_of_birth, pronouns, email, phone, \
             emergency_contact_name, emergency_contact_phone, status, search_family, search_given, search_full, \
             address, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
        )
        .bind(client.id.to_string());
        bind_details(insert, details).bind(micros(now)).execute(&mut *tx).await?;
        audit::insert_in(&mut tx, actor, &AuditEntry::new(Action::Create, "client", client.id).client(client.id), now)
            .await?;
        tx.commit().await?;
        Ok(client)
    }

    /// Replaces a client's details.
    pub async fn update_client(&self, actor: &Actor, id: ClientId, details: &ClientDetails) -> Result<Client> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let client = update_client_in(&mut tx, actor, id, details, now).await?;
        tx.commit().await?;
        Ok(client)
    }

    /// The client record alone (no audit: callers that show it to a person
    /// audit the read).
    pub async fn get_client(&self, id: ClientId) -> Result<Client> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CLIENT_COLS} FROM clients WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "client", id: id.to_string() })?;
        client_of(&row)
    }

    /// Clients whose family name, given name or full name starts with
    /// `search` (case-insensitive), by family name. Audited as one list read.
    pub async fn search_clients(
        &self,
        actor: &Actor,
        search: Option<&str>,
        status: Option<ClientStatus>,
        page: PageRequest,
    ) -> Result<Page<Client>> {
        let term = search.map(search_key).unwrap_or_default();
        // A prefix match each name index answers: SQLite's LIKE ignores
        // ASCII case, so it cannot use the (already lower-cased) keys'
        // indexes, and GLOB can; PostgreSQL's LIKE uses the keys' pattern
        // indexes (migration 0021).
        let (pattern, filter) = match self.backend {
            crate::Backend::Sqlite => (
                rows::glob_prefix(&term),
                "WHERE (search_family GLOB $1 OR search_given GLOB $1 OR search_full GLOB $1) \
                 AND ($2 IS NULL OR status = $2)",
            ),
            crate::Backend::Postgres => (
                rows::like_prefix(&term),
                "WHERE (search_family LIKE $1 ESCAPE '\\' OR search_given LIKE $1 ESCAPE '\\' \
                 OR search_full LIKE $1 ESCAPE '\\') AND ($2 IS NULL OR status = $2)",
            ),
        };
        let status = status.map(|s| s.as_str().to_string());
        let total: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM clients {filter}")))
            .bind(pattern.clone())
            .bind(status.clone())
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CLIENT_COLS} FROM clients {filter} ORDER BY search_family, search_given, id LIMIT $3 OFFSET $4"
        )))
        .bind(pattern)
        .bind(status)
        .bind(i64::from(page.limit))
        .bind(i64::from(page.offset))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(client_of).collect::<Result<Vec<_>>>()?;
        // One entry per client shown, so each client's audit trail tells who
        // saw them in a list. The search text itself is not kept: it may be
        // a client's name.
        let entries: Vec<AuditEntry> = if items.is_empty() {
            let mut e = AuditEntry::new(Action::List, "client", "").detail("client list: no matches");
            e.record_id = None;
            vec![e]
        } else {
            items
                .iter()
                .map(|c| AuditEntry::new(Action::List, "client", c.id).client(c.id).detail("client list"))
                .collect()
        };
        self.audit_reads(actor, &entries).await?;
        Ok(Page { items, total: total.0, limit: page.limit, offset: page.offset })
    }

    /// The chart summary, with its read audited durably before it returns.
    /// Three queries on one connection: the client, the courses, and the
    /// upcoming and recent encounters together.
    pub async fn read_chart(&self, actor: &Actor, id: ClientId, now: Timestamp) -> Result<Chart> {
        let chart = match &self.readers {
            Some(readers) => readers.read(|conn| chart_direct(conn, id, now))?,
            None => self.chart_sqlx(id, now).await?,
        };
        self.audit_read(actor, AuditEntry::new(Action::Read, "client", id).client(id).detail("chart")).await?;
        Ok(chart)
    }

    async fn chart_sqlx(&self, id: ClientId, now: Timestamp) -> Result<Chart> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(CLIENT_BY_ID_SQL.as_str()))
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "client", id: id.to_string() })?;
        let client = client_of(&row)?;
        let courses = crate::courses::courses_of_in(&mut conn, id).await?;
        let encounters = sqlx::query(CHART_ENCOUNTERS_SQL)
            .bind(id.to_string())
            .bind(micros(now))
            .bind(CHART_ENCOUNTERS)
            .fetch_all(&mut *conn)
            .await?;
        drop(conn);
        let encounters = encounters.iter().map(crate::encounters::encounter_of).collect::<Result<Vec<_>>>()?;
        Ok(Chart::assemble(client, courses, encounters, now))
    }
}

impl Chart {
    fn assemble(client: Client, courses: Vec<Course>, encounters: Vec<Encounter>, now: Timestamp) -> Chart {
        let (upcoming, recent) = encounters.into_iter().partition(|e| e.scheduled_start >= now);
        Chart { client, courses, upcoming, recent }
    }
}

/// The chart's three statements on the direct SQLite path (`direct.rs`),
/// inside the caller's read transaction: the same SQL as the sqlx path.
fn chart_direct(conn: &rusqlite::Connection, id: ClientId, now: Timestamp) -> Result<Chart> {
    let key = id.to_string();
    let client = rows::query_named(&mut conn.prepare_cached(&CLIENT_BY_ID_SQL)?, [&key], |r| client_of(r))?
        .pop()
        .ok_or_else(|| StoreError::NotFound { record: "client", id: key.clone() })?;
    let courses = rows::query_named(&mut conn.prepare_cached(&crate::courses::COURSES_OF_CLIENT_SQL)?, [&key], |r| {
        crate::courses::course_of(r)
    })?;
    let encounters = rows::query_named(
        &mut conn.prepare_cached(CHART_ENCOUNTERS_SQL)?,
        rusqlite::params![key, micros(now), CHART_ENCOUNTERS],
        |r| crate::encounters::encounter_of(r),
    )?;
    Ok(Chart::assemble(client, courses, encounters, now))
}

static CLIENT_BY_ID_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {CLIENT_COLS} FROM clients WHERE id = $1"));

/// The next booked or arrived encounters (soonest first), then the last
/// ones before now (latest first), at most `$3` of each.
const CHART_ENCOUNTERS_SQL: &str = "SELECT * FROM (SELECT id, client_id, course_id, site_id, room_id, staff_id, kind, \
     status, scheduled_start, scheduled_end, actual_start, actual_end, created_at, updated_at, status_reason FROM encounters \
     WHERE client_id = $1 AND scheduled_start >= $2 AND status IN ('booked', 'arrived') \
     ORDER BY scheduled_start, id LIMIT $3) AS upcoming \
     UNION ALL \
     SELECT * FROM (SELECT id, client_id, course_id, site_id, room_id, staff_id, kind, \
     status, scheduled_start, scheduled_end, actual_start, actual_end, created_at, updated_at, status_reason FROM encounters \
     WHERE client_id = $1 AND scheduled_start < $2 ORDER BY scheduled_start DESC, id DESC LIMIT $3) AS recent";

impl Store {
    /// Several clients by id (for lists that show names), in no order.
    /// Not audited: the caller audits what it shows.
    pub async fn clients_by_ids(&self, ids: &[ClientId]) -> Result<Vec<Client>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT {CLIENT_COLS} FROM clients WHERE id IN ({})", marks.join(","));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.to_string());
            }
            for row in q.fetch_all(&self.pool).await? {
                out.push(client_of(&row)?);
            }
        }
        Ok(out)
    }
}

/// Replaces a client's details inside the caller's transaction: the
/// details as they were are kept as a version, and the audit entry names the
/// fields changed (never their values).
pub(crate) async fn update_client_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    actor: &Actor,
    id: ClientId,
    details: &ClientDetails,
    now: Timestamp,
) -> Result<Client> {
    let before = client_in(tx, id).await?;
    let update = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE clients SET given_name = $2, family_name = $3, date_of_birth = $4, pronouns = $5, email = $6, \
         phone = $7, emergency_contact_name = $8, emergency_contact_phone = $9, status = $10, \
         search_family = $11, search_given = $12, search_full = $13, address = $14, updated_at = $15 \
         WHERE id = $1 RETURNING {CLIENT_COLS}"
    )))
    .bind(id.to_string());
    let row = bind_details(update, details)
        .bind(micros(now))
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "client", id: id.to_string() })?;
    let changed = keep_version_in(tx, actor, &before, details, now).await?;
    let detail = if changed.is_empty() { "no change".to_string() } else { format!("changed: {}", changed.join(", ")) };
    audit::insert_in(tx, actor, &AuditEntry::new(Action::Update, "client", id).client(id).detail(detail), now).await?;
    client_of(&row)
}

/// The client row inside a transaction (locked on PostgreSQL).
pub(crate) async fn client_in(tx: &mut sqlx::Transaction<'static, sqlx::Any>, id: ClientId) -> Result<Client> {
    let lock = if matches!(tx.backend_name(), "PostgreSQL") { " FOR UPDATE" } else { "" };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CLIENT_COLS} FROM clients WHERE id = $1{lock}")))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "client", id: id.to_string() })?;
    client_of(&row)
}

/// Keeps `before`'s details as the client's next version when `after`
/// differs from them; returns the fields changed.
pub(crate) async fn keep_version_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    actor: &Actor,
    before: &Client,
    after: &ClientDetails,
    now: Timestamp,
) -> Result<Vec<&'static str>> {
    let changed: Vec<&'static str> = before.details.changes_to(after).into_iter().map(|c| c.field).collect();
    if changed.is_empty() {
        return Ok(changed);
    }
    let (last,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM client_versions WHERE client_id = $1")
        .bind(before.id.to_string())
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO client_versions (client_id, version, details, changed_fields, changed_by, changed_by_label, \
         changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(before.id.to_string())
    .bind(last.unwrap_or(0) + 1)
    .bind(serde_json::to_string(&before.details).map_err(StoreError::corrupt)?)
    .bind(changed.join(","))
    .bind(actor.staff_id.map(|s| s.to_string()))
    .bind(actor.roles.clone())
    .bind(micros(now))
    .execute(&mut **tx)
    .await?;
    Ok(changed)
}

/// One change of a client's details: when, by whom, and each field before
/// and after.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ClientDetailsChange))]
pub struct DetailsChange {
    /// 1 for the first change of the record.
    pub version: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub changed_at: Timestamp,
    /// The staff member who made it; none for the system or the client
    /// confirming a change of address from the portal's link.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub changed_by: Option<kairos_domain::ids::StaffId>,
    /// The roles held then, or who it was when not a staff member.
    pub changed_by_roles: String,
    pub changes: Vec<kairos_domain::client::FieldChange>,
}

impl Store {
    /// Every change of a client's details, newest first, each field with
    /// its value before and after (the versions kept, and the record as it
    /// stands for the latest). Not audited: the caller audits the read.
    pub async fn client_history(&self, id: ClientId) -> Result<Vec<DetailsChange>> {
        let current = self.get_client(id).await?;
        let rows = sqlx::query(
            "SELECT version, details, changed_by, changed_by_label, changed_at FROM client_versions \
             WHERE client_id = $1 ORDER BY version",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut versions = Vec::with_capacity(rows.len());
        for r in &rows {
            let details: ClientDetails =
                serde_json::from_str(&rows::get_str(r, "details")?).map_err(StoreError::corrupt)?;
            versions.push((r, details));
        }
        let mut out = Vec::with_capacity(versions.len());
        for (i, (r, before)) in versions.iter().enumerate() {
            let after = versions.get(i + 1).map(|(_, d)| d).unwrap_or(&current.details);
            out.push(DetailsChange {
                version: rows::get_i64(*r, "version")?,
                changed_at: rows::get_ts(*r, "changed_at")?,
                changed_by: rows::get_opt_id(*r, "changed_by")?,
                changed_by_roles: rows::get_str(*r, "changed_by_label")?,
                changes: before.changes_to(after),
            });
        }
        out.reverse();
        Ok(out)
    }
}
