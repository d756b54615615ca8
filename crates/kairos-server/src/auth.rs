//! Passwords (argon2id), session tokens, sign-in and sign-out.

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use kairos_domain::staff::Staff;
use kairos_domain::text::Email;
use kairos_store::{Action, Actor, AuditEntry};
use rand::RngCore;

/// The session cookie of the web UI.
pub const COOKIE: &str = "kairos_session";
/// The name when cookies are Secure: with the `__Host-` prefix a browser
/// keeps the cookie only if it came from this host over HTTPS with `Path=/`
/// and no `Domain`, so a sibling subdomain cannot plant or shadow it.
pub const SECURE_COOKIE: &str = "__Host-kairos_session";

/// The staff session cookie's name under this configuration.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies { SECURE_COOKIE } else { COOKIE }
}

/// OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (CPU-heavy: call from `spawn_blocking`).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("hashing a password: {e}")))
}

pub async fn hash_password_blocking(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
}

fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok()).unwrap_or(false)
}

/// Checks a password against a PHC hash off the async threads.
pub async fn verify_blocking(password: String, phc: String) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || verify(&password, &phc)).await.map_err(|e| AppError::Internal(e.to_string()))
}

/// A new random session token (256 bits, URL-safe).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What a right password leads to.
pub enum SignIn {
    /// A new session (its token).
    Session(Staff, String),
    /// The account has a second factor: a code is needed before any
    /// session opens.
    CodeNeeded(Staff),
}

/// Checks credentials and opens a session. Unknown accounts are checked
/// against a dummy hash so timing does not reveal which e-mails exist; every
/// attempt is audited; repeated failures slow further attempts from the same
/// address (`kairos_domain::signin`). For an account with a second factor
/// the password alone opens nothing: with `code` it is checked
/// (`crate::mfa::verify`, under the same throttling), without one the
/// caller asks for it.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    code: Option<&str>,
    remote_addr: Option<String>,
) -> AppResult<SignIn> {
    let staff = check_credentials(state, email, password, remote_addr.clone()).await?;
    if state.store.mfa_state(staff.id).await?.enrolled() {
        match code.map(str::trim).filter(|c| !c.is_empty()) {
            Some(code) => crate::mfa::verify(state, &staff, code, remote_addr.clone()).await?,
            None => {
                // Not a sign-in yet (a `login` entry would also clear the
                // failures counted against the second step).
                let actor = Actor { staff_id: Some(staff.id), roles: staff.roles.to_list(), remote_addr };
                let entry = AuditEntry::new(Action::LoginAttempt, "staff_login", staff.email.as_str().to_lowercase())
                    .detail("password accepted; second factor pending");
                state.store.audit_event(&actor, entry).await?;
                return Ok(SignIn::CodeNeeded(staff));
            }
        }
    }
    open_session(state, &staff, remote_addr).await.map(|token| SignIn::Session(staff, token))
}

/// Opens a session for someone who passed every factor, audited as the
/// sign-in.
pub async fn open_session(state: &AppState, staff: &Staff, remote_addr: Option<String>) -> AppResult<String> {
    let actor = Actor { staff_id: Some(staff.id), roles: staff.roles.to_list(), remote_addr: remote_addr.clone() };
    let entry = AuditEntry::new(Action::Login, "staff_login", staff.email.as_str().to_lowercase()).detail("sign-in");
    state.store.audit_event(&actor, entry).await?;
    let token = new_token();
    state.store.create_session(staff, &token, &state.config.session, remote_addr.as_deref()).await?;
    Ok(token)
}

/// Checks a person's credentials without opening a session (sign-in, and a
/// witness co-signing a controlled-substance entry on the same device), with
/// the same audit trail and lockout as signing in; `purpose` is recorded.
pub async fn authenticate(
    state: &AppState,
    email: &str,
    password: &str,
    remote_addr: Option<String>,
    purpose: &str,
) -> AppResult<Staff> {
    let staff = check_credentials(state, email, password, remote_addr.clone()).await?;
    let actor = Actor { staff_id: Some(staff.id), roles: staff.roles.to_list(), remote_addr };
    let entry = AuditEntry::new(Action::Login, "staff_login", staff.email.as_str().to_lowercase()).detail(purpose);
    state.store.audit_event(&actor, entry).await?;
    Ok(staff)
}

/// The password check shared by sign-in and a witness's co-signature:
/// throttled, audited as an attempt and (when wrong) a failure; the
/// caller audits what a right password leads to.
async fn check_credentials(
    state: &AppState,
    email: &str,
    password: &str,
    remote_addr: Option<String>,
) -> AppResult<Staff> {
    let login = email.trim().to_lowercase();
    // No account has a longer e-mail; refusing here keeps oversized input
    // out of the audit log.
    if login.chars().count() > 254 || password.chars().count() > 1024 {
        return Err(AppError::Unauthenticated);
    }
    let actor = |staff: Option<&Staff>| Actor {
        staff_id: staff.map(|s| s.id),
        roles: staff.map(|s| s.roles.to_list()).unwrap_or_else(|| "anonymous".into()),
        remote_addr: remote_addr.clone(),
    };
    let login_entry = |action: Action| AuditEntry::new(action, "staff_login", &login);
    // One attempt at a time per account and address (in this process), so
    // parallel guesses each see the failures before them and the limit
    // holds; other addresses, the clinician's among them, do not queue.
    let turn = attempt_lock(&login, remote_addr.as_deref());
    let _turn = turn.lock().await;
    let policy = state.config.sign_in_throttle;
    let now = state.now();
    let since = now.checked_sub(policy.window).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let (account, address) = state.store.sign_in_failures(&login, remote_addr.as_deref(), since).await?;
    if let Some(wait) = kairos_domain::signin::wait(&policy, account, address, now) {
        // Refused without checking the password, and not a failure: it
        // does not lengthen the wait.
        state.store.audit_event(&actor(None), login_entry(Action::LoginFailed).detail("throttled")).await?;
        return Err(AppError::Throttled { retry_after_secs: u64::try_from(wait.as_secs()).unwrap_or(1).max(1) });
    }
    state.store.audit_event(&actor(None), login_entry(Action::LoginAttempt)).await?;
    let found = match Email::parse("email", &login) {
        Ok(e) => state.store.staff_credentials(&e).await?,
        Err(_) => None,
    };
    let hash = found
        .as_ref()
        .and_then(|(s, h)| if s.active { h.clone() } else { None })
        .unwrap_or_else(|| state.dummy_hash.as_str().to_string());
    let pw = password.to_string();
    let ok =
        tokio::task::spawn_blocking(move || verify(&pw, &hash)).await.map_err(|e| AppError::Internal(e.to_string()))?;
    let staff = match found {
        Some((s, Some(_))) if ok && s.active => s,
        other => {
            let who = other.as_ref().map(|(s, _)| s);
            state.store.audit_event(&actor(who), login_entry(Action::LoginFailed)).await?;
            return Err(AppError::Unauthenticated);
        }
    };
    Ok(staff)
}

/// The per-(account, address) turn for sign-in attempts; entries are
/// dropped once nobody holds or waits for them.
fn attempt_lock(login: &str, remote: Option<&str>) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};
    static TURNS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let key = format!("{login}\u{0}{}", remote.unwrap_or(""));
    let mut turns = TURNS.lock().unwrap_or_else(|e| e.into_inner());
    turns.retain(|_, t| Arc::strong_count(t) > 1);
    turns.entry(key).or_default().clone()
}

/// Ends a session.
pub async fn sign_out(state: &AppState, staff: &Staff, token: &str, remote_addr: Option<String>) -> AppResult<()> {
    state.store.revoke_session(token).await?;
    let actor = Actor { staff_id: Some(staff.id), roles: staff.roles.to_list(), remote_addr };
    state.store.audit_event(&actor, AuditEntry::new(Action::Logout, "staff_login", staff.email.as_str())).await?;
    Ok(())
}

/// The `Set-Cookie` value for a new session.
pub fn session_cookie(state: &AppState, token: &str) -> String {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    format!("{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}", cookie_name(state))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> String {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}", cookie_name(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
