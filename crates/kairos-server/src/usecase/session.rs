//! The staff session behind a request, and what every page shows with it.

use crate::error::AppResult;
use crate::state::AppState;
use kairos_domain::roles::{Permission, Role};
use kairos_domain::staff::Staff;
use kairos_store::measures::AlertCounts;

/// The staff member whose live session `token` is (one query, which also
/// marks the session as used); none when it is unknown, expired or revoked.
pub async fn staff_of(state: &AppState, token: &str) -> AppResult<Option<Staff>> {
    Ok(session_of(state, token).await?.map(|i| i.staff))
}

/// The live session of `token`, with whether its account has a second
/// factor set up.
pub async fn session_of(state: &AppState, token: &str) -> AppResult<Option<kairos_store::sessions::SessionInfo>> {
    Ok(state.store.authenticate_session(token, &state.config.session).await?)
}

/// The open safety alerts counted for the banner on every page (counts
/// only, no client; one query). The banner is for those who act on alerts;
/// a director reviews them on the alert page without being paged by every
/// one, and a director who also acts on alerts counts everyone's. A
/// dosing session's alert also pages the prescribers on site (with a visit
/// at the session's site within 12 hours of the dose).
pub async fn alert_banner(state: &AppState, staff: &Staff) -> AppResult<AlertCounts> {
    if !staff.roles.allow(Permission::RecordMeasures) {
        return Ok(AlertCounts::default());
    }
    let everyone = staff.roles.contains(Role::Director);
    let prescriber = staff.roles.contains(Role::Prescriber);
    let before = state.now() - state.config.alert_escalation;
    Ok(state.store.open_alert_counts(staff.id, everyone, prescriber, before).await?)
}
