//! Agreement kinds of `conformance/agreement.json`: each case's `input` turned into a library
//! call, and the result into the keys of the reference library's output.

use super::{Computed, float, object};
use concord_consensus::agreement::{
    AgreementError, Coefficient, CohenWeights, CountTable, FleissMethod, Level, Ratings, Undefined,
    WeightScheme, Weights, brennan_prediger, cohen_kappa, conger_kappa, fleiss_kappa,
    fleiss_kappa_table, gwet_ac, krippendorff_alpha, krippendorff_irrcac, percent_agreement,
    t_interval,
};
use serde_json::Value;

/// Computes an agreement case from its `input`; `None` for a kind of another family.
pub(crate) fn compute(kind: &str, input: &Value) -> Computed {
    let result = match kind {
        "cohen_kappa" => cohen(input),
        "fleiss_kappa_table" => fleiss_table(input),
        "krippendorff_alpha" => alpha(input),
        "irrcac_raw" => irrcac(input),
        "percent_agreement_two_raters" => percent_two(input),
        "percent_agreement_multi" => percent_multi(input),
        _ => return None,
    };
    Some(result)
}

type Result<T> = std::result::Result<T, String>;

fn field<'a>(input: &'a Value, key: &str) -> Result<&'a Value> {
    input.get(key).ok_or_else(|| format!("input lacks `{key}`"))
}

fn numbers(value: &Value, what: &str) -> Result<Vec<f64>> {
    value
        .as_array()
        .ok_or_else(|| format!("`{what}` is not an array"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| format!("`{what}` holds a non-number: {x}"))
        })
        .collect()
}

/// A matrix of numbers with `null` for missing, as rows.
fn matrix(value: &Value, what: &str) -> Result<Vec<Vec<Option<f64>>>> {
    value
        .as_array()
        .ok_or_else(|| format!("`{what}` is not an array of rows"))?
        .iter()
        .map(|row| {
            row.as_array()
                .ok_or_else(|| format!("`{what}` has a row that is not an array"))?
                .iter()
                .map(|x| match x {
                    Value::Null => Ok(None),
                    x => x
                        .as_f64()
                        .map(Some)
                        .ok_or_else(|| format!("`{what}` holds a non-number: {x}")),
                })
                .collect()
        })
        .collect()
}

fn sorted_distinct(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v
}

fn index_in(domain: &[f64], x: f64) -> Option<u32> {
    domain.iter().position(|&d| d == x).map(|i| i as u32)
}

/// A library refusal as the case's output: `{"error": …}`.
fn refused(err: &AgreementError) -> Value {
    object([("error", Value::from(err.to_string()))])
}

/// `{key: value}`, with 0/0 (no variation) as NaN the way numpy reports it.
fn nan_or_value(key: &str, value: std::result::Result<f64, AgreementError>) -> Value {
    match value {
        Ok(v) => object([(key, float(v))]),
        Err(AgreementError::Undefined(Undefined::NoVariation)) => object([(key, float(f64::NAN))]),
        Err(e) => refused(&e),
    }
}

/// scikit-learn's `cohen_kappa_score(y1, y2, labels, weights, sample_weight)`.
fn cohen(input: &Value) -> Result<Value> {
    let y1 = numbers(field(input, "y1")?, "y1")?;
    let y2 = numbers(field(input, "y2")?, "y2")?;
    let labels = match field(input, "labels")? {
        Value::Null => sorted_distinct(y1.iter().chain(&y2).copied()),
        list => numbers(list, "labels")?,
    };
    let weights = match field(input, "weights")?.as_str() {
        Some("none") | None => CohenWeights::Unweighted,
        Some("linear") => CohenWeights::Linear,
        Some("quadratic") => CohenWeights::Quadratic,
        Some(other) => return Err(format!("unknown weights `{other}`")),
    };
    let sample_weight = match input.get("sample_weight") {
        None | Some(Value::Null) => None,
        Some(list) => Some(numbers(list, "sample_weight")?),
    };
    // Items whose label (either rater) is not in `labels` are ignored, as scikit-learn does.
    let (mut a, mut b, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (&x, &y)) in y1.iter().zip(&y2).enumerate() {
        if let (Some(x), Some(y)) = (index_in(&labels, x), index_in(&labels, y)) {
            a.push(x);
            b.push(y);
            if let Some(sw) = &sample_weight {
                w.push(sw.get(i).copied().unwrap_or(f64::NAN));
            }
        }
    }
    if y1.len() != y2.len() {
        return Ok(refused(&AgreementError::LengthMismatch {
            what: "y2",
            expected: y1.len(),
            found: y2.len(),
        }));
    }
    let sw = sample_weight.as_ref().map(|_| w.as_slice());
    Ok(nan_or_value(
        "kappa",
        cohen_kappa(&a, &b, labels.len(), &weights, sw),
    ))
}

/// statsmodels' `fleiss_kappa(table, method)`.
fn fleiss_table(input: &Value) -> Result<Value> {
    let rows = matrix(field(input, "table")?, "table")?;
    let n_categories = rows.first().map_or(0, Vec::len);
    let mut flat = Vec::with_capacity(rows.len() * n_categories);
    for row in &rows {
        if row.len() != n_categories {
            return Err("`table` rows differ in length".into());
        }
        for x in row {
            let x = x.ok_or("`table` holds a null")?;
            if x < 0.0 || x.fract() != 0.0 || x > f64::from(u32::MAX) {
                return Err(format!("`table` holds {x}, not a count"));
            }
            flat.push(x as u32);
        }
    }
    let method = match field(input, "method")?.as_str() {
        Some("fleiss") => FleissMethod::Fleiss,
        Some("randolph") => FleissMethod::Randolph,
        other => return Err(format!("unknown method {other:?}")),
    };
    let kappa = fleiss_kappa_table(&flat, n_categories, method);
    // statsmodels divides 0/0 (one rater, or one category) without raising: NaN.
    Ok(match kappa {
        Err(AgreementError::Undefined(Undefined::NoPairableItem)) => {
            object([("kappa", float(f64::NAN))])
        }
        other => nan_or_value("kappa", other),
    })
}

fn level(input: &Value, key: &str) -> Result<Level> {
    field(input, key)?
        .as_str()
        .ok_or_else(|| format!("`{key}` is not a string"))?
        .parse()
}

/// krippendorff's `alpha(reliability_data | value_counts, value_domain, level_of_measurement)`.
fn alpha(input: &Value) -> Result<Value> {
    let level = level(input, "level_of_measurement")?;
    let domain = match input.get("value_domain") {
        None | Some(Value::Null) => None,
        Some(list) => Some(numbers(list, "value_domain")?),
    };
    let built = if let Some(data) = input.get("reliability_data") {
        let rows = matrix(data, "reliability_data")?;
        let n_raters = rows.len();
        let flat: Vec<f64> = rows
            .iter()
            .flat_map(|r| r.iter().map(|x| x.unwrap_or(f64::NAN)))
            .collect();
        CountTable::from_reliability_data(&flat, n_raters, domain.as_deref())
    } else {
        let rows = matrix(field(input, "value_counts")?, "value_counts")?;
        let n_values = rows.first().map_or(0, Vec::len);
        let flat: Vec<u32> = rows
            .iter()
            .flat_map(|r| r.iter().map(|x| x.unwrap_or(0.0) as u32))
            .collect();
        CountTable::from_dense(&flat, n_values).map(|table| {
            let domain = domain
                .clone()
                .unwrap_or_else(|| (0..n_values).map(|v| v as f64).collect());
            (table, domain)
        })
    };
    let (table, domain) = match built {
        Ok(x) => x,
        Err(e) => return Ok(refused(&e)),
    };
    Ok(nan_or_value(
        "alpha",
        krippendorff_alpha(&table, &domain, level).map(|a| a.value),
    ))
}

/// irrCAC's `CAC(ratings, weights, categories, confidence_level).<method>()`.
fn irrcac(input: &Value) -> Result<Value> {
    let rows = matrix(field(input, "ratings")?, "ratings")?;
    let n_raters = rows.first().map_or(0, Vec::len);
    let categories = match field(input, "categories")? {
        Value::Null => sorted_distinct(rows.iter().flatten().flatten().copied()),
        list => sorted_distinct(numbers(list, "categories")?),
    };
    let scheme = match field(input, "weights")?.as_str() {
        Some("identity") => WeightScheme::Identity,
        Some("linear") => WeightScheme::Linear,
        Some("quadratic") => WeightScheme::Quadratic,
        Some("ordinal") => WeightScheme::Ordinal,
        other => return Err(format!("unsupported weights {other:?}")),
    };
    let confidence = field(input, "confidence_level")?
        .as_f64()
        .ok_or("`confidence_level` is not a number")?;
    let weights = Weights::scheme(scheme, &categories);
    // irrCAC counts only ratings equal to a category.
    let cells: Vec<Option<u32>> = rows
        .iter()
        .flat_map(|row| row.iter().map(|x| x.and_then(|x| index_in(&categories, x))))
        .collect();
    let ratings =
        Ratings::from_rows(&cells, n_raters, categories.len()).map_err(|e| e.to_string())?;
    let table = ratings.counts();
    let method = field(input, "method")?.as_str().unwrap_or("");
    let (name, result) = match method {
        "gwet" => (
            if weights.total() == categories.len() as f64 {
                "AC1"
            } else {
                "AC2"
            },
            gwet_ac(&table, &weights),
        ),
        "fleiss" => ("Fleiss' kappa", fleiss_kappa(&table, &weights)),
        "conger" => ("Conger's kappa", conger_kappa(&ratings, &weights)),
        "krippendorff" => (
            "Krippendorff's Alpha",
            krippendorff_irrcac(&table, &weights),
        ),
        "bp" => ("Brennan-Prediger", brennan_prediger(&table, &weights)),
        other => return Err(format!("unknown method `{other}`")),
    };
    let coefficient = match result {
        Ok(c) => c,
        Err(e) => return Ok(refused(&e)),
    };
    Ok(irrcac_output(
        name,
        &coefficient,
        method == "bp",
        confidence,
        &categories,
        &weights,
    ))
}

/// irrCAC's output dictionary (its conventions: an exactly-zero standard error counts as
/// 1e-15; the interval's upper bound is clipped to 1; Brennan–Prediger's p-value is one-sided).
fn irrcac_output(
    name: &str,
    c: &Coefficient,
    one_sided: bool,
    confidence: f64,
    categories: &[f64],
    weights: &Weights,
) -> Value {
    let se = c.se.map(|se| if se == 0.0 { 1e-15 } else { se });
    let interval =
        se.and_then(|se| t_interval(c.value, se, c.n_items as f64 - 1.0, confidence).ok());
    let nan = f64::NAN;
    object([
        ("coefficient_name", Value::from(name)),
        ("coefficient_value", float(c.value)),
        ("se", float(se.unwrap_or(nan))),
        (
            "confidence_interval",
            Value::from(vec![
                float(interval.map_or(nan, |i| i.low)),
                float(interval.map_or(nan, |i| i.high)),
            ]),
        ),
        ("z", float(c.z().unwrap_or(nan))),
        ("p_value", float(c.p_value(!one_sided).unwrap_or(nan))),
        ("pa", float(c.pa)),
        ("pe", float(c.pe)),
        (
            "categories",
            Value::from(categories.iter().map(|&x| float(x)).collect::<Vec<_>>()),
        ),
        (
            "weights_matrix",
            Value::from(
                weights
                    .rows()
                    .map(|row| Value::from(row.iter().map(|&x| float(x)).collect::<Vec<_>>()))
                    .collect::<Vec<_>>(),
            ),
        ),
    ])
}

/// scikit-learn's `accuracy_score(y1, y2)`: percent agreement of two complete raters.
fn percent_two(input: &Value) -> Result<Value> {
    let y1 = numbers(field(input, "y1")?, "y1")?;
    let y2 = numbers(field(input, "y2")?, "y2")?;
    if y1.len() != y2.len() {
        return Err("`y1` and `y2` differ in length".into());
    }
    let rows: Vec<Vec<Option<f64>>> = y1
        .iter()
        .zip(&y2)
        .map(|(&a, &b)| vec![Some(a), Some(b)])
        .collect();
    percent_of(&rows)
}

/// irrCAC's `pa` with identity weights.
fn percent_multi(input: &Value) -> Result<Value> {
    percent_of(&matrix(field(input, "ratings")?, "ratings")?)
}

fn percent_of(rows: &[Vec<Option<f64>>]) -> Result<Value> {
    let n_raters = rows.first().map_or(0, Vec::len);
    let categories = sorted_distinct(rows.iter().flatten().flatten().copied());
    let cells: Vec<Option<u32>> = rows
        .iter()
        .flat_map(|row| row.iter().map(|x| x.and_then(|x| index_in(&categories, x))))
        .collect();
    let ratings =
        Ratings::from_rows(&cells, n_raters, categories.len()).map_err(|e| e.to_string())?;
    let pa = percent_agreement(&ratings.counts(), &Weights::identity(categories.len()));
    Ok(nan_or_value("percent_agreement", pa.map(|c| c.value)))
}
