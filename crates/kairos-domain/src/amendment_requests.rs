//! A client's request to amend their record (HIPAA's right to amend,
//! 45 CFR 164.526; ONC 170.315(d)(4)).
//!
//! The rules, from the regulation:
//! - The clinic acts on a request **no later than 60 days** after receiving
//!   it (164.526(b)(2)(i)).
//! - It may extend that **once, by no more than 30 days**, if within the 60
//!   days it gives the client a written statement of the reasons for the
//!   delay and the date it will act (164.526(b)(2)(ii)).
//! - Accepting, it amends the record by identifying the records affected and
//!   appending the amendment or linking to it (164.526(c)(1)).
//! - It may deny only on one of four grounds (164.526(a)(2)): the record was
//!   not created by the clinic; it is not part of the designated record set;
//!   it would not be open to the client's inspection under 164.524; or it is
//!   accurate and complete. The denial states the basis in plain language
//!   (164.526(d)(1)(i)), and the client may file a **statement of
//!   disagreement** (164.526(d)(1)(ii)), which is then kept with the record
//!   and goes with any later disclosure of it (164.526(d)(4)-(5)).
//!
//! A request and everything that happens to it (the extension, the
//! decision, the client's disagreement) are appended and never changed.

use crate::DomainError;
use jiff::{SignedDuration, Timestamp};

/// Days the clinic has to act on a request (164.526(b)(2)(i)).
pub const RESPONSE_DAYS: i64 = 60;
/// The one extension's most days (164.526(b)(2)(ii)).
pub const EXTENSION_DAYS: i64 = 30;

crate::text_enum! {
    /// Which part of the record the client asks to amend.
    pub enum RecordArea {
        /// Name, address, contacts, date of birth.
        Details = "details",
        /// A therapy or integration session's note.
        SessionNote = "session_note",
        /// A questionnaire's answers or score.
        Questionnaire = "questionnaire",
        /// A dosing session's record: dose, vital signs, observations.
        Dosing = "dosing",
        /// The pre-treatment screen: history, medicines, allergies.
        Screening = "screening",
        /// Anything else.
        Other = "other",
    }
}

impl RecordArea {
    /// The client's words for it.
    pub fn label(self) -> &'static str {
        match self {
            RecordArea::Details => "My details (name, address, contacts)",
            RecordArea::SessionNote => "A note about a session",
            RecordArea::Questionnaire => "A questionnaire I filled in",
            RecordArea::Dosing => "A treatment session's record (dose, blood pressure, how I was)",
            RecordArea::Screening => "My screening (history, medicines, allergies)",
            RecordArea::Other => "Something else",
        }
    }
}

crate::text_enum! {
    /// The grounds a request may be denied on (164.526(a)(2)).
    pub enum DenialBasis {
        /// The clinic did not create the record (and its originator can
        /// still act on the request).
        NotCreatedHere = "not_created_here",
        /// The record is not part of the designated record set.
        NotInRecordSet = "not_in_record_set",
        /// The record would not be open to the client's inspection (164.524).
        NotOpenToInspection = "not_open_to_inspection",
        /// The record is accurate and complete.
        AccurateAndComplete = "accurate_and_complete",
    }
}

impl DenialBasis {
    /// In plain language, as the client reads it.
    pub fn label(self) -> &'static str {
        match self {
            DenialBasis::NotCreatedHere => "This part of your record was not written by this clinic",
            DenialBasis::NotInRecordSet => "This is not part of the record the clinic keeps about your care",
            DenialBasis::NotOpenToInspection => "This is a part of the record the law does not open to you",
            DenialBasis::AccurateAndComplete => "The clinic found this part of your record accurate and complete",
        }
    }
}

crate::text_enum! {
    /// What happened to a request after it was asked.
    pub enum StepKind {
        /// The clinic extended its time to act, once, with its reasons.
        Extended = "extended",
        /// The clinic accepted the request and appended the amendment.
        Accepted = "accepted",
        /// The clinic denied the request on a ground, with its explanation.
        Denied = "denied",
        /// The client's statement of disagreement with a denial.
        Disagreed = "disagreed",
    }
}

/// What has happened to a request, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The clinic extended its time once, with its reasons.
    Extended { at: Timestamp, due: Timestamp },
    /// The clinic accepted and appended the amendment.
    Accepted { at: Timestamp },
    /// The clinic denied it on a basis, with its explanation.
    Denied { at: Timestamp },
    /// The client's statement of disagreement with a denial.
    Disagreed { at: Timestamp },
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the clinic's decision by `due`; `overdue` once past it.
    Open {
        due: Timestamp,
        extended: bool,
        overdue: bool,
    },
    Accepted,
    Denied {
        disagreed: bool,
    },
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open { overdue: true, .. } => "overdue",
            Status::Open { .. } => "open",
            Status::Accepted => "accepted",
            Status::Denied { disagreed: false } => "denied",
            Status::Denied { disagreed: true } => "denied_disagreed",
        }
    }
}

/// When the clinic must act on a request received at `asked`.
pub fn due(asked: Timestamp) -> Timestamp {
    asked + SignedDuration::from_hours(24 * RESPONSE_DAYS)
}

/// Where a request received at `asked` stands after `steps`, at `now`.
pub fn status(asked: Timestamp, steps: &[Step], now: Timestamp) -> Status {
    let mut due_at = due(asked);
    let mut extended = false;
    let mut decided: Option<Status> = None;
    for s in steps {
        match s {
            Step::Extended { due, .. } => {
                due_at = *due;
                extended = true;
            }
            Step::Accepted { .. } => decided = Some(Status::Accepted),
            Step::Denied { .. } => decided = Some(Status::Denied { disagreed: false }),
            Step::Disagreed { .. } => decided = Some(Status::Denied { disagreed: true }),
        }
    }
    decided.unwrap_or(Status::Open { due: due_at, extended, overdue: now > due_at })
}

/// The extension of a request received at `asked`, asked for at `now`:
/// once, while it is open and within its time; the new date is the old due
/// date plus at most 30 days. Refused naming `due`.
pub fn extend(asked: Timestamp, steps: &[Step], now: Timestamp) -> Result<Timestamp, DomainError> {
    match status(asked, steps, now) {
        Status::Open { extended: true, .. } => {
            Err(DomainError::invalid("due", "the time to act was extended once already; it may not be again"))
        }
        Status::Open { overdue: true, due, .. } => Err(DomainError::invalid(
            "due",
            format!("an extension is given within the time to act, which ended {due}; decide the request now"),
        )),
        Status::Open { due, .. } => Ok(due + SignedDuration::from_hours(24 * EXTENSION_DAYS)),
        _ => Err(DomainError::invalid("due", "the request is decided; there is nothing to extend")),
    }
}

/// Whether the clinic may decide (accept or deny) the request: once, while
/// open (late is still required: it is flagged overdue, never closed by
/// time). Refused naming `decision`.
pub fn may_decide(asked: Timestamp, steps: &[Step], now: Timestamp) -> Result<(), DomainError> {
    match status(asked, steps, now) {
        Status::Open { .. } => Ok(()),
        _ => Err(DomainError::invalid("decision", "the request is decided already; a decision is never changed")),
    }
}

/// Whether the client may file a statement of disagreement: once, after a
/// denial. Refused naming `statement`.
pub fn may_disagree(asked: Timestamp, steps: &[Step], now: Timestamp) -> Result<(), DomainError> {
    match status(asked, steps, now) {
        Status::Denied { disagreed: false } => Ok(()),
        Status::Denied { disagreed: true } => {
            Err(DomainError::invalid("statement", "your statement of disagreement is already kept with your record"))
        }
        _ => Err(DomainError::invalid("statement", "a statement of disagreement answers a denied request")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn a_request_is_due_60_days_after_it_arrives_and_overdue_after() {
        // Received 1 March 2026 at noon UTC: due 30 April at noon (60 days).
        let asked = t("2026-03-01T12:00:00Z");
        assert_eq!(due(asked), t("2026-04-30T12:00:00Z"));
        let open = status(asked, &[], t("2026-04-30T11:59:59Z"));
        assert_eq!(open, Status::Open { due: t("2026-04-30T12:00:00Z"), extended: false, overdue: false });
        let late = status(asked, &[], t("2026-04-30T12:00:01Z"));
        assert_eq!(late.as_str(), "overdue");
    }

    #[test]
    fn the_time_is_extended_once_by_30_days_and_only_within_the_60() {
        let asked = t("2026-03-01T12:00:00Z");
        // Asked on day 50: the new date is 30 May (30 April + 30 days).
        let new_due = extend(asked, &[], t("2026-04-20T09:00:00Z")).expect("extend");
        assert_eq!(new_due, t("2026-05-30T12:00:00Z"));
        let steps = [Step::Extended { at: t("2026-04-20T09:00:00Z"), due: new_due }];
        assert_eq!(
            status(asked, &steps, t("2026-05-10T00:00:00Z")),
            Status::Open { due: new_due, extended: true, overdue: false }
        );
        // A second extension is refused.
        let e = extend(asked, &steps, t("2026-05-10T00:00:00Z")).expect_err("twice");
        assert_eq!(e.field(), "due");
        // After day 60 without one, too late to extend: decide.
        let e = extend(asked, &[], t("2026-05-01T00:00:00Z")).expect_err("late");
        assert!(e.reason().contains("decide the request now"), "{e}");
    }

    #[test]
    fn a_request_is_decided_once_and_a_disagreement_answers_only_a_denial() {
        let asked = t("2026-03-01T12:00:00Z");
        let now = t("2026-03-10T00:00:00Z");
        assert!(may_decide(asked, &[], now).is_ok());
        // Overdue is still decided.
        assert!(may_decide(asked, &[], t("2026-06-01T00:00:00Z")).is_ok());
        let accepted = [Step::Accepted { at: now }];
        assert_eq!(status(asked, &accepted, now), Status::Accepted);
        assert_eq!(may_decide(asked, &accepted, now).expect_err("twice").field(), "decision");
        assert_eq!(may_disagree(asked, &accepted, now).expect_err("accepted").field(), "statement");
        assert_eq!(may_disagree(asked, &[], now).expect_err("open").field(), "statement");
        let denied = [Step::Denied { at: now }];
        assert_eq!(status(asked, &denied, now).as_str(), "denied");
        assert!(may_disagree(asked, &denied, now).is_ok());
        let disagreed = [Step::Denied { at: now }, Step::Disagreed { at: now }];
        assert_eq!(status(asked, &disagreed, now).as_str(), "denied_disagreed");
        assert!(may_disagree(asked, &disagreed, now).is_err(), "once");
        assert!(extend(asked, &denied, now).is_err(), "nothing to extend once decided");
    }

    #[test]
    fn the_four_grounds_of_denial_are_the_regulations_and_read_plainly() {
        assert_eq!(DenialBasis::ALL.len(), 4);
        assert!(DenialBasis::parse("basis", "we_do_not_like_it").is_err());
        for b in DenialBasis::ALL {
            assert!(!b.label().is_empty());
        }
    }
}
