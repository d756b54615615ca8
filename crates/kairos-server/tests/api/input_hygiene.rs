//! Input that would mislead a reader is refused at the door, naming the
//! field: names carrying bidirectional overrides or invisible characters,
//! and a questionnaire dated before the client was born.

use crate::helpers::*;
use kairos_domain::roles::Role;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_name_with_a_direction_override_or_an_invisible_character_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let nurse = app.token_for(Role::Nurse).await;
    for (given, family, field) in [
        ("Ana", "\u{202E}nomiS", "family_name"),
        ("Ro\u{200B}bin", "Okafor", "given_name"),
        ("\u{FEFF}Lee", "Park", "given_name"),
    ] {
        let r = app
            .post(
                "/api/v1/clients",
                &nurse,
                json!({ "given_name": given, "family_name": family, "date_of_birth": "1980-01-01" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{given} {family}: {}", r.body);
        assert_eq!(r.problem_field(), Some(field), "{}", r.body);
    }
    assert_eq!(app.client_count().await, 0, "nothing was written");
    // A Persian name with a zero-width non-joiner inside the word is a name.
    let r = app
        .post(
            "/api/v1/clients",
            &nurse,
            json!({ "given_name": "Mohammad\u{200C}reza", "family_name": "Karimi", "date_of_birth": "1980-01-01" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn a_questionnaire_dated_before_the_clients_birth_is_refused() {
    let app = spawn_app().await;
    let nurse = app.token_for(Role::Nurse).await;
    // Born 1985-04-12 (the helper's date of birth).
    let client = app.create_client(&nurse, "Pia", "Born").await;
    let path = format!("/api/v1/clients/{client}/measures");
    let body = |at: &str| json!({ "instrument": "gad7", "answers": [1, 1, 1, 1, 1, 1, 1], "completed_at": at });
    let r = app.post(&path, &nurse, body("1985-04-11T12:00:00Z")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.problem_field(), Some("completed_at"));
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("before the client's date of birth")), "{}", r.body);
    let r = app.post(&path, &nurse, body("2020-04-11T12:00:00Z")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}
