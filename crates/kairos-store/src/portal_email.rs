//! A change of the e-mail address of a client who has a portal account.
//! The address is where sign-in links and invitations go, so whoever
//! changes it could open the client's portal (their private journal). The
//! change therefore waits until it is confirmed: by the client, from a link
//! sent to the old address, or in person, by a second staff member signing
//! with their own credentials. Until then the client's record and the portal
//! keep the old address. Each step is audited (`portal_email_change`) with
//! the addresses before and after and nothing clinical; the old address is
//! told of the request and of the change through the outbox.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::portal::{OutgoingEmail, enqueue_email_in};
use crate::rows::{self, micros};
use crate::sessions::token_hash;
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::client::{Client, ClientDetails};
use kairos_domain::ids::{ClientId, StaffId};
use sqlx::any::AnyRow;

/// A change of a portal client's address, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChange {
    pub id: String,
    pub client_id: ClientId,
    pub old_email: String,
    pub new_email: String,
    pub requested_by: Option<StaffId>,
    pub requested_at: Timestamp,
    /// The client's link works until then (in person has no deadline while
    /// the change is pending).
    pub expires_at: Timestamp,
    /// `pending`, `confirmed`, `cancelled` or `superseded`.
    pub status: String,
    /// `client_link` or `in_person`.
    pub confirmed_via: Option<String>,
    pub confirmed_by: Option<StaffId>,
}

/// How a change was confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The client opened the link sent to the old address.
    ClientLink,
    /// At the clinic, a second staff member (not the one who asked) signed.
    InPerson(StaffId),
}

const COLS: &str = "id, client_id, old_email, new_email, requested_by, requested_at, expires_at, status, \
    confirmed_via, confirmed_by";

fn change_of(r: &AnyRow) -> Result<EmailChange> {
    Ok(EmailChange {
        id: rows::get_str(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        old_email: rows::get_str(r, "old_email")?,
        new_email: rows::get_str(r, "new_email")?,
        requested_by: rows::get_opt_id(r, "requested_by")?,
        requested_at: rows::get_ts(r, "requested_at")?,
        expires_at: rows::get_ts(r, "expires_at")?,
        status: rows::get_str(r, "status")?,
        confirmed_via: rows::get_opt_str(r, "confirmed_via")?,
        confirmed_by: rows::get_opt_id(r, "confirmed_by")?,
    })
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

async fn pending_in(tx: &mut Tx, client: ClientId) -> Result<Option<EmailChange>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM portal_email_changes WHERE client_id = $1 AND status = 'pending'"
    )))
    .bind(client.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(change_of).transpose()
}

/// The code of a change's link and the e-mails of a request.
pub struct ChangeRequest<'a> {
    pub new_email: &'a str,
    pub code: &'a str,
    pub expires_at: Timestamp,
    /// To the old address: what was asked, with the link to confirm.
    pub mail: &'a OutgoingEmail,
}

impl Store {
    /// Saves a portal client's details with the e-mail they have now (the
    /// portal's address, in `details`) and records the change to
    /// `req.new_email` as pending, with its confirmation link e-mailed to the
    /// old address: one transaction. A pending change of the same client is
    /// superseded. Refused when the client has no portal account or its
    /// address is no longer the one in `details`.
    pub async fn update_client_pending_email(
        &self,
        actor: &Actor,
        id: ClientId,
        details: &ClientDetails,
        req: &ChangeRequest<'_>,
    ) -> Result<(Client, EmailChange)> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let portal: Option<(String,)> = sqlx::query_as("SELECT email FROM portal_accounts WHERE client_id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let old = details.email.as_ref().map(|e| e.as_str().to_string());
        let Some((portal,)) = portal.filter(|(p,)| Some(p) == old.as_ref()) else {
            return Err(StoreError::Conflict {
                field: "email",
                detail: "the client's portal address changed meanwhile; reload and try again".into(),
            });
        };
        let client = crate::clients::update_client_in(&mut tx, actor, id, details, now).await?;
        sqlx::query(
            "UPDATE portal_email_changes SET status = 'superseded', decided_at = $2 \
             WHERE client_id = $1 AND status = 'pending'",
        )
        .bind(id.to_string())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let change_id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO portal_email_changes (id, client_id, old_email, new_email, code_hash, requested_by, \
             requested_at, expires_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')",
        )
        .bind(change_id.clone())
        .bind(id.to_string())
        .bind(portal.clone())
        .bind(req.new_email.to_string())
        .bind(token_hash(req.code))
        .bind(actor.staff_id.map(|s| s.to_string()))
        .bind(micros(now))
        .bind(micros(req.expires_at))
        .execute(&mut *tx)
        .await?;
        enqueue_email_in(&mut tx, &self.link_seal, req.mail, Some(req.expires_at), now).await?;
        let entry = AuditEntry::new(Action::Create, "portal_email_change", &change_id)
            .client(id)
            .detail(format!("requested: {portal} -> {}; link sent to the old address", req.new_email));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        let change = pending_in(&mut tx, id).await?.ok_or_else(|| StoreError::Corrupt("change not stored".into()))?;
        tx.commit().await?;
        Ok((client, change))
    }

    /// The client's change waiting for confirmation, if any.
    pub async fn pending_email_change(&self, client: ClientId) -> Result<Option<EmailChange>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM portal_email_changes WHERE client_id = $1 AND status = 'pending'"
        )))
        .bind(client.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(change_of).transpose()
    }

    /// The pending change a link's code confirms, while the link works.
    pub async fn email_change_by_code(&self, code: &str, now: Timestamp) -> Result<Option<EmailChange>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM portal_email_changes WHERE code_hash = $1 AND status = 'pending' AND expires_at > $2"
        )))
        .bind(token_hash(code))
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(change_of).transpose()
    }

    /// Confirms a pending change, in one transaction: the client's record
    /// and portal account take the new address; the portal's sessions and
    /// unused links (issued to the old address) end; the old address is told
    /// (`notice`); audited. In person, the staff member confirming is not
    /// the one who asked (checked here, under the write).
    pub async fn confirm_email_change(
        &self,
        actor: &Actor,
        change_id: &str,
        how: Confirmation,
        notice: &OutgoingEmail,
    ) -> Result<EmailChange> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM portal_email_changes WHERE id = $1 AND status = 'pending'"
        )))
        .bind(change_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::Conflict {
            field: "email",
            detail: "no change of address is waiting (it was confirmed, cancelled or replaced)".into(),
        })?;
        let change = change_of(&row)?;
        let (via, by) = match how {
            Confirmation::ClientLink => {
                if change.expires_at <= now {
                    return Err(StoreError::Conflict { field: "code", detail: "this link has expired".into() });
                }
                ("client_link", None)
            }
            Confirmation::InPerson(staff) => {
                if change.requested_by == Some(staff) {
                    return Err(StoreError::Conflict {
                        field: "witness",
                        detail: "a second staff member confirms: not the one who asked for the change".into(),
                    });
                }
                ("in_person", Some(staff))
            }
        };
        let id = change.client_id.to_string();
        let before = crate::clients::client_in(&mut tx, change.client_id).await?;
        sqlx::query("UPDATE clients SET email = $2, updated_at = $3 WHERE id = $1")
            .bind(id.clone())
            .bind(change.new_email.clone())
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        let mut after = before.details.clone();
        after.email = Some(kairos_domain::text::Email::parse("email", &change.new_email).map_err(StoreError::Domain)?);
        crate::clients::keep_version_in(&mut tx, actor, &before, &after, now).await?;
        sqlx::query("UPDATE portal_accounts SET email = $2, updated_at = $3 WHERE client_id = $1")
            .bind(id.clone())
            .bind(change.new_email.clone())
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique(e, "email", "another client's portal account uses this e-mail"))?;
        sqlx::query("UPDATE portal_sessions SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL")
            .bind(id.clone())
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE portal_codes SET used_at = $2 WHERE client_id = $1 AND used_at IS NULL")
            .bind(id.clone())
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE portal_email_changes SET status = 'confirmed', confirmed_via = $2, confirmed_by = $3, \
             decided_at = $4 WHERE id = $1",
        )
        .bind(change_id.to_string())
        .bind(via)
        .bind(by.map(|s| s.to_string()))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        enqueue_email_in(&mut tx, &self.link_seal, notice, None, now).await?;
        let witness = by.map(|s| format!(" with staff {s}")).unwrap_or_default();
        let entry = AuditEntry::new(Action::Update, "portal_email_change", change_id)
            .client(change.client_id)
            .detail(format!("confirmed ({via}{witness}): {} -> {}", change.old_email, change.new_email));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(EmailChange { status: "confirmed".into(), confirmed_via: Some(via.into()), confirmed_by: by, ..change })
    }

    /// Cancels the client's pending change (the address stays); false when
    /// none was pending.
    pub async fn cancel_email_change(&self, actor: &Actor, client: ClientId) -> Result<bool> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let Some(change) = pending_in(&mut tx, client).await? else { return Ok(false) };
        sqlx::query("UPDATE portal_email_changes SET status = 'cancelled', decided_at = $2 WHERE id = $1")
            .bind(change.id.clone())
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        let entry = AuditEntry::new(Action::Update, "portal_email_change", &change.id)
            .client(client)
            .detail(format!("cancelled: {} -> {}", change.old_email, change.new_email));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}
