//! Request extractors: JSON bodies that report the failing field, and the
//! signed-in staff member.

use crate::error::AppError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use kairos_domain::roles::Permission;
use kairos_domain::staff::Staff;
use kairos_store::Actor;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// A JSON body. Malformed JSON is a 400 naming the line and column; a
/// missing, mistyped or unknown field is a 422 naming the field.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json") || m.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(AppError::Unsupported("send the body as `Content-Type: application/json`".into()));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| AppError::BadRequest { field: None, detail: format!("could not read the body: {e}") })?;
        // Every body is a JSON object (serde would also read a struct from
        // an array of its fields in order, which no document promises).
        if bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b != b'{') {
            return Err(AppError::Unprocessable {
                field: None,
                detail: "the body must be a JSON object, such as {\"field\": \"value\"}".into(),
            });
        }
        parse_json(&bytes).map(Json)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) if err.inner().to_string().starts_with("invalid type: floating point") => {
            // JSON has one kind of number: `3.0` is the whole number 3 (as
            // JSON Schema's `integer` says), so a whole-valued float is read
            // again as an integer. Only a body that failed this way pays
            // for the second reading.
            let mut value: serde_json::Value = serde_json::from_slice(bytes)
                .map_err(|e| AppError::BadRequest { field: None, detail: format!("malformed JSON: {e}") })?;
            whole_floats_as_integers(&mut value);
            serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
                let path = e.path().to_string();
                data_error(path, e.into_inner().to_string())
            })
        }
        Err(err) => Err(refused(err)),
    }
}

fn refused(err: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    use serde_json::error::Category;
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            AppError::BadRequest { field: None, detail: format!("malformed JSON: {inner}") }
        }
        Category::Data => data_error(path, inner.to_string()),
    }
}

/// A missing, mistyped or unknown field: 422 naming it.
fn data_error(path: String, msg: String) -> AppError {
    // Unknown and missing fields name themselves in the message.
    let field = named_field(&msg)
        .map(|f| match path.as_str() {
            "." => f,
            p if p == f || p.ends_with(&format!(".{f}")) => p.to_string(),
            p => format!("{p}.{f}"),
        })
        .unwrap_or(path);
    let detail = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    AppError::Unprocessable { field: Some(field.clone()), detail: format!("{field}: {detail}") }
}

/// Every float with no fractional part that fits an integer becomes that
/// integer.
fn whole_floats_as_integers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                *v = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_floats_as_integers),
        Value::Object(map) => map.values_mut().for_each(whole_floats_as_integers),
        _ => {}
    }
}

fn named_field(msg: &str) -> Option<String> {
    for prefix in ["unknown field `", "missing field `"] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    None
}

/// The signed-in staff member, from a bearer token (or, for reads, the
/// session cookie of the web UI).
#[derive(Debug, Clone)]
pub struct Auth {
    pub staff: Staff,
    pub token: String,
    pub remote_addr: Option<String>,
}

impl Auth {
    /// 403 unless one of the staff member's roles grants `p`.
    pub fn require(&self, p: Permission) -> Result<(), AppError> {
        if self.staff.roles.allow(p) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("your role ({}) may not {}", self.staff.roles.to_list(), p.describe())))
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            staff_id: Some(self.staff.id),
            roles: self.staff.roles.to_list(),
            remote_addr: self.remote_addr.clone(),
        }
    }
}

pub fn remote_addr(parts: &Parts) -> Option<String> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

pub fn bearer_token(parts: &Parts) -> Option<String> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string()).filter(|t| !t.is_empty())
}

pub fn cookie_token(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // The cookie is honoured only for safe methods: a state change through
        // the API must carry the bearer token, which a forged cross-site form
        // cannot.
        let token = bearer_token(parts)
            .or_else(|| {
                matches!(parts.method, Method::GET | Method::HEAD)
                    .then(|| cookie_token(parts, crate::auth::cookie_name(state)))
                    .flatten()
            })
            .ok_or(AppError::Unauthenticated)?;
        let info =
            state.store.authenticate_session(&token, &state.config.session).await?.ok_or(AppError::Unauthenticated)?;
        if !info.mfa_enrolled
            && crate::mfa::required(state, &info.staff)
            && !crate::access::allowed_before_second_factor(parts)
        {
            return Err(AppError::Forbidden(format!(
                "your role ({}) signs in in two steps here: set up two-step sign-in first \
                 (POST /api/v1/me/mfa, then POST /api/v1/me/mfa/confirm, or on the Account page)",
                info.staff.roles.to_list()
            )));
        }
        crate::access::check(parts, &info.staff)?;
        Ok(Auth { staff: info.staff, token, remote_addr: remote_addr(parts) })
    }
}

/// Query-string parameters; a bad value is a 400 naming the parameter.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|err| {
            let path = err.path().to_string();
            let msg = err.into_inner().to_string();
            let field = named_field(&msg).unwrap_or(path);
            AppError::BadRequest { field: Some(field.clone()), detail: format!("query parameter {field}: {msg}") }
        })
    }
}

/// The peer address of the connection, when known.
pub struct RemoteAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RemoteAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RemoteAddr(remote_addr(parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Body {
        hours: u32,
        readings: Vec<u16>,
        mg: f64,
    }

    #[test]
    fn a_whole_number_written_with_a_decimal_point_is_a_whole_number() {
        let b: Body = parse_json(br#"{"hours": 48.0, "readings": [120, 80.0], "mg": 35.0}"#).expect("read");
        assert_eq!((b.hours, b.readings, b.mg), (48, vec![120, 80], 35.0));
    }

    #[test]
    fn a_fraction_where_a_whole_number_is_expected_is_refused_by_name() {
        let e = parse_json::<Body>(br#"{"hours": 48, "readings": [120, 80.5], "mg": 35.5}"#).expect_err("a fraction");
        match e {
            AppError::Unprocessable { field, detail } => {
                assert_eq!(field.as_deref(), Some("readings[1]"));
                assert!(detail.contains("80.5"), "{detail}");
            }
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        assert!(matches!(parse_json::<Body>(b"{\"hours\": 1.0,"), Err(AppError::BadRequest { .. })));
    }
}
