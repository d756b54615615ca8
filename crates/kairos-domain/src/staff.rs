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

/// Minimum password length for staff accounts (NIST SP 800-63B: at least 8;
/// Kairos asks for 12 because these accounts open clinical records).
pub const MIN_PASSWORD_CHARS: usize = 12;

pub fn check_password(field: &str, password: &str) -> Result<(), DomainError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(DomainError::invalid(field, format!("must be at least {MIN_PASSWORD_CHARS} characters")));
    }
    if n > 256 {
        return Err(DomainError::invalid(field, "must be at most 256 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_shorter_than_twelve_characters_are_refused() {
        assert!(check_password("password", "short-pass1").is_err());
        assert!(check_password("password", "twelve chars").is_ok());
    }
}
