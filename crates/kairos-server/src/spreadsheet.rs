//! CSV for spreadsheets that cannot be turned against their reader.
//!
//! A spreadsheet opening a CSV file runs a cell that starts with `=`, `+`,
//! `-` or `@` (and, in some, a tab or carriage return) as a formula: a
//! client's name, a lot number or a note typed as `=HYPERLINK(...)` would
//! become a link or a command on the inspector's machine (CWE-1236). Each
//! such text cell is written with a leading apostrophe, which spreadsheets
//! show as text and do not run, as OWASP's "CSV Injection" guidance
//! recommends. A cell that is a plain number (`-2`, `+1.5`) is left as it
//! is: it is no formula, and a quantity must stay a number.

use std::borrow::Cow;

/// The cell as written to a CSV file meant for spreadsheets.
pub fn cell(value: &str) -> Cow<'_, str> {
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && value.trim().parse::<f64>().map(f64::is_finite) != Ok(true) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

/// Writes `rows` (serialised by serde, with a header row from the first)
/// as CSV with every cell passed through [`cell`].
pub fn rows_to_csv<T: serde::Serialize>(rows: &[T]) -> Result<String, csv::Error> {
    let mut plain = csv::Writer::from_writer(Vec::new());
    for r in rows {
        plain.serialize(r)?;
    }
    let bytes = plain.into_inner().map_err(|e| e.into_error())?;
    let mut read = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes.as_slice());
    let mut out = csv::Writer::from_writer(Vec::new());
    for record in read.records() {
        let record = record?;
        out.write_record(record.iter().map(cell).collect::<Vec<_>>().iter().map(|c| c.as_ref()))?;
    }
    let bytes = out.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        assert_eq!(cell("=HYPERLINK(\"http://x.invalid\",\"open\")"), "'=HYPERLINK(\"http://x.invalid\",\"open\")");
        assert_eq!(cell("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(cell("@SUM(A1:A9)"), "'@SUM(A1:A9)");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("\t=1"), "'\t=1");
        // Plain numbers, including signed ones, stay numbers.
        assert_eq!(cell("-2"), "-2");
        assert_eq!(cell("+1.5"), "+1.5");
        assert_eq!(cell("-inf"), "'-inf");
        // Ordinary text is untouched, a formula sign inside it too.
        assert_eq!(cell("Ledger Client0"), "Ledger Client0");
        assert_eq!(cell("lot KET-0042 = 10 mL"), "lot KET-0042 = 10 mL");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn rows_are_written_with_a_header_and_each_cell_neutralised() {
        #[derive(serde::Serialize)]
        struct Row {
            name: &'static str,
            quantity: &'static str,
        }
        let csv = rows_to_csv(&[Row { name: "=1+1", quantity: "-2" }, Row { name: "Ada, \"Quill\"", quantity: "3" }])
            .expect("csv");
        assert_eq!(csv, "name,quantity\n'=1+1,-2\n\"Ada, \"\"Quill\"\"\",3\n");
    }
}
