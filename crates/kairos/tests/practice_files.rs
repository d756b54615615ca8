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

fn kairos_keyed(args: &[&str], db: &Path, key: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kairos"));
    c.args(args).arg("--db").arg(db).env("KAIROS_LOG", "error").env_remove("KAIROS_DB_KEY");
    if let Some(k) = key {
        c.arg("--db-key-file").arg(k);
    }
    c.output().expect("run kairos")
}

fn new_key(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kairos")).args(["db-key", "new"]).arg(path).output().expect("db-key new")
}

/// Whether `needle` appears anywhere in the bytes of `path`.
fn holds(path: &Path, needle: &str) -> bool {
    std::fs::read(path).unwrap_or_default().windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
}

#[tokio::test]
async fn an_encrypted_practice_is_unreadable_without_its_key_and_is_served_backed_up_restored_and_rotated_with_it() {
    let dir = Dir::new();
    let db = dir.join("kairos.db");
    const EMAIL: &str = "marisol.quintero@cipher.kairos";
    assert!(kairos(&["init"], &db).status.success());
    #[cfg(unix)]
    assert_eq!(mode(&db), 0o600, "a new practice is its owner's only");
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["user", "add", "--email", EMAIL, "--name", "Marisol Quintero", "--roles", "admin", "--db"])
        .arg(&db)
        .env("KAIROS_PASSWORD", "violet tugboat sings at noon")
        .env("KAIROS_LOG", "error")
        .output()
        .expect("user add");
    assert!(out.status.success(), "{}", said(&out));
    assert!(holds(&db, EMAIL) || holds(&dir.join("kairos.db-wal"), EMAIL), "a plain practice holds the text");

    // A key, made owner-only; the practice encrypted under it.
    let key = dir.join("db.key");
    let out = new_key(&key);
    assert!(out.status.success(), "{}", said(&out));
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);
    let out = kairos_keyed(&["encrypt", "--new-key-file", key.to_str().expect("utf8")], &db, None);
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("encrypted"), "{}", said(&out));
    for f in ["kairos.db", "kairos.db.read-audit"] {
        let p = dir.join(f);
        assert!(p.is_file(), "{f}");
        assert!(!holds(&p, EMAIL) && !holds(&p, "SQLite format 3"), "{f} holds no plain text");
        #[cfg(unix)]
        assert_eq!(mode(&p), 0o600, "{f}");
    }

    // Without the key, or with another, every command refuses, saying why.
    let out = kairos_keyed(&["check"], &db, None);
    assert!(!out.status.success());
    assert!(said(&out).contains("is encrypted") && said(&out).contains("--db-key-file"), "{}", said(&out));
    let other = dir.join("other.key");
    assert!(new_key(&other).status.success());
    let out = kairos_keyed(&["serve", "--listen", "127.0.0.1:0"], &db, Some(&other));
    assert!(!out.status.success());
    assert!(said(&out).contains("does not open"), "{}", said(&out));
    let out = kairos_keyed(&["check", "--full"], &db, Some(&key));
    assert!(out.status.success(), "{}", said(&out));
    // The key in the environment serves as well.
    let hex = std::fs::read_to_string(&key).expect("key");
    let out = Command::new(env!("CARGO_BIN_EXE_kairos"))
        .args(["check", "--db"])
        .arg(&db)
        .env("KAIROS_DB_KEY", hex.trim())
        .output()
        .expect("check");
    assert!(out.status.success(), "{}", said(&out));

    // Served with its key: a sign-in works and is written, encrypted.
    let (server, base) =
        serve_with(&db, &["--db-key-file", key.to_str().expect("utf8"), "--mfa-required-roles", "none"]).await;
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({ "email": EMAIL, "password": "violet tugboat sings at noon" }))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    stop(server).await;
    for f in ["kairos.db", "kairos.db-wal", "kairos.db.read-audit", "kairos.db.read-audit-wal", "kairos.db.audit-index"]
    {
        assert!(!holds(&dir.join(f), EMAIL), "{f} holds no plain text after serving");
    }
    let out = kairos_keyed(&["audit", "verify"], &db, Some(&key));
    assert!(out.status.success(), "the audit chain verifies after encryption: {}", said(&out));

    // A backup is encrypted under the same key; it restores with it.
    let backup = dir.join("backup.db");
    let out = kairos_keyed(&["backup", "--to", backup.to_str().expect("utf8")], &db, Some(&key));
    assert!(out.status.success(), "{}", said(&out));
    assert!(!holds(&backup, EMAIL) && !holds(&backup, "SQLite format 3"), "the backup is encrypted");
    #[cfg(unix)]
    assert_eq!(mode(&backup), 0o600);
    let out = kairos_keyed(&["restore", "--from", backup.to_str().expect("utf8")], &db, None);
    assert!(!out.status.success(), "a keyed backup needs its key");
    let out = kairos_keyed(&["restore", "--from", backup.to_str().expect("utf8")], &db, Some(&key));
    assert!(out.status.success(), "{}", said(&out));

    // Rotation: under a new key, the old one no longer opens it.
    let new = dir.join("new.key");
    assert!(new_key(&new).status.success());
    let out = kairos_keyed(&["encrypt", "--new-key-file", new.to_str().expect("utf8")], &db, Some(&key));
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("moved to the new key"), "{}", said(&out));
    assert!(!kairos_keyed(&["check"], &db, Some(&key)).status.success());
    let out = kairos_keyed(&["audit", "verify"], &db, Some(&new));
    assert!(out.status.success(), "{}", said(&out));
    let (server, _) = serve_with(&db, &["--db-key-file", new.to_str().expect("utf8")]).await;
    stop(server).await;
}
