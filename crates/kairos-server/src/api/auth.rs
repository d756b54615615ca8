use super::views::StaffView;
use crate::auth::{SignIn, clear_cookie, session_cookie, sign_in, sign_out};
use crate::error::AppError;
use crate::error::AppResult;
use crate::extract::{Auth, Json, RemoteAddr};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// For an account with two-step sign-in: the current six-digit code
    /// from the authenticator app, or an unused recovery code.
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The session ends after this many seconds without use.
    pub idle_timeout_seconds: i64,
    pub staff: StaffView,
}

/// Signs in. Also sets an HttpOnly, SameSite=Strict session cookie for the web UI.
/// An account with two-step sign-in also sends `code`; without it (or with a
/// wrong or used one) the answer is 401 naming the field `code`.
#[utoipa::path(post, path = "/auth/login", security(()), tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::Problem),
              (status = 429, body = crate::error::Problem)))]
pub async fn login(
    State(state): State<AppState>,
    RemoteAddr(remote): RemoteAddr,
    Json(req): Json<LoginRequest>,
) -> AppResult<Response> {
    let (staff, token) = match sign_in(&state, &req.email, &req.password, req.code.as_deref(), remote).await? {
        SignIn::Session(staff, token) => (staff, token),
        SignIn::CodeNeeded(_) => {
            return Err(AppError::SecondFactor(
                "this account signs in in two steps: send the current six-digit code from the authenticator \
                 app (or an unused recovery code) as `code`"
                    .into(),
            ));
        }
    };
    let cookie = session_cookie(&state, &token);
    let body = LoginResponse {
        token,
        idle_timeout_seconds: state.config.session.idle.as_secs(),
        staff: StaffView::from(&staff),
    };
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(body)).into_response())
}

/// Ends the session of the presented token.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = crate::error::Problem)))]
pub async fn logout(State(state): State<AppState>, auth: Auth) -> AppResult<Response> {
    sign_out(&state, &auth.staff, &auth.token, auth.remote_addr.clone()).await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear_cookie(&state))]).into_response())
}

/// The signed-in staff member.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, body = StaffView), (status = 401, body = crate::error::Problem)))]
pub async fn me(auth: Auth) -> axum::Json<StaffView> {
    axum::Json(StaffView::from(&auth.staff))
}
