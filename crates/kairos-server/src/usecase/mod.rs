//! The use cases: one function per clinical command, the single door every
//! entry point calls (the JSON API, the web forms, the command line).
//!
//! A use case checks the caller's permission, takes "now" from the
//! application's clock, and asks the store to run the command: the store
//! loads a snapshot inside the write transaction, the pure domain decision
//! (`kairos_domain::...`) accepts it or refuses it naming the field, and the
//! store commits the record with its audit entry. Adapters parse their own
//! input format into the command and render the result; they hold no rule.

pub mod account;
pub mod amendments;
pub mod audit;
pub mod clients;
pub mod courses;
pub mod directory;
pub mod disclosures;
pub mod dosing;
pub mod emergency;
pub mod encounters;
pub mod groups;
pub mod ledger;
pub mod measures;
pub mod notes;
pub mod portal;
pub mod rems;
pub mod schedule;
pub mod screening;
pub mod session;
pub mod staff;
pub mod windows;

use crate::error::AppError;
use crate::extract::Auth;
use kairos_domain::roles::Permission;

/// 403 unless the caller's roles grant `p` (the same words at every door).
pub fn require(caller: &Auth, p: Permission) -> Result<(), AppError> {
    caller.require(p)
}
