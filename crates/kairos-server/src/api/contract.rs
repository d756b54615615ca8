//! Completes the OpenAPI document with what every operation can answer
//! besides its own responses, from the same declarations the server
//! enforces: 401 where a sign-in is needed, 403 where a permission is,
//! 404 for a path id that names no record, 400/415/422 for a body or query
//! that does not parse, 429 for sign-in throttling, 503 when the database or
//! the audit log is briefly unavailable. Every error is documented as
//! `application/problem+json`, which is what the server sends.

use crate::access::{API, Access};
use serde_json::{Map, Value, json};

const PROBLEM: &str = "application/problem+json";

fn problem(description: &str) -> Value {
    json!({ "description": description, "content": { PROBLEM: { "schema": { "$ref": "#/components/schemas/Problem" } } } })
}

/// The document as served.
pub fn complete(mut doc: Value) -> Value {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return doc };
    for (path, item) in paths.iter_mut() {
        let api_path = path.strip_prefix("/api/v1").unwrap_or(path);
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else { continue };
            let upper = method.to_uppercase();
            let access = API.iter().find(|d| d.method == upper && d.path == api_path).map(|d| d.access);
            let has_body = op.contains_key("requestBody");
            let has_query = op
                .get("parameters")
                .and_then(Value::as_array)
                .is_some_and(|ps| ps.iter().any(|p| p.get("in").and_then(Value::as_str) == Some("query")));
            let responses = op.entry("responses").or_insert_with(|| Value::Object(Map::new()));
            let Some(responses) = responses.as_object_mut() else { continue };
            // Errors are problem documents.
            for (_, r) in responses.iter_mut() {
                if let Some(content) = r.get_mut("content").and_then(Value::as_object_mut)
                    && let Some(json) = content.get("application/json")
                    && json.pointer("/schema/$ref").and_then(Value::as_str) == Some("#/components/schemas/Problem")
                {
                    let json = json.clone();
                    content.remove("application/json");
                    content.insert(PROBLEM.into(), json);
                }
            }
            let mut add = |code: &str, description: &str| {
                responses.entry(code.to_string()).or_insert_with(|| problem(description));
            };
            match access {
                Some(Access::Public) | None => {}
                Some(Access::Client) => add("401", "no portal session: sign in through the portal"),
                Some(Access::SignedIn) => add("401", "no valid session: sign in first"),
                Some(Access::Needs(_)) => {
                    add("401", "no valid session: sign in first");
                    add("403", "the caller's role (or relation to the record) does not allow this");
                }
            }
            if path.contains('{') {
                add("404", "no record with that id");
            }
            if has_body {
                add("400", "the body is not well-formed JSON");
                add("415", "the body is not sent as application/json");
                add("422", "a field is missing, of the wrong type or refused; `field` names it");
            }
            if has_query {
                add("400", "a query parameter does not parse; `field` names it");
            }
            if api_path == "/auth/login" {
                add("429", "too many sign-in attempts; try again later");
            }
            add("503", "the service is briefly unavailable; nothing was changed, try again");
        }
    }
    doc
}
