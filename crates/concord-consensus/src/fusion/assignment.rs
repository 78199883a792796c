//! Optimal assignment (the Hungarian algorithm) and grouping of several readers' findings.
//!
//! Kuhn, H. W. (1955). The Hungarian method for the assignment problem. Naval Research
//! Logistics Quarterly 2, 83–97. doi:10.1002/nav.3800020109 — here in the O(n³) form with
//! potentials (Jonker–Volgenant style shortest augmenting paths).

use std::cmp::Ordering;

/// The pairs `(row, column)` that maximise the total similarity, among pairs whose
/// similarity passes `threshold` (`>= threshold`, or `> threshold` when `strict`).
pub(crate) fn assign(similarity: &[Vec<f64>], threshold: f64, strict: bool) -> Vec<(usize, usize)> {
    let n_rows = similarity.len();
    let n_cols = similarity.first().map_or(0, Vec::len);
    if n_rows == 0 || n_cols == 0 {
        return Vec::new();
    }
    let passes = |s: f64| {
        if strict {
            s > threshold
        } else {
            s >= threshold
        }
    };
    // Square cost matrix: a pair that does not pass costs 0, like leaving both unmatched.
    let n = n_rows.max(n_cols);
    let cost = |i: usize, j: usize| -> f64 {
        if i < n_rows && j < n_cols && passes(similarity[i][j]) {
            -similarity[i][j]
        } else {
            0.0
        }
    };
    // 1-based arrays; p[j] is the row assigned to column j.
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; n + 1];
    let mut p = vec![0usize; n + 1];
    let mut way = vec![0usize; n + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut min_v = vec![f64::INFINITY; n + 1];
        let mut used = vec![false; n + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=n {
                if used[j] {
                    continue;
                }
                let reduced = cost(i0 - 1, j - 1) - u[i0] - v[j];
                if reduced < min_v[j] {
                    min_v[j] = reduced;
                    way[j] = j0;
                }
                if min_v[j] < delta {
                    delta = min_v[j];
                    j1 = j;
                }
            }
            for j in 0..=n {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    min_v[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut pairs: Vec<(usize, usize)> = (1..=n)
        .filter(|&j| p[j] != 0)
        .map(|j| (p[j] - 1, j - 1))
        .filter(|&(i, j)| i < n_rows && j < n_cols && passes(similarity[i][j]))
        .collect();
    pairs.sort_unstable();
    pairs
}

/// Groups findings of several readers so that each group holds at most one finding per reader.
///
/// Every two readers' findings are matched by [`assign`]; the matched pairs are then merged,
/// strongest similarity first, skipping a merge that would put two findings of one reader in a
/// group. `order` breaks ties between equal similarities by the findings' content, so the
/// result does not depend on the order in which readers or findings are listed.
///
/// Returns the groups as sorted lists of finding indices, sorted by their first member.
pub(crate) fn group(
    readers: &[usize],
    similarity: impl Fn(usize, usize) -> f64,
    threshold: f64,
    strict: bool,
    order: impl Fn(usize, usize) -> Ordering,
) -> Vec<Vec<usize>> {
    let n = readers.len();
    let mut by_reader: Vec<(usize, Vec<usize>)> = Vec::new();
    for (finding, &reader) in readers.iter().enumerate() {
        match by_reader.iter_mut().find(|(r, _)| *r == reader) {
            Some((_, list)) => list.push(finding),
            None => by_reader.push((reader, vec![finding])),
        }
    }
    for (_, list) in &mut by_reader {
        list.sort_by(|&a, &b| order(a, b));
    }
    // Readers in the order of their findings' content, not of their numbers: which reader is
    // the row side of a pairwise assignment decides how ties between equally good assignments
    // fall, and that must not depend on how the readers were numbered.
    by_reader.sort_by(|(_, x), (_, y)| {
        x.iter()
            .zip(y.iter())
            .map(|(&a, &b)| order(a, b))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len()))
    });
    // Candidate links from every pair of readers' optimal assignment.
    let mut links: Vec<(f64, usize, usize)> = Vec::new();
    for (x, (_, rows)) in by_reader.iter().enumerate() {
        for (_, cols) in &by_reader[x + 1..] {
            let matrix: Vec<Vec<f64>> = rows
                .iter()
                .map(|&a| cols.iter().map(|&b| similarity(a, b)).collect())
                .collect();
            for (i, j) in assign(&matrix, threshold, strict) {
                let (a, b) = (rows[i], cols[j]);
                let (a, b) = if order(a, b) == Ordering::Greater {
                    (b, a)
                } else {
                    (a, b)
                };
                links.push((matrix[i][j], a, b));
            }
        }
    }
    links.sort_by(|x, y| {
        y.0.total_cmp(&x.0)
            .then_with(|| order(x.1, y.1))
            .then_with(|| order(x.2, y.2))
    });
    // Union-find with the set of readers of each group.
    let mut parent: Vec<usize> = (0..n).collect();
    let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (_, a, b) in links {
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        if ra == rb {
            continue;
        }
        let clash = members[ra]
            .iter()
            .any(|&x| members[rb].iter().any(|&y| readers[x] == readers[y]));
        if clash {
            continue;
        }
        let moved = std::mem::take(&mut members[rb]);
        members[ra].extend(moved);
        parent[rb] = ra;
    }
    let mut groups: Vec<Vec<usize>> = members.into_iter().filter(|m| !m.is_empty()).collect();
    for g in &mut groups {
        g.sort_unstable();
    }
    groups.sort_by(|a, b| a[0].cmp(&b[0]));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_is_optimal_not_greedy() {
        // Greedy takes (0, 0) = 0.9 and then (1, 1) = 0.1; optimal is 0.8 + 0.8.
        let sim = vec![vec![0.9, 0.8], vec![0.8, 0.1]];
        assert_eq!(assign(&sim, 0.05, false), [(0, 1), (1, 0)]);
        // Below the threshold nothing is paired.
        assert_eq!(assign(&sim, 0.95, false), []);
        // Rectangular.
        let sim = vec![vec![0.2, 0.7, 0.6]];
        assert_eq!(assign(&sim, 0.5, false), [(0, 1)]);
    }

    #[test]
    fn groups_hold_one_finding_per_reader() {
        // Readers 0, 1, 2; findings 0..4 with reader 2 having two findings near the others.
        let readers = [0, 1, 2, 2];
        let sim = |a: usize, b: usize| {
            let pos: [f64; 4] = [0.0, 0.1, 0.05, 0.3];
            1.0 - (pos[a] - pos[b]).abs()
        };
        let groups = group(&readers, sim, 0.5, false, |a, b| a.cmp(&b));
        assert_eq!(groups, [vec![0, 1, 2], vec![3]]);
    }
}
