//! What box and span fusion share: reader names, skill weights, parsing fields, CSV cells.

use crate::input::{self, ANNOTATOR, Column, InputError};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

/// Readers by name, numbered in name order (so that row order cannot matter).
pub(super) struct Readers {
    pub(super) names: Vec<String>,
}

impl Readers {
    pub(super) fn new(names: impl IntoIterator<Item = String>) -> Self {
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        names.dedup();
        Readers { names }
    }

    pub(super) fn index(&self, name: &str) -> usize {
        self.names
            .binary_search_by(|n| n.as_str().cmp(name))
            .expect("every reader was registered")
    }

    /// `a;b;c` for a CSV cell.
    pub(super) fn join(&self, readers: &[usize]) -> String {
        readers
            .iter()
            .map(|&r| self.names[r].as_str())
            .collect::<Vec<_>>()
            .join(";")
    }
}

const WEIGHT: Column = Column {
    name: "weight",
    aliases: &["skill"],
    expected: "a non-negative number",
};

/// Reads `annotator,weight`; every reader needs a weight, and every weight a reader.
pub(super) fn read_weights(path: &Path, readers: &Readers) -> Result<Vec<f64>, InputError> {
    let mut weights: BTreeMap<String, f64> = BTreeMap::new();
    input::read_csv(path, &[ANNOTATOR, WEIGHT], |line, f| {
        let w: f64 = parse(path, line, &WEIGHT, f[1])?;
        if !(w.is_finite() && w >= 0.0) {
            return Err(field_error(path, line, &WEIGHT, f[1]));
        }
        if !readers.names.iter().any(|n| n == f[0]) {
            return Err(InputError::Csv {
                path: path.into(),
                line,
                message: format!("annotator `{}` has no annotation in the input", f[0]),
            });
        }
        weights.insert(f[0].to_string(), w);
        Ok(())
    })?;
    readers
        .names
        .iter()
        .map(|name| {
            weights.get(name).copied().ok_or_else(|| InputError::Csv {
                path: path.into(),
                line: 0,
                message: format!("no weight for annotator `{name}`"),
            })
        })
        .collect()
}

/// Parses a field, naming file, line and column on failure.
pub(super) fn parse<T: FromStr>(
    path: &Path,
    line: u64,
    column: &Column,
    value: &str,
) -> Result<T, InputError> {
    value
        .parse()
        .map_err(|_| field_error(path, line, column, value))
}

pub(super) fn field_error(path: &Path, line: u64, column: &Column, value: &str) -> InputError {
    InputError::BadValue {
        path: path.into(),
        line,
        column: column.name,
        expected: column.expected.to_string(),
        found: value.to_string(),
    }
}

/// A float for CSV: shortest round-trip form.
pub(super) fn cell(x: f64) -> String {
    format!("{x}")
}
