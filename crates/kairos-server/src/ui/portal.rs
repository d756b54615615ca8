//! The client portal's pages under `/portal` (phone-first, no script), and
//! the staff page of a client's portal: shared journal entries and
//! home-exercise adherence.

use super::measures::CrisisView;
use super::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::api::portal::{self as api, PortalAuth};
use crate::error::AppError;
use crate::extract::RemoteAddr;
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use kairos_domain::ids::{ClientId, EncounterId, ExerciseSessionId, JournalEntryId, MeasureRequestId};
use kairos_domain::roles::Permission;
use kairos_store::portal::SessionOrigin;
use serde::Deserialize;

type PageResult = Result<Response, Response>;

/// A portal page's client; without a session the page goes to sign-in.
pub struct PortalPage(pub PortalAuth);

impl FromRequestParts<AppState> for PortalPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match PortalAuth::from_request_parts(parts, state).await {
            Ok(a) => Ok(PortalPage(a)),
            Err(AppError::Unauthenticated) => Err(Redirect::to("/portal/login").into_response()),
            Err(e) => Err(perr(e)),
        }
    }
}

fn perr(e: AppError) -> Response {
    ui_error(e, None)
}

fn local(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%a %-d %b, %H:%M").to_string()
}

// ---- sign-in ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal_login.html")]
struct LoginPage {
    nav: Option<Nav>,
    /// `form`, `sent`, `confirm`, `password`, `password_link` (a link is needed first).
    step: &'static str,
    code: String,
    error: Option<String>,
}

fn login_page(step: &'static str, code: String, error: Option<String>) -> Response {
    render(&LoginPage { nav: None, step, code, error })
}

pub async fn login_form() -> Response {
    login_page("form", String::new(), None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: Option<String>,
}

pub async fn login_submit(
    State(state): State<AppState>,
    RemoteAddr(remote): RemoteAddr,
    Form(f): Form<LoginForm>,
) -> PageResult {
    match f.password.as_deref().filter(|p| !p.is_empty()) {
        None => {
            // Answered at once and the same way for every address; the link
            // is made after (an address with an account would otherwise take
            // a database write longer to answer than one without).
            // At most LINK_TASKS requests are dealt with at once; beyond
            // that (a flood of anonymous requests) they are dropped and logged.
            static LINK_TASKS: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
                std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(32)));
            match LINK_TASKS.clone().try_acquire_owned() {
                Ok(permit) => {
                    let (st, email) = (state.clone(), f.email.clone());
                    tokio::spawn(async move {
                        if let Err(e) = api::request_sign_in(&st, &email, remote).await {
                            tracing::error!(error = %e, "a portal sign-in link could not be made");
                        }
                        drop(permit);
                    });
                }
                Err(_) => tracing::warn!("too many portal sign-in link requests at once; one was dropped"),
            }
            Ok(login_page("sent", String::new(), None))
        }
        Some(pw) => match api::password_sign_in(&state, &f.email, pw, remote.clone()).await {
            Ok((client, hash)) => {
                signed_in(&state, client, remote.as_deref(), SessionOrigin::Password, Some(&hash), "/portal").await
            }
            Err(AppError::Unauthenticated) => Ok(login_page(
                "form",
                String::new(),
                Some("That e-mail and password did not match. You can ask for a sign-in link instead.".into()),
            )),
            Err(e) => Err(perr(e)),
        },
    }
}

async fn signed_in(
    state: &AppState,
    client: ClientId,
    remote: Option<&str>,
    how: SessionOrigin,
    verified_hash: Option<&str>,
    to: &str,
) -> PageResult {
    let token = api::open_session(state, client, remote, how, verified_hash).await.map_err(perr)?;
    Ok(([(header::SET_COOKIE, api::portal_cookie(state, &token))], Redirect::to(to)).into_response())
}

/// A link from an e-mail: a button to press (mail scanners that fetch links
/// must not use up the one-time code).
pub async fn auth_form(State(state): State<AppState>, Path(code): Path<String>) -> PageResult {
    if usecase::portal::sign_in_code_works(&state, &code).await.map_err(perr)? {
        Ok(login_page("confirm", code, None))
    } else {
        Ok(login_page(
            "form",
            String::new(),
            Some("This sign-in link has expired or was used already. Ask for a new one below.".into()),
        ))
    }
}

pub async fn auth_submit(
    State(state): State<AppState>,
    RemoteAddr(remote): RemoteAddr,
    Path(code): Path<String>,
) -> PageResult {
    match usecase::portal::sign_in_with_code(&state, &code, remote).await.map_err(perr)? {
        Some(s) => {
            let to = if s.invitation { "/portal/password" } else { "/portal" };
            Ok(([(header::SET_COOKIE, api::portal_cookie(&state, &s.token))], Redirect::to(to)).into_response())
        }
        None => Ok(login_page(
            "form",
            String::new(),
            Some("This sign-in link has expired or was used already. Ask for a new one below.".into()),
        )),
    }
}

/// Shown when a session may not set a password (see `PortalAuth::may_set_password`).
fn password_needs_link(state: &AppState) -> String {
    format!(
        "To set or change your password, sign out, ask for a sign-in link by e-mail, and choose your password \
         within {} minutes of opening the link.",
        state.config.portal.code_lifetime.as_mins()
    )
}

pub async fn password_form(State(state): State<AppState>, PortalPage(auth): PortalPage) -> Response {
    if !auth.may_set_password(&state.config.portal, state.now()) {
        return login_page("password_link", String::new(), Some(password_needs_link(&state)));
    }
    login_page("password", String::new(), None)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub async fn password_submit(
    State(state): State<AppState>,
    PortalPage(auth): PortalPage,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    if !auth.may_set_password(&state.config.portal, state.now()) {
        return Ok(login_page("password_link", String::new(), Some(password_needs_link(&state))));
    }
    let n = f.password.chars().count();
    if !(12..=1024).contains(&n) {
        return Ok(login_page("password", String::new(), Some("Use at least 12 characters.".into())));
    }
    if !usecase::portal::set_password(&state, &auth, f.password).await.map_err(perr)? {
        // The session ended while the password was being prepared.
        return Ok(Redirect::to("/portal/login").into_response());
    }
    Ok(Redirect::to("/portal").into_response())
}

pub async fn logout(State(state): State<AppState>, PortalPage(auth): PortalPage) -> PageResult {
    usecase::portal::sign_out(&state, &auth).await.map_err(perr)?;
    Ok(([(header::SET_COOKIE, api::clear_portal_cookie(&state))], Redirect::to("/portal/login")).into_response())
}

// ---- home -------------------------------------------------------------------

pub struct Appt {
    pub when: String,
    pub what: String,
}

pub struct DueQ {
    pub id: MeasureRequestId,
    pub name: String,
    pub until: String,
}

pub struct ExRow {
    pub dose: EncounterId,
    pub slot: u32,
    pub label: String,
    pub until: String,
    pub session: Option<ExerciseSessionId>,
    pub completed: bool,
}

#[derive(Template)]
#[template(path = "portal_home.html")]
struct HomePage {
    nav: Option<Nav>,
    name: String,
    appointments: Vec<Appt>,
    questionnaires: Vec<DueQ>,
    exercises: Vec<ExRow>,
    done_count: usize,
    total_count: usize,
    crisis: CrisisView,
}

pub async fn home(State(state): State<AppState>, PortalPage(auth): PortalPage) -> PageResult {
    let now = state.now();
    let tz = state.client_tz(auth.client).await.map_err(perr)?;
    let home = usecase::portal::home(&state, &auth, now).await.map_err(perr)?;
    let appointments = home
        .appointments
        .iter()
        .map(|e| Appt { when: local(e.scheduled_start, &tz), what: e.kind.label().to_string() })
        .collect();
    let questionnaires = home
        .questionnaires
        .into_iter()
        .map(|r| DueQ {
            id: r.id,
            name: state.config.instruments.get(&r.instrument).map(|i| i.short_name.clone()).unwrap_or(r.instrument),
            until: local(r.expires_at, &tz),
        })
        .collect();
    let (slots, _) = api::slot_views(&state, auth.client, now).await.map_err(perr)?;
    let today = now.to_zoned(tz.clone()).date();
    let exercises = slots
        .iter()
        .filter(|s| s.open_now || (s.opens.to_zoned(tz.clone()).date() == today && s.closes > now))
        .map(|s| ExRow {
            dose: s.dose_encounter_id,
            slot: s.slot,
            label: s.label.clone(),
            until: local(s.closes, &tz),
            session: s.session_id,
            completed: s.completed,
        })
        .filter(|r| !r.completed || r.session.is_some())
        .collect();
    Ok(render(&HomePage {
        nav: None,
        name: home.given_name,
        appointments,
        questionnaires,
        exercises,
        done_count: slots.iter().filter(|s| s.completed).count(),
        total_count: slots.len(),
        crisis: CrisisView::from(&state.config.crisis),
    }))
}

/// Opens a questionnaire the care team asked for: its link gets a fresh
/// token (only hashes are stored), and the client goes to `/r/{token}`.
pub async fn open_questionnaire(
    State(state): State<AppState>,
    PortalPage(auth): PortalPage,
    Path(id): Path<String>,
) -> PageResult {
    let id: MeasureRequestId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "There is no such questionnaire.", None))?;
    match usecase::portal::reissue_link(&state, &auth, id).await.map_err(perr)? {
        Some(token) => Ok(Redirect::to(&format!("/r/{token}")).into_response()),
        None => Err(page_error(StatusCode::NOT_FOUND, "There is no such questionnaire open for you.", None)),
    }
}

// ---- the journal --------------------------------------------------------------

pub struct EntryRow {
    pub id: JournalEntryId,
    pub date: String,
    pub text: String,
    pub mood: Option<i64>,
    pub shared: bool,
}

#[derive(Template)]
#[template(path = "portal_journal.html")]
struct JournalPage {
    nav: Option<Nav>,
    crisis: CrisisView,
    today: String,
    entries: Vec<EntryRow>,
    error: Option<String>,
    text: String,
}

/// The journal page (also shown again with an error after a refused entry):
/// every showing is an audited read.
async fn journal_page(state: &AppState, auth: &PortalAuth, error: Option<String>, text: String) -> PageResult {
    let entries = usecase::portal::journal(state, auth).await.map_err(perr)?;
    let today = state.now().to_zoned(state.client_tz(auth.client).await.map_err(perr)?).date();
    Ok(render(&JournalPage {
        nav: None,
        crisis: CrisisView::from(&state.config.crisis),
        today: today.to_string(),
        entries: entries
            .iter()
            .map(|e| EntryRow {
                id: e.id,
                date: e.entry_date.strftime("%A %-d %B %Y").to_string(),
                text: e.body.clone(),
                mood: e.mood,
                shared: e.shared,
            })
            .collect(),
        error,
        text,
    }))
}

pub async fn journal(State(state): State<AppState>, PortalPage(auth): PortalPage) -> PageResult {
    journal_page(&state, &auth, None, String::new()).await
}

#[derive(Deserialize)]
pub struct EntryForm {
    entry_date: Option<String>,
    text: String,
    mood: Option<String>,
    shared: Option<String>,
    help_now: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_help.html")]
struct HelpPage {
    nav: Option<Nav>,
    crisis: CrisisView,
    shared: bool,
}

pub async fn journal_submit(
    State(state): State<AppState>,
    PortalPage(auth): PortalPage,
    Form(f): Form<EntryForm>,
) -> PageResult {
    let mood = match f.mood.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => match m.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => return journal_page(&state, &auth, Some("Mood is a number from 0 to 10.".into()), f.text).await,
        },
    };
    let body = api::JournalBody {
        entry_date: f.entry_date,
        text: f.text.clone(),
        mood,
        shared: f.shared.is_some(),
        help_now: f.help_now.is_some(),
    };
    match api::write_journal(&state, &auth, &body).await {
        // Asking for help shows the crisis steps at once: the care team is
        // told, but nobody may be reading it right now.
        Ok(e) if body.help_now => {
            Ok(render(&HelpPage { nav: None, crisis: CrisisView::from(&state.config.crisis), shared: e.shared }))
        }
        Ok(_) => Ok(Redirect::to("/portal/journal").into_response()),
        Err(AppError::Unprocessable { detail, .. }) => journal_page(&state, &auth, Some(detail), f.text).await,
        Err(e) => Err(perr(e)),
    }
}

#[derive(Deserialize)]
pub struct ShareForm {
    shared: String,
}

pub async fn journal_share(
    State(state): State<AppState>,
    PortalPage(auth): PortalPage,
    Path(id): Path<String>,
    Form(f): Form<ShareForm>,
) -> PageResult {
    let id: JournalEntryId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "There is no such journal entry.", None))?;
    usecase::portal::set_sharing(&state, &auth, id, f.shared == "1").await.map_err(perr)?;
    Ok(Redirect::to("/portal/journal").into_response())
}

// ---- exercises ----------------------------------------------------------------

#[derive(Deserialize)]
pub struct StartForm {
    dose: String,
    slot: u32,
}

pub async fn exercise_start(
    State(state): State<AppState>,
    PortalPage(auth): PortalPage,
    Form(f): Form<StartForm>,
) -> PageResult {
    let dose: EncounterId =
        f.dose.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "There is no such exercise.", None))?;
    let s = api::start_exercise(&state, &auth, dose, f.slot).await.map_err(perr)?;
    Ok(Redirect::to(&format!("/portal/exercises/{}", s.id)).into_response())
}

#[derive(Template)]
#[template(path = "portal_exercise.html")]
struct ExercisePage {
    nav: Option<Nav>,
    label: String,
    name: String,
    minutes: String,
    id: ExerciseSessionId,
    rounds: u32,
    round: Option<api::RoundView>,
    finished: bool,
    correct: u32,
    checks: u32,
    error: Option<String>,
    crisis: CrisisView,
}

fn exercise_page(state: &AppState, s: &kairos_store::portal::ExerciseSession, error: Option<String>) -> Response {
    let def = &state.config.portal.exercise;
    let v = api::exercise_view(def, s);
    render(&ExercisePage {
        nav: None,
        label: def.label.clone(),
        name: def.name.clone(),
        minutes: format!("{} to {} minutes", def.minutes_min, def.minutes_max),
        id: s.id,
        rounds: v.rounds,
        finished: v.finished_at.is_some(),
        round: v.next_round,
        correct: v.checks_correct,
        checks: v.checks_total,
        error,
        crisis: CrisisView::from(&state.config.crisis),
    })
}

fn session_id(id: &str) -> Result<ExerciseSessionId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "There is no such exercise.", None))
}

pub async fn exercise(
    State(state): State<AppState>,
    PortalPage(auth): PortalPage,
    Path(id): Path<String>,
) -> PageResult {
    let s = usecase::portal::exercise(&state, &auth, session_id(&id)?).await.map_err(perr)?;
    Ok(exercise_page(&state, &s, None))
}

#[derive(Deserialize)]
pub struct RoundForm {
    round: u32,
    answer: Option<String>,
}

pub async fn exercise_answer(
    State(state): State<AppState>,
    PortalPage(auth): PortalPage,
    Path(id): Path<String>,
    Form(f): Form<RoundForm>,
) -> PageResult {
    let id = session_id(&id)?;
    let Some(answer) = f.answer.filter(|a| !a.is_empty()) else {
        let s = usecase::portal::exercise(&state, &auth, id).await.map_err(perr)?;
        return Ok(exercise_page(&state, &s, Some("Choose one of the words to go on.".into())));
    };
    match api::answer_round(&state, &auth, id, f.round, &answer).await {
        Ok(_) | Err(AppError::Conflict { .. }) => Ok(Redirect::to(&format!("/portal/exercises/{id}")).into_response()),
        Err(e) => Err(perr(e)),
    }
}

// ---- staff: a client's portal -------------------------------------------------

pub struct SharedRow {
    pub date: String,
    pub text: String,
    pub mood: Option<i64>,
    pub shared_at: String,
}

pub struct AdhRow {
    pub label: String,
    pub when: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "client_portal.html")]
struct StaffPage {
    nav: Option<Nav>,
    client_id: ClientId,
    client: String,
    account: Option<String>,
    default_email: String,
    can_invite: bool,
    can_read_journal: bool,
    shared: Vec<SharedRow>,
    can_read_adherence: bool,
    summary: String,
    rows: Vec<AdhRow>,
    notice: Option<String>,
}

async fn staff_page(state: &AppState, auth: &UiAuth, id: ClientId, notice: Option<String>) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let usecase::portal::ClientPortal { client, account, shared } =
        usecase::portal::client_portal(state, &api_auth(auth), id).await.map_err(|e| ui_error(e, nav()))?;
    let tz = state.client_tz(id).await.map_err(|e| ui_error(e, nav()))?;
    let can_read_journal = shared.is_some();
    let shared = shared.unwrap_or_default();
    let can_read_adherence = auth.staff.roles.allow(Permission::ReadMeasures);
    let (summary, rows) = if can_read_adherence {
        let a = api::adherence(state, &auth.actor(), id).await.map_err(|e| ui_error(e, nav()))?;
        let acc = a.mean_accuracy.map(|x| format!("{:.0}%", x * 100.0)).unwrap_or_else(|| "none yet".into());
        let mins = a.mean_minutes.map(|x| format!("{x:.0} min")).unwrap_or_else(|| "none yet".into());
        (
            format!(
                "{} of {} due done ({} on time, {} started and not finished, {} finished in under the expected time); \
                 attention-check accuracy {acc}; mean time {mins}; {} still ahead.",
                a.completed, a.due, a.on_time, a.started_not_finished, a.rushed, a.upcoming
            ),
            a.slots
                .iter()
                .map(|s| AdhRow {
                    label: format!("Dose {}: {} ({} of {})", s.dose_number, s.label, s.slot, s.total),
                    when: format!("{} to {}", local(s.opens, &tz), local(s.closes, &tz)),
                    status: match (s.completed, s.session_id.is_some()) {
                        (true, _) => format!(
                            "done{}{}, accuracy {}, {:.0} min",
                            if s.on_time { "" } else { " late" },
                            if s.rushed { " (rushed)" } else { "" },
                            s.accuracy.map(|x| format!("{:.0}%", x * 100.0)).unwrap_or_default(),
                            s.minutes.unwrap_or(0.0)
                        ),
                        (false, true) => "started, not finished".into(),
                        (false, false) if s.closes <= state.now() => "missed".into(),
                        _ => "not yet".into(),
                    },
                })
                .collect(),
        )
    } else {
        (String::new(), Vec::new())
    };
    Ok(render(&StaffPage {
        nav: nav(),
        client_id: id,
        client: client.details.display_name(),
        account: account.map(|a| format!("{}{}", a.email, if a.has_password { " (password set)" } else { "" })),
        default_email: client.details.email.map(|e| e.as_str().to_string()).unwrap_or_default(),
        can_invite: auth.staff.roles.allow(Permission::RecordMeasures),
        can_read_journal,
        shared: shared
            .iter()
            .map(|e| SharedRow {
                date: e.entry_date.to_string(),
                text: e.body.clone(),
                mood: e.mood,
                shared_at: e.shared_at.map(|t| local(t, &tz)).unwrap_or_default(),
            })
            .collect(),
        can_read_adherence,
        summary,
        rows,
        notice,
    }))
}

pub async fn client_portal(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadClients)?;
    let id: ClientId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", Some(auth.nav("/clients"))))?;
    staff_page(&state, &auth, id, None).await
}

#[derive(Deserialize)]
pub struct InviteForm {
    email: String,
}

pub async fn invite(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(f): Form<InviteForm>,
) -> PageResult {
    auth.require(Permission::RecordMeasures)?;
    let id: ClientId =
        id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", Some(auth.nav("/clients"))))?;
    let notice = match api::invite(&state, &auth.actor(), id, Some(&f.email)).await {
        Ok(a) => format!("Invitation e-mailed to {}.", a.email),
        Err(AppError::Unprocessable { detail, .. } | AppError::Conflict { detail, .. }) => detail,
        Err(e) => return Err(ui_error(e, Some(auth.nav("/clients")))),
    };
    staff_page(&state, &auth, id, Some(notice)).await
}

// ---- a change of the client's e-mail address ----------------------------------

#[derive(Template)]
#[template(path = "portal_email_change.html")]
struct EmailChangePage {
    nav: Option<Nav>,
    /// `confirm`, `done` or `gone`.
    step: &'static str,
    code: String,
    new_email: String,
}

fn email_change_page(step: &'static str, code: String, new_email: String) -> Response {
    render(&EmailChangePage { nav: None, step, code, new_email })
}

/// The link sent to the client's old address: a button to press (a mail
/// scanner fetching the link confirms nothing).
pub async fn email_change_form(State(state): State<AppState>, Path(code): Path<String>) -> PageResult {
    Ok(match usecase::portal::email_change_for_link(&state, &code).await.map_err(perr)? {
        Some(c) => email_change_page("confirm", code, c.new_email),
        None => email_change_page("gone", String::new(), String::new()),
    })
}

/// The client confirms the change of their address.
pub async fn email_change_submit(
    State(state): State<AppState>,
    RemoteAddr(remote): RemoteAddr,
    Path(code): Path<String>,
) -> PageResult {
    Ok(match usecase::portal::confirm_email_change_by_link(&state, &code, remote).await.map_err(perr)? {
        Some(c) => {
            let page = email_change_page("done", String::new(), c.new_email);
            ([(header::SET_COOKIE, api::clear_portal_cookie(&state))], page).into_response()
        }
        None => email_change_page("gone", String::new(), String::new()),
    })
}
