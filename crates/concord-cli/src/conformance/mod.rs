//! Software validation: run reference cases (`conformance/*.json`, format in
//! `conformance/README.md`) and compare what Concord computes with what the reference library
//! produced.
//!
//! Each family of kinds has a module with `compute(kind, input)`: `None` for a kind it does not
//! know (reported as skipped), else the computed values under the keys of `expected`. The
//! computation sees only `input`, never `expected`.

mod agreement;
mod fusion;

use serde_json::{Map, Value};

/// The reference cases bundled into the binary (`concord validate` with no file).
pub(crate) const BUNDLED: &[(&str, &str)] = &[
    (
        "agreement.json",
        include_str!("../../../../conformance/agreement.json"),
    ),
    (
        "fusion.json",
        include_str!("../../../../conformance/fusion.json"),
    ),
];

/// What a family's `compute` returns: `None` for an unknown kind; `Err` when the case's input
/// is malformed for its kind.
pub(crate) type Computed = Option<Result<Value, String>>;

/// The families, tried in order until one knows the kind.
const FAMILIES: &[fn(&str, &Value) -> Computed] = &[agreement::compute, fusion_family];

/// The fusion family reports errors as `anyhow` chains; the report wants them as text.
fn fusion_family(kind: &str, input: &Value) -> Computed {
    fusion::compute(kind, input).map(|r| r.map_err(|e| format!("{e:#}")))
}

/// The verdict on one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Pass,
    Fail,
    Skipped,
    Error,
}

/// One case's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Outcome {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) status: Status,
    pub(crate) computed: Value,
    /// Why a case failed or could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
}

/// Runs every case of a reference file (a JSON array of cases).
pub(crate) fn run_file(text: &str) -> Result<Vec<Outcome>, String> {
    let cases: Vec<Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON array of cases: {e}"))?;
    Ok(cases.iter().map(run_case).collect())
}

/// Runs one case.
pub(crate) fn run_case(case: &Value) -> Outcome {
    let text = |key: &str| {
        case.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (name, kind) = (text("name"), text("kind"));
    let mut outcome = Outcome {
        name,
        kind: kind.clone(),
        status: Status::Skipped,
        computed: Value::Null,
        detail: None,
    };
    let input = case.get("input").unwrap_or(&Value::Null);
    let Some(result) = FAMILIES.iter().find_map(|compute| compute(&kind, input)) else {
        outcome.detail = Some(format!("kind `{kind}` is not implemented"));
        return outcome;
    };
    match result {
        Err(message) => {
            outcome.status = Status::Error;
            outcome.detail = Some(message);
        }
        Ok(computed) => {
            let expected = case.get("expected").unwrap_or(&Value::Null);
            let tolerance = case.get("tolerance").unwrap_or(&Value::Null);
            match compare(expected, &computed, tolerance) {
                Ok(()) => outcome.status = Status::Pass,
                Err(why) => {
                    outcome.status = Status::Fail;
                    outcome.detail = Some(why);
                }
            }
            outcome.computed = computed;
        }
    }
    outcome
}

/// Compares computed values with expected ones, key by key (README "Tolerance"). An expected
/// `error` passes when the computation refused the input too.
pub(crate) fn compare(expected: &Value, computed: &Value, tolerance: &Value) -> Result<(), String> {
    let Some(expected) = expected.as_object() else {
        return Err("the case has no `expected` object".into());
    };
    if expected.contains_key("error") {
        return if computed.get("error").is_some() {
            Ok(())
        } else {
            Err(format!(
                "expected an error ({}), computed values",
                expected["error"]
            ))
        };
    }
    if let Some(error) = computed.get("error") {
        return Err(format!("computation refused the input: {error}"));
    }
    for (key, want) in expected {
        let got = computed
            .get(key)
            .ok_or_else(|| format!("`{key}` was not computed"))?;
        let tol = Tolerance::for_field(tolerance, key);
        compare_value(want, got, &tol).map_err(|why| format!("`{key}`: {why}"))?;
    }
    Ok(())
}

/// A comparison tolerance: `|got − want| ≤ max(abs, rel·|want|)`, or exact equality.
struct Tolerance {
    abs: f64,
    rel: f64,
    exact: bool,
}

impl Tolerance {
    /// The tolerance of one field: `<field>` = `"exact"`, or `<field>_abs` / `<field>_rel`,
    /// falling back to the case's `abs` / `rel`.
    fn for_field(tolerance: &Value, field: &str) -> Tolerance {
        let get = |key: &str| tolerance.get(key).and_then(Value::as_f64);
        let exact = tolerance.get(field).and_then(Value::as_str) == Some("exact")
            || tolerance.as_str() == Some("exact");
        Tolerance {
            abs: get(&format!("{field}_abs"))
                .or_else(|| get("abs"))
                .unwrap_or(0.0),
            rel: get(&format!("{field}_rel"))
                .or_else(|| get("rel"))
                .unwrap_or(0.0),
            exact,
        }
    }
}

fn compare_value(want: &Value, got: &Value, tol: &Tolerance) -> Result<(), String> {
    match (want, got) {
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                return Err(format!(
                    "expected {} elements, computed {}",
                    w.len(),
                    g.len()
                ));
            }
            for (i, (w, g)) in w.iter().zip(g).enumerate() {
                compare_value(w, g, tol).map_err(|why| format!("[{i}] {why}"))?;
            }
            Ok(())
        }
        (Value::Object(w), Value::Object(g)) => {
            for (key, w) in w {
                let g = g.get(key).ok_or_else(|| format!("`{key}` missing"))?;
                compare_value(w, g, tol).map_err(|why| format!(".{key} {why}"))?;
            }
            Ok(())
        }
        _ => match (number(want), number(got)) {
            (Some(w), Some(g)) => {
                let ok = if w.is_nan() || g.is_nan() {
                    w.is_nan() && g.is_nan()
                } else if w.is_infinite() || g.is_infinite() || tol.exact {
                    w == g
                } else {
                    (g - w).abs() <= tol.abs.max(tol.rel * w.abs())
                };
                if ok {
                    Ok(())
                } else {
                    Err(format!("expected {want}, computed {got}"))
                }
            }
            _ if want == got => Ok(()),
            _ => Err(format!("expected {want}, computed {got}")),
        },
    }
}

/// A JSON number, or one of the strings that stand for non-finite numbers.
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// A float as JSON: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub(crate) fn float(x: f64) -> Value {
    if x.is_nan() {
        Value::from("NaN")
    } else if x == f64::INFINITY {
        Value::from("Infinity")
    } else if x == f64::NEG_INFINITY {
        Value::from("-Infinity")
    } else {
        Value::from(x)
    }
}

/// An object from `(key, value)` pairs.
pub(crate) fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<Map<String, Value>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_bundled_agreement_case_passes_through_the_library() {
        let (_, text) = BUNDLED[0];
        let outcomes = run_file(text).unwrap();
        assert_eq!(outcomes.len(), 108);
        let failed: Vec<_> = outcomes
            .iter()
            .filter(|o| o.status != Status::Pass)
            .map(|o| {
                format!(
                    "{} [{:?}]: {:?} computed {}",
                    o.name, o.status, o.detail, o.computed
                )
            })
            .collect();
        assert!(
            failed.is_empty(),
            "{} cases did not pass:\n{}",
            failed.len(),
            failed.join("\n")
        );
    }

    #[test]
    fn comparison_follows_the_readme() {
        let check = |want: Value, got: Value, tol: Value| compare(&want, &got, &tol).is_ok();
        let tol = json!({"abs": 1e-9, "rel": 1e-9});
        assert!(check(
            json!({"k": 1.0}),
            json!({"k": 1.0 + 1e-10}),
            tol.clone()
        ));
        assert!(!check(
            json!({"k": 1.0}),
            json!({"k": 1.0 + 1e-8}),
            tol.clone()
        ));
        assert!(check(json!({"k": "NaN"}), json!({"k": "NaN"}), tol.clone()));
        assert!(!check(json!({"k": "NaN"}), json!({"k": 0.0}), tol.clone()));
        assert!(check(
            json!({"error": "ValueError: x"}),
            json!({"error": "undefined"}),
            tol.clone()
        ));
        assert!(!check(
            json!({"error": "ValueError: x"}),
            json!({"k": 1.0}),
            tol.clone()
        ));
        assert!(!check(
            json!({"k": 1.0}),
            json!({"other": 1.0}),
            tol.clone()
        ));
        assert!(check(
            json!({"n": 3}),
            json!({"n": 3}),
            json!({"n": "exact"})
        ));
        assert!(!check(
            json!({"n": 3}),
            json!({"n": 4}),
            json!({"n": "exact"})
        ));
        assert!(check(
            json!({"p": [0.5, 0.25]}),
            json!({"p": [0.5000001, 0.25]}),
            json!({"p_abs": 1e-6})
        ));
    }

    #[test]
    fn unknown_kinds_are_skipped() {
        let outcome = run_case(&json!({"name": "x", "kind": "tarot_reading", "input": {}}));
        assert_eq!(outcome.status, Status::Skipped);
        // A known kind with a malformed input is an error, not a skip.
        let outcome = run_case(&json!({"name": "y", "kind": "staple_binary", "input": {}}));
        assert_eq!(outcome.status, Status::Error);
    }
}
