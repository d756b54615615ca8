//! The controlled-substance ledger through the API: a receipt, the
//! administration written by the dosing session, waste witnessed by a second
//! person signing with their own password, counts and discrepancies,
//! corrections, destruction and loss reporting, the report, the roles, and
//! concurrent administrations from several sessions that never lose an entry.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn ago(mins: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(mins)).to_string()
}

/// A clinic with a DEA registration, 5 × 10 mL vials of ketamine 50 mg/mL
/// on the books, and `n` clients of `protocol` checked in for a dose.
pub struct Clinic {
    pub prescriber: String,
    /// The prescriber's staff id (the prescriber on site).
    pub prescriber_id: String,
    pub nurse: String,
    pub nurse_email: String,
    /// A second nurse who witnesses.
    pub witness_email: String,
    pub site: String,
    pub registration: String,
    pub stock: String,
    pub encounters: Vec<String>,
    pub clients: Vec<String>,
}

pub async fn clinic(app: &TestApp, n: usize, protocol: &str) -> Clinic {
    let admin = app.token_for(Role::Admin).await;
    let director = app.token_for(Role::Director).await;
    let (p_email, prescriber_id) = app.add_staff(&[Role::Prescriber]).await;
    let prescriber = app.login(&p_email, PASSWORD).await;
    let (nurse_email, _) = app.add_staff(&[Role::Nurse]).await;
    let nurse = app.login(&nurse_email, PASSWORD).await;
    let (witness_email, _) = app.add_staff(&[Role::Nurse]).await;
    let site =
        app.post("/api/v1/sites", &admin, json!({ "name": "Ledger Clinic", "time_zone": "America/New_York" })).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let r = app
        .post(
            "/api/v1/ledger/registrations",
            &director,
            json!({ "site_id": site, "dea_number": "AB1234563", "registrant": "Synthetic Medical Director",
                    "address": "1 Example Plaza, Fairhaven ZZ 00000" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let registration = r.body["id"].as_str().expect("registration").to_string();
    let r = app
        .post(
            "/api/v1/ledger/receipts",
            &nurse,
            json!({ "registration_id": registration, "substance": "ketamine", "ndc": "00000-0000-01",
                    "form": "50 mg/mL injection, 10 mL multi-dose vial", "unit": "mL", "mg_per_unit": 50.0,
                    "units_per_container": 10.0, "lot": "KET-TEST-1", "expires": "2031-01-31", "storage": "Safe 1",
                    "containers": 5, "invoice": "INV-0001",
                    "supplier": { "name": "Synthetic Pharma Supply", "address": "9 Test Way, Springfield ZZ 00000",
                                  "dea_number": "BS1234563" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["entry"]["balance_after"], 50_000, "5 vials x 10 mL in thousandths of a mL");
    let stock = r.body["stock"]["id"].as_str().expect("stock").to_string();
    let mut encounters = Vec::new();
    let mut clients = Vec::new();
    for i in 0..n {
        let client = app.create_client(&prescriber, "Ledger", &format!("Client{i}")).await;
        let course = app
            .post(
                &format!("/api/v1/clients/{client}/courses"),
                &prescriber,
                json!({ "protocol": protocol, "started_on": "2026-11-01" }),
            )
            .await;
        let course = course.body["id"].as_str().expect("course").to_string();
        let findings = json!({
            "diagnosis": "Major depressive disorder", "prior_treatments": ["sertraline", "CBT"], "psychosis": "none",
            "substance_use": "none", "cardiovascular_disease": false, "systolic_bp": 126, "diastolic_bp": 80,
            "heart_rate": 70, "pregnancy": "not_applicable", "raised_intracranial_pressure": false,
            "aneurysmal_vascular_disease": false, "intracerebral_haemorrhage_history": false,
            "medications": ["benzodiazepine"], "weight_kg": 72.5, "allergies": "none known",
            "ketamine_hypersensitivity": false, "off_label_consent": true,
        "bipolar_or_mania": "none", "hepatic_impairment": "none", "breastfeeding": false,
        "sleep_apnoea_or_airway": false, "glaucoma": false, "suicide_risk": "low"
        });
        let s =
            app.post(&format!("/api/v1/courses/{course}/screens"), &prescriber, json!({ "findings": findings })).await;
        let sign = format!("/api/v1/screens/{}/sign", s.body["id"].as_str().expect("screen"));
        let r = app.post(&sign, &prescriber, json!({ "eligible": true })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let start = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(200);
        let r = app
            .post(
                "/api/v1/encounters",
                &prescriber,
                json!({ "client_id": client, "course_id": course, "site_id": site, "kind": "dosing",
                        "scheduled_start": start.to_string(),
                        "scheduled_end": (start + jiff::SignedDuration::from_hours(3)).to_string() }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let enc = r.body["id"].as_str().expect("encounter").to_string();
        let r = app.post(&format!("/api/v1/encounters/{enc}/status"), &nurse, json!({ "status": "arrived" })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        encounters.push(enc);
        clients.push(client);
    }
    let prescriber_id = prescriber_id.to_string();
    Clinic {
        prescriber,
        prescriber_id,
        nurse,
        nurse_email,
        witness_email,
        site,
        registration,
        stock,
        encounters,
        clients,
    }
}

/// Receives six 28 mg esketamine nasal spray devices of `lot` on the
/// clinic's registration; returns the stock's id.
pub async fn receive_esketamine(app: &TestApp, c: &Clinic, lot: &str) -> String {
    let r = app
        .post(
            "/api/v1/ledger/receipts",
            &c.nurse,
            json!({ "registration_id": c.registration, "substance": "esketamine", "ndc": "00000-0001-01",
                    "form": "28 mg nasal spray device", "unit": "device", "mg_per_unit": 28.0, "units_per_container": 1.0,
                    "lot": lot, "containers": 6,
                    "supplier": { "name": "Synthetic Specialty Distributor", "address": "3 Test Way", "dea_number": "BS1234563" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["stock"]["id"].as_str().expect("stock").to_string()
}

/// Starts the dose of the clinic's encounter `i` from its stock (nothing
/// drawn beyond the dose) and returns the dosing session's id.
pub async fn start_dose(app: &TestApp, c: &Clinic, i: usize) -> String {
    let r = app
        .post(
            &format!("/api/v1/encounters/{}/dosing-session", c.encounters[i]),
            &c.nurse,
            start_with_stock(&c.stock, None),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().expect("session").to_string()
}

pub fn start_with_stock(stock: &str, drawn: Option<f64>) -> Value {
    json!({
        "checklist": { "fasting_confirmed": true, "nasal_medicines_clear": true, "ride_home_arranged": true, "no_driving_agreed": true,
                       "pregnancy_test": "not_applicable", "pre_dose_note": "asked aloud at the chair: no thoughts of self-harm", "mood_check": "steady" },
        "pre_vitals": { "systolic": 124, "diastolic": 80, "heart_rate": 72, "spo2": 98 },
        "weight_kg": 72.5, "stock_id": stock, "drawn": drawn, "started_at": ago(180)
    })
}

fn witness(email: &str, password: &str) -> Value {
    json!({ "email": email, "password": password })
}

async fn stock(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.get(&format!("/api/v1/ledger/stock/{id}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn a_dose_is_administered_from_stock_and_its_remainder_wasted_with_a_witness() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "apa_iv_induction").await;
    let r = app
        .post(
            &format!("/api/v1/encounters/{}/dosing-session", c.encounters[0]),
            &c.nurse,
            start_with_stock(&c.stock, Some(1.0)),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["lot"], "KET-TEST-1", "the session's lot is the stock's");
    // 0.5 mg/kg × 72.5 kg = 36.3 mg = 0.726 mL at 50 mg/mL.
    let admin = &r.body["ledger"][0];
    assert_eq!(admin["kind"], "administration");
    assert_eq!(admin["quantity"], 726);
    assert_eq!(admin["detail"]["drawn"], 1000);
    assert_eq!(admin["balance_after"], 50_000 - 726);
    assert_eq!(admin["client_id"].as_str(), Some(c.clients[0].as_str()));
    let admin_id = admin["id"].as_str().expect("entry").to_string();
    let recon = app.get("/api/v1/ledger/reconciliation", &c.nurse).await;
    assert_eq!(recon.body["pending_waste"][0]["outstanding"], 274, "{}", recon.body);

    let entries = format!("/api/v1/ledger/stock/{}/entries", c.stock);
    let waste = |w: Vec<Value>, q: f64| json!({ "kind": "waste", "quantity": q, "related_id": admin_id, "method": "drug disposal container", "witnesses": w });
    let r = app.post(&entries, &c.nurse, waste(vec![], 0.274)).await;
    assert_eq!(r.problem_field(), Some("witnesses"), "waste without a witness is refused");
    let r = app.post(&entries, &c.nurse, waste(vec![witness(&c.nurse_email, PASSWORD)], 0.274)).await;
    assert_eq!(r.problem_field(), Some("witnesses[0]"));
    assert!(r.body["detail"].as_str().unwrap_or("").contains("different person"), "{}", r.body);
    let r = app.post(&entries, &c.nurse, waste(vec![witness(&c.witness_email, "not the password")], 0.274)).await;
    assert_eq!(r.problem_field(), Some("witnesses[0]"), "a wrong witness password is refused");
    let (therapist_email, _) = app.add_staff(&[Role::Therapist]).await;
    let r = app.post(&entries, &c.nurse, waste(vec![witness(&therapist_email, PASSWORD)], 0.274)).await;
    assert_eq!(r.problem_field(), Some("witnesses[0]"), "a therapist may not witness");
    let r = app.post(&entries, &c.nurse, waste(vec![witness(&c.witness_email, PASSWORD)], 0.3)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "more waste than was drawn and not given: {}", r.body);
    assert_eq!(stock(&app, &c.nurse, &c.stock).await["stock"]["balance"], 50_000 - 726, "nothing half-written");

    let r = app.post(&entries, &c.nurse, waste(vec![witness(&c.witness_email, PASSWORD)], 0.274)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["balance_after"], 49_000);
    assert_eq!(r.body["client_id"].as_str(), Some(c.clients[0].as_str()), "waste follows its administration's client");
    let s = stock(&app, &c.nurse, &c.stock).await;
    assert_eq!(s["reconciles"], true);
    assert_eq!(s["entries"].as_array().map(Vec::len), Some(3));
    let recon = app.get("/api/v1/ledger/reconciliation", &c.nurse).await;
    assert_eq!(recon.body["pending_waste"], json!([]), "{}", recon.body);
    assert_eq!(recon.body["unledgered_sessions"], json!([]));

    // A count 0.1 mL short is a discrepancy; the books do not move until a correction explains it.
    let r = app
        .post(
            &entries,
            &c.nurse,
            json!({ "kind": "count", "quantity": 48.9, "count_type": "ad_hoc", "business_time": "close" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.body["detail"]["expected"].clone(), r.body["balance_after"].clone()), (json!(49_000), json!(49_000)));
    let count_id = r.body["id"].as_str().expect("count").to_string();
    let recon = app.get("/api/v1/ledger/reconciliation", &c.nurse).await;
    assert_eq!(recon.body["discrepancies"].as_array().map(Vec::len), Some(1), "{}", recon.body);
    let r =
        app.post(&entries, &c.nurse, json!({ "kind": "correction", "quantity": -0.1, "related_id": count_id })).await;
    assert_eq!(r.problem_field(), Some("narrative"), "a correction says why");
    let r = app
        .post(
            &entries,
            &c.nurse,
            json!({ "kind": "correction", "quantity": -0.1, "related_id": count_id,
                    "narrative": "=HYPERLINK(\"http://x.invalid\",\"Vial residue after the last draw; recounted by two nurses\")" }),
        )
        .await;
    assert_eq!(r.body["balance_after"], 48_900, "{}", r.body);
    let recon = app.get("/api/v1/ledger/reconciliation", &c.nurse).await;
    assert_eq!(recon.body["discrepancies"], json!([]), "the correction explains the count: {}", recon.body);
    let r = app.post(&entries, &c.nurse, json!({ "kind": "administration", "quantity": 1.0 })).await;
    assert_eq!(r.problem_field(), Some("kind"), "administrations come only from dosing sessions");
    let r = app.post(&entries, &c.nurse, json!({ "kind": "waste", "quantity": 100.0, "method": "x", "witnesses": [witness(&c.witness_email, PASSWORD)] })).await;
    assert_eq!(r.problem_field(), Some("quantity"), "the books never go below zero: {}", r.body);

    // The report: one line per entry with the patient's name on the administration, as CSV too.
    let report = app.get(&format!("/api/v1/ledger/registrations/{}/report", c.registration), &c.nurse).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let lines = report.body["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[1]["kind"], "Administration");
    assert_eq!(lines[1]["patient_name"], "Ledger Client0");
    assert_eq!(lines[1]["mg"], "36.3");
    assert!(lines[2]["witnesses"].as_str().is_some_and(|w| !w.is_empty()));
    assert_eq!(report.body["retention_years"], 2);
    let csv = app.get(&format!("/api/v1/ledger/registrations/{}/report?format=csv", c.registration), &c.nurse).await;
    assert!(csv.content_type.starts_with("text/csv"), "{}", csv.content_type);
    let text = csv.body.as_str().expect("csv text");
    assert!(text.starts_with("substance,ndc,form,lot,seq,date,kind,quantity"), "{text}");
    assert_eq!(text.lines().count(), 6, "a header and five entries");
    // Free text a spreadsheet would run as a formula is written as text;
    // the correction's negative quantity stays a number.
    assert!(
        text.contains("\"'=HYPERLINK(") && !text.contains(",=HYPERLINK") && !text.contains(",\"=HYPERLINK"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.contains(",-0.1,")), "{text}");

    // Who may do what.
    for role in [Role::Coordinator, Role::Therapist, Role::Admin] {
        let t = app.token_for(role).await;
        assert_eq!(app.get("/api/v1/ledger/reconciliation", &t).await.status, StatusCode::FORBIDDEN, "{role}");
    }
    let director = app.token_for(Role::Director).await;
    assert_eq!(app.get(&format!("/api/v1/ledger/stock/{}", c.stock), &director).await.status, StatusCode::OK);
    let r = app
        .post(
            &entries,
            &director,
            json!({ "kind": "count", "quantity": 1.0, "count_type": "ad_hoc", "business_time": "close" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the director reads the ledger but does not handle the drug");
    let r = app
        .post(
            "/api/v1/ledger/registrations",
            &c.nurse,
            json!({ "site_id": c.site, "dea_number": "AB1234563", "registrant": "x", "address": "y" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Reading the ledger is a read of the client's record.
    let audit = app.get(&format!("/api/v1/audit?client={}", c.clients[0]), &app.token_for(Role::Admin).await).await;
    assert!(
        audit.body["items"].as_array().is_some_and(|a| a.iter().any(|e| e["record_type"] == "ledger_report")),
        "{}",
        audit.body
    );
}

#[tokio::test]
async fn receipts_are_checked_against_the_label_and_the_dea_number() {
    let app = spawn_app().await;
    let c = clinic(&app, 0, "apa_iv_induction").await;
    let body = |dea: &str, strength: f64| {
        json!({ "registration_id": c.registration, "substance": "ketamine", "ndc": "00000-0000-01",
                "form": "50 mg/mL injection, 10 mL multi-dose vial", "unit": "mL", "mg_per_unit": strength,
                "units_per_container": 10.0, "lot": "KET-TEST-1", "containers": 2,
                "supplier": { "name": "Synthetic Pharma Supply", "address": "9 Test Way", "dea_number": dea } })
    };
    let r = app.post("/api/v1/ledger/receipts", &c.nurse, body("BS1234564", 50.0)).await;
    assert_eq!(r.problem_field(), Some("supplier.dea_number"), "check digit");
    let r = app.post("/api/v1/ledger/receipts", &c.nurse, body("BS1234563", 100.0)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "same lot on file at another strength: {}", r.body);
    let r = app.post("/api/v1/ledger/receipts", &c.nurse, body("BS1234563", 50.0)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["stock"]["id"].as_str(), Some(c.stock.as_str()), "the same lot adds to the same stock");
    assert_eq!(r.body["entry"]["balance_after"], 70_000);
    assert_eq!(r.body["entry"]["seq"], 2);
}

#[tokio::test]
async fn destruction_needs_form_41_and_two_witnesses_and_a_loss_is_reported_once() {
    let app = spawn_app().await;
    let c = clinic(&app, 0, "apa_iv_induction").await;
    let entries = format!("/api/v1/ledger/stock/{}/entries", c.stock);
    let (second_email, _) = app.add_staff(&[Role::Prescriber]).await;
    let destroy = |w: Vec<Value>, form: Option<&str>| json!({ "kind": "destruction", "quantity": 10.0, "method": "denaturing kit", "form_reference": form, "witnesses": w });
    // Two authorised people witness on-site destruction (DEA Form 41
    // section D): the nurse destroying it and one more who signs.
    let r = app.post(&entries, &c.nurse, destroy(vec![], Some("F41-0001"))).await;
    assert_eq!(r.problem_field(), Some("witnesses"), "a second authorised person: {}", r.body);
    assert!(r.body["detail"].as_str().unwrap_or("").contains("needs 1 witness"), "{}", r.body);
    let r = app.post(&entries, &c.nurse, destroy(vec![witness(&c.nurse_email, PASSWORD)], Some("F41-0001"))).await;
    assert_eq!(r.problem_field(), Some("witnesses[0]"), "the recorder does not count twice: {}", r.body);
    let (therapist_email, _) = app.add_staff(&[Role::Therapist]).await;
    let r = app.post(&entries, &c.nurse, destroy(vec![witness(&therapist_email, PASSWORD)], Some("F41-0001"))).await;
    assert_eq!(r.problem_field(), Some("witnesses[0]"), "a therapist is not authorised: {}", r.body);
    let one = vec![witness(&c.witness_email, PASSWORD)];
    let r = app.post(&entries, &c.nurse, destroy(one.clone(), None)).await;
    assert_eq!(r.problem_field(), Some("form_reference"));
    let twice = vec![witness(&c.witness_email, PASSWORD), witness(&c.witness_email, PASSWORD)];
    let r = app.post(&entries, &c.nurse, destroy(twice, Some("F41-0001"))).await;
    assert_eq!(r.problem_field(), Some("witness"), "{}", r.body);
    let r = app.post(&entries, &c.nurse, destroy(one, Some("F41-0001"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["witnesses"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["balance_after"], 40_000);
    // A third person may still sign.
    let both = vec![witness(&c.witness_email, PASSWORD), witness(&second_email, PASSWORD)];
    let r = app.post(&entries, &c.nurse, destroy(both, Some("F41-0002"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["balance_after"], 30_000);

    let r = app.post(&entries, &c.nurse, json!({ "kind": "theft_loss", "quantity": 10.0 })).await;
    assert_eq!(r.problem_field(), Some("narrative"));
    let r = app
        .post(
            &entries,
            &c.nurse,
            json!({ "kind": "theft_loss", "quantity": 10.0, "narrative": "One sealed vial missing at the close-of-business count." }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let loss = r.body["id"].as_str().expect("entry").to_string();
    let losses = app.get("/api/v1/ledger/losses", &c.nurse).await;
    assert_eq!(losses.body[0]["notified_at"], Value::Null);
    assert!(losses.body[0]["notice_due"].as_str().is_some(), "{}", losses.body);
    let path = format!("/api/v1/ledger/losses/{loss}/notified");
    assert_eq!(app.post(&path, &c.nurse, json!({})).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.post(&path, &c.nurse, json!({})).await.status, StatusCode::CONFLICT, "recorded once");
    let path = format!("/api/v1/ledger/losses/{loss}/form106");
    assert_eq!(app.post(&path, &c.nurse, json!({ "reference": " " })).await.problem_field(), Some("form106_reference"));
    assert_eq!(app.post(&path, &c.nurse, json!({ "reference": "106-TEST-1" })).await.status, StatusCode::NO_CONTENT);
    let recon = app.get("/api/v1/ledger/reconciliation", &c.nurse).await;
    assert_eq!(recon.body["open_losses"], json!([]), "{}", recon.body);
    assert_eq!(stock(&app, &c.nurse, &c.stock).await["stock"]["balance"], 20_000);
}

#[tokio::test]
async fn concurrent_administrations_from_several_sessions_never_lose_an_entry() {
    let app = spawn_app().await;
    let n = 6;
    let c = clinic(&app, n, "apa_iv_induction").await;
    let mut set = tokio::task::JoinSet::new();
    for enc in &c.encounters {
        let (api, url) = (app.api.clone(), format!("{}/api/v1/encounters/{enc}/dosing-session", app.base));
        let (body, nurse) = (start_with_stock(&c.stock, None), c.nurse.clone());
        set.spawn(
            async move { into_resp(api.post(url).bearer_auth(nurse).json(&body).send().await.expect("send")).await },
        );
    }
    while let Some(r) = set.join_next().await {
        let r = r.expect("task");
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let s = stock(&app, &c.nurse, &c.stock).await;
    let entries = s["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1 + n, "the receipt and every administration");
    let seqs: Vec<i64> = entries.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(seqs, (1..=(1 + n as i64)).collect::<Vec<_>>(), "numbered without gaps or repeats");
    assert_eq!(s["stock"]["balance"], 50_000 - 726 * n as i64);
    assert_eq!(s["reconciles"], true);
    // Each entry's balance follows from the one before.
    for w in entries.windows(2) {
        assert_eq!(
            w[1]["balance_after"].as_i64().expect("b") - w[0]["balance_after"].as_i64().expect("a"),
            w[1]["delta"].as_i64().expect("d")
        );
    }
}

/// 21 CFR 1304.22(c): each administration records the name and address of
/// the person as of the entry. A client who moves (or changes name) after a
/// dose leaves the old entry as it was written; a later dose carries the new.
#[tokio::test]
async fn an_administration_keeps_the_clients_name_and_address_as_of_the_dose() {
    let app = spawn_app().await;
    let c = clinic(&app, 2, "apa_iv_induction").await;
    let client = format!("/api/v1/clients/{}", c.clients[0]);
    let details = |given: &str, address: &str| json!({ "given_name": given, "family_name": "Client0", "date_of_birth": "1985-04-12", "address": address });
    let r = app.put(&client, &c.prescriber, details("Ledger", "4 Old Road, Fairhaven ZZ 00000")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    start_dose(&app, &c, 0).await;
    let r = app.put(&client, &c.prescriber, details("Renamed", "77 New Street, Springfield ZZ 00000")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let report = app.get(&format!("/api/v1/ledger/registrations/{}/report", c.registration), &c.nurse).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let admin = report.body["lines"].as_array().expect("lines").iter().find(|l| l["kind"] == "Administration").cloned();
    let admin = admin.expect("the administration");
    assert_eq!(admin["patient_name"], "Ledger Client0", "{admin}");
    assert_eq!(admin["patient_address"], "4 Old Road, Fairhaven ZZ 00000", "{admin}");
    let csv = app.get(&format!("/api/v1/ledger/registrations/{}/report?format=csv", c.registration), &c.nurse).await;
    let text = csv.body.as_str().expect("csv");
    assert!(text.contains("4 Old Road") && !text.contains("77 New Street"), "{text}");
    assert!(!text.contains("Renamed"), "{text}");
}

/// Every free-text column of the ledger CSV (names, addresses, lots, forms,
/// notes) goes through `spreadsheet::cell`: a client's name typed as a
/// formula is written as text.
#[tokio::test]
async fn the_ledger_csv_writes_a_formula_in_any_text_column_as_text() {
    let app = spawn_app().await;
    let c = clinic(&app, 1, "apa_iv_induction").await;
    let body = json!({ "given_name": "=cmd|' /C calc'!A0", "family_name": "@SUM(1+1)", "date_of_birth": "1985-04-12",
                       "address": "+1 Formula Way" });
    let r = app.put(&format!("/api/v1/clients/{}", c.clients[0]), &c.prescriber, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    start_dose(&app, &c, 0).await;
    let csv = app.get(&format!("/api/v1/ledger/registrations/{}/report?format=csv", c.registration), &c.nurse).await;
    let text = csv.body.as_str().expect("csv");
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header = rows.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let admin = rows
        .records()
        .map(|r| r.expect("row"))
        .find(|r| &r[col("kind")] == "Administration")
        .expect("the administration row");
    assert_eq!(&admin[col("patient_name")], "'=cmd|' /C calc'!A0 @SUM(1+1)", "{text}");
    assert_eq!(&admin[col("patient_address")], "'+1 Formula Way", "{text}");
    for record in csv::Reader::from_reader(text.as_bytes()).records() {
        let record = record.expect("row");
        for cell in record.iter() {
            let risky = cell.starts_with(['=', '+', '-', '@']) && cell.trim().parse::<f64>().is_err();
            assert!(!risky, "a cell a spreadsheet would run: {cell:?} in {text}");
        }
    }
}
