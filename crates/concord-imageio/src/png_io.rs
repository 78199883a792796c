//! PNG masks: one 2D label map per file.

use crate::ImageError;
use crate::format::atomic;
use concord_consensus::fusion::LabelVolume;
use png::{BitDepth, ColorType};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

/// Reads a PNG as labels `[height, width]`: grey values (1, 2, 4, 8 or 16 bits; 16-bit values
/// must be at most 255), palette indices (not colours), or RGB(A) whose channels are equal.
pub(crate) fn read(path: &Path) -> Result<LabelVolume, ImageError> {
    let file = File::open(path).map_err(|source| ImageError::Io {
        path: path.into(),
        action: "cannot read",
        source,
    })?;
    let malformed = |e: png::DecodingError| ImageError::Malformed {
        path: path.into(),
        format: "PNG",
        reason: e.to_string(),
    };
    let mut decoder = png::Decoder::new(BufReader::new(file));
    // Keep palette indices and packed bits as they are; unpack bits ourselves.
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(malformed)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| ImageError::Unsupported {
            path: path.into(),
            reason: "the image is too large".into(),
        })?;
    let mut buffer = vec![0u8; size];
    let info = reader.next_frame(&mut buffer).map_err(malformed)?;
    let (width, height) = (info.width as usize, info.height as usize);
    let mut labels = Vec::with_capacity(width * height);
    let channels = info.color_type.samples();
    for row in buffer.chunks(info.line_size).take(height) {
        match info.bit_depth {
            BitDepth::One | BitDepth::Two | BitDepth::Four => {
                let bits = info.bit_depth as usize;
                let mask = (1u16 << bits) as u8 - 1;
                for x in 0..width * channels {
                    let bit = x * bits;
                    labels.push((row[bit / 8] >> (8 - bits - bit % 8)) & mask);
                }
            }
            BitDepth::Eight => labels.extend_from_slice(&row[..width * channels]),
            BitDepth::Sixteen => {
                for (i, pair) in row[..2 * width * channels].chunks(2).enumerate() {
                    let value = u16::from_be_bytes([pair[0], pair[1]]);
                    let label = u8::try_from(value).map_err(|_| ImageError::NotALabel {
                        path: path.into(),
                        index: vec![labels.len() / (width * channels), i / channels],
                        value: f64::from(value),
                    })?;
                    labels.push(label);
                }
            }
        }
    }
    let labels = match info.color_type {
        ColorType::Grayscale | ColorType::Indexed => labels,
        ColorType::GrayscaleAlpha => {
            return Err(ImageError::Unsupported {
                path: path.into(),
                reason: "grey + alpha PNG: save the mask without an alpha channel".into(),
            });
        }
        ColorType::Rgb | ColorType::Rgba => {
            let mut grey = Vec::with_capacity(width * height);
            for (i, pixel) in labels.chunks(channels).enumerate() {
                if pixel[0] != pixel[1] || pixel[1] != pixel[2] {
                    return Err(ImageError::Unsupported {
                        path: path.into(),
                        reason: format!(
                            "colour PNG: pixel [{}, {}] is {:?}; label masks must be grey or \
                             palette images",
                            i / width,
                            i % width,
                            &pixel[..3]
                        ),
                    });
                }
                grey.push(pixel[0]);
            }
            grey
        }
    };
    LabelVolume::new(vec![height, width], labels).map_err(|e| ImageError::Malformed {
        path: path.into(),
        format: "PNG",
        reason: e.to_string(),
    })
}

/// Writes a 2D label volume as an 8-bit grey PNG.
pub(crate) fn write(path: &Path, volume: &LabelVolume) -> Result<(), ImageError> {
    let &[height, width] = volume.shape() else {
        return Err(ImageError::Unsupported {
            path: path.into(),
            reason: format!(
                "PNG holds 2D images, this volume has shape {:?} (write .nii or .nii.gz)",
                volume.shape()
            ),
        });
    };
    atomic(path, ".png", |tmp| {
        let io = |source| ImageError::Io {
            path: path.into(),
            action: "cannot write",
            source,
        };
        let file = File::create(tmp).map_err(io)?;
        let encoding = |e: png::EncodingError| ImageError::Io {
            path: path.into(),
            action: "cannot write",
            source: std::io::Error::other(e.to_string()),
        };
        let mut encoder = png::Encoder::new(BufWriter::new(file), width as u32, height as u32);
        encoder.set_color(ColorType::Grayscale);
        encoder.set_depth(BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(encoding)?;
        writer.write_image_data(volume.data()).map_err(encoding)?;
        writer.finish().map_err(encoding)
    })
}
