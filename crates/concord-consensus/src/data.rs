//! `Annotations`: the compact label matrix every method reads.
//!
//! String ids are interned once into dense `u32` indices. Observations are stored twice, as two
//! compressed sparse row (CSR) layouts: grouped by item (for E-steps, which compute one item's
//! posterior from its labels) and grouped by annotator (for M-steps, which estimate one annotator's
//! skill from the items they labelled). Both layouts are plain `u32` arrays, so kernels iterate
//! contiguous memory and parallel work splits on disjoint rows, which keeps results independent of
//! the thread count.

use rustc_hash::FxHashMap;
use std::cmp::Ordering;

/// Index of an item in [`Annotations::items`].
pub type ItemIdx = u32;
/// Index of an annotator in [`Annotations::annotators`].
pub type AnnotatorIdx = u32;
/// Index of a class in [`Annotations::classes`].
pub type ClassIdx = u32;

/// What to do when one annotator labelled the same item more than once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DuplicatePolicy {
    /// Refuse the data: [`BuildError::Duplicate`] names both observations.
    #[default]
    Error,
    /// Keep the first observation in input order and drop the rest.
    First,
    /// Keep the last observation in input order and drop the rest.
    Last,
    /// Keep every observation as an independent read, as Dawid & Skene (1979) do with patients
    /// examined repeatedly by the same clinician.
    All,
}

/// Why [`AnnotationsBuilder::build`] refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No observation was added.
    #[error("no labels: the input holds no observation")]
    Empty,
    /// An id or label was the empty string.
    #[error("observation {observation}: the {field} is empty")]
    EmptyField {
        /// 0-based position of the observation in the order it was added.
        observation: usize,
        /// `item`, `annotator` or `label`.
        field: &'static str,
    },
    /// The same annotator labelled the same item twice under [`DuplicatePolicy::Error`].
    #[error(
        "annotator {annotator:?} labelled item {item:?} twice (observations {first} and {second})"
    )]
    Duplicate {
        /// The item's id.
        item: String,
        /// The annotator's id.
        annotator: String,
        /// 0-based position of the first observation.
        first: usize,
        /// 0-based position of the repeated observation.
        second: usize,
    },
    /// More distinct values than a `u32` index can address.
    #[error("too many distinct {what} (the limit is 2^32 - 1)")]
    TooMany {
        /// `items`, `annotators`, `classes` or `observations`.
        what: &'static str,
    },
}

/// Collects `(item, annotator, label)` observations and known answers, then builds
/// [`Annotations`].
///
/// Items, annotators and classes are each sorted in natural order (numerically when every name
/// is a number, otherwise by string), so the matrix, and every result computed from it, does not
/// depend on the order of the input rows, bit for bit. Iterative methods need that: on a
/// symmetric or nearly degenerate label set the rounding of a sum decides which of two equally
/// likely solutions EM reaches, and the order of the rows would otherwise decide the rounding.
#[derive(Debug, Default)]
pub struct AnnotationsBuilder {
    items: Interner,
    annotators: Interner,
    classes: Interner,
    obs_item: Vec<u32>,
    obs_annotator: Vec<u32>,
    obs_class: Vec<u32>,
    gold: Vec<(u32, u32)>,
    first_error: Option<BuildError>,
}

impl AnnotationsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `n` observations.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            obs_item: Vec::with_capacity(n),
            obs_annotator: Vec::with_capacity(n),
            obs_class: Vec::with_capacity(n),
            ..Self::default()
        }
    }

    /// Adds one observation: `annotator` gave `label` to `item`.
    ///
    /// Errors (an empty field, too many ids) are reported by [`build`](Self::build), which names
    /// the first offending observation.
    pub fn push(&mut self, item: &str, annotator: &str, label: &str) {
        let observation = self.obs_item.len();
        for (field, value) in [("item", item), ("annotator", annotator), ("label", label)] {
            if value.is_empty() && self.first_error.is_none() {
                self.first_error = Some(BuildError::EmptyField { observation, field });
            }
        }
        let item = self.items.intern(item);
        let annotator = self.annotators.intern(annotator);
        let class = self.classes.intern(label);
        self.obs_item.push(item);
        self.obs_annotator.push(annotator);
        self.obs_class.push(class);
    }

    /// Records the known answer (gold) of `item`. Gold for items nobody labelled is ignored by
    /// [`build`](Self::build); a gold class nobody used is still added to the class list.
    pub fn push_gold(&mut self, item: &str, label: &str) {
        let item = self.items.intern(item);
        let class = self.classes.intern(label);
        self.gold.push((item, class));
    }

    /// Moves every observation and known answer of `other` to the end of this builder, as if
    /// they had been pushed here in `other`'s order.
    ///
    /// Lets a reader parse the parts of one input on several threads, each into its own
    /// builder, and join them in input order: the result, and every error's observation
    /// number, is the same as one builder fed the whole input.
    pub fn append(&mut self, other: AnnotationsBuilder) {
        if self.obs_item.is_empty() && self.gold.is_empty() && self.first_error.is_none() {
            let capacity = self.obs_item.capacity();
            *self = other;
            let more = capacity.saturating_sub(self.obs_item.len());
            self.obs_item.reserve(more);
            self.obs_annotator.reserve(more);
            self.obs_class.reserve(more);
            return;
        }
        let offset = self.obs_item.len();
        let items = self.items.absorb(other.items);
        let annotators = self.annotators.absorb(other.annotators);
        let classes = self.classes.absorb(other.classes);
        if self.first_error.is_none() {
            self.first_error = other.first_error.map(|e| match e {
                BuildError::EmptyField { observation, field } => BuildError::EmptyField {
                    observation: observation + offset,
                    field,
                },
                other => other,
            });
        }
        self.obs_item
            .extend(other.obs_item.iter().map(|&i| items[i as usize]));
        self.obs_annotator
            .extend(other.obs_annotator.iter().map(|&a| annotators[a as usize]));
        self.obs_class
            .extend(other.obs_class.iter().map(|&c| classes[c as usize]));
        self.gold.extend(
            other
                .gold
                .iter()
                .map(|&(i, c)| (items[i as usize], classes[c as usize])),
        );
    }

    /// Number of observations added so far.
    pub fn len(&self) -> usize {
        self.obs_item.len()
    }

    /// Whether no observation was added.
    pub fn is_empty(&self) -> bool {
        self.obs_item.is_empty()
    }

    /// Builds the label matrix.
    ///
    /// # Errors
    /// [`BuildError`] when no observation was added, a field is empty, an annotator labelled an
    /// item twice under [`DuplicatePolicy::Error`], or an index space overflows.
    pub fn build(self, duplicates: DuplicatePolicy) -> Result<Annotations, BuildError> {
        if let Some(err) = self.first_error {
            return Err(err);
        }
        if self.obs_item.is_empty() {
            return Err(BuildError::Empty);
        }
        for (what, n) in [
            ("items", self.items.names.len()),
            ("annotators", self.annotators.names.len()),
            ("classes", self.classes.names.len()),
            ("observations", self.obs_item.len()),
        ] {
            if n >= u32::MAX as usize {
                return Err(BuildError::TooMany { what });
            }
        }

        // Items that only appear in the gold list are dropped, so every item has a label.
        let mut item_has_label = vec![false; self.items.names.len()];
        for &item in &self.obs_item {
            item_has_label[item as usize] = true;
        }
        let mut labelled = vec![u32::MAX; self.items.names.len()];
        let mut item_names = Vec::new();
        for (old, name) in self.items.names.into_iter().enumerate() {
            if item_has_label[old] {
                labelled[old] = item_names.len() as u32;
                item_names.push(name);
            }
        }

        // Natural order of every name space.
        let (item_names, item_order) = sort_names(item_names);
        let item_remap: Vec<u32> = labelled
            .iter()
            .map(|&l| {
                if l == u32::MAX {
                    l
                } else {
                    item_order[l as usize]
                }
            })
            .collect();
        let (annotator_names, annotator_remap) = sort_names(self.annotators.names);
        let obs_annotator_sorted: Vec<u32> = self
            .obs_annotator
            .iter()
            .map(|&a| annotator_remap[a as usize])
            .collect();
        let (class_names, class_remap) = sort_names(self.classes.names);

        // Sort observations by (item, annotator, input order): a stable counting sort by item,
        // then a stable sort of each item's few observations by annotator.
        let n_items = item_names.len();
        let n_annotators = annotator_names.len();
        let n_obs = self.obs_item.len();
        let (mut sorted, item_ends) = counting_sort_with_ends(n_items, 0..n_obs as u32, |obs| {
            item_remap[self.obs_item[obs as usize] as usize]
        });
        let mut start = 0;
        for &end in &item_ends {
            let segment = &mut sorted[start..end];
            if segment.len() > 1 {
                segment.sort_by_key(|&obs| obs_annotator_sorted[obs as usize]);
            }
            start = end;
        }

        let mut obs_item = Vec::with_capacity(n_obs);
        let mut obs_annotator = Vec::with_capacity(n_obs);
        let mut obs_class = Vec::with_capacity(n_obs);
        let mut kept_from = 0usize;
        for (pos, &obs) in sorted.iter().enumerate() {
            let obs = obs as usize;
            let item = item_remap[self.obs_item[obs] as usize];
            let annotator = obs_annotator_sorted[obs];
            let class = class_remap[self.obs_class[obs] as usize];
            let repeats_previous = pos > 0 && {
                let prev = sorted[pos - 1] as usize;
                self.obs_item[prev] == self.obs_item[obs]
                    && self.obs_annotator[prev] == self.obs_annotator[obs]
            };
            if !repeats_previous {
                kept_from = obs_item.len();
            } else {
                match duplicates {
                    DuplicatePolicy::All => {}
                    DuplicatePolicy::First => continue,
                    DuplicatePolicy::Last => {
                        obs_class[kept_from] = class;
                        continue;
                    }
                    DuplicatePolicy::Error => {
                        return Err(BuildError::Duplicate {
                            item: item_names[item as usize].to_string(),
                            annotator: annotator_names[annotator as usize].to_string(),
                            first: sorted[pos - 1] as usize,
                            second: obs,
                        });
                    }
                }
            }
            obs_item.push(item);
            obs_annotator.push(annotator);
            obs_class.push(class);
        }

        let item_offsets = offsets(&obs_item, n_items);
        // The annotator layout: a stable counting sort of the item layout by annotator, so each
        // annotator's observations stay in item order.
        let order = counting_sort(&obs_annotator, n_annotators, 0..obs_item.len() as u32);
        let ann_item: Vec<u32> = order.iter().map(|&o| obs_item[o as usize]).collect();
        let ann_class: Vec<u32> = order.iter().map(|&o| obs_class[o as usize]).collect();
        let annotator_offsets = offsets_from_sorted(
            order.iter().map(|&o| obs_annotator[o as usize]),
            n_annotators,
        );

        let mut gold = vec![NO_GOLD; n_items];
        for (item, class) in self.gold {
            let item = item_remap[item as usize];
            if item != u32::MAX {
                gold[item as usize] = class_remap[class as usize];
            }
        }

        Ok(Annotations {
            items: item_names,
            annotators: annotator_names,
            classes: class_names,
            item_offsets,
            item_annotator: obs_annotator,
            item_class: obs_class,
            annotator_offsets,
            annotator_item: ann_item,
            annotator_class: ann_class,
            gold,
        })
    }
}

const NO_GOLD: u32 = u32::MAX;

/// The label matrix: who gave which label to which item, in two CSR layouts.
///
/// Built by [`AnnotationsBuilder`]; immutable afterwards. Every item has at least one label.
#[derive(Debug, Clone)]
pub struct Annotations {
    items: Vec<Box<str>>,
    annotators: Vec<Box<str>>,
    classes: Vec<Box<str>>,
    item_offsets: Vec<usize>,
    item_annotator: Vec<u32>,
    item_class: Vec<u32>,
    annotator_offsets: Vec<usize>,
    annotator_item: Vec<u32>,
    annotator_class: Vec<u32>,
    gold: Vec<u32>,
}

impl Annotations {
    /// Builds the matrix from dense indices (no names). Names are the decimal indices.
    ///
    /// `observations` are `(item, annotator, class)` triples; every index must be below its count.
    /// Meant for tests and generated data.
    ///
    /// # Errors
    /// As [`AnnotationsBuilder::build`] with [`DuplicatePolicy::All`].
    pub fn from_indices(
        n_classes: usize,
        observations: impl IntoIterator<Item = (u32, u32, u32)>,
    ) -> Result<Self, BuildError> {
        let mut builder = AnnotationsBuilder::new();
        for class in 0..n_classes {
            builder.classes.intern(&class.to_string());
        }
        for (item, annotator, class) in observations {
            builder.push(
                &item.to_string(),
                &annotator.to_string(),
                &class.to_string(),
            );
        }
        builder.build(DuplicatePolicy::All)
    }

    /// Number of items (each has at least one label).
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Number of annotators.
    pub fn n_annotators(&self) -> usize {
        self.annotators.len()
    }

    /// Number of classes, including classes that only appear as gold.
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// Number of observations (labels).
    pub fn n_labels(&self) -> usize {
        self.item_class.len()
    }

    /// Item ids, by [`ItemIdx`].
    pub fn items(&self) -> &[Box<str>] {
        &self.items
    }

    /// Annotator ids, by [`AnnotatorIdx`].
    pub fn annotators(&self) -> &[Box<str>] {
        &self.annotators
    }

    /// Class names, by [`ClassIdx`], in natural order.
    pub fn classes(&self) -> &[Box<str>] {
        &self.classes
    }

    /// Index of the class named `name`.
    pub fn class_index(&self, name: &str) -> Option<ClassIdx> {
        self.classes
            .iter()
            .position(|c| &**c == name)
            .map(|i| i as u32)
    }

    /// Offsets into the item layout: item `i`'s labels are `item_offsets[i]..item_offsets[i + 1]`.
    pub fn item_offsets(&self) -> &[usize] {
        &self.item_offsets
    }

    /// Annotator of each observation, in the item layout.
    pub fn item_annotators(&self) -> &[u32] {
        &self.item_annotator
    }

    /// Class of each observation, in the item layout.
    pub fn item_classes(&self) -> &[u32] {
        &self.item_class
    }

    /// Offsets into the annotator layout: annotator `a`'s labels are
    /// `annotator_offsets[a]..annotator_offsets[a + 1]`.
    pub fn annotator_offsets(&self) -> &[usize] {
        &self.annotator_offsets
    }

    /// Item of each observation, in the annotator layout.
    pub fn annotator_items(&self) -> &[u32] {
        &self.annotator_item
    }

    /// Class of each observation, in the annotator layout.
    pub fn annotator_classes(&self) -> &[u32] {
        &self.annotator_class
    }

    /// The labels of one item as `(annotator, class)` pairs.
    pub fn item_labels(&self, item: ItemIdx) -> impl ExactSizeIterator<Item = (u32, u32)> + '_ {
        let range = self.item_offsets[item as usize]..self.item_offsets[item as usize + 1];
        self.item_annotator[range.clone()]
            .iter()
            .copied()
            .zip(self.item_class[range].iter().copied())
    }

    /// The labels of one annotator as `(item, class)` pairs.
    pub fn annotator_labels(
        &self,
        annotator: AnnotatorIdx,
    ) -> impl ExactSizeIterator<Item = (u32, u32)> + '_ {
        let range = self.annotator_offsets[annotator as usize]
            ..self.annotator_offsets[annotator as usize + 1];
        self.annotator_item[range.clone()]
            .iter()
            .copied()
            .zip(self.annotator_class[range].iter().copied())
    }

    /// The known answer of `item`, if gold was given for it.
    pub fn gold(&self, item: ItemIdx) -> Option<ClassIdx> {
        let g = self.gold[item as usize];
        (g != NO_GOLD).then_some(g)
    }

    /// Number of items with a known answer.
    pub fn n_gold(&self) -> usize {
        self.gold.iter().filter(|&&g| g != NO_GOLD).count()
    }

    /// A copy with the known answers replaced by `gold` (`(item, class)` pairs).
    pub fn with_gold(&self, gold: impl IntoIterator<Item = (ItemIdx, ClassIdx)>) -> Self {
        let mut out = self.clone();
        out.gold.fill(NO_GOLD);
        for (item, class) in gold {
            out.gold[item as usize] = class;
        }
        out
    }

    /// Number of labels each class received over all items.
    pub fn class_counts(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.n_classes()];
        for &c in &self.item_class {
            counts[c as usize] += 1;
        }
        counts
    }
}

#[derive(Debug, Default)]
struct Interner {
    index: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    /// The index returned last: label files are usually grouped by item, so the next row's
    /// item is most often the last row's, and one comparison replaces a hash lookup.
    last: u32,
}

impl Interner {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(last) = self.names.get(self.last as usize)
            && **last == *name
        {
            return self.last;
        }
        if let Some(&i) = self.index.get(name) {
            self.last = i;
            return i;
        }
        let i = self.names.len() as u32;
        self.last = i;
        let boxed: Box<str> = name.into();
        self.names.push(boxed.clone());
        self.index.insert(boxed, i);
        i
    }

    /// Interns every name of `other` and returns `other`'s index -> this interner's index.
    fn absorb(&mut self, other: Interner) -> Vec<u32> {
        other
            .names
            .into_iter()
            .map(|name| match self.index.get(&name) {
                Some(&i) => i,
                None => {
                    let i = self.names.len() as u32;
                    self.names.push(name.clone());
                    self.index.insert(name, i);
                    i
                }
            })
            .collect()
    }
}

/// Sorts names (items, annotators or classes) in natural order and returns `(sorted names, old index -> new index)`.
fn sort_names(names: Vec<Box<str>>) -> (Vec<Box<str>>, Vec<u32>) {
    let numeric: Option<Vec<f64>> = names.iter().map(|n| n.trim().parse::<f64>().ok()).collect();
    let mut order: Vec<usize> = (0..names.len()).collect();
    match &numeric {
        Some(values) if values.iter().all(|v| v.is_finite()) => order.sort_by(|&a, &b| {
            values[a]
                .partial_cmp(&values[b])
                .unwrap_or(Ordering::Equal)
                .then_with(|| names[a].cmp(&names[b]))
        }),
        _ => order.sort_by(|&a, &b| names[a].cmp(&names[b])),
    }
    let mut remap = vec![0u32; names.len()];
    for (new, &old) in order.iter().enumerate() {
        remap[old] = new as u32;
    }
    let mut slots: Vec<Option<Box<str>>> = names.into_iter().map(Some).collect();
    let sorted = order
        .iter()
        .map(|&old| slots[old].take().expect("each class moves once"))
        .collect();
    (sorted, remap)
}

/// Stable counting sort of `values` (already in `0..n_keys`) by key `keys[value]`.
fn counting_sort(keys: &[u32], n_keys: usize, values: std::ops::Range<u32>) -> Vec<u32> {
    counting_sort_with_ends(n_keys, values, |v| keys[v as usize]).0
}

/// A stable counting sort of `values` by `key`; also returns where each key's run ends.
fn counting_sort_with_ends(
    n_keys: usize,
    values: impl Iterator<Item = u32> + Clone,
    key: impl Fn(u32) -> u32,
) -> (Vec<u32>, Vec<usize>) {
    let mut starts = vec![0usize; n_keys + 1];
    let mut n = 0;
    for v in values.clone() {
        starts[key(v) as usize + 1] += 1;
        n += 1;
    }
    for k in 0..n_keys {
        starts[k + 1] += starts[k];
    }
    let mut out = vec![0u32; n];
    for v in values {
        let slot = &mut starts[key(v) as usize];
        out[*slot] = v;
        *slot += 1;
    }
    // Each slot now points past its key's run; the extra last slot was never a run.
    starts.pop();
    (out, starts)
}

fn offsets(sorted_keys: &[u32], n_keys: usize) -> Vec<usize> {
    offsets_from_sorted(sorted_keys.iter().copied(), n_keys)
}

fn offsets_from_sorted(sorted_keys: impl Iterator<Item = u32>, n_keys: usize) -> Vec<usize> {
    let mut offsets = vec![0usize; n_keys + 1];
    for k in sorted_keys {
        offsets[k as usize + 1] += 1;
    }
    for k in 0..n_keys {
        offsets[k + 1] += offsets[k];
    }
    offsets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(
        rows: &[(&str, &str, &str)],
        policy: DuplicatePolicy,
    ) -> Result<Annotations, BuildError> {
        let mut b = AnnotationsBuilder::new();
        for (i, a, l) in rows {
            b.push(i, a, l);
        }
        b.build(policy)
    }

    #[test]
    fn layouts_agree() {
        let data = build(
            &[
                ("t2", "w1", "b"),
                ("t1", "w2", "a"),
                ("t1", "w1", "b"),
                ("t2", "w2", "a"),
            ],
            DuplicatePolicy::Error,
        )
        .unwrap();
        // Names are sorted, whatever the order of the rows.
        assert_eq!(&*data.items()[0], "t1");
        assert_eq!(
            data.classes().iter().map(|c| &**c).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let t1: Vec<_> = data.item_labels(0).collect();
        assert_eq!(t1, [(0, 1), (1, 0)]);
        let w1: Vec<_> = data.annotator_labels(0).collect();
        assert_eq!(w1, [(0, 1), (1, 1)]);
    }

    #[test]
    fn appended_parts_build_what_the_whole_builds() {
        let rows = [
            ("t2", "w1", "b"),
            ("t1", "w2", "a"),
            ("t3", "w3", "c"),
            ("t1", "w1", "b"),
            ("t2", "w2", "a"),
            ("t1", "w2", "c"),
        ];
        for split in 0..=rows.len() {
            for policy in [
                DuplicatePolicy::First,
                DuplicatePolicy::Last,
                DuplicatePolicy::All,
            ] {
                let whole = build(&rows, policy).unwrap();
                let mut joined = AnnotationsBuilder::new();
                for part in [&rows[..split], &rows[split..]] {
                    let mut b = AnnotationsBuilder::new();
                    for (i, a, l) in part {
                        b.push(i, a, l);
                    }
                    b.push_gold("t3", "c");
                    joined.append(b);
                }
                let joined = joined.build(policy).unwrap();
                assert_eq!(joined.items(), whole.items());
                assert_eq!(joined.annotators(), whole.annotators());
                assert_eq!(joined.classes(), whole.classes());
                assert_eq!(joined.item_offsets(), whole.item_offsets());
                assert_eq!(joined.item_annotators(), whole.item_annotators());
                assert_eq!(joined.item_classes(), whole.item_classes());
                assert_eq!(joined.annotator_items(), whole.annotator_items());
                assert_eq!(joined.annotator_classes(), whole.annotator_classes());
                assert_eq!(joined.gold(2), Some(2));
            }
            // The repeated (t1, w2) is named by the positions it has in the whole input.
            let mut joined = AnnotationsBuilder::new();
            for part in [&rows[..split], &rows[split..]] {
                let mut b = AnnotationsBuilder::new();
                for (i, a, l) in part {
                    b.push(i, a, l);
                }
                joined.append(b);
            }
            assert!(matches!(
                joined.build(DuplicatePolicy::Error),
                Err(BuildError::Duplicate {
                    first: 1,
                    second: 5,
                    ..
                })
            ));
        }
    }

    #[test]
    fn numeric_classes_sort_numerically() {
        let data = build(
            &[("t", "a", "10"), ("t", "b", "2"), ("t", "c", "1")],
            DuplicatePolicy::Error,
        )
        .unwrap();
        assert_eq!(
            data.classes().iter().map(|c| &**c).collect::<Vec<_>>(),
            ["1", "2", "10"]
        );
    }

    #[test]
    fn duplicates_follow_the_policy() {
        let rows = [("t", "w", "a"), ("u", "w", "a"), ("t", "w", "b")];
        let err = build(&rows, DuplicatePolicy::Error).unwrap_err();
        assert_eq!(
            err,
            BuildError::Duplicate {
                item: "t".into(),
                annotator: "w".into(),
                first: 0,
                second: 2
            }
        );
        let first = build(&rows, DuplicatePolicy::First).unwrap();
        assert_eq!(first.item_labels(0).collect::<Vec<_>>(), [(0, 0)]);
        let last = build(&rows, DuplicatePolicy::Last).unwrap();
        assert_eq!(last.item_labels(0).collect::<Vec<_>>(), [(0, 1)]);
        let all = build(&rows, DuplicatePolicy::All).unwrap();
        assert_eq!(all.item_labels(0).collect::<Vec<_>>(), [(0, 0), (0, 1)]);
        assert_eq!(all.annotator_labels(0).count(), 3);
    }

    #[test]
    fn empty_fields_are_refused() {
        let err = build(&[("t", "w", "a"), ("t", "", "a")], DuplicatePolicy::All).unwrap_err();
        assert_eq!(
            err,
            BuildError::EmptyField {
                observation: 1,
                field: "annotator"
            }
        );
        assert_eq!(
            build(&[], DuplicatePolicy::All).unwrap_err(),
            BuildError::Empty
        );
    }

    #[test]
    fn gold_only_items_are_dropped() {
        let mut b = AnnotationsBuilder::new();
        b.push_gold("ghost", "z");
        b.push("t", "w", "a");
        b.push_gold("t", "b");
        let data = b.build(DuplicatePolicy::Error).unwrap();
        assert_eq!(data.n_items(), 1);
        assert_eq!(data.n_classes(), 3);
        assert_eq!(data.gold(0), data.class_index("b"));
    }
}
