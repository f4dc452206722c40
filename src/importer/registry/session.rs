//! One registry spoken to over one scheme with one credential: the distribution API's token
//! authentication, and GETs whose bodies are read only up to a limit.
//!
//! `oci-client` reads manifests, blobs, tag lists, token answers and error pages whole
//! (oras-project/rust-oci-client#206), so a registry streaming a body without end would grow
//! the importer's memory until the call's timeout: the denial of service containers/image
//! closed as CVE-2020-1702. Any tenant can point a spec tag at any registry, so every body read
//! here stops at the limits containers/image (CRI-O, Podman) keeps; a manifest over them is one
//! no node of those runtimes would pull either.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use oci_client::errors::{OciDistributionError, OciEnvelope};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};

use super::challenge::{self, Challenge, TokenAnswer};
use super::error::{classify, ImportError};
use super::schemes::Scheme;
use super::ClientKey;
use crate::importer::credentials::Credential;
use crate::importer::manifest::ACCEPTED;

/// How many repositories' tokens a session keeps before it starts over.
const MAX_TOKENS: usize = 256;
/// The most of a token answer that is read (containers/image's `MaxAuthTokenBodySize`).
const TOKEN_LIMIT: usize = 1 << 20;
/// The most of an error answer that is read: enough for any message worth quoting.
const ERROR_LIMIT: usize = 64 << 10;

/// The most of a manifest, config blob or tag list page that is read: containers/image's
/// `MaxManifestBodySize` and `MaxConfigBodySize`, and the manifest size the distribution spec
/// tells registries to accept at least.
pub(super) const BODY_LIMIT: usize = 4 << 20;

/// What a GET reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Body {
    /// An image manifest or index.
    Manifest,
    /// An image's config blob.
    Config,
    /// One page of a repository's tag list.
    TagPage,
}

/// The manifest media types the importer reads, as one `Accept` value, joined once.
static MANIFEST_ACCEPT: LazyLock<HeaderValue> = LazyLock::new(|| {
    HeaderValue::from_str(&ACCEPTED.join(", ")).expect("media type names are header-safe")
});

impl Body {
    /// The `Accept` header asking for it.
    fn accept(self) -> HeaderValue {
        match self {
            Body::Manifest => MANIFEST_ACCEPT.clone(),
            Body::Config => HeaderValue::from_static("*/*"),
            Body::TagPage => HeaderValue::from_static("application/json"),
        }
    }

    /// What the body is, in a message.
    pub(super) fn name(self) -> &'static str {
        match self {
            Body::Manifest => "manifest",
            Body::Config => "image config",
            Body::TagPage => "tag list page",
        }
    }
}

/// What a registry answered a GET with.
#[derive(Debug)]
pub(super) struct Answer {
    /// The `Docker-Content-Digest` header, when the registry sent one.
    pub digest_header: Option<String>,
    /// The body, at most [`BODY_LIMIT`] bytes.
    pub body: Vec<u8>,
}

/// How a repository's requests are authorised, and until when.
#[derive(Clone)]
struct Authorization {
    header: Option<HeaderValue>,
    until: Instant,
}

/// An HTTP client for one registry, scheme and credential, and the tokens it got.
pub(super) struct Session {
    http: reqwest::Client,
    /// `scheme://registry`.
    base: String,
    credential: Credential,
    /// Per repository: the distribution API scopes tokens to one.
    tokens: Mutex<HashMap<String, Authorization>>,
    /// Headers the configuration sends the registry with each request (not its token realm).
    headers: HeaderMap,
}

impl Session {
    /// A session with `key`'s registry, over its scheme and with its credential, trusting and
    /// presenting what `tls` says, and sending `headers` with every request to the registry
    /// (not to its token realm; `Accept`, and `Authorization` when it sends one, are its own).
    pub(super) fn new(
        key: &ClientKey,
        timeout: Duration,
        tls: Tls<'_>,
        headers: HeaderMap,
    ) -> Result<Self, ImportError> {
        let scheme = key.scheme;
        let mut builder = reqwest::Client::builder()
            .user_agent(super::USER_AGENT)
            .connect_timeout(super::CONNECT_TIMEOUT.min(timeout))
            .read_timeout(timeout)
            .danger_accept_invalid_certs(scheme == Scheme::HttpsUnverified)
            .tls_certs_merge(tls.roots.iter().cloned());
        if let Some(pem) = tls.client_certificate {
            // Start-up checked it; a file changed since is refused before it is swapped in.
            builder = builder.identity(reqwest::Identity::from_pem(pem).map_err(request_error)?);
        }
        let http = builder.build().map_err(request_error)?;
        let protocol = match scheme {
            Scheme::Http => "http",
            Scheme::Https | Scheme::HttpsUnverified => "https",
        };
        Ok(Self {
            http,
            base: format!("{protocol}://{}", key.registry),
            credential: key.credential.clone(),
            tokens: Mutex::new(HashMap::new()),
            headers,
        })
    }

    /// GETs `/v2/<repository>/<path>` accepting what `body` is, authorised for pulls from
    /// `repository`, and reads its body up to [`BODY_LIMIT`]; a registry's error answer is
    /// sorted as [`classify`] does.
    pub(super) async fn get(
        &self,
        repository: &str,
        path: &str,
        body: Body,
    ) -> Result<Answer, ImportError> {
        let url = format!("{}/v2/{repository}/{path}", self.base);
        let (authorization, cached) = self.authorization(repository).await?;
        let mut response = self.send(&url, body, authorization.as_ref()).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            // A token the registry revoked or let expire early, or a registry that challenges
            // on the repository but not on `/v2/` (containerd follows such challenges too):
            // authorised as this answer's challenge asks, the request is sent once more.
            let challenge = challenge::read(&challenges(response.headers()));
            let fresh = match challenge {
                Challenge::None => self.authorize(repository).await?,
                challenge => self.answer(challenge, repository).await?,
            };
            if cached || fresh.header != authorization {
                let header = self.remember(repository, fresh);
                response = self.send(&url, body, header.as_ref()).await?;
            }
        }
        let status = response.status();
        if status != StatusCode::OK {
            return Err(refused(status, response, &url).await);
        }
        let digest_header = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
            .map(str::to_string);
        let body = read_limited(response, BODY_LIMIT, body.name()).await?;
        Ok(Answer {
            digest_header,
            body,
        })
    }

    async fn send(
        &self,
        url: &str,
        body: Body,
        authorization: Option<&HeaderValue>,
    ) -> Result<Response, ImportError> {
        let mut headers = self.headers.clone();
        // As containerd sets them over the configured ones: the registry's answer depends on
        // them.
        headers.insert(ACCEPT, body.accept());
        if let Some(header) = authorization {
            headers.insert(AUTHORIZATION, header.clone());
        }
        send_idempotent(self.http.get(url).headers(headers)).await
    }

    /// The `Authorization` header for pulls from `repository` (none for a registry that asks
    /// for none), and whether it was cached.
    async fn authorization(
        &self,
        repository: &str,
    ) -> Result<(Option<HeaderValue>, bool), ImportError> {
        if let Some(known) = self.cached(repository) {
            return Ok((known, true));
        }
        let fresh = self.authorize(repository).await?;
        Ok((self.remember(repository, fresh), false))
    }

    /// Keeps `fresh` as `repository`'s authorization; its header.
    fn remember(&self, repository: &str, fresh: Authorization) -> Option<HeaderValue> {
        let header = fresh.header.clone();
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if tokens.len() >= MAX_TOKENS {
            tokens.clear();
        }
        tokens.insert(repository.to_string(), fresh);
        header
    }

    fn cached(&self, repository: &str) -> Option<Option<HeaderValue>> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let known = tokens.get(repository)?;
        (known.until > Instant::now()).then(|| known.header.clone())
    }

    /// Asks the registry how to authenticate (`GET /v2/`) and does so (see [`Self::answer`]).
    async fn authorize(&self, repository: &str) -> Result<Authorization, ImportError> {
        if let Credential::Bearer(_) = &self.credential {
            return self.answer(Challenge::None, repository).await;
        }
        let ping = self.http.get(format!("{}/v2/", self.base));
        let ping = send_idempotent(ping.headers(self.headers.clone())).await?;
        let challenge = challenge::read(&challenges(ping.headers()));
        self.answer(challenge, repository).await
    }

    /// The authorization `challenge` asks for: a bearer token from the realm it names, scoped
    /// to pulls from `repository`, or HTTP Basic; a registry token given as the credential is
    /// sent whatever the challenge.
    async fn answer(
        &self,
        challenge: Challenge,
        repository: &str,
    ) -> Result<Authorization, ImportError> {
        let now = Instant::now();
        if let Credential::Bearer(token) = &self.credential {
            return Ok(Authorization {
                header: Some(bearer(token)?),
                until: now + challenge::DEFAULT_TOKEN_LIFETIME,
            });
        }
        let header = match challenge {
            Challenge::None => None,
            Challenge::Basic => self.basic(),
            Challenge::Bearer { realm, service } => {
                let scope = format!("repository:{repository}:pull");
                let answer = self.token(&realm, service.as_deref(), &scope).await?;
                return Ok(Authorization {
                    header: Some(bearer(&answer.token)?),
                    until: now + answer.lifetime,
                });
            }
        };
        Ok(Authorization {
            header,
            until: now + challenge::DEFAULT_TOKEN_LIFETIME,
        })
    }

    /// The `Authorization: Basic` header of the session's user name and password, if any.
    fn basic(&self) -> Option<HeaderValue> {
        let Credential::Basic { username, password } = &self.credential else {
            return None;
        };
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}"))
            .ok()
            .map(sensitive)
    }

    /// A token from `realm` for `scope`, asked with the session's user name and password
    /// (anonymously without).
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<TokenAnswer, ImportError> {
        let mut query = vec![("scope", scope)];
        query.extend(service.map(|service| ("service", service)));
        let mut request = self.http.get(realm).query(&query);
        if let Some(header) = self.basic() {
            request = request.header(AUTHORIZATION, header);
        }
        let response = send_idempotent(request).await?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(refused(status, response, realm).await);
        }
        let body = read_limited(response, TOKEN_LIMIT, "token answer").await?;
        challenge::token_answer(&body).map_err(ImportError::Registry)
    }
}

/// What a session trusts and presents over TLS.
pub(super) struct Tls<'a> {
    /// CA certificates trusted besides the system's.
    pub(super) roots: &'a [reqwest::Certificate],
    /// The client certificate (PEM: chain, then key) presented when the registry asks.
    pub(super) client_certificate: Option<&'a [u8]>,
}

/// Sends a GET, and sends it once more when the connection closed before any answer came:
/// a registry or proxy that closes a kept-alive connection just as the request goes out on it
/// (tinyproxy closes every client connection after one answer). Go's transport, and so
/// containerd and OpenShift's importer, retries idempotent requests in that case too.
async fn send_idempotent(request: RequestBuilder) -> Result<Response, ImportError> {
    let again = request.try_clone();
    match (request.send().await, again) {
        (Err(error), Some(again)) if closed_before_answer(&error) => {
            tracing::debug!(%error, "the connection closed before an answer; asking again");
            again.send().await.map_err(request_error)
        }
        (sent, _) => sent.map_err(request_error),
    }
}

/// Whether `error` is a connection closed before the answer's head arrived.
fn closed_before_answer(error: &reqwest::Error) -> bool {
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        if let Some(http) = error.downcast_ref::<hyper::Error>() {
            return http.is_incomplete_message();
        }
        cause = error.source();
    }
    false
}

/// The `WWW-Authenticate` values of an answer.
fn challenges(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect()
}

/// `Bearer <token>` as a header value.
fn bearer(token: &str) -> Result<HeaderValue, ImportError> {
    HeaderValue::from_str(&format!("Bearer {token}"))
        .map(sensitive)
        .map_err(|_| ImportError::Registry("the registry's token is not a valid header".into()))
}

/// `value`, marked so that HTTP tooling (debug output, HPACK) treats it as a secret.
fn sensitive(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}

/// Reads `response`'s body, `what`, failing once it passes `limit` bytes (at once when its
/// `Content-Length` says it will).
async fn read_limited(
    mut response: Response,
    limit: usize,
    what: &'static str,
) -> Result<Vec<u8>, ImportError> {
    let too_large = || ImportError::TooLarge { what, limit };
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large());
    }
    let mut read = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        if read.len() + chunk.len() > limit {
            return Err(too_large());
        }
        read.extend_from_slice(&chunk);
    }
    Ok(read)
}

/// What a registry's answer other than `200 OK` means, its body read up to [`ERROR_LIMIT`]
/// (the rest is left unread: the connection is dropped with the response).
async fn refused(status: StatusCode, mut response: Response, url: &str) -> ImportError {
    let mut said = Vec::new();
    while said.len() < ERROR_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => said.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    said.truncate(ERROR_LIMIT);
    classify(status_error(status, &said, url))
}

/// A status other than `200 OK` as `oci-client` words it, so one [`classify`] sorts both.
pub(super) fn status_error(status: StatusCode, body: &[u8], url: &str) -> OciDistributionError {
    let url = url.to_string();
    let message = || String::from_utf8_lossy(body).into_owned();
    match status {
        StatusCode::UNAUTHORIZED => OciDistributionError::UnauthorizedError { url },
        s if s.is_success() => OciDistributionError::SpecViolationError(format!(
            "Expected HTTP Status 200 OK, got {status} instead"
        )),
        s if s.is_client_error() => match serde_json::from_slice::<OciEnvelope>(body) {
            Ok(envelope) => OciDistributionError::RegistryError { envelope, url },
            Err(_) => OciDistributionError::ServerError {
                code: s.as_u16(),
                url,
                message: message(),
            },
        },
        s => OciDistributionError::ServerError {
            code: s.as_u16(),
            url,
            message: message(),
        },
    }
}

fn request_error(error: reqwest::Error) -> ImportError {
    classify(OciDistributionError::RequestError(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_body_is_asked_for_with_its_media_types() {
        let manifest = Body::Manifest.accept();
        let manifest = manifest.to_str().unwrap();
        assert_eq!(manifest.split(", ").collect::<Vec<_>>(), ACCEPTED);
        assert_eq!(Body::Config.accept(), "*/*");
        assert_eq!(Body::TagPage.accept(), "application/json");
    }

    #[test]
    fn statuses_other_than_ok_are_worded_as_oci_client_words_them() {
        let envelope = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such tag"}]}"#;
        let error = |status: u16, body: &[u8]| {
            classify(status_error(
                StatusCode::from_u16(status).unwrap(),
                body,
                "u",
            ))
        };
        assert!(matches!(error(404, envelope), ImportError::NotFound));
        assert!(matches!(error(404, b"gone"), ImportError::NotFound));
        assert!(matches!(error(401, b""), ImportError::Unauthorized));
        assert!(matches!(error(403, b"<html>"), ImportError::Unauthorized));
        assert!(matches!(error(429, b""), ImportError::RateLimited(_)));
        let server = error(502, b"bad gateway").to_string();
        assert!(server.contains("bad gateway"), "{server}");
        let partial = error(206, b"").to_string();
        assert!(partial.contains("206 Partial Content"), "{partial}");
    }
}
