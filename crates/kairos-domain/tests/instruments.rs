//! Worked scoring examples for PHQ-9, GAD-7, MADRS, C-SSRS screener and
//! CADSS-6, and the checks every definition must pass.
//! (PCL-5 and QIDS-SR16: `instruments_pcl5_qids.rs`.)

use kairos_domain::instruments::{AlertLevel, Instrument, SHIPPED};
use proptest::prelude::*;

fn shipped(file: &str) -> Instrument {
    let (_, text) = SHIPPED.iter().find(|(name, _)| *name == file).expect("shipped file");
    Instrument::from_toml(text).expect("valid definition")
}

fn all(v: &[i64]) -> Vec<Option<i64>> {
    v.iter().map(|x| Some(*x)).collect()
}

/// PHQ-9 answers with item 10 (difficulty, unscored) answered 0.
fn phq(items: [i64; 9]) -> Vec<Option<i64>> {
    let mut v = all(&items);
    v.push(Some(0));
    v
}

#[test]
fn phq9_band_edges() {
    let i = shipped("phq9.toml");
    assert_eq!(i.score_range(), (0, 27));
    // (total, band): each edge of Kroenke 2001's bands.
    for (total, band) in [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately severe"),
        (19, "moderately severe"),
        (20, "severe"),
        (27, "severe"),
    ] {
        // Spread `total` over items 1-8 (item 9 kept at 0 unless needed).
        let mut items = [0i64; 9];
        let mut left = total;
        for slot in items.iter_mut() {
            let take = left.min(3);
            *slot = take;
            left -= take;
        }
        let s = i.score(&phq(items)).expect("valid");
        assert_eq!(s.score, total);
        assert_eq!(s.severity.as_deref(), Some(band), "total {total}");
    }
}

#[test]
fn phq9_item_10_is_not_scored_and_item_9_raises_an_urgent_self_harm_alert() {
    let i = shipped("phq9.toml");
    let mut answers = phq([1, 1, 1, 1, 1, 1, 1, 1, 0]);
    answers[9] = Some(3);
    let s = i.score(&answers).expect("valid");
    assert_eq!(s.score, 8);
    assert!(s.alerts.is_empty(), "item 9 at 0 raises nothing");

    let s = i.score(&phq([0, 0, 0, 0, 0, 0, 0, 0, 1])).expect("valid");
    assert_eq!(s.score, 1);
    assert_eq!(s.alerts.len(), 1);
    assert_eq!(s.alerts[0].item, "9");
    assert_eq!(s.alerts[0].level, AlertLevel::Urgent);
    assert!(s.alerts[0].self_harm);
}

#[test]
fn phq9_may_be_sent_without_its_unscored_item_10_but_not_without_a_scored_item() {
    let i = shipped("phq9.toml");
    // Nine answers, as a form without the difficulty question sends them:
    // 2+1+2+1+0+1+1+0+1 = 9 (mild), item 9 at 1 raises the self-harm alert.
    let nine = all(&[2, 1, 2, 1, 0, 1, 1, 0, 1]);
    let s = i.score(&nine).expect("nine answers");
    assert_eq!((s.score, s.severity.as_deref()), (9, Some("mild")));
    assert!(s.alerts.iter().any(|a| a.item == "9" && a.self_harm));
    assert_eq!(s, i.score(&phq([2, 1, 2, 1, 0, 1, 1, 0, 1])).expect("ten answers"), "the same result as with item 10");
    let eight = all(&[2, 1, 2, 1, 0, 1, 1, 0]);
    let e = i.score(&eight).expect_err("item 9 cannot be left off");
    assert_eq!(e.field(), "answers");
    assert!(e.to_string().contains("9 scored items and 1 optional unscored one(s)"), "{e}");
    let eleven: Vec<Option<i64>> = phq([0; 9]).into_iter().chain([Some(0)]).collect();
    assert_eq!(i.score(&eleven).expect_err("eleven").field(), "answers");
    // GAD-7: its seven scored items are all required.
    let g = shipped("gad7.toml");
    assert!(g.score(&all(&[1, 1, 1, 1, 1, 1])).expect_err("six").to_string().contains("has 7 scored items"));
}

#[test]
fn phq9_prorates_up_to_two_missing_items_but_never_item_9() {
    let i = shipped("phq9.toml");
    // Items 1 and 2 missing; 7 answered summing to 10: 10 / 7 * 9 = 12.86 -> 13.
    let mut a = phq([0, 0, 2, 2, 2, 1, 1, 1, 1]);
    a[0] = None;
    a[1] = None;
    let s = i.score(&a).expect("two missing is allowed");
    assert_eq!(s.score, 13);
    assert!(s.prorated);
    assert_eq!(s.missing, vec!["1", "2"]);
    assert_eq!(s.severity.as_deref(), Some("moderate"));

    a[2] = None;
    let err = i.score(&a).expect_err("three missing is refused");
    assert_eq!(err.field(), "answers");
    assert!(err.to_string().contains("item 1, item 2, item 3"), "{err}");

    let mut a = phq([1; 9]);
    a[8] = None;
    let err = i.score(&a).expect_err("item 9 is required");
    assert_eq!(err.field(), "answers[8]");
}

#[test]
fn out_of_range_and_wrong_count_answers_name_the_field() {
    let i = shipped("phq9.toml");
    let mut a = phq([0; 9]);
    a[3] = Some(4);
    let err = i.score(&a).expect_err("4 is not a PHQ-9 answer");
    assert_eq!(err.field(), "answers[3]");
    assert!(err.to_string().contains("item 4: 4 is not one of 0, 1, 2, 3"), "{err}");
    let err = i.score(&all(&[0; 8])).expect_err("9 or 10 answers expected");
    assert_eq!(err.field(), "answers");
    assert!(i.score_total(10, &[]).is_err(), "PHQ-9 totals are scored from items");
}

#[test]
fn gad7_band_edges_and_prorating() {
    let i = shipped("gad7.toml");
    assert_eq!(i.score_range(), (0, 21));
    for (items, total, band) in [
        ([1, 1, 1, 1, 0, 0, 0], 4, "minimal"),
        ([1, 1, 1, 1, 1, 0, 0], 5, "mild"),
        ([3, 3, 3, 0, 0, 0, 0], 9, "mild"),
        ([3, 3, 3, 1, 0, 0, 0], 10, "moderate"),
        ([3, 3, 3, 3, 2, 0, 0], 14, "moderate"),
        ([3, 3, 3, 3, 3, 0, 0], 15, "severe"),
        ([3, 3, 3, 3, 3, 3, 3], 21, "severe"),
    ] {
        let mut a = all(&items);
        a.push(None); // the difficulty item may be left out
        let s = i.score(&a).expect("valid");
        assert_eq!((s.score, s.severity.as_deref()), (total, Some(band)));
        assert!(!s.prorated);
    }
    // One missing: 6 answered sum 7 -> 7 / 6 * 7 = 8.17 -> 8.
    let s = i.score(&[None, Some(2), Some(1), Some(1), Some(1), Some(1), Some(1), None]).expect("one missing");
    assert_eq!((s.score, s.prorated), (8, true));
    assert!(i.score(&[None, None, Some(1), Some(1), Some(1), Some(1), Some(1), None]).is_err());
}

#[test]
fn madrs_is_score_only_with_total_entry_and_an_item_10_alert() {
    let i = shipped("madrs.toml");
    assert!(i.items.iter().all(|it| it.text.is_none()), "no MADRS text is shipped");
    assert_eq!(i.score_range(), (0, 60));
    // A total is entered with item 10 (suicidal thoughts), never without it.
    let item10 = |v: i64| {
        let mut a = vec![None; 10];
        a[9] = Some(v);
        a
    };
    for (total, band) in [(6, "normal"), (7, "mild"), (19, "mild"), (20, "moderate"), (34, "moderate"), (35, "severe")]
    {
        assert_eq!(i.score_total(total, &item10(0)).expect("total").severity.as_deref(), Some(band));
    }
    assert_eq!(i.score_total(61, &item10(0)).expect_err("out of range").field(), "total");
    let e = i.score_total(22, &[]).expect_err("item 10 is required with a total");
    assert_eq!(e.field(), "answers[9]");
    assert!(e.to_string().contains("MADRS item 10 (Suicidal thoughts) must be rated with a total"), "{e}");
    // Item 10 rated 4 with a total of 22 raises the urgent alert, as with items.
    let s = i.score_total(22, &item10(4)).expect("total with item 10");
    assert_eq!((s.score, s.alerts.len()), (22, 1));
    assert_eq!(s.alerts[0].item, "10");
    assert!(i.score_total(22, &item10(3)).expect("below the alert").alerts.is_empty());
    // Only the safety item goes with a total; a value off the scale, or
    // above the total, is refused naming it.
    let mut more = item10(1);
    more[0] = Some(3);
    assert_eq!(i.score_total(22, &more).expect_err("only item 10").field(), "answers[0]");
    assert_eq!(i.score_total(22, &item10(7)).expect_err("0-6").field(), "answers[9]");
    assert_eq!(i.score_total(3, &item10(4)).expect_err("total below item 10").field(), "total");
    assert_eq!(i.score_total(22, &[Some(1)]).expect_err("one per item").field(), "answers");
    let s = i.score(&all(&[4, 4, 3, 2, 2, 3, 3, 2, 3, 3])).expect("items");
    assert_eq!(s.score, 29);
    assert!(s.alerts.is_empty());
    let s = i.score(&all(&[4, 4, 3, 2, 2, 3, 3, 2, 3, 4])).expect("items");
    assert_eq!(s.alerts.len(), 1);
    assert_eq!(s.alerts[0].level, AlertLevel::Urgent);
}

#[test]
fn cssrs_screener_triage_levels() {
    let i = shipped("cssrs_screener.toml");
    let triage = |a: [i64; 6]| {
        let s = i.score(&all(&a)).expect("valid");
        (
            s.score,
            s.severity.unwrap_or_default(),
            s.alerts.iter().map(|x| (x.item.clone(), x.level)).collect::<Vec<_>>(),
        )
    };
    let review = |item: &str| vec![(item.to_string(), AlertLevel::Review)];
    let urgent = |item: &str| vec![(item.to_string(), AlertLevel::Urgent)];
    assert_eq!(triage([0, 0, 0, 0, 0, 0]), (0, "no risk identified".into(), vec![]));
    // A "yes" to either ideation question (Q1 wish to be dead, Q2 active
    // thoughts) is low risk by the triage mapping but warrants a same-day
    // review (reference.md §3.3): one review alert.
    assert_eq!(triage([1, 0, 0, 0, 0, 0]), (1, "low risk".into(), review("1")));
    assert_eq!(triage([0, 1, 0, 0, 0, 0]), (1, "low risk".into(), review("2")));
    assert_eq!(triage([1, 1, 0, 0, 0, 0]), (1, "low risk".into(), review("2")));
    // Q1, Q2 and Q3 yes meet three review rules: one alert, the first listed (Q3, method).
    assert_eq!(triage([1, 1, 1, 0, 0, 0]), (2, "moderate risk".into(), review("3")));
    assert_eq!(triage([0, 0, 0, 0, 0, 1]), (2, "moderate risk".into(), review("6")));
    // High risk: one urgent alert however many rules the answers meet.
    assert_eq!(triage([1, 1, 1, 1, 0, 0]), (3, "high risk".into(), urgent("4")));
    assert_eq!(triage([1, 1, 0, 0, 1, 0]), (3, "high risk".into(), urgent("5")));
    assert_eq!(triage([1, 1, 1, 1, 1, 2]), (3, "high risk".into(), urgent("4")));
    assert_eq!(triage([0, 0, 0, 0, 0, 2]), (3, "high risk".into(), urgent("6")));
    assert!(i.score(&all(&[1, 0, 0, 0, 0, 0])).expect("valid").alerts[0].self_harm);
    let err = i.score(&[Some(1), None, Some(0), Some(0), Some(0), Some(0)]).expect_err("every answer recorded");
    assert_eq!(err.field(), "answers");
}

#[test]
fn cadss6_sums_six_items() {
    let i = shipped("cadss6.toml");
    assert_eq!(i.score_range(), (0, 24));
    assert_eq!(i.score(&all(&[1, 2, 0, 4, 3, 1])).expect("valid").score, 11);
    assert_eq!(i.score_total(24, &[]).expect("total").score, 24);
}

#[test]
fn definitions_that_do_not_hold_together_are_refused_with_the_field() {
    let good = SHIPPED.iter().find(|(n, _)| *n == "gad7.toml").expect("gad7").1;
    let cases = [
        (
            good.replace("{ min = 15, max = 21, label = \"severe\" }", "{ min = 16, max = 21, label = \"severe\" }"),
            "gad7.severity.bands",
        ),
        (
            good.replace("{ min = 15, max = 21, label = \"severe\" }", "{ min = 15, max = 20, label = \"severe\" }"),
            "gad7.severity.bands",
        ),
        (good.replacen("id = \"2\"", "id = \"1\"", 1), "gad7.items[1].id"),
        (good.replace("points = 4\n", ""), "gad7.reliable_change"),
        (good.replace("id = \"gad7\"", "id = \"GAD 7\""), "GAD 7.id"),
    ];
    for (text, field) in cases {
        let err = Instrument::from_toml(&text).expect_err(field);
        assert_eq!(err.field(), field, "{err}");
    }
    let err = Instrument::from_toml(&good.replace("recall =", "recal =")).expect_err("unknown key");
    assert!(err.to_string().contains("recal"), "{err}");
}

proptest! {
    #[test]
    fn any_complete_phq9_scores_within_range_and_permutation_keeps_the_total(
        items in proptest::array::uniform9(0i64..=3), seed in any::<u64>()
    ) {
        let i = shipped("phq9.toml");
        let s = i.score(&phq(items)).expect("valid");
        prop_assert!((0..=27).contains(&s.score));
        prop_assert_eq!(s.score, items.iter().sum::<i64>());
        let mut shuffled = items;
        shuffled.rotate_left((seed % 9) as usize);
        prop_assert_eq!(i.score(&phq(shuffled)).expect("valid").score, s.score);
    }
}
