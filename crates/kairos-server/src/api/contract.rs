//! Completes the OpenAPI document with what every operation can answer
//! besides its own responses, from the same declarations the server
//! enforces: 401 where a sign-in is needed, 403 where a permission is,
//! 404 for a path id that names no record, 400/415/422 for a body or query
//! that does not parse, 429 for sign-in throttling (a sign-in, or a witness
//! signing with their password), 503 when the database or
//! the audit log is briefly unavailable. Every error is documented as
//! `application/problem+json`, which is what the server sends.
//!
//! It also rewrites one shape the generator gets wrong: a struct that
//! flattens a closed struct (`deny_unknown_fields`) comes out as an `allOf`
//! of two objects, each forbidding the other's properties, which no value
//! satisfies. Such a composition is replaced by the one object the server
//! actually reads and writes: the members' properties together, closed.

use crate::access::{API, Access};
use serde_json::{Map, Value, json};

const PROBLEM: &str = "application/problem+json";

fn problem(description: &str) -> Value {
    json!({ "description": description, "content": { PROBLEM: { "schema": { "$ref": "#/components/schemas/Problem" } } } })
}

/// The document as served.
pub fn complete(mut doc: Value) -> Value {
    let components = doc.pointer("/components/schemas").cloned().unwrap_or(Value::Null);
    merge_closed_compositions(&mut doc, &components);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return doc };
    for (path, item) in paths.iter_mut() {
        let api_path = path.strip_prefix("/api/v1").unwrap_or(path);
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else { continue };
            let upper = method.to_uppercase();
            let access = API.iter().find(|d| d.method == upper && d.path == api_path).map(|d| d.access);
            let has_body = op.contains_key("requestBody");
            // A witness signs with their own password, throttled as a sign-in.
            let takes_witnesses = op
                .get("requestBody")
                .and_then(|b| b.pointer("/content/application~1json/schema/$ref"))
                .and_then(Value::as_str)
                .and_then(|r| components.get(r.strip_prefix("#/components/schemas/")?))
                .is_some_and(|s| s.pointer("/properties/witnesses").is_some());
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
                add("422", "a query parameter is refused (an unknown instrument, an empty period); `field` names it");
            }
            if api_path == "/auth/login" {
                add("429", "too many sign-in attempts; try again later");
            } else if takes_witnesses {
                add("429", "too many wrong passwords for a witness; try again later");
            }
            add("503", "the service is briefly unavailable; nothing was changed, try again");
        }
    }
    doc
}

/// Replaces every `allOf` that has a closed member (`additionalProperties:
/// false`) with the single closed object it stands for.
fn merge_closed_compositions(node: &mut Value, components: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(merged) = map.get("allOf").and_then(Value::as_array).and_then(|all| merged(all, components)) {
                map.remove("allOf");
                for (k, v) in merged {
                    map.entry(k).or_insert(v);
                }
            }
            for v in map.values_mut() {
                merge_closed_compositions(v, components);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| merge_closed_compositions(v, components)),
        _ => {}
    }
}

/// The members of `all` as one object, or `None` when none is closed or a
/// member is not a plain object schema.
fn merged(all: &[Value], components: &Value) -> Option<Map<String, Value>> {
    let mut members = Vec::new();
    for m in all {
        let m = match m.get("$ref").and_then(Value::as_str) {
            Some(r) => components.get(r.strip_prefix("#/components/schemas/")?)?,
            None => m,
        };
        let plain = m.get("type").and_then(Value::as_str) == Some("object")
            && ["allOf", "oneOf", "anyOf", "discriminator"].iter().all(|k| m.get(k).is_none());
        if !plain {
            return None;
        }
        members.push(m);
    }
    if !members.iter().any(|m| m.get("additionalProperties") == Some(&Value::Bool(false))) {
        return None;
    }
    let (mut properties, mut required) = (Map::new(), Vec::new());
    for m in &members {
        if let Some(p) = m.get("properties").and_then(Value::as_object) {
            properties.extend(p.clone());
        }
        for r in m.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !required.contains(r) {
                required.push(r.clone());
            }
        }
    }
    let mut out = Map::new();
    out.insert("type".into(), json!("object"));
    out.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    out.insert("additionalProperties".into(), Value::Bool(false));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_flattened_struct_becomes_one_closed_object() {
        let doc = json!({
            "components": { "schemas": {
                "Body": { "type": "object", "additionalProperties": false,
                          "properties": { "summary": { "type": "string" } }, "required": ["summary"] },
                "Input": { "description": "A note.", "allOf": [
                    { "$ref": "#/components/schemas/Body" },
                    { "type": "object", "properties": { "kind": { "type": "string" } }, "required": ["kind"] }
                ] }
            } }
        });
        let out = complete(doc);
        let input = &out["components"]["schemas"]["Input"];
        assert!(input.get("allOf").is_none(), "{input}");
        assert_eq!(input["description"], "A note.");
        assert_eq!(input["additionalProperties"], false);
        assert_eq!(input["required"], json!(["summary", "kind"]));
        assert!(input["properties"]["summary"].is_object() && input["properties"]["kind"].is_object());
    }

    #[test]
    fn an_open_composition_is_left_alone() {
        let doc = json!({ "components": { "schemas": {
            "A": { "type": "object", "properties": { "a": { "type": "string" } } },
            "B": { "allOf": [ { "$ref": "#/components/schemas/A" }, { "type": "object", "properties": { "b": {} } } ] }
        } } });
        let out = complete(doc.clone());
        assert_eq!(out["components"]["schemas"]["B"], doc["components"]["schemas"]["B"]);
    }
}
