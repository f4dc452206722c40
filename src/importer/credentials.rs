//! Registry credentials from docker-config Secrets (pure).
//!
//! The importer reads the Secrets of the stream's namespace that `/secrets` would list
//! (types `kubernetes.io/dockerconfigjson` and `kubernetes.io/dockercfg`, minus those annotated
//! `openshift.io/image.excludeSecret: "true"`) and lists the entries whose key matches the
//! registry host, the longest matching path first, to be tried in turn (see
//! [`Keyring::candidates_or`]). Keys may
//! carry a scheme (`https://quay.io`) and, as the kubelet reads them, a path starting with
//! `/v1/` or `/v2/` names what follows it (`https://index.docker.io/v1/` is the host); Docker
//! Hub's names are interchangeable.

use base64::Engine;
use serde_json::Value;

use crate::importer::registry::repository;
use crate::reference::{is_docker_hub, ImageRef};

/// The annotation that hides a Secret from image imports.
pub const EXCLUDE_ANNOTATION: &str = "openshift.io/image.excludeSecret";

/// The Secret types that carry registry credentials.
pub const PULL_SECRET_TYPES: [&str; 2] =
    ["kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"];

/// Whether `secret` is a pull secret: of a docker-config type and not excluded from imports.
/// The importer reads these and the `secrets` subresource lists them, wherever they come from.
pub fn is_pull_secret(secret: &Value) -> bool {
    let secret_type = secret["type"].as_str().unwrap_or("");
    PULL_SECRET_TYPES.contains(&secret_type) && usable(secret)
}

/// How to authenticate to one registry.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub enum Credential {
    /// No credentials (registries may still hand out anonymous tokens).
    #[default]
    Anonymous,
    /// A user name and password (HTTP Basic, or exchanged for a bearer token).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// A registry token sent as is.
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// Why a docker config file holds no credentials the importer can read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DockerConfigError {
    /// Not JSON.
    #[error("not a docker config.json (JSON with \"auths\"): {0}")]
    Json(String),
    /// JSON without a map of registries.
    #[error("not a docker config.json: write {{\"auths\": {{\"host\": {{…}}}}}}")]
    NoAuths,
}

/// The credentials of a namespace's pull secrets, decoded once for every registry an import
/// asks (the source's, and its mirrors'), or of a docker config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keyring {
    /// `(registry key, credential)`, in the order the secrets are preferred.
    entries: Vec<(String, Credential)>,
}

impl Keyring {
    /// The credentials of `secrets` (stored Secret documents, in the order they are
    /// preferred); entries that hold none are left out.
    pub fn from_secrets(secrets: &[Value]) -> Self {
        let entries = secrets
            .iter()
            .filter(|s| usable(s))
            .flat_map(entries)
            .filter_map(|(key, entry)| Some((key, credential_of(&entry)?)))
            .collect();
        Self { entries }
    }

    /// The credentials of a docker config file's text: `{"auths": {…}}` as `docker login`
    /// and the kubelet's `config.json` hold them, or the legacy `.dockercfg` map.
    pub fn from_docker_config(text: &str) -> Result<Self, DockerConfigError> {
        let config: Value =
            serde_json::from_str(text).map_err(|e| DockerConfigError::Json(e.to_string()))?;
        let auths = match config.get("auths") {
            Some(auths) => auths,
            None => &config,
        };
        let Some(auths) = auths.as_object() else {
            return Err(DockerConfigError::NoAuths);
        };
        let entries = auths
            .iter()
            .filter_map(|(key, entry)| Some((key.clone(), credential_of(entry)?)))
            .collect();
        Ok(Self { entries })
    }

    /// How many registry entries hold a credential.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry holds a credential.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every credential for pulling `source`, in the order they are tried: this keyring's
    /// matching entries, most specific first (in the secrets' order among equals), then
    /// `fallback`'s likewise, each credential once; anonymous alone when none matches. The
    /// kubelet tries its union keyring so, a pod's pull secrets before the node's (it orders a
    /// keyring's keys by reverse string sort, which puts a longer path of one host first too,
    /// and moves on after any failure; the importer only after a refusal). OpenShift's
    /// importer takes the first credential alone.
    pub fn candidates_or(&self, fallback: &Keyring, source: &ImageRef) -> Vec<Credential> {
        let full = source.docker_client_defaults();
        let repository = repository(&full);
        let mut candidates: Vec<Credential> = Vec::new();
        for keyring in [self, fallback] {
            for credential in keyring.matching(&full.registry, &repository) {
                if !candidates.contains(credential) {
                    candidates.push(credential.clone());
                }
            }
        }
        if candidates.is_empty() {
            candidates.push(Credential::Anonymous);
        }
        candidates
    }

    /// The credential for `repository` (`namespace/name`) on `registry`: the entry whose key
    /// matches the longest path; anonymous when none matches.
    pub fn credential_for(&self, registry: &str, repository: &str) -> Credential {
        let best = self.matching(registry, repository).into_iter().next();
        best.cloned().unwrap_or_default()
    }

    /// This keyring's credentials for `repository` on `registry`, the most specific first (a
    /// longer path, then an exact host over a glob), in the entries' order among equals.
    fn matching(&self, registry: &str, repository: &str) -> Vec<&Credential> {
        let mut matches: Vec<(usize, &Credential)> = self
            .entries
            .iter()
            .filter_map(|(key, credential)| {
                Some((key_matches(key, registry, repository)?, credential))
            })
            .collect();
        // Stable: equals keep the secrets' order.
        matches.sort_by_key(|(specificity, _)| std::cmp::Reverse(*specificity));
        matches
            .into_iter()
            .map(|(_, credential)| credential)
            .collect()
    }

    /// The credential for pulling `source`, looked up as Docker would name it (`mysql` is
    /// `docker.io/library/mysql`).
    pub fn for_source(&self, source: &ImageRef) -> Credential {
        let full = source.docker_client_defaults();
        self.credential_for(&full.registry, &repository(&full))
    }
}

fn usable(secret: &Value) -> bool {
    let excluded = secret["metadata"]["annotations"][EXCLUDE_ANNOTATION].as_str() == Some("true");
    !excluded
}

/// The `(registry key, entry)` pairs of one Secret.
fn entries(secret: &Value) -> Vec<(String, Value)> {
    let (field, wrapped) = match secret["type"].as_str() {
        Some("kubernetes.io/dockerconfigjson") => (".dockerconfigjson", true),
        Some("kubernetes.io/dockercfg") => (".dockercfg", false),
        _ => return Vec::new(),
    };
    let Some(config) = secret["data"][field].as_str().and_then(decode_json) else {
        return Vec::new();
    };
    let auths = if wrapped { &config["auths"] } else { &config };
    auths
        .as_object()
        .map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn decode_json(encoded: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// How specifically `key` matches: higher for a longer path, then for the exact host over a
/// glob; `None` when it does not match.
fn key_matches(key: &str, registry: &str, repository: &str) -> Option<usize> {
    let bare = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let (host, path) = bare.split_once('/').unwrap_or((bare, ""));
    // The kubelet's keyring (Docker's ResolveAuthConfig): `/v1/` or `/v2/` opening the path is
    // the API's, not a repository's; `quay.io/team/apiv2` is a repository.
    let path = path
        .strip_prefix("v1/")
        .or_else(|| path.strip_prefix("v2/"))
        .unwrap_or(path)
        .trim_end_matches('/');
    let exact = host == registry || (is_docker_hub(host) && is_docker_hub(registry));
    let same_host = exact || glob_host_matches(host, registry);
    let within = path.is_empty()
        || repository == path
        || repository
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('/'));
    // An exact host outranks a glob for the same path.
    (same_host && within).then_some(2 * path.len() + 1 + usize::from(exact))
}

/// Whether `pattern`, a host with `*` globs in its labels (`*.example.com`,
/// `registry-*.local:5000`), matches `host` as the kubelet matches keyring keys: the same
/// number of labels, each matching, and the same port.
fn glob_host_matches(pattern: &str, host: &str) -> bool {
    if !pattern.contains('*') {
        return false;
    }
    let split = |h: &'_ str| -> (String, String) {
        match h.rsplit_once(':') {
            Some((name, port)) => (name.to_string(), port.to_string()),
            None => (h.to_string(), String::new()),
        }
    };
    let ((pattern, pattern_port), (name, port)) = (split(pattern), split(host));
    let (patterns, labels): (Vec<&str>, Vec<&str>) =
        (pattern.split('.').collect(), name.split('.').collect());
    pattern_port == port
        && patterns.len() == labels.len()
        && patterns
            .iter()
            .zip(&labels)
            .all(|(p, l)| label_matches(p, l))
}

/// Whether `label` matches `pattern`, in which `*` stands for any run of characters.
fn label_matches(pattern: &str, label: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or("");
    let Some(mut rest) = label.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The credential one docker-config entry holds.
fn credential_of(entry: &Value) -> Option<Credential> {
    if let Some(token) = entry["registrytoken"].as_str().filter(|t| !t.is_empty()) {
        return Some(Credential::Bearer(token.to_string()));
    }
    let field = |name: &str| entry[name].as_str().unwrap_or("").to_string();
    let (username, password) = match entry["auth"].as_str().filter(|a| !a.is_empty()) {
        Some(auth) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, pass) = text.split_once(':')?;
            (user.to_string(), pass.to_string())
        }
        None => (field("username"), field("password")),
    };
    (!username.is_empty()).then_some(Credential::Basic { username, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_secrets_are_docker_config_types_not_excluded_from_imports() {
        let pull = json!({"type": "kubernetes.io/dockerconfigjson", "metadata": {}});
        let legacy = json!({"type": "kubernetes.io/dockercfg"});
        let excluded = json!({"type": "kubernetes.io/dockercfg",
                              "metadata": {"annotations": {EXCLUDE_ANNOTATION: "true"}}});
        let opaque = json!({"type": "Opaque", "metadata": {}});
        assert!(is_pull_secret(&pull) && is_pull_secret(&legacy));
        assert!(!is_pull_secret(&excluded));
        assert!(!is_pull_secret(&opaque) && !is_pull_secret(&json!({})));
    }
    use serde_json::json;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn config_json(auths: Value) -> Value {
        json!({"type": "kubernetes.io/dockerconfigjson", "metadata": {},
               "data": {".dockerconfigjson": b64(&json!({"auths": auths}).to_string())}})
    }

    #[test]
    fn a_docker_config_file_backs_up_the_namespaces_secrets_for_registries_they_do_not_name() {
        let node = Keyring::from_docker_config(
            &json!({"auths": {
                "mirror.local:5000": {"auth": b64("node:pw")},
                "quay.io": {"username": "node-quay", "password": "pw"},
                "empty.local": {}}})
            .to_string(),
        )
        .unwrap();
        assert_eq!(node.len(), 2, "an entry without a credential is left out");
        let namespace = Keyring::from_secrets(&[config_json(json!({
            "quay.io/team": {"auth": b64("team:pw")}}))]);
        let cases = [
            ("quay.io/team/app:v1", basic("team")),
            ("quay.io/other/app:v1", basic("node-quay")),
            ("mirror.local:5000/app:v1", basic("node")),
            ("ghcr.io/org/app:v1", Credential::Anonymous),
        ];
        for (spec, expected) in cases {
            let source = ImageRef::parse(spec).unwrap();
            let first = namespace.candidates_or(&node, &source).remove(0);
            assert_eq!(first, expected, "{spec}");
        }
        let legacy = Keyring::from_docker_config(
            &json!({"https://index.docker.io/v1/": {"auth": b64("hub:pw")}}).to_string(),
        )
        .unwrap();
        let hub = ImageRef::parse("mysql:8").unwrap();
        assert_eq!(
            Keyring::default().candidates_or(&legacy, &hub),
            [basic("hub")]
        );
        // Paths ending in v1/v2 are repositories; a path opening with /v2/ is the API's.
        let versioned = Keyring::from_docker_config(
            &json!({"auths": {
                "quay.io/acme/apiv2": {"auth": b64("apiv2:pw")},
                "quay.io/acme/api": {"auth": b64("api:pw")},
                "https://reg.local/v2/team": {"auth": b64("team:pw")}}})
            .to_string(),
        )
        .unwrap();
        let versioned_cases = [
            ("quay.io/acme/apiv2:1", basic("apiv2")),
            ("quay.io/acme/api:1", basic("api")),
            ("quay.io/acme/api/sub:1", basic("api")),
            ("reg.local/team/x:1", basic("team")),
            ("reg.local/other/x:1", Credential::Anonymous),
        ];
        for (spec, expected) in versioned_cases {
            let source = ImageRef::parse(spec).unwrap();
            assert_eq!(versioned.for_source(&source), expected, "{spec}");
        }
        let globbed = Keyring::from_docker_config(
            &json!({"auths": {
                "*.corp.example": {"auth": b64("glob:pw")},
                "registry.corp.example": {"auth": b64("exact:pw")},
                "mirror-*.local:5000": {"auth": b64("mirror:pw")}}})
            .to_string(),
        )
        .unwrap();
        let glob_cases = [
            ("team.corp.example/app:v1", basic("glob")),
            ("registry.corp.example/app:v1", basic("exact")),
            ("a.b.corp.example/app:v1", Credential::Anonymous),
            ("mirror-2.local:5000/app:v1", basic("mirror")),
            ("mirror-2.local:5001/app:v1", Credential::Anonymous),
            ("mirror.local:5000/app:v1", Credential::Anonymous),
        ];
        for (spec, expected) in glob_cases {
            let source = ImageRef::parse(spec).unwrap();
            assert_eq!(globbed.for_source(&source), expected, "{spec}");
        }
        for broken in ["not json", "[1]", "{\"auths\": 3}"] {
            let error = Keyring::from_docker_config(broken).unwrap_err().to_string();
            assert!(
                error.contains("not a docker config.json"),
                "{broken}: {error}"
            );
        }
    }

    #[test]
    fn every_matching_credential_is_a_candidate_the_namespaces_first_each_once() {
        let namespace = Keyring::from_secrets(&[
            config_json(json!({"quay.io": {"auth": b64("broad:pw")}})),
            config_json(json!({"quay.io/team": {"auth": b64("team:pw")},
                               "quay.io/team/app": {"auth": b64("app:pw")}})),
        ]);
        let node = Keyring::from_docker_config(
            &json!({"auths": {"quay.io": {"auth": b64("node:pw")},
                              "*.quay.io": {"auth": b64("glob:pw")},
                              "quay.io/team": {"auth": b64("team:pw")}}})
            .to_string(),
        )
        .unwrap();
        let source = ImageRef::parse("quay.io/team/app:v1").unwrap();
        assert_eq!(
            namespace.candidates_or(&node, &source),
            [basic("app"), basic("team"), basic("broad"), basic("node")],
            "most specific first, the node's after, a repeated credential once"
        );
        let elsewhere = ImageRef::parse("ghcr.io/org/app:v1").unwrap();
        assert_eq!(
            namespace.candidates_or(&node, &elsewhere),
            [Credential::Anonymous]
        );
    }

    fn basic(user: &str) -> Credential {
        Credential::Basic {
            username: user.into(),
            password: "pw".into(),
        }
    }

    fn auth(user: &str) -> Value {
        json!({"auth": b64(&format!("{user}:pw"))})
    }

    fn check(secrets: &[Value], registry: &str, repository: &str, expected: Credential) {
        let keyring = Keyring::from_secrets(secrets);
        assert_eq!(keyring.credential_for(registry, repository), expected);
    }

    #[test]
    fn the_entry_for_the_registry_host_is_used() {
        let secrets = [config_json(
            json!({"quay.io": auth("q"), "https://127.0.0.1:5000": auth("local")}),
        )];
        check(&secrets, "quay.io", "o/app", basic("q"));
        check(&secrets, "127.0.0.1:5000", "demo/app", basic("local"));
        check(&secrets, "ghcr.io", "o/app", Credential::Anonymous);
    }

    #[test]
    fn a_source_is_looked_up_with_docker_defaults() {
        let secrets = [config_json(
            json!({"docker.io/library": {"username": "u", "password": "p"}}),
        )];
        let source = ImageRef::parse("mysql:8").unwrap();
        let expected = Credential::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        assert_eq!(
            Keyring::from_secrets(&secrets).for_source(&source),
            expected
        );
    }

    #[test]
    fn docker_hub_names_are_interchangeable() {
        let secrets = [config_json(
            json!({"https://index.docker.io/v1/": auth("hub")}),
        )];
        check(&secrets, "docker.io", "library/mysql", basic("hub"));
        check(&secrets, "registry-1.docker.io", "o/x", basic("hub"));
    }

    #[test]
    fn the_longest_matching_path_wins() {
        let secrets = [
            config_json(json!({"quay.io": auth("host")})),
            config_json(json!({"quay.io/team": auth("team"), "quay.io/te": auth("prefix")})),
        ];
        check(&secrets, "quay.io", "team/app", basic("team"));
        check(&secrets, "quay.io", "tea/app", basic("host"));
        check(&secrets, "quay.io", "other/app", basic("host"));
    }

    #[test]
    fn legacy_dockercfg_and_explicit_fields_are_read() {
        let legacy = json!({"type": "kubernetes.io/dockercfg", "metadata": {},
            "data": {".dockercfg": b64(&json!({"quay.io": {"username": "u", "password": "pw"}}).to_string())}});
        check(&[legacy], "quay.io", "o/app", basic("u"));
        let token = config_json(json!({"quay.io": {"registrytoken": "t0k"}}));
        check(
            &[token],
            "quay.io",
            "o/app",
            Credential::Bearer("t0k".into()),
        );
    }

    #[test]
    fn excluded_opaque_and_garbled_secrets_are_ignored() {
        let mut excluded = config_json(json!({"quay.io": auth("x")}));
        excluded["metadata"]["annotations"] = json!({EXCLUDE_ANNOTATION: "true"});
        let opaque = json!({"type": "Opaque", "data": {".dockerconfigjson": b64("{}")}});
        let garbled = json!({"type": "kubernetes.io/dockerconfigjson",
                             "data": {".dockerconfigjson": "%%%"}});
        let no_user = config_json(json!({"quay.io": {"auth": b64(":pw")}}));
        check(
            &[excluded, opaque, garbled, no_user],
            "quay.io",
            "o/app",
            Credential::Anonymous,
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let shown = format!("{:?} {:?}", basic("u"), Credential::Bearer("t0k".into()));
        assert_eq!(shown, "Basic(u, <redacted>) Bearer(<redacted>)");
    }
}
