//! The esketamine (Spravato) REMS Patient Monitoring Form: what it records
//! for each session, taken from the dosing session's own chart, and when it
//! is due (reference.md §2.2: submitted after every session, within 7 days;
//! total monitoring at least 120 minutes; blood pressure before dosing,
//! about 40 minutes after, and before the session ends; sedation,
//! dissociation and respiratory events; concomitant benzodiazepines,
//! sedative-hypnotics, psychostimulants and MAOIs).

use crate::dosing::{SafetyPolicy, SessionEvent, SideEffectKind, Vitals};
use crate::screening::MedicationClass;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A REMS requirement as the clinic keeps it: on or off, with where it
/// comes from and the date of that source. REMS programmes change (a 2026
/// label revision's REMS section was not read: reference.md §2.2), so each
/// requirement is a setting, on by default, that a clinic turns off only
/// with a newer source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = RemsRequirement))]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub required: bool,
    /// Where the requirement is written.
    pub source: String,
    /// The date of that source (as read).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub as_of: jiff::civil::Date,
    /// Whether it was confirmed against the current REMS documents.
    pub confirmed: bool,
}

/// The esketamine REMS requirements Kairos enforces (`[rems]` in the safety
/// policy file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = RemsRequirements))]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// The patient is enrolled in the REMS before the first treatment: no
    /// esketamine dose starts without an enrolment on record.
    pub enrolment_before_first_dose: Requirement,
    /// A prescriber is on site during administration and monitoring: each
    /// esketamine session names them at the start.
    pub prescriber_on_site: Requirement,
    /// The Patient Monitoring Form after every session, within `days`.
    pub monitoring_form: Requirement,
    pub monitoring_form_days: i64,
    /// Monitoring lasts at least `minutes` after the dose.
    pub minimum_monitoring: Requirement,
    pub minimum_monitoring_minutes: i64,
}

impl Default for Requirements {
    /// Every requirement on, as the FDA REMS page read (dated 31 Dec 2024)
    /// states them: the defaults when a policy file has no `[rems]`.
    fn default() -> Self {
        let on = |source: &str| Requirement {
            required: true,
            source: source.to_string(),
            as_of: jiff::civil::date(2024, 12, 31),
            confirmed: false,
        };
        Requirements {
            enrolment_before_first_dose: on(SOURCE),
            prescriber_on_site: on(SOURCE),
            monitoring_form: on(SOURCE),
            monitoring_form_days: 7,
            minimum_monitoring: on(SOURCE),
            minimum_monitoring_minutes: 120,
        }
    }
}

/// The source of the shipped requirements.
const SOURCE: &str = "SPRAVATO REMS, FDA REMS page (REMS=386), read as dated 31 Dec 2024 (reference.md §2.2)";

impl Requirements {
    pub fn validate(&self) -> Result<(), crate::DomainError> {
        for (field, r) in [
            ("rems.enrolment_before_first_dose", &self.enrolment_before_first_dose),
            ("rems.prescriber_on_site", &self.prescriber_on_site),
            ("rems.monitoring_form", &self.monitoring_form),
            ("rems.minimum_monitoring", &self.minimum_monitoring),
        ] {
            if r.source.trim().is_empty() {
                return Err(crate::DomainError::invalid(
                    format!("{field}.source"),
                    "say where the requirement comes from",
                ));
            }
        }
        if !(1..=30).contains(&self.monitoring_form_days) {
            return Err(crate::DomainError::invalid("rems.monitoring_form_days", "must be 1 to 30 days"));
        }
        if !(1..=24 * 60).contains(&self.minimum_monitoring_minutes) {
            return Err(crate::DomainError::invalid("rems.minimum_monitoring_minutes", "must be 1 to 1440 minutes"));
        }
        Ok(())
    }

    /// The minimum monitoring time, when the requirement is on.
    pub fn minimum_minutes(&self) -> Option<i64> {
        self.minimum_monitoring.required.then_some(self.minimum_monitoring_minutes)
    }
}

/// Sex as the REMS forms ask it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = RemsSex))]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
}

impl Sex {
    pub fn parse(field: &str, s: &str) -> Result<Sex, crate::DomainError> {
        match s.trim() {
            "female" => Ok(Sex::Female),
            "male" => Ok(Sex::Male),
            other => Err(crate::DomainError::invalid(
                field,
                format!("`{other}`: choose female or male (as the REMS form asks)"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
        }
    }
}

/// A patient's enrolment in the REMS (the Patient Enrollment Form), as
/// recorded by the prescriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = RemsEnrolment))]
pub struct Enrolment {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub enrolled_on: jiff::civil::Date,
    pub sex: Sex,
    /// The REMS patient identifier, when the REMS gave one.
    pub rems_patient_id: Option<String>,
}

impl Enrolment {
    /// An enrolment as typed: its date is not after `today` (the clinic's
    /// calendar) nor before the client's birth; the REMS patient identifier
    /// is optional.
    pub fn parse(
        enrolled_on: &str,
        sex: &str,
        rems_patient_id: Option<&str>,
        today: jiff::civil::Date,
        date_of_birth: jiff::civil::Date,
    ) -> Result<Enrolment, crate::DomainError> {
        let field = "enrolled_on";
        let on: jiff::civil::Date = enrolled_on.trim().parse().map_err(|_| {
            crate::DomainError::invalid(field, format!("`{enrolled_on}` is not a date in the form YYYY-MM-DD"))
        })?;
        if on > today {
            return Err(crate::DomainError::invalid(
                field,
                format!("{on} is after today ({today}): record an enrolment once it is made"),
            ));
        }
        if on < date_of_birth {
            return Err(crate::DomainError::invalid(
                field,
                format!("{on} is before the client's date of birth ({date_of_birth})"),
            ));
        }
        Ok(Enrolment {
            enrolled_on: on,
            sex: Sex::parse("sex", sex)?,
            rems_patient_id: crate::text::optional("rems_patient_id", rems_patient_id, 50)?,
        })
    }
}

/// The healthcare setting and the people the form names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = RemsPeople))]
pub struct People {
    /// The healthcare provider conducting monitoring (who started the session).
    pub monitoring_name: String,
    pub monitoring_email: String,
    /// The setting's telephone: where the monitoring provider is reached.
    pub monitoring_phone: Option<String>,
    pub setting_name: Option<String>,
    pub setting_address: Option<String>,
    /// The prescriber on site during administration and monitoring.
    pub prescriber_on_site: Option<String>,
}

/// A blood pressure taken at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BpReading {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    /// Minutes after the dose started (negative: before).
    pub minutes: i64,
    pub systolic: u16,
    pub diastolic: u16,
}

/// What the form needs from a session.
#[derive(Debug, Clone)]
pub struct SessionFacts<'a> {
    pub dose_mg: f64,
    pub lot: &'a str,
    pub started_at: Timestamp,
    pub pre_vitals: Vitals,
    pub discharged_at: Option<Timestamp>,
    pub readings: &'a [(Timestamp, Vitals)],
    pub events: &'a [SessionEvent],
    pub medications: &'a [MedicationClass],
    /// The clinic's time zone: the session date and due date are its days.
    pub tz: jiff::tz::TimeZone,
    /// The client's REMS enrolment, if recorded.
    pub enrolment: Option<&'a Enrolment>,
    /// Whether this is the client's first esketamine session.
    pub first_treatment: bool,
    pub people: People,
}

/// The form's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemsForm {
    /// From the REMS enrolment (the form asks the patient's sex).
    pub sex: Option<Sex>,
    pub first_treatment: bool,
    /// Enrolled in the REMS on or before the session's day (asked on a
    /// first treatment; shown for every one).
    pub enrolled: bool,
    pub people: People,
    /// "Vital signs in acceptable range prior to administration?": the
    /// pre-dose reading has a blood pressure and does not hold the dose.
    pub vitals_ok_before_administration: bool,
    /// "... prior to treatment session completion?": the last reading at or
    /// before discharge has a blood pressure and raises no alert.
    pub vitals_ok_before_completion: bool,
    pub dose_mg: f64,
    pub lot: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub session_date: jiff::civil::Date,
    /// From the dose to discharge.
    pub minutes_monitored: Option<i64>,
    pub bp_pre_dose: Option<BpReading>,
    /// The reading nearest 40 minutes after the dose (25-60 min).
    pub bp_about_40_min: Option<BpReading>,
    /// The last reading at or before discharge, after the 40-minute one.
    pub bp_before_end: Option<BpReading>,
    pub sedation: bool,
    pub dissociation: bool,
    pub respiratory_depression: bool,
    pub benzodiazepines: bool,
    pub sedative_hypnotics: bool,
    pub psychostimulants: bool,
    pub maois: bool,
    /// The form is due by the end of this day (UTC).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub due: jiff::civil::Date,
    /// What is missing or outside the REMS rules, in words.
    pub problems: Vec<String>,
}

/// The last day (clinic time) for the form of a session started at `start`.
pub fn due_date(start: Timestamp, tz: &jiff::tz::TimeZone, rules: &Requirements) -> jiff::civil::Date {
    let day = start.to_zoned(tz.clone()).date();
    day.saturating_add(jiff::Span::new().days(rules.monitoring_form_days))
}

fn bp(at: Timestamp, start: Timestamp, v: &Vitals) -> Option<BpReading> {
    Some(BpReading { at, minutes: at.duration_since(start).as_mins(), systolic: v.systolic?, diastolic: v.diastolic? })
}

/// Builds the form from the session chart; `policy` says what counts as
/// respiratory depression (SpO2 or respiratory rate at its alert level).
pub fn form(f: &SessionFacts<'_>, policy: &SafetyPolicy) -> RemsForm {
    let start = f.started_at;
    let bps: Vec<BpReading> = f.readings.iter().filter_map(|(at, v)| bp(*at, start, v)).collect();
    let forty = bps.iter().filter(|r| (25..=60).contains(&r.minutes)).min_by_key(|r| (r.minutes - 40).abs()).copied();
    let end_limit = f.discharged_at.unwrap_or(Timestamp::MAX);
    let before_end =
        bps.iter().filter(|r| r.at <= end_limit && forty.is_none_or(|x| r.at > x.at)).max_by_key(|r| r.at).copied();
    let pre = bp(start, start, &f.pre_vitals).map(|mut r| {
        r.minutes = 0;
        r
    });
    let minutes_monitored = f.discharged_at.map(|d| d.duration_since(start).as_mins());
    let moaas_below_alert = f.readings.iter().any(|(_, v)| v.moaas.is_some_and(|m| m < 5));
    let resp = f.readings.iter().any(|(_, v)| {
        v.spo2.is_some_and(|s| s <= policy.during.spo2_at_most)
            || v.respiratory_rate.is_some_and(|r| r <= policy.during.respiratory_rate_at_most)
    });
    let has_effect = |k: SideEffectKind| {
        f.events.iter().any(|e| matches!(e, SessionEvent::SideEffect { effect, .. } if *effect == k))
    };
    let dissociation = has_effect(SideEffectKind::Dissociation)
        || f.events.iter().any(|e| matches!(e, SessionEvent::Dissociation { cadss6 } if *cadss6 > 0));
    let med = |c: MedicationClass| f.medications.contains(&c);
    let session_date = start.to_zoned(f.tz.clone()).date();
    let rules = &policy.rems;
    let due = due_date(start, &f.tz, rules);
    let mut problems = Vec::new();
    match (minutes_monitored, rules.minimum_minutes()) {
        (None, _) => problems.push("discharge not recorded: total monitoring time unknown".to_string()),
        (Some(m), Some(min)) if m < min => {
            problems.push(format!("monitored {m} minutes; the REMS requires at least {min}"))
        }
        _ => {}
    }
    let enrolled = f.enrolment.is_some_and(|e| e.enrolled_on <= session_date);
    if !enrolled {
        problems.push("no REMS enrolment on record on or before the session's day".into());
    }
    if rules.prescriber_on_site.required && f.people.prescriber_on_site.is_none() {
        problems.push("no prescriber on site recorded for the session".into());
    }
    if f.people.setting_name.is_none() || f.people.setting_address.is_none() {
        problems.push("the healthcare setting's name and address are not set for this site".into());
    }
    let vitals_ok_before_administration = pre.is_some() && policy.pre_dose_hold(&f.pre_vitals).is_none();
    let last = f.readings.iter().filter(|(at, v)| *at <= end_limit && v.systolic.is_some()).max_by_key(|(at, _)| *at);
    let vitals_ok_before_completion =
        f.discharged_at.is_some() && last.is_some_and(|(_, v)| policy.alerts(v).is_empty());
    if pre.is_none() {
        problems.push("no blood pressure before dosing".into());
    }
    if forty.is_none() {
        problems.push("no blood pressure about 40 minutes after dosing (25-60 min)".into());
    }
    if before_end.is_none() {
        problems.push("no blood pressure before the end of the session".into());
    }
    RemsForm {
        sex: f.enrolment.map(|e| e.sex),
        first_treatment: f.first_treatment,
        enrolled,
        people: f.people.clone(),
        vitals_ok_before_administration,
        vitals_ok_before_completion,
        dose_mg: f.dose_mg,
        lot: f.lot.to_string(),
        session_date,
        minutes_monitored,
        bp_pre_dose: pre,
        bp_about_40_min: forty,
        bp_before_end: before_end,
        sedation: moaas_below_alert || has_effect(SideEffectKind::Sedation),
        dissociation,
        respiratory_depression: resp || has_effect(SideEffectKind::RespiratoryDepression),
        benzodiazepines: med(MedicationClass::Benzodiazepine),
        sedative_hypnotics: med(MedicationClass::OtherSedative),
        psychostimulants: med(MedicationClass::Stimulant),
        maois: med(MedicationClass::Maoi),
        due,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    fn ts(m: i64) -> Timestamp {
        let start: Timestamp = "2026-11-20T14:00:00Z".parse().expect("ts");
        start + SignedDuration::from_mins(m)
    }

    fn bpv(s: u16, d: u16) -> Vitals {
        Vitals { systolic: Some(s), diastolic: Some(d), spo2: Some(98), ..Vitals::default() }
    }

    #[test]
    fn the_form_takes_the_three_blood_pressures_and_the_monitoring_time() {
        let policy = SafetyPolicy::shipped().expect("policy");
        let readings = vec![
            (ts(10), bpv(128, 80)),
            (ts(35), bpv(141, 88)),
            (ts(45), bpv(139, 86)),
            (ts(90), Vitals { moaas: Some(4), ..Vitals::default() }),
            (ts(115), bpv(126, 79)),
        ];
        let events = vec![SessionEvent::Dissociation { cadss6: 7 }];
        let meds = vec![MedicationClass::Benzodiazepine, MedicationClass::Lamotrigine];
        let enrolment =
            Enrolment { enrolled_on: jiff::civil::date(2026, 11, 20), sex: Sex::Female, rems_patient_id: None };
        let facts = SessionFacts {
            dose_mg: 56.0,
            lot: "ESK-TEST-1",
            started_at: ts(0),
            pre_vitals: bpv(124, 78),
            discharged_at: Some(ts(125)),
            readings: &readings,
            events: &events,
            medications: &meds,
            tz: jiff::tz::TimeZone::UTC,
            enrolment: Some(&enrolment),
            first_treatment: true,
            people: People {
                monitoring_name: "Ben Nurse".into(),
                monitoring_email: "ben@clinic.example".into(),
                monitoring_phone: Some("+1 555 0100".into()),
                setting_name: Some("Riverside Clinic".into()),
                setting_address: Some("1 Example Way, Springfield".into()),
                prescriber_on_site: Some("Dr Ada Prescriber".into()),
            },
        };
        let f = form(&facts, &policy);
        assert_eq!(f.minutes_monitored, Some(125));
        assert_eq!(f.bp_pre_dose.map(|b| (b.systolic, b.minutes)), Some((124, 0)));
        // 35 and 45 are both 5 minutes from 40: the earlier wins (stable order).
        assert_eq!(f.bp_about_40_min.map(|b| b.minutes), Some(35));
        assert_eq!(f.bp_before_end.map(|b| (b.systolic, b.minutes)), Some((126, 115)));
        assert!(f.sedation, "MOAA/S 4 is sedation");
        assert!(f.dissociation);
        assert!(!f.respiratory_depression);
        assert!(f.benzodiazepines && !f.maois && !f.psychostimulants && !f.sedative_hypnotics);
        assert_eq!(f.due, jiff::civil::date(2026, 11, 27));
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        // Enrolled the same day, before this first treatment.
        assert_eq!((f.sex, f.first_treatment, f.enrolled), (Some(Sex::Female), true, true));
        // 124/78 before (no hold at 140/90); 126/79 last before discharge.
        assert!(f.vitals_ok_before_administration && f.vitals_ok_before_completion);
        assert_eq!(f.people.prescriber_on_site.as_deref(), Some("Dr Ada Prescriber"));
        // A last reading of 182/95 (at the 180 systolic alert) is not in range.
        let mut high = readings.clone();
        high.push((ts(118), bpv(182, 95)));
        let g = form(&SessionFacts { readings: &high, ..facts.clone() }, &policy);
        assert!(g.vitals_ok_before_administration && !g.vitals_ok_before_completion);
    }

    #[test]
    fn an_enrolment_is_dated_between_birth_and_today_and_names_its_field() {
        let today = jiff::civil::date(2026, 12, 4);
        let born = jiff::civil::date(1990, 3, 1);
        let e = Enrolment::parse("2026-12-04", "male", Some(" RP-1234 "), today, born).expect("today");
        assert_eq!((e.sex, e.rems_patient_id.as_deref()), (Sex::Male, Some("RP-1234")));
        let e = Enrolment::parse("2026-11-30", "female", Some("  "), today, born).expect("blank id");
        assert_eq!(e.rems_patient_id, None);
        let err = |on: &str, sex: &str| Enrolment::parse(on, sex, None, today, born).expect_err("refused");
        assert_eq!(err("2026-12-05", "male").field(), "enrolled_on");
        assert!(err("2026-12-05", "male").to_string().contains("after today (2026-12-04)"));
        assert_eq!(err("1989-01-01", "male").field(), "enrolled_on");
        assert_eq!(err("4 Dec", "male").field(), "enrolled_on");
        assert_eq!(err("2026-12-01", "x").field(), "sex");
    }

    #[test]
    fn a_short_or_incomplete_session_lists_what_is_wrong() {
        let policy = SafetyPolicy::shipped().expect("policy");
        let readings = vec![(ts(70), Vitals { spo2: Some(91), ..Vitals::default() })];
        // Enrolled the day after the session.
        let late = Enrolment { enrolled_on: jiff::civil::date(2026, 11, 21), sex: Sex::Male, rems_patient_id: None };
        let f = form(
            &SessionFacts {
                dose_mg: 84.0,
                lot: "ESK-TEST-2",
                started_at: ts(0),
                pre_vitals: Vitals { heart_rate: Some(80), ..Vitals::default() },
                discharged_at: Some(ts(119)),
                readings: &readings,
                events: &[],
                medications: &[],
                tz: jiff::tz::TimeZone::UTC,
                enrolment: Some(&late),
                first_treatment: false,
                people: People { monitoring_name: "Ben Nurse".into(), ..People::default() },
            },
            &policy,
        );
        assert!(f.respiratory_depression, "SpO2 91 is at the alert level");
        assert!(f.problems.iter().any(|p| p.contains("monitored 119 minutes")), "{:?}", f.problems);
        assert!(f.problems.iter().any(|p| p.contains("before dosing")));
        assert!(f.problems.iter().any(|p| p.contains("40 minutes")));
        assert!(f.problems.iter().any(|p| p.contains("end of the session")));
        assert!(f.problems.iter().any(|p| p.contains("REMS enrolment")), "{:?}", f.problems);
        assert!(f.problems.iter().any(|p| p.contains("prescriber on site")));
        assert!(f.problems.iter().any(|p| p.contains("name and address")));
        assert!(!f.enrolled, "enrolled after the session");
        // No blood pressure before the dose, none after it.
        assert!(!f.vitals_ok_before_administration && !f.vitals_ok_before_completion);
        // The clinic's policy sets the minimum and the days.
        let mut p = policy.clone();
        p.rems.minimum_monitoring_minutes = 90;
        p.rems.monitoring_form_days = 3;
        assert_eq!(due_date(ts(0), &jiff::tz::TimeZone::UTC, &p.rems), jiff::civil::date(2026, 11, 23));
        p.rems.minimum_monitoring.required = false;
        assert_eq!(p.rems.minimum_minutes(), None);
    }
}
