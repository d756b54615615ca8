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
