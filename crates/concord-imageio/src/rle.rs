//! The run-length-encoded JSON form of label volumes (Concord's API and the conformance
//! fixtures): `{"shape": [...], "dtype": "uint8", "order": "C", "rle": [[value, run], ...]}`,
//! plus an optional `"spacing"` in the order of `shape`.

use crate::ImageError;
use crate::format::atomic;
use concord_consensus::fusion::{LabelVolume, ProbabilityMap};
use serde_json::{Value, json};
use std::path::Path;

/// Decodes the RLE JSON form.
///
/// # Errors
/// A message saying which field is wrong.
pub fn rle_from_json(value: &Value) -> Result<LabelVolume, String> {
    let object = value
        .as_object()
        .ok_or("expected a JSON object with `shape` and `rle`")?;
    let shape: Vec<usize> = object
        .get("shape")
        .and_then(Value::as_array)
        .ok_or("`shape` must be a list of sizes")?
        .iter()
        .map(|n| {
            n.as_u64()
                .map(|n| n as usize)
                .ok_or("`shape` must hold non-negative integers")
        })
        .collect::<Result<_, _>>()?;
    if let Some(order) = object.get("order")
        && order != "C"
    {
        return Err(format!("`order` must be \"C\", found {order}"));
    }
    if let Some(dtype) = object.get("dtype").and_then(Value::as_str)
        && !matches!(
            dtype,
            "uint8"
                | "bool"
                | "int8"
                | "int16"
                | "uint16"
                | "int32"
                | "uint32"
                | "int64"
                | "uint64"
        )
    {
        return Err(format!("`dtype` must be an integer type, found {dtype:?}"));
    }
    let runs = object
        .get("rle")
        .and_then(Value::as_array)
        .ok_or("`rle` must be a list of [value, run] pairs")?;
    let n_voxels: usize = shape.iter().product();
    let mut data = Vec::with_capacity(n_voxels);
    for (i, pair) in runs.iter().enumerate() {
        let pair = pair.as_array().filter(|p| p.len() == 2);
        let (value, run) = pair
            .and_then(|p| Some((p[0].as_u64()?, p[1].as_u64()?)))
            .ok_or_else(|| {
                format!("`rle[{i}]` must be a pair [value, run] of non-negative integers")
            })?;
        let value = u8::try_from(value)
            .map_err(|_| format!("`rle[{i}]`: value {value} is not a label (0..=255)"))?;
        if data.len() as u64 + run > n_voxels as u64 {
            return Err(format!(
                "the runs hold more than the {n_voxels} voxels of shape {shape:?}"
            ));
        }
        data.extend(std::iter::repeat_n(value, run as usize));
    }
    if data.len() != n_voxels {
        return Err(format!(
            "the runs hold {} voxels, but shape {shape:?} has {n_voxels}",
            data.len()
        ));
    }
    let volume = LabelVolume::new(shape, data).map_err(|e| e.to_string())?;
    match object.get("spacing") {
        None | Some(Value::Null) => Ok(volume),
        Some(spacing) => {
            let spacing: Vec<f64> = spacing
                .as_array()
                .and_then(|s| s.iter().map(Value::as_f64).collect())
                .ok_or("`spacing` must be a list of numbers")?;
            volume.with_spacing(spacing).map_err(|e| e.to_string())
        }
    }
}

/// Encodes a label volume in the RLE JSON form (with `spacing` when it is not all 1).
pub fn rle_to_json(volume: &LabelVolume) -> Value {
    let mut runs: Vec<Value> = Vec::new();
    let mut current: Option<(u8, u64)> = None;
    for &v in volume.data() {
        current = match current {
            Some((value, run)) if value == v => Some((value, run + 1)),
            Some((value, run)) => {
                runs.push(json!([value, run]));
                Some((v, 1))
            }
            None => Some((v, 1)),
        };
    }
    if let Some((value, run)) = current {
        runs.push(json!([value, run]));
    }
    let mut out = json!({"shape": volume.shape(), "dtype": "uint8", "order": "C", "rle": runs});
    if volume.spacing().iter().any(|&s| s != 1.0) {
        out["spacing"] = json!(volume.spacing());
    }
    out
}

/// A float array in the fixtures' form: `{"shape", "dtype": "float64", "order": "C", "data"}`,
/// each value rounded to `round` (for instance 1e-6) when given; NaN and infinities as the
/// strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub fn float_array_json(map: &ProbabilityMap, round: Option<f64>) -> Value {
    let data: Vec<Value> = map
        .data()
        .iter()
        .map(|&x| match x {
            x if x.is_nan() => json!("NaN"),
            f64::INFINITY => json!("Infinity"),
            f64::NEG_INFINITY => json!("-Infinity"),
            x => match round {
                Some(step) => json!((x / step).round() * step),
                None => json!(x),
            },
        })
        .collect();
    let mut out = json!({"shape": map.shape(), "dtype": "float64", "order": "C"});
    if let Some(step) = round {
        out["round"] = json!(step);
    }
    out["data"] = Value::Array(data);
    if map.spacing().iter().any(|&s| s != 1.0) {
        out["spacing"] = json!(map.spacing());
    }
    out
}

pub(crate) fn read(path: &Path) -> Result<LabelVolume, ImageError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImageError::Io {
        path: path.into(),
        action: "cannot read",
        source,
    })?;
    let malformed = |reason: String| ImageError::Malformed {
        path: path.into(),
        format: "RLE JSON",
        reason,
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
    rle_from_json(&value).map_err(malformed)
}

pub(crate) fn write(path: &Path, volume: &LabelVolume) -> Result<(), ImageError> {
    write_json(path, &rle_to_json(volume))
}

pub(crate) fn write_floats(path: &Path, map: &ProbabilityMap) -> Result<(), ImageError> {
    write_json(path, &float_array_json(map, None))
}

fn write_json(path: &Path, value: &Value) -> Result<(), ImageError> {
    atomic(path, ".json", |tmp| {
        let mut text = serde_json::to_string(value).expect("JSON values serialise");
        text.push('\n');
        std::fs::write(tmp, text).map_err(|source| ImageError::Io {
            path: path.into(),
            action: "cannot write",
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v = LabelVolume::new(vec![2, 3], vec![0, 0, 1, 1, 1, 0])
            .unwrap()
            .with_spacing(vec![2.0, 0.5])
            .unwrap();
        let json = rle_to_json(&v);
        assert_eq!(json["rle"], json!([[0, 2], [1, 3], [0, 1]]));
        assert_eq!(rle_from_json(&json).unwrap(), v);
    }

    #[test]
    fn refuses_bad_runs() {
        let short = json!({"shape": [2, 2], "rle": [[0, 3]]});
        assert!(rle_from_json(&short).unwrap_err().contains("3 voxels"));
        let big = json!({"shape": [1], "rle": [[256, 1]]});
        assert!(rle_from_json(&big).unwrap_err().contains("not a label"));
    }
}
