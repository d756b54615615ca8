//! The demo practice as `kairos demo` writes it: through the scratch loader,
//! which does not check foreign keys while it loads (`ScratchLoad`), so the
//! finished file is checked here as a whole.

use std::process::Command;

#[test]
fn the_demo_practice_is_a_consistent_database_with_every_reference_resolved() {
    let dir = std::env::temp_dir().join(format!("kairos-demo-practice-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = dir.join("demo.db");
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["demo", "--no-serve", "--clients", "300", "--db"])
        .arg(&db)
        .env("KAIROS_DEMO_PASSWORD", "demo-practice-test-password")
        .output()
        .expect("run kairos demo");
    assert!(out.status.success(), "kairos demo failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut partial = db.as_os_str().to_owned();
    partial.push(".partial");
    assert!(!std::path::Path::new(&partial).exists(), "the scratch file was moved into place");

    let c = rusqlite::Connection::open(&db).expect("open the practice");
    let dangling: Vec<String> = c
        .prepare("SELECT \"table\" || ' row ' || rowid || ' -> ' || parent FROM pragma_foreign_key_check")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("foreign_key_check")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(dangling.is_empty(), "references to missing rows: {dangling:?}");
    let integrity: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
    assert_eq!(integrity, "ok");
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).expect(sql) };
    assert!(count("SELECT COUNT(*) FROM clients") >= 300);
    assert_eq!(count("SELECT COUNT(*) FROM clients WHERE id NOT IN (SELECT client_id FROM courses)"), 0);
    assert!(count("SELECT COUNT(*) FROM encounters") > 300 * 5, "months of history");
    // Courses waiting for the coordinator's schedule: in preparation, signed
    // eligible, on a library protocol, nothing booked.
    let waiting = count(
        "SELECT COUNT(*) FROM courses c WHERE c.phase = 'preparation' \
         AND c.protocol IN ('apa_iv_induction', 'kap_sublingual_im', 'ketamine_wet_ptsd') \
         AND NOT EXISTS (SELECT 1 FROM encounters e WHERE e.course_id = c.id) \
         AND EXISTS (SELECT 1 FROM screens s WHERE s.course_id = c.id AND s.signed_at IS NOT NULL)",
    );
    assert!(waiting >= 8, "courses waiting to be scheduled: {waiting}");
    // The indexes dropped for the load are all back.
    assert_eq!(count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'encounters_client'"), 1);
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}
