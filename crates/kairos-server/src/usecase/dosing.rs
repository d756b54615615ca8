//! Dosing-session commands: start, vital signs, observations, discharge,
//! signature, amendment.

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use jiff::Timestamp;
use kairos_domain::dosing::{self, Amendment, SessionEvent, StartCommand, Vitals};
use kairos_domain::ids::{DosingSessionId, EncounterId};
use kairos_domain::roles::Permission;
use kairos_store::dosing::{AmendmentRecord, DosingSession, EventRecord, VitalsRecord};

/// Starts the dose of an arrived dosing visit.
pub async fn start(
    state: &AppState,
    caller: &Auth,
    encounter: EncounterId,
    cmd: &StartCommand,
) -> AppResult<DosingSession> {
    require(caller, Permission::ChartDosing)?;
    let now = state.now();
    let may_override = caller.staff.roles.allow(Permission::OverrideSafetyHold);
    let (policy, protocols) = (&state.config.safety, &state.config.protocols);
    Ok(state
        .store
        .start_dosing_session(&caller.actor(), encounter, cmd.stock_id, &state.config.ledger, |snap| {
            let protocol = snap.course_protocol.as_deref().and_then(|p| protocols.get(p));
            dosing::start(snap, protocol, cmd, policy, may_override, now)
        })
        .await?)
}

/// Charts a set of vital signs; the alerts it raises come back with it.
pub async fn record_vitals(
    state: &AppState,
    caller: &Auth,
    session: DosingSessionId,
    at: Option<Timestamp>,
    vitals: &Vitals,
) -> AppResult<VitalsRecord> {
    require(caller, Permission::ChartDosing)?;
    let now = state.now();
    let policy = &state.config.safety;
    Ok(state
        .store
        .add_vitals(&caller.actor(), session, vitals, |s| dosing::record_vitals(s, at, vitals, policy, now))
        .await?)
}

/// Charts a dissociation score, a side effect or an adverse event.
pub async fn record_event(
    state: &AppState,
    caller: &Auth,
    session: DosingSessionId,
    at: Option<Timestamp>,
    event: &SessionEvent,
) -> AppResult<EventRecord> {
    require(caller, Permission::ChartDosing)?;
    let now = state.now();
    Ok(state
        .store
        .add_session_event(&caller.actor(), session, event, |s| dosing::record_event(s, at, event, now))
        .await?)
}

/// Discharges the client into the care of the named adult.
pub async fn discharge(
    state: &AppState,
    caller: &Auth,
    session: DosingSessionId,
    at: Option<Timestamp>,
    accompanied_by: &str,
) -> AppResult<DosingSession> {
    require(caller, Permission::ChartDosing)?;
    let now = state.now();
    Ok(state.store.discharge(&caller.actor(), session, |s| dosing::discharge(s, at, accompanied_by, now)).await?)
}

/// Signs a discharged session.
pub async fn sign(state: &AppState, caller: &Auth, session: DosingSessionId) -> AppResult<DosingSession> {
    require(caller, Permission::ChartDosing)?;
    Ok(state.store.sign_dosing_session(&caller.actor(), session, dosing::sign).await?)
}

/// Amends a signed session.
pub async fn amend(
    state: &AppState,
    caller: &Auth,
    session: DosingSessionId,
    amendment: &Amendment,
) -> AppResult<AmendmentRecord> {
    require(caller, Permission::ChartDosing)?;
    Ok(state.store.amend_dosing_session(&caller.actor(), session, amendment, |s| dosing::amend(s, amendment)).await?)
}
