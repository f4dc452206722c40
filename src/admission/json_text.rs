//! JSON text this crate wrote itself, copied into a response as it is.
//!
//! serde_json can only splice text into its output as a `RawValue`, and building one checks
//! the text by parsing it again: for the audit annotation and the base64 patch, ~7,600 of the
//! ~136,000 instructions a `/mutate` costs, spent checking what was just written correctly.
//! The response is written by hand instead ([`ReviewResponse::to_json`]), with these copied in.
//!
//! [`ReviewResponse::to_json`]: crate::webhook::review::ReviewResponse::to_json

/// A JSON value as text, valid by construction (checked by parsing in debug builds, so every
/// test that builds one checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// `text`, which the caller wrote as one JSON value.
    pub(crate) fn written(text: String) -> Self {
        debug_assert!(
            serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok(),
            "not JSON: {text}"
        );
        Self(text)
    }

    /// The text.
    pub fn get(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_text_is_kept_as_it_is() {
        let text = JsonText::written(r#"{"a":"b\"c"}"#.to_string());
        assert_eq!(text.get(), r#"{"a":"b\"c"}"#);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "not JSON")]
    fn text_that_is_not_json_is_caught_in_debug_builds() {
        JsonText::written(r#"{"a":"#.to_string());
    }
}
