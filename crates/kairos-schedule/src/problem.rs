//! The problem format: what the clinic asks the scheduler to plan.
//!
//! All wall-clock values are local to [`Problem::time_zone`]; see `FORMAT.md`.

use jiff::civil::{Date, DateTime, Time};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// One scheduling problem: the clinic, its resources, and the courses to plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// IANA time zone of the clinic, e.g. `America/New_York`.
    pub time_zone: String,
    /// The planning horizon (local dates).
    pub horizon: Horizon,
    /// Slot size in minutes (divides 60). Default 15.
    #[serde(default = "default_slot")]
    pub slot_minutes: u32,
    /// Weekly opening hours of the site. Every event lies inside them.
    pub site_hours: Vec<WeeklyHours>,
    /// Periods the whole site is closed (holidays), local date-times.
    #[serde(default)]
    pub closures: Vec<Period>,
    /// Infusion chairs (a dose holds one for infusion plus monitoring).
    pub chairs: Vec<Resource>,
    /// Therapy rooms (a session that needs a room holds one).
    #[serde(default)]
    pub rooms: Vec<Resource>,
    /// Staff: medical monitors and therapists.
    pub staff: Vec<Staff>,
    /// Clients with their availability and continuing therapist.
    pub clients: Vec<Client>,
    /// Courses: the dose series and therapy sessions to schedule.
    pub courses: Vec<Course>,
    /// Groups with fixed meeting slots (they block their therapist, room and members).
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Appointments already booked for requested events.
    #[serde(default)]
    pub booked: Vec<Booking>,
}

fn default_slot() -> u32 {
    15
}
fn default_true() -> bool {
    true
}
fn default_one() -> u32 {
    1
}

/// The planning horizon: `days` local days from `start` (at local midnight).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Horizon {
    pub start: Date,
    pub days: u32,
}

/// Days of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ScheduleDay))]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub(crate) fn of(w: jiff::civil::Weekday) -> Day {
        use jiff::civil::Weekday as W;
        match w {
            W::Monday => Day::Mon,
            W::Tuesday => Day::Tue,
            W::Wednesday => Day::Wed,
            W::Thursday => Day::Thu,
            W::Friday => Day::Fri,
            W::Saturday => Day::Sat,
            W::Sunday => Day::Sun,
        }
    }
}

/// Recurring weekly hours: on each of `days`, local `from` to `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    pub days: Vec<Day>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{2}:[0-9]{2}"))]
    pub from: Time,
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9]{2}:[0-9]{2}"))]
    pub to: Time,
}

impl WeeklyHours {
    /// Whether the local period `[start, end)` lies within these hours on
    /// one day.
    pub fn covers(&self, start: jiff::civil::DateTime, end: jiff::civil::DateTime) -> bool {
        start.date() == end.date()
            && self.days.contains(&Day::of(start.weekday()))
            && start.time() >= self.from
            && end.time() <= self.to
    }
}

/// The first quarter-hour start at or after `from` and before `until` at
/// which a visit of `len` lies within one period of `site` and, when given,
/// one of `person`'s (a therapist's own hours), and overlaps none of `busy`
/// (the therapist's and the client's bookings); none when there is no such
/// time.
pub fn first_open_slot(
    site: &[WeeklyHours],
    person: Option<&[WeeklyHours]>,
    busy: &[Period],
    from: jiff::civil::DateTime,
    until: jiff::civil::DateTime,
    len: jiff::SignedDuration,
) -> Option<jiff::civil::DateTime> {
    let quarter = jiff::SignedDuration::from_mins(15);
    // Round up to the next quarter hour.
    let into = i64::from(from.minute() % 15) * 60 + i64::from(from.second());
    let mut t = if into == 0 && from.subsec_nanosecond() == 0 {
        from
    } else {
        from.checked_add(jiff::SignedDuration::from_secs(15 * 60 - into))
            .ok()?
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
    };
    while t < until {
        let end = t.checked_add(len).ok()?;
        let fits = |h: &[WeeklyHours]| h.iter().any(|w| w.covers(t, end));
        let free = !busy.iter().any(|b| b.from < end && t < b.to);
        if fits(site) && person.is_none_or(fits) && free {
            return Some(t);
        }
        t = t.checked_add(quarter).ok()?;
    }
    None
}

#[cfg(test)]
mod slot_tests {
    use super::*;
    use jiff::civil::{date, time};

    fn weekdays(from: (i8, i8), to: (i8, i8)) -> WeeklyHours {
        WeeklyHours {
            days: vec![Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri],
            from: time(from.0, from.1, 0, 0),
            to: time(to.0, to.1, 0, 0),
        }
    }

    #[test]
    fn the_first_open_slot_falls_inside_the_site_and_the_therapists_hours() {
        let hour = jiff::SignedDuration::from_hours(1);
        let site = [weekdays((8, 0), (18, 0))];
        // Friday 2026-12-04 03:45: the site opens at 08:00.
        let from = date(2026, 12, 4).at(3, 45, 0, 0);
        let until = date(2026, 12, 8).at(0, 0, 0, 0);
        assert_eq!(first_open_slot(&site, None, &[], from, until, hour), Some(date(2026, 12, 4).at(8, 0, 0, 0)));
        // 17:10 on Friday: no hour left that day, none at the weekend: Monday 08:00.
        let late = date(2026, 12, 4).at(17, 10, 0, 0);
        assert_eq!(first_open_slot(&site, None, &[], late, until, hour), Some(date(2026, 12, 7).at(8, 0, 0, 0)));
        // Rounded up to the quarter hour: 09:07 gives 09:15.
        let odd = date(2026, 12, 4).at(9, 7, 30, 0);
        assert_eq!(first_open_slot(&site, None, &[], odd, until, hour), Some(date(2026, 12, 4).at(9, 15, 0, 0)));
        // A therapist who works afternoons only.
        let therapist = [weekdays((13, 0), (17, 0))];
        assert_eq!(
            first_open_slot(&site, Some(&therapist), &[], from, until, hour),
            Some(date(2026, 12, 4).at(13, 0, 0, 0))
        );
        // Her 13:00-14:30 booking and the client's 14:30-15:00 one are stepped
        // around: the first free hour is 15:00.
        let busy = [
            Period { from: date(2026, 12, 4).at(13, 0, 0, 0), to: date(2026, 12, 4).at(14, 30, 0, 0) },
            Period { from: date(2026, 12, 4).at(14, 30, 0, 0), to: date(2026, 12, 4).at(15, 0, 0, 0) },
        ];
        assert_eq!(
            first_open_slot(&site, Some(&therapist), &busy, from, until, hour),
            Some(date(2026, 12, 4).at(15, 0, 0, 0))
        );
        // A booking ending as the hour starts does not clash (half-open periods).
        let before = [Period { from: date(2026, 12, 4).at(12, 0, 0, 0), to: date(2026, 12, 4).at(13, 0, 0, 0) }];
        assert_eq!(
            first_open_slot(&site, Some(&therapist), &before, from, until, hour),
            Some(date(2026, 12, 4).at(13, 0, 0, 0))
        );
        // No time before the window closes.
        let soon = date(2026, 12, 5).at(12, 0, 0, 0);
        assert_eq!(first_open_slot(&site, None, &[], late, soon, hour), None);
    }
}

/// A local period `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub from: DateTime,
    pub to: DateTime,
}

/// A chair or a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    pub id: String,
    /// Periods out of service (a broken chair, a room in use).
    #[serde(default)]
    pub unavailable: Vec<Period>,
}

/// Staff roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A nurse or prescriber who supervises dosing sessions.
    Monitor,
    /// A psychotherapist.
    Therapist,
}

/// A staff member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Staff {
    pub id: String,
    pub roles: Vec<Role>,
    /// Weekly working hours.
    pub hours: Vec<WeeklyHours>,
    /// Leave, sickness, other commitments.
    #[serde(default)]
    pub unavailable: Vec<Period>,
    /// How many dosing sessions this person can supervise at once (monitors). Default 1.
    #[serde(default = "default_one")]
    pub monitor_capacity: u32,
}

/// A client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub id: String,
    /// When the client can come in (weekly).
    pub availability: Vec<WeeklyHours>,
    #[serde(default)]
    pub unavailable: Vec<Period>,
    /// The continuing therapist (staff id); sessions prefer them.
    #[serde(default)]
    pub therapist: Option<String>,
}

/// One client's course: a dose series and the therapy sessions tied to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Course {
    pub id: String,
    pub client: String,
    /// First local date a dose may fall on (default: horizon start).
    #[serde(default)]
    pub earliest: Option<Date>,
    /// Last local date any dose may fall on (default: horizon end).
    #[serde(default)]
    pub latest: Option<Date>,
    pub doses: DoseSeries,
    #[serde(default)]
    pub sessions: Vec<SessionRequest>,
}

/// The dose series of a course.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoseSeries {
    /// Number of doses to schedule in this horizon.
    pub count: u32,
    /// Administration time (IV infusion 40 min; intranasal ~15 min).
    pub infusion_minutes: u32,
    /// Observation after administration (IV 60-120 min; esketamine >= 120 min).
    pub monitoring_minutes: u32,
    /// Minimum time between the starts of consecutive doses.
    pub min_gap_hours: u32,
    /// Maximum time between the starts of consecutive doses.
    #[serde(default)]
    pub max_gap_hours: Option<u32>,
    /// Maximum days from the first dose's start to the last dose's start.
    #[serde(default)]
    pub max_span_days: Option<u32>,
}

/// Where a session's window is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The dose's start.
    DoseStart,
    /// The end of monitoring (discharge).
    #[default]
    Discharge,
}

/// A session window, in hours relative to the anchor (may be negative, e.g. preparation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// Earliest start.
    pub open_hours: i32,
    /// Preferred starts: `[preferred_from_hours, preferred_to_hours]`.
    pub preferred_from_hours: i32,
    pub preferred_to_hours: i32,
    /// Latest start (the hard closing bound).
    pub close_hours: i32,
}

/// A therapy session tied to a dose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// Unique within the course.
    pub id: String,
    /// Free text: `integration`, `wet`, `preparation`, ...
    pub kind: String,
    /// The dose (1-based) the window is relative to.
    pub after_dose: u32,
    #[serde(default)]
    pub anchor: Anchor,
    pub duration_minutes: u32,
    pub window: Window,
    /// Only on a local day without a dose of this client.
    #[serde(default)]
    pub non_dosing_day: bool,
    /// Needs a therapy room (default true).
    #[serde(default = "default_true")]
    pub needs_room: bool,
}

/// A group with fixed meetings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub id: String,
    pub therapist: String,
    #[serde(default)]
    pub room: Option<String>,
    pub members: Vec<String>,
    pub meetings: Vec<Meeting>,
}

/// One group meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meeting {
    pub start: DateTime,
    pub minutes: u32,
}

/// An appointment already booked for a requested event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Booking {
    /// Event id: `COURSE/dose-N` or `COURSE/SESSION`.
    pub event: String,
    /// RFC 3339 instant (`2026-03-03T13:00:00-05:00`) or a local date-time (`2026-03-03T13:00`).
    pub start: String,
    #[serde(default)]
    pub chair: Option<String>,
    #[serde(default)]
    pub room: Option<String>,
    #[serde(default)]
    pub staff: Option<String>,
    /// Fixed unless the coordinator frees it (`false`): a freed booking may move at a cost.
    #[serde(default = "default_true")]
    pub fixed: bool,
}

impl Problem {
    /// Parses a problem from JSON; a malformed file gives an error naming the field's path.
    pub fn from_json(text: &str) -> Result<Problem, Error> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let p: Problem = serde_path_to_error::deserialize(de)
            .map_err(|e| Error::Parse { path: e.path().to_string(), message: e.inner().to_string() })?;
        crate::model::Model::compile(&p)?;
        Ok(p)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The event id of dose `n` (1-based) of course `course`.
    pub fn dose_event_id(course: &str, n: u32) -> String {
        format!("{course}/dose-{n}")
    }

    /// The event id of a session.
    pub fn session_event_id(course: &str, session: &str) -> String {
        format!("{course}/{session}")
    }
}
