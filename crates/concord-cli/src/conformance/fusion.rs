//! The kinds of `conformance/fusion.json` (SimpleITK and numpy oracles), computed from a case's
//! `input` alone and returned under the keys of its `expected`.

use anyhow::{Context, anyhow};
use concord_consensus::fusion::{
    LabelVolume, LabelVoting, MultiLabelStaple, Staple, distances, overlap,
};
use concord_imageio::{float_array_json, rle_from_json, rle_to_json};
use serde_json::{Value, json};

/// Computes one case of a fusion kind; `None` for kinds of other families.
///
/// Non-finite floats come back as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, masks as
/// RLE arrays, and float arrays in the fixtures' rounded form.
pub(crate) fn compute(kind: &str, input: &Value) -> Option<anyhow::Result<Value>> {
    let result = match kind {
        "staple_binary" => staple_binary(input),
        "multilabel_staple" => multilabel_staple(input),
        "label_voting" => label_voting(input),
        "overlap_dice_jaccard" => overlap_dice_jaccard(input),
        "hausdorff" => hausdorff(input),
        _ => return None,
    };
    Some(result)
}

fn staple_binary(input: &Value) -> anyhow::Result<Value> {
    let masks = volumes(&input["masks"], "masks")?;
    let parameters = &input["parameters"];
    let staple = Staple {
        foreground: float_or(&parameters["foreground_value"], 1.0)?,
        confidence_weight: float_or(&parameters["confidence_weight"], 1.0)?,
        max_iterations: match parameters["maximum_iterations"].as_u64() {
            Some(n) => u32::try_from(n).context("`maximum_iterations` exceeds 2^32 - 1")?,
            None => u32::MAX,
        },
    };
    let fit = staple.fit(&masks.iter().collect::<Vec<_>>())?;
    Ok(json!({
        "probability": float_array_json(&fit.probability, Some(1e-6)),
        "sensitivity": numbers(&fit.sensitivity),
        "specificity": numbers(&fit.specificity),
        "elapsed_iterations": fit.iterations,
        "mask_ge_0_5": rle_to_json(&fit.mask()),
        "probability_has_nan": fit.probability.data().iter().any(|p| p.is_nan()),
    }))
}

fn multilabel_staple(input: &Value) -> anyhow::Result<Value> {
    let maps = volumes(&input["label_maps"], "label_maps")?;
    let parameters = &input["parameters"];
    let staple = MultiLabelStaple {
        max_iterations: optional_u32(&parameters["maximum_number_of_iterations"])?,
        termination_threshold: float_or(&parameters["termination_update_threshold"], 1e-5)?,
        undecided_label: optional_label(&parameters["label_for_undecided_pixels"])?,
        priors: match &parameters["prior_probabilities"] {
            Value::Null => None,
            v => Some(
                v.as_array()
                    .context("`prior_probabilities` must be a list")?
                    .iter()
                    .map(|p| float_or(p, f64::NAN))
                    .collect::<anyhow::Result<_>>()?,
            ),
        },
        // The fixtures come from ITK, quirk included.
        itk_compat: true,
    };
    let fit = staple.fit(&maps.iter().collect::<Vec<_>>())?;
    let matrices: Vec<Vec<Value>> = fit
        .confusion
        .iter()
        .map(|m| {
            m.chunks(fit.n_labels)
                .map(|row| Value::Array(numbers(row)))
                .collect()
        })
        .collect();
    Ok(json!({
        "labels": rle_to_json(&fit.labels),
        "total_label_count": fit.n_labels,
        "confusion_matrices": matrices,
        "confusion_matrix_layout": "per rater: (L+1) rows x L cols; row = label the rater gave (0..L), \
            col = estimated true label (0..L-1); each column sums to 1 after EM",
        "initial_voting_tie_pixels": fit.initial_ties,
    }))
}

fn label_voting(input: &Value) -> anyhow::Result<Value> {
    let maps = volumes(&input["label_maps"], "label_maps")?;
    let undecided = optional_label(&input["parameters"]["label_for_undecided_pixels"])?;
    let refs: Vec<&LabelVolume> = maps.iter().collect();
    let fit = LabelVoting {
        undecided_label: undecided,
    }
    .fit(&refs)?;
    let max_label = refs.iter().map(|m| m.max_label()).max().unwrap_or(0);
    // The oracle counts voxels holding the undecided label, which is meaningless when that label
    // is also a real one.
    let ties = (fit.undecided_label > max_label).then_some(fit.n_ties);
    Ok(json!({
        "labels": rle_to_json(&fit.labels),
        "undecided_label_used": fit.undecided_label,
        "tie_pixels": ties,
    }))
}

fn overlap_dice_jaccard(input: &Value) -> anyhow::Result<Value> {
    let a = volume(&input["a"], "a")?;
    let b = volume(&input["b"], "b")?;
    let o = overlap(&a, &b)?;
    let mut out = json!({
        "dice": number(o.dice),
        "jaccard": number(o.jaccard),
        "intersection": o.intersection,
        "size_a": o.size_a,
        "size_b": o.size_b,
        "union": o.union,
    });
    if o.union > 0 {
        out["sitk_label_overlap_dice"] = number(o.dice);
        out["sitk_label_overlap_jaccard"] = number(o.jaccard);
    }
    Ok(out)
}

fn hausdorff(input: &Value) -> anyhow::Result<Value> {
    let mut a = volume(&input["a"], "a")?;
    let mut b = volume(&input["b"], "b")?;
    if let Some(spacing) = input["spacing_xyz"].as_array() {
        // SimpleITK lists spacing (x, y, z); volumes are [z, y, x].
        let spacing: Vec<f64> = spacing
            .iter()
            .rev()
            .map(|s| s.as_f64().context("`spacing_xyz` must hold numbers"))
            .collect::<anyhow::Result<_>>()?;
        a = a.with_spacing(spacing.clone())?;
        b = b.with_spacing(spacing)?;
    }
    let d =
        distances(&a, &b)?.ok_or_else(|| anyhow!("a mask is empty: distances are undefined"))?;
    Ok(json!({
        "hausdorff": number(d.hausdorff),
        "average_hausdorff": number(d.average_hausdorff),
    }))
}

fn volume(value: &Value, field: &str) -> anyhow::Result<LabelVolume> {
    rle_from_json(value).map_err(|e| anyhow!("`{field}`: {e}"))
}

fn volumes(value: &Value, field: &str) -> anyhow::Result<Vec<LabelVolume>> {
    value
        .as_array()
        .with_context(|| format!("`{field}` must be a list of RLE arrays"))?
        .iter()
        .enumerate()
        .map(|(i, v)| volume(v, &format!("{field}[{i}]")))
        .collect()
}

/// A number, a non-finite string, or `default` for null.
fn float_or(value: &Value, default: f64) -> anyhow::Result<f64> {
    match value {
        Value::Null => Ok(default),
        Value::String(s) if s == "NaN" => Ok(f64::NAN),
        Value::String(s) if s == "Infinity" => Ok(f64::INFINITY),
        Value::String(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
        v => v
            .as_f64()
            .with_context(|| format!("expected a number, found {v}")),
    }
}

fn optional_u32(value: &Value) -> anyhow::Result<Option<u32>> {
    match value {
        Value::Null => Ok(None),
        v => {
            let n = v
                .as_u64()
                .with_context(|| format!("expected a count, found {v}"))?;
            Ok(Some(u32::try_from(n).context("count exceeds 2^32 - 1")?))
        }
    }
}

fn optional_label(value: &Value) -> anyhow::Result<Option<u8>> {
    match value {
        Value::Null => Ok(None),
        v => {
            let n = v
                .as_u64()
                .with_context(|| format!("expected a label, found {v}"))?;
            Ok(Some(u8::try_from(n).context("labels are 0..=255")?))
        }
    }
}

fn number(x: f64) -> Value {
    crate::cmd::number(x)
}

fn numbers(xs: &[f64]) -> Vec<Value> {
    xs.iter().map(|&x| number(x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = include_str!("../../../../conformance/fusion.json");

    /// Every case through `compute`, compared field by field with `expected`.
    #[test]
    fn every_fusion_case() {
        let cases: Vec<Value> = serde_json::from_str(FIXTURES).unwrap();
        let mut passed = 0;
        for case in &cases {
            let name = case["name"].as_str().unwrap();
            let got = compute(case["kind"].as_str().unwrap(), &case["input"])
                .expect("a fusion kind")
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            for (field, want) in case["expected"].as_object().unwrap() {
                let tolerance = match field.as_str() {
                    "probability" => 1.5e-6,
                    "hausdorff" | "sensitivity" | "specificity" | "confusion_matrices" => 1e-9,
                    "average_hausdorff" => 1e-6,
                    _ => 1e-12,
                };
                check(&got[field], want, tolerance, &format!("{name}: {field}"));
            }
            passed += 1;
        }
        assert_eq!(passed, 27);
    }

    fn check(got: &Value, want: &Value, tolerance: f64, at: &str) {
        match (got, want) {
            (Value::Number(g), Value::Number(w)) => {
                let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
                assert!((g - w).abs() <= tolerance, "{at}: {g} != {w}");
            }
            (Value::Array(g), Value::Array(w)) => {
                assert_eq!(g.len(), w.len(), "{at}: length");
                for (i, (g, w)) in g.iter().zip(w).enumerate() {
                    check(g, w, tolerance, &format!("{at}[{i}]"));
                }
            }
            (Value::Object(g), Value::Object(w)) => {
                for (key, w) in w {
                    check(&g[key], w, tolerance, &format!("{at}.{key}"));
                }
            }
            (g, w) => assert_eq!(g, w, "{at}"),
        }
    }
}
