//! The controlled-substance ledger (reference.md §4): DEA registrations,
//! stocks (substance, NDC, strength, lot) and their append-only entries.
//!
//! Every entry of a stock is numbered under the stock row's lock (the
//! write transaction: `BEGIN IMMEDIATE` on SQLite, `SELECT … FOR UPDATE` on
//! PostgreSQL), and carries the balance after it; two sessions drawing on one
//! vial at the same moment are ordered, never lost. Entries never change
//! (triggers on both backends); mistakes are corrected by later entries.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::rows::{self, micros};
use crate::{Backend, Result, Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;
use kairos_domain::ids::{ClientId, DosingSessionId, LedgerEntryId, RegistrationId, SiteId, StaffId, StockId};
use kairos_domain::ledger::{
    CountType, EntryDetail, EntryKind, LedgerPolicy, Proposed, Quantity, Substance, Unit, check_dea_number,
};
use serde::Serialize;
use sqlx::any::AnyRow;
use std::collections::HashMap;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Registration {
    pub id: RegistrationId,
    pub site_id: SiteId,
    pub dea_number: String,
    pub registrant: String,
    pub address: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewRegistration {
    pub site_id: SiteId,
    pub dea_number: String,
    pub registrant: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stock {
    pub id: StockId,
    pub registration_id: RegistrationId,
    pub substance: Substance,
    pub ndc: String,
    /// e.g. "50 mg/mL injection, 10 mL multi-dose vial".
    pub form: String,
    pub unit: Unit,
    pub mg_per_unit: f64,
    pub units_per_container: Quantity,
    pub lot: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub expires: Option<Date>,
    pub storage: Option<String>,
    pub balance: Quantity,
    /// Entries so far (the number of the last one).
    pub entries: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

/// A stock as described on a receipt (found by registration, NDC and lot,
/// or created).
#[derive(Debug, Clone)]
pub struct StockSpec {
    pub registration_id: RegistrationId,
    pub substance: Substance,
    pub ndc: String,
    pub form: String,
    pub unit: Unit,
    pub mg_per_unit: f64,
    pub units_per_container: Quantity,
    pub lot: String,
    pub expires: Option<Date>,
    pub storage: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = LedgerEntry))]
pub struct Entry {
    pub id: LedgerEntryId,
    pub stock_id: StockId,
    pub seq: i64,
    pub kind: EntryKind,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub occurred_at: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub recorded_at: Timestamp,
    pub quantity: Quantity,
    pub delta: Quantity,
    pub balance_after: Quantity,
    pub detail: EntryDetail,
    pub client_id: Option<ClientId>,
    pub dosing_session_id: Option<DosingSessionId>,
    pub related_id: Option<LedgerEntryId>,
    pub recorded_by: StaffId,
    pub witnesses: Vec<StaffId>,
}

/// An entry to append (witnesses already authenticated by the caller).
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub stock_id: StockId,
    pub kind: EntryKind,
    pub occurred_at: Timestamp,
    pub quantity: Quantity,
    pub detail: EntryDetail,
    pub client_id: Option<ClientId>,
    pub dosing_session_id: Option<DosingSessionId>,
    pub related_id: Option<LedgerEntryId>,
    pub witnesses: Vec<StaffId>,
}

/// A theft or loss and where its reporting stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LossReport {
    pub entry: Entry,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub discovered_on: Date,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub notice_due: Date,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub notified_at: Option<Timestamp>,
    pub notified_by: Option<StaffId>,
    pub form106_reference: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub form106_at: Option<Timestamp>,
}

/// A client's name and address as a ledger entry recorded them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientSnapshot {
    pub name: String,
    pub address: Option<String>,
}

/// An administration whose drawn volume is not yet accounted for by given
/// plus witnessed waste.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingWaste {
    pub administration: Entry,
    pub stock: Stock,
    pub outstanding: Quantity,
}

/// A dosing session with no administration in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unledgered {
    pub session_id: DosingSessionId,
    pub client_id: ClientId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: Timestamp,
    pub dose_mg: f64,
    pub route: String,
    pub lot: String,
}

const REG_COLS: &str = "id, site_id, dea_number, registrant, address, created_at";
const STOCK_COLS: &str = "id, registration_id, substance, ndc, form, unit, mg_per_unit, units_per_container, lot, \
     expires, storage, balance, seq, created_at";
const ENTRY_COLS: &str = "id, stock_id, seq, kind, count_type, occurred_at, recorded_at, quantity, delta, \
     balance_after, detail, client_id, dosing_session_id, related_id, recorded_by, witness1, witness2";

fn registration_of(r: &AnyRow) -> Result<Registration> {
    Ok(Registration {
        id: rows::get_id(r, "id")?,
        site_id: rows::get_id(r, "site_id")?,
        dea_number: rows::get_str(r, "dea_number")?,
        registrant: rows::get_str(r, "registrant")?,
        address: rows::get_str(r, "address")?,
        created_at: rows::get_ts(r, "created_at")?,
    })
}

fn stock_of(r: &AnyRow) -> Result<Stock> {
    Ok(Stock {
        id: rows::get_id(r, "id")?,
        registration_id: rows::get_id(r, "registration_id")?,
        substance: Substance::parse("substance", &rows::get_str(r, "substance")?)?,
        ndc: rows::get_str(r, "ndc")?,
        form: rows::get_str(r, "form")?,
        unit: Unit::parse("unit", &rows::get_str(r, "unit")?)?,
        mg_per_unit: sqlx::Row::try_get::<f64, _>(r, "mg_per_unit")?,
        units_per_container: Quantity(rows::get_i64(r, "units_per_container")?),
        lot: rows::get_str(r, "lot")?,
        expires: rows::get_opt_date(r, "expires")?,
        storage: rows::get_opt_str(r, "storage")?,
        balance: Quantity(rows::get_i64(r, "balance")?),
        entries: rows::get_i64(r, "seq")?,
        created_at: rows::get_ts(r, "created_at")?,
    })
}

fn entry_of(r: &AnyRow) -> Result<Entry> {
    let witnesses =
        [rows::get_opt_id(r, "witness1")?, rows::get_opt_id(r, "witness2")?].into_iter().flatten().collect();
    Ok(Entry {
        id: rows::get_id(r, "id")?,
        stock_id: rows::get_id(r, "stock_id")?,
        seq: rows::get_i64(r, "seq")?,
        kind: EntryKind::parse("kind", &rows::get_str(r, "kind")?)?,
        occurred_at: rows::get_ts(r, "occurred_at")?,
        recorded_at: rows::get_ts(r, "recorded_at")?,
        quantity: Quantity(rows::get_i64(r, "quantity")?),
        delta: Quantity(rows::get_i64(r, "delta")?),
        balance_after: Quantity(rows::get_i64(r, "balance_after")?),
        detail: serde_json::from_str(&rows::get_str(r, "detail")?)
            .map_err(|e| StoreError::corrupt(format!("ledger entry detail: {e}")))?,
        client_id: rows::get_opt_id(r, "client_id")?,
        dosing_session_id: rows::get_opt_id(r, "dosing_session_id")?,
        related_id: rows::get_opt_id(r, "related_id")?,
        recorded_by: rows::get_id(r, "recorded_by")?,
        witnesses,
    })
}

fn prefixed(cols: &str, alias: &str) -> String {
    cols.split(',').map(|c| format!("{alias}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

/// The stock row, locked for the rest of the transaction.
async fn lock_stock(tx: &mut Tx, backend: Backend, id: StockId) -> Result<Stock> {
    let lock = if backend == Backend::Postgres { " FOR UPDATE" } else { "" };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {STOCK_COLS} FROM cs_stock WHERE id = $1{lock}")))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::UnknownReference { field: "stock_id", record: "stock", id: id.to_string() })?;
    stock_of(&row)
}

async fn entry_in(tx: &mut Tx, id: LedgerEntryId) -> Result<Option<Entry>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ENTRY_COLS} FROM cs_entries WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(entry_of).transpose()
}

/// Appends one entry inside `tx`: checks it against the policy and the
/// books, numbers it, moves the balance, writes the audit row.
pub(crate) async fn append_in(
    tx: &mut Tx,
    backend: Backend,
    actor: &Actor,
    policy: &LedgerPolicy,
    new: &NewEntry,
    now: Timestamp,
) -> Result<(Stock, Entry)> {
    let by = actor.staff_id.ok_or_else(|| StoreError::Config("only staff write the ledger".into()))?;
    let stock = lock_stock(tx, backend, new.stock_id).await?;
    let proposed = Proposed {
        kind: new.kind,
        quantity: new.quantity,
        detail: new.detail.clone(),
        recorded_by: by.to_string(),
        witnesses: new.witnesses.iter().map(ToString::to_string).collect(),
        related: new.related_id.map(|r| r.to_string()),
    };
    proposed.check(policy)?;
    let mut detail = new.detail.clone();
    if new.kind == EntryKind::Count {
        detail.expected = Some(stock.balance);
    }
    // What a related entry must be.
    if let Some(rel) = new.related_id {
        let related = entry_in(tx, rel).await?.ok_or_else(|| StoreError::UnknownReference {
            field: "related_id",
            record: "ledger entry",
            id: rel.to_string(),
        })?;
        if related.stock_id != stock.id {
            return Err(StoreError::Conflict {
                field: "related_id",
                detail: "that entry belongs to another stock".into(),
            });
        }
        if new.kind == EntryKind::Waste {
            if related.kind != EntryKind::Administration {
                return Err(StoreError::Conflict {
                    field: "related_id",
                    detail: "waste follows an administration".into(),
                });
            }
            let outstanding = outstanding_waste_in(tx, &related).await?;
            if new.quantity > outstanding {
                return Err(StoreError::Conflict {
                    field: "quantity",
                    detail: format!(
                        "only {outstanding} {} of this dose's draw is unaccounted for; waste cannot exceed it",
                        stock.unit
                    ),
                });
            }
        }
    } else if new.kind == EntryKind::Correction {
        return Err(StoreError::Domain(kairos_domain::DomainError::invalid(
            "corrects",
            "name the entry this corrects",
        )));
    }
    let after = proposed.apply(stock.balance, stock.entries)?;
    let seq = stock.entries + 1;
    sqlx::query("UPDATE cs_stock SET balance = $2, seq = $3 WHERE id = $1")
        .bind(stock.id.to_string())
        .bind(after.0)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
    let entry = Entry {
        id: LedgerEntryId::new(),
        stock_id: stock.id,
        seq,
        kind: new.kind,
        occurred_at: new.occurred_at,
        recorded_at: now,
        quantity: new.quantity,
        delta: proposed.delta(),
        balance_after: after,
        detail,
        client_id: new.client_id,
        dosing_session_id: new.dosing_session_id,
        related_id: new.related_id,
        recorded_by: by,
        witnesses: new.witnesses.clone(),
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO cs_entries ({ENTRY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    )))
    .bind(entry.id.to_string())
    .bind(stock.id.to_string())
    .bind(seq)
    .bind(entry.kind.as_str())
    .bind(entry.detail.count_type.map(|c| c.as_str()))
    .bind(micros(entry.occurred_at))
    .bind(micros(now))
    .bind(entry.quantity.0)
    .bind(entry.delta.0)
    .bind(after.0)
    .bind(serde_json::to_string(&entry.detail).map_err(|e| StoreError::corrupt(e.to_string()))?)
    .bind(entry.client_id.map(|c| c.to_string()))
    .bind(entry.dosing_session_id.map(|c| c.to_string()))
    .bind(entry.related_id.map(|c| c.to_string()))
    .bind(by.to_string())
    .bind(entry.witnesses.first().map(|w| w.to_string()))
    .bind(entry.witnesses.get(1).map(|w| w.to_string()))
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::unique(e, "dosing_session_id", "this dosing session already has its administration"))?;
    if let Some(c) = entry.client_id {
        // The client's name and address as of this entry (21 CFR 1304.22(c)).
        sqlx::query(
            "INSERT INTO cs_entry_clients (entry_id, client_name, client_address) \
             SELECT $1, given_name || ' ' || family_name, address FROM clients WHERE id = $2",
        )
        .bind(entry.id.to_string())
        .bind(c.to_string())
        .execute(&mut **tx)
        .await?;
    }
    // Coded: the kind of movement and the lot; the quantity (for an
    // administration, the client's dose) stays in the ledger itself.
    let mut audit_entry = AuditEntry::new(Action::Create, "ledger_entry", entry.id)
        .detail(format!("{} of {} lot {}", entry.kind, stock.substance, stock.lot));
    if let Some(c) = entry.client_id {
        audit_entry = audit_entry.client(c);
    }
    audit::insert_in(tx, actor, &audit_entry, now).await?;
    let stock = Stock { balance: after, entries: seq, ..stock };
    Ok((stock, entry))
}

async fn outstanding_waste_in(tx: &mut Tx, administration: &Entry) -> Result<Quantity> {
    let drawn = administration.detail.drawn.unwrap_or(administration.quantity);
    // PostgreSQL sums BIGINT as NUMERIC: cast back.
    let (wasted,): (Option<i64>,) =
        sqlx::query_as("SELECT CAST(SUM(quantity) AS BIGINT) FROM cs_entries WHERE related_id = $1 AND kind = 'waste'")
            .bind(administration.id.to_string())
            .fetch_one(&mut **tx)
            .await?;
    Ok(drawn - administration.quantity - Quantity(wasted.unwrap_or(0)))
}

impl Store {
    pub async fn create_registration(&self, actor: &Actor, new: &NewRegistration) -> Result<Registration> {
        check_dea_number("dea_number", &new.dea_number)?;
        let registrant = kairos_domain::text::required("registrant", &new.registrant, 200)?;
        let address = kairos_domain::text::required("address", &new.address, 500)?;
        let now = Timestamp::now();
        let reg = Registration {
            id: RegistrationId::new(),
            site_id: new.site_id,
            dea_number: new.dea_number.trim().to_uppercase(),
            registrant,
            address,
            created_at: now,
        };
        let mut tx = self.begin_write().await?;
        let site: Option<(String,)> = sqlx::query_as("SELECT id FROM sites WHERE id = $1")
            .bind(reg.site_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if site.is_none() {
            return Err(StoreError::UnknownReference { field: "site_id", record: "site", id: reg.site_id.to_string() });
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO cs_registrations ({REG_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"
        )))
        .bind(reg.id.to_string())
        .bind(reg.site_id.to_string())
        .bind(reg.dea_number.clone())
        .bind(reg.registrant.clone())
        .bind(reg.address.clone())
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "dea_number", "this DEA number is already registered"))?;
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Create, "registration", reg.id).detail(reg.dea_number.clone()),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(reg)
    }

    pub async fn registrations(&self) -> Result<Vec<Registration>> {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {REG_COLS} FROM cs_registrations ORDER BY dea_number")))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(registration_of).collect()
    }

    pub async fn registration(&self, id: RegistrationId) -> Result<Registration> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {REG_COLS} FROM cs_registrations WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "registration", id: id.to_string() })?;
        registration_of(&row)
    }

    /// Receives stock (or opens the books on stock already held, with its
    /// initial inventory): finds the stock by registration, NDC and lot (its
    /// description must match what is on file) or creates it, then appends
    /// the receipt or the count.
    pub async fn receive(
        &self,
        actor: &Actor,
        policy: &LedgerPolicy,
        spec: &StockSpec,
        receipt: &NewEntry,
    ) -> Result<(Stock, Entry)> {
        let opening = receipt.kind == EntryKind::Count && receipt.detail.count_type == Some(CountType::Initial);
        if receipt.kind != EntryKind::Receipt && !opening {
            return Err(StoreError::Conflict {
                field: "kind",
                detail: "stock comes onto the books by a receipt or by its initial inventory".into(),
            });
        }
        let ndc = kairos_domain::text::required("ndc", &spec.ndc, 40)?;
        let lot = kairos_domain::text::required("lot", &spec.lot, 60)?;
        let form = kairos_domain::text::required("form", &spec.form, 200)?;
        if !(spec.mg_per_unit.is_finite() && spec.mg_per_unit > 0.0) {
            return Err(kairos_domain::DomainError::invalid("mg_per_unit", "the strength must be above 0 mg").into());
        }
        if !spec.units_per_container.is_positive() {
            return Err(kairos_domain::DomainError::invalid("units_per_container", "must be above 0").into());
        }
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let reg: Option<(String,)> = sqlx::query_as("SELECT id FROM cs_registrations WHERE id = $1")
            .bind(spec.registration_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if reg.is_none() {
            return Err(StoreError::UnknownReference {
                field: "registration_id",
                record: "registration",
                id: spec.registration_id.to_string(),
            });
        }
        let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {STOCK_COLS} FROM cs_stock WHERE registration_id = $1 AND ndc = $2 AND lot = $3"
        )))
        .bind(spec.registration_id.to_string())
        .bind(ndc.clone())
        .bind(lot.clone())
        .fetch_optional(&mut *tx)
        .await?;
        let stock_id = match existing {
            Some(row) => {
                let s = stock_of(&row)?;
                if s.substance != spec.substance
                    || s.unit != spec.unit
                    || (s.mg_per_unit - spec.mg_per_unit).abs() > 1e-9
                    || s.units_per_container != spec.units_per_container
                {
                    return Err(StoreError::Conflict {
                        field: "ndc",
                        detail: format!(
                            "lot {lot} of NDC {ndc} is on file as {} {} mg/{} in {} {} containers; check the label",
                            s.substance, s.mg_per_unit, s.unit, s.units_per_container, s.unit
                        ),
                    });
                }
                s.id
            }
            None => {
                let id = StockId::new();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO cs_stock ({STOCK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 0, $12)"
                )))
                .bind(id.to_string())
                .bind(spec.registration_id.to_string())
                .bind(spec.substance.as_str())
                .bind(ndc)
                .bind(form)
                .bind(spec.unit.as_str())
                .bind(spec.mg_per_unit)
                .bind(spec.units_per_container.0)
                .bind(lot)
                .bind(spec.expires.map(|d| d.to_string()))
                .bind(spec.storage.clone())
                .bind(micros(now))
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    StoreError::unique(e, "lot", "this lot was received at the same moment by someone else; try again")
                })?;
                id
            }
        };
        let entry = NewEntry { stock_id, ..receipt.clone() };
        let out = append_in(&mut tx, self.backend, actor, policy, &entry, now).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Appends any entry but a receipt (see [`Store::receive`]) or an
    /// administration (written by the dosing session).
    pub async fn record_entry(&self, actor: &Actor, policy: &LedgerPolicy, new: &NewEntry) -> Result<Entry> {
        if matches!(new.kind, EntryKind::Receipt | EntryKind::Administration) {
            return Err(StoreError::Conflict {
                field: "kind",
                detail: "receipts come through receiving stock; administrations from the dosing session".into(),
            });
        }
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let (_, entry) = append_in(&mut tx, self.backend, actor, policy, new, now).await?;
        if new.kind == EntryKind::TheftLoss {
            let tz = self.site_zone_of_stock(&mut tx, new.stock_id).await?;
            let discovered = new.occurred_at.to_zoned(tz).date();
            let due = kairos_domain::ledger::loss_notice_due(discovered, policy);
            sqlx::query("INSERT INTO cs_loss_reports (entry_id, discovered_on, notice_due) VALUES ($1, $2, $3)")
                .bind(entry.id.to_string())
                .bind(discovered.to_string())
                .bind(due.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(entry)
    }

    async fn site_zone_of_stock(&self, tx: &mut Tx, stock: StockId) -> Result<jiff::tz::TimeZone> {
        let (tz,): (String,) = sqlx::query_as(
            "SELECT s.time_zone FROM cs_stock k JOIN cs_registrations r ON r.id = k.registration_id \
             JOIN sites s ON s.id = r.site_id WHERE k.id = $1",
        )
        .bind(stock.to_string())
        .fetch_one(&mut **tx)
        .await?;
        jiff::tz::TimeZone::get(&tz).map_err(|e| StoreError::corrupt(format!("site time zone {tz}: {e}")))
    }

    pub async fn stocks(&self, registration: Option<RegistrationId>) -> Result<Vec<Stock>> {
        let rows = match registration {
            Some(r) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {STOCK_COLS} FROM cs_stock WHERE registration_id = $1 ORDER BY substance, ndc, lot"
                )))
                .bind(r.to_string())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {STOCK_COLS} FROM cs_stock ORDER BY substance, ndc, lot"
                )))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(stock_of).collect()
    }

    pub async fn stock(&self, id: StockId) -> Result<Stock> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {STOCK_COLS} FROM cs_stock WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "stock", id: id.to_string() })?;
        stock_of(&row)
    }

    /// A stock's entries in order.
    pub async fn entries(&self, stock: StockId) -> Result<Vec<Entry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLS} FROM cs_entries WHERE stock_id = $1 ORDER BY seq"
        )))
        .bind(stock.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_of).collect()
    }

    pub async fn ledger_entry(&self, id: LedgerEntryId) -> Result<Entry> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {ENTRY_COLS} FROM cs_entries WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "ledger entry", id: id.to_string() })?;
        entry_of(&row)
    }

    /// The entries of a dosing session (its administration and any waste).
    pub async fn entries_for_session(&self, session: DosingSessionId) -> Result<Vec<Entry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM cs_entries e WHERE e.dosing_session_id = $1 \
             OR e.related_id IN (SELECT id FROM cs_entries WHERE dosing_session_id = $1) ORDER BY e.recorded_at, e.seq",
            prefixed(ENTRY_COLS, "e")
        )))
        .bind(session.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_of).collect()
    }

    /// Every entry of a registration with `occurred_at` in [from, to), in
    /// stock order then sequence: the ledger report.
    pub async fn registration_entries(
        &self,
        registration: RegistrationId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Entry>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM cs_entries e JOIN cs_stock k ON k.id = e.stock_id \
             WHERE k.registration_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3 \
             ORDER BY k.substance, k.ndc, k.lot, e.seq",
            prefixed(ENTRY_COLS, "e")
        )))
        .bind(registration.to_string())
        .bind(micros(from))
        .bind(micros(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_of).collect()
    }

    /// Open discrepancies, newest first: counts whose measured quantity
    /// differs from the books by more than the tolerance, unless a
    /// correction names the count or a later count of the same stock agrees
    /// with the books (the difference was explained or recounted).
    pub async fn discrepancies(&self, policy: &LedgerPolicy) -> Result<Vec<(Stock, Entry)>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLS} FROM cs_entries WHERE kind IN ('count', 'correction') ORDER BY stock_id, seq"
        )))
        .fetch_all(&self.pool)
        .await?;
        let entries: Vec<Entry> = rows.iter().map(entry_of).collect::<Result<_>>()?;
        let off = |e: &Entry| {
            e.kind == EntryKind::Count
                && e.detail.count_type != Some(CountType::Initial)
                && kairos_domain::ledger::discrepancy(
                    e.quantity,
                    e.detail.expected.unwrap_or(e.quantity),
                    policy.inventory.tolerance,
                )
                .is_some()
        };
        let mut out = Vec::new();
        for e in entries.iter().filter(|e| off(e)) {
            let corrected = entries.iter().any(|c| c.kind == EntryKind::Correction && c.related_id == Some(e.id));
            let recounted = entries
                .iter()
                .any(|c| c.stock_id == e.stock_id && c.seq > e.seq && c.kind == EntryKind::Count && !off(c));
            if !corrected && !recounted {
                out.push((self.stock(e.stock_id).await?, e.clone()));
            }
        }
        out.sort_by_key(|x| std::cmp::Reverse(x.1.recorded_at));
        Ok(out)
    }

    /// Administrations whose draw is not yet fully given or wasted.
    pub async fn pending_waste(&self) -> Result<Vec<PendingWaste>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {}, (SELECT CAST(COALESCE(SUM(w.quantity), 0) AS BIGINT) FROM cs_entries w \
               WHERE w.related_id = a.id AND w.kind = 'waste') AS wasted \
             FROM cs_entries a WHERE a.kind = 'administration' ORDER BY a.occurred_at DESC LIMIT 2000",
            prefixed(ENTRY_COLS, "a")
        )))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let e = entry_of(r)?;
            let wasted = Quantity(rows::get_i64(r, "wasted")?);
            let outstanding = e.detail.drawn.unwrap_or(e.quantity) - e.quantity - wasted;
            if outstanding.is_positive() {
                let stock = self.stock(e.stock_id).await?;
                out.push(PendingWaste { administration: e, stock, outstanding });
            }
        }
        Ok(out)
    }

    /// Dosing sessions with no administration in the ledger.
    pub async fn unledgered_sessions(&self) -> Result<Vec<Unledgered>> {
        let rows = sqlx::query(
            "SELECT d.id, d.client_id, d.started_at, d.dose_mg, d.route, d.lot FROM dosing_sessions d \
             WHERE NOT EXISTS (SELECT 1 FROM cs_entries e WHERE e.dosing_session_id = d.id) \
             ORDER BY d.started_at DESC LIMIT 500",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Unledgered {
                    session_id: rows::get_id(r, "id")?,
                    client_id: rows::get_id(r, "client_id")?,
                    started_at: rows::get_ts(r, "started_at")?,
                    dose_mg: sqlx::Row::try_get::<f64, _>(r, "dose_mg")?,
                    route: rows::get_str(r, "route")?,
                    lot: rows::get_str(r, "lot")?,
                })
            })
            .collect()
    }

    /// The client's name and address as each of these entries recorded
    /// them (21 CFR 1304.22(c)); entries naming no client are absent.
    pub async fn entry_clients(&self, ids: &[LedgerEntryId]) -> Result<HashMap<LedgerEntryId, ClientSnapshot>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT entry_id, client_name, client_address FROM cs_entry_clients WHERE entry_id IN ({})",
                marks.join(",")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.to_string());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.insert(
                    rows::get_id(&r, "entry_id")?,
                    ClientSnapshot {
                        name: rows::get_str(&r, "client_name")?,
                        address: rows::get_opt_str(&r, "client_address")?,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Thefts and losses, open ones (no Form 106 yet) first.
    pub async fn loss_reports(&self) -> Result<Vec<LossReport>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {}, l.discovered_on, l.notice_due, l.notified_at, l.notified_by, l.form106_reference, l.form106_at \
             FROM cs_loss_reports l JOIN cs_entries e ON e.id = l.entry_id \
             ORDER BY (l.form106_at IS NULL) DESC, l.discovered_on DESC",
            prefixed(ENTRY_COLS, "e")
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LossReport {
                    entry: entry_of(r)?,
                    discovered_on: rows::get_date(r, "discovered_on")?,
                    notice_due: rows::get_date(r, "notice_due")?,
                    notified_at: rows::get_opt_ts(r, "notified_at")?,
                    notified_by: rows::get_opt_id(r, "notified_by")?,
                    form106_reference: rows::get_opt_str(r, "form106_reference")?,
                    form106_at: rows::get_opt_ts(r, "form106_at")?,
                })
            })
            .collect()
    }

    /// Records that the DEA field division was notified in writing.
    pub async fn loss_notified(&self, actor: &Actor, entry: LedgerEntryId, at: Timestamp) -> Result<()> {
        self.loss_step(
            actor,
            entry,
            "UPDATE cs_loss_reports SET notified_at = $2, notified_by = $3 WHERE entry_id = $1 AND notified_at IS NULL",
            at,
            None,
            "DEA notified",
        )
        .await
    }

    /// Records the DEA Form 106 as filed, with its reference.
    pub async fn loss_form106(&self, actor: &Actor, entry: LedgerEntryId, reference: &str) -> Result<()> {
        let reference = kairos_domain::text::required("form106_reference", reference, 100)?;
        self.loss_step(
            actor,
            entry,
            "UPDATE cs_loss_reports SET form106_at = $2, form106_by = $3, form106_reference = $4 WHERE entry_id = $1 AND form106_at IS NULL",
            Timestamp::now(),
            Some(reference),
            "Form 106 filed",
        )
        .await
    }

    async fn loss_step(
        &self,
        actor: &Actor,
        entry: LedgerEntryId,
        sql: &'static str,
        at: Timestamp,
        reference: Option<String>,
        what: &str,
    ) -> Result<()> {
        let by = actor.staff_id.ok_or_else(|| StoreError::Config("only staff report losses".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let mut q = sqlx::query(sql).bind(entry.to_string()).bind(micros(at)).bind(by.to_string());
        if let Some(r) = reference {
            q = q.bind(r);
        }
        let done = q.execute(&mut *tx).await?.rows_affected();
        if done == 0 {
            let exists: Option<(String,)> = sqlx::query_as("SELECT entry_id FROM cs_loss_reports WHERE entry_id = $1")
                .bind(entry.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            return Err(match exists {
                None => StoreError::NotFound { record: "loss report", id: entry.to_string() },
                Some(_) => StoreError::Conflict { field: "loss_report", detail: format!("{what}: already recorded") },
            });
        }
        audit::insert_in(&mut tx, actor, &AuditEntry::new(Action::Update, "loss_report", entry).detail(what), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
