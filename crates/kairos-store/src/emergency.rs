//! Emergency ("break-glass") access (ONC 170.315(d)(6)): a time-limited
//! grant for one staff member to read one client's emergency summary, with
//! the reason they gave, waiting for the director's review. Grants never
//! change; the review is recorded once (triggers on both backends).

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::{SignedDuration, Timestamp};
use kairos_domain::ids::{ClientId, EmergencyAccessId, StaffId};
use serde::Serialize;

/// One emergency access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmergencyAccess {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: EmergencyAccessId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub staff_id: StaffId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub client_id: ClientId,
    /// Why, in the staff member's words.
    pub reason: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub granted_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub expires_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub reviewed_by: Option<StaffId>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub reviewed_at: Option<Timestamp>,
    pub review_note: Option<String>,
}

const COLS: &str = "id, staff_id, client_id, reason, granted_at, expires_at, reviewed_by, reviewed_at, review_note";

fn grant_of(r: &sqlx::any::AnyRow) -> Result<EmergencyAccess> {
    Ok(EmergencyAccess {
        id: rows::get_id(r, "id")?,
        staff_id: rows::get_id(r, "staff_id")?,
        client_id: rows::get_id(r, "client_id")?,
        reason: rows::get_str(r, "reason")?,
        granted_at: rows::get_ts(r, "granted_at")?,
        expires_at: rows::get_ts(r, "expires_at")?,
        reviewed_by: rows::get_opt_id(r, "reviewed_by")?,
        reviewed_at: rows::get_opt_ts(r, "reviewed_at")?,
        review_note: rows::get_opt_str(r, "review_note")?,
    })
}

impl Store {
    /// Grants the actor emergency access to a client for `lifetime`, with
    /// its reason; audited under the client (the reason stays in the grant).
    pub async fn grant_emergency_access(
        &self,
        actor: &Actor,
        client: ClientId,
        reason: &str,
        lifetime: SignedDuration,
    ) -> Result<EmergencyAccess> {
        let staff = actor.staff_id.ok_or_else(|| StoreError::Config("only staff break glass".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        crate::clients::client_in(&mut tx, client).await?;
        let grant = EmergencyAccess {
            id: EmergencyAccessId::new(),
            staff_id: staff,
            client_id: client,
            reason: reason.to_string(),
            granted_at: now,
            expires_at: now + lifetime,
            reviewed_by: None,
            reviewed_at: None,
            review_note: None,
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO emergency_access ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL)"
        )))
        .bind(grant.id.to_string())
        .bind(staff.to_string())
        .bind(client.to_string())
        .bind(grant.reason.clone())
        .bind(micros(grant.granted_at))
        .bind(micros(grant.expires_at))
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Create, "emergency_access", grant.id)
            .client(client)
            .detail(format!("break-glass access for {} minutes", lifetime.as_mins()));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(grant)
    }

    /// The staff member's unexpired grant for the client, if any.
    pub async fn active_emergency_access(
        &self,
        staff: StaffId,
        client: ClientId,
        now: Timestamp,
    ) -> Result<Option<EmergencyAccess>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM emergency_access WHERE staff_id = $1 AND client_id = $2 AND expires_at > $3 \
             ORDER BY expires_at DESC LIMIT 1"
        )))
        .bind(staff.to_string())
        .bind(client.to_string())
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(grant_of).transpose()
    }

    /// Grants, oldest first: those waiting for review, or all (newest
    /// first, the latest 500).
    pub async fn emergency_accesses(&self, waiting_only: bool) -> Result<Vec<EmergencyAccess>> {
        let sql = if waiting_only {
            format!("SELECT {COLS} FROM emergency_access WHERE reviewed_at IS NULL ORDER BY granted_at, id")
        } else {
            format!("SELECT {COLS} FROM emergency_access ORDER BY granted_at DESC, id DESC LIMIT 500")
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(grant_of).collect()
    }

    pub async fn emergency_access(&self, id: EmergencyAccessId) -> Result<EmergencyAccess> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM emergency_access WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "emergency access", id: id.to_string() })?;
        grant_of(&row)
    }

    /// Records the review of a grant, once (409 naming `id` after that).
    pub async fn review_emergency_access(
        &self,
        actor: &Actor,
        id: EmergencyAccessId,
        note: &str,
    ) -> Result<EmergencyAccess> {
        let by = actor.staff_id.ok_or_else(|| StoreError::Config("only staff review".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE emergency_access SET reviewed_by = $2, reviewed_at = $3, review_note = $4 \
             WHERE id = $1 AND reviewed_at IS NULL RETURNING {COLS}"
        )))
        .bind(id.to_string())
        .bind(by.to_string())
        .bind(micros(now))
        .bind(note.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM emergency_access WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            return Err(match exists {
                None => StoreError::NotFound { record: "emergency access", id: id.to_string() },
                Some(_) => {
                    StoreError::Conflict { field: "id", detail: "this emergency access was already reviewed".into() }
                }
            });
        };
        let grant = grant_of(&row)?;
        let entry = AuditEntry::new(Action::Update, "emergency_access", id).client(grant.client_id).detail("reviewed");
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(grant)
    }
}

impl Store {
    /// Clients with exactly this family name (as searched: case and accents
    /// aside) and date of birth: how someone without access to the client
    /// list finds the one client an emergency concerns. Not audited: the
    /// caller audits it as part of the emergency access.
    pub async fn clients_by_family_name_and_birth(
        &self,
        family_name: &str,
        born: jiff::civil::Date,
    ) -> Result<Vec<kairos_domain::client::Client>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM clients WHERE search_family = $1 AND date_of_birth = $2 ORDER BY search_given, id LIMIT 20",
            crate::clients::CLIENT_COLS
        )))
        .bind(kairos_domain::text::search_key(family_name))
        .bind(born.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::clients::client_of).collect()
    }
}
