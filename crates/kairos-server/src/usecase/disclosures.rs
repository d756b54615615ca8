//! Disclosures of a client's record and the accounting of them (45 CFR
//! 164.528; ONC 170.315(d)(11); the rules are `kairos_domain::disclosures`).
//!
//! A disclosure is recorded by hand by staff who may change the client's
//! record (a copy sent to another provider, a subpoena answered), or by the
//! act that made it: a submitted REMS form (`Store::save_rems`), a ledger
//! report handed to an inspector (`ledger_report`, one entry per client it
//! names). The accounting lists the six years before today: by default
//! those the client's accounting includes, or every disclosure. Every door
//! calls these functions.

use super::require;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use jiff::Timestamp;
use jiff::civil::Date;
use kairos_domain::disclosures::{self as rules, Purpose};
use kairos_domain::ids::{ClientId, RegistrationId};
use kairos_domain::roles::Permission;
use kairos_store::disclosures::{Disclosure, NewDisclosure};
use kairos_store::{Action, AuditEntry};

/// What a person typed about a disclosure.
pub struct Input<'a> {
    /// When it was made (none: now).
    pub disclosed_at: Option<Timestamp>,
    pub recipient: &'a str,
    pub recipient_address: Option<&'a str>,
    pub description: &'a str,
    pub purpose: &'a str,
    pub statement: Option<&'a str>,
}

fn checked(state: &AppState, client: ClientId, i: &Input<'_>) -> AppResult<NewDisclosure> {
    let now = state.now();
    let at = i.disclosed_at.unwrap_or(now);
    rules::check_disclosed_at(at, now)?;
    Ok(NewDisclosure {
        client,
        disclosed_at: at,
        recipient: kairos_domain::text::required("recipient", i.recipient, 200)?,
        recipient_address: kairos_domain::text::optional("recipient_address", i.recipient_address, 500)?,
        description: kairos_domain::text::required("description", i.description, 1000)?,
        purpose: Purpose::parse("purpose", i.purpose.trim())?,
        statement: kairos_domain::text::optional("statement", i.statement, 1000)?,
        source: "recorded",
        source_ref: None,
    })
}

/// Records a disclosure of the client's record made by hand.
pub async fn record(state: &AppState, caller: &Auth, client: ClientId, input: &Input<'_>) -> AppResult<Disclosure> {
    require(caller, Permission::WriteClients)?;
    let new = checked(state, client, input)?;
    Ok(state.store.record_disclosures(&caller.actor(), &[new]).await?.remove(0))
}

/// An accounting of a client's disclosures.
pub struct Accounting {
    /// The first and last day covered (the practice's local days).
    pub from: Date,
    pub to: Date,
    /// Newest first.
    pub entries: Vec<Disclosure>,
    /// Disclosures in the period that the client's accounting leaves out
    /// (treatment, payment, operations, to the client, authorized), when
    /// only the client's accounting was asked for.
    pub left_out: usize,
}

/// The accounting of the six years before today: those the client's
/// accounting includes, or (`all`) every disclosure. Audited under the
/// client.
pub async fn accounting(state: &AppState, caller: &Auth, client: ClientId, all: bool) -> AppResult<Accounting> {
    require(caller, Permission::ReadClients)?;
    state.store.get_client(client).await?;
    let tz = state.practice_tz().await?;
    let to = state.now().to_zoned(tz.clone()).date();
    let from = rules::accounting_from(to);
    let since = from.to_zoned(tz).map_err(|e| crate::error::AppError::invalid("from", e.to_string()))?.timestamp();
    let every = state.store.disclosures_of(client, since).await?;
    let (entries, left): (Vec<Disclosure>, Vec<Disclosure>) =
        every.into_iter().partition(|d| all || d.purpose.in_clients_accounting());
    let entry = AuditEntry::new(Action::Read, "disclosures", client).client(client);
    state.store.audit_read(&caller.actor(), entry).await?;
    Ok(Accounting { from, to, entries, left_out: left.len() })
}

/// What was handed over with a ledger report.
pub struct Handover<'a> {
    pub recipient: &'a str,
    pub recipient_address: Option<&'a str>,
    pub purpose: &'a str,
    pub statement: Option<&'a str>,
}

/// Records that the ledger report of `reg` over `from`..`to` was handed to
/// someone outside the clinic: one disclosure per client the report names
/// (their name and address as the entries recorded them). Returns how many
/// clients.
pub async fn ledger_report(
    state: &AppState,
    caller: &Auth,
    reg: RegistrationId,
    from: Option<&str>,
    to: Option<&str>,
    h: &Handover<'_>,
) -> AppResult<usize> {
    require(caller, Permission::ReadLedger)?;
    let report = crate::api::ledger::ledger_report(state, caller, reg, from, to).await?;
    let mut clients: Vec<ClientId> = report.lines.iter().filter_map(|l| l.client_id).collect();
    clients.sort();
    clients.dedup();
    let description = format!(
        "Controlled-substance ledger report of DEA registration {}, {} to {}: the client's name and address on \
         each administration",
        report.registration.dea_number, report.from, report.to
    );
    let input = Input {
        disclosed_at: None,
        recipient: h.recipient,
        recipient_address: h.recipient_address,
        description: &description,
        purpose: h.purpose,
        statement: h.statement,
    };
    let new: Vec<NewDisclosure> = clients
        .iter()
        .map(|c| {
            checked(state, *c, &input).map(|n| NewDisclosure {
                source: "ledger_report",
                source_ref: Some(reg.to_string()),
                ..n
            })
        })
        .collect::<AppResult<_>>()?;
    if new.is_empty() {
        // Still check what was typed, so a refusal names the field.
        checked(state, ClientId::new(), &input)?;
        return Ok(0);
    }
    Ok(state.store.record_disclosures(&caller.actor(), &new).await?.len())
}
