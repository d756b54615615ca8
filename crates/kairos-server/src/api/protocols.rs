//! The protocol library: dose series, tied psychotherapy, monitoring, and
//! the evidence behind each protocol, weaknesses included.

use crate::error::{AppError, AppResult};
use crate::extract::Auth;
use crate::state::AppState;
use axum::extract::{Path, State};
use kairos_domain::protocols::{Protocol, UnconfirmedFact};
use kairos_domain::roles::Permission;
use serde::Serialize;
use utoipa::ToSchema;

/// A protocol with its headline citation and the facts it ships as
/// unconfirmed defaults.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProtocolView {
    #[serde(flatten)]
    pub protocol: Protocol,
    /// The first evidence entry's citation.
    pub citation: String,
    pub unconfirmed_facts: Vec<UnconfirmedFact>,
}

impl From<&Protocol> for ProtocolView {
    fn from(p: &Protocol) -> Self {
        ProtocolView {
            citation: p.evidence.first().map(|e| e.citation.clone()).unwrap_or_default(),
            unconfirmed_facts: p.unconfirmed(),
            protocol: p.clone(),
        }
    }
}

/// Every protocol in the clinic's library, with its dose series and tied sessions.
#[utoipa::path(get, path = "/protocols", tag = "protocols", responses((status = 200, body = Vec<ProtocolView>)))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<ProtocolView>>> {
    auth.require(Permission::ReadDirectory)?;
    Ok(axum::Json(state.config.protocols.all().iter().map(ProtocolView::from).collect()))
}

/// One protocol.
#[utoipa::path(get, path = "/protocols/{id}", tag = "protocols", params(("id" = String, Path)),
    responses((status = 200, body = ProtocolView), (status = 404, body = crate::error::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<ProtocolView>> {
    auth.require(Permission::ReadDirectory)?;
    let p = state.config.protocols.get(&id).ok_or_else(|| AppError::NotFound(format!("no protocol `{id}`")))?;
    Ok(axum::Json(p.into()))
}
