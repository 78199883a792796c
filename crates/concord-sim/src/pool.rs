//! The simulated expert pool: who labels, how well, at what cost, how often they are around.
//!
//! A pool file is TOML with one `[[annotator]]` table per expert:
//!
//! ```toml
//! [[annotator]]
//! name = "resident-1"
//! accuracy = 0.8          # symmetric errors: a wrong answer is any other class, uniformly
//! cost = 1                # per label (default 1)
//! availability = 0.5      # share of turns the expert is at work (default 1)
//! memorised_gold = false  # knows the gold answers (a leak, for testing leak detection)
//! drift_after = 200       # after 200 labels ...
//! accuracy_after = 0.4    # ... the expert answers at this accuracy (tests the quality rules)
//!
//! [[annotator]]
//! name = "radiologist-1"
//! confusion = [[0.9, 0.1], [0.2, 0.8]]   # confusion[true][given], rows sum to 1
//! cost = 3
//! ```

use serde::Deserialize;
use std::path::Path;

/// Why a pool could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The pool file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or a field has the wrong type (the message names the line).
    #[error("{path}: {message}")]
    Syntax {
        /// The pool file.
        path: String,
        /// The parser's message with line and column.
        message: String,
    },
    /// A field has a value outside its range.
    #[error("{path}: annotator `{annotator}` (entry {index}): {message}")]
    Invalid {
        /// The pool file.
        path: String,
        /// The annotator's name.
        annotator: String,
        /// 1-based position of its `[[annotator]]` table.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// One simulated expert.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimAnnotator {
    /// Login name in the simulated project.
    pub name: String,
    /// Probability of the right class, errors spread evenly over the other classes.
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// `confusion[true][given]`, a K×K matrix with rows summing to 1 (instead of `accuracy`).
    #[serde(default)]
    pub confusion: Option<Vec<Vec<f64>>>,
    /// Cost per label.
    #[serde(default = "one")]
    pub cost: f64,
    /// Share of turns the expert is at work, in (0, 1].
    #[serde(default = "one")]
    pub availability: f64,
    /// The expert has memorised the gold answers (a leak): gold items right, every other item
    /// at their real skill. Leak detection should flag them.
    #[serde(default)]
    pub memorised_gold: bool,
    /// After this many labels the expert's skill changes to `accuracy_after` (fatigue, a new
    /// protocol misread): the quality rules should notice.
    #[serde(default)]
    pub drift_after: Option<usize>,
    /// Accuracy (symmetric errors) after `drift_after` labels.
    #[serde(default)]
    pub accuracy_after: Option<f64>,
}

fn one() -> f64 {
    1.0
}

impl SimAnnotator {
    /// An expert with symmetric errors.
    pub fn with_accuracy(name: impl Into<String>, accuracy: f64) -> Self {
        Self {
            name: name.into(),
            accuracy: Some(accuracy),
            confusion: None,
            cost: 1.0,
            availability: 1.0,
            memorised_gold: false,
            drift_after: None,
            accuracy_after: None,
        }
    }

    /// The K×K matrix the expert answers from once their skill has drifted, if it does.
    pub fn drifted_matrix(&self, k: usize) -> Option<Vec<Vec<f64>>> {
        let a = self.accuracy_after?;
        let mut drifted = SimAnnotator::with_accuracy(self.name.clone(), a);
        drifted.confusion = None;
        Some(drifted.matrix(k))
    }

    /// The K×K confusion matrix this expert answers from.
    ///
    /// # Panics
    /// Only on a pool that [`Pool::check`] refused.
    pub fn matrix(&self, k: usize) -> Vec<Vec<f64>> {
        if let Some(m) = &self.confusion {
            return m.clone();
        }
        let a = self.accuracy.expect("checked: accuracy or confusion");
        let off = if k > 1 {
            (1.0 - a) / (k - 1) as f64
        } else {
            0.0
        };
        (0..k)
            .map(|t| (0..k).map(|g| if t == g { a } else { off }).collect())
            .collect()
    }
}

/// The experts of a simulation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// The experts, in the order they take turns.
    #[serde(rename = "annotator")]
    pub annotators: Vec<SimAnnotator>,
}

impl Pool {
    /// Reads a pool file and checks it for `k` classes.
    ///
    /// # Errors
    /// A [`PoolError`] naming the file, and the line or the annotator and field.
    pub fn load(path: &Path, k: usize) -> Result<Self, PoolError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PoolError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown, k)
    }

    /// Parses pool TOML (`origin` names it in errors) and checks it for `k` classes.
    ///
    /// # Errors
    /// As [`Pool::load`].
    pub fn parse(text: &str, origin: &str, k: usize) -> Result<Self, PoolError> {
        let pool: Pool = toml::from_str(text).map_err(|e| PoolError::Syntax {
            path: origin.to_string(),
            message: e.to_string().trim_end().replace('\n', "\n  "),
        })?;
        pool.check(origin, k)?;
        Ok(pool)
    }

    /// `n` experts with accuracies spread evenly from `low` to `high` (symmetric errors),
    /// named `a01`, `a02`, ….
    pub fn uniform(n: usize, low: f64, high: f64) -> Self {
        let step = if n > 1 {
            (high - low) / (n - 1) as f64
        } else {
            0.0
        };
        Self {
            annotators: (0..n)
                .map(|i| {
                    SimAnnotator::with_accuracy(format!("a{:02}", i + 1), low + step * i as f64)
                })
                .collect(),
        }
    }

    /// Checks every field for a problem with `k` classes.
    ///
    /// # Errors
    /// [`PoolError::Invalid`] naming the annotator and the field.
    pub fn check(&self, origin: &str, k: usize) -> Result<(), PoolError> {
        if self.annotators.is_empty() {
            return Err(PoolError::Syntax {
                path: origin.into(),
                message: "no `[[annotator]]` tables: the pool needs at least one expert".into(),
            });
        }
        let mut names = std::collections::HashSet::new();
        for (i, a) in self.annotators.iter().enumerate() {
            let bad = |message: String| PoolError::Invalid {
                path: origin.into(),
                annotator: a.name.clone(),
                index: i + 1,
                message,
            };
            if a.name.trim().is_empty() {
                return Err(bad("`name` is empty".into()));
            }
            if !names.insert(a.name.as_str()) {
                return Err(bad("the name is used twice".into()));
            }
            match (&a.accuracy, &a.confusion) {
                (Some(_), Some(_)) => {
                    return Err(bad("give `accuracy` or `confusion`, not both".into()));
                }
                (None, None) => return Err(bad("needs `accuracy` or `confusion`".into())),
                (Some(acc), None) if !(0.0..=1.0).contains(acc) => {
                    return Err(bad(format!("`accuracy` must be in [0, 1], got {acc}")));
                }
                (None, Some(m)) => {
                    if m.len() != k || m.iter().any(|row| row.len() != k) {
                        return Err(bad(format!(
                            "`confusion` must be {k}×{k} (one row per true class, one column per \
                             given class) for {k} classes"
                        )));
                    }
                    for (t, row) in m.iter().enumerate() {
                        if row.iter().any(|p| !(0.0..=1.0).contains(p)) {
                            return Err(bad(format!(
                                "`confusion` row {} has a value outside [0, 1]",
                                t + 1
                            )));
                        }
                        let sum: f64 = row.iter().sum();
                        if (sum - 1.0).abs() > 1e-6 {
                            return Err(bad(format!(
                                "`confusion` row {} sums to {sum}, not 1",
                                t + 1
                            )));
                        }
                    }
                }
                _ => {}
            }
            match (a.drift_after, a.accuracy_after) {
                (Some(_), None) | (None, Some(_)) => {
                    return Err(bad("`drift_after` and `accuracy_after` go together".into()));
                }
                (_, Some(acc)) if !(0.0..=1.0).contains(&acc) => {
                    return Err(bad(format!(
                        "`accuracy_after` must be in [0, 1], got {acc}"
                    )));
                }
                _ => {}
            }
            if !(a.cost.is_finite() && a.cost > 0.0) {
                return Err(bad(format!("`cost` must be positive, got {}", a.cost)));
            }
            if !(a.availability > 0.0 && a.availability <= 1.0) {
                return Err(bad(format!(
                    "`availability` must be in (0, 1], got {}",
                    a.availability
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_forms_and_defaults() {
        let pool = Pool::parse(
            "[[annotator]]\nname = \"r\"\naccuracy = 0.8\n\n[[annotator]]\nname = \"s\"\n\
             confusion = [[0.9, 0.1], [0.3, 0.7]]\ncost = 8\navailability = 0.5\n",
            "pool.toml",
            2,
        )
        .unwrap();
        assert_eq!(pool.annotators[0].cost, 1.0);
        let m = pool.annotators[0].matrix(2);
        assert_eq!((m[0][0], m[1][1]), (0.8, 0.8));
        assert!((m[0][1] - 0.2).abs() < 1e-12 && (m[1][0] - 0.2).abs() < 1e-12);
        assert_eq!(pool.annotators[1].matrix(2)[1], vec![0.3, 0.7]);
        assert_eq!(pool.annotators[1].availability, 0.5);
    }

    #[test]
    fn errors_name_the_annotator_and_field() {
        let e = Pool::parse("[[annotator]]\nname = \"r\"\naccuracy = 1.5\n", "p.toml", 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p.toml") && e.contains("`r`") && e.contains("accuracy"),
            "{e}"
        );
        let e = Pool::parse(
            "[[annotator]]\nname = \"r\"\nconfusion = [[0.9, 0.2], [0.3, 0.7]]\n",
            "p.toml",
            2,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("row 1 sums to"), "{e}");
        let e = Pool::parse(
            "[[annotator]]\nname = \"r\"\naccuracy = 0.8\nskill = 2\n",
            "p.toml",
            2,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 4") && e.contains("skill"), "{e}");
        let e = Pool::parse(
            "[[annotator]]\nname = \"r\"\nconfusion = [[1.0]]\n",
            "p.toml",
            2,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("2×2"), "{e}");
    }

    #[test]
    fn uniform_spreads_accuracies() {
        let pool = Pool::uniform(20, 0.6, 0.95);
        assert_eq!(pool.annotators.len(), 20);
        assert!((pool.annotators[19].accuracy.unwrap() - 0.95).abs() < 1e-12);
        assert_eq!(pool.annotators[0].name, "a01");
    }
}
