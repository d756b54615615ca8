//! Staff accounts: create one, change its name, e-mail, roles or active
//! flag, set its password. Nobody changes their own roles or deactivates
//! their own account (`kairos_domain::staff::check_account_change`). A
//! change that gives an account more than it has now (a new account, a role
//! added, an account activated: `needs_second_admin`) or sets someone else's
//! password (one's own is changed on one's account page) waits for a second administrator, who approves or declines it
//! (`decide`); in a clinic with one administrator, `kairos user approve` on
//! the server decides.

use super::require;
use crate::auth::hash_password_blocking;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::ids::StaffId;
use kairos_domain::roles::Permission;
use kairos_domain::staff::{Staff, StaffInput, check_account_change, check_password, needs_second_admin};
use kairos_store::staff_requests::StaffRequest;

/// Creates an account. It opens nothing until a second administrator
/// approves it: it is stored inactive, and the pending request activates
/// it (and sets its first password, if one was given).
pub async fn create(
    state: &AppState,
    caller: &Auth,
    input: &StaffInput,
    password: Option<String>,
) -> AppResult<(Staff, StaffRequest)> {
    require(caller, Permission::ManageStaff)?;
    let hash = match password {
        Some(pw) => {
            check_password("password", &pw, &input.email, &input.name)?;
            Some(hash_password_blocking(pw).await?)
        }
        None => None,
    };
    Ok(state.store.create_staff_pending(&caller.actor(), input, hash.as_deref()).await?)
}

/// One account, to change it.
pub async fn get(state: &AppState, caller: &Auth, id: StaffId) -> AppResult<Staff> {
    require(caller, Permission::ManageStaff)?;
    Ok(state.store.get_staff(id).await?)
}

/// Changes an account's name, e-mail, roles or active flag; deactivating
/// ends its sessions at once. A change that adds to what the account may do
/// is applied to its name and e-mail now and waits, for its roles and
/// active flag, for a second administrator (the request is returned).
pub async fn update(
    state: &AppState,
    caller: &Auth,
    id: StaffId,
    input: &StaffInput,
    active: bool,
) -> AppResult<(Staff, Option<StaffRequest>)> {
    require(caller, Permission::ManageStaff)?;
    let current = state.store.get_staff(id).await?;
    check_account_change(caller.staff.id, &current, &input.roles, active)?;
    if needs_second_admin(&current, &input.roles, active) {
        let (staff, req) = state.store.request_staff_access(&caller.actor(), id, input, active).await?;
        return Ok((staff, Some(req)));
    }
    Ok((state.store.update_staff(&caller.actor(), id, input, active).await?, None))
}

/// Sets someone else's password and ends their sessions once a second
/// administrator approves (the request is returned), so no administrator
/// can sign in as a clinician alone. One's own password is changed on
/// one's account page, with the current one (`usecase::account`): a
/// session left open at a desk cannot set a new password without it.
pub async fn set_password(state: &AppState, caller: &Auth, id: StaffId, password: String) -> AppResult<StaffRequest> {
    require(caller, Permission::ManageStaff)?;
    if id == caller.staff.id {
        return Err(crate::error::AppError::Conflict {
            field: "staff_id".into(),
            detail: "your own password is changed on your account page, with your current password".into(),
        });
    }
    let target = state.store.get_staff(id).await?;
    check_password("password", &password, &target.email, &target.name)?;
    let hash = hash_password_blocking(password).await?;
    Ok(state.store.request_staff_password(&caller.actor(), id, &hash).await?)
}

/// Resets someone else's second factor (they set it up again at their
/// next sign-in): like their password, it waits for a second
/// administrator (the request is returned). One's own is removed on the
/// account page (`usecase::account`).
pub async fn reset_mfa(state: &AppState, caller: &Auth, id: StaffId) -> AppResult<StaffRequest> {
    require(caller, Permission::ManageStaff)?;
    if id == caller.staff.id {
        return Err(crate::error::AppError::Conflict {
            field: "staff_id".into(),
            detail: "your own two-step sign-in is changed on your account page, not reset".into(),
        });
    }
    Ok(state.store.request_mfa_reset(&caller.actor(), id).await?)
}

/// The requests waiting for a second administrator (of one account, or all).
pub async fn pending(state: &AppState, caller: &Auth, staff: Option<StaffId>) -> AppResult<Vec<StaffRequest>> {
    require(caller, Permission::ManageStaff)?;
    Ok(state.store.pending_staff_requests(staff).await?)
}

/// Approves or declines a pending request: only an administrator who did
/// not ask for it and whose account it is not.
pub async fn decide(state: &AppState, caller: &Auth, id: &str, approve: bool, via: &str) -> AppResult<StaffRequest> {
    require(caller, Permission::ManageStaff)?;
    Ok(state.store.decide_staff_request(&caller.actor(), id, approve, via).await?)
}
