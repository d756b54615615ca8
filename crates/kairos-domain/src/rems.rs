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
use serde::Serialize;

/// The REMS minimum monitoring time after each dose.
pub const MIN_MONITORING_MINUTES: i64 = 120;
/// Days after the session by which the form is submitted.
pub const DUE_WITHIN_DAYS: i64 = 7;

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
}

/// The form's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemsForm {
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
pub fn due_date(start: Timestamp, tz: &jiff::tz::TimeZone) -> jiff::civil::Date {
    let day = start.to_zoned(tz.clone()).date();
    day.saturating_add(jiff::Span::new().days(DUE_WITHIN_DAYS))
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
    let due = due_date(start, &f.tz);
    let mut problems = Vec::new();
    match minutes_monitored {
        None => problems.push("discharge not recorded: total monitoring time unknown".to_string()),
        Some(m) if m < MIN_MONITORING_MINUTES => {
            problems.push(format!("monitored {m} minutes; the REMS requires at least {MIN_MONITORING_MINUTES}"))
        }
        Some(_) => {}
    }
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
        let f = form(
            &SessionFacts {
                dose_mg: 56.0,
                lot: "ESK-TEST-1",
                started_at: ts(0),
                pre_vitals: bpv(124, 78),
                discharged_at: Some(ts(125)),
                readings: &readings,
                events: &events,
                medications: &meds,
                tz: jiff::tz::TimeZone::UTC,
            },
            &policy,
        );
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
    }

    #[test]
    fn a_short_or_incomplete_session_lists_what_is_wrong() {
        let policy = SafetyPolicy::shipped().expect("policy");
        let readings = vec![(ts(70), Vitals { spo2: Some(91), ..Vitals::default() })];
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
            },
            &policy,
        );
        assert!(f.respiratory_depression, "SpO2 91 is at the alert level");
        assert!(f.problems.iter().any(|p| p.contains("monitored 119 minutes")), "{:?}", f.problems);
        assert!(f.problems.iter().any(|p| p.contains("before dosing")));
        assert!(f.problems.iter().any(|p| p.contains("40 minutes")));
        assert!(f.problems.iter().any(|p| p.contains("end of the session")));
    }
}
