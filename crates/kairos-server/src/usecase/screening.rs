//! Pre-treatment screening: record the findings (classified by the clinic's
//! rules) and sign eligibility.

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::Refusal;
use kairos_domain::ids::{CourseId, ScreenId};
use kairos_domain::roles::Permission;
use kairos_domain::screening::{Decision, ScreenFindings};
use kairos_store::screens::Screen;

/// Records a screen; the clinic's rules classify its findings.
pub async fn record(state: &AppState, caller: &Auth, course: CourseId, findings: &ScreenFindings) -> AppResult<Screen> {
    require(caller, Permission::RecordScreening)?;
    findings.validate().map_err(|e| Refusal::from(e).within("findings"))?;
    let classified = state.config.screening.classify(findings);
    Ok(state.store.record_screen(&caller.actor(), course, findings, &classified).await?)
}

/// Signs a screen's eligibility decision, once.
pub async fn sign(state: &AppState, caller: &Auth, screen: ScreenId, decision: &Decision) -> AppResult<Screen> {
    require(caller, Permission::SignEligibility)?;
    Ok(state.store.sign_screen(&caller.actor(), screen, decision).await?)
}
