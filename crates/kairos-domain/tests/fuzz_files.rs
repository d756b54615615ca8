//! Fuzzing every parser of a clinic's own files: instruments, protocols,
//! measure schedules, screening rules, the safety and ledger policies, the
//! therapy window, note templates and exercise words. Each shipped file is
//! mutated (lines deleted, duplicated or swapped, values replaced with
//! hostile ones, bytes inserted, the text cut short) and parsed: the parser
//! answers with the file or an error naming what is wrong, and never
//! panics. A file that still parses after mutation is read again from its
//! own words, so a half-validated value cannot slip through once and fail
//! later.
//!
//! Bounded: `KAIROS_FUZZ_CASES` cases per file kind (default 64) and at
//! most `KAIROS_FUZZ_SECONDS` seconds per kind (default 20); CI's fuzz
//! stage raises both.

use kairos_domain::DomainError;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join(dir)).expect("shipped directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).expect("shipped file");
            out.push((path.display().to_string(), text));
        }
    }
    assert!(!out.is_empty(), "no files in {dir}");
    out
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Values a clinic's file might hold by mistake, or an attacker on purpose.
const HOSTILE: &[&str] = &[
    "0",
    "-1",
    "-0.0",
    "1e309",
    "nan",
    "inf",
    "-inf",
    "4294967296",
    "-9223372036854775808",
    "18446744073709551616",
    "\"\"",
    "\" \"",
    "\"\u{202e}x\"",
    "[]",
    "[[]]",
    "{}",
    "true",
    "\"zzz\"",
    "1979-05-27",
    "2026-02-30",
    "\"../../etc/passwd\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    /// Replace what follows the `=` on a line.
    ReplaceValue(usize, usize),
    Insert(usize, String),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => any::<usize>().prop_map(Mutation::DeleteLine),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::ReplaceValue(a, b)),
        1 => (any::<usize>(), "[\\PC\n\\[\\]=\"{}.,#]{0,12}").prop_map(|(a, s)| Mutation::Insert(a, s)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
            Mutation::ReplaceValue(i, v) => {
                // The i-th line holding a value, counted among those that do.
                let with_value: Vec<usize> = (0..n).filter(|&j| lines[j].contains('=')).collect();
                if let Some(&j) = with_value.get(i % with_value.len().max(1)) {
                    let key = lines[j].split('=').next().unwrap_or_default().to_string();
                    lines[j] = format!("{key}= {}", HOSTILE[v % HOSTILE.len()]);
                }
            }
            Mutation::Insert(i, s) => {
                let l = &mut lines[i % n];
                let at = l.char_indices().map(|(k, _)| k).nth(i % (l.chars().count() + 1)).unwrap_or(l.len());
                l.insert_str(at, s);
            }
            Mutation::Truncate(i) => {
                let keep = i % n;
                lines.truncate(keep.max(1));
            }
        }
    }
    lines.join("\n")
}

/// Mutates each shipped file of `dir` and parses it with `parse`, within
/// the fuzzing budget.
fn fuzz(dir: &str, parse: impl Fn(&str, &str) -> Result<(), DomainError> + std::panic::RefUnwindSafe) {
    let files = shipped(dir);
    let cases = env_number("KAIROS_FUZZ_CASES", 64) as u32;
    let deadline = Instant::now() + Duration::from_secs(env_number("KAIROS_FUZZ_SECONDS", 20));
    let mut runner = TestRunner::new(Config { failure_persistence: None, ..Config::default() });
    let strategy = (0..files.len(), proptest::collection::vec(mutation(), 1..5));
    // Cases are drawn one by one so that the deadline ends the run.
    for _ in 0..cases {
        if Instant::now() > deadline {
            break;
        }
        let (f, mutations) = strategy.new_tree(&mut runner).expect("case").current();
        let (name, text) = &files[f];
        let mutated = apply(text, &mutations);
        let outcome = std::panic::catch_unwind(|| parse(name, &mutated));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => assert!(
                !e.to_string().trim().is_empty() && !e.field().is_empty(),
                "{name} mutated by {mutations:?}: an error that names nothing: {e:?}"
            ),
            Err(_) => panic!("{name} mutated by {mutations:?} made the parser panic; the text:\n{mutated}"),
        }
    }
}

#[test]
fn mutated_instrument_files_are_read_or_refused_never_a_panic() {
    fuzz("instruments", |_, t| kairos_domain::instruments::Instrument::from_toml(t).map(drop));
}

#[test]
fn mutated_protocol_files_are_read_or_refused_never_a_panic() {
    fuzz("protocols", |_, t| kairos_domain::protocols::Protocol::from_toml(t).map(drop));
}

#[test]
fn mutated_measure_schedules_are_read_or_refused_never_a_panic() {
    let known: Vec<String> = shipped("instruments")
        .iter()
        .filter_map(|(_, t)| kairos_domain::instruments::Instrument::from_toml(t).ok().map(|i| i.id.clone()))
        .collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    fuzz("measure-schedules", |_, t| kairos_domain::measure_schedule::MeasureSchedule::from_toml(t, &known).map(drop));
}

#[test]
fn mutated_screening_rules_are_read_or_refused_never_a_panic() {
    fuzz("screening", |_, t| kairos_domain::screening::Rules::from_toml(t).map(drop));
}

#[test]
fn mutated_safety_and_ledger_policies_are_read_or_refused_never_a_panic() {
    fuzz("safety", |_, t| kairos_domain::dosing::SafetyPolicy::from_toml(t).map(drop));
    fuzz("ledger", |_, t| kairos_domain::ledger::LedgerPolicy::from_toml(t).map(drop));
}

#[test]
fn mutated_therapy_files_are_read_or_refused_never_a_panic() {
    fuzz("therapy", |name, t| {
        // The directory holds the note templates and the window.
        if name.ends_with("note-templates.toml") {
            kairos_domain::notes::Templates::from_toml(t).map(drop)
        } else {
            kairos_domain::window::WindowDef::from_toml(t).map(drop)
        }
    });
    fuzz("exercises", |_, t| kairos_domain::exercises::ExerciseDef::from_toml(t).map(drop));
}
