//! Staff members: people who sign in to Kairos.

use crate::DomainError;
use crate::ids::StaffId;
use crate::roles::Roles;
use crate::text::{self, Email};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staff {
    pub id: StaffId,
    pub name: String,
    pub email: Email,
    pub roles: Roles,
    pub active: bool,
}

/// A validated new staff member (the password is handled by the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffInput {
    pub name: String,
    pub email: Email,
    pub roles: Roles,
}

impl StaffInput {
    pub fn parse(name: &str, email: &str, roles: Roles) -> Result<Self, DomainError> {
        Ok(StaffInput { name: text::required("name", name, 120)?, email: Email::parse("email", email)?, roles })
    }
}

/// Checks a change to a staff account by someone who manages accounts:
/// nobody changes their own roles or deactivates their own account (another
/// administrator does, so no one grants themselves access to records).
pub fn check_account_change(
    changed_by: StaffId,
    current: &Staff,
    roles: &Roles,
    active: bool,
) -> Result<(), DomainError> {
    if changed_by != current.id {
        return Ok(());
    }
    if *roles != current.roles {
        return Err(DomainError::invalid("roles", "nobody changes their own roles: another administrator does"));
    }
    if !active {
        return Err(DomainError::invalid("active", "nobody deactivates their own account: another administrator does"));
    }
    Ok(())
}

/// Whether a change to an account needs a second administrator's approval:
/// it adds a role to what the account can do now (a role it does not hold,
/// or any role of an inactive account being activated). Every role is
/// guarded: director, prescriber, nurse, therapist and coordinator open
/// client records (`Permission::ReadClients`), and admin manages staff
/// accounts (`Permission::ManageStaff`), so one administrator who could
/// make a second one without approval would approve their own requests.
/// Taking roles away, deactivating, or changing a name or e-mail is not
/// guarded.
pub fn needs_second_admin(current: &Staff, roles: &Roles, active: bool) -> bool {
    active && roles.iter().any(|r| !current.active || !current.roles.contains(r))
}

/// Minimum password length for staff accounts (`crate::password`).
pub const MIN_PASSWORD_CHARS: usize = crate::password::MIN_CHARS;

/// Checks a new password for this person (`crate::password::check`, with
/// their e-mail and name as the words a guesser tries first).
pub fn check_password(field: &str, password: &str, email: &Email, name: &str) -> Result<(), DomainError> {
    crate::password::check(field, password, &[email.as_str(), name])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_changes_their_own_roles_or_deactivates_themselves() {
        use crate::roles::Role;
        let admin = Staff {
            id: StaffId::new(),
            name: "Ines Admin".into(),
            email: Email::parse("email", "ines@example.org").expect("email"),
            roles: Roles::new([Role::Admin]).expect("roles"),
            active: true,
        };
        let more = Roles::new([Role::Admin, Role::Director]).expect("roles");
        let field = |r: Result<(), DomainError>| r.map_err(|e| e.field().to_string());
        assert_eq!(field(check_account_change(admin.id, &admin, &more, true)), Err("roles".into()));
        assert_eq!(field(check_account_change(admin.id, &admin, &admin.roles, false)), Err("active".into()));
        assert_eq!(field(check_account_change(admin.id, &admin, &admin.roles, true)), Ok(()), "a new name or e-mail");
        let other = StaffId::new();
        assert_eq!(field(check_account_change(other, &admin, &more, false)), Ok(()), "another administrator may");
    }

    #[test]
    fn passwords_are_checked_against_the_persons_own_name_and_email() {
        let email = Email::parse("email", "omar.farouk@clinic.example").expect("email");
        assert!(check_password("password", "short-pass1", &email, "Omar Farouk").is_err());
        assert!(check_password("password", "omarfarouk2026", &email, "Omar Farouk").is_err());
        assert!(check_password("password", "violet tugboat sings at noon", &email, "Omar Farouk").is_ok());
    }
}
