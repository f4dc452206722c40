//! Registry I/O: resolve a pull spec to a manifest digest and the images behind it.
//!
//! Speaks the distribution API through a `Session` per registry, scheme and credential:
//! bearer-token challenges (Docker Hub's anonymous tokens included), and bodies read up to a
//! limit, which `oci-client`'s client does not keep (see `session`); its reference and error
//! types are used still. Manifest digests are checked against their bytes. Every registry
//! call runs under a timeout.
//!
//! `importPolicy.insecure` does what OpenShift's importer does: HTTPS without certificate
//! verification first, then plain HTTP when the connection itself fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_client::Reference;

use self::error::{missing, registry_only};
pub use self::error::{ImportError, Subject, TransportHint};
use super::credentials::{Credential, Keyring};
use super::image::ImageRecord;
use super::manifest::{legacy_child, Child, Content, Manifest};
use super::mirrors::canonical_host;
use super::mirrors::PullSource;
use super::outcome::imported_reference;
use super::plan::ImportMode;
use super::registry_config::{RegistryConfig, SharedRegistryConfig};
use super::silent::{self, SharedSilence};
use crate::reference::ImageRef;

mod challenge;
mod digest;
mod error;
mod schemes;
mod session;
mod tags;

use self::schemes::Scheme;
use self::session::{Body, Session};

/// How many cached sessions are kept before the cache starts over.
const MAX_SESSIONS: usize = 64;
/// Connection set-up limit, below the per-call timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT: &str = concat!("imagelookup/", env!("CARGO_PKG_VERSION"));

/// What an import found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The digest the tag records: the image's, a Legacy import's chosen child's, or a
    /// PreserveOriginal import's index.
    pub digest: String,
    /// The images to store: the recorded one first, then an index's children.
    pub images: Vec<ImageRecord>,
    /// Whether a mirror (`--registries-conf` and the like) answered rather than the source's
    /// registry.
    pub from_mirror: bool,
    /// The place that answered: the source, or where a mirror serves it.
    pub pulled_from: String,
}

impl Fetched {
    /// What one place answered; [`RegistryClient::fetch`] says whether it was a mirror.
    fn new(digest: String, images: Vec<ImageRecord>) -> Self {
        Self {
            digest,
            images,
            from_mirror: false,
            pulled_from: String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClientKey {
    registry: String,
    scheme: Scheme,
    credential: Credential,
}

/// A manifest as pulled: its digest, what it says, and its text.
type Pulled = (String, Manifest, String);

/// Where one import reads from.
struct Target {
    source: ImageRef,
    reference: Reference,
    /// The `ns` query of its manifest and blob requests: the source's host, when the place is
    /// another host (a mirror), as containerd tells caches that serve several registries.
    namespace: Option<String>,
}

/// A registry client with per-call timeouts, shared by the importer's workers.
pub struct RegistryClient {
    sessions: Mutex<Sessions>,
    timeout: Duration,
    /// The mirrors and CAs every fetch reads afresh (`--registries-conf` and the like).
    config: SharedRegistryConfig,
    /// How each place answered, noted after every question (see [`silent`]).
    silence: SharedSilence,
    /// Whether a place that did not answer a moment ago is skipped (the background importer)
    /// or asked anyway (imports a user asks for).
    skips_silent: bool,
}

/// Runs `call` with each of `credentials` in turn while the registry refuses them
/// ([`ImportError::is_refusal`]), as the kubelet tries each credential of its keyring: a
/// namespace's stale pull secret does not hide the global one. Any other failure (no answer,
/// a broken manifest) ends it: another credential would not change it. When every credential
/// is refused, a `NotFound` one of them met is the answer (a stale credential's 401 before a
/// good one's 404 must not hide that the image is not there), else the first refusal, the
/// most specific credential's.
async fn with_each_credential<'c, T, F, Fut>(
    credentials: &'c [Credential],
    call: F,
) -> Result<T, ImportError>
where
    F: Fn(&'c Credential) -> Fut,
    Fut: std::future::Future<Output = Result<T, ImportError>>,
{
    let mut refusals = Vec::new();
    for credential in credentials {
        match call(credential).await {
            Err(refused) if refused.is_refusal() => refusals.push(refused),
            done => return done,
        }
    }
    let not_found = refusals.iter().position(ImportError::is_not_found);
    // `credentials` is never empty (anonymous stands in for none), nor then `refusals`.
    match refusals.is_empty() {
        true => Err(ImportError::Unauthorized),
        false => Err(refusals.swap_remove(not_found.unwrap_or(0))),
    }
}

impl RegistryClient {
    /// A client whose registry calls each give up after `timeout`, pulling each source from
    /// the places `config`'s mirrors list for it and trusting the system's CAs and `config`'s
    /// (registries with a private CA; start-up has read them, so a bundle holding no
    /// certificate adds none). A replaced `config` applies from the next fetch.
    pub fn new(timeout: Duration, config: SharedRegistryConfig) -> Self {
        Self {
            sessions: Mutex::new(Sessions::default()),
            timeout,
            config,
            silence: SharedSilence::default(),
            skips_silent: false,
        }
    }

    /// This client, noting in `silence` how each place answered, and skipping those that did
    /// not answer a moment ago when `skips_silent`. Per place, not per source: a source whose
    /// own registry is out of reach still imports from its mirrors.
    pub fn with_silence(mut self, silence: SharedSilence, skips_silent: bool) -> Self {
        self.silence = silence;
        self.skips_silent = skips_silent;
        self
    }

    /// Resolves `source` and reads its manifests, and with `configs` each image's config blob
    /// (for an answer that includes them; imports store neither). Each mirror of `source` is
    /// tried before its own registry, each with its credentials from `keyring` (then the global
    /// pull secret's) while it refuses them; the images are recorded under `source`'s name
    /// whichever place answered.
    pub async fn fetch(
        &self,
        source: &ImageRef,
        mode: &ImportMode,
        insecure: bool,
        keyring: &Keyring,
        configs: bool,
    ) -> Result<Fetched, ImportError> {
        target_of(source)?;
        let config = self.config.borrow().clone();
        let places = config
            .mirrors
            .pull_sources(source, insecure)
            .map_err(|blocked| ImportError::Blocked {
                prefix: blocked.prefix,
            })?;
        let mut failed = Vec::new();
        for place in &places {
            let credentials = keyring.candidates_or(&config.global_pull_secret, &place.reference);
            let namespace = match config.namespace_query {
                true => proxied_namespace(source, &place.reference),
                false => None,
            };
            let fetch = self.fetch_from(source, place, mode, &credentials, namespace, configs);
            match self.heeding_silence(&place.reference, fetch).await {
                Ok(fetched) => {
                    if place.mirror {
                        tracing::debug!(%source, mirror = %place.reference, "imported from a mirror");
                    }
                    return Ok(Fetched {
                        from_mirror: place.mirror,
                        pulled_from: place.reference.exact(),
                        ..fetched
                    });
                }
                Err(error) => failed.push((place.reference.exact(), error)),
            }
        }
        match failed.len() {
            1 => Err(failed.remove(0).1),
            _ => Err(ImportError::EverySource(failed)),
        }
    }

    /// Runs `ask`, a registry call about `place`, unless this client skips places that did
    /// not answer a moment ago and `place` is one (then fails at once, saying when it is asked
    /// again); notes how it answered either way.
    async fn heeding_silence<T>(
        &self,
        place: &ImageRef,
        ask: impl std::future::Future<Output = Result<T, ImportError>>,
    ) -> Result<T, ImportError> {
        if self.skips_silent {
            if let Some(unasked) = silent::unasked(&self.silence, place) {
                return Err(unasked);
            }
        }
        let answered = ask.await;
        silent::note(&self.silence, place, answered.as_ref().err());
        answered
    }

    /// [`fetch`](Self::fetch) from one place, with each of `credentials` while it refuses,
    /// telling it `namespace` (`?ns=`) when given.
    async fn fetch_from(
        &self,
        source: &ImageRef,
        place: &PullSource,
        mode: &ImportMode,
        credentials: &[Credential],
        namespace: Option<String>,
        configs: bool,
    ) -> Result<Fetched, ImportError> {
        let target = Target {
            source: source.clone(),
            reference: target_of(&place.reference)?.reference,
            namespace,
        };
        let registry = target.reference.resolve_registry();
        self.over_schemes(registry, place.insecure, credentials, |key| {
            let target = &target;
            async move { self.fetch_with(target, &key, mode, configs).await }
        })
        .await
    }

    /// Runs `call` with the client of each scheme `insecure` allows, in order (HTTPS, then
    /// without verification and over plain HTTP when insecure), until one gets more than a
    /// failed or unanswered connection (see [`schemes::over`]); within a scheme, with each of
    /// `credentials` while the registry refuses them ([`with_each_credential`]). Schemes
    /// outside: an HTTPS port that does not answer is waited for once, not per credential.
    async fn over_schemes<T, F, Fut>(
        &self,
        registry: &str,
        insecure: bool,
        credentials: &[Credential],
        call: F,
    ) -> Result<T, ImportError>
    where
        F: Fn(ClientKey) -> Fut,
        Fut: std::future::Future<Output = Result<T, ImportError>>,
    {
        schemes::over(schemes::schemes(insecure), |scheme| {
            let call = &call;
            with_each_credential(credentials, move |credential| {
                call(ClientKey {
                    registry: registry.to_string(),
                    scheme,
                    credential: credential.clone(),
                })
            })
        })
        .await
    }

    async fn fetch_with(
        &self,
        target: &Target,
        key: &ClientKey,
        mode: &ImportMode,
        configs: bool,
    ) -> Result<Fetched, ImportError> {
        let session = self.session(key)?;
        let mut fetched = self.manifests_of(&session, target, mode).await?;
        if configs {
            for image in &mut fetched.images {
                self.read_config(&session, target, image).await?;
            }
        }
        Ok(fetched)
    }

    /// The manifests `target` names: the image, a Legacy import's child, or an index and its
    /// children.
    async fn manifests_of(
        &self,
        session: &Session,
        target: &Target,
        mode: &ImportMode,
    ) -> Result<Fetched, ImportError> {
        let namespace = target.namespace.as_deref();
        let pull =
            |reference: Reference| async move { self.pull(session, &reference, namespace).await };
        let (digest, manifest, body) = pull(target.reference.clone()).await?;
        let children = manifest.children().to_vec();
        let record = |(digest, manifest, body): Pulled, architectures: Vec<String>| ImageRecord {
            reference: imported_reference(&target.source, &digest),
            digest,
            manifest,
            architectures,
            manifest_body: body,
            config_body: None,
        };
        if matches!(manifest.content, Content::Image { .. }) {
            let images = vec![record((digest.clone(), manifest, body), Vec::new())];
            return Ok(Fetched::new(digest, images));
        }
        let child_reference = |digest: &str| target.reference.clone_with_digest(digest.into());
        if let ImportMode::Legacy(preferred) = mode {
            let child = legacy_child(&children, preferred).ok_or_else(|| {
                ImportError::Registry("the image index lists no manifests".into())
            })?;
            let pulled = pull(child_reference(&child.digest))
                .await
                .map_err(|error| missing(error, &target.source, child, mode))?;
            let child_digest = pulled.0.clone();
            let architectures = architectures_of(&children, child);
            return Ok(Fetched::new(
                child_digest,
                vec![record(pulled, architectures)],
            ));
        }
        let mut images = vec![record((digest.clone(), manifest, body), Vec::new())];
        for child in &children {
            // An entry repeating an earlier one's digest gets the same record, pulled once.
            let earlier = images[1..].iter().find(|i| i.digest == child.digest);
            if let Some(earlier) = earlier.cloned() {
                images.push(earlier);
                continue;
            }
            let pulled = pull(child_reference(&child.digest))
                .await
                .map_err(|error| missing(error, &target.source, child, mode))?;
            images.push(record(pulled, architectures_of(&children, child)));
        }
        Ok(Fetched::new(digest, images))
    }

    /// One manifest GET under the timeout, with `?ns=namespace` when given: its digest, parsed
    /// body and text.
    async fn pull(
        &self,
        session: &Session,
        reference: &Reference,
        namespace: Option<&str>,
    ) -> Result<Pulled, ImportError> {
        let named = reference.digest();
        let path = format!(
            "manifests/{}{}",
            named.or(reference.tag()).unwrap_or("latest"),
            ns_query(namespace)
        );
        let call = session.get(reference.repository(), &path, Body::Manifest);
        let answer = self.within_timeout(call).await?;
        let body = answer.body;
        let digest = digest::checked(&body, answer.digest_header.as_deref(), named)?;
        let manifest = Manifest::parse(&body)?;
        Ok((
            digest,
            manifest,
            String::from_utf8_lossy(&body).into_owned(),
        ))
    }

    /// Reads `image`'s config blob, under the timeout, when it is an image (an index has none);
    /// the session holds the token its manifest's pull got.
    async fn read_config(
        &self,
        session: &Session,
        target: &Target,
        image: &mut ImageRecord,
    ) -> Result<(), ImportError> {
        let Content::Image { config, .. } = &image.manifest.content else {
            return Ok(());
        };
        let path = format!(
            "blobs/{}{}",
            config.digest,
            ns_query(target.namespace.as_deref())
        );
        let repository = target.reference.repository();
        let call = session.get(repository, &path, Body::Config);
        let blob = self.within_timeout(call).await?.body;
        digest::checked(&blob, None, Some(&config.digest))?;
        image.config_body = Some(String::from_utf8_lossy(&blob).into_owned());
        Ok(())
    }

    /// `call`, failing with [`ImportError::Timeout`] once the registry timeout has passed.
    async fn within_timeout<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ImportError>>,
    ) -> Result<T, ImportError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| ImportError::Timeout(self.timeout))?
    }

    /// The cached session for `key`; the lock is released before any request. Sessions made
    /// before the configuration was replaced are dropped: they trust the old CAs.
    fn session(&self, key: &ClientKey) -> Result<Arc<Session>, ImportError> {
        let config = self.config.borrow().clone();
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        sessions.follow(&config);
        if let Some(session) = sessions.by_key.get(key) {
            return Ok(session.clone());
        }
        if sessions.by_key.len() >= MAX_SESSIONS {
            sessions.by_key.clear();
        }
        // The CAs of every registry, and those trusted for this one only.
        let mut roots = sessions.roots.clone();
        roots.extend(certificates(config.host_ca(&key.registry)));
        let tls = session::Tls {
            roots: &roots,
            client_certificate: config.client_certificate(&key.registry),
        };
        let headers = config.headers(&key.registry).cloned().unwrap_or_default();
        let session = Arc::new(Session::new(key, self.timeout, tls, headers)?);
        sessions.by_key.insert(key.clone(), session.clone());
        Ok(session)
    }
}

/// The sessions made under one registry configuration, and its CAs as the client reads them.
#[derive(Default)]
struct Sessions {
    /// The configuration they were made under.
    config: Option<Arc<RegistryConfig>>,
    roots: Vec<reqwest::Certificate>,
    by_key: HashMap<ClientKey, Arc<Session>>,
}

impl Sessions {
    /// Starts over when `config` is not the one these sessions were made under.
    fn follow(&mut self, config: &Arc<RegistryConfig>) {
        if self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config)) {
            return;
        }
        self.roots = certificates(&config.ca);
        self.by_key.clear();
        self.config = Some(config.clone());
    }
}

/// The certificates of PEM `bundles` (start-up and reloads checked that each holds some).
fn certificates<'b>(bundles: impl IntoIterator<Item = &'b Vec<u8>>) -> Vec<reqwest::Certificate> {
    bundles
        .into_iter()
        .filter_map(|pem| reqwest::Certificate::from_pem_bundle(pem).ok())
        .flatten()
        .collect()
}

/// Every architecture `children` list `picked`'s digest under, `picked`'s first: an index
/// may name one manifest for several platforms (a platform-neutral image), and a node of any
/// of them pulls that manifest.
fn architectures_of(children: &[Child], picked: &Child) -> Vec<String> {
    let same = children.iter().filter(|c| c.digest == picked.digest);
    let mut names: Vec<String> = Vec::new();
    for child in std::iter::once(picked).chain(same) {
        let name = &child.architecture;
        if !name.is_empty() && !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// The distribution reference for `source`, with Docker's defaults filled in.
fn target_of(source: &ImageRef) -> Result<Target, ImportError> {
    let full = source.docker_client_defaults();
    if full.name.is_empty() {
        return Err(ImportError::NoRepository(registry_only(source)));
    }
    let repository = repository(&full);
    let reference = match full.id.is_empty() {
        true => Reference::with_tag(full.registry, repository, full.tag),
        false => Reference::with_digest(full.registry, repository, full.id),
    };
    Ok(Target {
        source: source.clone(),
        reference,
        namespace: None,
    })
}

/// The `ns` containerd sends a place that is not the image's own registry: the image's
/// registry host, so a cache serving several registries from one host knows which one is
/// meant. Hosts are compared with Docker Hub's names as one, where containerd exempts only
/// `registry-1.docker.io` for `docker.io` images (it also tells `index.docker.io` `ns=docker.io`);
/// neither difference reaches a cache.
fn proxied_namespace(source: &ImageRef, place: &ImageRef) -> Option<String> {
    let host = |reference: &ImageRef| canonical_host(&reference.docker_client_defaults().registry);
    let own = host(source);
    (host(place) != own).then_some(own)
}

/// `?ns=<namespace>` for a request path, or nothing.
fn ns_query(namespace: Option<&str>) -> String {
    namespace.map_or_else(String::new, |ns| format!("?ns={ns}"))
}

/// The repository path of a reference: `namespace/name`, or `name`.
pub fn repository(reference: &ImageRef) -> String {
    match reference.namespace.is_empty() {
        true => reference.name.clone(),
        false => format!("{}/{}", reference.namespace, reference.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(spec: &str) -> ImageRef {
        ImageRef::parse(spec).unwrap()
    }

    /// What `with_each_credential` answers when the registry answers each credential with
    /// `answers` in turn, and which credentials it sent.
    fn tried(answers: Vec<Result<u8, ImportError>>) -> (Result<u8, ImportError>, Vec<String>) {
        let credentials: Vec<Credential> = (0..answers.len())
            .map(|n| Credential::Bearer(format!("c{n}")))
            .collect();
        let answers = Mutex::new(answers.into_iter());
        let sent = Mutex::new(Vec::new());
        let call = |credential: &Credential| {
            if let Credential::Bearer(token) = credential {
                sent.lock().unwrap().push(token.clone());
            }
            let answer = answers.lock().unwrap().next().unwrap();
            std::future::ready(answer)
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let answer = runtime.block_on(with_each_credential(&credentials, call));
        (answer, sent.into_inner().unwrap())
    }

    #[test]
    fn each_credential_is_tried_while_the_registry_refuses_and_no_further() {
        let (answer, sent) = tried(vec![Err(ImportError::Unauthorized), Ok(7)]);
        assert_eq!(
            (answer.ok(), sent),
            (Some(7), vec!["c0".into(), "c1".into()])
        );
        let refused = || Err(ImportError::Unauthorized);
        let (answer, sent) = tried(vec![refused(), refused()]);
        assert!(matches!(answer, Err(ImportError::Unauthorized)));
        assert_eq!(sent.len(), 2);
        let (answer, _) = tried(vec![refused(), Err(ImportError::NotFound)]);
        assert!(
            matches!(answer, Err(ImportError::NotFound)),
            "not there, whoever asks"
        );
        let timeout = ImportError::Timeout(Duration::from_secs(30));
        let (answer, sent) = tried(vec![Err(timeout), Ok(7)]);
        assert!(matches!(answer, Err(ImportError::Timeout(_))), "{answer:?}");
        assert_eq!(
            sent,
            ["c0"],
            "a registry that does not answer is not asked again"
        );
        let insecure_refusal = ImportError::EveryScheme {
            https: Box::new(ImportError::transport("tls")),
            https_took: Duration::ZERO,
            http: Box::new(ImportError::Unauthorized),
        };
        let (answer, _) = tried(vec![Err(insecure_refusal), Ok(7)]);
        assert_eq!(answer.ok(), Some(7), "refused over plain HTTP is refused");
    }

    #[test]
    fn a_place_on_another_host_is_told_the_images_registry_as_containerd_tells_it() {
        let table = [
            (
                "quay.io/org/app:1",
                "cache.local:5000/org/app:1",
                Some("quay.io"),
            ),
            ("mysql:8", "cache.local/library/mysql:8", Some("docker.io")),
            ("mysql:8", "registry-1.docker.io/library/mysql:8", None),
            (
                "docker.io/library/mysql:8",
                "index.docker.io/library/mysql:8",
                None,
            ),
            ("quay.io/org/app:1", "quay.io/mirrors/org/app:1", None),
            (
                "reg.local:5000/app:1",
                "reg.local:5001/app:1",
                Some("reg.local:5000"),
            ),
        ];
        for (image, place, expected) in table {
            let namespace = proxied_namespace(&source(image), &source(place));
            assert_eq!(namespace.as_deref(), expected, "{image} from {place}");
        }
        assert_eq!(ns_query(Some("quay.io")), "?ns=quay.io");
        assert_eq!(ns_query(None), "");
    }

    #[test]
    fn targets_fill_docker_defaults() {
        let check = |spec: &str, registry: &str, repository: &str, tag: Option<&str>| {
            let target = target_of(&source(spec)).unwrap();
            assert_eq!(target.reference.registry(), registry, "{spec}");
            assert_eq!(target.reference.repository(), repository, "{spec}");
            assert_eq!(target.reference.tag(), tag, "{spec}");
        };
        check("mysql", "docker.io", "library/mysql", Some("latest"));
        check("mysql:5.7", "docker.io", "library/mysql", Some("5.7"));
        check("quay.io/o/app:1", "quay.io", "o/app", Some("1"));
        check(
            "127.0.0.1:5000/demo/app:v1",
            "127.0.0.1:5000",
            "demo/app",
            Some("v1"),
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = target_of(&source(&format!("quay.io/o/app:1@{digest}"))).unwrap();
        assert_eq!(pinned.reference.digest(), Some(digest.as_str()));
    }

    #[test]
    fn a_registry_without_a_repository_is_named_as_written() {
        let check = |spec: &str, written: &str| {
            let error = target_of(&source(spec)).err().expect(spec);
            assert!(
                !error.advises_a_fix(),
                "{spec}: fixing from.name re-imports"
            );
            let failure = error.failure(&source(spec));
            let message = format!(
                "\"{written}\" names a registry but no repository; use \
                 <registry>/<repository>:<tag>"
            );
            assert_eq!(
                (failure.reason.as_str(), failure.message.as_str()),
                ("Invalid", message.as_str()),
                "{spec}"
            );
        };
        check("127.0.0.1:5000", "127.0.0.1:5000");
        check("quay.io", "quay.io");
        check("localhost:5000", "localhost:5000");
        check("localhost", "localhost");
    }

    #[test]
    fn a_child_records_every_architecture_its_index_lists_for_its_digest() {
        let entry = |architecture: &str, digest: &str| Child {
            digest: digest.into(),
            os: "linux".into(),
            architecture: architecture.into(),
            ..Child::default()
        };
        let children = [
            entry("arm64", "sha256:a"),
            entry("amd64", "sha256:a"),
            entry("s390x", "sha256:s"),
            entry("", "sha256:a"),
            entry("amd64", "sha256:a"),
        ];
        let check = |picked: usize, expected: &[&str]| {
            assert_eq!(architectures_of(&children, &children[picked]), expected);
        };
        check(1, &["amd64", "arm64"]);
        check(0, &["arm64", "amd64"]);
        check(2, &["s390x"]);
        check(3, &["arm64", "amd64"]);
    }
}
