//! The decisions of a dosing session, as pure functions over what the store
//! loaded inside the write transaction: may this dose start, and as what; may
//! this reading, observation, discharge or signature be charted, and when.
//!
//! Every door (API, web form, command line) calls these through the same use
//! case, so a rule is written once and refuses the same input in the same
//! words everywhere. Refusals name the field and say what to do; they never
//! show an instant in UTC (times are said as minutes relative to the dose).

use super::{SafetyPolicy, SessionEvent, VitalAlert, Vitals, dose_mg};
use crate::encounter::{EncounterKind, EncounterStatus};
use crate::ids::{AlertId, EncounterId, SiteId, StaffId, StockId};
use crate::ledger::{Quantity, Substance, units_for_dose};
use crate::protocols::{DoseUnit, Protocol};
use crate::refusal::Refusal;
use crate::screening::{ScreenStatus, may_chart_dose};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// How far in the future a charted time may be (clocks of tablets and
/// monitors drift by a minute or two).
pub const FUTURE_TOLERANCE: SignedDuration = SignedDuration::from_mins(5);

/// Longest names and notes a session keeps.
pub const ACCOMPANIED_BY_MAX: usize = 200;
pub const LOT_MAX: usize = 100;
pub const OVERRIDE_REASON_MAX: usize = 1000;
pub const MOOD_CHECK_MAX: usize = 500;
pub const END_REASON_MAX: usize = 1000;

/// Monitoring minutes when the course's protocol is not in the library
/// (local default, the esketamine label's minimum).
pub const DEFAULT_MONITORING_MINUTES: u32 = 120;

crate::text_enum! {
    /// The pre-dose pregnancy test.
    pub enum PregnancyTest {
        NotApplicable = "not_applicable",
        Negative = "negative",
        Positive = "positive",
    }
}

crate::text_enum! {
    /// How a session ended before its monitoring time was done (a normal
    /// end is a discharge).
    pub enum EarlyEnd {
        /// Handed over to emergency care (an ambulance, an emergency
        /// department), with where to.
        Transferred = "transferred",
        /// The client left before they could be discharged, against the
        /// clinician's advice.
        LeftAgainstAdvice = "left_against_advice",
    }
}

impl EarlyEnd {
    /// The words a chart shows for this end.
    pub fn label(self) -> &'static str {
        match self {
            EarlyEnd::Transferred => "Transferred to emergency care",
            EarlyEnd::LeftAgainstAdvice => "Left against medical advice",
        }
    }
}

/// An early end as charted: how, why, and for a transfer where to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EarlyEndRecord {
    pub kind: EarlyEnd,
    pub reason: String,
    /// Where the client was handed over to (a transfer only).
    pub transferred_to: Option<String>,
}

/// The pre-dose checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Checklist {
    /// The client fasted as instructed (required where the protocol sets a
    /// fasting rule: esketamine, no food for 2 h and no liquids for 30 min).
    pub fasting_confirmed: bool,
    /// No nasal corticosteroid or decongestant within the protocol's time
    /// before an intranasal dose (esketamine: 1 h); required for one.
    #[serde(default)]
    pub nasal_medicines_clear: bool,
    pub ride_home_arranged: bool,
    /// The client agreed not to drive until the next day.
    pub no_driving_agreed: bool,
    /// `not_applicable`, `negative` or `positive`.
    #[cfg_attr(feature = "openapi", schema(value_type = PregnancyTest))]
    pub pregnancy_test: String,
    /// A brief note of mood and mental state before the dose.
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub mood_check: String,
    /// Why a questionnaire the course's schedule asks before each dose (the
    /// pre-dose safety check) was not answered for this one, and what was
    /// asked instead: required while one is unanswered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub pre_dose_note: Option<String>,
}

/// The longest note on an unanswered pre-dose questionnaire.
pub const PRE_DOSE_NOTE_MAX: usize = 1000;

/// The pre-dose questionnaires at the start: each one the course's measure
/// schedule asks before this dose and that has no answer since its window
/// opened (`unanswered`, by name) needs a note saying why and what was asked
/// instead; a dose does not start past an unanswered safety check in
/// silence. Returns the note, trimmed (kept with the checklist).
pub fn pre_dose_review(unanswered: &[String], note: Option<&str>) -> Result<Option<String>, Refusal> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    match (unanswered, note) {
        ([], n) => n.map(|n| text("checklist.pre_dose_note", n, PRE_DOSE_NOTE_MAX, "the note")).transpose(),
        (names, None) => Err(Refusal::invalid(
            "checklist.pre_dose_note",
            format!(
                "{} {} not answered for this dose: ask {} and record the answer on the chart, or say why not and \
                 what was asked instead",
                names.join(" and "),
                if names.len() == 1 { "is" } else { "are" },
                if names.len() == 1 { "it" } else { "them" }
            ),
        )),
        (_, Some(n)) => Ok(Some(text("checklist.pre_dose_note", n, PRE_DOSE_NOTE_MAX, "the note")?)),
    }
}

/// The ledger stock a dose would be drawn from, as found in the transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct StockFacts {
    pub id: StockId,
    pub substance: Substance,
    pub lot: String,
    /// The site whose registration holds the stock.
    pub site_id: SiteId,
    pub expires: Option<Date>,
    pub mg_per_unit: f64,
}

/// What starting a dose depends on, loaded in the write transaction.
#[derive(Debug, Clone)]
pub struct StartSnapshot {
    pub encounter_id: EncounterId,
    pub kind: EncounterKind,
    pub status: EncounterStatus,
    pub has_course: bool,
    /// The course's protocol id, to find in the library.
    pub course_protocol: Option<String>,
    pub screening: ScreenStatus,
    pub site_id: SiteId,
    /// The site's time zone: expiry dates are the site's calendar dates.
    pub site_tz: TimeZone,
    /// The stock named by the command, when it names one that exists.
    pub stock: Option<StockFacts>,
    /// The client's self-harm alerts not yet acknowledged (PHQ-9 item 9,
    /// QIDS item 12, C-SSRS, as the instruments' alert rules mark them).
    pub open_self_harm: Vec<OpenSelfHarm>,
    /// The day the client was enrolled in the esketamine REMS, if recorded.
    pub rems_enrolled_on: Option<jiff::civil::Date>,
    /// The staff member the command names as the prescriber on site, as
    /// the directory has them (absent: no such account).
    pub prescriber_on_site: Option<OnSite>,
}

/// The staff member named as the prescriber on site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnSite {
    pub id: StaffId,
    pub name: String,
    /// An active account with the prescriber role.
    pub active_prescriber: bool,
}

/// A self-harm alert still open when a dose is to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSelfHarm {
    pub id: AlertId,
    /// The alert's message ("PHQ-9 item 9 (thoughts of self-harm)").
    pub message: String,
    pub value: i64,
    pub raised_at: Timestamp,
}

/// The longest pre-dose review of self-harm alerts, as an alert's action note.
pub const SELF_HARM_REVIEW_MAX: usize = 2000;

/// What a nurse or prescriber asks for when starting a dose, parsed from
/// whichever door it came through.
#[derive(Debug, Clone, PartialEq)]
pub struct StartCommand {
    pub checklist: Checklist,
    pub pre_vitals: Vitals,
    pub override_reason: Option<String>,
    /// Default: the protocol's route.
    pub route: Option<String>,
    /// Default: the protocol's dose when it is weight-based.
    pub mg_per_kg: Option<f64>,
    pub weight_kg: Option<f64>,
    pub dose_mg: Option<f64>,
    pub stock_id: Option<StockId>,
    pub drawn: Option<Quantity>,
    pub lot: Option<String>,
    /// Default: now.
    pub started_at: Option<Timestamp>,
    /// A prescriber's documented reason for a dose outside the course's
    /// protocol (route or amount); refused when the dose is within it.
    pub dose_exception: Option<String>,
    /// What was done about the client's open self-harm alerts before this
    /// dose (required while any is open; each is acknowledged with it).
    pub self_harm_review: Option<String>,
    /// The prescriber on site during administration and monitoring
    /// (required for esketamine while the REMS requirement is on).
    pub prescriber_on_site: Option<StaffId>,
}

/// The dose as it will be charted, with its ledger administration.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub encounter_id: EncounterId,
    pub protocol_id: Option<String>,
    pub checklist: Checklist,
    pub pre_vitals: Vitals,
    /// The hold the pre-dose vitals triggered, if any.
    pub hold_reason: Option<String>,
    /// A prescriber's override of the hold.
    pub override_reason: Option<String>,
    /// A prescriber's documented reason for a dose outside the protocol.
    pub dose_exception: Option<String>,
    pub route: String,
    pub mg_per_kg: Option<f64>,
    pub weight_kg: Option<f64>,
    pub dose_mg: f64,
    pub lot: String,
    pub monitoring_minutes: u32,
    pub started_at: Timestamp,
    /// The ledger administration: the stock, what the dose takes from it,
    /// and the volume drawn when more than that (the rest is wasted,
    /// witnessed, later).
    pub administration: Option<Administration>,
    /// The prescriber on site during administration and monitoring.
    pub prescriber_on_site: Option<StaffId>,
    /// The open self-harm alerts reviewed before the dose, acknowledged
    /// with the review as their action note.
    pub self_harm_reviewed: Option<(Vec<AlertId>, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Administration {
    pub stock_id: StockId,
    pub given: Quantity,
    pub drawn: Option<Quantity>,
}

/// A charted time: the given one, or now; more than a few minutes ahead of
/// now is refused.
pub fn charted_time(field: &str, at: Option<Timestamp>, now: Timestamp) -> Result<Timestamp, Refusal> {
    let at = at.unwrap_or(now);
    if at > now + FUTURE_TOLERANCE {
        let ahead = at.duration_since(now).as_mins();
        return Err(Refusal::invalid(
            field,
            format!("that time is {ahead} minutes from now: chart what has happened, at the time it happened"),
        ));
    }
    Ok(at)
}

fn text(field: &str, value: &str, max: usize, what: &str) -> Result<String, Refusal> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(Refusal::invalid(field, format!("{what} is too long: at most {max} characters")));
    }
    Ok(v.to_string())
}

/// How a dose departs from its protocol (the field at fault, and in words);
/// none when it is within it. A protocol's route or one of its alternatives
/// gives the unit and the range: `min`-`max`, or exactly `amount` when it
/// gives no range.
pub fn outside_protocol(
    p: &Protocol,
    route: &str,
    dose_mg: f64,
    mg_per_kg: Option<f64>,
) -> Option<(&'static str, String)> {
    let routes = p.dose.routes();
    let Some(spec) = routes.iter().find(|r| r.route.as_str() == route) else {
        let names: Vec<&str> = routes.iter().map(|r| r.route.as_str()).collect();
        return Some(("route", format!("{route} is not a route of this protocol ({})", names.join(", "))));
    };
    let (field, value, unit_text) = match spec.unit {
        DoseUnit::Mg => ("dose_mg", dose_mg, "mg"),
        DoseUnit::MgPerKg => match mg_per_kg {
            Some(k) => ("mg_per_kg", k, "mg/kg"),
            None => return Some(("dose_mg", format!("this protocol's {route} dose is weight-based (mg/kg)"))),
        },
    };
    const EPS: f64 = 1e-9;
    let below = spec.lo.is_some_and(|l| value < l - EPS);
    let above = spec.hi.is_some_and(|h| value > h + EPS);
    if !(below || above) {
        return None;
    }
    let allowed = spec.describe();
    let allowed = allowed.strip_prefix(route).unwrap_or(&allowed).trim_start();
    Some((field, format!("{value} {unit_text} is outside this protocol: its {route} dose is {allowed}")))
}

/// Decides whether a dose may start and what is charted. `may_override`:
/// whether the person starting it may override a pre-dose hold (a
/// prescriber).
pub fn start(
    snap: &StartSnapshot,
    protocol: Option<&Protocol>,
    cmd: &StartCommand,
    policy: &SafetyPolicy,
    may_override: bool,
    now: Timestamp,
) -> Result<NewSession, Refusal> {
    // The visit.
    if snap.kind != EncounterKind::Dosing {
        return Err(Refusal::conflict("encounter_id", "this visit is not a dosing visit: book a dosing visit"));
    }
    if snap.status != EncounterStatus::Arrived {
        return Err(Refusal::conflict(
            "encounter_id",
            format!("check the client in first: the visit is {}", snap.status.as_str().replace('_', " ")),
        ));
    }
    if !snap.has_course {
        return Err(Refusal::conflict("course_id", "a dose belongs to a treatment course: this visit has none"));
    }
    may_chart_dose(snap.screening)?;

    // Open self-harm alerts: shown on the start form, and reviewed with the
    // client (what was done is the alerts' action note) before any dose.
    let review = match cmd.self_harm_review.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => Some(text("self_harm_review", r, SELF_HARM_REVIEW_MAX, "the review")?),
    };
    let self_harm_reviewed = match (snap.open_self_harm.as_slice(), review) {
        ([], None) => None,
        ([], Some(_)) => {
            return Err(Refusal::invalid(
                "self_harm_review",
                "the client has no open self-harm alert: leave the review empty",
            ));
        }
        (open, None) => {
            let list: Vec<String> = open.iter().map(|a| format!("{} (answer {})", a.message, a.value)).collect();
            return Err(Refusal::invalid(
                "self_harm_review",
                format!(
                    "the client has {} open self-harm alert{}: {}; review {} with the client before the dose and \
                     say what was done",
                    open.len(),
                    if open.len() == 1 { "" } else { "s" },
                    list.join("; "),
                    if open.len() == 1 { "it" } else { "them" }
                ),
            ));
        }
        (open, Some(r)) => Some((open.iter().map(|a| a.id).collect(), r)),
    };

    // The checklist.
    let c = &cmd.checklist;
    let pregnancy = PregnancyTest::parse("checklist.pregnancy_test", c.pregnancy_test.trim()).map_err(|_| {
        Refusal::invalid(
            "checklist.pregnancy_test",
            "choose the pregnancy test result: not applicable, negative or positive",
        )
    })?;
    if pregnancy == PregnancyTest::Positive {
        return Err(Refusal::invalid(
            "checklist.pregnancy_test",
            "the pregnancy test is positive: no dose may be given; see the prescriber",
        ));
    }
    if !c.ride_home_arranged {
        return Err(Refusal::invalid(
            "checklist.ride_home_arranged",
            "arrange a ride home with a responsible adult before dosing",
        ));
    }
    if !c.no_driving_agreed {
        return Err(Refusal::invalid(
            "checklist.no_driving_agreed",
            "the client must agree not to drive until the next day before dosing",
        ));
    }
    if let Some(f) = protocol.and_then(|p| p.monitoring.fasting)
        && !c.fasting_confirmed
    {
        return Err(Refusal::invalid(
            "checklist.fasting_confirmed",
            format!("confirm the client has fasted: {} (the protocol's rule)", f.describe()),
        ));
    }
    let mood_check = text("checklist.mood_check", &c.mood_check, MOOD_CHECK_MAX, "the mood check")?;

    // Pre-dose vital signs and the hold.
    let v = &cmd.pre_vitals;
    for (value, field, what) in [
        (v.systolic, "pre_vitals.systolic", "systolic blood pressure"),
        (v.diastolic, "pre_vitals.diastolic", "diastolic blood pressure"),
        (v.heart_rate, "pre_vitals.heart_rate", "heart rate"),
    ] {
        if value.is_none() {
            return Err(Refusal::invalid(field, format!("enter the pre-dose {what}: it is required before a dose")));
        }
    }
    if protocol.is_some_and(|p| p.monitoring.spo2_before_dose) && v.spo2.is_none() {
        return Err(Refusal::invalid(
            "pre_vitals.spo2",
            "enter the pre-dose SpO2: this protocol measures it before every dose",
        ));
    }
    v.validate().map_err(|e| Refusal::from(e).within("pre_vitals"))?;
    let hold = policy.pre_dose_hold(v);
    let override_reason = match cmd.override_reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => Some(text("override_reason", r, OVERRIDE_REASON_MAX, "the override reason")?),
    };
    match (&hold, &override_reason) {
        (Some(h), None) => {
            return Err(Refusal::invalid(
                "override_reason",
                format!("dose held: {h}; a prescriber may override the hold with a reason"),
            ));
        }
        (Some(h), Some(_)) if !may_override => {
            return Err(Refusal::not_permitted(
                "override_reason",
                format!("dose held: {h}; only a prescriber may override the hold"),
            ));
        }
        (None, Some(_)) => {
            return Err(Refusal::invalid(
                "override_reason",
                "the pre-dose vital signs do not hold the dose: leave the override reason empty",
            ));
        }
        _ => {}
    }

    // Route and dose.
    let route = match (cmd.route.as_deref().map(str::trim).filter(|r| !r.is_empty()), protocol) {
        (Some(r), _) => crate::protocols::Route::parse("route", r)
            .map_err(|_| Refusal::invalid("route", "choose the route: iv, im, sublingual or intranasal"))?
            .as_str()
            .to_string(),
        (None, Some(p)) => p.dose.route.as_str().to_string(),
        (None, None) => {
            return Err(Refusal::invalid("route", "give the route: this course's protocol is not in the library"));
        }
    };
    if route == crate::protocols::Route::Intranasal.as_str()
        && let Some(m) = protocol.and_then(|p| p.monitoring.nasal_medicines_minutes_before)
        && !cmd.checklist.nasal_medicines_clear
    {
        return Err(Refusal::invalid(
            "checklist.nasal_medicines_clear",
            format!(
                "confirm no nasal corticosteroid or decongestant was taken in the {m} minutes before this intranasal \
                 dose (the protocol's rule)"
            ),
        ));
    }
    let started_at = charted_time("started_at", cmd.started_at, now)?;
    let prescriber_on_site = rems_checks(snap, cmd, &route, started_at, &policy.rems)?;
    let protocol_mg_per_kg =
        protocol.and_then(|p| (p.dose.unit == DoseUnit::MgPerKg).then_some(p.dose.amount).flatten());
    let mg_per_kg = cmd.mg_per_kg.or(protocol_mg_per_kg);
    // A fixed dose in mg only where the protocol's dose is not weight-based
    // (and none is given in mg/kg): on a weight-based protocol the dose is
    // computed from today's weight.
    let (dose, mg_per_kg) = match (cmd.dose_mg, cmd.mg_per_kg, mg_per_kg, cmd.weight_kg) {
        (Some(_), _, Some(_), _) => {
            return Err(Refusal::invalid(
                "dose_mg",
                "this dose is weight-based (mg/kg): enter today's weight, not a dose in mg",
            ));
        }
        (Some(mg), _, None, _) => {
            if !(mg > 0.0 && mg <= 1000.0) {
                return Err(Refusal::invalid("dose_mg", "the dose must be above 0 and at most 1000 mg"));
            }
            (mg, None)
        }
        (None, _, Some(k), Some(w)) => (dose_mg(k, w)?, Some(k)),
        (None, _, Some(_), None) => {
            return Err(Refusal::invalid("weight_kg", "enter today's weight: the dose is weight-based"));
        }
        (None, _, None, _) => return Err(Refusal::invalid("dose_mg", "enter the dose in mg")),
    };
    // Within the protocol, or a prescriber's documented exception.
    let dose_exception = match cmd.dose_exception.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => Some(text("dose_exception", r, OVERRIDE_REASON_MAX, "the reason for the exception")?),
    };
    match (protocol.and_then(|p| outside_protocol(p, &route, dose, mg_per_kg)), &dose_exception) {
        (Some((field, why)), None) => {
            return Err(Refusal::invalid(
                field,
                format!("{why}; a prescriber may give it as a documented exception, with the reason"),
            ));
        }
        (Some((_, why)), Some(_)) if !may_override => {
            return Err(Refusal::not_permitted(
                "dose_exception",
                format!("{why}; only a prescriber may give a dose outside the protocol"),
            ));
        }
        (None, Some(_)) if protocol.is_some() => {
            return Err(Refusal::invalid(
                "dose_exception",
                "the dose is within the protocol: leave the exception empty",
            ));
        }
        _ => {}
    }

    // The stock it is drawn from, and the ledger administration.
    let (lot, administration) = match (cmd.stock_id, &snap.stock) {
        (Some(id), None) => {
            return Err(Refusal::invalid(
                "stock_id",
                format!("there is no ledger stock {id}: choose one from the list"),
            ));
        }
        (Some(_), Some(stock)) => {
            let wanted = Substance::for_route(&route);
            if stock.substance != wanted {
                return Err(Refusal::invalid(
                    "stock_id",
                    format!(
                        "a {route} dose is drawn from {wanted} stock, and lot {} is {}",
                        stock.lot, stock.substance
                    ),
                ));
            }
            if stock.site_id != snap.site_id {
                return Err(Refusal::invalid(
                    "stock_id",
                    format!("lot {} is held under another site's registration: use this site's stock", stock.lot),
                ));
            }
            let dose_day = started_at.to_zoned(snap.site_tz.clone()).date();
            if let Some(exp) = stock.expires.filter(|e| *e < dose_day) {
                return Err(Refusal::invalid("stock_id", format!("lot {} expired on {exp}: do not use it", stock.lot)));
            }
            let given = units_for_dose(dose, stock.mg_per_unit)?;
            if cmd.drawn.is_some_and(|d| d < given) {
                return Err(Refusal::invalid(
                    "drawn",
                    format!("the volume drawn cannot be less than the dose ({given} for {dose} mg)"),
                ));
            }
            let drawn = cmd.drawn.filter(|d| *d > given);
            (stock.lot.clone(), Some(Administration { stock_id: stock.id, given, drawn }))
        }
        (None, _) => {
            if cmd.drawn.is_some() {
                return Err(Refusal::invalid(
                    "drawn",
                    "the volume drawn is recorded against a ledger stock: choose the stock",
                ));
            }
            match cmd.lot.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
                Some(l) => (text("lot", l, LOT_MAX, "the lot")?, None),
                None => {
                    return Err(Refusal::invalid(
                        "stock_id",
                        "choose the stock the dose is drawn from (or give the lot)",
                    ));
                }
            }
        }
    };

    Ok(NewSession {
        encounter_id: snap.encounter_id,
        protocol_id: protocol.map(|p| p.id.clone()),
        checklist: Checklist { mood_check, pregnancy_test: pregnancy.as_str().to_string(), ..c.clone() },
        pre_vitals: *v,
        hold_reason: hold,
        override_reason,
        dose_exception,
        route,
        mg_per_kg,
        weight_kg: cmd.weight_kg,
        dose_mg: dose,
        lot,
        monitoring_minutes: protocol.map(|p| p.monitoring.minutes).unwrap_or(DEFAULT_MONITORING_MINUTES),
        started_at,
        administration,
        prescriber_on_site,
        self_harm_reviewed,
    })
}

/// The esketamine REMS at the start of a dose (each rule as the clinic's
/// policy file sets it, `[rems]`): the client enrolled on or before the
/// dose's day, and a prescriber on site named. Returns the prescriber on
/// site (also accepted, not required, for other routes).
fn rems_checks(
    snap: &StartSnapshot,
    cmd: &StartCommand,
    route: &str,
    started_at: Timestamp,
    rules: &crate::rems::Requirements,
) -> Result<Option<StaffId>, Refusal> {
    let esketamine = Substance::for_route(route) == Substance::Esketamine;
    if esketamine && rules.enrolment_before_first_dose.required {
        let day = started_at.to_zoned(snap.site_tz.clone()).date();
        match snap.rems_enrolled_on {
            None => {
                return Err(Refusal::conflict(
                    "rems_enrolment",
                    "the client is not enrolled in the esketamine REMS: a prescriber records the enrolment \
                     (the Patient Enrollment Form) before the first dose",
                ));
            }
            Some(on) if on > day => {
                return Err(Refusal::conflict(
                    "rems_enrolment",
                    format!("the client's REMS enrolment is dated {on}, after this dose ({day}): enrol first"),
                ));
            }
            Some(_) => {}
        }
    }
    match (cmd.prescriber_on_site, &snap.prescriber_on_site) {
        (None, _) if esketamine && rules.prescriber_on_site.required => Err(Refusal::invalid(
            "prescriber_on_site",
            "name the prescriber on site during administration and monitoring: the esketamine REMS requires one",
        )),
        (None, _) => Ok(None),
        (Some(_), None) => Err(Refusal::invalid("prescriber_on_site", "no such staff member: choose from the list")),
        (Some(_), Some(p)) if !p.active_prescriber => Err(Refusal::invalid(
            "prescriber_on_site",
            format!("{} is not an active prescriber: name the prescriber on site", p.name),
        )),
        (Some(_), Some(p)) => Ok(Some(p.id)),
    }
}

/// A charted session as the decisions after the start need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFacts {
    pub started_at: Timestamp,
    pub monitoring_minutes: u32,
    pub discharged_at: Option<Timestamp>,
    pub signed: bool,
}

impl SessionFacts {
    fn unsigned(&self) -> Result<(), Refusal> {
        if self.signed {
            return Err(Refusal::conflict(
                "signed_at",
                "this session is signed and cannot change: add an amendment to correct it",
            ));
        }
        Ok(())
    }

    /// A time during the session: not before the dose, not after discharge.
    fn during(&self, field: &str, at: Option<Timestamp>, now: Timestamp) -> Result<Timestamp, Refusal> {
        let at = charted_time(field, at, now)?;
        if at < self.started_at {
            let mins = self.started_at.duration_since(at).as_mins().max(1);
            return Err(Refusal::invalid(
                field,
                format!(
                    "that time is {mins} minutes before the dose started: pre-dose readings belong to the start of the dose"
                ),
            ));
        }
        if let Some(d) = self.discharged_at.filter(|d| at > *d) {
            let mins = at.duration_since(d).as_mins().max(1);
            return Err(Refusal::invalid(
                field,
                format!("that time is {mins} minutes after the client was discharged"),
            ));
        }
        Ok(at)
    }
}

/// A set of vital signs to chart: when, and the alerts it raises.
pub fn record_vitals(
    s: &SessionFacts,
    at: Option<Timestamp>,
    vitals: &Vitals,
    policy: &SafetyPolicy,
    now: Timestamp,
) -> Result<(Timestamp, Vec<VitalAlert>), Refusal> {
    s.unsigned()?;
    vitals.validate().map_err(|e| Refusal::from(e).within("vitals"))?;
    let at = s.during("at", at, now)?;
    Ok((at, policy.alerts(vitals)))
}

/// An observation (dissociation, side effect, adverse event) to chart.
pub fn record_event(
    s: &SessionFacts,
    at: Option<Timestamp>,
    event: &SessionEvent,
    now: Timestamp,
) -> Result<Timestamp, Refusal> {
    s.unsigned()?;
    event.validate().map_err(|e| Refusal::from(e).within("event"))?;
    // An observation may be charted after discharge (until the session is
    // signed): a reaction noticed at the door is still this dose's.
    let at = charted_time("at", at, now)?;
    if at < s.started_at {
        let mins = s.started_at.duration_since(at).as_mins().max(1);
        return Err(Refusal::invalid("at", format!("that time is {mins} minutes before the dose started")));
    }
    Ok(at)
}

/// What discharge needs to know beyond the session's times: the session's
/// unacknowledged safety alerts, the latest MOAA/S, and the alerts the
/// latest vital signs raise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    pub open_alerts: usize,
    /// The latest MOAA/S charted during the session, if any.
    pub last_moaas: Option<u8>,
    /// What the latest reading with vital signs crossed (the policy's alert
    /// messages); empty when within range or none charted.
    pub last_reading_alerts: Vec<String>,
}

impl Readiness {
    /// What stands between the client and the door, in words.
    pub fn unmet(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.open_alerts {
            0 => {}
            1 => out.push("a safety alert of this session is not acknowledged".to_string()),
            n => out.push(format!("{n} safety alerts of this session are not acknowledged")),
        }
        if let Some(m) = self.last_moaas.filter(|m| *m < 5) {
            out.push(format!("the latest MOAA/S is {m}: chart one back at 5 (responds readily to name)"));
        }
        if !self.last_reading_alerts.is_empty() {
            out.push(format!(
                "the latest vital signs are out of range ({}): chart a reading within range",
                self.last_reading_alerts.join("; ")
            ));
        }
        out
    }
}

/// Discharge: once, not before the protocol's monitoring time, with the
/// adult who takes the client home named, and with the client ready (no
/// unacknowledged alert of the session, the latest MOAA/S back to 5, the
/// latest vital signs within range) unless a prescriber documents the
/// decision to discharge anyway (`decision`, `may_decide`).
pub fn discharge(
    s: &SessionFacts,
    ready: &Readiness,
    at: Option<Timestamp>,
    accompanied_by: &str,
    decision: Option<&str>,
    may_decide: bool,
    now: Timestamp,
) -> Result<(Timestamp, String, Option<String>), Refusal> {
    s.unsigned()?;
    if s.discharged_at.is_some() {
        return Err(Refusal::conflict("discharged_at", "the client has already been discharged"));
    }
    let who = accompanied_by.trim();
    if who.is_empty() {
        return Err(Refusal::invalid("accompanied_by", "name the adult who takes the client home"));
    }
    let who = text("accompanied_by", who, ACCOMPANIED_BY_MAX, "the name of the adult who takes the client home")?;
    let at = charted_time("at", at, now)?;
    let earliest = s.started_at + SignedDuration::from_mins(i64::from(s.monitoring_minutes));
    if at < earliest {
        let left = earliest.duration_since(at).as_mins().max(1);
        return Err(Refusal::invalid(
            "at",
            format!(
                "the protocol requires {} minutes of monitoring after the dose: {left} more minute(s)",
                s.monitoring_minutes
            ),
        ));
    }
    let decision = match decision.map(str::trim).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => Some(text("decision", d, OVERRIDE_REASON_MAX, "the prescriber's decision")?),
    };
    let unmet = ready.unmet();
    match (unmet.is_empty(), &decision) {
        (false, None) => {
            return Err(Refusal::invalid(
                "discharge",
                format!(
                    "not ready to leave: {}; or a prescriber may discharge with a documented decision",
                    unmet.join("; ")
                ),
            ));
        }
        (false, Some(_)) if !may_decide => {
            return Err(Refusal::not_permitted(
                "decision",
                format!("not ready to leave: {}; only a prescriber may decide to discharge", unmet.join("; ")),
            ));
        }
        (true, Some(_)) => {
            return Err(Refusal::invalid("decision", "the client is ready to leave: leave the decision empty"));
        }
        _ => {}
    }
    Ok((at, who, decision))
}

/// Ends a session before (or without) a discharge: a transfer to
/// emergency care, or a client who leaves against advice. Allowed at any
/// time after the dose, never twice and never after a discharge; the reason
/// is always said, and a transfer says where to. The end closes the chair
/// like a discharge (the session can then be signed) and is itself a safety
/// alert for the care team.
pub fn end_early(
    s: &SessionFacts,
    at: Option<Timestamp>,
    kind: EarlyEnd,
    reason: &str,
    transferred_to: Option<&str>,
    now: Timestamp,
) -> Result<(Timestamp, EarlyEndRecord), Refusal> {
    s.unsigned()?;
    if s.discharged_at.is_some() {
        return Err(Refusal::conflict("discharged_at", "the session has already ended: the client left the chair"));
    }
    let reason = text("reason", reason, END_REASON_MAX, "the reason")?;
    if reason.is_empty() {
        return Err(Refusal::invalid("reason", "say why the session ended early (what happened, who decided)"));
    }
    let transferred_to = match (kind, transferred_to.map(str::trim).filter(|t| !t.is_empty())) {
        (EarlyEnd::Transferred, None) => {
            return Err(Refusal::invalid(
                "transferred_to",
                "say where the client was handed over to (an ambulance service, an emergency department)",
            ));
        }
        (EarlyEnd::Transferred, Some(t)) => Some(text("transferred_to", t, ACCOMPANIED_BY_MAX, "where to")?),
        (EarlyEnd::LeftAgainstAdvice, Some(_)) => {
            return Err(Refusal::invalid(
                "transferred_to",
                "only a transfer names where the client was handed over to",
            ));
        }
        (EarlyEnd::LeftAgainstAdvice, None) => None,
    };
    let at = charted_time("at", at, now)?;
    if at < s.started_at {
        let mins = s.started_at.duration_since(at).as_mins().max(1);
        return Err(Refusal::invalid("at", format!("that time is {mins} minutes before the dose started")));
    }
    Ok((at, EarlyEndRecord { kind, reason, transferred_to }))
}

/// Signing: only a discharged, unsigned session.
pub fn sign(s: &SessionFacts) -> Result<(), Refusal> {
    s.unsigned()?;
    if s.discharged_at.is_none() {
        return Err(Refusal::conflict("discharged_at", "record the discharge before signing"));
    }
    Ok(())
}

/// An amendment: only to a signed session, saying what and why.
pub fn amend(s: &SessionFacts, amendment: &super::Amendment) -> Result<(), Refusal> {
    if !s.signed {
        return Err(Refusal::conflict("signed_at", "the session is not signed yet: correct the chart itself"));
    }
    amendment.validate().map_err(Refusal::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RefusalKind;
    use crate::protocols::ProtocolLibrary;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("instant")
    }

    fn policy() -> SafetyPolicy {
        SafetyPolicy::shipped().expect("policy")
    }

    fn snapshot() -> StartSnapshot {
        StartSnapshot {
            encounter_id: EncounterId::new(),
            kind: EncounterKind::Dosing,
            status: EncounterStatus::Arrived,
            has_course: true,
            course_protocol: Some("apa_iv_induction".into()),
            screening: ScreenStatus::SignedEligible,
            site_id: SiteId::new(),
            site_tz: TimeZone::get("America/Chicago").expect("tz"),
            stock: None,
            open_self_harm: Vec::new(),
            rems_enrolled_on: Some(jiff::civil::date(2026, 1, 5)),
            prescriber_on_site: Some(OnSite {
                id: StaffId::new(),
                name: "Dr Ada Prescriber".into(),
                active_prescriber: true,
            }),
        }
    }

    fn command() -> StartCommand {
        StartCommand {
            checklist: Checklist {
                fasting_confirmed: true,
                nasal_medicines_clear: true,
                ride_home_arranged: true,
                no_driving_agreed: true,
                pregnancy_test: "not_applicable".into(),
                mood_check: " calm ".into(),
                pre_dose_note: None,
            },
            pre_vitals: Vitals {
                systolic: Some(128),
                diastolic: Some(82),
                heart_rate: Some(70),
                spo2: Some(98),
                ..Vitals::default()
            },
            override_reason: None,
            route: None,
            mg_per_kg: None,
            weight_kg: Some(72.5),
            dose_mg: None,
            stock_id: None,
            drawn: None,
            lot: Some("KET-0042".into()),
            started_at: None,
            dose_exception: None,
            self_harm_review: None,
            prescriber_on_site: Some(StaffId::new()),
        }
    }

    #[test]
    fn an_unanswered_pre_dose_safety_check_needs_a_note_saying_why() {
        let unanswered = vec!["Safety check".to_string()];
        let r = pre_dose_review(&unanswered, None).expect_err("silent");
        assert_eq!(r.field, "checklist.pre_dose_note");
        assert_eq!(
            r.message,
            "Safety check is not answered for this dose: ask it and record the answer on the chart, or say why not \
             and what was asked instead."
        );
        assert_eq!(pre_dose_review(&unanswered, Some("   ")).expect_err("blank").field, "checklist.pre_dose_note");
        let note = " Tablet out of charge; asked aloud: no thoughts of self-harm ";
        assert_eq!(
            pre_dose_review(&unanswered, Some(note)).expect("noted").as_deref(),
            Some("Tablet out of charge; asked aloud: no thoughts of self-harm")
        );
        let two = vec!["Safety check".to_string(), "QIDS-SR16".to_string()];
        assert!(pre_dose_review(&two, None).expect_err("two").message.starts_with("Safety check and QIDS-SR16 are"));
        // All answered: no note needed, one given is kept.
        assert_eq!(pre_dose_review(&[], None).expect("answered"), None);
        assert_eq!(
            pre_dose_review(&[], Some("x".repeat(PRE_DOSE_NOTE_MAX + 1).as_str())).expect_err("long").field,
            "checklist.pre_dose_note"
        );
    }

    #[test]
    fn esketamine_needs_a_rems_enrolment_and_a_prescriber_on_site() {
        // The Spravato REMS (FDA REMS page, dated 31 Dec 2024): the patient is
        // enrolled before the first treatment; a prescriber is on site
        // during administration and monitoring. Both on in the shipped policy.
        let mut s = snapshot();
        s.course_protocol = Some("esketamine_label".into());
        let esketamine = || StartCommand { weight_kg: None, dose_mg: Some(56.0), ..command() };
        let n = decide(&s, &esketamine(), false).expect("enrolled, prescriber named: starts");
        assert!(n.prescriber_on_site.is_some());

        let mut unenrolled = s.clone();
        unenrolled.rems_enrolled_on = None;
        let r = refused(&unenrolled, &esketamine(), true);
        assert_eq!((r.kind, r.field.as_str()), (RefusalKind::Conflict, "rems_enrolment"));
        assert!(r.message.contains("not enrolled in the esketamine REMS"), "{}", r.message);
        // Enrolled after the dose's day (site time): still not enrolled for it.
        let mut late = s.clone();
        late.rems_enrolled_on = Some(jiff::civil::date(2026, 12, 31));
        let c = StartCommand { started_at: Some(ts("2026-12-04T15:00:00Z")), ..esketamine() };
        let r = decide(&late, &c, false).expect_err("enrolled later");
        assert!(r.message.contains("dated 2026-12-31, after this dose (2026-12-04)"), "{}", r.message);

        let c = StartCommand { prescriber_on_site: None, ..esketamine() };
        let r = refused(&s, &c, false);
        assert_eq!(r.field, "prescriber_on_site");
        assert!(r.message.contains("the esketamine REMS requires one"), "{}", r.message);
        let mut nurse = s.clone();
        nurse.prescriber_on_site =
            Some(OnSite { id: StaffId::new(), name: "Ben Nurse".into(), active_prescriber: false });
        let r = refused(&nurse, &esketamine(), false);
        assert_eq!(r.message, "Ben Nurse is not an active prescriber: name the prescriber on site.");
        let mut nobody = s.clone();
        nobody.prescriber_on_site = None;
        assert_eq!(refused(&nobody, &esketamine(), false).field, "prescriber_on_site");

        // A clinic whose newer REMS document drops a requirement turns it off.
        let mut off = policy();
        off.rems.enrolment_before_first_dose.required = false;
        off.rems.prescriber_on_site.required = false;
        let c = StartCommand { prescriber_on_site: None, ..esketamine() };
        let lib = library();
        start(&unenrolled, lib.get("esketamine_label"), &c, &off, false, ts(NOW)).expect("both requirements off");

        // IV ketamine: neither applies.
        let mut iv = snapshot();
        iv.rems_enrolled_on = None;
        let c = StartCommand { prescriber_on_site: None, ..command() };
        decide(&iv, &c, false).expect("no REMS for ketamine");
    }

    #[test]
    fn an_open_self_harm_alert_is_reviewed_with_the_client_before_any_dose() {
        // A PHQ-9 sent the evening before with item 9 answered "several days"
        // (1), still open when the client arrives.
        let alert = OpenSelfHarm {
            id: AlertId::new(),
            message: "PHQ-9 item 9 (thoughts of being better off dead or of self-harm)".into(),
            value: 1,
            raised_at: ts("2026-12-03T22:10:00Z"),
        };
        let mut s = snapshot();
        s.open_self_harm = vec![alert.clone()];
        let r = refused(&s, &command(), true);
        assert_eq!((r.kind, r.field.as_str()), (RefusalKind::Invalid, "self_harm_review"));
        assert_eq!(
            r.message,
            "The client has 1 open self-harm alert: PHQ-9 item 9 (thoughts of being better off dead or of \
             self-harm) (answer 1); review it with the client before the dose and say what was done."
        );
        // Blank is no review.
        let mut c = command();
        c.self_harm_review = Some("   ".into());
        assert_eq!(refused(&s, &c, true).field, "self_harm_review");
        // Reviewed: the dose starts and the alert is acknowledged with the review.
        c.self_harm_review = Some(" Passive thoughts only, no plan; safety plan reviewed; prescriber agrees. ".into());
        let n = decide(&s, &c, false).expect("starts once reviewed");
        assert_eq!(
            n.self_harm_reviewed,
            Some((vec![alert.id], "Passive thoughts only, no plan; safety plan reviewed; prescriber agrees.".into()))
        );
        // Two open alerts are both named, and both acknowledged.
        let second =
            OpenSelfHarm { id: AlertId::new(), message: "QIDS-SR16 item 12".into(), value: 2, ..alert.clone() };
        s.open_self_harm.push(second.clone());
        let r = refused(&s, &command(), true);
        assert!(
            r.message.starts_with("The client has 2 open self-harm alerts:")
                && r.message.contains("QIDS-SR16 item 12 (answer 2)"),
            "{}",
            r.message
        );
        assert_eq!(
            decide(&s, &c, false).expect("starts").self_harm_reviewed.map(|r| r.0),
            Some(vec![alert.id, second.id])
        );
        // None open: a review is refused rather than silently dropped.
        let r = refused(&snapshot(), &c, false);
        assert_eq!(r.field, "self_harm_review");
        assert!(r.message.contains("no open self-harm alert"));
        // Too long to be an action note.
        c.self_harm_review = Some("x".repeat(SELF_HARM_REVIEW_MAX + 1));
        assert_eq!(refused(&s, &c, false).field, "self_harm_review");
    }

    #[test]
    fn a_dose_outside_the_protocol_needs_a_prescribers_documented_exception() {
        // Esketamine: 56 or 84 mg intranasal (the protocol's 56-84 mg).
        let mut s = snapshot();
        s.course_protocol = Some("esketamine_label".into());
        let mut c = command();
        c.weight_kg = None;
        c.dose_mg = Some(560.0);
        let r = refused(&s, &c, true);
        assert_eq!(r.field, "dose_mg");
        assert_eq!(
            r.message,
            "560 mg is outside this protocol: its intranasal dose is 56-84 mg; a prescriber may give it as a documented exception, with the reason."
        );
        for ok in [56.0, 84.0] {
            c.dose_mg = Some(ok);
            assert_eq!(decide(&s, &c, false).expect("within").dose_exception, None, "{ok} mg");
        }
        c.dose_mg = Some(28.0);
        c.dose_exception = Some(" Age 71: label's 28 mg starting dose for 65 and over ".into());
        let r = refused(&s, &c, false);
        assert_eq!((r.kind, r.field.as_str()), (RefusalKind::NotPermitted, "dose_exception"), "a nurse may not");
        let n = decide(&s, &c, true).expect("a prescriber's exception");
        assert_eq!(n.dose_exception.as_deref(), Some("Age 71: label's 28 mg starting dose for 65 and over"));
        c.dose_mg = Some(56.0);
        assert_eq!(refused(&s, &c, true).field, "dose_exception", "no exception for a dose within the protocol");
        c.dose_exception = None;
        // A route the protocol does not have.
        c.route = Some("iv".into());
        let r = refused(&s, &c, true);
        assert_eq!(r.field, "route");
        assert!(r.message.starts_with("Iv is not a route of this protocol (intranasal)"), "{}", r.message);

        // APA IV: exactly 0.5 mg/kg; 0.75 mg/kg is an exception.
        let mut c = command();
        c.mg_per_kg = Some(0.75);
        let r = refused(&snapshot(), &c, true);
        assert_eq!(r.field, "mg_per_kg");
        assert!(r.message.contains("0.75 mg/kg is outside this protocol: its iv dose is 0.5 mg/kg"), "{}", r.message);
        c.dose_exception = Some("Partial response at 0.5 mg/kg after 3 infusions".into());
        assert_eq!(decide(&snapshot(), &c, true).expect("exception").dose_mg, 54.4); // 0.75 × 72.5

        // KAP: sublingual 100-400 mg, or its IM alternative 0.5-1.5 mg/kg.
        let mut s = snapshot();
        s.course_protocol = Some("kap_sublingual_im".into());
        let mut c = command();
        c.route = Some("im".into());
        c.mg_per_kg = Some(1.0);
        decide(&s, &c, false).expect("the alternative's range");
        c.mg_per_kg = Some(2.0);
        assert_eq!(refused(&s, &c, false).field, "mg_per_kg");
        let mut c = command();
        c.weight_kg = None;
        c.route = Some("sublingual".into());
        c.dose_mg = Some(450.0);
        assert!(refused(&s, &c, false).message.contains("its sublingual dose is 100-400 mg"));
    }

    fn library() -> ProtocolLibrary {
        ProtocolLibrary::shipped(&["standard", "ptsd"]).expect("protocols")
    }

    const NOW: &str = "2026-12-04T16:00:00Z";

    fn decide(snap: &StartSnapshot, cmd: &StartCommand, may_override: bool) -> Result<NewSession, Refusal> {
        let lib = library();
        let p = snap.course_protocol.as_deref().and_then(|id| lib.get(id));
        start(snap, p, cmd, &policy(), may_override, ts(NOW))
    }

    fn refused(snap: &StartSnapshot, cmd: &StartCommand, may_override: bool) -> Refusal {
        decide(snap, cmd, may_override).expect_err("refused")
    }

    #[test]
    fn a_weight_based_iv_dose_starts_with_the_protocols_route_dose_and_monitoring() {
        let n = decide(&snapshot(), &command(), false).expect("starts");
        assert_eq!((n.route.as_str(), n.mg_per_kg, n.dose_mg), ("iv", Some(0.5), 36.3)); // 0.5 × 72.5 = 36.25
        assert_eq!(n.protocol_id.as_deref(), Some("apa_iv_induction"));
        assert_eq!(n.started_at, ts(NOW));
        assert_eq!(n.checklist.mood_check, "calm");
        assert_eq!((n.hold_reason, n.administration), (None, None));
        assert!(n.monitoring_minutes >= 60, "the protocol's monitoring time: {}", n.monitoring_minutes);
    }

    #[test]
    fn the_visit_must_be_an_arrived_dosing_visit_of_a_screened_course() {
        let mut s = snapshot();
        s.status = EncounterStatus::Booked;
        let r = refused(&s, &command(), false);
        assert_eq!((r.kind, r.field.as_str()), (RefusalKind::Conflict, "encounter_id"));
        assert_eq!(r.message, "Check the client in first: the visit is booked.");
        let mut s = snapshot();
        s.kind = EncounterKind::Integration;
        assert!(refused(&s, &command(), false).message.contains("not a dosing visit"));
        let mut s = snapshot();
        s.screening = ScreenStatus::Unsigned;
        let r = refused(&s, &command(), false);
        assert_eq!(r.field, "course_id");
        assert!(r.message.contains("not been signed by a prescriber"), "{}", r.message);
    }

    #[test]
    fn the_checklist_refuses_a_positive_test_and_a_missing_ride_home() {
        let mut c = command();
        c.checklist.pregnancy_test = "positive".into();
        assert_eq!(refused(&snapshot(), &c, true).field, "checklist.pregnancy_test");
        c.checklist.pregnancy_test = "maybe".into();
        assert!(refused(&snapshot(), &c, true).message.starts_with("Choose the pregnancy test result"));
        let mut c = command();
        c.checklist.ride_home_arranged = false;
        assert_eq!(refused(&snapshot(), &c, true).field, "checklist.ride_home_arranged");
        let mut c = command();
        c.checklist.no_driving_agreed = false;
        assert_eq!(refused(&snapshot(), &c, true).field, "checklist.no_driving_agreed");
    }

    #[test]
    fn esketamine_needs_spo2_fasting_and_no_nasal_medicine_in_the_last_hour_as_its_label_says() {
        // The esketamine label: pulse oximetry at every session; no food for
        // 2 h and no liquids for 30 min before; nasal corticosteroids or
        // decongestants at least 1 h before.
        let mut s = snapshot();
        s.course_protocol = Some("esketamine_label".into());
        let esketamine = || StartCommand { weight_kg: None, dose_mg: Some(56.0), ..command() };
        decide(&s, &esketamine(), false).expect("all confirmed: starts");
        let mut c = esketamine();
        c.pre_vitals.spo2 = None;
        let r = refused(&s, &c, false);
        assert_eq!(r.field, "pre_vitals.spo2");
        assert!(r.message.contains("measures it before every dose"), "{}", r.message);
        let mut c = esketamine();
        c.checklist.fasting_confirmed = false;
        let r = refused(&s, &c, false);
        assert_eq!(r.field, "checklist.fasting_confirmed");
        assert!(r.message.contains("no food for 2 h and no liquids for 30 min"), "{}", r.message);
        let mut c = esketamine();
        c.checklist.nasal_medicines_clear = false;
        let r = refused(&s, &c, false);
        assert_eq!(r.field, "checklist.nasal_medicines_clear");
        assert!(r.message.contains("60 minutes"), "{}", r.message);
        // The IV series measures SpO2 too, but sets no fasting or nasal rule.
        let mut c = command();
        c.checklist.fasting_confirmed = false;
        c.checklist.nasal_medicines_clear = false;
        decide(&snapshot(), &c, false).expect("IV: no fasting or nasal rule");
        c.pre_vitals.spo2 = None;
        assert_eq!(refused(&snapshot(), &c, false).field, "pre_vitals.spo2");
        // A course outside the library sets none of them.
        let mut other = snapshot();
        other.course_protocol = Some("our_own".into());
        let c = StartCommand { route: Some("im".into()), weight_kg: None, dose_mg: Some(50.0), ..command() };
        let c = StartCommand { pre_vitals: Vitals { spo2: None, ..c.pre_vitals }, ..c };
        decide(&other, &c, false).expect("no protocol rule");
    }

    #[test]
    fn pre_dose_vitals_are_required_and_a_high_pressure_holds_the_dose_for_a_prescriber() {
        let mut c = command();
        c.pre_vitals.heart_rate = None;
        let r = refused(&snapshot(), &c, false);
        assert_eq!(r.field, "pre_vitals.heart_rate");
        assert_eq!(r.message, "Enter the pre-dose heart rate: it is required before a dose.");
        let mut c = command();
        c.pre_vitals.spo2 = Some(101);
        assert_eq!(refused(&snapshot(), &c, false).field, "pre_vitals.spo2");

        // 186/112 against the shipped hold of 140/90.
        let mut c = command();
        c.pre_vitals.systolic = Some(186);
        c.pre_vitals.diastolic = Some(112);
        let r = refused(&snapshot(), &c, true);
        assert_eq!(r.field, "override_reason");
        assert_eq!(
            r.message,
            "Dose held: blood pressure 186/112: systolic 186 and diastolic 112 are at or above the hold level \
             140/90 (local policy); a prescriber may override the hold with a reason."
        );
        c.override_reason = Some("chronic hypertension, cleared by cardiology".into());
        let r = refused(&snapshot(), &c, false);
        assert_eq!((r.kind, r.field.as_str()), (RefusalKind::NotPermitted, "override_reason"));
        let n = decide(&snapshot(), &c, true).expect("a prescriber overrides");
        assert!(n.hold_reason.is_some_and(|h| h.contains("186/112")));
        let mut c = command();
        c.override_reason = Some("just in case".into());
        assert!(refused(&snapshot(), &c, true).message.contains("do not hold the dose"));
    }

    #[test]
    fn the_dose_is_fixed_or_weight_based_never_both() {
        let mut c = command();
        c.weight_kg = None;
        let r = refused(&snapshot(), &c, false);
        assert_eq!(
            (r.field.as_str(), r.message.as_str()),
            ("weight_kg", "Enter today's weight: the dose is weight-based.")
        );
        // On a weight-based protocol a dose in mg is refused.
        c.dose_mg = Some(100.0);
        let r = refused(&snapshot(), &c, false);
        assert_eq!(
            (r.field.as_str(), r.message.as_str()),
            ("dose_mg", "This dose is weight-based (mg/kg): enter today's weight, not a dose in mg.")
        );
        // On a fixed-dose protocol (esketamine 56 mg) it is the dose.
        let mut s = snapshot();
        s.course_protocol = Some("esketamine_label".into());
        c.dose_mg = Some(56.0);
        let n = decide(&s, &c, false).expect("a fixed dose");
        assert_eq!((n.dose_mg, n.mg_per_kg, n.route.as_str()), (56.0, None, "intranasal"));
        c.mg_per_kg = Some(0.5);
        assert_eq!(refused(&s, &c, false).field, "dose_mg");
        let mut c = command();
        c.weight_kg = Some(400.0);
        assert_eq!(refused(&snapshot(), &c, false).field, "weight_kg");
        let mut s = snapshot();
        s.course_protocol = None;
        let mut c = command();
        c.weight_kg = None;
        assert_eq!(refused(&s, &c, false).field, "route");
    }

    #[test]
    fn stock_must_be_the_routes_substance_at_this_site_and_in_date_on_the_sites_calendar() {
        let mut s = snapshot();
        let stock = StockFacts {
            id: StockId::new(),
            substance: Substance::Ketamine,
            lot: "KV-7".into(),
            site_id: s.site_id,
            expires: Some("2026-12-03".parse().expect("date")),
            mg_per_unit: 50.0,
        };
        s.stock = Some(stock.clone());
        let mut c = command();
        c.stock_id = Some(stock.id);
        c.lot = None;
        // 2026-12-04T04:00Z is still 3 December in Chicago: the lot is in date there.
        c.started_at = Some(ts("2026-12-04T04:00:00Z"));
        let n = decide(&s, &c, false).expect("in date at the site");
        assert_eq!(n.lot, "KV-7");
        assert_eq!(n.administration.map(|a| a.given), Some(Quantity(726))); // 36.3 mg / 50 mg/mL = 0.726 mL
        c.started_at = Some(ts("2026-12-04T15:00:00Z"));
        assert!(refused(&s, &c, false).message.contains("expired on 2026-12-03"));
        c.started_at = None;
        s.stock = Some(StockFacts { expires: None, site_id: SiteId::new(), ..stock.clone() });
        assert!(refused(&s, &c, false).message.contains("another site"));
        s.stock = Some(StockFacts { expires: None, substance: Substance::Esketamine, ..stock.clone() });
        assert!(refused(&s, &c, false).message.contains("drawn from ketamine stock"));
        s.stock = Some(StockFacts { expires: None, ..stock });
        c.drawn = Some(Quantity(500));
        assert_eq!(refused(&s, &c, false).field, "drawn");
        c.drawn = Some(Quantity(1000));
        let n = decide(&s, &c, false).expect("drawn 1 mL");
        assert_eq!(n.administration.and_then(|a| a.drawn), Some(Quantity(1000)));
        s.stock = None;
        assert_eq!(refused(&s, &c, false).field, "stock_id");
    }

    #[test]
    fn a_start_in_the_future_is_refused_in_minutes_not_instants() {
        let mut c = command();
        c.started_at = Some(ts("2026-12-04T16:20:00Z"));
        let r = refused(&snapshot(), &c, false);
        assert_eq!(r.field, "started_at");
        assert!(r.message.starts_with("That time is 20 minutes from now"), "{}", r.message);
        c.started_at = Some(ts("2026-12-04T16:04:00Z"));
        decide(&snapshot(), &c, false).expect("a drifting clock's few minutes are accepted");
    }

    fn facts() -> SessionFacts {
        SessionFacts {
            started_at: ts("2026-12-04T14:00:00Z"),
            monitoring_minutes: 120,
            discharged_at: None,
            signed: false,
        }
    }

    #[test]
    fn readings_are_timed_between_the_dose_and_discharge() {
        let v = Vitals { systolic: Some(186), diastolic: Some(100), heart_rate: Some(88), ..Vitals::default() };
        let (at, alerts) =
            record_vitals(&facts(), Some(ts("2026-12-04T14:40:00Z")), &v, &policy(), ts(NOW)).expect("ok");
        assert_eq!(at, ts("2026-12-04T14:40:00Z"));
        assert_eq!(alerts.iter().map(|a| a.sign).collect::<Vec<_>>(), vec!["systolic", "diastolic"]);
        let r = record_vitals(&facts(), Some(ts("2026-12-04T13:50:00Z")), &v, &policy(), ts(NOW)).expect_err("before");
        assert_eq!(r.field, "at");
        assert!(r.message.contains("10 minutes before the dose started"), "{}", r.message);
        let bad = Vitals { spo2: Some(20), ..Vitals::default() };
        assert_eq!(record_vitals(&facts(), None, &bad, &policy(), ts(NOW)).expect_err("spo2").field, "vitals.spo2");
        let done = SessionFacts { discharged_at: Some(ts("2026-12-04T16:10:00Z")), ..facts() };
        let r = record_vitals(&done, None, &v, &policy(), ts("2026-12-04T16:30:00Z")).expect_err("after");
        assert!(r.message.contains("20 minutes after the client was discharged"), "{}", r.message);
        let signed = SessionFacts { signed: true, ..done };
        assert_eq!(
            record_vitals(&signed, None, &v, &policy(), ts(NOW)).expect_err("signed").kind,
            RefusalKind::Conflict
        );
    }

    #[test]
    fn an_observation_is_charted_after_discharge_until_signing_but_not_before_the_dose() {
        let nausea = SessionEvent::Dissociation { cadss6: 3 };
        let done = SessionFacts { discharged_at: Some(ts("2026-12-04T16:10:00Z")), ..facts() };
        let at = record_event(&done, None, &nausea, ts("2026-12-04T16:30:00Z")).expect("after discharge");
        assert_eq!(at, ts("2026-12-04T16:30:00Z"));
        let r = record_event(&facts(), Some(ts("2026-12-04T13:55:00Z")), &nausea, ts(NOW)).expect_err("before");
        assert!(r.message.contains("5 minutes before the dose started"), "{}", r.message);
        let signed = SessionFacts { signed: true, ..done };
        assert_eq!(record_event(&signed, None, &nausea, ts(NOW)).expect_err("signed").kind, RefusalKind::Conflict);
    }

    #[test]
    fn discharge_needs_the_monitoring_time_and_a_named_adult_of_bounded_length() {
        let f = facts();
        let ok = Readiness::default();
        let d = |f: &SessionFacts, who: &str, now: &str| discharge(f, &ok, None, who, None, false, ts(now));
        let r = d(&f, "Sam", "2026-12-04T15:59:00Z").expect_err("early");
        assert_eq!(r.field, "at");
        assert!(r.message.contains("120 minutes of monitoring after the dose: 1 more minute"), "{}", r.message);
        assert_eq!(d(&f, " ", NOW).expect_err("nobody").field, "accompanied_by");
        let long = "x".repeat(201);
        assert_eq!(d(&f, &long, NOW).expect_err("201").field, "accompanied_by");
        assert_eq!(d(&f, " Sam ", NOW).expect("at 2 h"), (ts(NOW), "Sam".to_string(), None));
        let done = SessionFacts { discharged_at: Some(ts(NOW)), ..f };
        assert_eq!(d(&done, "Sam", NOW).expect_err("twice").kind, RefusalKind::Conflict);
        assert_eq!(sign(&f).expect_err("not discharged").field, "discharged_at");
        sign(&done).expect("signs");
    }

    #[test]
    fn discharge_waits_for_acknowledged_alerts_moaas_5_and_vitals_in_range_or_a_prescribers_decision() {
        let f = facts();
        let not_ready = Readiness {
            open_alerts: 1,
            last_moaas: Some(3),
            last_reading_alerts: vec!["systolic 186 at or above 180".into()],
        };
        let r = discharge(&f, &not_ready, None, "Sam", None, true, ts(NOW)).expect_err("not ready");
        assert_eq!(r.field, "discharge");
        assert_eq!(
            r.message,
            "Not ready to leave: a safety alert of this session is not acknowledged; the latest MOAA/S is 3: chart one \
             back at 5 (responds readily to name); the latest vital signs are out of range (systolic 186 at or above \
             180): chart a reading within range; or a prescriber may discharge with a documented decision."
        );
        let why = "BP 176/98 stable for 45 min, asymptomatic; discharged to partner with GP review tomorrow";
        let r = discharge(&f, &not_ready, None, "Sam", Some(why), false, ts(NOW)).expect_err("a nurse");
        assert_eq!((r.kind, r.field.as_str()), (RefusalKind::NotPermitted, "decision"));
        let (_, _, decided) = discharge(&f, &not_ready, None, "Sam", Some(why), true, ts(NOW)).expect("decided");
        assert_eq!(decided.as_deref(), Some(why));
        // Ready: MOAA/S back to 5, the latest reading in range, alerts acknowledged.
        let ready = Readiness { open_alerts: 0, last_moaas: Some(5), last_reading_alerts: vec![] };
        discharge(&f, &ready, None, "Sam", None, false, ts(NOW)).expect("ready");
        let r = discharge(&f, &ready, None, "Sam", Some(why), true, ts(NOW)).expect_err("no decision needed");
        assert_eq!(r.field, "decision");
        // One unmet criterion is enough to hold the discharge.
        let drowsy = Readiness { last_moaas: Some(4), ..ready };
        assert!(
            discharge(&f, &drowsy, None, "Sam", None, false, ts(NOW))
                .expect_err("drowsy")
                .message
                .contains("MOAA/S is 4")
        );
    }

    #[test]
    fn an_early_end_says_why_a_transfer_says_where_and_neither_waits_for_the_monitoring_time() {
        let f = facts();
        // 25 minutes after the dose: a transfer is charted at once.
        let at = ts("2026-12-04T14:25:00Z");
        let (when, end) = end_early(
            &f,
            Some(at),
            EarlyEnd::Transferred,
            " Chest pain, BP 210/125; ambulance called by Dr Rivera ",
            Some(" County General emergency department "),
            ts(NOW),
        )
        .expect("a transfer before the monitoring time");
        assert_eq!(when, at);
        assert_eq!(end.reason, "Chest pain, BP 210/125; ambulance called by Dr Rivera");
        assert_eq!(end.transferred_to.as_deref(), Some("County General emergency department"));
        let r = end_early(&f, None, EarlyEnd::Transferred, "Chest pain", Some(" "), ts(NOW)).expect_err("where to");
        assert_eq!(r.field, "transferred_to");
        let r = end_early(&f, None, EarlyEnd::LeftAgainstAdvice, "  ", None, ts(NOW)).expect_err("why");
        assert_eq!(r.field, "reason");
        let r = end_early(&f, None, EarlyEnd::LeftAgainstAdvice, "Insisted", Some("Home"), ts(NOW))
            .expect_err("a client who leaves is not transferred");
        assert_eq!(r.field, "transferred_to");
        let (_, end) = end_early(&f, None, EarlyEnd::LeftAgainstAdvice, "Insisted on leaving at 40 min", None, ts(NOW))
            .expect("left against advice");
        assert_eq!((end.kind, end.transferred_to), (EarlyEnd::LeftAgainstAdvice, None));
        let long = "x".repeat(END_REASON_MAX + 1);
        assert_eq!(
            end_early(&f, None, EarlyEnd::LeftAgainstAdvice, &long, None, ts(NOW)).expect_err("long").field,
            "reason"
        );
        let r = end_early(&f, Some(ts("2026-12-04T13:58:00Z")), EarlyEnd::LeftAgainstAdvice, "Left", None, ts(NOW))
            .expect_err("before the dose");
        assert_eq!(r.field, "at");
        // Once, never after a discharge, never on a signed session; the
        // ended session may then be signed.
        let ended = SessionFacts { discharged_at: Some(at), ..f };
        let r = end_early(&ended, None, EarlyEnd::LeftAgainstAdvice, "Left", None, ts(NOW)).expect_err("twice");
        assert_eq!(r.kind, RefusalKind::Conflict);
        sign(&ended).expect("an ended session is signed like a discharged one");
        let signed = SessionFacts { signed: true, ..ended };
        assert_eq!(
            end_early(&signed, None, EarlyEnd::LeftAgainstAdvice, "Left", None, ts(NOW)).expect_err("signed").field,
            "signed_at"
        );
    }
}
