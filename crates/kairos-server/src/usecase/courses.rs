//! Treatment courses: open one from a protocol with its care team, move it
//! through its phases, and change its care team. The phase transitions are
//! the domain's (`Course::change_phase`, decided over the course as stored,
//! in the write transaction).

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::course::{Course, NewCourse, Phase};
use kairos_domain::ids::{CourseId, StaffId};
use kairos_domain::roles::Permission;

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
