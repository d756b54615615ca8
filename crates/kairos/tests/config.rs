//! A clinic's own definitions are checked at start: a bad file stops the
//! server with the file (and the field) named, before it serves anything.

use std::process::Command;

fn serve_with(args: &[&str]) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("kairos-config-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["serve", "--create", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.join("k.db"))
        .args(args)
        .env("KAIROS_LOG", "error")
        .output()
        .expect("run");
    let _ = std::fs::remove_dir_all(&dir);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_bad_clinic_instrument_file_stops_the_server_naming_it() {
    let dir = std::env::temp_dir().join(format!("kairos-inst-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let phq9 = include_str!("../../../instruments/phq9.toml").replace("max = 27", "max = 26");
    std::fs::write(dir.join("our-phq9.toml"), phq9).expect("write");
    let (ok, out) = serve_with(&["--instruments-dir", dir.to_str().expect("utf-8")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "the server must not start");
    assert!(out.contains("our-phq9.toml") && out.contains("severity.bands"), "{out}");
}

#[test]
fn bad_screening_rules_and_measure_schedules_stop_the_server() {
    let dir = std::env::temp_dir().join(format!("kairos-rules-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        include_str!("../../../screening/rules.toml").replacen("class = \"absolute\"", "class = \"maybe\"", 1),
    )
    .expect("write");
    let (ok, out) = serve_with(&["--screening-rules", rules.to_str().expect("utf-8")]);
    assert!(!ok && out.contains("screening rules"), "{out}");
    let schedule = dir.join("schedule.toml");
    std::fs::write(&schedule, include_str!("../../../measure-schedules/standard.toml").replace("\"gad7\"", "\"gad8\""))
        .expect("write");
    let (ok, out) = serve_with(&["--measure-schedule", schedule.to_str().expect("utf-8")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok && out.contains("measure schedule"), "{out}");
}

#[test]
fn a_schedule_asking_a_phq9_every_three_days_stops_the_server_naming_the_file_and_rule() {
    let dir = std::env::temp_dir().join(format!("kairos-recall-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    // The clinic's standard schedule asks the PHQ-9 (last 2 weeks) before
    // each dose: every 3 days with the twice-weekly esketamine induction.
    let ours = include_str!("../../../measure-schedules/standard.toml")
        .replace("instruments = [\"safety_check\"]", "instruments = [\"phq9\"]");
    let schedule = dir.join("our-schedule.toml");
    std::fs::write(&schedule, ours).expect("write");
    let (ok, out) = serve_with(&["--measure-schedule", schedule.to_str().expect("utf-8")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "the server must not start: {out}");
    assert!(out.contains("our-schedule.toml: rules[1].when"), "{out}");
    assert!(out.contains("`phq9` asks about 14 days") && out.contains("h apart"), "{out}");
}

#[test]
fn bad_safety_ledger_scheduling_and_therapy_files_stop_the_server_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("kairos-policy-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cases: [(&str, String, &str); 5] = [
        (
            "--safety-policy",
            include_str!("../../../safety/policy.toml").replace("systolic_at_least = 140", "systolic_at_least = 190"),
            "pre_dose_hold.systolic_at_least",
        ),
        (
            "--ledger-policy",
            include_str!("../../../ledger/policy.toml").replace("years = 2", "years = 1"),
            "retention.years",
        ),
        (
            "--scheduling",
            include_str!("../../../scheduling/defaults.toml").replace("monitor_capacity = 3", "monitor_capacity = 0"),
            "monitor_capacity",
        ),
        (
            "--therapy-window",
            include_str!("../../../therapy/window.toml").replace("confirmed = false", "confirmed = \"no\""),
            "therapy window",
        ),
        ("--note-templates", "not = [valid".to_string(), "note templates"),
    ];
    for (flag, text, named) in cases {
        let file = dir.join(format!("{}.toml", flag.trim_start_matches('-')));
        std::fs::write(&file, text).expect("write");
        let (ok, out) = serve_with(&[flag, file.to_str().expect("utf-8")]);
        assert!(!ok, "{flag}: the server must not start");
        assert!(out.contains(named), "{flag}: the error names {named}: {out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kairos config export DIR` writes the built-in defaults a clinic edits,
/// byte for byte as compiled in; a second export never overwrites an edited
/// copy; an edited copy passed back with its flag is what the server loads.
#[test]
fn the_built_in_defaults_export_as_files_the_flags_load_back() {
    let dir = std::env::temp_dir().join(format!("kairos-export-{}", uuid::Uuid::now_v7().simple()));
    let export =
        || Command::new(env!("CARGO_BIN_EXE_kairos")).args(["config", "export"]).arg(&dir).output().expect("run");
    let out = export();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(printed.contains("--safety-policy") && printed.contains("--instruments-dir"), "{printed}");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for rel in
        ["instruments/phq9.toml", "protocols/esketamine_label.toml", "safety/policy.toml", "scheduling/defaults.toml"]
    {
        let exported = std::fs::read(dir.join(rel)).expect("exported");
        assert_eq!(exported, std::fs::read(root.join(rel)).expect("shipped"), "{rel} as compiled in");
    }
    let policy = dir.join("safety/policy.toml");
    let edited =
        std::fs::read_to_string(&policy).expect("policy").replace("systolic_at_least = 140", "systolic_at_least = 190");
    std::fs::write(&policy, &edited).expect("edit");
    let again = export();
    assert!(!again.status.success(), "a second export is refused");
    assert_eq!(std::fs::read_to_string(&policy).expect("policy"), edited, "the edited copy is untouched");
    // The server reads the edited copy (here an invalid one, so it stops
    // and names the field: proof the flag loads the exported file).
    let (ok, out) = serve_with(&["--safety-policy", policy.to_str().expect("utf-8")]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok && out.contains("pre_dose_hold.systolic_at_least"), "{out}");
}

#[test]
fn an_smtp_password_on_the_command_line_or_in_a_readable_file_stops_the_server_without_echoing_it() {
    let (ok, out) = serve_with(&["--smtp-url", "smtp://clinic:hunter2-synthetic@mail.example.test:587"]);
    assert!(!ok, "the server must not start");
    assert!(out.contains("process list") && out.contains("--smtp-password-file"), "{out}");
    assert!(!out.contains("hunter2-synthetic"), "the password is not echoed: {out}");

    let dir = std::env::temp_dir().join(format!("kairos-smtp-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("smtp-password");
    std::fs::write(&file, "hunter2-synthetic\n").expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let (ok, out) = serve_with(&[
        "--smtp-url",
        "smtp://clinic@mail.example.test:587",
        "--smtp-password-file",
        file.to_str().expect("utf-8"),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "the server must not start");
    assert!(out.contains("can be read by others") && out.contains("chmod 600"), "{out}");
    assert!(!out.contains("hunter2-synthetic"), "{out}");
}
