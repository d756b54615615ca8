//! Clients' requests to amend their record (45 CFR 164.526; ONC
//! 170.315(d)(4); the rules are `kairos_domain::amendment_requests`). A
//! request and each step after it are appended, never changed (triggers on
//! both backends); one extension, one decision and one statement of
//! disagreement per request (unique indexes, so two staff members deciding
//! at once cannot both succeed). The audit log records who asked and who
//! decided what, never the words.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::DomainError;
use kairos_domain::amendment_requests::{DenialBasis, RecordArea, Status, Step, StepKind};
use kairos_domain::ids::{AmendmentRequestId, ClientId, StaffId};
use serde::Serialize;

/// One step of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AmendmentRequestStep))]
pub struct AmendmentStep {
    pub kind: StepKind,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    /// Who (none: the client, through the portal).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub staff_id: Option<StaffId>,
    /// Extended: the reasons for the delay; accepted: the amendment
    /// appended to the record; denied: the explanation; disagreed: the
    /// client's statement.
    pub text: String,
    /// Denied: the ground.
    pub basis: Option<DenialBasis>,
    /// Extended: the new date to act by.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub due_at: Option<Timestamp>,
}

impl AmendmentStep {
    fn step(&self) -> Step {
        match self.kind {
            StepKind::Extended => Step::Extended { at: self.at, due: self.due_at.unwrap_or(self.at) },
            StepKind::Accepted => Step::Accepted { at: self.at },
            StepKind::Denied => Step::Denied { at: self.at },
            StepKind::Disagreed => Step::Disagreed { at: self.at },
        }
    }
}

/// A request and its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AmendmentRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: AmendmentRequestId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub client_id: ClientId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub asked_at: Timestamp,
    /// `portal` (the client, signed in) or `in_writing` (entered by staff).
    pub via: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub entered_by: Option<StaffId>,
    pub area: RecordArea,
    /// Which record, in the client's words (a date, a session).
    pub which_record: Option<String>,
    /// What is wrong and what it should say, in the client's words.
    pub requested_change: String,
    pub steps: Vec<AmendmentStep>,
}

impl AmendmentRequest {
    /// Where it stands at `now`.
    pub fn status(&self, now: Timestamp) -> Status {
        kairos_domain::amendment_requests::status(self.asked_at, &self.domain_steps(), now)
    }

    pub fn domain_steps(&self) -> Vec<Step> {
        self.steps.iter().map(AmendmentStep::step).collect()
    }

    /// The step of this kind, if it happened.
    pub fn step(&self, kind: StepKind) -> Option<&AmendmentStep> {
        self.steps.iter().find(|s| s.kind == kind)
    }
}

/// A new request.
pub struct NewAmendmentRequest {
    pub client: ClientId,
    pub area: RecordArea,
    pub which_record: Option<String>,
    pub requested_change: String,
}

/// A new step: its kind, words, ground and (extension) new date, once the
/// rule allowed it.
pub struct NewStep {
    pub kind: StepKind,
    pub text: String,
    pub basis: Option<DenialBasis>,
    pub due_at: Option<Timestamp>,
}

const COLS: &str = "id, client_id, asked_at, via, entered_by, area, which_record, requested_change";
const STEP_COLS: &str = "request_id, kind, at, staff_id, text, basis, due_at";

fn request_of(r: &sqlx::any::AnyRow) -> Result<AmendmentRequest> {
    Ok(AmendmentRequest {
        id: rows::get_id(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        asked_at: rows::get_ts(r, "asked_at")?,
        via: rows::get_str(r, "via")?,
        entered_by: rows::get_opt_id(r, "entered_by")?,
        area: RecordArea::parse("area", &rows::get_str(r, "area")?)?,
        which_record: rows::get_opt_str(r, "which_record")?,
        requested_change: rows::get_str(r, "requested_change")?,
        steps: Vec::new(),
    })
}

fn step_of(r: &sqlx::any::AnyRow) -> Result<(String, AmendmentStep)> {
    Ok((
        rows::get_str(r, "request_id")?,
        AmendmentStep {
            kind: StepKind::parse("kind", &rows::get_str(r, "kind")?)?,
            at: rows::get_ts(r, "at")?,
            staff_id: rows::get_opt_id(r, "staff_id")?,
            text: rows::get_str(r, "text")?,
            basis: rows::get_opt_str(r, "basis")?.map(|b| DenialBasis::parse("basis", &b)).transpose()?,
            due_at: rows::get_opt_ts(r, "due_at")?,
        },
    ))
}

/// Fills in each request's steps, in order.
async fn with_steps<'e, E>(exec: E, mut requests: Vec<AmendmentRequest>) -> Result<Vec<AmendmentRequest>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    if requests.is_empty() {
        return Ok(requests);
    }
    let marks: Vec<String> = (1..=requests.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {STEP_COLS} FROM amendment_request_steps WHERE request_id IN ({}) ORDER BY at, id",
        marks.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in &requests {
        q = q.bind(r.id.to_string());
    }
    let rows = q.fetch_all(exec).await?;
    for row in &rows {
        let (id, step) = step_of(row)?;
        if let Some(r) = requests.iter_mut().find(|r| r.id.to_string() == id) {
            r.steps.push(step);
        }
    }
    Ok(requests)
}

impl Store {
    /// Records a request: the client's own through the portal (`actor`
    /// without a staff id), or one received in writing and entered by the
    /// staff member acting. Audited under the client, without its words.
    pub async fn create_amendment_request(&self, actor: &Actor, new: &NewAmendmentRequest) -> Result<AmendmentRequest> {
        // As stored (to the microsecond), so the answer equals a later read.
        let now =
            Timestamp::from_microsecond(micros(Timestamp::now())).map_err(|e| StoreError::Config(e.to_string()))?;
        let via = if actor.staff_id.is_some() { "in_writing" } else { "portal" };
        let mut tx = self.begin_write().await?;
        crate::clients::client_in(&mut tx, new.client).await?;
        let req = AmendmentRequest {
            id: AmendmentRequestId::new(),
            client_id: new.client,
            asked_at: now,
            via: via.to_string(),
            entered_by: actor.staff_id,
            area: new.area,
            which_record: new.which_record.clone(),
            requested_change: new.requested_change.clone(),
            steps: Vec::new(),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO amendment_requests ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )))
        .bind(req.id.to_string())
        .bind(req.client_id.to_string())
        .bind(micros(now))
        .bind(via)
        .bind(req.entered_by.map(|s| s.to_string()))
        .bind(req.area.as_str())
        .bind(req.which_record.clone())
        .bind(req.requested_change.clone())
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Create, "amendment_request", req.id)
            .client(req.client_id)
            .detail(format!("asked via {via}; area {}", req.area.as_str()));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(req)
    }

    /// One request with its steps (not audited: the caller audits the read).
    pub async fn amendment_request(&self, id: AmendmentRequestId) -> Result<AmendmentRequest> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM amendment_requests WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "amendment request", id: id.to_string() })?;
        let req = request_of(&row)?;
        Ok(with_steps(&self.pool, vec![req]).await?.remove(0))
    }

    /// A client's requests, newest first.
    pub async fn amendment_requests_of(&self, client: ClientId) -> Result<Vec<AmendmentRequest>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM amendment_requests WHERE client_id = $1 ORDER BY asked_at DESC, id DESC"
        )))
        .bind(client.to_string())
        .fetch_all(&self.pool)
        .await?;
        let reqs = rows.iter().map(request_of).collect::<Result<Vec<_>>>()?;
        with_steps(&self.pool, reqs).await
    }

    /// The requests not yet decided, oldest first (the work queue), and the
    /// latest 100 decided.
    pub async fn amendment_request_queue(&self) -> Result<(Vec<AmendmentRequest>, Vec<AmendmentRequest>)> {
        let decided = "SELECT 1 FROM amendment_request_steps s WHERE s.request_id = r.id \
                       AND s.kind IN ('accepted', 'denied')";
        let open = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM amendment_requests r WHERE NOT EXISTS ({decided}) ORDER BY asked_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM amendment_requests r WHERE EXISTS ({decided}) ORDER BY asked_at DESC, id DESC LIMIT 100"
        )))
        .fetch_all(&self.pool)
        .await?;
        let open = open.iter().map(request_of).collect::<Result<Vec<_>>>()?;
        let done = done.iter().map(request_of).collect::<Result<Vec<_>>>()?;
        Ok((with_steps(&self.pool, open).await?, with_steps(&self.pool, done).await?))
    }

    /// Appends a step to a request of `client` (any client for staff:
    /// `None`), once `rule` allows it on the request as it stands inside
    /// the transaction. Audited under the client with the step's kind.
    pub async fn add_amendment_step(
        &self,
        actor: &Actor,
        id: AmendmentRequestId,
        client: Option<ClientId>,
        rule: impl FnOnce(&AmendmentRequest, Timestamp) -> std::result::Result<NewStep, DomainError>,
    ) -> Result<AmendmentRequest> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM amendment_requests WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .filter(|r| client.is_none_or(|c| rows::get_str(r, "client_id").ok() == Some(c.to_string())))
            .ok_or_else(|| StoreError::NotFound { record: "amendment request", id: id.to_string() })?;
        let req = with_steps(&mut *tx, vec![request_of(&row)?]).await?.remove(0);
        let step = rule(&req, now)?;
        let already = "this request already has that step; a request's steps never change";
        sqlx::query(
            "INSERT INTO amendment_request_steps (id, request_id, at, kind, staff_id, text, basis, due_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(id.to_string())
        .bind(micros(now))
        .bind(step.kind.as_str())
        .bind(actor.staff_id.map(|s| s.to_string()))
        .bind(step.text.clone())
        .bind(step.basis.map(|b| b.as_str()))
        .bind(step.due_at.map(micros))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "id", already))?;
        let detail = match step.basis {
            Some(b) => format!("{}: {}", step.kind.as_str(), b.as_str()),
            None => step.kind.as_str().to_string(),
        };
        let entry = AuditEntry::new(Action::Update, "amendment_request", id).client(req.client_id).detail(detail);
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        let req = with_steps(&mut *tx, vec![request_of(&row)?]).await?.remove(0);
        tx.commit().await?;
        Ok(req)
    }
}
