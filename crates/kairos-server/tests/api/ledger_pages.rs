//! The controlled-substance ledger and REMS pages over HTTP with a cookie
//! session: a registration and a delivery entered on the forms, a waste
//! refused for a wrong witness password with nothing written, role checks,
//! the CSV download, the REMS form of an esketamine session and the clear
//! refusal for any other session.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A valid DEA number (check digit 3) for the clinic, another for the supplier.
const CLINIC_DEA: &str = "AB1234563";
const SUPPLIER_DEA: &str = "BS7654329";

async fn get(web: &reqwest::Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = web.get(format!("{}{path}", app.base)).send().await.expect("get");
    (r.status(), r.text().await.expect("body"))
}

/// Posts a form; returns the status, the redirect target (if any) and the body.
async fn post(web: &reqwest::Client, app: &TestApp, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
    let r = web.post(format!("{}{path}", app.base)).form(form).send().await.expect("post");
    let status = r.status();
    let location = r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("").to_string();
    (status, location, r.text().await.expect("body"))
}

async fn site(app: &TestApp, admin: &str, name: &str) -> String {
    let s = app.post("/api/v1/sites", admin, json!({ "name": name, "time_zone": "UTC" })).await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
    s.body["id"].as_str().expect("site").to_string()
}

/// A site with a registration (through the API): the registration id.
async fn registration(app: &TestApp) -> String {
    let admin = app.token_for(Role::Admin).await;
    let site = site(app, &admin, "Ledger Clinic").await;
    let r = app
        .post(
            "/api/v1/ledger/registrations",
            &admin,
            json!({ "site_id": site, "dea_number": CLINIC_DEA, "registrant": "Kairos Test Clinic PLLC",
                    "address": "1 Main Street, Springfield" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().expect("registration").to_string()
}

/// Two 10 mL vials of ketamine 50 mg/mL received through the API: the stock id.
async fn received(app: &TestApp, nurse: &str, reg: &str) -> String {
    let r = app
        .post(
            "/api/v1/ledger/receipts",
            nurse,
            json!({ "registration_id": reg, "substance": "ketamine", "ndc": "0143-9508-10",
                    "form": "50 mg/mL injection, 10 mL vial", "unit": "mL", "mg_per_unit": 50.0,
                    "units_per_container": 10.0, "lot": "KET-API-01", "expires": "2030-01-31",
                    "containers": 2, "supplier": { "name": "Synthetic Supply", "address": "2 Test Way, Springfield",
                    "dea_number": SUPPLIER_DEA } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["stock"]["id"].as_str().expect("stock").to_string()
}

async fn stock_json(app: &TestApp, token: &str, stock: &str) -> Value {
    let r = app.get(&format!("/api/v1/ledger/stock/{stock}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn a_director_adds_the_registration_and_a_nurse_receives_stock_on_the_forms() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let site = site(&app, &admin, "Ledger Clinic").await;
    let (director, _) = app.add_staff(&[Role::Director]).await;
    let web = web_session(&app, &director).await;
    let (status, html) = get(&web, &app, "/ledger").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Start here") && html.contains("Add a DEA registration"), "{html}");
    assert!(html.contains("href=\"/ledger\""), "the nav links the ledger");

    let mut form = vec![
        ("site_id", site.as_str()),
        ("dea_number", "AB1234567"),
        ("registrant", "Kairos Test Clinic PLLC"),
        ("address", "1 Main Street, Springfield"),
    ];
    let (status, _, html) = post(&web, &app, "/ledger/registrations", &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("role=\"alert\"") && html.contains("DEA number: "), "the message names the field: {html}");
    assert!(html.contains("the check digit does not match"), "{html}");
    assert!(html.contains("value=\"Kairos Test Clinic PLLC\""), "the values are kept");
    form[1] = ("dea_number", CLINIC_DEA);
    let (status, location, _) = post(&web, &app, "/ledger/registrations", &form).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/ledger"));

    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse = app.login(&nurse_email, PASSWORD).await;
    let regs = app.get("/api/v1/ledger/registrations", &nurse).await;
    let reg = regs.body[0]["id"].as_str().expect("registration").to_string();
    let web = web_session(&app, &nurse_email).await;
    let (status, html) = get(&web, &app, &format!("/ledger/receive?registration={reg}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("<option value=\"{reg}\" selected>")), "the registration is chosen: {html}");
    assert!(html.contains("<label for=\"stock-supplier-dea-number\">"), "inputs are labelled");

    let mut form = vec![
        ("registration_id", reg.as_str()),
        ("substance", "ketamine"),
        ("ndc", "0143-9508-10"),
        ("form", "50 mg/mL injection, 10 mL multi-dose vial"),
        ("unit", "mL"),
        ("mg_per_unit", "fifty"),
        ("units_per_container", "10"),
        ("lot", "KET-PAGE-07"),
        ("expires", "2030-06-30"),
        ("storage", "Safe 1, med room"),
        ("containers", "2"),
        ("supplier_name", "Synthetic Pharma Supply"),
        ("supplier_address", "2 Test Way, Springfield"),
        ("supplier_dea_number", SUPPLIER_DEA),
        ("invoice", "INV-100"),
        ("received_at", ""),
    ];
    let (status, _, html) = post(&web, &app, "/ledger/receive", &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Strength (mg per unit): "), "the message names the field: {html}");
    assert!(html.contains("value=\"KET-PAGE-07\"") && html.contains("aria-invalid=\"true\""), "values kept: {html}");
    form[5] = ("mg_per_unit", "50");
    form[13] = ("supplier_dea_number", "BS7654321");
    let (status, _, html) = post(&web, &app, "/ledger/receive", &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Supplier&#39;s DEA number") || html.contains("Supplier&#x27;s DEA number"), "{html}");
    form[13] = ("supplier_dea_number", SUPPLIER_DEA);
    let (status, location, _) = post(&web, &app, "/ledger/receive", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.starts_with("/ledger/stock/"), "{location}");

    let (status, html) = get(&web, &app, "/ledger").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("KET-PAGE-07") && html.contains("20 mL (1000.0 mg)"), "the stock is on the books: {html}");
    assert!(html.contains(&format!("href=\"{location}\"")), "linked to its page");
    let (_, html) = get(&web, &app, &location).await;
    assert!(html.contains("Receipt") && html.contains("Synthetic Pharma Supply") && html.contains("invoice INV-100"));
    assert!(html.contains("The entries add up to this balance."), "{html}");
    assert!(html.contains("never edited or deleted"));
}

#[tokio::test]
async fn a_waste_with_a_wrong_witness_password_is_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let reg = registration(&app).await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse = app.login(&nurse_email, PASSWORD).await;
    let stock = received(&app, &nurse, &reg).await;
    let (witness_email, _) = app.add_staff(&[Role::Nurse]).await;
    let web = web_session(&app, &nurse_email).await;
    let path = format!("/ledger/stock/{stock}/entries");
    let mut form = vec![
        ("kind", "waste"),
        ("related_id", ""),
        ("quantity", "0.5"),
        ("method", "Into the drug-disposal container"),
        ("witness_0_email", witness_email.as_str()),
        ("witness_0_password", "not the witness's password"),
    ];
    let (status, _, html) = post(&web, &app, &path, &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Witness 1: ") && html.contains("e-mail or password is not right"), "{html}");
    assert!(!html.contains("not the witness"), "a password is never shown again");
    assert!(html.contains("value=\"Into the drug-disposal container\""), "the waste form keeps its values");
    let s = stock_json(&app, &nurse, &stock).await;
    assert_eq!(s["stock"]["balance"], 20_000, "nothing is written: {s}");
    assert_eq!(s["entries"].as_array().map(Vec::len), Some(1));

    form[5] = ("witness_0_password", PASSWORD);
    let (status, location, _) = post(&web, &app, &path, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("/ledger/stock/{stock}"));
    let s = stock_json(&app, &nurse, &stock).await;
    assert_eq!(s["stock"]["balance"], 19_500);
    assert_eq!(s["entries"][1]["kind"], "waste");
    let (_, html) = get(&web, &app, &location).await;
    assert!(html.contains("Waste (witnessed)") && html.contains("19.5 mL"), "{html}");
}

#[tokio::test]
async fn only_those_who_keep_or_read_the_books_open_the_ledger() {
    let app = spawn_app().await;
    let reg = registration(&app).await;
    let (coordinator, _) = app.add_staff(&[Role::Coordinator]).await;
    let web = web_session(&app, &coordinator).await;
    let (status, html) = get(&web, &app, "/ledger").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("may not read the controlled-substance ledger"), "{html}");
    assert!(!html.contains("href=\"/ledger\""), "no ledger link in the coordinator's nav");
    assert_eq!(get(&web, &app, &format!("/ledger/registrations/{reg}/report")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&web, &app, "/rems").await.0, StatusCode::FORBIDDEN);

    // The administrator records registrations but does not see the stock.
    let (admin, _) = app.add_staff(&[Role::Admin]).await;
    let web = web_session(&app, &admin).await;
    let (status, html) = get(&web, &app, "/ledger").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(CLINIC_DEA) && html.contains("Add a DEA registration"), "{html}");
    assert!(!html.contains("Receive stock") && !html.contains("Needs attention"));
    let (nurse, _) = app.add_staff(&[Role::Nurse]).await;
    let web = web_session(&app, &nurse).await;
    let (status, html) = get(&web, &app, "/ledger").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Receive stock") && !html.contains("Add a DEA registration"));
}

#[tokio::test]
async fn a_count_short_of_the_books_is_flagged_and_the_report_downloads_as_csv() {
    let app = spawn_app().await;
    let reg = registration(&app).await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse = app.login(&nurse_email, PASSWORD).await;
    let stock = received(&app, &nurse, &reg).await;
    let web = web_session(&app, &nurse_email).await;
    let form = [("kind", "count"), ("count_type", "ad_hoc"), ("business_time", "close"), ("quantity", "19.5")];
    let (status, _, _) = post(&web, &app, &format!("/ledger/stock/{stock}/entries"), &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = get(&web, &app, &format!("/ledger/stock/{stock}")).await;
    assert!(html.contains("Counted 19.5 mL; the books said 20 mL: 0.5 mL short."), "{html}");
    let (_, html) = get(&web, &app, "/ledger").await;
    assert!(html.contains("Counts that differ from the books") && html.contains("0.5 mL short"), "{html}");
    assert!(!html.contains("Nothing needs attention"));

    let (status, html) = get(&web, &app, &format!("/ledger/registrations/{reg}/report")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Kairos never deletes ledger entries") && html.contains(CLINIC_DEA), "{html}");
    assert!(html.contains("Balances at the end of the period") && html.contains("Download CSV"));
    let (status, html) =
        get(&web, &app, &format!("/ledger/registrations/{reg}/report?from=2026-05-02&to=2026-05-01")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("From: from must be on or before to"), "{html}");

    let r = web.get(format!("{}/ledger/registrations/{reg}/report.csv", app.base)).send().await.expect("csv");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().expect("type").starts_with("text/csv"));
    let disposition = r.headers()["content-disposition"].to_str().expect("disposition").to_string();
    assert!(disposition.starts_with("attachment;") && disposition.contains(CLINIC_DEA), "{disposition}");
    let body = r.text().await.expect("body");
    let mut csv = csv::Reader::from_reader(body.as_bytes());
    let header = csv.headers().expect("header").clone();
    assert_eq!(&header[4], "seq", "{body}");
    assert!(header.iter().any(|h| h == "patient_name") && header.iter().any(|h| h == "balance_after"));
    let rows: Vec<csv::StringRecord> = csv.records().collect::<Result<_, _>>().expect("rows");
    assert_eq!(rows.len(), 2, "one row per entry: {body}");
    assert_eq!((&rows[0][6], &rows[1][6]), ("Receipt", "Count"));
}

#[tokio::test]
async fn an_initial_inventory_clears_the_flags_and_a_loss_is_tracked_to_form_106() {
    let app = spawn_app().await;
    let reg = registration(&app).await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let web = web_session(&app, &nurse_email).await;
    let (_, html) = get(&web, &app, "/ledger").await;
    assert!(html.contains("No inventory on the books"), "{html}");
    let form = [
        ("registration_id", reg.as_str()),
        ("substance", "esketamine"),
        ("ndc", "50458-028-02"),
        ("form", "28 mg nasal spray device"),
        ("unit", "device"),
        ("mg_per_unit", "28"),
        ("units_per_container", "1"),
        ("lot", "SPR-INIT-1"),
        ("quantity", "6"),
        ("business_time", "opening"),
    ];
    let (status, location, html) = post(&web, &app, "/ledger/initial-inventory", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    let (_, html) = get(&web, &app, "/ledger").await;
    assert!(html.contains("Nothing needs attention") && html.contains("6 device (168.0 mg)"), "{html}");
    assert!(html.contains("Inventory current"), "{html}");

    let entries = format!("{location}/entries");
    let loss = [("kind", "theft_loss"), ("quantity", "1"), ("narrative", "One device missing from the safe at count")];
    assert_eq!(post(&web, &app, &entries, &loss).await.0, StatusCode::SEE_OTHER);
    let (_, html) = get(&web, &app, "/ledger").await;
    assert!(html.contains("Thefts and losses to report") && html.contains("One device missing"), "{html}");
    assert!(html.contains("Written notice to the DEA Field Division due by"), "{html}");
    // Both deadlines: the written notice and the electronic Form 106 within
    // 45 days of discovery (88 FR 40707).
    let discovered = html.split("discovered ").nth(1).expect("discovered").get(..10).expect("date");
    let discovered: jiff::civil::Date = discovered.parse().expect("discovery date");
    let form106_due = discovered.saturating_add(jiff::Span::new().days(45));
    assert!(html.contains(&format!("DEA Form 106 (electronic) due by <strong>{form106_due}</strong>")), "{html}");
    let action = html.split("action=\"/ledger/losses/").nth(1).expect("loss form").split('/').next().expect("id");
    let notified = format!("/ledger/losses/{action}/notified");
    assert_eq!(post(&web, &app, &notified, &[("at", "")]).await.0, StatusCode::SEE_OTHER);
    let (_, html) = get(&web, &app, "/ledger").await;
    assert!(html.contains("DEA notified") && !html.contains("Written notice to the DEA Field Division due"), "{html}");
    assert!(html.contains("DEA Form 106 (electronic) due by"), "the Form 106 stays due after the notice: {html}");
    let (status, _, html) = post(&web, &app, &notified, &[("at", "")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "recorded once: {html}");
    let form106 = format!("/ledger/losses/{action}/form106");
    let (status, _, html) = post(&web, &app, &form106, &[("reference", " ")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Form 106 reference: "), "{html}");
    assert_eq!(post(&web, &app, &form106, &[("reference", "DEA-106-0001")]).await.0, StatusCode::SEE_OTHER);
    let (_, html) = get(&web, &app, "/ledger").await;
    assert!(html.contains("Nothing needs attention") && html.contains("5 device (140.0 mg)"), "{html}");
}

/// A course on `protocol` with a signed eligible screen and an arrived dosing
/// encounter; the dose started through the API: (nurse e-mail, session id).
async fn session(app: &TestApp, protocol: &str, start: Value) -> (String, String) {
    let admin = app.token_for(Role::Admin).await;
    let (p_email, p_id) = app.add_staff(&[Role::Prescriber]).await;
    let prescriber = app.login(&p_email, PASSWORD).await;
    let mut start = start;
    start["prescriber_on_site"] = json!(p_id.to_string());
    let client = app.create_client(&prescriber, "Rae", "Spray").await;
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/courses"),
            &prescriber,
            json!({ "protocol": protocol, "started_on": "2026-11-01" }),
        )
        .await;
    let course = r.body["id"].as_str().expect("course").to_string();
    let findings = json!({
        "diagnosis": "Treatment-resistant depression", "prior_treatments": ["sertraline", "venlafaxine"],
        "psychosis": "none", "substance_use": "none", "cardiovascular_disease": false, "systolic_bp": 124,
        "diastolic_bp": 78, "heart_rate": 70, "pregnancy": "not_applicable", "raised_intracranial_pressure": false,
        "aneurysmal_vascular_disease": false, "intracerebral_haemorrhage_history": false,
        "medications": ["benzodiazepine"], "weight_kg": 70.0, "allergies": "none known",
        "ketamine_hypersensitivity": false, "off_label_consent": true,
        "bipolar_or_mania": "none", "hepatic_impairment": "none", "breastfeeding": false,
        "sleep_apnoea_or_airway": false, "glaucoma": false, "suicide_risk": "low"
    });
    let s = app.post(&format!("/api/v1/courses/{course}/screens"), &prescriber, json!({ "findings": findings })).await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
    let sign = format!("/api/v1/screens/{}/sign", s.body["id"].as_str().expect("screen"));
    let r = app.post(&sign, &prescriber, json!({ "eligible": true, "rationales": {} })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = app
        .post(
            &format!("/api/v1/clients/{client}/rems-enrolment"),
            &prescriber,
            json!({ "enrolled_on": "2026-11-01", "sex": "female" }),
        )
        .await;
    assert_eq!(e.status, StatusCode::CREATED, "{}", e.body);
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let site = site(app, &admin, protocol).await;
    let room = app
        .post(&format!("/api/v1/sites/{site}/rooms"), &admin, json!({ "name": "Chair 1", "kind": "infusion_chair" }))
        .await;
    let room = room.body["id"].as_str().expect("room").to_string();
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(60);
    let r = app
        .post(
            "/api/v1/encounters",
            &prescriber,
            json!({ "client_id": client, "course_id": course, "site_id": site, "room_id": room, "kind": "dosing",
                    "scheduled_start": at.to_string(), "scheduled_end": (at + jiff::SignedDuration::from_hours(3)).to_string() }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let enc = r.body["id"].as_str().expect("encounter").to_string();
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse = app.login(&nurse_email, PASSWORD).await;
    let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &nurse, json!({ "status": "arrived" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.post(&format!("/api/v1/encounters/{enc}/dosing-session"), &nurse, start).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (nurse_email, r.body["id"].as_str().expect("session").to_string())
}

fn start(dose: Value) -> Value {
    let mut body = json!({
        "checklist": { "fasting_confirmed": true, "nasal_medicines_clear": true, "ride_home_arranged": true, "no_driving_agreed": true,
                       "pregnancy_test": "not_applicable", "pre_dose_note": "asked aloud at the chair: no thoughts of self-harm", "mood_check": "settled" },
        "pre_vitals": { "systolic": 128, "diastolic": 80, "heart_rate": 72, "spo2": 98 },
        "lot": "LOT-TEST-1",
        "started_at": (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(50)).to_string()
    });
    for (k, v) in dose.as_object().expect("dose") {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn the_rems_form_is_for_esketamine_sessions_and_is_not_submitted_while_incomplete() {
    let app = spawn_app().await;
    let (nurse, iv) = session(&app, "apa_iv_induction", start(json!({ "weight_kg": 70.0 }))).await;
    let web = web_session(&app, &nurse).await;
    let (status, html) = get(&web, &app, &format!("/dosing-sessions/{iv}/rems")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("the REMS monitoring form is for esketamine (intranasal) sessions"), "{html}");

    let (nurse, spray) = session(&app, "esketamine_label", start(json!({ "dose_mg": 56.0 }))).await;
    let web = web_session(&app, &nurse).await;
    let page = format!("/dosing-sessions/{spray}/rems");
    let (status, html) = get(&web, &app, &page).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("content for the Spravato REMS Patient Monitoring Form")
            && html.contains("Submit it through the REMS")
    );
    assert!(html.contains("56 mg") && html.contains("LOT-TEST-1") && html.contains("Rae Spray"), "{html}");
    assert!(html.contains("discharge not recorded"), "problems are listed: {html}");
    assert!(html.contains("less than the 120 minutes"), "no discharge yet: the monitoring time is flagged");
    assert!(html.contains("<th scope=\"row\">Benzodiazepines</th><td><strong>Yes</strong>"), "from the screen: {html}");

    let (status, _, html) =
        post(&web, &app, &page, &[("ready_after_minutes", "90"), ("confirmation", "REMS-123")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("REMS confirmation: the form is not complete"), "{html}");
    assert!(html.contains("value=\"90\""), "the answer is kept");
    let (status, html) = get(&web, &app, "/rems").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Rae Spray") && html.contains(&page), "still due: {html}");

    let (status, location, _) = post(&web, &app, &page, &[("ready_after_minutes", "90"), ("confirmation", "")]).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, page.as_str()));
    let (_, html) = get(&web, &app, &page).await;
    assert!(html.contains("90 minutes after the dose") && html.contains("Not yet submitted"), "{html}");
    let (_, html) = get(&web, &app, "/ledger").await;
    assert!(html.contains("Esketamine REMS forms due") && html.contains(&page), "{html}");
}
