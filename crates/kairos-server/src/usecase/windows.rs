//! The plasticity window of each dose: a client's doses with their windows
//! and where each therapy session fell, and the doses whose window is open
//! with no integration session booked.

use super::require;
use crate::api::notes::{ClientWindows, DoseWindowView, client_windows, closing_windows};
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use jiff::Timestamp;
use kairos_domain::ids::ClientId;
use kairos_domain::roles::Permission;
use kairos_store::{Action, AuditEntry};

/// A client's doses with their windows and therapy encounters with where
/// they fell, and the client's display name; the read is audited.
pub async fn of_client(
    state: &AppState,
    caller: &Auth,
    client: ClientId,
    now: Timestamp,
) -> AppResult<(String, ClientWindows)> {
    require(caller, Permission::ReadClients)?;
    let name = super::clients::name(state, client).await?;
    let w = client_windows(state, client, now).await?;
    state
        .store
        .audit_read(&caller.actor(), AuditEntry::new(Action::Read, "dose_windows", client).client(client))
        .await?;
    Ok((name, w))
}

/// Doses whose window is open with no integration session booked, the
/// soonest to close first; each dose listed is audited as a read of its
/// client's record.
pub async fn unbooked(state: &AppState, caller: &Auth, now: Timestamp) -> AppResult<Vec<DoseWindowView>> {
    require(caller, Permission::ReadClients)?;
    let list = closing_windows(state, now).await?;
    let entries: Vec<AuditEntry> = list
        .iter()
        .map(|d| {
            AuditEntry::new(Action::Read, "dose_windows", d.encounter_id).client(d.client_id).detail("unbooked window")
        })
        .collect();
    state.store.audit_reads(&caller.actor(), &entries).await?;
    Ok(list)
}

/// One page of [`unbooked`] (`limit` from `offset`, soonest to close
/// first) and how many there are in all; only the doses shown are audited.
pub async fn unbooked_page(
    state: &AppState,
    caller: &Auth,
    now: Timestamp,
    offset: usize,
    limit: usize,
) -> AppResult<(usize, Vec<DoseWindowView>)> {
    require(caller, Permission::ReadClients)?;
    let list = closing_windows(state, now).await?;
    let total = list.len();
    let shown: Vec<DoseWindowView> = list.into_iter().skip(offset).take(limit).collect();
    let entries: Vec<AuditEntry> = shown
        .iter()
        .map(|d| {
            AuditEntry::new(Action::Read, "dose_windows", d.encounter_id).client(d.client_id).detail("unbooked window")
        })
        .collect();
    state.store.audit_reads(&caller.actor(), &entries).await?;
    Ok((total, shown))
}
