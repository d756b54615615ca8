//! Process groups as their pages read them: the list and a group's
//! sessions at a glance. A group's roster, sessions in full and a client's
//! own lines are read through `api::groups` (each member shown audited).

use super::require;
use crate::api::groups::{GroupOut, group_out};
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use jiff::Timestamp;
use kairos_domain::ids::{GroupId, GroupSessionId};
use kairos_domain::roles::Permission;
use kairos_store::{Action, AuditEntry};

/// Every group: its definition and head counts, never a member's name. The
/// list read is recorded.
pub async fn list(state: &AppState, caller: &Auth) -> AppResult<Vec<GroupOut>> {
    require(caller, Permission::ReadGroups)?;
    let gs = state.store.list_groups().await?;
    let entry = AuditEntry {
        action: Action::List,
        record_type: "group",
        record_id: None,
        client_id: None,
        detail: Some(format!("{} groups", gs.len())),
    };
    state.store.audit_read(&caller.actor(), entry).await?;
    let mut out = Vec::new();
    for g in gs {
        out.push(group_out(state, caller, g).await?);
    }
    Ok(out)
}

/// One session of a group by its counts.
pub struct SessionCounts {
    pub id: GroupSessionId,
    pub starts_at: Timestamp,
    /// Members seated in it.
    pub seated: usize,
    /// Members whose attendance is recorded.
    pub recorded: usize,
    pub notes_signed: bool,
}

/// A group's sessions by their counts (no member is named, so nothing of a
/// client's record is read), soonest first.
pub async fn session_counts(state: &AppState, group: GroupId) -> AppResult<Vec<SessionCounts>> {
    Ok(state
        .store
        .list_group_sessions(group)
        .await?
        .into_iter()
        .map(|s| SessionCounts {
            id: s.id,
            starts_at: s.starts_at,
            seated: s.attendance.len(),
            recorded: s.attendance.iter().filter(|x| x.attendance.is_some()).count(),
            notes_signed: s.notes_signed_at.is_some(),
        })
        .collect())
}
