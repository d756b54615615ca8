//! Safety rules of a dosing session: the pre-dose blood-pressure hold, the
//! thresholds that raise an alert during the dose, weight-based dose
//! computation, and the earliest discharge.
//!
//! The thresholds are the clinic's policy (`safety/policy.toml`), shipped as
//! unconfirmed defaults labelled "local policy".

use crate::DomainError;
use crate::instruments::Provenance;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

mod session;
pub use session::{
    ACCOMPANIED_BY_MAX, Administration, Checklist, DEFAULT_MONITORING_MINUTES, END_REASON_MAX, EarlyEnd,
    EarlyEndRecord, FUTURE_TOLERANCE, NewSession, OnSite, OpenSelfHarm, PRE_DOSE_NOTE_MAX, PregnancyTest, Readiness,
    SELF_HARM_REVIEW_MAX, SessionFacts, StartCommand, StartSnapshot, StockFacts, amend, charted_time, discharge,
    end_early, pre_dose_review, record_event, record_vitals, sign, start,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreDoseHold {
    pub systolic_at_least: u16,
    pub diastolic_at_least: u16,
    #[serde(flatten)]
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DuringLimits {
    pub systolic_at_least: u16,
    pub diastolic_at_least: u16,
    pub heart_rate_at_least: u16,
    pub heart_rate_at_most: u16,
    pub spo2_at_most: u8,
    pub respiratory_rate_at_most: u8,
    #[serde(flatten)]
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Sedation {
    /// At or below: an emergency (0: unresponsive).
    pub moaas_at_most: u8,
    /// At or below (and above the emergency level): deep sedation, an
    /// urgent safety alert.
    pub deep_at_most: u8,
    #[serde(flatten)]
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VitalsSchedule {
    /// IV: minutes between readings while the infusion runs (its length is
    /// the protocol's `infusion_minutes`).
    pub iv_during_infusion_every_minutes: u32,
    /// IV: minutes between readings after the infusion, until discharge.
    pub iv_after_every_minutes: u32,
    /// IM and sublingual: minutes between readings until discharge.
    pub im_every_minutes: u32,
    pub sublingual_every_minutes: u32,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// When the next vital signs are due, and why in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VitalsDue {
    pub at: Timestamp,
    pub why: String,
}

impl VitalsSchedule {
    /// The next reading due during a dose given by `route` at `started`,
    /// monitored for `monitoring_minutes`, infused over `infusion_minutes`
    /// (the protocol's, for IV; unknown: the during-infusion interval
    /// throughout, the more frequent), with readings taken at
    /// `readings` (each with whether it had a blood pressure), in time
    /// order. Intranasal esketamine follows the REMS: a blood pressure about
    /// 40 minutes after the dose (one taken 25-60 minutes after counts),
    /// then one before the monitoring ends. Other routes: every
    /// `*_every_minutes` of the clinic's policy after the last reading (IV:
    /// the during-infusion interval while the infusion runs, then the
    /// after-infusion one).
    pub fn next_due(
        &self,
        route: &str,
        started: Timestamp,
        monitoring_minutes: i64,
        infusion_minutes: Option<u32>,
        readings: &[(Timestamp, bool)],
    ) -> VitalsDue {
        let mins = |m: i64| started + SignedDuration::from_mins(m);
        if route == "intranasal" {
            let has_bp = |from: i64, to: i64| {
                readings.iter().any(|(at, bp)| *bp && (from..=to).contains(&at.duration_since(started).as_mins()))
            };
            if !has_bp(25, 60) {
                return VitalsDue { at: mins(40), why: "blood pressure about 40 minutes after the dose, REMS".into() };
            }
            return VitalsDue {
                at: mins(monitoring_minutes - 10),
                why: "blood pressure before the session ends, REMS".into(),
            };
        }
        let last = readings.last().map(|r| r.0).unwrap_or(started);
        let infusing = infusion_minutes.is_none_or(|m| last < mins(i64::from(m)));
        let (every, what) = match route {
            "iv" if infusing => (self.iv_during_infusion_every_minutes, "during the infusion"),
            "iv" => (self.iv_after_every_minutes, "after the infusion"),
            "im" => (self.im_every_minutes, "after an IM dose"),
            _ => (self.sublingual_every_minutes, "after a sublingual dose"),
        };
        let every = i64::from(every);
        VitalsDue {
            at: last + SignedDuration::from_mins(every),
            why: format!("every {every} minutes {what}, local policy"),
        }
    }
}

/// The clinic's dosing-session safety policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SafetyPolicy {
    pub pre_dose_hold: PreDoseHold,
    pub during: DuringLimits,
    pub sedation: Sedation,
    pub vitals: VitalsSchedule,
    /// The esketamine REMS requirements (all on when the file has none).
    #[serde(default)]
    pub rems: crate::rems::Requirements,
}

/// The shipped defaults.
pub const SHIPPED: &str = include_str!("../../../../safety/policy.toml");

/// One set of vital signs; any may be missing from a given reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Vitals {
    #[cfg_attr(feature = "openapi", schema(minimum = 50, maximum = 300))]
    pub systolic: Option<u16>,
    #[cfg_attr(feature = "openapi", schema(minimum = 20, maximum = 200))]
    pub diastolic: Option<u16>,
    #[cfg_attr(feature = "openapi", schema(minimum = 20, maximum = 250))]
    pub heart_rate: Option<u16>,
    #[cfg_attr(feature = "openapi", schema(minimum = 50, maximum = 100))]
    pub spo2: Option<u8>,
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 60))]
    pub respiratory_rate: Option<u8>,
    /// Modified Observer's Assessment of Alertness/Sedation, 0-5 (5 = alert).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 5))]
    pub moaas: Option<u8>,
}

impl Vitals {
    /// Plausible ranges; errors name the field.
    pub fn validate(&self) -> Result<(), DomainError> {
        let check = |v: Option<u16>, lo: u16, hi: u16, field: &str, what: &str| match v {
            Some(x) if !(lo..=hi).contains(&x) => {
                Err(DomainError::invalid(field, format!("{what} must be between {lo} and {hi}")))
            }
            _ => Ok(()),
        };
        check(self.systolic, 50, 300, "systolic", "systolic blood pressure (mmHg)")?;
        check(self.diastolic, 20, 200, "diastolic", "diastolic blood pressure (mmHg)")?;
        check(self.heart_rate, 20, 250, "heart_rate", "heart rate (per minute)")?;
        check(self.spo2.map(u16::from), 50, 100, "spo2", "SpO2 (%)")?;
        check(self.respiratory_rate.map(u16::from), 0, 60, "respiratory_rate", "respiratory rate (per minute)")?;
        check(self.moaas.map(u16::from), 0, 5, "moaas", "MOAA/S")?;
        if let (Some(s), Some(d)) = (self.systolic, self.diastolic)
            && d >= s
        {
            return Err(DomainError::invalid("diastolic", "diastolic must be below systolic"));
        }
        if self == &Vitals::default() {
            return Err(DomainError::invalid("vitals", "record at least one vital sign"));
        }
        Ok(())
    }
}

/// A threshold a reading crossed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VitalAlert {
    /// The field: `systolic`, `heart_rate`, `moaas`, ...
    pub sign: &'static str,
    pub value: u16,
    pub message: String,
    /// MOAA/S at the emergency level.
    pub emergency: bool,
}

impl SafetyPolicy {
    pub fn from_toml(text: &str) -> Result<SafetyPolicy, DomainError> {
        let p: SafetyPolicy = toml::from_str(text).map_err(|e| DomainError::invalid("safety_policy", e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    pub fn shipped() -> Result<SafetyPolicy, DomainError> {
        SafetyPolicy::from_toml(SHIPPED)
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        let d = &self.during;
        if self.pre_dose_hold.systolic_at_least >= d.systolic_at_least {
            return Err(DomainError::invalid(
                "pre_dose_hold.systolic_at_least",
                "the pre-dose hold must be below the during-dose alert level",
            ));
        }
        if d.heart_rate_at_most >= d.heart_rate_at_least {
            return Err(DomainError::invalid(
                "during.heart_rate_at_most",
                "the low heart-rate limit must be below the high one",
            ));
        }
        if d.spo2_at_most > 100 {
            return Err(DomainError::invalid("during.spo2_at_most", "SpO2 is a percentage"));
        }
        let sd = &self.sedation;
        if sd.moaas_at_most > 5 || sd.deep_at_most > 5 {
            return Err(DomainError::invalid("sedation.deep_at_most", "MOAA/S runs 0-5"));
        }
        if sd.deep_at_most < sd.moaas_at_most {
            return Err(DomainError::invalid(
                "sedation.deep_at_most",
                "the deep-sedation level must be at or above the emergency level",
            ));
        }
        let v = &self.vitals;
        for (value, field) in [
            (v.iv_during_infusion_every_minutes, "vitals.iv_during_infusion_every_minutes"),
            (v.iv_after_every_minutes, "vitals.iv_after_every_minutes"),
            (v.im_every_minutes, "vitals.im_every_minutes"),
            (v.sublingual_every_minutes, "vitals.sublingual_every_minutes"),
        ] {
            if !(1..=120).contains(&value) {
                return Err(DomainError::invalid(field, "must be 1 to 120 minutes"));
            }
        }
        self.rems.validate()
    }

    /// Whether the pre-dose blood pressure holds the dose (a prescriber's
    /// override with a reason lets it start). `None`: no hold.
    pub fn pre_dose_hold(&self, v: &Vitals) -> Option<String> {
        let h = &self.pre_dose_hold;
        let mut crossed = Vec::new();
        if let Some(s) = v.systolic.filter(|s| *s >= h.systolic_at_least) {
            crossed.push(format!("systolic {s}"));
        }
        if let Some(d) = v.diastolic.filter(|d| *d >= h.diastolic_at_least) {
            crossed.push(format!("diastolic {d}"));
        }
        if crossed.is_empty() {
            return None;
        }
        let show = |x: Option<u16>| x.map(|x| x.to_string()).unwrap_or_else(|| "?".into());
        Some(format!(
            "blood pressure {}/{}: {} {} at or above the hold level {}/{} (local policy)",
            show(v.systolic),
            show(v.diastolic),
            crossed.join(" and "),
            if crossed.len() == 1 { "is" } else { "are" },
            h.systolic_at_least,
            h.diastolic_at_least
        ))
    }

    /// The thresholds a reading during the dose crossed.
    pub fn alerts(&self, v: &Vitals) -> Vec<VitalAlert> {
        let d = &self.during;
        let mut out = Vec::new();
        let mut push = |sign: &'static str, value: u16, message: String, emergency: bool| {
            out.push(VitalAlert { sign, value, message, emergency });
        };
        if let Some(x) = v.systolic.filter(|x| *x >= d.systolic_at_least) {
            push("systolic", x, format!("systolic {x} at or above {}", d.systolic_at_least), false);
        }
        if let Some(x) = v.diastolic.filter(|x| *x >= d.diastolic_at_least) {
            push("diastolic", x, format!("diastolic {x} at or above {}", d.diastolic_at_least), false);
        }
        if let Some(x) = v.heart_rate.filter(|x| *x >= d.heart_rate_at_least) {
            push("heart_rate", x, format!("heart rate {x} at or above {}", d.heart_rate_at_least), false);
        }
        if let Some(x) = v.heart_rate.filter(|x| *x <= d.heart_rate_at_most) {
            push("heart_rate", x, format!("heart rate {x} at or below {}", d.heart_rate_at_most), false);
        }
        if let Some(x) = v.spo2.filter(|x| *x <= d.spo2_at_most) {
            push("spo2", u16::from(x), format!("SpO2 {x}% at or below {}%", d.spo2_at_most), false);
        }
        if let Some(x) = v.respiratory_rate.filter(|x| *x <= d.respiratory_rate_at_most) {
            push(
                "respiratory_rate",
                u16::from(x),
                format!("respiratory rate {x} at or below {}", d.respiratory_rate_at_most),
                false,
            );
        }
        match v.moaas {
            Some(x) if x <= self.sedation.moaas_at_most => {
                push("moaas", u16::from(x), format!("MOAA/S {x}: unresponsive, an emergency"), true);
            }
            Some(x) if x <= self.sedation.deep_at_most => {
                push(
                    "moaas",
                    u16::from(x),
                    format!("MOAA/S {x}: deep sedation (at or below {})", self.sedation.deep_at_most),
                    false,
                );
            }
            _ => {}
        }
        out
    }
}

/// A weight-based dose in mg, to 0.1 mg (half away from zero).
pub fn dose_mg(mg_per_kg: f64, weight_kg: f64) -> Result<f64, DomainError> {
    if !(0.0..=5.0).contains(&mg_per_kg) || mg_per_kg == 0.0 {
        return Err(DomainError::invalid("mg_per_kg", "the dose must be above 0 and at most 5 mg/kg"));
    }
    if !(20.0..=350.0).contains(&weight_kg) {
        return Err(DomainError::invalid("weight_kg", "today's weight must be between 20 and 350 kg"));
    }
    Ok((mg_per_kg * weight_kg * 10.0).round() / 10.0)
}

crate::text_enum! {
    /// How bad a side effect or adverse event was.
    pub enum Severity {
        Mild = "mild",
        Moderate = "moderate",
        Severe = "severe",
        LifeThreatening = "life_threatening",
    }
}

crate::text_enum! {
    /// Side effects commonly seen with ketamine and esketamine (label and
    /// trial reports); `other` takes a description.
    pub enum SideEffectKind {
        Nausea = "nausea",
        Vomiting = "vomiting",
        Dizziness = "dizziness",
        Headache = "headache",
        Anxiety = "anxiety",
        Dissociation = "dissociation",
        Sedation = "sedation",
        BlurredVision = "blurred_vision",
        ElevatedBloodPressure = "elevated_blood_pressure",
        RespiratoryDepression = "respiratory_depression",
        Other = "other",
    }
}

/// Something observed during a dosing session besides vital signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SessionEvent {
    /// The CADSS-6 total (six items scored 0-4: 0-24), rated from the
    /// clinic's own copy of the scale.
    Dissociation {
        #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 24))]
        cadss6: u8,
    },
    SideEffect {
        effect: SideEffectKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::text::OptionalText500>))]
        description: Option<String>,
        severity: Severity,
        /// What was done, e.g. "ondansetron 4 mg IV", "infusion paused 5 min".
        #[cfg_attr(feature = "openapi", schema(value_type = crate::text::Text500))]
        action: String,
    },
    AdverseEvent {
        #[cfg_attr(feature = "openapi", schema(value_type = crate::text::Text2000))]
        description: String,
        severity: Severity,
        /// Serious: death, life-threatening, hospitalisation, disability.
        serious: bool,
        #[cfg_attr(feature = "openapi", schema(value_type = crate::text::Text1000))]
        action: String,
        #[cfg_attr(feature = "openapi", schema(value_type = crate::text::Text1000))]
        outcome: String,
    },
}

impl SessionEvent {
    /// Errors name the field.
    pub fn validate(&self) -> Result<(), DomainError> {
        match self {
            SessionEvent::Dissociation { cadss6 } => {
                if *cadss6 > 24 {
                    return Err(DomainError::invalid("cadss6", "the CADSS-6 total runs from 0 to 24"));
                }
            }
            SessionEvent::SideEffect { effect, description, action, .. } => {
                crate::text::optional("description", description.as_deref(), 500)?;
                if *effect == SideEffectKind::Other && description.as_deref().is_none_or(|d| d.trim().is_empty()) {
                    return Err(DomainError::invalid("description", "describe the side effect"));
                }
                crate::text::required("action", action, 500)?;
            }
            SessionEvent::AdverseEvent { description, action, outcome, .. } => {
                crate::text::required("description", description, 2000)?;
                crate::text::required("action", action, 1000)?;
                crate::text::required("outcome", outcome, 1000)?;
            }
        }
        Ok(())
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SessionEvent::Dissociation { .. } => "dissociation",
            SessionEvent::SideEffect { .. } => "side_effect",
            SessionEvent::AdverseEvent { .. } => "adverse_event",
        }
    }

    /// One line for the chart.
    pub fn summary(&self) -> String {
        match self {
            SessionEvent::Dissociation { cadss6 } => format!("Dissociation: CADSS-6 {cadss6}/24"),
            SessionEvent::SideEffect { effect, description, severity, action } => format!(
                "Side effect: {}{} ({}); action: {action}",
                effect.as_str().replace('_', " "),
                description.as_deref().map(|d| format!(", {d}")).unwrap_or_default(),
                severity.as_str().replace('_', "-"),
            ),
            SessionEvent::AdverseEvent { description, severity, serious, action, outcome } => format!(
                "{}adverse event ({}): {description}; action: {action}; outcome: {outcome}",
                if *serious { "SERIOUS " } else { "" },
                severity.as_str().replace('_', "-"),
            ),
        }
    }
}

crate::text_enum! {
    /// The parts of a signed session an amendment may correct.
    pub enum AmendedPart {
        Checklist = "checklist",
        Dose = "dose",
        Vitals = "vitals",
        Observations = "observations",
        Discharge = "discharge",
        Other = "other",
    }
}

/// A correction to a signed session: the original stays, the amendment is
/// shown with it (who, when, why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Amendment {
    pub part: AmendedPart,
    /// What the record should have said.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::text::Text2000))]
    pub correction: String,
    /// Why.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::text::Text1000))]
    pub reason: String,
}

impl Amendment {
    pub fn validate(&self) -> Result<(), DomainError> {
        crate::text::required("correction", &self.correction, 2000)?;
        crate::text::required("reason", &self.reason, 1000)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SafetyPolicy {
        SafetyPolicy::shipped().expect("shipped policy loads")
    }

    fn bp(s: u16, d: u16) -> Vitals {
        Vitals { systolic: Some(s), diastolic: Some(d), ..Vitals::default() }
    }

    #[test]
    fn vital_signs_are_due_by_the_routes_cadence() {
        let v = policy().vitals;
        // The shipped values agree with their cited series: IV every 10 min
        // during the 40-minute infusion, every 15 after.
        assert_eq!((v.iv_during_infusion_every_minutes, v.iv_after_every_minutes), (10, 15));
        assert!(v.provenance.source.contains("every 10 min during and 15 min after") && !v.provenance.confirmed);
        let t0: Timestamp = "2026-12-04T14:00:00Z".parse().expect("ts");
        let at = |m: i64| t0 + SignedDuration::from_mins(m);
        let due = |route: &str, readings: &[(i64, bool)]| {
            let r: Vec<(Timestamp, bool)> = readings.iter().map(|(m, bp)| (at(*m), *bp)).collect();
            let d = v.next_due(route, t0, 120, (route == "iv").then_some(40), &r);
            (d.at.duration_since(t0).as_mins(), d.why)
        };
        // IV: 10 minutes after the start, after a reading at 30 (infusion
        // running), then 15 after one at 40 (infusion over).
        assert_eq!(due("iv", &[]), (10, "every 10 minutes during the infusion, local policy".into()));
        assert_eq!(due("iv", &[(10, true), (20, true), (30, true)]).0, 40);
        assert_eq!(
            due("iv", &[(10, true), (40, true)]),
            (55, "every 15 minutes after the infusion, local policy".into())
        );
        // The infusion's length is the protocol's: a 100-minute infusion is
        // still running at 40 minutes.
        let r = [(at(40), true)];
        assert_eq!(v.next_due("iv", t0, 120, Some(100), &r).at, at(50));
        // An IV dose whose infusion time is unknown (outside the protocol
        // library): the more frequent interval throughout.
        assert_eq!(v.next_due("iv", t0, 120, None, &[(at(90), true)]).at, at(100));
        // IM and sublingual: every 15 minutes after the last reading.
        assert_eq!(due("im", &[(20, true)]).0, 35);
        assert_eq!(due("sublingual", &[]).0, 15);
        // Intranasal esketamine (REMS): about 40 minutes after the dose; a
        // blood pressure at 25-60 minutes counts, a pulse-only reading does
        // not; then one before the 120-minute monitoring ends.
        assert_eq!(due("intranasal", &[]).0, 40);
        assert_eq!(due("intranasal", &[(30, false)]).0, 40);
        assert_eq!(due("intranasal", &[(24, true)]).0, 40);
        assert_eq!(due("intranasal", &[(41, true)]), (110, "blood pressure before the session ends, REMS".into()));
    }

    #[test]
    fn a_vitals_cadence_out_of_range_is_refused_naming_it() {
        let mut p = policy();
        p.vitals.iv_after_every_minutes = 0;
        assert_eq!(p.validate().expect_err("zero").field(), "vitals.iv_after_every_minutes");
    }

    #[test]
    fn the_pre_dose_hold_starts_at_each_edge() {
        let p = policy();
        assert_eq!(p.pre_dose_hold(&bp(139, 89)), None);
        assert_eq!(
            p.pre_dose_hold(&bp(140, 80)).as_deref(),
            Some("blood pressure 140/80: systolic 140 is at or above the hold level 140/90 (local policy)")
        );
        assert_eq!(
            p.pre_dose_hold(&bp(130, 95)).as_deref(),
            Some("blood pressure 130/95: diastolic 95 is at or above the hold level 140/90 (local policy)")
        );
        assert!(p.pre_dose_hold(&bp(186, 112)).is_some_and(|m| m.contains("systolic 186 and diastolic 112 are")));
        assert!(p.pre_dose_hold(&bp(150, 95)).is_some_and(|m| m.contains("local policy")));
    }

    #[test]
    fn during_dose_alerts_at_each_threshold_edge() {
        let p = policy();
        let signs = |v: Vitals| p.alerts(&v).iter().map(|a| a.sign).collect::<Vec<_>>();
        assert!(signs(bp(179, 99)).is_empty());
        assert_eq!(signs(bp(180, 99)), vec!["systolic"]);
        assert_eq!(signs(bp(170, 100)), vec!["diastolic"]);
        let hr = |x| Vitals { heart_rate: Some(x), ..Vitals::default() };
        assert!(signs(hr(109)).is_empty() && signs(hr(46)).is_empty());
        assert_eq!(signs(hr(110)), vec!["heart_rate"]);
        assert_eq!(signs(hr(45)), vec!["heart_rate"]);
        let spo2 = |x| Vitals { spo2: Some(x), ..Vitals::default() };
        assert!(signs(spo2(93)).is_empty());
        assert_eq!(signs(spo2(92)), vec!["spo2"]);
        let rr = |x| Vitals { respiratory_rate: Some(x), ..Vitals::default() };
        assert!(signs(rr(9)).is_empty());
        assert_eq!(signs(rr(8)), vec!["respiratory_rate"]);
        let m = |x| Vitals { moaas: Some(x), ..Vitals::default() };
        assert!(signs(m(3)).is_empty());
        assert_eq!(signs(m(2)), vec!["moaas"], "deep sedation");
        let a = p.alerts(&m(0));
        assert_eq!((a.len(), a[0].emergency), (1, true));
    }

    #[test]
    fn weight_based_doses_are_computed_to_a_tenth_of_a_milligram() {
        assert_eq!(dose_mg(0.5, 72.5).expect("dose"), 36.3); // 36.25 -> 36.3
        assert_eq!(dose_mg(0.5, 70.0).expect("dose"), 35.0);
        assert_eq!(dose_mg(0.75, 81.3).expect("dose"), 61.0); // 60.975 -> 61.0
        assert_eq!(dose_mg(0.0, 70.0).expect_err("zero").field(), "mg_per_kg");
        assert_eq!(dose_mg(6.0, 70.0).expect_err("too much").field(), "mg_per_kg");
        assert_eq!(dose_mg(0.5, 0.0).expect_err("weight").field(), "weight_kg");
    }

    #[test]
    fn readings_and_policies_are_validated_naming_the_field() {
        assert_eq!(Vitals::default().validate().expect_err("empty").field(), "vitals");
        assert_eq!(bp(120, 130).validate().expect_err("dia>sys").field(), "diastolic");
        assert_eq!(Vitals { spo2: Some(101), ..Vitals::default() }.validate().expect_err("spo2").field(), "spo2");
        bp(120, 80).validate().expect("valid");
        let bad = SHIPPED.replace("systolic_at_least = 140", "systolic_at_least = 190");
        assert_eq!(
            SafetyPolicy::from_toml(&bad).expect_err("hold above alert").field(),
            "pre_dose_hold.systolic_at_least"
        );
        let bad = SHIPPED.replace("heart_rate_at_most = 45", "heart_rate_at_most = 120");
        assert_eq!(SafetyPolicy::from_toml(&bad).expect_err("hr").field(), "during.heart_rate_at_most");
        assert!(!policy().during.provenance.confirmed, "thresholds ship as unconfirmed local policy");
    }

    #[test]
    fn session_events_are_validated_naming_the_field() {
        assert!(SessionEvent::Dissociation { cadss6: 24 }.validate().is_ok());
        assert_eq!(SessionEvent::Dissociation { cadss6: 25 }.validate().expect_err("25").field(), "cadss6");
        let other = SessionEvent::SideEffect {
            effect: SideEffectKind::Other,
            description: None,
            severity: Severity::Mild,
            action: "observed".into(),
        };
        assert_eq!(other.validate().expect_err("other needs words").field(), "description");
        let nausea = SessionEvent::SideEffect {
            effect: SideEffectKind::Nausea,
            description: None,
            severity: Severity::Moderate,
            action: " ".into(),
        };
        assert_eq!(nausea.validate().expect_err("action").field(), "action");
        let ae = SessionEvent::AdverseEvent {
            description: "vasovagal syncope on standing".into(),
            severity: Severity::Severe,
            serious: false,
            action: "supine, legs raised, observed 30 min".into(),
            outcome: String::new(),
        };
        assert_eq!(ae.validate().expect_err("outcome").field(), "outcome");
        let json = serde_json::json!({"kind": "side_effect", "effect": "nausea", "severity": "mild", "action": "none"});
        let parsed: SessionEvent = serde_json::from_value(json).expect("parses");
        assert!(parsed.summary().starts_with("Side effect: nausea (mild)"), "{}", parsed.summary());
    }

    #[test]
    fn an_amendment_says_what_and_why() {
        let a = Amendment { part: AmendedPart::Dose, correction: "lot KX-0042".into(), reason: String::new() };
        assert_eq!(a.validate().expect_err("reason").field(), "reason");
    }

    #[test]
    fn sedation_alerts_in_two_tiers_and_the_diastolic_limit_of_the_cited_source() {
        let p = SafetyPolicy::shipped().expect("policy");
        let sedation = |m: u8| {
            p.alerts(&Vitals { moaas: Some(m), ..Vitals::default() })
                .into_iter()
                .map(|a| (a.message, a.emergency))
                .collect::<Vec<_>>()
        };
        assert_eq!(sedation(0), vec![("MOAA/S 0: unresponsive, an emergency".to_string(), true)]);
        assert_eq!(sedation(1), vec![("MOAA/S 1: deep sedation (at or below 2)".to_string(), false)]);
        assert_eq!(sedation(2), vec![("MOAA/S 2: deep sedation (at or below 2)".to_string(), false)]);
        for m in 3..=5 {
            assert!(sedation(m).is_empty(), "MOAA/S {m}: no safety alert (discharge still waits for 5)");
        }
        let bp =
            |s: u16, d: u16| p.alerts(&Vitals { systolic: Some(s), diastolic: Some(d), ..Vitals::default() }).len();
        assert_eq!((bp(150, 99), bp(150, 100), bp(180, 100)), (0, 1, 2), "180/100, as cited");
        let mut bad = p.clone();
        bad.sedation.deep_at_most = 0;
        bad.sedation.moaas_at_most = 1;
        assert_eq!(bad.validate().expect_err("below the emergency level").field(), "sedation.deep_at_most");
    }
}
