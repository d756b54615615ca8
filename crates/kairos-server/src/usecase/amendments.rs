//! A client's request to amend their record (45 CFR 164.526; ONC
//! 170.315(d)(4); the rules are `kairos_domain::amendment_requests`).
//!
//! The client asks through the portal (or the clinic enters a request it
//! received in writing); a clinician who may decide (`DecideAmendments`)
//! extends the time once with the reasons, or accepts it (the amendment is
//! appended to the record: the chart shows it under the request) or denies
//! it on one of the four grounds with an explanation. A denied client may
//! file a statement of disagreement, kept with the record. The client is
//! told by e-mail when there is an answer (the words stay in the portal).
//! Every door calls these functions.

use super::require;
use crate::api::portal::PortalAuth;
use crate::error::{AppError, AppResult};
use crate::extract::Auth;
use crate::state::AppState;
use kairos_domain::DomainError;
use kairos_domain::amendment_requests::{self as rules, DenialBasis, RecordArea, StepKind};
use kairos_domain::ids::{AmendmentRequestId, ClientId};
use kairos_domain::roles::Permission;
use kairos_store::amendment_requests::{AmendmentRequest, NewAmendmentRequest, NewStep};
use kairos_store::{Action, AuditEntry};
use std::collections::HashMap;

/// The words of a request, checked: the area (one of the list), which
/// record (optional), what should change (required).
pub fn new_request(
    client: ClientId,
    area: &str,
    which_record: Option<&str>,
    requested_change: &str,
) -> Result<NewAmendmentRequest, DomainError> {
    Ok(NewAmendmentRequest {
        client,
        area: RecordArea::parse("area", area.trim())?,
        which_record: kairos_domain::text::optional("which_record", which_record, 200)?,
        requested_change: kairos_domain::text::required("requested_change", requested_change, 4000)?,
    })
}

/// The client asks, through the portal.
pub async fn ask(
    state: &AppState,
    client: &PortalAuth,
    area: &str,
    which_record: Option<&str>,
    requested_change: &str,
) -> AppResult<AmendmentRequest> {
    let new = new_request(client.client, area, which_record, requested_change)?;
    Ok(state.store.create_amendment_request(&client.actor(), &new).await?)
}

/// The clinic enters a request it received in writing (a letter, a form
/// signed at the desk), for the client named.
pub async fn enter(
    state: &AppState,
    caller: &Auth,
    client: ClientId,
    area: &str,
    which_record: Option<&str>,
    requested_change: &str,
) -> AppResult<AmendmentRequest> {
    require(caller, Permission::WriteClients)?;
    let new = new_request(client, area, which_record, requested_change)?;
    Ok(state.store.create_amendment_request(&caller.actor(), &new).await?)
}

/// The client's own requests, newest first (audited as a portal read).
pub async fn mine(state: &AppState, client: &PortalAuth) -> AppResult<Vec<AmendmentRequest>> {
    let reqs = state.store.amendment_requests_of(client.client).await?;
    client.audit_read(state, "amendment requests").await?;
    Ok(reqs)
}

/// The client's statement of disagreement with a denial, once.
pub async fn disagree(
    state: &AppState,
    client: &PortalAuth,
    id: AmendmentRequestId,
    statement: &str,
) -> AppResult<AmendmentRequest> {
    let text = kairos_domain::text::required("statement", statement, 4000)?;
    Ok(state
        .store
        .add_amendment_step(&client.actor(), id, Some(client.client), |req, now| {
            rules::may_disagree(req.asked_at, &req.domain_steps(), now)?;
            Ok(NewStep { kind: StepKind::Disagreed, text, basis: None, due_at: None })
        })
        .await?)
}

/// A client's requests as the chart shows them (whoever reads the chart
/// reads what was appended to it); audited under the client.
pub async fn of_client(state: &AppState, caller: &Auth, client: ClientId) -> AppResult<Vec<AmendmentRequest>> {
    require(caller, Permission::ReadClients)?;
    let reqs = state.store.amendment_requests_of(client).await?;
    if !reqs.is_empty() {
        let entry = AuditEntry::new(Action::List, "amendment_request", client).client(client);
        state.store.audit_read(&caller.actor(), entry).await?;
    }
    Ok(reqs)
}

/// The work queue: requests not yet decided (oldest first) and the latest
/// decided, with the clients' names; audited under each client listed.
pub async fn queue(
    state: &AppState,
    caller: &Auth,
) -> AppResult<(Vec<AmendmentRequest>, Vec<AmendmentRequest>, HashMap<ClientId, String>)> {
    require(caller, Permission::DecideAmendments)?;
    let (open, decided) = state.store.amendment_request_queue().await?;
    let mut clients: Vec<ClientId> = open.iter().chain(&decided).map(|r| r.client_id).collect();
    clients.sort();
    clients.dedup();
    let names = super::clients::names(state, &clients).await?;
    let rows: Vec<AuditEntry> = clients
        .iter()
        .map(|c| AuditEntry::new(Action::List, "amendment_request", c).client(*c).detail("queue"))
        .collect();
    if !rows.is_empty() {
        state.store.audit_reads(&caller.actor(), &rows).await?;
    }
    Ok((open, decided, names))
}

/// One request, to decide it (audited under its client).
pub async fn get(state: &AppState, caller: &Auth, id: AmendmentRequestId) -> AppResult<AmendmentRequest> {
    require(caller, Permission::DecideAmendments)?;
    let req = state.store.amendment_request(id).await?;
    let entry = AuditEntry::new(Action::Read, "amendment_request", id).client(req.client_id);
    state.store.audit_read(&caller.actor(), entry).await?;
    Ok(req)
}

/// Extends the time to act, once, by 30 days, with the reasons for the
/// delay (which the client reads in the portal).
pub async fn extend(
    state: &AppState,
    caller: &Auth,
    id: AmendmentRequestId,
    reasons: &str,
) -> AppResult<AmendmentRequest> {
    require(caller, Permission::DecideAmendments)?;
    let text = kairos_domain::text::required("reasons", reasons, 2000)?;
    let req = state
        .store
        .add_amendment_step(&caller.actor(), id, None, |req, now| {
            let due = rules::extend(req.asked_at, &req.domain_steps(), now)?;
            Ok(NewStep { kind: StepKind::Extended, text, basis: None, due_at: Some(due) })
        })
        .await?;
    tell_client(state, &req, "The clinic needs more time to answer your request").await;
    Ok(req)
}

/// A decision: accept with the amendment appended to the record, or deny
/// on a ground with an explanation.
pub enum Decision<'a> {
    Accept { amendment: &'a str },
    Deny { basis: &'a str, explanation: &'a str },
}

impl<'a> Decision<'a> {
    /// The decision `decision` names (`accept` or `deny`), with the fields
    /// it needs; another word is refused naming `decision`. What each
    /// needs is checked by [`decide`].
    pub fn parse(
        decision: &str,
        amendment: Option<&'a str>,
        basis: Option<&'a str>,
        explanation: Option<&'a str>,
    ) -> AppResult<Decision<'a>> {
        match decision.trim() {
            "accept" => Ok(Decision::Accept { amendment: amendment.unwrap_or("") }),
            "deny" => Ok(Decision::Deny { basis: basis.unwrap_or(""), explanation: explanation.unwrap_or("") }),
            other => Err(AppError::from(DomainError::invalid(
                "decision",
                format!("unknown value `{other}`; expected one of: accept, deny"),
            ))),
        }
    }
}

/// Decides a request, once (422 naming `decision` after that).
pub async fn decide(
    state: &AppState,
    caller: &Auth,
    id: AmendmentRequestId,
    decision: Decision<'_>,
) -> AppResult<AmendmentRequest> {
    require(caller, Permission::DecideAmendments)?;
    let step = match decision {
        Decision::Accept { amendment } => NewStep {
            kind: StepKind::Accepted,
            text: kairos_domain::text::required("amendment", amendment, 4000)?,
            basis: None,
            due_at: None,
        },
        Decision::Deny { basis, explanation } => NewStep {
            kind: StepKind::Denied,
            basis: Some(DenialBasis::parse("basis", basis.trim())?),
            text: kairos_domain::text::required("explanation", explanation, 4000)?,
            due_at: None,
        },
    };
    let req = state
        .store
        .add_amendment_step(&caller.actor(), id, None, |req, now| {
            rules::may_decide(req.asked_at, &req.domain_steps(), now)?;
            Ok(step)
        })
        .await?;
    tell_client(state, &req, "The clinic has answered your request to change your record").await;
    Ok(req)
}

/// Tells the client by e-mail that there is news of their request (the
/// words stay in the portal), if they have an active portal account. The
/// step is recorded before this: a notice that cannot be queued is logged,
/// not reported as a failure of the step (which the portal shows anyway).
async fn tell_client(state: &AppState, req: &AmendmentRequest, subject: &str) {
    let queued = async {
        let Some(account) = state.store.portal_account(req.client_id).await? else { return Ok(()) };
        if !account.active {
            return Ok(());
        }
        let body = format!(
            "{subject}.\n\nSign in to the client portal to read it: {}\n\n{}",
            crate::api::portal::link(state, "/portal/amendments"),
            state.config.portal.clinic_name
        );
        state.store.queue_email(&account.email, subject, &body).await.map(|_| ())
    };
    if let Err(e) = queued.await {
        tracing::warn!(request = %req.id, error = %e, "the notice of an amendment request's news was not queued");
    }
}
