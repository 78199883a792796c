//! The two layouts agreement statistics read: [`Ratings`] (who gave which category to which
//! item) and [`CountTable`] (how many labels each item got in each category).
//!
//! Both are compressed sparse rows over items, built once; every statistic, its analytic
//! interval and each bootstrap resample then read them without copying.

use super::error::AgreementError;
use crate::data::Annotations;
use rayon::prelude::*;

/// Labels grouped by item: for each item, the `(annotator, category)` pairs.
///
/// Categories are dense indices `0..n_categories` in their natural order (the order weights and
/// ordinal distances use). Items without a label are not stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratings {
    n_annotators: usize,
    n_categories: usize,
    offsets: Vec<usize>,
    annotators: Vec<u32>,
    categories: Vec<u32>,
}

impl Ratings {
    /// The labels of an [`Annotations`] matrix, with its classes as categories.
    pub fn from_annotations(data: &Annotations) -> Self {
        Ratings {
            n_annotators: data.n_annotators(),
            n_categories: data.n_classes(),
            offsets: data.item_offsets().to_vec(),
            annotators: data.item_annotators().to_vec(),
            categories: data.item_classes().to_vec(),
        }
    }

    /// The labels of an [`Annotations`] matrix with its classes renumbered: class `c` becomes
    /// category `category_of[c]` of `n_categories` (e.g. the order given on the command line).
    ///
    /// # Errors
    /// [`AgreementError::CategoryOutOfRange`] when a mapped category is not below
    /// `n_categories`; [`AgreementError::LengthMismatch`] when `category_of` does not have one
    /// entry per class.
    pub fn from_annotations_mapped(
        data: &Annotations,
        category_of: &[u32],
        n_categories: usize,
    ) -> Result<Self, AgreementError> {
        if category_of.len() != data.n_classes() {
            return Err(AgreementError::LengthMismatch {
                what: "category map",
                expected: data.n_classes(),
                found: category_of.len(),
            });
        }
        if let Some(&bad) = category_of.iter().find(|&&c| c as usize >= n_categories) {
            return Err(AgreementError::CategoryOutOfRange {
                category: bad,
                n_categories,
            });
        }
        Ok(Ratings {
            n_annotators: data.n_annotators(),
            n_categories,
            offsets: data.item_offsets().to_vec(),
            annotators: data.item_annotators().to_vec(),
            categories: data
                .item_classes()
                .iter()
                .map(|&c| category_of[c as usize])
                .collect(),
        })
    }

    /// Labels from a dense items × annotators matrix (row-major), `None` where an annotator did
    /// not label the item. Rows with no label are dropped, as irrCAC drops them.
    ///
    /// # Errors
    /// [`AgreementError::LengthMismatch`] when the matrix is not `n_items × n_annotators`;
    /// [`AgreementError::CategoryOutOfRange`] for a category not below `n_categories`.
    pub fn from_rows(
        rows: &[Option<u32>],
        n_annotators: usize,
        n_categories: usize,
    ) -> Result<Self, AgreementError> {
        if n_annotators == 0 || !rows.len().is_multiple_of(n_annotators) {
            return Err(AgreementError::LengthMismatch {
                what: "ratings matrix",
                expected: rows.len().div_ceil(n_annotators.max(1)) * n_annotators.max(1),
                found: rows.len(),
            });
        }
        let mut offsets = vec![0];
        let mut annotators = Vec::new();
        let mut categories = Vec::new();
        for row in rows.chunks(n_annotators) {
            for (annotator, cell) in row.iter().enumerate() {
                if let Some(category) = *cell {
                    if category as usize >= n_categories {
                        return Err(AgreementError::CategoryOutOfRange {
                            category,
                            n_categories,
                        });
                    }
                    annotators.push(annotator as u32);
                    categories.push(category);
                }
            }
            if annotators.len() > *offsets.last().expect("offsets start with 0") {
                offsets.push(annotators.len());
            }
        }
        Ok(Ratings {
            n_annotators,
            n_categories,
            offsets,
            annotators,
            categories,
        })
    }

    /// Number of items (each has at least one label).
    pub fn n_items(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Number of annotators (columns), including any who labelled nothing.
    pub fn n_annotators(&self) -> usize {
        self.n_annotators
    }

    /// Number of categories.
    pub fn n_categories(&self) -> usize {
        self.n_categories
    }

    /// Number of labels.
    pub fn n_labels(&self) -> usize {
        self.categories.len()
    }

    /// The labels of item `item` as `(annotator, category)` pairs.
    pub fn item(&self, item: usize) -> impl ExactSizeIterator<Item = (u32, u32)> + '_ {
        let range = self.offsets[item]..self.offsets[item + 1];
        self.annotators[range.clone()]
            .iter()
            .copied()
            .zip(self.categories[range].iter().copied())
    }

    /// The one-vs-rest view for `category`: category 0 is "`category`", category 1 "any other".
    pub fn one_vs_rest(&self, category: u32) -> Ratings {
        Ratings {
            n_annotators: self.n_annotators,
            n_categories: 2,
            offsets: self.offsets.clone(),
            annotators: self.annotators.clone(),
            categories: self
                .categories
                .iter()
                .map(|&c| u32::from(c != category))
                .collect(),
        }
    }

    /// The labels of two annotators on the items both labelled, as two parallel category lists.
    pub fn pair(&self, first: u32, second: u32) -> (Vec<u32>, Vec<u32>) {
        let mut y1 = Vec::new();
        let mut y2 = Vec::new();
        for item in 0..self.n_items() {
            let (mut c1, mut c2) = (None, None);
            for (annotator, category) in self.item(item) {
                if annotator == first && c1.is_none() {
                    c1 = Some(category);
                } else if annotator == second && c2.is_none() {
                    c2 = Some(category);
                }
            }
            if let (Some(a), Some(b)) = (c1, c2) {
                y1.push(a);
                y2.push(b);
            }
        }
        (y1, y2)
    }

    /// The items × categories count table of these labels.
    pub fn counts(&self) -> CountTable {
        let n_items = self.n_items();
        let mut table = CountTable::with_capacity(self.n_categories, n_items, self.n_labels());
        let mut scratch = vec![0u32; self.n_categories];
        let mut touched: Vec<u32> = Vec::new();
        for item in 0..n_items {
            for &c in &self.categories[self.offsets[item]..self.offsets[item + 1]] {
                if scratch[c as usize] == 0 {
                    touched.push(c);
                }
                scratch[c as usize] += 1;
            }
            touched.sort_unstable();
            for &c in &touched {
                table.categories.push(c);
                table.counts.push(scratch[c as usize]);
                scratch[c as usize] = 0;
            }
            touched.clear();
            table.close_item();
        }
        table
    }

    pub(crate) fn annotators(&self) -> &[u32] {
        &self.annotators
    }
}

/// How many labels each item received in each category: an items × categories table stored
/// as sparse rows (only non-zero cells), so a measurement with thousands of distinct values
/// costs no more than a five-point scale.
#[derive(Debug, Clone, PartialEq)]
pub struct CountTable {
    n_categories: usize,
    offsets: Vec<usize>,
    categories: Vec<u32>,
    counts: Vec<u32>,
    labels: Vec<u32>,
}

impl CountTable {
    fn with_capacity(n_categories: usize, n_items: usize, n_cells: usize) -> Self {
        let mut offsets = Vec::with_capacity(n_items + 1);
        offsets.push(0);
        CountTable {
            n_categories,
            offsets,
            categories: Vec::with_capacity(n_cells),
            counts: Vec::with_capacity(n_cells),
            labels: Vec::with_capacity(n_items),
        }
    }

    fn close_item(&mut self) {
        let start = *self.offsets.last().expect("offsets start with 0");
        let total = self.counts[start..].iter().sum();
        self.labels.push(total);
        self.offsets.push(self.counts.len());
    }

    /// A table from dense rows (row-major, `n_categories` counts per item). Rows may be all
    /// zero (an item nobody labelled); they are kept.
    ///
    /// # Errors
    /// [`AgreementError::LengthMismatch`] when the length is not a multiple of `n_categories`.
    pub fn from_dense(rows: &[u32], n_categories: usize) -> Result<Self, AgreementError> {
        if n_categories == 0 || !rows.len().is_multiple_of(n_categories) {
            return Err(AgreementError::LengthMismatch {
                what: "count table",
                expected: rows.len().div_ceil(n_categories.max(1)) * n_categories.max(1),
                found: rows.len(),
            });
        }
        let identity: Vec<u32> = (0..n_categories as u32).collect();
        Ok(CountTable::from_dense_rows(
            rows,
            n_categories,
            n_categories,
            &identity,
        ))
    }

    /// The sparse table of dense rows of `stride` cells, column `j` becoming category
    /// `category_of[j]` (`u32::MAX`: not a category, e.g. missing). Chunks of rows are
    /// compressed in parallel and joined in order.
    fn from_dense_rows(
        dense: &[u32],
        stride: usize,
        n_categories: usize,
        category_of: &[u32],
    ) -> CountTable {
        let rows_per_chunk = 1 << 13;
        let parts: Vec<CountTable> = dense
            .par_chunks(rows_per_chunk * stride)
            .map(|chunk| {
                let n_rows = chunk.len() / stride;
                let mut part = CountTable::with_capacity(n_categories, n_rows, chunk.len());
                for row in chunk.chunks_exact(stride) {
                    let mut total = 0;
                    for (&category, &n) in category_of.iter().zip(row) {
                        if n > 0 && category != u32::MAX {
                            part.categories.push(category);
                            part.counts.push(n);
                            total += n;
                        }
                    }
                    part.labels.push(total);
                    part.offsets.push(part.counts.len());
                }
                part
            })
            .collect();
        let n_cells = parts.iter().map(|p| p.counts.len()).sum();
        let n_items = parts.iter().map(|p| p.labels.len()).sum();
        let mut table = CountTable::with_capacity(n_categories, n_items, n_cells);
        for part in parts {
            let base = table.counts.len();
            table.categories.extend_from_slice(&part.categories);
            table.counts.extend_from_slice(&part.counts);
            table.labels.extend_from_slice(&part.labels);
            table
                .offsets
                .extend(part.offsets[1..].iter().map(|o| o + base));
        }
        table
    }

    /// A table from krippendorff's `reliability_data`: an annotators × units matrix
    /// (row-major), NaN where an annotator did not rate a unit. Returns the table and its value
    /// domain: `domain` when given (every value must be in it), else the sorted distinct values.
    ///
    /// # Errors
    /// [`AgreementError::LengthMismatch`] for a matrix that is not `n_annotators × n_units`;
    /// [`AgreementError::OutOfDomain`] for a value outside `domain`.
    pub fn from_reliability_data(
        data: &[f64],
        n_annotators: usize,
        domain: Option<&[f64]>,
    ) -> Result<(Self, Vec<f64>), AgreementError> {
        if n_annotators == 0 || !data.len().is_multiple_of(n_annotators) {
            return Err(AgreementError::LengthMismatch {
                what: "reliability data",
                expected: data.len().div_ceil(n_annotators.max(1)) * n_annotators.max(1),
                found: data.len(),
            });
        }
        let n_units = data.len() / n_annotators;
        // Without a given domain, small-integer data (a 1–5 scale) takes a faster path.
        if domain.is_none()
            && let Some(coded) = from_small_integers(data, n_units)
        {
            return Ok(coded);
        }
        let domain: Vec<f64> = match domain {
            Some(d) => d.to_vec(),
            None => distinct_sorted(data),
        };
        // Ratings are usually small integers (a 1–5 scale): then a lookup table by value finds
        // the category, otherwise a binary search in the sorted domain (or a linear scan when
        // a given domain is not sorted; krippendorff accepts any order for nominal data).
        let mut lookup = [u32::MAX; SMALL_INTEGERS];
        let small = domain.iter().all(|&d| small_integer(d).is_some());
        if small {
            for (i, &d) in domain.iter().enumerate() {
                lookup[small_integer(d).expect("checked") as usize] = i as u32;
            }
        }
        let sorted = domain.windows(2).all(|w| w[0] < w[1]);
        let index_of = |v: f64| -> Option<u32> {
            if small {
                small_integer(v)
                    .map(|x| lookup[x as usize])
                    .filter(|&c| c != u32::MAX)
            } else if sorted {
                domain
                    .binary_search_by(|d| d.total_cmp(&v))
                    .ok()
                    .map(|i| i as u32)
            } else {
                domain.iter().position(|&d| d == v).map(|i| i as u32)
            }
        };
        let mut table = CountTable::with_capacity(domain.len(), n_units, data.len());
        if domain.len() <= DENSE_DOMAIN && n_units.saturating_mul(domain.len()) <= 1 << 28 {
            // Annotator rows are contiguous: walk them in order into a dense units × values
            // table, then keep its non-zero cells.
            let v = domain.len();
            let mut dense = vec![0u32; n_units * v];
            // Chunks of units in parallel; each walks its slice of every annotator row and
            // writes only its own units, so the counts are exact for any thread count.
            let units_per_chunk = 1 << 13;
            let fill = |(chunk, counts): (usize, &mut [u32])| -> Result<(), f64> {
                let first = chunk * units_per_chunk;
                let len = counts.len() / v;
                for row in data.chunks_exact(n_units) {
                    for (unit, &x) in row[first..first + len].iter().enumerate() {
                        let c = if small {
                            match small_integer(x) {
                                Some(i) if lookup[i as usize] != u32::MAX => lookup[i as usize],
                                _ if x.is_nan() => continue,
                                _ => return Err(x),
                            }
                        } else if x.is_nan() {
                            continue;
                        } else {
                            index_of(x).ok_or(x)?
                        };
                        counts[unit * v + c as usize] += 1;
                    }
                }
                Ok(())
            };
            let filled = dense
                .par_chunks_mut(units_per_chunk * v)
                .enumerate()
                .try_for_each(fill);
            if filled.is_err() {
                // Name the first value outside the domain, in data order.
                let x = data
                    .iter()
                    .copied()
                    .find(|&x| !x.is_nan() && index_of(x).is_none())
                    .expect("a value outside the domain was seen");
                return Err(AgreementError::OutOfDomain {
                    value: format!("{x}"),
                });
            }
            let identity: Vec<u32> = (0..v as u32).collect();
            return Ok((CountTable::from_dense_rows(&dense, v, v, &identity), domain));
        }
        let mut scratch = vec![0u32; domain.len()];
        let mut touched: Vec<u32> = Vec::new();
        for unit in 0..n_units {
            for annotator in 0..n_annotators {
                let v = data[annotator * n_units + unit];
                if v.is_nan() {
                    continue;
                }
                let c = index_of(v).ok_or_else(|| AgreementError::OutOfDomain {
                    value: format!("{v}"),
                })?;
                if scratch[c as usize] == 0 {
                    touched.push(c);
                }
                scratch[c as usize] += 1;
            }
            touched.sort_unstable();
            for &c in &touched {
                table.categories.push(c);
                table.counts.push(scratch[c as usize]);
                scratch[c as usize] = 0;
            }
            touched.clear();
            table.close_item();
        }
        Ok((table, domain))
    }

    /// Number of items (rows), including rows with no label.
    pub fn n_items(&self) -> usize {
        self.labels.len()
    }

    /// Number of categories (columns).
    pub fn n_categories(&self) -> usize {
        self.n_categories
    }

    /// Number of labels item `item` received (`r_i`).
    pub fn n_labels(&self, item: usize) -> u32 {
        self.labels[item]
    }

    /// The non-zero cells of item `item` as `(category, count)`, by increasing category.
    pub fn item(&self, item: usize) -> impl ExactSizeIterator<Item = (u32, u32)> + '_ {
        let range = self.offsets[item]..self.offsets[item + 1];
        self.categories[range.clone()]
            .iter()
            .copied()
            .zip(self.counts[range].iter().copied())
    }

    /// The one-vs-rest table for `category`: column 0 counts `category`, column 1 the rest.
    pub fn one_vs_rest(&self, category: u32) -> CountTable {
        let mut table = CountTable::with_capacity(2, self.n_items(), 2 * self.n_items());
        for item in 0..self.n_items() {
            let hits = self
                .item(item)
                .find(|&(c, _)| c == category)
                .map_or(0, |(_, n)| n);
            let rest = self.labels[item] - hits;
            for (c, n) in [(0, hits), (1, rest)] {
                if n > 0 {
                    table.categories.push(c);
                    table.counts.push(n);
                }
            }
            table.close_item();
        }
        table
    }
}

/// Integer values in `0..SMALL_INTEGERS` are looked up directly (and fit a byte code + 1).
const SMALL_INTEGERS: usize = 255;

/// `Some(x)` when `v` is an integer in `0..SMALL_INTEGERS`.
#[inline]
fn small_integer(v: f64) -> Option<u8> {
    // A round trip through an integer (NaN converts to 0, which differs from NaN) is much
    // cheaper than `fract`, which is a library call on baseline x86-64.
    let x = v as i32;
    if f64::from(x) == v && (0..SMALL_INTEGERS as i32).contains(&x) {
        Some(x as u8)
    } else {
        None
    }
}

/// The table of reliability data whose values are all small integers (a 1–5 scale), or
/// `None` for other data. One pass codes each value as a byte (0 for NaN, `x + 1` for `x`)
/// with no scattered writes, so it vectorises; a second pass counts the codes of each unit
/// (reading bytes, not the eight-times larger floats); the domain is the codes that occur.
fn from_small_integers(data: &[f64], n_units: usize) -> Option<(CountTable, Vec<f64>)> {
    let mut codes = vec![0u8; data.len()];
    let max = codes
        .par_chunks_mut(1 << 16)
        .zip(data.par_chunks(1 << 16))
        .map(|(codes, values)| {
            let mut bad = false;
            let mut max = 0u8;
            for (code, &v) in codes.iter_mut().zip(values) {
                // `as u8` saturates (NaN gives 0), so the round trip checks integrality and
                // range at once; branch-free, so the loop vectorises.
                let x = v as u8;
                let small = (f64::from(x) == v) & (x < SMALL_INTEGERS as u8);
                bad |= !small & !v.is_nan();
                let c = x.wrapping_add(1) * u8::from(small);
                *code = c;
                max = max.max(c);
            }
            (!bad).then_some(max)
        })
        .try_reduce(|| 0, |a, b| Some(a.max(b)))?;
    let stride = usize::from(max) + 1;
    if n_units.saturating_mul(stride) > 1 << 26 {
        return None;
    }
    // Counts per unit and code; chunks of units in parallel write disjoint rows.
    let units_per_chunk = 1 << 13;
    let mut dense = vec![0u32; n_units * stride];
    dense
        .par_chunks_mut(units_per_chunk * stride)
        .enumerate()
        .for_each(|(chunk, counts)| {
            let first = chunk * units_per_chunk;
            let len = counts.len() / stride;
            for row in codes.chunks_exact(n_units) {
                for (unit, &code) in row[first..first + len].iter().enumerate() {
                    counts[unit * stride + usize::from(code)] += 1;
                }
            }
        });
    // The domain: codes that occur (code 0 is NaN), in increasing value.
    let mut occurs = vec![false; stride];
    for row in dense.chunks_exact(stride) {
        for (code, &n) in row.iter().enumerate().skip(1) {
            occurs[code] |= n > 0;
        }
    }
    let mut category_of = vec![u32::MAX; stride];
    let mut domain = Vec::new();
    for code in 1..stride {
        if occurs[code] {
            category_of[code] = domain.len() as u32;
            domain.push((code - 1) as f64);
        }
    }
    Some((
        CountTable::from_dense_rows(&dense, stride, domain.len(), &category_of),
        domain,
    ))
}

/// Largest value domain read through a dense units × values table.
const DENSE_DOMAIN: usize = 64;

/// Distinct non-NaN values, sorted.
fn distinct_sorted(values: &[f64]) -> Vec<f64> {
    // Few distinct values is the common case: keep a small sorted set and only fall back to a
    // full sort when it grows.
    let mut set: Vec<f64> = Vec::new();
    for &v in values {
        if v.is_nan() {
            continue;
        }
        if let Err(pos) = set.binary_search_by(|d| d.total_cmp(&v)) {
            set.insert(pos, v);
            if set.len() > 4096 {
                let mut all: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
                all.sort_unstable_by(f64::total_cmp);
                all.dedup();
                return all;
            }
        }
    }
    set
}

/// Per-item weights: all ones for the estimate itself, or the multiplicity of each item in a
/// bootstrap resample.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ItemWeights<'a> {
    Ones,
    Counts(&'a [u32]),
    Floats(&'a [f64]),
}

impl ItemWeights<'_> {
    #[inline]
    pub(crate) fn get(self, item: usize) -> f64 {
        match self {
            ItemWeights::Ones => 1.0,
            ItemWeights::Counts(w) => f64::from(w[item]),
            ItemWeights::Floats(w) => w[item],
        }
    }
}

/// Items per chunk of a parallel sum. Fixed, so that results never depend on the thread count.
const CHUNK: usize = 1 << 14;

/// Sums `width` accumulators over items `0..n_items`: `add(range, acc)` adds the contributions
/// of a range of items. Chunks run in parallel; their partial sums are added in chunk order,
/// so the result is identical for any number of threads.
pub(crate) fn chunked_sum(
    n_items: usize,
    width: usize,
    add: impl Fn(std::ops::Range<usize>, &mut [f64]) + Sync,
) -> Vec<f64> {
    if n_items <= CHUNK {
        let mut acc = vec![0.0; width];
        add(0..n_items, &mut acc);
        return acc;
    }
    let partials: Vec<Vec<f64>> = (0..n_items.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut acc = vec![0.0; width];
            add(chunk * CHUNK..((chunk + 1) * CHUNK).min(n_items), &mut acc);
            acc
        })
        .collect();
    let mut total = vec![0.0; width];
    for partial in partials {
        for (t, p) in total.iter_mut().zip(partial) {
            *t += p;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_rows_and_reliability_data_agree() {
        // 3 items × 2 annotators; the second annotator skipped item 1.
        let ratings =
            Ratings::from_rows(&[Some(0), Some(1), Some(2), None, Some(1), Some(1)], 2, 3).unwrap();
        let table = ratings.counts();
        assert_eq!(table.item(0).collect::<Vec<_>>(), [(0, 1), (1, 1)]);
        assert_eq!(table.item(1).collect::<Vec<_>>(), [(2, 1)]);
        assert_eq!(table.item(2).collect::<Vec<_>>(), [(1, 2)]);
        let nan = f64::NAN;
        let (from_matrix, domain) =
            CountTable::from_reliability_data(&[0.0, 2.0, 1.0, 1.0, nan, 1.0], 2, None).unwrap();
        assert_eq!(domain, [0.0, 1.0, 2.0]);
        assert_eq!(from_matrix, table);
    }

    #[test]
    fn every_reliability_path_counts_the_same() {
        let nan = f64::NAN;
        // Small integers (byte codes), fractions (binary search), an unsorted given domain
        // (linear scan), and a value outside a given domain.
        let small = [3.0, 1.0, nan, 254.0, 1.0, 3.0];
        let fraction: Vec<f64> = small.iter().map(|x| x + 0.5).collect();
        let (a, da) = CountTable::from_reliability_data(&small, 2, None).unwrap();
        let (b, db) = CountTable::from_reliability_data(&fraction, 2, None).unwrap();
        assert_eq!(a, b);
        assert_eq!(da, [1.0, 3.0, 254.0]);
        assert_eq!(db, [1.5, 3.5, 254.5]);
        let (c, _) =
            CountTable::from_reliability_data(&small, 2, Some(&[254.0, 3.0, 1.0])).unwrap();
        assert_eq!(c.item(0).collect::<Vec<_>>(), [(0, 1), (1, 1)]);
        let err = CountTable::from_reliability_data(&small, 2, Some(&[1.0, 3.0])).unwrap_err();
        assert_eq!(
            err,
            AgreementError::OutOfDomain {
                value: "254".into()
            }
        );
    }

    #[test]
    fn empty_rows_are_dropped_from_ratings() {
        let ratings = Ratings::from_rows(&[None, None, Some(0), Some(0)], 2, 1).unwrap();
        assert_eq!(ratings.n_items(), 1);
    }

    #[test]
    fn chunked_sum_does_not_depend_on_chunking() {
        let n = 3 * CHUNK + 17;
        let total = chunked_sum(n, 1, |range, acc| {
            for i in range {
                acc[0] += 1.0 / (i as f64 + 1.0);
            }
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let single = pool.install(|| {
            chunked_sum(n, 1, |range, acc| {
                for i in range {
                    acc[0] += 1.0 / (i as f64 + 1.0);
                }
            })
        });
        assert_eq!(total[0].to_bits(), single[0].to_bits());
    }
}
