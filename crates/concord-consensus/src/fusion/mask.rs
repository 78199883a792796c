//! Dense N-D volumes: label maps, binary masks and probability maps.

use super::FusionError;

/// A dense N-dimensional image in numpy's C order (the last index varies fastest), with the
/// physical size of a voxel along each axis.
///
/// Shapes are `[y, x]` for 2D and `[z, y, x]` for 3D, and `spacing` follows the same axis
/// order. (SimpleITK and NIfTI list size and spacing the other way round, `(x, y, z)`; the
/// memory layout is the same.)
///
/// # Example
/// ```
/// use concord_consensus::fusion::LabelVolume;
/// let mask = LabelVolume::new(vec![2, 3], vec![0, 1, 1, 0, 0, 1]).unwrap();
/// assert_eq!(mask.get(&[1, 2]), 1);
/// assert_eq!(mask.n_voxels(), 6);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Volume<T> {
    shape: Vec<usize>,
    spacing: Vec<f64>,
    data: Vec<T>,
}

/// A label map (or a binary mask): one `u8` label per voxel.
pub type LabelVolume = Volume<u8>;

/// A probability map, such as STAPLE's posterior probability of foreground.
pub type ProbabilityMap = Volume<f64>;

impl<T> Volume<T> {
    /// A volume of `shape` holding `data` in C order, with unit spacing.
    ///
    /// # Errors
    /// [`FusionError::DataLength`] when `data` does not have one value per voxel.
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Result<Self, FusionError> {
        let expected = shape.iter().product::<usize>();
        if expected != data.len() {
            return Err(FusionError::DataLength {
                shape,
                expected,
                found: data.len(),
            });
        }
        let spacing = vec![1.0; shape.len()];
        Ok(Volume {
            shape,
            spacing,
            data,
        })
    }

    /// The same volume with another voxel spacing (in axis order, like `shape`).
    ///
    /// # Errors
    /// [`FusionError::Spacing`] when `spacing` does not have one positive finite value per axis.
    pub fn with_spacing(mut self, spacing: Vec<f64>) -> Result<Self, FusionError> {
        if spacing.len() != self.shape.len() || spacing.iter().any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err(FusionError::Spacing {
                shape: self.shape,
                spacing,
            });
        }
        self.spacing = spacing;
        Ok(self)
    }

    /// The size along each axis, slowest first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The physical voxel size along each axis, in the order of [`Volume::shape`].
    pub fn spacing(&self) -> &[f64] {
        &self.spacing
    }

    /// The voxels in C order.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// The voxels in C order, mutable.
    pub fn data_mut(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// Consumes the volume, returning its voxels.
    pub fn into_data(self) -> Vec<T> {
        self.data
    }

    /// The number of voxels.
    pub fn n_voxels(&self) -> usize {
        self.data.len()
    }

    /// The physical volume of one voxel (the product of the spacing).
    pub fn voxel_volume(&self) -> f64 {
        self.spacing.iter().product()
    }

    /// A volume of the same shape and spacing holding other data.
    ///
    /// # Panics
    /// When `data` has another length (an internal invariant of the fusion code).
    pub(crate) fn same_geometry<U>(&self, data: Vec<U>) -> Volume<U> {
        assert_eq!(data.len(), self.data.len(), "same geometry, same length");
        Volume {
            shape: self.shape.clone(),
            spacing: self.spacing.clone(),
            data,
        }
    }

    /// The flat C-order index of a multi-index.
    ///
    /// # Panics
    /// When `index` has the wrong number of axes or is out of bounds.
    pub fn flat_index(&self, index: &[usize]) -> usize {
        assert_eq!(index.len(), self.shape.len(), "one index per axis");
        index.iter().zip(&self.shape).fold(0, |flat, (&i, &n)| {
            assert!(i < n, "index {i} out of bounds for an axis of size {n}");
            flat * n + i
        })
    }
}

impl<T: Copy> Volume<T> {
    /// The value at a multi-index (`[z, y, x]` in 3D).
    ///
    /// # Panics
    /// When `index` has the wrong number of axes or is out of bounds.
    pub fn get(&self, index: &[usize]) -> T {
        self.data[self.flat_index(index)]
    }
}

impl LabelVolume {
    /// The largest label present (0 for an empty volume).
    pub fn max_label(&self) -> u8 {
        self.data.iter().copied().max().unwrap_or(0)
    }

    /// The number of non-zero voxels.
    pub fn count_nonzero(&self) -> usize {
        self.data.iter().filter(|&&v| v != 0).count()
    }

    /// The binary mask `value == label` (1 where equal, 0 elsewhere).
    pub fn select(&self, label: u8) -> LabelVolume {
        self.same_geometry(self.data.iter().map(|&v| u8::from(v == label)).collect())
    }
}

impl ProbabilityMap {
    /// The binary mask `probability >= threshold` (NaN gives 0).
    pub fn threshold(&self, threshold: f64) -> LabelVolume {
        self.same_geometry(
            self.data
                .iter()
                .map(|&p| u8::from(p >= threshold))
                .collect(),
        )
    }
}

/// Checks that every reader has the first reader's shape and spacing.
pub(crate) fn check_same_geometry<T>(readers: &[&Volume<T>]) -> Result<(), FusionError> {
    let first = readers.first().ok_or(FusionError::NoReaders)?;
    for (reader, volume) in readers.iter().enumerate().skip(1) {
        if volume.shape != first.shape {
            return Err(FusionError::ShapeMismatch {
                reader,
                expected: first.shape.clone(),
                found: volume.shape.clone(),
            });
        }
        if volume.spacing != first.spacing {
            return Err(FusionError::SpacingMismatch {
                reader,
                expected: first.spacing.clone(),
                found: volume.spacing.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_order_indexing() {
        let v = LabelVolume::new(vec![2, 2, 3], (0..12).collect()).unwrap();
        assert_eq!(v.get(&[1, 0, 2]), 8);
        assert_eq!(v.flat_index(&[0, 1, 0]), 3);
    }

    #[test]
    fn refuses_bad_geometry() {
        assert!(matches!(
            LabelVolume::new(vec![2, 2], vec![0; 3]),
            Err(FusionError::DataLength {
                expected: 4,
                found: 3,
                ..
            })
        ));
        let v = LabelVolume::new(vec![2, 2], vec![0; 4]).unwrap();
        assert!(v.clone().with_spacing(vec![1.0]).is_err());
        assert!(v.clone().with_spacing(vec![1.0, 0.0]).is_err());
        assert!(v.with_spacing(vec![1.0, f64::NAN]).is_err());
    }
}
