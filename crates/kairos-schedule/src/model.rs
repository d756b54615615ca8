//! The compiled problem: everything in integer slots over the horizon.
//!
//! Slot `s` is the absolute interval `[t0 + s*slot, t0 + (s+1)*slot)` where `t0` is the
//! local midnight that starts the horizon. Local wall-clock hours are turned into slots
//! per local day through the time zone, so a 23- or 25-hour day has 4 slots fewer or more.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

use crate::error::Error;
use crate::problem::{Anchor, Day, Period, Problem, Role, WeeklyHours};

pub(crate) const NONE: u32 = u32::MAX;

/// Static availability as a prefix count of unavailable slots.
#[derive(Debug, Clone)]
pub(crate) struct Avail {
    bad: Vec<u32>,
}

impl Avail {
    pub(crate) fn from_ok(ok: &[bool]) -> Avail {
        let mut bad = Vec::with_capacity(ok.len() + 1);
        bad.push(0);
        let mut c = 0;
        for &o in ok {
            if !o {
                c += 1;
            }
            bad.push(c);
        }
        Avail { bad }
    }
    /// True when every slot of `[s, e)` is available (and inside the horizon).
    #[inline]
    pub(crate) fn ok(&self, s: u32, e: u32) -> bool {
        let (s, e) = (s as usize, e as usize);
        e < self.bad.len() && s <= e && self.bad[e] == self.bad[s]
    }
    #[inline]
    pub(crate) fn ok_at(&self, s: u32) -> bool {
        self.ok(s, s + 1)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct DayInfo {
    pub date: Date,
    pub start: u32,
    pub end: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct ResM {
    pub id: String,
    pub avail: Avail,
}

#[derive(Debug, Clone)]
pub(crate) struct StaffM {
    pub id: String,
    pub monitor: bool,
    pub therapist: bool,
    pub cap: u8,
    pub avail: Avail,
}

#[derive(Debug, Clone)]
pub(crate) struct ClientM {
    pub id: String,
    pub avail: Avail,
    pub therapist: Option<usize>,
    pub events: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct CourseM {
    pub id: String,
    pub client: usize,
    pub doses: Vec<usize>,
    pub sessions: Vec<usize>,
    pub min_gap: u32,
    pub max_gap: Option<u32>,
    pub max_span: Option<u32>,
    /// Earliest dose start slot.
    pub lo: u32,
    /// Latest dose start slot (the start must fall on a day up to `latest`).
    pub hi: u32,
}

#[derive(Debug, Clone)]
pub(crate) enum EvKind {
    Dose {
        n: u32,
    },
    Session {
        anchor: usize,
        from_end: bool,
        open: i64,
        pf: i64,
        pt: i64,
        close: i64,
        non_dosing: bool,
        needs_room: bool,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct EventM {
    pub id: String,
    pub course: usize,
    pub client: usize,
    pub dur: u32,
    pub kind: EvKind,
}

impl EventM {
    pub(crate) fn is_dose(&self) -> bool {
        matches!(self.kind, EvKind::Dose { .. })
    }
}

/// A fixed block from a group meeting.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub label: String,
    pub start: u32,
    pub end: u32,
    pub staff: usize,
    pub room: Option<usize>,
    pub clients: Vec<usize>,
}

/// A placement: start slot, chair or room index, staff index (`NONE` when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub start: u32,
    pub res: u32,
    pub staff: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct BookingM {
    pub place: Place,
    pub fixed: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub tz: TimeZone,
    pub t0: Timestamp,
    pub slot_secs: i64,
    pub n: u32,
    pub days: Vec<DayInfo>,
    pub day_of: Vec<u16>,
    pub site: Avail,
    pub chairs: Vec<ResM>,
    pub rooms: Vec<ResM>,
    pub staff: Vec<StaffM>,
    /// Indices of the staff with the monitor role, and with the therapist role.
    pub monitors: Vec<usize>,
    pub therapists: Vec<usize>,
    pub clients: Vec<ClientM>,
    pub courses: Vec<CourseM>,
    pub events: Vec<EventM>,
    pub blocks: Vec<Block>,
    pub bookings: Vec<Option<BookingM>>,
    pub event_index: HashMap<String, usize>,
    pub chair_index: HashMap<String, usize>,
    pub room_index: HashMap<String, usize>,
    pub staff_index: HashMap<String, usize>,
}

fn dup_check<'a>(ids: impl Iterator<Item = &'a str>, field: &str) -> Result<HashMap<String, usize>, Error> {
    let mut m = HashMap::new();
    for (i, id) in ids.enumerate() {
        if id.is_empty() {
            return Err(Error::invalid(format!("{field}[{i}].id"), "empty id"));
        }
        if m.insert(id.to_string(), i).is_some() {
            return Err(Error::invalid(format!("{field}[{i}].id"), format!("duplicate id '{id}'")));
        }
    }
    Ok(m)
}

/// The longest event: a dose (administration and monitoring) or a group
/// meeting, in minutes.
const MAX_DOSE_MINUTES: u32 = 24 * 60;

/// The longest spacing, series or window offset, in hours: the longest
/// horizon (400 days).
const MAX_SPAN_HOURS: u32 = 400 * 24;

/// `value` unless it is above `max`; then an error naming `field`.
fn at_most(value: u32, max: u32, field: &str, limit: &str) -> Result<u32, Error> {
    if value > max {
        return Err(Error::invalid(field, format!("must be at most {limit}, not {value}")));
    }
    Ok(value)
}

/// A number of slots, which must fit the model's slot counter.
fn slots(n: i64, field: &str) -> Result<u32, Error> {
    u32::try_from(n).map_err(|_| Error::invalid(field, format!("{n} slots is out of range")))
}

impl Model {
    /// Compiles and validates a problem.
    pub(crate) fn compile(p: &Problem) -> Result<Model, Error> {
        let tz = TimeZone::get(&p.time_zone)
            .map_err(|e| Error::invalid("time_zone", format!("unknown IANA time zone '{}': {e}", p.time_zone)))?;
        if p.slot_minutes == 0 || p.slot_minutes > 60 || 60 % p.slot_minutes != 0 {
            return Err(Error::invalid("slot_minutes", "must divide 60 (5, 10, 15, 20, 30 or 60)"));
        }
        if p.horizon.days == 0 || p.horizon.days > 400 {
            return Err(Error::invalid("horizon.days", "must be 1 to 400"));
        }
        let slot_secs = i64::from(p.slot_minutes) * 60;
        let local = |dt: DateTime| -> Result<Timestamp, Error> {
            tz.to_ambiguous_zoned(dt)
                .compatible()
                .map(|z| z.timestamp())
                .map_err(|e| Error::invalid("time_zone", e.to_string()))
        };
        let t0 = local(p.horizon.start.to_datetime(Time::midnight()))?;
        let end_date = p
            .horizon
            .start
            .checked_add(jiff::Span::new().days(i64::from(p.horizon.days)))
            .map_err(|e| Error::invalid("horizon", e.to_string()))?;
        let t_end = local(end_date.to_datetime(Time::midnight()))?;
        let n = ((t_end.as_second() - t0.as_second()) / slot_secs) as u32;
        // Slot boundaries: floor and ceil of an instant.
        let floor = |ts: Timestamp| -> i64 { (ts.as_second() - t0.as_second()).div_euclid(slot_secs) };
        let ceil = |ts: Timestamp| -> i64 { -(-(ts.as_second() - t0.as_second())).div_euclid(slot_secs) };
        let clamp = |x: i64| -> u32 { x.clamp(0, i64::from(n)) as u32 };

        let mut days = Vec::new();
        let mut day_of = vec![0u16; n as usize];
        for d in 0..p.horizon.days {
            let date = p
                .horizon
                .start
                .checked_add(jiff::Span::new().days(i64::from(d)))
                .map_err(|e| Error::invalid("horizon", e.to_string()))?;
            let next = date.tomorrow().map_err(|e| Error::invalid("horizon", e.to_string()))?;
            let s = clamp(floor(local(date.to_datetime(Time::midnight()))?));
            let e = clamp(floor(local(next.to_datetime(Time::midnight()))?));
            for x in s..e {
                day_of[x as usize] = d as u16;
            }
            days.push(DayInfo { date, start: s, end: e });
        }

        let weekly = |hours: &[WeeklyHours], field: &str| -> Result<Vec<bool>, Error> {
            let mut ok = vec![false; n as usize];
            for (i, h) in hours.iter().enumerate() {
                if h.from >= h.to {
                    return Err(Error::invalid(format!("{field}[{i}].to"), "must be after `from`"));
                }
                for day in &days {
                    if !h.days.contains(&Day::of(day.date.weekday())) {
                        continue;
                    }
                    let s = clamp(ceil(local(day.date.to_datetime(h.from))?));
                    let e = clamp(floor(local(day.date.to_datetime(h.to))?));
                    for x in s..e.max(s) {
                        ok[x as usize] = true;
                    }
                }
            }
            Ok(ok)
        };
        let remove = |ok: &mut Vec<bool>, periods: &[Period], field: &str| -> Result<(), Error> {
            for (i, per) in periods.iter().enumerate() {
                if per.from >= per.to {
                    return Err(Error::invalid(format!("{field}[{i}].to"), "must be after `from`"));
                }
                let s = clamp(floor(local(per.from)?));
                let e = clamp(ceil(local(per.to)?));
                for x in s..e.max(s) {
                    ok[x as usize] = false;
                }
            }
            Ok(())
        };
        let all_ok = || vec![true; n as usize];

        let mut site_ok = weekly(&p.site_hours, "site_hours")?;
        remove(&mut site_ok, &p.closures, "closures")?;
        let site = Avail::from_ok(&site_ok);

        let chair_index = dup_check(p.chairs.iter().map(|c| c.id.as_str()), "chairs")?;
        let room_index = dup_check(p.rooms.iter().map(|c| c.id.as_str()), "rooms")?;
        let staff_index = dup_check(p.staff.iter().map(|c| c.id.as_str()), "staff")?;
        let client_index = dup_check(p.clients.iter().map(|c| c.id.as_str()), "clients")?;
        let _ = dup_check(p.courses.iter().map(|c| c.id.as_str()), "courses")?;

        let mut chairs = Vec::new();
        for (i, c) in p.chairs.iter().enumerate() {
            let mut ok = all_ok();
            remove(&mut ok, &c.unavailable, &format!("chairs[{i}].unavailable"))?;
            chairs.push(ResM { id: c.id.clone(), avail: Avail::from_ok(&ok) });
        }
        let mut rooms = Vec::new();
        for (i, c) in p.rooms.iter().enumerate() {
            let mut ok = all_ok();
            remove(&mut ok, &c.unavailable, &format!("rooms[{i}].unavailable"))?;
            rooms.push(ResM { id: c.id.clone(), avail: Avail::from_ok(&ok) });
        }
        let mut staff = Vec::new();
        for (i, s) in p.staff.iter().enumerate() {
            let mut ok = weekly(&s.hours, &format!("staff[{i}].hours"))?;
            remove(&mut ok, &s.unavailable, &format!("staff[{i}].unavailable"))?;
            if s.roles.is_empty() {
                return Err(Error::invalid(format!("staff[{i}].roles"), "at least one role"));
            }
            if s.monitor_capacity == 0 || s.monitor_capacity > 50 {
                return Err(Error::invalid(format!("staff[{i}].monitor_capacity"), "must be 1 to 50"));
            }
            staff.push(StaffM {
                id: s.id.clone(),
                monitor: s.roles.contains(&Role::Monitor),
                therapist: s.roles.contains(&Role::Therapist),
                cap: s.monitor_capacity as u8,
                avail: Avail::from_ok(&ok),
            });
        }
        let mut clients = Vec::new();
        for (i, c) in p.clients.iter().enumerate() {
            let mut ok = weekly(&c.availability, &format!("clients[{i}].availability"))?;
            remove(&mut ok, &c.unavailable, &format!("clients[{i}].unavailable"))?;
            let therapist = match &c.therapist {
                None => None,
                Some(t) => match staff_index.get(t) {
                    Some(&s) if staff[s].therapist => Some(s),
                    _ => {
                        return Err(Error::invalid(
                            format!("clients[{i}].therapist"),
                            format!("'{t}' is not a staff member with the therapist role"),
                        ));
                    }
                },
            };
            clients.push(ClientM { id: c.id.clone(), avail: Avail::from_ok(&ok), therapist, events: vec![] });
        }

        let per_hour = 60 / i64::from(p.slot_minutes);
        let dur_slots = |m: u32| -> u32 { m.div_ceil(p.slot_minutes) };
        let mut courses = Vec::new();
        let mut events = Vec::new();
        let mut event_index = HashMap::new();
        for (k, c) in p.courses.iter().enumerate() {
            let f = |x: &str| format!("courses[{k}].{x}");
            let Some(&client) = client_index.get(&c.client) else {
                return Err(Error::invalid(f("client"), format!("unknown client '{}'", c.client)));
            };
            let d = &c.doses;
            if d.count > 100 {
                return Err(Error::invalid(f("doses.count"), "at most 100"));
            }
            // Each part bounded before they are added, so the sum cannot wrap
            // (a wrapped sum once booked a 15-minute dose).
            at_most(d.infusion_minutes, MAX_DOSE_MINUTES, &f("doses.infusion_minutes"), "24 hours (1440 minutes)")?;
            at_most(d.monitoring_minutes, MAX_DOSE_MINUTES, &f("doses.monitoring_minutes"), "24 hours (1440 minutes)")?;
            let dose_minutes = d
                .infusion_minutes
                .checked_add(d.monitoring_minutes)
                .filter(|m| (1..=MAX_DOSE_MINUTES).contains(m))
                .ok_or_else(|| {
                    Error::invalid(
                        f("doses.monitoring_minutes"),
                        "infusion_minutes + monitoring_minutes: a dose must last 1 minute to 24 hours",
                    )
                })?;
            at_most(d.min_gap_hours, MAX_SPAN_HOURS, &f("doses.min_gap_hours"), "400 days (9600 hours)")?;
            if let Some(mx) = d.max_gap_hours {
                at_most(mx, MAX_SPAN_HOURS, &f("doses.max_gap_hours"), "400 days (9600 hours)")?;
                if mx < d.min_gap_hours {
                    return Err(Error::invalid(f("doses.max_gap_hours"), "must be at least min_gap_hours"));
                }
            }
            if let Some(days) = d.max_span_days {
                at_most(days, MAX_SPAN_HOURS / 24, &f("doses.max_span_days"), "400 days")?;
            }
            let day_slot = |date: Date, field: &str, end: bool| -> Result<u32, Error> {
                let off = date.since(p.horizon.start).map_err(|e| Error::invalid(f(field), e.to_string()))?;
                let di = off.get_days() as i64;
                if di < 0 {
                    return Ok(0);
                }
                if di >= days.len() as i64 {
                    return Ok(n);
                }
                let day = &days[di as usize];
                Ok(if end { day.end } else { day.start })
            };
            let lo = match c.earliest {
                Some(dt) => day_slot(dt, "earliest", false)?,
                None => 0,
            };
            let hi = match c.latest {
                Some(dt) => day_slot(dt, "latest", true)?,
                None => n,
            };
            let mut cm = CourseM {
                id: c.id.clone(),
                client,
                doses: vec![],
                sessions: vec![],
                min_gap: slots(i64::from(d.min_gap_hours) * per_hour, &f("doses.min_gap_hours"))?,
                max_gap: d
                    .max_gap_hours
                    .map(|h| slots(i64::from(h) * per_hour, &f("doses.max_gap_hours")))
                    .transpose()?,
                max_span: d
                    .max_span_days
                    .map(|dd| slots(i64::from(dd) * 24 * per_hour, &f("doses.max_span_days")))
                    .transpose()?,
                lo,
                hi,
            };
            for nn in 0..d.count {
                let id = Problem::dose_event_id(&c.id, nn + 1);
                if event_index.insert(id.clone(), events.len()).is_some() {
                    return Err(Error::invalid(f("id"), format!("event id '{id}' is not unique")));
                }
                cm.doses.push(events.len());
                events.push(EventM {
                    id,
                    course: k,
                    client,
                    dur: dur_slots(dose_minutes),
                    kind: EvKind::Dose { n: nn },
                });
            }
            for (j, s) in c.sessions.iter().enumerate() {
                let g = |x: &str| format!("courses[{k}].sessions[{j}].{x}");
                if s.after_dose == 0 || s.after_dose > d.count {
                    return Err(Error::invalid(g("after_dose"), format!("must be 1 to doses.count ({})", d.count)));
                }
                let w = &s.window;
                for (name, hours) in [
                    ("open_hours", w.open_hours),
                    ("preferred_from_hours", w.preferred_from_hours),
                    ("preferred_to_hours", w.preferred_to_hours),
                    ("close_hours", w.close_hours),
                ] {
                    if hours.unsigned_abs() > MAX_SPAN_HOURS {
                        return Err(Error::invalid(
                            g(&format!("window.{name}")),
                            "must be within 400 days (9600 hours) of the dose, before or after",
                        ));
                    }
                }
                if !(w.open_hours <= w.preferred_from_hours
                    && w.preferred_from_hours <= w.preferred_to_hours
                    && w.preferred_to_hours <= w.close_hours)
                {
                    return Err(Error::invalid(
                        g("window"),
                        "need open_hours <= preferred_from_hours <= preferred_to_hours <= close_hours",
                    ));
                }
                if s.duration_minutes == 0 || s.duration_minutes > 12 * 60 {
                    return Err(Error::invalid(g("duration_minutes"), "must be 1 minute to 12 hours"));
                }
                let id = Problem::session_event_id(&c.id, &s.id);
                if s.id.is_empty() || s.id.starts_with("dose-") || event_index.contains_key(&id) {
                    return Err(Error::invalid(
                        g("id"),
                        format!("session id '{}' must be unique, non-empty and not start with 'dose-'", s.id),
                    ));
                }
                event_index.insert(id.clone(), events.len());
                cm.sessions.push(events.len());
                let h = |x: i32| i64::from(x) * per_hour;
                events.push(EventM {
                    id,
                    course: k,
                    client,
                    dur: dur_slots(s.duration_minutes),
                    kind: EvKind::Session {
                        anchor: cm.doses[(s.after_dose - 1) as usize],
                        from_end: s.anchor == Anchor::Discharge,
                        open: h(w.open_hours),
                        pf: h(w.preferred_from_hours),
                        pt: h(w.preferred_to_hours),
                        close: h(w.close_hours),
                        non_dosing: s.non_dosing_day,
                        needs_room: s.needs_room,
                    },
                });
            }
            courses.push(cm);
        }
        for (e, ev) in events.iter().enumerate() {
            clients[ev.client].events.push(e);
        }

        let mut blocks = Vec::new();
        for (i, g) in p.groups.iter().enumerate() {
            let Some(&st) = staff_index.get(&g.therapist) else {
                return Err(Error::invalid(
                    format!("groups[{i}].therapist"),
                    format!("unknown staff '{}'", g.therapist),
                ));
            };
            let room = match &g.room {
                None => None,
                Some(r) => Some(
                    *room_index
                        .get(r)
                        .ok_or_else(|| Error::invalid(format!("groups[{i}].room"), format!("unknown room '{r}'")))?,
                ),
            };
            let mut cl = Vec::new();
            for (j, m) in g.members.iter().enumerate() {
                cl.push(*client_index.get(m).ok_or_else(|| {
                    Error::invalid(format!("groups[{i}].members[{j}]"), format!("unknown client '{m}'"))
                })?);
            }
            for (j, m) in g.meetings.iter().enumerate() {
                if m.minutes == 0 || m.minutes > MAX_DOSE_MINUTES {
                    return Err(Error::invalid(
                        format!("groups[{i}].meetings[{j}].minutes"),
                        "a meeting must last 1 minute to 24 hours",
                    ));
                }
                let s = floor(local(m.start)?);
                let e = ceil(
                    Timestamp::from_second(local(m.start)?.as_second() + i64::from(m.minutes) * 60)
                        .map_err(|e| Error::invalid(format!("groups[{i}].meetings[{j}].start"), e.to_string()))?,
                );
                if e <= 0 || s >= i64::from(n) {
                    continue;
                }
                blocks.push(Block {
                    label: g.id.clone(),
                    start: clamp(s),
                    end: clamp(e),
                    staff: st,
                    room,
                    clients: cl.clone(),
                });
            }
        }

        let mut model = Model {
            tz,
            t0,
            slot_secs,
            n,
            days,
            day_of,
            site,
            chairs,
            rooms,
            monitors: (0..staff.len()).filter(|&i| staff[i].monitor).collect(),
            therapists: (0..staff.len()).filter(|&i| staff[i].therapist).collect(),
            staff,
            clients,
            courses,
            events,
            blocks,
            bookings: vec![],
            event_index,
            chair_index,
            room_index,
            staff_index,
        };
        let mut bookings = vec![None; model.events.len()];
        for (i, b) in p.booked.iter().enumerate() {
            let f = |x: &str| format!("booked[{i}].{x}");
            let Some(&e) = model.event_index.get(&b.event) else {
                return Err(Error::invalid(f("event"), format!("unknown event '{}'", b.event)));
            };
            if bookings[e].is_some() {
                return Err(Error::invalid(f("event"), format!("event '{}' is booked twice", b.event)));
            }
            let start = model.parse_slot(&b.start).map_err(|m| Error::invalid(f("start"), m))?;
            let place = model
                .resolve_place(e, start, b.chair.as_deref(), b.room.as_deref(), b.staff.as_deref())
                .map_err(|(field, m)| Error::invalid(f(field), m))?;
            bookings[e] = Some(BookingM { place, fixed: b.fixed });
        }
        model.bookings = bookings;
        Ok(model)
    }

    /// Parses an RFC 3339 instant or a local date-time into an exact slot inside the horizon.
    pub(crate) fn parse_slot(&self, s: &str) -> Result<u32, String> {
        let ts = match s.parse::<Timestamp>() {
            Ok(ts) => ts,
            Err(_) => {
                let dt: DateTime = s
                    .parse()
                    .map_err(|e| format!("'{s}' is neither an RFC 3339 instant nor a local date-time: {e}"))?;
                self.tz.to_ambiguous_zoned(dt).compatible().map_err(|e| e.to_string())?.timestamp()
            }
        };
        let d = ts.as_second() - self.t0.as_second();
        if d.rem_euclid(self.slot_secs) != 0 || ts.subsec_nanosecond() != 0 {
            return Err(format!("'{s}' is not on a {}-minute slot boundary", self.slot_secs / 60));
        }
        let slot = d / self.slot_secs;
        if slot < 0 || slot >= i64::from(self.n) {
            return Err(format!("'{s}' is outside the horizon"));
        }
        Ok(slot as u32)
    }

    /// Resolves the named resources of a placement; errors name the field.
    pub(crate) fn resolve_place(
        &self,
        e: usize,
        start: u32,
        chair: Option<&str>,
        room: Option<&str>,
        staff: Option<&str>,
    ) -> Result<Place, (&'static str, String)> {
        let ev = &self.events[e];
        let staff_i = match staff {
            Some(s) => *self.staff_index.get(s).ok_or(("staff", format!("unknown staff '{s}'")))? as u32,
            None => return Err(("staff", format!("event '{}' needs a staff member", ev.id))),
        };
        let res = if ev.is_dose() {
            if room.is_some() {
                return Err(("room", "a dose takes a chair, not a room".into()));
            }
            match chair {
                Some(c) => *self.chair_index.get(c).ok_or(("chair", format!("unknown chair '{c}'")))? as u32,
                None => return Err(("chair", format!("dose '{}' needs a chair", ev.id))),
            }
        } else {
            if chair.is_some() {
                return Err(("chair", "a session takes a room, not a chair".into()));
            }
            match room {
                Some(r) => *self.room_index.get(r).ok_or(("room", format!("unknown room '{r}'")))? as u32,
                None => NONE,
            }
        };
        Ok(Place { start, res, staff: staff_i })
    }

    pub(crate) fn ts(&self, slot: u32) -> Timestamp {
        Timestamp::from_second(self.t0.as_second() + i64::from(slot) * self.slot_secs).unwrap_or(self.t0)
    }

    /// RFC 3339 with the clinic's local offset.
    pub(crate) fn fmt_slot(&self, slot: u32) -> String {
        let ts = self.ts(slot);
        let off = self.tz.to_offset(ts);
        ts.display_with_offset(off).to_string()
    }

    /// The anchor slot of a session given its dose's start.
    pub(crate) fn anchor_slot(&self, e: usize, dose_start: u32) -> i64 {
        match &self.events[e].kind {
            EvKind::Session { anchor, from_end, .. } => {
                let a = i64::from(dose_start);
                if *from_end { a + i64::from(self.events[*anchor].dur) } else { a }
            }
            EvKind::Dose { .. } => i64::from(dose_start),
        }
    }

    pub(crate) fn day(&self, slot: u32) -> usize {
        self.day_of.get(slot as usize).copied().unwrap_or(0) as usize
    }
}
