//! One's own account in the browser: change one's password, set up
//! two-step sign-in (a QR code drawn on the server, confirmed with a code;
//! the recovery codes shown once), remove it where one's role allows. The
//! forms call `usecase::account`, as the API does.

use super::form::{Refused, with_status};
use super::{Nav, UiAuth, api_auth, render, ui_error};
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

type PageResult = Result<Response, Response>;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Option<Nav>,
    name: String,
    email: String,
    mfa: usecase::account::MfaStatus,
    /// Set after a change: what was done.
    done: Option<String>,
    password_error: Option<Refused>,
    mfa_error: Option<Refused>,
}

async fn page(
    state: &AppState,
    auth: &UiAuth,
    done: Option<String>,
    password_error: Option<Refused>,
    mfa_error: Option<Refused>,
) -> PageResult {
    let mfa = usecase::account::mfa_status(state, &api_auth(auth)).await.map_err(|e| ui_error(e, Some(nav(auth))))?;
    let status = password_error.clone().or(mfa_error.clone());
    let page = render(&AccountPage {
        nav: Some(nav(auth)),
        name: auth.staff.name.clone(),
        email: auth.staff.email.to_string(),
        mfa,
        done,
        password_error,
        mfa_error,
    });
    Ok(with_status(page, &status))
}

fn nav(auth: &UiAuth) -> Nav {
    auth.nav("/account")
}

pub async fn show(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    page(&state, &auth, None, None, None).await
}

/// No `Debug`: it holds passwords.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct PasswordChangeForm {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    auth: UiAuth,
    axum::Form(f): axum::Form<PasswordChangeForm>,
) -> PageResult {
    match usecase::account::change_password(&state, &api_auth(&auth), &f.current_password, f.new_password).await {
        Ok(()) => {
            let done = "Your password is changed. Your other sessions have ended; this one goes on.".to_string();
            page(&state, &auth, Some(done), None, None).await
        }
        Err(e) => page(&state, &auth, None, Some(e.into()), None).await,
    }
}

#[derive(Template)]
#[template(path = "account_mfa_setup.html")]
struct SetupPage {
    nav: Option<Nav>,
    secret: String,
    uri: String,
    qr: String,
    error: Option<Refused>,
}

/// Starts setting up two-step sign-in: a new secret, shown as a QR code
/// and as text, to confirm with a code.
pub async fn begin_mfa(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    let e = usecase::account::begin_mfa(&state, &api_auth(&auth)).await;
    match e {
        Ok(e) => {
            let qr = crate::mfa::qr_svg(&e.otpauth_uri).map_err(|e| ui_error(e, Some(nav(&auth))))?;
            Ok(render(&SetupPage { nav: Some(nav(&auth)), secret: e.secret, uri: e.otpauth_uri, qr, error: None }))
        }
        Err(e) => page(&state, &auth, None, None, Some(e.into())).await,
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

#[derive(Template)]
#[template(path = "account_mfa_codes.html")]
struct CodesPage {
    nav: Option<Nav>,
    codes: Vec<String>,
}

/// Confirms the set-up with a code from the app; shows the recovery codes
/// this once. A wrong code shows the set-up again (same secret).
pub async fn confirm_mfa(
    State(state): State<AppState>,
    auth: UiAuth,
    axum::Form(f): axum::Form<CodeForm>,
) -> PageResult {
    match usecase::account::confirm_mfa(&state, &api_auth(&auth), &f.code).await {
        Ok(codes) => Ok(render(&CodesPage { nav: Some(nav(&auth)), codes })),
        Err(e @ crate::error::AppError::Unprocessable { .. }) => {
            // The set-up is still pending: show its QR code again.
            let m = state.store.mfa_state(auth.staff.id).await.map_err(|e| ui_error(e.into(), Some(nav(&auth))))?;
            let Some(secret) = m.secret.filter(|_| m.confirmed_at.is_none()) else {
                return page(&state, &auth, None, None, Some(e.into())).await;
            };
            let uri = crate::mfa::otpauth_uri(&secret, auth.staff.email.as_str())
                .map_err(|e| ui_error(e, Some(nav(&auth))))?;
            let qr = crate::mfa::qr_svg(&uri).map_err(|e| ui_error(e, Some(nav(&auth))))?;
            let error: Refused = e.into();
            let status = Some(error.clone());
            let page = render(&SetupPage { nav: Some(nav(&auth)), secret, uri, qr, error: Some(error) });
            Ok(with_status(page, &status))
        }
        Err(e) => page(&state, &auth, None, None, Some(e.into())).await,
    }
}

/// No `Debug`: it holds a password.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RemoveForm {
    password: String,
}

pub async fn remove_mfa(
    State(state): State<AppState>,
    auth: UiAuth,
    axum::Form(f): axum::Form<RemoveForm>,
) -> PageResult {
    match usecase::account::remove_mfa(&state, &api_auth(&auth), &f.password).await {
        Ok(()) => page(&state, &auth, Some("Two-step sign-in is removed from your account.".into()), None, None).await,
        Err(e) => page(&state, &auth, None, None, Some(e.into())).await,
    }
}
