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

fn csv_reader<R: Read>(source: R) -> csv::Reader<Tally<R>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(Tally {
            inner: source,
            delivered: 0,
            last: 0,
        })
}

/// A reader that counts the bytes it delivers and keeps the last one.
///
/// The CSV reader skips blank lines before a record but reports the record's position from
/// before them, so the line a record starts on is worked out from where the reader stopped
/// after it: that needs to know whether the record ended with a line break, and the last
/// record of the input may not.
struct Tally<R> {
    inner: R,
    delivered: u64,
    last: u8,
}

impl<R: Read> Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.delivered += n as u64;
            self.last = buf[n - 1];
        }
        Ok(n)
    }
}

/// The line the record just read starts on, as the reader counts lines (the first is 1).
fn record_line<R: Read>(reader: &csv::Reader<Tally<R>>, record: &csv::ByteRecord) -> u64 {
    let end = reader.position();
    let tally = reader.get_ref();
    // Bytes after the record, or a final line break, mean the record ended with a line break.
    let ended_with_break = end.byte() < tally.delivered || tally.last == b'\n';
    // Quoted fields may hold line breaks of their own.
    let breaks_inside = memchr::memchr_iter(b'\n', record.as_slice()).count() as u64;
    end.line() - breaks_inside - u64::from(ended_with_break)
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
    reader: &mut csv::Reader<Tally<R>>,
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
        line = line_offset + record_line(reader, &record);
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

/// Bytes the parallel reader reads at a time: what it holds of the file besides what it parsed.
const BLOCK_BYTES: usize = 64 << 20;

/// Reads a label file on every core, or `None` when the file is not one that can be split
/// safely (standard input, a file under `min_bytes`, or quoted fields, which may hold line
/// breaks), in which case the caller reads it sequentially.
///
/// The file is read `block_bytes` at a time; each block, cut after its last line break, is cut
/// again into one part per thread at line breaks, each part is parsed into its own builder, and
/// the parts are joined in file order. The observations, their lines and the first error are
/// those of a sequential read.
fn read_labels_in_parts(
    path: &Path,
    min_bytes: u64,
    block_bytes: usize,
) -> Result<Option<(AnnotationsBuilder, Vec<u64>)>, InputError> {
    let columns = [ITEM, ANNOTATOR, LABEL];
    if path.as_os_str() == "-"
        || std::fs::metadata(path).map_or(true, |m| !m.is_file() || m.len() < min_bytes)
    {
        return Ok(None);
    }
    let open_error = |source| InputError::Open {
        path: path.into(),
        source,
    };
    let mut file = File::open(path).map_err(open_error)?;
    let mut builder = AnnotationsBuilder::new();
    let mut lines: Vec<u64> = Vec::new();
    let mut layout = None;
    // The line the unparsed bytes at the front of `block` start on.
    let mut line = 1;
    let mut block: Vec<u8> = Vec::new();
    loop {
        let read = (&mut file)
            .take(block_bytes as u64)
            .read_to_end(&mut block)
            .map_err(open_error)?;
        let at_end = read < block_bytes;
        let end = if at_end {
            block.len()
        } else {
            match memchr::memrchr(b'\n', &block) {
                Some(at) => at + 1,
                // A line longer than a block: read on.
                None => continue,
            }
        };
        let mut start = 0;
        let layout = match &layout {
            Some(layout) => layout,
            None => {
                let mut reader = csv_reader(&block[..end]);
                let found = read_header(path, &columns, &mut reader)?;
                start = reader.position().byte() as usize;
                line = reader.position().line();
                layout.insert(found)
            }
        };
        let body = &block[start.min(end)..end];
        if memchr::memchr(b'"', body).is_some() {
            return Ok(None);
        }
        for part in parse_parts(path, &columns, layout, body, line) {
            let (part_builder, part_lines) = part?;
            builder.append(part_builder);
            if lines.is_empty() {
                lines = part_lines;
            } else {
                lines.extend(part_lines);
            }
        }
        line += memchr::memchr_iter(b'\n', body).count() as u64;
        if at_end {
            break;
        }
        block.drain(..end);
    }
    if lines.is_empty() {
        return Err(InputError::NoRows { path: path.into() });
    }
    Ok(Some((builder, lines)))
}

/// Parses `body` (whole lines of a label file, starting on line `first_line`) in one part per
/// thread, cut at line breaks; returns each part's builder and lines, in file order.
fn parse_parts(
    path: &Path,
    columns: &[Column],
    layout: &Layout,
    body: &[u8],
    first_line: u64,
) -> Vec<Result<(AnnotationsBuilder, Vec<u64>), InputError>> {
    // Parts end just after a line break; the last part ends with the body.
    let n_parts = rayon::current_num_threads().max(1);
    let mut bounds = vec![0];
    for k in 1..n_parts {
        let target = (body.len() * k / n_parts).max(*bounds.last().expect("starts with 0"));
        let end = memchr::memchr(b'\n', &body[target..]).map_or(body.len(), |at| target + at + 1);
        bounds.push(end);
    }
    bounds.push(body.len());
    let mut parts = Vec::with_capacity(n_parts);
    let mut line = first_line;
    for w in bounds.windows(2) {
        let part = &body[w[0]..w[1]];
        parts.push((part, line));
        line += memchr::memchr_iter(b'\n', part).count() as u64;
    }
    parts
        .into_par_iter()
        .map(|(part, first_line)| {
            let mut part_builder = AnnotationsBuilder::with_capacity(part.len() / 16);
            let mut lines = Vec::with_capacity(part.len() / 16);
            read_rows(
                path,
                columns,
                layout,
                &mut csv_reader(part),
                first_line - 1,
                push_label(&mut part_builder, &mut lines),
            )?;
            Ok((part_builder, lines))
        })
        .collect()
}

/// Reads `item,annotator,label` observations into `builder`; returns each observation's line.
pub(crate) fn read_labels(
    path: &Path,
    builder: &mut AnnotationsBuilder,
) -> Result<Vec<u64>, InputError> {
    if let Some((parsed, lines)) = read_labels_in_parts(path, PARALLEL_MIN_BYTES, BLOCK_BYTES)? {
        builder.append(parsed);
        return Ok(lines);
    }
    let mut lines = Vec::new();
    read_csv(
        path,
        &[ITEM, ANNOTATOR, LABEL],
        push_label(builder, &mut lines),
    )?;
    Ok(lines)
}

/// The row callback of a label file: adds the `item,annotator,label` row to `builder` and its
/// line to `lines`.
fn push_label<'a>(
    builder: &'a mut AnnotationsBuilder,
    lines: &'a mut Vec<u64>,
) -> impl FnMut(u64, &[&str]) -> Result<(), InputError> + 'a {
    |line, f| {
        builder.push(f[0], f[1], f[2]);
        lines.push(line);
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A label file of `n` rows over three items' worth of names, with `terminator` after each
    /// line and, optionally, a blank line in the middle.
    fn labels_file(n: usize, terminator: &str, blank_line: bool) -> String {
        let mut text = format!("item,annotator,label{terminator}");
        for row in 0..n {
            if blank_line && row == n / 2 {
                text.push_str(terminator);
            }
            text.push_str(&format!(
                "item-{},reader-{},class-{}{terminator}",
                row / 7,
                row % 7,
                (row * 13) % 4
            ));
        }
        text
    }

    fn sequential(path: &Path) -> Result<(Annotations, Vec<u64>), String> {
        let mut builder = AnnotationsBuilder::new();
        let mut lines = Vec::new();
        read_csv(
            path,
            &[ITEM, ANNOTATOR, LABEL],
            push_label(&mut builder, &mut lines),
        )
        .map_err(|e| e.to_string())?;
        Ok((builder.build(DuplicatePolicy::All).unwrap(), lines))
    }

    fn in_parts(path: &Path, block_bytes: usize) -> Result<(Annotations, Vec<u64>), String> {
        let (builder, lines) = read_labels_in_parts(path, 0, block_bytes)
            .map_err(|e| e.to_string())?
            .expect("no quotes: read in parts");
        Ok((builder.build(DuplicatePolicy::All).unwrap(), lines))
    }

    fn same(a: &Annotations, b: &Annotations) -> bool {
        a.items() == b.items()
            && a.annotators() == b.annotators()
            && a.classes() == b.classes()
            && a.item_offsets() == b.item_offsets()
            && a.item_annotators() == b.item_annotators()
            && a.item_classes() == b.item_classes()
    }

    #[test]
    fn blocks_and_parts_read_what_a_sequential_read_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.csv");
        for terminator in ["\n", "\r\n"] {
            for blank_line in [false, true] {
                std::fs::write(&path, labels_file(500, terminator, blank_line)).unwrap();
                let (whole, whole_lines) = sequential(&path).unwrap();
                // Blocks smaller than a line, of a few lines, and larger than the file.
                for block_bytes in [7, 100, 1000, 1 << 20] {
                    let (parts, part_lines) = in_parts(&path, block_bytes).unwrap();
                    assert!(same(&parts, &whole), "block of {block_bytes} bytes");
                    assert_eq!(part_lines, whole_lines, "block of {block_bytes} bytes");
                }
            }
        }
    }

    #[test]
    fn the_first_error_is_the_sequential_reads_in_any_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.csv");
        let good = labels_file(400, "\n", false);
        let lines: Vec<&str> = good.lines().collect();
        for (at, bad) in [(5, "x,y"), (200, "item-1,reader-1,"), (390, "a,b,c,d")] {
            let mut rows = lines.clone();
            rows[at] = bad;
            // A second error later on must not be the one reported.
            rows[at + 3] = "only-one-field";
            std::fs::write(&path, rows.join("\n") + "\n").unwrap();
            let expected = sequential(&path).unwrap_err();
            assert!(expected.contains(&format!(":{}:", at + 1)), "{expected}");
            for block_bytes in [7, 100, 1000, 1 << 20] {
                assert_eq!(in_parts(&path, block_bytes).unwrap_err(), expected);
            }
        }
    }

    #[test]
    fn quoted_files_and_standard_input_are_left_to_the_sequential_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.csv");
        let mut text = labels_file(300, "\n", false);
        text.push_str("\"item-99\",\"reader\nwith a line break\",class-1\n");
        std::fs::write(&path, &text).unwrap();
        for block_bytes in [100, 1 << 20] {
            assert!(
                read_labels_in_parts(&path, 0, block_bytes)
                    .unwrap()
                    .is_none()
            );
        }
        assert!(
            read_labels_in_parts(Path::new("-"), 0, 100)
                .unwrap()
                .is_none()
        );
        // Small files too, under the size the parts pay off from.
        std::fs::write(&path, labels_file(10, "\n", false)).unwrap();
        assert!(
            read_labels_in_parts(&path, PARALLEL_MIN_BYTES, BLOCK_BYTES)
                .unwrap()
                .is_none()
        );
    }
}
