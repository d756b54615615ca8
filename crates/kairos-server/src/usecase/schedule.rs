//! Schedule proposals as the coordinator reviews them.

use super::require;
use crate::api::schedule::{ProposalView, view};
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::ids::ProposalId;
use kairos_domain::roles::Permission;
use kairos_store::proposals::Proposal;

/// The latest proposals, newest first.
pub async fn recent(state: &AppState, caller: &Auth) -> AppResult<Vec<Proposal>> {
    require(caller, Permission::BookEncounters)?;
    Ok(state.store.proposals(30).await?)
}

/// A proposal with its plan, named for people (the clients it names are
/// audited by `api::schedule::view`).
pub async fn proposal(state: &AppState, caller: &Auth, id: ProposalId) -> AppResult<(Proposal, ProposalView)> {
    require(caller, Permission::BookEncounters)?;
    let p = state.store.proposal(id).await?;
    let v = view(state, &caller.actor(), &p).await?;
    Ok((p, v))
}
