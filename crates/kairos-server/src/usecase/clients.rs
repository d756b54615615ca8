//! Reading a client's record: the chart, the client list, and the names a
//! page shows beside records it audits itself.

use super::require;
use crate::error::{AppError, AppResult};
use crate::extract::Auth;
use crate::state::AppState;
use jiff::Timestamp;
use kairos_domain::client::{Client, ClientStatus};
use kairos_domain::ids::{ClientId, CourseId};
use kairos_domain::roles::Permission;
use kairos_domain::site::Site;
use kairos_domain::text::Email;
use kairos_store::clients::Chart;
use kairos_store::measures::{Administration, Alert};
use kairos_store::plans::CoursePlan;
use kairos_store::portal::OutgoingEmail;
use kairos_store::portal_email::{ChangeRequest, EmailChange};
use kairos_store::screens::Screen;
use kairos_store::{Page, PageRequest};
use std::collections::HashMap;

/// The chart summary (the client, their courses, upcoming and recent
/// visits); the read is audited durably before it returns.
pub async fn chart(state: &AppState, caller: &Auth, id: ClientId, now: Timestamp) -> AppResult<Chart> {
    require(caller, Permission::ReadClients)?;
    Ok(state.store.read_chart(&caller.actor(), id, now).await?)
}

/// Clients by family name, searchable by a prefix of a name; the list read
/// is audited.
pub async fn search(
    state: &AppState,
    caller: &Auth,
    q: Option<&str>,
    status: Option<ClientStatus>,
    page: PageRequest,
) -> AppResult<Page<Client>> {
    require(caller, Permission::ReadClients)?;
    Ok(state.store.search_clients(&caller.actor(), q, status, page).await?)
}

/// Everything the chart page shows from the record, read at once: the
/// chart (its audited read is the page's entry) and the sites; then, as the
/// caller's roles allow, the client's questionnaires and alerts, each
/// course's screens, and each course's plan.
pub struct FullChart {
    pub chart: Chart,
    pub sites: Vec<Site>,
    /// Empty unless the caller may read questionnaire scores.
    pub measures: Vec<Administration>,
    pub alerts: Vec<Alert>,
    /// Per course, newest first; empty unless the caller may read screens.
    pub screens: HashMap<CourseId, Vec<Screen>>,
    /// The plans of the courses that have one, in the chart's course order.
    pub plans: Vec<CoursePlan>,
    /// Whether a course's protocol is esketamine (intranasal), and the
    /// client's REMS enrolment then (read with the screens).
    pub rems: Option<Option<kairos_domain::rems::Enrolment>>,
}

/// The chart page's record (see [`FullChart`]).
pub async fn full_chart(state: &AppState, caller: &Auth, id: ClientId, now: Timestamp) -> AppResult<FullChart> {
    let (chart, sites) = tokio::try_join!(chart(state, caller, id, now), super::directory::sites(state))?;
    let (measures, alerts) = if caller.staff.roles.allow(Permission::ReadMeasures) {
        tokio::try_join!(state.store.measures_of(id, None), state.store.alerts_of(id))?
    } else {
        (Vec::new(), Vec::new())
    };
    let mut screens = HashMap::new();
    let mut rems = None;
    if caller.staff.roles.allow(Permission::ReadScreening) {
        for c in &chart.courses {
            screens.insert(c.id, state.store.screens_of(c.id).await?);
        }
        let esketamine =
            chart.courses.iter().any(|c| {
                state.config.protocols.get(&c.protocol).is_some_and(|p| {
                    p.dose.routes().iter().any(|r| r.route == kairos_domain::protocols::Route::Intranasal)
                })
            });
        if esketamine {
            rems = Some(state.store.rems_enrolment(id).await?);
        }
    }
    let mut plans = Vec::new();
    for c in &chart.courses {
        plans.extend(state.store.plan_of(c.id).await?);
    }
    Ok(FullChart { chart, sites, measures, alerts, screens, plans, rems })
}

/// The display names of these clients, for a page that lists them beside
/// records whose read it audits.
pub async fn names(state: &AppState, ids: &[ClientId]) -> AppResult<HashMap<ClientId, String>> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    Ok(state.store.clients_by_ids(&ids).await?.into_iter().map(|c| (c.id, c.details.display_name())).collect())
}

/// A client's display name, for the heading of a form about them (404 for
/// no such client).
pub async fn name(state: &AppState, id: ClientId) -> AppResult<String> {
    Ok(state.store.get_client(id).await?.details.display_name())
}

/// A client's details, to change them (the read is audited).
pub async fn details(state: &AppState, caller: &Auth, id: ClientId) -> AppResult<Client> {
    require(caller, Permission::WriteClients)?;
    let client = state.store.get_client(id).await?;
    state
        .store
        .audit_read(
            &caller.actor(),
            kairos_store::AuditEntry::new(kairos_store::Action::Read, "client", id).client(id).detail("details form"),
        )
        .await?;
    Ok(client)
}

/// Every change of a client's details, newest first, each field before and
/// after, with the names of the staff who made them; the read is audited.
pub async fn history(
    state: &AppState,
    caller: &Auth,
    id: ClientId,
) -> AppResult<(Client, Vec<kairos_store::clients::DetailsChange>, HashMap<kairos_domain::ids::StaffId, String>)> {
    require(caller, Permission::ReadClients)?;
    let client = state.store.get_client(id).await?;
    let changes = state.store.client_history(id).await?;
    let staff: Vec<_> = changes.iter().filter_map(|c| c.changed_by).collect();
    let names = state.store.staff_names(&staff).await?;
    state
        .store
        .audit_read(
            &caller.actor(),
            kairos_store::AuditEntry::new(kairos_store::Action::Read, "client_history", id).client(id),
        )
        .await?;
    Ok((client, changes, names))
}

/// Registers a client (details already read by `ClientDetails::parse`:
/// names, date of birth not in the future, contacts, an emergency contact
/// with both name and number).
pub async fn register(
    state: &AppState,
    caller: &Auth,
    details: &kairos_domain::client::ClientDetails,
) -> AppResult<Client> {
    require(caller, Permission::WriteClients)?;
    Ok(state.store.create_client(&caller.actor(), details).await?)
}

/// A client's details as saved, and the change of their portal address
/// still waiting for confirmation, if any.
pub struct Edited {
    pub client: Client,
    /// The change of portal address waiting for confirmation, if any.
    pub email_change: Option<EmailChange>,
    /// Whether this edit asked for that change (it waits: the API's 202).
    pub change_requested: bool,
}

/// Replaces a client's details (the change is audited). For a client with
/// a portal account a new e-mail address is not saved yet: the client's
/// address (the portal's) stays, and the change waits for the client to
/// confirm it from a link sent to the old address, or for a second staff
/// member to confirm it in person (`usecase::portal::confirm_email_change_*`).
/// The address of a portal client is changed, not removed.
pub async fn edit(
    state: &AppState,
    caller: &Auth,
    id: ClientId,
    details: &kairos_domain::client::ClientDetails,
) -> AppResult<Edited> {
    require(caller, Permission::WriteClients)?;
    if let Some(account) = state.store.portal_account(id).await? {
        let new = details.email.as_ref().map(|e| e.as_str().to_string());
        if new.as_deref() != Some(account.email.as_str()) {
            let Some(new) = new else {
                return Err(AppError::invalid(
                    "email",
                    "the client has a portal account: its e-mail address can be changed (the client confirms it), \
                     not removed",
                ));
            };
            let mut kept = details.clone();
            kept.email = Some(Email::parse("email", &account.email)?);
            let cfg = &state.config.portal;
            let code = crate::auth::new_token();
            let expires_at = state.now() + cfg.invitation_lifetime;
            let mail = OutgoingEmail {
                to: account.email.clone(),
                subject: format!("Confirm the new e-mail address of your {} portal", cfg.clinic_name),
                body: format!(
                    "{} was asked to send your portal's sign-in links to a new address: {new}.\n\n\
                     If you asked for this, open this link and confirm:\n\n{}\n\nIt works for {} days. \
                     Until you confirm, your portal stays with this address. If you did not ask for this, \
                     do not open the link, and call the clinic.\n",
                    cfg.clinic_name,
                    crate::api::portal::link(state, &format!("/portal/email-change/{code}")),
                    cfg.invitation_lifetime.as_hours() / 24
                ),
            };
            let req = ChangeRequest { new_email: &new, code: &code, expires_at, mail: &mail };
            let (client, change) = state.store.update_client_pending_email(&caller.actor(), id, &kept, &req).await?;
            return Ok(Edited { client, email_change: Some(change), change_requested: true });
        }
    }
    let client = state.store.update_client(&caller.actor(), id, details).await?;
    let email_change = state.store.pending_email_change(id).await?;
    Ok(Edited { client, email_change, change_requested: false })
}
