//! `kairos config export DIR`: the built-in clinical defaults as files a
//! clinic edits and passes back with the flags.
//!
//! The defaults (questionnaires, protocols, measure schedules, screening
//! rules, safety thresholds, ledger policy, therapy window, note templates,
//! exercise words, scheduling defaults) are compiled into the binary from
//! the repository's data folders: editing those folders changes nothing
//! until a rebuild. A clinic changes a default by exporting it, editing the
//! copy, and starting the server with the flag that names the copy.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Each default: where it goes under DIR, its text, and the flag that loads it
/// (`None`: it is one of a folder's files; the folder's flag loads them).
fn defaults() -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for (name, text) in kairos_domain::instruments::SHIPPED {
        out.push((format!("instruments/{name}"), text));
    }
    for (name, text) in kairos_domain::protocols::SHIPPED {
        out.push((format!("protocols/{name}"), text));
    }
    for (name, text) in kairos_domain::measure_schedule::SHIPPED {
        out.push((format!("measure-schedules/{name}"), text));
    }
    out.push(("screening/rules.toml".into(), kairos_domain::screening::SHIPPED));
    out.push(("safety/policy.toml".into(), kairos_domain::dosing::SHIPPED));
    out.push(("ledger/policy.toml".into(), kairos_domain::ledger::SHIPPED));
    out.push(("therapy/window.toml".into(), kairos_domain::window::SHIPPED));
    out.push(("therapy/note-templates.toml".into(), kairos_domain::notes::SHIPPED));
    out.push(("exercises/ec-words.toml".into(), kairos_domain::exercises::SHIPPED));
    out.push(("scheduling/defaults.toml".into(), kairos_server::api::schedule::SHIPPED_DEFAULTS));
    out
}

/// The flags that load an exported folder back.
pub fn flags(dir: &Path) -> Vec<String> {
    let p = |rel: &str| dir.join(rel).display().to_string();
    vec![
        format!("--instruments-dir {}", p("instruments")),
        format!("--protocols-dir {}", p("protocols")),
        format!(
            "--measure-schedule {}  (one file per flag; each replaces the shipped one of its id)",
            p("measure-schedules/standard.toml")
        ),
        format!("--screening-rules {}", p("screening/rules.toml")),
        format!("--safety-policy {}", p("safety/policy.toml")),
        format!("--ledger-policy {}", p("ledger/policy.toml")),
        format!("--therapy-window {}", p("therapy/window.toml")),
        format!("--note-templates {}", p("therapy/note-templates.toml")),
        format!("--exercise-words {}", p("exercises/ec-words.toml")),
        format!("--scheduling {}", p("scheduling/defaults.toml")),
    ]
}

/// Writes every default under `dir`; refuses to overwrite any file (a
/// clinic's edited copy is never lost to a second export).
pub fn export(dir: &Path) -> Result<Vec<PathBuf>> {
    let all = defaults();
    let taken: Vec<PathBuf> = all.iter().map(|(rel, _)| dir.join(rel)).filter(|p| p.exists()).collect();
    if let Some(first) = taken.first() {
        bail!(
            "{} already exists ({} of the {} files are there): export into a new folder, edited copies are never overwritten",
            first.display(),
            taken.len(),
            all.len()
        );
    }
    let mut written = Vec::new();
    for (rel, text) in all {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
