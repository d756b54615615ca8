//! Dosing sessions: started on an arrived dosing encounter of a course with
//! a signed eligible screen, vitals over time with their alerts, discharge
//! no earlier than the protocol's monitoring time, and a signature after
//! which nothing changes.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::dosing::{VitalAlert, Vitals};
use kairos_domain::encounter::{EncounterKind, EncounterStatus};
use kairos_domain::ids::{ClientId, CourseId, DosingSessionId, EncounterId, StaffId, VitalsId};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

/// The pre-dose checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checklist {
    pub fasting_confirmed: bool,
    pub ride_home_arranged: bool,
    /// The client agreed not to drive until the next day.
    pub no_driving_agreed: bool,
    /// `not_applicable`, `negative` or `positive`.
    pub pregnancy_test: String,
    /// A brief note of mood and mental state before the dose.
    pub mood_check: String,
}

/// What a nurse or prescriber enters to start a dose (computed parts filled
/// by the caller from the domain rules).
#[derive(Debug, Clone)]
pub struct NewSession {
    pub encounter_id: EncounterId,
    pub protocol_id: Option<String>,
    pub checklist: Checklist,
    pub pre_vitals: Vitals,
    /// The hold the pre-dose vitals triggered, if any.
    pub hold_reason: Option<String>,
    /// A prescriber's override of the hold.
    pub override_reason: Option<String>,
    pub route: String,
    pub mg_per_kg: Option<f64>,
    pub weight_kg: Option<f64>,
    pub dose_mg: f64,
    pub lot: String,
    pub monitoring_minutes: u32,
    pub started_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VitalsRecord {
    pub id: VitalsId,
    pub at: Timestamp,
    pub vitals: Vitals,
    pub alerts: Vec<VitalAlertRecord>,
    pub recorded_by: Option<StaffId>,
}

/// A vital-sign alert as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VitalAlertRecord {
    pub sign: String,
    pub value: u16,
    pub message: String,
    pub emergency: bool,
}

impl From<&VitalAlert> for VitalAlertRecord {
    fn from(a: &VitalAlert) -> Self {
        VitalAlertRecord {
            sign: a.sign.to_string(),
            value: a.value,
            message: a.message.clone(),
            emergency: a.emergency,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DosingSession {
    pub id: DosingSessionId,
    pub encounter_id: EncounterId,
    pub course_id: CourseId,
    pub client_id: ClientId,
    pub protocol_id: Option<String>,
    pub checklist: Checklist,
    pub pre_vitals: Vitals,
    pub hold_reason: Option<String>,
    pub override_reason: Option<String>,
    pub override_by: Option<StaffId>,
    pub route: String,
    pub mg_per_kg: Option<f64>,
    pub weight_kg: Option<f64>,
    pub dose_mg: f64,
    pub lot: String,
    pub monitoring_minutes: i64,
    pub started_at: Timestamp,
    pub started_by: Option<StaffId>,
    pub discharged_at: Option<Timestamp>,
    pub discharged_by: Option<StaffId>,
    pub accompanied_by: Option<String>,
    pub signed_at: Option<Timestamp>,
    pub signed_by: Option<StaffId>,
    pub vitals: Vec<VitalsRecord>,
}

const COLS: &str = "id, encounter_id, course_id, client_id, protocol_id, checklist, pre_vitals, hold_reason, \
     override_reason, override_by, route, mg_per_kg, weight_kg, dose_mg, lot, monitoring_minutes, started_at, started_by, \
     discharged_at, discharged_by, accompanied_by, signed_at, signed_by";

fn json_corrupt(e: serde_json::Error) -> StoreError {
    StoreError::corrupt(format!("stored dosing session: {e}"))
}

fn opt_f64(r: &AnyRow, col: &str) -> Result<Option<f64>> {
    sqlx::Row::try_get::<Option<f64>, _>(r, col).map_err(StoreError::from)
}

fn session_of(r: &AnyRow) -> Result<DosingSession> {
    Ok(DosingSession {
        id: rows::get_id(r, "id")?,
        encounter_id: rows::get_id(r, "encounter_id")?,
        course_id: rows::get_id(r, "course_id")?,
        client_id: rows::get_id(r, "client_id")?,
        protocol_id: rows::get_opt_str(r, "protocol_id")?,
        checklist: serde_json::from_str(&rows::get_str(r, "checklist")?).map_err(json_corrupt)?,
        pre_vitals: serde_json::from_str(&rows::get_str(r, "pre_vitals")?).map_err(json_corrupt)?,
        hold_reason: rows::get_opt_str(r, "hold_reason")?,
        override_reason: rows::get_opt_str(r, "override_reason")?,
        override_by: rows::get_opt_id(r, "override_by")?,
        route: rows::get_str(r, "route")?,
        mg_per_kg: opt_f64(r, "mg_per_kg")?,
        weight_kg: opt_f64(r, "weight_kg")?,
        dose_mg: opt_f64(r, "dose_mg")?.ok_or_else(|| StoreError::corrupt("dose_mg is null"))?,
        lot: rows::get_str(r, "lot")?,
        monitoring_minutes: rows::get_i64(r, "monitoring_minutes")?,
        started_at: rows::get_ts(r, "started_at")?,
        started_by: rows::get_opt_id(r, "started_by")?,
        discharged_at: rows::get_opt_ts(r, "discharged_at")?,
        discharged_by: rows::get_opt_id(r, "discharged_by")?,
        accompanied_by: rows::get_opt_str(r, "accompanied_by")?,
        signed_at: rows::get_opt_ts(r, "signed_at")?,
        signed_by: rows::get_opt_id(r, "signed_by")?,
        vitals: Vec::new(),
    })
}

async fn locked_session(tx: &mut sqlx::Transaction<'static, sqlx::Any>, id: DosingSessionId) -> Result<DosingSession> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM dosing_sessions WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "dosing session", id: id.to_string() })?;
    let s = session_of(&row)?;
    if s.signed_at.is_some() {
        return Err(StoreError::Conflict {
            field: "signed_at",
            detail: "this session is signed and cannot change".into(),
        });
    }
    Ok(s)
}

impl Store {
    /// Starts a dosing session on an arrived dosing encounter whose course
    /// has a signed eligible screen (checked here, in the write transaction).
    pub async fn start_dosing_session(&self, actor: &Actor, new: &NewSession) -> Result<DosingSession> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM encounters WHERE id = $1",
            crate::encounters::COLS
        )))
        .bind(new.encounter_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "encounter", id: new.encounter_id.to_string() })?;
        let enc = crate::encounters::encounter_of(&row)?;
        if enc.kind != EncounterKind::Dosing {
            return Err(StoreError::Conflict { field: "encounter_id", detail: "not a dosing encounter".into() });
        }
        if enc.status != EncounterStatus::Arrived {
            return Err(StoreError::Conflict {
                field: "encounter_id",
                detail: format!("the client must be checked in first (status is {})", enc.status),
            });
        }
        let course = enc.course_id.ok_or_else(|| StoreError::Conflict {
            field: "course_id",
            detail: "a dose belongs to a treatment course".into(),
        })?;
        kairos_domain::screening::may_chart_dose(crate::screens::status_in(&mut tx, course).await?)?;
        let id = DosingSessionId::new();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO dosing_sessions ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17, $18, NULL, NULL, NULL, NULL, NULL)"
        )))
        .bind(id.to_string())
        .bind(enc.id.to_string())
        .bind(course.to_string())
        .bind(enc.client_id.to_string())
        .bind(new.protocol_id.clone())
        .bind(serde_json::to_string(&new.checklist).map_err(json_corrupt)?)
        .bind(serde_json::to_string(&new.pre_vitals).map_err(json_corrupt)?)
        .bind(new.hold_reason.clone())
        .bind(new.override_reason.clone())
        .bind(new.override_reason.as_ref().and(actor.staff_id).map(|s| s.to_string()))
        .bind(new.route.clone())
        .bind(new.mg_per_kg)
        .bind(new.weight_kg)
        .bind(new.dose_mg)
        .bind(new.lot.clone())
        .bind(i64::from(new.monitoring_minutes))
        .bind(micros(new.started_at))
        .bind(actor.staff_id.map(|s| s.to_string()))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "encounter_id", "this encounter already has a dosing session"))?;
        let entry = AuditEntry::new(Action::Create, "dosing_session", id).client(enc.client_id).detail(format!(
            "dose {} mg {}{}",
            new.dose_mg,
            new.route,
            if new.override_reason.is_some() { ", pre-dose hold overridden" } else { "" }
        ));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        self.get_dosing_session(id).await
    }

    /// The session charted for an encounter, if any.
    pub async fn dosing_session_for(&self, encounter: EncounterId) -> Result<Option<DosingSessionId>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM dosing_sessions WHERE encounter_id = $1")
            .bind(encounter.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|(id,)| id.parse().map_err(|_| StoreError::corrupt("dosing session id"))).transpose()
    }

    /// A session with its vitals (not audited; callers audit).
    pub async fn get_dosing_session(&self, id: DosingSessionId) -> Result<DosingSession> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM dosing_sessions WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "dosing session", id: id.to_string() })?;
        let mut s = session_of(&row)?;
        let rows = sqlx::query(
            "SELECT id, at, vitals, alerts, recorded_by FROM session_vitals WHERE session_id = $1 ORDER BY at, id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            s.vitals.push(VitalsRecord {
                id: rows::get_id(r, "id")?,
                at: rows::get_ts(r, "at")?,
                vitals: serde_json::from_str(&rows::get_str(r, "vitals")?).map_err(json_corrupt)?,
                alerts: serde_json::from_str(&rows::get_str(r, "alerts")?).map_err(json_corrupt)?,
                recorded_by: rows::get_opt_id(r, "recorded_by")?,
            });
        }
        Ok(s)
    }

    /// Records a set of vital signs with the alerts they raised.
    pub async fn add_vitals(
        &self,
        actor: &Actor,
        id: DosingSessionId,
        at: Timestamp,
        vitals: &Vitals,
        alerts: &[VitalAlert],
    ) -> Result<VitalsRecord> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let s = locked_session(&mut tx, id).await?;
        let record = VitalsRecord {
            id: VitalsId::new(),
            at,
            vitals: *vitals,
            alerts: alerts.iter().map(VitalAlertRecord::from).collect(),
            recorded_by: actor.staff_id,
        };
        sqlx::query("INSERT INTO session_vitals (id, session_id, at, vitals, alerts, recorded_by) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(record.id.to_string())
            .bind(id.to_string())
            .bind(micros(at))
            .bind(serde_json::to_string(vitals).map_err(json_corrupt)?)
            .bind(serde_json::to_string(&record.alerts).map_err(json_corrupt)?)
            .bind(actor.staff_id.map(|x| x.to_string()))
            .execute(&mut *tx)
            .await?;
        let entry = AuditEntry::new(Action::Update, "dosing_session", id)
            .client(s.client_id)
            .detail(format!("vitals, {} alert(s)", record.alerts.len()));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Records discharge; refused before the monitoring time (the caller
    /// checks it with `may_discharge`, and this re-checks against the stored
    /// start) and after a previous discharge.
    pub async fn discharge(
        &self,
        actor: &Actor,
        id: DosingSessionId,
        at: Timestamp,
        accompanied_by: &str,
    ) -> Result<DosingSession> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let s = locked_session(&mut tx, id).await?;
        if s.discharged_at.is_some() {
            return Err(StoreError::Conflict { field: "discharged_at", detail: "already discharged".into() });
        }
        let minutes = u32::try_from(s.monitoring_minutes).map_err(|_| StoreError::corrupt("monitoring_minutes"))?;
        kairos_domain::dosing::may_discharge(s.started_at, minutes, at)?;
        sqlx::query(
            "UPDATE dosing_sessions SET discharged_at = $2, discharged_by = $3, accompanied_by = $4 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(micros(at))
        .bind(actor.staff_id.map(|x| x.to_string()))
        .bind(accompanied_by.to_string())
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Update, "dosing_session", id).client(s.client_id).detail("discharged");
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        self.get_dosing_session(id).await
    }

    /// Signs a discharged session; after this it never changes.
    pub async fn sign_dosing_session(&self, actor: &Actor, id: DosingSessionId) -> Result<DosingSession> {
        let by = actor.staff_id.ok_or_else(|| StoreError::Config("only staff sign a session".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let s = locked_session(&mut tx, id).await?;
        if s.discharged_at.is_none() {
            return Err(StoreError::Conflict {
                field: "discharged_at",
                detail: "record the discharge before signing".into(),
            });
        }
        sqlx::query("UPDATE dosing_sessions SET signed_at = $2, signed_by = $3 WHERE id = $1 AND signed_at IS NULL")
            .bind(id.to_string())
            .bind(micros(now))
            .bind(by.to_string())
            .execute(&mut *tx)
            .await?;
        let entry = AuditEntry::new(Action::Update, "dosing_session", id).client(s.client_id).detail("signed");
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        self.get_dosing_session(id).await
    }
}
