//! Emergency ("break-glass") access, ONC 170.315(d)(6): a staff member whose
//! roles do not open clinical records (by default the administrator and the
//! coordinator; `Config::break_glass_roles`) may, in an emergency, open one
//! client's emergency summary for a limited time (`break_glass_lifetime`)
//! after stating why. It is read-only and for that client alone; every
//! grant and every read under it is audited under the client, and each
//! grant waits in the director's review queue until reviewed.

use super::require;
use crate::error::{AppError, AppResult};
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::ids::{ClientId, EmergencyAccessId, StaffId};
use kairos_domain::roles::Permission;
use kairos_store::emergency::EmergencyAccess;
use kairos_store::{Action, AuditEntry};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// Whether the caller's roles may break glass at this clinic.
pub fn may_break_glass(state: &AppState, caller: &Auth) -> bool {
    caller.staff.roles.iter().any(|r| state.config.break_glass_roles.contains(&r))
}

/// Opens emergency access to a client: refused (403) to roles the clinic
/// has not named, and without a reason (422 naming `reason`).
pub async fn open(state: &AppState, caller: &Auth, client: ClientId, reason: &str) -> AppResult<EmergencyAccess> {
    if !may_break_glass(state, caller) {
        return Err(AppError::Forbidden(
            "emergency access is not open to your roles at this clinic; ask a clinician".into(),
        ));
    }
    let reason = kairos_domain::text::required("reason", reason, 1000)?;
    Ok(state.store.grant_emergency_access(&caller.actor(), client, &reason, state.config.break_glass_lifetime).await?)
}

/// What a staff member sees in an emergency: who the client is, whom to
/// call, allergies, medicines and weight from the latest screen, the
/// client's courses and open safety alerts, and their visits.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmergencySummary {
    pub access: EmergencyAccess,
    pub name: String,
    #[schema(format = Date)]
    pub date_of_birth: String,
    pub pronouns: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub emergency_contact_name: Option<String>,
    pub emergency_contact_phone: Option<String>,
    /// From the latest screen; none when never screened.
    pub allergies: Option<String>,
    pub medications: Vec<String>,
    pub weight_kg: Option<f64>,
    /// "protocol (phase)" for each course.
    pub courses: Vec<String>,
    /// Open safety alerts, newest first.
    pub open_alerts: Vec<String>,
    /// Upcoming visits: "kind at start" (UTC instants).
    pub upcoming: Vec<String>,
}

/// The client's emergency summary, under the caller's unexpired grant
/// (403 without one); each read is audited with the grant.
pub async fn summary(state: &AppState, caller: &Auth, client: ClientId) -> AppResult<EmergencySummary> {
    let now = state.now();
    let Some(access) = state.store.active_emergency_access(caller.staff.id, client, now).await? else {
        state.store.get_client(client).await?;
        return Err(AppError::Forbidden(
            "no emergency access to this client: state the reason first (it lasts a limited time)".into(),
        ));
    };
    let c = state.store.get_client(client).await?;
    let chart = state.store.read_chart(&caller.actor(), client, now).await?;
    let mut latest = None;
    for course in &chart.courses {
        for s in state.store.screens_of(course.id).await? {
            if latest.as_ref().is_none_or(|l: &kairos_store::screens::Screen| s.recorded_at > l.recorded_at) {
                latest = Some(s);
            }
        }
    }
    let alerts = state.store.alerts_of(client).await?;
    state
        .store
        .audit_read(
            &caller.actor(),
            AuditEntry::new(Action::Read, "emergency_summary", client)
                .client(client)
                .detail(format!("break-glass access {}", access.id)),
        )
        .await?;
    let d = c.details;
    Ok(EmergencySummary {
        access,
        name: d.display_name(),
        date_of_birth: d.date_of_birth.to_string(),
        pronouns: d.pronouns,
        phone: d.phone,
        address: d.address,
        emergency_contact_name: d.emergency_contact_name,
        emergency_contact_phone: d.emergency_contact_phone,
        allergies: latest.as_ref().map(|s| s.findings.allergies.clone()),
        medications: latest
            .as_ref()
            .map(|s| s.findings.medications.iter().map(|m| m.as_str().replace('_', " ")).collect())
            .unwrap_or_default(),
        weight_kg: latest.as_ref().map(|s| s.findings.weight_kg),
        courses: chart.courses.iter().map(|c| format!("{} ({})", c.protocol, c.phase.as_str())).collect(),
        open_alerts: alerts.iter().rev().filter(|a| a.acknowledged.is_none()).map(|a| a.message.clone()).collect(),
        upcoming: chart
            .upcoming
            .iter()
            .map(|e| format!("{} at {}", e.kind.as_str().replace('_', " "), e.scheduled_start))
            .collect(),
    })
}

/// The director's queue: grants waiting for review (or all), with the
/// names of the staff and clients they concern.
pub async fn queue(
    state: &AppState,
    caller: &Auth,
    waiting_only: bool,
) -> AppResult<(Vec<EmergencyAccess>, HashMap<StaffId, String>, HashMap<ClientId, String>)> {
    require(caller, Permission::ReviewEmergencyAccess)?;
    let grants = state.store.emergency_accesses(waiting_only).await?;
    let staff: Vec<StaffId> = grants.iter().map(|g| g.staff_id).collect();
    let clients: Vec<ClientId> = grants.iter().map(|g| g.client_id).collect();
    let staff_names = state.store.staff_names(&staff).await?;
    let client_names = super::clients::names(state, &clients).await?;
    let mut ids = clients.clone();
    ids.sort();
    ids.dedup();
    let rows: Vec<AuditEntry> = ids
        .iter()
        .map(|c| AuditEntry::new(Action::Read, "emergency_access", c).client(*c).detail("review queue"))
        .collect();
    if !rows.is_empty() {
        state.store.audit_reads(&caller.actor(), &rows).await?;
    }
    Ok((grants, staff_names, client_names))
}

/// Records the director's review of a grant, with a note (required).
pub async fn review(state: &AppState, caller: &Auth, id: EmergencyAccessId, note: &str) -> AppResult<EmergencyAccess> {
    require(caller, Permission::ReviewEmergencyAccess)?;
    let note = kairos_domain::text::required("note", note, 2000)?;
    Ok(state.store.review_emergency_access(&caller.actor(), id, &note).await?)
}

/// The clients an emergency may concern, found by family name and date of
/// birth (exactly); only for those who may break glass, and audited as a
/// list read under each client found.
pub async fn find(
    state: &AppState,
    caller: &Auth,
    family_name: &str,
    date_of_birth: &str,
) -> AppResult<Vec<kairos_domain::client::Client>> {
    if !may_break_glass(state, caller) {
        return Err(AppError::Forbidden(
            "emergency access is not open to your roles at this clinic; ask a clinician".into(),
        ));
    }
    let family = kairos_domain::text::required("family_name", family_name, 100)?;
    let born = crate::api::date("date_of_birth", date_of_birth.trim())?;
    let found = state.store.clients_by_family_name_and_birth(&family, born).await?;
    let rows: Vec<AuditEntry> = found
        .iter()
        .map(|c| AuditEntry::new(Action::List, "client", c.id).client(c.id).detail("emergency access lookup"))
        .collect();
    if !rows.is_empty() {
        state.store.audit_reads(&caller.actor(), &rows).await?;
    }
    Ok(found)
}
