//! Parsers for the small pieces of text every record carries.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Trimmed, non-empty, bounded, free of control characters.
pub fn required(field: &str, value: &str, max_chars: usize) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    bounded(field, v, max_chars)
}

/// Like [`required`], but empty means absent.
pub fn optional(field: &str, value: Option<&str>, max_chars: usize) -> Result<Option<String>, DomainError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => bounded(field, v, max_chars).map(Some),
    }
}

fn bounded(field: &str, v: &str, max_chars: usize) -> Result<String, DomainError> {
    if v.chars().count() > max_chars {
        return Err(DomainError::invalid(field, format!("must be at most {max_chars} characters")));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(DomainError::invalid(field, "must not contain control characters"));
    }
    Ok(v.to_string())
}

/// An e-mail address, normalised to lower case. Deliberately permissive: one
/// `@`, a non-empty local part, a domain with a dot; delivery proves the rest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, value: &str) -> Result<Self, DomainError> {
        let v = required(field, value, 254)?.to_lowercase();
        let bad = || DomainError::invalid(field, "must be an e-mail address like name@example.org");
        let (local, domain) = v.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || v.chars().any(char::is_whitespace)
        {
            return Err(bad());
        }
        Ok(Email(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A telephone number as people write it: digits with optional `+`, spaces,
/// dashes, dots and parentheses; 6 to 20 digits.
pub fn phone(field: &str, value: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(v) = optional(field, value, 32)? else {
        return Ok(None);
    };
    let digits = v.chars().filter(char::is_ascii_digit).count();
    let allowed = v.chars().all(|c| c.is_ascii_digit() || " +-.()".contains(c));
    if !allowed || !(6..=20).contains(&digits) {
        return Err(DomainError::invalid(
            field,
            "must be a telephone number (digits, optional +, spaces, dashes or parentheses)",
        ));
    }
    Ok(Some(v))
}

/// Lower-cased, accent-insensitive-enough key for name search (prefix match).
pub fn search_key(s: &str) -> String {
    s.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::parse("email", "  Ana.Ruiz@Example.ORG ").map(|e| e.to_string()),
            Ok("ana.ruiz@example.org".to_string())
        );
        for bad in ["", "no-at", "a@b", "@x.org", "a@@x.org", "a b@x.org", "a@x."] {
            let err = Email::parse("email", bad).expect_err(bad);
            assert_eq!(err.field(), "email");
        }
    }

    #[test]
    fn required_text_rejects_blank_and_overlong_and_control_characters() {
        assert!(required("name", "   ", 10).is_err());
        assert!(required("name", "abcdefghijk", 10).is_err());
        assert!(required("name", "a\u{0}b", 10).is_err());
        assert_eq!(required("name", "  Ana ", 10), Ok("Ana".into()));
        assert_eq!(optional("x", Some("  "), 10), Ok(None));
    }

    #[test]
    fn phone_numbers_in_common_formats_are_accepted() {
        assert!(phone("phone", Some("+1 (555) 010-2030")).is_ok());
        assert!(phone("phone", Some("555-0100")).is_ok());
        assert!(phone("phone", Some("call me")).is_err());
        assert!(phone("phone", Some("12")).is_err());
        assert_eq!(phone("phone", None), Ok(None));
    }
}
