//! Staff roles and what each may do. The policy is a table: one place to read
//! it, one test matrix that pins it.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

crate::text_enum! {
    pub enum Role {
        /// Runs the installation: staff accounts, sites, rooms, the audit log.
        /// Does not read clinical charts.
        Admin = "admin",
        /// Clinic director: practice outcomes and compliance; reads charts.
        Director = "director",
        /// Psychiatrist / NP: screening, courses, dosing, discharge.
        Prescriber = "prescriber",
        /// Medical monitor during dosing sessions.
        Nurse = "nurse",
        /// Preparation, integration and therapy sessions, groups, notes.
        Therapist = "therapist",
        /// Books doses, chairs, therapists and groups.
        Coordinator = "coordinator",
    }
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Administrator",
            Role::Director => "Clinic director",
            Role::Prescriber => "Prescriber",
            Role::Nurse => "Nurse",
            Role::Therapist => "Therapist",
            Role::Coordinator => "Coordinator",
        }
    }
}

impl FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse("roles", s)
    }
}

/// A non-empty set of roles, kept sorted and without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Roles(Vec<Role>);

impl Roles {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Result<Self, DomainError> {
        let mut v: Vec<Role> = roles.into_iter().collect();
        v.sort();
        v.dedup();
        if v.is_empty() {
            return Err(DomainError::invalid("roles", "at least one role is required"));
        }
        Ok(Roles(v))
    }

    /// Parses the stored form `admin,therapist`.
    pub fn parse_list(s: &str) -> Result<Self, DomainError> {
        Roles::new(
            s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(Role::from_str).collect::<Result<Vec<_>, _>>()?,
        )
    }

    pub fn to_list(&self) -> String {
        self.0.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }

    /// Whether any of these roles grants `p`.
    pub fn allow(&self, p: Permission) -> bool {
        self.0.iter().any(|r| p.granted_to().contains(r))
    }
}

/// Something a staff member may do. Every route names the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read sites, rooms and the staff directory (names, roles).
    ReadDirectory,
    /// Create and change sites and rooms.
    ManageSites,
    /// Create staff accounts, change roles, reset passwords.
    ManageStaff,
    /// List and read client charts (demographics, courses, encounters).
    ReadClients,
    /// Register clients and change demographics.
    WriteClients,
    /// Open a treatment course and move it between phases.
    ManageCourses,
    /// Book, reschedule, check in, complete or cancel encounters.
    BookEncounters,
    /// Read psychotherapy notes in full (further limited to their author and
    /// the author's supervisors; see `notes::access`).
    ReadTherapyNotes,
    /// Draft, sign and amend one's own psychotherapy notes.
    WriteTherapyNotes,
    /// See the one-line summary of a signed psychotherapy note.
    ReadNoteSummaries,
    /// Read the audit log.
    ReadAudit,
    /// Read questionnaire scores, trajectories and safety alerts.
    ReadMeasures,
    /// Record questionnaires, send self-report links, retract an entry made
    /// in error, and acknowledge safety alerts.
    RecordMeasures,
    /// Read practice-wide outcome figures (aggregates over many clients).
    ReadPracticeOutcomes,
    /// Read pre-treatment screens and eligibility decisions.
    ReadScreening,
    /// Record a pre-treatment screen.
    RecordScreening,
    /// Sign a client eligible (or not) for ketamine treatment.
    SignEligibility,
    /// Chart a dosing session: checklist, dose, vitals, discharge, signature.
    ChartDosing,
    /// Let a dose start despite the pre-dose blood-pressure hold, with a reason.
    OverrideSafetyHold,
    /// Read the controlled-substance ledger, its reports and REMS forms.
    ReadLedger,
    /// Receive, count, waste (and witness), correct and report losses of
    /// controlled substances; submit REMS forms.
    RecordLedger,
    /// Record the clinic's DEA registrations.
    ManageRegistrations,
    /// See process groups: definition, schedule and head counts (the roster
    /// is for each group's facilitators; see `groups::view`).
    ReadGroups,
    /// Create and change process groups, add and remove members, schedule
    /// group sessions.
    ManageGroups,
    /// Propose, apply, discard and repair schedules for many clients at once
    /// (the plasticity-window scheduler).
    PlanSchedules,
    /// Review each emergency ("break-glass") access to a client's record.
    ReviewEmergencyAccess,
    /// Read clients' requests to amend their record, extend the time to act
    /// once, and accept or deny them with the reason.
    DecideAmendments,
}

impl Permission {
    pub const ALL: [Permission; 27] = [
        Permission::ReadDirectory,
        Permission::ManageSites,
        Permission::ManageStaff,
        Permission::ReadClients,
        Permission::WriteClients,
        Permission::ManageCourses,
        Permission::BookEncounters,
        Permission::ReadTherapyNotes,
        Permission::WriteTherapyNotes,
        Permission::ReadNoteSummaries,
        Permission::ReadAudit,
        Permission::ReadMeasures,
        Permission::RecordMeasures,
        Permission::ReadPracticeOutcomes,
        Permission::ReadScreening,
        Permission::RecordScreening,
        Permission::SignEligibility,
        Permission::ChartDosing,
        Permission::OverrideSafetyHold,
        Permission::ReadLedger,
        Permission::RecordLedger,
        Permission::ManageRegistrations,
        Permission::ReadGroups,
        Permission::ManageGroups,
        Permission::PlanSchedules,
        Permission::ReviewEmergencyAccess,
        Permission::DecideAmendments,
    ];

    /// The policy table.
    pub fn granted_to(self) -> &'static [Role] {
        use Role::*;
        match self {
            Permission::ReadDirectory => &[Admin, Director, Prescriber, Nurse, Therapist, Coordinator],
            Permission::ManageSites => &[Admin],
            Permission::ManageStaff => &[Admin],
            Permission::ReadClients => &[Director, Prescriber, Nurse, Therapist, Coordinator],
            Permission::WriteClients => &[Prescriber, Nurse, Therapist, Coordinator],
            Permission::ManageCourses => &[Prescriber],
            Permission::BookEncounters => &[Prescriber, Nurse, Therapist, Coordinator],
            Permission::ReadTherapyNotes => &[Therapist],
            Permission::WriteTherapyNotes => &[Therapist],
            // Prescribers see that therapy happened and its one-line summary.
            Permission::ReadNoteSummaries => &[Prescriber, Therapist],
            Permission::ReadAudit => &[Admin],
            // Clinical scores are for clinicians (and the director's
            // outcome figures), not for scheduling.
            Permission::ReadMeasures => &[Director, Prescriber, Nurse, Therapist],
            Permission::RecordMeasures => &[Prescriber, Nurse, Therapist],
            Permission::ReadPracticeOutcomes => &[Director],
            Permission::ReadScreening => &[Director, Prescriber, Nurse, Therapist],
            Permission::RecordScreening => &[Prescriber, Nurse],
            // Eligibility for a controlled drug is a prescriber's decision.
            Permission::SignEligibility => &[Prescriber],
            Permission::ChartDosing => &[Prescriber, Nurse],
            Permission::OverrideSafetyHold => &[Prescriber],
            // Those who handle the drug keep its records; the director
            // answers for them at inspection.
            Permission::ReadLedger => &[Director, Prescriber, Nurse],
            Permission::RecordLedger => &[Prescriber, Nurse],
            Permission::ManageRegistrations => &[Admin, Director],
            Permission::ReadGroups => &[Director, Prescriber, Nurse, Therapist, Coordinator],
            // Those who book the clinic's groups; attendance and notes are
            // the facilitators' (therapists named on the group).
            Permission::ManageGroups => &[Therapist, Coordinator],
            // Rebooking many clients' visits at once is the coordinator's job
            // (clinicians book and move single visits).
            Permission::PlanSchedules => &[Coordinator],
            // The director answers for who opened a record in an emergency.
            Permission::ReviewEmergencyAccess => &[Director],
            // The clinicians who write the record, and the director who
            // answers for it, decide whether it is amended.
            Permission::DecideAmendments => &[Director, Prescriber, Therapist],
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Permission::ReadDirectory => "read the clinic directory",
            Permission::ManageSites => "manage sites and rooms",
            Permission::ManageStaff => "manage staff accounts",
            Permission::ReadClients => "read client charts",
            Permission::WriteClients => "register or change clients",
            Permission::ManageCourses => "open or change treatment courses",
            Permission::BookEncounters => "book or change encounters",
            Permission::ReadTherapyNotes => "read psychotherapy notes",
            Permission::WriteTherapyNotes => "write psychotherapy notes",
            Permission::ReadNoteSummaries => "see psychotherapy note summaries",
            Permission::ReadAudit => "read the audit log",
            Permission::ReadMeasures => "read questionnaire scores and safety alerts",
            Permission::RecordMeasures => "record questionnaires and acknowledge safety alerts",
            Permission::ReadPracticeOutcomes => "read practice outcome figures",
            Permission::ReadScreening => "read pre-treatment screens",
            Permission::RecordScreening => "record a pre-treatment screen",
            Permission::SignEligibility => "sign eligibility for ketamine treatment",
            Permission::ChartDosing => "chart dosing sessions",
            Permission::OverrideSafetyHold => "override a pre-dose safety hold",
            Permission::ReadLedger => "read the controlled-substance ledger",
            Permission::RecordLedger => "record controlled-substance movements",
            Permission::ManageRegistrations => "record DEA registrations",
            Permission::PlanSchedules => "propose and apply schedules",
            Permission::ReadGroups => "see process groups",
            Permission::ManageGroups => "manage process groups and their members",
            Permission::ReviewEmergencyAccess => "review emergency access to client records",
            Permission::DecideAmendments => "decide clients' requests to amend their record",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission as P;
    use Role::*;

    fn one(r: Role) -> Roles {
        Roles::new([r]).expect("one role")
    }

    #[test]
    fn a_coordinator_can_book_but_cannot_read_therapy_notes() {
        assert!(one(Coordinator).allow(P::BookEncounters));
        assert!(!one(Coordinator).allow(P::ReadTherapyNotes));
    }

    #[test]
    fn only_admin_reads_the_audit_log_and_admin_does_not_read_charts() {
        for &r in Role::ALL {
            assert_eq!(one(r).allow(P::ReadAudit), r == Admin, "{r}");
        }
        assert!(!one(Admin).allow(P::ReadClients));
    }

    #[test]
    fn only_prescribers_open_and_move_courses() {
        for &r in Role::ALL {
            assert_eq!(one(r).allow(P::ManageCourses), r == Prescriber, "{r}");
        }
    }

    #[test]
    fn only_prescribers_sign_eligibility() {
        for &r in Role::ALL {
            assert_eq!(one(r).allow(P::SignEligibility), r == Prescriber, "{r}");
        }
    }

    #[test]
    fn only_those_who_handle_the_drug_write_the_ledger() {
        for &r in Role::ALL {
            assert_eq!(one(r).allow(P::RecordLedger), matches!(r, Prescriber | Nurse), "{r}");
        }
        assert!(one(Director).allow(P::ReadLedger));
        assert!(!one(Coordinator).allow(P::ReadLedger) && !one(Therapist).allow(P::ReadLedger));
    }

    #[test]
    fn only_therapists_write_notes_and_coordinators_see_not_even_summaries() {
        for &r in Role::ALL {
            assert_eq!(one(r).allow(P::WriteTherapyNotes), r == Therapist, "{r}");
            assert_eq!(one(r).allow(P::ReadNoteSummaries), matches!(r, Prescriber | Therapist), "{r}");
        }
    }

    #[test]
    fn therapists_and_coordinators_manage_groups_and_admins_do_not_see_them() {
        for &r in Role::ALL {
            assert_eq!(one(r).allow(P::ManageGroups), matches!(r, Therapist | Coordinator), "{r}");
            assert_eq!(one(r).allow(P::ReadGroups), r != Admin, "{r}");
        }
    }

    #[test]
    fn several_roles_grant_the_union_of_their_permissions() {
        let both = Roles::new([Admin, Therapist]).expect("roles");
        assert!(both.allow(P::ReadAudit));
        assert!(both.allow(P::ReadClients));
        assert!(both.allow(P::ReadTherapyNotes));
        assert!(!both.allow(P::ManageCourses));
    }

    #[test]
    fn roles_parse_from_and_to_the_stored_list() {
        let r = Roles::parse_list("therapist, admin,therapist").expect("parse");
        assert_eq!(r.to_list(), "admin,therapist");
        assert!(Roles::parse_list("").is_err());
        let err = Roles::parse_list("admin,wizard").expect_err("unknown role");
        assert_eq!(err.field(), "roles");
    }
}
