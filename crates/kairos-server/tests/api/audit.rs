use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn reads_and_writes_of_a_client_leave_audit_entries_with_who_and_where() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let (c_email, coordinator_id) = app.add_staff(&[Role::Coordinator]).await;
    let coordinator = app.login(&c_email, PASSWORD).await;
    let (t_email, therapist_id) = app.add_staff(&[Role::Therapist]).await;
    let therapist = app.login(&t_email, PASSWORD).await;
    let client = app.create_client(&coordinator, "Ada", "Lin").await;
    app.put(
        &format!("/api/v1/clients/{client}"),
        &coordinator,
        json!({"given_name": "Ada", "family_name": "Lin", "date_of_birth": "1985-04-12", "pronouns": "she/her"}),
    )
    .await;
    assert_eq!(app.get(&format!("/api/v1/clients/{client}"), &therapist).await.status, StatusCode::OK);

    let log = app.get(&format!("/api/v1/audit?client={client}"), &admin).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let items = log.body["items"].as_array().expect("items");
    let find = |action: &str| {
        items.iter().find(|e| e["action"] == action).unwrap_or_else(|| panic!("no {action} entry: {items:?}"))
    };
    let create = find("create");
    assert_eq!(create["actor_id"], coordinator_id.to_string());
    assert_eq!(create["actor_roles"], "coordinator");
    assert_eq!(create["record_type"], "client");
    assert_eq!(create["record_id"], client);
    assert_eq!(create["remote_addr"], "127.0.0.1");
    assert_eq!(find("update")["actor_id"], coordinator_id.to_string());
    let read = find("read");
    assert_eq!(read["actor_id"], therapist_id.to_string());
    assert_eq!(read["remote_addr"], "127.0.0.1");
    // Newest first.
    assert_eq!(items[0]["action"], "read");
}

#[tokio::test]
async fn sign_ins_and_failures_are_audited() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let (email, _) = app.add_staff(&[Role::Nurse]).await;
    let _ = app
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": "nope nope nope"})),
        )
        .await;
    app.login(&email, PASSWORD).await;
    let log = app.get("/api/v1/audit?limit=200", &admin).await;
    let actions: Vec<(&str, &str)> = log.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["record_id"] == email.as_str())
        .map(|e| (e["action"].as_str().unwrap_or(""), e["record_type"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        actions,
        [
            ("login", "staff_login"),
            ("login_attempt", "staff_login"),
            ("login_failed", "staff_login"),
            ("login_attempt", "staff_login")
        ]
    );
}

#[tokio::test]
async fn the_reviewer_filters_the_log_by_client_name_staff_action_and_dates_and_exports_it() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    app.post("/api/v1/sites", &admin, json!({ "name": "Harbour", "time_zone": "America/New_York" })).await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let robin = app.create_client(&coordinator, "Robin", "Okafor").await;
    app.create_client(&coordinator, "Maria", "Vale").await;
    app.create_client(&coordinator, "Maria", "Vance").await;
    let (therapist_email, therapist) = app.add_staff(&[Role::Therapist]).await;
    let token = app.login(&therapist_email, PASSWORD).await;
    assert_eq!(app.get(&format!("/api/v1/clients/{robin}"), &token).await.status, StatusCode::OK);
    let (admin_email, _) = app.add_staff(&[Role::Admin]).await;
    let web = web_session(&app, &admin_email).await;
    let get = |path: String| {
        let web = web.clone();
        let base = app.base.clone();
        async move {
            let r = web.get(format!("{base}{path}")).send().await.expect("get");
            (
                r.status(),
                r.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_string()),
                r.text().await.expect("body"),
            )
        }
    };

    // By name: one match filters on that client, named, in the practice's time.
    let (status, _, html) = get("/admin/audit?client=okaf".into()).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("about Robin Okafor (born") && html.contains("times in America/New_York"), "{html}");
    assert!(html.contains("<td>Robin Okafor</td>") && !html.contains("Maria"), "{html}");
    assert!(html.contains(" EST</td>") || html.contains(" EDT</td>"), "local times: {html}");
    // Several matches: the reviewer picks one.
    let (_, _, html) = get("/admin/audit?client=Maria".into()).await;
    assert!(
        html.contains("Several clients match")
            && html.contains("Maria Vale (born")
            && html.contains("Maria Vance (born"),
        "{html}"
    );
    // By staff member and action.
    let (_, _, html) = get(format!("/admin/audit?staff={therapist}&action=read")).await;
    assert!(
        html.contains("<td>read</td>") && !html.contains("<td>create</td>") && !html.contains("<td>login</td>"),
        "{html}"
    );
    // The same by a part of the name (a practice too large for a list):
    // one match filters; several, or none, say so naming the field.
    let (_, _, by_name) = get("/admin/audit?staff=test+therapist&action=read".into()).await;
    assert!(by_name.contains("<td>read</td>") && !by_name.contains("<td>create</td>"), "{by_name}");
    let (status, _, html) = get("/admin/audit?staff=Test".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("staff members match “Test”") && html.contains("type more of the name"), "{html}");
    let (_, _, html) = get("/admin/audit?staff=Nobody".into()).await;
    assert!(
        html.contains("staff: no staff member&#39;s name contains “Nobody”")
            || html.contains("staff: no staff member's name contains “Nobody”"),
        "{html}"
    );
    // By dates: nothing in 2030; a bad date names the field.
    let (_, _, html) = get("/admin/audit?from=2030-01-01".into()).await;
    assert!(html.contains("0 entries"), "{html}");
    let (status, _, html) = get("/admin/audit?from=01/02/2026".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("from: give the date as YYYY-MM-DD"), "{html}");

    // CSV with the same filters; the export is itself on the log.
    let (status, media, csv) = get("/admin/audit.csv?client=okaf".into()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(media.as_deref(), Some("text/csv; charset=utf-8"));
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("at_utc,at_local,who,action,record_type,record_id,client_id,client,from,detail"));
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty() && rows.iter().all(|l| l.contains(&robin) && l.contains("Robin Okafor")), "{csv}");
    let log = app.get("/api/v1/audit?action=list&limit=200", &admin).await;
    assert!(log.body.to_string().contains(&format!("exported {} entries", rows.len())), "{}", log.body);
    // The API holds the same filters.
    let reads = app.get(&format!("/api/v1/audit?actor={therapist}&action=read"), &admin).await;
    let items = reads.body["items"].as_array().expect("items");
    assert!(!items.is_empty() && items.iter().all(|e| e["action"] == "read"), "{}", reads.body);
    let r = app.get("/api/v1/audit?action=delete", &admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.problem_field(), Some("action"));
}

#[tokio::test]
async fn the_audit_log_carries_coded_actions_and_ids_never_scores_doses_or_a_clients_e_mail() {
    let app = spawn_app().await;
    let admin = app.token_for(Role::Admin).await;
    let c = crate::ledger::clinic(&app, 1, "apa_iv_induction").await;
    let client = &c.clients[0];
    // A PHQ-9 of 17 with item 9 answered, a dose of 36.3 mg with its vitals.
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/measures"),
            &c.nurse,
            json!({ "instrument": "phq9", "answers": [2, 2, 2, 2, 2, 2, 2, 2, 1] }),
        )
        .await;
    assert_eq!((r.status, r.body["score"].as_i64()), (StatusCode::CREATED, Some(17)), "{}", r.body);
    let mut body = crate::ledger::start_with_stock(&c.stock, None);
    body["self_harm_review"] = json!("Passive thoughts, no plan; safety plan reviewed");
    let r = app.post(&format!("/api/v1/encounters/{}/dosing-session", c.encounters[0]), &c.nurse, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let session = r.body["id"].as_str().expect("session").to_string();
    let r = app
        .post(
            &format!("/api/v1/dosing-sessions/{session}/vitals"),
            &c.nurse,
            json!({ "vitals": { "systolic": 186, "diastolic": 104, "heart_rate": 96 } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // A failed portal sign-in with a client's address.
    let web = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let form = [("email", "rowan.private@example.test"), ("password", "not the password")];
    web.post(format!("{}/portal/login", app.base)).form(&form).send().await.expect("login");

    // The client's entries, and the sign-in entries (each fits a page).
    let mut items = Vec::new();
    for q in [format!("client={client}"), "action=login_attempt".into(), "action=login_failed".into()] {
        let log = app.get(&format!("/api/v1/audit?{q}&limit=200"), &admin).await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.body);
        assert!(log.body["total"].as_i64().is_some_and(|t| t < 200), "one page: {}", log.body["total"]);
        items.extend(log.body["items"].as_array().expect("items").iter().cloned());
    }
    let text = serde_json::to_string(&items).expect("json");
    // 36.3 mg is 0.726 mL of the 50 mg/mL vial: the ledger's audit entry
    // does not give it either.
    for leak in ["score", "36.3", "0.726", " mg", "alert(s)", "rowan.private", "safety plan"] {
        assert!(!text.contains(leak), "the audit log shows `{leak}`: {text}");
    }
    let detail = |t: &str| items.iter().find(|e| e["record_type"] == t).map(|e| e["detail"].clone());
    assert_eq!(detail("measure"), Some(json!("phq9")), "which instrument, coded");
    assert!(
        items.iter().any(|e| e["record_type"] == "dosing_session" && e["detail"] == "started"),
        "the dose is audited as started: {text}"
    );
    let portal: Vec<&serde_json::Value> = items.iter().filter(|e| e["record_type"] == "portal_login").collect();
    assert!(portal.len() >= 2, "the attempt and its failure: {text}");
    let key = kairos_server::api::portal::portal_login_key(" Rowan.Private@example.test ");
    assert!(portal.iter().all(|e| e["record_id"] == key.as_str()), "one digest per address: {portal:?}");
}

#[tokio::test]
async fn the_audit_page_shows_the_chain_verification() {
    let app = spawn_app().await;
    let (admin_email, _) = app.add_staff(&[Role::Admin]).await;
    let web = web_session(&app, &admin_email).await;
    let page = || async {
        web.get(format!("{}/admin/audit", app.base)).send().await.expect("get").text().await.expect("body")
    };
    // Verified when the server started.
    let html = page().await;
    assert!(html.contains("id=\"chain-status\">Intact: the chain of the audit log was verified on"), "{html}");
    assert!(html.contains("checked from the latest checkpoint"), "{html}");

    // An entry changed behind the server's back: the next verification
    // names it on the page.
    app.store.seal_audit().await.expect("seal");
    let pool = app.store.pool();
    let (id,): (String,) = sqlx::query_as("SELECT entry_id FROM audit_chain WHERE log = 'main' AND seq = 1")
        .fetch_one(pool)
        .await
        .expect("first link");
    let drop_trigger = match app.store.backend() {
        kairos_store::Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
        kairos_store::Backend::Postgres => "DROP TRIGGER audit_log_no_update ON audit_log",
    };
    sqlx::query(drop_trigger).execute(pool).await.expect("drop trigger");
    sqlx::query("UPDATE audit_log SET remote_addr = '198.51.100.9' WHERE id = $1")
        .bind(id.clone())
        .execute(pool)
        .await
        .expect("tamper");
    let report = app.store.verify_audit(true).await.expect("verify").expect("a chain");
    assert!(!report.ok());
    let html = page().await;
    assert!(html.contains("BROKEN: the audit log was changed outside Kairos"), "{html}");
    assert!(html.contains(&format!("first broken entry: log main (database), entry {id} at position 1")), "{html}");
    assert!(html.contains("every entry checked"), "{html}");
}
