//! Disclosures of a client's record outside the clinic (45 CFR 164.528;
//! ONC 170.315(d)(11); the rules are `kairos_domain::disclosures`). Each is
//! a row never changed (triggers on both backends), recorded by hand or in
//! the same transaction as the act that disclosed it (a REMS form
//! submitted). The audit log records that one was made and its purpose,
//! never the recipient or what was sent.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::disclosures::Purpose;
use kairos_domain::ids::{ClientId, DisclosureId, StaffId};
use serde::Serialize;

/// One disclosure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Disclosure {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: DisclosureId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub client_id: ClientId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub disclosed_at: Timestamp,
    /// Who received it.
    pub recipient: String,
    pub recipient_address: Option<String>,
    /// What was disclosed, briefly.
    pub description: String,
    pub purpose: Purpose,
    /// The purpose in words (or where the request for it is kept).
    pub statement: Option<String>,
    /// `recorded` (by hand), `rems_form` or `ledger_report`.
    pub source: String,
    /// The record the disclosing act concerned (a dosing session, a
    /// registration).
    pub source_ref: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub recorded_by: Option<StaffId>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub recorded_at: Timestamp,
}

/// A disclosure to record.
#[derive(Debug, Clone)]
pub struct NewDisclosure {
    pub client: ClientId,
    pub disclosed_at: Timestamp,
    pub recipient: String,
    pub recipient_address: Option<String>,
    pub description: String,
    pub purpose: Purpose,
    pub statement: Option<String>,
    pub source: &'static str,
    pub source_ref: Option<String>,
}

const COLS: &str = "id, client_id, disclosed_at, recipient, recipient_address, description, purpose, statement, \
                    source, source_ref, recorded_by, recorded_at";

fn disclosure_of(r: &sqlx::any::AnyRow) -> Result<Disclosure> {
    Ok(Disclosure {
        id: rows::get_id(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        disclosed_at: rows::get_ts(r, "disclosed_at")?,
        recipient: rows::get_str(r, "recipient")?,
        recipient_address: rows::get_opt_str(r, "recipient_address")?,
        description: rows::get_str(r, "description")?,
        purpose: Purpose::parse("purpose", &rows::get_str(r, "purpose")?)?,
        statement: rows::get_opt_str(r, "statement")?,
        source: rows::get_str(r, "source")?,
        source_ref: rows::get_opt_str(r, "source_ref")?,
        recorded_by: rows::get_opt_id(r, "recorded_by")?,
        recorded_at: rows::get_ts(r, "recorded_at")?,
    })
}

/// Records disclosures inside `tx` (each client must exist), audited under
/// each client with the purpose and the source.
pub(crate) async fn insert_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    actor: &Actor,
    new: &[NewDisclosure],
    now: Timestamp,
) -> Result<Vec<Disclosure>> {
    let now = Timestamp::from_microsecond(micros(now)).map_err(|e| StoreError::Config(e.to_string()))?;
    let mut out = Vec::with_capacity(new.len());
    for n in new {
        crate::clients::client_in(tx, n.client).await?;
        let at = Timestamp::from_microsecond(micros(n.disclosed_at)).map_err(|e| StoreError::Config(e.to_string()))?;
        let d = Disclosure {
            id: DisclosureId::new(),
            client_id: n.client,
            disclosed_at: at,
            recipient: n.recipient.clone(),
            recipient_address: n.recipient_address.clone(),
            description: n.description.clone(),
            purpose: n.purpose,
            statement: n.statement.clone(),
            source: n.source.to_string(),
            source_ref: n.source_ref.clone(),
            recorded_by: actor.staff_id,
            recorded_at: now,
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO disclosures ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        )))
        .bind(d.id.to_string())
        .bind(d.client_id.to_string())
        .bind(micros(d.disclosed_at))
        .bind(d.recipient.clone())
        .bind(d.recipient_address.clone())
        .bind(d.description.clone())
        .bind(d.purpose.as_str())
        .bind(d.statement.clone())
        .bind(d.source.clone())
        .bind(d.source_ref.clone())
        .bind(d.recorded_by.map(|s| s.to_string()))
        .bind(micros(now))
        .execute(&mut **tx)
        .await?;
        let entry = AuditEntry::new(Action::Create, "disclosure", d.id).client(d.client_id).detail(format!(
            "{}; {}",
            d.source,
            d.purpose.as_str()
        ));
        audit::insert_in(tx, actor, &entry, now).await?;
        out.push(d);
    }
    Ok(out)
}

impl Store {
    /// Records disclosures, all or none.
    pub async fn record_disclosures(&self, actor: &Actor, new: &[NewDisclosure]) -> Result<Vec<Disclosure>> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let out = insert_in(&mut tx, actor, new, now).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// A client's disclosures made at or after `since`, newest first (not
    /// audited: the caller audits the read).
    pub async fn disclosures_of(&self, client: ClientId, since: Timestamp) -> Result<Vec<Disclosure>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM disclosures WHERE client_id = $1 AND disclosed_at >= $2 \
             ORDER BY disclosed_at DESC, id DESC"
        )))
        .bind(client.to_string())
        .bind(micros(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(disclosure_of).collect()
    }
}
