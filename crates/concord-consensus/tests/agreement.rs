//! Properties of the agreement statistics: invariance to the order of raters and units,
//! perfect agreement gives 1, and results do not depend on the thread count.
//!
//! The values themselves are checked against the reference libraries by the conformance cases
//! (`conformance/agreement.json`, run by `concord-cli`'s tests).

use concord_consensus::agreement::{
    Bootstrap, BootstrapMethod, CountTable, FleissMethod, Level, Metric, Options, Ratings,
    evaluate, fleiss_kappa_table, krippendorff_alpha,
};
use proptest::prelude::*;

/// A units × raters matrix of categories (`None` = missing), with its shape.
#[derive(Debug, Clone)]
struct Matrix {
    n_units: usize,
    n_raters: usize,
    n_categories: usize,
    cells: Vec<Option<u32>>,
}

impl Matrix {
    fn cell(&self, unit: usize, rater: usize) -> Option<u32> {
        self.cells[unit * self.n_raters + rater]
    }

    fn permuted(&self, units: &[usize], raters: &[usize]) -> Matrix {
        let mut cells = Vec::with_capacity(self.cells.len());
        for &u in units {
            for &r in raters {
                cells.push(self.cell(u, r));
            }
        }
        Matrix {
            cells,
            ..self.clone()
        }
    }

    fn ratings(&self) -> Ratings {
        Ratings::from_rows(&self.cells, self.n_raters, self.n_categories).unwrap()
    }
}

fn matrix(complete: bool) -> impl Strategy<Value = Matrix> {
    (2usize..6, 2usize..25, 2usize..5).prop_flat_map(move |(n_raters, n_units, n_categories)| {
        let cell = if complete {
            (0..n_categories as u32).prop_map(Some).boxed()
        } else {
            prop_oneof![4 => (0..n_categories as u32).prop_map(Some), 1 => Just(None)].boxed()
        };
        proptest::collection::vec(cell, n_units * n_raters).prop_map(move |cells| Matrix {
            n_units,
            n_raters,
            n_categories,
            cells,
        })
    })
}

/// A matrix with random orders of its units and raters.
fn with_orders(complete: bool) -> impl Strategy<Value = (Matrix, Vec<usize>, Vec<usize>)> {
    matrix(complete).prop_flat_map(|m| {
        let units = Just((0..m.n_units).collect::<Vec<_>>()).prop_shuffle();
        let raters = Just((0..m.n_raters).collect::<Vec<_>>()).prop_shuffle();
        (Just(m), units, raters)
    })
}

fn alpha(m: &Matrix, level: Level) -> Option<f64> {
    let values: Vec<f64> = (1..=m.n_categories).map(|v| v as f64 * 1.5).collect();
    krippendorff_alpha(&m.ratings().counts(), &values, level)
        .ok()
        .map(|a| a.value)
}

fn dense(m: &Matrix) -> Vec<u32> {
    let mut rows = vec![0u32; m.n_units * m.n_categories];
    for u in 0..m.n_units {
        for r in 0..m.n_raters {
            if let Some(c) = m.cell(u, r) {
                rows[u * m.n_categories + c as usize] += 1;
            }
        }
    }
    rows
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
        (None, None) => true,
        _ => false,
    }
}

proptest! {
    #[test]
    fn alpha_ignores_the_order_of_raters_and_units((m, units, raters) in with_orders(false)) {
        let p = m.permuted(&units, &raters);
        for level in Level::ALL {
            prop_assert!(close(alpha(&m, level), alpha(&p, level)), "{level:?}");
        }
    }

    #[test]
    fn fleiss_ignores_the_order_of_raters_and_units((m, units, raters) in with_orders(true)) {
        let p = m.permuted(&units, &raters);
        for method in [FleissMethod::Fleiss, FleissMethod::Randolph] {
            let a = fleiss_kappa_table(&dense(&m), m.n_categories, method).ok();
            let b = fleiss_kappa_table(&dense(&p), m.n_categories, method).ok();
            prop_assert!(close(a, b));
        }
        // With missing labels too (irrCAC's generalisation).
        let options = Options::default();
        let a = evaluate(&m.ratings(), Metric::Fleiss, &options).unwrap().value.ok();
        let b = evaluate(&p.ratings(), Metric::Fleiss, &options).unwrap().value.ok();
        prop_assert!(close(a, b));
    }

    #[test]
    fn perfect_agreement_gives_one(m in matrix(false)) {
        // Every rater copies rater 0's label (or the unit's first label).
        let mut perfect = m.clone();
        for u in 0..m.n_units {
            let first = (0..m.n_raters).find_map(|r| m.cell(u, r));
            for r in 0..m.n_raters {
                if m.cell(u, r).is_some() {
                    perfect.cells[u * m.n_raters + r] = first;
                }
            }
        }
        let table = perfect.ratings().counts();
        let pairable_values: std::collections::BTreeSet<u32> = (0..table.n_items())
            .filter(|&i| table.n_labels(i) >= 2)
            .flat_map(|i| table.item(i).map(|(c, _)| c).collect::<Vec<_>>())
            .collect();
        // Alpha is 1 whenever it is defined: two or more values among pairable units.
        if pairable_values.len() >= 2 {
            for level in Level::ALL {
                let a = alpha(&perfect, level).unwrap();
                prop_assert!((a - 1.0).abs() < 1e-12, "{level:?}: {a}");
            }
            let fleiss = evaluate(&perfect.ratings(), Metric::Fleiss, &Options::default()).unwrap();
            prop_assert!((fleiss.value.unwrap() - 1.0).abs() < 1e-12);
        }
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // 40,000 units: several chunks of the parallel sums.
    let n_units = 40_000;
    let cells: Vec<Option<u32>> = (0..n_units * 5)
        .map(|i| {
            let x = (i as u64).wrapping_mul(6364136223846793005).rotate_left(17);
            (!x.is_multiple_of(10)).then_some((x % 4) as u32)
        })
        .collect();
    let ratings = Ratings::from_rows(&cells, 5, 4).unwrap();
    let run = || {
        let mut out = Vec::new();
        for (metric, level) in [
            (Metric::Alpha, Level::Interval),
            (Metric::Alpha, Level::Ordinal),
            (Metric::Fleiss, Level::Nominal),
            (Metric::Ac1, Level::Nominal),
            (Metric::Conger, Level::Nominal),
        ] {
            let options = Options {
                level,
                bootstrap: Some((
                    Bootstrap {
                        resamples: 20,
                        seed: 3,
                        level: 0.95,
                    },
                    BootstrapMethod::Items,
                )),
                ..Options::default()
            };
            out.push(evaluate(&ratings, metric, &options).unwrap());
        }
        out
    };
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let one = pool(1).install(run);
    let three = pool(3).install(run);
    assert_eq!(one, three);
    let table = CountTable::from_dense(&[1, 1, 2, 0], 2).unwrap();
    assert_eq!(table.n_items(), 2);
}
