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
