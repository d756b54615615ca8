//! Psychotherapy notes (draft → sign → amend), who supervises whom, and the
//! plasticity window of every dose and therapy encounter.
//!
//! Read rule (`kairos_domain::notes::access`): the author sees all of their
//! note, the WET narrative included; a supervisor of the author (an admin
//! names them) sees a signed note in full without the narrative; other
//! therapists and prescribers see a signed note's summary line; no one else
//! sees anything. Every note shown leaves an audit entry before the response.

use super::{field_id, path_id};
use crate::error::{AppError, AppResult};
use crate::extract::{Auth, Json};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use kairos_domain::encounter::{EncounterKind, EncounterStatus};
use kairos_domain::ids::{ClientId, CourseId, EncounterId, NoteId, StaffId};
use kairos_domain::notes::{
    Access, NoteAmendment, NoteBody, NoteInput, NoteKind, NoteStatus, SectionText, Template, Viewer, WetFields,
};
use kairos_domain::roles::Permission;
use kairos_domain::window::{self, Dose, DoseWindow, IntegrationStatus, TherapySession, WindowPosition};
use kairos_store::notes::{Note, NoteAmendmentRecord};
use kairos_store::{Action, AuditEntry};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;

/// A note as one viewer may see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoteView {
    pub id: NoteId,
    pub client_id: ClientId,
    pub encounter_id: EncounterId,
    pub author_id: StaffId,
    pub author_name: String,
    pub kind: NoteKind,
    pub status: NoteStatus,
    /// `summary`, `full` or `author` (what this viewer sees).
    #[schema(value_type = String)]
    pub access: Access,
    /// The one-line summary for the care team.
    pub summary: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub signed_at: Option<Timestamp>,
    /// Full access only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sections: Option<Vec<SectionText>>,
    /// Full access only (WET notes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wet: Option<WetFields>,
    /// The WET narrative: its author only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub narrative: Option<String>,
    /// Full access only: corrections after signing (who, when, why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amendments: Option<Vec<NoteAmendmentRecord>>,
}

fn view_of(n: Note, access: Access, author_name: String) -> NoteView {
    let full = access >= Access::Full;
    NoteView {
        id: n.id,
        client_id: n.client_id,
        encounter_id: n.encounter_id,
        author_id: n.author_id,
        author_name,
        kind: n.kind,
        status: n.status,
        access,
        summary: n.summary,
        created_at: n.created_at,
        signed_at: n.signed_at,
        sections: full.then_some(n.sections),
        wet: if full { n.wet } else { None },
        narrative: if access == Access::Author { n.narrative } else { None },
        amendments: full.then_some(n.amendments),
    }
}

/// What `auth` may see of notes by `author`s, given whom they supervise.
pub struct NoteReader {
    viewer: StaffId,
    roles: kairos_domain::roles::Roles,
    supervises: Vec<StaffId>,
}

impl NoteReader {
    /// 403 for a viewer who may see no note at all (coordinators, nurses, ...).
    pub async fn new(state: &AppState, auth: &Auth) -> AppResult<NoteReader> {
        if !auth.staff.roles.allow(Permission::ReadTherapyNotes) {
            auth.require(Permission::ReadNoteSummaries)?;
        }
        let supervises = if auth.staff.roles.allow(Permission::ReadTherapyNotes) {
            state.store.supervisees(auth.staff.id).await?
        } else {
            Vec::new()
        };
        Ok(NoteReader { viewer: auth.staff.id, roles: auth.staff.roles.clone(), supervises })
    }

    pub fn access(&self, n: &Note) -> Access {
        let viewer =
            Viewer { id: self.viewer, roles: &self.roles, supervises_author: self.supervises.contains(&n.author_id) };
        kairos_domain::notes::access(viewer, n.author_id, n.status)
    }
}

fn read_entry(n: &Note, access: Access) -> AuditEntry {
    let what = match access {
        Access::Author => "read in full as author",
        Access::Full => "read in full as supervisor",
        Access::Summary => "summary line read",
        Access::None => "not shown",
    };
    AuditEntry::new(Action::Read, "therapy_note", n.id).client(n.client_id).detail(format!("{} note: {what}", n.kind))
}

/// The notes of a client this viewer may see, newest first; each shown note
/// is audited (durably) before returning.
pub async fn visible_notes(state: &AppState, auth: &Auth, client: ClientId) -> AppResult<Vec<NoteView>> {
    let reader = NoteReader::new(state, auth).await?;
    state.store.get_client(client).await?;
    let notes = state.store.notes_of(client).await?;
    let shown: Vec<(Note, Access)> = notes
        .into_iter()
        .map(|n| (reader.access(&n), n))
        .filter(|(a, _)| *a != Access::None)
        .map(|(a, n)| (n, a))
        .collect();
    let mut entries: Vec<AuditEntry> = shown.iter().map(|(n, a)| read_entry(n, *a)).collect();
    entries.push(
        AuditEntry::new(Action::List, "therapy_note", client)
            .client(client)
            .detail(format!("{} notes shown", shown.len())),
    );
    state.store.audit_reads(&auth.actor(), &entries).await?;
    let names = state.store.staff_names(&shown.iter().map(|(n, _)| n.author_id).collect::<Vec<_>>()).await?;
    Ok(shown
        .into_iter()
        .map(|(n, a)| {
            let name = names.get(&n.author_id).cloned().unwrap_or_default();
            view_of(n, a, name)
        })
        .collect())
}

/// One note as this viewer may see it (403 when they may see none of it),
/// audited before returning.
pub async fn visible_note(state: &AppState, auth: &Auth, id: NoteId) -> AppResult<NoteView> {
    let reader = NoteReader::new(state, auth).await?;
    let n = state.store.get_note(id).await?;
    let access = reader.access(&n);
    if access == Access::None {
        return Err(AppError::Forbidden(match n.status {
            NoteStatus::Draft => "a draft note is seen by its author only".into(),
            NoteStatus::Signed => "psychotherapy notes are read by their author and the author's supervisors".into(),
        }));
    }
    state.store.audit_read(&auth.actor(), read_entry(&n, access)).await?;
    let name = state.store.staff_names(&[n.author_id]).await?.remove(&n.author_id).unwrap_or_default();
    Ok(view_of(n, access, name))
}

/// A client's psychotherapy notes, as far as the caller may see them:
/// summaries for prescribers and other therapists, full notes for the
/// author and the author's supervisors. Coordinators and nurses: 403.
#[utoipa::path(get, path = "/clients/{id}/notes", tag = "notes", params(("id" = String, Path)),
    responses((status = 200, body = Vec<NoteView>), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Vec<NoteView>>> {
    Ok(axum::Json(visible_notes(&state, &auth, path_id("client", &id)?).await?))
}

/// A draft note, or the text that replaces a draft.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBodyInput {
    /// Section id (from the template) → text.
    #[serde(default)]
    pub sections: BTreeMap<String, String>,
    /// One line for the care team (prescribers see this and nothing else).
    pub summary: Option<String>,
    /// WET notes: session number, prompt id, minutes written, SUDS before/after.
    pub wet: Option<WetFields>,
    /// WET notes: the client's narrative, private to the author (optional).
    pub narrative: Option<String>,
}

impl NoteBodyInput {
    pub fn validate(&self, kind: NoteKind, state: &AppState) -> AppResult<NoteBody> {
        let input = NoteInput {
            sections: self.sections.clone(),
            summary: self.summary.clone(),
            wet: self.wet.clone(),
            narrative: self.narrative.clone(),
        };
        Ok(input.validate(kind, &state.config.note_templates)?)
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNoteInput {
    /// The therapy encounter the note is about.
    pub encounter_id: String,
    pub kind: NoteKind,
    #[serde(flatten)]
    pub body: NoteBodyInput,
}

/// Drafts a psychotherapy note on one of the client's encounters.
#[utoipa::path(post, path = "/clients/{id}/notes", tag = "notes", params(("id" = String, Path)), request_body = NewNoteInput,
    responses((status = 201, body = NoteView), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<NewNoteInput>,
) -> AppResult<(StatusCode, axum::Json<NoteView>)> {
    let n = crate::usecase::notes::create(&state, &auth, path_id("client", &id)?, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(view_of(n, Access::Author, auth.staff.name.clone()))))
}

/// One note, as far as the caller may see it (audited).
#[utoipa::path(get, path = "/notes/{id}", tag = "notes", params(("id" = String, Path)),
    responses((status = 200, body = NoteView), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn get(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> AppResult<axum::Json<NoteView>> {
    Ok(axum::Json(visible_note(&state, &auth, path_id("therapy note", &id)?).await?))
}

/// Replaces a draft's text (its author only; a signed note is amended instead).
#[utoipa::path(put, path = "/notes/{id}", tag = "notes", params(("id" = String, Path)), request_body = NoteBodyInput,
    responses((status = 200, body = NoteView), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<NoteBodyInput>,
) -> AppResult<axum::Json<NoteView>> {
    let n = crate::usecase::notes::save_draft(&state, &auth, path_id("therapy note", &id)?, &body).await?;
    Ok(axum::Json(view_of(n, Access::Author, auth.staff.name.clone())))
}

/// Signs a draft; it never changes afterwards.
#[utoipa::path(post, path = "/notes/{id}/sign", tag = "notes", params(("id" = String, Path)),
    responses((status = 200, body = NoteView), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn sign(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<NoteView>> {
    let n = crate::usecase::notes::sign(&state, &auth, path_id("therapy note", &id)?).await?;
    Ok(axum::Json(view_of(n, Access::Author, auth.staff.name.clone())))
}

/// Amends a signed note: the original stays; the amendment shows who, when
/// and why.
#[utoipa::path(post, path = "/notes/{id}/amendments", tag = "notes", params(("id" = String, Path)), request_body = NoteAmendment,
    responses((status = 201, body = NoteAmendmentRecord), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn amend(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<NoteAmendment>,
) -> AppResult<(StatusCode, axum::Json<NoteAmendmentRecord>)> {
    let r = crate::usecase::notes::amend(&state, &auth, path_id("therapy note", &id)?, &body).await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// The clinic's note templates (one per note kind).
#[utoipa::path(get, path = "/note-templates", tag = "notes",
    responses((status = 200, body = Vec<Template>)))]
pub async fn templates(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<Template>>> {
    auth.require(Permission::ReadDirectory)?;
    Ok(axum::Json(state.config.note_templates.all().to_vec()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Supervisees {
    /// The therapists whose signed notes this therapist may read in full.
    pub therapist_ids: Vec<String>,
}

/// The therapists a therapist supervises (admins).
#[utoipa::path(get, path = "/staff/{id}/supervisees", tag = "notes", params(("id" = String, Path)),
    responses((status = 200, body = Supervisees), (status = 403, body = crate::error::Problem)))]
pub async fn get_supervisees(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Supervisees>> {
    auth.require(Permission::ManageStaff)?;
    let id: StaffId = path_id("staff member", &id)?;
    state.store.get_staff(id).await?;
    let list = state.store.supervisees(id).await?;
    Ok(axum::Json(Supervisees { therapist_ids: list.iter().map(|s| s.to_string()).collect() }))
}

/// Sets the therapists a therapist supervises (admins): a supervisor reads
/// their supervisees' signed notes in full (never a WET narrative).
#[utoipa::path(put, path = "/staff/{id}/supervisees", tag = "notes", params(("id" = String, Path)), request_body = Supervisees,
    responses((status = 200, body = Supervisees), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn set_supervisees(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<Supervisees>,
) -> AppResult<axum::Json<Supervisees>> {
    auth.require(Permission::ManageStaff)?;
    let id: StaffId = path_id("staff member", &id)?;
    let list = body.therapist_ids.iter().map(|t| field_id("therapist_ids", t)).collect::<AppResult<Vec<StaffId>>>()?;
    state.store.set_supervisees(&auth.actor(), id, &list).await?;
    let list = state.store.supervisees(id).await?;
    Ok(axum::Json(Supervisees { therapist_ids: list.iter().map(|s| s.to_string()).collect() }))
}

/// One dose with its window and its integration session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DoseWindowView {
    pub client_id: ClientId,
    pub encounter_id: EncounterId,
    /// Where the dose was given (its integration session is booked there).
    #[schema(value_type = String)]
    pub site_id: kairos_domain::ids::SiteId,
    pub course_id: Option<CourseId>,
    /// The dose's number in its course (1-based).
    pub number: u32,
    /// False: the window opens at the dosing encounter's end (no discharge charted).
    pub discharged: bool,
    /// The dosing session charted for the dose; none for a visit marked
    /// completed with no session charted (the record does not show a dose
    /// was given).
    pub dosing_session_id: Option<kairos_domain::ids::DosingSessionId>,
    pub window: DoseWindow,
    /// Where the window definition comes from (clinic default or protocol).
    pub window_source: String,
    /// Whether that definition is confirmed against a source (the default is not).
    pub window_confirmed: bool,
    /// The session counted as this dose's integration, if any.
    pub session_encounter_id: Option<EncounterId>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub session_start: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub session_position: Option<WindowPosition>,
    #[schema(value_type = String)]
    pub status: IntegrationStatus,
    /// Where now falls in the window.
    #[schema(value_type = String)]
    pub now: WindowPosition,
    /// The window is open and no integration session is booked.
    pub needs_booking: bool,
}

/// Where a therapy encounter falls after the client's last dose.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EncounterWindowView {
    pub encounter_id: EncounterId,
    #[schema(value_type = String)]
    pub kind: EncounterKind,
    #[schema(value_type = String)]
    pub status: EncounterStatus,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    /// The dosing encounter of the last dose before it.
    pub dose_encounter_id: Option<EncounterId>,
    #[schema(value_type = Option<String>)]
    pub position: Option<WindowPosition>,
    /// Elapsed hours after the dose's start.
    pub hours_after_dose: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientWindows {
    pub doses: Vec<DoseWindowView>,
    /// Therapy encounters (integration and individual therapy, not cancelled).
    pub encounters: Vec<EncounterWindowView>,
}

/// Computes a client's doses with their windows and the window position of
/// every therapy encounter (not audited; callers audit).
pub async fn client_windows(state: &AppState, client: ClientId, now: Timestamp) -> AppResult<ClientWindows> {
    let (doses, therapy) = tokio::try_join!(state.store.dose_facts(client), state.store.therapy_facts(client))?;
    windows_of(state, &doses, &therapy, now)
}

/// A client's windows from their dose and therapy facts (pure).
fn windows_of(
    state: &AppState,
    doses: &[kairos_store::notes::DoseFact],
    therapy: &[kairos_store::notes::TherapyFact],
    now: Timestamp,
) -> AppResult<ClientWindows> {
    // Each dose's number in its course, and its window definition.
    let mut per_course: HashMap<Option<CourseId>, u32> = HashMap::new();
    let mut defs = Vec::with_capacity(doses.len());
    let mut numbers = Vec::with_capacity(doses.len());
    for d in doses {
        let n = per_course.entry(d.course_id).or_insert(0);
        *n += 1;
        numbers.push(*n);
        defs.push(dose_def(state, d.protocol.as_deref(), *n));
    }
    let plain: Vec<Dose> = doses.iter().map(|d| Dose { start: d.start, end: d.end }).collect();
    let sessions: Vec<TherapySession<EncounterId>> = therapy
        .iter()
        .map(|t| TherapySession { id: t.encounter_id, start: t.start, held: t.status == EncounterStatus::Completed })
        .collect();
    let integ = window::integration(&plain, &sessions, |n| defs[(n - 1) as usize].clone(), now)?;
    let out_doses =
        doses.iter().zip(integ.iter()).enumerate().map(|(i, (d, g))| dose_view(d, numbers[i], &defs[i], g)).collect();
    let encounters = therapy
        .iter()
        .map(|t| {
            let last = window::last_dose_before(&plain, t.start);
            EncounterWindowView {
                encounter_id: t.encounter_id,
                kind: t.kind,
                status: t.status,
                start: t.start,
                dose_encounter_id: last.map(|i| doses[i].encounter_id),
                position: last.map(|i| integ[i].window.classify(t.start)),
                hours_after_dose: last.map(|i| integ[i].window.hours_after(t.start)),
            }
        })
        .collect();
    Ok(ClientWindows { doses: out_doses, encounters })
}

/// A dose's view from its fact, its number in its course, its window
/// definition and its integration.
fn dose_view(
    d: &kairos_store::notes::DoseFact,
    number: u32,
    def: &window::WindowDef,
    g: &window::DoseIntegration<EncounterId>,
) -> DoseWindowView {
    DoseWindowView {
        client_id: d.client_id,
        encounter_id: d.encounter_id,
        site_id: d.site_id,
        course_id: d.course_id,
        number,
        discharged: d.discharged,
        dosing_session_id: d.dosing_session_id,
        window: g.window,
        window_source: def.provenance.source.clone(),
        window_confirmed: def.provenance.confirmed,
        session_encounter_id: g.session.as_ref().map(|s| s.0.id),
        session_start: g.session.as_ref().map(|s| s.0.start),
        session_position: g.session.as_ref().map(|s| s.1),
        status: g.status,
        now: g.now,
        needs_booking: g.needs_booking(),
    }
}

/// The window definition of dose `number` of a course on `protocol`.
fn dose_def(state: &AppState, protocol: Option<&str>, number: u32) -> window::WindowDef {
    let protocol = protocol.and_then(|p| state.config.protocols.get(p));
    let planned = protocol.map(|p| p.doses.count).unwrap_or(u32::MAX);
    window::for_dose(protocol, number, planned, &state.config.therapy_window)
}

/// Each dose with its window (protocol's or the clinic default) and whether
/// its integration session happened (or is booked) inside it, and where each
/// therapy encounter falls after the client's last dose.
#[utoipa::path(get, path = "/clients/{id}/windows", tag = "notes", params(("id" = String, Path)),
    responses((status = 200, body = ClientWindows), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn windows(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<ClientWindows>> {
    let (_, w) = crate::usecase::windows::of_client(&state, &auth, path_id("client", &id)?, state.now()).await?;
    Ok(axum::Json(w))
}

/// Doses whose window is open with no integration session booked, the
/// soonest to close first (not audited; callers audit the clients shown).
pub async fn closing_windows(state: &AppState, now: Timestamp) -> AppResult<Vec<DoseWindowView>> {
    // No window stays open longer than the longest the clinic's protocols
    // and default allow after the dose (a day more, for a window held open
    // by a late discharge): older doses are not looked at.
    let longest = window::longest_open_hours(state.config.protocols.all(), &state.config.therapy_window);
    let since = now - SignedDuration::from_hours(longest + 24);
    // Each client's latest dose when no therapy session follows it, numbered
    // in its course (kept in the record as it changes: one range read); the
    // domain lays each one's window and says whether it is still open.
    let none: [TherapySession<EncounterId>; 0] = [];
    let mut out = Vec::new();
    for (d, number) in state.store.unbooked_doses(since).await? {
        let def = dose_def(state, d.protocol.as_deref(), number);
        let dose = Dose { start: d.start, end: d.end };
        for g in window::integration(&[dose], &none, |_| def.clone(), now)? {
            if g.needs_booking() {
                out.push(dose_view(&d, number, &def, &g));
            }
        }
    }
    out.sort_by_key(|d| (d.window.closes_at, d.encounter_id));
    Ok(out)
}

/// Doses whose window is open and closing with no integration session
/// booked, soonest to close first.
#[utoipa::path(get, path = "/windows/unbooked", tag = "notes",
    responses((status = 200, body = Vec<DoseWindowView>), (status = 403, body = crate::error::Problem)))]
pub async fn unbooked(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<DoseWindowView>>> {
    Ok(axum::Json(crate::usecase::windows::unbooked(&state, &auth, state.now()).await?))
}
