//! Dosing sessions: started on an arrived dosing encounter of a course with
//! a signed eligible screen, vitals over time with their alerts, discharge
//! no earlier than the protocol's monitoring time, and a signature after
//! which nothing changes.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::Refusal;
use kairos_domain::dosing::{
    Amendment, EarlyEnd, EarlyEndRecord, OnSite, OpenSelfHarm, Readiness, SessionEvent, SessionFacts, StartSnapshot,
    StockFacts, VitalAlert, Vitals,
};
use kairos_domain::ids::{
    AmendmentId, ClientId, CourseId, DosingSessionId, EncounterId, SessionEventId, SiteId, StaffId, StockId, VitalsId,
};
use kairos_domain::ledger::{EntryDetail, EntryKind, LedgerPolicy, Substance};
use kairos_domain::screening::ScreenStatus;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

pub use kairos_domain::dosing::{Checklist, NewSession};

/// A dissociation score, side effect or adverse event as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventRecord {
    pub id: SessionEventId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    pub event: SessionEvent,
    pub recorded_by: Option<StaffId>,
}

/// An amendment to a signed session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AmendmentRecord {
    pub id: AmendmentId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    pub by: StaffId,
    #[serde(flatten)]
    pub amendment: Amendment,
}

/// The esketamine REMS form's stored part: the clinician's answer and the
/// submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemsState {
    /// "When would the patient have been ready to leave without the 2-hour
    /// rule", in minutes after the dose.
    pub ready_after_minutes: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub submitted_at: Option<Timestamp>,
    pub submitted_by: Option<StaffId>,
    pub confirmation: Option<String>,
}

/// An esketamine session whose REMS form is not yet submitted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemsDue {
    pub session_id: DosingSessionId,
    pub client_id: ClientId,
    /// The site of the visit: the form is due within 7 of its calendar days.
    pub site_id: SiteId,
    pub started_at: Timestamp,
    pub signed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VitalsRecord {
    pub id: VitalsId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    pub vitals: Vitals,
    pub alerts: Vec<VitalAlertRecord>,
    pub recorded_by: Option<StaffId>,
}

/// Where a dose stands (the day view's row for a dose).
#[derive(Debug, Clone, PartialEq)]
pub struct ChairState {
    pub session: DosingSessionId,
    pub started_at: Timestamp,
    pub discharged_at: Option<Timestamp>,
    /// How the session ended, when it ended before a discharge.
    pub early_end: Option<EarlyEnd>,
    /// The latest reading and when it was taken.
    pub last_vitals: Option<(Timestamp, Vitals)>,
}

/// A vital-sign alert as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// A prescriber's documented reason for a dose outside the protocol.
    pub dose_exception: Option<String>,
    pub route: String,
    pub mg_per_kg: Option<f64>,
    pub weight_kg: Option<f64>,
    pub dose_mg: f64,
    pub lot: String,
    pub monitoring_minutes: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: Timestamp,
    pub started_by: Option<StaffId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub discharged_at: Option<Timestamp>,
    pub discharged_by: Option<StaffId>,
    pub accompanied_by: Option<String>,
    /// A prescriber's documented decision to discharge a client not yet
    /// ready by the record (see `kairos_domain::dosing::Readiness`).
    pub discharge_decision: Option<String>,
    /// Set when the session ended before a discharge (a transfer to
    /// emergency care, or the client leaving against advice); the end time
    /// is `discharged_at`.
    pub early_end: Option<EarlyEndRecord>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub signed_at: Option<Timestamp>,
    pub signed_by: Option<StaffId>,
    /// The prescriber on site during administration and monitoring.
    pub prescriber_on_site: Option<StaffId>,
    pub vitals: Vec<VitalsRecord>,
    pub events: Vec<EventRecord>,
    pub amendments: Vec<AmendmentRecord>,
}

const COLS: &str = "id, encounter_id, course_id, client_id, protocol_id, checklist, pre_vitals, hold_reason, \
     override_reason, override_by, route, mg_per_kg, weight_kg, dose_mg, lot, monitoring_minutes, started_at, started_by, \
     discharged_at, discharged_by, accompanied_by, signed_at, signed_by, end_kind, end_reason, transferred_to, dose_exception, discharge_decision, \
     prescriber_on_site";

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
        dose_exception: rows::get_opt_str(r, "dose_exception")?,
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
        discharge_decision: rows::get_opt_str(r, "discharge_decision")?,
        early_end: match rows::get_opt_str(r, "end_kind")? {
            None => None,
            Some(kind) => Some(EarlyEndRecord {
                kind: EarlyEnd::parse("end_kind", &kind).map_err(|e| StoreError::corrupt(e.to_string()))?,
                reason: rows::get_opt_str(r, "end_reason")?.unwrap_or_default(),
                transferred_to: rows::get_opt_str(r, "transferred_to")?,
            }),
        },
        signed_at: rows::get_opt_ts(r, "signed_at")?,
        signed_by: rows::get_opt_id(r, "signed_by")?,
        prescriber_on_site: rows::get_opt_id(r, "prescriber_on_site")?,
        vitals: Vec::new(),
        events: Vec::new(),
        amendments: Vec::new(),
    })
}

/// The session as the decisions after the start see it, read in the write
/// transaction.
async fn session_in(tx: &mut sqlx::Transaction<'static, sqlx::Any>, id: DosingSessionId) -> Result<DosingSession> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM dosing_sessions WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "dosing session", id: id.to_string() })?;
    session_of(&row)
}

/// A safety alert raised by a dosing session (`item` says what raised it):
/// on the banner of the course's prescriber and therapist and of whoever
/// charted it, on the alert list and the day view, until acknowledged with
/// what was done.
async fn session_alert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    s: &DosingSession,
    actor: &Actor,
    item: &str,
    message: &str,
    now: Timestamp,
) -> Result<()> {
    let alert = crate::measures::Alert {
        dosing_session_id: Some(s.id),
        notify_staff_id: actor.staff_id,
        ..crate::measures::Alert::urgent(s.client_id, item, message, now)
    };
    crate::measures::insert_alert_in(tx, &alert).await
}

/// The session's unacknowledged alerts, latest MOAA/S and the alerts of its
/// latest reading with vital signs, read in the transaction.
async fn readiness_in(tx: &mut sqlx::Transaction<'static, sqlx::Any>, id: DosingSessionId) -> Result<Readiness> {
    let (open,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM alerts WHERE dosing_session_id = $1 AND acknowledged_at IS NULL")
            .bind(id.to_string())
            .fetch_one(&mut **tx)
            .await?;
    let readings: Vec<(String, String)> =
        sqlx::query_as("SELECT vitals, alerts FROM session_vitals WHERE session_id = $1 ORDER BY at, id")
            .bind(id.to_string())
            .fetch_all(&mut **tx)
            .await?;
    let mut ready = Readiness { open_alerts: usize::try_from(open).unwrap_or(usize::MAX), ..Readiness::default() };
    for (vitals, alerts) in readings {
        let v: Vitals = serde_json::from_str(&vitals).map_err(json_corrupt)?;
        if let Some(m) = v.moaas {
            ready.last_moaas = Some(m);
        }
        let signs = [v.systolic, v.diastolic, v.heart_rate].iter().any(Option::is_some)
            || v.spo2.is_some()
            || v.respiratory_rate.is_some();
        if signs {
            let a: Vec<VitalAlertRecord> = serde_json::from_str(&alerts).map_err(json_corrupt)?;
            ready.last_reading_alerts = a.into_iter().map(|x| x.message).collect();
        }
    }
    Ok(ready)
}

fn facts(s: &DosingSession) -> Result<SessionFacts> {
    Ok(SessionFacts {
        started_at: s.started_at,
        monitoring_minutes: u32::try_from(s.monitoring_minutes)
            .map_err(|_| StoreError::corrupt("monitoring_minutes"))?,
        discharged_at: s.discharged_at,
        signed: s.signed_at.is_some(),
    })
}

impl Store {
    /// Starts a dosing session: loads what the decision needs (the
    /// encounter, the course's screening and protocol, the site's time zone,
    /// the named stock) in the write transaction, asks `decide`, and writes
    /// the session, its ledger administration and the audit entry together.
    pub async fn start_dosing_session(
        &self,
        actor: &Actor,
        encounter: EncounterId,
        stock: Option<StockId>,
        prescriber: Option<StaffId>,
        ledger: &LedgerPolicy,
        decide: impl FnOnce(&StartSnapshot) -> std::result::Result<NewSession, Refusal>,
    ) -> Result<DosingSession> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM encounters WHERE id = $1",
            crate::encounters::COLS
        )))
        .bind(encounter.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "encounter", id: encounter.to_string() })?;
        let enc = crate::encounters::encounter_of(&row)?;
        let (screening, course_protocol) = match enc.course_id {
            Some(course) => {
                let protocol: Option<(String,)> = sqlx::query_as("SELECT protocol FROM courses WHERE id = $1")
                    .bind(course.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                (crate::screens::status_in(&mut tx, course).await?, protocol.map(|p| p.0))
            }
            None => (ScreenStatus::None, None),
        };
        let tz: (String,) = sqlx::query_as("SELECT time_zone FROM sites WHERE id = $1")
            .bind(enc.site_id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let site_tz = jiff::tz::TimeZone::get(&tz.0).map_err(|_| StoreError::corrupt("site time zone"))?;
        let stock = match stock {
            None => None,
            Some(stock_id) => {
                let row: Option<(String, String, String, Option<String>, f64)> = sqlx::query_as(
                    "SELECT k.substance, k.lot, r.site_id, k.expires, k.mg_per_unit FROM cs_stock k \
                     JOIN cs_registrations r ON r.id = k.registration_id WHERE k.id = $1",
                )
                .bind(stock_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                row.map(|(substance, lot, site, expires, mg_per_unit)| {
                    Ok::<_, StoreError>(StockFacts {
                        id: stock_id,
                        substance: Substance::parse("substance", &substance)
                            .map_err(|_| StoreError::corrupt("stock substance"))?,
                        lot,
                        site_id: site.parse().map_err(|_| StoreError::corrupt("registration site"))?,
                        expires: expires
                            .map(|e| e.parse().map_err(|_| StoreError::corrupt("stock expiry")))
                            .transpose()?,
                        mg_per_unit,
                    })
                })
                .transpose()?
            }
        };
        let open_self_harm = open_self_harm_in(&mut tx, enc.client_id).await?;
        let rems_enrolled_on = crate::rems::enrolment_in(&mut tx, enc.client_id).await?.map(|e| e.enrolled_on);
        let prescriber_on_site = match prescriber {
            None => None,
            Some(id) => {
                let row: Option<(String, String, i64)> =
                    sqlx::query_as("SELECT name, roles, active FROM staff WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                row.map(|(name, roles, active)| {
                    let roles = kairos_domain::roles::Roles::parse_list(&roles)?;
                    Ok::<_, StoreError>(OnSite {
                        id,
                        name,
                        active_prescriber: active != 0 && roles.contains(kairos_domain::roles::Role::Prescriber),
                    })
                })
                .transpose()?
            }
        };
        let snapshot = StartSnapshot {
            rems_enrolled_on,
            prescriber_on_site,
            open_self_harm,
            encounter_id: enc.id,
            kind: enc.kind,
            status: enc.status,
            has_course: enc.course_id.is_some(),
            course_protocol,
            screening,
            site_id: enc.site_id,
            site_tz,
            stock,
        };
        let new = decide(&snapshot)?;
        let course = enc.course_id.ok_or_else(|| StoreError::corrupt("a started dose without a course"))?;
        let id = DosingSessionId::new();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO dosing_sessions ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             CAST($12 AS DOUBLE PRECISION), CAST($13 AS DOUBLE PRECISION), $14, \
             $15, $16, $17, $18, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, $19, NULL, $20)"
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
        // The optional numbers go as text, cast in SQL: sqlx's Any driver
        // types an absent f64 as a 4-byte float, and PostgreSQL keeps the
        // statement prepared with the types of its first use, so a fixed
        // dose (no mg/kg) followed on the same connection by a weight-based
        // one would be refused. Text is text whether present or not.
        .bind(new.mg_per_kg.map(|v| v.to_string()))
        .bind(new.weight_kg.map(|v| v.to_string()))
        .bind(new.dose_mg)
        .bind(new.lot.clone())
        .bind(i64::from(new.monitoring_minutes))
        .bind(micros(new.started_at))
        .bind(actor.staff_id.map(|s| s.to_string()))
        .bind(new.dose_exception.clone())
        .bind(new.prescriber_on_site.map(|p| p.to_string()))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "encounter_id", "this encounter already has a dosing session"))?;
        // Coded: what was done, never the dose (it stays in the session).
        let mut codes = vec!["started"];
        if new.override_reason.is_some() {
            codes.push("hold_overridden");
        }
        if new.dose_exception.is_some() {
            codes.push("dose_exception");
        }
        let entry =
            AuditEntry::new(Action::Create, "dosing_session", id).client(enc.client_id).detail(codes.join("; "));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        if let Some((alerts, review)) = &new.self_harm_reviewed {
            let note = format!("Reviewed before the dose: {review}");
            for alert in alerts {
                let detail = "acknowledged before a dose";
                crate::measures::acknowledge_in(&mut tx, actor, *alert, enc.client_id, &note, detail, now).await?;
            }
        }
        crate::integration_due::refresh(&mut tx, &[enc.client_id]).await?;
        if let Some(a) = new.administration {
            let administration = crate::ledger::NewEntry {
                stock_id: a.stock_id,
                kind: EntryKind::Administration,
                occurred_at: new.started_at,
                quantity: a.given,
                detail: EntryDetail { drawn: a.drawn, ..EntryDetail::default() },
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

    /// The sessions charted for these encounters (those that have one).
    pub async fn dosing_sessions_for(
        &self,
        encounters: &[EncounterId],
    ) -> Result<std::collections::HashMap<EncounterId, DosingSessionId>> {
        let mut out = std::collections::HashMap::new();
        for chunk in encounters.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql =
                format!("SELECT encounter_id, id FROM dosing_sessions WHERE encounter_id IN ({})", marks.join(","));
            let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.to_string());
            }
            for (encounter, id) in q.fetch_all(&self.pool).await? {
                let encounter = encounter.parse().map_err(|_| StoreError::corrupt("encounter id"))?;
                out.insert(encounter, id.parse().map_err(|_| StoreError::corrupt("dosing session id"))?);
            }
        }
        Ok(out)
    }

    /// Where each of these visits' doses stands (those with a session): when
    /// the dose started, whether the client has left, the latest vital signs.
    pub async fn chair_states(
        &self,
        encounters: &[EncounterId],
    ) -> Result<std::collections::HashMap<EncounterId, ChairState>> {
        let mut out = std::collections::HashMap::new();
        for chunk in encounters.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT s.encounter_id, s.id, s.started_at, s.discharged_at, s.end_kind, v.at AS vitals_at, v.vitals \
                 FROM dosing_sessions s LEFT JOIN session_vitals v ON v.session_id = s.id \
                 AND v.at = (SELECT MAX(w.at) FROM session_vitals w WHERE w.session_id = s.id) \
                 WHERE s.encounter_id IN ({})",
                marks.join(",")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.to_string());
            }
            for row in q.fetch_all(&self.pool).await? {
                let last_vitals = match (rows::get_opt_ts(&row, "vitals_at")?, rows::get_opt_str(&row, "vitals")?) {
                    (Some(at), Some(v)) => Some((at, serde_json::from_str(&v).map_err(json_corrupt)?)),
                    _ => None,
                };
                let encounter: EncounterId = rows::get_id(&row, "encounter_id")?;
                out.insert(
                    encounter,
                    ChairState {
                        session: rows::get_id(&row, "id")?,
                        started_at: rows::get_ts(&row, "started_at")?,
                        discharged_at: rows::get_opt_ts(&row, "discharged_at")?,
                        early_end: rows::get_opt_str(&row, "end_kind")?
                            .map(|k| EarlyEnd::parse("end_kind", &k))
                            .transpose()
                            .map_err(|e| StoreError::corrupt(e.to_string()))?,
                        last_vitals,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Dose visits marked completed since `since` with no dosing session
    /// charted (what was given is not in the record): how many, and the
    /// latest `limit` of them.
    pub async fn doses_without_session(
        &self,
        since: Timestamp,
        limit: i64,
    ) -> Result<(i64, Vec<kairos_domain::encounter::Encounter>)> {
        let filter = "FROM encounters e WHERE e.kind = 'dosing' AND e.status = 'completed' AND e.scheduled_start >= $1 \
                      AND NOT EXISTS (SELECT 1 FROM dosing_sessions d WHERE d.encounter_id = e.id)";
        let (total,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {filter}")))
            .bind(micros(since))
            .fetch_one(&self.pool)
            .await?;
        let cols: Vec<String> = crate::encounters::COLS.split(", ").map(|c| format!("e.{c}")).collect();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} {filter} ORDER BY e.scheduled_start DESC, e.id LIMIT $2",
            cols.join(", ")
        )))
        .bind(micros(since))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let list = rows.iter().map(crate::encounters::encounter_of).collect::<Result<Vec<_>>>()?;
        Ok((total, list))
    }

    /// How many safety alerts are open for each of these sessions (those
    /// with any).
    pub async fn open_alerts_by_session(
        &self,
        sessions: &[DosingSessionId],
    ) -> Result<std::collections::HashMap<DosingSessionId, i64>> {
        let mut out = std::collections::HashMap::new();
        for chunk in sessions.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT dosing_session_id, COUNT(*) FROM alerts WHERE acknowledged_at IS NULL \
                 AND dosing_session_id IN ({}) GROUP BY dosing_session_id",
                marks.join(",")
            );
            let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.to_string());
            }
            for (session, n) in q.fetch_all(&self.pool).await? {
                out.insert(session.parse().map_err(|_| StoreError::corrupt("dosing session id"))?, n);
            }
        }
        Ok(out)
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

    /// Records a dissociation score, side effect or adverse event at the
    /// time `decide` charts it.
    pub async fn add_session_event(
        &self,
        actor: &Actor,
        id: DosingSessionId,
        event: &SessionEvent,
        decide: impl FnOnce(&SessionFacts) -> std::result::Result<Timestamp, Refusal>,
    ) -> Result<EventRecord> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let s = session_in(&mut tx, id).await?;
        let at = decide(&facts(&s)?)?;
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
        decide: impl FnOnce(&SessionFacts) -> std::result::Result<(), Refusal>,
    ) -> Result<AmendmentRecord> {
        let by = actor.staff_id.ok_or_else(|| StoreError::Config("only staff amend a session".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let s = session_in(&mut tx, id).await?;
        decide(&facts(&s)?)?;
        let client = s.client_id;
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
        // A submitted form is a disclosure to the REMS program, required by
        // law: kept for the client's accounting (45 CFR 164.528).
        if let Some(confirmation) = confirmation {
            let disclosure = crate::disclosures::NewDisclosure {
                client,
                disclosed_at: now,
                recipient: "SPRAVATO REMS".into(),
                recipient_address: None,
                description: "REMS patient monitoring form for one esketamine treatment session (sedation, \
                              dissociation, vital signs, readiness to leave)"
                    .into(),
                purpose: kairos_domain::disclosures::Purpose::RequiredByLaw,
                statement: Some(format!("FDA-required REMS monitoring; confirmation {confirmation}")),
                source: "rems_form",
                source_ref: Some(id.to_string()),
            };
            crate::disclosures::insert_in(&mut tx, actor, &[disclosure], now).await?;
        }
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
            "SELECT d.id, d.client_id, e.site_id, d.started_at, d.signed_at FROM dosing_sessions d \
             JOIN encounters e ON e.id = d.encounter_id \
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
                    site_id: rows::get_id(r, "site_id")?,
                    started_at: rows::get_ts(r, "started_at")?,
                    signed: rows::get_opt_ts(r, "signed_at")?.is_some(),
                })
            })
            .collect()
    }

    /// Records a set of vital signs at the time, and with the alerts,
    /// that `decide` gives.
    pub async fn add_vitals(
        &self,
        actor: &Actor,
        id: DosingSessionId,
        vitals: &Vitals,
        decide: impl FnOnce(&SessionFacts) -> std::result::Result<(Timestamp, Vec<VitalAlert>), Refusal>,
    ) -> Result<VitalsRecord> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let s = session_in(&mut tx, id).await?;
        let (at, alerts) = decide(&facts(&s)?)?;
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
        // A reading that crossed a threshold is also one safety alert (all
        // it crossed, in one message): on the banner of the course's
        // prescriber and therapist and of whoever charted it, on the alert
        // list and the day view, until acknowledged with what was done.
        if !record.alerts.is_empty() {
            let emergency = record.alerts.iter().any(|a| a.emergency);
            let crossed: Vec<&str> = record.alerts.iter().map(|a| a.message.as_str()).collect();
            let message =
                format!("During a dose{}: {}", if emergency { " (emergency)" } else { "" }, crossed.join("; "));
            session_alert(&mut tx, &s, actor, "vital_signs", &message, now).await?;
        }
        let entry = AuditEntry::new(Action::Update, "dosing_session", id).client(s.client_id).detail("vitals");
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Records discharge at the time, with the companion (and any
    /// prescriber's decision), that `decide` accepts, given the session and
    /// its readiness as read in the write transaction.
    pub async fn discharge(
        &self,
        actor: &Actor,
        id: DosingSessionId,
        decide: impl FnOnce(&SessionFacts, &Readiness) -> std::result::Result<(Timestamp, String, Option<String>), Refusal>,
    ) -> Result<DosingSession> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let s = session_in(&mut tx, id).await?;
        let ready = readiness_in(&mut tx, id).await?;
        let (at, accompanied_by, decision) = decide(&facts(&s)?, &ready)?;
        sqlx::query(
            "UPDATE dosing_sessions SET discharged_at = $2, discharged_by = $3, accompanied_by = $4, \
             discharge_decision = $5 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(micros(at))
        .bind(actor.staff_id.map(|x| x.to_string()))
        .bind(accompanied_by.to_string())
        .bind(decision.clone())
        .execute(&mut *tx)
        .await?;
        let detail = if decision.is_some() { "discharged by a prescriber's decision" } else { "discharged" };
        let entry = AuditEntry::new(Action::Update, "dosing_session", id).client(s.client_id).detail(detail);
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        self.get_dosing_session(id).await
    }

    /// The readiness of a session's client to leave, from the record.
    pub async fn discharge_readiness(&self, id: DosingSessionId) -> Result<Readiness> {
        let mut tx = self.pool.begin().await?;
        let r = readiness_in(&mut tx, id).await;
        tx.rollback().await?;
        r
    }

    /// Ends a session early (a transfer, or the client leaving against
    /// advice) as `decide` accepts: the end closes the chair like a
    /// discharge and raises a safety alert for the care team, in one
    /// transaction with its audit entry.
    pub async fn end_session_early(
        &self,
        actor: &Actor,
        id: DosingSessionId,
        decide: impl FnOnce(&SessionFacts) -> std::result::Result<(Timestamp, EarlyEndRecord), Refusal>,
    ) -> Result<DosingSession> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let s = session_in(&mut tx, id).await?;
        let (at, end) = decide(&facts(&s)?)?;
        sqlx::query(
            "UPDATE dosing_sessions SET discharged_at = $2, discharged_by = $3, end_kind = $4, end_reason = $5, \
             transferred_to = $6 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(micros(at))
        .bind(actor.staff_id.map(|x| x.to_string()))
        .bind(end.kind.as_str())
        .bind(end.reason.clone())
        .bind(end.transferred_to.clone())
        .execute(&mut *tx)
        .await?;
        let minutes = at.duration_since(s.started_at).as_mins();
        let message = match &end.transferred_to {
            Some(to) => format!("The dose ended early, {minutes} min after it was given: transferred to {to}"),
            None => format!("The dose ended early, {minutes} min after it was given: the client left against advice"),
        };
        session_alert(&mut tx, &s, actor, "session_ended_early", &message, now).await?;
        let entry = AuditEntry::new(Action::Update, "dosing_session", id).client(s.client_id).detail(end.kind.as_str());
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        self.get_dosing_session(id).await
    }

    /// Signs a session when `decide` allows; after this it never changes.
    pub async fn sign_dosing_session(
        &self,
        actor: &Actor,
        id: DosingSessionId,
        decide: impl FnOnce(&SessionFacts) -> std::result::Result<(), Refusal>,
    ) -> Result<DosingSession> {
        let by = actor.staff_id.ok_or_else(|| StoreError::Config("only staff sign a session".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let s = session_in(&mut tx, id).await?;
        decide(&facts(&s)?)?;
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

/// A client's self-harm alerts not yet acknowledged, oldest first: what a
/// dose's start refuses without a review, and what its form shows.
async fn open_self_harm_in(conn: &mut sqlx::AnyConnection, client: ClientId) -> Result<Vec<OpenSelfHarm>> {
    sqlx::query(
        "SELECT id, message, item_value, created_at FROM alerts \
         WHERE client_id = $1 AND self_harm = 1 AND acknowledged_at IS NULL ORDER BY created_at, id",
    )
    .bind(client.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(OpenSelfHarm {
            id: rows::get_id(r, "id")?,
            message: rows::get_str(r, "message")?,
            value: rows::Cols::opt_int(r, "item_value")?.unwrap_or_default(),
            raised_at: rows::get_ts(r, "created_at")?,
        })
    })
    .collect()
}

impl Store {
    /// The client's open self-harm alerts, as a dose's start sees them.
    pub async fn open_self_harm_alerts(&self, client: ClientId) -> Result<Vec<OpenSelfHarm>> {
        let mut conn = self.pool.acquire().await?;
        open_self_harm_in(&mut conn, client).await
    }
}
