//! Biennial inventories (21 CFR 1304.11(c)): one dated event across every
//! stock of a DEA registration. The event and one count entry per stock are
//! written in one transaction, under each stock's lock, after the domain
//! has checked that every stock on the books is counted once
//! (`kairos_domain::ledger::inventory_covers`). Nothing is written for an
//! incomplete inventory.

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::ledger::{Entry, NewEntry, Stock};
use crate::rows::{self, micros};
use crate::{Backend, Result, Store, StoreError};
use jiff::Timestamp;
use kairos_domain::ids::{InventoryId, RegistrationId, StaffId, StockId};
use kairos_domain::ledger::{BusinessTime, CountType, EntryDetail, EntryKind, LedgerPolicy, OnHand, Quantity};
use serde::Serialize;

/// One stock's count in an inventory, as typed.
#[derive(Debug, Clone)]
pub struct NewCount {
    pub stock_id: StockId,
    pub quantity: Quantity,
    /// How the count was made or why it differs (an opened container
    /// estimated, 1304.11(e)(3)).
    pub note: Option<String>,
}

/// An inventory to record: when, at which end of the business day, and
/// one count per stock.
#[derive(Debug, Clone)]
pub struct NewInventory {
    pub registration_id: RegistrationId,
    pub taken_at: Timestamp,
    pub business_time: BusinessTime,
    pub counts: Vec<NewCount>,
}

/// One stock in a recorded inventory: the stock (its substance, form, NDC,
/// lot and units per container) and its count entry (the quantity counted
/// and what the books said, `detail.expected`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = InventoryCount))]
pub struct InventoryCount {
    pub stock: Stock,
    pub entry: Entry,
}

/// A recorded inventory.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Inventory {
    pub id: InventoryId,
    pub registration_id: RegistrationId,
    /// Always `biennial`: the registration's initial inventory is each
    /// stock's opening count.
    pub count_type: CountType,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub taken_at: Timestamp,
    pub business_time: BusinessTime,
    pub taken_by: StaffId,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub recorded_at: Timestamp,
    /// The stocks counted, by substance, NDC and lot.
    pub counts: Vec<InventoryCount>,
}

/// The dates a registration's inventory clock runs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InventoryDates {
    /// The registration's initial inventory: its first stock's opening count.
    pub initial: Option<Timestamp>,
    /// The latest biennial inventory.
    pub biennial: Option<Timestamp>,
}

const INV_COLS: &str = "id, registration_id, taken_at, business_time, taken_by, recorded_at";

fn inventory_of(r: &sqlx::any::AnyRow, counts: Vec<InventoryCount>) -> Result<Inventory> {
    Ok(Inventory {
        id: rows::get_id(r, "id")?,
        registration_id: rows::get_id(r, "registration_id")?,
        count_type: CountType::Biennial,
        taken_at: rows::get_ts(r, "taken_at")?,
        business_time: BusinessTime::parse("business_time", &rows::get_str(r, "business_time")?)
            .map_err(|e| StoreError::corrupt(e.to_string()))?,
        taken_by: rows::get_id(r, "taken_by")?,
        recorded_at: rows::get_ts(r, "recorded_at")?,
        counts,
    })
}

/// Inventory lines in the order the books list stocks: substance, NDC, lot.
fn by_stock(a: &InventoryCount, b: &InventoryCount) -> std::cmp::Ordering {
    (a.stock.substance.as_str(), &a.stock.ndc, &a.stock.lot).cmp(&(
        b.stock.substance.as_str(),
        &b.stock.ndc,
        &b.stock.lot,
    ))
}

impl Store {
    /// Records a biennial inventory of a registration: refuses one that
    /// leaves a stock on hand uncounted (naming it), counts a stock twice
    /// or counts another registration's stock; otherwise writes the event
    /// and every count at once.
    pub async fn record_inventory(
        &self,
        actor: &Actor,
        policy: &LedgerPolicy,
        new: &NewInventory,
    ) -> Result<Inventory> {
        let by = actor.staff_id.ok_or_else(|| StoreError::Config("only staff write the ledger".into()))?;
        let now = Timestamp::now();
        let mut tx = self.begin_write().await?;
        let lock = if self.backend == Backend::Postgres { " FOR UPDATE" } else { "" };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, substance, ndc, form, lot, balance, unit FROM cs_stock WHERE registration_id = $1 \
             ORDER BY substance, ndc, lot{lock}"
        )))
        .bind(new.registration_id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut on_hand = Vec::with_capacity(rows.len());
        for r in &rows {
            let unit = rows::get_str(r, "unit")?;
            on_hand.push(OnHand {
                stock_id: rows::get_str(r, "id")?,
                label: format!(
                    "{} {}, NDC {}, lot {}",
                    kairos_domain::ledger::Substance::parse("substance", &rows::get_str(r, "substance")?)
                        .map_err(|e| StoreError::corrupt(e.to_string()))?
                        .label(),
                    rows::get_str(r, "form")?,
                    rows::get_str(r, "ndc")?,
                    rows::get_str(r, "lot")?
                ),
                balance: Quantity(rows::get_i64(r, "balance")?),
                unit: kairos_domain::ledger::Unit::parse("unit", &unit)
                    .map_err(|e| StoreError::corrupt(e.to_string()))?,
            });
        }
        let counted: Vec<String> = new.counts.iter().map(|c| c.stock_id.to_string()).collect();
        kairos_domain::ledger::inventory_covers(&on_hand, &counted)?;
        let id = InventoryId::new();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO cs_inventories ({INV_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"
        )))
        .bind(id.to_string())
        .bind(new.registration_id.to_string())
        .bind(micros(new.taken_at))
        .bind(new.business_time.as_str())
        .bind(by.to_string())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
        let mut counts = Vec::with_capacity(new.counts.len());
        for c in &new.counts {
            let entry = NewEntry {
                stock_id: c.stock_id,
                kind: EntryKind::Count,
                occurred_at: new.taken_at,
                quantity: c.quantity,
                detail: EntryDetail {
                    count_type: Some(CountType::Biennial),
                    business_time: Some(new.business_time),
                    narrative: c.note.clone(),
                    ..EntryDetail::default()
                },
                client_id: None,
                dosing_session_id: None,
                related_id: None,
                witnesses: vec![],
            };
            let (stock, entry) = crate::ledger::append_in(&mut tx, self.backend, actor, policy, &entry, now).await?;
            sqlx::query("INSERT INTO cs_inventory_counts (inventory_id, entry_id, stock_id) VALUES ($1, $2, $3)")
                .bind(id.to_string())
                .bind(entry.id.to_string())
                .bind(stock.id.to_string())
                .execute(&mut *tx)
                .await?;
            counts.push(InventoryCount { stock, entry });
        }
        audit::insert_in(
            &mut tx,
            actor,
            &AuditEntry::new(Action::Create, "ledger_inventory", id)
                .detail(format!("biennial inventory of {} stock(s)", counts.len())),
            now,
        )
        .await?;
        tx.commit().await?;
        counts.sort_by(by_stock);
        Ok(Inventory {
            id,
            registration_id: new.registration_id,
            count_type: CountType::Biennial,
            taken_at: new.taken_at,
            business_time: new.business_time,
            taken_by: by,
            recorded_at: now,
            counts,
        })
    }

    /// A registration's inventories, newest first, without their counts.
    pub async fn inventories(&self, registration: RegistrationId) -> Result<Vec<Inventory>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INV_COLS} FROM cs_inventories WHERE registration_id = $1 ORDER BY taken_at DESC, recorded_at DESC"
        )))
        .bind(registration.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| inventory_of(r, Vec::new())).collect()
    }

    /// One inventory with every stock's count, by substance, NDC and lot.
    pub async fn inventory(&self, id: InventoryId) -> Result<Inventory> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {INV_COLS} FROM cs_inventories WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound { record: "inventory", id: id.to_string() })?;
        let ids: Vec<(String, String)> =
            sqlx::query_as("SELECT stock_id, entry_id FROM cs_inventory_counts WHERE inventory_id = $1")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        let mut counts = Vec::with_capacity(ids.len());
        for (stock, entry) in ids {
            let stock =
                self.stock(stock.parse().map_err(|_| StoreError::corrupt(format!("stock id {stock}")))?).await?;
            let entry =
                self.ledger_entry(entry.parse().map_err(|_| StoreError::corrupt(format!("entry id {entry}")))?).await?;
            counts.push(InventoryCount { stock, entry });
        }
        counts.sort_by(by_stock);
        inventory_of(&row, counts)
    }

    /// The dates a registration's biennial-inventory clock runs from.
    pub async fn inventory_dates(&self, registration: RegistrationId) -> Result<InventoryDates> {
        let (initial,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(e.occurred_at) FROM cs_entries e JOIN cs_stock k ON k.id = e.stock_id \
             WHERE k.registration_id = $1 AND e.kind = 'count' AND e.count_type = 'initial'",
        )
        .bind(registration.to_string())
        .fetch_one(&self.pool)
        .await?;
        let (biennial,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(taken_at) FROM cs_inventories WHERE registration_id = $1")
                .bind(registration.to_string())
                .fetch_one(&self.pool)
                .await?;
        Ok(InventoryDates {
            initial: initial.map(rows::from_micros).transpose()?,
            biennial: biennial.map(rows::from_micros).transpose()?,
        })
    }
}
