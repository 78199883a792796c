//! Reading and writing label volumes: PNG masks (2D), NIfTI-1 `.nii` / `.nii.gz` (2D and 3D),
//! and the run-length-encoded JSON form of Concord's API and conformance fixtures.
//!
//! Every error names the file and what is wrong with it. The format follows from the file name:
//! `.png`, `.nii`, `.nii.gz`, `.json`.
//!
//! ```no_run
//! use concord_imageio::{read_labels, write_labels};
//! let reader = read_labels("reader-1.nii.gz".as_ref())?;
//! println!("{:?} voxels of {:?}", reader.volume.shape(), reader.volume.spacing());
//! write_labels("copy.nii".as_ref(), &reader.volume, Some(&reader.geometry))?;
//! # Ok::<(), concord_imageio::ImageError>(())
//! ```
//!
//! Writers are atomic: the data goes to a temporary file beside the target, renamed over it
//! only when complete.

#![warn(missing_docs)]

mod check;
mod error;
mod format;
mod nifti_io;
mod png_io;
mod rle;

pub use check::{require_binary, require_foreground, require_same_geometry};
pub use error::ImageError;
pub use format::{Format, Geometry, LabelFile, read_labels, write_labels, write_probability};
pub use rle::{float_array_json, rle_from_json, rle_to_json};
