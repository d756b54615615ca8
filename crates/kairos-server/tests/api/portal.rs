//! The client portal: invitation and magic-link sign-in (single use,
//! expiring, stored hashed), client isolation on every portal route, the
//! journal shared entry by entry, home exercises scheduled from an ASAT dose
//! and done round by round, and staff and client sessions kept apart.

use crate::helpers::*;
use jiff::{SignedDuration, Timestamp};
use kairos_domain::roles::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct Portal {
    pub admin: String,
    pub therapist: String,
    pub therapist_id: kairos_domain::ids::StaffId,
    pub therapist_email: String,
    pub coordinator: String,
}

/// Makes `p.therapist` the therapist of a course of `client` (a client
/// shares their journal with their own therapist).
pub async fn assign_therapist(app: &TestApp, p: &Portal, client: &str) {
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let new = kairos_domain::course::NewCourse {
        client_id: client.parse().expect("client id"),
        protocol: "apa_iv_induction".into(),
        started_on: today,
        prescriber_id: None,
        therapist_id: Some(p.therapist_id),
    };
    app.store.create_course(&kairos_store::Actor::system("test"), &new).await.expect("course");
}

pub async fn portal_setup(app: &TestApp) -> Portal {
    let admin = app.token_for(Role::Admin).await;
    let (email, therapist_id) = app.add_staff(&[Role::Therapist]).await;
    let therapist = app.login(&email, PASSWORD).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    Portal { admin, therapist, therapist_id, therapist_email: email, coordinator }
}

/// A client invited to the portal with `email`; returns the client id.
pub async fn invited_client(app: &TestApp, p: &Portal, given: &str, email: &str) -> String {
    let client = app.create_client(&p.coordinator, given, "Portal").await;
    assign_therapist(app, p, &client).await;
    let r = app
        .post(&format!("/api/v1/clients/{client}/portal-invitations"), &p.therapist, json!({ "email": email }))
        .await;
    assert_eq!(r.problem_field(), Some("email"), "invitations go only to the address on file");
    set_client_email(app, &client, email).await;
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/portal-invitations"),
            &p.therapist,
            json!({ "email": "someone.else@example.org" }),
        )
        .await;
    assert_eq!(r.problem_field(), Some("email"), "never to another address");
    let r = app
        .post(&format!("/api/v1/clients/{client}/portal-invitations"), &p.therapist, json!({ "email": email }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    client
}

pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The code in the newest e-mail to `email`.
pub async fn code_in_mail(app: &TestApp, email: &str) -> String {
    let mail = app.store.outbox_for(email).await.expect("outbox");
    let body = &mail.first().expect("an e-mail").body;
    let start = body.find("/portal/auth/").expect("a link") + "/portal/auth/".len();
    body[start..].split_whitespace().next().expect("code").to_string()
}

/// How many sign-in links were asked for `email` and dealt with (each ends
/// with an audit entry, whether or not a link was sent).
pub async fn link_requests(app: &TestApp, email: &str) -> i64 {
    let login = format!("portal-link:{}", email.to_lowercase());
    app.store.recent_sign_in_attempts(&login, Timestamp::UNIX_EPOCH).await.expect("count")
}

/// Waits until the sign-in form has dealt with one more request for `email`
/// than `before` (the form answers first and makes the link after).
pub async fn link_request_done(app: &TestApp, email: &str, before: i64) {
    for _ in 0..200 {
        if link_requests(app, email).await > before {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the sign-in link request for {email} was never dealt with");
}

/// Asks for a sign-in link on the portal's form and waits until it is dealt with.
pub async fn ask_for_link(app: &TestApp, c: &reqwest::Client, email: &str) {
    let before = link_requests(app, email).await;
    let r = c.post(format!("{}/portal/login", app.base)).form(&[("email", email)]).send().await.expect("login");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("text").contains("sign-in link is on its way"));
    link_request_done(app, email, before).await;
}

/// Signs a client in by a sign-in link; returns a cookie-keeping client.
pub async fn portal_session(app: &TestApp, email: &str) -> reqwest::Client {
    let c = cookie_client();
    ask_for_link(app, &c, email).await;
    let code = code_in_mail(app, email).await;
    let r = c.post(format!("{}/portal/auth/{code}", app.base)).send().await.expect("auth");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers().get("set-cookie").expect("cookie").to_str().expect("text").to_string();
    assert!(cookie.starts_with("kairos_portal=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    c
}

pub async fn send(c: &reqwest::Client, method: Method, url: String, body: Option<Value>) -> Resp {
    let mut req = c.request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    into_resp(req.send().await.expect("request")).await
}

/// A client on an ASAT course with a dose charted `hours_ago`, invited to
/// the portal as `email`; returns (client, dose encounter).
pub async fn asat_client(app: &TestApp, p: &Portal, email: &str, hours_ago: i64) -> (String, String) {
    let c = crate::ledger::clinic(app, 1, "ketamine_asat").await;
    let (client, dose) = (c.clients[0].clone(), c.encounters[0].clone());
    assign_therapist(app, p, &client).await;
    let mut body = crate::ledger::start_with_stock(&c.stock, None);
    body["started_at"] = json!((Timestamp::now() - SignedDuration::from_hours(hours_ago)).to_string());
    let r = app.post(&format!("/api/v1/encounters/{dose}/dosing-session"), &c.nurse, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    set_client_email(app, &client, email).await;
    let r = app
        .post(&format!("/api/v1/clients/{client}/portal-invitations"), &p.therapist, json!({ "email": email }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (client, dose)
}

#[tokio::test]
async fn a_sign_in_link_works_once_and_expires_and_the_email_holds_no_clinical_content() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    invited_client(&app, &p, "Ada", "ada@example.test").await;
    let invitation = app.store.outbox_for("ada@example.test").await.expect("outbox");
    assert_eq!(invitation.len(), 1);
    assert!(!invitation[0].body.to_lowercase().contains("ketamine"));
    // An unknown address gets the same answer and no e-mail.
    let c = cookie_client();
    ask_for_link(&app, &c, "nobody@example.test").await;
    assert!(app.store.outbox_for("nobody@example.test").await.expect("outbox").is_empty());

    ask_for_link(&app, &c, "ADA@example.test").await;
    let mail = app.store.outbox_for("ada@example.test").await.expect("outbox");
    assert_eq!(mail.len(), 2);
    assert_eq!(mail[0].subject, "Your sign-in link for your clinic");
    let code = code_in_mail(&app, "ada@example.test").await;
    // Opening the link (as a mail scanner would) does not use it up.
    let r = c.get(format!("{}/portal/auth/{code}", app.base)).send().await.expect("r");
    assert!(r.text().await.expect("t").contains("Press the button to sign in"));
    let r = c.post(format!("{}/portal/auth/{code}", app.base)).send().await.expect("r");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c.get(format!("{}/portal", app.base)).send().await.expect("r");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("t").contains("Hello, Ada"));
    // Used once: a second use opens nothing.
    let other = cookie_client();
    let r = other.post(format!("{}/portal/auth/{code}", app.base)).send().await.expect("r");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.expect("t").contains("expired or was used"));
    // The invitation code was superseded? No: it is a different purpose, but
    // an expired code never works.
    let mut cfg = test_config();
    cfg.portal = std::sync::Arc::new(kairos_server::api::portal::PortalConfig {
        code_lifetime: SignedDuration::from_secs(1),
        ..Default::default()
    });
    let app2 = serve(app.store.clone(), cfg).await;
    let c2 = cookie_client();
    ask_for_link(&app2, &c2, "ada@example.test").await;
    let code = code_in_mail(&app2, "ada@example.test").await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let r = c2.post(format!("{}/portal/auth/{code}", app2.base)).send().await.expect("r");
    assert!(r.headers().get("set-cookie").is_none(), "an expired link signs nobody in");
    // Codes and tokens are stored only as hashes.
    assert!(app.store.peek_portal_code(&code).await.expect("peek").is_none());
}

#[tokio::test]
async fn the_journal_is_private_until_shared_entry_by_entry_and_the_therapist_reads_only_shared_ones() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let client = invited_client(&app, &p, "Bea", "bea@example.test").await;
    let c = portal_session(&app, "bea@example.test").await;
    let url = format!("{}/api/v1/portal/journal", app.base);
    let private =
        send(&c, Method::POST, url.clone(), Some(json!({ "text": "Private thoughts after the session", "mood": 4 })))
            .await;
    assert_eq!(private.status, StatusCode::CREATED, "{}", private.body);
    assert_eq!(private.body["shared"], false);
    let shared =
        send(&c, Method::POST, url.clone(), Some(json!({ "text": "I felt lighter today", "mood": 7, "shared": true })))
            .await;
    assert_eq!(shared.status, StatusCode::CREATED);
    let bad = send(&c, Method::POST, url.clone(), Some(json!({ "text": "x", "mood": 11 }))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.problem_field(), Some("mood"));

    let r = app.get(&format!("/api/v1/clients/{client}/shared-journal"), &p.therapist).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let texts: Vec<&str> = r.body.as_array().expect("list").iter().map(|e| e["text"].as_str().expect("t")).collect();
    assert_eq!(texts, vec!["I felt lighter today"]);
    // Share the private one, take the other back.
    let pid = private.body["id"].as_str().expect("id");
    let sid = shared.body["id"].as_str().expect("id");
    let r = send(&c, Method::PUT, format!("{url}/{pid}/sharing"), Some(json!({ "shared": true }))).await;
    assert_eq!(r.body["shared"], true);
    let r = send(&c, Method::PUT, format!("{url}/{sid}/sharing"), Some(json!({ "shared": false }))).await;
    assert_eq!(r.body["shared"], false);
    let r = app.get(&format!("/api/v1/clients/{client}/shared-journal"), &p.therapist).await;
    let texts: Vec<&str> = r.body.as_array().expect("list").iter().map(|e| e["text"].as_str().expect("t")).collect();
    assert_eq!(texts, vec!["Private thoughts after the session"]);
    // Only therapists read shared entries; every read is audited.
    let r = app.get(&format!("/api/v1/clients/{client}/shared-journal"), &p.coordinator).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let log = app.get(&format!("/api/v1/audit?client={client}&limit=200"), &p.admin).await;
    let reads =
        log.body["items"].as_array().expect("items").iter().filter(|e| e["record_type"] == "shared_journal").count();
    assert_eq!(reads, 2);
    // The staff page shows the client's own therapist the shared entry only;
    // another therapist sees none.
    let web = web_session(&app, &p.therapist_email).await;
    let page =
        web.get(format!("{}/clients/{client}/portal", app.base)).send().await.expect("r").text().await.expect("t");
    assert!(page.contains("Private thoughts after the session"));
    assert!(!page.contains("I felt lighter today"), "an entry taken back is not shown");
    let (email, _) = app.add_staff(&[Role::Therapist]).await;
    let other = web_session(&app, &email).await;
    let page =
        other.get(format!("{}/clients/{client}/portal", app.base)).send().await.expect("r").text().await.expect("t");
    assert!(!page.contains("Private thoughts after the session"), "not shared with every therapist");
    let other_api = app.login(&email, PASSWORD).await;
    assert_eq!(
        app.get(&format!("/api/v1/clients/{client}/shared-journal"), &other_api).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_asat_dose_schedules_twice_daily_exercises_on_days_1_to_4_and_the_therapist_sees_adherence() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let (client, dose) = asat_client(&app, &p, "cai@example.test", 25).await;
    let c = portal_session(&app, "cai@example.test").await;
    let r = send(&c, Method::GET, format!("{}/api/v1/portal/exercises", app.base), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let slots = r.body.as_array().expect("slots");
    assert_eq!(slots.len(), 8, "{}", r.body);
    let dose_at = Timestamp::now() - SignedDuration::from_hours(25);
    for (i, s) in slots.iter().enumerate() {
        let opens: Timestamp = s["opens"].as_str().expect("opens").parse().expect("ts");
        let h = opens.duration_since(dose_at).as_secs_f64() / 3600.0;
        let want = 24.0 * (i / 2 + 1) as f64 + 12.0 * (i % 2) as f64;
        assert!((h - want).abs() < 0.1, "slot {i}: {h} h after the dose, wanted {want}");
    }
    assert_eq!(slots[0]["open_now"], true);
    assert_eq!(slots[1]["open_now"], false);
    // A slot that is not open cannot be started.
    let r = send(
        &c,
        Method::POST,
        format!("{}/api/v1/portal/exercises", app.base),
        Some(json!({ "dose_encounter_id": dose, "slot": 2 })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = send(
        &c,
        Method::POST,
        format!("{}/api/v1/portal/exercises", app.base),
        Some(json!({ "dose_encounter_id": dose, "slot": 1 })),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body["label"].as_str().expect("label").contains("not the validated task itself"));
    let id = r.body["id"].as_str().expect("id").to_string();
    let mut view = r.body;
    let mut wrong = 0;
    while let Some(round) = view["next_round"].as_object().cloned() {
        let n = round["number"].as_u64().expect("n");
        let pairs: Vec<String> =
            round["pairs"].as_array().expect("p").iter().map(|p| p[1].as_str().expect("w").to_string()).collect();
        let options: Vec<String> =
            round["options"].as_array().expect("o").iter().map(|o| o.as_str().expect("o").to_string()).collect();
        // Answer the first round wrongly, the rest correctly.
        let answer = if n == 1 {
            wrong += 1;
            options.iter().find(|o| !pairs.contains(o)).expect("a distractor").clone()
        } else {
            options.iter().find(|o| pairs.contains(o)).expect("the shown word").clone()
        };
        let r = send(
            &c,
            Method::POST,
            format!("{}/api/v1/portal/exercises/{id}/rounds", app.base),
            Some(json!({ "round": n, "answer": answer })),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        view = r.body;
    }
    assert!(view["finished_at"].is_string());
    let rounds = view["rounds"].as_u64().expect("rounds");
    assert_eq!(view["checks_correct"].as_u64(), Some(rounds - wrong));
    let r = app.get(&format!("/api/v1/clients/{client}/exercise-adherence"), &p.therapist).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["due"].as_u64(), r.body["completed"].as_u64(), r.body["on_time"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(r.body["upcoming"], 7);
    let acc = r.body["mean_accuracy"].as_f64().expect("accuracy");
    assert!((acc - (rounds - 1) as f64 / rounds as f64).abs() < 1e-9);
    assert_eq!(r.body["rushed"], 1, "done in seconds: reported as rushed");
}

#[tokio::test]
async fn a_client_sees_nothing_of_another_client_on_any_route_and_sessions_do_not_cross() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let (a, dose) = asat_client(&app, &p, "ana@example.test", 25).await;
    invited_client(&app, &p, "Ben", "ben@example.test").await;
    let ca = portal_session(&app, "ana@example.test").await;
    let cb = portal_session(&app, "ben@example.test").await;
    let base = format!("{}/api/v1/portal", app.base);
    let e = send(&ca, Method::POST, format!("{base}/journal"), Some(json!({ "text": "Ana's secret", "shared": true })))
        .await;
    let entry = e.body["id"].as_str().expect("id").to_string();
    let x = send(&ca, Method::POST, format!("{base}/exercises"), Some(json!({ "dose_encounter_id": dose, "slot": 1 })))
        .await;
    assert_eq!(x.status, StatusCode::CREATED, "{}", x.body);
    let ex = x.body["id"].as_str().expect("id").to_string();
    let opt = x.body["next_round"]["options"][0].clone();
    // Ben against every route with Ana's ids.
    let tries = [
        send(&cb, Method::GET, format!("{base}/journal/{entry}"), None).await,
        send(&cb, Method::PUT, format!("{base}/journal/{entry}/sharing"), Some(json!({ "shared": false }))).await,
        send(&cb, Method::GET, format!("{base}/exercises/{ex}"), None).await,
        send(&cb, Method::POST, format!("{base}/exercises/{ex}/rounds"), Some(json!({ "round": 1, "answer": opt })))
            .await,
        send(&cb, Method::POST, format!("{base}/exercises"), Some(json!({ "dose_encounter_id": dose, "slot": 1 })))
            .await,
        send(&cb, Method::GET, format!("{}/api/v1/clients/{a}/shared-journal", app.base), None).await,
        send(&cb, Method::GET, format!("{}/api/v1/clients/{a}/exercise-adherence", app.base), None).await,
        send(&cb, Method::POST, format!("{}/api/v1/clients/{a}/portal-invitations", app.base), Some(json!({}))).await,
    ];
    for (i, r) in tries.iter().enumerate() {
        assert!(
            matches!(r.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED),
            "try {i}: {}",
            r.status
        );
        assert!(!r.body.to_string().contains("Ana's secret"), "try {i} leaked");
    }
    let list = send(&cb, Method::GET, format!("{base}/journal"), None).await;
    assert_eq!(list.body, json!([]));
    let list = send(&cb, Method::GET, format!("{base}/exercises"), None).await;
    assert_eq!(list.body, json!([]));
    for path in [format!("/portal/exercises/{ex}"), "/portal/journal".into()] {
        let r = cb.get(format!("{}{path}", app.base)).send().await.expect("r");
        let text = r.text().await.expect("t");
        assert!(!text.contains("Ana's secret") && !text.contains("Round 1"), "{path}");
    }
    let r = cb
        .post(format!("{}/portal/journal/{entry}/sharing", app.base))
        .form(&[("shared", "0")])
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = cb
        .post(format!("{}/portal/exercises/{ex}", app.base))
        .form(&[("round", "1"), ("answer", "x")])
        .send()
        .await
        .expect("r");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Still Ana's, still shared.
    let r = app.get(&format!("/api/v1/clients/{a}/shared-journal"), &p.therapist).await;
    assert_eq!(r.body.as_array().expect("list").len(), 1);
    // A portal cookie opens no staff route, page or API; a staff session no portal route.
    let r = send(&ca, Method::GET, format!("{}/api/v1/clients", app.base), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = ca.get(format!("{}/clients/{a}", app.base)).send().await.expect("r");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "to the staff sign-in");
    let r = app.get("/api/v1/portal/journal", &p.therapist).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let (email, _) = app.add_staff(&[Role::Therapist]).await;
    let web = web_session(&app, &email).await;
    let r = web.get(format!("{}/portal/journal", app.base)).send().await.expect("r");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/portal/login");
    // Signing out ends the session.
    let r = ca.post(format!("{}/portal/logout", app.base)).send().await.expect("r");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = send(&ca, Method::GET, format!("{base}/journal"), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// Sets a password through the portal page with `c`'s session; returns the page's text.
async fn set_password(app: &TestApp, c: &reqwest::Client, password: &str) -> (StatusCode, String) {
    let r = c.post(format!("{}/portal/password", app.base)).form(&[("password", password)]).send().await.expect("r");
    (r.status(), r.text().await.expect("text"))
}

/// Signs in with a password on the portal's sign-in form; returns the client
/// if it was signed in.
async fn password_login(app: &TestApp, email: &str, password: &str) -> Option<reqwest::Client> {
    let c = cookie_client();
    let r = c
        .post(format!("{}/portal/login", app.base))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .expect("r");
    (r.status() == StatusCode::SEE_OTHER).then_some(c)
}

#[tokio::test]
async fn a_password_is_set_only_right_after_a_one_time_link_and_setting_it_ends_the_other_sessions() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let noor = invited_client(&app, &p, "Noor", "noor@example.test").await;
    // The invitation link leads to the password page, where it may be set.
    let code = code_in_mail(&app, "noor@example.test").await;
    let invited = cookie_client();
    let r = invited.post(format!("{}/portal/auth/{code}", app.base)).send().await.expect("r");
    assert_eq!(r.headers().get("location").and_then(|v| v.to_str().ok()), Some("/portal/password"));
    let page = invited.get(format!("{}/portal/password", app.base)).send().await.expect("r");
    assert!(page.text().await.expect("t").contains("New password"));
    let (status, _) = set_password(&app, &invited, "first password 2026").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(password_login(&app, "noor@example.test", "wrong password 2026").await.is_none());

    // A session opened with the password (a phone left signed in) cannot change it.
    let by_password = password_login(&app, "noor@example.test", "first password 2026").await.expect("signed in");
    let page = by_password.get(format!("{}/portal/password", app.base)).send().await.expect("r");
    let text = page.text().await.expect("t");
    assert!(text.contains("ask for a sign-in link") && !text.contains("New password"), "{text}");
    let (status, text) = set_password(&app, &by_password, "taken over 2026!").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("ask for a sign-in link"), "{text}");
    assert!(password_login(&app, "noor@example.test", "taken over 2026!").await.is_none(), "the password is unchanged");
    assert!(password_login(&app, "noor@example.test", "first password 2026").await.is_some());

    // A fresh sign-in link may change it; every other session of the client ends.
    let by_link = portal_session(&app, "noor@example.test").await;
    let (status, _) = set_password(&app, &by_link, "second password 2026").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(password_login(&app, "noor@example.test", "first password 2026").await.is_none());
    assert!(password_login(&app, "noor@example.test", "second password 2026").await.is_some());
    for (who, c, live) in [
        ("password session", &by_password, false),
        ("invitation session", &invited, false),
        ("the link session that set it", &by_link, true),
    ] {
        let r = c.get(format!("{}/portal", app.base)).send().await.expect("r");
        assert_eq!(r.status() == StatusCode::OK, live, "{who}: {}", r.status());
    }

    // A sign-in with the old password that overlaps the change opens no session
    // (the store opens a password session only under the hash it verified) ...
    let client_id: kairos_domain::ids::ClientId = noor.parse().expect("id");
    let (_, current) = app.store.portal_account_by_email("noor@example.test").await.expect("account").expect("found");
    let current = current.expect("a password is set");
    let policy = kairos_server::api::portal::PortalConfig::default().session;
    let origin = kairos_store::portal::SessionOrigin::Password;
    let stale = "an argon2 hash of the first password";
    assert!(
        !app.store.create_portal_session(client_id, "overlap", &policy, None, origin, Some(stale)).await.expect("s")
    );
    assert!(
        app.store.create_portal_session(client_id, "current", &policy, None, origin, Some(&current)).await.expect("s")
    );
    // ... and a session that ended while the new hash was computed sets nothing.
    assert!(!app.store.set_portal_password(client_id, "not a hash", "no such session", None).await.expect("set"));
    assert!(password_login(&app, "noor@example.test", "second password 2026").await.is_some(), "unchanged");

    // A link session is fresh only for as long as a link lives.
    let mut cfg = test_config();
    cfg.portal = std::sync::Arc::new(kairos_server::api::portal::PortalConfig {
        code_lifetime: SignedDuration::from_secs(1),
        ..Default::default()
    });
    let app2 = serve(app.store.clone(), cfg).await;
    let late = portal_session(&app2, "noor@example.test").await;
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (status, text) = set_password(&app2, &late, "third password 2026").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("within 0 minutes") || text.contains("ask for a sign-in link"), "{text}");
    assert!(password_login(&app, "noor@example.test", "second password 2026").await.is_some());
}

#[tokio::test]
async fn a_clients_reads_of_their_own_record_in_the_portal_are_audited() {
    let app = spawn_app().await;
    let p = portal_setup(&app).await;
    let client = invited_client(&app, &p, "Ines", "ines@example.test").await;
    let c = portal_session(&app, "ines@example.test").await;
    let client_id: kairos_domain::ids::ClientId = client.parse().expect("id");
    let reads = |details: Vec<String>| details.into_iter().filter(|d| !d.is_empty()).collect::<Vec<_>>();
    let portal_reads = || async {
        let q = kairos_store::AuditQuery {
            client_id: Some(client_id),
            page: kairos_store::PageRequest { limit: 200, offset: 0 },
            ..Default::default()
        };
        let page = app.store.list_audit(&q).await.expect("audit");
        reads(
            page.items
                .iter()
                .filter(|e| e.record_type == "portal" && e.action == "read")
                .map(|e| {
                    assert_eq!(e.actor_roles, format!("client:{client}"), "the client is the actor");
                    assert!(e.actor_id.is_none());
                    e.detail.clone().unwrap_or_default()
                })
                .collect(),
        )
    };
    assert!(portal_reads().await.is_empty());
    assert_eq!(c.get(format!("{}/portal", app.base)).send().await.expect("r").status(), StatusCode::OK);
    assert_eq!(c.get(format!("{}/portal/journal", app.base)).send().await.expect("r").status(), StatusCode::OK);
    let r = send(&c, Method::GET, format!("{}/api/v1/portal/journal", app.base), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = send(&c, Method::GET, format!("{}/api/v1/portal/exercises", app.base), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut seen = portal_reads().await;
    seen.sort();
    assert_eq!(seen, vec!["home exercises", "journal", "journal", "portal home"]);
}
