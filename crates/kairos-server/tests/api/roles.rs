//! The role matrix: for each route, which roles get through (2xx) and which
//! are refused (403).

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    allowed: &'static [Role],
}

/// State-changing cases whose second allowed call may be refused for a
/// business reason (422): for these, "allowed" means "not 403".
const STATEFUL: [&str; 4] = ["change phase", "check in", "sign screen", "plan course"];

#[tokio::test]
async fn every_role_gets_exactly_what_the_policy_grants() {
    use Role::*;
    let app = spawn_app().await;
    let coordinator = app.token_for(Coordinator).await;
    let admin = app.token_for(Admin).await;
    let client = app.create_client(&coordinator, "Ada", "Lin").await;
    let site = app.post("/api/v1/sites", &admin, json!({"name": "Main", "time_zone": "America/Chicago"})).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let (p_email, prescriber_id) = app.add_staff(&[Prescriber]).await;
    let prescriber = app.login(&p_email, PASSWORD).await;
    let course = app
        .post(
            &format!("/api/v1/clients/{client}/courses"),
            &prescriber,
            json!({"protocol": "apa-iv-induction", "started_on": "2026-11-02"}),
        )
        .await;
    let course = course.body["id"].as_str().expect("course").to_string();
    let enc = app
        .post(
            "/api/v1/encounters",
            &coordinator,
            json!({"client_id": client, "site_id": site, "kind": "intake",
                   "scheduled_start": "2031-02-01T10:00:00Z", "scheduled_end": "2031-02-01T11:00:00Z"}),
        )
        .await;
    let enc = enc.body["id"].as_str().expect("encounter").to_string();
    let movable = app
        .post(
            "/api/v1/encounters",
            &coordinator,
            json!({"client_id": client, "site_id": site, "kind": "intake",
                   "scheduled_start": "2031-02-02T10:00:00Z", "scheduled_end": "2031-02-02T11:00:00Z"}),
        )
        .await;
    let movable = movable.body["id"].as_str().expect("encounter").to_string();
    let (_, some_staff) = app.add_staff(&[Nurse]).await;
    let findings = json!({
        "diagnosis": "Major depressive disorder", "prior_treatments": ["sertraline"], "psychosis": "none",
        "substance_use": "none", "cardiovascular_disease": false, "systolic_bp": 120, "diastolic_bp": 80,
        "heart_rate": 70, "pregnancy": "no", "raised_intracranial_pressure": false,
        "aneurysmal_vascular_disease": false, "intracerebral_haemorrhage_history": false, "medications": [],
        "weight_kg": 70, "allergies": "none known", "ketamine_hypersensitivity": false, "off_label_consent": true,
        "bipolar_or_mania": "none", "hepatic_impairment": "none", "breastfeeding": false,
        "sleep_apnoea_or_airway": false, "glaucoma": false, "suicide_risk": "low"
    });
    let screen = app
        .post(&format!("/api/v1/courses/{course}/screens"), &prescriber, json!({ "findings": findings.clone() }))
        .await;
    let screen = screen.body["id"].as_str().expect("screen").to_string();
    let clinicians: &[Role] = &[Prescriber, Nurse, Therapist];
    let score_readers: &[Role] = &[Director, Prescriber, Nurse, Therapist];
    let readers: &[Role] = &[Director, Prescriber, Nurse, Therapist, Coordinator];
    let bookers: &[Role] = &[Prescriber, Nurse, Therapist, Coordinator];
    let mut booking_hour = 0;
    let cases = vec![
        Case { name: "read audit", method: Method::GET, path: "/api/v1/audit".into(), body: None, allowed: &[Admin] },
        Case {
            name: "record questionnaire",
            method: Method::POST,
            path: format!("/api/v1/clients/{client}/measures"),
            body: Some(json!({"instrument": "phq9", "answers": [0, 1, 0, 1, 0, 1, 0, 1, 0, 0]})),
            allowed: clinicians,
        },
        Case {
            name: "read questionnaires",
            method: Method::GET,
            path: format!("/api/v1/clients/{client}/measures"),
            body: None,
            allowed: score_readers,
        },
        Case {
            name: "read alerts",
            method: Method::GET,
            path: "/api/v1/alerts".into(),
            body: None,
            allowed: score_readers,
        },
        Case {
            name: "questionnaires due",
            method: Method::GET,
            path: "/api/v1/measures/due".into(),
            body: None,
            allowed: score_readers,
        },
        Case {
            name: "practice outcomes",
            method: Method::GET,
            path: "/api/v1/outcomes".into(),
            body: None,
            allowed: &[Director],
        },
        Case {
            name: "send questionnaire link",
            method: Method::POST,
            path: format!("/api/v1/clients/{client}/measure-requests"),
            body: Some(json!({"instrument": "phq9"})),
            allowed: clinicians,
        },
        Case {
            name: "record screen",
            method: Method::POST,
            path: format!("/api/v1/courses/{course}/screens"),
            body: Some(json!({ "findings": findings })),
            allowed: &[Prescriber, Nurse],
        },
        Case {
            name: "read screens",
            method: Method::GET,
            path: format!("/api/v1/courses/{course}/screens"),
            body: None,
            allowed: score_readers,
        },
        Case {
            name: "sign screen",
            method: Method::POST,
            path: format!("/api/v1/screens/{screen}/sign"),
            body: Some(json!({"eligible": true})),
            allowed: &[Prescriber],
        },
        Case {
            name: "read protocols",
            method: Method::GET,
            path: "/api/v1/protocols".into(),
            body: None,
            allowed: Role::ALL,
        },
        Case {
            name: "plan course",
            method: Method::POST,
            path: format!("/api/v1/courses/{course}/plan"),
            body: Some(json!({"first_dose_at": "2031-03-03T15:00:00Z"})),
            allowed: &[Prescriber],
        },
        Case {
            name: "read chart",
            method: Method::GET,
            path: format!("/api/v1/clients/{client}"),
            body: None,
            allowed: &[Director, Prescriber, Nurse, Therapist, Coordinator],
        },
        Case {
            name: "list clients",
            method: Method::GET,
            path: "/api/v1/clients?q=li".into(),
            body: None,
            allowed: &[Director, Prescriber, Nurse, Therapist, Coordinator],
        },
        Case {
            name: "register client",
            method: Method::POST,
            path: "/api/v1/clients".into(),
            body: Some(json!({"given_name": "New", "family_name": "Client", "date_of_birth": "1990-01-01"})),
            allowed: &[Prescriber, Nurse, Therapist, Coordinator],
        },
        Case {
            name: "open course",
            method: Method::POST,
            path: format!("/api/v1/clients/{client}/courses"),
            body: Some(
                json!({"protocol": "apa-iv-induction", "started_on": "2026-11-02", "prescriber_id": prescriber_id.to_string()}),
            ),
            allowed: &[Prescriber],
        },
        Case {
            name: "book encounter",
            method: Method::POST,
            path: "/api/v1/encounters".into(),
            body: None, // filled per role below: each booking needs its own time
            allowed: &[Prescriber, Nurse, Therapist, Coordinator],
        },
        Case { name: "add staff", method: Method::POST, path: "/api/v1/staff".into(), body: None, allowed: &[Admin] },
        Case { name: "add site", method: Method::POST, path: "/api/v1/sites".into(), body: None, allowed: &[Admin] },
        Case {
            name: "read directory",
            method: Method::GET,
            path: "/api/v1/staff".into(),
            body: None,
            allowed: &[Admin, Director, Prescriber, Nurse, Therapist, Coordinator],
        },
        Case {
            name: "read course",
            method: Method::GET,
            path: format!("/api/v1/courses/{course}"),
            body: None,
            allowed: readers,
        },
        Case {
            name: "list client courses",
            method: Method::GET,
            path: format!("/api/v1/clients/{client}/courses"),
            body: None,
            allowed: readers,
        },
        Case {
            name: "list encounters",
            method: Method::GET,
            path: format!("/api/v1/encounters?client={client}&from=2031-01-01T00:00:00Z&to=2031-02-28T00:00:00Z"),
            body: None,
            allowed: readers,
        },
        Case {
            name: "read encounter",
            method: Method::GET,
            path: format!("/api/v1/encounters/{enc}"),
            body: None,
            allowed: readers,
        },
        Case {
            name: "update client",
            method: Method::PUT,
            path: format!("/api/v1/clients/{client}"),
            body: Some(json!({"given_name": "Ada", "family_name": "Lin", "date_of_birth": "1985-04-12"})),
            allowed: bookers,
        },
        Case {
            name: "change phase",
            method: Method::POST,
            path: format!("/api/v1/courses/{course}/phase"),
            body: Some(json!({"phase": "preparation"})),
            allowed: &[Prescriber],
        },
        Case {
            name: "assign care team",
            method: Method::PUT,
            path: format!("/api/v1/courses/{course}/care-team"),
            body: Some(json!({"prescriber_id": prescriber_id.to_string()})),
            allowed: &[Prescriber],
        },
        Case {
            name: "check in",
            method: Method::POST,
            path: format!("/api/v1/encounters/{enc}/status"),
            body: Some(json!({"status": "arrived"})),
            allowed: bookers,
        },
        Case {
            name: "reschedule",
            method: Method::PUT,
            path: format!("/api/v1/encounters/{movable}"),
            body: Some(json!({"scheduled_start": "2031-02-02T10:00:00Z", "scheduled_end": "2031-02-02T11:00:00Z"})),
            allowed: bookers,
        },
        Case {
            name: "update staff",
            method: Method::PUT,
            path: format!("/api/v1/staff/{some_staff}"),
            body: None,
            allowed: &[Admin],
        },
        Case {
            name: "set password",
            method: Method::PUT,
            path: format!("/api/v1/staff/{some_staff}/password"),
            body: Some(json!({"password": "a perfectly long password"})),
            allowed: &[Admin],
        },
        Case {
            name: "update site",
            method: Method::PUT,
            path: format!("/api/v1/sites/{site}"),
            body: Some(json!({"name": "Main", "time_zone": "America/Chicago"})),
            allowed: &[Admin],
        },
        Case {
            name: "ledger reconciliation",
            method: Method::GET,
            path: "/api/v1/ledger/reconciliation".into(),
            body: None,
            allowed: &[Director, Prescriber, Nurse],
        },
        Case {
            name: "ledger registrations",
            method: Method::GET,
            path: "/api/v1/ledger/registrations".into(),
            body: None,
            allowed: &[Director, Prescriber, Nurse],
        },
        Case {
            name: "ledger stock",
            method: Method::GET,
            path: "/api/v1/ledger/stock".into(),
            body: None,
            allowed: &[Director, Prescriber, Nurse],
        },
        Case {
            name: "ledger losses",
            method: Method::GET,
            path: "/api/v1/ledger/losses".into(),
            body: None,
            allowed: &[Director, Prescriber, Nurse],
        },
        Case {
            name: "add registration",
            method: Method::POST,
            path: "/api/v1/ledger/registrations".into(),
            body: None,
            allowed: &[Admin, Director],
        },
        Case {
            name: "REMS forms due",
            method: Method::GET,
            path: "/api/v1/rems/due".into(),
            body: None,
            // REMS forms follow the ledger's permission, not the screening's.
            allowed: &[Director, Prescriber, Nurse],
        },
        Case {
            name: "REMS settings",
            method: Method::GET,
            path: "/api/v1/rems/settings".into(),
            body: None,
            allowed: &[Admin, Director, Prescriber, Nurse],
        },
        Case {
            name: "propose schedule",
            method: Method::POST,
            path: "/api/v1/schedule/proposals".into(),
            body: Some(json!({"site_id": site, "start": "2031-03-03", "days": 7})),
            // The README's roles: planning many clients' visits is the coordinator's.
            allowed: &[Coordinator],
        },
        Case {
            name: "client availability",
            method: Method::PUT,
            path: format!("/api/v1/clients/{client}/availability"),
            body: Some(json!({"hours": [{"days": ["mon"], "from": "13:00", "to": "17:00"}]})),
            allowed: bookers,
        },
        Case {
            name: "list groups",
            method: Method::GET,
            path: "/api/v1/groups".into(),
            body: None,
            allowed: &[Director, Prescriber, Nurse, Therapist, Coordinator],
        },
        Case {
            name: "client's groups",
            method: Method::GET,
            path: format!("/api/v1/clients/{client}/groups"),
            body: None,
            allowed: &[Director, Prescriber, Nurse, Therapist, Coordinator],
        },
        Case {
            name: "site hours",
            method: Method::PUT,
            path: format!("/api/v1/sites/{site}/hours"),
            body: Some(json!({"hours": null})),
            allowed: &[Admin],
        },
    ];
    let mut seq = 0;
    for &role in Role::ALL {
        let token = app.token_for(role).await;
        for c in &cases {
            seq += 1;
            let body = match c.name {
                "book encounter" => {
                    booking_hour += 1;
                    Some(json!({
                        "client_id": client, "site_id": site, "kind": "intake",
                        "scheduled_start": format!("2031-01-{:02}T{:02}:00:00Z", 1 + booking_hour / 20, booking_hour % 20),
                        "scheduled_end": format!("2031-01-{:02}T{:02}:30:00Z", 1 + booking_hour / 20, booking_hour % 20),
                    }))
                }
                "add registration" => {
                    // A distinct valid DEA number per call: seven digits, the last the check digit.
                    let d = [1, 2, 3, (seq / 100) % 10, (seq / 10) % 10, seq % 10];
                    let check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10;
                    let dea = format!("AB{}{check}", d.iter().map(|x| x.to_string()).collect::<String>());
                    Some(
                        json!({"site_id": site, "dea_number": dea, "registrant": "Registrant", "address": "1 Test Way"}),
                    )
                }
                "add staff" => {
                    Some(json!({"name": "Someone", "email": format!("someone{seq}@test.kairos"), "roles": ["nurse"]}))
                }
                "add site" => Some(json!({"name": format!("Site {seq}"), "time_zone": "UTC"})),
                "update staff" => Some(
                    json!({"name": "Some Nurse", "email": format!("nurse{seq}@test.kairos"), "roles": ["nurse"], "active": true}),
                ),
                _ => c.body.clone(),
            };
            let r = app.call(c.method.clone(), &c.path, Some(&token), body).await;
            if c.allowed.contains(&role) && STATEFUL.contains(&c.name) {
                assert!(
                    r.status != StatusCode::FORBIDDEN && r.status != StatusCode::UNAUTHORIZED,
                    "{role} should be allowed to {}: {} {}",
                    c.name,
                    r.status,
                    r.body
                );
            } else if c.allowed.contains(&role) {
                assert!(r.status.is_success(), "{role} should be allowed to {}: {} {}", c.name, r.status, r.body);
            } else {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{role} must not {}: {}", c.name, r.body);
                r.problem_field();
            }
        }
    }
}
