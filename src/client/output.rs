//! Output: aligned tables and `key: value` blocks for people, the API's JSON for scripts.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Prints `value` as indented JSON on stdout.
pub fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// A table: a header row and rows of cells, printed with aligned columns.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&'static str]) -> Table {
        Table { headers: headers.to_vec(), rows: Vec::new() }
    }

    /// Adds a row (as many cells as headers).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text: columns padded to their widest cell, two spaces apart, the last column
    /// unpadded; every line ends with a newline.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let headers: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        let mut out = String::new();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let last = row.len().saturating_sub(1);
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i == last {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ", width = widths.get(i).copied().unwrap_or(0));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Prints the table on stdout.
    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// A field of `v` as text: strings as they are, numbers and booleans written out, null or
/// absent as `-`.
pub fn text(v: &Value, key: &str) -> String {
    cell(v.get(key).unwrap_or(&Value::Null))
}

/// A value as a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A timestamp field of `v` as `2026-11-29 18:20:01` (UTC), or `-`.
pub fn time(v: &Value, key: &str) -> String {
    match v.get(key).and_then(Value::as_str).and_then(|s| s.parse::<DateTime<Utc>>().ok()) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true).replace('T', " ").replace('Z', ""),
        None => "-".into(),
    }
}

/// Prints `pairs` as aligned `key: value` lines, skipping empty values.
pub fn print_fields(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (k, v) in pairs.iter().filter(|(_, v)| v != "-") {
        println!("{:<width$} {v}", format!("{k}:"));
    }
}

/// The resources of `v` as `cpu 500m mem 512MiB pods 1 storage 0MiB`.
pub fn resources(v: &Value) -> String {
    format!(
        "cpu {}m, memory {} MiB, pods {}, storage {} MiB",
        text(v, "cpu"),
        text(v, "memory"),
        text(v, "pods"),
        text(v, "storage")
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let mut t = Table::new(&["ID", "STATE", "NAME"]);
        t.row(vec!["7".into(), "running".into(), "etl".into()]);
        t.row(vec!["1234".into(), "queued".into(), "a b".into()]);
        assert_eq!(t.render(), "ID    STATE    NAME\n7     running  etl\n1234  queued   a b\n");
    }

    #[test]
    fn cells_and_times_read_nulls_as_dashes() {
        let v = json!({"a": null, "b": 3, "c": "x", "t": "2026-11-29T18:20:01.123456Z", "e": ""});
        assert_eq!(
            [text(&v, "a"), text(&v, "b"), text(&v, "c"), text(&v, "e"), text(&v, "zz")],
            ["-", "3", "x", "-", "-"]
        );
        assert_eq!(time(&v, "t"), "2026-11-29 18:20:01");
        assert_eq!(time(&v, "a"), "-");
    }
}
