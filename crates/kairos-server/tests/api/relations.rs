//! The relation half of the permission walk: every route (API and page)
//! that declares a relation to its record is called by each holder of the
//! relation and by a caller with the same role who does not hold it. A
//! change by a non-holder is refused (403); a read shows a non-holder no
//! more than the declaration allows.

use crate::helpers::*;
use jiff::civil::{Date, Weekday};
use jiff::{SignedDuration, Timestamp, ToSpan};
use kairos_domain::roles::Role;
use kairos_server::access::{API, Declared, Relation};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Text that only the note's author and their supervisor may read.
const PRIVATE: &str = "Saw the lighthouse again and felt safe";

struct Caller {
    name: &'static str,
    token: String,
    web: reqwest::Client,
}

async fn caller(app: &TestApp, name: &'static str) -> (Caller, String) {
    let (email, id) = app.add_staff(&[Role::Therapist]).await;
    let token = app.login(&email, PASSWORD).await;
    let web = web_session(app, &email).await;
    (Caller { name, token, web }, id.to_string())
}

/// The Tuesday `weeks` weeks from today in New York (before, if negative).
fn tuesday(weeks: i64) -> Date {
    let mut d = Timestamp::now().to_zoned(jiff::tz::TimeZone::get("America/New_York").expect("tz")).date();
    d = d.checked_add((weeks * 7).days()).expect("date");
    while d.weekday() != Weekday::Tuesday {
        d = d.checked_add(1.day()).expect("date");
    }
    d
}

#[tokio::test]
async fn every_route_with_a_relation_lets_its_holders_in_and_keeps_others_out() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let (author, author_id) = caller(&app, "the author and facilitator").await;
    let (supervisor, supervisor_id) = caller(&app, "the author's supervisor").await;
    let (stranger, _) = caller(&app, "another therapist").await;
    let r = app
        .put(&format!("/api/v1/staff/{supervisor_id}/supervisees"), &admin, json!({ "therapist_ids": [author_id] }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let site = app.post("/api/v1/sites", &admin, json!({ "name": "Harbour", "time_zone": "America/New_York" })).await;
    let site = site.body["id"].as_str().expect("site").to_string();
    let room = app
        .post(&format!("/api/v1/sites/{site}/rooms"), &admin, json!({ "name": "Circle", "kind": "group_room" }))
        .await;
    let room = room.body["id"].as_str().expect("room").to_string();
    let client = app.create_client(&coordinator, "Ines", "Moreau").await;
    let at = |h: i64| (Timestamp::now() + SignedDuration::from_hours(h)).to_string();
    let enc = app
        .post(
            "/api/v1/encounters",
            &coordinator,
            json!({ "client_id": client, "site_id": site, "kind": "integration", "staff_id": author_id,
                    "scheduled_start": at(-3), "scheduled_end": at(-2) }),
        )
        .await;
    assert_eq!(enc.status, StatusCode::CREATED, "{}", enc.body);
    let enc = enc.body["id"].as_str().expect("encounter").to_string();
    let note_body = json!({ "encounter_id": enc, "kind": "integration",
        "sections": { "experience": PRIVATE, "plan": "Journal each morning" }, "summary": "Integration session: engaged" });
    let note = app.post(&format!("/api/v1/clients/{client}/notes"), &author.token, note_body.clone()).await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.body);
    let note = note.body["id"].as_str().expect("note").to_string();
    // A signed note for the reads (a draft is its author's alone).
    let signed = app.post(&format!("/api/v1/clients/{client}/notes"), &author.token, note_body.clone()).await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.body);
    let signed = signed.body["id"].as_str().expect("note").to_string();
    let r = app.post(&format!("/api/v1/notes/{signed}/sign"), &author.token, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let group = app
        .post(
            "/api/v1/groups",
            &coordinator,
            json!({ "name": "Tuesday circle", "site_id": site, "room_id": room, "facilitator_ids": [author_id],
                    "slots": [{ "day": "tuesday", "start": "18:00", "minutes": 90 }], "capacity": 8,
                    "enrolment": "open", "eligible_phases": ["integration", "maintenance"] }),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let group = group.body["id"].as_str().expect("group").to_string();
    let session =
        app.post(&format!("/api/v1/groups/{group}/sessions"), &coordinator, json!({ "date": tuesday(-1) })).await;
    assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
    let session = session.body[0]["id"].as_str().expect("session").to_string();

    // Every declared relation, API and pages alike.
    let routes: Vec<(bool, Declared)> = API
        .iter()
        .filter(|d| d.relation.is_some())
        .map(|d| (true, Declared { path: Box::leak(format!("/api/v1{}", d.path).into_boxed_str()), ..*d }))
        .chain(kairos_server::ui::ROUTES.iter().filter(|d| d.relation.is_some()).map(|d| (false, *d)))
        .collect();
    let fill = |method: &str, path: &str| {
        let id = if path.contains("/clients/") {
            &client
        } else if path.contains("/encounters/") {
            &enc
        } else if path.contains("/groups/") {
            &group
        } else if method == "GET" {
            &signed
        } else {
            &note
        };
        path.replace("{id}", id).replace("{sid}", &session)
    };
    // A body each route accepts, so that only the relation can refuse it.
    let api_body = |d: &Declared| match (d.method, d.path) {
        ("POST", p) if p.ends_with("/notes") => Some(note_body.clone()),
        ("PUT", "/api/v1/notes/{id}") => Some(json!({ "sections": { "experience": PRIVATE }, "summary": "Engaged" })),
        ("POST", p) if p.ends_with("/amendments") => {
            Some(json!({ "correction": "Met for 50 minutes", "reason": "Typo" }))
        }
        ("PUT", p) if p.ends_with("/attendance") => Some(json!({ "marks": [] })),
        ("PUT", p) if p.ends_with("/notes") => Some(json!({ "group_note": "Grounding exercise" })),
        _ => None,
    };
    let page_form = |d: &Declared| -> Vec<(&str, String)> {
        match d.path {
            "/encounters/{id}/notes" => vec![("kind", "integration".into())],
            "/notes/{id}" => {
                vec![("kind", "integration".into()), ("action", "save".into()), ("experience", PRIVATE.into())]
            }
            "/notes/{id}/amendments" => vec![("correction", "Met for 50 minutes".into()), ("reason", "Typo".into())],
            _ => vec![("action", "save".into()), ("group_note", "Grounding exercise".into())],
        }
    };
    let send = |c: &Caller, api: bool, d: &Declared| {
        let method = Method::from_bytes(d.method.as_bytes()).expect("method");
        let url = format!("{}{}", app.base, fill(d.method, d.path));
        let mut req = c.web.request(method.clone(), &url);
        if api {
            req = req.bearer_auth(&c.token);
            if let Some(b) = api_body(d) {
                req = req.json(&b);
            }
        } else if method == Method::POST {
            req = req.form(&page_form(d));
        }
        async move {
            let res = req.send().await.expect("request");
            let status = res.status();
            (status, res.text().await.unwrap_or_default())
        }
    };

    // Changes by holders come last (signing would close the draft).
    let mut order = routes.clone();
    order.sort_by_key(|(_, d)| (d.path.ends_with("/sign"), d.path.ends_with("/amendments")));
    let mut failures = Vec::new();
    for (api, d) in &order {
        let relation = d.relation.expect("relation");
        let holders: Vec<&Caller> = match relation {
            Relation::NoteAuthorOrSupervisor => vec![&author, &supervisor],
            Relation::NoteAuthor | Relation::SessionTherapist | Relation::Facilitator => vec![&author],
        };
        let what = format!("{} {}", d.method, d.path);
        let (status, body) = send(&stranger, *api, d).await;
        let read = d.method == "GET";
        match relation {
            // Reads of notes: the summary line for others, never the text.
            Relation::NoteAuthorOrSupervisor if read => {
                if status != StatusCode::OK || body.contains(PRIVATE) {
                    failures.push(format!(
                        "{what}: {} saw {status} with the note's text: {}",
                        stranger.name,
                        body.contains(PRIVATE)
                    ));
                }
            }
            _ => {
                if status != StatusCode::FORBIDDEN {
                    failures.push(format!("{what}: {} was let through ({status})", stranger.name));
                }
            }
        }
        for h in holders {
            let (status, body) = send(h, *api, d).await;
            if status == StatusCode::FORBIDDEN || status.is_server_error() {
                failures.push(format!("{what}: {} was refused ({status})", h.name));
            } else if read && relation == Relation::NoteAuthorOrSupervisor && !body.contains(PRIVATE) {
                failures.push(format!("{what}: {} did not see the note's text ({status})", h.name));
            }
        }
    }
    let (api_count, pages) = (routes.iter().filter(|(a, _)| *a).count(), routes.iter().filter(|(a, _)| !*a).count());
    eprintln!(
        "routes with a relation walked: {api_count} API operations + {pages} pages, each by its holders and by a non-holder"
    );
    assert!(api_count >= 9 && pages >= 6, "the relation declarations went missing: {api_count} API, {pages} pages");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
