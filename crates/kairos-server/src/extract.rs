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
        parse_json(&bytes).map(Json)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            use serde_json::error::Category;
            match inner.classify() {
                Category::Syntax | Category::Eof | Category::Io => {
                    Err(AppError::BadRequest { field: None, detail: format!("malformed JSON: {inner}") })
                }
                Category::Data => {
                    let msg = inner.to_string();
                    // Unknown and missing fields name themselves in the message.
                    let field = named_field(&msg)
                        .map(|f| match path.as_str() {
                            "." => f,
                            p if p == f || p.ends_with(&format!(".{f}")) => p.to_string(),
                            p => format!("{p}.{f}"),
                        })
                        .unwrap_or(path);
                    let detail = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                    Err(AppError::Unprocessable { field: Some(field.clone()), detail: format!("{field}: {detail}") })
                }
            }
        }
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
