//! The controlled-substance ledger: what each stock movement must record,
//! how the running balance follows from the entries, when a count shows a
//! discrepancy, and when the biennial inventory and a loss notice are due.
//!
//! Sources: reference.md §4 (21 CFR 1304.04, 1304.11, 1304.21, 1304.22;
//! DEA Forms 41 and 106). The policy numbers a clinic or its state may change
//! live in `ledger/policy.toml`; those not confirmed in the federal text (the
//! waste witness, two destruction witnesses, the one-business-day loss
//! notice) ship as `confirmed = false`.
//!
//! Quantities are integers in thousandths of the stock's unit (µL for
//! solutions measured in mL, thousandths of a device for nasal sprays), so
//! sums never drift.

use crate::DomainError;
use crate::instruments::Provenance;
use jiff::civil::{Date, Weekday};
use serde::{Deserialize, Serialize};
use std::fmt;

crate::text_enum! {
    /// A controlled substance the clinic stocks.
    pub enum Substance {
        /// Ketamine hydrochloride injection (Schedule III).
        Ketamine = "ketamine",
        /// Esketamine nasal spray (Spravato; Schedule III).
        Esketamine = "esketamine",
    }
}

impl Substance {
    pub fn label(self) -> &'static str {
        match self {
            Substance::Ketamine => "Ketamine hydrochloride",
            Substance::Esketamine => "Esketamine nasal spray",
        }
    }

    /// The substance a dose by `route` draws on (`intranasal` is esketamine).
    pub fn for_route(route: &str) -> Substance {
        if route == "intranasal" { Substance::Esketamine } else { Substance::Ketamine }
    }
}

crate::text_enum! {
    /// The unit a stock is counted in.
    pub enum Unit {
        /// Millilitres of solution.
        Ml = "mL",
        /// Single-use devices (nasal spray).
        Device = "device",
    }
}

/// A quantity in thousandths of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Quantity(pub i64);

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);

    /// From a decimal number of units, e.g. `2.5` mL; at most three decimals.
    pub fn from_units(field: &str, units: f64) -> Result<Quantity, DomainError> {
        if !units.is_finite() {
            return Err(DomainError::invalid(field, "must be a number"));
        }
        let milli = units * 1000.0;
        if (milli - milli.round()).abs() > 1e-6 {
            return Err(DomainError::invalid(field, "at most three decimal places"));
        }
        if milli.abs() > 1e12 {
            return Err(DomainError::invalid(field, "is too large"));
        }
        #[allow(clippy::cast_possible_truncation)]
        Ok(Quantity(milli.round() as i64))
    }

    /// Parses `"2.5"` (form input).
    pub fn parse(field: &str, text: &str) -> Result<Quantity, DomainError> {
        let t = text.trim();
        let v: f64 = t.parse().map_err(|_| DomainError::invalid(field, "must be a number such as 2.5"))?;
        Quantity::from_units(field, v)
    }

    pub fn units(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl fmt::Display for Quantity {
    /// `2.5`, `10`, `0.125`, `-1.2` (no trailing zeros).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        let (whole, frac) = (a / 1000, a % 1000);
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let s = format!("{frac:03}");
            write!(f, "{sign}{whole}.{}", s.trim_end_matches('0'))
        }
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, o: Quantity) -> Quantity {
        Quantity(self.0 + o.0)
    }
}

impl std::ops::Sub for Quantity {
    type Output = Quantity;
    fn sub(self, o: Quantity) -> Quantity {
        Quantity(self.0 - o.0)
    }
}

/// The units a dose of `dose_mg` takes from a stock of `mg_per_unit`,
/// rounded to the nearest thousandth of a unit.
pub fn units_for_dose(dose_mg: f64, mg_per_unit: f64) -> Result<Quantity, DomainError> {
    if !(mg_per_unit.is_finite() && mg_per_unit > 0.0) {
        return Err(DomainError::invalid("mg_per_unit", "the stock's strength must be above 0"));
    }
    if !(dose_mg.is_finite() && dose_mg > 0.0) {
        return Err(DomainError::invalid("dose_mg", "the dose must be above 0 mg"));
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(Quantity((dose_mg / mg_per_unit * 1000.0).round() as i64))
}

crate::text_enum! {
    /// What a ledger entry records.
    pub enum EntryKind {
        /// Stock received from a supplier (adds).
        Receipt = "receipt",
        /// Given to a client in a dosing session (takes away what was given).
        Administration = "administration",
        /// The drawn-but-not-given remainder of a dose, destroyed in front of a
        /// witness (1304.22(c); need not go on Form 41).
        Waste = "waste",
        /// A broken or spilled container, witnessed.
        Breakage = "breakage",
        /// Returned to the supplier or a reverse distributor.
        Return = "return",
        /// Destroyed on site (DEA Form 41, two witnesses).
        Destruction = "destruction",
        /// Theft or significant loss (DEA Form 106).
        TheftLoss = "theft_loss",
        /// A physical count (inventory): initial, biennial or ad hoc.
        Count = "count",
        /// Corrects an earlier entry; the original stays.
        Correction = "correction",
    }
}

impl EntryKind {
    pub fn label(self) -> &'static str {
        match self {
            EntryKind::Receipt => "Receipt",
            EntryKind::Administration => "Administration",
            EntryKind::Waste => "Waste (witnessed)",
            EntryKind::Breakage => "Breakage or spillage",
            EntryKind::Return => "Return",
            EntryKind::Destruction => "Destruction (Form 41)",
            EntryKind::TheftLoss => "Theft or loss (Form 106)",
            EntryKind::Count => "Count",
            EntryKind::Correction => "Correction",
        }
    }
}

crate::text_enum! {
    pub enum CountType {
        /// The first inventory, on the day the registrant first handles the stock.
        Initial = "initial",
        /// At least every two years (1304.11(c)).
        Biennial = "biennial",
        AdHoc = "ad_hoc",
    }
}

crate::text_enum! {
    /// An inventory records whether it was taken at the opening or the
    /// close of business (1304.11(a)).
    pub enum BusinessTime {
        Opening = "opening",
        Close = "close",
    }
}

/// Supplier or recipient of stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Party {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::text::Text200))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::text::Text500))]
    pub address: String,
    #[cfg_attr(feature = "openapi", schema(pattern = "^\\s*[A-Za-z]{2}[0-9]{7}\\s*$"))]
    pub dea_number: String,
}

impl Party {
    pub fn validate(&self, field: &str) -> Result<(), DomainError> {
        crate::text::required(&format!("{field}.name"), &self.name, 200)?;
        crate::text::required(&format!("{field}.address"), &self.address, 500)?;
        check_dea_number(&format!("{field}.dea_number"), &self.dea_number)
    }
}

/// A DEA registration number: two letters and seven digits whose last digit
/// is the check digit: (d1 + d3 + d5) + 2 × (d2 + d4 + d6), last digit.
pub fn check_dea_number(field: &str, number: &str) -> Result<(), DomainError> {
    let n = number.trim();
    let bad = |why: &str| DomainError::invalid(field, format!("`{n}` is not a DEA number: {why}"));
    let b = n.as_bytes();
    if b.len() != 9 || !b[..2].iter().all(u8::is_ascii_alphabetic) || !b[2..].iter().all(u8::is_ascii_digit) {
        return Err(bad("expected two letters and seven digits, like AB1234563"));
    }
    let d: Vec<u32> = b[2..].iter().map(|c| u32::from(c - b'0')).collect();
    let check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10;
    if check != d[6] {
        return Err(bad("the check digit does not match (a typing error?)"));
    }
    Ok(())
}

/// The kind-specific facts of an entry, kept with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntryDetail {
    /// Receipt: who shipped it. Return: who received it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<Party>,
    /// Receipt: number of containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<u32>,
    /// Receipt: invoice or packing-slip number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice: Option<String>,
    /// Administration: the volume drawn (what was given plus what is to be wasted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drawn: Option<Quantity>,
    /// Count: which inventory, and when in the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_type: Option<CountType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_time: Option<BusinessTime>,
    /// Count: what the books said at the moment of the count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Quantity>,
    /// Destruction: the DEA Form 41 reference. Theft/loss: the Form 106 number once filed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_reference: Option<String>,
    /// Waste, breakage, destruction: how it was disposed of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// What happened, in words (breakage, loss, correction: required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrative: Option<String>,
}

/// The clinic's ledger policy (`ledger/policy.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LedgerPolicy {
    pub retention: Retention,
    pub waste: WitnessRule,
    pub breakage: WitnessRule,
    pub destruction: WitnessRule,
    pub loss_notice: LossNotice,
    pub form_106: Form106Rule,
    pub inventory: InventoryRule,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub years: u32,
    #[serde(flatten)]
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WitnessRule {
    /// Authorised people who must witness the entry.
    pub witnesses: u8,
    /// Whether the person recording (who destroys, wastes or cleans up) is
    /// one of the `witnesses`. With `false` every witness is someone else.
    #[serde(default)]
    pub recorder_witnesses: bool,
    #[serde(flatten)]
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LossNotice {
    /// Business days (Monday to Friday; public holidays are not known to
    /// Kairos) from discovery to the written notice to the DEA field division.
    pub business_days: u8,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// The electronic DEA Form 106 after a theft or significant loss: due this
/// many calendar days after discovery (21 CFR 1301.76(b) as amended by
/// 88 FR 40707, effective 24 July 2023: 45 days), besides the written
/// notice ([`LossNotice`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Form106Rule {
    pub days: u16,
    #[serde(flatten)]
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InventoryRule {
    /// Days between inventories (two years: 730).
    pub interval_days: u32,
    /// Warn this many days before the next one is due.
    pub warn_days: u32,
    /// A count differing from the books by more than this many thousandths
    /// of a unit is a discrepancy (0: any difference).
    pub tolerance: Quantity,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// The shipped defaults.
pub const SHIPPED: &str = include_str!("../../../ledger/policy.toml");

impl LedgerPolicy {
    pub fn from_toml(text: &str) -> Result<LedgerPolicy, DomainError> {
        let p: LedgerPolicy = toml::from_str(text).map_err(|e| DomainError::invalid("ledger_policy", e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    pub fn shipped() -> Result<LedgerPolicy, DomainError> {
        LedgerPolicy::from_toml(SHIPPED)
    }

    pub fn validate(&self) -> Result<(), DomainError> {
        if self.retention.years < 2 {
            return Err(DomainError::invalid(
                "retention.years",
                "federal law requires at least 2 years (21 CFR 1304.04(a))",
            ));
        }
        if self.destruction.witnesses < 2 || self.destruction.signatures_needed() < 1 {
            return Err(DomainError::invalid(
                "destruction.witnesses",
                "on-site destruction needs two authorised people, at least one besides the recorder (DEA Form 41, 21 CFR 1317.95(d))",
            ));
        }
        for (field, rule) in [
            ("waste.witnesses", &self.waste),
            ("breakage.witnesses", &self.breakage),
            ("destruction.witnesses", &self.destruction),
        ] {
            if rule.signatures_needed() > 2 {
                return Err(DomainError::invalid(
                    field,
                    "at most two witnesses besides the recorder can sign an entry",
                ));
            }
        }
        if self.form_106.days == 0 || self.form_106.days > 45 {
            return Err(DomainError::invalid(
                "form_106.days",
                "must be between 1 and 45 (DEA Form 106 within 45 days of discovery, 88 FR 40707)",
            ));
        }
        if self.loss_notice.business_days == 0 {
            return Err(DomainError::invalid("loss_notice.business_days", "must be at least 1"));
        }
        if self.inventory.interval_days == 0 || self.inventory.interval_days > 730 {
            return Err(DomainError::invalid(
                "inventory.interval_days",
                "must be between 1 and 730 (the biennial inventory, 21 CFR 1304.11(c))",
            ));
        }
        if self.inventory.tolerance.0 < 0 {
            return Err(DomainError::invalid("inventory.tolerance", "must not be negative"));
        }
        Ok(())
    }

    /// How many witness signatures from staff other than the recorder an
    /// entry of `kind` needs (the rule's witnesses, less the recorder when
    /// the recorder is one of them).
    pub fn witnesses_for(&self, kind: EntryKind) -> u8 {
        match kind {
            EntryKind::Waste => self.waste.signatures_needed(),
            EntryKind::Breakage => self.breakage.signatures_needed(),
            EntryKind::Destruction => self.destruction.signatures_needed(),
            _ => 0,
        }
    }
}

impl WitnessRule {
    /// Signatures needed from people other than the recorder.
    pub fn signatures_needed(&self) -> u8 {
        if self.recorder_witnesses { self.witnesses.saturating_sub(1) } else { self.witnesses }
    }
}

/// The last day for the electronic DEA Form 106 after a theft or significant
/// loss discovered on `discovered`: `form_106.days` calendar days later
/// (45 days, 21 CFR 1301.76(b) as amended by 88 FR 40707, effective
/// 24 July 2023).
pub fn form_106_due(discovered: Date, policy: &LedgerPolicy) -> Date {
    discovered.saturating_add(jiff::Span::new().days(i64::from(policy.form_106.days)))
}

/// Whether an entry of `kind` may be recorded directly: receipts are
/// recorded by receiving stock and administrations by the dosing session.
pub fn may_record_directly(kind: EntryKind) -> Result<(), crate::Refusal> {
    if matches!(kind, EntryKind::Receipt | EntryKind::Administration) {
        return Err(crate::Refusal::invalid(
            "kind",
            "receipts are recorded by receiving stock, administrations by the dosing session",
        ));
    }
    Ok(())
}

/// Whether `signatures` witness signatures are enough for an entry of
/// `kind`: waste, breakage and destruction need the policy's witnesses
/// (`policy.toml`, 21 CFR 1304.22(c)). Checked before any witness is asked
/// for a password.
pub fn enough_witnesses(kind: EntryKind, signatures: usize, policy: &LedgerPolicy) -> Result<(), crate::Refusal> {
    let needed = policy.witnesses_for(kind);
    if signatures < usize::from(needed) {
        return Err(crate::Refusal::invalid(
            "witnesses",
            format!("{} needs {needed} witness signature(s) from other staff", kind.label()),
        ));
    }
    Ok(())
}

/// Whether an entry of `kind` takes its client from the entry it is related
/// to: waste names the client of the administration it follows, so a dose's
/// draw and its waste are read together on the client's record. No other
/// entry recorded directly names a client.
pub fn takes_related_client(kind: EntryKind) -> bool {
    kind == EntryKind::Waste
}

/// Whether a signed-in witness may witness an entry: someone other than the
/// person recording it, whose role handles controlled substances (`field`:
/// which signature, e.g. `witnesses[0]`).
pub fn may_witness(
    field: &str,
    recorder: crate::ids::StaffId,
    witness: &crate::staff::Staff,
) -> Result<(), crate::Refusal> {
    if witness.id == recorder {
        return Err(crate::Refusal::invalid(field, "the witness must be a different person from the one recording"));
    }
    if !witness.roles.allow(crate::roles::Permission::RecordLedger) {
        return Err(crate::Refusal::invalid(
            field,
            format!("{} may not witness controlled-substance entries (prescribers and nurses may)", witness.name),
        ));
    }
    Ok(())
}

/// An entry as proposed, before it is numbered and stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposed {
    pub kind: EntryKind,
    /// Always positive except for corrections and counts (the measured amount).
    pub quantity: Quantity,
    pub detail: EntryDetail,
    /// Who records it (a staff id as text: the domain knows no accounts).
    pub recorded_by: String,
    /// Who witnessed it, already authenticated by the caller.
    pub witnesses: Vec<String>,
    /// Corrections: the entry they correct. Waste: the administration it
    /// follows, if any.
    pub related: Option<String>,
}

impl Proposed {
    /// Checks what the entry must carry for its kind; errors name the field.
    pub fn check(&self, policy: &LedgerPolicy) -> Result<(), DomainError> {
        let d = &self.detail;
        let need = |present: bool, field: &str, why: &str| {
            if present { Ok(()) } else { Err(DomainError::invalid(field, why.to_string())) }
        };
        let text = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        match self.kind {
            EntryKind::Correction => {
                if self.quantity.0 == 0 {
                    return Err(DomainError::invalid("quantity", "a correction changes the balance; it cannot be 0"));
                }
                need(self.related.is_some(), "corrects", "name the entry this corrects")?;
                need(text(&d.narrative), "narrative", "say why the entry is corrected")?;
            }
            EntryKind::Count => {
                if self.quantity.0 < 0 {
                    return Err(DomainError::invalid("quantity", "a count cannot be negative"));
                }
                need(d.count_type.is_some(), "count_type", "initial, biennial or ad_hoc")?;
                need(d.business_time.is_some(), "business_time", "opening or close of business")?;
            }
            _ => {
                if !self.quantity.is_positive() {
                    return Err(DomainError::invalid("quantity", "must be above 0"));
                }
            }
        }
        match self.kind {
            EntryKind::Receipt => {
                let p = d.party.as_ref().ok_or_else(|| {
                    DomainError::invalid("supplier", "a receipt records the supplier's name, address and DEA number")
                })?;
                p.validate("supplier")?;
                need(d.containers.is_some_and(|c| c > 0), "containers", "the number of containers received")?;
            }
            EntryKind::Return => {
                let p = d.party.as_ref().ok_or_else(|| {
                    DomainError::invalid("recipient", "a return records who received it: name, address, DEA number")
                })?;
                p.validate("recipient")?;
            }
            EntryKind::Breakage => need(text(&d.narrative), "narrative", "describe what broke or spilled and how")?,
            EntryKind::TheftLoss => need(text(&d.narrative), "narrative", "describe the theft or loss as discovered")?,
            EntryKind::Destruction => {
                need(text(&d.form_reference), "form_reference", "the DEA Form 41 reference")?;
                need(text(&d.method), "method", "how it was destroyed")?;
            }
            EntryKind::Waste => need(text(&d.method), "method", "how the waste was destroyed")?,
            _ => {}
        }
        self.check_witnesses(policy.witnesses_for(self.kind))
    }

    fn check_witnesses(&self, required: u8) -> Result<(), DomainError> {
        let n = self.witnesses.len();
        if n < usize::from(required) {
            return Err(DomainError::invalid(
                "witness",
                format!(
                    "{} needs {} witness signature{} from staff other than the one recording it",
                    self.kind.label(),
                    required,
                    if required == 1 { "" } else { "s" }
                ),
            ));
        }
        if n > 2 {
            return Err(DomainError::invalid("witness", "at most two witnesses sign an entry"));
        }
        for (i, w) in self.witnesses.iter().enumerate() {
            if *w == self.recorded_by {
                return Err(DomainError::invalid(
                    "witness",
                    "the witness must be a different person from the one recording",
                ));
            }
            if self.witnesses[..i].contains(w) {
                return Err(DomainError::invalid("witness", "the two witnesses must be different people"));
            }
        }
        Ok(())
    }

    /// How this entry changes the book balance. A count changes nothing
    /// (a discrepancy is investigated, then corrected or reported as a loss)
    /// except the initial one, which opens the books at what was counted.
    pub fn delta(&self) -> Quantity {
        match self.kind {
            EntryKind::Receipt => self.quantity,
            EntryKind::Correction => self.quantity,
            EntryKind::Count => {
                if self.detail.count_type == Some(CountType::Initial) {
                    self.quantity
                } else {
                    Quantity::ZERO
                }
            }
            EntryKind::Administration
            | EntryKind::Waste
            | EntryKind::Breakage
            | EntryKind::Return
            | EntryKind::Destruction
            | EntryKind::TheftLoss => Quantity(-self.quantity.0),
        }
    }

    /// The balance after this entry, given the balance before; refuses to go
    /// below zero (more out than the books hold means an error somewhere,
    /// to be found and corrected, not recorded over).
    pub fn apply(&self, before: Quantity, entries_so_far: i64) -> Result<Quantity, DomainError> {
        if self.kind == EntryKind::Count && self.detail.count_type == Some(CountType::Initial) && entries_so_far > 0 {
            return Err(DomainError::invalid(
                "count_type",
                "the initial inventory is the first entry of a stock; use a biennial or ad hoc count",
            ));
        }
        let after = before + self.delta();
        if after.0 < 0 {
            return Err(DomainError::invalid(
                "quantity",
                format!("only {before} on the books; this entry would take the balance below zero"),
            ));
        }
        Ok(after)
    }
}

/// How far a count is from the books; `None` within tolerance.
pub fn discrepancy(counted: Quantity, expected: Quantity, tolerance: Quantity) -> Option<Quantity> {
    let d = counted - expected;
    if d.0.abs() > tolerance.0 { Some(d) } else { None }
}

/// When the next inventory is due after the last one (initial or biennial).
pub fn inventory_due(last: Date, policy: &LedgerPolicy) -> Date {
    last.saturating_add(jiff::Span::new().days(i64::from(policy.inventory.interval_days)))
}

/// Where an inventory stands on `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InventoryStatus {
    Current {
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
        due: Date,
    },
    DueSoon {
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
        due: Date,
    },
    Overdue {
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
        due: Date,
    },
    /// No inventory on record.
    Missing,
}

pub fn inventory_status(last: Option<Date>, today: Date, policy: &LedgerPolicy) -> InventoryStatus {
    let Some(last) = last else { return InventoryStatus::Missing };
    let due = inventory_due(last, policy);
    if today > due {
        InventoryStatus::Overdue { due }
    } else if today >= due.saturating_sub(jiff::Span::new().days(i64::from(policy.inventory.warn_days))) {
        InventoryStatus::DueSoon { due }
    } else {
        InventoryStatus::Current { due }
    }
}

/// Which counts go through a stock's own page: an initial inventory opens
/// a stock's books and an ad hoc count checks one stock, but a biennial
/// inventory is one dated event across every stock of a registration
/// (21 CFR 1304.11(c)), recorded as a whole ([`inventory_covers`]).
pub fn may_count_directly(count_type: Option<CountType>) -> Result<(), crate::Refusal> {
    if count_type == Some(CountType::Biennial) {
        return Err(crate::Refusal::invalid(
            "count_type",
            "a biennial inventory counts every stock of the registration at once: take it from the \
             registration's inventory page, not one stock at a time",
        ));
    }
    Ok(())
}

/// A stock as a biennial inventory finds it on the books.
#[derive(Debug, Clone, PartialEq)]
pub struct OnHand {
    pub stock_id: String,
    /// How the stock is named to the person counting: substance, form, NDC and lot.
    pub label: String,
    pub balance: Quantity,
    pub unit: Unit,
}

/// Whether a biennial inventory's counts (`counted`: the stock ids in the
/// order given) cover the registration: every stock with anything on the
/// books is counted (an inventory is "a complete and accurate record of all
/// stocks on hand", 1304.11(a)), none twice, and none from elsewhere. A
/// stock with nothing on the books may be counted (a container found) but
/// need not be.
pub fn inventory_covers(on_hand: &[OnHand], counted: &[String]) -> Result<(), crate::Refusal> {
    for (i, id) in counted.iter().enumerate() {
        if !on_hand.iter().any(|s| &s.stock_id == id) {
            return Err(crate::Refusal::invalid(
                format!("counts[{i}].stock_id"),
                format!("{id} is not a stock of this registration"),
            ));
        }
        if counted[..i].contains(id) {
            return Err(crate::Refusal::invalid(format!("counts[{i}].stock_id"), "this stock is counted twice"));
        }
    }
    let missing: Vec<String> = on_hand
        .iter()
        .filter(|s| s.balance.is_positive() && !counted.contains(&s.stock_id))
        .map(|s| format!("{} ({} {} on the books)", s.label, s.balance, s.unit))
        .collect();
    if !missing.is_empty() {
        return Err(crate::Refusal::invalid(
            "counts",
            format!("a biennial inventory counts every stock on hand; not counted: {}", missing.join("; ")),
        ));
    }
    Ok(())
}

/// The date a registration's inventory clock runs from: the latest
/// complete biennial inventory, else the registration's initial inventory
/// (the first stock's opening count). A later stock's opening count does
/// not restart the clock: it is that stock's initial inventory, not the
/// registration's.
pub fn last_inventory(initial: Option<Date>, latest_biennial: Option<Date>) -> Option<Date> {
    match (initial, latest_biennial) {
        (Some(i), Some(b)) => Some(i.max(b)),
        (i, b) => i.or(b),
    }
}

/// The last day the written loss notice is due: `business_days` Monday-to-
/// Friday days after the day of discovery.
pub fn loss_notice_due(discovered: Date, policy: &LedgerPolicy) -> Date {
    let mut d = discovered;
    let mut left = policy.loss_notice.business_days;
    while left > 0 {
        d = d.tomorrow().unwrap_or(d);
        if !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            left -= 1;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn on_hand(id: &str, lot: &str, balance: i64) -> OnHand {
        OnHand {
            stock_id: id.into(),
            label: format!("Ketamine 50 mg/mL, NDC 0143-9508, lot {lot}"),
            balance: Quantity(balance),
            unit: Unit::Ml,
        }
    }

    #[test]
    fn a_biennial_inventory_counts_every_stock_on_hand_once() {
        // Two vials' lots on the books and one emptied lot.
        let books = [on_hand("a", "K1", 8_000), on_hand("b", "K2", 10_000), on_hand("c", "K0", 0)];
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(inventory_covers(&books, &ids(&["a", "b"])).is_ok(), "the empty lot need not be counted");
        assert!(inventory_covers(&books, &ids(&["b", "a", "c"])).is_ok(), "but may be");
        let missing = inventory_covers(&books, &ids(&["a"])).expect_err("lot K2 is on hand");
        assert_eq!(missing.field, "counts");
        assert!(missing.message.contains("lot K2 (10 mL on the books)"), "{}", missing.message);
        assert!(!missing.message.contains("lot K0"), "{}", missing.message);
        let twice = inventory_covers(&books, &ids(&["a", "b", "a"])).expect_err("twice");
        assert_eq!(twice.field, "counts[2].stock_id");
        let stranger = inventory_covers(&books, &ids(&["a", "b", "z"])).expect_err("another registration's");
        assert_eq!(stranger.field, "counts[2].stock_id");
        // A registration with nothing on hand records a zero inventory.
        assert!(inventory_covers(&[on_hand("c", "K0", 0)], &[]).is_ok());
    }

    #[test]
    fn the_inventory_clock_runs_from_the_latest_biennial_not_a_later_lots_opening() {
        // Initial inventory 2025-01-10; a biennial on 2026-12-01: the clock
        // runs from the biennial. A stock opened on 2026-06-01 (its own
        // initial count) does not move the registration's initial date,
        // which is the earliest opening count.
        assert_eq!(last_inventory(Some(date(2025, 1, 10)), Some(date(2026, 12, 1))), Some(date(2026, 12, 1)));
        assert_eq!(last_inventory(Some(date(2025, 1, 10)), None), Some(date(2025, 1, 10)));
        assert_eq!(last_inventory(None, Some(date(2026, 12, 1))), Some(date(2026, 12, 1)));
        assert_eq!(last_inventory(None, None), None);
    }

    #[test]
    fn a_biennial_count_is_not_recorded_one_stock_at_a_time() {
        assert_eq!(may_count_directly(Some(CountType::Biennial)).map_err(|r| r.field), Err("count_type".into()));
        assert!(may_count_directly(Some(CountType::AdHoc)).is_ok());
        assert!(may_count_directly(Some(CountType::Initial)).is_ok());
        assert!(may_count_directly(None).is_ok());
    }

    #[test]
    fn receipts_and_administrations_have_doors_of_their_own() {
        for kind in [EntryKind::Receipt, EntryKind::Administration] {
            assert_eq!(may_record_directly(kind).map_err(|r| r.field), Err("kind".to_string()));
        }
        for kind in [EntryKind::Waste, EntryKind::Breakage, EntryKind::Count, EntryKind::Correction] {
            assert!(may_record_directly(kind).is_ok(), "{kind:?}");
        }
    }

    #[test]
    fn an_entry_carries_the_witnesses_its_kind_needs() {
        let p = policy();
        // Waste needs the policy's witnesses (the shipped policy: one).
        let w = usize::from(p.witnesses_for(EntryKind::Waste));
        assert!(w >= 1, "the shipped policy asks for a witness to waste");
        let r = enough_witnesses(EntryKind::Waste, w - 1, &p).expect_err("one short");
        assert_eq!(r.field, "witnesses");
        assert!(r.message.contains("Waste (witnessed) needs"), "{}", r.message);
        assert!(enough_witnesses(EntryKind::Waste, w, &p).is_ok());
        // A count needs none.
        assert!(enough_witnesses(EntryKind::Count, 0, &p).is_ok());
    }

    #[test]
    fn waste_names_the_client_of_the_administration_it_follows() {
        assert!(takes_related_client(EntryKind::Waste));
        // A correction names the entry it corrects, not its client.
        assert!(!takes_related_client(EntryKind::Correction));
        assert!(!takes_related_client(EntryKind::Count));
    }

    #[test]
    fn a_witness_is_another_person_who_handles_controlled_substances() {
        use crate::roles::{Role, Roles};
        let staff = |name: &str, role: Role| crate::staff::Staff {
            id: crate::ids::StaffId::new(),
            name: name.into(),
            email: crate::text::Email::parse("email", &format!("{}@example.org", name.to_lowercase())).expect("email"),
            roles: Roles::new([role]).expect("role"),
            active: true,
        };
        let nurse = staff("Nell", Role::Nurse);
        let other = staff("Omar", Role::Nurse);
        let therapist = staff("Tess", Role::Therapist);
        assert!(may_witness("witnesses[0]", nurse.id, &other).is_ok());
        let own = may_witness("witnesses[0]", nurse.id, &nurse).expect_err("self");
        assert_eq!((own.field.as_str(), own.message.contains("different person")), ("witnesses[0]", true));
        let r = may_witness("witnesses[1]", nurse.id, &therapist).expect_err("role");
        assert_eq!(r.field, "witnesses[1]");
        assert!(r.message.starts_with("Tess may not witness"), "{}", r.message);
    }

    fn policy() -> LedgerPolicy {
        LedgerPolicy::shipped().expect("shipped ledger policy loads")
    }

    fn entry(kind: EntryKind, q: i64) -> Proposed {
        Proposed {
            kind,
            quantity: Quantity(q),
            detail: EntryDetail::default(),
            recorded_by: "nurse".into(),
            witnesses: vec![],
            related: None,
        }
    }

    fn supplier() -> Party {
        Party {
            name: "Synthetic Pharma Supply".into(),
            address: "1 Test Way, Springfield".into(),
            dea_number: "AB1234563".into(),
        }
    }

    #[test]
    fn quantities_are_exact_thousandths() {
        assert_eq!(Quantity::parse("q", "2.5").map(|q| q.0), Ok(2500));
        assert_eq!(Quantity::parse("q", "0.125").map(|q| q.0), Ok(125));
        assert_eq!(Quantity::parse("q", "0.1").map(|q| q.0), Ok(100), "0.1 is not 0.1000000001");
        assert!(Quantity::parse("q", "0.0001").is_err());
        assert!(Quantity::parse("q", "two").is_err());
        assert_eq!(Quantity(2500).to_string(), "2.5");
        assert_eq!(Quantity(10_000).to_string(), "10");
        assert_eq!(Quantity(-1200).to_string(), "-1.2");
        assert_eq!(Quantity(125).to_string(), "0.125");
        // Ten draws of 0.1 mL from a 10 mL vial leave exactly 9 mL.
        let mut b = Quantity(10_000);
        for _ in 0..10 {
            b = b - Quantity::parse("q", "0.1").expect("parses");
        }
        assert_eq!(b, Quantity(9_000));
    }

    #[test]
    fn a_dose_in_mg_becomes_volume_at_the_stock_strength() {
        // 0.5 mg/kg × 70 kg = 35 mg from 50 mg/mL = 0.7 mL.
        assert_eq!(units_for_dose(35.0, 50.0), Ok(Quantity(700)));
        // 56 mg of esketamine at 28 mg per device = 2 devices.
        assert_eq!(units_for_dose(56.0, 28.0), Ok(Quantity(2000)));
        // 41.25 mg from 100 mg/mL = 0.4125 mL, rounded to 0.413.
        assert_eq!(units_for_dose(41.25, 100.0), Ok(Quantity(413)));
        assert!(units_for_dose(35.0, 0.0).is_err());
        assert!(units_for_dose(0.0, 50.0).is_err());
    }

    #[test]
    fn dea_numbers_carry_a_check_digit() {
        // 1+3+5 = 9; 2×(2+4+6) = 24; 33 → 3.
        assert!(check_dea_number("dea", "AB1234563").is_ok());
        let e = check_dea_number("supplier.dea_number", "AB1234564").expect_err("wrong check digit");
        assert_eq!(e.field(), "supplier.dea_number");
        assert!(check_dea_number("dea", "A11234563").is_err());
        assert!(check_dea_number("dea", "AB123456").is_err());
    }

    #[test]
    fn the_balance_follows_receipts_administrations_waste_and_counts() {
        let p = policy();
        let mut receipt = entry(EntryKind::Receipt, 50_000); // 5 vials × 10 mL
        receipt.detail.party = Some(supplier());
        receipt.detail.containers = Some(5);
        receipt.check(&p).expect("valid receipt");
        let b = receipt.apply(Quantity::ZERO, 0).expect("receipt");
        assert_eq!(b, Quantity(50_000));

        let admin = entry(EntryKind::Administration, 700);
        let b = admin.apply(b, 1).expect("administration");
        assert_eq!(b, Quantity(49_300));

        let mut waste = entry(EntryKind::Waste, 300);
        waste.detail.method = Some("into the drug disposal bin".into());
        waste.witnesses = vec!["prescriber".into()];
        waste.check(&p).expect("witnessed waste");
        let b = waste.apply(b, 2).expect("waste");
        assert_eq!(b, Quantity(49_000));

        // A biennial count of 48.9 mL against 49 mL on the books: flagged,
        // and the books do not move.
        let mut count = entry(EntryKind::Count, 48_900);
        count.detail.count_type = Some(CountType::Biennial);
        count.detail.business_time = Some(BusinessTime::Close);
        count.check(&p).expect("count");
        assert_eq!(count.apply(b, 3), Ok(b));
        assert_eq!(discrepancy(count.quantity, b, p.inventory.tolerance), Some(Quantity(-100)));
        assert_eq!(discrepancy(Quantity(49_000), b, p.inventory.tolerance), None);
        assert_eq!(discrepancy(Quantity(48_990), b, Quantity(10)), None, "within a 0.01 mL tolerance");

        // The correction that explains it.
        let mut fix = entry(EntryKind::Correction, -100);
        fix.related = Some("entry-1".into());
        fix.detail.narrative = Some("administration volume misread; syringe held 0.8 mL".into());
        fix.check(&p).expect("correction");
        assert_eq!(fix.apply(b, 4), Ok(Quantity(48_900)));
    }

    #[test]
    fn the_books_never_go_below_zero() {
        let admin = entry(EntryKind::Administration, 1_000);
        let e = admin.apply(Quantity(999), 3).expect_err("overdraw");
        assert_eq!(e.field(), "quantity");
    }

    #[test]
    fn the_initial_inventory_opens_the_books_once() {
        let mut c = entry(EntryKind::Count, 12_500);
        c.detail.count_type = Some(CountType::Initial);
        c.detail.business_time = Some(BusinessTime::Opening);
        assert_eq!(c.apply(Quantity::ZERO, 0), Ok(Quantity(12_500)));
        assert_eq!(c.apply(Quantity(12_500), 1).map_err(|e| e.field().to_string()), Err("count_type".into()));
    }

    #[test]
    fn waste_needs_a_witness_who_is_someone_else() {
        let p = policy();
        let mut w = entry(EntryKind::Waste, 300);
        w.detail.method = Some("disposal bin".into());
        assert_eq!(w.check(&p).map_err(|e| e.field().to_string()), Err("witness".into()));
        w.witnesses = vec!["nurse".into()];
        let e = w.check(&p).expect_err("self-witness");
        assert!(e.to_string().contains("different person"), "{e}");
        w.witnesses = vec!["prescriber".into()];
        assert!(w.check(&p).is_ok());
    }

    #[test]
    /// DEA Form 41 section D and 21 CFR 1317.95(d): two authorised
    /// employees handle and witness on-site destruction. The shipped reading
    /// counts the person destroying (who records the entry) as one of the
    /// two, so one more authorised person signs; a clinic wanting two
    /// witnesses besides the recorder sets `recorder_witnesses = false`.
    fn destruction_needs_form_41_and_two_authorised_witnesses() {
        let p = policy();
        assert_eq!((p.destruction.witnesses, p.destruction.recorder_witnesses), (2, true));
        assert_eq!(p.witnesses_for(EntryKind::Destruction), 1);
        let mut d = entry(EntryKind::Destruction, 10_000);
        d.detail.method = Some("chemical denaturing kit".into());
        d.witnesses = vec!["a".into()];
        assert_eq!(d.check(&p).map_err(|e| e.field().to_string()), Err("form_reference".into()));
        d.detail.form_reference = Some("F41-2026-0007".into());
        // The nurse destroying it and one prescriber: two authorised people.
        assert!(d.check(&p).is_ok());
        d.witnesses = vec![];
        assert_eq!(d.check(&p).map_err(|e| e.field().to_string()), Err("witness".into()));
        // The recorder's own signature does not stand for the second person.
        d.witnesses = vec!["nurse".into()];
        assert!(d.check(&p).expect_err("self").to_string().contains("different person"));

        // Two witnesses besides the recorder, when the clinic says so.
        let mut strict = policy();
        strict.destruction.recorder_witnesses = false;
        assert_eq!(strict.witnesses_for(EntryKind::Destruction), 2);
        d.witnesses = vec!["a".into()];
        assert_eq!(d.check(&strict).map_err(|e| e.field().to_string()), Err("witness".into()));
        d.witnesses = vec!["a".into(), "b".into()];
        assert!(d.check(&strict).is_ok());
        d.witnesses = vec!["a".into(), "a".into()];
        assert!(d.check(&strict).expect_err("same witness twice").to_string().contains("different people"));

        // A policy where the recorder alone would witness is refused.
        let mut alone = policy();
        alone.destruction.witnesses = 1;
        let e = alone.validate().expect_err("one person");
        assert_eq!(e.field(), "destruction.witnesses");
    }

    #[test]
    /// 21 CFR 1301.76(b) as amended by 88 FR 40707 (effective 24 July 2023):
    /// the DEA Form 106 is filed electronically within 45 calendar days of
    /// discovering a theft or significant loss, besides the written notice
    /// within one business day.
    fn a_form_106_is_due_45_days_after_discovery() {
        let p = policy();
        assert_eq!(p.form_106.days, 45);
        assert!(p.form_106.provenance.source.contains("88 FR 40707"), "{}", p.form_106.provenance.source);
        // Discovered Wednesday 25 Nov 2026: notice by Thursday 26 Nov, Form
        // 106 by Saturday 9 Jan 2027 (calendar days, weekends count).
        assert_eq!(loss_notice_due(date(2026, 11, 25), &p), date(2026, 11, 26));
        assert_eq!(form_106_due(date(2026, 11, 25), &p), date(2027, 1, 9));
        // Discovered 24 July 2023, the day the rule took effect: 7 Sep 2023.
        assert_eq!(form_106_due(date(2023, 7, 24), &p), date(2023, 9, 7));
        // A clinic may file sooner, never later.
        let mut late = policy();
        late.form_106.days = 60;
        assert_eq!(late.validate().expect_err("over 45").field(), "form_106.days");
    }

    #[test]
    fn each_kind_names_its_missing_field() {
        let p = policy();
        let r = entry(EntryKind::Receipt, 10_000);
        assert_eq!(r.check(&p).map_err(|e| e.field().to_string()), Err("supplier".into()));
        let mut r2 = entry(EntryKind::Receipt, 10_000);
        r2.detail.party = Some(supplier());
        assert_eq!(r2.check(&p).map_err(|e| e.field().to_string()), Err("containers".into()));
        let ret = entry(EntryKind::Return, 10_000);
        assert_eq!(ret.check(&p).map_err(|e| e.field().to_string()), Err("recipient".into()));
        let mut br = entry(EntryKind::Breakage, 10_000);
        br.witnesses = vec!["x".into()];
        assert_eq!(br.check(&p).map_err(|e| e.field().to_string()), Err("narrative".into()));
        let loss = entry(EntryKind::TheftLoss, 10_000);
        assert_eq!(loss.check(&p).map_err(|e| e.field().to_string()), Err("narrative".into()));
        let zero = entry(EntryKind::Administration, 0);
        assert_eq!(zero.check(&p).map_err(|e| e.field().to_string()), Err("quantity".into()));
        let mut c = entry(EntryKind::Count, 5);
        c.detail.count_type = Some(CountType::AdHoc);
        assert_eq!(c.check(&p).map_err(|e| e.field().to_string()), Err("business_time".into()));
        let fix = entry(EntryKind::Correction, 0);
        assert_eq!(fix.check(&p).map_err(|e| e.field().to_string()), Err("quantity".into()));
    }

    #[test]
    fn the_biennial_inventory_is_due_two_years_after_the_last() {
        let p = policy();
        let last = date(2025, 3, 1);
        assert_eq!(inventory_due(last, &p), date(2027, 3, 1));
        assert_eq!(
            inventory_status(Some(last), date(2026, 11, 27), &p),
            InventoryStatus::Current { due: date(2027, 3, 1) }
        );
        // Warned 30 days ahead (the shipped default).
        assert_eq!(
            inventory_status(Some(last), date(2027, 1, 30), &p),
            InventoryStatus::DueSoon { due: date(2027, 3, 1) }
        );
        assert_eq!(
            inventory_status(Some(last), date(2027, 3, 1), &p),
            InventoryStatus::DueSoon { due: date(2027, 3, 1) }
        );
        assert_eq!(
            inventory_status(Some(last), date(2027, 3, 2), &p),
            InventoryStatus::Overdue { due: date(2027, 3, 1) }
        );
        assert_eq!(inventory_status(None, date(2027, 3, 2), &p), InventoryStatus::Missing);
    }

    #[test]
    fn a_loss_notice_is_due_the_next_business_day() {
        let p = policy();
        // Discovered Wednesday 25 Nov 2026 → Thursday 26th.
        assert_eq!(loss_notice_due(date(2026, 11, 25), &p), date(2026, 11, 26));
        // Discovered Friday → Monday.
        assert_eq!(loss_notice_due(date(2026, 11, 27), &p), date(2026, 11, 30));
        // Discovered Saturday → Monday.
        assert_eq!(loss_notice_due(date(2026, 11, 28), &p), date(2026, 11, 30));
    }

    #[test]
    fn the_policy_refuses_less_than_federal_retention() {
        let text = SHIPPED.replace("years = 2", "years = 1");
        let e = LedgerPolicy::from_toml(&text).expect_err("1 year");
        assert_eq!(e.field(), "retention.years");
        let p = policy();
        assert!(p.retention.provenance.confirmed, "2-year retention is 21 CFR 1304.04(a)");
        assert!(!p.waste.provenance.confirmed, "the waste witness is local policy (§4 ⚠️)");
        assert!(!p.loss_notice.provenance.confirmed, "1 business day is ⚠️ in §4");
    }
}
