//! The client portal: accounts made by staff invitation, one-time sign-in
//! codes sent by e-mail, client sessions, the integration journal and home
//! exercise sessions; and the e-mail outbox.
//!
//! Codes and session tokens are stored only as SHA-256 hashes. Every query
//! that reads or changes a client's portal records takes the client id and
//! matches it, so a record of another client is simply not found.
//! Staff read only journal entries the client shared.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::sessions::{SessionPolicy, token_hash};
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;
use kairos_domain::ids::{ClientId, EncounterId, ExerciseSessionId, JournalEntryId, MeasureRequestId, StaffId};
use kairos_domain::text::Email;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

/// The actor for a client acting through the portal.
pub fn client_actor(client: ClientId, remote_addr: Option<String>) -> Actor {
    Actor { staff_id: None, roles: format!("client:{client}"), remote_addr }
}

/// An e-mail to queue (no clinical content in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Appends an e-mail to the outbox inside `tx` (the same row as
/// `outbox::enqueue_in` writes; kept here so the portal needs only its table).
pub(crate) async fn enqueue_email_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    seal: &crate::sealed_links::LinkSeal,
    mail: &OutgoingEmail,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<()> {
    // A one-time link's code is stored sealed; the message is not sent
    // after the link has run out.
    let (body, sealed) = seal.seal(&mail.body);
    sqlx::query(
        "INSERT INTO email_outbox (id, to_address, subject, body, created_at, send_after, attempts, sealed_links, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $5, 0, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(mail.to.clone())
    .bind(mail.subject.clone())
    .bind(body)
    .bind(micros(now))
    .bind(sealed)
    .bind(expires_at.map(micros))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A queued e-mail, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEmail {
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodePurpose {
    SignIn,
    Invitation,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::SignIn => "sign_in",
            CodePurpose::Invitation => "invitation",
        }
    }
}

/// A client's portal account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalAccount {
    pub client_id: ClientId,
    pub email: String,
    pub has_password: bool,
    pub active: bool,
    pub invited_by: Option<StaffId>,
    pub created_at: Timestamp,
}

/// A journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub id: JournalEntryId,
    pub client_id: ClientId,
    pub entry_date: Date,
    pub body: String,
    pub mood: Option<i64>,
    pub shared: bool,
    pub shared_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One answer to a round of a home exercise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundResponse {
    pub round: u32,
    pub at: Timestamp,
    pub answer: String,
    pub correct: bool,
}

/// A home exercise session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExerciseSession {
    pub id: ExerciseSessionId,
    pub client_id: ClientId,
    pub dose_encounter_id: EncounterId,
    pub slot: u32,
    pub due_from: Timestamp,
    pub due_to: Timestamp,
    pub word_list: String,
    #[serde(skip)]
    pub seed: u64,
    pub rounds: u32,
    pub rounds_done: u32,
    pub checks_total: u32,
    pub checks_correct: u32,
    pub responses: Vec<RoundResponse>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// A new exercise session for a scheduled slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExercise {
    pub client_id: ClientId,
    pub dose_encounter_id: EncounterId,
    pub slot: u32,
    pub due_from: Timestamp,
    pub due_to: Timestamp,
    pub word_list: String,
    pub seed: u64,
    pub rounds: u32,
}

const JOURNAL_COLS: &str = "id, client_id, entry_date, body, mood, shared, shared_at, created_at, updated_at";
const EXERCISE_COLS: &str = "id, client_id, dose_encounter_id, slot, due_from, due_to, word_list, seed, blocks, \
     blocks_done, checks_total, checks_correct, responses, started_at, finished_at";

fn journal_of(r: &AnyRow) -> Result<JournalEntry> {
    Ok(JournalEntry {
        id: rows::get_id(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        entry_date: rows::get_date(r, "entry_date")?,
        body: rows::get_str(r, "body")?,
        mood: rows::Cols::opt_int(r, "mood")?,
        shared: rows::get_i64(r, "shared")? == 1,
        shared_at: rows::get_opt_ts(r, "shared_at")?,
        created_at: rows::get_ts(r, "created_at")?,
        updated_at: rows::get_ts(r, "updated_at")?,
    })
}

fn u32_of(r: &AnyRow, col: &str) -> Result<u32> {
    u32::try_from(rows::get_i64(r, col)?).map_err(|_| StoreError::corrupt(format!("{col} out of range")))
}

fn exercise_of(r: &AnyRow) -> Result<ExerciseSession> {
    Ok(ExerciseSession {
        id: rows::get_id(r, "id")?,
        client_id: rows::get_id(r, "client_id")?,
        dose_encounter_id: rows::get_id(r, "dose_encounter_id")?,
        slot: u32_of(r, "slot")?,
        due_from: rows::get_ts(r, "due_from")?,
        due_to: rows::get_ts(r, "due_to")?,
        word_list: rows::get_str(r, "word_list")?,
        seed: rows::get_i64(r, "seed")? as u64,
        rounds: u32_of(r, "blocks")?,
        rounds_done: u32_of(r, "blocks_done")?,
        checks_total: u32_of(r, "checks_total")?,
        checks_correct: u32_of(r, "checks_correct")?,
        responses: serde_json::from_str(&rows::get_str(r, "responses")?)
            .map_err(|e| StoreError::corrupt(format!("exercise responses: {e}")))?,
        started_at: rows::get_ts(r, "started_at")?,
        finished_at: rows::get_opt_ts(r, "finished_at")?,
    })
}

fn account_of(r: &AnyRow) -> Result<PortalAccount> {
    Ok(PortalAccount {
        client_id: rows::get_id(r, "client_id")?,
        email: rows::get_str(r, "email")?,
        has_password: rows::get_opt_str(r, "password_hash")?.is_some(),
        active: rows::get_i64(r, "active")? == 1,
        invited_by: rows::get_opt_id(r, "invited_by")?,
        created_at: rows::get_ts(r, "created_at")?,
    })
}

fn no_entry(id: impl ToString) -> StoreError {
    StoreError::NotFound { record: "journal entry", id: id.to_string() }
}

fn no_exercise(id: impl ToString) -> StoreError {
    StoreError::NotFound { record: "exercise session", id: id.to_string() }
}

/// How a portal session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOrigin {
    /// The one-time link of an invitation.
    Invitation,
    /// A one-time sign-in link asked for on the sign-in page.
    SignIn,
    /// The client's password.
    Password,
}

impl SessionOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionOrigin::Invitation => "invitation",
            SessionOrigin::SignIn => "sign_in",
            SessionOrigin::Password => "password",
        }
    }

    pub fn parse(s: &str) -> Option<SessionOrigin> {
        match s {
            "invitation" => Some(SessionOrigin::Invitation),
            "sign_in" => Some(SessionOrigin::SignIn),
            "password" => Some(SessionOrigin::Password),
            _ => None,
        }
    }

    /// A one-time link proves the client holds the e-mail address.
    pub fn is_link(self) -> bool {
        matches!(self, SessionOrigin::Invitation | SessionOrigin::SignIn)
    }
}

/// A live portal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSession {
    pub client: ClientId,
    pub opened_at: Timestamp,
    /// None for sessions opened before the origin was recorded.
    pub opened_by: Option<SessionOrigin>,
}

/// A journal entry as the client writes it.
#[derive(Debug, Clone, Copy)]
pub struct NewJournalEntry<'a> {
    pub date: Date,
    pub body: &'a str,
    pub mood: Option<i64>,
    /// Shared with the care team.
    pub shared: bool,
    /// "I need help now": an urgent alert for the client's clinicians, in
    /// the same transaction.
    pub help_now: bool,
}

impl Store {
    // ---- the outbox -------------------------------------------------------

    /// The e-mails queued for an address, newest first, as they would be
    /// sent (sealed links opened; tests, support).
    pub async fn outbox_for(&self, to: &str) -> Result<Vec<OutboxEmail>> {
        let rows = sqlx::query(
            "SELECT to_address, subject, body, sealed_links, created_at, sent_at FROM email_outbox \
             WHERE to_address = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(to.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxEmail {
                    to_address: rows::get_str(r, "to_address")?,
                    subject: rows::get_str(r, "subject")?,
                    body: {
                        let stored = rows::get_str(r, "body")?;
                        match rows::get_opt_str(r, "sealed_links")? {
                            Some(sealed) => self.link_seal.open(&stored, &sealed).unwrap_or(stored),
                            None => stored,
                        }
                    },
                    created_at: rows::get_ts(r, "created_at")?,
                    sent_at: rows::get_opt_ts(r, "sent_at")?,
                })
            })
            .collect()
    }

    // ---- accounts and codes ----------------------------------------------

    /// Creates (or re-addresses) a client's portal account and records an
    /// invitation code, with its e-mail, in one transaction.
    pub async fn invite_to_portal(
        &self,
        actor: &Actor,
        client: ClientId,
        email: &Email,
        code: &str,
        expires_at: Timestamp,
        mail: &OutgoingEmail,
    ) -> Result<PortalAccount> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM clients WHERE id = $1")
            .bind(client.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound { record: "client", id: client.to_string() });
        }
        // An invitation never moves an account to another address: that is
        // a change confirmed by the client or in person (`portal_email`).
        let previous: Option<(String,)> = sqlx::query_as("SELECT email FROM portal_accounts WHERE client_id = $1")
            .bind(client.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if previous.as_ref().is_some_and(|(e,)| e != email.as_str()) {
            return Err(StoreError::Conflict {
                field: "email",
                detail: "the client's portal account has another address; a change of address is confirmed first"
                    .into(),
            });
        }
        let updated =
            sqlx::query("UPDATE portal_accounts SET email = $2, active = 1, updated_at = $3 WHERE client_id = $1")
                .bind(client.to_string())
                .bind(email.as_str().to_string())
                .bind(micros(now))
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::unique(e, "email", "another client's portal account uses this e-mail"))?;
        if updated.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO portal_accounts (client_id, email, active, invited_by, created_at, updated_at) \
                 VALUES ($1, $2, 1, $3, $4, $4)",
            )
            .bind(client.to_string())
            .bind(email.as_str().to_string())
            .bind(actor.staff_id.map(|s| s.to_string()))
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique(e, "email", "another client's portal account uses this e-mail"))?;
        }
        insert_code(&mut tx, client, code, CodePurpose::Invitation, now, expires_at).await?;
        enqueue_email_in(&mut tx, &self.link_seal, mail, Some(expires_at), now).await?;
        let entry = AuditEntry::new(Action::Create, "portal_invitation", client).client(client);
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        let row = sqlx::query("SELECT * FROM portal_accounts WHERE client_id = $1")
            .bind(client.to_string())
            .fetch_one(&self.pool)
            .await?;
        account_of(&row)
    }

    /// Active portal accounts of clients dosed since `since` (a dosing
    /// session, or a completed dosing encounter): whom exercise reminders
    /// may concern, in one query.
    pub async fn portal_accounts_dosed_since(&self, since: Timestamp) -> Result<Vec<PortalAccount>> {
        let rows = sqlx::query(
            "SELECT a.* FROM portal_accounts a WHERE a.active = 1 AND EXISTS (SELECT 1 FROM encounters e \
             LEFT JOIN dosing_sessions d ON d.encounter_id = e.id WHERE e.client_id = a.client_id AND e.kind = 'dosing' \
             AND (d.id IS NOT NULL OR e.status = 'completed') \
             AND COALESCE(d.started_at, e.actual_start, e.scheduled_start) >= $1)",
        )
        .bind(micros(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_of).collect()
    }

    pub async fn portal_account(&self, client: ClientId) -> Result<Option<PortalAccount>> {
        let row = sqlx::query("SELECT * FROM portal_accounts WHERE client_id = $1")
            .bind(client.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_of).transpose()
    }

    /// The active account with this e-mail, and its password hash if set.
    pub async fn portal_account_by_email(&self, email: &str) -> Result<Option<(PortalAccount, Option<String>)>> {
        let row = sqlx::query("SELECT * FROM portal_accounts WHERE email = $1 AND active = 1")
            .bind(email.trim().to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some((account_of(&r)?, rows::get_opt_str(&r, "password_hash")?))),
            None => Ok(None),
        }
    }

    /// Records a sign-in code and its e-mail in one transaction.
    pub async fn create_sign_in_code(
        &self,
        client: ClientId,
        code: &str,
        expires_at: Timestamp,
        mail: &OutgoingEmail,
        remote_addr: Option<String>,
    ) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        insert_code(&mut tx, client, code, CodePurpose::SignIn, now, expires_at).await?;
        enqueue_email_in(&mut tx, &self.link_seal, mail, Some(expires_at), now).await?;
        let entry = AuditEntry::new(Action::Create, "portal_code", client).client(client).detail("sign-in link sent");
        audit::insert_in(&mut tx, &client_actor(client, remote_addr), &entry, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sign-in codes issued for a client since `since` (rate limiting).
    pub async fn recent_portal_codes(&self, client: ClientId, since: Timestamp) -> Result<i64> {
        let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM portal_codes WHERE client_id = $1 AND created_at >= $2")
            .bind(client.to_string())
            .bind(micros(since))
            .fetch_one(&self.pool)
            .await?;
        Ok(n.0)
    }

    /// What an unused, unexpired code is for, without using it.
    pub async fn peek_portal_code(&self, code: &str) -> Result<Option<(ClientId, CodePurpose)>> {
        let row = sqlx::query(
            "SELECT c.client_id, c.purpose FROM portal_codes c JOIN portal_accounts a ON a.client_id = c.client_id \
             WHERE c.code_hash = $1 AND c.used_at IS NULL AND c.expires_at > $2 AND a.active = 1",
        )
        .bind(token_hash(code))
        .bind(micros(Timestamp::now()))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(code_of).transpose()
    }

    /// Uses a code once: returns its client and purpose if it was unused,
    /// unexpired and its account active; marks it used. Any other code of
    /// the same purpose for that client stops working too.
    pub async fn consume_portal_code(
        &self,
        code: &str,
        remote_addr: Option<String>,
    ) -> Result<Option<(ClientId, CodePurpose)>> {
        let now = Timestamp::now();
        let hash = token_hash(code);
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "UPDATE portal_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             AND EXISTS (SELECT 1 FROM portal_accounts a WHERE a.client_id = portal_codes.client_id AND a.active = 1)",
        )
        .bind(hash.clone())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT client_id, purpose FROM portal_codes WHERE code_hash = $1")
            .bind(hash.clone())
            .fetch_one(&mut *tx)
            .await?;
        let (client, purpose) = code_of(&row)?;
        sqlx::query("UPDATE portal_codes SET used_at = $3 WHERE client_id = $1 AND purpose = $2 AND used_at IS NULL")
            .bind(client.to_string())
            .bind(purpose.as_str())
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        let entry = AuditEntry::new(Action::Login, "portal_login", client).client(client).detail(purpose.as_str());
        audit::insert_in(&mut tx, &client_actor(client, remote_addr), &entry, now).await?;
        tx.commit().await?;
        Ok(Some((client, purpose)))
    }

    /// Sets a client's portal password (argon2 PHC string) and ends every
    /// other portal session of theirs (`keep` is the session that set it).
    /// Returns false, changing nothing, when `keep` is no longer live.
    pub async fn set_portal_password(
        &self,
        client: ClientId,
        hash: &str,
        keep: &str,
        remote_addr: Option<String>,
    ) -> Result<bool> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        // Only while the session setting it is still live (it may have been
        // signed out or ended by another change while the hash was computed).
        let res = sqlx::query(
            "UPDATE portal_accounts SET password_hash = $2, updated_at = $3 WHERE client_id = $1 AND EXISTS \
             (SELECT 1 FROM portal_sessions s WHERE s.token_hash = $4 AND s.client_id = $1 AND s.revoked_at IS NULL)",
        )
        .bind(client.to_string())
        .bind(hash.to_string())
        .bind(micros(now))
        .bind(token_hash(keep))
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE portal_sessions SET revoked_at = $3 WHERE client_id = $1 AND token_hash <> $2 AND revoked_at IS NULL",
        )
        .bind(client.to_string())
        .bind(token_hash(keep))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Update, "portal_account", client).client(client).detail("password set");
        audit::insert_in(&mut tx, &client_actor(client, remote_addr), &entry, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    // ---- sessions ---------------------------------------------------------

    /// Opens a portal session. A session opened with the password names the
    /// hash that was verified (`verified_hash`): it is opened only if that is
    /// still the account's password, checked under the account row's lock, so
    /// a sign-in with the old password that overlaps a password change cannot
    /// outlive it. Returns whether the session was opened.
    pub async fn create_portal_session(
        &self,
        client: ClientId,
        token: &str,
        policy: &SessionPolicy,
        remote_addr: Option<&str>,
        opened_by: SessionOrigin,
        verified_hash: Option<&str>,
    ) -> Result<bool> {
        let now = Timestamp::now();
        let expires = now.checked_add(policy.absolute).map_err(StoreError::corrupt)?;
        let lock = if self.backend == crate::Backend::Postgres { " FOR UPDATE" } else { "" };
        let check = if verified_hash.is_some() { " AND password_hash = $7" } else { "" };
        let mut tx = self.begin_write().await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO portal_sessions (token_hash, client_id, created_at, last_seen_at, expires_at, remote_addr, \
             opened_by) SELECT $1, client_id, $3, $3, $4, $5, $6 FROM (SELECT client_id FROM portal_accounts \
             WHERE client_id = $2 AND active = 1{check}{lock}) AS account"
        )))
        .bind(token_hash(token))
        .bind(client.to_string())
        .bind(micros(now))
        .bind(micros(expires))
        .bind(remote_addr.map(str::to_string))
        .bind(opened_by.as_str());
        if let Some(h) = verified_hash {
            q = q.bind(h.to_string());
        }
        let res = q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(res.rows_affected() == 1)
    }

    /// The client of a live portal session (not revoked, not idle too long,
    /// not expired, account active); refreshes its last use.
    pub async fn authenticate_portal_session(
        &self,
        token: &str,
        policy: &SessionPolicy,
    ) -> Result<Option<PortalSession>> {
        let now = Timestamp::now();
        let hash = token_hash(token);
        let row = sqlx::query(
            "SELECT s.client_id, s.created_at, s.opened_by, s.last_seen_at, s.expires_at, s.revoked_at, a.active \
             FROM portal_sessions s \
             JOIN portal_accounts a ON a.client_id = s.client_id WHERE s.token_hash = $1",
        )
        .bind(hash.clone())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let last_seen = rows::get_ts(&row, "last_seen_at")?;
        let idle_deadline = last_seen.checked_add(policy.idle).map_err(StoreError::corrupt)?;
        if rows::get_opt_ts(&row, "revoked_at")?.is_some()
            || rows::get_i64(&row, "active")? != 1
            || now >= rows::get_ts(&row, "expires_at")?
            || now >= idle_deadline
        {
            return Ok(None);
        }
        if now.duration_since(last_seen) >= policy.touch_interval() {
            sqlx::query("UPDATE portal_sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $2")
                .bind(hash)
                .bind(micros(now))
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(PortalSession {
            client: rows::get_id(&row, "client_id")?,
            opened_at: rows::get_ts(&row, "created_at")?,
            opened_by: rows::get_opt_str(&row, "opened_by")?.as_deref().and_then(SessionOrigin::parse),
        }))
    }

    pub async fn revoke_portal_session(&self, token: &str) -> Result<bool> {
        let res =
            sqlx::query("UPDATE portal_sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL")
                .bind(token_hash(token))
                .bind(micros(Timestamp::now()))
                .execute(&self.pool)
                .await?;
        Ok(res.rows_affected() > 0)
    }

    // ---- the journal ------------------------------------------------------

    pub async fn create_journal_entry(
        &self,
        actor: &Actor,
        client: ClientId,
        new: &NewJournalEntry<'_>,
    ) -> Result<JournalEntry> {
        let NewJournalEntry { date, body, mood, shared, help_now } = *new;
        let now = Timestamp::now();
        let e = JournalEntry {
            id: JournalEntryId::new(),
            client_id: client,
            entry_date: date,
            body: body.to_string(),
            mood,
            shared,
            shared_at: shared.then_some(now),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO journal_entries (id, client_id, entry_date, body, mood, shared, shared_at, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(e.id.to_string())
        .bind(client.to_string())
        .bind(date.to_string())
        .bind(e.body.clone())
        .bind(mood)
        .bind(i64::from(shared))
        .bind(e.shared_at.map(micros))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let entry = AuditEntry::new(Action::Create, "journal_entry", e.id).client(client).detail(if shared {
            "shared with the care team"
        } else {
            "private"
        });
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        if help_now {
            // "I need help now": an urgent alert to the client's clinicians,
            // in the same transaction as the entry. It says where the request
            // came from, never what the entry says (a private entry stays private).
            let message = if shared {
                "The client asked for help now from their portal journal; the entry is shared with the care team. \
                 Contact them today."
            } else {
                "The client asked for help now from their portal journal; the entry is private. Contact them today."
            };
            let alert = crate::measures::Alert::urgent(client, "help_now", message, now);
            crate::measures::insert_alert_in(&mut tx, &alert).await?;
            let raised = AuditEntry::new(Action::Create, "alert", alert.id).client(client).detail("help_now");
            audit::insert_in(&mut tx, actor, &raised, now).await?;
        }
        tx.commit().await?;
        Ok(e)
    }

    /// The client's own entries, newest first.
    pub async fn journal_of(&self, client: ClientId) -> Result<Vec<JournalEntry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOURNAL_COLS} FROM journal_entries WHERE client_id = $1 \
             ORDER BY entry_date DESC, created_at DESC, id DESC"
        )))
        .bind(client.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(journal_of).collect()
    }

    /// One of the client's own entries (another client's is not found).
    pub async fn journal_entry(&self, client: ClientId, id: JournalEntryId) -> Result<JournalEntry> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOURNAL_COLS} FROM journal_entries WHERE id = $1 AND client_id = $2"
        )))
        .bind(id.to_string())
        .bind(client.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| no_entry(id))?;
        journal_of(&row)
    }

    /// Shares an entry with the care team or takes it back.
    pub async fn set_journal_shared(
        &self,
        actor: &Actor,
        client: ClientId,
        id: JournalEntryId,
        shared: bool,
    ) -> Result<JournalEntry> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "UPDATE journal_entries SET shared = $3, shared_at = $4, updated_at = $5 WHERE id = $1 AND client_id = $2",
        )
        .bind(id.to_string())
        .bind(client.to_string())
        .bind(i64::from(shared))
        .bind(shared.then_some(micros(now)))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            return Err(no_entry(id));
        }
        let entry = AuditEntry::new(Action::Update, "journal_entry", id).client(client).detail(if shared {
            "shared with the care team"
        } else {
            "made private"
        });
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        self.journal_entry(client, id).await
    }

    /// The entries a client chose to share, newest first. Audited as one
    /// read by `actor` (durable before this returns).
    pub async fn shared_journal(&self, actor: &Actor, client: ClientId) -> Result<Vec<JournalEntry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOURNAL_COLS} FROM journal_entries WHERE client_id = $1 AND shared = 1 \
             ORDER BY entry_date DESC, created_at DESC, id DESC"
        )))
        .bind(client.to_string())
        .fetch_all(&self.pool)
        .await?;
        let list: Vec<JournalEntry> = rows.iter().map(journal_of).collect::<Result<_>>()?;
        let entry = AuditEntry::new(Action::Read, "shared_journal", client)
            .client(client)
            .detail(format!("{} shared entries", list.len()));
        self.audit_read(actor, entry).await?;
        Ok(list)
    }

    // ---- home exercises ---------------------------------------------------

    /// Starts the session for a slot, or returns the one already started.
    pub async fn start_exercise(&self, actor: &Actor, new: &NewExercise) -> Result<ExerciseSession> {
        let now = Timestamp::now();
        let id = ExerciseSessionId::new();
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EXERCISE_COLS} FROM exercise_sessions WHERE client_id = $1 AND dose_encounter_id = $2 AND slot = $3"
        )))
        .bind(new.client_id.to_string())
        .bind(new.dose_encounter_id.to_string())
        .bind(i64::from(new.slot))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            return exercise_of(&row);
        }
        sqlx::query(
            "INSERT INTO exercise_sessions (id, client_id, dose_encounter_id, slot, due_from, due_to, word_list, seed, \
             blocks, blocks_done, checks_total, checks_correct, responses, started_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, 0, 0, '[]', $10)",
        )
        .bind(id.to_string())
        .bind(new.client_id.to_string())
        .bind(new.dose_encounter_id.to_string())
        .bind(i64::from(new.slot))
        .bind(micros(new.due_from))
        .bind(micros(new.due_to))
        .bind(new.word_list.clone())
        .bind(new.seed as i64)
        .bind(i64::from(new.rounds))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "slot", "this exercise was started already"))?;
        let entry = AuditEntry::new(Action::Create, "exercise_session", id)
            .client(new.client_id)
            .detail(format!("home exercise {} after dose {}", new.slot, new.dose_encounter_id));
        audit::insert_in(&mut tx, actor, &entry, now).await?;
        tx.commit().await?;
        self.exercise_session(new.client_id, id).await
    }

    /// One of the client's own sessions (another client's is not found).
    pub async fn exercise_session(&self, client: ClientId, id: ExerciseSessionId) -> Result<ExerciseSession> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EXERCISE_COLS} FROM exercise_sessions WHERE id = $1 AND client_id = $2"
        )))
        .bind(id.to_string())
        .bind(client.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| no_exercise(id))?;
        exercise_of(&row)
    }

    pub async fn exercise_sessions_of(&self, client: ClientId) -> Result<Vec<ExerciseSession>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EXERCISE_COLS} FROM exercise_sessions WHERE client_id = $1 ORDER BY started_at, id"
        )))
        .bind(client.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(exercise_of).collect()
    }

    /// Records the answer to round `round` (which must be the next one; a
    /// repeat of an answered round changes nothing). The last round
    /// finishes the session.
    pub async fn record_exercise_round(
        &self,
        actor: &Actor,
        client: ClientId,
        id: ExerciseSessionId,
        answer: RoundResponse,
    ) -> Result<ExerciseSession> {
        let now = answer.at;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EXERCISE_COLS} FROM exercise_sessions WHERE id = $1 AND client_id = $2"
        )))
        .bind(id.to_string())
        .bind(client.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| no_exercise(id))?;
        let mut s = exercise_of(&row)?;
        if answer.round <= s.rounds_done {
            return Ok(s);
        }
        if answer.round != s.rounds_done + 1 || s.finished_at.is_some() {
            return Err(StoreError::Conflict {
                field: "round",
                detail: format!("round {} is next, not round {}", s.rounds_done + 1, answer.round),
            });
        }
        s.rounds_done += 1;
        s.checks_total += 1;
        s.checks_correct += u32::from(answer.correct);
        s.responses.push(answer);
        if s.rounds_done >= s.rounds {
            s.finished_at = Some(now);
        }
        let json = serde_json::to_string(&s.responses).map_err(StoreError::corrupt)?;
        let res = sqlx::query(
            "UPDATE exercise_sessions SET blocks_done = $3, checks_total = $4, checks_correct = $5, responses = $6, \
             finished_at = $7 WHERE id = $1 AND client_id = $2 AND blocks_done = $8",
        )
        .bind(id.to_string())
        .bind(client.to_string())
        .bind(i64::from(s.rounds_done))
        .bind(i64::from(s.checks_total))
        .bind(i64::from(s.checks_correct))
        .bind(json)
        .bind(s.finished_at.map(micros))
        .bind(i64::from(s.rounds_done - 1))
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict { field: "round", detail: "this round was answered already".into() });
        }
        if s.finished_at.is_some() {
            let entry = AuditEntry::new(Action::Update, "exercise_session", id).client(client).detail("finished");
            audit::insert_in(&mut tx, actor, &entry, now).await?;
        }
        tx.commit().await?;
        Ok(s)
    }

    /// Gives a client's open self-report link a new token (the old one stops
    /// working), for the client to open it from the portal. `false` if the
    /// link is not the client's, or is used or expired.
    pub async fn reissue_measure_request(&self, client: ClientId, id: MeasureRequestId, token: &str) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE measure_requests SET token_hash = $3 WHERE id = $1 AND client_id = $2 AND submitted_at IS NULL \
             AND expires_at > $4",
        )
        .bind(id.to_string())
        .bind(client.to_string())
        .bind(token_hash(token))
        .bind(micros(Timestamp::now()))
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }
}

fn code_of(r: &AnyRow) -> Result<(ClientId, CodePurpose)> {
    let purpose = match rows::get_str(r, "purpose")?.as_str() {
        "sign_in" => CodePurpose::SignIn,
        "invitation" => CodePurpose::Invitation,
        other => return Err(StoreError::corrupt(format!("code purpose {other}"))),
    };
    Ok((rows::get_id(r, "client_id")?, purpose))
}

async fn insert_code(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    client: ClientId,
    code: &str,
    purpose: CodePurpose,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO portal_codes (code_hash, client_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(code))
    .bind(client.to_string())
    .bind(purpose.as_str())
    .bind(micros(now))
    .bind(micros(expires_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
