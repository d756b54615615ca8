//! Typed web-form input. Every form is a struct of the text fields as typed
//! (so a refused form comes back with everything kept); these helpers turn a
//! field into its value, and a field that does not parse into a refusal
//! naming it, in the same words and with the same field name as the API.

use crate::error::AppError;
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use kairos_domain::Refusal;

/// A refusal as a page shows it beside the form: the sentence, and the
/// field it is about (`data-field`, for tests and assistive styling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub field: String,
    pub message: String,
    /// The page's status: the API's for the same refusal.
    pub status: StatusCode,
}

impl From<Refusal> for Refused {
    fn from(r: Refusal) -> Refused {
        AppError::from(r).into()
    }
}

impl From<AppError> for Refused {
    fn from(e: AppError) -> Refused {
        let status = e.status();
        let field = e.field().unwrap_or_default().to_string();
        let message = match e {
            AppError::Unprocessable { detail, .. }
            | AppError::BadRequest { detail, .. }
            | AppError::Conflict { detail, .. } => detail,
            AppError::TooManyAttempts => "Too many wrong passwords for that person; wait and try again.".into(),
            AppError::Throttled { retry_after_secs } => {
                format!(
                    "Too many wrong passwords for that person from here; wait {retry_after_secs} seconds and try again."
                )
            }
            other => other.public_detail(),
        };
        Refused { field, message, status }
    }
}

/// A page shown with a refusal takes the API's status for the same refusal.
pub fn with_status(mut page: axum::response::Response, error: &Option<Refused>) -> axum::response::Response {
    if let Some(e) = error {
        *page.status_mut() = e.status;
    }
    page
}

fn trimmed(v: &str) -> Option<&str> {
    Some(v.trim()).filter(|v| !v.is_empty())
}

/// A whole number; blank is absent.
pub fn whole<T: TryFrom<i64>>(field: &str, label: &str, v: &str) -> Result<Option<T>, Refusal> {
    let Some(v) = trimmed(v) else { return Ok(None) };
    let n: i64 = v.parse().map_err(|_| Refusal::invalid(field, format!("{label}: “{v}” is not a whole number")))?;
    T::try_from(n).map(Some).map_err(|_| Refusal::invalid(field, format!("{label}: {v} is out of range")))
}

/// A decimal number (a point or a comma as the separator); blank is absent.
pub fn decimal(field: &str, label: &str, v: &str) -> Result<Option<f64>, Refusal> {
    let Some(v) = trimmed(v) else { return Ok(None) };
    match v.replace(',', ".").parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Some(x)),
        _ => Err(Refusal::invalid(field, format!("{label}: “{v}” is not a number"))),
    }
}

/// A `datetime-local` value in the record's site's time zone; blank is
/// absent (the use case takes now).
pub fn local_time(field: &str, label: &str, v: &str, tz: &TimeZone) -> Result<Option<Timestamp>, Refusal> {
    let Some(v) = trimmed(v) else { return Ok(None) };
    // An instant with its offset (a blank time kept through sign-in is
    // filled with one) needs no zone.
    if let Ok(at) = v.parse::<Timestamp>() {
        return Ok(Some(at));
    }
    let refuse = || Refusal::invalid(field, format!("{label}: give a date and time such as 2026-12-04 14:30"));
    let dt: jiff::civil::DateTime = v.replace(' ', "T").parse().map_err(|_| refuse())?;
    dt.to_zoned(tz.clone()).map(|z| Some(z.timestamp())).map_err(|_| refuse())
}

/// A checkbox: sent (with any value) when ticked.
pub fn ticked(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| !v.is_empty())
}

/// Text or nothing.
pub fn opt_text(v: &str) -> Option<String> {
    trimmed(v).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charted_time_is_a_local_time_at_the_site_or_an_instant_with_its_offset() {
        let chicago = TimeZone::get("America/Chicago").expect("tz");
        let local = local_time("at", "Taken at", "2026-12-04 09:40", &chicago).expect("local");
        assert_eq!(local, Some("2026-12-04T15:40:00Z".parse().expect("ts")));
        // A blank time kept through sign-in comes back as an instant with
        // its offset, whatever the site's zone.
        let kept = local_time("at", "Taken at", "2026-12-04T09:40:12-06:00", &TimeZone::UTC).expect("instant");
        assert_eq!(kept, Some("2026-12-04T15:40:12Z".parse().expect("ts")));
        assert_eq!(local_time("at", "Taken at", " ", &chicago).expect("blank"), None);
        assert_eq!(local_time("at", "Taken at", "09:40", &chicago).expect_err("no date").field, "at");
    }

    #[test]
    fn a_field_that_does_not_parse_is_refused_naming_it() {
        assert_eq!(whole::<u8>("vitals.spo2", "SpO2", " 97 ").expect("97"), Some(97));
        assert_eq!(whole::<u8>("vitals.spo2", "SpO2", "").expect("blank"), None);
        let r = whole::<u8>("vitals.spo2", "SpO2", "9x").expect_err("typo");
        assert_eq!((r.field.as_str(), r.message.as_str()), ("vitals.spo2", "SpO2: “9x” is not a whole number."));
        assert!(whole::<u8>("vitals.spo2", "SpO2", "970").expect_err("range").message.contains("out of range"));
        assert_eq!(decimal("weight_kg", "Weight", "72,5").expect("comma"), Some(72.5));
        assert_eq!(decimal("weight_kg", "Weight", "NaN").expect_err("nan").field, "weight_kg");
        let chicago = TimeZone::get("America/Chicago").expect("tz");
        let t = local_time("at", "Time", "2026-12-04T09:30", &chicago).expect("ok").expect("some");
        assert_eq!(t.to_string(), "2026-12-04T15:30:00Z");
        assert_eq!(local_time("at", "Time", "half past nine", &chicago).expect_err("words").field, "at");
    }
}
