//! Pre-treatment screens and the prescriber's signed eligibility decision.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::ids::{ClientId, CourseId, ScreenId, StaffId};
use kairos_domain::screening::{Decision, Finding, ScreenFindings, ScreenStatus};
use serde::Serialize;
use sqlx::any::AnyRow;

/// A recorded screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Screen {
    pub id: ScreenId,
    pub course_id: CourseId,
    pub client_id: ClientId,
    pub findings: ScreenFindings,
    /// The rules that applied when it was recorded, absolute first.
    pub classified: Vec<Finding>,
    pub recorded_by: Option<StaffId>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub recorded_at: Timestamp,
    pub signature: Option<Signature>,
}

/// The signed decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ScreenSignature))]
pub struct Signature {
    pub decision: Decision,
    pub by: StaffId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
}

const COLS: &str = "id, course_id, client_id, findings, classified, recorded_by, recorded_at, eligible, decision, \
     signed_by, signed_at";

fn json_corrupt(e: serde_json::Error) -> StoreError {
    StoreError::corrupt(format!("stored screen: {e}"))
}

fn screen_of(r: &AnyRow) -> Result<Screen> {
    let signature = match rows::get_opt_ts(r, "signed_at")? {
        Some(at) => Some(Signature {
            decision: serde_json::from_str(&rows::get_str(r, "decision")?).map_err(json_corrupt)?,
            by: rows::get_id(r, "signed_by")?,
            at,
        }),
        None => None,
    };
    Ok(Screen {
        id: rows::get_id(r, "id")?,
        course_id: rows::get_id(r, "course_id")?,
        client_id: rows::get_id(r, "client_id")?,
        findings: serde_json::from_str(&rows::get_str(r, "findings")?).map_err(json_corrupt)?,
        classified: serde_json::from_str(&rows::get_str(r, "classified")?).map_err(json_corrupt)?,
        recorded_by: rows::get_opt_id(r, "recorded_by")?,
        recorded_at: rows::get_ts(r, "recorded_at")?,
        signature,
    })
}

impl Screen {
    pub fn status(&self) -> ScreenStatus {
        match &self.signature {
            None => ScreenStatus::Unsigned,
            Some(s) if s.decision.eligible => ScreenStatus::SignedEligible,
            Some(_) => ScreenStatus::SignedIneligible,
        }
    }
}

impl Store {
    /// Records a screen for a course, with the findings as classified now.
    pub async fn record_screen(
        &self,
        actor: &Actor,
        course: CourseId,
        findings: &ScreenFindings,
        classified: &[Finding],
    ) -> Result<Screen> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let client = crate::courses::client_of_course_in(&mut tx, course).await?;
        let screen = Screen {
            id: ScreenId::new(),
            course_id: course,
            client_id: client,
            findings: findings.clone(),
            classified: classified.to_vec(),
            recorded_by: actor.staff_id,
            recorded_at: now,
            signature: None,
        };
        sqlx::query(
            "INSERT INTO screens (id, course_id, client_id, findings, classified, recorded_by, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(screen.id.to_string())
        .bind(course.to_string())
        .bind(client.to_string())
        .bind(serde_json::to_string(findings).map_err(json_corrupt)?)
        .bind(serde_json::to_string(classified).map_err(json_corrupt)?)
        .bind(actor.staff_id.map(|s| s.to_string()))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Create, "screen", screen.id).client(client).detail("screen recorded");
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(screen)
    }

    /// One screen (not audited; callers audit).
    pub async fn get_screen(&self, id: ScreenId) -> Result<Screen> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM screens WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "screen", id: id.to_string() })?;
        screen_of(&row)
    }

    /// A course's screens, newest first (not audited; callers audit).
    pub async fn screens_of(&self, course: CourseId) -> Result<Vec<Screen>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM screens WHERE course_id = $1 ORDER BY recorded_at DESC, id DESC"
        )))
        .bind(course.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(screen_of).collect()
    }

    /// Where the course's screening stands for dosing: the newest signed
    /// screen decides; an unsigned newer one does not undo it.
    pub async fn screen_status(&self, course: CourseId) -> Result<ScreenStatus> {
        let screens = self.screens_of(course).await?;
        if let Some(signed) = screens.iter().find(|s| s.signature.is_some()) {
            return Ok(signed.status());
        }
        Ok(if screens.is_empty() { ScreenStatus::None } else { ScreenStatus::Unsigned })
    }

    /// Signs a screen's decision, once. The caller has checked the decision
    /// against the screen's findings (`Decision::check`).
    pub async fn sign_screen(&self, actor: &Actor, id: ScreenId, decision: &Decision) -> Result<Screen> {
        let signer = actor.staff_id.ok_or_else(|| StoreError::Config("only a prescriber signs a screen".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM screens WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "screen", id: id.to_string() })?;
        let mut screen = screen_of(&row)?;
        if screen.signature.is_some() {
            return Err(StoreError::Conflict {
                field: "eligible",
                detail: "this screen is already signed; record a new screen to decide again".into(),
            });
        }
        decision.check(&screen.classified)?;
        sqlx::query(
            "UPDATE screens SET eligible = $2, decision = $3, signed_by = $4, signed_at = $5 \
             WHERE id = $1 AND signed_at IS NULL",
        )
        .bind(id.to_string())
        .bind(i64::from(decision.eligible))
        .bind(serde_json::to_string(decision).map_err(json_corrupt)?)
        .bind(signer.to_string())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Update, "screen", id)
            .client(screen.client_id)
            .detail(if decision.eligible { "signed: eligible" } else { "signed: not eligible" });
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        screen.signature = Some(Signature { decision: decision.clone(), by: signer, at: now });
        Ok(screen)
    }
}

/// [`Store::screen_status`] inside a write transaction.
pub(crate) async fn status_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    course: CourseId,
) -> Result<ScreenStatus> {
    let signed: Option<(i64,)> = sqlx::query_as(
        "SELECT eligible FROM screens WHERE course_id = $1 AND signed_at IS NOT NULL \
         ORDER BY signed_at DESC, id DESC LIMIT 1",
    )
    .bind(course.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((eligible,)) = signed {
        return Ok(if eligible != 0 { ScreenStatus::SignedEligible } else { ScreenStatus::SignedIneligible });
    }
    let any: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM screens WHERE course_id = $1")
        .bind(course.to_string())
        .fetch_one(&mut **tx)
        .await?;
    Ok(if any.0 > 0 { ScreenStatus::Unsigned } else { ScreenStatus::None })
}

/// Bulk insert for imports (the demo practice), inside the caller's transaction.
pub(crate) async fn import_screens(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: crate::Backend,
    list: &[Screen],
) -> Result<()> {
    for chunk in list.chunks(128) {
        let sql = format!("INSERT INTO screens ({COLS}) VALUES {}", rows::placeholders_for(backend, chunk.len(), 11));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in chunk {
            let sig = s.signature.as_ref();
            q = q
                .bind(s.id.to_string())
                .bind(s.course_id.to_string())
                .bind(s.client_id.to_string())
                .bind(serde_json::to_string(&s.findings).map_err(json_corrupt)?)
                .bind(serde_json::to_string(&s.classified).map_err(json_corrupt)?)
                .bind(s.recorded_by.map(|x| x.to_string()))
                .bind(micros(s.recorded_at))
                .bind(sig.map(|g| i64::from(g.decision.eligible)))
                .bind(sig.map(|g| serde_json::to_string(&g.decision)).transpose().map_err(json_corrupt)?)
                .bind(sig.map(|g| g.by.to_string()))
                .bind(sig.map(|g| micros(g.at)));
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
