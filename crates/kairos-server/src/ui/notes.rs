//! Psychotherapy note pages (draft → sign → amend; the WET form with its
//! 30-minute writing block shown as start and end times, no JavaScript), a
//! client's doses with their integration windows, and the doses whose
//! window is open with no integration session booked.

use super::form::Refused;
use super::{Nav, UiAuth, api_auth, detail, page_error, render, ui_error};
use crate::api::notes::{self as api, DoseWindowView, NoteBodyInput, NoteView};
use crate::error::AppError;
use crate::state::AppState;
use crate::usecase;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kairos_domain::Refusal;
use kairos_domain::ids::{ClientId, EncounterId, NoteId};
use kairos_domain::notes::{Access, NoteAmendment, NoteKind, NoteStatus, WET_WRITING_MINUTES, WetFields};
use kairos_domain::roles::Permission;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::HashMap;

type PageResult = Result<Response, Response>;

fn local(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%a %-d %b %Y %H:%M %Z").to_string()
}

fn hm(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%H:%M").to_string()
}

/// The time zone of the session a note is about (its site's).
async fn tz_of(state: &AppState, session: kairos_domain::ids::EncounterId) -> TimeZone {
    usecase::encounters::time_zone(state, session).await.unwrap_or(TimeZone::UTC)
}

pub struct SectionField {
    pub id: String,
    pub label: String,
    pub hint: String,
    pub required: bool,
    pub text: String,
}

#[derive(Template)]
#[template(path = "notes.html")]
struct NotePage {
    nav: Option<Nav>,
    note: NoteView,
    kind_label: String,
    client: String,
    editable: bool,
    can_amend: bool,
    fields: Vec<SectionField>,
    wet: Option<WetFields>,
    /// (start, planned end) of the writing block, clinic time.
    timer: Option<(String, String)>,
    signed_at: String,
    amendments: Vec<(String, String, String, String)>,
    error: Option<String>,
}

fn note_id(auth: &UiAuth, id: &str) -> Result<NoteId, Response> {
    id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such note.", Some(auth.nav("/clients"))))
}

async fn note_page(state: &AppState, auth: &UiAuth, id: NoteId, error: Option<String>) -> PageResult {
    note_page_kept(state, auth, id, error, None).await
}

/// The note; after a refused save, the draft shows what was typed (`kept`),
/// not what was last saved.
async fn note_page_kept(
    state: &AppState,
    auth: &UiAuth,
    id: NoteId,
    error: Option<String>,
    kept: Option<&NoteForm>,
) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let usecase::notes::NoteRead { mut note, client_name, amended_by: names } =
        usecase::notes::read(state, &api_auth(auth), id).await.map_err(|e| ui_error(e, nav()))?;
    let tz = tz_of(state, note.encounter_id).await;
    let template = state.config.note_templates.get(note.kind);
    let editable = note.access == Access::Author && note.status == NoteStatus::Draft;
    let mut texts: BTreeMap<String, String> =
        note.sections.iter().flatten().map(|s| (s.id.clone(), s.text.clone())).collect();
    if let (true, Some(k)) = (editable, kept) {
        for s in &template.sections {
            if let Some(t) = k.sections.get(&format!("section_{}", s.id)) {
                texts.insert(s.id.clone(), t.clone());
            }
        }
        if k.summary.is_some() {
            note.summary = k.summary.clone();
        }
        if k.narrative.is_some() {
            note.narrative = k.narrative.clone();
        }
    }
    let fields = if editable {
        template
            .sections
            .iter()
            .map(|s| SectionField {
                id: s.id.clone(),
                label: s.label.clone(),
                hint: s.hint.clone(),
                required: s.required,
                text: texts.get(&s.id).cloned().unwrap_or_default(),
            })
            .collect()
    } else {
        note.sections
            .iter()
            .flatten()
            .map(|s| SectionField {
                id: s.id.clone(),
                label: s.label.clone(),
                hint: String::new(),
                required: false,
                text: s.text.clone(),
            })
            .collect()
    };
    let timer = note
        .wet
        .as_ref()
        .and_then(|w| w.writing_started_at)
        .map(|t| (hm(t, &tz), hm(t + jiff::SignedDuration::from_mins(WET_WRITING_MINUTES), &tz)));
    let amendments = note
        .amendments
        .iter()
        .flatten()
        .map(|a| (local(a.at, &tz), a.by.to_string(), a.correction.clone(), a.reason.clone()))
        .collect::<Vec<_>>();
    let amendments = amendments
        .into_iter()
        .map(|(at, by, c, r)| (at, by.parse().ok().and_then(|b| names.get(&b).cloned()).unwrap_or(by), c, r))
        .collect();
    Ok(render(&NotePage {
        nav: nav(),
        kind_label: template.label.clone(),
        client: client_name,
        editable,
        can_amend: note.access == Access::Author && note.status == NoteStatus::Signed,
        fields,
        wet: note.wet.clone(),
        timer,
        signed_at: note.signed_at.map(|t| local(t, &tz)).unwrap_or_default(),
        amendments,
        note,
        error,
    }))
}

pub async fn show(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    let id = note_id(&auth, &id)?;
    note_page(&state, &auth, id, None).await
}

/// A note as typed: its kind (when starting one), each section's text
/// (`section_<id>`, as the kind's template lists them), the summary, and for
/// written exposure therapy its session, prompt, timing and distress ratings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NoteForm {
    pub kind: String,
    pub action: String,
    pub summary: Option<String>,
    pub narrative: Option<String>,
    pub session_number: String,
    pub prompt_id: String,
    pub writing_minutes: String,
    pub suds_before: String,
    pub suds_after: String,
    #[serde(flatten)]
    pub sections: BTreeMap<String, String>,
}

/// The note's body from the form; a number that does not parse is refused
/// naming its field.
fn body_of(
    form: &NoteForm,
    kind: NoteKind,
    state: &AppState,
    old: Option<&WetFields>,
) -> Result<NoteBodyInput, Refusal> {
    use super::form::whole;
    let template = state.config.note_templates.get(kind);
    let sections: BTreeMap<String, String> = template
        .sections
        .iter()
        .filter_map(|s| form.sections.get(&format!("section_{}", s.id)).map(|v| (s.id.clone(), v.clone())))
        .collect();
    let wet = if kind == NoteKind::Wet {
        Some(WetFields {
            session_number: whole("wet.session_number", "WET session", &form.session_number)?.unwrap_or(0),
            prompt_id: form.prompt_id.clone(),
            writing_started_at: old.and_then(|w| w.writing_started_at),
            writing_minutes: whole("wet.writing_minutes", "Minutes of writing", &form.writing_minutes)?,
            suds_before: whole("wet.suds_before", "Distress before (SUDS)", &form.suds_before)?,
            suds_after: whole("wet.suds_after", "Distress after (SUDS)", &form.suds_after)?,
        })
    } else {
        None
    };
    Ok(NoteBodyInput {
        sections,
        summary: form.summary.clone(),
        wet,
        narrative: if kind == NoteKind::Wet { form.narrative.clone() } else { None },
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NoteAmendForm {
    pub correction: String,
    pub reason: String,
}

/// Saves a draft; `action` = `sign` signs it after saving, `start_timer`
/// stamps the start of the WET writing block.
pub async fn save(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> PageResult {
    let id = note_id(&auth, &id)?;
    let a = api_auth(&auth);
    let (kind, wet) =
        usecase::notes::form_basis(&state, id).await.map_err(|e| ui_error(e, Some(auth.nav("/clients"))))?;
    let mut body = match body_of(&form, kind, &state, wet.as_ref()) {
        Ok(b) => b,
        Err(r) => return note_page_kept(&state, &auth, id, Some(r.message), Some(&form)).await,
    };
    let action = if form.action.is_empty() { "save" } else { form.action.as_str() };
    if action == "start_timer"
        && let Some(w) = body.wet.as_mut()
    {
        w.writing_started_at = Some(state.now());
    }
    if let Err(e) = usecase::notes::save_draft(&state, &a, id, &body).await {
        return match e {
            AppError::Forbidden(m) => Err(page_error(StatusCode::FORBIDDEN, &m, Some(auth.nav("/clients")))),
            e => note_page_kept(&state, &auth, id, Some(detail(e)), Some(&form)).await,
        };
    }
    if action == "sign"
        && let Err(e) = usecase::notes::sign(&state, &a, id).await
    {
        return note_page(&state, &auth, id, Some(detail(e))).await;
    }
    Ok(Redirect::to(&format!("/notes/{id}")).into_response())
}

pub async fn amend(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<NoteAmendForm>,
) -> PageResult {
    let id = note_id(&auth, &id)?;
    let a = NoteAmendment { correction: form.correction, reason: form.reason };
    match usecase::notes::amend(&state, &api_auth(&auth), id, &a).await {
        Ok(_) => Ok(Redirect::to(&format!("/notes/{id}")).into_response()),
        Err(AppError::Forbidden(m)) => Err(page_error(StatusCode::FORBIDDEN, &m, Some(auth.nav("/clients")))),
        Err(e) => note_page(&state, &auth, id, Some(detail(e))).await,
    }
}

/// Starts a note on an encounter: picks the kind (and, for WET, the
/// session number and prompt id) and creates the draft.
pub async fn create(
    State(state): State<AppState>,
    auth: UiAuth,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> PageResult {
    let nav = || Some(auth.nav("/clients"));
    let enc: EncounterId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such encounter.", nav()))?;
    let e = usecase::encounters::find(&state, enc).await.map_err(|e| ui_error(e, nav()))?;
    let refuse = |r: Refused| Err(page_error(r.status, &r.message, nav()));
    let kind = match NoteKind::parse("kind", form.kind.trim()) {
        Ok(k) => k,
        Err(_) => return refuse(Refusal::invalid("kind", "choose the kind of note").into()),
    };
    let body = match body_of(&form, kind, &state, None) {
        Ok(b) => api::NewNoteInput { encounter_id: enc.to_string(), kind, body: b },
        Err(r) => return refuse(r.into()),
    };
    match usecase::notes::create(&state, &api_auth(&auth), e.client_id, &body).await {
        Ok(n) => Ok(Redirect::to(&format!("/notes/{}", n.id)).into_response()),
        Err(err) => refuse(err.into()),
    }
}

pub struct DoseRow {
    pub number: u32,
    pub dose_at: String,
    pub preferred: String,
    pub closes: String,
    pub session: String,
    pub status: String,
    pub ok: bool,
    pub needs_booking: bool,
    pub confirmed: bool,
    pub client_id: ClientId,
    pub client: String,
    /// The dosing encounter, for booking its integration session.
    pub encounter_id: EncounterId,
    /// A suggested start (`datetime-local`, clinic time): the preferred
    /// window's start, or the next quarter hour when that has passed.
    pub suggest: String,
    /// "closes in 5 h 20 min", for a window closing within a day.
    pub closes_in: Option<String>,
    /// The booking form's choices: the dose site's therapy rooms (id, name),
    /// the therapists offered (the course's, and the signed-in therapist),
    /// and the preselected one (the course's).
    pub rooms: Vec<(String, String)>,
    pub therapists: Vec<(String, String)>,
    pub therapist: String,
    /// Set when no time inside the site's and the therapist's hours is left
    /// before the window closes.
    pub no_time_in_hours: bool,
}

pub(crate) fn dose_row(d: &DoseWindowView, tz: &TimeZone, client: String, now: Timestamp) -> DoseRow {
    let quarter = jiff::SignedDuration::from_mins(15);
    let next = Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(900)).unwrap_or(now) + quarter;
    let suggest = d.window.preferred_from.max(next).to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M").to_string();
    let left = d.window.closes_at.duration_since(now);
    let closes_in = (left > jiff::SignedDuration::ZERO && left <= jiff::SignedDuration::from_hours(24)).then(|| {
        let mins = left.as_mins();
        format!("closes in {} h {:02} min", mins / 60, mins % 60)
    });
    DoseRow {
        encounter_id: d.encounter_id,
        suggest,
        closes_in,
        rooms: Vec::new(),
        therapists: Vec::new(),
        therapist: String::new(),
        no_time_in_hours: false,
        number: d.number,
        dose_at: local(d.window.dose_start, tz),
        preferred: format!("{} – {}", local(d.window.preferred_from, tz), local(d.window.preferred_to, tz)),
        closes: local(d.window.closes_at, tz),
        session: match (d.session_start, d.session_position) {
            (Some(t), Some(p)) => format!("{} ({})", local(t, tz), p.label()),
            _ => "none".into(),
        },
        status: d.status.label().to_string(),
        ok: d.status.is_ok(),
        needs_booking: d.needs_booking,
        confirmed: d.window_confirmed,
        client_id: d.client_id,
        client,
    }
}

pub struct EncounterRow {
    pub id: EncounterId,
    pub kind: String,
    pub at: String,
    pub position: String,
    pub note_kinds: Vec<(String, String)>,
}

pub struct NoteRow {
    pub id: NoteId,
    pub kind: String,
    pub author: String,
    pub status: String,
    pub summary: String,
}

#[derive(Template)]
#[template(path = "window.html")]
struct WindowPage {
    nav: Option<Nav>,
    client_id: ClientId,
    client: String,
    doses: Vec<DoseRow>,
    encounters: Vec<EncounterRow>,
    notes: Vec<NoteRow>,
    can_write: bool,
    can_read_notes: bool,
}

/// A client's doses and their integration windows, therapy encounters with
/// where they fell, and the notes this viewer may see.
pub async fn client_windows(State(state): State<AppState>, auth: UiAuth, Path(id): Path<String>) -> PageResult {
    auth.require(Permission::ReadClients)?;
    let nav = || Some(auth.nav("/clients"));
    let id: ClientId = id.parse().map_err(|_| page_error(StatusCode::NOT_FOUND, "No such client.", nav()))?;
    let a = api_auth(&auth);
    let (name, w) = usecase::windows::of_client(&state, &a, id, state.now()).await.map_err(|e| ui_error(e, nav()))?;
    let tz = state.client_tz(id).await.map_err(|e| ui_error(e, nav()))?;
    let can_read_notes =
        auth.staff.roles.allow(Permission::ReadTherapyNotes) || auth.staff.roles.allow(Permission::ReadNoteSummaries);
    let notes = if can_read_notes {
        api::visible_notes(&state, &a, id).await.map_err(|e| ui_error(e, nav()))?
    } else {
        Vec::new()
    };
    Ok(render(&WindowPage {
        nav: nav(),
        client_id: id,
        doses: w.doses.iter().map(|d| dose_row(d, &tz, name.clone(), state.now())).collect(),
        encounters: w
            .encounters
            .iter()
            .map(|e| EncounterRow {
                id: e.encounter_id,
                kind: e.kind.label().to_string(),
                at: local(e.start, &tz),
                position: match (e.position, e.hours_after_dose) {
                    (Some(p), Some(h)) => format!("{} ({h} h after the dose)", p.label()),
                    _ => "no dose before it".into(),
                },
                note_kinds: NoteKind::for_encounter(e.kind)
                    .into_iter()
                    .map(|k| (k.as_str().to_string(), state.config.note_templates.get(k).label.clone()))
                    .collect(),
            })
            .collect(),
        notes: notes
            .into_iter()
            .map(|n| NoteRow {
                id: n.id,
                kind: state.config.note_templates.get(n.kind).label.clone(),
                author: n.author_name,
                status: n.status.as_str().to_string(),
                summary: n.summary.unwrap_or_default(),
            })
            .collect(),
        client: name,
        can_write: auth.staff.roles.allow(Permission::WriteTherapyNotes),
        can_read_notes,
    }))
}

#[derive(Template)]
#[template(path = "window_unbooked.html")]
struct UnbookedPage {
    nav: Option<Nav>,
    doses: Vec<DoseRow>,
    can_book: bool,
    error: Option<String>,
    /// How many windows are closing in all, and the first shown (1-based).
    total: usize,
    first: usize,
    prev: Option<String>,
    next: Option<String>,
}

/// Windows shown per page of the closing list.
const UNBOOKED_PAGE: usize = 50;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UnbookedQuery {
    pub offset: Option<usize>,
}

async fn unbooked_page(state: &AppState, auth: &UiAuth, offset: usize, error: Option<Refused>) -> PageResult {
    let nav = || Some(auth.nav("/"));
    let (total, rows) = unbooked_rows(state, auth, offset).await.map_err(|e| ui_error(e, nav()))?;
    let link = |o: usize| format!("/windows/unbooked?offset={o}");
    let status = error.as_ref().map(|e| e.status);
    let mut page = render(&UnbookedPage {
        nav: nav(),
        first: offset + 1,
        prev: (offset > 0).then(|| link(offset.saturating_sub(UNBOOKED_PAGE))),
        next: (offset + rows.len() < total).then(|| link(offset + UNBOOKED_PAGE)),
        total,
        doses: rows,
        can_book: auth.staff.roles.allow(Permission::BookEncounters),
        error: error.map(|e| e.message),
    });
    if let Some(s) = status {
        *page.status_mut() = s;
    }
    Ok(page)
}

/// Doses whose window is open with no integration session booked.
pub async fn unbooked(
    State(state): State<AppState>,
    auth: UiAuth,
    crate::extract::Query(q): crate::extract::Query<UnbookedQuery>,
) -> PageResult {
    auth.require(Permission::ReadClients)?;
    unbooked_page(&state, &auth, q.offset.unwrap_or(0), None).await
}

/// Books the integration session of a dose from the unbooked list: the
/// client, course and site of the dose, the signed-in therapist (else the
/// course's therapist), at the chosen clinic-local time, for the template's
/// usual hour.
/// The integration-session booking form on the unbooked list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BookIntegrationForm {
    /// The dosing visit whose window the session falls in.
    pub dose: String,
    /// `datetime-local`, in the dose's site's time zone.
    pub start: String,
    /// The therapist (blank: the caller when a therapist, else the course's).
    pub therapist: String,
    /// A therapy room at the dose's site (optional).
    pub room: String,
}

pub async fn book_integration(
    State(state): State<AppState>,
    auth: UiAuth,
    Form(form): Form<BookIntegrationForm>,
) -> PageResult {
    let result: Result<(), Refused> = async {
        let dose: EncounterId =
            form.dose.trim().parse().map_err(|_| Refused::from(Refusal::invalid("dose", "choose a dose")))?;
        let dose = usecase::encounters::find(&state, dose).await?;
        let tz = state.site_tz(dose.site_id).await?;
        let start = super::form::local_time("start", "Session start", &form.start, &tz)?
            .ok_or_else(|| Refusal::invalid("start", "give the date and time of the session"))?;
        let blank = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        let therapist = crate::api::opt_field_id("therapist", blank(&form.therapist).as_deref())?;
        let room = crate::api::opt_field_id("room", blank(&form.room).as_deref())?;
        usecase::encounters::book_integration(&state, &api_auth(&auth), &dose, start, therapist, room).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(Redirect::to("/windows/unbooked").into_response()),
        Err(r) => unbooked_page(&state, &auth, 0, Some(r)).await,
    }
}

/// The unbooked windows as rows (audited: one entry per dose shown).
/// Doses whose window is open with no session booked, each in its client's
/// time zone.
pub async fn unbooked_rows(state: &AppState, auth: &UiAuth, offset: usize) -> Result<(usize, Vec<DoseRow>), AppError> {
    let (total, list) =
        usecase::windows::unbooked_page(state, &api_auth(auth), state.now(), offset, UNBOOKED_PAGE).await?;
    let clients: Vec<_> = list.iter().map(|d| d.client_id).collect();
    let names = usecase::clients::names(state, &clients).await?;
    let sites: Vec<_> = list.iter().map(|d| d.site_id).collect();
    let courses: Vec<_> = list.iter().filter_map(|d| d.course_id).collect();
    let choices = usecase::encounters::booking_choices(state, &sites, &courses).await?;
    let mut zones = HashMap::new();
    for site in &sites {
        if !zones.contains_key(site) {
            zones.insert(*site, state.site_tz(*site).await?);
        }
    }
    let now = state.now();
    let quarter = jiff::SignedDuration::from_mins(15);
    let next = Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(900)).unwrap_or(now) + quarter;
    // What the suggested times step around: the bookings of the rows'
    // therapists and clients while the windows are open.
    let therapists: Vec<_> =
        list.iter().filter_map(|d| d.course_id.and_then(|c| choices.course_therapist.get(&c))).copied().collect();
    let (first, last) =
        (list.iter().map(|d| d.window.preferred_from.max(next)).min(), list.iter().map(|d| d.window.closes_at).max());
    let busy = match (first, last) {
        (Some(from), Some(to)) if from < to => state.store.busy_times(&therapists, &clients, from, to).await?,
        _ => Vec::new(),
    };
    let rows = list
        .iter()
        .map(|d| {
            let tz = zones.get(&d.site_id).cloned().unwrap_or(TimeZone::UTC);
            let mut row = dose_row(d, &tz, names.get(&d.client_id).cloned().unwrap_or_default(), now);
            let therapist = d.course_id.and_then(|c| choices.course_therapist.get(&c)).copied();
            row.therapist = therapist.map(|t| t.to_string()).unwrap_or_default();
            // The course's therapist and the signed-in one: any other is
            // chosen on the full booking form (a page of every therapist in
            // each row would be most of the page).
            let me = auth.staff.roles.contains(kairos_domain::roles::Role::Therapist).then_some(auth.staff.id);
            let mut offered: Vec<_> = therapist.into_iter().chain(me).collect();
            offered.dedup();
            row.therapists = offered
                .iter()
                .filter_map(|id| choices.therapists.iter().find(|t| t.id == *id))
                .map(|t| (t.id.to_string(), t.name.clone()))
                .collect();
            row.rooms = choices
                .rooms
                .get(&d.site_id)
                .map(|rs| rs.iter().map(|r| (r.id.to_string(), r.name.clone())).collect())
                .unwrap_or_default();
            // The first hour inside the site's hours (and the therapist's)
            // from the preferred start, before the window closes, when
            // neither the therapist nor the client is booked.
            let site_hours = choices.site_hours.get(&d.site_id).map(Vec::as_slice).unwrap_or(&[]);
            let person = therapist.and_then(|t| choices.staff_hours.get(&(d.site_id, t))).map(Vec::as_slice);
            let local = |t: Timestamp| t.to_zoned(tz.clone()).datetime();
            let from = local(d.window.preferred_from.max(next));
            let until = local(d.window.closes_at);
            let taken: Vec<kairos_schedule::Period> = busy
                .iter()
                .filter(|b| b.client_id == d.client_id || (therapist.is_some() && b.staff_id == therapist))
                .map(|b| kairos_schedule::Period { from: local(b.start), to: local(b.end) })
                .collect();
            let hour = jiff::SignedDuration::from_hours(1);
            match kairos_schedule::first_open_slot(site_hours, person, &taken, from, until, hour) {
                Some(t) => row.suggest = t.strftime("%Y-%m-%dT%H:%M").to_string(),
                None => row.no_time_in_hours = true,
            }
            row
        })
        .collect();
    Ok((total, rows))
}
