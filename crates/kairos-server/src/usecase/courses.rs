//! Treatment courses: open one from a protocol with its care team, move it
//! through its phases, change its care team, plan it from its protocol and
//! move a planned dose or session. The phase transitions are the domain's
//! (`Course::change_phase`, decided over the course as stored, in the write
//! transaction); the plan is the protocol's (`kairos_domain::protocols::plan`).

use super::require;
use crate::error::{AppError, AppResult};
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::course::{Course, NewCourse, Phase};
use kairos_domain::ids::{CourseId, PlannedItemId, StaffId};
use kairos_domain::roles::Permission;
use kairos_store::plans::{CoursePlan, PlannedItem};

/// A client's courses, newest first (a booking form offers them); the read
/// is audited.
pub async fn of_client(
    state: &AppState,
    caller: &Auth,
    client: kairos_domain::ids::ClientId,
) -> AppResult<Vec<Course>> {
    require(caller, Permission::ReadClients)?;
    let courses = state.store.courses_of(client).await?;
    state
        .store
        .audit_read(
            &caller.actor(),
            kairos_store::AuditEntry::new(kairos_store::Action::Read, "course", client)
                .client(client)
                .detail("courses"),
        )
        .await?;
    Ok(courses)
}

/// Opens a course, in screening.
pub async fn open(state: &AppState, caller: &Auth, new: &NewCourse) -> AppResult<Course> {
    require(caller, Permission::ManageCourses)?;
    Ok(state.store.create_course(&caller.actor(), new).await?)
}

/// Moves a course to another phase; only the allowed transitions succeed
/// (the refusal lists them). A course ends on the date it is at the
/// client's site.
pub async fn change_phase(
    state: &AppState,
    caller: &Auth,
    id: CourseId,
    to: Phase,
    reason: Option<&str>,
) -> AppResult<Course> {
    require(caller, Permission::ManageCourses)?;
    let client = state.store.get_course(id).await?.client_id;
    let today = state.now().to_zoned(state.client_tz(client).await?).date();
    Ok(state.store.change_course_phase(&caller.actor(), id, to, reason, today).await?)
}

/// Assigns the course's prescriber and therapist (each must hold the role).
pub async fn set_care_team(
    state: &AppState,
    caller: &Auth,
    id: CourseId,
    prescriber: Option<StaffId>,
    therapist: Option<StaffId>,
) -> AppResult<Course> {
    require(caller, Permission::ManageCourses)?;
    Ok(state.store.assign_course_team(&caller.actor(), id, prescriber, therapist).await?)
}

/// Plans a course from its protocol: the dose series from `first_dose_at`
/// (RFC 3339) and the tied sessions with their windows. The course's
/// protocol must be one of the library's (the refusal lists them); doses
/// keep their local time at the client's site across a change of
/// daylight-saving time. A course has one plan.
pub async fn plan(state: &AppState, caller: &Auth, id: CourseId, first_dose_at: &str) -> AppResult<CoursePlan> {
    require(caller, Permission::ManageCourses)?;
    let course = state.store.get_course(id).await?;
    let protocol = state.config.protocols.get(&course.protocol).ok_or_else(|| {
        let known: Vec<&str> = state.config.protocols.all().iter().map(|p| p.id.as_str()).collect();
        AppError::invalid(
            "protocol",
            format!("the course's protocol `{}` is not in the library; known: {}", course.protocol, known.join(", ")),
        )
    })?;
    let first = crate::api::instant("first_dose_at", first_dose_at)?;
    let tz = state.client_tz(course.client_id).await?;
    let plan = kairos_domain::protocols::plan(protocol, first, &tz)?;
    Ok(state.store.create_plan(&caller.actor(), course.id, &plan, first).await?)
}

/// Moves a planned dose or session to `to` (RFC 3339) for the reason given
/// (required, shown beside the item). A move outside the protocol's window
/// is kept and marked as a deviation.
pub async fn move_planned_item(
    state: &AppState,
    caller: &Auth,
    id: PlannedItemId,
    to: &str,
    reason: &str,
) -> AppResult<PlannedItem> {
    require(caller, Permission::ManageCourses)?;
    let to = crate::api::instant("to", to)?;
    let reason = crate::api::measures::required_text("reason", reason, 1000)?;
    Ok(state.store.move_planned_item(&caller.actor(), id, to, &reason).await?)
}
