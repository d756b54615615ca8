//! Why a clinical command was refused, in words the person at the screen
//! understands, with the input field it is about.
//!
//! Every door (the JSON API, the web forms, the command line) shows the same
//! refusal for the same input: the API as an RFC 9457 problem whose `detail`
//! is [`Refusal::message`] and whose `field` is [`Refusal::field`], a page as
//! the same sentence beside the form, with what was typed kept.

use crate::DomainError;

/// What kind of refusal, which decides the HTTP status at the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The input is not acceptable as given (422).
    Invalid,
    /// The record is not in a state that allows this (409): not checked in,
    /// already discharged, signed.
    Conflict,
    /// The person's role or relation does not allow this (403).
    NotPermitted,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    /// The input field, dotted for nested input (`pre_vitals.systolic`).
    pub field: String,
    /// A sentence: what is wrong and what to do.
    pub message: String,
}

impl Refusal {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal { kind: RefusalKind::Invalid, field: field.into(), message: sentence(message.into()) }
    }

    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal { kind: RefusalKind::Conflict, field: field.into(), message: sentence(message.into()) }
    }

    pub fn not_permitted(field: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal { kind: RefusalKind::NotPermitted, field: field.into(), message: sentence(message.into()) }
    }

    /// The same refusal about a field nested under `parent`.
    pub fn within(mut self, parent: &str) -> Refusal {
        self.field = if self.field.is_empty() { parent.to_string() } else { format!("{parent}.{}", self.field) };
        self
    }
}

/// A domain rule's error keeps its field; its reason becomes the sentence.
impl From<DomainError> for Refusal {
    fn from(e: DomainError) -> Refusal {
        match e {
            DomainError::Invalid { field, reason } => Refusal::invalid(field, reason),
            DomainError::IllegalTransition { field, from, to, allowed } => Refusal::conflict(
                field,
                format!("cannot change from {from} to {to}; from {from} it may become: {allowed}"),
            ),
        }
    }
}

/// Upper-cases the first letter and ends with a full stop.
fn sentence(mut s: String) -> String {
    let s_trim = s.trim_end();
    s.truncate(s_trim.len());
    if let Some(first) = s.chars().next()
        && first.is_lowercase()
    {
        let upper: String = first.to_uppercase().collect();
        s.replace_range(..first.len_utf8(), &upper);
    }
    if !s.ends_with(['.', '!', '?']) {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_sentence_naming_its_field() {
        let r = Refusal::invalid("spo2", "SpO2 (%) must be between 50 and 100");
        assert_eq!(r.message, "SpO2 (%) must be between 50 and 100.");
        assert_eq!(r.within("pre_vitals").field, "pre_vitals.spo2");
        let r: Refusal = DomainError::invalid("weight_kg", "today's weight must be between 20 and 350 kg").into();
        assert_eq!((r.kind, r.field.as_str()), (RefusalKind::Invalid, "weight_kg"));
        assert_eq!(r.to_string(), "Today's weight must be between 20 and 350 kg.");
        assert_eq!(Refusal::conflict("x", "already signed.").message, "Already signed.");
    }
}
