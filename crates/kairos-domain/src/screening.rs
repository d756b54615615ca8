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
    /// Liver function by the Child-Pugh class (A mild, B moderate, C severe).
    pub enum HepaticImpairment { None = "none", Mild = "mild", Moderate = "moderate", Severe = "severe" }
}

crate::text_enum! {
    /// The result of a structured suicide-risk assessment at screening
    /// (e.g. the C-SSRS screener's triage: low, moderate, high).
    pub enum SuicideRisk { Low = "low", Moderate = "moderate", High = "high" }
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
    // The questions below were added to the screen later. Each is required
    // of a new screen (`validate`); a screen recorded before a question
    // existed reads back with it `None`: "not asked".
    /// Bipolar disorder or a history of mania or hypomania.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bipolar_or_mania: Option<History>,
    /// Hepatic impairment by Child-Pugh class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hepatic_impairment: Option<HepaticImpairment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breastfeeding: Option<bool>,
    /// Obstructive sleep apnoea, or a known difficult airway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_apnoea_or_airway: Option<bool>,
    /// Glaucoma or raised intraocular pressure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glaucoma: Option<bool>,
    /// The structured suicide-risk assessment's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suicide_risk: Option<SuicideRisk>,
}

/// The questions added to the screen after its first version: a new screen
/// answers each (field, what to record).
pub const LATER_QUESTIONS: [(&str, &str); 6] = [
    ("bipolar_or_mania", "record any bipolar disorder or mania: none, past or current"),
    ("hepatic_impairment", "record hepatic impairment: none, mild, moderate or severe (Child-Pugh A, B, C)"),
    ("breastfeeding", "record whether the client is breastfeeding"),
    ("sleep_apnoea_or_airway", "record whether the client has sleep apnoea or a difficult airway"),
    ("glaucoma", "record whether the client has glaucoma or raised eye pressure"),
    ("suicide_risk", "record the structured suicide-risk assessment: low, moderate or high"),
];

/// What a screen is classified against besides its findings: the course's
/// protocol and the client's age on the day of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    /// The protocol is off-label (or outside the library).
    pub off_label: bool,
    /// The client's age in whole years on the day of the screen.
    pub age_years: Option<i16>,
    /// The protocol's route (intranasal: esketamine).
    pub route: Option<crate::protocols::Route>,
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
        let answered = [
            self.bipolar_or_mania.is_some(),
            self.hepatic_impairment.is_some(),
            self.breastfeeding.is_some(),
            self.sleep_apnoea_or_airway.is_some(),
            self.glaucoma.is_some(),
            self.suicide_risk.is_some(),
        ];
        if let Some(((field, what), _)) = LATER_QUESTIONS.iter().zip(answered).find(|(_, a)| !a) {
            return Err(DomainError::invalid(*field, *what));
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
    /// The client is younger than `years` on the day of the screen, for a
    /// protocol by `route` (any route when none is given).
    AgeUnder {
        years: i16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        route: Option<crate::protocols::Route>,
    },
}

const FLAGS: [&str; 10] = [
    "cardiovascular_disease",
    "breastfeeding",
    "sleep_apnoea_or_airway",
    "glaucoma",
    "raised_intracranial_pressure",
    "aneurysmal_vascular_disease",
    "intracerebral_haemorrhage_history",
    "ketamine_hypersensitivity",
    "no_off_label_consent",
    "no_prior_treatment",
];
const CHOICES: [&str; 6] =
    ["psychosis", "substance_use", "pregnancy", "bipolar_or_mania", "hepatic_impairment", "suicide_risk"];
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
                    "psychosis" | "substance_use" | "bipolar_or_mania" => {
                        History::ALL.iter().map(|h| h.as_str()).collect()
                    }
                    "pregnancy" => Pregnancy::ALL.iter().map(|p| p.as_str()).collect(),
                    "hepatic_impairment" => HepaticImpairment::ALL.iter().map(|p| p.as_str()).collect(),
                    "suicide_risk" => SuicideRisk::ALL.iter().map(|p| p.as_str()).collect(),
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

    fn holds(&self, f: &ScreenFindings, ctx: &Context) -> bool {
        let off_label = ctx.off_label;
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
                "breastfeeding" => f.breastfeeding == Some(true),
                "sleep_apnoea_or_airway" => f.sleep_apnoea_or_airway == Some(true),
                "glaucoma" => f.glaucoma == Some(true),
                _ => false,
            },
            Condition::OneOf { field, values } => {
                let v = match field.as_str() {
                    "psychosis" => f.psychosis.as_str(),
                    "substance_use" => f.substance_use.as_str(),
                    "pregnancy" => f.pregnancy.as_str(),
                    "bipolar_or_mania" => match f.bipolar_or_mania {
                        Some(h) => h.as_str(),
                        None => return false,
                    },
                    "hepatic_impairment" => match f.hepatic_impairment {
                        Some(h) => h.as_str(),
                        None => return false,
                    },
                    "suicide_risk" => match f.suicide_risk {
                        Some(h) => h.as_str(),
                        None => return false,
                    },
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
            Condition::AgeUnder { years, route } => {
                ctx.age_years.is_some_and(|age| age < *years) && route.is_none_or(|r| ctx.route == Some(r))
            }
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
    /// course in `ctx`: off-label or the drug's labelled use, its route, the
    /// client's age.
    pub fn classify(&self, f: &ScreenFindings, ctx: &Context) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .rules
            .iter()
            .filter(|r| r.when.holds(f, ctx))
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
            bipolar_or_mania: Some(History::None),
            hepatic_impairment: Some(HepaticImpairment::None),
            breastfeeding: Some(false),
            sleep_apnoea_or_airway: Some(false),
            glaucoma: Some(false),
            suicide_risk: Some(SuicideRisk::Low),
        }
    }

    /// An off-label course (`true`) or the labelled use, adult, by IV.
    fn ctx(off_label: bool) -> Context {
        Context { off_label, age_years: Some(40), route: Some(crate::protocols::Route::Iv) }
    }

    fn rules() -> Rules {
        Rules::shipped().expect("shipped rules load")
    }

    fn ids(f: &[Finding]) -> Vec<(&str, Class)> {
        f.iter().map(|x| (x.rule.as_str(), x.class)).collect()
    }

    #[test]
    fn a_clear_screen_has_no_findings_and_may_be_signed_eligible() {
        let f = rules().classify(&clear(), &ctx(true));
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
            let f = rules().classify(&s, &ctx(true));
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
                .classify(&s, &ctx(true))
                .iter()
                .any(|x| x.rule.starts_with("baseline_bp") && x.class == Class::Relative);
            assert_eq!(hit, expect, "{sys}/{dia}");
        }
    }

    #[test]
    fn relative_contraindications_need_a_rationale_each() {
        let s = ScreenFindings { psychosis: History::Past, medications: vec![MedicationClass::Maoi], ..clear() };
        let f = rules().classify(&s, &ctx(true));
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
        let off = rules().classify(&s, &ctx(true));
        assert!(off.iter().any(|x| x.rule == "no_off_label_consent" && x.class == Class::Absolute), "{:?}", ids(&off));
        let labelled = rules().classify(&s, &ctx(false));
        assert!(!labelled.iter().any(|x| x.rule == "no_off_label_consent"), "{:?}", ids(&labelled));
        assert!(
            rules().classify(&clear(), &ctx(true)).iter().all(|x| x.rule != "no_off_label_consent"),
            "consent recorded"
        );
    }

    #[test]
    fn notes_need_no_decision_and_findings_are_validated() {
        let s = ScreenFindings { medications: vec![MedicationClass::Lamotrigine], ..clear() };
        let f = rules().classify(&s, &ctx(true));
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
    fn the_later_questions_are_required_of_a_new_screen_and_classified_with_their_sources() {
        // Each later question left unanswered is refused, naming it.
        for (field, _) in LATER_QUESTIONS {
            let mut s = clear();
            match field {
                "bipolar_or_mania" => s.bipolar_or_mania = None,
                "hepatic_impairment" => s.hepatic_impairment = None,
                "breastfeeding" => s.breastfeeding = None,
                "sleep_apnoea_or_airway" => s.sleep_apnoea_or_airway = None,
                "glaucoma" => s.glaucoma = None,
                _ => s.suicide_risk = None,
            }
            assert_eq!(s.validate().expect_err(field).field(), field);
        }
        // (change, expected rule and class): worked examples.
        let cases: [(ScreenFindings, &str, Class); 9] = [
            (ScreenFindings { bipolar_or_mania: Some(History::Past), ..clear() }, "bipolar_or_mania", Class::Relative),
            (
                ScreenFindings { bipolar_or_mania: Some(History::Current), ..clear() },
                "bipolar_or_mania",
                Class::Relative,
            ),
            (
                ScreenFindings { hepatic_impairment: Some(HepaticImpairment::Moderate), ..clear() },
                "hepatic_impairment_moderate",
                Class::Relative,
            ),
            (
                ScreenFindings { hepatic_impairment: Some(HepaticImpairment::Severe), ..clear() },
                "hepatic_impairment_severe",
                Class::Relative,
            ),
            (ScreenFindings { breastfeeding: Some(true), ..clear() }, "breastfeeding", Class::Relative),
            (
                ScreenFindings { sleep_apnoea_or_airway: Some(true), ..clear() },
                "sleep_apnoea_or_airway",
                Class::Relative,
            ),
            (ScreenFindings { glaucoma: Some(true), ..clear() }, "glaucoma", Class::Relative),
            (
                ScreenFindings { suicide_risk: Some(SuicideRisk::Moderate), ..clear() },
                "suicide_risk_moderate",
                Class::Note,
            ),
            (ScreenFindings { suicide_risk: Some(SuicideRisk::High), ..clear() }, "suicide_risk_high", Class::Relative),
        ];
        for (s, rule, class) in cases {
            let f = rules().classify(&s, &ctx(true));
            assert_eq!(ids(&f), [(rule, class)], "{rule}");
            assert!(!f[0].source.is_empty());
        }
        // Mild hepatic impairment and a low suicide risk raise nothing.
        let s = ScreenFindings { hepatic_impairment: Some(HepaticImpairment::Mild), ..clear() };
        assert!(rules().classify(&s, &ctx(true)).is_empty());
        // A screen recorded before the questions existed reads them as not
        // asked, and classifies as it did.
        let old = ScreenFindings {
            bipolar_or_mania: None,
            hepatic_impairment: None,
            breastfeeding: None,
            sleep_apnoea_or_airway: None,
            glaucoma: None,
            suicide_risk: None,
            ..clear()
        };
        assert!(rules().classify(&old, &ctx(true)).is_empty());
        let json = serde_json::to_string(&old).expect("json");
        assert!(!json.contains("glaucoma"), "{json}");
        assert_eq!(serde_json::from_str::<ScreenFindings>(&json).expect("reads back"), old);
    }

    #[test]
    fn esketamine_under_18_needs_the_prescribers_rationale_and_adult_or_iv_courses_do_not() {
        let intranasal = |age: i16| Context {
            off_label: false,
            age_years: Some(age),
            route: Some(crate::protocols::Route::Intranasal),
        };
        // 17 on the day of the screen: the label has not established safety in under-18s.
        assert_eq!(ids(&rules().classify(&clear(), &intranasal(17))), [("esketamine_under_18", Class::Relative)]);
        assert!(rules().classify(&clear(), &intranasal(18)).is_empty(), "18 is an adult");
        let iv = Context { age_years: Some(17), ..ctx(true) };
        assert!(rules().classify(&clear(), &iv).iter().all(|f| f.rule != "esketamine_under_18"));
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
