//! Multi-label tasks (each annotator marks a *set* of classes per item): one binary problem per
//! class, solved by any single-label method.

use super::fit::{Aggregator, Fit, FitError, Progress};
use crate::data::{Annotations, AnnotationsBuilder, BuildError, DuplicatePolicy};

/// The class name of "the annotator marked this class" in each binary view.
pub const PRESENT: &str = "present";
/// The class name of "the annotator did not mark this class" in each binary view.
pub const ABSENT: &str = "absent";

/// Collects `(item, annotator, set of classes)` observations and builds one binary
/// [`Annotations`] per class: for class `c`, every observation becomes [`PRESENT`] if its set
/// holds `c`, otherwise [`ABSENT`]. An empty set is a valid observation ("none of the classes").
///
/// All views share item and annotator order, so item `i` of one view is item `i` of every view.
#[derive(Debug, Default)]
pub struct MultiLabelBuilder {
    classes: Vec<Box<str>>,
    observations: Vec<(Box<str>, Box<str>, Vec<u32>)>,
    gold: Vec<(Box<str>, Vec<u32>)>,
}

impl MultiLabelBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    fn class_index(&mut self, name: &str) -> u32 {
        match self.classes.iter().position(|c| &**c == name) {
            Some(i) => i as u32,
            None => {
                self.classes.push(name.into());
                (self.classes.len() - 1) as u32
            }
        }
    }

    /// Adds one observation: `annotator` marked exactly `classes` on `item`.
    pub fn push<'a>(
        &mut self,
        item: &str,
        annotator: &str,
        classes: impl IntoIterator<Item = &'a str>,
    ) {
        let mut set: Vec<u32> = classes.into_iter().map(|c| self.class_index(c)).collect();
        set.sort_unstable();
        set.dedup();
        self.observations.push((item.into(), annotator.into(), set));
    }

    /// Records the known set of classes of `item`.
    pub fn push_gold<'a>(&mut self, item: &str, classes: impl IntoIterator<Item = &'a str>) {
        let set: Vec<u32> = classes.into_iter().map(|c| self.class_index(c)).collect();
        self.gold.push((item.into(), set));
    }

    /// Builds the per-class binary views, in natural class order.
    ///
    /// # Errors
    /// As [`AnnotationsBuilder::build`]; [`BuildError::Empty`] also when no class was ever used.
    pub fn build(self, duplicates: DuplicatePolicy) -> Result<MultiLabelAnnotations, BuildError> {
        if self.classes.is_empty() {
            return Err(BuildError::Empty);
        }
        let mut order: Vec<usize> = (0..self.classes.len()).collect();
        let numeric: Option<Vec<f64>> = self
            .classes
            .iter()
            .map(|c| c.trim().parse::<f64>().ok())
            .collect();
        match &numeric {
            Some(v) => order.sort_by(|&a, &b| {
                v[a].total_cmp(&v[b])
                    .then(self.classes[a].cmp(&self.classes[b]))
            }),
            None => order.sort_by(|&a, &b| self.classes[a].cmp(&self.classes[b])),
        }
        let mut views = Vec::with_capacity(order.len());
        for &class in &order {
            let class = class as u32;
            let mut builder = AnnotationsBuilder::with_capacity(self.observations.len());
            // Both classes exist in every view, so `absent` is index 0 and `present` index 1.
            builder.push_gold("\u{0}", ABSENT);
            builder.push_gold("\u{0}", PRESENT);
            for (item, annotator, set) in &self.observations {
                let value = if set.binary_search(&class).is_ok() {
                    PRESENT
                } else {
                    ABSENT
                };
                builder.push(item, annotator, value);
            }
            for (item, set) in &self.gold {
                builder.push_gold(
                    item,
                    if set.contains(&class) {
                        PRESENT
                    } else {
                        ABSENT
                    },
                );
            }
            views.push(builder.build(duplicates)?);
        }
        let classes = order.iter().map(|&i| self.classes[i].clone()).collect();
        Ok(MultiLabelAnnotations { classes, views })
    }
}

/// One binary label matrix per class of a multi-label task.
#[derive(Debug, Clone)]
pub struct MultiLabelAnnotations {
    classes: Vec<Box<str>>,
    views: Vec<Annotations>,
}

impl MultiLabelAnnotations {
    /// The classes, in natural order.
    pub fn classes(&self) -> &[Box<str>] {
        &self.classes
    }

    /// The binary view of class `c` (classes [`ABSENT`], [`PRESENT`]).
    pub fn view(&self, class: usize) -> &Annotations {
        &self.views[class]
    }

    /// Item ids (shared by every view).
    pub fn items(&self) -> &[Box<str>] {
        self.views[0].items()
    }

    /// Annotator ids (shared by every view).
    pub fn annotators(&self) -> &[Box<str>] {
        self.views[0].annotators()
    }
}

/// Runs a single-label method once per class of a multi-label task.
///
/// # Model
/// The presence of each class is inferred independently: for class `c`, each annotator either
/// marked it or not, and the method estimates `P(c present on item i)` with the annotator's skill
/// *for that class* (a confusion matrix per annotator and class, for Dawid–Skene). This is the
/// binary-relevance reduction used for multi-label crowdsourcing (e.g. Nowak & Rüger 2010,
/// doi:10.1145/1743384.1743478); it ignores correlations between classes.
///
/// # Example
/// ```
/// use concord_consensus::DuplicatePolicy;
/// use concord_consensus::truth::{MajorityVote, MultiLabel, MultiLabelBuilder};
/// let mut b = MultiLabelBuilder::new();
/// b.push("x1", "a", ["edema", "effusion"]);
/// b.push("x1", "b", ["edema"]);
/// b.push("x1", "c", ["edema", "effusion"]);
/// let data = b.build(DuplicatePolicy::Error).unwrap();
/// let fit = MultiLabel::new(&MajorityVote).fit(&data).unwrap();
/// assert_eq!(fit.present(0), [0, 1]); // edema, effusion
/// ```
#[derive(Clone, Copy)]
pub struct MultiLabel<'a> {
    method: &'a dyn Aggregator,
}

impl std::fmt::Debug for MultiLabel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiLabel")
            .field("method", &self.method.name())
            .finish()
    }
}

impl<'a> MultiLabel<'a> {
    /// Wraps a single-label method.
    pub fn new(method: &'a dyn Aggregator) -> Self {
        Self { method }
    }

    /// Fits every class.
    ///
    /// # Errors
    /// The first class whose fit fails, as [`FitError`].
    pub fn fit(&self, data: &MultiLabelAnnotations) -> Result<MultiLabelFit, FitError> {
        self.fit_with_progress(data, &super::fit::NoProgress)
    }

    /// Fits every class, reporting iterations to `progress`.
    ///
    /// # Errors
    /// The first class whose fit fails, as [`FitError`].
    pub fn fit_with_progress(
        &self,
        data: &MultiLabelAnnotations,
        progress: &dyn Progress,
    ) -> Result<MultiLabelFit, FitError> {
        let fits = data
            .views
            .iter()
            .map(|view| self.method.fit_with_progress(view, progress))
            .collect::<Result<Vec<_>, _>>()?;
        let n_items = data.items().len();
        let n_classes = data.classes.len();
        let mut probability = vec![0.0; n_items * n_classes];
        for (c, fit) in fits.iter().enumerate() {
            for item in 0..n_items {
                probability[item * n_classes + c] = fit.posterior(item as u32)[1];
            }
        }
        Ok(MultiLabelFit {
            n_classes,
            probability,
            fits,
        })
    }
}

/// The result of a multi-label fit.
#[derive(Debug, Clone)]
pub struct MultiLabelFit {
    /// Number of classes.
    pub n_classes: usize,
    /// `P(class present)`, row-major `n_items * n_classes`.
    pub probability: Vec<f64>,
    /// The binary fit of each class (posterior index 1 is "present").
    pub fits: Vec<Fit>,
}

impl MultiLabelFit {
    /// The classes inferred present on `item` (probability at least 0.5).
    pub fn present(&self, item: u32) -> Vec<u32> {
        (0..self.n_classes as u32)
            .filter(|&c| self.fits[c as usize].labels[item as usize] == 1)
            .collect()
    }

    /// `P(present)` of each class on `item`.
    pub fn probabilities(&self, item: u32) -> &[f64] {
        &self.probability[item as usize * self.n_classes..][..self.n_classes]
    }

    /// Probability of the inferred set as a whole, under the model's independence of classes:
    /// `Π_c (p_c if c is in the set, else 1 − p_c)`.
    pub fn set_confidence(&self, item: u32) -> f64 {
        let present = self.present(item);
        self.probabilities(item)
            .iter()
            .enumerate()
            .map(|(c, &p)| {
                if present.contains(&(c as u32)) {
                    p
                } else {
                    1.0 - p
                }
            })
            .product()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::DawidSkene;

    #[test]
    fn empty_sets_and_gold_are_kept() {
        let mut b = MultiLabelBuilder::new();
        b.push("x", "a", ["n"]);
        b.push("x", "b", std::iter::empty());
        b.push("y", "a", std::iter::empty());
        b.push_gold("y", ["n"]);
        let data = b.build(DuplicatePolicy::Error).unwrap();
        let view = data.view(0);
        assert_eq!(
            view.classes().iter().map(|c| &**c).collect::<Vec<_>>(),
            [ABSENT, PRESENT]
        );
        assert_eq!(view.n_items(), 2);
        assert_eq!(view.gold(1), Some(1));
        let fit = MultiLabel::new(&DawidSkene::default()).fit(&data).unwrap();
        assert_eq!(fit.fits.len(), 1);
        let row: f64 = fit.fits[0].posterior(0).iter().sum();
        assert!((row - 1.0).abs() < 1e-12);
    }
}
