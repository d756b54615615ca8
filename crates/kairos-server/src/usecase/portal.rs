//! The client portal: signing in with a one-time link, signing out, setting
//! a password, the client's home page, journal and home exercises, and the
//! staff view of a client's portal. The client's own reads are audited as
//! reads of their record (`PortalAuth::audit_read`).

use super::require;
use crate::api::portal::{PortalAuth, is_care_therapist, open_session};
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use jiff::Timestamp;
use kairos_domain::client::Client;
use kairos_domain::encounter::Encounter;
use kairos_domain::ids::{ClientId, ExerciseSessionId, JournalEntryId, MeasureRequestId};
use kairos_domain::roles::Permission;
use kairos_store::measures::{LinkState, MeasureRequest};
use kairos_store::portal::OutgoingEmail;
use kairos_store::portal::{CodePurpose, ExerciseSession, JournalEntry, PortalAccount, SessionOrigin};
use kairos_store::portal_email::{Confirmation, EmailChange};
use kairos_store::{Action, AuditEntry};

/// Whether a sign-in link's code still works (looking does not use it up,
/// so a mail scanner fetching the link leaves it for the client).
pub async fn sign_in_code_works(state: &AppState, code: &str) -> AppResult<bool> {
    Ok(state.store.peek_portal_code(code).await?.is_some())
}

/// A portal session opened by a one-time link.
pub struct CodeSession {
    pub token: String,
    /// The link was an invitation: the client goes on to choose a password.
    pub invitation: bool,
}

/// Uses up a one-time code (sign-in link or invitation) and opens a portal
/// session; none when the code has expired or was used already.
pub async fn sign_in_with_code(state: &AppState, code: &str, remote: Option<String>) -> AppResult<Option<CodeSession>> {
    let Some((client, purpose)) = state.store.consume_portal_code(code, remote.clone()).await? else {
        return Ok(None);
    };
    let invitation = purpose == CodePurpose::Invitation;
    let how = if invitation { SessionOrigin::Invitation } else { SessionOrigin::SignIn };
    let token = open_session(state, client, remote.as_deref(), how, None).await?;
    Ok(Some(CodeSession { token, invitation }))
}

/// Sets the client's password (the caller checks the session may set one);
/// false when the session ended meanwhile. The client's other sessions end.
pub async fn set_password(state: &AppState, client: &PortalAuth, password: String) -> AppResult<bool> {
    let hash = crate::auth::hash_password_blocking(password).await?;
    Ok(state.store.set_portal_password(client.client, &hash, &client.token, client.remote_addr.clone()).await?)
}

/// Ends the client's portal session.
pub async fn sign_out(state: &AppState, client: &PortalAuth) -> AppResult<()> {
    state.store.revoke_portal_session(&client.token).await?;
    Ok(())
}

/// What the portal's home page shows from the client's record.
pub struct PortalHome {
    pub given_name: String,
    /// The next ten appointments.
    pub appointments: Vec<Encounter>,
    /// The questionnaires the care team asked for that are open now.
    pub questionnaires: Vec<MeasureRequest>,
}

/// The client's home page (audited: "portal home").
pub async fn home(state: &AppState, client: &PortalAuth, now: Timestamp) -> AppResult<PortalHome> {
    let c = state.store.get_client(client.client).await?;
    client.audit_read(state, "portal home").await?;
    let appointments = state.store.encounters_of(client.client, now, true, 10).await?;
    let questionnaires = state
        .store
        .measure_requests_of(client.client)
        .await?
        .into_iter()
        .filter(|r| r.state(now) == LinkState::Open)
        .collect();
    Ok(PortalHome { given_name: c.details.given_name, appointments, questionnaires })
}

/// Gives one of the client's open questionnaires a fresh link token (only
/// hashes are stored, so the old token cannot be shown again); none when
/// the client has no such questionnaire open.
pub async fn reissue_link(state: &AppState, client: &PortalAuth, id: MeasureRequestId) -> AppResult<Option<String>> {
    let token = crate::auth::new_token();
    Ok(state.store.reissue_measure_request(client.client, id, &token).await?.then_some(token))
}

/// The client's journal, newest first (audited: "journal").
pub async fn journal(state: &AppState, client: &PortalAuth) -> AppResult<Vec<JournalEntry>> {
    let entries = state.store.journal_of(client.client).await?;
    client.audit_read(state, "journal").await?;
    Ok(entries)
}

/// Shares one of the client's entries with the care team, or makes it
/// private again.
pub async fn set_sharing(
    state: &AppState,
    client: &PortalAuth,
    id: JournalEntryId,
    shared: bool,
) -> AppResult<JournalEntry> {
    Ok(state.store.set_journal_shared(&client.actor(), client.client, id, shared).await?)
}

/// One of the client's own exercise sessions (audited: "home exercise").
pub async fn exercise(state: &AppState, client: &PortalAuth, id: ExerciseSessionId) -> AppResult<ExerciseSession> {
    let s = state.store.exercise_session(client.client, id).await?;
    client.audit_read(state, "home exercise").await?;
    Ok(s)
}

/// A client's portal as staff see it.
pub struct ClientPortal {
    pub client: Client,
    pub account: Option<PortalAccount>,
    /// The entries the client shared, for their therapist (and the
    /// therapist's supervisors) only; none for anyone else.
    pub shared: Option<Vec<JournalEntry>>,
}

/// A client's portal account and, for their therapist, the journal entries
/// they shared (each read audited).
pub async fn client_portal(state: &AppState, caller: &Auth, id: ClientId) -> AppResult<ClientPortal> {
    require(caller, Permission::ReadClients)?;
    let client = state.store.get_client(id).await?;
    let account = state.store.portal_account(id).await?;
    state.store.audit_read(&caller.actor(), AuditEntry::new(Action::Read, "portal_account", id).client(id)).await?;
    let shared = if caller.staff.roles.allow(Permission::ReadTherapyNotes)
        && is_care_therapist(state, caller.staff.id, id).await?
    {
        Some(state.store.shared_journal(&caller.actor(), id).await?)
    } else {
        None
    };
    Ok(ClientPortal { client, account, shared })
}

// ---- a portal client's change of e-mail address ------------------------------

/// The pending change a confirmation link names, while the link works
/// (looking does not confirm it: a mail scanner fetching the link changes
/// nothing).
pub async fn email_change_for_link(state: &AppState, code: &str) -> AppResult<Option<EmailChange>> {
    Ok(state.store.email_change_by_code(code, state.now()).await?)
}

/// The e-mail to the old address once the change is made.
fn changed_notice(state: &AppState, change: &EmailChange, how: &str) -> OutgoingEmail {
    let clinic = &state.config.portal.clinic_name;
    OutgoingEmail {
        to: change.old_email.clone(),
        subject: format!("The e-mail address of your {clinic} portal was changed"),
        body: format!(
            "The e-mail address of your {clinic} portal was changed {how}, to {}. Sign-in links now go there, \
             and the portal's sessions and links sent to this address have ended.\n\nIf you did not ask for \
             this, call the clinic.\n",
            change.new_email
        ),
    }
}

/// The client confirms the change from the link sent to their old address;
/// none when the link has expired or the change is no longer pending.
pub async fn confirm_email_change_by_link(
    state: &AppState,
    code: &str,
    remote: Option<String>,
) -> AppResult<Option<EmailChange>> {
    let Some(change) = state.store.email_change_by_code(code, state.now()).await? else { return Ok(None) };
    let notice = changed_notice(state, &change, "from the link we sent you");
    let actor = kairos_store::portal::client_actor(change.client_id, remote);
    Ok(Some(state.store.confirm_email_change(&actor, &change.id, Confirmation::ClientLink, &notice).await?))
}

/// A second staff member confirms the change in person at the clinic (the
/// client showed them it is theirs): `witness` has signed with their own
/// credentials (their session, or their password on the form), may change
/// client details, and is not the one who asked for the change.
pub async fn confirm_email_change_in_person(
    state: &AppState,
    caller: &Auth,
    client: ClientId,
    witness: &kairos_domain::staff::Staff,
) -> AppResult<EmailChange> {
    require(caller, Permission::WriteClients)?;
    if !witness.active || !witness.roles.allow(Permission::WriteClients) {
        return Err(crate::error::AppError::invalid(
            "witness",
            "the second staff member must be one who may change client details",
        ));
    }
    let Some(change) = state.store.pending_email_change(client).await? else {
        state.store.get_client(client).await?;
        return Err(crate::error::AppError::Conflict {
            field: "email".into(),
            detail: "no change of address is waiting for this client".into(),
        });
    };
    let notice = changed_notice(state, &change, "at the clinic, in person");
    Ok(state
        .store
        .confirm_email_change(&caller.actor(), &change.id, Confirmation::InPerson(witness.id), &notice)
        .await?)
}

/// Cancels the client's pending change of address; false when none was waiting.
pub async fn cancel_email_change(state: &AppState, caller: &Auth, client: ClientId) -> AppResult<bool> {
    require(caller, Permission::WriteClients)?;
    state.store.get_client(client).await?;
    Ok(state.store.cancel_email_change(&caller.actor(), client).await?)
}

/// The client's change of address waiting for confirmation, if any.
pub async fn pending_email_change(state: &AppState, caller: &Auth, client: ClientId) -> AppResult<Option<EmailChange>> {
    require(caller, Permission::ReadClients)?;
    state.store.get_client(client).await?;
    Ok(state.store.pending_email_change(client).await?)
}
