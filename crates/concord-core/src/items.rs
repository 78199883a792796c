//! Item import: JSONL or CSV files of things to label, each with a stable id, its content (text,
//! an image path or a URI), an optional known answer (gold) and free metadata.
//!
//! Imports are all-or-nothing: the whole file is read and checked before anything is stored, and
//! the first problem is reported with its line.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What an item's content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// Inline text (a report, a note).
    Text,
    /// An image file, by path.
    Image,
    /// A resource by URI (not fetched; the URI itself is hashed).
    Uri,
}

impl ItemKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Text => "text",
            ItemKind::Image => "image",
            ItemKind::Uri => "uri",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "text" => Some(ItemKind::Text),
            "image" => Some(ItemKind::Image),
            "uri" => Some(ItemKind::Uri),
            _ => None,
        }
    }
}

/// An item read from an import file, not yet stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewItem {
    /// The id from the file, unique within the project.
    pub external_id: String,
    /// What the content is.
    pub kind: ItemKind,
    /// The text, the image path (absolute, resolved against the import file's folder) or the URI.
    pub content: String,
    /// Hex SHA-256 of the text, of the image file's bytes, or of the URI.
    pub content_sha256: String,
    /// The known answer as written in the file (validated against the protocol by the caller).
    pub gold: Option<Value>,
    /// Every other field of the row.
    pub metadata: Map<String, Value>,
    /// The line of the file the item came from.
    pub line: u64,
}

/// Why an import file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is wrong.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file holds no item.
    #[error("{path}: no items in the file")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Reads an import file: `.csv` as CSV with a header, anything else as JSON Lines.
///
/// Fields: `id` (required), exactly one of `text`, `image`, `uri`, optional `gold`, and any other
/// fields as metadata. Duplicate ids are refused with both lines.
///
/// # Errors
/// [`ImportError`] naming the file, the line and the problem.
pub fn read_items(path: &Path) -> Result<Vec<NewItem>, ImportError> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let rows = read_records(path)?;
    if rows.is_empty() {
        return Err(ImportError::Empty { path: path.into() });
    }
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut items = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        let item = parse_row(&base, line, row).map_err(|reason| ImportError::Line {
            path: path.into(),
            line,
            reason,
        })?;
        if let Some(first) = seen.insert(item.external_id.clone(), line) {
            return Err(ImportError::Line {
                path: path.into(),
                line,
                reason: format!(
                    "duplicate id `{}` (first on line {first})",
                    item.external_id
                ),
            });
        }
        items.push(item);
    }
    Ok(items)
}

/// The records of a CSV file (by its `.csv` extension; a header row, empty cells left out) or
/// a JSONL file (one JSON object per line, blank lines skipped), each with its line number.
///
/// # Errors
/// [`ImportError`] naming the file and the line.
pub(crate) fn read_records(path: &Path) -> Result<Rows, ImportError> {
    let read_error = |source| ImportError::Read {
        path: path.into(),
        source,
    };
    let rows: Rows = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        read_csv_rows(path)?
    } else {
        let text = std::fs::read(path).map_err(read_error)?;
        let text = String::from_utf8(text).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            ImportError::Line {
                path: path.into(),
                line: line as u64,
                reason: "not valid UTF-8".into(),
            }
        })?;
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i as u64 + 1;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(map)) => rows.push((line_no, map)),
                Ok(other) => {
                    return Err(ImportError::Line {
                        path: path.into(),
                        line: line_no,
                        reason: format!("expected a JSON object, found {}", kind_name(&other)),
                    });
                }
                Err(e) => {
                    return Err(ImportError::Line {
                        path: path.into(),
                        line: line_no,
                        reason: format!("invalid JSON: {e}"),
                    });
                }
            }
        }
        rows
    };
    Ok(rows)
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Rows of an import file with their line numbers.
pub(crate) type Rows = Vec<(u64, Map<String, Value>)>;

fn read_csv_rows(path: &Path) -> Result<Rows, ImportError> {
    let line_error = |line: u64, reason: String| ImportError::Line {
        path: path.into(),
        line,
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| ImportError::Read {
            path: path.into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| line_error(1, e.to_string()))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            line_error(line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let mut map = Map::new();
        for (name, value) in header.iter().zip(record.iter()) {
            if !value.is_empty() {
                map.insert(name.clone(), Value::String(value.to_string()));
            }
        }
        rows.push((line, map));
    }
    Ok(rows)
}

fn parse_row(base: &Path, line: u64, mut row: Map<String, Value>) -> Result<NewItem, String> {
    let external_id = match row.remove("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(format!(
                "field `id` must be a non-empty string, found {other}"
            ));
        }
        None => return Err("field `id` is missing".into()),
    };
    let mut content = None;
    for (field, kind) in [
        ("text", ItemKind::Text),
        ("image", ItemKind::Image),
        ("uri", ItemKind::Uri),
    ] {
        if let Some(v) = row.remove(field) {
            let Value::String(s) = v else {
                return Err(format!("field `{field}` must be a string, found {v}"));
            };
            if content.is_some() {
                return Err("give exactly one of `text`, `image`, `uri`".into());
            }
            content = Some((kind, s));
        }
    }
    let Some((kind, content)) = content else {
        return Err("one of `text`, `image` or `uri` is required".into());
    };
    let (content, content_sha256) = match kind {
        ItemKind::Text | ItemKind::Uri => {
            let hash = hex(&Sha256::digest(content.as_bytes()));
            (content, hash)
        }
        ItemKind::Image => {
            let path = base.join(&content);
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("image `{}` cannot be read: {e}", path.display()))?;
            let absolute = std::fs::canonicalize(&path).unwrap_or(path);
            (absolute.display().to_string(), hex(&Sha256::digest(&bytes)))
        }
    };
    let gold = match row.remove("gold") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v),
    };
    Ok(NewItem {
        external_id,
        kind,
        content,
        content_sha256,
        gold,
        metadata: row,
        line,
    })
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn jsonl_and_csv() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.png"), b"png bytes").unwrap();
        let jsonl = write(
            dir.path(),
            "items.jsonl",
            "{\"id\": \"r-001\", \"text\": \"clear lungs\", \"gold\": \"normal\", \"site\": 3}\n\n{\"id\": \"r-002\", \"image\": \"a.png\"}\n",
        );
        let items = read_items(&jsonl).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].gold, Some(Value::String("normal".into())));
        assert_eq!(items[0].metadata["site"], 3);
        assert_eq!(
            items[0].content_sha256,
            hex(&Sha256::digest(b"clear lungs"))
        );
        assert_eq!(items[1].kind, ItemKind::Image);
        assert_eq!(items[1].line, 3);
        assert_eq!(items[1].content_sha256, hex(&Sha256::digest(b"png bytes")));
        let csv = write(
            dir.path(),
            "items.csv",
            "id,text,gold\nr-1,hello,\nr-2,world,normal\n",
        );
        let items = read_items(&csv).unwrap();
        assert_eq!(items[0].gold, None);
        assert_eq!(items[1].line, 3);
    }

    #[test]
    fn problems_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        for (text, line, reason) in [
            (
                "{\"id\": \"a\", \"text\": \"x\"}\n{\"id\": \"a\", \"text\": \"y\"}\n",
                2,
                "duplicate id `a` (first on line 1)",
            ),
            (
                "{\"id\": \"a\", \"text\": \"x\"}\n{\"id\": \"b\"\n",
                2,
                "invalid JSON",
            ),
            ("[1, 2]\n", 1, "expected a JSON object"),
            ("{\"text\": \"x\"}\n", 1, "`id` is missing"),
            ("{\"id\": \"a\"}\n", 1, "one of `text`, `image` or `uri`"),
            (
                "{\"id\": \"a\", \"text\": \"x\", \"uri\": \"y\"}\n",
                1,
                "exactly one of",
            ),
            (
                "{\"id\": \"a\", \"image\": \"missing.png\"}\n",
                1,
                "cannot be read",
            ),
        ] {
            let path = write(dir.path(), "bad.jsonl", text);
            let err = read_items(&path).unwrap_err().to_string();
            assert!(err.contains(&format!("bad.jsonl:{line}: ")), "{err}");
            assert!(err.contains(reason), "{err}");
        }
        let empty = write(dir.path(), "empty.jsonl", "\n");
        assert!(
            read_items(&empty)
                .unwrap_err()
                .to_string()
                .contains("no items")
        );
    }
}
