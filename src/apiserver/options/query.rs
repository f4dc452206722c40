//! The query string, decoded as Go's `url.ParseQuery` decodes it.

use crate::apiserver::error::ApiError;

/// A decoded query string: `+` and `%XX` unescaped, empty pairs (kube-rs sends `?&limit=1`)
/// and undecodable pairs skipped, as Go's `url.ParseQuery` does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes `uri.query()` (without the leading `?`).
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.contains(';'))
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                Some((unescape(key)?, unescape(value)?))
            })
            .collect();
        Self { pairs }
    }

    /// The first value of `key`, as the apiserver's parameter codec reads scalars.
    pub fn get(&self, key: &str) -> Option<&str> {
        let (_, value) = self.pairs.iter().find(|(k, _)| k == key)?;
        Some(value)
    }

    /// Every value of `key`, in order (`dryRun` may repeat).
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `apimachinery`'s bool conversion (`Convert_Slice_string_To_bool`): anything but `0` or
    /// `false` (any case) is true, `f` and the empty value included.
    pub(super) fn flag(&self, key: &str) -> Option<bool> {
        let value = self.get(key)?;
        Some(!(value == "0" || value.eq_ignore_ascii_case("false")))
    }

    /// Whether the request asks for a watch (`watch`, read as every flag is). Both the verb a
    /// collection GET is authorized for and the way it is served come from here, so whatever
    /// is served as a watch was authorized as one.
    pub fn watch(&self) -> bool {
        self.flag("watch").unwrap_or(false)
    }

    /// A base-10 integer; blank is unset, garbage is a 400 worded like Go's `strconv`.
    pub(super) fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        let Some(value) = self.get(key).map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        value.parse().map(Some).map_err(|_| {
            let digits = value.trim_start_matches(['+', '-']);
            let why = match !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                true => "value out of range",
                false => "invalid syntax",
            };
            ApiError::BadRequest(format!("strconv.ParseInt: parsing {value:?}: {why}"))
        })
    }

    pub(super) fn text(&self, key: &str) -> &str {
        self.get(key).unwrap_or("")
    }
}

fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}
