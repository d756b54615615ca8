//! The commands that make, serve, check and restore a SQLite practice: a
//! mistyped path never starts an empty practice, one server at a time holds
//! a practice, a backup is restored only while no server runs, and a
//! damaged file is refused before it is served.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let dir = std::env::temp_dir().join(format!("kairos-cli-files-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        Dir(dir)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn kairos(args: &[&str], db: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(args)
        .arg("--db")
        .arg(db)
        .env("KAIROS_LOG", "error")
        .output()
        .expect("run kairos")
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// `kairos serve` on `db` (with `extra` arguments), answering `/healthz`.
async fn serve_with(db: &Path, extra: &[&str]) -> (Served, String) {
    let port = free_port();
    let server = Served(
        Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
            .arg(db)
            .args(extra)
            .env("KAIROS_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{base}/api/v1/healthz")).await {
            assert_eq!(r.status(), reqwest::StatusCode::OK);
            return (server, base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not answer");
}

async fn serve(db: &Path) -> (Served, String) {
    serve_with(db, &[]).await
}

/// Sends SIGTERM and waits for a clean exit.
async fn stop(mut server: Served) {
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    for _ in 0..200 {
        if let Some(status) = server.0.try_wait().expect("wait") {
            assert!(status.success(), "{status:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not stop within 10 s of SIGTERM");
}

#[test]
fn serve_on_a_mistyped_path_is_refused_and_creates_nothing_init_makes_a_practice_once() {
    let dir = Dir::new();
    let typo = dir.join("kairso.db");
    let out = kairos(&["serve", "--listen", "127.0.0.1:0"], &typo);
    assert!(!out.status.success());
    let text = said(&out);
    assert!(text.contains("there is no practice at") && text.contains("kairos init --db"), "{text}");
    assert!(std::fs::read_dir(&dir.0).expect("dir").next().is_none(), "nothing was made");
    for command in [&["backup", "--to", "/dev/null"][..], &["migrate"], &["check"]] {
        let out = kairos(command, &typo);
        assert!(!out.status.success(), "{command:?}: {}", said(&out));
    }
    assert!(std::fs::read_dir(&dir.0).expect("dir").next().is_none(), "nothing was made by the other commands");

    let db = dir.join("kairos.db");
    let out = kairos(&["init"], &db);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("a new practice"));
    let out = kairos(&["init"], &db);
    assert!(!out.status.success());
    assert!(said(&out).contains("already exists"), "{}", said(&out));
    let out = kairos(&["check"], &db);
    assert!(out.status.success() && said(&out).contains(": ok (quick_check"), "{}", said(&out));
}

#[tokio::test]
async fn one_server_per_practice_and_a_restore_only_once_it_has_stopped() {
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    assert!(kairos(&["init"], &db).status.success());
    let (server, base) = serve(&db).await;

    // A second server on the same file is refused, naming the holder.
    let out = kairos(&["serve", "--listen", "127.0.0.1:0"], &db);
    assert!(!out.status.success());
    let text = said(&out);
    assert!(text.contains("is in use by another Kairos process"), "{text}");
    assert!(text.contains(&format!("process {}", server.0.id())), "{text}");

    // A backup beside the running server; its restore waits for the stop.
    let backup = dir.join("backup.db");
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["backup", "--to"])
        .arg(&backup)
        .arg("--db")
        .arg(&db)
        .output()
        .expect("backup");
    assert!(out.status.success(), "{}", said(&out));
    let restore = |db: &Path| {
        Command::new(env!("CARGO_BIN_EXE_kairos"))
            .args(["restore", "--from"])
            .arg(&backup)
            .arg("--db")
            .arg(db)
            .output()
            .expect("restore")
    };
    let out = restore(&db);
    assert!(!out.status.success());
    assert!(said(&out).contains("in use by another Kairos process"), "{}", said(&out));
    let r = reqwest::get(format!("{base}/api/v1/healthz")).await.expect("healthz");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "the refused restore left the server alone");

    stop(server).await;
    let out = restore(&db);
    assert!(out.status.success(), "{}", said(&out));
    let text = said(&out);
    assert!(text.contains("restored") && text.contains("it checks out"), "{text}");
    assert!(text.contains("kairos.db.replaced-"), "{text}");
    let (server, _) = serve(&db).await;
    stop(server).await;
}

#[tokio::test]
async fn a_damaged_practice_is_refused_by_serve_and_by_check() {
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    assert!(kairos(&["init"], &db).status.success());
    let len = std::fs::metadata(&db).expect("meta").len();
    std::fs::OpenOptions::new().write(true).open(&db).expect("open").set_len(len / 2).expect("truncate");
    for start_check in ["quick", "full"] {
        let started = std::time::Instant::now();
        let out = kairos(&["serve", "--listen", "127.0.0.1:0", "--start-check", start_check], &db);
        assert!(!out.status.success());
        assert!(started.elapsed() < Duration::from_secs(5), "refused at once, after {:?}", started.elapsed());
        let text = said(&out);
        assert!(text.contains("kairos.db is damaged") && text.contains("kairos restore"), "{text}");
    }
    for args in [&["check"][..], &["check", "--full"]] {
        let out = kairos(args, &db);
        assert!(!out.status.success(), "{args:?}");
        assert!(said(&out).contains("is damaged"), "{}", said(&out));
    }
}

#[tokio::test]
async fn a_missing_read_audit_file_stops_serve_unless_a_new_one_is_asked_for() {
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    assert!(kairos(&["init"], &db).status.success());
    let (server, _) = serve(&db).await;
    stop(server).await;
    std::fs::remove_file(dir.join("kairos.db.read-audit")).expect("the file goes missing");
    let out = kairos(&["serve", "--listen", "127.0.0.1:0"], &db);
    assert!(!out.status.success());
    let text = said(&out);
    assert!(text.contains("kairos.db.read-audit is missing") && text.contains("--new-read-audit"), "{text}");
    let (server, _) = serve_with(&db, &["--new-read-audit"]).await;
    stop(server).await;
    assert!(dir.join("kairos.db.read-audit").is_file());
}
