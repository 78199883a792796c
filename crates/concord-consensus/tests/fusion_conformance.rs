//! Every case of `conformance/fusion.json` (SimpleITK 2.5.7 and numpy oracles) through the
//! library, at the tolerances the fixtures state.

use concord_consensus::fusion::{
    LabelVolume, LabelVoting, MultiLabelStaple, Staple, distances, overlap,
};
use serde_json::Value;

const FIXTURES: &str = include_str!("../../../conformance/fusion.json");

#[test]
fn every_fusion_case_matches_its_oracle() {
    let cases: Vec<Value> = serde_json::from_str(FIXTURES).unwrap();
    assert_eq!(cases.len(), 27);
    for case in &cases {
        check(case);
    }
}

/// Runs one case and compares it with `expected`.
fn check(case: &Value) {
    let name = case["name"].as_str().unwrap();
    let input = &case["input"];
    let expected = &case["expected"];
    match case["kind"].as_str().unwrap() {
        "staple_binary" => {
            let masks: Vec<LabelVolume> =
                input["masks"].as_array().unwrap().iter().map(rle).collect();
            let parameters = &input["parameters"];
            let staple = Staple {
                foreground: parameters["foreground_value"].as_f64().unwrap(),
                confidence_weight: parameters["confidence_weight"].as_f64().unwrap(),
                max_iterations: parameters["maximum_iterations"].as_u64().unwrap() as u32,
            };
            let fit = staple.fit(&masks.iter().collect::<Vec<_>>()).unwrap();
            let want = floats(&expected["probability"]);
            assert_eq!(
                fit.probability.shape(),
                shape(&expected["probability"]),
                "{name}"
            );
            for (voxel, (&got, &want)) in fit.probability.data().iter().zip(&want).enumerate() {
                assert!(
                    close(got, want, 1.5e-6),
                    "{name}: probability[{voxel}] {got} != {want}"
                );
            }
            for (field, got) in [
                ("sensitivity", &fit.sensitivity),
                ("specificity", &fit.specificity),
            ] {
                let want = floats(&expected[field]);
                assert_eq!(got.len(), want.len(), "{name}: {field}");
                for (g, w) in got.iter().zip(&want) {
                    assert!(close(*g, *w, 1e-9), "{name}: {field} {g} != {w}");
                }
            }
            assert_eq!(
                u64::from(fit.iterations),
                expected["elapsed_iterations"].as_u64().unwrap(),
                "{name}: iterations"
            );
            let mask = fit.mask();
            let want_mask = rle(&expected["mask_ge_0_5"]);
            for (voxel, (&got, &want)) in mask.data().iter().zip(want_mask.data()).enumerate() {
                let p = fit.probability.data()[voxel];
                assert!(
                    got == want || (p - 0.5).abs() <= 1e-6,
                    "{name}: mask[{voxel}]"
                );
            }
            assert_eq!(
                fit.probability.data().iter().any(|p| p.is_nan()),
                expected["probability_has_nan"].as_bool().unwrap(),
                "{name}"
            );
        }
        "multilabel_staple" => {
            let maps: Vec<LabelVolume> = input["label_maps"]
                .as_array()
                .unwrap()
                .iter()
                .map(rle)
                .collect();
            let parameters = &input["parameters"];
            let staple = MultiLabelStaple {
                max_iterations: parameters["maximum_number_of_iterations"]
                    .as_u64()
                    .map(|n| n as u32),
                termination_threshold: parameters["termination_update_threshold"].as_f64().unwrap(),
                undecided_label: parameters["label_for_undecided_pixels"]
                    .as_u64()
                    .map(|l| l as u8),
                priors: parameters["prior_probabilities"]
                    .as_array()
                    .map(|p| floats_of(p)),
                itk_compat: true,
            };
            let fit = staple.fit(&maps.iter().collect::<Vec<_>>()).unwrap();
            assert_eq!(fit.labels, rle(&expected["labels"]), "{name}: labels");
            assert_eq!(
                fit.n_labels as u64,
                expected["total_label_count"].as_u64().unwrap()
            );
            assert_eq!(
                fit.initial_ties,
                expected["initial_voting_tie_pixels"].as_u64().unwrap(),
                "{name}"
            );
            let want = expected["confusion_matrices"].as_array().unwrap();
            assert_eq!(want.len(), fit.confusion.len());
            for (reader, matrix) in want.iter().enumerate() {
                for (j, row) in matrix.as_array().unwrap().iter().enumerate() {
                    for (c, w) in floats(row).iter().enumerate() {
                        let g = fit.confusion(reader, j, c);
                        assert!(
                            close(g, *w, 1e-9),
                            "{name}: reader {reader} [{j}][{c}] {g} != {w}"
                        );
                    }
                }
            }
        }
        "label_voting" => {
            let maps: Vec<LabelVolume> = input["label_maps"]
                .as_array()
                .unwrap()
                .iter()
                .map(rle)
                .collect();
            let undecided = input["parameters"]["label_for_undecided_pixels"]
                .as_u64()
                .map(|l| l as u8);
            let fit = LabelVoting {
                undecided_label: undecided,
            }
            .fit(&maps.iter().collect::<Vec<_>>())
            .unwrap();
            assert_eq!(fit.labels, rle(&expected["labels"]), "{name}");
            assert_eq!(
                u64::from(fit.undecided_label),
                expected["undecided_label_used"].as_u64().unwrap()
            );
            if let Some(ties) = expected["tie_pixels"].as_u64() {
                assert_eq!(fit.n_ties, ties, "{name}");
            }
        }
        "overlap_dice_jaccard" => {
            let o = overlap(&rle(&input["a"]), &rle(&input["b"])).unwrap();
            for (field, got) in [
                ("intersection", o.intersection),
                ("size_a", o.size_a),
                ("size_b", o.size_b),
                ("union", o.union),
            ] {
                assert_eq!(got, expected[field].as_u64().unwrap(), "{name}: {field}");
            }
            for (field, got) in [
                ("dice", o.dice),
                ("jaccard", o.jaccard),
                ("sitk_label_overlap_dice", o.dice),
                ("sitk_label_overlap_jaccard", o.jaccard),
            ] {
                if !expected[field].is_null() {
                    assert!(
                        close(got, float(&expected[field]), 1e-12),
                        "{name}: {field} {got}"
                    );
                }
            }
        }
        "hausdorff" => {
            let spacing: Vec<f64> = floats(&input["spacing_xyz"]).into_iter().rev().collect();
            let a = rle(&input["a"]).with_spacing(spacing.clone()).unwrap();
            let b = rle(&input["b"]).with_spacing(spacing).unwrap();
            let d = distances(&a, &b).unwrap().unwrap();
            assert!(
                close(d.hausdorff, float(&expected["hausdorff"]), 1e-9),
                "{name}"
            );
            assert!(
                close(
                    d.average_hausdorff,
                    float(&expected["average_hausdorff"]),
                    1e-6
                ),
                "{name}: {} vs {}",
                d.average_hausdorff,
                expected["average_hausdorff"]
            );
        }
        other => panic!("{name}: unknown kind {other}"),
    }
}

/// `|got − want| <= tolerance`, where NaN matches only NaN.
fn close(got: f64, want: f64, tolerance: f64) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    got == want || (got - want).abs() <= tolerance
}

fn float(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        v => v.as_f64().unwrap(),
    }
}

fn floats_of(values: &[Value]) -> Vec<f64> {
    values.iter().map(float).collect()
}

/// A plain list of floats, or a float array object's `data`.
fn floats(v: &Value) -> Vec<f64> {
    match v.get("data") {
        Some(data) => floats_of(data.as_array().unwrap()),
        None => floats_of(v.as_array().unwrap()),
    }
}

fn shape(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap() as usize)
        .collect()
}

/// Decodes the README's run-length form.
fn rle(v: &Value) -> LabelVolume {
    let mut data = Vec::new();
    for pair in v["rle"].as_array().unwrap() {
        let value = pair[0].as_u64().unwrap() as u8;
        let run = pair[1].as_u64().unwrap() as usize;
        data.extend(std::iter::repeat_n(value, run));
    }
    LabelVolume::new(shape(v), data).unwrap()
}
