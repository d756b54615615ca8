//! Practice outcomes for a clinic director: response and remission rates
//! with 95 % Wilson intervals, by protocol and by whether the course's doses
//! were followed by psychotherapy inside the post-dose window, and the
//! Kaplan-Meier curve of time to relapse after the last induction dose.
//!
//! Pure: the store supplies one [`CourseFacts`] per course. Every figure is
//! defined in [`PracticeReport::definitions`], which the API and the page
//! show beside the numbers, so a director can say exactly what was counted.

use crate::instruments::Instrument;
use crate::outcomes::{Criteria, KmCurve, KmObservation, Rate, kaplan_meier, trajectory};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

/// What one course contributes.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseFacts {
    pub protocol: String,
    /// Completed dosing sessions, in time order.
    pub doses: Vec<Timestamp>,
    /// Completed psychotherapy sessions (integration or individual therapy).
    pub therapy: Vec<Timestamp>,
    /// Valid scores of the chosen instrument from the course start on, in
    /// time order (entries marked entered in error left out).
    pub scores: Vec<(Timestamp, f64)>,
}

/// Clinic-set parameters of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct PracticeParams {
    /// A dose is "integrated" when a therapy session follows within this
    /// time (default 72 h: the window heuristic of reference §1.6, not a
    /// trial-tested bound).
    pub window: SignedDuration,
    /// A course "had psychotherapy in the window" when at least this share
    /// of its doses were integrated (default 2/3).
    pub integrated_share: f64,
    /// Doses in the induction series of a protocol not in
    /// `induction_by_protocol`; time to relapse counts from the last.
    pub induction_doses: usize,
    /// Each protocol's induction series (its `doses.count` in the protocol
    /// library): a course's time to relapse counts from its own protocol's
    /// last induction dose (an esketamine course's 8th, a 6-infusion
    /// course's 6th).
    pub induction_by_protocol: std::collections::HashMap<String, usize>,
    pub tz: TimeZone,
}

impl PracticeParams {
    /// The number of the last induction dose of a course on `protocol`.
    pub fn induction_of(&self, protocol: &str) -> usize {
        self.induction_by_protocol.get(protocol).copied().unwrap_or(self.induction_doses)
    }
}

impl Default for PracticeParams {
    fn default() -> Self {
        PracticeParams {
            window: SignedDuration::from_hours(72),
            integrated_share: 2.0 / 3.0,
            induction_doses: 6,
            induction_by_protocol: std::collections::HashMap::new(),
            tz: TimeZone::UTC,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupOutcome {
    pub group: String,
    /// Courses with a baseline and at least one later score.
    pub assessable: u64,
    pub response: Rate,
    /// `None` when the instrument has no remission rule.
    pub remission: Option<Rate>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PracticeReport {
    pub instrument: String,
    /// Courses handed in (the caller's selection, e.g. started in a date range).
    pub courses: u64,
    pub assessable: u64,
    /// Courses without a baseline and a later score.
    pub not_assessable: u64,
    pub overall: GroupOutcome,
    pub by_protocol: Vec<GroupOutcome>,
    /// "with psychotherapy in the window" and "without".
    pub by_psychotherapy: Vec<GroupOutcome>,
    /// Time to relapse in days after the last induction dose.
    pub relapse: KmCurve,
    /// Responders left out of the relapse curve: fewer induction doses than
    /// the series, or relapse before its last dose.
    pub relapse_excluded: u64,
    pub definitions: Vec<String>,
}

/// The outcome criteria an instrument defines, if it defines a response rule.
pub fn criteria_of(inst: &Instrument) -> Option<Criteria> {
    let response = inst.response.as_ref()?;
    Some(Criteria {
        response_drop_pct: response.drop_pct,
        remission_cutoff: inst.remission.as_ref().map(|r| r.max_score as f64),
        reliable_change: inst.reliable_change.as_ref().and_then(|r| r.threshold()),
        higher_is_worse: inst.higher_is_worse,
    })
}

struct Assessed {
    protocol: String,
    with_therapy: bool,
    response: bool,
    remission: bool,
}

fn group(label: &str, rows: &[&Assessed], remission_defined: bool) -> GroupOutcome {
    let n = rows.len() as u64;
    let responded = rows.iter().filter(|r| r.response).count() as u64;
    let remitted = rows.iter().filter(|r| r.remission).count() as u64;
    GroupOutcome {
        group: label.to_string(),
        assessable: n,
        response: Rate::of(responded, n),
        remission: remission_defined.then(|| Rate::of(remitted, n)),
    }
}

/// Whether enough of the course's doses were followed by therapy in the window.
pub fn had_therapy_in_window(c: &CourseFacts, p: &PracticeParams) -> bool {
    if c.doses.is_empty() {
        return false;
    }
    let integrated =
        c.doses.iter().filter(|d| c.therapy.iter().any(|t| *t > **d && t.duration_since(**d) <= p.window)).count();
    integrated as f64 >= p.integrated_share * c.doses.len() as f64 - 1e-9
}

/// Builds the report. `inst` must have a response rule (see [`criteria_of`]).
pub fn practice_report(inst: &Instrument, courses: &[CourseFacts], p: &PracticeParams) -> Option<PracticeReport> {
    let criteria = criteria_of(inst)?;
    let day = |t: Timestamp| -> Date { t.to_zoned(p.tz.clone()).date() };
    let mut assessed = Vec::new();
    let mut km = Vec::new();
    let mut relapse_excluded = 0u64;
    for c in courses {
        if c.scores.len() < 2 {
            continue;
        }
        let points: Vec<(Date, f64)> = c.scores.iter().map(|(t, v)| (day(*t), *v)).collect();
        let Some(traj) = trajectory(&points, &criteria) else { continue };
        assessed.push(Assessed {
            protocol: c.protocol.clone(),
            with_therapy: had_therapy_in_window(c, p),
            response: traj.in_response,
            remission: traj.in_remission,
        });
        if traj.first_response.is_some() {
            let origin = c.doses.get(p.induction_of(&c.protocol).saturating_sub(1)).map(|t| day(*t));
            match (origin, traj.relapse) {
                (Some(o), Some(r)) if r >= o => {
                    km.push(KmObservation { time: (r - o).get_days() as f64, event: true });
                }
                (Some(o), None) if traj.latest.0 >= o => {
                    km.push(KmObservation { time: (traj.latest.0 - o).get_days() as f64, event: false });
                }
                _ => relapse_excluded += 1,
            }
        }
    }
    let remission_defined = criteria.remission_cutoff.is_some();
    let all: Vec<&Assessed> = assessed.iter().collect();
    let mut protocols: BTreeMap<&str, Vec<&Assessed>> = BTreeMap::new();
    for a in &assessed {
        protocols.entry(a.protocol.as_str()).or_default().push(a);
    }
    let with: Vec<&Assessed> = assessed.iter().filter(|a| a.with_therapy).collect();
    let without: Vec<&Assessed> = assessed.iter().filter(|a| !a.with_therapy).collect();
    let remission_text = match criteria.remission_cutoff {
        Some(c) => format!("Remission: latest score at or below {c}."),
        None => "Remission: not defined for this instrument.".into(),
    };
    Some(PracticeReport {
        instrument: inst.id.clone(),
        courses: courses.len() as u64,
        assessable: assessed.len() as u64,
        not_assessable: (courses.len() - assessed.len()) as u64,
        overall: group("all courses", &all, remission_defined),
        by_protocol: protocols.iter().map(|(k, v)| group(k, v, remission_defined)).collect(),
        by_psychotherapy: vec![
            group("with psychotherapy in the post-dose window", &with, remission_defined),
            group("without psychotherapy in the post-dose window", &without, remission_defined),
        ],
        relapse: kaplan_meier(&km),
        relapse_excluded,
        definitions: vec![
            format!(
                "Assessable course: a baseline {} (the first score from the course start on) and at least one later score; entries marked entered in error are left out.",
                inst.short_name
            ),
            format!(
                "Response: the latest score is at least {}% below baseline (the instrument's rule; {}).",
                criteria.response_drop_pct,
                if inst.response.as_ref().is_some_and(|r| r.provenance.confirmed) { "confirmed" } else { "unconfirmed default" }
            ),
            remission_text,
            "Rates are of assessable courses, with 95% Wilson score intervals.".into(),
            format!(
                "Psychotherapy in the post-dose window: at least {:.0}% of the course's completed doses were followed by a completed integration or individual therapy session within {} h (a heuristic window, not a trial-tested bound).",
                p.integrated_share * 100.0,
                p.window.as_hours()
            ),
            format!(
                "Time to relapse: for courses that responded, days from the last dose of the course's protocol's induction series (its dose count in the protocol library; dose {} for a protocol not in it) to the first score that no longer meets the response rule after a response; courses without relapse are censored at their latest score.",
                p.induction_doses
            ),
            "Groups are observational: courses with and without psychotherapy differ in more than psychotherapy, so the comparison is not a causal effect.".into(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruments::SHIPPED;

    fn phq9() -> Instrument {
        let (_, text) = SHIPPED.iter().find(|(n, _)| *n == "phq9.toml").expect("phq9");
        Instrument::from_toml(text).expect("valid")
    }

    fn t(day: i64) -> Timestamp {
        Timestamp::from_second(1_767_225_600 + day * 86_400 + 12 * 3600).expect("instant")
    }

    /// Doses on days 0, 2, 4, 7, 9, 11; therapy the day after each when `therapy`.
    fn course(protocol: &str, therapy: bool, scores: &[(i64, f64)]) -> CourseFacts {
        let doses: Vec<Timestamp> = [0, 2, 4, 7, 9, 11].iter().map(|d| t(*d)).collect();
        CourseFacts {
            protocol: protocol.into(),
            therapy: if therapy { doses.iter().map(|d| *d + SignedDuration::from_hours(24)).collect() } else { vec![] },
            doses,
            scores: scores.iter().map(|(d, v)| (t(*d), *v)).collect(),
        }
    }

    #[test]
    fn rates_by_protocol_and_psychotherapy_with_a_relapse_curve() {
        let courses = vec![
            // Responds (20 -> 8: 60 % drop), no remission, stays well; censored at day 41 (30 days after dose 6).
            course("a", true, &[(-1, 20.0), (11, 8.0), (41, 9.0)]),
            // Responds and remits (18 -> 3), then relapses on day 31 (16): 20 days after dose 6.
            course("a", true, &[(-1, 18.0), (11, 3.0), (31, 16.0)]),
            // Does not respond (20 -> 14).
            course("b", false, &[(-1, 20.0), (11, 14.0)]),
            // Not assessable: baseline only.
            course("b", false, &[(-1, 22.0)]),
        ];
        let r = practice_report(&phq9(), &courses, &PracticeParams::default()).expect("report");
        assert_eq!((r.courses, r.assessable, r.not_assessable), (4, 3, 1));
        // Latest-score rule: course 1 in response, course 2 relapsed (not in response), course 3 not.
        assert_eq!((r.overall.response.count, r.overall.response.n), (1, 3));
        let a = &r.by_protocol[0];
        assert_eq!((a.group.as_str(), a.response.count, a.assessable), ("a", 1, 2));
        let with = &r.by_psychotherapy[0];
        let without = &r.by_psychotherapy[1];
        assert_eq!((with.response.count, with.assessable), (1, 2));
        assert_eq!((without.response.count, without.assessable), (0, 1));
        assert_eq!(with.remission.as_ref().map(|x| x.count), Some(0), "the remitter relapsed by the latest score");
        // Two responders enter the curve: an event at 20 days, a censoring at 30.
        assert_eq!((r.relapse.n, r.relapse.events), (2, 1));
        assert_eq!(r.relapse.steps[0].time, 20.0);
        assert!((r.relapse.steps[0].survival - 0.5).abs() < 1e-9);
        assert_eq!(r.relapse_excluded, 0);
        // 1 of 3: Wilson 95 % interval about 0.061 to 0.792.
        let (lo, hi) = (r.overall.response.lower.expect("lo"), r.overall.response.upper.expect("hi"));
        assert!((lo - 0.0615).abs() < 1e-3 && (hi - 0.7923).abs() < 1e-3, "{lo} {hi}");
    }

    #[test]
    fn the_window_and_share_decide_psychotherapy_in_the_window() {
        let p = PracticeParams::default();
        // Doses five days apart, so one dose's therapy never falls in another's window.
        let doses: Vec<Timestamp> = [0, 5, 10, 15, 20, 25].iter().map(|d| t(*d)).collect();
        let therapy = doses.iter().map(|d| *d + SignedDuration::from_hours(24)).collect();
        let mut c = CourseFacts { protocol: "a".into(), doses, therapy, scores: vec![] };
        assert!(had_therapy_in_window(&c, &p));
        // Therapy 73 h after each dose: outside a 72 h window.
        c.therapy = c.doses.iter().map(|d| *d + SignedDuration::from_hours(73)).collect();
        assert!(!had_therapy_in_window(&c, &p));
        // Exactly 4 of 6 doses integrated meets the 2/3 share; 3 of 6 does not.
        c.therapy = c.doses.iter().take(4).map(|d| *d + SignedDuration::from_hours(72)).collect();
        assert!(had_therapy_in_window(&c, &p));
        c.therapy.truncate(3);
        assert!(!had_therapy_in_window(&c, &p));
        assert!(!had_therapy_in_window(&CourseFacts { doses: vec![], ..c }, &p));
    }

    #[test]
    fn time_to_relapse_counts_from_each_protocols_last_induction_dose() {
        // An 8-dose esketamine induction (doses on days 0-25) and a 6-infusion
        // one (days 0-11): both respond at day 11 and relapse on day 40.
        let mut esk = course("esketamine_label", true, &[(-1, 20.0), (11, 6.0), (40, 18.0)]);
        esk.doses = [0, 3, 7, 10, 14, 17, 21, 25].iter().map(|d| t(*d)).collect();
        let iv = course("apa_iv_induction", true, &[(-1, 20.0), (11, 6.0), (40, 18.0)]);
        let mut p = PracticeParams::default();
        p.induction_by_protocol.insert("esketamine_label".into(), 8);
        p.induction_by_protocol.insert("apa_iv_induction".into(), 6);
        let r = practice_report(&phq9(), &[esk.clone(), iv], &p).expect("report");
        // 40 - 25 = 15 days after the 8th dose; 40 - 11 = 29 after the 6th.
        let times: Vec<f64> = r.relapse.steps.iter().map(|s| s.time).collect();
        assert_eq!(times, vec![15.0, 29.0]);
        // Counted from dose 6 for both, the esketamine relapse would read 23 days.
        let r = practice_report(&phq9(), &[esk], &PracticeParams::default()).expect("report");
        assert_eq!(r.relapse.steps[0].time, 23.0);
    }

    #[test]
    fn responders_without_a_full_induction_series_are_left_out_of_the_curve_and_counted() {
        let mut c = course("a", true, &[(-1, 20.0), (11, 5.0), (20, 6.0)]);
        c.doses.truncate(4);
        let r = practice_report(&phq9(), &[c], &PracticeParams::default()).expect("report");
        assert_eq!((r.relapse.n, r.relapse_excluded), (0, 1));
        assert_eq!(r.overall.response.count, 1);
    }
}
