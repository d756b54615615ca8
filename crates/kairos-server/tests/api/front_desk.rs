//! The front desk through the web forms: register a client and change their
//! details, open a course and change its phase, book a visit, and from the
//! day view and the visit's page check in, cancel (saying why), mark a
//! no-show and reschedule. Each row of the day view offers its next step;
//! a dose's link opens its session; a form sent after the session ended
//! comes back, kept, after sign-in.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;

/// Posts a form; returns (status, Location header, body).
async fn post_form<F: serde::Serialize + ?Sized>(
    web: &reqwest::Client,
    app: &TestApp,
    path: &str,
    form: &F,
) -> (StatusCode, String, String) {
    let r = web.post(format!("{}{path}", app.base)).form(form).send().await.expect("post");
    let status = r.status();
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, location, r.text().await.expect("body"))
}

async fn page(web: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = web.get(format!("{}{path}", app.base)).send().await.expect("get");
    (r.status(), r.text().await.expect("html"))
}

/// The refusal shown beside a form: (field, sentence).
fn refusal(html: &str) -> (String, String) {
    let at = html.find("id=\"form-error\"").unwrap_or_else(|| panic!("no refusal on the page: {html}"));
    let rest = &html[at..];
    let field = rest.split("data-field=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("").to_string();
    let sentence = rest.split('>').nth(1).and_then(|s| s.split('<').next()).unwrap_or("").to_string();
    (field, sentence)
}

/// Starts the dose of a checked-in visit through the API, `mins_ago`
/// minutes ago; returns the session's id.
pub(crate) async fn start_dose(app: &TestApp, prescriber: &str, dose: &str, mins_ago: i64) -> String {
    let r = app
        .post(
            &format!("/api/v1/encounters/{dose}/dosing-session"),
            prescriber,
            json!({
                "checklist": { "fasting_confirmed": true, "nasal_medicines_clear": true, "ride_home_arranged": true, "no_driving_agreed": true,
                               "pregnancy_test": "not_applicable", "pre_dose_note": "asked aloud at the chair: no thoughts of self-harm", "mood_check": "calm" },
                "pre_vitals": { "systolic": 128, "diastolic": 82, "heart_rate": 72, "spo2": 98 },
                "weight_kg": 72.5, "lot": "KET-DEMO-0042",
                "started_at": (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(mins_ago)).to_string()
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().expect("session").to_string()
}

/// The text of an HTML attribute value as the page escaped it.
fn unescape(v: &str) -> String {
    v.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

#[tokio::test]
async fn the_front_desk_registers_a_client_opens_a_course_and_books_changes_and_cancels_visits_in_forms() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let site =
        app.post("/api/v1/sites", &admin, json!({"name": "Harbour Clinic", "time_zone": "America/New_York"})).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let room = app
        .post(&format!("/api/v1/sites/{site}/rooms"), &admin, json!({"name": "Room 2", "kind": "therapy_room"}))
        .await;
    let room = room.body["id"].as_str().expect("room").to_string();
    let (coordinator, _) = app.add_staff(&[Role::Coordinator]).await;
    let (prescriber, prescriber_id) = app.add_staff(&[Role::Prescriber]).await;
    let (_, therapist_id) = app.add_staff(&[Role::Therapist]).await;
    let desk = web_session(&app, &coordinator).await;

    // A registration without a family name is refused naming the field,
    // with what was typed kept and the API's status.
    let mut form = vec![
        ("given_name", "Noor"),
        ("family_name", " "),
        ("date_of_birth", "1988-03-14"),
        ("phone", "+1 555 0100"),
        ("email", "noor.haddad@example.org"),
        ("address", ""),
        ("emergency_contact_name", "Sami Haddad"),
        ("emergency_contact_phone", "+1 555 0101"),
        ("status", "active"),
    ];
    let (status, _, html) = post_form(&desk, &app, "/clients", &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert_eq!(refusal(&html).0, "family_name");
    assert!(html.contains("value=\"Noor\"") && html.contains("value=\"Sami Haddad\""), "what was typed is kept");
    form[1] = ("family_name", "Haddad");
    let (status, location, _) = post_form(&desk, &app, "/clients", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let client = location.strip_prefix("/clients/").expect("to the chart").to_string();
    let (_, chart) = page(&desk, &app, &location).await;
    assert!(chart.contains("Noor Haddad") && chart.contains("+1 555 0100"), "{chart}");
    assert!(chart.contains("Book a visit") && chart.contains("Change details"));
    assert!(!chart.contains("Open a course"), "opening a course is a prescriber's");

    // Changing details: the form comes filled in; the change is saved.
    let (status, details) = page(&desk, &app, &format!("/clients/{client}/details")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(details.contains("value=\"noor.haddad@example.org\""), "{details}");
    form[3] = ("phone", "+1 555 0199");
    let (status, _, _) = post_form(&desk, &app, &format!("/clients/{client}/details"), &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let api = app.get(&format!("/api/v1/clients/{client}"), &app.token_for(Role::Coordinator).await).await;
    assert_eq!(api.body["client"]["phone"], "+1 555 0199", "{}", api.body);

    // The prescriber opens a course from the library by its title.
    let doctor = web_session(&app, &prescriber).await;
    let (_, course_form) = page(&doctor, &app, &format!("/clients/{client}/courses/new")).await;
    assert!(course_form.contains(&format!("value=\"{prescriber_id}\" selected")), "the prescriber is preselected");
    let opening = |protocol: &'static str| {
        vec![("protocol", protocol), ("started_on", "2026-11-02"), ("prescriber_id", ""), ("therapist_id", "")]
    };
    let (status, _, html) = post_form(&doctor, &app, &format!("/clients/{client}/courses"), &opening("")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert_eq!(refusal(&html).0, "protocol");
    let therapist = therapist_id.to_string();
    let mut ok = opening("apa_iv_induction");
    ok[3] = ("therapist_id", &therapist);
    let (status, _, html) = post_form(&doctor, &app, &format!("/clients/{client}/courses"), &ok).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let courses = app.get(&format!("/api/v1/clients/{client}/courses"), &app.token_for(Role::Prescriber).await).await;
    let course = courses.body[0]["id"].as_str().expect("course").to_string();
    assert_eq!(courses.body[0]["therapist_id"], therapist);
    // Its phase moves only along the allowed transitions.
    let (status, _, html) =
        post_form(&doctor, &app, &format!("/courses/{course}/phase"), &[("phase", "induction"), ("reason", "")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "screening cannot jump to induction: {html}");
    assert!(html.contains("preparation"), "the refusal lists what is allowed: {html}");
    let (status, _, _) =
        post_form(&doctor, &app, &format!("/courses/{course}/phase"), &[("phase", "preparation"), ("reason", "")])
            .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, chart) = page(&doctor, &app, &format!("/clients/{client}")).await;
    assert!(chart.contains("phase-preparation"), "{chart}");

    // Booking: the start is the site's local time; a visit in the past of
    // 2000 is refused naming the field.
    // (kind, site, room, with, local start, minutes)
    let booking = |room: &str, who: &str, start: &str| {
        vec![
            ("kind", "integration".to_string()),
            ("course_id", String::new()),
            ("site_id", site.clone()),
            ("room_id", room.to_string()),
            ("staff_id", who.to_string()),
            ("start", start.to_string()),
            ("minutes", "60".to_string()),
        ]
    };
    let (status, _, html) =
        post_form(&desk, &app, &format!("/clients/{client}/visits"), &booking(&room, &therapist, "1999-05-06T10:00"))
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert_eq!(refusal(&html).0, "scheduled_start");
    let (status, visit, html) =
        post_form(&desk, &app, &format!("/clients/{client}/visits"), &booking(&room, &therapist, "2030-05-06T10:00"))
            .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    assert!(visit.starts_with("/encounters/"), "{visit}");
    let visit_id = visit.trim_start_matches("/encounters/").to_string();
    let stored = app.store.get_encounter(visit_id.parse().expect("id")).await.expect("visit");
    assert_eq!(stored.scheduled_start.to_string(), "2030-05-06T14:00:00Z", "10:00 in New York (EDT)");
    // The same client at an overlapping time is refused naming the field.
    let (status, _, html) =
        post_form(&desk, &app, &format!("/clients/{client}/visits"), &booking(&room, "", "2030-05-06T10:30")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert_eq!(refusal(&html).0, "scheduled_start");

    // The day view offers "Check in"; a cancellation needs its reason.
    let day = format!("/sites/{site}/day?date=2030-05-06");
    let (_, html) = page(&desk, &app, &day).await;
    assert!(
        html.contains(&format!("action=\"/encounters/{visit_id}/status\"")) && html.contains(">Check in</button>"),
        "{html}"
    );
    let (status, _, html) =
        post_form(&desk, &app, &format!("/encounters/{visit_id}/status"), &[("status", "cancelled"), ("reason", "  ")])
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert_eq!(refusal(&html).0, "reason");

    // Rescheduling moves it, in the site's time.
    let (status, _, html) = post_form(
        &desk,
        &app,
        &format!("/encounters/{visit_id}/move"),
        &[("start", "2030-05-06T15:30"), ("minutes", "50"), ("room_id", &room), ("staff_id", &therapist)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let stored = app.store.get_encounter(visit_id.parse().expect("id")).await.expect("visit");
    assert_eq!(stored.scheduled_start.to_string(), "2030-05-06T19:30:00Z");
    assert_eq!(stored.duration().as_mins(), 50);

    // A no-show keeps what the desk learned; the day view and the visit show it.
    let (status, location, _) = post_form(
        &desk,
        &app,
        &format!("/encounters/{visit_id}/status"),
        &[("status", "no_show"), ("reason", "no answer by phone"), ("back", &day)],
    )
    .await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, day.as_str()), "back to the day view");
    let (_, html) = page(&desk, &app, &day).await;
    assert!(html.contains("no-show") && html.contains("no answer by phone"), "{html}");
    assert!(!html.contains(">Check in</button>"), "nothing left to check in");

    // A second visit, cancelled with its reason, checked through the API's view.
    let (_, visit2, _) =
        post_form(&desk, &app, &format!("/clients/{client}/visits"), &booking("", "", "2030-05-07T09:00")).await;
    let visit2 = visit2.trim_start_matches("/encounters/").to_string();
    let (status, _, _) = post_form(
        &desk,
        &app,
        &format!("/encounters/{visit2}/status"),
        &[("status", "cancelled"), ("reason", "client unwell")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = page(&desk, &app, &format!("/encounters/{visit2}")).await;
    assert!(html.contains("cancelled") && html.contains("client unwell"), "{html}");
    assert!(!html.contains("Cancel the visit"), "a closed visit offers no changes");
    let view = app.get(&format!("/api/v1/encounters/{visit2}"), &app.token_for(Role::Coordinator).await).await;
    assert_eq!(
        (view.body["status"].as_str(), view.body["status_reason"].as_str()),
        (Some("cancelled"), Some("client unwell"))
    );
}

#[tokio::test]
async fn each_dose_row_offers_its_next_step_and_a_past_dose_opens_its_session() {
    let app = spawn_app().await;
    let (prescriber, dose) = crate::dosing::booked_at(&app, "UTC").await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let (coordinator_email, _) = app.add_staff(&[Role::Coordinator]).await;
    let nurse = web_session(&app, &nurse_email).await;
    let e = app.store.get_encounter(dose.parse().expect("id")).await.expect("dose");
    let day = format!("/sites/{}/day?date={}", e.site_id, e.scheduled_start.to_zoned(jiff::tz::TimeZone::UTC).date());

    // Booked: check in from the day view, back to the day view.
    let (_, html) = page(&nurse, &app, &day).await;
    assert!(html.contains(">Check in</button>"), "{html}");
    let (status, location, _) =
        post_form(&nurse, &app, &format!("/encounters/{dose}/status"), &[("status", "arrived"), ("back", &day)]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, day.as_str()));
    // Arrived without a session: "Start dose" opens the start form.
    let (_, html) = page(&nurse, &app, &day).await;
    assert!(
        html.contains(&format!("href=\"/encounters/{dose}/dosing\"")) && html.contains(">Start dose</a>"),
        "{html}"
    );

    // Started: the row, the visit and the chart open the session itself.
    let session = start_dose(&app, &prescriber, &dose, 30).await;
    let (_, html) = page(&nurse, &app, &day).await;
    assert!(
        html.contains(&format!("href=\"/dosing-sessions/{session}\"")) && html.contains(">Open session</a>"),
        "{html}"
    );
    assert!(
        html.contains("in the chair, 30 min since the dose; no vitals charted yet"),
        "the prescriber's eye: {html}"
    );
    let (_, html) = page(&nurse, &app, &format!("/clients/{}", e.client_id)).await;
    assert!(html.contains(&format!("href=\"/dosing-sessions/{session}\"")), "the chart opens the session: {html}");
    assert!(
        !html.contains(&format!("href=\"/encounters/{dose}/dosing\"")),
        "never a blank start form for a started dose"
    );
    // The director reads the session; the coordinator, who may not read
    // screens, gets the visit's page and no link that would answer 403.
    let (director_email, _) = app.add_staff(&[Role::Director]).await;
    let director = web_session(&app, &director_email).await;
    let (_, html) = page(&director, &app, &format!("/clients/{}", e.client_id)).await;
    assert!(html.contains(&format!("href=\"/dosing-sessions/{session}\"")), "{html}");
    assert_eq!(page(&director, &app, &format!("/dosing-sessions/{session}")).await.0, StatusCode::OK);
    let desk = web_session(&app, &coordinator_email).await;
    let (_, html) = page(&desk, &app, &format!("/clients/{}", e.client_id)).await;
    assert!(!html.contains("/dosing-sessions/") && html.contains(&format!("href=\"/encounters/{dose}\"")), "{html}");

    // A dose visit completed with no session charted is flagged.
    let start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(26);
    let coordinator = app.token_for(Role::Coordinator).await;
    let r = app
        .post(
            "/api/v1/encounters",
            &coordinator,
            json!({ "client_id": e.client_id, "course_id": e.course_id, "site_id": e.site_id, "kind": "dosing",
                    "scheduled_start": start.to_string(), "scheduled_end": (start + jiff::SignedDuration::from_hours(2)).to_string() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let bare = r.body["id"].as_str().expect("visit").to_string();
    for to in ["arrived", "completed"] {
        let (status, _, _) = post_form(&desk, &app, &format!("/encounters/{bare}/status"), &[("status", to)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{to}");
    }
    let (_, html) = page(&nurse, &app, &format!("/encounters/{bare}")).await;
    assert!(html.contains("no dosing session was charted"), "{html}");
    let yesterday = format!("/sites/{}/day?date={}", e.site_id, start.to_zoned(jiff::tz::TimeZone::UTC).date());
    let (_, html) = page(&nurse, &app, &yesterday).await;
    assert!(html.contains("no session charted"), "{html}");
    // The ledger page does not call every dose on the books while one is not.
    let (_, html) = page(&nurse, &app, "/ledger").await;
    assert!(
        html.contains("1 dose visit of the last 30 days was marked completed with no dosing session charted")
            && html.contains(&format!("href=\"/encounters/{bare}\"")),
        "{html}"
    );
    assert!(!html.contains("every dose is on the books"), "{html}");

    // The questionnaire plot marks the dose given (its session), not the
    // visit marked completed with no session.
    let nurse_token = app.login(&nurse_email, PASSWORD).await;
    let r = app
        .post(
            &format!("/api/v1/clients/{}/measures", e.client_id),
            &nurse_token,
            json!({ "instrument": "phq9", "answers": [2, 1, 2, 1, 0, 1, 1, 0, 0] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (_, html) = page(&nurse, &app, &format!("/clients/{}", e.client_id)).await;
    assert!(html.contains("Dashed lines mark 1 dosing session(s)."), "{html}");
}

#[tokio::test]
async fn a_form_sent_after_the_session_ended_is_kept_through_sign_in_and_sent_on_confirmation() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Coordinator]).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let client = app.create_client(&coordinator, "Iris", "Vale").await;
    let (status, location, _html) = {
        // A session that has ended: the server no longer knows the token.
        let stale = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let r = stale
            .post(format!("{}/clients/{client}/details", app.base))
            .header("cookie", "kairos_session=ended-session-token")
            .header("referer", format!("{}/clients/{client}/details", app.base))
            .form(&[
                ("given_name", "Iris"),
                ("family_name", "Vale"),
                ("date_of_birth", "1979-09-30"),
                ("phone", "+1 555 0142"),
                ("address", "12 Quay Street, Port Town"),
                ("status", "active"),
            ])
            .send()
            .await
            .expect("post");
        let status = r.status();
        let html = r.text().await.expect("html");
        // Not a redirect to a page that cannot be fetched (a GET on a
        // form's address answers 405): the sign-in page, holding the form.
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{html}");
        assert!(html.contains("What you typed is kept"), "{html}");
        let kept = |name: &str| {
            html.split(&format!("name=\"{name}\" value=\""))
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("")
                .to_string()
        };
        let (to, body, back) = (kept("kept_to"), kept("kept_body"), kept("kept_back"));
        assert_eq!(to, format!("/clients/{client}/details"));
        assert_eq!(back, format!("/clients/{client}/details"));
        let body = unescape(&body);
        assert!(body.contains("phone=%2B1+555+0142"), "{body}");

        // A wrong password keeps it too.
        let web = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("c");
        let login = |password: &'static str| {
            vec![
                ("email".to_string(), email.clone()),
                ("password".to_string(), password.to_string()),
                ("next".to_string(), back.clone()),
                ("kept_to".to_string(), to.clone()),
                ("kept_body".to_string(), body.clone()),
                ("kept_back".to_string(), back.clone()),
            ]
        };
        let r = web.post(format!("{}/login", app.base)).form(&login("wrong password!")).send().await.expect("login");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.text().await.expect("html").contains("name=\"kept_body\""), "still kept after a wrong password");
        // Signed in: the form is shown to check, not sent behind the person's back.
        let r = web.post(format!("{}/login", app.base)).form(&login(PASSWORD)).send().await.expect("login");
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.expect("html");
        assert!(html.contains("Your form has not been sent yet") && html.contains("+1 555 0142"), "{html}");
        let unsent = app.store.get_client(client.parse().expect("id")).await.expect("client");
        assert_eq!(unsent.details.phone, None, "nothing is sent before the person confirms");
        let fields: Vec<(String, String)> = html
            .split("<input type=\"hidden\" name=\"")
            .skip(1)
            .map(|s| {
                let name = s.split('"').next().unwrap_or("").to_string();
                let value = s.split("value=\"").nth(1).and_then(|v| v.split('"').next()).unwrap_or("");
                (name, unescape(value))
            })
            .collect();
        let r = web.post(format!("{}{to}", app.base)).form(&fields).send().await.expect("send");
        let status = r.status();
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        (status, location, r.text().await.unwrap_or_default())
    };
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, format!("/clients/{client}").as_str()), "{_html}");
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, format!("/clients/{client}").as_str()));
    let saved = app.store.get_client(client.parse().expect("id")).await.expect("client");
    assert_eq!(saved.details.phone.as_deref(), Some("+1 555 0142"));
    assert_eq!(saved.details.address.as_deref(), Some("12 Quay Street, Port Town"));
}

#[tokio::test]
async fn a_hypertensive_reading_during_a_dose_is_a_safety_alert_on_the_banner_the_alert_list_and_the_day_view() {
    let app = spawn_app().await;
    let (creator, dose) = crate::dosing::booked_at(&app, "UTC").await;
    let e = app.store.get_encounter(dose.parse().expect("id")).await.expect("dose");
    let course = e.course_id.expect("course");
    let (doctor_email, doctor) = app.add_staff(&[Role::Prescriber]).await;
    let (other_email, _) = app.add_staff(&[Role::Prescriber]).await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let r = app
        .put(&format!("/api/v1/courses/{course}/care-team"), &creator, json!({ "prescriber_id": doctor.to_string() }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let nurse = web_session(&app, &nurse_email).await;
    let (status, _, _) = post_form(&nurse, &app, &format!("/encounters/{dose}/status"), &[("status", "arrived")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = start_dose(&app, &creator, &dose, 40).await;
    let day = format!("/sites/{}/day?date={}", e.site_id, e.scheduled_start.to_zoned(jiff::tz::TimeZone::UTC).date());
    let (_, html) = page(&nurse, &app, &day).await;
    assert!(!html.contains("open safety alert"), "no alert before the reading");

    let reading = [
        ("at", ""),
        ("systolic", "186"),
        ("diastolic", "112"),
        ("heart_rate", "96"),
        ("spo2", "97"),
        ("respiratory_rate", ""),
        ("moaas", ""),
    ];
    let (status, _, html) = post_form(&nurse, &app, &format!("/dosing-sessions/{session}/vitals"), &reading).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");

    // On the banner of the course's prescriber and of the nurse who charted
    // it, on their alert lists with the session's link, and on the day view.
    let doctor_web = web_session(&app, &doctor_email).await;
    for (who, web) in [("the course's prescriber", &doctor_web), ("the nurse who charted it", &nurse)] {
        let (_, home) = page(web, &app, "/").await;
        assert!(home.contains("1 safety alert to acknowledge"), "{who}: {home}");
        let (_, alerts) = page(web, &app, "/alerts").await;
        assert!(
            alerts.contains("During a dose") && alerts.contains(&format!("href=\"/dosing-sessions/{session}\"")),
            "{who}: {alerts}"
        );
    }
    let (_, html) = page(&nurse, &app, &day).await;
    assert!(html.contains("1 open safety alert"), "{html}");
    assert!(html.contains("min since the dose; last vitals") && html.contains("BP 186/112, HR 96, SpO2 97%"), "{html}");
    // Not paged to a prescriber who has nothing to do with the client.
    let other = web_session(&app, &other_email).await;
    assert!(!page(&other, &app, "/").await.1.contains("safety alert"), "no banner for an unrelated prescriber");
    // The API's alert list holds the same alert.
    let api = app.get("/api/v1/alerts", &app.login(&doctor_email, PASSWORD).await).await;
    let listed = api.body.as_array().expect("list");
    assert!(
        listed.iter().any(|a| a["message"].as_str().is_some_and(|m| m.starts_with("During a dose"))
            && a["dosing_session_id"] == session.as_str()),
        "the API's alert names its session: {}",
        api.body
    );

    // Acknowledged with what was done: gone from every banner and the day view.
    let (_, alerts) = page(&doctor_web, &app, "/alerts").await;
    let id = alerts.split("action=\"/alerts/").nth(1).and_then(|s| s.split('/').next()).expect("alert id").to_string();
    let (status, _, html) = post_form(
        &doctor_web,
        &app,
        &format!("/alerts/{id}/acknowledge"),
        &[("action_note", "Repeated at 5 min: 152/94; observed; no treatment needed"), ("back", "/alerts")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    for web in [&doctor_web, &nurse] {
        assert!(!page(web, &app, "/").await.1.contains("safety alert to acknowledge"));
    }
    assert!(!page(&nurse, &app, &day).await.1.contains("open safety alert"));
}

#[tokio::test]
async fn a_password_typed_in_a_form_is_never_kept_through_sign_in() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Nurse]).await;
    let stale = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = stale
        .post(format!("{}/dosing-sessions/{}/waste", app.base, uuid::Uuid::now_v7()))
        .header("cookie", "kairos_session=ended-session-token")
        .form(&[
            ("quantity", "0.4"),
            ("witness_email", "nurse2@example.org"),
            ("witness_password", "s3cret witness pw"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let html = r.text().await.expect("html");
    assert!(html.contains("What you typed is kept") && html.contains("nurse2%40example.org"), "{html}");
    assert!(!html.contains("s3cret"), "the witness's password is not carried: {html}");
    let kept = |name: &str| {
        html.split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("")
            .to_string()
    };
    let web =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("c");
    let r = web
        .post(format!("{}/login", app.base))
        .form(&[
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("next", "/"),
            ("kept_to", kept("kept_to").as_str()),
            ("kept_body", unescape(&kept("kept_body")).as_str()),
            ("kept_back", "/"),
        ])
        .send()
        .await
        .expect("login");
    let html = r.text().await.expect("html");
    assert!(!html.contains("s3cret"), "{html}");
    assert!(html.contains("type it again") && html.contains("name=\"witness_password\" type=\"password\""), "{html}");
}
