//! Checks on files read together: same grid, binary values, some foreground.

use crate::ImageError;
use crate::format::LabelFile;

/// Checks that every file has the first file's shape and spacing (spacings compared to a
/// relative 1e-6, since NIfTI stores them as 32-bit floats).
///
/// # Errors
/// [`ImageError::GeometryMismatch`] naming both files.
pub fn require_same_geometry(files: &[LabelFile]) -> Result<(), ImageError> {
    let Some(first) = files.first() else {
        return Ok(());
    };
    for file in &files[1..] {
        if file.volume.shape() != first.volume.shape() {
            return Err(ImageError::GeometryMismatch {
                path: file.path.clone(),
                reference_path: first.path.clone(),
                what: "shape",
                expected: first.volume.shape().iter().map(|&n| n as f64).collect(),
                found: file.volume.shape().iter().map(|&n| n as f64).collect(),
            });
        }
        let same = file
            .volume
            .spacing()
            .iter()
            .zip(first.volume.spacing())
            .all(|(a, b)| (a - b).abs() <= 1e-6 * a.abs().max(b.abs()));
        if !same {
            return Err(ImageError::GeometryMismatch {
                path: file.path.clone(),
                reference_path: first.path.clone(),
                what: "spacing",
                expected: first.volume.spacing().to_vec(),
                found: file.volume.spacing().to_vec(),
            });
        }
    }
    Ok(())
}

/// Checks that a mask holds only 0 and `foreground`.
///
/// # Errors
/// [`ImageError::NotBinary`] naming the first offending voxel, with a hint when the mask is
/// binary with another foreground value (0/255 PNG masks, for example).
pub fn require_binary(file: &LabelFile, foreground: u8) -> Result<(), ImageError> {
    let data = file.volume.data();
    let Some(at) = data.iter().position(|&v| v != 0 && v != foreground) else {
        return Ok(());
    };
    let value = data[at];
    let other_values = data.iter().any(|&v| v != 0 && v != value);
    let hint = if other_values {
        "; for label maps use --method vote or mlstaple".to_string()
    } else {
        format!("; this mask is 0/{value}: use --foreground {value}")
    };
    Err(ImageError::NotBinary {
        path: file.path.clone(),
        index: unflatten(at, file.volume.shape()),
        value,
        foreground,
        hint,
    })
}

/// Checks that a mask has at least one non-zero voxel.
///
/// # Errors
/// [`ImageError::Empty`].
pub fn require_foreground(file: &LabelFile) -> Result<(), ImageError> {
    if file.volume.data().iter().all(|&v| v == 0) {
        return Err(ImageError::Empty {
            path: file.path.clone(),
            what: "the mask is empty (no foreground voxel)".into(),
        });
    }
    Ok(())
}

/// The multi-index of a flat C-order position.
pub(crate) fn unflatten(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for axis in (0..shape.len()).rev() {
        index[axis] = flat % shape[axis];
        flat /= shape[axis];
    }
    index
}
