//! The audit log, for those who review it.

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::roles::Permission;
use kairos_store::{AuditQuery, AuditRecord, Page};

/// A page of the audit log, newest first. Reading the log is itself
/// audited (after the page is read, so a page never lists its own reading):
/// a list entry with the filter, under the client when the filter names one,
/// so a client's own audit trail shows who reviewed it.
pub async fn list(state: &AppState, caller: &Auth, q: &AuditQuery) -> AppResult<Page<AuditRecord>> {
    require(caller, Permission::ReadAudit)?;
    let page = state.store.list_audit(q).await?;
    let mut filter = Vec::new();
    if let Some(a) = q.actor_id {
        filter.push(format!("actor {a}"));
    }
    if let Some(a) = &q.action {
        filter.push(format!("action {a}"));
    }
    if let Some(f) = q.from {
        filter.push(format!("from {f}"));
    }
    if let Some(t) = q.to {
        filter.push(format!("to {t}"));
    }
    filter.push(format!("offset {}, {} shown", q.page.offset, page.items.len()));
    let mut entry =
        kairos_store::AuditEntry::new(kairos_store::Action::List, "audit_log", "page").detail(filter.join("; "));
    if let Some(c) = q.client_id {
        entry = entry.client(c);
    }
    state.store.audit_read(&caller.actor(), entry).await?;
    Ok(page)
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

/// The latest verification of the audit log's chain (at the server's
/// start, or since), for the reviewer's page.
pub fn verification(state: &AppState, caller: &Auth) -> AppResult<Option<kairos_store::ChainReport>> {
    require(caller, Permission::ReadAudit)?;
    Ok(state.store.audit_verification())
}
