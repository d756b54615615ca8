//! Process groups: recurring therapy groups for clients in ongoing ketamine
//! treatment (definition, weekly schedule, membership with capacity and a
//! waitlist, attendance, who sees the roster and the notes).
//!
//! **Membership** is a small state machine per (group, client):
//!
//! | from | event | to |
//! |---|---|---|
//! | none / `left` | join, a seat free | `active` |
//! | none / `left` | join, group full | `waitlisted` (queued by time of joining) |
//! | `active` / `waitlisted` | leave | `left` |
//! | `waitlisted` | a seat frees ([`promote`]) | `active` (first in the queue still eligible) |
//!
//! **Eligibility**: the client needs an open course in one of the group's
//! `eligible_phases` (e.g. integration, maintenance), checked when joining
//! and again when promoted from the waitlist (an ineligible client keeps
//! their place and is skipped).
//!
//! **Closed groups** (the choice made here): a closed group admits members
//! freely until its first session has been held (a session with attendance
//! recorded). After that a join needs a facilitator's override with a
//! written reason, and freed seats are *not* refilled from the waitlist
//! automatically; a facilitator admits a waitlisted client by joining them
//! again with an override. An override never exceeds the capacity: a full
//! group still waitlists.
//!
//! **Who sees what** ([`view`]): a group's facilitators see the roster, the
//! waitlist, attendance and every note. Anyone else sees the group's
//! definition and head counts, never a member's name; on a client's chart
//! they see that client's own membership and attendance, and — prescribers
//! and therapists, once the session's notes are signed — that client's own
//! one-line group note. The group note itself (which may name members) is
//! for the facilitators alone.

use crate::DomainError;
use crate::course::Phase;
use crate::ids::{RoomId, SiteId, StaffId};
use crate::roles::{Permission, Role, Roles};
use crate::site::RoomKind;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::{Deserialize, Serialize};

/// Most members a group may hold.
pub const MAX_CAPACITY: u16 = 40;
/// Most weekly slots.
pub const MAX_SLOTS: usize = 7;
/// Longest group note (characters).
pub const MAX_GROUP_NOTE: usize = 10_000;
/// Longest per-member note: one short line for the member's chart.
pub const MAX_MEMBER_NOTE: usize = 500;
/// Most weeks generated in one request.
pub const MAX_WEEKS: u16 = 26;

crate::text_enum! {
    /// Whether new members may join once the group has started.
    pub enum Enrolment {
        /// New members join whenever a seat is free.
        Open = "open",
        /// Joins only before the first session (or by a facilitator's override).
        Closed = "closed",
    }
}

crate::text_enum! {
    pub enum MembershipStatus {
        Active = "active",
        Waitlisted = "waitlisted",
        Left = "left",
    }
}

/// What recording a member's attendance mark does to the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttendanceChange {
    /// The mark is the one on record: nothing to write.
    Unchanged,
    /// The notes are not signed: the mark is recorded (or corrected).
    Record,
    /// The notes are signed: the change is an amendment with its reason,
    /// kept beside the mark it replaces.
    Amend(String),
}

/// Decides a change of attendance. Once the session's notes are signed,
/// attendance is part of a signed record: a different mark needs a reason
/// (field `reason`) and becomes an amendment; the same mark changes nothing.
pub fn attendance_change(
    notes_signed: bool,
    from: Option<Attendance>,
    to: Attendance,
    reason: Option<&str>,
) -> Result<AttendanceChange, crate::DomainError> {
    if from == Some(to) {
        return Ok(AttendanceChange::Unchanged);
    }
    if !notes_signed {
        return Ok(AttendanceChange::Record);
    }
    match crate::text::optional("reason", reason, 1000)? {
        Some(r) => Ok(AttendanceChange::Amend(r)),
        None => Err(crate::DomainError::invalid(
            "reason",
            "this session's notes are signed: say why the attendance changes (it is kept as an amendment)",
        )),
    }
}

crate::text_enum! {
    pub enum Attendance {
        Present = "present",
        Late = "late",
        Absent = "absent",
        /// Absent with notice given beforehand.
        Excused = "excused",
    }
}

impl Attendance {
    pub fn label(self) -> &'static str {
        match self {
            Attendance::Present => "Present",
            Attendance::Late => "Late",
            Attendance::Absent => "Absent",
            Attendance::Excused => "Excused",
        }
    }

    /// The status of the member's group encounter that this attendance means.
    pub fn encounter_status(self) -> crate::encounter::EncounterStatus {
        use crate::encounter::EncounterStatus as S;
        match self {
            Attendance::Present | Attendance::Late => S::Completed,
            Attendance::Absent => S::NoShow,
            Attendance::Excused => S::Cancelled,
        }
    }
}

crate::text_enum! {
    pub enum Day {
        Monday = "monday",
        Tuesday = "tuesday",
        Wednesday = "wednesday",
        Thursday = "thursday",
        Friday = "friday",
        Saturday = "saturday",
        Sunday = "sunday",
    }
}

impl Day {
    pub fn weekday(self) -> Weekday {
        match self {
            Day::Monday => Weekday::Monday,
            Day::Tuesday => Weekday::Tuesday,
            Day::Wednesday => Weekday::Wednesday,
            Day::Thursday => Weekday::Thursday,
            Day::Friday => Weekday::Friday,
            Day::Saturday => Weekday::Saturday,
            Day::Sunday => Weekday::Sunday,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Day::Monday => "Monday",
            Day::Tuesday => "Tuesday",
            Day::Wednesday => "Wednesday",
            Day::Thursday => "Thursday",
            Day::Friday => "Friday",
            Day::Saturday => "Saturday",
            Day::Sunday => "Sunday",
        }
    }
}

/// One weekly meeting time, in the site's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WeeklySlot {
    pub day: Day,
    /// Local start time, `HH:MM` (24-hour clock).
    pub start: String,
    /// Length in minutes (30 to 240).
    pub minutes: u16,
}

impl WeeklySlot {
    pub fn start_time(&self) -> Result<Time, DomainError> {
        parse_hhmm(&self.start)
    }
}

fn parse_hhmm(s: &str) -> Result<Time, DomainError> {
    let bad = || DomainError::invalid("start", format!("`{s}` is not a time like 18:30"));
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

/// What a coordinator or therapist asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupSpec {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub site_id: SiteId,
    /// A group room at the site.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub room_id: RoomId,
    /// Facilitators, the lead first (at least one therapist).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub facilitator_ids: Vec<StaffId>,
    pub slots: Vec<WeeklySlot>,
    pub capacity: u16,
    pub enrolment: Enrolment,
    /// Course phases a member's open course must be in.
    pub eligible_phases: Vec<Phase>,
}

/// What the store knows about the people and room a spec names.
#[derive(Debug, Clone)]
pub struct SpecFacts {
    /// Roles of each facilitator, in `facilitator_ids` order (`None`: no
    /// such active staff member).
    pub facilitator_roles: Vec<Option<Roles>>,
    /// The room's kind (`None`: no such room at the group's site).
    pub room_kind: Option<RoomKind>,
}

impl GroupSpec {
    /// Validates a group definition; errors name the field.
    pub fn validate(&self, facts: &SpecFacts) -> Result<GroupSpec, DomainError> {
        let name = crate::text::required("name", &self.name, 120)?;
        let description = crate::text::optional("description", self.description.as_deref(), 1000)?;
        match facts.room_kind {
            None => return Err(DomainError::invalid("room_id", "no such room at this site")),
            Some(RoomKind::GroupRoom) => {}
            Some(k) => return Err(DomainError::invalid("room_id", format!("is a {k}, not a group room"))),
        }
        if self.facilitator_ids.is_empty() {
            return Err(DomainError::invalid("facilitator_ids", "a group needs at least one facilitator"));
        }
        for (i, id) in self.facilitator_ids.iter().enumerate() {
            if self.facilitator_ids[..i].contains(id) {
                return Err(DomainError::invalid(format!("facilitator_ids[{i}]"), "named twice"));
            }
            match facts.facilitator_roles.get(i).cloned().flatten() {
                None => {
                    return Err(DomainError::invalid(format!("facilitator_ids[{i}]"), "no such active staff member"));
                }
                Some(r) if !r.contains(Role::Therapist) => {
                    return Err(DomainError::invalid(format!("facilitator_ids[{i}]"), "a facilitator is a therapist"));
                }
                Some(_) => {}
            }
        }
        if self.slots.is_empty() || self.slots.len() > MAX_SLOTS {
            return Err(DomainError::invalid("slots", format!("give 1 to {MAX_SLOTS} weekly slots")));
        }
        for (i, s) in self.slots.iter().enumerate() {
            s.start_time().map_err(|e| DomainError::invalid(format!("slots[{i}].start"), e.to_string()))?;
            if !(30..=240).contains(&s.minutes) {
                return Err(DomainError::invalid(format!("slots[{i}].minutes"), "a session lasts 30 to 240 minutes"));
            }
            if self.slots[..i].iter().any(|o| o.day == s.day) {
                return Err(DomainError::invalid(format!("slots[{i}].day"), "one slot a day"));
            }
        }
        if !(2..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(DomainError::invalid("capacity", format!("a group holds 2 to {MAX_CAPACITY} members")));
        }
        if self.eligible_phases.is_empty() {
            return Err(DomainError::invalid("eligible_phases", "name at least one course phase"));
        }
        if let Some(p) = self.eligible_phases.iter().find(|p| p.is_closed()) {
            return Err(DomainError::invalid("eligible_phases", format!("`{p}` is a closed course phase")));
        }
        let mut phases = self.eligible_phases.clone();
        phases.sort();
        phases.dedup();
        let mut slots = self.slots.clone();
        slots.sort_by_key(|s| s.day);
        Ok(GroupSpec { name, description, eligible_phases: phases, slots, ..self.clone() })
    }
}

/// One session instant from the weekly schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub start: Timestamp,
    pub end: Timestamp,
}

fn occurrence(slot: &WeeklySlot, date: Date, tz: &TimeZone) -> Result<Occurrence, DomainError> {
    let t = slot.start_time()?;
    // A start in a spring-forward gap moves later (jiff's "compatible" rule).
    let z = date.to_datetime(t).to_zoned(tz.clone()).map_err(|e| DomainError::invalid("date", e.to_string()))?;
    let start = z.timestamp();
    let end = start
        .checked_add(Span::new().minutes(i64::from(slot.minutes)))
        .map_err(|e| DomainError::invalid("date", e.to_string()))?;
    Ok(Occurrence { start, end })
}

/// The sessions the schedule puts on `date` (the site's local date); an
/// error naming `date` when no slot falls on that weekday.
pub fn on_date(slots: &[WeeklySlot], tz: &TimeZone, date: Date) -> Result<Vec<Occurrence>, DomainError> {
    let v: Vec<Occurrence> = slots
        .iter()
        .filter(|s| s.day.weekday() == date.weekday())
        .map(|s| occurrence(s, date, tz))
        .collect::<Result<_, _>>()?;
    if v.is_empty() {
        let days: Vec<&str> = slots.iter().map(|s| s.day.label()).collect();
        return Err(DomainError::invalid(
            "date",
            format!("{date} is a {:?}; the group meets on {}", date.weekday(), days.join(", ")),
        ));
    }
    Ok(v)
}

/// Every session in `weeks` weeks from `from` (inclusive), in order.
pub fn occurrences(
    slots: &[WeeklySlot],
    tz: &TimeZone,
    from: Date,
    weeks: u16,
) -> Result<Vec<Occurrence>, DomainError> {
    if weeks == 0 || weeks > MAX_WEEKS {
        return Err(DomainError::invalid("weeks", format!("1 to {MAX_WEEKS} weeks")));
    }
    let mut v = Vec::new();
    for d in 0..i64::from(weeks) * 7 {
        let date = from.checked_add(Span::new().days(d)).map_err(|e| DomainError::invalid("from", e.to_string()))?;
        for s in slots.iter().filter(|s| s.day.weekday() == date.weekday()) {
            v.push(occurrence(s, date, tz)?);
        }
    }
    v.sort_by_key(|o| o.start);
    Ok(v)
}

/// The group as the membership rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub capacity: u16,
    pub enrolment: Enrolment,
    pub eligible_phases: &'a [Phase],
    /// A session has been held (attendance recorded).
    pub started: bool,
    /// Members now active.
    pub active: u16,
}

/// Who asks for a join and why.
#[derive(Debug, Clone, Copy, Default)]
pub struct JoinRequest<'a> {
    /// The client's current membership, if any.
    pub current: Option<MembershipStatus>,
    /// The phase of the client's open course (`None`: no open course).
    pub phase: Option<Phase>,
    /// The caller is one of the group's facilitators.
    pub by_facilitator: bool,
    /// A facilitator's reason for admitting to a closed group that has started.
    pub override_reason: Option<&'a str>,
}

/// Whether a client in `phase` may be a member.
pub fn check_eligible(eligible: &[Phase], phase: Option<Phase>) -> Result<(), DomainError> {
    match phase {
        None => Err(DomainError::invalid("client_id", "the client has no open course")),
        Some(p) if !eligible.contains(&p) => Err(DomainError::invalid(
            "client_id",
            format!(
                "the client's course is in {p}; this group takes {}",
                eligible.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// Decides a join: `active` when a seat is free, `waitlisted` when full.
/// Returns the override reason to record, if one was needed.
pub fn join(rules: Rules<'_>, req: JoinRequest<'_>) -> Result<(MembershipStatus, Option<String>), DomainError> {
    let reason = crate::text::optional("override_reason", req.override_reason, 500)?;
    let overriding = req.current == Some(MembershipStatus::Waitlisted) && reason.is_some();
    match req.current {
        Some(MembershipStatus::Active) => {
            return Err(DomainError::invalid("client_id", "the client is already a member"));
        }
        Some(MembershipStatus::Waitlisted) if !overriding => {
            return Err(DomainError::invalid("client_id", "the client is already on the waitlist"));
        }
        _ => {}
    }
    check_eligible(rules.eligible_phases, req.phase)?;
    let needs_override = overriding || (rules.enrolment == Enrolment::Closed && rules.started);
    let recorded = if needs_override {
        if !req.by_facilitator {
            return Err(DomainError::invalid(
                "override_reason",
                "this closed group has started: only a facilitator may admit a member, with a reason",
            ));
        }
        Some(reason.ok_or_else(|| {
            DomainError::invalid("override_reason", "this closed group has started: give the reason for admitting")
        })?)
    } else {
        None
    };
    if rules.active < rules.capacity {
        Ok((MembershipStatus::Active, recorded))
    } else if overriding {
        Err(DomainError::invalid("capacity", format!("the group is full ({} members)", rules.capacity)))
    } else {
        Ok((MembershipStatus::Waitlisted, recorded))
    }
}

/// Leaving (or being removed from) a group, or its waitlist.
pub fn leave(current: Option<MembershipStatus>) -> Result<MembershipStatus, DomainError> {
    match current {
        Some(MembershipStatus::Active) | Some(MembershipStatus::Waitlisted) => Ok(MembershipStatus::Left),
        _ => Err(DomainError::invalid("client_id", "the client is not a member of this group")),
    }
}

/// Whom to move from the waitlist into free seats: in queue order, skipping
/// those no longer eligible; nobody in a closed group that has started.
/// `waitlist` is in queue order with each client's open-course phase.
pub fn promote<T: Copy>(rules: Rules<'_>, waitlist: &[(T, Option<Phase>)]) -> Vec<T> {
    if rules.enrolment == Enrolment::Closed && rules.started {
        return Vec::new();
    }
    let free = usize::from(rules.capacity.saturating_sub(rules.active));
    waitlist
        .iter()
        .filter(|(_, p)| check_eligible(rules.eligible_phases, *p).is_ok())
        .take(free)
        .map(|(c, _)| *c)
        .collect()
}

/// What a staff member sees of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupView {
    /// Nothing (no permission to read groups).
    None,
    /// Definition, schedule and head counts; no member names.
    Outline,
    /// Everything: roster, waitlist, attendance, group note, member notes.
    Facilitator,
}

/// The read rule for a group (see the module notes).
pub fn view(viewer: StaffId, roles: &Roles, facilitators: &[StaffId]) -> GroupView {
    if facilitators.contains(&viewer) && roles.allow(Permission::WriteTherapyNotes) {
        GroupView::Facilitator
    } else if roles.allow(Permission::ReadGroups) {
        GroupView::Outline
    } else {
        GroupView::None
    }
}

/// Whether a client's own group line (on their chart) is shown: always to
/// the group's facilitators; to other prescribers and therapists once the
/// session's notes are signed; to no one else.
pub fn member_note_visible(group_view: GroupView, roles: &Roles, signed: bool) -> bool {
    group_view == GroupView::Facilitator || (signed && roles.allow(Permission::ReadNoteSummaries))
}

/// A group note or a member line: trimmed and bounded (empty is `None`).
pub fn note_text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, DomainError> {
    let t = crate::notes::free_text(field, value, max)?;
    if max == MAX_MEMBER_NOTE && t.as_deref().is_some_and(|t| t.contains('\n')) {
        return Err(DomainError::invalid(field, "one short line"));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attendance_after_signed_notes_changes_only_as_an_amendment_with_its_reason() {
        use Attendance::*;
        assert_eq!(attendance_change(false, None, Present, None), Ok(AttendanceChange::Record));
        assert_eq!(attendance_change(false, Some(Present), Absent, None), Ok(AttendanceChange::Record));
        assert_eq!(attendance_change(true, Some(Absent), Absent, None), Ok(AttendanceChange::Unchanged));
        let refused = attendance_change(true, Some(Absent), Present, Some("  ")).map_err(|e| e.field().to_string());
        assert_eq!(refused, Err("reason".to_string()));
        assert_eq!(
            attendance_change(true, Some(Absent), Late, Some(" arrived 20 min late; marked absent in error ")),
            Ok(AttendanceChange::Amend("arrived 20 min late; marked absent in error".into()))
        );
        assert_eq!(
            attendance_change(true, None, Present, Some("left off the roster call")),
            Ok(AttendanceChange::Amend("left off the roster call".into()))
        );
    }
    use Phase::*;

    fn roles(r: Role) -> Roles {
        Roles::new([r]).expect("roles")
    }

    fn spec() -> GroupSpec {
        GroupSpec {
            name: "Tuesday integration circle".into(),
            description: None,
            site_id: SiteId::new(),
            room_id: RoomId::new(),
            facilitator_ids: vec![StaffId::new()],
            slots: vec![WeeklySlot { day: Day::Tuesday, start: "18:00".into(), minutes: 90 }],
            capacity: 8,
            enrolment: Enrolment::Open,
            eligible_phases: vec![Maintenance, Integration],
        }
    }

    fn facts(n: usize) -> SpecFacts {
        SpecFacts { facilitator_roles: vec![Some(roles(Role::Therapist)); n], room_kind: Some(RoomKind::GroupRoom) }
    }

    fn field<T: std::fmt::Debug>(r: Result<T, DomainError>) -> String {
        r.expect_err("should be refused").field().to_string()
    }

    #[test]
    fn a_group_is_validated_naming_the_field() {
        let ok = spec().validate(&facts(1)).expect("valid");
        assert_eq!(ok.eligible_phases, vec![Integration, Maintenance], "sorted");
        let f = facts(1);
        assert_eq!(field(GroupSpec { name: " ".into(), ..spec() }.validate(&f)), "name");
        assert_eq!(field(GroupSpec { capacity: 1, ..spec() }.validate(&f)), "capacity");
        assert_eq!(field(GroupSpec { capacity: 41, ..spec() }.validate(&f)), "capacity");
        assert_eq!(field(GroupSpec { facilitator_ids: vec![], ..spec() }.validate(&f)), "facilitator_ids");
        assert_eq!(field(GroupSpec { eligible_phases: vec![], ..spec() }.validate(&f)), "eligible_phases");
        assert_eq!(field(GroupSpec { eligible_phases: vec![Completed], ..spec() }.validate(&f)), "eligible_phases");
        let bad_time = WeeklySlot { day: Day::Monday, start: "25:00".into(), minutes: 60 };
        assert_eq!(field(GroupSpec { slots: vec![bad_time], ..spec() }.validate(&f)), "slots[0].start");
        let short = WeeklySlot { day: Day::Monday, start: "09:00".into(), minutes: 20 };
        assert_eq!(field(GroupSpec { slots: vec![short], ..spec() }.validate(&f)), "slots[0].minutes");
        let twice = vec![spec().slots[0].clone(), spec().slots[0].clone()];
        assert_eq!(field(GroupSpec { slots: twice, ..spec() }.validate(&f)), "slots[1].day");
        let chair = SpecFacts { room_kind: Some(RoomKind::InfusionChair), ..facts(1) };
        assert_eq!(field(spec().validate(&chair)), "room_id");
        let nurse = SpecFacts { facilitator_roles: vec![Some(roles(Role::Nurse))], ..facts(1) };
        assert_eq!(field(spec().validate(&nurse)), "facilitator_ids[0]");
        let mut two = spec();
        two.facilitator_ids.push(two.facilitator_ids[0]);
        assert_eq!(field(two.validate(&facts(2))), "facilitator_ids[1]");
    }

    #[test]
    fn sessions_follow_the_weekly_slot_in_the_sites_time_zone_across_dst() {
        let tz = TimeZone::get("America/New_York").expect("tz");
        let slots = spec().slots;
        let date = |s: &str| s.parse::<Date>().expect("date");
        // Tuesdays around the 2026 fall-back change (Sunday 1 November).
        let v = occurrences(&slots, &tz, date("2026-10-26"), 2).expect("two weeks");
        let starts: Vec<String> = v.iter().map(|o| o.start.to_string()).collect();
        assert_eq!(starts, vec!["2026-10-27T22:00:00Z", "2026-11-03T23:00:00Z"], "18:00 local both weeks");
        assert_eq!(v[0].end.duration_since(v[0].start).as_mins(), 90);
        // A specific date must fall on a slot's weekday.
        assert_eq!(on_date(&slots, &tz, date("2026-10-27")).expect("tuesday").len(), 1);
        assert_eq!(field(on_date(&slots, &tz, date("2026-10-28"))), "date");
        assert_eq!(field(occurrences(&slots, &tz, date("2026-10-26"), 0)), "weeks");
        assert_eq!(field(occurrences(&slots, &tz, date("2026-10-26"), 27)), "weeks");
        // A start in the spring-forward gap (02:30 on 8 March 2026) moves to 03:30.
        let gap = vec![WeeklySlot { day: Day::Sunday, start: "02:30".into(), minutes: 60 }];
        let o = on_date(&gap, &tz, date("2026-03-08")).expect("gap");
        assert_eq!(o[0].start.to_string(), "2026-03-08T07:30:00Z");
    }

    fn rules(capacity: u16, active: u16, enrolment: Enrolment, started: bool) -> Rules<'static> {
        Rules { capacity, enrolment, eligible_phases: &[Integration, Maintenance], started, active }
    }

    fn req(phase: Phase) -> JoinRequest<'static> {
        JoinRequest { phase: Some(phase), ..JoinRequest::default() }
    }

    #[test]
    fn joins_fill_seats_then_the_waitlist() {
        use MembershipStatus::*;
        let open = |active| rules(3, active, Enrolment::Open, true);
        assert_eq!(join(open(0), req(Integration)).expect("join").0, Active);
        assert_eq!(join(open(2), req(Maintenance)).expect("join").0, Active);
        assert_eq!(join(open(3), req(Maintenance)).expect("join").0, Waitlisted, "full: waitlisted");
        let again = JoinRequest { current: Some(Active), ..req(Integration) };
        assert_eq!(field(join(open(1), again)), "client_id");
        let queued = JoinRequest { current: Some(Waitlisted), ..req(Integration) };
        assert_eq!(field(join(open(1), queued)), "client_id");
        let rejoin = JoinRequest { current: Some(Left), ..req(Integration) };
        assert_eq!(join(open(1), rejoin).expect("rejoin").0, Active);
        assert_eq!(leave(Some(Active)), Ok(Left));
        assert_eq!(leave(Some(Waitlisted)), Ok(Left));
        assert_eq!(field(leave(Some(Left))), "client_id");
        assert_eq!(field(leave(None)), "client_id");
    }

    #[test]
    fn eligibility_is_by_course_phase() {
        let r = rules(8, 0, Enrolment::Open, false);
        assert_eq!(field(join(r, req(Induction))), "client_id");
        assert_eq!(field(join(r, JoinRequest::default())), "client_id", "no open course");
        assert!(join(r, req(Integration)).is_ok());
    }

    #[test]
    fn a_closed_group_admits_before_its_first_session_or_by_facilitator_override() {
        use MembershipStatus::*;
        assert_eq!(join(rules(8, 4, Enrolment::Closed, false), req(Integration)).expect("before").0, Active);
        let started = rules(8, 4, Enrolment::Closed, true);
        assert_eq!(field(join(started, req(Integration))), "override_reason");
        let no_reason = JoinRequest { by_facilitator: true, ..req(Integration) };
        assert_eq!(field(join(started, no_reason)), "override_reason");
        let not_facilitator = JoinRequest { override_reason: Some("transfer"), ..req(Integration) };
        assert_eq!(field(join(started, not_facilitator)), "override_reason");
        let ok = JoinRequest {
            by_facilitator: true,
            override_reason: Some("Transfer from Monday group"),
            ..req(Integration)
        };
        assert_eq!(join(started, ok).expect("override"), (Active, Some("Transfer from Monday group".into())));
        // Admitting from the waitlist by override needs a free seat.
        let queued = JoinRequest { current: Some(Waitlisted), ..ok };
        assert_eq!(join(started, queued).expect("admit").0, Active);
        assert_eq!(field(join(rules(8, 8, Enrolment::Closed, true), queued)), "capacity");
    }

    #[test]
    fn promotion_takes_the_queue_in_order_skipping_the_ineligible() {
        let q =
            [(1, Some(Induction)), (2, Some(Integration)), (3, None), (4, Some(Maintenance)), (5, Some(Integration))];
        assert_eq!(promote(rules(6, 4, Enrolment::Open, true), &q), vec![2, 4]);
        assert_eq!(promote(rules(6, 6, Enrolment::Open, true), &q), Vec::<i32>::new());
        assert_eq!(promote(rules(6, 5, Enrolment::Closed, false), &q), vec![2], "closed, not yet started");
        assert_eq!(promote(rules(6, 0, Enrolment::Closed, true), &q), Vec::<i32>::new(), "closed and started");
    }

    #[test]
    fn attendance_sets_the_members_encounter() {
        use crate::encounter::EncounterStatus as S;
        assert_eq!(Attendance::Present.encounter_status(), S::Completed);
        assert_eq!(Attendance::Late.encounter_status(), S::Completed);
        assert_eq!(Attendance::Absent.encounter_status(), S::NoShow);
        assert_eq!(Attendance::Excused.encounter_status(), S::Cancelled);
        assert_eq!(field(Attendance::parse("attendance", "tardy")), "attendance");
    }

    #[test]
    fn only_facilitators_see_the_roster_and_member_lines_are_for_clinicians() {
        let lead = StaffId::new();
        let other = StaffId::new();
        let f = [lead];
        let t = roles(Role::Therapist);
        assert_eq!(view(lead, &t, &f), GroupView::Facilitator);
        assert_eq!(view(other, &t, &f), GroupView::Outline);
        for r in [Role::Coordinator, Role::Prescriber, Role::Nurse, Role::Director] {
            assert_eq!(view(other, &roles(r), &f), GroupView::Outline, "{r}");
        }
        assert_eq!(view(other, &roles(Role::Admin), &f), GroupView::None);
        // A facilitator without the therapist's role (roles changed) sees an outline.
        assert_eq!(view(lead, &roles(Role::Coordinator), &f), GroupView::Outline);
        let g = GroupView::Outline;
        assert!(member_note_visible(GroupView::Facilitator, &t, false), "draft, facilitator");
        assert!(!member_note_visible(g, &t, false), "draft, other therapist");
        assert!(member_note_visible(g, &t, true));
        assert!(member_note_visible(g, &roles(Role::Prescriber), true));
        for r in [Role::Coordinator, Role::Nurse, Role::Director] {
            assert!(!member_note_visible(g, &roles(r), true), "{r}");
        }
        assert_eq!(field(note_text("members[0].note", Some("a\nb"), MAX_MEMBER_NOTE)), "members[0].note");
        assert_eq!(note_text("group_note", Some("a\nb"), MAX_GROUP_NOTE).expect("multi-line").as_deref(), Some("a\nb"));
    }
}
