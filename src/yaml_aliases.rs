//! How much YAML aliases may expand a text: a byte budget, relative to the text's size and
//! capped, spent as a document is expanded and before anything is copied.
//!
//! Counting repetitions or nodes is not enough: one anchored string of megabytes, repeated by
//! a few levels of aliases, stays under any node count and still expands to gigabytes. So every
//! node costs [`NODE_BYTES`] plus the bytes of its scalar (a mapping key is a scalar too), and
//! what aliases add may not pass [`allowance`]. kube-apiserver (go-yaml) refuses "excessive
//! aliasing" by a ratio of alias expansions to decoded nodes; a byte budget also stops the big
//! strings.
//!
//! Two readers use it. `manifest::yaml` expands aliases itself, so it spends the budget on
//! exactly what the aliases copy. serde_norway (API bodies, configuration files) expands them
//! out of sight, so [`check`] walks a text once with a visitor that copies nothing and
//! compares everything it decodes with [`decoded_limit`]: what a text of that size can decode
//! to without any alias, plus the same allowance.

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

/// What every decoded node costs besides its scalar's bytes: about what it takes in memory
/// once decoded (a `serde_json::Value` is 32 bytes), so that a bomb of many small nodes is
/// bounded as well as one of big strings.
pub const NODE_BYTES: usize = 32;

/// What aliases may add per byte of the text, before [`MIN_ALLOWANCE`] and [`MAX_ALLOWANCE`]:
/// anchors reused a few times (Helm, compose) stay far below it.
pub const ALLOWANCE_PER_BYTE: usize = 10;

/// What aliases may add to any text, however short.
pub const MIN_ALLOWANCE: usize = 1024 * 1024;

/// What aliases may add to any text, however long: the absolute cap.
pub const MAX_ALLOWANCE: usize = 64 * 1024 * 1024;

/// The bytes aliases may add to a text of `len` bytes.
pub fn allowance(len: usize) -> usize {
    len.saturating_mul(ALLOWANCE_PER_BYTE)
        .clamp(MIN_ALLOWANCE, MAX_ALLOWANCE)
}

/// The most a text of `len` bytes may decode to when its aliases cannot be told apart from the
/// rest: what it can decode to with no alias at all (every byte a node, and an escape such as
/// `\L` turns 2 bytes into 3), plus [`allowance`].
pub fn decoded_limit(len: usize) -> usize {
    len.saturating_add(1)
        .saturating_mul(NODE_BYTES + 2)
        .saturating_add(allowance(len))
}

/// A YAML text whose aliases expand it past its budget.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "aliases expand this {input}-byte YAML past {limit} bytes: repeat less through aliases \
     (`*name`), or write the repeated parts out"
)]
pub struct AliasBomb {
    /// The text's size.
    pub input: usize,
    /// The budget it went past.
    pub limit: usize,
}

/// The bytes left to spend on one text.
#[derive(Clone, Debug)]
pub struct Budget {
    input: usize,
    limit: usize,
    spent: usize,
}

impl Budget {
    /// What aliases may copy in a text of `len` bytes ([`allowance`]).
    pub fn for_copies(len: usize) -> Self {
        Self::new(len, allowance(len))
    }

    /// What a text of `len` bytes may decode to, aliases expanded ([`decoded_limit`]).
    pub fn for_decoding(len: usize) -> Self {
        Self::new(len, decoded_limit(len))
    }

    fn new(input: usize, limit: usize) -> Self {
        Self {
            input,
            limit,
            spent: 0,
        }
    }

    /// Spends `bytes`, or says the budget would be passed (and then spends nothing, so that
    /// the caller refuses before it copies).
    pub fn spend(&mut self, bytes: usize) -> Result<(), AliasBomb> {
        match self.spent.checked_add(bytes) {
            Some(spent) if spent <= self.limit => {
                self.spent = spent;
                Ok(())
            }
            _ => Err(AliasBomb {
                input: self.input,
                limit: self.limit,
            }),
        }
    }
}

/// Refuses a YAML text (every document of it) that aliases expand past
/// [`Budget::for_decoding`], as serde_norway would expand it. A text without `*` has no alias
/// and is not walked. Any other error is left to the parse that follows, which reports it.
pub fn check(text: &[u8]) -> Result<(), AliasBomb> {
    if !text.contains(&b'*') {
        return Ok(());
    }
    let mut counter = Counter {
        budget: Budget::for_decoding(text.len()),
        refused: None,
    };
    for document in serde_norway::Deserializer::from_slice(text) {
        let walked = Count(&mut counter).deserialize(document);
        if let Some(bomb) = counter.refused.take() {
            return Err(bomb);
        }
        if walked.is_err() {
            break;
        }
    }
    Ok(())
}

/// A refusal as a serde_norway error, so that callers report it as they report a syntax error.
impl From<AliasBomb> for serde_norway::Error {
    fn from(bomb: AliasBomb) -> Self {
        de::Error::custom(bomb)
    }
}

/// serde_norway's `from_slice`, after [`check`].
pub fn from_slice<T: de::DeserializeOwned>(text: &[u8]) -> Result<T, serde_norway::Error> {
    check(text)?;
    serde_norway::from_slice(text)
}

/// A YAML text as JSON, as kube-apiserver (go-yaml) reads a request body: [`check`]ed, only
/// its first document read (go-yaml's `Unmarshal` stops there, so a stream ending in `---`, or
/// holding more documents, is read as its first), and its merge keys (`<<: *defaults`, which
/// Helm charts and compose-style manifests use) merged into their mappings, keys written beside
/// them winning; serde_norway alone keeps `<<` as a key.
pub fn json_from_slice(text: &[u8]) -> Result<serde_json::Value, serde_norway::Error> {
    check(text)?;
    if !text.windows(2).any(|pair| pair == b"<<") {
        return first_document(text);
    }
    let mut value: serde_norway::Value = first_document(text)?;
    value.apply_merge()?;
    serde_json::to_value(value).map_err(de::Error::custom)
}

/// The first document of a YAML stream, the rest left unread as go-yaml's `Unmarshal` leaves
/// it; a stream of no document at all (an empty text, only comments) reads as serde_norway
/// reads it. The caller has [`check`]ed the text.
pub fn first_document<T: de::DeserializeOwned>(text: &[u8]) -> Result<T, serde_norway::Error> {
    match serde_norway::Deserializer::from_slice(text).next() {
        Some(document) => T::deserialize(document),
        None => serde_norway::from_slice(text),
    }
}

/// serde_norway's `from_str`, after [`check`].
pub fn from_str<T: de::DeserializeOwned>(text: &str) -> Result<T, serde_norway::Error> {
    from_slice(text.as_bytes())
}

struct Counter {
    budget: Budget,
    /// Set when the budget refused: serde_norway wraps the visitor's error, so this is how
    /// [`check`] tells a refusal from a syntax error.
    refused: Option<AliasBomb>,
}

/// Walks one node, spending its cost; copies nothing.
struct Count<'a>(&'a mut Counter);

impl Count<'_> {
    fn spend<E: de::Error>(&mut self, bytes: usize) -> Result<(), E> {
        self.0.budget.spend(NODE_BYTES + bytes).map_err(|bomb| {
            let error = E::custom(&bomb);
            self.0.refused = Some(bomb);
            error
        })
    }
}

impl<'de> DeserializeSeed<'de> for Count<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Count<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_i64<E: de::Error>(mut self, _: i64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_i128<E: de::Error>(mut self, _: i128) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_u64<E: de::Error>(mut self, _: u64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_u128<E: de::Error>(mut self, _: u128) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_f64<E: de::Error>(mut self, _: f64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_str<E: de::Error>(mut self, text: &str) -> Result<(), E> {
        self.spend(text.len())
    }

    fn visit_bytes<E: de::Error>(mut self, bytes: &[u8]) -> Result<(), E> {
        self.spend(bytes.len())
    }

    fn visit_none<E: de::Error>(mut self) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut items: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while items.next_element_seed(Count(self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut entries: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while entries.next_key_seed(Count(self.0))?.is_some() {
            entries.next_value_seed(Count(self.0))?;
        }
        Ok(())
    }

    /// A node with a tag serde_norway does not resolve (`!custom value`): the tag names the
    /// variant and the node is its content.
    fn visit_enum<A: EnumAccess<'de>>(mut self, data: A) -> Result<(), A::Error> {
        self.spend(0)?;
        let ((), content) = data.variant_seed(Count(self.0))?;
        content.newtype_variant_seed(Count(self.0))
    }
}

/// `levels` levels of `fanout` aliases over one anchored string of `string` bytes: the shape
/// of bomb the budget is for, shared by the tests of both readers.
#[cfg(test)]
pub(crate) fn bomb(string: usize, fanout: usize, levels: usize) -> String {
    let mut text = format!("a0: &a0 \"{}\"\n", "x".repeat(string));
    for level in 1..=levels {
        let items = vec![format!("*a{}", level - 1); fanout].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keys_are_merged_into_their_mappings_as_go_yaml_merges_them() {
        let text = "defaults: &defaults\n  app: web\n  tier: front\nmetadata:\n  labels:\n    <<: *defaults\n    tier: back\n  annotations:\n    <<: [*defaults]\n";
        let value = json_from_slice(text.as_bytes()).unwrap();
        assert_eq!(
            value["metadata"],
            serde_json::json!({"labels": {"app": "web", "tier": "back"},
                               "annotations": {"app": "web", "tier": "front"}})
        );
        // A text without a merge key reads as before, and a bomb is refused either way.
        let plain = json_from_slice(b"a: <b\nc: [1, 2]\n").unwrap();
        assert_eq!(plain, serde_json::json!({"a": "<b", "c": [1, 2]}));
        let merged_bomb = format!("{}x:\n  <<: {{k: *a3}}\n", bomb(1_000_000, 9, 3));
        assert!(json_from_slice(merged_bomb.as_bytes()).is_err());
        assert!(
            json_from_slice(b"a:\n  <<: 1\n").is_err(),
            "a scalar cannot be merged"
        );
    }

    #[test]
    fn the_allowance_grows_with_the_text_between_a_floor_and_a_cap() {
        for (len, expected) in [
            (0, MIN_ALLOWANCE),
            (100, MIN_ALLOWANCE),
            (1024 * 1024, 10 * 1024 * 1024),
            (3 * 1024 * 1024, 30 * 1024 * 1024),
            (100 * 1024 * 1024, MAX_ALLOWANCE),
            (usize::MAX, MAX_ALLOWANCE),
        ] {
            assert_eq!(allowance(len), expected, "{len}");
        }
        assert_eq!(decoded_limit(usize::MAX), usize::MAX);
    }

    #[test]
    fn a_budget_refuses_the_spend_that_would_pass_it_and_keeps_what_was_spent() {
        let mut budget = Budget::for_copies(0);
        assert_eq!(budget.spend(MIN_ALLOWANCE - 1), Ok(()));
        assert_eq!(budget.spend(1), Ok(()));
        let bomb = AliasBomb {
            input: 0,
            limit: MIN_ALLOWANCE,
        };
        assert_eq!(budget.spend(1), Err(bomb.clone()));
        assert_eq!(budget.spend(usize::MAX), Err(bomb));
        assert_eq!(budget.spend(0), Ok(()));
    }

    #[test]
    fn texts_are_refused_by_what_their_aliases_expand_to_in_bytes() {
        let helm = "defaults: &defaults\n  image: nginx:1.25\n  env: &env\n  - {name: A, value: \"1\"}\n  - {name: B, value: \"2\"}\ncontainers:\n- <<: *defaults\n  name: web\n- <<: *defaults\n  name: worker\n  env: *env\n- <<: *defaults\n  name: cron\n";
        let cases: [(&str, String, Result<(), &str>); 8] = [
            ("no alias", "a: b\nc: [1, 2]\n".into(), Ok(())),
            ("helm-style anchors", helm.into(), Ok(())),
            ("a string copied 9 times", bomb(10_000, 9, 1), Ok(())),
            (
                "an asterisk in a scalar",
                "a: '*not an alias'\n".into(),
                Ok(()),
            ),
            // Left to serde_norway's own guard, which counts alias jumps.
            (
                "the classic billion laughs",
                bomb(1, 10, 9),
                Err("repetition limit"),
            ),
            (
                "2.5 MB copied 9^3 times",
                bomb(2_500_000, 9, 3),
                Err("aliases expand"),
            ),
            (
                "100 KB copied 9^5 times",
                bomb(100_000, 9, 5),
                Err("aliases expand"),
            ),
            (
                "1 MB copied 90 times",
                bomb(1_000_000, 9, 2),
                Err("aliases expand"),
            ),
        ];
        for (name, text, expected) in cases {
            let read = from_str::<serde_json::Value>(&text);
            match (read, expected) {
                (Ok(_), Ok(())) => {}
                (Err(error), Err(reason)) => {
                    assert!(error.to_string().starts_with(reason), "{name}: {error}")
                }
                (read, _) => panic!("{name}: {read:?}"),
            }
        }
    }

    #[test]
    fn every_document_of_a_stream_spends_from_one_budget() {
        // About 0.93 MB decoded from 1 KB: within a 1 KB text's budget, alone.
        let document = bomb(900, 10, 3);
        assert!(check(document.as_bytes()).is_ok());
        let stream = vec![document; 100].join("---\n");
        assert!(check(stream.as_bytes()).is_err());
    }

    #[test]
    fn refusals_and_syntax_errors_come_back_as_serde_norway_errors() {
        let text = bomb(1_000_000, 9, 2);
        let refused = from_str::<serde_json::Value>(&text)
            .unwrap_err()
            .to_string();
        let expected = format!("aliases expand this {}-byte YAML past ", text.len());
        assert!(refused.starts_with(&expected), "{refused}");
        let broken = from_str::<serde_json::Value>("a: *undefined\n*").unwrap_err();
        assert!(broken.to_string().contains("unknown anchor"), "{broken}");
        let value: serde_json::Value = from_str(&bomb(3, 2, 1)).unwrap();
        assert_eq!(value["a1"], serde_json::json!(["xxx", "xxx"]));
    }
}
