//! Sites (with their IANA time zone) and rooms / infusion chairs.

use crate::DomainError;
use crate::ids::{RoomId, SiteId};
use crate::text;
use serde::{Deserialize, Serialize};

/// A validated IANA time-zone name, e.g. `America/New_York`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(field: &str, value: &str) -> Result<Self, DomainError> {
        let v = value.trim();
        jiff::tz::TimeZone::get(v).map_err(|_| {
            DomainError::invalid(field, format!("`{v}` is not an IANA time zone (for example `America/New_York`)"))
        })?;
        Ok(TimeZoneName(v.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn tz(&self) -> jiff::tz::TimeZone {
        // Validated at parse time; the bundled tzdb cannot lose a zone at run time.
        jiff::tz::TimeZone::get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    pub time_zone: TimeZoneName,
}

/// Input for a new site or a change to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteInput {
    pub name: String,
    pub time_zone: TimeZoneName,
}

impl SiteInput {
    pub fn parse(name: &str, time_zone: &str) -> Result<Self, DomainError> {
        Ok(SiteInput {
            name: text::required("name", name, 120)?,
            time_zone: TimeZoneName::parse("time_zone", time_zone)?,
        })
    }
}

crate::text_enum! {
    pub enum RoomKind {
        /// A recliner where a dose is given and monitored.
        InfusionChair = "infusion_chair",
        /// An individual therapy room.
        TherapyRoom = "therapy_room",
        /// A room for process groups.
        GroupRoom = "group_room",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: RoomId,
    pub site_id: SiteId,
    pub name: String,
    pub kind: RoomKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_needs_a_real_iana_time_zone() {
        assert!(SiteInput::parse("Main", "America/New_York").is_ok());
        let err = SiteInput::parse("Main", "Mars/Olympus").expect_err("bad tz");
        assert_eq!(err.field(), "time_zone");
        let err = SiteInput::parse(" ", "UTC").expect_err("blank name");
        assert_eq!(err.field(), "name");
    }
}
