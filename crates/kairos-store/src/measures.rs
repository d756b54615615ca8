//! Administered questionnaires, the safety alerts they raise, and
//! self-report links.
//!
//! An administration and its alerts commit in one transaction with the audit
//! entry, before anyone is told it was stored: an alert raised from a
//! client's phone survives a crash the moment the phone sees "thank you".
//! Administrations are immutable (a database trigger enforces it); the only
//! change is marking one entered in error, with a reason.
//!
//! On a SQLite file, recording a questionnaire (and submitting a link) goes
//! through the group-commit writer (`direct.rs`): the same statements and
//! checks, each submission in a savepoint of its own, many submissions per
//! durable commit. PostgreSQL and in-memory SQLite keep the sqlx path.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, Cols, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::ids::{AdministrationId, AlertId, ClientId, CourseId, MeasureRequestId, StaffId};
use kairos_domain::instruments::{AlertLevel, Scored};
use serde::Serialize;
use std::collections::BTreeMap;

/// Who filled the questionnaire in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureSource {
    /// Entered by a clinician (in session, or from paper).
    Clinician,
    /// The client, through a self-report link.
    SelfReport,
}

impl MeasureSource {
    pub fn as_str(self) -> &'static str {
        match self {
            MeasureSource::Clinician => "clinician",
            MeasureSource::SelfReport => "self_report",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "clinician" => Ok(MeasureSource::Clinician),
            "self_report" => Ok(MeasureSource::SelfReport),
            other => Err(StoreError::corrupt(format!("measure source `{other}`"))),
        }
    }
}

/// What to store: the instrument's scoring has already run.
#[derive(Debug, Clone)]
pub struct NewAdministration {
    pub client_id: ClientId,
    pub course_id: Option<CourseId>,
    pub instrument_id: String,
    pub instrument_version: String,
    pub completed_at: Timestamp,
    /// `None` when only the total was entered.
    pub answers: Option<Vec<Option<i64>>>,
    pub scored: Scored,
    pub source: MeasureSource,
    pub entered_by: Option<StaffId>,
}

/// Why and by whom an administration was retracted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnteredInError {
    pub reason: String,
    pub by: Option<StaffId>,
    pub at: Timestamp,
}

/// A stored questionnaire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Administration {
    pub id: AdministrationId,
    pub client_id: ClientId,
    pub course_id: Option<CourseId>,
    pub instrument: String,
    pub instrument_version: String,
    pub completed_at: Timestamp,
    pub answers: Option<Vec<Option<i64>>>,
    pub score: i64,
    pub prorated: bool,
    pub subscores: BTreeMap<String, i64>,
    pub severity: Option<String>,
    pub provisional_diagnosis: Option<bool>,
    pub source: MeasureSource,
    pub entered_by: Option<StaffId>,
    pub created_at: Timestamp,
    pub entered_in_error: Option<EnteredInError>,
    pub alerts: Vec<Alert>,
}

/// An acknowledgement: who looked at the alert and what they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acknowledgement {
    pub at: Timestamp,
    pub by: StaffId,
    pub action_note: String,
}

/// A safety alert raised by an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub id: AlertId,
    pub client_id: ClientId,
    pub administration_id: Option<AdministrationId>,
    pub instrument: Option<String>,
    pub item: Option<String>,
    pub item_value: Option<i64>,
    pub level: AlertLevel,
    pub message: String,
    pub self_harm: bool,
    pub created_at: Timestamp,
    pub acknowledged: Option<Acknowledgement>,
    /// The dosing session whose vital signs raised it (none for a
    /// questionnaire's).
    pub dosing_session_id: Option<kairos_domain::ids::DosingSessionId>,
    /// Who charted the reading: they see it beside the care team.
    pub notify_staff_id: Option<StaffId>,
}

impl Alert {
    /// An urgent alert raised by something other than a questionnaire (a
    /// dosing session's reading, a client's "I need help now").
    pub(crate) fn urgent(client_id: ClientId, item: &str, message: &str, at: Timestamp) -> Alert {
        Alert {
            id: AlertId::new(),
            client_id,
            administration_id: None,
            instrument: None,
            item: Some(item.to_string()),
            item_value: None,
            level: AlertLevel::Urgent,
            message: message.to_string(),
            self_harm: false,
            created_at: at,
            acknowledged: None,
            dosing_session_id: None,
            notify_staff_id: None,
        }
    }
}

/// An open alert with the client's name, for work lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenAlert {
    #[serde(flatten)]
    pub alert: Alert,
    pub client_name: String,
}

const ADMIN_COLS: &str = "id, client_id, course_id, instrument_id, instrument_version, completed_at, answers, score, \
     prorated, subscores, severity, provisional_diagnosis, source, entered_by, created_at, error_reason, error_by, error_at";
const ALERT_COLS: &str = "id, client_id, administration_id, instrument_id, item, item_value, level, message, self_harm, \
     created_at, acknowledged_at, acknowledged_by, action_note, dosing_session_id, notify_staff_id";

fn json_corrupt(e: serde_json::Error) -> StoreError {
    StoreError::corrupt(format!("stored JSON: {e}"))
}

fn administration_of<R: Cols>(r: &R) -> Result<Administration> {
    let answers =
        rows::get_opt_str(r, "answers")?.map(|s| serde_json::from_str(&s)).transpose().map_err(json_corrupt)?;
    let subscores = serde_json::from_str(&rows::get_str(r, "subscores")?).map_err(json_corrupt)?;
    let entered_in_error = match rows::get_opt_ts(r, "error_at")? {
        Some(at) => Some(EnteredInError {
            reason: rows::get_opt_str(r, "error_reason")?.unwrap_or_default(),
            by: rows::get_opt_id(r, "error_by")?,
            at,
        }),
        None => None,
    };
    Ok(Administration {
        id: rows::get_id(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        course_id: rows::get_opt_id(r, "course_id")?,
        instrument: rows::get_str(r, "instrument_id")?,
        instrument_version: rows::get_str(r, "instrument_version")?,
        completed_at: rows::get_ts(r, "completed_at")?,
        answers,
        score: rows::get_i64(r, "score")?,
        prorated: rows::get_i64(r, "prorated")? != 0,
        subscores,
        severity: rows::get_opt_str(r, "severity")?,
        provisional_diagnosis: r.opt_int("provisional_diagnosis")?.map(|v| v != 0),
        source: MeasureSource::parse(&rows::get_str(r, "source")?)?,
        entered_by: rows::get_opt_id(r, "entered_by")?,
        created_at: rows::get_ts(r, "created_at")?,
        entered_in_error,
        alerts: Vec::new(),
    })
}

fn alert_of<R: Cols>(r: &R) -> Result<Alert> {
    let acknowledged = match rows::get_opt_ts(r, "acknowledged_at")? {
        Some(at) => Some(Acknowledgement {
            at,
            by: rows::get_id(r, "acknowledged_by")?,
            action_note: rows::get_opt_str(r, "action_note")?.unwrap_or_default(),
        }),
        None => None,
    };
    let level = match rows::get_str(r, "level")?.as_str() {
        "urgent" => AlertLevel::Urgent,
        "review" => AlertLevel::Review,
        other => return Err(StoreError::corrupt(format!("alert level `{other}`"))),
    };
    Ok(Alert {
        id: rows::get_id(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        administration_id: rows::get_opt_id(r, "administration_id")?,
        instrument: rows::get_opt_str(r, "instrument_id")?,
        item: rows::get_opt_str(r, "item")?,
        item_value: r.opt_int("item_value")?,
        level,
        message: rows::get_str(r, "message")?,
        self_harm: rows::get_i64(r, "self_harm")? != 0,
        created_at: rows::get_ts(r, "created_at")?,
        acknowledged,
        dosing_session_id: rows::get_opt_id(r, "dosing_session_id")?,
        notify_staff_id: rows::get_opt_id(r, "notify_staff_id")?,
    })
}

/// The statements that record a questionnaire, run by both paths (sqlx, and
/// the direct SQLite writer, which binds by position: see
/// `MARK_REQUEST_SUBMITTED_SQL`).
const INSERT_ADMINISTRATION_SQL: &str = "INSERT INTO measure_administrations (id, client_id, course_id, \
     instrument_id, instrument_version, completed_at, answers, score, prorated, subscores, severity, \
     provisional_diagnosis, source, entered_by, request_id, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
const INSERT_ALERT_SQL: &str = "INSERT INTO alerts (id, client_id, administration_id, instrument_id, item, \
     item_value, level, message, self_harm, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const CLIENT_EXISTS_SQL: &str = "SELECT id FROM clients WHERE id = $1";
const COURSE_OWNER_SQL: &str = "SELECT client_id FROM courses WHERE id = $1";
/// Numbered in order of appearance, as in every statement of the direct path:
/// rusqlite binds `$N` by position, and SQLite numbers a `$N` parameter by
/// where it first appears, not by its digits (sqlx reads the digits).
const MARK_REQUEST_SUBMITTED_SQL: &str = "UPDATE measure_requests SET submitted_at = $1, administration_id = $2, \
     idempotency_key = $3 WHERE id = $4 AND submitted_at IS NULL";

/// Every statement the direct path runs here (checked by `direct.rs`'s tests).
#[cfg(test)]
pub(crate) const DIRECT_SQL: [&str; 6] = [
    INSERT_ADMINISTRATION_SQL,
    INSERT_ALERT_SQL,
    CLIENT_EXISTS_SQL,
    COURSE_OWNER_SQL,
    MARK_REQUEST_SUBMITTED_SQL,
    LINK_BY_TOKEN_SQL,
];

/// Inserts an alert raised by something other than a questionnaire (a
/// dosing session's reading, a client's "I need help now") in `tx`.
pub(crate) async fn insert_alert_in(tx: &mut sqlx::Transaction<'static, sqlx::Any>, a: &Alert) -> Result<()> {
    let sql = format!("INSERT INTO alerts ({ALERT_COLS}) VALUES {}", rows::placeholders(1, 15));
    bind_alert(sqlx::query(sqlx::AssertSqlSafe(sql)), a).execute(&mut **tx).await?;
    Ok(())
}

/// Binds every column of [`ALERT_COLS`] for `a`, in order.
fn bind_alert<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    a: &Alert,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(a.id.to_string())
        .bind(a.client_id.to_string())
        .bind(a.administration_id.map(|x| x.to_string()))
        .bind(a.instrument.clone())
        .bind(a.item.clone())
        .bind(a.item_value)
        .bind(a.level.as_str())
        .bind(a.message.clone())
        .bind(i64::from(a.self_harm))
        .bind(micros(a.created_at))
        .bind(a.acknowledged.as_ref().map(|k| micros(k.at)))
        .bind(a.acknowledged.as_ref().map(|k| k.by.to_string()))
        .bind(a.acknowledged.as_ref().map(|k| k.action_note.clone()))
        .bind(a.dosing_session_id.map(|x| x.to_string()))
        .bind(a.notify_staff_id.map(|x| x.to_string()))
}

/// An administration ready to insert: its ids, time and JSON made before
/// any transaction, so both paths store exactly the same values.
struct Prepared {
    admin: Administration,
    answers: Option<String>,
    subscores: String,
    request_id: Option<MeasureRequestId>,
}

fn prepare(new: &NewAdministration, request_id: Option<MeasureRequestId>, now: Timestamp) -> Result<Prepared> {
    let id = AdministrationId::new();
    let answers = new.answers.as_ref().map(serde_json::to_string).transpose().map_err(json_corrupt)?;
    let subscores = serde_json::to_string(&new.scored.subscores).map_err(json_corrupt)?;
    let alerts = new
        .scored
        .alerts
        .iter()
        .map(|fired| Alert {
            id: AlertId::new(),
            client_id: new.client_id,
            administration_id: Some(id),
            instrument: Some(new.instrument_id.clone()),
            item: Some(fired.item.clone()),
            item_value: Some(fired.value),
            level: fired.level,
            message: fired.message.clone(),
            self_harm: fired.self_harm,
            created_at: now,
            acknowledged: None,
            dosing_session_id: None,
            notify_staff_id: None,
        })
        .collect();
    let admin = Administration {
        id,
        client_id: new.client_id,
        course_id: new.course_id,
        instrument: new.instrument_id.clone(),
        instrument_version: new.instrument_version.clone(),
        completed_at: new.completed_at,
        answers: new.answers.clone(),
        score: new.scored.score,
        prorated: new.scored.prorated,
        subscores: new.scored.subscores.clone(),
        severity: new.scored.severity.clone(),
        provisional_diagnosis: new.scored.provisional_diagnosis,
        source: new.source,
        entered_by: new.entered_by,
        created_at: now,
        entered_in_error: None,
        alerts,
    };
    Ok(Prepared { admin, answers, subscores, request_id })
}

/// Inserts an administration and its alerts inside `tx`.
async fn insert_administration(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    new: &NewAdministration,
    request_id: Option<MeasureRequestId>,
    now: Timestamp,
) -> Result<Administration> {
    let p = prepare(new, request_id, now)?;
    let a = &p.admin;
    sqlx::query(INSERT_ADMINISTRATION_SQL)
        .bind(a.id.to_string())
        .bind(a.client_id.to_string())
        .bind(a.course_id.map(|c| c.to_string()))
        .bind(a.instrument.clone())
        .bind(a.instrument_version.clone())
        .bind(micros(a.completed_at))
        .bind(p.answers.clone())
        .bind(a.score)
        .bind(i64::from(a.prorated))
        .bind(p.subscores.clone())
        .bind(a.severity.clone())
        .bind(a.provisional_diagnosis.map(i64::from))
        .bind(a.source.as_str())
        .bind(a.entered_by.map(|s| s.to_string()))
        .bind(p.request_id.map(|r| r.to_string()))
        .bind(micros(a.created_at))
        .execute(&mut **tx)
        .await?;
    for alert in &a.alerts {
        sqlx::query(INSERT_ALERT_SQL)
            .bind(alert.id.to_string())
            .bind(alert.client_id.to_string())
            .bind(a.id.to_string())
            .bind(alert.instrument.clone())
            .bind(alert.item.clone())
            .bind(alert.item_value)
            .bind(alert.level.as_str())
            .bind(alert.message.clone())
            .bind(i64::from(alert.self_harm))
            .bind(micros(alert.created_at))
            .execute(&mut **tx)
            .await?;
    }
    Ok(p.admin)
}

/// The same inserts, with the same values, on the direct SQLite writer.
fn insert_administration_direct(conn: &rusqlite::Connection, p: &Prepared) -> Result<()> {
    let a = &p.admin;
    conn.prepare_cached(INSERT_ADMINISTRATION_SQL)?.execute(rusqlite::params![
        a.id.to_string(),
        a.client_id.to_string(),
        a.course_id.map(|c| c.to_string()),
        a.instrument,
        a.instrument_version,
        micros(a.completed_at),
        p.answers,
        a.score,
        i64::from(a.prorated),
        p.subscores,
        a.severity,
        a.provisional_diagnosis.map(i64::from),
        a.source.as_str(),
        a.entered_by.map(|s| s.to_string()),
        p.request_id.map(|r| r.to_string()),
        micros(a.created_at),
    ])?;
    if !a.alerts.is_empty() {
        let mut insert = conn.prepare_cached(INSERT_ALERT_SQL)?;
        for alert in &a.alerts {
            insert.execute(rusqlite::params![
                alert.id.to_string(),
                alert.client_id.to_string(),
                a.id.to_string(),
                alert.instrument,
                alert.item,
                alert.item_value,
                alert.level.as_str(),
                alert.message,
                i64::from(alert.self_harm),
                micros(alert.created_at),
            ])?;
        }
    }
    Ok(())
}

/// Refuses a course that does not belong to the client, given the owner
/// found for it (if any).
fn course_owner_check(client: ClientId, course: CourseId, owner: Option<String>) -> Result<()> {
    match owner {
        Some(c) if c == client.to_string() => Ok(()),
        Some(_) => {
            Err(StoreError::Conflict { field: "course_id", detail: "that course belongs to another client".into() })
        }
        None => Err(StoreError::UnknownReference { field: "course_id", record: "course", id: course.to_string() }),
    }
}

fn client_check(client: ClientId, found: Option<String>) -> Result<()> {
    found.map(|_| ()).ok_or_else(|| StoreError::NotFound { record: "client", id: client.to_string() })
}

/// Refuses a course that does not belong to the client.
async fn check_course(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    client: ClientId,
    course: Option<CourseId>,
) -> Result<()> {
    let Some(course) = course else { return Ok(()) };
    let owner: Option<(String,)> =
        sqlx::query_as(COURSE_OWNER_SQL).bind(course.to_string()).fetch_optional(&mut **tx).await?;
    course_owner_check(client, course, owner.map(|o| o.0))
}

async fn check_client(tx: &mut sqlx::Transaction<'static, sqlx::Any>, client: ClientId) -> Result<()> {
    let found: Option<(String,)> =
        sqlx::query_as(CLIENT_EXISTS_SQL).bind(client.to_string()).fetch_optional(&mut **tx).await?;
    client_check(client, found.map(|f| f.0))
}

fn check_client_direct(conn: &rusqlite::Connection, client: ClientId) -> Result<()> {
    let found = optional_text(conn, CLIENT_EXISTS_SQL, &client.to_string())?;
    client_check(client, found)
}

fn check_course_direct(conn: &rusqlite::Connection, client: ClientId, course: Option<CourseId>) -> Result<()> {
    let Some(course) = course else { return Ok(()) };
    let owner = optional_text(conn, COURSE_OWNER_SQL, &course.to_string())?;
    course_owner_check(client, course, owner)
}

/// The first column of the first row of a one-parameter query, if any.
fn optional_text(conn: &rusqlite::Connection, sql: &str, param: &str) -> Result<Option<String>> {
    let mut st = conn.prepare_cached(sql)?;
    let mut rows = st.query([param])?;
    Ok(match rows.next()? {
        Some(r) => Some(r.get(0)?),
        None => None,
    })
}

/// The audit entry of a recorded questionnaire; `via_link` for a client's
/// own submission through a self-report link.
fn measure_entry(admin: &Administration, via_link: bool) -> AuditEntry {
    let how = if via_link { " via self-report link" } else { "" };
    // Which instrument, never its score or alerts: the audit log carries
    // coded actions and ids; clinical content stays in the record.
    AuditEntry::new(Action::Create, "measure", admin.id)
        .client(admin.client_id)
        .detail(format!("{}{how}", admin.instrument))
}

/// How the group-commit writer of a SQLite file has batched its writes
/// (see `Store::group_commit_stats`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct GroupCommitStats {
    /// Transactions committed (or failed).
    pub batches: u64,
    /// Writes they carried.
    pub writes: u64,
    /// The most writes one transaction carried.
    pub largest: u64,
    /// Batches by size: `by_size[k]` counts those of 2^k to 2^(k+1) - 1
    /// writes (the last bucket: that many or more).
    pub by_size: Vec<u64>,
}

/// The result of submitting a self-report link.
#[derive(Debug, Clone, PartialEq)]
pub enum Submission {
    /// Stored now.
    Stored(Administration),
    /// The same submission (same idempotency key) was stored before: nothing
    /// new was written.
    Repeated(Administration),
}

impl Submission {
    pub fn administration(&self) -> &Administration {
        match self {
            Submission::Stored(a) | Submission::Repeated(a) => a,
        }
    }
}

/// A self-report link, as its owner may see it (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeasureRequest {
    pub id: MeasureRequestId,
    pub client_id: ClientId,
    pub course_id: Option<CourseId>,
    pub instrument: String,
    pub created_by: Option<StaffId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub submitted_at: Option<Timestamp>,
    pub administration_id: Option<AdministrationId>,
}

/// Why a link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Open,
    Expired,
    Used,
}

impl MeasureRequest {
    pub fn state(&self, now: Timestamp) -> LinkState {
        if self.submitted_at.is_some() {
            LinkState::Used
        } else if now >= self.expires_at {
            LinkState::Expired
        } else {
            LinkState::Open
        }
    }
}

const REQUEST_COLS: &str =
    "id, client_id, course_id, instrument_id, created_by, created_at, expires_at, submitted_at, administration_id";

fn request_of<R: Cols>(r: &R) -> Result<MeasureRequest> {
    Ok(MeasureRequest {
        id: rows::get_id(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        course_id: rows::get_opt_id(r, "course_id")?,
        instrument: rows::get_str(r, "instrument_id")?,
        created_by: rows::get_opt_id(r, "created_by")?,
        created_at: rows::get_ts(r, "created_at")?,
        expires_at: rows::get_ts(r, "expires_at")?,
        submitted_at: rows::get_opt_ts(r, "submitted_at")?,
        administration_id: rows::get_opt_id(r, "administration_id")?,
    })
}

/// Open alerts staff `$1` must see (`$2` = 1: all of them).
/// The prescriber and therapist of any of the client's courses (an ended
/// course's clinicians stay responsible for follow-up answers); every
/// clinician when no course names one, so that no alert goes unseen.
const OPEN_ALERTS_FOR: &str = "a.acknowledged_at IS NULL AND ($2 = 1 OR a.notify_staff_id = $1 \
     OR EXISTS (SELECT 1 FROM courses k WHERE k.client_id = a.client_id \
       AND (k.prescriber_id = $1 OR k.therapist_id = $1)) \
     OR NOT EXISTS (SELECT 1 FROM courses k WHERE k.client_id = a.client_id \
       AND (k.prescriber_id IS NOT NULL OR k.therapist_id IS NOT NULL)){on_site})";

/// A dosing session's alert also reaches the prescribers on site: those with
/// a visit of their own at the session's site within 12 hours of the dose.
const ON_SITE: &str = " OR (a.dosing_session_id IS NOT NULL AND EXISTS (SELECT 1 FROM dosing_sessions ds \
     JOIN encounters e ON e.id = ds.encounter_id JOIN encounters m ON m.site_id = e.site_id AND m.staff_id = $1 \
       AND m.scheduled_start > e.scheduled_start - 43200000000 AND m.scheduled_start < e.scheduled_start + 43200000000 \
     WHERE ds.id = a.dosing_session_id))";

/// The open alerts a staff member sees; `prescriber`: a dosing session's
/// alert reaches them too when they are on site.
fn open_alerts_for_sql(prescriber: bool) -> String {
    OPEN_ALERTS_FOR.replace("{on_site}", if prescriber { ON_SITE } else { "" })
}

/// How many open alerts a staff member must see, and how many of those are
/// older than the escalation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct AlertCounts {
    pub open: i64,
    pub escalated: i64,
}

impl Store {
    /// Counts only (no client data), for the banner on every page.
    pub async fn open_alert_counts(
        &self,
        staff: StaffId,
        everyone: bool,
        prescriber: bool,
        escalate_before: Timestamp,
    ) -> Result<AlertCounts> {
        let (open, escalated): (i64, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*), SUM(CASE WHEN a.created_at <= $3 THEN 1 ELSE 0 END) FROM alerts a WHERE {}",
            open_alerts_for_sql(prescriber)
        )))
        .bind(staff.to_string())
        .bind(i64::from(everyone))
        .bind(micros(escalate_before))
        .fetch_one(&self.pool)
        .await?;
        Ok(AlertCounts { open, escalated: escalated.unwrap_or(0) })
    }

    /// Stores an administration and the alerts it raised, with its audit
    /// entry, in one durable transaction. On a SQLite file that transaction
    /// is shared with the other submissions waiting at the time (group
    /// commit), each in a savepoint of its own: the same checks, rows and
    /// errors, and it returns only once the commit is on disk.
    pub async fn record_measure(&self, actor: &Actor, new: &NewAdministration) -> Result<Administration> {
        let now = Timestamp::now();
        if let Some(writer) = &self.writer {
            let p = prepare(new, None, now)?;
            let audit = crate::audit::row_of(actor, &measure_entry(&p.admin, false), now);
            return writer
                .write(move |conn| {
                    check_client_direct(conn, p.admin.client_id)?;
                    check_course_direct(conn, p.admin.client_id, p.admin.course_id)?;
                    insert_administration_direct(conn, &p)?;
                    crate::direct::insert_audit(conn, &audit)?;
                    Ok(p.admin)
                })
                .await;
        }
        let mut tx = self.begin_write().await?;
        check_client(&mut tx, new.client_id).await?;
        check_course(&mut tx, new.client_id, new.course_id).await?;
        let admin = insert_administration(&mut tx, new, None, now).await?;
        audit::insert_in(&mut tx, actor, &measure_entry(&admin, false), now).await?;
        tx.commit().await?;
        Ok(admin)
    }

    /// How the group-commit writer has batched questionnaires so far; `None`
    /// on PostgreSQL and in-memory SQLite (one transaction per submission).
    pub fn group_commit_stats(&self) -> Option<GroupCommitStats> {
        self.writer.as_ref().map(|w| w.stats())
    }

    /// A client's administrations (newest first), optionally of one
    /// instrument, each with its alerts. Audited as one read.
    pub async fn list_measures(
        &self,
        actor: &Actor,
        client: ClientId,
        instrument: Option<&str>,
    ) -> Result<Vec<Administration>> {
        self.get_client(client).await?;
        let list = self.measures_of(client, instrument).await?;
        let detail = match instrument {
            Some(i) => format!("measures: {i}"),
            None => "measures".to_string(),
        };
        self.audit_read(actor, AuditEntry::new(Action::Read, "client", client).client(client).detail(detail)).await?;
        Ok(list)
    }

    /// Not audited: for callers that audit what they show (the chart).
    pub async fn measures_of(&self, client: ClientId, instrument: Option<&str>) -> Result<Vec<Administration>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ADMIN_COLS} FROM measure_administrations WHERE client_id = $1 \
             AND ($2 IS NULL OR instrument_id = $2) ORDER BY completed_at DESC, id DESC"
        )))
        .bind(client.to_string())
        .bind(instrument.map(str::to_string))
        .fetch_all(&self.pool)
        .await?;
        let mut list = rows.iter().map(administration_of).collect::<Result<Vec<_>>>()?;
        let alerts = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE client_id = $1 ORDER BY created_at, id"
        )))
        .bind(client.to_string())
        .fetch_all(&self.pool)
        .await?;
        for row in &alerts {
            let alert = alert_of(row)?;
            if let Some(a) = list.iter_mut().find(|a| Some(a.id) == alert.administration_id) {
                a.alerts.push(alert);
            }
        }
        Ok(list)
    }

    /// One administration (not audited; callers audit).
    pub async fn get_measure(&self, id: AdministrationId) -> Result<Administration> {
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ADMIN_COLS} FROM measure_administrations WHERE id = $1")))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::NotFound { record: "measure", id: id.to_string() })?;
        let mut admin = administration_of(&row)?;
        let alerts = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE administration_id = $1 ORDER BY created_at, id"
        )))
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        admin.alerts = alerts.iter().map(alert_of).collect::<Result<_>>()?;
        Ok(admin)
    }

    /// Marks an administration entered in error (once, with a reason). It
    /// stays in the record, struck out of trajectories and outcomes.
    pub async fn mark_measure_in_error(
        &self,
        actor: &Actor,
        id: AdministrationId,
        reason: &str,
    ) -> Result<Administration> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT client_id, error_at FROM measure_administrations WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((client, error_at)) = row else {
            return Err(StoreError::NotFound { record: "measure", id: id.to_string() });
        };
        if error_at.is_some() {
            return Err(StoreError::Conflict { field: "reason", detail: "already marked entered in error".into() });
        }
        sqlx::query(
            "UPDATE measure_administrations SET error_reason = $2, error_by = $3, error_at = $4 \
             WHERE id = $1 AND error_at IS NULL",
        )
        .bind(id.to_string())
        .bind(reason.to_string())
        .bind(actor.staff_id.map(|s| s.to_string()))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let client: ClientId = client.parse().map_err(|_| StoreError::corrupt("client_id is not an id"))?;
        let entry = AuditEntry::new(Action::Update, "measure", id).client(client).detail("entered in error");
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        self.get_measure(id).await
    }

    /// Unacknowledged alerts this staff member must see: those of clients
    /// they are the prescriber or therapist of (on any of the client's
    /// courses), and those of clients with no assigned clinician, so that
    /// no alert goes unseen. `everyone` (directors) sees all.
    /// Oldest first. Audited: one list entry per client shown.
    pub async fn open_alerts_for(
        &self,
        actor: &Actor,
        staff: StaffId,
        everyone: bool,
        prescriber: bool,
    ) -> Result<Vec<OpenAlert>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {cols}, c.given_name, c.family_name FROM alerts a JOIN clients c ON c.id = a.client_id \
             WHERE {open} ORDER BY a.created_at, a.id LIMIT 500",
            cols = ALERT_COLS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", "),
            open = open_alerts_for_sql(prescriber)
        )))
        .bind(staff.to_string())
        .bind(i64::from(everyone))
        .fetch_all(&self.pool)
        .await?;
        let list = rows
            .iter()
            .map(|r| {
                Ok(OpenAlert {
                    alert: alert_of(r)?,
                    client_name: format!("{} {}", rows::get_str(r, "given_name")?, rows::get_str(r, "family_name")?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if !list.is_empty() {
            let mut clients: Vec<ClientId> = list.iter().map(|a| a.alert.client_id).collect();
            clients.sort();
            clients.dedup();
            let entries: Vec<AuditEntry> = clients
                .iter()
                .map(|c| AuditEntry::new(Action::List, "alert", c).client(*c).detail("open alerts"))
                .collect();
            self.audit_reads(actor, &entries).await?;
        }
        Ok(list)
    }

    /// A client's alerts, open ones first (not audited; the chart audits).
    pub async fn alerts_of(&self, client: ClientId) -> Result<Vec<Alert>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE client_id = $1 \
             ORDER BY CASE WHEN acknowledged_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id DESC"
        )))
        .bind(client.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_of).collect()
    }

    /// Acknowledges an alert with what was done. Only once.
    pub async fn acknowledge_alert(&self, actor: &Actor, id: AlertId, action_note: &str) -> Result<Alert> {
        let staff = actor.staff_id.ok_or_else(|| StoreError::Config("only staff acknowledge alerts".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "alert", id: id.to_string() })?;
        let mut alert = alert_of(&row)?;
        if alert.acknowledged.is_some() {
            return Err(StoreError::Conflict {
                field: "action_note",
                detail: "this alert was already acknowledged".into(),
            });
        }
        acknowledge_in(&mut tx, actor, id, alert.client_id, action_note, "acknowledged", now).await?;
        tx.commit().await?;
        alert.acknowledged = Some(Acknowledgement { at: now, by: staff, action_note: action_note.to_string() });
        Ok(alert)
    }

    /// Records a self-report link for `token` (the caller generated it and
    /// sends it; only its hash is stored).
    pub async fn create_measure_request(
        &self,
        actor: &Actor,
        client: ClientId,
        course: Option<CourseId>,
        instrument: &str,
        token: &str,
        expires_at: Timestamp,
    ) -> Result<MeasureRequest> {
        let now = Timestamp::now();
        let req = MeasureRequest {
            id: MeasureRequestId::new(),
            client_id: client,
            course_id: course,
            instrument: instrument.to_string(),
            created_by: actor.staff_id,
            created_at: now,
            expires_at,
            submitted_at: None,
            administration_id: None,
        };
        let mut tx = self.begin_write().await?;
        check_client(&mut tx, client).await?;
        check_course(&mut tx, client, course).await?;
        sqlx::query(
            "INSERT INTO measure_requests (id, token_hash, client_id, course_id, instrument_id, created_by, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(req.id.to_string())
        .bind(crate::sessions::token_hash(token))
        .bind(client.to_string())
        .bind(course.map(|c| c.to_string()))
        .bind(instrument.to_string())
        .bind(actor.staff_id.map(|s| s.to_string()))
        .bind(micros(now))
        .bind(micros(expires_at))
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Create, "measure_request", req.id)
            .client(client)
            .detail(format!("self-report link: {instrument}"));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(req)
    }

    /// The link a token opens, whatever its state (the caller checks it).
    pub async fn measure_request_by_token(&self, token: &str) -> Result<Option<MeasureRequest>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLS} FROM measure_requests WHERE token_hash = $1"
        )))
        .bind(crate::sessions::token_hash(token))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(request_of).transpose()
    }

    /// A client's self-report links, newest first (not audited).
    pub async fn measure_requests_of(&self, client: ClientId) -> Result<Vec<MeasureRequest>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLS} FROM measure_requests WHERE client_id = $1 ORDER BY created_at DESC, id DESC LIMIT 50"
        )))
        .bind(client.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_of).collect()
    }

    /// Stores a client's answers through their link, once. A retry with
    /// the same idempotency key returns the stored administration; any
    /// other use of a submitted or expired link is refused.
    pub async fn submit_measure_request(
        &self,
        actor: &Actor,
        token: &str,
        idempotency_key: &str,
        build: impl FnOnce(&MeasureRequest) -> Result<NewAdministration>,
    ) -> Result<Submission> {
        let now = Timestamp::now();
        let hash = crate::sessions::token_hash(token);
        if let (Some(writer), Some(readers)) = (&self.writer, &self.readers) {
            // The link is read outside the write; the write itself only
            // marks it used if nobody did first (`submitted_at IS NULL`).
            let (req, key) = readers.read(|conn| link_direct(conn, &hash))?.ok_or_else(no_link)?;
            if let LinkVerdict::Repeat(admin) = link_verdict(&req, key, idempotency_key, now)? {
                return Ok(Submission::Repeated(self.get_measure(admin).await?));
            }
            let new = build(&req)?;
            link_answers_match(&req, &new)?;
            let p = prepare(&new, Some(req.id), now)?;
            let audit = crate::audit::row_of(actor, &measure_entry(&p.admin, true), now);
            let key = idempotency_key.to_string();
            let stored = writer
                .write(move |conn| {
                    insert_administration_direct(conn, &p)?;
                    let updated = conn.prepare_cached(MARK_REQUEST_SUBMITTED_SQL)?.execute(rusqlite::params![
                        micros(now),
                        p.admin.id.to_string(),
                        key,
                        req.id.to_string(),
                    ])?;
                    if updated != 1 {
                        return Err(link_used());
                    }
                    crate::direct::insert_audit(conn, &audit)?;
                    Ok(p.admin)
                })
                .await;
            return match stored {
                Ok(admin) => Ok(Submission::Stored(admin)),
                Err(StoreError::Conflict { .. }) => self.after_a_submission_won(&hash, idempotency_key, now).await,
                Err(e) => Err(e),
            };
        }
        let mut tx = self.begin_write().await?;
        let row =
            sqlx::query(LINK_BY_TOKEN_SQL).bind(hash.clone()).fetch_optional(&mut *tx).await?.ok_or_else(no_link)?;
        let req = request_of(&row)?;
        if let LinkVerdict::Repeat(admin) =
            link_verdict(&req, rows::get_opt_str(&row, "idempotency_key")?, idempotency_key, now)?
        {
            drop(tx);
            return Ok(Submission::Repeated(self.get_measure(admin).await?));
        }
        let new = build(&req)?;
        link_answers_match(&req, &new)?;
        let admin = insert_administration(&mut tx, &new, Some(req.id), now).await?;
        let updated = sqlx::query(MARK_REQUEST_SUBMITTED_SQL)
            .bind(micros(now))
            .bind(admin.id.to_string())
            .bind(idempotency_key.to_string())
            .bind(req.id.to_string())
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() != 1 {
            // PostgreSQL: a concurrent submission marked the link first.
            drop(tx);
            return self.after_a_submission_won(&hash, idempotency_key, now).await;
        }
        audit::insert_in(&mut tx, actor, &measure_entry(&admin, true), now).await?;
        tx.commit().await?;
        Ok(Submission::Stored(admin))
    }

    /// When another submission of the same link committed first (two sent
    /// at once): the same answers sent twice (same idempotency key) are its
    /// repeat; anything else is refused as a used link.
    async fn after_a_submission_won(&self, hash: &str, idempotency_key: &str, now: Timestamp) -> Result<Submission> {
        let found = match &self.readers {
            Some(readers) => readers.read(|conn| link_direct(conn, hash))?,
            None => match sqlx::query(LINK_BY_TOKEN_SQL).bind(hash.to_string()).fetch_optional(&self.pool).await? {
                Some(row) => Some((request_of(&row)?, rows::get_opt_str(&row, "idempotency_key")?)),
                None => None,
            },
        };
        let (req, key) = found.ok_or_else(no_link)?;
        match link_verdict(&req, key, idempotency_key, now)? {
            LinkVerdict::Repeat(admin) => Ok(Submission::Repeated(self.get_measure(admin).await?)),
            LinkVerdict::Open => Err(link_used()),
        }
    }
}

const LINK_BY_TOKEN_SQL: &str = "SELECT id, client_id, course_id, instrument_id, created_by, created_at, expires_at, \
     submitted_at, administration_id, idempotency_key FROM measure_requests WHERE token_hash = $1";

/// What a link's state allows.
enum LinkVerdict {
    Open,
    /// Already submitted with this idempotency key: the stored one.
    Repeat(AdministrationId),
}

fn link_verdict(
    req: &MeasureRequest,
    stored_key: Option<String>,
    idempotency_key: &str,
    now: Timestamp,
) -> Result<LinkVerdict> {
    match req.state(now) {
        LinkState::Used => match (stored_key, req.administration_id) {
            (Some(k), Some(admin)) if k == idempotency_key => Ok(LinkVerdict::Repeat(admin)),
            _ => Err(link_used()),
        },
        LinkState::Expired => Err(StoreError::Conflict { field: "token", detail: "this link has expired".into() }),
        LinkState::Open => Ok(LinkVerdict::Open),
    }
}

fn link_answers_match(req: &MeasureRequest, new: &NewAdministration) -> Result<()> {
    if new.client_id != req.client_id || new.instrument_id != req.instrument {
        return Err(StoreError::Config("a link's answers must be for its own client and instrument".into()));
    }
    Ok(())
}

fn no_link() -> StoreError {
    StoreError::NotFound { record: "link", id: "this link".into() }
}

fn link_used() -> StoreError {
    StoreError::Conflict { field: "token", detail: "this link has already been used".into() }
}

/// A link and its stored idempotency key, on a direct reader.
fn link_direct(conn: &rusqlite::Connection, hash: &str) -> Result<Option<(MeasureRequest, Option<String>)>> {
    let mut st = conn.prepare_cached(LINK_BY_TOKEN_SQL)?;
    let mut found = st.query([hash])?;
    match found.next()? {
        Some(r) => Ok(Some((request_of(r)?, rows::get_opt_str(r, "idempotency_key")?))),
        None => Ok(None),
    }
}

/// Bulk insert for imports (the demo practice): administrations and their
/// alerts as given, inside the caller's transaction.
pub(crate) async fn import_administrations(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: crate::Backend,
    list: &[Administration],
) -> Result<()> {
    const PER_STATEMENT: usize = 128;
    for chunk in list.chunks(PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO measure_administrations (id, client_id, course_id, instrument_id, instrument_version, \
             completed_at, answers, score, prorated, subscores, severity, provisional_diagnosis, source, entered_by, \
             created_at) VALUES {}",
            rows::placeholders_for(backend, chunk.len(), 15)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in chunk {
            q = q
                .bind(a.id.to_string())
                .bind(a.client_id.to_string())
                .bind(a.course_id.map(|c| c.to_string()))
                .bind(a.instrument.clone())
                .bind(a.instrument_version.clone())
                .bind(micros(a.completed_at))
                .bind(a.answers.as_ref().map(serde_json::to_string).transpose().map_err(json_corrupt)?)
                .bind(a.score)
                .bind(i64::from(a.prorated))
                .bind(serde_json::to_string(&a.subscores).map_err(json_corrupt)?)
                .bind(a.severity.clone())
                .bind(a.provisional_diagnosis.map(i64::from))
                .bind(a.source.as_str())
                .bind(a.entered_by.map(|s| s.to_string()))
                .bind(micros(a.created_at));
        }
        q.execute(&mut **tx).await?;
    }
    let alerts: Vec<&Alert> = list.iter().flat_map(|a| &a.alerts).collect();
    for chunk in alerts.chunks(PER_STATEMENT) {
        let sql =
            format!("INSERT INTO alerts ({ALERT_COLS}) VALUES {}", rows::placeholders_for(backend, chunk.len(), 15));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in chunk {
            q = bind_alert(q, a);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Acknowledges an open alert inside `tx` with what was done, audited with
/// `detail`; an alert already acknowledged is left as it is.
pub(crate) async fn acknowledge_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    actor: &Actor,
    id: AlertId,
    client: ClientId,
    action_note: &str,
    detail: &str,
    now: Timestamp,
) -> Result<()> {
    let staff = actor.staff_id.ok_or_else(|| StoreError::Config("only staff acknowledge alerts".into()))?;
    sqlx::query(
        "UPDATE alerts SET acknowledged_at = $2, acknowledged_by = $3, action_note = $4 \
         WHERE id = $1 AND acknowledged_at IS NULL",
    )
    .bind(id.to_string())
    .bind(micros(now))
    .bind(staff.to_string())
    .bind(action_note.to_string())
    .execute(&mut **tx)
    .await?;
    let entry = AuditEntry::new(Action::Update, "alert", id).client(client).detail(detail.to_string());
    audit::insert_in(tx, actor, &entry, now).await
}
