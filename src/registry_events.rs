//! `POST /registry-events`: where registries notify pushes (see [`crate::importer::push`]).
//!
//! Any replica answers: the pushed tags are recorded in the store, where the leading importer
//! finds them, and a `202` means recorded (durably, except in a `memory:` store). The caller
//! shows a token of `--registry-events-token-file`, read on each notification so a rotated
//! Secret applies without a restart (one token per line: the old and the new during a
//! rotation): as a bearer token, or, for registries that send no header of the user's (Quay,
//! Docker Hub), as the path's last segment, `POST /registry-events/<token>`, as Flux's
//! receivers take theirs. Nothing logs the path. GitHub signs its webhooks instead: with a
//! token of the file as the webhook's secret, a body whose `X-Hub-Signature-256` is its
//! HMAC-SHA256 under one of the tokens is taken (the body of a request with `X-GitHub-Event`,
//! at most 1 MiB, is read before it is checked), and GitHub's events other than `package` (its `ping` when the webhook
//! is created, or a repository's other events) are answered 202 and ignored.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::apiserver::error::ApiError;
use crate::apiserver::handlers::store_failure;
use crate::apiserver::http::{read_body, read_body_within};
use crate::auth::bearer_token;
use crate::importer::push::notification::{self, Notification, NotificationError, PushedTag};
use crate::importer::push::record;
use crate::metrics::{ImporterMetrics, ResultLabels};
use crate::server::Throttle;
use crate::store::{self, Store};

/// Where registries POST their notifications (and, with the token as the last segment,
/// `/registry-events/<token>`).
pub const PATH: &str = "/registry-events";

/// The route of registries that cannot send a header: the token is the path's last segment.
const TOKEN_PATH: &str = "/registry-events/{token}";

/// GitHub's signature of the body: `sha256=` and the HMAC-SHA256's hex digits.
const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The GitHub event a delivery carries.
const GITHUB_EVENT_HEADER: &str = "x-github-event";

/// The largest signed body read: GitHub's package events are tens of kilobytes, and the body of
/// a signed delivery is read before its sender is known.
const MAX_SIGNED_BODY_BYTES: usize = 1024 * 1024;

/// At most one refusal is logged per this interval.
const REFUSALS_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How often a record is written again when it is deleted between the create that found it
/// and the update (the importer handled the previous push meanwhile).
const WRITE_ATTEMPTS: usize = 3;

/// What the endpoint needs.
pub struct RegistryEvents {
    /// Where the pushes are recorded.
    store: Arc<dyn Store>,
    /// The file of accepted bearer tokens, one per line.
    token_file: PathBuf,
    /// Counts notifications (`imagelookup_registry_notifications_total`).
    metrics: ImporterMetrics,
    /// Refusals logged: a registry retries a refused notification over and over.
    refusals: Throttle,
}

impl RegistryEvents {
    /// The endpoint recording into `store`, taking the tokens of `token_file`.
    pub fn new(store: Arc<dyn Store>, token_file: PathBuf, metrics: ImporterMetrics) -> Self {
        Self {
            store,
            token_file,
            metrics,
            refusals: Throttle::new(REFUSALS_LOG_INTERVAL),
        }
    }
}

/// A notification that was not recorded, one variant per Status reason.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// 401: no token, or not one of the file's; or no signature by one of them.
    #[error(
        "the notification's token is missing or not in --registry-events-token-file; set the \
         registry endpoint's Authorization header to \"Bearer <token>\", post to \
         /registry-events/<token>, or (GitHub) make a token the webhook's secret"
    )]
    Unauthorized,
    /// 400: the body or `?registry=` cannot be read.
    #[error(transparent)]
    Malformed(#[from] NotificationError),
    /// 400 or 413: the body cannot be read, or is over the API's limit.
    #[error(transparent)]
    Body(ApiError),
    /// 400: the query string cannot be read.
    #[error("the query cannot be read ({0}); the only parameter is registry=<host>")]
    Query(String),
    /// 503: the token file cannot be read, so no caller can be checked.
    #[error("cannot read --registry-events-token-file {path}: {reason}; mount the token file")]
    TokenFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The store did not take the record.
    #[error("cannot record the push: {0}")]
    Store(#[from] store::Error),
}

impl EventsError {
    /// The `result` label this failure is counted under.
    fn result(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Body(ApiError::ServiceUnavailable(_)) => "busy",
            Self::Malformed(_) | Self::Query(_) | Self::Body(_) => "malformed",
            Self::TokenFile { .. } | Self::Store(_) => "failed",
        }
    }
}

impl From<EventsError> for ApiError {
    fn from(error: EventsError) -> Self {
        match error {
            EventsError::Unauthorized => ApiError::Unauthorized,
            EventsError::Malformed(_) | EventsError::Query(_) => {
                ApiError::BadRequest(error.to_string())
            }
            EventsError::Body(error) => error,
            // The caller is not known yet: the log names the file and why, the answer neither.
            EventsError::TokenFile { .. } => ApiError::ServiceUnavailable(
                "the tokens that notifications are checked against cannot be read now; the \
                 server's log says why; retry later"
                    .to_string(),
            ),
            EventsError::Store(error) => store_failure(error),
        }
    }
}

/// The `?registry=` parameter.
#[derive(Deserialize)]
struct EventsQuery {
    registry: Option<String>,
}

/// The route, with `events`.
pub fn routes(events: RegistryEvents) -> Router {
    Router::new()
        .route(PATH, post(receive))
        .route(TOKEN_PATH, post(receive))
        .with_state(Arc::new(events))
}

/// The `result` of a notification naming no push (GitHub's `ping`, a deletion).
const IGNORED: &str = "ignored";

/// The `result` of a notification whose pushes were recorded.
const RECORDED: &str = "recorded";

async fn receive(State(events): State<Arc<RegistryEvents>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let received = events.receive(&parts, body).await;
    let result = match &received {
        Ok(notification) if notification.pushed.is_empty() => IGNORED,
        Ok(_) => RECORDED,
        Err(error) => error.result(),
    };
    let labels = ResultLabels { result };
    events
        .metrics
        .registry_notifications
        .get_or_create(&labels)
        .inc();
    match received {
        Ok(notification) => accepted(&notification),
        Err(error) => {
            // A registry retries a refused notification until it is taken: one line per
            // interval, however often it retries.
            if let Some(suppressed) = events.refusals.admit(Instant::now()) {
                tracing::warn!(%error, suppressed, "registry notification refused");
            }
            ApiError::from(error).into_response()
        }
    }
}

/// 202 with a `Status` saying what was kept.
fn accepted(notification: &Notification) -> Response {
    let message = format!(
        "{} pushed tags recorded for the importer, {} events ignored",
        notification.pushed.len(),
        notification.ignored
    );
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Success", "code": 202, "message": message});
    (StatusCode::ACCEPTED, Json(status)).into_response()
}

impl RegistryEvents {
    /// Checks the caller first: nothing of an unknown caller's request is read, except the
    /// body of a signed one (the signature is the body's).
    async fn receive(&self, parts: &Parts, body: Body) -> Result<Notification, EventsError> {
        let text = self.token_file_text().await?;
        let tokens = accepted_tokens(&text);
        let in_path = path_token(parts.uri.path());
        let body = match in_path.as_deref().or_else(|| header_token(&parts.headers)) {
            Some(given) => {
                authenticate(tokens, given)?;
                read_body(body).await.map_err(EventsError::Body)?
            }
            None => {
                // Only GitHub's deliveries are signed: anything else is refused unread.
                header(&parts.headers, GITHUB_EVENT_HEADER).ok_or(EventsError::Unauthorized)?;
                let signature = header(&parts.headers, SIGNATURE_HEADER);
                let signature = signature.ok_or(EventsError::Unauthorized)?;
                let body = read_body_within(body, MAX_SIGNED_BODY_BYTES).await;
                let body = body.map_err(EventsError::Body)?;
                verify_signature(tokens, &body, signature)?;
                body
            }
        };
        let Query(query) = Query::<EventsQuery>::try_from_uri(&parts.uri)
            .map_err(|rejection| EventsError::Query(rejection.body_text()))?;
        if let Some(event) = header(&parts.headers, GITHUB_EVENT_HEADER) {
            if event != "package" {
                return Ok(Notification {
                    pushed: Vec::new(),
                    ignored: 1,
                });
            }
        }
        let notification = notification::parse(&body, query.registry.as_deref())?;
        let now = Timestamp::now();
        for pushed in &notification.pushed {
            self.record(pushed, now).await?;
        }
        if !notification.pushed.is_empty() {
            let sources: Vec<&str> = notification
                .pushed
                .iter()
                .map(|p| p.source.as_str())
                .collect();
            tracing::info!(?sources, "registry notification: pushes recorded");
        }
        Ok(notification)
    }

    /// The token file's text, read now: a rotated Secret applies at once.
    async fn token_file_text(&self) -> Result<String, EventsError> {
        tokio::fs::read_to_string(&self.token_file)
            .await
            .map_err(|error| EventsError::TokenFile {
                path: self.token_file.display().to_string(),
                reason: error.to_string(),
            })
    }

    /// Creates the record of `pushed`, or rewrites it (a new revision) when a push of the same
    /// tag is still waiting, so the importer's delete of the older one fails and it handles
    /// the newer.
    async fn record(&self, pushed: &PushedTag, now: Timestamp) -> Result<(), EventsError> {
        let key = record::key(&pushed.source);
        let value = record::value(pushed, now);
        for _ in 0..WRITE_ATTEMPTS {
            match self.store.create(&key, value.clone()).await {
                Err(store::Error::AlreadyExists { .. }) => {}
                done => return done.map(drop).map_err(EventsError::from),
            }
            match self.store.update(&key, value.clone(), None).await {
                Err(store::Error::NotFound { .. }) => {}
                done => return done.map(drop).map_err(EventsError::from),
            }
        }
        Err(store::Error::Unavailable(format!("the record {key} keeps changing; retry")).into())
    }
}

/// `given` is one of `tokens`.
fn authenticate<'a>(
    mut tokens: impl Iterator<Item = &'a str>,
    given: &str,
) -> Result<(), EventsError> {
    let known = tokens.any(|token| same_token(token, given));
    known.then_some(()).ok_or(EventsError::Unauthorized)
}

/// `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under one of `tokens`.
fn verify_signature<'a>(
    mut tokens: impl Iterator<Item = &'a str>,
    body: &[u8],
    signature: &str,
) -> Result<(), EventsError> {
    let digits = signature.strip_prefix("sha256=");
    let tag = digits.and_then(|digits| hex::decode(digits).ok());
    let tag = tag.ok_or(EventsError::Unauthorized)?;
    let signed = tokens.any(|token| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token.as_bytes());
        ring::hmac::verify(&key, body, &tag).is_ok()
    });
    signed.then_some(()).ok_or(EventsError::Unauthorized)
}

/// The bearer token of the `Authorization` header.
fn header_token(headers: &HeaderMap) -> Option<&str> {
    bearer_token(header(headers, axum::http::header::AUTHORIZATION.as_str())?)
}

/// The value of header `name`, when it is text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// The token of a `/registry-events/<token>` path, percent-decoded.
fn path_token(path: &str) -> Option<String> {
    let segment = path.strip_prefix(PATH)?.strip_prefix('/')?;
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()?;
    Some(decoded.into_owned())
}

/// The tokens of a token file: its non-empty lines, trimmed, except `#` comments.
pub fn accepted_tokens(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Compares the tokens' hashes, so the time taken says nothing about the secret's prefix.
fn same_token(expected: &str, given: &str) -> bool {
    Sha256::digest(expected.as_bytes()) == Sha256::digest(given.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::NOTIFICATION_RESULTS;

    #[test]
    fn a_token_in_the_path_is_its_last_segment_decoded() {
        assert_eq!(
            path_token("/registry-events/abc123").as_deref(),
            Some("abc123")
        );
        assert_eq!(
            path_token("/registry-events/a%2Fb%20c").as_deref(),
            Some("a/b c")
        );
        assert_eq!(path_token("/registry-events"), None);
        assert_eq!(path_token("/registry-eventsabc"), None);
    }

    #[test]
    fn token_files_hold_one_token_a_line_and_comments() {
        let text = "# rotated 2026-11-30\n  new-token  \n\nold-token\n";
        assert_eq!(
            accepted_tokens(text).collect::<Vec<_>>(),
            ["new-token", "old-token"]
        );
        assert!(same_token("new-token", "new-token"));
        assert!(!same_token("new-token", "new-toke"));
    }

    #[test]
    fn a_signature_is_the_bodys_hmac_sha256_under_one_of_the_tokens() {
        // GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
        let body = b"Hello, World!";
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let tokens = ["old-token", "It's a Secret to Everybody"];
        assert!(verify_signature(tokens.into_iter(), body, signature).is_ok());
        for (tokens, body, signature) in [
            (&tokens[..1], &body[..], signature),
            (&tokens[..], b"Hello, World?", signature),
            (&tokens[..], &body[..], &signature[7..]),
            (&tokens[..], &body[..], "sha256=not-hex"),
            (
                &tokens[..],
                &body[..],
                "sha1=757107ea0eb2509fc211221cce984b8a37570b6d",
            ),
        ] {
            let checked = verify_signature(tokens.iter().copied(), body, signature);
            assert!(
                matches!(checked, Err(EventsError::Unauthorized)),
                "{signature} over {body:?}"
            );
        }
    }

    #[test]
    fn each_failure_maps_to_its_status_and_an_unread_token_file_is_not_named_to_the_caller() {
        let code = |error: EventsError| ApiError::from(error).code();
        assert_eq!(code(EventsError::Unauthorized), 401);
        assert_eq!(code(EventsError::Query("x".into())), 400);
        let malformed = NotificationError::Malformed("eof".into());
        assert_eq!(code(EventsError::Malformed(malformed)), 400);
        let file = EventsError::TokenFile {
            path: "/etc/imagelookup/registry-events/token".into(),
            reason: "gone".into(),
        };
        let answered = ApiError::from(file).to_string();
        assert!(!answered.contains("/etc/imagelookup"), "{answered}");
        assert!(answered.contains("the server's log says why"), "{answered}");
        let file = EventsError::TokenFile {
            path: "/t".into(),
            reason: "gone".into(),
        };
        assert_eq!(code(file), 503);
        let unavailable = store::Error::Unavailable("etcd".into());
        assert_eq!(code(EventsError::Store(unavailable)), 503);
    }

    #[test]
    fn every_result_a_notification_is_counted_under_is_exported_from_the_start() {
        let failures = [
            EventsError::Unauthorized,
            EventsError::Body(ApiError::ServiceUnavailable("spent".into())),
            EventsError::Malformed(NotificationError::Malformed("eof".into())),
            EventsError::Query("x".into()),
            EventsError::Body(ApiError::BadRequest("x".into())),
            EventsError::TokenFile {
                path: "/t".into(),
                reason: "gone".into(),
            },
            EventsError::Store(store::Error::Unavailable("etcd".into())),
        ];
        let results = failures.iter().map(EventsError::result);
        for result in results.chain([IGNORED, RECORDED]) {
            assert!(NOTIFICATION_RESULTS.contains(&result), "{result}");
        }
    }

    #[test]
    fn a_body_refused_for_the_spent_budget_is_counted_busy_not_malformed() {
        let spent = ApiError::ServiceUnavailable("too many large request bodies".into());
        assert_eq!(EventsError::Body(spent).result(), "busy");
        let cut = ApiError::bad_request("cannot read the request body: eof");
        assert_eq!(EventsError::Body(cut).result(), "malformed");
    }
}
