//! The JSON API under `/api/v1`, with its OpenAPI document generated from
//! the same route declarations (utoipa), so the two cannot drift.

pub mod account;
pub mod amendments;
pub mod audit;
pub mod auth;
pub mod clients;
pub mod contract;
pub mod courses;
pub mod disclosures;
pub mod dosing;
pub mod emergency;
pub mod encounters;
pub mod groups;
pub mod health;
pub mod inventories;
pub mod ledger;
pub mod measures;
pub mod notes;
pub mod portal;
pub mod protocols;
pub mod rems;
pub mod schedule;
pub mod screening;
pub mod sites;
pub mod staff;
pub mod views;

use crate::error::AppError;
use crate::state::AppState;
use jiff::Timestamp;
use jiff::civil::Date;
use kairos_store::PageRequest;
use serde::Deserialize;
use std::str::FromStr;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kairos API",
        description = "Care platform for ketamine-assisted psychotherapy clinics. Every error is \
                       `application/problem+json` (RFC 9457) with `field` naming the offending input.",
        license(name = "AGPL-3.0-or-later")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::error::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// All API routes, mounted at `/api/v1`, and the OpenAPI document.
pub fn router() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(account::change_password))
        .routes(routes!(account::mfa_status, account::begin_mfa, account::remove_mfa))
        .routes(routes!(account::confirm_mfa))
        .routes(routes!(account::reset_mfa))
        .routes(routes!(sites::list_sites, sites::create_site))
        .routes(routes!(sites::get_site, sites::update_site))
        .routes(routes!(sites::list_rooms, sites::create_room))
        .routes(routes!(sites::update_room))
        .routes(routes!(staff::list_staff, staff::create_staff))
        .routes(routes!(staff::get_staff, staff::update_staff))
        .routes(routes!(staff::set_password))
        .routes(routes!(staff::list_requests))
        .routes(routes!(staff::approve_request))
        .routes(routes!(staff::decline_request))
        .routes(routes!(clients::list_clients, clients::create_client))
        .routes(routes!(clients::get_chart, clients::update_client))
        .routes(routes!(clients::get_email_change, clients::cancel_email_change))
        .routes(routes!(clients::get_history))
        .routes(routes!(emergency::open))
        .routes(routes!(emergency::summary))
        .routes(routes!(emergency::queue))
        .routes(routes!(emergency::review))
        .routes(routes!(amendments::ask, amendments::mine))
        .routes(routes!(amendments::disagree))
        .routes(routes!(amendments::enter, amendments::of_client))
        .routes(routes!(amendments::queue))
        .routes(routes!(amendments::get))
        .routes(routes!(amendments::extend))
        .routes(routes!(amendments::decide))
        .routes(routes!(disclosures::record, disclosures::accounting))
        .routes(routes!(disclosures::ledger_report))
        .routes(routes!(clients::confirm_email_change))
        .routes(routes!(courses::list_courses, courses::create_course))
        .routes(routes!(courses::get_course))
        .routes(routes!(courses::change_phase))
        .routes(routes!(courses::assign_team))
        .routes(routes!(encounters::list_encounters, encounters::create_encounter))
        .routes(routes!(encounters::get_encounter, encounters::reschedule))
        .routes(routes!(encounters::change_status))
        .routes(routes!(audit::list_audit))
        .routes(routes!(measures::list_instruments))
        .routes(routes!(measures::get_instrument))
        .routes(routes!(measures::list_measures, measures::record_measure))
        .routes(routes!(measures::mark_in_error))
        .routes(routes!(measures::list_alerts))
        .routes(routes!(measures::acknowledge_alert))
        .routes(routes!(measures::create_link))
        .routes(routes!(measures::get_client_outcomes))
        .routes(routes!(measures::get_practice_outcomes))
        .routes(routes!(measures::list_due))
        .routes(routes!(measures::client_schedule))
        .routes(routes!(screening::rules))
        .routes(routes!(screening::list, screening::record))
        .routes(routes!(screening::sign))
        .routes(routes!(protocols::list))
        .routes(routes!(protocols::get))
        .routes(routes!(protocols::get_plan, protocols::create_plan))
        .routes(routes!(protocols::move_item))
        .routes(routes!(dosing::start))
        .routes(routes!(dosing::get))
        .routes(routes!(dosing::vitals))
        .routes(routes!(dosing::discharge))
        .routes(routes!(dosing::end_early))
        .routes(routes!(dosing::sign))
        .routes(routes!(dosing::add_event))
        .routes(routes!(dosing::amend))
        .routes(routes!(dosing::get_rems, dosing::save_rems))
        .routes(routes!(dosing::list_rems_due))
        .routes(routes!(rems::get_enrolment, rems::enrol))
        .routes(routes!(rems::list_settings))
        .routes(routes!(rems::set_setting))
        .routes(routes!(notes::list, notes::create))
        .routes(routes!(notes::get, notes::update))
        .routes(routes!(notes::sign))
        .routes(routes!(notes::amend))
        .routes(routes!(notes::templates))
        .routes(routes!(notes::get_supervisees, notes::set_supervisees))
        .routes(routes!(notes::windows))
        .routes(routes!(notes::unbooked))
        .routes(routes!(schedule::create))
        .routes(routes!(schedule::get))
        .routes(routes!(schedule::apply_route))
        .routes(routes!(schedule::discard))
        .routes(routes!(schedule::repair_route))
        .routes(routes!(schedule::site_hours))
        .routes(routes!(schedule::staff_hours))
        .routes(routes!(schedule::client_availability))
        .routes(routes!(ledger::list_registrations, ledger::create_registration))
        .routes(routes!(ledger::receive))
        .routes(routes!(ledger::initial_inventory))
        .routes(routes!(ledger::list_stock))
        .routes(routes!(ledger::get_stock))
        .routes(routes!(ledger::create_entry))
        .routes(routes!(ledger::list_losses))
        .routes(routes!(ledger::loss_notified))
        .routes(routes!(ledger::loss_form106))
        .routes(routes!(ledger::get_reconciliation))
        .routes(routes!(ledger::get_report))
        .routes(routes!(ledger::get_inventory))
        .routes(routes!(inventories::take, inventories::list))
        .routes(routes!(inventories::get))
        .routes(routes!(groups::list_groups, groups::create_group))
        .routes(routes!(groups::get_group))
        .routes(routes!(groups::add_member))
        .routes(routes!(groups::remove_member))
        .routes(routes!(groups::list_sessions, groups::create_sessions))
        .routes(routes!(groups::get_session))
        .routes(routes!(groups::record_attendance))
        .routes(routes!(groups::save_notes))
        .routes(routes!(groups::client_group_lines));
    let v1 = v1
        .routes(routes!(portal::create_invitation))
        .routes(routes!(portal::shared_journal))
        .routes(routes!(portal::get_adherence))
        .routes(routes!(portal::list_journal, portal::create_journal))
        .routes(routes!(portal::get_journal))
        .routes(routes!(portal::set_sharing))
        .routes(routes!(portal::list_exercises, portal::start))
        .routes(routes!(portal::get_exercise))
        .routes(routes!(portal::post_round));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", v1)
}

/// A path id: anything that does not parse names no record, so it is a 404.
pub fn path_id<T: FromStr>(record: &str, s: &str) -> Result<T, AppError> {
    s.parse().map_err(|_| AppError::NotFound(format!("no {record} with id {s}")))
}

/// An id inside a body or query: a malformed one is the caller's error.
pub fn field_id<T: FromStr>(field: &str, s: &str) -> Result<T, AppError> {
    s.trim().parse().map_err(|_| AppError::invalid(field, format!("{field}: `{s}` is not a valid id (UUID)")))
}

/// An optional id in a query string: absent is none, but a parameter that
/// is present must be an id (`?site=` is refused, as the document says).
pub fn opt_query_id<T: FromStr>(field: &str, s: Option<&str>) -> Result<Option<T>, AppError> {
    s.map(|v| field_id(field, v)).transpose()
}

pub fn opt_field_id<T: FromStr>(field: &str, s: Option<&str>) -> Result<Option<T>, AppError> {
    s.filter(|v| !v.trim().is_empty()).map(|v| field_id(field, v)).transpose()
}

pub fn instant(field: &str, s: &str) -> Result<Timestamp, AppError> {
    s.trim().parse().map_err(|_| {
        AppError::invalid(field, format!("{field}: `{s}` is not an RFC 3339 instant such as 2026-12-01T14:00:00Z"))
    })
}

/// When something charted happened: the given instant (blank or absent:
/// now); a time ahead of now is refused naming the field, in the same words
/// as the dosing charts (`kairos_domain::dosing::charted_time`).
pub fn charted_at(field: &str, s: Option<&str>, now: Timestamp) -> Result<Timestamp, AppError> {
    let at = s.filter(|s| !s.trim().is_empty()).map(|s| instant(field, s)).transpose()?;
    Ok(kairos_domain::dosing::charted_time(field, at, now)?)
}

pub fn date(field: &str, s: &str) -> Result<Date, AppError> {
    s.trim()
        .parse()
        .map_err(|_| AppError::invalid(field, format!("{field}: `{s}` is not a date in the form YYYY-MM-DD")))
}

/// The latest calendar date anywhere on earth (UTC+14) at `now`: a date
/// that is "today" for some clinic is never refused as being in the future.
pub fn latest_today(now: Timestamp) -> Date {
    let tz = jiff::tz::TimeZone::fixed(jiff::tz::offset(14));
    now.to_zoned(tz).date()
}

/// Paging and search parameters shared by list endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Case-insensitive prefix of a name.
    pub q: Option<String>,
    /// Page size, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 4294967295_u64)]
    pub offset: Option<u32>,
}

impl ListParams {
    pub fn page(&self) -> Result<PageRequest, AppError> {
        page(self.limit, self.offset)
    }
}

pub fn page(limit: Option<u32>, offset: Option<u32>) -> Result<PageRequest, AppError> {
    let limit = limit.unwrap_or(PageRequest::default().limit);
    if !(1..=PageRequest::MAX_LIMIT).contains(&limit) {
        return Err(AppError::bad("limit", format!("limit must be between 1 and {}", PageRequest::MAX_LIMIT)));
    }
    Ok(PageRequest { limit, offset: offset.unwrap_or(0) })
}
