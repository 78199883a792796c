//! Reading label and gold CSV files, with errors that name the file, the line and the column.

use concord_consensus::{Annotations, AnnotationsBuilder, BuildError, DuplicatePolicy};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Why an input file was refused. Every variant names the file; row errors name the line
/// (1-based, the header is line 1) and the column.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    #[error("{path}: cannot read: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: the file is empty (expected a header line `{expected}`)")]
    Empty { path: PathBuf, expected: String },
    #[error("{path}:1: header lacks column `{column}` (expected `{expected}`, found `{found}`)")]
    MissingColumn {
        path: PathBuf,
        column: &'static str,
        expected: String,
        found: String,
    },
    #[error("{path}:1: column `{column}` appears twice in the header")]
    RepeatedColumn { path: PathBuf, column: String },
    #[error("{path}: no data rows after the header")]
    NoRows { path: PathBuf },
    #[error("{path}:{line}: expected {expected} fields like the header, found {found}")]
    Ragged {
        path: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("{path}:{line}: column `{column}` is not valid UTF-8")]
    NotUtf8 {
        path: PathBuf,
        line: u64,
        column: String,
    },
    #[error("{path}:{line}: column `{column}` is empty (expected {expected})")]
    EmptyField {
        path: PathBuf,
        line: u64,
        column: &'static str,
        expected: &'static str,
    },
    #[error(
        "{path}:{line}: annotator `{annotator}` already labelled item `{item}` on line {first_line} \
         (use --duplicates first|last|all to choose what to keep)"
    )]
    Duplicate {
        path: PathBuf,
        line: u64,
        first_line: u64,
        item: String,
        annotator: String,
    },
    #[error(
        "{path}:{line}: item `{item}` has two different gold answers (`{first}` and `{second}`)"
    )]
    GoldConflict {
        path: PathBuf,
        line: u64,
        item: String,
        first: String,
        second: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}:{line}: column `{column}`: expected {expected}, found `{found}`")]
    BadValue {
        path: PathBuf,
        line: u64,
        column: &'static str,
        expected: String,
        found: String,
    },
    #[error("{path}:{line}: {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// A column of a CSV schema: its name and accepted aliases (crowd-kit's spellings).
pub(crate) struct Column {
    pub(crate) name: &'static str,
    pub(crate) aliases: &'static [&'static str],
    /// What a value must be, for error messages.
    pub(crate) expected: &'static str,
}

pub(crate) const ITEM: Column = Column {
    name: "item",
    aliases: &["task"],
    expected: "an item id",
};
pub(crate) const ANNOTATOR: Column = Column {
    name: "annotator",
    aliases: &["worker"],
    expected: "an annotator id",
};
pub(crate) const LABEL: Column = Column {
    name: "label",
    aliases: &[],
    expected: "a label",
};

/// The most columns a schema names.
const MAX_COLUMNS: usize = 8;

/// Reads a CSV file whose header holds (at least) `columns`, calling `row` with the line number
/// and the fields in `columns` order. Extra columns are ignored. `-` reads standard input.
///
/// Empty fields of required columns are refused here, so `row` sees non-empty strings.
pub(crate) fn read_csv(
    path: &Path,
    columns: &[Column],
    mut row: impl FnMut(u64, &[&str]) -> Result<(), InputError>,
) -> Result<u64, InputError> {
    let source: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(path).map_err(|source| InputError::Open {
            path: path.into(),
            source,
        })?)
    };
    let expected_header = columns.iter().map(|c| c.name).collect::<Vec<_>>().join(",");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(source);
    let mut record = csv::ByteRecord::new();
    let csv_error = |e: csv::Error, line: u64| match e.kind() {
        csv::ErrorKind::Io(_) => InputError::Open {
            path: path.into(),
            source: io::Error::other(e.to_string()),
        },
        _ => InputError::Csv {
            path: path.into(),
            line,
            message: e.to_string(),
        },
    };
    if !reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(e, 1))?
    {
        return Err(InputError::Empty {
            path: path.into(),
            expected: expected_header,
        });
    }
    // The header: strip a UTF-8 byte-order mark and surrounding spaces.
    let header: Vec<String> = record
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let f = if i == 0 {
                f.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(f)
            } else {
                f
            };
            String::from_utf8_lossy(f).trim().to_string()
        })
        .collect();
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name)
            && columns
                .iter()
                .any(|c| c.name == name || c.aliases.contains(&name.as_str()))
        {
            return Err(InputError::RepeatedColumn {
                path: path.into(),
                column: name.clone(),
            });
        }
    }
    let mut positions = Vec::with_capacity(columns.len());
    for column in columns {
        let pos = header
            .iter()
            .position(|h| h == column.name || column.aliases.contains(&h.as_str()))
            .ok_or_else(|| InputError::MissingColumn {
                path: path.into(),
                column: column.name,
                expected: expected_header.clone(),
                found: header.join(","),
            })?;
        positions.push(pos);
    }
    assert!(
        columns.len() <= MAX_COLUMNS,
        "schemas have at most {MAX_COLUMNS} columns"
    );
    let n_fields = header.len();
    let mut n_rows = 0u64;
    let mut line = 1u64;
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(e, line + 1))?;
        if !more {
            break;
        }
        line = record.position().map_or(line + 1, |p| p.line());
        // A blank line at the end of a file is not a row.
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        if record.len() != n_fields {
            return Err(InputError::Ragged {
                path: path.into(),
                line,
                expected: n_fields,
                found: record.len(),
            });
        }
        let mut fields = [""; MAX_COLUMNS];
        for ((column, &pos), field) in columns.iter().zip(&positions).zip(&mut fields) {
            let value = std::str::from_utf8(&record[pos]).map_err(|_| InputError::NotUtf8 {
                path: path.into(),
                line,
                column: column.name.to_string(),
            })?;
            let value = value.trim();
            if value.is_empty() {
                return Err(InputError::EmptyField {
                    path: path.into(),
                    line,
                    column: column.name,
                    expected: column.expected,
                });
            }
            *field = value;
        }
        row(line, &fields[..columns.len()])?;
        n_rows += 1;
    }
    if n_rows == 0 {
        return Err(InputError::NoRows { path: path.into() });
    }
    Ok(n_rows)
}

/// Reads `item,annotator,label` observations into `builder`; returns each observation's line.
pub(crate) fn read_labels(
    path: &Path,
    builder: &mut AnnotationsBuilder,
) -> Result<Vec<u64>, InputError> {
    let mut lines = Vec::new();
    read_csv(path, &[ITEM, ANNOTATOR, LABEL], |line, f| {
        builder.push(f[0], f[1], f[2]);
        lines.push(line);
        Ok(())
    })?;
    Ok(lines)
}

/// Reads `item,label` known answers (gold or truth) as `(item, label)` pairs.
pub(crate) fn read_answers(path: &Path) -> Result<Vec<(String, String)>, InputError> {
    let mut answers: Vec<(String, String)> = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    read_csv(path, &[ITEM, LABEL], |line, f| {
        if let Some(&at) = seen.get(f[0]) {
            if answers[at].1 != f[1] {
                return Err(InputError::GoldConflict {
                    path: path.into(),
                    line,
                    item: f[0].to_string(),
                    first: answers[at].1.clone(),
                    second: f[1].to_string(),
                });
            }
            return Ok(());
        }
        seen.insert(f[0].to_string(), answers.len());
        answers.push((f[0].to_string(), f[1].to_string()));
        Ok(())
    })?;
    Ok(answers)
}

/// Builds the matrix, translating observation positions in errors back to file lines.
pub(crate) fn build(
    path: &Path,
    builder: AnnotationsBuilder,
    lines: &[u64],
    duplicates: DuplicatePolicy,
) -> Result<Annotations, InputError> {
    builder
        .build(duplicates)
        .map_err(|e| build_error(path, lines, e))
}

/// Translates a [`BuildError`] (which counts observations) into an [`InputError`] naming lines.
pub(crate) fn build_error(path: &Path, lines: &[u64], e: BuildError) -> InputError {
    match e {
        BuildError::Duplicate {
            item,
            annotator,
            first,
            second,
        } => InputError::Duplicate {
            path: path.into(),
            line: lines[second],
            first_line: lines[first],
            item,
            annotator,
        },
        BuildError::EmptyField { observation, field } => InputError::EmptyField {
            path: path.into(),
            line: lines[observation],
            column: field,
            expected: "a value",
        },
        BuildError::Empty => InputError::NoRows { path: path.into() },
        other => InputError::Invalid {
            path: path.into(),
            message: other.to_string(),
        },
    }
}

/// Reads a labels file (and optionally a gold file) into the label matrix.
pub(crate) fn load(
    labels: &Path,
    gold: Option<&Path>,
    duplicates: DuplicatePolicy,
) -> Result<Annotations, InputError> {
    let mut builder = AnnotationsBuilder::with_capacity(1 << 16);
    let lines = read_labels(labels, &mut builder)?;
    if let Some(gold) = gold {
        for (item, label) in read_answers(gold)? {
            builder.push_gold(&item, &label);
        }
    }
    build(labels, builder, &lines, duplicates)
}
