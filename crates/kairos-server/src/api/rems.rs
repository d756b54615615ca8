//! The esketamine REMS records: a client's enrolment, and each site's
//! details as a REMS healthcare setting (`usecase::rems`).

use super::path_id;
use crate::error::AppResult;
use crate::extract::{Auth, Json};
use crate::state::AppState;
use crate::usecase;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kairos_domain::rems::Enrolment;
use kairos_store::rems::Setting;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[schema(as = RemsEnrolmentBody)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentBody {
    /// The date on the REMS Patient Enrollment Form (not after today).
    #[schema(format = Date)]
    pub enrolled_on: String,
    /// `female` or `male`, as the REMS forms ask.
    #[schema(value_type = kairos_domain::rems::Sex)]
    pub sex: String,
    /// The REMS patient identifier, when the REMS gave one.
    #[schema(value_type = Option<String>, max_length = 50)]
    pub rems_patient_id: Option<String>,
}

/// Whether a client is enrolled in the esketamine REMS.
#[derive(Serialize, ToSchema)]
#[schema(as = RemsEnrolmentStatus)]
pub struct EnrolmentStatus {
    #[schema(value_type = String, format = Uuid)]
    pub client_id: kairos_domain::ids::ClientId,
    /// The recorded enrolment; `null` until a prescriber records it.
    pub enrolment: Option<Enrolment>,
}

/// The client's REMS enrolment status: `enrolment` is `null` until a
/// prescriber records it (the client exists either way).
#[utoipa::path(get, path = "/clients/{id}/rems-enrolment", tag = "dosing", params(("id" = String, Path)),
    responses((status = 200, body = EnrolmentStatus), (status = 404, body = crate::error::Problem)))]
pub async fn get_enrolment(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<axum::Json<EnrolmentStatus>> {
    let client = path_id("client", &id)?;
    state.store.get_client(client).await?;
    let enrolment = usecase::rems::enrolment(&state, &auth, client).await?;
    Ok(axum::Json(EnrolmentStatus { client_id: client, enrolment }))
}

/// Records the client's enrolment in the esketamine REMS (a prescriber):
/// no esketamine dose starts without it while the clinic's REMS policy
/// requires it (`[rems.enrolment_before_first_dose]`).
#[utoipa::path(post, path = "/clients/{id}/rems-enrolment", tag = "dosing", params(("id" = String, Path)), request_body = EnrolmentBody,
    responses((status = 201, body = Enrolment), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn enrol(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<EnrolmentBody>,
) -> AppResult<(StatusCode, axum::Json<Enrolment>)> {
    let client = path_id("client", &id)?;
    let e = usecase::rems::enrol(&state, &auth, client, &body.enrolled_on, &body.sex, body.rems_patient_id.as_deref())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(e)))
}

#[derive(Serialize, ToSchema)]
#[schema(as = RemsSiteSetting)]
pub struct SiteSetting {
    #[schema(value_type = String, format = Uuid)]
    pub site_id: kairos_domain::ids::SiteId,
    pub site_name: String,
    /// The site's REMS healthcare-setting details; absent until set.
    pub setting: Option<Setting>,
}

/// Every site with its REMS healthcare-setting details (named on every
/// Patient Monitoring Form).
#[utoipa::path(get, path = "/rems/settings", tag = "dosing",
    responses((status = 200, body = [SiteSetting])))]
pub async fn list_settings(State(state): State<AppState>, auth: Auth) -> AppResult<axum::Json<Vec<SiteSetting>>> {
    let all = usecase::rems::settings(&state, &auth).await?;
    Ok(axum::Json(
        all.into_iter()
            .map(|(site, setting)| SiteSetting { site_id: site.id, site_name: site.name, setting })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = RemsSettingBody)]
#[serde(deny_unknown_fields)]
pub struct SettingBody {
    /// The healthcare setting's name as certified in the REMS.
    #[schema(value_type = kairos_domain::text::Text200)]
    pub name: String,
    #[schema(value_type = kairos_domain::text::Text500)]
    pub address: String,
    /// Where the monitoring provider is reached.
    #[schema(value_type = kairos_domain::text::Text40)]
    pub phone: String,
}

/// Sets a site's REMS healthcare-setting details (audited with before and after).
#[utoipa::path(put, path = "/sites/{id}/rems-setting", tag = "dosing", params(("id" = String, Path)), request_body = SettingBody,
    responses((status = 200, body = Setting), (status = 422, body = crate::error::Problem)))]
pub async fn set_setting(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Json(body): Json<SettingBody>,
) -> AppResult<axum::Json<Setting>> {
    let site = path_id("site", &id)?;
    Ok(axum::Json(usecase::rems::set_setting(&state, &auth, site, &body.name, &body.address, &body.phone).await?))
}
