//! The medical and psychiatric screen before any dose, the clinic's rules
//! that classify its findings, and the prescriber's signed eligibility
//! decision.
//!
//! Findings are typed ([`ScreenFindings`]); the rules that turn them into
//! contraindications are data (`screening/rules.toml`, clinic-editable):
//! each names the finding it looks at, its class (absolute contraindication,
//! relative contraindication needing a prescriber's rationale, or a note),
//! and its source. An eligibility decision is signed by a prescriber and is
//! refused when it is not supported: "eligible" with an absolute
//! contraindication, or with a relative one left without a rationale. No dose
//! may be charted for a course without a signed eligible screen
//! ([`may_chart_dose`]).

use crate::DomainError;
use crate::instruments::Provenance;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

crate::text_enum! {
    /// A history that may be absent, in the past, or current.
    pub enum History { None = "none", Past = "past", Current = "current" }
}

crate::text_enum! {
    pub enum Pregnancy { NotApplicable = "not_applicable", No = "no", Yes = "yes", Unknown = "unknown" }
}

crate::text_enum! {
    /// Medicines that matter for ketamine, by class.
    pub enum MedicationClass {
        Benzodiazepine = "benzodiazepine",
        Maoi = "maoi",
        Stimulant = "stimulant",
        Lamotrigine = "lamotrigine",
        Opioid = "opioid",
        OtherSedative = "other_sedative",
    }
}

/// What the screen found. Every field is required, so nothing is skipped
/// by omission: "none" and "no" are answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScreenFindings {
    /// Working diagnosis, e.g. "Major depressive disorder, treatment-resistant".
    #[cfg_attr(feature = "openapi", schema(min_length = 1, pattern = "\\S"))]
    pub diagnosis: String,
    /// Prior treatments tried (medicines, ECT, psychotherapies).
    pub prior_treatments: Vec<String>,
    pub psychosis: History,
    /// Substance use disorder.
    pub substance_use: History,
    /// Significant cardiovascular disease (including uncontrolled hypertension).
    pub cardiovascular_disease: bool,
    #[cfg_attr(feature = "openapi", schema(minimum = 60, maximum = 300))]
    pub systolic_bp: u16,
    #[cfg_attr(feature = "openapi", schema(minimum = 30, maximum = 200))]
    pub diastolic_bp: u16,
    #[cfg_attr(feature = "openapi", schema(minimum = 25, maximum = 250))]
    pub heart_rate: u16,
    pub pregnancy: Pregnancy,
    pub raised_intracranial_pressure: bool,
    /// Aneurysmal vascular disease (aortic, intracranial, peripheral) or an
    /// arteriovenous malformation.
    pub aneurysmal_vascular_disease: bool,
    pub intracerebral_haemorrhage_history: bool,
    pub medications: Vec<MedicationClass>,
    #[cfg_attr(feature = "openapi", schema(minimum = 20, maximum = 350))]
    pub weight_kg: f64,
    /// Free text, e.g. "penicillin (rash)"; "none known" is an answer.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, pattern = "\\S"))]
    pub allergies: String,
    pub ketamine_hypersensitivity: bool,
    /// Written consent to off-label use recorded.
    pub off_label_consent: bool,
}

impl ScreenFindings {
    /// Checks the findings themselves; errors name the field.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.diagnosis.trim().is_empty() {
            return Err(DomainError::invalid("diagnosis", "diagnosis is required"));
        }
        if self.allergies.trim().is_empty() {
            return Err(DomainError::invalid("allergies", "record the allergies, or \"none known\""));
        }
        if !(20.0..=350.0).contains(&self.weight_kg) {
            return Err(DomainError::invalid("weight_kg", "weight must be between 20 and 350 kg"));
        }
        if !(60..=300).contains(&self.systolic_bp) {
            return Err(DomainError::invalid("systolic_bp", "systolic blood pressure must be between 60 and 300 mmHg"));
        }
        if !(30..=200).contains(&self.diastolic_bp) || self.diastolic_bp >= self.systolic_bp {
            return Err(DomainError::invalid(
                "diastolic_bp",
                "diastolic blood pressure must be between 30 and 200 mmHg and below the systolic",
            ));
        }
        if !(25..=250).contains(&self.heart_rate) {
            return Err(DomainError::invalid("heart_rate", "heart rate must be between 25 and 250 per minute"));
        }
        Ok(())
    }
}

crate::text_enum! {
    /// How a finding bears on eligibility.
    pub enum Class {
        /// No dose may be given.
        Absolute = "absolute",
        /// A dose may be given only with the prescriber's written rationale.
        Relative = "relative",
        /// Recorded and shown; no decision needed.
        Note = "note",
    }
}

/// When a rule applies: one finding compared with a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, tag = "test", rename_all = "snake_case")]
pub enum Condition {
    /// A yes/no finding is true.
    IsTrue { field: String },
    /// A history or pregnancy finding has one of these values.
    OneOf { field: String, values: Vec<String> },
    /// A number is at least this.
    AtLeast { field: String, value: f64 },
    /// The medication list holds this class.
    Takes { class: MedicationClass },
}

const FLAGS: [&str; 7] = [
    "cardiovascular_disease",
    "raised_intracranial_pressure",
    "aneurysmal_vascular_disease",
    "intracerebral_haemorrhage_history",
    "ketamine_hypersensitivity",
    "no_off_label_consent",
    "no_prior_treatment",
];
const CHOICES: [&str; 3] = ["psychosis", "substance_use", "pregnancy"];
const NUMBERS: [&str; 4] = ["systolic_bp", "diastolic_bp", "heart_rate", "weight_kg"];

impl Condition {
    fn check(&self, at: &str) -> Result<(), DomainError> {
        let bad = |reason: String| Err(DomainError::invalid(at, reason));
        match self {
            Condition::IsTrue { field } if !FLAGS.contains(&field.as_str()) => {
                bad(format!("`{field}` is not a yes/no finding; use one of {}", FLAGS.join(", ")))
            }
            Condition::OneOf { field, values } => {
                let allowed: Vec<&str> = match field.as_str() {
                    "psychosis" | "substance_use" => History::ALL.iter().map(|h| h.as_str()).collect(),
                    "pregnancy" => Pregnancy::ALL.iter().map(|p| p.as_str()).collect(),
                    _ => return bad(format!("`{field}` is not a choice finding; use one of {}", CHOICES.join(", "))),
                };
                match values.iter().find(|v| !allowed.contains(&v.as_str())) {
                    Some(v) => bad(format!("`{v}` is not a value of {field}: {}", allowed.join(", "))),
                    None if values.is_empty() => bad("give at least one value".into()),
                    None => Ok(()),
                }
            }
            Condition::AtLeast { field, .. } if !NUMBERS.contains(&field.as_str()) => {
                bad(format!("`{field}` is not a number finding; use one of {}", NUMBERS.join(", ")))
            }
            _ => Ok(()),
        }
    }

    fn holds(&self, f: &ScreenFindings, off_label: bool) -> bool {
        match self {
            Condition::IsTrue { field } => match field.as_str() {
                "cardiovascular_disease" => f.cardiovascular_disease,
                "raised_intracranial_pressure" => f.raised_intracranial_pressure,
                "aneurysmal_vascular_disease" => f.aneurysmal_vascular_disease,
                "intracerebral_haemorrhage_history" => f.intracerebral_haemorrhage_history,
                "ketamine_hypersensitivity" => f.ketamine_hypersensitivity,
                // Consent to off-label treatment: only an off-label course asks for it.
                "no_off_label_consent" => off_label && !f.off_label_consent,
                "no_prior_treatment" => f.prior_treatments.iter().all(|t| t.trim().is_empty()),
                _ => false,
            },
            Condition::OneOf { field, values } => {
                let v = match field.as_str() {
                    "psychosis" => f.psychosis.as_str(),
                    "substance_use" => f.substance_use.as_str(),
                    "pregnancy" => f.pregnancy.as_str(),
                    _ => return false,
                };
                values.iter().any(|x| x == v)
            }
            Condition::AtLeast { field, value } => {
                let v = match field.as_str() {
                    "systolic_bp" => f64::from(f.systolic_bp),
                    "diastolic_bp" => f64::from(f.diastolic_bp),
                    "heart_rate" => f64::from(f.heart_rate),
                    "weight_kg" => f.weight_kg,
                    _ => return false,
                };
                v >= *value
            }
            Condition::Takes { class } => f.medications.contains(class),
        }
    }
}

/// One clinic rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub when: Condition,
    pub class: Class,
    pub message: String,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// The clinic's screening rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

/// The rules Kairos ships (clinic-editable defaults).
pub const SHIPPED: &str = include_str!("../../../screening/rules.toml");

impl Rules {
    pub fn from_toml(text: &str) -> Result<Rules, DomainError> {
        let rules: Rules = toml::from_str(text).map_err(|e| DomainError::invalid("screening", e.to_string()))?;
        rules.validate()?;
        Ok(rules)
    }

    pub fn shipped() -> Result<Rules, DomainError> {
        Rules::from_toml(SHIPPED)
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        let mut seen = std::collections::HashSet::new();
        for (n, r) in self.rules.iter().enumerate() {
            if r.id.is_empty() || !r.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                return Err(DomainError::invalid(format!("rules[{n}].id"), "use lower-case letters, digits and _"));
            }
            if !seen.insert(r.id.as_str()) {
                return Err(DomainError::invalid(format!("rules[{n}].id"), format!("rule `{}` appears twice", r.id)));
            }
            if r.message.trim().is_empty() {
                return Err(DomainError::invalid(format!("rules[{n}].message"), "say what the finding means"));
            }
            r.when.check(&format!("rules[{n}].when"))?;
        }
        Ok(())
    }

    /// The rules that apply to these findings, absolute ones first, for a
    /// course whose protocol is off-label (`off_label`) or the drug's
    /// labelled use.
    pub fn classify(&self, f: &ScreenFindings, off_label: bool) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .rules
            .iter()
            .filter(|r| r.when.holds(f, off_label))
            .map(|r| Finding {
                rule: r.id.clone(),
                class: r.class,
                message: r.message.clone(),
                source: r.provenance.source.clone(),
                confirmed: r.provenance.confirmed,
            })
            .collect();
        out.sort_by_key(|x| x.class);
        out
    }
}

/// A rule that applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    pub rule: String,
    pub class: Class,
    pub message: String,
    pub source: String,
    pub confirmed: bool,
}

/// What the prescriber decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub eligible: bool,
    /// Per relative contraindication (by rule id): why dosing is still
    /// appropriate and what precautions are taken.
    #[serde(default)]
    pub rationales: BTreeMap<String, String>,
    /// Required when not eligible; optional otherwise.
    #[serde(default)]
    pub note: Option<String>,
}

impl Decision {
    /// Checks that the decision is supported by the findings; errors name
    /// the field. A rationale given for a finding that did not apply is
    /// refused too, so that nothing signed is about something else.
    pub fn check(&self, findings: &[Finding]) -> Result<(), DomainError> {
        if self.eligible {
            if let Some(a) = findings.iter().find(|f| f.class == Class::Absolute) {
                return Err(DomainError::invalid(
                    "eligible",
                    format!("cannot sign eligible: absolute contraindication `{}`: {}", a.rule, a.message),
                ));
            }
            for f in findings.iter().filter(|f| f.class == Class::Relative) {
                if self.rationales.get(&f.rule).is_none_or(|r| r.trim().is_empty()) {
                    return Err(DomainError::invalid(
                        format!("rationales.{}", f.rule),
                        format!(
                            "relative contraindication `{}` needs the prescriber's rationale: {}",
                            f.rule, f.message
                        ),
                    ));
                }
            }
        } else if self.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(DomainError::invalid("note", "say why the client is not eligible"));
        }
        if let Some(k) =
            self.rationales.keys().find(|k| !findings.iter().any(|f| &f.rule == *k && f.class == Class::Relative))
        {
            return Err(DomainError::invalid(
                format!("rationales.{k}"),
                format!("`{k}` is not a relative contraindication of this screen"),
            ));
        }
        Ok(())
    }
}

/// The state of a course's screening, as dosing needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenStatus {
    None,
    /// Recorded but not yet signed by a prescriber.
    Unsigned,
    SignedIneligible,
    SignedEligible,
}

/// No dose may be charted for a course without a signed eligible screen.
pub fn may_chart_dose(status: ScreenStatus) -> Result<(), DomainError> {
    let reason = match status {
        ScreenStatus::SignedEligible => return Ok(()),
        ScreenStatus::None => "no screen has been recorded for this course",
        ScreenStatus::Unsigned => "the screen has not been signed by a prescriber",
        ScreenStatus::SignedIneligible => "the prescriber signed the client as not eligible",
    };
    Err(DomainError::invalid("course_id", format!("no dose may be charted: {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clear() -> ScreenFindings {
        ScreenFindings {
            diagnosis: "Major depressive disorder, recurrent, treatment-resistant".into(),
            prior_treatments: vec!["sertraline 200 mg".into(), "venlafaxine 225 mg".into(), "CBT, 16 sessions".into()],
            psychosis: History::None,
            substance_use: History::None,
            cardiovascular_disease: false,
            systolic_bp: 124,
            diastolic_bp: 78,
            heart_rate: 72,
            pregnancy: Pregnancy::No,
            raised_intracranial_pressure: false,
            aneurysmal_vascular_disease: false,
            intracerebral_haemorrhage_history: false,
            medications: vec![],
            weight_kg: 70.0,
            allergies: "none known".into(),
            ketamine_hypersensitivity: false,
            off_label_consent: true,
        }
    }

    fn rules() -> Rules {
        Rules::shipped().expect("shipped rules load")
    }

    fn ids(f: &[Finding]) -> Vec<(&str, Class)> {
        f.iter().map(|x| (x.rule.as_str(), x.class)).collect()
    }

    #[test]
    fn a_clear_screen_has_no_findings_and_may_be_signed_eligible() {
        let f = rules().classify(&clear(), true);
        assert!(f.is_empty(), "{f:?}");
        Decision { eligible: true, rationales: BTreeMap::new(), note: None }.check(&f).expect("eligible");
    }

    #[test]
    fn label_contraindications_are_absolute_and_block_an_eligible_signature() {
        for flag in ["aneurysmal", "haemorrhage", "hypersensitivity", "consent"] {
            let mut s = clear();
            match flag {
                "aneurysmal" => s.aneurysmal_vascular_disease = true,
                "haemorrhage" => s.intracerebral_haemorrhage_history = true,
                "hypersensitivity" => s.ketamine_hypersensitivity = true,
                _ => s.off_label_consent = false,
            }
            let f = rules().classify(&s, true);
            assert_eq!(f.first().map(|x| x.class), Some(Class::Absolute), "{flag}: {f:?}");
            let err = Decision { eligible: true, rationales: BTreeMap::new(), note: None }.check(&f).expect_err(flag);
            assert_eq!(err.field(), "eligible");
            let no = Decision { eligible: false, rationales: BTreeMap::new(), note: Some("contraindicated".into()) };
            no.check(&f).expect("not eligible may be signed");
        }
    }

    #[test]
    fn blood_pressure_edges_of_the_local_policy_default() {
        // Default: baseline at or above 140 systolic or 90 diastolic is a relative contraindication.
        for (sys, dia, expect) in [(139, 89, false), (140, 80, true), (130, 90, true), (139, 90, true)] {
            let s = ScreenFindings { systolic_bp: sys, diastolic_bp: dia, ..clear() };
            let hit = rules()
                .classify(&s, true)
                .iter()
                .any(|x| x.rule.starts_with("baseline_bp") && x.class == Class::Relative);
            assert_eq!(hit, expect, "{sys}/{dia}");
        }
    }

    #[test]
    fn relative_contraindications_need_a_rationale_each() {
        let s = ScreenFindings { psychosis: History::Past, medications: vec![MedicationClass::Maoi], ..clear() };
        let f = rules().classify(&s, true);
        let relative: Vec<&str> = f.iter().filter(|x| x.class == Class::Relative).map(|x| x.rule.as_str()).collect();
        assert_eq!(relative.len(), 2, "{:?}", ids(&f));
        let mut d = Decision { eligible: true, rationales: BTreeMap::new(), note: None };
        let err = d.check(&f).expect_err("rationales needed");
        assert_eq!(err.field(), format!("rationales.{}", relative[0]));
        d.rationales.insert(relative[0].into(), "Single brief episode 12 years ago; no recurrence.".into());
        assert_eq!(d.check(&f).expect_err("second").field(), format!("rationales.{}", relative[1]));
        d.rationales.insert(relative[1].into(), "BP every 10 min; prescriber on site.".into());
        d.check(&f).expect("all explained");
        d.rationales.insert("pregnancy".into(), "n/a".into());
        assert_eq!(d.check(&f).expect_err("stray").field(), "rationales.pregnancy");
    }

    #[test]
    fn consent_to_off_label_treatment_is_asked_for_an_off_label_course_only() {
        let s = ScreenFindings { off_label_consent: false, ..clear() };
        let off = rules().classify(&s, true);
        assert!(off.iter().any(|x| x.rule == "no_off_label_consent" && x.class == Class::Absolute), "{:?}", ids(&off));
        let labelled = rules().classify(&s, false);
        assert!(!labelled.iter().any(|x| x.rule == "no_off_label_consent"), "{:?}", ids(&labelled));
        assert!(rules().classify(&clear(), true).iter().all(|x| x.rule != "no_off_label_consent"), "consent recorded");
    }

    #[test]
    fn notes_need_no_decision_and_findings_are_validated() {
        let s = ScreenFindings { medications: vec![MedicationClass::Lamotrigine], ..clear() };
        let f = rules().classify(&s, true);
        assert!(f.iter().all(|x| x.class == Class::Note) && !f.is_empty(), "{:?}", ids(&f));
        Decision { eligible: true, rationales: BTreeMap::new(), note: None }.check(&f).expect("notes only");
        let err = Decision { eligible: false, rationales: BTreeMap::new(), note: None }.check(&f).expect_err("why");
        assert_eq!(err.field(), "note");
        for (bad, field) in [
            (ScreenFindings { weight_kg: 0.0, ..clear() }, "weight_kg"),
            (ScreenFindings { diastolic_bp: 130, systolic_bp: 120, ..clear() }, "diastolic_bp"),
            (ScreenFindings { diagnosis: " ".into(), ..clear() }, "diagnosis"),
            (ScreenFindings { allergies: "".into(), ..clear() }, "allergies"),
        ] {
            assert_eq!(bad.validate().expect_err(field).field(), field);
        }
        clear().validate().expect("valid");
    }

    #[test]
    fn bad_rule_files_are_refused_naming_the_field() {
        let err =
            Rules::from_toml(&SHIPPED.replacen("field = \"psychosis\"", "field = \"psychosys\"", 1)).expect_err("typo");
        assert!(err.field().starts_with("rules[") && err.field().ends_with("].when"), "{}", err.field());
        let err =
            Rules::from_toml(&SHIPPED.replacen("class = \"absolute\"", "class = \"maybe\"", 1)).expect_err("class");
        assert_eq!(err.field(), "screening");
    }

    #[test]
    fn only_a_signed_eligible_screen_allows_a_dose() {
        may_chart_dose(ScreenStatus::SignedEligible).expect("allowed");
        for s in [ScreenStatus::None, ScreenStatus::Unsigned, ScreenStatus::SignedIneligible] {
            assert_eq!(may_chart_dose(s).expect_err("refused").field(), "course_id");
        }
    }
}
