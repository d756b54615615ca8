//! Staff accounts: create one, change its name, e-mail, roles or active
//! flag, set its password. Nobody changes their own roles or deactivates
//! their own account (`kairos_domain::staff::check_account_change`).

use super::require;
use crate::auth::hash_password_blocking;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::ids::StaffId;
use kairos_domain::roles::Permission;
use kairos_domain::staff::{Staff, StaffInput, check_account_change, check_password};

/// Creates an account; without a password it cannot sign in yet.
pub async fn create(state: &AppState, caller: &Auth, input: &StaffInput, password: Option<String>) -> AppResult<Staff> {
    require(caller, Permission::ManageStaff)?;
    let hash = match password {
        Some(pw) => {
            check_password("password", &pw)?;
            Some(hash_password_blocking(pw).await?)
        }
        None => None,
    };
    Ok(state.store.create_staff(&caller.actor(), input, hash.as_deref()).await?)
}

/// One account, to change it.
pub async fn get(state: &AppState, caller: &Auth, id: StaffId) -> AppResult<Staff> {
    require(caller, Permission::ManageStaff)?;
    Ok(state.store.get_staff(id).await?)
}

/// Changes an account's name, e-mail, roles or active flag; deactivating
/// ends its sessions at once.
pub async fn update(
    state: &AppState,
    caller: &Auth,
    id: StaffId,
    input: &StaffInput,
    active: bool,
) -> AppResult<Staff> {
    require(caller, Permission::ManageStaff)?;
    let current = state.store.get_staff(id).await?;
    check_account_change(caller.staff.id, &current, &input.roles, active)?;
    Ok(state.store.update_staff(&caller.actor(), id, input, active).await?)
}

/// Sets an account's password; ends its sessions.
pub async fn set_password(state: &AppState, caller: &Auth, id: StaffId, password: String) -> AppResult<()> {
    require(caller, Permission::ManageStaff)?;
    check_password("password", &password)?;
    let hash = hash_password_blocking(password).await?;
    Ok(state.store.set_staff_password(&caller.actor(), id, &hash).await?)
}
