//! Encounters: every booked or held contact with a client.

use crate::DomainError;
use crate::ids::{ClientId, CourseId, EncounterId, RoomId, SiteId, StaffId};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

crate::text_enum! {
    pub enum EncounterKind {
        Intake = "intake",
        Preparation = "preparation",
        Dosing = "dosing",
        Integration = "integration",
        IndividualTherapy = "individual_therapy",
        Group = "group",
    }
}

impl EncounterKind {
    pub fn label(self) -> &'static str {
        match self {
            EncounterKind::Intake => "Intake",
            EncounterKind::Preparation => "Preparation",
            EncounterKind::Dosing => "Dosing session",
            EncounterKind::Integration => "Integration",
            EncounterKind::IndividualTherapy => "Individual therapy",
            EncounterKind::Group => "Group",
        }
    }
}

crate::text_enum! {
    pub enum EncounterStatus {
        Booked = "booked",
        Arrived = "arrived",
        Completed = "completed",
        Cancelled = "cancelled",
        NoShow = "no_show",
    }
}

impl EncounterStatus {
    pub fn next_allowed(self) -> &'static [EncounterStatus] {
        use EncounterStatus::*;
        match self {
            Booked => &[Arrived, Cancelled, NoShow],
            Arrived => &[Completed, Cancelled],
            Completed | Cancelled | NoShow => &[],
        }
    }

    pub fn transition(self, to: EncounterStatus) -> Result<EncounterStatus, DomainError> {
        if self.next_allowed().contains(&to) {
            return Ok(to);
        }
        let allowed = self.next_allowed();
        Err(DomainError::IllegalTransition {
            field: "status",
            from: self.to_string(),
            to: to.to_string(),
            allowed: if allowed.is_empty() {
                "none (the encounter is closed)".into()
            } else {
                allowed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            },
        })
    }

    pub fn is_closed(self) -> bool {
        self.next_allowed().is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encounter {
    pub id: EncounterId,
    pub client_id: ClientId,
    pub course_id: Option<CourseId>,
    pub site_id: SiteId,
    pub room_id: Option<RoomId>,
    pub staff_id: Option<StaffId>,
    pub kind: EncounterKind,
    pub status: EncounterStatus,
    pub scheduled_start: Timestamp,
    pub scheduled_end: Timestamp,
    pub actual_start: Option<Timestamp>,
    pub actual_end: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Why the visit was cancelled or missed, as the person who changed its
    /// status gave it.
    pub status_reason: Option<String>,
}

/// The longest a single encounter may be booked for.
pub const MAX_ENCOUNTER: SignedDuration = SignedDuration::from_hours(12);

/// A validated booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEncounter {
    pub client_id: ClientId,
    pub course_id: Option<CourseId>,
    pub site_id: SiteId,
    pub room_id: Option<RoomId>,
    pub staff_id: Option<StaffId>,
    pub kind: EncounterKind,
    pub scheduled_start: Timestamp,
    pub scheduled_end: Timestamp,
}

/// Checks that a scheduled interval is sensible: ends after it starts, lasts
/// at most [`MAX_ENCOUNTER`], and falls between 2000 and ten years from now.
pub fn check_interval(start: Timestamp, end: Timestamp, now: Timestamp) -> Result<(), DomainError> {
    let earliest: Timestamp = "2000-01-01T00:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH);
    let latest = now.checked_add(SignedDuration::from_hours(24 * 3653)).unwrap_or(Timestamp::MAX);
    if start < earliest || start > latest {
        return Err(DomainError::invalid("scheduled_start", "must be between 2000 and ten years from now"));
    }
    if end <= start {
        return Err(DomainError::invalid("scheduled_end", "must be after scheduled_start"));
    }
    if end.duration_since(start) > MAX_ENCOUNTER {
        return Err(DomainError::invalid("scheduled_end", "an encounter lasts at most 12 hours"));
    }
    Ok(())
}

/// A validated status change with the actual times it implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub to: EncounterStatus,
    pub actual_start: Option<Timestamp>,
    pub actual_end: Option<Timestamp>,
    /// Kept for a cancellation or a no-show; none otherwise.
    pub reason: Option<String>,
}

impl Encounter {
    /// Arrival stamps the actual start; completion stamps the actual end.
    /// A cancellation needs its reason (field `reason`: the record says why a
    /// planned visit did not happen); a no-show may carry one.
    pub fn change_status(
        &self,
        to: EncounterStatus,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<StatusChange, DomainError> {
        let to = self.status.transition(to)?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
        let reason = match to {
            EncounterStatus::Cancelled if reason.is_none() => {
                return Err(DomainError::invalid("reason", "say why the visit is cancelled"));
            }
            EncounterStatus::Cancelled | EncounterStatus::NoShow => reason,
            _ => None,
        };
        let actual_start = match to {
            EncounterStatus::Arrived => Some(now),
            _ => self.actual_start,
        };
        let actual_end = match to {
            EncounterStatus::Completed => Some(now),
            _ => self.actual_end,
        };
        Ok(StatusChange { to, actual_start, actual_end, reason })
    }

    pub fn duration(&self) -> SignedDuration {
        self.scheduled_end.duration_since(self.scheduled_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EncounterStatus::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    /// A dose booked from `now` until 17:00 UTC that day.
    fn booked_dose(now: Timestamp) -> Encounter {
        Encounter {
            id: EncounterId::new(),
            client_id: ClientId::new(),
            course_id: None,
            site_id: SiteId::new(),
            room_id: None,
            staff_id: None,
            kind: EncounterKind::Dosing,
            status: Booked,
            scheduled_start: now,
            scheduled_end: ts("2026-11-27T17:00:00Z"),
            actual_start: None,
            actual_end: None,
            created_at: now,
            updated_at: now,
            status_reason: None,
        }
    }

    #[test]
    fn an_encounter_is_booked_then_arrived_then_completed() {
        let now = ts("2026-11-27T15:00:00Z");
        let mut e = booked_dose(now);
        let arrived = e.change_status(Arrived, Some("ignored"), now).expect("arrive");
        assert_eq!(arrived.reason, None, "only a cancellation or a no-show keeps a reason");
        assert_eq!(arrived.actual_start, Some(now));
        e.status = Arrived;
        e.actual_start = arrived.actual_start;
        let done = e.change_status(Completed, None, ts("2026-11-27T17:05:00Z")).expect("complete");
        assert_eq!(done.actual_start, Some(now));
        assert_eq!(done.actual_end, Some(ts("2026-11-27T17:05:00Z")));
    }

    #[test]
    fn a_cancellation_says_why_and_a_no_show_may() {
        let now = ts("2026-11-27T15:00:00Z");
        let e = booked_dose(now);
        for blank in [None, Some(""), Some("   ")] {
            let refused = e.change_status(Cancelled, blank, now).map_err(|x| x.field().to_string());
            assert_eq!(refused, Err("reason".to_string()), "{blank:?}");
        }
        let cancelled = e.change_status(Cancelled, Some("  Client unwell, rebooking next week "), now).expect("cancel");
        assert_eq!(cancelled.reason.as_deref(), Some("Client unwell, rebooking next week"));
        assert_eq!(e.change_status(NoShow, None, now).expect("no-show").reason, None);
        assert_eq!(
            e.change_status(NoShow, Some("no answer by phone"), now).expect("no-show").reason.as_deref(),
            Some("no answer by phone")
        );
    }

    #[test]
    fn closed_encounters_do_not_change_and_a_no_show_cannot_be_completed() {
        for &closed in &[Completed, Cancelled, NoShow] {
            for &to in EncounterStatus::ALL {
                assert!(closed.transition(to).is_err(), "{closed} -> {to}");
            }
        }
        assert!(Booked.transition(Completed).is_err(), "must arrive first");
    }

    #[test]
    fn intervals_must_end_after_they_start_and_be_bounded() {
        let now = ts("2026-11-27T00:00:00Z");
        let s = ts("2026-12-01T14:00:00Z");
        assert!(check_interval(s, ts("2026-12-01T16:30:00Z"), now).is_ok());
        assert_eq!(check_interval(s, s, now).map_err(|e| e.field().to_string()), Err("scheduled_end".into()));
        assert_eq!(
            check_interval(s, ts("2026-12-02T03:00:00Z"), now).map_err(|e| e.field().to_string()),
            Err("scheduled_end".into())
        );
        assert_eq!(
            check_interval(ts("1999-12-31T10:00:00Z"), ts("1999-12-31T11:00:00Z"), now)
                .map_err(|e| e.field().to_string()),
            Err("scheduled_start".into())
        );
    }
}
