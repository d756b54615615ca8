//! Typed identifiers. All ids are UUIDv7 (time-ordered), stored as canonical
//! lower-case text so they sort chronologically on every backend.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A clinic site.
    SiteId
);
id_type!(
    /// A room or infusion chair at a site.
    RoomId
);
id_type!(
    /// A staff member.
    StaffId
);
id_type!(
    /// A client (patient).
    ClientId
);
id_type!(
    /// A treatment course.
    CourseId
);
id_type!(
    /// An encounter (appointment / visit).
    EncounterId
);
id_type!(
    /// An audit log entry.
    AuditId
);
id_type!(
    /// One administered questionnaire.
    AdministrationId
);
id_type!(
    /// A safety alert.
    AlertId
);
id_type!(
    /// A self-report link sent to a client.
    MeasureRequestId
);
id_type!(
    /// A pre-treatment screen.
    ScreenId
);
id_type!(
    /// A planned dose or session of a course plan.
    PlannedItemId
);
id_type!(
    /// A dosing session.
    DosingSessionId
);
id_type!(
    /// One set of vital signs recorded in a dosing session.
    VitalsId
);

id_type!(
    /// A DEA registration (registrant and location) whose stock the ledger keeps.
    RegistrationId
);
id_type!(
    /// One stock of a controlled substance: substance, NDC, strength and lot.
    StockId
);
id_type!(
    /// One controlled-substance ledger entry.
    LedgerEntryId
);
id_type!(
    /// An emergency ("break-glass") access to one client's record.
    EmergencyAccessId
);
id_type!(
    /// A client's request to amend their record.
    AmendmentRequestId
);
id_type!(
    /// A disclosure of a client's record outside the clinic.
    DisclosureId
);
id_type!(
    /// A biennial inventory: one dated count of every stock of a registration.
    InventoryId
);
id_type!(
    /// A dissociation score, side effect or adverse event in a dosing session.
    SessionEventId
);
id_type!(
    /// An amendment to a signed record.
    AmendmentId
);
id_type!(
    /// A schedule proposed by the scheduler for a coordinator to review.
    ProposalId
);
id_type!(
    /// A psychotherapy note.
    NoteId
);
id_type!(
    /// An amendment to a signed psychotherapy note.
    NoteAmendmentId
);
id_type!(
    /// A process group.
    GroupId
);
id_type!(
    /// One meeting of a process group.
    GroupSessionId
);
id_type!(
    /// An entry in a client's integration journal.
    JournalEntryId
);
id_type!(
    /// One home exercise session done by a client.
    ExerciseSessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_and_round_trip_as_text() {
        let a = ClientId::new();
        let b = ClientId::new();
        assert!(a.to_string() < b.to_string(), "v7 ids sort by creation time");
        assert_eq!(a.to_string().parse::<ClientId>().ok(), Some(a));
        assert_eq!(a.0.get_version_num(), 7);
    }
}
