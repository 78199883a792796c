//! Labeling protocols: the label tasks of a project, their classes with definitions and
//! examples, decision rules, and the validation of submitted values.
//!
//! A protocol is written in YAML or JSON (the same fields either way) and stored as an
//! immutable version; every annotation records the version it was made under.
//!
//! ```yaml
//! name: Chest X-ray primary finding
//! tasks:
//!   - id: finding
//!     type: single
//!     prompt: What is the primary finding?
//!     allow_uncertain: true
//!     rules: ["If both effusion and pneumonia are present, label pneumonia."]
//!     classes:
//!       - id: normal
//!         definition: No acute cardiopulmonary abnormality.
//!         examples: [CXR-0001]
//!       - id: pneumonia
//!         definition: Airspace opacity consistent with infection.
//! ```
//!
//! Values, as JSON, per task type: `single` and `ordinal` a class id (`"normal"`); `multi` a list
//! of distinct class ids (`["edema", "effusion"]`, possibly empty); `number` a number within the
//! task's `min`/`max`; `box` a list of `[x, y, w, h, class]` with `w, h > 0`; `span` a list of
//! `[start, end, class]` with `0 <= start < end`. Where the task allows it, `{"uncertain": true}`
//! records "cannot determine": it is data, not a missing label.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// A label schema: the tasks every item of a project is labelled with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// Human-readable name.
    pub name: String,
    /// Free description shown to annotators.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The label tasks, in the order they are shown.
    pub tasks: Vec<Task>,
}

/// One label task of a protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Stable id, used as the key of the task's value.
    pub id: String,
    /// What kind of value the task takes.
    #[serde(rename = "type")]
    pub kind: TaskKind,
    /// The question shown to the annotator.
    #[serde(default)]
    pub prompt: String,
    /// Classes (for `single`, `multi`, `ordinal` in scale order, `box` and `span` labels).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<Class>,
    /// Whether "cannot determine" is an accepted answer.
    #[serde(default)]
    pub allow_uncertain: bool,
    /// Decision rules that settle known ambiguities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Lower bound of a `number` task (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper bound of a `number` task (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Unit of a `number` task, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// For a `number` task from `min` 0 to `max` 1 (or 100, a percentage): the id of the
    /// categorical task whose answer this number is the annotator's confidence in. Concord
    /// then measures each annotator's calibration (`concord annotators`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_of: Option<String>,
}

/// The type of a task's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Exactly one class.
    Single,
    /// A set of classes.
    Multi,
    /// One class of an ordered scale (e.g. BI-RADS 1–5).
    Ordinal,
    /// A number.
    Number,
    /// Bounding boxes `[x, y, w, h, class]`.
    Box,
    /// Text spans `[start, end, class]`.
    Span,
    /// Segmentation masks (reserved: not accepted yet).
    Mask,
}

impl TaskKind {
    /// Whether the task's value is one class, so truth inference applies directly.
    pub fn is_categorical(self) -> bool {
        matches!(self, TaskKind::Single | TaskKind::Ordinal)
    }

    fn needs_classes(self) -> bool {
        !matches!(self, TaskKind::Number)
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            TaskKind::Single => "single",
            TaskKind::Multi => "multi",
            TaskKind::Ordinal => "ordinal",
            TaskKind::Number => "number",
            TaskKind::Box => "box",
            TaskKind::Span => "span",
            TaskKind::Mask => "mask",
        };
        f.write_str(name)
    }
}

/// A class of a task, with what it means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Class {
    /// Stable id, the value annotators submit.
    pub id: String,
    /// What the class means, shown beside the item.
    #[serde(default)]
    pub definition: String,
    /// Example item ids (or short descriptions) illustrating the class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Marks the class that means "no finding" (e.g. `normal`): readers split between it and
    /// a finding disagree on presence, not on class (the edge-case queue tells them apart).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub absent: bool,
}

/// Why a protocol file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The text is not valid YAML/JSON or does not have the protocol's fields.
    #[error("{0}")]
    Syntax(String),
    /// The protocol parses but is not usable.
    #[error("{0}")]
    Invalid(String),
}

impl Protocol {
    /// Parses and checks a protocol written in YAML or JSON (JSON is valid YAML, but JSON is
    /// parsed as JSON so its error messages point at JSON positions).
    ///
    /// # Errors
    /// [`ProtocolError::Syntax`] with the line and column of a syntax or field error;
    /// [`ProtocolError::Invalid`] when the content is inconsistent (see [`check`](Self::check)).
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        let protocol: Protocol = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| ProtocolError::Syntax(e.to_string()))?
        } else {
            serde_norway::from_str(text).map_err(|e| ProtocolError::Syntax(e.to_string()))?
        };
        protocol.check()?;
        Ok(protocol)
    }

    /// Checks consistency: at least one task; task ids unique and non-empty; class ids unique
    /// and non-empty per task; tasks that take classes have some; `mask` is reserved; number
    /// bounds ordered; no class is called `uncertain` when the task allows uncertainty.
    ///
    /// # Errors
    /// [`ProtocolError::Invalid`] naming the task and what is wrong.
    pub fn check(&self) -> Result<(), ProtocolError> {
        let invalid = |msg: String| Err(ProtocolError::Invalid(msg));
        if self.name.trim().is_empty() {
            return invalid("the protocol needs a `name`".into());
        }
        if self.tasks.is_empty() {
            return invalid("the protocol needs at least one task under `tasks`".into());
        }
        for (i, task) in self.tasks.iter().enumerate() {
            if task.id.trim().is_empty() {
                return invalid(format!("task {} has an empty `id`", i + 1));
            }
            if self.tasks[..i].iter().any(|t| t.id == task.id) {
                return invalid(format!("task id `{}` appears twice", task.id));
            }
            if task.kind == TaskKind::Mask {
                return invalid(format!(
                    "task `{}`: type `mask` is reserved and not accepted yet",
                    task.id
                ));
            }
            if task.kind.needs_classes() && task.classes.is_empty() {
                return invalid(format!(
                    "task `{}` ({}) needs at least one class",
                    task.id, task.kind
                ));
            }
            if matches!(task.kind, TaskKind::Single | TaskKind::Ordinal) && task.classes.len() < 2 {
                return invalid(format!(
                    "task `{}` ({}) needs at least two classes",
                    task.id, task.kind
                ));
            }
            for (j, class) in task.classes.iter().enumerate() {
                if class.id.trim().is_empty() {
                    return invalid(format!(
                        "task `{}`: class {} has an empty `id`",
                        task.id,
                        j + 1
                    ));
                }
                if task.classes[..j].iter().any(|c| c.id == class.id) {
                    return invalid(format!(
                        "task `{}`: class id `{}` appears twice",
                        task.id, class.id
                    ));
                }
                if task.allow_uncertain && class.id == UNCERTAIN {
                    return invalid(format!(
                        "task `{}`: a class may not be called `uncertain` when the task allows uncertainty",
                        task.id
                    ));
                }
            }
            if let (Some(min), Some(max)) = (task.min, task.max)
                && min > max
            {
                return invalid(format!(
                    "task `{}`: `min` {min} is above `max` {max}",
                    task.id
                ));
            }
            if let Some(of) = &task.confidence_of {
                if !self
                    .tasks
                    .iter()
                    .any(|t| t.id == *of && t.kind.is_categorical())
                {
                    return invalid(format!(
                        "task `{}`: `confidence_of` names `{of}`, which is not a `single` or \
                         `ordinal` task of the protocol",
                        task.id
                    ));
                }
                if task.kind != TaskKind::Number
                    || task.min != Some(0.0)
                    || !matches!(task.max, Some(1.0 | 100.0))
                {
                    return invalid(format!(
                        "task `{}`: a confidence is a `number` task with `min: 0` and `max: 1` \
                         (a probability) or `max: 100` (a percentage)",
                        task.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// The task with this id.
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// The confidence task of a categorical task (`confidence_of`), if the protocol has one.
    pub fn confidence_task(&self, of: &str) -> Option<&Task> {
        self.tasks
            .iter()
            .find(|t| t.confidence_of.as_deref() == Some(of))
    }

    /// The first categorical task: the one consensus and adaptive overlap run on.
    pub fn primary_task(&self) -> Option<&Task> {
        self.tasks.iter().find(|t| t.kind.is_categorical())
    }

    /// Interprets a value typed on a command line: for a one-task protocol a bare class id (or
    /// `uncertain`, or a JSON value), otherwise a JSON object keyed by task id. Returns the value
    /// in the stored form, a JSON object keyed by task id, after [`validate`](Self::validate).
    ///
    /// # Errors
    /// [`ValueError`] saying which task and why.
    pub fn parse_value(&self, text: &str) -> Result<Value, ValueError> {
        let parsed = serde_json::from_str::<Value>(text).ok();
        let value = match (self.tasks.as_slice(), parsed) {
            ([task], Some(Value::Object(map))) if map.contains_key(&task.id) => Value::Object(map),
            // `2` on a BI-RADS scale is the class id "2", not the number 2.
            ([task], Some(Value::Number(_) | Value::Bool(_))) if task.kind.is_categorical() => {
                single_task(task, bare(text))
            }
            ([task], Some(v)) => single_task(task, v),
            ([task], None) => single_task(task, bare(text)),
            (_, Some(Value::Object(map))) => Value::Object(map),
            (_, _) => {
                return Err(ValueError::Shape(format!(
                    "this protocol has {} tasks: give a JSON object keyed by task id, e.g. {{\"{}\": …}}",
                    self.tasks.len(),
                    self.tasks[0].id
                )));
            }
        };
        self.validate(&value)?;
        Ok(value)
    }

    /// [`parse_value`](Self::parse_value) for a reference answer (a gold answer, an
    /// adjudication): every task but the confidence tasks (`confidence_of`), which a reference
    /// does not carry. With one answer task, a bare class id is enough.
    ///
    /// # Errors
    /// [`ValueError`] saying which task and why.
    pub fn parse_reference(&self, text: &str) -> Result<Value, ValueError> {
        if self.tasks.iter().all(|t| t.confidence_of.is_none()) {
            return self.parse_value(text);
        }
        let answers = Protocol {
            tasks: self
                .tasks
                .iter()
                .filter(|t| t.confidence_of.is_none())
                .cloned()
                .collect(),
            ..self.clone()
        };
        answers.parse_value(text)
    }

    /// Checks a stored-form value: a JSON object with exactly one entry per task, each valid
    /// for its task.
    ///
    /// # Errors
    /// [`ValueError`] naming the task and what is wrong.
    pub fn validate(&self, value: &Value) -> Result<(), ValueError> {
        let Value::Object(map) = value else {
            return Err(ValueError::Shape(
                "a value is a JSON object keyed by task id".into(),
            ));
        };
        for key in map.keys() {
            if self.task(key).is_none() {
                let ids: Vec<&str> = self.tasks.iter().map(|t| t.id.as_str()).collect();
                return Err(ValueError::Shape(format!(
                    "`{key}` is not a task of this protocol (tasks: {})",
                    ids.join(", ")
                )));
            }
        }
        for task in &self.tasks {
            let Some(v) = map.get(&task.id) else {
                return Err(ValueError::Task {
                    task: task.id.clone(),
                    reason: "no value given".into(),
                });
            };
            task.validate(v).map_err(|reason| ValueError::Task {
                task: task.id.clone(),
                reason,
            })?;
        }
        Ok(())
    }
}

/// The reserved answer "cannot determine".
pub const UNCERTAIN: &str = "uncertain";

/// Whether `value` is the stored form of "cannot determine".
pub fn is_uncertain(value: &Value) -> bool {
    matches!(value, Value::Object(m) if m.len() == 1 && m.get(UNCERTAIN) == Some(&Value::Bool(true)))
}

/// The stored form of "cannot determine".
pub fn uncertain() -> Value {
    serde_json::json!({ UNCERTAIN: true })
}

fn bare(text: &str) -> Value {
    Value::String(text.trim().to_string())
}

fn single_task(task: &Task, v: Value) -> Value {
    let v = match &v {
        Value::String(s) if s == UNCERTAIN && task.allow_uncertain => uncertain(),
        _ => v,
    };
    let mut map = serde_json::Map::new();
    map.insert(task.id.clone(), v);
    Value::Object(map)
}

/// Why a submitted value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The value as a whole has the wrong shape.
    #[error("{0}")]
    Shape(String),
    /// One task's value is invalid.
    #[error("task `{task}`: {reason}")]
    Task {
        /// The task id.
        task: String,
        /// What is wrong.
        reason: String,
    },
}

impl Task {
    /// The definition of one of the task's classes (empty when the class has none or is not
    /// the task's).
    pub fn definition(&self, class: &str) -> &str {
        self.classes
            .iter()
            .find(|c| c.id == class)
            .map_or("", |c| c.definition.as_str())
    }

    fn class_list(&self) -> String {
        self.classes
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn check_class(&self, v: &Value) -> Result<(), String> {
        let Value::String(id) = v else {
            return Err(format!(
                "expected a class id (one of {}), found {v}",
                self.class_list()
            ));
        };
        if self.classes.iter().any(|c| &c.id == id) {
            Ok(())
        } else {
            Err(format!(
                "`{id}` is not a class (expected one of {})",
                self.class_list()
            ))
        }
    }

    /// Checks one task's value; returns the reason it is invalid.
    fn validate(&self, v: &Value) -> Result<(), String> {
        if is_uncertain(v) {
            return if self.allow_uncertain {
                Ok(())
            } else {
                Err("`uncertain` is not allowed for this task".into())
            };
        }
        match self.kind {
            TaskKind::Single | TaskKind::Ordinal => self.check_class(v),
            TaskKind::Multi => {
                let Value::Array(items) = v else {
                    return Err(format!("expected a list of class ids, found {v}"));
                };
                let mut seen = BTreeMap::new();
                for item in items {
                    self.check_class(item)?;
                    if seen
                        .insert(item.as_str().unwrap_or_default().to_string(), ())
                        .is_some()
                    {
                        return Err(format!("class {item} is listed twice"));
                    }
                }
                Ok(())
            }
            TaskKind::Number => {
                let Some(x) = v.as_f64().filter(|x| x.is_finite()) else {
                    return Err(format!("expected a number, found {v}"));
                };
                if let Some(min) = self.min.filter(|&m| x < m) {
                    return Err(format!("{x} is below the minimum {min}"));
                }
                if let Some(max) = self.max.filter(|&m| x > m) {
                    return Err(format!("{x} is above the maximum {max}"));
                }
                Ok(())
            }
            TaskKind::Box => self.check_tuples(v, 5, "[x, y, w, h, class]", |n| {
                if n[2] <= 0.0 || n[3] <= 0.0 {
                    Err(format!(
                        "width and height must be positive, found w={} h={}",
                        n[2], n[3]
                    ))
                } else {
                    Ok(())
                }
            }),
            TaskKind::Span => self.check_tuples(v, 3, "[start, end, class]", |n| {
                if n[0] < 0.0 || n[0].fract() != 0.0 || n[1].fract() != 0.0 || n[0] >= n[1] {
                    Err(format!(
                        "a span needs whole offsets with 0 <= start < end, found [{}, {}]",
                        n[0], n[1]
                    ))
                } else {
                    Ok(())
                }
            }),
            TaskKind::Mask => Err("mask tasks are reserved and not accepted yet".into()),
        }
    }

    /// Checks a list of `[n…, class]` tuples of length `len`.
    fn check_tuples(
        &self,
        v: &Value,
        len: usize,
        shape: &str,
        check: impl Fn(&[f64]) -> Result<(), String>,
    ) -> Result<(), String> {
        let Value::Array(items) = v else {
            return Err(format!("expected a list of {shape}, found {v}"));
        };
        for (i, item) in items.iter().enumerate() {
            let fields = item
                .as_array()
                .filter(|a| a.len() == len)
                .ok_or_else(|| format!("entry {} is not {shape}: {item}", i + 1))?;
            let numbers: Option<Vec<f64>> = fields[..len - 1]
                .iter()
                .map(|x| x.as_f64().filter(|x| x.is_finite()))
                .collect();
            let numbers =
                numbers.ok_or_else(|| format!("entry {} is not {shape}: {item}", i + 1))?;
            check(&numbers).map_err(|e| format!("entry {}: {e}", i + 1))?;
            self.check_class(&fields[len - 1])
                .map_err(|e| format!("entry {}: {e}", i + 1))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const YAML: &str = "
name: Chest X-ray
tasks:
  - id: finding
    type: single
    prompt: Primary finding?
    allow_uncertain: true
    classes:
      - {id: normal, definition: No acute abnormality.}
      - {id: pneumonia, definition: Airspace opacity., examples: [CXR-0002]}
";

    fn two_tasks() -> Protocol {
        Protocol::parse(
            r#"{"name": "Mammo", "tasks": [
                {"id": "birads", "type": "ordinal", "classes": [{"id": "1"}, {"id": "2"}, {"id": "3"}]},
                {"id": "density", "type": "number", "min": 0, "max": 100},
                {"id": "lesions", "type": "box", "classes": [{"id": "mass"}]},
                {"id": "tags", "type": "multi", "classes": [{"id": "a"}, {"id": "b"}]},
                {"id": "report", "type": "span", "classes": [{"id": "finding"}]}
            ]}"#,
        )
        .unwrap()
    }

    #[test]
    fn yaml_and_json_give_the_same_protocol() {
        let yaml = Protocol::parse(YAML).unwrap();
        let json = Protocol::parse(&serde_json::to_string(&yaml).unwrap()).unwrap();
        assert_eq!(yaml, json);
        assert_eq!(yaml.primary_task().unwrap().id, "finding");
    }

    #[test]
    fn a_confidence_task_is_a_probability_or_a_percentage_of_a_categorical_task() {
        let with = |confidence: &str| {
            Protocol::parse(&format!(
                r#"{{"name": "x", "tasks": [
                    {{"id": "f", "type": "single", "classes": [{{"id": "a"}}, {{"id": "b"}}]}},
                    {{"id": "n", "type": "number", "min": 0, "max": 5}},
                    {confidence}
                ]}}"#
            ))
        };
        let p =
            with(r#"{"id": "sure", "type": "number", "min": 0, "max": 100, "confidence_of": "f"}"#)
                .unwrap();
        assert_eq!(p.confidence_task("f").unwrap().id, "sure");
        assert!(p.confidence_task("n").is_none());
        for (bad, needle) in [
            (
                r#"{"id": "sure", "type": "number", "min": 0, "max": 1, "confidence_of": "n"}"#,
                "`n`, which is not a `single` or `ordinal` task",
            ),
            (
                r#"{"id": "sure", "type": "number", "min": 0, "max": 5, "confidence_of": "f"}"#,
                "`max: 1`",
            ),
            (
                r#"{"id": "sure", "type": "ordinal", "classes": [{"id": "lo"}, {"id": "hi"}], "confidence_of": "f"}"#,
                "a confidence is a `number` task",
            ),
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("task `sure`") && err.contains(needle), "{err}");
        }
    }

    #[test]
    fn bare_values_on_one_task_protocols() {
        let p = Protocol::parse(YAML).unwrap();
        assert_eq!(
            p.parse_value("pneumonia").unwrap(),
            json!({"finding": "pneumonia"})
        );
        assert_eq!(
            p.parse_value("uncertain").unwrap(),
            json!({"finding": {"uncertain": true}})
        );
        let err = p.parse_value("pnemonia").unwrap_err();
        assert_eq!(
            err.to_string(),
            "task `finding`: `pnemonia` is not a class (expected one of normal, pneumonia)"
        );
    }

    #[test]
    fn every_task_kind_is_checked() {
        let p = two_tasks();
        let ok = json!({"birads": "2", "density": 40.5, "lesions": [[1, 2, 3, 4, "mass"]], "tags": [], "report": [[0, 5, "finding"]]});
        p.validate(&ok).unwrap();
        let cases = [
            (json!({"birads": "7"}), "birads", "is not a class"),
            (json!({"density": 101}), "density", "above the maximum 100"),
            (
                json!({"lesions": [[1, 2, 0, 4, "mass"]]}),
                "lesions",
                "must be positive",
            ),
            (
                json!({"lesions": [[1, 2, 3, "mass"]]}),
                "lesions",
                "is not [x, y, w, h, class]",
            ),
            (json!({"tags": ["a", "a"]}), "tags", "listed twice"),
            (
                json!({"report": [[5, 5, "finding"]]}),
                "report",
                "start < end",
            ),
            (
                json!({"birads": {"uncertain": true}}),
                "birads",
                "not allowed",
            ),
        ];
        for (patch, task, reason) in cases {
            let mut v = ok.clone();
            for (k, x) in patch.as_object().unwrap() {
                v[k] = x.clone();
            }
            let err = p.validate(&v).unwrap_err();
            match err {
                ValueError::Task { task: t, reason: r } => {
                    assert_eq!(t, task);
                    assert!(r.contains(reason), "{r}");
                }
                other => panic!("{other}"),
            }
        }
        assert!(
            p.parse_value("2")
                .unwrap_err()
                .to_string()
                .contains("JSON object keyed by task id")
        );
        let scale = Protocol::parse(
            "name: s\ntasks:\n  - {id: birads, type: ordinal, classes: [{id: '1'}, {id: '2'}]}",
        )
        .unwrap();
        assert_eq!(scale.parse_value("2").unwrap(), json!({"birads": "2"}));
        let missing = p.validate(&json!({"birads": "1"})).unwrap_err();
        assert!(missing.to_string().contains("no value given"), "{missing}");
    }

    #[test]
    fn inconsistent_protocols_are_refused() {
        for (text, reason) in [
            ("name: x\ntasks: []", "at least one task"),
            (
                "name: x\ntasks:\n  - {id: a, type: single, classes: [{id: p}]}",
                "at least two classes",
            ),
            (
                "name: x\ntasks:\n  - {id: a, type: mask, classes: [{id: p}]}",
                "reserved",
            ),
            (
                "name: x\ntasks:\n  - {id: a, type: number}\n  - {id: a, type: number}",
                "appears twice",
            ),
            (
                "name: x\ntasks:\n  - {id: a, type: number, min: 3, max: 1}",
                "above `max`",
            ),
            (
                "name: x\ntasks:\n  - {id: a, type: colour}",
                "unknown variant",
            ),
            (
                "name: x\ntasks:\n  - {id: a, type: number, colour: red}",
                "unknown field",
            ),
        ] {
            let err = Protocol::parse(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }
}
