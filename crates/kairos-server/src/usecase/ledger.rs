//! The controlled-substance ledger as its pages read it: what needs
//! attention, a stock with its numbered entries, the REMS forms due, and the
//! time zone each entry's times are shown in. A read naming clients is a
//! read of each client's record, audited before it returns.

use super::require;
use crate::api::dosing::RemsDueView;
use crate::api::ledger::Reconciliation;
use crate::error::AppResult;
use crate::extract::Auth;
use crate::state::AppState;
use jiff::tz::TimeZone;
use kairos_domain::ids::{ClientId, LedgerEntryId, RegistrationId, StaffId, StockId};
use kairos_domain::roles::Permission;
use kairos_domain::site::Site;
use kairos_store::ledger::{Entry, PendingWaste, Registration, Stock};
use kairos_store::{Action, AuditEntry};
use std::collections::HashMap;

/// Records that the caller read these clients' records on a ledger page
/// (`what`: the page), one entry per client.
async fn audit_clients(state: &AppState, caller: &Auth, ids: &[ClientId], what: &'static str) -> AppResult<()> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    let rows: Vec<AuditEntry> = ids
        .iter()
        .map(|c| AuditEntry::new(Action::Read, what, c).client(*c).detail("controlled-substance ledger"))
        .collect();
    if !rows.is_empty() {
        state.store.audit_reads(&caller.actor(), &rows).await?;
    }
    Ok(())
}

/// The clinic's DEA registrations.
pub async fn registrations(state: &AppState, caller: &Auth) -> AppResult<Vec<Registration>> {
    require(caller, Permission::ReadLedger)?;
    Ok(state.store.registrations().await?)
}

/// A registration with the site it is held at.
pub async fn registration_at_site(state: &AppState, id: RegistrationId) -> AppResult<(Registration, Site)> {
    let registration = state.store.registration(id).await?;
    let site = state.store.get_site(registration.site_id).await?;
    Ok((registration, site))
}

/// The time zone of the site a registration is held at.
pub async fn registration_time_zone(state: &AppState, id: RegistrationId) -> AppResult<TimeZone> {
    Ok(registration_at_site(state, id).await?.1.time_zone.tz())
}

/// The time zone of the site a stock is kept at.
pub async fn stock_time_zone(state: &AppState, id: StockId) -> AppResult<TimeZone> {
    registration_time_zone(state, state.store.stock(id).await?.registration_id).await
}

/// The time zone of the site an entry's stock is kept at; the practice's for
/// an entry that does not exist (the command then refuses it by name).
pub async fn entry_time_zone(state: &AppState, id: LedgerEntryId) -> AppResult<TimeZone> {
    match state.store.ledger_entry(id).await {
        Ok(e) => stock_time_zone(state, e.stock_id).await,
        Err(_) => state.practice_tz().await,
    }
}

/// The ledger's front page: the registrations, and for those who read the
/// ledger what needs attention and the stock of each registration.
pub struct Overview {
    pub sites: Vec<Site>,
    pub registrations: Vec<Registration>,
    /// With the permission to read the ledger.
    pub attention: Option<Attention>,
}

/// What needs someone's attention in the ledger, with the names it shows.
pub struct Attention {
    pub reconciliation: Reconciliation,
    /// The REMS forms due (for those who also read dosing sessions).
    pub rems: Vec<RemsDueView>,
    /// The clients named by the waste to witness, the doses not on the
    /// books and the REMS forms due; each is audited.
    pub client_names: HashMap<ClientId, String>,
    /// Who notified the DEA of each open loss.
    pub notified_by: HashMap<StaffId, String>,
    /// The stock of each open loss, in `reconciliation.open_losses` order.
    pub loss_stocks: Vec<Stock>,
    /// The stock held under each registration.
    pub stocks: HashMap<RegistrationId, Vec<Stock>>,
    /// Dose visits of the last [`UNCHARTED_DAYS`] days marked completed
    /// with no dosing session charted: how many, and the latest 20.
    pub uncharted_doses: (i64, Vec<kairos_domain::encounter::Encounter>),
}

/// The ledger's front page (see [`Overview`]).
pub async fn overview(state: &AppState, caller: &Auth) -> AppResult<Overview> {
    if !caller.staff.roles.allow(Permission::ManageRegistrations) {
        require(caller, Permission::ReadLedger)?;
    }
    let sites = state.store.list_sites().await?;
    let registrations = state.store.registrations().await?;
    let attention = if caller.staff.roles.allow(Permission::ReadLedger) {
        Some(attention(state, caller, &registrations).await?)
    } else {
        None
    };
    Ok(Overview { sites, registrations, attention })
}

/// How far back the ledger page looks for dose visits completed with no
/// dosing session charted.
pub const UNCHARTED_DAYS: i64 = 30;

async fn attention(state: &AppState, caller: &Auth, registrations: &[Registration]) -> AppResult<Attention> {
    let r = crate::api::ledger::reconciliation(state).await?;
    let since = state.now() - jiff::SignedDuration::from_hours(24 * UNCHARTED_DAYS);
    let uncharted_doses = state.store.doses_without_session(since, 20).await?;
    let mut clients: Vec<ClientId> = r.pending_waste.iter().filter_map(|p| p.administration.client_id).collect();
    clients.extend(uncharted_doses.1.iter().map(|e| e.client_id));
    clients.extend(r.unledgered_sessions.iter().map(|u| u.client_id));
    let rems = if caller.staff.roles.allow(Permission::ReadLedger) {
        crate::api::dosing::rems_due(state, caller).await?
    } else {
        Vec::new()
    };
    clients.extend(rems.iter().map(|d| d.client_id));
    let client_names = super::clients::names(state, &clients).await?;
    audit_clients(state, caller, &clients, "ledger").await?;
    let notifiers: Vec<StaffId> = r.open_losses.iter().filter_map(|l| l.notified_by).collect();
    let notified_by = state.store.staff_names(&notifiers).await?;
    let mut loss_stocks = Vec::new();
    for l in &r.open_losses {
        loss_stocks.push(state.store.stock(l.entry.stock_id).await?);
    }
    let mut stocks = HashMap::new();
    for reg in registrations {
        stocks.insert(reg.id, state.store.stocks(Some(reg.id)).await?);
    }
    Ok(Attention { reconciliation: r, rems, client_names, notified_by, loss_stocks, stocks, uncharted_doses })
}

/// One stock with every entry in order; each client the entries name is
/// audited.
pub async fn stock(state: &AppState, caller: &Auth, id: StockId) -> AppResult<(Stock, Vec<Entry>)> {
    require(caller, Permission::ReadLedger)?;
    let stock = state.store.stock(id).await?;
    let entries = state.store.entries(stock.id).await?;
    let clients: Vec<ClientId> = entries.iter().filter_map(|e| e.client_id).collect();
    audit_clients(state, caller, &clients, "ledger").await?;
    Ok((stock, entries))
}

/// A stock as its page shows it.
pub struct StockSheet {
    pub stock: Stock,
    /// Every entry in order (its clients audited).
    pub entries: Vec<Entry>,
    pub registration: Registration,
    /// The time zone of the registration's site.
    pub time_zone: TimeZone,
    pub client_names: HashMap<ClientId, String>,
    /// Who recorded and who witnessed each entry.
    pub staff_names: HashMap<StaffId, String>,
    /// For those who record movements: doses drawn from this stock whose
    /// rest is still to waste, with their clients' names.
    pub pending: Vec<PendingWaste>,
    pub pending_names: HashMap<ClientId, String>,
}

/// The stock page's record (see [`StockSheet`]).
pub async fn stock_sheet(state: &AppState, caller: &Auth, id: StockId) -> AppResult<StockSheet> {
    let (stock, entries) = self::stock(state, caller, id).await?;
    let (registration, site) = registration_at_site(state, stock.registration_id).await?;
    let clients: Vec<ClientId> = entries.iter().filter_map(|e| e.client_id).collect();
    let client_names = super::clients::names(state, &clients).await?;
    let mut staff: Vec<StaffId> =
        entries.iter().flat_map(|e| std::iter::once(e.recorded_by).chain(e.witnesses.iter().copied())).collect();
    staff.sort();
    staff.dedup();
    let staff_names = state.store.staff_names(&staff).await?;
    let (pending, pending_names) = if caller.staff.roles.allow(Permission::RecordLedger) {
        let pending: Vec<PendingWaste> =
            state.store.pending_waste().await?.into_iter().filter(|p| p.stock.id == stock.id).collect();
        let clients: Vec<ClientId> = pending.iter().filter_map(|p| p.administration.client_id).collect();
        let names = super::clients::names(state, &clients).await?;
        (pending, names)
    } else {
        (Vec::new(), HashMap::new())
    };
    Ok(StockSheet {
        stock,
        entries,
        registration,
        time_zone: site.time_zone.tz(),
        client_names,
        staff_names,
        pending,
        pending_names,
    })
}

/// Esketamine sessions whose REMS form is due, for the ledger's list (the
/// API's rule); each client listed is audited.
pub async fn rems_forms_due(state: &AppState, caller: &Auth) -> AppResult<Vec<RemsDueView>> {
    let due = crate::api::dosing::rems_due(state, caller).await?;
    let clients: Vec<ClientId> = due.iter().map(|d| d.client_id).collect();
    audit_clients(state, caller, &clients, "rems_form").await?;
    Ok(due)
}

/// Records an entry in a stock's book (waste, breakage, a return,
/// destruction, theft or loss, a count or a correction): which kinds may be
/// recorded here (`kairos_domain::ledger::may_record_directly`), the entry's
/// fields and the number of witnesses its kind needs (`enough_witnesses`)
/// first, then each witness signs with their own e-mail and password
/// (`may_witness`); waste takes the client of the administration it follows
/// (`takes_related_client`).
pub async fn record_entry(
    state: &AppState,
    caller: &Auth,
    stock: StockId,
    body: &crate::api::ledger::EntryBody,
) -> AppResult<Entry> {
    use kairos_domain::ledger::{EntryDetail, Quantity};
    require(caller, Permission::RecordLedger)?;
    kairos_domain::ledger::may_record_directly(body.kind)?;
    if body.kind == kairos_domain::ledger::EntryKind::Count {
        kairos_domain::ledger::may_count_directly(body.count_type)?;
    }
    // The stock is named by the page or the path: one that does not exist
    // is a 404 before the entry's fields are judged.
    state.store.stock(stock).await?;
    let opt = |field: &str, v: &Option<String>, max: usize| kairos_domain::text::optional(field, v.as_deref(), max);
    let mut new = kairos_store::ledger::NewEntry {
        stock_id: stock,
        kind: body.kind,
        occurred_at: crate::api::charted_at("occurred_at", body.occurred_at.as_deref(), state.now())?,
        quantity: Quantity::from_units("quantity", body.quantity)?,
        detail: EntryDetail {
            party: body.recipient.clone(),
            count_type: body.count_type,
            business_time: body.business_time,
            method: opt("method", &body.method, 300)?,
            narrative: opt("narrative", &body.narrative, 4000)?,
            form_reference: opt("form_reference", &body.form_reference, 100)?,
            ..EntryDetail::default()
        },
        client_id: None,
        dosing_session_id: None,
        related_id: crate::api::opt_field_id::<LedgerEntryId>("related_id", body.related_id.as_deref())?,
        witnesses: vec![],
    };
    kairos_domain::ledger::enough_witnesses(body.kind, body.witnesses.len(), &state.config.ledger)?;
    let witnesses = witnesses(state, caller, &body.witnesses).await?;
    if let Some(rel) = new.related_id
        && kairos_domain::ledger::takes_related_client(body.kind)
    {
        let related = state.store.ledger_entry(rel).await.map_err(|_| {
            crate::error::AppError::invalid("related_id", format!("related_id: no ledger entry with id {rel}"))
        })?;
        new.client_id = related.client_id;
    }
    new.witnesses = witnesses;
    Ok(state.store.record_entry(&caller.actor(), &state.config.ledger, &new).await?)
}

/// Signs each witness in with their own credentials (throttled as a
/// sign-in) and checks they may witness the entry.
pub async fn witnesses(
    state: &AppState,
    caller: &Auth,
    sigs: &[crate::api::ledger::WitnessSignature],
) -> AppResult<Vec<StaffId>> {
    use crate::error::AppError;
    let mut out = Vec::with_capacity(sigs.len());
    for (i, w) in sigs.iter().enumerate() {
        let field = format!("witnesses[{i}]");
        let staff = match crate::auth::authenticate(
            state,
            &w.email,
            &w.password,
            caller.remote_addr.clone(),
            "witness signature",
        )
        .await
        {
            Ok(s) => s,
            Err(AppError::Unauthenticated) => {
                return Err(AppError::invalid(field, "the witness's e-mail or password is not right"));
            }
            Err(e) => return Err(e),
        };
        kairos_domain::ledger::may_witness(&field, caller.staff.id, &staff)?;
        out.push(staff.id);
    }
    Ok(out)
}

/// Records a DEA registration: a registrant at a site.
pub async fn register(
    state: &AppState,
    caller: &Auth,
    body: crate::api::ledger::RegistrationBody,
) -> AppResult<Registration> {
    require(caller, Permission::ManageRegistrations)?;
    let new = kairos_store::ledger::NewRegistration {
        site_id: crate::api::field_id("site_id", &body.site_id)?,
        dea_number: body.dea_number,
        registrant: body.registrant,
        address: body.address,
    };
    Ok(state.store.create_registration(&caller.actor(), &new).await?)
}

/// Receives stock from a supplier: a new stock with its receipt entry (the
/// containers received times the units per container).
pub async fn receive(
    state: &AppState,
    caller: &Auth,
    body: crate::api::ledger::ReceiptBody,
) -> AppResult<(Stock, Entry)> {
    use kairos_domain::ledger::{EntryDetail, EntryKind, Quantity};
    require(caller, Permission::RecordLedger)?;
    let spec = body.stock.spec()?;
    let receipt = kairos_store::ledger::NewEntry {
        stock_id: StockId::new(),
        kind: EntryKind::Receipt,
        occurred_at: crate::api::charted_at("received_at", body.received_at.as_deref(), state.now())?,
        quantity: Quantity(spec.units_per_container.0 * i64::from(body.containers)),
        detail: EntryDetail {
            party: Some(body.supplier),
            containers: Some(body.containers),
            invoice: kairos_domain::text::optional("invoice", body.invoice.as_deref(), 100)?,
            ..EntryDetail::default()
        },
        client_id: None,
        dosing_session_id: None,
        related_id: None,
        witnesses: vec![],
    };
    Ok(state.store.receive(&caller.actor(), &state.config.ledger, &spec, &receipt).await?)
}

/// Opens the books on stock already held, with its initial inventory
/// (opened containers may be estimated: 21 CFR 1304.11(e)).
pub async fn open_with_inventory(
    state: &AppState,
    caller: &Auth,
    body: crate::api::ledger::InitialInventoryBody,
) -> AppResult<(Stock, Entry)> {
    use kairos_domain::ledger::{CountType, EntryDetail, EntryKind, Quantity};
    require(caller, Permission::RecordLedger)?;
    let spec = body.stock.spec()?;
    let count = kairos_store::ledger::NewEntry {
        stock_id: StockId::new(),
        kind: EntryKind::Count,
        occurred_at: crate::api::charted_at("counted_at", body.counted_at.as_deref(), state.now())?,
        quantity: Quantity::from_units("quantity", body.quantity)?,
        detail: EntryDetail {
            count_type: Some(CountType::Initial),
            business_time: Some(body.business_time),
            ..EntryDetail::default()
        },
        client_id: None,
        dosing_session_id: None,
        related_id: None,
        witnesses: vec![],
    };
    Ok(state.store.receive(&caller.actor(), &state.config.ledger, &spec, &count).await?)
}

/// Records when the DEA was notified of a theft or loss (blank: now).
pub async fn loss_notified(state: &AppState, caller: &Auth, loss: LedgerEntryId, at: Option<&str>) -> AppResult<()> {
    require(caller, Permission::RecordLedger)?;
    let at = crate::api::charted_at("at", at, state.now())?;
    Ok(state.store.loss_notified(&caller.actor(), loss, at).await?)
}

/// Records DEA Form 106 as filed, with its reference.
pub async fn form106_filed(state: &AppState, caller: &Auth, loss: LedgerEntryId, reference: &str) -> AppResult<()> {
    require(caller, Permission::RecordLedger)?;
    Ok(state.store.loss_form106(&caller.actor(), loss, reference).await?)
}

/// Takes a registration's biennial inventory (21 CFR 1304.11(c)): each
/// count's quantity first (named `counts[i].quantity`), then the store
/// checks, under the stocks' locks, that every stock on the books is
/// counted once (`kairos_domain::ledger::inventory_covers`) and writes the
/// event with every count, or nothing.
pub async fn take_inventory(
    state: &AppState,
    caller: &Auth,
    registration: RegistrationId,
    body: &crate::api::inventories::InventoryBody,
) -> AppResult<kairos_store::inventories::Inventory> {
    use kairos_domain::ledger::Quantity;
    require(caller, Permission::RecordLedger)?;
    state.store.registration(registration).await?;
    let mut counts = Vec::with_capacity(body.counts.len());
    for (i, c) in body.counts.iter().enumerate() {
        let quantity = Quantity::from_units(&format!("counts[{i}].quantity"), c.quantity)?;
        if quantity.0 < 0 {
            return Err(crate::error::AppError::invalid(format!("counts[{i}].quantity"), "a count cannot be negative"));
        }
        counts.push(kairos_store::inventories::NewCount {
            stock_id: crate::api::field_id(&format!("counts[{i}].stock_id"), &c.stock_id)?,
            quantity,
            note: kairos_domain::text::optional(&format!("counts[{i}].note"), c.note.as_deref(), 4000)?,
        });
    }
    let new = kairos_store::inventories::NewInventory {
        registration_id: registration,
        taken_at: crate::api::charted_at("taken_at", body.taken_at.as_deref(), state.now())?,
        business_time: body.business_time,
        counts,
    };
    Ok(state.store.record_inventory(&caller.actor(), &state.config.ledger, &new).await?)
}

/// A registration's biennial inventories, newest first.
pub async fn inventories(
    state: &AppState,
    caller: &Auth,
    registration: RegistrationId,
) -> AppResult<Vec<kairos_store::inventories::Inventory>> {
    require(caller, Permission::ReadLedger)?;
    state.store.registration(registration).await?;
    Ok(state.store.inventories(registration).await?)
}

/// One biennial inventory with its counts.
pub async fn inventory(
    state: &AppState,
    caller: &Auth,
    id: kairos_domain::ids::InventoryId,
) -> AppResult<kairos_store::inventories::Inventory> {
    require(caller, Permission::ReadLedger)?;
    Ok(state.store.inventory(id).await?)
}

/// Where a registration's biennial inventory stands today, in its site's
/// time zone: due two years after its latest biennial inventory or, before
/// the first, after its initial inventory.
pub async fn inventory_status(
    state: &AppState,
    registration: &Registration,
) -> AppResult<kairos_domain::ledger::InventoryStatus> {
    let tz = state.site_tz(registration.site_id).await?;
    let today = state.now().to_zoned(tz.clone()).date();
    let dates = state.store.inventory_dates(registration.id).await?;
    let day = |t: Option<jiff::Timestamp>| t.map(|t| t.to_zoned(tz.clone()).date());
    let last = kairos_domain::ledger::last_inventory(day(dates.initial), day(dates.biennial));
    Ok(kairos_domain::ledger::inventory_status(last, today, &state.config.ledger))
}

/// A biennial inventory as its printable record shows it.
pub struct InventoryRecord {
    pub inventory: kairos_store::inventories::Inventory,
    pub registration: Registration,
    pub site: Site,
    /// Who took it.
    pub taken_by: String,
}

/// One biennial inventory with its registration, site and who took it.
pub async fn inventory_record(
    state: &AppState,
    caller: &Auth,
    id: kairos_domain::ids::InventoryId,
) -> AppResult<InventoryRecord> {
    let inventory = self::inventory(state, caller, id).await?;
    let (registration, site) = registration_at_site(state, inventory.registration_id).await?;
    let taken_by =
        state.store.staff_names(&[inventory.taken_by]).await?.remove(&inventory.taken_by).unwrap_or_default();
    Ok(InventoryRecord { inventory, registration, site, taken_by })
}

/// The stock held under a registration, by substance, NDC and lot.
pub async fn stocks(state: &AppState, caller: &Auth, registration: RegistrationId) -> AppResult<Vec<Stock>> {
    require(caller, Permission::ReadLedger)?;
    Ok(state.store.stocks(Some(registration)).await?)
}
