//! Pre-treatment screening: record the findings (classified by the clinic's
//! rules), read a screen, and sign eligibility.

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::Refusal;
use kairos_domain::ids::{CourseId, ScreenId, StaffId};
use kairos_domain::roles::Permission;
use kairos_domain::screening::{Decision, ScreenFindings};
use kairos_store::screens::Screen;
use kairos_store::{Action, AuditEntry};
use std::collections::HashMap;

/// A screen as its page shows it.
pub struct ScreenRead {
    /// The screen, its read audited.
    pub screen: Screen,
    pub client_name: String,
    /// The names of who recorded it and who signed it.
    pub staff_names: HashMap<StaffId, String>,
}

/// One screen for its page (see [`ScreenRead`]).
pub async fn read(state: &AppState, caller: &Auth, id: ScreenId) -> AppResult<ScreenRead> {
    require(caller, Permission::ReadScreening)?;
    let screen = state.store.get_screen(id).await?;
    let client_name = super::clients::name(state, screen.client_id).await?;
    state
        .store
        .audit_read(
            &caller.actor(),
            AuditEntry::new(Action::Read, "screen", screen.id).client(screen.client_id).detail("screen"),
        )
        .await?;
    let people: Vec<StaffId> = screen.recorded_by.into_iter().chain(screen.signature.as_ref().map(|g| g.by)).collect();
    let staff_names = state.store.staff_names(&people).await?;
    Ok(ScreenRead { screen, client_name, staff_names })
}

/// The display name of a course's client, for the heading of the screen
/// form (404 for no such course).
pub async fn client_of_course(state: &AppState, course: CourseId) -> AppResult<String> {
    let c = state.store.get_course(course).await?;
    super::clients::name(state, c.client_id).await
}

/// Records a screen; the clinic's rules classify its findings.
pub async fn record(state: &AppState, caller: &Auth, course: CourseId, findings: &ScreenFindings) -> AppResult<Screen> {
    require(caller, Permission::RecordScreening)?;
    findings.validate().map_err(|e| Refusal::from(e).within("findings"))?;
    // Off-label unless the course's protocol is the drug's labelled use (a
    // protocol outside the library counts as off-label).
    let c = state.store.get_course(course).await?;
    let protocol = state.config.protocols.get(&c.protocol);
    // The client's age in whole years on today's date where they are
    // treated (the label's "under 18" is by birthday).
    let details = state.store.get_client(c.client_id).await?.details;
    let today = state.now().to_zoned(state.client_tz(c.client_id).await?).date();
    let age_years = Some(details.age_on(today));
    let ctx = kairos_domain::screening::Context {
        off_label: !protocol.is_some_and(|p| p.labelled),
        age_years,
        route: protocol.map(|p| p.dose.route),
    };
    let classified = state.config.screening.classify(findings, &ctx);
    Ok(state.store.record_screen(&caller.actor(), course, findings, &classified).await?)
}

/// Signs a screen's eligibility decision, once.
pub async fn sign(state: &AppState, caller: &Auth, screen: ScreenId, decision: &Decision) -> AppResult<Screen> {
    require(caller, Permission::SignEligibility)?;
    Ok(state.store.sign_screen(&caller.actor(), screen, decision).await?)
}
