//! Why an import failed, sorted from `oci-client`'s errors, and the tag condition each gives.

use std::time::Duration;

use oci_client::errors::{OciDistributionError, OciErrorCode};

use crate::importer::manifest::{Child, ManifestError};
use crate::importer::outcome::{Failure, ImportReason};
use crate::importer::plan::ImportMode;
use crate::reference::ImageRef;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The repository, tag or digest does not exist.
    #[error("not found")]
    NotFound,
    /// The registry refused the credentials (or their absence).
    #[error("unauthorized")]
    Unauthorized,
    /// A registry call took longer than the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The connection failed (refused, TLS, DNS): the client's error chain, and what it means
    /// when rustls names it only cryptically.
    #[error("{}", transport_message(.message, *.hint, Subject::Tag))]
    Transport {
        /// The client's error chain.
        message: String,
        /// What a cryptic TLS failure means, and what to do about it.
        hint: Option<TransportHint>,
    },
    /// The registry did not answer in time: a connect or read timeout of the HTTP client.
    #[error("{message}")]
    NoAnswer {
        /// Whether the connection itself was not made in time (the host is unreachable), as
        /// opposed to a request that went unanswered on a connection (one repository).
        connect: bool,
        /// The client's error chain.
        message: String,
    },
    /// Not asked: the registry host, or this repository of it, did not answer another import
    /// a moment ago, or limited its rate (see `importer::silent`).
    #[error("{}", silent_message(.what, *.ago, *.retry_in, *.why, Subject::Tag))]
    Silent {
        /// The registry host, or `host/repository`.
        what: String,
        /// How long ago it did not answer.
        ago: Duration,
        /// When it will be asked again.
        retry_in: Duration,
        /// Why it is not asked.
        why: crate::importer::silent::Why,
    },
    /// The registry answered `429 Too Many Requests`, saying this (perhaps nothing).
    #[error(
        "the registry limits its rate (429 Too Many Requests{}): give the tag's pull secret an \
         account with a higher limit, or import from a mirror; background imports leave this \
         registry alone for a minute",
        detail(.0)
    )]
    RateLimited(String),
    /// An insecure import got no connection or no answer over HTTPS, nor then over HTTP.
    /// The message leads with HTTP's failure, which decides the outcome; HTTPS's follows
    /// without advice to set `importPolicy.insecure`, which the tag has.
    #[error("{}", every_scheme(.https, *.https_took, .http, Subject::Tag))]
    EveryScheme {
        /// Why HTTPS failed.
        https: Box<ImportError>,
        /// How long the HTTPS attempt took.
        https_took: Duration,
        /// Why HTTP failed: what the import's outcome is judged by.
        http: Box<ImportError>,
    },
    /// The registry answered with an error.
    #[error("{0}")]
    Registry(String),
    /// The registry sent a body past what an import reads (see `registry::session`).
    #[error(
        "the registry sent a {what} larger than {} MiB, more than an import reads (and more \
         than CRI-O or Podman pull); check that the tag names an image of a registry you trust",
        .limit >> 20
    )]
    TooLarge {
        /// What it sent: a manifest, an image config, a tag list page, a token answer.
        what: &'static str,
        /// The most read of it, in bytes.
        limit: usize,
    },
    /// The manifest is malformed or of an unsupported type.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The source names a registry only (`quay.io`, `127.0.0.1:5000`): `{0}` is what it names.
    #[error("{0:?} names a registry but no repository; use <registry>/<repository>:<tag>")]
    NoRepository(String),
    /// The registries configuration (`--registries-conf`, `--containerd-hosts-dir` or
    /// `--mirror-sets`) blocks the source's registry, and no mirror of it serves this pull.
    #[error(
        "the registries configuration blocks {prefix:?} and lists no mirror of it for this \
         pull: add a mirror that serves it (in registries.conf a [[registry.mirror]] with \
         pull-from-mirror \"all\", or \"tag-only\" for a tag; in a hosts.toml a [host] with \
         the pull or resolve capability; in a mirror set a mirror of the right kind), or \
         unblock the registry"
    )]
    Blocked {
        /// The prefix of the `[[registry]]` table that blocks it.
        prefix: String,
    },
    /// Every place the source is pulled from (its mirrors, then its own registry) failed:
    /// each place and why, in the order they were tried.
    #[error("{}", every_source(.0, Subject::Tag))]
    EverySource(Vec<(String, ImportError)>),
    /// An index lists a manifest its repository does not hold (a mirror without every
    /// platform).
    #[error("{}", missing_child(.digest, .platform, .listed_by, .mode))]
    MissingChild {
        /// The child manifest's digest.
        digest: String,
        /// `os/architecture[/variant]` as the index lists it.
        platform: String,
        /// The source whose index lists it, with Docker's defaults.
        listed_by: String,
        /// The tag's import mode: only PreserveOriginal needs every child.
        mode: ImportMode,
    },
}

/// `: <what the registry said>` on one line, or nothing when it said nothing, or only a page
/// of HTML (a proxy's error page, markup no condition message should carry).
fn detail(said: &str) -> String {
    let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
    match said.is_empty() || said.starts_with('<') {
        true => String::new(),
        false => format!(": {said}"),
    }
}

/// What an import was for, which its advice names the settings of: a spec tag's import, or
/// a stream's `spec.dockerImageRepository`, whose insecure flag is an annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A spec tag.
    Tag,
    /// The stream's repository.
    Repository,
    /// `imagelookup image-info`, whose flag stands for the tag's setting.
    Lookup,
}

impl Subject {
    /// How to import it over plain HTTP, or without verifying the certificate.
    fn insecure(self) -> String {
        match self {
            Self::Tag => "set importPolicy.insecure: true on the tag".to_string(),
            Self::Repository => format!(
                "annotate the stream {}=true",
                crate::importer::repository::INSECURE_ANNOTATION
            ),
            Self::Lookup => "pass --insecure".to_string(),
        }
    }

    /// Where a CA for the registry is given.
    fn ca_flags(self) -> &'static str {
        match self {
            Self::Tag | Self::Repository => {
                "give its CA to serve with --registry-ca-file (or a ca in its hosts.toml with \
                 --containerd-hosts-dir)"
            }
            Self::Lookup => {
                "give its CA with --registry-ca-file (or a ca in its hosts.toml with \
                 --containerd-hosts-dir)"
            }
        }
    }

    /// What is tried again.
    fn retried(self) -> &'static str {
        match self {
            Self::Tag => "this tag",
            Self::Repository => "the repository",
            Self::Lookup => "the lookup",
        }
    }
}

fn transport_message(message: &str, hint: Option<TransportHint>, subject: Subject) -> String {
    match hint {
        Some(hint) => format!("{message}: {}; {}", hint.what(), hint.fix(subject)),
        None => message.to_string(),
    }
}

fn silent_message(
    what: &str,
    ago: Duration,
    retry_in: Duration,
    why: crate::importer::silent::Why,
    subject: Subject,
) -> String {
    format!(
        "not asked: {what} {} {}s ago; {} is tried again {}s from now, when a minute has \
         passed since then",
        silence_cause(why),
        ago.as_secs(),
        subject.retried(),
        retry_in.as_secs()
    )
}

/// The message leads with HTTP's failure, which decides the outcome; HTTPS's follows without
/// advice to import insecurely, which was asked for.
fn every_scheme(
    https: &ImportError,
    https_took: Duration,
    http: &ImportError,
    subject: Subject,
) -> String {
    format!(
        "over plain HTTP: {}; before that, over HTTPS (failed after {}s): {}",
        http.message_for(subject),
        https_took.as_secs(),
        https.as_insecure_attempt()
    )
}

fn every_source(attempts: &[(String, ImportError)], subject: Subject) -> String {
    let each = attempts
        .iter()
        .map(|(place, error)| format!("from {place}: {}", error.message_for(subject)))
        .collect::<Vec<_>>()
        .join("; ");
    format!("neither a mirror nor the source served the image: {each}")
}

fn silence_cause(why: crate::importer::silent::Why) -> &'static str {
    match why {
        crate::importer::silent::Why::NoAnswer => "did not answer an import",
        crate::importer::silent::Why::RateLimited => "answered 429 Too Many Requests",
    }
}

fn missing_child(digest: &str, platform: &str, listed_by: &str, mode: &ImportMode) -> String {
    let fix = match mode {
        ImportMode::PreserveOriginal => format!(
            "mirror {platform} to that repository, or set importPolicy.importMode: Legacy to \
             import one platform"
        ),
        ImportMode::Legacy(_) => format!("mirror {platform} to that repository"),
    };
    format!("manifest {digest} ({platform}) listed by {listed_by:?} not found; {fix}")
}

impl ImportError {
    /// A bounded snake_case label of what went wrong, finer than the tag condition's reason
    /// (which folds timeouts, rate limits and transport failures into `InternalError`): the
    /// `cause` of `imagelookup_imports_total`. Judged, as the condition is, by the last place
    /// tried and, for an insecure tag, by plain HTTP.
    pub fn cause(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Unauthorized => "unauthorized",
            Self::Timeout(_) | Self::NoAnswer { connect: false, .. } => "timeout",
            Self::NoAnswer { connect: true, .. } => "unreachable",
            Self::Transport { .. } => "transport",
            Self::Silent { .. } => "skipped",
            Self::RateLimited(_) => "rate_limited",
            Self::EveryScheme { http, .. } => http.cause(),
            Self::Registry(_) => "registry_error",
            Self::TooLarge { .. } => "too_large",
            Self::Manifest(_) => "manifest",
            Self::NoRepository(_) => "no_repository",
            Self::Blocked { .. } => "blocked",
            Self::EverySource(attempts) => attempts
                .last()
                .map_or("registry_error", |(_, error)| error.cause()),
            Self::MissingChild { .. } => "missing_platform",
        }
    }

    /// The tag condition OpenShift's importer would record for this error on `source`.
    pub fn failure(&self, source: &ImageRef) -> Failure {
        let spec = source.docker_client_defaults().exact();
        if let Some(last) = self.last_attempt() {
            // Judged by the source's own answer (or the last mirror's, when it is blocked).
            return Failure {
                reason: last.failure(source).reason,
                message: format!("{spec}: {self}"),
            };
        }
        let (reason, message) = match self {
            Self::NotFound => (
                ImportReason::NotFound,
                format!("dockerimage.image.openshift.io {spec:?} not found"),
            ),
            Self::Unauthorized => (
                ImportReason::Unauthorized,
                format!("you may not have access to the container image {spec:?}"),
            ),
            Self::MissingChild { .. } => (ImportReason::NotFound, self.to_string()),
            Self::NoRepository(_) => (ImportReason::Invalid, self.to_string()),
            Self::Blocked { .. } => (ImportReason::Forbidden, self.to_string()),
            other => (
                ImportReason::InternalError,
                format!("Internal error occurred: {spec}: {other}"),
            ),
        };
        Failure { reason, message }
    }

    /// The last place tried, when several were.
    fn last_attempt(&self) -> Option<&ImportError> {
        match self {
            Self::EverySource(attempts) => attempts.last().map(|(_, error)| error),
            _ => None,
        }
    }

    /// A failed connection with no hint.
    pub fn transport(message: impl Into<String>) -> Self {
        Self::Transport {
            message: message.into(),
            hint: None,
        }
    }

    /// This error's message, its advice worded for `subject` (the `Display` is a tag's).
    pub fn message_for(&self, subject: Subject) -> String {
        match self {
            Self::Transport { message, hint } => transport_message(message, *hint, subject),
            Self::Silent {
                what,
                ago,
                retry_in,
                why,
            } => silent_message(what, *ago, *retry_in, *why, subject),
            Self::EveryScheme {
                https,
                https_took,
                http,
            } => every_scheme(https, *https_took, http, subject),
            Self::EverySource(attempts) => every_source(attempts, subject),
            other => other.to_string(),
        }
    }

    /// This error's message without advice (an insecure tag's HTTPS attempt, which plain HTTP
    /// followed: every hint's advice includes setting `importPolicy.insecure`, which the tag
    /// has): what rustls's failure meant stays.
    fn as_insecure_attempt(&self) -> String {
        match self {
            Self::Transport {
                message,
                hint: Some(hint),
            } => format!("{message}: {}", hint.what()),
            other => other.to_string(),
        }
    }

    /// Whether the connection to the registry host was not made in time: the host, not one
    /// repository, is out of reach.
    pub fn is_unreachable_host(&self) -> bool {
        match self {
            Self::EveryScheme { http, .. } => http.is_unreachable_host(),
            Self::EverySource(attempts) => attempts
                .last()
                .is_some_and(|(_, e)| e.is_unreachable_host()),
            other => matches!(other, Self::NoAnswer { connect: true, .. }),
        }
    }

    /// When to try again sooner than the next scheduled import: once the registry (or its
    /// repository) is asked again after a silence or a rate limit.
    pub fn retry_in(&self) -> Option<Duration> {
        match self {
            Self::Silent { retry_in, .. } => Some(*retry_in),
            Self::EverySource(attempts) => attempts.last().and_then(|(_, e)| e.retry_in()),
            other if other.is_rate_limited() => Some(crate::importer::silent::QUIET),
            _ => None,
        }
    }

    /// Whether the registry refused the credential sent: 401 or 403, or 404, which registries
    /// answer for a private repository the caller may not see. Another credential may do.
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::EveryScheme { http, .. } => http.is_refusal(),
            other => matches!(other, Self::Unauthorized | Self::NotFound),
        }
    }

    /// Whether the registry said the image is not there (over plain HTTP, for an insecure
    /// tag's two attempts).
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::EveryScheme { http, .. } => http.is_not_found(),
            other => matches!(other, Self::NotFound),
        }
    }

    /// Whether the registry answered `429 Too Many Requests`.
    pub fn is_rate_limited(&self) -> bool {
        match self {
            Self::EveryScheme { http, .. } => http.is_rate_limited(),
            Self::EverySource(attempts) => {
                attempts.last().is_some_and(|(_, e)| e.is_rate_limited())
            }
            other => matches!(other, Self::RateLimited(_)),
        }
    }

    /// Whether the registry did not answer in time (the whole call's timeout, or the client's
    /// connect or read timeout), rather than answering with an error.
    pub fn is_no_answer(&self) -> bool {
        match self {
            Self::EveryScheme { http, .. } => http.is_no_answer(),
            Self::EverySource(attempts) => attempts.last().is_some_and(|(_, e)| e.is_no_answer()),
            other => matches!(other, Self::Timeout(_) | Self::NoAnswer { .. }),
        }
    }

    /// Whether the message asks for a fix outside the tag's `from` (which would move the tag's
    /// generation and so import it again): the condition should then also say how to import
    /// again.
    pub fn advises_a_fix(&self) -> bool {
        match self {
            Self::Transport { hint, .. } => hint.is_some(),
            Self::EveryScheme { http, .. } => http.advises_a_fix(),
            Self::EverySource(attempts) => attempts.iter().any(|(_, e)| e.advises_a_fix()),
            Self::Blocked { .. } => true,
            Self::MissingChild { .. } => true,
            _ => false,
        }
    }
}

/// A child's `NotFound` as the missing child it is, rather than the tag's own "not found":
/// the tag exists, one platform of it does not.
pub(super) fn missing(
    error: ImportError,
    listed_by: &ImageRef,
    child: &Child,
    mode: &ImportMode,
) -> ImportError {
    if !matches!(error, ImportError::NotFound) {
        return error;
    }
    let platform = [&child.os, &child.architecture, &child.variant]
        .into_iter()
        .filter(|part| !part.is_empty())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("/");
    ImportError::MissingChild {
        digest: child.digest.clone(),
        platform: match platform.is_empty() {
            true => "no platform given".to_string(),
            false => platform,
        },
        listed_by: listed_by.docker_client_defaults().exact(),
        mode: mode.clone(),
    }
}

/// How a registry-only reference was written (its name renders as empty).
pub(super) fn registry_only(source: &ImageRef) -> String {
    let mut written = source.registry.clone();
    if !source.tag.is_empty() {
        written = format!("{written}:{}", source.tag);
    }
    if !source.id.is_empty() {
        written = format!("{written}@{}", source.id);
    }
    written
}

/// The most of a registry's own words a condition carries.
const QUOTED_LIMIT: usize = 512;

/// A registry's words, cut to [`QUOTED_LIMIT`] bytes: any tenant may point a tag at any host
/// the importer reaches (an internal service, whose error pages say more than they should),
/// and the condition is theirs to read, so an answer is quoted, not relayed whole.
fn quoted(said: String) -> String {
    if said.len() <= QUOTED_LIMIT {
        return said;
    }
    let mut end = QUOTED_LIMIT;
    while !said.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &said[..end], said.len() - end)
}

/// Sorts `oci-client`'s errors into what the tag condition distinguishes.
pub(super) fn classify(error: OciDistributionError) -> ImportError {
    match error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => ImportError::Unauthorized,
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes = || envelope.errors.iter().map(|e| &e.code);
            if codes().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                ImportError::NotFound
            } else if codes()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                ImportError::Unauthorized
            } else if codes().any(|c| matches!(c, OciErrorCode::Toomanyrequests)) {
                ImportError::RateLimited(quoted(envelope.to_string()))
            } else {
                ImportError::Registry(quoted(envelope.to_string()))
            }
        }
        OciDistributionError::ServerError { code: 404, .. } => ImportError::NotFound,
        OciDistributionError::ServerError {
            code: 429, message, ..
        } => ImportError::RateLimited(quoted(message)),
        OciDistributionError::ServerError {
            code: 401 | 403, ..
        } => ImportError::Unauthorized,
        OciDistributionError::RequestError(error) if error.is_timeout() => ImportError::NoAnswer {
            connect: error.is_connect(),
            message: crate::store::message_chain(&error),
        },
        OciDistributionError::RequestError(error) => ImportError::Transport {
            message: crate::store::message_chain(&error),
            hint: TransportHint::of_error(&error),
        },
        other => ImportError::Registry(quoted(other.to_string())),
    }
}

/// The rustls error `error` is, or holds inside I/O errors wrapping one another.
fn wrapped_tls<'a>(mut error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let io = error.downcast_ref::<std::io::Error>()?;
        error = io.get_ref()?;
    }
}

/// What a connection failure that rustls names only cryptically means, and what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportHint {
    /// rustls read an HTTP answer where a TLS record belongs.
    PlainHttp,
    /// The registry's certificate is not signed by a CA the importer trusts.
    UntrustedCa,
}

impl TransportHint {
    /// The hint for the rustls error found in `error`'s chain, if it has one. rustls's errors
    /// reach here inside the client's I/O errors (two deep: reqwest wraps tokio-rustls's),
    /// whose `source()` skips the error they wrap, so each link is looked into as well.
    pub fn of_error(error: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut link = Some(error);
        while let Some(error) = link {
            if let Some(tls) = wrapped_tls(error) {
                return Self::of(tls);
            }
            link = error.source();
        }
        None
    }

    /// The hint for `error`, if it is one rustls words cryptically.
    pub fn of(error: &rustls::Error) -> Option<Self> {
        match error {
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                Some(Self::PlainHttp)
            }
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                Some(Self::UntrustedCa)
            }
            _ => None,
        }
    }

    /// What the failure means.
    pub fn what(self) -> &'static str {
        match self {
            Self::PlainHttp => {
                "the registry answered in plain HTTP (server gave HTTP response to HTTPS client)"
            }
            Self::UntrustedCa => "the registry's certificate is not signed by a trusted CA",
        }
    }

    /// What to do about it, for an import of `subject`.
    pub fn fix(self, subject: Subject) -> String {
        let insecure = subject.insecure();
        match self {
            Self::PlainHttp => format!("{insecure} to import over HTTP"),
            Self::UntrustedCa => {
                format!("{}, or {insecure} to skip verification", subject.ca_flags())
            }
        }
    }
}

#[cfg(test)]
mod tests;
