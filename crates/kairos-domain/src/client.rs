//! Clients (patients): demographics, contact, emergency contact, status.

use crate::DomainError;
use crate::ids::ClientId;
use crate::text::{self, Email};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

crate::text_enum! {
    /// Where the client stands with the clinic (not the treatment phase,
    /// which belongs to a course).
    pub enum ClientStatus {
        /// Referred or enquiring; not yet seen.
        Prospective = "prospective",
        /// In care.
        Active = "active",
        /// Not currently in care; may return.
        Inactive = "inactive",
        /// Discharged from the clinic.
        Discharged = "discharged",
    }
}

/// A client record as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub id: ClientId,
    pub details: ClientDetails,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

/// Everything a staff member may set on a client, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientDetails {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: Date,
    pub pronouns: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<String>,
    /// Postal address (an administration of a controlled substance records
    /// it: 21 CFR 1304.22(c)).
    pub address: Option<String>,
    pub emergency_contact_name: Option<String>,
    pub emergency_contact_phone: Option<String>,
    pub status: ClientStatus,
}

/// Raw client input, as it arrives from a form or JSON (already typed by
/// serde, not yet validated).
#[derive(Debug, Clone, Default)]
pub struct ClientInput<'a> {
    pub given_name: &'a str,
    pub family_name: &'a str,
    pub date_of_birth: &'a str,
    pub pronouns: Option<&'a str>,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub address: Option<&'a str>,
    pub emergency_contact_name: Option<&'a str>,
    pub emergency_contact_phone: Option<&'a str>,
    pub status: Option<&'a str>,
}

/// The oldest plausible date of birth; anything earlier is a typing error.
pub const EARLIEST_BIRTH_YEAR: i16 = 1900;

impl ClientDetails {
    /// Validates input. `today` is the clinic's current date (a date of birth
    /// in the future is refused).
    pub fn parse(input: &ClientInput<'_>, today: Date) -> Result<Self, DomainError> {
        let date_of_birth = parse_date_of_birth(input.date_of_birth, today)?;
        let emergency_contact_name = text::optional_name("emergency_contact_name", input.emergency_contact_name, 200)?;
        let emergency_contact_phone = text::phone("emergency_contact_phone", input.emergency_contact_phone)?;
        if emergency_contact_name.is_some() != emergency_contact_phone.is_some() {
            let missing =
                if emergency_contact_name.is_none() { "emergency_contact_name" } else { "emergency_contact_phone" };
            return Err(DomainError::invalid(missing, "an emergency contact needs both a name and a telephone number"));
        }
        Ok(ClientDetails {
            given_name: text::name("given_name", input.given_name, 100)?,
            family_name: text::name("family_name", input.family_name, 100)?,
            date_of_birth,
            pronouns: text::optional("pronouns", input.pronouns, 40)?,
            email: input.email.filter(|e| !e.trim().is_empty()).map(|e| Email::parse("email", e)).transpose()?,
            phone: text::phone("phone", input.phone)?,
            address: text::optional("address", input.address, 500)?,
            emergency_contact_name,
            emergency_contact_phone,
            status: input.status.map(|s| ClientStatus::parse("status", s)).transpose()?.unwrap_or(ClientStatus::Active),
        })
    }

    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }

    /// Age in whole years on `on`.
    pub fn age_on(&self, on: Date) -> i16 {
        let dob = self.date_of_birth;
        let mut age = on.year() - dob.year();
        if (on.month(), on.day()) < (dob.month(), dob.day()) {
            age -= 1;
        }
        age
    }
}

/// Refuses a record of the client dated before they were born (a typing
/// error in the year, or the wrong client): `at` on the clinic's calendar
/// (`tz`) must be on or after the date of birth.
pub fn not_before_birth(
    field: &str,
    at: jiff::Timestamp,
    tz: &jiff::tz::TimeZone,
    date_of_birth: Date,
) -> Result<(), DomainError> {
    let day = at.to_zoned(tz.clone()).date();
    if day < date_of_birth {
        return Err(DomainError::invalid(
            field,
            format!("{day} is before the client's date of birth ({date_of_birth}): check the date and the client"),
        ));
    }
    Ok(())
}

fn parse_date_of_birth(s: &str, today: Date) -> Result<Date, DomainError> {
    let field = "date_of_birth";
    let d: Date = s
        .trim()
        .parse()
        .map_err(|_| DomainError::invalid(field, format!("`{s}` is not a date in the form YYYY-MM-DD")))?;
    if d > today {
        return Err(DomainError::invalid(field, "must not be in the future"));
    }
    if d.year() < EARLIEST_BIRTH_YEAR {
        return Err(DomainError::invalid(field, format!("must be in {EARLIEST_BIRTH_YEAR} or later")));
    }
    Ok(d)
}

/// One field of a client's details as a change left it: its name (the API's
/// field name), and the value before and after, as shown (empty for none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = ClientFieldChange))]
pub struct FieldChange {
    pub field: &'static str,
    pub before: String,
    pub after: String,
}

impl ClientDetails {
    /// Each field as shown, by its API name, in the order a form lists them.
    fn fields(&self) -> [(&'static str, String); 10] {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            ("given_name", self.given_name.clone()),
            ("family_name", self.family_name.clone()),
            ("date_of_birth", self.date_of_birth.to_string()),
            ("pronouns", opt(&self.pronouns)),
            ("email", self.email.as_ref().map(|e| e.as_str().to_string()).unwrap_or_default()),
            ("phone", opt(&self.phone)),
            ("address", opt(&self.address)),
            ("emergency_contact_name", opt(&self.emergency_contact_name)),
            ("emergency_contact_phone", opt(&self.emergency_contact_phone)),
            ("status", self.status.as_str().to_string()),
        ]
    }

    /// What changed from `self` to `after`, field by field (none when the
    /// two are the same).
    pub fn changes_to(&self, after: &ClientDetails) -> Vec<FieldChange> {
        self.fields()
            .into_iter()
            .zip(after.fields())
            .filter(|((_, b), (_, a))| b != a)
            .map(|((field, before), (_, after))| FieldChange { field, before, after })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_dated_before_the_clients_birth_on_the_clinics_calendar() {
        let born: Date = "1990-06-15".parse().expect("date");
        let tz = jiff::tz::TimeZone::get("America/New_York").expect("tz");
        let at = |s: &str| s.parse::<jiff::Timestamp>().expect("ts");
        // 15 June 1990 02:00Z is still 14 June in New York: refused.
        let e = not_before_birth("completed_at", at("1990-06-15T02:00:00Z"), &tz, born).expect_err("before");
        assert_eq!(e.field(), "completed_at");
        assert!(e.to_string().contains("1990-06-14 is before the client's date of birth (1990-06-15)"), "{e}");
        not_before_birth("completed_at", at("1990-06-15T05:00:00Z"), &tz, born).expect("the birthday itself");
        not_before_birth("completed_at", at("2026-01-01T12:00:00Z"), &tz, born).expect("later");
    }

    use jiff::civil::date;

    fn input() -> ClientInput<'static> {
        ClientInput { given_name: "Robin", family_name: "Okafor", date_of_birth: "1988-02-29", ..Default::default() }
    }

    const TODAY: Date = date(2026, 11, 27);

    #[test]
    fn a_change_of_details_names_each_field_with_its_value_before_and_after() {
        let before = ClientDetails::parse(&ClientInput { address: Some("1 Old Road, Springfield"), ..input() }, TODAY)
            .expect("before");
        let after = ClientDetails::parse(
            &ClientInput {
                address: Some("9 New Street, Fairhaven"),
                phone: Some("+1 555 0100 200"),
                status: Some("inactive"),
                ..input()
            },
            TODAY,
        )
        .expect("after");
        let changes = before.changes_to(&after);
        let seen: Vec<(&str, &str, &str)> =
            changes.iter().map(|c| (c.field, c.before.as_str(), c.after.as_str())).collect();
        assert_eq!(
            seen,
            vec![
                ("phone", "", "+1 555 0100 200"),
                ("address", "1 Old Road, Springfield", "9 New Street, Fairhaven"),
                ("status", "active", "inactive"),
            ]
        );
        assert!(after.changes_to(&after).is_empty(), "no change, nothing listed");
    }

    #[test]
    fn a_minimal_client_is_active_by_default() {
        let c = ClientDetails::parse(&input(), TODAY).expect("valid");
        assert_eq!(c.status, ClientStatus::Active);
        assert_eq!(c.display_name(), "Robin Okafor");
        assert_eq!(c.age_on(TODAY), 38);
        assert_eq!(c.age_on(date(2027, 2, 28)), 38, "leap-day birthday not yet reached");
        assert_eq!(c.age_on(date(2027, 3, 1)), 39);
    }

    #[test]
    fn dates_of_birth_out_of_range_name_the_field() {
        for bad in ["2026-11-28", "1899-12-31", "1990-02-30", "31/12/1990", ""] {
            let err = ClientDetails::parse(&ClientInput { date_of_birth: bad, ..input() }, TODAY).expect_err(bad);
            assert_eq!(err.field(), "date_of_birth", "{bad}");
        }
    }

    #[test]
    fn an_emergency_contact_needs_name_and_phone() {
        let err = ClientDetails::parse(&ClientInput { emergency_contact_name: Some("Sam"), ..input() }, TODAY)
            .expect_err("phone missing");
        assert_eq!(err.field(), "emergency_contact_phone");
        assert!(
            ClientDetails::parse(
                &ClientInput {
                    emergency_contact_name: Some("Sam"),
                    emergency_contact_phone: Some("+1 555 0100 200"),
                    ..input()
                },
                TODAY
            )
            .is_ok()
        );
    }

    #[test]
    fn unknown_status_is_refused() {
        let err = ClientDetails::parse(&ClientInput { status: Some("asleep"), ..input() }, TODAY).expect_err("status");
        assert_eq!(err.field(), "status");
    }
}
