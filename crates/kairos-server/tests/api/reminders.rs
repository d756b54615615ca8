//! Appointment reminders through a real SMTP conversation: a small SMTP
//! server on loopback (it can refuse the first attempts), reminders queued
//! once per appointment, no clinical content, a failed send retried later
//! and never lost, and the server's worker delivering on its own.

use crate::helpers::*;
use kairos_domain::roles::Role;
use kairos_server::mailer::{self, MailConfig};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// An SMTP server that accepts everything, after refusing the first
/// `refuse` transactions with a temporary error.
struct Sink {
    port: u16,
    received: Arc<Mutex<Vec<String>>>,
}

async fn sink(refuse: usize) -> Sink {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let refuse = Arc::new(AtomicUsize::new(refuse));
    let got = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (got, refuse) = (got.clone(), refuse.clone());
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if cmd.starts_with("MAIL FROM") {
                        if refuse.load(Ordering::SeqCst) > 0 {
                            refuse.fetch_sub(1, Ordering::SeqCst);
                            b"451 4.3.0 try again later\r\n"
                        } else {
                            b"250 OK\r\n"
                        }
                    } else if cmd.starts_with("DATA") {
                        let _ = w.write_all(b"354 go ahead\r\n").await;
                        let mut message = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            message.push_str(&l);
                            message.push('\n');
                        }
                        got.lock().expect("lock").push(message);
                        b"250 OK queued\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    if w.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    Sink { port, received }
}

fn config(port: u16) -> MailConfig {
    MailConfig {
        smtp_url: format!("smtp://127.0.0.1:{port}").into(),
        from: "Window Clinic <no-reply@clinic.example>".into(),
        poll: jiff::SignedDuration::from_millis(200),
        reminder_ahead: jiff::SignedDuration::from_hours(24),
        clinic_name: "Window Clinic".into(),
        clinic_phone: Some("+1 555 0100".into()),
        public_url: Some("https://kairos.clinic.example".into()),
        protocols: kairos_server::Config::default().protocols,
    }
}

/// A client with an e-mail address and a dosing appointment in 10 hours.
async fn appointment(app: &TestApp) {
    let admin = app.token_for(Role::Admin).await;
    let site =
        app.post("/api/v1/sites", &admin, json!({ "name": "Fairhaven Centre", "time_zone": "America/New_York" })).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let coordinator = app.token_for(Role::Coordinator).await;
    let r = app
        .post(
            "/api/v1/clients",
            &coordinator,
            json!({ "given_name": "Rhea", "family_name": "Quillon", "date_of_birth": "1980-02-03", "email": "rhea@example.org" }),
        )
        .await;
    let client = r.body["id"].as_str().expect("client").to_string();
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(10);
    let r = app
        .post(
            "/api/v1/encounters",
            &coordinator,
            json!({ "client_id": client, "site_id": site, "kind": "intake", "scheduled_start": start.to_string(),
                    "scheduled_end": (start + jiff::SignedDuration::from_hours(1)).to_string() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn a_reminder_is_queued_once_and_says_nothing_clinical() {
    let app = spawn_app().await;
    appointment(&app).await;
    let s = sink(0).await;
    let cfg = config(s.port);
    let now = jiff::Timestamp::now();
    assert_eq!(mailer::queue_reminders(&app.store, &cfg, now).await.expect("queue"), 1);
    assert_eq!(mailer::queue_reminders(&app.store, &cfg, now).await.expect("again"), 0, "once per appointment");
    assert_eq!(mailer::send_due(&app.store, &cfg, jiff::Timestamp::now()).await.expect("send"), (1, 0));
    let got = s.received.lock().expect("lock").clone();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert!(m.contains("To: rhea@example.org"), "{m}");
    assert!(m.contains("Subject: Reminder: your appointment on"), "{m}");
    assert!(m.contains("Fairhaven Centre") && m.contains("+1 555 0100"), "{m}");
    for clinical in ["intake", "dosing", "ketamine", "Quillon", "Rhea", "PHQ"] {
        assert!(!m.contains(clinical), "no clinical content or name in the email ({clinical}): {m}");
    }
    assert_eq!(app.store.outbox_counts().await.expect("counts"), (0, 1, 0));
}

#[tokio::test]
async fn a_refused_send_is_retried_later_and_never_lost() {
    let app = spawn_app().await;
    appointment(&app).await;
    let s = sink(1).await;
    let cfg = config(s.port);
    let now = jiff::Timestamp::now();
    mailer::queue_reminders(&app.store, &cfg, now).await.expect("queue");
    let now = jiff::Timestamp::now();
    assert_eq!(mailer::send_due(&app.store, &cfg, now).await.expect("send"), (0, 1), "the server refused it");
    assert_eq!(app.store.outbox_counts().await.expect("counts"), (1, 0, 1), "still queued, with its failure");
    assert_eq!(
        mailer::send_due(&app.store, &cfg, jiff::Timestamp::now()).await.expect("send"),
        (0, 0),
        "not before its retry time"
    );
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(2);
    assert_eq!(mailer::send_due(&app.store, &cfg, later).await.expect("retry"), (1, 0));
    assert_eq!(s.received.lock().expect("lock").len(), 1);
    assert_eq!(app.store.outbox_counts().await.expect("counts"), (0, 1, 0));

    // No server at all: the message waits, with the error recorded.
    app.store.queue_email("someone@example.org", "Test", "Body").await.expect("enqueue");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    assert_eq!(mailer::send_due(&app.store, &config(closed), later).await.expect("send"), (0, 1));
    assert_eq!(app.store.outbox_counts().await.expect("counts"), (1, 1, 1));
}

#[tokio::test]
async fn the_servers_worker_sends_reminders_on_its_own() {
    let s = sink(0).await;
    let app = spawn_app_with(kairos_server::Config { mail: Some(config(s.port)), ..test_config() }).await;
    appointment(&app).await;
    for _ in 0..100 {
        if !s.received.lock().expect("lock").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let got = s.received.lock().expect("lock").clone();
    assert_eq!(got.len(), 1, "the worker queued and sent the reminder");
}

#[tokio::test]
async fn an_open_home_exercise_is_reminded_once_with_a_link_and_nothing_clinical() {
    let app = spawn_app().await;
    let c = crate::ledger::clinic(&app, 1, "ketamine_asat").await;
    // The dose 25 hours ago: the first exercise window (24-36 h) is open.
    let mut body = crate::ledger::start_with_stock(&c.stock, None);
    body["started_at"] = json!((jiff::Timestamp::now() - jiff::SignedDuration::from_hours(25)).to_string());
    let r = app.post(&format!("/api/v1/encounters/{}/dosing-session", c.encounters[0]), &c.nurse, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let s = sink(0).await;
    let cfg = config(s.port);
    assert_eq!(
        mailer::queue_exercise_reminders(&app.store, &cfg, jiff::Timestamp::now()).await.expect("q"),
        0,
        "no portal account yet"
    );
    set_client_email(&app, &c.clients[0], "client0@example.org").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{}/portal-invitations", c.clients[0]),
            &c.prescriber,
            json!({ "email": "client0@example.org" }),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    assert_eq!(mailer::queue_exercise_reminders(&app.store, &cfg, jiff::Timestamp::now()).await.expect("q"), 1);
    assert_eq!(
        mailer::queue_exercise_reminders(&app.store, &cfg, jiff::Timestamp::now()).await.expect("q"),
        0,
        "once per exercise"
    );
    let (sent, _) = mailer::send_due(&app.store, &cfg, jiff::Timestamp::now()).await.expect("send");
    assert_eq!(sent, 2, "the invitation and the reminder");
    let stored = app.store.outbox_for("client0@example.org").await.expect("outbox");
    let invitation = stored.iter().find(|m| m.body.contains("/portal/auth/")).expect("the invitation");
    assert!(invitation.body.contains("/portal/auth/[sent]"), "the stored copy keeps no live link: {}", invitation.body);
    let got = s.received.lock().expect("lock").clone();
    // Quoted-printable: undo the soft line breaks.
    let m = &got.iter().find(|m| m.contains("An activity is waiting")).expect("the reminder").replace("=\n", "");
    assert!(m.contains("https://kairos.clinic.example/portal"), "{m}");
    for clinical in ["ketamine", "dose", "ASAT", "Ledger", "exercise"] {
        assert!(!m.contains(clinical), "nothing clinical ({clinical}): {m}");
    }
}
