//! Administered questionnaires, the safety alerts they raise, and
//! self-report links.
//!
//! An administration and its alerts commit in one transaction with the audit
//! entry, before anyone is told it was stored: an alert raised from a
//! client's phone survives a crash the moment the phone sees "thank you".
//! Administrations are immutable (a database trigger enforces it); the only
//! change is marking one entered in error, with a reason.

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
     created_at, acknowledged_at, acknowledged_by, action_note";

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
    })
}

/// Inserts an administration and its alerts inside `tx`.
async fn insert_administration(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    new: &NewAdministration,
    request_id: Option<MeasureRequestId>,
    now: Timestamp,
) -> Result<Administration> {
    let id = AdministrationId::new();
    let answers = new.answers.as_ref().map(serde_json::to_string).transpose().map_err(json_corrupt)?;
    let subscores = serde_json::to_string(&new.scored.subscores).map_err(json_corrupt)?;
    sqlx::query(
        "INSERT INTO measure_administrations (id, client_id, course_id, instrument_id, instrument_version, \
         completed_at, answers, score, prorated, subscores, severity, provisional_diagnosis, source, entered_by, \
         request_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(id.to_string())
    .bind(new.client_id.to_string())
    .bind(new.course_id.map(|c| c.to_string()))
    .bind(new.instrument_id.clone())
    .bind(new.instrument_version.clone())
    .bind(micros(new.completed_at))
    .bind(answers.clone())
    .bind(new.scored.score)
    .bind(i64::from(new.scored.prorated))
    .bind(subscores)
    .bind(new.scored.severity.clone())
    .bind(new.scored.provisional_diagnosis.map(i64::from))
    .bind(new.source.as_str())
    .bind(new.entered_by.map(|s| s.to_string()))
    .bind(request_id.map(|r| r.to_string()))
    .bind(micros(now))
    .execute(&mut **tx)
    .await?;
    let mut alerts = Vec::with_capacity(new.scored.alerts.len());
    for fired in &new.scored.alerts {
        let alert = Alert {
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
        };
        sqlx::query(
            "INSERT INTO alerts (id, client_id, administration_id, instrument_id, item, item_value, level, message, \
             self_harm, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(alert.id.to_string())
        .bind(alert.client_id.to_string())
        .bind(id.to_string())
        .bind(alert.instrument.clone())
        .bind(alert.item.clone())
        .bind(alert.item_value)
        .bind(alert.level.as_str())
        .bind(alert.message.clone())
        .bind(i64::from(alert.self_harm))
        .bind(micros(now))
        .execute(&mut **tx)
        .await?;
        alerts.push(alert);
    }
    Ok(Administration {
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
    })
}

/// Refuses a course that does not belong to the client.
async fn check_course(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    client: ClientId,
    course: Option<CourseId>,
) -> Result<()> {
    let Some(course) = course else { return Ok(()) };
    let owner: Option<(String,)> = sqlx::query_as("SELECT client_id FROM courses WHERE id = $1")
        .bind(course.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    match owner {
        Some((c,)) if c == client.to_string() => Ok(()),
        Some(_) => {
            Err(StoreError::Conflict { field: "course_id", detail: "that course belongs to another client".into() })
        }
        None => Err(StoreError::UnknownReference { field: "course_id", record: "course", id: course.to_string() }),
    }
}

async fn check_client(tx: &mut sqlx::Transaction<'static, sqlx::Any>, client: ClientId) -> Result<()> {
    let found: Option<(String,)> = sqlx::query_as("SELECT id FROM clients WHERE id = $1")
        .bind(client.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    found.map(|_| ()).ok_or_else(|| StoreError::NotFound { record: "client", id: client.to_string() })
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
const OPEN_ALERTS_FOR: &str = "a.acknowledged_at IS NULL AND ($2 = 1 \
     OR EXISTS (SELECT 1 FROM courses k WHERE k.client_id = a.client_id \
       AND k.phase NOT IN ('completed', 'discontinued') AND (k.prescriber_id = $1 OR k.therapist_id = $1)) \
     OR NOT EXISTS (SELECT 1 FROM courses k WHERE k.client_id = a.client_id \
       AND k.phase NOT IN ('completed', 'discontinued') \
       AND (k.prescriber_id IS NOT NULL OR k.therapist_id IS NOT NULL)))";

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
        escalate_before: Timestamp,
    ) -> Result<AlertCounts> {
        let (open, escalated): (i64, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*), SUM(CASE WHEN a.created_at <= $3 THEN 1 ELSE 0 END) FROM alerts a WHERE {OPEN_ALERTS_FOR}"
        )))
        .bind(staff.to_string())
        .bind(i64::from(everyone))
        .bind(micros(escalate_before))
        .fetch_one(&self.pool)
        .await?;
        Ok(AlertCounts { open, escalated: escalated.unwrap_or(0) })
    }

    /// Stores an administration and the alerts it raised, with its audit
    /// entry, in one durable transaction.
    pub async fn record_measure(&self, actor: &Actor, new: &NewAdministration) -> Result<Administration> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        check_client(&mut tx, new.client_id).await?;
        check_course(&mut tx, new.client_id, new.course_id).await?;
        let admin = insert_administration(&mut tx, new, None, now).await?;
        let entry = AuditEntry::new(Action::Create, "measure", admin.id).client(new.client_id).detail(format!(
            "{} score {}, {} alert(s)",
            new.instrument_id,
            admin.score,
            admin.alerts.len()
        ));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(admin)
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
    /// they are the prescriber or therapist of (on a course not completed
    /// or discontinued), and those of clients with no assigned clinician,
    /// so that no alert goes unseen. `everyone` (directors) sees all.
    /// Oldest first. Audited: one list entry per client shown.
    pub async fn open_alerts_for(&self, actor: &Actor, staff: StaffId, everyone: bool) -> Result<Vec<OpenAlert>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {cols}, c.given_name, c.family_name FROM alerts a JOIN clients c ON c.id = a.client_id \
             WHERE {OPEN_ALERTS_FOR} ORDER BY a.created_at, a.id LIMIT 500",
            cols = ALERT_COLS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
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
        sqlx::query(
            "UPDATE alerts SET acknowledged_at = $2, acknowledged_by = $3, action_note = $4 \
             WHERE id = $1 AND acknowledged_at IS NULL",
        )
        .bind(id.to_string())
        .bind(micros(now))
        .bind(staff.to_string())
        .bind(action_note.to_string())
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Update, "alert", id).client(alert.client_id).detail("acknowledged");
        audit::insert_in(&mut tx, actor, &entry, now).await?;
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
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLS}, idempotency_key FROM measure_requests WHERE token_hash = $1"
        )))
        .bind(crate::sessions::token_hash(token))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "link", id: "this link".into() })?;
        let req = request_of(&row)?;
        match req.state(now) {
            LinkState::Used => {
                let key = rows::get_opt_str(&row, "idempotency_key")?;
                drop(tx);
                return match (key, req.administration_id) {
                    (Some(k), Some(admin)) if k == idempotency_key => {
                        Ok(Submission::Repeated(self.get_measure(admin).await?))
                    }
                    _ => Err(StoreError::Conflict { field: "token", detail: "this link has already been used".into() }),
                };
            }
            LinkState::Expired => {
                return Err(StoreError::Conflict { field: "token", detail: "this link has expired".into() });
            }
            LinkState::Open => {}
        }
        let new = build(&req)?;
        if new.client_id != req.client_id || new.instrument_id != req.instrument {
            return Err(StoreError::Config("a link's answers must be for its own client and instrument".into()));
        }
        let admin = insert_administration(&mut tx, &new, Some(req.id), now).await?;
        let updated = sqlx::query(
            "UPDATE measure_requests SET submitted_at = $2, administration_id = $3, idempotency_key = $4 \
             WHERE id = $1 AND submitted_at IS NULL",
        )
        .bind(req.id.to_string())
        .bind(micros(now))
        .bind(admin.id.to_string())
        .bind(idempotency_key.to_string())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Conflict { field: "token", detail: "this link has already been used".into() });
        }
        let entry = AuditEntry::new(Action::Create, "measure", admin.id).client(req.client_id).detail(format!(
            "{} score {} via self-report link, {} alert(s)",
            new.instrument_id,
            admin.score,
            admin.alerts.len()
        ));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(Submission::Stored(admin))
    }
}

/// Bulk insert for imports (the demo practice): administrations and their
/// alerts as given, inside the caller's transaction.
pub(crate) async fn import_administrations(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    list: &[Administration],
) -> Result<()> {
    const PER_STATEMENT: usize = 24;
    for chunk in list.chunks(PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO measure_administrations (id, client_id, course_id, instrument_id, instrument_version, \
             completed_at, answers, score, prorated, subscores, severity, provisional_diagnosis, source, entered_by, \
             created_at) VALUES {}",
            rows::placeholders(chunk.len(), 15)
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
        let sql = format!("INSERT INTO alerts ({ALERT_COLS}) VALUES {}", rows::placeholders(chunk.len(), 13));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in chunk {
            q = q
                .bind(a.id.to_string())
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
                .bind(a.acknowledged.as_ref().map(|k| k.action_note.clone()));
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
