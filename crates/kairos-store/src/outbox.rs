//! The email outbox: messages are queued in the database (in the same
//! transaction as whatever caused them) and sent by a worker that leases a
//! few at a time, marks each sent only after the SMTP server accepted it, and
//! retries failures with growing delays. Nothing is deleted: a message that
//! keeps failing stays queued with its last error.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::{SignedDuration, Timestamp};
use kairos_domain::ids::EncounterId;

/// A queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
    /// The claim this copy was taken under: [`Store::email_sent`] and
    /// [`Store::email_failed`] record nothing once another worker holds the message.
    pub lease: String,
}

/// How long a claimed message is reserved for the worker that claimed it:
/// longer than a batch of 20 can take at the 20-second send timeout, so a
/// second server process does not send the same message again.
pub const LEASE: SignedDuration = SignedDuration::from_secs(15 * 60);

/// The delay before retry number `attempts` (1, 2, ...): 1, 2, 4, ... minutes,
/// at most 6 hours.
pub fn retry_delay(attempts: i64) -> SignedDuration {
    let minutes = 1i64 << attempts.clamp(1, 12).saturating_sub(1);
    SignedDuration::from_mins(minutes.min(6 * 60))
}

/// Replaces the one-time code of every portal link (`/portal/auth/CODE`)
/// with a mark, so a stored copy of a sent message grants nothing.
pub fn redact_links(body: &str) -> String {
    const MARK: &str = "/portal/auth/";
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find(MARK) {
        out.push_str(&rest[..i + MARK.len()]);
        rest = &rest[i + MARK.len()..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(rest.len());
        // No code here (a sealed link's placeholder): nothing to blank out.
        if end > 0 {
            out.push_str("[sent]");
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Queues a message inside `tx`.
pub(crate) async fn enqueue_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    to: &str,
    subject: &str,
    body: &str,
    send_after: Timestamp,
    now: Timestamp,
) -> Result<String> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO email_outbox (id, to_address, subject, body, created_at, send_after, attempts) \
         VALUES ($1, $2, $3, $4, $5, $6, 0)",
    )
    .bind(id.clone())
    .bind(to.to_string())
    .bind(subject.to_string())
    .bind(body.to_string())
    .bind(micros(now))
    .bind(micros(send_after))
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// An appointment that needs its reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReminder {
    pub encounter_id: EncounterId,
    pub client_id: kairos_domain::ids::ClientId,
    pub email: String,
    pub start: Timestamp,
    pub site_name: String,
    pub time_zone: String,
}

impl Store {
    /// Queues one message now.
    pub async fn queue_email(&self, to: &str, subject: &str, body: &str) -> Result<String> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let id = enqueue_in(&mut tx, to, subject, body, now, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Claims up to `limit` messages due now (not sent, not leased by
    /// another worker), leasing them for [`LEASE`]. A message whose
    /// one-time link has run out is marked expired instead, never sent; the
    /// sealed links of the rest are opened for sending (`sealed_links.rs`).
    pub async fn claim_emails(&self, limit: i64, now: Timestamp) -> Result<Vec<OutgoingEmail>> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE email_outbox SET expired_at = $1, sealed_links = NULL, lease_until = NULL, lease_token = NULL \
             WHERE sent_at IS NULL AND expired_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $1",
        )
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let lock = if self.backend == crate::Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let ids: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM email_outbox WHERE sent_at IS NULL AND expired_at IS NULL AND send_after <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY send_after, id LIMIT $2{lock}"
        )))
        .bind(micros(now))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        let lease = uuid::Uuid::now_v7().to_string();
        for (id,) in ids {
            let row = sqlx::query(
                "UPDATE email_outbox SET lease_until = $2, lease_token = $3 WHERE id = $1 \
                 RETURNING id, to_address, subject, body, attempts, sealed_links",
            )
            .bind(id.clone())
            .bind(micros(now + LEASE))
            .bind(lease.clone())
            .fetch_one(&mut *tx)
            .await?;
            let stored = rows::get_str(&row, "body")?;
            let body = match rows::get_opt_str(&row, "sealed_links")? {
                None => stored,
                Some(sealed) => match self.link_seal.open(&stored, &sealed) {
                    Some(body) => body,
                    None => {
                        // Sealed under a key this process does not hold.
                        sqlx::query(
                            "UPDATE email_outbox SET expired_at = $2, sealed_links = NULL, lease_until = NULL, \
                             lease_token = NULL, last_error = $3 WHERE id = $1",
                        )
                        .bind(id)
                        .bind(micros(now))
                        .bind("its one-time link was sealed under another key; a new link is needed")
                        .execute(&mut *tx)
                        .await?;
                        continue;
                    }
                },
            };
            out.push(OutgoingEmail {
                id: rows::get_str(&row, "id")?,
                to: rows::get_str(&row, "to_address")?,
                subject: rows::get_str(&row, "subject")?,
                body,
                attempts: rows::get_i64(&row, "attempts")?,
                lease: lease.clone(),
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Records that the SMTP server accepted a message claimed under `lease`.
    /// A sign-in link in it is blanked out of the stored copy: only its
    /// recipient holds it. Returns false (and records nothing) when the claim
    /// was lost to another worker after its lease ran out.
    pub async fn email_sent(&self, id: &str, lease: &str, at: Timestamp) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let body: Option<(String,)> =
            sqlx::query_as("SELECT body FROM email_outbox WHERE id = $1 AND lease_token = $2 AND sent_at IS NULL")
                .bind(id.to_string())
                .bind(lease.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((body,)) = body else { return Ok(false) };
        // The claim is checked again in the write itself: on PostgreSQL another
        // worker may take the message over between the read and the write.
        let res = sqlx::query(
            "UPDATE email_outbox SET sent_at = $2, lease_until = NULL, lease_token = NULL, attempts = attempts + 1, \
             body = $3, sealed_links = NULL WHERE id = $1 AND lease_token = $4 AND sent_at IS NULL",
        )
        .bind(id.to_string())
        .bind(micros(at))
        .bind(redact_links(&crate::sealed_links::sent_copy(&body)))
        .bind(lease.to_string())
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt of a message claimed under `lease`; it is
    /// tried again after [`retry_delay`]. Returns false (and records nothing)
    /// when the claim was lost to another worker.
    pub async fn email_failed(&self, id: &str, lease: &str, error: &str, now: Timestamp) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT attempts FROM email_outbox WHERE id = $1 AND lease_token = $2 AND sent_at IS NULL")
                .bind(id.to_string())
                .bind(lease.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((attempts,)) = found else { return Ok(false) };
        let attempts = attempts + 1;
        let res = sqlx::query(
            "UPDATE email_outbox SET attempts = $2, last_error = $3, lease_until = NULL, lease_token = NULL, \
             send_after = $4 WHERE id = $1 AND lease_token = $5 AND sent_at IS NULL",
        )
        .bind(id.to_string())
        .bind(attempts)
        .bind(error.chars().take(500).collect::<String>())
        .bind(micros(now + retry_delay(attempts)))
        .bind(lease.to_string())
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Counts of the outbox: (waiting, sent, waiting after at least one failure).
    pub async fn outbox_counts(&self) -> Result<(i64, i64, i64)> {
        let (waiting, sent, failing): (i64, i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
                    CAST(COALESCE(SUM(CASE WHEN sent_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
                    CAST(COALESCE(SUM(CASE WHEN sent_at IS NULL AND attempts > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM email_outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((waiting, sent, failing))
    }

    /// Booked appointments starting within `ahead` of `now` whose client has
    /// an e-mail address and no reminder queued yet.
    pub async fn due_reminders(&self, now: Timestamp, ahead: SignedDuration) -> Result<Vec<DueReminder>> {
        let rows = sqlx::query(
            "SELECT e.id, e.client_id, c.email, e.scheduled_start, s.name AS site_name, s.time_zone \
             FROM encounters e JOIN clients c ON c.id = e.client_id JOIN sites s ON s.id = e.site_id \
             WHERE e.status = 'booked' AND e.scheduled_start > $1 AND e.scheduled_start <= $2 \
             AND c.email IS NOT NULL AND c.status = 'active' \
             AND NOT EXISTS (SELECT 1 FROM reminders_queued r WHERE r.encounter_id = e.id AND r.kind = 'appointment') \
             ORDER BY e.scheduled_start LIMIT 500",
        )
        .bind(micros(now))
        .bind(micros(now + ahead))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueReminder {
                    encounter_id: rows::get_id(r, "id")?,
                    client_id: rows::get_id(r, "client_id")?,
                    email: rows::get_str(r, "email")?,
                    start: rows::get_ts(r, "scheduled_start")?,
                    site_name: rows::get_str(r, "site_name")?,
                    time_zone: rows::get_str(r, "time_zone")?,
                })
            })
            .collect()
    }

    /// Queues an appointment reminder once (see [`Store::queue_reminder_of`]).
    pub async fn queue_reminder(&self, actor: &Actor, r: &DueReminder, subject: &str, body: &str) -> Result<bool> {
        self.queue_reminder_of(actor, r.encounter_id, r.client_id, "appointment", &r.email, subject, body).await
    }

    /// Queues a reminder of `kind` about an encounter (an appointment, or a
    /// home exercise after a dose) once: the message and the record that it
    /// was queued commit together; a second call queues nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn queue_reminder_of(
        &self,
        actor: &Actor,
        encounter: EncounterId,
        client: kairos_domain::ids::ClientId,
        kind: &str,
        to: &str,
        subject: &str,
        body: &str,
    ) -> Result<bool> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let done: Option<(String,)> =
            sqlx::query_as("SELECT email_id FROM reminders_queued WHERE encounter_id = $1 AND kind = $2")
                .bind(encounter.to_string())
                .bind(kind.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            return Ok(false);
        }
        let id = enqueue_in(&mut tx, to, subject, body, now, now).await?;
        sqlx::query("INSERT INTO reminders_queued (encounter_id, kind, email_id, queued_at) VALUES ($1, $2, $3, $4)")
            .bind(encounter.to_string())
            .bind(kind.to_string())
            .bind(id)
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique(e, "encounter_id", "reminder already queued"))?;
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Create, "reminder", encounter)
                .client(client)
                .detail(format!("{kind} reminder queued")),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_sign_in_links_are_blanked_out() {
        let body = "Sign in: https://k.example/portal/auth/AbC_12-xyz\nor https://k.example/portal/auth/Q9.\nBye";
        assert_eq!(
            redact_links(body),
            "Sign in: https://k.example/portal/auth/[sent]\nor https://k.example/portal/auth/[sent].\nBye"
        );
        assert_eq!(redact_links("no links here"), "no links here");
        assert_eq!(redact_links("https://k.example/portal/auth/[sent]."), "https://k.example/portal/auth/[sent].");
    }

    #[test]
    fn retries_back_off_to_six_hours() {
        assert_eq!(retry_delay(1), SignedDuration::from_mins(1));
        assert_eq!(retry_delay(2), SignedDuration::from_mins(2));
        assert_eq!(retry_delay(5), SignedDuration::from_mins(16));
        assert_eq!(retry_delay(9), SignedDuration::from_mins(256));
        assert_eq!(retry_delay(10), SignedDuration::from_mins(360));
        assert_eq!(retry_delay(50), SignedDuration::from_mins(360));
    }
}
