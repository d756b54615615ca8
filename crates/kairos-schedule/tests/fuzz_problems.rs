//! Fuzzing the scheduling problem parser and the solver behind it: a
//! generated problem's JSON has leaves replaced with hostile values (zero,
//! negative, huge, empty, wrong type, impossible dates) and is parsed. The
//! parser answers with the problem or an error naming the field's path,
//! never a panic; a mutated problem that still parses is solved with a small
//! budget, and the plan the solver returns satisfies every hard constraint
//! (the independent checker finds nothing) or the solver refuses it.
//!
//! Bounded: `KAIROS_FUZZ_CASES` cases (default 32) and at most
//! `KAIROS_FUZZ_SECONDS` seconds (default 20).

use kairos_schedule::{Error, GenParams, Options, Problem, check, generate, solve};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn hostile(k: usize) -> Value {
    let all = [
        json!(0),
        json!(-1),
        json!(4_294_967_296u64),
        json!(i64::MIN),
        json!(1e308),
        json!(""),
        json!("zzz"),
        json!("2026-02-30"),
        json!("25:61"),
        json!("2026-03-02T99:00"),
        json!(null),
        json!([]),
        json!({}),
        json!(true),
        json!("\u{202e}chair"),
    ];
    all[k % all.len()].clone()
}

/// Every leaf's path in `v` (object keys and array indices).
fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                path.push(k.clone());
                leaves(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                leaves(x, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn get<'a>(v: &'a Value, path: &[String]) -> &'a Value {
    path.iter().fold(v, |v, k| match v {
        Value::Object(m) => &m[k],
        Value::Array(a) => &a[k.parse::<usize>().expect("index")],
        _ => unreachable!("a leaf's path runs through objects and arrays"),
    })
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Object(m) => m.get_mut(k).expect("key"),
        Value::Array(a) => &mut a[k.parse::<usize>().expect("index")],
        _ => unreachable!("a leaf's path runs through objects and arrays"),
    })
}

#[test]
fn mutated_problems_are_parsed_or_refused_and_what_parses_solves_to_a_valid_plan_or_a_refusal() {
    let cases = env_number("KAIROS_FUZZ_CASES", 32) as u32;
    let deadline = Instant::now() + Duration::from_secs(env_number("KAIROS_FUZZ_SECONDS", 20));
    let mut runner = TestRunner::new(Config { failure_persistence: None, ..Config::default() });
    let edit = (0u8..8, any::<usize>(), any::<usize>(), -3i64..=3);
    let strategy = (any::<u64>(), proptest::collection::vec(edit, 1..3));
    // How many mutated problems still parsed and were solved: a run where
    // none did would test only the parser.
    let solved = std::sync::atomic::AtomicU32::new(0);
    // Cases are drawn one by one so that the deadline ends the run.
    let mut failure = None;
    for _ in 0..cases {
        if Instant::now() > deadline {
            break;
        }
        let (seed, edits) = strategy.new_tree(&mut runner).expect("case").current();
        let outcome = std::panic::catch_unwind(|| run_case(seed, &edits, &solved));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(format!("seed {seed}, edits {edits:?}: {e}")),
            Err(_) => failure = Some(format!("seed {seed}, edits {edits:?}: a panic")),
        }
        if failure.is_some() {
            break;
        }
    }
    if let Some(f) = failure {
        panic!("{f}");
    }
    let solved = solved.into_inner();
    eprintln!("{solved} of the mutated problems parsed and were solved");
    assert!(cases < 16 || solved > 0, "no mutated problem parsed: the solver was never reached");
}

type Edit = (u8, usize, usize, i64);

fn run_case(seed: u64, edits: &[Edit], solved: &std::sync::atomic::AtomicU32) -> Result<(), String> {
    let problem = generate(&GenParams {
        clients: 3,
        chairs: 2,
        therapists: 2,
        monitors: 1,
        days: 10,
        seed,
        ..GenParams::default()
    });
    let mut v: Value = serde_json::from_str(&problem.to_json()).expect("generated JSON");
    let mut paths = Vec::new();
    leaves(&v, &mut Vec::new(), &mut paths);
    for (kind, which, other, delta) in edits {
        let path = &paths[which % paths.len()];
        let replacement = match kind {
            // A value of the wrong kind or out of any range.
            0 => hostile(*other),
            // A number nudged (a duration one slot shorter, a count of
            // zero, a negative day), keeping its type.
            1..=3 => match at(&mut v, path).as_i64() {
                Some(n) => json!(n.saturating_mul(i64::from(*delta != 0)).saturating_add(*delta)),
                None => hostile(*other),
            },
            // Another leaf's value: ids swapped, references left dangling
            // or doubled, times moved between events.
            4 | 5 => {
                let kind = std::mem::discriminant(get(&v, path));
                let same: Vec<&Vec<String>> =
                    paths.iter().filter(|p| std::mem::discriminant(get(&v, p)) == kind).collect();
                get(&v, same[other % same.len()]).clone()
            }
            // An array element removed (a resource others still name).
            _ => {
                if let Some((last, parent)) = path.split_last()
                    && let Value::Array(a) = at(&mut v, parent)
                    && let Ok(i) = last.parse::<usize>()
                    && i < a.len()
                {
                    a.remove(i);
                }
                paths.clear();
                leaves(&v, &mut Vec::new(), &mut paths);
                continue;
            }
        };
        *at(&mut v, path) = replacement;
    }
    let text = v.to_string();
    let parsed = match Problem::from_json(&text) {
        Ok(p) => p,
        Err(Error::Parse { message, .. }) if !message.is_empty() => return Ok(()),
        Err(e) if !e.to_string().trim().is_empty() => return Ok(()),
        Err(e) => return Err(format!("an error that says nothing: {e:?}")),
    };
    let opts = Options { seed, iterations: Some(200), ..Options::default() };
    solved.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(plan) = solve(&parsed, &opts) {
        let violations = check(&parsed, &plan);
        if !violations.is_empty() {
            return Err(format!("the plan breaks hard constraints: {violations:?}"));
        }
    }
    Ok(())
}
