//! Psychotherapy notes as a page reads them (the API's read rule and audit,
//! `api::notes::visible_note`), and what a draft's form needs.

use crate::api::notes::{NoteView, visible_note};
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::ids::{NoteId, StaffId};
use kairos_domain::notes::{NoteKind, WetFields};
use std::collections::HashMap;

/// A note as one viewer may see it, with whom it is about and who amended it.
pub struct NoteRead {
    /// What the viewer may see of the note (403 when nothing); audited.
    pub note: NoteView,
    pub client_name: String,
    /// The names of those who amended it (shown to full readers only).
    pub amended_by: HashMap<StaffId, String>,
}

/// One note for its page (see [`NoteRead`]).
pub async fn read(state: &AppState, caller: &Auth, id: NoteId) -> AppResult<NoteRead> {
    let note = visible_note(state, caller, id).await?;
    let client_name = super::clients::name(state, note.client_id).await?;
    let amenders: Vec<StaffId> = note.amendments.iter().flatten().map(|a| a.by).collect();
    let amended_by = state.store.staff_names(&amenders).await?;
    Ok(NoteRead { note, client_name, amended_by })
}

/// What a draft's form needs to be read back into a note: its kind, and its
/// WET fields (the writing block's start is kept across saves). Nothing of
/// the note's text is returned.
pub async fn form_basis(state: &AppState, id: NoteId) -> AppResult<(NoteKind, Option<WetFields>)> {
    let n = state.store.get_note(id).await?;
    Ok((n.kind, n.wet))
}

/// Drafts a note on one of the client's sessions; the author is the caller,
/// who must be the session's or the course's therapist or the course
/// therapist's supervisor, once the session has started
/// (`kairos_domain::notes::may_write`, decided in the write transaction).
pub async fn create(
    state: &AppState,
    caller: &Auth,
    client: kairos_domain::ids::ClientId,
    body: &crate::api::notes::NewNoteInput,
) -> AppResult<kairos_store::notes::Note> {
    super::require(caller, kairos_domain::roles::Permission::WriteTherapyNotes)?;
    let encounter_id = crate::api::field_id("encounter_id", &body.encounter_id)?;
    let note_body = body.body.validate(body.kind, state)?;
    let (writer, now) = (caller.staff.id, state.now());
    Ok(state
        .store
        .create_note(
            &caller.actor(),
            &kairos_store::notes::NewNote { client_id: client, encounter_id, kind: body.kind, body: note_body },
            |s| kairos_domain::notes::may_write(s, writer, now),
        )
        .await?)
}

/// Saves a draft's text (its author only; a signed note is amended instead).
pub async fn save_draft(
    state: &AppState,
    caller: &Auth,
    id: NoteId,
    body: &crate::api::notes::NoteBodyInput,
) -> AppResult<kairos_store::notes::Note> {
    super::require(caller, kairos_domain::roles::Permission::WriteTherapyNotes)?;
    let n = state.store.get_note(id).await?;
    kairos_domain::notes::author_only(n.author_id, caller.staff.id, kairos_domain::notes::Change::Save)?;
    let note_body = body.validate(n.kind, state)?;
    Ok(state.store.update_note_draft(&caller.actor(), id, &note_body).await?)
}

/// Signs a draft (its author only) once its template's required sections,
/// the summary and any WET measurements are filled; it never changes after.
pub async fn sign(state: &AppState, caller: &Auth, id: NoteId) -> AppResult<kairos_store::notes::Note> {
    super::require(caller, kairos_domain::roles::Permission::WriteTherapyNotes)?;
    let n = state.store.get_note(id).await?;
    kairos_domain::notes::author_only(n.author_id, caller.staff.id, kairos_domain::notes::Change::Sign)?;
    let templates = state.config.note_templates.clone();
    Ok(state
        .store
        .sign_note(&caller.actor(), id, |n| {
            let body = kairos_domain::notes::NoteBody {
                sections: n.sections.clone(),
                summary: n.summary.clone(),
                wet: n.wet.clone(),
                narrative: n.narrative.clone(),
            };
            body.ready_to_sign(n.kind, &templates)
        })
        .await?)
}

/// Amends a signed note (its author only): the original stays, and the
/// amendment shows who, when and why.
pub async fn amend(
    state: &AppState,
    caller: &Auth,
    id: NoteId,
    a: &kairos_domain::notes::NoteAmendment,
) -> AppResult<kairos_store::notes::NoteAmendmentRecord> {
    super::require(caller, kairos_domain::roles::Permission::WriteTherapyNotes)?;
    let a = a.validate()?;
    let n = state.store.get_note(id).await?;
    kairos_domain::notes::author_only(n.author_id, caller.staff.id, kairos_domain::notes::Change::Amend)?;
    Ok(state.store.amend_note(&caller.actor(), id, &a).await?)
}
