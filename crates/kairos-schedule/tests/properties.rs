//! Property tests: every plan from `solve` and `repair` satisfies every hard constraint
//! on random instances; the same seed gives the same plan.

use jiff::civil::DateTime;
use kairos_schedule::{
    Change, EventKind, GenParams, Options, Period, Problem, apply_change, check, generate, repair, solve,
};
use proptest::prelude::*;

fn opts(iterations: u64, seed: u64) -> Options {
    Options { seed, iterations: Some(iterations), ..Options::default() }
}

fn instance(clients: usize, chairs: usize, therapists: usize, monitors: usize, days: u32, seed: u64) -> Problem {
    generate(&GenParams { clients, chairs, therapists, monitors, days, seed, ..GenParams::default() })
}

fn local(p: &Problem, day: u32, hour: i8) -> DateTime {
    p.horizon
        .start
        .checked_add(jiff::Span::new().days(i64::from(day)))
        .expect("date")
        .to_datetime(jiff::civil::time(hour, 0, 0, 0))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn solved_plans_satisfy_every_hard_constraint(
        clients in 1usize..14, chairs in 1usize..4, therapists in 1usize..4, monitors in 1usize..4,
        days in 2u32..16, seed in any::<u64>(), iterations in 0u64..300,
        closure in proptest::option::of(0u32..16), away in proptest::option::of((0u32..16, 0usize..4)),
    ) {
        let mut p = instance(clients, chairs, therapists, monitors, days, seed);
        if let Some(d) = closure.filter(|&d| d < days) {
            p.closures.push(Period { from: local(&p, d, 12), to: local(&p, d + 1, 0) });
        }
        if let Some((d, s)) = away.filter(|&(d, _)| d < days) {
            let s = s % p.staff.len();
            let (from, to) = (local(&p, d, 0), local(&p, d, 15));
            p.staff[s].unavailable.push(Period { from, to });
        }
        let text = p.to_json();
        let p = Problem::from_json(&text).expect("generated problems are valid");
        let plan = solve(&p, &opts(iterations, seed)).expect("solves");
        let v = check(&p, &plan);
        prop_assert!(v.is_empty(), "violations: {:#?}", v);
        prop_assert_eq!(plan.assignments.len() + plan.unscheduled.len(),
            plan.summary.doses_requested + plan.summary.sessions_requested);
    }

    #[test]
    fn repaired_plans_satisfy_every_hard_constraint(
        clients in 2usize..12, chairs in 1usize..4, days in 7u32..15, seed in any::<u64>(),
        pick in any::<usize>(), kind in 0u8..4,
    ) {
        let p = instance(clients, chairs, 2, 2, days, seed);
        let plan = solve(&p, &opts(100, seed)).expect("solves");
        prop_assume!(!plan.assignments.is_empty());
        let a = &plan.assignments[pick % plan.assignments.len()];
        let day = a.start.get(..10).expect("date").to_string();
        let from: DateTime = format!("{day}T00:00").parse().expect("dt");
        let to: DateTime = format!("{day}T23:45").parse().expect("dt");
        let change = match kind {
            0 => Change::Cancel { event: a.event.clone() },
            1 => Change::StaffUnavailable { staff: a.staff.clone(), from, to },
            2 => match &a.chair {
                Some(c) => Change::ChairUnavailable { chair: c.clone(), from, to },
                None => Change::RoomUnavailable { room: a.room.clone().unwrap_or_else(|| "room-1".into()), from, to },
            },
            _ => Change::WithdrawCourse { course: a.course.clone() },
        };
        let changed = apply_change(&p, &plan, &change).expect("change applies");
        let new = repair(&p, &plan, &change, &opts(100, seed)).expect("repairs");
        let v = check(&changed, &new);
        prop_assert!(v.is_empty(), "violations after {:?}: {:#?}", change, v);
        if let Change::Cancel { event } = &change {
            let old = plan.assignments.iter().find(|x| &x.event == event).expect("booked");
            prop_assert!(new.assignments.iter().all(|x| &x.event != event || x.start != old.start));
            prop_assert!(new.moved.iter().any(|m| &m.event == event));
        }
    }
}

#[test]
fn same_seed_same_plan() {
    let p = instance(40, 3, 4, 2, 14, 7);
    let a = solve(&p, &opts(500, 3)).expect("solves");
    let b = solve(&p, &opts(500, 3)).expect("solves");
    assert_eq!(a.assignments, b.assignments);
    assert_eq!(a.unscheduled, b.unscheduled);
    assert_eq!(a.summary.objective, b.summary.objective);
}

#[test]
fn local_search_never_makes_the_plan_worse() {
    let p = instance(60, 3, 4, 2, 21, 11);
    let start = solve(&p, &opts(0, 1)).expect("solves");
    let improved = solve(&p, &opts(1_000, 1)).expect("solves");
    assert!(improved.summary.objective <= start.summary.objective);
    assert!(check(&p, &improved).is_empty());
}

#[test]
fn a_cancellation_moves_only_that_clients_appointments() {
    let p = instance(30, 3, 4, 2, 21, 5);
    let plan = solve(&p, &opts(1_000, 0)).expect("solves");
    let mut tried = 0;
    for a in plan.assignments.iter().filter(|a| a.kind == EventKind::Dose).step_by(5) {
        let change = Change::Cancel { event: a.event.clone() };
        let changed = apply_change(&p, &plan, &change).expect("applies");
        let new = repair(&p, &plan, &change, &Options::default()).expect("repairs");
        assert!(check(&changed, &new).is_empty());
        for m in &new.moved {
            let owner = plan.assignments.iter().find(|x| x.event == m.event).expect("was booked");
            assert_eq!(owner.client, a.client, "repair of {} moved {} ({})", a.event, m.event, m.reason);
        }
        assert!(new.summary.doses_scheduled + 6 >= plan.summary.doses_scheduled);
        tried += 1;
    }
    assert!(tried > 3);
}

#[test]
fn a_sick_therapist_moves_only_their_sessions() {
    let p = instance(30, 3, 4, 2, 14, 8);
    let plan = solve(&p, &opts(500, 0)).expect("solves");
    let s = plan.assignments.iter().find(|a| a.kind == EventKind::Session).expect("a session");
    let day = &s.start[..10];
    let change = Change::StaffUnavailable {
        staff: s.staff.clone(),
        from: format!("{day}T00:00").parse().expect("dt"),
        to: format!("{day}T23:45").parse().expect("dt"),
    };
    let changed = apply_change(&p, &plan, &change).expect("applies");
    let new = repair(&p, &plan, &change, &Options::default()).expect("repairs");
    assert!(check(&changed, &new).is_empty());
    assert!(new.moved.iter().any(|m| m.event == s.event));
    for m in &new.moved {
        let old = plan.assignments.iter().find(|x| x.event == m.event).expect("booked");
        assert!(old.staff == s.staff && old.start.starts_with(day), "moved {} which was not affected", m.event);
    }
}

#[test]
fn a_broken_chair_moves_only_its_doses() {
    let p = instance(30, 3, 4, 2, 14, 9);
    let plan = solve(&p, &opts(500, 0)).expect("solves");
    let d = plan.assignments.iter().find(|a| a.kind == EventKind::Dose).expect("a dose");
    let day = &d.start[..10];
    let chair = d.chair.clone().expect("chair");
    let change = Change::ChairUnavailable {
        chair: chair.clone(),
        from: format!("{day}T00:00").parse().expect("dt"),
        to: format!("{day}T23:45").parse().expect("dt"),
    };
    let changed = apply_change(&p, &plan, &change).expect("applies");
    let new = repair(&p, &plan, &change, &Options::default()).expect("repairs");
    assert!(check(&changed, &new).is_empty());
    let affected: Vec<&str> = plan
        .assignments
        .iter()
        .filter(|a| a.chair.as_deref() == Some(chair.as_str()) && a.start.starts_with(day))
        .map(|a| a.client.as_str())
        .collect();
    // An unaffected client's appointment moves only to keep a displaced dose scheduled
    // (a dose outranks a move): at most one per displaced dose.
    let others = new
        .moved
        .iter()
        .filter(|m| {
            let owner = plan.assignments.iter().find(|x| x.event == m.event).expect("booked");
            !affected.contains(&owner.client.as_str())
        })
        .count();
    assert!(others <= affected.len(), "moved {others} appointments of unaffected clients");
    assert!(new.summary.doses_scheduled + affected.len() >= plan.summary.doses_scheduled);
}

#[test]
fn withdrawing_a_course_moves_nothing() {
    let p = instance(20, 2, 3, 2, 14, 4);
    let plan = solve(&p, &opts(300, 0)).expect("solves");
    let change = Change::WithdrawCourse { course: plan.assignments[0].course.clone() };
    let changed = apply_change(&p, &plan, &change).expect("applies");
    let new = repair(&p, &plan, &change, &Options::default()).expect("repairs");
    assert!(check(&changed, &new).is_empty());
    assert!(new.moved.is_empty());
}

#[test]
fn changes_name_unknown_things() {
    let p = instance(3, 1, 1, 1, 7, 1);
    let plan = solve(&p, &opts(0, 0)).expect("solves");
    let e = apply_change(&p, &plan, &Change::Cancel { event: "nope/dose-1".into() }).expect_err("unknown");
    assert!(e.to_string().starts_with("change.event"));
    let from: DateTime = "2026-03-03T00:00".parse().expect("dt");
    let e =
        apply_change(&p, &plan, &Change::ChairUnavailable { chair: "x".into(), from, to: from }).expect_err("unknown");
    assert!(e.to_string().starts_with("change.chair"));
}
