//! Fields of stored JSON values, read without parsing the whole value: the annotation log reads
//! a million of them when a process starts.
//!
//! The store keeps every value as the compact text of `serde_json::to_string` (keys sorted), so
//! re-serialising a parsed value gives back the same text: the log hashes the stored text
//! directly and looks up only the fields it keeps.

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A JSON string, borrowed from the text when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// The raw values of `keys` in the JSON object `text`: `None` for a key it lacks (or a `None`
/// key), all `None` when the text is not an object.
pub(crate) fn fields<'a, const N: usize>(
    text: &'a str,
    keys: [Option<&str>; N],
) -> [Option<&'a RawValue>; N] {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    Seek(keys)
        .deserialize(&mut deserializer)
        .unwrap_or([None; N])
}

/// The string a raw JSON value holds, if it is a string.
pub(crate) fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Text<'_>>(raw.get())
        .ok()
        .map(|t| t.0)
}

/// The number a raw JSON value holds, if it is a number.
pub(crate) fn number(raw: &RawValue) -> Option<f64> {
    serde_json::from_str::<f64>(raw.get()).ok()
}

struct Seek<'k, const N: usize>([Option<&'k str>; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for Seek<'_, N> {
    type Value = [Option<&'de RawValue>; N];

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Seek<'_, N> {
    type Value = [Option<&'de RawValue>; N];

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = [None; N];
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match self.0.iter().position(|k| *k == Some(&*key)) {
                Some(i) => found[i] = Some(map.next_value::<&'de RawValue>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_without_parsing_the_rest() {
        let text = r#"{"box":[1,2,3,4],"finding":"nodule","sure":85.5,"weird \"key\"":"x\ny"}"#;
        let [finding, sure, missing, none] =
            fields(text, [Some("finding"), Some("sure"), Some("absent"), None]);
        assert_eq!(string(finding.unwrap()).unwrap(), "nodule");
        assert_eq!(number(sure.unwrap()), Some(85.5));
        assert!(missing.is_none() && none.is_none());
        let [escaped] = fields(text, [Some("weird \"key\"")]);
        assert_eq!(string(escaped.unwrap()).unwrap(), "x\ny");
        assert_eq!(string(sure.unwrap()), None);
        assert_eq!(number(finding.unwrap()), None);
    }

    #[test]
    fn what_is_not_an_object_has_no_fields() {
        for text in [r#""normal""#, "[1,2]", "3", "null", "{", ""] {
            assert!(fields(text, [Some("finding")])[0].is_none(), "{text}");
        }
    }

    #[test]
    fn stored_text_is_what_reserialising_gives() {
        // What the log relies on to hash the stored text instead of a re-serialisation.
        for value in [
            serde_json::json!({"finding": "normal", "sure": 0.9}),
            serde_json::json!({"b": [1.5e-7, -0.0, 3], "a": {"z": null, "é": "\u{1}\"\\"}}),
        ] {
            let stored = serde_json::to_string(&value).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&stored).unwrap();
            assert_eq!(serde_json::to_string(&parsed).unwrap(), stored);
        }
    }
}
