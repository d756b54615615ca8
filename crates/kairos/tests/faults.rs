//! The fault suite: the server process under the faults an operator meets,
//! each bounded in time, with what was acknowledged checked afterwards.
//!
//! - kill -9 cycles under concurrent registrations: every registration
//!   answered 201 is found after the restart (SQLite, and PostgreSQL when
//!   `KAIROS_TEST_POSTGRES_URL` is set);
//! - a full disk (a small tmpfs; needs permission to mount, else skipped
//!   saying so, and a failure where `KAIROS_REQUIRE_FAULTS` is set, as in
//!   CI): writes are refused with 503 and `Retry-After`, never 500,
//!   and accepted again once there is room, without a restart;
//! - PostgreSQL unreachable (its connections cut by a proxy the test
//!   controls): 503 with `Retry-After` within the pool's wait, `/healthz` 503,
//!   and writes and audited reads accepted again once it is back.
//!
//! Figures from these runs are in docs/reliability.md.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "fault-suite-password-2026";
const EMAIL: &str = "admin@faults.kairos";

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kairos")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

fn run(args: &[&str], db: &str) {
    let out = Command::new(bin())
        .args(args)
        .args(["--db", db])
        .env("KAIROS_PASSWORD", PASSWORD)
        .env("KAIROS_LOG", "error")
        .output()
        .expect("run kairos");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A new practice at `db` with an administrator who also registers clients.
fn practice(db: &str) {
    run(&["init"], db);
    run(&["user", "add", "--email", EMAIL, "--name", "Fault Suite", "--roles", "admin,coordinator"], db);
}

/// `kairos serve` on `db`; the base URL and a token once it answers.
async fn serve(db: &str) -> (Served, String, String) {
    let port = free_port();
    let server = Served(
        Command::new(bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db", db, "--db-connections", "4"])
            .env("KAIROS_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..400 {
        let r = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({ "email": EMAIL, "password": PASSWORD }))
            .send()
            .await;
        if let Ok(r) = r {
            let v: serde_json::Value = r.json().await.expect("json");
            let token = v["token"].as_str().expect("token").to_string();
            return (server, base, token);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server did not answer");
}

async fn register(http: &reqwest::Client, base: &str, token: &str, family: &str) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{base}/api/v1/clients"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "given_name": "Fault", "family_name": family, "date_of_birth": "1990-01-01" }))
        .timeout(Duration::from_secs(10))
        .send()
        .await
}

/// Every client's family name, read through the API page by page.
async fn family_names(base: &str, token: &str) -> std::collections::HashSet<String> {
    let http = reqwest::Client::new();
    let mut names = std::collections::HashSet::new();
    for page in 0.. {
        let v: serde_json::Value = http
            .get(format!("{base}/api/v1/clients?limit=200&offset={}", page * 200))
            .bearer_auth(token)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let items = v["items"].as_array().expect("items");
        names.extend(items.iter().filter_map(|c| c["family_name"].as_str().map(str::to_string)));
        if items.len() < 200 {
            break;
        }
    }
    names
}

/// Kill -9 cycles: writers register clients as fast as they are answered,
/// the server is killed under them, restarted, and every acknowledged
/// registration must be there.
async fn kill_cycles(db: &str, label: &str) -> (usize, usize) {
    const CYCLES: usize = 5;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    for cycle in 0..CYCLES {
        let (mut server, base, token) = serve(db).await;
        let http = reqwest::Client::new();
        let mut writers = Vec::new();
        for w in 0..6 {
            let (http, base, token, ack) = (http.clone(), base.clone(), token.clone(), acknowledged.clone());
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("C{cycle}W{w}N{i:05}");
                    match register(&http, &base, &token, &name).await {
                        Ok(r) if r.status() == reqwest::StatusCode::CREATED => {
                            ack.lock().expect("ledger").push(name);
                        }
                        Ok(r) => assert!(
                            r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE,
                            "only 201 or 503 before the kill: {}",
                            r.status()
                        ),
                        Err(_) => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(400 + 150 * cycle as u64)).await;
        server.0.kill().expect("kill -9");
        let _ = server.0.wait();
        for w in writers {
            w.await.expect("writer");
        }
    }
    // The last restart: everything acknowledged is there.
    let (server, base, token) = serve(db).await;
    let found = family_names(&base, &token).await;
    drop(server);
    let acknowledged = acknowledged.lock().expect("ledger").clone();
    let lost: Vec<&String> = acknowledged.iter().filter(|n| !found.contains(*n)).collect();
    eprintln!(
        "faults: {label}: {CYCLES} kill -9 cycles in {:.1} s, {} registrations acknowledged, {} lost",
        started.elapsed().as_secs_f64(),
        acknowledged.len(),
        lost.len()
    );
    assert!(acknowledged.len() >= 50, "the load ran: {}", acknowledged.len());
    assert!(lost.is_empty(), "{} acknowledged registrations lost: {:?}", lost.len(), &lost[..lost.len().min(10)]);
    (acknowledged.len(), lost.len())
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("kairos-faults-{what}-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn kill_9_cycles_under_writes_lose_no_acknowledged_registration_on_sqlite() {
    let dir = TempDir::new("kill");
    let db = dir.0.join("kairos.db");
    let db = db.to_str().expect("utf-8");
    practice(db);
    kill_cycles(db, "SQLite").await;
}

/// A database of its own on the PostgreSQL test server, dropped at the end.
async fn postgres_db() -> Option<kairos_store::testing::TestDb> {
    let url = kairos_store::testing::postgres_url()?;
    Some(kairos_store::testing::TestDb::postgres(&url).await)
}

#[tokio::test]
async fn kill_9_cycles_under_writes_lose_no_acknowledged_registration_on_postgres() {
    let Some(test_db) = postgres_db().await else {
        eprintln!("skipped: set KAIROS_TEST_POSTGRES_URL to run on PostgreSQL");
        return;
    };
    let db = test_db.url.as_str().to_string();
    practice(&db);
    kill_cycles(&db, "PostgreSQL").await;
}

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(format!("kairos-faults-disk-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Tmpfs(dir))
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount");
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_full_disk_answers_503_and_writes_resume_once_there_is_room_without_a_restart() {
    let Some(disk) = Tmpfs::mount("3m") else {
        // CI runs as root and sets KAIROS_REQUIRE_FAULTS: there, a fault
        // that cannot be staged fails the run instead of passing unseen.
        assert!(
            std::env::var_os("KAIROS_REQUIRE_FAULTS").is_none(),
            "KAIROS_REQUIRE_FAULTS is set but a tmpfs could not be mounted (needs root, CAP_SYS_ADMIN)"
        );
        eprintln!("skipped: mounting a tmpfs needs root (CAP_SYS_ADMIN)");
        return;
    };
    let db = disk.path().join("kairos.db");
    let db = db.to_str().expect("utf-8").to_string();
    practice(&db);
    let (server, base, token) = serve(&db).await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..20_000 {
        let r = register(&http, &base, &token, &format!("Fill{i:05}")).await.expect("answered");
        match r.status() {
            reqwest::StatusCode::CREATED => accepted += 1,
            reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
                let body = r.text().await.expect("body");
                assert!(body.contains("unavailable"), "{body}");
                refused += 1;
                if refused >= 20 {
                    break;
                }
            }
            other => panic!("a full disk is answered 503, not {other}: {}", r.text().await.unwrap_or_default()),
        }
    }
    assert!(refused >= 20, "the disk filled ({accepted} accepted)");
    let filled = started.elapsed();
    // Room again, the same process: writes are accepted at once.
    disk.resize("64m");
    let resumed = Instant::now();
    for i in 0..20 {
        let r = register(&http, &base, &token, &format!("After{i:02}")).await.expect("answered");
        assert_eq!(r.status(), reqwest::StatusCode::CREATED, "write {i} once there is room");
    }
    let names = family_names(&base, &token).await;
    assert!((0..20).all(|i| names.contains(&format!("After{i:02}"))));
    eprintln!(
        "faults: full disk (3 MB tmpfs): {accepted} registrations accepted in {:.1} s, then {refused} answered 503; \
         after resizing to 64 MB, 20 of 20 accepted in {:.2} s without a restart",
        filled.as_secs_f64(),
        resumed.elapsed().as_secs_f64()
    );
    drop(server);
}

/// A TCP proxy in front of PostgreSQL that the test can cut (every
/// connection dropped and none accepted) and restore, on the same port.
struct Proxy {
    port: u16,
    upstream: String,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Proxy {
    fn new(upstream: String) -> Proxy {
        Proxy { port: free_port(), upstream, task: Mutex::new(None) }
    }

    async fn up(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.expect("proxy bind");
        let upstream = self.upstream.clone();
        let task = tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                let upstream = upstream.clone();
                pipes.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        *self.task.lock().expect("proxy") = Some(task);
    }

    /// Drops the listener and every piped connection (the task owns them).
    async fn down(&self) {
        let task = self.task.lock().expect("proxy").take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

#[tokio::test]
async fn postgresql_unreachable_answers_503_quickly_and_the_server_recovers_without_a_restart() {
    let Some(test_db) = postgres_db().await else {
        eprintln!("skipped: set KAIROS_TEST_POSTGRES_URL to run on PostgreSQL");
        return;
    };
    let url = test_db.url.as_str().to_string();
    practice(&url);
    // postgres://user@host:port/db -> the same through the proxy.
    let rest = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")).expect("pg url");
    let (auth, tail) = rest.split_once('@').map(|(a, t)| (format!("{a}@"), t)).unwrap_or((String::new(), rest));
    let (hostport, dbname) = tail.split_once('/').expect("db name");
    let hostport = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:5432") };
    let proxy = Proxy::new(hostport);
    proxy.up().await;
    let via_proxy = format!("postgres://{auth}127.0.0.1:{}/{dbname}", proxy.port);
    let (server, base, token) = serve(&via_proxy).await;
    let http = reqwest::Client::new();
    let r = register(&http, &base, &token, "BeforeOutage").await.expect("answered");
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let client = r.json::<serde_json::Value>().await.expect("json")["id"].as_str().expect("id").to_string();

    proxy.down().await;
    let mut slowest = Duration::ZERO;
    for i in 0..3 {
        let t = Instant::now();
        let r = register(&http, &base, &token, &format!("During{i}")).await.expect("answered");
        slowest = slowest.max(t.elapsed());
        assert_eq!(r.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE, "{}", r.text().await.unwrap_or_default());
        assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
        assert_eq!(r.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/problem+json"));
        let t = Instant::now();
        let h = http.get(format!("{base}/api/v1/healthz")).send().await.expect("healthz");
        slowest = slowest.max(t.elapsed());
        assert_eq!(h.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    }
    assert!(slowest < Duration::from_secs(4), "answered within the pool's wait, the slowest after {slowest:?}");

    proxy.up().await;
    let back = Instant::now();
    // The first requests after it is back are answered: a registration and
    // an audited read (the audit writer's connection was cut too).
    let r = register(&http, &base, &token, "AfterOutage").await.expect("answered");
    assert_eq!(r.status(), reqwest::StatusCode::CREATED, "{}", r.text().await.unwrap_or_default());
    let r = http.get(format!("{base}/api/v1/clients/{client}")).bearer_auth(&token).send().await.expect("read");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "the first audited read after the outage");
    eprintln!(
        "faults: PostgreSQL unreachable: 503 with Retry-After in at most {:.2} s; after it was back, \
         a registration and an audited read accepted in {:.2} s without a restart",
        slowest.as_secs_f64(),
        back.elapsed().as_secs_f64()
    );
    drop(server);
    proxy.down().await;
    // Every connection to the test database is gone before it is dropped.
    tokio::time::sleep(Duration::from_millis(200)).await;
}
