//! The front desk in the browser: register a client and change their
//! details, open a course from a protocol with its care team and move it
//! through its phases, book a visit, and from the visit's page check the
//! client in, mark a no-show, cancel (saying why) or reschedule. Every form
//! calls the use case the API calls; a refused form comes back with what
//! was typed, the refusal beside it and the API's status.

use super::form::{Refused, with_status};
use super::{Nav, UiAuth, api_auth, page_error, render, ui_error};
use crate::api::{latest_today, opt_field_id};
use crate::error::AppError;
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use kairos_domain::Refusal;
use kairos_domain::client::{ClientDetails, ClientInput, ClientStatus};
use kairos_domain::course::{NewCourse, Phase};
use kairos_domain::encounter::{EncounterKind, EncounterStatus, NewEncounter};
use kairos_domain::ids::{ClientId, CourseId, EncounterId, SiteId};
use kairos_domain::roles::{Permission, Role};
use kairos_store::encounters::Placement;
use serde::Deserialize;

type PageResult = Result<Response, Response>;

fn not_found(auth: &UiAuth, what: &str) -> Response {
    page_error(StatusCode::NOT_FOUND, &format!("No such {what}."), Some(auth.nav("/clients")))
}

// ---- client details ----------------------------------------------------------

/// The client form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClientForm {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: String,
    pub pronouns: String,
    pub email: String,
    pub phone: String,
    pub address: String,
    pub emergency_contact_name: String,
    pub emergency_contact_phone: String,
    pub status: String,
}

impl ClientForm {
    fn of(d: &ClientDetails) -> ClientForm {
        ClientForm {
            given_name: d.given_name.clone(),
            family_name: d.family_name.clone(),
            date_of_birth: d.date_of_birth.to_string(),
            pronouns: d.pronouns.clone().unwrap_or_default(),
            email: d.email.as_ref().map(|e| e.to_string()).unwrap_or_default(),
            phone: d.phone.clone().unwrap_or_default(),
            address: d.address.clone().unwrap_or_default(),
            emergency_contact_name: d.emergency_contact_name.clone().unwrap_or_default(),
            emergency_contact_phone: d.emergency_contact_phone.clone().unwrap_or_default(),
            status: d.status.as_str().to_string(),
        }
    }

    /// The details, read by the same rules as the API's body.
    fn details(&self, state: &AppState) -> Result<ClientDetails, Refused> {
        let blank = |v: &str| Some(v.to_string()).filter(|v| !v.trim().is_empty());
        let (pronouns, email, phone, address, ec_name, ec_phone, status) = (
            blank(&self.pronouns),
            blank(&self.email),
            blank(&self.phone),
            blank(&self.address),
            blank(&self.emergency_contact_name),
            blank(&self.emergency_contact_phone),
            blank(&self.status),
        );
        ClientDetails::parse(
            &ClientInput {
                given_name: &self.given_name,
                family_name: &self.family_name,
                date_of_birth: self.date_of_birth.trim(),
                pronouns: pronouns.as_deref(),
                email: email.as_deref(),
                phone: phone.as_deref(),
                address: address.as_deref(),
                emergency_contact_name: ec_name.as_deref(),
                emergency_contact_phone: ec_phone.as_deref(),
                status: status.as_deref(),
            },
            latest_today(state.now()),
        )
        .map_err(|e| Refused::from(AppError::from(e)))
    }
}

#[derive(Template)]
#[template(path = "client_form.html")]
struct ClientFormPage {
    nav: Option<Nav>,
    /// None: a new client.
    client_id: Option<ClientId>,
    heading: String,
    values: ClientForm,
    statuses: Vec<&'static str>,
    error: Option<Refused>,
    /// A change of the client's portal address waiting for confirmation.
    email_change: Option<EmailChangeBox>,
    witness_error: Option<Refused>,
}

/// A pending change of a portal client's address, as the details page shows it.
struct EmailChangeBox {
    old_email: String,
    new_email: String,
    asked_by: String,
}

async fn email_change_box(state: &AppState, auth: &UiAuth, id: ClientId) -> Result<Option<EmailChangeBox>, Response> {
    let change = usecase::portal::pending_email_change(state, &api_auth(auth), id)
        .await
        .map_err(|e| ui_error(e, Some(auth.nav("/clients"))))?;
    let Some(c) = change else { return Ok(None) };
    let asked_by = match c.requested_by {
        Some(s) => usecase::directory::staff_names(state, &[s])
            .await
            .ok()
            .and_then(|m| m.get(&s).cloned())
            .unwrap_or_else(|| "a staff member".into()),
        None => "the system".into(),
    };
    Ok(Some(EmailChangeBox { old_email: c.old_email, new_email: c.new_email, asked_by }))
}

fn client_form_page(auth: &UiAuth, id: Option<ClientId>, values: ClientForm, error: Option<Refused>) -> Response {
    client_form_page_with(auth, id, values, error, None, None)
}

fn client_form_page_with(
    auth: &UiAuth,
    id: Option<ClientId>,
    values: ClientForm,
    error: Option<Refused>,
    email_change: Option<EmailChangeBox>,
    witness_error: Option<Refused>,
) -> Response {
    let heading = match id {
        None => "Register a client".to_string(),
        Some(_) => format!("Details of {} {}", values.given_name, values.family_name),
    };
    let page = render(&ClientFormPage {
        nav: Some(auth.nav("/clients")),
        client_id: id,
        heading,
        values,
        statuses: ClientStatus::ALL.iter().map(|s| s.as_str()).collect(),
        error: error.clone(),
        email_change,
        witness_error: witness_error.clone(),
    });
    with_status(page, &error.or(witness_error))
}

pub async fn register_form(auth: UiAuth) -> PageResult {
    auth.require(Permission::WriteClients)?;
    Ok(client_form_page(&auth, None, ClientForm { status: "active".into(), ..Default::default() }, None))
}

pub async fn register(State(state): State<AppState>, auth: UiAuth, Form(form): Form<ClientForm>) -> PageResult {
    let details = match form.details(&state) {
        Ok(d) => d,
        Err(r) => return Ok(client_form_page(&auth, None, form, Some(r))),
    };
    match usecase::clients::register(&state, &api_auth(&auth), &details).await {
        Ok(c) => Ok(Redirect::to(&format!("/clients/{}", c.id)).into_response()),
        Err(e) => Ok(client_form_page(&auth, None, form, Some(e.into()))),
    }
}

pub async fn edit_form(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let id: ClientId = id.parse().map_err(|_| not_found(&auth, "client"))?;
    let client = usecase::clients::details(&state, &api_auth(&auth), id)
        .await
        .map_err(|e| ui_error(e, Some(auth.nav("/clients"))))?;
    let change = email_change_box(&state, &auth, id).await?;
    Ok(client_form_page_with(&auth, Some(id), ClientForm::of(&client.details), None, change, None))
}

pub async fn edit(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<ClientForm>,
) -> PageResult {
    let id: ClientId = id.parse().map_err(|_| not_found(&auth, "client"))?;
    let details = match form.details(&state) {
        Ok(d) => d,
        Err(r) => return Ok(client_form_page(&auth, Some(id), form, Some(r))),
    };
    match usecase::clients::edit(&state, &api_auth(&auth), id, &details).await {
        // A new portal address waits: the page says so and offers the
        // in-person confirmation.
        Ok(e)
            if e.email_change
                .as_ref()
                .is_some_and(|c| details.email.as_ref().map(|m| m.as_str()) == Some(c.new_email.as_str())) =>
        {
            Ok(Redirect::to(&format!("/clients/{id}/details#email-change")).into_response())
        }
        Ok(e) => Ok(Redirect::to(&format!("/clients/{}", e.client.id)).into_response()),
        Err(AppError::NotFound(_)) => Err(not_found(&auth, "client")),
        Err(e) => Ok(client_form_page(&auth, Some(id), form, Some(e.into()))),
    }
}

/// The second staff member's signature on the details page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WitnessForm {
    witness_email: String,
    witness_password: String,
}

/// Confirms a portal client's new address in person: a second staff member
/// signs with their own e-mail and password (checked, and throttled, as a
/// sign-in) on the details page.
pub async fn confirm_email_change(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<WitnessForm>,
) -> PageResult {
    let id: ClientId = id.parse().map_err(|_| not_found(&auth, "client"))?;
    let caller = api_auth(&auth);
    let signed = crate::auth::authenticate(
        &state,
        &form.witness_email,
        &form.witness_password,
        caller.remote_addr.clone(),
        "witness signature",
    )
    .await;
    let result = match signed {
        Ok(witness) => usecase::portal::confirm_email_change_in_person(&state, &caller, id, &witness).await.map(|_| ()),
        Err(AppError::Unauthenticated) => {
            Err(AppError::invalid("witness_email", "the second staff member's e-mail or password is not right"))
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/clients/{id}")).into_response()),
        Err(AppError::NotFound(_)) => Err(not_found(&auth, "client")),
        Err(e) => {
            let client = usecase::clients::details(&state, &caller, id)
                .await
                .map_err(|e| ui_error(e, Some(auth.nav("/clients"))))?;
            let change = email_change_box(&state, &auth, id).await?;
            Ok(client_form_page_with(&auth, Some(id), ClientForm::of(&client.details), None, change, Some(e.into())))
        }
    }
}

/// Cancels a portal client's pending change of address.
pub async fn cancel_email_change(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let id: ClientId = id.parse().map_err(|_| not_found(&auth, "client"))?;
    match usecase::portal::cancel_email_change(&state, &api_auth(&auth), id).await {
        Ok(_) => Ok(Redirect::to(&format!("/clients/{id}/details")).into_response()),
        Err(AppError::NotFound(_)) => Err(not_found(&auth, "client")),
        Err(e) => Err(ui_error(e, Some(auth.nav("/clients")))),
    }
}

// ---- courses -------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CourseForm {
    pub protocol: String,
    pub started_on: String,
    pub prescriber_id: String,
    pub therapist_id: String,
}

#[derive(Template)]
#[template(path = "course_form.html")]
struct CourseFormPage {
    nav: Option<Nav>,
    client_id: ClientId,
    client: String,
    /// (id, title)
    protocols: Vec<(String, String)>,
    prescribers: Vec<(String, String)>,
    therapists: Vec<(String, String)>,
    values: CourseForm,
    error: Option<Refused>,
}

async fn course_form_page(
    state: &AppState,
    auth: &UiAuth,
    client_id: ClientId,
    values: CourseForm,
    error: Option<Refused>,
) -> PageResult {
    let fail = |e| ui_error(e, Some(auth.nav("/clients")));
    let (client, prescribers, therapists) = tokio::try_join!(
        usecase::clients::name(state, client_id),
        usecase::directory::active_with_role(state, Role::Prescriber),
        usecase::directory::active_with_role(state, Role::Therapist),
    )
    .map_err(fail)?;
    let people =
        |list: Vec<kairos_domain::staff::Staff>| list.into_iter().map(|s| (s.id.to_string(), s.name)).collect();
    let page = render(&CourseFormPage {
        nav: Some(auth.nav("/clients")),
        client_id,
        client,
        protocols: state.config.protocols.all().iter().map(|p| (p.id.clone(), p.name.clone())).collect(),
        prescribers: people(prescribers),
        therapists: people(therapists),
        values,
        error: error.clone(),
    });
    Ok(with_status(page, &error))
}

pub async fn course_form(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let id: ClientId = id.parse().map_err(|_| not_found(&auth, "client"))?;
    let today = state.now().to_zoned(state.client_tz(id).await.map_err(|e| ui_error(e, None))?).date();
    // The signed-in prescriber is the course's prescriber unless changed.
    let me = if auth.staff.roles.contains(Role::Prescriber) { auth.staff.id.to_string() } else { String::new() };
    let values = CourseForm { started_on: today.to_string(), prescriber_id: me, ..Default::default() };
    course_form_page(&state, &auth, id, values, None).await
}

pub async fn open_course(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<CourseForm>,
) -> PageResult {
    let client: ClientId = id.parse().map_err(|_| not_found(&auth, "client"))?;
    let blank = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let parsed = (|| {
        Ok::<_, AppError>(NewCourse::parse(
            client,
            form.protocol.trim(),
            crate::api::date("started_on", form.started_on.trim())?,
            opt_field_id("prescriber_id", blank(&form.prescriber_id).as_deref())?,
            opt_field_id("therapist_id", blank(&form.therapist_id).as_deref())?,
            latest_today(state.now()),
        )?)
    })();
    let new = match parsed {
        Ok(n) => n,
        Err(e) => return course_form_page(&state, &auth, client, form, Some(e.into())).await,
    };
    match usecase::courses::open(&state, &api_auth(&auth), &new).await {
        Ok(_) => Ok(Redirect::to(&format!("/clients/{client}")).into_response()),
        Err(e) => course_form_page(&state, &auth, client, form, Some(e.into())).await,
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PhaseForm {
    pub phase: String,
    pub reason: String,
}

/// Moves a course to its next phase from the chart; a refusal (a phase the
/// course cannot move to, a discontinuation without its reason) is shown on
/// a page that names the field and leads back to the chart.
pub async fn change_phase(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<PhaseForm>,
) -> PageResult {
    let id: CourseId = id.parse().map_err(|_| not_found(&auth, "course"))?;
    let refuse = |r: Refused| page_error(r.status, &r.message, Some(auth.nav("/clients")));
    let phase = Phase::parse("phase", form.phase.trim()).map_err(|e| refuse(AppError::from(e).into()))?;
    let reason = Some(form.reason.trim()).filter(|r| !r.is_empty());
    match usecase::courses::change_phase(&state, &api_auth(&auth), id, phase, reason).await {
        Ok(c) => Ok(Redirect::to(&format!("/clients/{}", c.client_id)).into_response()),
        Err(e) => Err(refuse(e.into())),
    }
}

// ---- booking -------------------------------------------------------------------

/// The booking form as typed: the start in the site's local time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BookForm {
    pub kind: String,
    pub course_id: String,
    pub site_id: String,
    pub room_id: String,
    pub staff_id: String,
    pub start: String,
    pub minutes: String,
}

#[derive(Template)]
#[template(path = "book_form.html")]
struct BookFormPage {
    nav: Option<Nav>,
    client_id: ClientId,
    client: String,
    kinds: Vec<(&'static str, &'static str)>,
    /// (id, label) of the client's open courses.
    courses: Vec<(String, String)>,
    /// (id, label "site · room") of every room.
    rooms: Vec<(String, String)>,
    sites: Vec<(String, String)>,
    staff: Vec<(String, String)>,
    values: BookForm,
    error: Option<Refused>,
}

async fn book_form_page(
    state: &AppState,
    auth: &UiAuth,
    client_id: ClientId,
    values: BookForm,
    error: Option<Refused>,
) -> PageResult {
    let fail = |e| ui_error(e, Some(auth.nav("/clients")));
    let caller = api_auth(auth);
    let (client, sites, staff, courses) = tokio::try_join!(
        usecase::clients::name(state, client_id),
        usecase::directory::sites(state),
        usecase::directory::bookable_staff(state),
        usecase::courses::of_client(state, &caller, client_id),
    )
    .map_err(fail)?;
    let mut rooms = Vec::new();
    for s in &sites {
        for r in usecase::directory::rooms(state, s.id).await.map_err(fail)? {
            rooms.push((r.id.to_string(), format!("{} · {}", s.name, r.name)));
        }
    }
    let title = |p: &str| state.config.protocols.get(p).map(|x| x.name.clone()).unwrap_or_else(|| p.to_string());
    let page = render(&BookFormPage {
        nav: Some(auth.nav("/clients")),
        client_id,
        client,
        kinds: EncounterKind::ALL.iter().map(|k| (k.as_str(), k.label())).collect(),
        courses: courses
            .iter()
            .filter(|c| c.ended_on.is_none())
            .map(|c| (c.id.to_string(), format!("{} ({}, since {})", title(&c.protocol), c.phase, c.started_on)))
            .collect(),
        rooms,
        sites: sites.iter().map(|s| (s.id.to_string(), s.name.clone())).collect(),
        staff: staff
            .iter()
            .map(|s| {
                (
                    s.id.to_string(),
                    format!("{} ({})", s.name, s.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ")),
                )
            })
            .collect(),
        values,
        error: error.clone(),
    });
    Ok(with_status(page, &error))
}

pub async fn book_form(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let id: ClientId = id.parse().map_err(|_| not_found(&auth, "client"))?;
    let sites = usecase::directory::sites(&state).await.map_err(|e| ui_error(e, None))?;
    let values = BookForm {
        site_id: sites.first().map(|s| s.id.to_string()).unwrap_or_default(),
        minutes: "60".into(),
        ..Default::default()
    };
    book_form_page(&state, &auth, id, values, None).await
}

/// The length of a visit, in whole minutes (1 to 720).
fn minutes(v: &str) -> Result<SignedDuration, Refusal> {
    let m: i64 = super::form::whole("scheduled_end", "Length in minutes", v)?
        .ok_or_else(|| Refusal::invalid("scheduled_end", "give the visit's length in minutes"))?;
    if !(1..=720).contains(&m) {
        return Err(Refusal::invalid("scheduled_end", "a visit lasts from 1 minute to 12 hours"));
    }
    Ok(SignedDuration::from_mins(m))
}

/// A local start time at the site; blank is refused.
fn start_at(v: &str, tz: &TimeZone) -> Result<jiff::Timestamp, Refusal> {
    super::form::local_time("scheduled_start", "Start", v, tz)?
        .ok_or_else(|| Refusal::invalid("scheduled_start", "give the date and time the visit starts"))
}

pub async fn book(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<BookForm>,
) -> PageResult {
    let client: ClientId = id.parse().map_err(|_| not_found(&auth, "client"))?;
    let blank = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let parsed = async {
        let kind = EncounterKind::parse("kind", form.kind.trim())?;
        let site: SiteId = crate::api::field_id("site_id", form.site_id.trim())?;
        let tz = usecase::directory::site(&state, site).await?.time_zone.tz();
        let start = start_at(&form.start, &tz)?;
        Ok::<_, AppError>(NewEncounter {
            client_id: client,
            course_id: opt_field_id("course_id", blank(&form.course_id).as_deref())?,
            site_id: site,
            room_id: opt_field_id("room_id", blank(&form.room_id).as_deref())?,
            staff_id: opt_field_id("staff_id", blank(&form.staff_id).as_deref())?,
            kind,
            scheduled_start: start,
            scheduled_end: start + minutes(&form.minutes)?,
        })
    }
    .await;
    let new = match parsed {
        Ok(n) => n,
        Err(e) => return book_form_page(&state, &auth, client, form, Some(e.into())).await,
    };
    match usecase::encounters::book(&state, &api_auth(&auth), &new).await {
        Ok(e) => Ok(Redirect::to(&format!("/encounters/{}", e.id)).into_response()),
        Err(e) => book_form_page(&state, &auth, client, form, Some(e.into())).await,
    }
}

// ---- a visit ---------------------------------------------------------------------

#[derive(Template)]
#[template(path = "visit.html")]
struct VisitPage {
    nav: Option<Nav>,
    id: EncounterId,
    client_id: ClientId,
    client: String,
    kind: &'static str,
    when: String,
    site: String,
    room: String,
    staff: String,
    course: String,
    status: &'static str,
    status_label: &'static str,
    status_reason: Option<String>,
    arrived_at: Option<String>,
    ended_at: Option<String>,
    /// The one thing to do next, when there is one: (label, href, is a
    /// form post of `status=value`).
    next: Option<NextAction>,
    /// A completed dose with no session charted: the record does not add up.
    missing_session: bool,
    can_book: bool,
    booked: bool,
    open: bool,
    /// Note kinds for a therapy visit: (value, label).
    note_kinds: Vec<(String, String)>,
    can_write_note: bool,
    rooms: Vec<(String, String)>,
    staff_choices: Vec<(String, String)>,
    room_id: String,
    staff_id: String,
    start_local: String,
    minutes: i64,
    typed: StatusForm,
    error: Option<Refused>,
}

/// What a visit's row or page offers next.
pub struct NextAction {
    pub label: &'static str,
    pub href: String,
    /// Set when the action is a status change posted to `href`.
    pub status: Option<&'static str>,
}

/// The next step for a visit, as its status and record allow: check in a
/// booked visit; start the dose of an arrived dosing visit, or open its
/// session once started; write the note of a therapy visit that has begun.
pub fn next_action(
    auth: &UiAuth,
    e: &kairos_domain::encounter::Encounter,
    session: Option<kairos_domain::ids::DosingSessionId>,
) -> Option<NextAction> {
    let r = &auth.staff.roles;
    let begun = matches!(e.status, EncounterStatus::Arrived | EncounterStatus::Completed);
    match (e.status, e.kind, session) {
        (EncounterStatus::Booked, _, _) if r.allow(Permission::BookEncounters) => Some(NextAction {
            label: "Check in",
            href: format!("/encounters/{}/status", e.id),
            status: Some("arrived"),
        }),
        (_, EncounterKind::Dosing, Some(s)) if begun && r.allow(Permission::ReadScreening) => {
            Some(NextAction { label: "Open session", href: format!("/dosing-sessions/{s}"), status: None })
        }
        (EncounterStatus::Arrived, EncounterKind::Dosing, None) if r.allow(Permission::ChartDosing) => {
            Some(NextAction { label: "Start dose", href: format!("/encounters/{}/dosing", e.id), status: None })
        }
        (_, kind, _)
            if begun
                && kind != EncounterKind::Dosing
                && kind != EncounterKind::Group
                && r.allow(Permission::WriteTherapyNotes)
                && e.staff_id == Some(auth.staff.id) =>
        {
            Some(NextAction { label: "Write note", href: format!("/encounters/{}#note", e.id), status: None })
        }
        _ => None,
    }
}

/// A status change as typed: the status, why (a cancellation needs it),
/// and the page to return to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StatusForm {
    pub status: String,
    pub reason: String,
    pub back: String,
}

/// A reschedule as typed (local start at the visit's site).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MoveForm {
    pub start: String,
    pub minutes: String,
    pub room_id: String,
    pub staff_id: String,
}

async fn visit_page(
    state: &AppState,
    auth: &UiAuth,
    id: EncounterId,
    typed: StatusForm,
    moved: Option<MoveForm>,
    error: Option<Refused>,
) -> PageResult {
    let nav = || Some(auth.nav("/day"));
    let fail = |e| ui_error(e, nav());
    let usecase::encounters::Visit { visit: e, client_name, session, course } =
        usecase::encounters::visit(state, &api_auth(auth), id).await.map_err(|e| match e {
            AppError::NotFound(_) => not_found(auth, "visit"),
            e => fail(e),
        })?;
    let visit_staff: Vec<kairos_domain::ids::StaffId> = e.staff_id.into_iter().collect();
    let (site, rooms, staff, names) = tokio::try_join!(
        usecase::directory::site(state, e.site_id),
        usecase::directory::rooms(state, e.site_id),
        usecase::directory::bookable_staff(state),
        usecase::directory::staff_names(state, &visit_staff),
    )
    .map_err(fail)?;
    let tz = site.time_zone.tz();
    let at = |t: jiff::Timestamp| t.to_zoned(tz.clone()).strftime("%a %-d %b %Y, %H:%M %Z").to_string();
    let course = match course {
        Some(c) => {
            let title = state.config.protocols.get(&c.protocol).map(|p| p.name.clone()).unwrap_or(c.protocol);
            format!("{title} ({})", c.phase)
        }
        None => "—".into(),
    };
    let moved = moved.unwrap_or_else(|| MoveForm {
        start: e.scheduled_start.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M").to_string(),
        minutes: e.duration().as_mins().to_string(),
        room_id: e.room_id.map(|r| r.to_string()).unwrap_or_default(),
        staff_id: e.staff_id.map(|s| s.to_string()).unwrap_or_default(),
    });
    let page = render(&VisitPage {
        nav: nav(),
        id,
        client_id: e.client_id,
        client: client_name,
        kind: e.kind.label(),
        when: format!("{}–{}", at(e.scheduled_start), e.scheduled_end.to_zoned(tz.clone()).strftime("%H:%M")),
        site: site.name.clone(),
        room: e.room_id.and_then(|r| rooms.iter().find(|x| x.id == r)).map(|r| r.name.clone()).unwrap_or("—".into()),
        staff: e.staff_id.and_then(|s| names.get(&s).cloned()).unwrap_or("—".into()),
        course,
        status: e.status.as_str(),
        status_label: super::pages::status_label(e.status),
        status_reason: e.status_reason.clone(),
        arrived_at: e.actual_start.map(at),
        ended_at: e.actual_end.map(at),
        next: next_action(auth, &e, session),
        missing_session: e.kind == EncounterKind::Dosing && e.status == EncounterStatus::Completed && session.is_none(),
        can_book: auth.staff.roles.allow(Permission::BookEncounters),
        booked: e.status == EncounterStatus::Booked,
        open: !e.status.is_closed(),
        note_kinds: kairos_domain::notes::NoteKind::for_encounter(e.kind)
            .into_iter()
            .map(|k| (k.as_str().to_string(), state.config.note_templates.get(k).label.clone()))
            .collect(),
        can_write_note: auth.staff.roles.allow(Permission::WriteTherapyNotes)
            && e.staff_id == Some(auth.staff.id)
            && matches!(e.status, EncounterStatus::Arrived | EncounterStatus::Completed)
            && e.kind != EncounterKind::Dosing
            && e.kind != EncounterKind::Group,
        rooms: rooms.iter().map(|r| (r.id.to_string(), r.name.clone())).collect(),
        staff_choices: staff.iter().map(|s| (s.id.to_string(), s.name.clone())).collect(),
        room_id: moved.room_id,
        staff_id: moved.staff_id,
        start_local: moved.start,
        minutes: moved.minutes.trim().parse().unwrap_or(60),
        typed,
        error: error.clone(),
    });
    Ok(with_status(page, &error))
}

pub async fn visit(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let id: EncounterId = id.parse().map_err(|_| not_found(&auth, "visit"))?;
    visit_page(&state, &auth, id, StatusForm::default(), None, None).await
}

/// Checks in, completes, cancels (with its reason) or marks a no-show;
/// then back to the page the button was on (the day view, the chart).
pub async fn change_status(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> PageResult {
    let id: EncounterId = id.parse().map_err(|_| not_found(&auth, "visit"))?;
    let to = match EncounterStatus::parse("status", form.status.trim()) {
        Ok(s) => s,
        Err(e) => return visit_page(&state, &auth, id, form, None, Some(AppError::from(e).into())).await,
    };
    let reason = Some(form.reason.as_str()).filter(|r| !r.trim().is_empty());
    match usecase::encounters::change_status(&state, &api_auth(&auth), id, to, reason).await {
        Ok(_) => {
            let back =
                if form.back.is_empty() { format!("/encounters/{id}") } else { super::pages::safe_next(&form.back) };
            Ok(Redirect::to(&back).into_response())
        }
        Err(AppError::NotFound(_)) => Err(not_found(&auth, "visit")),
        Err(e) => visit_page(&state, &auth, id, form, None, Some(e.into())).await,
    }
}

/// Moves a booked visit to another time, room or clinician (the same
/// double-booking checks as a new booking).
pub async fn reschedule(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<MoveForm>,
) -> PageResult {
    let id: EncounterId = id.parse().map_err(|_| not_found(&auth, "visit"))?;
    let blank = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let parsed = async {
        let tz = usecase::encounters::time_zone(&state, id).await?;
        let start = start_at(&form.start, &tz)?;
        Ok::<_, AppError>(Placement {
            room_id: opt_field_id("room_id", blank(&form.room_id).as_deref())?,
            staff_id: opt_field_id("staff_id", blank(&form.staff_id).as_deref())?,
            scheduled_start: start,
            scheduled_end: start + minutes(&form.minutes)?,
        })
    }
    .await;
    let result = match parsed {
        Ok(to) => usecase::encounters::reschedule(&state, &api_auth(&auth), id, &to).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/encounters/{id}")).into_response()),
        Err(AppError::NotFound(_)) => Err(not_found(&auth, "visit")),
        Err(e) => visit_page(&state, &auth, id, StatusForm::default(), Some(form), Some(e.into())).await,
    }
}

// ---- history of a client's details -------------------------------------------

/// One change as the history page lists it.
struct HistoryChange {
    when: String,
    by: String,
    /// (field in words, before, after); an empty value reads "(none)".
    fields: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "client_history.html")]
struct HistoryPage {
    nav: Option<Nav>,
    client_id: ClientId,
    name: String,
    changes: Vec<HistoryChange>,
}

/// The words for a detail's field on the history page.
fn detail_label(field: &str) -> &'static str {
    match field {
        "given_name" => "Given name",
        "family_name" => "Family name",
        "date_of_birth" => "Date of birth",
        "pronouns" => "Pronouns",
        "email" => "E-mail",
        "phone" => "Phone",
        "address" => "Address",
        "emergency_contact_name" => "Emergency contact",
        "emergency_contact_phone" => "Emergency contact's phone",
        "status" => "Status",
        _ => "Other",
    }
}

/// Every change of a client's details, newest first, each field before and
/// after (the read is audited).
pub async fn history(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let id: ClientId = id.parse().map_err(|_| not_found(&auth, "client"))?;
    let nav = || Some(auth.nav("/clients"));
    let (client, changes, names) = match usecase::clients::history(&state, &api_auth(&auth), id).await {
        Ok(h) => h,
        Err(AppError::NotFound(_)) => return Err(not_found(&auth, "client")),
        Err(e) => return Err(ui_error(e, nav())),
    };
    let tz = state.practice_tz().await.map_err(|e| ui_error(e, nav()))?;
    let shown = |v: &str| if v.is_empty() { "(none)".to_string() } else { v.to_string() };
    let changes = changes
        .into_iter()
        .map(|c| HistoryChange {
            when: c.changed_at.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string(),
            by: match c.changed_by {
                Some(s) => names.get(&s).cloned().unwrap_or_else(|| "a staff member".into()),
                None if c.changed_by_roles.starts_with("client:") => {
                    "the client (confirming from the portal link)".into()
                }
                None => format!("the system ({})", c.changed_by_roles.trim_start_matches("system:")),
            },
            fields: c
                .changes
                .iter()
                .map(|f| (detail_label(f.field).to_string(), shown(&f.before), shown(&f.after)))
                .collect(),
        })
        .collect();
    Ok(render(&HistoryPage { nav: nav(), client_id: id, name: client.details.display_name(), changes }))
}
