//! Outcome maths for measurement-based care: proportions with Wilson
//! intervals, Kaplan-Meier curves, reliable change and per-client
//! trajectories (response, remission, relapse, durability).
//!
//! Pure functions only. Every clinical threshold (response percentage,
//! remission cut-off, reliable-change points) is passed in by the caller,
//! normally from the instrument definition, because clinics may change them.

use jiff::civil::Date;
use serde::Serialize;

/// z for a two-sided 95% interval (the 0.975 normal quantile).
pub const Z_95: f64 = 1.959964;

/// Wilson score interval for a binomial proportion `successes / n`, with
/// normal quantile `z` (1.959964 for 95%).
///
/// Source: Wilson EB (1927) JASA 22:209-212; recommended over the Wald
/// interval by Brown, Cai & DasGupta (2001) Statistical Science 16:101-133.
/// Returns `None` when `n == 0`, `successes > n` or `z` is not a finite
/// non-negative number. Bounds are clamped to [0, 1] against rounding.
pub fn wilson_interval(successes: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 || successes > n || !z.is_finite() || z < 0.0 {
        return None;
    }
    let (k, n) = (successes as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).clamp(0.0, 1.0), (centre + half).clamp(0.0, 1.0)))
}

/// A proportion for practice reports: `count` of `n`, with its 95% Wilson
/// interval. `rate`, `lower` and `upper` are `None` when `n == 0` (or the
/// input is inconsistent, `count > n`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rate {
    pub count: u64,
    pub n: u64,
    pub rate: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

impl Rate {
    /// `count / n` with a Wilson interval at z = 1.959964 ([`Z_95`]).
    pub fn of(count: u64, n: u64) -> Rate {
        let ci = wilson_interval(count, n, Z_95);
        Rate {
            count,
            n,
            rate: ci.map(|_| count as f64 / n as f64),
            lower: ci.map(|(l, _)| l),
            upper: ci.map(|(_, u)| u),
        }
    }
}

/// One subject's follow-up: `time` to the event (`event == true`) or to
/// censoring (`event == false`, e.g. still in response at last contact).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KmObservation {
    pub time: f64,
    pub event: bool,
}

/// The curve at one distinct time at which an event or a censoring happens.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KmStep {
    pub time: f64,
    /// Subjects still followed just before `time`.
    pub at_risk: u64,
    pub events: u64,
    pub censored: u64,
    /// Product-limit estimate S(t) just after `time`.
    pub survival: f64,
    /// 95% confidence bounds for S(t) (Greenwood, log(-log) scale).
    pub lower: f64,
    pub upper: f64,
}

/// A Kaplan-Meier curve; see [`kaplan_meier`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KmCurve {
    /// Observations used (non-finite times are dropped).
    pub n: u64,
    pub events: u64,
    /// The smallest time at which S(t) <= 0.5; `None` if never reached.
    pub median: Option<f64>,
    pub steps: Vec<KmStep>,
}

/// Kaplan-Meier product-limit estimate (Kaplan & Meier 1958, JASA 53:457-481).
///
/// One step per distinct time, sorted. At tied times events are counted
/// before censorings (a subject censored at t was at risk at t), the usual
/// convention. The 95% interval uses Greenwood's (1926) variance on the
/// log(-log S) scale (Kalbfleisch & Prentice 1980; R `survfit`
/// `conf.type = "log-log"`): S^exp(±z·σ) with σ = √(Σ d/(n(n−d))) / |ln S|.
/// It is undefined where S is 1 or 0; there both bounds equal S.
/// Observations with a non-finite time are ignored.
pub fn kaplan_meier(obs: &[KmObservation]) -> KmCurve {
    let mut sorted: Vec<KmObservation> = obs.iter().copied().filter(|o| o.time.is_finite()).collect();
    sorted.sort_by(|a, b| a.time.total_cmp(&b.time));
    let n = sorted.len() as u64;
    let (mut at_risk, mut survival, mut greenwood, mut total_events) = (n, 1.0_f64, 0.0_f64, 0_u64);
    let mut steps = Vec::new();
    let mut i = 0;
    while let Some(first) = sorted.get(i) {
        let time = first.time;
        let (mut events, mut censored) = (0_u64, 0_u64);
        while let Some(o) = sorted.get(i).filter(|o| o.time == time) {
            if o.event {
                events += 1
            } else {
                censored += 1
            }
            i += 1;
        }
        if events > 0 {
            let (r, d) = (at_risk as f64, events as f64);
            survival *= 1.0 - d / r;
            if events < at_risk {
                greenwood += d / (r * (r - d));
            }
        }
        let (lower, upper) = if survival <= 0.0 || survival >= 1.0 {
            (survival, survival)
        } else {
            let sigma = greenwood.sqrt() / survival.ln().abs();
            (survival.powf((Z_95 * sigma).exp()), survival.powf((-Z_95 * sigma).exp()))
        };
        steps.push(KmStep { time, at_risk, events, censored, survival, lower, upper });
        total_events += events;
        at_risk -= events + censored;
    }
    let median = steps.iter().find(|s| s.survival <= 0.5).map(|s| s.time);
    KmCurve { n, events: total_events, median, steps }
}

/// Minimum reliable change (Jacobson & Truax 1991, J Consult Clin Psychol
/// 59:12-19): 1.96 × S_diff, where SE = SD_pre × √(1 − r) and S_diff = √2 × SE.
/// `reliability` must be in [0, 1] (outside it the result is NaN).
/// Example: SD 5.0, r 0.84 → SE 2.0, S_diff 2.83, minimum change 5.54 points.
pub fn jt_minimum_reliable_change(sd_pre: f64, reliability: f64) -> f64 {
    1.96 * std::f64::consts::SQRT_2 * sd_pre * (1.0 - reliability).sqrt()
}

/// Direction of a change judged against a reliable-change threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReliableChange {
    Improved,
    NoChange,
    Deteriorated,
}

/// Classifies `latest - baseline`: the change counts when its size is at
/// least `threshold` (a published number of points, e.g. PHQ-9 6, or
/// [`jt_minimum_reliable_change`]); exactly the threshold counts.
pub fn classify_change(baseline: f64, latest: f64, threshold: f64, higher_is_worse: bool) -> ReliableChange {
    let diff = latest - baseline;
    if diff.abs() < threshold || diff == 0.0 {
        ReliableChange::NoChange
    } else if (diff < 0.0) == higher_is_worse {
        ReliableChange::Improved
    } else {
        ReliableChange::Deteriorated
    }
}

/// The clinic's criteria for one instrument (normally from its definition).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criteria {
    /// Response: improvement from baseline of at least this percentage of
    /// the baseline score (e.g. 50.0).
    pub response_drop_pct: f64,
    /// Remission: a score at or below this (at or above it when
    /// `higher_is_worse` is false), e.g. PHQ-9 4. `None`: not assessed.
    pub remission_cutoff: Option<f64>,
    /// Reliable change threshold in points; `None`: not assessed.
    pub reliable_change: Option<f64>,
    pub higher_is_worse: bool,
}

/// A client's course on one instrument; see [`trajectory`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Trajectory {
    #[cfg_attr(feature = "openapi", schema(value_type = (String, f64)))]
    pub baseline: (Date, f64),
    #[cfg_attr(feature = "openapi", schema(value_type = (String, f64)))]
    pub latest: (Date, f64),
    /// latest − baseline, in points (negative: the score fell).
    pub change: f64,
    /// `change` as a percentage of the baseline; `None` when the baseline is 0.
    pub percent_change: Option<f64>,
    pub reliable_change: Option<ReliableChange>,
    pub in_response: bool,
    pub in_remission: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub first_response: Option<Date>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub first_remission: Option<Date>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub relapse: Option<Date>,
    pub days_in_response: i64,
}

/// Summarises a client's scores on one instrument (`points` should be in
/// date order; they are stably sorted by date anyway). `None` if empty.
///
/// Definitions:
/// - baseline: the first point; latest: the last point.
/// - in response: improvement from baseline (a fall when `higher_is_worse`,
///   a rise otherwise) of at least `response_drop_pct` % of the baseline
///   score. A baseline of 0 (or below) can never respond.
/// - in remission: score at or below `remission_cutoff` (at or above when
///   higher is better). A baseline already in remission counts as the first
///   remission; report eligibility (baseline above the cut-off) is the
///   caller's concern.
/// - `in_response` / `in_remission`: at the latest point.
/// - relapse: the date of the first point after a response at which the
///   response criterion is no longer met; only the first is reported.
/// - `days_in_response`: the sum, over consecutive pairs of points, of the
///   days from a point in response to the next point; the last point adds
///   nothing. Durability as observed through measurement.
/// - `reliable_change`: [`classify_change`] from baseline to latest.
pub fn trajectory(points: &[(Date, f64)], criteria: &Criteria) -> Option<Trajectory> {
    let mut pts = points.to_vec();
    pts.sort_by_key(|p| p.0);
    let (baseline, latest) = (*pts.first()?, *pts.last()?);
    let hiw = criteria.higher_is_worse;
    let base = baseline.1;
    // Compared multiplied out so integer scores stay exact (10 vs 50% of 20).
    let responds = |score: f64| {
        let improvement = if hiw { base - score } else { score - base };
        base > 0.0 && improvement * 100.0 >= criteria.response_drop_pct * base
    };
    let remits = |score: f64| criteria.remission_cutoff.is_some_and(|c| if hiw { score <= c } else { score >= c });

    let (mut first_response, mut first_remission, mut relapse, mut days_in_response) = (None, None, None, 0_i64);
    for (i, &(date, score)) in pts.iter().enumerate() {
        if responds(score) {
            first_response.get_or_insert(date);
            if let Some(&(next, _)) = pts.get(i + 1) {
                days_in_response += date.until(next).map_or(0, |span| i64::from(span.get_days()));
            }
        } else if first_response.is_some() && relapse.is_none() {
            relapse = Some(date);
        }
        if remits(score) {
            first_remission.get_or_insert(date);
        }
    }
    let change = latest.1 - base;
    Some(Trajectory {
        baseline,
        latest,
        change,
        percent_change: (base != 0.0).then(|| change / base * 100.0),
        reliable_change: criteria.reliable_change.map(|t| classify_change(base, latest.1, t, hiw)),
        in_response: responds(latest.1),
        in_remission: remits(latest.1),
        first_response,
        first_remission,
        relapse,
        days_in_response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_known_values() {
        assert_eq!(wilson_interval(1, 0, 1.96), None);
        assert_eq!(wilson_interval(11, 10, 1.96), None);
        // 0/10: lower 0, upper z²/n / (1 + z²/n) = 0.38416 / 1.38416 = 0.2775.
        let (l, u) = wilson_interval(0, 10, 1.96).expect("n > 0");
        assert!(l == 0.0 && close(u, 0.2775, 1e-4));
        let (l, u) = wilson_interval(10, 10, 1.96).expect("n > 0");
        assert!(close(l, 0.7225, 1e-4) && u == 1.0);
        let (l, u) = wilson_interval(5, 10, 1.96).expect("n > 0");
        assert!(close(l, 0.2366, 1e-4) && close(u, 0.7634, 1e-4));
        // p = 0.30798, centre 0.31075, half-width 0.05546.
        let (l, u) = wilson_interval(81, 263, 1.96).expect("n > 0");
        assert!(close(l, 0.2553, 1e-3) && close(u, 0.3662, 1e-3), "{l} {u}");
    }

    #[test]
    fn rate_of() {
        assert_eq!(Rate::of(0, 0), Rate { count: 0, n: 0, rate: None, lower: None, upper: None });
        let r = Rate::of(81, 263);
        assert!(close(r.rate.expect("n > 0"), 81.0 / 263.0, 1e-12));
        assert!(close(r.lower.expect("n > 0"), 0.2553, 1e-3) && close(r.upper.expect("n > 0"), 0.3662, 1e-3));
    }

    proptest! {
        #[test]
        fn wilson_contains_p_hat(n in 1_u64..100_000, frac in 0.0_f64..=1.0, z in 0.5_f64..4.0) {
            let k = ((n as f64) * frac).floor() as u64;
            let (l, u) = wilson_interval(k, n, z).expect("n > 0");
            let p = k as f64 / n as f64;
            prop_assert!(0.0 <= l && l <= p + 1e-12 && p <= u + 1e-12 && u <= 1.0, "{k}/{n}: {l} {u}");
        }

        #[test]
        fn km_is_monotone_and_bounded(obs in prop::collection::vec((0_u8..20, any::<bool>()), 0..60)) {
            let obs: Vec<_> = obs.iter().map(|&(t, event)| KmObservation { time: f64::from(t), event }).collect();
            let curve = kaplan_meier(&obs);
            let mut prev = 1.0;
            for s in &curve.steps {
                prop_assert!(s.survival <= prev && s.lower <= s.survival && s.survival <= s.upper);
                prop_assert!(0.0 <= s.lower && s.upper <= 1.0);
                prev = s.survival;
            }
        }
    }

    fn obs(time: f64, event: bool) -> KmObservation {
        KmObservation { time, event }
    }

    #[test]
    fn km_hand_computed_with_censoring() {
        // Times 3, 5+, 6, 6, 8+, 10, 12+ (+ = censored), given out of order.
        let input = [obs(6.0, true), obs(3.0, true), obs(12.0, false), obs(5.0, false)];
        let input = [&input[..], &[obs(8.0, false), obs(6.0, true), obs(10.0, true)]].concat();
        let c = kaplan_meier(&input);
        assert_eq!((c.n, c.events, c.steps.len()), (7, 4, 6));
        // t:  at risk  d  c   S
        // 3     7      1  0   6/7
        // 5     6      0  1   6/7
        // 6     5      2  0   6/7 × 3/5 = 18/35
        // 8     3      0  1   18/35
        // 10    2      1  0   18/35 × 1/2 = 9/35
        // 12    1      0  1   9/35
        let expect = [(3.0, 7, 1, 0, 6.0 / 7.0), (5.0, 6, 0, 1, 6.0 / 7.0), (6.0, 5, 2, 0, 18.0 / 35.0)];
        let expect =
            [&expect[..], &[(8.0, 3, 0, 1, 18.0 / 35.0), (10.0, 2, 1, 0, 9.0 / 35.0), (12.0, 1, 0, 1, 9.0 / 35.0)]]
                .concat();
        for (s, &(t, r, d, cens, surv)) in c.steps.iter().zip(&expect) {
            assert_eq!((s.time, s.at_risk, s.events, s.censored), (t, r, d, cens));
            assert!(close(s.survival, surv, 1e-12), "t={t}: {}", s.survival);
        }
        // Median: S first <= 0.5 at t = 10 (S(6) = 0.514).
        assert_eq!(c.median, Some(10.0));
        // Greenwood sums: t=3 1/(7·6) = 1/42; t=6 adds 2/(5·3); t=10 adds 1/(2·1).
        // σ = √sum / |ln S|; bounds S^exp(±1.959964 σ) (matches R survfit log-log).
        let ci = [(0.33405, 0.97856), (0.33405, 0.97856), (0.11776, 0.81325)];
        for (s, &(l, u)) in c.steps.iter().zip(&ci) {
            assert!(close(s.lower, l, 1e-4) && close(s.upper, u, 1e-4), "t={}: {} {}", s.time, s.lower, s.upper);
        }
        assert!(close(c.steps[4].lower, 0.01258, 1e-4) && close(c.steps[4].upper, 0.65602, 1e-4));
    }

    #[test]
    fn km_empty_all_censored_and_ties() {
        assert_eq!(kaplan_meier(&[]), KmCurve { n: 0, events: 0, median: None, steps: vec![] });
        let c = kaplan_meier(&[obs(2.0, false), obs(4.0, false), obs(f64::NAN, true)]);
        assert_eq!((c.n, c.events, c.median), (2, 0, None));
        assert!(c.steps.iter().all(|s| s.survival == 1.0 && s.lower == 1.0 && s.upper == 1.0));
        // Tie at 2 of an event and a censoring: both at risk, event first: S = 1 - 1/4.
        // Then at 5: at risk 2, 2 events: S = 0, median 5.
        let c = kaplan_meier(&[obs(2.0, false), obs(2.0, true), obs(5.0, true), obs(5.0, true)]);
        assert_eq!(c.steps.len(), 2);
        assert_eq!((c.steps[0].at_risk, c.steps[0].events, c.steps[0].censored), (4, 1, 1));
        assert!(close(c.steps[0].survival, 0.75, 1e-12));
        assert_eq!((c.steps[1].at_risk, c.steps[1].survival, c.steps[1].lower), (2, 0.0, 0.0));
        assert_eq!(c.median, Some(5.0));
    }

    #[test]
    fn jt_worked_example() {
        // SD 5.0, r 0.84: SE = 5 × 0.4 = 2.0; S_diff = 2.83; 1.96 × 2.83 = 5.54 → 6 points.
        let rc = jt_minimum_reliable_change(5.0, 0.84);
        assert!(close(rc, 5.543, 1e-3), "{rc}");
        assert_eq!(rc.ceil(), 6.0);
    }

    #[test]
    fn reliable_change_at_threshold_edge() {
        use ReliableChange::*;
        assert_eq!(classify_change(20.0, 14.0, 6.0, true), Improved);
        assert_eq!(classify_change(20.0, 15.0, 6.0, true), NoChange);
        assert_eq!(classify_change(14.0, 20.0, 6.0, true), Deteriorated);
        assert_eq!(classify_change(14.0, 20.0, 6.0, false), Improved);
        assert_eq!(classify_change(20.0, 14.0, 6.0, false), Deteriorated);
        assert_eq!(classify_change(5.0, 5.0, 0.0, true), NoChange);
        // serde snake_case (no JSON crate here; toml serialises a bare value).
        assert_eq!(toml::Value::try_from(NoChange).ok(), Some(toml::Value::String("no_change".into())));
    }

    fn phq9() -> Criteria {
        Criteria {
            response_drop_pct: 50.0,
            remission_cutoff: Some(4.0),
            reliable_change: Some(6.0),
            higher_is_worse: true,
        }
    }

    #[test]
    fn trajectory_empty_and_single() {
        assert_eq!(trajectory(&[], &phq9()), None);
        let t = trajectory(&[(date(2025, 1, 1), 12.0)], &phq9()).expect("one point");
        assert_eq!((t.change, t.percent_change, t.in_response, t.days_in_response), (0.0, Some(0.0), false, 0));
        assert_eq!(t.reliable_change, Some(ReliableChange::NoChange));
    }

    #[test]
    fn responder_who_stays_in_response() {
        // Unsorted on purpose. 20 → 12 → 9 → 6: response at <= 10 from Feb 1.
        let pts =
            [(date(2025, 3, 1), 6.0), (date(2025, 1, 1), 20.0), (date(2025, 2, 1), 9.0), (date(2025, 1, 15), 12.0)];
        let t = trajectory(&pts, &phq9()).expect("points");
        assert_eq!((t.baseline, t.latest), ((date(2025, 1, 1), 20.0), (date(2025, 3, 1), 6.0)));
        assert_eq!((t.change, t.percent_change), (-14.0, Some(-70.0)));
        assert_eq!(t.reliable_change, Some(ReliableChange::Improved));
        assert!(t.in_response && !t.in_remission);
        assert_eq!((t.first_response, t.first_remission, t.relapse), (Some(date(2025, 2, 1)), None, None));
        // Feb 1 → Mar 1 = 28 days; Mar 1 is last and adds nothing.
        assert_eq!(t.days_in_response, 28);
    }

    #[test]
    fn responder_who_relapses() {
        // 20, 10 (exactly 50%: response), 4 (remission), 14 (relapse), 6 (response again).
        let pts = [
            (date(2025, 1, 1), 20.0),
            (date(2025, 2, 1), 10.0),
            (date(2025, 3, 1), 4.0),
            (date(2025, 4, 1), 14.0),
            (date(2025, 5, 1), 6.0),
        ];
        let t = trajectory(&pts, &phq9()).expect("points");
        assert_eq!(t.first_response, Some(date(2025, 2, 1)));
        assert_eq!(t.first_remission, Some(date(2025, 3, 1)));
        assert_eq!(t.relapse, Some(date(2025, 4, 1)));
        assert!(t.in_response && !t.in_remission);
        // Feb 1 → Mar 1 (28) + Mar 1 → Apr 1 (31); Apr 1 not in response; May 1 last.
        assert_eq!(t.days_in_response, 59);
    }

    #[test]
    fn non_responder() {
        let pts = [(date(2025, 1, 1), 20.0), (date(2025, 2, 1), 18.0), (date(2025, 3, 1), 15.0)];
        let t = trajectory(&pts, &phq9()).expect("points");
        assert_eq!((t.first_response, t.relapse, t.days_in_response, t.in_response), (None, None, 0, false));
        assert_eq!((t.percent_change, t.reliable_change), (Some(-25.0), Some(ReliableChange::NoChange)));
    }

    #[test]
    fn baseline_zero_never_responds() {
        let pts = [(date(2025, 1, 1), 0.0), (date(2025, 2, 1), 0.0), (date(2025, 3, 1), 7.0)];
        let t = trajectory(&pts, &phq9()).expect("points");
        assert_eq!((t.percent_change, t.first_response, t.in_response), (None, None, false));
        assert_eq!((t.first_remission, t.in_remission), (Some(date(2025, 1, 1)), false));
        assert_eq!(t.reliable_change, Some(ReliableChange::Deteriorated));
    }

    #[test]
    fn remission_without_response() {
        // 6 → 4: a 33% drop (no response) but at the remission cut-off.
        let t = trajectory(&[(date(2025, 1, 1), 6.0), (date(2025, 2, 1), 4.0)], &phq9()).expect("points");
        assert!(!t.in_response && t.in_remission);
        assert_eq!((t.first_response, t.first_remission), (None, Some(date(2025, 2, 1))));
    }

    #[test]
    fn higher_is_better_and_unassessed_criteria() {
        // WHO-5-like: 8 → 13 is +62.5% (>= 50%), and 13 reaches a cut-off of 13.
        let c = Criteria {
            response_drop_pct: 50.0,
            remission_cutoff: Some(13.0),
            reliable_change: Some(5.0),
            higher_is_worse: false,
        };
        let t = trajectory(&[(date(2025, 1, 1), 8.0), (date(2025, 1, 11), 13.0)], &c).expect("points");
        assert!(t.in_response && t.in_remission);
        assert_eq!(t.reliable_change, Some(ReliableChange::Improved));
        let c = Criteria { remission_cutoff: None, reliable_change: None, ..c };
        let t = trajectory(&[(date(2025, 1, 1), 8.0), (date(2025, 1, 11), 13.0)], &c).expect("points");
        assert_eq!((t.in_remission, t.first_remission, t.reliable_change), (false, None, None));
    }
}
