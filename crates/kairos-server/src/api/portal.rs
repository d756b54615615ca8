//! The client portal's API (`/api/v1/portal/...`, client session cookie
//! only) and its staff side (invitations, the shared journal, exercise
//! adherence), with the sign-in logic the portal pages share.
//!
//! A client session never reaches staff routes (a different cookie and
//! store table) and staff sessions never reach these. Every query is keyed
//! by the session's client: another client's ids are simply not found.

use super::path_id;
use crate::error::{AppError, AppResult};
use crate::extract::{Auth, Json, cookie_token, remote_addr};
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use jiff::{SignedDuration, Timestamp};
use kairos_domain::exercises::{self, ExerciseDef, Round, SessionFacts, SessionScore, Slot};
use kairos_domain::ids::{ClientId, EncounterId, ExerciseSessionId, JournalEntryId};
use kairos_domain::roles::Permission;
use kairos_domain::text::Email;
use kairos_store::Actor;
use kairos_store::portal::{
    ExerciseSession, JournalEntry, NewExercise, OutgoingEmail, PortalSession, RoundResponse, SessionOrigin,
    client_actor,
};
use kairos_store::sessions::SessionPolicy;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// The client portal's session cookie (never the staff one).
pub const PORTAL_COOKIE: &str = "kairos_portal";
/// The name when cookies are Secure (see [`portal_cookie_name`]).
pub const SECURE_PORTAL_COOKIE: &str = "__Host-kairos_portal";

/// Portal settings.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    pub session: SessionPolicy,
    /// How long a sign-in link works.
    pub code_lifetime: SignedDuration,
    /// How long an invitation works.
    pub invitation_lifetime: SignedDuration,
    /// Sign-in links one client may ask for in `code_window`.
    pub max_codes: i64,
    pub code_window: SignedDuration,
    /// The clinic's name in e-mails.
    pub clinic_name: String,
    /// The home exercise and its word lists.
    pub exercise: Arc<ExerciseDef>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            session: SessionPolicy { idle: SignedDuration::from_mins(30), absolute: SignedDuration::from_hours(12) },
            code_lifetime: SignedDuration::from_mins(15),
            invitation_lifetime: SignedDuration::from_hours(7 * 24),
            max_codes: 5,
            code_window: SignedDuration::from_mins(15),
            clinic_name: "your clinic".into(),
            exercise: Arc::new(ExerciseDef::shipped().expect("the shipped exercise definition is valid")),
        }
    }
}

// ---- the client session -----------------------------------------------------

/// The signed-in client of a portal request.
#[derive(Debug, Clone)]
pub struct PortalAuth {
    pub client: ClientId,
    pub token: String,
    pub remote_addr: Option<String>,
    /// When and how the session was opened (a password may be set only
    /// shortly after a one-time link).
    pub session: PortalSession,
}

impl PortalAuth {
    pub fn actor(&self) -> Actor {
        client_actor(self.client, self.remote_addr.clone())
    }

    /// Whether this session may set or change the password: it was opened by
    /// a one-time link (which proves the e-mail address) no longer ago than
    /// such a link lives. Anyone else holding a session (a shared phone left
    /// signed in) cannot take the account over with a password of their own.
    pub fn may_set_password(&self, cfg: &PortalConfig, now: Timestamp) -> bool {
        let age = now.duration_since(self.session.opened_at);
        // A session opened "in the future" (clocks of several servers apart) is not fresh either.
        self.session.opened_by.is_some_and(|o| o.is_link()) && !age.is_negative() && age <= cfg.code_lifetime
    }

    /// Records that the client read their own record through the portal
    /// (`what`: the page or list), durably, like every read of a record.
    pub async fn audit_read(&self, state: &AppState, what: &str) -> AppResult<()> {
        let entry = kairos_store::AuditEntry::new(kairos_store::Action::Read, "portal", self.client)
            .client(self.client)
            .detail(what);
        state.store.audit_read(&self.actor(), entry).await?;
        Ok(())
    }
}

/// A state change must come from this site: SameSite=Strict keeps the cookie
/// off cross-site requests; this refuses a cross-site `Origin` as well.
pub fn same_origin(parts: &Parts) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD) {
        return true;
    }
    let h = &parts.headers;
    let site_ok = h
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(|v| v == "same-origin" || v == "none")
        .unwrap_or(true);
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_ok = match (h.get(header::ORIGIN).and_then(|v| v.to_str().ok()), host) {
        (Some(origin), Some(host)) => origin.split("://").nth(1) == Some(host),
        (Some(_), None) => false,
        (None, _) => true,
    };
    site_ok && origin_ok
}

impl FromRequestParts<AppState> for PortalAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = cookie_token(parts, portal_cookie_name(state)).ok_or(AppError::Unauthenticated)?;
        if !same_origin(parts) {
            return Err(AppError::Forbidden("this request was sent from another site".into()));
        }
        let session = state
            .store
            .authenticate_portal_session(&token, &state.config.portal.session)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        Ok(PortalAuth { client: session.client, token, remote_addr: remote_addr(parts), session })
    }
}

/// The portal cookie's name: `__Host-` prefixed when cookies are Secure, so
/// a browser accepts it only from this host over HTTPS, for the whole site
/// and never from a sibling domain.
pub fn portal_cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies { SECURE_PORTAL_COOKIE } else { PORTAL_COOKIE }
}

pub fn portal_cookie(state: &AppState, token: &str) -> String {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    format!("{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}", portal_cookie_name(state))
}

pub fn clear_portal_cookie(state: &AppState) -> String {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}", portal_cookie_name(state))
}

pub fn link(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.config.public_url.as_deref().unwrap_or("").trim_end_matches('/'))
}

/// Sends a sign-in link if `email` belongs to an active portal account.
/// The answer is the same either way, so the form does not reveal who has
/// an account; a client asking too often gets no further links for a while.
/// Every request ends with an audit entry (`portal_link`, what was done), the
/// same for every path, after the link (if any) is stored: the sign-in form
/// runs this after answering (see `ui::portal::login_submit`), so how long
/// the answer takes says nothing about the address either.
pub async fn request_sign_in(state: &AppState, email: &str, remote: Option<String>) -> AppResult<()> {
    let login = email.trim().to_lowercase();
    if login.chars().count() > 254 {
        return Ok(());
    }
    let outcome = send_sign_in_link(state, email, remote.clone()).await?;
    let anon = Actor { staff_id: None, roles: "anonymous".into(), remote_addr: remote };
    let entry = kairos_store::AuditEntry::new(
        kairos_store::Action::LoginAttempt,
        "portal_link",
        format!("portal-link:{login}"),
    )
    .detail(outcome);
    state.store.audit_event(&anon, entry).await?;
    Ok(())
}

async fn send_sign_in_link(state: &AppState, email: &str, remote: Option<String>) -> AppResult<&'static str> {
    let Some((account, _)) = state.store.portal_account_by_email(email).await? else { return Ok("no active account") };
    let cfg = &state.config.portal;
    let since = state.now() - cfg.code_window;
    if state.store.recent_portal_codes(account.client_id, since).await? >= cfg.max_codes {
        return Ok("too many links asked for");
    }
    let code = crate::auth::new_token();
    let mail = OutgoingEmail {
        to: account.email.clone(),
        subject: format!("Your sign-in link for {}", cfg.clinic_name),
        body: format!(
            "Your sign-in link for {}:\n\n{}\n\nIt works once, for {} minutes. If you did not ask for it, ignore this e-mail.\n",
            cfg.clinic_name,
            link(state, &format!("/portal/auth/{code}")),
            cfg.code_lifetime.as_mins()
        ),
    };
    state.store.create_sign_in_code(account.client_id, &code, state.now() + cfg.code_lifetime, &mail, remote).await?;
    Ok("link queued")
}

/// The audit log's name for sign-in attempts on a portal address: a SHA-256
/// digest of the address as typed (trimmed, lower case), so the log shows no
/// client's e-mail. A digest of a known address can be recomputed: it keeps
/// addresses out of sight, it does not make them secret.
pub fn portal_login_key(email: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(email.trim().to_lowercase().as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("portal:{hex}")
}

/// Signs in with the password a client set from their invitation; returns
/// the client and the hash that was verified (see [`open_session`]).
pub async fn password_sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    remote: Option<String>,
) -> AppResult<(ClientId, String)> {
    if email.chars().count() > 254 || password.chars().count() > 1024 {
        return Err(AppError::Unauthenticated);
    }
    // The audit log names the attempt by a digest of the address, not the
    // address (a client's e-mail is theirs); attempts on one address still
    // share it for throttling.
    let login = portal_login_key(email);
    let anon = Actor { staff_id: None, roles: "anonymous".into(), remote_addr: remote.clone() };
    let entry = |a| kairos_store::AuditEntry::new(a, "portal_login", &login);
    state.store.audit_event(&anon, entry(kairos_store::Action::LoginAttempt)).await?;
    let since = state.now() - state.config.lockout_window;
    if state.store.recent_sign_in_attempts(&login, since).await? > i64::from(state.config.max_failed_logins) {
        return Err(AppError::TooManyAttempts);
    }
    let found = state.store.portal_account_by_email(email).await?;
    let hash = found.as_ref().and_then(|(_, h)| h.clone()).unwrap_or_else(|| state.dummy_hash.as_str().to_string());
    let ok = crate::auth::verify_blocking(password.to_string(), hash).await?;
    match found {
        Some((a, Some(verified))) if ok => {
            state
                .store
                .audit_event(&client_actor(a.client_id, remote), entry(kairos_store::Action::Login).client(a.client_id))
                .await?;
            Ok((a.client_id, verified))
        }
        _ => {
            state.store.audit_event(&anon, entry(kairos_store::Action::LoginFailed)).await?;
            Err(AppError::Unauthenticated)
        }
    }
}

/// Opens a portal session; returns its token. A password sign-in passes the
/// hash it verified: if the password changed meanwhile, no session opens.
pub async fn open_session(
    state: &AppState,
    client: ClientId,
    remote: Option<&str>,
    opened_by: SessionOrigin,
    verified_hash: Option<&str>,
) -> AppResult<String> {
    let token = crate::auth::new_token();
    let cfg = &state.config.portal.session;
    if !state.store.create_portal_session(client, &token, cfg, remote, opened_by, verified_hash).await? {
        return Err(AppError::Unauthenticated);
    }
    Ok(token)
}

// ---- staff: invitations -----------------------------------------------------

/// `email` defaults to the client's e-mail on file.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationBody {
    #[schema(value_type = Option<kairos_domain::text::OptionalEmail>)]
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalAccountView {
    #[schema(value_type = String, format = Uuid)]
    pub client_id: ClientId,
    pub email: String,
    pub has_password: bool,
    pub active: bool,
}

/// Invites a client to the portal: records their account and e-mails an
/// invitation link (no clinical content in it).
pub async fn invite(
    state: &AppState,
    actor: &Actor,
    client: ClientId,
    email: Option<&str>,
) -> AppResult<PortalAccountView> {
    let c = state.store.get_client(client).await?;
    // A client who has a portal account is invited at its confirmed address
    // only: a new address is confirmed first (by the client, from a link to
    // the old one, or in person; see `usecase::clients::edit`), so an
    // invitation never moves an account to an address someone typed.
    let on_file = match state.store.portal_account(client).await? {
        Some(a) => Email::parse("email", &a.email)?,
        // Otherwise only the address on file (changed through the audited
        // client record): an invitation to another address would hand the
        // client's journal to whoever reads it.
        None => c.details.email.clone().ok_or_else(|| {
            AppError::invalid("email", "the client has no e-mail on file; record it on the client's details first")
        })?,
    };
    let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => {
            let given = Email::parse("email", e)?;
            if given != on_file {
                return Err(AppError::invalid(
                    "email",
                    "invitations go only to the client's confirmed address; a new address is confirmed by the \
                     client (a link to the old address) or in person before it is used",
                ));
            }
            given
        }
        None => on_file,
    };
    let cfg = &state.config.portal;
    let code = crate::auth::new_token();
    let mail = OutgoingEmail {
        to: email.as_str().to_string(),
        subject: format!("Your invitation to {}'s client portal", cfg.clinic_name),
        body: format!(
            "You are invited to {}'s client portal. Open this link to sign in and, if you like, set a password:\n\n{}\n\nIt works once, for {} days.\n",
            cfg.clinic_name,
            link(state, &format!("/portal/auth/{code}")),
            cfg.invitation_lifetime.as_hours() / 24
        ),
    };
    let a = state
        .store
        .invite_to_portal(actor, client, &email, &code, state.now() + cfg.invitation_lifetime, &mail)
        .await?;
    Ok(PortalAccountView { client_id: a.client_id, email: a.email, has_password: a.has_password, active: a.active })
}

/// Invites a client to the client portal by e-mail.
#[utoipa::path(post, path = "/clients/{id}/portal-invitations", tag = "portal", params(("id" = String, Path)),
    request_body = InvitationBody,
    responses((status = 201, body = PortalAccountView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_invitation(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<InvitationBody>,
) -> AppResult<(StatusCode, axum::Json<PortalAccountView>)> {
    auth.require(Permission::RecordMeasures)?;
    let v = invite(&state, &auth.actor(), path_id("client", &id)?, body.email.as_deref()).await?;
    Ok((StatusCode::CREATED, axum::Json(v)))
}

// ---- the journal ------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct JournalView {
    #[schema(value_type = String, format = Uuid)]
    pub id: JournalEntryId,
    #[schema(value_type = String, format = Date)]
    pub entry_date: jiff::civil::Date,
    pub text: String,
    pub mood: Option<i64>,
    pub shared: bool,
    #[schema(value_type = Option<String>)]
    pub shared_at: Option<Timestamp>,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

impl From<&JournalEntry> for JournalView {
    fn from(e: &JournalEntry) -> Self {
        JournalView {
            id: e.id,
            entry_date: e.entry_date,
            text: e.body.clone(),
            mood: e.mood,
            shared: e.shared,
            shared_at: e.shared_at,
            created_at: e.created_at,
        }
    }
}

/// A new entry: `entry_date` YYYY-MM-DD (default today), `mood` 0-10,
/// `shared` (default false) shares it with the care team.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JournalBody {
    pub entry_date: Option<String>,
    pub text: String,
    pub mood: Option<i64>,
    #[serde(default)]
    pub shared: bool,
    /// "I need help now": raises an urgent alert to the client's clinicians
    /// with the entry (it stays private unless `shared`); the answer shows
    /// the crisis numbers.
    #[serde(default)]
    pub help_now: bool,
}

pub async fn write_journal(state: &AppState, auth: &PortalAuth, body: &JournalBody) -> AppResult<JournalEntry> {
    // Someone asking for help need not find words first.
    let text = match body.text.trim() {
        "" if body.help_now => "I need help now.",
        t => t,
    };
    if text.is_empty() {
        return Err(AppError::invalid("text", "write something in the entry"));
    }
    if text.chars().count() > 20_000 {
        return Err(AppError::invalid("text", "an entry can be at most 20,000 characters"));
    }
    if let Some(m) = body.mood
        && !(0..=10).contains(&m)
    {
        return Err(AppError::invalid("mood", "mood is a number from 0 to 10"));
    }
    let date = match body.entry_date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => super::date("entry_date", d)?,
        None => state.now().to_zoned(state.client_tz(auth.client).await?).date(),
    };
    if date > super::latest_today(state.now()) {
        return Err(AppError::invalid("entry_date", "the date is in the future"));
    }
    let new = kairos_store::portal::NewJournalEntry {
        date,
        body: text,
        mood: body.mood,
        shared: body.shared,
        help_now: body.help_now,
    };
    Ok(state.store.create_journal_entry(&auth.actor(), auth.client, &new).await?)
}

/// The signed-in client's journal, newest first.
#[utoipa::path(get, path = "/portal/journal", tag = "portal",
    responses((status = 200, body = Vec<JournalView>), (status = 401, body = crate::error::Problem)))]
pub async fn list_journal(State(state): State<AppState>, auth: PortalAuth) -> AppResult<axum::Json<Vec<JournalView>>> {
    let entries = crate::usecase::portal::journal(&state, &auth).await?;
    Ok(axum::Json(entries.iter().map(JournalView::from).collect()))
}

/// Writes a journal entry (private unless `shared`).
#[utoipa::path(post, path = "/portal/journal", tag = "portal", request_body = JournalBody,
    responses((status = 201, body = JournalView), (status = 401, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_journal(
    State(state): State<AppState>,
    auth: PortalAuth,
    Json(body): Json<JournalBody>,
) -> AppResult<(StatusCode, axum::Json<JournalView>)> {
    let e = write_journal(&state, &auth, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(JournalView::from(&e))))
}

/// One of the client's own entries.
#[utoipa::path(get, path = "/portal/journal/{id}", tag = "portal", params(("id" = String, Path)),
    responses((status = 200, body = JournalView), (status = 404, body = crate::error::Problem)))]
pub async fn get_journal(
    State(state): State<AppState>,
    auth: PortalAuth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<JournalView>> {
    let e = state.store.journal_entry(auth.client, path_id("journal entry", &id)?).await?;
    auth.audit_read(&state, "journal entry").await?;
    Ok(axum::Json(JournalView::from(&e)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SharingBody {
    pub shared: bool,
}

/// Shares one entry with the care team, or makes it private again.
#[utoipa::path(put, path = "/portal/journal/{id}/sharing", tag = "portal", params(("id" = String, Path)),
    request_body = SharingBody,
    responses((status = 200, body = JournalView), (status = 404, body = crate::error::Problem)))]
pub async fn set_sharing(
    State(state): State<AppState>,
    auth: PortalAuth,
    Path(id): Path<String>,
    Json(body): Json<SharingBody>,
) -> AppResult<axum::Json<JournalView>> {
    let e = crate::usecase::portal::set_sharing(&state, &auth, path_id("journal entry", &id)?, body.shared).await?;
    Ok(axum::Json(JournalView::from(&e)))
}

/// The entries a client shared (never the others). The read is audited.
#[utoipa::path(get, path = "/clients/{id}/shared-journal", tag = "portal", params(("id" = String, Path)),
    responses((status = 200, body = Vec<JournalView>), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn shared_journal(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<JournalView>>> {
    auth.require(Permission::ReadTherapyNotes)?;
    let client: ClientId = path_id("client", &id)?;
    state.store.get_client(client).await?;
    if !is_care_therapist(&state, auth.staff.id, client).await? {
        return Err(AppError::Forbidden(
            "the client shares their journal with their own therapist (and that therapist's supervisors)".into(),
        ));
    }
    let list = state.store.shared_journal(&auth.actor(), client).await?;
    Ok(axum::Json(list.iter().map(JournalView::from).collect()))
}

/// Whether `staff` is the therapist of one of the client's courses, or a
/// supervisor of that therapist: the people a client shares their journal
/// with.
pub async fn is_care_therapist(
    state: &AppState,
    staff: kairos_domain::ids::StaffId,
    client: ClientId,
) -> AppResult<bool> {
    let therapists: Vec<_> = state.store.courses_of(client).await?.into_iter().filter_map(|c| c.therapist_id).collect();
    if therapists.contains(&staff) {
        return Ok(true);
    }
    let supervised = state.store.supervisees(staff).await?;
    Ok(therapists.iter().any(|t| supervised.contains(t)))
}

// ---- home exercises ---------------------------------------------------------

/// The slots of one dose.
#[derive(Debug, Clone)]
pub struct DoseSlots {
    pub dose_encounter_id: EncounterId,
    pub dose_number: u32,
    pub dose_start: Timestamp,
    pub protocol: String,
    pub slots: Vec<Slot>,
}

/// The home exercises each of a client's doses assigns (their course's
/// protocol, dose numbered within its course).
pub async fn exercise_plan(state: &AppState, client: ClientId) -> AppResult<Vec<DoseSlots>> {
    let tz = state.client_tz(client).await?;
    let mut per_course = std::collections::HashMap::new();
    let mut out = Vec::new();
    for d in state.store.dose_facts(client).await? {
        let n = per_course.entry(d.course_id).or_insert(0u32);
        *n += 1;
        let Some(p) = d.protocol.as_deref().and_then(|p| state.config.protocols.get(p)) else { continue };
        let slots = exercises::schedule_for_dose(p, *n, d.start, &tz);
        if !slots.is_empty() {
            out.push(DoseSlots {
                dose_encounter_id: d.encounter_id,
                dose_number: *n,
                dose_start: d.start,
                protocol: p.id.clone(),
                slots,
            });
        }
    }
    Ok(out)
}

pub fn facts(s: &ExerciseSession) -> SessionFacts {
    SessionFacts {
        rounds: s.rounds,
        rounds_done: s.rounds_done,
        checks_total: s.checks_total,
        checks_correct: s.checks_correct,
        started: s.started_at,
        last_answer: s.responses.last().map(|r| r.at),
        finished: s.finished_at,
        closes: s.due_to,
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlotView {
    #[schema(value_type = String, format = Uuid)]
    pub dose_encounter_id: EncounterId,
    pub dose_number: u32,
    pub slot: u32,
    pub total: u32,
    pub label: String,
    #[schema(value_type = String)]
    pub opens: Timestamp,
    #[schema(value_type = String)]
    pub closes: Timestamp,
    pub open_now: bool,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub session_id: Option<ExerciseSessionId>,
    pub completed: bool,
    pub on_time: bool,
    pub accuracy: Option<f64>,
    pub minutes: Option<f64>,
    pub rushed: bool,
}

/// Every slot with what was done in it.
pub async fn slot_views(
    state: &AppState,
    client: ClientId,
    now: Timestamp,
) -> AppResult<(Vec<SlotView>, Vec<(Slot, Option<SessionScore>)>)> {
    let plan = exercise_plan(state, client).await?;
    let sessions = state.store.exercise_sessions_of(client).await?;
    let def = &state.config.portal.exercise;
    let mut views = Vec::new();
    let mut scored = Vec::new();
    for d in &plan {
        for s in &d.slots {
            let done = sessions.iter().find(|x| x.dose_encounter_id == d.dose_encounter_id && x.slot == s.number);
            let score = done.map(|x| exercises::score(def, &facts(x)));
            views.push(SlotView {
                dose_encounter_id: d.dose_encounter_id,
                dose_number: d.dose_number,
                slot: s.number,
                total: s.total,
                label: s.label(),
                opens: s.opens,
                closes: s.closes,
                open_now: s.is_open(now),
                session_id: done.map(|x| x.id),
                completed: score.is_some_and(|x| x.completed),
                on_time: score.is_some_and(|x| x.on_time),
                accuracy: score.and_then(|x| x.accuracy),
                minutes: score.filter(|x| x.completed).map(|x| x.duration.as_secs_f64() / 60.0),
                rushed: score.is_some_and(|x| x.rushed),
            });
            scored.push((s.clone(), score));
        }
    }
    Ok((views, scored))
}

/// The signed-in client's home exercises, with what was done.
#[utoipa::path(get, path = "/portal/exercises", tag = "portal",
    responses((status = 200, body = Vec<SlotView>), (status = 401, body = crate::error::Problem)))]
pub async fn list_exercises(State(state): State<AppState>, auth: PortalAuth) -> AppResult<axum::Json<Vec<SlotView>>> {
    let views = slot_views(&state, auth.client, state.now()).await?.0;
    auth.audit_read(&state, "home exercises").await?;
    Ok(axum::Json(views))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    pub dose_encounter_id: String,
    pub slot: u32,
}

/// Starts (or resumes) the exercise of a slot that is open now.
pub async fn start_exercise(
    state: &AppState,
    auth: &PortalAuth,
    dose: EncounterId,
    slot: u32,
) -> AppResult<ExerciseSession> {
    let plan = exercise_plan(state, auth.client).await?;
    let s = plan
        .iter()
        .filter(|d| d.dose_encounter_id == dose)
        .flat_map(|d| d.slots.iter())
        .find(|s| s.number == slot)
        .ok_or_else(|| AppError::NotFound(format!("no home exercise {slot} after dose {dose}")))?;
    let now = state.now();
    if !s.is_open(now) {
        let started = state.store.exercise_sessions_of(auth.client).await?;
        if let Some(x) = started.into_iter().find(|x| x.dose_encounter_id == dose && x.slot == slot) {
            return Ok(x);
        }
        return Err(AppError::Conflict {
            field: "slot".into(),
            detail: "this exercise is not open now; it can be done only in its own time".into(),
        });
    }
    let def = &state.config.portal.exercise;
    let new = NewExercise {
        client_id: auth.client,
        dose_encounter_id: dose,
        slot,
        due_from: s.opens,
        due_to: s.closes,
        word_list: format!("{}@{}", def.id, def.version),
        seed: rand::random::<u64>() >> 1,
        rounds: def.blocks,
    };
    Ok(state.store.start_exercise(&auth.actor(), &new).await?)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoundView {
    pub number: u32,
    /// [word about you, positive word].
    pub pairs: Vec<(String, String)>,
    pub question: String,
    pub options: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExerciseView {
    #[schema(value_type = String, format = Uuid)]
    pub id: ExerciseSessionId,
    pub label: String,
    pub slot: u32,
    pub rounds: u32,
    pub rounds_done: u32,
    pub checks_total: u32,
    pub checks_correct: u32,
    #[schema(value_type = String)]
    pub started_at: Timestamp,
    #[schema(value_type = Option<String>)]
    pub finished_at: Option<Timestamp>,
    /// The round to do next (none once finished).
    pub next_round: Option<RoundView>,
}

pub const CHECK_QUESTION: &str = "Which of these words did you see in this round?";

pub fn round_of(def: &ExerciseDef, s: &ExerciseSession, number: u32) -> Option<Round> {
    def.rounds(s.seed).into_iter().find(|r| r.number == number)
}

pub fn exercise_view(def: &ExerciseDef, s: &ExerciseSession) -> ExerciseView {
    let next = (s.finished_at.is_none()).then(|| round_of(def, s, s.rounds_done + 1)).flatten();
    ExerciseView {
        id: s.id,
        label: def.label.clone(),
        slot: s.slot,
        rounds: s.rounds,
        rounds_done: s.rounds_done,
        checks_total: s.checks_total,
        checks_correct: s.checks_correct,
        started_at: s.started_at,
        finished_at: s.finished_at,
        next_round: next.map(|r| RoundView {
            number: r.number,
            pairs: r.pairs,
            question: CHECK_QUESTION.into(),
            options: r.check.options,
        }),
    }
}

/// Starts the home exercise of an open slot (or resumes it).
#[utoipa::path(post, path = "/portal/exercises", tag = "portal", request_body = StartBody,
    responses((status = 201, body = ExerciseView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn start(
    State(state): State<AppState>,
    auth: PortalAuth,
    Json(body): Json<StartBody>,
) -> AppResult<(StatusCode, axum::Json<ExerciseView>)> {
    let dose: EncounterId = super::field_id("dose_encounter_id", &body.dose_encounter_id)?;
    let s = start_exercise(&state, &auth, dose, body.slot).await?;
    Ok((StatusCode::CREATED, axum::Json(exercise_view(&state.config.portal.exercise, &s))))
}

/// One of the client's own exercise sessions, with the next round.
#[utoipa::path(get, path = "/portal/exercises/{id}", tag = "portal", params(("id" = String, Path)),
    responses((status = 200, body = ExerciseView), (status = 404, body = crate::error::Problem)))]
pub async fn get_exercise(
    State(state): State<AppState>,
    auth: PortalAuth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<ExerciseView>> {
    let s = crate::usecase::portal::exercise(&state, &auth, path_id("exercise session", &id)?).await?;
    Ok(axum::Json(exercise_view(&state.config.portal.exercise, &s)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundBody {
    pub round: u32,
    /// The word chosen in the attention check.
    pub answer: String,
}

/// Records the answer to the next round (start and finish times are the
/// server's).
pub async fn answer_round(
    state: &AppState,
    auth: &PortalAuth,
    id: ExerciseSessionId,
    round: u32,
    answer: &str,
) -> AppResult<ExerciseSession> {
    let def = &state.config.portal.exercise;
    let s = state.store.exercise_session(auth.client, id).await?;
    let r = round_of(def, &s, round).ok_or_else(|| AppError::invalid("round", format!("there is no round {round}")))?;
    if !r.check.options.iter().any(|o| o == answer) {
        return Err(AppError::invalid("answer", "choose one of the words offered"));
    }
    let resp =
        RoundResponse { round, at: state.now(), answer: answer.to_string(), correct: r.check.is_correct(answer) };
    Ok(state.store.record_exercise_round(&auth.actor(), auth.client, id, resp).await?)
}

/// Answers the attention check of the next round.
#[utoipa::path(post, path = "/portal/exercises/{id}/rounds", tag = "portal", params(("id" = String, Path)),
    request_body = RoundBody,
    responses((status = 200, body = ExerciseView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn post_round(
    State(state): State<AppState>,
    auth: PortalAuth,
    Path(id): Path<String>,
    Json(body): Json<RoundBody>,
) -> AppResult<axum::Json<ExerciseView>> {
    let s = answer_round(&state, &auth, path_id("exercise session", &id)?, body.round, &body.answer).await?;
    Ok(axum::Json(exercise_view(&state.config.portal.exercise, &s)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdherenceView {
    pub due: u32,
    pub completed: u32,
    pub on_time: u32,
    pub started_not_finished: u32,
    pub upcoming: u32,
    pub mean_accuracy: Option<f64>,
    pub mean_minutes: Option<f64>,
    pub rushed: u32,
    pub slots: Vec<SlotView>,
}

pub async fn adherence(state: &AppState, actor: &Actor, client: ClientId) -> AppResult<AdherenceView> {
    state.store.get_client(client).await?;
    let now = state.now();
    let (slots, scored) = slot_views(state, client, now).await?;
    let (s, sc): (Vec<Slot>, Vec<Option<SessionScore>>) = scored.into_iter().unzip();
    let a = exercises::adherence(&s, &sc, now);
    state
        .store
        .audit_read(
            actor,
            kairos_store::AuditEntry::new(kairos_store::Action::Read, "exercise_adherence", client).client(client),
        )
        .await?;
    Ok(AdherenceView {
        due: a.due,
        completed: a.completed,
        on_time: a.on_time,
        started_not_finished: a.started_not_finished,
        upcoming: a.upcoming,
        mean_accuracy: a.mean_accuracy,
        mean_minutes: a.mean_minutes,
        rushed: a.rushed,
        slots,
    })
}

/// A client's home-exercise adherence: due against done, accuracy on the
/// attention checks, time taken. The read is audited.
#[utoipa::path(get, path = "/clients/{id}/exercise-adherence", tag = "portal", params(("id" = String, Path)),
    responses((status = 200, body = AdherenceView), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn get_adherence(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<AdherenceView>> {
    auth.require(Permission::ReadMeasures)?;
    Ok(axum::Json(adherence(&state, &auth.actor(), path_id("client", &id)?).await?))
}
