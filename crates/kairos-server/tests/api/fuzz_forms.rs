//! Fuzzing every staff form: each page that takes a POST is sent bodies
//! made of the field names the pages' own forms use and hostile values
//! (empty, blank, negative, huge, impossible dates, markup, direction
//! overrides, very long text, real and unknown record ids), by a staff
//! member holding every role, with the path's ids drawn from a small clinic's
//! real records. No answer is a server error. (The API's JSON bodies are
//! fuzzed against the OpenAPI document in CI's contract stage.)
//!
//! Bounded: `KAIROS_FUZZ_CASES` cases (default 48) and at most
//! `KAIROS_FUZZ_SECONDS` seconds (default 30).

use crate::helpers::*;
use crate::ledger::clinic;
use kairos_domain::roles::Role;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The field names the staff pages' forms use, read from the templates.
fn field_names() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("templates") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).unwrap_or_default();
        for part in text.split("name=\"").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    assert!(names.len() > 50, "the templates name their fields: {names:?}");
    names.into_iter().collect()
}

fn hostile_values(ids: &[String]) -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "0",
        "-1",
        "1e309",
        "NaN",
        "99999999999999999999",
        "2026-02-30",
        "9999-12-31T23:59",
        "1900-01-01",
        "<script>alert(1)</script>",
        "\u{202e}evil",
        "a\u{200b}b",
        "on",
        "true",
        "opening",
        "ketamine",
        "female",
        "%00",
        "../../etc/passwd",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(5000));
    v.push(uuid::Uuid::now_v7().to_string());
    v.extend(ids.iter().cloned());
    v
}

#[tokio::test]
async fn every_staff_form_answers_hostile_bodies_without_a_server_error() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "esketamine_label").await;
    let (email, staff) = app.add_staff(Role::ALL).await;
    let web = web_session(&app, &email).await;
    let ids: Vec<String> =
        [c.site.clone(), c.registration.clone(), c.stock.clone(), c.prescriber_id.clone(), staff.to_string()]
            .into_iter()
            .chain(c.clients.iter().cloned())
            .chain(c.encounters.iter().cloned())
            .collect();
    let names = field_names();
    let values = hostile_values(&ids);
    let routes: Vec<&str> = kairos_server::ui::ROUTES
        .iter()
        // The sign-in and sign-out doors start or end the session this
        // walk runs in (they are fuzzed by their own tests and the
        // contract stage); every other staff form is walked.
        .filter(|d| d.method == "POST" && !d.path.ends_with("/logout") && !d.path.starts_with("/login"))
        .map(|d| d.path)
        .collect();
    assert!(routes.len() > 30, "{routes:?}");

    let cases = env_number("KAIROS_FUZZ_CASES", 48) as u32;
    let deadline = Instant::now() + Duration::from_secs(env_number("KAIROS_FUZZ_SECONDS", 30));
    let mut runner = TestRunner::new(Config { failure_persistence: None, ..Config::default() });
    let body = proptest::collection::vec((any::<usize>(), any::<usize>()), 0..12);
    let strategy = (any::<usize>(), proptest::collection::vec(any::<usize>(), 3), body);
    // Each case is one request per form, drawn from the strategy (the
    // requests are async, so the cases are drawn here rather than run by
    // proptest's synchronous runner).
    let mut sent = 0usize;
    let mut last: Option<String> = None;
    let mut failures = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for _ in 0..cases {
        if Instant::now() > deadline {
            break;
        }
        let (route_pick, id_picks, fields) = strategy.new_tree(&mut runner).expect("case").current();
        for (k, route) in routes.iter().enumerate() {
            let mut n = 0;
            let path: String = route
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        n += 1;
                        ids[id_picks[(n - 1) % id_picks.len()].wrapping_add(k + route_pick) % ids.len()].clone()
                    } else {
                        seg.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let form: Vec<(String, String)> = fields
                .iter()
                .map(|(f, v)| (names[f.wrapping_add(k) % names.len()].clone(), values[*v % values.len()].clone()))
                .collect();
            let r = web.post(format!("{}{path}", app.base)).form(&form).send().await.expect("post");
            sent += 1;
            *statuses.entry(r.status().as_u16()).or_default() += 1;
            // No hostile body ends the session it was sent in (one's own
            // password, roles and active flag are not changed by these
            // forms): a 401 names the post before it.
            assert_ne!(r.status().as_u16(), 401, "the session ended after {last:?}");
            last = Some(format!("POST {path} {form:?} answered {}", r.status()));
            if r.status().is_server_error() {
                failures.push(format!("{} POST {path} {form:?}", r.status()));
            }
        }
    }
    eprintln!("{sent} hostile form posts to {} staff forms; answers by status: {statuses:?}", routes.len());
    assert!(sent >= routes.len(), "at least one round over every form");
    // The bodies reach the forms' rules: most are refused by them (422) or
    // name a record that is not there (404), not stopped at the door.
    let judged = statuses.get(&422).copied().unwrap_or(0) + statuses.get(&404).copied().unwrap_or(0);
    assert!(judged * 2 > sent, "the forms' rules judged too few bodies: {statuses:?}");
    assert!(failures.is_empty(), "server errors:\n{}", failures.join("\n"));
}
