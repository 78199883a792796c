//! Loading the shared public data sets.

use concord_consensus::{Annotations, AnnotationsBuilder, DuplicatePolicy};
use std::path::PathBuf;

/// Where the shared truth-inference data sets are: `$CONCORD_DATASETS`, or
/// `../shared/data/truth-inference` beside the checkout. `None` (after a printed notice) when
/// absent, unless `CONCORD_REQUIRE_DATASETS=1`, which makes absence a failure.
pub(crate) fn datasets_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CONCORD_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/truth-inference")
        });
    if dir.join("BASELINE.md").is_file() {
        return Some(dir);
    }
    if std::env::var("CONCORD_REQUIRE_DATASETS").as_deref() == Ok("1") {
        panic!(
            "CONCORD_REQUIRE_DATASETS=1 but no data sets at {}",
            dir.display()
        );
    }
    eprintln!(
        "notice: skipping, no shared data sets at {} (set CONCORD_DATASETS)",
        dir.display()
    );
    None
}

/// A loaded data set: the label matrix (repeated reads kept, as crowd-kit keeps them) and the
/// truth as `(item, label)` pairs.
pub(crate) struct Dataset {
    pub(crate) name: String,
    pub(crate) data: Annotations,
    pub(crate) truth: Vec<(String, String)>,
}

pub(crate) fn load(dir: &std::path::Path, name: &str) -> Dataset {
    let mut builder = AnnotationsBuilder::new();
    let mut labels = csv::Reader::from_path(dir.join(name).join("labels.csv")).unwrap();
    for row in labels.records() {
        let row = row.unwrap();
        builder.push(&row[0], &row[1], &row[2]);
    }
    let mut truth_reader = csv::Reader::from_path(dir.join(name).join("truth.csv")).unwrap();
    let truth = truth_reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    Dataset {
        name: name.to_string(),
        data: builder.build(DuplicatePolicy::All).unwrap(),
        truth,
    }
}

/// Fraction of truth items whose label is right (unlabelled truth items count wrong).
pub(crate) fn accuracy(data: &Annotations, truth: &[(String, String)], labels: &[u32]) -> f64 {
    let index: std::collections::HashMap<&str, usize> = data
        .items()
        .iter()
        .enumerate()
        .map(|(i, n)| (&**n, i))
        .collect();
    let right = truth
        .iter()
        .filter(|(item, label)| {
            index
                .get(item.as_str())
                .is_some_and(|&i| &*data.classes()[labels[i] as usize] == label.as_str())
        })
        .count();
    right as f64 / truth.len() as f64
}
