//! Treatment courses and the phases a course moves through.
//!
//! screening → preparation → induction → integration → maintenance → completed,
//! with discontinuation possible from any open phase. A course never skips a
//! phase and never reopens once it is completed or discontinued: a client who
//! returns starts a new course (with a new screen).

use crate::DomainError;
use crate::ids::{ClientId, CourseId, StaffId};
use crate::text;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

crate::text_enum! {
    pub enum Phase {
        /// Medical and psychiatric screening; eligibility not yet signed.
        Screening = "screening",
        /// Preparation sessions before the first dose.
        Preparation = "preparation",
        /// The induction dose series.
        Induction = "induction",
        /// Integration therapy after the induction series.
        Integration = "integration",
        /// Maintenance / booster doses.
        Maintenance = "maintenance",
        /// Finished as planned.
        Completed = "completed",
        /// Stopped early (any reason, recorded with the change).
        Discontinued = "discontinued",
    }
}

impl Phase {
    /// Phases this one may move to.
    pub fn next_allowed(self) -> &'static [Phase] {
        use Phase::*;
        match self {
            Screening => &[Preparation, Discontinued],
            Preparation => &[Induction, Discontinued],
            Induction => &[Integration, Discontinued],
            // Integration may end the course, or continue into maintenance.
            Integration => &[Maintenance, Completed, Discontinued],
            Maintenance => &[Completed, Discontinued],
            Completed | Discontinued => &[],
        }
    }

    pub fn is_closed(self) -> bool {
        matches!(self, Phase::Completed | Phase::Discontinued)
    }

    /// Checks a transition; the error lists what is allowed instead.
    pub fn transition(self, to: Phase) -> Result<Phase, DomainError> {
        if self.next_allowed().contains(&to) {
            Ok(to)
        } else {
            let allowed = self.next_allowed();
            Err(DomainError::IllegalTransition {
                field: "phase",
                from: self.to_string(),
                to: to.to_string(),
                allowed: if allowed.is_empty() {
                    "none (the course is closed)".into()
                } else {
                    allowed.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                },
            })
        }
    }
}

/// A course as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Course {
    pub id: CourseId,
    pub client_id: ClientId,
    pub protocol: String,
    pub phase: Phase,
    pub started_on: Date,
    pub ended_on: Option<Date>,
    pub prescriber_id: Option<StaffId>,
    pub therapist_id: Option<StaffId>,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

/// A validated request to open a course. A course always opens in screening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCourse {
    pub client_id: ClientId,
    pub protocol: String,
    pub started_on: Date,
    pub prescriber_id: Option<StaffId>,
    pub therapist_id: Option<StaffId>,
}

impl NewCourse {
    pub fn parse(
        client_id: ClientId,
        protocol: &str,
        started_on: Date,
        prescriber_id: Option<StaffId>,
        therapist_id: Option<StaffId>,
        today: Date,
    ) -> Result<Self, DomainError> {
        let protocol = text::required("protocol", protocol, 80)?;
        if started_on > today.saturating_add(jiff::Span::new().days(365)) {
            return Err(DomainError::invalid("started_on", "must be within a year from today"));
        }
        if started_on.year() < 2000 {
            return Err(DomainError::invalid("started_on", "must be in 2000 or later"));
        }
        Ok(NewCourse { client_id, protocol, started_on, prescriber_id, therapist_id })
    }
}

/// A validated phase change: the new phase, and the end date when it closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseChange {
    pub from: Phase,
    pub to: Phase,
    pub ended_on: Option<Date>,
    pub reason: Option<String>,
}

impl Course {
    /// Decides a phase change on `today`. Closing a course sets its end date;
    /// discontinuing needs a reason.
    pub fn change_phase(&self, to: Phase, reason: Option<&str>, today: Date) -> Result<PhaseChange, DomainError> {
        let to = self.phase.transition(to)?;
        let reason = text::optional("reason", reason, 1000)?;
        if to == Phase::Discontinued && reason.is_none() {
            return Err(DomainError::invalid("reason", "discontinuing a course needs a reason"));
        }
        Ok(PhaseChange { from: self.phase, to, ended_on: to.is_closed().then_some(today.max(self.started_on)), reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Phase::*;
    use jiff::civil::date;

    fn course(phase: Phase) -> Course {
        Course {
            id: CourseId::new(),
            client_id: ClientId::new(),
            protocol: "apa-iv-induction".into(),
            phase,
            started_on: date(2026, 11, 1),
            ended_on: None,
            prescriber_id: None,
            therapist_id: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_course_walks_the_phases_in_order() {
        let path = [Screening, Preparation, Induction, Integration, Maintenance, Completed];
        for w in path.windows(2) {
            assert_eq!(w[0].transition(w[1]), Ok(w[1]));
        }
        assert_eq!(Integration.transition(Completed), Ok(Completed));
    }

    #[test]
    fn a_course_cannot_jump_from_screening_to_maintenance() {
        let err = Screening.transition(Maintenance).expect_err("skip");
        assert_eq!(err.field(), "phase");
        assert!(err.to_string().contains("preparation, discontinued"), "{err}");
    }

    #[test]
    fn a_closed_course_never_reopens() {
        for &closed in &[Completed, Discontinued] {
            for &to in Phase::ALL {
                assert!(closed.transition(to).is_err(), "{closed} -> {to}");
            }
        }
    }

    #[test]
    fn every_open_phase_can_be_discontinued_and_none_goes_backwards() {
        let order = |p: Phase| Phase::ALL.iter().position(|&q| q == p);
        for &from in Phase::ALL.iter().filter(|p| !p.is_closed()) {
            assert!(from.transition(Discontinued).is_ok(), "{from}");
            for &to in from.next_allowed() {
                assert!(order(to) > order(from), "{from} -> {to} goes backwards");
            }
        }
    }

    #[test]
    fn discontinuing_needs_a_reason_and_closing_sets_the_end_date() {
        let today = date(2026, 11, 27);
        let err = course(Induction).change_phase(Discontinued, None, today).expect_err("no reason");
        assert_eq!(err.field(), "reason");
        let ch = course(Induction).change_phase(Discontinued, Some("moved away"), today).expect("with reason");
        assert_eq!(ch.ended_on, Some(today));
        let ch = course(Screening).change_phase(Preparation, None, today).expect("open");
        assert_eq!(ch.ended_on, None);
    }
}
