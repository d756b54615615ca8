//! Worked scoring examples for the PCL-5 and the QIDS-SR16, through the
//! public API: cluster sub-scores and the provisional-diagnosis rule at its
//! edges, domain-maximum scoring, band edges, safety alerts and the answers
//! that are refused.

use kairos_domain::instruments::{AlertLevel, Instrument, Library, SHIPPED};
use proptest::prelude::*;

fn shipped(id: &str) -> Instrument {
    let lib = Library::shipped().expect("shipped instruments load");
    lib.get(id).expect("instrument is shipped").clone()
}

fn all(v: &[i64]) -> Vec<Option<i64>> {
    v.iter().map(|x| Some(*x)).collect()
}

/// Answers whose plain sum is `total`, filling items in `order` (0-based
/// indices) up to `max` each, every other item 0.
fn spread(n_items: usize, order: &[usize], max: i64, total: i64) -> Vec<i64> {
    let mut items = vec![0i64; n_items];
    let mut left = total;
    for &i in order {
        let take = left.min(max);
        items[i] = take;
        left -= take;
    }
    assert_eq!(left, 0, "{total} does not fit");
    items
}

// ---------------------------------------------------------------- both

#[test]
fn both_definitions_load_validate_and_have_their_ranges() {
    let lib = Library::shipped().expect("shipped instruments load");
    let pcl = lib.get("pcl5").expect("pcl5");
    let qids = lib.get("qids_sr16").expect("qids_sr16");
    pcl.validate().expect("pcl5 valid");
    qids.validate().expect("qids valid");
    assert_eq!((pcl.items.len(), pcl.score_range()), (20, (0, 80)));
    assert_eq!((qids.items.len(), qids.score_range()), (16, (0, 27)));
    assert_eq!(pcl.recall, "the past month");
    assert_eq!(qids.recall, "the past 7 days");

    // The shipped text parses on its own too (what a clinic copies).
    for file in ["pcl5.toml", "qids_sr16.toml"] {
        let (_, text) = SHIPPED.iter().find(|(name, _)| *name == file).expect("shipped file");
        Instrument::from_toml(text).expect("valid definition");
    }

    // Full content: every item has its text; PCL-5 shares five options,
    // each QIDS item has its own four (0-3), all labelled.
    assert!(pcl.items.iter().chain(&qids.items).all(|i| i.text.as_deref().is_some_and(|t| !t.is_empty())));
    let labels: Vec<&str> = pcl.options.iter().filter_map(|o| o.label.as_deref()).collect();
    assert_eq!(labels, ["Not at all", "A little bit", "Moderately", "Quite a bit", "Extremely"]);
    for item in &qids.items {
        let opts = item.options.as_deref().expect("own options");
        assert_eq!(opts.iter().map(|o| o.value).collect::<Vec<_>>(), [0, 1, 2, 3], "item {}", item.id);
        assert!(opts.iter().all(|o| o.label.is_some()), "item {}", item.id);
    }
    assert_eq!(qids.items[0].text.as_deref(), Some("Falling asleep"));
    assert_eq!(
        qids.items[0].options.as_deref().expect("options")[0].label.as_deref(),
        Some("I never take longer than 30 minutes to fall asleep.")
    );
    assert_eq!(pcl.items[15].text.as_deref(), Some("Taking too many risks or doing things that could cause you harm?"));
}

#[test]
fn every_rule_says_where_it_comes_from() {
    for id in ["pcl5", "qids_sr16"] {
        let i = shipped(id);
        let mut sources = vec![&i.scoring.provenance, &i.missing.provenance];
        sources.extend(i.severity.as_ref().map(|b| &b.provenance));
        sources.extend(i.response.as_ref().map(|r| &r.provenance));
        sources.extend(i.remission.as_ref().map(|r| &r.provenance));
        sources.extend(i.reliable_change.as_ref().map(|r| &r.provenance));
        sources.extend(i.diagnosis.as_ref().map(|d| &d.provenance));
        sources.extend(i.alerts.iter().map(|a| &a.provenance));
        assert!(sources.iter().all(|p| !p.source.trim().is_empty()), "{id}");
        // Only confirmed facts are marked so; these are the defaults.
        assert!(!i.missing.provenance.confirmed, "{id} missing rule is a default");
        assert!(i.alerts.iter().all(|a| !a.provenance.confirmed), "{id} alerts are design choices");
        assert!(i.loinc.is_none(), "{id}: LOINC not confirmed");
    }
    let pcl = shipped("pcl5");
    let rc = pcl.reliable_change.as_ref().expect("reliable change");
    assert_eq!((rc.threshold(), rc.provenance.confirmed), (Some(15.0), true));
    assert!(!pcl.response.as_ref().expect("response").provenance.confirmed);
    assert!(pcl.remission.is_none());
    let qids = shipped("qids_sr16");
    assert!(qids.scoring.provenance.confirmed && qids.severity.as_ref().expect("bands").provenance.confirmed);
    assert_eq!(qids.response.as_ref().map(|r| (r.drop_pct, r.provenance.confirmed)), Some((50.0, false)));
    assert_eq!(qids.remission.as_ref().map(|r| (r.max_score, r.provenance.confirmed)), Some((5, false)));
    assert!(qids.reliable_change.is_none());
}

// ---------------------------------------------------------------- PCL-5

#[test]
fn pcl5_cluster_subscores_on_a_worked_example() {
    let i = shipped("pcl5");
    #[rustfmt::skip]
    let answers = all(&[
        4, 3, 2, 1, 0,          // B (1-5):   10
        2, 3,                   // C (6-7):    5
        1, 1, 1, 1, 1, 1, 1,    // D (8-14):   7
        0, 1, 2, 3, 4, 0,       // E (15-20): 10
    ]);
    let s = i.score(&answers).expect("valid");
    assert_eq!(s.score, 32);
    let sub: Vec<(&str, i64)> = s.subscores.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(sub, [("B", 10), ("C", 5), ("D", 7), ("E", 10)]);
    assert!(!s.prorated && s.missing.is_empty());
    // B, C and E are met, but no D item reaches 2: no provisional diagnosis.
    assert_eq!(s.provisional_diagnosis, Some(false));
    // Item 16 is at 1: no soft alert.
    assert!(s.alerts.is_empty());
}

/// PCL-5 answers with the given items (1-based) at the given values, the rest 0.
fn pcl(set: &[(usize, i64)]) -> Vec<Option<i64>> {
    let mut v = vec![0i64; 20];
    for &(item, value) in set {
        v[item - 1] = value;
    }
    all(&v)
}

#[test]
fn pcl5_provisional_diagnosis_at_its_edges() {
    let i = shipped("pcl5");
    // Exactly the minimum: 1 B (item 1), 1 C (item 6), 2 D (8, 9), 2 E (15, 17), each at 2.
    let minimum = [(1, 2), (6, 2), (8, 2), (9, 2), (15, 2), (17, 2)];
    let s = i.score(&pcl(&minimum)).expect("valid");
    assert_eq!((s.score, s.provisional_diagnosis), (12, Some(true)));
    // A total far below the cut-off can still meet the symptom rule.
    assert_eq!(s.severity.as_deref(), Some("below the probable-PTSD cut-off (31-33)"));

    // One D item at 1 instead of 2: not endorsed, so no diagnosis.
    let mut d_short = minimum;
    d_short[3] = (9, 1);
    assert_eq!(i.score(&pcl(&d_short)).expect("valid").provisional_diagnosis, Some(false));

    // Each cluster one item short, in turn.
    for drop in [0, 1, 2, 4] {
        let mut short = minimum;
        short[drop].1 = 1;
        let s = i.score(&pcl(&short)).expect("valid");
        assert_eq!(s.provisional_diagnosis, Some(false), "without {:?}", minimum[drop]);
    }

    // Everything at 1 ("A little bit") endorses nothing, whatever the total.
    let s = i.score(&all(&[1; 20])).expect("valid");
    assert_eq!((s.score, s.provisional_diagnosis), (20, Some(false)));
    // Endorsements in the wrong clusters do not count: 6 items at 4, all in B and D.
    let s = i.score(&pcl(&[(1, 4), (2, 4), (3, 4), (8, 4), (9, 4), (10, 4)])).expect("valid");
    assert_eq!((s.score, s.provisional_diagnosis), (24, Some(false)));
}

#[test]
fn pcl5_band_edge_at_the_probable_ptsd_cut_off() {
    let i = shipped("pcl5");
    let order: Vec<usize> = (0..20).collect();
    for (total, band) in [
        (0, "below the probable-PTSD cut-off (31-33)"),
        (32, "below the probable-PTSD cut-off (31-33)"),
        (33, "at or above the probable-PTSD cut-off (31-33)"),
        (80, "at or above the probable-PTSD cut-off (31-33)"),
    ] {
        let s = i.score(&all(&spread(20, &order, 4, total))).expect("valid");
        assert_eq!(s.score, total);
        assert_eq!(s.severity.as_deref(), Some(band), "total {total}");
    }
}

#[test]
fn pcl5_item_16_raises_a_soft_review_flag_from_quite_a_bit() {
    let i = shipped("pcl5");
    assert!(i.score(&pcl(&[(16, 2)])).expect("valid").alerts.is_empty());
    for value in [3, 4] {
        let s = i.score(&pcl(&[(16, value)])).expect("valid");
        assert_eq!(s.alerts.len(), 1);
        let a = &s.alerts[0];
        assert_eq!((a.item.as_str(), a.value, a.level, a.self_harm), ("16", value, AlertLevel::Review, false));
    }
}

#[test]
fn pcl5_refuses_missing_and_out_of_range_answers() {
    let i = shipped("pcl5");
    // No prorating: one unanswered item is refused, naming it.
    let mut answers = pcl(&[]);
    answers[6] = None;
    let err = i.score(&answers).expect_err("missing item");
    assert_eq!(err.field(), "answers");
    assert!(err.to_string().contains("item 7"), "{err}");

    // 5 is not an option; the error names the answer and the item.
    let mut answers = pcl(&[]);
    answers[19] = Some(5);
    let err = i.score(&answers).expect_err("out of range");
    assert_eq!(err.field(), "answers[19]");
    assert!(err.to_string().contains("item 20"), "{err}");

    let err = i.score(&all(&[0; 19])).expect_err("wrong count");
    assert_eq!(err.field(), "answers");
}

// ---------------------------------------------------------------- QIDS-SR16

#[test]
fn qids_scores_domain_maxima_on_a_worked_example() {
    let i = shipped("qids_sr16");
    #[rustfmt::skip]
    let answers = [
        1, 3, 0, 2,   // sleep, items 1-4:            max 3
        2,            // sad mood, item 5:                2
        1, 0, 2, 0,   // appetite/weight, items 6-9:  max 2
        1,            // concentration, item 10:          1
        2,            // view of myself, item 11:         2
        0,            // thoughts of death, item 12:      0
        1,            // general interest, item 13:       1
        2,            // energy, item 14:                 2
        0, 3,         // psychomotor, items 15-16:    max 3
    ];
    // By hand: 3 + 2 + 2 + 1 + 2 + 0 + 1 + 2 + 3 = 16 ("severe");
    // the plain item sum would have been 20.
    assert_eq!(answers.iter().sum::<i64>(), 20);
    let s = i.score(&all(&answers)).expect("valid");
    assert_eq!(s.score, 16);
    assert_eq!(s.severity.as_deref(), Some("severe"));
    assert!(!s.prorated && s.missing.is_empty() && s.alerts.is_empty());
    assert_eq!(s.provisional_diagnosis, None);
}

/// QIDS answers whose domain total is `total`: one item per domain, item 12
/// (thoughts of death, index 11) filled last so that it stays 0 up to 24.
fn qids_total(total: i64) -> Vec<Option<i64>> {
    // Items 1, 5, 6, 10, 11, 13, 14, 15, then 12.
    all(&spread(16, &[0, 4, 5, 9, 10, 12, 13, 14, 11], 3, total))
}

#[test]
fn qids_band_edges() {
    let i = shipped("qids_sr16");
    for (total, band) in [
        (0, "none"),
        (5, "none"),
        (6, "mild"),
        (10, "mild"),
        (11, "moderate"),
        (15, "moderate"),
        (16, "severe"),
        (20, "severe"),
        (21, "very severe"),
        (27, "very severe"),
    ] {
        let s = i.score(&qids_total(total)).expect("valid");
        assert_eq!(s.score, total);
        assert_eq!(s.severity.as_deref(), Some(band), "total {total}");
    }
}

#[test]
fn qids_item_12_raises_review_from_1_and_urgent_from_2() {
    let i = shipped("qids_sr16");
    let with_item_12 = |v: i64| {
        let mut a = all(&[0; 16]);
        a[11] = Some(v);
        i.score(&a).expect("valid")
    };
    assert!(with_item_12(0).alerts.is_empty());

    let s = with_item_12(1);
    assert_eq!(s.alerts.len(), 1);
    assert_eq!((s.alerts[0].item.as_str(), s.alerts[0].level), ("12", AlertLevel::Review));
    assert!(s.alerts[0].self_harm);

    assert_eq!(s.alerts[0].client_message.as_deref(), Some("You told us life feels empty or not worth living."));

    // 2 and 3 meet both rules; the administration raises one alert, the
    // urgent one, and the client is told about thoughts of suicide or death
    // (not the PHQ-9's "better off dead").
    for v in [2, 3] {
        let s = with_item_12(v);
        assert_eq!(s.alerts.len(), 1, "item 12 = {v}");
        let a = &s.alerts[0];
        assert_eq!((a.item.as_str(), a.value, a.level, a.self_harm), ("12", v, AlertLevel::Urgent, true));
        let told = a.client_message.as_deref().expect("a self-harm alert tells the client");
        assert!(told.contains("suicide or death") && !told.contains("better off dead"), "{told}");
    }
}

#[test]
fn qids_refuses_an_unanswered_item_12_naming_it() {
    let i = shipped("qids_sr16");
    let mut answers = all(&[1; 16]);
    answers[11] = None;
    let err = i.score(&answers).expect_err("item 12 is required");
    assert_eq!(err.field(), "answers[11]");
    assert!(err.to_string().contains("item 12"), "{err}");
}

#[test]
fn qids_refuses_a_whole_missing_domain() {
    let i = shipped("qids_sr16");
    // Psychomotor: both items 15 and 16 unanswered.
    let mut answers = all(&[1; 16]);
    answers[14] = None;
    answers[15] = None;
    let err = i.score(&answers).expect_err("psychomotor domain missing");
    assert_eq!(err.field(), "answers");
    let msg = err.to_string();
    assert!(msg.contains("item 15") && msg.contains("item 16") && msg.contains("domains"), "{msg}");

    // A one-item domain (item 5, sad mood) left blank is a missing domain.
    let mut answers = all(&[1; 16]);
    answers[4] = None;
    let err = i.score(&answers).expect_err("sad mood missing");
    assert!(err.to_string().contains("item 5"), "{err}");

    // All four sleep items blank.
    let mut answers = all(&[1; 16]);
    answers[..4].fill(None);
    assert!(i.score(&answers).is_err());
}

#[test]
fn qids_scores_a_max_domain_from_its_answered_items() {
    let i = shipped("qids_sr16");
    let mut answers = all(&[1, 3, 0, 2, 2, 1, 0, 2, 0, 1, 2, 0, 1, 2, 0, 3]);
    // Item 2 (3, the sleep maximum) left blank: sleep = max(1, 0, 2) = 2,
    // so the worked example's 16 becomes 15 ("moderate"), not prorated.
    answers[1] = None;
    let s = i.score(&answers).expect("a domain with an answered item is scored");
    assert_eq!((s.score, s.prorated), (15, false));
    assert_eq!(s.missing, ["2"]);
    assert_eq!(s.severity.as_deref(), Some("moderate"));

    // The usual pattern: only one of each appetite and weight pair answered.
    let mut answers = all(&[1, 3, 0, 2, 2, 1, 0, 2, 0, 1, 2, 0, 1, 2, 0, 3]);
    answers[6] = None;
    answers[8] = None;
    let s = i.score(&answers).expect("valid");
    assert_eq!(s.score, 16);
    assert_eq!(s.missing, ["7", "9"]);
}

#[test]
fn qids_refuses_an_out_of_range_answer_naming_the_item() {
    let i = shipped("qids_sr16");
    for (index, value) in [(15, 4), (0, -1)] {
        let mut answers = all(&[0; 16]);
        answers[index] = Some(value);
        let err = i.score(&answers).expect_err("out of range");
        assert_eq!(err.field(), format!("answers[{index}]"));
        assert!(err.to_string().contains(&format!("item {}:", index + 1)), "{err}");
    }
}

/// The QIDS-SR16 total by hand: the nine domains, each the highest answered item.
fn qids_by_hand(a: &[Option<i64>]) -> Option<i64> {
    let domains: [&[usize]; 9] = [&[0, 1, 2, 3], &[4], &[5, 6, 7, 8], &[9], &[10], &[11], &[12], &[13], &[14, 15]];
    domains.iter().map(|d| d.iter().filter_map(|&n| a[n]).max()).sum()
}

proptest! {
    #[test]
    fn any_complete_pcl5_scores_within_range_and_clusters_add_up(items in proptest::array::uniform20(0i64..=4)) {
        let i = shipped("pcl5");
        let s = i.score(&all(&items)).expect("valid");
        prop_assert!((0..=80).contains(&s.score));
        prop_assert_eq!(s.score, items.iter().sum::<i64>());
        prop_assert_eq!(s.subscores.values().sum::<i64>(), s.score);
        prop_assert!(s.severity.is_some() && s.provisional_diagnosis.is_some());
    }

    #[test]
    fn any_valid_qids_answers_score_within_range_as_computed_by_hand(
        answers in proptest::array::uniform16(proptest::option::weighted(0.85, 0i64..=3))
    ) {
        let i = shipped("qids_sr16");
        match (i.score(&answers), qids_by_hand(&answers)) {
            // Every domain has an answer and item 12 is answered: scored.
            (Ok(s), Some(total)) => {
                prop_assert!(answers[11].is_some());
                prop_assert!((0..=27).contains(&s.score));
                prop_assert_eq!(s.score, total);
                prop_assert!(!s.prorated && s.severity.is_some());
            }
            // Refused only when item 12 or a whole domain is missing.
            (Err(_), by_hand) => prop_assert!(answers[11].is_none() || by_hand.is_none()),
            (Ok(s), None) => prop_assert!(false, "scored {} with a domain missing", s.score),
        }
    }
}
