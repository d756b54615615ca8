//! A killed server loses nothing it acknowledged: every chart read answered
//! with 200 has its audit entry committed, and every questionnaire answered
//! with 201 is stored with its safety alert, even when the process is killed
//! (SIGKILL) in the middle of a burst. (This proves the order:
//! commit, then respond. That a commit survives power loss is SQLite's
//! `synchronous=FULL`, checked by the store suite.)

use kairos_store::{AuditQuery, DatabaseUrl, PageRequest, Store, StoreOptions};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const PASSWORD: &str = "durability-test-password";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// A 30-client demo practice served by a child process: (server, base URL,
/// a therapist's token, client ids, database path, its folder).
async fn started() -> (Killed, String, String, Vec<String>, std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("kairos-kill-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join("kairos.db");
    let bin = env!("CARGO_BIN_EXE_kairos");
    let made = Command::new(bin)
        .args(["demo", "--no-serve", "--clients", "30", "--db"])
        .arg(&db)
        .env("KAIROS_DEMO_PASSWORD", PASSWORD)
        .stdout(Stdio::null())
        .status()
        .expect("demo");
    assert!(made.success());

    let port = free_port();
    let server = Killed(
        Command::new(bin)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
            .arg(&db)
            .env("KAIROS_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut token = None;
    for _ in 0..100 {
        let r = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "therapist@demo.kairos", "password": PASSWORD}))
            .send()
            .await;
        if let Ok(r) = r {
            let v: serde_json::Value = r.json().await.expect("json");
            token = v["token"].as_str().map(str::to_string);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = token.expect("signed in");
    let list: serde_json::Value = http
        .get(format!("{base}/api/v1/clients?limit=30"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let ids: Vec<String> =
        list["items"].as_array().expect("items").iter().filter_map(|c| c["id"].as_str().map(str::to_string)).collect();
    assert_eq!(ids.len(), 30);

    (server, base, token, ids, db, dir)
}

#[tokio::test]
async fn acknowledged_reads_survive_a_killed_server() {
    let (mut server, base, token, ids, db, dir) = started().await;
    let http = reqwest::Client::new();
    // Sixteen readers hammer the chart until the server dies under them.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for r in 0..16 {
        let (http, base, token, ids, ack) =
            (http.clone(), base.clone(), token.clone(), ids.clone(), acknowledged.clone());
        readers.push(tokio::spawn(async move {
            for i in 0.. {
                let id = &ids[(r * 7 + i) % ids.len()];
                match http.get(format!("{base}/api/v1/clients/{id}")).bearer_auth(&token).send().await {
                    Ok(res) if res.status() == 200 => {
                        // Count it only once the whole body has arrived.
                        if res.bytes().await.is_ok() {
                            ack.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Ok(res) => panic!("unexpected status {}", res.status()),
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.load(Ordering::SeqCst) < 300 {
        assert!(std::time::Instant::now() < deadline, "the readers stalled before 300 reads");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.0.kill().expect("SIGKILL");
    let _ = server.0.wait();
    for r in readers {
        r.await.expect("reader");
    }
    let acked = acknowledged.load(Ordering::SeqCst);

    let url: DatabaseUrl = db.to_string_lossy().parse().expect("url");
    let store = Store::connect(&url, StoreOptions::default()).await.expect("reopen");
    // Count the chart reads the log holds.
    let mut reads = 0usize;
    let mut offset = 0;
    loop {
        let page = store
            .list_audit(&AuditQuery { page: PageRequest { limit: 200, offset }, ..Default::default() })
            .await
            .expect("page");
        reads += page.items.iter().filter(|e| e.action == "read" && e.detail.as_deref() == Some("chart")).count();
        if page.items.len() < 200 {
            break;
        }
        offset += 200;
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(acked >= 300, "acknowledged {acked}");
    assert!(reads >= acked, "{acked} reads were answered but only {reads} audit entries survived the kill");
}

#[tokio::test]
async fn acknowledged_questionnaires_and_their_alerts_survive_a_killed_server() {
    let began = jiff::Timestamp::now();
    let (mut server, base, token, ids, db, dir) = started().await;
    let http = reqwest::Client::new();
    // Every submission endorses PHQ-9 item 9, so each raises an alert.
    let body = serde_json::json!({"instrument": "phq9", "answers": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]});
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..16 {
        let (http, base, token, ids, ack, body) =
            (http.clone(), base.clone(), token.clone(), ids.clone(), acknowledged.clone(), body.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let id = &ids[(w * 5 + i) % ids.len()];
                let sent = http
                    .post(format!("{base}/api/v1/clients/{id}/measures"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                match sent {
                    Ok(res) if res.status() == 201 => {
                        if res.bytes().await.is_ok() {
                            ack.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Ok(res) => panic!("unexpected status {}", res.status()),
                    Err(_) => break,
                }
            }
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.load(Ordering::SeqCst) < 200 {
        assert!(std::time::Instant::now() < deadline, "the writers stalled before 200 submissions");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.0.kill().expect("SIGKILL");
    let _ = server.0.wait();
    for w in writers {
        w.await.expect("writer");
    }
    let acked = acknowledged.load(Ordering::SeqCst);

    let url: DatabaseUrl = db.to_string_lossy().parse().expect("url");
    let store = Store::connect(&url, StoreOptions::default()).await.expect("reopen");
    let (mut stored, mut alerts) = (0usize, 0usize);
    for id in &ids {
        let list = store.measures_of(id.parse().expect("id"), Some("phq9")).await.expect("measures");
        for m in list.iter().filter(|m| m.created_at >= began) {
            stored += 1;
            alerts += m.alerts.len();
        }
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(acked >= 200, "acknowledged {acked}");
    assert!(stored >= acked, "{acked} submissions were acknowledged but only {stored} survived the kill");
    assert_eq!(alerts, stored, "every stored submission kept its alert");
}

#[tokio::test]
async fn a_server_sent_sigterm_stops_cleanly_and_leaves_no_write_ahead_log() {
    let (mut server, base, token, ids, db, dir) = started().await;
    let http = reqwest::Client::new();
    let r = http.get(format!("{base}/api/v1/clients/{}", ids[0])).bearer_auth(&token).send().await.expect("read");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let mut exited = None;
    for _ in 0..200 {
        if let Some(status) = server.0.try_wait().expect("wait") {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = exited.expect("the server stopped within 10 s of SIGTERM");
    assert!(status.success(), "a clean exit, not a kill: {status:?}");
    // The log was checkpointed into the file: a copy of the file alone is
    // the whole database (what a restore from a file copy relies on).
    let wal = db.with_extension("db-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "{} holds {wal_len} bytes after a clean stop", wal.display());
    let _ = std::fs::remove_dir_all(dir);
}
