//! The esketamine REMS records: a client's enrolment (required before the
//! first esketamine dose while the clinic's policy says so, checked by
//! `dosing::start`) and each site's details as a REMS healthcare setting.

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::Refusal;
use kairos_domain::ids::{ClientId, SiteId};
use kairos_domain::rems::Enrolment;
use kairos_domain::roles::Permission;
use kairos_store::rems::{Setting, SettingInput};
use kairos_store::{Action, AuditEntry};

/// The client's REMS enrolment, if recorded (read audited).
pub async fn enrolment(state: &AppState, caller: &Auth, client: ClientId) -> AppResult<Option<Enrolment>> {
    require(caller, Permission::ReadScreening)?;
    let e = state.store.rems_enrolment(client).await?;
    state
        .store
        .audit_read(&caller.actor(), AuditEntry::new(Action::Read, "rems_enrolment", client).client(client))
        .await?;
    Ok(e)
}

/// Records the client's enrolment in the REMS (a prescriber: the Patient
/// Enrollment Form is the prescriber's and the patient's).
pub async fn enrol(
    state: &AppState,
    caller: &Auth,
    client: ClientId,
    enrolled_on: &str,
    sex: &str,
    rems_patient_id: Option<&str>,
) -> AppResult<Enrolment> {
    require(caller, Permission::SignEligibility)?;
    let details = state.store.get_client(client).await?.details;
    let today = state.now().to_zoned(state.client_tz(client).await?).date();
    let e = Enrolment::parse(enrolled_on, sex, rems_patient_id, today, details.date_of_birth).map_err(Refusal::from)?;
    Ok(state.store.record_rems_enrolment(&caller.actor(), client, &e).await?)
}

/// Every site with its REMS setting details (absent: not set).
pub async fn settings(state: &AppState, caller: &Auth) -> AppResult<Vec<(kairos_domain::site::Site, Option<Setting>)>> {
    if !caller.staff.roles.allow(Permission::ManageRegistrations) {
        require(caller, Permission::ReadLedger)?;
    }
    let set = state.store.rems_settings().await?;
    let sites = super::directory::sites(state).await?;
    Ok(sites
        .into_iter()
        .map(|site| {
            let s = set.iter().find(|x| x.site_id == site.id).cloned();
            (site, s)
        })
        .collect())
}

/// Sets a site's REMS setting details (who records DEA registrations).
pub async fn set_setting(
    state: &AppState,
    caller: &Auth,
    site: SiteId,
    name: &str,
    address: &str,
    phone: &str,
) -> AppResult<Setting> {
    require(caller, Permission::ManageRegistrations)?;
    let input = SettingInput::parse(name, address, phone).map_err(Refusal::from)?;
    super::directory::site(state, site).await?;
    Ok(state.store.set_rems_setting(&caller.actor(), site, &input).await?)
}
