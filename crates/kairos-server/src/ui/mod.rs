//! The server-rendered web UI: semantic HTML, one stylesheet, no script.
//!
//! Pages authenticate with the HttpOnly, SameSite=Strict session cookie.
//! Form posts are also checked for a same-origin `Origin` / `Sec-Fetch-Site`.

// Page handlers return a rendered error page as their `Err`.
#![allow(clippy::result_large_err)]

mod dosing;
pub(crate) mod form;
mod groups;
mod ledger;
mod measures;
mod notes;
mod pages;
mod plots;
mod portal;
mod protocols;
mod schedule;
mod screening;

use crate::error::AppError;
use crate::extract::{cookie_token, remote_addr};
use crate::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kairos_domain::roles::{Permission, Role};
use kairos_domain::staff::Staff;
use kairos_store::Actor;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/clients", get(pages::clients))
        .route("/clients/{id}", get(pages::chart))
        .route("/day", get(pages::day_default))
        .route("/sites/{id}/day", get(pages::day))
        .route("/admin/staff", get(pages::staff))
        .route("/admin/audit", get(pages::audit))
        .route("/alerts", get(measures::alerts))
        .route("/measures/due", get(measures::due))
        .route("/instruments", get(measures::instruments))
        .route("/encounters/{id}/dosing", get(dosing::start_form).post(dosing::start_submit))
        .route("/dosing-sessions/{id}", get(dosing::show))
        .route("/encounters/{id}/notes", post(notes::create))
        .route("/notes/{id}", get(notes::show).post(notes::save))
        .route("/notes/{id}/amendments", post(notes::amend))
        .route("/clients/{id}/windows", get(notes::client_windows))
        .route("/windows/unbooked", get(notes::unbooked))
        .route("/windows/book", post(notes::book_integration))
        .route("/dosing-sessions/{id}/vitals", post(dosing::add_vitals))
        .route("/dosing-sessions/{id}/discharge", post(dosing::discharge))
        .route("/dosing-sessions/{id}/sign", post(dosing::sign))
        .route("/dosing-sessions/{id}/events", post(dosing::add_event))
        .route("/dosing-sessions/{id}/amendments", post(dosing::amend))
        .route("/dosing-sessions/{id}/waste", post(dosing::waste))
        .route("/ledger", get(ledger::home))
        .route("/ledger/registrations", post(ledger::add_registration))
        .route("/ledger/receive", get(ledger::receive_form).post(ledger::receive_submit))
        .route("/ledger/initial-inventory", get(ledger::initial_form).post(ledger::initial_submit))
        .route("/ledger/stock/{id}", get(ledger::stock))
        .route("/ledger/stock/{id}/entries", post(ledger::add_entry))
        .route("/ledger/losses/{id}/notified", post(ledger::loss_notified))
        .route("/ledger/losses/{id}/form106", post(ledger::loss_form106))
        .route("/ledger/registrations/{id}/report", get(ledger::report))
        .route("/ledger/registrations/{id}/report.csv", get(ledger::report_csv))
        .route("/ledger/registrations/{id}/inventory", get(ledger::inventory))
        .route("/dosing-sessions/{id}/rems", get(ledger::rems).post(ledger::rems_submit))
        .route("/rems", get(ledger::rems_list))
        .route("/groups", get(groups::list).post(groups::create))
        .route("/groups/{id}", get(groups::show).post(groups::post))
        .route("/groups/{id}/sessions/{sid}", get(groups::show_session).post(groups::save_session))
        .route("/schedule", get(schedule::index))
        .route("/schedule/proposals", post(schedule::propose))
        .route("/schedule/proposals/{id}", get(schedule::show))
        .route("/schedule/proposals/{id}/apply", post(schedule::apply))
        .route("/schedule/proposals/{id}/discard", post(schedule::discard))
        .route("/schedule/proposals/{id}/repair", post(schedule::repair))
        .route("/protocols", get(protocols::list))
        .route("/protocols/{id}", get(protocols::show))
        .route("/courses/{id}/screens/new", get(screening::new_screen))
        .route("/courses/{id}/screens", post(screening::record_screen))
        .route("/screens/{id}", get(screening::show_screen))
        .route("/screens/{id}/sign", post(screening::sign_screen))
        .route("/clients/{id}/measures/new", get(measures::record_form))
        .route("/clients/{id}/measures", post(measures::record_submit))
        .route("/outcomes", get(measures::outcomes))
        .route("/alerts/{id}/acknowledge", post(measures::acknowledge))
        .route("/clients/{id}/links", post(measures::send_link))
        .route("/r/{token}", get(measures::self_report_form).post(measures::self_report_submit))
        .route("/portal", get(portal::home))
        .route("/portal/login", get(portal::login_form).post(portal::login_submit))
        .route("/portal/auth/{code}", get(portal::auth_form).post(portal::auth_submit))
        .route("/portal/password", get(portal::password_form).post(portal::password_submit))
        .route("/portal/logout", post(portal::logout))
        .route("/portal/journal", get(portal::journal).post(portal::journal_submit))
        .route("/portal/journal/{id}/sharing", post(portal::journal_share))
        .route("/portal/exercises", post(portal::exercise_start))
        .route("/portal/exercises/{id}", get(portal::exercise).post(portal::exercise_answer))
        .route("/portal/questionnaires/{id}", post(portal::open_questionnaire))
        .route("/clients/{id}/portal", get(portal::client_portal))
        .route("/clients/{id}/portal-invitations", post(portal::invite))
        .route("/static/kairos.css", get(stylesheet))
        .layer(axum::middleware::from_fn(same_origin_posts))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        include_str!("../../static/kairos.css"),
    )
        .into_response()
}

/// Refuses cross-site form posts (defence in depth beside SameSite=Strict).
async fn same_origin_posts(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let h = req.headers();
        let site_ok = h
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .map(|v| v == "same-origin" || v == "none")
            .unwrap_or(true);
        let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
        let origin_ok = match (h.get(header::ORIGIN).and_then(|v| v.to_str().ok()), host) {
            (Some("null"), _) => false,
            (Some(origin), Some(host)) => origin.split("://").nth(1) == Some(host),
            (Some(_), None) => false,
            (None, _) => true,
        };
        if !(site_ok && origin_ok) {
            return page_error(StatusCode::FORBIDDEN, "This form was sent from another site and was refused.", None);
        }
    }
    next.run(req).await
}

/// The signed-in staff member as the JSON API's caller, so pages share the
/// API's checks and writes.
pub(crate) fn api_auth(auth: &UiAuth) -> crate::extract::Auth {
    crate::extract::Auth { staff: auth.staff.clone(), token: auth.token.clone(), remote_addr: auth.remote_addr.clone() }
}

/// The sentence of a refusal, to show on the page that was submitted.
pub(crate) fn detail(e: AppError) -> String {
    match e {
        AppError::Unprocessable { detail, .. }
        | AppError::BadRequest { detail, .. }
        | AppError::Conflict { detail, .. } => detail,
        other => other.to_string(),
    }
}

/// A link in the top navigation.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub struct Nav {
    pub name: String,
    pub roles: String,
    pub links: Vec<NavLink>,
    /// Open safety alerts this person must see: shown on every page.
    pub alerts: kairos_store::measures::AlertCounts,
}

impl Nav {
    pub fn for_staff(staff: &Staff, current: &str) -> Nav {
        let mut links = Vec::new();
        let mut add = |href: &'static str, label: &'static str| {
            links.push(NavLink { href, label, current: href == current });
        };
        if staff.roles.allow(Permission::ReadClients) {
            add("/day", "Day view");
            add("/clients", "Clients");
        }
        if staff.roles.allow(Permission::ManageStaff) {
            add("/admin/staff", "Staff");
        }
        if staff.roles.allow(Permission::BookEncounters) {
            add("/schedule", "Schedule");
        }
        if staff.roles.allow(Permission::ReadGroups) {
            add("/groups", "Groups");
        }
        if staff.roles.allow(Permission::ReadMeasures) {
            add("/alerts", "Alerts");
        }
        if staff.roles.allow(Permission::RecordMeasures) {
            add("/measures/due", "Questionnaires due");
        }
        if staff.roles.allow(Permission::ReadPracticeOutcomes) {
            add("/outcomes", "Outcomes");
        }
        if staff.roles.allow(Permission::ReadMeasures) {
            add("/instruments", "Questionnaires");
        }
        if staff.roles.allow(Permission::ReadClients) {
            add("/protocols", "Protocols");
        }
        if staff.roles.allow(Permission::ReadLedger) || staff.roles.allow(Permission::ManageRegistrations) {
            add("/ledger", "Ledger");
        }
        if staff.roles.allow(Permission::ReadAudit) {
            add("/admin/audit", "Audit log");
        }
        Nav {
            alerts: Default::default(),
            name: staff.name.clone(),
            roles: staff.roles.iter().map(Role::label).collect::<Vec<_>>().join(", "),
            links,
        }
    }
}

/// The signed-in staff member of a page request. Without a live session
/// the page redirects to the sign-in form and comes back afterwards.
pub struct UiAuth {
    pub staff: Staff,
    pub token: String,
    pub remote_addr: Option<String>,
    pub alerts: kairos_store::measures::AlertCounts,
}

impl UiAuth {
    /// The navigation, with the open-alert banner.
    pub fn nav(&self, current: &str) -> Nav {
        let mut nav = Nav::for_staff(&self.staff, current);
        nav.alerts = self.alerts;
        nav
    }

    pub fn actor(&self) -> Actor {
        Actor {
            staff_id: Some(self.staff.id),
            roles: self.staff.roles.to_list(),
            remote_addr: self.remote_addr.clone(),
        }
    }

    pub fn require(&self, p: Permission) -> Result<(), Response> {
        if self.staff.roles.allow(p) {
            Ok(())
        } else {
            Err(page_error(
                StatusCode::FORBIDDEN,
                &format!("Your role ({}) may not {}.", self.staff.roles.to_list(), p.describe()),
                Some(self.nav("")),
            ))
        }
    }
}

impl FromRequestParts<AppState> for UiAuth {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let q = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
            Redirect::to(&format!("/login?{q}")).into_response()
        };
        let Some(token) = cookie_token(parts, crate::auth::cookie_name(state)) else {
            return Err(to_login());
        };
        match state.store.authenticate_session(&token, &state.config.session).await {
            Ok(Some(info)) => {
                // Every page a clinician opens shows their open safety alerts.
                // The banner is for those who act on alerts; a director reviews
                // them on the alert page without being paged by every one.
                let alerts = if info.staff.roles.allow(Permission::RecordMeasures) {
                    let everyone = info.staff.roles.contains(Role::Director);
                    let before = jiff::Timestamp::now() - state.config.alert_escalation;
                    match state.store.open_alert_counts(info.staff.id, everyone, before).await {
                        Ok(c) => c,
                        Err(e) => return Err(ui_error(AppError::from(e), None)),
                    }
                } else {
                    Default::default()
                };
                Ok(UiAuth { staff: info.staff, token, remote_addr: remote_addr(parts), alerts })
            }
            Ok(None) => Err(to_login()),
            Err(e) => Err(ui_error(AppError::from(e), None)),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Option<Nav>,
    title: String,
    message: String,
}

pub fn page_error(status: StatusCode, message: &str, nav: Option<Nav>) -> Response {
    let page = ErrorPage {
        nav,
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        message: message.to_string(),
    };
    (status, Html(page.render().unwrap_or_else(|_| message.to_string()))).into_response()
}

/// Renders an application error as a page.
pub fn ui_error(e: AppError, nav: Option<Nav>) -> Response {
    if let AppError::Internal(m) | AppError::Unavailable(m) = &e {
        tracing::error!(error = %m, "page failed");
    }
    page_error(e.status(), &e.public_detail(), nav)
}

/// Renders a template, or an error page if rendering fails.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => ui_error(AppError::Internal(format!("template: {e}")), None),
    }
}
