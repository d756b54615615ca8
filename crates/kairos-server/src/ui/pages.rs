//! Page handlers.

use super::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::auth::{SignIn, clear_cookie, session_cookie, sign_in, sign_out};
use crate::error::AppError;
use crate::extract::{Query, RemoteAddr};
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use kairos_domain::client::ClientStatus;
use kairos_domain::encounter::Encounter;
use kairos_domain::ids::{ClientId, RoomId, SiteId, StaffId};
use kairos_domain::roles::Permission;
use kairos_domain::site::Site;
use kairos_store::PageRequest;
use serde::Deserialize;
use std::collections::HashMap;

type PageResult = Result<Response, Response>;

fn fail(auth: &UiAuth) -> impl Fn(AppError) -> Response + '_ {
    move |e| ui_error(e, Some(auth.nav("")))
}

/// Only same-site relative paths may be a post-login destination.
pub(crate) fn safe_next(next: &str) -> String {
    let plain = next.bytes().all(|b| b.is_ascii_graphic());
    if plain && next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_string()
    } else {
        "/".into()
    }
}

// ---- sign in / out -------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    error: Option<String>,
    email: String,
    next: String,
    idle_minutes: i64,
    /// A form whose session ended before it was sent, carried through
    /// sign-in.
    kept: Option<Kept>,
}

/// A form sent after its session ended: where it was going, its body as
/// sent (URL-encoded), and the page it was sent from.
#[derive(Deserialize, Default)]
struct Kept {
    to: String,
    body: String,
    back: String,
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
}

fn login_page(state: &AppState, error: Option<String>, email: String, next: String, kept: Option<Kept>) -> Response {
    render(&LoginPage { nav: None, error, email, next, idle_minutes: state.config.session.idle.as_secs() / 60, kept })
}

pub async fn login_form(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    login_page(&state, None, String::new(), safe_next(q.next.as_deref().unwrap_or("/")), None)
}

/// The sign-in page for a form that arrived after its session ended (401):
/// what was typed rides along and is shown, to send, after sign-in.
pub(crate) async fn sign_in_to_send(state: &AppState, to: &str, body: &[u8], back: String) -> Response {
    // A password typed in the form (a witness's, say) is never kept: it
    // would travel through the sign-in page and be shown back. Its field is
    // asked for again after sign-in.
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let (secret, plain): (Vec<_>, Vec<_>) = fields.into_iter().partition(|(k, _)| is_secret(k));
    let mut plain = plain;
    // A charted time left blank means "now"; kept through sign-in, now
    // would become the time of sending. It becomes the time the form was
    // first sent, with its UTC offset, so a reading keeps its own time.
    if plain.iter().any(|(k, v)| CHARTED_TIMES.contains(&k.as_str()) && v.trim().is_empty()) {
        let tz = state.practice_tz().await.unwrap_or(jiff::tz::TimeZone::UTC);
        let typed_at = state.now().to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
        for (k, v) in plain.iter_mut() {
            if CHARTED_TIMES.contains(&k.as_str()) && v.trim().is_empty() {
                v.clone_from(&typed_at);
            }
        }
    }
    plain.extend(secret.into_iter().map(|(k, _)| (k, String::new())));
    let body = serde_urlencoded::to_string(&plain).unwrap_or_default();
    let kept = Kept { to: safe_next(to), body, back };
    let next = kept.back.clone();
    let mut page = login_page(state, None, String::new(), next, Some(kept));
    *page.status_mut() = StatusCode::UNAUTHORIZED;
    page
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
    kept_to: Option<String>,
    kept_body: Option<String>,
    kept_back: Option<String>,
}

/// After signing in again: what a form held when its session ended, to
/// check and send (or leave).
#[derive(Template)]
#[template(path = "send_kept.html")]
struct SendKeptPage {
    nav: Option<Nav>,
    name: String,
    to: String,
    back: String,
    /// The form's fields as sent, in order (repeated names kept).
    fields: Vec<(String, String)>,
    /// The fields worth reading back: (label, value), blanks left out.
    shown: Vec<(String, String)>,
    /// Password fields, not kept: (label, name), typed again here.
    retype: Vec<(String, String)>,
}

/// Form fields holding a charted time where blank means "now" (a reading's
/// time, a dose's start, an early end).
const CHARTED_TIMES: &[&str] = &["at", "started_at"];

/// A form field that holds a password (never kept through sign-in).
fn is_secret(name: &str) -> bool {
    name.contains("password")
}

/// "systolic_bp" → "Systolic bp"; "vitals.spo2" → "Vitals spo2".
fn field_label(name: &str) -> String {
    let words = name.replace(['_', '.'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub async fn login_submit(
    State(state): State<AppState>,
    RemoteAddr(remote): RemoteAddr,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref().unwrap_or("/"));
    let kept = match (f.kept_to, f.kept_body) {
        (Some(to), Some(body)) if !to.is_empty() => {
            Some(Kept { to: safe_next(&to), body, back: safe_next(f.kept_back.as_deref().unwrap_or("/")) })
        }
        _ => None,
    };
    match sign_in(&state, &f.email, &f.password, None, remote.clone()).await {
        Ok(SignIn::Session(staff, token)) => signed_in(&state, &staff, &token, &next, kept),
        Ok(SignIn::CodeNeeded(staff)) => {
            // The password was right; a short-lived, single-purpose token
            // (not a session) carries the person to the code.
            let token = crate::auth::new_token();
            let expires = state.now() + jiff::SignedDuration::from_mins(crate::mfa::CHALLENGE_MINUTES);
            if let Err(e) = state.store.create_mfa_challenge(staff.id, &token, expires, remote.as_deref()).await {
                return ui_error(e.into(), None);
            }
            let cookie = [(header::SET_COOKIE, challenge_cookie(&state, &token, crate::mfa::CHALLENGE_MINUTES * 60))];
            (cookie, code_page(None, next, kept)).into_response()
        }
        Err(e) => {
            let (status, msg) = match e {
                AppError::Unauthenticated => {
                    (StatusCode::UNAUTHORIZED, "That e-mail and password do not match an active account.".to_string())
                }
                AppError::TooManyAttempts => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed attempts. Wait 15 minutes or ask an administrator.".to_string(),
                ),
                AppError::Throttled { retry_after_secs } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many wrong passwords from this device. Wait {} and try again, or ask an administrator.",
                        if retry_after_secs < 90 {
                            format!("{retry_after_secs} seconds")
                        } else {
                            format!("{} minutes", retry_after_secs.div_ceil(60))
                        }
                    ),
                ),
                other => return ui_error(other, None),
            };
            let mut page = login_page(&state, Some(msg), f.email, next, kept);
            *page.status_mut() = status;
            page
        }
    }
}

/// The session is open: to the page asked for, or to the form that was
/// kept through sign-in, to check and send.
fn signed_in(
    state: &AppState,
    staff: &kairos_domain::staff::Staff,
    token: &str,
    next: &str,
    kept: Option<Kept>,
) -> Response {
    let cookie = [(header::SET_COOKIE, session_cookie(state, token))];
    let Some(kept) = kept else {
        return (cookie, Redirect::to(next)).into_response();
    };
    let all: Vec<(String, String)> = serde_urlencoded::from_str(&kept.body).unwrap_or_default();
    let (secrets, fields): (Vec<_>, Vec<_>) = all.into_iter().partition(|(k, _)| is_secret(k));
    let shown = fields
        .iter()
        .filter(|(k, v)| k != "back" && !v.trim().is_empty())
        .map(|(k, v)| (field_label(k), v.clone()))
        .collect();
    let retype = secrets.into_iter().map(|(k, _)| (field_label(&k), k)).collect();
    let page = SendKeptPage {
        nav: Some(Nav::for_staff(staff, "")),
        name: staff.name.clone(),
        to: kept.to,
        back: kept.back,
        fields,
        shown,
        retype,
    };
    (cookie, render(&page)).into_response()
}

/// The cookie of a sign-in's second step (`/login/code`): HttpOnly,
/// SameSite=Strict, a few minutes; `__Host-` when cookies are Secure.
fn challenge_cookie(state: &AppState, token: &str, max_age: i64) -> String {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    format!("{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}", challenge_cookie_name(state))
}

fn challenge_cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies { "__Host-kairos_signin_step" } else { "kairos_signin_step" }
}

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage {
    nav: Option<Nav>,
    error: Option<String>,
    next: String,
    kept: Option<Kept>,
    minutes: i64,
}

fn code_page(error: Option<String>, next: String, kept: Option<Kept>) -> Response {
    render(&CodePage { nav: None, error, next, kept, minutes: crate::mfa::CHALLENGE_MINUTES })
}

/// No `Debug`: it holds a one-time code.
#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
    next: Option<String>,
    kept_to: Option<String>,
    kept_body: Option<String>,
    kept_back: Option<String>,
}

/// The second step of a sign-in: the code (or a recovery code) for the
/// account whose password was right, under the sign-in throttling; then
/// the session opens and the step's token is spent.
pub async fn login_code(
    State(state): State<AppState>,
    RemoteAddr(remote): RemoteAddr,
    headers: axum::http::HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let next = safe_next(f.next.as_deref().unwrap_or("/"));
    let kept = match (f.kept_to, f.kept_body) {
        (Some(to), Some(body)) if !to.is_empty() => {
            Some(Kept { to: safe_next(&to), body, back: safe_next(f.kept_back.as_deref().unwrap_or("/")) })
        }
        _ => None,
    };
    let name = challenge_cookie_name(&state);
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|t| !t.is_empty());
    let staff = match token.as_deref() {
        Some(t) => match state.store.mfa_challenge(t).await {
            Ok(s) => s,
            Err(e) => return ui_error(e.into(), None),
        },
        None => None,
    };
    let (Some(token), Some(staff)) = (token, staff) else {
        let mut page = login_page(
            &state,
            Some("The second step of that sign-in has ended. Sign in again.".into()),
            String::new(),
            next,
            kept,
        );
        *page.status_mut() = StatusCode::UNAUTHORIZED;
        return page;
    };
    match crate::mfa::verify(&state, &staff, f.code.trim(), remote.clone()).await {
        Ok(()) => {
            match state.store.finish_mfa_challenge(&token).await {
                Ok(true) => {}
                Ok(false) => return Redirect::to("/login").into_response(),
                Err(e) => return ui_error(e.into(), None),
            }
            let session = match crate::auth::open_session(&state, &staff, remote).await {
                Ok(t) => t,
                Err(e) => return ui_error(e, None),
            };
            let mut res = signed_in(&state, &staff, &session, &next, kept);
            if let Ok(v) = axum::http::HeaderValue::from_str(&challenge_cookie(&state, "", 0)) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
        Err(AppError::Throttled { retry_after_secs }) => {
            let mut page = code_page(Some(throttled_message(retry_after_secs)), next, kept);
            *page.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            page
        }
        Err(AppError::SecondFactor(m)) => {
            let mut msg = m;
            if let Some(first) = msg.get(..1) {
                msg = format!("{}{}.", first.to_uppercase(), &msg[1..]);
            }
            let mut page = code_page(Some(msg), next, kept);
            *page.status_mut() = StatusCode::UNAUTHORIZED;
            page
        }
        Err(e) => ui_error(e, None),
    }
}

fn throttled_message(retry_after_secs: u64) -> String {
    format!(
        "Too many wrong passwords or codes from this device. Wait {} and try again, or ask an administrator.",
        if retry_after_secs < 90 {
            format!("{retry_after_secs} seconds")
        } else {
            format!("{} minutes", retry_after_secs.div_ceil(60))
        }
    )
}

pub async fn logout(State(state): State<AppState>, auth: Result<UiAuth, Response>) -> Response {
    if let Ok(auth) = auth
        && let Err(e) = sign_out(&state, &auth.staff, &auth.token, auth.remote_addr.clone()).await
    {
        return ui_error(e, None);
    }
    ([(header::SET_COOKIE, clear_cookie(&state))], Redirect::to("/login")).into_response()
}

// ---- home ----------------------------------------------------------------

/// The name a person is greeted by: their first name, past any title
/// ("Dr. Amara Osei" → "Amara"); the whole name when it is only a title
/// and a surname ("Dr Osei" → "Dr Osei").
fn greeting_name(full: &str) -> String {
    const TITLES: &[&str] = &["dr", "mr", "mrs", "ms", "mx", "miss", "prof", "professor", "rev"];
    let words: Vec<&str> = full.split_whitespace().collect();
    let rest: Vec<&str> = words
        .iter()
        .copied()
        .skip_while(|w| TITLES.contains(&w.trim_end_matches('.').to_lowercase().as_str()))
        .collect();
    match rest.len() {
        0 | 1 if rest.len() < words.len() => words.join(" "),
        _ => rest.first().map(|w| w.to_string()).unwrap_or_default(),
    }
}

struct Tile {
    href: String,
    label: &'static str,
    hint: &'static str,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Option<Nav>,
    first_name: String,
    tiles: Vec<Tile>,
    /// Open safety alerts for this clinician, oldest first.
    alerts: Vec<super::measures::AlertRow>,
    can_acknowledge: bool,
}

pub async fn home(State(state): State<AppState>, auth: UiAuth) -> Response {
    let alerts = if auth.staff.roles.allow(Permission::ReadMeasures) && auth.alerts.open > 0 {
        match super::measures::alert_rows(&state, &auth).await {
            Ok(rows) => rows,
            Err(resp) => return resp,
        }
    } else {
        Vec::new()
    };
    let r = &auth.staff.roles;
    let mut tiles = Vec::new();
    if r.allow(Permission::ReadClients) {
        tiles.push(Tile { href: "/day".into(), label: "Today", hint: "Who is in, where and with whom" });
        tiles.push(Tile { href: "/clients".into(), label: "Clients", hint: "Find a client and open the chart" });
        tiles.push(Tile {
            href: "/windows/unbooked".into(),
            label: "Windows closing",
            hint: "Doses with no integration session booked",
        });
    }
    if r.allow(Permission::ManageStaff) {
        tiles.push(Tile { href: "/admin/staff".into(), label: "Staff", hint: "Accounts and roles" });
    }
    if r.allow(Permission::ReadAudit) {
        tiles.push(Tile { href: "/admin/audit".into(), label: "Audit log", hint: "Who read or changed what" });
    }
    if r.allow(Permission::RecordMeasures) {
        tiles.push(Tile {
            href: "/measures/due".into(),
            label: "Questionnaires due",
            hint: "Due and overdue for your clients",
        });
    }
    if r.allow(Permission::ReadPracticeOutcomes) {
        tiles.push(Tile {
            href: "/outcomes".into(),
            label: "Outcomes",
            hint: "Response, remission and relapse across the practice",
        });
    }
    render(&HomePage {
        nav: Some(auth.nav("/")),
        first_name: greeting_name(&auth.staff.name),
        tiles,
        alerts,
        can_acknowledge: auth.staff.roles.allow(Permission::RecordMeasures),
    })
}

// ---- clients ---------------------------------------------------------------

struct ClientRow {
    id: ClientId,
    family: String,
    given: String,
    pronouns: Option<String>,
    dob: String,
    status: &'static str,
    phone: String,
}

#[derive(Template)]
#[template(path = "clients.html")]
struct ClientsPage {
    nav: Option<Nav>,
    can_register: bool,
    q: String,
    status: String,
    statuses: Vec<&'static str>,
    rows: Vec<ClientRow>,
    total: i64,
    first: u32,
    last: u32,
    prev: Option<String>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ClientsQuery {
    q: Option<String>,
    status: Option<String>,
    offset: Option<u32>,
}

const UI_PAGE: u32 = 50;

pub async fn clients(State(state): State<AppState>, auth: UiAuth, Query(p): Query<ClientsQuery>) -> PageResult {
    auth.require(Permission::ReadClients)?;
    let nav = || Some(auth.nav("/clients"));
    let status = match p.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(ClientStatus::parse("status", s).map_err(|e| ui_error(e.into(), nav()))?),
        None => None,
    };
    let q = p.q.unwrap_or_default();
    let offset = p.offset.unwrap_or(0);
    let page =
        usecase::clients::search(&state, &api_auth(&auth), Some(&q), status, PageRequest { limit: UI_PAGE, offset })
            .await
            .map_err(fail(&auth))?;
    let link = |off: u32| {
        let s = status.map(|s| s.as_str()).unwrap_or("");
        format!(
            "/clients?{}",
            serde_urlencoded::to_string([("q", q.as_str()), ("status", s), ("offset", &off.to_string())])
                .unwrap_or_default()
        )
    };
    let shown = page.items.len() as u32;
    Ok(render(&ClientsPage {
        nav: nav(),
        can_register: auth.staff.roles.allow(Permission::WriteClients),
        status: status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        statuses: ClientStatus::ALL.iter().map(|s| s.as_str()).collect(),
        total: page.total,
        first: offset + 1,
        last: offset + shown,
        prev: (offset > 0).then(|| link(offset.saturating_sub(UI_PAGE))),
        next: (i64::from(offset + shown) < page.total).then(|| link(offset + UI_PAGE)),
        rows: page
            .items
            .iter()
            .map(|c| ClientRow {
                id: c.id,
                family: c.details.family_name.clone(),
                given: c.details.given_name.clone(),
                pronouns: c.details.pronouns.clone(),
                dob: c.details.date_of_birth.to_string(),
                status: c.details.status.as_str(),
                phone: c.details.phone.clone().unwrap_or_else(|| "—".into()),
            })
            .collect(),
        q,
    }))
}

// ---- chart -----------------------------------------------------------------

/// Names for the ids a page shows, loaded once per page. Only the staff and
/// rooms on the page are read: a practice may have thousands of each.
struct Lookups {
    staff: HashMap<StaffId, String>,
    rooms: HashMap<RoomId, String>,
    sites: HashMap<SiteId, Site>,
}

impl Lookups {
    /// The names for a set of encounters and courses, with `sites` (all of
    /// them: few, and the day view's picker lists them).
    async fn for_records(
        state: &AppState,
        sites: Vec<Site>,
        encounters: &[Encounter],
        courses: &[kairos_domain::course::Course],
    ) -> Result<Lookups, AppError> {
        let mut staff: Vec<StaffId> = encounters.iter().filter_map(|e| e.staff_id).collect();
        staff.extend(courses.iter().flat_map(|c| [c.prescriber_id, c.therapist_id]).flatten());
        let rooms: Vec<RoomId> = encounters.iter().filter_map(|e| e.room_id).collect();
        let (staff, rooms) = usecase::directory::staff_and_room_names(state, &staff, &rooms).await?;
        Ok(Lookups { staff, rooms, sites: sites.into_iter().map(|s| (s.id, s)).collect() })
    }

    fn staff(&self, id: Option<StaffId>) -> String {
        id.and_then(|i| self.staff.get(&i).cloned()).unwrap_or_else(|| "—".into())
    }

    fn room(&self, id: Option<RoomId>) -> String {
        id.and_then(|i| self.rooms.get(&i).cloned()).unwrap_or_else(|| "—".into())
    }

    fn tz(&self, site: SiteId) -> TimeZone {
        self.sites.get(&site).map(|s| s.time_zone.tz()).unwrap_or(TimeZone::UTC)
    }
}

struct EncounterRow {
    /// The visit's page (status, reason, changes).
    visit: String,
    /// The dosing session of a dose that has one; the start form of a dose
    /// checked in without one (for those who chart doses).
    link: Option<String>,
    /// A completed dose with no session charted.
    missing_session: bool,
    when: String,
    kind: &'static str,
    room: String,
    staff: String,
    status: &'static str,
    status_label: &'static str,
    status_reason: Option<String>,
}

pub(crate) fn status_label(s: kairos_domain::encounter::EncounterStatus) -> &'static str {
    use kairos_domain::encounter::EncounterStatus::*;
    match s {
        Booked => "booked",
        Arrived => "arrived",
        Completed => "completed",
        Cancelled => "cancelled",
        NoShow => "no-show",
    }
}

fn encounter_row(
    auth: &UiAuth,
    e: &Encounter,
    l: &Lookups,
    sessions: &HashMap<kairos_domain::ids::EncounterId, kairos_domain::ids::DosingSessionId>,
) -> EncounterRow {
    let tz = l.tz(e.site_id);
    let start = e.scheduled_start.to_zoned(tz.clone());
    let end = e.scheduled_end.to_zoned(tz);
    use kairos_domain::encounter::{EncounterKind, EncounterStatus};
    let dose = e.kind == EncounterKind::Dosing;
    let session = sessions.get(&e.id);
    let r = &auth.staff.roles;
    let link = match session {
        Some(s) if dose && r.allow(Permission::ReadScreening) => Some(format!("/dosing-sessions/{s}")),
        None if dose && e.status == EncounterStatus::Arrived && r.allow(Permission::ChartDosing) => {
            Some(format!("/encounters/{}/dosing", e.id))
        }
        _ => None,
    };
    EncounterRow {
        visit: format!("/encounters/{}", e.id),
        link,
        missing_session: dose && e.status == EncounterStatus::Completed && session.is_none(),
        when: format!("{}–{}", start.strftime("%a %-d %b %Y, %H:%M"), end.strftime("%H:%M %Z")),
        kind: e.kind.label(),
        room: l.room(e.room_id),
        staff: l.staff(e.staff_id),
        status: e.status.as_str(),
        status_label: status_label(e.status),
        status_reason: e.status_reason.clone(),
    }
}

struct CourseRow {
    id: kairos_domain::ids::CourseId,
    /// Screening status for dosing, when the viewer may read screens.
    screening: Option<String>,
    latest_screen: Option<kairos_domain::ids::ScreenId>,
    protocol: String,
    phase: &'static str,
    /// The phases the course may move to next.
    next_phases: Vec<&'static str>,
    started: String,
    ended: Option<String>,
    prescriber: String,
    therapist: String,
}

struct OutcomeRow {
    instrument: String,
    baseline: String,
    latest: String,
    change: String,
    reliable: String,
    response: String,
    remission: String,
    relapse: String,
    unconfirmed: bool,
}

struct MeasureRow {
    when: String,
    instrument: String,
    score: i64,
    prorated: bool,
    severity: String,
    self_report: bool,
    alerts: usize,
    error_reason: Option<String>,
}

struct PlanRow {
    label: String,
    when: String,
    window: String,
    moved: Option<String>,
    deviates: bool,
    past: bool,
}

#[derive(Template)]
#[template(path = "chart.html")]
struct ChartPage {
    nav: Option<Nav>,
    client_id: ClientId,
    can_write_client: bool,
    /// The new portal address waiting for confirmation, if any.
    pending_email: Option<String>,
    can_book: bool,
    can_manage_courses: bool,
    /// The client's latest doses and whether each integration session fell
    /// inside the dose's window (the full list is on the windows page).
    doses: Vec<super::notes::DoseRow>,
    can_screen: bool,
    /// A client with an esketamine course: the REMS enrolment line.
    rems: Option<String>,
    can_enrol: bool,
    /// Per course with a plan: (protocol, rows).
    plans: Vec<(String, Vec<PlanRow>)>,
    /// Where an acknowledgement returns to.
    back: String,
    show_measures: bool,
    can_record: bool,
    alerts: Vec<super::measures::AlertRow>,
    measures: Vec<MeasureRow>,
    link_instruments: Vec<(String, String)>,
    record_instruments: Vec<(String, String)>,
    trajectories: Vec<super::plots::Plot>,
    due: Vec<super::measures::DueRow>,
    /// Scheduled questionnaires whose moment passed unanswered.
    missed: usize,
    missed_after_days: i64,
    outcomes: Vec<OutcomeRow>,
    name: String,
    pronouns: Option<String>,
    status: &'static str,
    dob: String,
    age: i16,
    phone: String,
    email: String,
    address: String,
    emergency: String,
    courses: Vec<CourseRow>,
    upcoming: Vec<EncounterRow>,
    recent: Vec<EncounterRow>,
    /// This client's own group memberships and lines.
    groups: Vec<super::groups::ChartGroup>,
    /// The client's requests to amend the record: the amendments appended,
    /// the denials and any statement of disagreement.
    amendments: Vec<super::amendments::RequestRow>,
    can_decide_amendments: bool,
}

pub async fn chart(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadClients)?;
    let nav = || Some(auth.nav("/clients"));
    let id: ClientId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", nav()))?;
    let now = state.now();
    let usecase::clients::FullChart {
        chart,
        sites,
        measures,
        alerts,
        screens: course_screens,
        plans: course_plans,
        rems,
    } = usecase::clients::full_chart(&state, &api_auth(&auth), id, now).await.map_err(fail(&auth))?;
    let shown: Vec<Encounter> = chart.upcoming.iter().chain(&chart.recent).cloned().collect();
    let l = Lookups::for_records(&state, sites, &shown, &chart.courses).await.map_err(fail(&auth))?;
    let doses_shown: Vec<kairos_domain::ids::EncounterId> =
        shown.iter().filter(|e| e.kind == kairos_domain::encounter::EncounterKind::Dosing).map(|e| e.id).collect();
    let sessions = usecase::encounters::sessions_of(&state, &doses_shown).await.map_err(fail(&auth))?;
    let d = &chart.client.details;
    // The chart is shown in the time zone of the site the client was last
    // seen (or is next booked) at; before any visit, the clinic's.
    let tz = match shown.iter().filter(|e| e.scheduled_start <= now).max_by_key(|e| e.scheduled_start).or(shown.first())
    {
        Some(e) => l.tz(e.site_id),
        None => state.client_tz(id).await.map_err(|e| ui_error(e, nav()))?,
    };
    // The last six doses with their integration window (the chart read above
    // is already audited).
    let windows = crate::api::notes::client_windows(&state, id, now).await.map_err(|e| ui_error(e, nav()))?;
    let amendments = usecase::amendments::of_client(&state, &api_auth(&auth), id).await.map_err(fail(&auth))?;
    let window_rows: Vec<super::notes::DoseRow> = windows
        .doses
        .iter()
        .rev()
        .take(6)
        .rev()
        .map(|x| super::notes::dose_row(x, &tz, d.display_name(), now))
        .collect();
    let today = now.to_zoned(tz.clone()).date();
    let show_measures = auth.staff.roles.allow(Permission::ReadMeasures);
    let when = |t: Timestamp| t.to_zoned(tz.clone()).strftime("%a %-d %b %Y %H:%M").to_string();
    // Where each course's screening stands (shown with the course).
    let mut screens: HashMap<kairos_domain::ids::CourseId, (String, Option<kairos_domain::ids::ScreenId>)> =
        HashMap::new();
    for (course, list) in &course_screens {
        let signed = list.iter().find(|x| x.signature.is_some());
        let status = match (signed, list.first()) {
            (Some(x), _) if x.status() == kairos_domain::screening::ScreenStatus::SignedEligible => {
                "screened: signed eligible".to_string()
            }
            (Some(_), _) => "screened: signed not eligible".to_string(),
            (None, Some(_)) => "screen awaiting a prescriber's signature".to_string(),
            (None, None) => "not screened: no dose can start".to_string(),
        };
        screens.insert(*course, (status, list.first().map(|x| x.id)));
    }
    let can_screen = auth.staff.roles.allow(Permission::RecordScreening);
    let short = |t: Timestamp| t.to_zoned(tz.clone()).strftime("%a %-d %b %H:%M").to_string();
    let plans: Vec<(String, Vec<PlanRow>)> = course_plans
        .iter()
        .map(|p| {
            let name = state.config.protocols.get(&p.protocol).map(|x| x.name.clone()).unwrap_or(p.protocol.clone());
            let rows = p
                .items
                .iter()
                .map(|i| PlanRow {
                    label: i.label.clone(),
                    when: short(i.when()),
                    window: format!("{} to {}", short(i.window_start), short(i.window_end)),
                    moved: i.moved.as_ref().map(|m| m.reason.clone()),
                    deviates: i.deviates(),
                    past: i.when() < now,
                })
                .collect();
            (name, rows)
        })
        .collect();
    let (due, outcomes, missed) = if show_measures {
        use kairos_domain::measure_schedule::OccurrenceStatus as S;
        let names = HashMap::from([(id, d.display_name())]);
        let schedule = crate::api::measures::schedule_for(&state, &chart.courses, &names, now)
            .await
            .map_err(|e| ui_error(e, nav()))?;
        // What is due or overdue now, then the next three coming up.
        let mut shown: Vec<_> = schedule.iter().filter(|o| matches!(o.status, S::Due | S::Overdue)).collect();
        shown.extend(schedule.iter().filter(|o| o.status == S::Upcoming).take(3));
        let shown: Vec<crate::api::measures::DueMeasure> = shown
            .into_iter()
            .map(|o| crate::api::measures::DueMeasure {
                client_name: String::new(),
                label: o.label.clone(),
                short_name: o.short_name.clone(),
                instrument: o.instrument.clone(),
                ..*o
            })
            .collect();
        let outcomes = crate::api::measures::client_outcomes(&state.config.instruments, &measures, &tz)
            .iter()
            .map(|o| {
                let t = &o.trajectory;
                let yes_since = |b: bool, since: Option<jiff::civil::Date>| match (b, since) {
                    (true, Some(d)) => format!("yes (since {d})"),
                    (true, None) => "yes".into(),
                    (false, Some(d)) => format!("not now (first {d})"),
                    (false, None) => "no".into(),
                };
                OutcomeRow {
                    instrument: o.short_name.clone(),
                    baseline: format!("{} on {}", t.baseline.1, t.baseline.0),
                    latest: format!("{} on {}", t.latest.1, t.latest.0),
                    change: match t.percent_change {
                        Some(p) => format!("{:+} ({p:+.0}%)", t.change),
                        None => format!("{:+}", t.change),
                    },
                    reliable: t
                        .reliable_change
                        .map(|r| match r {
                            kairos_domain::outcomes::ReliableChange::Improved => "improved",
                            kairos_domain::outcomes::ReliableChange::NoChange => "no reliable change",
                            kairos_domain::outcomes::ReliableChange::Deteriorated => "deteriorated",
                        })
                        .unwrap_or("no rule")
                        .to_string(),
                    response: format!(
                        "{}; {} days in response",
                        yes_since(t.in_response, t.first_response),
                        t.days_in_response
                    ),
                    remission: yes_since(t.in_remission, t.first_remission),
                    relapse: t.relapse.map(|d| d.to_string()).unwrap_or_else(|| "—".into()),
                    unconfirmed: !o.rules_confirmed,
                }
            })
            .collect();
        let missed = schedule.iter().filter(|o| o.status == S::Missed).count();
        (super::measures::due_rows(&shown, |_| tz.clone()), outcomes, missed)
    } else {
        (Vec::new(), Vec::new(), 0)
    };
    let short =
        |i: &str| state.config.instruments.get(i).map(|x| x.short_name.clone()).unwrap_or_else(|| i.to_string());
    // The plots mark every dose given: each charted dosing session, at the
    // time the dose started (never a booking, a no-show or a visit marked
    // completed with no session).
    let doses: Vec<Timestamp> =
        windows.doses.iter().filter(|d| d.dosing_session_id.is_some()).map(|d| d.window.dose_start).collect();
    let groups = super::groups::chart_rows(&state, &auth, id, &tz).await;
    Ok(render(&ChartPage {
        groups,
        nav: nav(),
        client_id: id,
        can_write_client: auth.staff.roles.allow(Permission::WriteClients),
        pending_email: usecase::portal::pending_email_change(&state, &api_auth(&auth), id)
            .await
            .map_err(fail(&auth))?
            .map(|c| c.new_email),
        can_book: auth.staff.roles.allow(Permission::BookEncounters),
        can_manage_courses: auth.staff.roles.allow(Permission::ManageCourses),
        can_screen,
        rems: rems.map(|e| match e {
            Some(e) => format!(
                "Enrolled in the esketamine REMS on {}{}.",
                e.enrolled_on,
                e.rems_patient_id.map(|id| format!(" (REMS patient ID {id})")).unwrap_or_default()
            ),
            None => "Not enrolled in the esketamine REMS: no esketamine dose starts before the enrolment is recorded."
                .into(),
        }),
        can_enrol: auth.staff.roles.allow(Permission::SignEligibility),
        amendments: amendments.iter().map(|r| super::amendments::row(r, now, &tz, String::new())).collect(),
        can_decide_amendments: auth.staff.roles.allow(Permission::DecideAmendments),
        plans,
        back: format!("/clients/{id}"),
        show_measures,
        can_record: auth.staff.roles.allow(Permission::RecordMeasures),
        alerts: alerts
            .iter()
            .filter(|a| a.acknowledged.is_none())
            .map(|a| super::measures::AlertRow {
                id: a.id,
                client_id: a.client_id,
                client: d.display_name(),
                urgent: a.level == kairos_domain::instruments::AlertLevel::Urgent,
                escalated: crate::api::measures::is_escalated(a, state.config.alert_escalation, now),
                message: a.message.clone(),
                raised: when(a.created_at),
                age: super::measures::age_of(a.created_at, now),
                session: a.dosing_session_id,
            })
            .collect(),
        trajectories: super::plots::trajectories(&state.config.instruments, &measures, &doses, now, &tz),
        due,
        missed,
        missed_after_days: state.config.measure_schedules.standard().missed_after_hours / 24,
        outcomes,
        measures: measures
            .iter()
            .map(|m| MeasureRow {
                when: when(m.completed_at),
                instrument: short(&m.instrument),
                score: m.score,
                prorated: m.prorated,
                severity: m.severity.clone().unwrap_or_default(),
                self_report: m.source == kairos_store::measures::MeasureSource::SelfReport,
                alerts: m.alerts.len(),
                error_reason: m.entered_in_error.as_ref().map(|e| e.reason.clone()),
            })
            .collect(),
        record_instruments: state
            .config
            .instruments
            .all()
            .iter()
            .map(|i| (i.id.clone(), i.short_name.clone()))
            .collect(),
        link_instruments: state
            .config
            .instruments
            .all()
            .iter()
            .filter(|i| {
                i.rater == kairos_domain::instruments::Rater::SelfReport
                    && i.content == kairos_domain::instruments::Content::Full
            })
            .map(|i| (i.id.clone(), i.short_name.clone()))
            .collect(),
        name: d.display_name(),
        pronouns: d.pronouns.clone(),
        status: d.status.as_str(),
        dob: d.date_of_birth.to_string(),
        age: d.age_on(today),
        phone: d.phone.clone().unwrap_or_else(|| "—".into()),
        email: d.email.as_ref().map(|e| e.to_string()).unwrap_or_else(|| "—".into()),
        address: d.address.clone().unwrap_or_else(|| "—".into()),
        emergency: match (&d.emergency_contact_name, &d.emergency_contact_phone) {
            (Some(n), Some(p)) => format!("{n}, {p}"),
            _ => "—".into(),
        },
        courses: chart
            .courses
            .iter()
            .map(|c| CourseRow {
                id: c.id,
                screening: screens.get(&c.id).map(|(status, _)| status.clone()),
                latest_screen: screens.get(&c.id).and_then(|(_, id)| *id),
                protocol: state
                    .config
                    .protocols
                    .get(&c.protocol)
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| c.protocol.clone()),
                phase: c.phase.as_str(),
                next_phases: c.phase.next_allowed().iter().map(|p| p.as_str()).collect(),
                started: c.started_on.to_string(),
                ended: c.ended_on.map(|d| d.to_string()),
                prescriber: l.staff(c.prescriber_id),
                therapist: l.staff(c.therapist_id),
            })
            .collect(),
        upcoming: chart.upcoming.iter().map(|e| encounter_row(&auth, e, &l, &sessions)).collect(),
        recent: chart.recent.iter().map(|e| encounter_row(&auth, e, &l, &sessions)).collect(),
        doses: window_rows,
    }))
}

// ---- day view --------------------------------------------------------------

struct DayRow {
    /// The visit's page; none for a group shown without its members.
    visit: Option<String>,
    /// What to do next for this visit (see `frontdesk::next_action`).
    next: Option<super::frontdesk::NextAction>,
    /// A completed dose with no session charted.
    missing_session: bool,
    status_reason: Option<String>,
    /// Safety alerts open for this dose's session.
    open_alerts: i64,
    /// Where the dose stands: minutes since the dose and the latest vital
    /// signs, or when the client left.
    chair: Option<String>,
    start: String,
    end: String,
    /// None: a process group shown without its members' names.
    client_id: Option<ClientId>,
    client: String,
    kind: &'static str,
    room: String,
    staff: String,
    status: &'static str,
    status_label: &'static str,
}

#[derive(Template)]
#[template(path = "day.html")]
struct DayPage {
    nav: Option<Nav>,
    site_id: SiteId,
    site_name: String,
    sites: Vec<(SiteId, String)>,
    time_zone: String,
    /// Set when the day has more encounters than the page shows.
    truncated: Option<i64>,
    date: Date,
    date_label: String,
    prev_date: Date,
    next_date: Date,
    rows: Vec<DayRow>,
    /// This page's address, where a row's action comes back to.
    back: String,
}

#[derive(Deserialize, Default)]
pub struct DayQuery {
    date: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct DayPick {
    site: Option<String>,
    date: Option<String>,
}

/// The day view of the chosen site (the site picker's form), else the first.
pub async fn day_default(State(state): State<AppState>, auth: UiAuth, Query(q): Query<DayPick>) -> PageResult {
    auth.require(Permission::ReadClients)?;
    let sites = usecase::directory::sites(&state).await.map_err(fail(&auth))?;
    let chosen = q.site.as_deref().and_then(|id| sites.iter().find(|s| s.id.to_string() == id)).or(sites.first());
    let date = q.date.filter(|d| d.parse::<Date>().is_ok()).map(|d| format!("?date={d}")).unwrap_or_default();
    match chosen {
        Some(s) => Ok(Redirect::to(&format!("/sites/{}/day{date}", s.id)).into_response()),
        None => Err(page_error(
            StatusCode::NOT_FOUND,
            "No site is set up yet. An administrator adds one with the API (/api/v1/sites).",
            Some(auth.nav("/day")),
        )),
    }
}

pub async fn day(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Query(q): Query<DayQuery>,
) -> PageResult {
    auth.require(Permission::ReadClients)?;
    let nav = || Some(auth.nav("/day"));
    let site_id: SiteId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such site.", nav()))?;
    let sites = usecase::directory::sites(&state).await.map_err(fail(&auth))?;
    let site = sites
        .iter()
        .find(|s| s.id == site_id)
        .cloned()
        .ok_or_else(|| page_error(StatusCode::NOT_FOUND, "No such site.", nav()))?;
    let tz = site.time_zone.tz();
    let date = match q.date.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => s
            .parse::<Date>()
            .map_err(|_| page_error(StatusCode::BAD_REQUEST, "The date must be in the form YYYY-MM-DD.", nav()))?,
        None => state.now().to_zoned(tz.clone()).date(),
    };
    // A clinic day runs from local midnight to local midnight, whatever its
    // length (23 or 25 hours on daylight-saving changes).
    let bounds = date
        .to_zoned(tz.clone())
        .and_then(|start| Ok((start.timestamp(), date.tomorrow()?.to_zoned(tz.clone())?.timestamp())))
        .map_err(|e| ui_error(AppError::Internal(e.to_string()), nav()))?;
    let usecase::encounters::DayList { visits: list, client_names: names } =
        usecase::encounters::day(&state, &api_auth(&auth), site_id, bounds.0, bounds.1).await.map_err(fail(&auth))?;
    let l = Lookups::for_records(&state, sites, &list.items, &[]).await.map_err(fail(&auth))?;
    let doses: Vec<kairos_domain::ids::EncounterId> =
        list.items.iter().filter(|e| e.kind == kairos_domain::encounter::EncounterKind::Dosing).map(|e| e.id).collect();
    let chairs = usecase::encounters::chair_states(&state, &doses).await.map_err(fail(&auth))?;
    let sessions: HashMap<kairos_domain::ids::EncounterId, kairos_domain::ids::DosingSessionId> =
        chairs.iter().map(|(e, c)| (*e, c.session)).collect();
    let session_ids: Vec<kairos_domain::ids::DosingSessionId> = sessions.values().copied().collect();
    let now = state.now();
    // The prescriber's eye: who is in the chair, how long since the dose,
    // the latest reading (or that none is charted yet).
    let chair_text = |c: &kairos_store::dosing::ChairState| match c.discharged_at {
        Some(d) => format!(
            "{} {}",
            c.early_end.map_or("discharged".to_string(), |e| e.label().to_lowercase()),
            d.to_zoned(tz.clone()).strftime("%H:%M")
        ),
        None => {
            let mins = now.duration_since(c.started_at).as_mins().max(0);
            let last = match &c.last_vitals {
                Some((at, v)) => format!(
                    "last vitals {} ({})",
                    at.to_zoned(tz.clone()).strftime("%H:%M"),
                    super::dosing::vitals_text(v)
                ),
                None => "no vitals charted yet".into(),
            };
            format!("in the chair, {mins} min since the dose; {last}")
        }
    };
    let alerts = usecase::encounters::open_alerts_of_sessions(&state, &session_ids).await.map_err(fail(&auth))?;
    // On a daylight-saving change the same clock time can occur twice: show
    // the zone abbreviation on such days so 01:30 EDT and 01:30 EST differ.
    let clock =
        if bounds.1.duration_since(bounds.0) == jiff::SignedDuration::from_hours(24) { "%H:%M" } else { "%H:%M %Z" };
    // A process group's members are named only to its facilitator (the
    // encounter's staff member); everyone else sees one row per session
    // with the number of members.
    let mut group_seen: HashMap<(Timestamp, Option<kairos_domain::ids::RoomId>), usize> = HashMap::new();
    for e in list.items.iter().filter(|e| e.kind == kairos_domain::encounter::EncounterKind::Group) {
        *group_seen.entry((e.scheduled_start, e.room_id)).or_default() += 1;
    }
    let mut shown_groups = std::collections::HashSet::new();
    let rows = list
        .items
        .iter()
        .filter(|e| {
            e.kind != kairos_domain::encounter::EncounterKind::Group
                || e.staff_id == Some(auth.staff.id)
                || shown_groups.insert((e.scheduled_start, e.room_id))
        })
        .map(|e| {
            let hidden = e.kind == kairos_domain::encounter::EncounterKind::Group && e.staff_id != Some(auth.staff.id);
            (e, hidden)
        })
        .map(|(e, hidden)| DayRow {
            visit: (!hidden).then(|| format!("/encounters/{}", e.id)),
            next: if hidden { None } else { super::frontdesk::next_action(&auth, e, sessions.get(&e.id).copied()) },
            missing_session: e.kind == kairos_domain::encounter::EncounterKind::Dosing
                && e.status == kairos_domain::encounter::EncounterStatus::Completed
                && !sessions.contains_key(&e.id),
            status_reason: if hidden { None } else { e.status_reason.clone() },
            open_alerts: sessions.get(&e.id).and_then(|s| alerts.get(s)).copied().unwrap_or(0),
            chair: if hidden { None } else { chairs.get(&e.id).map(chair_text) },
            start: e.scheduled_start.to_zoned(tz.clone()).strftime(clock).to_string(),
            end: e.scheduled_end.to_zoned(tz.clone()).strftime(clock).to_string(),
            client_id: (!hidden).then_some(e.client_id),
            client: if hidden {
                format!("{} member(s)", group_seen.get(&(e.scheduled_start, e.room_id)).copied().unwrap_or(1))
            } else {
                names.get(&e.client_id).cloned().unwrap_or_else(|| "—".into())
            },
            kind: e.kind.label(),
            room: l.room(e.room_id),
            staff: l.staff(e.staff_id),
            status: e.status.as_str(),
            status_label: status_label(e.status),
        })
        .collect();
    let mut sites: Vec<(SiteId, String)> = l.sites.values().map(|s| (s.id, s.name.clone())).collect();
    sites.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(render(&DayPage {
        nav: nav(),
        site_id,
        site_name: site.name.clone(),
        sites,
        time_zone: site.time_zone.as_str().to_string(),
        truncated: (list.total > list.items.len() as i64).then_some(list.total),
        date,
        date_label: date.strftime("%A %-d %B %Y").to_string(),
        prev_date: date.yesterday().unwrap_or(date),
        next_date: date.tomorrow().unwrap_or(date),
        rows,
        back: format!("/sites/{site_id}/day?date={date}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::greeting_name;

    #[test]
    fn people_are_greeted_by_their_first_name_not_their_title() {
        assert_eq!(greeting_name("Dr. Amara Osei"), "Amara");
        assert_eq!(greeting_name("dr amara osei"), "amara");
        assert_eq!(greeting_name("Prof Lena Park"), "Lena");
        assert_eq!(greeting_name("Robin Okafor"), "Robin");
        assert_eq!(greeting_name("Dr. Osei"), "Dr. Osei");
        assert_eq!(greeting_name("Cher"), "Cher");
        assert_eq!(greeting_name(""), "");
    }
}
