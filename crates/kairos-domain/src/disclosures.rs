//! Disclosures of a client's record outside the clinic, and the accounting
//! of them a client may ask for (45 CFR 164.528; ONC 170.315(d)(11)).
//!
//! From the regulation: a client may receive an accounting of the
//! disclosures made in the **six years** before the request
//! (164.528(a)(1), (a)(3)); each entry gives the date, the recipient's name
//! and address if known, a brief description of what was disclosed, and a
//! brief statement of the purpose (164.528(b)(2)). Disclosures for
//! treatment, payment and health-care operations, to the client, and under
//! the client's own authorization are left out of that accounting
//! (164.528(a)(1)(i), (iv)); ONC (d)(11) asks that disclosures for
//! treatment, payment and operations be recorded as well, so Kairos keeps
//! every disclosure and says which ones the client's accounting includes.

use crate::DomainError;
use jiff::Timestamp;
use jiff::civil::Date;

/// Years an accounting covers (164.528(a)(1)).
pub const ACCOUNTING_YEARS: i16 = 6;

crate::text_enum! {
    /// Why the record was disclosed (the legal basis).
    pub enum Purpose {
        /// Treatment by another provider.
        Treatment = "treatment",
        /// Payment (a claim to an insurer).
        Payment = "payment",
        /// Health-care operations (an auditor, an accreditor).
        Operations = "operations",
        /// To the client, or to their personal representative.
        ToClient = "to_client",
        /// Under the client's written authorization.
        Authorized = "authorized",
        /// Required by law (the esketamine REMS program's monitoring form).
        RequiredByLaw = "required_by_law",
        /// Health oversight (a DEA or state board inspection).
        HealthOversight = "health_oversight",
        /// Public health (a report to a health authority).
        PublicHealth = "public_health",
        /// A court order or subpoena.
        Judicial = "judicial",
        /// Law enforcement.
        LawEnforcement = "law_enforcement",
        /// To avert a serious threat to health or safety.
        SeriousThreat = "serious_threat",
        /// Research without the client's authorization (a waiver).
        Research = "research",
    }
}

impl Purpose {
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Treatment => "Treatment by another provider",
            Purpose::Payment => "Payment",
            Purpose::Operations => "Health-care operations",
            Purpose::ToClient => "To the client or their representative",
            Purpose::Authorized => "With the client's written authorization",
            Purpose::RequiredByLaw => "Required by law",
            Purpose::HealthOversight => "Health oversight (an inspection)",
            Purpose::PublicHealth => "Public health",
            Purpose::Judicial => "A court order or subpoena",
            Purpose::LawEnforcement => "Law enforcement",
            Purpose::SeriousThreat => "To avert a serious threat to health or safety",
            Purpose::Research => "Research (under a waiver of authorization)",
        }
    }

    /// Whether a disclosure for this purpose is in the accounting a client
    /// may ask for (164.528(a)(1)): not treatment, payment, operations, to
    /// the client, or under the client's authorization.
    pub fn in_clients_accounting(self) -> bool {
        !matches!(
            self,
            Purpose::Treatment | Purpose::Payment | Purpose::Operations | Purpose::ToClient | Purpose::Authorized
        )
    }
}

/// The first day an accounting asked for on `today` covers: six years
/// before (29 February falls back to 28 February).
pub fn accounting_from(today: Date) -> Date {
    today.saturating_sub(jiff::Span::new().years(ACCOUNTING_YEARS))
}

/// A disclosure's time: not after `now`. Refused naming `disclosed_at`.
pub fn check_disclosed_at(at: Timestamp, now: Timestamp) -> Result<(), DomainError> {
    if at > now {
        return Err(DomainError::invalid("disclosed_at", "a disclosure is recorded once it is made, not ahead"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn an_accounting_covers_the_six_years_before_the_request() {
        assert_eq!(accounting_from(date(2026, 12, 5)), date(2020, 12, 5));
        // From a 29 February, the same day six years before does not exist.
        assert_eq!(accounting_from(date(2028, 2, 29)), date(2022, 2, 28));
    }

    #[test]
    fn treatment_payment_operations_and_authorized_disclosures_are_recorded_but_not_in_the_clients_accounting() {
        let left_out: Vec<&str> =
            Purpose::ALL.iter().filter(|p| !p.in_clients_accounting()).map(|p| p.as_str()).collect();
        assert_eq!(left_out, ["treatment", "payment", "operations", "to_client", "authorized"]);
        // The REMS monitoring form (required by law) and an inspection are in it.
        assert!(Purpose::RequiredByLaw.in_clients_accounting());
        assert!(Purpose::HealthOversight.in_clients_accounting());
    }

    #[test]
    fn a_disclosure_is_recorded_once_made() {
        let now: Timestamp = "2026-12-05T12:00:00Z".parse().expect("ts");
        assert!(check_disclosed_at(now, now).is_ok());
        let later: Timestamp = "2026-12-05T12:00:01Z".parse().expect("ts");
        assert_eq!(check_disclosed_at(later, now).expect_err("ahead").field(), "disclosed_at");
    }
}
