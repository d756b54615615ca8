//! Sign-in sessions, kept in the database so that every server process over
//! one PostgreSQL sees the same sessions.
//!
//! Only a SHA-256 hash of each token is stored: a copy of the database does
//! not let anyone sign in.

use crate::rows::{self, micros};
use crate::{Result, Store, StoreError};
use jiff::{SignedDuration, Timestamp};
use kairos_domain::roles::Roles;
use kairos_domain::staff::Staff;
use sha2::{Digest, Sha256};

/// How sessions expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ends a session this long after its last use.
    pub idle: SignedDuration,
    /// Ends a session this long after sign-in, however busy.
    pub absolute: SignedDuration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy { idle: SignedDuration::from_mins(15), absolute: SignedDuration::from_hours(12) }
    }
}

impl SessionPolicy {
    /// Last-use times are refreshed at most this often, so a busy session
    /// does not write on every request: a tenth of the idle time, at most
    /// a minute. The idle limit is therefore honoured to within this slack.
    pub fn touch_interval(&self) -> SignedDuration {
        (self.idle / 10).min(SignedDuration::from_mins(1))
    }
}

/// Ends every open session of a staff account inside `tx` (a password set,
/// a second factor changed, the account deactivated), except the one whose
/// token is `except_token` (the session the change was made from).
pub(crate) async fn end_staff_sessions_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    staff: kairos_domain::ids::StaffId,
    except_token: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = $2 WHERE staff_id = $1 AND revoked_at IS NULL \
         AND token_hash <> COALESCE($3, '')",
    )
    .bind(staff.to_string())
    .bind(micros(now))
    .bind(except_token.map(token_hash))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The lower-case hex SHA-256 of a session token: what the database keeps.
pub fn token_hash(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(token.as_bytes());
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// A live session and who it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub staff: Staff,
    pub created_at: Timestamp,
    /// The account has a confirmed second factor (`crate::mfa`).
    pub mfa_enrolled: bool,
}

const SESSION_SQL: &str = "SELECT s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, \
     st.id, st.name, st.email, st.roles, st.active, st.mfa_confirmed_at \
     FROM sessions s JOIN staff st ON st.id = s.staff_id WHERE s.token_hash = $1";

struct FoundSession {
    info: SessionInfo,
    last_seen: Timestamp,
    expires: Timestamp,
    revoked: bool,
}

fn session_of<R: rows::Cols>(row: &R) -> Result<FoundSession> {
    let staff = Staff {
        id: rows::get_id(row, "id")?,
        name: rows::get_str(row, "name")?,
        email: kairos_domain::text::Email::parse("email", &rows::get_str(row, "email")?)?,
        roles: Roles::parse_list(&rows::get_str(row, "roles")?)?,
        active: rows::get_i64(row, "active")? == 1,
    };
    Ok(FoundSession {
        info: SessionInfo {
            staff,
            created_at: rows::get_ts(row, "created_at")?,
            mfa_enrolled: rows::get_opt_ts(row, "mfa_confirmed_at")?.is_some(),
        },
        last_seen: rows::get_ts(row, "last_seen_at")?,
        expires: rows::get_ts(row, "expires_at")?,
        revoked: rows::get_opt_ts(row, "revoked_at")?.is_some(),
    })
}

impl Store {
    /// Records a new session for `token` (the caller generated it).
    pub async fn create_session(
        &self,
        staff: &Staff,
        token: &str,
        policy: &SessionPolicy,
        remote_addr: Option<&str>,
    ) -> Result<()> {
        let now = Timestamp::now();
        let expires = now.checked_add(policy.absolute).map_err(StoreError::corrupt)?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, staff_id, created_at, last_seen_at, expires_at, remote_addr) \
             VALUES ($1, $2, $3, $3, $4, $5)",
        )
        .bind(token_hash(token))
        .bind(staff.id.to_string())
        .bind(micros(now))
        .bind(micros(expires))
        .bind(remote_addr.map(str::to_string))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session for `token` if it is live (not revoked, not idle too long,
    /// not past its absolute expiry, account active). Refreshes its last use.
    pub async fn authenticate_session(&self, token: &str, policy: &SessionPolicy) -> Result<Option<SessionInfo>> {
        let now = Timestamp::now();
        let hash = token_hash(token);
        let found = match &self.readers {
            Some(readers) => readers
                .read(|conn| rows::query_named(&mut conn.prepare_cached(SESSION_SQL)?, [&hash], |r| session_of(r)))?
                .pop(),
            None => {
                let row = sqlx::query(SESSION_SQL).bind(hash.clone()).fetch_optional(&self.pool).await?;
                row.as_ref().map(session_of).transpose()?
            }
        };
        let Some(found) = found else { return Ok(None) };
        let idle_deadline = found.last_seen.checked_add(policy.idle).map_err(StoreError::corrupt)?;
        if found.revoked || !found.info.staff.active || now >= found.expires || now >= idle_deadline {
            return Ok(None);
        }
        if now.duration_since(found.last_seen) >= policy.touch_interval() {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $2")
                .bind(hash)
                .bind(micros(now))
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(found.info))
    }

    /// Revokes a session; returns whether it was live.
    pub async fn revoke_session(&self, token: &str) -> Result<bool> {
        let res = sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(token_hash(token))
            .bind(micros(Timestamp::now()))
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Deletes sessions that ended more than a day ago.
    pub async fn purge_sessions(&self, policy: &SessionPolicy) -> Result<u64> {
        let now = Timestamp::now();
        let day = SignedDuration::from_hours(24);
        let cutoff = now.checked_sub(day).map_err(StoreError::corrupt)?;
        let idle_cutoff = cutoff.checked_sub(policy.idle).map_err(StoreError::corrupt)?;
        let res = sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1 OR last_seen_at < $2")
            .bind(micros(cutoff))
            .bind(micros(idle_cutoff))
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_the_lower_case_hex_sha256_of_the_token() {
        // FIPS 180-2's worked example.
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(token_hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
