//! Exact squared Euclidean distance transform with anisotropic spacing.
//!
//! Felzenszwalb, P. F. & Huttenlocher, D. P. (2012). Distance transforms of sampled functions.
//! Theory of Computing 8, 415–428. doi:10.4086/toc.2012.v008a019
//!
//! The N-D transform is a 1-D lower envelope of parabolas along each axis in turn, which is
//! exact for the Euclidean distance; spacing enters as the weight `s_d²` of axis `d`.

use super::patterns::CHUNK;
use rayon::prelude::*;

/// Squared physical distance from every voxel centre to the nearest voxel where `inside` is
/// true; `f64::INFINITY` everywhere when no voxel is inside.
pub(crate) fn squared_distance(shape: &[usize], spacing: &[f64], inside: &[bool]) -> Vec<f64> {
    let mut field: Vec<f64> = inside
        .par_iter()
        .with_min_len(CHUNK)
        .map(|&i| if i { 0.0 } else { f64::INFINITY })
        .collect();
    if !inside.contains(&true) {
        return field;
    }
    let mut lines = vec![0.0; field.len()];
    for axis in 0..shape.len() {
        let n = shape[axis];
        let inner: usize = shape[axis + 1..].iter().product();
        let weight = spacing[axis] * spacing[axis];
        if n <= 1 {
            continue;
        }
        if inner == 1 {
            field.par_chunks_mut(n).for_each_init(
                || Scratch::new(n),
                |scratch, line| {
                    scratch.input.copy_from_slice(line);
                    scratch.transform(weight, line);
                },
            );
            continue;
        }
        // Gather each line (stride `inner`) into `lines`, one contiguous line per (outer, j),
        // transform it there, then scatter it back; both passes are parallel and safe.
        let block = n * inner;
        {
            let field = &field;
            lines.par_chunks_mut(n).enumerate().for_each_init(
                || Scratch::new(n),
                |scratch, (line_idx, out)| {
                    let (outer, j) = (line_idx / inner, line_idx % inner);
                    let base = outer * block + j;
                    for (i, x) in scratch.input.iter_mut().enumerate() {
                        *x = field[base + i * inner];
                    }
                    scratch.transform(weight, out);
                },
            );
        }
        let lines = &lines;
        field
            .par_chunks_mut(inner)
            .enumerate()
            .for_each(|(row, out)| {
                let (outer, i) = (row / n, row % n);
                for (j, x) in out.iter_mut().enumerate() {
                    *x = lines[(outer * inner + j) * n + i];
                }
            });
    }
    field
}

/// Buffers for one 1-D transform.
struct Scratch {
    input: Vec<f64>,
    /// Positions of the parabolas of the lower envelope.
    vertex: Vec<usize>,
    /// Boundaries between envelope parabolas.
    boundary: Vec<f64>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Scratch {
            input: vec![0.0; n],
            vertex: vec![0; n],
            boundary: vec![0.0; n + 1],
        }
    }

    /// `out[p] = min_q (weight·(p − q)² + input[q])`, skipping infinite samples.
    fn transform(&mut self, weight: f64, out: &mut [f64]) {
        let f = &self.input;
        let n = f.len();
        let mut k = 0usize;
        let mut any = false;
        for q in 0..n {
            if f[q].is_infinite() {
                continue;
            }
            if !any {
                any = true;
                self.vertex[0] = q;
                self.boundary[0] = f64::NEG_INFINITY;
                self.boundary[1] = f64::INFINITY;
                continue;
            }
            loop {
                let v = self.vertex[k];
                let s = ((f[q] + weight * (q * q) as f64) - (f[v] + weight * (v * v) as f64))
                    / (2.0 * weight * (q as f64 - v as f64));
                if s <= self.boundary[k] && k > 0 {
                    k -= 1;
                    continue;
                }
                if s <= self.boundary[k] {
                    // k == 0 and the new parabola dominates everywhere.
                    self.vertex[0] = q;
                    self.boundary[0] = f64::NEG_INFINITY;
                    self.boundary[1] = f64::INFINITY;
                } else {
                    k += 1;
                    self.vertex[k] = q;
                    self.boundary[k] = s;
                    self.boundary[k + 1] = f64::INFINITY;
                }
                break;
            }
        }
        if !any {
            out.fill(f64::INFINITY);
            return;
        }
        let mut k = 0usize;
        for (p, o) in out.iter_mut().enumerate() {
            while self.boundary[k + 1] < p as f64 {
                k += 1;
            }
            let v = self.vertex[k];
            let d = p as f64 - v as f64;
            *o = weight * d * d + f[v];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force on small volumes.
    fn brute(shape: &[usize], spacing: &[f64], inside: &[bool]) -> Vec<f64> {
        let coords = |mut flat: usize| {
            let mut c = vec![0usize; shape.len()];
            for axis in (0..shape.len()).rev() {
                c[axis] = flat % shape[axis];
                flat /= shape[axis];
            }
            c
        };
        (0..inside.len())
            .map(|p| {
                let cp = coords(p);
                (0..inside.len())
                    .filter(|&q| inside[q])
                    .map(|q| {
                        let cq = coords(q);
                        (0..shape.len())
                            .map(|a| (spacing[a] * (cp[a] as f64 - cq[a] as f64)).powi(2))
                            .sum::<f64>()
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    #[test]
    fn matches_brute_force() {
        let mut state = 12345u64;
        for (shape, spacing) in [
            (vec![7usize], vec![1.0]),
            (vec![6, 9], vec![1.0, 1.0]),
            (vec![5, 4, 6], vec![2.5, 0.8, 0.8]),
            (vec![3, 1, 8], vec![1.0, 3.0, 0.5]),
        ] {
            let n: usize = shape.iter().product();
            for density in [1u64, 10, 50] {
                let inside: Vec<bool> = (0..n)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        (state >> 33) % 100 < density
                    })
                    .collect();
                let got = squared_distance(&shape, &spacing, &inside);
                let want = brute(&shape, &spacing, &inside);
                for (g, w) in got.iter().zip(&want) {
                    assert!(g == w || (g - w).abs() < 1e-9, "{shape:?}: {g} != {w}");
                }
            }
        }
    }
}
