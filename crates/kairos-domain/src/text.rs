//! Parsers for the small pieces of text every record carries.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Trimmed, non-empty, bounded, free of control characters. The bound
/// counts the text as sent, surrounding spaces included, as the API's
/// document states it (`maxLength`).
pub fn required(field: &str, value: &str, max_chars: usize) -> Result<String, DomainError> {
    too_long(field, value, max_chars)?;
    let v = value.trim();
    if v.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    without_controls(field, v)
}

/// Like [`required`], but empty means absent.
pub fn optional(field: &str, value: Option<&str>, max_chars: usize) -> Result<Option<String>, DomainError> {
    if let Some(v) = value {
        too_long(field, v, max_chars)?;
    }
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => without_controls(field, v).map(Some),
    }
}

fn too_long(field: &str, v: &str, max_chars: usize) -> Result<(), DomainError> {
    if v.chars().count() > max_chars {
        return Err(DomainError::invalid(field, format!("must be at most {max_chars} characters")));
    }
    Ok(())
}

fn without_controls(field: &str, v: &str) -> Result<String, DomainError> {
    if v.chars().any(|c| c.is_control()) {
        return Err(DomainError::invalid(field, "must not contain control characters"));
    }
    if v.chars().any(is_bidi_override) {
        return Err(DomainError::invalid(
            field,
            "must not contain bidirectional override or isolate characters (they make text display in a different order from how it is stored)",
        ));
    }
    Ok(v.to_string())
}

/// The explicit bidirectional embeddings, overrides and isolates (U+202A-
/// U+202E, U+2066-U+2069): a browser orders typed text by itself, so in
/// typed input they serve only to make stored text display differently
/// (a name that reads as another, "Trojan source"). Refused in every field.
fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Invisible characters that make two names look the same while they differ:
/// zero-width space, word joiner, byte-order mark, the directional marks and
/// the Mongolian vowel separator.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{2060}' | '\u{FEFF}' | '\u{061C}' | '\u{180E}')
}

/// A person's name: as [`required`] (or [`optional`] with `None` for empty),
/// and free of invisible characters, so that a search, the ledger and a
/// printed form show exactly the name that is stored. The zero-width
/// joiner and non-joiner (U+200D, U+200C) are kept inside a word, where
/// scripts such as Persian and the Indic ones use them, and refused at
/// either end of a word.
pub fn name(field: &str, value: &str, max_chars: usize) -> Result<String, DomainError> {
    let v = required(field, value, max_chars)?;
    check_name_chars(field, &v)?;
    Ok(v)
}

/// [`name`] for an optional field: empty means absent.
pub fn optional_name(field: &str, value: Option<&str>, max_chars: usize) -> Result<Option<String>, DomainError> {
    let v = optional(field, value, max_chars)?;
    if let Some(v) = &v {
        check_name_chars(field, v)?;
    }
    Ok(v)
}

fn check_name_chars(field: &str, v: &str) -> Result<(), DomainError> {
    let chars: Vec<char> = v.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let joiner = matches!(c, '\u{200C}' | '\u{200D}');
        // Inside a word: after and before something visible (a letter, or a
        // mark such as the Devanagari virama before a joiner).
        let visible = |n: &char| !n.is_whitespace() && !matches!(n, '\u{200C}' | '\u{200D}') && !is_invisible(*n);
        let between_letters = i > 0 && visible(&chars[i - 1]) && chars.get(i + 1).is_some_and(visible);
        if is_invisible(c) || (joiner && !between_letters) {
            return Err(DomainError::invalid(
                field,
                format!("must not contain invisible characters (U+{:04X} at position {})", c as u32, i + 1),
            ));
        }
    }
    Ok(())
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

/// The characters [`required`] and [`optional`] refuse, as a JSON Schema
/// pattern (Unicode's `Cc` category: C0, DEL and C1).
pub const NO_CONTROL_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// Not blank and no control characters, as a JSON Schema pattern.
pub const REQUIRED_PATTERN: &str =
    "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// Declares a type for one line of text a person types into a record:
/// reading it trims it and refuses it blank, longer than `$max` characters
/// or with a control character, so the refusal names the field where it is
/// read; its OpenAPI schema says the same.
macro_rules! line_type {
    ($($(#[$m:meta])* $name:ident = $max:literal;)+) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The most characters it may have.
            pub const MAX: usize = $max;

            /// Checks `value` as a field named `field`.
            pub fn parse(field: &str, value: &str) -> Result<Self, DomainError> {
                required(field, value, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                required("", &s, $max).map(Self).map_err(|e| match e {
                    DomainError::Invalid { reason, .. } => serde::de::Error::custom(reason),
                    other => serde::de::Error::custom(other),
                })
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{ObjectBuilder, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .pattern(Some(REQUIRED_PATTERN))
                    .description(Some(concat!(
                        "Text of 1 to ", stringify!($max),
                        " characters, not blank, without control characters (surrounding spaces are trimmed)."
                    )))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    )+};
}

line_type! {
    /// A short code or number: an NDC, a telephone-style reference.
    Text40 = 40;
    /// A lot number.
    Text60 = 60;
    /// A protocol id, a room's name.
    Text80 = 80;
    /// A person's given or family name, a Form 106 reference.
    Text100 = 100;
    /// A site's, group's or staff member's name.
    Text120 = 120;
    /// A registrant's or supplier's name, a dosage form.
    Text200 = 200;
    /// An address.
    Text500 = 500;
    /// A reason.
    Text1000 = 1000;
    /// A correction, an action note.
    Text2000 = 2000;
    /// A client's request or statement, an amendment.
    Text4000 = 4000;
}

/// Declares the OpenAPI schema of an optional line of text (read by
/// [`optional`]): blank means absent, at most `$max` characters, no control
/// characters. The field itself stays an `Option<String>`.
macro_rules! optional_line_schema {
    ($($name:ident = $max:literal;)+) => {$(
        #[doc = concat!("Schema of optional text of at most ", stringify!($max), " characters.")]
        pub struct $name;

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{ObjectBuilder, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some($max))
                    .pattern(Some(NO_CONTROL_PATTERN))
                    .description(Some(concat!(
                        "Optional text of at most ", stringify!($max),
                        " characters without control characters; blank means none."
                    )))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    )+};
}

optional_line_schema! {
    OptionalText40 = 40;
    OptionalText100 = 100;
    OptionalText200 = 200;
    OptionalText300 = 300;
    OptionalText500 = 500;
    OptionalText1000 = 1000;
    OptionalText2000 = 2000;
    OptionalText4000 = 4000;
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Email {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(254))
            .pattern(Some(concat!(
                r"^\s*[^@\s\u0000-\u001f\u007f-\u009f]+@",
                r"[^@\s.\u0000-\u001f\u007f-\u009f][^@\s\u0000-\u001f\u007f-\u009f]*\.",
                r"[^@\s\u0000-\u001f\u007f-\u009f]*[^@\s.\u0000-\u001f\u007f-\u009f]\s*$"
            )))
            .description(Some(
                "An e-mail address: one `@`, a domain with a dot; kept in lower case, surrounding spaces trimmed.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Email {}

/// Schema of an optional e-mail address: blank means none.
pub struct OptionalEmail;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for OptionalEmail {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let email = <Email as utoipa::PartialSchema>::schema();
        let pattern = match &email {
            utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(o)) => o.pattern.clone(),
            _ => None,
        };
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(254))
            .pattern(pattern.map(|p| format!(r"^\s*$|{p}")))
            .description(Some("An e-mail address, or blank for none."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for OptionalEmail {}

/// Schema of an optional telephone number as [`phone`] reads it.
pub struct OptionalPhone;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for OptionalPhone {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(32))
            .pattern(Some(r"^\s*$|^\s*(?:[-+.() ]*[0-9]){6,20}[-+.() ]*\s*$"))
            .description(Some(
                "A telephone number: 6 to 20 digits with optional +, spaces, dashes, dots or parentheses; blank for none.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for OptionalPhone {}

/// Lower-cased, accent-insensitive-enough key for name search (prefix match).
pub fn search_key(s: &str) -> String {
    s.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_bidi_overrides_and_invisible_characters_but_keep_joiners_inside_words() {
        // A right-to-left override makes "Ana\u{202E}nomiS" display as "AnaSimon".
        let e = name("family_name", "Ana\u{202E}nomiS", 100).expect_err("override");
        assert_eq!(e.field(), "family_name");
        assert!(e.to_string().contains("bidirectional"), "{e}");
        assert!(required("note", "a \u{2067}b\u{2069}", 100).is_err(), "isolates, in any field");
        // A zero-width space makes "Okafor" and "Oka\u{200B}for" two names that look alike.
        let e = name("family_name", "Oka\u{200B}for", 100).expect_err("zero-width space");
        assert!(e.to_string().contains("U+200B at position 4"), "{e}");
        for bad in ["\u{FEFF}Robin", "Robin\u{2060}", "Ro\u{200F}bin", "\u{200D}Robin", "Robin \u{200C}Lee"] {
            assert!(name("given_name", bad, 100).is_err(), "{bad:?}");
        }
        // Inside a word the joiners stay: Persian uses ZWNJ, Devanagari ZWJ after a virama.
        assert_eq!(name("given_name", "Mohammad\u{200C}reza", 100).expect("ZWNJ"), "Mohammad\u{200C}reza");
        assert!(name("given_name", "क्\u{200D}ष", 100).is_ok());
        assert_eq!(optional_name("emergency_contact_name", Some("  "), 100).expect("empty"), None);
        assert!(optional_name("emergency_contact_name", Some("Lee\u{200B}"), 100).is_err());
        // Emoji joined by ZWJ are fine in free text (only overrides are refused there).
        assert!(required("mood_check", "👨\u{200D}👩\u{200D}👧 calm", 100).is_ok());
    }

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
        // The bound counts what was sent, as the API's document says.
        assert!(required("name", " abcdefghij", 10).is_err());
        assert!(optional("x", Some(&" ".repeat(11)), 10).is_err());
    }

    #[test]
    fn a_line_of_text_is_read_as_required_text() {
        let read =
            |json: &str| serde_json::from_str::<Text100>(json).map(|t| t.into_string()).map_err(|e| e.to_string());
        assert_eq!(read(r#""  Ana  ""#), Ok("Ana".into()));
        assert_eq!(read(r#""   ""#), Err("must not be empty".into()));
        assert_eq!(read(r#""a\u0007b""#), Err("must not contain control characters".into()));
        assert_eq!(read(&format!("\"{}\"", "x".repeat(101))), Err("must be at most 100 characters".into()));
        assert!(read(&format!("\"{}\"", "x".repeat(100))).is_ok());
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
