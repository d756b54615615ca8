//! One's own account: change one's password, set up, confirm and remove
//! one's second factor (`crate::mfa`). Every staff member may, whatever
//! their roles, also before a required second factor is set up.

use crate::auth::{hash_password_blocking, verify_blocking};
use crate::error::{AppError, AppResult};
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::staff::check_password;

/// Where one's second factor stands.
#[derive(Debug, Clone)]
pub struct MfaStatus {
    pub enrolled: bool,
    /// One's roles require it here.
    pub required: bool,
    /// Enrolment begun, not yet confirmed with a code.
    pub pending: bool,
    pub recovery_codes_left: i64,
}

/// A new enrolment: what the authenticator app needs, shown once.
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// Never shows the secret in `Debug` output.
impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment { .. }")
    }
}

pub async fn mfa_status(state: &AppState, caller: &Auth) -> AppResult<MfaStatus> {
    let m = state.store.mfa_state(caller.staff.id).await?;
    Ok(MfaStatus {
        enrolled: m.enrolled(),
        required: crate::mfa::required(state, &caller.staff),
        pending: m.secret.is_some() && m.confirmed_at.is_none(),
        recovery_codes_left: m.recovery_left,
    })
}

/// Changes one's own password: the current one is checked (a wrong one
/// counts as a failed sign-in, under the same throttling), the new one
/// follows the password rules, and every other session of the account
/// ends; this one stays open.
pub async fn change_password(state: &AppState, caller: &Auth, current: &str, new: String) -> AppResult<()> {
    if current.is_empty() {
        return Err(AppError::invalid("current_password", "current_password: type your current password"));
    }
    check_password("new_password", &new, &caller.staff.email, &caller.staff.name)?;
    if new == current {
        return Err(AppError::invalid("new_password", "new_password: must differ from the current password"));
    }
    // The same check, audit trail and throttling as a sign-in.
    crate::auth::authenticate(
        state,
        caller.staff.email.as_str(),
        current,
        caller.remote_addr.clone(),
        "password change",
    )
    .await
    .map_err(|e| match e {
        AppError::Unauthenticated => {
            AppError::invalid("current_password", "current_password: that is not your current password")
        }
        other => other,
    })?;
    let hash = hash_password_blocking(new).await?;
    state.store.change_own_password(&caller.actor(), caller.staff.id, &hash, &caller.token).await?;
    Ok(())
}

/// Starts setting up a second factor with a new secret (again, if a
/// started one was never confirmed).
pub async fn begin_mfa(state: &AppState, caller: &Auth) -> AppResult<Enrolment> {
    let secret = crate::mfa::new_secret();
    state.store.begin_mfa_enrolment(&caller.actor(), caller.staff.id, &secret).await?;
    let otpauth_uri = crate::mfa::otpauth_uri(&secret, caller.staff.email.as_str())?;
    Ok(Enrolment { secret, otpauth_uri })
}

/// Confirms the second factor with a code from the app; returns the
/// recovery codes, shown this once. The account's other sessions end.
pub async fn confirm_mfa(state: &AppState, caller: &Auth, code: &str) -> AppResult<Vec<String>> {
    let m = state.store.mfa_state(caller.staff.id).await?;
    let (Some(secret), None) = (m.secret.as_deref(), m.confirmed_at) else {
        return Err(AppError::Conflict {
            field: "code".into(),
            detail: if m.enrolled() {
                "two-step sign-in is already set up".into()
            } else {
                "start setting up two-step sign-in first".into()
            },
        });
    };
    let Some(step) = crate::mfa::code_step(secret, caller.staff.email.as_str(), code, state.now())? else {
        return Err(AppError::invalid(
            "code",
            "code: that is not the current code: type the six digits your authenticator app shows now",
        ));
    };
    let codes = crate::mfa::new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| crate::mfa::recovery_hash(c)).collect();
    state.store.confirm_mfa_enrolment(&caller.actor(), caller.staff.id, step, &hashes, Some(&caller.token)).await?;
    Ok(codes)
}

/// Removes one's own second factor, with one's password; refused where
/// one's roles require it (an administrator's reset, approved by a
/// second, is the way to start again then).
pub async fn remove_mfa(state: &AppState, caller: &Auth, password: &str) -> AppResult<()> {
    if crate::mfa::required(state, &caller.staff) {
        return Err(AppError::Forbidden(format!(
            "your role ({}) must sign in in two steps here; it cannot be removed",
            caller.staff.roles.to_list()
        )));
    }
    let ok = match state.store.staff_credentials(&caller.staff.email).await? {
        Some((_, Some(hash))) => verify_blocking(password.to_string(), hash).await?,
        _ => false,
    };
    if !ok {
        return Err(AppError::invalid("password", "password: that is not your current password"));
    }
    state.store.remove_own_mfa(&caller.actor(), caller.staff.id, &caller.token).await?;
    Ok(())
}
