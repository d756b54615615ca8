use super::views::{AuditView, Paged};
use super::{opt_query_id, page};
use crate::error::AppResult;
use crate::extract::{Auth, Query};
use crate::state::AppState;
use axum::extract::State;
use kairos_store::AuditQuery;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only entries about this client.
    #[param(format = Uuid)]
    pub client: Option<String>,
    /// Only entries by this staff member.
    #[param(format = Uuid)]
    pub actor: Option<String>,
    /// Only entries of this action.
    #[param(value_type = Option<String>, pattern = "^(create|update|read|list|login_attempt|login|login_failed|logout)$")]
    pub action: Option<String>,
    /// Entries at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Entries before this instant (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    #[param(value_type = Option<u64>, minimum = 0, maximum = 4294967295_u64)]
    pub offset: Option<u32>,
}

/// The audit log, newest first (admin).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = Paged<AuditView>), (status = 403, body = crate::error::Problem)))]
pub async fn list_audit(
    State(state): State<AppState>,
    auth: Auth,
    Query(p): Query<AuditParams>,
) -> AppResult<axum::Json<Paged<AuditView>>> {
    let q = AuditQuery {
        client_id: opt_query_id("client", p.client.as_deref())?,
        actor_id: opt_query_id("actor", p.actor.as_deref())?,
        action: match p.action {
            Some(a) if kairos_store::Action::ALL.iter().any(|x| x.as_str() == a) => Some(a),
            Some(_) => {
                return Err(crate::error::AppError::BadRequest {
                    field: Some("action".into()),
                    detail: "action: must be one of create, update, read, list, login_attempt, login, login_failed, \
                             logout"
                        .into(),
                });
            }
            None => None,
        },
        from: p.from.as_deref().map(|v| super::instant("from", v)).transpose()?,
        to: p.to.as_deref().map(|v| super::instant("to", v)).transpose()?,
        page: page(p.limit, p.offset)?,
        // The API answers the exact total.
        count_at_most: None,
    };
    let list = crate::usecase::audit::list(&state, &auth, &q).await?;
    Ok(axum::Json(Paged::map(list, |x| AuditView::from(x))))
}
