//! A clinical rule holds at every door: the same bad input sent through the
//! JSON API and through the web form gets the same refusal (status, field,
//! sentence), and the form comes back with what was typed. Table-driven over
//! the dosing commands; the clock is fixed so that "now" is one instant for
//! both doors.

use crate::dosing::booked_at;
use crate::helpers::*;
use jiff::{SignedDuration, Timestamp};
use kairos_domain::roles::Role;
use kairos_server::clock::FixedClock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

/// The refusal a page shows: (field, sentence).
fn page_refusal(html: &str) -> Option<(String, String)> {
    let at = html.find("id=\"form-error\" data-field=\"")?;
    let rest = &html[at + "id=\"form-error\" data-field=\"".len()..];
    let (field, rest) = rest.split_once("\">")?;
    let (message, _) = rest.split_once("</p>")?;
    let unescape = |s: &str| {
        s.replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    Some((unescape(field), unescape(message)))
}

struct Case {
    what: &'static str,
    api: Value,
    form: Vec<(&'static str, String)>,
    field: &'static str,
    /// A phrase the sentence must contain (beyond being equal at both doors).
    says: &'static str,
}

fn start_json(edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = json!({
        "checklist": { "fasting_confirmed": true, "nasal_medicines_clear": true, "ride_home_arranged": true, "no_driving_agreed": true,
                       "pregnancy_test": "not_applicable", "pre_dose_note": "asked aloud at the chair: no thoughts of self-harm", "mood_check": "calm" },
        "pre_vitals": { "systolic": 128, "diastolic": 82, "heart_rate": 70, "spo2": 98 },
        "weight_kg": 72.5, "lot": "KET-SAME-1"
    });
    edit(&mut v);
    v
}

fn start_form(edit: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut f: Vec<(&'static str, String)> = [
        ("fasting_confirmed", "yes"),
        ("ride_home_arranged", "yes"),
        ("no_driving_agreed", "yes"),
        ("pregnancy_test", "not_applicable"),
        ("pre_dose_note", "asked aloud at the chair: no thoughts of self-harm"),
        ("mood_check", "calm"),
        ("systolic", "128"),
        ("diastolic", "82"),
        ("heart_rate", "70"),
        ("spo2", "98"),
        ("weight_kg", "72.5"),
        ("lot", "KET-SAME-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    for (k, v) in edit {
        f.retain(|(key, _)| key != k);
        if !v.is_empty() {
            f.push((k, v.to_string()));
        }
    }
    f
}

async fn compare(app: &TestApp, token: &str, web: &reqwest::Client, api_path: &str, page_path: &str, c: &Case) {
    compare_kept(app, token, web, api_path, page_path, c, true).await;
}

/// `kept`: whether the refused form is on the page again (an amendment's
/// form is only there once the session is signed).
async fn compare_kept(
    app: &TestApp,
    token: &str,
    web: &reqwest::Client,
    api_path: &str,
    page_path: &str,
    c: &Case,
    kept: bool,
) {
    let api = app.post(api_path, token, c.api.clone()).await;
    assert!(api.status.is_client_error(), "{}: the API accepted it: {}", c.what, api.body);
    assert_eq!(api.problem_field(), Some(c.field), "{}: {}", c.what, api.body);
    let detail = api.body["detail"].as_str().expect("detail").to_string();
    assert!(detail.contains(c.says), "{}: {detail}", c.what);
    let res = web.post(format!("{}{page_path}", app.base)).form(&c.form).send().await.expect("form");
    let status = res.status();
    let html = res.text().await.expect("html");
    let (field, message) = page_refusal(&html).unwrap_or_else(|| panic!("{}: no refusal on the page: {html}", c.what));
    assert_eq!((status, field.as_str(), message.as_str()), (api.status, c.field, detail.as_str()), "{}", c.what);
    for (k, v) in c.form.iter().filter(|_| kept) {
        if !v.is_empty()
            && !["fasting_confirmed", "ride_home_arranged", "no_driving_agreed", "pregnancy_test"].contains(k)
        {
            assert!(
                html.contains(&format!("value=\"{v}\"")) || html.contains(&format!(">{v}<")),
                "{}: the form keeps {k} = {v}",
                c.what
            );
        }
    }
}

#[tokio::test]
async fn the_dosing_commands_refuse_the_same_input_in_the_same_words_at_the_api_and_the_form() {
    // Whole minutes, so that a datetime-local value and an instant agree.
    let now = Timestamp::from_second(Timestamp::now().as_second() / 60 * 60).expect("now");
    let clock = Arc::new(FixedClock::new(now));
    let app = spawn_app_with(kairos_server::Config { clock: clock.clone(), ..test_config() }).await;
    let (_, enc) = booked_at(&app, "America/Chicago").await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse = app.login(&nurse_email, PASSWORD).await;
    let web = web_session(&app, &nurse_email).await;
    let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &nurse, json!({ "status": "arrived" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let chicago = jiff::tz::TimeZone::get("America/Chicago").expect("tz");
    let local = |t: Timestamp| t.to_zoned(chicago.clone()).strftime("%Y-%m-%dT%H:%M").to_string();
    let future = now + SignedDuration::from_mins(30);

    let start_cases = vec![
        Case {
            what: "no pre-dose systolic",
            api: start_json(|v| v["pre_vitals"] = json!({ "diastolic": 82, "heart_rate": 70 })),
            form: start_form(&[("systolic", "")]),
            field: "pre_vitals.systolic",
            says: "Enter the pre-dose systolic blood pressure",
        },
        Case {
            what: "SpO2 above 100",
            api: start_json(|v| v["pre_vitals"]["spo2"] = json!(101)),
            form: start_form(&[("spo2", "101")]),
            field: "pre_vitals.spo2",
            says: "between 50 and 100",
        },
        Case {
            what: "positive pregnancy test",
            api: start_json(|v| v["checklist"]["pregnancy_test"] = json!("positive")),
            form: start_form(&[("pregnancy_test", "positive")]),
            field: "checklist.pregnancy_test",
            says: "no dose may be given",
        },
        Case {
            what: "no ride home",
            api: start_json(|v| v["checklist"]["ride_home_arranged"] = json!(false)),
            form: start_form(&[("ride_home_arranged", "")]),
            field: "checklist.ride_home_arranged",
            says: "ride home",
        },
        Case {
            what: "186/112 held",
            api: start_json(|v| {
                v["pre_vitals"] = json!({ "systolic": 186, "diastolic": 112, "heart_rate": 88, "spo2": 98 })
            }),
            form: start_form(&[("systolic", "186"), ("diastolic", "112"), ("heart_rate", "88")]),
            field: "override_reason",
            says: "Dose held: blood pressure 186/112: systolic 186 and diastolic 112 are at or above the hold level 140/90",
        },
        Case {
            what: "a weight out of range",
            api: start_json(|v| v["weight_kg"] = json!(400)),
            form: start_form(&[("weight_kg", "400")]),
            field: "weight_kg",
            says: "between 20 and 350 kg",
        },
        Case {
            what: "a start half an hour ahead",
            api: start_json(|v| v["started_at"] = json!(future.to_string())),
            form: start_form(&[("started_at", &local(future))]),
            field: "started_at",
            says: "30 minutes from now",
        },
        Case {
            what: "a lot of 101 characters",
            api: start_json(|v| v["lot"] = json!("L".repeat(101))),
            form: start_form(&[("lot", &"L".repeat(101))]),
            field: "lot",
            says: "at most 100 characters",
        },
    ];
    let api_path = format!("/api/v1/encounters/{enc}/dosing-session");
    let page_path = format!("/encounters/{enc}/dosing");
    for c in &start_cases {
        compare(&app, &nurse, &web, &api_path, &page_path, c).await;
    }
    assert_eq!(app.get(&format!("/api/v1/encounters/{enc}"), &nurse).await.body["status"], "arrived");

    // A mistyped number never becomes "not measured" on the form.
    let res =
        web.post(format!("{}{page_path}", app.base)).form(&start_form(&[("spo2", "9x")])).send().await.expect("f");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.expect("html");
    assert_eq!(
        page_refusal(&html),
        Some(("pre_vitals.spo2".into(), "SpO2: “9x” is not a whole number.".into())),
        "{html}"
    );

    // Start the dose 30 minutes ago, then the session's commands.
    let r = app
        .post(
            &api_path,
            &nurse,
            start_json(|v| v["started_at"] = json!((now - SignedDuration::from_mins(30)).to_string())),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let session = r.body["id"].as_str().expect("session").to_string();
    let before = now - SignedDuration::from_mins(40);
    let vitals_cases = vec![
        Case {
            what: "SpO2 above 100 during the dose",
            api: json!({ "vitals": { "spo2": 101 } }),
            form: vec![("spo2", "101".into())],
            field: "vitals.spo2",
            says: "between 50 and 100",
        },
        Case {
            what: "diastolic above systolic",
            api: json!({ "vitals": { "systolic": 120, "diastolic": 130 } }),
            form: vec![("systolic", "120".into()), ("diastolic", "130".into())],
            field: "vitals.diastolic",
            says: "below systolic",
        },
        Case {
            what: "a reading before the dose",
            api: json!({ "at": before.to_string(), "vitals": { "heart_rate": 80 } }),
            form: vec![("at", local(before)), ("heart_rate", "80".into())],
            field: "at",
            says: "10 minutes before the dose started",
        },
        Case {
            what: "an empty reading",
            api: json!({ "vitals": {} }),
            form: vec![],
            field: "vitals.vitals",
            says: "at least one vital sign",
        },
    ];
    let sp = format!("/dosing-sessions/{session}");
    for c in &vitals_cases {
        compare(&app, &nurse, &web, &format!("/api/v1{sp}/vitals"), &format!("{sp}/vitals"), c).await;
    }
    let discharge_cases = vec![
        Case {
            what: "a companion's name of 201 characters",
            api: json!({ "accompanied_by": "S".repeat(201) }),
            form: vec![("accompanied_by", "S".repeat(201))],
            field: "accompanied_by",
            says: "at most 200 characters",
        },
        Case {
            what: "nobody to take the client home",
            api: json!({ "accompanied_by": "  " }),
            form: vec![("accompanied_by", "  ".into())],
            field: "accompanied_by",
            says: "Name the adult who takes the client home",
        },
        Case {
            what: "discharge after 30 of 120 minutes",
            api: json!({ "accompanied_by": "Sam" }),
            form: vec![("accompanied_by", "Sam".into())],
            field: "at",
            says: "90 more minute(s)",
        },
    ];
    for c in &discharge_cases {
        compare(&app, &nurse, &web, &format!("/api/v1{sp}/discharge"), &format!("{sp}/discharge"), c).await;
    }
    let event_cases = vec![Case {
        what: "a CADSS-6 total of 25",
        api: json!({ "event": { "kind": "dissociation", "cadss6": 25 } }),
        form: vec![("kind", "dissociation".into()), ("cadss6", "25".into())],
        field: "event.cadss6",
        says: "0 to 24",
    }];
    for c in &event_cases {
        compare(&app, &nurse, &web, &format!("/api/v1{sp}/events"), &format!("{sp}/events"), c).await;
    }
    let sign = Case {
        what: "signing before discharge",
        api: json!({}),
        form: vec![],
        field: "discharged_at",
        says: "Record the discharge",
    };
    compare(&app, &nurse, &web, &format!("/api/v1{sp}/sign"), &format!("{sp}/sign"), &sign).await;
    let amend = Case {
        what: "amending an unsigned session",
        api: json!({ "part": "dose", "correction": "lot KET-SAME-2", "reason": "typo" }),
        form: vec![("part", "dose".into()), ("correction", "lot KET-SAME-2".into()), ("reason", "typo".into())],
        field: "signed_at",
        says: "not signed yet",
    };
    compare_kept(&app, &nurse, &web, &format!("/api/v1{sp}/amendments"), &format!("{sp}/amendments"), &amend, false)
        .await;

    // Nothing refused was written.
    let s = app.get(&format!("/api/v1{sp}"), &nurse).await;
    assert_eq!(
        (s.body["vitals"].as_array().map(Vec::len), s.body["events"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
    assert!(s.body["discharged_at"].is_null() && s.body["signed_at"].is_null(), "{}", s.body);

    // Two hours after the dose the same discharge is accepted, at the clock's time.
    clock.advance(SignedDuration::from_mins(90));
    let r = app.post(&format!("/api/v1{sp}/discharge"), &nurse, json!({ "accompanied_by": "Sam" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["discharged_at"].as_str(), Some((now + SignedDuration::from_mins(90)).to_string().as_str()));
}

#[tokio::test]
async fn a_questionnaire_is_refused_in_the_same_words_at_the_api_and_the_entry_form() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse = app.login(&email, PASSWORD).await;
    let web = web_session(&app, &email).await;
    let client = app.create_client(&nurse, "Rae", "Same").await;
    let api_path = format!("/api/v1/clients/{client}/measures");
    let page_path = format!("/clients/{client}/measures");
    let cases = vec![
        Case {
            what: "a PHQ-9 answer of 4",
            api: json!({ "instrument": "phq9", "answers": [null, null, null, 4, null, null, null, null, null] }),
            form: vec![("instrument", "phq9".into()), ("item_3", "4".into())],
            field: "answers[3]",
            says: "Item 4: 4 is not one of 0, 1, 2, 3",
        },
        Case {
            what: "item 9 left unanswered",
            api: json!({ "instrument": "phq9", "answers": [1, 1, 1, 1, 1, 1, 1, 1, null] }),
            form: (0..8)
                .map(|n| {
                    (
                        ["item_0", "item_1", "item_2", "item_3", "item_4", "item_5", "item_6", "item_7"][n],
                        "1".to_string(),
                    )
                })
                .chain([("instrument", "phq9".to_string())])
                .collect(),
            field: "answers[8]",
            says: "never prorated",
        },
        Case {
            what: "a MADRS total above 60",
            api: json!({ "instrument": "madrs", "total": 61 }),
            form: vec![("instrument", "madrs".into()), ("total", "61".into())],
            field: "total",
            says: "61",
        },
        Case {
            what: "an item other than the safety item with a total",
            api: json!({ "instrument": "madrs", "answers": [2, null, null, null, null, null, null, null, null, 1], "total": 20 }),
            form: vec![
                ("instrument", "madrs".into()),
                ("item_0", "2".into()),
                ("item_9", "1".into()),
                ("total", "20".into()),
            ],
            field: "answers[0]",
            says: "give only the safety item 10",
        },
        Case {
            what: "a MADRS total without item 10",
            api: json!({ "instrument": "madrs", "total": 20 }),
            form: vec![("instrument", "madrs".into()), ("total", "20".into())],
            field: "answers[9]",
            says: "MADRS item 10 (Suicidal thoughts) must be rated with a total",
        },
    ];
    for c in &cases {
        compare_kept(&app, &nurse, &web, &api_path, &page_path, c, false).await;
    }
    assert_eq!(app.get(&api_path, &nurse).await.body.as_array().map(Vec::len), Some(0), "nothing refused was stored");
}

#[tokio::test]
async fn a_screen_and_its_signature_are_refused_in_the_same_words_at_the_api_and_the_form() {
    let app = spawn_app().await;
    let (email, _) = app.add_staff(&[Role::Prescriber]).await;
    let prescriber = app.login(&email, PASSWORD).await;
    let web = web_session(&app, &email).await;
    let client = app.create_client(&prescriber, "Ren", "Same").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/courses"),
            &prescriber,
            json!({ "protocol": "apa_iv_induction", "started_on": "2026-11-01" }),
        )
        .await;
    let course = r.body["id"].as_str().expect("course").to_string();
    let findings = |edit: &dyn Fn(&mut Value)| {
        let mut f = json!({
            "diagnosis": "Major depressive disorder", "prior_treatments": ["sertraline"], "psychosis": "none",
            "substance_use": "none", "cardiovascular_disease": false, "systolic_bp": 126, "diastolic_bp": 80,
            "heart_rate": 70, "pregnancy": "not_applicable", "raised_intracranial_pressure": false,
            "aneurysmal_vascular_disease": false, "intracerebral_haemorrhage_history": false, "medications": [],
            "weight_kg": 72.5, "allergies": "none known", "ketamine_hypersensitivity": false, "off_label_consent": true,
        "bipolar_or_mania": "none", "hepatic_impairment": "none", "breastfeeding": false,
        "sleep_apnoea_or_airway": false, "glaucoma": false, "suicide_risk": "low"
        });
        edit(&mut f);
        json!({ "findings": f })
    };
    let form = |edit: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        let mut f: Vec<(&'static str, String)> = [
            ("diagnosis", "Major depressive disorder"),
            ("prior_treatments", "sertraline"),
            ("psychosis", "none"),
            ("substance_use", "none"),
            ("systolic_bp", "126"),
            ("diastolic_bp", "80"),
            ("heart_rate", "70"),
            ("pregnancy", "not_applicable"),
            ("weight_kg", "72.5"),
            ("allergies", "none known"),
            ("off_label_consent", "yes"),
            ("bipolar_or_mania", "none"),
            ("hepatic_impairment", "none"),
            ("suicide_risk", "low"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        for (k, v) in edit {
            f.retain(|(key, _)| key != k);
            f.push((k, v.to_string()));
        }
        f
    };
    let cases = vec![
        Case {
            what: "a diastolic above the systolic",
            api: findings(&|f| f["diastolic_bp"] = json!(130)),
            form: form(&[("diastolic_bp", "130")]),
            field: "findings.diastolic_bp",
            says: "below the systolic",
        },
        Case {
            what: "a weight of 500 kg",
            api: findings(&|f| f["weight_kg"] = json!(500)),
            form: form(&[("weight_kg", "500")]),
            field: "findings.weight_kg",
            says: "between 20 and 350 kg",
        },
    ];
    let (api_path, page_path) = (format!("/api/v1/courses/{course}/screens"), format!("/courses/{course}/screens"));
    for c in &cases {
        compare(&app, &prescriber, &web, &api_path, &page_path, c).await;
    }
    // Signing: "not eligible" needs the reason, at both doors.
    let s = app.post(&api_path, &prescriber, findings(&|_| {})).await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
    let screen = s.body["id"].as_str().expect("screen").to_string();
    let unexplained = Case {
        what: "not eligible without a note",
        api: json!({ "eligible": false }),
        form: vec![("eligible", "no".into())],
        field: "note",
        says: "not eligible",
    };
    compare_kept(
        &app,
        &prescriber,
        &web,
        &format!("/api/v1/screens/{screen}/sign"),
        &format!("/screens/{screen}/sign"),
        &unexplained,
        false,
    )
    .await;
    let r = app.get(&format!("/api/v1/screens/{screen}"), &prescriber).await;
    assert!(r.body["signature"].is_null(), "nothing refused was signed: {}", r.body);
}
