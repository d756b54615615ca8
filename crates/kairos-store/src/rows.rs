//! Conversions between domain values and the portable column types.

use crate::StoreError;
use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::str::FromStr;

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn from_micros(v: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(v).map_err(StoreError::corrupt)
}

/// Named fields of a stored record: a database row, or one object of a JSON
/// array that SQL aggregated (so one conversion serves both).
pub(crate) trait Fields {
    fn text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<Option<i64>, StoreError>;
}

impl Fields for AnyRow {
    fn text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.try_get::<Option<String>, _>(col).map_err(StoreError::from)
    }
    fn int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.try_get::<Option<i64>, _>(col).map_err(StoreError::from)
    }
}

impl Fields for serde_json::Map<String, serde_json::Value> {
    fn text(&self, col: &str) -> Result<Option<String>, StoreError> {
        match self.get(col) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(StoreError::corrupt(format!("{col}: expected text, found {other}"))),
        }
    }
    fn int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        match self.get(col) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| StoreError::corrupt(format!("{col}: expected an integer"))),
        }
    }
}

fn missing(col: &str) -> StoreError {
    StoreError::corrupt(format!("{col} is missing"))
}

pub(crate) fn get_str(row: &impl Fields, col: &str) -> Result<String, StoreError> {
    row.text(col)?.ok_or_else(|| missing(col))
}

pub(crate) fn get_opt_str(row: &impl Fields, col: &str) -> Result<Option<String>, StoreError> {
    row.text(col)
}

pub(crate) fn get_ts(row: &impl Fields, col: &str) -> Result<Timestamp, StoreError> {
    from_micros(row.int(col)?.ok_or_else(|| missing(col))?)
}

pub(crate) fn get_opt_ts(row: &impl Fields, col: &str) -> Result<Option<Timestamp>, StoreError> {
    row.int(col)?.map(from_micros).transpose()
}

pub(crate) fn get_date(row: &impl Fields, col: &str) -> Result<Date, StoreError> {
    get_str(row, col)?.parse().map_err(|e| StoreError::corrupt(format!("{col}: {e}")))
}

pub(crate) fn get_opt_date(row: &impl Fields, col: &str) -> Result<Option<Date>, StoreError> {
    get_opt_str(row, col)?.map(|s| s.parse().map_err(|e| StoreError::corrupt(format!("{col}: {e}")))).transpose()
}

pub(crate) fn get_id<T: FromStr>(row: &impl Fields, col: &str) -> Result<T, StoreError> {
    get_str(row, col)?.parse().map_err(|_| StoreError::corrupt(format!("{col} is not an id")))
}

pub(crate) fn get_opt_id<T: FromStr>(row: &impl Fields, col: &str) -> Result<Option<T>, StoreError> {
    get_opt_str(row, col)?
        .map(|s| s.parse().map_err(|_| StoreError::corrupt(format!("{col} is not an id"))))
        .transpose()
}

/// Parses a JSON array of objects that SQL aggregated.
pub(crate) fn json_objects(
    col: &str,
    text: Option<String>,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, StoreError> {
    let Some(text) = text else { return Ok(Vec::new()) };
    let v: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| StoreError::corrupt(format!("{col}: {e}")))?;
    v.into_iter()
        .map(|o| match o {
            serde_json::Value::Object(m) => Ok(m),
            _ => Err(StoreError::corrupt(format!("{col}: expected objects"))),
        })
        .collect()
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub(crate) fn like_prefix(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 1);
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
