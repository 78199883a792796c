//! Why a label file could not be read or written.

use std::path::PathBuf;

/// Why a label file was refused. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The file could not be opened, read or written.
    // The system's reason follows as the error's source (`{:#}` prints the chain).
    #[error("{path}: {action}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("cannot read", "cannot write").
        action: &'static str,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The file name does not say which format to use.
    #[error("{path}: unknown format (expected a name ending in .png, .nii, .nii.gz or .json)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The content is not a valid file of its format.
    #[error("{path}: not a valid {format} file: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The format it claims to be.
        format: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// The file is valid but holds something a label volume cannot be.
    #[error("{path}: {reason}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported.
        reason: String,
    },
    /// A voxel holds a value that is not a label (0..=255 integer).
    #[error("{path}: voxel {index:?} holds {value}, which is not a label (an integer 0..=255)")]
    NotALabel {
        /// The file.
        path: PathBuf,
        /// The voxel, `[z, y, x]`.
        index: Vec<usize>,
        /// The value found (after scaling).
        value: f64,
    },
    /// A file holds no voxels, or (where foreground is required) no foreground voxel.
    #[error("{path}: {what}")]
    Empty {
        /// The file.
        path: PathBuf,
        /// What is empty.
        what: String,
    },
    /// A mask expected to be binary holds another value.
    #[error(
        "{path}: not a binary mask: voxel {index:?} holds {value} (expected 0 or {foreground}{hint})"
    )]
    NotBinary {
        /// The file.
        path: PathBuf,
        /// The voxel, `[z, y, x]`.
        index: Vec<usize>,
        /// The value found.
        value: u8,
        /// The foreground value expected.
        foreground: u8,
        /// A suggestion, such as another foreground value.
        hint: String,
    },
    /// Two files do not cover the same grid.
    #[error("{path}: {what} {found:?} differs from {reference_path}'s {expected:?}")]
    GeometryMismatch {
        /// The file that differs.
        path: PathBuf,
        /// The file it was compared with.
        reference_path: PathBuf,
        /// "shape" or "spacing".
        what: &'static str,
        /// The reference's value.
        expected: Vec<f64>,
        /// This file's value.
        found: Vec<f64>,
    },
}
