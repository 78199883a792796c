//! Why a fusion could not run.

/// Why a fusion or a measurement refused its input. Disagreement between readers is never an
/// error; these are inputs the computation cannot take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FusionError {
    /// A volume's data does not fill its shape.
    #[error("shape {shape:?} holds {expected} voxels, but the data has {found}")]
    DataLength {
        /// The declared shape.
        shape: Vec<usize>,
        /// Product of the shape.
        expected: usize,
        /// Length of the data.
        found: usize,
    },
    /// A spacing has the wrong number of axes or a value that is not positive and finite.
    #[error(
        "spacing {spacing:?} does not fit shape {shape:?} (one positive finite value per axis)"
    )]
    Spacing {
        /// The shape.
        shape: Vec<usize>,
        /// The offending spacing.
        spacing: Vec<f64>,
    },
    /// Fusion needs at least one reader (two for pairwise measures).
    #[error("no readers to fuse")]
    NoReaders,
    /// A reader's volume has another shape than the first reader's.
    #[error("reader {reader} has shape {found:?}, but reader 0 has shape {expected:?}")]
    ShapeMismatch {
        /// Index of the reader.
        reader: usize,
        /// Shape of reader 0.
        expected: Vec<usize>,
        /// Shape of this reader.
        found: Vec<usize>,
    },
    /// A reader's volume has another voxel spacing than the first reader's.
    #[error("reader {reader} has spacing {found:?}, but reader 0 has spacing {expected:?}")]
    SpacingMismatch {
        /// Index of the reader.
        reader: usize,
        /// Spacing of reader 0.
        expected: Vec<f64>,
        /// Spacing of this reader.
        found: Vec<f64>,
    },
    /// A parameter is out of its range.
    #[error("parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Every label value 0..=255 is in use, so no value is left to mark undecided voxels.
    #[error("label 255 is in use, so there is no free label for undecided voxels; choose one")]
    NoUndecidedLabel,
}
