//! The opaque `continue` token of a paged list: the snapshot revision and the last key
//! returned, in the apiserver's versioned wire shape, URL-safe base64.

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::apiserver::error::ApiError;

/// The opaque `continue` token: the snapshot revision and the last key returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinueToken {
    /// The store revision every page of this list is read at.
    pub rv: u64,
    /// The last key of the previous page; the next page starts strictly after it.
    pub start: String,
}

/// Wire form of [`ContinueToken`]: apiserver's shape, so the version can evolve.
#[derive(Serialize, Deserialize)]
struct TokenWire {
    v: String,
    rv: u64,
    start: String,
}

const TOKEN_VERSION: &str = "meta.k8s.io/v1";

/// URL-safe base64; tokens are written unpadded but read either way.
pub(super) const TOKEN_BASE64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl ContinueToken {
    /// The token to put in `metadata.continue`.
    pub fn encode(&self) -> String {
        let wire = TokenWire {
            v: TOKEN_VERSION.into(),
            rv: self.rv,
            start: self.start.clone(),
        };
        TOKEN_BASE64.encode(serde_json::to_vec(&wire).unwrap_or_default())
    }

    /// Reads a `continue` parameter; anything malformed is a 400.
    pub fn decode(token: &str) -> Result<Self, ApiError> {
        let invalid = |why: String| {
            ApiError::BadRequest(format!(
                "invalid continue token: continue key is not valid: {why}"
            ))
        };
        let bytes = TOKEN_BASE64
            .decode(token)
            .map_err(|e| invalid(e.to_string()))?;
        let wire: TokenWire = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if wire.v != TOKEN_VERSION {
            let why = format!("server does not recognize this encoded version {}", wire.v);
            return Err(invalid(why));
        }
        if wire.rv == 0 {
            let why = "incorrect encoded start resourceVersion (version meta.k8s.io/v1)";
            return Err(invalid(why.into()));
        }
        if wire.start.is_empty() {
            return Err(invalid(
                "encoded start key empty (version meta.k8s.io/v1)".into(),
            ));
        }
        Ok(Self {
            rv: wire.rv,
            start: wire.start,
        })
    }
}
