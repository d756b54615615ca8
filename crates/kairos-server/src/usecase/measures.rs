//! Questionnaires recorded by a clinician.

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use jiff::Timestamp;
use kairos_domain::Refusal;
use kairos_domain::ids::{ClientId, CourseId};
use kairos_domain::roles::Permission;
use kairos_store::measures::{Administration, MeasureSource, NewAdministration};

/// A completed questionnaire as entered: the answers (one per item, in the
/// instrument's order; the unscored items at the end may be left off), or a
/// total alone where the instrument allows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordCommand {
    pub instrument: String,
    pub answers: Option<Vec<Option<i64>>>,
    pub total: Option<i64>,
    /// Default: now.
    pub completed_at: Option<Timestamp>,
    pub course_id: Option<CourseId>,
}

/// Scores the questionnaire and records it with its safety alerts, in one
/// transaction.
pub async fn record(
    state: &AppState,
    caller: &Auth,
    client: ClientId,
    cmd: &RecordCommand,
) -> AppResult<Administration> {
    require(caller, Permission::RecordMeasures)?;
    let inst = crate::api::measures::instrument(state, "instrument", &cmd.instrument)?;
    let scored = match (&cmd.answers, cmd.total) {
        (Some(a), None) => inst.score(a).map_err(Refusal::from)?,
        (None, Some(t)) => inst.score_total(t).map_err(Refusal::from)?,
        (Some(_), Some(_)) => {
            return Err(Refusal::invalid("total", "enter either the answers or the total, not both").into());
        }
        (None, None) => return Err(Refusal::invalid("answers", "enter the answers").into()),
    };
    let completed_at = kairos_domain::dosing::charted_time("completed_at", cmd.completed_at, state.now())?;
    let new = NewAdministration {
        client_id: client,
        course_id: cmd.course_id,
        instrument_id: inst.id.clone(),
        instrument_version: inst.version.clone(),
        completed_at,
        answers: cmd.answers.clone(),
        scored,
        source: MeasureSource::Clinician,
        entered_by: Some(caller.staff.id),
    };
    Ok(state.store.record_measure(&caller.actor(), &new).await?)
}
