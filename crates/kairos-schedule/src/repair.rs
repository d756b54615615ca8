//! Changes to a booked plan and the repair that follows them.

use jiff::civil::DateTime;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::plan::Plan;
use crate::problem::{Booking, Period, Problem};

/// Something that happened to a booked plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ScheduleChange))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// The client cannot come to this appointment: it is rescheduled, never at its old time.
    Cancel { event: String },
    /// The course ends: its events are no longer requested.
    WithdrawCourse { course: String },
    /// A staff member is away (sick) from `from` to `to` (local).
    StaffUnavailable {
        staff: String,
        #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"))]
        from: DateTime,
        #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"))]
        to: DateTime,
    },
    /// A chair is out of service.
    ChairUnavailable {
        chair: String,
        #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"))]
        from: DateTime,
        #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"))]
        to: DateTime,
    },
    /// A room is out of service.
    RoomUnavailable {
        room: String,
        #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"))]
        from: DateTime,
        #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"))]
        to: DateTime,
    },
    /// The client is away.
    ClientUnavailable {
        client: String,
        #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"))]
        from: DateTime,
        #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"))]
        to: DateTime,
    },
}

/// Applies a change to a problem whose `booked` list is `plan`'s assignments.
/// Bookings the coordinator fixed in `problem.booked` stay fixed; the rest of the plan
/// becomes movable bookings (moving one costs; see the objective).
pub fn apply_change(problem: &Problem, plan: &Plan, change: &Change) -> Result<Problem, Error> {
    let mut p = problem.clone();
    let fixed: std::collections::HashMap<&str, bool> =
        problem.booked.iter().map(|b| (b.event.as_str(), b.fixed)).collect();
    p.booked = plan
        .assignments
        .iter()
        .map(|a| Booking {
            event: a.event.clone(),
            start: a.start.clone(),
            chair: a.chair.clone(),
            room: a.room.clone(),
            staff: Some(a.staff.clone()),
            fixed: fixed.get(a.event.as_str()).copied().unwrap_or(false),
        })
        .collect();
    let period = |from: DateTime, to: DateTime| Period { from, to };
    match change {
        Change::Cancel { event } => {
            let Some(a) = plan.assignments.iter().find(|a| &a.event == event) else {
                return Err(Error::invalid("change.event", format!("'{event}' is not booked in the plan")));
            };
            let m = crate::model::Model::compile(&p)?;
            let e = m.event_index[event];
            let s = m.parse_slot(&a.start).map_err(|x| Error::invalid("change.event", x))?;
            let tz = &m.tz;
            let from = m.ts(s).to_zoned(tz.clone()).datetime();
            let to = m.ts(s + m.events[e].dur).to_zoned(tz.clone()).datetime();
            let client = m.clients[m.events[e].client].id.clone();
            if let Some(c) = p.clients.iter_mut().find(|c| c.id == client) {
                c.unavailable.push(period(from, to));
            }
            if let Some(b) = p.booked.iter_mut().find(|b| &b.event == event) {
                b.fixed = false;
            }
        }
        Change::WithdrawCourse { course } => {
            if !p.courses.iter().any(|c| &c.id == course) {
                return Err(Error::invalid("change.course", format!("unknown course '{course}'")));
            }
            p.courses.retain(|c| &c.id != course);
            let prefix = format!("{course}/");
            p.booked.retain(|b| !b.event.starts_with(&prefix));
        }
        Change::StaffUnavailable { staff, from, to } => {
            let s = p.staff.iter_mut().find(|s| &s.id == staff);
            let Some(s) = s else { return Err(Error::invalid("change.staff", format!("unknown staff '{staff}'"))) };
            s.unavailable.push(period(*from, *to));
        }
        Change::ChairUnavailable { chair, from, to } => {
            let Some(c) = p.chairs.iter_mut().find(|c| &c.id == chair) else {
                return Err(Error::invalid("change.chair", format!("unknown chair '{chair}'")));
            };
            c.unavailable.push(period(*from, *to));
        }
        Change::RoomUnavailable { room, from, to } => {
            let Some(c) = p.rooms.iter_mut().find(|c| &c.id == room) else {
                return Err(Error::invalid("change.room", format!("unknown room '{room}'")));
            };
            c.unavailable.push(period(*from, *to));
        }
        Change::ClientUnavailable { client, from, to } => {
            let Some(c) = p.clients.iter_mut().find(|c| &c.id == client) else {
                return Err(Error::invalid("change.client", format!("unknown client '{client}'")));
            };
            c.unavailable.push(period(*from, *to));
        }
    }
    // A fixed booking that the change breaks is freed: the solver reports it as moved.
    crate::model::Model::compile(&p)?;
    Ok(p)
}
