//! Questionnaires: recorded by a clinician or sent by the client through a
//! self-report link; safety alerts acknowledged; the practice's outcomes.

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use jiff::Timestamp;
use kairos_domain::Refusal;
use kairos_domain::ids::{AlertId, ClientId, CourseId};
use kairos_domain::instruments::{Instrument, Scored};
use kairos_domain::roles::Permission;
use kairos_store::measures::{Administration, Alert, MeasureRequest, MeasureSource, NewAdministration};
use kairos_store::{Action, Actor, AuditEntry, StoreError};

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

/// Acknowledges a safety alert with what was done about it (required, at
/// most 2,000 characters).
pub async fn acknowledge(state: &AppState, caller: &Auth, id: AlertId, action_note: &str) -> AppResult<Alert> {
    require(caller, Permission::RecordMeasures)?;
    let note = crate::api::measures::required_text("action_note", action_note, 2000)?;
    Ok(state.store.acknowledge_alert(&caller.actor(), id, &note).await?)
}

/// Response, remission and relapse across the practice. Aggregates name no
/// client; the read is still recorded.
pub async fn practice_outcomes(
    state: &AppState,
    caller: &Auth,
    q: &crate::api::measures::OutcomeQuery,
) -> AppResult<crate::api::measures::PracticeOutcomes> {
    require(caller, Permission::ReadPracticeOutcomes)?;
    let out = crate::api::measures::practice_outcomes(state, q).await?;
    let mut entry = AuditEntry::new(Action::Read, "outcomes", "")
        .detail(format!("practice outcomes {} {}..{}", out.report.instrument, out.from, out.to));
    entry.record_id = None;
    state.store.audit_event(&caller.actor(), entry).await?;
    Ok(out)
}

/// The questionnaire a self-report link asks for; none when the token names
/// no link. The token is the credential: no account is involved.
pub async fn self_report_request(state: &AppState, token: &str) -> AppResult<Option<MeasureRequest>> {
    Ok(state.store.measure_request_by_token(token).await?)
}

/// What became of answers sent through a self-report link.
pub enum SelfReportOutcome {
    /// Stored now, or recognised as the same form sent again; `self_harm`:
    /// an answer endorsed thoughts of self-harm (the client is shown the
    /// crisis numbers).
    Sent { self_harm: bool },
    /// The link expired before the answers arrived.
    Expired,
    /// Other answers were sent through this link already.
    AlreadySent,
}

/// Stores a client's scored answers through their link, once (`key`, the
/// form's one-time key, recognises a resend of the same form).
pub async fn submit_self_report(
    state: &AppState,
    remote: Option<String>,
    token: &str,
    key: &str,
    inst: &Instrument,
    answers: &[Option<i64>],
    scored: &Scored,
) -> AppResult<SelfReportOutcome> {
    let actor = Actor { staff_id: None, roles: "client:self_report".into(), remote_addr: remote };
    let now = state.now();
    let outcome = state
        .store
        .submit_measure_request(&actor, token, key, |r| {
            Ok(NewAdministration {
                client_id: r.client_id,
                course_id: r.course_id,
                instrument_id: inst.id.clone(),
                instrument_version: inst.version.clone(),
                completed_at: now,
                answers: Some(answers.to_vec()),
                scored: scored.clone(),
                source: MeasureSource::SelfReport,
                entered_by: None,
            })
        })
        .await;
    match outcome {
        Ok(sub) => Ok(SelfReportOutcome::Sent { self_harm: sub.administration().alerts.iter().any(|a| a.self_harm) }),
        Err(StoreError::Conflict { detail, .. }) if detail.contains("expired") => Ok(SelfReportOutcome::Expired),
        Err(StoreError::Conflict { .. }) => Ok(SelfReportOutcome::AlreadySent),
        Err(e) => Err(e.into()),
    }
}
