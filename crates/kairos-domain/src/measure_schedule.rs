//! Which questionnaires are due for a treatment course (measurement-based care).
//!
//! A [`MeasureSchedule`] is read from TOML (`measure-schedules/*.toml`) and
//! checked by [`MeasureSchedule::validate`] against the instruments the clinic
//! has. [`occurrences`] is pure: from the course's facts (start, phase changes,
//! dose times, end), the client's completed administrations and the current
//! instant it lists every measure occurrence whose anchor exists, with its
//! window and whether it is upcoming, due, overdue or done. The chart and the
//! staff work list show these.
//!
//! The timing is a clinical convention, not a published standard, so the
//! schedule carries its `source` and `confirmed = false` like other
//! unconfirmed defaults.

use crate::DomainError;
use crate::course::Phase;
use crate::instruments::Provenance;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The shipped default schedule.
pub const STANDARD: &str = include_str!("../../../measure-schedules/standard.toml");
/// The PTSD schedule (PCL-5 and PHQ-9), used by the ketamine + WET protocol.
pub const PTSD: &str = include_str!("../../../measure-schedules/ptsd.toml");
/// Every shipped schedule: (file name, text).
pub const SHIPPED: [(&str, &str); 2] = [("standard.toml", STANDARD), ("ptsd.toml", PTSD)];

/// The schedules in use: the shipped ones and a clinic's own (a clinic file
/// with a shipped id replaces it). `standard` is always present: courses
/// whose protocol is not in the library use it.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedules {
    all: Vec<MeasureSchedule>,
}

impl Schedules {
    /// Loads `(file name, text)` pairs in order; errors name the file and field.
    pub fn load<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        known_instruments: &[&str],
    ) -> Result<Schedules, DomainError> {
        let mut all: Vec<MeasureSchedule> = Vec::new();
        for (name, text) in files {
            let mut s = MeasureSchedule::from_toml(text, known_instruments)
                .map_err(|e| DomainError::invalid(format!("{name}: {}", e.field()), e.to_string()))?;
            s.file = name.to_string();
            all.retain(|x| x.id != s.id);
            all.push(s);
        }
        if !all.iter().any(|s| s.id == "standard") {
            return Err(DomainError::invalid("measure_schedules", "the `standard` schedule is required"));
        }
        Ok(Schedules { all })
    }

    /// The shipped schedules.
    pub fn shipped(known_instruments: &[&str]) -> Result<Schedules, DomainError> {
        Schedules::load(SHIPPED, known_instruments)
    }

    pub fn get(&self, id: &str) -> Option<&MeasureSchedule> {
        self.all.iter().find(|s| s.id == id)
    }

    /// The default schedule.
    pub fn standard(&self) -> &MeasureSchedule {
        self.get("standard").unwrap_or(&self.all[0])
    }

    pub fn ids(&self) -> Vec<&str> {
        self.all.iter().map(|s| s.id.as_str()).collect()
    }

    pub fn all(&self) -> &[MeasureSchedule] {
        &self.all
    }
}

impl Schedules {
    /// Checks every schedule against the recall periods of its instruments
    /// ([`MeasureSchedule::check_recall`]), with the dose spacing of the
    /// protocols that use it. `standard` also serves courses whose protocol
    /// is not in the library, so it is checked against every protocol's
    /// spacing. The error names the schedule's file and the rule.
    pub fn check_recall(
        &self,
        instruments: &crate::instruments::Library,
        protocols: &crate::protocols::ProtocolLibrary,
    ) -> Result<(), DomainError> {
        let recall = |id: &str| instruments.get(id).map_or(0, |i| i.recall_days);
        for s in &self.all {
            let dosing: Vec<(&str, i64)> = protocols
                .all()
                .iter()
                .filter(|p| p.measure_schedule == s.id || s.id == "standard")
                .filter_map(|p| Some((p.id.as_str(), p.doses.shortest_spacing_hours()?)))
                .collect();
            s.check_recall(&recall, &dosing).map_err(|e| {
                let file = if s.file.is_empty() { s.id.as_str() } else { s.file.as_str() };
                DomainError::invalid(format!("{file}: {}", e.field()), e.reason())
            })?;
        }
        Ok(())
    }
}

/// Upper bound for every hour field (ten years), so window arithmetic stays in range.
pub const MAX_HOURS: i64 = 24 * 366 * 10;
/// Upper bound for a follow-up in months after the end of the course.
pub const MAX_MONTHS: u32 = 120;
/// Upper bound for `every_weeks` (a year).
pub const MAX_EVERY_WEEKS: u32 = 52;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MeasureSchedule {
    /// The file it was read from (for errors); not part of the format.
    #[serde(skip)]
    pub file: String,
    pub id: String,
    pub name: String,
    /// How long after becoming overdue an unanswered occurrence is counted
    /// as missed: a "before dose 2" questionnaire cannot be answered
    /// months later, and listing it as overdue forever only adds noise.
    #[serde(default = "default_missed_after_hours")]
    pub missed_after_hours: i64,
    pub rules: Vec<ScheduleRule>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

fn default_missed_after_hours() -> i64 {
    14 * 24
}

/// One timing rule for one or more instruments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScheduleRule {
    /// Instrument ids, e.g. `["phq9", "gad7"]`.
    pub instruments: Vec<String>,
    pub when: When,
    /// Hours after the due time at which an unanswered measure becomes overdue.
    pub grace_hours: i64,
    /// Hours before the due time from which an answer already counts.
    #[serde(default)]
    pub opens_hours_before: i64,
}

/// The anchor of a rule's due times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum When {
    /// Due when the course starts; overdue after the grace or when the first
    /// dose starts, whichever is earlier (a baseline must precede treatment).
    Baseline,
    /// Due at the start of every dose (booked or given).
    BeforeEachDose,
    /// Due `hours` after the start of dose number `dose` (1-based).
    AfterDose { dose: u32, hours: i64 },
    /// Due every 7 calendar days (clinic time zone) after entering `phase`,
    /// while the phase lasts; with `every_weeks = 2`, every 14 days (weeks
    /// 2, 4, ...), for a questionnaire that asks about the last 2 weeks.
    Weekly {
        phase: Phase,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        every_weeks: Option<u32>,
    },
    /// Due when the course ends.
    EndOfCourse,
    /// Due the given calendar months (clinic time zone) after the course ends.
    AfterEnd { months: Vec<u32> },
}

impl MeasureSchedule {
    /// Parses and validates one TOML definition.
    pub fn from_toml(text: &str, known_instruments: &[&str]) -> Result<MeasureSchedule, DomainError> {
        let schedule: MeasureSchedule =
            toml::from_str(text).map_err(|e| DomainError::invalid("measure_schedule", e.to_string()))?;
        schedule.validate(known_instruments)?;
        Ok(schedule)
    }

    /// Checks the schedule; the error names the field, e.g. `rules[2].instruments`.
    pub fn validate(&self, known_instruments: &[&str]) -> Result<(), DomainError> {
        for (field, value) in [("id", &self.id), ("name", &self.name), ("source", &self.provenance.source)] {
            if value.trim().is_empty() {
                return Err(DomainError::invalid(field, "must not be empty"));
            }
        }
        if self.rules.is_empty() {
            return Err(DomainError::invalid("rules", "a schedule needs at least one rule"));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let field = |name: &str| format!("rules[{i}].{name}");
            if rule.instruments.is_empty() {
                return Err(DomainError::invalid(field("instruments"), "must name at least one instrument"));
            }
            let mut seen = HashSet::new();
            for id in &rule.instruments {
                if !known_instruments.contains(&id.as_str()) {
                    let known = known_instruments.join(", ");
                    return Err(DomainError::invalid(
                        field("instruments"),
                        format!("unknown instrument `{id}`; known: {known}"),
                    ));
                }
                if !seen.insert(id) {
                    return Err(DomainError::invalid(field("instruments"), format!("`{id}` is listed twice")));
                }
            }
            for (name, hours) in [("grace_hours", rule.grace_hours), ("opens_hours_before", rule.opens_hours_before)] {
                check_hours(&field(name), hours)?;
            }
            match &rule.when {
                When::Baseline | When::BeforeEachDose | When::EndOfCourse => {}
                When::AfterDose { dose, hours } => {
                    if *dose == 0 {
                        return Err(DomainError::invalid(field("when.dose"), "doses are numbered from 1"));
                    }
                    check_hours(&field("when.hours"), *hours)?;
                }
                When::Weekly { phase, every_weeks } => {
                    if let Some(n) = every_weeks
                        && !(1..=MAX_EVERY_WEEKS).contains(n)
                    {
                        return Err(DomainError::invalid(
                            field("when.every_weeks"),
                            format!("{n} is not between 1 and {MAX_EVERY_WEEKS}"),
                        ));
                    }
                    if phase.is_closed() {
                        return Err(DomainError::invalid(
                            field("when.phase"),
                            format!("`{phase}` closes the course; weekly measures need an open phase"),
                        ));
                    }
                }
                When::AfterEnd { months } => {
                    if months.is_empty() {
                        return Err(DomainError::invalid(field("when.months"), "must list at least one month"));
                    }
                    if let Some(m) = months.iter().find(|m| !(1..=MAX_MONTHS).contains(*m)) {
                        return Err(DomainError::invalid(
                            field("when.months"),
                            format!("{m} is not between 1 and {MAX_MONTHS}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// How a rule repeats an instrument, for the recall check.
#[derive(Clone, Copy)]
enum Repeats {
    /// Before each dose: as often as the protocol doses.
    EachDose,
    /// Every week or more while `phase` lasts.
    During(Phase),
}

impl MeasureSchedule {
    /// Checks that no instrument is asked again within its recall period
    /// where the schedule fixes the distance (reference.md §3.3: two
    /// administrations closer than the recall period ask about overlapping
    /// days, so change scores, response, remission and reliable change from
    /// them are not independent). `recall_days` gives each instrument's
    /// period (0: about now or since the last visit, never checked);
    /// `dosing` lists `(protocol, shortest hours between doses)` for the
    /// protocols on this schedule. Refused, naming the rule:
    /// - a weekly rule repeating more often than the recall period (a PHQ-9,
    ///   2 weeks, every week);
    /// - a before-each-dose rule whose protocol doses more often than the
    ///   recall period (a PHQ-9 before each twice-weekly dose: every 3 days);
    /// - two repeating rules for one instrument that can run at once (before
    ///   each dose and weekly, or two weekly rules in one phase);
    /// - a rule after dose n closer than the recall period to the measure
    ///   before dose n or before the next dose;
    /// - follow-ups (and the end of course) closer than the recall period,
    ///   counting a month as 30 days (the PCL-5's "past month").
    ///
    /// Distances the schedule does not fix (the baseline to the first week,
    /// the last week to the end of the course) are not checked: one answer
    /// in two overlapping windows counts for both ([`occurrences`]), so a
    /// schedule opens the end-of-course measure early enough to take a
    /// recent answer.
    pub fn check_recall(&self, recall_days: &dyn Fn(&str) -> u32, dosing: &[(&str, i64)]) -> Result<(), DomainError> {
        let mut ids: Vec<&str> = self.rules.iter().flat_map(|r| r.instruments.iter().map(String::as_str)).collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let days = recall_days(id);
            if days == 0 {
                continue;
            }
            let recall = i64::from(days) * 24;
            let too_close = |i: usize, what: String| {
                DomainError::invalid(
                    format!("rules[{i}].when"),
                    format!(
                        "`{id}` asks about {days} days but {what}, so answers would cover overlapping days; \
                         ask it at least {days} days apart, or use a shorter-recall measure here"
                    ),
                )
            };
            let rules: Vec<(usize, &When)> = self
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.instruments.iter().any(|x| x == id))
                .map(|(i, r)| (i, &r.when))
                .collect();
            let mut repeating: Vec<(usize, Repeats)> = Vec::new();
            for &(i, when) in &rules {
                match when {
                    When::Weekly { phase, every_weeks } => {
                        let hours = 168 * i64::from(every_weeks.unwrap_or(1));
                        if hours < recall {
                            return Err(too_close(i, format!("this rule repeats it every {} days", hours / 24)));
                        }
                        repeating.push((i, Repeats::During(*phase)));
                    }
                    When::BeforeEachDose => {
                        if let Some((protocol, hours)) = dosing.iter().find(|(_, h)| *h < recall) {
                            return Err(too_close(
                                i,
                                format!("this rule asks it before each dose, and `{protocol}` doses {hours} h apart"),
                            ));
                        }
                        repeating.push((i, Repeats::EachDose));
                    }
                    When::AfterEnd { months } => {
                        let mut m = months.clone();
                        m.sort_unstable();
                        let at_end = rules.iter().any(|(_, w)| matches!(w, When::EndOfCourse));
                        let firsts = at_end.then_some(0).into_iter().chain(m.iter().copied());
                        for (a, b) in firsts.clone().zip(firsts.skip(1)) {
                            if i64::from(b - a) * 30 * 24 < recall {
                                let from =
                                    if a == 0 { "the end of the course".to_string() } else { format!("month {a}") };
                                return Err(too_close(i, format!("month {b} follows {from}")));
                            }
                        }
                    }
                    When::Baseline | When::EndOfCourse | When::AfterDose { .. } => {}
                }
            }
            for (n, &(i, a)) in repeating.iter().enumerate() {
                for &(j, b) in &repeating[n + 1..] {
                    let overlap = match (a, b) {
                        (Repeats::EachDose, _) | (_, Repeats::EachDose) => true,
                        (Repeats::During(p), Repeats::During(q)) => p == q,
                    };
                    if overlap {
                        return Err(too_close(j, format!("rules[{i}] already repeats it while this rule runs")));
                    }
                }
            }
            let each_dose = repeating.iter().any(|(_, r)| matches!(r, Repeats::EachDose));
            for &(i, when) in &rules {
                if let When::AfterDose { dose, hours } = when
                    && each_dose
                {
                    if *hours < recall {
                        return Err(too_close(i, format!("it is also asked before dose {dose}, {hours} h earlier")));
                    }
                    if let Some((protocol, gap)) = dosing.iter().find(|(_, gap)| gap - hours < recall) {
                        return Err(too_close(
                            i,
                            format!("it is also asked before the next dose, {} h later with `{protocol}`", gap - hours),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_hours(field: &str, hours: i64) -> Result<(), DomainError> {
    if (0..=MAX_HOURS).contains(&hours) {
        Ok(())
    } else {
        Err(DomainError::invalid(field, format!("{hours} is not between 0 and {MAX_HOURS} hours")))
    }
}

/// What [`occurrences`] needs to know about a course.
#[derive(Debug, Clone)]
pub struct CourseFacts {
    pub started_at: Timestamp,
    /// Each phase the course entered and when, in order.
    pub phases: Vec<(Phase, Timestamp)>,
    /// Start of every dose, booked or given (dose 1 is the earliest).
    pub doses: Vec<Timestamp>,
    /// When the course ended (completed or discontinued); `None` while it runs.
    pub ended_at: Option<Timestamp>,
    /// The clinic's time zone, for calendar days and months.
    pub tz: TimeZone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OccurrenceStatus {
    /// `now < opens_at`.
    Upcoming,
    /// `opens_at <= now < overdue_at`, not done.
    Due,
    /// `now >= overdue_at`, not done, and not yet missed.
    Overdue,
    /// Overdue for longer than the schedule's `missed_after_hours`: the
    /// moment has passed; kept in the record, off the work lists.
    Missed,
    /// An administration in `[opens_at, overdue_at)` was assigned to it.
    Done,
}

/// One instrument due once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Occurrence {
    pub instrument: String,
    /// E.g. "baseline", "before dose 3", "24 h after dose 1", "week 2 of induction".
    pub label: String,
    pub opens_at: Timestamp,
    pub due_at: Timestamp,
    pub overdue_at: Timestamp,
    pub status: OccurrenceStatus,
    /// The administration that satisfied it.
    pub done_at: Option<Timestamp>,
}

/// Lists the schedule's occurrences for a course, sorted by `due_at`, then
/// instrument (ties keep the schedule's rule order).
///
/// Only occurrences whose anchor exists are listed: no `after_dose` for a dose
/// that has no time, nothing end-based while `ended_at` is `None`, and weekly
/// ones only while their phase lasts and due no later than `now` + 7 days.
///
/// Matching: an administration of the instrument completed in
/// `[opens_at, overdue_at)` satisfies the occurrence (the earliest such one
/// is reported). One answer may satisfy several occurrences whose windows
/// overlap: a PHQ-9 on the morning of the first dose is both the baseline
/// and the pre-dose measure, and nobody should be asked twice in an hour.
///
/// An occurrence whose times fall outside jiff's range is left out.
pub fn occurrences(
    schedule: &MeasureSchedule,
    facts: &CourseFacts,
    completed: &[(String, Timestamp)],
    now: Timestamp,
) -> Vec<Occurrence> {
    let mut out = Vec::new();
    for rule in &schedule.rules {
        for slot in slots(rule, facts, now) {
            for instrument in &rule.instruments {
                let status = if now < slot.opens_at {
                    OccurrenceStatus::Upcoming
                } else if now < slot.overdue_at {
                    OccurrenceStatus::Due
                } else if now.duration_since(slot.overdue_at) < SignedDuration::from_hours(schedule.missed_after_hours)
                {
                    OccurrenceStatus::Overdue
                } else {
                    OccurrenceStatus::Missed
                };
                out.push(Occurrence {
                    instrument: instrument.clone(),
                    label: slot.label.clone(),
                    opens_at: slot.opens_at,
                    due_at: slot.due_at,
                    overdue_at: slot.overdue_at,
                    status,
                    done_at: None,
                });
            }
        }
    }
    out.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.instrument.cmp(&b.instrument)));

    for occ in &mut out {
        let pick = completed
            .iter()
            .filter(|(id, at)| *id == occ.instrument && occ.opens_at <= *at && *at < occ.overdue_at)
            .map(|(_, at)| *at)
            .min();
        if let Some(at) = pick {
            occ.done_at = Some(at);
            occ.status = OccurrenceStatus::Done;
        }
    }
    out
}

/// One due time of a rule, before it is split per instrument.
struct Slot {
    label: String,
    opens_at: Timestamp,
    due_at: Timestamp,
    overdue_at: Timestamp,
}

fn shift(t: Timestamp, hours: i64) -> Option<Timestamp> {
    t.checked_add(SignedDuration::try_from_hours(hours)?).ok()
}

fn window(rule: &ScheduleRule, label: String, due_at: Timestamp) -> Option<Slot> {
    let opens_at = shift(due_at, rule.opens_hours_before.checked_neg()?)?;
    Some(Slot { label, opens_at, due_at, overdue_at: shift(due_at, rule.grace_hours)? })
}

/// When `phase` was entered, and when it ended (the next phase, or the end of the course).
/// The phases a course went through, from its recorded phase changes,
/// completed where records lack them (imported courses): screening from the
/// course's start; induction from the first dose; and a current phase after
/// induction with no recorded move into it from the end of the protocol's
/// induction series: the first dose after the series, or the series at its
/// slowest allowed pace (`count` × `max_spacing_hours` after dose 1),
/// whichever is earlier; without a protocol, the day after the last dose
/// (for an ended course, never later than that).
/// Weekly induction measures then stop where induction did.
pub fn course_phases(
    recorded: &[(Phase, Timestamp)],
    current: Phase,
    started_at: Timestamp,
    doses: &[Timestamp],
    series: Option<&crate::protocols::DoseSeries>,
) -> Vec<(Phase, Timestamp)> {
    let mut phases = recorded.to_vec();
    if phases.is_empty() {
        phases.push((Phase::Screening, started_at));
    }
    let mut doses = doses.to_vec();
    doses.sort();
    if !phases.iter().any(|(p, _)| *p == Phase::Induction)
        && let Some(first) = doses.first()
    {
        phases.push((Phase::Induction, *first));
        phases.sort_by_key(|(_, t)| *t);
    }
    let last = phases.last().map(|(p, t)| (*p, *t));
    if current > Phase::Induction
        && let Some((last_phase, last_at)) = last
        && last_phase != current
        && last_phase <= Phase::Induction
    {
        let after_series = series.and_then(|d| doses.get(usize::try_from(d.count).ok()?)).copied();
        let slowest = series.zip(doses.first()).and_then(|(d, first)| {
            let hours = d.max_spacing_hours?.checked_mul(i64::from(d.count))?;
            first.checked_add(SignedDuration::from_hours(hours)).ok()
        });
        let ends = match (after_series, slowest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let day_after_last = doses.last().and_then(|d| d.checked_add(SignedDuration::from_hours(24)).ok());
        // An ended course gave no dose after its last: nothing ran on after it.
        let ends = match (current >= Phase::Completed, ends, day_after_last) {
            (true, Some(a), Some(b)) => Some(a.min(b)),
            (_, a, b) => a.or(b),
        };
        if let Some(at) = ends {
            phases.push((current, at.max(last_at)));
        }
    }
    phases
}

fn phase_span(facts: &CourseFacts, phase: Phase) -> Option<(Timestamp, Option<Timestamp>)> {
    let i = facts.phases.iter().position(|(p, _)| *p == phase)?;
    let end = facts.phases.get(i + 1).map(|(_, at)| *at).or(facts.ended_at);
    Some((facts.phases[i].1, end))
}

fn slots(rule: &ScheduleRule, facts: &CourseFacts, now: Timestamp) -> Vec<Slot> {
    let mut doses = facts.doses.clone();
    doses.sort();
    let mut out = Vec::new();
    match &rule.when {
        When::Baseline => {
            if let Some(mut slot) = window(rule, "baseline".into(), facts.started_at) {
                if let Some(&first) = doses.first() {
                    slot.overdue_at = slot.overdue_at.min(first).max(slot.due_at);
                }
                out.push(slot);
            }
        }
        When::BeforeEachDose => {
            for (i, &dose) in doses.iter().enumerate() {
                out.extend(window(rule, format!("before dose {}", i + 1), dose));
            }
        }
        When::AfterDose { dose, hours } => {
            let start = dose.checked_sub(1).and_then(|i| doses.get(usize::try_from(i).ok()?));
            if let Some(due) = start.and_then(|&at| shift(at, *hours)) {
                out.extend(window(rule, format!("{hours} h after dose {dose}"), due));
            }
        }
        When::Weekly { phase, every_weeks } => {
            let step = i64::from(every_weeks.unwrap_or(1).max(1));
            if let Some((start, end)) = phase_span(facts, *phase) {
                let horizon = shift(now, 7 * 24).unwrap_or(Timestamp::MAX);
                let limit = end.map_or(horizon, |end| end.min(horizon));
                let start = start.to_zoned(facts.tz.clone());
                for week in (1_i64..).map(|n| n * step) {
                    // Calendar days in the clinic zone: 09:00 stays 09:00 across DST.
                    let Some(due) = Span::new().try_days(7 * week).ok().and_then(|s| start.checked_add(s).ok()) else {
                        break;
                    };
                    let due = due.timestamp();
                    if due > limit {
                        break;
                    }
                    out.extend(window(rule, format!("week {week} of {phase}"), due));
                }
            }
        }
        When::EndOfCourse => {
            if let Some(end) = facts.ended_at {
                out.extend(window(rule, "end of course".into(), end));
            }
        }
        When::AfterEnd { months } => {
            if let Some(end) = facts.ended_at {
                let end = end.to_zoned(facts.tz.clone());
                for &m in months {
                    // Zoned + months: the day is clamped to the month's last day
                    // (31 Jan + 1 month = 28/29 Feb), same wall-clock time.
                    let due = Span::new().try_months(i64::from(m)).ok().and_then(|s| end.checked_add(s).ok());
                    let label =
                        if m == 1 { "1 month after the end".into() } else { format!("{m} months after the end") };
                    out.extend(due.and_then(|due| window(rule, label, due.timestamp())));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use OccurrenceStatus::*;

    const KNOWN: &[&str] = &["phq9", "gad7"];

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    /// A one-instrument (PHQ-9) schedule from rule lines.
    fn schedule(rules: &str) -> MeasureSchedule {
        let text = format!("id = \"t\"\nname = \"T\"\nsource = \"test\"\nconfirmed = false\n{rules}");
        MeasureSchedule::from_toml(&text, KNOWN).expect("valid schedule")
    }

    fn facts(started: &str, doses: &[&str]) -> CourseFacts {
        CourseFacts {
            started_at: ts(started),
            phases: vec![(Phase::Screening, ts(started))],
            doses: doses.iter().map(|d| ts(d)).collect(),
            ended_at: None,
            tz: TimeZone::UTC,
        }
    }

    fn answers(list: &[&str]) -> Vec<(String, Timestamp)> {
        list.iter().map(|at| ("phq9".to_string(), ts(at))).collect()
    }

    fn summary(occ: &[Occurrence]) -> Vec<(&str, OccurrenceStatus)> {
        occ.iter().map(|o| (o.label.as_str(), o.status)).collect()
    }

    const BASELINE: &str = "[[rules]]\ninstruments = [\"phq9\"]\nwhen = { kind = \"baseline\" }\n\
                            opens_hours_before = 336\ngrace_hours = 168\n";

    #[test]
    fn baseline_done_before_first_dose_is_done() {
        // Start 3 Mar 09:00Z; opens 336 h = 14 d before: 17 Feb 09:00Z; grace 168 h = 10 Mar 09:00Z,
        // but the first dose (6 Mar 10:00Z) comes first, so overdue at 6 Mar 10:00Z.
        let f = facts("2025-03-03T09:00:00Z", &["2025-03-06T10:00:00Z"]);
        let occ = occurrences(&schedule(BASELINE), &f, &answers(&["2025-03-01T12:00:00Z"]), ts("2025-03-20T00:00Z"));
        assert_eq!(occ.len(), 1);
        assert_eq!(occ[0].opens_at, ts("2025-02-17T09:00:00Z"));
        assert_eq!(occ[0].overdue_at, ts("2025-03-06T10:00:00Z"));
        assert_eq!((occ[0].status, occ[0].done_at), (Done, Some(ts("2025-03-01T12:00:00Z"))));
    }

    #[test]
    fn baseline_not_done_is_overdue_at_first_dose_or_after_grace() {
        let s = schedule(BASELINE);
        let f = facts("2025-03-03T09:00:00Z", &["2025-03-06T10:00:00Z"]);
        let status = |now: &str, done: &[&str]| occurrences(&s, &f, &answers(done), ts(now))[0].status;
        assert_eq!(status("2025-02-17T08:59:59Z", &[]), Upcoming);
        assert_eq!(status("2025-03-06T09:59:59Z", &[]), Due);
        assert_eq!(status("2025-03-06T10:00:00Z", &[]), Overdue);
        // Answered after the first dose started: too late to be a baseline.
        assert_eq!(status("2025-03-07T00:00:00Z", &["2025-03-06T10:30:00Z"]), Overdue);
        // No dose booked: overdue after the grace, 3 Mar 09:00Z + 168 h = 10 Mar 09:00Z.
        let f = facts("2025-03-03T09:00:00Z", &[]);
        let occ = occurrences(&s, &f, &[], ts("2025-03-10T09:00:00Z"));
        assert_eq!((occ[0].overdue_at, occ[0].status), (ts("2025-03-10T09:00:00Z"), Overdue));
    }

    #[test]
    fn before_each_dose_done_due_and_overdue() {
        let s = schedule(
            "[[rules]]\ninstruments = [\"phq9\"]\nwhen = { kind = \"before_each_dose\" }\n\
             opens_hours_before = 24\ngrace_hours = 2\n",
        );
        let f =
            facts("2025-03-03T09:00:00Z", &["2025-03-06T10:00:00Z", "2025-03-10T10:00:00Z", "2025-03-13T10:00:00Z"]);
        // Answered 2 h before dose 2 (10 Mar 08:00Z), inside [9 Mar 10:00Z, 10 Mar 12:00Z).
        let done = answers(&["2025-03-10T08:00:00Z"]);
        // Dose 3 at 13 Mar 10:00Z: window [12 Mar 10:00Z, 13 Mar 12:00Z).
        let occ = occurrences(&s, &f, &done, ts("2025-03-13T11:00:00Z"));
        assert_eq!(summary(&occ), [("before dose 1", Overdue), ("before dose 2", Done), ("before dose 3", Due)]);
        assert_eq!(occ[2].opens_at, ts("2025-03-12T10:00:00Z"));
        assert_eq!(occ[2].overdue_at, ts("2025-03-13T12:00:00Z"));
        assert_eq!(occ[1].done_at, Some(ts("2025-03-10T08:00:00Z")));
        let later = occurrences(&s, &f, &done, ts("2025-03-13T12:00:00Z"));
        assert_eq!(later[2].status, Overdue);
    }

    #[test]
    fn after_dose_24_hours() {
        let s = schedule(
            "[[rules]]\ninstruments = [\"phq9\"]\nwhen = { kind = \"after_dose\", dose = 1, hours = 24 }\n\
             grace_hours = 24\n\n[[rules]]\ninstruments = [\"phq9\"]\n\
             when = { kind = \"after_dose\", dose = 2, hours = 24 }\ngrace_hours = 24\n",
        );
        // Dose 1 at 6 Mar 10:00Z: due 7 Mar 10:00Z (opens then too), overdue 8 Mar 10:00Z.
        // There is no dose 2, so its rule yields nothing.
        let f = facts("2025-03-03T09:00:00Z", &["2025-03-06T10:00:00Z"]);
        let early = answers(&["2025-03-07T09:00:00Z"]);
        let occ = occurrences(&s, &f, &early, ts("2025-03-07T12:00:00Z"));
        assert_eq!(summary(&occ), [("24 h after dose 1", Due)]);
        assert_eq!((occ[0].opens_at, occ[0].due_at), (ts("2025-03-07T10:00:00Z"), ts("2025-03-07T10:00:00Z")));
        assert_eq!(occ[0].overdue_at, ts("2025-03-08T10:00:00Z"));
        let done = answers(&["2025-03-07T09:00:00Z", "2025-03-07T15:00:00Z"]);
        let occ = occurrences(&s, &f, &done, ts("2025-03-09T00:00:00Z"));
        assert_eq!((occ[0].status, occ[0].done_at), (Done, Some(ts("2025-03-07T15:00:00Z"))));
    }

    #[test]
    fn weekly_during_induction_uses_clinic_days_and_stops_at_phase_end() {
        let s = schedule(
            "[[rules]]\ninstruments = [\"phq9\"]\nwhen = { kind = \"weekly\", phase = \"induction\" }\ngrace_hours = 72\n",
        );
        let mut f = facts("2025-03-01T09:00:00Z", &[]);
        f.tz = TimeZone::get("Europe/Berlin").expect("bundled tzdb");
        // Induction entered Mon 17 Mar 09:00 CET (08:00Z). Berlin moves to CEST on 30 Mar, so:
        // week 1 = 24 Mar 09:00 CET = 08:00Z; week 2 = 31 Mar 09:00 CEST = 07:00Z;
        // week 3 = 7 Apr 09:00 CEST = 07:00Z. Integration entered 7 Apr 12:00 CEST (10:00Z): no week 4.
        f.phases.push((Phase::Induction, ts("2025-03-17T08:00:00Z")));
        f.phases.push((Phase::Integration, ts("2025-04-07T10:00:00Z")));
        let done = answers(&["2025-03-24T08:30:00Z", "2025-04-07T07:00:00Z"]);
        // Week 2 became overdue on 3 Apr 07:00Z (72 h grace): overdue for 14 days, then missed.
        let occ = occurrences(&s, &f, &done, ts("2025-04-17T06:59:00Z"));
        assert_eq!(
            summary(&occ),
            [("week 1 of induction", Done), ("week 2 of induction", Overdue), ("week 3 of induction", Done)]
        );
        let occ = occurrences(&s, &f, &done, ts("2025-05-01T00:00:00Z"));
        assert_eq!(
            summary(&occ),
            [("week 1 of induction", Done), ("week 2 of induction", Missed), ("week 3 of induction", Done)]
        );
        let due: Vec<_> = occ.iter().map(|o| o.due_at).collect();
        assert_eq!(due, [ts("2025-03-24T08:00:00Z"), ts("2025-03-31T07:00:00Z"), ts("2025-04-07T07:00:00Z")]);
        // Week 2 overdue 72 h after its due time.
        assert_eq!(occ[1].overdue_at, ts("2025-04-03T07:00:00Z"));
        // Still in induction on 27 Mar: weeks due up to now + 7 d (3 Apr) are listed, week 3 not yet.
        f.phases.pop();
        let occ = occurrences(&s, &f, &done, ts("2025-03-27T08:00:00Z"));
        assert_eq!(summary(&occ), [("week 1 of induction", Done), ("week 2 of induction", Upcoming)]);
    }

    #[test]
    fn end_of_course_and_follow_ups_use_calendar_months() {
        let s = schedule(
            "[[rules]]\ninstruments = [\"phq9\"]\nwhen = { kind = \"end_of_course\" }\nopens_hours_before = 72\n\
             grace_hours = 168\n\n[[rules]]\ninstruments = [\"phq9\"]\nwhen = { kind = \"after_end\", months = [1, 3, 6] }\n\
             opens_hours_before = 168\ngrace_hours = 336\n",
        );
        let mut f = facts("2024-11-01T09:00:00Z", &[]);
        f.tz = TimeZone::get("Europe/Berlin").expect("bundled tzdb");
        assert!(occurrences(&s, &f, &[], ts("2025-01-31T14:00:00Z")).is_empty(), "nothing end-based before the end");
        // Ended Fri 31 Jan 2025 15:00 CET (14:00Z). `Zoned::checked_add(Span::months(n))` adds calendar
        // months to the wall clock, clamping the day to the month's end, then resolves in Europe/Berlin:
        // +1 → 28 Feb 15:00 CET = 14:00Z; +3 → 30 Apr 15:00 CEST = 13:00Z; +6 → 31 Jul 15:00 CEST = 13:00Z.
        f.ended_at = Some(ts("2025-01-31T14:00:00Z"));
        let done = answers(&["2025-01-30T10:00:00Z", "2025-02-25T10:00:00Z"]);
        let occ = occurrences(&s, &f, &done, ts("2025-05-20T00:00:00Z"));
        let labels = ["end of course", "1 month after the end", "3 months after the end", "6 months after the end"];
        assert_eq!(summary(&occ), labels.into_iter().zip([Done, Done, Overdue, Upcoming]).collect::<Vec<_>>());
        let due: Vec<_> = occ.iter().map(|o| o.due_at).collect();
        let expected = ["2025-01-31T14:00:00Z", "2025-02-28T14:00:00Z", "2025-04-30T13:00:00Z", "2025-07-31T13:00:00Z"];
        assert_eq!(due, expected.map(ts));
        // End of course opens 72 h before: 28 Jan 14:00Z; 1 month opens 168 h before: 21 Feb 14:00Z.
        assert_eq!((occ[0].opens_at, occ[1].opens_at), (ts("2025-01-28T14:00:00Z"), ts("2025-02-21T14:00:00Z")));
        // 3 months: overdue 336 h (14 d) after 30 Apr 13:00Z = 14 May 13:00Z.
        assert_eq!(occ[2].overdue_at, ts("2025-05-14T13:00:00Z"));
        // Leap year: ended 31 Jan 2024 → 29 Feb 2024.
        f.ended_at = Some(ts("2024-01-31T14:00:00Z"));
        assert_eq!(occurrences(&s, &f, &[], ts("2024-02-01T00:00:00Z"))[1].due_at, ts("2024-02-29T14:00:00Z"));
    }

    #[test]
    fn one_answer_satisfies_every_occurrence_whose_window_holds_it() {
        let s = schedule(&format!(
            "{BASELINE}\n[[rules]]\ninstruments = [\"phq9\"]\nwhen = {{ kind = \"before_each_dose\" }}\n\
             opens_hours_before = 24\ngrace_hours = 2\n"
        ));
        // Baseline window [17 Feb 09:00Z, 6 Mar 10:00Z); before dose 1 window [5 Mar 10:00Z, 6 Mar 12:00Z).
        // An answer on 5 Mar 18:00Z lies in both windows and satisfies both.
        let f = facts("2025-03-03T09:00:00Z", &["2025-03-06T10:00:00Z"]);
        let now = ts("2025-03-06T09:00:00Z");
        let occ = occurrences(&s, &f, &answers(&["2025-03-05T18:00:00Z"]), now);
        assert_eq!(summary(&occ), [("baseline", Done), ("before dose 1", Done)]);
        // An answer before the pre-dose window opens counts for the baseline only.
        let occ = occurrences(&s, &f, &answers(&["2025-03-04T18:00:00Z"]), now);
        assert_eq!(summary(&occ), [("baseline", Done), ("before dose 1", Due)]);
        // With two answers in the baseline window, the earliest is reported.
        let occ = occurrences(&s, &f, &answers(&["2025-03-06T09:30:00Z", "2025-03-04T18:00:00Z"]), now);
        assert_eq!(occ[0].done_at, Some(ts("2025-03-04T18:00:00Z")));
        assert_eq!(occ[1].done_at, Some(ts("2025-03-06T09:30:00Z")));
    }

    #[test]
    fn validation_errors_name_the_field() {
        let head = "id = \"t\"\nname = \"T\"\nsource = \"test\"\nconfirmed = false\n";
        let ok = "[[rules]]\ninstruments = [\"phq9\"]\nwhen = { kind = \"baseline\" }\ngrace_hours = 1\n";
        let field = |rules: &str| {
            let err = MeasureSchedule::from_toml(&format!("{head}{rules}"), KNOWN).expect_err("refused");
            (err.field().to_string(), err.to_string())
        };
        let rule = |body: &str| format!("[[rules]]\n{body}\n");
        assert_eq!(
            field(&rule("instruments = []\nwhen = { kind = \"baseline\" }\ngrace_hours = 1")).0,
            "rules[0].instruments"
        );
        let unknown =
            format!("{ok}{ok}{}", rule("instruments = [\"madrs\"]\nwhen = { kind = \"baseline\" }\ngrace_hours = 1"));
        let (f, msg) = field(&unknown);
        assert_eq!(f, "rules[2].instruments");
        assert!(msg.contains("madrs"), "{msg}");
        let cases = [
            ("instruments = [\"phq9\"]\nwhen = { kind = \"baseline\" }\ngrace_hours = -1", "rules[0].grace_hours"),
            (
                "instruments = [\"phq9\", \"phq9\"]\nwhen = { kind = \"baseline\" }\ngrace_hours = 1",
                "rules[0].instruments",
            ),
            (
                "instruments = [\"phq9\"]\nwhen = { kind = \"baseline\" }\ngrace_hours = 1\nopens_hours_before = -2",
                "rules[0].opens_hours_before",
            ),
            (
                "instruments = [\"phq9\"]\nwhen = { kind = \"after_dose\", dose = 0, hours = 24 }\ngrace_hours = 1",
                "rules[0].when.dose",
            ),
            (
                "instruments = [\"phq9\"]\nwhen = { kind = \"after_end\", months = [] }\ngrace_hours = 1",
                "rules[0].when.months",
            ),
            (
                "instruments = [\"phq9\"]\nwhen = { kind = \"weekly\", phase = \"completed\" }\ngrace_hours = 1",
                "rules[0].when.phase",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(field(&rule(body)).0, expected, "{body}");
        }
        assert_eq!(field("rules = []").0, "rules");
        // Unknown kinds and fields are refused by the parser; the message says what and where.
        let (f, msg) = field(&rule("instruments = [\"phq9\"]\nwhen = { kind = \"fortnightly\" }\ngrace_hours = 1"));
        assert!(f == "measure_schedule" && msg.contains("fortnightly"), "{msg}");
        let (f, msg) =
            field(&rule("instruments = [\"phq9\"]\nwhen = { kind = \"baseline\" }\ngrace_hours = 1\ngrace = 2"));
        assert!(f == "measure_schedule" && msg.contains("grace"), "{msg}");
        let (f, msg) = field(&format!("colour = \"red\"\n{ok}"));
        assert!(f == "measure_schedule" && msg.contains("colour"), "{msg}");
        let (f, msg) = field(&rule(
            "instruments = [\"phq9\"]\nwhen = { kind = \"after_dose\", dose = 1, hours = 1, x = 1 }\ngrace_hours = 1",
        ));
        assert!(f == "measure_schedule" && msg.contains("`x`"), "{msg}");
    }

    /// Every instrument the shipped schedules name.
    const SHIPPED_IDS: &[&str] = &["phq9", "gad7", "pcl5", "pcl5_week", "qids_sr16", "safety_check"];

    #[test]
    fn standard_schedule_loads_and_needs_its_instruments() {
        let s = MeasureSchedule::from_toml(STANDARD, SHIPPED_IDS).expect("standard schedule loads");
        assert_eq!((s.id.as_str(), s.rules.len(), s.provenance.confirmed), ("standard", 7, false));
        assert_eq!(s.rules[1].instruments, ["safety_check"]);
        assert_eq!(s.rules[1].when, When::BeforeEachDose);
        assert_eq!(s.rules[3].when, When::Weekly { phase: Phase::Induction, every_weeks: Some(2) });
        assert_eq!(s.rules[6].when, When::AfterEnd { months: vec![1, 3, 6] });
        let err = MeasureSchedule::from_toml(STANDARD, &["phq9"]).expect_err("gad7 unknown");
        assert_eq!(err.field(), "rules[0].instruments");
        assert!(err.to_string().contains("gad7"));
    }

    #[test]
    fn standard_schedule_over_a_course_lists_the_instruments_in_due_order() {
        let s = MeasureSchedule::from_toml(STANDARD, SHIPPED_IDS).expect("standard schedule loads");
        let mut f = facts("2025-03-03T09:00:00Z", &["2025-03-10T10:00:00Z", "2025-03-13T10:00:00Z"]);
        f.phases.push((Phase::Induction, ts("2025-03-10T09:00:00Z")));
        // now 11 Mar: baseline × 3, the safety check before each of 2 doses,
        // QIDS-SR16 week 1 (17 Mar ≤ now + 7 d); the fortnightly PHQ-9 and
        // GAD-7 first fall due in week 2 (24 Mar), not listed yet.
        let occ = occurrences(&s, &f, &[], ts("2025-03-11T09:00:00Z"));
        let listed: Vec<(&str, &str)> = occ.iter().map(|o| (o.label.as_str(), o.instrument.as_str())).collect();
        assert_eq!(
            listed,
            [
                ("baseline", "gad7"),
                ("baseline", "phq9"),
                ("baseline", "qids_sr16"),
                ("before dose 1", "safety_check"),
                ("before dose 2", "safety_check"),
                ("week 1 of induction", "qids_sr16"),
            ]
        );
        // By 25 Mar: week 2's PHQ-9 and GAD-7, 14 days after induction began.
        let occ = occurrences(&s, &f, &[], ts("2025-03-25T09:00:00Z"));
        let week2: Vec<&str> =
            occ.iter().filter(|o| o.label == "week 2 of induction").map(|o| o.instrument.as_str()).collect();
        assert_eq!(week2, ["gad7", "phq9", "qids_sr16"]);
        assert!(!occ.iter().any(|o| o.label == "week 1 of induction" && o.instrument == "phq9"));
    }

    #[test]
    fn the_ptsd_schedule_measures_pcl5_and_phq9_and_a_clinic_file_replaces_a_shipped_one() {
        let all = Schedules::shipped(SHIPPED_IDS).expect("shipped schedules load");
        assert_eq!(all.ids(), vec!["standard", "ptsd"]);
        let ptsd = all.get("ptsd").expect("ptsd");
        assert_eq!(ptsd.file, "ptsd.toml");
        assert!(ptsd.rules.iter().any(|r| r.instruments.contains(&"pcl5".to_string())));
        // Weekly PTSD checks use the past-week wording.
        for r in ptsd.rules.iter().filter(|r| matches!(r.when, When::Weekly { every_weeks: None, .. })) {
            assert_eq!(r.instruments, ["pcl5_week"]);
        }
        assert!(!ptsd.provenance.confirmed);
        let mine = STANDARD
            .replace("name = \"Standard: PHQ-9 and GAD-7 fortnightly", "name = \"Ours: PHQ-9 and GAD-7 fortnightly");
        let all = Schedules::load([("standard.toml", STANDARD), ("mine.toml", mine.as_str())], SHIPPED_IDS)
            .expect("clinic file");
        assert!(all.standard().name.starts_with("Ours"));
        assert_eq!(all.standard().file, "mine.toml");
        let err = Schedules::load([("ptsd.toml", PTSD)], SHIPPED_IDS).expect_err("no standard");
        assert_eq!(err.field(), "measure_schedules");
        let err = Schedules::load(SHIPPED, &["phq9", "gad7", "qids_sr16", "safety_check"]).expect_err("pcl5 unknown");
        assert!(err.field().starts_with("ptsd.toml"), "{err}");
    }

    /// Recall periods in days of the shipped instruments (their files' `recall_days`).
    fn recall(id: &str) -> u32 {
        match id {
            "phq9" | "gad7" => 14,
            "pcl5" => 30,
            "pcl5_week" | "qids_sr16" => 7,
            _ => 0,
        }
    }

    fn recall_error(rules: &str, dosing: &[(&str, i64)]) -> (String, String) {
        let text = format!("id = \"t\"\nname = \"T\"\nsource = \"test\"\nconfirmed = false\n{rules}");
        let s = MeasureSchedule::from_toml(&text, SHIPPED_IDS).expect("valid format");
        let e = s.check_recall(&recall, dosing).expect_err("overlapping recall");
        (e.field().to_string(), e.to_string())
    }

    const EACH_DOSE: &str = "when = { kind = \"before_each_dose\" }\nopens_hours_before = 24\ngrace_hours = 2\n";

    #[test]
    fn a_schedule_that_asks_again_within_the_recall_period_is_refused_naming_the_rule() {
        let twice_weekly = [("esketamine_label", 72)];
        // A PHQ-9 (last 2 weeks) before each twice-weekly dose: every 3 days.
        let (field, msg) =
            recall_error(&format!("[[rules]]\ninstruments = [\"gad7\", \"phq9\"]\n{EACH_DOSE}"), &twice_weekly);
        assert_eq!(field, "rules[0].when");
        assert!(
            msg.contains("`gad7` asks about 14 days") && msg.contains("`esketamine_label` doses 72 h apart"),
            "{msg}"
        );
        // A PHQ-9 every week.
        let weekly = "[[rules]]\ninstruments = [\"phq9\"]\nwhen = { kind = \"weekly\", phase = \"induction\" }\ngrace_hours = 72\n";
        let (field, msg) = recall_error(weekly, &[]);
        assert_eq!(field, "rules[0].when");
        assert!(msg.contains("every 7 days"), "{msg}");
        // The past-month PCL-5 every 2 weeks; its past-week form weekly passes.
        let pcl = "[[rules]]\ninstruments = [\"pcl5\"]\nwhen = { kind = \"weekly\", phase = \"induction\", every_weeks = 2 }\ngrace_hours = 72\n";
        assert!(recall_error(pcl, &[]).1.contains("`pcl5` asks about 30 days"));
        // QIDS-SR16 (7 days) weekly and before each dose: both repeat at once.
        let both = format!(
            "[[rules]]\ninstruments = [\"qids_sr16\"]\nwhen = {{ kind = \"weekly\", phase = \"induction\" }}\ngrace_hours = 72\n\
             [[rules]]\ninstruments = [\"qids_sr16\"]\n{EACH_DOSE}"
        );
        let (field, msg) = recall_error(&both, &[("kap_sublingual_im", 168)]);
        assert_eq!(field, "rules[1].when");
        assert!(msg.contains("rules[0] already repeats it"), "{msg}");
        // A QIDS-SR16 24 h after dose 1 as well as before each weekly dose.
        let after = format!(
            "[[rules]]\ninstruments = [\"qids_sr16\"]\n{EACH_DOSE}\
             [[rules]]\ninstruments = [\"qids_sr16\"]\nwhen = {{ kind = \"after_dose\", dose = 1, hours = 24 }}\ngrace_hours = 24\n"
        );
        let (field, msg) = recall_error(&after, &[("kap_sublingual_im", 168)]);
        assert_eq!(field, "rules[1].when");
        assert!(msg.contains("before dose 1, 24 h earlier"), "{msg}");
        // A PCL-5 at the end and 1 month after: 30 days; fine for the PHQ-9,
        // and for the PCL-5 too (a month counts as 30 days); at 1 and 2
        // months the PHQ-9 passes, two follow-ups in one month do not.
        let follow = "[[rules]]\ninstruments = [\"pcl5\", \"phq9\"]\nwhen = { kind = \"end_of_course\" }\ngrace_hours = 1\n\
                      [[rules]]\ninstruments = [\"pcl5\", \"phq9\"]\nwhen = { kind = \"after_end\", months = [1, 2] }\ngrace_hours = 1\n";
        let text = format!("id = \"t\"\nname = \"T\"\nsource = \"test\"\nconfirmed = false\n{follow}");
        let s = MeasureSchedule::from_toml(&text, SHIPPED_IDS).expect("valid");
        assert!(s.check_recall(&recall, &[]).is_ok());
        let (field, msg) = recall_error(&follow.replace("[1, 2]", "[1, 1]"), &[]);
        assert_eq!(field, "rules[1].when");
        assert!(msg.contains("month 1 follows month 1"), "{msg}");
    }

    #[test]
    fn the_shipped_schedules_keep_every_instrument_outside_its_recall_period_with_every_shipped_protocol() {
        let instruments = crate::instruments::Library::shipped().expect("instruments");
        let schedules = Schedules::shipped(SHIPPED_IDS).expect("schedules");
        let protocols = crate::protocols::ProtocolLibrary::shipped(&schedules.ids()).expect("protocols");
        schedules.check_recall(&instruments, &protocols).expect("the shipped schedules respect recall periods");
        // The check reads the instruments' own periods: a clinic that makes
        // the safety check ask about the last 2 weeks finds its schedule
        // refused at start, naming the file and rule.
        let mut changed = crate::instruments::SHIPPED.to_vec();
        let text = crate::instruments::SHIPPED
            .iter()
            .find(|(n, _)| *n == "safety_check.toml")
            .expect("shipped")
            .1
            .replace("recall_days = 0", "recall_days = 14");
        changed.push(("safety_check.toml", text.as_str()));
        let instruments = crate::instruments::Library::load(changed).expect("instruments");
        let err = schedules.check_recall(&instruments, &protocols).expect_err("every dose is closer than 14 days");
        assert_eq!(err.field(), "standard.toml: rules[1].when", "{err}");
    }

    #[test]
    fn a_course_in_maintenance_without_its_recorded_move_leaves_induction_after_the_protocols_series() {
        let day = |d: i64| ts("2026-01-05T09:00:00Z") + SignedDuration::from_hours(24 * d);
        // Eight induction doses twice a week, then weekly maintenance doses.
        let doses: Vec<Timestamp> = [0, 3, 7, 10, 14, 17, 21, 24, 35, 42].iter().map(|d| day(*d)).collect();
        // The esketamine label's series: 8 doses, at most 120 h apart.
        let lib = crate::protocols::ProtocolLibrary::shipped(&["standard", "ptsd"]).expect("protocols");
        let series = &lib.get("esketamine_label").expect("esketamine").doses;
        let p = course_phases(&[], Phase::Maintenance, day(-14), &doses, Some(series));
        assert_eq!(p, vec![(Phase::Screening, day(-14)), (Phase::Induction, day(0)), (Phase::Maintenance, day(35))]);
        // Nine doses over three months: induction is over by its slowest
        // pace, 8 × 120 h = 40 days after dose 1, not at dose 9.
        let slow: Vec<Timestamp> = (0..9).map(|i| day(i * 11)).collect();
        let p = course_phases(&[], Phase::Maintenance, day(-14), &slow, Some(series));
        assert_eq!(p.last(), Some(&(Phase::Maintenance, day(40))));
        // An ended course: no later than the day after its last dose.
        let p = course_phases(&[], Phase::Completed, day(-14), &slow[..3], Some(series));
        assert_eq!(p.last(), Some(&(Phase::Completed, day(23))));
        // Without the protocol's series: the day after the last dose.
        let p = course_phases(&[], Phase::Maintenance, day(-14), &doses[..8], None);
        assert_eq!(p.last(), Some(&(Phase::Maintenance, day(25))));
        // A recorded move is kept as it is.
        let recorded = [(Phase::Screening, day(-14)), (Phase::Induction, day(0)), (Phase::Maintenance, day(30))];
        assert_eq!(course_phases(&recorded, Phase::Maintenance, day(-14), &doses, Some(series)), recorded.to_vec());
        // Still in induction: nothing added.
        let p = course_phases(&[], Phase::Induction, day(-14), &doses[..3], Some(series));
        assert_eq!(p, vec![(Phase::Screening, day(-14)), (Phase::Induction, day(0))]);
    }
}
