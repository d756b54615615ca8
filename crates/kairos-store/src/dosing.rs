//! Dosing sessions: started on an arrived dosing encounter of a course with
//! a signed eligible screen, vitals over time with their alerts, discharge
//! no earlier than the protocol's monitoring time, and a signature after
//! which nothing changes.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::dosing::{Amendment, SessionEvent, VitalAlert, Vitals};
use kairos_domain::encounter::{EncounterKind, EncounterStatus};
use kairos_domain::ids::{
    AmendmentId, ClientId, CourseId, DosingSessionId, EncounterId, SessionEventId, StaffId, StockId, VitalsId,
};
use kairos_domain::ledger::{EntryDetail, EntryKind, LedgerPolicy, Quantity, Substance};
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
    /// The ledger stock the dose is drawn from, and the volume drawn when
    /// more than the dose (the rest is wasted, witnessed, later).
    pub stock: Option<(StockId, Option<Quantity>)>,
}

/// A dissociation score, side effect or adverse event as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    pub id: SessionEventId,
    pub at: Timestamp,
    pub event: SessionEvent,
    pub recorded_by: Option<StaffId>,
}

/// An amendment to a signed session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AmendmentRecord {
    pub id: AmendmentId,
    pub at: Timestamp,
    pub by: StaffId,
    #[serde(flatten)]
    pub amendment: Amendment,
}

/// The esketamine REMS form's stored part: the clinician's answer and the
/// submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RemsState {
    /// "When would the patient have been ready to leave without the 2-hour
    /// rule", in minutes after the dose.
    pub ready_after_minutes: Option<i64>,
    pub submitted_at: Option<Timestamp>,
    pub submitted_by: Option<StaffId>,
    pub confirmation: Option<String>,
}

/// An esketamine session whose REMS form is not yet submitted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemsDue {
    pub session_id: DosingSessionId,
    pub client_id: ClientId,
    pub started_at: Timestamp,
    pub signed: bool,
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
    pub events: Vec<EventRecord>,
    pub amendments: Vec<AmendmentRecord>,
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
        events: Vec::new(),
        amendments: Vec::new(),
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
    pub async fn start_dosing_session(
        &self,
        actor: &Actor,
        new: &NewSession,
        ledger: &LedgerPolicy,
    ) -> Result<DosingSession> {
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
        // The stock the dose is drawn from: the right substance, this site's
        // registration, not expired; its lot is the session's lot.
        let mut lot = new.lot.clone();
        if let Some((stock_id, _)) = new.stock {
            let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
                "SELECT k.substance, k.lot, r.site_id, k.expires FROM cs_stock k \
                 JOIN cs_registrations r ON r.id = k.registration_id WHERE k.id = $1",
            )
            .bind(stock_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            let (substance, stock_lot, site, expires) = row.ok_or_else(|| StoreError::UnknownReference {
                field: "stock_id",
                record: "stock",
                id: stock_id.to_string(),
            })?;
            let wanted = Substance::for_route(&new.route);
            if substance != wanted.as_str() {
                return Err(StoreError::Conflict {
                    field: "stock_id",
                    detail: format!("a {} dose draws on {} stock, not {substance}", new.route, wanted.as_str()),
                });
            }
            if site != enc.site_id.to_string() {
                return Err(StoreError::Conflict {
                    field: "stock_id",
                    detail: "that stock is held under another site's registration".into(),
                });
            }
            if let Some(exp) = expires
                && exp < new.started_at.to_zoned(jiff::tz::TimeZone::UTC).date().to_string()
            {
                return Err(StoreError::Conflict {
                    field: "stock_id",
                    detail: format!("lot {stock_lot} expired on {exp}"),
                });
            }
            lot = stock_lot;
        }
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
        .bind(lot)
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
        if let Some((stock_id, drawn)) = new.stock {
            let mg_per_unit: (f64,) = sqlx::query_as("SELECT mg_per_unit FROM cs_stock WHERE id = $1")
                .bind(stock_id.to_string())
                .fetch_one(&mut *tx)
                .await?;
            let given = kairos_domain::ledger::units_for_dose(new.dose_mg, mg_per_unit.0)?;
            if drawn.is_some_and(|d| d < given) {
                return Err(StoreError::Conflict {
                    field: "drawn",
                    detail: format!("the volume drawn cannot be less than the dose ({given})"),
                });
            }
            let administration = crate::ledger::NewEntry {
                stock_id,
                kind: EntryKind::Administration,
                occurred_at: new.started_at,
                quantity: given,
                detail: EntryDetail { drawn: drawn.filter(|d| *d > given), ..EntryDetail::default() },
                client_id: Some(enc.client_id),
                dosing_session_id: Some(id),
                related_id: None,
                witnesses: vec![],
            };
            crate::ledger::append_in(&mut tx, self.backend, actor, ledger, &administration, now).await?;
        }
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
        let rows =
            sqlx::query("SELECT id, at, event, recorded_by FROM session_events WHERE session_id = $1 ORDER BY at, id")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        for r in &rows {
            s.events.push(EventRecord {
                id: rows::get_id(r, "id")?,
                at: rows::get_ts(r, "at")?,
                event: serde_json::from_str(&rows::get_str(r, "event")?).map_err(json_corrupt)?,
                recorded_by: rows::get_opt_id(r, "recorded_by")?,
            });
        }
        let rows = sqlx::query(
            "SELECT id, at, by_staff, part, correction, reason FROM session_amendments WHERE session_id = $1 ORDER BY at, id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            s.amendments.push(AmendmentRecord {
                id: rows::get_id(r, "id")?,
                at: rows::get_ts(r, "at")?,
                by: rows::get_id(r, "by_staff")?,
                amendment: Amendment {
                    part: kairos_domain::dosing::AmendedPart::parse("part", &rows::get_str(r, "part")?)?,
                    correction: rows::get_str(r, "correction")?,
                    reason: rows::get_str(r, "reason")?,
                },
            });
        }
        Ok(s)
    }

    /// Records a dissociation score, side effect or adverse event.
    pub async fn add_session_event(
        &self,
        actor: &Actor,
        id: DosingSessionId,
        at: Timestamp,
        event: &SessionEvent,
    ) -> Result<EventRecord> {
        event.validate()?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let s = locked_session(&mut tx, id).await?;
        let record = EventRecord { id: SessionEventId::new(), at, event: event.clone(), recorded_by: actor.staff_id };
        sqlx::query(
            "INSERT INTO session_events (id, session_id, at, kind, event, recorded_by) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(record.id.to_string())
        .bind(id.to_string())
        .bind(micros(at))
        .bind(event.kind())
        .bind(serde_json::to_string(event).map_err(json_corrupt)?)
        .bind(actor.staff_id.map(|x| x.to_string()))
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Update, "dosing_session", id).client(s.client_id).detail(event.kind());
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Amends a signed session; the original stays as it was.
    pub async fn amend_dosing_session(
        &self,
        actor: &Actor,
        id: DosingSessionId,
        amendment: &Amendment,
    ) -> Result<AmendmentRecord> {
        amendment.validate()?;
        let by = actor.staff_id.ok_or_else(|| StoreError::Config("only staff amend a session".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT client_id, signed_at FROM dosing_sessions WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let (client, signed) =
            row.ok_or_else(|| StoreError::NotFound { record: "dosing session", id: id.to_string() })?;
        if signed.is_none() {
            return Err(StoreError::Conflict {
                field: "signed_at",
                detail: "the session is not signed yet: chart the change directly".into(),
            });
        }
        let record = AmendmentRecord { id: AmendmentId::new(), at: now, by, amendment: amendment.clone() };
        sqlx::query(
            "INSERT INTO session_amendments (id, session_id, at, by_staff, part, correction, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(record.id.to_string())
        .bind(id.to_string())
        .bind(micros(now))
        .bind(by.to_string())
        .bind(amendment.part.as_str())
        .bind(amendment.correction.clone())
        .bind(amendment.reason.clone())
        .execute(&mut *tx)
        .await?;
        let client: ClientId = client.parse().map_err(|_| StoreError::corrupt("client id"))?;
        let entry = AuditEntry::new(Action::Update, "dosing_session", id)
            .client(client)
            .detail(format!("amended: {}", amendment.part));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// The stored part of a session's REMS form.
    pub async fn rems_state(&self, id: DosingSessionId) -> Result<RemsState> {
        let row = sqlx::query(
            "SELECT ready_after_minutes, submitted_at, submitted_by, confirmation FROM rems_forms WHERE session_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(RemsState::default()) };
        Ok(RemsState {
            ready_after_minutes: sqlx::Row::try_get::<Option<i64>, _>(&r, "ready_after_minutes")?,
            submitted_at: rows::get_opt_ts(&r, "submitted_at")?,
            submitted_by: rows::get_opt_id(&r, "submitted_by")?,
            confirmation: rows::get_opt_str(&r, "confirmation")?,
        })
    }

    /// Records the REMS form's answers and, with a confirmation, its
    /// submission (after which it never changes).
    pub async fn save_rems(
        &self,
        actor: &Actor,
        id: DosingSessionId,
        ready_after_minutes: Option<i64>,
        confirmation: Option<&str>,
    ) -> Result<RemsState> {
        let by = actor.staff_id.ok_or_else(|| StoreError::Config("only staff submit REMS forms".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT client_id, route FROM dosing_sessions WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let (client, route) =
            row.ok_or_else(|| StoreError::NotFound { record: "dosing session", id: id.to_string() })?;
        if route != "intranasal" {
            return Err(StoreError::Conflict {
                field: "route",
                detail: "the REMS form is for esketamine sessions".into(),
            });
        }
        let submitted: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT submitted_at FROM rems_forms WHERE session_id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if submitted.as_ref().is_some_and(|(s,)| s.is_some()) {
            return Err(StoreError::Conflict {
                field: "submitted_at",
                detail: "this REMS form is already submitted".into(),
            });
        }
        let (at, sub_by) =
            if confirmation.is_some() { (Some(micros(now)), Some(by.to_string())) } else { (None, None) };
        let sql = if submitted.is_some() {
            "UPDATE rems_forms SET ready_after_minutes = $2, submitted_at = $3, submitted_by = $4, confirmation = $5 \
             WHERE session_id = $1"
        } else {
            "INSERT INTO rems_forms (session_id, ready_after_minutes, submitted_at, submitted_by, confirmation) \
             VALUES ($1, $2, $3, $4, $5)"
        };
        sqlx::query(sql)
            .bind(id.to_string())
            .bind(ready_after_minutes)
            .bind(at)
            .bind(sub_by)
            .bind(confirmation.map(str::to_string))
            .execute(&mut *tx)
            .await?;
        let client: ClientId = client.parse().map_err(|_| StoreError::corrupt("client id"))?;
        let what = if confirmation.is_some() { "REMS form submitted" } else { "REMS form answers saved" };
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Update, "dosing_session", id).client(client).detail(what),
            now,
        )
        .await?;
        tx.commit().await?;
        self.rems_state(id).await
    }

    /// Esketamine sessions whose REMS form is not submitted, oldest first.
    pub async fn rems_due(&self) -> Result<Vec<RemsDue>> {
        let rows = sqlx::query(
            "SELECT d.id, d.client_id, d.started_at, d.signed_at FROM dosing_sessions d \
             LEFT JOIN rems_forms f ON f.session_id = d.id \
             WHERE d.route = 'intranasal' AND f.submitted_at IS NULL ORDER BY d.started_at LIMIT 500",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RemsDue {
                    session_id: rows::get_id(r, "id")?,
                    client_id: rows::get_id(r, "client_id")?,
                    started_at: rows::get_ts(r, "started_at")?,
                    signed: rows::get_opt_ts(r, "signed_at")?.is_some(),
                })
            })
            .collect()
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
