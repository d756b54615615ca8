//! Booking: book, move and change the status of a visit (arrived,
//! completed, cancelled, no-show).

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::Refusal;
use kairos_domain::encounter::{Encounter, EncounterStatus, NewEncounter, check_interval};
use kairos_domain::ids::EncounterId;
use kairos_domain::roles::Permission;
use kairos_store::encounters::Placement;

/// Books a visit.
pub async fn book(state: &AppState, caller: &Auth, new: &NewEncounter) -> AppResult<Encounter> {
    require(caller, Permission::BookEncounters)?;
    check_interval(new.scheduled_start, new.scheduled_end, state.now()).map_err(Refusal::from)?;
    Ok(state.store.create_encounter(&caller.actor(), new).await?)
}

/// Moves a visit to another time, room or clinician.
pub async fn reschedule(state: &AppState, caller: &Auth, id: EncounterId, to: &Placement) -> AppResult<Encounter> {
    require(caller, Permission::BookEncounters)?;
    check_interval(to.scheduled_start, to.scheduled_end, state.now()).map_err(Refusal::from)?;
    Ok(state.store.reschedule_encounter(&caller.actor(), id, to).await?)
}

/// Checks the client in, completes, cancels or marks a no-show.
pub async fn change_status(
    state: &AppState,
    caller: &Auth,
    id: EncounterId,
    to: EncounterStatus,
) -> AppResult<Encounter> {
    require(caller, Permission::BookEncounters)?;
    Ok(state.store.change_encounter_status(&caller.actor(), id, to).await?)
}
