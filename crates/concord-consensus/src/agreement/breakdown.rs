//! Breakdowns of agreement: per class (one-vs-rest) and per pair of annotators.

use super::cohen::{CohenWeights, kappa_from_confusion};
use super::error::{AgreementError, Undefined};
use super::metric::{Metric, Options, Report, evaluate};
use super::table::Ratings;

/// The metric once per category, each time on the one-vs-rest labels ("this category" against
/// "any other"), at the nominal level and unweighted (with two categories every level and
/// weighting but alpha's ratio level coincide).
///
/// # Errors
/// As [`evaluate`].
pub fn per_class(
    ratings: &Ratings,
    metric: Metric,
    options: &Options,
) -> Result<Vec<Report>, AgreementError> {
    let binary = Options {
        level: super::alpha::Level::Nominal,
        weights: None,
        values: None,
        ..options.clone()
    };
    (0..ratings.n_categories() as u32)
        .map(|category| evaluate(&ratings.one_vs_rest(category), metric, &binary))
        .collect()
}

/// Cohen's kappa of every pair of annotators over the items both labelled.
#[derive(Debug, Clone, PartialEq)]
pub struct PairMatrix {
    n_annotators: usize,
    kappa: Vec<Result<f64, Undefined>>,
    n_items: Vec<usize>,
}

impl PairMatrix {
    /// Number of annotators (rows and columns).
    pub fn n_annotators(&self) -> usize {
        self.n_annotators
    }

    /// Kappa of annotators `a` and `b` (symmetric; the diagonal is an annotator against
    /// themself: 1, or undefined when they used a single category).
    pub fn kappa(&self, a: usize, b: usize) -> Result<f64, Undefined> {
        self.kappa[a * self.n_annotators + b]
    }

    /// Items both `a` and `b` labelled.
    pub fn n_items(&self, a: usize, b: usize) -> usize {
        self.n_items[a * self.n_annotators + b]
    }
}

/// Most cells (`annotators² × categories²`) the pair matrix's confusion counts may take.
pub const MAX_PAIR_CELLS: usize = 1 << 24;

/// Cohen's kappa (scikit-learn's definition, see [`cohen_kappa`](super::cohen_kappa)) of every
/// pair of annotators, from one pass over the items.
///
/// # Errors
/// [`AgreementError::InvalidParameter`] when `annotators² × categories²` exceeds
/// [`MAX_PAIR_CELLS`]; a custom weight matrix of the wrong shape.
pub fn pairwise_kappa(
    ratings: &Ratings,
    weights: &CohenWeights,
) -> Result<PairMatrix, AgreementError> {
    let r = ratings.n_annotators();
    let q = ratings.n_categories();
    let cells = r
        .checked_mul(r)
        .and_then(|x| x.checked_mul(q * q))
        .unwrap_or(usize::MAX);
    if cells > MAX_PAIR_CELLS {
        return Err(AgreementError::InvalidParameter {
            name: "pairs",
            reason: format!(
                "{r} annotators × {q} categories need {cells} confusion cells (the limit is {MAX_PAIR_CELLS})"
            ),
        });
    }
    let v = weights.disagreement(q)?;
    let mut counts = vec![0u32; cells];
    let cell = |a: u32, b: u32, ca: u32, cb: u32| {
        ((a as usize * r + b as usize) * q + ca as usize) * q + cb as usize
    };
    for item in 0..ratings.n_items() {
        let labels: Vec<(u32, u32)> = ratings.item(item).collect();
        for (i, &(a, ca)) in labels.iter().enumerate() {
            counts[cell(a, a, ca, ca)] += 1;
            for &(b, cb) in &labels[i + 1..] {
                if a != b {
                    counts[cell(a, b, ca, cb)] += 1;
                    counts[cell(b, a, cb, ca)] += 1;
                }
            }
        }
    }
    let mut kappa = Vec::with_capacity(r * r);
    let mut n_items = Vec::with_capacity(r * r);
    for pair in 0..r * r {
        let confusion: Vec<f64> = counts[pair * q * q..(pair + 1) * q * q]
            .iter()
            .map(|&x| f64::from(x))
            .collect();
        n_items.push(confusion.iter().sum::<f64>() as usize);
        kappa.push(kappa_from_confusion(&confusion, q, &v).map_err(|e| {
            e.undefined()
                .expect("a well-shaped confusion matrix only fails as undefined")
        }));
    }
    Ok(PairMatrix {
        n_annotators: r,
        kappa,
        n_items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agreement::cohen_kappa;

    #[test]
    fn pairs_match_cohen_on_common_items() {
        // 4 items × 3 annotators; annotator 2 skipped item 3.
        let rows = [
            Some(0),
            Some(0),
            Some(1), //
            Some(1),
            Some(1),
            Some(1), //
            Some(0),
            Some(1),
            Some(0), //
            Some(1),
            Some(0),
            None,
        ];
        let ratings = Ratings::from_rows(&rows, 3, 2).unwrap();
        let pairs = pairwise_kappa(&ratings, &CohenWeights::Unweighted).unwrap();
        let (y0, y2) = ratings.pair(0, 2);
        let direct = cohen_kappa(&y0, &y2, 2, &CohenWeights::Unweighted, None).unwrap();
        assert_eq!(pairs.n_items(0, 2), 3);
        assert!((pairs.kappa(0, 2).unwrap() - direct).abs() < 1e-12);
        assert_eq!(pairs.kappa(2, 0), pairs.kappa(0, 2));
        assert_eq!(pairs.kappa(1, 1), Ok(1.0));
    }
}
