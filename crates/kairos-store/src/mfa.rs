//! Multi-factor sign-in for staff: each account's TOTP secret (base32, as
//! enrolled), whether it is confirmed, the last time step a code was
//! accepted for (so a code is accepted once), its single-use recovery codes
//! (SHA-256 hashes only), and the short-lived second step of a sign-in
//! (a hashed token that is not a session).
//!
//! Every change is audited with a coded detail (`mfa ...`), never a secret
//! or a code.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::sessions::token_hash;
use crate::{Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::ids::StaffId;
use kairos_domain::staff::Staff;

/// An account's second factor.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct MfaState {
    /// The TOTP secret (base32), set at enrolment; none: not enrolled.
    pub secret: Option<String>,
    /// Confirmed with a code: required at every sign-in from then on.
    pub confirmed_at: Option<Timestamp>,
    /// The latest time step a code was accepted for.
    pub last_step: Option<i64>,
    /// Recovery codes not yet used.
    pub recovery_left: i64,
}

impl MfaState {
    pub fn enrolled(&self) -> bool {
        self.secret.is_some() && self.confirmed_at.is_some()
    }
}

/// The secret never appears in `Debug` output.
impl std::fmt::Debug for MfaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaState")
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .field("recovery_left", &self.recovery_left)
            .finish()
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

async fn audit_staff(tx: &mut Tx, actor: &Actor, staff: StaffId, detail: &str, now: Timestamp) -> Result<()> {
    audit::insert_in(tx, actor, &AuditEntry::new(Action::Update, "staff", staff).detail(detail), now).await
}

/// Clears an account's second factor inside a transaction: secret, last
/// step, recovery codes and pending second steps.
pub(crate) async fn clear_mfa_in(tx: &mut Tx, staff: StaffId) -> Result<()> {
    sqlx::query("UPDATE staff SET mfa_secret = NULL, mfa_confirmed_at = NULL, mfa_last_step = NULL WHERE id = $1")
        .bind(staff.to_string())
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM staff_mfa_recovery_codes WHERE staff_id = $1")
        .bind(staff.to_string())
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM staff_mfa_challenges WHERE staff_id = $1")
        .bind(staff.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// An account's second factor.
    pub async fn mfa_state(&self, staff: StaffId) -> Result<MfaState> {
        let row = sqlx::query(
            "SELECT mfa_secret, mfa_confirmed_at, mfa_last_step, \
             (SELECT COUNT(*) FROM staff_mfa_recovery_codes c WHERE c.staff_id = s.id AND c.used_at IS NULL) AS left_n \
             FROM staff s WHERE s.id = $1",
        )
        .bind(staff.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound { record: "staff", id: staff.to_string() })?;
        Ok(MfaState {
            secret: rows::get_opt_str(&row, "mfa_secret")?,
            confirmed_at: rows::get_opt_ts(&row, "mfa_confirmed_at")?,
            last_step: sqlx::Row::try_get::<Option<i64>, _>(&row, "mfa_last_step")?,
            recovery_left: rows::get_i64(&row, "left_n")?,
        })
    }

    /// Starts (or starts again) enrolment with a new secret; refused once
    /// a second factor is confirmed (reset it first).
    pub async fn begin_mfa_enrolment(&self, actor: &Actor, staff: StaffId, secret: &str) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "UPDATE staff SET mfa_secret = $2, mfa_last_step = NULL WHERE id = $1 AND mfa_confirmed_at IS NULL",
        )
        .bind(staff.to_string())
        .bind(secret.to_string())
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::Conflict {
                field: "mfa",
                detail: "two-step sign-in is already set up for this account".into(),
            });
        }
        audit_staff(&mut tx, actor, staff, "mfa enrolment started", now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Confirms enrolment with the step of the code given, stores the
    /// recovery codes' hashes, and ends the account's other sessions (they
    /// were opened with the password alone).
    pub async fn confirm_mfa_enrolment(
        &self,
        actor: &Actor,
        staff: StaffId,
        step: i64,
        recovery_hashes: &[String],
        keep_session: Option<&str>,
    ) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "UPDATE staff SET mfa_confirmed_at = $2, mfa_last_step = $3 \
             WHERE id = $1 AND mfa_secret IS NOT NULL AND mfa_confirmed_at IS NULL",
        )
        .bind(staff.to_string())
        .bind(micros(now))
        .bind(step)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::Conflict {
                field: "code",
                detail: "there is no enrolment to confirm: start again".into(),
            });
        }
        sqlx::query("DELETE FROM staff_mfa_recovery_codes WHERE staff_id = $1")
            .bind(staff.to_string())
            .execute(&mut *tx)
            .await?;
        for h in recovery_hashes {
            sqlx::query("INSERT INTO staff_mfa_recovery_codes (staff_id, code_hash, created_at) VALUES ($1, $2, $3)")
                .bind(staff.to_string())
                .bind(h.clone())
                .bind(micros(now))
                .execute(&mut *tx)
                .await?;
        }
        crate::sessions::end_staff_sessions_in(&mut tx, staff, keep_session, now).await?;
        audit_staff(&mut tx, actor, staff, "mfa enrolled; recovery codes issued; other sessions ended", now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Accepts a code's time step once: true when `step` is later than any
    /// step accepted before for this account (atomic, so two requests with
    /// the same code cannot both pass).
    pub async fn use_mfa_step(&self, staff: StaffId, step: i64) -> Result<bool> {
        let res = sqlx::query(
            "UPDATE staff SET mfa_last_step = $2 WHERE id = $1 AND (mfa_last_step IS NULL OR mfa_last_step < $2)",
        )
        .bind(staff.to_string())
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Uses a recovery code (by its hash) once; true when it was unused.
    pub async fn use_mfa_recovery_code(&self, actor: &Actor, staff: StaffId, code_hash: &str) -> Result<bool> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let res = sqlx::query(
            "UPDATE staff_mfa_recovery_codes SET used_at = $3 WHERE staff_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(staff.to_string())
        .bind(code_hash.to_string())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let used = res.rows_affected() == 1;
        if used {
            audit_staff(&mut tx, actor, staff, "mfa recovery code used", now).await?;
        }
        tx.commit().await?;
        Ok(used)
    }

    /// Removes an account's second factor and ends its sessions (the
    /// person sets it up again at their next sign-in where it is
    /// required). `detail` says how (own, approved request, server).
    pub async fn reset_mfa(&self, actor: &Actor, staff: StaffId, detail: &str) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        crate::staff_requests::staff_in(&mut tx, staff).await?;
        clear_mfa_in(&mut tx, staff).await?;
        crate::sessions::end_staff_sessions_in(&mut tx, staff, None, now).await?;
        audit_staff(&mut tx, actor, staff, detail, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes one's own second factor (where one's roles do not require
    /// it), keeping the current session.
    pub async fn remove_own_mfa(&self, actor: &Actor, staff: StaffId, keep_session: &str) -> Result<()> {
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        clear_mfa_in(&mut tx, staff).await?;
        crate::sessions::end_staff_sessions_in(&mut tx, staff, Some(keep_session), now).await?;
        audit_staff(&mut tx, actor, staff, "mfa removed by its owner; other sessions ended", now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the second step of a sign-in whose password was right.
    pub async fn create_mfa_challenge(
        &self,
        staff: StaffId,
        token: &str,
        expires: Timestamp,
        remote_addr: Option<&str>,
    ) -> Result<()> {
        let now = Timestamp::now();
        // Old, finished second steps go as new ones come.
        sqlx::query("DELETE FROM staff_mfa_challenges WHERE expires_at < $1 OR used_at IS NOT NULL")
            .bind(micros(now))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO staff_mfa_challenges (token_hash, staff_id, created_at, expires_at, remote_addr) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(token))
        .bind(staff.to_string())
        .bind(micros(now))
        .bind(micros(expires))
        .bind(remote_addr.map(str::to_string))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account of a live second step (not used, not expired).
    pub async fn mfa_challenge(&self, token: &str) -> Result<Option<Staff>> {
        let row = sqlx::query(
            "SELECT st.id, st.name, st.email, st.roles, st.active FROM staff_mfa_challenges c \
             JOIN staff st ON st.id = c.staff_id \
             WHERE c.token_hash = $1 AND c.used_at IS NULL AND c.expires_at > $2 AND st.active = 1",
        )
        .bind(token_hash(token))
        .bind(micros(Timestamp::now()))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(crate::staff::staff_of).transpose()
    }

    /// Ends a second step (used, or given up); true when it was live.
    pub async fn finish_mfa_challenge(&self, token: &str) -> Result<bool> {
        let res = sqlx::query("UPDATE staff_mfa_challenges SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL")
            .bind(token_hash(token))
            .bind(micros(Timestamp::now()))
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() == 1)
    }
}
