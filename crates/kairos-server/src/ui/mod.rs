//! The server-rendered web UI: semantic HTML, one stylesheet, no script.
//!
//! Pages authenticate with the HttpOnly, SameSite=Strict session cookie.
//! Form posts are also checked for a same-origin `Origin` / `Sec-Fetch-Site`.

// Page handlers return a rendered error page as their `Err`.
#![allow(clippy::result_large_err)]

mod account;
mod amendments;
mod audit;
mod disclosures;
mod dosing;
mod emergency;
pub(crate) mod form;
mod frontdesk;
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
mod staff;

use crate::access::Access::{Client, Needs, Public, SignedIn};
use crate::access::{Declared, Relation};
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
use kairos_domain::roles::Permission as P;
use kairos_domain::roles::{Permission, Role};
use kairos_domain::staff::Staff;
use kairos_store::Actor;

/// Declares each page route with who may call it: the router and the
/// permission table (`ROUTES`, enforced by `access::enforce`) come from this
/// one list.
macro_rules! pages {
    ($($method:ident $path:literal => $handler:expr, $access:expr $(, $relation:expr)?;)*) => {
        /// Every page route, who may call it, and the relation to the record
        /// it needs besides (checked where the record is loaded).
        pub const ROUTES: &[Declared] = &[$(Declared {
            method: verb!($method),
            path: $path,
            access: $access,
            relation: relation!($($relation)?),
        }),*];

        pub fn router() -> Router<AppState> {
            Router::new()
                $(.route($path, axum::routing::$method($handler)))*
                .layer(axum::middleware::from_fn(keep_typed_forms))
                .layer(axum::middleware::from_fn(same_origin_posts))
        }
    };
}

macro_rules! relation {
    () => {
        None
    };
    ($r:expr) => {
        Some($r)
    };
}

macro_rules! verb {
    (get) => {
        "GET"
    };
    (post) => {
        "POST"
    };
}

pages! {
    get "/" => pages::home, SignedIn;
    get "/login" => pages::login_form, Public;
    post "/login" => pages::login_submit, Public;
    // The second step of a sign-in: its own short-lived cookie, no session.
    post "/login/code" => pages::login_code, Public;
    get "/account" => account::show, SignedIn;
    post "/account/password" => account::change_password, SignedIn;
    post "/account/mfa" => account::begin_mfa, SignedIn;
    post "/account/mfa/confirm" => account::confirm_mfa, SignedIn;
    post "/account/mfa/remove" => account::remove_mfa, SignedIn;
    // Signs out the session if there is one; always clears the cookie.
    post "/logout" => pages::logout, Public;
    get "/clients" => pages::clients, Needs(&[P::ReadClients]);
    get "/clients/new" => frontdesk::register_form, Needs(&[P::WriteClients]);
    post "/clients" => frontdesk::register, Needs(&[P::WriteClients]);
    get "/clients/{id}/details" => frontdesk::edit_form, Needs(&[P::WriteClients]);
    get "/clients/{id}/history" => frontdesk::history, Needs(&[P::ReadClients]);
    // Emergency access: the roles are the clinic's setting (`usecase::emergency`).
    get "/emergency" => emergency::lookup_form, SignedIn;
    post "/emergency" => emergency::lookup, SignedIn;
    get "/clients/{id}/emergency" => emergency::summary, SignedIn;
    get "/emergency-access" => emergency::queue, Needs(&[P::ReviewEmergencyAccess]);
    post "/emergency-access/{id}/review" => emergency::review, Needs(&[P::ReviewEmergencyAccess]);
    get "/amendment-requests" => amendments::queue, Needs(&[P::DecideAmendments]);
    get "/clients/{id}/amendment-requests/new" => amendments::enter_form, Needs(&[P::WriteClients]);
    get "/clients/{id}/disclosures" => disclosures::accounting, Needs(&[P::ReadClients]);
    post "/clients/{id}/disclosures" => disclosures::record, Needs(&[P::WriteClients]);
    post "/ledger/registrations/{id}/report/disclosures" => disclosures::ledger_report, Needs(&[P::ReadLedger]);
    post "/clients/{id}/amendment-requests" => amendments::enter, Needs(&[P::WriteClients]);
    get "/amendment-requests/{id}" => amendments::show, Needs(&[P::DecideAmendments]);
    post "/amendment-requests/{id}/extension" => amendments::extend, Needs(&[P::DecideAmendments]);
    post "/amendment-requests/{id}/decision" => amendments::decide, Needs(&[P::DecideAmendments]);
    post "/clients/{id}/details" => frontdesk::edit, Needs(&[P::WriteClients]);
    post "/clients/{id}/email-change/confirm" => frontdesk::confirm_email_change, Needs(&[P::WriteClients]);
    post "/clients/{id}/email-change/cancel" => frontdesk::cancel_email_change, Needs(&[P::WriteClients]);
    get "/clients/{id}/courses/new" => frontdesk::course_form, Needs(&[P::ManageCourses]);
    post "/clients/{id}/courses" => frontdesk::open_course, Needs(&[P::ManageCourses]);
    post "/courses/{id}/phase" => frontdesk::change_phase, Needs(&[P::ManageCourses]);
    get "/clients/{id}/visits/new" => frontdesk::book_form, Needs(&[P::BookEncounters]);
    post "/clients/{id}/visits" => frontdesk::book, Needs(&[P::BookEncounters]);
    get "/encounters/{id}" => frontdesk::visit, Needs(&[P::ReadClients]);
    post "/encounters/{id}/status" => frontdesk::change_status, Needs(&[P::BookEncounters]);
    post "/encounters/{id}/move" => frontdesk::reschedule, Needs(&[P::BookEncounters]);
    get "/clients/{id}" => pages::chart, Needs(&[P::ReadClients]);
    get "/day" => pages::day_default, Needs(&[P::ReadClients]);
    get "/sites/{id}/day" => pages::day, Needs(&[P::ReadClients]);
    get "/admin/staff" => staff::list, Needs(&[P::ManageStaff]);
    post "/admin/staff" => staff::create, Needs(&[P::ManageStaff]);
    get "/admin/staff/{id}" => staff::show, Needs(&[P::ManageStaff]);
    post "/admin/staff/{id}" => staff::update, Needs(&[P::ManageStaff]);
    post "/admin/staff/{id}/password" => staff::set_password, Needs(&[P::ManageStaff]);
    post "/admin/staff/{id}/mfa-reset" => staff::reset_mfa, Needs(&[P::ManageStaff]);
    post "/admin/staff/requests/{id}/approve" => staff::approve, Needs(&[P::ManageStaff]);
    post "/admin/staff/requests/{id}/decline" => staff::decline, Needs(&[P::ManageStaff]);
    post "/admin/staff/{id}/hours" => staff::set_hours, Needs(&[P::ManageStaff]);
    get "/admin/audit" => audit::page, Needs(&[P::ReadAudit]);
    get "/admin/audit.csv" => audit::csv, Needs(&[P::ReadAudit]);
    get "/alerts" => measures::alerts, Needs(&[P::ReadMeasures]);
    get "/measures/due" => measures::due, Needs(&[P::ReadMeasures]);
    get "/instruments" => measures::instruments, Needs(&[P::ReadDirectory]);
    get "/encounters/{id}/dosing" => dosing::start_form, Needs(&[P::ChartDosing]);
    post "/encounters/{id}/dosing" => dosing::start_submit, Needs(&[P::ChartDosing]);
    get "/dosing-sessions/{id}" => dosing::show, Needs(&[P::ReadScreening]);
    post "/encounters/{id}/notes" => notes::create, Needs(&[P::WriteTherapyNotes]), Relation::SessionTherapist;
    get "/notes/{id}" => notes::show, Needs(&[P::ReadNoteSummaries, P::ReadTherapyNotes]), Relation::NoteAuthorOrSupervisor;
    post "/notes/{id}" => notes::save, Needs(&[P::WriteTherapyNotes]), Relation::NoteAuthor;
    post "/notes/{id}/amendments" => notes::amend, Needs(&[P::WriteTherapyNotes]), Relation::NoteAuthor;
    get "/clients/{id}/windows" => notes::client_windows, Needs(&[P::ReadClients]);
    get "/windows/unbooked" => notes::unbooked, Needs(&[P::ReadClients]);
    post "/windows/book" => notes::book_integration, Needs(&[P::BookEncounters]);
    post "/dosing-sessions/{id}/vitals" => dosing::add_vitals, Needs(&[P::ChartDosing]);
    post "/dosing-sessions/{id}/discharge" => dosing::discharge, Needs(&[P::ChartDosing]);
    post "/dosing-sessions/{id}/end-early" => dosing::end_early, Needs(&[P::ChartDosing]);
    post "/dosing-sessions/{id}/sign" => dosing::sign, Needs(&[P::ChartDosing]);
    post "/dosing-sessions/{id}/events" => dosing::add_event, Needs(&[P::ChartDosing]);
    post "/dosing-sessions/{id}/amendments" => dosing::amend, Needs(&[P::ChartDosing]);
    post "/dosing-sessions/{id}/waste" => dosing::waste, Needs(&[P::RecordLedger]);
    get "/ledger" => ledger::home, Needs(&[P::ReadLedger, P::ManageRegistrations]);
    post "/ledger/registrations" => ledger::add_registration, Needs(&[P::ManageRegistrations]);
    get "/ledger/receive" => ledger::receive_form, Needs(&[P::RecordLedger]);
    post "/ledger/receive" => ledger::receive_submit, Needs(&[P::RecordLedger]);
    get "/ledger/initial-inventory" => ledger::initial_form, Needs(&[P::RecordLedger]);
    post "/ledger/initial-inventory" => ledger::initial_submit, Needs(&[P::RecordLedger]);
    get "/ledger/stock/{id}" => ledger::stock, Needs(&[P::ReadLedger]);
    post "/ledger/stock/{id}/entries" => ledger::add_entry, Needs(&[P::RecordLedger]);
    post "/ledger/losses/{id}/notified" => ledger::loss_notified, Needs(&[P::RecordLedger]);
    post "/ledger/losses/{id}/form106" => ledger::loss_form106, Needs(&[P::RecordLedger]);
    get "/ledger/registrations/{id}/report" => ledger::report, Needs(&[P::ReadLedger]);
    get "/ledger/registrations/{id}/report.csv" => ledger::report_csv, Needs(&[P::ReadLedger]);
    get "/ledger/registrations/{id}/inventory" => ledger::inventory, Needs(&[P::ReadLedger]);
    get "/ledger/registrations/{id}/inventories/new" => ledger::inventory_form, Needs(&[P::RecordLedger]);
    post "/ledger/registrations/{id}/inventories" => ledger::inventory_submit, Needs(&[P::RecordLedger]);
    get "/ledger/inventories/{id}" => ledger::inventory_record, Needs(&[P::ReadLedger]);
    get "/dosing-sessions/{id}/rems" => ledger::rems, Needs(&[P::ReadLedger]);
    post "/dosing-sessions/{id}/rems" => ledger::rems_submit, Needs(&[P::RecordLedger]);
    get "/rems" => ledger::rems_list, Needs(&[P::ReadLedger]);
    get "/rems/settings" => ledger::rems_settings, Needs(&[P::ReadLedger, P::ManageRegistrations]);
    post "/rems/settings/{id}" => ledger::rems_setting_save, Needs(&[P::ManageRegistrations]);
    get "/clients/{id}/rems-enrolment" => ledger::rems_enrolment, Needs(&[P::SignEligibility]);
    post "/clients/{id}/rems-enrolment" => ledger::rems_enrol, Needs(&[P::SignEligibility]);
    get "/groups" => groups::list, Needs(&[P::ReadGroups]);
    post "/groups" => groups::create, Needs(&[P::ManageGroups]);
    get "/groups/{id}" => groups::show, Needs(&[P::ReadGroups, P::ManageGroups]);
    post "/groups/{id}" => groups::post, Needs(&[P::ManageGroups]);
    get "/groups/{id}/sessions/{sid}" => groups::show_session, Needs(&[P::ReadGroups, P::ManageGroups]), Relation::Facilitator;
    post "/groups/{id}/sessions/{sid}" => groups::save_session, Needs(&[P::WriteTherapyNotes]), Relation::Facilitator;
    get "/schedule" => schedule::index, Needs(&[P::PlanSchedules]);
    post "/schedule/proposals" => schedule::propose, Needs(&[P::PlanSchedules]);
    get "/schedule/proposals/{id}" => schedule::show, Needs(&[P::PlanSchedules]);
    post "/schedule/proposals/{id}/apply" => schedule::apply, Needs(&[P::PlanSchedules]);
    post "/schedule/proposals/{id}/discard" => schedule::discard, Needs(&[P::PlanSchedules]);
    post "/schedule/proposals/{id}/repair" => schedule::repair, Needs(&[P::PlanSchedules]);
    get "/protocols" => protocols::list, Needs(&[P::ReadDirectory]);
    get "/protocols/{id}" => protocols::show, Needs(&[P::ReadDirectory]);
    get "/courses/{id}/screens/new" => screening::new_screen, Needs(&[P::RecordScreening]);
    post "/courses/{id}/screens" => screening::record_screen, Needs(&[P::RecordScreening]);
    get "/screens/{id}" => screening::show_screen, Needs(&[P::ReadScreening]);
    post "/screens/{id}/sign" => screening::sign_screen, Needs(&[P::SignEligibility]);
    get "/clients/{id}/measures/new" => measures::record_form, Needs(&[P::RecordMeasures]);
    post "/clients/{id}/measures" => measures::record_submit, Needs(&[P::RecordMeasures]);
    get "/outcomes" => measures::outcomes, Needs(&[P::ReadPracticeOutcomes]);
    post "/alerts/{id}/acknowledge" => measures::acknowledge, Needs(&[P::RecordMeasures]);
    post "/clients/{id}/links" => measures::send_link, Needs(&[P::RecordMeasures]);
    post "/clients/{id}/links/due" => measures::send_due_links, Needs(&[P::RecordMeasures]);
    get "/r/{token}" => measures::self_report_form, Public;
    post "/r/{token}" => measures::self_report_submit, Public;
    get "/portal" => portal::home, Client;
    get "/portal/login" => portal::login_form, Public;
    post "/portal/login" => portal::login_submit, Public;
    get "/portal/auth/{code}" => portal::auth_form, Public;
    post "/portal/auth/{code}" => portal::auth_submit, Public;
    get "/portal/email-change/{code}" => portal::email_change_form, Public;
    post "/portal/email-change/{code}" => portal::email_change_submit, Public;
    get "/portal/password" => portal::password_form, Client;
    post "/portal/password" => portal::password_submit, Client;
    post "/portal/logout" => portal::logout, Client;
    get "/portal/journal" => portal::journal, Client;
    post "/portal/journal" => portal::journal_submit, Client;
    post "/portal/journal/{id}/sharing" => portal::journal_share, Client;
    get "/portal/amendments" => amendments::portal, Client;
    post "/portal/amendments" => amendments::portal_ask, Client;
    post "/portal/amendments/{id}/disagreement" => amendments::portal_disagree, Client;
    post "/portal/exercises" => portal::exercise_start, Client;
    get "/portal/exercises/{id}" => portal::exercise, Client;
    post "/portal/exercises/{id}" => portal::exercise_answer, Client;
    post "/portal/questionnaires/{id}" => portal::open_questionnaire, Client;
    get "/clients/{id}/portal" => portal::client_portal, Needs(&[P::ReadClients]);
    post "/clients/{id}/portal-invitations" => portal::invite, Needs(&[P::RecordMeasures]);
    get "/static/kairos.css" => stylesheet, Public;
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

/// The body of a form post, kept beside the request so that a post whose
/// session has ended is not lost: the sign-in page carries it, and after
/// sign-in the person sees what they typed and sends it (nothing typed at
/// the chair is lost to the idle timeout).
#[derive(Clone)]
pub(crate) struct KeptForm(pub axum::body::Bytes);

/// The most a kept form may hold (axum's own limit for a request body).
const KEPT_FORM_LIMIT: usize = 2 * 1024 * 1024;

/// Reads a URL-encoded form post's body once and keeps a copy in the
/// request's extensions (see [`KeptForm`]); other requests pass untouched.
async fn keep_typed_forms(req: Request, next: Next) -> Response {
    let is_form = req.method() == Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, KEPT_FORM_LIMIT).await else {
        return page_error(StatusCode::PAYLOAD_TOO_LARGE, "This form is too large to send.", None);
    };
    parts.extensions.insert(KeptForm(bytes.clone()));
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// The signed-in staff member as the JSON API's caller, so pages share the
/// API's checks and writes.
pub(crate) fn api_auth(auth: &UiAuth) -> crate::extract::Auth {
    crate::extract::Auth { staff: auth.staff.clone(), token: auth.token.clone(), remote_addr: auth.remote_addr.clone() }
}

/// The sentence of a refusal, to show on the page that was submitted.
pub(crate) fn detail(e: AppError) -> String {
    form::Refused::from(e).message
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
        if staff.roles.allow(Permission::PlanSchedules) {
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
        if staff.roles.allow(Permission::DecideAmendments) {
            add("/amendment-requests", "Amendment requests");
        }
        if staff.roles.allow(Permission::ReviewEmergencyAccess) {
            add("/emergency-access", "Emergency access reviews");
        } else if !staff.roles.allow(Permission::ReadMeasures) {
            // Those who do not read clinical records (by default the ones
            // the clinic lets break glass) see where to in an emergency.
            add("/emergency", "Emergency access");
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
        let to_login = async || {
            // A form sent after the session ended: the sign-in page keeps it.
            if let Some(KeptForm(body)) = parts.extensions.get::<KeptForm>() {
                let to = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                return pages::sign_in_to_send(state, to, body, back_of(parts)).await;
            }
            // A page to come back to; a post (not kept) returns to the page
            // it was sent from, never to its own address (a GET there is 405).
            let next = if parts.method == Method::GET {
                parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string()
            } else {
                back_of(parts)
            };
            let q = serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
            Redirect::to(&format!("/login?{q}")).into_response()
        };
        let Some(token) = cookie_token(parts, crate::auth::cookie_name(state)) else {
            return Err(to_login().await);
        };
        match crate::usecase::session::session_of(state, &token).await {
            Ok(Some(info)) => {
                let staff = info.staff;
                // A role that must sign in in two steps, not yet set up:
                // nothing but setting it up (and signing out).
                if !info.mfa_enrolled
                    && crate::mfa::required(state, &staff)
                    && !crate::access::allowed_before_second_factor(parts)
                {
                    return Err(Redirect::to("/account").into_response());
                }
                // The route's declared permission, before anything else.
                match crate::access::check(parts, &staff) {
                    Ok(()) => {}
                    Err(AppError::Forbidden(m)) => {
                        let mut nav = Nav::for_staff(&staff, "");
                        nav.alerts = Default::default();
                        let mut m = m;
                        if let Some(first) = m.get(..1) {
                            m = format!("{}{}.", first.to_uppercase(), &m[1..]);
                        }
                        return Err(page_error(StatusCode::FORBIDDEN, &m, Some(nav)));
                    }
                    Err(e) => return Err(ui_error(e, None)),
                }
                // Every page a clinician opens shows their open safety alerts.
                let alerts =
                    crate::usecase::session::alert_banner(state, &staff).await.map_err(|e| ui_error(e, None))?;
                Ok(UiAuth { staff, token, remote_addr: remote_addr(parts), alerts })
            }
            Ok(None) => Err(to_login().await),
            Err(e) => Err(ui_error(e, None)),
        }
    }
}

/// The same-site page a request came from (its `Referer`), else home.
fn back_of(parts: &Parts) -> String {
    let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok());
    parts
        .headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            (Some(authority) == host && path.starts_with('/')).then(|| path.to_string())
        })
        .map(|p| pages::safe_next(&p))
        .unwrap_or_else(|| "/".into())
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
