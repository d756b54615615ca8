//! The shipped protocol files, the plans they produce, and the checks every
//! definition must pass.

// One module, so that `cargo test -p kairos-domain protocols` selects every test here.
mod protocols {
    use jiff::civil::{Date, date};
    use jiff::tz::{Offset, TimeZone};
    use jiff::{SignedDuration, Timestamp};
    use kairos_domain::protocols::{
        Anchor, Design, PlannedDose, PlannedSession, Protocol, ProtocolLibrary, Route, SHIPPED, SessionKind, Window,
        plan,
    };
    use proptest::prelude::*;

    const SCHEDULES: &[&str] = &["standard", "ptsd"];

    fn shipped(id: &str) -> Protocol {
        ProtocolLibrary::shipped(SCHEDULES).expect("shipped protocols load").get(id).expect("shipped protocol").clone()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn new_york() -> TimeZone {
        TimeZone::get("America/New_York").expect("bundled tzdb")
    }

    fn day(tz: &TimeZone, t: Timestamp) -> Date {
        tz.to_datetime(t).date()
    }

    fn hours(a: Timestamp, b: Timestamp) -> i64 {
        b.duration_since(a).as_hours()
    }

    /// The most doses in any 7 consecutive days on the clinic's wall clock
    /// (windows start at a dose; 10:00 Monday to 10:00 the next Monday is 7 days
    /// even across a DST change).
    fn most_in_a_week(tz: &TimeZone, doses: &[PlannedDose]) -> usize {
        let local: Vec<_> = doses.iter().map(|d| tz.to_datetime(d.target)).collect();
        local
            .iter()
            .map(|&start| {
                let end = start.checked_add(SignedDuration::from_hours(7 * 24)).expect("in range");
                local.iter().filter(|&&t| start <= t && t < end).count()
            })
            .max()
            .unwrap_or(0)
    }

    fn of_kind(sessions: &[PlannedSession], kind: SessionKind) -> Vec<&PlannedSession> {
        sessions.iter().filter(|s| s.kind == kind).collect()
    }

    #[test]
    fn every_shipped_protocol_loads_validates_and_plans() {
        let lib = ProtocolLibrary::shipped(SCHEDULES).expect("shipped protocols load");
        let ids: Vec<&str> = lib.all().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "apa_iv_induction",
                "ketamine_cbt_trd",
                "ketamine_wet_ptsd",
                "ketamine_asat",
                "ketamine_weekly_psychotherapy",
                "kap_sublingual_im",
                "esketamine_label",
                "esketamine_mdsi"
            ]
        );
        for (file, text) in SHIPPED {
            let p = Protocol::from_toml(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(format!("{}.toml", p.id), *file, "file name is the id");
            let schedule = if p.id == "ketamine_wet_ptsd" { "ptsd" } else { "standard" };
            assert_eq!(p.measure_schedule, schedule, "{file}");
            assert!(!p.evidence.is_empty() && p.evidence.iter().all(|e| !e.caveats.is_empty()), "{file}");
            let plan = plan(&p, ts("2026-03-02T15:00:00Z"), &new_york()).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(plan.doses.len(), p.doses.count as usize, "{file}");
            let expected: u32 = p.sessions.iter().map(|s| s.planned_count(p.doses.count)).sum();
            assert_eq!(plan.sessions.len(), expected as usize, "{file}");
            for s in &plan.sessions {
                assert!(s.opens <= s.preferred_from && s.preferred_from <= s.preferred_to, "{file}: {}", s.label);
                assert!(
                    s.preferred_to <= s.closes && s.opens <= s.target && s.target <= s.closes,
                    "{file}: {}",
                    s.label
                );
            }
        }
    }

    #[test]
    fn shipped_protocols_cite_the_real_papers_not_the_miscited_ones() {
        let lib = ProtocolLibrary::shipped(SCHEDULES).expect("shipped protocols load");
        let citations: Vec<&str> =
            lib.all().iter().flat_map(|p| p.evidence.iter().map(|e| e.citation.as_str())).collect();
        for wrong in ["Szymkowicz", "Williams NR", "Wilkinson ST et al. 2024", "Mathai"] {
            assert!(citations.iter().all(|c| !c.contains(wrong)), "{wrong}");
        }
        let doi = |id: &str, n: usize| shipped(id).evidence[n].doi.clone();
        assert!(shipped("ketamine_wet_ptsd").evidence[0].citation.starts_with("Feder A, Brown O, Rutter SB"));
        assert_eq!(doi("ketamine_wet_ptsd", 0).as_deref(), Some("10.4088/JCP.24m15622"));
        assert_eq!(shipped("ketamine_wet_ptsd").evidence[0].registration.as_deref(), Some("NCT04889664"));
        assert_eq!(doi("ketamine_asat", 0).as_deref(), Some("10.1176/appi.ajp.20220216"));
        assert_eq!(doi("ketamine_cbt_trd", 1).as_deref(), Some("10.1159/000457960"));
        assert!(shipped("ketamine_cbt_trd").evidence[0].citation.contains("Psychother Psychosom 2021;90(5):318"));
        assert_eq!(doi("ketamine_weekly_psychotherapy", 0).as_deref(), Some("10.3390/ijms26146673"));
        assert_eq!(doi("kap_sublingual_im", 0).as_deref(), Some("10.1080/02791072.2019.1587556"));
        assert_eq!(doi("apa_iv_induction", 0).as_deref(), Some("10.1001/jamapsychiatry.2017.0080"));
        // Volume and pages from memory are shown as unconfirmed.
        let price = shipped("ketamine_asat");
        assert!(!price.is_confirmed("evidence[0].citation") && price.is_confirmed("evidence[0].result"));
    }

    #[test]
    fn the_chart_review_and_the_open_label_trials_are_flagged_with_their_weaknesses() {
        let sako = shipped("ketamine_weekly_psychotherapy");
        assert_eq!(sako.evidence[0].design, Design::RetrospectiveChartReview);
        assert!(sako.evidence[0].caveats.iter().any(|c| c.contains("not a trial")));
        assert!(sako.name.contains("retrospective chart review"));
        // Its dose, series and most session facts are unconfirmed defaults.
        for field in ["dose", "doses", "monitoring", "sessions[0].count", "sessions[0].kind"] {
            assert!(!sako.is_confirmed(field), "{field}");
        }
        assert!(sako.is_confirmed("sessions[0].every_hours"), "weekly is what the review says");
        let feder = shipped("ketamine_wet_ptsd");
        assert_eq!(feder.evidence[0].design, Design::OpenLabelSingleArm);
        assert_eq!(feder.evidence[0].n, Some(13));
        assert!(feder.evidence[0].caveats.iter().any(|c| c.contains("no control arm")));
        let cbt = shipped("ketamine_cbt_trd");
        assert!(cbt.evidence[0].design.is_randomized());
        assert!(cbt.evidence[0].caveats.iter().any(|c| c.contains("primary outcome (MADRS) was not significant")));
        assert!(shipped("esketamine_label").evidence[0].design == Design::Label);
    }

    #[test]
    fn unconfirmed_facts_are_listed_for_the_protocol_page() {
        let feder = shipped("ketamine_wet_ptsd");
        let fields: Vec<String> = feder.unconfirmed().into_iter().map(|u| u.field).collect();
        for f in [
            "dose.infusion_minutes",
            "doses.day_pattern",
            "monitoring",
            "sessions[0].window",
            "sessions[0].every_hours",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
        }
        // The abstract confirms the dose, the count and the non-infusion-day rule.
        for f in [
            "dose.amount",
            "doses.count",
            "doses.max_per_week",
            "sessions[0].count",
            "sessions[0].non_dosing_days_only",
        ] {
            assert!(feder.is_confirmed(f), "{f}");
        }
        assert!(!feder.is_confirmed("monitoring.minutes"), "the whole block is a default");
    }

    /// Feder 2025: 6 infusions, 3 a week for 2 weeks; 5 WET sessions from after
    /// infusion 4, always on non-infusion days.
    #[test]
    fn feder_plan_six_infusions_in_14_days_and_wet_only_on_non_infusion_days_after_infusion_4() {
        let p = shipped("ketamine_wet_ptsd");
        let tz = new_york();
        // Mon 2 Mar 2026 10:00 EST. New York moves to EDT on Sun 8 Mar: the plan stays at 10:00 local.
        let plan = plan(&p, ts("2026-03-02T10:00:00-05:00"), &tz).expect("plan");
        let infusion_days: Vec<Date> = plan.doses.iter().map(|d| day(&tz, d.target)).collect();
        assert_eq!(infusion_days, [2, 4, 6, 9, 11, 13].map(|d| date(2026, 3, d)));
        assert!(plan.doses.iter().all(|d| tz.to_datetime(d.target).time() == jiff::civil::time(10, 0, 0, 0)));
        let first = plan.doses[0].target;
        assert!(plan.doses[5].target < first.checked_add(SignedDuration::from_hours(14 * 24)).expect("in range"));
        assert_eq!(most_in_a_week(&tz, &plan.doses), 3);

        let wet = of_kind(&plan.sessions, SessionKind::Wet);
        assert_eq!(wet.len(), 5);
        let after_4 = plan.doses[3].monitoring_ends;
        for s in &wet {
            assert!(!infusion_days.contains(&day(&tz, s.target)), "{} on an infusion day", s.label);
            assert!(s.opens >= after_4 && s.target >= after_4, "{} before infusion 4 ends", s.label);
            assert_eq!(s.anchor_dose, 4);
        }
        let wet_days: Vec<Date> = wet.iter().map(|s| day(&tz, s.target)).collect();
        assert_eq!(wet_days, [10, 12, 14, 16, 18].map(|d| date(2026, 3, d)));
        // They overlap infusions 5 and 6, and all 5 fit within 2 weeks.
        assert!(wet[0].target < plan.doses[4].target && wet[1].target < plan.doses[5].target);
        assert!(hours(wet[0].target, wet[4].target) < 14 * 24);
        // The first window (10 Mar 10:00 to 12 Mar 10:00) holds infusion day 11 Mar, which is excluded.
        assert_eq!(wet[0].excluded_days, [date(2026, 3, 11)]);
        assert_eq!(wet[0].label, "wet 1 of 5, after dose 4");
    }

    /// APA consensus course: 6 infusions, 2-3 a week, never 4 in 7 days.
    #[test]
    fn apa_plan_six_doses_at_two_to_three_a_week() {
        let p = shipped("apa_iv_induction");
        assert_eq!((p.dose.route, p.dose.amount, p.dose.infusion_minutes), (Route::Iv, Some(0.5), Some(40)));
        assert!(p.sessions.is_empty(), "no psychotherapy is tied to the consensus course");
        let tz = new_york();
        // Tue 3 Nov 2026 09:00 EST.
        let plan = plan(&p, ts("2026-11-03T09:00:00-05:00"), &tz).expect("plan");
        assert_eq!(plan.doses.len(), 6);
        let days: Vec<Date> = plan.doses.iter().map(|d| day(&tz, d.target)).collect();
        assert_eq!(days, [3, 5, 7, 10, 12, 14].map(|d| date(2026, 11, d)));
        assert!(most_in_a_week(&tz, &plan.doses) <= 3);
        // Each course week (7 days from dose 1) holds 2 or 3 doses; so does each Mon-Sun calendar week here.
        for week in 0..2 {
            let from = date(2026, 11, 3).checked_add(jiff::Span::new().days(7 * week)).expect("date");
            let to = from.checked_add(jiff::Span::new().days(7)).expect("date");
            let n = days.iter().filter(|d| from <= **d && **d < to).count();
            assert!((2..=3).contains(&n), "week {week}: {n}");
        }
        for w in plan.doses.windows(2) {
            let gap = hours(w[0].target, w[1].target);
            assert!((48..=96).contains(&gap), "{gap}");
            assert!(w[1].earliest <= w[1].target && w[1].target <= w[1].latest);
            assert_eq!(hours(w[0].target, w[1].latest), 96);
        }
        // Dose 4 could not come earlier than a week after dose 1 (3 a week).
        assert_eq!(plan.doses[3].earliest, plan.doses[3].target);
        assert_eq!(hours(plan.doses[0].monitoring_ends, plan.doses[1].target), 48 - 2);
    }

    /// Price 2022: one infusion, then ASAT twice a day on days 1-4 after it.
    #[test]
    fn price_plan_one_infusion_then_asat_twice_daily_on_days_1_to_4() {
        let p = shipped("ketamine_asat");
        let tz = new_york();
        let dose = ts("2026-05-12T11:00:00-04:00");
        let plan = plan(&p, dose, &tz).expect("plan");
        assert_eq!(plan.doses.len(), 1);
        let asat = of_kind(&plan.sessions, SessionKind::AsatHomeExercise);
        assert_eq!(asat.len(), 8);
        assert!(SessionKind::AsatHomeExercise.is_home_exercise());
        assert_eq!(hours(dose, asat[0].opens), 24);
        assert!(asat.iter().all(|s| s.opens >= asat[0].opens && hours(dose, s.target) >= 24 && s.minutes == Some(20)));
        // Two a day on the 4 days after the infusion: 11:00 and 23:00 local.
        let per_day: Vec<(Date, usize)> = (13..=16)
            .map(|d| {
                let d = date(2026, 5, d);
                (d, asat.iter().filter(|s| day(&tz, s.target) == d).count())
            })
            .collect();
        assert!(per_day.iter().all(|(_, n)| *n == 2), "{per_day:?}");
        let offsets: Vec<i64> = asat.iter().map(|s| hours(dose, s.target)).collect();
        assert_eq!(offsets, [24, 36, 48, 60, 72, 84, 96, 108]);
        assert_eq!(hours(dose, asat[7].closes), 120);
    }

    /// Esketamine label: 8 induction doses in 4 weeks, twice a week; at least 2 h of monitoring.
    /// Esketamine for depression with acute suicidal ideation: its own schedule, 84 mg twice a week for 4 weeks.
    #[test]
    fn esketamine_for_acute_suicidal_ideation_is_84_mg_twice_a_week_for_four_weeks() {
        let p = shipped("esketamine_mdsi");
        assert!(p.labelled, "a labelled use: no off-label consent");
        assert_eq!(p.dose.route, Route::Intranasal);
        assert_eq!((p.dose.amount, p.dose.min, p.dose.max), (Some(84.0), Some(56.0), Some(84.0)));
        assert!(!p.is_confirmed("dose.min"), "the reduction to 56 mg is marked unconfirmed");
        assert!(p.monitoring.minutes >= 120);
        let tz = new_york();
        let first = ts("2026-06-01T09:00:00-04:00");
        let plan = plan(&p, first, &tz).expect("plan");
        assert_eq!(plan.doses.len(), 8);
        assert!(hours(first, plan.doses[7].target) < 28 * 24);
        assert_eq!(most_in_a_week(&tz, &plan.doses), 2);
        // The TRD protocol is labelled for monotherapy since January 2025.
        let trd = shipped("esketamine_label");
        assert!(trd.indication.contains("alone or with an oral antidepressant"), "{}", trd.indication);
        assert!(trd.summary.contains("esketamine_mdsi"));
    }

    #[test]
    fn esketamine_induction_is_eight_doses_in_four_weeks_with_two_hours_of_monitoring() {
        let p = shipped("esketamine_label");
        assert_eq!(p.dose.route, Route::Intranasal);
        assert_eq!((p.dose.min, p.dose.max), (Some(56.0), Some(84.0)));
        assert!(p.monitoring.minutes >= 120 && p.is_confirmed("monitoring.minutes"));
        assert!(p.monitoring.checks.iter().any(|c| c.contains("about 40 min after dosing")));
        assert!(p.summary.contains("weeks 5-8 once a week"), "maintenance is described");
        let tz = new_york();
        let first = ts("2026-06-01T09:00:00-04:00");
        let plan = plan(&p, first, &tz).expect("plan");
        assert_eq!(plan.doses.len(), 8);
        let last = plan.doses[7].target;
        assert!(hours(first, last) < 28 * 24);
        assert_eq!(most_in_a_week(&tz, &plan.doses), 2);
        let offsets: Vec<i64> = plan.doses.iter().map(|d| hours(first, d.target) / 24).collect();
        assert_eq!(offsets, [0, 3, 7, 10, 14, 17, 21, 24]);
        assert!(plan.doses.iter().all(|d| hours(d.target, d.monitoring_ends) == 2));
        assert!(plan.sessions.is_empty());
    }

    #[test]
    fn cbt_continuation_follows_the_six_infusions_for_responders() {
        let p = shipped("ketamine_cbt_trd");
        assert!(p.sessions[0].condition.as_deref().is_some_and(|c| c.contains("responded")));
        let first = ts("2026-01-05T10:00:00Z");
        let plan = plan(&p, first, &TimeZone::UTC).expect("plan");
        assert!(hours(first, plan.doses[5].target) < 21 * 24, "6 infusions over 3 weeks");
        assert_eq!(most_in_a_week(&TimeZone::UTC, &plan.doses), 2);
        let cbt = of_kind(&plan.sessions, SessionKind::Cbt);
        assert_eq!(cbt.len(), 16);
        assert!(cbt.iter().all(|s| s.opens >= plan.doses[5].monitoring_ends));
        assert!(hours(plan.doses[5].target, cbt[15].target) <= 14 * 7 * 24, "within 14 weeks of the last infusion");
    }

    #[test]
    fn kap_plan_has_preparation_before_and_integration_after_each_dose() {
        let p = shipped("kap_sublingual_im");
        assert_eq!(p.dose.route, Route::Sublingual);
        assert_eq!(p.dose.alternatives[0].route, Route::Im);
        assert!(!p.is_confirmed("dose.alternatives[0]"), "the IM range was not retrieved");
        let first = ts("2026-09-07T10:00:00Z");
        let plan = plan(&p, first, &TimeZone::UTC).expect("plan");
        let prep = of_kind(&plan.sessions, SessionKind::Preparation);
        assert_eq!(prep.len(), 2);
        assert!(prep.iter().all(|s| s.closes <= first));
        assert_eq!(prep.iter().map(|s| hours(s.target, first)).collect::<Vec<_>>(), [240, 72]);
        let integration = of_kind(&plan.sessions, SessionKind::Integration);
        assert_eq!(integration.len(), 6);
        for (s, d) in integration.iter().zip(&plan.doses) {
            assert_eq!(s.anchor_dose, d.number);
            assert!(s.opens >= d.monitoring_ends && hours(d.target, s.target) == 24);
            assert_eq!(s.label, format!("integration {} of 6, after dose {}", d.number, d.number));
        }
        // Weekly dosing sessions.
        assert!(plan.doses.windows(2).all(|w| hours(w[0].target, w[1].target) == 168));
    }

    #[test]
    fn a_clinic_file_replaces_a_shipped_protocol_and_must_name_a_known_schedule() {
        let (_, apa) = SHIPPED[0];
        let local = apa.replace("count = 6\n", "count = 4\n");
        let files = SHIPPED.iter().copied().chain([("local/apa.toml", local.as_str())]);
        let lib = ProtocolLibrary::load(files, SCHEDULES).expect("loads");
        assert_eq!(lib.all().len(), SHIPPED.len());
        assert_eq!(lib.get("apa_iv_induction").map(|p| p.doses.count), Some(4));
        let other = apa.replace("measure_schedule = \"standard\"", "measure_schedule = \"weekly_only\"");
        let err = ProtocolLibrary::load([("local/apa.toml", other.as_str())], SCHEDULES).expect_err("unknown schedule");
        assert_eq!(err.field(), "local/apa.toml");
        assert!(
            err.to_string().contains("apa_iv_induction.measure_schedule") && err.to_string().contains("weekly_only")
        );
    }

    #[test]
    fn validation_errors_name_the_field() {
        let field = |p: &Protocol| p.validate().expect_err("refused").field().to_string();
        let apa = shipped("apa_iv_induction");
        let feder = shipped("ketamine_wet_ptsd");

        let mut p = apa.clone();
        p.doses.min_spacing_hours = Some(120);
        assert_eq!(field(&p), "apa_iv_induction.doses.max_spacing_hours", "min spacing above max spacing");
        let mut p = apa.clone();
        p.doses.count = 0;
        assert_eq!(field(&p), "apa_iv_induction.doses.count");
        let mut p = apa.clone();
        p.doses.min_spacing_hours = None;
        assert_eq!(field(&p), "apa_iv_induction.doses.min_spacing_hours");
        // 3 a week at 48 h leaves a 72 h gap before dose 4: a 60 h maximum cannot hold.
        let mut p = apa.clone();
        p.doses.max_spacing_hours = Some(60);
        let err = p.validate().expect_err("infeasible");
        assert_eq!(err.field(), "apa_iv_induction.doses.max_spacing_hours");
        assert!(err.to_string().contains("dose 4"), "{err}");
        let mut p = apa.clone();
        p.dose.infusion_minutes = None;
        assert_eq!(field(&p), "apa_iv_induction.dose.infusion_minutes");
        let mut p = apa.clone();
        p.dose.route = Route::Intranasal;
        assert_eq!(field(&p), "apa_iv_induction.dose.infusion_minutes", "only IV doses are infused");
        let mut p = apa.clone();
        p.dose.unconfirmed.insert("colour".into(), "x".into());
        assert_eq!(field(&p), "apa_iv_induction.dose.unconfirmed.colour");
        let mut p = apa.clone();
        p.evidence[1].caveats.clear();
        assert_eq!(field(&p), "apa_iv_induction.evidence[1].caveats");
        let mut p = apa.clone();
        p.evidence[0].doi = Some("https://doi.org/10.1001/x".into());
        assert_eq!(field(&p), "apa_iv_induction.evidence[0].doi");
        let mut p = apa.clone();
        p.id = "APA IV".into();
        assert_eq!(field(&p), "protocol.id");
        // Fasting and nasal-medicine rules before a dose.
        let esk = shipped("esketamine_label");
        let mut p = esk.clone();
        p.monitoring.fasting = Some(kairos_domain::protocols::Fasting { food_hours: 0, liquid_minutes: 0 });
        assert_eq!(field(&p), "esketamine_label.monitoring.fasting", "a rule that forbids nothing");
        let mut p = esk.clone();
        p.monitoring.fasting = Some(kairos_domain::protocols::Fasting { food_hours: 2, liquid_minutes: 2000 });
        assert_eq!(field(&p), "esketamine_label.monitoring.fasting.liquid_minutes");
        let mut p = esk.clone();
        p.monitoring.fasting = Some(kairos_domain::protocols::Fasting { food_hours: 30, liquid_minutes: 30 });
        assert_eq!(field(&p), "esketamine_label.monitoring.fasting.food_hours");
        let mut p = esk.clone();
        p.monitoring.nasal_medicines_minutes_before = Some(0);
        assert_eq!(field(&p), "esketamine_label.monitoring.nasal_medicines_minutes_before");
        let mut p = apa.clone();
        p.monitoring.nasal_medicines_minutes_before = Some(60);
        let err = p.validate().expect_err("an IV protocol has no nasal rule");
        assert_eq!(err.field(), "apa_iv_induction.monitoring.nasal_medicines_minutes_before");
        assert!(err.to_string().contains("intranasal"), "{err}");
        let mut p = apa.clone();
        p.monitoring.unconfirmed.insert("fasting".into(), "not yet set".into());
        assert_eq!(field(&p), "apa_iv_induction.monitoring.unconfirmed.fasting", "unconfirmed names a field not set");
        let mut p = esk.clone();
        p.monitoring.unconfirmed.insert("fasting".into(), "the label's wording".into());
        p.validate().expect("a set field may be marked unconfirmed");

        let mut p = feder.clone();
        p.sessions[0].anchor = Anchor::AfterDose { dose: 9 };
        let err = p.validate().expect_err("dose 9 of 6");
        assert_eq!(err.field(), "ketamine_wet_ptsd.sessions[0].anchor.dose");
        assert!(err.to_string().contains("dose 9 of a 6-dose series"), "{err}");
        let mut p = feder.clone();
        p.doses.day_pattern = Some(vec![0, 2, 4, 6, 9, 11]);
        let err = p.validate().expect_err("4 in a week");
        assert_eq!(err.field(), "ketamine_wet_ptsd.doses.day_pattern");
        let mut p = feder.clone();
        p.doses.day_pattern = Some(vec![0, 2, 4, 7, 9]);
        assert_eq!(field(&p), "ketamine_wet_ptsd.doses.day_pattern");
        let mut p = feder.clone();
        p.sessions[0].window =
            Window { opens_hours: 24, preferred_from_hours: 12, preferred_to_hours: 48, closes_hours: 72 };
        assert_eq!(field(&p), "ketamine_wet_ptsd.sessions[0].window");
        let mut p = feder.clone();
        p.sessions[0].window.opens_hours = 1;
        p.sessions[0].window.preferred_from_hours = 1;
        assert_eq!(field(&p), "ketamine_wet_ptsd.sessions[0].window.opens_hours", "opens before monitoring ends");
        let mut p = feder.clone();
        p.sessions[0].every_hours = None;
        assert_eq!(field(&p), "ketamine_wet_ptsd.sessions[0].every_hours");
        let mut p = shipped("ketamine_asat");
        p.sessions[0].count = 7;
        assert_eq!(field(&p), "ketamine_asat.sessions[0].count", "7 does not split into days of 2");
        let mut p = shipped("ketamine_asat");
        p.sessions[0].anchor = Anchor::BetweenDoses;
        assert_eq!(field(&p), "ketamine_asat.sessions[0].anchor", "one dose has no gaps");
        let mut p = shipped("kap_sublingual_im");
        p.sessions[0].window.closes_hours = 0;
        assert_eq!(field(&p), "kap_sublingual_im.sessions[0].window.closes_hours", "second window ends after dose 1");
        let mut p = shipped("kap_sublingual_im");
        p.dose.alternatives[0].route = Route::Sublingual;
        assert_eq!(field(&p), "kap_sublingual_im.dose.alternatives[0].route");
        let mut p = shipped("kap_sublingual_im");
        p.dose.min = Some(500.0);
        assert_eq!(field(&p), "kap_sublingual_im.dose.max");

        // The parser refuses unknown fields and values, saying which.
        let (_, text) = SHIPPED[0];
        let err = Protocol::from_toml(&text.replace("[doses]\n", "[doses]\nspacing = 2\n")).expect_err("unknown field");
        assert!(err.field() == "protocol" && err.to_string().contains("spacing"), "{err}");
        let err = Protocol::from_toml(&text.replace("route = \"iv\"", "route = \"oral\"")).expect_err("unknown route");
        assert!(err.to_string().contains("oral"), "{err}");
    }

    /// A protocol with sessions between doses, to show the cut-off and the
    /// non-dosing-day push.
    fn between_doses_protocol() -> Protocol {
        let mut p = shipped("apa_iv_induction");
        let (_, feder) = SHIPPED.iter().find(|(f, _)| *f == "ketamine_wet_ptsd.toml").expect("feder");
        let mut s = Protocol::from_toml(feder).expect("feder").sessions.remove(0);
        s.kind = SessionKind::Integration;
        s.count = 1;
        s.every_hours = None;
        s.anchor = Anchor::BetweenDoses;
        s.unconfirmed.clear();
        // Preferred on the day of the dose (3 h after), which is a dosing day: pushed to the next day.
        s.window = Window { opens_hours: 3, preferred_from_hours: 3, preferred_to_hours: 40, closes_hours: 100 };
        p.sessions = vec![s];
        p
    }

    #[test]
    fn between_doses_windows_close_at_the_next_dose_and_skip_dosing_days() {
        let p = between_doses_protocol();
        p.validate().expect("valid");
        let first = ts("2026-11-03T09:00:00Z");
        let plan = plan(&p, first, &TimeZone::UTC).expect("plan");
        assert_eq!(plan.sessions.len(), 5, "one per gap");
        for (s, w) in plan.sessions.iter().zip(plan.doses.windows(2)) {
            assert!(s.closes <= w[1].target, "{}", s.label);
            assert_eq!(hours(w[0].target, s.target), 27, "{}: pushed from 3 h to the next day", s.label);
            assert!(s.excluded_days.contains(&day(&TimeZone::UTC, w[0].target)));
        }
        assert_eq!(plan.sessions[0].label, "integration 1 of 5, between doses 1 and 2");
        // The gap from dose 3 (day 4) to dose 4 (day 7) is 72 h: its window closes 72 h after dose 3, not 100.
        assert_eq!(hours(plan.doses[2].target, plan.sessions[2].closes), 72);
        // A window that only holds dosing days is refused, naming the rule.
        let mut p = between_doses_protocol();
        p.sessions[0].window =
            Window { opens_hours: 3, preferred_from_hours: 3, preferred_to_hours: 3, closes_hours: 4 };
        let err = kairos_domain::protocols::plan(&p, first, &TimeZone::UTC).expect_err("no free day");
        assert_eq!(err.field(), "apa_iv_induction.sessions[0].non_dosing_days_only");
    }

    #[test]
    fn plans_are_deterministic_and_keep_the_clinic_wall_clock_across_dst() {
        let p = shipped("apa_iv_induction");
        let berlin = TimeZone::get("Europe/Berlin").expect("bundled tzdb");
        // Fri 27 Mar 2026 10:00 CET; Berlin moves to CEST on Sun 29 Mar.
        let first = ts("2026-03-27T09:00:00Z");
        let a = plan(&p, first, &berlin).expect("plan");
        assert_eq!(a, plan(&p, first, &berlin).expect("plan"));
        assert!(a.doses.iter().all(|d| berlin.to_datetime(d.target).time() == jiff::civil::time(10, 0, 0, 0)));
        // 48 wall-clock hours across the change are 47 real hours.
        assert_eq!(hours(a.doses[0].target, a.doses[1].target), 47);
        assert!(plan(&p, Timestamp::MAX, &TimeZone::UTC).is_err_and(|e| e.field() == "first_dose"));
    }

    proptest! {
        /// Any series either plans within its spacing and weekly limit, or is
        /// refused because the weekly limit forces a gap beyond the maximum spacing.
        #[test]
        fn planned_dose_spacing_respects_min_and_max(
            count in 1u32..=12,
            min in 1i64..=240,
            extra in 0i64..=400,
            per_week in proptest::option::of(1u32..=7),
            offset_hours in -12i32..=14,
            start in 946_684_800i64..4_102_444_800,
        ) {
            let mut p = shipped("apa_iv_induction");
            p.doses.count = count;
            p.doses.min_spacing_hours = Some(min);
            p.doses.max_spacing_hours = Some(min + extra);
            p.doses.max_per_week = per_week;
            if let Err(e) = p.validate() {
                prop_assert_eq!(e.field(), "apa_iv_induction.doses.max_spacing_hours");
                return Ok(());
            }
            let tz = TimeZone::fixed(Offset::from_hours(offset_hours as i8).expect("offset"));
            let first = Timestamp::from_second(start).expect("in range");
            let plan = plan(&p, first, &tz).expect("a valid protocol plans");
            prop_assert_eq!(plan.doses.len(), count as usize);
            prop_assert_eq!(plan.doses[0].target, first);
            for w in plan.doses.windows(2) {
                let gap = hours(w[0].target, w[1].target);
                prop_assert!(min <= gap && gap <= min + extra, "gap {} outside {}..={}", gap, min, min + extra);
                prop_assert!(w[1].earliest <= w[1].target && w[1].target <= w[1].latest);
                prop_assert!(hours(w[0].target, w[1].earliest) >= min);
            }
            if let Some(k) = per_week {
                prop_assert!(most_in_a_week(&tz, &plan.doses) <= k as usize);
            }
        }
    }
}
