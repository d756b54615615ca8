//! One's own account: password and two-step sign-in. These answer also
//! before a required second factor is set up (`access::BEFORE_SECOND_FACTOR`).

use super::path_id;
use super::staff::StaffRequestView;
use crate::error::AppResult;
use crate::extract::{Auth, Json};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 12 characters, not easy to guess (not a common password, a
    /// repeat, a keyboard pattern, or one's own name or e-mail).
    #[schema(min_length = 12, max_length = 256)]
    pub new_password: String,
}

/// Changes one's own password. The current password is required; every
/// other session of the account ends (this one stays open).
#[utoipa::path(post, path = "/me/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 422, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<PasswordChange>,
) -> AppResult<StatusCode> {
    crate::usecase::account::change_password(&state, &auth, &body.current_password, body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Where one's two-step sign-in stands.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct MfaStatusView {
    pub enrolled: bool,
    /// One's roles require it on this server.
    pub required: bool,
    /// Set up but not yet confirmed with a code.
    pub pending: bool,
    pub recovery_codes_left: i64,
}

#[utoipa::path(get, path = "/me/mfa", tag = "auth", responses((status = 200, body = MfaStatusView)))]
pub async fn mfa_status(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<MfaStatusView>> {
    let s = crate::usecase::account::mfa_status(&state, &auth).await?;
    Ok(axum::Json(MfaStatusView {
        enrolled: s.enrolled,
        required: s.required,
        pending: s.pending,
        recovery_codes_left: s.recovery_codes_left,
    }))
}

/// A new second factor to add to an authenticator app (shown once).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct MfaEnrolmentView {
    /// The TOTP secret, base32 (SHA-1, 6 digits, 30 s).
    pub secret: String,
    pub otpauth_uri: String,
}

/// Starts setting up two-step sign-in: a new secret, active once confirmed
/// with a code (`POST /me/mfa/confirm`). 409 when it is already set up.
#[utoipa::path(post, path = "/me/mfa", tag = "auth",
    responses((status = 201, body = MfaEnrolmentView), (status = 409, body = crate::error::Problem)))]
pub async fn begin_mfa(
    State(state): State<AppState>,
    auth: Auth,
) -> AppResult<(StatusCode, axum::Json<MfaEnrolmentView>)> {
    let e = crate::usecase::account::begin_mfa(&state, &auth).await?;
    Ok((StatusCode::CREATED, axum::Json(MfaEnrolmentView { secret: e.secret, otpauth_uri: e.otpauth_uri })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaCode {
    /// The six digits the authenticator app shows now.
    pub code: String,
}

/// The recovery codes: each signs in once in place of a code. Shown once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodesView {
    pub recovery_codes: Vec<String>,
}

/// Confirms two-step sign-in with a code from the app; from now on every
/// sign-in asks for a code. Other sessions of the account end.
#[utoipa::path(post, path = "/me/mfa/confirm", tag = "auth", request_body = MfaCode,
    responses((status = 200, body = RecoveryCodesView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn confirm_mfa(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<MfaCode>,
) -> AppResult<axum::Json<RecoveryCodesView>> {
    let recovery_codes = crate::usecase::account::confirm_mfa(&state, &auth, &body.code).await?;
    Ok(axum::Json(RecoveryCodesView { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfirm {
    pub password: String,
}

/// Removes one's own two-step sign-in (with one's password); 403 where
/// one's roles require it.
#[utoipa::path(delete, path = "/me/mfa", tag = "auth", request_body = PasswordConfirm,
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn remove_mfa(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<PasswordConfirm>,
) -> AppResult<StatusCode> {
    crate::usecase::account::remove_mfa(&state, &auth, &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Asks to reset a staff member's two-step sign-in (admin; they set it up
/// again at their next sign-in). Like a password reset it waits for a
/// second administrator: 202 with the request.
#[utoipa::path(post, path = "/staff/{id}/mfa-reset", tag = "staff", params(("id" = String, Path)),
    responses((status = 202, body = StaffRequestView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn reset_mfa(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<(StatusCode, axum::Json<StaffRequestView>)> {
    let id = path_id("staff member", &id)?;
    let req = crate::usecase::staff::reset_mfa(&state, &auth, id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(StaffRequestView::from(&req))))
}
