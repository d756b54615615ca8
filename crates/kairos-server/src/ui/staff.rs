//! Staff accounts in the browser (administrators): the list, a new account,
//! an account's name, e-mail, roles and active flag, and its password. The
//! forms call the use cases the API calls; nobody changes their own roles or
//! deactivates themselves.

use super::form::{Refused, with_status};
use super::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::error::AppError;
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kairos_domain::ids::StaffId;
use kairos_domain::roles::{Permission, Role, Roles};
use kairos_domain::staff::{Staff, StaffInput};
use serde::Deserialize;

type PageResult = Result<Response, Response>;

/// An account form as typed (`roles` repeats, one per box ticked).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AccountForm {
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    /// New accounts: the first password (optional).
    pub password: String,
    /// Edits: ticked while the account stays active.
    pub active: Option<String>,
}

impl AccountForm {
    fn of(s: &Staff) -> AccountForm {
        AccountForm {
            name: s.name.clone(),
            email: s.email.to_string(),
            roles: s.roles.iter().map(|r| r.as_str().to_string()).collect(),
            password: String::new(),
            active: s.active.then(|| "yes".into()),
        }
    }

    fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    fn input(&self) -> Result<StaffInput, AppError> {
        let roles = self.roles.iter().map(|r| Role::parse("roles", r.trim())).collect::<Result<Vec<_>, _>>()?;
        Ok(StaffInput::parse(&self.name, &self.email, Roles::new(roles)?)?)
    }
}

fn read_form(body: &[u8], auth: &UiAuth) -> Result<AccountForm, Response> {
    serde_html_form::from_bytes(body)
        .map_err(|_| page_error(StatusCode::BAD_REQUEST, "The form could not be read.", Some(auth.nav("/admin/staff"))))
}

fn role_choices() -> Vec<(&'static str, &'static str)> {
    Role::ALL.iter().map(|r| (r.as_str(), r.label())).collect()
}

struct StaffRow {
    id: StaffId,
    name: String,
    email: String,
    roles: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    nav: Option<Nav>,
    rows: Vec<StaffRow>,
    roles: Vec<(&'static str, &'static str)>,
    values: AccountForm,
    error: Option<Refused>,
}

async fn list_page(state: &AppState, auth: &UiAuth, values: AccountForm, error: Option<Refused>) -> PageResult {
    let all = usecase::directory::all_staff(state, &api_auth(auth))
        .await
        .map_err(|e| ui_error(e, Some(auth.nav("/admin/staff"))))?;
    let page = render(&StaffPage {
        nav: Some(auth.nav("/admin/staff")),
        rows: all
            .iter()
            .map(|s| StaffRow {
                id: s.id,
                name: s.name.clone(),
                email: s.email.to_string(),
                roles: s.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join(", "),
                active: s.active,
            })
            .collect(),
        roles: role_choices(),
        values,
        error: error.clone(),
    });
    Ok(with_status(page, &error))
}

pub async fn list(State(state): State<AppState>, auth: UiAuth) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    list_page(&state, &auth, AccountForm::default(), None).await
}

pub async fn create(State(state): State<AppState>, auth: UiAuth, body: axum::body::Bytes) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    let form = read_form(&body, &auth)?;
    let password = Some(form.password.clone()).filter(|p| !p.is_empty());
    let result = match form.input() {
        Ok(input) => usecase::staff::create(&state, &api_auth(&auth), &input, password).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(s) => Ok(Redirect::to(&format!("/admin/staff/{}", s.id)).into_response()),
        Err(e) => {
            let values = AccountForm { password: String::new(), ..form };
            list_page(&state, &auth, values, Some(e.into())).await
        }
    }
}

#[derive(Template)]
#[template(path = "staff_account.html")]
struct AccountPage {
    nav: Option<Nav>,
    id: StaffId,
    /// The account is the signed-in administrator's own.
    own: bool,
    roles: Vec<(&'static str, &'static str)>,
    values: AccountForm,
    error: Option<Refused>,
    password_error: Option<Refused>,
}

async fn account_page(
    state: &AppState,
    auth: &UiAuth,
    id: StaffId,
    values: Option<AccountForm>,
    error: Option<Refused>,
    password_error: Option<Refused>,
) -> PageResult {
    let values = match values {
        Some(v) => v,
        None => {
            let s = usecase::staff::get(state, &api_auth(auth), id)
                .await
                .map_err(|e| ui_error(e, Some(auth.nav("/admin/staff"))))?;
            AccountForm::of(&s)
        }
    };
    let status = error.clone().or(password_error.clone());
    let page = render(&AccountPage {
        nav: Some(auth.nav("/admin/staff")),
        id,
        own: id == auth.staff.id,
        roles: role_choices(),
        values,
        error,
        password_error,
    });
    Ok(with_status(page, &status))
}

fn staff_id(auth: &UiAuth, id: &str) -> Result<StaffId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such staff member.", Some(auth.nav("/admin/staff"))))
}

pub async fn show(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    let id = staff_id(&auth, &id)?;
    account_page(&state, &auth, id, None, None, None).await
}

pub async fn update(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    let id = staff_id(&auth, &id)?;
    let form = read_form(&body, &auth)?;
    let result = match form.input() {
        Ok(input) => usecase::staff::update(&state, &api_auth(&auth), id, &input, form.active.is_some()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to("/admin/staff").into_response()),
        Err(AppError::NotFound(m)) => Err(page_error(StatusCode::NOT_FOUND, &m, Some(auth.nav("/admin/staff")))),
        Err(e) => account_page(&state, &auth, id, Some(form), Some(e.into()), None).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    password: String,
}

pub async fn set_password(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<PasswordForm>,
) -> PageResult {
    auth.require(Permission::ManageStaff)?;
    let id = staff_id(&auth, &id)?;
    match usecase::staff::set_password(&state, &api_auth(&auth), id, form.password).await {
        Ok(()) => Ok(Redirect::to("/admin/staff").into_response()),
        Err(e) => account_page(&state, &auth, id, None, None, Some(e.into())).await,
    }
}
