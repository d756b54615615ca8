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
        // A total with its safety items (MADRS item 10), or alone.
        (Some(a), Some(t)) => inst.score_total(t, a).map_err(Refusal::from)?,
        (None, Some(t)) => inst.score_total(t, &[]).map_err(Refusal::from)?,
        (None, None) => return Err(Refusal::invalid("answers", "enter the answers").into()),
    };
    let completed_at = kairos_domain::dosing::charted_time("completed_at", cmd.completed_at, state.now())?;
    // Only a back-dated entry can fall before the client's birth (a date of
    // birth is never in the future), so an entry made now reads nothing more.
    if cmd.completed_at.is_some() {
        let born = state.store.get_client(client).await?.details.date_of_birth;
        kairos_domain::client::not_before_birth("completed_at", completed_at, &state.client_tz(client).await?, born)
            .map_err(Refusal::from)?;
    }
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
    /// Stored now, or recognised as the same form sent again; `crisis`:
    /// an answer endorsed thoughts of self-harm, with what the client is
    /// told they reported (the alert rule's own wording); the client is
    /// shown it with the crisis numbers.
    Sent { crisis: Option<String> },
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
        Ok(sub) => {
            let self_harm = sub.administration().alerts.iter().any(|a| a.self_harm);
            let told = scored.alerts.iter().find_map(|a| a.client_message.clone());
            let crisis = self_harm
                .then(|| told.unwrap_or_else(|| kairos_domain::instruments::DEFAULT_CLIENT_MESSAGE.to_string()));
            Ok(SelfReportOutcome::Sent { crisis })
        }
        Err(StoreError::Conflict { detail, .. }) if detail.contains("expired") => Ok(SelfReportOutcome::Expired),
        Err(StoreError::Conflict { .. }) => Ok(SelfReportOutcome::AlreadySent),
        Err(e) => Err(e.into()),
    }
}

/// Sends a client a one-time link to a self-report questionnaire (one Kairos
/// may show a client in full), valid for the clinic's link lifetime or
/// `expires_in_hours` (1 to 336).
pub async fn send_self_report_link(
    state: &AppState,
    caller: &Auth,
    client: ClientId,
    body: &crate::api::measures::LinkCreate,
) -> AppResult<crate::api::measures::LinkCreated> {
    use kairos_domain::instruments::{Content, Rater};
    require(caller, Permission::RecordMeasures)?;
    let inst = crate::api::measures::instrument(state, "instrument", &body.instrument)?;
    if inst.rater != Rater::SelfReport || inst.content != Content::Full {
        return Err(crate::error::AppError::invalid(
            "instrument",
            format!("{} is not a self-report questionnaire Kairos can show to a client", inst.short_name),
        ));
    }
    let lifetime = match body.expires_in_hours {
        None => state.config.link_lifetime,
        Some(h) if (1..=336).contains(&h) => jiff::SignedDuration::from_hours(i64::from(h)),
        Some(_) => {
            return Err(crate::error::AppError::invalid(
                "expires_in_hours",
                "expires_in_hours must be between 1 and 336",
            ));
        }
    };
    let token = crate::auth::new_token();
    let expires_at = state.now() + lifetime;
    let course: Option<CourseId> = crate::api::opt_field_id("course_id", body.course_id.as_deref())?;
    let req = state.store.create_measure_request(&caller.actor(), client, course, &inst.id, &token, expires_at).await?;
    let base = state.config.public_url.as_deref().unwrap_or("").trim_end_matches('/');
    Ok(crate::api::measures::LinkCreated { id: req.id, url: format!("{base}/r/{token}"), expires_at })
}

/// Marks a questionnaire entered in error, with why: it stays in the record,
/// struck out of trajectories and outcomes.
pub async fn mark_entered_in_error(
    state: &AppState,
    caller: &Auth,
    id: kairos_domain::ids::AdministrationId,
    reason: &str,
) -> AppResult<Administration> {
    require(caller, Permission::RecordMeasures)?;
    let reason = crate::api::measures::required_text("reason", reason, 1000)?;
    Ok(state.store.mark_measure_in_error(&caller.actor(), id, &reason).await?)
}
