//! Choosing the format from the file name, and the types every format reads into.

use crate::{ImageError, nifti_io, png_io, rle};
use concord_consensus::fusion::{LabelVolume, ProbabilityMap};
use std::path::{Path, PathBuf};

/// A file format for label volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG, 2D: grey (1–16 bits), palette indices, or RGB(A) with equal channels.
    Png,
    /// NIfTI-1 single file, uncompressed.
    Nifti,
    /// NIfTI-1 single file, gzip-compressed.
    NiftiGz,
    /// `{"shape", "dtype", "order", "rle"}` JSON (see `conformance/README.md`).
    Json,
}

impl Format {
    /// The format a file name asks for.
    ///
    /// # Errors
    /// [`ImageError::UnknownFormat`].
    pub fn of(path: &Path) -> Result<Format, ImageError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(".png") {
            Ok(Format::Png)
        } else if name.ends_with(".nii") {
            Ok(Format::Nifti)
        } else if name.ends_with(".nii.gz") {
            Ok(Format::NiftiGz)
        } else if name.ends_with(".json") {
            Ok(Format::Json)
        } else {
            Err(ImageError::UnknownFormat { path: path.into() })
        }
    }
}

/// Where a volume sits in space, kept so that outputs overlay their inputs in a viewer. For
/// NIfTI inputs this is the whole header (orientation, origin, units); other formats have only
/// the spacing that the volume itself carries.
#[derive(Debug, Clone, Default)]
pub struct Geometry {
    pub(crate) nifti: Option<Box<nifti::NiftiHeader>>,
}

/// A label volume read from a file.
#[derive(Debug, Clone)]
pub struct LabelFile {
    /// The file it came from.
    pub path: PathBuf,
    /// The labels, C order (`[z, y, x]`), with the file's voxel spacing.
    pub volume: LabelVolume,
    /// The file's placement in space.
    pub geometry: Geometry,
}

/// Reads a label volume (labels are integers 0..=255).
///
/// # Errors
/// [`ImageError`] naming the file: unreadable, malformed, unsupported voxel type, a value that
/// is not a label, or no voxels at all.
pub fn read_labels(path: &Path) -> Result<LabelFile, ImageError> {
    let (volume, geometry) = match Format::of(path)? {
        Format::Png => (png_io::read(path)?, Geometry::default()),
        Format::Nifti | Format::NiftiGz => {
            let (volume, header) = nifti_io::read(path)?;
            (
                volume,
                Geometry {
                    nifti: Some(Box::new(header)),
                },
            )
        }
        Format::Json => (rle::read(path)?, Geometry::default()),
    };
    if volume.n_voxels() == 0 {
        return Err(ImageError::Empty {
            path: path.into(),
            what: format!("the image has no voxels (shape {:?})", volume.shape()),
        });
    }
    Ok(LabelFile {
        path: path.into(),
        volume,
        geometry,
    })
}

/// Writes a label volume in the format the file name asks for, placed like `geometry` (when it
/// came from a NIfTI file and the output is NIfTI).
///
/// # Errors
/// [`ImageError`] naming the file: unknown format, a PNG that is not 2D, or an I/O failure.
pub fn write_labels(
    path: &Path,
    volume: &LabelVolume,
    geometry: Option<&Geometry>,
) -> Result<(), ImageError> {
    match Format::of(path)? {
        Format::Png => png_io::write(path, volume),
        Format::Nifti => nifti_io::write(path, volume, geometry, false),
        Format::NiftiGz => nifti_io::write(path, volume, geometry, true),
        Format::Json => rle::write(path, volume),
    }
}

/// Writes a probability map: NIfTI (64-bit floats) or JSON (a float array); PNG is refused.
///
/// # Errors
/// [`ImageError`] naming the file.
pub fn write_probability(
    path: &Path,
    map: &ProbabilityMap,
    geometry: Option<&Geometry>,
) -> Result<(), ImageError> {
    match Format::of(path)? {
        Format::Png => Err(ImageError::Unsupported {
            path: path.into(),
            reason: "a probability map needs a float format: use .nii, .nii.gz or .json".into(),
        }),
        Format::Nifti => nifti_io::write(path, map, geometry, false),
        Format::NiftiGz => nifti_io::write(path, map, geometry, true),
        Format::Json => rle::write_floats(path, map),
    }
}

/// Writes through a temporary file beside `path`, renamed over it when `write` succeeded.
pub(crate) fn atomic(
    path: &Path,
    suffix: &str,
    write: impl FnOnce(&Path) -> Result<(), ImageError>,
) -> Result<(), ImageError> {
    let io = |source| ImageError::Io {
        path: path.into(),
        action: "cannot write",
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".concord-")
        .suffix(suffix)
        .tempfile_in(dir)
        .map_err(io)?;
    write(tmp.path())?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
