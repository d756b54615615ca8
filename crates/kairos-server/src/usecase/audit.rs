//! The audit log, for those who review it.

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::roles::Permission;
use kairos_store::{AuditQuery, AuditRecord, Page};

/// A page of the audit log, newest first.
pub async fn list(state: &AppState, caller: &Auth, q: &AuditQuery) -> AppResult<Page<AuditRecord>> {
    require(caller, Permission::ReadAudit)?;
    Ok(state.store.list_audit(q).await?)
}

/// Clients whose name starts with `name`, for the reviewer's filter (at
/// most 20; the lookup is audited as a list read by the reviewer).
pub async fn find_clients(
    state: &AppState,
    caller: &Auth,
    name: &str,
) -> AppResult<Vec<kairos_domain::client::Client>> {
    require(caller, Permission::ReadAudit)?;
    let page = kairos_store::PageRequest { limit: 20, offset: 0 };
    Ok(state.store.search_clients(&caller.actor(), Some(name), None, page).await?.items)
}

/// Every staff account (id and name), for the reviewer's filter and to
/// name who did what.
pub async fn staff(state: &AppState, caller: &Auth) -> AppResult<Vec<kairos_domain::staff::Staff>> {
    require(caller, Permission::ReadAudit)?;
    Ok(state.store.all_staff().await?)
}

/// Records that the reviewer exported entries of the log.
pub async fn exported(state: &AppState, caller: &Auth, entries: usize) -> AppResult<()> {
    require(caller, Permission::ReadAudit)?;
    let entry = kairos_store::AuditEntry::new(kairos_store::Action::List, "audit_log", "csv")
        .detail(format!("exported {entries} entries"));
    Ok(state.store.audit_read(&caller.actor(), entry).await?)
}
