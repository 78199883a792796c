//! Reader patterns: the tuple of labels the readers gave a voxel, counted once per distinct tuple.
//!
//! STAPLE's E-step depends on a voxel only through its pattern, and its M-step only through the
//! count of each pattern. Five binary readers give at most 32 patterns, so an iteration costs 32
//! evaluations instead of one per voxel. Patterns are kept in a canonical order (the reader
//! tuple read last reader first), and every floating-point sum runs over patterns in that order,
//! so results are the same bit for bit for any thread count and any voxel order.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Voxels per parallel work unit. Fixed, so that no result depends on the thread count.
pub(crate) const CHUNK: usize = 1 << 15;

/// Dense code tables up to this many codes; beyond it, patterns are hashed.
const MAX_DENSE_CODES: usize = 1 << 16;

/// The distinct patterns of a set of same-sized reader volumes.
#[derive(Debug)]
pub(crate) struct Patterns {
    n_readers: usize,
    /// Pattern `k`'s symbols are `symbols[k * n_readers..][..n_readers]`, by reader.
    symbols: Vec<u8>,
    counts: Vec<u64>,
    lookup: Lookup,
    n_voxels: usize,
}

#[derive(Debug)]
enum Lookup {
    /// `code = Σ_r symbol_r · radix^r`; `slot[code]` is the pattern index.
    Dense {
        radix: u32,
        map: Box<[u8; 256]>,
        /// `map` is the identity on every value present, so codes skip the table.
        direct: bool,
        slot: Vec<u32>,
    },
    /// The pattern index of every voxel.
    PerVoxel(Vec<u32>),
}

impl Patterns {
    /// Counts the patterns of `readers` (equal lengths) after mapping every value through
    /// `map`; every mapped symbol must be below `radix`.
    pub(crate) fn build(readers: &[&[u8]], map: &[u8; 256], radix: u32) -> Patterns {
        let n_readers = readers.len();
        let n_voxels = readers.first().map_or(0, |r| r.len());
        debug_assert!(readers.iter().all(|r| r.len() == n_voxels));
        let n_codes = (radix as usize)
            .checked_pow(n_readers as u32)
            .filter(|&n| n <= MAX_DENSE_CODES);
        match n_codes {
            Some(n_codes) => Self::build_dense(readers, map, radix, n_codes),
            None => Self::build_hashed(readers, map),
        }
    }

    fn build_dense(readers: &[&[u8]], map: &[u8; 256], radix: u32, n_codes: usize) -> Patterns {
        let n_voxels = readers.first().map_or(0, |r| r.len());
        let max_value = readers
            .iter()
            .map(|r| {
                r.par_chunks(CHUNK)
                    .map(|c| c.iter().copied().max().unwrap_or(0))
                    .max()
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0);
        let direct = (0..=usize::from(max_value)).all(|v| usize::from(map[v]) == v);
        // Integer counts: the split among threads cannot change the sum.
        let histogram = (0..n_voxels.div_ceil(CHUNK))
            .into_par_iter()
            .fold(
                || (vec![0u64; 4 * n_codes], vec![0u32; CHUNK]),
                |(mut histogram, mut codes), chunk| {
                    let start = chunk * CHUNK;
                    let len = CHUNK.min(n_voxels - start);
                    dense_codes(readers, map, direct, radix, start, &mut codes[..len]);
                    // Four interleaved sub-histograms: runs of equal codes (most voxels) would
                    // otherwise wait on one counter.
                    let mut quads = codes[..len].chunks_exact(4);
                    for quad in &mut quads {
                        histogram[quad[0] as usize] += 1;
                        histogram[n_codes + quad[1] as usize] += 1;
                        histogram[2 * n_codes + quad[2] as usize] += 1;
                        histogram[3 * n_codes + quad[3] as usize] += 1;
                    }
                    for &code in quads.remainder() {
                        histogram[code as usize] += 1;
                    }
                    (histogram, codes)
                },
            )
            .map(|(histogram, _)| {
                let mut merged = histogram[..n_codes].to_vec();
                for part in histogram[n_codes..].chunks(n_codes) {
                    merged.iter_mut().zip(part).for_each(|(x, y)| *x += y);
                }
                merged
            })
            .reduce(
                || vec![0u64; n_codes],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        let n_readers = readers.len();
        let mut slot = vec![u32::MAX; n_codes];
        let mut symbols = Vec::new();
        let mut counts = Vec::new();
        for (code, &count) in histogram.iter().enumerate() {
            if count == 0 {
                continue;
            }
            slot[code] = counts.len() as u32;
            counts.push(count);
            let mut rest = code as u32;
            for _ in 0..n_readers {
                symbols.push((rest % radix) as u8);
                rest /= radix;
            }
        }
        Patterns {
            n_readers,
            symbols,
            counts,
            lookup: Lookup::Dense {
                radix,
                map: Box::new(*map),
                direct,
                slot,
            },
            n_voxels,
        }
    }

    fn build_hashed(readers: &[&[u8]], map: &[u8; 256]) -> Patterns {
        let n_readers = readers.len();
        let n_voxels = readers.first().map_or(0, |r| r.len());
        // Each chunk numbers its patterns in order of first appearance.
        let chunks: Vec<ChunkPatterns> = (0..n_voxels.div_ceil(CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let start = chunk * CHUNK;
                let end = (start + CHUNK).min(n_voxels);
                let mut index: FxHashMap<Box<[u8]>, u32> = FxHashMap::default();
                let mut keys = Vec::new();
                let mut counts = Vec::new();
                let mut local = Vec::with_capacity(end - start);
                let mut key = vec![0u8; n_readers];
                for voxel in start..end {
                    for (k, reader) in key.iter_mut().zip(readers) {
                        *k = map[reader[voxel] as usize];
                    }
                    let id = match index.get(&key[..]) {
                        Some(&id) => id,
                        None => {
                            let id = keys.len() as u32;
                            index.insert(key.clone().into_boxed_slice(), id);
                            keys.push(key.clone().into_boxed_slice());
                            counts.push(0);
                            id
                        }
                    };
                    counts[id as usize] += 1;
                    local.push(id);
                }
                (keys, counts, local)
            })
            .collect();
        // Merge, then sort into the canonical order (last reader most significant).
        let mut global: FxHashMap<Box<[u8]>, u32> = FxHashMap::default();
        let mut keys: Vec<Box<[u8]>> = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        let mut renumber: Vec<Vec<u32>> = Vec::with_capacity(chunks.len());
        for (chunk_keys, chunk_counts, _) in &chunks {
            let mut ids = Vec::with_capacity(chunk_keys.len());
            for (key, &count) in chunk_keys.iter().zip(chunk_counts) {
                let id = *global.entry(key.clone()).or_insert_with(|| {
                    keys.push(key.clone());
                    counts.push(0);
                    (keys.len() - 1) as u32
                });
                counts[id as usize] += count;
                ids.push(id);
            }
            renumber.push(ids);
        }
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        order.sort_by(|&a, &b| {
            keys[a as usize]
                .iter()
                .rev()
                .cmp(keys[b as usize].iter().rev())
        });
        let mut rank = vec![0u32; keys.len()];
        for (r, &id) in order.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        let symbols = order
            .iter()
            .flat_map(|&id| keys[id as usize].iter().copied())
            .collect();
        let sorted_counts = order.iter().map(|&id| counts[id as usize]).collect();
        let mut per_voxel = vec![0u32; n_voxels];
        per_voxel
            .par_chunks_mut(CHUNK)
            .zip(chunks.par_iter().zip(renumber.par_iter()))
            .for_each(|(out, ((_, _, local), ids))| {
                for (o, &l) in out.iter_mut().zip(local) {
                    *o = rank[ids[l as usize] as usize];
                }
            });
        Patterns {
            n_readers,
            symbols,
            counts: sorted_counts,
            lookup: Lookup::PerVoxel(per_voxel),
            n_voxels,
        }
    }

    /// The number of distinct patterns.
    pub(crate) fn len(&self) -> usize {
        self.counts.len()
    }

    /// How many voxels have each pattern.
    pub(crate) fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The symbols of pattern `k`, by reader.
    pub(crate) fn symbols(&self, k: usize) -> &[u8] {
        &self.symbols[k * self.n_readers..(k + 1) * self.n_readers]
    }

    /// One value per voxel: `values[pattern of the voxel]`.
    pub(crate) fn expand<T: Copy + Send + Sync + Default>(
        &self,
        readers: &[&[u8]],
        values: &[T],
    ) -> Vec<T> {
        let mut out = vec![T::default(); self.n_voxels];
        match &self.lookup {
            Lookup::Dense {
                radix,
                map,
                direct,
                slot,
            } => {
                // One gather per voxel: the value of each code (codes no voxel has stay default).
                let by_code: Vec<T> = slot
                    .iter()
                    .map(|&k| values.get(k as usize).copied().unwrap_or_default())
                    .collect();
                out.par_chunks_mut(CHUNK).enumerate().for_each_init(
                    || vec![0u32; CHUNK],
                    |codes, (chunk, out)| {
                        let codes = &mut codes[..out.len()];
                        dense_codes(readers, map, *direct, *radix, chunk * CHUNK, codes);
                        for (o, &code) in out.iter_mut().zip(codes.iter()) {
                            *o = by_code[code as usize];
                        }
                    },
                );
            }
            Lookup::PerVoxel(index) => {
                out.par_chunks_mut(CHUNK)
                    .zip(index.par_chunks(CHUNK))
                    .for_each(|(out, index)| {
                        for (o, &k) in out.iter_mut().zip(index) {
                            *o = values[k as usize];
                        }
                    });
            }
        }
        out
    }
}

/// Dense codes of the voxels `start..start + codes.len()`, one reader at a time so that the
/// inner loop runs over contiguous bytes.
fn dense_codes(
    readers: &[&[u8]],
    map: &[u8; 256],
    direct: bool,
    radix: u32,
    start: usize,
    codes: &mut [u32],
) {
    codes.fill(0);
    for reader in readers.iter().rev() {
        let values = &reader[start..start + codes.len()];
        if direct {
            // No table lookup: the loop vectorises.
            for (code, &v) in codes.iter_mut().zip(values) {
                *code = *code * radix + u32::from(v);
            }
        } else {
            for (code, &v) in codes.iter_mut().zip(values) {
                *code = *code * radix + u32::from(map[v as usize]);
            }
        }
    }
}

/// One chunk's patterns in order of first appearance, their counts, and each voxel's local id.
type ChunkPatterns = (Vec<Box<[u8]>>, Vec<u64>, Vec<u32>);

/// The identity map of byte values.
pub(crate) fn identity_map() -> [u8; 256] {
    std::array::from_fn(|v| v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(readers: &[&[u8]], radix: u32) {
        let map = identity_map();
        let patterns = Patterns::build(readers, &map, radix);
        let n_voxels = readers[0].len();
        assert_eq!(patterns.counts().iter().sum::<u64>(), n_voxels as u64);
        let ids: Vec<u32> = (0..patterns.len() as u32).collect();
        let per_voxel = patterns.expand(readers, &ids);
        for (voxel, &k) in per_voxel.iter().enumerate() {
            let want: Vec<u8> = readers.iter().map(|r| r[voxel]).collect();
            assert_eq!(patterns.symbols(k as usize), &want[..]);
        }
        // Canonical order: strictly increasing with the last reader most significant.
        for k in 1..patterns.len() {
            let a = patterns.symbols(k - 1).iter().rev();
            let b = patterns.symbols(k).iter().rev();
            assert!(a.lt(b));
        }
    }

    #[test]
    fn dense_and_hashed_agree_with_the_voxels() {
        let n = 3 * CHUNK + 17;
        let readers: Vec<Vec<u8>> = (0..5u32)
            .map(|r| {
                (0..n as u32)
                    .map(|v| ((v * 7 + r * 13) % 5 % 2) as u8)
                    .collect()
            })
            .collect();
        let refs: Vec<&[u8]> = readers.iter().map(|r| &r[..]).collect();
        check(&refs, 2);
        let many: Vec<Vec<u8>> = (0..20u32)
            .map(|r| (0..n as u32).map(|v| ((v / 3 + r) % 4) as u8).collect())
            .collect();
        let refs: Vec<&[u8]> = many.iter().map(|r| &r[..]).collect();
        check(&refs, 4);
    }
}
