//! The clinic's knowledge as pure types and rules: no IO, no async, no SQL.
//!
//! Everything that reaches this crate has been parsed into a type that cannot
//! be invalid; every rule here is deterministic and unit tested.

/// A closed set of values stored and sent as snake_case text.
macro_rules! text_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name { $($(#[$vm])* #[serde(rename = $text)] #[cfg_attr(feature = "openapi", schema(rename = $text))] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the text form; the error names `field` and lists the allowed values.
            pub fn parse(field: &str, s: &str) -> Result<Self, $crate::DomainError> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    $crate::DomainError::invalid(
                        field,
                        format!("unknown value `{s}`; expected one of: {}",
                            Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")),
                    )
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

pub mod amendment_requests;
pub mod client;
pub mod course;
pub mod disclosures;
pub mod dosing;
pub mod encounter;
pub mod error;
pub mod exercises;
pub mod groups;
pub mod ids;
pub mod instruments;
pub mod ledger;
pub mod measure_schedule;
pub mod notes;
pub mod outcomes;
pub mod password;
pub mod practice;
pub mod protocols;
pub mod refusal;
pub mod rems;
pub mod roles;
pub mod screening;
pub mod signin;
pub mod site;
pub mod staff;
pub mod text;
pub mod window;

pub use error::DomainError;
pub use refusal::{Refusal, RefusalKind};
