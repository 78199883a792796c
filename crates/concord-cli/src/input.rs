//! Reading label and gold CSV files, with errors that name the file, the line and the column.

use concord_consensus::{Annotations, AnnotationsBuilder, BuildError, DuplicatePolicy};
use rayon::prelude::*;
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

/// Where the columns of a schema sit in a file, from its header.
struct Layout {
    /// Position of each schema column among the file's fields.
    positions: Vec<usize>,
    /// Number of fields of the header, which every row must have.
    n_fields: usize,
}

fn open(path: &Path) -> Result<Box<dyn Read>, InputError> {
    Ok(if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(path).map_err(|source| InputError::Open {
            path: path.into(),
            source,
        })?)
    })
}

fn csv_reader<R: Read>(source: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(source)
}

fn csv_error(path: &Path, e: csv::Error, line: u64) -> InputError {
    match e.kind() {
        csv::ErrorKind::Io(_) => InputError::Open {
            path: path.into(),
            source: io::Error::other(e.to_string()),
        },
        _ => InputError::Csv {
            path: path.into(),
            line,
            message: e.to_string(),
        },
    }
}

/// Reads the header line and finds `columns` in it.
fn read_header<R: Read>(
    path: &Path,
    columns: &[Column],
    reader: &mut csv::Reader<R>,
) -> Result<Layout, InputError> {
    assert!(
        columns.len() <= MAX_COLUMNS,
        "schemas have at most {MAX_COLUMNS} columns"
    );
    let expected_header = columns.iter().map(|c| c.name).collect::<Vec<_>>().join(",");
    let mut record = csv::ByteRecord::new();
    if !reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(path, e, 1))?
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
    Ok(Layout {
        positions,
        n_fields: header.len(),
    })
}

/// Reads the rows that follow the header, calling `row` with each row's line and fields.
/// `line_offset` is added to the reader's own line numbers (0 when it reads the file from its
/// start). Returns the number of rows.
fn read_rows<R: Read>(
    path: &Path,
    columns: &[Column],
    layout: &Layout,
    reader: &mut csv::Reader<R>,
    line_offset: u64,
    mut row: impl FnMut(u64, &[&str]) -> Result<(), InputError>,
) -> Result<u64, InputError> {
    let mut record = csv::ByteRecord::new();
    let mut n_rows = 0u64;
    // The line of the last record read, which an error on the next one counts from.
    let mut line = line_offset + reader.position().line() - 1;
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(path, e, line + 1))?;
        if !more {
            break;
        }
        line = record
            .position()
            .map_or(line + 1, |p| line_offset + p.line());
        // A blank line at the end of a file is not a row.
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        if record.len() != layout.n_fields {
            return Err(InputError::Ragged {
                path: path.into(),
                line,
                expected: layout.n_fields,
                found: record.len(),
            });
        }
        let mut fields = [""; MAX_COLUMNS];
        for ((column, &pos), field) in columns.iter().zip(&layout.positions).zip(&mut fields) {
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
    Ok(n_rows)
}

/// Reads a CSV file whose header holds (at least) `columns`, calling `row` with the line number
/// and the fields in `columns` order. Extra columns are ignored. `-` reads standard input.
///
/// Empty fields of required columns are refused here, so `row` sees non-empty strings.
pub(crate) fn read_csv(
    path: &Path,
    columns: &[Column],
    row: impl FnMut(u64, &[&str]) -> Result<(), InputError>,
) -> Result<u64, InputError> {
    let mut reader = csv_reader(open(path)?);
    let layout = read_header(path, columns, &mut reader)?;
    let n_rows = read_rows(path, columns, &layout, &mut reader, 0, row)?;
    if n_rows == 0 {
        return Err(InputError::NoRows { path: path.into() });
    }
    Ok(n_rows)
}

/// Label files at least this large are parsed on every core.
const PARALLEL_MIN_BYTES: u64 = 4 << 20;

/// Reads `item,annotator,label` observations into `builder` on every core, or `None` when the
/// file is not one that can be split safely (standard input, a small file, or quoted fields,
/// which may hold line breaks), in which case nothing was read.
///
/// The file is cut into one part per thread at line breaks; each part is parsed into its own
/// builder and the parts are joined in file order, so the observations, their lines and the
/// first error are those of a sequential read.
fn read_labels_parallel(
    path: &Path,
    builder: &mut AnnotationsBuilder,
) -> Result<Option<Vec<u64>>, InputError> {
    let columns = [ITEM, ANNOTATOR, LABEL];
    if path.as_os_str() == "-"
        || std::fs::metadata(path).map_or(true, |m| !m.is_file() || m.len() < PARALLEL_MIN_BYTES)
    {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|source| InputError::Open {
        path: path.into(),
        source,
    })?;
    let mut reader = csv_reader(&bytes[..]);
    let layout = read_header(path, &columns, &mut reader)?;
    let body_start = reader.position().byte() as usize;
    let first_line = reader.position().line();
    let body = &bytes[body_start.min(bytes.len())..];
    if memchr::memchr(b'"', body).is_some() {
        return Ok(None);
    }
    // Parts end just after a line break; the last part ends with the file.
    let n_parts = rayon::current_num_threads().max(1);
    let mut bounds = vec![0];
    for k in 1..n_parts {
        let target = (body.len() * k / n_parts).max(*bounds.last().expect("starts with 0"));
        let end = memchr::memchr(b'\n', &body[target..]).map_or(body.len(), |at| target + at + 1);
        bounds.push(end);
    }
    bounds.push(body.len());
    let parts: Vec<&[u8]> = bounds.windows(2).map(|w| &body[w[0]..w[1]]).collect();
    let mut part_lines = Vec::with_capacity(parts.len());
    let mut line = first_line;
    for part in &parts {
        part_lines.push(line);
        line += memchr::memchr_iter(b'\n', part).count() as u64;
    }
    let parsed: Vec<Result<(AnnotationsBuilder, Vec<u64>), InputError>> = parts
        .par_iter()
        .zip(&part_lines)
        .map(|(part, &first_line)| {
            let mut part_builder = AnnotationsBuilder::with_capacity(part.len() / 16);
            let mut lines = Vec::with_capacity(part.len() / 16);
            read_rows(
                path,
                &columns,
                &layout,
                &mut csv_reader(*part),
                first_line - 1,
                |line, f| {
                    part_builder.push(f[0], f[1], f[2]);
                    lines.push(line);
                    Ok(())
                },
            )?;
            Ok((part_builder, lines))
        })
        .collect();
    drop(bytes);
    let mut lines = Vec::new();
    for part in parsed {
        let (part_builder, part_lines) = part?;
        builder.append(part_builder);
        if lines.is_empty() {
            lines = part_lines;
        } else {
            lines.extend(part_lines);
        }
    }
    if lines.is_empty() {
        return Err(InputError::NoRows { path: path.into() });
    }
    Ok(Some(lines))
}

/// Reads `item,annotator,label` observations into `builder`; returns each observation's line.
pub(crate) fn read_labels(
    path: &Path,
    builder: &mut AnnotationsBuilder,
) -> Result<Vec<u64>, InputError> {
    if let Some(lines) = read_labels_parallel(path, builder)? {
        return Ok(lines);
    }
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
