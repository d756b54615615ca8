//! `kairos schedule`: generate a problem, solve it into a plan that passes
//! the independent checker, repair it after a cancellation, and refuse a
//! malformed problem naming the field.

use std::process::Command;

fn kairos(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kairos")).args(args).output().expect("run kairos")
}

#[test]
fn generate_solve_check_and_repair_from_the_command_line() {
    let dir = std::env::temp_dir().join(format!("kairos-sched-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let out = kairos(&[
        "schedule",
        "generate",
        "--clients",
        "12",
        "--chairs",
        "2",
        "--therapists",
        "3",
        "--days",
        "14",
        "--seed",
        "7",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let problem_path = dir.join("problem.json");
    std::fs::write(&problem_path, &out.stdout).expect("write");
    let problem = kairos_schedule::Problem::from_json(&String::from_utf8_lossy(&out.stdout)).expect("a valid problem");

    let plan_path = dir.join("plan.json");
    let p = problem_path.to_str().expect("path");
    let out = kairos(&["schedule", "--problem", p, "--time-limit", "20", "--out", plan_path.to_str().expect("path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan = kairos_schedule::Plan::from_json(&std::fs::read_to_string(&plan_path).expect("plan")).expect("a plan");
    assert!(!plan.assignments.is_empty());
    assert_eq!(kairos_schedule::check(&problem, &plan), vec![], "every hard constraint holds");
    // Deterministic for a seed.
    let again = kairos(&["schedule", "--problem", p, "--time-limit", "20"]);
    let again = kairos_schedule::Plan::from_json(&String::from_utf8_lossy(&again.stdout)).expect("plan");
    assert_eq!(again.assignments, plan.assignments);

    let dose = plan.assignments.iter().find(|a| a.event.ends_with("dose-1")).expect("a first dose").event.clone();
    let change_path = dir.join("change.json");
    std::fs::write(&change_path, format!(r#"{{"type": "cancel", "event": "{dose}"}}"#)).expect("write");
    let out = kairos(&[
        "schedule",
        "repair",
        "--problem",
        p,
        "--plan",
        plan_path.to_str().expect("path"),
        "--change",
        change_path.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let repaired = kairos_schedule::Plan::from_json(&String::from_utf8_lossy(&out.stdout)).expect("plan");
    let moved = repaired.moved.iter().find(|m| m.event == dose).expect("the cancelled dose moved");
    assert!(moved.to.as_ref().is_none_or(|to| to.start != moved.from.start), "never at its old time");
    let change: kairos_schedule::Change =
        serde_json::from_str(&std::fs::read_to_string(&change_path).expect("change")).expect("change json");
    let changed = kairos_schedule::apply_change(&problem, &plan, &change).expect("apply");
    assert_eq!(kairos_schedule::check(&changed, &repaired), vec![], "the repaired plan holds every constraint");

    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"time_zone": "Mars/Olympus"}"#).expect("write");
    let out = kairos(&["schedule", "--problem", bad.to_str().expect("path")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the problem"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The changes `kairos schedule repair --help` shows as examples are ones the
/// parser accepts (it once showed a form refused with "missing field `type`").
#[test]
fn the_repair_help_shows_changes_the_parser_accepts() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["schedule", "repair", "--help"])
        .output()
        .expect("help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let examples: Vec<&str> = help
        .match_indices("{\"type\"")
        .map(|(at, _)| &help[at..at + help[at..].find('}').expect("closed") + 1])
        .collect();
    assert_eq!(examples.len(), 2, "{help}");
    for example in examples {
        let parsed: Result<kairos_schedule::Change, _> = serde_json::from_str(example);
        assert!(parsed.is_ok(), "{example}: {:?}", parsed.err());
    }
}
