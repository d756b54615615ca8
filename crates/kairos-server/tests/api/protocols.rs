//! The protocol library through the API and its pages.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;

#[tokio::test]
async fn the_protocol_library_cites_the_real_papers_and_shows_weaknesses_and_a_plan() {
    let app = spawn_app().await;
    let coordinator = app.token_for(Role::Coordinator).await;
    let r = app.get("/api/v1/protocols", &coordinator).await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.body.as_array().expect("list");
    assert!(list.len() >= 7, "{}", list.len());
    let wet = list.iter().find(|p| p["id"] == "ketamine_wet_ptsd").expect("Feder protocol");
    assert!(wet["citation"].as_str().unwrap_or("").contains("Feder"), "{}", wet["citation"]);
    assert!(!wet["citation"].as_str().unwrap_or("").contains("Wilkinson"), "not the mis-cited author");
    assert_eq!(wet["doses"]["count"], 6);
    assert!(wet["sessions"].as_array().is_some_and(|s| !s.is_empty()));
    let review = app.get("/api/v1/protocols/ketamine_weekly_psychotherapy", &coordinator).await;
    assert_eq!(review.body["evidence"][0]["design"], "retrospective_chart_review");
    assert_eq!(app.get("/api/v1/protocols/nope", &coordinator).await.status, StatusCode::NOT_FOUND);

    let (email, _) = app.add_staff(&[Role::Therapist]).await;
    let web = web_session(&app, &email).await;
    let html = web
        .get(format!("{}/protocols/ketamine_wet_ptsd", app.base))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("Weaknesses") && html.contains("Sample plan") && html.contains("non-dosing days only"),
        "{html}"
    );
    let html = web.get(format!("{}/protocols", app.base)).send().await.expect("get").text().await.expect("html");
    assert!(html.contains("retrospective chart review (not a trial)"));
}
