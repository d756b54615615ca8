//! Conversions between domain values and the portable column types.

use crate::StoreError;
use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;
use sqlx::any::AnyRow;

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn from_micros(v: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(v).map_err(StoreError::corrupt)
}

/// A result row of either driver: sqlx's `AnyRow`, or a row of the direct
/// SQLite read path. Decoders (`client_of`, `encounter_of`, ...) are written
/// once against this, so both paths build records the same way.
pub(crate) trait Cols {
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    /// By position, for scans of millions of rows (no name lookup).
    fn opt_text_at(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn opt_int_at(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// An id column by name, parsed without an intermediate `String` where
    /// the driver allows.
    fn opt_uuid(&self, col: &str) -> Result<Option<uuid::Uuid>, StoreError> {
        self.opt_text(col)?.map(|s| parse_uuid(col, &s)).transpose()
    }
    /// An id column by position, parsed without an intermediate `String`
    /// where the driver allows.
    fn uuid_at(&self, i: usize) -> Result<uuid::Uuid, StoreError> {
        let s = self.opt_text_at(i)?.ok_or_else(|| StoreError::corrupt(format!("column {i} is null")))?;
        uuid::Uuid::parse_str(&s).map_err(|_| StoreError::corrupt(format!("column {i} is not an id")))
    }
}

impl Cols for AnyRow {
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.try_get::<Option<String>, _>(col).map_err(StoreError::from)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.try_get::<Option<i64>, _>(col).map_err(StoreError::from)
    }
    fn opt_text_at(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.try_get::<Option<String>, _>(i).map_err(StoreError::from)
    }
    fn opt_int_at(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.try_get::<Option<i64>, _>(i).map_err(StoreError::from)
    }
}

impl Cols for rusqlite::Row<'_> {
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.get::<_, Option<String>>(col).map_err(StoreError::from)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.get::<_, Option<i64>>(col).map_err(StoreError::from)
    }
    fn opt_text_at(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get::<_, Option<String>>(i).map_err(StoreError::from)
    }
    fn opt_int_at(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.get::<_, Option<i64>>(i).map_err(StoreError::from)
    }
    fn uuid_at(&self, i: usize) -> Result<uuid::Uuid, StoreError> {
        let text = self.get_ref(i)?.as_str().map_err(|e| StoreError::corrupt(format!("column {i}: {e}")))?;
        uuid::Uuid::parse_str(text).map_err(|_| StoreError::corrupt(format!("column {i} is not an id")))
    }
}

/// A row of the direct SQLite path read by column name against the
/// statement's column names taken once per statement: rusqlite's own lookup
/// asks SQLite for every column's name and compares without case for each
/// value read (6 % of a chart read's CPU under load, `perf`).
pub(crate) struct Named<'a, 'r> {
    pub(crate) row: &'a rusqlite::Row<'r>,
    pub(crate) names: &'a [&'a str],
    /// Where the next lookup starts: decoders read columns in the order of
    /// the SELECT, so each name is found at the first comparison.
    next: std::cell::Cell<usize>,
}

impl Named<'_, '_> {
    fn index(&self, col: &str) -> Result<usize, StoreError> {
        let start = self.next.get().min(self.names.len());
        let (earlier, from_next) = self.names.split_at(start);
        let found = from_next
            .iter()
            .position(|n| *n == col)
            .map(|i| start + i)
            .or_else(|| earlier.iter().position(|n| *n == col))
            .ok_or_else(|| StoreError::corrupt(format!("no column {col}")))?;
        self.next.set(found + 1);
        Ok(found)
    }
}

impl Cols for Named<'_, '_> {
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.row.opt_text_at(self.index(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.row.opt_int_at(self.index(col)?)
    }
    fn opt_text_at(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.row.opt_text_at(i)
    }
    fn opt_int_at(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.row.opt_int_at(i)
    }
    fn opt_uuid(&self, col: &str) -> Result<Option<uuid::Uuid>, StoreError> {
        let i = self.index(col)?;
        let value = self.row.get_ref(i)?;
        match value {
            rusqlite::types::ValueRef::Null => Ok(None),
            v => parse_uuid(col, v.as_str().map_err(|e| StoreError::corrupt(format!("{col}: {e}")))?).map(Some),
        }
    }
    fn uuid_at(&self, i: usize) -> Result<uuid::Uuid, StoreError> {
        self.row.uuid_at(i)
    }
}

/// Runs a prepared statement and decodes every row by column name with [`Named`].
pub(crate) fn query_named<T, P: rusqlite::Params>(
    st: &mut rusqlite::CachedStatement<'_>,
    params: P,
    mut decode: impl FnMut(&Named<'_, '_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let names: Vec<String> = st.column_names().into_iter().map(str::to_string).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    debug_assert!(
        names.iter().enumerate().all(|(i, n)| !names[..i].contains(n)),
        "a statement read by name must not repeat a column name: {names:?}"
    );
    let mut rows = st.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(&Named { row, names: &names, next: std::cell::Cell::new(0) })?);
    }
    Ok(out)
}

fn null(col: &str) -> StoreError {
    StoreError::corrupt(format!("{col} is null"))
}

pub(crate) fn get_str<R: Cols + ?Sized>(row: &R, col: &str) -> Result<String, StoreError> {
    row.opt_text(col)?.ok_or_else(|| null(col))
}

pub(crate) fn get_opt_str<R: Cols + ?Sized>(row: &R, col: &str) -> Result<Option<String>, StoreError> {
    row.opt_text(col)
}

pub(crate) fn get_i64<R: Cols + ?Sized>(row: &R, col: &str) -> Result<i64, StoreError> {
    row.opt_int(col)?.ok_or_else(|| null(col))
}

pub(crate) fn get_ts<R: Cols + ?Sized>(row: &R, col: &str) -> Result<Timestamp, StoreError> {
    from_micros(get_i64(row, col)?)
}

pub(crate) fn get_opt_ts<R: Cols + ?Sized>(row: &R, col: &str) -> Result<Option<Timestamp>, StoreError> {
    row.opt_int(col)?.map(from_micros).transpose()
}

pub(crate) fn get_date<R: Cols + ?Sized>(row: &R, col: &str) -> Result<Date, StoreError> {
    get_str(row, col)?.parse().map_err(|e| StoreError::corrupt(format!("{col}: {e}")))
}

pub(crate) fn get_opt_date<R: Cols + ?Sized>(row: &R, col: &str) -> Result<Option<Date>, StoreError> {
    get_opt_str(row, col)?.map(|s| s.parse().map_err(|e| StoreError::corrupt(format!("{col}: {e}")))).transpose()
}

pub(crate) fn get_id<T: From<uuid::Uuid>>(row: &(impl Cols + ?Sized), col: &str) -> Result<T, StoreError> {
    row.opt_uuid(col)?.map(T::from).ok_or_else(|| null(col))
}

pub(crate) fn get_opt_id<T: From<uuid::Uuid>>(row: &(impl Cols + ?Sized), col: &str) -> Result<Option<T>, StoreError> {
    Ok(row.opt_uuid(col)?.map(T::from))
}

fn parse_uuid(col: &str, text: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(text).map_err(|_| StoreError::corrupt(format!("{col} is not an id")))
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

/// A SQLite `GLOB` pattern matching the strings that start with `term`:
/// `*`, `?` and `[` stand for themselves inside brackets.
pub(crate) fn glob_prefix(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 1);
    for c in term.chars() {
        match c {
            '*' | '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out.push('*');
    out
}

/// Placeholders for a multi-row INSERT on `backend`: SQLite gets anonymous
/// `?` (bound by position: SQLite finds a `$N` by a linear scan of the
/// statement's named parameters, so naming them makes binding quadratic in
/// the row count; measured at a third of the demo load's CPU), PostgreSQL `$N`.
pub(crate) fn placeholders_for(backend: crate::Backend, rows: usize, per_row: usize) -> String {
    match backend {
        crate::Backend::Postgres => placeholders(rows, per_row),
        crate::Backend::Sqlite => {
            let one = format!("({})", vec!["?"; per_row].join(","));
            vec![one; rows].join(",")
        }
    }
}

/// `($1,$2,...),($k,...)`: placeholders for a multi-row INSERT.
pub(crate) fn placeholders(rows: usize, per_row: usize) -> String {
    let mut s = String::with_capacity(rows * per_row * 5);
    for i in 0..rows {
        if i > 0 {
            s.push(',');
        }
        s.push('(');
        for j in 0..per_row {
            if j > 0 {
                s.push(',');
            }
            s.push('$');
            s.push_str(&(i * per_row + j + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// `(id, name)` of the rows of `table` ("staff" or "rooms") with these ids,
/// for pages that show names beside ids: only what the page shows is read.
pub(crate) async fn names_by_ids<T: ToString>(
    pool: &sqlx::AnyPool,
    table: &'static str,
    ids: &[T],
) -> Result<Vec<(String, String)>, StoreError> {
    let mut ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    ids.sort();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(200) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("SELECT id, name FROM {table} WHERE id IN ({})", marks.join(","));
        let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.clone());
        }
        out.extend(q.fetch_all(pool).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_rows(f: impl FnOnce(&mut rusqlite::CachedStatement<'_>)) {
        let conn = rusqlite::Connection::open_in_memory().expect("memory db");
        let mut st = conn
            .prepare_cached(
                "SELECT '0190a5b2-3c4d-7e8f-9a0b-1c2d3e4f5a6b' AS a, NULL AS b, 42 AS c, 'x' AS d \
                 UNION ALL SELECT 'not-an-id', '0190a5b2-3c4d-7e8f-9a0b-1c2d3e4f5a6c', 7, 'y'",
            )
            .expect("prepare");
        f(&mut st);
    }

    #[test]
    fn named_columns_are_found_in_any_order_and_ids_parse_from_borrowed_text() {
        with_rows(|st| {
            let first = query_named(st, [], |r| {
                // Out of SELECT order, and the same column twice.
                Ok((get_str(r, "d")?, get_i64(r, "c")?, get_opt_id::<uuid::Uuid>(r, "b")?, get_i64(r, "c")?))
            })
            .expect("decode");
            assert_eq!(first[0], ("x".to_string(), 42, None, 42));
            assert_eq!(first[1].2, uuid::Uuid::parse_str("0190a5b2-3c4d-7e8f-9a0b-1c2d3e4f5a6c").ok());
            let ids = query_named(st, [], |r| get_id::<uuid::Uuid>(r, "a"));
            let err = ids.expect_err("the second row's a is not an id").to_string();
            assert!(err.contains("a is not an id"), "{err}");
            let missing = query_named(st, [], |r| get_i64(r, "nope")).expect_err("no such column").to_string();
            assert!(missing.contains("no column nope"), "{missing}");
            let null = query_named(st, [], |r| get_id::<uuid::Uuid>(r, "b")).expect_err("b is null").to_string();
            assert!(null.contains("b is null"), "{null}");
        });
    }

    #[test]
    fn a_glob_prefix_matches_what_starts_with_the_term_wildcards_included() {
        let db = rusqlite::Connection::open_in_memory().expect("sqlite");
        let matches = |term: &str, text: &str| -> bool {
            db.query_row("SELECT ?1 GLOB ?2", rusqlite::params![text, glob_prefix(term)], |r| r.get(0)).expect("glob")
        };
        assert!(matches("ok", "okafor"));
        assert!(matches("", "anything"));
        assert!(!matches("ok", "brooke"));
        assert!(!matches("ok", "Okafor"), "the keys are lower-cased before they are stored");
        assert!(matches("o*b", "o*brien"));
        assert!(!matches("o*b", "obrien"));
        assert!(!matches("o*b", "oxxbrien"));
        assert!(matches("a?", "a?b"));
        assert!(!matches("a?", "ab"));
        assert!(matches("[x", "[x]"));
        assert!(!matches("[x", "x"));
        assert!(matches("x]", "x]y"));
    }
}
