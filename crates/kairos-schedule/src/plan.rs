//! The plan format: what the scheduler answers.

use serde::{Deserialize, Serialize};

/// A plan: every requested event is either assigned or listed as unscheduled with a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = SchedulePlan))]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub assignments: Vec<Assignment>,
    pub unscheduled: Vec<Unscheduled>,
    /// Booked appointments that this plan moves (or drops), with the old and new slot.
    #[serde(default)]
    pub moved: Vec<Moved>,
    #[serde(default)]
    pub summary: Summary,
}

/// Dose or therapy session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PlanEventKind))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Dose,
    Session,
}

/// Where a session fell in its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WindowFit {
    Preferred,
    Acceptable,
}

/// One scheduled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub event: String,
    pub kind: EventKind,
    pub course: String,
    pub client: String,
    /// RFC 3339 with the clinic's offset.
    pub start: String,
    /// End (for a dose: discharge, the end of monitoring).
    pub end: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chair: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The monitor (dose) or therapist (session).
    pub staff: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowFit>,
}

/// Why an event could not be scheduled: the first constraint that leaves no start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UnscheduledReason))]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The previous dose of the series is unscheduled.
    PreviousDoseUnscheduled,
    /// The dose the session is tied to is unscheduled.
    AnchorDoseUnscheduled,
    /// No start respects the dose spacing, the course's dates and the horizon.
    Spacing,
    /// The session's window lies outside the horizon.
    WindowClosed,
    /// The site is not open at any allowed start.
    SiteClosed,
    /// The site closes before monitoring would end at every allowed start.
    SiteClosesBeforeMonitoringEnds,
    /// The client is not available at any allowed start.
    ClientUnavailable,
    /// The client is booked elsewhere at every remaining start.
    ClientBusy,
    /// Every remaining start is on a day with a dose of this client.
    NonDosingDay,
    /// No medical monitor is on duty at any remaining start.
    MonitorUnavailable,
    /// Monitors on duty are all at capacity.
    MonitorCapacity,
    /// No chair is free.
    NoChair,
    /// No therapist works at any remaining start.
    TherapistUnavailable,
    /// Every therapist on duty is booked.
    TherapistBusy,
    /// No room is free.
    NoRoom,
    /// A start exists but the search did not take it (should not happen; reported, not hidden).
    SearchLimit,
}

/// One unscheduled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Unscheduled {
    pub event: String,
    pub kind: EventKind,
    pub course: String,
    pub client: String,
    pub reason: Reason,
    /// A sentence for the coordinator.
    pub detail: String,
}

/// A booked appointment and where it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = BookingSlot))]
#[serde(deny_unknown_fields)]
pub struct Slot {
    pub start: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chair: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    pub staff: String,
}

/// A moved or dropped booking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Moved {
    pub event: String,
    pub from: Slot,
    /// `None`: the booking was dropped and the event is unscheduled.
    pub to: Option<Slot>,
    pub reason: String,
}

/// Counts and the objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = PlanSummary))]
#[serde(deny_unknown_fields, default)]
pub struct Summary {
    pub doses_requested: usize,
    pub doses_scheduled: usize,
    pub sessions_requested: usize,
    pub sessions_scheduled: usize,
    pub sessions_in_preferred_window: usize,
    pub sessions_with_continuing_therapist: usize,
    /// Sum over clients of the distinct local days they come in.
    pub client_days: usize,
    /// Distinct (chair, day) pairs in use.
    pub chair_days: usize,
    /// Booked appointments moved or dropped.
    pub moved: usize,
    /// The weighted objective (lower is better; see the crate docs).
    pub objective: i64,
    /// Local-search iterations run.
    pub iterations: u64,
    /// `iterations` (deterministic) or `time_limit`.
    pub stopped_by: String,
    pub millis: u64,
    /// Repair after a change that concerns one client (a cancellation, the client's
    /// absence): whether the plan moves only that client's appointments, and if it
    /// moves another client's, whether a plan that does not was proven impossible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_only: Option<OwnOnly>,
}

/// How a repair kept (or could not keep) to the affected client's own appointments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OwnOnly {
    /// The client the change concerns.
    pub client: String,
    pub outcome: OwnOnlyOutcome,
    /// The client's doses and sessions in the best plan that moves only their appointments
    /// (every other booking held in place).
    pub own_only_doses: usize,
    pub own_only_sessions: usize,
    /// The client's doses and sessions in the returned plan.
    pub doses: usize,
    pub sessions: usize,
    /// Nodes the exact search over the client's appointments visited.
    pub nodes: u64,
    /// A sentence for the coordinator ("another client had to move because ...").
    pub detail: String,
}

/// The outcome of the exact search over the affected client's appointments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OwnOnlyOutcome {
    /// The plan moves no other client's appointment.
    Kept,
    /// Another client's appointment moved: the search went through every plan that
    /// moves only this client's appointments, and none keeps as many of their doses
    /// (then sessions) as the returned plan.
    ProvenImpossible,
    /// Another client's appointment moved: the search stopped at its node budget before
    /// finding a plan as good that moves only this client's appointments (not a proof).
    SearchLimit,
}

impl Plan {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses a plan; errors name the field.
    pub fn from_json(text: &str) -> Result<Plan, crate::Error> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de)
            .map_err(|e| crate::Error::Parse { path: e.path().to_string(), message: e.inner().to_string() })
    }
}
