//! Treatment protocols as data, and the plan of a course started from one.
//!
//! A [`Protocol`] is read from a TOML file (`protocols/*.toml`; a clinic can
//! add its own or replace a shipped one by id) and checked by
//! [`Protocol::validate`] before it is used. It declares:
//!
//! - the dose ([`Dose`]): route, amount in mg/kg or mg (or a range), the
//!   infusion time for IV, and other routes a clinician may choose;
//! - the dose series ([`DoseSeries`]): how many doses, the minimum and
//!   maximum spacing between consecutive doses, how many may fall in any
//!   7 days, and the trial's day pattern when the trial fixed the days;
//! - the monitoring after each dose ([`Monitoring`]);
//! - the psychotherapy sessions tied to the doses ([`TiedSession`]): kind,
//!   count, [`Anchor`] and [`Window`];
//! - the measure schedule (an id from `measure-schedules/`);
//! - its evidence ([`Evidence`]): citation, design, n, headline result and
//!   the honest caveats.
//!
//! Every block carries its `source` and `confirmed` (a [`Provenance`]), and
//! may list fields its source does not confirm in an `unconfirmed` table of
//! field name → note. `confirmed = true` means every fact in the block is
//! confirmed except the fields listed; `confirmed = false` means none is.
//! [`Protocol::unconfirmed`] lists them all for the protocol page, which
//! labels them "unconfirmed default".
//!
//! [`plan`] is pure: from a protocol, the first dose's time and the clinic's
//! time zone it lays out the planned doses (earliest, target, latest) and the
//! tied sessions with their windows. It is calendar-neutral (weekends are
//! not skipped) and deterministic; a later scheduler books real slots.

use crate::DomainError;
use crate::instruments::Provenance;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Upper bound for every hour field (ten years), so plan arithmetic stays in range.
pub const MAX_HOURS: i64 = crate::measure_schedule::MAX_HOURS;
/// Most doses in one series.
pub const MAX_DOSES: u32 = 100;
/// Most sessions one tied-session rule may plan per anchor.
pub const MAX_SESSIONS: u32 = 200;
/// A week, for `max_per_week`: any 168 consecutive hours.
pub const WEEK_HOURS: i64 = 7 * 24;

crate::text_enum! {
    /// How the drug is given.
    pub enum Route {
        /// Intravenous infusion (racemic ketamine).
        Iv = "iv",
        /// Intramuscular injection.
        Im = "im",
        /// Sublingual lozenge or troche.
        Sublingual = "sublingual",
        /// Intranasal spray (esketamine).
        Intranasal = "intranasal",
    }
}

crate::text_enum! {
    pub enum DoseUnit {
        /// Milligrams per kilogram of body weight.
        MgPerKg = "mg_per_kg",
        /// Milligrams (a fixed dose).
        Mg = "mg",
    }
}

crate::text_enum! {
    /// The kind of session tied to the doses.
    pub enum SessionKind {
        Preparation = "preparation",
        Integration = "integration",
        /// Cognitive behavioural therapy.
        Cbt = "cbt",
        /// Written exposure therapy (Sloan & Marx; 5 sessions).
        Wet = "wet",
        IndividualTherapy = "individual_therapy",
        Group = "group",
        /// Automated self-association training, done at home (Price 2022).
        AsatHomeExercise = "asat_home_exercise",
    }
}

impl SessionKind {
    /// Done by the client alone (no clinician's time is booked).
    pub fn is_home_exercise(self) -> bool {
        self == SessionKind::AsatHomeExercise
    }
}

crate::text_enum! {
    /// The design of a study or the kind of source, weakest claims last.
    pub enum Design {
        RandomizedControlledTrial = "randomized_controlled_trial",
        /// One arm, everyone treated, everyone knows it: no control group.
        OpenLabelSingleArm = "open_label_single_arm",
        /// Outcomes collected in practice (prospective or retrospective),
        /// with no comparison group.
        Observational = "observational",
        /// Charts read after the fact: non-randomized, selection bias likely.
        RetrospectiveChartReview = "retrospective_chart_review",
        /// Expert opinion summarising the evidence.
        ConsensusStatement = "consensus_statement",
        /// A regulator's label: approved use, not comparative evidence.
        Label = "label",
    }
}

impl Design {
    /// The design in words, for the protocol page.
    pub fn describe(self) -> &'static str {
        match self {
            Design::RandomizedControlledTrial => "randomized controlled trial",
            Design::OpenLabelSingleArm => "open-label single-arm trial (no control group)",
            Design::Observational => "observational practice data (no comparison group)",
            Design::RetrospectiveChartReview => "retrospective chart review (not a trial)",
            Design::ConsensusStatement => "consensus statement (expert opinion)",
            Design::Label => "regulatory label",
        }
    }

    /// Whether the design compares the treatment against a randomized control.
    pub fn is_randomized(self) -> bool {
        self == Design::RandomizedControlledTrial
    }
}

/// The amount of one dose, and how it is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Dose {
    pub route: Route,
    pub unit: DoseUnit,
    /// The usual (or starting) dose; a protocol gives it, a range, or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// The lowest dose of the range clinicians titrate within.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Infusion time; IV only, and required for IV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infusion_minutes: Option<u32>,
    /// How the dose is chosen or adjusted, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub titration: Option<String>,
    /// Other routes a clinician may choose for a dose (sublingual or IM KAP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<AlternativeDose>,
    #[serde(flatten)]
    pub provenance: Provenance,
    /// Fields the source does not confirm: field name → note.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unconfirmed: BTreeMap<String, String>,
}

/// One route's allowed dose: its unit and its range, `min`-`max`, or exactly
/// `amount` when no range is given (either end may be open).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteDose {
    pub route: Route,
    pub unit: DoseUnit,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Infusion time (IV).
    pub infusion_minutes: Option<u32>,
}

impl RouteDose {
    /// "intranasal 56-84 mg", "iv 0.5 mg/kg".
    pub fn describe(&self) -> String {
        let unit = if self.unit == DoseUnit::Mg { "mg" } else { "mg/kg" };
        let route = self.route.as_str();
        match (self.lo, self.hi) {
            (Some(l), Some(h)) if l == h => format!("{route} {l} {unit}"),
            (Some(l), Some(h)) => format!("{route} {l}-{h} {unit}"),
            (Some(l), None) => format!("{route} at least {l} {unit}"),
            (None, Some(h)) => format!("{route} at most {h} {unit}"),
            (None, None) => format!("{route}, {unit}"),
        }
    }
}

impl Dose {
    /// The protocol's own route and each alternative, with its allowed dose.
    pub fn routes(&self) -> Vec<RouteDose> {
        let own = RouteDose {
            route: self.route,
            unit: self.unit,
            lo: self.min.or(self.amount),
            hi: self.max.or(self.amount),
            infusion_minutes: self.infusion_minutes,
        };
        std::iter::once(own)
            .chain(self.alternatives.iter().map(|a| RouteDose {
                route: a.route,
                unit: a.unit,
                lo: a.min.or(a.amount),
                hi: a.max.or(a.amount),
                infusion_minutes: a.infusion_minutes,
            }))
            .collect()
    }
}

/// Another route a clinician may choose instead of the protocol's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlternativeDose {
    pub route: Route,
    pub unit: DoseUnit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infusion_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub titration: Option<String>,
    #[serde(flatten)]
    pub provenance: Provenance,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unconfirmed: BTreeMap<String, String>,
}

/// The series of doses.
///
/// Spacing is counted between the starts of consecutive doses, in hours on
/// the clinic's wall clock. `max_per_week` holds for any 7 consecutive days
/// (a rolling window), so it holds however the calendar falls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DoseSeries {
    pub count: u32,
    /// Required when `count` > 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_spacing_hours: Option<i64>,
    /// Required when `count` > 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_spacing_hours: Option<i64>,
    /// Most doses in any 7 consecutive days; none: no limit beyond spacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_week: Option<u32>,
    /// The day of each dose counted from dose 1 (day 0), when the trial fixed
    /// the days, e.g. `[0, 2, 4, 7, 9, 11]` for Mon/Wed/Fri over 2 weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_pattern: Option<Vec<u32>>,
    #[serde(flatten)]
    pub provenance: Provenance,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unconfirmed: BTreeMap<String, String>,
}

impl DoseSeries {
    /// The shortest time between two doses the series allows, in hours:
    /// its minimum spacing, or the closest two days of its day pattern;
    /// none for a single dose.
    pub fn shortest_spacing_hours(&self) -> Option<i64> {
        if self.count < 2 {
            return None;
        }
        let pattern = self
            .day_pattern
            .as_ref()
            .and_then(|days| days.windows(2).map(|w| (i64::from(w[1]) - i64::from(w[0])) * 24).min());
        match (self.min_spacing_hours, pattern) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The planned start of each dose, in wall-clock hours after dose 1: the
    /// day pattern if declared, else each dose as early as the minimum
    /// spacing and the weekly limit allow.
    pub fn target_hours(&self) -> Vec<i64> {
        if let Some(days) = &self.day_pattern {
            return days.iter().map(|&d| i64::from(d) * 24).collect();
        }
        let mut out: Vec<i64> = Vec::with_capacity(self.count as usize);
        for n in 0..self.count as usize {
            out.push(if n == 0 { 0 } else { self.earliest_hours(&out, n) });
        }
        out
    }

    /// The earliest start of dose `n` (0-based, `n` ≥ 1) after the planned
    /// doses before it: the minimum spacing after the previous one, and a
    /// week after the dose `max_per_week` places back.
    fn earliest_hours(&self, planned: &[i64], n: usize) -> i64 {
        let mut t = planned[n - 1] + self.min_spacing_hours.unwrap_or(0);
        if let Some(k) = self.max_per_week.map(|k| k as usize)
            && k >= 1
            && n >= k
        {
            t = t.max(planned[n - k] + WEEK_HOURS);
        }
        t
    }
}

/// Observation after each dose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// Minimum minutes from the start of a dose until the client may leave.
    pub minutes: u32,
    /// What is checked, in words (e.g. "blood pressure about 40 min after dosing").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// SpO2 is measured before every dose: a dose does not start without it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spo2_before_dose: bool,
    /// The fasting rule before a dose (esketamine: no food for 2 h, no
    /// liquids for 30 min); a dose does not start until it is confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fasting: Option<Fasting>,
    /// Nasal corticosteroids or decongestants are taken at least this many
    /// minutes before an intranasal dose (esketamine: 60); confirmed at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nasal_medicines_minutes_before: Option<u32>,
    #[serde(flatten)]
    pub provenance: Provenance,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unconfirmed: BTreeMap<String, String>,
}

/// How long before a dose the client neither eats nor drinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Fasting {
    pub food_hours: u32,
    pub liquid_minutes: u32,
}

impl Fasting {
    /// In words: "no food for 2 h and no liquids for 30 min before the dose".
    pub fn describe(&self) -> String {
        format!("no food for {} h and no liquids for {} min before the dose", self.food_hours, self.liquid_minutes)
    }
}

/// What a tied session's window is counted from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Anchor {
    /// The start of dose 1; the window lies before it (hours ≤ 0).
    BeforeFirstDose,
    /// The start of dose number `dose` (1-based).
    AfterDose { dose: u32 },
    /// The start of every dose: `count` sessions after each.
    AfterEachDose,
    /// The start of every dose but the last: `count` sessions in each gap,
    /// the window cut off at the next dose.
    BetweenDoses,
}

/// A session's window in hours after its anchor (negative: before it).
/// `opens ≤ preferred_from ≤ preferred_to ≤ closes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub opens_hours: i64,
    pub preferred_from_hours: i64,
    pub preferred_to_hours: i64,
    pub closes_hours: i64,
}

/// Sessions tied to the doses.
///
/// `count` sessions per anchor occurrence: once for `before_first_dose` and
/// `after_dose`, once per dose for `after_each_dose`, once per gap for
/// `between_doses`. With `times_per_day` > 1 (home exercises), that many
/// sessions share each window; successive windows are `every_hours` apart
/// (needed whenever an anchor has more than one window).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TiedSession {
    pub kind: SessionKind,
    pub count: u32,
    pub anchor: Anchor,
    /// The first window; later ones are shifted by `every_hours`.
    pub window: Window,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_hours: Option<i64>,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub times_per_day: u32,
    /// Never on a calendar day (clinic time zone) on which a dose is planned.
    #[serde(default)]
    pub non_dosing_days_only: bool,
    /// Length of one session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
    /// When the sessions apply at all, in words (e.g. "only for responders").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(flatten)]
    pub provenance: Provenance,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unconfirmed: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl TiedSession {
    /// How many windows each anchor occurrence has.
    pub fn windows_per_anchor(&self) -> u32 {
        self.count / self.times_per_day.max(1)
    }

    /// How many sessions the rule plans for a series of `doses` doses.
    pub fn planned_count(&self, doses: u32) -> u32 {
        let anchors = match self.anchor {
            Anchor::BeforeFirstDose | Anchor::AfterDose { .. } => 1,
            Anchor::AfterEachDose => doses,
            Anchor::BetweenDoses => doses.saturating_sub(1),
        };
        self.count * anchors
    }

    /// Hours from the anchor to the start of the last window.
    fn last_shift(&self) -> i64 {
        i64::from(self.windows_per_anchor().saturating_sub(1)) * self.every_hours.unwrap_or(0)
    }
}

/// One piece of evidence for a protocol, with its weaknesses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub citation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doi: Option<String>,
    /// Trial registration, e.g. "NCT04889664".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
    pub design: Design,
    /// Arms, blinding, setting, dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design_detail: Option<String>,
    /// Participants analysed; absent where not applicable or not retrieved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// The headline result, with its numbers.
    pub result: String,
    /// Honest weaknesses; at least one.
    pub caveats: Vec<String>,
    #[serde(flatten)]
    pub provenance: Provenance,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unconfirmed: BTreeMap<String, String>,
}

/// One protocol definition, as in `protocols/*.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// Lower-case letters, digits and `_`; used in URLs and the API.
    pub id: String,
    pub name: String,
    /// What the protocol is, for the protocol page (may span paragraphs).
    pub summary: String,
    pub indication: String,
    /// The protocol is the drug's approved (labelled) use for its
    /// indication: no consent to off-label treatment is asked for at
    /// screening. Default: off-label.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub labelled: bool,
    pub dose: Dose,
    pub doses: DoseSeries,
    pub monitoring: Monitoring,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<TiedSession>,
    /// A measure schedule id (`measure-schedules/*.toml`).
    pub measure_schedule: String,
    pub evidence: Vec<Evidence>,
}

/// A fact the protocol ships as an unconfirmed default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnconfirmedFact {
    /// The block (`doses`) when none of it is confirmed, or the field
    /// (`doses.day_pattern`, `sessions[0].window`).
    pub field: String,
    /// The block's source, or the field's note.
    pub note: String,
}

/// A refusal before the protocol id is prefixed: (field, reason).
type Check = Result<(), (String, String)>;

fn fail(field: impl Into<String>, reason: impl Into<String>) -> Check {
    Err((field.into(), reason.into()))
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn not_blank(field: &str, value: &str) -> Check {
    if value.trim().is_empty() { fail(field, "must not be empty") } else { Ok(()) }
}

fn hours_in(field: &str, h: i64, lo: i64, hi: i64) -> Check {
    if (lo..=hi).contains(&h) { Ok(()) } else { fail(field, format!("{h} is not between {lo} and {hi} hours")) }
}

/// Checks a block's source and its `unconfirmed` table: every key must be a
/// field the block has set, every note non-empty.
fn check_provenance(
    block: &str,
    provenance: &Provenance,
    unconfirmed: &BTreeMap<String, String>,
    set_fields: &[&str],
) -> Check {
    not_blank(&format!("{block}.source"), &provenance.source)?;
    for (key, note) in unconfirmed {
        if !set_fields.contains(&key.as_str()) {
            return fail(
                format!("{block}.unconfirmed.{key}"),
                format!("`{key}` is not a field set in `{block}`; set fields: {}", set_fields.join(", ")),
            );
        }
        not_blank(&format!("{block}.unconfirmed.{key}"), note)?;
    }
    Ok(())
}

/// The names of the fields that are set, from (name, is set) pairs.
fn set<'a>(fields: &[(&'a str, bool)]) -> Vec<&'a str> {
    fields.iter().filter(|(_, on)| *on).map(|(name, _)| *name).collect()
}

/// Checks amount, range and infusion time of a dose or an alternative.
fn check_amount(
    block: &str,
    route: Route,
    amount: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    infusion_minutes: Option<u32>,
) -> Check {
    for (name, v) in [("amount", amount), ("min", min), ("max", max)] {
        if let Some(v) = v
            && !(v.is_finite() && v > 0.0)
        {
            return fail(format!("{block}.{name}"), format!("{v} is not a positive dose"));
        }
    }
    match (amount, min, max) {
        (None, None, _) | (None, _, None) => {
            return fail(format!("{block}.amount"), "give the dose (`amount`), or its range (`min` and `max`)");
        }
        (_, Some(_), None) | (_, None, Some(_)) => {
            return fail(format!("{block}.min"), "a range needs both `min` and `max`");
        }
        (_, Some(lo), Some(hi)) => {
            if lo > hi {
                return fail(format!("{block}.max"), format!("{hi} is below min {lo}"));
            }
            if let Some(a) = amount
                && !(lo..=hi).contains(&a)
            {
                return fail(format!("{block}.amount"), format!("{a} is outside the range {lo}-{hi}"));
            }
        }
        (Some(_), None, None) => {}
    }
    match (route, infusion_minutes) {
        (Route::Iv, None) => fail(format!("{block}.infusion_minutes"), "an IV dose states its infusion time"),
        (Route::Iv, Some(0)) => fail(format!("{block}.infusion_minutes"), "must be at least 1 minute"),
        (Route::Iv, Some(m)) if i64::from(m) > 24 * 60 => {
            fail(format!("{block}.infusion_minutes"), format!("{m} minutes is longer than a day"))
        }
        (r, Some(_)) if r != Route::Iv => {
            fail(format!("{block}.infusion_minutes"), format!("only IV doses are infused, not {r}"))
        }
        _ => Ok(()),
    }
}

impl Protocol {
    /// Parses and validates one TOML definition.
    pub fn from_toml(text: &str) -> Result<Protocol, DomainError> {
        let p: Protocol = toml::from_str(text).map_err(|e| DomainError::invalid("protocol", e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// Checks that the definition is coherent. The error names the field
    /// after the protocol id, e.g. `apa_iv_induction.doses.max_spacing_hours`
    /// or `ketamine_wet_ptsd.sessions[0].anchor.dose`.
    pub fn validate(&self) -> Result<(), DomainError> {
        self.check().map_err(|(field, reason)| {
            let id = if valid_id(&self.id) { self.id.as_str() } else { "protocol" };
            DomainError::invalid(format!("{id}.{field}"), reason)
        })
    }

    fn check(&self) -> Check {
        if !valid_id(&self.id) {
            return fail("id", format!("`{}`: use lower-case letters, digits and _", self.id));
        }
        for (field, value) in [("name", &self.name), ("summary", &self.summary), ("indication", &self.indication)] {
            not_blank(field, value)?;
        }
        if !valid_id(&self.measure_schedule) {
            return fail("measure_schedule", format!("`{}` is not a schedule id", self.measure_schedule));
        }
        self.check_dose()?;
        self.check_series()?;
        let m = &self.monitoring;
        if m.minutes == 0 || i64::from(m.minutes) > 24 * 60 {
            return fail("monitoring.minutes", format!("{} is not between 1 and 1440 minutes", m.minutes));
        }
        if let Some(inf) = self.dose.infusion_minutes
            && inf > m.minutes
        {
            return fail(
                "monitoring.minutes",
                format!("{} minutes is shorter than the {inf}-minute infusion it must cover", m.minutes),
            );
        }
        if let Some(n) = m.checks.iter().position(|c| c.trim().is_empty()) {
            return fail(format!("monitoring.checks[{n}]"), "must not be empty");
        }
        if let Some(f) = m.fasting {
            if f.food_hours == 0 && f.liquid_minutes == 0 {
                return fail("monitoring.fasting", "a fasting rule needs food_hours or liquid_minutes above 0");
            }
            if f.food_hours > 24 {
                return fail(
                    "monitoring.fasting.food_hours",
                    format!("{} is not between 0 and 24 hours", f.food_hours),
                );
            }
            if f.liquid_minutes > 24 * 60 {
                return fail(
                    "monitoring.fasting.liquid_minutes",
                    format!("{} is not between 0 and 1440 minutes", f.liquid_minutes),
                );
            }
        }
        if let Some(n) = m.nasal_medicines_minutes_before {
            if n == 0 || n > 24 * 60 {
                return fail(
                    "monitoring.nasal_medicines_minutes_before",
                    format!("{n} is not between 1 and 1440 minutes"),
                );
            }
            if !self.dose.routes().iter().any(|r| r.route == Route::Intranasal) {
                return fail(
                    "monitoring.nasal_medicines_minutes_before",
                    "applies to an intranasal dose, and this protocol has no intranasal route",
                );
            }
        }
        check_provenance(
            "monitoring",
            &m.provenance,
            &m.unconfirmed,
            &set(&[
                ("minutes", true),
                ("checks", !m.checks.is_empty()),
                ("spo2_before_dose", m.spo2_before_dose),
                ("fasting", m.fasting.is_some()),
                ("nasal_medicines_minutes_before", m.nasal_medicines_minutes_before.is_some()),
            ]),
        )?;
        for (i, s) in self.sessions.iter().enumerate() {
            self.check_session(i, s)?;
        }
        if self.evidence.is_empty() {
            return fail("evidence", "a protocol cites at least one source");
        }
        for (i, e) in self.evidence.iter().enumerate() {
            check_evidence(&format!("evidence[{i}]"), e)?;
        }
        Ok(())
    }

    fn check_dose(&self) -> Check {
        let d = &self.dose;
        check_amount("dose", d.route, d.amount, d.min, d.max, d.infusion_minutes)?;
        if let Some(t) = &d.titration {
            not_blank("dose.titration", t)?;
        }
        let fields = set(&[
            ("route", true),
            ("unit", true),
            ("amount", d.amount.is_some()),
            ("min", d.min.is_some()),
            ("max", d.max.is_some()),
            ("infusion_minutes", d.infusion_minutes.is_some()),
            ("titration", d.titration.is_some()),
        ]);
        check_provenance("dose", &d.provenance, &d.unconfirmed, &fields)?;
        for (i, a) in d.alternatives.iter().enumerate() {
            let block = format!("dose.alternatives[{i}]");
            if a.route == d.route || d.alternatives[..i].iter().any(|b| b.route == a.route) {
                return fail(format!("{block}.route"), format!("`{}` is already a route of this protocol", a.route));
            }
            check_amount(&block, a.route, a.amount, a.min, a.max, a.infusion_minutes)?;
            let fields = set(&[
                ("route", true),
                ("unit", true),
                ("amount", a.amount.is_some()),
                ("min", a.min.is_some()),
                ("max", a.max.is_some()),
                ("infusion_minutes", a.infusion_minutes.is_some()),
                ("titration", a.titration.is_some()),
            ]);
            check_provenance(&block, &a.provenance, &a.unconfirmed, &fields)?;
        }
        Ok(())
    }

    fn check_series(&self) -> Check {
        let s = &self.doses;
        if !(1..=MAX_DOSES).contains(&s.count) {
            return fail("doses.count", format!("{} is not between 1 and {MAX_DOSES}", s.count));
        }
        if let Some(h) = s.min_spacing_hours {
            hours_in("doses.min_spacing_hours", h, 1, MAX_HOURS)?;
        }
        if let Some(h) = s.max_spacing_hours {
            hours_in("doses.max_spacing_hours", h, 1, MAX_HOURS)?;
        }
        if let Some(k) = s.max_per_week
            && k == 0
        {
            return fail("doses.max_per_week", "must be at least 1");
        }
        if s.count > 1 {
            let (Some(min), Some(max)) = (s.min_spacing_hours, s.max_spacing_hours) else {
                let missing = if s.min_spacing_hours.is_none() { "min_spacing_hours" } else { "max_spacing_hours" };
                return fail(format!("doses.{missing}"), format!("a series of {} doses needs its spacing", s.count));
            };
            if max < min {
                return fail("doses.max_spacing_hours", format!("{max} h is less than min_spacing_hours {min} h"));
            }
        }
        if let Some(days) = &s.day_pattern {
            if days.len() != s.count as usize {
                return fail("doses.day_pattern", format!("lists {} days for {} doses", days.len(), s.count));
            }
            if days.first() != Some(&0) {
                return fail("doses.day_pattern", "starts with day 0 (the first dose)");
            }
            if let Some(d) = days.iter().find(|&&d| i64::from(d) * 24 > MAX_HOURS) {
                return fail("doses.day_pattern", format!("day {d} is beyond {} days", MAX_HOURS / 24));
            }
        }
        // The planned targets must keep every rule: spacing within [min, max]
        // and no more than `max_per_week` in any 168 hours.
        let t = s.target_hours();
        let field = if s.day_pattern.is_some() { "doses.day_pattern" } else { "doses.max_spacing_hours" };
        for n in 1..t.len() {
            let gap = t[n] - t[n - 1];
            if let Some(min) = s.min_spacing_hours
                && gap < min
            {
                return fail(field, format!("dose {} is {gap} h after dose {n}, less than the minimum {min} h", n + 1));
            }
            if let Some(max) = s.max_spacing_hours
                && gap > max
            {
                let why = if s.day_pattern.is_some() {
                    String::new()
                } else {
                    format!(" (at most {} doses in any 7 days)", s.max_per_week.unwrap_or(0))
                };
                return fail(
                    field,
                    format!("dose {} cannot come until {gap} h after dose {n}{why}, beyond the maximum {max} h", n + 1),
                );
            }
            if let Some(k) = s.max_per_week.map(|k| k as usize)
                && n >= k
                && t[n] - t[n - k] < WEEK_HOURS
            {
                return fail(
                    field,
                    format!("doses {} to {} fall within 7 days; at most {k} allowed", n - k + 1, n + 1),
                );
            }
        }
        if t.last().is_some_and(|&last| last > MAX_HOURS) {
            return fail("doses.count", format!("the series spans more than {MAX_HOURS} hours"));
        }
        let fields = set(&[
            ("count", true),
            ("min_spacing_hours", s.min_spacing_hours.is_some()),
            ("max_spacing_hours", s.max_spacing_hours.is_some()),
            ("max_per_week", s.max_per_week.is_some()),
            ("day_pattern", s.day_pattern.is_some()),
        ]);
        check_provenance("doses", &s.provenance, &s.unconfirmed, &fields)
    }

    fn check_session(&self, i: usize, s: &TiedSession) -> Check {
        let f = |name: &str| format!("sessions[{i}].{name}");
        let doses = self.doses.count;
        if !(1..=MAX_SESSIONS).contains(&s.count) {
            return fail(f("count"), format!("{} is not between 1 and {MAX_SESSIONS}", s.count));
        }
        if !(1..=24).contains(&s.times_per_day) {
            return fail(f("times_per_day"), format!("{} is not between 1 and 24", s.times_per_day));
        }
        if !s.count.is_multiple_of(s.times_per_day) {
            return fail(
                f("count"),
                format!("{} sessions do not divide into days of {} sessions", s.count, s.times_per_day),
            );
        }
        let w = s.window;
        for (name, h) in [
            ("window.opens_hours", w.opens_hours),
            ("window.preferred_from_hours", w.preferred_from_hours),
            ("window.preferred_to_hours", w.preferred_to_hours),
            ("window.closes_hours", w.closes_hours),
        ] {
            hours_in(&f(name), h, -MAX_HOURS, MAX_HOURS)?;
        }
        if !(w.opens_hours <= w.preferred_from_hours
            && w.preferred_from_hours <= w.preferred_to_hours
            && w.preferred_to_hours <= w.closes_hours)
        {
            return fail(f("window"), "needs opens ≤ preferred_from ≤ preferred_to ≤ closes");
        }
        match s.every_hours {
            Some(h) => hours_in(&f("every_hours"), h, 1, MAX_HOURS)?,
            None if s.windows_per_anchor() > 1 => {
                return fail(
                    f("every_hours"),
                    format!("{} windows per anchor need the hours between them", s.windows_per_anchor()),
                );
            }
            None => {}
        }
        let last_closes = w.closes_hours + s.last_shift();
        hours_in(&f("every_hours"), last_closes, -MAX_HOURS, MAX_HOURS)?;
        match s.anchor {
            Anchor::BeforeFirstDose if last_closes > 0 => {
                return fail(f("window.closes_hours"), "sessions before the first dose must close by the dose");
            }
            Anchor::AfterDose { dose } if dose == 0 || dose > doses => {
                return fail(f("anchor.dose"), format!("dose {dose} of a {doses}-dose series"));
            }
            Anchor::BetweenDoses if doses < 2 => {
                return fail(f("anchor"), "a single dose has no gap between doses");
            }
            _ => {}
        }
        if s.anchor != Anchor::BeforeFirstDose && w.opens_hours * 60 < i64::from(self.monitoring.minutes) {
            return fail(
                f("window.opens_hours"),
                format!(
                    "opens {} h after the dose, before its {} minutes of monitoring end",
                    w.opens_hours, self.monitoring.minutes
                ),
            );
        }
        if s.anchor == Anchor::BetweenDoses
            && let Some(min) = self.doses.min_spacing_hours
            && w.opens_hours + s.last_shift() >= min
        {
            return fail(
                f("window.opens_hours"),
                format!("a window opens at or after the next dose (minimum {min} h later)"),
            );
        }
        if let Some(m) = s.minutes
            && (m == 0 || m > 24 * 60)
        {
            return fail(f("minutes"), format!("{m} is not between 1 and 1440"));
        }
        if let Some(c) = &s.condition {
            not_blank(&f("condition"), c)?;
        }
        let fields = set(&[
            ("kind", true),
            ("count", true),
            ("anchor", true),
            ("window", true),
            ("every_hours", s.every_hours.is_some()),
            ("times_per_day", true),
            ("non_dosing_days_only", true),
            ("minutes", s.minutes.is_some()),
            ("condition", s.condition.is_some()),
        ]);
        check_provenance(&format!("sessions[{i}]"), &s.provenance, &s.unconfirmed, &fields)
    }

    /// Every fact shipped as an unconfirmed default, in file order.
    pub fn unconfirmed(&self) -> Vec<UnconfirmedFact> {
        let mut out = Vec::new();
        let mut add = |block: String, p: &Provenance, notes: &BTreeMap<String, String>| {
            if !p.confirmed {
                out.push(UnconfirmedFact { field: block.clone(), note: p.source.clone() });
            }
            for (key, note) in notes {
                out.push(UnconfirmedFact { field: format!("{block}.{key}"), note: note.clone() });
            }
        };
        add("dose".into(), &self.dose.provenance, &self.dose.unconfirmed);
        for (i, a) in self.dose.alternatives.iter().enumerate() {
            add(format!("dose.alternatives[{i}]"), &a.provenance, &a.unconfirmed);
        }
        add("doses".into(), &self.doses.provenance, &self.doses.unconfirmed);
        add("monitoring".into(), &self.monitoring.provenance, &self.monitoring.unconfirmed);
        for (i, s) in self.sessions.iter().enumerate() {
            add(format!("sessions[{i}]"), &s.provenance, &s.unconfirmed);
        }
        for (i, e) in self.evidence.iter().enumerate() {
            add(format!("evidence[{i}]"), &e.provenance, &e.unconfirmed);
        }
        out
    }

    /// Whether a field (e.g. `doses.day_pattern`, `sessions[0].window`) is
    /// confirmed: its block is confirmed and does not list it.
    pub fn is_confirmed(&self, field: &str) -> bool {
        !self.unconfirmed().iter().any(|u| field == u.field || field.starts_with(&format!("{}.", u.field)))
    }
}

fn check_evidence(block: &str, e: &Evidence) -> Check {
    not_blank(&format!("{block}.citation"), &e.citation)?;
    not_blank(&format!("{block}.result"), &e.result)?;
    if let Some(doi) = &e.doi
        && !(doi.starts_with("10.") && doi.contains('/') && !doi.contains(char::is_whitespace))
    {
        return fail(format!("{block}.doi"), format!("`{doi}` is not a DOI (10.xxxx/…, without https://doi.org/)"));
    }
    for (name, v) in [("registration", &e.registration), ("design_detail", &e.design_detail)] {
        if let Some(v) = v {
            not_blank(&format!("{block}.{name}"), v)?;
        }
    }
    if e.n == Some(0) {
        return fail(format!("{block}.n"), "must be at least 1 when given");
    }
    if e.caveats.is_empty() {
        return fail(format!("{block}.caveats"), "state the evidence's weaknesses (at least one caveat)");
    }
    if let Some(n) = e.caveats.iter().position(|c| c.trim().is_empty()) {
        return fail(format!("{block}.caveats[{n}]"), "must not be empty");
    }
    let fields = set(&[
        ("citation", true),
        ("doi", e.doi.is_some()),
        ("registration", e.registration.is_some()),
        ("design", true),
        ("design_detail", e.design_detail.is_some()),
        ("n", e.n.is_some()),
        ("result", true),
        ("caveats", true),
    ]);
    check_provenance(block, &e.provenance, &e.unconfirmed, &fields)
}

/// The protocols Kairos ships, as `(file name, TOML text)`.
pub const SHIPPED: &[(&str, &str)] = &[
    ("apa_iv_induction.toml", include_str!("../../../protocols/apa_iv_induction.toml")),
    ("ketamine_cbt_trd.toml", include_str!("../../../protocols/ketamine_cbt_trd.toml")),
    ("ketamine_wet_ptsd.toml", include_str!("../../../protocols/ketamine_wet_ptsd.toml")),
    ("ketamine_asat.toml", include_str!("../../../protocols/ketamine_asat.toml")),
    ("ketamine_weekly_psychotherapy.toml", include_str!("../../../protocols/ketamine_weekly_psychotherapy.toml")),
    ("kap_sublingual_im.toml", include_str!("../../../protocols/kap_sublingual_im.toml")),
    ("esketamine_label.toml", include_str!("../../../protocols/esketamine_label.toml")),
    ("esketamine_mdsi.toml", include_str!("../../../protocols/esketamine_mdsi.toml")),
];

/// The protocols in use: the shipped ones, with a clinic's own added or
/// replacing a shipped one of the same id.
#[derive(Debug, Clone, Default)]
pub struct ProtocolLibrary {
    protocols: Vec<Protocol>,
}

impl ProtocolLibrary {
    /// Loads `(name, text)` definitions; a later one replaces an earlier one
    /// with the same id. Each must name a schedule in `measure_schedules`.
    /// The error names the file.
    pub fn load<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        measure_schedules: &[&str],
    ) -> Result<ProtocolLibrary, DomainError> {
        let mut lib = ProtocolLibrary::default();
        for (name, text) in files {
            let p = Protocol::from_toml(text).map_err(|e| DomainError::invalid(name, e.to_string()))?;
            if !measure_schedules.contains(&p.measure_schedule.as_str()) {
                return Err(DomainError::invalid(
                    name,
                    format!(
                        "{}.measure_schedule: unknown schedule `{}`; known: {}",
                        p.id,
                        p.measure_schedule,
                        measure_schedules.join(", ")
                    ),
                ));
            }
            match lib.protocols.iter_mut().find(|q| q.id == p.id) {
                Some(slot) => *slot = p,
                None => lib.protocols.push(p),
            }
        }
        Ok(lib)
    }

    /// The shipped protocols alone.
    pub fn shipped(measure_schedules: &[&str]) -> Result<ProtocolLibrary, DomainError> {
        ProtocolLibrary::load(SHIPPED.iter().copied(), measure_schedules)
    }

    pub fn get(&self, id: &str) -> Option<&Protocol> {
        self.protocols.iter().find(|p| p.id == id)
    }

    pub fn all(&self) -> &[Protocol] {
        &self.protocols
    }
}

/// One planned dose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedDose {
    /// 1-based.
    pub number: u32,
    /// The earliest start the series' rules allow after the planned doses
    /// before it (minimum spacing, weekly limit); dose 1: its own time.
    pub earliest: Timestamp,
    pub target: Timestamp,
    /// The latest start within the maximum spacing after the planned previous dose.
    pub latest: Timestamp,
    /// `target` + the monitoring minutes: the earliest discharge.
    pub monitoring_ends: Timestamp,
}

/// One planned session and its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedSession {
    /// The index of its rule in the protocol's `sessions`.
    pub rule: usize,
    pub kind: SessionKind,
    /// 1-based, within its rule.
    pub number: u32,
    /// The dose its window is counted from.
    pub anchor_dose: u32,
    /// E.g. "wet 2 of 5, after dose 4".
    pub label: String,
    pub opens: Timestamp,
    pub preferred_from: Timestamp,
    pub preferred_to: Timestamp,
    pub closes: Timestamp,
    /// A suggested time: see [`plan`].
    pub target: Timestamp,
    /// Calendar days inside the window that must not be used: the planned
    /// dose days, for `non_dosing_days_only` sessions (empty otherwise).
    pub excluded_days: Vec<Date>,
    pub minutes: Option<u32>,
}

/// The planned dose series and tied sessions of a course.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub protocol: String,
    pub doses: Vec<PlannedDose>,
    /// Sorted by target, then rule and number.
    pub sessions: Vec<PlannedSession>,
}

/// Plans a course from `protocol` with dose 1 at `first_dose`.
///
/// Times are laid out on the clinic's wall clock in `tz`: "48 h later" at
/// 10:00 is 10:00 two days later even across a DST change (the real
/// interval is then 47 or 49 h), and a wall-clock time that does not exist
/// is moved forward by the gap. Weekends and clinic hours are ignored.
///
/// **Doses.** Targets follow the declared `day_pattern` (same time of day);
/// otherwise each dose comes as early as the minimum spacing and the weekly
/// limit allow after the one before ([`DoseSeries::target_hours`]).
/// `earliest` and `latest` are the bounds for that dose if the doses before
/// it are given at their targets.
///
/// **Sessions.** Each window is counted from its anchor dose's target (the
/// k-th window of a rule shifted by (k − 1) × `every_hours`; a between-doses
/// window cut at the next dose). With `times_per_day` sessions per window,
/// session s (0-based) targets `preferred_from` + s × (preferred span) /
/// `times_per_day`; otherwise the target is `preferred_from`.
///
/// **Non-dosing days.** For `non_dosing_days_only`, the planned dose days
/// inside a session's window are listed in `excluded_days`, and the target
/// is pushed to the first non-dosing day at or after it (same time of day)
/// that is still inside the window, or failing that the nearest one before it.
/// A window made only of dosing days is refused, naming the rule.
///
/// Errors: the protocol's validation error, or `first_dose` when the plan
/// would leave jiff's date range.
pub fn plan(protocol: &Protocol, first_dose: Timestamp, tz: &TimeZone) -> Result<Plan, DomainError> {
    protocol.validate()?;
    let start = tz.to_datetime(first_dose);
    let out_of_range = || DomainError::invalid("first_dose", "the plan reaches beyond the supported date range");
    let civil = |hours: i64| -> Result<DateTime, DomainError> {
        start.checked_add(SignedDuration::from_hours(hours)).map_err(|_| out_of_range())
    };
    let instant = |hours: i64| -> Result<Timestamp, DomainError> {
        tz.to_ambiguous_timestamp(civil(hours)?).compatible().map_err(|_| out_of_range())
    };
    let series = &protocol.doses;
    let targets = series.target_hours();
    let monitoring = i64::from(protocol.monitoring.minutes);

    let mut doses = Vec::with_capacity(targets.len());
    for (n, &t) in targets.iter().enumerate() {
        let (earliest, latest) = if n == 0 {
            (t, t)
        } else {
            (series.earliest_hours(&targets, n), targets[n - 1] + series.max_spacing_hours.unwrap_or(0))
        };
        doses.push(PlannedDose {
            number: n as u32 + 1,
            earliest: instant(earliest)?,
            target: instant(t)?,
            latest: instant(latest)?,
            monitoring_ends: instant(t)?
                .checked_add(SignedDuration::from_mins(monitoring))
                .map_err(|_| out_of_range())?,
        });
    }

    let dosing_days: BTreeSet<Date> = targets.iter().map(|&t| civil(t).map(|d| d.date())).collect::<Result<_, _>>()?;
    let mut sessions = Vec::new();
    for (rule, s) in protocol.sessions.iter().enumerate() {
        // (anchor dose, anchor hours, cut-off hours) for each anchor occurrence.
        let anchors: Vec<(u32, i64, Option<i64>)> = match s.anchor {
            Anchor::BeforeFirstDose => vec![(1, 0, None)],
            Anchor::AfterDose { dose } => vec![(dose, targets[dose as usize - 1], None)],
            Anchor::AfterEachDose => targets.iter().enumerate().map(|(n, &t)| (n as u32 + 1, t, None)).collect(),
            Anchor::BetweenDoses => {
                targets.windows(2).enumerate().map(|(n, w)| (n as u32 + 1, w[0], Some(w[1]))).collect()
            }
        };
        let total = s.planned_count(series.count);
        let mut number = 0;
        for (anchor_dose, anchor, cutoff) in anchors {
            for k in 0..s.windows_per_anchor() {
                let base = anchor + i64::from(k) * s.every_hours.unwrap_or(0);
                let w = s.window;
                let opens = base + w.opens_hours;
                let mut closes = base + w.closes_hours;
                let mut preferred_to = base + w.preferred_to_hours;
                let mut preferred_from = base + w.preferred_from_hours;
                if let Some(cut) = cutoff {
                    closes = closes.min(cut);
                    preferred_to = preferred_to.min(closes);
                    preferred_from = preferred_from.min(preferred_to);
                }
                let excluded: Vec<Date> = if s.non_dosing_days_only {
                    let (first, last) = (civil(opens)?.date(), civil(closes)?.date());
                    dosing_days.range(first..=last).copied().collect()
                } else {
                    Vec::new()
                };
                for slot in 0..s.times_per_day {
                    number += 1;
                    let span = preferred_to - preferred_from;
                    let mut target = preferred_from + span * i64::from(slot) / i64::from(s.times_per_day);
                    if !excluded.is_empty() {
                        target = off_dosing_days(target, opens, closes, |h| {
                            civil(h).map(|d| !excluded.contains(&d.date()))
                        })?
                        .ok_or_else(|| {
                            DomainError::invalid(
                                format!("{}.sessions[{rule}].non_dosing_days_only", protocol.id),
                                format!("every day in the window of {} {number} is a dosing day", s.kind),
                            )
                        })?;
                    }
                    let anchor_text = match s.anchor {
                        Anchor::BeforeFirstDose => "before dose 1".to_string(),
                        Anchor::BetweenDoses => format!("between doses {anchor_dose} and {}", anchor_dose + 1),
                        _ => format!("after dose {anchor_dose}"),
                    };
                    sessions.push(PlannedSession {
                        rule,
                        kind: s.kind,
                        number,
                        anchor_dose,
                        label: format!("{} {number} of {total}, {anchor_text}", s.kind),
                        opens: instant(opens)?,
                        preferred_from: instant(preferred_from)?,
                        preferred_to: instant(preferred_to)?,
                        closes: instant(closes)?,
                        target: instant(target)?,
                        excluded_days: excluded.clone(),
                        minutes: s.minutes,
                    });
                }
            }
        }
    }
    sessions.sort_by_key(|s| (s.target, s.rule, s.number));
    Ok(Plan { protocol: protocol.id.clone(), doses, sessions })
}

/// The first time at `target` + whole days that is allowed and ≤ `closes`,
/// else the last one at `target` − whole days that is allowed and ≥ `opens`.
fn off_dosing_days(
    target: i64,
    opens: i64,
    closes: i64,
    allowed: impl Fn(i64) -> Result<bool, DomainError>,
) -> Result<Option<i64>, DomainError> {
    let mut t = target;
    while t <= closes {
        if allowed(t)? {
            return Ok(Some(t));
        }
        t += 24;
    }
    let mut t = target - 24;
    while t >= opens {
        if allowed(t)? {
            return Ok(Some(t));
        }
        t -= 24;
    }
    Ok(None)
}
