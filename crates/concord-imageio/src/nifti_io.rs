//! NIfTI-1 single files (`.nii`, `.nii.gz`), through the `nifti` crate.
//!
//! NIfTI lists dimensions `(x, y, z)` with x fastest in memory; Concord's volumes are C order
//! `[z, y, x]` with x fastest. The bytes are laid out the same, so reading and writing only
//! reverse the lists of dimensions and spacings.

use crate::ImageError;
use crate::check::unflatten;
use crate::format::{Geometry, atomic};
use concord_consensus::fusion::{LabelVolume, Volume};
use nifti::{Endianness, NiftiHeader, NiftiObject, NiftiType, NiftiVolume, ReaderOptions};
use std::path::Path;

/// Reads a label volume and the header it came with.
pub(crate) fn read(path: &Path) -> Result<(LabelVolume, NiftiHeader), ImageError> {
    let object = ReaderOptions::new().read_file(path).map_err(|e| match e {
        nifti::NiftiError::Io(source) if source.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Malformed {
                path: path.into(),
                format: "NIfTI-1",
                reason: "the file ends before its header or its voxels do".into(),
            }
        }
        nifti::NiftiError::Io(source) => ImageError::Io {
            path: path.into(),
            action: "cannot read",
            source,
        },
        e => ImageError::Malformed {
            path: path.into(),
            format: "NIfTI-1",
            reason: e.to_string(),
        },
    })?;
    let header = object.header().clone();
    let volume = object.into_volume();
    let unsupported = |reason: String| ImageError::Unsupported {
        path: path.into(),
        reason,
    };
    // Trailing axes of size 1 (a 3D volume stored with t = 1) are dropped.
    let mut dims: Vec<usize> = volume.dim().iter().map(|&d| usize::from(d)).collect();
    while dims.len() > 2 && dims.last() == Some(&1) {
        dims.pop();
    }
    if dims.len() > 3 {
        return Err(unsupported(format!(
            "{}D image (dim {:?}); label volumes are 2D or 3D",
            dims.len(),
            dims
        )));
    }
    let shape: Vec<usize> = dims.iter().rev().copied().collect();
    // pixdim 0 (unset) counts as 1; a negative pixdim is a size all the same.
    let spacing: Vec<f64> = (1..=dims.len())
        .rev()
        .map(|axis| match f64::from(header.pixdim[axis]).abs() {
            s if s > 0.0 && s.is_finite() => s,
            _ => 1.0,
        })
        .collect();
    let datatype = volume.data_type();
    let (slope, intercept) = (f64::from(header.scl_slope), f64::from(header.scl_inter));
    // NIfTI: a slope of 0 means "no scaling".
    let scaled = slope != 0.0 && (slope != 1.0 || intercept != 0.0);
    let raw = volume.into_raw_data();
    let labels = if datatype == NiftiType::Uint8 && !scaled {
        raw
    } else {
        let values = decode(&raw, datatype, header.endianness).ok_or_else(|| {
            unsupported(format!(
                "voxel type {datatype:?} cannot hold labels (use an integer or float type)"
            ))
        })?;
        let mut labels = Vec::with_capacity(values.len());
        for (at, value) in values.into_iter().enumerate() {
            let value = if scaled {
                value * slope + intercept
            } else {
                value
            };
            if !(value.fract() == 0.0 && (0.0..=255.0).contains(&value)) {
                return Err(ImageError::NotALabel {
                    path: path.into(),
                    index: unflatten(at, &shape),
                    value,
                });
            }
            labels.push(value as u8);
        }
        labels
    };
    let volume = LabelVolume::new(shape, labels)
        .and_then(|v| v.with_spacing(spacing))
        .map_err(|e| ImageError::Malformed {
            path: path.into(),
            format: "NIfTI-1",
            reason: e.to_string(),
        })?;
    Ok((volume, header))
}

/// The voxel values as `f64`, `None` for types that are not real numbers.
fn decode(raw: &[u8], datatype: NiftiType, endianness: Endianness) -> Option<Vec<f64>> {
    fn each<const N: usize>(raw: &[u8], convert: impl Fn([u8; N]) -> f64) -> Vec<f64> {
        raw.chunks_exact(N)
            .map(|c| convert(c.try_into().expect("chunks_exact gives N bytes")))
            .collect()
    }
    let little = endianness == Endianness::Little;
    macro_rules! number {
        ($t:ty) => {
            each(raw, |b| {
                (if little {
                    <$t>::from_le_bytes(b)
                } else {
                    <$t>::from_be_bytes(b)
                }) as f64
            })
        };
    }
    Some(match datatype {
        NiftiType::Uint8 => raw.iter().map(|&b| f64::from(b)).collect(),
        NiftiType::Int8 => raw.iter().map(|&b| f64::from(b as i8)).collect(),
        NiftiType::Int16 => number!(i16),
        NiftiType::Uint16 => number!(u16),
        NiftiType::Int32 => number!(i32),
        NiftiType::Uint32 => number!(u32),
        NiftiType::Int64 => number!(i64),
        NiftiType::Uint64 => number!(u64),
        NiftiType::Float32 => number!(f32),
        NiftiType::Float64 => number!(f64),
        _ => return None,
    })
}

/// Writes a volume (`u8` labels or `f64` probabilities), in the space of `geometry` when it
/// came from a NIfTI file of the same grid.
pub(crate) fn write<T>(
    path: &Path,
    volume: &Volume<T>,
    geometry: Option<&Geometry>,
    compress: bool,
) -> Result<(), ImageError>
where
    T: nifti::DataElement + bytemuck::Pod,
{
    let header = header_for(volume, geometry);
    let shape: Vec<usize> = volume.shape().to_vec();
    let view = ndarray::ArrayView::from_shape(ndarray::IxDyn(&shape), volume.data())
        .expect("a volume's data fills its shape")
        .reversed_axes();
    let suffix = if compress { ".nii.gz" } else { ".nii" };
    atomic(path, suffix, |tmp| {
        nifti::writer::WriterOptions::new(tmp)
            .reference_header(&header)
            .compress(compress)
            .write_nifti(&view)
            .map_err(|e| ImageError::Io {
                path: path.into(),
                action: "cannot write",
                source: match e {
                    nifti::NiftiError::Io(io) => io,
                    e => std::io::Error::other(e.to_string()),
                },
            })
    })
}

/// The header to write: the reference file's (so that orientation and origin carry over) when
/// its grid matches, otherwise a plain one with the volume's spacing in millimetres.
fn header_for<T>(volume: &Volume<T>, geometry: Option<&Geometry>) -> NiftiHeader {
    let n_axes = volume.shape().len();
    let spacing: Vec<f32> = volume.spacing().iter().rev().map(|&s| s as f32).collect();
    let reference = geometry.and_then(|g| g.nifti.as_deref()).filter(|h| {
        let dims: Vec<usize> = h.dim[1..=usize::from(h.dim[0]).min(7)]
            .iter()
            .map(|&d| usize::from(d))
            .collect();
        let shape: Vec<usize> = volume.shape().iter().rev().copied().collect();
        dims.starts_with(&shape) && dims[shape.len()..].iter().all(|&d| d == 1)
    });
    let mut header = match reference {
        Some(h) => h.clone(),
        None => {
            let mut h = NiftiHeader {
                xyzt_units: 2, // millimetres
                qform_code: 0,
                sform_code: 1,
                srow_x: [0.0; 4],
                srow_y: [0.0; 4],
                srow_z: [0.0; 4],
                ..NiftiHeader::default()
            };
            let rows = [&mut h.srow_x, &mut h.srow_y, &mut h.srow_z];
            for (axis, row) in rows.into_iter().enumerate() {
                row[axis] = spacing.get(axis).copied().unwrap_or(1.0);
            }
            h
        }
    };
    header.pixdim[1..=n_axes].copy_from_slice(&spacing);
    header.cal_min = 0.0;
    header.cal_max = 0.0;
    header.glmin = 0;
    header.glmax = 0;
    header.descrip = b"concord".to_vec();
    header
}
